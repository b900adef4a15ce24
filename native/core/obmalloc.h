// obmalloc.h — the memory domains (raw / mem / object) and the allocator behind them.
//
// Public contract used by the rest of the core. The implementation (obmalloc.cc) is CPython
// 3.12's pymalloc: 16-byte alignment, 32 size classes up to 512 bytes, 16 KiB pools with a
// 48-byte header, 1 MiB arenas, usable_arenas sorted by free pools with nfp2lasta, a radix tree
// for address_in_range, and the PYTHONMALLOC=debug hooks (0xCD / 0xDD / 0xFD, API ids).
//
// An Allocator is per Runtime: no global state. It owns every byte it hands out; destroying it
// returns all arenas and every raw block still outstanding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "config.h"
#include "schema.h"
#include "obmalloc_fast.h"

RCL_BEGIN_NAMESPACE

// The three allocation domains; the enumerator value is the debug hooks' API id byte.
enum class MemDomain : char { Raw = 'r', Mem = 'm', Obj = 'o' };

// PYTHONMALLOC equivalents.
// (RCL_ALLOCATORS, schema.h)
enum class AllocatorKind : uint8_t {
#define RCL_X(name, js) name,
  RCL_ALLOCATORS(RCL_X)
#undef RCL_X
};
// Where pymalloc gets its 1 MiB arenas (PyObject_SetArenaAllocator's choice).
// (RCL_ARENA_SOURCES, schema.h)
enum class ArenaSource : uint8_t {
#define RCL_X(name, js) name,
  RCL_ARENA_SOURCES(RCL_X)
#undef RCL_X
};

struct AllocatorOptions {
  AllocatorKind kind = AllocatorKind::Pymalloc;
  ArenaSource arenas = ArenaSource::Mmap;
  // Raw C frees (unguarded runtimes): without the debug hooks, CPython's pymalloc does not check
  // what it frees — a double free puts the block on its pool's free list twice, a foreign
  // pointer goes to the C library's free(). When false, such frees are reported instead.
  bool trust_frees = false;
};

// Receives the debug hooks' corruption reports. `fatal` is the text after "Fatal Python error: "
// (e.g. "_PyMem_DebugRawFree: bad trailing pad byte"); `report` is the full block dump in
// CPython's layout, ending with the "Fatal Python error: ..." line. In unguarded mode the sink
// prints and aborts; in guarded mode it records the error and returns, and the allocator then
// leaves the block untouched (leaked) and returns a safe value (nullptr from realloc).
class MemoryErrorSink {
 public:
  virtual void memory_corruption(const std::string& fatal, const std::string& report) = 0;

 protected:
  ~MemoryErrorSink() = default;
};

// State of an address as a block start (the pointer an allocation function returned).
enum class BlockState : uint8_t {
  Live,     // handed out and not freed
  Freed,    // a block start in an arena this allocator still holds, not live; or the start of a
            // raw block given back to malloc and not handed out since (its memory is not ours)
  Foreign,  // not a block start of ours (or memory already given back to the system)
};

struct SizeClassStats {
  unsigned size_class;  // 0..31
  unsigned block_size;  // 16 .. 512
  size_t pools;         // pools currently carved for this class (used + full)
  size_t blocks_in_use;
  size_t blocks_available;
};

struct MallocStats {
  AllocatorKind kind;
  // The counters: allocated_blocks, arenas_allocated_total, ... (RCL_MALLOC_STATS_FIELDS).
#define RCL_X(field) size_t field;
  RCL_MALLOC_STATS_FIELDS(RCL_X)
#undef RCL_X
  SizeClassStats classes[32];
  unsigned nclasses;        // entries used in `classes` (classes with pools only)
};

// One line of sys._debugmallocstats()'s free list section (CPython's _PyDebugAllocatorStats).
void debug_allocator_stats(std::string& out, const char* block_name, int num_blocks, size_t sizeof_block);

class Allocator {
 public:
  Allocator(const AllocatorOptions& options, MemoryErrorSink& sink);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // malloc and free are inline: the common case (a pop from / push onto the free list of a pool
  // that stays USED) runs here; everything else is the out-of-line *_slow path.
  inline void* malloc(MemDomain domain, size_t size);
  void* calloc(MemDomain domain, size_t nelem, size_t elsize);
  void* realloc(MemDomain domain, void* p, size_t size);
  inline void free(MemDomain domain, void* p);

