// object.cc — the runtime's static type objects, and the generic operations that dispatch
// through their slots (repr, __sizeof__, len); None, Ellipsis, NotImplemented and object's own.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

// Each type's own file wires its type objects and slots (one line each, in init_static_types
// below; a new type's file also makes its type objects there, see set.cc).
void init_long_types(Runtime& rt);
void init_float_type(Runtime& rt);
void init_unicode_type(Runtime& rt);
void init_sequence_types(Runtime& rt);
void init_dict_type(Runtime& rt);
void init_set_types(Runtime& rt);
void init_class_types(Runtime& rt);
void init_weakref_type(Runtime& rt);

// Statically allocated objects are never freed: a dealloc reaching one (its count was forced
// down through the raw API) makes it immortal again, as 3.12's none_dealloc / long_dealloc do.
static void static_or_free_dealloc(Runtime& rt, PyObject* op) {
  if (rt.is_static_object(op)) {
    _Py_SetImmortal(op);
    return;
  }
  rt.object_free(op);
}

void init_static_type(Runtime& rt, TypeKind kind, const char* name, Py_ssize_t basicsize,
                      Py_ssize_t itemsize, unsigned long flags) {
  StaticType& s = rt.static_types[static_cast<size_t>(kind)];
  std::memset(&s, 0, sizeof s);
  PyTypeObject* t = &s.t;
  t->ob_base.ob_base.ob_refcnt = 0xFFFFFFFF;
  t->ob_base.ob_base.ob_type = rt.Type(TypeKind::Type);
  t->tp_name = name;
  t->tp_kind = kind;
  t->tp_basicsize = basicsize;
  t->tp_itemsize = itemsize;
  t->tp_flags = flags | Py_TPFLAGS_READY;
  t->tp_dealloc = static_or_free_dealloc;
  t->tp_repr = object_default_repr;
  t->tp_js = JsShape::Repr;
  t->tp_base = kind == TypeKind::Object ? nullptr : rt.Type(TypeKind::Object);
  rt.register_static_object(&t->ob_base.ob_base);
}

static std::string none_repr(Runtime&, PyObject*) { return "None"; }
static std::string ellipsis_repr(Runtime&, PyObject*) { return "Ellipsis"; }
static std::string notimpl_repr(Runtime&, PyObject*) { return "NotImplemented"; }

