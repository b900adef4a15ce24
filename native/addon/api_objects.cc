// api_objects.cc — the runtime handle's object functions: constructors, classes, attributes,
// containers, value() / repr, cast, weakrefs.
#include <cmath>
#include <string>
#include <vector>
#include "addon.h"
#include "api.h"
#include "args.h"
#include "convert.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {
namespace {

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

// appendRange(list, lo, hi): [i for i in range(lo, hi)]'s appends in one call, no JS values
// per item (the memory test's list). lo and hi: integers within +-2**53.
RT_FN(fn_append_range) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  double lo = number_arg(info, 1, "range start");
  double hi = number_arg(info, 2, "range stop");
  for (double d : {lo, hi})
    if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740991.0)
      throw_js(env, h->addon, ErrorCode::Value, "range bounds must be integers within 2**53");
  return int_result(env, h, PyList_AppendRange(rt, op, static_cast<int64_t>(lo), static_cast<int64_t>(hi)));
}

RT_FN(fn_new_float) {
  PROLOGUE;
  return addr_result(env, h, PyFloat_FromDouble(rt, number_arg(info, 0, "float value")));
}

RT_FN(fn_new_str) {
  PROLOGUE;
  return addr_result(env, h, PyUnicode_FromUTF8(rt, string_arg(info, 0, "str value")));
}


// tuple(items), list(items), set(items), frozenset(items): the core builds each from the
// items' addresses.
template <PyObject* (*Make)(Runtime&, PyObject* const*, size_t)>
RT_FN(fn_new_from_items) {
  PROLOGUE;
  std::vector<PyObject*> items = objects_arg(info, 0, h);
  return addr_result(env, h, Make(rt, items.data(), items.size()));
}
// set.add / set.discard / `in`: 1 or 0 (discard: found; contains: present).
RT_FN(fn_set_add) {
  PROLOGUE;
  return int_result(env, h, method_add(rt, obj_arg(info, 0, h), obj_arg(info, 1, h)));
}
RT_FN(fn_set_discard) {
  PROLOGUE;
  return int_result(env, h, method_discard(rt, obj_arg(info, 0, h), obj_arg(info, 1, h)));
}
RT_FN(fn_contains) {
  PROLOGUE;
  return int_result(env, h, PySequence_Contains(rt, obj_arg(info, 0, h), obj_arg(info, 1, h)));
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
RT_FN(fn_cast) {
  // ctypes.cast(addr, py_object).value: a new strong reference to whatever lives there.
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  Py_INCREF(rt, op);
  return addr_result(env, h, op);
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

const Entry kObjectFunctions[] = {
    {"newInt", fn_new_int},
    {"newFloat", fn_new_float},
    {"newStr", fn_new_str},
    {"newTuple", fn_new_from_items<tuple_from_items>},
    {"newList", fn_new_from_items<list_from_items>},
    {"newDict", fn_new_dict},
    {"newSet", fn_new_from_items<PySet_New>},
    {"newFrozenset", fn_new_from_items<PyFrozenSet_New>},
    {"setAdd", fn_set_add},
    {"setDiscard", fn_set_discard},
    {"contains", fn_contains},
    {"defineClass", fn_define_class},
    {"callClass", fn_call_class},
    {"internSlot", fn_intern_slot},
    {"setRefcnt", fn_set_refcnt},
    {"delattr", fn_delattr},
    {"hasattr", fn_hasattr},
    {"insert", fn_insert},
    {"popIndex", fn_pop_index},
    {"popKey", fn_pop_key},
    {"clear", fn_clear},
    {"repeat", fn_repeat},
    {"copy", fn_copy},
    {"value", fn_value},
    {"repr", fn_repr},
    {"reprObject", fn_repr_object},
    {"cast", fn_cast},
    {"weakrefNew", fn_weakref_new},
    {"weakrefGet", fn_weakref_get},
    {"weakrefCount", fn_weakref_count},
    {"fromJs", fn_from_js},
    {"appendValue", fn_append_value},
    {"appendRange", fn_append_range},
};

}  // namespace

void register_objects(Napi::Env env, Napi::Object target, RtHandle* h) { define_functions(env, target, h, kObjectFunctions); }

}  // namespace addon
RCL_END_NAMESPACE
