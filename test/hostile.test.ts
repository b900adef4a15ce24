// Hostile input, table-driven: every public function and method with wrong types, NaN, Infinity,
// negative numbers, 0, 2**53, unaligned addresses, freed objects, addresses of another runtime,
// released Refs, Refs of a closed runtime, huge lengths and strings. Each case must end in a
// RefcountError with the expected code (or a TypeError for a wrong argument type), the process
// alive, the heap valid (validateHeap() === null) and gc.collect() still working.
import { writeSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, RefcountError, type Ref, type PyClass } from '../lib/index.js';
import type { Build } from '../lib/binding.js';

type Outcome = string; // an ERR_* code, 'TypeError', or 'ok' (allowed to succeed)

interface Case {
  readonly name: string;
  readonly run: (f: Fixture) => unknown;
  /** Accepted outcomes. */
  readonly expect: readonly Outcome[];
  /** Only in these builds (default: all). */
  readonly builds?: readonly Build[];
}

const FREEING: readonly Build[] = ['release', 'debug'];

interface Fixture {
  rt: Runtime;
  other: Runtime;
  closedRef: Ref;
  released: Ref;
  list: Ref;
  tuple: Ref;
  dict: Ref;
  int: Ref;
  inst: Ref;
  cls: PyClass;
  freedAddr: number;
  freedMem: number;
  scratch: number;
  otherAddr: number;
  liveAddr: number;
}

const ADDR_NUMBERS: [string, unknown, Outcome[]][] = [
  ['NaN', NaN, ['ERR_INVALID_ADDRESS']],
  ['Infinity', Infinity, ['ERR_INVALID_ADDRESS']],
  ['-Infinity', -Infinity, ['ERR_INVALID_ADDRESS']],
  ['-1', -1, ['ERR_INVALID_ADDRESS']],
  ['-2**53', -(2 ** 53), ['ERR_INVALID_ADDRESS']],
  ['0', 0, ['ERR_INVALID_ADDRESS']],
  ['1', 1, ['ERR_INVALID_ADDRESS']],
  ['0.5', 0.5, ['ERR_INVALID_ADDRESS']],
  ['2**53', 2 ** 53, ['ERR_INVALID_ADDRESS']],
  ['2**53 - 1', 2 ** 53 - 1, ['ERR_INVALID_ADDRESS']],
  ['2**64', 2 ** 64, ['ERR_INVALID_ADDRESS']],
  ['Number.MAX_VALUE', Number.MAX_VALUE, ['ERR_INVALID_ADDRESS']],
  ['4096', 4096, ['ERR_INVALID_ADDRESS']],
];
const WRONG_TYPES: [string, unknown][] = [
  ['a string', '140000000'],
  ['null', null],
  ['undefined', undefined],
  ['an object', { id: 1 }],
  ['a bigint', 140000000n],
  ['an array', [1]],
  ['a function', () => 1],
  ['a boolean', true],
];

