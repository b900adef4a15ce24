/** Conversion of JS values to Python objects: the {@link PyInput} and {@link PyValue} types. */
import type { Primitive } from '../binding.js';
import type { Ref } from './ref.js';

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

export function isPrimitive(v: unknown): v is Primitive {
  return v === null || (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol');
}

export function isIterable(x: unknown): x is Iterable<unknown> {
  return typeof x === 'object' && x !== null && Symbol.iterator in x;
}
