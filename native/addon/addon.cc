// addon.cc — the N-API glue for one build: argument checks, handles, errors -> JS.
//
// No memory-model logic lives here: every operation is one core call. Objects cross the
// boundary as their address (a JS number, id(obj) == address). A runtime handle is a plain JS
// object whose functions carry the RtHandle as their callback data, so a call never unwraps an
// ObjectWrap. The hot functions (incref / decref / refcnt / the *Many forms) use the raw C API.
//
// After each call that may allocate, a scheduled collection runs (the safe point: the native
// call is about to return to JavaScript), then a pending core error becomes a JS exception built
// by the error factory that lib/ hands over once per environment.
#include <napi.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "config.h"
#include "refcount.h"
#include "runtime.h"

RCL_BEGIN_NAMESPACE
namespace {

class Addon;

// Counts a stretch of user JS run from inside a native call (RtHandle::running_callbacks,
// Addon::making_errors), for as long as the scope lasts, exceptions included.
class InUserCode {
 public:
  explicit InUserCode(int& counter) : n_(counter) { ++n_; }
  ~InUserCode() { --n_; }
  InUserCode(const InUserCode&) = delete;
  InUserCode& operator=(const InUserCode&) = delete;

 private:
  int& n_;
};

// One runtime as the JS side sees it. Owned by the Addon (per environment); survives close()
// so that calls on a closed runtime throw ERR_RUNTIME_CLOSED instead of touching freed memory.
struct RtHandle final : public Host {
  Addon* addon = nullptr;
  napi_env env = nullptr;
  std::unique_ptr<Runtime> rt;
  uint32_t next_id = 1;
  std::unordered_map<uint32_t, Napi::FunctionReference> finalizers;  // class host id -> __del__
  std::unordered_map<uint32_t, Napi::FunctionReference> legacy_dels;
  std::unordered_map<uint32_t, Napi::FunctionReference> weakref_callbacks;
  Napi::FunctionReference gc_dispatch;  // (phase, generation, collected, uncollectable)
  Napi::FunctionReference debug_sink;   // (text)
  // Attribute names by slot number (internSlot / callClassPacked): interned, hence immortal,
  // strs of this runtime; lib/ maps each JS name to its slot once, so the hot path reads a
  // small integer instead of a JS string.
  std::vector<PyObject*> name_slots;
  // callClassPacked's argument block, a Float64Array lib/ fills before the call (see there).
  Napi::Reference<Napi::ArrayBuffer> packed_buffer;
  double* packed = nullptr;
  // User code running now, called from inside a call of this runtime (finalizers, weakref
  // callbacks, gc callbacks, the debug sink; setters a value() conversion may trigger): the
  // runtime is in the middle of that call, so close() must wait until it returns.
  int running_callbacks = 0;

  void call_js(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
    if (fn.IsEmpty()) return;
    Napi::Env e(env);
    // User callbacks are wrapped in lib/ so they never throw; a throw here would be a bug in
    // lib/, reported rather than lost.
    InUserCode scope(running_callbacks);
    try {
      fn.Call(args);
    } catch (const Napi::Error& err) {
      std::fprintf(stderr, "refcount-lab: internal callback threw: %s\n", err.Message().c_str());
    }
  }
  static napi_value addr_value(napi_env env, const void* p) {
    napi_value v;
    napi_create_double(env, static_cast<double>(reinterpret_cast<uintptr_t>(p)), &v);
    return v;
  }
  void call_finalizer(Runtime&, uint32_t id, PyObject* self) override {
    auto it = finalizers.find(id);
    if (it != finalizers.end()) call_js(it->second, {addr_value(env, self)});
  }
  void call_legacy_del(Runtime&, uint32_t id, PyObject* self) override {
    auto it = legacy_dels.find(id);
    if (it != legacy_dels.end()) call_js(it->second, {addr_value(env, self)});
  }
  void call_weakref_callback(Runtime&, uint32_t id, PyObject* wr) override {
    auto it = weakref_callbacks.find(id);
    if (it != weakref_callbacks.end()) call_js(it->second, {addr_value(env, wr)});
  }
  void forget_weakref_callback(Runtime&, uint32_t id) override { weakref_callbacks.erase(id); }
  void gc_callback(Runtime&, const char* phase, int generation, Py_ssize_t collected,
                   Py_ssize_t uncollectable) override {
    if (gc_dispatch.IsEmpty()) return;
    Napi::Env e(env);
    call_js(gc_dispatch, {Napi::String::New(e, phase), Napi::Number::New(e, generation),
                          Napi::Number::New(e, static_cast<double>(collected)),
                          Napi::Number::New(e, static_cast<double>(uncollectable))});
  }
  void write_debug(Runtime&, const std::string& text) override {
    if (debug_sink.IsEmpty()) {
      std::fputs(text.c_str(), stderr);
      return;
    }
    call_js(debug_sink, {Napi::String::New(Napi::Env(env), text)});
  }
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  Napi::FunctionReference make_error;  // lib's factory: (code, message, details) -> Error
  std::vector<std::unique_ptr<RtHandle>> handles;
  // Errors being made now. Constructing one runs JS (lib's factory, and whatever setters user
  // code put on Error.prototype) while a native call of some runtime is still on the stack, so
  // no runtime of this environment may close meanwhile.
  int making_errors = 0;
};

// =============================================================================================
// Errors
// =============================================================================================

[[noreturn]] void throw_js(Napi::Env env, Addon* addon, ErrorCode code, const std::string& message,
                           const PendingError* details = nullptr) {
  if (addon == nullptr || addon->make_error.IsEmpty())
    throw Napi::Error::New(env, std::string(error_code_name(code)) + ": " + message);
  Napi::Object d = Napi::Object::New(env);
  if (details) {
    if (!details->py_type.empty()) d.Set("pyType", details->py_type);
    if (!details->file.empty()) {
      d.Set("file", details->file);
      d.Set("line", details->line);
      d.Set("address", static_cast<double>(details->address));
      d.Set("refcount", static_cast<double>(details->refcount));
      d.Set("typeName", details->type_name);
    }
    if (!details->report.empty()) d.Set("report", details->report);
  }
  Napi::Value err;
  {
    InUserCode scope(addon->making_errors);
    err = addon->make_error.Call({Napi::String::New(env, error_code_name(code)),
                                  Napi::String::New(env, message), d});
  }
  throw Napi::Error(env, err);
}

[[noreturn]] void throw_pending(Napi::Env env, RtHandle* h) {
  PendingError e = h->rt->take_error();
  throw_js(env, h->addon, e.code, e.message, &e);
}

// The end of every call that may have allocated or run user code: the safe point.
inline void safe_point(Napi::Env env, RtHandle* h) {
  Runtime& rt = *h->rt;
  if (RCL_UNLIKELY(rt.gc.scheduled) && !rt.has_error()) gc_run_scheduled(rt);
  if (RCL_UNLIKELY(rt.has_error())) throw_pending(env, h);
}

// =============================================================================================
// Arguments
// =============================================================================================

// The handle's runtime, or throws ERR_RUNTIME_CLOSED.
Runtime& runtime_of(Napi::Env env, RtHandle* h) {
  if (RCL_UNLIKELY(!h->rt)) throw_js(env, h->addon, ErrorCode::RuntimeClosed, "the runtime is closed");
  return *h->rt;
}

RtHandle* handle_of(const Napi::CallbackInfo& info) {
  auto* h = static_cast<RtHandle*>(info.Data());
  runtime_of(info.Env(), h);
  return h;
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// Is d an integer in [lo, 2**53]? Truncation plus compare instead of std::floor: without
// SSE4.1, floor is a libm call, and this runs once per address on the hot paths.
inline bool integral_in_range(double d, double lo, uintptr_t* out) {
  if (!(d >= lo && d <= 9007199254740992.0)) return false;
  uint64_t u = static_cast<uint64_t>(d);
  if (static_cast<double>(u) != d) return false;
  *out = static_cast<uintptr_t>(u);
  return true;
}

// An address: a finite non-negative integer below 2**53 (JS numbers hold every user-space
// pointer of x86-64 / arm64 exactly).
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

Py_ssize_t index_value(Napi::Env env, RtHandle* h, double d) {
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740991.0)
    throw_js(env, h->addon, ErrorCode::Type, "indices must be integers");
  return static_cast<Py_ssize_t>(d);
}

Py_ssize_t index_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  return index_value(info.Env(), h, number_arg(info, i, "index"));
}

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Value addr_result(Napi::Env env, RtHandle* h, PyObject* op) {
  if (op == nullptr) {
    if (h->rt->has_error()) throw_pending(env, h);
    return env.Null();
  }
  // The new reference is the caller's even if the safe point throws: hand it back first.
  Napi::Value v = Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(op)));
  safe_point(env, h);
  return v;
}