// Address-taking functions of capi and ctypes. `x`: NULL (0) is allowed (a no-op).
const ADDR_FNS: [string, (f: Fixture, a: unknown) => unknown, { x?: boolean; read?: boolean; write?: boolean }][] = [
  ['capi.Py_INCREF', (f, a) => f.rt.capi.Py_INCREF(a as number), {}],
  ['capi.Py_DECREF', (f, a) => f.rt.capi.Py_DECREF(a as number), {}],
  ['capi.Py_XINCREF', (f, a) => f.rt.capi.Py_XINCREF(a as number), { x: true }],
  ['capi.Py_XDECREF', (f, a) => f.rt.capi.Py_XDECREF(a as number), { x: true }],
  ['capi.Py_IncRef', (f, a) => f.rt.capi.Py_IncRef(a as number), { x: true }],
  ['capi.Py_DecRef', (f, a) => f.rt.capi.Py_DecRef(a as number), { x: true }],
  ['capi.Py_REFCNT', (f, a) => f.rt.capi.Py_REFCNT(a as number), {}],
  ['capi.Py_NewRef', (f, a) => f.rt.capi.Py_NewRef(a as number), {}],
  ['capi.Py_XNewRef', (f, a) => f.rt.capi.Py_XNewRef(a as number), { x: true }],
  ['capi.Py_SET_REFCNT', (f, a) => f.rt.capi.Py_SET_REFCNT(a as number, 5), {}],
  ['capi.Py_TYPE', (f, a) => f.rt.capi.Py_TYPE(a as number), {}],
  ['capi._Py_IsImmortal', (f, a) => f.rt.capi._Py_IsImmortal(a as number), {}],
  ['capi.increfMany', (f, a) => f.rt.capi.increfMany(new Float64Array([f.liveAddr, a as number])), {}],
  ['capi.decrefMany', (f, a) => f.rt.capi.decrefMany(new Float64Array([f.liveAddr, a as number])), {}],
  ['ctypes.cast', (f, a) => f.rt.ctypes.cast(a as number, f.rt.ctypes.py_object).value, {}],
  ['ctypes.c_long.from_address', (f, a) => f.rt.ctypes.c_long.from_address(a as number).value, { read: true }],
  ['capi.readBytes', (f, a) => f.rt.capi.readBytes(a as number, 8), { read: true }],
  ['capi.writeBytes', (f, a) => f.rt.capi.writeBytes(a as number, Buffer.alloc(8)), { write: true }],
  ['ctypes.c_long.from_address().value =', (f, a) => (f.rt.ctypes.c_long.from_address(a as number).value = 1), { write: true }],
  ['capi.PyMem_Free', (f, a) => f.rt.capi.PyMem_Free(a as number), { x: true, read: true }],
  ['capi.PyObject_Free', (f, a) => f.rt.capi.PyObject_Free(a as number), { x: true, read: true }],
  ['capi.PyMem_RawFree', (f, a) => f.rt.capi.PyMem_RawFree(a as number), { x: true, read: true }],
  ['capi.PyMem_Realloc', (f, a) => f.rt.capi.PyMem_Realloc(a as number, 16), { x: true, read: true }],
];

function addrCases(): Case[] {
  const out: Case[] = [];
  for (const [fname, fn, o] of ADDR_FNS) {
    const isMany = fname.endsWith('Many');
    const isMem = fname.includes('PyMem') || fname.includes('PyObject_');
    for (const [vname, v, codes] of ADDR_NUMBERS) {
      let exp: Outcome[] = [...codes];
      if (v === 0 && o.x) exp = ['ok'];
      if (isMem && v === 0 && fname.includes('Realloc')) exp = ['ok']; // realloc(NULL, n) is malloc
      if (isMem && v === 0 && fname.includes('Free')) exp = ['ok'];
      if (isMany) exp = ['ERR_INVALID_ADDRESS'];
      out.push({ name: `${fname}(${vname})`, run: (f) => fn(f, v), expect: exp });
    }
    if (!isMany) {
      for (const [vname, v] of WRONG_TYPES) out.push({ name: `${fname}(${vname})`, run: (f) => fn(f, v), expect: ['TypeError'] });
    }
    if (o.write) {
      // writes: unaligned inside a live scratch block is fine; past its end, or into a freed
      // block (the allocator's free list lives there), never
      out.push({ name: `${fname}(unaligned scratch+1)`, run: (f) => fn(f, f.scratch + 1), expect: ['ok'] });
      // Without the debug hooks, 60..68 crosses the 64-byte block into the next one: refused.
      // With them (the debug build's pymalloc_debug), the block is 16 + 64 + 8 bytes in a
      // 96-byte slot: 60..68 lands in the tail guard bytes, which a guarded runtime lets the
      // caller corrupt (the hooks report it at free, as MemoryCorruptionError); 76..84 leaves
      // the 96-byte slot and is refused.
      out.push({ name: `${fname}(scratch end - 4)`, run: (f) => fn(f, f.scratch + 60), expect: ['ERR_INVALID_ADDRESS'], builds: ['release', 'nodealloc'] });
      out.push({ name: `${fname}(scratch end - 4, into the guard bytes)`, run: (f) => fn(f, f.scratch + 60), expect: ['ok'], builds: ['debug'] });
      out.push({ name: `${fname}(past the debug block)`, run: (f) => fn(f, f.scratch + 76), expect: ['ERR_INVALID_ADDRESS'], builds: ['debug'] });
      // (the 470-character str is a raw block under the debug hooks, returned to the system when freed)
      out.push({ name: `${fname}(freed object)`, run: (f) => fn(f, f.freedAddr), expect: ['ERR_USE_AFTER_FREE', 'ERR_INVALID_ADDRESS'], builds: FREEING });
      out.push({ name: `${fname}(inside a freed block)`, run: (f) => fn(f, f.freedAddr + 8), expect: ['ERR_INVALID_ADDRESS', 'ERR_USE_AFTER_FREE'], builds: FREEING });
      out.push({ name: `${fname}(freed PyMem block)`, run: (f) => fn(f, f.freedMem), expect: ['ERR_INVALID_ADDRESS', 'ERR_USE_AFTER_FREE'] });
    } else {
      const objCode = o.read ? ['ERR_INVALID_ADDRESS', 'ok'] : ['ERR_INVALID_ADDRESS'];
      out.push({ name: `${fname}(unaligned live+1)`, run: (f) => fn(f, f.liveAddr + 1), expect: objCode });
      out.push({ name: `${fname}(unaligned live+7)`, run: (f) => fn(f, f.liveAddr + 7), expect: objCode });
      out.push({
        name: `${fname}(freed object)`,
        run: (f) => fn(f, f.freedAddr),
        // guarded reads of freed memory that is still the runtime's are allowed (as CPython prints it)
        expect: o.read ? ['ERR_USE_AFTER_FREE', 'ERR_INVALID_ADDRESS', 'ok'] : ['ERR_USE_AFTER_FREE'],
        builds: FREEING,
      });
      if (!o.read) {
        // nodealloc never frees: the "freed" object is alive at refcount 0
        out.push({ name: `${fname}(object at refcount 0, nodealloc)`, run: (f) => fn(f, f.freedAddr), expect: ['ok'], builds: ['nodealloc'] });
      }
    }
    out.push({ name: `${fname}(address in another runtime)`, run: (f) => fn(f, f.otherAddr), expect: ['ERR_INVALID_ADDRESS'] });
  }
  return out;
}

