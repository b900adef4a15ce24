// The bug-injection table (issue #15's proof of record, replay, bisect). Each kind of reference
// bug is injected at a random operation among OPS random typed-API operations
// (test/helpers/workload.ts), recorded with rt.trace in a guarded tracking runtime (release
// build), for several seeds. Every time:
//   - right after the bad call, rt.refs.audit() / explain() flag the victim object (an
//     unexplained count, a dangling slot or a dangling Ref; for a reference taken and never
//     given back, a 'capi' holder named by the bad line), and its history says the bad line made
//     the decref (or the write) that had no owner;
//   - when the victim was freed by it, using its Ref is ERR_USE_AFTER_FREE whose
//     error.provenance.unownedDecref names the bad line;
//   - bisectTrace on the recorded trace names exactly the bad line (for a finalizer or a weakref
//     callback, the line inside the callback; the top-level line that ran it is `after`).
//
// After a bug that corrupts the heap the workload goes on with new objects only and without
// collections (Workload.quarantine): the collector and the containers trust the heap's
// pointers, as CPython's do, so touching the corrupt objects again could crash the test process
// itself. The victims are objects no outstanding C API reference of the workload holds: an
// extra decref of such an object is, to any tool, the early return of that reference, and the
// audit fails at the later decref that finds none (which is where bisect then points).
//
// Run time (measured here, 2 shared cores): recording costs a stack trace per operation, about
// 230 us under vitest (2.0-2.4 s for 10,000 operations); the bisect replays without one and
// audits only after the lines that go through the C API: 0.1-0.7 s at 10,000. The whole file:
// 30-50 s. So every kind runs
// SEEDS seeds: the first at 10,000 operations, the others at 1,000 (INJECTION_OPS=10000 runs
// them all at 10,000).
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RefcountError, Runtime, bisectTrace, parseTrace, type Ref, type TraceLine } from '../lib/index.js';
import { Workload } from './helpers/workload.js';

const HERE = new URL(import.meta.url).pathname;
const FULL_OPS = 10_000;
const OTHER_OPS = Number(process.env['INJECTION_OPS'] ?? 1_000);
// INJECTION_SEEDS=N runs seeds 1..N (the first at 10,000 operations, as always).
const SEEDS = Array.from({ length: Number(process.env['INJECTION_SEEDS'] ?? 3) }, (_, i) => i + 1);

function lineHere(): number {
  const m = (new Error().stack ?? '').split('\n')[2]?.match(/:(\d+):\d+\)?$/);
  return Number(m?.[1]);
}
function lineOf(site: string | undefined): number | undefined {
  return site?.startsWith(HERE + ':') ? Number(site.slice(HERE.length + 1).split(':')[0]) : undefined;
}

/** What a kind did: the victim, the bad call's source line, and what must be seen. */
interface Injected {
  readonly victim: number;
  /** The line of this file that made the bad call. */
  readonly line: number;
  /** How the tools see it: the audit flags the victim, or a 'capi' holder names the bad line
   * (a reference never given back), or the bad call itself threw ERR_RELEASED. */
  readonly flag: 'audit' | 'capi' | 'released';
  /** The victim's Ref, to use again when the bad call freed it. */
  readonly ref?: Ref;
}

interface Kind {
  readonly name: string;
  /** The heap is corrupt afterwards (quarantine the workload's objects). */
  readonly corrupts: boolean;
  inject(w: Workload): Injected | undefined;
}

const le64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
};
const rc = (w: Workload, a: number): number => Number(w.rt.capi.Py_REFCNT(a));