Napi::Value int_result(Napi::Env env, RtHandle* h, Py_ssize_t r) {
  if (r < 0 && h->rt->has_error()) throw_pending(env, h);
  safe_point(env, h);
  return Napi::Number::New(env, static_cast<double>(r));
}

// A signed 64-bit value as a number when it is a safe integer, else a BigInt (like ctypes
// printing -2459565876494606883 exactly).
Napi::Value int64_value(Napi::Env env, int64_t v) {
  if (v >= -9007199254740991LL && v <= 9007199254740991LL)
    return Napi::Number::New(env, static_cast<double>(v));
  return Napi::BigInt::New(env, v);
}

// =============================================================================================
// Raw hot paths (C API): incref / decref / refcnt
// =============================================================================================

// `cls` if it is a class made by defineClass (a heap type), else throws ERR_TYPE.
PyObject* heap_class(Napi::Env env, RtHandle* h, PyObject* cls) {
  if (Py_TYPE(cls)->tp_kind != TypeKind::Type ||
      !PyType_HasFeature(reinterpret_cast<PyTypeObject*>(cls), Py_TPFLAGS_HEAPTYPE))
    throw_js(env, h->addon, ErrorCode::Type, "not a class created by defineClass");
  return cls;
}

// The object at address d (guarded: validated by the core). Throws the JS error.
PyObject* object_at(Napi::Env env, RtHandle* h, double d) {
  uintptr_t a;
  if (RCL_UNLIKELY(!integral_in_range(d, 1, &a) || d == 9007199254740992.0))
    throw_js(env, h->addon, ErrorCode::InvalidAddress, "not an address (a positive integer is required)");
  PyObject* op = h->rt->checked_object(a);
  if (RCL_UNLIKELY(op == nullptr)) throw_pending(env, h);
  return op;
}

// The object at the address in argv[i] (a raw C API argument list).
PyObject* object_at_arg(Napi::Env env, RtHandle* h, size_t argc, const napi_value* argv, size_t i) {
  double d;
  if (i >= argc || napi_get_value_double(env, argv[i], &d) != napi_ok)
    throw Napi::TypeError::New(env, "address must be a number");
  return object_at(env, h, d);
}

// Runs f for a raw C API function: a Napi::Error it throws becomes the pending JS exception
// (there is no node-addon-api wrapper to do it) and the result is then empty (nullptr).
template <typename F>
inline auto catching(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return {};
  }
}

template <bool kX>
inline PyObject* fast_object(napi_env env, napi_callback_info cbinfo, RtHandle** out) {
  size_t argc = 1;
  napi_value argv[1];
  void* data;
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  RtHandle* h = static_cast<RtHandle*>(data);
  *out = h;
  double d;
  if (RCL_UNLIKELY(argc < 1 || napi_get_value_double(env, argv[0], &d) != napi_ok)) {
    napi_throw_type_error(env, nullptr, "address must be a number");
    return nullptr;
  }
  return catching([&]() -> PyObject* {
    runtime_of(Napi::Env(env), h);
    if (kX && d == 0) return nullptr;
    return object_at(Napi::Env(env), h, d);
  });
}

inline napi_value fast_finish(napi_env env, RtHandle* h) {
  if (RCL_UNLIKELY(h->rt->has_error() || h->rt->gc.scheduled))
    return catching([&]() -> napi_value {
      safe_point(Napi::Env(env), h);
      return nullptr;
    });
  return nullptr;
}

template <bool kX>
napi_value raw_incref(napi_env env, napi_callback_info cbinfo) {
  RtHandle* h;
  PyObject* op = fast_object<kX>(env, cbinfo, &h);
  if (op != nullptr) Py_INCREF(*h->rt, op);
  return nullptr;
}

template <bool kX>
napi_value raw_decref(napi_env env, napi_callback_info cbinfo) {
  RtHandle* h;
  PyObject* op = fast_object<kX>(env, cbinfo, &h);
  if (op == nullptr) return nullptr;
  Py_DECREF(*h->rt, op);
  return fast_finish(env, h);
}

napi_value raw_refcnt(napi_env env, napi_callback_info cbinfo) {
  RtHandle* h;
  PyObject* op = fast_object<false>(env, cbinfo, &h);
  if (op == nullptr) return nullptr;
  napi_value v;
  Py_ssize_t rc = Py_REFCNT(op);
  if (rc >= -9007199254740991LL && rc <= 9007199254740991LL)
    napi_create_double(env, static_cast<double>(rc), &v);
  else
    napi_create_bigint_int64(env, rc, &v);
  return v;
}

constexpr size_t kMaxAttrPairs = 32;
PyObject* primitive_value(Napi::Env env, RtHandle* h, napi_value v);
PyObject* slot_name(Napi::Env env, RtHandle* h, double slot);

// A JS number as a new reference: int when integral and inside int64 (the cast round-trips; no
// libm floor call on this path), else float. nullptr with the error pending on failure.
PyObject* number_to_object(Runtime& rt, double d) {
  if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
      static_cast<double>(static_cast<int64_t>(d)) == d)
    return PyLong_FromInt64(rt, static_cast<int64_t>(d));
  return PyFloat_FromDouble(rt, d);
}

// callClassPacked(cls, ...extra): cls() then one setattr per pair, in order, in ONE boundary
// crossing (C.new({ x: 1, y: 2 })). The pairs are in the runtime's packed Float64Array, filled
// by lib/ just before the call, so the call reads one argument instead of two per pair:
//   packed[0] = n pairs (at most 32); pair k at 1 + 3k: [name slot, kind, value]
//   kind 0: a number (int when integral and inside int64, else float), 1: an address,
//   2: None, 3: True, 4: False, 5: the JS primitive extra[value] (strings, bigints).
// Names are interned strs by slot (internSlot). The block is copied before anything runs, so a
// finalizer that refills it cannot interfere. If a setattr fails the new instance is released
// and the error thrown: the caller never sees a half-built object.
enum PackedKind { kPackedNumber = 0, kPackedAddress = 1, kPackedNone = 2, kPackedTrue = 3, kPackedFalse = 4, kPackedExtra = 5 };
constexpr size_t kPackedDoubles = 1 + 3 * kMaxAttrPairs;

napi_value call_class_packed(Napi::Env env, RtHandle* h, size_t argc, const napi_value* argv) {
  Runtime& rt = runtime_of(env, h);
  const double count = h->packed[0];
  if (!(count >= 0 && count <= static_cast<double>(kMaxAttrPairs)))
    throw Napi::TypeError::New(env, "callClassPacked takes up to 32 pairs");
  const size_t pairs = static_cast<size_t>(count);
  double block[kPackedDoubles];
  std::memcpy(block, h->packed, (1 + 3 * pairs) * sizeof(double));
  PyObject* obj = PyObject_CallClass(rt, heap_class(env, h, object_at_arg(env, h, argc, argv, 0)));
  if (obj == nullptr) throw_pending(env, h);
  try {
    for (size_t k = 0; k < pairs; k++) {
      const double* pair = block + 1 + 3 * k;
      PyObject* name = slot_name(env, h, pair[0]);
      PyObject* v;
      switch (static_cast<int>(pair[1])) {
        case kPackedNumber: v = number_to_object(rt, pair[2]); break;
        case kPackedAddress: v = Py_NewRef(rt, object_at(env, h, pair[2])); break;
        case kPackedNone: v = rt.None(); break;
        case kPackedTrue: v = rt.True(); break;
        case kPackedFalse: v = rt.False(); break;
        case kPackedExtra: {
          const double i = pair[2];
          if (!(i >= 0 && i + 1 < static_cast<double>(argc))) throw Napi::TypeError::New(env, "packed extra argument out of range");
          v = primitive_value(env, h, argv[1 + static_cast<size_t>(i)]);
          break;
        }
        default: throw Napi::TypeError::New(env, "unknown packed value kind");
      }
      if (v == nullptr) throw_pending(env, h);
      int r = PyObject_SetAttr(rt, obj, name, v);
      Py_DECREF(rt, v);
      if (r < 0) throw_pending(env, h);
    }
  } catch (...) {
    Py_DECREF(rt, obj);
    throw;
  }
  return addr_result(env, h, obj);
}

napi_value raw_call_class_packed(napi_env env, napi_callback_info cbinfo) {
  // Node fills every unused slot of argv with undefined: ask for a few first (the common case
  // has no extra argument), and for the whole buffer only when the call has more.
  constexpr size_t kFull = 1 + kMaxAttrPairs;
  napi_value argv[kFull];
  size_t argc = 4;
  void* data;
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  if (argc > 4) {
    if (argc > kFull) {
      napi_throw_type_error(env, nullptr, "callClassPacked takes at most 32 extra arguments");
      return nullptr;
    }
    napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  }
  return catching([&] { return call_class_packed(Napi::Env(env), static_cast<RtHandle*>(data), argc, argv); });
}

