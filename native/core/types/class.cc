// class.cc — heap classes (defineClass) and their instances, with 3.12's managed values.
//
// A class holds its instances' shared keys (attribute names). Each instance gets a values array
// at creation: PyMem block = prefix (insertion order bytes, [-2] count, [-1] prefix size) +
// size pointers, where size = nentries + usable of the shared keys, and usable shrinks by one
// per new instance (3.12's _PyObject_InitInlineValues). The dict-or-values slot at op-24 holds
// (values - 1) — the low bit tags "values" — or a real dict once one is materialised.
#include <cstring>

#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

// =============================================================================================
// Managed values
// =============================================================================================

static uint8_t values_prefix(PyObject** values) { return reinterpret_cast<uint8_t*>(values)[-1]; }
static PyObject** new_values(Runtime& rt, size_t size) {
  size_t prefix = (size + 2 + 7) & ~size_t{7};
  size_t n = prefix + size * sizeof(PyObject*);
  auto* mem = static_cast<uint8_t*>(rt.alloc.malloc(MemDomain::Mem, n));
  if (mem == nullptr) {
    if (!rt.has_error()) rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
    return nullptr;
  }
  mem[prefix - 1] = static_cast<uint8_t>(prefix);
  auto** values = reinterpret_cast<PyObject**>(mem + prefix);
  values_count(values) = 0;
  for (size_t i = 0; i < size; i++) values[i] = nullptr;
#ifdef Py_STATS
  rt.stats.new_values++;
#endif
  return values;
}

static void free_values(Runtime& rt, PyObject** values) {
  rt.alloc.free(MemDomain::Mem, reinterpret_cast<uint8_t*>(values) - values_prefix(values));
}

static void order_add(PyObject** values, size_t ix) {
  uint8_t n = values_count(values);
  values_order(values)[-static_cast<ptrdiff_t>(n)] = static_cast<uint8_t>(ix);
  values_count(values) = static_cast<uint8_t>(n + 1);
}
static void order_remove(PyObject** values, size_t ix) {
  uint8_t n = values_count(values);
  uint8_t* order = values_order(values);
  size_t k = 0;
  while (k < n && order[-static_cast<ptrdiff_t>(k)] != ix) k++;
  for (; k + 1 < n; k++) order[-static_cast<ptrdiff_t>(k)] = order[-static_cast<ptrdiff_t>(k + 1)];
  values_count(values) = static_cast<uint8_t>(n - 1);
}

// Index of `name` in the class's shared keys, or -1. The keys are interned, so an interned name
// (every name lib/ passes) is found by identity alone; only another str is compared by content.
static Py_ssize_t shared_index(PyHeapTypeObject* ht, PyObject* name) {
  for (Py_ssize_t i = 0; i < ht->ht_keys_nentries; i++)
    if (ht->ht_cached_keys[i] == name) return i;
  if (reinterpret_cast<PyASCIIObject*>(name)->state.interned) return -1;
  for (Py_ssize_t i = 0; i < ht->ht_keys_nentries; i++)
    if (unicode_eq(ht->ht_cached_keys[i], name)) return i;
  return -1;
}

// =============================================================================================
// Class objects
// =============================================================================================

static PyHeapTypeObject* heap_type_of(PyObject* instance) {
  return reinterpret_cast<PyHeapTypeObject*>(Py_TYPE(instance));
}

static void subtype_dealloc(Runtime& rt, PyObject* self);
static int subtype_clear(Runtime& rt, PyObject* self);

static void instance_finalize(Runtime& rt, PyObject* self) {
  if (rt.host) rt.host->call_finalizer(rt, heap_type_of(self)->ht_host_id, self);
}
static void instance_legacy_del(Runtime& rt, PyObject* self) {
  if (rt.host) rt.host->call_legacy_del(rt, heap_type_of(self)->ht_host_id, self);
}

