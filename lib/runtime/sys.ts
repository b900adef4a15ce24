/** The `sys` facade. */
import type { AllocatorName } from '../binding.js';
import { nativeOf, type Runtime } from './runtime.js';
import { addressOf, type Ref } from './ref.js';

/** One size class of {@link MallocStats} (a line of the per-class table of debugmallocstats). */
export interface SizeClassStats {
  readonly sizeClass: number;
  /** Block size in bytes: (sizeClass + 1) * 16. */
  readonly size: number;
  readonly pools: number;
  readonly blocksInUse: number;
  readonly availableBlocks: number;
}

/** `sys._debugmallocstats()` as data ({@link SysModule.mallocStats}): the same facts as the text. */
export interface MallocStats {
  readonly allocator: AllocatorName;
  /** sys.getallocatedblocks(). */
  readonly allocated_blocks: number;
  readonly arenas_allocated_total: number;
  readonly arenas_reclaimed: number;
  readonly arenas_highwater: number;
  readonly arenas_allocated_current: number;
  readonly bytes_in_allocated_blocks: number;
  readonly bytes_in_available_blocks: number;
  readonly unused_pools: number;
  readonly bytes_lost_to_pool_headers: number;
  readonly bytes_lost_to_quantization: number;
  readonly bytes_lost_to_arena_alignment: number;
  readonly arena_map_mid_nodes: number;
  readonly arena_map_bot_nodes: number;
  /** Live blocks of the raw allocator (requests over 512 bytes, of 0 bytes, and the raw domain). */
  readonly raw_blocks: number;
  readonly raw_bytes: number;
  /** Size classes with at least one pool. */
  readonly classes: readonly SizeClassStats[];
  /** Objects parked on CPython's free lists; `tuple[i]` counts tuples of i + 1 items. */
  readonly freeLists: { readonly dict: number; readonly float: number; readonly list: number; readonly tuple: readonly number[] };
}

/** `sys`: refcounts, sizes, the debug build's totals, allocator statistics. */
export class SysModule {
  readonly #rt: Runtime;
  /** Made by the runtime (not for user code). */
  constructor(rt: Runtime) {
    this.#rt = rt;
  }
  /** sys.getrefcount(obj): ob_refcnt + 1 (the argument); 4294967295 for immortals (3.12). */
  getrefcount(ref: Ref): number | bigint {
    return nativeOf(this.#rt).getrefcount(addressOf(ref, this.#rt));
  }
  /** sys.getsizeof(obj): __sizeof__ + the GC pre-header. */
  getsizeof(ref: Ref): number {
    return nativeOf(this.#rt).sizeof(addressOf(ref, this.#rt));
  }
  /** sys.gettotalrefcount() — debug build only (ERR_NOT_IN_BUILD elsewhere, raised by the
   * native core, as CPython's release builds have no such function). */
  gettotalrefcount(): number {
    return nativeOf(this.#rt).refTotal();
  }
  /** The `-X showrefcount` line: `[N refs, M blocks]` — debug build only. */
  showrefcount(): string {
    return nativeOf(this.#rt).showrefcount();
  }
  /** Py_STATS object counters (increfs, decrefs, allocations...) — debug build only. */
  stats(): Record<string, number> {
    return nativeOf(this.#rt).stats();
  }
  /** sys.getallocatedblocks(). */
  getallocatedblocks(): number {
    return nativeOf(this.#rt).allocatedBlocks();
  }
  /** sys._debugmallocstats() text (CPython writes it to stderr; here it is returned). */
  debugmallocstats(): string {
    return nativeOf(this.#rt).debugmallocstats();
  }
  /** Live heap objects by type name (guarded runtimes: the registry of live objects; the
   * static singletons and types are left out): how many, and the sum of their refcounts
   * (immortal objects count no references) and how many are immortal (interned strings).
   * The native core throws ERR_NOT_IN_BUILD when unguarded (no registry is kept). */
  census(): Record<string, { objects: number; refs: number; immortal: number }> {
    const c = nativeOf(this.#rt).census();
    const out: Record<string, { objects: number; refs: number; immortal: number }> = {};
    for (const [name, [objects, refs, immortal]] of Object.entries(c)) out[name] = { objects, refs, immortal };
    return out;
  }
  /** The allocator's statistics and the free lists as data (what debugmallocstats() prints). */
  mallocStats(): MallocStats {
    return nativeOf(this.#rt).mallocStats() as unknown as MallocStats;
  }
}
