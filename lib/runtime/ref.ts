/** {@link Ref} (one owned strong reference) and the leak tracking of lost Refs. */
import { RefcountError } from '../errors.js';
import { IO_RUNTIME, PACKED_KINDS, type ObjectKind } from '../schema.js';
import type { Address, NativeRuntime } from '../binding.js';
import { nativeOf, nameSlotOf, type Runtime } from './runtime.js';
import { isPrimitive, withObject, type PyInput, type PyValue } from './convert.js';
import { callSite, currentOpSite, hex, INSPECT, INSPECT_REPR_MAX } from './util.js';

const LEAK_CODE = 'REFCOUNT_LAB_LEAKED_REF';
const DANGLING_CODE = 'REFCOUNT_LAB_DANGLING_REF';

interface LeakToken {
  readonly rt: Runtime;
  readonly addr: Address;
  readonly weak: WeakRef<Ref>;
  readonly site: string | undefined;
}

// The Refs that outlived the task that made them, for rt.refs.explain / audit: a Ref joins this
// set where it joins the leak registry (so only the same few long-lived Refs pay for it) and
// leaves it when released or collected. The younger ones are still in `pending` below.
const longLived = new Set<WeakRef<Ref>>();

// The object is alive when this runs (the lost Ref owned a reference to it), so its type can be
// read then; immortal objects are not worth a warning. Unless someone released the Ref's
// reference behind its back (an extra Py_DECREF through capi) and the object is gone: guarded
// mode says so (a throw here would be an uncaught exception at a random GC); unguarded mode
// reads the address as C would.
const leakRegistry = new FinalizationRegistry<LeakToken>((t) => {
  longLived.delete(t.weak);
  if (t.rt.closed) return;
  let typeName: string;
  try {
    if (nativeOf(t.rt).isImmortal(t.addr)) return;
    typeName = nativeOf(t.rt).typeName(t.addr);
  } catch (e) {
    if (!(e instanceof RefcountError)) throw e;
    process.emitWarning(
      `a Ref to the object at ${hex(t.addr)} was garbage-collected by V8 after the object had been ` +
        `deallocated (${e.code}): its reference was released by another call, e.g. an extra Py_DECREF`,
      { code: DANGLING_CODE, type: 'RefcountLabWarning' },
    );
    return;
  }
  process.emitWarning(
    `a Ref to a '${typeName}' object at ${hex(t.addr)}${t.site === undefined ? '' : ` created at ${t.site}`} ` +
      `was garbage-collected by V8 while it still owned its reference: the reference is leaked ` +
      `(call release() or use 'using')`,
    { code: LEAK_CODE, type: 'RefcountLabWarning' },
  );
});

// Registering with a FinalizationRegistry costs ~0.3-0.7 us, far more than the Ref itself, and
// most Refs are released soon after they are made. So new Refs wait in `pending` (a strong
// reference: they cannot be collected there) and only the ones still unreleased when the current
// task ends are registered. When `pending` fills up inside one task, the released Refs are
// dropped from it and the owning ones kept; only when those fill half of it are they registered
// (a loop that keeps every Ref it makes pays the registration it would pay at the task's end; a
// loop that holds a few hundred Refs at a time pays none). Every Ref that V8 can collect while
// owning its reference has been registered first, so no leak goes unreported.
// Each batch is a fresh array: a young one, so storing a young Ref into it needs no entry in
// V8's old-to-new remembered set (a long-lived array that kept its backing store made every
// store one: dup().release() 53 -> 64 ns).
const PENDING_LIMIT = 4096;
let pending: Ref[] = [];
let flushScheduled = false;

function flushPending(): void {
  flushScheduled = false;
  registerPending();
}

function registerPending(): void {
  const batch = pending;
  pending = [];
  for (const r of batch) registerIfOwned(r);
}

function compactPending(): void {
  const batch = pending;
  pending = [];
  for (const r of batch) if (ownsReference(r)) pending.push(r);
  if (pending.length >= PENDING_LIMIT / 2) registerPending();
}

