// obmalloc_test.cc — plain C++ tests of the pymalloc port (no framework).
// Last line: "N passed, M failed"; exit status non-zero on any failure.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../../native/core/obmalloc_internal.h"

#include "check.h"

using namespace rcl;
using namespace rcl::obmalloc;


struct RecordingSink : MemoryErrorSink {
  std::vector<std::pair<std::string, std::string>> errors;
  void memory_corruption(const std::string& fatal, const std::string& report) override {
    errors.emplace_back(fatal, report);
  }
};

// Reads a word of a freed (ASan-poisoned) block.
#if defined(RCL_ASAN)
__attribute__((no_sanitize_address))
#endif
static uintptr_t
peek_word(const void* p) {
  return *static_cast<const volatile uintptr_t*>(p);
}
#if defined(RCL_ASAN)
__attribute__((no_sanitize_address))
#endif
static uint8_t
peek_byte(const void* p) {
  return *static_cast<const volatile uint8_t*>(p);
}

static bool valid(const Allocator& a) {
  std::string why;
  if (a.validate(&why)) return true;
  std::printf("validate: %s\n", why.c_str());
  return false;
}

// Replaces every 0x... address by ADDR so reports compare with CPython's text.
static std::string strip_addrs(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 2, "0x") == 0 && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += "ADDR";
      for (i += 2; i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i])); ++i) {
      }
    } else {
      out += s[i++];
    }
  }
  return out;
}

// A class-table row: "%5u %6u %11zu %15zu %13zu".
static bool is_class_row(const std::string& line) {
  static const int widths[5] = {5, 6, 11, 15, 13};
  size_t pos = 0;
  for (int k = 0; k < 5; ++k) {
    if (k) {
      if (pos >= line.size() || line[pos] != ' ') return false;
      ++pos;
    }
    if (pos + size_t(widths[k]) > line.size()) return false;
    std::string field = line.substr(pos, size_t(widths[k]));
    size_t first = field.find_first_not_of(' ');
    if (first == std::string::npos || field.find_first_not_of("0123456789", first) != std::string::npos) return false;
    pos += size_t(widths[k]);
  }
  return pos == line.size();
}

// ---------------------------------------------------------------------------------------------

static void test_alignment_and_classes() {
  RecordingSink sink;
  Allocator a({}, sink);
  for (size_t n = 1; n <= 512; ++n) {
    void* p = a.malloc(MemDomain::Obj, n);
    CHECK(uintptr_t(p) % 16 == 0);
    CHECK(a.usable_size(p) == INDEX2SIZE(unsigned((n - 1) >> 4)));
    CHECK(POOL_ADDR(p)->szidx == (n - 1) >> 4);
    a.free(MemDomain::Obj, p);
  }
  CHECK(NUMBLOCKS(0) == 1021 && NUMBLOCKS(31) == 31);
  void* big = a.malloc(MemDomain::Mem, 513);
  void* zero = a.malloc(MemDomain::Mem, 0);
  void* raw = a.malloc(MemDomain::Raw, 16);
  MallocStats st = a.stats();
  CHECK(st.raw_blocks == 3);
  CHECK(a.allocated_blocks() == 2);  // raw domain is not counted (CPython's raw_allocated_blocks)
  CHECK(a.block_state(big) == BlockState::Live && a.block_state(raw) == BlockState::Live);
  CHECK(a.contains(static_cast<char*>(big) + 100, 413) && !a.contains(static_cast<char*>(big) + 100, 414));
  a.free(MemDomain::Mem, big);
  a.free(MemDomain::Mem, zero);
  a.free(MemDomain::Raw, raw);
  // A raw block given back is remembered as freed until malloc hands its address out again.
  CHECK(a.block_state(big) == BlockState::Freed);
  CHECK(a.block_state(static_cast<char*>(big) + 16) == BlockState::Foreign);
  CHECK(sink.errors.empty());
  CHECK(valid(a));
}

