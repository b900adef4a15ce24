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

// referentEdges(addr): [[label, child], ...] in tp_traverse order (what gc.get_referents sees),
// as BORROWED addresses: a picture must not change the counts it draws. Labels: the walk's
// (label_text): [i], ['key'], key 'k', .name, __class__, __dict__, __mro__, element.
RT_FN(fn_referent_edges) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  std::vector<std::pair<RefLabel, PyObject*>> edges;
  if (PyObject_IS_GC(op) && Py_TYPE(op)->tp_walk != nullptr)
    Py_TYPE(op)->tp_walk(op, WalkMode::Gc, collect_child, &edges);
  Napi::Array out = Napi::Array::New(env, edges.size());
  for (size_t i = 0; i < edges.size(); i++) {
    auto& [label, child] = edges[i];
    std::string text = label_text(rt, label, child);
    if (rt.has_error()) throw_pending(env, h);
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, text);
    pair.Set(1u, static_cast<double>(reinterpret_cast<uintptr_t>(child)));
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