// getattr / setattr / setattrValue on the raw C API: the attribute hot paths of the typed API
// (which passes the name as its slot, see internSlot).
enum AttrOp { kGetattr, kSetattr, kSetattrValue };
PyObject* name_value(Napi::Env env, RtHandle* h, napi_value v);

// The frame of a raw C API function taking up to N arguments: reads them and the runtime
// handle, then runs f(env, h, rt, argc, argv) under catching().
template <size_t N, typename F>
napi_value raw_call(napi_env env, napi_callback_info cbinfo, F&& f) {
  size_t argc = N;
  napi_value argv[N];
  void* data;
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  RtHandle* h = static_cast<RtHandle*>(data);
  Napi::Env e(env);
  return catching([&]() -> napi_value { return f(e, h, runtime_of(e, h), argc, argv); });
}

template <AttrOp kOp>
napi_value raw_attr(napi_env env, napi_callback_info cbinfo) {
  return raw_call<3>(env, cbinfo, [](Napi::Env e, RtHandle* h, Runtime& rt, size_t argc, napi_value* argv) {
    PyObject* op = object_at_arg(e, h, argc, argv, 0);
    PyObject* name = name_value(e, h, argc > 1 ? argv[1] : nullptr);
    if (kOp == kGetattr) return addr_result(e, h, PyObject_GetAttr(rt, op, name));
    if (kOp == kSetattr) return int_result(e, h, PyObject_SetAttr(rt, op, name, object_at_arg(e, h, argc, argv, 2)));
    PyObject* v = primitive_value(e, h, argc > 2 ? argv[2] : nullptr);
    int r = PyObject_SetAttr(rt, op, name, v);
    Py_DECREF(rt, v);
    return int_result(e, h, r);
  });
}

// list.append(obj) on the raw C API: the loop of the talk's exp_6 (`l.append(i)`).
napi_value raw_append(napi_env env, napi_callback_info cbinfo) {
  return raw_call<2>(env, cbinfo, [](Napi::Env e, RtHandle* h, Runtime& rt, size_t argc, napi_value* argv) {
    PyObject* op = object_at_arg(e, h, argc, argv, 0);
    return int_result(e, h, method_append(rt, op, object_at_arg(e, h, argc, argv, 1)));
  });
}

// len / getitem / setitem / delitem on the raw C API: the typed API's container calls.
enum ItemOp { kLen, kGetIndex, kGetKey, kSetIndex, kSetKey, kDelIndex, kDelKey };

template <ItemOp kOp>
napi_value raw_item(napi_env env, napi_callback_info cbinfo) {
  return raw_call<3>(env, cbinfo, [](Napi::Env e, RtHandle* h, Runtime& rt, size_t argc, napi_value* argv) -> napi_value {
    PyObject* op = object_at_arg(e, h, argc, argv, 0);
    if (kOp == kLen) return int_result(e, h, PyObject_Length(rt, op));
    constexpr bool kIndex = kOp == kGetIndex || kOp == kSetIndex || kOp == kDelIndex;
    Py_ssize_t i = 0;
    PyObject* key = nullptr;
    if (kIndex) {
      double d;
      if (argc < 2 || napi_get_value_double(e, argv[1], &d) != napi_ok)
        throw Napi::TypeError::New(e, "index must be a number");
      i = index_value(e, h, d);
    } else {
      key = object_at_arg(e, h, argc, argv, 1);
    }
    switch (kOp) {
      case kGetIndex: return addr_result(e, h, PySequence_GetItem(rt, op, i));
      case kGetKey: return addr_result(e, h, PyMapping_GetItem(rt, op, key));
      case kSetIndex: return int_result(e, h, PySequence_SetItem(rt, op, i, object_at_arg(e, h, argc, argv, 2)));
      case kSetKey: return int_result(e, h, PyMapping_SetItem(rt, op, key, object_at_arg(e, h, argc, argv, 2)));
      case kDelIndex: return int_result(e, h, PySequence_DelItem(rt, op, i));
      default: return int_result(e, h, PyMapping_DelItem(rt, op, key));
    }
  });
}

inline uintptr_t as_addr(double d) { return static_cast<uintptr_t>(static_cast<int64_t>(d)); }
inline uintptr_t as_addr(uint64_t a) { return static_cast<uintptr_t>(a); }

template <bool kInc, typename T>
void apply_many(Runtime& rt, const T* addrs, size_t n) {
  // Unrolled by 4: about 10 % fewer cycles per address here (the loop is core-bound, about two
  // cycles per address, not memory-bound: 1e3 and 1e5 addresses cost the same).
#pragma GCC unroll 4
  for (size_t i = 0; i < n; i++) {
    PyObject* op = reinterpret_cast<PyObject*>(as_addr(addrs[i]));
    if (kInc)
      Py_INCREF(rt, op);
    else
      Py_DECREF(rt, op);
  }
}

// increfMany / decrefMany: one call for a whole Float64Array or BigUint64Array of addresses.
template <bool kInc>
napi_value raw_many(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  void* data;
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  RtHandle* h = static_cast<RtHandle*>(data);
  napi_typedarray_type type;
  size_t length;
  void* raw;
  bool is_ta = false;
  if (argc >= 1) napi_is_typedarray(env, argv[0], &is_ta);
  if (!is_ta || napi_get_typedarray_info(env, argv[0], &type, &length, &raw, nullptr, nullptr) != napi_ok ||
      (type != napi_float64_array && type != napi_biguint64_array)) {
    napi_throw_type_error(env, nullptr, "addresses must be a Float64Array or a BigUint64Array");
    return nullptr;
  }
  return catching([&]() -> napi_value {
    Runtime& rt = runtime_of(Napi::Env(env), h);
    auto addr_at = [&](size_t i) -> uintptr_t {
      if (type == napi_float64_array) {
        uintptr_t a;
        return integral_in_range(static_cast<const double*>(raw)[i], 1, &a) ? a : 0;
      }
      return static_cast<uintptr_t>(static_cast<const uint64_t*>(raw)[i]);
    };
    // A guarded error names the element it is about.
    auto throw_element = [&](size_t i) {
      PendingError e = rt.take_error();
      e.message = "element " + std::to_string(i) + ": " + e.message;
      throw_js(Napi::Env(env), h->addon, e.code, e.message, &e);
    };
    if (rt.guard) {
      // Validate everything first: a bad address leaves every count untouched.
      for (size_t i = 0; i < length; i++) {
        uintptr_t a = addr_at(i);
        if (a == 0)
          throw_js(Napi::Env(env), h->addon, ErrorCode::InvalidAddress,
                   "element " + std::to_string(i) + " is not an address");
        if (rt.checked_object(a) == nullptr) throw_element(i);
      }
    }
    if (!kInc && rt.guard) {
      // A decref can free objects that come later in the batch: the element's own object, or
      // what its dealloc releases. Once anything has died, every remaining element is checked
      // again, so a freed one is ERR_USE_AFTER_FREE as in the same calls made one by one (the
      // elements before it stay applied). A debug build's negative refcount ends the batch too,
      // with CPython's text.
      const uint64_t freed = rt.objects_freed();
      for (size_t i = 0; i < length; i++) {
        uintptr_t a = addr_at(i);
        if (rt.objects_freed() != freed && rt.checked_object(a) == nullptr) throw_element(i);
        Py_DECREF(rt, reinterpret_cast<PyObject*>(a));
        if (RCL_UNLIKELY(rt.has_error())) throw_pending(Napi::Env(env), h);
      }
    } else if (type == napi_float64_array) {
      // Increfs (which free nothing), or raw C (unguarded): the loop converts and touches only.
      apply_many<kInc>(rt, static_cast<const double*>(raw), length);
    } else {
      apply_many<kInc>(rt, static_cast<const uint64_t*>(raw), length);
    }
    safe_point(Napi::Env(env), h);
    return nullptr;
  });
}

