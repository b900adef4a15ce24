// gc.cc — CPython 3.12's generational cycle collector, one Runtime at a time.
//
// collect(generation) is the algorithm; each phase is a function with its pre/post conditions.
// In builds with asserts (debug, expensive checks) validate_list runs between phases.
//
//   update_refs        gc_refs := ob_refcnt for every object of `young` (immortals -> permanent)
//   subtract_refs      gc_refs -= references from inside `young`   => refs from outside remain
//   move_unreachable   gc_refs == 0 and not reachable from a gc_refs > 0 object -> unreachable
//   untrack_tuples / untrack_dicts, promote survivors
//   legacy finalizers  tp_del objects and all they reach -> uncollectable (gc.garbage)
//   handle_weakrefs    clear weakrefs to the trash; run callbacks of weakrefs that survive
//   finalize_garbage   PEP 442 tp_finalize, once per object (FINALIZED bit)
//   resurrection       rerun the deduction on the trash; what is reachable again survives
//   delete_garbage     tp_clear each object (or save it with DEBUG_SAVEALL)
#include "gc.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "refcount.h"

RCL_BEGIN_NAMESPACE

// =============================================================================================
// PyGC_Head helpers
// =============================================================================================

static inline PyGC_Head* GC_NEXT(PyGC_Head* g) { return reinterpret_cast<PyGC_Head*>(g->_gc_next); }
static inline PyGC_Head* GC_PREV(PyGC_Head* g) {
  return reinterpret_cast<PyGC_Head*>(g->_gc_prev & _PyGC_PREV_MASK);
}
static inline void SET_PREV(PyGC_Head* g, PyGC_Head* p) {
  g->_gc_prev = (g->_gc_prev & ~_PyGC_PREV_MASK) | reinterpret_cast<uintptr_t>(p);
}
static inline void SET_NEXT(PyGC_Head* g, PyGC_Head* n) { g->_gc_next = reinterpret_cast<uintptr_t>(n); }

static inline bool gc_is_collecting(PyGC_Head* g) {
  return (g->_gc_prev & _PyGC_PREV_MASK_COLLECTING) != 0;
}
static inline void gc_clear_collecting(PyGC_Head* g) { g->_gc_prev &= ~_PyGC_PREV_MASK_COLLECTING; }
static inline Py_ssize_t gc_get_refs(PyGC_Head* g) {
  return static_cast<Py_ssize_t>(g->_gc_prev >> _PyGC_PREV_SHIFT);
}
static inline void gc_set_refs(PyGC_Head* g, Py_ssize_t refs) {
  g->_gc_prev = (g->_gc_prev & ~_PyGC_PREV_MASK) | (static_cast<uintptr_t>(refs) << _PyGC_PREV_SHIFT);
}
// gc_refs := refcnt, COLLECTING set, FINALIZED kept.
static inline void gc_reset_refs(PyGC_Head* g, Py_ssize_t refs) {
  g->_gc_prev = (g->_gc_prev & _PyGC_PREV_MASK_FINALIZED) | _PyGC_PREV_MASK_COLLECTING |
                (static_cast<uintptr_t>(refs) << _PyGC_PREV_SHIFT);
}

// =============================================================================================
// Lists (circular, doubly linked through the PyGC_Heads; the head is a sentinel)
// =============================================================================================

static void gc_list_init(PyGC_Head* list) {
  list->_gc_prev = reinterpret_cast<uintptr_t>(list);
  list->_gc_next = reinterpret_cast<uintptr_t>(list);
}
static bool gc_list_is_empty(PyGC_Head* list) { return list->_gc_next == reinterpret_cast<uintptr_t>(list); }

static void gc_list_append(PyGC_Head* node, PyGC_Head* list) {
  PyGC_Head* last = reinterpret_cast<PyGC_Head*>(list->_gc_prev);
  SET_PREV(node, last);
  SET_NEXT(last, node);
  SET_NEXT(node, list);
  list->_gc_prev = reinterpret_cast<uintptr_t>(node);
}

static void gc_list_move(PyGC_Head* node, PyGC_Head* list) {
  PyGC_Head* from_prev = GC_PREV(node);
  PyGC_Head* from_next = GC_NEXT(node);
  SET_NEXT(from_prev, from_next);
  SET_PREV(from_next, from_prev);
  PyGC_Head* to_prev = reinterpret_cast<PyGC_Head*>(list->_gc_prev);
  SET_PREV(node, to_prev);
  SET_NEXT(to_prev, node);
  list->_gc_prev = reinterpret_cast<uintptr_t>(node);
  SET_NEXT(node, list);
}

