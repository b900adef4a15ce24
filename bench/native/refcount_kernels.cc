// refcount_kernels.cc — the build-specific refcount loops of refcount_bench.
//
// Compiled once per build (-DRCL_BUILD_RELEASE / _DEBUG / _NODEALLOC). Each copy lives in its
// build's inline namespace and exports extern "C" entry points suffixed with the build name, so
// the three copies link into ONE binary (refcount_bench.cc) and are timed in the same process,
// interleaved, over the same objects.
//
// A "pair" is Py_INCREF(op); <compiler barrier>; Py_DECREF(op) on every object of the set. The
// barrier (an empty asm with a memory clobber) stops the compiler from cancelling the two; it
// stands for the code that separates an incref from its decref in a real program, and it makes
// the decref load what the incref just stored (the store-to-load forwarding path).
#include <chrono>
#include <cstdint>

#include "refcount.h"
#include "runtime.h"
#include "types/types.h"

#define RCB_CAT2(a, b) a##_##b
#define RCB_CAT(a, b) RCB_CAT2(a, b)
#define RCB_NAME(x) RCB_CAT(x, RCL_BUILD_NS)
#define RCB_BARRIER() asm volatile("" ::: "memory")

using namespace rcl;

extern "C" {

// A runtime of this build, unguarded, plain pymalloc in every build (so the object layout is the
// same whichever build allocated it; the debug allocator's pads would change the cache footprint).
void* RCB_NAME(rcb_runtime_new)() {
  RuntimeOptions o;
  o.guard = false;
  o.allocator = AllocatorOptions{AllocatorKind::Pymalloc, ArenaSource::Mmap};
  return new Runtime(o, nullptr);
}

// n heap ints (not the small-int cache): 32-byte pymalloc blocks, refcount 1.
void RCB_NAME(rcb_objects_new)(void* rt, void** out, long n, int immortal) {
  Runtime& r = *static_cast<Runtime*>(rt);
  for (long i = 0; i < n; i++) {
    PyObject* op = PyLong_FromInt64(r, 100000 + i);
    if (immortal) _Py_SetImmortal(op);
    out[i] = op;
  }
}

int64_t RCB_NAME(rcb_ref_total)(void* rt) { return static_cast<Runtime*>(rt)->total_refcount(); }

RCL_NOINLINE void RCB_NAME(rcb_pair)(void* rt, void* const* objs, long n, long passes) {
  Runtime& r = *static_cast<Runtime*>(rt);
  for (long p = 0; p < passes; p++) {
    for (long i = 0; i < n; i++) {
      PyObject* op = static_cast<PyObject*>(objs[i]);
      Py_INCREF(r, op);
      RCB_BARRIER();
      Py_DECREF(r, op);
    }
  }
}

// CPython 3.12's literal incref (32-bit load/add/store of the low word), same decref.
RCL_NOINLINE void RCB_NAME(rcb_pair_literal)(void* rt, void* const* objs, long n, long passes) {
  Runtime& r = *static_cast<Runtime*>(rt);
  for (long p = 0; p < passes; p++) {
    for (long i = 0; i < n; i++) {
      PyObject* op = static_cast<PyObject*>(objs[i]);
      Py_INCREF_literal(r, op);
      RCB_BARRIER();
      Py_DECREF(r, op);
    }
  }
}

// The core's own cost of CPython's `o = Node(); o.x = 1; o.y = 2; del o`, with no JS boundary:
// cls(), two setattrs (interned names, immortal small ints), the last decref. ns per iteration.
double RCB_NAME(rcb_create_drop)(long n) {
  RuntimeOptions o;
  o.guard = false;
  o.allocator = AllocatorOptions{AllocatorKind::Pymalloc, ArenaSource::Mmap};
  Runtime r(o, nullptr);
  r.gc.enabled = 0;  // as the CPython loop: gc.disable() is not in it, but nothing is cyclic
  ClassOptions co;
  co.name = "Node";
  PyObject* cls = PyType_FromOptions(r, co);
  PyObject* x = PyUnicode_InternFromUTF8(r, "x");
  PyObject* y = PyUnicode_InternFromUTF8(r, "y");
  // One instance stays alive through the loop, so its pools (the instance's and its values')
  // stay in use, as in CPython, whose start-up objects fill every size class: otherwise each
  // drop would empty both pools and each create re-initialise them (pymalloc's worst case,
  // measured by alloc_bench's cold pair), which the CPython loop never pays. It is made once
  // the values size has settled (it shrinks with each of the class's first ~30 instances).
  PyObject* keep = nullptr;
  for (int i = 0; i < 64; i++) {
    Py_XDECREF(r, keep);
    keep = PyObject_CallClass(r, cls);
    PyObject_SetAttr(r, keep, x, r.small_int(1));
    PyObject_SetAttr(r, keep, y, r.small_int(2));
  }
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; i++) {
    PyObject* a = PyObject_CallClass(r, cls);
    PyObject_SetAttr(r, a, x, r.small_int(1));
    PyObject_SetAttr(r, a, y, r.small_int(2));
    Py_DECREF(r, a);
  }
  double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  Py_DECREF(r, keep);
  return ns / static_cast<double>(n);
}

}  // extern "C"