// The benchmarks' anchor: an empty node-addon-api function of one argument.
Napi::Value empty_call(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

// =============================================================================================
// Conversions
// =============================================================================================

const char* kind_name(TypeKind k) {
  switch (k) {
    case TypeKind::Type: return "type";
    case TypeKind::Object: return "object";
    case TypeKind::None: return "None";
    case TypeKind::Bool: return "bool";
    case TypeKind::Int: return "int";
    case TypeKind::Float: return "float";
    case TypeKind::Str: return "str";
    case TypeKind::Tuple: return "tuple";
    case TypeKind::List: return "list";
    case TypeKind::Dict: return "dict";
    case TypeKind::Ellipsis: return "ellipsis";
    case TypeKind::NotImplemented: return "NotImplemented";
    case TypeKind::WeakRef: return "weakref";
    case TypeKind::Instance: return "instance";
  }
  return "object";
}

Napi::Value long_to_js(Napi::Env env, PyObject* op) {
  int64_t v;
  if (PyLong_AsInt64(op, &v)) return int64_value(env, v);
  int sign;
  std::vector<uint64_t> words;
  PyLong_AsWords(op, &sign, &words);
  return Napi::BigInt::New(env, sign < 0 ? 1 : 0, words.size(), words.data());
}

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

// =============================================================================================
// The runtime handle's functions
// =============================================================================================

using Fn = Napi::Value (*)(const Napi::CallbackInfo&);

#define RT_FN(name) Napi::Value name(const Napi::CallbackInfo& info)
#define PROLOGUE              \
  Napi::Env env = info.Env(); \
  RtHandle* h = handle_of(info); \
  Runtime& rt = *h->rt;       \
  (void)rt

// Is user JS running from inside a native call of this runtime (or the making of any error of
// this environment)? Then the native frames below it would go on with a closed runtime.
bool runtime_busy(const RtHandle* h) { return h->running_callbacks > 0 || h->addon->making_errors > 0; }

RT_FN(fn_close) {
  auto* h = static_cast<RtHandle*>(info.Data());
  // Refused in both modes: this is the library's lifecycle, not C's.
  if (runtime_busy(h) && h->rt)
    throw_js(info.Env(), h->addon, ErrorCode::RuntimeBusy,
             "close() was called from a callback (a finalizer, weakref callback, gc callback or "
             "debug output sink) while the runtime is running it; close the runtime after that "
             "call returns");
  h->rt.reset();
  h->name_slots.clear();
  h->finalizers.clear();
  h->legacy_dels.clear();
  h->weakref_callbacks.clear();
  h->gc_dispatch.Reset();
  h->debug_sink.Reset();
  return info.Env().Undefined();
}

RT_FN(fn_busy) {
  auto* h = static_cast<RtHandle*>(info.Data());
  return Napi::Boolean::New(info.Env(), runtime_busy(h));
}

RT_FN(fn_new_int) {
  PROLOGUE;
  if (info.Length() >= 1 && info[0].IsBigInt()) {
    Napi::BigInt b = info[0].As<Napi::BigInt>();
    int sign = 0;
    size_t count = b.WordCount();
    std::vector<uint64_t> words(count ? count : 1);
    b.ToWords(&sign, &count, words.data());
    return addr_result(env, h, PyLong_FromWords(rt, sign ? -1 : 1, words.data(), count));
  }
  double d = number_arg(info, 0, "int value");
  if (!std::isfinite(d) || std::floor(d) != d)
    throw_js(env, h->addon, ErrorCode::Type, "int() needs an integral number or a bigint");
  if (std::fabs(d) > 9007199254740991.0)
    throw_js(env, h->addon, ErrorCode::Value,
             "the number is beyond 2**53 and not exact: pass a bigint");
  return addr_result(env, h, PyLong_FromInt64(rt, static_cast<int64_t>(d)));
}

PyObject* name_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h);
PyObject* interned_string(Napi::Env env, RtHandle* h, napi_value v);

// A JS primitive as a new reference: integral numbers and bigints -> int, other numbers ->
// float, strings -> str, booleans -> True / False, null / undefined -> None. Returns nullptr
// (no error) for anything else: the caller decides (lib/ converts containers and Refs itself).
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

// primitive_to_object for an argument that must be a primitive (absent, nullptr: None).
PyObject* primitive_value(Napi::Env env, RtHandle* h, napi_value v) {
  PyObject* op = v != nullptr ? primitive_to_object(env, h, Napi::Value(env, v)) : h->rt->None();
  if (op == nullptr) throw Napi::TypeError::New(env, "a number, bigint, string, boolean or null is required");
  return op;
}
PyObject* primitive_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  return primitive_value(info.Env(), h, i < info.Length() ? static_cast<napi_value>(info[i]) : nullptr);
}

RT_FN(fn_from_js) {
  PROLOGUE;
  return addr_result(env, h, primitive_arg(info, 0, h));
}

RT_FN(fn_append_value) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  PyObject* v = primitive_arg(info, 1, h);
  int r = method_append(rt, op, v);
  Py_DECREF(rt, v);
  return int_result(env, h, r);
}

RT_FN(fn_new_float) {
  PROLOGUE;
  return addr_result(env, h, PyFloat_FromDouble(rt, number_arg(info, 0, "float value")));
}

RT_FN(fn_new_str) {
  PROLOGUE;
  return addr_result(env, h, PyUnicode_FromUTF8(rt, string_arg(info, 0, "str value")));
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

RT_FN(fn_new_tuple) {
  PROLOGUE;
  std::vector<PyObject*> items = objects_arg(info, 0, h);
  PyObject* t = PyTuple_New(rt, static_cast<Py_ssize_t>(items.size()));
  if (t != nullptr)
    for (size_t k = 0; k < items.size(); k++) PyTuple_ITEM(t, static_cast<Py_ssize_t>(k)) = Py_NewRef(rt, items[k]);
  return addr_result(env, h, t);
}

RT_FN(fn_new_list) {
  PROLOGUE;
  std::vector<PyObject*> items = objects_arg(info, 0, h);
  PyObject* l = PyList_New(rt, static_cast<Py_ssize_t>(items.size()));
  if (l != nullptr)
    for (size_t k = 0; k < items.size(); k++) PyList_ITEM(l, static_cast<Py_ssize_t>(k)) = Py_NewRef(rt, items[k]);
  return addr_result(env, h, l);
}

RT_FN(fn_new_dict) {
  PROLOGUE;
  std::vector<PyObject*> keys = objects_arg(info, 0, h);
  std::vector<PyObject*> values = objects_arg(info, 1, h);
  if (keys.size() != values.size()) throw Napi::TypeError::New(env, "keys and values differ in length");
  PyObject* d = PyDict_New(rt);
  for (size_t k = 0; d != nullptr && k < keys.size(); k++) {
    if (PyDict_SetItem(rt, d, keys[k], values[k]) < 0) {
      Py_DECREF(rt, d);
      d = nullptr;
    }
  }
  return addr_result(env, h, d);
}

RT_FN(fn_define_class) {
  PROLOGUE;
  ClassOptions o;
  o.name = string_arg(info, 0, "class name");
  o.module = string_arg(info, 1, "module name");
  o.host_id = h->next_id++;
  if (info.Length() > 2 && info[2].IsFunction()) {
    o.has_finalize = true;
    h->finalizers.emplace(o.host_id, Napi::Persistent(info[2].As<Napi::Function>()));
  }
  if (info.Length() > 3 && info[3].IsFunction()) {
    o.legacy_del = true;
    h->legacy_dels.emplace(o.host_id, Napi::Persistent(info[3].As<Napi::Function>()));
  }
  return addr_result(env, h, PyType_FromOptions(rt, o));
}

RT_FN(fn_call_class) {
  PROLOGUE;
  return addr_result(env, h, PyObject_CallClass(rt, heap_class(env, h, obj_arg(info, 0, h))));
}

RT_FN(fn_intern_slot) {
  PROLOGUE;
  h->name_slots.push_back(interned_string(env, h, info.Length() > 0 ? static_cast<napi_value>(info[0]) : nullptr));
  return Napi::Number::New(env, static_cast<double>(h->name_slots.size() - 1));
}

RT_FN(fn_type_name) {
  PROLOGUE;
  return Napi::String::New(env, Py_TYPE(obj_arg(info, 0, h))->tp_name);
}
RT_FN(fn_kind) {
  PROLOGUE;
  return Napi::String::New(env, kind_name(Py_TYPE(obj_arg(info, 0, h))->tp_kind));
}
RT_FN(fn_is_immortal) {
  PROLOGUE;
  return Napi::Boolean::New(env, _Py_IsImmortal(obj_arg(info, 0, h)));
}
RT_FN(fn_set_refcnt) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  Py_ssize_t n;
  if (info.Length() > 1 && info[1].IsBigInt()) {
    bool lossless;
    n = info[1].As<Napi::BigInt>().Int64Value(&lossless);
  } else {
    n = index_arg(info, 1, h);
  }
  Py_SET_REFCNT(op, n);
  return env.Undefined();
}
RT_FN(fn_getrefcount) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  // sys.getrefcount(x): the argument's own reference is part of the answer.
  Py_INCREF(rt, op);
  Py_ssize_t n = Py_REFCNT(op);
  Py_DECREF(rt, op);
  Napi::Value v = int64_value(env, n);
  safe_point(env, h);
  return v;
}

// The interned str of a name slot (internSlot), or throws ERR_VALUE.
PyObject* slot_name(Napi::Env env, RtHandle* h, double slot) {
  if (!(slot >= 0 && slot < static_cast<double>(h->name_slots.size())))
    throw_js(env, h->addon, ErrorCode::Value, "unknown attribute name slot");
  return h->name_slots[static_cast<size_t>(slot)];
}

