// obmalloc.cc — CPython 3.12's pymalloc, its debug hooks and statistics, per Allocator.
//
// Structs, constants and invariants: obmalloc_internal.h. This file follows the order of
// CPython's Objects/obmalloc.c: radix tree, arenas, pools (alloc / free / realloc), the raw
// layer, the debug hooks, statistics, validation, and the public Allocator entry points.
//
// Deliberate deviations from CPython (all observable ones are documented in the tests):
//  - Every free checks the block's live bit (one load and a test the free path needs anyway);
//    a double free or a pointer that is not a live block start is reported through the sink
//    instead of corrupting the pool. Under the debug hooks the report is a dedicated
//    "double free" / "bad pointer" text (CPython 3.12.1 segfaults while dumping a freed block).
//  - Raw blocks are tracked in a map so block_state/contains are exact and the destructor can
//    free them; CPython's raw_allocated_blocks counter (Mem/Obj fallbacks only) is kept apart.
#include "obmalloc_internal.h"

#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(RCL_ASAN)
#include <sanitizer/asan_interface.h>
#define OBM_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define OBM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define OBM_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define OBM_POISON(p, n) ((void)(p), (void)(n))
#define OBM_UNPOISON(p, n) ((void)(p), (void)(n))
#define OBM_NO_SANITIZE_ADDRESS
#endif

#if defined(__has_include) && !defined(RCL_OBMALLOC_IGNORE_VALGRIND)  // the latter: callgrind benches
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define OBM_HAVE_VALGRIND 1
#endif
#endif

// -DRCL_ARENA_POPULATE=1 mmaps arenas with MAP_POPULATE: the kernel provides the whole MiB in
// one call instead of 256 page faults (bulk alloc+free of 1e6 blocks about 18 % faster,
// docs/allocator.md), but every arena is then fully resident from the start, which CPython's
// arenas are not. Off by default: RSS follows CPython's (memtest compares it).
#if !defined(RCL_ARENA_POPULATE)
#define RCL_ARENA_POPULATE 0
#endif
#if RCL_ARENA_POPULATE && defined(MAP_POPULATE)
#define OBM_MAP_POPULATE MAP_POPULATE
#else
#define OBM_MAP_POPULATE 0
#endif

RCL_BEGIN_NAMESPACE

using namespace obmalloc;

// Blocks of RAW_MMAP_THRESHOLD bytes or more (a big list's item array) are mapped directly and
// unmapped when freed, at a fixed threshold: glibc's default, 128 KiB. glibc itself raises its
// threshold to the largest mapped block freed so far (up to 32 MiB) and then keeps up to twice
// that in its heap after a free, so the RSS after a big list is dropped would depend on the
// process's malloc history (the memory test swung by 16 MiB between iterations) rather than on
// the model. Growing such a block is an mremap, as glibc's realloc of a mapped chunk is.
// Under ASan the sanitizer's malloc keeps every block (it checks their bounds).
#if defined(RCL_ASAN) || !defined(MAP_ANONYMOUS)
constexpr size_t RAW_MMAP_THRESHOLD = SIZE_MAX;
#else
constexpr size_t RAW_MMAP_THRESHOLD = size_t{128} << 10;
#endif
constexpr size_t RAW_PAGE = 4096;
inline size_t raw_map_len(size_t n) { return (n + RAW_PAGE - 1) & ~(RAW_PAGE - 1); }

