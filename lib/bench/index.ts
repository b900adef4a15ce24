/**
 * The benchmark suite: every cost next to its anchor, measured in the same run.
 *
 * ```ts
 * // from inside the package (e.g. a CLI in dist/cli/): the exports map has no bench subpath, so
 * // import it relatively
 * import { runBench, formatTable } from '../bench/index.js';
 * const report = await runBench({ quick: true });
 * console.log(formatTable(report));
 * ```
 * `npm run bench` (bench/run.mjs) is the command-line front end. See docs/performance.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../binding.js';
import { boundaryRows } from './boundary.js';
import { typedRows } from './typed.js';
import { gcRows, memoryRows } from './collect.js';
import { cpythonMissingRows, cpythonRows } from './cpython.js';
import { allocRows, buildNative, compilerVersion, perfStatus, refcountRows } from './native.js';
import { provenanceRows } from './provenance.js';
import { findPython } from './python.js';
import { missingRow } from './stats.js';
import type { BenchGroup, BenchMachine, BenchOptions, BenchReport, BenchRow } from './types.js';

export type { BenchGoal, BenchGroup, BenchMachine, BenchOptions, BenchReport, BenchRow } from './types.js';
export { parseAllocBench } from './native.js';

export const BENCH_GROUPS: readonly BenchGroup[] = ['refcount', 'boundary', 'alloc', 'gc', 'memory', 'provenance'];

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    /* not Linux */
  }
  return cpus()[0]?.model ?? 'unknown';
}

export function machineInfo(): BenchMachine {
  const py = findPython();
  return {
    cpu: cpuModel(),
    cores: cpus().length,
    node: process.version,
    compiler: compilerVersion(),
    python: py ? py.description : 'CPython 3.12 not found',
    os: `${platform()} ${release()}`,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    perf: perfStatus().text,
    date: new Date().toISOString(),
  };
}

/** Runs the suite (or the groups in `options.only`). Never throws for a group that fails: its
 * rows carry the error in `note`. */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const t0 = Date.now();
  const quick = options.quick ?? false;
  const reps = Math.max(1, options.reps ?? (quick ? 3 : 11));
  const log = options.log ?? (() => {});
  const groups = new Set(options.only ?? BENCH_GROUPS);
  const root = packageRoot();
  const distDir = dirname(dirname(fileURLToPath(import.meta.url)));
  const rows: BenchRow[] = [];
  const failed = (group: BenchGroup, e: unknown): void => {
    const msg = e instanceof Error ? e.message : String(e);
    log(`${group}: FAILED: ${msg}`);
    rows.push(missingRow({ id: `${group}.error`, group, label: `${group} rows could not run`, unit: '', anchorLabel: '', goal: null }, msg.slice(0, 500)));
  };

  if (groups.has('refcount') || groups.has('alloc')) {
    const haveSrc = existsSync(join(root, 'bench', 'native', 'refcount_bench.cc'));
    if (!haveSrc) {
      for (const g of ['refcount', 'alloc'] as const)
        if (groups.has(g)) failed(g, new Error('the native bench sources (bench/native/) ship only with a source checkout'));
    } else {
      try {
        const bins = await buildNative(root, log);
        if (groups.has('refcount')) {
          try {
            rows.push(...(await refcountRows(bins.refcount, { quick, reps: quick ? reps : Math.max(reps, 15), callgrind: options.callgrind ?? false, log })));
          } catch (e) {
            failed('refcount', e);
          }
        }
        if (groups.has('alloc')) {
          try {
            rows.push(...(await allocRows(bins.alloc, { reps: quick ? 1 : Math.min(reps, 5), quick, log })));
          } catch (e) {
            failed('alloc', e);
          }
        }
        // CPython 3.12's own macros and pymalloc, timed in one process with ours (cpython.ts).
        try {
          const cp = await cpythonRows(root, bins.releaseObjs, { quick, reps: quick ? reps : Math.max(reps, 15), allocReps: quick ? 1 : Math.min(reps, 5), log });
          if (groups.has('refcount')) rows.push(...cp.refcount);
          if (groups.has('alloc')) rows.push(...cp.alloc);
        } catch (e) {
          const cp = cpythonMissingRows((e instanceof Error ? e.message : String(e)).slice(0, 500));
          if (groups.has('refcount')) rows.push(...cp.refcount);
          if (groups.has('alloc')) rows.push(...cp.alloc);
        }
      } catch (e) {
        for (const g of ['refcount', 'alloc'] as const) if (groups.has(g)) failed(g, e);
      }
    }
  }
  if (groups.has('boundary')) {
    log('boundary: JS -> native calls ...');
    try {
      rows.push(...boundaryRows({ quick, reps, log }));
    } catch (e) {
      failed('boundary', e);
    }
    log('boundary: the typed API vs CPython 3.12 ...');
    try {
      rows.push(...typedRows({ quick, reps: quick ? 1 : reps, log }));
    } catch (e) {
      failed('boundary', e);
    }
  }
  if (groups.has('gc')) {
    try {
      const haveSrc = existsSync(join(root, 'bench', 'native', 'refcount_bench.cc'));
      const refBin = haveSrc ? (await buildNative(root, log)).refcount : null;
      const coreCreateDrop = refBin
        ? (n: number, r: number): number[] => {
            const res = spawnSync(refBin, ['--create-drop', String(n), '--reps', String(r)], { encoding: 'utf8' });
            if (res.status !== 0) throw new Error(`refcount_bench --create-drop failed: ${res.stderr}`);
            return (JSON.parse(res.stdout) as { create_drop: number[] }).create_drop;
          }
        : undefined;
      rows.push(...gcRows({ quick, reps: quick ? 1 : Math.min(reps, 5), log, ...(coreCreateDrop ? { coreCreateDrop } : {}) }));
    } catch (e) {
      failed('gc', e);
    }
  }
  if (groups.has('memory')) {
    try {
      rows.push(...memoryRows(distDir, { quick, reps: quick ? 1 : 3, log }));
    } catch (e) {
      failed('memory', e);
    }
  }
  if (groups.has('provenance')) {
    try {
      rows.push(...provenanceRows({ quick, reps: quick ? 1 : Math.min(reps, 5), log }));
    } catch (e) {
      failed('provenance', e);
    }
  }
  return { machine: machineInfo(), quick, rows, seconds: Math.round((Date.now() - t0) / 100) / 10 };
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

