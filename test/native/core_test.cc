// core_test.cc — the memory model alone, through native/core's C++ API (no Node, no N-API):
// refcounts, containers, classes, weakrefs, finalizers, the collector; then a libFuzzer-style
// entry point (LLVMFuzzerTestOneInput) that interprets bytes as heap operations and checks
// the collector and the allocator stay consistent. Built by scripts/native-test.sh for every
// build and under ASan + UBSan; with -DRCL_LIBFUZZER it links against libFuzzer (clang)
// instead of the random driver below.
// Last line: "N passed, M failed"; exit status non-zero on any failure.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../native/core/api.h"
#include "../../native/core/refcount.h"
#include "../../native/core/refs.h"
#include "../../native/core/runtime.h"
#include "../../native/core/types/types.h"

#include "check.h"

using namespace rcl;


// A host that records what the core asks for (finalizers, weakref callbacks, gc callbacks).
struct TestHost final : Host {
  int finalized = 0;
  int callbacks = 0;
  std::vector<std::string> phases;
  PyObject* resurrect_into = nullptr;  // a list: finalizers append self there when set
  void call_finalizer(Runtime& rt, uint32_t, PyObject* self) override {
    finalized++;
    if (resurrect_into) PyList_Append(rt, resurrect_into, self);
  }
  void call_legacy_del(Runtime&, uint32_t, PyObject*) override {}
  void call_weakref_callback(Runtime&, uint32_t, PyObject*) override { callbacks++; }
  void forget_weakref_callback(Runtime&, uint32_t) override {}
  void gc_callback(Runtime&, const char* phase, int, Py_ssize_t, Py_ssize_t) override {
    phases.emplace_back(phase);
  }
  void write_debug(Runtime&, const std::string&) override {}
};

static RuntimeOptions options(bool guard = true) {
  RuntimeOptions o;
  o.guard = guard;
  return o;
}

static bool heap_valid(Runtime& rt) {
  std::string why;
  bool ok = rt.alloc.validate(&why);
  if (!ok) std::printf("heap invalid: %s\n", why.c_str());
  return ok;
}

static PyObject* name(Runtime& rt, const char* s) { return PyUnicode_InternFromUTF8(rt, s); }

static void test_refcount_semantics() {
  TestHost host;
  Runtime rt(options(), &host);
  PyObject* x = PyFloat_FromDouble(rt, 1.5);
  CHECK(Py_REFCNT(x) == 1);
  Py_INCREF(rt, x);
  CHECK(Py_REFCNT(x) == 2);
  x->ob_refcnt = 0xFFFFFFFE;  // saturation: the low word becomes all ones and stays there
  Py_INCREF(rt, x);
  CHECK(Py_REFCNT(x) == 0xFFFFFFFF && _Py_IsImmortal(x));
  Py_INCREF(rt, x);
  Py_DECREF(rt, x);
  CHECK(Py_REFCNT(x) == 0xFFFFFFFF);
  x->ob_refcnt = 0x100000005;  // only the low word changes on incref
  Py_INCREF(rt, x);
  CHECK(Py_REFCNT(x) == 0x100000006);
  Py_DECREF(rt, x);
  CHECK(Py_REFCNT(x) == 0x100000005);
  x->ob_refcnt = 1;
  Py_SET_REFCNT(rt.None(), 3);  // a no-op on immortals
  CHECK(Py_REFCNT(rt.None()) == 0xFFFFFFFF);
  PyObject* slot = Py_NewRef(rt, x);
  Py_CLEAR(rt, slot);  // stores NULL first, then releases
  CHECK(slot == nullptr && Py_REFCNT(x) == 1);
  PyObject* dst = Py_NewRef(rt, x);
  Py_SETREF(rt, dst, PyFloat_FromDouble(rt, 2.5));  // the old value is released
  CHECK(Py_REFCNT(x) == 1);
  Py_DECREF(rt, dst);
  Py_XDECREF(rt, nullptr);
  CHECK(PyLong_FromInt64(rt, 256) == rt.small_int(256) && _Py_IsImmortal(rt.small_int(-5)));
  PyObject* big = PyLong_FromInt64(rt, 257);
  CHECK(Py_REFCNT(big) == 1 && !_Py_IsImmortal(big));
  Py_DECREF(rt, big);
  const bool freed = kBuild != Build::NoDealloc;
  Py_DECREF(rt, x);
  CHECK(rt.was_freed_object(x) == freed);
  CHECK(heap_valid(rt));
}

