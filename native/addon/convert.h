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

// A walkvisitproc that appends (label, child) to a std::vector<std::pair<RefLabel, PyObject*>>.
int collect_child(PyObject* child, const RefLabel& label, void* arg);

// One value() conversion, by the type's JsShape, the children from its walk (WalkMode::All).
// Setting a property or an array element, or calling Map.prototype.set, can run user code (an
// inherited setter, a patched Map) that releases objects of the tree being converted: each
// container and each child is held (a strong reference) from the moment it is reached to the
// end of the conversion, so nothing it reaches is freed, and no address in `seen` is reused.
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
  Napi::Value convert(PyObject* op, int depth_left);

 private:
  using Children = std::vector<std::pair<RefLabel, PyObject*>>;
  // op's children, each held before any JS runs.
  Children children(PyObject* op);
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
