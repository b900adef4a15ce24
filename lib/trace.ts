/**
 * Record, replay, bisect. A tracking runtime's `rt.trace` writes the calls of the API as JSON
 * lines (lib/runtime/track.ts); here they are read back ({@link parseTrace}), run again on a
 * fresh runtime ({@link replayTrace}), and searched for the first line after which the
 * references no longer add up ({@link bisectTrace}).
 *
 * A replay maps the trace's ids to its own objects: a Ref, class or weakref gets its id in the
 * `result` of the line that made it (or in the arguments of a callback's line), and an address
 * `{ $: 'obj', id }` is wherever the replay's Ref `id` points. A user callback (a finalizer, a
 * weakref callback) becomes a function that, on its k-th call, binds the objects it is given and
 * runs the lines recorded `in` that call, so what the callback did happens at the same moment.
 * While a line runs, a tracking runtime records `<source>:<seq>` as its call site (no stack is
 * read): the replay's histories, holders and errors name trace lines.
 */
import { RefcountError, TraceError } from './errors.js';
import type { Address, Build } from './binding.js';
import { Runtime } from './runtime/runtime.js';
import { Ref, ownedRefs, peekAddress, refSite } from './runtime/ref.js';
import { PyClass } from './runtime/class.js';
import { WeakRef_ } from './runtime/weakref.js';
import { nativeOf } from './runtime/runtime.js';
import { formatAudit, type Audit } from './runtime/refs.js';
import { TRACE_GETTERS, TRACE_METHODS, type TraceLine, type TraceReceiver } from './runtime/track.js';
import { hex, withCallSite } from './runtime/util.js';

export type { TraceLine, TraceReceiver } from './runtime/track.js';

const RECEIVERS: readonly TraceReceiver[] = [...(Object.keys(TRACE_METHODS) as TraceReceiver[]), 'callback'];
// What kind of object an id stands for.
type IdKind = 'ref' | 'cls' | 'weakref' | 'fn';
// The receivers whose `self` is an id, and its kind.
const SELF_KIND: Partial<Record<TraceReceiver, IdKind>> = { ref: 'ref', class: 'cls', weakref: 'weakref', callback: 'fn' };
/** The error codes that say a reference went wrong (a bisect stops at the first line raising
 * one), as opposed to the Python exceptions a program may raise and catch (KeyError...). */
export const LIFETIME_ERRORS: readonly string[] = [
  'ERR_RELEASED', 'ERR_USE_AFTER_FREE', 'ERR_NEGATIVE_REFCOUNT', 'ERR_REFCOUNT_TOO_SMALL', 'ERR_INVALID_ADDRESS', 'ERR_MEMORY_CORRUPTION',
];

// ------------------------------------------------------------------ parse

