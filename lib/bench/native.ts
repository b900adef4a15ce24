/**
 * The native rows: refcount loops (bench/native/refcount_bench.cc, the three builds linked into
 * one binary) and the allocator bench (bench/native/alloc_bench.cc, run as is and parsed).
 * Both are compiled with g++ -O2 into build/bench/ when missing or older than their sources.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { goal, makeRow, missingRow, type RowSpec } from './stats.js';
import type { BenchRow } from './types.js';

const run = promisify(execFile);
const BUILDS = ['release', 'debug', 'nodealloc'] as const;
const CXX = process.env['CXX'] ?? 'g++';

function walk(dir: string, ext: RegExp): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, ext));
    else if (ext.test(e.name)) out.push(p);
  }
  return out;
}
const mtime = (p: string): number => (existsSync(p) ? statSync(p).mtimeMs : -1);
const newest = (ps: readonly string[]): number => Math.max(0, ...ps.map(mtime));

/** Runs `jobs` with at most `width` at a time (the machine has 2 cores shared with others). */
async function pool<T>(jobs: (() => Promise<T>)[], width = 2): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, jobs.length) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await (jobs[i] as () => Promise<T>)();
      }
    }),
  );
  return out;
}

async function cxx(root: string, args: string[]): Promise<void> {
  try {
    await run(CXX, ['-std=c++17', '-O2', '-Inative/core', ...args], { cwd: root, maxBuffer: 1 << 24 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${CXX} ${args.join(' ')} failed:\n${(err.stderr ?? err.message).slice(0, 4000)}`);
  }
}

/** The compiler's first version line. */
export function compilerVersion(): string {
  const r = spawnSync(CXX, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout.split('\n')[0] ?? CXX) : `${CXX} not found`;
}

export interface NativeBinaries {
  refcount: string;
  alloc: string;
  /** The release build's kernel object and core objects (cpython_bench links them). */
  releaseObjs: string[];
}

/** Compiles (when stale) refcount_bench and alloc_bench; returns their paths. */
export async function buildNative(root: string, log: (s: string) => void): Promise<NativeBinaries> {
  const out = join(root, 'build', 'bench');
  mkdirSync(out, { recursive: true });
  const coreSrcs = walk(join(root, 'native', 'core'), /\.cc$/);
  const headers = walk(join(root, 'native', 'core'), /\.h$/);
  const coreStamp = newest([...coreSrcs, ...headers]);

  // Core objects per build: node-gyp's when they are newer than every core source, else ours.
  const coreObjs: string[] = [];
  const releaseCore: string[] = [];
  const jobs: (() => Promise<void>)[] = [];
  for (const b of BUILDS) {
    const gypDir = join(root, 'build', 'Release', 'obj.target', `refcount_${b}`, 'native', 'core');
    const gyp = coreSrcs.map((s) => join(gypDir, relative(join(root, 'native', 'core'), s).replace(/\.cc$/, '.o')));
    if (gyp.every((o) => mtime(o) >= coreStamp)) {
      coreObjs.push(...gyp);
      if (b === 'release') releaseCore.push(...gyp);
      continue;
    }
    for (const s of coreSrcs) {
      const o = join(out, `core_${b}`, relative(join(root, 'native', 'core'), s).replace(/[/\\]/g, '_').replace(/\.cc$/, '.o'));
      coreObjs.push(o);
      if (b === 'release') releaseCore.push(o);
      if (mtime(o) >= coreStamp) continue;
      mkdirSync(join(out, `core_${b}`), { recursive: true });
      jobs.push(() => cxx(root, [`-DRCL_BUILD_${b.toUpperCase()}`, '-c', relative(root, s), '-o', o]));
    }
  }
  const kernelSrc = join(root, 'bench', 'native', 'refcount_kernels.cc');
  const mainSrc = join(root, 'bench', 'native', 'refcount_bench.cc');
  const kernelObjs = BUILDS.map((b) => join(out, `kernels_${b}.o`));
  BUILDS.forEach((b, i) => {
    const o = kernelObjs[i] as string;
    if (mtime(o) < Math.max(coreStamp, mtime(kernelSrc)))
      jobs.push(() => cxx(root, [`-DRCL_BUILD_${b.toUpperCase()}`, '-c', relative(root, kernelSrc), '-o', o]));
  });
  const refBin = join(out, 'refcount_bench');
  const allocSrc = join(root, 'bench', 'native', 'alloc_bench.cc');
  const allocLoops = join(root, 'bench', 'native', 'alloc_loops.h');
  const allocBin = join(out, 'alloc_bench');
  if (mtime(allocBin) < Math.max(coreStamp, mtime(allocSrc), mtime(allocLoops)))
    jobs.push(() =>
      cxx(root, ['-DRCL_BUILD_RELEASE', 'native/core/obmalloc.cc', relative(root, allocSrc), '-ldl', '-o', allocBin]),
    );
  if (jobs.length) log(`compiling ${jobs.length} native bench unit(s) with ${CXX} -O2 ...`);
  await pool(jobs);
  if (mtime(refBin) < Math.max(...[...coreObjs, ...kernelObjs, mainSrc].map(mtime))) {
    await cxx(root, [relative(root, mainSrc), ...kernelObjs, ...coreObjs, '-o', refBin]);
  }
  return { refcount: refBin, alloc: allocBin, releaseObjs: [kernelObjs[0] as string, ...releaseCore] };
}

// ---------------------------------------------------------------------------------------------
// Refcount rows
// ---------------------------------------------------------------------------------------------

interface KernelResult {
  id: string;
  passes: number;
  ns: number[];
}

/** The symbol of each kernel (for callgrind's --toggle-collect). */
const KERNEL_FN: Record<string, string> = {
  plain: 'rcb_plain',
  release: 'rcb_pair_release',
  debug: 'rcb_pair_debug',
  nodealloc: 'rcb_pair_nodealloc',
  literal: 'rcb_pair_literal_release',
  atomic: 'rcb_atomic',
  shared_ptr: 'rcb_shared',
};

interface RefRowDef {
  id: string;
  label: string;
  value: string; // kernel.set
  anchor: string;
  anchorLabel: string;
  goal: RowSpec['goal'];
}

function refRowDefs(nL1: number, nMem: number): RefRowDef[] {
  const l1 = `${nL1} objects, in cache`;
  const mem = `${(nMem / 1e6).toFixed(1)}M objects, shuffled, out of cache`;
  const defs: RefRowDef[] = [];
  for (const set of ['l1', 'mem'] as const) {
    const where = set === 'l1' ? l1 : mem;
    const g = set === 'l1' ? goal('ratio', 1.5, '<= 1.5x plain') : goal('ratio', 1.3, '<= 1.3x plain');
    for (const b of BUILDS)
      defs.push({ id: `refcount.${b}.${set}`, label: `${b} Py_INCREF+Py_DECREF (${where})`, value: `${b}.${set}`, anchor: `plain.${set}`, anchorLabel: 'plain 64-bit ++/-- loop', goal: g });
    defs.push({ id: `refcount.debug_vs_release.${set}`, label: `debug build pair vs release pair (${where})`, value: `debug.${set}`, anchor: `release.${set}`, anchorLabel: 'release pair', goal: goal('ratio', 1.3, '<= 1.3x release') });
    defs.push({ id: `refcount.literal.${set}`, label: `CPython's literal incref (32-bit store) + decref (${where})`, value: `literal.${set}`, anchor: `release.${set}`, anchorLabel: 'our 64-bit incref + decref', goal: null });
    defs.push({ id: `refcount.atomic.${set}`, label: `std::atomic fetch_add + fetch_sub (${where})`, value: `atomic.${set}`, anchor: `plain.${set}`, anchorLabel: 'plain 64-bit ++/-- loop', goal: null });
    defs.push({ id: `refcount.shared_ptr.${set}`, label: `std::shared_ptr copy + destroy (${where})`, value: `shared_ptr.${set}`, anchor: `plain.${set}`, anchorLabel: 'plain 64-bit ++/-- loop', goal: null });
  }
  defs.push({ id: 'refcount.immortal.l1', label: `release pair on immortal objects (${l1})`, value: 'release.imm', anchor: 'plain.imm', anchorLabel: 'plain 64-bit ++/-- loop', goal: null });
  return defs;
}

/** perf stat availability: "instructions,cycles" when counting works, else why not. */
export function perfStatus(): { ok: boolean; text: string } {
  const r = spawnSync('perf', ['stat', '-x,', '-e', 'instructions,cycles', 'true'], { encoding: 'utf8' });
  if (r.error) return { ok: false, text: 'perf not installed' };
  const lines = (r.stderr ?? '').split('\n').filter((l) => /instructions|cycles/.test(l));
  const ok = lines.length >= 2 && lines.every((l) => /^\d/.test(l));
  return { ok, text: ok ? 'perf stat: instructions, cycles' : 'perf stat: counters not supported here (VM?)' };
}

function perfCount(bin: string, args: string[]): { instructions: number; cycles: number } | null {
  const r = spawnSync('perf', ['stat', '-x,', '-e', 'instructions,cycles', bin, ...args], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const get = (name: string): number => {
    const l = (r.stderr ?? '').split('\n').find((x) => x.includes(name));
    return l ? Number(l.split(',')[0]) : NaN;
  };
  return { instructions: get('instructions'), cycles: get('cycles') };
}

/** Instructions per pair of each l1 kernel, from perf stat (P passes minus 0 passes). */
function perfPerPair(bin: string, nL1: number): Map<string, { instructions: number; cycles: number }> {
  const m = new Map<string, { instructions: number; cycles: number }>();
  const passes = 20000;
  for (const k of [...Object.keys(KERNEL_FN).map((k) => `${k}.l1`), 'plain.imm', 'release.imm']) {
    const base = perfCount(bin, ['--only', k, '--passes', '0', '--n-l1', String(nL1), '--n-mem', '1']);
    const full = perfCount(bin, ['--only', k, '--passes', String(passes), '--n-l1', String(nL1), '--n-mem', '1']);
    if (!base || !full) continue;
    const pairs = passes * nL1;
    m.set(k, { instructions: (full.instructions - base.instructions) / pairs, cycles: (full.cycles - base.cycles) / pairs });
  }
  return m;
}

/** Instructions per pair of each l1 kernel, counted by callgrind inside the kernel function. */
function callgrindPerPair(bin: string, outDir: string, log: (s: string) => void): Map<string, number> {
  const m = new Map<string, number>();
  const nL1 = 512;
  const passes = 20;
  const probe = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    log('callgrind: valgrind not found (apt-get install valgrind)');
    return m;
  }
  for (const k of [...Object.keys(KERNEL_FN).map((k) => `${k}.l1`), 'plain.imm', 'release.imm']) {
    const fn = KERNEL_FN[k.split('.')[0] as string] as string;
    const file = join(outDir, `callgrind.${k}.out`);
    rmSync(file, { force: true });
    const r = spawnSync(
      'valgrind',
      ['--tool=callgrind', `--callgrind-out-file=${file}`, `--toggle-collect=${fn}`, bin, '--only', k, '--passes', String(passes), '--n-l1', String(nL1), '--n-mem', '1'],
      { encoding: 'utf8' },
    );
    if (r.status !== 0 || !existsSync(file)) {
      log(`callgrind ${k}: failed (${(r.stderr ?? '').split('\n').slice(-3).join(' ')})`);
      continue;
    }
    const txt = readFileSync(file, 'utf8');
    const mm = /^(?:summary|totals):\s*(\d+)/m.exec(txt);
    if (mm) m.set(k, Number(mm[1]) / (nL1 * passes));
  }
  return m;
}

export async function refcountRows(
  bin: string,
  opts: { quick: boolean; reps: number; callgrind: boolean; log: (s: string) => void },
): Promise<BenchRow[]> {
  const nL1 = 512;
  const nMem = opts.quick ? 1_000_000 : 4_000_000;
  const args = ['--suite', '--n-l1', String(nL1), '--n-mem', String(nMem), '--reps', String(opts.reps), '--target-ms', opts.quick ? '2' : '20'];
  opts.log(`refcount: ${bin} ${args.join(' ')}`);
  const { stdout } = await run(bin, args, { maxBuffer: 1 << 24 });
  const res = JSON.parse(stdout) as { kernels: KernelResult[] };
  const byId = new Map(res.kernels.map((k) => [k.id, k.ns]));
  let counters: Map<string, { instructions: number; cycles?: number }> | null = null;
  let source: 'perf' | 'callgrind' = 'perf';
  if (opts.callgrind) {
    opts.log('refcount: counting instructions with callgrind ...');
    counters = new Map([...callgrindPerPair(bin, join(bin, '..'), opts.log)].map(([k, v]) => [k, { instructions: v }]));
    source = 'callgrind';
  } else if (!opts.quick && perfStatus().ok) {
    counters = perfPerPair(bin, nL1);
  }
  return refRowDefs(nL1, nMem).map((d) => {
    const spec: RowSpec = { id: d.id, group: 'refcount', label: d.label, unit: 'ns/pair', anchorLabel: d.anchorLabel, goal: d.goal };
    const v = byId.get(d.value);
    const a = byId.get(d.anchor);
    if (!v || !a) return missingRow(spec, `kernel ${d.value} or ${d.anchor} missing from the output`);
    const row = makeRow(spec, v, a);
    const cv = counters?.get(d.value);
    const ca = counters?.get(d.anchor);
    if (!cv) return row;
    return {
      ...row,
      counters: {
        source,
        instructions: Number(cv.instructions.toFixed(2)),
        ...(cv.cycles !== undefined ? { cycles: Number(cv.cycles.toFixed(2)) } : {}),
        ...(ca ? { anchorInstructions: Number(ca.instructions.toFixed(2)) } : {}),
      },
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Allocator rows (alloc_bench's text output)
// ---------------------------------------------------------------------------------------------

type Who = 'ours' | 'glibc' | 'mimalloc' | 'jemalloc';
interface AllocRun {
  warm: Partial<Record<Who, number>>;
  cold: Partial<Record<Who, number>>;
  bulk: Partial<Record<Who, number>>;
  rssMiB: Partial<Record<Who, number>>;
  payloadMiB: number;
  mimallocMissing: boolean;
}

/** Parses alloc_bench's report. Tolerant: unknown lines are skipped. */
export function parseAllocBench(text: string): AllocRun {
  const r: AllocRun = { warm: {}, cold: {}, bulk: {}, rssMiB: {}, payloadMiB: NaN, mimallocMissing: /mimalloc not found/.test(text) };
  let section: 'warm' | 'cold' | 'bulk' | 'rssMiB' | null = null;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      section = /RSS/i.test(line) ? 'rssMiB' : /bulk/i.test(line) ? 'bulk' : /warm/i.test(line) ? 'warm' : /cold/i.test(line) ? 'cold' : null;
      const p = /payload\s+([\d.]+)\s*MiB/.exec(line);
      if (p) r.payloadMiB = Number(p[1]);
      continue;
    }
    const m = /^\s+(pymalloc \(ours\)|glibc malloc|mimalloc|jemalloc)\s+([\d.]+)/.exec(line);
    if (!m || !section) continue;
    const who: Who = m[1] === 'glibc malloc' ? 'glibc' : m[1] === 'mimalloc' ? 'mimalloc' : m[1] === 'jemalloc' ? 'jemalloc' : 'ours';
    r[section][who] = Number(m[2]);
  }
  return r;
}

/** libjemalloc.so.2 from the dynamic linker's cache, or null. */
function findJemalloc(): string | null {
  const r = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' });
  const m = /libjemalloc\.so\.2 \([^)]*x86-64[^)]*\) => (\S+)/.exec(r.stdout ?? '') ?? /libjemalloc\.so\.2 .*=> (\S+)/.exec(r.stdout ?? '');
  return m?.[1] && existsSync(m[1]) ? m[1] : null;
}

export async function allocRows(bin: string, opts: { reps: number; quick?: boolean; log: (s: string) => void }): Promise<BenchRow[]> {
  const runs: AllocRun[] = [];
  for (let i = 0; i < opts.reps; i++) {
    opts.log(`alloc: ${bin} (${i + 1}/${opts.reps})`);
    const { stdout } = await run(bin, [], { maxBuffer: 1 << 24 });
    runs.push(parseAllocBench(stdout));
  }
  // jemalloc cannot be dlopen'ed (its initial-exec TLS), so it is measured as the system malloc
  // of a second run with LD_PRELOAD: that run's own pymalloc numbers are its ratios' values.
  const je = opts.quick ? null : findJemalloc();
  const jeRuns: AllocRun[] = [];
  for (let i = 0; je && i < Math.min(opts.reps, 2); i++) {
    opts.log(`alloc: ${bin} with LD_PRELOAD=${je} (${i + 1})`);
    const { stdout } = await run(bin, [], { maxBuffer: 1 << 24, env: { ...process.env, LD_PRELOAD: je, RCL_SYSTEM_MALLOC_NAME: 'jemalloc' } });
    jeRuns.push(parseAllocBench(stdout));
  }
  const missText: Record<'mimalloc' | 'jemalloc', string> = {
    mimalloc: 'mimalloc not installed: apt-get install libmimalloc2.0 (dlopen libmimalloc.so.2)',
    jemalloc: opts.quick ? 'not measured with --quick' : 'jemalloc not installed: apt-get install libjemalloc2 (measured with LD_PRELOAD=libjemalloc.so.2)',
  };
  const miss = missText.mimalloc;
  const rows: BenchRow[] = [];
  const label = (w: Who): string => (w === 'glibc' ? 'glibc malloc' : w);
  const pairRow = (id: string, text: string, unit: string, pick: (r: AllocRun) => Partial<Record<Who, number>>, anchor: Who, g: RowSpec['goal']): void => {
    const spec: RowSpec = { id, group: 'alloc', label: text, unit, anchorLabel: label(anchor), goal: g };
    const src = anchor === 'jemalloc' ? jeRuns : runs;
    const v = src.map((r) => pick(r).ours).filter((x): x is number => x !== undefined);
    const a = src.map((r) => pick(r)[anchor]).filter((x): x is number => x !== undefined);
    if ((anchor === 'mimalloc' || anchor === 'jemalloc') && a.length === 0) rows.push(missingRow(spec, missText[anchor]));
    else if (v.length === 0 || a.length !== v.length) rows.push(missingRow(spec, 'alloc_bench output not recognised'));
    else rows.push(makeRow(spec, v, a));
  };
  for (const anchor of ['glibc', 'mimalloc', 'jemalloc'] as const) {
    // Goals against glibc; mimalloc and jemalloc are information (the goals against an
    // allocator of the same design are the CPython rows: alloc.cpython.*).
    const g = (max: number): RowSpec['goal'] => (anchor === 'glibc' ? goal('ratio', max, `<= ${max}x glibc`) : null);
    pairRow(`alloc.pair_warm.${anchor}`, 'pymalloc alloc+free pair, 16..512 B, warm pools', 'ns/pair', (r) => r.warm, anchor, g(0.5));
    pairRow(`alloc.pair_cold.${anchor}`, 'pymalloc alloc+free pair, 16..512 B, nothing else live', 'ns/pair', (r) => r.cold, anchor, g(0.5));
    pairRow(`alloc.bulk.${anchor}`, 'pymalloc 1e6 alloc then 1e6 free, 16..128 B', 'ns/block', (r) => r.bulk, anchor, null);
  }
  // Peak RSS per object (bytes), 1e6 objects.
  const perObj = (mib: number | undefined): number | undefined => (mib === undefined ? undefined : (mib * 1048576) / 1e6);
  const rssRow = (id: string, anchor: Who | 'payload', g: RowSpec['goal']): void => {
    const spec: RowSpec = { id, group: 'alloc', label: 'pymalloc peak RSS per object, bulk 1e6 x 16..128 B', unit: 'B/object', anchorLabel: anchor === 'payload' ? 'payload bytes' : anchor === 'glibc' ? 'glibc malloc' : 'mimalloc', goal: g };
    const v = runs.map((r) => perObj(r.rssMiB.ours)).filter((x): x is number => x !== undefined);
    const a = runs.map((r) => perObj(anchor === 'payload' ? r.payloadMiB : r.rssMiB[anchor])).filter((x): x is number => x !== undefined && Number.isFinite(x));
    if (anchor === 'mimalloc' && a.length === 0) rows.push(missingRow(spec, miss));
    else if (v.length === 0 || a.length !== v.length) rows.push(missingRow(spec, 'alloc_bench output not recognised'));
    else rows.push(makeRow(spec, v, a));
  };
  rssRow('alloc.rss.payload', 'payload', goal('ratio', 1.1, '<= 1.1x payload'));
  rssRow('alloc.rss.glibc', 'glibc', null);
  rssRow('alloc.rss.mimalloc', 'mimalloc', null);
  {
    const spec: RowSpec = { id: 'alloc.rss.jemalloc', group: 'alloc', label: 'pymalloc peak RSS per object, bulk 1e6 x 16..128 B', unit: 'B/object', anchorLabel: 'jemalloc', goal: null };
    const v = jeRuns.map((r) => perObj(r.rssMiB.ours)).filter((x): x is number => x !== undefined);
    const a = jeRuns.map((r) => perObj(r.rssMiB.jemalloc)).filter((x): x is number => x !== undefined);
    rows.push(a.length && a.length === v.length ? makeRow(spec, v, a) : missingRow(spec, missText.jemalloc));
  }
  return rows;
}
