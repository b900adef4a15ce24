// The three builds loaded into ONE process at the same time, each behaving as its own build:
// hidden visibility and per-build namespaces keep their code and statics apart.
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { BUILDS, Runtime, allowLeaks, bindingPath } from '../lib/index.js';

const require = createRequire(import.meta.url);

describe('three builds in one process', () => {
  it('each .node reports its own build and its own code', () => {
    const mods = BUILDS.map((b) => require(bindingPath(b)) as { build: string; buildTag: number });
    expect(mods.map((m) => m.build)).toEqual(['release', 'debug', 'nodealloc']);
    expect(mods.map((m) => m.buildTag)).toEqual([0, 1, 2]);
  });

  it('the same operations, interleaved, end three different ways at the same time', () => {
    const rts = BUILDS.map((build) => Runtime.create({ build }));
    const [release, debug, nodealloc] = rts as [Runtime, Runtime, Runtime];
    allowLeaks(debug, 'the interleaved operations keep temporaries to compare the builds');
    const ids = rts.map((rt) => {
      const x = rt.defineClass('A').new({ v: 1.5 });
      const id = x.id;
      x.release();
      return id;
    });
    // release: freed; pymalloc threads its free list through the block's FIRST word (op-32 for
    // an instance), so the count at op reads 0 as in CPython 3.12.1's exp_0 step 7;
    // debug: the debug hooks filled the block with 0xDD; nodealloc: never freed, count 0.
    expect(release.ctypes.c_long.from_address(ids[0]!).value).toBe(0);
    expect(debug.ctypes.c_long.from_address(ids[1]!).value).toBe(-2459565876494606883n);
    expect(nodealloc.ctypes.c_long.from_address(ids[2]!).value).toBe(0);
    expect(() => release.ctypes.cast(ids[0]!, release.ctypes.py_object).value).toThrow(
      expect.objectContaining({ code: 'ERR_USE_AFTER_FREE' }),
    );
    const alive = nodealloc.ctypes.cast(ids[2]!, nodealloc.ctypes.py_object).value;
    expect(alive.value()).toEqual({ v: 1.5 });
    // Only the debug build keeps a ref total and stats.
    const total = debug.sys.gettotalrefcount();
    debug.float(0.25).release();
    expect(debug.sys.gettotalrefcount()).toBe(total);
    expect(debug.sys.stats()['increfs']).toBeGreaterThan(0);
    expect(() => release.sys.gettotalrefcount()).toThrow(expect.objectContaining({ code: 'ERR_NOT_IN_BUILD' }));
    expect(() => nodealloc.sys.stats()).toThrow(expect.objectContaining({ code: 'ERR_NOT_IN_BUILD' }));
    // The debug build's negative-refcount check stays in the debug build.
    for (const rt of rts) {
      const y = rt.float(2.5);
      rt.capi.Py_SET_REFCNT(y.id, 0);
      if (rt.build === 'debug') {
        expect(() => rt.capi.Py_DECREF(y.id)).toThrow(expect.objectContaining({ code: 'ERR_NEGATIVE_REFCOUNT' }));
      } else {
        rt.capi.Py_DECREF(y.id);
        expect(rt.capi.Py_REFCNT(y.id)).toBe(-1);
      }
    }
    for (const rt of rts) rt.close();
  });

  it('the debug build counts references and blocks: [N refs, M blocks]', () => {
    const rt = Runtime.create({ build: 'debug' });
    const before = rt.sys.getallocatedblocks();
    expect(rt.sys.showrefcount()).toBe(`[0 refs, ${before} blocks]`);
    const l = rt.list(['x1x', 'y2y']);
    // the two strs were converted into temporaries, appended, and the temporaries released
    expect(rt.sys.gettotalrefcount()).toBe(3);
    expect(rt.sys.getallocatedblocks()).toBeGreaterThan(before);
    const s = rt.sys.stats();
    expect(s['allocations']).toBeGreaterThanOrEqual(3);
    const incref0 = s['increfs']!;
    const none = rt.None; // immortal: no accounting
    expect(rt.sys.stats()['increfs']).toBe(incref0);
    none.release();
    expect(rt.sys.gettotalrefcount()).toBe(3);
    l.release();
    expect(rt.sys.gettotalrefcount()).toBe(0);
    // the list object itself is parked on the list free list, as in CPython, until a full
    // collection empties the free lists
    expect(rt.sys.getallocatedblocks()).toBe(before + 1);
    rt.gc.collect();
    expect(rt.sys.getallocatedblocks()).toBe(before);
    rt.close();
  });

  it('the ref total counts a dict keys table as one reference, as CPython 3.12 does', () => {
    // CPython 3.12's dictobject.c: new_keys_object and the copy's clone add one to the total,
    // dictkeys_decref / dictresize take it away, and the shared empty keys are immortal (never
    // counted). python3.11-dbg shows the same accounting, except that 3.11's empty keys are
    // mortal and counted (there, the first insertion nets +2 and clear() 0).
    const rt = Runtime.create({ build: 'debug' });
    const k = rt.str('key-xxxxxxxxxx');
    const v = rt.float(1234.5);
    const d = rt.dict();
    const t0 = rt.sys.gettotalrefcount();
    d.setitem(k, v); // the key, the value and the table the first insertion makes
    expect(rt.sys.gettotalrefcount() - t0).toBe(3);
    d.delitem(k); // the key and the value; the table stays
    expect(rt.sys.gettotalrefcount() - t0).toBe(1);
    d.clear(); // the table goes: back to the empty keys
    expect(rt.sys.gettotalrefcount() - t0).toBe(0);
    d.setitem(k, v);
    const c = d.copy(); // the new dict, its cloned table, the key, the value
    expect(rt.sys.gettotalrefcount() - t0).toBe(3 + 4);
    c.release();
    d.release(); // the dict, its table, the key, the value
    expect(rt.sys.gettotalrefcount() - t0).toBe(-1);
    k.release();
    v.release();
    expect(rt.sys.gettotalrefcount()).toBe(0);
    rt.close();
  });

  it('several runtimes of one build are independent heaps', () => {
    const a = Runtime.create();
    const b = Runtime.create();
    const x = a.str('in a only');
    expect(() => b.capi.Py_INCREF(x.id)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ADDRESS' }));
    const l = b.list();
    expect(() => l.append(x)).toThrow(expect.objectContaining({ code: 'ERR_WRONG_RUNTIME' }));
    a.close();
    b.close();
  });
});
