/** The `gc` module facade. */
import { nativeOf, writeStderrOf, type Runtime } from './runtime.js';
import { Ref, addressOf, wrapAddress } from './ref.js';
import { exceptionIgnored } from './util.js';
import { GC_DEBUG_FLAGS } from '../schema.js';

/** The gc callback info, as CPython passes it. */
export interface GcCallbackInfo {
  readonly generation: number;
  readonly collected: number;
  readonly uncollectable: number;
}
/** A gc callback: `cb(phase, info)`. */
export type GcCallback = (phase: 'start' | 'stop', info: GcCallbackInfo) => void;

/** The `gc` module, camelCased. */
export class GcModule {
  readonly DEBUG_STATS = GC_DEBUG_FLAGS.DEBUG_STATS;
  readonly DEBUG_COLLECTABLE = GC_DEBUG_FLAGS.DEBUG_COLLECTABLE;
  readonly DEBUG_UNCOLLECTABLE = GC_DEBUG_FLAGS.DEBUG_UNCOLLECTABLE;
  readonly DEBUG_SAVEALL = GC_DEBUG_FLAGS.DEBUG_SAVEALL;
  readonly DEBUG_LEAK = GC_DEBUG_FLAGS.DEBUG_LEAK;
  /** gc.callbacks: called with ('start' | 'stop', info) around every collection. */
  readonly callbacks: GcCallback[] = [];
  readonly #rt: Runtime;
  #garbage: Ref | undefined;
  /** Made by the runtime (not for user code). */
  constructor(rt: Runtime) {
    this.#rt = rt;
    nativeOf(rt).setGcDispatch((phase, generation, collected, uncollectable) => {
      for (const cb of [...this.callbacks]) {
        try {
          cb(phase as 'start' | 'stop', { generation, collected, uncollectable });
        } catch (err) {
          writeStderrOf(rt, exceptionIgnored('<gc callback>', err));
        }
      }
    });
  }
  /** gc.collect(generation = 2): the number of unreachable objects found. */
  collect(generation = 2): number {
    return nativeOf(this.#rt).gcCollect(generation);
  }
  enable(): void {
    nativeOf(this.#rt).gcSetEnabled(true);
  }
  disable(): void {
    nativeOf(this.#rt).gcSetEnabled(false);
  }
  isEnabled(): boolean {
    return nativeOf(this.#rt).gcIsEnabled();
  }
  getCount(): [number, number, number] {
    return nativeOf(this.#rt).gcGetCount();
  }
  getThreshold(): [number, number, number] {
    return nativeOf(this.#rt).gcGetThreshold();
  }
  setThreshold(threshold0: number, threshold1?: number, threshold2?: number): void {
    nativeOf(this.#rt).gcSetThreshold(threshold0, threshold1, threshold2);
  }
  getStats(): { collections: number; collected: number; uncollectable: number }[] {
    return nativeOf(this.#rt).gcGetStats();
  }
  /** gc.get_objects(generation): new references to every tracked object (of a generation). */
  getObjects(generation?: number | null): Ref[] {
    return nativeOf(this.#rt).gcGetObjects(generation ?? undefined).map((a) => wrapAddress(this.#rt, a));
  }
  getReferrers(...objs: Ref[]): Ref[] {
    return nativeOf(this.#rt).gcGetReferrers(objs.map((o) => addressOf(o, this.#rt))).map((a) => wrapAddress(this.#rt, a));
  }
  getReferents(...objs: Ref[]): Ref[] {
    return nativeOf(this.#rt).gcGetReferents(objs.map((o) => addressOf(o, this.#rt))).map((a) => wrapAddress(this.#rt, a));
  }
  isTracked(obj: Ref): boolean {
    return nativeOf(this.#rt).gcIsTracked(addressOf(obj, this.#rt));
  }
  isFinalized(obj: Ref): boolean {
    return nativeOf(this.#rt).gcIsFinalized(addressOf(obj, this.#rt));
  }
  /** Which generation holds obj: 0..2, 3 = permanent, -1 = untracked. */
  generationOf(obj: Ref): number {
    return nativeOf(this.#rt).gcGenerationOf(addressOf(obj, this.#rt));
  }
  freeze(): void {
    nativeOf(this.#rt).gcFreeze();
  }
  unfreeze(): void {
    nativeOf(this.#rt).gcUnfreeze();
  }
  getFreezeCount(): number {
    return nativeOf(this.#rt).gcGetFreezeCount();
  }
  getDebug(): number {
    return nativeOf(this.#rt).gcGetDebug();
  }
  setDebug(flags: number): void {
    nativeOf(this.#rt).gcSetDebug(flags);
  }
  /** gc.garbage: the runtime's list (borrowed; mutate it in place). */
  get garbage(): Ref {
    if (this.#garbage === undefined) {
      // gcGarbage() returns a new reference; the runtime owns the list for its whole life, so the
      // borrowed Ref gives that reference straight back (it used to keep it: one leaked reference).
      const a = nativeOf(this.#rt).gcGarbage();
      nativeOf(this.#rt).decref(a);
      this.#garbage = new Ref(this.#rt, a, true);
    }
    return this.#garbage;
  }
}
