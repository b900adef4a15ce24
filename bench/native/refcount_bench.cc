// refcount_bench.cc — Py_INCREF+Py_DECREF pairs of the three builds vs the physical limit.
//
//   Built by the suite (lib/bench/native.ts); by hand, from the repository root:
//   for b in release debug nodealloc; do
//     g++ -std=c++17 -O2 -DRCL_BUILD_${b^^} -Inative/core -c bench/native/refcount_kernels.cc
//         -o build/bench/kernels_$b.o; done
//   g++ -std=c++17 -O2 bench/native/refcount_bench.cc build/bench/kernels_*.o
//       build/Release/obj.target/refcount_*/native/core/**/*.o -o build/bench/refcount_bench
//   (the suite links node-gyp's core objects of the three builds when present, else it
//   compiles native/core itself)
//
// One process holds all three builds (each in its own inline namespace), so every ratio is
// computed from measurements taken in the same process, in the same repetition, over the same
// objects. Kernels (ns per pair = one increment + one decrement of one object's count):
//   plain        ++/-- of the 64-bit ob_refcnt: the physical limit (the anchor)
//   <build>      Py_INCREF ; barrier ; Py_DECREF of that build
//   literal      CPython 3.12's literal Py_INCREF (32-bit store) + Py_DECREF, release build
//   atomic       std::atomic<int64_t> fetch_add / fetch_sub on ob_refcnt
//   shared_ptr   copy of a std::shared_ptr then its destruction (one control block per object)
// Object sets: l1 (a few hundred objects, in L1/L2, allocation order), mem (millions of
// objects, far larger than the last-level cache, visited in a shuffled order), imm (the l1 set
// made immortal).
//
// Usage:
//   refcount_bench --suite [--n-l1 N] [--n-mem N] [--reps R] [--target-ms T]   -> JSON on stdout
//   refcount_bench --create-drop N [--reps R]   -> the core's create+drop loop, ns/iteration
//   refcount_bench --only KERNEL.SET --passes P [--n-l1 N] [--n-mem N]          -> one kernel,
//       for perf stat / callgrind (P = 0 runs only the setup, to subtract it)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#define RCB_BARRIER() asm volatile("" ::: "memory")

#define RCB_DECLARE(b)                                                               \
  void* rcb_runtime_new_##b();                                                       \
  void rcb_objects_new_##b(void* rt, void** out, long n, int immortal);              \
  int64_t rcb_ref_total_##b(void* rt);                                               \
  void rcb_pair_##b(void* rt, void* const* objs, long n, long passes);               \
  void rcb_pair_literal_##b(void* rt, void* const* objs, long n, long passes);        \
  double rcb_create_drop_##b(long n);

extern "C" {
RCB_DECLARE(release)
RCB_DECLARE(debug)
RCB_DECLARE(nodealloc)

// Build-independent kernels: they touch only the 64-bit word at offset 0 (ob_refcnt).
__attribute__((noinline)) void rcb_plain(void*, void* const* objs, long n, long passes) {
  for (long p = 0; p < passes; p++) {
    for (long i = 0; i < n; i++) {
      int64_t* rc = static_cast<int64_t*>(objs[i]);
      ++*rc;
      RCB_BARRIER();
      --*rc;
    }
  }
}

__attribute__((noinline)) void rcb_atomic(void*, void* const* objs, long n, long passes) {
  for (long p = 0; p < passes; p++) {
    for (long i = 0; i < n; i++) {
      auto* rc = static_cast<std::atomic<int64_t>*>(objs[i]);
      rc->fetch_add(1, std::memory_order_relaxed);
      RCB_BARRIER();
      rc->fetch_sub(1, std::memory_order_acq_rel);  // what shared_ptr's release does
    }
  }
}

// objs holds std::shared_ptr<int64_t>* here.
__attribute__((noinline)) void rcb_shared(void*, void* const* objs, long n, long passes) {
  for (long p = 0; p < passes; p++) {
    for (long i = 0; i < n; i++) {
      std::shared_ptr<int64_t> copy(*static_cast<const std::shared_ptr<int64_t>*>(objs[i]));
      RCB_BARRIER();
      copy.reset();
    }
  }
}
}

