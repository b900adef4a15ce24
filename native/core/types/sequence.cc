// sequence.cc — tuple and list, with CPython 3.12's sizes, growth pattern, error texts and
// release order (items are released from the last to the first).
#include <cstring>

#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

// =============================================================================================
// tuple
// =============================================================================================

// Tuples of 1..20 items have free lists (runtime.h FreeLists), each linked through the first
// item slot. As in 3.12.1, a 20-item tuple is pushed on its list but never popped from it.
static PyObject* tuple_freelist_pop(Runtime& rt, Py_ssize_t n) {
  if (n >= FreeLists::kTupleMaxSaveSize) return nullptr;
  FreeLists& fl = rt.freelists;
  PyObject*& head = fl.tuples[static_cast<size_t>(n - 1)];
  PyObject* op = head;
  if (op == nullptr) return nullptr;
  head = PyTuple_ITEM(op, 0);
  fl.tuple_num[static_cast<size_t>(n - 1)]--;
  rt.from_freelist(op);
  return op;
}

static bool tuple_freelist_push(Runtime& rt, PyObject* op) {
  Py_ssize_t i = Py_SIZE(op) - 1;
  FreeLists& fl = rt.freelists;
  if (i >= FreeLists::kTupleLists || fl.tuple_num[static_cast<size_t>(i)] >= FreeLists::kTupleMax) return false;
  PyObject*& head = fl.tuples[static_cast<size_t>(i)];
  PyTuple_ITEM(op, 0) = head;
  head = op;
  fl.tuple_num[static_cast<size_t>(i)]++;
  rt.to_freelist(op);
  return true;
}

void tuple_clear_freelist(Runtime& rt) {
  FreeLists& fl = rt.freelists;
  for (size_t i = 0; i < fl.tuples.size(); i++) {
    PyObject* op = fl.tuples[i];
    fl.tuples[i] = nullptr;
    fl.tuple_num[i] = 0;
    while (op != nullptr) {
      PyObject* next = PyTuple_ITEM(op, 0);
      rt.gc_object_free(op);
      op = next;
    }
  }
}

PyObject* PyTuple_New(Runtime& rt, Py_ssize_t n) {
  if (n == 0) return rt.EmptyTuple();
  // tuple_alloc's bound: the size in bytes must not wrap.
  if (n > static_cast<Py_ssize_t>((PTRDIFF_MAX - sizeof(PyTupleObject) - sizeof(PyObject*)) /
                                  sizeof(PyObject*))) {
    rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
    return nullptr;
  }
  PyObject* op = tuple_freelist_pop(rt, n);
  if (op == nullptr) {
    PyTypeObject* tp = rt.Type(TypeKind::Tuple);
    op = rt.gc_object_new(tp, _PyObject_VAR_SIZE(tp, n));
    if (op == nullptr) return nullptr;
    Py_SET_SIZE(op, n);
  }
  std::memset(reinterpret_cast<PyTupleObject*>(op)->ob_item, 0,
              static_cast<size_t>(n) * sizeof(PyObject*));
  _PyObject_GC_TRACK(rt, op);
  return op;
}

static void tuple_dealloc(Runtime& rt, PyObject* op) {
  if (Py_SIZE(op) == 0) {  // the empty tuple is a static singleton
    _Py_SetImmortal(op);
    return;
  }
  _PyObject_GC_UNTRACK(op);
  if (rt.trash_begin(op)) return;  // Py_TRASHCAN_BEGIN: deferred, freed when nesting unwinds
  for (Py_ssize_t i = Py_SIZE(op); --i >= 0;) Py_XDECREF(rt, PyTuple_ITEM(op, i));
  if (!tuple_freelist_push(rt, op)) rt.gc_object_free(op);
  rt.trash_end();
}

// A tuple whose items can never be part of a cycle is untracked by collections.
void _PyTuple_MaybeUntrack(PyObject* op) {
  for (Py_ssize_t i = 0; i < Py_SIZE(op); i++) {
    PyObject* elt = PyTuple_ITEM(op, i);
    // Tuples holding NULL are still being built; tuples holding a tracked object (or an
    // object that may become tracked) stay tracked.
    if (elt == nullptr) return;
    if (PyObject_IS_GC(elt)) {
      if (Py_TYPE(elt)->tp_kind != TypeKind::Tuple || _PyObject_GC_IS_TRACKED(elt)) return;
    }
  }
  _PyObject_GC_UNTRACK(op);
}

