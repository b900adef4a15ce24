// alloc_bench.cc — pymalloc port vs glibc malloc vs mimalloc and jemalloc (dlopen'ed when present).
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
//    (mimalloc and jemalloc are information; the goal is against CPython's own pymalloc,
//    cpython_bench.cc, which times it with the same loops: alloc_loops.h).
// 4. peak RSS of the bulk phase, measured in a forked child per allocator, vs the payload
//    (goal: <= 1.1x).
// Ratios are ours / anchor, measured in the same run. Every figure is the min of the repetitions
// (RCL_BENCH_REPS, default 3): the machine is shared, so the min is the least disturbed run.
// Arenas are mmap'ed without MAP_POPULATE, as CPython's; build with -DRCL_ARENA_POPULATE=1 to compare.
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "alloc_loops.h"
#include "obmalloc.h"

using namespace rcl;
using alloc_loops::Api;
using alloc_loops::bulk_size;
using alloc_loops::kBulk;

namespace {

struct NullSink : MemoryErrorSink {
  void memory_corruption(const std::string& fatal, const std::string&) override {
    std::fprintf(stderr, "memory corruption: %s\n", fatal.c_str());
    std::abort();
  }
};

int g_reps = 3;

double bench_pairs(const Api& api, bool warm) { return alloc_loops::bench_pairs(api, warm, g_reps); }
double bench_bulk(const Api& api, std::vector<void*>& v, size_t fixed = 0) {
  return alloc_loops::bench_bulk(api, v, g_reps, fixed);
}

void* ours_alloc(void* ctx, size_t n) { return static_cast<Allocator*>(ctx)->malloc(MemDomain::Obj, n); }
void ours_free(void* ctx, void* p) { static_cast<Allocator*>(ctx)->free(MemDomain::Obj, p); }
void* glibc_alloc(void*, size_t n) { return std::malloc(n); }
void glibc_free(void*, void* p) { std::free(p); }

// mimalloc and jemalloc, dlopen'ed: their malloc / free, found in the library itself.
using malloc_t = void* (*)(size_t);
using free_t = void (*)(void*);
struct Dl {
  malloc_t m = nullptr;
  free_t f = nullptr;
};
Dl mi_fns, je_fns;
void* mi_alloc(void*, size_t n) { return mi_fns.m(n); }
void mi_release(void*, void* p) { mi_fns.f(p); }
void* je_alloc(void*, size_t n) { return je_fns.m(n); }
void je_release(void*, void* p) { je_fns.f(p); }

std::string je_error = "not found";
bool load(Dl& d, const char* const* names, const char* m, const char* f, std::string* err = nullptr) {
  for (const char* const* n = names; *n; ++n) {
    void* h = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      if (err && e && std::strstr(e, "No such file") == nullptr) *err = "cannot be dlopen'ed";
      continue;
    }
    d.m = reinterpret_cast<malloc_t>(dlsym(h, m));
    d.f = reinterpret_cast<free_t>(dlsym(h, f));
    if (d.m && d.f) return true;
  }
  d = Dl{};
  return false;
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
      v[i] = which == 0 ? ours->malloc(MemDomain::Obj, n) : which == 1 ? std::malloc(n) : which == 2 ? mi_fns.m(n) : je_fns.m(n);
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
  const char* mi_names[] = {"libmimalloc.so", "libmimalloc.so.2", nullptr};
  const char* je_names[] = {"libjemalloc.so", "libjemalloc.so.2", nullptr};
  bool mi = load(mi_fns, mi_names, "mi_malloc", "mi_free");
  bool je = load(je_fns, je_names, "malloc", "free", &je_error);  // jemalloc's own, found in its library
  Api ours{"pymalloc (ours)", ours_alloc, ours_free, &alloc};
  // jemalloc cannot be dlopen'ed on most systems (its initial-exec TLS: "cannot allocate memory
  // in static TLS block"); the suite then runs this binary again with LD_PRELOAD=libjemalloc.so.2
  // and RCL_SYSTEM_MALLOC_NAME=jemalloc, so the system malloc's rows are jemalloc's.
  const char* sysname = std::getenv("RCL_SYSTEM_MALLOC_NAME");
  Api glibc{sysname && *sysname ? sysname : "glibc malloc", glibc_alloc, glibc_free, nullptr};
  Api mimalloc{"mimalloc", mi_alloc, mi_release, nullptr};
  Api jemalloc{"jemalloc", je_alloc, je_release, nullptr};