// Attribute names are interned (immortal), as CPython interns identifiers.
// A string argument as an interned str. nullptr (absent) or another type is a TypeError.
PyObject* interned_string(Napi::Env env, RtHandle* h, napi_value v) {
  if (v == nullptr || Napi::Value(env, v).Type() != napi_string)
    throw Napi::TypeError::New(env, "attribute name must be a string");
  PyObject* name = PyUnicode_InternFromUTF8(*h->rt, Napi::Value(env, v).As<Napi::String>().Utf8Value());
  if (name == nullptr) throw_pending(env, h);
  return name;
}
// A name argument: the number of its slot (internSlot) or a string, interned. lib/ passes
// slots, so the hot path reads a small integer instead of marshalling the same string again.
PyObject* name_value(Napi::Env env, RtHandle* h, napi_value v) {
  double slot;
  if (v != nullptr && napi_get_value_double(env, v, &slot) == napi_ok) return slot_name(env, h, slot);
  return interned_string(env, h, v);
}
PyObject* name_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  return name_value(info.Env(), h, i < info.Length() ? static_cast<napi_value>(info[i]) : nullptr);
}

// delattr / hasattr (getattr and setattr are raw_attr).
RT_FN(fn_delattr) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  return int_result(env, h, PyObject_SetAttr(rt, op, name_arg(info, 1, h), nullptr));
}
RT_FN(fn_hasattr) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  bool has = PyObject_HasAttr(rt, op, name_arg(info, 1, h)) == 1;
  safe_point(env, h);
  return Napi::Boolean::New(env, has);
}

RT_FN(fn_insert) {
  PROLOGUE;
  return int_result(env, h, method_insert(rt, obj_arg(info, 0, h), index_arg(info, 1, h), obj_arg(info, 2, h)));
}
RT_FN(fn_pop_index) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  Py_ssize_t i = info.Length() > 1 && !info[1].IsUndefined() ? index_arg(info, 1, h) : -1;
  return addr_result(env, h, method_pop_index(rt, op, i));
}
RT_FN(fn_pop_key) {
  PROLOGUE;
  return addr_result(env, h, method_pop_key(rt, obj_arg(info, 0, h), obj_arg(info, 1, h)));
}
RT_FN(fn_clear) {
  PROLOGUE;
  return int_result(env, h, method_clear(rt, obj_arg(info, 0, h)));
}
RT_FN(fn_repeat) {
  PROLOGUE;
  return addr_result(env, h, sequence_repeat(rt, obj_arg(info, 0, h), index_arg(info, 1, h)));
}
RT_FN(fn_copy) {
  PROLOGUE;
  return addr_result(env, h, method_copy(rt, obj_arg(info, 0, h)));
}
RT_FN(fn_value) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  Napi::Value v;
  {
    InUserCode scope(h->running_callbacks);
    ToJs conversion(env, h);
    v = conversion.convert(op, C_RECURSION_LIMIT - C_RECURSION_USED_AT_TOP_LEVEL);
  }  // the held references go back here, which may run finalizers
  safe_point(env, h);
  return v;
}
RT_FN(fn_repr) {
  PROLOGUE;
  std::string text = PyObject_Repr(rt, obj_arg(info, 0, h));
  if (rt.has_error()) throw_pending(env, h);
  return Napi::String::New(env, text);
}
RT_FN(fn_repr_object) {
  PROLOGUE;
  return addr_result(env, h, PyObject_ReprObject(rt, obj_arg(info, 0, h)));
}
RT_FN(fn_sizeof) {
  PROLOGUE;
  return Napi::Number::New(env, static_cast<double>(_PySys_GetSizeOf(obj_arg(info, 0, h))));
}
RT_FN(fn_cast) {
  // ctypes.cast(addr, py_object).value: a new strong reference to whatever lives there.
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  Py_INCREF(rt, op);
  return addr_result(env, h, op);
}

// ---------------------------------------------------------------------------------- memory
uintptr_t readable_addr(const Napi::CallbackInfo& info, size_t i, RtHandle* h, size_t n) {
  uintptr_t a = addr_arg(info, i, h);
  if (h->rt->guard && !h->rt->readable(a, n)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, a);
    throw_js(info.Env(), h->addon, ErrorCode::InvalidAddress,
             std::string(buf) + " is not memory of this runtime");
  }
  return a;
}
// The write paths (guarded): an object's ob_refcnt, or a block from the C API's memory functions
// (Runtime::writable). Freed objects are ERR_USE_AFTER_FREE, the rest ERR_INVALID_ADDRESS.
uintptr_t writable_addr(const Napi::CallbackInfo& info, size_t i, RtHandle* h, size_t n) {
  uintptr_t a = readable_addr(info, i, h, n);
  if (h->rt->guard && !h->rt->writable(a, n)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, a);
    bool freed = h->rt->was_freed_object(reinterpret_cast<const void*>(a));
    throw_js(info.Env(), h->addon, freed ? ErrorCode::UseAfterFree : ErrorCode::InvalidAddress,
             std::string(buf) + (freed ? " is inside a freed block (use after free): not writable"
                                       : " is not writable in guarded mode: only an object's ob_refcnt "
                                         "(the word at its address) and blocks from the C API's memory "
                                         "functions are"));
  }
  return a;
}
// Guarded reads may look at a freed block on purpose (CPython prints what pymalloc left there),
// which the ASan builds keep poisoned: the copy is not instrumented (a byte loop, so no
// intercepted memcpy either).
#if defined(__GNUC__)
__attribute__((no_sanitize("address")))
#endif
void copy_out(void* dst, const void* src, size_t n) {
  auto* d = static_cast<volatile unsigned char*>(dst);
  auto* p = static_cast<const volatile unsigned char*>(src);
  for (size_t i = 0; i < n; i++) d[i] = p[i];
}

RT_FN(fn_read_word) {
  PROLOGUE;
  uintptr_t a = readable_addr(info, 0, h, 8);
  int64_t v;
  copy_out(&v, reinterpret_cast<const void*>(a), sizeof v);
  return int64_value(env, v);
}
RT_FN(fn_write_word) {
  PROLOGUE;
  uintptr_t a = writable_addr(info, 0, h, 8);
  int64_t v;
  if (info.Length() > 1 && info[1].IsBigInt()) {
    bool lossless;
    v = info[1].As<Napi::BigInt>().Int64Value(&lossless);
  } else {
    double d = number_arg(info, 1, "value");
    if (!std::isfinite(d) || std::floor(d) != d)
      throw_js(env, h->addon, ErrorCode::Type, "an integer is required");
    v = static_cast<int64_t>(d);
  }
  std::memcpy(reinterpret_cast<void*>(a), &v, sizeof v);
  return env.Undefined();
}
RT_FN(fn_read_bytes) {
  PROLOGUE;
  double n = number_arg(info, 1, "length");
  if (!(n >= 0 && n <= (1 << 20)) || std::floor(n) != n)
    throw_js(env, h->addon, ErrorCode::Value, "length must be an integer in 0..1048576");
  uintptr_t a = readable_addr(info, 0, h, static_cast<size_t>(n) ? static_cast<size_t>(n) : 1);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(n));
  copy_out(out.Data(), reinterpret_cast<const void*>(a), static_cast<size_t>(n));
  return out;
}
RT_FN(fn_write_bytes) {
  PROLOGUE;
  if (info.Length() < 2 || !info[1].IsBuffer()) throw Napi::TypeError::New(env, "data must be a Buffer");
  Napi::Buffer<uint8_t> b = info[1].As<Napi::Buffer<uint8_t>>();
  uintptr_t a = writable_addr(info, 0, h, b.Length() ? b.Length() : 1);
  std::memcpy(reinterpret_cast<void*>(a), b.Data(), b.Length());
  return env.Undefined();
}

