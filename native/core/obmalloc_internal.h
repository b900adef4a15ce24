// obmalloc_internal.h — pymalloc's structs, tables and invariants (private to obmalloc.cc and
// the native tests).
//
// Glossary
//   block     the unit handed out: 16..512 bytes, one of 32 size classes, 16-byte aligned.
//   pool      16 KiB, POOL_SIZE-aligned, a 48-byte pool_header then blocks of ONE class.
//   arena     1 MiB from mmap (or malloc); 64 pools, or 63 when the base is not pool-aligned
//             (the partial first pool is skipped and counted as "lost to arena alignment").
//   raw       the system allocator (malloc); used for 0-byte and > 512-byte requests, the raw
//             domain, every request of the Malloc kinds, and everything under valgrind.
//   live map  side metadata (one bit per 16-byte granule of the arena) that makes
//             block_state() exact; it lives next to the arena_object, never in a pool.
//
// Pool state machine (CPython's):
//   EMPTY --alloc--> USED (front of usedpools[szidx]) --last block taken--> FULL (unlinked)
//   FULL --one free--> USED (FRONT of its class list) --last block freed--> EMPTY (arena freepools)
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>

#include "obmalloc.h"

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
};

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
// Debug hooks (PYTHONMALLOC=debug) — block layout, S = sizeof(size_t)
// ==================================================================================
//   [p-2S, p-S)  requested size, big-endian       [p-S] API id ('r' / 'm' / 'o')
//   [p-S+1, p)   S-1 x FORBIDDENBYTE               [p, p+n) data (CLEANBYTE after malloc)
//   [p+n, p+n+S) S x FORBIDDENBYTE
inline constexpr size_t SST = sizeof(size_t);
inline constexpr size_t DEBUG_HEAD = 2 * SST;
inline constexpr size_t DEBUG_EXTRA_BYTES = 3 * SST;
inline constexpr uint8_t PYMEM_CLEANBYTE = 0xCD;
inline constexpr uint8_t PYMEM_DEADBYTE = 0xDD;
inline constexpr uint8_t PYMEM_FORBIDDENBYTE = 0xFD;

// A block of the system allocator, keyed by address in Impl::raw_blocks.
struct RawBlock {
  size_t size;      // bytes requested from the underlying layer (0-byte requests hold 1 byte)
  bool fallback;    // a Mem/Obj request pymalloc passed on (CPython's raw_allocated_blocks)
};

}  // namespace obmalloc

// The whole allocator state; one per Allocator, nothing global.
struct Allocator::Impl {
  // ---- configuration
  AllocatorKind kind;
  ArenaSource source;
  bool debug;           // debug hooks on top of the base layer
  bool pymalloc;        // base layer is pymalloc (else everything is raw)
  size_t small_limit;   // requests with n - 1 < small_limit go to pymalloc (0 under valgrind)
  MemoryErrorSink* sink;

  // ---- arenas (CPython's allarenas / maxarenas / unused_arena_objects / usable_arenas)
  obmalloc::arena_object* arenas = nullptr;
  unsigned maxarenas = 0;
  obmalloc::arena_object* unused_arena_objects = nullptr;
  obmalloc::arena_object* usable_arenas = nullptr;
  obmalloc::arena_object* nfp2lasta[obmalloc::MAX_POOLS_IN_ARENA + 1] = {};
  size_t ntimes_arena_allocated = 0;
  size_t narenas_highwater = 0;
  size_t narenas_currently_allocated = 0;

  // ---- size-class rings (kept after other fields: the biased sentinels point 16 bytes back)
  obmalloc::poolp usedpools[obmalloc::USEDPOOLS_SIZE];

  // ---- radix tree
  obmalloc::arena_map_root_t* arena_map_root = nullptr;
  size_t arena_map_mid_count = 0;
  size_t arena_map_bot_count = 0;
  std::unordered_map<uintptr_t, unsigned> arena_by_base;  // query path only

  // ---- raw blocks
  std::map<uintptr_t, obmalloc::RawBlock> raw_blocks;
  size_t raw_allocated_blocks = 0;  // fallback blocks only, as CPython counts them
  size_t raw_bytes = 0;

  Impl(const AllocatorOptions& o, MemoryErrorSink& s);
  ~Impl();

  // pymalloc (obmalloc.cc)
  void* pymalloc_alloc(size_t nbytes);
  bool pymalloc_free(void* p);  // false: not in an arena
  void pymalloc_pool_extend(obmalloc::poolp pool, unsigned size);
  void* allocate_from_new_pool(unsigned size);
  void insert_to_usedpool(obmalloc::poolp pool);
  void insert_to_freepool(obmalloc::poolp pool);
  obmalloc::arena_object* new_arena();
  void release_arena_memory(obmalloc::arena_object* ao);
  bool address_in_range(const void* p) const;
  obmalloc::arena_map_bot_t* arena_map_get(uintptr_t p, bool create);
  const obmalloc::arena_map_bot_t* arena_map_find(uintptr_t p) const;
  bool arena_map_mark_used(uintptr_t arena_base, bool is_used);
  const obmalloc::arena_object* arena_of(const void* p) const;

  // raw layer
  void* raw_malloc(size_t n, bool fallback);
  void* raw_calloc(size_t nelem, size_t elsize, bool fallback);
  void* raw_realloc(void* p, size_t n);
  bool raw_free(void* p);  // false: unknown pointer

  // base layer = what the debug hooks sit on
  void* base_malloc(MemDomain d, size_t n);
  void* base_calloc(MemDomain d, size_t nelem, size_t elsize);
  void* base_realloc(MemDomain d, void* p, size_t n);
  void base_free(MemDomain d, void* p);
  BlockState base_state(const void* p) const;
  size_t base_block_size(const void* p) const;  // capacity of a live base block

  // debug hooks
  void* debug_alloc(MemDomain d, bool zero, size_t nbytes);
  void* debug_realloc(MemDomain d, void* p, size_t nbytes);
  void debug_free(MemDomain d, void* p);
  bool debug_check_address(const char* func, MemDomain d, const void* p);
  bool debug_check_pointer(const char* func, MemDomain d, const void* p);

  void report_invalid_free(const char* func, const void* p);
  std::string pymalloc_stats_text() const;
  std::string freelist_stats_text() const;
  bool validate(std::string* why) const;
};

RCL_END_NAMESPACE