const KINDS: readonly Kind[] = [
  {
    name: 'an extra capi.Py_DECREF',
    corrupts: true,
    inject(w) {
      const v = w.pickMortal();
      if (v === undefined) return undefined;
      const line = lineHere(); w.rt.capi.Py_DECREF(v.id);
      return { victim: v.id, line, flag: 'audit', ref: v };
    },
  },
  {
    name: 'a missing Py_DECREF (capi.Py_INCREF never given back)',
    corrupts: false,
    inject(w) {
      const v = w.pickMortal();
      if (v === undefined) return undefined;
      w.noCapi.add(v.id);
      const line = lineHere(); w.rt.capi.Py_INCREF(v.id);
      return { victim: v.id, line, flag: 'capi' };
    },
  },
  {
    name: 'a released Ref used again',
    corrupts: false,
    inject(w) {
      const r = w.released[w.int(w.released.length)];
      if (r === undefined) return undefined;
      let line = 0;
      try {
        line = lineHere(); r.dup();
      } catch (e) {
        expect((e as RefcountError).code).toBe('ERR_RELEASED');
        return { victim: 0, line, flag: 'released' };
      }
      throw new Error('a released Ref was used without ERR_RELEASED');
    },
  },
  {
    name: 'a raw write of ob_refcnt: capi.Py_SET_REFCNT one too many',
    corrupts: true,
    inject(w) {
      const v = w.pickMortal();
      if (v === undefined) return undefined;
      const line = lineHere(); w.rt.capi.Py_SET_REFCNT(v.id, rc(w, v.id) + 1);
      return { victim: v.id, line, flag: 'audit' };
    },
  },
  {
    name: 'a raw write of ob_refcnt: capi.writeBytes one too few',
    corrupts: true,
    inject(w) {
      const v = w.pickMortal();
      if (v === undefined) return undefined;
      const line = lineHere(); w.rt.capi.writeBytes(v.id, le64(rc(w, v.id) - 1));
      return { victim: v.id, line, flag: 'audit' };
    },
  },
  {
    name: 'a container slot whose item was freed behind it',
    corrupts: true,
    inject(w) {
      const l = w.pick('list') ?? w.add(w.rt.list());
      const s = w.rt.str(`item ${w.int(1e9)}`);
      l.append(s);
      const a = s.id;
      s.release();
      const line = lineHere(); w.rt.capi.Py_DECREF(a);
      return { victim: a, line, flag: 'audit' };
    },
  },
  {
    name: 'a leaked capi.Py_NewRef',
    corrupts: false,
    inject(w) {
      const v = w.pickMortal();
      if (v === undefined) return undefined;
      w.noCapi.add(v.id);
      const line = lineHere(); w.rt.capi.Py_NewRef(v.id);
      return { victim: v.id, line, flag: 'capi' };
    },
  },
  {
    name: 'an extra decref inside a finalizer',
    corrupts: true,
    inject(w) {
      const v = w.pickMortal();
      if (v === undefined) return undefined;
      let line = 0;
      const X = w.rt.defineClass('X', {
        finalize: (self) => {
          using item = self.getattr('item');
          line = lineHere(); w.rt.capi.Py_DECREF(item.id);
        },
      });
      const o = X.new({ item: v });
      o.release();
      return { victim: v.id, line, flag: 'audit' };
    },
  },
  {
    name: 'an extra decref inside a weakref callback',
    corrupts: true,
    inject(w) {
      const v = w.pickMortal();
      if (v === undefined) return undefined;
      let line = 0;
      const o = (w.classes[0] as NonNullable<(typeof w.classes)[0]>).new();
      const wr = w.rt.weakref(o, () => {
        line = lineHere(); w.rt.capi.Py_DECREF(v.id);
      });
      o.release();
      wr.release();
      return { victim: v.id, line, flag: 'audit' };
    },
  },
  {
    name: 'an extra capi.decrefMany element',
    corrupts: true,
    inject(w) {
      const v = w.pickMortal();
      const u = w.pickMortal();
      if (v === undefined || u === undefined || u.id === v.id) return undefined;
      w.rt.capi.increfMany(new Float64Array([v.id, u.id]));
      const line = lineHere(); w.rt.capi.decrefMany(new Float64Array([u.id, v.id, v.id]));
      return { victim: v.id, line, flag: 'audit', ref: v };
    },
  },
  {
    name: 'an extra capi.Py_XDECREF',
    corrupts: true,
    inject(w) {
      const v = w.pickMortal();
      if (v === undefined) return undefined;
      const line = lineHere(); w.rt.capi.Py_XDECREF(v.id);
      return { victim: v.id, line, flag: 'audit', ref: v };
    },
  },
  {
    name: "a dropped dict value's reference",
    corrupts: true,
    inject(w) {
      const d = w.pick('dict') ?? w.add(w.rt.dict());
      const f = w.rt.float(w.random());
      d.setitem('injected', f);
      f.release();
      const got = d.getitem('injected'); // a new reference, taken for a borrowed one (PyDict_GetItem)
      const a = got.id;
      got.release();
      const line = lineHere(); w.rt.capi.Py_DECREF(a);
      return { victim: a, line, flag: 'audit' };
    },
  },
  {
    name: 'a double release through capi.Py_DecRef',
    corrupts: true,
    inject(w) {
      const v = w.pickMortal();
      if (v === undefined) return undefined;
      w.rt.capi.Py_IncRef(v.id);
      w.rt.capi.Py_DecRef(v.id);
      const line = lineHere(); w.rt.capi.Py_DecRef(v.id);
      return { victim: v.id, line, flag: 'audit', ref: v };
    },
  },
  {
    name: 'a Ref used after an extra Py_DECREF freed its object',
    corrupts: true,
    inject(w) {
      const v = w.add(w.rt.list([w.pick() ?? 1]));
      const line = lineHere(); w.rt.capi.Py_DECREF(v.id);
      return { victim: v.id, line, flag: 'audit', ref: v };
    },
  },
];

interface CaseResult {
  readonly ms: { record: number; bisect: number };
  readonly usedAfterFree: boolean;
}