// Ref methods on a released Ref, and on a Ref of a closed runtime.
const REF_METHODS: [string, (r: Ref, f: Fixture) => unknown][] = [
  ['id', (r) => r.id],
  ['refcnt', (r) => r.refcnt],
  ['typeName', (r) => r.typeName],
  ['kind', (r) => r.kind],
  ['isNone', (r) => r.isNone],
  ['dup', (r) => r.dup()],
  ['release', (r) => r.release()],
  ['value', (r) => r.value()],
  ['repr', (r) => r.repr()],
  ['getattr', (r) => r.getattr('x')],
  ['setattr', (r) => r.setattr('x', 1)],
  ['delattr', (r) => r.delattr('x')],
  ['hasattr', (r) => r.hasattr('x')],
  ['len', (r) => r.len()],
  ['getitem', (r) => r.getitem(0)],
  ['setitem', (r) => r.setitem(0, 1)],
  ['delitem', (r) => r.delitem(0)],
  ['append', (r) => r.append(1)],
  ['insert', (r) => r.insert(0, 1)],
  ['pop', (r) => r.pop()],
  ['clear', (r) => r.clear()],
  ['repeat', (r) => r.repeat(2)],
  ['copy', (r) => r.copy()],
  ['rt.sys.getrefcount', (r, f) => (r.runtime === f.rt ? f.rt : r.runtime).sys.getrefcount(r)],
  ['rt.sys.getsizeof', (r) => r.runtime.sys.getsizeof(r)],
  ['rt.gc.isTracked', (r) => r.runtime.gc.isTracked(r)],
  ['rt.gc.getReferents', (r) => r.runtime.gc.getReferents(r)],
  ['rt.weakref', (r) => r.runtime.weakref(r)],
  ['rt.list([r])', (r) => r.runtime.list([r])],
];

