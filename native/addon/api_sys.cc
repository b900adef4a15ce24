// api_sys.cc — the runtime handle's sys functions: sys.getrefcount, sys.getsizeof, and the
// debug build's counters (sys.gettotalrefcount, -X showrefcount, Py_STATS).
#include "addon.h"
#include "args.h"
#include "convert.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {
namespace {

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

RT_FN(fn_sizeof) {
  PROLOGUE;
  return Napi::Number::New(env, static_cast<double>(_PySys_GetSizeOf(obj_arg(info, 0, h))));
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

const Entry kSysFunctions[] = {
    {"getrefcount", fn_getrefcount},
    {"sizeof", fn_sizeof},
    {"refTotal", fn_ref_total},
    {"showrefcount", fn_showrefcount},
    {"allocatedBlocks", fn_allocated_blocks},
    {"stats", fn_stats},
};

}  // namespace

void register_sys(Napi::Env env, Napi::Object target, RtHandle* h) { define_functions(env, target, h, kSysFunctions); }

}  // namespace addon
RCL_END_NAMESPACE
