// The allocator through the public API: pymalloc (CPython 3.12's obmalloc), the raw malloc
// kinds and the PYTHONMALLOC=debug hooks, with both arena sources.
//
//  1. a fast-check property test of random alloc/calloc/realloc/free sequences (sizes 0..2000,
//     all three domains) checking alignment, disjointness, contents, validateHeap() and
//     sys.getallocatedblocks() after every step;
//  2. arenas are given back (both sources), in the stats object and in the text;
//  3. the sys._debugmallocstats() text: structure, totals, and CPython 3.12.1's layout;
//  4. what from_address(id).value reads after the last reference dies (exp_0 step 7);
//  5. debug-hook corruption reports, guarded (MemoryCorruptionError) and unguarded (SIGABRT);
//  6. guarded mode's exact answers to bad frees.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { MemoryCorruptionError, RefcountError, Runtime } from '../lib/index.js';
import type { MallocStats } from '../lib/index.js';
import { REPO_ROOT, findCPython312 } from './helpers/python.js';

type Rt = ReturnType<typeof Runtime.create>;
type AllocatorName = 'pymalloc' | 'malloc' | 'pymalloc_debug' | 'malloc_debug';
type ArenaName = 'mmap' | 'malloc';
type Domain = 'r' | 'm' | 'o';

const KINDS: readonly AllocatorName[] = ['pymalloc', 'malloc', 'pymalloc_debug', 'malloc_debug'];
const ARENAS: readonly ArenaName[] = ['mmap', 'malloc'];
const DEADWORD = -2459565876494606883n; // 0xDDDDDDDDDDDDDDDD as a signed c_long
const ARENA_SIZE = 1048576;
const POOL_SIZE = 16384;

function capiFns(rt: Rt, d: Domain) {
  const c = rt.capi;
  switch (d) {
    case 'r':
      return { malloc: c.PyMem_RawMalloc.bind(c), calloc: c.PyMem_RawCalloc.bind(c), realloc: c.PyMem_RawRealloc.bind(c), free: c.PyMem_RawFree.bind(c) };
    case 'm':
      return { malloc: c.PyMem_Malloc.bind(c), calloc: c.PyMem_Calloc.bind(c), realloc: c.PyMem_Realloc.bind(c), free: c.PyMem_Free.bind(c) };
    case 'o':
      return { malloc: c.PyObject_Malloc.bind(c), calloc: c.PyObject_Calloc.bind(c), realloc: c.PyObject_Realloc.bind(c), free: c.PyObject_Free.bind(c) };
  }
}

// sys.getallocatedblocks() counts pymalloc's blocks in use plus the Mem/Obj requests pymalloc
// passed on to malloc (CPython's raw_allocated_blocks). Raw-domain blocks never count, and with
// PYTHONMALLOC=malloc / malloc_debug nothing does (CPython 3.12.1 prints 0 there).
function countsAsAllocatedBlock(kind: AllocatorName, d: Domain): boolean {
  return (kind === 'pymalloc' || kind === 'pymalloc_debug') && d !== 'r';
}

function pattern(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// 1. property test
// ---------------------------------------------------------------------------------------------

type Cmd =
  | { readonly op: 'malloc'; readonly d: Domain; readonly n: number }
  | { readonly op: 'calloc'; readonly d: Domain; readonly nelem: number; readonly elsize: number }
  | { readonly op: 'realloc'; readonly pick: number; readonly n: number }
  | { readonly op: 'free'; readonly pick: number };

const sizeArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 512 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 2000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 15, 16, 17, 496, 511, 512, 513, 1024, 2000) },
);
const domainArb = fc.constantFrom<Domain>('r', 'm', 'o');
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('malloc' as const), d: domainArb, n: sizeArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('calloc' as const),
      d: domainArb,
      nelem: fc.integer({ min: 0, max: 40 }),
      elsize: fc.integer({ min: 0, max: 50 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('realloc' as const), pick: fc.nat(), n: sizeArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('free' as const), pick: fc.nat() }) },
);

interface LiveBlock {
  readonly addr: number;
  readonly d: Domain;
  readonly n: number;
  readonly seed: number;
}

