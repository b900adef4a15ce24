// types.h — the built-in object layouts (CPython 3.12, 64-bit) and their constructors.
//
// Every constructor returns a NEW reference (refcount 1, or an immortal singleton) or nullptr
// with a pending error in the Runtime. Functions that take items never steal them unless the
// name says so (the *_Steal variants, like PyList_SET_ITEM / PyTuple_SET_ITEM).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../object.h"

RCL_BEGIN_NAMESPACE

// ---------------------------------------------------------------------------------------------
// int: 3.12's compact layout. lv_tag = ndigits << 3 | sign (0 positive, 1 zero, 2 negative);
// 30-bit digits, least significant first. sizeof(0) == 28 (one digit even for zero).
// ---------------------------------------------------------------------------------------------
using digit = uint32_t;
inline constexpr int PyLong_SHIFT = 30;
inline constexpr digit PyLong_MASK = (digit{1} << PyLong_SHIFT) - 1;
inline constexpr int _PY_NSMALLNEGINTS = 5;
inline constexpr int _PY_NSMALLPOSINTS = 257;

struct PyLongObject {
  PyObject ob_base;
  uintptr_t lv_tag;
  digit ob_digit[1];
};

PyObject* PyLong_FromInt64(Runtime& rt, int64_t v);
// Magnitude as 64-bit words (little-endian), sign: -1, 0, +1. Arbitrary precision.
PyObject* PyLong_FromWords(Runtime& rt, int sign, const uint64_t* words, size_t nwords);
bool PyLong_AsInt64(const PyObject* op, int64_t* out);  // false when it does not fit
void PyLong_AsWords(const PyObject* op, int* sign, std::vector<uint64_t>* words);
size_t PyLong_NDigits(const PyObject* op);
int PyLong_Sign(const PyObject* op);

// ---------------------------------------------------------------------------------------------
// float
// ---------------------------------------------------------------------------------------------
struct PyFloatObject {
  PyObject ob_base;
  double ob_fval;
};
PyObject* PyFloat_FromDouble(Runtime& rt, double v);

// ---------------------------------------------------------------------------------------------
// str: compact objects as 3.12 lays them out. ASCII strings are a PyASCIIObject (40 bytes)
// followed by the data; other strings a PyCompactUnicodeObject (56 bytes) followed by data in
// the narrowest kind (1, 2 or 4 bytes per code point). Always NUL terminated.
// ---------------------------------------------------------------------------------------------
struct PyASCIIObject {
  PyObject ob_base;
  Py_ssize_t length;
  Py_ssize_t hash;  // -1 until computed
  struct {
    unsigned int interned : 2;
    unsigned int kind : 3;
    unsigned int compact : 1;
    unsigned int ascii : 1;
    unsigned int statically_allocated : 1;
    unsigned int : 24;
  } state;
};
struct PyCompactUnicodeObject {
  PyASCIIObject _base;
  Py_ssize_t utf8_length;
  char* utf8;
};
static_assert(sizeof(PyASCIIObject) == 40, "PyASCIIObject is 40 bytes");
static_assert(sizeof(PyCompactUnicodeObject) == 56, "PyCompactUnicodeObject is 56 bytes");

PyObject* PyUnicode_FromUTF8(Runtime& rt, std::string_view utf8);
PyObject* PyUnicode_FromCodePoints(Runtime& rt, const uint32_t* cps, size_t n);
// sys.intern(s) of 3.12: one immortal str per text (a borrowed reference).
PyObject* PyUnicode_InternFromUTF8(Runtime& rt, std::string_view utf8);
// A str object that is always freshly allocated (PyUnicode_New + copy), even for 1 character.
PyObject* PyUnicode_NewFromUTF8Fresh(Runtime& rt, std::string_view ascii);
std::string PyUnicode_AsUTF8(const PyObject* op);
Py_ssize_t PyUnicode_GetLength(const PyObject* op);
Py_ssize_t unicode_hash(PyObject* op);
bool unicode_eq(const PyObject* a, const PyObject* b);
void* PyUnicode_DATA(const PyObject* op);

// ---------------------------------------------------------------------------------------------
// tuple
// ---------------------------------------------------------------------------------------------
struct PyTupleObject {
  PyVarObject ob_base;
  PyObject* ob_item[1];
};
PyObject* PyTuple_New(Runtime& rt, Py_ssize_t n);  // items NULL; fill with PyTuple_SET_ITEM
inline PyObject*& PyTuple_ITEM(PyObject* op, Py_ssize_t i) {
  return reinterpret_cast<PyTupleObject*>(op)->ob_item[i];
}
void _PyTuple_MaybeUntrack(PyObject* op);

