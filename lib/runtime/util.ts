/** Small helpers shared by the runtime's files. */
import { dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

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

// The package's own code (dist/, or lib/ when the sources run under a test runner).
const OWN = dirname(dirname(fileURLToPath(import.meta.url))) + sep;
const FRAME = /\(?((?:file:\/\/)?[^()\s]+?):(\d+):(\d+)\)?\s*$/;

// The site of the replayed trace line being run (lib/trace.ts), which stands for the caller.
let siteOverride: string | undefined;

/** @internal Runs `fn` with `site` as the call site of every operation it makes (a replayed
 * trace line's own `trace:N`): no stack is read meanwhile. */
export function withCallSite<T>(site: string, fn: () => T): T {
  const outer = siteOverride;
  siteOverride = site;
  try {
    return fn();
  } finally {
    siteOverride = outer;
  }
}

/** The caller's location outside refcount-lab (`file:line:column`), from a stack trace, or
 * undefined when there is none (tracking runtimes only: a stack trace costs microseconds).
 * Frames of installed packages and of generated helpers (a transpiler's `using` support) are
 * passed over while a frame of the user's own code follows. */
export function callSite(): string | undefined {
  if (siteOverride !== undefined) return siteOverride;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 32;
  const stack = new Error().stack;
  Error.stackTraceLimit = limit;
  let fallback: string | undefined;
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const m = FRAME.exec(line);
    if (m === null || m[1] === undefined) continue;
    const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
    if (file.startsWith(OWN) || file.startsWith('node:')) continue;
    const site = `${file}:${m[2]}:${m[3]}`;
    if (file.includes('\0') || file.includes(`${sep}node_modules${sep}`)) fallback ??= site;
    else return site;
  }
  return fallback;
}
