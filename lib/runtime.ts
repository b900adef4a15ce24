/**
 * The typed API: {@link Runtime} (one interpreter's heap), {@link Ref} (one owned strong
 * reference, like a Python name binding), classes, and the `sys` / `gc` / `ctypes` / `capi`
 * facades. Every operation is one native call; nothing here re-implements the core.
 */
import { RefcountError } from './errors.js';
import {
  type Address,
  type Primitive,
  type AllocatorName,
  type ArenaAllocatorName,
  type Build,
  type NativeRuntime,
  BUILDS,
  loadBuild,
} from './binding.js';

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

/** Options of {@link Runtime.create}. */
export interface RuntimeOptions {
  /** Which build of the core: `release` (default), `debug` or `nodealloc`. */
  readonly build?: Build;
  /** Guarded mode (default true): bad addresses raise typed errors instead of crashing. */
  readonly guard?: boolean;
  /** PYTHONMALLOC equivalent. Default `pymalloc` (`pymalloc_debug` in the debug build). */
  readonly allocator?: AllocatorName;
  /** Where pymalloc's arenas come from: `mmap` (default, as CPython on Linux) or `malloc`. */
  readonly arenaAllocator?: ArenaAllocatorName;
  /** Where CPython's stderr output goes (gc debug lines, ignored exceptions). Default stderr. */
  readonly stderr?: (text: string) => void;
}

/** Options of {@link Runtime.defineClass}. */
export interface ClassOptions {
  /** Module name shown in reprs (`<__main__.A object at 0x...>`). */
  readonly module?: string;
  /**
   * `__del__` (PEP 442 tp_finalize): runs at most once per object, from dealloc or from a
   * collection. `self` is a Ref owned by the call; keep `self.dup()` (or store self in a
   * container) to resurrect the object.
   */
  readonly finalize?: (self: Ref) => void;
  /** A legacy `tp_del`: objects of this class in a cycle are uncollectable (gc.garbage). */
  readonly legacyDel?: (self: Ref) => void;
}

/** The gc callback info, as CPython passes it. */
export interface GcCallbackInfo {
  readonly generation: number;
  readonly collected: number;
  readonly uncollectable: number;
}
/** A gc callback: `cb(phase, info)`. */
export type GcCallback = (phase: 'start' | 'stop', info: GcCallbackInfo) => void;

const LEAK_CODE = 'REFCOUNT_LAB_LEAKED_REF';
const DANGLING_CODE = 'REFCOUNT_LAB_DANGLING_REF';

function hex(a: number): string {
  return '0x' + a.toString(16);
}

/** CPython's report of an exception raised where nobody can catch it (PyErr_WriteUnraisable). */
function exceptionIgnored(what: string, err: unknown): string {
  return `Exception ignored in: ${what}\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`;
}

/** Node's util.inspect hook (what console.log shows), without importing node:util. */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');
/** How much of a repr console.log shows. */
const INSPECT_REPR_MAX = 200;

interface LeakToken {
  readonly rt: Runtime;
  readonly addr: Address;
}

// The object is alive when this runs (the lost Ref owned a reference to it), so its type can be
// read then; immortal objects are not worth a warning. Unless someone released the Ref's
// reference behind its back (an extra Py_DECREF through capi) and the object is gone: guarded
// mode says so (a throw here would be an uncaught exception at a random GC); unguarded mode
// reads the address as C would.
const leakRegistry = new FinalizationRegistry<LeakToken>((t) => {
  if (t.rt.closed) return;
  let typeName: string;
  try {
    if (t.rt.native.isImmortal(t.addr)) return;
    typeName = t.rt.native.typeName(t.addr);
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
    `a Ref to a '${typeName}' object at ${hex(t.addr)} was garbage-collected by V8 while it still ` +
      `owned its reference: the reference is leaked (call release() or use 'using')`,
    { code: LEAK_CODE, type: 'RefcountLabWarning' },
  );
});

// Registering with a FinalizationRegistry costs ~0.7 us, far more than the Ref itself, and most
// Refs are released within the tick that made them. So new Refs wait in `pending` (a strong
// reference: they cannot be collected there) and only the ones still unreleased when the
// current task ends — or when the batch grows large — are registered. Every Ref that V8 can
// collect while owning its reference has been registered first, so no leak goes unreported.
const pending: Ref[] = [];
let flushScheduled = false;
const PENDING_LIMIT = 4096;

function flushPending(): void {
  flushScheduled = false;
  for (const r of pending) r._registerIfOwned();
  pending.length = 0;
}

