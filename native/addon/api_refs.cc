// api_refs.cc — the runtime handle's reference-accounting functions (core: refs.h): the heap's
// holders of one object, and the account of the whole heap. lib/runtime/refs.ts adds the JS
// side's holders (Refs, class handles) and reports what no holder explains. And, in a tracking
// runtime (core: provenance.h), the history: lib/ brackets each operation of the API with
// trackEnter / trackLeave, and reads an object's history back.
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "js_error.h"
#include "provenance.h"
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

Provenance& tracker(Napi::Env env, RtHandle* h) {
  if (h->rt->prov == nullptr)
    throw_js(env, h->addon, ErrorCode::Value, "this runtime does not track (Runtime.create({ track: true }))");
  return *h->rt->prov;
}

// An address argument of trackEnter as the object it names: any integer (0 and non-numbers are
// nothing). Not validated: the core's tracker checks liveness in a guarded runtime, and the
// operation itself reports a bad address.
void push_address(double d, std::vector<const PyObject*>* out) {
  uintptr_t a;
  if (integral_in_range(d, 1, &a)) out->push_back(reinterpret_cast<const PyObject*>(a));
}

// trackEnter(op, site, effect, ...objects): objects are addresses, or a Float64Array /
// BigUint64Array of them (increfMany / decrefMany); effect is what the operation does to their
// capi holders: 'take', 'give', 'write' or ''.
RT_FN(fn_track_enter) {
  PROLOGUE;
  Provenance& p = tracker(env, h);
  std::string op = string_arg(info, 0, "op");
  std::string site = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
  std::string e = string_arg(info, 2, "effect");
  CapiEffect effect = e == "take" ? CapiEffect::Take : e == "give" ? CapiEffect::Give
                      : e == "write" ? CapiEffect::Write : CapiEffect::None;
  std::vector<const PyObject*> objects;
  for (size_t i = 3; i < info.Length(); i++) {
    Napi::Value v = info[i];
    if (v.IsNumber()) {
      push_address(v.As<Napi::Number>().DoubleValue(), &objects);
    } else if (v.IsTypedArray()) {
      auto ta = v.As<Napi::TypedArray>();
      if (ta.TypedArrayType() == napi_float64_array) {
        auto f = v.As<Napi::Float64Array>();
        for (size_t k = 0; k < f.ElementLength(); k++) push_address(f[k], &objects);
      } else if (ta.TypedArrayType() == napi_biguint64_array) {
        auto b = v.As<Napi::TypedArrayOf<uint64_t>>();
        for (size_t k = 0; k < b.ElementLength(); k++)
          if (b[k] != 0) objects.push_back(reinterpret_cast<const PyObject*>(static_cast<uintptr_t>(b[k])));
      }
    }
  }
  p.enter(rt, op, site, effect, objects.data(), objects.size());
  return env.Undefined();
}

// trackLeave(ok, result?): ends the innermost operation; result is an address it returned.
RT_FN(fn_track_leave) {
  PROLOGUE;
  Provenance& p = tracker(env, h);
  bool ok = info.Length() > 0 && info[0].ToBoolean();
  std::vector<const PyObject*> result;
  if (info.Length() > 1 && info[1].IsNumber()) push_address(info[1].As<Napi::Number>().DoubleValue(), &result);
  p.leave(rt, ok, result.empty() ? nullptr : result[0]);
  return env.Undefined();
}

Napi::Value event_to_js(Napi::Env env, const Provenance& p, const ProvEvent& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("seq", static_cast<double>(e.seq));
  o.Set("kind", provenance_kind_name(e.kind));
  o.Set("op", p.text(e.op));
  if (e.site != 0) o.Set("site", p.text(e.site));
  if (e.before >= 0) o.Set("before", static_cast<double>(e.before));
  o.Set("refcnt", e.after >= 0 ? Napi::Value(Napi::Number::New(env, static_cast<double>(e.after))) : env.Null());
  if (e.unowned) o.Set("unowned", true);
  if (e.failed) o.Set("failed", true);
  return o;
}

}  // namespace

// The record of the latest object at `address`: { address, typeName, freed, capiHeld: [site],
// events, allocated?, freedBy?, unownedDecref? } (the last three are events of `events`).
Napi::Value object_history(Napi::Env env, const Provenance& p, uintptr_t address) {
  const ProvObject* o = p.find(address);
  if (o == nullptr) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("address", static_cast<double>(address));
  out.Set("typeName", p.text(o->type));
  out.Set("freed", o->freed);
  Napi::Array held = Napi::Array::New(env, o->capi_held.size());
  for (size_t i = 0; i < o->capi_held.size(); i++) held.Set(static_cast<uint32_t>(i), p.text(o->capi_held[i]));
  out.Set("capiHeld", held);
  Napi::Array events = Napi::Array::New(env, o->events.size());
  for (size_t i = 0; i < o->events.size(); i++) {
    const ProvEvent& e = p.events()[o->events[i]];
    Napi::Value js = event_to_js(env, p, e);
    events.Set(static_cast<uint32_t>(i), js);
    if (e.kind == ProvKind::Alloc) out.Set("allocated", js);
    if (e.kind == ProvKind::Free) out.Set("freedBy", js);
    if (static_cast<int64_t>(o->events[i]) == o->first_unowned) out.Set("unownedDecref", js);
  }
  out.Set("events", events);
  return out;
}

namespace {

// history(addr): object_history, or null when the runtime never had an object there.
RT_FN(fn_history) {
  PROLOGUE;
  return object_history(env, tracker(env, h), addr_arg(info, 0, h));
}

// capiHeld(addr): the call sites of the C API references to the live object at addr not yet
// given back ([] for an object the tracking has not seen).
RT_FN(fn_capi_held) {
  PROLOGUE;
  Provenance& p = tracker(env, h);
  const ProvObject* o = p.find(addr_arg(info, 0, h));
  size_t n = o == nullptr || o->freed ? 0 : o->capi_held.size();
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) out.Set(static_cast<uint32_t>(i), p.text(o->capi_held[i]));
  return out;
}

const Entry kRefsFunctions[] = {
    {"heapHolders", fn_heap_holders},
    {"accountHeap", fn_account_heap},
    {"trackEnter", fn_track_enter},
    {"trackLeave", fn_track_leave},
    {"history", fn_history},
    {"capiHeld", fn_capi_held},
};

}  // namespace

void register_refs(Napi::Env env, Napi::Object target, RtHandle* h) { define_functions(env, target, h, kRefsFunctions); }

}  // namespace addon
RCL_END_NAMESPACE
