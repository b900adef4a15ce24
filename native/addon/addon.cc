// addon.cc — the module's entry point for one build: exports (build name, createRuntime, the
// error factory hook, error codes, layout), and createRuntime, which combines the function
// tables of the family files into one runtime handle object.
//
// Objects cross the boundary as their address (a JS number, id(obj) == address). A runtime
// handle is a plain JS object whose functions carry the RtHandle as their callback data, so a
// call never unwraps an ObjectWrap. The hot functions use the raw C API (raw.cc).
//
// After each call that may allocate, a scheduled collection runs (the safe point: the native
// call is about to return to JavaScript), then a pending core error becomes a JS exception built
// by the error factory that lib/ hands over once per environment (js_error.cc).
#include <initializer_list>
#include <memory>
#include <string>

#include "addon.h"
#include "api.h"

RCL_BEGIN_NAMESPACE
namespace addon {
namespace {

// The benchmarks' anchor: an empty node-addon-api function of one argument.
Napi::Value empty_call(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

Napi::Value create_runtime(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Addon* addon = env.GetInstanceData<Addon>();
  Napi::Object opts = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  RuntimeOptions ro;
  ro.guard = !opts.Has("guard") || opts.Get("guard").ToBoolean();
  ro.track = opts.Has("track") && opts.Get("track").ToBoolean();
  if (opts.Has("allocator") && opts.Get("allocator").IsString()) {
    std::string a = opts.Get("allocator").As<Napi::String>();
    if (!allocator_from_name(a, &ro.allocator.kind))
      throw Napi::TypeError::New(env, "allocator must be pymalloc, malloc, pymalloc_debug or malloc_debug");
  }
  if (opts.Has("arenaAllocator") && opts.Get("arenaAllocator").IsString()) {
    std::string a = opts.Get("arenaAllocator").As<Napi::String>();
    if (!arena_source_from_name(a, &ro.allocator.arenas))
      throw Napi::TypeError::New(env, "arenaAllocator must be mmap or malloc");
  }
  auto handle = std::make_unique<RtHandle>();
  RtHandle* h = handle.get();
  h->addon = addon;
  h->env = env;
  h->rt = std::make_unique<Runtime>(ro, h);
  addon->handles.push_back(std::move(handle));

  Napi::Object o = Napi::Object::New(env);
  register_handle(env, o, h);
  register_objects(env, o, h);
  register_memory(env, o, h);
  register_gc(env, o, h);
  register_sys(env, o, h);
  register_introspection(env, o, h);
  register_refs(env, o, h);
  register_raw(env, o, h);
  // The packed block lives as long as the handle (a strong reference), so `packed` stays valid
  // even if JS drops the Float64Array.
  Napi::ArrayBuffer packed_ab = Napi::ArrayBuffer::New(env, kPackedDoubles * sizeof(double));
  h->packed_buffer = Napi::Persistent(packed_ab);
  h->packed = static_cast<double*>(packed_ab.Data());
  o.Set("packed", Napi::Float64Array::New(env, kPackedDoubles, packed_ab, 0));
  // The environment's shared io block and *Io functions, and this runtime's index for io[4].
  Napi::Object io_functions = addon->io_functions.Value();
  Napi::Array io_names = io_functions.GetPropertyNames();
  for (uint32_t i = 0; i < io_names.Length(); i++) {
    Napi::Value key = io_names.Get(i);
    o.Set(key, io_functions.Get(key));
  }
  o.Set("ioRuntime", Napi::Number::New(env, static_cast<double>(addon->handles.size() - 1)));
  Runtime& rt = *h->rt;
  auto addr = [&](PyObject* p) { return static_cast<double>(reinterpret_cast<uintptr_t>(p)); };
  Napi::Object singletons = Napi::Object::New(env);
  singletons.Set("None", addr(rt.None()));
  singletons.Set("True", addr(rt.True()));
  singletons.Set("False", addr(rt.False()));
  singletons.Set("Ellipsis", addr(rt.Ellipsis()));
  singletons.Set("NotImplemented", addr(rt.NotImplemented()));
  o.Set("singletons", singletons);
  o.Set("guard", ro.guard);
  o.Set("track", ro.track);
  o.Set("allocator", allocator_name(ro.allocator.kind));
  o.Set("arenaAllocator", arena_source_name(ro.allocator.arenas));
  return o;
}

Napi::Value set_error_factory(const Napi::CallbackInfo& info) {
  Addon* addon = info.Env().GetInstanceData<Addon>();
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "a function is required");
  addon->make_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// The schema (schema.h) as data: what lib/schema.ts checks its compile-time copies against.
Napi::Object schema_constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto list = [&](const char* key, std::initializer_list<const char*> names) {
    Napi::Array a = Napi::Array::New(env, names.size());
    uint32_t i = 0;
    for (const char* n : names) a.Set(i++, Napi::String::New(env, n));
    c.Set(key, a);
  };
#define RCL_NAME(name, js) js,
  list("kinds", {RCL_TYPE_KINDS(RCL_NAME)});
  list("allocators", {RCL_ALLOCATORS(RCL_NAME)});
  list("arenaAllocators", {RCL_ARENA_SOURCES(RCL_NAME)});
  list("errorCodes", {RCL_ERROR_CODES(RCL_NAME)});
#undef RCL_NAME
#define RCL_NAME(field) #field,
  list("mallocStatsFields", {RCL_MALLOC_STATS_FIELDS(RCL_NAME)});
#undef RCL_NAME
  Napi::Object flags = Napi::Object::New(env);
#define RCL_X(name, value) flags.Set("DEBUG_" #name, Napi::Number::New(env, DEBUG_##name));
  RCL_GC_DEBUG_FLAGS(RCL_X)
#undef RCL_X
  c.Set("gcDebugFlags", flags);
  Napi::Object packed = Napi::Object::New(env);
#define RCL_X(name, js, value) packed.Set(js, Napi::Number::New(env, value));
  RCL_PACKED_KINDS(RCL_X)
#undef RCL_X
  c.Set("packedKinds", packed);
  c.Set("packedMaxPairs", Napi::Number::New(env, RCL_PACKED_MAX_PAIRS));
  c.Set("ioDoubles", Napi::Number::New(env, RCL_IO_DOUBLES));
  c.Set("ioRuntime", Napi::Number::New(env, RCL_IO_RUNTIME));
  return c;
}

}  // namespace

Addon::Addon(Napi::Env env, Napi::Object exports) {
  exports.Set("build", Napi::String::New(env, RCL_BUILD_NAME));
  exports.Set("createRuntime", Napi::Function::New(env, create_runtime, "createRuntime"));
  exports.Set("setErrorFactory", Napi::Function::New(env, set_error_factory, "setErrorFactory"));
  exports.Set("emptyCall", Napi::Function::New(env, empty_call, "emptyCall"));
  io_functions = Napi::Persistent(make_io_functions(env, this));
  Napi::Array codes = Napi::Array::New(env);
  uint32_t i = 0;
#define RCL_X(name, js) codes.Set(i++, Napi::String::New(env, js));
  RCL_ERROR_CODES(RCL_X)
#undef RCL_X
  exports.Set("errorCodes", codes);
  exports.Set("constants", schema_constants(env));
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("sizeofPyObject", static_cast<double>(sizeof(PyObject)));
  layout.Set("sizeofPyVarObject", static_cast<double>(sizeof(PyVarObject)));
  layout.Set("sizeofPyGC_Head", static_cast<double>(sizeof(PyGC_Head)));
  layout.Set("offsetofObRefcnt", static_cast<double>(offsetof(PyObject, ob_refcnt)));
  layout.Set("offsetofObType", static_cast<double>(offsetof(PyObject, ob_type)));
  layout.Set("offsetofObSize", static_cast<double>(offsetof(PyVarObject, ob_size)));
  layout.Set("immortalRefcnt", static_cast<double>(_Py_IMMORTAL_REFCNT));
  exports.Set("layout", layout);
  // The symbol check of the independence test: this build's own copy of an inline function.
  exports.Set("buildTag", Napi::Number::New(env, static_cast<double>(kBuild)));
  DefineAddon(exports, {});
}

}  // namespace addon
RCL_END_NAMESPACE

using RclAddon = rcl::RCL_BUILD_NS::addon::Addon;
NODE_API_ADDON(RclAddon)
