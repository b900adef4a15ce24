// api_memory.cc — the runtime handle's memory functions: raw reads and writes, the C API's
// PyMem_* / PyObject_* / PyMem_Raw*, the allocator's statistics and block states.
#include <cmath>
#include <cstring>
#include <string>
#include "addon.h"
#include "api.h"
#include "args.h"
#include "convert.h"
#include "js_error.h"

RCL_BEGIN_NAMESPACE
namespace addon {
namespace {

// ---------------------------------------------------------------------------------- memory
// The address argument i, checked by the core (api.h) for reading / writing n bytes.
uintptr_t readable_addr(const Napi::CallbackInfo& info, size_t i, RtHandle* h, size_t n) {
  uintptr_t a = addr_arg(info, i, h);
  if (!check_readable(*h->rt, a, n)) throw_pending(info.Env(), h);
  return a;
}
uintptr_t writable_addr(const Napi::CallbackInfo& info, size_t i, RtHandle* h, size_t n) {
  uintptr_t a = addr_arg(info, i, h);
  if (!check_writable(*h->rt, a, n)) throw_pending(info.Env(), h);
  return a;
}
// Guarded reads may look at a freed block on purpose (CPython prints what pymalloc left there),
// which the ASan builds keep poisoned: the copy is not instrumented (a byte loop, so no
// intercepted memcpy either).
#if defined(__GNUC__)
__attribute__((no_sanitize("address")))
#endif
void copy_out(void* dst, const void* src, size_t n) {
  auto* d = static_cast<volatile unsigned char*>(dst);
  auto* p = static_cast<const volatile unsigned char*>(src);
  for (size_t i = 0; i < n; i++) d[i] = p[i];
}

RT_FN(fn_read_word) {
  PROLOGUE;
  uintptr_t a = readable_addr(info, 0, h, 8);
  int64_t v;
  copy_out(&v, reinterpret_cast<const void*>(a), sizeof v);
  return int64_value(env, v);
}
RT_FN(fn_write_word) {
  PROLOGUE;
  uintptr_t a = writable_addr(info, 0, h, 8);
  int64_t v;
  if (info.Length() > 1 && info[1].IsBigInt()) {
    bool lossless;
    v = info[1].As<Napi::BigInt>().Int64Value(&lossless);
  } else {
    double d = number_arg(info, 1, "value");
    if (!std::isfinite(d) || std::floor(d) != d)
      throw_js(env, h->addon, ErrorCode::Type, "an integer is required");
    v = static_cast<int64_t>(d);
  }
  std::memcpy(reinterpret_cast<void*>(a), &v, sizeof v);
  return env.Undefined();
}
RT_FN(fn_read_bytes) {
  PROLOGUE;
  double n = number_arg(info, 1, "length");
  if (!(n >= 0 && n <= (1 << 20)) || std::floor(n) != n)
    throw_js(env, h->addon, ErrorCode::Value, "length must be an integer in 0..1048576");
  uintptr_t a = readable_addr(info, 0, h, static_cast<size_t>(n) ? static_cast<size_t>(n) : 1);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(n));
  copy_out(out.Data(), reinterpret_cast<const void*>(a), static_cast<size_t>(n));
  return out;
}
RT_FN(fn_write_bytes) {
  PROLOGUE;
  if (info.Length() < 2 || !info[1].IsBuffer()) throw Napi::TypeError::New(env, "data must be a Buffer");
  Napi::Buffer<uint8_t> b = info[1].As<Napi::Buffer<uint8_t>>();
  uintptr_t a = writable_addr(info, 0, h, b.Length() ? b.Length() : 1);
  std::memcpy(reinterpret_cast<void*>(a), b.Data(), b.Length());
  return env.Undefined();
}

// PyMem_* / PyObject_* / PyMem_Raw* on raw addresses; domain 'r' | 'm' | 'o'.
MemDomain domain_arg(const Napi::CallbackInfo& info, size_t i) {
  std::string d = string_arg(info, i, "domain");
  if (d == "r") return MemDomain::Raw;
  if (d == "m") return MemDomain::Mem;
  if (d == "o") return MemDomain::Obj;
  throw Napi::TypeError::New(info.Env(), "domain must be 'r', 'm' or 'o'");
}
size_t size_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  double n = number_arg(info, i, "size");
  if (!(n >= 0 && n <= 1e12) || std::floor(n) != n)
    throw_js(info.Env(), h->addon, ErrorCode::Value, "size must be a non-negative integer");
  return static_cast<size_t>(n);
}
void* block_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  uintptr_t a = addr_arg(info, i, h);
  if (!check_user_block(*h->rt, a)) throw_pending(info.Env(), h);
  return reinterpret_cast<void*>(a);
}
Napi::Value mem_result(Napi::Env env, RtHandle* h, void* p) {
  if (h->rt->has_error()) throw_pending(env, h);
  return Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(p)));
}
RT_FN(fn_mem_malloc) {
  PROLOGUE;
  MemDomain d = domain_arg(info, 0);
  return mem_result(env, h, rt.capi_malloc(d, size_arg(info, 1, h)));
}
RT_FN(fn_mem_calloc) {
  PROLOGUE;
  MemDomain d = domain_arg(info, 0);
  return mem_result(env, h, rt.capi_calloc(d, size_arg(info, 1, h), size_arg(info, 2, h)));
}
RT_FN(fn_mem_realloc) {
  PROLOGUE;
  MemDomain d = domain_arg(info, 0);
  void* p = block_arg(info, 1, h);
  return mem_result(env, h, rt.capi_realloc(d, p, size_arg(info, 2, h)));
}
RT_FN(fn_mem_free) {
  PROLOGUE;
  MemDomain d = domain_arg(info, 0);
  void* p = block_arg(info, 1, h);
  rt.capi_free(d, p);
  if (rt.has_error()) throw_pending(env, h);
  return env.Undefined();
}
RT_FN(fn_mem_validate) {
  PROLOGUE;
  std::string why;
  if (rt.alloc.validate(&why)) return env.Null();
  return Napi::String::New(env, why);
}
RT_FN(fn_debugmallocstats) {
  PROLOGUE;
  return Napi::String::New(env, rt.debugmallocstats());
}
RT_FN(fn_malloc_stats) {
  PROLOGUE;
  RuntimeMallocStats stats = malloc_stats(rt);
  const MallocStats& s = stats.alloc;
  Napi::Object o = Napi::Object::New(env);
  o.Set("allocator", allocator_name(s.kind));
#define RCL_X(f) o.Set(#f, static_cast<double>(s.f));
  RCL_MALLOC_STATS_FIELDS(RCL_X)
#undef RCL_X
  Napi::Array classes = Napi::Array::New(env);
  for (unsigned i = 0; i < s.nclasses; i++) {
    Napi::Object c = Napi::Object::New(env);
    c.Set("sizeClass", s.classes[i].size_class);
    c.Set("size", s.classes[i].block_size);
    c.Set("pools", static_cast<double>(s.classes[i].pools));
    c.Set("blocksInUse", static_cast<double>(s.classes[i].blocks_in_use));
    c.Set("availableBlocks", static_cast<double>(s.classes[i].blocks_available));
    classes.Set(i, c);
  }
  o.Set("classes", classes);
  // The object free lists (the last lines of debugmallocstats): objects parked on each.
  const FreeListStats& fl = stats.free_lists;
  Napi::Object free_lists = Napi::Object::New(env);
  free_lists.Set("dict", fl.dict);
  free_lists.Set("float", fl.float_);
  free_lists.Set("list", fl.list);
  Napi::Array tuples = Napi::Array::New(env, fl.tuple.size());
  for (size_t i = 0; i < fl.tuple.size(); i++) tuples.Set(static_cast<uint32_t>(i), fl.tuple[i]);
  free_lists.Set("tuple", tuples);
  o.Set("freeLists", free_lists);
  return o;
}
RT_FN(fn_block_state) {
  PROLOGUE;
  BlockState s = rt.alloc.block_state(reinterpret_cast<void*>(addr_arg(info, 0, h)));
  return Napi::String::New(env, s == BlockState::Live ? "live" : s == BlockState::Freed ? "freed" : "foreign");
}

const Entry kMemoryFunctions[] = {
    {"readWord", fn_read_word},
    {"writeWord", fn_write_word},
    {"readBytes", fn_read_bytes},
    {"writeBytes", fn_write_bytes},
    {"memMalloc", fn_mem_malloc},
    {"memCalloc", fn_mem_calloc},
    {"memRealloc", fn_mem_realloc},
    {"memFree", fn_mem_free},
    {"memValidate", fn_mem_validate},
    {"debugmallocstats", fn_debugmallocstats},
    {"mallocStats", fn_malloc_stats},
    {"blockState", fn_block_state},
};

}  // namespace

void register_memory(Napi::Env env, Napi::Object target, RtHandle* h) { define_functions(env, target, h, kMemoryFunctions); }

}  // namespace addon
RCL_END_NAMESPACE
