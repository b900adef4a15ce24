/**
 * The scenario's Python names, so that a picture can draw them: `a = A()` binds `a`, `del a`
 * unbinds it, a function call opens a frame whose names die at return.
 *
 * ```ts
 * const { bind, del, call } = py;
 * const a = bind('a', A());        // a = A()
 * const a_id = bind('a_id', a.id); // a_id = id(a)   (a number: drawn as an id, not a reference)
 * del(a);                          // del a
 * const x = call(() => { ... });   // a function's locals die at return
 * ```
 * Binding changes nothing in the heap: it only records which Ref (or address) a name holds.
 */
import type { Address, Ref } from '../runtime/index.js';

/** What a name holds: a Ref (a strong reference) or an address (an `id(...)` kept as an int). */
export type NameValue = Ref | Address;

export class Names {
  readonly #frames: Map<string, NameValue>[] = [new Map()];
  readonly #bound: [string, Address][] = [];

  /** `name = value` in the innermost frame; returns value. */
  bind<T extends NameValue>(name: string, value: T): T {
    (this.#frames[this.#frames.length - 1] as Map<string, NameValue>).set(name, value);
    if (typeof value !== 'number') this.#bound.push([name, value.id]);
    return value;
  }

  /** Every (name, object address) a name was ever bound to a Ref with, in order. */
  boundObjects(): readonly (readonly [string, Address])[] {
    return this.#bound;
  }

  /** `del name`: releases the Ref and unbinds every name holding it (innermost frame first). */
  del(ref: Ref): void {
    ref.release();
    this.unbind(ref);
  }

  /** Forgets the names holding `value`, without releasing anything. */
  unbind(value: NameValue): void {
    for (let i = this.#frames.length - 1; i >= 0; i--) {
      const frame = this.#frames[i] as Map<string, NameValue>;
      for (const [k, v] of frame) if (v === value) frame.delete(k);
    }
  }

  /** Calls fn in a new frame: the names it binds are dropped when it returns (or throws). */
  call<T>(fn: () => T): T {
    this.#frames.push(new Map());
    try {
      return fn();
    } finally {
      this.#frames.pop();
    }
  }

  /** The visible names now: inner frames shadow outer ones; released Refs are left out. */
  current(): Record<string, NameValue> {
    const out: Record<string, NameValue> = {};
    for (const frame of this.#frames) {
      for (const [k, v] of frame) {
        if (typeof v === 'number' || !v.released) out[k] = v;
        else delete out[k];
      }
    }
    return out;
  }
}
