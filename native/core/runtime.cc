// runtime.cc — Runtime construction, object allocation, the guarded registry and the fatal-error
// texts (CPython's _PyObject_AssertFailed / Py_FatalError shapes).
#include "runtime.h"

#include <pthread.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "refcount.h"

RCL_BEGIN_NAMESPACE

// =============================================================================================
// Construction
// =============================================================================================

// Unguarded runtimes free like CPython's release pymalloc: without checking.
static AllocatorOptions with_trust(const RuntimeOptions& o) {
  AllocatorOptions a = o.allocator;
  a.trust_frees = !o.guard;
  return a;
}

Runtime::Runtime(const RuntimeOptions& options, Host* host_)
    : guard(options.guard), host(host_), alloc(with_trust(options), *this) {
  gc_init(gc);
  init_static_types(*this);
  init_singletons();
  gc.garbage = PyList_New(*this, 0);
  // The runtime's own bookkeeping objects are not the user's references: CPython counts them
  // in its ref total too, but a fresh runtime should read "[0 refs, N blocks]" for the user.
  ref_total_base = -static_cast<int64_t>(stats.increfs - stats.decrefs);
  if (options.track) prov = std::make_unique<Provenance>();
}

Runtime::~Runtime() {
  // Nothing is deallocated one by one: closing a runtime drops the whole heap at once (the
  // allocator returns every arena and raw block). Host callbacks must not run any more.
}

static PyObject* init_static_header(PyObject* op, PyTypeObject* tp) {
  op->ob_refcnt = _Py_IMMORTAL_REFCNT;
  op->ob_type = tp;
  return op;
}

void Runtime::init_singletons() {
  init_static_header(&none_obj, Type(TypeKind::None));
  init_static_header(&ellipsis_obj, Type(TypeKind::Ellipsis));
  init_static_header(&notimpl_obj, Type(TypeKind::NotImplemented));
  for (int i = 0; i < 2; i++) {
    PyLongObject* b = i ? &true_obj.v : &false_obj.v;
    init_static_header(&b->ob_base, Type(TypeKind::Bool));
    b->lv_tag = (uintptr_t{1} << 3) | (i ? 0u : 1u);
    b->ob_digit[0] = static_cast<digit>(i);
  }
  for (size_t k = 0; k < small_ints.size(); k++) {
    int64_t v = static_cast<int64_t>(k) - _PY_NSMALLNEGINTS;
    PyLongObject* o = &small_ints[k].v;
    init_static_header(&o->ob_base, Type(TypeKind::Int));
    uint64_t mag = static_cast<uint64_t>(v < 0 ? -v : v);
    o->lv_tag = (uintptr_t{1} << 3) | (v == 0 ? 1u : v < 0 ? 2u : 0u);
    o->ob_digit[0] = static_cast<digit>(mag);
  }
  for (uint32_t cp = 0; cp < 256; cp++) {
    StaticLatin1Char& c = latin1[cp];
    std::memset(&c, 0, sizeof c);
    PyASCIIObject* a = &c.u._base;
    init_static_header(&a->ob_base, Type(TypeKind::Str));
    a->length = 1;
    a->hash = -1;
    a->state.kind = 1;
    a->state.compact = 1;
    a->state.ascii = cp < 128;
    a->state.statically_allocated = 1;
    a->state.interned = 3;  // SSTATE_INTERNED_IMMORTAL_STATIC
    char* data = cp < 128 ? reinterpret_cast<char*>(a + 1) : reinterpret_cast<char*>(&c.u + 1);
    data[0] = static_cast<char>(cp);
    data[1] = 0;
  }
  std::memset(&empty_str, 0, sizeof empty_str);
  init_static_header(&empty_str.a.ob_base, Type(TypeKind::Str));
  empty_str.a.hash = -1;
  empty_str.a.state.kind = 1;
  empty_str.a.state.compact = 1;
  empty_str.a.state.ascii = 1;
  empty_str.a.state.statically_allocated = 1;
  empty_str.a.state.interned = 3;
  std::memset(&empty_tuple, 0, sizeof empty_tuple);
  init_static_header(&empty_tuple.t.ob_base.ob_base, Type(TypeKind::Tuple));
  empty_keys = dict_empty_keys(*this);

  if (guard) {
    auto reg = [this](const PyObject* op) { live_objects_.insert(op); };
    reg(None());
    reg(Ellipsis());
    reg(NotImplemented());
    reg(True());
    reg(False());
    reg(EmptyTuple());
    reg(EmptyStr());
    for (auto& s : small_ints) reg(&s.v.ob_base);
    for (uint32_t cp = 0; cp < 256; cp++) reg(latin1_char(cp));
  }
}