PyObject* PyType_FromOptions(Runtime& rt, const ClassOptions& opts) {
  PyTypeObject* meta = rt.Type(TypeKind::Type);
  PyObject* op = rt.gc_object_new(meta, sizeof(PyHeapTypeObject));
  if (op == nullptr) return nullptr;
  auto* ht = reinterpret_cast<PyHeapTypeObject*>(op);
  std::memset(reinterpret_cast<char*>(op) + sizeof(PyObject), 0,
              sizeof(PyHeapTypeObject) - sizeof(PyObject));
  PyTypeObject* t = &ht->ht_type;
  ht->ht_name_utf8 = static_cast<char*>(rt.alloc.malloc(MemDomain::Raw, opts.name.size() + 1));
  if (ht->ht_name_utf8 == nullptr) {
    rt.set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
    rt.gc_object_free(op);
    return nullptr;
  }
  std::memcpy(ht->ht_name_utf8, opts.name.c_str(), opts.name.size() + 1);
  t->tp_name = ht->ht_name_utf8;
  t->tp_basicsize = sizeof(PyObject);
  t->tp_itemsize = 0;
  t->tp_flags = Py_TPFLAGS_HEAPTYPE | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_READY |
                Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF;
  t->tp_kind = TypeKind::Instance;
  t->tp_base = rt.Type(TypeKind::Object);
  t->tp_dealloc = subtype_dealloc;
  t->tp_repr = object_default_repr;
  set_walk<InstanceWalk>(t);
  t->tp_clear = subtype_clear;
  t->tp_js = JsShape::Object;
  t->tp_finalize = opts.has_finalize ? instance_finalize : nullptr;
  t->tp_del = opts.legacy_del ? instance_legacy_del : nullptr;
  ht->ht_host_id = opts.host_id;
  ht->ht_keys_usable = SHARED_KEYS_MAX_SIZE;
  ht->ht_cached_keys = static_cast<PyObject**>(
      rt.alloc.calloc(MemDomain::Mem, SHARED_KEYS_MAX_SIZE, sizeof(PyObject*)));
  // CPython's shared keys are a dict keys table, which the ref total counts (see dict.cc).
  if (ht->ht_cached_keys != nullptr) rt.add_ref_total(+1);
  ht->ht_name = PyUnicode_FromUTF8(rt, opts.name);
  ht->ht_module = PyUnicode_FromUTF8(rt, opts.module);
  ht->tp_dict = PyDict_New(rt);
  PyObject* mro = PyTuple_New(rt, 2);
  if (ht->ht_cached_keys == nullptr || !ht->ht_name || !ht->ht_module || !ht->tp_dict || !mro) {
    if (mro) Py_DECREF(rt, mro);
    Py_DECREF(rt, op);
    return nullptr;
  }
  // __mro__ = (cls, object): the class refers to itself through it, as every CPython class
  // does, so an unreferenced class is cyclic garbage.
  PyTuple_ITEM(mro, 0) = Py_NewRef(rt, op);
  PyTuple_ITEM(mro, 1) = Py_NewRef(rt, &rt.Type(TypeKind::Object)->ob_base.ob_base);
  ht->tp_mro = mro;
  _PyObject_GC_TRACK(rt, op);
  return op;
}

static void type_dealloc(Runtime& rt, PyObject* op) {
  auto* t = reinterpret_cast<PyTypeObject*>(op);
  if (!PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE)) {  // a runtime's static type
    _Py_SetImmortal(op);
    return;
  }
  _PyObject_GC_UNTRACK(op);
  auto* ht = reinterpret_cast<PyHeapTypeObject*>(op);
  PyObject_ClearWeakRefs(rt, op);
  Py_CLEAR(rt, ht->tp_dict);
  Py_CLEAR(rt, ht->tp_mro);
  Py_CLEAR(rt, ht->ht_name);
  Py_CLEAR(rt, ht->ht_module);
  if (ht->ht_cached_keys != nullptr) {
    for (Py_ssize_t i = 0; i < ht->ht_keys_nentries; i++) Py_DECREF(rt, ht->ht_cached_keys[i]);
    rt.alloc.free(MemDomain::Mem, ht->ht_cached_keys);
    rt.add_ref_total(-1);
    ht->ht_cached_keys = nullptr;
  }
  rt.alloc.free(MemDomain::Raw, ht->ht_name_utf8);
  ht->ht_name_utf8 = nullptr;
  t->tp_name = "<deallocated type>";
  rt.gc_object_free(op);
}

