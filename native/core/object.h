// object.h — PyObject, PyVarObject, PyGC_Head, PyTypeObject: the memory layout of every object.
//
// Glossary (CPython's names, 64-bit):
//   op          a PyObject*; id(obj) == (uintptr_t)op
//   presize     bytes in front of op that belong to the same allocation: 16 for a GC object
//               (PyGC_Head), +16 for a heap-type instance (managed dict + weakref slots)
//   immortal    (int32)low32(ob_refcnt) < 0; the value stored is 0xFFFFFFFF
//
// Layout invariants (checked by static_asserts below):
//   offsetof(PyObject, ob_refcnt) == 0, offsetof(PyObject, ob_type) == 8, sizeof(PyObject) == 16
//   offsetof(PyVarObject, ob_size) == 16, sizeof(PyVarObject) == 24
//   (PyGC_Head*)op - 1 is the object's PyGC_Head when the type has Py_TPFLAGS_HAVE_GC
//   heap-type instance: op-32 weakref list, op-24 dict-or-values, op-16 _gc_next, op-8 _gc_prev
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "config.h"
#include "schema.h"

RCL_BEGIN_NAMESPACE

struct PyTypeObject;
class Runtime;

// ---------------------------------------------------------------------------------------------
// PyObject / PyVarObject
// ---------------------------------------------------------------------------------------------

struct PyObject {
  union {
    Py_ssize_t ob_refcnt;
    uint32_t ob_refcnt_split[2];  // [0] is the low word on little-endian (PY_BIG_ENDIAN == 0)
  };
  PyTypeObject* ob_type;
};

struct PyVarObject {
  PyObject ob_base;
  Py_ssize_t ob_size;  // element count, not bytes
};

static_assert(offsetof(PyObject, ob_refcnt) == 0, "ob_refcnt at offset 0");
static_assert(offsetof(PyObject, ob_type) == 8, "ob_type at offset 8");
static_assert(sizeof(PyObject) == 16, "PyObject is 16 bytes");
static_assert(offsetof(PyVarObject, ob_size) == 16, "ob_size at offset 16");
static_assert(sizeof(PyVarObject) == 24, "PyVarObject is 24 bytes");

// ---------------------------------------------------------------------------------------------
// PyGC_Head: 16 bytes immediately before a GC object
// ---------------------------------------------------------------------------------------------
// _gc_next: next header in the generation list; 0 == untracked. Bit 0 (NEXT_MASK_UNREACHABLE)
//           is set only while the object sits in a collection's unreachable list.
// _gc_prev: previous header (bits 2..63) | COLLECTING (bit 1) | FINALIZED (bit 0). During a
//           collection bits 2..63 hold gc_refs instead (the list is then singly linked).
struct PyGC_Head {
  uintptr_t _gc_next;
  uintptr_t _gc_prev;
};
static_assert(sizeof(PyGC_Head) == 16, "PyGC_Head is 16 bytes");

inline constexpr uintptr_t _PyGC_PREV_MASK_FINALIZED = 1;
inline constexpr uintptr_t _PyGC_PREV_MASK_COLLECTING = 2;
inline constexpr int _PyGC_PREV_SHIFT = 2;
inline constexpr uintptr_t _PyGC_PREV_MASK = ~uintptr_t{3};
inline constexpr uintptr_t NEXT_MASK_UNREACHABLE = 1;

inline PyGC_Head* _Py_AS_GC(PyObject* op) { return reinterpret_cast<PyGC_Head*>(op) - 1; }
inline PyObject* _Py_FROM_GC(PyGC_Head* g) { return reinterpret_cast<PyObject*>(g + 1); }

// ---------------------------------------------------------------------------------------------
// Type objects
// ---------------------------------------------------------------------------------------------

// tp_flags bits (CPython's values).
inline constexpr unsigned long Py_TPFLAGS_MANAGED_WEAKREF = 1UL << 3;
inline constexpr unsigned long Py_TPFLAGS_MANAGED_DICT = 1UL << 4;
inline constexpr unsigned long Py_TPFLAGS_PREHEADER =
    Py_TPFLAGS_MANAGED_WEAKREF | Py_TPFLAGS_MANAGED_DICT;
