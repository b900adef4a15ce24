// cpython_bench.cc — our release build against CPython 3.12 itself, in ONE process: CPython's
// Py_INCREF / Py_DECREF from its own headers and its own pymalloc (PyObject_Malloc /
// PyObject_Free from libpython3.12.so, cpython_kernels.c) timed interleaved with ours, with the
// same loops: the pair kernel of refcount_kernels.cc and the allocator loops of alloc_loops.h.
//
//   Built by the suite (lib/bench/cpython.ts) when CPython 3.12 with its shared library is found:
//   gcc -O2 -I$(python3.12 -c "import sysconfig; print(sysconfig.get_paths()['include'])")
//       -c bench/native/cpython_kernels.c -o build/bench/cpython_kernels.o
//   g++ -std=c++17 -O2 -DRCL_BUILD_RELEASE -Inative/core bench/native/cpython_bench.cc build/bench/cpython_kernels.o
//       build/bench/kernels_release.o <release core objects> -L$LIBDIR -lpython3.12
//       -Wl,-rpath,$LIBDIR -o build/bench/cpython_bench
//   Run with PYTHONHOME=<sys.base_prefix> (the binary is not in the interpreter's tree).
//
// Kernels (ns per pair), each over its own runtime's objects (heap ints, 32-byte pymalloc
// blocks, the same values; the mem set visited in the same shuffled order):
//   plain.SET       ++/-- of ob_refcnt over our objects (the physical limit)
//   release.SET     our release Py_INCREF ; barrier ; Py_DECREF
//   cpython.SET     CPython 3.12's Py_INCREF ; barrier ; Py_DECREF (its 32-bit store incref)
//   cpython_plain.SET  ++/-- over CPython's objects
// Allocator (each repetition: ours and CPython's, the order alternating):
//   warm alloc+free pair over sizes 16..512 (one block per class live), ns/pair;
//   1e6 alloc then 1e6 free of one size, sizes 16..512 (alloc_loops::kSweep), ns/block.
//
// Usage: cpython_bench [--n-l1 N] [--n-mem N] [--reps R] [--target-ms T] [--alloc-reps R] [--bulk-n N]
//        -> JSON on stdout
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "alloc_loops.h"
#include "obmalloc.h"

#define CPB_BARRIER() asm volatile("" ::: "memory")

extern "C" {
void* rcb_runtime_new_release();
void rcb_objects_new_release(void* rt, void** out, long n, int immortal);
void rcb_pair_release(void* rt, void* const* objs, long n, long passes);
int cpk_init(void);
const char* cpk_version(void);
void cpk_objects_new(void** out, long n);
void cpk_pair(void* rt, void* const* objs, long n, long passes);
void* cpk_malloc(void* ctx, size_t n);
void cpk_free(void* ctx, void* p);

// refcount_bench.cc's plain kernel: touches only the 64-bit word at offset 0 (ob_refcnt).
__attribute__((noinline)) void cpb_plain(void*, void* const* objs, long n, long passes) {
  for (long p = 0; p < passes; p++) {
    for (long i = 0; i < n; i++) {
      int64_t* rc = static_cast<int64_t*>(objs[i]);
      ++*rc;
      CPB_BARRIER();
      --*rc;
    }
  }
}
}

namespace {

using KernelFn = void (*)(void*, void* const*, long, long);

struct Kernel {
  std::string id;
  KernelFn fn;
  void* rt;
  const std::vector<void*>* objs;
  long passes = 1;
  std::vector<double> ns;
};

double time_once(Kernel& k) {
  long n = long(k.objs->size());
  double t0 = alloc_loops::now_ns();
  k.fn(k.rt, k.objs->data(), n, k.passes);
  return (alloc_loops::now_ns() - t0) / (double(n) * double(k.passes));
}

long arg_long(int argc, char** argv, const char* name, long dflt) {
  for (int i = 1; i + 1 < argc; i++)
    if (std::strcmp(argv[i], name) == 0) return std::atol(argv[i + 1]);
  return dflt;
}

struct NullSink : rcl::MemoryErrorSink {
  void memory_corruption(const std::string& fatal, const std::string&) override {
    std::fprintf(stderr, "memory corruption: %s\n", fatal.c_str());
    std::abort();
  }
};

void* ours_alloc(void* ctx, size_t n) { return static_cast<rcl::Allocator*>(ctx)->malloc(rcl::MemDomain::Obj, n); }
void ours_free(void* ctx, void* p) { static_cast<rcl::Allocator*>(ctx)->free(rcl::MemDomain::Obj, p); }

// Minor page faults and kernel (system) seconds of this process so far.
struct Usage {
  double faults, sys_s, total_s;
};
Usage usage_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double sys = double(ru.ru_stime.tv_sec) + double(ru.ru_stime.tv_usec) / 1e6;
  double user = double(ru.ru_utime.tv_sec) + double(ru.ru_utime.tv_usec) / 1e6;
  return Usage{double(ru.ru_minflt), sys, sys + user};
}