function isInt(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

/**
 * Reads a trace (`rt.trace.stop()`'s text, one JSON object per line; blank lines are skipped).
 * A line that is not a trace line, an unknown receiver or method, or `seq`s out of order is a
 * {@link TraceError} (code ERR_VALUE) naming the line of the text.
 */
export function parseTrace(text: string): TraceLine[] {
  const out: TraceLine[] = [];
  const rows = text.split('\n');
  let last = 0;
  for (let i = 0; i < rows.length; i++) {
    const row = (rows[i] as string).trim();
    if (row === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(row);
    } catch (e) {
      throw new TraceError(`not JSON (${(e as Error).message})`, i + 1);
    }
    const line = checkLine(v, i + 1);
    if (line.seq <= last) throw new TraceError(`seq ${line.seq} after ${last}: the lines must be in the order they were recorded`, i + 1);
    last = line.seq;
    out.push(line);
  }
  return out;
}

function checkLine(v: unknown, at: number): TraceLine {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TraceError('a trace line is a JSON object', at);
  const l = v as Record<string, unknown>;
  if (!isInt(l['seq'], 1)) throw new TraceError('`seq` must be a positive integer', at);
  const recv = l['recv'] as TraceReceiver;
  if (!RECEIVERS.includes(recv)) throw new TraceError(`unknown receiver ${JSON.stringify(l['recv'])}`, at);
  const method = l['method'];
  if (typeof method !== 'string') throw new TraceError('`method` must be a string', at);
  if (recv === 'callback' ? method !== 'call' : !TRACE_METHODS[recv].includes(method))
    throw new TraceError(`${recv}.${method} is not an operation a trace records`, at);
  if (SELF_KIND[recv] !== undefined && !isInt(l['self'], 1)) throw new TraceError(`a '${recv}' line needs \`self\`, a positive integer id`, at);
  if (!Array.isArray(l['args'])) throw new TraceError('`args` must be an array', at);
  if (recv === 'callback' && !isInt(l['call'], 1)) throw new TraceError('a callback line needs `call`, a positive integer', at);
  for (const k of ['error', 'site'] as const) if (l[k] !== undefined && typeof l[k] !== 'string') throw new TraceError(`\`${k}\` must be a string`, at);
  const inn = l['in'];
  if (inn !== undefined && !(Array.isArray(inn) && inn.length === 2 && isInt(inn[0], 1) && isInt(inn[1], 1)))
    throw new TraceError('`in` must be [callback id, call number]', at);
  return l as unknown as TraceLine;
}

// ------------------------------------------------------------------ the ids a trace defines

const ctxKey = (fn: number, call: number): string => `${fn}:${call}`;

// Checks, in the order of the lines, that every id a line uses was defined before it with the
// right kind (by a result, a callback's arguments, or a function's first appearance), and that
// every line `in` a callback call comes after that call's line.
function checkIds(lines: readonly TraceLine[]): void {
  const kinds = new Map<number, IdKind>();
  const calls = new Set<string>();
  const define = (id: unknown, kind: IdKind, seq: number): void => {
    if (!isInt(id, 1)) throw new TraceError(`a ${kind} id must be a positive integer`, seq);
    const had = kinds.get(id);
    if (had !== undefined && had !== kind) throw new TraceError(`id ${id} is a ${had}, and here a ${kind}`, seq);
    kinds.set(id, kind);
  };
  const use = (id: unknown, kind: IdKind, seq: number): void => {
    if (!isInt(id, 1)) throw new TraceError(`a ${kind} id must be a positive integer`, seq);
    const had = kinds.get(id);
    if (had === undefined)
      throw new TraceError(
        `${kind} ${id} is not defined by any earlier line (made before rt.trace.start(), or by a call the trace does not record)`,
        seq,
      );
    if (had !== kind) throw new TraceError(`id ${id} is a ${had}, not a ${kind}`, seq);
  };
  const walkArg = (v: unknown, seq: number): void => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach((x) => walkArg(x, seq));
    const o = v as Record<string, unknown>;
    switch (o['$']) {
      case 'ref': case 'obj': return use(o['id'], 'ref', seq);
      case 'cls': return use(o['id'], 'cls', seq);
      case 'weakref': return use(o['id'], 'weakref', seq);
      case 'fn': return define(o['id'], 'fn', seq);
      case 'address': case 'number':
        if (o['$'] === 'address' ? typeof o['v'] !== 'number' : typeof o['v'] !== 'string') throw new TraceError(`a malformed ${String(o['$'])} value`, seq);
        return;
      case 'bigint': if (typeof o['v'] !== 'string') throw new TraceError('a malformed bigint', seq); return;
      case 'undefined': return;
      case 'bytes': if (typeof o['hex'] !== 'string' || !/^([0-9a-f]{2})*$/i.test(o['hex'])) throw new TraceError('malformed bytes', seq); return;
      case 'object': {
        const x = o['v'];
        if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new TraceError('a malformed object value', seq);
        return Object.values(x).forEach((y) => walkArg(y, seq));
      }
      case 'set': case 'addrs': case 'map':
        if (!Array.isArray(o['v'])) throw new TraceError(`a malformed ${String(o['$'])} value`, seq);
        if (o['$'] === 'map' && !(o['v'] as unknown[]).every((p) => Array.isArray(p) && p.length === 2)) throw new TraceError('a malformed map entry', seq);
        return walkArg(o['v'], seq);
      default:
        throw new TraceError(`unknown encoding ${JSON.stringify(o['$'])}`, seq);
    }
  };
  const walkResult = (v: unknown, seq: number): void => {
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach((x) => walkResult(x, seq));
    const o = v as Record<string, unknown>;
    if (o['$'] === 'ref') define(o['id'], 'ref', seq);
    else if (o['$'] === 'cls' || o['$'] === 'weakref') {
      define(o['id'], o['$'] === 'cls' ? 'cls' : 'weakref', seq);
      if (o['ref'] !== undefined) define(o['ref'], 'ref', seq);
    }
  };
  for (const l of lines) {
    checkLine(l, l.seq);
    if (l.in !== undefined && !calls.has(ctxKey(l.in[0], l.in[1])))
      throw new TraceError(`made in call ${l.in[1]} of callback ${l.in[0]}, which no earlier line records`, l.seq);
    if (l.recv === 'callback') {
      use(l.self, 'fn', l.seq);
      const key = ctxKey(l.self as number, l.call as number);
      if (calls.has(key)) throw new TraceError(`call ${String(l.call)} of callback ${String(l.self)} recorded twice`, l.seq);
      calls.add(key);
      walkResult(l.args, l.seq);
      continue;
    }
    const kind = SELF_KIND[l.recv];
    if (kind !== undefined) use(l.self, kind, l.seq);
    walkArg(l.args, l.seq);
    walkResult(l.result, l.seq);
  }
}

