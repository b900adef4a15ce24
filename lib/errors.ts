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

/** Base class of every error refcount-lab raises on purpose. */
export class RefcountError extends Error {
  /** Stable machine-readable code. */
  readonly code: RefcountErrorCode;
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

interface NativeErrorDetails {
  pyType?: string;
  file?: string;
  line?: number;
  address?: number;
  refcount?: number;
  typeName?: string;
  report?: string;
}

/** Builds the right error class from what the native code reports. @internal */
export function makeError(code: string, message: string, d: NativeErrorDetails): Error {
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
