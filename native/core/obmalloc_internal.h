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
#include <unordered_set>

#include "obmalloc.h"

RCL_BEGIN_NAMESPACE
namespace obmalloc {

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
struct Allocator::Impl : obmalloc::AllocatorHot {
  // ---- configuration
  AllocatorKind kind;
  ArenaSource source;
  bool debug;           // debug hooks on top of the base layer
  bool pymalloc;        // base layer is pymalloc (else everything is raw)
  size_t small_limit;   // requests with n - 1 < small_limit go to pymalloc (0 under valgrind)
  bool trust_frees;     // AllocatorOptions::trust_frees (never with the debug hooks)
  MemoryErrorSink* sink;

  // ---- arenas (CPython's allarenas / maxarenas / unused_arena_objects / usable_arenas)
  unsigned maxarenas = 0;
  obmalloc::arena_object* unused_arena_objects = nullptr;
  obmalloc::arena_object* usable_arenas = nullptr;
  obmalloc::arena_object* nfp2lasta[obmalloc::MAX_POOLS_IN_ARENA + 1] = {};
  size_t ntimes_arena_allocated = 0;
  size_t narenas_highwater = 0;
  size_t narenas_currently_allocated = 0;

  // usedpools, arenas and arena_map_root live in AllocatorHot (obmalloc_fast.h).

  // ---- radix tree
  size_t arena_map_mid_count = 0;
  size_t arena_map_bot_count = 0;
  std::unordered_map<uintptr_t, unsigned> arena_by_base;  // query path only

  // ---- raw blocks
  std::map<uintptr_t, obmalloc::RawBlock> raw_blocks;
  // Start addresses of raw blocks given back to malloc and not handed out again, so a double
  // free of a raw block is exactly "freed" (guarded mode: ERR_USE_AFTER_FREE), as in an arena.
  // Bounded by the distinct addresses malloc ever returned; malloc reuses them.
  std::unordered_set<uintptr_t> raw_freed;
  size_t raw_allocated_blocks = 0;  // fallback blocks only, as CPython counts them
  size_t raw_bytes = 0;

  Impl(const AllocatorOptions& o, MemoryErrorSink& s);
  ~Impl();

  // pymalloc (obmalloc.cc)
  void* pymalloc_alloc(size_t nbytes);
  bool pymalloc_free(void* p);  // false: not in an arena
  void pymalloc_free_in_arena(void* p);  // p is in an arena
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
  bool validate(std::string* why) const;
};

RCL_END_NAMESPACE
