/**
 * Collection rows (gc.collect per object, create+drop) and the memory test (exp_6), each against
 * CPython 3.12 running the same loop in the same bench run.
 */
import { nativeOf } from '../internal.js';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { Runtime } from '../runtime/index.js';
import { findPython, pyCreateDrop, runPython } from './python.js';
import { goal, makeRow, missingRow, nowNs, type RowSpec } from './stats.js';
import type { BenchRow } from './types.js';

export type Graph = 'reachable' | 'garbage' | 'half';
const GRAPHS: readonly Graph[] = ['reachable', 'garbage', 'half'];

// The CPython side. argv: JSON {sizes, reps, createDrop} (no sizes / createDrop 0: that part is
// skipped). Prints one JSON line.
const PY_GC = String.raw`
import gc, json, sys, time
cfg = json.loads(sys.argv[1])
class Node:
    pass
def build(n, graph):
    root = []
    for i in range(n // 3):
        a = Node(); b = Node(); c = Node()
        a.nxt = b; b.nxt = c; c.nxt = a
        a.val = None; b.val = None; c.val = None
        if graph == 'reachable' or (graph == 'half' and i % 2 == 0):
            root.append(a)
    return root
out = {'collect': {}, 'createDrop': []}
gc.disable()
for n in cfg['sizes']:
    for graph in ('reachable', 'garbage', 'half'):
        key = graph + '.' + str(n)
        out['collect'][key] = []
        for rep in range(cfg['reps'] + 1):
            gc.collect()
            root = build(n, graph)
            t0 = time.perf_counter_ns()
            gc.collect()
            dt = time.perf_counter_ns() - t0
            del root
            gc.collect()
            if rep > 0:
                out['collect'][key].append(dt / n)
gc.enable()
${pyCreateDrop('Node')}
for rep in range(cfg['reps'] + 1 if cfg['createDrop'] else 0):
    gc.collect()
    t0 = time.perf_counter_ns()
    create_drop(cfg['createDrop'])
    dt = time.perf_counter_ns() - t0
    if rep > 0:
        out['createDrop'].append(dt / cfg['createDrop'])
print(json.dumps(out))
`;

const PY_MEM = String.raw`
import json, os, resource, sys
n, calls = int(sys.argv[1]), int(sys.argv[2])
def f():
    some_list = [i for i in range(n)]
    return len(some_list)
def rss():
    with open('/proc/self/statm') as fh:
        return int(fh.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
base = rss()
for _ in range(calls):
    f()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({'base': base, 'peak': peak}))
`;

/** Builds one graph in refcount-lab through the native handle (setup only, not timed). */
function buildGraph(rt: Runtime, cls: number, n: number, graph: Graph): number {
  const nat = nativeOf(rt);
  const none = nat.singletons.None;
  const root = nat.newList([]);
  for (let i = 0; i < Math.floor(n / 3); i++) {
    const a = nat.callClass(cls);
    const b = nat.callClass(cls);
    const c = nat.callClass(cls);
    nat.setattr(a, 'nxt', b);
    nat.setattr(b, 'nxt', c);
    nat.setattr(c, 'nxt', a);
    nat.setattr(a, 'val', none);
    nat.setattr(b, 'val', none);
    nat.setattr(c, 'val', none);
    if (graph === 'reachable' || (graph === 'half' && i % 2 === 0)) nat.append(root, a);
    nat.decref(a);
    nat.decref(b);
    nat.decref(c);
  }
  return root;
}