// PyMem_* / PyObject_* / PyMem_Raw* on raw addresses; domain 'r' | 'm' | 'o'.
MemDomain domain_arg(const Napi::CallbackInfo& info, size_t i) {
  std::string d = string_arg(info, i, "domain");
  if (d == "r") return MemDomain::Raw;
  if (d == "m") return MemDomain::Mem;
  if (d == "o") return MemDomain::Obj;
  throw Napi::TypeError::New(info.Env(), "domain must be 'r', 'm' or 'o'");
}
size_t size_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  double n = number_arg(info, i, "size");
  if (!(n >= 0 && n <= 1e12) || std::floor(n) != n)
    throw_js(info.Env(), h->addon, ErrorCode::Value, "size must be a non-negative integer");
  return static_cast<size_t>(n);
}
void* block_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  uintptr_t a = addr_arg(info, i, h);
  if (a == 0) return nullptr;
  if (h->rt->guard) {
    BlockState s = h->rt->alloc.block_state(reinterpret_cast<void*>(a));
    if (s != BlockState::Live) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, a);
      throw_js(info.Env(), h->addon, s == BlockState::Freed ? ErrorCode::UseAfterFree : ErrorCode::InvalidAddress,
               std::string(buf) + (s == BlockState::Freed ? " was already freed" : " was not handed out by this allocator"));
    }
    if (!h->rt->is_user_block(reinterpret_cast<void*>(a)))
      throw_js(info.Env(), h->addon, ErrorCode::InvalidAddress,
               "that block was not allocated through the C API's memory functions (an object, or a "
               "block an object owns: release the object instead)");
  }
  return reinterpret_cast<void*>(a);
}
Napi::Value mem_result(Napi::Env env, RtHandle* h, void* p) {
  if (h->rt->has_error()) throw_pending(env, h);
  return Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(p)));
}
RT_FN(fn_mem_malloc) {
  PROLOGUE;
  MemDomain d = domain_arg(info, 0);
  return mem_result(env, h, rt.capi_malloc(d, size_arg(info, 1, h)));
}
RT_FN(fn_mem_calloc) {
  PROLOGUE;
  MemDomain d = domain_arg(info, 0);
  return mem_result(env, h, rt.capi_calloc(d, size_arg(info, 1, h), size_arg(info, 2, h)));
}
RT_FN(fn_mem_realloc) {
  PROLOGUE;
  MemDomain d = domain_arg(info, 0);
  void* p = block_arg(info, 1, h);
  return mem_result(env, h, rt.capi_realloc(d, p, size_arg(info, 2, h)));
}
RT_FN(fn_mem_free) {
  PROLOGUE;
  MemDomain d = domain_arg(info, 0);
  void* p = block_arg(info, 1, h);
  rt.capi_free(d, p);
  if (rt.has_error()) throw_pending(env, h);
  return env.Undefined();
}
RT_FN(fn_mem_validate) {
  PROLOGUE;
  std::string why;
  if (rt.alloc.validate(&why)) return env.Null();
  return Napi::String::New(env, why);
}
RT_FN(fn_debugmallocstats) {
  PROLOGUE;
  return Napi::String::New(env, rt.debugmallocstats());
}
RT_FN(fn_malloc_stats) {
  PROLOGUE;
  MallocStats s = rt.alloc.stats();
  Napi::Object o = Napi::Object::New(env);
  const char* kinds[] = {"pymalloc", "malloc", "pymalloc_debug", "malloc_debug"};
  o.Set("allocator", kinds[static_cast<int>(s.kind)]);
#define RCL_SET(f) o.Set(#f, static_cast<double>(s.f))
  RCL_SET(allocated_blocks);
  RCL_SET(arenas_allocated_total);
  RCL_SET(arenas_reclaimed);
  RCL_SET(arenas_highwater);
  RCL_SET(arenas_allocated_current);
  RCL_SET(bytes_in_allocated_blocks);
  RCL_SET(bytes_in_available_blocks);
  RCL_SET(unused_pools);
  RCL_SET(bytes_lost_to_pool_headers);
  RCL_SET(bytes_lost_to_quantization);
  RCL_SET(bytes_lost_to_arena_alignment);
  RCL_SET(arena_map_mid_nodes);
  RCL_SET(arena_map_bot_nodes);
  RCL_SET(raw_blocks);
  RCL_SET(raw_bytes);
#undef RCL_SET
  Napi::Array classes = Napi::Array::New(env);
  for (unsigned i = 0; i < s.nclasses; i++) {
    Napi::Object c = Napi::Object::New(env);
    c.Set("sizeClass", s.classes[i].size_class);
    c.Set("size", s.classes[i].block_size);
    c.Set("pools", static_cast<double>(s.classes[i].pools));
    c.Set("blocksInUse", static_cast<double>(s.classes[i].blocks_in_use));
    c.Set("availableBlocks", static_cast<double>(s.classes[i].blocks_available));
    classes.Set(i, c);
  }
  o.Set("classes", classes);
  // The object free lists (the last lines of debugmallocstats): objects parked on each.
  const FreeLists& fl = rt.freelists;
  Napi::Object free_lists = Napi::Object::New(env);
  free_lists.Set("dict", fl.dicts.num);
  free_lists.Set("float", fl.float_num);
  free_lists.Set("list", fl.lists.num);
  Napi::Array tuples = Napi::Array::New(env, fl.tuple_num.size());
  for (size_t i = 0; i < fl.tuple_num.size(); i++) tuples.Set(static_cast<uint32_t>(i), fl.tuple_num[i]);
  free_lists.Set("tuple", tuples);
  o.Set("freeLists", free_lists);
  return o;
}
RT_FN(fn_block_state) {
  PROLOGUE;
  BlockState s = rt.alloc.block_state(reinterpret_cast<void*>(addr_arg(info, 0, h)));
  return Napi::String::New(env, s == BlockState::Live ? "live" : s == BlockState::Freed ? "freed" : "foreign");
}

// ---------------------------------------------------------------------------------- pictures
// objectState(addr): what the guarded registry knows of an address, never throwing: 'live',
// 'freed' (an object was deallocated there and nothing new lives there), 'invalid'. Unguarded
// runtimes keep no registry: 'unknown'.
RT_FN(fn_object_state) {
  PROLOGUE;
  uintptr_t a;
  if (info.Length() < 1 || !info[0].IsNumber() ||
      !integral_in_range(info[0].As<Napi::Number>().DoubleValue(), 0, &a))
    return Napi::String::New(env, "invalid");
  if (!rt.guard) return Napi::String::New(env, "unknown");
  const void* p = reinterpret_cast<const void*>(a);
  return Napi::String::New(env, rt.is_live_object(p) ? "live" : rt.was_freed_object(p) ? "freed" : "invalid");
}

int edges_visit(PyObject* op, void* arg) {
  static_cast<std::vector<PyObject*>*>(arg)->push_back(op);
  return 0;
}

// referentEdges(addr): [[label, child], ...] in tp_traverse order (what gc.get_referents sees),
// as BORROWED addresses: a picture must not change the counts it draws. Labels: attribute names
// (instances), "[i]" (lists, tuples), "[repr(key)]" and "key" (dicts), "__class__", "__dict__",
// "__mro__"; "" when the container does not say.
RT_FN(fn_referent_edges) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  std::vector<PyObject*> children;
  if (PyObject_IS_GC(op)) Py_TYPE(op)->tp_traverse(op, edges_visit, &children);
  std::unordered_multimap<PyObject*, std::string> labels;
  TypeKind k = Py_TYPE(op)->tp_kind;
  if (k == TypeKind::Instance) {
    std::vector<std::pair<PyObject*, PyObject*>> attrs;
    instance_attributes(op, &attrs);
    for (auto& [name, v] : attrs) labels.emplace(v, PyUnicode_AsUTF8(name));
    labels.emplace(reinterpret_cast<PyObject*>(Py_TYPE(op)), "__class__");
  } else if (k == TypeKind::List || k == TypeKind::Tuple) {
    for (Py_ssize_t i = 0; i < Py_SIZE(op); i++) {
      PyObject* item = k == TypeKind::List ? PyList_ITEM(op, i) : PyTuple_ITEM(op, i);
      if (item) labels.emplace(item, "[" + std::to_string(i) + "]");
    }
  } else if (k == TypeKind::Dict) {
    Py_ssize_t pos = 0;
    PyObject *key, *v;
    while (PyDict_Next(op, &pos, &key, &v)) {
      labels.emplace(v, "[" + PyObject_Repr(rt, key) + "]");
      labels.emplace(key, "key");
    }
  }
  Napi::Array out = Napi::Array::New(env, children.size());
  for (size_t i = 0; i < children.size(); i++) {
    PyObject* c = children[i];
    std::string label;
    auto it = labels.find(c);
    if (it != labels.end()) {
      label = it->second;
      labels.erase(it);
    } else if (Py_TYPE(c)->tp_kind == TypeKind::Dict && k != TypeKind::Dict) {
      label = "__dict__";
    } else if (k == TypeKind::Type && Py_TYPE(c)->tp_kind == TypeKind::Tuple) {
      label = "__mro__";
    }
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, label);
    pair.Set(1u, static_cast<double>(reinterpret_cast<uintptr_t>(c)));
    out.Set(static_cast<uint32_t>(i), pair);
  }
  return out;
}

// ---------------------------------------------------------------------------------- debug build
RT_FN(fn_ref_total) {
  PROLOGUE;
  return Napi::Number::New(env, static_cast<double>(rt.total_refcount()));
}
RT_FN(fn_showrefcount) {
  PROLOGUE;
  return Napi::String::New(env, rt.showrefcount_text());
}
RT_FN(fn_allocated_blocks) {
  PROLOGUE;
  return Napi::Number::New(env, static_cast<double>(rt.alloc.allocated_blocks()));
}
RT_FN(fn_stats) {
  PROLOGUE;
  Napi::Object o = Napi::Object::New(env);
#define RCL_X(field, label) o.Set(#field, static_cast<double>(rt.stats.field));
  RCL_OBJECT_STATS(RCL_X)
#undef RCL_X
  return o;
}

