// api_sys.cc — the runtime handle's sys functions: sys.getrefcount, sys.getsizeof, and the
// debug build's counters (sys.gettotalrefcount, -X showrefcount, Py_STATS).
#include "addon.h"
#include "api.h"
#include "args.h"
#include "convert.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {
namespace {

RT_FN(fn_getrefcount) {
  PROLOGUE;
  Napi::Value v = int64_value(env, sys_getrefcount(rt, obj_arg(info, 0, h)));
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
  int64_t total;
  if (!sys_gettotalrefcount(rt, &total)) throw_pending(env, h);
  return Napi::Number::New(env, static_cast<double>(total));
}
RT_FN(fn_showrefcount) {
  PROLOGUE;
  std::string text;
  if (!sys_showrefcount(rt, &text)) throw_pending(env, h);
  return Napi::String::New(env, text);
}
RT_FN(fn_allocated_blocks) {
  PROLOGUE;
  return Napi::Number::New(env, static_cast<double>(rt.alloc.allocated_blocks()));
}
RT_FN(fn_stats) {
  PROLOGUE;
  const ObjectStats* stats = sys_stats(rt);
  if (stats == nullptr) throw_pending(env, h);
  Napi::Object o = Napi::Object::New(env);
#define RCL_X(field, label) o.Set(#field, static_cast<double>(stats->field));
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
