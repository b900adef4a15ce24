// api_introspection.cc — the runtime handle's introspection functions: type names and kinds,
// immortality, what the guarded registry knows of an address, referent edges for pictures,
// raw PyGC_Head words, the census.
#include <string>
#include <unordered_map>
#include <vector>
#include "addon.h"
#include "api.h"
#include "args.h"
#include "convert.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {
namespace {

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

// Live heap objects by type (guarded registry): {typeName: [objects, refs, immortal]};
// ERR_NOT_IN_BUILD (the core's) when unguarded.
RT_FN(fn_census) {
  PROLOGUE;
  std::unordered_map<std::string, Runtime::TypeCensus> c;
  if (!sys_census(rt, &c)) throw_pending(env, h);
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

const Entry kIntrospectionFunctions[] = {
    {"typeName", fn_type_name},
    {"kind", fn_kind},
    {"isImmortal", fn_is_immortal},
    {"objectState", fn_object_state},
    {"referentEdges", fn_referent_edges},
    {"gcHead", fn_gc_head},
    {"census", fn_census},
};

}  // namespace

void register_introspection(Napi::Env env, Napi::Object target, RtHandle* h) { define_functions(env, target, h, kIntrospectionFunctions); }

}  // namespace addon
RCL_END_NAMESPACE
