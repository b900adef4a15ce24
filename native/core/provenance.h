// provenance.h — the history of every object's references in a tracking runtime.
//
// A Runtime created with RuntimeOptions::track owns one Provenance. It records, per object
// generation (an address reused by a new object starts a new generation, and the records of
// the old one stay):
//   - the allocation and the free (hooked in Runtime::new_reference and where an object dies:
//     freed, or parked on a free list), under the operation running then;
//   - each operation of the API that touched the object (the embedder says which objects an
//     operation touches, with enter() / leave()), with the refcount before and after it;
//   - the references taken through the C API and not yet given back (capi holders), each with
//     its call site; a C API decref with none outstanding has no owner — the extra Py_DECREF
//     the talk hunts — and so has a raw write that lowers the count.
// Operations nest: a finalizer or a weakref callback run from inside an operation records its
// own operations under its own call site. Nothing here runs unless tracking is on: the only
// cost to other runtimes is the null test at the two hooks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config.h"
#include "object.h"

RCL_BEGIN_NAMESPACE

class Runtime;

// What an event did to its object. The names are the JS `kind` strings (provenance_kind_name).
enum class ProvKind : uint8_t {
  Alloc,   // the object was allocated (refcount 1)
  Op,      // an operation of the API touched it
  Incref,  // a reference taken through the C API (a capi holder)
  Decref,  // a reference given back through the C API
  Write,   // ob_refcnt written directly (Py_SET_REFCNT, a raw write)
  Free,    // the object died: freed, or parked on a free list
};
const char* provenance_kind_name(ProvKind k);

// How an operation affects the capi holders of the objects it names (enter()'s `effect`).
enum class CapiEffect : int8_t { Give = -1, None = 0, Take = 1, Write = 2 };

struct ProvEvent {
  uint64_t seq = 0;        // order of all events of the runtime
  uint64_t serial = 0;     // the object's generation
  uintptr_t address = 0;
  uint32_t op = 0;         // interned operation name
  uint32_t site = 0;       // interned call site (0: unknown)
  ProvKind kind = ProvKind::Op;
  bool unowned = false;    // a decref (or a lowering write) that no holder gave up
  bool failed = false;     // the operation threw (the refcount did not change through it)
  int64_t before = -1;     // refcount before (-1: not known, e.g. an allocation)
  int64_t after = -1;      // refcount after (0 once freed)
};

// One object generation's record.
struct ProvObject {
  uintptr_t address = 0;
  uint32_t type = 0;                  // interned type name
  bool freed = false;
  int64_t first_unowned = -1;         // index into events of the first unowned decref
  std::vector<uint32_t> events;       // indices into Provenance::events()
  std::vector<uint32_t> capi_held;    // call sites of the capi references outstanding
};

class Provenance {
 public:
  Provenance();
  Provenance(const Provenance&) = delete;
  Provenance& operator=(const Provenance&) = delete;

  uint32_t intern(std::string_view s);
  const std::string& text(uint32_t id) const { return strings_[id]; }

  // An operation of the API begins (its name, the caller's site, what it does to the capi
  // holders of `objects`, which it touches); leave() ends the innermost one and records each
  // touched object's refcount after it (`ok`: it did not throw) and, when given, `result`'s
  // (an object the operation returned).
  void enter(Runtime& rt, std::string_view op, std::string_view site, CapiEffect effect,
             const PyObject* const* objects, size_t n);
  void leave(Runtime& rt, bool ok, const PyObject* result);
  // An internal stretch (a collection) recorded under its own name, at the current site.
  void push_internal(std::string_view op);
  void pop_internal();

  // The hooks of the Runtime.
  void on_alloc(const PyObject* op);
  void on_free(const PyObject* op);

  // The latest generation at an address (also after its free), or nullptr.
  const ProvObject* find(uintptr_t address) const;
  const std::vector<ProvEvent>& events() const { return events_; }
  // The current operation (innermost), for an error raised inside it: op and site ids.
  uint32_t current_op() const { return frames_.empty() ? unknown_op_ : frames_.back().op; }
  uint32_t current_site() const { return frames_.empty() ? 0 : frames_.back().site; }

  // AddressSanitizer-shaped report for an error about the object at `address`: `headline`
  // (e.g. "heap-use-after-free"), the failing call, where the object was freed and by which
  // operation, where it was allocated, and the decref (or write) that had no owner.
  std::string report(uintptr_t address, std::string_view headline) const;

 private:
  struct Frame {
    uint32_t op = 0;
    uint32_t site = 0;
    CapiEffect effect = CapiEffect::None;
    bool internal = false;
    std::vector<uint32_t> touched;  // event indices
  };
  ProvObject& object_for(const PyObject* op);
  bool live(const Runtime& rt, const PyObject* p) const;
  uint32_t record(ProvObject& o, uint64_t serial, ProvKind kind, int64_t before, int64_t after,
                  uint32_t op, uint32_t site);
  std::string frame_line(uint32_t op, uint32_t site) const;

  std::vector<std::string> strings_;  // id 0 is ""
  std::unordered_map<std::string, uint32_t> string_ids_;
  std::vector<ProvEvent> events_;
  std::unordered_map<uint64_t, ProvObject> objects_;   // by serial
  std::unordered_map<uintptr_t, uint64_t> latest_;     // address -> latest serial
  std::vector<Frame> frames_;
  uint64_t next_serial_ = 1;
  uint32_t unknown_op_ = 0;  // "(outside any call)"
};

// Runs an internal stretch under its own name in a tracking runtime (no-op otherwise).
class ProvInternal {
 public:
  ProvInternal(Provenance* p, std::string_view op) : p_(p) {
    if (p_ != nullptr) p_->push_internal(op);
  }
  ~ProvInternal() {
    if (p_ != nullptr) p_->pop_internal();
  }
  ProvInternal(const ProvInternal&) = delete;
  ProvInternal& operator=(const ProvInternal&) = delete;

 private:
  Provenance* p_;
};

RCL_END_NAMESPACE
