// api.cc — the boundary policy (api.h).
#include "api.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>

RCL_BEGIN_NAMESPACE

namespace {

std::string hex_address(uintptr_t a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, a);
  return buf;
}

// An element of a batch: a double must be an integer in [1, 2**53]; 0 means "not an address".
uintptr_t element_addr(const double* addrs, size_t i) {
  uintptr_t a;
  return integral_in_range(addrs[i], 1, &a) ? a : 0;
}
uintptr_t element_addr(const uint64_t* addrs, size_t i) { return static_cast<uintptr_t>(addrs[i]); }

// The pending error of element i, its message prefixed with the element.
bool element_error(Runtime& rt, size_t i) {
  rt.error.message = "element " + std::to_string(i) + ": " + rt.error.message;
  return false;
}

template <typename T>
bool validate_many_impl(Runtime& rt, const T* addrs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uintptr_t a = element_addr(addrs, i);
    if (a == 0) {
      rt.set_error(ErrorCode::InvalidAddress, "element " + std::to_string(i) + " is not an address");
      return false;
    }
    if (rt.checked_object(a) == nullptr) return element_error(rt, i);
  }
  return true;
}

template <typename T>
bool decref_many_guarded_impl(Runtime& rt, const T* addrs, size_t n) {
  const uint64_t freed = rt.objects_freed();
  for (size_t i = 0; i < n; i++) {
    uintptr_t a = element_addr(addrs, i);
    if (rt.objects_freed() != freed && rt.checked_object(a) == nullptr) return element_error(rt, i);
    Py_DECREF(rt, reinterpret_cast<PyObject*>(a));
    if (RCL_UNLIKELY(rt.has_error())) return false;
  }
  return true;
}

