/** The `gc` module facade. */
import type { Runtime } from './runtime.js';
import { Ref } from './ref.js';
import { exceptionIgnored } from './util.js';

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
  readonly DEBUG_STATS = 1;
  readonly DEBUG_COLLECTABLE = 2;
  readonly DEBUG_UNCOLLECTABLE = 4;
  readonly DEBUG_SAVEALL = 32;
  readonly DEBUG_LEAK = 38;
  /** gc.callbacks: called with ('start' | 'stop', info) around every collection. */
  readonly callbacks: GcCallback[] = [];
  readonly #rt: Runtime;
  #garbage: Ref | undefined;
  /** @internal */
  constructor(rt: Runtime) {
    this.#rt = rt;
    rt.native.setGcDispatch((phase, generation, collected, uncollectable) => {
      for (const cb of [...this.callbacks]) {
        try {
          cb(phase as 'start' | 'stop', { generation, collected, uncollectable });
        } catch (err) {
          rt.writeStderr(exceptionIgnored('<gc callback>', err));
        }
      }
    });
  }
  /** gc.collect(generation = 2): the number of unreachable objects found. */
  collect(generation = 2): number {
    return this.#rt.native.gcCollect(generation);
  }
  enable(): void {
    this.#rt.native.gcSetEnabled(true);
  }
  disable(): void {
    this.#rt.native.gcSetEnabled(false);
  }
  isEnabled(): boolean {
    return this.#rt.native.gcIsEnabled();
  }
  getCount(): [number, number, number] {
    return this.#rt.native.gcGetCount();
  }
  getThreshold(): [number, number, number] {
    return this.#rt.native.gcGetThreshold();
  }
  setThreshold(threshold0: number, threshold1?: number, threshold2?: number): void {
    this.#rt.native.gcSetThreshold(threshold0, threshold1, threshold2);
  }
  getStats(): { collections: number; collected: number; uncollectable: number }[] {
    return this.#rt.native.gcGetStats();
  }
  /** gc.get_objects(generation): new references to every tracked object (of a generation). */
  getObjects(generation?: number | null): Ref[] {
    return this.#rt.native.gcGetObjects(generation ?? undefined).map((a) => this.#rt.wrap(a));
  }
  getReferrers(...objs: Ref[]): Ref[] {
    return this.#rt.native.gcGetReferrers(objs.map((o) => this.#rt.addrOf(o))).map((a) => this.#rt.wrap(a));
  }
  getReferents(...objs: Ref[]): Ref[] {
    return this.#rt.native.gcGetReferents(objs.map((o) => this.#rt.addrOf(o))).map((a) => this.#rt.wrap(a));
  }
  isTracked(obj: Ref): boolean {
    return this.#rt.native.gcIsTracked(this.#rt.addrOf(obj));
  }
  isFinalized(obj: Ref): boolean {
    return this.#rt.native.gcIsFinalized(this.#rt.addrOf(obj));
  }
  /** Which generation holds obj: 0..2, 3 = permanent, -1 = untracked. */
  generationOf(obj: Ref): number {
    return this.#rt.native.gcGenerationOf(this.#rt.addrOf(obj));
  }
  freeze(): void {
    this.#rt.native.gcFreeze();
  }
  unfreeze(): void {
    this.#rt.native.gcUnfreeze();
  }
  getFreezeCount(): number {
    return this.#rt.native.gcGetFreezeCount();
  }
  getDebug(): number {
    return this.#rt.native.gcGetDebug();
  }
  setDebug(flags: number): void {
    this.#rt.native.gcSetDebug(flags);
  }
  /** gc.garbage: the runtime's list (borrowed; mutate it in place). */
  get garbage(): Ref {
    if (this.#garbage === undefined) {
      // gcGarbage() returns a new reference; the runtime owns the list for its whole life, so the
      // borrowed Ref gives that reference straight back (it used to keep it: one leaked reference).
      const a = this.#rt.native.gcGarbage();
      this.#rt.native.decref(a);
      this.#garbage = new Ref(this.#rt, a, true);
    }
    return this.#garbage;
  }
}