static void test_containers_release_what_they_hold() {
  TestHost host;
  Runtime rt(options(), &host);
  PyObject* item = PyUnicode_FromUTF8(rt, "an item");
  PyObject* l = PyList_New(rt, 0);
  for (int i = 0; i < 5; i++) PyList_Append(rt, l, item);
  CHECK(Py_REFCNT(item) == 6);
  PyObject* popped = PyList_Pop(rt, l, -1);
  CHECK(popped == item && Py_REFCNT(item) == 6);
  Py_DECREF(rt, popped);
  PyObject* t = PyTuple_New(rt, 2);
  PyTuple_ITEM(t, 0) = Py_NewRef(rt, item);
  PyTuple_ITEM(t, 1) = Py_NewRef(rt, l);
  PyObject* d = PyDict_New(rt);
  CHECK(!_PyObject_GC_IS_TRACKED(d));  // dicts start untracked
  PyDict_SetItem(rt, d, name(rt, "k"), item);
  CHECK(!_PyObject_GC_IS_TRACKED(d));  // atomic values keep it untracked
  PyDict_SetItem(rt, d, name(rt, "t"), t);
  CHECK(_PyObject_GC_IS_TRACKED(d));  // a container may make a cycle: tracked
  Py_DECREF(rt, t);
  Py_DECREF(rt, l);
  CHECK(Py_REFCNT(item) == 7);  // 4 in the list, 1 in the tuple, 1 in the dict, ours
  Py_DECREF(rt, d);  // dict -> tuple -> list: everything released in cascade
  if (kBuild != Build::NoDealloc) CHECK(Py_REFCNT(item) == 1);
  Py_DECREF(rt, item);
  CHECK(heap_valid(rt));
}


// [i for i in range(n)] (PyList_AppendRange) against CPython 3.12.1: the over-allocation of
// 1000 and 1e6 appends (sys.getsizeof: 1100 and 1056084 slots), the cached small ints, new
// heap ints with one reference each, every block back after the drop but the list object parked
// on its free list (none in nodealloc), and a
// non-list refused with a TypeError.
static void test_list_append_range() {
  TestHost host;
  Runtime rt(options(), &host);
  const size_t blocks0 = rt.alloc.allocated_blocks();
  PyObject* l = PyList_New(rt, 0);
  CHECK(PyList_AppendRange(rt, l, 0, 1000) == 0);
  CHECK(Py_SIZE(l) == 1000 && reinterpret_cast<PyListObject*>(l)->allocated == 1100);
  CHECK(PyList_ITEM(l, 7) == rt.small_int(7) && PyList_ITEM(l, 256) == rt.small_int(256));
  int64_t v = 0;
  bool values = true;
  for (Py_ssize_t i = 0; i < 1000; i++) values = values && PyLong_AsInt64(PyList_ITEM(l, i), &v) && v == i;
  CHECK(values);
  CHECK(Py_REFCNT(PyList_ITEM(l, 257)) == 1 && Py_REFCNT(PyList_ITEM(l, 999)) == 1);
  // list + item array + 743 heap ints (257..999)
  CHECK(rt.alloc.allocated_blocks() == blocks0 + 2 + 743);
  CHECK(PyList_AppendRange(rt, l, 5, 5) == 0 && PyList_AppendRange(rt, l, 9, 3) == 0 && Py_SIZE(l) == 1000);
  Py_DECREF(rt, l);
  // the list object itself is parked on the list free list (3.12's 80 slots)
  if (kBuild != Build::NoDealloc) CHECK(rt.alloc.allocated_blocks() == blocks0 + 1);
  PyObject* big = PyList_New(rt, 0);
  CHECK(PyList_AppendRange(rt, big, 0, 1000000) == 0);
  CHECK(Py_SIZE(big) == 1000000 && reinterpret_cast<PyListObject*>(big)->allocated == 1056084);
  Py_DECREF(rt, big);
  PyObject* t = PyTuple_New(rt, 0);
  CHECK(PyList_AppendRange(rt, t, 0, 3) == -1 && rt.has_error());
  (void)rt.take_error();
  Py_DECREF(rt, t);
  CHECK(heap_valid(rt));
}

