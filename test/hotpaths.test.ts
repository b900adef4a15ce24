// The typed API's hot paths: Ref.dup / release / getattr / setattr / append / getitem / len go
// through the addon's io calling convention (numbers in the runtime's io block, no JS
// arguments). Each path is checked against the JS-argument form of the same native operation
// (results and error codes), and against the refcounts CPython has. Also: the name slots C.new
// remembers, and Runtime.create({ leakWarnings: false }) (Refs without leak books).
import { describe, expect, it } from 'vitest';
import { BUILDS, Runtime, RefcountError, type PyInput, type Ref } from '../lib/index.js';
import { addressOf, nameSlotOf, nativeOf } from '../lib/internal.js';

function outcome(fn: () => unknown): unknown {
  try {
    return { ok: fn() };
  } catch (e) {
    return e instanceof RefcountError ? { code: e.code, message: e.message } : { error: String(e) };
  }
}

describe.each(BUILDS)('the io hot paths (%s)', (build) => {
  it('dup and release move ob_refcnt by exactly one each; a second release is ERR_RELEASED', () => {
    using rt = Runtime.create({ build });
    const a = rt.str('not interned, not immortal');
    expect(a.refcnt).toBe(1);
    const b = a.dup();
    expect(a.refcnt).toBe(2);
    const c = b.dup();
    expect(a.refcnt).toBe(3);
    c.release();
    b.release();
    expect(a.refcnt).toBe(1);
    expect(() => b.release()).toThrow(expect.objectContaining({ code: 'ERR_RELEASED' }));
    expect(a.refcnt).toBe(1);
    a.release();
  });

  it('getattr returns a new reference; setattr stores numbers, None, bools, Refs, strings, bigints, containers', () => {
    using rt = Runtime.create({ build });
    const A = rt.defineClass('A');
    using o = A.new();
    using v = rt.str('a value');
    const values: [string, PyInput, unknown][] = [
      ['n', 2337, 2337],
      ['f', 2.5, 2.5],
      ['big', 2 ** 60, 2n ** 60n],
      ['none', null, null],
      ['undef', undefined, null],
      ['t', true, true],
      ['fa', false, false],
      ['s', 'text', 'text'],
      ['bi', 12345678901234567890n, 12345678901234567890n],
      ['l', [1, 'x'], [1, 'x']],
      ['r', v, 'a value'],
    ];
    for (const [name, value] of values) o.setattr(name, value);
    expect(v.refcnt).toBe(2);
    for (const [name, , expected] of values) {
      const got = o.getattr(name);
      expect(got.value()).toEqual(expected);
      got.release();
    }
    const r = o.getattr('r');
    expect(v.refcnt).toBe(3);
    r.release();
    o.setattr('r', 1);
    expect(v.refcnt).toBe(1);
  });

  it('append stores every kind of value in order and counts the references it takes', () => {
    using rt = Runtime.create({ build });
    using l = rt.list();
    using v = rt.str('appended');
    for (const x of [7, 1.5, 2 ** 40, null, true, false, 'str', 5n, v, [1, 2]] as PyInput[]) l.append(x);
    expect(l.len()).toBe(10);
    expect(l.value()).toEqual([7, 1.5, 2 ** 40, null, true, false, 'str', 5, 'appended', [1, 2]]);
    expect(v.refcnt).toBe(2);
  });

  it('getitem and len agree with the JS-argument calls, errors included', () => {
    using rt = Runtime.create({ build });
    using l = rt.list([10, 20, 30]);
    using t = rt.tuple(['a', 'b']);
    using i = rt.int(5);
    const n = nativeOf(rt);
    for (const seq of [l, t]) {
      for (const k of [0, 1, -1, -2, 2, 3, -4, 1.5, 2 ** 60]) {
        const viaIo = outcome(() => {
          const r = seq.getitem(k);
          const val = r.value();
          r.release();
          return val;
        });
        const viaArgs = outcome(() => {
          const a = n.getitemIndex(seq.id, k);
          const val = n.value(a);
          n.decref(a);
          return val;
        });
        expect(viaIo, `${seq.typeName}[${k}]`).toEqual(viaArgs);
      }
    }
    expect(l.len()).toBe(3);
    expect(t.len()).toBe(2);
    expect(outcome(() => i.len())).toEqual(outcome(() => n.len(i.id)));
    expect(outcome(() => i.len())).toMatchObject({ code: 'ERR_TYPE' });
    expect(outcome(() => i.getitem(0))).toEqual(outcome(() => n.getitemIndex(i.id, 0)));
  });

  it('errors of getattr / setattr / append are the same as through the JS-argument calls', () => {
    using rt = Runtime.create({ build });
    const A = rt.defineClass('A');
    using o = A.new({ x: 1 });
    using i = rt.int(3000);
    using l = rt.list();
    const n = nativeOf(rt);
    const slot = (name: string): number => nameSlotOf(rt, name);
    expect(outcome(() => o.getattr('missing'))).toEqual(outcome(() => n.getattr(o.id, slot('missing'))));
    expect(outcome(() => o.getattr('missing'))).toMatchObject({ code: 'ERR_ATTRIBUTE' });
    expect(outcome(() => i.setattr('y', 1))).toEqual(outcome(() => n.setattrValue(i.id, slot('y'), 1)));
    expect(outcome(() => i.setattr('y', 1))).toMatchObject({ code: 'ERR_ATTRIBUTE' });
    expect(outcome(() => i.append(1))).toEqual(outcome(() => n.appendValue(i.id, 1)));
    expect(outcome(() => i.append(1))).not.toHaveProperty('ok');
    // a Ref of another runtime is refused before anything is written
    using other = Runtime.create({ build });
    using foreign = other.str('elsewhere');
    expect(outcome(() => o.setattr('x', foreign))).toMatchObject({ code: 'ERR_WRONG_RUNTIME' });
    expect(outcome(() => l.append(foreign))).toMatchObject({ code: 'ERR_WRONG_RUNTIME' });
    expect(l.len()).toBe(0);
    expect(foreign.refcnt).toBe(1);
    // a released Ref as a value, and calls on a released Ref
    const gone = rt.str('gone');
    gone.release();
    expect(outcome(() => l.append(gone))).toMatchObject({ code: 'ERR_RELEASED' });
    const dead = rt.list();
    dead.release();
    for (const call of [() => dead.dup(), () => dead.len(), () => dead.getitem(0), () => dead.append(1), () => dead.getattr('x'), () => dead.setattr('x', 1)])
      expect(outcome(call)).toMatchObject({ code: 'ERR_RELEASED' });
  });

  it('a finalizer that uses the io block in the middle of a call does not disturb the call', () => {
    using rt = Runtime.create({ build });
    using other = rt.list([1, 2, 3, 4]);
    const seen: number[] = [];
    const F = rt.defineClass('F', {
      finalize: (self) => {
        // every io function, from inside setattr's / append's decref of the old value
        seen.push(other.len());
        const x = other.getitem(3);
        seen.push(x.value() as number);
        x.release();
        self.setattr('tag', 99);
        other.append(5);
        other.getitem(-1).release();
        other.dup().release();
      },
    });
    const A = rt.defineClass('A');
    using o = A.new();
    using l = rt.list();
    for (let k = 0; k < 20; k++) {
      const f = F.new();
      o.setattr('x', f); // frees the previous F: its finalizer runs inside setattrIo
      f.release();
      l.append(k);
      const got = o.getattr('x');
      expect(got.typeName).toBe('F');
      got.release();
      expect(l.len()).toBe(k + 1);
      const item = l.getitem(k);
      expect(item.value()).toBe(k);
      item.release();
    }
    // nodealloc never deallocates, so no finalizer runs there
    const ran = build === 'nodealloc' ? 0 : 19;
    expect(seen.length).toBe(2 * ran);
    expect(other.len()).toBe(4 + ran);
  });
});