void init_static_types(Runtime& rt) {
  const unsigned long GC = Py_TPFLAGS_HAVE_GC;
  init_static_type(rt, TypeKind::Type, "type", sizeof(PyHeapTypeObject), 0,
                   GC | Py_TPFLAGS_TYPE_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_static_type(rt, TypeKind::Object, "object", sizeof(PyObject), 0, Py_TPFLAGS_BASETYPE);
  init_static_type(rt, TypeKind::None, "NoneType", sizeof(PyObject), 0, 0);
  init_static_type(rt, TypeKind::Bool, "bool", offsetof(PyLongObject, ob_digit), sizeof(digit),
                   Py_TPFLAGS_LONG_SUBCLASS);
  init_static_type(rt, TypeKind::Int, "int", offsetof(PyLongObject, ob_digit), sizeof(digit),
                   Py_TPFLAGS_LONG_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_static_type(rt, TypeKind::Float, "float", sizeof(PyFloatObject), 0, Py_TPFLAGS_BASETYPE);
  init_static_type(rt, TypeKind::Str, "str", sizeof(PyASCIIObject), 0,
                   Py_TPFLAGS_UNICODE_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_static_type(rt, TypeKind::Tuple, "tuple", sizeof(PyVarObject), sizeof(PyObject*),
                   GC | Py_TPFLAGS_TUPLE_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_static_type(rt, TypeKind::List, "list", sizeof(PyListObject), 0,
                   GC | Py_TPFLAGS_LIST_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_static_type(rt, TypeKind::Dict, "dict", sizeof(PyDictObject), 0,
                   GC | Py_TPFLAGS_DICT_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_static_type(rt, TypeKind::Ellipsis, "ellipsis", sizeof(PyObject), 0, 0);
  init_static_type(rt, TypeKind::NotImplemented, "NotImplementedType", sizeof(PyObject), 0, 0);
  init_static_type(rt, TypeKind::WeakRef, "weakref.ReferenceType", sizeof(PyWeakReference), 0, GC);
  rt.Type(TypeKind::None)->tp_repr = none_repr;
  rt.Type(TypeKind::None)->tp_js = JsShape::Null;
  rt.Type(TypeKind::Ellipsis)->tp_repr = ellipsis_repr;
  rt.Type(TypeKind::NotImplemented)->tp_repr = notimpl_repr;
  init_long_types(rt);
  init_float_type(rt);
  init_unicode_type(rt);
  init_sequence_types(rt);
  init_dict_type(rt);
  init_set_types(rt);
  init_class_types(rt);
  init_weakref_type(rt);
}

// =============================================================================================
// repr: PyObject_Repr dispatches through tp_repr; containers recurse through their walk
// =============================================================================================

std::string repr_address(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, reinterpret_cast<uintptr_t>(p));
  return buf;
}

// object_repr: "<module.Name object at 0x...>" for a heap class, "<name object at 0x...>" else.
std::string object_default_repr(Runtime&, PyObject* op) {
  PyTypeObject* tp = Py_TYPE(op);
  std::string name = tp->tp_name;
  if (PyType_HasFeature(tp, Py_TPFLAGS_HEAPTYPE))
    name = PyUnicode_AsUTF8(as_heap_type(reinterpret_cast<PyObject*>(tp))->ht_module) + "." + name;
  return "<" + name + " object at " + repr_address(op) + ">";
}


bool repr_enter(Runtime& rt, PyObject* op) {
  std::vector<PyObject*>& stack = rt.repr_state.stack;
  for (PyObject* s : stack)
    if (s == op) return false;
  stack.push_back(op);
  return true;
}
void repr_leave(Runtime& rt, PyObject*) { rt.repr_state.stack.pop_back(); }

namespace {
struct ContainerRepr {
  Runtime& rt;
  std::string out;
  Py_ssize_t n = 0;
};
int container_repr_visit(PyObject* child, const RefLabel& label, void* arg) {
  auto* c = static_cast<ContainerRepr*>(arg);
  if (label.kind == RefLabel::Value) {
    c->out += ": ";
  } else if (c->n++ > 0) {
    c->out += ", ";
  }
  c->out += PyObject_Repr(c->rt, child);
  return c->rt.repr_state.failed ? 1 : 0;
}
}  // namespace

std::string container_repr(Runtime& rt, PyObject* op, std::string_view open, std::string_view close,
                           std::string_view cycle, bool one_item_comma) {
  if (!repr_enter(rt, op)) return std::string(cycle);
  ContainerRepr c{rt, std::string(open)};
  Py_TYPE(op)->tp_walk(op, WalkMode::All, container_repr_visit, &c);
  repr_leave(rt, op);
  if (rt.repr_state.failed) return {};
  if (one_item_comma && c.n == 1) c.out += ",";
  c.out += close;
  return c.out;
}

// PyObject_Repr: like CPython, read the type pointer from the object and call the type's
// tp_repr slot through it. On a dangling address this is where CPython's talk experiments
// crash: the "type" is whatever bytes now live at op+8, and the slot read through it is a wild
// function pointer. Each call spends one unit of Py_EnterRecursiveCall's budget; when it runs
// out, repr_state.failed is set with the RecursionError pending (an error pending before the
// call, as when a collector error report reprs its object, is left alone).
std::string PyObject_Repr(Runtime& rt, PyObject* op) {
  Runtime::ReprState& st = rt.repr_state;
  if (st.depth == 0) st.failed = false;
  if (st.depth >= C_RECURSION_LIMIT - C_RECURSION_USED_AT_TOP_LEVEL) {
    rt.set_error(ErrorCode::Recursion,
                 "maximum recursion depth exceeded while getting the repr of an object",
                 "RecursionError");
    st.failed = true;
    return {};
  }
  // Guarded: an item freed behind its container's back (an extra Py_DECREF) is reported, not read.
  if (rt.guard && rt.checked_object(reinterpret_cast<uintptr_t>(op)) == nullptr) {
    st.failed = true;
    return {};
  }
  PyTypeObject* tp = Py_TYPE(op);
  reprfunc f = tp->tp_repr;
  if (f == nullptr) {
    // CPython's fallback when a type has no tp_repr: "<%s object at %p>" with tp_name, read
    // (strlen) through the type pointer like PyUnicode_FromFormat does.
    const char* name = tp->tp_name;
    return "<" + std::string(name, std::strlen(name)) + " object at " + repr_address(op) + ">";
  }
  st.depth++;
  std::string text = f(rt, op);
  st.depth--;
  if (st.failed) return {};
  return text;
}

PyObject* PyObject_ReprObject(Runtime& rt, PyObject* op) {
  std::string text = PyObject_Repr(rt, op);
  if (rt.has_error()) return nullptr;
  bool is_int = Py_TYPE(op)->tp_kind == TypeKind::Int;
  return is_int ? PyUnicode_NewFromUTF8Fresh(rt, text) : PyUnicode_FromUTF8(rt, text);
}

// The text of a walk label: the access path that reaches the child ([3], ['x'], .name,
// __dict__...), or what the child is to its container (key 'x', element).
// A key freed behind its container's back (guarded) is named, not read.
static std::string key_repr(Runtime& rt, PyObject* key) {
  if (rt.guard && !rt.is_live_object(key)) return "<freed object at " + repr_address(key) + ">";
  return PyObject_Repr(rt, key);
}

std::string label_text(Runtime& rt, const RefLabel& label, PyObject* child) {
  switch (label.kind) {
    case RefLabel::Index: return "[" + std::to_string(label.index) + "]";
    case RefLabel::Key: return "key " + key_repr(rt, child);
    case RefLabel::Value: return "[" + key_repr(rt, label.key) + "]";
    case RefLabel::Attr: return "." + PyUnicode_AsUTF8(label.key);
    case RefLabel::Dict: return "__dict__";
    case RefLabel::Class: return "__class__";
    case RefLabel::Mro: return "__mro__";
    case RefLabel::Name: return "__name__";
    case RefLabel::Module: return "__module__";
    case RefLabel::SharedKey: return "shared key " + key_repr(rt, child);
    case RefLabel::Element: return "element";
  }
  return {};
}

// =============================================================================================
// sizes and len: the type's slots
// =============================================================================================

size_t object_sizeof(const PyObject* op) {
  const PyTypeObject* tp = Py_TYPE(op);
  return tp->tp_sizeof != nullptr ? tp->tp_sizeof(op) : static_cast<size_t>(tp->tp_basicsize);
}

size_t _PySys_GetSizeOf(const PyObject* op) {
  size_t size = object_sizeof(op);
  if (PyObject_IS_GC(op) || Py_TYPE(op)->tp_kind == TypeKind::Tuple)
    size += _PyType_PreHeaderSize(Py_TYPE(op));
  return size;
}

Py_ssize_t PyObject_Length(Runtime& rt, PyObject* op) {
  lenfunc f = Py_TYPE(op)->tp_len;
  if (f != nullptr) return f(op);
  rt.set_error(ErrorCode::Type,
               std::string("object of type '") + Py_TYPE(op)->tp_name + "' has no len()",
               "TypeError");
  return -1;
}

RCL_END_NAMESPACE