// set / frozenset against CPython 3.12.1: sizes as elements are added (216, 728 from the 5th,
// 2264 from the 19th), table order in repr, the refcount an element gains, dummies reused, the
// frozenset hash, tracking; then the labelled walk and the repr and len slots of every kind.
static void test_sets_and_the_object_protocol() {
  TestHost host;
  Runtime rt(options(), &host);
  PyObject* s = PySet_New(rt, nullptr, 0);
  CHECK(_PySys_GetSizeOf(s) == 216 && _PyObject_GC_IS_TRACKED(s));
  CHECK(PyObject_Repr(rt, s) == "set()");
  std::vector<size_t> sizes;
  for (int i = 0; i < 20; i++) {
    PyObject* v = PyLong_FromInt64(rt, i);
    CHECK(PySet_Add(rt, s, v) == 0);
    Py_DECREF(rt, v);
    sizes.push_back(_PySys_GetSizeOf(s));
  }
  CHECK(sizes[3] == 216 && sizes[4] == 728 && sizes[17] == 728 && sizes[18] == 2264);
  CHECK(PyObject_Length(rt, s) == 20);
  Py_DECREF(rt, s);

  // set([3, 1, 2, 100, 9, 17]) prints as {1, 2, 3, 100, 9, 17} in CPython 3.12.1 (9 took slot 6
  // of the 8-slot table, not slot 2: no linear probe runs past the end).
  std::vector<PyObject*> items;
  for (int v : {3, 1, 2, 100, 9, 17}) items.push_back(PyLong_FromInt64(rt, v));
  s = PySet_New(rt, items.data(), items.size());
  CHECK(PyObject_Repr(rt, s) == "{1, 2, 3, 100, 9, 17}");
  // {1, 9}; discard 1; add 17: 17 lands in 1's dummy slot, before 9 (CPython: {17, 9}).
  PyObject* s2 = PySet_New(rt, &items[1], 1);
  PySet_Add(rt, s2, items[4]);
  CHECK(PySet_Discard(rt, s2, items[1]) == 1 && PySet_Discard(rt, s2, items[1]) == 0);
  PySet_Add(rt, s2, items[5]);
  CHECK(PyObject_Repr(rt, s2) == "{17, 9}");
  CHECK(PySet_Contains(rt, s2, items[5]) == 1 && PySet_Contains(rt, s2, items[1]) == 0);
  PyObject* f = PyFrozenSet_New(rt, items.data(), 2);
  CHECK(PyObject_Repr(rt, f) == "frozenset({1, 3})" && _PyObject_GC_IS_TRACKED(f));
  // hash(frozenset({1, 3})) in CPython 3.12.1
  CHECK(PyObject_Hash(rt, f) == 3218240494624046523LL);
  PyObject* lst = PyList_New(rt, 0);
  CHECK(PySet_Add(rt, s, lst) == -1 && rt.take_error().message == "unhashable type: 'list'");
  CHECK(PySet_Add(rt, s, f) == 0 && PySet_Contains(rt, s, f) == 1);
  for (PyObject* v : items) Py_DECREF(rt, v);

  // An element gains one reference per set holding it; discard gives it back.
  PyObject* x = PyUnicode_FromUTF8(rt, "element");
  PyObject* xs = PySet_New(rt, &x, 1);
  CHECK(Py_REFCNT(x) == 2);
  PySet_Add(rt, xs, x);
  CHECK(Py_REFCNT(x) == 2);
  PySet_Discard(rt, xs, x);
  CHECK(Py_REFCNT(x) == 1);

  // The walk: labels and the two views of a str-keyed dict.
  PyObject* d = PyDict_New(rt);
  PyDict_SetItem(rt, d, name(rt, "k"), x);
  std::vector<std::string> labels;
  auto collect = [](PyObject* c, const RefLabel& l, void* arg) {
    (void)c;
    static_cast<std::vector<RefLabel>*>(arg)->push_back(l);
    return 0;
  };
  std::vector<RefLabel> got;
  Py_TYPE(d)->tp_walk(d, WalkMode::All, collect, &got);
  CHECK(got.size() == 2 && got[0].kind == RefLabel::Key && got[1].kind == RefLabel::Value);
  CHECK(label_text(rt, got[0], name(rt, "k")) == "key 'k'" && label_text(rt, got[1], x) == "['k']");
  got.clear();
  Py_TYPE(d)->tp_walk(d, WalkMode::Gc, collect, &got);
  CHECK(got.size() == 1 && got[0].kind == RefLabel::Value);  // dict_traverse skips str keys
  PyObject* l3 = PyList_New(rt, 0);
  PyList_Append(rt, l3, x);
  PyList_Append(rt, l3, d);
  got.clear();
  Py_TYPE(l3)->tp_walk(l3, WalkMode::Gc, collect, &got);
  CHECK(got.size() == 2 && got[0].index == 1 && got[1].index == 0);  // last item first
  got.clear();
  Py_TYPE(l3)->tp_walk(l3, WalkMode::All, collect, &got);
  CHECK(got.size() == 2 && got[0].index == 0 && label_text(rt, got[1], d) == "[1]");
  PyList_Append(rt, l3, l3);
  CHECK(PyObject_Repr(rt, l3) == "['element', {'k': 'element'}, [...]]");
  PyList_Clear(rt, l3);
  PyObject* t1 = PyTuple_New(rt, 1);
  PyTuple_ITEM(t1, 0) = Py_NewRef(rt, rt.None());
  CHECK(PyObject_Repr(rt, t1) == "(None,)" && PyObject_Length(rt, t1) == 1);
  PyObject* fl = PyFloat_FromDouble(rt, 1e16);
  CHECK(PyObject_Repr(rt, fl) == "1e+16" && PyObject_Length(rt, fl) == -1);
  CHECK(rt.take_error().message == "object of type 'float' has no len()");
  for (PyObject* o : {s, s2, f, lst, x, xs, d, l3, t1, fl}) Py_DECREF(rt, o);
  gc_collect(rt, 2);
  CHECK(heap_valid(rt));
}


