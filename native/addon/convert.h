// convert.h — conversions between core objects and JS values: ToJs (value()), JS primitives
// -> new references, and the small value helpers.
#pragma once

#include <unordered_map>
#include <vector>

#include "addon.h"
#include "api.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {

// A signed 64-bit value as a number when it is a safe integer, else a BigInt (like ctypes
// printing -2459565876494606883 exactly).
Napi::Value int64_value(Napi::Env env, int64_t v);
Napi::Value long_to_js(Napi::Env env, PyObject* op);

// One value() conversion. Setting a property or an array element, or calling Map.prototype.set,
// can run user code (an inherited setter, a patched Map) that releases objects of the tree
// being converted: each container is held (a strong reference) from the moment it is reached to
// the end of the conversion, so nothing it reaches is freed, and no address in `seen` is reused.
struct ToJs {
  Napi::Env env;
  RtHandle* h;
  Runtime& rt;
  std::unordered_map<PyObject*, Napi::Value> seen;
  std::vector<PyObject*> held;
  ToJs(Napi::Env e, RtHandle* handle) : env(e), h(handle), rt(*handle->rt) {}
  ToJs(const ToJs&) = delete;
  ToJs& operator=(const ToJs&) = delete;
  ~ToJs() {
    for (size_t i = held.size(); i-- > 0;) Py_DECREF(rt, held[i]);
  }

  // depth_left: as repr's recursion budget (C_RECURSION_LIMIT), so a nesting too deep for
  // repr is too deep here, instead of overflowing the native stack.
  Napi::Value convert(PyObject* op, int depth_left) {
    // Guarded: a container can hold an object freed behind its back (an extra Py_DECREF through
    // the C API); say so instead of reading it.
    if (rt.guard && rt.checked_object(reinterpret_cast<uintptr_t>(op)) == nullptr) throw_pending(env, h);
    switch (Py_TYPE(op)->tp_kind) {
      case TypeKind::None: return env.Null();
      case TypeKind::Bool: return Napi::Boolean::New(env, op == rt.True());
      case TypeKind::Int: return long_to_js(env, op);
      case TypeKind::Float: return Napi::Number::New(env, reinterpret_cast<PyFloatObject*>(op)->ob_fval);
      case TypeKind::Str: return Napi::String::New(env, PyUnicode_AsUTF8(op));
      default: break;
    }
    auto it = seen.find(op);
    if (it != seen.end()) return it->second;  // cycles map to the same JS object
    if (depth_left <= 0) {
      PendingError e;
      e.py_type = "RecursionError";
      throw_js(env, h->addon, ErrorCode::Recursion,
               "maximum recursion depth exceeded while converting an object to a JS value", &e);
    }
    switch (Py_TYPE(op)->tp_kind) {
      case TypeKind::Tuple:
      case TypeKind::List: {
        Napi::Array a = Napi::Array::New(env);
        hold(op, a);
        bool list = Py_TYPE(op)->tp_kind == TypeKind::List;
        for (Py_ssize_t i = 0; i < Py_SIZE(op); i++) {  // the size is read again: a setter may clear it
          PyObject* item = list ? PyList_ITEM(op, i) : PyTuple_ITEM(op, i);
          a.Set(static_cast<uint32_t>(i), item ? convert(item, depth_left - 1) : env.Null());
        }
        return a;
      }
      case TypeKind::Dict: {
        Napi::Function map_ctor = env.Global().Get("Map").As<Napi::Function>();
        Napi::Object m = map_ctor.New({});
        hold(op, m);
        Napi::Function set = m.Get("set").As<Napi::Function>();
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(op, &pos, &k, &v)) {
          Py_INCREF(rt, v);  // the key's conversion may run user code that deletes the entry
          held.push_back(v);
          Napi::Value jk = convert(k, depth_left - 1);
          set.Call(m, {jk, convert(v, depth_left - 1)});
        }
        return m;
      }
      case TypeKind::Instance: {
        Napi::Object o = Napi::Object::New(env);
        hold(op, o);
        std::vector<std::pair<PyObject*, PyObject*>> attrs;
        instance_attributes(op, &attrs);
        for (auto& [k, v] : attrs) {  // a snapshot of borrowed pointers: hold them all first
          Py_INCREF(rt, v);
          held.push_back(v);
        }
        for (auto& [k, v] : attrs) o.Set(PyUnicode_AsUTF8(k), convert(v, depth_left - 1));
        return o;
      }
      default:
        return Napi::String::New(env, PyObject_Repr(rt, op));
    }
  }

 private:
  void hold(PyObject* op, Napi::Value v) {
    Py_INCREF(rt, op);
    held.push_back(op);
    seen.emplace(op, v);
  }
};

// A JS number as a new reference: int when integral and inside int64 (the cast round-trips; no
// libm floor call on this path), else float. nullptr with the error pending on failure.
inline PyObject* number_to_object(Runtime& rt, double d) {
  if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
      static_cast<double>(static_cast<int64_t>(d)) == d)
    return PyLong_FromInt64(rt, static_cast<int64_t>(d));
  return PyFloat_FromDouble(rt, d);
}


// A JS primitive as a new reference: integral numbers and bigints -> int, other numbers ->
// float, strings -> str, booleans -> True / False, null / undefined -> None. Returns nullptr
// (no error) for anything else: the caller decides (lib/ converts containers and Refs itself).
PyObject* primitive_to_object(Napi::Env env, RtHandle* h, Napi::Value v);
// primitive_to_object for an argument that must be a primitive (absent, nullptr: None).
PyObject* primitive_value(Napi::Env env, RtHandle* h, napi_value v);
PyObject* primitive_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h);

// A list of objects as a JS array of NEW references.
Napi::Value object_list(Napi::Env env, RtHandle* h, const std::vector<PyObject*>& objs);

}  // namespace addon
RCL_END_NAMESPACE
