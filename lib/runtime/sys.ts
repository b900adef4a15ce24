/** The `sys` facade. */
import type { AllocatorName } from '../binding.js';
import type { MallocStatsField } from '../schema.js';
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

/** The counters of {@link MallocStats}, one per name of MALLOC_STATS_FIELDS (lib/schema.ts):
 * `allocated_blocks` is sys.getallocatedblocks(); `raw_blocks` counts the live blocks of the raw
 * allocator (requests over 512 bytes, of 0 bytes, and the raw domain). */
export type MallocCounters = { readonly [K in MallocStatsField]: number };

/** `sys._debugmallocstats()` as data ({@link SysModule.mallocStats}): the same facts as the text. */
export interface MallocStats extends MallocCounters {
  readonly allocator: AllocatorName;
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
