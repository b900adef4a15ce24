/**
 * The binding loader: one `.node` file per build. `REFCOUNT_LAB_BINARY_DIR`, when set, is the
 * only place looked at (a directory holding the three files, e.g. sanitizer builds); otherwise a
 * matching prebuild (`prebuilds/<platform>-<arch>/refcount_<build>.node`) wins over the compiled
 * `build/Release/refcount_<build>.node`. Nothing found: a {@link BindingNotFoundError} that
 * says where it looked and how to get the file.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RefcountError, makeError, type ObjectHistory } from './errors.js';
import type { ALLOCATORS, ARENA_ALLOCATORS, NativeConstants, ObjectKind } from './schema.js';

/** The three builds of the same core. */
export const BUILDS = ['release', 'debug', 'nodealloc'] as const;
/** One of {@link BUILDS}. */
export type Build = (typeof BUILDS)[number];

/** Allocator choice, as CPython's PYTHONMALLOC. */
export type AllocatorName = (typeof ALLOCATORS)[number];
/** Where pymalloc gets its 1 MiB arenas. */
export type ArenaAllocatorName = (typeof ARENA_ALLOCATORS)[number];

/** An address (id) as the native side takes it. */
export type Address = number;

/** @internal The native runtime handle: one function per core operation. */
export interface NativeRuntime {
  readonly guard: boolean;
  readonly allocator: AllocatorName;
  readonly arenaAllocator: ArenaAllocatorName;
  readonly singletons: { None: Address; True: Address; False: Address; Ellipsis: Address; NotImplemented: Address };
  close(): void;
  busy(): boolean;
  incref(a: Address): void;
  decref(a: Address): void;
  xincref(a: Address): void;
  xdecref(a: Address): void;
  refcnt(a: Address): number | bigint;
  increfMany(a: Float64Array | BigUint64Array): void;
  decrefMany(a: Float64Array | BigUint64Array): void;
  newInt(v: number | bigint): Address;
  newFloat(v: number): Address;
  newStr(v: string): Address;
  newTuple(items: Address[]): Address;
  newList(items: Address[]): Address;
  newDict(keys: Address[], values: Address[]): Address;
  /** The heap's holders of an object (null: unguarded, no registry). */
  heapHolders(a: Address): { slots: [Address, string][]; runtime: string[] } | null;
  /** [addr, refcnt, held] per mortal live object, and the slots left pointing at freed objects. */
  accountHeap(): { objects: Float64Array; dangling: [Address, string, Address][] } | null;
  // tracking runtimes (native/core/provenance.h); ERR_VALUE in the others
  trackEnter(op: string, site: string, effect: '' | 'take' | 'give' | 'write', ...objects: (Address | Float64Array | BigUint64Array)[]): void;
  trackLeave(ok: boolean, result?: Address): void;
  history(addr: Address): ObjectHistory | null;
  capiHeld(addr: Address): string[];
  newSet(items: Address[]): Address;
  newFrozenset(items: Address[]): Address;
  /** set.add / set.discard (1 found, 0 not) / `v in a` (1 or 0). */
  setAdd(a: Address, v: Address): number;
  setDiscard(a: Address, v: Address): number;
  contains(a: Address, v: Address): number;
  defineClass(name: string, module: string, finalize: ((a: Address) => void) | null, legacyDel: ((a: Address) => void) | null): Address;
  callClass(cls: Address): Address;
  internSlot(name: string): number;
  /** cls() then setattr per pair of `packed` (layout: RCL_PACKED_KINDS in native/core/schema.h). */
  callClassPacked(cls: Address, ...extra: (string | bigint)[]): Address;
  /** The argument block of callClassPacked. */
  readonly packed: Float64Array;
  /** The typed API's hot paths with their numbers in `io` instead of JS arguments, and their
   * result in io[0] (layout: RCL_IO_DOUBLES in native/core/schema.h; values: RCL_PACKED_KINDS
   * but `extra`). The block and the functions are shared by the environment's runtimes of this
   * build: io[IO_RUNTIME] = ioRuntime says which one. */
  readonly io: Float64Array;
  readonly ioRuntime: number;
  increfIo(): void;
  decrefIo(): void;
  getattrIo(): void;
  setattrIo(): void;
  appendIo(): void;
  getitemIo(): void;
  lenIo(): void;
  /** callClassPacked with the class in io[0], the pairs in `ioPacked`, the instance in io[0]. */
  callClassIo(...extra: (string | bigint)[]): void;
  readonly ioPacked: Float64Array;
  typeName(a: Address): string;
  kind(a: Address): ObjectKind;
  isImmortal(a: Address): boolean;
  setRefcnt(a: Address, n: number | bigint): void;
  getrefcount(a: Address): number | bigint;
  /** Attribute functions: `name` is a string or its slot (internSlot). */
  getattr(a: Address, name: string | number): Address;
  setattr(a: Address, name: string | number, v: Address): void;
  delattr(a: Address, name: string | number): void;
  hasattr(a: Address, name: string | number): boolean;
  len(a: Address): number;
  getitemIndex(a: Address, i: number): Address;
  getitemKey(a: Address, k: Address): Address;
  setitemIndex(a: Address, i: number, v: Address): void;
  setitemKey(a: Address, k: Address, v: Address): void;
  delitemIndex(a: Address, i: number): void;
  delitemKey(a: Address, k: Address): void;
  append(a: Address, v: Address): void;
  insert(a: Address, i: number, v: Address): void;
  popIndex(a: Address, i?: number): Address;
  popKey(a: Address, k: Address): Address;
  clear(a: Address): void;
  repeat(a: Address, n: number): Address;
  copy(a: Address): Address;
  value(a: Address): unknown;
  repr(a: Address): string;
  reprObject(a: Address): Address;
  sizeof(a: Address): number;
  cast(a: Address): Address;
  readWord(a: Address): number | bigint;
  writeWord(a: Address, v: number | bigint): void;
  readBytes(a: Address, n: number): Buffer;
  writeBytes(a: Address, data: Buffer): void;
  memMalloc(domain: 'r' | 'm' | 'o', n: number): Address;
  memCalloc(domain: 'r' | 'm' | 'o', n: number, size: number): Address;
  memRealloc(domain: 'r' | 'm' | 'o', p: Address, n: number): Address;
  memFree(domain: 'r' | 'm' | 'o', p: Address): void;
  memValidate(): string | null;
  debugmallocstats(): string;
  mallocStats(): Record<string, unknown>;
  blockState(a: Address): 'live' | 'freed' | 'foreign';
  refTotal(): number;
  showrefcount(): string;
  allocatedBlocks(): number;
  stats(): Record<string, number>;
  gcCollect(generation?: number): number;
  gcSetEnabled(on: boolean): boolean;
  gcIsEnabled(): boolean;
  gcGetCount(): [number, number, number];
  gcGetThreshold(): [number, number, number];
  gcSetThreshold(t0?: number, t1?: number, t2?: number): void;
  gcGetStats(): { collections: number; collected: number; uncollectable: number }[];
  gcGetObjects(generation?: unknown): Address[];
  gcGetReferrers(objs: Address[]): Address[];
  gcGetReferents(objs: Address[]): Address[];
  gcIsTracked(a: Address): boolean;
  gcIsFinalized(a: Address): boolean;
  gcGenerationOf(a: Address): number;
  gcFreeze(): void;
  gcUnfreeze(): void;
  gcGetFreezeCount(): number;
  gcGetDebug(): number;
  gcSetDebug(flags: number): void;
  gcGarbage(): Address;
  setGcDispatch(fn: ((phase: string, generation: number, collected: number, uncollectable: number) => void) | null): void;
  setDebugSink(fn: ((text: string) => void) | null): void;
  weakrefNew(a: Address, callback: ((wr: Address) => void) | null): Address;
  weakrefGet(wr: Address): Address;
  weakrefCount(a: Address): number;
  gcHead(a: Address): [bigint, bigint] | null;
  fromJs(v: Primitive): Address;
  setattrValue(a: Address, name: string | number, v: Primitive): void;
  appendValue(a: Address, v: Primitive): void;
  appendRange(a: Address, lo: number, hi: number): number;
  objectState(a: Address): 'live' | 'freed' | 'invalid' | 'unknown';
  referentEdges(a: Address): [string, Address][];
  /** ERR_NOT_IN_BUILD (the core's) when unguarded. */
  census(): Record<string, [objects: number, refs: number, immortal: number]>;
}