export function gcRows(opts: {
  quick: boolean;
  reps: number;
  log: (s: string) => void;
  /** The core's own create+drop loop (refcount_bench --create-drop), ns per iteration per rep. */
  coreCreateDrop?: (n: number, reps: number) => number[];
}): BenchRow[] {
  const sizes = opts.quick ? [3_000, 30_000] : [100_000, 1_000_000];
  const sizeName = (n: number, i: number): string => (i === 0 ? '1e5' : '1e6') + (opts.quick ? `(quick: ${n})` : '');
  const createDrop = opts.quick ? 20_000 : 1_000_000;
  const reps = opts.reps;
  const py = findPython();
  // Repetitions interleave the two sides: CPython (a fresh process, its own warm-up round, then
  // one timed round), then ours (one timed round), and so on, so a drift of this shared
  // machine's speed hits both sides of each per-repetition ratio alike.
  const pyRes: { collect: Record<string, number[]>; createDrop: number[] } = { collect: {}, createDrop: [] };
  let pyErr = py ? '' : 'CPython 3.12 not found (set REFCOUNT_LAB_PYTHON, or install python3.12)';
  const ours: Record<string, number[]> = {};
  const oursCreate: number[] = [];
  const oursCreateCalls: number[] = [];
  const core: number[] = []; // the core's own create+drop loop, one run per repetition
  let coreErr = '';
  const rt = Runtime.create({ build: 'release', guard: false });
  const cpython = (rep: number, what: string, cfg: { sizes: number[]; createDrop: number }): void => {
    if (!py || pyErr) return;
    opts.log(`gc: ${what} repetition ${rep}/${reps}: CPython side (${py.description}) ...`);
    try {
      const r = runPython<typeof pyRes>(py, PY_GC, [JSON.stringify({ ...cfg, reps: 1 })]);
      for (const [k, v] of Object.entries(r.collect)) (pyRes.collect[k] ??= []).push(...v);
      pyRes.createDrop.push(...r.createDrop);
    } catch (e) {
      pyErr = (e as Error).message.slice(0, 300);
    }
  };
  try {
    const C = rt.defineClass('Node');
    // Phase 1: gc.collect() of the graphs. Round 0 warms our side up (JIT, arenas).
    rt.gc.disable();
    for (let rep = 0; rep <= reps; rep++) {
      if (rep > 0) cpython(rep, 'collect', { sizes, createDrop: 0 });
      opts.log(`gc: collect repetition ${rep}/${reps}: refcount-lab side ...`);
      for (const n of sizes) {
        for (const graph of GRAPHS) {
          rt.gc.collect();
          const root = buildGraph(rt, C.id, n, graph);
          const t0 = nowNs();
          rt.gc.collect();
          const dt = nowNs() - t0;
          nativeOf(rt).decref(root);
          rt.gc.collect();
          if (rep > 0) (ours[`${graph}.${n}`] ??= []).push(dt / n);
        }
      }
    }
    rt.gc.enable();
    // Phase 2 (after all collections, so that the garbage V8 makes here never lands in a timed
    // collect): create+drop through the typed API, C.new({ x: 1, y: 2 }) (one native call: cls()
    // and the two setattrs) then release(); the same spelled as four calls (C.new(), two
    // setattrs, release()), for the cost of each boundary crossing; and the core's own loop.
    // A class of its own, as the fresh CPython process has (its shared keys see only x and y);
    // one instance lives through the loops so that their pools stay in use, as CPython's
    // start-up objects keep every size class's pools in use (see refcount_kernels.cc).
    const D = rt.defineClass('Node');
    for (let i = 0; i < 64; i++) D.new({ x: 1, y: 2 }).release(); // the values size settles
    const keep = D.new({ x: 1, y: 2 });
    for (let rep = 0; rep <= reps; rep++) {
      if (rep > 0) cpython(rep, 'create+drop', { sizes: [], createDrop });
      opts.log(`gc: create+drop repetition ${rep}/${reps}: refcount-lab side ...`);
      rt.gc.collect();
      let t0 = nowNs();
      for (let i = 0; i < createDrop; i++) D.new({ x: 1, y: 2 }).release();
      let dt = nowNs() - t0;
      if (rep > 0) oursCreate.push(dt / createDrop);
      t0 = nowNs();
      for (let i = 0; i < createDrop; i++) {
        const o = D.new();
        o.setattr('x', 1);
        o.setattr('y', 2);
        o.release();
      }
      dt = nowNs() - t0;
      if (rep > 0) oursCreateCalls.push(dt / createDrop);
      if (rep > 0 && opts.coreCreateDrop && !coreErr) {
        try {
          core.push(...opts.coreCreateDrop(createDrop, 1));
        } catch (e) {
          coreErr = e instanceof Error ? e.message : String(e);
        }
      }
    }
    keep.release();
  } finally {
    rt.close();
  }
  const pyOk = py !== null && !pyErr;
  const rows: BenchRow[] = [];
  const anchorLabel = py ? `CPython ${py.version}, same graph` : 'CPython 3.12';
  sizes.forEach((n, i) => {
    for (const graph of GRAPHS) {
      const what = graph === 'reachable' ? 'all reachable' : graph === 'garbage' ? 'all garbage' : 'half reachable, half garbage';
      const spec: RowSpec = {
        id: `gc.collect.${graph}.${i === 0 ? '1e5' : '1e6'}`,
        group: 'gc',
        label: `gc.collect(), ${sizeName(n, i)} instances in 3-cycles, ${what}`,
        unit: 'ns/object',
        anchorLabel,
        goal: goal('ratio', 0.7, '<= 0.7x CPython'),
      };
      const key = `${graph}.${n}`;
      const a = pyRes?.collect[key];
      rows.push(pyOk && a ? makeRow(spec, ours[key] ?? [], a) : missingRow(spec, pyErr));
    }
  });
  const cspec: RowSpec = {
    id: 'gc.create_drop.1e6',
    group: 'gc',
    label: `create+drop ${opts.quick ? `${createDrop} (quick)` : '1e6'} two-attribute instances (C.new({ x: 1, y: 2 }).release())`,
    unit: 'ns/object',
    anchorLabel: py ? `CPython ${py.version}: o = C(); o.x = 1; o.y = 2; del o` : 'CPython 3.12',
    goal: goal('ratio', 0.5, '<= 0.5x CPython'),
  };
  rows.push(pyOk ? makeRow(cspec, oursCreate, pyRes.createDrop) : missingRow(cspec, pyErr));
  const cspec4: RowSpec = {
    ...cspec,
    id: 'gc.create_drop_4calls.1e6',
    label: `create+drop as four calls: C.new(), o.setattr('x', 1), o.setattr('y', 2), o.release()`,
    goal: null,
  };
  rows.push(pyOk ? makeRow(cspec4, oursCreateCalls, pyRes.createDrop) : missingRow(cspec4, pyErr));
  const cspecCore: RowSpec = {
    ...cspec,
    id: 'gc.create_drop_core.1e6',
    label: 'create+drop, the core alone (native loop: cls(), two setattrs, decref; no JS boundary)',
  };
  if (opts.coreCreateDrop && pyOk) {
    rows.push(coreErr ? missingRow(cspecCore, coreErr) : makeRow(cspecCore, core, pyRes.createDrop));
  } else {
    rows.push(missingRow(cspecCore, pyOk ? 'the native bench sources (bench/native/) ship only with a source checkout' : pyErr));
  }
  return rows;
}

