// js_error.cc — a pending core error -> the JS error lib's factory makes.
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {

[[noreturn]] void throw_js(Napi::Env env, Addon* addon, ErrorCode code, const std::string& message,
                           const PendingError* details, const Provenance* prov) {
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
    if (prov != nullptr && !details->provenance.empty()) {
      Napi::Value facts = object_history(env, *prov, details->address);
      if (facts.IsObject()) {
        facts.As<Napi::Object>().Set("report", details->provenance);
        d.Set("provenance", facts);
      }
    }
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
  throw_js(env, h->addon, e.code, e.message, &e, h->rt->prov.get());
}

}  // namespace addon
RCL_END_NAMESPACE
