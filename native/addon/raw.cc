// raw.cc — the hot paths, on the raw C API (no node-addon-api wrapper per call): incref /
// decref / refcnt, the *Many forms, callClassPacked, the attribute and item functions.
#include <cstring>
#include <string>

#include "addon.h"
#include "args.h"
#include "convert.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {
namespace {

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

// callClassPacked(cls, ...extra): cls() then one setattr per pair, in order, in ONE boundary
// crossing (C.new({ x: 1, y: 2 })). The pairs are in the runtime's packed Float64Array, filled
// by lib/ just before the call, so the call reads one argument instead of two per pair (the
// layout and the kinds are RCL_PACKED_KINDS in schema.h):
//   packed[0] = n pairs (at most 32); pair k at 1 + 3k: [name slot, kind, value]
//   kind 0: a number (int when integral and inside int64, else float), 1: an address,
//   2: None, 3: True, 4: False, 5: the JS primitive extra[value] (strings, bigints).
// Names are interned strs by slot (internSlot). The block is copied before anything runs, so a
// finalizer that refills it cannot interfere. If a setattr fails the new instance is released
// and the error thrown: the caller never sees a half-built object.
enum PackedKind {
#define RCL_X(name, js, value) kPacked##name = value,
  RCL_PACKED_KINDS(RCL_X)
#undef RCL_X
};

// A packed value (kind, value) other than `extra` as a new reference. Throws the JS error.
PyObject* packed_object(Napi::Env env, RtHandle* h, double kind, double value) {
  Runtime& rt = *h->rt;
  PyObject* v;
  switch (static_cast<int>(kind)) {
    case kPackedNumber: v = number_to_object(rt, value); break;
    case kPackedAddress: return Py_NewRef(rt, object_at(env, h, value));
    case kPackedNone: return rt.None();
    case kPackedTrue: return rt.True();
    case kPackedFalse: return rt.False();
    default: throw Napi::TypeError::New(env, "unknown packed value kind");
  }
  if (v == nullptr) throw_pending(env, h);
  return v;
}

// The new instance (a new reference), before the safe point. `packed` is the block to read,
// `cls` the class's address, `extra` the extra arguments (extra[i] is the packed value `i`).
PyObject* call_class_packed(Napi::Env env, RtHandle* h, const double* packed, double cls, size_t nextra,
                            const napi_value* extra) {
  Runtime& rt = runtime_of(env, h);
  const double count = packed[0];
  if (!(count >= 0 && count <= static_cast<double>(kMaxAttrPairs)))
    throw Napi::TypeError::New(env, "callClassPacked takes up to 32 pairs");
  const size_t pairs = static_cast<size_t>(count);
  double block[kPackedDoubles];
  std::memcpy(block, packed, (1 + 3 * pairs) * sizeof(double));
  PyObject* obj = PyObject_CallClass(rt, heap_class(env, h, object_at(env, h, cls)));
  if (obj == nullptr) throw_pending(env, h);
  try {
    for (size_t k = 0; k < pairs; k++) {
      const double* pair = block + 1 + 3 * k;
      PyObject* name = slot_name(env, h, pair[0]);
      PyObject* v;
      if (static_cast<int>(pair[1]) == kPackedExtra) {
        const double i = pair[2];
        if (!(i >= 0 && i < static_cast<double>(nextra))) throw Napi::TypeError::New(env, "packed extra argument out of range");
        v = primitive_value(env, h, extra[static_cast<size_t>(i)]);
        if (v == nullptr) throw_pending(env, h);
      } else {
        v = packed_object(env, h, pair[1], pair[2]);
      }
      int r = PyObject_SetAttr(rt, obj, name, v);
      Py_DECREF(rt, v);
      if (r < 0) throw_pending(env, h);
    }
  } catch (...) {
    Py_DECREF(rt, obj);
    throw;
  }
  return obj;
}

// The arguments of a call with a variable number of them (at most N) and its data. Node fills
// every unused slot of argv with undefined: ask for a few first (the common case has no extra
// argument), and for the whole buffer only when the call has more. False, with a TypeError
// pending, beyond N.
template <size_t N>
bool variadic_args(napi_env env, napi_callback_info cbinfo, napi_value (&argv)[N], size_t* argc, void** data,
                   const char* too_many) {
  constexpr size_t kFew = 4;
  *argc = kFew;
  napi_get_cb_info(env, cbinfo, argc, argv, nullptr, data);
  if (*argc <= kFew) return true;
  if (*argc > N) {
    napi_throw_type_error(env, nullptr, too_many);
    return false;
  }
  napi_get_cb_info(env, cbinfo, argc, argv, nullptr, data);
  return true;
}

napi_value raw_call_class_packed(napi_env env, napi_callback_info cbinfo) {
  napi_value argv[1 + kMaxAttrPairs];
  size_t argc;
  void* data;
  if (!variadic_args(env, cbinfo, argv, &argc, &data, "callClassPacked takes at most 32 extra arguments")) return nullptr;
  return catching([&]() -> napi_value {
    Napi::Env e(env);
    RtHandle* h = static_cast<RtHandle*>(data);
    double cls;
    if (argc < 1 || napi_get_value_double(env, argv[0], &cls) != napi_ok) throw Napi::TypeError::New(e, "address must be a number");
    return addr_result(e, h, call_class_packed(e, h, h->packed, cls, argc - 1, argv + 1));
  });
}

// getattr / setattr / setattrValue on the raw C API: the attribute hot paths of the typed API
// (which passes the name as its slot, see internSlot).
enum AttrOp { kGetattr, kSetattr, kSetattrValue };

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

// ---------------------------------------------------------------- the io calling convention
// The typed API's hot paths (Ref.dup / release / getattr / setattr / append / getitem / len)
// take their numbers from the environment's io block instead of JS arguments and leave their
// result there (layout: RCL_IO_DOUBLES in schema.h). A crossing then reads no napi_value: no
// napi_get_value_double per argument (each a call and a dependent load through the handle)
// and no number made for the result (napi_create_double allocates a heap number for an
// address). The inputs are copied to locals before anything runs, and the result is written
// after the safe point, so user code the call runs (a finalizer, a gc callback) may use the
// block itself. The functions and the block are the environment's (the Addon is their data),
// io[RCL_IO_RUNTIME] says which runtime: one function per call site, whatever the runtime.
template <typename F>
napi_value io_call(napi_env env, napi_callback_info cbinfo, F&& f) {
  void* data;
  napi_get_cb_info(env, cbinfo, nullptr, nullptr, nullptr, &data);
  Addon* addon = static_cast<Addon*>(data);
  double* io = addon->io;
  const double a0 = io[0], a1 = io[1], a2 = io[2], a3 = io[3], index = io[kIoRuntime];
  if (RCL_UNLIKELY(!(index >= 0 && index < static_cast<double>(addon->handles.size())))) {
    napi_throw_type_error(env, nullptr, "io: not a runtime of this environment");
    return nullptr;
  }
  RtHandle* h = addon->handles[static_cast<size_t>(index)].get();
  Napi::Env e(env);
  return catching([&]() -> napi_value {
    f(e, h, runtime_of(e, h), a0, a1, a2, a3);
    return nullptr;
  });
}

// The end of a call returning a new reference (or a count): the safe point, then the result.
inline void io_result(Napi::Env e, RtHandle* h, double r) {
  safe_point(e, h);
  h->addon->io[0] = r;
}
inline double address_of(PyObject* op) { return static_cast<double>(reinterpret_cast<uintptr_t>(op)); }

template <bool kInc>
napi_value io_refcount(napi_env env, napi_callback_info cbinfo) {
  return io_call(env, cbinfo, [](Napi::Env e, RtHandle* h, Runtime& rt, double a, double, double, double) {
    PyObject* op = object_at(e, h, a);
    if (kInc) {
      Py_INCREF(rt, op);
      return;
    }
    Py_DECREF(rt, op);
    if (RCL_UNLIKELY(rt.has_error() || rt.gc.scheduled)) safe_point(e, h);
  });
}

napi_value io_getattr(napi_env env, napi_callback_info cbinfo) {
  return io_call(env, cbinfo, [](Napi::Env e, RtHandle* h, Runtime& rt, double a, double slot, double, double) {
    PyObject* r = PyObject_GetAttr(rt, object_at(e, h, a), slot_name(e, h, slot));
    if (r == nullptr) throw_pending(e, h);
    io_result(e, h, address_of(r));
  });
}

napi_value io_setattr(napi_env env, napi_callback_info cbinfo) {
  return io_call(env, cbinfo, [](Napi::Env e, RtHandle* h, Runtime& rt, double a, double slot, double kind, double value) {
    PyObject* op = object_at(e, h, a);
    PyObject* name = slot_name(e, h, slot);
    PyObject* v = packed_object(e, h, kind, value);
    int r = PyObject_SetAttr(rt, op, name, v);
    Py_DECREF(rt, v);
    if (r < 0) throw_pending(e, h);
    safe_point(e, h);
  });
}

napi_value io_append(napi_env env, napi_callback_info cbinfo) {
  return io_call(env, cbinfo, [](Napi::Env e, RtHandle* h, Runtime& rt, double a, double kind, double value, double) {
    PyObject* op = object_at(e, h, a);
    PyObject* v = packed_object(e, h, kind, value);
    int r = method_append(rt, op, v);
    Py_DECREF(rt, v);
    if (r < 0) throw_pending(e, h);
    safe_point(e, h);
  });
}

napi_value io_getitem(napi_env env, napi_callback_info cbinfo) {
  return io_call(env, cbinfo, [](Napi::Env e, RtHandle* h, Runtime& rt, double a, double index, double, double) {
    PyObject* op = object_at(e, h, a);
    PyObject* r = PySequence_GetItem(rt, op, index_value(e, h, index));
    if (r == nullptr) throw_pending(e, h);
    io_result(e, h, address_of(r));
  });
}

// callClassIo(...extra): callClassPacked with the class's address in io[0], the pairs in the
// environment's ioPacked block (same layout) and the new instance's address left in io[0].
napi_value io_call_class(napi_env env, napi_callback_info cbinfo) {
  napi_value argv[kMaxAttrPairs];
  size_t argc;
  void* data;
  if (!variadic_args(env, cbinfo, argv, &argc, &data, "callClassIo takes at most 32 extra arguments")) return nullptr;
  Addon* addon = static_cast<Addon*>(data);
  const double cls = addon->io[0], index = addon->io[kIoRuntime];
  if (RCL_UNLIKELY(!(index >= 0 && index < static_cast<double>(addon->handles.size())))) {
    napi_throw_type_error(env, nullptr, "io: not a runtime of this environment");
    return nullptr;
  }
  RtHandle* h = addon->handles[static_cast<size_t>(index)].get();
  return catching([&]() -> napi_value {
    Napi::Env e(env);
    io_result(e, h, address_of(call_class_packed(e, h, addon->io_packed, cls, argc, argv)));
    return nullptr;
  });
}

napi_value io_len(napi_env env, napi_callback_info cbinfo) {
  return io_call(env, cbinfo, [](Napi::Env e, RtHandle* h, Runtime& rt, double a, double, double, double) {
    Py_ssize_t n = PyObject_Length(rt, object_at(e, h, a));
    if (n < 0 && rt.has_error()) throw_pending(e, h);
    io_result(e, h, static_cast<double>(n));
  });
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
    // The policy is the core's (api.h): guarded, validate everything first (a bad address leaves
    // every count untouched), then decrefs re-check once anything died; increfs, and raw C
    // (unguarded), run the plain loop, which converts and touches only.
    const bool f64 = type == napi_float64_array;
    const double* d = static_cast<const double*>(raw);
    const uint64_t* u = static_cast<const uint64_t*>(raw);
    if (rt.guard) {
      bool ok = f64 ? validate_many(rt, d, length) : validate_many(rt, u, length);
      if (ok && !kInc) ok = f64 ? decref_many_guarded(rt, d, length) : decref_many_guarded(rt, u, length);
      if (!ok) throw_pending(Napi::Env(env), h);
    }
    if (kInc || !rt.guard) {
      if (f64)
        refcount_many_unchecked<kInc>(rt, d, length);
      else
        refcount_many_unchecked<kInc>(rt, u, length);
    }
    safe_point(Napi::Env(env), h);
    return nullptr;
  });
}


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

