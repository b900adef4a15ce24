// alloc_bench.cc — pymalloc port vs glibc malloc vs mimalloc (dlopen'ed when present).
//
//   g++ -std=c++17 -O2 -DRCL_BUILD_RELEASE -Inative/core native/core/obmalloc.cc
//       bench/native/alloc_bench.cc -ldl -o build/alloc_bench && build/alloc_bench
//
// 1. alloc+free pairs, sizes 16..512 (step 16): p = malloc(n); free(p), repeated. "cold": nothing
//    else is live, so with pymalloc every free empties the pool (EMPTY -> arena freepools) and
//    every alloc re-takes it — CPython's own worst case. "warm": one block per size class stays
//    live, as in any running program, so the pair is a free-list push/pop.
// 2. bulk: 1e6 allocations (sizes 16..128 cycling) then 1e6 frees, in allocation order.
// 3. bulk per size: 1e6 allocations of ONE size then 1e6 frees, for a sweep of sizes 16..512
//    (goal: <= 1.0x mimalloc at every size).
// 4. peak RSS of the bulk phase, measured in a forked child per allocator, vs the payload
//    (goal: <= 1.1x).
// Ratios are ours / anchor, measured in the same run. Every figure is the min of the repetitions
// (RCL_BENCH_REPS, default 3): the machine is shared, so the min is the least disturbed run.
// Arenas are mmap'ed with MAP_POPULATE by default; build with -DRCL_ARENA_POPULATE=0 to compare.
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "obmalloc.h"

using namespace rcl;

namespace {

struct NullSink : MemoryErrorSink {
  void memory_corruption(const std::string& fatal, const std::string&) override {
    std::fprintf(stderr, "memory corruption: %s\n", fatal.c_str());
    std::abort();
  }
};

struct Api {
  const char* name;
  void* (*alloc)(void* ctx, size_t n);
  void (*release)(void* ctx, void* p);
  void* ctx;
};

void* ours_alloc(void* ctx, size_t n) { return static_cast<Allocator*>(ctx)->malloc(MemDomain::Obj, n); }
void ours_free(void* ctx, void* p) { static_cast<Allocator*>(ctx)->free(MemDomain::Obj, p); }
void* glibc_alloc(void*, size_t n) { return std::malloc(n); }
void glibc_free(void*, void* p) { std::free(p); }

using mi_malloc_t = void* (*)(size_t);
using mi_free_t = void (*)(void*);
mi_malloc_t mi_malloc_fn;
mi_free_t mi_free_fn;
void* mi_alloc(void*, size_t n) { return mi_malloc_fn(n); }
void mi_release(void*, void* p) { mi_free_fn(p); }

double now_ns() {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count());
}

int g_reps = 3;

// ns per alloc+free pair, all 32 sizes, best of g_reps.
double bench_pairs(const Api& api, bool warm) {
  const int iters = 200000;
  double best = 1e30;
  std::vector<void*> keep;
  if (warm) {
    for (size_t n = 16; n <= 512; n += 16) keep.push_back(api.alloc(api.ctx, n));
  }
  for (int rep = 0; rep < g_reps; ++rep) {
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

// ns per block for 1e6 alloc then 1e6 free, best of g_reps; fixed = 0: sizes 16..128 cycling.
double bench_bulk(const Api& api, std::vector<void*>& v, size_t fixed = 0) {
  double best = 1e30;
  for (int rep = 0; rep < g_reps; ++rep) {
    double t0 = now_ns();
    for (size_t i = 0; i < kBulk; ++i) {
      v[i] = api.alloc(api.ctx, fixed ? fixed : bulk_size(i));
      *static_cast<volatile char*>(v[i]) = 1;
    }
    for (size_t i = 0; i < kBulk; ++i) api.release(api.ctx, v[i]);
    double t = (now_ns() - t0) / double(kBulk);
    if (t < best) best = t;
  }
  return best;
}

long current_rss_kb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    std::fclose(f);
  }
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

// Peak RSS growth (KiB) of the bulk allocation, in a fresh child; the payload written fully.
long bulk_rss_kb(int which) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::vector<void*> v(kBulk);
    std::memset(v.data(), 0, kBulk * sizeof(void*));
    NullSink sink;
    Allocator* ours = which == 0 ? new Allocator(AllocatorOptions{}, sink) : nullptr;
    long base = current_rss_kb();
    for (size_t i = 0; i < kBulk; ++i) {
      size_t n = bulk_size(i);
      v[i] = which == 0 ? ours->malloc(MemDomain::Obj, n) : which == 1 ? std::malloc(n) : mi_malloc_fn(n);
      std::memset(v[i], 1, n);
    }
    long grown = current_rss_kb() - base;
    if (write(fds[1], &grown, sizeof grown) != sizeof grown) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  long grown = -1;
  if (read(fds[0], &grown, sizeof grown) != sizeof grown) grown = -1;
  close(fds[0]);
  int st;
  waitpid(pid, &st, 0);
  return grown;
}

}  // namespace