static void* raw_map(size_t n) {
  void* p = mmap(nullptr, raw_map_len(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// The underlying layer: malloc below the threshold, a mapping from it up.
static void* raw_sys_alloc(size_t n, bool zero) {
  if (n >= RAW_MMAP_THRESHOLD) return raw_map(n);  // fresh pages are zero
  return zero ? std::calloc(1, n) : std::malloc(n);
}
static void raw_sys_free(void* p, size_t n) {
  if (n >= RAW_MMAP_THRESHOLD) munmap(p, raw_map_len(n));
  else std::free(p);
}
static void* raw_sys_realloc(void* p, size_t old, size_t n) {
  bool was_mapped = old >= RAW_MMAP_THRESHOLD, mapped = n >= RAW_MMAP_THRESHOLD;
  if (!was_mapped && !mapped) return std::realloc(p, n);
#if defined(__linux__) && defined(MREMAP_MAYMOVE)
  if (was_mapped && mapped) {
    if (raw_map_len(old) == raw_map_len(n)) return p;
    void* q = mremap(p, raw_map_len(old), raw_map_len(n), MREMAP_MAYMOVE);
    return q == MAP_FAILED ? nullptr : q;
  }
#endif
  void* q = raw_sys_alloc(n, false);
  if (!q) return nullptr;
  std::memcpy(q, p, old < n ? old : n);
  raw_sys_free(p, old);
  return q;
}


namespace {

// Reads a free block's link. Free blocks are poisoned for ASan; the validator and the
// statistics may look at them without unpoisoning.
OBM_NO_SANITIZE_ADDRESS block* read_link(const block* b) {
  return *reinterpret_cast<block* const*>(b);
}

inline poolp PTA(poolp* usedpools, unsigned x) {
  // Sentinel of class x: a fake header whose nextpool field is usedpools[2x].
  return reinterpret_cast<poolp>(reinterpret_cast<uint8_t*>(&usedpools[2 * x]) - 2 * sizeof(block*));
}

void write_size_t(uint8_t* p, size_t n) {
  for (int i = int(SST) - 1; i >= 0; --i) {
    p[i] = uint8_t(n & 0xff);
    n >>= 8;
  }
}

size_t read_size_t(const uint8_t* p) {
  size_t n = 0;
  for (size_t i = 0; i < SST; ++i) n = (n << 8) | p[i];
  return n;
}

std::string fmt_ptr(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

// CPython's printone(): message padded to 35 columns, '=', value right-aligned in 21 columns
// with thousands separators.
size_t printone(std::string& out, const std::string& msg, size_t value) {
  out += msg;
  for (size_t i = msg.size(); i < 35; ++i) out += ' ';
  out += '=';
  std::string digits;
  size_t v = value;
  int k = 0;
  do {
    if (k == 3) {
      digits += ',';
      k = 0;
    }
    digits += char('0' + v % 10);
    v /= 10;
    ++k;
  } while (v);
  for (size_t i = digits.size(); i < 21; ++i) out += ' ';
  out.append(digits.rbegin(), digits.rend());
  out += '\n';
  return value;
}

}  // namespace

// ==================================================================================
// Construction / destruction
// ==================================================================================

Allocator::Impl::Impl(const AllocatorOptions& o, MemoryErrorSink& s)
    : kind(o.kind),
      source(o.arenas),
      debug(o.kind == AllocatorKind::PymallocDebug || o.kind == AllocatorKind::MallocDebug),
      pymalloc(o.kind == AllocatorKind::Pymalloc || o.kind == AllocatorKind::PymallocDebug),
      small_limit(SMALL_REQUEST_THRESHOLD),
      trust_frees(o.trust_frees && !debug),
      sink(&s) {
  for (unsigned i = 0; i < NB_SMALL_SIZE_CLASSES; ++i) {
    usedpools[2 * i] = usedpools[2 * i + 1] = PTA(usedpools, i);
  }
#if defined(OBM_HAVE_VALGRIND)
  // As CPython: under valgrind pymalloc steps aside so memcheck sees every block.
  if (RUNNING_ON_VALGRIND) small_limit = 0;
#endif
  if (!pymalloc) small_limit = 0;
  if (pymalloc) {
    arena_map_root = static_cast<arena_map_root_t*>(std::calloc(1, sizeof(arena_map_root_t)));
    if (!arena_map_root) small_limit = 0;  // no radix tree: every request goes raw
  }
  // The inline fast paths (obmalloc.h) serve plain pymalloc only. Under ASan they would read
  // the poisoned link of a free block, so the sanitizer build always takes the slow path.
  fast_limit = (pymalloc && !debug) ? small_limit : 0;
#if defined(RCL_ASAN)
  fast_limit = 0;
#endif
}

Allocator::Impl::~Impl() {
  for (unsigned i = 0; i < maxarenas; ++i) {
    if (arenas[i].address != 0) release_arena_memory(&arenas[i]);
  }
  std::free(arenas);
  if (arena_map_root) {
    for (size_t i = 0; i < MAP_TOP_LENGTH; ++i) {
      arena_map_mid_t* mid = arena_map_root->ptrs[i];
      if (!mid) continue;
      for (size_t j = 0; j < MAP_MID_LENGTH; ++j) std::free(mid->ptrs[j]);
      std::free(mid);
    }
    std::free(arena_map_root);
  }
  for (auto& kv : raw_blocks) raw_sys_free(reinterpret_cast<void*>(kv.first), kv.second.size);
}

// ==================================================================================
// Radix tree: address_in_range
// ==================================================================================

arena_map_bot_t* Allocator::Impl::arena_map_get(uintptr_t p, bool create) {
  size_t i1 = MAP_TOP_INDEX(p);
  if (!arena_map_root->ptrs[i1]) {
    if (!create) return nullptr;
    auto* n = static_cast<arena_map_mid_t*>(std::calloc(1, sizeof(arena_map_mid_t)));
    if (!n) return nullptr;
    arena_map_root->ptrs[i1] = n;
    ++arena_map_mid_count;
  }
  size_t i2 = MAP_MID_INDEX(p);
  if (!arena_map_root->ptrs[i1]->ptrs[i2]) {
    if (!create) return nullptr;
    auto* n = static_cast<arena_map_bot_t*>(std::calloc(1, sizeof(arena_map_bot_t)));
    if (!n) return nullptr;
    arena_map_root->ptrs[i1]->ptrs[i2] = n;
    ++arena_map_bot_count;
  }
  return arena_map_root->ptrs[i1]->ptrs[i2];
}

const arena_map_bot_t* Allocator::Impl::arena_map_find(uintptr_t p) const {
  if (!arena_map_root) return nullptr;
  const arena_map_mid_t* mid = arena_map_root->ptrs[MAP_TOP_INDEX(p)];
  if (!mid) return nullptr;
  return mid->ptrs[MAP_MID_INDEX(p)];
}

// Marks (or clears) the 1 MiB starting at arena_base in the leaves of the one or two slots
// it overlaps. Nodes are never freed (CPython keeps them too).
bool Allocator::Impl::arena_map_mark_used(uintptr_t arena_base, bool is_used) {
  arena_map_bot_t* n_hi = arena_map_get(arena_base, is_used);
  if (!n_hi) return false;
  size_t i3 = MAP_BOT_INDEX(arena_base);
  int32_t tail = int32_t(arena_base & ARENA_SIZE_MASK);
  if (tail == 0) {
    n_hi->arenas[i3].tail_hi = is_used ? -1 : 0;
    return true;
  }
  n_hi->arenas[i3].tail_hi = is_used ? tail : 0;
  uintptr_t next = arena_base + ARENA_SIZE;
  arena_map_bot_t* n_lo = arena_map_get(next, is_used);
  if (!n_lo) {
    n_hi->arenas[i3].tail_hi = 0;
    return false;
  }
  n_lo->arenas[MAP_BOT_INDEX(next)].tail_lo = is_used ? tail : 0;
  return true;
}

// Hot path of free: three dependent loads, no reads of the (possibly foreign) pool.
RCL_ALWAYS_INLINE bool Allocator::Impl::address_in_range(const void* p) const {
  return obmalloc::address_in_range(arena_map_root, p);
}

// Query path: which arena holds p (nullptr when none). The leaf tells where the arena starts.
const arena_object* Allocator::Impl::arena_of(const void* p) const {
  uintptr_t a = uintptr_t(p);
  const arena_map_bot_t* bot = arena_map_find(a);
  if (!bot) return nullptr;
  const arena_coverage_t& c = bot->arenas[MAP_BOT_INDEX(a)];
  int32_t tail = int32_t(a & ARENA_SIZE_MASK);
  uintptr_t slot = a & ~ARENA_SIZE_MASK;
  uintptr_t base;
  if (c.tail_hi != 0 && tail >= c.tail_hi) {
    base = slot + (c.tail_hi == -1 ? 0 : uintptr_t(c.tail_hi));
  } else if (tail < c.tail_lo) {
    base = slot - ARENA_SIZE + uintptr_t(c.tail_lo);
  } else {
    return nullptr;
  }
  auto it = arena_by_base.find(base);
  return it == arena_by_base.end() ? nullptr : &arenas[it->second];
}

// ==================================================================================
// Arenas
// ==================================================================================

// Allocates a new arena (growing the arena_object vector when no unused object is left) and
// returns its arena_object, or nullptr. Only called while usable_arenas is empty.
arena_object* Allocator::Impl::new_arena() {
  if (!unused_arena_objects) {
    unsigned numarenas = maxarenas ? maxarenas << 1 : INITIAL_ARENA_OBJECTS;
    if (numarenas <= maxarenas) return nullptr;  // overflow
    auto* grown = static_cast<arena_object*>(std::realloc(arenas, sizeof(arena_object) * numarenas));
    if (!grown) return nullptr;
    arenas = grown;
    for (unsigned i = maxarenas; i < numarenas; ++i) {
      arenas[i] = arena_object{};
      arenas[i].nextarena = i < numarenas - 1 ? &arenas[i + 1] : nullptr;
    }
    unused_arena_objects = &arenas[maxarenas];
    maxarenas = numarenas;
  }
  arena_object* ao = unused_arena_objects;
  auto* live = static_cast<uint64_t*>(std::calloc(LIVE_MAP_WORDS, sizeof(uint64_t)));
  if (!live) return nullptr;
  void* address;
  if (source == ArenaSource::Mmap) {
    address = mmap(nullptr, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | OBM_MAP_POPULATE, -1,
                   0);
    if (address == MAP_FAILED) address = nullptr;
  } else {
    address = std::malloc(ARENA_SIZE);
  }
  if (!address) {
    std::free(live);
    return nullptr;
  }
  if (!arena_map_mark_used(uintptr_t(address), true)) {
    if (source == ArenaSource::Mmap) munmap(address, ARENA_SIZE);
    else std::free(address);
    std::free(live);
    return nullptr;
  }
  unused_arena_objects = ao->nextarena;
  ao->address = uintptr_t(address);
  ao->live = live;
  arena_by_base.emplace(ao->address, unsigned(ao - arenas));
  ++narenas_currently_allocated;
  ++ntimes_arena_allocated;
  if (narenas_currently_allocated > narenas_highwater) narenas_highwater = narenas_currently_allocated;
  ao->freepools = nullptr;
  ao->pool_address = reinterpret_cast<block*>(ao->address);
  ao->nfreepools = MAX_POOLS_IN_ARENA;
  uintptr_t excess = ao->address & POOL_SIZE_MASK;
  if (excess != 0) {  // skip the partial first pool
    --ao->nfreepools;
    ao->pool_address += POOL_SIZE - excess;
  }
  ao->ntotalpools = ao->nfreepools;
  OBM_POISON(address, ARENA_SIZE);
  return ao;
}

void Allocator::Impl::release_arena_memory(arena_object* ao) {
  void* address = reinterpret_cast<void*>(ao->address);
  OBM_UNPOISON(address, ARENA_SIZE);
  arena_by_base.erase(ao->address);
  if (source == ArenaSource::Mmap) munmap(address, ARENA_SIZE);
  else std::free(address);
  std::free(ao->live);
  ao->live = nullptr;
  ao->address = 0;
}

// ==================================================================================
// Pools: allocation
// ==================================================================================

// The class ring's head pool ran out of free blocks: carve the next virgin block, or, when the
// pool is exhausted, unlink it (USED -> FULL).
RCL_NOINLINE void Allocator::Impl::pymalloc_pool_extend(poolp pool, unsigned size) {
  if (RCL_LIKELY(pool->nextoffset <= pool->maxnextoffset)) {
    pool->freeblock = reinterpret_cast<block*>(pool) + pool->nextoffset;
    pool->nextoffset += INDEX2SIZE(size);
    OBM_UNPOISON(pool->freeblock, sizeof(block*));
    link_of(pool->freeblock) = nullptr;
    OBM_POISON(pool->freeblock, INDEX2SIZE(size));
    return;
  }
  poolp next = pool->nextpool;
  poolp prev = pool->prevpool;
  next->prevpool = prev;
  prev->nextpool = next;
}

// The class ring is empty: take a pool from the most-used usable arena (making an arena when
// there is none), link it at the front of the ring, and return its first free block.
RCL_NOINLINE void* Allocator::Impl::allocate_from_new_pool(unsigned size) {
  if (RCL_UNLIKELY(!usable_arenas)) {
    usable_arenas = new_arena();
    if (!usable_arenas) return nullptr;
    usable_arenas->nextarena = usable_arenas->prevarena = nullptr;
    nfp2lasta[usable_arenas->nfreepools] = usable_arenas;
  }
  arena_object* ua = usable_arenas;
  // ua loses a pool: it stays first, but no longer counts as the last arena with its old nfp.
  if (nfp2lasta[ua->nfreepools] == ua) nfp2lasta[ua->nfreepools] = nullptr;
  if (ua->nfreepools > 1) nfp2lasta[ua->nfreepools - 1] = ua;

  poolp pool = ua->freepools;
  if (RCL_LIKELY(pool != nullptr)) {
    ua->freepools = pool->nextpool;
  } else {
    pool = reinterpret_cast<poolp>(ua->pool_address);
    OBM_UNPOISON(pool, POOL_OVERHEAD);
    pool->arenaindex = unsigned(ua - arenas);
    pool->szidx = DUMMY_SIZE_IDX;
    ua->pool_address += POOL_SIZE;
  }
  if (--ua->nfreepools == 0) {  // wholly allocated: leaves usable_arenas
    usable_arenas = ua->nextarena;
    if (usable_arenas) usable_arenas->prevarena = nullptr;
  }

  poolp next = usedpools[size + size];
  pool->nextpool = next;
  pool->prevpool = next;
  next->nextpool = pool;
  next->prevpool = pool;
  pool->ref.count = 1;
  block* bp;
  if (pool->szidx == size) {  // cached pool of the right class: reuse its free list
    bp = pool->freeblock;
    OBM_UNPOISON(bp, INDEX2SIZE(size));
    pool->freeblock = link_of(bp);
    return bp;
  }
  pool->szidx = size;
  unsigned bsize = INDEX2SIZE(size);
  block* data = reinterpret_cast<block*>(pool) + POOL_OVERHEAD;
  OBM_POISON(data, POOL_SIZE - POOL_OVERHEAD);
  // A previous class may have left live-map garbage? No: an EMPTY pool has no live bits.
  bp = data;
  pool->nextoffset = unsigned(POOL_OVERHEAD + (bsize << 1));
  pool->maxnextoffset = unsigned(POOL_SIZE - bsize);
  pool->freeblock = bp + bsize;
  OBM_UNPOISON(pool->freeblock, sizeof(block*));
  link_of(pool->freeblock) = nullptr;
  OBM_POISON(pool->freeblock, bsize);
  OBM_UNPOISON(bp, bsize);
  return bp;
}

// Fast path: a pop from the head pool's free list and one bit set (~15 instructions).
RCL_ALWAYS_INLINE void* Allocator::Impl::pymalloc_alloc(size_t nbytes) {
  unsigned size = SIZE2INDEX(nbytes);
  poolp pool = usedpools[size + size];
  block* bp;
  if (RCL_LIKELY(pool != pool->nextpool)) {
    ++pool->ref.count;
    bp = pool->freeblock;
    OBM_UNPOISON(bp, INDEX2SIZE(size));
    if (RCL_UNLIKELY((pool->freeblock = link_of(bp)) == nullptr)) pymalloc_pool_extend(pool, size);
  } else {
    bp = static_cast<block*>(allocate_from_new_pool(size));
    if (RCL_UNLIKELY(!bp)) return nullptr;
    pool = POOL_ADDR(bp);
  }
  arenas[pool->arenaindex].live[live_word_index(bp)] |= live_bit(bp);
  return bp;
}

// ==================================================================================
// Pools: free
// ==================================================================================

// FULL -> USED: the pool goes to the FRONT of its class ring, so the next allocation of the
// class reuses the block just freed.
void Allocator::Impl::insert_to_usedpool(poolp pool) {
  unsigned size = pool->szidx;
  poolp next = usedpools[size + size];
  poolp prev = next->prevpool;
  pool->nextpool = next;
  pool->prevpool = prev;
  next->prevpool = pool;
  prev->nextpool = pool;
}

// USED -> EMPTY: the pool moves to its arena's freepools, and the arena is re-sorted in
// usable_arenas (or released: at most one wholly free arena is kept, bpo-37257).
void Allocator::Impl::insert_to_freepool(poolp pool) {
  poolp next = pool->nextpool;
  poolp prev = pool->prevpool;
  next->prevpool = prev;
  prev->nextpool = next;

  arena_object* ao = &arenas[pool->arenaindex];
  pool->nextpool = ao->freepools;
  ao->freepools = pool;
  unsigned nf = ao->nfreepools;
  arena_object* lastnf = nfp2lasta[nf];
  if (lastnf == ao) {  // ao was the rightmost arena with nf free pools
    arena_object* p = ao->prevarena;
    nfp2lasta[nf] = (p != nullptr && p->nfreepools == nf) ? p : nullptr;
  }
  ao->nfreepools = ++nf;

  // 1. Wholly free and not the last usable arena: give the memory back.
  if (nf == ao->ntotalpools && ao->nextarena != nullptr) {
    if (ao->prevarena == nullptr) usable_arenas = ao->nextarena;
    else ao->prevarena->nextarena = ao->nextarena;
    ao->nextarena->prevarena = ao->prevarena;
    ao->nextarena = unused_arena_objects;
    unused_arena_objects = ao;
    arena_map_mark_used(ao->address, false);
    release_arena_memory(ao);
    --narenas_currently_allocated;
    return;
  }
  // 2. Was full (not on the list): nfp 1 is the smallest, so it goes first.
  if (nf == 1) {
    ao->nextarena = usable_arenas;
    ao->prevarena = nullptr;
    if (usable_arenas) usable_arenas->prevarena = ao;
    usable_arenas = ao;
    if (nfp2lasta[1] == nullptr) nfp2lasta[1] = ao;
    return;
  }
  // 3. Slide right, past the arenas that now have fewer free pools.
  if (nfp2lasta[nf] == nullptr) nfp2lasta[nf] = ao;
  if (ao == lastnf) return;  // already the rightmost of its old group: order holds
  if (ao->prevarena != nullptr) ao->prevarena->nextarena = ao->nextarena;
  else usable_arenas = ao->nextarena;
  ao->nextarena->prevarena = ao->prevarena;
  ao->prevarena = lastnf;
  ao->nextarena = lastnf->nextarena;
  if (ao->nextarena != nullptr) ao->nextarena->prevarena = ao;
  lastnf->nextarena = ao;
}

// Returns false when p is not inside an arena (the caller tries the raw layer). A p inside an
// arena that is not a live block start is reported, not freed.
RCL_ALWAYS_INLINE bool Allocator::Impl::pymalloc_free(void* p) {
  if (RCL_UNLIKELY(!address_in_range(p))) return false;
  pymalloc_free_in_arena(p);
  return true;
}

RCL_ALWAYS_INLINE void Allocator::Impl::pymalloc_free_in_arena(void* p) {
  poolp pool = POOL_ADDR(p);
  uint64_t& word = arenas[pool->arenaindex].live[live_word_index(p)];
  uint64_t bit = live_bit(p);
  if (RCL_UNLIKELY(!(word & bit)) && !trust_frees) {
    report_invalid_free("_PyObject_Free", p);
    return;
  }
  word &= ~bit;
  block* lastfree = pool->freeblock;
  link_of(static_cast<block*>(p)) = lastfree;
  pool->freeblock = static_cast<block*>(p);
  --pool->ref.count;
  OBM_POISON(p, INDEX2SIZE(pool->szidx));
  if (RCL_UNLIKELY(lastfree == nullptr)) {
    insert_to_usedpool(pool);
    return;
  }
  if (RCL_LIKELY(pool->ref.count != 0)) return;
  insert_to_freepool(pool);
}

void Allocator::Impl::report_invalid_free(const char* func, const void* p) {
  std::string fatal = std::string(func) + ": invalid pointer (double free or not a live block)";
  std::string report = "Memory block at address p=" + fmt_ptr(p) +
                       " is not a live block of this allocator\n\nFatal Python error: " + fatal + "\n";
  sink->memory_corruption(fatal, report);
}

// ==================================================================================
// Raw layer (system malloc, tracked)
// ==================================================================================

void* Allocator::Impl::raw_malloc(size_t n, bool fallback) {
  size_t real = n ? n : 1;  // PyMem_RawMalloc(0) is malloc(1)
  void* p = raw_sys_alloc(real, false);
  if (!p) return nullptr;
  raw_blocks.emplace(uintptr_t(p), RawBlock{real, fallback});
  raw_freed.erase(uintptr_t(p));
  raw_bytes += real;
  raw_allocated_blocks += fallback;
  return p;
}

void* Allocator::Impl::raw_calloc(size_t nelem, size_t elsize, bool fallback) {
  if (nelem == 0 || elsize == 0) nelem = elsize = 1;
  void* p = raw_sys_alloc(nelem * elsize, true);  // the caller checked the product
  if (!p) return nullptr;
  raw_blocks.emplace(uintptr_t(p), RawBlock{nelem * elsize, fallback});
  raw_freed.erase(uintptr_t(p));
  raw_bytes += nelem * elsize;
  raw_allocated_blocks += fallback;
  return p;
}

void* Allocator::Impl::raw_realloc(void* p, size_t n) {
  auto it = raw_blocks.find(uintptr_t(p));
  RawBlock old = it->second;
  size_t real = n ? n : 1;
  void* q = raw_sys_realloc(p, old.size, real);
  if (!q) return nullptr;
  raw_blocks.erase(it);
  raw_blocks.emplace(uintptr_t(q), RawBlock{real, old.fallback});
  if (q != p) {
    raw_freed.insert(uintptr_t(p));
    raw_freed.erase(uintptr_t(q));
  }
  raw_bytes = raw_bytes - old.size + real;
  return q;
}

bool Allocator::Impl::raw_free(void* p) {
  auto it = raw_blocks.find(uintptr_t(p));
  if (it == raw_blocks.end()) return false;
  size_t size = it->second.size;
  raw_bytes -= size;
  raw_allocated_blocks -= it->second.fallback;
  raw_blocks.erase(it);
  raw_freed.insert(uintptr_t(p));
  raw_sys_free(p, size);
  return true;
}

// ==================================================================================
// Base layer: pymalloc for Mem/Obj (when enabled), raw otherwise
// ==================================================================================

void* Allocator::Impl::base_malloc(MemDomain d, size_t n) {
  if (d != MemDomain::Raw && n - 1 < small_limit) {
    if (void* p = pymalloc_alloc(n)) return p;
  }
  return raw_malloc(n, d != MemDomain::Raw && pymalloc);
}

void* Allocator::Impl::base_calloc(MemDomain d, size_t nelem, size_t elsize) {
  if (elsize != 0 && nelem > size_t(INTPTR_MAX) / elsize) return nullptr;
  size_t n = nelem * elsize;
  if (d != MemDomain::Raw && n - 1 < small_limit) {
    if (void* p = pymalloc_alloc(n)) {
      std::memset(p, 0, n);
      return p;
    }
  }
  return raw_calloc(nelem, elsize, d != MemDomain::Raw && pymalloc);
}

// Precondition: p is a live base block. pymalloc keeps a block in place when the new size
// fits and wastes at most a quarter of it; otherwise it moves (CPython's pymalloc_realloc).
void* Allocator::Impl::base_realloc(MemDomain d, void* p, size_t n) {
  if (d != MemDomain::Raw && small_limit && address_in_range(p)) {
    size_t size = INDEX2SIZE(POOL_ADDR(p)->szidx);
    if (n <= size) {
      if (4 * n > 3 * size) return p;
      size = n;
    }
    void* q = base_malloc(d, n);
    if (q) {
      std::memcpy(q, p, size);
      pymalloc_free(p);
    }
    return q;
  }
  return raw_realloc(p, n);
}

void Allocator::Impl::base_free(MemDomain, void* p) {
  if (small_limit && pymalloc_free(p)) return;
  if (!raw_free(p)) report_invalid_free("_PyMem_RawFree", p);
}

// Exact classification of an address as a base block start.
BlockState Allocator::Impl::base_state(const void* p) const {
  if (const arena_object* ao = arena_of(p)) {
    uintptr_t a = uintptr_t(p);
    uintptr_t first = (ao->address + POOL_SIZE_MASK) & ~POOL_SIZE_MASK;
    if (a < first || a >= uintptr_t(ao->pool_address)) return BlockState::Foreign;
    const pool_header* pool = POOL_ADDR(p);
    uintptr_t off = a - uintptr_t(pool);
    if (off < POOL_OVERHEAD || pool->szidx >= NB_SMALL_SIZE_CLASSES) return BlockState::Foreign;
    if ((off - POOL_OVERHEAD) % INDEX2SIZE(pool->szidx) != 0 || off >= pool->nextoffset) {
      return BlockState::Foreign;
    }
    return (ao->live[live_word_index(p)] & live_bit(p)) ? BlockState::Live : BlockState::Freed;
  }
  if (raw_blocks.count(uintptr_t(p))) return BlockState::Live;
  return raw_freed.count(uintptr_t(p)) ? BlockState::Freed : BlockState::Foreign;
}

size_t Allocator::Impl::base_block_size(const void* p) const {
  if (small_limit && address_in_range(p)) return INDEX2SIZE(POOL_ADDR(p)->szidx);
  auto it = raw_blocks.find(uintptr_t(p));
  return it == raw_blocks.end() ? 0 : it->second.size;
}

// ==================================================================================
// Debug hooks (PyMem_SetupDebugHooks)
// ==================================================================================

void* Allocator::Impl::debug_alloc(MemDomain d, bool zero, size_t nbytes) {
  if (nbytes > size_t(INTPTR_MAX) - DEBUG_EXTRA_BYTES) return nullptr;
  size_t total = nbytes + DEBUG_EXTRA_BYTES;
  auto* head = static_cast<uint8_t*>(zero ? base_calloc(d, 1, total) : base_malloc(d, total));
  if (!head) return nullptr;
  write_size_t(head, nbytes);
  head[SST] = uint8_t(d);
  std::memset(head + SST + 1, PYMEM_FORBIDDENBYTE, SST - 1);
  uint8_t* data = head + DEBUG_HEAD;
  if (!zero && nbytes > 0) std::memset(data, PYMEM_CLEANBYTE, nbytes);
  std::memset(data + nbytes, PYMEM_FORBIDDENBYTE, SST);
  return data;
}

// Our addition before CPython's checks: p must be a live block of ours (p - 16 a live base
// block) whose header is not all DEADBYTE. Reports and returns false otherwise.
bool Allocator::Impl::debug_check_pointer(const char* func, MemDomain d, const void* p) {
  const uint8_t* q = static_cast<const uint8_t*>(p);
  BlockState st = uintptr_t(q) < DEBUG_HEAD ? BlockState::Foreign : base_state(q - DEBUG_HEAD);
  bool dead_header = false;
  if (st == BlockState::Live) {
    dead_header = true;
    for (size_t i = 1; i <= DEBUG_HEAD; ++i) dead_header &= q[-ptrdiff_t(i)] == PYMEM_DEADBYTE;
  }
  if (st == BlockState::Live && !dead_header) return true;
  std::string fatal, report = "Debug memory block at address p=" + fmt_ptr(p) + ":";
  if (st == BlockState::Foreign) {
    report += " not allocated by this allocator\n";
    fatal = std::string(func) + ": bad pointer: not a block allocated by this allocator, verified using API '" +
            char(d) + "'";
  } else {
    report += " already freed\n";
    report += "    The block was released by an earlier free: its bytes are DEADBYTE (0xdd)\n";
    report += "    and its API id, size and pad bytes are gone.\n";
    fatal = std::string(func) + ": double free: block already freed, verified using API '" + char(d) + "'";
  }
  report += "\nEnable tracemalloc to get the memory block allocation traceback\n\n";
  report += "Fatal Python error: " + fatal + "\n";
  sink->memory_corruption(fatal, report);
  return false;
}

namespace {

// CPython's _PyObject_DebugDumpAddress layout.
std::string debug_dump_address(const void* p) {
  const uint8_t* q = static_cast<const uint8_t*>(p);
  std::string out = "Debug memory block at address p=" + fmt_ptr(p) + ":";
  char buf[128];
  std::snprintf(buf, sizeof buf, " API '%c'\n", char(q[-ptrdiff_t(SST)]));
  out += buf;
  size_t nbytes = read_size_t(q - DEBUG_HEAD);
  std::snprintf(buf, sizeof buf, "    %zu bytes originally requested\n", nbytes);
  out += buf;
  std::snprintf(buf, sizeof buf, "    The %d pad bytes at p-%d are ", int(SST - 1), int(SST - 1));
  out += buf;
  bool ok = true;
  for (size_t i = 1; i <= SST - 1; ++i) ok &= q[-ptrdiff_t(i)] == PYMEM_FORBIDDENBYTE;
  if (ok) {
    out += "FORBIDDENBYTE, as expected.\n";
  } else {
    std::snprintf(buf, sizeof buf, "not all FORBIDDENBYTE (0x%02x):\n", PYMEM_FORBIDDENBYTE);
    out += buf;
    for (int i = int(SST) - 1; i >= 1; --i) {
      uint8_t byte = q[-i];
      std::snprintf(buf, sizeof buf, "        at p-%d: 0x%02x", i, byte);
      out += buf;
      if (byte != PYMEM_FORBIDDENBYTE) out += " *** OUCH";
      out += '\n';
    }
    out +=
        "    Because memory is corrupted at the start, the count of bytes requested\n"
        "       may be bogus, and checking the trailing pad bytes may segfault.\n";
  }
  const uint8_t* tail = q + nbytes;
  out += "    The " + std::to_string(SST) + " pad bytes at tail=" + fmt_ptr(tail) + " are ";
  ok = true;
  for (size_t i = 0; i < SST; ++i) ok &= tail[i] == PYMEM_FORBIDDENBYTE;
  if (ok) {
    out += "FORBIDDENBYTE, as expected.\n";
  } else {
    std::snprintf(buf, sizeof buf, "not all FORBIDDENBYTE (0x%02x):\n", PYMEM_FORBIDDENBYTE);
    out += buf;
    for (size_t i = 0; i < SST; ++i) {
      std::snprintf(buf, sizeof buf, "        at tail+%zu: 0x%02x", i, tail[i]);
      out += buf;
      if (tail[i] != PYMEM_FORBIDDENBYTE) out += " *** OUCH";
      out += '\n';
    }
  }
  if (q < tail) {  // up to 8 bytes from the start, then " ..." and the last 8
    out += "    Data at p:";
    const uint8_t* r = q;
    for (int i = 0; r < tail && i < 8; ++i, ++r) {
      std::snprintf(buf, sizeof buf, " %02x", *r);
      out += buf;
    }
    if (r < tail) {
      if (tail - r > 8) {
        out += " ...";
        r = tail - 8;
      }
      for (; r < tail; ++r) {
        std::snprintf(buf, sizeof buf, " %02x", *r);
        out += buf;
      }
    }
    out += '\n';
  }
  out += "\nEnable tracemalloc to get the memory block allocation traceback\n\n";
  return out;
}

}  // namespace

// CPython's _PyMem_DebugCheckAddress: API id, then leading pads (so a bogus size is never
// used), then trailing pads. Reports the first problem and returns false.
bool Allocator::Impl::debug_check_address(const char* func, MemDomain d, const void* p) {
  const uint8_t* q = static_cast<const uint8_t*>(p);
  std::string fatal;
  char id = char(q[-ptrdiff_t(SST)]);
  if (id != char(d)) {
    fatal = std::string(func) + ": bad ID: Allocated using API '" + id + "', verified using API '" + char(d) + "'";
  } else {
    for (size_t i = SST - 1; i >= 1 && fatal.empty(); --i) {
      if (q[-ptrdiff_t(i)] != PYMEM_FORBIDDENBYTE) fatal = std::string(func) + ": bad leading pad byte";
    }
    if (fatal.empty()) {
      size_t nbytes = read_size_t(q - DEBUG_HEAD);
      // Our addition: a size that runs past the base block would make the tail read fault.
      if (nbytes > base_block_size(q - DEBUG_HEAD) - DEBUG_EXTRA_BYTES) {
        fatal = std::string(func) + ": bad size: the size field runs past the block";
        std::string report = "Debug memory block at address p=" + fmt_ptr(p) + ": API '" + id + "'\n    " +
                             std::to_string(nbytes) + " bytes originally requested (corrupted)\n" +
                             "\nEnable tracemalloc to get the memory block allocation traceback\n\n" +
                             "Fatal Python error: " + fatal + "\n";
        sink->memory_corruption(fatal, report);
        return false;
      }
      for (size_t i = 0; i < SST && fatal.empty(); ++i) {
        if (q[nbytes + i] != PYMEM_FORBIDDENBYTE) fatal = std::string(func) + ": bad trailing pad byte";
      }
    }
  }
  if (fatal.empty()) return true;
  std::string report = debug_dump_address(p) + "Fatal Python error: " + fatal + "\n";
  sink->memory_corruption(fatal, report);
  return false;
}

void Allocator::Impl::debug_free(MemDomain d, void* p) {
  if (!p) return;
  if (!debug_check_pointer("_PyMem_DebugRawFree", d, p)) return;
  if (!debug_check_address("_PyMem_DebugRawFree", d, p)) return;
  uint8_t* head = static_cast<uint8_t*>(p) - DEBUG_HEAD;
  size_t nbytes = read_size_t(head);
  std::memset(head, PYMEM_DEADBYTE, nbytes + DEBUG_EXTRA_BYTES);
  base_free(d, head);
}

void* Allocator::Impl::debug_realloc(MemDomain d, void* p, size_t nbytes) {
  if (!p) return debug_alloc(d, false, nbytes);
  if (!debug_check_pointer("_PyMem_DebugRawRealloc", d, p)) return nullptr;
  if (!debug_check_address("_PyMem_DebugRawRealloc", d, p)) return nullptr;
  if (nbytes > size_t(INTPTR_MAX) - DEBUG_EXTRA_BYTES) return nullptr;
  uint8_t* head = static_cast<uint8_t*>(p) - DEBUG_HEAD;
  size_t original = read_size_t(head);
  size_t total = nbytes + DEBUG_EXTRA_BYTES;
  // The bytes that stop being part of the block die (CPython erases them before resizing).
  if (nbytes < original) std::memset(head + DEBUG_HEAD + nbytes, PYMEM_DEADBYTE, original - nbytes + SST);
  uint8_t* r;
  bool in_arena = d != MemDomain::Raw && small_limit && address_in_range(head);
  if (in_arena) {
    size_t size = INDEX2SIZE(POOL_ADDR(head)->szidx);
    if (total <= size && 4 * total > 3 * size) {
      r = head;
    } else {
      r = static_cast<uint8_t*>(base_malloc(d, total));
      if (!r) return nullptr;
      std::memcpy(r, head, DEBUG_HEAD + (nbytes < original ? nbytes : original));
      std::memset(head, PYMEM_DEADBYTE, original + DEBUG_EXTRA_BYTES);
      base_free(d, head);
    }
  } else {
    r = static_cast<uint8_t*>(raw_realloc(head, total));
    if (!r) return nullptr;
  }
  write_size_t(r, nbytes);
  r[SST] = uint8_t(d);
  uint8_t* data = r + DEBUG_HEAD;
  if (nbytes > original) std::memset(data + original, PYMEM_CLEANBYTE, nbytes - original);
  std::memset(data + nbytes, PYMEM_FORBIDDENBYTE, SST);
  return data;
}

// ==================================================================================
// Statistics
// ==================================================================================

namespace {

struct Census {
  size_t numpools[NB_SMALL_SIZE_CLASSES] = {};
  size_t numblocks[NB_SMALL_SIZE_CLASSES] = {};
  size_t numfreeblocks[NB_SMALL_SIZE_CLASSES] = {};
  size_t narenas = 0, numfreepools = 0, arena_alignment = 0;
};

Census take_census(const Allocator::Impl& s) {
  Census c;
  for (unsigned i = 0; i < s.maxarenas; ++i) {
    const arena_object& ao = s.arenas[i];
    uintptr_t base = ao.address;
    if (base == 0) continue;
    ++c.narenas;
    c.numfreepools += ao.nfreepools;
    if (base & POOL_SIZE_MASK) {
      c.arena_alignment += POOL_SIZE;
      base = (base & ~POOL_SIZE_MASK) + POOL_SIZE;
    }
    for (; base < uintptr_t(ao.pool_address); base += POOL_SIZE) {
      const pool_header* p = reinterpret_cast<const pool_header*>(base);
      if (p->ref.count == 0) continue;
      unsigned sz = p->szidx;
      ++c.numpools[sz];
      c.numblocks[sz] += p->ref.count;
      c.numfreeblocks[sz] += NUMBLOCKS(sz) - p->ref.count;
    }
  }
  return c;
}

}  // namespace

// The pymalloc part of sys._debugmallocstats() (_PyObject_DebugMallocStats), empty when
// pymalloc is not the base allocator.
std::string Allocator::Impl::pymalloc_stats_text() const {
  if (!pymalloc) return {};
  Census c = take_census(*this);
  std::string out;
  char buf[160];
  std::snprintf(buf, sizeof buf, "Small block threshold = %d, in %u size classes.\n", int(SMALL_REQUEST_THRESHOLD),
                NB_SMALL_SIZE_CLASSES);
  out += buf;
  out += "\nclass   size   num pools   blocks in use  avail blocks\n"
         "-----   ----   ---------   -------------  ------------\n";
  size_t allocated_bytes = 0, available_bytes = 0, pool_header_bytes = 0, quantization = 0;
  for (unsigned i = 0; i < NB_SMALL_SIZE_CLASSES; ++i) {
    if (c.numpools[i] == 0) continue;
    unsigned size = INDEX2SIZE(i);
    std::snprintf(buf, sizeof buf, "%5u %6u %11zu %15zu %13zu\n", i, size, c.numpools[i], c.numblocks[i],
                  c.numfreeblocks[i]);
    out += buf;
    allocated_bytes += c.numblocks[i] * size;
    available_bytes += c.numfreeblocks[i] * size;
    pool_header_bytes += c.numpools[i] * POOL_OVERHEAD;
    quantization += c.numpools[i] * ((POOL_SIZE - POOL_OVERHEAD) % size);
  }
  out += '\n';
  printone(out, "# arenas allocated total", ntimes_arena_allocated);
  printone(out, "# arenas reclaimed", ntimes_arena_allocated - c.narenas);
  printone(out, "# arenas highwater mark", narenas_highwater);
  printone(out, "# arenas allocated current", c.narenas);
  std::snprintf(buf, sizeof buf, "%zu arenas * %d bytes/arena", c.narenas, int(ARENA_SIZE));
  printone(out, buf, c.narenas * ARENA_SIZE);
  out += '\n';
  size_t total = printone(out, "# bytes in allocated blocks", allocated_bytes);
  total += printone(out, "# bytes in available blocks", available_bytes);
  std::snprintf(buf, sizeof buf, "%zu unused pools * %d bytes", c.numfreepools, int(POOL_SIZE));
  total += printone(out, buf, c.numfreepools * POOL_SIZE);
  total += printone(out, "# bytes lost to pool headers", pool_header_bytes);
  total += printone(out, "# bytes lost to quantization", quantization);
  total += printone(out, "# bytes lost to arena alignment", c.arena_alignment);
  printone(out, "Total", total);
  out += "\narena map counts\n";
  printone(out, "# arena map mid nodes", arena_map_mid_count);
  printone(out, "# arena map bot nodes", arena_map_bot_count);
  out += '\n';
  total = printone(out, "# bytes lost to arena map root", sizeof(arena_map_root_t));
  total += printone(out, "# bytes lost to arena map mid", sizeof(arena_map_mid_t) * arena_map_mid_count);
  total += printone(out, "# bytes lost to arena map bot", sizeof(arena_map_bot_t) * arena_map_bot_count);
  printone(out, "Total", total);
  return out;
}

// _PyDebugAllocatorStats: "<n> <name>s * <size> bytes each" right-aligned in 48 columns, then
// printone's '=' and total.
void debug_allocator_stats(std::string& out, const char* block_name, int num_blocks, size_t sizeof_block) {
  char buf1[128], buf2[160];
  std::snprintf(buf1, sizeof buf1, "%d %ss * %zu bytes each", num_blocks, block_name, sizeof_block);
  std::snprintf(buf2, sizeof buf2, "%48s ", buf1);
  printone(out, buf2, static_cast<size_t>(num_blocks) * sizeof_block);
}

// ==================================================================================
// Validation (the expensive checks)
// ==================================================================================

namespace {

#define OBM_CHECK(cond, ...)                                         \
  do {                                                               \
    if (!(cond)) {                                                   \
      if (why) {                                                     \
        char msg_[256];                                              \
        std::snprintf(msg_, sizeof msg_, __VA_ARGS__);               \
        *why = std::string(msg_) + " [" #cond "]";                   \
      }                                                              \
      return false;                                                  \
    }                                                                \
  } while (0)

unsigned popcount_pool(const uint64_t* live, const pool_header* pool) {
  const uint64_t* w = live + live_word_index(pool);
  unsigned n = 0;
  for (size_t i = 0; i < LIVE_WORDS_PER_POOL; ++i) n += unsigned(__builtin_popcountll(w[i]));
  return n;
}

bool validate_pool(const Allocator::Impl& s, const arena_object& ao, unsigned ai, const pool_header* pool,
                   bool on_freepools, std::string* why) {
  OBM_CHECK(pool->arenaindex == ai, "pool %p: arenaindex %u, expected %u", (const void*)pool, pool->arenaindex, ai);
  unsigned live = popcount_pool(ao.live, pool);
  OBM_CHECK(live == pool->ref.count, "pool %p: ref.count %u but %u live bits", (const void*)pool,
            pool->ref.count, live);
  OBM_CHECK(on_freepools == (pool->ref.count == 0), "pool %p: count %u, on freepools %d", (const void*)pool,
            pool->ref.count, int(on_freepools));
  if (pool->szidx == DUMMY_SIZE_IDX) {
    OBM_CHECK(on_freepools, "pool %p: uninitialised but in use", (const void*)pool);
    return true;
  }
  OBM_CHECK(pool->szidx < NB_SMALL_SIZE_CLASSES, "pool %p: szidx %u", (const void*)pool, pool->szidx);
  unsigned size = INDEX2SIZE(pool->szidx);
  OBM_CHECK(pool->maxnextoffset == POOL_SIZE - size, "pool %p: maxnextoffset %u", (const void*)pool,
            pool->maxnextoffset);
  OBM_CHECK(pool->nextoffset >= POOL_OVERHEAD + 2 * size && pool->nextoffset <= pool->maxnextoffset + size &&
                (pool->nextoffset - POOL_OVERHEAD) % size == 0,
            "pool %p: nextoffset %u", (const void*)pool, pool->nextoffset);
  unsigned carved = unsigned((pool->nextoffset - POOL_OVERHEAD) / size);
  // Live bits only at carved block starts.
  const uint64_t* w = ao.live + live_word_index(pool);
  for (unsigned wi = 0; wi < LIVE_WORDS_PER_POOL; ++wi) {
    for (uint64_t bits = w[wi]; bits; bits &= bits - 1) {
    size_t off = (size_t(wi) * 64 + unsigned(__builtin_ctzll(bits))) * ALIGNMENT;
    OBM_CHECK(off >= POOL_OVERHEAD && (off - POOL_OVERHEAD) % size == 0 && off < pool->nextoffset,
              "pool %p: live bit at offset %zu is not a carved block start", (const void*)pool, off);
    }
  }
  // Free list: inside the pool, at block starts, not live, acyclic, exactly the non-live carved blocks.
  unsigned nfree = 0;
  uint64_t seen[LIVE_WORDS_PER_POOL] = {};
  for (const block* b = pool->freeblock; b; b = read_link(b)) {
    uintptr_t off = uintptr_t(b) - uintptr_t(pool);
    OBM_CHECK(POOL_ADDR(b) == pool && off >= POOL_OVERHEAD && (off - POOL_OVERHEAD) % size == 0 &&
                  off < pool->nextoffset,
              "pool %p: free-list entry %p outside the carved blocks", (const void*)pool, (const void*)b);
    OBM_CHECK(!(w[(off >> 4) / 64] >> ((off >> 4) % 64) & 1), "pool %p: free-list entry %p is live",
              (const void*)pool, (const void*)b);
    uint64_t& sw = seen[(off >> 4) / 64];
    OBM_CHECK(!(sw >> ((off >> 4) % 64) & 1), "pool %p: free-list cycle at %p", (const void*)pool, (const void*)b);
    sw |= uint64_t{1} << ((off >> 4) % 64);
    ++nfree;
  }
  OBM_CHECK(pool->ref.count + nfree == carved, "pool %p: count %u + free %u != carved %u", (const void*)pool,
            pool->ref.count, nfree, carved);
  OBM_CHECK(pool->ref.count <= NUMBLOCKS(pool->szidx), "pool %p: count %u too large", (const void*)pool,
            pool->ref.count);
  OBM_CHECK((pool->freeblock == nullptr) == (pool->ref.count == NUMBLOCKS(pool->szidx)),
            "pool %p: freeblock %p with count %u", (const void*)pool, (const void*)pool->freeblock, pool->ref.count);
  (void)s;
  return true;
}

}  // namespace

bool Allocator::Impl::validate(std::string* why) const {
  size_t live_blocks = 0, used_pools = 0, nallocated = 0, nunused = 0;
  for (unsigned ai = 0; ai < maxarenas; ++ai) {
    const arena_object& ao = arenas[ai];
    if (ao.address == 0) continue;
    ++nallocated;
    OBM_CHECK(arena_of(reinterpret_cast<const void*>(ao.address)) == &ao &&
                  arena_of(reinterpret_cast<const void*>(ao.address + ARENA_SIZE - 1)) == &ao,
              "arena %u: radix tree does not cover it", ai);
    uintptr_t first = (ao.address + POOL_SIZE_MASK) & ~POOL_SIZE_MASK;
    unsigned expect_total = MAX_POOLS_IN_ARENA - ((ao.address & POOL_SIZE_MASK) != 0);
    OBM_CHECK(ao.ntotalpools == expect_total, "arena %u: ntotalpools %u", ai, ao.ntotalpools);
    uintptr_t pa = uintptr_t(ao.pool_address);
    OBM_CHECK(pa >= first && pa <= first + ao.ntotalpools * POOL_SIZE && (pa & POOL_SIZE_MASK) == 0,
              "arena %u: pool_address out of range", ai);
    size_t virgin = (first + ao.ntotalpools * POOL_SIZE - pa) / POOL_SIZE;
    // freepools: distinct carved pools of this arena
    std::unordered_map<uintptr_t, bool> on_free;
    size_t nfree = 0;
    for (const pool_header* p = ao.freepools; p; p = p->nextpool) {
      OBM_CHECK(uintptr_t(p) >= first && uintptr_t(p) < pa && (uintptr_t(p) & POOL_SIZE_MASK) == 0,
                "arena %u: freepools entry %p not a carved pool", ai, (const void*)p);
      OBM_CHECK(!on_free.count(uintptr_t(p)), "arena %u: freepools cycle", ai);
      on_free[uintptr_t(p)] = true;
      ++nfree;
    }
    OBM_CHECK(ao.nfreepools == nfree + virgin, "arena %u: nfreepools %u != %zu free + %zu virgin", ai,
              ao.nfreepools, nfree, virgin);
    for (uintptr_t p = first; p < pa; p += POOL_SIZE) {
      const pool_header* pool = reinterpret_cast<const pool_header*>(p);
      if (!validate_pool(*this, ao, ai, pool, on_free.count(p) != 0, why)) return false;
      live_blocks += pool->ref.count;
      if (pool->ref.count != 0 && pool->freeblock != nullptr) ++used_pools;
    }
    for (uintptr_t p = pa; p < first + ao.ntotalpools * POOL_SIZE; p += POOL_SIZE) {
      OBM_CHECK(popcount_pool(ao.live, reinterpret_cast<const pool_header*>(p)) == 0,
                "arena %u: live bits in a virgin pool", ai);
    }
  }
  for (const arena_object* a = unused_arena_objects; a; a = a->nextarena) {
    OBM_CHECK(a->address == 0, "unused_arena_objects holds an allocated arena");
    OBM_CHECK(++nunused <= maxarenas, "unused_arena_objects cycle");
  }
  OBM_CHECK(nallocated == narenas_currently_allocated && nallocated + nunused == maxarenas,
            "arena counts: %zu allocated, %zu unused, %u objects, counter %zu", nallocated, nunused, maxarenas,
            narenas_currently_allocated);
  OBM_CHECK(narenas_highwater >= narenas_currently_allocated &&
                ntimes_arena_allocated >= narenas_currently_allocated,
            "arena counters inconsistent");

  // usedpools rings: exactly the USED pools, each of the ring's class.
  size_t ring_pools = 0;
  for (unsigned i = 0; i < NB_SMALL_SIZE_CLASSES; ++i) {
    const pool_header* sentinel = usedpools[2 * i] ? reinterpret_cast<const pool_header*>(
                                                         reinterpret_cast<const uint8_t*>(&usedpools[2 * i]) - 16)
                                                   : nullptr;
    const pool_header* prev = sentinel;
    size_t steps = 0;
    for (const pool_header* p = sentinel->nextpool; p != sentinel; prev = p, p = p->nextpool) {
      OBM_CHECK(++steps <= used_pools, "usedpools[%u]: ring longer than the number of used pools", i);
      OBM_CHECK(p->prevpool == prev, "usedpools[%u]: broken prevpool at %p", i, (const void*)p);
      OBM_CHECK(p->szidx == i, "usedpools[%u]: pool %p has szidx %u", i, (const void*)p, p->szidx);
      OBM_CHECK(p->ref.count > 0 && p->freeblock != nullptr, "usedpools[%u]: pool %p is not USED", i,
                (const void*)p);
    }
    OBM_CHECK(sentinel->prevpool == prev, "usedpools[%u]: sentinel prevpool", i);
    ring_pools += steps;
  }
  OBM_CHECK(ring_pools == used_pools, "%zu pools on rings, %zu USED pools", ring_pools, used_pools);

  // usable_arenas: ascending nfreepools, nfp2lasta = last arena of each group.
  size_t nusable = 0;
  const arena_object* prev = nullptr;
  for (const arena_object* a = usable_arenas; a; prev = a, a = a->nextarena) {
    OBM_CHECK(++nusable <= maxarenas, "usable_arenas cycle");
    OBM_CHECK(a->address != 0 && a->nfreepools > 0, "usable arena %zu has no free pool", size_t(a - arenas));
    OBM_CHECK(a->prevarena == prev, "usable_arenas: broken prevarena");
    OBM_CHECK(!prev || prev->nfreepools <= a->nfreepools, "usable_arenas not sorted ascending (%u then %u)",
              prev ? prev->nfreepools : 0, a->nfreepools);
    bool last_of_group = !a->nextarena || a->nextarena->nfreepools != a->nfreepools;
    OBM_CHECK((nfp2lasta[a->nfreepools] == a) == last_of_group, "nfp2lasta[%u] wrong", a->nfreepools);
  }
  for (unsigned nf = 0; nf <= MAX_POOLS_IN_ARENA; ++nf) {
    const arena_object* a = nfp2lasta[nf];
    if (!a) continue;
    OBM_CHECK(a->address != 0 && a->nfreepools == nf, "nfp2lasta[%u] points at an arena with %u free pools", nf,
              a->nfreepools);
  }
  size_t with_free = 0;
  for (unsigned ai = 0; ai < maxarenas; ++ai) with_free += arenas[ai].address != 0 && arenas[ai].nfreepools > 0;
  OBM_CHECK(with_free == nusable, "%zu arenas have free pools, %zu are on usable_arenas", with_free, nusable);

  size_t fallback = 0, bytes = 0;
  for (auto& kv : raw_blocks) {
    fallback += kv.second.fallback;
    bytes += kv.second.size;
  }
  OBM_CHECK(fallback == raw_allocated_blocks && bytes == raw_bytes, "raw block counters");
  for (uintptr_t a : raw_freed) OBM_CHECK(!raw_blocks.count(a), "raw block %p both live and freed", (const void*)a);
  (void)live_blocks;
  return true;
}

#undef OBM_CHECK

// ==================================================================================
// Public entry points
// ==================================================================================

Allocator::Allocator(const AllocatorOptions& options, MemoryErrorSink& sink)
    : hot_(nullptr), impl_(new Impl(options, sink)) {
  hot_ = impl_;
}
Allocator::~Allocator() { delete impl_; }

// Everything the inline Allocator::malloc does not take (obmalloc.h): the full pymalloc_alloc
// (carving, pool/arena transitions), the raw layer and the debug hooks.
void* Allocator::malloc_slow(MemDomain domain, size_t size) {
  Impl& s = *impl_;
  if (RCL_LIKELY(!s.debug)) {
    if (RCL_LIKELY(domain != MemDomain::Raw && size - 1 < s.small_limit)) {
      if (void* p = s.pymalloc_alloc(size)) return p;
    }
    return s.raw_malloc(size, domain != MemDomain::Raw && s.pymalloc);
  }
  return s.debug_alloc(domain, false, size);
}

void* Allocator::calloc(MemDomain domain, size_t nelem, size_t elsize) {
  Impl& s = *impl_;
  if (!s.debug) return s.base_calloc(domain, nelem, elsize);
  if (elsize != 0 && nelem > size_t(INTPTR_MAX) / elsize) return nullptr;
  return s.debug_alloc(domain, true, nelem * elsize);
}

void* Allocator::realloc(MemDomain domain, void* p, size_t size) {
  Impl& s = *impl_;
  if (s.debug) return s.debug_realloc(domain, p, size);
  if (!p) return malloc(domain, size);
  if (s.base_state(p) != BlockState::Live) {
    s.report_invalid_free(domain == MemDomain::Raw ? "_PyMem_RawRealloc" : "_PyObject_Realloc", p);
    return nullptr;
  }
  return s.base_realloc(domain, p, size);
}

void* Allocator::malloc_small_slow(size_t size) {
  Impl& s = *impl_;
  if (void* p = s.pymalloc_alloc(size)) return p;
  return s.raw_malloc(size, true);
}

void Allocator::free_in_arena(void* p) { impl_->pymalloc_free_in_arena(p); }

// Everything the inline Allocator::free does not take: the full pymalloc_free (FULL -> USED,
// USED -> EMPTY, arena release), invalid pointers, raw blocks and the debug hooks.
void Allocator::free_slow(MemDomain domain, void* p) {
  Impl& s = *impl_;
  if (RCL_LIKELY(!s.debug)) {
    if (RCL_UNLIKELY(!p)) return;
    if (RCL_LIKELY(s.small_limit != 0) && s.pymalloc_free(p)) return;
    if (s.raw_free(p)) return;
    if (s.trust_frees)
      std::free(p);  // what CPython does: the C library decides (glibc aborts on a double free)
    else
      s.report_invalid_free(domain == MemDomain::Raw ? "_PyMem_RawFree" : "_PyObject_Free", p);
    return;
  }
  s.debug_free(domain, p);
}

BlockState Allocator::block_state(const void* p) const {
  const Impl& s = *impl_;
  if (!s.debug) return s.base_state(p);
  if (uintptr_t(p) < DEBUG_HEAD) return BlockState::Foreign;
  return s.base_state(static_cast<const uint8_t*>(p) - DEBUG_HEAD);
}

bool Allocator::contains(const void* p, size_t n) const {
  const Impl& s = *impl_;
  uintptr_t a = uintptr_t(p);
  if (a + n < a) return false;
  if (const arena_object* ao = s.arena_of(p)) return a + n <= ao->address + ARENA_SIZE;
  auto it = s.raw_blocks.upper_bound(a);
  if (it == s.raw_blocks.begin()) return false;
  --it;
  return a >= it->first && a + n <= it->first + it->second.size;
}

bool Allocator::writable(const void* p, size_t n, uintptr_t* block, size_t* block_size) const {
  const Impl& s = *impl_;
  uintptr_t a = uintptr_t(p);
  if (n == 0 || a + n < a) return false;
  if (const arena_object* ao = s.arena_of(p)) {
    uintptr_t first = (ao->address + POOL_SIZE_MASK) & ~POOL_SIZE_MASK;
    if (a < first || a >= uintptr_t(ao->pool_address)) return false;
    const pool_header* pool = POOL_ADDR(p);
    uintptr_t off = a - uintptr_t(pool);
    if (off < POOL_OVERHEAD || pool->szidx >= NB_SMALL_SIZE_CLASSES || off >= pool->nextoffset) return false;
    size_t size = INDEX2SIZE(pool->szidx);
    uintptr_t start = uintptr_t(pool) + POOL_OVERHEAD + (off - POOL_OVERHEAD) / size * size;
    if (s.base_state(reinterpret_cast<const void*>(start)) != BlockState::Live) return false;
    // Anywhere inside one live block, the debug hooks' pads included: a corrupted pad is what
    // the hooks exist to report (at free), never a crash. Not their size word and API byte,
    // which the hooks trust to find the tail. A write into a freed block would cut the pool's
    // free list, so that is refused.
    if (block) *block = start;
    if (block_size) *block_size = size;
    if (s.debug && a < start + SST + 1) return false;
    return a + n <= start + size;
  }
  auto it = s.raw_blocks.upper_bound(a);
  if (it == s.raw_blocks.begin()) return false;
  --it;
  if (block) *block = it->first;
  if (block_size) *block_size = it->second.size;
  if (s.debug && a < it->first + SST + 1) return false;  // the hooks' size word and API byte
  return a >= it->first && a + n <= it->first + it->second.size;
}

size_t Allocator::usable_size(const void* p) const {
  const Impl& s = *impl_;
  if (block_state(p) != BlockState::Live) return 0;
  if (s.debug) return read_size_t(static_cast<const uint8_t*>(p) - DEBUG_HEAD);
  return s.base_block_size(p);
}

size_t Allocator::allocated_blocks() const {
  const Impl& s = *impl_;
  size_t n = s.raw_allocated_blocks;
  for (unsigned i = 0; i < s.maxarenas; ++i) {
    const arena_object& ao = s.arenas[i];
    if (ao.address == 0) continue;
    uintptr_t base = (ao.address + POOL_SIZE_MASK) & ~POOL_SIZE_MASK;
    for (; base < uintptr_t(ao.pool_address); base += POOL_SIZE) n += reinterpret_cast<const pool_header*>(base)->ref.count;
  }
  return n;
}

MallocStats Allocator::stats() const {
  const Impl& s = *impl_;
  MallocStats st{};
  st.kind = s.kind;
  st.allocated_blocks = allocated_blocks();
  Census c = take_census(s);
  st.arenas_allocated_total = s.ntimes_arena_allocated;
  st.arenas_reclaimed = s.ntimes_arena_allocated - c.narenas;
  st.arenas_highwater = s.narenas_highwater;
  st.arenas_allocated_current = c.narenas;
  for (unsigned i = 0; i < NB_SMALL_SIZE_CLASSES; ++i) {
    size_t size = INDEX2SIZE(i);
    st.bytes_in_allocated_blocks += c.numblocks[i] * size;
    st.bytes_in_available_blocks += c.numfreeblocks[i] * size;
    st.bytes_lost_to_pool_headers += c.numpools[i] * POOL_OVERHEAD;
    st.bytes_lost_to_quantization += c.numpools[i] * ((POOL_SIZE - POOL_OVERHEAD) % size);
    if (c.numpools[i] == 0) continue;
    st.classes[st.nclasses++] = SizeClassStats{i, unsigned(size), c.numpools[i], c.numblocks[i], c.numfreeblocks[i]};
  }
  st.unused_pools = c.numfreepools;
  st.bytes_lost_to_arena_alignment = c.arena_alignment;
  st.arena_map_mid_nodes = s.arena_map_mid_count;
  st.arena_map_bot_nodes = s.arena_map_bot_count;
  st.raw_blocks = s.raw_blocks.size();
  st.raw_bytes = s.raw_bytes;
  return st;
}

// sys._debugmallocstats()'s pymalloc section and the blank line CPython prints after it (nothing
// without pymalloc); the runtime appends the object free lists.
std::string Allocator::debugmallocstats() const {
  std::string out = impl_->pymalloc_stats_text();
  if (!out.empty()) out += '\n';
  return out;
}

bool Allocator::validate(std::string* why) const { return impl_->validate(why); }

AllocatorKind Allocator::kind() const { return impl_->kind; }

RCL_END_NAMESPACE