// =============================================================================================
// Errors
// =============================================================================================

void Runtime::set_error(ErrorCode code, std::string message, std::string py_type) {
  if (has_error()) return;  // the first error wins, like a pending Python exception
  error.code = code;
  error.message = std::move(message);
  error.py_type = std::move(py_type);
}

void Runtime::memory_corruption(const std::string& fatal_text, const std::string& report) {
  if (!guard) {
    std::fputs(report.c_str(), stderr);
    std::fflush(stderr);
    std::abort();
  }
  if (has_error()) return;
  error.code = ErrorCode::MemoryCorruption;
  error.message = fatal_text;
  error.py_type = "MemoryCorruptionError";
  error.report = report;
}

static bool ptr_looks_freed(uintptr_t p) {
  // _PyMem_IsPtrFreed: NULL or a pointer made of the debug hooks' byte patterns.
  return p == 0 || p == 0xCDCDCDCDCDCDCDCDull || p == 0xDDDDDDDDDDDDDDDDull ||
         p == 0xFDFDFDFDFDFDFDFDull;
}

static std::string fmt_ptr(const void* p) {
  if (p == nullptr) return "(nil)";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

// _PyObject_AssertFailed's text (without the final fatal-error lines).
static std::string assert_failed_text(Runtime& rt, PyObject* op, const char* expr,
                                      const char* msg, const char* file, int line,
                                      const char* function) {
  std::string s = std::string(file) + ":" + std::to_string(line) + ": " + function + ": ";
  s += expr ? std::string("Assertion \"") + expr + "\" failed" : std::string("Assertion failed");
  if (msg) s += std::string(": ") + msg;
  s += "\n";
  if (ptr_looks_freed(reinterpret_cast<uintptr_t>(op)) ||
      ptr_looks_freed(reinterpret_cast<uintptr_t>(op->ob_type))) {
    s += "<object at " + fmt_ptr(op) + " is freed>\n";
    return s;
  }
  s += "Enable tracemalloc to get the memory block allocation traceback\n\n";
  s += "object address  : " + fmt_ptr(op) + "\n";
  s += "object refcount : " + std::to_string(op->ob_refcnt) + "\n";
  PyTypeObject* type = Py_TYPE(op);
  s += "object type     : " + fmt_ptr(type) + "\n";
  s += std::string("object type name: ") + (type ? type->tp_name : "NULL") + "\n";
  s += "object repr     : ";
  if (op->ob_refcnt <= 0)
    s += "<refcnt " + std::to_string(op->ob_refcnt) + " at " + fmt_ptr(op) + ">";
  else
    s += PyObject_Repr(rt, op);
  s += "\n\n";
  return s;
}

static std::string fatal_tail(const std::string& func_and_msg) {
  char thread[64];
  std::snprintf(thread, sizeof thread, "0x%016" PRIxPTR,
                static_cast<uintptr_t>(pthread_self()));
  return "Fatal Python error: " + func_and_msg +
         "\nPython runtime state: initialized\n\nCurrent thread " + thread +
         " (most recent call first):\n  <no Python frame>\n";
}

void Runtime::fatal(const std::string& text) {
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
  std::abort();
}

void Runtime::attach_provenance(uintptr_t addr, std::string_view headline) {
  error.address = addr;
  if (prov != nullptr) error.provenance = prov->report(addr, headline);
}

void Runtime::negative_refcount(const char* file, int line, PyObject* op) {
  const char* msg = "object has negative ref count";
  if (!guard) {
    // a tracking runtime says whose decref it was before it dies, as ASan does
    std::string history =
        prov != nullptr ? "\n" + prov->report(reinterpret_cast<uintptr_t>(op), "negative-refcount") : "";
    fatal(assert_failed_text(*this, op, nullptr, msg, file, line, "_Py_NegativeRefcount") +
          fatal_tail("_PyObject_AssertFailed: _PyObject_AssertFailed") + history);
  }
  if (has_error()) return;
  error.code = ErrorCode::NegativeRefcount;
  error.message = std::string(file) + ":" + std::to_string(line) +
                  ": _Py_NegativeRefcount: Assertion failed: " + msg;
  error.py_type = "NegativeRefcountError";
  error.file = file;
  error.line = line;
  error.address = reinterpret_cast<uintptr_t>(op);
  error.refcount = op->ob_refcnt;
  error.type_name = op->ob_type ? op->ob_type->tp_name : "NULL";
  error.report = assert_failed_text(*this, op, nullptr, msg, file, line, "_Py_NegativeRefcount");
  attach_provenance(error.address, "negative-refcount");
}

void Runtime::refcount_too_small(const char* file, int line, PyObject* op) {
  const char* expr = "gc_get_refs(g) > 0";
  const char* msg = "refcount is too small";
  if (!guard) {
    fatal(assert_failed_text(*this, op, expr, msg, file, line, "gc_decref") +
          fatal_tail("_PyObject_AssertFailed: _PyObject_AssertFailed"));
  }
  if (has_error()) return;
  error.code = ErrorCode::RefcountTooSmall;
  error.message = std::string(file) + ":" + std::to_string(line) + ": gc_decref: Assertion \"" +
                  expr + "\" failed: " + msg;
  error.py_type = "RefcountTooSmallError";
  error.file = file;
  error.line = line;
  error.address = reinterpret_cast<uintptr_t>(op);
  error.refcount = op->ob_refcnt;
  error.type_name = op->ob_type->tp_name;
  error.report = assert_failed_text(*this, op, expr, msg, file, line, "gc_decref");
}

// =============================================================================================
// Objects
// =============================================================================================

static void count_allocation(Runtime& rt, size_t size) {
#ifdef Py_STATS
  rt.stats.allocations++;
  if (size < 512)
    rt.stats.allocations512++;
  else if (size < 4096)
    rt.stats.allocations4k++;
  else
    rt.stats.allocations_big++;
#else
  (void)rt;
  (void)size;
#endif
}

void Runtime::new_reference(PyObject* op) {
  op->ob_refcnt = 1;
#ifdef Py_REF_DEBUG
  ref_total_base++;
#endif
  if (guard) {
    live_objects_.insert(op);
    freed_objects_.erase(op);
  }
  if (RCL_UNLIKELY(prov != nullptr)) prov->on_alloc(op);
}

void Runtime::mark_freed(const PyObject* op) {
  if (dying_.size() != 0) dying_.erase(op);
  live_objects_.erase(op);
  freed_objects_.insert(op);
  objects_freed_++;
}

void Runtime::to_freelist(PyObject* op) {
#ifdef Py_STATS
  stats.to_freelist++;
#endif
  if (RCL_UNLIKELY(prov != nullptr)) prov->on_free(op);
  if (guard) mark_freed(op);
}

void Runtime::from_freelist(PyObject* op) {
#ifdef Py_STATS
  stats.from_freelist++;
#endif
  new_reference(op);
}

PyObject* Runtime::gc_object_new_from(ObjectFreeList& fl, PyTypeObject* tp, size_t size) {
  PyObject* op = fl.pop();
  if (op == nullptr) return gc_object_new(tp, size);
  from_freelist(op);
  return op;
}

void Runtime::gc_object_free_to(ObjectFreeList& fl, PyObject* op) {
  if (fl.push(op))
    to_freelist(op);
  else
    gc_object_free(op);
}

void Runtime::clear_freelists() {
  tuple_clear_freelist(*this);
  float_clear_freelist(*this);
  list_clear_freelist(*this);
  dict_clear_freelist(*this);
}

std::string Runtime::debugmallocstats() const {
  std::string out = alloc.debugmallocstats();
  const FreeLists& fl = freelists;
  debug_allocator_stats(out, "free PyDictObject", fl.dicts.num, sizeof(PyDictObject));
  debug_allocator_stats(out, "free PyFloatObject", fl.float_num, sizeof(PyFloatObject));
  debug_allocator_stats(out, "free PyListObject", fl.lists.num, sizeof(PyListObject));
  for (int i = 0; i < FreeLists::kTupleLists; i++) {
    char name[64];
    std::snprintf(name, sizeof name, "free %d-sized PyTupleObject", i + 1);
    debug_allocator_stats(out, name, fl.tuple_num[static_cast<size_t>(i)],
                          sizeof(PyVarObject) + static_cast<size_t>(i + 1) * sizeof(PyObject*));
  }
  return out;
}

PyObject* Runtime::object_new(PyTypeObject* tp, size_t size) {
  void* mem = alloc.malloc(MemDomain::Obj, size);
  if (mem == nullptr) {
    set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
    return nullptr;
  }
  count_allocation(*this, size);
  PyObject* op = static_cast<PyObject*>(mem);
  op->ob_type = tp;
  new_reference(op);
  return op;
}

PyObject* Runtime::gc_object_new(PyTypeObject* tp, size_t size) {
  size_t presize = _PyType_PreHeaderSize(tp);
  char* mem = static_cast<char*>(alloc.malloc(MemDomain::Obj, presize + size));
  if (mem == nullptr) {
    set_error(ErrorCode::NoMemory, "out of memory", "MemoryError");
    return nullptr;
  }
  count_allocation(*this, presize + size);
  std::memset(mem, 0, presize);  // untracked PyGC_Head, no dict / weakrefs yet
  PyObject* op = reinterpret_cast<PyObject*>(mem + presize);
  op->ob_type = tp;
  new_reference(op);
  _PyObject_GC_Link(*this);
  return op;
}

// Py_STATS "Object frees".
static void count_free(Runtime& rt) {
#ifdef Py_STATS
  rt.stats.frees++;
#endif
  (void)rt;
}

void Runtime::object_free(PyObject* op) {
  count_free(*this);
  if (RCL_UNLIKELY(prov != nullptr)) prov->on_free(op);
  if (guard) mark_freed(op);
  alloc.free(MemDomain::Obj, op);
}

void Runtime::gc_object_free(PyObject* op) {
  count_free(*this);
  if (_PyObject_GC_IS_TRACKED(op)) _PyObject_GC_UNTRACK(op);
  _PyObject_GC_Unlink_count(*this);
  if (RCL_UNLIKELY(prov != nullptr)) prov->on_free(op);
  if (guard) mark_freed(op);
  alloc.free(MemDomain::Obj, reinterpret_cast<char*>(op) - _PyObject_PreHeaderSize(op));
}

bool Runtime::census(std::unordered_map<std::string, TypeCensus>* out) const {
  if (!guard) return false;
  live_objects_.for_each([&](const void* p) {
    if (is_static_object(p)) return;
    const PyObject* op = static_cast<const PyObject*>(p);
    TypeCensus& c = (*out)[Py_TYPE(op)->tp_name];
    c.objects++;
    if (_Py_IsImmortal(op))
      c.immortal++;
    else
      c.refs += Py_REFCNT(op);
  });
  return true;
}

bool Runtime::was_freed_object(const void* p) const { return freed_objects_.contains(p); }

bool Runtime::is_static_object(const void* p) const {
  auto in = [p](const void* base, size_t n) {
    return p >= base && p < static_cast<const char*>(base) + n;
  };
  return in(this, sizeof *this);
}

bool Runtime::readable(uintptr_t addr, size_t n) const {
  const void* p = reinterpret_cast<const void*>(addr);
  if (is_static_object(p) && is_static_object(reinterpret_cast<const char*>(p) + n - 1))
    return true;
  return alloc.contains(p, n);
}

bool Runtime::writable(uintptr_t addr, size_t n) const {
  if (n == 0 || addr + n < addr) return false;
  // An object's ob_refcnt: the word at a live object's address (statics included), which
  // ctypes.c_long.from_address(id(x)).value = n writes. Nothing else of an object: ob_type,
  // ob_size, an item pointer or a dict's table written by hand crash a later call. (A parked or
  // freed object is not live: a write there could also cut a free list's link.)
  uintptr_t op = addr & ~uintptr_t{7};
  if (addr + n <= op + 8 && is_live_object(reinterpret_cast<const void*>(op))) return true;
  // Otherwise inside one block that the C API's memory functions handed out, anywhere in it:
  // the debug hooks' pads too, whose corruption they report at free.
  uintptr_t block = 0;
  if (!alloc.writable(reinterpret_cast<const void*>(addr), n, &block)) return false;
  return user_blocks_.contains(reinterpret_cast<const void*>(block));
}

uintptr_t Runtime::block_of(const void* p) const {
  uintptr_t block = 0;
  return p != nullptr && alloc.writable(p, 1, &block) ? block : 0;
}

void Runtime::user_block_allocated(const void* p) {
  if (uintptr_t b = guard ? block_of(p) : 0) user_blocks_.insert(reinterpret_cast<const void*>(b));
}

void Runtime::user_block_freed(const void* p) {
  if (uintptr_t b = guard ? block_of(p) : 0) user_blocks_.erase(reinterpret_cast<const void*>(b));
}

bool Runtime::is_user_block(const void* p) const {
  uintptr_t b = block_of(p);
  return b != 0 && user_blocks_.contains(reinterpret_cast<const void*>(b));
}

void* Runtime::capi_malloc(MemDomain d, size_t n) {
  void* p = alloc.malloc(d, n);
  user_block_allocated(p);
  return p;
}

void* Runtime::capi_calloc(MemDomain d, size_t nelem, size_t elsize) {
  void* p = alloc.calloc(d, nelem, elsize);
  user_block_allocated(p);
  return p;
}

void* Runtime::capi_realloc(MemDomain d, void* p, size_t n) {
  user_block_freed(p);
  void* q = alloc.realloc(d, p, n);
  user_block_allocated(q != nullptr ? q : p);  // failed: the old block stays the caller's
  return q;
}

void Runtime::capi_free(MemDomain d, void* p) {
  user_block_freed(p);
  alloc.free(d, p);
}

PyObject* Runtime::checked_object(uintptr_t addr) {
  const void* p = reinterpret_cast<const void*>(addr);
  if (!guard) return reinterpret_cast<PyObject*>(addr);
  if (RCL_LIKELY(is_live_object(p) && (dying_.size() == 0 || !dying_.contains(p))))
    return reinterpret_cast<PyObject*>(addr);
  char buf[64];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, addr);
  if (has_error()) return nullptr;  // the first error wins
  if (is_live_object(p)) {
    set_error(ErrorCode::UseAfterFree,
              std::string("the object at ") + buf + " is being deallocated (use after free)");
    attach_provenance(addr, "use-of-dying-object");
  } else if (was_freed_object(p)) {
    set_error(ErrorCode::UseAfterFree,
              std::string("the object at ") + buf + " has been deallocated (use after free)");
    attach_provenance(addr, "heap-use-after-free");
  } else
    set_error(ErrorCode::InvalidAddress,
              std::string(buf) + " is not the address of a live object of this runtime");
  return nullptr;
}