// Appends all of `from` to `to`; `from` becomes empty.
static void gc_list_merge(PyGC_Head* from, PyGC_Head* to) {
  if (gc_list_is_empty(from)) return;
  PyGC_Head* to_tail = GC_PREV(to);
  PyGC_Head* from_head = GC_NEXT(from);
  PyGC_Head* from_tail = GC_PREV(from);
  SET_NEXT(to_tail, from_head);
  SET_PREV(from_head, to_tail);
  SET_NEXT(from_tail, to);
  SET_PREV(to, from_tail);
  gc_list_init(from);
}

Py_ssize_t gc_list_size(PyGC_Head* list) {
  Py_ssize_t n = 0;
  for (PyGC_Head* g = GC_NEXT(list); g != list; g = GC_NEXT(g)) n++;
  return n;
}

// validate_list: the list is well formed and every member has the expected flags.
#ifdef RCL_ASSERTS_ON
static void validate_list(Runtime& rt, PyGC_Head* head, uintptr_t collecting, uintptr_t unreachable) {
  PyGC_Head* prev = head;
  PyGC_Head* g = reinterpret_cast<PyGC_Head*>(head->_gc_next & ~NEXT_MASK_UNREACHABLE);
  while (g != head) {
    if (GC_PREV(g) != prev || (g->_gc_prev & _PyGC_PREV_MASK_COLLECTING) != collecting ||
        (g->_gc_next & NEXT_MASK_UNREACHABLE) != unreachable) {
      rt.fatal("Fatal Python error: validate_list: gc list corrupted\n");
    }
    prev = g;
    g = reinterpret_cast<PyGC_Head*>(g->_gc_next & ~NEXT_MASK_UNREACHABLE);
  }
  if (GC_PREV(head) != prev) rt.fatal("Fatal Python error: validate_list: gc list tail corrupted\n");
}
#define VALIDATE(rt, list, c, u) validate_list(rt, list, c, u)
#else
#define VALIDATE(rt, list, c, u) ((void)0)
#endif

// =============================================================================================
// Tracking and accounting
// =============================================================================================

void gc_init(GCState& gc) {
  const int thresholds[NUM_GENERATIONS] = {700, 10, 10};
  for (int i = 0; i < NUM_GENERATIONS; i++) {
    gc_list_init(&gc.generations[i].head);
    gc.generations[i].threshold = thresholds[i];
    gc.generations[i].count = 0;
    gc.generation_stats[i] = {0, 0, 0};
  }
  gc_list_init(&gc.permanent_generation.head);
  gc.permanent_generation.threshold = 0;
  gc.permanent_generation.count = 0;
}

void _PyObject_GC_TRACK(Runtime& rt, PyObject* op) {
  PyGC_Head* g = _Py_AS_GC(op);
  gc_list_append(g, &rt.gc.generations[0].head);
}

void _PyObject_GC_UNTRACK(PyObject* op) {
  PyGC_Head* g = _Py_AS_GC(op);
  if (g->_gc_next == 0) return;  // allowed: the trashcan may untrack twice
  PyGC_Head* prev = GC_PREV(g);
  PyGC_Head* next = reinterpret_cast<PyGC_Head*>(g->_gc_next & ~NEXT_MASK_UNREACHABLE);
  prev->_gc_next = (prev->_gc_next & NEXT_MASK_UNREACHABLE) | reinterpret_cast<uintptr_t>(next);
  SET_PREV(next, prev);
  g->_gc_next = 0;
  g->_gc_prev &= _PyGC_PREV_MASK_FINALIZED;
}

void _PyObject_GC_Link(Runtime& rt) {
  GCState& gc = rt.gc;
  gc.generations[0].count++;
  if (gc.generations[0].count > gc.generations[0].threshold && gc.enabled &&
      gc.generations[0].threshold && !gc.collecting && !rt.has_error())
    gc.scheduled = true;
}

void _PyObject_GC_Unlink_count(Runtime& rt) {
  if (rt.gc.generations[0].count > 0) rt.gc.generations[0].count--;
}

int gc_generation_of(Runtime& rt, PyObject* op) {
  if (!PyObject_IS_GC(op) || !_PyObject_GC_IS_TRACKED(op)) return -1;
  // Walk forward to the list's sentinel: the sentinel tells the generation.
  PyGC_Head* g = _Py_AS_GC(op);
  for (PyGC_Head* p = GC_NEXT(g);; p = GC_NEXT(p)) {
    for (int i = 0; i < NUM_GENERATIONS; i++)
      if (p == &rt.gc.generations[i].head) return i;
    if (p == &rt.gc.permanent_generation.head) return NUM_GENERATIONS;
    if (p == g) return -1;
  }
}

