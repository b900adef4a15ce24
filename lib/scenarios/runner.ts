/**
 * Running scenarios in child processes (so a segfault or abort() ends the child, never the
 * caller), running the Python originals under CPython 3.12, and comparing outputs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as osConstants } from 'node:os';
import { packageRoot } from '../binding.js';
import type { Build } from '../runtime/index.js';
import { OUTCOME_MARKER, refcountsOf, type Outcome, type RunResult, type ScenarioOptions } from './define.js';
import { findScenario } from './registry.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'child.js');

/** The signal name of a number (11 -> SIGSEGV). */
function signalName(sig: NodeJS.Signals | null): string | undefined {
  if (!sig) return undefined;
  return sig;
}

/** How a child process that ended without reporting its outcome ended: a signal (a segfault, an abort with its fatal text) or an exit status. */
export function outcomeOfExit(code: number | null, signal: NodeJS.Signals | null, stderr: string): Outcome {
  const sig = signalName(signal) ?? (code !== null && code > 128 ? signalFromNumber(code - 128) : undefined);
  if (sig === 'SIGSEGV' || sig === 'SIGBUS') return { kind: 'segfault', signal: sig, detail: 'segmentation fault' };
  if (sig === 'SIGABRT') return { kind: 'abort', signal: sig, detail: fatalText(stderr) };
  if (sig) return { kind: 'error', signal: sig, detail: `killed by ${sig}` };
  return { kind: 'error', detail: `exit status ${code}: ${lastLines(stderr, 5)}` };
}

function signalFromNumber(n: number): string | undefined {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return undefined;
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** The fatal-error text of an abort: from the first assertion / "Fatal Python error" line. */
export function fatalText(stderr: string): string {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => /Assertion|Fatal Python error|_Py_NegativeRefcount|Debug memory block/.test(l));
  return (i >= 0 ? lines.slice(i) : lines.slice(-8)).join('\n').trim();
}

export interface RunOptions {
  readonly build: Build;
  readonly guard: boolean;
  readonly options?: ScenarioOptions;
  readonly timeoutMs?: number;
  /** A tracking runtime: a use-after-free then says where the object was allocated and freed,
   * and the end of the run lists the named objects that were freed, with both sites. */
  readonly track?: boolean;
}

/** Runs one scenario (a built-in name or a user module path) in a child process. */
export function runScenario(scenario: string, o: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const spec = JSON.stringify({ scenario, build: o.build, guard: o.guard, options: o.options ?? {}, track: o.track ?? false });
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--no-warnings', CHILD, spec], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let outcome: Outcome;
      const at = stderr.lastIndexOf(OUTCOME_MARKER);
      if (at >= 0 && code === 0) {
        const json = stderr.slice(at + OUTCOME_MARKER.length).split('\n')[0] ?? '{}';
        outcome = JSON.parse(json) as Outcome;
        stderr = stderr.slice(0, at).replace(/\n$/, '');
      } else {
        outcome = outcomeOfExit(code, signal, stderr);
      }
      resolvePromise({
        scenario: findScenario(scenario)?.name ?? scenario,
        build: o.build,
        mode: o.guard ? 'guarded' : 'unguarded',
        stdout,
        refcounts: refcountsOf(stdout),
        outcome,
        stderr,
        ms: Math.round(performance.now() - t0),
      });
    });
  });
}

/** Runs async jobs with at most `n` at a time, keeping the order of results. */
export async function pool<T, R>(items: readonly T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(n, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}

// ------------------------------------------------------------------------------- CPython

import { findCPython312 } from '../python.js';
export { findCPython312 };
export type { PythonCommand } from '../python.js';

/** Where the Python originals are. */
export function pythonDir(): string {
  const inSrc = join(packageRoot(), 'lib', 'scenarios', 'python');
  return inSrc;
}

// How a use-after-free ends in CPython depends on where the address space put the heap: with
// ASLR on, exp_1 ends in "SystemError: error return without exception set" in about 6 % of runs
// instead of the segfault (measured: 19 of 300 on x86-64 Linux). The reference run is made
// repeatable by running CPython with ASLR off (`setarch -R`, util-linux) where that works.
let setarchWorks: boolean | undefined;
function withoutAslr(cmd: string, args: string[]): [string, string[]] {
  setarchWorks ??= process.platform === 'linux' && spawnSync('setarch', ['-R', 'true']).status === 0;
  return setarchWorks ? ['setarch', ['-R', cmd, ...args]] : [cmd, args];
}

/** Runs a scenario's Python original under CPython 3.12 (ASLR off where possible, see above);
 * null when no interpreter or no file. */
export function runCPython(scenario: string): Promise<RunResult | null> {
  const s = findScenario(scenario);
  const py = findCPython312();
  if (!s?.python || !py) return Promise.resolve(null);
  const file = join(pythonDir(), s.python.file);
  if (!existsSync(file)) return Promise.resolve(null);
  const t0 = performance.now();
  return new Promise((resolvePromise) => {
    const [cmd, args] = withoutAslr(py.cmd, [file, ...(s.python?.args ?? [])]);
    const child = spawn(cmd, args, { env: { ...py.env, PYTHONFAULTHANDLER: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => {
      let outcome: Outcome;
      if (code === 0) outcome = /^memory growing/m.test(stdout) ? { kind: 'memory-growth' } : { kind: 'ok' };
      else if (code === 1 && /Traceback/.test(stderr)) {
        const line = lastLines(stderr, 1);
        outcome = { kind: 'python-exception', detail: line };
      } else outcome = outcomeOfExit(code, signal, stderr);
      resolvePromise({
        scenario: s.name,
        build: 'cpython',
        mode: 'unguarded',
        stdout,
        refcounts: refcountsOf(stdout),
        outcome,
        stderr,
        ms: Math.round(performance.now() - t0),
      });
    });
  });
}

/** Normalizes run-specific text: addresses and ids. */
export function normalizeOutput(text: string): string {
  return text
    .replace(/0x[0-9a-f]+/g, '0xADDR')
    .replace(/(\w+_id) = \d+/g, '$1 = <id>');
}

/** A unified-ish line diff (empty when equal). */
export function diffLines(expected: string, actual: string, labels: [string, string] = ['cpython', 'refcount-lab']): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const out: string[] = [];
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] === b[i]) continue;
    if (a[i] !== undefined) out.push(`- ${labels[0]}:${i + 1}: ${a[i]}`);
    if (b[i] !== undefined) out.push(`+ ${labels[1]}:${i + 1}: ${b[i]}`);
  }
  return out.join('\n');
}
