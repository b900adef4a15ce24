/** Finding CPython 3.12 for the comparison rows (same search order as the parity tests). */
import { spawnSync } from 'node:child_process';

export interface Python {
  readonly cmd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly version: string;
  readonly description: string;
}

let cached: Python | null | undefined;

/** $REFCOUNT_LAB_PYTHON, python3.12, PYENV_VERSION=3.12.1 python3, python3 — the first that is
 * CPython 3.12.x. null when none is. */
export function findPython(): Python | null {
  if (cached !== undefined) return cached;
  const cands: { cmd: string; env: Record<string, string>; label: string }[] = [];
  const override = process.env['REFCOUNT_LAB_PYTHON'];
  if (override) cands.push({ cmd: override, env: {}, label: override });
  cands.push({ cmd: 'python3.12', env: {}, label: 'python3.12' });
  cands.push({ cmd: 'python3', env: { PYENV_VERSION: '3.12.1' }, label: 'PYENV_VERSION=3.12.1 python3' });
  cands.push({ cmd: 'python3', env: {}, label: 'python3' });
  cached = null;
  for (const c of cands) {
    const env = { ...process.env, ...c.env };
    const r = spawnSync(c.cmd, ['--version'], { env, encoding: 'utf8', timeout: 15_000 });
    const m = /^Python (3\.12\.\d+)\s*$/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`.trim());
    if (r.status === 0 && m && m[1]) {
      cached = { cmd: c.cmd, env, version: m[1], description: `${c.label} (Python ${m[1]})` };
      break;
    }
  }
  return cached;
}

/** Runs a Python script given as text; its stdout's last line is JSON. */
export function runPython<T>(py: Python, script: string, args: readonly string[]): T {
  const r = spawnSync(py.cmd, ['-c', script, ...args], { env: py.env, encoding: 'utf8', maxBuffer: 1 << 26, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`python failed (${String(r.status)}): ${(r.stderr ?? '').slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as T;
}
