// gc.h — the generational cycle collector's state and entry points (CPython 3.12 gcmodule).
//
// State invariants (outside a collection):
//   every tracked object is in exactly one of generations[0..2] or permanent
//   for each tracked op: _gc_next != 0, (_gc_next & NEXT_MASK_UNREACHABLE) == 0,
//                        (_gc_prev & _PyGC_PREV_MASK_COLLECTING) == 0
//   generations[0].count == GC allocations - GC frees since gen 0 was last collected (>= 0)
//   generations[g].count (g >= 1) == collections of generation g-1 since gen g was collected
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "object.h"

RCL_BEGIN_NAMESPACE

inline constexpr int NUM_GENERATIONS = 3;

// gc.set_debug flags: DEBUG_STATS, DEBUG_COLLECTABLE, ... (RCL_GC_DEBUG_FLAGS, schema.h).
#define RCL_X(name, value) inline constexpr int DEBUG_##name = value;
RCL_GC_DEBUG_FLAGS(RCL_X)
#undef RCL_X
static_assert(DEBUG_LEAK == (DEBUG_COLLECTABLE | DEBUG_UNCOLLECTABLE | DEBUG_SAVEALL));

struct gc_generation {
  PyGC_Head head;  // sentinel of a circular doubly linked list (no flag bits)
  int threshold;
  int count;
};

struct gc_generation_stats {
  Py_ssize_t collections;
  Py_ssize_t collected;
  Py_ssize_t uncollectable;
};

struct GCState {
  gc_generation generations[NUM_GENERATIONS];
  gc_generation permanent_generation;
  gc_generation_stats generation_stats[NUM_GENERATIONS];
  int enabled = 1;
  int debug = 0;
  int collecting = 0;
  bool scheduled = false;  // set by _PyObject_GC_Link; run at the next safe point
  PyObject* garbage = nullptr;  // gc.garbage: a list owned by the runtime
  Py_ssize_t long_lived_total = 0;
  Py_ssize_t long_lived_pending = 0;
};

void gc_init(GCState& gc);

// Tracking (PyObject_GC_Track / UnTrack / IsTracked / IsFinalized).
void _PyObject_GC_TRACK(Runtime& rt, PyObject* op);
void _PyObject_GC_UNTRACK(PyObject* op);
inline bool _PyObject_GC_IS_TRACKED(PyObject* op) { return _Py_AS_GC(op)->_gc_next != 0; }
inline bool _PyGC_FINALIZED(PyObject* op) {
  return (_Py_AS_GC(op)->_gc_prev & _PyGC_PREV_MASK_FINALIZED) != 0;
}
inline void _PyGC_SET_FINALIZED(PyObject* op) {
  _Py_AS_GC(op)->_gc_prev |= _PyGC_PREV_MASK_FINALIZED;
}
// Which generation a tracked object is in: 0..2, 3 = permanent, -1 = untracked.
int gc_generation_of(Runtime& rt, PyObject* op);

// Allocation accounting: +1 on every GC allocation (may schedule a collection), -1 on GC free.
void _PyObject_GC_Link(Runtime& rt);
void _PyObject_GC_Unlink_count(Runtime& rt);

// gc.collect(generation): returns unreachable objects found, 0 when already collecting, -1 with
// a pending error when generation is out of range.
Py_ssize_t gc_collect(Runtime& rt, int generation);
// The automatic collection chosen by the thresholds (gc_collect_generations); called at safe
// points when gc.scheduled is set.
void gc_run_scheduled(Runtime& rt);

// gc module helpers.
std::vector<PyObject*> gc_get_objects(Runtime& rt, int generation);  // -1 = all three
std::vector<PyObject*> gc_get_referrers(Runtime& rt, const std::vector<PyObject*>& objs);
std::vector<PyObject*> gc_get_referents(Runtime& rt, const std::vector<PyObject*>& objs);
void gc_freeze(Runtime& rt);
void gc_unfreeze(Runtime& rt);
Py_ssize_t gc_get_freeze_count(Runtime& rt);
Py_ssize_t gc_list_size(PyGC_Head* list);

RCL_END_NAMESPACE