void print_array(const std::vector<double>& v) {
  std::printf("[");
  for (size_t j = 0; j < v.size(); j++) std::printf("%s%.4f", j ? "," : "", v[j]);
  std::printf("]");
}

}  // namespace

int main(int argc, char** argv) {
  const long n_l1 = arg_long(argc, argv, "--n-l1", 512);
  const long n_mem = arg_long(argc, argv, "--n-mem", 4000000);
  const long reps = std::max(1L, arg_long(argc, argv, "--reps", 7));
  const long alloc_reps = std::max(1L, arg_long(argc, argv, "--alloc-reps", 5));
  const double target_ms = double(arg_long(argc, argv, "--target-ms", 20));
  if (!cpk_init()) {
    std::fprintf(stderr, "CPython did not initialise (set PYTHONHOME to sys.base_prefix)\n");
    return 1;
  }
  void* rt = rcb_runtime_new_release();
  std::mt19937_64 rng_ours(12345), rng_cpy(12345);
  const size_t nl1 = static_cast<size_t>(n_l1), nmem = static_cast<size_t>(n_mem);
  std::vector<void*> l1(nl1), mem(nmem), cl1(nl1), cmem(nmem);
  rcb_objects_new_release(rt, l1.data(), n_l1, 0);
  rcb_objects_new_release(rt, mem.data(), n_mem, 0);
  cpk_objects_new(cl1.data(), n_l1);
  cpk_objects_new(cmem.data(), n_mem);
  std::shuffle(mem.begin(), mem.end(), rng_ours);
  std::shuffle(cmem.begin(), cmem.end(), rng_cpy);

  std::vector<Kernel> ks;
  for (int s = 0; s < 2; s++) {
    const char* set = s == 0 ? "l1" : "mem";
    ks.push_back(Kernel{std::string("plain.") + set, cpb_plain, nullptr, s == 0 ? &l1 : &mem, 1, {}});
    ks.push_back(Kernel{std::string("release.") + set, rcb_pair_release, rt, s == 0 ? &l1 : &mem, 1, {}});
    ks.push_back(Kernel{std::string("cpython.") + set, cpk_pair, nullptr, s == 0 ? &cl1 : &cmem, 1, {}});
    ks.push_back(Kernel{std::string("cpython_plain.") + set, cpb_plain, nullptr, s == 0 ? &cl1 : &cmem, 1, {}});
  }
  // Warm-up and calibration (as refcount_bench): grow passes until one timing takes target_ms.
  for (auto& k : ks) {
    long n = long(k.objs->size());
    k.passes = 1;
    for (;;) {
      double t = time_once(k) * double(n) * double(k.passes) / 1e6;
      if (t >= target_ms || k.passes > (1L << 40)) break;
      double grow = t > 0.05 ? target_ms / t * 1.1 : 16.0;
      k.passes = std::max(k.passes + 1, long(double(k.passes) * std::min(grow, 16.0)));
    }
  }
  for (long r = 0; r < reps; r++) {
    size_t start = size_t(r) % ks.size();
    for (size_t j = 0; j < ks.size(); j++) {
      Kernel& k = ks[(start + j) % ks.size()];
      k.ns.push_back(time_once(k));
    }
  }

  // The allocators: ours (a fresh release-build pymalloc) and CPython's running interpreter's.
  NullSink sink;
  rcl::Allocator alloc(rcl::AllocatorOptions{}, sink);
  alloc_loops::Api ours{"pymalloc (ours)", ours_alloc, ours_free, &alloc};
  alloc_loops::Api cpy{"CPython PyObject_Malloc", cpk_malloc, cpk_free, nullptr};
  std::vector<void*> v(static_cast<size_t>(std::max(1L, arg_long(argc, argv, "--bulk-n", long(alloc_loops::kBulk)))));
  std::vector<double> warm_ours, warm_cpy;
  std::vector<std::vector<double>> bulk_ours(alloc_loops::kNSweep), bulk_cpy(alloc_loops::kNSweep);
  // Per size: page faults per block and the kernel's share of the CPU time, ours and CPython's
  // (summed over the repetitions): what bounds a bulk alloc-then-free of fresh memory.
  std::vector<Usage> use_ours(alloc_loops::kNSweep, Usage{0, 0, 0}), use_cpy(alloc_loops::kNSweep, Usage{0, 0, 0});
  auto timed_bulk = [&](const alloc_loops::Api& a, size_t sz, std::vector<double>& out, Usage& use) {
    Usage u0 = usage_now();
    out.push_back(alloc_loops::bench_bulk(a, v, 1, sz));
    Usage u1 = usage_now();
    use.faults += u1.faults - u0.faults;
    use.sys_s += u1.sys_s - u0.sys_s;
    use.total_s += u1.total_s - u0.total_s;
  };
  alloc_loops::bench_pairs(ours, true, 1);  // warm-up of both
  alloc_loops::bench_pairs(cpy, true, 1);
  for (long r = 0; r < alloc_reps; r++) {
    bool ours_first = r % 2 == 0;
    auto pair = [&](const alloc_loops::Api& a, std::vector<double>& out) { out.push_back(alloc_loops::bench_pairs(a, true, 1)); };
    if (ours_first) {
      pair(ours, warm_ours);
      pair(cpy, warm_cpy);
    } else {
      pair(cpy, warm_cpy);
      pair(ours, warm_ours);
    }
    for (size_t k = 0; k < alloc_loops::kNSweep; k++) {
      size_t sz = alloc_loops::kSweep[k];
      if (ours_first) {
        timed_bulk(ours, sz, bulk_ours[k], use_ours[k]);
        timed_bulk(cpy, sz, bulk_cpy[k], use_cpy[k]);
      } else {
        timed_bulk(cpy, sz, bulk_cpy[k], use_cpy[k]);
        timed_bulk(ours, sz, bulk_ours[k], use_ours[k]);
      }
    }
  }

  std::string version = cpk_version();
  version = version.substr(0, version.find(' '));
  std::printf("{\"cpython\":\"%s\",\"n_l1\":%ld,\"n_mem\":%ld,\"bulk_n\":%zu,\"kernels\":[", version.c_str(), n_l1, n_mem, v.size());
  for (size_t i = 0; i < ks.size(); i++) {
    std::printf("%s{\"id\":\"%s\",\"passes\":%ld,\"ns\":", i ? "," : "", ks[i].id.c_str(), ks[i].passes);
    print_array(ks[i].ns);
    std::printf("}");
  }
  std::printf("],\"warm\":{\"ours\":");
  print_array(warm_ours);
  std::printf(",\"cpython\":");
  print_array(warm_cpy);
  std::printf("},\"bulk\":[");
  for (size_t k = 0; k < alloc_loops::kNSweep; k++) {
    std::printf("%s{\"size\":%zu,\"ours\":", k ? "," : "", alloc_loops::kSweep[k]);
    print_array(bulk_ours[k]);
    std::printf(",\"cpython\":");
    print_array(bulk_cpy[k]);
    double blocks = double(v.size()) * double(alloc_reps);
    auto share = [](const Usage& u) { return u.total_s > 0 ? u.sys_s / u.total_s : 0.0; };
    std::printf(",\"faults_per_block\":{\"ours\":%.4f,\"cpython\":%.4f},\"kernel_share\":{\"ours\":%.3f,\"cpython\":%.3f}}",
                use_ours[k].faults / blocks, use_cpy[k].faults / blocks, share(use_ours[k]), share(use_cpy[k]));
  }
  std::printf("]}\n");
  return 0;
}
