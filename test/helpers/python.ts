// Locating a CPython 3.12 interpreter and running scripts/cpython/gen_fixtures.py with it.
//
// Search order (first one whose `--version` says "Python 3.12.x" wins):
//   1. $REFCOUNT_LAB_PYTHON          an interpreter executable (path or command name; no arguments)
//   2. python3.12
//   3. PYENV_VERSION=3.12.1 python3  (pyenv shims)
//   4. python3                       (if the default python3 happens to be 3.12)
// A pyenv shim for a version that is not selected exits 127 ("command not found in current
// version"), so every candidate is actually run and its exit status and output are checked.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CASES_PATH = resolve(REPO_ROOT, 'scripts', 'cpython', 'cases.json');
export const GEN_FIXTURES_PATH = resolve(REPO_ROOT, 'scripts', 'cpython', 'gen_fixtures.py');
export const FIXTURE_PATH = resolve(REPO_ROOT, 'fixtures', 'cpython-3.12.1.json');

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
  if (explicit !== undefined && explicit !== '') {
    candidates.push({
      cmd: explicit,
      envOverrides: {},
      label: `REFCOUNT_LAB_PYTHON=${explicit}`,
      source: 'REFCOUNT_LAB_PYTHON',
    });
  }
  candidates.push(
    { cmd: 'python3.12', envOverrides: {}, label: 'python3.12', source: 'python3.12' },
    {
      cmd: 'python3',
      envOverrides: { PYENV_VERSION: '3.12.1' },
      label: 'PYENV_VERSION=3.12.1 python3',
      source: 'pyenv',
    },
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

/** Runs a Python program in CPython 3.12: its stdout and stderr (null when there is no CPython). */
export function runCPythonCode(code: string): { stdout: string; stderr: string } | null {
  const py = findCPython312();
  if (py === null) return null;
  const r = spawnSync(py.cmd, [...py.args, '-c', code], { env: py.env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`CPython failed (${String(r.status ?? r.signal)}):\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Runs a Python program in CPython 3.12 and returns its stdout, trimmed (null: no CPython). */
export function cpython(code: string): string | null {
  return runCPythonCode(code)?.stdout.trim() ?? null;
}

/** Expected value written in the test; CPython's output must equal it too when CPython is here,
 * so the test also runs (and means something) where there is no Python. */
export function expectCPython(code: string, expected: string): void {
  const out = cpython(code);
  if (out !== null) expect(out, `CPython ${findCPython312()?.version ?? ''} printed`).toBe(expected);
}

/** What findCPython312 tried, for diagnostics ("python3.12: exit 127: pyenv: ..."). */
export function cpythonSearchAttempts(): readonly PythonSearchAttempt[] {
  return search().attempts;
}

export interface FixtureCheck {
  readonly label: string;
  readonly kind: 'raw' | 'getrefcount' | 'delta';
  readonly value: number;
  /** Only for kind "delta": the label of the mark the delta is taken from. */
  readonly base?: string;
}

export interface Fixture {
  readonly python: string;
  readonly generated_by: string;
  readonly cases: Readonly<Record<string, { readonly checks: readonly FixtureCheck[] }>>;
}

/** Validates the shape of a parsed fixture document (the committed file or live output). */
export function parseFixture(doc: unknown, where: string): Fixture {
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (typeof d['python'] !== 'string') fail('"python" must be a string');
  if (typeof d['generated_by'] !== 'string') fail('"generated_by" must be a string');
  const cases = d['cases'];
  if (typeof cases !== 'object' || cases === null || Array.isArray(cases)) fail('"cases" must be an object');
  for (const [name, c] of Object.entries(cases as Record<string, unknown>)) {
    const checks = (c as { checks?: unknown } | null)?.checks;
    if (!Array.isArray(checks)) fail(`case ${name}: "checks" must be an array`);
    for (const ch of checks as unknown[]) {
      const k = ch as Record<string, unknown> | null;
      if (
        k === null ||
        typeof k['label'] !== 'string' ||
        (k['kind'] !== 'raw' && k['kind'] !== 'getrefcount' && k['kind'] !== 'delta') ||
        typeof k['value'] !== 'number' ||
        !Number.isSafeInteger(k['value']) ||
        (k['kind'] === 'delta' ? typeof k['base'] !== 'string' : k['base'] !== undefined)
      ) {
        fail(`case ${name}: malformed check ${JSON.stringify(ch)}`);
      }
    }
  }
  return doc as Fixture;
}

/**
 * Runs `gen_fixtures.py --stdout` with the given interpreter and returns the parsed fixture.
 * Throws (with the script's stderr) if the script fails.
 */
export function runGenFixtures(py: PythonCommand, extraArgs: readonly string[] = []): Fixture {
  const r = spawnSync(py.cmd, [...py.args, GEN_FIXTURES_PATH, '--stdout', ...extraArgs], {
    cwd: REPO_ROOT,
    env: py.env,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new Error(`${py.description}: could not run gen_fixtures.py: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(
      `${py.description}: gen_fixtures.py --stdout exited with ${String(r.status ?? r.signal)}:\n${r.stderr}`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(r.stdout);
  } catch (e) {
    throw new Error(`${py.description}: gen_fixtures.py --stdout did not print JSON: ${String(e)}`);
  }
  return parseFixture(doc, `${py.description}: gen_fixtures.py --stdout`);
}
