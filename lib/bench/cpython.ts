/**
 * CPython 3.12 itself as the anchor, in the same run: bench/native/cpython_bench.cc links our
 * release build's refcount kernel and pymalloc with CPython's own Py_INCREF / Py_DECREF (its
 * Python.h) and PyObject_Malloc / PyObject_Free (libpython3.12.so) and times them interleaved in
 * one process, with the same loops. Needs CPython 3.12 with its shared library (found through
 * lib/python.ts, then its sysconfig); without it the rows say how to get it.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { findPython, runPython } from './python.js';
import { goal, makeRow, missingRow, type RowSpec } from './stats.js';
import type { BenchRow } from './types.js';

const run = promisify(execFile);
const CC = process.env['CC'] ?? 'gcc';
const CXX = process.env['CXX'] ?? 'g++';

/** What compiling against the interpreter needs, from its sysconfig. */
export interface CPythonDev {
  readonly version: string;
  readonly include: string;
  readonly libdir: string;
  readonly ldlibrary: string;
  readonly shared: boolean;
  readonly prefix: string;
}

const PY_DEV = String.raw`
import json, sys, sysconfig
v = sysconfig.get_config_var
print(json.dumps({'version': sys.version.split()[0], 'include': sysconfig.get_paths()['include'],
  'libdir': v('LIBDIR') or '', 'ldlibrary': v('LDLIBRARY') or '', 'shared': bool(v('Py_ENABLE_SHARED')),
  'prefix': sys.base_prefix}))
`;

export const CPYTHON_DEV_HOWTO =
  'needs CPython 3.12 built with its shared library (libpython3.12.so) and its headers: ' +
  "pyenv: env PYTHON_CONFIGURE_OPTS='--enable-shared' pyenv install 3.12.1 (then PYENV_VERSION=3.12.1 or REFCOUNT_LAB_PYTHON=<that python3.12>); " +
  'Debian/Ubuntu: apt-get install python3.12-dev libpython3.12';

/** The interpreter's headers and shared library, or why they cannot be used. */
export function findCPythonDev(): { dev: CPythonDev; libPath: string } | { missing: string } {
  const py = findPython();
  if (!py) return { missing: `CPython 3.12 not found; ${CPYTHON_DEV_HOWTO}` };
  let dev: CPythonDev;
  try {
    dev = runPython<CPythonDev>(py, PY_DEV, []);
  } catch (e) {
    return { missing: `${py.description}: sysconfig failed (${(e as Error).message.slice(0, 200)}); ${CPYTHON_DEV_HOWTO}` };
  }
  const libPath = join(dev.libdir, dev.ldlibrary);
  if (!existsSync(join(dev.include, 'Python.h'))) return { missing: `${py.description}: no Python.h in ${dev.include}; ${CPYTHON_DEV_HOWTO}` };
  if (!dev.shared || !/\.so(\.|$)/.test(dev.ldlibrary) || !existsSync(libPath))
    return { missing: `${py.description} has no shared library (LDLIBRARY=${dev.ldlibrary || '?'}, Py_ENABLE_SHARED=${String(dev.shared)}); ${CPYTHON_DEV_HOWTO}` };
  return { dev, libPath };
}

const mtime = (p: string): number => (existsSync(p) ? statSync(p).mtimeMs : -1);

