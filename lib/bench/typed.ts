/**
 * The typed API's rows (boundary group), each runtime configuration in a fresh Node process, as
 * a program with one runtime runs (in one process with several runtimes, the typed API's call
 * sites see several of everything and V8 makes them polymorphic):
 * - against one empty N-API call measured in the same process: Ref.dup().release(), getattr,
 *   setattr, append, getitem, len (guarded; with and without leak books);
 * - against CPython 3.12 running the same code in the same bench run: `C.new({ x, y }).release()`
 *   vs `o = C(); o.x = 1; o.y = 2; del o` (unguarded and guarded, with and without leak books),
 *   and a list of range(1e6) built and dropped vs `[i for i in range(1_000_000)]` + `del`.
 * Repetitions interleave the sides: a fresh CPython process (its warm-up round and one timed
 * round), then one fresh Node process per configuration (its warm-up round and one timed round),
 * so a drift of the machine's speed hits both sides of each per-repetition ratio alike.
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { loadBuild } from '../binding.js';
import { Runtime, type Ref, type RuntimeOptions } from '../runtime/index.js';
import { findPython, pyCreateDrop, runPython } from './python.js';
import { goal, makeRow, missingRow, nowNs, type RowSpec } from './stats.js';
import type { BenchRow } from './types.js';

// argv: JSON {createDrop, list, listCalls}. Prints one JSON line: ns per create+drop, ms per list.
const PY_TYPED = String.raw`
import gc, json, sys, time
cfg = json.loads(sys.argv[1])
class C:
    pass
${pyCreateDrop('C')}
def build_drop(n):
    some_list = [i for i in range(n)]
    del some_list
out = {}
for timed in (False, True):
    gc.collect()
    t0 = time.perf_counter_ns()
    create_drop(cfg['createDrop'])
    cd = (time.perf_counter_ns() - t0) / cfg['createDrop']
    ls = []
    for _ in range(cfg['listCalls']):
        t0 = time.perf_counter_ns()
        build_drop(cfg['list'])
        ls.append(time.perf_counter_ns() - t0)
    ls.sort()
    out = {'createDrop': cd, 'list': ls[len(ls) // 2] / 1e6}
print(json.dumps(out))
`;

/** The runtime configurations, each measured in its own process. */
const MODES = {
  guarded: { guard: true },
  guarded_plain: { guard: true, leakWarnings: false },
  unguarded: { guard: false },
  unguarded_plain: { guard: false, leakWarnings: false },
} as const satisfies Record<string, RuntimeOptions>;
type Mode = keyof typeof MODES;

/** What one child measures (ns per call; ms per list). */
interface ChildResult {
  empty: number;
  dup_release: number;
  getattr: number;
  setattr: number;
  append: number;
  getitem: number;
  len: number;
  createDrop: number;
  list: number;
}
type CallOp = Exclude<keyof ChildResult, 'empty' | 'createDrop' | 'list'>;
const CALL_OPS: readonly CallOp[] = ['dup_release', 'getattr', 'setattr', 'append', 'getitem', 'len'];

/** Sizes of one round. */
interface RoundSizes {
  calls: number;
  createDrop: number;
  list: number;
  listCalls: number;
}

/** Refs per timed batch of the calls that return one: held in a fresh array, released after the
 * batch's timing. */
const BATCH = 256;

// Each measured callee gets a loop function of its own (new Function: its own feedback), made
// once per name so that the warm-up round's optimized code is the timed round's: the call in the
// loop stays monomorphic and V8 inlines the callee as it would in user code.
type Timer<F> = (k: number, f: F, now: () => number, batch: number) => number;
const loops = new Map<string, Timer<never>>();
function loopFor<F>(name: string, make: () => Timer<F>): Timer<F> {
  let loop = loops.get(name) as Timer<F> | undefined;
  if (loop === undefined) {
    loop = make();
    loops.set(name, loop as Timer<never>);
  }
  return loop;
}

/** ns per call of `f(i)`, k calls. */
function timeCalls(name: string, k: number, f: (i: number) => void): number {
  const loop = loopFor(name, () => new Function('k', 'f', 'now', `// ${name}\nconst t = now();\nfor (let i = 0; i < k; i++) f(i);\nreturn (now() - t) / k;`) as Timer<(i: number) => void>);
  return loop(k, f, nowNs, BATCH);
}

/** ns per call of `make` (about k calls), its Refs released after each batch, untimed: the call
 * alone (one crossing and the new Ref), which is what the goal is about. */