// ------------------------------------------------------------------ replay

/** One line as replayed. */
export interface ReplayStep {
  readonly line: TraceLine;
  /** 'ok', the code of the error it threw (a RefcountError's code, else the error's name), or
   * 'skipped': an object it names was never made in this replay (its line went otherwise). */
  readonly outcome: string;
  /** What the recording says: 'ok' or its `error`. */
  readonly expected: string;
  readonly matches: boolean;
  /** What it returned (the replay's own Ref, class, weakref, address...). */
  readonly result?: unknown;
  /** The error it threw. */
  readonly error?: unknown;
}

/** Options of {@link replayTrace}. */
export interface ReplayOptions {
  /** Replay only the lines with `seq <= upTo` (a prefix of the trace, callbacks' lines too). */
  readonly upTo?: number;
  /** The name a tracking runtime records as the call site of a replayed line:
   * `<source>:<seq>` (default `'trace'`). */
  readonly source?: string;
  /** Called before each line runs, a callback's lines too (the CLI's crash report uses it). */
  readonly beforeLine?: (line: TraceLine) => void;
  /** Called after each top-level line, with it and the lines it ran inside callbacks; return
   * false to stop there. */
  readonly afterLine?: (step: ReplayStep, inner: readonly ReplayStep[]) => boolean | void;
}

/** What {@link replayTrace} did. */
export interface ReplayResult {
  /** Every line run, in the order they started (a callback's lines after the line that ran them). */
  readonly steps: readonly ReplayStep[];
  /** How many steps did not end as recorded. */
  readonly mismatches: number;
  readonly firstMismatch?: ReplayStep;
  /** The first step that threw. */
  readonly firstError?: ReplayStep;
  /** The lines (up to where the replay went) that never ran: their callback was not called. */
  readonly notReplayed: readonly TraceLine[];
  /** Callback calls the recording does not have (the replay called a callback more often). */
  readonly extraCalls: readonly { readonly fn: number; readonly call: number }[];
  /** afterLine stopped the replay. */
  readonly stopped: boolean;
}

/** What an error is called in a trace (as the recorder writes it). */
function errorName(e: unknown): string {
  return e instanceof RefcountError ? e.code : e instanceof Error ? e.name : 'thrown';
}

// An id that the trace defines but this replay never bound (the line that made it went otherwise).
const UNBOUND = Symbol('unbound');

/**
 * Replays a trace on `rt` (a fresh runtime: the trace's objects are made again, in order).
 * Each top-level line (no `in`) runs in order; the lines made inside a callback run when the
 * replay calls that callback for the same time. Every line's outcome is compared with the
 * recording's. A line that names an id no earlier line defines, or a malformed line, is a
 * {@link TraceError}, thrown before anything runs.
 */