const RawEntry kIoFunctions[] = {
    {"increfIo", io_refcount<true>}, {"decrefIo", io_refcount<false>}, {"getattrIo", io_getattr},
    {"setattrIo", io_setattr}, {"appendIo", io_append}, {"getitemIo", io_getitem}, {"lenIo", io_len},
    {"callClassIo", io_call_class},
};

}  // namespace

void register_raw(Napi::Env env, Napi::Object target, RtHandle* h) {
  define_functions(env, target, h, kRawFunctions);
}

Napi::Object make_io_functions(Napi::Env env, Addon* addon) {
  Napi::Object fns = Napi::Object::New(env);
  for (const RawEntry& e : kIoFunctions) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, addon, &fn);
    fns.Set(e.name, Napi::Value(env, fn));
  }
  // The blocks live as long as the Addon (a strong reference), so `io` stays valid.
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, (kIoDoubles + kPackedDoubles) * sizeof(double));
  addon->io_buffer = Napi::Persistent(ab);
  addon->io = static_cast<double*>(ab.Data());
  addon->io_packed = addon->io + kIoDoubles;
  fns.Set("io", Napi::Float64Array::New(env, kIoDoubles, ab, 0));
  fns.Set("ioPacked", Napi::Float64Array::New(env, kPackedDoubles, ab, kIoDoubles * sizeof(double)));
  return fns;
}

}  // namespace addon
RCL_END_NAMESPACE
