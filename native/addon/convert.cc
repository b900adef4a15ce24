// convert.cc — core object <-> JS value.
#include "convert.h"

#include "args.h"

RCL_BEGIN_NAMESPACE
namespace addon {

Napi::Value int64_value(Napi::Env env, int64_t v) {
  if (v >= -9007199254740991LL && v <= 9007199254740991LL)
    return Napi::Number::New(env, static_cast<double>(v));
  return Napi::BigInt::New(env, v);
}

Napi::Value long_to_js(Napi::Env env, PyObject* op) {
  int64_t v;
  if (PyLong_AsInt64(op, &v)) return int64_value(env, v);
  int sign;
  std::vector<uint64_t> words;
  PyLong_AsWords(op, &sign, &words);
  return Napi::BigInt::New(env, sign < 0 ? 1 : 0, words.size(), words.data());
}

PyObject* primitive_to_object(Napi::Env env, RtHandle* h, Napi::Value v) {
  Runtime& rt = *h->rt;
  PyObject* op = nullptr;
  switch (v.Type()) {
    case napi_number:
      op = number_to_object(rt, v.As<Napi::Number>().DoubleValue());
      break;
    case napi_bigint: {
      Napi::BigInt b = v.As<Napi::BigInt>();
      int sign = 0;
      size_t count = b.WordCount();
      std::vector<uint64_t> words(count ? count : 1);
      b.ToWords(&sign, &count, words.data());
      op = PyLong_FromWords(rt, sign ? -1 : 1, words.data(), count);
      break;
    }
    case napi_string:
      op = PyUnicode_FromUTF8(rt, v.As<Napi::String>().Utf8Value());
      break;
    case napi_boolean:
      return v.As<Napi::Boolean>().Value() ? rt.True() : rt.False();  // immortal
    case napi_null:
    case napi_undefined:
      return rt.None();
    default:
      return nullptr;
  }
  if (op == nullptr) throw_pending(env, h);
  return op;
}


PyObject* primitive_value(Napi::Env env, RtHandle* h, napi_value v) {
  PyObject* op = v != nullptr ? primitive_to_object(env, h, Napi::Value(env, v)) : h->rt->None();
  if (op == nullptr) throw Napi::TypeError::New(env, "a number, bigint, string, boolean or null is required");
  return op;
}
PyObject* primitive_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  return primitive_value(info.Env(), h, i < info.Length() ? static_cast<napi_value>(info[i]) : nullptr);
}


Napi::Value object_list(Napi::Env env, RtHandle* h, const std::vector<PyObject*>& objs) {
  Runtime& rt = *h->rt;
  // Every element is a NEW reference (the lib wraps each in an owning Ref).
  // All of them first: setting an element can run user code (an inherited setter) that would
  // free the ones not yet taken.
  for (PyObject* op : objs) Py_INCREF(rt, op);
  InUserCode scope(h->running_callbacks);
  Napi::Array a = Napi::Array::New(env, objs.size());
  for (size_t i = 0; i < objs.size(); i++)
    a.Set(static_cast<uint32_t>(i), static_cast<double>(reinterpret_cast<uintptr_t>(objs[i])));
  return a;
}
}  // namespace addon
RCL_END_NAMESPACE
