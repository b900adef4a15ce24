// A tracking runtime's history (native/core/provenance.h, lib/runtime/track.ts): each event of
// an object with its operation and the caller's line, kept after the free; the error of a
// use-after-free or a negative refcount says where the object was allocated, freed, and which
// decref had no owner; the C API's references are holders with their call sites.
import { describe, expect, it } from 'vitest';
import { BUILDS, Ref, Runtime, NegativeRefcountError, type HistoryEvent } from '../lib/index.js';
import { executeScenario, explainScenario, findScenario } from '../lib/scenarios/index.js';
import { thrown } from './helpers/errors.js';

const HERE = new URL(import.meta.url).pathname;

// The line of the caller of this function in this file (where the event's site must point).
function lineHere(): number {
  const stack = new Error().stack ?? '';
  const m = stack.split('\n')[2]?.match(/:(\d+):\d+\)?$/);
  return Number(m?.[1]);
}
function lineOf(site: string | undefined): number {
  expect(site?.startsWith(HERE + ':')).toBe(true);
  return Number(site?.slice(HERE.length + 1).split(':')[0]);
}
const brief = (e: HistoryEvent) => `${e.kind} ${e.op} ${e.before ?? '-'}->${e.refcnt ?? '-'}${e.unowned ? ' unowned' : ''}${e.failed ? ' failed' : ''}`;

describe('rt.refs.history', () => {
  for (const build of BUILDS) {
    it(`records every operation on an object with its call site, after the free too (${build})`, () => {
      using rt = Runtime.create({ build, track: true });
      const l1 = lineHere(); const a = rt.list([1, 2]);
      const l2 = lineHere(); const b = a.dup();
      const l3 = lineHere(); rt.capi.Py_INCREF(a.id);
      const l4 = lineHere(); rt.capi.Py_DECREF(a.id);
      const l5 = lineHere(); b.release();
      const l6 = lineHere(); a.release();
      const h = rt.refs.history(a);
      expect(h).not.toBeNull();
      const end = build === 'nodealloc' ? [] : ['free Ref.release 0->0'];
      expect(h?.events.map(brief)).toEqual([
        'alloc rt.list -->1',
        'op Ref.dup 1->2',
        'incref capi.Py_INCREF 2->3',
        'decref capi.Py_DECREF 3->2',
        'op Ref.release 2->1',
        'op Ref.release 1->0',
        ...end,
      ]);
      expect(h?.events.map((e) => lineOf(e.site))).toEqual([l1, l2, l3, l4, l5, l6, ...(end.length ? [l6] : [])]);
      expect(h?.typeName).toBe('list');
      expect(h?.freed).toBe(build !== 'nodealloc');
      expect(h?.unownedDecref).toBeUndefined();
      expect(h?.capiHeld).toEqual([]);
      // the ints of the list were freed with it... except the small ones, which are immortal
      expect(rt.refs.history(0x10)).toBeNull();
    });
  }

  it('names the operation that freed a child: the container release, a collection', () => {
    using rt = Runtime.create({ track: true });
    const s = rt.str('a string of its own');
    const l = rt.list([s]);
    s.release();
    const sid = s.runtime === rt ? rt.refs.history(l.id)?.address : 0;
    expect(sid).toBe(l.id);
    const strAddr = (() => { using x = l.getitem(0); return x.id; })();
    const lr = lineHere(); l.release();
    const hs = rt.refs.history(strAddr);
    expect(hs?.freedBy?.op).toBe('Ref.release');
    expect(lineOf(hs?.freedBy?.site)).toBe(lr);
    // a cycle dies in a collection: its free names the collection, at the gc.collect call
    const A = rt.defineClass('A');
    const o = A.new();
    o.setattr('me', o);
    const oid = o.id;
    o.release();
    const lc = lineHere(); rt.gc.collect();
    const ho = rt.refs.history(oid);
    expect(ho?.freedBy?.op).toBe('gc collection of generation 2');
    expect(lineOf(ho?.freedBy?.site)).toBe(lc);
  });

  it('needs a tracking runtime', () => {
    using rt = Runtime.create();
    using a = rt.list();
    expect(thrown(() => rt.refs.history(a)).code).toBe('ERR_VALUE');
    expect(thrown(() => rt.trace.start()).code).toBe('ERR_VALUE');
  });
});

