// dict.cc — 3.12's compact dict: a keys object holding an index table (1, 2, 4 or 8 bytes per
// slot) followed by the entries in insertion order; open addressing with CPython's perturbed
// probe sequence; DKIX_EMPTY / DKIX_DUMMY slots; resize to GROWTH_RATE = used * 3.
//
// Invariants of a keys object k (checked by dict_validate in the expensive build):
//   k.dk_usable + k.dk_nentries == USABLE_FRACTION(1 << k.dk_log2_size)
//   every index slot is EMPTY, DUMMY or in [0, dk_nentries)
//   ma_used == number of entries with a value
#include <cmath>
#include <cstring>

#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

static constexpr Py_ssize_t DKIX_EMPTY = -1;
static constexpr Py_ssize_t DKIX_DUMMY = -2;
static constexpr uint8_t PyDict_LOG_MINSIZE = 3;
static constexpr int PERTURB_SHIFT = 5;

static inline Py_ssize_t USABLE_FRACTION(Py_ssize_t n) { return (n << 1) / 3; }
static inline Py_ssize_t DK_SIZE(const PyDictKeysObject* k) { return Py_ssize_t{1} << k->dk_log2_size; }
static inline bool DK_IS_UNICODE(const PyDictKeysObject* k) { return k->dk_kind != DICT_KEYS_GENERAL; }
static inline void* DK_ENTRIES_RAW(PyDictKeysObject* k) {
  return k->dk_indices + (size_t{1} << k->dk_log2_index_bytes);
}
static inline PyDictKeyEntry* DK_ENTRIES(PyDictKeysObject* k) {
  return static_cast<PyDictKeyEntry*>(DK_ENTRIES_RAW(k));
}
static inline PyDictUnicodeEntry* DK_UNICODE_ENTRIES(PyDictKeysObject* k) {
  return static_cast<PyDictUnicodeEntry*>(DK_ENTRIES_RAW(k));
}
static inline size_t entry_size(const PyDictKeysObject* k) {
  return DK_IS_UNICODE(k) ? sizeof(PyDictUnicodeEntry) : sizeof(PyDictKeyEntry);
}
static size_t keys_size(const PyDictKeysObject* k) {
  return sizeof(PyDictKeysObject) + (size_t{1} << k->dk_log2_index_bytes) +
         static_cast<size_t>(USABLE_FRACTION(DK_SIZE(k))) * entry_size(k);
}

static Py_ssize_t dictkeys_get_index(const PyDictKeysObject* k, Py_ssize_t i) {
  int log2size = k->dk_log2_size;
  if (log2size < 8) return static_cast<const int8_t*>(static_cast<const void*>(k->dk_indices))[i];
  if (log2size < 16) return reinterpret_cast<const int16_t*>(k->dk_indices)[i];
  if (log2size < 32) return reinterpret_cast<const int32_t*>(k->dk_indices)[i];
  return reinterpret_cast<const int64_t*>(k->dk_indices)[i];
}
static void dictkeys_set_index(PyDictKeysObject* k, Py_ssize_t i, Py_ssize_t ix) {
  int log2size = k->dk_log2_size;
  if (log2size < 8)
    reinterpret_cast<int8_t*>(k->dk_indices)[i] = static_cast<int8_t>(ix);
  else if (log2size < 16)
    reinterpret_cast<int16_t*>(k->dk_indices)[i] = static_cast<int16_t>(ix);
  else if (log2size < 32)
    reinterpret_cast<int32_t*>(k->dk_indices)[i] = static_cast<int32_t>(ix);
  else
    reinterpret_cast<int64_t*>(k->dk_indices)[i] = ix;
}

static PyDictObject* as_dict(PyObject* op) { return reinterpret_cast<PyDictObject*>(op); }

