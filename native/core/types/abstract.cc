// abstract.cc — the operations the API exposes on any object (Python's abstract object layer):
// item access, list/dict methods, with CPython's TypeError / AttributeError / IndexError texts.
#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

static TypeKind kind_of(PyObject* op) { return Py_TYPE(op)->tp_kind; }

static std::nullptr_t no_attribute(Runtime& rt, PyObject* op, const char* name) {
  rt.set_error(ErrorCode::Attribute,
               std::string("'") + Py_TYPE(op)->tp_name + "' object has no attribute '" + name + "'",
               "AttributeError");
  return nullptr;
}

static bool require_list(Runtime& rt, PyObject* op, const char* method) {
  if (kind_of(op) == TypeKind::List) return true;
  no_attribute(rt, op, method);
  return false;
}

PyObject* PySequence_GetItem(Runtime& rt, PyObject* op, Py_ssize_t i) {
  TypeKind k = kind_of(op);
  if (k != TypeKind::List && k != TypeKind::Tuple) {
    rt.set_error(ErrorCode::Type,
                 std::string("'") + Py_TYPE(op)->tp_name + "' object is not subscriptable by index",
                 "TypeError");
    return nullptr;
  }
  Py_ssize_t n = Py_SIZE(op);
  if (i < 0) i += n;
  if (i < 0 || i >= n) {
    rt.set_error(ErrorCode::Index, k == TypeKind::List ? "list index out of range"
                                                       : "tuple index out of range",
                 "IndexError");
    return nullptr;
  }
  return new_ref_to_item(rt, k == TypeKind::List ? PyList_ITEM(op, i) : PyTuple_ITEM(op, i));
}

static bool require_dict(Runtime& rt, PyObject* op, const char* what) {
  if (kind_of(op) == TypeKind::Dict) return true;
  rt.set_error(ErrorCode::Type, std::string("'") + Py_TYPE(op)->tp_name + "' object " + what,
               "TypeError");
  return false;
}

PyObject* PyMapping_GetItem(Runtime& rt, PyObject* op, PyObject* key) {
  if (!require_dict(rt, op, "is not subscriptable by key")) return nullptr;
  PyObject* v = PyDict_GetItem(rt, op, key);
  if (v == nullptr) {
    if (!rt.has_error()) rt.set_error(ErrorCode::Key, PyObject_Repr(rt, key), "KeyError");
    return nullptr;
  }
  return new_ref_to_item(rt, v);
}

static bool item_assignment(Runtime& rt, PyObject* op, bool del) {
  TypeKind k = kind_of(op);
  if (k == TypeKind::List || k == TypeKind::Dict) return true;
  rt.set_error(ErrorCode::Type,
               std::string("'") + Py_TYPE(op)->tp_name + "' object " +
                   (del ? "doesn't support item deletion" : "does not support item assignment"),
               "TypeError");
  return false;
}

int PySequence_SetItem(Runtime& rt, PyObject* op, Py_ssize_t i, PyObject* v) {
  if (!item_assignment(rt, op, false)) return -1;
  if (!require_list(rt, op, "__setitem__")) return -1;
  return PyList_SetItem(rt, op, i, v);
}

int PySequence_DelItem(Runtime& rt, PyObject* op, Py_ssize_t i) {
  if (!item_assignment(rt, op, true)) return -1;
  if (!require_list(rt, op, "__delitem__")) return -1;
  return PyList_DelItem(rt, op, i);
}

int PyMapping_SetItem(Runtime& rt, PyObject* op, PyObject* key, PyObject* v) {
  if (!item_assignment(rt, op, false)) return -1;
  if (!require_dict(rt, op, "does not support item assignment by key")) return -1;
  return PyDict_SetItem(rt, op, key, v);
}

int PyMapping_DelItem(Runtime& rt, PyObject* op, PyObject* key) {
  if (!item_assignment(rt, op, true)) return -1;
  if (!require_dict(rt, op, "doesn't support item deletion by key")) return -1;
  return PyDict_DelItem(rt, op, key);
}