// =============================================================================================
// deduce_unreachable
// =============================================================================================

struct DecrefArg {
  Runtime* rt;
  bool failed;
};

// update_refs: gc_refs := ob_refcnt; immortal tracked objects move to the permanent generation.
static void update_refs(Runtime& rt, PyGC_Head* containers) {
  PyGC_Head* next;
  for (PyGC_Head* g = GC_NEXT(containers); g != containers; g = next) {
    next = GC_NEXT(g);
    PyObject* op = _Py_FROM_GC(g);
    if (_Py_IsImmortal(op)) {
      gc_clear_collecting(g);  // set when a finalizer made a garbage object immortal
      gc_list_move(g, &rt.gc.permanent_generation.head);
      continue;
    }
    gc_reset_refs(g, Py_REFCNT(op));
  }
}

// The visit functions are always inlined where traverse<> calls them (they are also passed as
// visitprocs to the other types' tp_traverse).
RCL_ALWAYS_INLINE static int visit_decref(PyObject* op, void* arg) {
  auto* a = static_cast<DecrefArg*>(arg);
  if (!PyObject_IS_GC(op)) return 0;
  PyGC_Head* g = _Py_AS_GC(op);
  if (!gc_is_collecting(g)) return 0;
  if (RCL_UNLIKELY(gc_get_refs(g) <= 0) && (kRefDebug || a->rt->guard)) {
    // The object has more references from inside the generation than its refcount says:
    // someone released a reference it did not own. CPython's debug build asserts here.
    a->rt->refcount_too_small(__FILE__, __LINE__, op);
    a->failed = true;
    return 1;
  }
  g->_gc_prev -= uintptr_t{1} << _PyGC_PREV_SHIFT;
  return 0;
}

// tp_traverse with the visit function known at compile time: for heap-class instances (the
// common container) the traversal is inlined, with no indirect call per reference.
template <int (*Visit)(PyObject*, void*)>
RCL_ALWAYS_INLINE int traverse(PyObject* op, void* arg) {
  PyTypeObject* tp = Py_TYPE(op);
  if (tp->tp_kind == TypeKind::Instance)
    return instance_traverse(op, [arg](PyObject* o) { return Visit(o, arg); });
  return tp->tp_traverse(op, Visit, arg);
}

// subtract_refs: for each object, every reference it holds to an object of the same collection
// is subtracted. Returns false (guarded) when a refcount is too small.
static bool subtract_refs(Runtime& rt, PyGC_Head* containers) {
  DecrefArg arg{&rt, false};
  for (PyGC_Head* g = GC_NEXT(containers); g != containers; g = GC_NEXT(g)) {
    traverse<visit_decref>(_Py_FROM_GC(g), &arg);
    if (arg.failed) return false;
  }
  return true;
}

RCL_ALWAYS_INLINE static int visit_reachable(PyObject* op, void* arg) {
  PyGC_Head* reachable = static_cast<PyGC_Head*>(arg);
  if (!PyObject_IS_GC(op)) return 0;
  PyGC_Head* g = _Py_AS_GC(op);
  // Objects outside the collection, and those already scanned, have no COLLECTING bit.
  if (!gc_is_collecting(g)) return 0;
  if (g->_gc_next & NEXT_MASK_UNREACHABLE) {
    // Tentatively unreachable, but reachable after all: back to the end of `young`, to be
    // scanned again.
    PyGC_Head* prev = GC_PREV(g);
    PyGC_Head* next = reinterpret_cast<PyGC_Head*>(g->_gc_next & ~NEXT_MASK_UNREACHABLE);
    prev->_gc_next = g->_gc_next;  // keeps the UNREACHABLE mark of the list
    SET_PREV(next, prev);
    gc_list_append(g, reachable);
    gc_set_refs(g, 1);
  } else if (gc_get_refs(g) == 0) {
    gc_set_refs(g, 1);  // not scanned yet: just tell the scan it is reachable
  }
  return 0;
}

