// schema.h — every constant both sides of the boundary use, defined once. The core builds its
// enums from these lists, the addon exports them (the module's `constants`), and lib/schema.ts
// keeps the TypeScript `as const` copies that test/schema.test.ts compares with every build.
//
// Each list is an X-macro: X(enumerator, name as JS sees it[, value]). Adding an entry here is
// the whole change on the native side (a new object kind: one RCL_TYPE_KINDS line, then its
// name in lib/schema.ts's OBJECT_KINDS).
#pragma once

#include <cstddef>

// The object kinds (PyTypeObject::tp_kind, Ref.kind in TypeScript). Instance: an instance of a
// heap class made by defineClass.
#define RCL_TYPE_KINDS(X)             \
  X(Type, "type")                     \
  X(Object, "object")                 \
  X(None, "None")                     \
  X(Bool, "bool")                     \
  X(Int, "int")                       \
  X(Float, "float")                   \
  X(Str, "str")                       \
  X(Tuple, "tuple")                   \
  X(List, "list")                     \
  X(Dict, "dict")                     \
  X(Ellipsis, "ellipsis")             \
  X(NotImplemented, "NotImplemented") \
  X(WeakRef, "weakref")               \
  X(Instance, "instance")             \
  X(Set, "set")                       \
  X(FrozenSet, "frozenset")

// gc.set_debug flags: X(name without DEBUG_, value).
#define RCL_GC_DEBUG_FLAGS(X) \
  X(STATS, 1)                 \
  X(COLLECTABLE, 2)           \
  X(UNCOLLECTABLE, 4)         \
  X(SAVEALL, 32)              \
  X(LEAK, 2 | 4 | 32) /* COLLECTABLE | UNCOLLECTABLE | SAVEALL */

// PYTHONMALLOC equivalents (AllocatorKind), and where pymalloc gets its arenas (ArenaSource).
#define RCL_ALLOCATORS(X)              \
  X(Pymalloc, "pymalloc")              \
  X(Malloc, "malloc")                  \
  X(PymallocDebug, "pymalloc_debug")   \
  X(MallocDebug, "malloc_debug")
#define RCL_ARENA_SOURCES(X) \
  X(Mmap, "mmap")            \
  X(Malloc, "malloc")

// callClassPacked's argument block (a Float64Array lib/ fills before the call):
//   packed[0] = n pairs (at most RCL_PACKED_MAX_PAIRS); pair k at 1 + 3k: [name slot, kind, value]
// where kind is one of these: a number (int when integral and inside int64, else float), an
// address, None, True, False, or the JS primitive extra[value] (strings, bigints).
#define RCL_PACKED_MAX_PAIRS 32
#define RCL_PACKED_KINDS(X) \
  X(Number, "number", 0)    \
  X(Address, "address", 1)  \
  X(None, "none", 2)        \
  X(True, "true", 3)        \
  X(False, "false", 4)      \
  X(Extra, "extra", 5)

// The hot paths' argument block `io` (a Float64Array of RCL_IO_DOUBLES, one per environment,
// shared by all runtimes of a build, as the `*Io` functions are): lib/ writes a call's numbers
// and the runtime's index (io[4] = ioRuntime) there and calls the `*Io` function with no JS
// argument; the function reads them all before it runs anything and writes its result (an
// address, a length) to io[0] after everything else, so user code that a call runs (a
// finalizer) may use the block too. Per function (kind: RCL_PACKED_KINDS, `extra` excepted):
//   increfIo / decrefIo: io[0] = address          lenIo: io[0] = address -> io[0] = len
//   getattrIo: io[0] = address, io[1] = name slot -> io[0] = new reference
//   setattrIo: io[0] = address, io[1] = name slot, io[2] = kind, io[3] = value
//   appendIo:  io[0] = list, io[1] = kind, io[2] = value
//   getitemIo: io[0] = list or tuple, io[1] = index -> io[0] = new reference
#define RCL_IO_DOUBLES 5
#define RCL_IO_RUNTIME 4

// The counters of MallocStats (size_t each), in order; mallocStats() reports them by name.
//   allocated_blocks: sys.getallocatedblocks(): pymalloc blocks + raw blocks;
//   raw_blocks: live blocks of the raw allocator (> 512 bytes, 0 bytes, raw domain).
#define RCL_MALLOC_STATS_FIELDS(X) \
  X(allocated_blocks)              \
  X(arenas_allocated_total)        \
  X(arenas_reclaimed)              \
  X(arenas_highwater)              \
  X(arenas_allocated_current)      \
  X(bytes_in_allocated_blocks)     \
  X(bytes_in_available_blocks)     \
  X(unused_pools)                  \
  X(bytes_lost_to_pool_headers)    \
  X(bytes_lost_to_quantization)    \
  X(bytes_lost_to_arena_alignment) \
  X(arena_map_mid_nodes)           \
  X(arena_map_bot_nodes)           \
  X(raw_blocks)                    \
  X(raw_bytes)

// The stable error codes: X(enumerator, JS code). lib/errors.ts lists the same codes.
#define RCL_ERROR_CODES(X)                        \
  X(InvalidAddress, "ERR_INVALID_ADDRESS")        \
  X(UseAfterFree, "ERR_USE_AFTER_FREE")           \
  X(NegativeRefcount, "ERR_NEGATIVE_REFCOUNT")    \
  X(Released, "ERR_RELEASED")                     \
  X(WrongRuntime, "ERR_WRONG_RUNTIME")            \
  X(RuntimeClosed, "ERR_RUNTIME_CLOSED")          \
  X(Type, "ERR_TYPE")                             \
  X(Attribute, "ERR_ATTRIBUTE")                   \
  X(Index, "ERR_INDEX")                           \
  X(Key, "ERR_KEY")                               \
  X(Value, "ERR_VALUE")                           \
  X(NotInBuild, "ERR_NOT_IN_BUILD")               \
  X(MemoryCorruption, "ERR_MEMORY_CORRUPTION")    \
  X(RefcountTooSmall, "ERR_REFCOUNT_TOO_SMALL")   \
  X(Overflow, "ERR_OVERFLOW")                     \
  X(NoMemory, "ERR_NO_MEMORY")                    \
  X(RuntimeBusy, "ERR_RUNTIME_BUSY")              \
  X(Recursion, "ERR_RECURSION")