static void test_pools_and_lazy_carving() {
  RecordingSink sink;
  Allocator a({}, sink);
  void* p = a.malloc(MemDomain::Obj, 16);
  poolp pool = POOL_ADDR(p);
  CHECK(uintptr_t(p) - uintptr_t(pool) == POOL_OVERHEAD);
  CHECK(pool->ref.count == 1);
  CHECK(pool->nextoffset == POOL_OVERHEAD + 32);  // first block returned, second on the list
  CHECK(reinterpret_cast<uintptr_t>(pool->freeblock) == uintptr_t(p) + 16);
  // The block after the second one was never carved: Foreign, not Freed.
  CHECK(a.block_state(static_cast<char*>(p) + 16) == BlockState::Freed);
  CHECK(a.block_state(static_cast<char*>(p) + 32) == BlockState::Foreign);
  CHECK(a.block_state(static_cast<char*>(p) + 8) == BlockState::Foreign);
  CHECK(a.block_state(pool) == BlockState::Foreign);
  void* q = a.malloc(MemDomain::Obj, 16);
  CHECK(uintptr_t(q) == uintptr_t(p) + 16);
  CHECK(pool->nextoffset == POOL_OVERHEAD + 48);
  // First-word free list: freeing onto an empty list stores 0, then the previous head.
  std::vector<void*> blocks{p, q};
  while (pool->freeblock != nullptr || pool->nextoffset <= pool->maxnextoffset) blocks.push_back(a.malloc(MemDomain::Obj, 16));
  CHECK(blocks.size() == NUMBLOCKS(0));
  CHECK(pool->ref.count == NUMBLOCKS(0) && pool->freeblock == nullptr);
  // FULL pool is off the ring: the next allocation comes from a new pool.
  void* other = a.malloc(MemDomain::Obj, 16);
  CHECK(POOL_ADDR(other) != pool);
  a.free(MemDomain::Obj, blocks[5]);
  CHECK(peek_word(blocks[5]) == 0);
  CHECK(a.usable_size(blocks[5]) == 0 && a.block_state(blocks[5]) == BlockState::Freed);
  // FULL -> USED goes to the front: the next 16-byte allocation reuses the freed block.
  void* again = a.malloc(MemDomain::Obj, 16);
  CHECK(again == blocks[5]);
  a.free(MemDomain::Obj, blocks[7]);
  a.free(MemDomain::Obj, blocks[9]);
  CHECK(peek_word(blocks[9]) == uintptr_t(blocks[7]));
  CHECK(pool->freeblock == static_cast<block*>(blocks[9]));
  CHECK(valid(a));
  // Pool counts and class table
  MallocStats st = a.stats();
  CHECK(st.nclasses == 1 && st.classes[0].pools == 2);
  CHECK(st.classes[0].blocks_in_use == NUMBLOCKS(0) - 2 + 1);
  CHECK(sink.errors.empty());
}

static void test_arena_sources() {
  for (ArenaSource src : {ArenaSource::Mmap, ArenaSource::Malloc}) {
    RecordingSink sink;
    AllocatorOptions o;
    o.arenas = src;
    Allocator a(o, sink);
    std::vector<void*> v;
    for (int i = 0; i < 64 * 40; ++i) v.push_back(a.malloc(MemDomain::Obj, 512));  // 40 pools... 2560 blocks
    MallocStats st = a.stats();
    CHECK(st.arenas_allocated_current >= 2);
    const Allocator::Impl* impl = nullptr;
    (void)impl;
    // Per arena: 64 pools when pool-aligned, 63 otherwise; "lost to arena alignment" agrees.
    size_t expected_loss = 0;
    std::map<uintptr_t, bool> seen;
    for (void* p : v) {
      // find arena base via the pool header's arena index
      (void)p;
    }
    (void)seen;
    (void)expected_loss;
    size_t total = st.bytes_in_allocated_blocks + st.bytes_in_available_blocks + st.unused_pools * POOL_SIZE +
                   st.bytes_lost_to_pool_headers + st.bytes_lost_to_quantization + st.bytes_lost_to_arena_alignment;
    CHECK(total == st.arenas_allocated_current * ARENA_SIZE);
    CHECK(st.bytes_lost_to_arena_alignment % POOL_SIZE == 0);
    if (src == ArenaSource::Malloc) CHECK(st.bytes_lost_to_arena_alignment == st.arenas_allocated_current * POOL_SIZE);
    // 2560 blocks of 512 bytes = 2560/31 -> 83 pools
    CHECK(st.nclasses == 1 && st.classes[0].pools == (2560 + 30) / 31);
    CHECK(valid(a));
    for (void* p : v) a.free(MemDomain::Obj, p);
    CHECK(valid(a));
    CHECK(a.stats().arenas_allocated_current == 1);
    CHECK(sink.errors.empty());
  }
}

