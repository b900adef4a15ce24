/** Classes made by {@link Runtime.defineClass}. */
import type { Address } from '../binding.js';
import { nativeOf, nameSlotOf, type Runtime } from './runtime.js';
import { Ref, addressOf, wrapAddress } from './ref.js';
import type { PyInput } from './convert.js';
import { IO_RUNTIME, PACKED_KINDS, PACKED_MAX_PAIRS } from '../schema.js';

/** Options of {@link Runtime.defineClass}. */
export interface ClassOptions {
  /** Module name shown in reprs (`<__main__.A object at 0x...>`). */
  readonly module?: string;
  /**
   * `__del__` (PEP 442 tp_finalize): runs at most once per object, from dealloc or from a
   * collection. `self` is a Ref owned by the call; keep `self.dup()` (or store self in a
   * container) to resurrect the object.
   */
  readonly finalize?: (self: Ref) => void;
  /** A legacy `tp_del`: objects of this class in a cycle are uncollectable (gc.garbage). */
  readonly legacyDel?: (self: Ref) => void;
}

/** A class made by {@link Runtime.defineClass}: a heap type whose instances are GC-tracked. */
export class PyClass {
  /** The class object itself (borrowed: the class handle owns it). */
  readonly ref: Ref;
  readonly name: string;
  readonly #rt: Runtime;
  // The name slots of the last attributes new() was given, by position: `C.new({ x, y })` in a
  // loop passes the same names in the same order every time, and comparing an internalized
  // string with the one remembered is cheaper than the runtime's name map (two hash lookups
  // were a tenth of a create+drop).
  readonly #names: string[] = [];
  readonly #slots: number[] = [];
  /** Made by the runtime (not for user code). */
  constructor(rt: Runtime, addr: Address, name: string) {
    this.#rt = rt;
    this.ref = new Ref(rt, addr, true);
    this.name = name;
  }
  /** id(cls). */
  get id(): Address {
    return this.ref.id;
  }
  /**
   * cls(): a new instance, with optional initial attributes (set in order, as `o = C();
   * o.x = 1; ...`). All-or-nothing: if an attribute cannot be set, the new instance is released
   * and the error thrown. Primitive and Ref values (up to 32) cost one native call in all.
   */
  new(attrs?: { readonly [name: string]: PyInput }): Ref {
    const rt = this.#rt;
    const cls = addressOf(this.ref);
    if (attrs === undefined) return wrapAddress(rt, nativeOf(rt).callClass(cls));
    // One crossing when every value is a primitive or a Ref (the common case): cls() and the
    // setattrs run in a single native call. The pairs go in the environment's packed block (see
    // callClassPacked / callClassIo in the addon); strings and bigints ride along as extra
    // arguments. Nothing between here and the call runs native code that uses the block.
    const packed = nativeOf(rt).ioPacked;
    let extra: (string | bigint)[] | undefined;
    let k = 0;
    for (const name in attrs) {
      const v = attrs[name];
      if (k === MAX_FAST_ATTRS) return this.#newSlow(attrs);
      const at = 1 + 3 * k;
      if (typeof v === 'number') {
        packed[at + 1] = PACKED_NUMBER;
        packed[at + 2] = v;
      } else if (v === null || v === undefined) {
        packed[at + 1] = PACKED_NONE;
      } else if (typeof v === 'boolean') {
        packed[at + 1] = v ? PACKED_TRUE : PACKED_FALSE;
      } else if (v instanceof Ref) {
        packed[at + 1] = PACKED_ADDRESS;
        packed[at + 2] = addressOf(v, rt);
      } else if (typeof v === 'string' || typeof v === 'bigint') {
        packed[at + 1] = PACKED_EXTRA;
        packed[at + 2] = (extra ??= []).push(v) - 1;
      } else {
        return this.#newSlow(attrs);
      }
      packed[at] = name === this.#names[k] ? (this.#slots[k] as number) : this.#remember(k, name);
      k++;
    }
    packed[0] = k;
    const n = nativeOf(rt);
    const io = n.io;
    io[0] = cls;
    io[IO_RUNTIME] = n.ioRuntime;
    // direct calls for one or two extras: a spread call takes V8's slow API-call path
    if (extra === undefined) n.callClassIo();
    else if (extra.length === 1) n.callClassIo(extra[0] as string | bigint);
    else if (extra.length === 2) n.callClassIo(extra[0] as string | bigint, extra[1] as string | bigint);
    else n.callClassIo(...extra);
    return wrapAddress(rt, io[0] as Address);
  }
  #remember(k: number, name: string): number {
    const slot = nameSlotOf(this.#rt, name);
    this.#names[k] = name;
    this.#slots[k] = slot;
    return slot;
  }
  // Values that need converting first (lists, dicts...): cls(), then one setattr each.
  #newSlow(attrs: { readonly [name: string]: PyInput }): Ref {
    const obj = wrapAddress(this.#rt, nativeOf(this.#rt).callClass(addressOf(this.ref)));
    try {
      for (const k in attrs) obj.setattr(k, attrs[k]);
    } catch (e) {
      obj.release();
      throw e;
    }
    return obj;
  }
}

// callClassPacked: pairs per call, and the kinds of a packed value (native/core/schema.h).
const MAX_FAST_ATTRS = PACKED_MAX_PAIRS;
const PACKED_NUMBER = PACKED_KINDS.number;
const PACKED_ADDRESS = PACKED_KINDS.address;
const PACKED_NONE = PACKED_KINDS.none;
const PACKED_TRUE = PACKED_KINDS.true;
const PACKED_FALSE = PACKED_KINDS.false;
const PACKED_EXTRA = PACKED_KINDS.extra;
