// api_gc.cc — the runtime handle's gc module: collect, enable, thresholds, stats, the object
// lists, freeze, debug flags, callbacks and the debug output sink.
#include <cstdint>
#include <string>
#include "addon.h"
#include "api.h"
#include "args.h"
#include "convert.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {
namespace {

// ---------------------------------------------------------------------------------- gc
RT_FN(fn_gc_collect) {
  PROLOGUE;
  int g = info.Length() > 0 && !info[0].IsUndefined() ? static_cast<int>(index_arg(info, 0, h)) : 2;
  return int_result(env, h, gc_collect(rt, g));
}
RT_FN(fn_gc_set_enabled) {
  PROLOGUE;
  return Napi::Boolean::New(env, gc_set_enabled(rt, info.Length() > 0 && info[0].ToBoolean()));
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
  // The arguments up to the first that is not a number (a TypeError, after the core has applied
  // those before it, in order); the core validates and applies them.
  double values[NUM_GENERATIONS] = {};
  bool given[NUM_GENERATIONS] = {};
  size_t n = 0;
  bool not_a_number = false;
  for (; n < NUM_GENERATIONS && n < info.Length(); n++) {
    if (info[n].IsUndefined()) continue;
    if (!info[n].IsNumber()) {
      not_a_number = true;
      break;
    }
    given[n] = true;
    values[n] = info[n].As<Napi::Number>().DoubleValue();
  }
  if (!(not_a_number && n == 0) && !gc_set_threshold(rt, values, given, n)) throw_pending(env, h);
  if (not_a_number) throw Napi::TypeError::New(env, "index must be a number");
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
RT_FN(fn_gc_get_objects) {
  PROLOGUE;
  int g = -1;
  if (info.Length() > 0 && !info[0].IsUndefined() && !info[0].IsNull()) {
    if (!info[0].IsNumber())
      throw_js(env, h->addon, ErrorCode::Type,
               std::string("argument should be integer or None, not '") +
                   (info[0].IsString() ? "str" : "object") + "'");
    if (!gc_generation_arg(rt, info[0].As<Napi::Number>().DoubleValue(), &g)) throw_pending(env, h);
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
  if (!gc_set_debug(rt, number_arg(info, 0, "index"))) throw_pending(env, h);
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

const Entry kGcFunctions[] = {
    {"gcCollect", fn_gc_collect},
    {"gcSetEnabled", fn_gc_set_enabled},
    {"gcIsEnabled", fn_gc_is_enabled},
    {"gcGetCount", fn_gc_get_count},
    {"gcGetThreshold", fn_gc_get_threshold},
    {"gcSetThreshold", fn_gc_set_threshold},
    {"gcGetStats", fn_gc_get_stats},
    {"gcGetObjects", fn_gc_get_objects},
    {"gcGetReferrers", fn_gc_get_referrers},
    {"gcGetReferents", fn_gc_get_referents},
    {"gcIsTracked", fn_gc_is_tracked},
    {"gcIsFinalized", fn_gc_is_finalized},
    {"gcGenerationOf", fn_gc_generation_of},
    {"gcFreeze", fn_gc_freeze},
    {"gcUnfreeze", fn_gc_unfreeze},
    {"gcGetFreezeCount", fn_gc_get_freeze_count},
    {"gcGetDebug", fn_gc_get_debug},
    {"gcSetDebug", fn_gc_set_debug},
    {"gcGarbage", fn_gc_garbage},
    {"setGcDispatch", fn_set_gc_dispatch},
    {"setDebugSink", fn_set_debug_sink},
};

}  // namespace

void register_gc(Napi::Env env, Napi::Object target, RtHandle* h) { define_functions(env, target, h, kGcFunctions); }

}  // namespace addon
RCL_END_NAMESPACE