// The walk of a class: its namespace and __mro__ (what type_traverse visits), and, as owned
// references the collector does not follow, its name, module name and shared attribute keys.
struct TypeWalk {
  template <WalkMode M, typename Visit>
  static int walk(PyObject* op, Visit&& visit) {
    auto* ht = reinterpret_cast<PyHeapTypeObject*>(op);
    if (!PyType_HasFeature(&ht->ht_type, Py_TPFLAGS_HEAPTYPE)) return 0;
    if constexpr (M == WalkMode::All) {
      if (ht->ht_name) {
        if (int r = visit(ht->ht_name, RefLabel{RefLabel::Name})) return r;
      }
      if (ht->ht_module) {
        if (int r = visit(ht->ht_module, RefLabel{RefLabel::Module})) return r;
      }
    }
    if (ht->tp_dict) {
      if (int r = visit(ht->tp_dict, RefLabel{RefLabel::Dict})) return r;
    }
    if (ht->tp_mro) {
      if (int r = visit(ht->tp_mro, RefLabel{RefLabel::Mro})) return r;
    }
    if constexpr (M == WalkMode::All) {
      for (Py_ssize_t i = 0; ht->ht_cached_keys != nullptr && i < ht->ht_keys_nentries; i++) {
        if (int r = visit(ht->ht_cached_keys[i], RefLabel{RefLabel::SharedKey, i})) return r;
      }
    }
    return 0;
  }
};

// type_repr: <class 'module.Name'>, or <class 'name'> for a built-in type.
static std::string type_repr(Runtime&, PyObject* op) {
  auto* t = reinterpret_cast<PyTypeObject*>(op);
  if (PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE))
    return "<class '" + PyUnicode_AsUTF8(as_heap_type(op)->ht_module) + "." + t->tp_name + "'>";
  return std::string("<class '") + t->tp_name + "'>";
}

static int type_clear(Runtime& rt, PyObject* op) {
  auto* ht = reinterpret_cast<PyHeapTypeObject*>(op);
  if (ht->tp_dict) PyDict_Clear(rt, ht->tp_dict);
  Py_CLEAR(rt, ht->tp_mro);
  return 0;
}

// =============================================================================================
// Instances
// =============================================================================================

PyObject* PyObject_CallClass(Runtime& rt, PyObject* cls) {
  auto* ht = reinterpret_cast<PyHeapTypeObject*>(cls);
  PyTypeObject* tp = &ht->ht_type;
  if (ht->ht_keys_usable > 1) ht->ht_keys_usable--;
  size_t size = static_cast<size_t>(ht->ht_keys_nentries + ht->ht_keys_usable);
  PyObject** values = new_values(rt, size);
  if (values == nullptr) return nullptr;
  PyObject* self = rt.gc_object_new(tp, static_cast<size_t>(tp->tp_basicsize));
  if (self == nullptr) {
    free_values(rt, values);
    return nullptr;
  }
  Py_INCREF(rt, cls);  // heap-type instances own a reference to their class
  *_PyObject_ManagedDictSlot(self) = reinterpret_cast<uintptr_t>(values) - 1;
  _PyObject_GC_TRACK(rt, self);
  return self;
}

// Every index of the shared keys is below every instance's values size: sizes only shrink
// (one per new instance) by as much as the keys can still grow. So, as in CPython, an
// instance's values are walked up to the class's current number of shared keys.
static size_t shared_count(PyObject* self) {
  return static_cast<size_t>(heap_type_of(self)->ht_keys_nentries);
}

