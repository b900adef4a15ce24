/** weakref.ref objects. */
import { nativeOf, type Runtime } from './runtime.js';
import { addressOf, wrapAddress, type Ref } from './ref.js';

/** A weakref object (a Ref to it) with `deref()`. */
export class WeakRef_ implements Disposable {
  /** The weakref object itself. */
  readonly ref: Ref;
  readonly #rt: Runtime;
  /** Made by the runtime (not for user code). */
  constructor(rt: Runtime, ref: Ref) {
    this.#rt = rt;
    this.ref = ref;
  }
  /** wr(): a new reference to the referent, or to None once it is gone. */
  deref(): Ref {
    return wrapAddress(this.#rt, nativeOf(this.#rt).weakrefGet(addressOf(this.ref)));
  }
  /** True once the referent is gone. */
  get dead(): boolean {
    using r = this.deref();
    return r.isNone;
  }
  /** Releases the weakref object. */
  release(): void {
    this.ref.release();
  }
  [Symbol.dispose](): void {
    this.ref[Symbol.dispose]();
  }
}
