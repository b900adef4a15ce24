/**
 * The JS boundary rows: capi.Py_INCREF (guarded / unguarded) vs the native module's emptyCall
 * (an N-API function that does nothing: the cost of crossing the boundary at all) and increfMany
 * per address. The typed API's rows (Ref.dup()/release(), getattr, setattr, append, getitem,
 * len, C.new, a list of a range) are typed.ts's, each runtime configuration in its own process.
 */
import { loadBuild } from '../binding.js';
import { Runtime } from '../runtime/index.js';
import { goal, makeRow, nowNs, type RowSpec } from './stats.js';
import type { BenchRow } from './types.js';

/** Untimed increfMany + decrefMany pairs between the cold call and the timed ones. */
const MANY_WARMUP_PAIRS = 5;

type Loop = (f: (a: number) => void, addrs: Float64Array, m: number) => void;
let loopSerial = 0;
/** A fresh loop function per measured callee, so every call site stays monomorphic. */
function makeLoop(): Loop {
  return new Function('f', 'a', 'm', `// loop ${loopSerial++}\nconst k = a.length - 1;\nfor (let i = 0; i < m; i++) f(a[i & k]);`) as Loop;
}

function timeLoop(loop: Loop, f: (a: number) => void, addrs: Float64Array, m: number): number {
  const t0 = nowNs();
  loop(f, addrs, m);
  return (nowNs() - t0) / m;
}

export function boundaryRows(opts: { quick: boolean; reps: number; log: (s: string) => void }): BenchRow[] {
  const m = opts.quick ? 100_000 : 2_000_000; // calls per timing
  const nMany = opts.quick ? 10_000 : 100_000; // addresses per increfMany
  const mod = loadBuild('release');
  const empty = mod.emptyCall as unknown as (a: number) => void;
  const rows: BenchRow[] = [];
  const emptyLoop = makeLoop();

  const perMode: Record<'guarded' | 'unguarded', { inc: number[]; dec: number[]; empty: number[]; many: number[]; manyCold: number[]; manyDec: number[]; manyEmpty: number[] }> = {
    guarded: { inc: [], dec: [], empty: [], many: [], manyCold: [], manyDec: [], manyEmpty: [] },
    unguarded: { inc: [], dec: [], empty: [], many: [], manyCold: [], manyDec: [], manyEmpty: [] },
  };
  for (const mode of ['unguarded', 'guarded'] as const) {
    const rt = Runtime.create({ build: 'release', guard: mode === 'guarded' });
    try {
      const refs = Array.from({ length: 1024 }, (_, i) => rt.int(100_000 + i));
      const addrs = Float64Array.from(refs, (r) => r.id);
      const manyRefs = Array.from({ length: nMany }, (_, i) => rt.int(1_000_000 + i));
      const manyAddrs = Float64Array.from(manyRefs, (r) => r.id);
      const inc = rt.capi.Py_INCREF;
      const dec = rt.capi.Py_DECREF;
      const incLoop = makeLoop();
      const decLoop = makeLoop();
      const manyCalls = opts.quick ? 5 : 20;
      // Warm-up (JIT tiers, caches), then repetitions.
      for (let r = -2; r < opts.reps; r++) {
        const e1 = timeLoop(emptyLoop, empty, addrs, m);
        const ti = timeLoop(incLoop, inc, addrs, m);
        const td = timeLoop(decLoop, dec, addrs, m);
        const e2 = timeLoop(emptyLoop, empty, addrs, m);
        // The first increfMany after the call loops reloads what they pushed out of the caches
        // (the 3.2 MiB of headers, the address array): it is timed alone (the `cold` row).
        // Here it takes a few calls more to settle, so a few untimed pairs come before the
        // steady-state calls that the goal is about.
        let t0 = nowNs();
        rt.capi.increfMany(manyAddrs);
        const tcold = (nowNs() - t0) / nMany;
        rt.capi.decrefMany(manyAddrs);
        for (let c = 0; c < MANY_WARMUP_PAIRS; c++) {
          rt.capi.increfMany(manyAddrs);
          rt.capi.decrefMany(manyAddrs);
        }
        t0 = nowNs();
        for (let c = 0; c < manyCalls; c++) rt.capi.increfMany(manyAddrs);
        const tm = (nowNs() - t0) / (manyCalls * nMany);
        t0 = nowNs();
        for (let c = 0; c < manyCalls; c++) rt.capi.decrefMany(manyAddrs);
        const tmd = (nowNs() - t0) / (manyCalls * nMany);
        if (r < 0) continue;
        const s = perMode[mode];
        s.empty.push((e1 + e2) / 2);
        s.inc.push(ti);
        s.dec.push(td);
        s.many.push(tm);
        s.manyCold.push(tcold);
        s.manyDec.push(tmd);
        s.manyEmpty.push((e1 + e2) / 2);
      }
      for (const r of [...refs, ...manyRefs]) r.release();
    } finally {
      rt.close();
    }
  }
  const anchorLabel = 'empty N-API call (emptyCall)';
  const spec = (id: string, label: string, unit: string, g: RowSpec['goal']): RowSpec => ({ id, group: 'boundary', label, unit, anchorLabel, goal: g });
  const u = perMode.unguarded;
  const gd = perMode.guarded;
  rows.push(makeRow(spec('boundary.incref.unguarded', 'capi.Py_INCREF(addr), unguarded runtime', 'ns/call', goal('ratio', 1.2, '<= 1.2x empty call')), u.inc, u.empty));
  rows.push(makeRow(spec('boundary.incref.guarded', 'capi.Py_INCREF(addr), guarded runtime', 'ns/call', goal('ratio', 1.4, '<= 1.4x empty call')), gd.inc, gd.empty));
  rows.push(makeRow(spec('boundary.decref.unguarded', 'capi.Py_DECREF(addr), unguarded runtime', 'ns/call', null), u.dec, u.empty));
  rows.push(makeRow(spec('boundary.decref.guarded', 'capi.Py_DECREF(addr), guarded runtime', 'ns/call', null), gd.dec, gd.empty));
  rows.push(makeRow(spec('boundary.increfMany.unguarded', `increfMany(Float64Array[${nMany}]) per address, unguarded, steady state`, 'ns/address', goal('value', 1, '<= 1 ns/address')), u.many, u.manyEmpty));
  rows.push(makeRow(spec('boundary.increfMany.cold', `increfMany(Float64Array[${nMany}]) per address, unguarded, first call after the call loops`, 'ns/address', null), u.manyCold, u.manyEmpty));
  rows.push(makeRow(spec('boundary.increfMany.guarded', `increfMany(Float64Array[${nMany}]) per address, guarded`, 'ns/address', null), gd.many, gd.manyEmpty));
  rows.push(makeRow(spec('boundary.decrefMany.unguarded', `decrefMany(Float64Array[${nMany}]) per address, unguarded`, 'ns/address', null), u.manyDec, u.manyEmpty));
  return rows;
}