describe('C.new remembers its attribute names by position', () => {
  it('other names, other orders and more or fewer names each set what they say', () => {
    using rt = Runtime.create();
    const A = rt.defineClass('A');
    const shapes: Record<string, PyInput>[] = [{ x: 1, y: 2 }, { y: 3, x: 4 }, { x: 5 }, { x: 6, y: 7, z: 8 }, { a: 'a', x: 9 }, { x: 1, y: 2 }];
    for (const attrs of shapes) {
      const o = A.new(attrs);
      expect(o.value()).toEqual(attrs);
      o.release();
    }
    const B = rt.defineClass('B');
    const b = B.new({ z: 1, x: 2 });
    expect(b.value()).toEqual({ z: 1, x: 2 });
    b.release();
  });
});

describe('Runtime.create({ leakWarnings: false })', () => {
  it('is off only when asked, refuses track: true, and makes rt.refs refuse to explain', () => {
    using on = Runtime.create();
    expect(on.leakWarnings).toBe(true);
    using off = Runtime.create({ leakWarnings: false });
    expect(off.leakWarnings).toBe(false);
    expect(() => Runtime.create({ track: true, leakWarnings: false })).toThrow(expect.objectContaining({ code: 'ERR_VALUE' }));
    using x = off.str('not a singleton');
    expect(() => off.refs.explain(x)).toThrow(expect.objectContaining({ code: 'ERR_VALUE' }));
    expect(() => off.refs.audit()).toThrow(expect.objectContaining({ code: 'ERR_VALUE' }));
  });

  it('Refs keep every other rule: exact counts, ERR_RELEASED, using, the wrong runtime', () => {
    using rt = Runtime.create({ build: 'debug', leakWarnings: false });
    const A = rt.defineClass('A');
    const o = A.new({ x: 1 });
    const d = o.dup();
    expect(o.refcnt).toBe(2);
    d.release();
    expect(() => d.release()).toThrow(expect.objectContaining({ code: 'ERR_RELEASED' }));
    {
      using e = o.dup();
      expect(e.refcnt).toBe(2);
    }
    expect(o.refcnt).toBe(1);
    using other = Runtime.create({ build: 'debug' });
    expect(() => other.list([o])).toThrow(expect.objectContaining({ code: 'ERR_WRONG_RUNTIME' }));
    expect(addressOf(o)).toBe(o.id);
    o.release();
  });
});
