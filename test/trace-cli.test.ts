// The CLI's record-replay-bisect commands (docs/cli.md): `replay` runs the build × mode matrix,
// each cell in a child process (an unguarded cell may crash: it names the line it died in);
// `bisect` prints the line that broke the account. Needs `npx tsc` first (spawns
// node dist/cli/main.js).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { recordBug, recordWorkload } from './helpers/workload.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');
const TMP = mkdtempSync(join(tmpdir(), 'rcl-trace-'));

describe('refcount-lab replay / bisect', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  const bug = join(TMP, 'bug.jsonl');
  writeFileSync(bug, recordBug());

  const SANITIZER = !!process.env['RCL_SANITIZER'];
  it('replay --build all: the matrix of builds and modes, a crash named by its line', () => {
    const r = cli('replay', bug, '--build', 'all', '--json');
    expect(r.status, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as { cells: { build: string; mode: string; ended: string; crashedAt?: number; signal?: string; firstError?: { seq: number; code: string }; firstMismatch?: { seq: number }; audit?: { ok: boolean } }[] };
    expect(out.cells.map((c) => `${c.build}/${c.mode}`)).toEqual([
      'release/guarded', 'release/unguarded', 'debug/guarded', 'debug/unguarded', 'nodealloc/guarded', 'nodealloc/unguarded',
    ]);
    const cell = (b: string, m: string) => out.cells.find((c) => c.build === b && c.mode === m);
    for (const b of ['release', 'debug']) {
      expect(cell(b, 'guarded')).toMatchObject({ ended: 'done', firstError: { seq: 6, code: 'ERR_USE_AFTER_FREE' }, audit: { ok: false } });
      // raw C: the freed object is read as it is (an AttributeError on release's leftovers, a
      // segfault on debug's 0xDD fill), always at line 6 — except under the sanitizers, where
      // the read is ASan's report and exit 1 (as test/crash.test.ts's crash cases)
      const u = cell(b, 'unguarded');
      if (!SANITIZER) expect(u?.ended === 'crash' ? u.crashedAt : u?.firstMismatch?.seq).toBe(6);
    }
    if (!SANITIZER) expect(cell('debug', 'unguarded')).toMatchObject({ ended: 'crash', signal: 'SIGSEGV', crashedAt: 6 });
    expect(cell('nodealloc', 'guarded')).toMatchObject({ ended: 'done', audit: { ok: false } });
    expect(cell('nodealloc', 'guarded')?.firstError).toBeUndefined();
    const text = cli('replay', bug, '--build', 'debug');
    expect(text.stdout).toContain('| debug | ERR_USE_AFTER_FREE at line 6; audit: 1 dangling Ref; as recorded |');
    if (!SANITIZER) {
      expect(text.stdout).toContain('| debug | ERR_USE_AFTER_FREE at line 6; audit: 1 dangling Ref; as recorded | SIGSEGV at line 6 |');
      expect(text.stdout).toMatch(/debug\/unguarded: SIGSEGV in #6 r3\.getattr\("text"\)/);
    }
  });

  it('bisect names the extra decref; a clean trace exits 0; a malformed one is a usage error', () => {
    const r = cli('bisect', bug);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('the audit first fails after line 4:');
    expect(r.stdout).toMatch(/#4 capi\.Py_DECREF\(id\(r3\)\) at .*workload\.ts:\d+:\d+/);
    const clean = join(TMP, 'clean.jsonl');
    writeFileSync(clean, recordWorkload(300, 7));
    expect(cli('bisect', clean).status).toBe(0);
    expect(cli('replay', clean, '--build', 'release').status).toBe(0);
    const bad = join(TMP, 'bad.jsonl');
    writeFileSync(bad, '{"seq":1,"recv":"rt","method":"close","args":[]}\n');
    const u = cli('replay', bad);
    expect(u.status).toBe(2);
    expect(u.stderr).toContain('rt.close is not an operation a trace records');
  });
});