export function replayTrace(rt: Runtime, lines: readonly TraceLine[], options: ReplayOptions = {}): ReplayResult {
  checkIds(lines);
  const upTo = options.upTo ?? Infinity;
  const source = options.source ?? 'trace';
  const bound = new Map<number, unknown>();
  const fns = new Map<number, (...a: unknown[]) => void>();
  const calls = new Map<number, number>();
  const byContext = new Map<string, TraceLine[]>();
  const callbackLines = new Map<string, TraceLine>();
  const top: TraceLine[] = [];
  for (const l of lines) {
    if (l.seq > upTo) break;
    if (l.recv === 'callback') callbackLines.set(ctxKey(l.self as number, l.call as number), l);
    else if (l.in === undefined) top.push(l);
    else {
      const key = ctxKey(l.in[0], l.in[1]);
      const list = byContext.get(key);
      if (list === undefined) byContext.set(key, [l]);
      else list.push(l);
    }
  }
  const steps: ReplayStep[] = [];
  const ran = new Set<number>();
  const extraCalls: { fn: number; call: number }[] = [];

  const get = (id: number): unknown => {
    const v = bound.get(id);
    if (v === undefined) throw UNBOUND;
    return v;
  };
  const refOf = (id: number): Ref => {
    const r = get(id);
    if (!(r instanceof Ref)) throw UNBOUND;
    return r;
  };
  const bind = (enc: unknown, actual: unknown): void => {
    if (enc === null || typeof enc !== 'object') return;
    if (Array.isArray(enc)) {
      if (Array.isArray(actual)) enc.forEach((e, i) => bind(e, actual[i]));
      return;
    }
    const o = enc as { $?: string; id?: number; ref?: number };
    if (o.$ === 'ref' && actual instanceof Ref) bound.set(o.id as number, actual);
    else if ((o.$ === 'cls' && actual instanceof PyClass) || (o.$ === 'weakref' && actual instanceof WeakRef_)) {
      bound.set(o.id as number, actual);
      if (o.ref !== undefined) bound.set(o.ref, actual.ref);
    }
  };
  const decode = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map(decode);
    const o = v as Record<string, unknown>;
    switch (o['$']) {
      case 'ref': case 'cls': case 'weakref': return get(o['id'] as number);
      case 'obj': return peekAddress(refOf(o['id'] as number));
      case 'address': return o['v'];
      case 'fn': return fnFor(o['id'] as number);
      case 'bigint': return BigInt(o['v'] as string);
      case 'number': return Number(o['v']);
      case 'undefined': return undefined;
      case 'bytes': return Buffer.from(o['hex'] as string, 'hex');
      case 'addrs': return Float64Array.from((o['v'] as unknown[]).map((x) => Number(decode(x))));
      case 'set': return new Set((o['v'] as unknown[]).map(decode));
      case 'map': return new Map((o['v'] as [unknown, unknown][]).map(([k, x]) => [decode(k), decode(x)]));
      case 'object': return Object.fromEntries(Object.entries(o['v'] as object).map(([k, x]) => [k, decode(x)]));
      default: throw new TraceError(`unknown encoding ${JSON.stringify(o['$'])}`);
    }
  };
  // The function standing for a user callback: its k-th call runs the lines of the k-th call.
  const fnFor = (id: number): ((...a: unknown[]) => void) => {
    let f = fns.get(id);
    if (f === undefined) {
      f = (...actual: unknown[]): void => {
        const k = (calls.get(id) ?? 0) + 1;
        calls.set(id, k);
        const cb = callbackLines.get(ctxKey(id, k));
        if (cb === undefined) {
          extraCalls.push({ fn: id, call: k });
          return;
        }
        ran.add(cb.seq);
        bind(cb.args, actual);
        for (const l of byContext.get(ctxKey(id, k)) ?? []) runLine(l);
      };
      fns.set(id, f);
    }
    return f;
  };
  const call = (l: TraceLine): unknown => {
    const args = l.args.map(decode);
    const m = l.method;
    const on = (o: object): unknown => (o as Record<string, (...a: unknown[]) => unknown>)[m]?.(...args);
    switch (l.recv) {
      case 'rt': return TRACE_GETTERS.includes(m) ? (rt as unknown as Record<string, unknown>)[m] : on(rt);
      case 'capi': return on(rt.capi);
      case 'gc': return on(rt.gc);
      // ctypes.cast(addr, py_object).value / ctypes.c_long.from_address(addr).value = v
      case 'ctypes':
        if (m === 'castValue') return rt.ctypes.cast(args[0] as number, rt.ctypes.py_object).value;
        rt.ctypes.c_long.from_address(args[0] as number).value = args[1] as number | bigint;
        return undefined;
      case 'ref': case 'class': case 'weakref': {
        const self = get(l.self as number);
        if (!(l.recv === 'ref' ? self instanceof Ref : l.recv === 'class' ? self instanceof PyClass : self instanceof WeakRef_)) throw UNBOUND;
        return on(self as object);
      }
      default: throw new TraceError(`a '${l.recv}' line is not an operation`, l.seq);
    }
  };
  const runLine = (l: TraceLine): ReplayStep => {
    ran.add(l.seq);
    // its place in the order the lines started (a callback's lines end before the line that ran them)
    const at = steps.push(undefined as unknown as ReplayStep) - 1;
    options.beforeLine?.(l);
    let outcome = 'ok';
    let error: unknown;
    let result: unknown;
    withCallSite(`${source}:${l.seq}`, () => {
      try {
        result = call(l);
        bind(l.result, result);
      } catch (e) {
        if (e instanceof TraceError) throw e;
        if (e === UNBOUND) outcome = 'skipped';
        else {
          outcome = errorName(e);
          error = e;
        }
      }
    });
    const expected = l.error ?? 'ok';
    const step: ReplayStep = {
      line: l,
      outcome,
      expected,
      matches: outcome === expected,
      ...(result === undefined ? {} : { result }),
      ...(error === undefined ? {} : { error }),
    };
    steps[at] = step;
    return step;
  };

  let stopped = false;
  for (const l of top) {
    const from = steps.length;
    const step = runLine(l);
    if (options.afterLine?.(step, steps.slice(from + 1)) === false) {
      stopped = true;
      break;
    }
  }
  const reach = stopped ? Math.max(...ran) : upTo;
  const notReplayed = lines.filter((l) => l.seq <= reach && !ran.has(l.seq));
  const firstMismatch = steps.find((s) => !s.matches);
  const firstError = steps.find((s) => s.outcome !== 'ok');
  return {
    steps,
    mismatches: steps.filter((s) => !s.matches).length,
    ...(firstMismatch === undefined ? {} : { firstMismatch }),
    ...(firstError === undefined ? {} : { firstError }),
    notReplayed,
    extraCalls,
    stopped,
  };
}