function runSequence(rt: Rt, kind: AllocatorName, cmds: readonly Cmd[]): void {
  const live: LiveBlock[] = [];
  const baseline = rt.sys.getallocatedblocks();
  let seed = 1;
  const expectedBlocks = (): number => baseline + live.filter((b) => countsAsAllocatedBlock(kind, b.d)).length;
  const fill = (b: LiveBlock): void => {
    if (b.n > 0) rt.capi.writeBytes(b.addr, pattern(b.seed, b.n));
  };
  const checkNew = (b: LiveBlock): void => {
    expect(b.addr).not.toBe(0);
    // pymalloc's 16-byte alignment (and glibc's on x86-64 / arm64; the debug hooks add 16).
    if (b.n <= 512) expect(b.addr % 16).toBe(0);
    const end = b.addr + Math.max(b.n, 1);
    for (const o of live) {
      if (o === b) continue;
      const oend = o.addr + Math.max(o.n, 1);
      if (b.addr < oend && o.addr < end) throw new Error(`block ${b.addr}+${b.n} overlaps live block ${o.addr}+${o.n}`);
    }
  };
  const checkAll = (): void => {
    for (const b of live) {
      if (b.n > 0) expect(rt.capi.readBytes(b.addr, b.n).equals(pattern(b.seed, b.n))).toBe(true);
    }
    expect(rt.capi.validateHeap()).toBeNull();
    expect(rt.sys.getallocatedblocks()).toBe(expectedBlocks());
  };
  try {
    for (const c of cmds) {
      if (c.op === 'malloc' || c.op === 'calloc') {
        const f = capiFns(rt, c.d);
        const n = c.op === 'malloc' ? c.n : c.nelem * c.elsize;
        const addr = c.op === 'malloc' ? f.malloc(c.n) : f.calloc(c.nelem, c.elsize);
        const b: LiveBlock = { addr, d: c.d, n, seed: seed++ };
        checkNew(b);
        if (c.op === 'calloc' && n > 0) expect(rt.capi.readBytes(addr, n).every((x) => x === 0)).toBe(true);
        live.push(b);
        fill(b);
      } else if (live.length > 0) {
        const i = c.pick % live.length;
        const old = live[i]!;
        const f = capiFns(rt, old.d);
        if (c.op === 'free') {
          f.free(old.addr);
          live.splice(i, 1);
        } else {
          const addr = f.realloc(old.addr, c.n);
          const keep = Math.min(old.n, c.n);
          const b: LiveBlock = { addr, d: old.d, n: c.n, seed: seed++ };
          live[i] = b;
          checkNew(b);
          // realloc preserves the common prefix; then the block gets its own pattern.
          if (keep > 0) expect(rt.capi.readBytes(addr, keep).equals(pattern(old.seed, keep))).toBe(true);
          fill(b);
        }
      }
      checkAll();
    }
  } finally {
    for (const b of live) capiFns(rt, b.d).free(b.addr);
  }
  expect(rt.capi.validateHeap()).toBeNull();
  expect(rt.sys.getallocatedblocks()).toBe(baseline);
}