describe('error.provenance', () => {
  it('a use-after-free says where the object was allocated, freed, and which decref had no owner', () => {
    using rt = Runtime.create({ track: true });
    const la = lineHere(); const a = rt.list([1]);
    const b = a.dup();
    const lx = lineHere(); rt.capi.Py_DECREF(a.id); // the extra decref: a's reference is still a's
    const lf = lineHere(); b.release(); // frees the list under a
    const lu = lineHere(); const e = thrown(() => a.append(2));
    expect(e.code).toBe('ERR_USE_AFTER_FREE');
    const p = e.provenance;
    expect(p?.typeName).toBe('list');
    expect(lineOf(p?.allocated?.site)).toBe(la);
    expect(p?.allocated?.op).toBe('rt.list');
    expect(p?.freedBy?.op).toBe('Ref.release');
    expect(lineOf(p?.freedBy?.site)).toBe(lf);
    expect(p?.unownedDecref?.op).toBe('capi.Py_DECREF');
    expect(lineOf(p?.unownedDecref?.site)).toBe(lx);
    expect(p?.unownedDecref?.before).toBe(2);
    // AddressSanitizer's shape, in the message too
    const lines = e.message.split('\n');
    expect(lines[0]).toMatch(/^the object at 0x[0-9a-f]+ has been deallocated \(use after free\)$/);
    expect(lines[1]).toMatch(/^ERROR: refcount-lab: heap-use-after-free on a 'list' object at 0x[0-9a-f]+$/);
    expect(lines[2]).toBe(`    #0 Ref.append at ${HERE}:${lu}:${lines[2]?.split(':').pop()}`);
    expect(lines[3]).toBe('freed by Ref.release here:');
    expect(lines[4]).toMatch(new RegExp(`^    #0 Ref.release at ${HERE}:${lf}:\\d+$`));
    expect(lines[5]).toBe('previously allocated here:');
    expect(lines[6]).toMatch(new RegExp(`^    #0 rt.list at ${HERE}:${la}:\\d+$`));
    expect(lines[7]).toBe('the decref that had no owner (refcount 2 -> 1):');
    expect(lines[8]).toMatch(new RegExp(`^    #0 capi.Py_DECREF at ${HERE}:${lx}:\\d+$`));
    expect(p?.report).toBe(lines.slice(1).join('\n') + '\n');
  });

  it('without tracking the error is the plain one', () => {
    using rt = Runtime.create();
    const a = rt.list();
    rt.capi.Py_DECREF(a.id);
    const e = thrown(() => a.append(1));
    expect(e.code).toBe('ERR_USE_AFTER_FREE');
    expect(e.provenance).toBeUndefined();
    expect(e.message).not.toContain('\n');
  });

  it('a negative refcount (debug build) names the write that took the references away', () => {
    using rt = Runtime.create({ build: 'debug', track: true });
    using a = rt.str('abc' + 'def');
    const lw = lineHere(); rt.capi.Py_SET_REFCNT(a.id, 0);
    const e = thrown(() => rt.capi.Py_DECREF(a.id));
    expect(e).toBeInstanceOf(NegativeRefcountError);
    expect(e.provenance?.unownedDecref?.kind).toBe('write');
    expect(lineOf(e.provenance?.unownedDecref?.site)).toBe(lw);
    expect(e.message).toContain("ERROR: refcount-lab: negative-refcount on a 'str' object at");
    expect(e.message).toContain('the write that had no owner (refcount 1 -> 0):');
    rt.capi.Py_SET_REFCNT(a.id, 1);
  });

  it('an extra decref inside a finalizer is recorded at the finalizer\'s own line', () => {
    using rt = Runtime.create({ track: true });
    using keep = rt.list();
    let lx = 0;
    const A = rt.defineClass('A', {
      finalize: (self) => {
        using item = self.getattr('item');
        lx = lineHere(); rt.capi.Py_DECREF(item.id); // no reference of the finalizer's own
      },
    });
    using s = rt.str('x'.repeat(40));
    keep.append(s);
    const o = A.new({ item: s });
    o.release(); // runs the finalizer, then drops the instance's reference to s
    const h = rt.refs.history(s);
    expect(h?.unownedDecref?.op).toBe('capi.Py_DECREF');
    expect(lineOf(h?.unownedDecref?.site)).toBe(lx);
    // the list's slot and s hold it, the count says 1: the audit flags the missing reference
    const ex = rt.refs.explain(s);
    expect(ex.refcnt).toBe(1);
    expect(ex.unexplained).toBe(-1);
    expect(rt.refs.audit().unexplained.map((x) => x.address)).toEqual([s.id]);
    rt.capi.Py_INCREF(s.id); // give it back for a clean close
  });
});

