/**
 * Tracking runtimes (`Runtime.create({ track: true })`). Every call of the API that takes or
 * drops references (Ref creation and the Ref methods that change counts, the constructors,
 * `C.new`, the C API's incref / decref / new-reference / write functions, the gc calls that
 * return or free objects or decide when collections run) is bracketed for the core's history (native/core/provenance.h) with
 * its name and the caller's `file:line:column`; the core adds the allocations, the frees and
 * the collections. While `rt.trace` records, each of those calls is also written as one
 * portable trace line (lib/trace.ts replays them).
 *
 * Nothing here runs in other runtimes: a tracking runtime's Refs are of a subclass whose
 * methods are wrapped, and its modules' methods are wrapped on the instances.
 */
import type { Address } from '../binding.js';
import { RefcountError } from '../errors.js';
import { Ref, peekAddress, setTrackedRefClass } from './ref.js';
import { nativeOf, type Runtime } from './runtime.js';
import { PyClass } from './class.js';
import { WeakRef_ } from './weakref.js';
import { callSite, swapOpSite } from './util.js';

/** Which object of the API a trace line calls ('ctypes': `cast(addr, py_object).value` is
 * method 'castValue', `c_long.from_address(addr).value = v` is 'writeWord'). */
export type TraceReceiver = 'rt' | 'ref' | 'capi' | 'gc' | 'class' | 'weakref' | 'ctypes' | 'callback';

/** One trace line (one JSON object per line of `rt.trace.stop()`'s text). */
export interface TraceLine {
  readonly seq: number;
  readonly recv: TraceReceiver;
  /** The receiving Ref / class / weakref (its trace id), or the callback's id for 'callback'. */
  readonly self?: number;
  readonly method: string;
  /** The arguments, encoded: JSON values, and `{ $: 'ref' | 'cls' | 'weakref', id }`,
   * `{ $: 'obj', id }` (an address, as the id of the Ref it came from), `{ $: 'address', v }`
   * (an address no Ref of the trace had), `{ $: 'fn', id }`, `{ $: 'bigint', v }`,
   * `{ $: 'number', v }` (NaN, ±Infinity, -0), `{ $: 'undefined' }`, `{ $: 'object', v }`,
   * `{ $: 'set', v }`, `{ $: 'map', v }`, `{ $: 'addrs', v }`, `{ $: 'bytes', hex }`. */
  readonly args: readonly unknown[];
  /** What it returned (encoded; a new Ref gets its id here, a class `{ $: 'cls', id, ref }` and
   * a weakref `{ $: 'weakref', id, ref }` also the id of their object's Ref). */
  result?: unknown;
  /** The error code it threw. */
  error?: string;
  /** The caller's `file:line:column`. */
  readonly site?: string;
  /** Made inside a callback: [callback id, call number]. */
  readonly in?: readonly [number, number];
  /** 'callback' lines: the call number. */
  readonly call?: number;
}

// What an operation does to the capi holders of the objects it names (the core's CapiEffect).
type Effect = '' | 'take' | 'give' | 'write';

const REF_METHODS = [
  'dup', 'release', 'reprObject', 'getattr', 'setattr', 'delattr', 'getitem', 'setitem', 'delitem',
  'append', 'appendRange', 'add', 'discard', 'insert', 'pop', 'clear', 'repeat', 'copy',
] as const;
const RT_METHODS = ['int', 'float', 'str', 'tuple', 'list', 'set', 'frozenset', 'dict', 'defineClass', 'weakref'] as const;
const RT_GETTERS = ['None', 'True', 'False'] as const;
const CAPI_EFFECTS: Readonly<Record<string, Effect>> = {
  Py_INCREF: 'take', Py_XINCREF: 'take', Py_IncRef: 'take', Py_NewRef: 'take', Py_XNewRef: 'take', increfMany: 'take',
  Py_DECREF: 'give', Py_XDECREF: 'give', Py_DecRef: 'give', decrefMany: 'give',
  Py_SET_REFCNT: 'write', writeBytes: 'write',
};
// and the calls that decide when automatic collections run (a replay must run them too)
const GC_METHODS = ['collect', 'getObjects', 'getReferrers', 'getReferents', 'enable', 'disable', 'setThreshold', 'freeze', 'unfreeze'] as const;
const WEAKREF_METHODS = ['deref', 'release'] as const;