// ---------------------------------------------------------------------------------- gc
RT_FN(fn_gc_collect) {
  PROLOGUE;
  int g = info.Length() > 0 && !info[0].IsUndefined() ? static_cast<int>(index_arg(info, 0, h)) : 2;
  return int_result(env, h, gc_collect(rt, g));
}
RT_FN(fn_gc_set_enabled) {
  PROLOGUE;
  int prev = rt.gc.enabled;
  rt.gc.enabled = info.Length() > 0 && info[0].ToBoolean() ? 1 : 0;
  return Napi::Boolean::New(env, prev != 0);
}
RT_FN(fn_gc_is_enabled) {
  PROLOGUE;
  return Napi::Boolean::New(env, rt.gc.enabled != 0);
}
RT_FN(fn_gc_get_count) {
  PROLOGUE;
  Napi::Array a = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) a.Set(i, rt.gc.generations[i].count);
  return a;
}
RT_FN(fn_gc_get_threshold) {
  PROLOGUE;
  Napi::Array a = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) a.Set(i, rt.gc.generations[i].threshold);
  return a;
}
RT_FN(fn_gc_set_threshold) {
  PROLOGUE;
  if (info.Length() < 1 || info[0].IsUndefined())
    throw_js(env, h->addon, ErrorCode::Type, "set_threshold() takes at least 1 argument (0 given)");
  for (uint32_t i = 0; i < 3 && i < info.Length(); i++) {
    if (info[i].IsUndefined()) continue;
    Py_ssize_t t = index_arg(info, i, h);
    if (t > INT32_MAX || t < INT32_MIN)
      throw_js(env, h->addon, ErrorCode::Overflow, "signed integer is greater than maximum");
    rt.gc.generations[i].threshold = static_cast<int>(t);
  }
  return env.Undefined();
}
RT_FN(fn_gc_get_stats) {
  PROLOGUE;
  Napi::Array a = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("collections", static_cast<double>(rt.gc.generation_stats[i].collections));
    o.Set("collected", static_cast<double>(rt.gc.generation_stats[i].collected));
    o.Set("uncollectable", static_cast<double>(rt.gc.generation_stats[i].uncollectable));
    a.Set(i, o);
  }
  return a;
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
RT_FN(fn_gc_get_objects) {
  PROLOGUE;
  int g = -1;
  if (info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull()) {
    if (!info[0].IsNumber())
      throw_js(env, h->addon, ErrorCode::Type,
               std::string("argument should be integer or None, not '") +
                   (info[0].IsString() ? "str" : "object") + "'");
    double d = info[0].As<Napi::Number>().DoubleValue();
    if (std::floor(d) != d)
      throw_js(env, h->addon, ErrorCode::Type, "argument should be integer or None, not 'float'");
    if (d >= NUM_GENERATIONS)
      throw_js(env, h->addon, ErrorCode::Value,
               "generation parameter must be less than the number of available generations (3)");
    if (d < -1) throw_js(env, h->addon, ErrorCode::Value, "generation parameter cannot be negative");
    g = static_cast<int>(d);  // -1 is CPython's internal "None" (3.12.1 quirk): all objects
  }
  return object_list(env, h, gc_get_objects(rt, g));
}
RT_FN(fn_gc_get_referrers) {
  PROLOGUE;
  return object_list(env, h, gc_get_referrers(rt, objects_arg(info, 0, h)));
}
RT_FN(fn_gc_get_referents) {
  PROLOGUE;
  return object_list(env, h, gc_get_referents(rt, objects_arg(info, 0, h)));
}
RT_FN(fn_gc_is_tracked) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  return Napi::Boolean::New(env, PyObject_IS_GC(op) && _PyObject_GC_IS_TRACKED(op));
}
RT_FN(fn_gc_is_finalized) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  return Napi::Boolean::New(env, PyObject_IS_GC(op) && _PyGC_FINALIZED(op));
}
RT_FN(fn_gc_generation_of) {
  PROLOGUE;
  return Napi::Number::New(env, gc_generation_of(rt, obj_arg(info, 0, h)));
}
RT_FN(fn_gc_freeze) {
  PROLOGUE;
  gc_freeze(rt);
  return env.Undefined();
}
RT_FN(fn_gc_unfreeze) {
  PROLOGUE;
  gc_unfreeze(rt);
  return env.Undefined();
}
RT_FN(fn_gc_get_freeze_count) {
  PROLOGUE;
  return Napi::Number::New(env, static_cast<double>(gc_get_freeze_count(rt)));
}
RT_FN(fn_gc_get_debug) {
  PROLOGUE;
  return Napi::Number::New(env, rt.gc.debug);
}
RT_FN(fn_gc_set_debug) {
  PROLOGUE;
  rt.gc.debug = static_cast<int>(index_arg(info, 0, h));
  return env.Undefined();
}
RT_FN(fn_gc_garbage) {
  PROLOGUE;
  PyObject* g = rt.gc.garbage;
  Py_INCREF(rt, g);
  return Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(g)));
}
RT_FN(fn_set_gc_dispatch) {
  PROLOGUE;
  if (info.Length() > 0 && info[0].IsFunction())
    h->gc_dispatch = Napi::Persistent(info[0].As<Napi::Function>());
  else
    h->gc_dispatch.Reset();
  return env.Undefined();
}
RT_FN(fn_set_debug_sink) {
  PROLOGUE;
  if (info.Length() > 0 && info[0].IsFunction())
    h->debug_sink = Napi::Persistent(info[0].As<Napi::Function>());
  else
    h->debug_sink.Reset();
  return env.Undefined();
}

// ---------------------------------------------------------------------------------- weakrefs
RT_FN(fn_weakref_new) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  uint32_t cb = 0;
  if (info.Length() > 1 && info[1].IsFunction()) {
    cb = h->next_id++;
    h->weakref_callbacks.emplace(cb, Napi::Persistent(info[1].As<Napi::Function>()));
  }
  PyObject* wr = PyWeakref_NewRef(rt, op, cb);
  if (wr == nullptr && cb) h->weakref_callbacks.erase(cb);
  return addr_result(env, h, wr);
}
RT_FN(fn_weakref_get) {
  PROLOGUE;
  PyObject* wr = obj_arg(info, 0, h);
  if (Py_TYPE(wr)->tp_kind != TypeKind::WeakRef) throw_js(env, h->addon, ErrorCode::Type, "not a weakref");
  return addr_result(env, h, Py_NewRef(rt, PyWeakref_GetObject(rt, wr)));
}
RT_FN(fn_weakref_count) {
  PROLOGUE;
  return Napi::Number::New(env, static_cast<double>(weakref_count(obj_arg(info, 0, h))));
}

// ---------------------------------------------------------------------------------- layout
RT_FN(fn_gc_head) {
  // The raw PyGC_Head words of a GC object (tests of the layout).
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  if (!PyObject_IS_GC(op)) return env.Null();
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::BigInt::New(env, static_cast<uint64_t>(_Py_AS_GC(op)->_gc_next)));
  a.Set(1u, Napi::BigInt::New(env, static_cast<uint64_t>(_Py_AS_GC(op)->_gc_prev)));
  return a;
}

// Live heap objects by type (guarded registry): {typeName: [objects, refs, immortal]}; null
// when unguarded.
RT_FN(fn_census) {
  PROLOGUE;
  std::unordered_map<std::string, Runtime::TypeCensus> c;
  if (!rt.census(&c)) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  for (auto& [name, t] : c) {
    Napi::Array a = Napi::Array::New(env, 3);
    a.Set(0u, Napi::Number::New(env, static_cast<double>(t.objects)));
    a.Set(1u, Napi::Number::New(env, static_cast<double>(t.refs)));
    a.Set(2u, Napi::Number::New(env, static_cast<double>(t.immortal)));
    o.Set(name, a);
  }
  return o;
}