function refCases(): Case[] {
  const out: Case[] = [];
  for (const [m, fn] of REF_METHODS) {
    out.push({ name: `released Ref.${m}`, run: (f) => fn(f.released, f), expect: ['ERR_RELEASED'] });
    out.push({ name: `closed-runtime Ref.${m}`, run: (f) => fn(f.closedRef, f), expect: ['ERR_RUNTIME_CLOSED'] });
  }
  // Refs of another runtime passed to this one.
  const wrong: [string, (f: Fixture, r: Ref) => unknown][] = [
    ['list.append', (f, r) => f.list.append(r)],
    ['list.insert', (f, r) => f.list.insert(0, r)],
    ['list.setitem', (f, r) => f.list.setitem(0, r)],
    ['dict.setitem value', (f, r) => f.dict.setitem('k', r)],
    ['dict.setitem key', (f, r) => f.dict.setitem(r, 1)],
    ['dict.getitem', (f, r) => f.dict.getitem(r)],
    ['inst.setattr', (f, r) => f.inst.setattr('x', r)],
    ['rt.tuple', (f, r) => f.rt.tuple([r])],
    ['rt.list', (f, r) => f.rt.list([1, r])],
    ['rt.dict', (f, r) => f.rt.dict([['k', r]])],
    ['rt.weakref', (f, r) => f.rt.weakref(r)],
    ['sys.getrefcount', (f, r) => f.rt.sys.getrefcount(r)],
    ['sys.getsizeof', (f, r) => f.rt.sys.getsizeof(r)],
    ['gc.isTracked', (f, r) => f.rt.gc.isTracked(r)],
    ['gc.getReferrers', (f, r) => f.rt.gc.getReferrers(r)],
    ['rt.id', (f, r) => f.rt.id(r)],
  ];
  for (const [m, fn] of wrong) {
    out.push({
      name: `Ref of another runtime: ${m}`,
      run: (f) => {
        const r = f.other.list([]);
        try {
          return fn(f, r);
        } finally {
          r.release();
        }
      },
      expect: ['ERR_WRONG_RUNTIME'],
    });
  }
  return out;
}

const HUGE = 'x'.repeat(1 << 20);

