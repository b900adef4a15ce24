/**
 * Typed errors. Every error the library throws on purpose is a {@link RefcountError} with a
 * stable `code` (the same list as the native core's `RCL_ERROR_CODES`, checked by a test).
 * Wrong argument types are plain `TypeError`s, as in Node's own APIs.
 */

/**
 * Every code, once: first the native core's, in its order (RCL_ERROR_CODES in
 * native/core/schema.h), then the codes only lib/ raises. test/schema.test.ts checks the list
 * starts with every build's `constants.errorCodes` and that the rest are not native codes.
 */
export const ERROR_CODES = [
  'ERR_INVALID_ADDRESS',
  'ERR_USE_AFTER_FREE',
  'ERR_NEGATIVE_REFCOUNT',
  'ERR_RELEASED',
  'ERR_WRONG_RUNTIME',
  'ERR_RUNTIME_CLOSED',
  'ERR_TYPE',
  'ERR_ATTRIBUTE',
  'ERR_INDEX',
  'ERR_KEY',
  'ERR_VALUE',
  'ERR_NOT_IN_BUILD',
  'ERR_MEMORY_CORRUPTION',
  'ERR_REFCOUNT_TOO_SMALL',
  'ERR_OVERFLOW',
  'ERR_NO_MEMORY',
  'ERR_RUNTIME_BUSY',
  'ERR_RECURSION',
  // raised by the JS loader only (lib/binding.ts: BindingNotFoundError), not in the native list
  'ERR_BINDING_NOT_FOUND',
  // raised by rt.refs only (lib/runtime/refs.ts): the operation needs a guarded runtime
  'ERR_UNGUARDED',
] as const;

/** Stable error codes, in the style of Node's `ERR_*` codes. */
export type RefcountErrorCode = (typeof ERROR_CODES)[number];

/** One event of an object's history in a tracking runtime (`rt.refs.history`). */
export interface HistoryEvent {
  /** Order among all the events of the runtime. */
  readonly seq: number;
  /** alloc / free: the object's birth and death (freed, or parked on a free list); incref /
   * decref: a reference taken or given back through the C API; write: ob_refcnt written
   * directly; op: any other operation of the API that touched the object. */
  readonly kind: 'alloc' | 'op' | 'incref' | 'decref' | 'write' | 'free';
  /** The operation: `rt.list`, `Ref.release`, `capi.Py_DECREF`, `A.new`,
   * `gc collection of generation 2`... (the one running when an allocation or free happened). */
  readonly op: string;
  /** The caller's `file:line:column` (absent for what no user call caused). */
  readonly site?: string;
  /** The refcount before the operation, when the object was alive then. */
  readonly before?: number;
  /** The refcount after it (0 once freed); null while the operation is still running. */
  readonly refcnt: number | null;
  /** A decref through the C API with no C API reference outstanding, or a write that lowered
   * the count: a reference given up that nobody had taken — the extra Py_DECREF. */
  readonly unowned?: true;
  /** The operation threw. */
  readonly failed?: true;
}

/** The record of one object (the latest at an address), kept after it is freed. */
export interface ObjectHistory {
  readonly address: number;
  readonly typeName: string;
  readonly freed: boolean;
  /** The call sites of the C API references taken and not given back. */
  readonly capiHeld: readonly string[];
  readonly events: readonly HistoryEvent[];
  readonly allocated?: HistoryEvent;
  readonly freedBy?: HistoryEvent;
  /** The first decref (or write) that had no owner. */
  readonly unownedDecref?: HistoryEvent;
}

/** `error.provenance` of a tracking runtime's use-after-free or negative refcount. */
export interface Provenance extends ObjectHistory {
  /** The AddressSanitizer-shaped report (also at the end of the error's message). */
  readonly report: string;
}