/** @internal The methods a trace line may name, by receiver (what lib/trace.ts may call). */
export const TRACE_METHODS: Readonly<Record<Exclude<TraceReceiver, 'callback'>, readonly string[]>> = {
  rt: [...RT_METHODS, ...RT_GETTERS],
  ref: REF_METHODS,
  capi: Object.keys(CAPI_EFFECTS),
  gc: GC_METHODS,
  class: ['new'],
  weakref: WEAKREF_METHODS,
  ctypes: ['castValue', 'writeWord'],
};
/** @internal The rt getters (read as properties in a replay). */
export const TRACE_GETTERS: readonly string[] = RT_GETTERS;

/** The per-runtime state of tracking: the trace being recorded, if any. */
class Tracker {
  readonly rt: Runtime;
  trace: TraceRecorder | undefined;
  constructor(rt: Runtime) {
    this.rt = rt;
  }
}
const trackers = new WeakMap<Runtime, Tracker>();

/** Records trace lines and gives each Ref, class, weakref and callback of the trace an id. */
class TraceRecorder {
  readonly lines: TraceLine[] = [];
  readonly #ids = new WeakMap<object, number>();
  readonly #byAddress = new Map<Address, number>();
  readonly #callbacks = new WeakMap<object, { id: number; calls: number; wrapped: (...a: unknown[]) => unknown }>();
  #next = 1;
  #context: (readonly [number, number])[] = [];
  // What is running, innermost last: a recorded call (false) or a user callback (true). A call
  // made while a recorded call runs, not from a callback, is the library calling its own
  // methods (the release of a finalizer's `self` after it, PyClass.new's setattrs,
  // PyWeakRef.release): no line of its own, or a replay would do it twice.
  readonly #running: boolean[] = [];