std::string Runtime::showrefcount_text() const {
  return "[" + std::to_string(total_refcount()) + " refs, " + std::to_string(alloc.allocated_blocks()) +
         " blocks]";
}

// =============================================================================================
// Dealloc and the exported refcount functions
// =============================================================================================

void _Py_Dealloc(Runtime& rt, PyObject* op) {
  rt.dealloc_begin(op);
  Py_TYPE(op)->tp_dealloc(rt, op);
}

// =============================================================================================
// Trashcan
// =============================================================================================

static constexpr int _PyTrash_UNWIND_LEVEL = 50;

// _PyTrash_thread_deposit_object: the object is dead (refcount 0) and untracked, so its
// _gc_prev pointer bits are free to link the chain (the FINALIZED bit is kept).
bool Runtime::trash_begin(PyObject* op) {
  if (trash_delete_nesting >= _PyTrash_UNWIND_LEVEL) {
    PyGC_Head* g = _Py_AS_GC(op);
    // As CPython, the chain holds the objects themselves (aligned: the flag bits stay free).
    g->_gc_prev = (g->_gc_prev & ~_PyGC_PREV_MASK) | reinterpret_cast<uintptr_t>(trash_delete_later);
    trash_delete_later = op;
    return true;
  }
  ++trash_delete_nesting;
  return false;
}

// _PyTrash_end + _PyTrash_thread_destroy_chain: back at the outermost deallocator, call the
// deferred deallocators directly (Py_DECREF already ran on them), one level deep each.
void Runtime::trash_end() {
  --trash_delete_nesting;
  if (trash_delete_later == nullptr || trash_delete_nesting > 0) return;
  ++trash_delete_nesting;
  while (trash_delete_later != nullptr) {
    PyObject* op = trash_delete_later;
    trash_delete_later = reinterpret_cast<PyObject*>(_Py_AS_GC(op)->_gc_prev & _PyGC_PREV_MASK);
    Py_TYPE(op)->tp_dealloc(*this, op);
  }
  --trash_delete_nesting;
}

void Py_IncRef(Runtime& rt, PyObject* op) { Py_XINCREF(rt, op); }
void Py_DecRef(Runtime& rt, PyObject* op) { Py_XDECREF(rt, op); }

RCL_END_NAMESPACE