// An integer argument as CPython's index conversions take it: finite, integral, at most 2**53-1
// in magnitude. Else ERR_TYPE.
bool index_value(Runtime& rt, double d, int64_t* out) {
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740991.0) {
    rt.set_error(ErrorCode::Type, "indices must be integers");
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------- memory

bool check_readable(Runtime& rt, uintptr_t a, size_t n) {
  if (!rt.guard || rt.readable(a, n)) return true;
  rt.set_error(ErrorCode::InvalidAddress, hex_address(a) + " is not memory of this runtime");
  return false;
}

bool check_writable(Runtime& rt, uintptr_t a, size_t n) {
  if (!check_readable(rt, a, n)) return false;
  if (!rt.guard || rt.writable(a, n)) return true;
  bool freed = rt.was_freed_object(reinterpret_cast<const void*>(a));
  rt.set_error(freed ? ErrorCode::UseAfterFree : ErrorCode::InvalidAddress,
               hex_address(a) + (freed ? " is inside a freed block (use after free): not writable"
                                       : " is not writable in guarded mode: only an object's ob_refcnt "
                                         "(the word at its address) and blocks from the C API's memory "
                                         "functions are"));
  return false;
}

bool check_user_block(Runtime& rt, uintptr_t a) {
  if (a == 0 || !rt.guard) return true;
  BlockState s = rt.alloc.block_state(reinterpret_cast<void*>(a));
  if (s != BlockState::Live) {
    rt.set_error(s == BlockState::Freed ? ErrorCode::UseAfterFree : ErrorCode::InvalidAddress,
                 hex_address(a) + (s == BlockState::Freed ? " was already freed" : " was not handed out by this allocator"));
    return false;
  }
  if (!rt.is_user_block(reinterpret_cast<void*>(a))) {
    rt.set_error(ErrorCode::InvalidAddress,
                 "that block was not allocated through the C API's memory functions (an object, or a "
                 "block an object owns: release the object instead)");
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------- batches

bool validate_many(Runtime& rt, const double* addrs, size_t n) { return validate_many_impl(rt, addrs, n); }
bool validate_many(Runtime& rt, const uint64_t* addrs, size_t n) { return validate_many_impl(rt, addrs, n); }
bool decref_many_guarded(Runtime& rt, const double* addrs, size_t n) { return decref_many_guarded_impl(rt, addrs, n); }
bool decref_many_guarded(Runtime& rt, const uint64_t* addrs, size_t n) { return decref_many_guarded_impl(rt, addrs, n); }

// ---------------------------------------------------------------------------------- sys

bool require_debug_build(Runtime& rt, const char* what) {
  if (kBuild == Build::Debug) return true;
  rt.set_error(ErrorCode::NotInBuild, std::string(what) +
                                          " exists only in the debug build (Py_REF_DEBUG); this runtime is '" +
                                          RCL_BUILD_NAME + "'");
  return false;
}

bool sys_gettotalrefcount(Runtime& rt, int64_t* out) {
  if (!require_debug_build(rt, "sys.gettotalrefcount")) return false;
  *out = rt.total_refcount();
  return true;
}

bool sys_showrefcount(Runtime& rt, std::string* out) {
  if (!require_debug_build(rt, "showrefcount")) return false;
  *out = rt.showrefcount_text();
  return true;
}

const ObjectStats* sys_stats(Runtime& rt) { return require_debug_build(rt, "Py_STATS") ? &rt.stats : nullptr; }

bool sys_census(Runtime& rt, std::unordered_map<std::string, Runtime::TypeCensus>* out) {
  if (rt.census(out)) return true;
  rt.set_error(ErrorCode::NotInBuild, "census() needs a guarded runtime (the registry of live objects)");
  return false;
}

RuntimeMallocStats malloc_stats(Runtime& rt) {
  RuntimeMallocStats s;
  s.alloc = rt.alloc.stats();
  const FreeLists& fl = rt.freelists;
  s.free_lists.dict = fl.dicts.num;
  s.free_lists.float_ = fl.float_num;
  s.free_lists.list = fl.lists.num;
  s.free_lists.tuple = fl.tuple_num;
  return s;
}

// ---------------------------------------------------------------------------------- gc

bool gc_set_enabled(Runtime& rt, bool on) {
  int prev = rt.gc.enabled;
  rt.gc.enabled = on ? 1 : 0;
  return prev != 0;
}

bool gc_set_threshold(Runtime& rt, const double* values, const bool* given, size_t n) {
  if (n < 1 || !given[0]) {
    rt.set_error(ErrorCode::Type, "set_threshold() takes at least 1 argument (0 given)");
    return false;
  }
  for (size_t i = 0; i < NUM_GENERATIONS && i < n; i++) {
    if (!given[i]) continue;
    int64_t t;
    if (!index_value(rt, values[i], &t)) return false;
    if (t > INT32_MAX || t < INT32_MIN) {
      rt.set_error(ErrorCode::Overflow, "signed integer is greater than maximum");
      return false;
    }
    rt.gc.generations[i].threshold = static_cast<int>(t);
  }
  return true;
}

bool gc_set_debug(Runtime& rt, double flags) {
  int64_t f;
  if (!index_value(rt, flags, &f)) return false;
  rt.gc.debug = static_cast<int>(f);
  return true;
}

bool gc_generation_arg(Runtime& rt, double d, int* out) {
  if (std::floor(d) != d) {
    rt.set_error(ErrorCode::Type, "argument should be integer or None, not 'float'");
    return false;
  }
  if (d >= NUM_GENERATIONS) {
    rt.set_error(ErrorCode::Value, "generation parameter must be less than the number of available generations (3)");
    return false;
  }
  if (d < -1) {
    rt.set_error(ErrorCode::Value, "generation parameter cannot be negative");
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

// ---------------------------------------------------------------------------------- objects

PyObject* tuple_from_items(Runtime& rt, PyObject* const* items, size_t n) {
  PyObject* t = PyTuple_New(rt, static_cast<Py_ssize_t>(n));
  if (t != nullptr)
    for (size_t k = 0; k < n; k++) PyTuple_ITEM(t, static_cast<Py_ssize_t>(k)) = Py_NewRef(rt, items[k]);
  return t;
}

PyObject* list_from_items(Runtime& rt, PyObject* const* items, size_t n) {
  PyObject* l = PyList_New(rt, static_cast<Py_ssize_t>(n));
  if (l != nullptr)
    for (size_t k = 0; k < n; k++) PyList_ITEM(l, static_cast<Py_ssize_t>(k)) = Py_NewRef(rt, items[k]);
  return l;
}

RCL_END_NAMESPACE