// ---------------------------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------------------------
struct PyListObject {
  PyVarObject ob_base;
  PyObject** ob_item;
  Py_ssize_t allocated;
};
PyObject* PyList_New(Runtime& rt, Py_ssize_t n);  // n NULL items; fill with PyList_SET_ITEM
inline PyObject*& PyList_ITEM(PyObject* op, Py_ssize_t i) {
  return reinterpret_cast<PyListObject*>(op)->ob_item[i];
}
int PyList_Append(Runtime& rt, PyObject* list, PyObject* item);
int _PyList_AppendTakeRef(Runtime& rt, PyObject* list, PyObject* item);  // steals item
// [i for i in range(lo, hi)]'s appends: new ints, LIST_APPEND's over-allocation (sequence.cc)
int PyList_AppendRange(Runtime& rt, PyObject* list, int64_t lo, int64_t hi);
int PyList_Insert(Runtime& rt, PyObject* list, Py_ssize_t where, PyObject* item);
int PyList_SetItem(Runtime& rt, PyObject* list, Py_ssize_t i, PyObject* item);  // no steal here
int PyList_DelItem(Runtime& rt, PyObject* list, Py_ssize_t i);
PyObject* PyList_Pop(Runtime& rt, PyObject* list, Py_ssize_t i);  // new reference
int PyList_Clear(Runtime& rt, PyObject* list);
PyObject* PyList_Repeat(Runtime& rt, PyObject* list, Py_ssize_t n);

// ---------------------------------------------------------------------------------------------
// dict: 3.12's compact dict. A keys object (header, index table, entries) owned by the dict;
// the empty dict shares the runtime's immortal empty keys. Unicode-only keys use 16-byte
// entries (the hash lives in the str), otherwise 24-byte entries with the hash.
// ---------------------------------------------------------------------------------------------
enum DictKeysKind : uint8_t { DICT_KEYS_GENERAL = 0, DICT_KEYS_UNICODE = 1, DICT_KEYS_SPLIT = 2 };

struct PyDictKeysObject {
  Py_ssize_t dk_refcnt;
  uint8_t dk_log2_size;
  uint8_t dk_log2_index_bytes;
  uint8_t dk_kind;
  uint32_t dk_version;
  Py_ssize_t dk_usable;
  Py_ssize_t dk_nentries;
  char dk_indices[];
};
struct PyDictKeyEntry {
  Py_ssize_t me_hash;
  PyObject* me_key;
  PyObject* me_value;
};
struct PyDictUnicodeEntry {
  PyObject* me_key;
  PyObject* me_value;
};
struct PyDictObject {
  PyObject ob_base;
  Py_ssize_t ma_used;
  uint64_t ma_version_tag;
  PyDictKeysObject* ma_keys;
  void* ma_values;  // split dicts only (unused here: always nullptr)
};
static_assert(sizeof(PyDictKeysObject) == 32, "keys header is 32 bytes");
static_assert(sizeof(PyDictObject) == 48, "PyDictObject is 48 bytes");

PyObject* PyDict_New(Runtime& rt);
// Return 0 on success, -1 with a pending error (unhashable key, KeyError...).
int PyDict_SetItem(Runtime& rt, PyObject* d, PyObject* key, PyObject* value);
int PyDict_DelItem(Runtime& rt, PyObject* d, PyObject* key);
PyObject* PyDict_GetItem(Runtime& rt, PyObject* d, PyObject* key);  // borrowed; nullptr if absent
PyObject* PyDict_Pop(Runtime& rt, PyObject* d, PyObject* key);       // new reference
PyObject* PyDict_Copy(Runtime& rt, PyObject* d);
void PyDict_Clear(Runtime& rt, PyObject* d);
Py_ssize_t PyDict_Size(const PyObject* d);
// Iterates entries in insertion order; pos starts at 0.
bool PyDict_Next(PyObject* d, Py_ssize_t* pos, PyObject** key, PyObject** value);
void _PyDict_MaybeUntrack(PyObject* op);
size_t _PyDict_SizeOf(const PyObject* d);
PyDictKeysObject* dict_empty_keys(Runtime& rt);
Py_ssize_t PyObject_Hash(Runtime& rt, PyObject* op);  // -1 + pending ERR_TYPE if unhashable
bool PyObject_Equal(PyObject* a, PyObject* b);          // value equality for hashable kinds

