// api.h — the memory model's policy at its boundary with an embedder (the addon): the guarded
// checks of raw addresses and C API blocks, the batch refcount operations (increfMany /
// decrefMany), sys.getrefcount, the gc setters' validation, tuples and lists built from items,
// the statistics as plain structs, and what a build or mode lacks (ERR_NOT_IN_BUILD).
//
// Every function here reports a problem through the Runtime's pending error (errors.h) and
// returns a neutral value (false / nullptr); the embedder only converts its arguments and
// results and turns the pending error into its own error type.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "refcount.h"
#include "runtime.h"

RCL_BEGIN_NAMESPACE

// Is d an integer in [lo, 2**53]? Truncation plus compare instead of std::floor: without
// SSE4.1, floor is a libm call, and this runs once per address on the hot paths.
inline bool integral_in_range(double d, double lo, uintptr_t* out) {
  if (!(d >= lo && d <= 9007199254740992.0)) return false;
  uint64_t u = static_cast<uint64_t>(d);
  if (static_cast<double>(u) != d) return false;
  *out = static_cast<uintptr_t>(u);
  return true;
}

// =============================================================================================
// Schema names (schema.h)
// =============================================================================================

// The kind's name as JS sees it (Ref.kind).
inline const char* kind_name(TypeKind k) {
  switch (k) {
#define RCL_X(name, js) \
  case TypeKind::name:  \
    return js;
    RCL_TYPE_KINDS(RCL_X)
#undef RCL_X
  }
  return "object";
}
inline const char* allocator_name(AllocatorKind k) {
  switch (k) {
#define RCL_X(name, js)     \
  case AllocatorKind::name: \
    return js;
    RCL_ALLOCATORS(RCL_X)
#undef RCL_X
  }
  return "pymalloc";
}
inline const char* arena_source_name(ArenaSource s) {
  switch (s) {
#define RCL_X(name, js)   \
  case ArenaSource::name: \
    return js;
    RCL_ARENA_SOURCES(RCL_X)
#undef RCL_X
  }
  return "mmap";
}
// The allocator / arena source of a name; false when there is none.
inline bool allocator_from_name(const std::string& s, AllocatorKind* out) {
#define RCL_X(name, js)             \
  if (s == js) {                    \
    *out = AllocatorKind::name;     \
    return true;                    \
  }
  RCL_ALLOCATORS(RCL_X)
#undef RCL_X
  return false;
}
inline bool arena_source_from_name(const std::string& s, ArenaSource* out) {
#define RCL_X(name, js)           \
  if (s == js) {                  \
    *out = ArenaSource::name;     \
    return true;                  \
  }
  RCL_ARENA_SOURCES(RCL_X)
#undef RCL_X
  return false;
}

// =============================================================================================
// Raw memory (guarded checks; unguarded runtimes take every address as it is)
// =============================================================================================

// [a, a+n) is memory of this runtime (readMemory, readBytes). Else ERR_INVALID_ADDRESS.
bool check_readable(Runtime& rt, uintptr_t a, size_t n);
// [a, a+n) may be written: readable, and an object's ob_refcnt or inside a block from the C
// API's memory functions (Runtime::writable). Freed objects are ERR_USE_AFTER_FREE, the rest
// ERR_INVALID_ADDRESS.
bool check_writable(Runtime& rt, uintptr_t a, size_t n);
// A block argument of the C API's realloc / free: 0 (NULL) always passes; otherwise a live block
// handed out through the C API's memory functions. A freed one is ERR_USE_AFTER_FREE, anything
// else ERR_INVALID_ADDRESS.
bool check_user_block(Runtime& rt, uintptr_t a);

// =============================================================================================
// Batches: increfMany / decrefMany over an array of addresses (doubles or uint64)
// =============================================================================================

inline uintptr_t as_addr(double d) { return static_cast<uintptr_t>(static_cast<int64_t>(d)); }
inline uintptr_t as_addr(uint64_t a) { return static_cast<uintptr_t>(a); }

// The raw loop: no check at all (unguarded runtimes, or guarded increfs once validated). Kept
// out of line: inlined into a caller with more live values, the loop spills its index.
template <bool kInc, typename T>
RCL_NOINLINE void refcount_many_unchecked(Runtime& rt, const T* addrs, size_t n) {
  // Unrolled by 4: about 10 % fewer cycles per address here (the loop is core-bound, about two
  // cycles per address, not memory-bound: 1e3 and 1e5 addresses cost the same).
#pragma GCC unroll 4
  for (size_t i = 0; i < n; i++) {
    PyObject* op = reinterpret_cast<PyObject*>(as_addr(addrs[i]));
    if (kInc)
      Py_INCREF(rt, op);
    else
      Py_DECREF(rt, op);
  }
}

