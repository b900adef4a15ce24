// refs.h — who holds each reference. Every strong reference to a heap object is held by a slot
// of another object (each type's labelled walk, WalkMode::All, names it), by the runtime itself
// (gc.garbage), or by the embedder: the JS Refs and handles, references taken through the C API.
// The core accounts for the first two by walking the live heap (guarded mode: the registry of
// live objects); the embedder adds its own and reports what remains as unexplained.
#pragma once

#include <unordered_map>
#include <vector>

#include "runtime.h"

RCL_BEGIN_NAMESPACE

struct RefSlot {
  PyObject* from;  // the container holding the reference
  RefLabel label;  // which of its slots
};

// The runtime's own strong references to heap objects, each with what it is.
template <typename F>
void runtime_references(Runtime& rt, F&& f) {
  if (rt.gc.garbage != nullptr) f(rt.gc.garbage, "gc.garbage");
}

// Every slot of every live object that holds a reference to `target`, and the runtime's own
// references to it. Returns false (nothing written) in unguarded mode, which keeps no registry.
bool heap_holders(Runtime& rt, const PyObject* target, std::vector<RefSlot>* slots,
                  std::vector<const char*>* runtime);

// For the whole live heap: each mortal object's refcount and how many of its references the
// containers and the runtime hold (immortal objects need no account), and the slots that hold
// an address which is no live object (an item freed behind its container's back: an extra
// Py_DECREF). Returns false in unguarded mode.
struct HeapAccount {
  struct Entry {
    PyObject* op;
    Py_ssize_t refcnt;
    Py_ssize_t held;
  };
  std::vector<Entry> objects;
  std::vector<std::pair<RefSlot, PyObject*>> dangling;
};
bool account_heap(Runtime& rt, HeapAccount* out);

RCL_END_NAMESPACE