function track(r: Ref): void {
  if (pending.length >= PENDING_LIMIT) compactPending();
  pending.push(r);
  if (!flushScheduled) {
    flushScheduled = true;
    queueMicrotask(flushPending);
  }
}

let refAddress: (r: Ref) => Address;
let registerIfOwned: (r: Ref) => void;
let ownsReference: (r: Ref) => boolean;
let ownedBy: (r: Ref, rt: Runtime) => Address | undefined;
let siteOf: (r: Ref) => string | undefined;
let peek: (r: Ref) => Address;

/** @internal A Ref's address without the released / closed checks (the tracking records). */
export function peekAddress(r: Ref): Address {
  return peek(r);
}

// A tracking runtime's Refs are of a subclass whose methods record each call (track.ts sets it).
let trackedRef: (new (rt: Runtime, addr: Address) => Ref) | undefined;
/** @internal */
export function setTrackedRefClass(c: new (rt: Runtime, addr: Address) => Ref): void {
  trackedRef = c;
}

/** @internal Where a Ref was created (tracking runtimes), else undefined. */
export function refSite(r: Ref): string | undefined {
  return siteOf(r);
}

/** @internal Every Ref of `rt` that owns its reference now, by address. The young Refs are
 * registered first (as the end of the task would), so the long-lived set is the whole list. */
export function ownedRefs(rt: Runtime): Map<Address, Ref[]> {
  if (!rt.leakWarnings)
    throw new RefcountError('ERR_VALUE', 'this runtime keeps no books on its Refs (Runtime.create({ leakWarnings: false })): rt.refs cannot tell the references they own from leaks');
  flushPending();
  const out = new Map<Address, Ref[]>();
  for (const w of longLived) {
    const r = w.deref();
    const a = r === undefined ? undefined : ownedBy(r, rt);
    if (a === undefined) continue;
    const list = out.get(a);
    if (list === undefined) out.set(a, [r as Ref]);
    else list.push(r as Ref);
  }
  return out;
}

/**
 * One owned strong reference to an object of a {@link Runtime}, like a Python name binding.
 * `release()` is `del name`; `dup()` is `other = name` (Py_NewRef).
 */
export class Ref implements Disposable {
  readonly #rt: Runtime;
  readonly #addr: Address;
  readonly #borrowed: boolean;
  #released = false;
  #registered: WeakRef<Ref> | undefined;
  #kind: ObjectKind | undefined;
  #site: string | undefined;

  /** Made by the runtime (not for user code): wraps an address whose reference the new Ref now owns. */
  constructor(rt: Runtime, addr: Address, borrowed = false) {
    this.#rt = rt;
    this.#addr = addr;
    this.#borrowed = borrowed;
    if (!borrowed && rt.leakWarnings) {
      track(this);
      if (rt.tracking) this.#site = currentOpSite() ?? callSite();
    }
  }

