// CPython 3.12's object free lists (floats, lists, dicts and their minimum-size keys tables,
// tuples of 1..20 items), against CPython 3.12.1: each test runs the same program in CPython when
// one is found (test/helpers/python.ts) and checks it prints what the runtime gives.
import { describe, expect, it } from 'vitest';

import { RefcountError, Runtime } from '../lib/index.js';
import { expectCPython, runCPythonCode } from './helpers/python.js';

type Rt = ReturnType<typeof Runtime.create>;

function withRt<T>(opts: Parameters<typeof Runtime.create>[0], fn: (rt: Rt) => T): T {
  const rt = Runtime.create(opts);
  try {
    rt.gc.disable();
    rt.gc.collect(); // empties the free lists, as in CPython
    return fn(rt);
  } finally {
    rt.close();
  }
}

const PRELUDE = 'import gc, sys, ctypes\ngc.disable(); gc.collect()\n';
const xs = (n: number): string => Array<string>(n).fill('x').join(', ');

/** The free list section of sys._debugmallocstats(): the lines after the last blank line. */
function freeListLines(text: string): string[] {
  const lines = text.trimEnd().split('\n');
  return lines.slice(lines.lastIndexOf('') + 1);
}

describe.each(['release', 'debug'] as const)('free lists (%s build)', (build) => {
  it('a parked list is reused without counting a GC allocation; the 81st is freed', () =>
    withRt({ build }, (rt) => {
      const count = (): number => rt.gc.getCount()[0];
      const c0 = count();
      let keep = Array.from({ length: 81 }, () => rt.list());
      const c1 = count();
      for (const l of keep) l.release();
      const c2 = count();
      keep = Array.from({ length: 81 }, () => rt.list());
      const c3 = count();
      for (const l of keep) l.release();
      rt.gc.collect();
      const out = `${c1 - c0} ${c2 - c0} ${c3 - c0} ${count()}`;
      expect(out).toBe('81 80 81 0');
      expectCPython(
        `${PRELUDE}t = gc.get_count(); del t\nkeep = [None for i in range(100)]\nc0 = gc.get_count()[0]\n` +
          'for i in range(81): keep[i] = []\nc1 = gc.get_count()[0]\nfor i in range(81): keep[i] = None\n' +
          'c2 = gc.get_count()[0]\nfor i in range(81): keep[i] = []\nc3 = gc.get_count()[0]\n' +
          'for i in range(81): keep[i] = None\ngc.collect()\nprint(c1 - c0, c2 - c0, c3 - c0, gc.get_count()[0])',
        out,
      );
    }));

  it('sys._debugmallocstats() lists what each free list holds, in CPython\'s lines', () =>
    withRt({ build, guard: false }, (rt) => {
      const x = rt.int(1000);
      const floats = [0.5, 1.5, 2.5].map((v) => rt.float(v));
      const d1 = rt.dict([['k', x]]);
      const d2 = rt.dict();
      const lists = [rt.list(), rt.list(), rt.list()];
      const tuples = [1, 1, 2, 19, 20].map((n) => rt.tuple(Array<typeof x>(n).fill(x)));
      const [a1, a2] = [floats[0]!.id, floats[1]!.id];
      const [b1, b2, b20, f3] = [tuples[0]!.id, tuples[1]!.id, tuples[4]!.id, floats[2]!.id];
      for (const r of [...floats, d1, d2, ...lists, ...tuples]) r.release();
      const word = (a: number): bigint => BigInt(rt.ctypes.c_long.from_address(a).value);
      // A parked float keeps refcount 0 and links the previous one through ob_type; a parked
      // tuple links through its first item.
      const reads = `${word(a2)} ${word(a2 + 8) === BigInt(a1) ? 'True' : 'False'} ${word(b2)} ${word(b2 + 24) === BigInt(b1) ? 'True' : 'False'}`;
      expect(reads).toBe('0 True 0 True');
      const ours = freeListLines(rt.sys.debugmallocstats());
      expect(ours).toHaveLength(23);
      expect(ours.filter((l) => !/^ *0 free/.test(l))).toEqual([
        '            2 free PyDictObjects * 48 bytes each =                   96',
        '           3 free PyFloatObjects * 24 bytes each =                   72',
        '            3 free PyListObjects * 40 bytes each =                  120',
        '   2 free 1-sized PyTupleObjects * 32 bytes each =                   64',
        '   1 free 2-sized PyTupleObjects * 40 bytes each =                   40',
        ' 1 free 19-sized PyTupleObjects * 176 bytes each =                  176',
        ' 1 free 20-sized PyTupleObjects * 184 bytes each =                  184',
      ]);
      // the same facts as data
      const tupleCounts = Array<number>(20).fill(0);
      [tupleCounts[0], tupleCounts[1], tupleCounts[18], tupleCounts[19]] = [2, 1, 1, 1];
      expect(rt.sys.mallocStats().freeLists).toEqual({ dict: 2, float: 3, list: 3, tuple: tupleCounts });
      const py = runCPythonCode(
        `${PRELUDE}x = int("1000")\nf1 = float("0.5"); f2 = float("1.5"); f3 = float("2.5")\na1 = id(f1); a2 = id(f2)\n` +
          'd1 = {}; d1["k"] = x\nd2 = {}\nl1 = []; l2 = []; l3 = []\n' +
          `t1 = (x,); t1b = (x,); t2 = (x, x); t19 = (${xs(19)}); t20 = (${xs(20)})\nb1 = id(t1); b2 = id(t1b)\n` +
          'del f1, f2, f3, d1, d2, l1, l2, l3, t1, t1b, t2, t19, t20\n' +
          'r1 = ctypes.c_long.from_address(a2).value\nr2 = ctypes.c_long.from_address(a2 + 8).value == a1\n' +
          'r3 = ctypes.c_long.from_address(b2).value\nr4 = ctypes.c_long.from_address(b2 + 24).value == b1\n' +
          'sys._debugmallocstats()\nprint(r1, r2, r3, r4)',
      );
      if (py !== null) {
        expect(py.stdout.trim(), 'CPython printed').toBe(reads);
        expect(freeListLines(py.stderr), 'CPython printed').toEqual(ours);
      }
      // a 20-item tuple is pushed but never popped (3.12.1); 1..19 are reused, LIFO
      const t1 = rt.tuple([x]);
      expect(t1.id).toBe(b2);
      const t20 = rt.tuple(Array<typeof x>(20).fill(x));
      expect(t20.id).not.toBe(b20);
      const f = rt.float(9.5);
      expect(f.id).toBe(f3);
      expect(f.value()).toBe(9.5);
      expect(f.typeName).toBe('float');
      for (const r of [t1, t20, f, x]) r.release();
      rt.gc.collect();
      expect(freeListLines(rt.sys.debugmallocstats()).every((l) => /^ *0 free/.test(l))).toBe(true);
    }));

  it('a full collection empties the free lists and gives their blocks back; younger ones do not', () =>
    withRt({ build }, (rt) => {
      const blocks = rt.sys.getallocatedblocks();
      for (const r of [rt.list(), rt.dict([['k', 1]]), rt.tuple([rt.None]), rt.float(0.25)]) r.release();
      // list, dict + its keys table, 1-tuple, float
      expect(rt.sys.getallocatedblocks() - blocks).toBe(5);
      rt.gc.collect(0);
      rt.gc.collect(1);
      expect(rt.sys.getallocatedblocks() - blocks).toBe(5);
      rt.gc.collect(2);
      expect(rt.sys.getallocatedblocks()).toBe(blocks);
    }));
});

