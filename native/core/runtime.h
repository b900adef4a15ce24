// runtime.h — one Runtime is one interpreter's whole state. The core has no other state.
//
// A Runtime owns: its allocator (every byte of every object), its static type objects and
// immortal singletons (None, True, False, Ellipsis, NotImplemented, small ints -5..256, the empty
// and 1-character Latin-1 strings, the empty tuple), the ref total and Py_STATS counters, the
// gc state, the pending error, and — in guarded mode — the registry of live object addresses.
// Several Runtimes (of any build) coexist in one process and in worker threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "address_set.h"
#include "errors.h"
#include "gc.h"
#include "obmalloc.h"
#include "object.h"
#include "provenance.h"
#include "types/types.h"

RCL_BEGIN_NAMESPACE

// Py_STATS object counters: X(field, CPython's label in the stats dump). Compiled into every
// build so the layout is one; only the debug build (Py_STATS) updates them.
#define RCL_OBJECT_STATS(X)                                      \
  X(from_freelist, "Object allocations from freelist")           \
  X(to_freelist, "Object frees to freelist")                     \
  X(allocations, "Object allocations")                           \
  X(allocations512, "Object allocations to 512 bytes")           \
  X(allocations4k, "Object allocations to 4 kbytes")             \
  X(allocations_big, "Object allocations over 4 kbytes")         \
  X(frees, "Object frees")                                       \
  X(new_values, "Object new values")                             \
  X(interpreter_increfs, "Object interpreter increfs")           \
  X(interpreter_decrefs, "Object interpreter decrefs")           \
  X(increfs, "Object increfs")                                   \
  X(decrefs, "Object decrefs")

// The counters are `unsigned long long`, a type distinct from Py_SSIZE_T's `long` for alias
// analysis: a store to some ob_refcnt cannot change them, so the compiler need not reload them
// around every refcount operation of the debug build.
struct ObjectStats {
#define RCL_X(field, label) unsigned long long field = 0;
  RCL_OBJECT_STATS(RCL_X)
#undef RCL_X
};

// What the core asks of its embedder (the addon): calls into user code and output.
class Host {
 public:
  // A class's __del__ (tp_finalize). Exceptions are the host's to report as unraisable.
  virtual void call_finalizer(Runtime& rt, uint32_t class_host_id, PyObject* self) = 0;
  // A legacy tp_del (the class option); same contract.
  virtual void call_legacy_del(Runtime& rt, uint32_t class_host_id, PyObject* self) = 0;
  // A weakref callback; `wr` is the weakref object (alive for the call).
  virtual void call_weakref_callback(Runtime& rt, uint32_t callback_id, PyObject* wr) = 0;
  // A weakref with a callback died without the callback being called: the host drops it.
  virtual void forget_weakref_callback(Runtime& rt, uint32_t callback_id) = 0;
  // gc.callbacks, phase "start" / "stop".
  virtual void gc_callback(Runtime& rt, const char* phase, int generation, Py_ssize_t collected,
                           Py_ssize_t uncollectable) = 0;
  // gc.set_debug output and other diagnostics that CPython writes to stderr.
  virtual void write_debug(Runtime& rt, const std::string& text) = 0;

 protected:
  ~Host() = default;
};

// A free list kept in an array (lists, dicts, dict keys tables): last in, first out, at most N.
template <typename T, int N>
struct ArrayFreeList {
  std::array<T*, N> items{};
  int num = 0;
  T* pop() { return num > 0 ? items[static_cast<size_t>(--num)] : nullptr; }
  bool push(T* p) {
    if (num >= N) return false;
    items[static_cast<size_t>(num++)] = p;
    return true;
  }
};

using ObjectFreeList = ArrayFreeList<PyObject, 80>;  // lists, dicts