function track(r: Ref): void {
  pending.push(r);
  if (pending.length >= PENDING_LIMIT) flushPending();
  else if (!flushScheduled) {
    flushScheduled = true;
    queueMicrotask(flushPending);
  }
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
  #registered = false;
  #kind: string | undefined;

  /** @internal Wraps an address whose reference the new Ref now owns. */
  constructor(rt: Runtime, addr: Address, borrowed = false) {
    this.#rt = rt;
    this.#addr = addr;
    this.#borrowed = borrowed;
    if (!borrowed) track(this);
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
  get kind(): string {
    this.#kind ??= this.#n().kind(this.#check());
    return this.#kind;
  }
  /** True once this Ref has given its reference back. */
  get released(): boolean {
    return this.#released;
  }
  /** True when this is Python's None. */
  get isNone(): boolean {
    return this.#check() === this.#rt.native.singletons.None;
  }
  /** Py_NewRef: a new Ref owning one more reference to the same object. */
  dup(): Ref {
    const a = this.#check();
    this.#n().incref(a);
    return new Ref(this.#rt, a);
  }
  /** Py_DECREF (`del name`). A second call throws ERR_RELEASED. */
  release(): void {
    const a = this.#check();
    if (this.#borrowed) {
      throw new RefcountError('ERR_TYPE', 'this Ref is borrowed (owned by its class or gc handle): dup() it to own a reference');
    }
    this.#released = true;
    if (this.#registered) leakRegistry.unregister(this);
    this.#n().decref(a);
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
    return this.#rt.wrap(this.#n().reprObject(this.#check()));
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
    return this.#rt.wrap(this.#n().getattr(a, this.#rt.nameSlot(name)));
  }
  /** setattr(obj, name, value). */
  setattr(name: string, value: PyInput): void {
    const a = this.#check();
    const slot = this.#rt.nameSlot(name);
    if (value instanceof Ref) this.#n().setattr(a, slot, this.#rt.addrOf(value));
    else if (isPrimitive(value)) this.#n().setattrValue(a, slot, value);
    else this.#rt.withObject(value, (v) => this.#n().setattr(a, slot, v));
  }
  /** delattr(obj, name). */
  delattr(name: string): void {
    const a = this.#check();
    this.#n().delattr(a, this.#rt.nameSlot(name));
  }
  /** hasattr(obj, name). */
  hasattr(name: string): boolean {
    const a = this.#check();
    return this.#n().hasattr(a, this.#rt.nameSlot(name));
  }

  // ------------------------------------------------------------------ containers
  /** len(obj). */
  len(): number {
    return this.#n().len(this.#check());
  }
  /** obj[key]: an index for lists and tuples, any hashable value for dicts. */
  getitem(key: PyInput): Ref {
    const a = this.#check();
    if (this.kind === 'dict') return this.#rt.withObject(key, (k) => this.#rt.wrap(this.#n().getitemKey(a, k)));
    return this.#rt.wrap(this.#n().getitemIndex(a, this.#index(key)));
  }
  /** obj[key] = value. */
  setitem(key: PyInput, value: PyInput): void {
    const a = this.#check();
    this.#rt.withObject(value, (v) => {
      if (this.kind === 'dict') this.#rt.withObject(key, (k) => this.#n().setitemKey(a, k, v));
      else this.#n().setitemIndex(a, this.#index(key), v);
    });
  }
  /** del obj[key]. */
  delitem(key: PyInput): void {
    const a = this.#check();
    if (this.kind === 'dict') this.#rt.withObject(key, (k) => this.#n().delitemKey(a, k));
    else this.#n().delitemIndex(a, this.#index(key));
  }
  /** list.append(value). */
  append(value: PyInput): void {
    const a = this.#check();
    if (value instanceof Ref) this.#n().append(a, this.#rt.addrOf(value));
    else if (isPrimitive(value)) this.#n().appendValue(a, value);
    else this.#rt.withObject(value, (v) => this.#n().append(a, v));
  }
  /** list.insert(index, value). */
  insert(index: number, value: PyInput): void {
    const a = this.#check();
    this.#rt.withObject(value, (v) => this.#n().insert(a, this.#index(index), v));
  }
  /** list.pop(index = -1) or dict.pop(key): the removed object, as a new reference. */
  pop(key?: PyInput): Ref {
    const a = this.#check();
    if (this.kind === 'dict') {
      if (key === undefined) throw new TypeError('dict.pop() needs a key');
      return this.#rt.withObject(key, (k) => this.#rt.wrap(this.#n().popKey(a, k)));
    }
    return this.#rt.wrap(this.#n().popIndex(a, key === undefined ? -1 : this.#index(key)));
  }
  /** list.clear() / dict.clear(). */
  clear(): void {
    this.#n().clear(this.#check());
  }
  /** seq * n: a new list (or tuple). */
  repeat(n: number): Ref {
    return this.#rt.wrap(this.#n().repeat(this.#check(), this.#index(n)));
  }
  /** dict.copy() / list.copy(). */
  copy(): Ref {
    return this.#rt.wrap(this.#n().copy(this.#check()));
  }

  /** @internal Registers this Ref for leak reports if it still owns its reference. */
  _registerIfOwned(): void {
    if (this.#released || this.#registered || this.#rt.closed) return;
    this.#registered = true;
    leakRegistry.register(this, { rt: this.#rt, addr: this.#addr }, this);
  }

  /** @internal The address, after the released / closed checks. */
  _addr(): Address {
    return this.#check();
  }

  #n(): NativeRuntime {
    return this.#rt.native;
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

/** A class made by {@link Runtime.defineClass}: a heap type whose instances are GC-tracked. */
export class PyClass {
  /** The class object itself (borrowed: the class handle owns it). */
  readonly ref: Ref;
  readonly name: string;
  readonly #rt: Runtime;
  /** @internal */
  constructor(rt: Runtime, addr: Address, name: string) {
    this.#rt = rt;
    this.ref = new Ref(rt, addr, true);
    this.name = name;
  }
  /** id(cls). */
  get id(): Address {
    return this.ref.id;
  }
  /**
   * cls(): a new instance, with optional initial attributes (set in order, as `o = C();
   * o.x = 1; ...`). All-or-nothing: if an attribute cannot be set, the new instance is released
   * and the error thrown. Primitive and Ref values (up to 32) cost one native call in all.
   */
  new(attrs?: { readonly [name: string]: PyInput }): Ref {
    const rt = this.#rt;
    const cls = this.ref._addr();
    if (attrs === undefined) return rt.wrap(rt.native.callClass(cls));
    // One crossing when every value is a primitive or a Ref (the common case): cls() and the
    // setattrs run in a single native call. The pairs go in the runtime's packed block (see
    // callClassPacked in the addon); strings and bigints ride along as extra arguments.
    const packed = rt.native.packed;
    let extra: (string | bigint)[] | undefined;
    let k = 0;
    for (const name in attrs) {
      const v = attrs[name];
      if (k === MAX_FAST_ATTRS) return this.#newSlow(attrs);
      const at = 1 + 3 * k;
      if (typeof v === 'number') {
        packed[at + 1] = PACKED_NUMBER;
        packed[at + 2] = v;
      } else if (v === null || v === undefined) {
        packed[at + 1] = PACKED_NONE;
      } else if (typeof v === 'boolean') {
        packed[at + 1] = v ? PACKED_TRUE : PACKED_FALSE;
      } else if (v instanceof Ref) {
        packed[at + 1] = PACKED_ADDRESS;
        packed[at + 2] = rt.addrOf(v);
      } else if (typeof v === 'string' || typeof v === 'bigint') {
        packed[at + 1] = PACKED_EXTRA;
        packed[at + 2] = (extra ??= []).push(v) - 1;
      } else {
        return this.#newSlow(attrs);
      }
      packed[at] = rt.nameSlot(name);
      k++;
    }
    packed[0] = k;
    const call = rt.native.callClassPacked;
    if (extra === undefined) return rt.wrap(call(cls));
    // direct calls for one or two extras: a spread call takes V8's slow API-call path
    if (extra.length === 1) return rt.wrap(call(cls, extra[0] as string | bigint));
    if (extra.length === 2) return rt.wrap(call(cls, extra[0] as string | bigint, extra[1] as string | bigint));
    return rt.wrap(call(cls, ...extra));
  }
  // Values that need converting first (lists, dicts...): cls(), then one setattr each.
  #newSlow(attrs: { readonly [name: string]: PyInput }): Ref {
    const obj = this.#rt.wrap(this.#rt.native.callClass(this.ref._addr()));
    try {
      for (const k in attrs) obj.setattr(k, attrs[k]);
    } catch (e) {
      obj.release();
      throw e;
    }
    return obj;
  }
}

/** One size class of {@link MallocStats} (a line of the per-class table of debugmallocstats). */
export interface SizeClassStats {
  readonly sizeClass: number;
  /** Block size in bytes: (sizeClass + 1) * 16. */
  readonly size: number;
  readonly pools: number;
  readonly blocksInUse: number;
  readonly availableBlocks: number;
}

/** `sys._debugmallocstats()` as data ({@link SysModule.mallocStats}): the same facts as the text. */
export interface MallocStats {
  readonly allocator: AllocatorName;
  /** sys.getallocatedblocks(). */
  readonly allocated_blocks: number;
  readonly arenas_allocated_total: number;
  readonly arenas_reclaimed: number;
  readonly arenas_highwater: number;
  readonly arenas_allocated_current: number;
  readonly bytes_in_allocated_blocks: number;
  readonly bytes_in_available_blocks: number;
  readonly unused_pools: number;
  readonly bytes_lost_to_pool_headers: number;
  readonly bytes_lost_to_quantization: number;
  readonly bytes_lost_to_arena_alignment: number;
  readonly arena_map_mid_nodes: number;
  readonly arena_map_bot_nodes: number;
  /** Live blocks of the raw allocator (requests over 512 bytes, of 0 bytes, and the raw domain). */
  readonly raw_blocks: number;
  readonly raw_bytes: number;
  /** Size classes with at least one pool. */
  readonly classes: readonly SizeClassStats[];
  /** Objects parked on CPython's free lists; `tuple[i]` counts tuples of i + 1 items. */
  readonly freeLists: { readonly dict: number; readonly float: number; readonly list: number; readonly tuple: readonly number[] };
}

/** `ctypes.c_long.from_address(addr)`: the signed 64-bit word at addr. */
export interface CLong {
  /** Reads (or, assigned, writes) the word: a number when it is a safe integer, else a bigint. */
  value: number | bigint;
}

/** Marker for `ctypes.cast(addr, ctypes.py_object)`. */
export interface PyObjectType {
  readonly __ctype__: 'py_object';
}

/** What `cast(addr, py_object)` returns: `.value` is a NEW reference each time it is read. */
export interface PyObjectCast {
  readonly value: Ref;
}

/** A Python-style runtime: one heap, one set of singletons, one collector. */
export class Runtime implements Disposable {
  /** @internal */
  readonly native: NativeRuntime;
  /** Which build this runtime runs on. */
  readonly build: Build;
  /** Guarded mode? */
  readonly guard: boolean;
  /** The allocator in use. */
  readonly allocator: AllocatorName;
  readonly sys: SysModule;
  readonly gc: GcModule;
  readonly ctypes: CtypesModule;
  readonly capi: CApi;
  #closed = false;
  readonly #nameSlots = new Map<string, number>();
  #stderr: (text: string) => void;

  private constructor(options: RuntimeOptions) {
    const build = options.build ?? 'release';
    const mod = loadBuild(build);
    const native: { guard: boolean; allocator?: AllocatorName; arenaAllocator?: ArenaAllocatorName } = {
      guard: options.guard ?? true,
    };
    if (options.allocator !== undefined) native.allocator = options.allocator;
    if (options.arenaAllocator !== undefined) native.arenaAllocator = options.arenaAllocator;
    // The handle comes with ~100 properties set one by one from C++, which leaves V8 holding it
    // as a dictionary (every `native.fn` load a hash lookup in the generic load IC, ~10% of a
    // dup().release()); Object.fromEntries builds the same object in fast (shaped) mode.
    this.native = Object.fromEntries(Object.entries(mod.createRuntime(native))) as NativeRuntime;
    this.build = build;
    this.guard = this.native.guard;
    this.allocator = this.native.allocator;
    this.#stderr = options.stderr ?? ((t: string) => void process.stderr.write(t));
    // The sink is user code called from native code: a throw is reported, never propagated.
    this.native.setDebugSink((t) => {
      try {
        this.#stderr(t);
      } catch (err) {
        process.stderr.write(exceptionIgnored('<refcount-lab stderr sink>', err));
      }
    });
    this.sys = new SysModule(this);
    this.gc = new GcModule(this);
    this.ctypes = new CtypesModule(this);
    this.capi = new CApi(this);
  }

  /** Creates a runtime. Defaults: release build, guarded, the build's default allocator. */
  static create(options: RuntimeOptions = {}): Runtime {
    return new Runtime(options);
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }
  /** console.log / util.inspect: the options and the state, not the native function table. */
  [INSPECT](): string {
    return `Runtime { build: '${this.build}', guard: ${this.guard}, allocator: '${this.allocator}', closed: ${this.#closed} }`;
  }
  /**
   * True while the runtime is running your code from inside one of its calls (a finalizer,
   * weakref callback, gc callback or stderr sink; a setter that a value() conversion or the
   * making of an error triggers): close() is refused then (`ERR_RUNTIME_BUSY`); defer it, e.g.
   * `queueMicrotask(() => rt.close())`.
   */
  get busy(): boolean {
    return !this.#closed && this.native.busy();
  }
  /**
   * Drops the whole heap at once (no deallocators run). Idempotent. From inside a callback that
   * the runtime is running (a finalizer, weakref callback, gc callback or stderr sink) it throws
   * `ERR_RUNTIME_BUSY` and the runtime stays open.
   */
  close(): void {
    if (this.#closed) return;
    this.native.close();
    this.#closed = true;
  }
  [Symbol.dispose](): void {
    this.close();
  }
  /** Redirects CPython's stderr output of this runtime. */
  setStderr(write: (text: string) => void): void {
    this.#stderr = write;
  }
  /** @internal Writes to the runtime's stderr sink. */
  writeStderr(text: string): void {
    this.#stderr(text);
  }

  // ------------------------------------------------------------------ constructors
  /** int(n): small ints -5..256 are the immortal cached objects. */
  int(n: number | bigint): Ref {
    // An integral double beyond 2**53 is still one exact integer: pass its exact value.
    const v = typeof n === 'number' && Number.isInteger(n) && !Number.isSafeInteger(n) ? BigInt(n) : n;
    return this.wrap(this.native.newInt(v));
  }
  /** float(x). */
  float(x: number): Ref {
    return this.wrap(this.native.newFloat(x));
  }
  /** str(s): '' and 1-character Latin-1 strings are immortal singletons. */
  str(s: string): Ref {
    return this.wrap(this.native.newStr(s));
  }
  /** tuple(items): the empty tuple is the immortal singleton. */
  tuple(items: readonly PyInput[] = []): Ref {
    return this.withObjects(items, (a) => this.wrap(this.native.newTuple(a)));
  }
  /**
   * The display `[a, b, c]` (BUILD_LIST): exactly `items.length` slots, so
   * `sys.getsizeof` reads 56 + 8 per item. CPython's all-constant literal `[1, 2, 3]` and
   * `list(iterable)` go through list.extend and over-allocate (88 bytes for three items), as
   * appends to `rt.list()` do here.
   */
  list(items: readonly PyInput[] = []): Ref {
    return this.withObjects(items, (a) => this.wrap(this.native.newList(a)));
  }
  /** dict(entries): pairs, a Map or a plain object. */
  dict(entries: Iterable<readonly [PyInput, PyInput]> | ReadonlyMap<PyInput, PyInput> | { readonly [k: string]: PyInput } = []): Ref {
    const pairs: (readonly [PyInput, PyInput])[] =
      entries instanceof Map || isIterable(entries) ? [...(entries as Iterable<readonly [PyInput, PyInput]>)] : Object.entries(entries);
    return this.withObjects(
      pairs.map((p) => p[0]),
      (keys) => this.withObjects(pairs.map((p) => p[1]), (values) => this.wrap(this.native.newDict(keys, values))),
    );
  }
  /** A new reference to None (immortal). */
  get None(): Ref {
    return this.wrap(this.#newRef(this.native.singletons.None));
  }
  /** A new reference to True (immortal). */
  get True(): Ref {
    return this.wrap(this.#newRef(this.native.singletons.True));
  }
  /** A new reference to False (immortal). */
  get False(): Ref {
    return this.wrap(this.#newRef(this.native.singletons.False));
  }
  /** A heap class, like `class Name: pass`. */
  defineClass(name: string, options: ClassOptions = {}): PyClass {
    const finalize = options.finalize;
    const legacyDel = options.legacyDel;
    const addr = this.native.defineClass(
      name,
      options.module ?? '__main__',
      finalize ? (a) => this.#callUser(`<function ${name}.__del__>`, a, finalize) : null,
      legacyDel ? (a) => this.#callUser(`<tp_del of ${name}>`, a, legacyDel) : null,
    );
    return new PyClass(this, addr, name);
  }
  /** weakref.ref(obj, callback): a Ref to a weakref object; `deref()` it to get the referent. */
  weakref(obj: Ref, callback?: (wr: WeakRef_) => void): WeakRef_ {
    const target = this.addrOf(obj);
    const cb = callback ? (a: Address) => this.#callUser('<weakref callback>', a, (r) => callback(new WeakRef_(this, r))) : null;
    return new WeakRef_(this, this.wrap(this.native.weakrefNew(target, cb)));
  }
  /** id(obj). */
  id(ref: Ref): Address {
    return this.addrOf(ref);
  }

  // ------------------------------------------------------------------ internals
  /** @internal A Ref owning the new reference at `addr`. */
  wrap(addr: Address): Ref {
    return new Ref(this, addr);
  }
  /** @internal The native slot of an attribute name (interned once per runtime; the native
   * attribute functions take the slot instead of the string). */
  nameSlot(name: string): number {
    if (typeof name !== 'string') throw new TypeError('attribute name must be a string');
    let slot = this.#nameSlots.get(name);
    if (slot === undefined) {
      slot = this.native.internSlot(name);
      this.#nameSlots.set(name, slot);
    }
    return slot;
  }
  /** @internal The address of a Ref of this runtime. */
  addrOf(ref: Ref): Address {
    if (!(ref instanceof Ref)) throw new TypeError('a Ref is required');
    if (ref.runtime !== this) throw new RefcountError('ERR_WRONG_RUNTIME', 'this Ref belongs to another runtime');
    return ref._addr();
  }
  /** @internal Converts a JS value to an object (a new reference, or a borrowed Ref's). */
  withObject<T>(value: PyInput, fn: (addr: Address) => T): T {
    if (value instanceof Ref) return fn(this.addrOf(value));
    if (!isPrimitive(value)) return this.withObjects([value], (a) => fn(a[0] as Address));
    const a = this.native.fromJs(value);
    try {
      return fn(a);
    } finally {
      this.native.decref(a);
    }
  }
  /** @internal Converts values, calls fn with their addresses, releases the temporaries. */
  withObjects<T>(values: readonly PyInput[], fn: (addrs: Address[]) => T): T {
    const temps: Address[] = [];
    try {
      const addrs = values.map((v) => this.#toObject(v, temps));
      return fn(addrs);
    } finally {
      for (const t of temps) this.native.decref(t);
    }
  }
  #newRef(a: Address): Address {
    this.native.incref(a);
    return a;
  }
  #toObject(v: PyInput, temps: Address[]): Address {
    if (v instanceof Ref) return this.addrOf(v);
    let a: Address;
    if (isPrimitive(v)) a = this.native.fromJs(v);
    else if (Array.isArray(v)) a = this.withObjects(v as readonly PyInput[], (items) => this.native.newList(items));
    else if (v instanceof Map) {
      const pairs = [...(v as ReadonlyMap<PyInput, PyInput>)];
      a = this.withObjects(pairs.map((p) => p[0]), (k) => this.withObjects(pairs.map((p) => p[1]), (vals) => this.native.newDict(k, vals)));
    } else if (typeof v === 'object') {
      const pairs = Object.entries(v as { readonly [k: string]: PyInput });
      a = this.withObjects(pairs.map((p) => p[0]), (k) => this.withObjects(pairs.map((p) => p[1]), (vals) => this.native.newDict(k, vals)));
    } else {
      throw new TypeError(`cannot convert a ${typeof v} to a Python object`);
    }
    temps.push(a);
    return a;
  }
  /** Calls user code from a native callback: never lets an exception cross into C. */
  #callUser(what: string, addr: Address, fn: (self: Ref) => void): void {
    let self: Ref | undefined;
    try {
      this.native.incref(addr);
      self = new Ref(this, addr);
      fn(self);
    } catch (err) {
      this.writeStderr(exceptionIgnored(what, err));
    } finally {
      if (self && !self.released) self.release();
    }
  }
}

// callClassPacked: pairs per call, and the kinds of a packed value (native/addon/addon.cc).
const MAX_FAST_ATTRS = 32;
const PACKED_NUMBER = 0;
const PACKED_ADDRESS = 1;
const PACKED_NONE = 2;
const PACKED_TRUE = 3;
const PACKED_FALSE = 4;
const PACKED_EXTRA = 5;

function isPrimitive(v: unknown): v is Primitive {
  return v === null || (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol');
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return typeof x === 'object' && x !== null && Symbol.iterator in x;
}

/** A weakref object (a Ref to it) with `deref()`. */
export class WeakRef_ implements Disposable {
  /** The weakref object itself. */
  readonly ref: Ref;
  readonly #rt: Runtime;
  /** @internal */
  constructor(rt: Runtime, ref: Ref) {
    this.#rt = rt;
    this.ref = ref;
  }
  /** wr(): a new reference to the referent, or to None once it is gone. */
  deref(): Ref {
    return this.#rt.wrap(this.#rt.native.weakrefGet(this.ref._addr()));
  }
  /** True once the referent is gone. */
  get dead(): boolean {
    using r = this.deref();
    return r.isNone;
  }
  /** Releases the weakref object. */
  release(): void {
    this.ref.release();
  }
  [Symbol.dispose](): void {
    this.ref[Symbol.dispose]();
  }
}

/** `sys`: refcounts, sizes, the debug build's totals, allocator statistics. */
export class SysModule {
  readonly #rt: Runtime;
  /** @internal */
  constructor(rt: Runtime) {
    this.#rt = rt;
  }
  /** sys.getrefcount(obj): ob_refcnt + 1 (the argument); 4294967295 for immortals (3.12). */
  getrefcount(ref: Ref): number | bigint {
    return this.#rt.native.getrefcount(this.#rt.addrOf(ref));
  }
  /** sys.getsizeof(obj): __sizeof__ + the GC pre-header. */
  getsizeof(ref: Ref): number {
    return this.#rt.native.sizeof(this.#rt.addrOf(ref));
  }
  /** sys.gettotalrefcount() — debug build only (ERR_NOT_IN_BUILD elsewhere, as CPython's
   * release builds have no such function). */
  gettotalrefcount(): number {
    this.#debugOnly('sys.gettotalrefcount');
    return this.#rt.native.refTotal();
  }
  /** The `-X showrefcount` line: `[N refs, M blocks]` — debug build only. */
  showrefcount(): string {
    this.#debugOnly('showrefcount');
    return this.#rt.native.showrefcount();
  }
  /** Py_STATS object counters (increfs, decrefs, allocations...) — debug build only. */
  stats(): Record<string, number> {
    this.#debugOnly('Py_STATS');
    return this.#rt.native.stats();
  }
  /** sys.getallocatedblocks(). */
  getallocatedblocks(): number {
    return this.#rt.native.allocatedBlocks();
  }
  /** sys._debugmallocstats() text (CPython writes it to stderr; here it is returned). */
  debugmallocstats(): string {
    return this.#rt.native.debugmallocstats();
  }
  /** Live heap objects by type name (guarded runtimes: the registry of live objects; the
   * static singletons and types are left out): how many, and the sum of their refcounts
   * (immortal objects count no references) and how many are immortal (interned strings).
   * Throws ERR_NOT_IN_BUILD when unguarded (no registry is kept). */
  census(): Record<string, { objects: number; refs: number; immortal: number }> {
    const c = this.#rt.native.census();
    if (c === null) throw new RefcountError('ERR_NOT_IN_BUILD', 'census() needs a guarded runtime (the registry of live objects)');
    const out: Record<string, { objects: number; refs: number; immortal: number }> = {};
    for (const [name, [objects, refs, immortal]] of Object.entries(c)) out[name] = { objects, refs, immortal };
    return out;
  }
  /** The allocator's statistics and the free lists as data (what debugmallocstats() prints). */
  mallocStats(): MallocStats {
    return this.#rt.native.mallocStats() as unknown as MallocStats;
  }
  #debugOnly(what: string): void {
    if (this.#rt.build !== 'debug') {
      throw new RefcountError('ERR_NOT_IN_BUILD', `${what} exists only in the debug build (Py_REF_DEBUG); this runtime is '${this.#rt.build}'`);
    }
  }
}

/** The `gc` module, camelCased. */
export class GcModule {
  readonly DEBUG_STATS = 1;
  readonly DEBUG_COLLECTABLE = 2;
  readonly DEBUG_UNCOLLECTABLE = 4;
  readonly DEBUG_SAVEALL = 32;
  readonly DEBUG_LEAK = 38;
  /** gc.callbacks: called with ('start' | 'stop', info) around every collection. */
  readonly callbacks: GcCallback[] = [];
  readonly #rt: Runtime;
  #garbage: Ref | undefined;
  /** @internal */
  constructor(rt: Runtime) {
    this.#rt = rt;
    rt.native.setGcDispatch((phase, generation, collected, uncollectable) => {
      for (const cb of [...this.callbacks]) {
        try {
          cb(phase as 'start' | 'stop', { generation, collected, uncollectable });
        } catch (err) {
          rt.writeStderr(exceptionIgnored('<gc callback>', err));
        }
      }
    });
  }
  /** gc.collect(generation = 2): the number of unreachable objects found. */
  collect(generation = 2): number {
    return this.#rt.native.gcCollect(generation);
  }
  enable(): void {
    this.#rt.native.gcSetEnabled(true);
  }
  disable(): void {
    this.#rt.native.gcSetEnabled(false);
  }
  isEnabled(): boolean {
    return this.#rt.native.gcIsEnabled();
  }
  getCount(): [number, number, number] {
    return this.#rt.native.gcGetCount();
  }
  getThreshold(): [number, number, number] {
    return this.#rt.native.gcGetThreshold();
  }
  setThreshold(threshold0: number, threshold1?: number, threshold2?: number): void {
    this.#rt.native.gcSetThreshold(threshold0, threshold1, threshold2);
  }
  getStats(): { collections: number; collected: number; uncollectable: number }[] {
    return this.#rt.native.gcGetStats();
  }
  /** gc.get_objects(generation): new references to every tracked object (of a generation). */
  getObjects(generation?: number | null): Ref[] {
    return this.#rt.native.gcGetObjects(generation ?? undefined).map((a) => this.#rt.wrap(a));
  }
  getReferrers(...objs: Ref[]): Ref[] {
    return this.#rt.native.gcGetReferrers(objs.map((o) => this.#rt.addrOf(o))).map((a) => this.#rt.wrap(a));
  }
  getReferents(...objs: Ref[]): Ref[] {
    return this.#rt.native.gcGetReferents(objs.map((o) => this.#rt.addrOf(o))).map((a) => this.#rt.wrap(a));
  }
  isTracked(obj: Ref): boolean {
    return this.#rt.native.gcIsTracked(this.#rt.addrOf(obj));
  }
  isFinalized(obj: Ref): boolean {
    return this.#rt.native.gcIsFinalized(this.#rt.addrOf(obj));
  }
  /** Which generation holds obj: 0..2, 3 = permanent, -1 = untracked. */
  generationOf(obj: Ref): number {
    return this.#rt.native.gcGenerationOf(this.#rt.addrOf(obj));
  }
  freeze(): void {
    this.#rt.native.gcFreeze();
  }
  unfreeze(): void {
    this.#rt.native.gcUnfreeze();
  }
  getFreezeCount(): number {
    return this.#rt.native.gcGetFreezeCount();
  }
  getDebug(): number {
    return this.#rt.native.gcGetDebug();
  }
  setDebug(flags: number): void {
    this.#rt.native.gcSetDebug(flags);
  }
  /** gc.garbage: the runtime's list (borrowed; mutate it in place). */
  get garbage(): Ref {
    if (this.#garbage === undefined) {
      // gcGarbage() returns a new reference; the runtime owns the list for its whole life, so the
      // borrowed Ref gives that reference straight back (it used to keep it: one leaked reference).
      const a = this.#rt.native.gcGarbage();
      this.#rt.native.decref(a);
      this.#garbage = new Ref(this.#rt, a, true);
    }
    return this.#garbage;
  }
}

/** `ctypes`, the two things the talk uses. */
export class CtypesModule {
  /** The py_object type marker for {@link cast}. */
  readonly py_object: PyObjectType = Object.freeze({ __ctype__: 'py_object' as const });
  readonly c_long: { from_address(addr: Address): CLong };
  readonly c_ssize_t: { from_address(addr: Address): CLong };
  readonly #rt: Runtime;
  /** @internal */
  constructor(rt: Runtime) {
    this.#rt = rt;
    const from_address = (addr: Address): CLong => {
      const n = rt.native;
      return {
        get value() {
          return n.readWord(addr);
        },
        set value(v: number | bigint) {
          n.writeWord(addr, v);
        },
      };
    };
    this.c_long = { from_address };
    this.c_ssize_t = { from_address };
  }
  /** ctypes.cast(addr, py_object): reading `.value` increfs and returns a new Ref. */
  cast(addr: Address, type: PyObjectType): PyObjectCast {
    if (type !== this.py_object) throw new TypeError('only cast(addr, ctypes.py_object) is supported');
    const rt = this.#rt;
    return {
      get value() {
        return rt.wrap(rt.native.cast(addr));
      },
    };
  }
}

/** The C API on raw addresses. */
export class CApi {
  /** Py_INCREF(op). */
  readonly Py_INCREF: (op: Address) => void;
  /** Py_DECREF(op). */
  readonly Py_DECREF: (op: Address) => void;
  /** Py_XINCREF(op): 0 is NULL. */
  readonly Py_XINCREF: (op: Address) => void;
  /** Py_XDECREF(op): 0 is NULL. */
  readonly Py_XDECREF: (op: Address) => void;
  /** Py_IncRef(op): the exported, NULL-tolerant function. */
  readonly Py_IncRef: (op: Address) => void;
  /** Py_DecRef(op): the exported, NULL-tolerant function. */
  readonly Py_DecRef: (op: Address) => void;
  /** Py_REFCNT(op). */
  readonly Py_REFCNT: (op: Address) => number | bigint;
  /**
   * Many increfs in one call. Guarded: every address is checked first, and one bad address
   * (`ERR_INVALID_ADDRESS` / `ERR_USE_AFTER_FREE`, its message starting `element N:`) leaves
   * every count untouched.
   */
  readonly increfMany: (ops: Float64Array | BigUint64Array) => void;
  /**
   * Many decrefs in one call, in order. Guarded: checked first as {@link increfMany}; then an
   * element whose object an earlier element freed (its own last reference, or a container
   * releasing it) is `ERR_USE_AFTER_FREE` as it would be one call at a time: the elements
   * before it stay applied, the rest are not.
   */
  readonly decrefMany: (ops: Float64Array | BigUint64Array) => void;
  readonly #rt: Runtime;
  /** @internal */
  constructor(rt: Runtime) {
    this.#rt = rt;
    const n = rt.native;
    this.Py_INCREF = n.incref;
    this.Py_DECREF = n.decref;
    this.Py_XINCREF = n.xincref;
    this.Py_XDECREF = n.xdecref;
    this.Py_IncRef = n.xincref;
    this.Py_DecRef = n.xdecref;
    this.Py_REFCNT = n.refcnt;
    this.increfMany = n.increfMany;
    this.decrefMany = n.decrefMany;
  }
  /** Py_NewRef(op): incref and return op. */
  Py_NewRef(op: Address): Address {
    this.#rt.native.incref(op);
    return op;
  }
  /** Py_XNewRef(op): NULL (0) passes through. */
  Py_XNewRef(op: Address): Address {
    this.#rt.native.xincref(op);
    return op;
  }
  /** Py_SET_REFCNT(op, n): a no-op on immortal objects (3.12). */
  Py_SET_REFCNT(op: Address, n: number | bigint): void {
    this.#rt.native.setRefcnt(op, n);
  }
  /** Py_TYPE(op)->tp_name. */
  Py_TYPE(op: Address): string {
    return this.#rt.native.typeName(op);
  }
  /** _Py_IsImmortal(op). */
  _Py_IsImmortal(op: Address): boolean {
    return this.#rt.native.isImmortal(op);
  }
  PyMem_RawMalloc(n: number): Address {
    return this.#rt.native.memMalloc('r', n);
  }
  PyMem_RawCalloc(nelem: number, elsize: number): Address {
    return this.#rt.native.memCalloc('r', nelem, elsize);
  }
  PyMem_RawRealloc(p: Address, n: number): Address {
    return this.#rt.native.memRealloc('r', p, n);
  }
  PyMem_RawFree(p: Address): void {
    this.#rt.native.memFree('r', p);
  }
  PyMem_Malloc(n: number): Address {
    return this.#rt.native.memMalloc('m', n);
  }
  PyMem_Calloc(nelem: number, elsize: number): Address {
    return this.#rt.native.memCalloc('m', nelem, elsize);
  }
  PyMem_Realloc(p: Address, n: number): Address {
    return this.#rt.native.memRealloc('m', p, n);
  }
  PyMem_Free(p: Address): void {
    this.#rt.native.memFree('m', p);
  }
  PyObject_Malloc(n: number): Address {
    return this.#rt.native.memMalloc('o', n);
  }
  PyObject_Calloc(nelem: number, elsize: number): Address {
    return this.#rt.native.memCalloc('o', nelem, elsize);
  }
  PyObject_Realloc(p: Address, n: number): Address {
    return this.#rt.native.memRealloc('o', p, n);
  }
  PyObject_Free(p: Address): void {
    this.#rt.native.memFree('o', p);
  }
  /** Raw bytes at addr (guarded: only memory this runtime owns). */
  readBytes(addr: Address, n: number): Buffer {
    return this.#rt.native.readBytes(addr, n);
  }
  /** Writes raw bytes at addr. */
  writeBytes(addr: Address, data: Buffer): void {
    this.#rt.native.writeBytes(addr, data);
  }
  /** Checks every allocator invariant; returns null when valid, else what is wrong. */
  validateHeap(): string | null {
    return this.#rt.native.memValidate();
  }
}

export { BUILDS };
export type { Build, AllocatorName, ArenaAllocatorName, Address };
