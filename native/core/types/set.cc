// set.cc — set and frozenset, as CPython 3.12's setobject.c lays them out and fills them: an
// open-addressing table of (key, hash) entries probed linearly (LINEAR_PROBES) before the
// perturbed jump, deleted entries left as dummies, a resize once fill*5 >= mask*3 to the
// smallest power of 2 above used*4 (used*2 past 50000), the first 8 entries inside the object.
// No free list (3.12 has none for sets); both kinds are GC-tracked from creation.
#include <cstring>

#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

namespace {

constexpr size_t LINEAR_PROBES = 9;
constexpr int PERTURB_SHIFT = 5;
// The dummy key of a deleted entry: a static sentinel compared by address, never dereferenced
// (3.12's _dummy_struct is immortal, and sets never incref or decref it).
alignas(16) const char dummy_storage[16] = {};
PyObject* dummy() { return reinterpret_cast<PyObject*>(const_cast<char*>(dummy_storage)); }

PySetObject* as_set(PyObject* op) { return reinterpret_cast<PySetObject*>(op); }
const PySetObject* as_set(const PyObject* op) { return reinterpret_cast<const PySetObject*>(op); }

bool is_active(const setentry& e) { return e.key != nullptr && e.key != dummy(); }

// set_lookkey: the entry holding key, or the unused entry that ends the probe sequence.
setentry* lookkey(PySetObject* so, PyObject* key, Py_ssize_t hash) {
  size_t mask = static_cast<size_t>(so->mask);
  size_t i = static_cast<size_t>(hash) & mask;
  size_t perturb = static_cast<size_t>(hash);
  for (;;) {
    setentry* entry = &so->table[i];
    size_t probes = i + LINEAR_PROBES <= mask ? LINEAR_PROBES : 0;
    for (;;) {
      if (entry->hash == 0 && entry->key == nullptr) return entry;
      if (entry->hash == hash && entry->key != dummy() &&
          (entry->key == key || PyObject_Equal(entry->key, key)))
        return entry;
      if (probes-- == 0) break;
      entry++;
    }
    perturb >>= PERTURB_SHIFT;
    i = (i * 5 + 1 + perturb) & mask;
  }
}

// set_insert_clean: a key known to be absent, into a table without dummies.
void insert_clean(setentry* table, size_t mask, PyObject* key, Py_ssize_t hash) {
  size_t perturb = static_cast<size_t>(hash);
  size_t i = static_cast<size_t>(hash) & mask;
  for (;;) {
    setentry* entry = &table[i];
    if (entry->key == nullptr) {
      entry->key = key;
      entry->hash = hash;
      return;
    }
    if (i + LINEAR_PROBES <= mask) {
      for (size_t j = 0; j < LINEAR_PROBES; j++) {
        entry++;
        if (entry->key == nullptr) {
          entry->key = key;
          entry->hash = hash;
          return;
        }
      }
    }
    perturb >>= PERTURB_SHIFT;
    i = (i * 5 + 1 + perturb) & mask;
  }
}

// set_table_resize: the smallest power-of-2 table above minused; dummies are dropped.
int table_resize(Runtime& rt, PySetObject* so, Py_ssize_t minused) {
  size_t newsize = PySet_MINSIZE;
  while (newsize <= static_cast<size_t>(minused)) newsize <<= 1;
  setentry* oldtable = so->table;
  size_t oldmask = static_cast<size_t>(so->mask);
  bool old_malloced = oldtable != so->smalltable;
  setentry small_copy[PySet_MINSIZE];
  setentry* newtable;
  if (newsize == PySet_MINSIZE) {
    newtable = so->smalltable;
    if (newtable == oldtable) {
      if (so->fill == so->used) return 0;  // no dummies: nothing to do
      std::memcpy(small_copy, oldtable, sizeof small_copy);
      oldtable = small_copy;
    }
  } else {
    newtable = static_cast<setentry*>(rt.alloc.malloc(MemDomain::Mem, newsize * sizeof(setentry)));
    if (newtable == nullptr) {
      if (!rt.has_error()) rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
      return -1;
    }
  }
  std::memset(newtable, 0, newsize * sizeof(setentry));
  so->mask = static_cast<Py_ssize_t>(newsize - 1);
  so->table = newtable;
  so->fill = so->used;
  for (size_t k = 0; k <= oldmask; k++)
    if (is_active(oldtable[k])) insert_clean(newtable, newsize - 1, oldtable[k].key, oldtable[k].hash);
  if (old_malloced) rt.alloc.free(MemDomain::Mem, oldtable);
  return 0;
}

// set_add_entry: takes a new reference to key when it is added.
int add_entry(Runtime& rt, PySetObject* so, PyObject* key, Py_ssize_t hash) {
  size_t mask = static_cast<size_t>(so->mask);
  size_t i = static_cast<size_t>(hash) & mask;
  size_t perturb = static_cast<size_t>(hash);
  setentry* freeslot = nullptr;
  setentry* entry;
  for (;;) {
    entry = &so->table[i];
    size_t probes = i + LINEAR_PROBES <= mask ? LINEAR_PROBES : 0;
    for (;;) {
      if (entry->hash == 0 && entry->key == nullptr) goto found_unused_or_dummy;
      if (entry->hash == hash) {
        if (entry->key == key || PyObject_Equal(entry->key, key)) return 0;  // already there
      } else if (entry->hash == -1 && freeslot == nullptr) {
        freeslot = entry;
      }
      if (probes-- == 0) break;
      entry++;
    }
    perturb >>= PERTURB_SHIFT;
    i = (i * 5 + 1 + perturb) & mask;
  }
found_unused_or_dummy:
  if (freeslot != nullptr) {
    so->used++;
    freeslot->key = Py_NewRef(rt, key);
    freeslot->hash = hash;
    return 0;
  }
  so->fill++;
  so->used++;
  entry->key = Py_NewRef(rt, key);
  entry->hash = hash;
  if (static_cast<size_t>(so->fill) * 5 < mask * 3) return 0;
  return table_resize(rt, so, so->used > 50000 ? so->used * 2 : so->used * 4);
}

Py_ssize_t hash_of(Runtime& rt, PyObject* key) { return PyObject_Hash(rt, key); }

PyObject* make_new_set(Runtime& rt, PyTypeObject* tp, PyObject* const* items, size_t n) {
  PyObject* op = rt.gc_object_new(tp, sizeof(PySetObject));
  if (op == nullptr) return nullptr;
  PySetObject* so = as_set(op);
  std::memset(reinterpret_cast<char*>(op) + sizeof(PyObject), 0, sizeof(PySetObject) - sizeof(PyObject));
  so->mask = PySet_MINSIZE - 1;
  so->table = so->smalltable;
  so->hash = -1;
  _PyObject_GC_TRACK(rt, op);
  for (size_t k = 0; k < n; k++) {
    Py_ssize_t h = hash_of(rt, items[k]);
    if (h == -1 || add_entry(rt, so, items[k], h) != 0) {
      Py_DECREF(rt, op);
      return nullptr;
    }
  }
  return op;
}

// set_dealloc: untracked first, weakrefs cleared, then the keys released in table order.
void set_dealloc(Runtime& rt, PyObject* op) {
  PySetObject* so = as_set(op);
  _PyObject_GC_UNTRACK(op);
  if (rt.trash_begin(op)) return;  // Py_TRASHCAN_BEGIN
  if (so->weakreflist != nullptr) PyObject_ClearWeakRefs(rt, op);
  Py_ssize_t used = so->used;
  for (setentry* e = so->table; used > 0; e++) {
    if (is_active(*e)) {
      used--;
      Py_DECREF(rt, e->key);
    }
  }
  if (so->table != so->smalltable) rt.alloc.free(MemDomain::Mem, so->table);
  rt.gc_object_free(op);
  rt.trash_end();
}

// set_clear_internal: the set is emptied (back to its smalltable) before any key is released,
// since a release can run code that reaches the set again.
int set_clear(Runtime& rt, PyObject* op) {
  PySetObject* so = as_set(op);
  setentry* table = so->table;
  bool malloced = table != so->smalltable;
  Py_ssize_t used = so->used;
  setentry small_copy[PySet_MINSIZE];
  if (!malloced) {
    if (so->fill == 0) return 0;
    std::memcpy(small_copy, table, sizeof small_copy);
    table = small_copy;
  }
  std::memset(so->smalltable, 0, sizeof so->smalltable);
  so->fill = so->used = 0;
  so->mask = PySet_MINSIZE - 1;
  so->table = so->smalltable;
  so->hash = -1;
  for (setentry* e = table; used > 0; e++) {
    if (is_active(*e)) {
      used--;
      Py_DECREF(rt, e->key);
    }
  }
  if (malloced) rt.alloc.free(MemDomain::Mem, table);
  return 0;
}

// The walk of a set: its elements in table order (set_traverse; both views are the same).
struct SetWalk {
  template <WalkMode, typename Visit>
  static int walk(PyObject* op, Visit&& visit) {
    PySetObject* so = as_set(op);
    for (Py_ssize_t i = 0; i <= so->mask; i++) {
      if (is_active(so->table[i])) {
        if (int r = visit(so->table[i].key, RefLabel{RefLabel::Element, i})) return r;
      }
    }
    return 0;
  }
};

// set_repr: "{1, 2}", "frozenset({1, 2})", "set()" / "frozenset()" when empty. CPython makes
// the list of the keys and takes its repr: one more level of the recursion budget.
std::string set_repr(Runtime& rt, PyObject* op) {
  bool frozen = Py_TYPE(op)->tp_kind == TypeKind::FrozenSet;
  std::string name = Py_TYPE(op)->tp_name;
  if (as_set(op)->used == 0) return name + "()";
  rt.repr_state.depth++;
  std::string inner = container_repr(rt, op, "{", "}", name + "(...)");
  rt.repr_state.depth--;
  if (rt.repr_state.failed) return {};
  return frozen ? name + "(" + inner + ")" : inner;
}

Py_ssize_t set_len(PyObject* op) { return as_set(op)->used; }

size_t set_sizeof(const PyObject* op) {
  const PySetObject* so = as_set(op);
  size_t size = sizeof(PySetObject);
  if (so->table != so->smalltable) size += static_cast<size_t>(so->mask + 1) * sizeof(setentry);
  return size;
}

uint64_t shuffle_bits(uint64_t h) { return ((h ^ 89869747ULL) ^ (h << 16)) * 3644798167ULL; }

}  // namespace