// CPython 3.12's per-interpreter object free lists (Objects/floatobject.c, listobject.c,
// tupleobject.c, dictobject.c), with its limits. A freed float, list, dict, tuple of 1..20 items
// or minimum-size str-keyed dict keys table stays allocated here instead of going back to
// pymalloc, in the state CPython leaves it (refcount 0; a float links the next one through its
// ob_type, a tuple through ob_item[0]); the next object of that kind reuses it without counting
// a GC allocation. A full collection (generation 2) empties them all.
struct FreeLists {
  static constexpr int kFloatMax = 100;        // PyFloat_MAXFREELIST
  static constexpr int kTupleLists = 20;       // PyTuple_NFREELISTS: sizes 1..20 are pushed...
  static constexpr int kTupleMaxSaveSize = 20; // ...but only sizes 1..19 are popped (3.12.1)
  static constexpr int kTupleMax = 2000;       // PyTuple_MAXFREELIST
  PyObject* floats = nullptr;  // linked through ob_type
  int float_num = 0;
  ObjectFreeList lists;                         // PyList_MAXFREELIST
  ObjectFreeList dicts;                         // PyDict_MAXFREELIST
  ArrayFreeList<PyDictKeysObject, 80> keys;     // the same limit
  std::array<PyObject*, kTupleLists> tuples{};  // linked through ob_item[0]
  std::array<int, kTupleLists> tuple_num{};
};

struct RuntimeOptions {
  bool guard = true;
  bool track = false;  // record the history of every reference (provenance.h)
  AllocatorOptions allocator{kBuild == Build::Debug ? AllocatorKind::PymallocDebug
                                                    : AllocatorKind::Pymalloc,
                             ArenaSource::Mmap};
};

// Static objects live inside the Runtime, not in arenas, exactly like CPython's statically
// allocated singletons; each is preceded by room for a PyGC_Head so the layout rule
// "op - presize is the start of the block" holds for every object uniformly.
struct alignas(16) StaticSmallInt {
  PyLongObject v;
};
struct alignas(16) StaticLatin1Char {
  PyCompactUnicodeObject u;  // ASCII chars use only the PyASCIIObject part + data
  char data[8];
};
struct alignas(16) StaticType {
  PyGC_Head gc;
  PyTypeObject t;
};

class Runtime final : public MemoryErrorSink {
 public:
  Runtime(const RuntimeOptions& options, Host* host);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // ------------------------------------------------------------------ errors
  bool has_error() const { return error.code != ErrorCode::None; }
  PendingError take_error() {
    PendingError e = std::move(error);
    error = PendingError{};
    return e;
  }
  // Records an error (guarded) — every error path of the core goes through here.
  void set_error(ErrorCode code, std::string message, std::string py_type = {});
  // MemoryErrorSink: the debug hooks found a corrupted block.
  void memory_corruption(const std::string& fatal, const std::string& report) override;
  // _Py_NegativeRefcount: guarded -> NegativeRefcountError, unguarded -> CPython's text + abort.
  RCL_NOINLINE void negative_refcount(const char* file, int line, PyObject* op);
  // A tracking runtime: the pending error is about the object at `addr`; attach its history.
  void attach_provenance(uintptr_t addr, std::string_view headline);
  // _PyObject_AssertFailed for "refcount is too small" in the collector.
  void refcount_too_small(const char* file, int line, PyObject* op);
  // Fatal error with CPython's "Fatal Python error: <func>: <msg>" shape; never returns.
  [[noreturn]] void fatal(const std::string& text);

  // ------------------------------------------------------------------ objects
  // Raw allocation of an object (no GC head); registers it; refcount 1.
  PyObject* object_new(PyTypeObject* tp, size_t size);
  // GC object: allocates presize + size, zeroes the pre-header, counts a GC allocation.
  PyObject* gc_object_new(PyTypeObject* tp, size_t size);
  // tp_free of non-GC / GC objects.
  void object_free(PyObject* op);
  void gc_object_free(PyObject* op);
  // _Py_NewReference: refcount 1 (+ ref total), registry.
  void new_reference(PyObject* op);
  // An object parked on / taken back from a free list: Py_STATS to_freelist / from_freelist
  // and, in guarded mode, the registry (a parked object is dead to the user; see writable()).
  void to_freelist(PyObject* op);
  void from_freelist(PyObject* op);
  // A GC object of an array free list's kind: the most recently parked one, else a new one;
  // and its tp_free: parked while the list has room, else gc_object_free.
  PyObject* gc_object_new_from(ObjectFreeList& fl, PyTypeObject* tp, size_t size);
  void gc_object_free_to(ObjectFreeList& fl, PyObject* op);
  // _PyGC_ClearAllFreeLists: frees every parked object (a full collection's last step).
  void clear_freelists();
  // sys._debugmallocstats(): the allocator's text, then the free list lines.
  std::string debugmallocstats() const;