describe('capi holders', () => {
  it('a reference taken through the C API is a holder with its call site until given back', () => {
    using rt = Runtime.create({ track: true });
    using d = rt.dict({ x: 1 });
    const l1 = lineHere(); rt.capi.Py_INCREF(d.id);
    const l2 = lineHere(); const same = rt.capi.Py_NewRef(d.id);
    expect(same).toBe(d.id);
    let e = rt.refs.explain(d);
    expect(e.unexplained).toBe(0);
    const capi = e.holders.filter((h) => h.kind === 'capi');
    expect(capi.map((h) => [h.count, lineOf(h.site)])).toEqual([[1, l1], [1, l2]]);
    expect(rt.refs.audit().ok).toBe(true);
    rt.capi.Py_DECREF(d.id);
    rt.capi.Py_DECREF(d.id);
    e = rt.refs.explain(d);
    expect(e.holders.filter((h) => h.kind === 'capi')).toEqual([]);
    expect(e.unexplained).toBe(0);
    // a runtime that does not track cannot name them: they stay unexplained
    using plain = Runtime.create();
    using p = plain.list();
    plain.capi.Py_INCREF(p.id);
    expect(plain.refs.explain(p).unexplained).toBe(1);
    plain.capi.Py_DECREF(p.id);
  });

  it('increfMany / decrefMany take and give one reference per element', () => {
    using rt = Runtime.create({ track: true });
    using a = rt.list();
    using b = rt.list();
    using b2 = b.dup();
    rt.capi.increfMany(new Float64Array([a.id, b.id, a.id]));
    expect(rt.refs.explain(a).holders.find((h) => h.kind === 'capi')?.count).toBe(2);
    rt.capi.decrefMany(new Float64Array([a.id, b.id, a.id, b.id])); // the last one is extra
    expect(rt.refs.history(b)?.unownedDecref?.op).toBe('capi.decrefMany');
    expect(rt.refs.history(a)?.unownedDecref).toBeUndefined();
    rt.capi.Py_INCREF(b.id);
  });
});