// Everything else, one by one.
const MISC: Case[] = [
  // Runtime.create
  { name: 'Runtime.create({build: "nope"})', run: () => Runtime.create({ build: 'nope' as Build }), expect: ['TypeError'] },
  { name: 'Runtime.create({build: 42})', run: () => Runtime.create({ build: 42 as unknown as Build }), expect: ['TypeError'] },
  { name: 'Runtime.create({allocator: "x"})', run: () => Runtime.create({ allocator: 'x' as never }), expect: ['TypeError'] },
  { name: 'Runtime.create({arenaAllocator: "x"})', run: () => Runtime.create({ arenaAllocator: 'x' as never }), expect: ['TypeError'] },
  // constructors
  ...([NaN, Infinity, -Infinity, 0.5, -0.5] as const).map((v) => ({ name: `rt.int(${v})`, run: (f: Fixture) => f.rt.int(v), expect: ['ERR_TYPE'] })),
  { name: 'rt.int(2**53 + 2) is exact', run: (f) => f.rt.int(2 ** 53 + 2).release(), expect: ['ok'] },
  { name: 'rt.int(2n**4096n)', run: (f) => f.rt.int(2n ** 4096n).release(), expect: ['ok'] },
  { name: 'rt.int(-(2n**100000n))', run: (f) => f.rt.int(-(2n ** 100000n)).release(), expect: ['ok'] },
  ...WRONG_TYPES.filter(([, v]) => typeof v !== 'bigint').map(([n, v]) => ({ name: `rt.int(${n})`, run: (f: Fixture) => f.rt.int(v as number), expect: ['TypeError'] })),
  ...WRONG_TYPES.map(([n, v]) => ({ name: `rt.float(${n})`, run: (f: Fixture) => f.rt.float(v as number), expect: ['TypeError'] })),
  ...WRONG_TYPES.filter(([, v]) => typeof v !== 'string').map(([n, v]) => ({ name: `rt.str(${n})`, run: (f: Fixture) => f.rt.str(v as string), expect: ['TypeError'] })),
  { name: 'rt.float(NaN)', run: (f) => f.rt.float(NaN).release(), expect: ['ok'] },
  { name: 'rt.str(1 MiB)', run: (f) => f.rt.str(HUGE).release(), expect: ['ok'] },
  { name: 'rt.str(lone surrogate)', run: (f) => f.rt.str('\ud800').release(), expect: ['ok'] },
  { name: 'rt.tuple([Symbol()])', run: (f) => f.rt.tuple([Symbol() as never]), expect: ['TypeError'] },
  { name: 'rt.list([() => 1])', run: (f) => f.rt.list([(() => 1) as never]), expect: ['TypeError'] },
  { name: 'rt.dict([[[], 1]]) unhashable key', run: (f) => f.rt.dict([[[], 1]]), expect: ['ERR_TYPE'] },
  { name: 'rt.dict({a: Symbol()})', run: (f) => f.rt.dict({ a: Symbol() as never }), expect: ['TypeError'] },
  { name: 'rt.defineClass(123)', run: (f) => f.rt.defineClass(123 as never), expect: ['TypeError'] },
  { name: 'rt.defineClass("A", {module: 5})', run: (f) => f.rt.defineClass('A', { module: 5 as never }), expect: ['TypeError'] },
  { name: 'cls.new({x: Symbol()})', run: (f) => f.cls.new({ x: Symbol() as never }), expect: ['TypeError'] },
  { name: 'rt.weakref(int)', run: (f) => f.rt.weakref(f.int), expect: ['ERR_TYPE'] },
  { name: 'rt.weakref(list)', run: (f) => f.rt.weakref(f.list), expect: ['ERR_TYPE'] },
  { name: 'rt.weakref("not a ref")', run: (f) => f.rt.weakref('x' as never), expect: ['TypeError'] },
  { name: 'rt.id(5)', run: (f) => f.rt.id(5 as never), expect: ['TypeError'] },
  // Ref methods with bad arguments
  ...[NaN, Infinity, -Infinity, 0.5, 2 ** 53, -(2 ** 53), 2 ** 60].flatMap((i) => [
    { name: `list.getitem(${i})`, run: (f: Fixture) => f.list.getitem(i), expect: ['ERR_TYPE', 'ERR_INDEX'] },
    { name: `list.setitem(${i})`, run: (f: Fixture) => f.list.setitem(i, 1), expect: ['ERR_TYPE', 'ERR_INDEX'] },
    { name: `list.delitem(${i})`, run: (f: Fixture) => f.list.delitem(i), expect: ['ERR_TYPE', 'ERR_INDEX'] },
    { name: `list.pop(${i})`, run: (f: Fixture) => f.list.pop(i), expect: ['ERR_TYPE', 'ERR_INDEX'] },
    { name: `tuple.getitem(${i})`, run: (f: Fixture) => f.tuple.getitem(i), expect: ['ERR_TYPE', 'ERR_INDEX'] },
    { name: `list.repeat(${i})`, run: (f: Fixture) => f.list.repeat(i), expect: ['ERR_TYPE', 'ERR_NO_MEMORY', 'ERR_OVERFLOW', 'ERR_VALUE'] },
    { name: `list.insert(${i})`, run: (f: Fixture) => f.list.insert(i, 1), expect: ['ERR_TYPE', 'ok'] },
  ]),
  { name: 'list.getitem("0")', run: (f) => f.list.getitem('0'), expect: ['TypeError'] },
  { name: 'list.getitem(100)', run: (f) => f.list.getitem(100), expect: ['ERR_INDEX'] },
  { name: 'list.getitem(-100)', run: (f) => f.list.getitem(-100), expect: ['ERR_INDEX'] },
  { name: 'list.repeat(2**40) huge', run: (f) => f.list.repeat(2 ** 40), expect: ['ERR_NO_MEMORY', 'ERR_OVERFLOW'] },
  { name: 'list.repeat(2**52) huge', run: (f) => f.list.repeat(2 ** 52), expect: ['ERR_NO_MEMORY', 'ERR_OVERFLOW'] },
  { name: 'tuple.repeat(2**52) huge', run: (f) => f.tuple.repeat(2 ** 52), expect: ['ERR_NO_MEMORY'] },
  {
    // found this session: 512 * 2**52 items * 8 bytes wrapped to a 24-byte tuple, then filled (SIGSEGV)
    name: 'tuple of 512 items .repeat(2**52): the byte size wraps',
    run: (f) => {
      const t = f.rt.tuple(Array.from({ length: 512 }, (_, i) => i));
      try {
        return t.repeat(2 ** 52);
      } finally {
        t.release();
      }
    },
    expect: ['ERR_NO_MEMORY'],
  },
  { name: 'str repeat', run: (f) => f.int.repeat(2), expect: ['ERR_TYPE'] },
  { name: 'tuple.setitem', run: (f) => f.tuple.setitem(0, 1), expect: ['ERR_TYPE'] },
  { name: 'tuple.append', run: (f) => f.tuple.append(1), expect: ['ERR_ATTRIBUTE'] },
  { name: 'int.len', run: (f) => f.int.len(), expect: ['ERR_TYPE'] },
  { name: 'int.getitem', run: (f) => f.int.getitem(0), expect: ['ERR_TYPE'] },
  { name: 'int.append', run: (f) => f.int.append(1), expect: ['ERR_ATTRIBUTE'] },
  { name: 'int.clear', run: (f) => f.int.clear(), expect: ['ERR_ATTRIBUTE'] },
  { name: 'int.copy', run: (f) => f.int.copy(), expect: ['ERR_ATTRIBUTE'] },
  { name: 'int.setattr', run: (f) => f.int.setattr('x', 1), expect: ['ERR_ATTRIBUTE', 'ERR_TYPE'] },
  { name: 'int.getattr missing', run: (f) => f.int.getattr('nope'), expect: ['ERR_ATTRIBUTE'] },
  { name: 'inst.getattr missing', run: (f) => f.inst.getattr('nope'), expect: ['ERR_ATTRIBUTE'] },
  { name: 'inst.delattr missing', run: (f) => f.inst.delattr('nope'), expect: ['ERR_ATTRIBUTE'] },
  { name: 'inst.getattr(5)', run: (f) => f.inst.getattr(5 as never), expect: ['TypeError'] },
  { name: 'inst.setattr(null, 1)', run: (f) => f.inst.setattr(null as never, 1), expect: ['TypeError'] },
  { name: 'inst.setattr(1 MiB name)', run: (f) => f.inst.setattr(HUGE.slice(0, 4096), 1), expect: ['ok'] },
  { name: 'inst.setattr(x, Symbol())', run: (f) => f.inst.setattr('x', Symbol() as never), expect: ['TypeError'] },
  { name: 'dict.getitem missing', run: (f) => f.dict.getitem('missing'), expect: ['ERR_KEY'] },
  { name: 'dict.delitem missing', run: (f) => f.dict.delitem('missing'), expect: ['ERR_KEY'] },
  { name: 'dict.pop missing', run: (f) => f.dict.pop('missing'), expect: ['ERR_KEY'] },
  { name: 'dict.pop()', run: (f) => f.dict.pop(), expect: ['TypeError'] },
  { name: 'dict.setitem(list key)', run: (f) => f.dict.setitem(f.list, 1), expect: ['ERR_TYPE'] },
  { name: 'dict.getitem(dict key)', run: (f) => f.dict.getitem(f.dict), expect: ['ERR_TYPE'] },
  { name: 'dict.append', run: (f) => f.dict.append(1), expect: ['ERR_ATTRIBUTE'] },
  { name: 'empty list.pop()', run: (f) => f.rt.list([]).pop(), expect: ['ERR_INDEX'] },
  // sys
  { name: 'sys.getrefcount(5)', run: (f) => f.rt.sys.getrefcount(5 as never), expect: ['TypeError'] },
  { name: 'sys.getsizeof({})', run: (f) => f.rt.sys.getsizeof({} as never), expect: ['TypeError'] },
  // gc
  ...([3, -1, NaN, Infinity, 2 ** 53, 0.5, -(2 ** 31)] as const).map((g) => ({
    name: `gc.collect(${g})`,
    run: (f: Fixture) => f.rt.gc.collect(g),
    expect: ['ERR_VALUE', 'ERR_TYPE'],
  })),
  { name: 'gc.collect("2")', run: (f) => f.rt.gc.collect('2' as never), expect: ['TypeError'] },
  // CPython accepts any C int, negative ones included
  { name: 'gc.setThreshold(-1)', run: (f) => { f.rt.gc.setThreshold(-1); f.rt.gc.setThreshold(700); }, expect: ['ok'] },
  ...([NaN, Infinity, 2 ** 53, 0.5] as const).map((t) => ({
    name: `gc.setThreshold(${t})`,
    run: (f: Fixture) => f.rt.gc.setThreshold(t),
    expect: ['ERR_VALUE', 'ERR_TYPE', 'ERR_OVERFLOW'],
  })),
  { name: 'gc.setThreshold("1")', run: (f) => f.rt.gc.setThreshold('1' as never), expect: ['TypeError'] },
  ...([5, -2, NaN, 0.5] as const).map((g) => ({ name: `gc.getObjects(${g})`, run: (f: Fixture) => f.rt.gc.getObjects(g), expect: ['ERR_VALUE', 'ERR_TYPE'] })),
  { name: 'gc.setDebug(NaN)', run: (f) => f.rt.gc.setDebug(NaN), expect: ['ERR_TYPE', 'ERR_VALUE'] },
  { name: 'gc.setDebug("x")', run: (f) => f.rt.gc.setDebug('x' as never), expect: ['TypeError'] },
  { name: 'gc.getReferrers(5)', run: (f) => f.rt.gc.getReferrers(5 as never), expect: ['TypeError'] },
  { name: 'gc.isTracked(null)', run: (f) => f.rt.gc.isTracked(null as never), expect: ['TypeError'] },
  { name: 'gc.generationOf(released)', run: (f) => f.rt.gc.generationOf(f.released), expect: ['ERR_RELEASED'] },
  // ctypes
  { name: 'ctypes.cast(addr, "py_object")', run: (f) => f.rt.ctypes.cast(f.liveAddr, 'py_object' as never), expect: ['TypeError'] },
  { name: 'c_long write NaN', run: (f) => (f.rt.ctypes.c_long.from_address(f.otherAddr).value = NaN), expect: ['ERR_INVALID_ADDRESS', 'ERR_TYPE', 'TypeError'] },
  // capi memory
  ...([-1, NaN, Infinity, 2 ** 53, 2 ** 62] as const).flatMap((n) => [
    { name: `PyMem_Malloc(${n})`, run: (f: Fixture) => f.rt.capi.PyMem_Malloc(n), expect: ['ERR_VALUE', 'ERR_TYPE', 'ERR_NO_MEMORY', 'ERR_OVERFLOW'] },
    { name: `PyObject_Malloc(${n})`, run: (f: Fixture) => f.rt.capi.PyObject_Malloc(n), expect: ['ERR_VALUE', 'ERR_TYPE', 'ERR_NO_MEMORY', 'ERR_OVERFLOW'] },
    { name: `PyMem_RawMalloc(${n})`, run: (f: Fixture) => f.rt.capi.PyMem_RawMalloc(n), expect: ['ERR_VALUE', 'ERR_TYPE', 'ERR_NO_MEMORY', 'ERR_OVERFLOW'] },
    { name: `PyMem_Calloc(${n}, 8)`, run: (f: Fixture) => f.rt.capi.PyMem_Calloc(n, 8), expect: ['ERR_VALUE', 'ERR_TYPE', 'ERR_NO_MEMORY', 'ERR_OVERFLOW'] },
    { name: `readBytes(live, ${n})`, run: (f: Fixture) => f.rt.capi.readBytes(f.liveAddr, n), expect: ['ERR_VALUE', 'ERR_TYPE', 'ERR_INVALID_ADDRESS', 'TypeError'] },
  ]),
  { name: 'PyMem_Calloc(2**40, 2**40) overflow', run: (f) => f.rt.capi.PyMem_Calloc(2 ** 40, 2 ** 40), expect: ['ERR_NO_MEMORY', 'ERR_OVERFLOW', 'ERR_VALUE'] },
  { name: 'writeBytes(live, "x")', run: (f) => f.rt.capi.writeBytes(f.liveAddr, 'x' as never), expect: ['TypeError'] },
  { name: 'PyMem_Free twice', run: (f) => { const p = f.rt.capi.PyMem_Malloc(16); f.rt.capi.PyMem_Free(p); f.rt.capi.PyMem_Free(p); }, expect: ['ERR_INVALID_ADDRESS', 'ERR_USE_AFTER_FREE', 'ERR_MEMORY_CORRUPTION'] },
  { name: 'PyMem_Free(object address)', run: (f) => f.rt.capi.PyMem_Free(f.liveAddr), expect: ['ERR_INVALID_ADDRESS'] },
  { name: 'PyObject_Free(inside a block)', run: (f) => { const p = f.rt.capi.PyObject_Malloc(64); try { f.rt.capi.PyObject_Free(p + 16); } finally { f.rt.capi.PyObject_Free(p); } }, expect: ['ERR_INVALID_ADDRESS'] },
  { name: 'increfMany("x")', run: (f) => f.rt.capi.increfMany('x' as never), expect: ['TypeError'] },
  { name: 'increfMany(Int32Array)', run: (f) => f.rt.capi.increfMany(new Int32Array(2) as never), expect: ['TypeError'] },
  { name: 'decrefMany(BigUint64Array [2**64-1])', run: (f) => f.rt.capi.decrefMany(new BigUint64Array([2n ** 64n - 1n])), expect: ['ERR_INVALID_ADDRESS'] },
  { name: 'Py_SET_REFCNT(live, NaN)', run: (f) => f.rt.capi.Py_SET_REFCNT(f.liveAddr, NaN), expect: ['ERR_TYPE'] },
  { name: 'Py_SET_REFCNT(live, "1")', run: (f) => f.rt.capi.Py_SET_REFCNT(f.liveAddr, '1' as never), expect: ['TypeError'] },
  // a closed runtime
  ...(
    [
      ['rt.int', (r: Runtime) => r.int(1)],
      ['rt.list', (r: Runtime) => r.list([])],
      ['rt.defineClass', (r: Runtime) => r.defineClass('Z')],
      ['rt.gc.collect', (r: Runtime) => r.gc.collect()],
      ['rt.gc.getCount', (r: Runtime) => r.gc.getCount()],
      ['rt.sys.getallocatedblocks', (r: Runtime) => r.sys.getallocatedblocks()],
      ['rt.sys.census', (r: Runtime) => r.sys.census()],
      ['rt.capi.Py_INCREF', (r: Runtime) => r.capi.Py_INCREF(4096)],
      ['rt.capi.PyMem_Malloc', (r: Runtime) => r.capi.PyMem_Malloc(8)],
      ['rt.capi.validateHeap', (r: Runtime) => r.capi.validateHeap()],
      ['rt.ctypes.c_long', (r: Runtime) => r.ctypes.c_long.from_address(4096).value],
      ['rt.None', (r: Runtime) => r.None],
    ] as const
  ).map(([n, fn]) => ({
    name: `closed runtime: ${n}`,
    run: (f: Fixture) => fn(f.closedRef.runtime),
    expect: ['ERR_RUNTIME_CLOSED'],
  })),
];

