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

// The package's own code: dist/, and lib/ (the sources, under a test runner or where source maps
// point). The talk's scenarios play the user's part: their lines are the call sites of a
// tracking run.
const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url)))) + sep;
const OWN = [ROOT + 'dist' + sep, ROOT + 'lib' + sep];
const TALK = OWN.map((d) => d + 'scenarios' + sep + 'talk.');
const isOwn = (path: string): boolean => OWN.some((d) => path.startsWith(d)) && !TALK.some((t) => path.startsWith(t));

// What a frame's file is to callSite: 0 refcount-lab's own or Node's, 1 an installed package or
// generated code (a site only if nothing better follows), 2 the user's code. Memoised per file
// name: a tracking runtime asks for every operation.
const fileKinds = new Map<string, { kind: 0 | 1 | 2; path: string }>();
function fileKind(name: string): { kind: 0 | 1 | 2; path: string } {
  let k = fileKinds.get(name);
  if (k === undefined) {
    const path = name.startsWith('file://') ? fileURLToPath(name) : name;
    const kind = isOwn(path) || path.startsWith('node:') ? 0 : path.includes('\0') || path.includes(`${sep}node_modules${sep}`) ? 1 : 2;
    k = { kind, path };
    fileKinds.set(name, k);
  }
  return k;
}

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

function structuredFrames(_e: Error, frames: NodeJS.CallSite[]): NodeJS.CallSite[] {
  return frames;
}

/** The caller's location outside refcount-lab (`file:line:column`), or undefined when there is
 * none (tracking runtimes only). Frames of installed packages and of generated code are passed
 * over while a frame of the user's own code follows; so is a compiler's helper (tsc's
 * `__disposeResources` for `using`) and what ran inside it: its caller is the site. Where
 * source maps apply (`--enable-source-maps`, a test runner's own stack formatting) the formatted
 * stack is read, so the site is the source's line; elsewhere the structured frames are, which
 * costs no text at all. */
export function callSite(): string | undefined {
  if (siteOverride !== undefined) return siteOverride;
  // Capturing frames is most of the cost: a few first (the API's own frames above the caller are
  // fewer than that), all of them only when no user frame was among those.
  return siteIn(frames(SHORT_STACK), SHORT_STACK) ?? siteIn(frames(LONG_STACK), LONG_STACK) ?? undefined;
}
const SHORT_STACK = 10;
const LONG_STACK = 64;

interface Frame {
  readonly fn: string | null;
  readonly file: string | null;
  readonly line: number;
  readonly column: number;
}
const TEXT_FRAME = /^\s*at (?:async )?(?:(.+?) \()?((?:file:\/\/)?[^()\s]+?):(\d+):(\d+)\)?\s*$/;

function frames(limit: number): Frame[] {
  const saved = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  const mapped = prepare !== undefined || (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled === true;
  Error.stackTraceLimit = limit;
  if (!mapped) Error.prepareStackTrace = structuredFrames;
  const holder: { stack?: NodeJS.CallSite[] | string } = {};
  Error.captureStackTrace(holder, callSite);
  const stack = holder.stack; // formatted (or kept structured) on first read
  Error.prepareStackTrace = prepare;
  Error.stackTraceLimit = saved;
  if (typeof stack !== 'string') {
    return (stack ?? []).map((f) => ({ fn: f.getFunctionName(), file: f.getFileName() ?? f.getScriptNameOrSourceURL(), line: f.getLineNumber() ?? 0, column: f.getColumnNumber() ?? 0 }));
  }
  const out: Frame[] = [];
  for (const text of stack.split('\n').slice(1)) {
    const m = TEXT_FRAME.exec(text);
    if (m !== null) out.push({ fn: m[1] ?? null, file: m[2] ?? null, line: Number(m[3]), column: Number(m[4]) });
  }
  return out;
}

// The site among `frames`; null when the stack may go on past them with a better one.
function siteIn(frames: readonly Frame[], limit: number): string | undefined | null {
  let fallback: string | undefined;
  let found: string | undefined;
  for (const f of frames) {
    if (f.fn?.startsWith('__')) {
      found = undefined; // the frames so far ran inside the helper (its callbacks)
      continue;
    }
    if (found !== undefined) return found; // the frame after it was no helper: keep it
    if (!f.file) continue;
    const k = fileKind(f.file);
    if (k.kind === 0) continue;
    const site = `${k.path}:${f.line}:${f.column}`;
    if (k.kind === 1) fallback ??= site;
    else found = site;
  }
  if (frames.length >= limit && limit < LONG_STACK) return null;
  return found ?? fallback;
}

// The call site of the tracked operation running now (track.ts sets it around each call), so
// the Refs it makes need no stack of their own.
let opSite: string | undefined;
/** @internal */
export function currentOpSite(): string | undefined {
  return opSite;
}
/** @internal Sets the current operation's site; returns the one it replaces (to restore). */
export function swapOpSite(site: string | undefined): string | undefined {
  const outer = opSite;
  opSite = site;
  return outer;
}
