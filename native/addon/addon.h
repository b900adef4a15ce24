// addon.h — what every file of the N-API glue shares: the runtime handle (RtHandle, the Host
// the core calls back), the per-environment Addon, and the shape of a function table.
//
// The glue is split by job (one file each): js_error.* (a pending core error -> JS error),
// args.* (reading arguments), convert.* (core object <-> JS value), raw.cc (the hot paths on
// the raw C API), one api_*.cc per family of the runtime handle's functions (objects, memory,
// gc, sys, introspection), handle.cc (the handle's lifecycle and Host callbacks), and addon.cc
// (the module's entry point, which combines the tables into one runtime handle object).
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config.h"
#include "refcount.h"
#include "runtime.h"

RCL_BEGIN_NAMESPACE
namespace addon {

class Addon;

// Counts a stretch of user JS run from inside a native call (RtHandle::running_callbacks,
// Addon::making_errors), for as long as the scope lasts, exceptions included.
class InUserCode {
 public:
  explicit InUserCode(int& counter) : n_(counter) { ++n_; }
  ~InUserCode() { --n_; }
  InUserCode(const InUserCode&) = delete;
  InUserCode& operator=(const InUserCode&) = delete;

 private:
  int& n_;
};

// One runtime as the JS side sees it. Owned by the Addon (per environment); survives close()
// so that calls on a closed runtime throw ERR_RUNTIME_CLOSED instead of touching freed memory.
struct RtHandle final : public Host {
  Addon* addon = nullptr;
  napi_env env = nullptr;
  std::unique_ptr<Runtime> rt;
  uint32_t next_id = 1;
  std::unordered_map<uint32_t, Napi::FunctionReference> finalizers;  // class host id -> __del__
  std::unordered_map<uint32_t, Napi::FunctionReference> legacy_dels;
  std::unordered_map<uint32_t, Napi::FunctionReference> weakref_callbacks;
  Napi::FunctionReference gc_dispatch;  // (phase, generation, collected, uncollectable)
  Napi::FunctionReference debug_sink;   // (text)
  // Attribute names by slot number (internSlot / callClassPacked): interned, hence immortal,
  // strs of this runtime; lib/ maps each JS name to its slot once, so the hot path reads a
  // small integer instead of a JS string.
  std::vector<PyObject*> name_slots;
  // callClassPacked's argument block, a Float64Array lib/ fills before the call (see there).
  Napi::Reference<Napi::ArrayBuffer> packed_buffer;
  double* packed = nullptr;
  // User code running now, called from inside a call of this runtime (finalizers, weakref
  // callbacks, gc callbacks, the debug sink; setters a value() conversion may trigger): the
  // runtime is in the middle of that call, so close() must wait until it returns.
  int running_callbacks = 0;

  // The Host callbacks (handle.cc): user JS, run under InUserCode(running_callbacks).
  void call_js(Napi::FunctionReference& fn, std::initializer_list<napi_value> args);
  static napi_value addr_value(napi_env env, const void* p);
  void call_finalizer(Runtime&, uint32_t id, PyObject* self) override;
  void call_legacy_del(Runtime&, uint32_t id, PyObject* self) override;
  void call_weakref_callback(Runtime&, uint32_t id, PyObject* wr) override;
  void forget_weakref_callback(Runtime&, uint32_t id) override;
  void gc_callback(Runtime&, const char* phase, int generation, Py_ssize_t collected,
                   Py_ssize_t uncollectable) override;
  void write_debug(Runtime&, const std::string& text) override;
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  Napi::FunctionReference make_error;  // lib's factory: (code, message, details) -> Error
  std::vector<std::unique_ptr<RtHandle>> handles;  // a runtime's index here is its ioRuntime
  // The *Io functions and their argument block (schema.h): one set per environment, shared by
  // its runtimes, so that the typed API's call sites see one function whichever runtime a Ref
  // belongs to (a function per runtime made them polymorphic: twice the cost of a call).
  Napi::Reference<Napi::ArrayBuffer> io_buffer;
  double* io = nullptr;
  double* io_packed = nullptr;  // callClassIo's pairs (the layout of RtHandle::packed)
  Napi::ObjectReference io_functions;
  // Errors being made now. Constructing one runs JS (lib's factory, and whatever setters user
  // code put on Error.prototype) while a native call of some runtime is still on the stack, so
  // no runtime of this environment may close meanwhile.
  int making_errors = 0;
};

// Is user JS running from inside a native call of this runtime (or the making of any error of
// this environment)? Then the native frames below it would go on with a closed runtime.
bool runtime_busy(const RtHandle* h);

// =============================================================================================
// Function tables: each family file lists its functions and registers them on a runtime handle
// object, with the RtHandle as every function's callback data.
// =============================================================================================

using Fn = Napi::Value (*)(const Napi::CallbackInfo&);

#define RT_FN(name) Napi::Value name(const Napi::CallbackInfo& info)
#define PROLOGUE              \
  Napi::Env env = info.Env(); \
  RtHandle* h = handle_of(info); \
  Runtime& rt = *h->rt;       \
  (void)rt

struct Entry {
  const char* name;
  Fn fn;
};

// The hot paths, on the raw C API (no node-addon-api wrapper per call).
struct RawEntry {
  const char* name;
  napi_callback fn;
};

template <size_t N>
void define_functions(Napi::Env env, Napi::Object target, RtHandle* h, const Entry (&table)[N]) {
  for (const Entry& e : table) target.Set(e.name, Napi::Function::New(env, e.fn, e.name, h));
}

template <size_t N>
void define_functions(Napi::Env env, Napi::Object target, RtHandle* h, const RawEntry (&table)[N]) {
  for (const RawEntry& e : table) {
    napi_value fn;
    napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, h, &fn);
    target.Set(e.name, Napi::Value(env, fn));
  }
}

void register_handle(Napi::Env env, Napi::Object target, RtHandle* h);         // handle.cc
void register_raw(Napi::Env env, Napi::Object target, RtHandle* h);            // raw.cc
void register_objects(Napi::Env env, Napi::Object target, RtHandle* h);        // api_objects.cc
void register_memory(Napi::Env env, Napi::Object target, RtHandle* h);         // api_memory.cc
void register_gc(Napi::Env env, Napi::Object target, RtHandle* h);             // api_gc.cc
void register_sys(Napi::Env env, Napi::Object target, RtHandle* h);            // api_sys.cc
void register_introspection(Napi::Env env, Napi::Object target, RtHandle* h);  // api_introspection.cc
void register_refs(Napi::Env env, Napi::Object target, RtHandle* h);           // api_refs.cc
// The shared *Io functions (raw.cc), made once per environment with the Addon as their data.
Napi::Object make_io_functions(Napi::Env env, Addon* addon);

// callClassPacked's argument block (raw.cc): its size in doubles.
constexpr size_t kMaxAttrPairs = RCL_PACKED_MAX_PAIRS;  // schema.h
constexpr size_t kPackedDoubles = 1 + 3 * kMaxAttrPairs;
constexpr size_t kIoDoubles = RCL_IO_DOUBLES;  // schema.h
constexpr size_t kIoRuntime = RCL_IO_RUNTIME;

}  // namespace addon
RCL_END_NAMESPACE