// move_unreachable: pre: every object of young has COLLECTING and gc_refs = external refs.
// post: young holds the reachable objects (proper prev links, COLLECTING clear); unreachable
// holds the rest with COLLECTING and NEXT_MASK_UNREACHABLE set.
static void move_unreachable(PyGC_Head* young, PyGC_Head* unreachable) {
  PyGC_Head* prev = young;
  PyGC_Head* g = GC_NEXT(young);
  while (g != young) {
    if (gc_get_refs(g)) {
      PyObject* op = _Py_FROM_GC(g);
      traverse<visit_reachable>(op, young);
      SET_PREV(g, prev);
      gc_clear_collecting(g);
      prev = g;
    } else {
      prev->_gc_next = g->_gc_next;
      PyGC_Head* last = GC_PREV(unreachable);
      last->_gc_next = NEXT_MASK_UNREACHABLE | reinterpret_cast<uintptr_t>(g);
      SET_PREV(g, last);
      g->_gc_next = NEXT_MASK_UNREACHABLE | reinterpret_cast<uintptr_t>(unreachable);
      unreachable->_gc_prev = reinterpret_cast<uintptr_t>(g);
    }
    g = reinterpret_cast<PyGC_Head*>(prev->_gc_next);
  }
  young->_gc_prev = reinterpret_cast<uintptr_t>(prev);
  unreachable->_gc_next &= ~NEXT_MASK_UNREACHABLE;
}

// After a failed subtract_refs (guarded mode): relink `young` through its next pointers and
// drop the collection flags, so the heap is exactly as tracked before, minus the collection.
static void restore_list(PyGC_Head* young) {
  PyGC_Head* prev = young;
  for (PyGC_Head* g = GC_NEXT(young); g != young; g = GC_NEXT(g)) {
    g->_gc_prev = (g->_gc_prev & _PyGC_PREV_MASK_FINALIZED) | reinterpret_cast<uintptr_t>(prev);
    prev = g;
  }
  young->_gc_prev = reinterpret_cast<uintptr_t>(prev);
}

// `collecting`: the COLLECTING flag base's members carry on entry (set on the second pass, over
// the objects that were unreachable; update_refs sets it on every member anyway).
static bool deduce_unreachable(Runtime& rt, PyGC_Head* base, PyGC_Head* unreachable,
                               uintptr_t collecting = 0) {
  VALIDATE(rt, base, collecting, 0);
  (void)collecting;
  update_refs(rt, base);
  if (!subtract_refs(rt, base)) {
    restore_list(base);
    gc_list_init(unreachable);
    return false;
  }
  gc_list_init(unreachable);
  move_unreachable(base, unreachable);
  VALIDATE(rt, base, 0, 0);
  return true;
}

// Clears the UNREACHABLE mark of every member; returns how many there are (the collected
// count: one walk instead of CPython's second gc_list_size walk).
static Py_ssize_t clear_unreachable_mask(PyGC_Head* unreachable) {
  Py_ssize_t n = 0;
  for (PyGC_Head* g = GC_NEXT(unreachable); g != unreachable;) {
    g->_gc_next &= ~NEXT_MASK_UNREACHABLE;
    g = GC_NEXT(g);
    n++;
  }
  return n;
}

// =============================================================================================
// Survivors
// =============================================================================================

static void untrack_tuples(PyGC_Head* head) {
  PyGC_Head* next;
  for (PyGC_Head* g = GC_NEXT(head); g != head; g = next) {
    next = GC_NEXT(g);
    PyObject* op = _Py_FROM_GC(g);
    if (Py_TYPE(op)->tp_kind == TypeKind::Tuple) _PyTuple_MaybeUntrack(op);
  }
}

// untrack_dicts, and the number of objects left in the list: CPython walks the list again for
// that count (gc_list_size after untrack_dicts); one walk gives the same number.
static Py_ssize_t untrack_dicts_and_count(PyGC_Head* head) {
  Py_ssize_t n = 0;
  PyGC_Head* next;
  for (PyGC_Head* g = GC_NEXT(head); g != head; g = next) {
    next = GC_NEXT(g);
    PyObject* op = _Py_FROM_GC(g);
    if (Py_TYPE(op)->tp_kind == TypeKind::Dict) _PyDict_MaybeUntrack(op);
    n += _PyObject_GC_IS_TRACKED(op);
  }
  return n;
}

// =============================================================================================
// Legacy finalizers (tp_del): uncollectable
// =============================================================================================

static bool has_legacy_finalizer(PyObject* op) { return Py_TYPE(op)->tp_del != nullptr; }