// ---------------------------------------------------------------------------------------------
// Heap classes (defineClass) and their instances.
// A heap type object is a PyHeapTypeObject; it holds its name (str), its class dict (a dict),
// its MRO tuple (itself, object) — a reference cycle, as in CPython — and the shared keys of its
// instances' managed values. Instances: 16-byte object + 32-byte pre-header (weakref list,
// dict-or-values, PyGC_Head). Values: PyMem block of prefix + size pointers, tagged pointer
// (address - 1) stored in the dict-or-values slot; a real dict* once materialised.
// ---------------------------------------------------------------------------------------------
inline constexpr Py_ssize_t SHARED_KEYS_MAX_SIZE = 30;

struct PyHeapTypeObject {
  PyTypeObject ht_type;
  PyObject* ht_name;     // str
  PyObject* ht_module;   // str: the module name shown in repr (default "__main__")
  PyObject* tp_dict;     // class attributes
  PyObject* tp_mro;      // (cls, object)
  // Shared keys of the managed values: names in insertion order (strong refs).
  PyObject** ht_cached_keys;
  Py_ssize_t ht_keys_nentries;
  Py_ssize_t ht_keys_usable;   // shrinks by one per new instance, like dk_usable in 3.12
  uint32_t ht_host_id;         // the host's id for finalize / callbacks of this class
  char* ht_name_utf8;          // tp_name: a raw-domain block, so closing the runtime frees it
};

// The dict-or-values slot of an instance (op - 24): (values - 1), the low bit tagging "values",
// or a materialised dict.
inline bool slot_is_values(uintptr_t dorv) { return (dorv & 1) != 0; }
inline PyObject** slot_values(uintptr_t dorv) { return reinterpret_cast<PyObject**>(dorv + 1); }
// The values' insertion order, kept in front of them: [-2] how many, order[k] at [-3 - k].
inline uint8_t& values_count(PyObject** values) { return reinterpret_cast<uint8_t*>(values)[-2]; }
inline uint8_t* values_order(PyObject** values) { return reinterpret_cast<uint8_t*>(values) - 3; }

// The walk of heap-class instances (subtype_traverse), inline so that the collector can pass
// its visit function as a compile-time constant (no indirect call per reference): the values
// (or the materialised dict), then the class, which every instance owns.
struct InstanceWalk {
  template <WalkMode M, typename Visit>
  RCL_ALWAYS_INLINE static int walk(PyObject* self, Visit&& visit) {
    uintptr_t dorv = *_PyObject_ManagedDictSlot(self);
    auto* ht = reinterpret_cast<PyHeapTypeObject*>(Py_TYPE(self));
    if (dorv != 0) {
      if (slot_is_values(dorv)) {
        PyObject** values = slot_values(dorv);
        auto at = [&](size_t i) { return visit(values[i], RefLabel{RefLabel::Attr, 0, ht->ht_cached_keys[i]}); };
        if constexpr (M == WalkMode::Gc) {
          // walked up to the class's current number of shared keys (see class.cc)
          auto n = static_cast<size_t>(ht->ht_keys_nentries);
          for (size_t i = 0; i < n; i++) {
            if (values[i] != nullptr) {
              if (int r = at(i)) return r;
            }
          }
        } else {  // in insertion order, as vars(obj) lists them
          uint8_t n = values_count(values);
          for (uint8_t k = 0; k < n; k++) {
            if (int r = at(values_order(values)[-static_cast<ptrdiff_t>(k)])) return r;
          }
        }
      } else if (int r = visit(reinterpret_cast<PyObject*>(dorv), RefLabel{RefLabel::Dict})) {
        return r;
      }
    }
    return visit(reinterpret_cast<PyObject*>(Py_TYPE(self)), RefLabel{RefLabel::Class});
  }
};
template <typename Visit>
RCL_ALWAYS_INLINE int instance_traverse(PyObject* self, Visit&& visit) {
  return InstanceWalk::walk<WalkMode::Gc>(self, [&visit](PyObject* c, const RefLabel&) { return visit(c); });
}

struct ClassOptions {
  std::string name;
  std::string module = "__main__";
  bool has_finalize = false;  // the host provides __del__
  bool legacy_del = false;    // a legacy tp_del: cycles through it are uncollectable
  uint32_t host_id = 0;
};
PyObject* PyType_FromOptions(Runtime& rt, const ClassOptions& opts);
PyObject* PyObject_CallClass(Runtime& rt, PyObject* cls);  // cls(): a new instance
inline PyHeapTypeObject* as_heap_type(PyObject* op) {
  return reinterpret_cast<PyHeapTypeObject*>(op);
}