// ------------------------------------------------------------------ bisect

/** Options of {@link bisectTrace}. */
export interface BisectOptions {
  /** The build to replay in (default 'release'); always guarded, with tracking. */
  readonly build?: Build;
  /** Audit after every line, not only after the lines that go through the C API (see
   * {@link bisectTrace}). */
  readonly everyLine?: boolean;
  /** As {@link ReplayOptions.source}. */
  readonly source?: string;
}

/** A reference still outstanding at the end of a trace. */
export interface Outstanding {
  /** 'capi': taken through the C API and never given back; 'ref': a Ref never released. */
  readonly kind: 'capi' | 'ref';
  readonly typeName: string;
  /** The line that took it (undefined when its site names no line of the trace). */
  readonly line?: TraceLine;
  readonly site: string | undefined;
}

/** What {@link bisectTrace} found. */
export interface BisectResult {
  /**
   * 'audit': the first line after which `rt.refs.audit()` fails; 'error': a line that raised a
   * reference error ({@link LIFETIME_ERRORS}: a released Ref used again...) while the audit
   * still held; 'leak': every prefix audits clean, but references taken through the C API (or
   * Refs) are outstanding at the end; 'clean': none of these.
   */
  readonly kind: 'audit' | 'error' | 'leak' | 'clean';
  /** The line named: for 'audit' the one that broke the account (the top-level line after
   * which the audit failed, or the line inside a callback it ran that made the unowned decref
   * or the write), for 'error' the line that raised, for 'leak' the line that took the first
   * outstanding reference. */
  readonly line?: TraceLine;
  /** 'audit': the top-level line after which the audit failed (the same as `line` unless the
   * culprit ran inside a callback). */
  readonly after?: TraceLine;
  /** 'audit': the failing audit (addresses of the replay's runtime). */
  readonly audit?: Audit;
  /** 'audit' and 'error': the audit, as text. */
  readonly auditText?: string;
  /** 'error': the code and the first line of its message. */
  readonly error?: { readonly code: string; readonly message: string };
  /** 'error', a use-after-free or negative refcount: the line whose decref had no owner. */
  readonly unownedBy?: TraceLine;
  /** Every reference outstanding at the end (when the replay got there): C API ones first. */
  readonly outstanding: readonly Outstanding[];
  readonly build: Build;
  /** Top-level lines replayed, audits made, and the time it took. */
  readonly replayed: number;
  readonly audits: number;
  readonly ms: number;
  /** Lines that ended otherwise than recorded (a trace replayed in another build). */
  readonly mismatches: number;
}

