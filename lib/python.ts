/**
 * Finding CPython 3.12, the reference interpreter (scenario diffs, compare's CPython column,
 * the benchmarks' CPython rows, and the test suite's live comparisons: test/helpers/python.ts
 * uses this one finder).
 *
 * Search order (first one whose `--version` says "Python 3.12.x" wins):
 *   1. $REFCOUNT_LAB_PYTHON          an interpreter executable (path or command name; no arguments)
 *   2. python3.12
 *   3. PYENV_VERSION=3.12.1 python3  (pyenv shims)
 *   4. python3                       (if the default python3 happens to be 3.12)
 * A pyenv shim for a version that is not selected exits 127 ("command not found in current
 * version"), so every candidate is actually run and its exit status and output are checked.
 */
import { spawnSync } from 'node:child_process';

/** How to run a CPython 3.12 interpreter with spawnSync(cmd, [...args, script, ...], { env }). */
export interface PythonCommand {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** e.g. "3.12.1" */
  readonly version: string;
  /** Human-readable, e.g. "PYENV_VERSION=3.12.1 python3 (Python 3.12.1)". */
  readonly description: string;
  readonly source: 'REFCOUNT_LAB_PYTHON' | 'python3.12' | 'pyenv' | 'python3';
}

/** One candidate findCPython312 tried, and what came of it. */
export interface PythonSearchAttempt {
  readonly description: string;
  readonly result: string;
}

interface Candidate {
  readonly cmd: string;
  readonly envOverrides: Readonly<Record<string, string>>;
  readonly label: string;
  readonly source: PythonCommand['source'];
}

const VERSION_RE = /^Python (3\.12\.\d+)\s*$/;

function probe(c: Candidate): { ok: true; version: string } | { ok: false; why: string } {
  const env = { ...process.env, ...c.envOverrides };
  const r = spawnSync(c.cmd, ['--version'], { env, encoding: 'utf8', timeout: 15_000 });
  if (r.error) return { ok: false, why: r.error.message };
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (r.status !== 0) return { ok: false, why: `exit ${String(r.status)}: ${out.split('\n')[0] ?? ''}` };
  // PyPy prints "Python 3.x.y (...)\n[PyPy ...]": only a bare CPython version line is accepted.
  const m = VERSION_RE.exec(out);
  if (!m || m[1] === undefined) return { ok: false, why: `not CPython 3.12: ${JSON.stringify(out)}` };
  return { ok: true, version: m[1] };
}

let cached: { found: PythonCommand | null; attempts: PythonSearchAttempt[] } | undefined;

function search(): { found: PythonCommand | null; attempts: PythonSearchAttempt[] } {
  if (cached) return cached;
  const candidates: Candidate[] = [];
  const explicit = process.env['REFCOUNT_LAB_PYTHON'];
  if (explicit) candidates.push({ cmd: explicit, envOverrides: {}, label: explicit, source: 'REFCOUNT_LAB_PYTHON' });
  candidates.push(
    { cmd: 'python3.12', envOverrides: {}, label: 'python3.12', source: 'python3.12' },
    { cmd: 'python3', envOverrides: { PYENV_VERSION: '3.12.1' }, label: 'PYENV_VERSION=3.12.1 python3', source: 'pyenv' },
    { cmd: 'python3', envOverrides: {}, label: 'python3', source: 'python3' },
  );
  const attempts: PythonSearchAttempt[] = [];
  let found: PythonCommand | null = null;
  for (const c of candidates) {
    const p = probe(c);
    if (!p.ok) {
      attempts.push({ description: c.label, result: p.why });
      continue;
    }
    attempts.push({ description: c.label, result: `Python ${p.version}` });
    found = {
      cmd: c.cmd,
      args: [],
      env: { ...process.env, ...c.envOverrides },
      version: p.version,
      description: `${c.label} (Python ${p.version})`,
      source: c.source,
    };
    break;
  }
  cached = { found, attempts };
  return cached;
}

/** The first CPython 3.12 interpreter found (see the search order above), or null. */
export function findCPython312(): PythonCommand | null {
  return search().found;
}

/** What findCPython312 tried, for diagnostics ("python3.12: exit 127: pyenv: ..."). */
export function cpythonSearchAttempts(): readonly PythonSearchAttempt[] {
  return search().attempts;
}