// Attributes (instances: managed values / dict; classes: their tp_dict). New / borrowed refs as
// CPython: GetAttr returns a new reference, SetAttr does not steal.
PyObject* PyObject_GetAttr(Runtime& rt, PyObject* op, PyObject* name);
int PyObject_SetAttr(Runtime& rt, PyObject* op, PyObject* name, PyObject* value);  // value null = del
int PyObject_HasAttr(Runtime& rt, PyObject* op, PyObject* name);
// Attribute names and values of an instance, in insertion order (borrowed).
void instance_attributes(PyObject* op, std::vector<std::pair<PyObject*, PyObject*>>* out);

// ---------------------------------------------------------------------------------------------
// set and frozenset (3.12's PySetObject): an open-addressing table of (key, hash) entries, 8 of
// them inside the object (smalltable), a PyMem block once it grows. sizeof 200, so
// sys.getsizeof(set()) == 216 with the PyGC_Head. Both are created GC-tracked.
// ---------------------------------------------------------------------------------------------
inline constexpr Py_ssize_t PySet_MINSIZE = 8;
struct setentry {
  PyObject* key;
  Py_ssize_t hash;  // the key's hash; 0 with key NULL: unused; -1 with key dummy: deleted
};
struct PySetObject {
  PyObject ob_base;
  Py_ssize_t fill;  // active + dummy entries
  Py_ssize_t used;  // active entries
  Py_ssize_t mask;  // table size - 1 (a power of 2 minus 1)
  setentry* table;  // smalltable, or a PyMem block
  Py_ssize_t hash;  // frozenset: its hash once computed; -1 before (and for sets)
  Py_ssize_t finger;
  setentry smalltable[PySet_MINSIZE];
  PyObject* weakreflist;
};
static_assert(sizeof(PySetObject) == 200, "PySetObject is 200 bytes");

// set(items) / frozenset(items), as the {a, b} display builds them: each item added in turn.
PyObject* PySet_New(Runtime& rt, PyObject* const* items, size_t n);
PyObject* PyFrozenSet_New(Runtime& rt, PyObject* const* items, size_t n);
int PySet_Add(Runtime& rt, PyObject* set, PyObject* key);      // no steal; -1 + TypeError if unhashable
int PySet_Discard(Runtime& rt, PyObject* set, PyObject* key);  // 1 found, 0 not, -1 error
int PySet_Contains(Runtime& rt, PyObject* anyset, PyObject* key);  // 1, 0, -1 (unhashable)
PyObject* PySet_Copy(Runtime& rt, PyObject* anyset);  // a new set with the same elements
inline bool PyAnySet_Check(const PyObject* op) {
  TypeKind k = Py_TYPE(op)->tp_kind;
  return k == TypeKind::Set || k == TypeKind::FrozenSet;
}
Py_ssize_t frozenset_hash(Runtime& rt, PyObject* op);
bool set_equal(PyObject* a, PyObject* b);  // same elements (set or frozenset)

// ---------------------------------------------------------------------------------------------
// weakref
// ---------------------------------------------------------------------------------------------
struct PyWeakReference {
  PyObject ob_base;
  PyObject* wr_object;         // borrowed; None (the runtime's) once the referent is gone
  uint32_t wr_callback;        // host id of the JS callback, 0 = none
  Py_ssize_t hash;
  PyWeakReference* wr_prev;
  PyWeakReference* wr_next;
};
PyObject* PyWeakref_NewRef(Runtime& rt, PyObject* ob, uint32_t callback);
PyObject* PyWeakref_GetObject(Runtime& rt, PyObject* wr);  // borrowed (None when dead)
void PyObject_ClearWeakRefs(Runtime& rt, PyObject* op);
// Weakref list head of an object, or nullptr when its type does not support weakrefs.
PyWeakReference** weakref_list_slot(PyObject* op);
Py_ssize_t weakref_count(PyObject* op);
// Clears one weakref (no callback): unlinks it and points it at None.
void _PyWeakref_ClearRef(Runtime& rt, PyWeakReference* self);

