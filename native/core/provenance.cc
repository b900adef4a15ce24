// provenance.cc — see provenance.h.
#include "provenance.h"

#include <cinttypes>
#include <cstdio>

#include "runtime.h"

RCL_BEGIN_NAMESPACE

const char* provenance_kind_name(ProvKind k) {
  switch (k) {
    case ProvKind::Alloc: return "alloc";
    case ProvKind::Op: return "op";
    case ProvKind::Incref: return "incref";
    case ProvKind::Decref: return "decref";
    case ProvKind::Write: return "write";
    case ProvKind::Free: return "free";
  }
  return "op";
}

Provenance::Provenance() {
  intern("");
  unknown_op_ = intern("(outside any call)");
}

uint32_t Provenance::intern(std::string_view s) {
  auto it = string_ids_.find(std::string(s));
  if (it != string_ids_.end()) return it->second;
  auto id = static_cast<uint32_t>(strings_.size());
  strings_.emplace_back(s);
  string_ids_.emplace(strings_.back(), id);
  return id;
}

uint32_t Provenance::record(ProvObject& o, uint64_t serial, ProvKind kind, int64_t before,
                            int64_t after, uint32_t op, uint32_t site) {
  ProvEvent e;
  e.seq = events_.size() + 1;
  e.serial = serial;
  e.address = o.address;
  e.op = op;
  e.site = site;
  e.kind = kind;
  e.before = before;
  e.after = after;
  auto idx = static_cast<uint32_t>(events_.size());
  events_.push_back(e);
  o.events.push_back(idx);
  return idx;
}

// The live generation at op's address; an object older than the tracking (a static object, a
// singleton) gets a record on first sight.
ProvObject& Provenance::object_for(const PyObject* op) {
  auto a = reinterpret_cast<uintptr_t>(op);
  auto it = latest_.find(a);
  if (it != latest_.end()) {
    ProvObject& o = objects_[it->second];
    if (!o.freed) return o;
  }
  uint64_t serial = next_serial_++;
  latest_[a] = serial;
  ProvObject& o = objects_[serial];
  o.address = a;
  o.type = intern(op->ob_type != nullptr ? op->ob_type->tp_name : "NULL");
  return o;
}

void Provenance::on_alloc(const PyObject* op) {
  auto a = reinterpret_cast<uintptr_t>(op);
  uint64_t serial = next_serial_++;
  latest_[a] = serial;
  ProvObject& o = objects_[serial];
  o.address = a;
  o.type = intern(op->ob_type->tp_name);
  record(o, serial, ProvKind::Alloc, -1, 1, current_op(), current_site());
}

void Provenance::on_free(const PyObject* op) {
  // An object parked on a free list died when it was parked; its memory freed later (a full
  // collection empties the free lists) is no new event — and its header is the list's link.
  auto it = latest_.find(reinterpret_cast<uintptr_t>(op));
  if (it != latest_.end() && objects_[it->second].freed) return;
  ProvObject& o = object_for(op);
  o.freed = true;
  record(o, latest_[o.address], ProvKind::Free, op->ob_refcnt, 0, current_op(), current_site());
}

// Unguarded, there is no registry: an address is an object if the tracking saw it born and not
// die, or if it is one of the runtime's static objects. Nothing else is read.
bool Provenance::live(const Runtime& rt, const PyObject* p) const {
  if (rt.guard) return rt.is_live_object(p);
  auto it = latest_.find(reinterpret_cast<uintptr_t>(p));
  return it != latest_.end() ? !objects_.at(it->second).freed : rt.is_static_object(p);
}

void Provenance::enter(Runtime& rt, std::string_view op, std::string_view site, CapiEffect effect,
                       const PyObject* const* objects, size_t n) {
  Frame f;
  f.op = intern(op);
  f.site = intern(site);
  f.effect = effect;
  frames_.push_back(std::move(f));
  ProvKind kind = effect == CapiEffect::Take   ? ProvKind::Incref
                  : effect == CapiEffect::Give  ? ProvKind::Decref
                  : effect == CapiEffect::Write ? ProvKind::Write
                                                : ProvKind::Op;
  for (size_t i = 0; i < n; i++) {
    const PyObject* p = objects[i];
    if (p == nullptr) continue;
    auto a = reinterpret_cast<uintptr_t>(p);
    auto it = latest_.find(a);
    uint32_t idx;
    if (live(rt, p)) {
      ProvObject& o = object_for(p);
      idx = record(o, latest_[a], kind, p->ob_refcnt, -1, current_op(), current_site());
    } else if (it != latest_.end()) {
      // a dead object's address: the event joins its last generation (the call will fail in a
      // guarded runtime; an unguarded one reads freed memory, as C would)
      idx = record(objects_[it->second], it->second, kind, -1, -1, current_op(), current_site());
    } else {
      continue;  // not an object this runtime ever had
    }
    frames_.back().touched.push_back(idx);
  }
}

