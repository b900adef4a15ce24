/**
 * The typed API: {@link Runtime} (one interpreter's heap), {@link Ref} (one owned strong
 * reference, like a Python name binding), classes, and the `sys` / `gc` / `ctypes` / `capi`
 * facades. Every operation is one native call; nothing here re-implements the core.
 */
import {
  type Address,
  type AllocatorName,
  type ArenaAllocatorName,
  type Build,
  type NativeRuntime,
  loadBuild,
} from '../binding.js';
import { Ref, addressOf, wrapAddress } from './ref.js';
import { PyClass, type ClassOptions } from './class.js';
import { isIterable, withObjects, type PyInput } from './convert.js';
import { WeakRef_ } from './weakref.js';
import { SysModule } from './sys.js';
import { GcModule } from './gc.js';
import { CtypesModule } from './ctypes.js';
import { CApi } from './capi.js';
import { RefsModule } from './refs.js';
import { TraceModule, instrumentRuntime } from './track.js';
import { exceptionIgnored, INSPECT } from './util.js';
import { RefcountError } from '../errors.js';

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
  /**
   * A tracking runtime (default false): every operation of the API that takes or drops
   * references is recorded with the caller's `file:line:column` (outside refcount-lab), and
   * the allocations, frees and collections with the operation that caused them, kept after
   * the object is freed. Then `rt.refs.history(obj)` lists them, `rt.refs.explain` names where
   * each Ref and each C API reference was taken, a use-after-free or negative-refcount error
   * carries `error.provenance` (where the object was allocated, freed, and the decref that had
   * no owner), the leak warning of a dropped Ref names its line, and `rt.trace` can record.
   * It costs a stack trace per operation (microseconds); other runtimes pay nothing.
   */
  readonly track?: boolean;
  /**
   * Keep the books on every Ref (default true): a Ref that V8 garbage-collects while it still
   * owns its reference is reported (`REFCOUNT_LAB_LEAKED_REF`), and `rt.refs` counts the live
   * Refs among an object's holders. `false` makes Refs plain handles, as C pointers are: about
   * 10 ns less per Ref made (49 against 39 ns per `dup()`/`release()` here), but a lost Ref
   * leaks silently and `rt.refs.explain` / `audit` throw `ERR_VALUE` (they could not tell a
   * Ref from a leak). For
   * hot loops whose Refs are released in the same place they are made, or a tested program's
   * benchmark runs; not with `track: true`.
   */
  readonly leakWarnings?: boolean;
}

/** The key of a runtime's native table for lib/internal.ts (never exported from the package, and
 * not declared on the class, so not in its type): a symbol-keyed property loads as fast as the
 * old public `native` did, which matters on the hot paths (`dup()`, `release()`). */
const NATIVE = Symbol('refcount-lab.native');
type WithNative = { [NATIVE]: NativeRuntime };
let nameSlotOfRuntime: (rt: Runtime, name: string) => number;
let writeStderrOfRuntime: (rt: Runtime, text: string) => void;

/** A Python-style runtime: one heap, one set of singletons, one collector. */
export class Runtime implements Disposable {
  readonly #native: NativeRuntime;
  /** Which build this runtime runs on. */
  readonly build: Build;
  /** Guarded mode? */
  readonly guard: boolean;
  /** A tracking runtime ({@link RuntimeOptions.track}). */
  readonly tracking: boolean;
  /** Lost Refs are reported and live Refs are listed ({@link RuntimeOptions.leakWarnings}). */
  readonly leakWarnings: boolean;
  /** The allocator in use. */
  readonly allocator: AllocatorName;
  readonly sys: SysModule;
  readonly gc: GcModule;
  readonly ctypes: CtypesModule;
  readonly capi: CApi;
  /** Who holds each reference: `explain(obj)`, `audit()`, `history(obj)`. */
  readonly refs: RefsModule;
  /** Records the operations made through the API as a portable trace (tracking runtimes). */
  readonly trace: TraceModule;
  /** The classes of defineClass: each handle owns a reference to its class. */
  readonly #classes: PyClass[] = [];
  #closed = false;
  readonly #nameSlots = new Map<string, number>();
  #stderr: (text: string) => void;

