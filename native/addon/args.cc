// args.cc — reading arguments (the parts off the hot paths).
#include "args.h"

#include <cinttypes>
#include <cstdio>

RCL_BEGIN_NAMESPACE
namespace addon {

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

uintptr_t addr_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  double d = number_arg(info, i, "address");
  uintptr_t a;
  if (!integral_in_range(d, 0, &a) || d == 9007199254740992.0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    throw_js(info.Env(), h->addon, ErrorCode::InvalidAddress,
             std::string(buf) + " is not an address (a non-negative integer is required)");
  }
  return a;
}

PyObject* obj_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  uintptr_t a = addr_arg(info, i, h);
  PyObject* op = h->rt->checked_object(a);
  if (op == nullptr) throw_pending(info.Env(), h);
  return op;
}

Py_ssize_t index_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  return index_value(info.Env(), h, number_arg(info, i, "index"));
}

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::vector<PyObject*> objects_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  if (i >= info.Length() || !info[i].IsArray())
    throw Napi::TypeError::New(info.Env(), "items must be an array of addresses");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<PyObject*> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), "items must be addresses");
    uintptr_t a;
    if (!integral_in_range(v.As<Napi::Number>().DoubleValue(), 1, &a))
      throw_js(info.Env(), h->addon, ErrorCode::InvalidAddress, "item is not an address");
    out[k] = h->rt->checked_object(a);
    if (out[k] == nullptr) throw_pending(info.Env(), h);
  }
  return out;
}

PyObject* interned_string(Napi::Env env, RtHandle* h, napi_value v) {
  if (v == nullptr || Napi::Value(env, v).Type() != napi_string)
    throw Napi::TypeError::New(env, "attribute name must be a string");
  PyObject* name = PyUnicode_InternFromUTF8(*h->rt, Napi::Value(env, v).As<Napi::String>().Utf8Value());
  if (name == nullptr) throw_pending(env, h);
  return name;
}
PyObject* name_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  return name_value(info.Env(), h, i < info.Length() ? static_cast<napi_value>(info[i]) : nullptr);
}
}  // namespace addon
RCL_END_NAMESPACE
