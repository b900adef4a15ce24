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
  std::unordered_map<const PyObject*, Py_ssize_t> held;
  bool ok = walk_heap(rt, [&](const RefSlot& slot, PyObject* child) {
    if (rt.is_live_object(child)) {
      held[child]++;
    } else {
      out->dangling.emplace_back(slot, child);
    }
  });
  if (!ok) return false;
  runtime_references(rt, [&](PyObject* op, const char*) { held[op]++; });
  rt.for_each_live_object([&](PyObject* op) {
    if (rt.is_static_object(op) || _Py_IsImmortal(op)) return;
    auto it = held.find(op);
    out->objects.push_back({op, Py_REFCNT(op), it == held.end() ? 0 : it->second});
  });
  return true;
}

RCL_END_NAMESPACE