/** @internal The JS values the native side converts by itself. */
export type Primitive = number | bigint | string | boolean | null | undefined;

/** @internal One loaded `.node`. */
export interface NativeModule {
  readonly build: Build;
  readonly buildTag: number;
  readonly errorCodes: string[];
  /** The schema (native/core/schema.h); lib/schema.ts holds the compile-time copies. */
  readonly constants: NativeConstants;
  readonly layout: Record<string, number>;
  createRuntime(options: { guard: boolean; track?: boolean; allocator?: AllocatorName; arenaAllocator?: ArenaAllocatorName }): NativeRuntime;
  setErrorFactory(f: typeof makeError): void;
  emptyCall(): void;
}

/** The package root (where package.json, build/ and prebuilds/ live). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'refcount-lab') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('refcount-lab: cannot find the package root');
    dir = up;
  }
}

const require = createRequire(import.meta.url);
const loaded = new Map<Build, NativeModule>();

/** No `.node` file for a build where the loader looks (code `ERR_BINDING_NOT_FOUND`). */
export class BindingNotFoundError extends RefcountError {
  /** The build whose file is missing. */
  readonly build: Build;
  /** Every path the loader tried, in order. */
  readonly searched: readonly string[];
  constructor(build: Build, searched: readonly string[], binaryDir: string | undefined) {
    const file = `refcount_${build}.node`;
    const where = binaryDir
      ? `REFCOUNT_LAB_BINARY_DIR is set (${binaryDir}), so only there`
      : `the prebuilds, then build/Release (REFCOUNT_LAB_BINARY_DIR is not set)`;
    super(
      'ERR_BINDING_NOT_FOUND',
      `refcount-lab: the '${build}' build (${file}) is missing. Looked in ${where}:\n` +
        searched.map((p) => `  - ${p}`).join('\n') +
        `\nnpm 11 does not run a dependency's install script (which uses the prebuilds or compiles the` +
        ` three builds) until it is approved. Any one of these fixes it:\n` +
        `  npm approve-builds            (then npm rebuild refcount-lab)\n` +
        `  npm rebuild refcount-lab      (runs the install script: prebuilds, else node-gyp)\n` +
        `  npm explore refcount-lab -- npm run build:native   (compiles into build/Release; needs g++ >= 10)\n` +
        `  or point REFCOUNT_LAB_BINARY_DIR at a directory holding refcount_{release,debug,nodealloc}.node` +
        ` (e.g. a prebuilds/${process.platform}-${process.arch} directory from \`npm run prebuild\`).`,
    );
    this.name = 'BindingNotFoundError';
    this.build = build;
    this.searched = searched;
  }
}