// =============================================================================================
// list
// =============================================================================================

static PyListObject* as_list(PyObject* op) { return reinterpret_cast<PyListObject*>(op); }

// Lists have a free list of up to 80 list objects (their item arrays are freed first).
PyObject* PyList_New(Runtime& rt, Py_ssize_t n) {
  PyObject* op = rt.gc_object_new_from(rt.freelists.lists, rt.Type(TypeKind::List), sizeof(PyListObject));
  if (op == nullptr) return nullptr;
  PyListObject* l = as_list(op);
  if (n <= 0) {
    l->ob_item = nullptr;
  } else {
    l->ob_item = static_cast<PyObject**>(
        rt.alloc.calloc(MemDomain::Mem, static_cast<size_t>(n), sizeof(PyObject*)));
    if (l->ob_item == nullptr) {
      Py_SET_SIZE(op, 0);
      Py_DECREF(rt, op);  // back to the free list or freed, as 3.12 does
      rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
      return nullptr;
    }
  }
  Py_SET_SIZE(op, n < 0 ? 0 : n);
  l->allocated = n < 0 ? 0 : n;
  _PyObject_GC_TRACK(rt, op);
  return op;
}

// list_resize: over-allocates proportionally (newsize + newsize/8 + 6, rounded down to a
// multiple of 4), as 3.12 does, so sys.getsizeof follows CPython's steps (56, 88, 120, 184...).
static int list_resize(Runtime& rt, PyListObject* self, Py_ssize_t newsize) {
  Py_ssize_t allocated = self->allocated;
  if (allocated >= newsize && newsize >= (allocated >> 1)) {
    Py_SET_SIZE(&self->ob_base.ob_base, newsize);
    return 0;
  }
  size_t new_allocated =
      (static_cast<size_t>(newsize) + (static_cast<size_t>(newsize) >> 3) + 6) & ~size_t{3};
  if (static_cast<size_t>(newsize) - static_cast<size_t>(Py_SIZE(&self->ob_base.ob_base)) >
      new_allocated - static_cast<size_t>(newsize))
    new_allocated = (static_cast<size_t>(newsize) + 3) & ~size_t{3};
  if (newsize == 0) new_allocated = 0;
  PyObject** items;
  if (new_allocated == 0) {
    rt.alloc.free(MemDomain::Mem, self->ob_item);
    items = nullptr;
  } else {
    items = static_cast<PyObject**>(
        rt.alloc.realloc(MemDomain::Mem, self->ob_item, new_allocated * sizeof(PyObject*)));
    if (items == nullptr) {
      if (!rt.has_error()) rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
      return -1;
    }
  }
  self->ob_item = items;
  Py_SET_SIZE(&self->ob_base.ob_base, newsize);
  self->allocated = static_cast<Py_ssize_t>(new_allocated);
  return 0;
}

int PyList_Append(Runtime& rt, PyObject* op, PyObject* item) {
  Py_ssize_t n = Py_SIZE(op);
  if (list_resize(rt, as_list(op), n + 1) < 0) return -1;
  PyList_ITEM(op, n) = Py_NewRef(rt, item);
  return 0;
}

// 3.12's _PyList_AppendTakeRef (pycore_list.h), what LIST_APPEND does: the item's reference is
// stolen; a spare slot is filled in place, else list_resize over-allocates.
int _PyList_AppendTakeRef(Runtime& rt, PyObject* op, PyObject* newitem) {
  PyListObject* l = as_list(op);
  Py_ssize_t n = Py_SIZE(op);
  if (l->allocated > n) {
    l->ob_item[n] = newitem;
    Py_SET_SIZE(op, n + 1);
    return 0;
  }
  if (list_resize(rt, l, n + 1) < 0) {
    Py_DECREF(rt, newitem);
    return -1;
  }
  l->ob_item[n] = newitem;
  return 0;
}

