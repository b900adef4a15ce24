// address_set.h — a set of object addresses for guarded mode's registry: open addressing,
// linear probing, Fibonacci hashing of (address >> 3). The guarded check of every address a
// caller passes is one lookup here, so it must cost a few nanoseconds, not a std::unordered_set
// node walk.
//
// Invariants: keys are non-zero multiples of 8 (object addresses); slot value 0 = empty,
// 1 = tombstone; used + tombstones <= capacity / 2; capacity is a power of two >= 16.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <type_traits>
#include <vector>

#include "config.h"

RCL_BEGIN_NAMESPACE

class AddressSet {
 public:
  AddressSet() : slots_(16, 0), shift_(64 - 4) {}

  bool contains(const void* p) const { return slot_of(p) != SIZE_MAX; }

  void insert(const void* p) {
    uintptr_t key = reinterpret_cast<uintptr_t>(p);
    if ((used_ + tombstones_ + 1) * 2 > slots_.size()) rehash(used_ + 1);
    size_t mask = slots_.size() - 1;
    size_t tomb = SIZE_MAX;
    for (size_t i = index(key);; i = (i + 1) & mask) {
      uintptr_t s = slots_[i];
      if (s == key) return;
      if (s == kTombstone && tomb == SIZE_MAX) tomb = i;
      if (s == kEmpty) {
        if (tomb != SIZE_MAX) {
          slots_[tomb] = key;
          tombstones_--;
        } else {
          slots_[i] = key;
        }
        used_++;
        return;
      }
    }
  }

  void erase(const void* p) {
    uintptr_t key = reinterpret_cast<uintptr_t>(p);
    size_t mask = slots_.size() - 1;
    for (size_t i = index(key);; i = (i + 1) & mask) {
      uintptr_t s = slots_[i];
      if (s == key) {
        slots_[i] = kTombstone;
        used_--;
        tombstones_++;
        return;
      }
      if (s == kEmpty) return;
    }
  }

  size_t size() const { return used_; }

  // The slot holding p (an index below capacity(), stable until the next insert), or SIZE_MAX:
  // a caller can keep a value per member in a plain array (refs.cc's account of the heap).
  size_t slot_of(const void* p) const {
    uintptr_t key = reinterpret_cast<uintptr_t>(p);
    if (RCL_UNLIKELY(key <= kTombstone)) return SIZE_MAX;
    size_t mask = slots_.size() - 1;
    for (size_t i = index(key);; i = (i + 1) & mask) {
      uintptr_t s = slots_[i];
      if (s == key) return i;
      if (s == kEmpty) return SIZE_MAX;
    }
  }
  size_t capacity() const { return slots_.size(); }

  // f(member) — or f(member, slot) — for every member, in slot order.
  template <typename F>
  void for_each(F&& f) const {
    for (size_t i = 0; i < slots_.size(); i++) {
      uintptr_t s = slots_[i];
      if (s <= kTombstone) continue;
      if constexpr (std::is_invocable_v<F, const void*, size_t>)
        f(reinterpret_cast<const void*>(s), i);
      else
        f(reinterpret_cast<const void*>(s));
    }
  }

 private:
  static constexpr uintptr_t kEmpty = 0;
  static constexpr uintptr_t kTombstone = 1;

  size_t index(uintptr_t key) const {
    return static_cast<size_t>(((key >> 3) * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  void rehash(size_t need) {
    size_t cap = 16;
    unsigned bits = 4;
    while (cap < need * 4) {
      cap <<= 1;
      bits++;
    }
    std::vector<uintptr_t> old;
    old.swap(slots_);
    slots_.assign(cap, kEmpty);
    shift_ = 64 - bits;
    used_ = 0;
    tombstones_ = 0;
    for (uintptr_t s : old)
      if (s > kTombstone) insert(reinterpret_cast<const void*>(s));
  }

  std::vector<uintptr_t> slots_;
  unsigned shift_;
  size_t used_ = 0;
  size_t tombstones_ = 0;
};

RCL_END_NAMESPACE