// The shared empty keys (Py_EMPTY_KEYS): immortal, owned by the runtime, never freed through a
// dict. Its 8 one-byte index slots are all EMPTY.
PyDictKeysObject* dict_empty_keys(Runtime& rt) {
  auto* k = static_cast<PyDictKeysObject*>(
      rt.alloc.malloc(MemDomain::Raw, sizeof(PyDictKeysObject) + 8));
  k->dk_refcnt = _Py_IMMORTAL_REFCNT;
  k->dk_log2_size = 0;
  k->dk_log2_index_bytes = 0;
  k->dk_kind = DICT_KEYS_UNICODE;
  k->dk_version = 1;
  k->dk_usable = 0;
  k->dk_nentries = 0;
  std::memset(k->dk_indices, 0xff, 8);
  return k;
}

// Py_REF_DEBUG: a keys table is not an object, but CPython 3.12 counts its dk_refcnt in the ref
// total (new_keys_object, dictkeys_incref / dictkeys_decref, dictresize, the copy's clone). A
// table here is never shared (dk_refcnt stays 1), so it counts one reference while it lives:
// +1 where one is made, -1 in free_keys_object.

static PyDictKeysObject* new_keys_object(Runtime& rt, uint8_t log2_size, bool unicode) {
  uint8_t log2_bytes = log2_size < 8 ? log2_size : log2_size < 16 ? log2_size + 1
                     : log2_size < 32 ? log2_size + 2 : log2_size + 3;
  Py_ssize_t usable = USABLE_FRACTION(Py_ssize_t{1} << log2_size);
  size_t esize = unicode ? sizeof(PyDictUnicodeEntry) : sizeof(PyDictKeyEntry);
  size_t size = sizeof(PyDictKeysObject) + (size_t{1} << log2_bytes) +
                esize * static_cast<size_t>(usable);
  PyDictKeysObject* k = log2_size == PyDict_LOG_MINSIZE && unicode ? rt.freelists.keys.pop() : nullptr;
  if (k != nullptr) {
#ifdef Py_STATS
    rt.stats.from_freelist++;
#endif
  } else {
    k = static_cast<PyDictKeysObject*>(rt.alloc.malloc(MemDomain::Obj, size));
    if (k == nullptr) {
      if (!rt.has_error()) rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
      return nullptr;
    }
  }
  rt.add_ref_total(+1);
  k->dk_refcnt = 1;
  k->dk_log2_size = log2_size;
  k->dk_log2_index_bytes = log2_bytes;
  k->dk_kind = unicode ? DICT_KEYS_UNICODE : DICT_KEYS_GENERAL;
  k->dk_version = 0;
  k->dk_usable = usable;
  k->dk_nentries = 0;
  std::memset(k->dk_indices, 0xff, size_t{1} << log2_bytes);
  std::memset(DK_ENTRIES_RAW(k), 0, esize * static_cast<size_t>(usable));
  return k;
}

static void free_keys_object(Runtime& rt, PyDictKeysObject* k, bool decref_entries) {
  if (k == rt.empty_keys) return;  // immortal: never counted
  rt.add_ref_total(-1);
  if (decref_entries) {
    Py_ssize_t n = k->dk_nentries;
    if (DK_IS_UNICODE(k)) {
      PyDictUnicodeEntry* e = DK_UNICODE_ENTRIES(k);
      for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(rt, e[i].me_key);
        Py_XDECREF(rt, e[i].me_value);
      }
    } else {
      PyDictKeyEntry* e = DK_ENTRIES(k);
      for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(rt, e[i].me_key);
        Py_XDECREF(rt, e[i].me_value);
      }
    }
  }
  // Minimum-size str-keyed tables have a free list of their own (80, as dict objects).
  if (k->dk_log2_size == PyDict_LOG_MINSIZE && DK_IS_UNICODE(k) && rt.freelists.keys.push(k)) {
#ifdef Py_STATS
    rt.stats.to_freelist++;
#endif
    return;
  }
  rt.alloc.free(MemDomain::Obj, k);
}

// ---------------------------------------------------------------------------------------------
// Hashing and equality of the hashable built-in kinds
// ---------------------------------------------------------------------------------------------

