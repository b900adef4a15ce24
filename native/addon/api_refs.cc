// api_refs.cc — the runtime handle's reference-accounting functions (core: refs.h): the heap's
// holders of one object, and the account of the whole heap. lib/runtime/refs.ts adds the JS
// side's holders (Refs, class handles) and reports what no holder explains.
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "js_error.h"
#include "refs.h"

RCL_BEGIN_NAMESPACE
namespace addon {
namespace {

double addr_of(const PyObject* op) { return static_cast<double>(reinterpret_cast<uintptr_t>(op)); }

// heapHolders(addr): { slots: [[from, label], ...], runtime: [what, ...] }, or null in an
// unguarded runtime (no registry to walk).
RT_FN(fn_heap_holders) {
  PROLOGUE;
  PyObject* op = obj_arg(info, 0, h);
  std::vector<RefSlot> slots;
  std::vector<const char*> runtime;
  if (!heap_holders(rt, op, &slots, &runtime)) return env.Null();
  Napi::Array js_slots = Napi::Array::New(env, slots.size());
  for (size_t i = 0; i < slots.size(); i++) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, addr_of(slots[i].from));
    pair.Set(1u, label_text(rt, slots[i].label, op));
    js_slots.Set(static_cast<uint32_t>(i), pair);
  }
  Napi::Array js_runtime = Napi::Array::New(env, runtime.size());
  for (size_t i = 0; i < runtime.size(); i++) js_runtime.Set(static_cast<uint32_t>(i), runtime[i]);
  if (rt.has_error()) throw_pending(env, h);
  Napi::Object out = Napi::Object::New(env);
  out.Set("slots", js_slots);
  out.Set("runtime", js_runtime);
  return out;
}

// accountHeap(): { objects: Float64Array [addr, refcnt, held] per mortal live object,
// dangling: [[from, label, addr], ...] }, or null in an unguarded runtime.
RT_FN(fn_account_heap) {
  PROLOGUE;
  HeapAccount acc;
  if (!account_heap(rt, &acc)) return env.Null();
  Napi::Float64Array objects = Napi::Float64Array::New(env, acc.objects.size() * 3);
  for (size_t i = 0; i < acc.objects.size(); i++) {
    objects[3 * i] = addr_of(acc.objects[i].op);
    objects[3 * i + 1] = static_cast<double>(acc.objects[i].refcnt);
    objects[3 * i + 2] = static_cast<double>(acc.objects[i].held);
  }
  Napi::Array dangling = Napi::Array::New(env, acc.dangling.size());
  for (size_t i = 0; i < acc.dangling.size(); i++) {
    auto& [slot, child] = acc.dangling[i];
    Napi::Array d = Napi::Array::New(env, 3);
    d.Set(0u, addr_of(slot.from));
    d.Set(1u, label_text(rt, slot.label, child));
    d.Set(2u, addr_of(child));
    dangling.Set(static_cast<uint32_t>(i), d);
  }
  if (rt.has_error()) throw_pending(env, h);
  Napi::Object out = Napi::Object::New(env);
  out.Set("objects", objects);
  out.Set("dangling", dangling);
  return out;
}

const Entry kRefsFunctions[] = {
    {"heapHolders", fn_heap_holders},
    {"accountHeap", fn_account_heap},
};

}  // namespace

void register_refs(Napi::Env env, Napi::Object target, RtHandle* h) { define_functions(env, target, h, kRefsFunctions); }

}  // namespace addon
RCL_END_NAMESPACE