// make_dict_from_instance_attributes: the values become a real dict (in insertion order).
static PyObject* materialize_dict(Runtime& rt, PyObject* self) {
  uintptr_t* slot = _PyObject_ManagedDictSlot(self);
  if (*slot != 0 && !slot_is_values(*slot)) return reinterpret_cast<PyObject*>(*slot);
  PyObject* dict = PyDict_New(rt);
  if (dict == nullptr) return nullptr;
  if (*slot != 0) {
    PyObject** values = slot_values(*slot);
    PyHeapTypeObject* ht = heap_type_of(self);
    uint8_t n = values_count(values);
    for (uint8_t k = 0; k < n; k++) {
      uint8_t ix = values_order(values)[-static_cast<ptrdiff_t>(k)];
      if (PyDict_SetItem(rt, dict, ht->ht_cached_keys[ix], values[ix]) < 0) {
        Py_DECREF(rt, dict);
        return nullptr;
      }
    }
    // The dict now holds the references; drop the values' own.
    size_t cap = shared_count(self);
    *slot = reinterpret_cast<uintptr_t>(dict);
    for (size_t i = 0; i < cap; i++) Py_XDECREF(rt, values[i]);
    free_values(rt, values);
  } else {
    *slot = reinterpret_cast<uintptr_t>(dict);
  }
  return dict;
}

static void attribute_error(Runtime& rt, PyObject* op, PyObject* name) {
  std::string n = PyUnicode_AsUTF8(name);
  std::string msg = Py_TYPE(op)->tp_kind == TypeKind::Type
                        ? "type object '" + std::string(reinterpret_cast<PyTypeObject*>(op)->tp_name) +
                              "' has no attribute '" + n + "'"
                        : "'" + std::string(Py_TYPE(op)->tp_name) + "' object has no attribute '" +
                              n + "'";
  rt.set_error(ErrorCode::Attribute, msg, "AttributeError");
}

// Borrowed lookup of an instance attribute (values or dict), nullptr if absent.
static PyObject* instance_lookup(Runtime& rt, PyObject* self, PyObject* name) {
  uintptr_t dorv = *_PyObject_ManagedDictSlot(self);
  if (dorv == 0) return nullptr;
  if (slot_is_values(dorv)) {
    PyObject** values = slot_values(dorv);
    Py_ssize_t ix = shared_index(heap_type_of(self), name);
    if (ix < 0) return nullptr;
    return values[ix];
  }
  return PyDict_GetItem(rt, reinterpret_cast<PyObject*>(dorv), name);
}

PyObject* PyObject_GetAttr(Runtime& rt, PyObject* op, PyObject* name) {
  PyTypeObject* tp = Py_TYPE(op);
  PyObject* found = nullptr;
  if (tp->tp_kind == TypeKind::Instance) {
    found = instance_lookup(rt, op, name);
    if (found == nullptr && !rt.has_error())
      found = PyDict_GetItem(rt, reinterpret_cast<PyHeapTypeObject*>(tp)->tp_dict, name);
  } else if (tp->tp_kind == TypeKind::Type &&
             PyType_HasFeature(reinterpret_cast<PyTypeObject*>(op), Py_TPFLAGS_HEAPTYPE)) {
    found = PyDict_GetItem(rt, reinterpret_cast<PyHeapTypeObject*>(op)->tp_dict, name);
  }
  if (rt.has_error()) return nullptr;
  if (found == nullptr) {
    attribute_error(rt, op, name);
    return nullptr;
  }
  return new_ref_to_item(rt, found);
}

int PyObject_HasAttr(Runtime& rt, PyObject* op, PyObject* name) {
  PyObject* v = PyObject_GetAttr(rt, op, name);
  if (v == nullptr) {
    if (rt.error.code == ErrorCode::Attribute) rt.take_error();
    return 0;
  }
  Py_DECREF(rt, v);
  return 1;
}