describe('free lists in guarded mode, nodealloc and Py_STATS', () => {
  it('a parked object is dead to the user: use after free, and raw writes into it are refused', () =>
    withRt({ guard: true }, (rt) => {
      const f = rt.float(1.25);
      const id = f.id;
      f.release();
      expect(() => rt.capi.Py_INCREF(id)).toThrow(expect.objectContaining({ code: 'ERR_USE_AFTER_FREE' }));
      const link = rt.ctypes.c_long.from_address(id + 8);
      expect(() => {
        link.value = 0x1234;
      }).toThrow(RefcountError);
      // the free list is intact: the next float reuses the block
      const g = rt.float(2.5);
      expect(g.id).toBe(id);
      expect(g.value()).toBe(2.5);
      g.release();
    }));

  it('nodealloc never deallocates, so nothing is ever parked', () =>
    withRt({ build: 'nodealloc' }, (rt) => {
      const l = rt.list();
      const id = l.id;
      l.release();
      const m = rt.list();
      expect(m.id).not.toBe(id);
      expect(freeListLines(rt.sys.debugmallocstats()).every((line) => /^ *0 free/.test(line))).toBe(true);
      m.release();
    }));

  it('the debug build counts Py_STATS to_freelist / from_freelist (dict keys tables too)', () =>
    withRt({ build: 'debug' }, (rt) => {
      const s0 = rt.sys.stats();
      rt.dict([['k', 1]]).release(); // dict + keys parked: 2
      rt.dict([['k', 1]]).release(); // both reused (2), parked again (2)
      const s1 = rt.sys.stats();
      expect(s1['to_freelist']! - s0['to_freelist']!).toBe(4);
      expect(s1['from_freelist']! - s0['from_freelist']!).toBe(2);
    }));
});
