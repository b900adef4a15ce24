// config.h — the three builds of refcount-lab, and every compile-time switch.
//
// One source tree, three `.node` files. binding.gyp compiles the same sources once per build,
// defining exactly one of RCL_BUILD_RELEASE / RCL_BUILD_DEBUG / RCL_BUILD_NODEALLOC. Everything
// else is derived here, so no other file tests the build macros directly.
//
//   build       Py_REF_DEBUG  Py_STATS  dealloc at refcnt 0   default allocator
//   ---------   ------------  --------  --------------------  -----------------
//   release     no            no        yes                   pymalloc
//   debug       yes           yes       yes                   pymalloc_debug
//   nodealloc   no            no        NO (talk's patch)     pymalloc
//
// - Py_REF_DEBUG: Py_DECREF checks `ob_refcnt <= 0` BEFORE decrementing (the 3.12 order) and fails
//   with _Py_NegativeRefcount's text; a per-runtime ref total (sys.gettotalrefcount) is kept.
// - Py_STATS: incref/decref/allocation counters; immortal operations are not counted.
// - RCL_NODEALLOC: Py_DECREF decrements but never calls _Py_Dealloc (the "No RefCount" slide).
//
// Every build lives in its own inline namespace (rcl::release, rcl::debug, rcl::nodealloc) and is
// compiled with -fvisibility=hidden -fvisibility-inlines-hidden, so the three `.node` files
// loaded into one process never share an inline function, a static or a vtable.
//
// Assert levels (mimalloc style): RCL_ASSERT is always on in the debug build; RCL_EXPENSIVE
// guards whole-structure validators (allocator pools, gc lists) and is on when
// RCL_EXPENSIVE_CHECKS is defined (the native tests and the sanitizer builds define it).
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(RCL_BUILD_RELEASE) + defined(RCL_BUILD_DEBUG) + defined(RCL_BUILD_NODEALLOC) != 1
#error "define exactly one of RCL_BUILD_RELEASE, RCL_BUILD_DEBUG, RCL_BUILD_NODEALLOC"
#endif

#if defined(RCL_BUILD_RELEASE)
#define RCL_BUILD_NS release
#define RCL_BUILD_NAME "release"
#elif defined(RCL_BUILD_DEBUG)
#define RCL_BUILD_NS debug
#define RCL_BUILD_NAME "debug"
#define Py_REF_DEBUG 1
#define Py_STATS 1
#else
#define RCL_BUILD_NS nodealloc
#define RCL_BUILD_NAME "nodealloc"
#define RCL_NODEALLOC 1
#endif

#define RCL_BEGIN_NAMESPACE \
  namespace rcl {           \
  inline namespace RCL_BUILD_NS {
#define RCL_END_NAMESPACE \
  }                       \
  }

#if defined(__GNUC__)
#define RCL_LIKELY(x) __builtin_expect(!!(x), 1)
#define RCL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define RCL_ALWAYS_INLINE inline __attribute__((always_inline))
#define RCL_NOINLINE __attribute__((noinline))
#else
#define RCL_LIKELY(x) (x)
#define RCL_UNLIKELY(x) (x)
#define RCL_ALWAYS_INLINE inline
#define RCL_NOINLINE
#endif

// The ref total is derived from the Py_STATS incref/decref counters (Runtime::total_refcount).
#if defined(Py_REF_DEBUG) && !defined(Py_STATS)
#error "Py_REF_DEBUG needs Py_STATS here"
#endif

#if defined(Py_REF_DEBUG) || defined(RCL_EXPENSIVE_CHECKS)
#define RCL_ASSERTS_ON 1
#endif

// Sanitizer / valgrind integration (see obmalloc.cc, docs/allocator.md): freed and never-used
// arena blocks are poisoned for ASan; under valgrind pymalloc steps aside (every request goes
// to malloc, as CPython built --with-valgrind does), so memcheck sees every block.
#if defined(__SANITIZE_ADDRESS__)
#define RCL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RCL_ASAN 1
#endif
#endif

RCL_BEGIN_NAMESPACE

using Py_ssize_t = std::intptr_t;

// The builds, in the order the TypeScript side lists them (BUILDS).
enum class Build : uint8_t { Release = 0, Debug = 1, NoDealloc = 2 };

#if defined(RCL_BUILD_RELEASE)
inline constexpr Build kBuild = Build::Release;
#elif defined(RCL_BUILD_DEBUG)
inline constexpr Build kBuild = Build::Debug;
#else
inline constexpr Build kBuild = Build::NoDealloc;
#endif

inline constexpr bool kRefDebug =
#ifdef Py_REF_DEBUG
    true;
#else
    false;
#endif

inline constexpr bool kStats =
#ifdef Py_STATS
    true;
#else
    false;
#endif

inline constexpr bool kNoDealloc =
#ifdef RCL_NODEALLOC
    true;
#else
    false;
#endif

RCL_END_NAMESPACE