async function compile(cmd: string, args: string[], cwd: string): Promise<void> {
  try {
    await run(cmd, args, { cwd, maxBuffer: 1 << 24 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${(err.stderr ?? err.message).slice(0, 4000)}`);
  }
}

/** Compiles build/bench/cpython_bench (when stale, or built against another interpreter). */
export async function buildCPythonBench(root: string, releaseObjs: readonly string[], found: { dev: CPythonDev; libPath: string }, log: (s: string) => void): Promise<string> {
  const out = join(root, 'build', 'bench');
  mkdirSync(out, { recursive: true });
  const src = join(root, 'bench', 'native');
  const kc = join(src, 'cpython_kernels.c');
  const main = join(src, 'cpython_bench.cc');
  const ko = join(out, 'cpython_kernels.o');
  const bin = join(out, 'cpython_bench');
  const stampFile = join(out, 'cpython_bench.json');
  const stamp = JSON.stringify(found);
  const sameDev = existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
  if (!sameDev || mtime(ko) < mtime(kc)) {
    log(`cpython: compiling cpython_kernels.c against ${found.dev.include} ...`);
    await compile(CC, ['-O2', '-Wall', '-Wextra', `-I${found.dev.include}`, '-c', relative(root, kc), '-o', ko], root);
  }
  const inputs = [ko, main, join(src, 'alloc_loops.h'), ...releaseObjs];
  if (!sameDev || mtime(bin) < Math.max(...inputs.map(mtime))) {
    log(`cpython: linking cpython_bench with ${found.libPath} ...`);
    await compile(
      CXX,
      ['-std=c++17', '-O2', '-Wall', '-Wextra', '-DRCL_BUILD_RELEASE', '-Inative/core', relative(root, main), ko, ...releaseObjs, found.libPath, `-Wl,-rpath,${found.dev.libdir}`, '-o', bin],
      root,
    );
    writeFileSync(stampFile, stamp);
  }
  return bin;
}

interface CPythonBenchOut {
  cpython: string;
  n_l1: number;
  n_mem: number;
  bulk_n: number;
  kernels: { id: string; ns: number[] }[];
  warm: { ours: number[]; cpython: number[] };
  bulk: { size: number; ours: number[]; cpython: number[]; faults_per_block: { ours: number; cpython: number }; kernel_share: { ours: number; cpython: number } }[];
}

const BULK_SIZES = [16, 32, 48, 64, 96, 128, 192, 256, 384, 512];

function specs(version: string, nMem: number, bulkN = 1_000_000): { refcount: RowSpec[]; alloc: RowSpec[] } {
  const bulk = bulkN === 1_000_000 ? '1e6' : `${bulkN} (quick)`;
  const cp = `CPython ${version}`;
  const mem = `${(nMem / 1e6).toFixed(1)}M objects, shuffled, out of cache`;
  return {
    refcount: [
      { id: 'refcount.cpython.l1', group: 'refcount', label: `release Py_INCREF+Py_DECREF vs CPython's own (its Python.h), 512 objects, in cache`, unit: 'ns/pair', anchorLabel: `${cp} Py_INCREF+Py_DECREF`, goal: goal('ratio', 0.25, `<= 0.25x ${cp}`) },
      { id: 'refcount.cpython.mem', group: 'refcount', label: `release Py_INCREF+Py_DECREF vs CPython's own (its Python.h), ${mem}`, unit: 'ns/pair', anchorLabel: `${cp} Py_INCREF+Py_DECREF`, goal: null },
      { id: 'refcount.cpython_vs_plain.l1', group: 'refcount', label: `CPython's own Py_INCREF+Py_DECREF vs the plain loop over its objects, 512 objects, in cache`, unit: 'ns/pair', anchorLabel: 'plain 64-bit ++/-- loop', goal: null },
    ],
    alloc: [
      { id: 'alloc.cpython.pair_warm', group: 'alloc', label: 'pymalloc alloc+free pair, 16..512 B, warm pools, vs CPython\'s own', unit: 'ns/pair', anchorLabel: `${cp} PyObject_Malloc+PyObject_Free`, goal: goal('ratio', 0.7, `<= 0.7x ${cp}`) },
      ...BULK_SIZES.map((n): RowSpec => ({ id: `alloc.cpython.bulk.${n}`, group: 'alloc', label: `pymalloc ${bulk} alloc then ${bulk} free of ${n} B, vs CPython's own`, unit: 'ns/block', anchorLabel: `${cp} PyObject_Malloc / PyObject_Free`, goal: goal('ratio', 0.8, `<= 0.8x ${cp}`) })),
    ],
  };
}

/** The rows, each saying why when CPython's library is not there or the binary failed. */
export function cpythonMissingRows(note: string): { refcount: BenchRow[]; alloc: BenchRow[] } {
  const s = specs('3.12', 4_000_000);
  return { refcount: s.refcount.map((x) => missingRow(x, note)), alloc: s.alloc.map((x) => missingRow(x, note)) };
}

export async function cpythonRows(
  root: string,
  releaseObjs: readonly string[],
  opts: { quick: boolean; reps: number; allocReps: number; log: (s: string) => void },
): Promise<{ refcount: BenchRow[]; alloc: BenchRow[] }> {
  const found = findCPythonDev();
  if ('missing' in found) return cpythonMissingRows(found.missing);
  let bin: string;
  try {
    bin = await buildCPythonBench(root, releaseObjs, found, opts.log);
  } catch (e) {
    return cpythonMissingRows((e as Error).message.slice(0, 500));
  }
  const nMem = opts.quick ? 1_000_000 : 4_000_000;
  const args = ['--n-l1', '512', '--n-mem', String(nMem), '--reps', String(opts.reps), '--target-ms', opts.quick ? '2' : '20', '--alloc-reps', String(opts.allocReps), '--bulk-n', opts.quick ? '100000' : '1000000'];
  opts.log(`cpython: ${bin} ${args.join(' ')}`);
  // CPython's default allocators (pymalloc): no PYTHONMALLOC from the caller's environment.
  const { PYTHONMALLOC: _unused, ...env } = process.env;
  void _unused;
  const r = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 1 << 24, env: { ...env, PYTHONHOME: found.dev.prefix } });
  if (r.status !== 0) return cpythonMissingRows(`cpython_bench failed (${String(r.status ?? r.signal)}): ${(r.stderr ?? '').slice(-500)}`);
  const j = JSON.parse(r.stdout) as CPythonBenchOut;
  const s = specs(j.cpython, j.n_mem, j.bulk_n);
  const k = new Map(j.kernels.map((x) => [x.id, x.ns]));
  const pick = (id: string): number[] => k.get(id) ?? [];
  const [rl1, rmem, rplain] = s.refcount as [RowSpec, RowSpec, RowSpec];
  const refcount = [makeRow(rl1, pick('release.l1'), pick('cpython.l1')), makeRow(rmem, pick('release.mem'), pick('cpython.mem')), makeRow(rplain, pick('cpython.l1'), pick('cpython_plain.l1'))];
  const [warm, ...bulk] = s.alloc as [RowSpec, ...RowSpec[]];
  const alloc = [makeRow(warm, j.warm.ours, j.warm.cpython)];
  bulk.forEach((spec, i) => {
    const b = j.bulk.find((x) => x.size === BULK_SIZES[i]);
    const pct = (x: number): string => `${Math.round(x * 100)} %`;
    const note = b
      ? `page faults/block ours ${b.faults_per_block.ours.toFixed(3)}, CPython ${b.faults_per_block.cpython.toFixed(3)}; kernel share of CPU time ours ${pct(b.kernel_share.ours)}, CPython ${pct(b.kernel_share.cpython)}`
      : '';
    alloc.push(b ? makeRow({ ...spec, note }, b.ours, b.cpython) : missingRow(spec, 'size missing from cpython_bench output'));
  });
  return { refcount, alloc };
}