PyObject* PySet_New(Runtime& rt, PyObject* const* items, size_t n) {
  return make_new_set(rt, rt.Type(TypeKind::Set), items, n);
}
PyObject* PyFrozenSet_New(Runtime& rt, PyObject* const* items, size_t n) {
  return make_new_set(rt, rt.Type(TypeKind::FrozenSet), items, n);
}

// set.copy(): set_merge into a new set, the other table's entries in order, presized as
// set_merge presizes (one resize to used*2 when the entries would pass the fill limit).
PyObject* PySet_Copy(Runtime& rt, PyObject* anyset) {
  PyObject* op = make_new_set(rt, rt.Type(TypeKind::Set), nullptr, 0);
  if (op == nullptr) return nullptr;
  PySetObject* so = as_set(op);
  PySetObject* other = as_set(anyset);
  if ((other->used * 5 >= so->mask * 3) && table_resize(rt, so, other->used * 2) != 0) {
    Py_DECREF(rt, op);
    return nullptr;
  }
  // The same size and no dummies: every entry keeps its slot; else each is inserted again.
  bool same_slots = so->mask == other->mask && other->fill == other->used;
  for (Py_ssize_t i = 0; i <= other->mask; i++) {
    const setentry& e = other->table[i];
    if (!is_active(e)) continue;
    if (same_slots) so->table[i] = {Py_NewRef(rt, e.key), e.hash};
    else insert_clean(so->table, static_cast<size_t>(so->mask), Py_NewRef(rt, e.key), e.hash);
  }
  so->fill = so->used = other->used;
  return op;
}