// Also clears NEXT_MASK_UNREACHABLE: afterwards `unreachable` is an ordinary list.
// Returns how many objects stay in `unreachable` (move_legacy_finalizer_reachable may then move
// more).
static Py_ssize_t move_legacy_finalizers(PyGC_Head* unreachable, PyGC_Head* finalizers) {
  Py_ssize_t left = 0;
  PyGC_Head* next;
  for (PyGC_Head* g = GC_NEXT(unreachable); g != unreachable; g = next) {
    g->_gc_next &= ~NEXT_MASK_UNREACHABLE;
    next = GC_NEXT(g);
    if (has_legacy_finalizer(_Py_FROM_GC(g))) {
      gc_clear_collecting(g);
      gc_list_move(g, finalizers);
    } else {
      left++;
    }
  }
  return left;
}

static int visit_move(PyObject* op, void* arg) {
  if (!PyObject_IS_GC(op)) return 0;
  PyGC_Head* g = _Py_AS_GC(op);
  if (gc_is_collecting(g)) {
    gc_list_move(g, static_cast<PyGC_Head*>(arg));
    gc_clear_collecting(g);
  }
  return 0;
}

static void move_legacy_finalizer_reachable(PyGC_Head* finalizers) {
  for (PyGC_Head* g = GC_NEXT(finalizers); g != finalizers; g = GC_NEXT(g)) {
    PyObject* op = _Py_FROM_GC(g);
    Py_TYPE(op)->tp_traverse(op, visit_move, finalizers);
  }
}

static void handle_legacy_finalizers(Runtime& rt, PyGC_Head* finalizers, PyGC_Head* old) {
  for (PyGC_Head* g = GC_NEXT(finalizers); g != finalizers; g = GC_NEXT(g)) {
    PyObject* op = _Py_FROM_GC(g);
    if ((rt.gc.debug & DEBUG_SAVEALL) || has_legacy_finalizer(op))
      PyList_Append(rt, rt.gc.garbage, op);
  }
  gc_list_merge(finalizers, old);
}

// =============================================================================================
// Weakrefs, finalizers, resurrection, deletion
// =============================================================================================

// Clears every weakref to the trash (and every weakref that is trash); then calls the callbacks
// of the cleared weakrefs that are not trash themselves. Returns the weakrefs freed by that.
// Sets *ran_code when it called a callback.
static Py_ssize_t handle_weakrefs(Runtime& rt, PyGC_Head* unreachable, PyGC_Head* old, bool* ran_code) {
  PyGC_Head wrcb_to_call;
  gc_list_init(&wrcb_to_call);
  PyGC_Head* next;
  for (PyGC_Head* g = GC_NEXT(unreachable); g != unreachable; g = next) {
    PyObject* op = _Py_FROM_GC(g);
    next = GC_NEXT(g);
    if (Py_TYPE(op)->tp_kind == TypeKind::WeakRef)
      _PyWeakref_ClearRef(rt, reinterpret_cast<PyWeakReference*>(op));
    PyWeakReference** wrlist = weakref_list_slot(op);
    if (wrlist == nullptr) continue;
    for (PyWeakReference* wr = *wrlist; wr != nullptr; wr = *wrlist) {
      _PyWeakref_ClearRef(rt, wr);
      if (wr->wr_callback == 0) continue;
      PyGC_Head* wg = _Py_AS_GC(&wr->ob_base);
      if (gc_is_collecting(wg)) continue;  // the weakref is trash too: no callback
      Py_INCREF(rt, &wr->ob_base);
      gc_list_move(wg, &wrcb_to_call);
    }
  }
  Py_ssize_t num_freed = 0;
  while (!gc_list_is_empty(&wrcb_to_call)) {
    PyGC_Head* g = GC_NEXT(&wrcb_to_call);
    PyObject* op = _Py_FROM_GC(g);
    auto* wr = reinterpret_cast<PyWeakReference*>(op);
    uint32_t cb = wr->wr_callback;
    wr->wr_callback = 0;
    if (rt.host) {
      *ran_code = true;
      rt.host->call_weakref_callback(rt, cb, op);
      rt.host->forget_weakref_callback(rt, cb);
    }
    Py_DECREF(rt, op);
    if (wrcb_to_call._gc_next == reinterpret_cast<uintptr_t>(g))
      gc_list_move(g, old);  // still alive
    else
      ++num_freed;
  }
  return num_freed;
}

static bool needs_finalizer(PyGC_Head* g) {
  return !(g->_gc_prev & _PyGC_PREV_MASK_FINALIZED) && Py_TYPE(_Py_FROM_GC(g))->tp_finalize != nullptr;
}

