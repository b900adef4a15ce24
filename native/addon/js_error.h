// js_error.h — a pending core error becomes a JS exception (lib's RefcountError classes, built
// by the error factory that lib/ hands over once per environment), and the safe point that
// ends every call that may allocate.
#pragma once

#include <string>

#include "addon.h"

RCL_BEGIN_NAMESPACE
namespace addon {

[[noreturn]] void throw_js(Napi::Env env, Addon* addon, ErrorCode code, const std::string& message,
                           const PendingError* details = nullptr, const Provenance* prov = nullptr);
// A tracking runtime's record of the latest object at an address, as JS (api_refs.cc), or null.
Napi::Value object_history(Napi::Env env, const Provenance& p, uintptr_t address);
[[noreturn]] void throw_pending(Napi::Env env, RtHandle* h);

// The end of every call that may have allocated or run user code: the safe point.
inline void safe_point(Napi::Env env, RtHandle* h) {
  Runtime& rt = *h->rt;
  if (RCL_UNLIKELY(rt.gc.scheduled) && !rt.has_error()) gc_run_scheduled(rt);
  if (RCL_UNLIKELY(rt.has_error())) throw_pending(env, h);
}
}  // namespace addon
RCL_END_NAMESPACE