function timeHeld(name: string, k: number, make: () => Ref): number {
  const loop = loopFor(name, () => new Function(
    'k',
    'make',
    'now',
    'batch',
    `// ${name}
const batches = Math.ceil(k / batch);
let dt = 0;
for (let b = 0; b < batches; b++) {
  const held = new Array(batch);
  const t = now();
  for (let j = 0; j < batch; j++) held[j] = make();
  dt += now() - t;
  for (let j = 0; j < batch; j++) held[j].release();
}
return dt / (batches * batch);`,
  ) as Timer<() => Ref>);
  return loop(k, make, nowNs, BATCH);
}

/** One round of every typed row in `rt` (release build). */
function round(rt: Runtime, s: RoundSizes): ChildResult {
  const empty = loadBuild('release').emptyCall as unknown as (a: number) => void;
  const ref = rt.int(100_000);
  const C = rt.defineClass('C');
  // its values size settled, and one instance living through the loops so that their pools stay
  // in use, as CPython's start-up objects keep every size class's pools in use
  for (let i = 0; i < 64; i++) C.new({ x: 1, y: 2 }).release();
  const keep = C.new({ x: 1, y: 2 });
  const o = C.new({ x: 1 });
  const l = rt.list([1, 2, 3]);
  const grow = rt.list();
  try {
    const k = s.calls;
    const e1 = timeCalls('empty', k, (i) => empty(i));
    const out: Omit<ChildResult, 'empty' | 'list'> = {
      dup_release: timeCalls('dup_release', k, () => ref.dup().release()),
      getattr: timeHeld('getattr', k, () => o.getattr('x')),
      getitem: timeHeld('getitem', k, () => l.getitem(1)),
      setattr: timeCalls('setattr', k, (i) => o.setattr('x', i)),
      len: timeCalls('len', k, () => l.len()),
      append: timeCalls('append', k, () => grow.append(7)),
      createDrop: timeCalls('create_drop', s.createDrop, () => C.new({ x: 1, y: 2 }).release()),
    };
    const e2 = timeCalls('empty', k, (i) => empty(i));
    // `[i for i in range(n)]` + `del`: rt.list() and appendRange (one native call for the range:
    // new ints from the runtime's allocator, list_append's over-allocation).
    const ts: number[] = [];
    for (let c = 0; c < s.listCalls; c++) {
      const t0 = nowNs();
      const lr = rt.list();
      lr.appendRange(0, s.list);
      lr.release();
      ts.push(nowNs() - t0);
    }
    ts.sort((a, b) => a - b);
    return { ...out, empty: (e1 + e2) / 2, list: ts.length === 0 ? NaN : (ts[ts.length >> 1] as number) / 1e6 };
  } finally {
    for (const x of [grow, l, o, keep, ref]) x.release();
  }
}

const WARMUP_ROUNDS = 2;

/** @internal The child's side: the warm-up rounds, then the timed one (printed as JSON). */
export function typedChild(mode: Mode, sizes: RoundSizes): ChildResult {
  const rt = Runtime.create({ build: 'release', ...MODES[mode] });
  try {
    // Two warm-up rounds: V8 settles a loop that makes Refs after about a million of them (its
    // tiers, the young generation's size). The list is one native call: one of them is its
    // warm-up.
    for (let w = 0; w < WARMUP_ROUNDS; w++) round(rt, { ...sizes, listCalls: Math.min(sizes.listCalls, 1 - w) });
    return round(rt, sizes);
  } finally {
    rt.close();
  }
}