const ALL: Case[] = [...addrCases(), ...refCases(), ...MISC];

function outcome(fn: () => unknown): { outcome: Outcome; error?: unknown } {
  try {
    const r = fn();
    if (r && typeof r === 'object' && 'release' in r && typeof (r as Ref).release === 'function') {
      try {
        (r as Ref).release();
      } catch {
        /* a released or borrowed result */
      }
    }
    return { outcome: 'ok' };
  } catch (e) {
    if (e instanceof RefcountError) return { outcome: e.code, error: e };
    if (e instanceof TypeError) return { outcome: 'TypeError', error: e };
    return { outcome: `unexpected ${String(e)}`, error: e };
  }
}

for (const build of ['release', 'debug', 'nodealloc'] as const) {
  describe(`hostile input (${build})`, () => {
    let f: Fixture;
    beforeAll(() => {
      const rt = Runtime.create({ build });
      const other = Runtime.create({ build });
      const closed = Runtime.create({ build });
      const closedRef = closed.list([1]);
      closed.close();
      const released = rt.list([1, 2]);
      released.release();
      const cls = rt.defineClass('H');
      const o = other.float(2.5);
      const list = rt.list([1, 2, 3]);
      const tuple = rt.tuple([1, 2]);
      const dict = rt.dict({ k: 1 });
      const int = rt.int(123456);
      const inst = cls.new({ a: 1 });
      const liveAddr = rt.float(9.5).id;
      const scratch = rt.capi.PyMem_Malloc(64);
      // freed blocks of size classes nothing else here allocates, so they stay freed
      const gone = rt.str('g'.repeat(470));
      const freedAddr = gone.id;
      gone.release();
      const freedMem = rt.capi.PyMem_Malloc(300);
      rt.capi.PyMem_Free(freedMem);
      f = {
        rt,
        other,
        closedRef,
        released,
        list,
        tuple,
        dict,
        int,
        inst,
        cls,
        freedAddr,
        freedMem,
        scratch,
        otherAddr: o.id,
        liveAddr,
      };
    });
    afterAll(() => {
      f.rt.close();
      f.other.close();
    });

    it(`every case (${ALL.length} in the table): typed errors, a valid heap, a working collector`, () => {
      const bad: string[] = [];
      let n = 0;
      for (const c of ALL) {
        if (c.builds && !c.builds.includes(build)) continue;
        n++;
        if (process.env['HOSTILE_TRACE']) writeSync(2, `${build}: ${c.name}\n`);
        const r = outcome(() => c.run(f));
        if (process.env["HOSTILE_TRACE"]) writeSync(2, `  -> ${r.outcome}\n`);
        if (!c.expect.includes(r.outcome)) bad.push(`${c.name}: got ${r.outcome}${r.error instanceof Error ? ` (${r.error.message})` : ''}, expected ${c.expect.join(' | ')}`);
        const v = f.rt.capi.validateHeap();
        if (v !== null) bad.push(`${c.name}: heap invalid afterwards: ${v}`);
        if (typeof f.rt.gc.collect() !== 'number') bad.push(`${c.name}: gc.collect() failed`);
      }
      console.log(`hostile ${build}: ${n} cases`);
      expect(bad).toEqual([]);
      expect(n).toBeGreaterThanOrEqual(300);
    });
  });
}