/** exp_6: a function building an n-int list (`[i for i in range(n)]`; ours: `appendRange`, one
 * native call, no JS value per item), called `calls` times; peak RSS growth (MiB). */
export function memoryRows(distDir: string, opts: { quick: boolean; reps: number; log: (s: string) => void }): BenchRow[] {
  const n = opts.quick ? 100_000 : 1_000_000;
  const calls = opts.quick ? 2 : 5;
  const py = findPython();
  const index = pathToFileURL(join(distDir, 'index.js')).href;
  const nodeScript = (build: string): string => `
import { Runtime } from ${JSON.stringify(index)};
const rt = Runtime.create({ build: ${JSON.stringify(build)}, guard: false });
function f() { const l = rt.list(); l.appendRange(0, ${n}); l.release(); }
globalThis.gc?.();
const base = process.memoryUsage().rss;
for (let c = 0; c < ${calls}; c++) f();
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ base, peak }));
rt.close();
`;
  const runNode = (build: string): number => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', nodeScript(build)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`memory child failed: ${r.stderr.slice(-1000)}`);
    const j = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { base: number; peak: number };
    return (j.peak - j.base) / 1048576;
  };
  const ours: number[] = [];
  const nodealloc: number[] = [];
  const cp: number[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    opts.log(`memory: exp_6 repetition ${rep + 1}/${opts.reps}`);
    ours.push(runNode('release'));
    nodealloc.push(runNode('nodealloc'));
    if (py) {
      const j = runPython<{ base: number; peak: number }>(py, PY_MEM, [String(n), String(calls)]);
      cp.push((j.peak - j.base) / 1048576);
    }
  }
  const what = `${opts.quick ? n : '1e6'}-int list built by a function called ${calls}x`;
  const anchorLabel = py ? `CPython ${py.version}, same loop` : 'CPython 3.12';
  const miss = 'CPython 3.12 not found (set REFCOUNT_LAB_PYTHON, or install python3.12)';
  const s1: RowSpec = { id: 'memory.exp6.release', group: 'memory', label: `peak RSS growth, ${what}, release build`, unit: 'MiB', anchorLabel, goal: goal('ratio', 1.0, '<= CPython') };
  const s2: RowSpec = { id: 'memory.exp6.nodealloc', group: 'memory', label: `peak RSS growth, ${what}, nodealloc build (never frees)`, unit: 'MiB', anchorLabel, goal: null };
  return py ? [makeRow(s1, ours, cp), makeRow(s2, nodealloc, cp)] : [missingRow(s1, miss), missingRow(s2, miss)];
}