inline constexpr unsigned long Py_TPFLAGS_HEAPTYPE = 1UL << 9;
inline constexpr unsigned long Py_TPFLAGS_BASETYPE = 1UL << 10;
inline constexpr unsigned long Py_TPFLAGS_READY = 1UL << 12;
inline constexpr unsigned long Py_TPFLAGS_HAVE_GC = 1UL << 14;
inline constexpr unsigned long Py_TPFLAGS_LONG_SUBCLASS = 1UL << 24;
inline constexpr unsigned long Py_TPFLAGS_LIST_SUBCLASS = 1UL << 25;
inline constexpr unsigned long Py_TPFLAGS_TUPLE_SUBCLASS = 1UL << 26;
inline constexpr unsigned long Py_TPFLAGS_UNICODE_SUBCLASS = 1UL << 28;
inline constexpr unsigned long Py_TPFLAGS_DICT_SUBCLASS = 1UL << 29;
inline constexpr unsigned long Py_TPFLAGS_TYPE_SUBCLASS = 1UL << 31;

using visitproc = int (*)(PyObject* child, void* arg);
using destructor = void (*)(Runtime& rt, PyObject* op);
using traverseproc = int (*)(PyObject* op, visitproc visit, void* arg);
using inquiry = int (*)(Runtime& rt, PyObject* op);
using freefunc = void (*)(Runtime& rt, void* op);
// tp_repr returns the repr's text (the core's strings are std::string; a str object is made
// from it by PyObject_ReprObject). Dispatched through the type like CPython's PyObject_Repr.
using reprfunc = std::string (*)(Runtime& rt, PyObject* op);

// Which built-in kind a type is; lets the core switch on a type without string compares.
// The kinds are RCL_TYPE_KINDS (schema.h), the one list both sides of the boundary share.
enum class TypeKind : uint8_t {
#define RCL_X(name, js) name,
  RCL_TYPE_KINDS(RCL_X)
#undef RCL_X
};
#define RCL_X(name, js) +1
inline constexpr size_t kTypeKindCount = 0 RCL_TYPE_KINDS(RCL_X);
#undef RCL_X

// ---------------------------------------------------------------------------------------------
// The labelled walk: every reference an object owns, each with the slot it sits in.
// ---------------------------------------------------------------------------------------------
// A type's walk is written once (a `struct XWalk { template <WalkMode M, class V> static int
// walk(PyObject*, V&& visit); }`, visit(child, label) returning non-zero to stop) and serves two
// views:
//   WalkMode::Gc   what CPython's tp_traverse visits, in its order (the collector,
//                  gc.get_referents, heap pictures): tp_traverse is derived from it;
//   WalkMode::All  every strong reference the object owns, in the container's natural order
//                  (repr, value(), reference accounting): also the keys of a str-keyed dict,
//                  a class's name and shared attribute keys, which the collector never visits.
enum class WalkMode : uint8_t { Gc, All };

struct RefLabel {
  enum Kind : uint8_t {
    Index,    // [i] of a list or tuple
    Key,      // a dict key (key 'x')
    Value,    // the value of a dict entry (value of 'x'); `key` is the entry's key
    Attr,     // an instance attribute (.name); `key` is the name (str)
    Dict,     // __dict__: an instance's materialised dict, a class's namespace
    Class,    // __class__: the type an instance owns
    Mro,      // __mro__
    Name,     // __name__ of a class
    Module,   // __module__ of a class
    SharedKey,  // a class's shared instance-attribute key
    Element,  // a set element
  };
  Kind kind;
  Py_ssize_t index = 0;    // Index
  PyObject* key = nullptr;  // Value: the entry's key; Attr: the name
};

using walkvisitproc = int (*)(PyObject* child, const RefLabel& label, void* arg);
using walkproc = int (*)(PyObject* op, WalkMode mode, walkvisitproc visit, void* arg);
using lenfunc = Py_ssize_t (*)(PyObject* op);
using sizeoffunc = size_t (*)(const PyObject* op);

// What value() makes of an object: the addon turns each shape into its JS value (children
// through the walk), so a new type chooses a shape instead of adding a conversion.
enum class JsShape : uint8_t {
  Repr,     // a string: repr(obj) (the default)
  Null,     // None
  Bool, Int, Float, Str,
  Array,    // list, tuple: the Index children
  Map,      // dict: Key / Value children
  Set,      // set, frozenset: the Element children
  Object,   // an instance: its Attr children (and those of a materialised __dict__)
};

