// rt.refs: every reference an object has is explained by a holder — a container slot (named by
// the core's labelled walk), a live Ref, a class handle, the runtime — or reported as
// unexplained: positive for a reference taken and never given back, negative for one released
// behind a holder's back. The fuzz test (test/fuzz.test.ts) audits the whole heap after every
// step; these are the worked cases.
import { describe, expect, it } from 'vitest';
import { BUILDS, Runtime, RefcountError, allowLeaks, expectNoLeaks, formatAudit, formatExplanation, type Explanation, type Ref } from '../lib/index.js';
import { LeakError } from '../lib/leaks.js';

function sum(e: Explanation): number {
  return e.holders.reduce((s, h) => s + h.count, 0) + e.unexplained;
}
function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof RefcountError ? e.code : String(e);
  }
  return 'ok';
}

describe('rt.refs.explain', () => {
  for (const build of BUILDS) {
    it(`names every holder and adds up to the refcount (${build})`, () => {
      using rt = Runtime.create({ build });
      const A = rt.defineClass('A');
      using a = A.new({ x: 'hello' });
      using x = a.getattr('x');
      using l = rt.list([x, x]);
      using d = rt.dict([[x, a]]);
      using s = rt.set([x]);
      const ex = rt.refs.explain(x);
      expect(ex.refcnt).toBe(Number(x.refcnt));
      expect(sum(ex)).toBe(ex.refcnt);
      expect(ex.unexplained).toBe(0);
      const labels = ex.holders.filter((h) => h.kind === 'container').map((h) => `${h.fromType} ${h.label}`).sort();
      expect(labels).toEqual(['A .x', 'dict key \'hello\'', 'list [0]', 'list [1]', 'set element']);
      expect(ex.holders.find((h) => h.kind === 'ref')?.count).toBe(1);
      // the instance: the dict's value slot and our Ref; the class: its instance, its __mro__, its handle
      const ea = rt.refs.explain(a);
      expect(ea.holders.map((h) => `${h.kind} ${h.label ?? ''}`).sort()).toEqual(["container ['hello']", 'ref ']);
      const ec = rt.refs.explain(A.ref);
      expect(ec.holders.map((h) => `${h.kind} ${h.label ?? h.what}`).sort()).toEqual([
        'container [0]',
        'container __class__',
        'runtime the class handle of A',
      ]);
      expect(ec.unexplained).toBe(0);
      expect(rt.refs.audit().ok).toBe(true);
    });
  }

  it('immortal objects need no holder', () => {
    using rt = Runtime.create();
    using none = rt.None;
    const e = rt.refs.explain(none);
    expect(e.holders).toEqual([{ kind: 'immortal', count: e.refcnt }]);
    expect(e.unexplained).toBe(0);
  });

  it('a capi.Py_INCREF not given back is +1 unexplained; an extra Py_DECREF is -1, and the audit names the object', () => {
    using rt = Runtime.create({ build: 'debug' });
    using l = rt.list();
    using item = rt.str('payload');
    l.append(item);
    rt.capi.Py_INCREF(item.id);
    let audit = rt.refs.audit();
    expect(audit.unexplained.map((e) => [e.address, e.unexplained])).toEqual([[item.id, 1]]);
    expect(formatAudit(audit)).toContain('taken and never given back');
    rt.capi.Py_DECREF(item.id);
    rt.capi.Py_DECREF(item.id); // one too many: the list or the Ref no longer owns what it holds
    audit = rt.refs.audit();
    expect(audit.unexplained.map((e) => [e.address, e.unexplained])).toEqual([[item.id, -1]]);
    expect(formatExplanation(audit.unexplained[0]!)).toMatch(/-1 +unexplained: a holder's reference was released behind its back/);
    rt.capi.Py_INCREF(item.id); // put it back for the clean exit
    expect(rt.refs.audit().ok).toBe(true);
  });

  it('a container slot whose item was freed behind its back is a dangling slot', () => {
    using rt = Runtime.create();
    // The list is never released: its dealloc would Py_DECREF the freed float. Closing the
    // runtime drops the heap at once.
    allowLeaks(rt, 'a list keeps a dangling slot on purpose');
    const l = rt.list([1]);
    const f = rt.float(2.5);
    l.append(f);
    const addr = f.id;
    f.release();
    rt.capi.Py_DECREF(addr); // the list's reference: the float is freed, the list still points at it
    const audit = rt.refs.audit();
    expect(audit.ok).toBe(false);
    expect(audit.dangling).toEqual([{ from: l.id, fromType: 'list', label: '[1]', address: addr }]);
    expect(formatAudit(audit)).toContain(`list at 0x${l.id.toString(16)} [1] -> 0x${addr.toString(16)} (no live object)`);
  });

  it('a live Ref whose object was freed behind its back is a dangling Ref (release, debug); nodealloc keeps it at 0', () => {
    for (const build of BUILDS) {
      using rt = Runtime.create({ build, track: true });
      allowLeaks(rt, 'a Ref is left pointing at a freed object on purpose');
      const a = rt.list([1]);
      const site = rt.refs.explain(a).holders.find((h) => h.kind === 'ref')?.site;
      rt.capi.Py_DECREF(a.id); // the Ref's own reference: the list is freed under it
      const audit = rt.refs.audit();
      expect(audit.ok).toBe(false);
      if (build === 'nodealloc') {
        // nothing is freed: the object stays with a count of 0 under a Ref that owns one
        expect(audit.danglingRefs).toEqual([]);
        expect(audit.unexplained.map((e) => [e.address, e.unexplained])).toEqual([[a.id, -1]]);
        continue;
      }
      expect(audit.danglingRefs).toEqual([{ address: a.id, count: 1, site }]);
      expect(formatAudit(audit)).toContain(`dangling: 1 live Ref created at ${site} -> 0x${a.id.toString(16)} (freed behind its back)`);
    }
  });

  it('a tracking runtime names where each Ref was created; an untracked one groups them', () => {
    using rt = Runtime.create({ track: true });
    using s = rt.str('payload');
    using again = s.dup();
    const refs = rt.refs.explain(s).holders.filter((h) => h.kind === 'ref');
    expect(refs.map((h) => h.count)).toEqual([1, 1]);
    expect(refs.every((h) => /test\/refs\.test\.ts:\d+:\d+$/.test(h.site ?? ''))).toBe(true);
    expect(refs[0]!.site).not.toBe(refs[1]!.site);
    using plain = Runtime.create();
    using p = plain.str('payload');
    using p2 = p.dup();
    expect(plain.refs.explain(p).holders.filter((h) => h.kind === 'ref')).toEqual([{ kind: 'ref', count: 2 }]);
    expect(again.refcnt).toBe(2);
    expect(p2.refcnt).toBe(2);
  });

  it('an unguarded runtime keeps no registry: ERR_UNGUARDED', () => {
    using rt = Runtime.create({ guard: false });
    using l = rt.list();
    expect(code(() => rt.refs.explain(l))).toBe('ERR_UNGUARDED');
    expect(code(() => rt.refs.audit())).toBe('ERR_UNGUARDED');
  });

  it('expectNoLeaks says which object holds the leaked reference', () => {
    using rt = Runtime.create({ build: 'debug' });
    using keep = rt.str('kept');
    let err: unknown;
    try {
      expectNoLeaks(rt, () => rt.capi.Py_INCREF(keep.id));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LeakError);
    expect((err as LeakError).audit?.unexplained.map((e) => e.address)).toEqual([keep.id]);
    expect((err as LeakError).message).toContain(`str object at 0x${keep.id.toString(16)}: refcount 2`);
    rt.capi.Py_DECREF(keep.id);
  });
});

describe('the leak books: young Refs wait in a bounded list until the task ends', () => {
  it('a Ref kept through many released ones in one task is still listed by rt.refs.explain', () => {
    using rt = Runtime.create();
    using a = rt.str('kept across compactions');
    using n = rt.int(7000);
    for (let k = 0; k < 20_000; k++) n.dup().release();
    const held: Ref[] = [];
    for (let k = 0; k < 3000; k++) held.push(n.dup());
    const ex = rt.refs.explain(a);
    expect(ex.holders).toEqual([{ kind: 'ref', count: 1 }]);
    expect(ex.unexplained).toBe(0);
    const exn = rt.refs.explain(n);
    expect(exn.holders).toEqual([{ kind: 'ref', count: 3001 }]);
    for (const r of held) r.release();
    expect(rt.refs.explain(n).holders).toEqual([{ kind: 'ref', count: 1 }]);
  });
});
