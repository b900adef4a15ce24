/** Conversion of JS values to Python objects: the {@link PyInput} and {@link PyValue} types. */
import type { Address, Primitive } from '../binding.js';
import { nativeOf, type Runtime } from './runtime.js';
import { Ref, addressOf } from './ref.js';

/** A JS value that converts to a Python object: int, float, str, None, bool, list, dict. */
export type PyInput =
  | Ref
  | number
  | bigint
  | string
  | boolean
  | null
  | undefined
  | readonly PyInput[]
  | ReadonlyMap<PyInput, PyInput>
  | { readonly [key: string]: PyInput };

/** What {@link Ref.value} returns: ints are numbers (bigints beyond 2**53), None is null,
 * tuples and lists are arrays, dicts are Maps, instances are plain objects of their
 * attributes; other objects give their repr. */
export type PyValue = number | bigint | string | boolean | null | PyValue[] | Map<PyValue, PyValue> | { [key: string]: PyValue };

/** @internal */
export function isPrimitive(v: unknown): v is Primitive {
  return v === null || (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol');
}

/** @internal */
export function isIterable(x: unknown): x is Iterable<unknown> {
  return typeof x === 'object' && x !== null && Symbol.iterator in x;
}

/** @internal Converts a JS value to an object (a new reference, or a borrowed Ref's), calls fn
 * with its address, releases the temporary. */
export function withObject<T>(rt: Runtime, value: PyInput, fn: (addr: Address) => T): T {
  if (value instanceof Ref) return fn(addressOf(value, rt));
  if (!isPrimitive(value)) return withObjects(rt, [value], (a) => fn(a[0] as Address));
  const n = nativeOf(rt);
  const a = n.fromJs(value);
  try {
    return fn(a);
  } finally {
    n.decref(a);
  }
}

/** @internal Converts values, calls fn with their addresses, releases the temporaries. */
export function withObjects<T>(rt: Runtime, values: readonly PyInput[], fn: (addrs: Address[]) => T): T {
  const temps: Address[] = [];
  try {
    const addrs = values.map((v) => toObject(rt, v, temps));
    return fn(addrs);
  } finally {
    for (const t of temps) nativeOf(rt).decref(t);
  }
}

function toObject(rt: Runtime, v: PyInput, temps: Address[]): Address {
  if (v instanceof Ref) return addressOf(v, rt);
  const n = nativeOf(rt);
  let a: Address;
  if (isPrimitive(v)) a = n.fromJs(v);
  else if (Array.isArray(v)) a = withObjects(rt, v as readonly PyInput[], (items) => n.newList(items));
  else if (v instanceof Map) {
    const pairs = [...(v as ReadonlyMap<PyInput, PyInput>)];
    a = withObjects(rt, pairs.map((p) => p[0]), (k) => withObjects(rt, pairs.map((p) => p[1]), (vals) => n.newDict(k, vals)));
  } else if (typeof v === 'object') {
    const pairs = Object.entries(v as { readonly [k: string]: PyInput });
    a = withObjects(rt, pairs.map((p) => p[0]), (k) => withObjects(rt, pairs.map((p) => p[1]), (vals) => n.newDict(k, vals)));
  } else {
    throw new TypeError(`cannot convert a ${typeof v} to a Python object`);
  }
  temps.push(a);
  return a;
}