const fmt = (x: number | null, unit = ''): string => (x === null ? '-' : `${x < 10 ? x.toFixed(2) : x < 1000 ? x.toFixed(1) : x.toFixed(0)}${unit}`);
const verdict = (r: BenchRow): string => (r.met === null ? (r.goal ? 'n/a' : '') : r.met ? 'met' : 'MISSED');
const range = (r: BenchRow): string => (r.ratioMin === null || r.ratioMax === null ? '' : `${fmt(r.ratioMin)}..${fmt(r.ratioMax)}`);
const counters = (r: BenchRow): string =>
  r.counters ? `${r.counters.source}: ${r.counters.instructions ?? '?'} ins${r.counters.anchorInstructions !== undefined ? ` vs ${r.counters.anchorInstructions}` : ''}${r.counters.cycles !== undefined ? `, ${r.counters.cycles} cyc` : ''}` : '';

export function machineLine(m: BenchMachine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.os}, Node ${m.node}, ${m.compiler}, ${m.python}, load ${m.loadavg.join(' ')}, ${m.perf}`;
}

function cells(r: BenchRow): string[] {
  const goalText = r.goal ? r.goal.text : '';
  const note = [counters(r), r.note ?? ''].filter(Boolean).join('; ');
  return [r.id, r.label, `${fmt(r.value)} ${r.unit}`, `${fmt(r.anchor)} (${r.anchorLabel})`, fmt(r.ratio), range(r), goalText, verdict(r), note];
}
const HEAD = ['id', 'what', 'value', 'anchor', 'ratio', 'per-rep', 'goal', 'met', 'notes'];

/** A plain-text table, one row per line, columns aligned. */
export function formatTable(report: BenchReport): string {
  const lines = [`machine: ${machineLine(report.machine)}`, `mode: ${report.quick ? 'QUICK (smoke run: sizes too small to judge speed)' : 'full'}, ${report.seconds}s`, ''];
  const table = [HEAD, ...report.rows.map(cells)];
  const skip = new Set([1]); // the label is printed on its own line below the id when long
  const widths = HEAD.map((_, c) => Math.max(...table.map((r) => (r[c] ?? '').length)));
  for (const r of table) lines.push(r.map((c, i) => (skip.has(i) ? '' : c.padEnd(widths[i] ?? 0))).filter((c, i) => !skip.has(i) || c).join('  ').trimEnd());
  lines.push('', 'rows:');
  for (const r of report.rows) lines.push(`  ${r.id}: ${r.label}`);
  const withGoal = report.rows.filter((r) => r.goal);
  lines.push('', `goals: ${withGoal.filter((r) => r.met === true).length} met, ${withGoal.filter((r) => r.met === false).length} missed, ${withGoal.filter((r) => r.met === null).length} not measured`);
  return lines.join('\n');
}

/** A GitHub-flavoured markdown table (CI job summaries). */
export function formatMarkdown(report: BenchReport): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [
    `**Machine:** ${esc(machineLine(report.machine))}  `,
    `**Mode:** ${report.quick ? 'quick (smoke run, not a speed measurement)' : 'full'}, ${report.seconds}s`,
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map(() => '---').join('|')}|`,
    ...report.rows.map((r) => `| ${cells(r).map(esc).join(' | ')} |`),
  ];
  return lines.join('\n');
}