// Returns whether it called a finalizer. Objects are moved to `seen` one by one (a finalizer
// may free or resurrect any of them) only from the first one that needs its finalizer: a
// collection without finalizers walks the list without rewriting it.
static bool finalize_garbage(Runtime& rt, PyGC_Head* collectable) {
  PyGC_Head* first = GC_NEXT(collectable);
  while (first != collectable && !needs_finalizer(first)) first = GC_NEXT(first);
  if (first == collectable) return false;
  PyGC_Head seen;
  gc_list_init(&seen);
  if (first != GC_NEXT(collectable)) {  // the objects before `first` need nothing: splice them
    PyGC_Head* head = GC_NEXT(collectable);
    PyGC_Head* last = GC_PREV(first);
    seen._gc_next = reinterpret_cast<uintptr_t>(head);
    SET_PREV(head, &seen);
    last->_gc_next = reinterpret_cast<uintptr_t>(&seen);
    SET_PREV(&seen, last);
    collectable->_gc_next = reinterpret_cast<uintptr_t>(first);
    SET_PREV(first, collectable);
  }
  while (!gc_list_is_empty(collectable)) {
    PyGC_Head* g = GC_NEXT(collectable);
    PyObject* op = _Py_FROM_GC(g);
    gc_list_move(g, &seen);
    destructor finalize = Py_TYPE(op)->tp_finalize;
    if (!(g->_gc_prev & _PyGC_PREV_MASK_FINALIZED) && finalize != nullptr) {
      g->_gc_prev |= _PyGC_PREV_MASK_FINALIZED;
      Py_INCREF(rt, op);
      finalize(rt, op);
      Py_DECREF(rt, op);
    }
  }
  gc_list_merge(&seen, collectable);
  return true;
}

// Returns the number of objects still unreachable. CPython first walks `unreachable` to clear
// COLLECTING; update_refs sets the flag again on every member before anything reads it, so
// that walk is left out. Only called when user code (a finalizer, a weakref callback, the debug
// sink) ran since the first deduction: otherwise nothing can have been resurrected.
static Py_ssize_t handle_resurrected_objects(Runtime& rt, PyGC_Head* unreachable,
                                             PyGC_Head* still_unreachable, PyGC_Head* old) {
  PyGC_Head* resurrected = unreachable;
  if (!deduce_unreachable(rt, resurrected, still_unreachable, _PyGC_PREV_MASK_COLLECTING)) {
    gc_list_merge(resurrected, old);  // guarded: refcounts are wrong, keep everything
    return 0;
  }
  Py_ssize_t n = clear_unreachable_mask(still_unreachable);
  gc_list_merge(resurrected, old);
  return n;
}

static void delete_garbage(Runtime& rt, PyGC_Head* collectable, PyGC_Head* old) {
  while (!gc_list_is_empty(collectable)) {
    PyGC_Head* g = GC_NEXT(collectable);
    PyObject* op = _Py_FROM_GC(g);
    if (rt.gc.debug & DEBUG_SAVEALL) {
      PyList_Append(rt, rt.gc.garbage, op);
    } else if (inquiry clear = Py_TYPE(op)->tp_clear) {
      Py_INCREF(rt, op);
      clear(rt, op);
      Py_DECREF(rt, op);
    }
    if (GC_NEXT(collectable) == g) {
      // Still alive (saved, or tp_clear did not free it): it may die later.
      gc_clear_collecting(g);
      gc_list_move(g, old);
    }
  }
}

// =============================================================================================
// Debug output
// =============================================================================================

// One "gc: collectable <A 0x...>" line per object of a gc list, written in ONE call after the
// walk: the sink is user code, which may free objects of the list being walked.
static void debug_cycles(Runtime& rt, const char* msg, PyGC_Head* list) {
  std::string text;
  for (PyGC_Head* g = GC_NEXT(list); g != list; g = GC_NEXT(g)) {
    PyObject* op = _Py_FROM_GC(g);
    char buf[256];
    std::snprintf(buf, sizeof buf, "gc: %s <%s 0x%" PRIxPTR ">\n", msg, Py_TYPE(op)->tp_name,
                  reinterpret_cast<uintptr_t>(op));
    text += buf;
  }
  if (!text.empty() && rt.host) rt.host->write_debug(rt, text);
}

static void show_stats_each_generations(Runtime& rt) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "gc: objects in each generation: %zd %zd %zd\n"
                "gc: objects in permanent generation: %zd\n",
                gc_list_size(&rt.gc.generations[0].head), gc_list_size(&rt.gc.generations[1].head),
                gc_list_size(&rt.gc.generations[2].head),
                gc_list_size(&rt.gc.permanent_generation.head));
  if (rt.host) rt.host->write_debug(rt, buf);
}