  // Guarded-mode queries: exact, from the allocator's own metadata.
  BlockState block_state(const void* p) const;
  // True when [p, p+n) lies inside memory this allocator owns right now (an arena it holds,
  // or a live raw block). Reading there cannot fault.
  bool contains(const void* p, size_t n) const;
  // True when [p, p+n) lies inside one live block (the allocator's own metadata -- pool
  // headers, the free list links in freed blocks, the debug hooks' size word and API byte -- is
  // never writable). Writing there cannot corrupt the allocator.
  // Where the block is, when it says true: its start and size (debug hooks' bytes included).
  bool writable(const void* p, size_t n, uintptr_t* block = nullptr, size_t* block_size = nullptr) const;
  // Requested size of a live block (debug hooks know it exactly; otherwise the block size).
  size_t usable_size(const void* p) const;

  size_t allocated_blocks() const;
  MallocStats stats() const;
  std::string debugmallocstats() const;  // sys._debugmallocstats()'s pymalloc part, CPython's layout
  // Checks every pool and arena invariant; on failure returns false and says why.
  bool validate(std::string* why) const;

  AllocatorKind kind() const;
  struct Impl;

 private:
  void* malloc_slow(MemDomain domain, size_t size);     // any request
  void* malloc_small_slow(size_t size);                 // a pymalloc request the fast path missed
  void free_slow(MemDomain domain, void* p);            // any pointer
  void free_in_arena(void* p);                          // p is inside an arena (address_in_range)
  obmalloc::AllocatorHot* hot_;  // == impl_ (Impl derives from AllocatorHot)
  Impl* impl_;
};

// ==================================================================================
// Inline fast paths (the common case of CPython's pymalloc_alloc / pymalloc_free)
// ==================================================================================
//
// malloc: size class lookup, the head pool of usedpools[class], pop its free block (carving the
// next virgin block when the popped block's link is NULL, as pymalloc_pool_extend does), set the
// live bit. A pool that would become FULL goes to the slow path.
// free: radix-tree lookup, the live bit must be set (else: the slow path reports it), push onto
// the pool's free list when the pool stays USED (it was not FULL and does not become EMPTY).
// Any other case (carving, FULL/EMPTY transitions, new pools/arenas, raw blocks, debug hooks,
// errors) goes to the slow path, which redoes the whole operation from the unchanged state.
RCL_ALWAYS_INLINE void* Allocator::malloc(MemDomain domain, size_t size) {
  using namespace obmalloc;
  AllocatorHot& h = *hot_;
  if (RCL_LIKELY(domain != MemDomain::Raw && size - 1 < h.fast_limit)) {
    unsigned cls = SIZE2INDEX(size);
#if defined(__GNUC__)
    if (cls >= NB_SMALL_SIZE_CLASSES) __builtin_unreachable();  // fast_limit <= 512
#endif
    poolp pool = h.usedpools[cls + cls];
    block* bp = pool->freeblock;
    // For an empty ring, `pool` is the sentinel: its nextpool is itself.
    if (RCL_LIKELY(pool != pool->nextpool)) {
      block* next = link_of(bp);
      if (RCL_UNLIKELY(next == nullptr)) {
        // pymalloc_pool_extend's common case: carve the next virgin block (its link = NULL).
        // When none is left the pool turns FULL: that is the slow path's job.
        unsigned off = pool->nextoffset;
        if (RCL_UNLIKELY(off > pool->maxnextoffset)) return malloc_small_slow(size);
        next = reinterpret_cast<block*>(pool) + off;
        pool->nextoffset = off + INDEX2SIZE(cls);
        link_of(next) = nullptr;
      }
      pool->freeblock = next;
      ++pool->ref.count;
      h.arenas[pool->arenaindex].live[live_word_index(bp)] |= live_bit(bp);
      return bp;
    }
    return malloc_small_slow(size);
  }
  return malloc_slow(domain, size);
}

RCL_ALWAYS_INLINE void Allocator::free(MemDomain domain, void* p) {
  using namespace obmalloc;
  AllocatorHot& h = *hot_;
  if (RCL_LIKELY(h.fast_limit != 0 && address_in_range(h.arena_map_root, p))) {  // NULL: never in range
    poolp pool = POOL_ADDR(p);
    uint64_t& word = h.arenas[pool->arenaindex].live[live_word_index(p)];
    uint64_t bit = live_bit(p);
    block* lastfree = pool->freeblock;
    if (RCL_LIKELY((word & bit) && lastfree != nullptr && pool->ref.count > 1)) {
      word &= ~bit;
      link_of(static_cast<block*>(p)) = lastfree;
      pool->freeblock = static_cast<block*>(p);
      --pool->ref.count;
      return;
    }
    free_in_arena(p);
    return;
  }
  free_slow(domain, p);
}

RCL_END_NAMESPACE
