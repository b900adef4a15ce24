/** Small helpers shared by the runtime's files. */

export function hex(a: number): string {
  return '0x' + a.toString(16);
}

/** CPython's report of an exception raised where nobody can catch it (PyErr_WriteUnraisable). */
export function exceptionIgnored(what: string, err: unknown): string {
  return `Exception ignored in: ${what}\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`;
}

/** Node's util.inspect hook (what console.log shows), without importing node:util. */
export const INSPECT = Symbol.for('nodejs.util.inspect.custom');
/** How much of a repr console.log shows. */
export const INSPECT_REPR_MAX = 200;