struct Entry {
  const char* name;
  Fn fn;
};
const Entry kFunctions[] = {
    {"close", fn_close}, {"busy", fn_busy}, {"newInt", fn_new_int}, {"newFloat", fn_new_float}, {"newStr", fn_new_str},
    {"newTuple", fn_new_tuple}, {"newList", fn_new_list}, {"newDict", fn_new_dict},
    {"defineClass", fn_define_class}, {"callClass", fn_call_class},
    {"internSlot", fn_intern_slot}, {"typeName", fn_type_name},
    {"kind", fn_kind}, {"isImmortal", fn_is_immortal}, {"setRefcnt", fn_set_refcnt},
    {"getrefcount", fn_getrefcount},
    {"delattr", fn_delattr}, {"hasattr", fn_hasattr},
    {"insert", fn_insert}, {"popIndex", fn_pop_index}, {"popKey", fn_pop_key}, {"clear", fn_clear},
    {"repeat", fn_repeat}, {"copy", fn_copy}, {"value", fn_value}, {"repr", fn_repr}, {"reprObject", fn_repr_object},
    {"sizeof", fn_sizeof}, {"cast", fn_cast}, {"readWord", fn_read_word},
    {"writeWord", fn_write_word}, {"readBytes", fn_read_bytes}, {"writeBytes", fn_write_bytes},
    {"memMalloc", fn_mem_malloc}, {"memCalloc", fn_mem_calloc}, {"memRealloc", fn_mem_realloc},
    {"memFree", fn_mem_free}, {"memValidate", fn_mem_validate},
    {"debugmallocstats", fn_debugmallocstats}, {"mallocStats", fn_malloc_stats},
    {"blockState", fn_block_state}, {"refTotal", fn_ref_total}, {"showrefcount", fn_showrefcount},
    {"allocatedBlocks", fn_allocated_blocks}, {"stats", fn_stats}, {"gcCollect", fn_gc_collect},
    {"gcSetEnabled", fn_gc_set_enabled}, {"gcIsEnabled", fn_gc_is_enabled},
    {"gcGetCount", fn_gc_get_count}, {"gcGetThreshold", fn_gc_get_threshold},
    {"gcSetThreshold", fn_gc_set_threshold}, {"gcGetStats", fn_gc_get_stats},
    {"gcGetObjects", fn_gc_get_objects}, {"gcGetReferrers", fn_gc_get_referrers},
    {"gcGetReferents", fn_gc_get_referents}, {"gcIsTracked", fn_gc_is_tracked},
    {"gcIsFinalized", fn_gc_is_finalized}, {"gcGenerationOf", fn_gc_generation_of},
    {"gcFreeze", fn_gc_freeze}, {"gcUnfreeze", fn_gc_unfreeze},
    {"gcGetFreezeCount", fn_gc_get_freeze_count}, {"gcGetDebug", fn_gc_get_debug},
    {"gcSetDebug", fn_gc_set_debug}, {"gcGarbage", fn_gc_garbage},
    {"setGcDispatch", fn_set_gc_dispatch}, {"setDebugSink", fn_set_debug_sink},
    {"weakrefNew", fn_weakref_new}, {"weakrefGet", fn_weakref_get},
    {"weakrefCount", fn_weakref_count}, {"gcHead", fn_gc_head}, {"fromJs", fn_from_js},
    {"appendValue", fn_append_value},
    {"objectState", fn_object_state}, {"referentEdges", fn_referent_edges},
    {"census", fn_census},
};

// The hot paths, on the raw C API (no node-addon-api wrapper per call).
struct RawEntry {
  const char* name;
  napi_callback fn;
};
const RawEntry kRawFunctions[] = {
    {"incref", raw_incref<false>}, {"decref", raw_decref<false>},
    {"xincref", raw_incref<true>}, {"xdecref", raw_decref<true>}, {"refcnt", raw_refcnt},
    {"increfMany", raw_many<true>}, {"decrefMany", raw_many<false>},
    {"callClassPacked", raw_call_class_packed},
    {"getattr", raw_attr<kGetattr>}, {"setattr", raw_attr<kSetattr>},
    {"setattrValue", raw_attr<kSetattrValue>}, {"append", raw_append},
    {"len", raw_item<kLen>}, {"getitemIndex", raw_item<kGetIndex>},
    {"getitemKey", raw_item<kGetKey>}, {"setitemIndex", raw_item<kSetIndex>},
    {"setitemKey", raw_item<kSetKey>}, {"delitemIndex", raw_item<kDelIndex>},
    {"delitemKey", raw_item<kDelKey>},
};

Napi::Value create_runtime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Addon* addon = env.GetInstanceData<Addon>();
  Napi::Object opts = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  RuntimeOptions ro;
  ro.guard = !opts.Has("guard") || opts.Get("guard").ToBoolean();
  if (opts.Has("allocator") && opts.Get("allocator").IsString()) {
    std::string a = opts.Get("allocator").As<Napi::String>();
    if (a == "pymalloc") ro.allocator.kind = AllocatorKind::Pymalloc;
    else if (a == "malloc") ro.allocator.kind = AllocatorKind::Malloc;
    else if (a == "pymalloc_debug") ro.allocator.kind = AllocatorKind::PymallocDebug;
    else if (a == "malloc_debug") ro.allocator.kind = AllocatorKind::MallocDebug;
    else throw Napi::TypeError::New(env, "allocator must be pymalloc, malloc, pymalloc_debug or malloc_debug");
  }
  if (opts.Has("arenaAllocator") && opts.Get("arenaAllocator").IsString()) {
    std::string a = opts.Get("arenaAllocator").As<Napi::String>();
    if (a == "mmap") ro.allocator.arenas = ArenaSource::Mmap;
    else if (a == "malloc") ro.allocator.arenas = ArenaSource::Malloc;
    else throw Napi::TypeError::New(env, "arenaAllocator must be mmap or malloc");
  }
  auto handle = std::make_unique<RtHandle>();
  RtHandle* h = handle.get();
  h->addon = addon;
  h->env = env;
  h->rt = std::make_unique<Runtime>(ro, h);
  addon->handles.push_back(std::move(handle));

  Napi::Object o = Napi::Object::New(env);
  for (const Entry& e : kFunctions) o.Set(e.name, Napi::Function::New(env, e.fn, e.name, h));
  for (const RawEntry& e : kRawFunctions) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, h, &fn);
    o.Set(e.name, Napi::Value(env, fn));
  }
  // The packed block lives as long as the handle (a strong reference), so `packed` stays valid
  // even if JS drops the Float64Array.
  Napi::ArrayBuffer packed_ab = Napi::ArrayBuffer::New(env, kPackedDoubles * sizeof(double));
  h->packed_buffer = Napi::Persistent(packed_ab);
  h->packed = static_cast<double*>(packed_ab.Data());
  o.Set("packed", Napi::Float64Array::New(env, kPackedDoubles, packed_ab, 0));
  Runtime& rt = *h->rt;
  auto addr = [&](PyObject* p) { return static_cast<double>(reinterpret_cast<uintptr_t>(p)); };
  Napi::Object singletons = Napi::Object::New(env);
  singletons.Set("None", addr(rt.None()));
  singletons.Set("True", addr(rt.True()));
  singletons.Set("False", addr(rt.False()));
  singletons.Set("Ellipsis", addr(rt.Ellipsis()));
  singletons.Set("NotImplemented", addr(rt.NotImplemented()));
  o.Set("singletons", singletons);
  o.Set("guard", ro.guard);
  const char* kinds[] = {"pymalloc", "malloc", "pymalloc_debug", "malloc_debug"};
  o.Set("allocator", kinds[static_cast<int>(ro.allocator.kind)]);
  o.Set("arenaAllocator", ro.allocator.arenas == ArenaSource::Mmap ? "mmap" : "malloc");
  return o;
}

Napi::Value set_error_factory(const Napi::CallbackInfo& info) {
  Addon* addon = info.Env().GetInstanceData<Addon>();
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "a function is required");
  addon->make_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Addon::Addon(Napi::Env env, Napi::Object exports) {
  exports.Set("build", Napi::String::New(env, RCL_BUILD_NAME));
  exports.Set("createRuntime", Napi::Function::New(env, create_runtime, "createRuntime"));
  exports.Set("setErrorFactory", Napi::Function::New(env, set_error_factory, "setErrorFactory"));
  exports.Set("emptyCall", Napi::Function::New(env, empty_call, "emptyCall"));
  Napi::Array codes = Napi::Array::New(env);
  uint32_t i = 0;
#define RCL_X(name, js) codes.Set(i++, Napi::String::New(env, js));
  RCL_ERROR_CODES(RCL_X)
#undef RCL_X
  exports.Set("errorCodes", codes);
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("sizeofPyObject", static_cast<double>(sizeof(PyObject)));
  layout.Set("sizeofPyVarObject", static_cast<double>(sizeof(PyVarObject)));
  layout.Set("sizeofPyGC_Head", static_cast<double>(sizeof(PyGC_Head)));
  layout.Set("offsetofObRefcnt", static_cast<double>(offsetof(PyObject, ob_refcnt)));
  layout.Set("offsetofObType", static_cast<double>(offsetof(PyObject, ob_type)));
  layout.Set("offsetofObSize", static_cast<double>(offsetof(PyVarObject, ob_size)));
  layout.Set("immortalRefcnt", static_cast<double>(_Py_IMMORTAL_REFCNT));
  exports.Set("layout", layout);
  // The symbol check of the independence test: this build's own copy of an inline function.
  exports.Set("buildTag", Napi::Number::New(env, static_cast<double>(kBuild)));
  DefineAddon(exports, {});
}

}  // namespace
RCL_END_NAMESPACE

using RclAddon = rcl::RCL_BUILD_NS::Addon;
NODE_API_ADDON(RclAddon)