  /** The runtime this reference belongs to. */
  get runtime(): Runtime {
    return this.#rt;
  }
  /** id(obj): the object's address. */
  get id(): Address {
    this.#check();
    return this.#addr;
  }
  /** ob_refcnt now (a bigint only when it does not fit a safe integer). */
  get refcnt(): number | bigint {
    return this.#n().refcnt(this.#check());
  }
  /** The type's name (`'int'`, `'list'`, `'A'`...). */
  get typeName(): string {
    return this.#n().typeName(this.#check());
  }
  /** The built-in kind: 'int' | 'bool' | 'float' | 'str' | 'tuple' | 'list' | 'dict' |
   * 'None' | 'type' | 'instance' | 'weakref' | ... */
  get kind(): ObjectKind {
    this.#kind ??= this.#n().kind(this.#check());
    return this.#kind;
  }
  /** True once this Ref has given its reference back. */
  get released(): boolean {
    return this.#released;
  }
  /** True when this is Python's None. */
  get isNone(): boolean {
    return this.#check() === nativeOf(this.#rt).singletons.None;
  }
  /** Py_NewRef: a new Ref owning one more reference to the same object. */
  dup(): Ref {
    const a = this.#check();
    const n = this.#n();
    ioOf(n)[0] = a;
    n.increfIo();
    return wrapAddress(this.#rt, a);
  }
  /** Py_DECREF (`del name`). A second call throws ERR_RELEASED. */
  release(): void {
    const a = this.#check();
    if (this.#borrowed) {
      throw new RefcountError('ERR_TYPE', 'this Ref is borrowed (owned by its class or gc handle): dup() it to own a reference');
    }
    this.#released = true;
    if (this.#registered !== undefined) {
      leakRegistry.unregister(this);
      longLived.delete(this.#registered);
    }
    const n = this.#n();
    ioOf(n)[0] = a;
    n.decrefIo();
  }
  /** Releases the reference if it is still owned (for `using`). */
  [Symbol.dispose](): void {
    if (!this.#released && !this.#borrowed && !this.#rt.closed) this.release();
  }
  /** The object converted to a JS value. */
  value(): PyValue {
    return this.#n().value(this.#check()) as PyValue;
  }
  /** repr(obj). */
  repr(): string {
    return this.#n().repr(this.#check());
  }
  /** repr(obj) as a new str object in this runtime's heap (a new reference), allocated as
   * CPython allocates it: an int's repr is always a fresh str, even for one character. This is
   * what an f-string's `{x = }` / `{x!r}` creates and drops between two lines of the talk. */
  reprObject(): Ref {
    return wrapAddress(this.#rt, this.#n().reprObject(this.#check()));
  }
  toString(): string {
    return this.#released ? '<released Ref>' : this.repr();
  }
  /** console.log / util.inspect: `Ref<list 0x7f… refcnt=1> [1, 'a', 2.5]` (the repr cut at 200). */
  [INSPECT](): string {
    if (this.#released) return '<released Ref>';
    if (this.#rt.closed) return `<Ref ${hex(this.#addr)} of a closed runtime>`;
    try {
      const r = this.repr();
      const shown = r.length > INSPECT_REPR_MAX ? r.slice(0, INSPECT_REPR_MAX) + '…' : r;
      return `Ref<${this.typeName} ${hex(this.#addr)} refcnt=${this.refcnt}> ${shown}`;
    } catch (e) {
      // guarded: an object freed behind the Ref's back (an extra Py_DECREF) is shown, not thrown
      return `<Ref ${hex(this.#addr)}: ${e instanceof RefcountError ? e.code : String(e)}>`;
    }
  }

  // ------------------------------------------------------------------ attributes
  /** getattr(obj, name): a new reference. */
  getattr(name: string): Ref {
    const a = this.#check();
    const n = this.#n();
    const slot = nameSlotOf(this.#rt, name);
    const io = ioOf(n);
    io[0] = a;
    io[1] = slot;
    n.getattrIo();
    return wrapAddress(this.#rt, io[0] as Address);
  }
  /** setattr(obj, name, value). */
  setattr(name: string, value: PyInput): void {
    const a = this.#check();
    const n = this.#n();
    const slot = nameSlotOf(this.#rt, name);
    if (packValue(n.io, 2, value, this.#rt)) {
      ioOf(n)[0] = a;
      n.io[1] = slot;
      n.setattrIo();
    } else if (value instanceof Ref) n.setattr(a, slot, addressOf(value, this.#rt));
    else if (isPrimitive(value)) n.setattrValue(a, slot, value);
    else withObject(this.#rt, value, (v) => n.setattr(a, slot, v));
  }
  /** delattr(obj, name). */
  delattr(name: string): void {
    const a = this.#check();
    this.#n().delattr(a, nameSlotOf(this.#rt, name));
  }
  /** hasattr(obj, name). */
  hasattr(name: string): boolean {
    const a = this.#check();
    return this.#n().hasattr(a, nameSlotOf(this.#rt, name));
  }

  // ------------------------------------------------------------------ containers
  /** len(obj). */
  len(): number {
    const a = this.#check();
    const n = this.#n();
    ioOf(n)[0] = a;
    n.lenIo();
    return n.io[0] as number;
  }
  /** obj[key]: an index for lists and tuples, any hashable value for dicts. */
  getitem(key: PyInput): Ref {
    const a = this.#check();
    if (this.kind === 'dict') return withObject(this.#rt, key, (k) => wrapAddress(this.#rt, this.#n().getitemKey(a, k)));
    const n = this.#n();
    const index = this.#index(key);
    const io = ioOf(n);
    io[0] = a;
    io[1] = index;
    n.getitemIo();
    return wrapAddress(this.#rt, io[0] as Address);
  }
  /** obj[key] = value. */
  setitem(key: PyInput, value: PyInput): void {
    const a = this.#check();
    withObject(this.#rt, value, (v) => {
      if (this.kind === 'dict') withObject(this.#rt, key, (k) => this.#n().setitemKey(a, k, v));
      else this.#n().setitemIndex(a, this.#index(key), v);
    });
  }
  /** del obj[key]. */
  delitem(key: PyInput): void {
    const a = this.#check();
    if (this.kind === 'dict') withObject(this.#rt, key, (k) => this.#n().delitemKey(a, k));
    else this.#n().delitemIndex(a, this.#index(key));
  }
  /** list.append(value). */
  append(value: PyInput): void {
    const a = this.#check();
    const n = this.#n();
    if (packValue(n.io, 1, value, this.#rt)) {
      ioOf(n)[0] = a;
      n.appendIo();
    } else if (isPrimitive(value)) n.appendValue(a, value);
    else withObject(this.#rt, value, (v) => n.append(a, v));
  }
  /**
   * `for i in range(start, stop): lst.append(i)` in one native call, as CPython 3.12 runs
   * `[i for i in range(start, stop)]`: each int comes from the runtime's allocator (small ints
   * are the cached ones) and is appended with list_append's over-allocation; no JS value is
   * made per item. ERR_VALUE unless both bounds are integers within 2**53; ERR_TYPE on a
   * non-list. An empty range (stop <= start) appends nothing.
   */
  appendRange(start: number, stop: number): void {
    const a = this.#check();
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(stop))
      throw new RefcountError('ERR_VALUE', `appendRange needs integer bounds within 2**53, got ${String(start)}, ${String(stop)}`);
    this.#n().appendRange(a, start, stop);
  }
  /** set.add(value). AttributeError on anything but a set (a frozenset too, as in Python). */
  add(value: PyInput): void {
    const a = this.#check();
    withObject(this.#rt, value, (v) => this.#n().setAdd(a, v));
  }
  /** set.discard(value): removed if present. Returns whether it was (Python returns None). */
  discard(value: PyInput): boolean {
    const a = this.#check();
    return withObject(this.#rt, value, (v) => this.#n().setDiscard(a, v)) === 1;
  }
  /** `value in obj`: sets and dicts by hash, lists and tuples by a scan, strs by substring. */
  contains(value: PyInput): boolean {
    const a = this.#check();
    return withObject(this.#rt, value, (v) => this.#n().contains(a, v)) === 1;
  }
  /** list.insert(index, value). */
  insert(index: number, value: PyInput): void {
    const a = this.#check();
    withObject(this.#rt, value, (v) => this.#n().insert(a, this.#index(index), v));
  }
  /** list.pop(index = -1) or dict.pop(key): the removed object, as a new reference. */
  pop(key?: PyInput): Ref {
    const a = this.#check();
    if (this.kind === 'dict') {
      if (key === undefined) throw new TypeError('dict.pop() needs a key');
      return withObject(this.#rt, key, (k) => wrapAddress(this.#rt, this.#n().popKey(a, k)));
    }
    return wrapAddress(this.#rt, this.#n().popIndex(a, key === undefined ? -1 : this.#index(key)));
  }
  /** list.clear() / dict.clear() / set.clear(). */
  clear(): void {
    this.#n().clear(this.#check());
  }
  /** seq * n: a new list (or tuple). */
  repeat(n: number): Ref {
    return wrapAddress(this.#rt, this.#n().repeat(this.#check(), this.#index(n)));
  }
  /** dict.copy() / list.copy() / set.copy() (frozenset.copy() is the frozenset itself). */
  copy(): Ref {
    return wrapAddress(this.#rt, this.#n().copy(this.#check()));
  }

  // Package-internal access (lib/internal.ts), kept off the public type.
  static {
    refAddress = (r) => r.#check();
    registerIfOwned = (r) => r.#registerIfOwned();
    ownsReference = (r) => !r.#released && !r.#rt.closed;
    ownedBy = (r, rt) => (r.#rt === rt && !r.#released && !r.#borrowed ? r.#addr : undefined);
    siteOf = (r) => r.#site;
    peek = (r) => r.#addr;
  }

  /** Registers this Ref for leak reports if it still owns its reference. */
  #registerIfOwned(): void {
    if (this.#released || this.#registered !== undefined || this.#rt.closed) return;
    const weak = new WeakRef<Ref>(this);
    this.#registered = weak;
    longLived.add(weak);
    leakRegistry.register(this, { rt: this.#rt, addr: this.#addr, weak, site: this.#site }, this);
  }

  #n(): NativeRuntime {
    return nativeOf(this.#rt);
  }
  #check(): Address {
    if (this.#released) throw new RefcountError('ERR_RELEASED', `this Ref was already released (it pointed at ${hex(this.#addr)})`);
    if (this.#rt.closed) throw new RefcountError('ERR_RUNTIME_CLOSED', 'the runtime of this Ref is closed');
    return this.#addr;
  }
  #index(key: PyInput): number {
    if (typeof key !== 'number') throw new TypeError(`${this.typeName} indices must be integers`);
    return key;
  }
}

/** The io block of `n`'s build, with `n`'s runtime named in it: the caller writes the rest of
 * the call's numbers, then calls the `*Io` function. */
function ioOf(n: NativeRuntime): Float64Array {
  const io = n.io;
  io[IO_RUNTIME] = n.ioRuntime;
  return io;
}

/**
 * Writes `value` as a packed (kind, value) pair at io[at], io[at + 1] if it is one without a
 * conversion (a number, None, a bool, a Ref of `rt`), for the `*Io` calls; false for strings,
 * bigints and containers, which take the calls with JS arguments.
 */
function packValue(io: Float64Array, at: number, value: PyInput, rt: Runtime): boolean {
  if (typeof value === 'number') {
    io[at] = PACKED_NUMBER;
    io[at + 1] = value;
  } else if (value instanceof Ref) {
    io[at + 1] = addressOf(value, rt);
    io[at] = PACKED_ADDRESS;
  } else if (value === null || value === undefined) {
    io[at] = PACKED_NONE;
  } else if (typeof value === 'boolean') {
    io[at] = value ? PACKED_TRUE : PACKED_FALSE;
  } else {
    return false;
  }
  return true;
}
const PACKED_NUMBER = PACKED_KINDS.number;
const PACKED_ADDRESS = PACKED_KINDS.address;
const PACKED_NONE = PACKED_KINDS.none;
const PACKED_TRUE = PACKED_KINDS.true;
const PACKED_FALSE = PACKED_KINDS.false;

/**
 * @internal The address of a Ref, after the released / closed checks; given a runtime, also
 * checks that `ref` is a Ref of that runtime (ERR_WRONG_RUNTIME otherwise).
 */
export function addressOf(ref: Ref, rt?: Runtime): Address {
  if (rt !== undefined) {
    if (!(ref instanceof Ref)) throw new TypeError('a Ref is required');
    if (ref.runtime !== rt) throw new RefcountError('ERR_WRONG_RUNTIME', 'this Ref belongs to another runtime');
  }
  return refAddress(ref);
}

/** @internal A Ref owning the new reference at `addr`. */
export function wrapAddress(rt: Runtime, addr: Address): Ref {
  return rt.tracking && trackedRef !== undefined ? new trackedRef(rt, addr) : new Ref(rt, addr);
}
