/**
 * The few Python behaviours a talk scenario needs, written against the public API so that a
 * scenario reads line by line like the Python on the slide:
 *
 * ```ts
 * const { print, f } = py;
 * const ref = rt.ctypes.c_long.from_address;
 * let ref_a = ref(a_id).value;
 * print(f`2 - obj a. Ref count ${{ ref_a }}`);   // f"2 - obj a. Ref count {ref_a = }"
 * ```
 *
 * The helpers allocate what CPython allocates between two lines where that matters to the
 * heap: an f-string's `{x = }` makes a NEW str object for repr(x) (an int's repr is always a
 * fresh str, even "0"), then the joined str; the pieces are dropped after the join, the joined
 * str after print(). Those short-lived blocks are what re-use a freed object's memory.
 */
import { RefcountError } from '../errors.js';
import type { PyClass, PyInput, Ref, Runtime } from '../runtime/index.js';
import { Names, type NameValue } from './names.js';

/** How a class's instances print (`__str__`); default: repr. */
export type StrMethod = (self: Ref) => string;

/** A value an f-string interpolates: a number (a Python int), a Ref, a string, or `{ name }`
 * (the `{name = }` form: "name = " + repr(value)). */
export type FValue = number | bigint | string | Ref | { readonly [name: string]: number | bigint | string | Ref };

/** Python-ish helpers bound to one runtime and one output sink. */
export class Py {
  readonly #rt: Runtime;
  readonly #write: (text: string) => void;
  readonly #strMethods = new Map<string, StrMethod>();
  readonly #afterPrint: ((line: string) => void) | undefined;
  /** The scenario's Python names (for pictures). */
  readonly names = new Names();

  /** `afterPrint` is called with each printed line (without its newline), once it is out. */
  constructor(rt: Runtime, write: (text: string) => void, afterPrint?: (line: string) => void) {
    this.#rt = rt;
    this.#write = write;
    this.#afterPrint = afterPrint;
  }

  /** `name = value`: records the binding for pictures, returns value (see {@link Names}). */
  readonly bind = <T extends NameValue>(name: string, value: T): T => this.names.bind(name, value);
  /** `del name`: releases the Ref and forgets its name. */
  readonly del = (ref: Ref): void => this.names.del(ref);
  /** Calls a Python function: the names it binds die at return. */
  readonly call = <T>(fn: () => T): T => this.names.call(fn);

  /** `class Name:` with an optional `__str__`. */
  defineClass(name: string, methods: { __str__?: StrMethod } = {}): PyClass {
    const cls = this.#rt.defineClass(name);
    if (methods.__str__) this.#strMethods.set(name, methods.__str__);
    return cls;
  }

  /** print(*args): each argument is converted with str() while printing, as CPython does, so
   * an exception in a `__str__` leaves the earlier pieces printed. */
  readonly print = (...args: (string | number | bigint | Ref)[]): void => {
    let line = '';
    args.forEach((arg, i) => {
      if (i > 0) this.#write(' ');
      const text = this.str(arg);
      line += (i > 0 ? ' ' : '') + text;
      this.#write(text);
      // An f-string result is a temporary str object: it dies once printed.
      if (typeof arg === 'object' && arg.kind === 'str' && tempStrs.has(arg)) {
        tempStrs.delete(arg);
        arg.release();
      }
    });
    this.#write('\n');
    this.#afterPrint?.(line);
  };

  /** str(x) as text: `__str__` of a class defined here, the text of a str, else repr. */
  str(x: string | number | bigint | Ref | boolean | null): string {
    if (typeof x === 'string') return x;
    if (typeof x === 'number' || typeof x === 'bigint') return String(x);
    if (typeof x === 'boolean') return x ? 'True' : 'False';
    if (x === null) return 'None';
    const kind = x.kind;
    if (kind === 'str') return x.value() as string;
    if (kind === 'instance') {
      const m = this.#strMethods.get(x.typeName);
      if (m) return m(x);
    }
    return x.repr();
  }

  /** An f-string: returns a NEW str object (printed and dropped by {@link print}). */
  readonly f = (strings: TemplateStringsArray, ...values: FValue[]): Ref => {
    const rt = this.#rt;
    const pieces: Ref[] = [];
    let text = strings[0] ?? '';
    try {
      values.forEach((v, i) => {
        const [label, piece] = this.#format(v);
        pieces.push(piece);
        text += label + (piece.value() as string) + (strings[i + 1] ?? '');
      });
      const joined = rt.str(text);
      tempStrs.add(joined);
      return joined;
    } finally {
      // BUILD_STRING drops its pieces after the join, in order.
      for (const p of pieces) p.release();
    }
  };

  /** FORMAT_VALUE: the constant text merged before the piece ("name = " for `{name = }`) and
   * the piece, a new str object. */
  #format(v: FValue): [string, Ref] {
    const rt = this.#rt;
    if (typeof v === 'object' && !isRef(v)) {
      const entries = Object.entries(v);
      if (entries.length !== 1) throw new TypeError('an f-string `{ name }` needs exactly one name');
      const [name, value] = entries[0] as [string, number | bigint | string | Ref];
      return [`${name} = `, this.#repr(value)];
    }
    if (typeof v === 'number' || typeof v === 'bigint') return ['', this.#repr(v)];
    if (typeof v === 'string') return ['', rt.str(v)];
    return ['', rt.str(this.str(v))];
  }

  /** repr(value) as a new str object (ints: a temporary int object, then its fresh repr). */
  #repr(value: number | bigint | string | Ref): Ref {
    const rt = this.#rt;
    if (typeof value === 'number' || typeof value === 'bigint') {
      using n = rt.int(value);
      return n.reprObject();
    }
    if (typeof value === 'string') {
      using s = rt.str(value);
      return s.reprObject();
    }
    return value.reprObject();
  }
}

const tempStrs = new WeakSet<Ref>();

function isRef(v: unknown): v is Ref {
  return typeof v === 'object' && v !== null && 'reprObject' in v && typeof (v as Ref).reprObject === 'function';
}

/** The Python exception type of an error, when it is one a Python program would see. */
export function pythonExceptionOf(err: unknown): { type: string; message: string } | null {
  if (err instanceof RefcountError && err.pythonType) return { type: err.pythonType, message: err.message };
  return null;
}

export type { PyInput };
