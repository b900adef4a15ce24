// Py_INCREF / Py_DECREF semantics of CPython 3.12 on 64-bit, observed through the raw word at
// ob_refcnt (offset 0). Values from spec section 2 and checked with ctypes on CPython 3.12.1.
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILDS, Runtime, RefcountError, allowLeaks } from '../lib/index.js';
import { nameSlotOf, nativeOf } from '../lib/internal.js';

const IMMORTAL = 4294967295;
const runtimes: Runtime[] = [];
function make(build: (typeof BUILDS)[number] = 'release', guard = true): Runtime {
  const rt = Runtime.create({ build, guard });
  runtimes.push(rt);
  return rt;
}
afterEach(() => {
  for (const rt of runtimes.splice(0)) rt.close();
});

describe.each(BUILDS)('refcount semantics (%s build)', (build) => {
  it('a new object starts at 1, dup() adds 1, release() takes 1 away', () => {
    const rt = make(build);
    const x = rt.int(2337);
    expect(x.refcnt).toBe(1);
    const y = x.dup();
    expect(x.refcnt).toBe(2);
    expect(rt.ctypes.c_long.from_address(x.id).value).toBe(2);
    y.release();
    expect(x.refcnt).toBe(1);
    expect(y.released).toBe(true);
    expect(() => y.release()).toThrow(expect.objectContaining({ code: 'ERR_RELEASED' }));
    x.release();
  });

  it('sys.getrefcount is ob_refcnt + 1 for mortal objects and 4294967295 for immortals', () => {
    const rt = make(build);
    const s = rt.str('hello world!');
    expect(rt.sys.getrefcount(s)).toBe(2);
    for (const imm of [rt.None, rt.True, rt.False, rt.int(-5), rt.int(256), rt.str(''), rt.str('a'), rt.tuple([])]) {
      expect(imm.refcnt).toBe(IMMORTAL);
      expect(rt.sys.getrefcount(imm)).toBe(IMMORTAL);
      expect(rt.capi._Py_IsImmortal(imm.id)).toBe(true);
      const id = imm.id;
      imm.release();
      expect(rt.ctypes.c_long.from_address(id).value).toBe(IMMORTAL);
    }
    for (const mortal of [rt.int(257), rt.int(-6), rt.str('ab'), rt.float(0.5), rt.list(), rt.dict()]) {
      expect(mortal.refcnt).toBe(1);
      expect(rt.capi._Py_IsImmortal(mortal.id)).toBe(false);
      mortal.release();
    }
    s.release();
  });

  it('incref saturates the low 32 bits: 0xFFFFFFFE + 1 -> 0xFFFFFFFF, then stays', () => {
    const rt = make(build);
    allowLeaks(rt, 'the float is made immortal by hand: its references are never given back');
    const x = rt.float(1.5);
    const word = rt.ctypes.c_long.from_address(x.id);
    word.value = 0xfffffffe;
    expect(rt.capi._Py_IsImmortal(x.id)).toBe(true); // bit 31 is set already
    rt.capi.Py_INCREF(x.id);
    expect(word.value).toBe(0xffffffff);
    rt.capi.Py_INCREF(x.id);
    expect(word.value).toBe(0xffffffff);
    rt.capi.Py_DECREF(x.id); // immortal: skipped
    expect(word.value).toBe(0xffffffff);
  });

  it('only the low word changes on incref: 0x1_00000005 -> 0x1_00000006, decref is 64-bit', () => {
    const rt = make(build);
    const x = rt.float(2.5);
    const word = rt.ctypes.c_long.from_address(x.id);
    word.value = 0x1_0000_0005;
    rt.capi.Py_INCREF(x.id);
    expect(word.value).toBe(0x1_0000_0006);
    rt.capi.Py_DECREF(x.id);
    expect(word.value).toBe(0x1_0000_0005);
    word.value = 1;
    x.release();
  });

  it('a count with bit 31 set is immortal for decref but increfs still add (0x80000000)', () => {
    const rt = make(build);
    allowLeaks(rt, 'a count with bit 31 set is immortal: the float is never freed');
    const x = rt.float(3.5);
    const word = rt.ctypes.c_long.from_address(x.id);
    word.value = 0x8000_0000;
    rt.capi.Py_DECREF(x.id);
    expect(word.value).toBe(0x8000_0000);
    rt.capi.Py_INCREF(x.id);
    rt.capi.Py_INCREF(x.id);
    expect(word.value).toBe(0x8000_0002);
  });

  it('Py_SET_REFCNT is a no-op on immortal objects, a plain store otherwise', () => {
    const rt = make(build);
    const none = rt.None;
    rt.capi.Py_SET_REFCNT(none.id, 5);
    expect(none.refcnt).toBe(IMMORTAL);
    const x = rt.float(4.5);
    rt.capi.Py_SET_REFCNT(x.id, 7);
    expect(x.refcnt).toBe(7);
    rt.capi.Py_SET_REFCNT(x.id, 1);
    x.release();
  });

  it('Py_XINCREF / Py_XDECREF / Py_IncRef / Py_DecRef accept NULL (0); Py_NewRef returns its argument', () => {
    const rt = make(build);
    const x = rt.float(5.5);
    expect(() => rt.capi.Py_XINCREF(0)).not.toThrow();
    expect(() => rt.capi.Py_XDECREF(0)).not.toThrow();
    expect(() => rt.capi.Py_IncRef(0)).not.toThrow();
    expect(() => rt.capi.Py_DecRef(0)).not.toThrow();
    rt.capi.Py_XINCREF(x.id);
    rt.capi.Py_IncRef(x.id);
    expect(rt.capi.Py_NewRef(x.id)).toBe(x.id);
    expect(rt.capi.Py_XNewRef(0)).toBe(0);
    expect(x.refcnt).toBe(4);
    rt.capi.Py_XDECREF(x.id);
    rt.capi.Py_DecRef(x.id);
    rt.capi.Py_DECREF(x.id);
    expect(rt.capi.Py_REFCNT(x.id)).toBe(1);
    expect(rt.capi.Py_TYPE(x.id)).toBe('float');
    x.release();
  });

  it('increfMany / decrefMany take a Float64Array or a BigUint64Array', () => {
    const rt = make(build);
    const objs = [rt.float(1.25), rt.float(2.25), rt.str('many')];
    const f = Float64Array.from(objs.map((o) => o.id));
    rt.capi.increfMany(f);
    rt.capi.increfMany(BigUint64Array.from(objs.map((o) => BigInt(o.id))));
    expect(objs.map((o) => o.refcnt)).toEqual([3, 3, 3]);
    rt.capi.decrefMany(f);
    rt.capi.decrefMany(f);
    expect(objs.map((o) => o.refcnt)).toEqual([1, 1, 1]);
    // Guarded: one bad address and nothing at all is changed.
    const bad = Float64Array.from([objs[0]!.id, 12345]);
    expect(() => rt.capi.increfMany(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ADDRESS' }));
    expect(objs[0]!.refcnt).toBe(1);
    expect(() => rt.capi.increfMany([1, 2] as unknown as Float64Array)).toThrow(TypeError);
    for (const o of objs) o.release();
  });

  it('console.log shows a Ref as type, address, refcount and repr, and a Runtime as its options', () => {
    const rt = make(build);
    const l = rt.list([1, 'a', 2.5]);
    expect(inspect(l)).toBe(`Ref<list 0x${l.id.toString(16)} refcnt=1> [1, 'a', 2.5]`);
    const big = rt.str('x'.repeat(1000));
    expect(inspect(big)).toMatch(/^Ref<str 0x[0-9a-f]+ refcnt=1> 'x{199}…$/);
    expect(inspect({ l })).toContain('Ref<list');
    big.release();
    l.release();
    expect(inspect(l)).toBe('<released Ref>');
    expect(inspect(rt)).toBe(`Runtime { build: '${build}', guard: true, allocator: '${rt.allocator}', closed: false }`);
    if (build !== 'nodealloc') {
      // freed behind the Ref's back: shown, not thrown (the Ref still thinks it owns it)
      const x = rt.int(424242);
      rt.capi.Py_DECREF(x.id);
      expect(inspect(x)).toBe(`<Ref 0x${x.id.toString(16)}: ERR_USE_AFTER_FREE>`);
    }
  });

  it('using releases a Ref at scope end', () => {
    const rt = make(build);
    const keep = rt.str('kept string');
    {
      using tmp = keep.dup();
      expect(keep.refcnt).toBe(2);
      expect(tmp.released).toBe(false);
    }
    expect(keep.refcnt).toBe(1);
    keep.release();
  });

  it('a Ref of a closed runtime throws ERR_RUNTIME_CLOSED', () => {
    const rt = Runtime.create({ build });
    allowLeaks(rt, 'closed while a Ref still owns its reference, on purpose');
    const x = rt.str('bye now');
    rt.close();
    expect(() => x.refcnt).toThrow(expect.objectContaining({ code: 'ERR_RUNTIME_CLOSED' }));
    expect(() => rt.capi.Py_INCREF(12345)).toThrow(expect.objectContaining({ code: 'ERR_RUNTIME_CLOSED' }));
    expect(() => rt.int(5)).toThrow(RefcountError);
    rt.close(); // idempotent
  });
});

describe.each(['release', 'debug'] as const)('decrefMany that frees mid-batch (%s build, guarded)', (build) => {
  // A raw reference: the Ref's own reference is handed over to the caller's C-level count.
  function rawRef(rt: Runtime, make: (rt: Runtime) => { id: number; release(): void }): number {
    const r = make(rt);
    const id = r.id;
    rt.capi.Py_INCREF(id);
    r.release();
    return id;
  }

  it('an element freed by an earlier element is ERR_USE_AFTER_FREE; earlier ones stay applied', () => {
    const rt = make(build);
    const before = rt.int(700001);
    const after = rt.int(700002);
    const dying = rawRef(rt, (r) => r.int(700003));
    rt.capi.Py_INCREF(before.id);
    rt.capi.Py_INCREF(after.id);
    const batch = Float64Array.from([before.id, dying, dying, after.id]);
    expect(() => rt.capi.decrefMany(batch)).toThrow(
      expect.objectContaining({ code: 'ERR_USE_AFTER_FREE', message: expect.stringMatching(/^element 2: the object at 0x[0-9a-f]+ has been deallocated/) }),
    );
    expect(before.refcnt).toBe(1); // applied
    expect(after.refcnt).toBe(2); // never reached
    rt.capi.Py_DECREF(after.id);
    // The freed block was not written through: the allocator hands out sound objects.
    const fresh = Array.from({ length: 200 }, (_, i) => rt.int(800000 + i));
    expect(fresh.map((f) => f.value())).toEqual(Array.from({ length: 200 }, (_, i) => 800000 + i));
    expect(fresh.every((f) => f.refcnt === 1)).toBe(true);
    for (const f of [before, after, ...fresh]) f.release();
  });

  it('an element freed by the dealloc of an earlier one (a list releasing its item) is caught too', () => {
    const rt = make(build);
    const item = rt.int(900001);
    const list = rawRef(rt, (r) => r.list([item]));
    const itemId = item.id;
    item.release(); // the list now holds the item's only reference
    expect(() => rt.capi.decrefMany(Float64Array.from([list, itemId]))).toThrow(
      expect.objectContaining({ code: 'ERR_USE_AFTER_FREE', message: expect.stringMatching(/^element 1: /) }),
    );
  });

  it('a batch that frees nothing before its last use completes', () => {
    const rt = make(build);
    const x = rawRef(rt, (r) => r.int(700004));
    rt.capi.Py_INCREF(x);
    rt.capi.decrefMany(Float64Array.from([x, x])); // 2 -> 1 -> 0: freed by the last element
    expect(() => rt.capi.Py_REFCNT(x)).toThrow(expect.objectContaining({ code: 'ERR_USE_AFTER_FREE' }));
  });
});

describe('dealloc at zero depends on the build', () => {
  it('release and debug free the object at 0; a cast afterwards is ERR_USE_AFTER_FREE (guarded)', () => {
    for (const build of ['release', 'debug'] as const) {
      const rt = make(build);
      allowLeaks(rt, 'the str inside the list is a temporary Ref the test never releases');
      const a = rt.list([rt.str('payload string')]);
      const id = a.id;
      a.release();
      expect(() => rt.ctypes.cast(id, rt.ctypes.py_object).value).toThrow(
        expect.objectContaining({ code: 'ERR_USE_AFTER_FREE' }),
      );
    }
  });

  it('nodealloc decrements to 0 and never frees: the object still answers', () => {
    const rt = make('nodealloc');
    const A = rt.defineClass('A');
    const a = A.new({ my_obj_attr: 'This is kakoyto text' });
    const id = a.id;
    a.release();
    expect(rt.ctypes.c_long.from_address(id).value).toBe(0);
    const again = rt.ctypes.cast(id, rt.ctypes.py_object).value;
    expect(again.refcnt).toBe(1);
    expect(again.getattr('my_obj_attr').value()).toBe('This is kakoyto text');
  });

  it('the debug build reads freed memory as 0xDD bytes (-2459565876494606883)', () => {
    const rt = make('debug');
    const x = rt.int(10 ** 12); // int has no free list: the block goes back to the debug hooks
    const id = x.id;
    x.release();
    expect(rt.ctypes.c_long.from_address(id).value).toBe(-2459565876494606883n);
  });

  it('the debug build refuses a decref of a count already at 0 (3.12 checks before decrementing)', () => {
    const rt = make('debug');
    const x = rt.float(7.5);
    rt.capi.Py_SET_REFCNT(x.id, 0);
    let err: unknown;
    try {
      rt.capi.Py_DECREF(x.id);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      name: 'NegativeRefcountError',
      code: 'ERR_NEGATIVE_REFCOUNT',
      refcount: 0,
      typeName: 'float',
      address: x.id,
    });
    const e = err as { message: string; report: string; file: string; line: number };
    expect(e.message).toMatch(/^.+:\d+: _Py_NegativeRefcount: Assertion failed: object has negative ref count$/);
    expect(e.report).toContain(`object address  : 0x${x.id.toString(16)}\n`);
    expect(e.report).toContain('object refcount : 0\n');
    expect(e.report).toContain('object type name: float\n');
    expect(e.report).toContain(`object repr     : <refcnt 0 at 0x${x.id.toString(16)}>\n`);
    expect(x.refcnt).toBe(0); // left as it was
    rt.capi.Py_SET_REFCNT(x.id, 1);
    x.release();
  });
});

describe('C.new(attrs): cls() and the setattrs in one native call (callClassPacked)', () => {
  it.each(BUILDS)('sets every kind of value in order and owns exactly one reference (%s)', (build) => {
    const rt = make(build);
    const C = rt.defineClass('C');
    const other = rt.str('shared value');
    const before = other.refcnt as number;
    const o = C.new({ i: 7, f: 2.5, s: 'text', n: null, t: true, b: 2n ** 70n, r: other });
    expect(o.refcnt).toBe(1);
    const got = (name: string) => {
      const a = o.getattr(name);
      const v = a.isNone ? null : a.value();
      a.release();
      return v;
    };
    expect([got('i'), got('f'), got('s'), got('n'), got('t'), got('b')]).toEqual([7, 2.5, 'text', null, true, 2n ** 70n]);
    const r = o.getattr('r');
    expect(r.id).toBe(other.id);
    r.release();
    expect(other.refcnt).toBe(before + 1); // the instance holds one reference
    o.release();
    // nodealloc never deallocates the instance, so its reference to `other` stays
    expect(other.refcnt).toBe(build === 'nodealloc' ? before + 1 : before);
    if (build === 'nodealloc') allowLeaks(rt, 'nodealloc keeps the dead instance and what it holds');
    other.release();
  });

  it('one, two, many (spread) and more than 32 attributes, and containers (one setattr each)', () => {
    const rt = make();
    const C = rt.defineClass('C');
    const many: Record<string, number> = {};
    for (let i = 0; i < 40; i++) many[`a${i}`] = i;
    for (const attrs of [{ x: 1 }, { x: 1, y: 2 }, { x: 1, y: 2, z: 3 }, { a: 'a', b: 'b', c: 'c', d: 2n ** 64n }, many, { l: [1, 2], d: new Map([['k', 1]]) }]) {
      const o = C.new(attrs as Record<string, never>);
      for (const [k, v] of Object.entries(attrs)) {
        const a = o.getattr(k);
        expect(a.value()).toEqual(v);
        a.release();
      }
      o.release();
    }
  });

  it('JS numbers: integral ones inside int64 become int, every other number float', () => {
    const rt = make();
    const C = rt.defineClass('C');
    const o = C.new({ z: -0, lo: -(2 ** 63), hi: 2 ** 63, big: 2 ** 53, nan: NaN, inf: -Infinity, half: 0.5 });
    const kind = (name: string) => {
      const a = o.getattr(name);
      const k = a.typeName;
      a.release();
      return k;
    };
    expect(['z', 'lo', 'hi', 'big', 'nan', 'inf', 'half'].map(kind)).toEqual(['int', 'int', 'float', 'int', 'float', 'float', 'float']);
    o.release();
  });

  it('attribute names cross as interned slots: one slot per name per runtime, an unknown slot is ERR_VALUE', () => {
    const rt = make();
    const C = rt.defineClass('C');
    const o = C.new();
    o.setattr('spam', 1);
    const slot = nameSlotOf(rt, 'spam');
    expect(nameSlotOf(rt, 'spam')).toBe(slot);
    expect(nativeOf(rt).hasattr(o.id, slot)).toBe(true);
    expect(nativeOf(rt).hasattr(o.id, 'spam')).toBe(true); // a string still works
    expect(() => nativeOf(rt).hasattr(o.id, 1e9)).toThrow(expect.objectContaining({ code: 'ERR_VALUE' }));
    expect(() => o.getattr(5 as unknown as string)).toThrow(TypeError);
    o.delattr('spam');
    expect(o.hasattr('spam')).toBe(false);
    o.release();
  });

  it('a failing attribute releases the new instance (no half-built object is left behind)', () => {
    const rt = make();
    const C = rt.defineClass('C');
    const blocks = rt.sys.getallocatedblocks();
    const tracked = rt.gc.getCount()[0];
    expect(() => C.new({ x: 1, y: Symbol('no') as never })).toThrow(TypeError);
    const p = nativeOf(rt).packed;
    const call = (fill: number[], ...extra: string[]) => {
      p.set(fill);
      return () => nativeOf(rt).callClassPacked(C.id, ...extra);
    };
    const x = nameSlotOf(rt, 'x');
    expect(call([1, 999_999, 0, 1])).toThrow(expect.objectContaining({ code: 'ERR_VALUE' })); // unknown name slot
    expect(call([2, x, 0, 1, x, 1, 12345])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ADDRESS' }));
    expect(call([1, x, 9, 0])).toThrow(TypeError); // unknown kind
    expect(call([1, x, 5, 1], 'only one extra')).toThrow(TypeError); // extra index out of range
    expect(call([33])).toThrow(TypeError); // more pairs than a call takes
    p.set([0]);
    expect(() => nativeOf(rt).callClassPacked(rt.int(5000).id)).toThrow(expect.objectContaining({ code: 'ERR_TYPE' }));
    expect(rt.sys.getallocatedblocks()).toBe(blocks + 1); // only the int above, leaked on purpose
    expect(rt.gc.getCount()[0]).toBe(tracked);
    allowLeaks(rt, 'the int passed as a class is never released');
  });
});