static_assert(sizeof(std::atomic<int64_t>) == 8 && std::atomic<int64_t>::is_always_lock_free,
              "atomic<int64_t> overlays ob_refcnt");

namespace {

using KernelFn = void (*)(void*, void* const*, long, long);

struct Kernel {
  std::string id;  // kernel.set
  KernelFn fn;
  void* rt;
  const std::vector<void*>* objs;
  long passes = 1;
  std::vector<double> ns;
};

double now_ns() {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count());
}

double time_once(Kernel& k) {
  long n = long(k.objs->size());
  double t0 = now_ns();
  k.fn(k.rt, k.objs->data(), n, k.passes);
  return (now_ns() - t0) / (double(n) * double(k.passes));
}

long arg_long(int argc, char** argv, const char* name, long dflt) {
  for (int i = 1; i + 1 < argc; i++)
    if (std::strcmp(argv[i], name) == 0) return std::atol(argv[i + 1]);
  return dflt;
}
const char* arg_str(int argc, char** argv, const char* name) {
  for (int i = 1; i + 1 < argc; i++)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return nullptr;
}
bool has_flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; i++)
    if (std::strcmp(argv[i], name) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const long n_l1 = arg_long(argc, argv, "--n-l1", 512);
  const long n_mem = arg_long(argc, argv, "--n-mem", 4000000);
  const long reps = std::max(1L, arg_long(argc, argv, "--reps", 7));
  const double target_ms = double(arg_long(argc, argv, "--target-ms", 20));
  // --create-drop N: the core's create+drop loop (release build), --reps times, as JSON.
  if (const char* cd = arg_str(argc, argv, "--create-drop")) {
    long n = std::atol(cd);
    long reps = arg_str(argc, argv, "--reps") ? std::atol(arg_str(argc, argv, "--reps")) : 5;
    std::printf("{\"create_drop\":[");
    rcb_create_drop_release(n / 10 + 1);  // warm-up
    for (long r = 0; r < reps; r++) std::printf("%s%.4f", r ? "," : "", rcb_create_drop_release(n));
    std::printf("]}\n");
    return 0;
  }
  const char* only = arg_str(argc, argv, "--only");
  if (!only && !has_flag(argc, argv, "--suite")) {
    std::fprintf(stderr, "usage: refcount_bench --suite [...] | --only KERNEL.SET --passes P\n");
    return 2;
  }

  void* rt_release = rcb_runtime_new_release();
  void* rt_debug = rcb_runtime_new_debug();
  void* rt_nodealloc = rcb_runtime_new_nodealloc();

  // One set of objects (allocated by the release runtime) serves every kernel: the kernels
  // touch only ob_refcnt and never take a count to 0. Each build's kernel updates its own
  // runtime's counters (ref total, stats) as it would for its own objects.
  std::vector<void*> l1(static_cast<size_t>(n_l1)), imm(static_cast<size_t>(n_l1));
  rcb_objects_new_release(rt_release, l1.data(), n_l1, 0);
  rcb_objects_new_release(rt_release, imm.data(), n_l1, 1);
  bool need_mem = !only || std::strstr(only, ".mem") != nullptr;
  std::vector<void*> mem;
  std::mt19937_64 rng(12345);
  if (need_mem) {
    mem.resize(size_t(n_mem));
    rcb_objects_new_release(rt_release, mem.data(), n_mem, 0);
    std::shuffle(mem.begin(), mem.end(), rng);
  }
  // shared_ptr sets: one control block per object (make_shared), same sizes, same orders.
  auto make_shared_set = [&](long n, bool shuffle) {
    auto* owners = new std::vector<std::shared_ptr<int64_t>>();
    owners->reserve(size_t(n));
    for (long i = 0; i < n; i++) owners->push_back(std::make_shared<int64_t>(i));
    auto* v = new std::vector<void*>();
    for (auto& sp : *owners) v->push_back(&sp);
    if (shuffle) std::shuffle(v->begin(), v->end(), rng);
    return v;
  };
  bool need_sp = !only || std::strncmp(only, "shared_ptr.", 11) == 0;
  std::vector<void*>* sp_l1 = need_sp ? make_shared_set(n_l1, false) : nullptr;
  std::vector<void*>* sp_mem = need_sp && need_mem ? make_shared_set(n_mem, true) : nullptr;

  const int64_t debug_total0 = rcb_ref_total_debug(rt_debug);
  std::vector<Kernel> ks;
  auto add = [&](const char* kernel, const char* set, KernelFn fn, void* rt, const std::vector<void*>* objs) {
    if (objs == nullptr) return;
    ks.push_back(Kernel{std::string(kernel) + "." + set, fn, rt, objs, 1, {}});
  };
  for (int s = 0; s < 2; s++) {
    const char* set = s == 0 ? "l1" : "mem";
    const std::vector<void*>* objs = s == 0 ? &l1 : (need_mem ? &mem : nullptr);
    add("plain", set, rcb_plain, nullptr, objs);
    add("release", set, rcb_pair_release, rt_release, objs);
    add("debug", set, rcb_pair_debug, rt_debug, objs);
    add("nodealloc", set, rcb_pair_nodealloc, rt_nodealloc, objs);
    add("literal", set, rcb_pair_literal_release, rt_release, objs);
    add("atomic", set, rcb_atomic, nullptr, objs);
    add("shared_ptr", set, rcb_shared, nullptr, s == 0 ? sp_l1 : sp_mem);
  }
  add("plain", "imm", rcb_plain, nullptr, &imm);
  add("release", "imm", rcb_pair_release, rt_release, &imm);

  if (only) {
    long passes = arg_long(argc, argv, "--passes", 1);
    for (auto& k : ks) {
      if (k.id == only) {
        k.passes = passes;
        if (passes > 0) time_once(k);
        std::printf("{\"id\":\"%s\",\"pairs\":%ld}\n", k.id.c_str(), passes * long(k.objs->size()));
        return 0;
      }
    }
    std::fprintf(stderr, "unknown kernel %s\n", only);
    return 2;
  }

  // Warm-up and calibration: grow passes until one timing takes target_ms.
  for (auto& k : ks) {
    long n = long(k.objs->size());
    k.passes = 1;
    for (;;) {
      double t = time_once(k) * double(n) * double(k.passes) / 1e6;  // ms
      if (t >= target_ms || k.passes > (1L << 40)) break;
      double grow = t > 0.05 ? target_ms / t * 1.1 : 16.0;
      k.passes = std::max(k.passes + 1, long(double(k.passes) * std::min(grow, 16.0)));
    }
  }
  // Repetitions: every kernel once per repetition, the starting kernel rotated each time so
  // that no kernel always runs right after the same neighbour.
  for (long r = 0; r < reps; r++) {
    size_t start = size_t(r) % ks.size();
    for (size_t j = 0; j < ks.size(); j++) {
      Kernel& k = ks[(start + j) % ks.size()];
      k.ns.push_back(time_once(k));
    }
  }
  // The counts must be back where they started (every pair is balanced).
  if (rcb_ref_total_debug(rt_debug) != debug_total0) {
    std::fprintf(stderr, "debug ref total moved: %lld -> %lld\n", (long long)debug_total0,
                 (long long)rcb_ref_total_debug(rt_debug));
    return 1;
  }
  std::printf("{\"n_l1\":%ld,\"n_mem\":%ld,\"reps\":%ld,\"kernels\":[", n_l1, n_mem, reps);
  for (size_t i = 0; i < ks.size(); i++) {
    std::printf("%s{\"id\":\"%s\",\"passes\":%ld,\"ns\":[", i ? "," : "", ks[i].id.c_str(), ks[i].passes);
    for (size_t j = 0; j < ks[i].ns.size(); j++) std::printf("%s%.4f", j ? "," : "", ks[i].ns[j]);
    std::printf("]}");
  }
  std::printf("]}\n");
  return 0;
}