// =============================================================================================
// The collection
// =============================================================================================

static Py_ssize_t gc_collect_main(Runtime& rt, int generation) {
  ProvInternal tracked(rt.prov.get(), "gc collection of generation " + std::to_string(generation));
  GCState& gc = rt.gc;
  Py_ssize_t m = 0;  // objects collected
  Py_ssize_t n = 0;  // unreachable objects that could not be collected
  std::chrono::steady_clock::time_point t1;
  if (gc.debug & DEBUG_STATS) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "gc: collecting generation %d...\n", generation);
    if (rt.host) rt.host->write_debug(rt, buf);
    show_stats_each_generations(rt);
    t1 = std::chrono::steady_clock::now();
  }

  // Counters, then merge the younger generations into the one being collected.
  if (generation + 1 < NUM_GENERATIONS) gc.generations[generation + 1].count += 1;
  for (int i = 0; i <= generation; i++) gc.generations[i].count = 0;
  for (int i = 0; i < generation; i++)
    gc_list_merge(&gc.generations[i].head, &gc.generations[generation].head);

  PyGC_Head* young = &gc.generations[generation].head;
  PyGC_Head* old =
      generation < NUM_GENERATIONS - 1 ? &gc.generations[generation + 1].head : young;
  VALIDATE(rt, old, 0, 0);

  PyGC_Head unreachable;
  if (!deduce_unreachable(rt, young, &unreachable)) return 0;  // guarded: error pending

  untrack_tuples(young);
  if (young != old) {
    if (generation == NUM_GENERATIONS - 2) gc.long_lived_pending += gc_list_size(young);
    gc_list_merge(young, old);
  } else {
    // Dicts are untracked only by full collections (quadratic build-up otherwise).
    gc.long_lived_total = untrack_dicts_and_count(young);
    gc.long_lived_pending = 0;
  }

  PyGC_Head finalizers;
  gc_list_init(&finalizers);
  Py_ssize_t left = move_legacy_finalizers(&unreachable, &finalizers);
  move_legacy_finalizer_reachable(&finalizers);
  VALIDATE(rt, &finalizers, 0, 0);
  VALIDATE(rt, &unreachable, _PyGC_PREV_MASK_COLLECTING, 0);

  if (gc.debug & DEBUG_COLLECTABLE) debug_cycles(rt, "collectable", &unreachable);

  // The debug sink is user code too: it may take references to anything.
  bool ran_code = (gc.debug & DEBUG_COLLECTABLE) != 0 && !gc_list_is_empty(&unreachable);
  m += handle_weakrefs(rt, &unreachable, old, &ran_code);
  VALIDATE(rt, old, 0, 0);
  VALIDATE(rt, &unreachable, _PyGC_PREV_MASK_COLLECTING, 0);

  if (finalize_garbage(rt, &unreachable)) ran_code = true;

  // CPython deduces again within the trash whatever happened. When no user code ran since the
  // first deduction, no reference changed, so the second one would find the same set: it is
  // skipped (same objects, same flags: COLLECTING set, UNREACHABLE clear).
  PyGC_Head final_unreachable;
  if (ran_code) {
    m += handle_resurrected_objects(rt, &unreachable, &final_unreachable, old);
  } else {
    gc_list_init(&final_unreachable);
    gc_list_merge(&unreachable, &final_unreachable);
    // `left` is exact unless objects reachable from legacy finalizers moved out after it.
    m += gc_list_is_empty(&finalizers) ? left : gc_list_size(&final_unreachable);
  }
  delete_garbage(rt, &final_unreachable, old);

  n += gc_list_size(&finalizers);
  if (gc.debug & DEBUG_UNCOLLECTABLE) debug_cycles(rt, "uncollectable", &finalizers);
  if (gc.debug & DEBUG_STATS) {
    double d = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    char buf[128];
    std::snprintf(buf, sizeof buf, "gc: done, %zd unreachable, %zd uncollectable, %.4fs elapsed\n",
                  n + m, n, d);
    if (rt.host) rt.host->write_debug(rt, buf);
  }

  handle_legacy_finalizers(rt, &finalizers, old);
  VALIDATE(rt, old, 0, 0);

  // Only a collection of the oldest generation empties the free lists.
  if (generation == NUM_GENERATIONS - 1) rt.clear_freelists();

  gc_generation_stats& st = gc.generation_stats[generation];
  st.collections++;
  st.collected += m;
  st.uncollectable += n;
  return n + m;
}

