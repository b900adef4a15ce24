/** Finding CPython 3.12, the reference interpreter (scenario diffs, compare's CPython column,
 * the benchmarks' CPython rows). */
import { spawnSync } from 'node:child_process';

export interface PythonCommand {
  readonly cmd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly version: string;
  readonly description: string;
}

let cached: PythonCommand | null | undefined;

/** $REFCOUNT_LAB_PYTHON, python3.12, PYENV_VERSION=3.12.1 python3, python3 — the first that is
 * CPython 3.12.x. null when none is. */
export function findCPython312(): PythonCommand | null {
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