  // Guarded registry of object addresses.
  bool is_live_object(const void* p) const { return live_objects_.contains(p); }
  // The registry's slot of a live object (SIZE_MAX if none), below live_object_slots(): stable
  // while no object is allocated, so a walk can count per object in a plain array.
  size_t live_object_slot(const void* p) const { return live_objects_.slot_of(p); }
  size_t live_object_slots() const { return live_objects_.capacity(); }
  size_t live_object_count() const { return live_objects_.size(); }
  // Guarded mode: how many objects have died (freed or parked on a free list) so far. A batch
  // that validated its addresses up front re-checks them once this has moved.
  uint64_t objects_freed() const { return objects_freed_; }
  // Guarded mode: an object whose deallocation has begun (_Py_Dealloc, refcount 0) is no longer
  // live to the API until it is freed, so a finalizer or callback that runs inside that
  // deallocation cannot cast it back (ERR_USE_AFTER_FREE). Its own finalizer sees it live
  // (dealloc_resume around the call); resurrection ends the state.
  void dealloc_begin(PyObject* op) {
    if (guard && !is_static_object(op)) dying_.insert(op);
  }
  void dealloc_resume(PyObject* op) {
    if (guard && dying_.size() != 0) dying_.erase(op);
  }
  // Census of the live heap objects (guarded mode: the registry; statics excluded), by type
  // name: how many objects, the sum of their refcounts (immortals count 0 references) and how
  // many are immortal (interned strings, made immortal for good).
  // Returns false in unguarded mode, where no registry is kept.
  struct TypeCensus {
    size_t objects = 0;
    int64_t refs = 0;
    size_t immortal = 0;
  };
  bool census(std::unordered_map<std::string, TypeCensus>* out) const;
  // Guarded mode: calls f(op) for every live object of the registry (statics included, objects
  // in the middle of their deallocation excluded). Returns false in unguarded mode.
  template <typename F>
  // f(op) — or f(op, slot), the registry slot of live_object_slot() — for each live object.
  bool for_each_live_object(F&& f) const {
    if (!guard) return false;
    live_objects_.for_each([&](const void* p, size_t slot) {
      if (dying_.size() != 0 && dying_.contains(p)) return;
      auto* op = static_cast<PyObject*>(const_cast<void*>(p));
      if constexpr (std::is_invocable_v<F, PyObject*, size_t>)
        f(op, slot);
      else
        f(op);
    });
    return true;
  }
  bool was_freed_object(const void* p) const;
  // Validates that `addr` is a live object of this runtime (guarded mode); sets ERR_INVALID_
  // ADDRESS / ERR_USE_AFTER_FREE and returns nullptr otherwise.
  PyObject* checked_object(uintptr_t addr);
  // May [addr, addr+n) be read / written (memory this runtime owns right now)?
  bool readable(uintptr_t addr, size_t n) const;
  // May [addr, addr+n) be written (guarded mode): a live object's ob_refcnt, or inside a block
  // handed out through the C API's memory functions. Never the rest of an object, a freed block
  // or the allocator's metadata, whose corruption would crash a later call.
  bool writable(uintptr_t addr, size_t n) const;
  // The C API's memory functions (capi.PyMem_Malloc, PyObject_Realloc...): the allocator, plus,
  // in guarded mode, the record of the blocks they handed out. Only those may be written
  // anywhere (writable), reallocated and freed through the C API (is_user_block).
  void* capi_malloc(MemDomain d, size_t n);
  void* capi_calloc(MemDomain d, size_t nelem, size_t elsize);
  void* capi_realloc(MemDomain d, void* p, size_t n);
  void capi_free(MemDomain d, void* p);
  bool is_user_block(const void* p) const;

  // ------------------------------------------------------------------ singletons
  bool is_static_object(const void* p) const;
  PyObject* small_int(int64_t v) {
    return &small_ints[static_cast<size_t>(v + _PY_NSMALLNEGINTS)].v.ob_base;
  }
  PyObject* latin1_char(uint32_t cp) { return &latin1[cp].u._base.ob_base; }

  // ------------------------------------------------------------------ debug build
  // ------------------------------------------------------------------ trashcan
  // Py_TRASHCAN_BEGIN / END (3.12's _PyTrash_begin / _PyTrash_end): deallocators of containers
  // nest at most _PyTrash_UNWIND_LEVEL deep; a deeper object (refcount 0, untracked) is chained
  // through its _gc_prev onto delete_later and deallocated when the nesting unwinds, so freeing
  // a 100000-deep chain of lists does not overflow the C stack. begin returns true when `op`
  // was deferred: the deallocator must return at once without touching it.
  bool trash_begin(PyObject* op);
  void trash_end();