  private constructor(options: RuntimeOptions) {
    const build = options.build ?? 'release';
    if (options.track === true && options.leakWarnings === false)
      throw new RefcountError('ERR_VALUE', 'track: true records where each Ref was made for the leak reports: it needs leakWarnings');
    const mod = loadBuild(build);
    const native: { guard: boolean; track: boolean; allocator?: AllocatorName; arenaAllocator?: ArenaAllocatorName } = {
      guard: options.guard ?? true,
      track: options.track ?? false,
    };
    if (options.allocator !== undefined) native.allocator = options.allocator;
    if (options.arenaAllocator !== undefined) native.arenaAllocator = options.arenaAllocator;
    // The handle comes with ~100 properties set one by one from C++, which leaves V8 holding it
    // as a dictionary (every `native.fn` load a hash lookup in the generic load IC, ~10% of a
    // dup().release()); Object.fromEntries builds the same object in fast (shaped) mode.
    this.#native = Object.fromEntries(Object.entries(mod.createRuntime(native))) as NativeRuntime;
    this.build = build;
    (this as unknown as WithNative)[NATIVE] = this.#native;
    this.guard = this.#native.guard;
    this.tracking = options.track ?? false;
    this.leakWarnings = options.leakWarnings ?? true;
    this.allocator = this.#native.allocator;
    this.#stderr = options.stderr ?? ((t: string) => void process.stderr.write(t));
    // The sink is user code called from native code: a throw is reported, never propagated.
    this.#native.setDebugSink((t) => {
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
    this.refs = new RefsModule(this, () => this.#classes);
    this.trace = this.tracking ? instrumentRuntime(this) : new TraceModule(this);
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
    return !this.#closed && this.#native.busy();
  }
  /**
   * Drops the whole heap at once (no deallocators run). Idempotent. From inside a callback that
   * the runtime is running (a finalizer, weakref callback, gc callback or stderr sink) it throws
   * `ERR_RUNTIME_BUSY` and the runtime stays open.
   */
  close(): void {
    if (this.#closed) return;
    this.#native.close();
    this.#closed = true;
  }
  [Symbol.dispose](): void {
    this.close();
  }
  /** Redirects CPython's stderr output of this runtime. */
  setStderr(write: (text: string) => void): void {
    this.#stderr = write;
  }

  // ------------------------------------------------------------------ constructors
  /** int(n): small ints -5..256 are the immortal cached objects. */
  int(n: number | bigint): Ref {
    // An integral double beyond 2**53 is still one exact integer: pass its exact value.
    const v = typeof n === 'number' && Number.isInteger(n) && !Number.isSafeInteger(n) ? BigInt(n) : n;
    return wrapAddress(this, this.#native.newInt(v));
  }
  /** float(x). */
  float(x: number): Ref {
    return wrapAddress(this, this.#native.newFloat(x));
  }
  /** str(s): '' and 1-character Latin-1 strings are immortal singletons. */
  str(s: string): Ref {
    return wrapAddress(this, this.#native.newStr(s));
  }
  /** tuple(items): the empty tuple is the immortal singleton. */
  tuple(items: readonly PyInput[] = []): Ref {
    return withObjects(this, items, (a) => wrapAddress(this, this.#native.newTuple(a)));
  }
  /**
   * The display `[a, b, c]` (BUILD_LIST): exactly `items.length` slots, so
   * `sys.getsizeof` reads 56 + 8 per item. CPython's all-constant literal `[1, 2, 3]` and
   * `list(iterable)` go through list.extend and over-allocate (88 bytes for three items), as
   * appends to `rt.list()` do here.
   */
  list(items: readonly PyInput[] = []): Ref {
    return withObjects(this, items, (a) => wrapAddress(this, this.#native.newList(a)));
  }
  /** set(items), as the display `{a, b, c}` builds it: each item added in turn. */
  set(items: Iterable<PyInput> = []): Ref {
    return withObjects(this, [...items], (a) => wrapAddress(this, this.#native.newSet(a)));
  }
  /** frozenset(items): immutable and hashable (a dict key or a set element). */
  frozenset(items: Iterable<PyInput> = []): Ref {
    return withObjects(this, [...items], (a) => wrapAddress(this, this.#native.newFrozenset(a)));
  }
  /** dict(entries): pairs, a Map or a plain object. */
  dict(entries: Iterable<readonly [PyInput, PyInput]> | ReadonlyMap<PyInput, PyInput> | { readonly [k: string]: PyInput } = []): Ref {
    const pairs: (readonly [PyInput, PyInput])[] =
      entries instanceof Map || isIterable(entries) ? [...(entries as Iterable<readonly [PyInput, PyInput]>)] : Object.entries(entries);
    return withObjects(this, 
      pairs.map((p) => p[0]),
      (keys) => withObjects(this, pairs.map((p) => p[1]), (values) => wrapAddress(this, this.#native.newDict(keys, values))),
    );
  }
  /** A new reference to None (immortal). */
  get None(): Ref {
    return wrapAddress(this, this.#newRef(this.#native.singletons.None));
  }
  /** A new reference to True (immortal). */
  get True(): Ref {
    return wrapAddress(this, this.#newRef(this.#native.singletons.True));
  }
  /** A new reference to False (immortal). */
  get False(): Ref {
    return wrapAddress(this, this.#newRef(this.#native.singletons.False));
  }
  /** A heap class, like `class Name: pass`. */
  defineClass(name: string, options: ClassOptions = {}): PyClass {
    const finalize = options.finalize;
    const legacyDel = options.legacyDel;
    const addr = this.#native.defineClass(
      name,
      options.module ?? '__main__',
      finalize ? (a) => this.#callUser(`<function ${name}.__del__>`, a, finalize) : null,
      legacyDel ? (a) => this.#callUser(`<tp_del of ${name}>`, a, legacyDel) : null,
    );
    const cls = new PyClass(this, addr, name);
    this.#classes.push(cls);
    return cls;
  }
  /** weakref.ref(obj, callback): a Ref to a weakref object; `deref()` it to get the referent. */
  weakref(obj: Ref, callback?: (wr: WeakRef_) => void): WeakRef_ {
    const target = addressOf(obj, this);
    const cb = callback ? (a: Address) => this.#callUser('<weakref callback>', a, (r) => callback(new WeakRef_(this, r))) : null;
    return new WeakRef_(this, wrapAddress(this, this.#native.weakrefNew(target, cb)));
  }
  /** id(obj). */
  id(ref: Ref): Address {
    return addressOf(ref, this);
  }

  // ------------------------------------------------------------------ internals
  // Package-internal access (lib/internal.ts), kept off the public type.
  static {
    nameSlotOfRuntime = (rt, name) => rt.#nameSlot(name);
    writeStderrOfRuntime = (rt, text) => rt.#stderr(text);
  }
  /** The native slot of an attribute name (interned once per runtime; the native attribute
   * functions take the slot instead of the string). */
  #nameSlot(name: string): number {
    if (typeof name !== 'string') throw new TypeError('attribute name must be a string');
    let slot = this.#nameSlots.get(name);
    if (slot === undefined) {
      slot = this.#native.internSlot(name);
      this.#nameSlots.set(name, slot);
    }
    return slot;
  }
  #newRef(a: Address): Address {
    this.#native.incref(a);
    return a;
  }
  /** Calls user code from a native callback: never lets an exception cross into C. */
  #callUser(what: string, addr: Address, fn: (self: Ref) => void): void {
    let self: Ref | undefined;
    try {
      this.#native.incref(addr);
      self = wrapAddress(this, addr);
      fn(self);
    } catch (err) {
      this.#stderr(exceptionIgnored(what, err));
    } finally {
      if (self && !self.released) self.release();
    }
  }
}

/** @internal The native function table of a runtime. */
export function nativeOf(rt: Runtime): NativeRuntime {
  return (rt as unknown as WithNative)[NATIVE];
}
/** @internal The native slot of an attribute name in a runtime. */
export function nameSlotOf(rt: Runtime, name: string): number {
  return nameSlotOfRuntime(rt, name);
}
/** @internal Writes to the runtime's stderr sink. */
export function writeStderrOf(rt: Runtime, text: string): void {
  writeStderrOfRuntime(rt, text);
}