static void test_arena_reclaim() {
  RecordingSink sink;
  Allocator a({}, sink);
  std::vector<void*> v(200000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = a.malloc(MemDomain::Obj, 16 + (i % 4) * 16);
  MallocStats before = a.stats();
  CHECK(before.arenas_allocated_current > 5);
  CHECK(a.allocated_blocks() == 200000);
  CHECK(valid(a));
  for (void* p : v) a.free(MemDomain::Obj, p);
  MallocStats after = a.stats();
  CHECK(after.arenas_allocated_current == 1);  // at most one wholly empty arena kept
  CHECK(after.arenas_reclaimed == after.arenas_allocated_total - 1 && after.arenas_reclaimed > 0);
  CHECK(after.arenas_highwater == before.arenas_allocated_current);
  CHECK(a.allocated_blocks() == 0);
  std::string text = a.debugmallocstats();
  CHECK(text.find("# arenas reclaimed                 =") != std::string::npos);
  CHECK(valid(a));
  CHECK(sink.errors.empty());
}

static void test_randomized(AllocatorKind kind, unsigned seed, int steps) {
  RecordingSink sink;
  AllocatorOptions o;
  o.kind = kind;
  Allocator a(o, sink);
  std::mt19937 rng(seed);
  struct Live {
    void* p;
    size_t n;
    MemDomain d;
    uint8_t tag;
  };
  std::vector<Live> live;
  bool ok = true, overlap_ok = true, content_ok = true;
  MemDomain doms[3] = {MemDomain::Raw, MemDomain::Mem, MemDomain::Obj};
  for (int step = 0; step < steps && ok; ++step) {
    unsigned op = rng() % 10;
    size_t n = rng() % 8 == 0 ? rng() % 2000 : rng() % 513;
    if (op < 5 || live.empty()) {
      MemDomain d = doms[rng() % 3];
      void* p = (op == 0) ? a.calloc(d, 1, n) : a.malloc(d, n);
      uint8_t tag = uint8_t(rng());
      std::memset(p, tag, n);
      live.push_back({p, n, d, tag});
    } else if (op < 8) {
      size_t i = rng() % live.size();
      for (size_t k = 0; k < live[i].n; ++k) content_ok &= static_cast<uint8_t*>(live[i].p)[k] == live[i].tag;
      a.free(live[i].d, live[i].p);
      content_ok &= a.block_state(live[i].p) != BlockState::Live;
      live[i] = live.back();
      live.pop_back();
    } else {
      size_t i = rng() % live.size();
      void* q = a.realloc(live[i].d, live[i].p, n);
      size_t keep = std::min(n, live[i].n);
      for (size_t k = 0; k < keep; ++k) content_ok &= static_cast<uint8_t*>(q)[k] == live[i].tag;
      std::memset(q, live[i].tag, n);
      live[i].p = q;
      live[i].n = n;
    }
    if (step % 97 == 0 || steps <= 20000) ok = valid(a);
    if (step % 1000 == 0) {
      std::vector<std::pair<uintptr_t, size_t>> iv;
      for (auto& l : live) {
        iv.emplace_back(uintptr_t(l.p), std::max<size_t>(l.n, 1));
        overlap_ok &= a.block_state(l.p) == BlockState::Live && a.usable_size(l.p) >= l.n;
      }
      std::sort(iv.begin(), iv.end());
      for (size_t k = 1; k < iv.size(); ++k) overlap_ok &= iv[k - 1].first + iv[k - 1].second <= iv[k].first;
    }
  }
  CHECK(ok);
  CHECK(overlap_ok);
  CHECK(content_ok);
  CHECK(sink.errors.empty());
  for (auto& l : live) a.free(l.d, l.p);
  CHECK(valid(a));
  CHECK(a.allocated_blocks() == 0);
}

// Expected texts, from CPython 3.12.1 with PYTHONMALLOC=debug (addresses replaced by ADDR).
static const char* kTail10 =
    "Debug memory block at address p=ADDR: API 'm'\n"
    "    10 bytes originally requested\n"
    "    The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.\n"
    "    The 8 pad bytes at tail=ADDR are not all FORBIDDENBYTE (ADDR):\n"
    "        at tail+0: ADDR *** OUCH\n"
    "        at tail+1: ADDR\n"
    "        at tail+2: ADDR\n"
    "        at tail+3: ADDR\n"
    "        at tail+4: ADDR\n"
    "        at tail+5: ADDR\n"
    "        at tail+6: ADDR\n"
    "        at tail+7: ADDR\n"
    "    Data at p: cd cd cd cd cd cd cd cd cd cd\n"
    "\n"
    "Enable tracemalloc to get the memory block allocation traceback\n"
    "\n"
    "Fatal Python error: _PyMem_DebugRawFree: bad trailing pad byte\n";

static void test_debug_hooks(AllocatorKind kind) {
  RecordingSink sink;
  AllocatorOptions o;
  o.kind = kind;
  Allocator a(o, sink);
  // Layout of a 10-byte PyMem_Malloc.
  auto* p = static_cast<uint8_t*>(a.malloc(MemDomain::Mem, 10));
  const uint8_t head[16] = {0, 0, 0, 0, 0, 0, 0, 10, 'm', 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd};
  CHECK(std::memcmp(p - 16, head, 16) == 0);
  bool ok = true;
  for (int i = 0; i < 10; ++i) ok &= p[i] == 0xcd;
  for (int i = 10; i < 18; ++i) ok &= p[i] == 0xfd;
  CHECK(ok);
  CHECK(a.usable_size(p) == 10 && a.block_state(p) == BlockState::Live);
  CHECK(a.block_state(p - 16) == BlockState::Foreign);
  // calloc: zeroed data
  auto* c = static_cast<uint8_t*>(a.calloc(MemDomain::Obj, 3, 4));
  ok = c[-8] == 'o';
  for (int i = 0; i < 12; ++i) ok &= c[i] == 0;
  CHECK(ok);
  a.free(MemDomain::Obj, c);
  // realloc grow 4 -> 12 then shrink -> 2
  auto* r = static_cast<uint8_t*>(a.malloc(MemDomain::Mem, 4));
  std::memset(r, 0x11, 4);
  r = static_cast<uint8_t*>(a.realloc(MemDomain::Mem, r, 12));
  const uint8_t grown[20] = {0x11, 0x11, 0x11, 0x11, 0xcd, 0xcd, 0xcd, 0xcd, 0xcd, 0xcd,
                             0xcd, 0xcd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd};
  CHECK(std::memcmp(r, grown, 20) == 0);
  r = static_cast<uint8_t*>(a.realloc(MemDomain::Mem, r, 2));
  const uint8_t shrunk[10] = {0x11, 0x11, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd};
  CHECK(std::memcmp(r, shrunk, 10) == 0);
  a.free(MemDomain::Mem, r);
  CHECK(sink.errors.empty());

  // Free overwrites the whole block with DEADBYTE (the first word then links the free list).
  auto* f = static_cast<uint8_t*>(a.malloc(MemDomain::Mem, 40));
  a.free(MemDomain::Mem, f);
  if (kind == AllocatorKind::PymallocDebug) {
    bool dead = true;
    for (int i = 8; i < 40 + 24; ++i) dead &= peek_byte(f - 16 + i) == 0xdd;
    CHECK(dead);
  }

  // Trailing pad byte (overrun by one).
  a.free(MemDomain::Mem, p);  // p is intact: fine
  p = static_cast<uint8_t*>(a.malloc(MemDomain::Mem, 10));
  p[10] = 0x41;
  a.free(MemDomain::Mem, p);
  CHECK(sink.errors.size() == 1);
  if (!sink.errors.empty()) {
    CHECK(sink.errors[0].first == "_PyMem_DebugRawFree: bad trailing pad byte");
    CHECK(strip_addrs(sink.errors[0].second) == kTail10);
    if (strip_addrs(sink.errors[0].second) != kTail10) std::printf("%s", sink.errors[0].second.c_str());
  }
  CHECK(a.block_state(p) == BlockState::Live);  // guarded: left untouched
  p[10] = 0xfd;
  a.free(MemDomain::Mem, p);
  CHECK(sink.errors.size() == 1);

  // Leading pad byte (underrun).
  sink.errors.clear();
  p = static_cast<uint8_t*>(a.malloc(MemDomain::Mem, 10));
  p[-1] = 0x41;
  a.free(MemDomain::Mem, p);
  const char* kLead =
      "Debug memory block at address p=ADDR: API 'm'\n"
      "    10 bytes originally requested\n"
      "    The 7 pad bytes at p-7 are not all FORBIDDENBYTE (ADDR):\n"
      "        at p-7: ADDR\n"
      "        at p-6: ADDR\n"
      "        at p-5: ADDR\n"
      "        at p-4: ADDR\n"
      "        at p-3: ADDR\n"
      "        at p-2: ADDR\n"
      "        at p-1: ADDR *** OUCH\n"
      "    Because memory is corrupted at the start, the count of bytes requested\n"
      "       may be bogus, and checking the trailing pad bytes may segfault.\n"
      "    The 8 pad bytes at tail=ADDR are FORBIDDENBYTE, as expected.\n"
      "    Data at p: cd cd cd cd cd cd cd cd cd cd\n"
      "\n"
      "Enable tracemalloc to get the memory block allocation traceback\n"
      "\n"
      "Fatal Python error: _PyMem_DebugRawFree: bad leading pad byte\n";
  CHECK(sink.errors.size() == 1 && strip_addrs(sink.errors[0].second) == kLead);
  CHECK(sink.errors.size() == 1 && sink.errors[0].second.find("at p-1: 0x41 *** OUCH") != std::string::npos);
  p[-1] = 0xfd;
  a.free(MemDomain::Mem, p);

  // Wrong API.
  sink.errors.clear();
  p = static_cast<uint8_t*>(a.malloc(MemDomain::Mem, 10));
  a.free(MemDomain::Obj, p);
  const char* kId =
      "Debug memory block at address p=ADDR: API 'm'\n"
      "    10 bytes originally requested\n"
      "    The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.\n"
      "    The 8 pad bytes at tail=ADDR are FORBIDDENBYTE, as expected.\n"
      "    Data at p: cd cd cd cd cd cd cd cd cd cd\n"
      "\n"
      "Enable tracemalloc to get the memory block allocation traceback\n"
      "\n"
      "Fatal Python error: _PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'o'\n";
  CHECK(sink.errors.size() == 1 && strip_addrs(sink.errors[0].second) == kId);
  CHECK(sink.errors.size() == 1 &&
        sink.errors[0].first == "_PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'o'");
  a.free(MemDomain::Mem, p);

  // Data dump: 16 bytes shown whole, 17 and 40 as first 8 ... last 8.
  for (size_t n : {16, 17, 40}) {
    sink.errors.clear();
    p = static_cast<uint8_t*>(a.malloc(MemDomain::Mem, n));
    std::memset(p, 0x42, n);
    p[n] = 0x41;
    a.free(MemDomain::Mem, p);
    std::string want = n == 16 ? "    Data at p: 42 42 42 42 42 42 42 42 42 42 42 42 42 42 42 42\n"
                               : "    Data at p: 42 42 42 42 42 42 42 42 ... 42 42 42 42 42 42 42 42\n";
    CHECK(sink.errors.size() == 1 && sink.errors[0].second.find(want) != std::string::npos);
    CHECK(sink.errors.size() == 1 &&
          sink.errors[0].second.find("    " + std::to_string(n) + " bytes originally requested\n") != std::string::npos);
    p[n] = 0xfd;
    a.free(MemDomain::Mem, p);
  }

  // Realloc of a corrupted block.
  sink.errors.clear();
  p = static_cast<uint8_t*>(a.malloc(MemDomain::Mem, 10));
  p[10] = 0x41;
  CHECK(a.realloc(MemDomain::Mem, p, 20) == nullptr);
  CHECK(sink.errors.size() == 1 && sink.errors[0].first == "_PyMem_DebugRawRealloc: bad trailing pad byte");
  p[10] = 0xfd;
  a.free(MemDomain::Mem, p);

  // Double free: detected from our metadata, reported cleanly, nothing touched.
  sink.errors.clear();
  p = static_cast<uint8_t*>(a.malloc(MemDomain::Mem, 10));
  a.free(MemDomain::Mem, p);
  a.free(MemDomain::Mem, p);
  CHECK(sink.errors.size() == 1);
  if (!sink.errors.empty()) {
    const std::string& fatal = sink.errors[0].first;
    // pymalloc blocks and raw blocks alike (the raw layer remembers freed addresses).
    CHECK(fatal == "_PyMem_DebugRawFree: double free: block already freed, verified using API 'm'");
    CHECK(sink.errors[0].second.find(": already freed\n") != std::string::npos);
  }
  CHECK(valid(a));
  // Large blocks go raw (> 512 - 24 with the debug overhead) but have the same layout.
  auto* big = static_cast<uint8_t*>(a.malloc(MemDomain::Obj, 600));
  CHECK(big[-8] == 'o' && big[600] == 0xfd && a.usable_size(big) == 600);
  a.free(MemDomain::Obj, big);
  CHECK(a.allocated_blocks() == 0);
}

static void test_nondebug_double_free() {
  RecordingSink sink;
  Allocator a({}, sink);
  void* p = a.malloc(MemDomain::Obj, 32);
  void* keep = a.malloc(MemDomain::Obj, 32);
  a.free(MemDomain::Obj, p);
  a.free(MemDomain::Obj, p);
  CHECK(sink.errors.size() == 1 && sink.errors[0].first.find("_PyObject_Free: invalid pointer") == 0);
  a.free(MemDomain::Obj, static_cast<char*>(keep) + 16);  // interior pointer
  CHECK(sink.errors.size() == 2);
  CHECK(valid(a));
  a.free(MemDomain::Obj, keep);
  int local = 0;
  CHECK(a.block_state(&local) == BlockState::Foreign && !a.contains(&local, 1));
}

static void test_stats_text(AllocatorKind kind) {
  RecordingSink sink;
  AllocatorOptions o;
  o.kind = kind;
  Allocator a(o, sink);
  std::vector<void*> v;
  for (int i = 0; i < 3000; ++i) v.push_back(a.malloc(MemDomain::Obj, 1 + (i * 37) % 400));
  std::string t = a.debugmallocstats();
  if (kind == AllocatorKind::Malloc || kind == AllocatorKind::MallocDebug) {
    CHECK(t.empty());
  } else {
    CHECK(t.rfind("Small block threshold = 512, in 32 size classes.\n\n"
                  "class   size   num pools   blocks in use  avail blocks\n"
                  "-----   ----   ---------   -------------  ------------\n",
                  0) == 0);
    MallocStats st = a.stats();
    size_t total = st.bytes_in_allocated_blocks + st.bytes_in_available_blocks + st.unused_pools * POOL_SIZE +
                   st.bytes_lost_to_pool_headers + st.bytes_lost_to_quantization + st.bytes_lost_to_arena_alignment;
    CHECK(total == st.arenas_allocated_current * ARENA_SIZE);
    char line[128];
    std::snprintf(line, sizeof line, "%zu arenas * 1048576 bytes/arena", st.arenas_allocated_current);
    CHECK(t.find(line) != std::string::npos);
    CHECK(t.find("# bytes lost to arena map root     =              262,144\n") != std::string::npos);
    CHECK(t.find("# bytes lost to arena map mid      =              262,144\n") != std::string::npos);
    CHECK(t.find("# bytes lost to arena map bot      =              131,072\n") != std::string::npos);
    CHECK(t.find("Total                              =              655,360\n") != std::string::npos);
    // Lines in the class table are the classes with pools, in CPython's column layout.
    size_t rows = 0, pos = t.find("------------\n") + 13;
    while (pos < t.size() && t[pos] != '\n') {
      size_t e = t.find('\n', pos);
      CHECK(is_class_row(t.substr(pos, e - pos)));
      ++rows;
      pos = e + 1;
    }
    CHECK(rows == st.nclasses);
    // The Total line of the byte breakdown equals arenas x 1 MiB, with thousands separators.
    std::string want = std::to_string(st.arenas_allocated_current * ARENA_SIZE);
    for (int i = int(want.size()) - 3; i > 0; i -= 3) want.insert(size_t(i), ",");
    CHECK(t.find("Total                              =" + std::string(21 - want.size(), ' ') + want + "\n") !=
          std::string::npos);
    CHECK(t.size() >= 2 && t.substr(t.size() - 2) == "\n\n");
  }
  for (void* p : v) a.free(MemDomain::Obj, p);
  CHECK(valid(a));
}

int main() {
  test_alignment_and_classes();
  test_pools_and_lazy_carving();
  test_arena_sources();
  test_arena_reclaim();
  test_nondebug_double_free();
  test_debug_hooks(AllocatorKind::PymallocDebug);
  test_debug_hooks(AllocatorKind::MallocDebug);
  for (AllocatorKind k : {AllocatorKind::Pymalloc, AllocatorKind::Malloc, AllocatorKind::PymallocDebug,
                          AllocatorKind::MallocDebug}) {
    test_stats_text(k);
  }
  test_randomized(AllocatorKind::Pymalloc, 1, 20000);
  test_randomized(AllocatorKind::Pymalloc, 2, 60000);
  test_randomized(AllocatorKind::PymallocDebug, 3, 20000);
  test_randomized(AllocatorKind::Malloc, 4, 10000);
  test_randomized(AllocatorKind::MallocDebug, 5, 10000);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