function runCase(kind: Kind, seed: number, ops: number): CaseResult {
  const t0 = performance.now();
  using rt = Runtime.create({ track: true });
  rt.trace.start();
  const w = new Workload(rt, seed * 7919 + KINDS.indexOf(kind));
  const at = w.int(ops);
  let inj: Injected | undefined;
  let usedAfterFree = false;
  for (let i = 0; i < ops; i++) {
    if (i >= at && inj === undefined) {
      inj = kind.inject(w);
      if (inj !== undefined) usedAfterFree = check(rt, kind, inj);
      if (inj !== undefined && kind.corrupts) w.quarantine();
    }
    w.step();
  }
  if (inj === undefined) throw new Error(`${kind.name}: nothing to inject into (seed ${seed})`);
  w.teardown();
  const text = rt.trace.stop();
  const record = performance.now() - t0;

  const lines = parseTrace(text);
  const bad = lines.filter((l) => lineOf(l.site) === inj.line);
  expect(bad, 'the bad call is one line of the trace').toHaveLength(1);
  const badLine = bad[0] as TraceLine;
  const t1 = performance.now();
  const b = bisectTrace(lines);
  const bisect = performance.now() - t1;
  let where = `${kind.name}, seed ${seed}, injected at op ${at} (trace line ${badLine.seq} of ${lines.length})`;
  if (b.line?.seq !== badLine.seq) {
    // keep the trace for `refcount-lab bisect` / `replay`
    const file = join(tmpdir(), `injection-${KINDS.indexOf(kind)}-${seed}.jsonl`);
    writeFileSync(file, text);
    where += `; the trace is ${file}`;
  }
  expect(b.line?.seq, `bisect names the bad line: ${where}`).toBe(badLine.seq);
  expect(b.kind, where).toBe(inj.flag === 'capi' ? 'leak' : inj.flag === 'released' ? 'error' : 'audit');
  if (badLine.in !== undefined) expect(b.after?.in, 'the line that ran the callback is a top-level line').toBeUndefined();
  if (inj.flag === 'released') expect(b.error?.code).toBe('ERR_RELEASED');
  // one pass, auditing after the C API's lines only (no second pass auditing every line)
  expect(b.audits).toBeLessThan(b.replayed / 2);
  return { ms: { record, bisect }, usedAfterFree };
}

// The checks in the recording runtime, right after the bad call. Returns whether the victim's
// Ref was used after its object was freed.
function check(rt: Runtime, kind: Kind, inj: Injected): boolean {
  if (inj.flag === 'released') {
    expect(rt.refs.audit().ok).toBe(true);
    return false;
  }
  const h = rt.refs.history(inj.victim);
  if (inj.flag === 'capi') {
    const e = rt.refs.explain(inj.victim);
    expect(e.unexplained).toBe(0);
    expect(e.holders.filter((x) => x.kind === 'capi').map((x) => lineOf(x.site))).toContain(inj.line);
    expect(rt.refs.audit().ok).toBe(true);
    return false;
  }
  const audit = rt.refs.audit();
  const flagged = [...audit.unexplained.map((x) => x.address), ...audit.dangling.map((x) => x.address), ...audit.danglingRefs.map((x) => x.address)];
  expect(flagged, `${kind.name}: the audit flags the victim`).toContain(inj.victim);
  if (kind.name.includes('one too many')) expect(h?.events.some((x) => x.kind === 'write' && lineOf(x.site) === inj.line)).toBe(true);
  else expect(lineOf(h?.unownedDecref?.site), `${kind.name}: the unowned decref's site`).toBe(inj.line);
  if (inj.ref === undefined || !h?.freed) return false;
  // the victim was freed by the bad call: its Ref is a use after free that names the bad line
  let err: unknown;
  try {
    inj.ref.append(0);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(RefcountError);
  expect((err as RefcountError).code).toBe('ERR_USE_AFTER_FREE');
  expect(lineOf((err as RefcountError).provenance?.unownedDecref?.site)).toBe(inj.line);
  return true;
}

describe('bug injection: audit, provenance and bisect name the bad call', () => {
  const uaf: Record<string, number> = {};
  for (const kind of KINDS) {
    it(kind.name, () => {
      const times: string[] = [];
      for (const seed of SEEDS) {
        const ops = seed === SEEDS[0] ? FULL_OPS : OTHER_OPS;
        const r = runCase(kind, seed, ops);
        if (r.usedAfterFree) uaf[kind.name] = (uaf[kind.name] ?? 0) + 1;
        times.push(`seed ${seed} (${ops} ops): record ${r.ms.record.toFixed(0)} ms, bisect ${r.ms.bisect.toFixed(0)} ms`);
      }
      console.log(`${kind.name}: ${times.join('; ')}`);
    });
  }
  it('the use-after-free path ran (the error names the bad line)', () => {
    expect(uaf['a Ref used after an extra Py_DECREF freed its object']).toBe(SEEDS.length);
  });
  it('has at least 12 kinds', () => {
    expect(KINDS.length).toBeGreaterThanOrEqual(12);
  });
});
