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

RCL_BEGIN_NAMESPACE

// The three allocation domains; the enumerator value is the debug hooks' API id byte.
enum class MemDomain : char { Raw = 'r', Mem = 'm', Obj = 'o' };

// PYTHONMALLOC equivalents.
enum class AllocatorKind : uint8_t { Pymalloc, Malloc, PymallocDebug, MallocDebug };
// Where pymalloc gets its 1 MiB arenas (PyObject_SetArenaAllocator's choice).
enum class ArenaSource : uint8_t { Mmap, Malloc };

struct AllocatorOptions {
  AllocatorKind kind = AllocatorKind::Pymalloc;
  ArenaSource arenas = ArenaSource::Mmap;
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
  Freed,    // inside memory this allocator still owns (an arena), at a block start, not live
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
  size_t allocated_blocks;  // sys.getallocatedblocks(): pymalloc blocks + raw blocks
  size_t arenas_allocated_total;
  size_t arenas_reclaimed;
  size_t arenas_highwater;
  size_t arenas_allocated_current;
  size_t bytes_in_allocated_blocks;
  size_t bytes_in_available_blocks;
  size_t unused_pools;
  size_t bytes_lost_to_pool_headers;
  size_t bytes_lost_to_quantization;
  size_t bytes_lost_to_arena_alignment;
  size_t arena_map_mid_nodes;
  size_t arena_map_bot_nodes;
  size_t raw_blocks;        // live blocks of the raw allocator (> 512 bytes, 0 bytes, raw domain)
  size_t raw_bytes;
  SizeClassStats classes[32];
  unsigned nclasses;        // entries used in `classes` (classes with pools only)
};

class Allocator {
 public:
  Allocator(const AllocatorOptions& options, MemoryErrorSink& sink);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  void* malloc(MemDomain domain, size_t size);
  void* calloc(MemDomain domain, size_t nelem, size_t elsize);
  void* realloc(MemDomain domain, void* p, size_t size);
  void free(MemDomain domain, void* p);

  // Guarded-mode queries: exact, from the allocator's own metadata.
  BlockState block_state(const void* p) const;
  // True when [p, p+n) lies inside memory this allocator owns right now (an arena it holds,
  // or a live raw block). Reading there cannot fault.
  bool contains(const void* p, size_t n) const;
  // True when [p, p+n) lies inside one live block (the allocator's own metadata -- pool
  // headers, the free list links in freed blocks -- is never writable). Writing there cannot
  // corrupt the allocator.
  bool writable(const void* p, size_t n) const;
  // Requested size of a live block (debug hooks know it exactly; otherwise the block size).
  size_t usable_size(const void* p) const;

  size_t allocated_blocks() const;
  MallocStats stats() const;
  std::string debugmallocstats() const;  // sys._debugmallocstats() text, CPython's layout
  // Checks every pool and arena invariant; on failure returns false and says why.
  bool validate(std::string* why) const;

  AllocatorKind kind() const;
  struct Impl;

 private:
  Impl* impl_;
};

RCL_END_NAMESPACE