int PySet_Add(Runtime& rt, PyObject* set, PyObject* key) {
  Py_ssize_t h = hash_of(rt, key);
  if (h == -1) return -1;
  return add_entry(rt, as_set(set), key, h);
}

// set_discard_entry: the entry becomes a dummy (hash -1), then the key is released.
int PySet_Discard(Runtime& rt, PyObject* set, PyObject* key) {
  Py_ssize_t h = hash_of(rt, key);
  if (h == -1) return -1;
  setentry* entry = lookkey(as_set(set), key, h);
  if (entry->key == nullptr) return 0;
  PyObject* old = entry->key;
  entry->key = dummy();
  entry->hash = -1;
  as_set(set)->used--;
  Py_DECREF(rt, old);
  return 1;
}

int PySet_Contains(Runtime& rt, PyObject* anyset, PyObject* key) {
  Py_ssize_t h = hash_of(rt, key);
  if (h == -1) return -1;
  return lookkey(as_set(anyset), key, h)->key != nullptr ? 1 : 0;
}

// frozenset_hash: the shuffled bits of every entry's hash field xor-ed together (unused and
// dummy entries corrected for), the size factored in, then dispersed. Cached in so->hash.
Py_ssize_t frozenset_hash(Runtime&, PyObject* op) {
  PySetObject* so = as_set(op);
  if (so->hash != -1) return so->hash;
  uint64_t hash = 0;
  for (Py_ssize_t i = 0; i <= so->mask; i++) hash ^= shuffle_bits(static_cast<uint64_t>(so->table[i].hash));
  if ((so->mask + 1 - so->fill) & 1) hash ^= shuffle_bits(0);
  if ((so->fill - so->used) & 1) hash ^= shuffle_bits(static_cast<uint64_t>(-1));
  hash ^= (static_cast<uint64_t>(so->used) + 1) * 1927868237ULL;
  hash ^= (hash >> 11) ^ (hash >> 25);
  hash = hash * 69069U + 907133923ULL;
  if (hash == static_cast<uint64_t>(-1)) hash = 590923713ULL;
  so->hash = static_cast<Py_ssize_t>(hash);
  return so->hash;
}