describe('property: random alloc/free/realloc sequences', () => {
  for (const kind of KINDS) {
    for (const arenas of ARENAS) {
      it(`${kind}, arenas from ${arenas}`, () => {
        const rt = Runtime.create({ allocator: kind, arenaAllocator: arenas });
        try {
          fc.assert(
            fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 40 }), (cmds) => runSequence(rt, kind, cmds)),
            { numRuns: 300, interruptAfterTimeLimit: 20_000 },
          );
        } finally {
          rt.close();
        }
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// 2. arenas are given back
// ---------------------------------------------------------------------------------------------

function statsOf(rt: Rt): MallocStats {
  return rt.sys.mallocStats();
}

function textValue(text: string, label: string): number {
  const line = text.split('\n').find((l) => l.startsWith(label));
  if (line === undefined) throw new Error(`no line "${label}" in:\n${text}`);
  const m = /=\s+([\d,]+)$/.exec(line);
  if (!m || m[1] === undefined) throw new Error(`bad line: ${line}`);
  return Number(m[1].replace(/,/g, ''));
}

describe('arenas are returned to the system', () => {
  for (const arenas of ARENAS) {
    it(`200k blocks, then all freed (arenas from ${arenas})`, () => {
      const rt = Runtime.create({ allocator: 'pymalloc', arenaAllocator: arenas });
      try {
        const before = statsOf(rt);
        const blocks = new Float64Array(200_000);
        for (let i = 0; i < blocks.length; i++) blocks[i] = rt.capi.PyObject_Malloc(32);
        const peak = statsOf(rt);
        // 200k * 32 bytes: ~6.3 MiB of blocks, 7 arenas at least.
        expect(peak.arenas_allocated_current - before.arenas_allocated_current).toBeGreaterThanOrEqual(6);
        expect(peak.allocated_blocks - before.allocated_blocks).toBe(200_000);
        for (const p of blocks) rt.capi.PyObject_Free(p);
        const after = statsOf(rt);
        // CPython keeps at most one wholly empty arena; all the others went back.
        expect(after.arenas_allocated_current).toBeLessThanOrEqual(before.arenas_allocated_current + 1);
        expect(after.arenas_reclaimed).toBeGreaterThan(0);
        expect(after.arenas_reclaimed).toBe(after.arenas_allocated_total - after.arenas_allocated_current);
        expect(after.arenas_highwater).toBe(peak.arenas_allocated_current);
        expect(after.allocated_blocks).toBe(before.allocated_blocks);
        const text = rt.sys.debugmallocstats();
        expect(textValue(text, '# arenas reclaimed')).toBe(after.arenas_reclaimed);
        expect(textValue(text, '# arenas reclaimed')).toBeGreaterThan(0);
        expect(textValue(text, '# arenas allocated current')).toBe(after.arenas_allocated_current);
        expect(rt.capi.validateHeap()).toBeNull();
      } finally {
        rt.close();
      }
    });
  }

  it('objects: 200k floats released give their arenas back', () => {
    const rt = Runtime.create({ allocator: 'pymalloc' });
    try {
      const before = statsOf(rt);
      const refs = [];
      for (let i = 0; i < 200_000; i++) refs.push(rt.float(i + 0.5));
      expect(statsOf(rt).arenas_allocated_current).toBeGreaterThan(before.arenas_allocated_current + 3);
      for (const r of refs) r.release();
      const after = statsOf(rt);
      expect(after.arenas_allocated_current).toBeLessThanOrEqual(before.arenas_allocated_current + 1);
      expect(after.arenas_reclaimed).toBeGreaterThan(0);
      expect(textValue(rt.sys.debugmallocstats(), '# arenas reclaimed')).toBeGreaterThan(0);
    } finally {
      rt.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. the stats text
// ---------------------------------------------------------------------------------------------

const NUMBLOCKS = (cls: number): number => Math.floor((POOL_SIZE - 48) / ((cls + 1) * 16));

// The pymalloc section of sys._debugmallocstats(): everything up to the second "Total" line.
function pymallocSection(text: string): string[] {
  const lines = text.split('\n');
  let totals = 0;
  const out: string[] = [];
  for (const l of lines) {
    out.push(l);
    if (l.startsWith('Total ') && ++totals === 2) break;
  }
  return out;
}

// A line's shape: numbers masked, class rows collapsed to one marker.
function shapes(section: readonly string[]): string[] {
  const out: string[] = [];
  for (const l of section) {
    if (/^\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+$/.test(l)) {
      if (out[out.length - 1] !== '<class row>') out.push('<class row>');
      continue;
    }
    // printone() pads the label to 35 columns and the value to 21: compare up to the padding.
    out.push(l.replace(/\d[\d,]*/g, 'N').replace(/\s+=\s+N$/, ' = N'));
  }
  return out;
}

function checkStatsText(text: string): void {
  const sec = pymallocSection(text);
  expect(sec[0]).toBe('Small block threshold = 512, in 32 size classes.');
  expect(sec[1]).toBe('');
  expect(sec[2]).toBe('class   size   num pools   blocks in use  avail blocks');
  expect(sec[3]).toBe('-----   ----   ---------   -------------  ------------');
  let i = 4;
  let allocated = 0;
  let available = 0;
  let pools = 0;
  let lastCls = -1;
  for (; /^\s+\d/.test(sec[i] ?? ''); i++) {
    const row = sec[i]!;
    // printf("%5u %6u %11zu %15zu %13zu")
    expect(row).toMatch(/^[ \d]{5} [ \d]{6} [ \d]{11} [ \d]{15} [ \d]{13}$/);
    const [cls, size, np, inUse, avail] = row.trim().split(/\s+/).map(Number) as [number, number, number, number, number];
    expect(cls).toBeGreaterThan(lastCls);
    lastCls = cls;
    expect(size).toBe((cls + 1) * 16);
    expect(np).toBeGreaterThan(0);
    expect(inUse + avail).toBe(np * NUMBLOCKS(cls));
    allocated += inUse * size;
    available += avail * size;
    pools += np;
  }
  // printone(): the label padded to 35 columns, '=', the value right-aligned in 21.
  for (const l of sec) {
    if (l.includes(' =') && !l.startsWith('Small block threshold')) expect(l).toMatch(/^.{35}=[ \d,]{21}$/);
  }
  const arenas = textValue(text, '# arenas allocated current');
  expect(sec).toContain(`${String(arenas)} arenas * 1048576 bytes/arena`.padEnd(35) + '=' + (arenas * ARENA_SIZE).toLocaleString('en-US').padStart(21));
  expect(textValue(text, '# bytes in allocated blocks')).toBe(allocated);
  expect(textValue(text, '# bytes in available blocks')).toBe(available);
  expect(textValue(text, '# bytes lost to pool headers')).toBe(pools * 48);
  const unusedLine = sec.find((l) => / unused pools \* 16384 bytes/.test(l));
  expect(unusedLine).toBeDefined();
  const parts = [
    '# bytes in allocated blocks',
    '# bytes in available blocks',
    unusedLine!.slice(0, 35).trimEnd(),
    '# bytes lost to pool headers',
    '# bytes lost to quantization',
    '# bytes lost to arena alignment',
  ].map((label) => textValue(text, label));
  const sum = parts.reduce((a, b) => a + b, 0);
  // The six lines add up to the arenas' bytes, and "Total" says so.
  expect(sum).toBe(arenas * ARENA_SIZE);
  const firstTotal = sec.find((l) => l.startsWith('Total '))!;
  expect(Number(firstTotal.split('=')[1]!.replace(/[ ,]/g, ''))).toBe(arenas * ARENA_SIZE);
  const root = textValue(text, '# bytes lost to arena map root');
  expect(root).toBe(262144);
  expect(textValue(text, '# bytes lost to arena map mid')).toBe(262144 * textValue(text, '# arena map mid nodes'));
  expect(textValue(text, '# bytes lost to arena map bot')).toBe(131072 * textValue(text, '# arena map bot nodes'));
}

const cpython = findCPython312();

describe('sys._debugmallocstats() text', () => {
  for (const arenas of ARENAS) {
    it(`structure and totals, with live blocks of many classes (arenas from ${arenas})`, () => {
      const rt = Runtime.create({ allocator: 'pymalloc', arenaAllocator: arenas });
      try {
        const ps: number[] = [];
        for (let i = 0; i < 3000; i++) ps.push(rt.capi.PyObject_Malloc(1 + ((i * 37) % 512)));
        for (let i = 0; i < ps.length; i += 3) rt.capi.PyObject_Free(ps[i]!);
        const text = rt.sys.debugmallocstats();
        checkStatsText(text);
        // The stats object and the text agree.
        const st = rt.sys.mallocStats();
        expect(textValue(text, '# bytes in allocated blocks')).toBe(st.bytes_in_allocated_blocks);
        expect(textValue(text, '# bytes lost to arena alignment')).toBe(st.bytes_lost_to_arena_alignment);
        if (arenas === 'malloc') {
          // malloc'ed arenas are never pool-aligned: each loses its partial first pool.
          expect(textValue(text, '# bytes lost to arena alignment')).toBe(POOL_SIZE * textValue(text, '# arenas allocated current'));
        }
      } finally {
        rt.close();
      }
    });
  }

  it('the malloc kinds have no pymalloc section', () => {
    for (const kind of ['malloc', 'malloc_debug'] as const) {
      const rt = Runtime.create({ allocator: kind });
      try {
        expect(rt.sys.debugmallocstats()).not.toContain('Small block threshold');
      } finally {
        rt.close();
      }
    }
  });

  it.skipIf(cpython === null)('has the line structure of CPython 3.12.1 (needs CPython 3.12: test/helpers/python.ts)', () => {
    const py = cpython!;
    const r = spawnSync(py.cmd, [...py.args, '-c', 'import sys; sys._debugmallocstats()'], { env: py.env, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const theirs = shapes(pymallocSection(r.stderr));
    const rt = Runtime.create({ allocator: 'pymalloc' });
    try {
      const keep = [];
      for (let i = 0; i < 200; i++) keep.push(rt.capi.PyObject_Malloc(16 + (i % 32) * 16));
      const ours = shapes(pymallocSection(rt.sys.debugmallocstats()));
      expect(ours).toEqual(theirs);
      checkStatsText(r.stderr); // CPython's own text obeys the same rules
      for (const p of keep) rt.capi.PyObject_Free(p);
    } finally {
      rt.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 4. what the first word reads after the last reference dies
// ---------------------------------------------------------------------------------------------

// exp_0, step by step (the same steps on CPython below):
//   1 class A: pass;  a = A()        2 addr = id(a)
//   3 c_long.from_address(addr) -> 1  4 b = a
//   5 ... -> 2                        6 del b; del a
//   7 c_long.from_address(addr).value -> 0
// Why 0 in both: A's instances are gc objects, so the pymalloc block starts 16 bytes BEFORE
// id(a), at the PyGC_Head. Py_DECREF stored 0 in ob_refcnt before deallocating, and
// PyObject_GC_Del frees the block at the PyGC_Head: pymalloc's free-list link goes into the
// block's first word (the gc head's _gc_next), not into ob_refcnt, which keeps the 0. With the
// debug hooks, _PyMem_DebugRawFree fills the whole block with DEADBYTE first, ob_refcnt included.
const EXP0 = [
  'import ctypes',
  'class A: pass',
  'a = A()',
  'addr = id(a)',
  'print(ctypes.c_long.from_address(addr).value)',
  'b = a',
  'print(ctypes.c_long.from_address(addr).value)',
  'del b',
  'del a',
  'print(ctypes.c_long.from_address(addr).value)',
  // a non-gc object: its block starts at id(), so the first word is pymalloc's free-list link
  'o = object(); ao = id(o); del o',
  'print(ctypes.c_long.from_address(ao).value)',
].join('\n');

function exp0(rt: Rt): [number | bigint, number | bigint, number | bigint] {
  const A = rt.defineClass('A');
  const a = A.new();
  const addr = a.id;
  const word = rt.ctypes.c_long.from_address(addr);
  const s3 = word.value;
  const b = a.dup();
  const s5 = word.value;
  b.release();
  a.release();
  return [s3, s5, word.value];
}

describe('the first word after the last reference dies', () => {
  it('pymalloc: exp_0 step 7 reads 0 (the free-list link went into the PyGC_Head)', () => {
    const rt = Runtime.create({ allocator: 'pymalloc' });
    try {
      expect(exp0(rt)).toEqual([1, 2, 0]);
    } finally {
      rt.close();
    }
  });

  it('pymalloc_debug: reads 0xDDDDDDDDDDDDDDDD, as a CPython debug build', () => {
    const rt = Runtime.create({ allocator: 'pymalloc_debug' });
    try {
      expect(exp0(rt)).toEqual([1, 2, DEADWORD]);
    } finally {
      rt.close();
    }
  });

  it('a non-gc block: the first word is the free-list link (NULL or a block of the same pool)', () => {
    const rt = Runtime.create({ allocator: 'pymalloc' });
    try {
      const p = rt.capi.PyObject_Malloc(24);
      const q = rt.capi.PyObject_Malloc(24); // keeps the pool USED after p is freed
      rt.capi.PyObject_Free(p);
      const link = rt.ctypes.c_long.from_address(p).value;
      const n = typeof link === 'bigint' ? Number(link) : link;
      expect(n === 0 || Math.floor(n / POOL_SIZE) === Math.floor(p / POOL_SIZE)).toBe(true);
      // the next allocation of the class takes p back (LIFO free list)
      expect(rt.capi.PyObject_Malloc(24)).toBe(p);
      rt.capi.PyObject_Free(p);
      rt.capi.PyObject_Free(q);
    } finally {
      rt.close();
    }
  });

  it.skipIf(cpython === null)('CPython 3.12.1 prints the same (release: 0; PYTHONMALLOC=pymalloc_debug: DEADBYTE words)', () => {
    const py = cpython!;
    const run = (malloc: string): string[] => {
      const r = spawnSync(py.cmd, [...py.args, '-c', EXP0], { env: { ...py.env, PYTHONMALLOC: malloc }, encoding: 'utf8' });
      expect(r.status).toBe(0);
      return r.stdout.trim().split('\n');
    };
    const rel = run('pymalloc');
    expect(rel.slice(0, 3)).toEqual(['1', '2', '0']);
    expect(rel[3]).not.toBe(String(DEADWORD));
    expect(run('pymalloc_debug')).toEqual(['1', '2', String(DEADWORD), String(DEADWORD)]);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. debug-hook corruption reports
// ---------------------------------------------------------------------------------------------

interface Corruption {
  readonly name: string;
  // allocates, corrupts, and returns the call that the hooks must refuse
  readonly setup: (rt: Rt) => { readonly p: number; readonly call: () => void };
  readonly fatal: string;
  readonly reportLines: (p: number) => readonly (string | RegExp)[];
}

const hex = (a: number): string => '0x' + a.toString(16);

const CORRUPTIONS: readonly Corruption[] = [
  {
    name: 'trailing pad',
    setup: (rt) => {
      const p = rt.capi.PyMem_Malloc(16);
      rt.capi.writeBytes(p, Buffer.alloc(16, 0x41));
      rt.capi.writeBytes(p + 16, Buffer.from([0x00]));
      return { p, call: () => rt.capi.PyMem_Free(p) };
    },
    fatal: '_PyMem_DebugRawFree: bad trailing pad byte',
    reportLines: (p) => [
      `Debug memory block at address p=${hex(p)}: API 'm'`,
      '    16 bytes originally requested',
      '    The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.',
      `    The 8 pad bytes at tail=${hex(p + 16)} are not all FORBIDDENBYTE (0xfd):`,
      '        at tail+0: 0x00 *** OUCH',
      '        at tail+1: 0xfd',
      '    Data at p: 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41',
      'Enable tracemalloc to get the memory block allocation traceback',
      'Fatal Python error: _PyMem_DebugRawFree: bad trailing pad byte',
    ],
  },
  {
    name: 'leading pad',
    setup: (rt) => {
      const p = rt.capi.PyMem_Malloc(8);
      rt.capi.writeBytes(p - 3, Buffer.from([0x00]));
      return { p, call: () => rt.capi.PyMem_Free(p) };
    },
    fatal: '_PyMem_DebugRawFree: bad leading pad byte',
    reportLines: (p) => [
      `Debug memory block at address p=${hex(p)}: API 'm'`,
      '    8 bytes originally requested',
      '    The 7 pad bytes at p-7 are not all FORBIDDENBYTE (0xfd):',
      '        at p-3: 0x00 *** OUCH',
      '        at p-2: 0xfd',
      '    Because memory is corrupted at the start, the count of bytes requested',
      'Fatal Python error: _PyMem_DebugRawFree: bad leading pad byte',
    ],
  },
  {
    name: "wrong API ('m' freed as 'o')",
    setup: (rt) => {
      const p = rt.capi.PyMem_Malloc(24);
      return { p, call: () => rt.capi.PyObject_Free(p) };
    },
    fatal: "_PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'o'",
    reportLines: (p) => [
      `Debug memory block at address p=${hex(p)}: API 'm'`,
      '    24 bytes originally requested',
      '    The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.',
      `    The 8 pad bytes at tail=${hex(p + 24)} are FORBIDDENBYTE, as expected.`,
      '    Data at p: cd cd cd cd cd cd cd cd ... cd cd cd cd cd cd cd cd',
      "Fatal Python error: _PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'o'",
    ],
  },
];

function expectLines(report: string, lines: readonly (string | RegExp)[]): void {
  const got = report.split('\n');
  for (const l of lines) {
    if (typeof l === 'string') expect(got, report).toContain(l);
    else expect(got.some((g) => l.test(g)), report).toBe(true);
  }
}

describe('debug hooks: corruption reports, guarded', () => {
  for (const kind of ['pymalloc_debug', 'malloc_debug'] as const) {
    for (const c of CORRUPTIONS) {
      it(`${kind}: ${c.name} -> MemoryCorruptionError with CPython's report`, () => {
        const rt = Runtime.create({ allocator: kind, guard: true });
        try {
          const { p, call } = c.setup(rt);
          let err: unknown;
          try {
            call();
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(MemoryCorruptionError);
          const mc = err as MemoryCorruptionError;
          expect(mc.code).toBe('ERR_MEMORY_CORRUPTION');
          expect(mc.message).toBe(c.fatal);
          expectLines(mc.report, c.reportLines(p));
          expect(mc.report.endsWith(`Fatal Python error: ${c.fatal}\n`)).toBe(true);
          // The refused block is left alone (leaked), the heap stays consistent.
          expect(rt.capi.validateHeap()).toBeNull();
        } finally {
          rt.close();
        }
      });
    }
  }
});

// The same corruptions done to CPython 3.12.1 (PYTHONMALLOC=pymalloc_debug) through ctypes: the
// report, up to its "Fatal Python error" line, is the same text once addresses are masked.
const CPY_CORRUPTIONS: Readonly<Record<string, string>> = {
  'trailing pad': 'p = api.PyMem_Malloc(16); ctypes.memset(p, 0x41, 16); ctypes.memset(p + 16, 0, 1); api.PyMem_Free(p)',
  'leading pad': 'p = api.PyMem_Malloc(8); ctypes.memset(p - 3, 0, 1); api.PyMem_Free(p)',
  "wrong API ('m' freed as 'o')": 'p = api.PyMem_Malloc(24); api.PyObject_Free(p)',
};

function maskReport(text: string): string {
  const lines = text.split('\n');
  const end = lines.findIndex((l) => l.startsWith('Fatal Python error: '));
  return lines
    .slice(0, end + 1)
    .join('\n')
    .replace(/p=0x[0-9a-f]+/g, 'p=<p>')
    .replace(/tail=0x[0-9a-f]+/g, 'tail=<tail>');
}

describe('debug hooks: the reports are CPython 3.12.1\'s text', () => {
  for (const c of CORRUPTIONS) {
    it.skipIf(cpython === null)(`${c.name} (needs CPython 3.12: test/helpers/python.ts)`, () => {
      const py = cpython!;
      const script = [
        'import ctypes',
        'api = ctypes.pythonapi',
        'for f in (api.PyMem_Malloc,): f.restype = ctypes.c_void_p; f.argtypes = [ctypes.c_size_t]',
        'for f in (api.PyMem_Free, api.PyObject_Free): f.argtypes = [ctypes.c_void_p]',
        CPY_CORRUPTIONS[c.name]!,
      ].join('\n');
      const r = spawnSync(py.cmd, [...py.args, '-c', script], {
        env: { ...py.env, PYTHONMALLOC: 'pymalloc_debug' },
        encoding: 'utf8',
      });
      expect(r.signal).toBe('SIGABRT');
      const theirs = maskReport(r.stderr);
      const rt = Runtime.create({ allocator: 'pymalloc_debug', guard: true });
      try {
        const { call } = c.setup(rt);
        let report = '';
        try {
          call();
        } catch (e) {
          if (e instanceof MemoryCorruptionError) report = e.report;
          else throw e;
        }
        expect(maskReport(report)).toBe(theirs);
      } finally {
        rt.close();
      }
    });
  }
});

const DIST_INDEX = pathToFileURL(resolve(REPO_ROOT, 'dist', 'index.js')).href;

// Runs `body` in a child node with `rt` an unguarded runtime; returns its status and stderr.
function child(kind: AllocatorName, body: string): { status: number | null; signal: NodeJS.Signals | null; stderr: string } {
  const script = [
    `import { Runtime } from ${JSON.stringify(DIST_INDEX)};`,
    `const rt = Runtime.create({ allocator: ${JSON.stringify(kind)}, guard: false });`,
    'const c = rt.capi;',
    body,
    "process.stdout.write('survived\\n');",
  ].join('\n');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

describe('debug hooks: corruption reports, unguarded (child process, SIGABRT)', () => {
  const cases: readonly { name: string; body: string; fatal: string; first: RegExp }[] = [
    {
      name: 'trailing pad',
      body: 'const p = c.PyMem_Malloc(16); c.writeBytes(p + 16, Buffer.from([0])); c.PyMem_Free(p);',
      fatal: 'Fatal Python error: _PyMem_DebugRawFree: bad trailing pad byte',
      first: /^Debug memory block at address p=0x[0-9a-f]+: API 'm'$/,
    },
    {
      name: 'leading pad',
      body: 'const p = c.PyMem_Malloc(16); c.writeBytes(p - 1, Buffer.from([0])); c.PyMem_Free(p);',
      fatal: 'Fatal Python error: _PyMem_DebugRawFree: bad leading pad byte',
      first: /^Debug memory block at address p=0x[0-9a-f]+: API 'm'$/,
    },
    {
      name: 'wrong API',
      body: 'const p = c.PyMem_Malloc(16); c.PyObject_Free(p);',
      fatal: "Fatal Python error: _PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'o'",
      first: /^Debug memory block at address p=0x[0-9a-f]+: API 'm'$/,
    },
    {
      name: 'double free',
      body: 'const keep = c.PyMem_Malloc(16); const p = c.PyMem_Malloc(16); c.PyMem_Free(p); c.PyMem_Free(p);',
      fatal: "Fatal Python error: _PyMem_DebugRawFree: double free: block already freed, verified using API 'm'",
      first: /^Debug memory block at address p=0x[0-9a-f]+: already freed$/,
    },
  ];
  for (const kind of ['pymalloc_debug', 'malloc_debug'] as const) {
    for (const c of cases) {
      const fatal = c.fatal;
      it(`${kind}: ${c.name} prints the report to stderr and aborts`, () => {
        const r = child(kind, c.body);
        expect(r.signal, r.stderr).toBe('SIGABRT');
        const lines = r.stderr.split('\n');
        expect(lines.some((l) => c.first.test(l)), r.stderr).toBe(true);
        expect(lines, r.stderr).toContain(fatal);
        expect(r.stderr).not.toContain('survived');
        expect(r.stderr).not.toMatch(/Segmentation fault|SIGSEGV/);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// 6. guarded mode: exact answers to bad frees
// ---------------------------------------------------------------------------------------------

function codeOf(f: () => void): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof RefcountError) return e.code;
    throw e;
  }
  return undefined;
}

describe('guarded mode: bad frees are exact and harmless', () => {
  for (const kind of KINDS) {
    for (const d of ['r', 'm', 'o'] as const) {
      it(`${kind}, domain '${d}'`, () => {
        const rt = Runtime.create({ allocator: kind, guard: true });
        try {
          const f = capiFns(rt, d);
          const blocks = [f.malloc(64), f.malloc(64), f.malloc(1000), f.malloc(0)];
          const before = rt.sys.getallocatedblocks();
          // Addresses never handed out: inside a block, one past it, a foreign address.
          expect(codeOf(() => f.free(blocks[0]! + 16))).toBe('ERR_INVALID_ADDRESS');
          expect(codeOf(() => f.free(blocks[2]! + 8))).toBe('ERR_INVALID_ADDRESS');
          expect(codeOf(() => f.free(0x1000))).toBe('ERR_INVALID_ADDRESS');
          expect(codeOf(() => f.realloc(blocks[1]! + 32, 10))).toBe('ERR_INVALID_ADDRESS');
          expect(rt.sys.getallocatedblocks()).toBe(before);
          expect(rt.capi.validateHeap()).toBeNull();
          // Double frees: small, large and zero-sized blocks.
          for (const i of [1, 2, 3]) {
            const p = blocks[i]!;
            f.free(p);
            expect(codeOf(() => f.free(p))).toBe('ERR_USE_AFTER_FREE');
            expect(codeOf(() => f.realloc(p, 8))).toBe('ERR_USE_AFTER_FREE');
            expect(rt.capi.validateHeap()).toBeNull();
          }
          f.free(blocks[0]!);
          expect(codeOf(() => f.free(blocks[0]!))).toBe('ERR_USE_AFTER_FREE');
          expect(rt.capi.validateHeap()).toBeNull();
          // Still fully usable.
          const q = f.malloc(48);
          rt.capi.writeBytes(q, Buffer.alloc(48, 7));
          expect(rt.capi.readBytes(q, 48).equals(Buffer.alloc(48, 7))).toBe(true);
          f.free(q);
          expect(rt.capi.validateHeap()).toBeNull();
        } finally {
          rt.close();
        }
      });
    }
  }

  it('a block of an arena that was given back: use after free, not a crash', () => {
    const rt = Runtime.create({ allocator: 'pymalloc', guard: true });
    try {
      const ps: number[] = [];
      for (let i = 0; i < 40_000; i++) ps.push(rt.capi.PyObject_Malloc(64));
      for (const p of ps) rt.capi.PyObject_Free(p);
      expect(rt.sys.mallocStats().arenas_reclaimed).toBeGreaterThan(0);
      const codes = new Set(ps.filter((_, i) => i % 997 === 0).map((p) => codeOf(() => rt.capi.PyObject_Free(p))));
      expect([...codes].every((c) => c === 'ERR_USE_AFTER_FREE' || c === 'ERR_INVALID_ADDRESS')).toBe(true);
      expect(rt.capi.validateHeap()).toBeNull();
    } finally {
      rt.close();
    }
  });
});