describe('rt.trace', () => {
  it('records each call as one JSON line with object ids and the call site', () => {
    using rt = Runtime.create({ track: true });
    rt.trace.start();
    expect(rt.trace.recording).toBe(true);
    const l1 = lineHere(); const d = rt.list();
    const e = rt.str('hi');
    d.append(e);
    e.release();
    rt.capi.Py_NewRef(d.id);
    rt.capi.Py_DECREF(d.id);
    d.release();
    const lines = rt.trace.stop().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rt.trace.recording).toBe(false);
    expect(lines.map((l) => `${l.recv}.${l.method}`)).toEqual(['rt.list', 'rt.str', 'ref.append', 'ref.release', 'capi.Py_NewRef', 'capi.Py_DECREF', 'ref.release']);
    expect(lineOf(lines[0]?.site as string)).toBe(l1);
    expect(lines[0]?.result).toEqual({ $: 'ref', id: 1 });
    expect(lines[2]).toMatchObject({ self: 1, args: [{ $: 'ref', id: 2 }] });
    expect(lines[4]).toMatchObject({ args: [{ $: 'obj', id: 1 }], result: { $: 'obj', id: 1 } });
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe("the talk's exp_1, exp_2, exp_3 in a tracking runtime", () => {
  for (const name of ['exp_1', 'exp_2', 'exp_3']) {
    it(`${name} says where the freed object was allocated and where it was freed`, async () => {
      const scenario = findScenario(name);
      if (scenario === undefined) throw new Error(`no scenario ${name}`);
      let notes = '';
      const outcome = executeScenario(scenario, 'release', true, () => {}, {}, (t) => (notes += t), {}, { track: true });
      const talk = /talk\.(ts|js):\d+:\d+/;
      // the named object `a` died: its allocation (A() in the class helper) and its free (del a,
      // or the return of the function whose local it was) are lines of the scenario's source
      const m = /a(, b)?: a 'A' object at (0x[0-9a-f]+)\n {4}allocated by A\.new at (\S+)\n {4}freed by Ref\.release at (\S+)\n/.exec(notes);
      expect(m, notes).not.toBeNull();
      expect(m?.[3]).toMatch(talk);
      expect(m?.[4]).toMatch(talk);
      if (name === 'exp_2') {
        expect(outcome.kind).toBe('invalid-address'); // the slide's bug: it reads address 1
      } else {
        expect(outcome.kind).toBe('use-after-free');
        expect(outcome.detail).toContain(`ERROR: refcount-lab: heap-use-after-free on a 'A' object at ${m?.[2]}`);
        expect(outcome.detail).toContain(`freed by Ref.release here:\n    #0 Ref.release at ${m?.[4]}`);
        expect(outcome.detail).toContain(`previously allocated here:\n    #0 A.new at ${m?.[3]}`);
        expect(outcome.detail).toMatch(/\n {4}#0 ctypes\.cast\(addr, py_object\)\.value at \S*talk\.(ts|js):\d+:\d+\n/);
      }
    });
  }
});

describe('refcount-lab explain --track', () => {
  it("names the line of the scenario that made each Ref holding exp_0's object", () => {
    const scenario = findScenario('exp_0');
    if (scenario === undefined) throw new Error('no exp_0');
    const e = explainScenario(scenario, { step: 3, track: true });
    const obj = e.at?.objects.find((o) => o.names.includes('a'));
    const refs = obj?.explanation?.holders.filter((h) => h.kind === 'ref') ?? [];
    // a = A() and b = a: two Refs, made on two different lines of the scenario
    expect(refs.map((h) => h.count)).toEqual([1, 1]);
    for (const h of refs) expect(h.site).toMatch(/talk\.(ts|js):\d+:\d+$/);
    expect(new Set(refs.map((h) => h.site)).size).toBe(2);
    expect(obj?.explanation?.unexplained).toBe(0);
  });
});

describe('what a tracking runtime records', () => {
  it('every Ref method that can take or drop a reference is recorded (a new one must be listed in track.ts)', () => {
    using rt = Runtime.create({ track: true });
    using r = rt.list();
    const tracked = new Set(Object.getOwnPropertyNames(Object.getPrototypeOf(r)));
    // the methods that only read: no reference is taken or dropped, nothing to record
    const readOnly = new Set(['constructor', 'value', 'repr', 'toString', 'hasattr', 'len', 'contains']);
    const methods = Object.getOwnPropertyNames(Ref.prototype).filter((m) => typeof Object.getOwnPropertyDescriptor(Ref.prototype, m)?.value === 'function');
    expect(methods.filter((m) => !readOnly.has(m) && !tracked.has(m))).toEqual([]);
    expect([...tracked].filter((m) => m !== 'constructor' && readOnly.has(m))).toEqual([]);
    // and a runtime that does not track has plain Refs
    using plain = Runtime.create();
    using p = plain.list();
    expect(Object.getPrototypeOf(p)).toBe(Ref.prototype);
  });
});
