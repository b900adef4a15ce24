/**
 * The constants both sides of the native boundary use, as TypeScript needs them at compile time.
 * The native side defines each list once (native/core/schema.h) and every binding exports it as
 * `constants`; test/schema.test.ts fails when a list here and a build's disagree. Adding an
 * object kind: one line in schema.h's RCL_TYPE_KINDS, its name here in OBJECT_KINDS.
 */

/** The object kinds, as `Ref.kind` reports them (RCL_TYPE_KINDS). */
export const OBJECT_KINDS = [
  'type',
  'object',
  'None',
  'bool',
  'int',
  'float',
  'str',
  'tuple',
  'list',
  'dict',
  'ellipsis',
  'NotImplemented',
  'weakref',
  'instance',
  'set',
  'frozenset',
] as const;
/** One of {@link OBJECT_KINDS}. */
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/** gc.set_debug flags (RCL_GC_DEBUG_FLAGS). */
export const GC_DEBUG_FLAGS = {
  DEBUG_STATS: 1,
  DEBUG_COLLECTABLE: 2,
  DEBUG_UNCOLLECTABLE: 4,
  DEBUG_SAVEALL: 32,
  DEBUG_LEAK: 38,
} as const;

/** Allocator choices, as CPython's PYTHONMALLOC (RCL_ALLOCATORS). */
export const ALLOCATORS = ['pymalloc', 'malloc', 'pymalloc_debug', 'malloc_debug'] as const;
/** Where pymalloc gets its 1 MiB arenas (RCL_ARENA_SOURCES). */
export const ARENA_ALLOCATORS = ['mmap', 'malloc'] as const;

/** callClassPacked: the kind of a packed value (RCL_PACKED_KINDS), and pairs per call. */
export const PACKED_KINDS = { number: 0, address: 1, none: 2, true: 3, false: 4, extra: 5 } as const;
export const PACKED_MAX_PAIRS = 32;
/** The *Io functions' block (RCL_IO_DOUBLES): doubles in it, and where the runtime's index goes. */
export const IO_DOUBLES = 5;
export const IO_RUNTIME = 4;

/** The counters of `sys.mallocStats()`, in the native order (RCL_MALLOC_STATS_FIELDS). */
export const MALLOC_STATS_FIELDS = [
  'allocated_blocks',
  'arenas_allocated_total',
  'arenas_reclaimed',
  'arenas_highwater',
  'arenas_allocated_current',
  'bytes_in_allocated_blocks',
  'bytes_in_available_blocks',
  'unused_pools',
  'bytes_lost_to_pool_headers',
  'bytes_lost_to_quantization',
  'bytes_lost_to_arena_alignment',
  'arena_map_mid_nodes',
  'arena_map_bot_nodes',
  'raw_blocks',
  'raw_bytes',
] as const;
/** One of {@link MALLOC_STATS_FIELDS}. */
export type MallocStatsField = (typeof MALLOC_STATS_FIELDS)[number];

/** @internal The `constants` export of a binding. */
export interface NativeConstants {
  readonly kinds: readonly string[];
  readonly allocators: readonly string[];
  readonly arenaAllocators: readonly string[];
  readonly errorCodes: readonly string[];
  readonly mallocStatsFields: readonly string[];
  readonly gcDebugFlags: Readonly<Record<string, number>>;
  readonly packedKinds: Readonly<Record<string, number>>;
  readonly packedMaxPairs: number;
  readonly ioDoubles: number;
  readonly ioRuntime: number;
}