void Provenance::leave(Runtime& rt, bool ok, const PyObject* result) {
  if (frames_.empty()) return;
  Frame f = std::move(frames_.back());
  frames_.pop_back();
  for (uint32_t idx : f.touched) {
    ProvEvent& e = events_[idx];
    ProvObject& o = objects_[e.serial];
    if (e.before < 0) {  // touched a dead object: the call failed, nothing changed
      e.failed = true;
      continue;
    }
    e.after = o.freed ? 0 : reinterpret_cast<const PyObject*>(o.address)->ob_refcnt;
    e.failed = !ok;
    if (!ok) continue;
    if (f.effect == CapiEffect::Take) {
      o.capi_held.push_back(f.site);
    } else if (f.effect == CapiEffect::Give) {
      if (!o.capi_held.empty())
        o.capi_held.pop_back();
      else
        e.unowned = true;
    } else if (f.effect == CapiEffect::Write && e.after < e.before) {
      e.unowned = true;
    }
    if (e.unowned && o.first_unowned < 0) o.first_unowned = idx;
  }
  if (ok && result != nullptr && live(rt, result)) {
    ProvObject& o = object_for(result);
    bool touched = false;
    for (uint32_t idx : f.touched) touched |= events_[idx].serial == latest_[o.address];
    // a new object's allocation event already says where it came from
    bool fresh = !o.events.empty() && events_[o.events.front()].kind == ProvKind::Alloc &&
                 o.events.size() == 1;
    if (!touched && !fresh) record(o, latest_[o.address], ProvKind::Op, -1, result->ob_refcnt, f.op, f.site);
  }
}

void Provenance::push_internal(std::string_view op) {
  Frame f;
  f.op = intern(op);
  f.site = current_site();
  f.internal = true;
  frames_.push_back(std::move(f));
}

void Provenance::pop_internal() {
  if (!frames_.empty()) frames_.pop_back();
}

const ProvObject* Provenance::find(uintptr_t address) const {
  auto it = latest_.find(address);
  if (it == latest_.end()) return nullptr;
  auto o = objects_.find(it->second);
  return o == objects_.end() ? nullptr : &o->second;
}

std::string Provenance::frame_line(uint32_t op, uint32_t site) const {
  return "    #0 " + strings_[op] + (site != 0 ? " at " + strings_[site] : std::string(" (no call site)"));
}

std::string Provenance::report(uintptr_t address, std::string_view headline) const {
  char addr[32];
  std::snprintf(addr, sizeof addr, "0x%" PRIxPTR, address);
  const ProvObject* o = find(address);
  std::string out = "ERROR: refcount-lab: " + std::string(headline) + " on ";
  out += o != nullptr ? "a '" + strings_[o->type] + "' object at " + addr : std::string(addr);
  out += "\n";
  if (!frames_.empty()) {
    out += frame_line(frames_.back().op, frames_.back().site) + "\n";
  }
  if (o == nullptr) return out + "no history: the address was never an object of this runtime\n";
  const ProvEvent* alloc = nullptr;
  const ProvEvent* freed = nullptr;
  for (uint32_t idx : o->events) {
    const ProvEvent& e = events_[idx];
    if (e.kind == ProvKind::Alloc) alloc = &e;
    if (e.kind == ProvKind::Free) freed = &e;
  }
  if (freed != nullptr) out += "freed by " + strings_[freed->op] + " here:\n" + frame_line(freed->op, freed->site) + "\n";
  if (alloc != nullptr)
    out += "previously allocated here:\n" + frame_line(alloc->op, alloc->site) + "\n";
  else
    out += "allocated before the tracking began (a static object or a singleton)\n";
  if (o->first_unowned >= 0) {
    const ProvEvent& e = events_[static_cast<size_t>(o->first_unowned)];
    out += std::string(e.kind == ProvKind::Write ? "the write" : "the decref") +
           " that had no owner (refcount " + std::to_string(e.before) + " -> " +
           std::to_string(e.after) + "):\n" + frame_line(e.op, e.site) + "\n";
  } else {
    out += "every decref of it had an owner: its last reference was released, and the use came after\n";
  }
  return out;
}

RCL_END_NAMESPACE
