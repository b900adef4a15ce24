// handle.cc — the runtime handle: the Host callbacks the core makes into JS, and the handle's
// lifecycle functions (close / busy).
#include <cstdio>

#include "addon.h"
#include "args.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {

void RtHandle::call_js(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
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
napi_value RtHandle::addr_value(napi_env env, const void* p) {
  napi_value v;
  napi_create_double(env, static_cast<double>(reinterpret_cast<uintptr_t>(p)), &v);
  return v;
}
void RtHandle::call_finalizer(Runtime&, uint32_t id, PyObject* self) {
  auto it = finalizers.find(id);
  if (it != finalizers.end()) call_js(it->second, {addr_value(env, self)});
}
void RtHandle::call_legacy_del(Runtime&, uint32_t id, PyObject* self) {
  auto it = legacy_dels.find(id);
  if (it != legacy_dels.end()) call_js(it->second, {addr_value(env, self)});
}
void RtHandle::call_weakref_callback(Runtime&, uint32_t id, PyObject* wr) {
  auto it = weakref_callbacks.find(id);
  if (it != weakref_callbacks.end()) call_js(it->second, {addr_value(env, wr)});
}
void RtHandle::forget_weakref_callback(Runtime&, uint32_t id) { weakref_callbacks.erase(id); }
void RtHandle::gc_callback(Runtime&, const char* phase, int generation, Py_ssize_t collected,
                 Py_ssize_t uncollectable) {
  if (gc_dispatch.IsEmpty()) return;
  Napi::Env e(env);
  call_js(gc_dispatch, {Napi::String::New(e, phase), Napi::Number::New(e, generation),
                        Napi::Number::New(e, static_cast<double>(collected)),
                        Napi::Number::New(e, static_cast<double>(uncollectable))});
}
void RtHandle::write_debug(Runtime&, const std::string& text) {
  if (debug_sink.IsEmpty()) {
    std::fputs(text.c_str(), stderr);
    return;
  }
  call_js(debug_sink, {Napi::String::New(Napi::Env(env), text)});
}

bool runtime_busy(const RtHandle* h) { return h->running_callbacks > 0 || h->addon->making_errors > 0; }

namespace {

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

const Entry kHandleFunctions[] = {
    {"close", fn_close}, {"busy", fn_busy},
};

}  // namespace

void register_handle(Napi::Env env, Napi::Object target, RtHandle* h) { define_functions(env, target, h, kHandleFunctions); }

}  // namespace addon
RCL_END_NAMESPACE