// Reference accounting (refs.h): the slots that hold an object, the runtime's own references,
// the whole heap's account, and a slot left pointing at a freed item.
static void test_reference_accounting() {
  TestHost host;
  Runtime rt(options(), &host);
  PyObject* x = PyUnicode_FromUTF8(rt, "held");
  PyObject* l = PyList_New(rt, 0);
  PyList_Append(rt, l, x);
  PyList_Append(rt, l, x);
  PyObject* d = PyDict_New(rt);
  PyDict_SetItem(rt, d, x, l);  // x as a key: owned, though dict_traverse never visits it
  std::vector<RefSlot> slots;
  std::vector<const char*> runtime;
  CHECK(heap_holders(rt, x, &slots, &runtime));
  CHECK(slots.size() == 3 && runtime.empty());  // [0], [1], key 'held'; plus our own reference
  CHECK(Py_REFCNT(x) == 4);
  std::vector<std::string> texts;
  for (auto& s : slots) texts.push_back(label_text(rt, s.label, x));
  std::sort(texts.begin(), texts.end());
  CHECK(texts == (std::vector<std::string>{"[0]", "[1]", "key 'held'"}));
  HeapAccount acc;
  CHECK(account_heap(rt, &acc));
  auto entry = [&](PyObject* op) {
    for (auto& e : acc.objects)
      if (e.op == op) return e;
    return HeapAccount::Entry{nullptr, 0, 0};
  };
  CHECK(entry(x).refcnt == 4 && entry(x).held == 3);  // ours is the one the heap does not hold
  CHECK(entry(l).refcnt == 2 && entry(l).held == 1);
  CHECK(entry(d).refcnt == 1 && entry(d).held == 0);
  CHECK(acc.dangling.empty());
  // One Py_DECREF too many on a list item: the object dies, the list's slot dangles.
  PyObject* y = PyFloat_FromDouble(rt, 2.5);
  PyList_Append(rt, l, y);
  Py_DECREF(rt, y);
  Py_DECREF(rt, y);
  HeapAccount after;
  CHECK(account_heap(rt, &after));
  if (kBuild != Build::NoDealloc) {  // nodealloc never frees it: nothing dangles
    CHECK(after.dangling.size() == 1 && after.dangling[0].first.from == l && after.dangling[0].second == y &&
          after.dangling[0].first.label.index == 2);
  } else {
    CHECK(after.dangling.empty());
  }
  reinterpret_cast<PyListObject*>(l)->ob_item[2] = nullptr;  // let the list die cleanly
  Py_SET_SIZE(l, 2);
  Py_DECREF(rt, d);
  Py_DECREF(rt, l);
  Py_DECREF(rt, x);
  Runtime unguarded(options(false), &host);
  CHECK(!account_heap(unguarded, &after));
  CHECK(heap_valid(rt));
}

static void test_instances_and_finalizers() {
  TestHost host;
  Runtime rt(options(), &host);
  ClassOptions co;
  co.name = "A";
  co.has_finalize = true;
  PyObject* cls = PyType_FromOptions(rt, co);
  Py_ssize_t class_refs = Py_REFCNT(cls);
  PyObject* a = PyObject_CallClass(rt, cls);
  CHECK(Py_REFCNT(cls) == class_refs + 1);  // every instance holds its class
  PyObject* v = PyUnicode_FromUTF8(rt, "This is kakoyto text");
  PyObject_SetAttr(rt, a, name(rt, "my_obj_attr"), v);
  CHECK(Py_REFCNT(v) == 2);
  PyObject* got = PyObject_GetAttr(rt, a, name(rt, "my_obj_attr"));
  CHECK(got == v);
  Py_DECREF(rt, got);
  CHECK(PyObject_GetAttr(rt, a, name(rt, "missing")) == nullptr);
  CHECK(rt.take_error().message == "'A' object has no attribute 'missing'");
  Py_DECREF(rt, a);
  if (kBuild != Build::NoDealloc) {
    CHECK(host.finalized == 1);
    CHECK(Py_REFCNT(v) == 1 && Py_REFCNT(cls) == class_refs);
  }
  // A finalizer that resurrects: the object survives, and its finalizer never runs twice.
  PyObject* keep = PyList_New(rt, 0);
  host.resurrect_into = keep;
  PyObject* b = PyObject_CallClass(rt, cls);
  Py_DECREF(rt, b);
  host.resurrect_into = nullptr;
  if (kBuild != Build::NoDealloc) {
    CHECK(host.finalized == 2 && PyList_ITEM(keep, 0) == b && _PyGC_FINALIZED(b));
    PyList_Clear(rt, keep);
    CHECK(host.finalized == 2 && rt.was_freed_object(b));
  }
  Py_DECREF(rt, keep);
  Py_DECREF(rt, v);
  CHECK(heap_valid(rt));
}

// The boundary policy (api.h): what the addon used to decide, now the core's, with its errors.
static bool takes_error(Runtime& rt, ErrorCode code, const char* text_part) {
  if (!rt.has_error()) return false;
  PendingError e = rt.take_error();
  bool ok = e.code == code && e.message.find(text_part) != std::string::npos;
  if (!ok) std::printf("error %s: %s\n", error_code_name(e.code), e.message.c_str());
  return ok;
}