/** Whether a line (or one it ran) went through the C API: only those can unbalance an account. */
function viaCapi(step: ReplayStep, inner: readonly ReplayStep[]): boolean {
  return step.line.recv === 'capi' || inner.some((s) => s.line.recv === 'capi');
}

/**
 * Finds the first line of a trace after which the references no longer add up. One pass: the
 * trace is replayed once in a guarded tracking runtime of `options.build`, and
 * `rt.refs.audit()` runs after every top-level line that went through the C API (itself or in a
 * callback it ran) and after the last line. The typed API keeps every account balanced
 * (test/fuzz.test.ts audits after each of its steps), so the audit can first fail only after
 * one of those; `everyLine` audits after every line instead (for a trace that breaks that
 * rule, or to check it). When the audit fails after a line whose callbacks ran lines of their
 * own, the object's history names the one that made the unowned decref or write.
 *
 * Also stops at the first line that raises a reference error ({@link LIFETIME_ERRORS}); and
 * when the whole trace audits clean, names the line that took the first reference still
 * outstanding at the end (a capi.Py_INCREF or Py_NewRef never given back, then a Ref never
 * released).
 */
export function bisectTrace(lines: readonly TraceLine[], options: BisectOptions = {}): BisectResult {
  const t0 = performance.now();
  const build = options.build ?? 'release';
  const source = options.source ?? 'trace';
  const bySeq = new Map(lines.map((l) => [l.seq, l]));
  const lineAt = (site: string | undefined): TraceLine | undefined =>
    site !== undefined && site.startsWith(source + ':') ? bySeq.get(Number(site.slice(source.length + 1))) : undefined;
  let audits = 0;
  let replayed = 0;
  const base = { build, outstanding: [] as Outstanding[] };

  const pass = (everyLine: boolean): BisectResult => {
    const rt = Runtime.create({ build, guard: true, track: true });
    try {
      let found: Omit<BisectResult, 'build' | 'replayed' | 'audits' | 'ms' | 'mismatches' | 'outstanding'> | undefined;
      const r = replayTrace(rt, lines, {
        source,
        afterLine(step, inner) {
          replayed++;
          if (everyLine || viaCapi(step, inner)) {
            audits++;
            const audit = rt.refs.audit();
            if (!audit.ok) {
              const span = new Set([step.line.seq, ...inner.map((s) => s.line.seq)]);
              const culprit = inner.length === 0 ? step.line : culpritIn(rt, audit, span, lineAt) ?? step.line;
              found = { kind: 'audit', line: culprit, after: step.line, audit, auditText: formatAudit(audit) };
              return false;
            }
          }
          const bad = [step, ...inner].find((s) => LIFETIME_ERRORS.includes(s.outcome));
          if (bad !== undefined) {
            const e = bad.error;
            const unowned = e instanceof RefcountError ? lineAt(e.provenance?.unownedDecref?.site) : undefined;
            found = {
              kind: 'error',
              line: bad.line,
              ...(bad.line.seq === step.line.seq ? {} : { after: step.line }),
              error: { code: bad.outcome, message: e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e) },
              ...(unowned === undefined ? {} : { unownedBy: unowned }),
            };
            return false;
          }
          return true;
        },
      });
      const stats = () => ({ replayed, audits, ms: Math.round(performance.now() - t0), mismatches: r.mismatches });
      if (found !== undefined) return { ...base, ...stats(), ...found };
      audits++;
      const audit = rt.refs.audit();
      // the rule above was broken (a trace made outside the typed API's guarantees): look again
      // after every line
      if (!audit.ok && !everyLine) return pass(true);
      const outstanding = outstandingAtEnd(rt, lineAt);
      const first = outstanding[0];
      if (first !== undefined) return { ...base, ...stats(), kind: 'leak', outstanding, ...(first.line === undefined ? {} : { line: first.line }) };
      return { ...base, ...stats(), kind: 'clean' };
    } finally {
      rt.close();
    }
  };
  return pass(options.everyLine ?? false);
}

