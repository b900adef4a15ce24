// Running CPython 3.12 from the tests, and the fixture generator (scripts/cpython/gen_fixtures.py).
// The interpreter is found by lib/python.ts (the one finder, shared with the CLI and the
// benchmarks; its search order is documented there).
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { findCPython312, type PythonCommand } from '../../lib/python.js';

export { findCPython312, cpythonSearchAttempts } from '../../lib/python.js';
export type { PythonCommand, PythonSearchAttempt } from '../../lib/python.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CASES_PATH = resolve(REPO_ROOT, 'scripts', 'cpython', 'cases.json');
export const GEN_FIXTURES_PATH = resolve(REPO_ROOT, 'scripts', 'cpython', 'gen_fixtures.py');
export const FIXTURE_PATH = resolve(REPO_ROOT, 'fixtures', 'cpython-3.12.1.json');

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