static void test_api_policy() {
  TestHost host;
  Runtime rt(options(), &host);
  PyObject* a = PyFloat_FromDouble(rt, 1.5);
  PyObject* b = PyUnicode_FromUTF8(rt, "not a singleton");  // 1-char strs are immortal
  const uintptr_t ua = reinterpret_cast<uintptr_t>(a);

  // Addresses: an object's ob_refcnt is readable and writable; the rest of it only readable.
  CHECK(check_readable(rt, ua, 8) && check_writable(rt, ua, 8) && !rt.has_error());
  CHECK(!check_writable(rt, ua + 8, 8) && takes_error(rt, ErrorCode::InvalidAddress, "not writable in guarded mode"));
  uintptr_t stack_word = reinterpret_cast<uintptr_t>(&host);
  CHECK(!check_readable(rt, stack_word, 8) && takes_error(rt, ErrorCode::InvalidAddress, "is not memory of this runtime"));
  // C API blocks: NULL passes, a live block passes, an object does not, a freed block is UAF.
  void* blk = rt.capi_malloc(MemDomain::Mem, 24);
  CHECK(check_user_block(rt, 0) && check_user_block(rt, reinterpret_cast<uintptr_t>(blk)));
  CHECK(check_writable(rt, reinterpret_cast<uintptr_t>(blk) + 8, 16));
  CHECK(!check_user_block(rt, ua) && takes_error(rt, ErrorCode::InvalidAddress, "not allocated through the C API"));
  rt.capi_free(MemDomain::Mem, blk);
  CHECK(!check_user_block(rt, reinterpret_cast<uintptr_t>(blk)) && takes_error(rt, ErrorCode::UseAfterFree, "already freed"));

  // Batches: a bad element leaves every count untouched and is named.
  double batch[3] = {static_cast<double>(ua), static_cast<double>(reinterpret_cast<uintptr_t>(b)), 0.5};
  CHECK(!refcount_many<true>(rt, batch, 3) && takes_error(rt, ErrorCode::InvalidAddress, "element 2 is not an address"));
  CHECK(Py_REFCNT(a) == 1 && Py_REFCNT(b) == 1);
  uint64_t ubatch[2] = {ua, ua};
  CHECK(refcount_many<true>(rt, ubatch, 2) && Py_REFCNT(a) == 3);
  CHECK(refcount_many<false>(rt, ubatch, 2) && Py_REFCNT(a) == 1);
  // A decref that frees an object later in the batch: that element is a use after free.
  if (kBuild != Build::NoDealloc) {
    PyObject* c = PyFloat_FromDouble(rt, 2.5);
    double twice[3] = {static_cast<double>(ua), static_cast<double>(reinterpret_cast<uintptr_t>(c)),
                       static_cast<double>(reinterpret_cast<uintptr_t>(c))};
    Py_INCREF(rt, a);
    CHECK(!refcount_many<false>(rt, twice, 3) && takes_error(rt, ErrorCode::UseAfterFree, "element 2: "));
    CHECK(Py_REFCNT(a) == 1);  // the elements before it stay applied
  }

  // sys.getrefcount counts its argument.
  CHECK(sys_getrefcount(rt, a) == 2 && Py_REFCNT(a) == 1);
  // What the build lacks is the core's to say.
  int64_t total = 0;
  std::string text;
  CHECK(sys_gettotalrefcount(rt, &total) == (kBuild == Build::Debug));
  CHECK(sys_showrefcount(rt, &text) == (kBuild == Build::Debug));
  CHECK((sys_stats(rt) != nullptr) == (kBuild == Build::Debug));
  if (kBuild == Build::Debug) {
    CHECK(total > 0 && text.find(" refs, ") != std::string::npos && !rt.has_error());
  } else {
    CHECK(takes_error(rt, ErrorCode::NotInBuild, "sys.gettotalrefcount exists only in the debug build"));
  }
  rt.take_error();
  std::unordered_map<std::string, Runtime::TypeCensus> census;
  CHECK(sys_census(rt, &census) && census["float"].objects >= 1);
  {
    Runtime raw(options(false), &host);
    CHECK(!sys_census(raw, &census) && takes_error(raw, ErrorCode::NotInBuild, "needs a guarded runtime"));
  }

  // Statistics as plain structs: a freed list is parked on its free list.
  int parked = malloc_stats(rt).free_lists.list;
  PyObject* l = list_from_items(rt, &a, 1);
  CHECK(l != nullptr && PyList_ITEM(l, 0) == a && Py_REFCNT(a) == 2);
  Py_DECREF(rt, l);
  if (kBuild != Build::NoDealloc) CHECK(malloc_stats(rt).free_lists.list == parked + 1);
  CHECK(malloc_stats(rt).alloc.allocated_blocks > 0);
  PyObject* items[2] = {a, b};
  PyObject* t = tuple_from_items(rt, items, 2);
  CHECK(t != nullptr && PyTuple_ITEM(t, 1) == b && Py_REFCNT(b) == 2);
  Py_DECREF(rt, t);

  // gc setters: validation, in order.
  CHECK(gc_set_enabled(rt, false) == true && gc_set_enabled(rt, true) == false);
  double th[3] = {100, 1.5, 7};
  bool given[3] = {true, true, true};
  CHECK(!gc_set_threshold(rt, th, given, 3) && takes_error(rt, ErrorCode::Type, "indices must be integers"));
  CHECK(rt.gc.generations[0].threshold == 100 && rt.gc.generations[2].threshold != 7);
  th[1] = 4294967296.0;
  CHECK(!gc_set_threshold(rt, th, given, 3) && takes_error(rt, ErrorCode::Overflow, "greater than maximum"));
  bool none[1] = {false};
  CHECK(!gc_set_threshold(rt, th, none, 1) && takes_error(rt, ErrorCode::Type, "takes at least 1 argument"));
  th[1] = 11;
  bool skip_first[3] = {true, false, true};
  CHECK(gc_set_threshold(rt, th, skip_first, 3) && rt.gc.generations[1].threshold == 10 &&
        rt.gc.generations[2].threshold == 7);
  CHECK(gc_set_debug(rt, 34) && rt.gc.debug == (DEBUG_SAVEALL | DEBUG_COLLECTABLE));
  CHECK(!gc_set_debug(rt, 0.5) && takes_error(rt, ErrorCode::Type, "indices must be integers") && rt.gc.debug == 34);
  gc_set_debug(rt, 0);
  int g = 7;
  CHECK(gc_generation_arg(rt, -1, &g) && g == -1 && gc_generation_arg(rt, 2, &g) && g == 2);
  CHECK(!gc_generation_arg(rt, 3, &g) && takes_error(rt, ErrorCode::Value, "less than the number of available generations"));
  CHECK(!gc_generation_arg(rt, -2, &g) && takes_error(rt, ErrorCode::Value, "cannot be negative"));
  CHECK(!gc_generation_arg(rt, 0.5, &g) && takes_error(rt, ErrorCode::Type, "not 'float'") && g == 2);

  Py_DECREF(rt, a);
  Py_DECREF(rt, b);
  CHECK(!rt.has_error() && heap_valid(rt));
}

