/**
 * Runs a snippet of ESM JavaScript in a fresh Node process against the compiled package
 * (dist/). Crash-prone cases live here: the child may segfault or abort, the test asserts how.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = join(ROOT, 'dist', 'index.js');

export interface ChildResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `code` (ESM; `lab` is the imported package) in a child node process. */
export function runChild(code: string, nodeArgs: readonly string[] = []): ChildResult {
  const src = `import * as lab from ${JSON.stringify(DIST)};\n${code}`;
  const r = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', src], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