// `for i in range(lo, hi): lst.append(i)` as 3.12 runs `[i for i in range(lo, hi)]`: each i a
// new int from the runtime's allocator (the small ints are the cached immortal ones, as
// range's iterator returns them), appended with LIST_APPEND's stolen reference. -1 with a
// TypeError pending when op is not a list; an empty range (hi <= lo) appends nothing.
int PyList_AppendRange(Runtime& rt, PyObject* op, int64_t lo, int64_t hi) {
  if (Py_TYPE(op)->tp_kind != TypeKind::List) {
    rt.set_error(ErrorCode::Type, std::string("'") + Py_TYPE(op)->tp_name + "' object is not a list",
                 "TypeError");
    return -1;
  }
  for (int64_t i = lo; i < hi; i++) {
    PyObject* v = PyLong_FromInt64(rt, i);
    if (v == nullptr || _PyList_AppendTakeRef(rt, op, v) < 0) return -1;
  }
  return 0;
}

int PyList_Insert(Runtime& rt, PyObject* op, Py_ssize_t where, PyObject* item) {
  Py_ssize_t n = Py_SIZE(op);
  if (list_resize(rt, as_list(op), n + 1) < 0) return -1;
  if (where < 0) {
    where += n;
    if (where < 0) where = 0;
  }
  if (where > n) where = n;
  PyObject** items = as_list(op)->ob_item;
  for (Py_ssize_t i = n; --i >= where;) items[i + 1] = items[i];
  items[where] = Py_NewRef(rt, item);
  return 0;
}

static bool list_index(Runtime& rt, PyObject* op, Py_ssize_t* i, const char* msg) {
  if (*i < 0) *i += Py_SIZE(op);
  if (*i < 0 || *i >= Py_SIZE(op)) {
    rt.set_error(ErrorCode::Index, msg, "IndexError");
    return false;
  }
  return true;
}

int PyList_SetItem(Runtime& rt, PyObject* op, Py_ssize_t i, PyObject* item) {
  if (!list_index(rt, op, &i, "list assignment index out of range")) return -1;
  Py_SETREF(rt, PyList_ITEM(op, i), Py_NewRef(rt, item));
  return 0;
}

int PyList_DelItem(Runtime& rt, PyObject* op, Py_ssize_t i) {
  if (!list_index(rt, op, &i, "list assignment index out of range")) return -1;
  PyObject* old = PyList_ITEM(op, i);
  PyObject** items = as_list(op)->ob_item;
  Py_ssize_t n = Py_SIZE(op);
  std::memmove(&items[i], &items[i + 1], static_cast<size_t>(n - i - 1) * sizeof(PyObject*));
  list_resize(rt, as_list(op), n - 1);
  Py_DECREF(rt, old);
  return 0;
}

PyObject* PyList_Pop(Runtime& rt, PyObject* op, Py_ssize_t i) {
  if (Py_SIZE(op) == 0) {
    rt.set_error(ErrorCode::Index, "pop from empty list", "IndexError");
    return nullptr;
  }
  if (!list_index(rt, op, &i, "pop index out of range")) return nullptr;
  PyObject** items = as_list(op)->ob_item;
  PyObject* v = items[i];  // the list's reference moves to the caller
  Py_ssize_t n = Py_SIZE(op);
  std::memmove(&items[i], &items[i + 1], static_cast<size_t>(n - i - 1) * sizeof(PyObject*));
  list_resize(rt, as_list(op), n - 1);
  return v;
}

// _list_clear: detach the items first, then release them last-to-first.
int PyList_Clear(Runtime& rt, PyObject* op) {
  PyListObject* l = as_list(op);
  PyObject** items = l->ob_item;
  if (items == nullptr) return 0;
  Py_ssize_t i = Py_SIZE(op);
  Py_SET_SIZE(op, 0);
  l->ob_item = nullptr;
  l->allocated = 0;
  while (--i >= 0) Py_XDECREF(rt, items[i]);
  rt.alloc.free(MemDomain::Mem, items);
  return 0;
}