static void test_collector() {
  TestHost host;
  Runtime rt(options(), &host);
  ClassOptions co;
  co.name = "Node";
  PyObject* cls = PyType_FromOptions(rt, co);
  PyObject* next = name(rt, "next");
  gc_collect(rt, 2);
  // The talk's 3-node cycle: collect() == 3.
  PyObject* n[3];
  for (auto& x : n) x = PyObject_CallClass(rt, cls);
  for (int i = 0; i < 3; i++) PyObject_SetAttr(rt, n[i], next, n[(i + 1) % 3]);
  for (auto& x : n) Py_DECREF(rt, x);
  CHECK(gc_collect(rt, 2) == 3);
  CHECK(host.phases.size() >= 4 && host.phases[host.phases.size() - 2] == "start");
  if (kNoDealloc) {
    // Never freed: the cleared Nodes stay tracked at refcount 0, and every later collection
    // finds them unreachable again (what the talk's patched CPython would do).
    CHECK(gc_collect(rt, 2) == 3 && Py_REFCNT(n[0]) == 0);
    return;
  }
  // A self-referencing list and dict: 1 each.
  PyObject* l = PyList_New(rt, 0);
  PyList_Append(rt, l, l);
  Py_DECREF(rt, l);
  CHECK(gc_collect(rt, 2) == 1);
  PyObject* d = PyDict_New(rt);
  PyDict_SetItem(rt, d, name(rt, "self"), d);
  Py_DECREF(rt, d);
  CHECK(gc_collect(rt, 2) == 1);
  // A cycle under a live root: 0; then 2 once the root lets go.
  PyObject* root = PyList_New(rt, 0);
  PyObject* a = PyObject_CallClass(rt, cls);
  PyObject* b = PyObject_CallClass(rt, cls);
  PyObject_SetAttr(rt, a, next, b);
  PyObject_SetAttr(rt, b, next, a);
  PyList_Append(rt, root, a);
  Py_DECREF(rt, a);
  Py_DECREF(rt, b);
  CHECK(gc_collect(rt, 2) == 0);
  PyList_Clear(rt, root);
  CHECK(gc_collect(rt, 2) == 2);
  Py_DECREF(rt, root);
  // gc.get_count moves by one per GC allocation; generations promote as in CPython.
  gc_collect(rt, 2);
  int c0 = rt.gc.generations[0].count;
  PyObject* t = PyList_New(rt, 0);
  CHECK(rt.gc.generations[0].count == c0 + 1);
  gc_collect(rt, 0);
  CHECK(gc_generation_of(rt, t) == 1 && rt.gc.generations[1].count == 1);
  gc_collect(rt, 1);
  CHECK(gc_generation_of(rt, t) == 2);
  Py_DECREF(rt, t);
  // A weakref to cyclic trash is cleared, and its callback runs (the weakref is not trash).
  PyObject* c = PyObject_CallClass(rt, cls);
  PyObject_SetAttr(rt, c, next, c);
  PyObject* wr = PyWeakref_NewRef(rt, c, 7);
  Py_DECREF(rt, c);
  CHECK(gc_collect(rt, 2) == 1);
  CHECK(host.callbacks == 1 && PyWeakref_GetObject(rt, wr) == rt.None());
  Py_DECREF(rt, wr);
  // Too-small refcounts are caught (guarded): the collection is undone, the heap intact.
  PyObject* outer = PyList_New(rt, 0);
  PyObject* inner = PyList_New(rt, 0);
  PyList_Append(rt, outer, inner);
  Py_DECREF(rt, inner);
  inner->ob_refcnt = 0;  // a reference released by someone who did not own it
  CHECK(gc_collect(rt, 2) == 0);
  CHECK(rt.take_error().code == ErrorCode::RefcountTooSmall);
  inner->ob_refcnt = 1;
  CHECK(gc_collect(rt, 2) == 0);
  Py_DECREF(rt, outer);
  CHECK(heap_valid(rt));
}