// Guarded: every element must be a live object, checked before anything changes (a bad address
// leaves every count untouched); an error names its element ("element 3: ...").
bool validate_many(Runtime& rt, const double* addrs, size_t n);
bool validate_many(Runtime& rt, const uint64_t* addrs, size_t n);
// Guarded decrefs, once validated. A decref can free objects that come later in the batch: the
// element's own object, or what its dealloc releases. Once anything has died, every remaining
// element is checked again, so a freed one is ERR_USE_AFTER_FREE as in the same calls made one
// by one (the elements before it stay applied). A debug build's negative refcount ends the
// batch too, with CPython's text.
bool decref_many_guarded(Runtime& rt, const double* addrs, size_t n);
bool decref_many_guarded(Runtime& rt, const uint64_t* addrs, size_t n);

// increfMany / decrefMany of a guarded runtime: false with the error pending when the batch
// stopped. Unguarded runtimes (raw C) take refcount_many_unchecked directly.
template <bool kInc, typename T>
bool refcount_many_guarded(Runtime& rt, const T* addrs, size_t n) {
  if (!validate_many(rt, addrs, n)) return false;
  if (!kInc) return decref_many_guarded(rt, addrs, n);
  refcount_many_unchecked<kInc>(rt, addrs, n);  // increfs free nothing: no re-check
  return true;
}

// increfMany / decrefMany: false with the error pending when the batch stopped.
template <bool kInc, typename T>
inline bool refcount_many(Runtime& rt, const T* addrs, size_t n) {
  if (rt.guard) return refcount_many_guarded<kInc>(rt, addrs, n);
  refcount_many_unchecked<kInc>(rt, addrs, n);
  return true;
}

// =============================================================================================
// sys
// =============================================================================================

// sys.getrefcount(x): the argument's own reference is part of the answer.
inline Py_ssize_t sys_getrefcount(Runtime& rt, PyObject* op) {
  Py_INCREF(rt, op);
  Py_ssize_t n = Py_REFCNT(op);
  Py_DECREF(rt, op);
  return n;
}

// What only the debug build has (Py_REF_DEBUG / Py_STATS): elsewhere ERR_NOT_IN_BUILD, as
// CPython's release builds have no such function.
bool require_debug_build(Runtime& rt, const char* what);
// sys.gettotalrefcount().
bool sys_gettotalrefcount(Runtime& rt, int64_t* out);
// The `-X showrefcount` line: `[N refs, M blocks]`.
bool sys_showrefcount(Runtime& rt, std::string* out);
// The Py_STATS object counters; nullptr outside the debug build.
const ObjectStats* sys_stats(Runtime& rt);
// Live heap objects by type name (Runtime::census); ERR_NOT_IN_BUILD when unguarded (no
// registry is kept).
bool sys_census(Runtime& rt, std::unordered_map<std::string, Runtime::TypeCensus>* out);

// The object free lists (the last lines of debugmallocstats): objects parked on each.
struct FreeListStats {
  int dict = 0;
  int float_ = 0;
  int list = 0;
  std::array<int, FreeLists::kTupleLists> tuple{};  // by size - 1
};
// The allocator's statistics and the free lists, as sys.mallocStats() reports them.
struct RuntimeMallocStats {
  MallocStats alloc;
  FreeListStats free_lists;
};
RuntimeMallocStats malloc_stats(Runtime& rt);

// =============================================================================================
// gc setters
// =============================================================================================

// gc.enable() / gc.disable(): returns whether collection was enabled before.
bool gc_set_enabled(Runtime& rt, bool on);
// gc.set_threshold(t0[, t1[, t2]]): values[i] is given when given[i]; n arguments were passed.
// Applied in order (an invalid one stops there; those before it stay set): none given is
// ERR_TYPE, a non-integer ERR_TYPE, one outside a C int ERR_OVERFLOW.
bool gc_set_threshold(Runtime& rt, const double* values, const bool* given, size_t n);
// gc.set_debug(flags): an integer (ERR_TYPE otherwise), stored as a C int.
bool gc_set_debug(Runtime& rt, double flags);
// gc.get_objects(generation)'s argument, a number: an integer (ERR_TYPE) below
// NUM_GENERATIONS and at least -1 (ERR_VALUE), with CPython's texts. -1 is CPython's internal
// "None" (a 3.12.1 quirk): every generation.
bool gc_generation_arg(Runtime& rt, double d, int* out);

// =============================================================================================
// Objects
// =============================================================================================

// tuple(items) / list(items): new references holding a new reference to each item.
PyObject* tuple_from_items(Runtime& rt, PyObject* const* items, size_t n);
PyObject* list_from_items(Runtime& rt, PyObject* const* items, size_t n);

RCL_END_NAMESPACE
