// alloc_loops.h — the allocator loops timed by alloc_bench.cc and cpython_bench.cc, so that our
// pymalloc, the C library's malloc, mimalloc, jemalloc and CPython's own PyObject_Malloc are
// timed by the very same code: every call goes through an Api's function pointers.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

namespace alloc_loops {

struct Api {
  const char* name;
  void* (*alloc)(void* ctx, size_t n);
  void (*release)(void* ctx, void* p);
  void* ctx;
};

inline double now_ns() {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count());
}

// ns per alloc+free pair, all 32 sizes 16..512, best of `reps`. warm: one block per size class
// stays live (as in any running program), so the pair is a free-list pop/push; cold: nothing
// else is live, so with pymalloc every free empties the pool and every alloc re-takes it.
inline double bench_pairs(const Api& api, bool warm, int reps) {
  const int iters = 200000;
  double best = 1e30;
  std::vector<void*> keep;
  if (warm) {
    for (size_t n = 16; n <= 512; n += 16) keep.push_back(api.alloc(api.ctx, n));
  }
  for (int rep = 0; rep < reps; ++rep) {
    double t0 = now_ns();
    for (size_t n = 16; n <= 512; n += 16) {
      for (int i = 0; i < iters; ++i) {
        void* p = api.alloc(api.ctx, n);
        *static_cast<volatile char*>(p) = 1;
        api.release(api.ctx, p);
      }
    }
    double t = (now_ns() - t0) / (32.0 * iters);
    if (t < best) best = t;
  }
  for (void* p : keep) api.release(api.ctx, p);
  return best;
}

constexpr size_t kBulk = 1000000;
inline size_t bulk_size(size_t i) { return 16 + (i % 8) * 16; }

// ns per block for v.size() (1e6: kBulk) allocs then as many frees in allocation order, best of
// `reps`; fixed = 0: sizes 16..128 cycling, else every block of that size.
inline double bench_bulk(const Api& api, std::vector<void*>& v, int reps, size_t fixed = 0) {
  double best = 1e30;
  const size_t n = v.size();
  for (int rep = 0; rep < reps; ++rep) {
    double t0 = now_ns();
    for (size_t i = 0; i < n; ++i) {
      v[i] = api.alloc(api.ctx, fixed ? fixed : bulk_size(i));
      *static_cast<volatile char*>(v[i]) = 1;
    }
    for (size_t i = 0; i < n; ++i) api.release(api.ctx, v[i]);
    double t = (now_ns() - t0) / double(n);
    if (t < best) best = t;
  }
  return best;
}

// The bulk sweep's sizes (alloc_bench's per-size table and cpython_bench's rows).
constexpr size_t kSweep[] = {16, 32, 48, 64, 96, 128, 192, 256, 384, 512};
constexpr size_t kNSweep = sizeof kSweep / sizeof kSweep[0];

}  // namespace alloc_loops
