/** Running CPython 3.12 for the comparison rows (lib/python.ts finds it). */
import { spawnSync } from 'node:child_process';
import type { PythonCommand as Python } from '../python.js';

export { findCPython312 as findPython } from '../python.js';
export type { PythonCommand as Python } from '../python.js';

/** The CPython side of create+drop (gc and typed rows): `create_drop(n)` makes n instances of
 * `cls` with two attributes and drops each, as `C.new({ x: 1, y: 2 }).release()` does. */
export function pyCreateDrop(cls: string): string {
  return ['def create_drop(n):', '    for i in range(n):', `        o = ${cls}()`, '        o.x = 1', '        o.y = 2', '        del o'].join('\n');
}

/** Runs a Python script given as text; its stdout's last line is JSON. */
export function runPython<T>(py: Python, script: string, args: readonly string[]): T {
  const r = spawnSync(py.cmd, ['-c', script, ...args], { env: py.env, encoding: 'utf8', maxBuffer: 1 << 26, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`python failed (${String(r.status)}): ${(r.stderr ?? '').slice(-2000)}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as T;
}
