// object.cc — the runtime's static type objects, and the generic operations every type shares
// (repr, __sizeof__, len).
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

void init_sequence_types(Runtime& rt);
void init_dict_type(Runtime& rt);
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

static void init_type(Runtime& rt, StaticType& s, const char* name, TypeKind kind,
                      Py_ssize_t basicsize, Py_ssize_t itemsize, unsigned long flags) {
  std::memset(&s, 0, sizeof s);
  PyTypeObject* t = &s.t;
  t->ob_base.ob_base.ob_refcnt = 0xFFFFFFFF;
  t->ob_base.ob_base.ob_type = &rt.type_type.t;
  t->tp_name = name;
  t->tp_kind = kind;
  t->tp_basicsize = basicsize;
  t->tp_itemsize = itemsize;
  t->tp_flags = flags | Py_TPFLAGS_READY;
  t->tp_dealloc = static_or_free_dealloc;
  t->tp_repr = object_default_repr;
  t->tp_base = kind == TypeKind::Object ? nullptr : &rt.object_type.t;
}

void init_static_types(Runtime& rt) {
  const unsigned long GC = Py_TPFLAGS_HAVE_GC;
  init_type(rt, rt.type_type, "type", TypeKind::Type, sizeof(PyHeapTypeObject), 0,
            GC | Py_TPFLAGS_TYPE_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_type(rt, rt.object_type, "object", TypeKind::Object, sizeof(PyObject), 0,
            Py_TPFLAGS_BASETYPE);
  init_type(rt, rt.none_type, "NoneType", TypeKind::None, sizeof(PyObject), 0, 0);
  init_type(rt, rt.bool_type, "bool", TypeKind::Bool, offsetof(PyLongObject, ob_digit),
            sizeof(digit), Py_TPFLAGS_LONG_SUBCLASS);
  init_type(rt, rt.int_type, "int", TypeKind::Int, offsetof(PyLongObject, ob_digit),
            sizeof(digit), Py_TPFLAGS_LONG_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_type(rt, rt.float_type, "float", TypeKind::Float, sizeof(PyFloatObject), 0,
            Py_TPFLAGS_BASETYPE);
  rt.float_type.t.tp_dealloc = float_dealloc;
  init_type(rt, rt.str_type, "str", TypeKind::Str, sizeof(PyASCIIObject), 0,
            Py_TPFLAGS_UNICODE_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_type(rt, rt.tuple_type, "tuple", TypeKind::Tuple, sizeof(PyVarObject), sizeof(PyObject*),
            GC | Py_TPFLAGS_TUPLE_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_type(rt, rt.list_type, "list", TypeKind::List, sizeof(PyListObject), 0,
            GC | Py_TPFLAGS_LIST_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_type(rt, rt.dict_type, "dict", TypeKind::Dict, sizeof(PyDictObject), 0,
            GC | Py_TPFLAGS_DICT_SUBCLASS | Py_TPFLAGS_BASETYPE);
  init_type(rt, rt.ellipsis_type, "ellipsis", TypeKind::Ellipsis, sizeof(PyObject), 0, 0);
  init_type(rt, rt.notimpl_type, "NotImplementedType", TypeKind::NotImplemented,
            sizeof(PyObject), 0, 0);
  init_type(rt, rt.weakref_type, "weakref.ReferenceType", TypeKind::WeakRef,
            sizeof(PyWeakReference), 0, GC);
  init_sequence_types(rt);
  init_dict_type(rt);
  init_class_types(rt);
  init_weakref_type(rt);
}

// =============================================================================================
// repr
// =============================================================================================

static std::string hex_addr(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, reinterpret_cast<uintptr_t>(p));
  return buf;
}

static std::string long_repr(const PyObject* op) {
  int sign;
  std::vector<uint64_t> w;
  PyLong_AsWords(op, &sign, &w);
  if (w.empty()) return "0";
  std::string digits;
  while (!w.empty()) {  // repeated division by 10 of the little-endian magnitude
    unsigned __int128 rem = 0;
    for (size_t i = w.size(); i-- > 0;) {
      unsigned __int128 cur = rem << 64 | w[i];
      w[i] = static_cast<uint64_t>(cur / 10);
      rem = cur % 10;
    }
    digits += static_cast<char>('0' + static_cast<int>(rem));
    while (!w.empty() && w.back() == 0) w.pop_back();
  }
  if (sign < 0) digits += '-';
  return std::string(digits.rbegin(), digits.rend());
}

static std::string float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // Shortest repr that round-trips, as Python's repr(float).
  char buf[64];
  for (int prec = 1; prec <= 17; prec++) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  double ip;
  if (s.find_first_of(".einn") == std::string::npos && std::modf(v, &ip) == 0.0) s += ".0";
  // Python writes 1e+16 as 1e+16 and 1e-05 as 1e-05: %g already matches those forms.
  return s;
}

static std::string str_repr(const PyObject* op) {
  std::string s = PyUnicode_AsUTF8(op);
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  out += q;
  return out;
}

// depth_left: Py_EnterRecursiveCall's budget, one unit per nested repr (leaves included). When
// it runs out, `failed` is set with the RecursionError pending (an error pending before the call,
// as when a collector error report reprs its object, is left alone).
static std::string repr_rec(Runtime& rt, PyObject* op, std::vector<PyObject*>& stack, int depth_left,
                            bool& failed) {
  if (depth_left <= 0) {
    rt.set_error(ErrorCode::Recursion,
                 "maximum recursion depth exceeded while getting the repr of an object",
                 "RecursionError");
    failed = true;
    return {};
  }
  // Guarded: an item freed behind its container's back (an extra Py_DECREF) is reported, not read.
  if (rt.guard && rt.checked_object(reinterpret_cast<uintptr_t>(op)) == nullptr) {
    failed = true;
    return {};
  }
  PyTypeObject* tp = Py_TYPE(op);
  switch (tp->tp_kind) {
    case TypeKind::None:
      return "None";
    case TypeKind::Bool:
      return op == rt.True() ? "True" : "False";
    case TypeKind::Ellipsis:
      return "Ellipsis";
    case TypeKind::NotImplemented:
      return "NotImplemented";
    case TypeKind::Int:
      return long_repr(op);
    case TypeKind::Float:
      return float_repr(reinterpret_cast<PyFloatObject*>(op)->ob_fval);
    case TypeKind::Str:
      return str_repr(op);
    case TypeKind::Object:
      return "<object object at " + hex_addr(op) + ">";
    case TypeKind::Type: {
      auto* t = reinterpret_cast<PyTypeObject*>(op);
      if (PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE)) {
        auto* ht = reinterpret_cast<PyHeapTypeObject*>(op);
        return "<class '" + PyUnicode_AsUTF8(ht->ht_module) + "." + t->tp_name + "'>";
      }
      return std::string("<class '") + t->tp_name + "'>";
    }
    case TypeKind::Instance: {
      auto* ht = reinterpret_cast<PyHeapTypeObject*>(tp);
      return "<" + PyUnicode_AsUTF8(ht->ht_module) + "." + tp->tp_name + " object at " +
             hex_addr(op) + ">";
    }
    case TypeKind::WeakRef: {
      auto* w = reinterpret_cast<PyWeakReference*>(op);
      if (w->wr_object == nullptr) return "<weakref at " + hex_addr(op) + "; dead>";
      return "<weakref at " + hex_addr(op) + "; to '" + Py_TYPE(w->wr_object)->tp_name +
             "' at " + hex_addr(w->wr_object) + ">";
    }
    default:
      break;
  }
  // Containers: Py_ReprEnter-style recursion guard.
  for (PyObject* s : stack)
    if (s == op) {
      return tp->tp_kind == TypeKind::List ? "[...]" : tp->tp_kind == TypeKind::Dict ? "{...}" : "(...)";
    }
  stack.push_back(op);
  std::string out;
  if (tp->tp_kind == TypeKind::List || tp->tp_kind == TypeKind::Tuple) {
    bool list = tp->tp_kind == TypeKind::List;
    out = list ? "[" : "(";
    for (Py_ssize_t i = 0; i < Py_SIZE(op); i++) {
      if (i) out += ", ";
      PyObject* item = list ? PyList_ITEM(op, i) : PyTuple_ITEM(op, i);
      out += item ? repr_rec(rt, item, stack, depth_left - 1, failed) : "<NULL>";
      if (failed) break;
    }
    if (!list && Py_SIZE(op) == 1) out += ",";
    out += list ? "]" : ")";
  } else if (tp->tp_kind == TypeKind::Dict) {
    out = "{";
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    bool first = true;
    while (PyDict_Next(op, &pos, &k, &v)) {
      if (!first) out += ", ";
      first = false;
      out += repr_rec(rt, k, stack, depth_left - 1, failed);
      if (failed) break;
      out += ": " + repr_rec(rt, v, stack, depth_left - 1, failed);
      if (failed) break;
    }
    out += "}";
  }
  stack.pop_back();
  return failed ? std::string() : out;
}

std::string object_default_repr(Runtime& rt, PyObject* op) {
  std::vector<PyObject*> stack;
  bool failed = false;
  return repr_rec(rt, op, stack, C_RECURSION_LIMIT - C_RECURSION_USED_AT_TOP_LEVEL, failed);
}

// PyObject_Repr: like CPython, read the type pointer from the object and call the type's
// tp_repr slot through it. On a dangling address this is where CPython's talk experiments
// crash: the "type" is whatever bytes now live at op+8, and the slot read through it is a wild
// function pointer.
std::string PyObject_Repr(Runtime& rt, PyObject* op) {
  PyTypeObject* tp = Py_TYPE(op);
  reprfunc f = tp->tp_repr;
  if (f == nullptr) {
    // CPython's fallback when a type has no tp_repr: "<%s object at %p>" with tp_name, read
    // (strlen) through the type pointer like PyUnicode_FromFormat does.
    const char* name = tp->tp_name;
    return "<" + std::string(name, std::strlen(name)) + " object at " + hex_addr(op) + ">";
  }
  return f(rt, op);
}

PyObject* PyObject_ReprObject(Runtime& rt, PyObject* op) {
  std::string text = PyObject_Repr(rt, op);
  if (rt.has_error()) return nullptr;
  bool is_int = Py_TYPE(op)->tp_kind == TypeKind::Int;
  return is_int ? PyUnicode_NewFromUTF8Fresh(rt, text) : PyUnicode_FromUTF8(rt, text);
}

// =============================================================================================
// sizes
// =============================================================================================

size_t object_sizeof(const PyObject* op) {
  const PyTypeObject* tp = Py_TYPE(op);
  switch (tp->tp_kind) {
    case TypeKind::Int:
    case TypeKind::Bool: {
      size_t nd = PyLong_NDigits(op);
      return offsetof(PyLongObject, ob_digit) + (nd ? nd : 1) * sizeof(digit);
    }
    case TypeKind::Str: {
      auto* a = reinterpret_cast<const PyASCIIObject*>(op);
      size_t header = a->state.ascii ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject);
      size_t size = header + static_cast<size_t>(a->length + 1) * a->state.kind;
      // A non-ASCII string whose UTF-8 form was cached carries it too (1-char Latin-1
      // singletons are created with it in CPython).
      if (!a->state.ascii && a->state.statically_allocated) size += 3;
      return size;
    }
    case TypeKind::Tuple:
      return sizeof(PyVarObject) + static_cast<size_t>(Py_SIZE(op)) * sizeof(PyObject*);
    case TypeKind::List:
      return sizeof(PyListObject) +
             static_cast<size_t>(reinterpret_cast<const PyListObject*>(op)->allocated) *
                 sizeof(PyObject*);
    case TypeKind::Dict:
      return _PyDict_SizeOf(op);
    default:
      return static_cast<size_t>(tp->tp_basicsize);
  }
}

size_t _PySys_GetSizeOf(const PyObject* op) {
  size_t size = object_sizeof(op);
  if (PyObject_IS_GC(op) || Py_TYPE(op)->tp_kind == TypeKind::Tuple)
    size += _PyType_PreHeaderSize(Py_TYPE(op));
  return size;
}

Py_ssize_t PyObject_Length(Runtime& rt, PyObject* op) {
  switch (Py_TYPE(op)->tp_kind) {
    case TypeKind::Str:
      return PyUnicode_GetLength(op);
    case TypeKind::Tuple:
    case TypeKind::List:
      return Py_SIZE(op);
    case TypeKind::Dict:
      return PyDict_Size(op);
    default:
      rt.set_error(ErrorCode::Type,
                   std::string("object of type '") + Py_TYPE(op)->tp_name + "' has no len()",
                   "TypeError");
      return -1;
  }
}

RCL_END_NAMESPACE
