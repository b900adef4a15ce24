// The memory layout is CPython 3.12's, read back through raw memory (spec section 1).
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { Runtime, bindingPath } from '../lib/index.js';

const require = createRequire(import.meta.url);

describe('object layout', () => {
  it('exports the header constants', () => {
    const { layout } = require(bindingPath('release')) as { layout: Record<string, number> };
    expect(layout).toMatchObject({
      sizeofPyObject: 16,
      sizeofPyVarObject: 24,
      sizeofPyGC_Head: 16,
      offsetofObRefcnt: 0,
      offsetofObType: 8,
      offsetofObSize: 16,
      immortalRefcnt: 4294967295,
    });
  });

  it('ob_refcnt at 0, ob_type at 8, ob_size at 16, PyGC_Head at -16, managed slots at -24/-32', () => {
    using rt = Runtime.create();
    const A = rt.defineClass('A');
    using a = A.new({ x: 'attr value' });
    const word = (addr: number) => rt.ctypes.c_long.from_address(addr).value;
    expect(word(a.id)).toBe(1);
    expect(word(a.id + 8)).toBe(A.id); // ob_type is the class
    expect(rt.gc.isTracked(a)).toBe(true);
    // tracked: _gc_next != 0; the dict-or-values slot holds (values - 1): low bit set
    expect(word(a.id - 16)).not.toBe(0);
    expect(Number(word(a.id - 24)) % 2).toBe(1);
    expect(word(a.id - 32)).toBe(0); // no weakref yet
    using wr = rt.weakref(a);
    expect(word(a.id - 32)).toBe(wr.ref.id); // now the list head is the weakref
    using l = rt.list([1, 2, 3]);
    expect(word(l.id + 16)).toBe(3); // ob_size is an element count
    // two lists made one after the other are neighbours in generation 0's list
    using l2 = rt.list();
    expect(word(l.id - 16)).toBe(l2.id - 16);
    const prev = Number(word(l2.id - 8));
    expect(prev - (prev % 4)).toBe(l.id - 16);
  });

  it('sys.getsizeof matches CPython 3.12.1 for the built-in types', () => {
    using rt = Runtime.create();
    const A = rt.defineClass('A');
    // values measured with CPython 3.12.1 (sys.getsizeof)
    const cases: [() => ReturnType<Runtime['int']>, number][] = [
      [() => rt.str(''), 41],
      [() => rt.str('a'), 42],
      [() => rt.str('ab'), 43],
      [() => rt.str('éa'), 59],
      [() => rt.str('Ā'), 60],
      [() => rt.str('😀'), 64],
      [() => rt.int(0), 28],
      [() => rt.int(2 ** 30), 32],
      [() => rt.int(2 ** 60), 36],
      [() => rt.True, 28],
      [() => rt.float(1), 24],
      [() => rt.tuple([]), 40],
      [() => rt.tuple([1]), 48],
      [() => rt.list(), 56],
      [() => rt.list([1]), 64],
      [() => rt.dict(), 64],
      [() => rt.dict({ a: 1 }), 184],
      [() => A.new(), 48],
      [() => rt.None, 16],
    ];
    for (const [make, size] of cases) {
      const r = make();
      expect([r.repr(), rt.sys.getsizeof(r)]).toEqual([r.repr(), size]);
      r.release();
    }
    // list over-allocation follows list_resize: 88, 88, 88, 88, 120, ... 184
    const l = rt.list();
    const sizes: number[] = [];
    for (let i = 0; i < 10; i++) {
      l.append(i);
      sizes.push(rt.sys.getsizeof(l));
    }
    expect(sizes).toEqual([88, 88, 88, 88, 120, 120, 120, 120, 184, 184]);
    l.release();
  });
});