/**
 * Where the loader looks for a build's `.node` file, in order: the REFCOUNT_LAB_BINARY_DIR
 * directory alone when set, else the prebuild, then build/Release. @internal
 */
export function bindingCandidates(build: Build, root: string, binaryDir: string | undefined): string[] {
  const file = `refcount_${build}.node`;
  if (binaryDir) return [join(binaryDir, file)];
  return [join(root, 'prebuilds', `${process.platform}-${process.arch}`, file), join(root, 'build', 'Release', file)];
}

/**
 * The first candidate that exists, else a {@link BindingNotFoundError}. `root` and `binaryDir`
 * default to the package root and `$REFCOUNT_LAB_BINARY_DIR`. @internal
 */
export function findBinding(build: Build, options: { root?: string; binaryDir?: string | undefined } = {}): string {
  const binaryDir = 'binaryDir' in options ? options.binaryDir : process.env['REFCOUNT_LAB_BINARY_DIR'] || undefined;
  const searched = bindingCandidates(build, options.root ?? packageRoot(), binaryDir);
  const found = searched.find((p) => existsSync(p));
  if (found === undefined) throw new BindingNotFoundError(build, searched, binaryDir);
  return found;
}

/** Where the `.node` file of a build is loaded from (for diagnostics): the first place the
 * loader looks at that has it, else the last place it looks at. */
export function bindingPath(build: Build): string {
  const candidates = bindingCandidates(build, packageRoot(), process.env['REFCOUNT_LAB_BINARY_DIR'] || undefined);
  return candidates.find((p) => existsSync(p)) ?? (candidates[candidates.length - 1] as string);
}

/** Loads (once) the native module of a build. @internal */
export function loadBuild(build: Build): NativeModule {
  let m = loaded.get(build);
  if (m) return m;
  if (!(BUILDS as readonly string[]).includes(build)) {
    throw new TypeError(`build must be one of ${BUILDS.join(', ')}; got ${String(build)}`);
  }
  m = require(findBinding(build)) as NativeModule;
  m.setErrorFactory(makeError);
  loaded.set(build, m);
  return m;
}
