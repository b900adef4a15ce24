// refs.cc — the heap's side of reference accounting (refs.h).
#include "refs.h"

#include "refcount.h"

RCL_BEGIN_NAMESPACE

namespace {

// Calls f(slot, child) for every reference every live object holds.
template <typename F>
bool walk_heap(Runtime& rt, F&& f) {
  struct Ctx {
    F& f;
    PyObject* from;
  };
  auto visit = [](PyObject* child, const RefLabel& label, void* arg) {
    auto* c = static_cast<Ctx*>(arg);
    c->f(RefSlot{c->from, label}, child);
    return 0;
  };
  return rt.for_each_live_object([&](PyObject* op) {
    if (walkproc walk = Py_TYPE(op)->tp_walk) {
      Ctx c{f, op};
      walk(op, WalkMode::All, visit, &c);
    }
  });
}

}  // namespace

bool heap_holders(Runtime& rt, const PyObject* target, std::vector<RefSlot>* slots,
                  std::vector<const char*>* runtime) {
  bool ok = walk_heap(rt, [&](const RefSlot& slot, PyObject* child) {
    if (child == target) slots->push_back(slot);
  });
  if (!ok) return false;
  runtime_references(rt, [&](PyObject* op, const char* what) {
    if (op == target) runtime->push_back(what);
  });
  return true;
}

bool account_heap(Runtime& rt, HeapAccount* out) {
  if (!rt.guard) return false;
  // One count per slot of the registry of live objects: the walk allocates nothing, so the
  // slots stay put, and a count costs one probe of the registry instead of a map's node.
  std::vector<uint32_t> held(rt.live_object_slots(), 0);
  out->objects.reserve(rt.live_object_count());
  walk_heap(rt, [&](const RefSlot& slot, PyObject* child) {
    size_t s = rt.live_object_slot(child);
    if (s != SIZE_MAX)
      held[s]++;
    else
      out->dangling.emplace_back(slot, child);
  });
  runtime_references(rt, [&](PyObject* op, const char*) {
    size_t s = rt.live_object_slot(op);
    if (s != SIZE_MAX) held[s]++;
  });
  rt.for_each_live_object([&](PyObject* op, size_t slot) {
    if (rt.is_static_object(op) || _Py_IsImmortal(op)) return;
    out->objects.push_back({op, Py_REFCNT(op), static_cast<Py_ssize_t>(held[slot])});
  });
  return true;
}

RCL_END_NAMESPACE
