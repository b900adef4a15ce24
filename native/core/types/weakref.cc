// weakref.cc — weakref objects: a doubly linked list per referent, whose head is where the
// referent's type says (tp_weaklistoffset: sets and frozensets; heap-class instances keep it in
// the pre-header at op-32, MANAGED_WEAKREF). Types with neither (int, str, tuple, list, dict)
// refuse weak references, as in CPython.
#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

PyWeakReference** weakref_list_slot(PyObject* op) {
  PyTypeObject* tp = Py_TYPE(op);
  if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_WEAKREF))
    return reinterpret_cast<PyWeakReference**>(_PyObject_ManagedWeakrefSlot(op));
  if (tp->tp_weaklistoffset != 0)
    return reinterpret_cast<PyWeakReference**>(reinterpret_cast<char*>(op) + tp->tp_weaklistoffset);
  return nullptr;
}

Py_ssize_t weakref_count(PyObject* op) {
  PyWeakReference** head = weakref_list_slot(op);
  Py_ssize_t n = 0;
  for (PyWeakReference* w = head ? *head : nullptr; w != nullptr; w = w->wr_next) n++;
  return n;
}

static PyWeakReference* as_wr(PyObject* op) { return reinterpret_cast<PyWeakReference*>(op); }

PyObject* PyWeakref_NewRef(Runtime& rt, PyObject* ob, uint32_t callback) {
  PyWeakReference** head = weakref_list_slot(ob);
  if (head == nullptr) {
    rt.set_error(ErrorCode::Type,
                 std::string("cannot create weak reference to '") + Py_TYPE(ob)->tp_name +
                     "' object",
                 "TypeError");
    return nullptr;
  }
  // A weakref without a callback to the same object is shared (CPython reuses the basic ref).
  if (callback == 0 && *head != nullptr && (*head)->wr_callback == 0)
    return Py_NewRef(rt, &(*head)->ob_base);
  PyObject* op = rt.gc_object_new(rt.Type(TypeKind::WeakRef), sizeof(PyWeakReference));
  if (op == nullptr) return nullptr;
  PyWeakReference* self = as_wr(op);
  self->wr_object = ob;
  self->wr_callback = callback;
  self->hash = -1;
  // Basic refs (no callback) go first in the list, the others are appended after them.
  if (callback == 0 || *head == nullptr) {
    self->wr_prev = nullptr;
    self->wr_next = *head;
    if (*head) (*head)->wr_prev = self;
    *head = self;
  } else {
    PyWeakReference* last = *head;
    while (last->wr_next) last = last->wr_next;
    last->wr_next = self;
    self->wr_prev = last;
    self->wr_next = nullptr;
  }
  _PyObject_GC_TRACK(rt, op);
  return op;
}

PyObject* PyWeakref_GetObject(Runtime& rt, PyObject* wr) {
  PyObject* ob = as_wr(wr)->wr_object;
  return ob ? ob : rt.None();
}

// clear_weakref: unlink from the referent's list; the weakref now reports None.
static void clear_weakref(PyWeakReference* self) {
  PyObject* ob = self->wr_object;
  if (ob == nullptr) return;
  PyWeakReference** head = weakref_list_slot(ob);
  if (head && *head == self) *head = self->wr_next;
  if (self->wr_prev) self->wr_prev->wr_next = self->wr_next;
  if (self->wr_next) self->wr_next->wr_prev = self->wr_prev;
  self->wr_prev = self->wr_next = nullptr;
  self->wr_object = nullptr;
}

void _PyWeakref_ClearRef(Runtime& rt, PyWeakReference* self) {
  (void)rt;
  clear_weakref(self);
}

// PyObject_ClearWeakRefs: called when the referent dies. Every weakref is cleared first; then
// the callbacks of the ones that are still alive run (each with its weakref as argument).
void PyObject_ClearWeakRefs(Runtime& rt, PyObject* op) {
  PyWeakReference** head = weakref_list_slot(op);
  if (head == nullptr || *head == nullptr) return;
  std::vector<PyObject*> with_callbacks;
  // Walk the list by wr_next as CPython's PyObject_ClearWeakRefs does (it counts the list, then
  // visits that many), rather than re-reading the head until it is empty: on a list that is
  // not a weakref list (a freed object's slot) the walk ends where the chain ends.
  for (PyWeakReference* w = *head; w != nullptr;) {
    PyWeakReference* next = w->wr_next;
    clear_weakref(w);
    if (*head == w) *head = next;
    if (w->wr_callback != 0 && w->ob_base.ob_refcnt > 0)
      with_callbacks.push_back(Py_NewRef(rt, &w->ob_base));
    w = next;
  }
  for (PyObject* w : with_callbacks) {
    uint32_t cb = as_wr(w)->wr_callback;
    as_wr(w)->wr_callback = 0;
    if (rt.host) rt.host->call_weakref_callback(rt, cb, w);
    if (rt.host) rt.host->forget_weakref_callback(rt, cb);
    Py_DECREF(rt, w);
  }
}

static void weakref_dealloc(Runtime& rt, PyObject* op) {
  _PyObject_GC_UNTRACK(op);
  PyWeakReference* self = as_wr(op);
  clear_weakref(self);
  if (self->wr_callback != 0 && rt.host) rt.host->forget_weakref_callback(rt, self->wr_callback);
  self->wr_callback = 0;
  rt.gc_object_free(op);
}

// A weakref owns no reference: its referent is borrowed, its callback lives in the host.
static int weakref_traverse(PyObject*, visitproc, void*) { return 0; }

static std::string weakref_repr(Runtime&, PyObject* op) {
  auto* w = reinterpret_cast<PyWeakReference*>(op);
  if (w->wr_object == nullptr) return "<weakref at " + repr_address(op) + "; dead>";
  return "<weakref at " + repr_address(op) + "; to '" + Py_TYPE(w->wr_object)->tp_name + "' at " +
         repr_address(w->wr_object) + ">";
}

static int weakref_tp_clear(Runtime& rt, PyObject* op) {
  PyWeakReference* self = as_wr(op);
  clear_weakref(self);
  if (self->wr_callback != 0 && rt.host) rt.host->forget_weakref_callback(rt, self->wr_callback);
  self->wr_callback = 0;
  return 0;
}

void init_weakref_type(Runtime& rt) {
  PyTypeObject* t = rt.Type(TypeKind::WeakRef);
  t->tp_dealloc = weakref_dealloc;
  t->tp_traverse = weakref_traverse;
  t->tp_repr = weakref_repr;
  t->tp_clear = weakref_tp_clear;
}

RCL_END_NAMESPACE