static Py_ssize_t gc_collect_with_callback(Runtime& rt, int generation) {
  if (rt.host) rt.host->gc_callback(rt, "start", generation, 0, 0);
  Py_ssize_t before_collected = rt.gc.generation_stats[generation].collected;
  Py_ssize_t before_uncollectable = rt.gc.generation_stats[generation].uncollectable;
  Py_ssize_t result = gc_collect_main(rt, generation);
  if (rt.host)
    rt.host->gc_callback(rt, "stop", generation,
                         rt.gc.generation_stats[generation].collected - before_collected,
                         rt.gc.generation_stats[generation].uncollectable - before_uncollectable);
  return result;
}

Py_ssize_t gc_collect(Runtime& rt, int generation) {
  if (generation < 0 || generation >= NUM_GENERATIONS) {
    rt.set_error(ErrorCode::Value, "invalid generation", "ValueError");
    return -1;
  }
  if (rt.gc.collecting) return 0;  // already collecting: do nothing
  rt.gc.collecting = 1;
  Py_ssize_t n = gc_collect_with_callback(rt, generation);
  rt.gc.collecting = 0;
  return n;
}

// gc_collect_generations: the oldest generation over its threshold, except that a full
// collection waits until the long-lived pending objects exceed 25% of the long-lived total.
void gc_run_scheduled(Runtime& rt) {
  GCState& gc = rt.gc;
  gc.scheduled = false;
  if (!gc.enabled || gc.collecting) return;
  gc.collecting = 1;
  for (int i = NUM_GENERATIONS - 1; i >= 0; i--) {
    if (gc.generations[i].count > gc.generations[i].threshold) {
      if (i == NUM_GENERATIONS - 1 && gc.long_lived_pending < gc.long_lived_total / 4) continue;
      gc_collect_with_callback(rt, i);
      break;
    }
  }
  gc.collecting = 0;
}

// =============================================================================================
// gc module helpers
// =============================================================================================

std::vector<PyObject*> gc_get_objects(Runtime& rt, int generation) {
  std::vector<PyObject*> out;
  for (int i = 0; i < NUM_GENERATIONS; i++) {
    if (generation >= 0 && i != generation) continue;
    PyGC_Head* head = &rt.gc.generations[i].head;
    for (PyGC_Head* g = GC_NEXT(head); g != head; g = GC_NEXT(g)) out.push_back(_Py_FROM_GC(g));
  }
  return out;
}

struct ReferrersArg {
  const std::vector<PyObject*>* objs;
  bool found;
};

static int referrers_visit(PyObject* op, void* arg) {
  auto* a = static_cast<ReferrersArg*>(arg);
  for (PyObject* o : *a->objs)
    if (o == op) {
      a->found = true;
      return 1;
    }
  return 0;
}

std::vector<PyObject*> gc_get_referrers(Runtime& rt, const std::vector<PyObject*>& objs) {
  std::vector<PyObject*> out;
  for (int i = 0; i < NUM_GENERATIONS; i++) {
    PyGC_Head* head = &rt.gc.generations[i].head;
    for (PyGC_Head* g = GC_NEXT(head); g != head; g = GC_NEXT(g)) {
      PyObject* op = _Py_FROM_GC(g);
      ReferrersArg a{&objs, false};
      Py_TYPE(op)->tp_traverse(op, referrers_visit, &a);
      if (a.found) out.push_back(op);
    }
  }
  return out;
}

static int referents_visit(PyObject* op, void* arg) {
  static_cast<std::vector<PyObject*>*>(arg)->push_back(op);
  return 0;
}

std::vector<PyObject*> gc_get_referents(Runtime& rt, const std::vector<PyObject*>& objs) {
  (void)rt;
  std::vector<PyObject*> out;
  for (PyObject* op : objs) {
    if (!PyObject_IS_GC(op)) continue;
    Py_TYPE(op)->tp_traverse(op, referents_visit, &out);
  }
  return out;
}

void gc_freeze(Runtime& rt) {
  for (int i = 0; i < NUM_GENERATIONS; i++) {
    gc_list_merge(&rt.gc.generations[i].head, &rt.gc.permanent_generation.head);
    rt.gc.generations[i].count = 0;
  }
}

void gc_unfreeze(Runtime& rt) {
  gc_list_merge(&rt.gc.permanent_generation.head, &rt.gc.generations[NUM_GENERATIONS - 1].head);
}

Py_ssize_t gc_get_freeze_count(Runtime& rt) { return gc_list_size(&rt.gc.permanent_generation.head); }

RCL_END_NAMESPACE