// The line in `span` that broke one of the failing audit's objects: its first unowned decref or
// write there, else the last raw write there.
function culpritIn(rt: Runtime, audit: Audit, span: ReadonlySet<number>, lineAt: (site: string | undefined) => TraceLine | undefined): TraceLine | undefined {
  const addresses = new Set<Address>([
    ...audit.unexplained.map((e) => e.address),
    ...audit.dangling.map((d) => d.address),
    ...audit.danglingRefs.map((d) => d.address),
  ]);
  let best: TraceLine | undefined;
  let write: TraceLine | undefined;
  for (const a of addresses) {
    const h = rt.refs.history(a);
    for (const e of h?.events ?? []) {
      const l = lineAt(e.site);
      if (l === undefined || !span.has(l.seq)) continue;
      if (e.unowned && (best === undefined || l.seq < best.seq)) best = l;
      if (e.kind === 'write') write = l;
    }
  }
  return best ?? write;
}

// The references outstanding at the end: C API ones (by the line that took them), then Refs
// never released (by the line that made them), each list in trace order.
function outstandingAtEnd(rt: Runtime, lineAt: (site: string | undefined) => TraceLine | undefined): Outstanding[] {
  const n = nativeOf(rt);
  const capi: Outstanding[] = [];
  const objects = n.accountHeap()?.objects ?? new Float64Array();
  for (let i = 0; i < objects.length; i += 3) {
    const a = objects[i] as Address;
    for (const site of n.capiHeld(a)) {
      const line = lineAt(site);
      capi.push({ kind: 'capi', typeName: n.typeName(a), site: site === '' ? undefined : site, ...(line === undefined ? {} : { line }) });
    }
  }
  const refs: Outstanding[] = [];
  for (const [a, list] of ownedRefs(rt)) {
    if (n.isImmortal(a)) continue;
    for (const r of list) {
      const site = refSite(r);
      const line = lineAt(site);
      refs.push({ kind: 'ref', typeName: n.typeName(a), site, ...(line === undefined ? {} : { line }) });
    }
  }
  const order = (x: Outstanding, y: Outstanding): number => (x.line?.seq ?? Infinity) - (y.line?.seq ?? Infinity);
  return [...capi.sort(order), ...refs.sort(order)];
}

// ------------------------------------------------------------------ text

function argText(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? String(v);
  if (Array.isArray(v)) return `[${v.map(argText).join(', ')}]`;
  const o = v as Record<string, unknown>;
  switch (o['$']) {
    case 'ref': return `r${String(o['id'])}`;
    case 'obj': return `id(r${String(o['id'])})`;
    case 'cls': return `C${String(o['id'])}`;
    case 'weakref': return `w${String(o['id'])}`;
    case 'fn': return `fn${String(o['id'])}`;
    case 'address': return hex(o['v'] as number);
    case 'bigint': return `${String(o['v'])}n`;
    case 'number': return String(o['v']);
    case 'undefined': return 'undefined';
    case 'bytes': return `<bytes ${String(o['hex'])}>`;
    case 'addrs': return `[${(o['v'] as unknown[]).map(argText).join(', ')}]`;
    case 'set': return `Set(${argText(o['v'])})`;
    case 'map': return `Map(${(o['v'] as [unknown, unknown][]).map(([k, x]) => `${argText(k)} => ${argText(x)}`).join(', ')})`;
    case 'object': return `{ ${Object.entries(o['v'] as object).map(([k, x]) => `${k}: ${argText(x)}`).join(', ')} }`;
    default: return JSON.stringify(v);
  }
}

