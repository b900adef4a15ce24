// obmalloc_fast.h — pymalloc's layout (tunables, pool_header, arena_object, radix tree, live
// map) and the hot state the inline fast paths in obmalloc.h read. Included by obmalloc.h; the
// rest of the allocator's private state is Allocator::Impl (obmalloc_internal.h), which derives
// from AllocatorHot.
#pragma once

#include <cstddef>
#include <cstdint>

#include "config.h"

RCL_BEGIN_NAMESPACE
namespace obmalloc {

// ==================================================================================
// Tunables (64-bit, radix tree on) — identical to CPython 3.12
// ==================================================================================

inline constexpr size_t ALIGNMENT = 16;
inline constexpr unsigned ALIGNMENT_SHIFT = 4;
inline constexpr size_t SMALL_REQUEST_THRESHOLD = 512;
inline constexpr unsigned NB_SMALL_SIZE_CLASSES = SMALL_REQUEST_THRESHOLD / ALIGNMENT;  // 32

inline constexpr unsigned ARENA_BITS = 20;
inline constexpr size_t ARENA_SIZE = size_t{1} << ARENA_BITS;  // 1 MiB
inline constexpr uintptr_t ARENA_SIZE_MASK = ARENA_SIZE - 1;
inline constexpr unsigned POOL_BITS = 14;
inline constexpr size_t POOL_SIZE = size_t{1} << POOL_BITS;  // 16 KiB
inline constexpr uintptr_t POOL_SIZE_MASK = POOL_SIZE - 1;
inline constexpr unsigned MAX_POOLS_IN_ARENA = ARENA_SIZE / POOL_SIZE;  // 64
inline constexpr unsigned INITIAL_ARENA_OBJECTS = 16;
inline constexpr unsigned DUMMY_SIZE_IDX = 0xffff;

// size class i  <->  block size (i + 1) * 16;  request n (1..512) -> class (n - 1) >> 4
inline constexpr unsigned INDEX2SIZE(unsigned i) { return (i + 1) << ALIGNMENT_SHIFT; }
inline constexpr unsigned SIZE2INDEX(size_t n) { return unsigned((n - 1) >> ALIGNMENT_SHIFT); }

// ==================================================================================
// pool_header — 48 bytes, CPython's field order
// ==================================================================================
//
// Invariants (USED or FULL pool, size = INDEX2SIZE(szidx)):
//   POOL_OVERHEAD + 2*size <= nextoffset <= maxnextoffset + size,  maxnextoffset = POOL_SIZE - size
//   carved = (nextoffset - POOL_OVERHEAD) / size          blocks ever handed out or on the list
//   ref.count + len(freeblock list) == carved
//   ref.count == popcount(live bits of the pool)
//   FULL  <=> freeblock == NULL  (then nextoffset > maxnextoffset, i.e. nothing left to carve)
//   EMPTY <=> ref.count == 0 <=> pool is on arenas[arenaindex].freepools
using block = uint8_t;

struct pool_header {
  union {
    block* _padding;
    unsigned count;  // allocated blocks
  } ref;
  block* freeblock;        // first free block; each free block's first word links the next
  pool_header* nextpool;   // usedpools ring (USED) or arena freepools list (EMPTY)
  pool_header* prevpool;   // usedpools ring only
  unsigned arenaindex;     // index into Impl::arenas
  unsigned szidx;          // size class, DUMMY_SIZE_IDX before first use
  unsigned nextoffset;     // byte offset of the next virgin block
  unsigned maxnextoffset;  // largest valid nextoffset
};
using poolp = pool_header*;

inline constexpr size_t POOL_OVERHEAD = (sizeof(pool_header) + ALIGNMENT - 1) & ~(ALIGNMENT - 1);
static_assert(sizeof(pool_header) == 48 && POOL_OVERHEAD == 48, "pool_header is 48 bytes");
static_assert(offsetof(pool_header, freeblock) == 8 && offsetof(pool_header, nextpool) == 16 &&
                  offsetof(pool_header, prevpool) == 24 && offsetof(pool_header, arenaindex) == 32 &&
                  offsetof(pool_header, szidx) == 36 && offsetof(pool_header, nextoffset) == 40 &&
                  offsetof(pool_header, maxnextoffset) == 44,
              "pool_header layout is CPython's");

inline constexpr unsigned NUMBLOCKS(unsigned i) {
  return unsigned((POOL_SIZE - POOL_OVERHEAD) / INDEX2SIZE(i));  // 1021 .. 31
}

inline poolp POOL_ADDR(const void* p) { return reinterpret_cast<poolp>(uintptr_t(p) & ~POOL_SIZE_MASK); }

// usedpools: 2 * ((32 + 7) / 8) * 8 = 64 pointers. Entries 2i and 2i+1 are the nextpool /
// prevpool of a fake pool_header whose address is &usedpools[2i] - 2 pointers (the sentinel of
// class i's circular list); an empty list is a sentinel pointing at itself.
inline constexpr unsigned USEDPOOLS_SIZE = 2 * ((NB_SMALL_SIZE_CLASSES + 7) / 8) * 8;
static_assert(USEDPOOLS_SIZE == 64, "usedpools has 64 entries");

// ==================================================================================
// Live map — one bit per 16-byte granule of an arena's 1 MiB-aligned slot
// ==================================================================================
//
// An arena covers at most 64 consecutive POOL_SIZE-aligned pools, so address bits 14..19 (pool
// within the slot, mod 64) are distinct for all of them; bits 4..13 index the granule inside the
// pool. Hence bit (p >> 4) & 0xffff of the arena's map <=> the block starting at p is live.
//   word = (p >> 10) & 1023,  bit = (p >> 4) & 63          (2 shifts, 2 masks: hot-path cheap)
inline constexpr size_t LIVE_MAP_WORDS = ARENA_SIZE / ALIGNMENT / 64;  // 1024 words = 8 KiB
inline constexpr size_t LIVE_WORDS_PER_POOL = POOL_SIZE / ALIGNMENT / 64;  // 16
inline size_t live_word_index(const void* p) { return (uintptr_t(p) >> 10) & (LIVE_MAP_WORDS - 1); }
inline uint64_t live_bit(const void* p) { return uint64_t{1} << ((uintptr_t(p) >> ALIGNMENT_SHIFT) & 63); }

// ==================================================================================
// arena_object
// ==================================================================================
//
// Invariants (address != 0):
//   first_pool = round_up(address, POOL_SIZE);  ntotalpools = 64 - (address % POOL_SIZE != 0)
//   first_pool <= pool_address <= first_pool + ntotalpools * POOL_SIZE
//   nfreepools = len(freepools) + (first_pool + ntotalpools*POOL_SIZE - pool_address) / POOL_SIZE
//   on usable_arenas <=> nfreepools > 0
// usable_arenas: doubly linked, nfreepools ascending; nfp2lasta[n] = LAST arena on it with
// exactly n free pools (NULL when none). unused_arena_objects: singly linked via nextarena,
// exactly the arena_objects with address == 0.
struct arena_object {
  uintptr_t address;        // 0 = no arena associated
  block* pool_address;      // next never-carved pool
  unsigned nfreepools;      // free + never-carved pools
  unsigned ntotalpools;
  pool_header* freepools;   // singly linked through nextpool
  arena_object* nextarena;
  arena_object* prevarena;
  uint64_t* live;           // LIVE_MAP_WORDS words (side metadata, allocated with the arena)
  uintptr_t pad_;           // to 64 bytes: arenas[i] is one shift away on the hot path
};
static_assert(sizeof(arena_object) == 64, "arena_object is 64 bytes");

// ==================================================================================
// Radix tree for address_in_range (64-bit: 15 | 15 | 14 | 20 bits)
// ==================================================================================
inline constexpr unsigned POINTER_BITS = 64;
inline constexpr unsigned IGNORE_BITS = 0;
inline constexpr unsigned ADDRESS_BITS = POINTER_BITS - IGNORE_BITS;
inline constexpr unsigned INTERIOR_BITS = (ADDRESS_BITS - ARENA_BITS + 2) / 3;  // 15
inline constexpr unsigned MAP_TOP_BITS = INTERIOR_BITS;
inline constexpr unsigned MAP_MID_BITS = INTERIOR_BITS;
inline constexpr unsigned MAP_BOT_BITS = ADDRESS_BITS - ARENA_BITS - 2 * INTERIOR_BITS;  // 14
inline constexpr unsigned MAP_BOT_SHIFT = ARENA_BITS;
inline constexpr unsigned MAP_MID_SHIFT = MAP_BOT_BITS + MAP_BOT_SHIFT;
inline constexpr unsigned MAP_TOP_SHIFT = MAP_MID_BITS + MAP_MID_SHIFT;
inline constexpr size_t MAP_TOP_LENGTH = size_t{1} << MAP_TOP_BITS;
inline constexpr size_t MAP_MID_LENGTH = size_t{1} << MAP_MID_BITS;
inline constexpr size_t MAP_BOT_LENGTH = size_t{1} << MAP_BOT_BITS;
inline size_t MAP_TOP_INDEX(uintptr_t p) { return (p >> MAP_TOP_SHIFT) & (MAP_TOP_LENGTH - 1); }
inline size_t MAP_MID_INDEX(uintptr_t p) { return (p >> MAP_MID_SHIFT) & (MAP_MID_LENGTH - 1); }
inline size_t MAP_BOT_INDEX(uintptr_t p) { return (p >> MAP_BOT_SHIFT) & (MAP_BOT_LENGTH - 1); }

// Leaf for one 1 MiB-aligned slot. An arena starting at offset t inside slot A covers
// [t, 1 MiB) of A (tail_hi = t, or -1 when t == 0) and [0, t) of A+1 (tail_lo = t).
// p is inside an arena <=> tail(p) < tail_lo || (tail_hi != 0 && tail(p) >= tail_hi).
struct arena_coverage_t {
  int32_t tail_hi;
  int32_t tail_lo;
};
struct arena_map_bot_t {
  arena_coverage_t arenas[MAP_BOT_LENGTH];
};
struct arena_map_mid_t {
  arena_map_bot_t* ptrs[MAP_MID_LENGTH];
};
struct arena_map_root_t {
  arena_map_mid_t* ptrs[MAP_TOP_LENGTH];
};
static_assert(sizeof(arena_map_root_t) == 262144 && sizeof(arena_map_mid_t) == 262144 &&
                  sizeof(arena_map_bot_t) == 131072,
              "radix node sizes as reported by sys._debugmallocstats()");


// ==================================================================================
// The state the inline fast paths (Allocator::malloc / free in obmalloc.h) read
// ==================================================================================
//
// Base of Allocator::Impl. fast_limit is small_limit when the base layer is pymalloc without
// debug hooks and without ASan (else 0: every call takes the out-of-line path). The fast paths
// only take the common case of CPython's pymalloc_alloc / pymalloc_free (a pop from, or push to,
// the head pool's free list of a pool that stays USED); every state change of the pool/arena
// state machine happens out of line, in the same code as before.
struct AllocatorHot {
  size_t fast_limit = 0;
  arena_object* arenas = nullptr;
  arena_map_root_t* arena_map_root = nullptr;
  // usedpools last: its sentinels are fake headers that start 16 bytes before usedpools[2i], so
  // the fields above keep those 16 bytes inside the object.
  poolp usedpools[USEDPOOLS_SIZE];
};

inline block*& link_of(block* b) { return *reinterpret_cast<block**>(b); }

// CPython's address_in_range (radix tree): three dependent loads, no read of the pool.
RCL_ALWAYS_INLINE bool address_in_range(const arena_map_root_t* root, const void* p) {
  uintptr_t a = uintptr_t(p);
  const arena_map_mid_t* mid = root->ptrs[MAP_TOP_INDEX(a)];
  if (RCL_UNLIKELY(!mid)) return false;
  const arena_map_bot_t* bot = mid->ptrs[MAP_MID_INDEX(a)];
  if (RCL_UNLIKELY(!bot)) return false;
  const arena_coverage_t& c = bot->arenas[MAP_BOT_INDEX(a)];
  int32_t tail = int32_t(a & ARENA_SIZE_MASK);
  return tail < c.tail_lo || (tail >= c.tail_hi && c.tail_hi != 0);
}

}  // namespace obmalloc
RCL_END_NAMESPACE