// =============================================================================================
// libFuzzer-style entry point: bytes -> heap operations on a small set of slots.
// Invariants after every input: no pending error, the allocator validates, a full collection
// frees every object once all slots are released (nothing leaks), the debug ref total is back.
// =============================================================================================

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  TestHost host;
  Runtime rt(options(), &host);
  const size_t blocks0 = rt.alloc.allocated_blocks();
  ClassOptions co;
  co.name = "F";
  PyObject* cls = PyType_FromOptions(rt, co);
  PyObject* attrs[3] = {name(rt, "p"), name(rt, "q"), name(rt, "r")};
  PyObject* slots[8] = {};
  for (size_t i = 0; i + 1 < size; i += 2) {
    uint8_t op = data[i] % 10, arg = data[i + 1];
    PyObject*& s = slots[arg % 8];
    PyObject* other = slots[(arg >> 3) % 8];
    switch (op) {
      case 0: Py_XSETREF(rt, s, PyObject_CallClass(rt, cls)); break;
      case 1: Py_XSETREF(rt, s, PyList_New(rt, 0)); break;
      case 2: Py_XSETREF(rt, s, PyDict_New(rt)); break;
      case 3: Py_XSETREF(rt, s, PyLong_FromInt64(rt, 1000 + arg)); break;
      case 4:
        if (s && other && Py_TYPE(s)->tp_kind == TypeKind::Instance)
          PyObject_SetAttr(rt, s, attrs[arg % 3], other);
        break;
      case 5:
        if (s && other && Py_TYPE(s)->tp_kind == TypeKind::List) PyList_Append(rt, s, other);
        break;
      case 6:
        if (s && other && Py_TYPE(s)->tp_kind == TypeKind::Dict) PyDict_SetItem(rt, s, attrs[arg % 3], other);
        break;
      case 7: Py_CLEAR(rt, s); break;
      case 8: gc_collect(rt, arg % 3); break;
      case 9:
        if (s && Py_TYPE(s)->tp_kind == TypeKind::List) PyList_Clear(rt, s);
        break;
    }
    if (rt.has_error()) std::abort();
  }
  for (auto& s : slots) Py_CLEAR(rt, s);
  Py_DECREF(rt, cls);
  gc_collect(rt, 2);
  std::string why;
  if (!rt.alloc.validate(&why)) std::abort();
  // Everything is garbage now: only the runtime's own blocks (gc.garbage, interned names) stay.
  if (kBuild != Build::NoDealloc && rt.alloc.allocated_blocks() > blocks0 + 3) std::abort();
  return 0;
}

#ifndef RCL_LIBFUZZER
static void fuzz_random(unsigned seed, int inputs) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> buf;
  for (int k = 0; k < inputs; k++) {
    buf.resize(rng() % 512);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  CHECK(true);  // reaching here means no input aborted
}