  // [N refs, M blocks]
  std::string showrefcount_text() const;
  // Py_REF_DEBUG's total: references created minus references released. Increfs and decrefs
  // are already counted by Py_STATS (the debug build has both), so the hot path bumps only
  // those and the total is derived from them.
  int64_t total_refcount() const {
    return static_cast<int64_t>(stats.increfs - stats.decrefs) + ref_total_base;
  }
  // _Py_IncRefTotal / _Py_DecRefTotal: the total's adjustments outside Py_INCREF / Py_DECREF
  // (an interned string made immortal, a dict keys table). No-op outside Py_REF_DEBUG.
  void add_ref_total(int64_t delta) {
#ifdef Py_REF_DEBUG
    ref_total_base += delta;
#else
    (void)delta;
#endif
  }

  // ------------------------------------------------------------------ state
  const bool guard;
  Host* const host;
  Allocator alloc;
  int64_t ref_total_base = 0;  // Py_REF_DEBUG: new references + adjustments (see total_refcount)
  ObjectStats stats{};    // Py_STATS
  // Tracking runtimes only (RuntimeOptions::track): the history of every reference.
  std::unique_ptr<Provenance> prov;
  FreeLists freelists;
  GCState gc;
  PendingError error;
  uint64_t dict_version = 0;
  // repr's state across nested tp_repr calls (CPython keeps both per thread state): the
  // Py_EnterRecursiveCall depth, whether this repr failed, and Py_ReprEnter's containers.
  struct ReprState {
    int depth = 0;
    bool failed = false;
    std::vector<PyObject*> stack;
  } repr_state;
  // The trashcan (CPython keeps it per thread state; a Runtime is used by one thread at a time).
  int trash_delete_nesting = 0;
  PyObject* trash_delete_later = nullptr;

  // Static type objects, one per kind (a heap class's kind, Instance, has none): each type's
  // own file initialises its own (init_static_type, types.h).
  std::array<StaticType, kTypeKindCount> static_types;
  // Immortal singletons.
  PyObject none_obj, ellipsis_obj, notimpl_obj;
  StaticSmallInt true_obj, false_obj;
  std::array<StaticSmallInt, _PY_NSMALLNEGINTS + _PY_NSMALLPOSINTS> small_ints;
  std::array<StaticLatin1Char, 256> latin1;
  struct alignas(16) {
    PyGC_Head gc;
    PyTupleObject t;
  } empty_tuple;
  struct alignas(16) {
    PyASCIIObject a;
    char data[8];
  } empty_str;
  PyDictKeysObject* empty_keys;  // Py_EMPTY_KEYS, shared by every empty dict

  PyObject* None() { return &none_obj; }
  PyObject* True() { return &true_obj.v.ob_base; }
  PyObject* False() { return &false_obj.v.ob_base; }
  PyObject* Ellipsis() { return &ellipsis_obj; }
  PyObject* NotImplemented() { return &notimpl_obj; }
  PyObject* EmptyTuple() { return &empty_tuple.t.ob_base.ob_base; }
  PyObject* EmptyStr() { return &empty_str.a.ob_base; }
  // Interned strings (3.12: every interned str is immortal). Attribute names are interned,
  // as CPython interns the identifier names of compiled code, so `obj.name` allocates nothing.
  std::unordered_map<std::string, PyObject*> interned;
  PyTypeObject* Type(TypeKind k) { return &static_types[static_cast<size_t>(k)].t; }
  // Guarded mode: a static object (a type, a singleton) joins the registry of live objects.
  void register_static_object(const PyObject* op) {
    if (guard) live_objects_.insert(op);
  }

 private:
  AddressSet live_objects_;   // guarded mode only
  AddressSet freed_objects_;  // guarded mode only: freed, not reused since
  AddressSet user_blocks_;    // guarded mode only: the C API's blocks, by allocator block
  uint64_t objects_freed_ = 0;  // guarded mode only
  AddressSet dying_;            // guarded mode only: deallocation begun, not yet freed
  void mark_freed(const PyObject* op);  // live -> freed in the registry
  // The start of the live allocator block [p, p+1) lies in (the debug hooks' header included),
  // or 0; and the C API's record of it.
  uintptr_t block_of(const void* p) const;
  void user_block_allocated(const void* p);
  void user_block_freed(const void* p);
  void init_singletons();
};

RCL_END_NAMESPACE
