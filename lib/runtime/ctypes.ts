/** The `ctypes` facade. */
import type { Address } from '../binding.js';
import { nativeOf, type Runtime } from './runtime.js';
import { wrapAddress, type Ref } from './ref.js';
import { trackCtypes } from './track.js';

/** `ctypes.c_long.from_address(addr)`: the signed 64-bit word at addr. */
export interface CLong {
  /** Reads (or, assigned, writes) the word: a number when it is a safe integer, else a bigint. */
  value: number | bigint;
}

/** Marker for `ctypes.cast(addr, ctypes.py_object)`. */
export interface PyObjectType {
  readonly __ctype__: 'py_object';
}

/** What `cast(addr, py_object)` returns: `.value` is a NEW reference each time it is read. */
export interface PyObjectCast {
  readonly value: Ref;
}

/** `ctypes`, the two things the talk uses. */
export class CtypesModule {
  /** The py_object type marker for {@link cast}. */
  readonly py_object: PyObjectType = Object.freeze({ __ctype__: 'py_object' as const });
  readonly c_long: { from_address(addr: Address): CLong };
  readonly c_ssize_t: { from_address(addr: Address): CLong };
  readonly #rt: Runtime;
  /** Made by the runtime (not for user code). */
  constructor(rt: Runtime) {
    this.#rt = rt;
    const from_address = (addr: Address): CLong => {
      const n = nativeOf(rt);
      return {
        get value() {
          return n.readWord(addr);
        },
        set value(v: number | bigint) {
          if (rt.tracking) trackCtypes(rt, 'writeWord', [addr, v], (a: Address, x: number | bigint) => n.writeWord(a, x));
          else n.writeWord(addr, v);
        },
      };
    };
    this.c_long = { from_address };
    this.c_ssize_t = { from_address };
  }
  /** ctypes.cast(addr, py_object): reading `.value` increfs and returns a new Ref. */
  cast(addr: Address, type: PyObjectType): PyObjectCast {
    if (type !== this.py_object) throw new TypeError('only cast(addr, ctypes.py_object) is supported');
    const rt = this.#rt;
    return {
      get value() {
        if (rt.tracking) return trackCtypes(rt, 'castValue', [addr], (a: Address) => wrapAddress(rt, nativeOf(rt).cast(a)));
        return wrapAddress(rt, nativeOf(rt).cast(addr));
      },
    };
  }
}
