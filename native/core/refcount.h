// refcount.h — Py_INCREF, Py_DECREF and family, with CPython 3.12's 64-bit semantics.
//
// Immortality (PEP 683, 64-bit): an object is immortal when the low 32 bits of ob_refcnt, read as
// int32, are negative. The stored immortal value is 0xFFFFFFFF.
//
//   Py_INCREF:  add 1 to the LOW 32-bit word; if it wraps to 0 (the word was 0xFFFFFFFF) do
//               nothing. The high word never changes: 0x1_00000005 -> 0x1_00000006,
//               0xFFFFFFFE -> 0xFFFFFFFF (now immortal), 0x80000000 -> 0x80000001.
//   Py_DECREF:  (Py_REF_DEBUG: if ob_refcnt <= 0 -> _Py_NegativeRefcount, BEFORE decrementing)
//               if immortal return; decrement the full 64-bit count; at 0 -> _Py_Dealloc
//               (never in the nodealloc build).
//
// The incref below is a 64-bit load / add / store with exactly those semantics rather than
// CPython's literal 32-bit store: a 32-bit store into the low half of a word that the next
// decref loads as 64 bits defeats store-to-load forwarding (measured 12x a plain increment).
// Py_INCREF_literal keeps CPython's literal form for the benchmarks only.
//
// Every function takes the Runtime first: the ref total and the stats are per runtime (there is
// no global state). The file/line of a debug-build negative refcount are the caller's.
#pragma once

#include "runtime.h"

RCL_BEGIN_NAMESPACE

inline constexpr Py_ssize_t _Py_IMMORTAL_REFCNT = 0xFFFFFFFF;

RCL_ALWAYS_INLINE bool _Py_IsImmortal(const PyObject* op) {
  return static_cast<int32_t>(static_cast<uint32_t>(op->ob_refcnt)) < 0;
}
RCL_ALWAYS_INLINE Py_ssize_t Py_REFCNT(const PyObject* op) { return op->ob_refcnt; }
// Py_SET_REFCNT is a no-op on immortal objects (3.12).
inline void Py_SET_REFCNT(PyObject* op, Py_ssize_t n) {
  if (_Py_IsImmortal(op)) return;
  op->ob_refcnt = n;
}
inline void _Py_SetImmortal(PyObject* op) { op->ob_refcnt = _Py_IMMORTAL_REFCNT; }

RCL_ALWAYS_INLINE void Py_INCREF(Runtime& rt, PyObject* op) {
  uint64_t rc = static_cast<uint64_t>(op->ob_refcnt);
  // Saturating add on the low word: skip when the low word is all ones.
  if (RCL_UNLIKELY(static_cast<uint32_t>(rc) == 0xFFFFFFFFu)) return;
  op->ob_refcnt = static_cast<Py_ssize_t>(rc + 1);  // low word < 2^32-1: no carry into high
#ifdef Py_STATS
  rt.stats.increfs++;  // also the ref total's increment (Runtime::total_refcount)
#endif
  (void)rt;
}

// CPython's literal form: 32-bit load, add, 32-bit store into ob_refcnt_split[0].
RCL_ALWAYS_INLINE void Py_INCREF_literal(Runtime& rt, PyObject* op) {
  uint32_t cur = op->ob_refcnt_split[0];
  uint32_t next = cur + 1;
  if (next == 0) return;
  op->ob_refcnt_split[0] = next;
#ifdef Py_STATS
  rt.stats.increfs++;  // also the ref total's increment (Runtime::total_refcount)
#endif
  (void)rt;
}

void _Py_Dealloc(Runtime& rt, PyObject* op);

RCL_ALWAYS_INLINE void Py_DECREF(Runtime& rt, PyObject* op, const char* file = __builtin_FILE(),
                                 int line = __builtin_LINE()) {
#ifdef Py_REF_DEBUG
  if (RCL_UNLIKELY(op->ob_refcnt <= 0)) {
    rt.negative_refcount(file, line, op);
    return;  // guarded: the error is pending and the count is left as it was
  }
#else
  (void)file;
  (void)line;
#endif
  if (_Py_IsImmortal(op)) return;
#ifdef Py_STATS
  rt.stats.decrefs++;  // also the ref total's decrement
#endif
#ifdef RCL_NODEALLOC
  // The talk's patched build: the count goes down, but reaching 0 never deallocates.
  --op->ob_refcnt;
  (void)rt;
#else
  if (--op->ob_refcnt == 0) _Py_Dealloc(rt, op);
#endif
}

RCL_ALWAYS_INLINE void Py_XINCREF(Runtime& rt, PyObject* op) {
  if (op != nullptr) Py_INCREF(rt, op);
}
RCL_ALWAYS_INLINE void Py_XDECREF(Runtime& rt, PyObject* op, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  if (op != nullptr) Py_DECREF(rt, op, file, line);
}
RCL_ALWAYS_INLINE PyObject* Py_NewRef(Runtime& rt, PyObject* op) {
  Py_INCREF(rt, op);
  return op;
}
// A new reference to an item read out of a container for the API's caller (getitem, getattr).
// Guarded: an item freed behind its container's back (an extra Py_DECREF) is
// ERR_USE_AFTER_FREE and nullptr — the incref would write into a freed block.
RCL_ALWAYS_INLINE PyObject* new_ref_to_item(Runtime& rt, PyObject* item) {
  if (RCL_UNLIKELY(rt.guard) && rt.checked_object(reinterpret_cast<uintptr_t>(item)) == nullptr) return nullptr;
  return Py_NewRef(rt, item);
}
RCL_ALWAYS_INLINE PyObject* Py_XNewRef(Runtime& rt, PyObject* op) {
  Py_XINCREF(rt, op);
  return op;
}
// Py_CLEAR: store NULL first, then release the old value (re-entrant destructors see NULL).
template <typename T>
RCL_ALWAYS_INLINE void Py_CLEAR(Runtime& rt, T*& slot, const char* file = __builtin_FILE(),
                                int line = __builtin_LINE()) {
  T* old = slot;
  if (old != nullptr) {
    slot = nullptr;
    Py_DECREF(rt, reinterpret_cast<PyObject*>(old), file, line);
  }
}
// Py_SETREF / Py_XSETREF: store the new (stolen) value, then release the old one.
RCL_ALWAYS_INLINE void Py_SETREF(Runtime& rt, PyObject*& dst, PyObject* src,
                                 const char* file = __builtin_FILE(),
                                 int line = __builtin_LINE()) {
  PyObject* old = dst;
  dst = src;
  Py_DECREF(rt, old, file, line);
}
RCL_ALWAYS_INLINE void Py_XSETREF(Runtime& rt, PyObject*& dst, PyObject* src,
                                  const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  PyObject* old = dst;
  dst = src;
  Py_XDECREF(rt, old, file, line);
}
// The exported function forms (ctypes' Py_IncRef / Py_DecRef): NULL-tolerant.
void Py_IncRef(Runtime& rt, PyObject* op);
void Py_DecRef(Runtime& rt, PyObject* op);

RCL_END_NAMESPACE