// ---------------------------------------------------------------------------------------------
// Generic operations
// ---------------------------------------------------------------------------------------------
// repr(op) through Py_TYPE(op)->tp_repr, with CPython's recursion limit (see below). On failure
// (RecursionError, or guarded: an object freed behind its container's back) it returns "" with
// rt.repr_state.failed set and the error pending.
std::string PyObject_Repr(Runtime& rt, PyObject* op);
// Helpers of the types' tp_repr: "0x7f..."; Py_ReprEnter / Py_ReprLeave (enter returns false
// when op is already being repr'd, a cycle); the repr of a container from its walk (WalkMode::
// All): open, the children's reprs joined by ", " (a Value after its Key as "k: v"), close,
// with `cycle` for a container met again inside itself.
std::string repr_address(const void* p);
bool repr_enter(Runtime& rt, PyObject* op);
void repr_leave(Runtime& rt, PyObject* op);
std::string container_repr(Runtime& rt, PyObject* op, std::string_view open, std::string_view close,
                           std::string_view cycle, bool one_item_comma = false);
// The text of a walk label ([3], ['x'], key 'x', .name, __dict__, __class__, element...).
std::string label_text(Runtime& rt, const RefLabel& label, PyObject* child);
// CPython 3.12's C recursion limit (C_RECURSION_LIMIT) and how much of it a script's top-level
// statement has used when it calls repr(x): from a 3.12.1 script, 1496 nested lists repr and
// 1497 raise RecursionError. repr here starts with the rest, so the same nesting raises.
inline constexpr int C_RECURSION_LIMIT = 1500;
inline constexpr int C_RECURSION_USED_AT_TOP_LEVEL = 3;
// object_repr: "<module.Name object at 0x...>", the tp_repr of object and of heap classes' instances.
std::string object_default_repr(Runtime& rt, PyObject* op);
// repr(op) as a NEW str object, allocated the way CPython allocates it: an int's repr is always
// a fresh str (long_to_decimal_string uses PyUnicode_New, never the 1-character singletons);
// other reprs go through the usual constructor.
PyObject* PyObject_ReprObject(Runtime& rt, PyObject* op);
size_t object_sizeof(const PyObject* op);  // __sizeof__ (without the pre-header)
size_t _PySys_GetSizeOf(const PyObject* op);  // sys.getsizeof: __sizeof__ + pre-header
Py_ssize_t PyObject_Length(Runtime& rt, PyObject* op);  // -1 + ERR_TYPE when it has no len

// The abstract layer (abstract.cc): what the API calls on any object, with CPython's errors.
PyObject* PySequence_GetItem(Runtime& rt, PyObject* op, Py_ssize_t i);  // list / tuple
PyObject* PyMapping_GetItem(Runtime& rt, PyObject* op, PyObject* key);  // dict
int PySequence_SetItem(Runtime& rt, PyObject* op, Py_ssize_t i, PyObject* v);
int PySequence_DelItem(Runtime& rt, PyObject* op, Py_ssize_t i);
int PyMapping_SetItem(Runtime& rt, PyObject* op, PyObject* key, PyObject* v);
int PyMapping_DelItem(Runtime& rt, PyObject* op, PyObject* key);
int method_append(Runtime& rt, PyObject* op, PyObject* v);
int method_insert(Runtime& rt, PyObject* op, Py_ssize_t i, PyObject* v);
PyObject* method_pop_index(Runtime& rt, PyObject* op, Py_ssize_t i);
PyObject* method_pop_key(Runtime& rt, PyObject* op, PyObject* key);
int method_add(Runtime& rt, PyObject* op, PyObject* v);      // set.add
int method_discard(Runtime& rt, PyObject* op, PyObject* v);  // set.discard: 1 found, 0 not
int PySequence_Contains(Runtime& rt, PyObject* op, PyObject* v);  // v in op: 1, 0, -1
int method_clear(Runtime& rt, PyObject* op);
PyObject* method_copy(Runtime& rt, PyObject* op);
PyObject* sequence_repeat(Runtime& rt, PyObject* op, Py_ssize_t n);

// Free lists (runtime.h FreeLists): each type's _Py*_ClearFreeList.
void float_clear_freelist(Runtime& rt);
void tuple_clear_freelist(Runtime& rt);
void list_clear_freelist(Runtime& rt);
void dict_clear_freelist(Runtime& rt);

// The static type objects, wired in Runtime's constructor: init_static_types calls each type
// file's init_*, which sets up its type objects with init_static_type and then its slots.
void init_static_types(Runtime& rt);
void init_static_type(Runtime& rt, TypeKind kind, const char* name, Py_ssize_t basicsize,
                      Py_ssize_t itemsize, unsigned long flags);

RCL_END_NAMESPACE