/** One trace line as text: `#7 r1.append(r2) -> r3 at file:line:col` (`r1`: the Ref of id 1,
 * `id(r1)`: its address, `C2` a class, `w3` a weakref, `fn4` a callback), with `threw CODE`
 * when the recording says so (unless `outcome` is false). */
export function formatTraceLine(l: TraceLine, outcome = true): string {
  const args = l.args.map(argText).join(', ');
  const self = String(l.self);
  const call =
    l.recv === 'callback' ? `fn${self} called (call ${String(l.call)}) with (${args})` :
    l.recv === 'ref' ? `r${self}.${l.method}(${args})` :
    l.recv === 'class' ? `C${self}.${l.method}(${args})` :
    l.recv === 'weakref' ? `w${self}.${l.method}(${args})` :
    l.recv === 'rt' && TRACE_GETTERS.includes(l.method) ? `rt.${l.method}` :
    `${l.recv}.${l.method}(${args})`;
  const result = l.result === undefined || !outcome ? '' : ` -> ${argText(l.result)}`;
  const error = l.error === undefined || !outcome ? '' : ` threw ${l.error}`;
  const inn = l.in === undefined ? '' : ` (in call ${l.in[1]} of fn${l.in[0]})`;
  return `#${l.seq} ${call}${result}${error}${inn}${l.site === undefined ? '' : ` at ${l.site}`}`;
}

/** A bisect's answer as text. */
export function formatBisect(r: BisectResult): string {
  const head = `bisect (${r.build}, guarded, tracking): ${r.replayed} lines replayed, ${r.audits} audits, ${r.ms} ms`;
  const out = [head];
  if (r.kind === 'audit' && r.line !== undefined) {
    out.push(`the audit first fails after line ${r.after?.seq ?? r.line.seq}:`);
    if (r.after !== undefined && r.after.seq !== r.line.seq) {
      out.push(`  ${formatTraceLine(r.after)}`, `which ran, inside a callback, the line that broke the account:`);
    }
    out.push(`  ${formatTraceLine(r.line)}`, r.auditText ?? '');
  } else if (r.kind === 'error' && r.line !== undefined) {
    out.push(`line ${r.line.seq} raised ${r.error?.code ?? ''} (the audit held until then):`, `  ${formatTraceLine(r.line)}`, `  ${r.error?.message ?? ''}`);
    if (r.unownedBy !== undefined) out.push('the decref that had no owner:', `  ${formatTraceLine(r.unownedBy)}`);
  } else if (r.kind === 'leak') {
    const capi = r.outstanding.filter((o) => o.kind === 'capi').length;
    out.push(
      `every prefix audits clean, but ${r.outstanding.length} reference(s) are outstanding at the end (${capi} taken through the C API and never given back, ${r.outstanding.length - capi} Refs never released); the first was taken by:`,
      r.line === undefined ? `  (a line of no trace: ${r.outstanding[0]?.site ?? 'unknown site'})` : `  ${formatTraceLine(r.line)}`,
    );
    for (const o of r.outstanding.slice(1, 10)) out.push(`  also: ${o.kind} reference to a '${o.typeName}'${o.line === undefined ? '' : ` taken by line ${o.line.seq}`}`);
    if (r.outstanding.length > 10) out.push(`  ... and ${r.outstanding.length - 10} more`);
  } else {
    out.push('clean: every prefix audits clean, no reference error, nothing outstanding at the end');
  }
  if (r.mismatches > 0) out.push(`note: ${r.mismatches} line(s) ended otherwise than recorded in this build`);
  return out.join('\n').trimEnd();
}