int main() {
  if (const char* r = std::getenv("RCL_BENCH_REPS")) g_reps = std::atoi(r) > 0 ? std::atoi(r) : 3;
  NullSink sink;
  Allocator alloc(AllocatorOptions{}, sink);
  void* mi = dlopen("libmimalloc.so", RTLD_NOW | RTLD_LOCAL);
  if (!mi) mi = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
  if (mi) {
    mi_malloc_fn = reinterpret_cast<mi_malloc_t>(dlsym(mi, "mi_malloc"));
    mi_free_fn = reinterpret_cast<mi_free_t>(dlsym(mi, "mi_free"));
    if (!mi_malloc_fn || !mi_free_fn) mi = nullptr;
  }
  Api ours{"pymalloc (ours)", ours_alloc, ours_free, &alloc};
  Api glibc{"glibc malloc", glibc_alloc, glibc_free, nullptr};
  Api mimalloc{"mimalloc", mi_alloc, mi_release, nullptr};

  // RSS first, in fresh children, before the timing loops leave memory cached in this process.
  long rss[3] = {bulk_rss_kb(0), bulk_rss_kb(1), mi ? bulk_rss_kb(2) : 0};
  std::vector<void*> v(kBulk);
  double warm_ours = bench_pairs(ours, true), warm_glibc = bench_pairs(glibc, true);
  double warm_mi = mi ? bench_pairs(mimalloc, true) : 0;
  double pair_ours = bench_pairs(ours, false), pair_glibc = bench_pairs(glibc, false);
  double bulk_ours = bench_bulk(ours, v), bulk_glibc = bench_bulk(glibc, v);
  double pair_mi = 0, bulk_mi = 0;
  if (mi) {
    pair_mi = bench_pairs(mimalloc, false);
    bulk_mi = bench_bulk(mimalloc, v);
  }
  // Bulk per size, interleaved per size so the three allocators of a row see the same load.
  const size_t sweep[] = {16, 32, 48, 64, 96, 128, 192, 256, 384, 512};
  const size_t nsweep = sizeof sweep / sizeof sweep[0];
  double sw[nsweep][3] = {};
  for (size_t k = 0; k < nsweep; ++k) {
    sw[k][0] = bench_bulk(ours, v, sweep[k]);
    sw[k][1] = bench_bulk(glibc, v, sweep[k]);
    sw[k][2] = mi ? bench_bulk(mimalloc, v, sweep[k]) : 0;
  }
  size_t payload = 0;
  for (size_t i = 0; i < kBulk; ++i) payload += bulk_size(i);

  std::printf("alloc+free pair, sizes 16..512, warm pools (ns/pair)\n");
  std::printf("  %-18s %7.2f\n  %-18s %7.2f   ratio ours/glibc    = %.2f (goal <= 0.5)\n", ours.name, warm_ours,
              glibc.name, warm_glibc, warm_ours / warm_glibc);
  if (mi) std::printf("  %-18s %7.2f   ratio ours/mimalloc = %.2f (goal <= 0.5)\n", mimalloc.name, warm_mi, warm_ours / warm_mi);
  std::printf("alloc+free pair, sizes 16..512, cold: nothing else live (ns/pair)\n");
  std::printf("  %-18s %7.2f\n  %-18s %7.2f   ratio ours/glibc    = %.2f (goal <= 0.5)\n", ours.name, pair_ours,
              glibc.name, pair_glibc, pair_ours / pair_glibc);
  if (mi) std::printf("  %-18s %7.2f   ratio ours/mimalloc = %.2f (goal <= 0.5)\n", mimalloc.name, pair_mi, pair_ours / pair_mi);
  std::printf("bulk 1e6 alloc then 1e6 free, sizes 16..128 (ns/block)\n");
  std::printf("  %-18s %7.2f\n  %-18s %7.2f   ratio ours/glibc    = %.2f\n", ours.name, bulk_ours, glibc.name,
              bulk_glibc, bulk_ours / bulk_glibc);
  if (mi) std::printf("  %-18s %7.2f   ratio ours/mimalloc = %.2f (goal <= 1.0)\n", mimalloc.name, bulk_mi, bulk_ours / bulk_mi);
  std::printf("allocate 1e6 then free all, per size (ns/block; goal ours/mimalloc <= 1.0 at every size)\n");
  std::printf("  %6s %9s %9s %9s %12s %14s\n", "size", "ours", "glibc", "mimalloc", "ours/glibc", "ours/mimalloc");
  double worst = 0;
  for (size_t k = 0; k < nsweep; ++k) {
    double rmi = mi ? sw[k][0] / sw[k][2] : 0;
    if (rmi > worst) worst = rmi;
    std::printf("  %6zu %9.2f %9.2f %9.2f %12.2f %14.2f\n", sweep[k], sw[k][0], sw[k][1], sw[k][2],
                sw[k][0] / sw[k][1], rmi);
  }
  if (mi) std::printf("  worst ours/mimalloc = %.2f (goal <= 1.0)\n", worst);
  std::printf("peak RSS growth of the bulk phase (payload %.1f MiB)\n", double(payload) / 1048576.0);
  const char* names[3] = {ours.name, glibc.name, mimalloc.name};
  for (int w = 0; w < (mi ? 3 : 2); ++w) {
    long kb = rss[w];
    std::printf("  %-18s %7.1f MiB   = %.3f x payload%s\n", names[w], double(kb) / 1024.0,
                double(kb) * 1024.0 / double(payload), w == 0 ? " (goal <= 1.1)" : "");
  }
  if (!mi) {
    std::printf("mimalloc not found (dlopen libmimalloc.so / libmimalloc.so.2). To compare with it:\n"
                "  sudo apt-get install libmimalloc2.0    # Debian/Ubuntu (or libmimalloc-dev)\n");
  }
  return 0;
}