static constexpr uint64_t PyHASH_MODULUS = (uint64_t{1} << 61) - 1;

static Py_ssize_t long_hash(const PyObject* op) {
  int sign;
  std::vector<uint64_t> w;
  PyLong_AsWords(op, &sign, &w);
  // Reduce the magnitude modulo 2**61 - 1 (as CPython's long_hash does with 30-bit digits).
  unsigned __int128 acc = 0;
  for (size_t i = w.size(); i-- > 0;) {
    acc = (acc << 64 | w[i]) % PyHASH_MODULUS;
  }
  Py_ssize_t x = static_cast<Py_ssize_t>(static_cast<uint64_t>(acc));
  if (sign < 0) x = -x;
  if (x == -1) x = -2;
  return x;
}

static Py_ssize_t float_hash(double v) {
  if (std::isnan(v)) return 0;
  if (std::isinf(v)) return v > 0 ? 314159 : -314159;
  double ip;
  if (std::modf(v, &ip) == 0.0 && std::fabs(v) < 9.2e18) {
    // Integral floats hash like the equal int (1.0 == 1 must find the same slot).
    int64_t i = static_cast<int64_t>(v);
    uint64_t mag = i < 0 ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
    Py_ssize_t x = static_cast<Py_ssize_t>(mag % PyHASH_MODULUS);
    if (i < 0) x = -x;
    return x == -1 ? -2 : x;
  }
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  Py_ssize_t x = static_cast<Py_ssize_t>((bits ^ (bits >> 29)) % PyHASH_MODULUS);
  return x == -1 ? -2 : x;
}

static Py_ssize_t pointer_hash(const void* p) {
  uintptr_t y = reinterpret_cast<uintptr_t>(p);
  y = (y >> 4) | (y << (8 * sizeof(void*) - 4));  // _Py_HashPointerRaw
  Py_ssize_t x = static_cast<Py_ssize_t>(y);
  return x == -1 ? -2 : x;
}

// Nested tuples hash and compare with an explicit stack instead of C recursion. CPython recurses
// on the C stack, where a 1e5-deep tuple still fits; native code called from Node has less of
// it, and the recursive form overflowed there (SIGSEGV).
namespace {
// tuplehash (xxHash-based) over the items' hashes.
constexpr uint64_t kTupleP1 = 11400714785074694791ull, kTupleP2 = 14029467366897019727ull,
                   kTupleP5 = 2870177450012600261ull;
inline uint64_t tuple_hash_add(uint64_t acc, Py_ssize_t h) {
  acc += static_cast<uint64_t>(h) * kTupleP2;
  acc = (acc << 31) | (acc >> 33);
  return acc * kTupleP1;
}
inline Py_ssize_t tuple_hash_end(uint64_t acc, Py_ssize_t n) {
  acc += static_cast<uint64_t>(n) ^ (kTupleP5 ^ 3527539UL);
  return acc == static_cast<uint64_t>(-1) ? 1546275796 : static_cast<Py_ssize_t>(acc);
}
struct TupleHashFrame {
  PyObject* tuple;
  Py_ssize_t next;
  uint64_t acc;
};

// Every hashable kind but tuple.
Py_ssize_t scalar_hash(Runtime& rt, PyObject* op) {
  switch (Py_TYPE(op)->tp_kind) {
    case TypeKind::Str:
      return unicode_hash(op);
    case TypeKind::Int:
    case TypeKind::Bool:
      return long_hash(op);
    case TypeKind::Float:
      return float_hash(reinterpret_cast<PyFloatObject*>(op)->ob_fval);
    case TypeKind::FrozenSet:
      return frozenset_hash(rt, op);
    case TypeKind::List:
    case TypeKind::Dict:
    case TypeKind::Set:
      rt.set_error(ErrorCode::Type, std::string("unhashable type: '") + Py_TYPE(op)->tp_name + "'",
                   "TypeError");
      return -1;
    default:
      return pointer_hash(op);
  }
}

bool scalar_equal(PyObject* a, PyObject* b) {
  if (a == b) return true;
  TypeKind ka = Py_TYPE(a)->tp_kind, kb = Py_TYPE(b)->tp_kind;
  auto numeric = [](TypeKind k) {
    return k == TypeKind::Int || k == TypeKind::Bool || k == TypeKind::Float;
  };
  if (numeric(ka) && numeric(kb)) {
    if (ka == TypeKind::Float || kb == TypeKind::Float) {
      auto as_double = [](PyObject* o) {
        if (Py_TYPE(o)->tp_kind == TypeKind::Float)
          return reinterpret_cast<PyFloatObject*>(o)->ob_fval;
        int64_t v;
        if (PyLong_AsInt64(o, &v)) return static_cast<double>(v);
        int sign;
        std::vector<uint64_t> w;
        PyLong_AsWords(o, &sign, &w);
        double d = 0;
        for (size_t i = w.size(); i-- > 0;) d = d * 18446744073709551616.0 + static_cast<double>(w[i]);
        return sign < 0 ? -d : d;
      };
      return as_double(a) == as_double(b);
    }
    int sa, sb;
    std::vector<uint64_t> wa, wb;
    PyLong_AsWords(a, &sa, &wa);
    PyLong_AsWords(b, &sb, &wb);
    return sa == sb && wa == wb;
  }
  if (PyAnySet_Check(a) && PyAnySet_Check(b)) return set_equal(a, b);
  if (ka != kb) return false;
  if (ka == TypeKind::Str) return unicode_eq(a, b);
  return false;
}
}  // namespace