  // RSS first, in fresh children, before the timing loops leave memory cached in this process.
  long rss[4] = {bulk_rss_kb(0), bulk_rss_kb(1), mi ? bulk_rss_kb(2) : 0, je ? bulk_rss_kb(3) : 0};
  std::vector<void*> v(kBulk);
  double warm[4] = {bench_pairs(ours, true), bench_pairs(glibc, true), mi ? bench_pairs(mimalloc, true) : 0,
                    je ? bench_pairs(jemalloc, true) : 0};
  double cold[4] = {bench_pairs(ours, false), bench_pairs(glibc, false), 0, 0};
  double bulk[4] = {bench_bulk(ours, v), bench_bulk(glibc, v), 0, 0};
  if (mi) {
    cold[2] = bench_pairs(mimalloc, false);
    bulk[2] = bench_bulk(mimalloc, v);
  }
  if (je) {
    cold[3] = bench_pairs(jemalloc, false);
    bulk[3] = bench_bulk(jemalloc, v);
  }
  // Bulk per size, interleaved per size so the allocators of a row see the same load.
  using alloc_loops::kNSweep;
  using alloc_loops::kSweep;
  double sw[kNSweep][4] = {};
  for (size_t k = 0; k < kNSweep; ++k) {
    sw[k][0] = bench_bulk(ours, v, kSweep[k]);
    sw[k][1] = bench_bulk(glibc, v, kSweep[k]);
    sw[k][2] = mi ? bench_bulk(mimalloc, v, kSweep[k]) : 0;
    sw[k][3] = je ? bench_bulk(jemalloc, v, kSweep[k]) : 0;
  }
  size_t payload = 0;
  for (size_t i = 0; i < kBulk; ++i) payload += bulk_size(i);

  const Api* apis[4] = {&ours, &glibc, &mimalloc, &jemalloc};
  const bool have[4] = {true, true, mi, je};
  auto section = [&](const char* title, const double* x) {
    std::printf("%s\n  %-18s %7.2f\n", title, ours.name, x[0]);
    for (int w = 1; w < 4; ++w)
      if (have[w]) std::printf("  %-18s %7.2f   ratio ours/%s = %.2f\n", apis[w]->name, x[w], apis[w]->name, x[0] / x[w]);
  };
  section("alloc+free pair, sizes 16..512, warm pools (ns/pair)", warm);
  section("alloc+free pair, sizes 16..512, cold: nothing else live (ns/pair)", cold);
  section("bulk 1e6 alloc then 1e6 free, sizes 16..128 (ns/block)", bulk);
  std::printf("allocate 1e6 then free all, per size (ns/block)\n");
  std::printf("  %6s %9s %9s %9s %9s %12s %14s %14s\n", "size", "ours", "glibc", "mimalloc", "jemalloc", "ours/glibc",
              "ours/mimalloc", "ours/jemalloc");
  for (size_t k = 0; k < kNSweep; ++k) {
    std::printf("  %6zu %9.2f %9.2f %9.2f %9.2f %12.2f %14.2f %14.2f\n", kSweep[k], sw[k][0], sw[k][1], sw[k][2],
                sw[k][3], sw[k][0] / sw[k][1], mi ? sw[k][0] / sw[k][2] : 0.0, je ? sw[k][0] / sw[k][3] : 0.0);
  }
  std::printf("peak RSS growth of the bulk phase (payload %.1f MiB)\n", double(payload) / 1048576.0);
  for (int w = 0; w < 4; ++w) {
    if (!have[w]) continue;
    long kb = rss[w];
    std::printf("  %-18s %7.1f MiB   = %.3f x payload%s\n", apis[w]->name, double(kb) / 1024.0,
                double(kb) * 1024.0 / double(payload), w == 0 ? " (goal <= 1.1)" : "");
  }
  if (!mi) {
    std::printf("mimalloc not found (dlopen libmimalloc.so / libmimalloc.so.2). To compare with it:\n"
                "  sudo apt-get install libmimalloc2.0    # Debian/Ubuntu (or libmimalloc-dev)\n");
  }
  if (!je && !(sysname && std::strcmp(sysname, "jemalloc") == 0)) {
    std::printf("jemalloc not loaded here (dlopen libjemalloc.so / libjemalloc.so.2: %s). To compare with it:\n"
                "  sudo apt-get install libjemalloc2; RCL_SYSTEM_MALLOC_NAME=jemalloc LD_PRELOAD=libjemalloc.so.2 %s\n",
                je_error.c_str(), "alloc_bench");
  }
  return 0;
}
