// args.h — reading the arguments of a runtime handle's function. The helpers the raw hot paths
// call once per argument are inline here; the rest live in args.cc.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "addon.h"
#include "api.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {

// The handle's runtime, or throws ERR_RUNTIME_CLOSED.
inline Runtime& runtime_of(Napi::Env env, RtHandle* h) {
  if (RCL_UNLIKELY(!h->rt)) throw_js(env, h->addon, ErrorCode::RuntimeClosed, "the runtime is closed");
  return *h->rt;
}

inline RtHandle* handle_of(const Napi::CallbackInfo& info) {
  auto* h = static_cast<RtHandle*>(info.Data());
  runtime_of(info.Env(), h);
  return h;
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* what);

// An address: a finite non-negative integer below 2**53 (JS numbers hold every user-space
// pointer of x86-64 / arm64 exactly).
uintptr_t addr_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h);
// The object at an address argument (guarded: validated by the core).
PyObject* obj_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h);

inline Py_ssize_t index_value(Napi::Env env, RtHandle* h, double d) {
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740991.0)
    throw_js(env, h->addon, ErrorCode::Type, "indices must be integers");
  return static_cast<Py_ssize_t>(d);
}

Py_ssize_t index_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h);
std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what);
// An array of addresses, each validated: borrowed objects.
std::vector<PyObject*> objects_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h);

inline Napi::Value addr_result(Napi::Env env, RtHandle* h, PyObject* op) {
  if (op == nullptr) {
    if (h->rt->has_error()) throw_pending(env, h);
    return env.Null();
  }
  // The new reference is the caller's even if the safe point throws: hand it back first.
  Napi::Value v = Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(op)));
  safe_point(env, h);
  return v;
}

inline Napi::Value int_result(Napi::Env env, RtHandle* h, Py_ssize_t r) {
  if (r < 0 && h->rt->has_error()) throw_pending(env, h);
  safe_point(env, h);
  return Napi::Number::New(env, static_cast<double>(r));
}

// `cls` if it is a class made by defineClass (a heap type), else throws ERR_TYPE.
inline PyObject* heap_class(Napi::Env env, RtHandle* h, PyObject* cls) {
  if (Py_TYPE(cls)->tp_kind != TypeKind::Type ||
      !PyType_HasFeature(reinterpret_cast<PyTypeObject*>(cls), Py_TPFLAGS_HEAPTYPE))
    throw_js(env, h->addon, ErrorCode::Type, "not a class created by defineClass");
  return cls;
}

// The object at address d (guarded: validated by the core). Throws the JS error.
inline PyObject* object_at(Napi::Env env, RtHandle* h, double d) {
  uintptr_t a;
  if (RCL_UNLIKELY(!integral_in_range(d, 1, &a) || d == 9007199254740992.0))
    throw_js(env, h->addon, ErrorCode::InvalidAddress, "not an address (a positive integer is required)");
  PyObject* op = h->rt->checked_object(a);
  if (RCL_UNLIKELY(op == nullptr)) throw_pending(env, h);
  return op;
}

// The object at the address in argv[i] (a raw C API argument list).
inline PyObject* object_at_arg(Napi::Env env, RtHandle* h, size_t argc, const napi_value* argv, size_t i) {
  double d;
  if (i >= argc || napi_get_value_double(env, argv[i], &d) != napi_ok)
    throw Napi::TypeError::New(env, "address must be a number");
  return object_at(env, h, d);
}

// Attribute names are interned (immortal), as CPython interns identifiers.
// A string argument as an interned str. nullptr (absent) or another type is a TypeError.
PyObject* interned_string(Napi::Env env, RtHandle* h, napi_value v);
// The interned str of a name slot (internSlot), or throws ERR_VALUE.
inline PyObject* slot_name(Napi::Env env, RtHandle* h, double slot) {
  if (!(slot >= 0 && slot < static_cast<double>(h->name_slots.size())))
    throw_js(env, h->addon, ErrorCode::Value, "unknown attribute name slot");
  return h->name_slots[static_cast<size_t>(slot)];
}
// A name argument: the number of its slot (internSlot) or a string, interned. lib/ passes
// slots, so the hot path reads a small integer instead of marshalling the same string again.
inline PyObject* name_value(Napi::Env env, RtHandle* h, napi_value v) {
  double slot;
  if (v != nullptr && napi_get_value_double(env, v, &slot) == napi_ok) return slot_name(env, h, slot);
  return interned_string(env, h, v);
}
PyObject* name_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h);

}  // namespace addon
RCL_END_NAMESPACE
