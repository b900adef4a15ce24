/** The C API on raw addresses. */
import type { Address } from '../binding.js';
import { nativeOf, type Runtime } from './runtime.js';

/** The C API on raw addresses. */
export class CApi {
  /** Py_INCREF(op). */
  readonly Py_INCREF: (op: Address) => void;
  /** Py_DECREF(op). */
  readonly Py_DECREF: (op: Address) => void;
  /** Py_XINCREF(op): 0 is NULL. */
  readonly Py_XINCREF: (op: Address) => void;
  /** Py_XDECREF(op): 0 is NULL. */
  readonly Py_XDECREF: (op: Address) => void;
  /** Py_IncRef(op): the exported, NULL-tolerant function. */
  readonly Py_IncRef: (op: Address) => void;
  /** Py_DecRef(op): the exported, NULL-tolerant function. */
  readonly Py_DecRef: (op: Address) => void;
  /** Py_REFCNT(op). */
  readonly Py_REFCNT: (op: Address) => number | bigint;
  /**
   * Many increfs in one call. Guarded: every address is checked first, and one bad address
   * (`ERR_INVALID_ADDRESS` / `ERR_USE_AFTER_FREE`, its message starting `element N:`) leaves
   * every count untouched.
   */
  readonly increfMany: (ops: Float64Array | BigUint64Array) => void;
  /**
   * Many decrefs in one call, in order. Guarded: checked first as {@link increfMany}; then an
   * element whose object an earlier element freed (its own last reference, or a container
   * releasing it) is `ERR_USE_AFTER_FREE` as it would be one call at a time: the elements
   * before it stay applied, the rest are not.
   */
  readonly decrefMany: (ops: Float64Array | BigUint64Array) => void;
  readonly #rt: Runtime;
  /** Made by the runtime (not for user code). */
  constructor(rt: Runtime) {
    this.#rt = rt;
    const n = nativeOf(rt);
    this.Py_INCREF = n.incref;
    this.Py_DECREF = n.decref;
    this.Py_XINCREF = n.xincref;
    this.Py_XDECREF = n.xdecref;
    this.Py_IncRef = n.xincref;
    this.Py_DecRef = n.xdecref;
    this.Py_REFCNT = n.refcnt;
    this.increfMany = n.increfMany;
    this.decrefMany = n.decrefMany;
  }
  /** Py_NewRef(op): incref and return op. */
  Py_NewRef(op: Address): Address {
    nativeOf(this.#rt).incref(op);
    return op;
  }
  /** Py_XNewRef(op): NULL (0) passes through. */
  Py_XNewRef(op: Address): Address {
    nativeOf(this.#rt).xincref(op);
    return op;
  }
  /** Py_SET_REFCNT(op, n): a no-op on immortal objects (3.12). */
  Py_SET_REFCNT(op: Address, n: number | bigint): void {
    nativeOf(this.#rt).setRefcnt(op, n);
  }
  /** Py_TYPE(op)->tp_name. */
  Py_TYPE(op: Address): string {
    return nativeOf(this.#rt).typeName(op);
  }
  /** _Py_IsImmortal(op). */
  _Py_IsImmortal(op: Address): boolean {
    return nativeOf(this.#rt).isImmortal(op);
  }
  PyMem_RawMalloc(n: number): Address {
    return nativeOf(this.#rt).memMalloc('r', n);
  }
  PyMem_RawCalloc(nelem: number, elsize: number): Address {
    return nativeOf(this.#rt).memCalloc('r', nelem, elsize);
  }
  PyMem_RawRealloc(p: Address, n: number): Address {
    return nativeOf(this.#rt).memRealloc('r', p, n);
  }
  PyMem_RawFree(p: Address): void {
    nativeOf(this.#rt).memFree('r', p);
  }
  PyMem_Malloc(n: number): Address {
    return nativeOf(this.#rt).memMalloc('m', n);
  }
  PyMem_Calloc(nelem: number, elsize: number): Address {
    return nativeOf(this.#rt).memCalloc('m', nelem, elsize);
  }
  PyMem_Realloc(p: Address, n: number): Address {
    return nativeOf(this.#rt).memRealloc('m', p, n);
  }
  PyMem_Free(p: Address): void {
    nativeOf(this.#rt).memFree('m', p);
  }
  PyObject_Malloc(n: number): Address {
    return nativeOf(this.#rt).memMalloc('o', n);
  }
  PyObject_Calloc(nelem: number, elsize: number): Address {
    return nativeOf(this.#rt).memCalloc('o', nelem, elsize);
  }
  PyObject_Realloc(p: Address, n: number): Address {
    return nativeOf(this.#rt).memRealloc('o', p, n);
  }
  PyObject_Free(p: Address): void {
    nativeOf(this.#rt).memFree('o', p);
  }
  /** Raw bytes at addr (guarded: only memory this runtime owns). */
  readBytes(addr: Address, n: number): Buffer {
    return nativeOf(this.#rt).readBytes(addr, n);
  }
  /** Writes raw bytes at addr. */
  writeBytes(addr: Address, data: Buffer): void {
    nativeOf(this.#rt).writeBytes(addr, data);
  }
  /** Checks every allocator invariant; returns null when valid, else what is wrong. */
  validateHeap(): string | null {
    return nativeOf(this.#rt).memValidate();
  }
}
