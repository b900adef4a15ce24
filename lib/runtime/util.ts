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
// The talk's scenarios play the user's part: their lines are the call sites of a tracking run.
const TALK = OWN + 'scenarios' + sep + 'talk.';
// A compiler's helper (tsc's __disposeResources for `using`): its caller is the site.
const HELPER = /^\s*at (?:async )?__\w+ \(/;
const FRAME = /\(?((?:file:\/\/)?[^()\s]+?):(\d+):(\d+)\)?\s*$/;

/** The caller's location outside refcount-lab (`file:line:column`), from a stack trace, or
 * undefined when there is none (tracking runtimes only: a stack trace costs microseconds).
 * Frames of installed packages and of generated helpers (a transpiler's `using` support) are
 * passed over while a frame of the user's own code follows. */
export function callSite(): string | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 32;
  const stack = new Error().stack;
  Error.stackTraceLimit = limit;
  let fallback: string | undefined;
  let found: string | undefined;
  for (const line of (stack ?? '').split('\n').slice(1)) {
    if (HELPER.test(line)) {
      found = undefined; // the frames so far ran inside the helper (its callbacks)
      continue;
    }
    if (found !== undefined) return found; // the frame after it was no helper: keep it
    const m = FRAME.exec(line);
    if (m === null || m[1] === undefined) continue;
    const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
    if ((file.startsWith(OWN) && !file.startsWith(TALK)) || file.startsWith('node:')) continue;
    const site = `${file}:${m[2]}:${m[3]}`;
    if (file.includes('\0') || file.includes(`${sep}node_modules${sep}`)) fallback ??= site;
    else found = site;
  }
  return found ?? fallback;
}
