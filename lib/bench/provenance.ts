/**
 * The provenance rows: what a tracking runtime costs per typed-API operation (each operation
 * records a stack trace's call site and its events; the anchor is the same operation in a
 * runtime that does not track, same run), and what `rt.refs.audit()` costs per live object
 * against one `gc.collect()` per live object on the same heap (goal: no dearer).
 */
import { Runtime, type Ref } from '../runtime/index.js';
import { goal, makeRow, nowNs, type RowSpec } from './stats.js';
import type { BenchRow } from './types.js';

interface TrackedOp {
  readonly id: string;
  readonly label: string;
  /** Sets up, then returns the operation to time (called `k` times). */
  readonly make: (rt: Runtime) => { op: () => void; done: () => void };
}

const OPS: readonly TrackedOp[] = [
  {
    id: 'new_release',
    label: 'C.new({ x, y }).release()',
    make(rt) {
      const C = rt.defineClass('Point');
      return { op: () => C.new({ x: 1, y: 2 }).release(), done: () => {} };
    },
  },
  {
    id: 'dup_release',
    label: 'Ref.dup().release()',
    make(rt) {
      const r = rt.str('x'.repeat(30));
      return { op: () => r.dup().release(), done: () => r.release() };
    },
  },
  {
    id: 'append',
    label: 'l.append(ref)',
    make(rt) {
      const l = rt.list();
      const x = rt.str('item of its own');
      return { op: () => l.append(x), done: () => (l.release(), x.release()) };
    },
  },
  {
    id: 'capi_pair',
    label: 'capi.Py_INCREF(a) + capi.Py_DECREF(a)',
    make(rt) {
      const r = rt.str('y'.repeat(30));
      const a = r.id;
      return { op: () => (rt.capi.Py_INCREF(a), rt.capi.Py_DECREF(a)), done: () => r.release() };
    },
  },
];

function timeOp(track: boolean, t: TrackedOp, k: number): number {
  const rt = Runtime.create({ build: 'release', track });
  try {
    const { op, done } = t.make(rt);
    for (let i = 0; i < Math.min(k, 1000); i++) op(); // warm-up
    const t0 = nowNs();
    for (let i = 0; i < k; i++) op();
    const ns = (nowNs() - t0) / k;
    done();
    return ns;
  } finally {
    rt.close();
  }
}

/** A heap of `n` instances, each holding a list of two ints and a str: ~4n live objects. */
function buildHeap(rt: Runtime, n: number): Ref {
  const C = rt.defineClass('Node');
  const all = rt.list();
  for (let i = 0; i < n; i++) {
    const o = C.new({ name: `node ${i}` });
    o.setattr('items', [i + 1000, i + 2000]);
    all.append(o);
    o.release();
  }
  return all;
}

export function provenanceRows(opts: { quick: boolean; reps: number; log: (s: string) => void }): BenchRow[] {
  const rows: BenchRow[] = [];
  const k = opts.quick ? 2_000 : 20_000; // tracked operations cost microseconds each
  const spec = (id: string, label: string, unit: string, anchorLabel: string, g: RowSpec['goal']): RowSpec => ({ id, group: 'provenance', label, unit, anchorLabel, goal: g });
  for (const t of OPS) {
    opts.log(`provenance: ${t.label}, tracking on vs off ...`);
    const on: number[] = [];
    const off: number[] = [];
    for (let r = 0; r < opts.reps; r++) {
      off.push(timeOp(false, t, k * 10));
      on.push(timeOp(true, t, k));
    }
    rows.push(makeRow(spec(`provenance.track.${t.id}`, `${t.label}, tracking runtime (release, guarded)`, 'ns/op', 'the same without tracking', null), on, off));
  }

  // audit vs collect, per live object, same heap
  const n = opts.quick ? 2_000 : 20_000;
  opts.log(`provenance: rt.refs.audit() vs gc.collect() on ${n} instances ...`);
  const audit: number[] = [];
  const collect: number[] = [];
  const rt = Runtime.create({ build: 'release' });
  try {
    const all = buildHeap(rt, n);
    rt.gc.collect();
    const objects = rt.refs.audit().objects;
    for (let r = -1; r < opts.reps; r++) {
      let t0 = nowNs();
      const a = rt.refs.audit();
      const ta = (nowNs() - t0) / objects;
      if (!a.ok) throw new Error('the bench heap does not add up');
      t0 = nowNs();
      rt.gc.collect();
      const tc = (nowNs() - t0) / objects;
      if (r < 0) continue;
      audit.push(ta);
      collect.push(tc);
    }
    all.release();
  } finally {
    rt.close();
  }
  rows.push(makeRow(spec('provenance.audit_per_object', `rt.refs.audit() per live object (${n} instances, each with a str name and a list of 2 ints)`, 'ns/object', 'gc.collect() per live object, same heap', goal('ratio', 1.0, '<= 1.0x gc.collect per object')), audit, collect));
  return rows;
}