export function typedRows(opts: { quick: boolean; reps: number; log: (s: string) => void }): BenchRow[] {
  const sizes: RoundSizes = {
    calls: opts.quick ? 20_000 : 500_000,
    createDrop: opts.quick ? 20_000 : 1_000_000,
    list: opts.quick ? 100_000 : 1_000_000,
    listCalls: opts.quick ? 3 : 5,
  };
  const self = pathToFileURL(new URL(import.meta.url).pathname).href;
  const child = (mode: Mode, listCalls: number): ChildResult => {
    const script = `import { typedChild } from ${JSON.stringify(self)};\nconsole.log(JSON.stringify(typedChild(${JSON.stringify(mode)}, ${JSON.stringify({ ...sizes, listCalls })})));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`typed child (${mode}) failed: ${(r.stderr ?? '').slice(-1000)}`);
    return JSON.parse(r.stdout.trim().split('\n').pop() as string) as ChildResult;
  };
  const py = findPython();
  let pyErr = py ? '' : 'CPython 3.12 not found (set REFCOUNT_LAB_PYTHON, or install python3.12)';
  const pyCreate: number[] = [];
  const pyList: number[] = [];
  const ours: Record<Mode, ChildResult[]> = { guarded: [], guarded_plain: [], unguarded: [], unguarded_plain: [] };
  for (let rep = 1; rep <= opts.reps; rep++) {
    if (py && !pyErr) {
      opts.log(`boundary: typed API, repetition ${rep}/${opts.reps}: CPython side ...`);
      try {
        const r = runPython<{ createDrop: number; list: number }>(py, PY_TYPED, [JSON.stringify({ createDrop: sizes.createDrop, list: sizes.list, listCalls: sizes.listCalls })]);
        pyCreate.push(r.createDrop);
        pyList.push(r.list);
      } catch (e) {
        pyErr = (e as Error).message.slice(0, 300);
      }
    }
    for (const mode of Object.keys(MODES) as Mode[]) {
      opts.log(`boundary: typed API, repetition ${rep}/${opts.reps}: ${mode} runtime ...`);
      // the list rows are the guarded and unguarded runtimes' (leak books make no list)
      ours[mode].push(child(mode, mode.endsWith('_plain') ? 0 : sizes.listCalls));
    }
  }
  const rows: BenchRow[] = [];
  const pick = (mode: Mode, key: keyof ChildResult): number[] => ours[mode].map((r) => r[key]);

  // Against one empty N-API call, guarded, with and without leak books.
  const callRows: Record<CallOp, [string, string, number]> = {
    dup_release: ['boundary.ref_dup_release', 'Ref.dup().release() (two crossings)', 2.2],
    getattr: ['boundary.typed.getattr', "o.getattr('x') (one crossing and a new Ref; released outside the timing)", 1.3],
    setattr: ['boundary.typed.setattr', "o.setattr('x', i) (a new int each time, as o.x = i)", 1.3],
    append: ['boundary.typed.append', `l.append(7) (the list grows to ${sizes.calls} items)`, 1.3],
    getitem: ['boundary.typed.getitem', 'l.getitem(1) (one crossing and a new Ref; released outside the timing)', 1.3],
    len: ['boundary.typed.len', 'l.len()', 1.3],
  };
  for (const op of CALL_OPS) {
    const [id, label, max] = callRows[op];
    for (const mode of ['guarded', 'guarded_plain'] as const) {
      const spec: RowSpec = {
        id: mode === 'guarded' ? id : `${id}.plain`,
        group: 'boundary',
        label: `${label}, typed API, guarded${mode === 'guarded' ? '' : ', leakWarnings: false'}`,
        unit: op === 'dup_release' ? 'ns/pair' : 'ns/call',
        anchorLabel: 'empty N-API call (emptyCall)',
        goal: goal('ratio', max, `<= ${max}x empty call`),
      };
      rows.push(makeRow(spec, pick(mode, op), pick(mode, 'empty')));
    }
  }

  // Against CPython 3.12.
  const pyOk = py !== null && !pyErr;
  const n = opts.quick ? `${sizes.createDrop} (quick)` : '1e6';
  const createDropRows: [Mode, string, number | null][] = [
    ['unguarded', 'unguarded runtime', 1.0],
    ['guarded', 'guarded runtime (the default)', 1.3],
    ['unguarded_plain', 'unguarded, leakWarnings: false', null],
    ['guarded_plain', 'guarded, leakWarnings: false', null],
  ];
  for (const [mode, what, max] of createDropRows) {
    const spec: RowSpec = {
      id: `boundary.typed.create_drop.${mode}`,
      group: 'boundary',
      label: `create+drop ${n} two-attribute instances, C.new({ x: 1, y: 2 }).release(), ${what}`,
      unit: 'ns/object',
      anchorLabel: py ? `CPython ${py.version}: o = C(); o.x = 1; o.y = 2; del o` : 'CPython 3.12',
      goal: max === null ? null : goal('ratio', max, `<= ${max.toFixed(1)}x CPython`),
    };
    rows.push(pyOk ? makeRow(spec, pick(mode, 'createDrop'), pyCreate) : missingRow(spec, pyErr));
  }
  for (const mode of ['unguarded', 'guarded'] as const) {
    const spec: RowSpec = {
      id: `boundary.typed.list_range.1e6${mode === 'guarded' ? '.guarded' : ''}`,
      group: 'boundary',
      label: `build and drop a list of range(${opts.quick ? sizes.list : '1e6'}): l = rt.list(); l.appendRange(0, n); l.release(), ${mode}`,
      unit: 'ms/list',
      anchorLabel: py ? `CPython ${py.version}: some_list = [i for i in range(n)]; del some_list` : 'CPython 3.12',
      // CPython checks no address: the goal is on the unguarded runtime; the guarded one's
      // registry of live objects is the model's own cost (docs/performance.md), shown beside it
      goal: mode === 'unguarded' ? goal('ratio', 1.0, '<= 1.0x CPython') : null,
    };
    rows.push(pyOk ? makeRow(spec, pick(mode, 'list'), pyList) : missingRow(spec, pyErr));
  }
  return rows;
}