static int instance_setattr(Runtime& rt, PyObject* self, PyObject* name, PyObject* value) {
  uintptr_t* slot = _PyObject_ManagedDictSlot(self);
  PyHeapTypeObject* ht = heap_type_of(self);
  if (*slot != 0 && slot_is_values(*slot)) {
    PyObject** values = slot_values(*slot);
    Py_ssize_t ix = shared_index(ht, name);
    if (ix < 0 && value != nullptr && ht->ht_keys_usable > 0 &&
        ht->ht_keys_nentries < SHARED_KEYS_MAX_SIZE) {
      // insert_into_dictkeys: the name joins the class's shared keys, interned (CPython's
      // PyObject_SetAttr interns every name; shared_index relies on it).
      PyObject* key = name;
      if (!reinterpret_cast<PyASCIIObject*>(key)->state.interned) {
        key = PyUnicode_InternFromUTF8(rt, PyUnicode_AsUTF8(name));
        if (key == nullptr) return -1;
      }
      ix = ht->ht_keys_nentries++;
      ht->ht_keys_usable--;
      ht->ht_cached_keys[ix] = Py_NewRef(rt, key);
    }
    if (ix >= 0) {
      PyObject* old = values[ix];
      if (value == nullptr) {
        if (old == nullptr) {
          attribute_error(rt, self, name);
          return -1;
        }
        values[ix] = nullptr;
        order_remove(values, static_cast<size_t>(ix));
        Py_DECREF(rt, old);
        return 0;
      }
      values[ix] = Py_NewRef(rt, value);
      if (old == nullptr)
        order_add(values, static_cast<size_t>(ix));
      else
        Py_DECREF(rt, old);
      return 0;
    }
    if (value == nullptr) {
      attribute_error(rt, self, name);
      return -1;
    }
  }
  PyObject* dict = materialize_dict(rt, self);
  if (dict == nullptr) return -1;
  if (value == nullptr) {
    if (PyDict_DelItem(rt, dict, name) < 0) {
      rt.take_error();
      attribute_error(rt, self, name);
      return -1;
    }
    return 0;
  }
  return PyDict_SetItem(rt, dict, name, value);
}

int PyObject_SetAttr(Runtime& rt, PyObject* op, PyObject* name, PyObject* value) {
  PyTypeObject* tp = Py_TYPE(op);
  if (tp->tp_kind == TypeKind::Instance) return instance_setattr(rt, op, name, value);
  if (tp->tp_kind == TypeKind::Type &&
      PyType_HasFeature(reinterpret_cast<PyTypeObject*>(op), Py_TPFLAGS_HEAPTYPE)) {
    PyObject* d = reinterpret_cast<PyHeapTypeObject*>(op)->tp_dict;
    if (value != nullptr) return PyDict_SetItem(rt, d, name, value);
    if (PyDict_DelItem(rt, d, name) < 0) {
      rt.take_error();
      attribute_error(rt, op, name);
      return -1;
    }
    return 0;
  }
  std::string n = PyUnicode_AsUTF8(name);
  if (value == nullptr || tp->tp_kind != TypeKind::Type)
    rt.set_error(ErrorCode::Attribute,
                 "'" + std::string(tp->tp_name) + "' object has no attribute '" + n + "'" +
                     (value ? " and no __dict__ for setting new attributes" : ""),
                 "AttributeError");
  else
    rt.set_error(ErrorCode::Type,
                 "cannot set '" + n + "' attribute of immutable type '" +
                     reinterpret_cast<PyTypeObject*>(op)->tp_name + "'",
                 "TypeError");
  return -1;
}

void instance_attributes(PyObject* op, std::vector<std::pair<PyObject*, PyObject*>>* out) {
  out->clear();
  if (Py_TYPE(op)->tp_kind != TypeKind::Instance) return;
  uintptr_t dorv = *_PyObject_ManagedDictSlot(op);
  if (dorv == 0) return;
  if (slot_is_values(dorv)) {
    PyObject** values = slot_values(dorv);
    PyHeapTypeObject* ht = heap_type_of(op);
    uint8_t n = values_count(values);
    for (uint8_t k = 0; k < n; k++) {
      uint8_t ix = values_order(values)[-static_cast<ptrdiff_t>(k)];
      out->emplace_back(ht->ht_cached_keys[ix], values[ix]);
    }
    return;
  }
  Py_ssize_t pos = 0;
  PyObject *k, *v;
  while (PyDict_Next(reinterpret_cast<PyObject*>(dorv), &pos, &k, &v)) out->emplace_back(k, v);
}