Py_ssize_t PyObject_Hash(Runtime& rt, PyObject* op) {
  if (Py_TYPE(op)->tp_kind != TypeKind::Tuple) return scalar_hash(rt, op);
  std::vector<TupleHashFrame> stack{{op, 0, kTupleP5}};
  for (;;) {
    TupleHashFrame& top = stack.back();
    if (top.next < Py_SIZE(top.tuple)) {
      PyObject* item = PyTuple_ITEM(top.tuple, top.next++);
      if (Py_TYPE(item)->tp_kind == TypeKind::Tuple) {
        stack.push_back({item, 0, kTupleP5});
        continue;
      }
      Py_ssize_t h = scalar_hash(rt, item);
      if (h == -1) return -1;
      top.acc = tuple_hash_add(top.acc, h);
      continue;
    }
    Py_ssize_t h = tuple_hash_end(top.acc, Py_SIZE(top.tuple));
    stack.pop_back();
    if (stack.empty()) return h;
    stack.back().acc = tuple_hash_add(stack.back().acc, h);
  }
}

// Value equality of hashable kinds. Unlike CPython, deep tuples meet no recursion limit (no
// RecursionError "in comparison"): the pairs wait on an explicit stack.
bool PyObject_Equal(PyObject* a, PyObject* b) {
  if (Py_TYPE(a)->tp_kind != TypeKind::Tuple || Py_TYPE(b)->tp_kind != TypeKind::Tuple)
    return scalar_equal(a, b);
  std::vector<std::pair<PyObject*, PyObject*>> todo{{a, b}};
  while (!todo.empty()) {
    auto [x, y] = todo.back();
    todo.pop_back();
    if (x == y) continue;
    bool tx = Py_TYPE(x)->tp_kind == TypeKind::Tuple, ty = Py_TYPE(y)->tp_kind == TypeKind::Tuple;
    if (!tx || !ty) {
      if (!scalar_equal(x, y)) return false;
      continue;
    }
    if (Py_SIZE(x) != Py_SIZE(y)) return false;
    for (Py_ssize_t i = Py_SIZE(x); i-- > 0;) todo.emplace_back(PyTuple_ITEM(x, i), PyTuple_ITEM(y, i));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Lookup / insert / delete
// ---------------------------------------------------------------------------------------------

static PyObject*& entry_key(PyDictKeysObject* k, Py_ssize_t ix) {
  return DK_IS_UNICODE(k) ? DK_UNICODE_ENTRIES(k)[ix].me_key : DK_ENTRIES(k)[ix].me_key;
}
static PyObject*& entry_value(PyDictKeysObject* k, Py_ssize_t ix) {
  return DK_IS_UNICODE(k) ? DK_UNICODE_ENTRIES(k)[ix].me_value : DK_ENTRIES(k)[ix].me_value;
}
static Py_ssize_t entry_hash(Runtime& rt, PyDictKeysObject* k, Py_ssize_t ix) {
  return DK_IS_UNICODE(k) ? unicode_hash(DK_UNICODE_ENTRIES(k)[ix].me_key)
                          : (void(rt), DK_ENTRIES(k)[ix].me_hash);
}

// Returns the entry index of key (or DKIX_EMPTY); *slot receives the index-table slot.
static Py_ssize_t lookup(Runtime& rt, PyDictKeysObject* k, PyObject* key, Py_ssize_t hash,
                         Py_ssize_t* slot) {
  size_t mask = static_cast<size_t>(DK_SIZE(k)) - 1;
  size_t perturb = static_cast<size_t>(hash);
  size_t i = static_cast<size_t>(hash) & mask;
  for (;;) {
    Py_ssize_t ix = dictkeys_get_index(k, static_cast<Py_ssize_t>(i));
    if (ix == DKIX_EMPTY) {
      *slot = static_cast<Py_ssize_t>(i);
      return DKIX_EMPTY;
    }
    if (ix >= 0) {
      PyObject* ek = entry_key(k, ix);
      if (ek == key ||
          (entry_hash(rt, k, ix) == hash && PyObject_Equal(ek, key))) {
        *slot = static_cast<Py_ssize_t>(i);
        return ix;
      }
    }
    perturb >>= PERTURB_SHIFT;
    i = (i * 5 + perturb + 1) & mask;
  }
}

static Py_ssize_t find_empty_slot(PyDictKeysObject* k, Py_ssize_t hash) {
  size_t mask = static_cast<size_t>(DK_SIZE(k)) - 1;
  size_t perturb = static_cast<size_t>(hash);
  size_t i = static_cast<size_t>(hash) & mask;
  while (dictkeys_get_index(k, static_cast<Py_ssize_t>(i)) >= 0) {
    perturb >>= PERTURB_SHIFT;
    i = (i * 5 + perturb + 1) & mask;
  }
  return static_cast<Py_ssize_t>(i);
}

static uint8_t calculate_log2_keysize(Py_ssize_t minsize) {
  uint8_t log2 = PyDict_LOG_MINSIZE;
  while ((Py_ssize_t{1} << log2) < minsize) log2++;
  return log2;
}

// dictresize: new keys of 2**log2_newsize slots, entries compacted in order.
static int dictresize(Runtime& rt, PyDictObject* mp, uint8_t log2_newsize, bool unicode) {
  PyDictKeysObject* oldkeys = mp->ma_keys;
  PyDictKeysObject* newkeys = new_keys_object(rt, log2_newsize, unicode);
  if (newkeys == nullptr) return -1;
  Py_ssize_t n = oldkeys->dk_nentries, j = 0;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject* v = entry_value(oldkeys, i);
    if (v == nullptr) continue;
    PyObject* key = entry_key(oldkeys, i);
    Py_ssize_t h = entry_hash(rt, oldkeys, i);
    if (unicode) {
      DK_UNICODE_ENTRIES(newkeys)[j] = {key, v};
    } else {
      DK_ENTRIES(newkeys)[j] = {h, key, v};
    }
    dictkeys_set_index(newkeys, find_empty_slot(newkeys, h), j);
    j++;
  }
  newkeys->dk_usable -= j;
  newkeys->dk_nentries = j;
  mp->ma_keys = newkeys;
  free_keys_object(rt, oldkeys, false);
  return 0;
}

static bool may_be_tracked(PyObject* op) {
  if (!PyObject_IS_GC(op)) return false;
  if (Py_TYPE(op)->tp_kind == TypeKind::Tuple) return _PyObject_GC_IS_TRACKED(op);
  return true;
}

// Dict objects have a free list of up to 80 (their keys tables are released first).
PyObject* PyDict_New(Runtime& rt) {
  PyObject* op = rt.gc_object_new_from(rt.freelists.dicts, rt.Type(TypeKind::Dict), sizeof(PyDictObject));
  if (op == nullptr) return nullptr;
  PyDictObject* mp = as_dict(op);
  mp->ma_keys = rt.empty_keys;
  mp->ma_values = nullptr;
  mp->ma_used = 0;
  mp->ma_version_tag = ++rt.dict_version;
  return op;  // dicts start untracked (MAINTAIN_TRACKING tracks them on insert)
}

int PyDict_SetItem(Runtime& rt, PyObject* op, PyObject* key, PyObject* value) {
  Py_ssize_t hash = PyObject_Hash(rt, key);
  if (hash == -1) return -1;
  PyDictObject* mp = as_dict(op);
  bool is_str = Py_TYPE(key)->tp_kind == TypeKind::Str;
  if (mp->ma_keys == rt.empty_keys) {
    PyDictKeysObject* k = new_keys_object(rt, PyDict_LOG_MINSIZE, is_str);
    if (k == nullptr) return -1;
    mp->ma_keys = k;
  } else if (!is_str && DK_IS_UNICODE(mp->ma_keys)) {
    if (dictresize(rt, mp, calculate_log2_keysize(mp->ma_used * 3), false) < 0) return -1;
  }
  if (!_PyObject_GC_IS_TRACKED(op) && (may_be_tracked(key) || may_be_tracked(value)))
    _PyObject_GC_TRACK(rt, op);
  Py_ssize_t slot;
  Py_ssize_t ix = lookup(rt, mp->ma_keys, key, hash, &slot);
  if (ix >= 0) {
    PyObject*& v = entry_value(mp->ma_keys, ix);
    PyObject* old = v;
    v = Py_NewRef(rt, value);
    mp->ma_version_tag = ++rt.dict_version;
    Py_DECREF(rt, old);
    return 0;
  }
  if (mp->ma_keys->dk_usable <= 0) {
    if (dictresize(rt, mp, calculate_log2_keysize(mp->ma_used * 3), DK_IS_UNICODE(mp->ma_keys)) < 0)
      return -1;
  }
  PyDictKeysObject* k = mp->ma_keys;
  Py_ssize_t hashpos = find_empty_slot(k, hash);
  Py_ssize_t n = k->dk_nentries;
  dictkeys_set_index(k, hashpos, n);
  if (DK_IS_UNICODE(k))
    DK_UNICODE_ENTRIES(k)[n] = {Py_NewRef(rt, key), Py_NewRef(rt, value)};
  else
    DK_ENTRIES(k)[n] = {hash, Py_NewRef(rt, key), Py_NewRef(rt, value)};
  k->dk_usable--;
  k->dk_nentries++;
  mp->ma_used++;
  mp->ma_version_tag = ++rt.dict_version;
  return 0;
}

static void key_error(Runtime& rt, PyObject* key) {
  rt.set_error(ErrorCode::Key, PyObject_Repr(rt, key), "KeyError");
}

// Removes entry ix (slot `slot`) and hands back the key and value references.
static void del_entry(Runtime& rt, PyDictObject* mp, Py_ssize_t slot, Py_ssize_t ix,
                      PyObject** key, PyObject** value) {
  PyDictKeysObject* k = mp->ma_keys;
  dictkeys_set_index(k, slot, DKIX_DUMMY);
  *key = entry_key(k, ix);
  *value = entry_value(k, ix);
  entry_key(k, ix) = nullptr;
  entry_value(k, ix) = nullptr;
  mp->ma_used--;
  mp->ma_version_tag = ++rt.dict_version;
}

int PyDict_DelItem(Runtime& rt, PyObject* op, PyObject* key) {
  PyObject* v = PyDict_Pop(rt, op, key);
  if (v == nullptr) return -1;
  Py_DECREF(rt, v);
  return 0;
}

PyObject* PyDict_Pop(Runtime& rt, PyObject* op, PyObject* key) {
  Py_ssize_t hash = PyObject_Hash(rt, key);
  if (hash == -1) return nullptr;
  PyDictObject* mp = as_dict(op);
  Py_ssize_t slot;
  Py_ssize_t ix = mp->ma_used ? lookup(rt, mp->ma_keys, key, hash, &slot) : DKIX_EMPTY;
  if (ix < 0) {
    key_error(rt, key);
    return nullptr;
  }
  PyObject *oldkey, *oldvalue;
  del_entry(rt, mp, slot, ix, &oldkey, &oldvalue);
  Py_DECREF(rt, oldkey);
  return oldvalue;
}

PyObject* PyDict_GetItem(Runtime& rt, PyObject* op, PyObject* key) {
  Py_ssize_t hash = PyObject_Hash(rt, key);
  if (hash == -1) return nullptr;
  PyDictObject* mp = as_dict(op);
  if (mp->ma_used == 0) return nullptr;
  Py_ssize_t slot;
  Py_ssize_t ix = lookup(rt, mp->ma_keys, key, hash, &slot);
  return ix >= 0 ? entry_value(mp->ma_keys, ix) : nullptr;
}

bool PyDict_Next(PyObject* op, Py_ssize_t* pos, PyObject** key, PyObject** value) {
  PyDictKeysObject* k = as_dict(op)->ma_keys;
  while (*pos < k->dk_nentries) {
    Py_ssize_t i = (*pos)++;
    if (entry_value(k, i) != nullptr) {
      *key = entry_key(k, i);
      *value = entry_value(k, i);
      return true;
    }
  }
  return false;
}

Py_ssize_t PyDict_Size(const PyObject* op) {
  return reinterpret_cast<const PyDictObject*>(op)->ma_used;
}

// PyDict_Clear: detach the keys first, then release the old entries in order.
void PyDict_Clear(Runtime& rt, PyObject* op) {
  PyDictObject* mp = as_dict(op);
  PyDictKeysObject* oldkeys = mp->ma_keys;
  if (oldkeys == rt.empty_keys) return;
  mp->ma_keys = rt.empty_keys;
  mp->ma_used = 0;
  mp->ma_version_tag = ++rt.dict_version;
  free_keys_object(rt, oldkeys, true);
}

// dict.copy(): a dense combined table is cloned as is (same size, same order); a sparse one
// is rebuilt by inserting entries, as 3.12's PyDict_Copy does.
PyObject* PyDict_Copy(Runtime& rt, PyObject* op) {
  PyDictObject* mp = as_dict(op);
  PyObject* copy = PyDict_New(rt);
  if (copy == nullptr || mp->ma_used == 0) return copy;
  PyDictKeysObject* k = mp->ma_keys;
  if (mp->ma_used >= (k->dk_nentries * 2) / 3) {
    size_t size = keys_size(k);
    auto* nk = static_cast<PyDictKeysObject*>(rt.alloc.malloc(MemDomain::Obj, size));
    if (nk == nullptr) {
      if (!rt.has_error()) rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
      Py_DECREF(rt, copy);
      return nullptr;
    }
    std::memcpy(nk, k, size);
    nk->dk_refcnt = 1;
    rt.add_ref_total(+1);
    for (Py_ssize_t i = 0; i < nk->dk_nentries; i++) {
      if (entry_value(nk, i) != nullptr) {
        Py_INCREF(rt, entry_key(nk, i));
        Py_INCREF(rt, entry_value(nk, i));
      }
    }
    as_dict(copy)->ma_keys = nk;
    as_dict(copy)->ma_used = mp->ma_used;
    if (_PyObject_GC_IS_TRACKED(op)) _PyObject_GC_TRACK(rt, copy);
    return copy;
  }
  Py_ssize_t pos = 0;
  PyObject *key, *value;
  while (PyDict_Next(op, &pos, &key, &value)) {
    if (PyDict_SetItem(rt, copy, key, value) < 0) {
      Py_DECREF(rt, copy);
      return nullptr;
    }
  }
  return copy;
}

// _PyDict_MaybeUntrack: a dict that cannot be part of a cycle is untracked (full collections).
void _PyDict_MaybeUntrack(PyObject* op) {
  PyDictKeysObject* k = as_dict(op)->ma_keys;
  for (Py_ssize_t i = 0; i < k->dk_nentries; i++) {
    PyObject* v = entry_value(k, i);
    if (v == nullptr) continue;
    if (may_be_tracked(v)) return;
    if (!DK_IS_UNICODE(k) && may_be_tracked(entry_key(k, i))) return;
  }
  _PyObject_GC_UNTRACK(op);
}

size_t _PyDict_SizeOf(const PyObject* op) {
  const PyDictObject* mp = reinterpret_cast<const PyDictObject*>(op);
  size_t size = sizeof(PyDictObject);
  if (mp->ma_keys->dk_refcnt == 1) size += keys_size(mp->ma_keys);
  return size;
}

static void dict_dealloc(Runtime& rt, PyObject* op) {
  _PyObject_GC_UNTRACK(op);
  if (rt.trash_begin(op)) return;  // Py_TRASHCAN_BEGIN
  PyDictKeysObject* k = as_dict(op)->ma_keys;
  free_keys_object(rt, k, true);
  rt.gc_object_free_to(rt.freelists.dicts, op);
  rt.trash_end();
}

void dict_clear_freelist(Runtime& rt) {
  while (PyObject* op = rt.freelists.dicts.pop()) rt.gc_object_free(op);
  while (PyDictKeysObject* k = rt.freelists.keys.pop()) rt.alloc.free(MemDomain::Obj, k);
}

// The walk of a dict: each entry's key (labelled key 'k') and value (['k']). CPython's
// dict_traverse (WalkMode::Gc) visits the value, then the key, and skips the keys of a
// str-keyed table: a str cannot be part of a cycle. Both are owned references all the same.
struct DictWalk {
  template <WalkMode M, typename Visit>
  static int walk(PyObject* op, Visit&& visit) {
    PyDictKeysObject* k = as_dict(op)->ma_keys;
    Py_ssize_t n = k->dk_nentries;
    bool unicode = DK_IS_UNICODE(k);
    for (Py_ssize_t i = 0; i < n; i++) {
      PyObject* key = entry_key(k, i);
      PyObject* value = entry_value(k, i);
      if (value == nullptr) continue;
      RefLabel key_label{RefLabel::Key}, value_label{RefLabel::Value, 0, key};
      if constexpr (M == WalkMode::Gc) {
        if (int r = visit(value, value_label)) return r;
        if (!unicode) {
          if (int r = visit(key, key_label)) return r;
        }
      } else {
        if (int r = visit(key, key_label)) return r;
        if (int r = visit(value, value_label)) return r;
      }
    }
    return 0;
  }
};

static std::string dict_repr(Runtime& rt, PyObject* op) {
  return container_repr(rt, op, "{", "}", "{...}");
}
static Py_ssize_t dict_len(PyObject* op) { return PyDict_Size(op); }

static int dict_tp_clear(Runtime& rt, PyObject* op) {
  PyDict_Clear(rt, op);
  return 0;
}

void init_dict_type(Runtime& rt) {
  PyTypeObject* t = rt.Type(TypeKind::Dict);
  t->tp_dealloc = dict_dealloc;
  set_walk<DictWalk>(t);
  t->tp_clear = dict_tp_clear;
  t->tp_repr = dict_repr;
  t->tp_len = dict_len;
  t->tp_sizeof = _PyDict_SizeOf;
  t->tp_js = JsShape::Map;
}

RCL_END_NAMESPACE