  /** A call begins: its line (and the arguments to pass on), or undefined when it is not one
   * (see #running). Each begin() is followed by one finish(). */
  begin(recv: TraceReceiver, self: number | undefined, method: string, args: readonly unknown[], addrArgs: number, site: string | undefined): { line: TraceLine; args: unknown[] } | undefined {
    const inner = this.#running.length > 0 && this.#running[this.#running.length - 1] === false;
    this.#running.push(false);
    if (inner) return undefined;
    const out: unknown[] = [];
    const encoded = args.map((a, i) => this.#encode(a, i < addrArgs, out));
    const line: TraceLine = {
      seq: this.lines.length + 1,
      recv,
      ...(self === undefined ? {} : { self }),
      method,
      args: encoded,
      ...(site === undefined ? {} : { site }),
      ...(this.#context.length === 0 ? {} : { in: this.#context[this.#context.length - 1] }),
    };
    this.lines.push(line);
    return { line, args: out.length === 0 ? (args as unknown[]) : this.#substitute(args) };
  }

  finish(): void {
    this.#running.pop();
  }

  end(line: TraceLine, result: unknown, error: unknown, addrArgs: number): void {
    if (error !== undefined) {
      line.error = error instanceof RefcountError ? error.code : error instanceof Error ? error.name : 'thrown';
      return;
    }
    const r = addrArgs > 0 && typeof result === 'number' ? this.#encode(result, true, []) : this.#result(result);
    if (r !== undefined) line.result = r;
  }

  /** The trace id of a Ref / class / weakref (a new one the first time it is seen). */
  idOf(o: object): number {
    let id = this.#ids.get(o);
    if (id === undefined) {
      id = this.#next++;
      this.#ids.set(o, id);
      if (o instanceof Ref) this.#byAddress.set(peekAddress(o), id);
    }
    return id;
  }

  #result(r: unknown): unknown {
    if (r instanceof Ref) return { $: 'ref', id: this.idOf(r) };
    if (r instanceof PyClass) return { $: 'cls', id: this.idOf(r), ref: this.idOf(r.ref) };
    if (r instanceof WeakRef_) {
      this.idOf(r.ref);
      return { $: 'weakref', id: this.idOf(r), ref: this.idOf(r.ref) };
    }
    if (Array.isArray(r)) return r.map((x) => this.#result(x));
    if (typeof r === 'number' || typeof r === 'boolean' || typeof r === 'string' || r === null) return r;
    if (typeof r === 'bigint') return { $: 'bigint', v: r.toString() };
    return undefined;
  }

  #encode(a: unknown, addrArgs: boolean, fns: unknown[]): unknown {
    if (a instanceof Ref) return { $: 'ref', id: this.idOf(a) };
    if (a instanceof PyClass) return { $: 'cls', id: this.idOf(a) };
    if (a instanceof WeakRef_) return { $: 'weakref', id: this.idOf(a) };
    if (typeof a === 'number') {
      if (addrArgs && a !== 0) {
        const id = this.#byAddress.get(a);
        return id === undefined ? { $: 'address', v: a } : { $: 'obj', id };
      }
      // JSON has no NaN, Infinity or -0
      return Number.isFinite(a) && !Object.is(a, -0) ? a : { $: 'number', v: Object.is(a, -0) ? '-0' : String(a) };
    }
    if (typeof a === 'string' || typeof a === 'boolean' || a === null) return a;
    if (a === undefined) return { $: 'undefined' };
    if (typeof a === 'bigint') return addrArgs ? this.#encode(Number(a), true, fns) : { $: 'bigint', v: a.toString() };
    if (typeof a === 'function') {
      fns.push(a);
      return { $: 'fn', id: this.#callback(a as (...x: unknown[]) => unknown).id };
    }
    if (a instanceof Float64Array || a instanceof BigUint64Array) {
      return { $: 'addrs', v: Array.from(a as ArrayLike<number | bigint>, (x) => this.#encode(Number(x), true, fns)) };
    }
    if (Buffer.isBuffer(a)) return { $: 'bytes', hex: a.toString('hex') };
    if (Array.isArray(a)) return a.map((x) => this.#encode(x, false, fns));
    if (a instanceof Set) return { $: 'set', v: [...a].map((x) => this.#encode(x, false, fns)) };
    if (a instanceof Map) return { $: 'map', v: [...a].map(([k, v]) => [this.#encode(k, false, fns), this.#encode(v, false, fns)]) };
    if (typeof a === 'object') {
      const v: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(a)) v[k] = this.#encode(x, false, fns);
      return { $: 'object', v };
    }
    return { $: 'undefined' };
  }

  // The arguments with each function replaced by its recording wrapper (functions sit at the
  // top level or one object deep: defineClass's options, weakref's callback).
  #substitute(args: readonly unknown[]): unknown[] {
    return args.map((a) => {
      if (typeof a === 'function') return this.#callbacks.get(a)?.wrapped ?? a;
      if (a !== null && typeof a === 'object' && !(a instanceof Ref) && Object.getPrototypeOf(a) === Object.prototype) {
        const o: Record<string, unknown> = { ...(a as Record<string, unknown>) };
        for (const k of Object.keys(o)) if (typeof o[k] === 'function') o[k] = this.#callbacks.get(o[k] as object)?.wrapped ?? o[k];
        return o;
      }
      return a;
    });
  }

  // A user callback: each call is a 'callback' line naming the objects it was given, and the
  // operations it makes are lines `in` it, so a replay runs them inside the same call.
  #callback(fn: (...x: unknown[]) => unknown): { id: number; calls: number; wrapped: (...a: unknown[]) => unknown } {
    let cb = this.#callbacks.get(fn);
    if (cb !== undefined) return cb;
    const id = this.#next++;
    const rec = this;
    const entry = {
      id,
      calls: 0,
      wrapped(this: unknown, ...a: unknown[]): unknown {
        const call = ++entry.calls;
        rec.lines.push({
          seq: rec.lines.length + 1,
          recv: 'callback',
          self: id,
          method: 'call',
          call,
          args: a.map((x) => rec.#result(x)),
          ...(rec.#context.length === 0 ? {} : { in: rec.#context[rec.#context.length - 1] }),
        });
        rec.#context.push([id, call]);
        rec.#running.push(true);
        try {
          return fn.apply(this, a);
        } finally {
          rec.#running.pop();
          rec.#context.pop();
        }
      },
    };
    cb = entry;
    this.#callbacks.set(fn, cb);
    return cb;
  }
}

/** `rt.trace`: records the operations made through the API as a portable trace. */
export class TraceModule {
  readonly #rt: Runtime;
  /** Made by the runtime (not for user code). */
  constructor(rt: Runtime) {
    this.#rt = rt;
  }
  /** True between start() and stop(). */
  get recording(): boolean {
    return trackers.get(this.#rt)?.trace !== undefined;
  }
  /**
   * Starts recording (a tracking runtime: `Runtime.create({ track: true })`; ERR_VALUE
   * otherwise). Start it before the objects it should follow are made: a line that names a Ref
   * made before start() cannot be replayed.
   */
  start(): void {
    const t = trackers.get(this.#rt);
    if (t === undefined) throw new RefcountError('ERR_VALUE', 'rt.trace needs a tracking runtime: Runtime.create({ track: true })');
    if (t.trace !== undefined) throw new RefcountError('ERR_VALUE', 'rt.trace is already recording');
    t.trace = new TraceRecorder();
  }
  /** Stops recording and returns the trace: one JSON object per line (write it to a `.jsonl`). */
  stop(): string {
    const t = trackers.get(this.#rt);
    if (t?.trace === undefined) throw new RefcountError('ERR_VALUE', 'rt.trace is not recording');
    const lines = t.trace.lines;
    t.trace = undefined;
    return lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length > 0 ? '\n' : '');
  }
}

// ------------------------------------------------------------------ the wrapping

// The object an operation returned: a Ref, a weakref, or an address from the C API (only there
// is a number an address: gc.collect's count is not one).
function resultAddress(r: unknown, addrArgs: number): Address | undefined {
  if (r instanceof Ref) return peekAddress(r);
  if (r instanceof WeakRef_) return peekAddress(r.ref);
  return addrArgs > 0 && typeof r === 'number' ? r : undefined;
}

function addressesIn(args: readonly unknown[], addrArgs: number, out: unknown[]): void {
  args.forEach((a, i) => {
    if (a instanceof Ref) out.push(peekAddress(a));
    else if (a instanceof WeakRef_) out.push(peekAddress(a.ref));
    else if (i < addrArgs && (typeof a === 'number' || a instanceof Float64Array || a instanceof BigUint64Array)) out.push(a);
    else if (i < addrArgs && typeof a === 'bigint') out.push(Number(a));
  });
}

interface CallSpec {
  /** The name in the history (`Ref.append`, `capi.Py_DECREF`, `A.new`). */
  readonly op: string;
  /** The trace line's receiver and method. */
  readonly recv: TraceReceiver;
  readonly method: string;
  readonly effect: Effect;
  /** How many leading arguments are addresses (the C API's; 0 elsewhere). */
  readonly addrArgs: number;
}

function spec(op: string, recv: TraceReceiver, method: string, effect: Effect = '', addrArgs = 0): CallSpec {
  return { op, recv, method, effect, addrArgs };
}

function runTracked(t: Tracker, spec: CallSpec, self: object, selfAddr: Address | undefined, traceSelf: number | undefined,
  fn: (...a: unknown[]) => unknown, args: unknown[]): unknown {
  const rt = t.rt;
  if (rt.closed) return fn.apply(self, args);
  const n = nativeOf(rt);
  const site = callSite();
  const touched: unknown[] = selfAddr === undefined ? [] : [selfAddr];
  addressesIn(args, spec.addrArgs, touched);
  const rec = t.trace;
  const traced = rec?.begin(spec.recv, traceSelf, spec.method, args, spec.addrArgs, site);
  n.trackEnter(spec.op, site ?? '', spec.effect, ...(touched as (Address | Float64Array | BigUint64Array)[]));
  const outerSite = swapOpSite(site);
  let ok = false;
  let result: unknown;
  let error: unknown;
  try {
    result = fn.apply(self, traced?.args ?? args);
    ok = true;
    return result;
  } catch (e) {
    error = e;
    throw e;
  } finally {
    swapOpSite(outerSite);
    if (!rt.closed) n.trackLeave(ok, resultAddress(result, spec.addrArgs));
    if (traced !== undefined) rec?.end(traced.line, result, ok ? undefined : (error ?? null), spec.addrArgs);
    rec?.finish();
    if (ok && (result instanceof PyClass || result instanceof WeakRef_)) instrumentResult(t, result);
  }
}

function wrapOn(t: Tracker, target: object, name: string, spec: CallSpec, selfOf: (o: object) => { addr?: Address | undefined; id?: number | undefined }, fn: (...a: unknown[]) => unknown): void {
  Object.defineProperty(target, name, {
    configurable: true,
    writable: true,
    value: function (this: object, ...args: unknown[]): unknown {
      const s = selfOf(this);
      return runTracked(t, spec, this, s.addr, s.id, fn, args);
    },
  });
}

let trackedRefClass: (new (rt: Runtime, addr: Address) => Ref) | undefined;

// The Ref subclass of tracking runtimes: the same methods, each recorded.
function makeTrackedRefClass(): new (rt: Runtime, addr: Address) => Ref {
  class TrackedRef extends Ref {}
  for (const m of REF_METHODS) {
    const fn = Ref.prototype[m] as (...a: unknown[]) => unknown;
    const s = spec(`Ref.${m}`, 'ref', m);
    Object.defineProperty(TrackedRef.prototype, m, {
      configurable: true,
      writable: true,
      value: function (this: Ref, ...args: unknown[]): unknown {
        const t = trackers.get(this.runtime);
        if (t === undefined) return fn.apply(this, args);
        return runTracked(t, s, this, peekAddress(this), t.trace?.idOf(this), fn, args);
      },
    });
  }
  return TrackedRef;
}

function instrumentResult(t: Tracker, r: PyClass | WeakRef_): void {
  if (r instanceof PyClass) {
    const fn = PyClass.prototype.new as (...a: unknown[]) => unknown;
    wrapOn(t, r, 'new', spec(`${r.name}.new`, 'class', 'new'), (o) => ({ id: t.trace?.idOf(o) }), fn);
  } else {
    for (const m of WEAKREF_METHODS) {
      const fn = WeakRef_.prototype[m] as (...a: unknown[]) => unknown;
      wrapOn(t, r, m, spec(`weakref.${m}`, 'weakref', m),
        (o) => ({ addr: peekAddress((o as WeakRef_).ref), id: t.trace?.idOf(o) }), fn);
    }
  }
}

/** @internal A call of the ctypes facade in a tracking runtime (`rt.tracking`): recorded as
 * the others are; its first argument is an address. */
export function trackCtypes<T>(rt: Runtime, method: 'castValue' | 'writeWord', args: unknown[], fn: (...a: never[]) => T): T {
  const t = trackers.get(rt) as Tracker;
  const s = method === 'castValue' ? CAST_VALUE : WRITE_WORD;
  return runTracked(t, s, rt.ctypes, undefined, undefined, fn as (...a: unknown[]) => unknown, args) as T;
}
const CAST_VALUE = spec('ctypes.cast(addr, py_object).value', 'ctypes', 'castValue', '', 1);
const WRITE_WORD = spec('ctypes.c_long.from_address(addr).value =', 'ctypes', 'writeWord', 'write', 1);

/** @internal Makes `rt` a tracking runtime: called once, by its constructor. */
export function instrumentRuntime(rt: Runtime): TraceModule {
  trackedRefClass ??= makeTrackedRefClass();
  setTrackedRefClass(trackedRefClass);
  const t = new Tracker(rt);
  trackers.set(rt, t);
  const none = () => ({});
  const proto = Object.getPrototypeOf(rt) as Record<string, unknown>;
  for (const m of RT_METHODS) {
    const fn = proto[m] as (...a: unknown[]) => unknown;
    // the weakref a callback is given is instrumented like the one rt.weakref returns
    const weakref = function (this: Runtime, obj: unknown, cb?: (wr: WeakRef_) => void): unknown {
      return fn.call(this, obj, cb && ((wr: WeakRef_) => (instrumentResult(t, wr), cb(wr))));
    };
    wrapOn(t, rt, m, spec(`rt.${m}`, 'rt', m), none, m === 'weakref' ? (weakref as (...a: unknown[]) => unknown) : fn);
  }
  for (const g of RT_GETTERS) {
    const get = Object.getOwnPropertyDescriptor(proto, g)?.get;
    if (get === undefined) continue;
    const s = spec(`rt.${g}`, 'rt', g);
    Object.defineProperty(rt, g, { configurable: true, get: () => runTracked(t, s, rt, undefined, undefined, get, []) });
  }
  const capi = rt.capi as unknown as Record<string, (...a: unknown[]) => unknown>;
  const capiProto = Object.getPrototypeOf(capi) as Record<string, unknown>;
  for (const [m, effect] of Object.entries(CAPI_EFFECTS)) {
    const fn = (Object.prototype.hasOwnProperty.call(capi, m) ? capi[m] : capiProto[m]) as (...a: unknown[]) => unknown;
    wrapOn(t, capi, m, spec(`capi.${m}`, 'capi', m, effect, 1), none, fn);
  }
  const gcProto = Object.getPrototypeOf(rt.gc) as Record<string, unknown>;
  for (const m of GC_METHODS) {
    wrapOn(t, rt.gc, m, spec(`gc.${m}`, 'gc', m), none, gcProto[m] as (...a: unknown[]) => unknown);
  }
  return new TraceModule(rt);
}