// A tracking runtime's history: each event under the operation and site of its enter(), the
// allocation and the free from the hooks, kept after the free; the capi holders; the first
// decref with no owner; the report's lines.
static void test_provenance() {
  TestHost host;
  RuntimeOptions o = options();
  o.track = true;
  Runtime rt(o, &host);
  CHECK(rt.prov != nullptr);
  Provenance& p = *rt.prov;
  p.enter(rt, "rt.list", "a.js:1:1", CapiEffect::None, nullptr, 0);
  PyObject* l = PyList_New(rt, 0);
  p.leave(rt, true, l);
  const PyObject* args[] = {l};
  p.enter(rt, "capi.Py_INCREF", "a.js:2:1", CapiEffect::Take, args, 1);
  Py_INCREF(rt, l);
  p.leave(rt, true, nullptr);
  const ProvObject* rec = p.find(reinterpret_cast<uintptr_t>(l));
  CHECK(rec != nullptr && rec->capi_held.size() == 1 && p.text(rec->capi_held[0]) == "a.js:2:1");
  for (int i = 0; i < 2; i++) {  // the first gives the capi reference back; the second is extra
    p.enter(rt, "capi.Py_DECREF", i == 0 ? "a.js:3:1" : "a.js:4:1", CapiEffect::Give, args, 1);
    Py_DECREF(rt, l);
    p.leave(rt, true, nullptr);
  }
  rec = p.find(reinterpret_cast<uintptr_t>(l));
  CHECK(rec != nullptr && rec->capi_held.empty() && rec->first_unowned >= 0);
  if (rec == nullptr || rec->first_unowned < 0) return;
  const ProvEvent& extra = p.events()[static_cast<size_t>(rec->first_unowned)];
  CHECK(extra.unowned && p.text(extra.site) == "a.js:4:1" && extra.before == 1 && extra.after == 0);
  std::vector<std::string> kinds;
  for (uint32_t i : rec->events) kinds.emplace_back(provenance_kind_name(p.events()[i].kind));
  if (kBuild != Build::NoDealloc) {
    CHECK(rec->freed);
    CHECK(kinds == (std::vector<std::string>{"alloc", "incref", "decref", "decref", "free"}));
    const ProvEvent& freed = p.events()[rec->events.back()];
    CHECK(p.text(freed.op) == "capi.Py_DECREF" && p.text(freed.site) == "a.js:4:1");
    std::string r = p.report(reinterpret_cast<uintptr_t>(l), "heap-use-after-free");
    CHECK(r.find("ERROR: refcount-lab: heap-use-after-free on a 'list' object at 0x") == 0);
    CHECK(r.find("freed by capi.Py_DECREF here:\n    #0 capi.Py_DECREF at a.js:4:1\n") != std::string::npos);
    CHECK(r.find("previously allocated here:\n    #0 rt.list at a.js:1:1\n") != std::string::npos);
    CHECK(r.find("the decref that had no owner (refcount 1 -> 0):\n    #0 capi.Py_DECREF at a.js:4:1\n") !=
          std::string::npos);
    // the guarded check of a freed address carries the report
    CHECK(rt.checked_object(reinterpret_cast<uintptr_t>(l)) == nullptr);
    PendingError e = rt.take_error();
    CHECK(e.code == ErrorCode::UseAfterFree && e.provenance == r);
    // a new object at the same address is a new generation; the old one's records stay
    PyObject* l2 = PyList_New(rt, 0);
    const ProvObject* rec2 = p.find(reinterpret_cast<uintptr_t>(l2));
    CHECK(rec2 != nullptr && !rec2->freed && rec2->events.size() == 1 && rec2 != rec);
    CHECK(p.text(p.events()[rec2->events[0]].op) == "(outside any call)");
    Py_DECREF(rt, l2);
  } else {
    CHECK(!rec->freed);
    CHECK(kinds == (std::vector<std::string>{"alloc", "incref", "decref", "decref"}));
  }
  // a collection frees its garbage under its own name
  p.enter(rt, "gc.collect", "a.js:9:1", CapiEffect::None, nullptr, 0);
  PyObject* c = PyList_New(rt, 0);
  PyList_Append(rt, c, c);
  Py_DECREF(rt, c);
  gc_collect(rt, 2);
  p.leave(rt, true, nullptr);
  const ProvObject* rc = p.find(reinterpret_cast<uintptr_t>(c));
  CHECK(rc != nullptr && rc->freed == (kBuild != Build::NoDealloc));
  if (rc != nullptr && rc->freed)
    CHECK(p.text(p.events()[rc->events.back()].op) == "gc collection of generation 2" &&
          p.text(p.events()[rc->events.back()].site) == "a.js:9:1");
  // floats parked on the free list, then freed for good by a collection's clear_freelists():
  // their type word is the list's link then, and their death was recorded when parked
  std::vector<PyObject*> floats;
  for (int i = 0; i < 8; i++) floats.push_back(PyFloat_FromDouble(rt, i + 0.5));
  for (PyObject* f : floats) Py_DECREF(rt, f);
  gc_collect(rt, 2);
  for (PyObject* f : floats) {
    const ProvObject* rf = p.find(reinterpret_cast<uintptr_t>(f));
    CHECK(rf != nullptr && rf->freed == (kBuild != Build::NoDealloc) && p.text(rf->type) == "float");
    size_t frees = 0;
    for (uint32_t i : rf->events) frees += p.events()[i].kind == ProvKind::Free;
    CHECK(frees == (kBuild != Build::NoDealloc ? 1u : 0u));
  }
  Runtime plain(options(), &host);
  CHECK(plain.prov == nullptr);
}

int main() {
  test_refcount_semantics();
  test_containers_release_what_they_hold();
  test_list_append_range();
  test_sets_and_the_object_protocol();
  test_reference_accounting();
  test_provenance();
  test_instances_and_finalizers();
  test_collector();
  test_api_policy();
  fuzz_random(12345, 3000);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
#endif
