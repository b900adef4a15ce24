/* cpython_kernels.c — CPython 3.12's own Py_INCREF / Py_DECREF (from its Python.h) and its own
 * PyObject_Malloc / PyObject_Free (libpython3.12), for cpython_bench.cc. Compiled as C against
 * the interpreter's headers and linked with libpython3.12.so; the loop shapes are those of
 * refcount_kernels.cc (the pair, the barrier between incref and decref) and alloc_loops.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define CPK_BARRIER() __asm__ volatile("" ::: "memory")

/* An interpreter with no site import: its start-up objects fill pymalloc's pools, as in any
 * running CPython. Returns 0 when it could not start. */
int cpk_init(void) {
  Py_InitializeEx(0);
  return Py_IsInitialized();
}

const char* cpk_version(void) { return Py_GetVersion(); }

/* n heap ints (not the small-int cache): 32-byte pymalloc blocks, refcount 1. Same values as
 * refcount_kernels.cc's rcb_objects_new. */
void cpk_objects_new(void** out, long n) {
  for (long i = 0; i < n; i++) out[i] = PyLong_FromLong(100000 + i);
}

__attribute__((noinline)) void cpk_pair(void* rt, void* const* objs, long n, long passes) {
  (void)rt;
  for (long p = 0; p < passes; p++) {
    for (long i = 0; i < n; i++) {
      PyObject* op = (PyObject*)objs[i];
      Py_INCREF(op);
      CPK_BARRIER();
      Py_DECREF(op);
    }
  }
}

void* cpk_malloc(void* ctx, size_t n) {
  (void)ctx;
  return PyObject_Malloc(n);
}
void cpk_free(void* ctx, void* p) {
  (void)ctx;
  PyObject_Free(p);
}