// A finalizer (tp_finalize or tp_del) run from the object's deallocation, with the temporary
// reference set: the object is live to the API meanwhile, and dying again after unless the
// finalizer resurrected it (see Runtime::dealloc_begin).
static void run_finalizer_in_dealloc(Runtime& rt, PyObject* self, destructor finalizer) {
  rt.dealloc_resume(self);
  finalizer(rt, self);
  if (self->ob_refcnt == 1) rt.dealloc_begin(self);
}

// PyObject_CallFinalizerFromDealloc: temporarily resurrect, run tp_finalize once, and report
// whether the object was resurrected (refcount still > 0 after dropping the temporary one).
static bool call_finalizer_from_dealloc(Runtime& rt, PyObject* self) {
  self->ob_refcnt = 1;
  if (!_PyGC_FINALIZED(self)) {
    _PyGC_SET_FINALIZED(self);
    run_finalizer_in_dealloc(rt, self, Py_TYPE(self)->tp_finalize);
  }
  if (--self->ob_refcnt == 0) return false;
  // Resurrected: the finalizer stored a new (counted) reference; the temporary one was set and
  // dropped without counting, so the ref total already matches the count.
  return true;
}

// subtype_dealloc for a GC heap type (3.12's order): untrack; finalizer (may resurrect); clear
// weakrefs; legacy tp_del; release the managed values; free; release the class.
static void subtype_dealloc(Runtime& rt, PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  _PyObject_GC_UNTRACK(self);
  if (rt.trash_begin(self)) return;  // Py_TRASHCAN_BEGIN(self, subtype_dealloc)
  if (type->tp_finalize) {
    _PyObject_GC_TRACK(rt, self);
    if (call_finalizer_from_dealloc(rt, self)) {  // resurrected
      rt.trash_end();
      return;
    }
    _PyObject_GC_UNTRACK(self);
  }
  PyObject_ClearWeakRefs(rt, self);
  if (type->tp_del) {
    _PyObject_GC_TRACK(rt, self);
    self->ob_refcnt = 1;
    run_finalizer_in_dealloc(rt, self, type->tp_del);
    if (--self->ob_refcnt != 0) {  // resurrected by tp_del
      rt.trash_end();
      return;
    }
    _PyObject_GC_UNTRACK(self);
  }
  uintptr_t* slot = _PyObject_ManagedDictSlot(self);
  if (*slot != 0) {
    if (slot_is_values(*slot)) {
      // _PyObject_FreeInstanceAttributes: release each value in index order, free the array.
      PyObject** values = slot_values(*slot);
      size_t n = shared_count(self);
      for (size_t i = 0; i < n; i++) Py_XDECREF(rt, values[i]);
      free_values(rt, values);
    } else {
      Py_XDECREF(rt, reinterpret_cast<PyObject*>(*slot));
    }
    *slot = 0;
  }
  rt.gc_object_free(self);
  Py_DECREF(rt, reinterpret_cast<PyObject*>(type));
  rt.trash_end();
}


// subtype_clear: _PyObject_ClearInstanceAttributes (Py_CLEAR each value, keep the array) or
// clear the materialised dict.
static int subtype_clear(Runtime& rt, PyObject* self) {
  uintptr_t* slot = _PyObject_ManagedDictSlot(self);
  if (*slot == 0) return 0;
  if (slot_is_values(*slot)) {
    PyObject** values = slot_values(*slot);
    size_t n = shared_count(self);
    for (size_t i = 0; i < n; i++) {
      if (values[i] != nullptr) {
        order_remove(values, i);
        Py_CLEAR(rt, values[i]);
      }
    }
  } else {
    PyObject* dict = reinterpret_cast<PyObject*>(*slot);
    *slot = 0;
    Py_DECREF(rt, dict);
  }
  return 0;
}

void init_class_types(Runtime& rt) {
  PyTypeObject* t = rt.Type(TypeKind::Type);
  t->tp_dealloc = type_dealloc;
  set_walk<TypeWalk>(t);
  t->tp_clear = type_clear;
  t->tp_repr = type_repr;
}

RCL_END_NAMESPACE