// A type object. It is a PyVarObject like CPython's, so heap types are ordinary GC objects
// (tracked, refcounted, collectable); the static types of a Runtime are immortal.
struct PyTypeObject {
  PyVarObject ob_base;
  const char* tp_name;
  Py_ssize_t tp_basicsize;
  Py_ssize_t tp_itemsize;
  destructor tp_dealloc;
  traverseproc tp_traverse;
  inquiry tp_clear;
  destructor tp_finalize;  // PEP 442 (__del__); runs at most once per GC object
  destructor tp_del;       // legacy finalizer: objects in cycles become uncollectable
  freefunc tp_free;
  unsigned long tp_flags;
  TypeKind tp_kind;
  PyTypeObject* tp_base;
  reprfunc tp_repr;  // PyObject_Repr calls (*Py_TYPE(op)->tp_repr)(op), as CPython does
  walkproc tp_walk;      // the labelled walk (above); nullptr: the object owns no references
  lenfunc tp_len;        // len(); nullptr: TypeError "object of type 'x' has no len()"
  sizeoffunc tp_sizeof;  // __sizeof__; nullptr: tp_basicsize
  Py_ssize_t tp_weaklistoffset;  // offset of the weakref list head; 0: no weakrefs (instances
                                 // keep theirs in the pre-header, MANAGED_WEAKREF)
  JsShape tp_js;
};

// tp_traverse and tp_walk of a type, both from its one walk (see RefLabel).
template <class W>
int traverse_from_walk(PyObject* op, visitproc visit, void* arg) {
  return W::template walk<WalkMode::Gc>(op, [visit, arg](PyObject* c, const RefLabel&) { return visit(c, arg); });
}
template <class W>
int walk_from_walk(PyObject* op, WalkMode mode, walkvisitproc visit, void* arg) {
  auto v = [visit, arg](PyObject* c, const RefLabel& l) { return visit(c, l, arg); };
  return mode == WalkMode::Gc ? W::template walk<WalkMode::Gc>(op, v) : W::template walk<WalkMode::All>(op, v);
}
template <class W>
void set_walk(PyTypeObject* t) {
  t->tp_traverse = traverse_from_walk<W>;
  t->tp_walk = walk_from_walk<W>;
}

inline PyTypeObject* Py_TYPE(const PyObject* op) { return op->ob_type; }
inline Py_ssize_t Py_SIZE(const PyObject* op) {
  return reinterpret_cast<const PyVarObject*>(op)->ob_size;
}
inline void Py_SET_SIZE(PyObject* op, Py_ssize_t n) {
  reinterpret_cast<PyVarObject*>(op)->ob_size = n;
}
inline bool Py_Is(const PyObject* x, const PyObject* y) { return x == y; }
inline bool PyType_HasFeature(const PyTypeObject* t, unsigned long f) {
  return (t->tp_flags & f) != 0;
}
inline bool _PyType_IS_GC(const PyTypeObject* t) {
  return PyType_HasFeature(t, Py_TPFLAGS_HAVE_GC);
}
// Static type objects carry HAVE_GC in CPython but are not GC objects (tp_is_gc says no); here
// only heap types are GC objects among types.
inline bool PyObject_IS_GC(const PyObject* op) {
  const PyTypeObject* t = Py_TYPE(op);
  if (!_PyType_IS_GC(t)) return false;
  if (t->tp_kind == TypeKind::Type)
    return PyType_HasFeature(reinterpret_cast<const PyTypeObject*>(op), Py_TPFLAGS_HEAPTYPE);
  return true;
}
// Bytes in front of op that belong to its allocation (_PyType_PreHeaderSize).
inline size_t _PyType_PreHeaderSize(const PyTypeObject* t) {
  return (_PyType_IS_GC(t) ? sizeof(PyGC_Head) : 0) +
         (PyType_HasFeature(t, Py_TPFLAGS_PREHEADER) ? 2 * sizeof(PyObject*) : 0);
}
inline size_t _PyObject_PreHeaderSize(const PyObject* op) {
  // A type object's own header: heap types are GC objects, static ones live in the Runtime
  // with a PyGC_Head in front of them too (never tracked), so the rule is uniform.
  return _PyType_PreHeaderSize(Py_TYPE(op));
}
// _PyObject_VAR_SIZE: basicsize + n * itemsize rounded up to pointer alignment.
inline size_t _PyObject_VAR_SIZE(const PyTypeObject* t, Py_ssize_t n) {
  size_t s = static_cast<size_t>(t->tp_basicsize) + static_cast<size_t>(n) *
                                                         static_cast<size_t>(t->tp_itemsize);
  return (s + 7) & ~size_t{7};
}

// Managed pre-header slots of heap-type instances (MANAGED_DICT_OFFSET / MANAGED_WEAKREF_OFFSET).
inline uintptr_t* _PyObject_ManagedDictSlot(PyObject* op) {
  return reinterpret_cast<uintptr_t*>(op) - 3;
}
inline PyObject** _PyObject_ManagedWeakrefSlot(PyObject* op) {
  return reinterpret_cast<PyObject**>(op) - 4;
}

RCL_END_NAMESPACE