int method_append(Runtime& rt, PyObject* op, PyObject* v) {
  return require_list(rt, op, "append") ? PyList_Append(rt, op, v) : -1;
}
int method_insert(Runtime& rt, PyObject* op, Py_ssize_t i, PyObject* v) {
  return require_list(rt, op, "insert") ? PyList_Insert(rt, op, i, v) : -1;
}
PyObject* method_pop_index(Runtime& rt, PyObject* op, Py_ssize_t i) {
  return require_list(rt, op, "pop") ? PyList_Pop(rt, op, i) : nullptr;
}
PyObject* method_pop_key(Runtime& rt, PyObject* op, PyObject* key) {
  if (kind_of(op) != TypeKind::Dict) return no_attribute(rt, op, "pop");
  return PyDict_Pop(rt, op, key);
}
int method_add(Runtime& rt, PyObject* op, PyObject* v) {
  if (kind_of(op) != TypeKind::Set) {
    no_attribute(rt, op, "add");
    return -1;
  }
  return PySet_Add(rt, op, v);
}
int method_discard(Runtime& rt, PyObject* op, PyObject* v) {
  if (kind_of(op) != TypeKind::Set) {
    no_attribute(rt, op, "discard");
    return -1;
  }
  return PySet_Discard(rt, op, v);
}
// `v in op` (PySequence_Contains): set and dict by hash, list and tuple by a scan (identity or
// the value equality of hashable kinds), str by substring.
int PySequence_Contains(Runtime& rt, PyObject* op, PyObject* v) {
  switch (kind_of(op)) {
    case TypeKind::Set:
    case TypeKind::FrozenSet:
      return PySet_Contains(rt, op, v);
    case TypeKind::Dict: {
      PyObject* found = PyDict_GetItem(rt, op, v);
      return rt.has_error() ? -1 : found != nullptr;
    }
    case TypeKind::List:
    case TypeKind::Tuple:
      for (Py_ssize_t i = 0; i < Py_SIZE(op); i++) {
        PyObject* item = kind_of(op) == TypeKind::List ? PyList_ITEM(op, i) : PyTuple_ITEM(op, i);
        if (item == v || PyObject_Equal(item, v)) return 1;
      }
      return 0;
    case TypeKind::Str:
      if (kind_of(v) != TypeKind::Str) {
        rt.set_error(ErrorCode::Type,
                     std::string("'in <string>' requires string as left operand, not ") + Py_TYPE(v)->tp_name,
                     "TypeError");
        return -1;
      }
      return PyUnicode_AsUTF8(op).find(PyUnicode_AsUTF8(v)) != std::string::npos;
    default:
      rt.set_error(ErrorCode::Type,
                   std::string("argument of type '") + Py_TYPE(op)->tp_name + "' is not iterable",
                   "TypeError");
      return -1;
  }
}
int method_clear(Runtime& rt, PyObject* op) {
  if (kind_of(op) == TypeKind::List) return PyList_Clear(rt, op);
  if (kind_of(op) == TypeKind::Set) return Py_TYPE(op)->tp_clear(rt, op);
  if (kind_of(op) == TypeKind::Dict) {
    PyDict_Clear(rt, op);
    return 0;
  }
  no_attribute(rt, op, "clear");
  return -1;
}
PyObject* method_copy(Runtime& rt, PyObject* op) {
  if (kind_of(op) == TypeKind::Dict) return PyDict_Copy(rt, op);
  if (kind_of(op) == TypeKind::List) return PyList_Repeat(rt, op, 1);
  if (kind_of(op) == TypeKind::FrozenSet) return Py_NewRef(rt, op);  // immutable: itself
  if (kind_of(op) == TypeKind::Set) return PySet_Copy(rt, op);
  return no_attribute(rt, op, "copy");
}
// seq * n: lists make a new list; tuples make a new tuple (or return themselves for n == 1).
PyObject* sequence_repeat(Runtime& rt, PyObject* op, Py_ssize_t n) {
  if (kind_of(op) == TypeKind::List) return PyList_Repeat(rt, op, n);
  if (kind_of(op) == TypeKind::Tuple) {
    Py_ssize_t len = Py_SIZE(op);
    if (n == 1 || len == 0) return Py_NewRef(rt, n == 1 ? op : rt.EmptyTuple());
    if (n <= 0) return rt.EmptyTuple();
    if (len > PTRDIFF_MAX / n) {  // tuple_repeat: len * n must not wrap
      rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
      return nullptr;
    }
    PyObject* t = PyTuple_New(rt, len * n);
    if (t == nullptr) return nullptr;
    for (Py_ssize_t k = 0; k < len * n; k++)
      PyTuple_ITEM(t, k) = Py_NewRef(rt, PyTuple_ITEM(op, k % len));
    return t;
  }
  rt.set_error(ErrorCode::Type,
               std::string("unsupported operand type(s) for *: '") + Py_TYPE(op)->tp_name +
                   "' and 'int'",
               "TypeError");
  return nullptr;
}

RCL_END_NAMESPACE