// set_richcompare's ==: the same size, (two frozensets) the same hash, and a ⊆ b.
bool set_equal(PyObject* a, PyObject* b) {
  PySetObject* x = as_set(a);
  PySetObject* y = as_set(b);
  if (x->used != y->used) return false;
  if (x->hash != -1 && y->hash != -1 && x->hash != y->hash) return false;
  for (Py_ssize_t i = 0; i <= x->mask; i++) {
    const setentry& e = x->table[i];
    if (is_active(e) && lookkey(y, e.key, e.hash)->key == nullptr) return false;
  }
  return true;
}

void init_set_types(Runtime& rt) {
  const unsigned long flags = Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE;
  init_static_type(rt, TypeKind::Set, "set", sizeof(PySetObject), 0, flags);
  init_static_type(rt, TypeKind::FrozenSet, "frozenset", sizeof(PySetObject), 0, flags);
  for (TypeKind k : {TypeKind::Set, TypeKind::FrozenSet}) {
    PyTypeObject* t = rt.Type(k);
    t->tp_dealloc = set_dealloc;
    set_walk<SetWalk>(t);
    t->tp_clear = set_clear;
    t->tp_repr = set_repr;
    t->tp_len = set_len;
    t->tp_sizeof = set_sizeof;
    t->tp_weaklistoffset = offsetof(PySetObject, weakreflist);
    t->tp_js = JsShape::Set;
  }
}

RCL_END_NAMESPACE