/** Base class of every error refcount-lab raises on purpose. */
export class RefcountError extends Error {
  /** Stable machine-readable code. */
  readonly code: RefcountErrorCode;
  /**
   * In a tracking runtime (`Runtime.create({ track: true })`), an error about an object's
   * lifetime (ERR_USE_AFTER_FREE, ERR_NEGATIVE_REFCOUNT) says where that object was
   * allocated, where and by which operation it was freed, and which decref had no owner.
   */
  provenance?: Provenance;
  /**
   * The Python exception CPython would raise for the same operation, when there is one
   * (`AttributeError`, `KeyError`, `IndexError`, `TypeError`, `ValueError`...).
   */
  readonly pythonType: string | undefined;
  constructor(code: RefcountErrorCode, message: string, pythonType?: string) {
    super(message);
    this.name = 'RefcountError';
    this.code = code;
    this.pythonType = pythonType;
  }
}

/** The facts CPython's `_Py_NegativeRefcount` prints (debug build). */
export interface NegativeRefcountFacts {
  readonly file: string;
  readonly line: number;
  readonly address: number;
  readonly refcount: number;
  readonly typeName: string;
  /** CPython's whole assertion text (`object address  : ...` lines included). */
  readonly report: string;
}

/** A Py_DECREF on a count that was already <= 0 (debug build, guarded mode). */
export class NegativeRefcountError extends RefcountError implements NegativeRefcountFacts {
  readonly file: string;
  readonly line: number;
  readonly address: number;
  readonly refcount: number;
  readonly typeName: string;
  readonly report: string;
  constructor(code: 'ERR_NEGATIVE_REFCOUNT' | 'ERR_REFCOUNT_TOO_SMALL', message: string, facts: NegativeRefcountFacts) {
    super(code, message);
    this.name = code === 'ERR_NEGATIVE_REFCOUNT' ? 'NegativeRefcountError' : 'RefcountTooSmallError';
    this.file = facts.file;
    this.line = facts.line;
    this.address = facts.address;
    this.refcount = facts.refcount;
    this.typeName = facts.typeName;
    this.report = facts.report;
  }
}

/** The debug allocator hooks found a corrupted block (guarded mode); `.report` is CPython's dump. */
export class MemoryCorruptionError extends RefcountError {
  readonly report: string;
  constructor(message: string, report: string) {
    super('ERR_MEMORY_CORRUPTION', message);
    this.name = 'MemoryCorruptionError';
    this.report = report;
  }
}

/** A trace that cannot be replayed as written (lib/trace.ts): a line that is not the JSON
 * `rt.trace` writes, or one that names a Ref, class, weakref or callback no earlier line
 * defined. */
export class TraceError extends RefcountError {
  /** The trace line it is about (its `seq`, or the 1-based line of the text), when known. */
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super('ERR_VALUE', line === undefined ? message : `trace line ${line}: ${message}`);
    this.name = 'TraceError';
    this.line = line;
  }
}

interface NativeErrorDetails {
  pyType?: string;
  file?: string;
  line?: number;
  address?: number;
  refcount?: number;
  typeName?: string;
  report?: string;
  provenance?: Provenance;
}

/** Builds the right error class from what the native code reports. @internal */
export function makeError(code: string, message: string, d: NativeErrorDetails): Error {
  const e = makeTypedError(code, d.provenance === undefined ? message : `${message}\n${d.provenance.report.trimEnd()}`, d);
  if (d.provenance !== undefined && e instanceof RefcountError) e.provenance = d.provenance;
  return e;
}

function makeTypedError(code: string, message: string, d: NativeErrorDetails): Error {
  const c = code as RefcountErrorCode;
  if ((c === 'ERR_NEGATIVE_REFCOUNT' || c === 'ERR_REFCOUNT_TOO_SMALL') && d.file !== undefined) {
    return new NegativeRefcountError(c, message, {
      file: d.file,
      line: d.line ?? 0,
      address: d.address ?? 0,
      refcount: d.refcount ?? 0,
      typeName: d.typeName ?? '',
      report: d.report ?? '',
    });
  }
  if (c === 'ERR_MEMORY_CORRUPTION') return new MemoryCorruptionError(message, d.report ?? '');
  return new RefcountError(c, message, d.pyType);
}