PyObject* PyList_Repeat(Runtime& rt, PyObject* op, Py_ssize_t n) {
  Py_ssize_t len = Py_SIZE(op);
  if (n < 0) n = 0;
  if (len > 0 && n > PTRDIFF_MAX / static_cast<Py_ssize_t>(sizeof(PyObject*)) / len) {
    rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
    return nullptr;
  }
  Py_ssize_t size = len * n;
  PyObject* np = PyList_New(rt, size);
  if (np == nullptr) return nullptr;
  for (Py_ssize_t k = 0; k < size; k++)
    PyList_ITEM(np, k) = Py_NewRef(rt, PyList_ITEM(op, k % len));
  return np;
}

static void list_dealloc(Runtime& rt, PyObject* op) {
  _PyObject_GC_UNTRACK(op);
  if (rt.trash_begin(op)) return;  // Py_TRASHCAN_BEGIN
  PyListObject* l = as_list(op);
  if (l->ob_item != nullptr) {
    for (Py_ssize_t i = Py_SIZE(op); --i >= 0;) Py_XDECREF(rt, l->ob_item[i]);
    rt.alloc.free(MemDomain::Mem, l->ob_item);
  }
  rt.gc_object_free_to(rt.freelists.lists, op);
  rt.trash_end();
}

void list_clear_freelist(Runtime& rt) {
  while (PyObject* op = rt.freelists.lists.pop()) rt.gc_object_free(op);
}

// The walk of tuples and lists: the items, each labelled [i]. tp_traverse (WalkMode::Gc) goes
// from the last item to the first, as CPython's tupletraverse / list_traverse do.
template <PyObject*& (*Item)(PyObject*, Py_ssize_t)>
struct SequenceWalk {
  template <WalkMode M, typename Visit>
  static int walk(PyObject* op, Visit&& visit) {
    Py_ssize_t n = Py_SIZE(op);
    for (Py_ssize_t j = 0; j < n; j++) {
      Py_ssize_t i = M == WalkMode::Gc ? n - 1 - j : j;
      PyObject* item = Item(op, i);
      if (item != nullptr) {
        if (int r = visit(item, RefLabel{RefLabel::Index, i})) return r;
      }
    }
    return 0;
  }
};

static std::string tuple_repr(Runtime& rt, PyObject* op) {
  if (Py_SIZE(op) == 0) return "()";
  return container_repr(rt, op, "(", ")", "(...)", true);
}
static std::string list_repr(Runtime& rt, PyObject* op) {
  return container_repr(rt, op, "[", "]", "[...]");
}
static Py_ssize_t sequence_len(PyObject* op) { return Py_SIZE(op); }
static size_t tuple_sizeof(const PyObject* op) {
  return sizeof(PyVarObject) + static_cast<size_t>(Py_SIZE(op)) * sizeof(PyObject*);
}
static size_t list_sizeof(const PyObject* op) {
  return sizeof(PyListObject) +
         static_cast<size_t>(reinterpret_cast<const PyListObject*>(op)->allocated) * sizeof(PyObject*);
}

static int list_tp_clear(Runtime& rt, PyObject* op) { return PyList_Clear(rt, op); }

void init_sequence_types(Runtime& rt) {
  PyTypeObject* t = rt.Type(TypeKind::Tuple);
  t->tp_dealloc = tuple_dealloc;
  set_walk<SequenceWalk<PyTuple_ITEM>>(t);
  t->tp_clear = nullptr;  // tuples are immutable: cycles through them break elsewhere
  t->tp_repr = tuple_repr;
  t->tp_len = sequence_len;
  t->tp_sizeof = tuple_sizeof;
  t->tp_js = JsShape::Array;
  PyTypeObject* l = rt.Type(TypeKind::List);
  l->tp_dealloc = list_dealloc;
  set_walk<SequenceWalk<PyList_ITEM>>(l);
  l->tp_clear = list_tp_clear;
  l->tp_repr = list_repr;
  l->tp_len = sequence_len;
  l->tp_sizeof = list_sizeof;
  l->tp_js = JsShape::Array;
}

RCL_END_NAMESPACE
