// The loader: where it looks for a build's .node file, and what it says when there is none.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BindingNotFoundError, RefcountError, bindingPath, packageRoot } from '../lib/index.js';
import { findBinding } from '../lib/binding.js';

const empty = mkdtempSync(join(tmpdir(), 'rcl-nobinding-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

function thrown(fn: () => unknown): BindingNotFoundError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BindingNotFoundError) return e;
    throw e;
  }
  throw new Error('no error thrown');
}

const FIXES = ['npm approve-builds', 'npm rebuild refcount-lab', 'npm explore refcount-lab -- npm run build:native', 'npm run prebuild'];

describe('binding loader', () => {
  it('finds the built file of each build in this checkout', () => {
    for (const b of ['release', 'debug', 'nodealloc'] as const) {
      const p = findBinding(b);
      expect(existsSync(p)).toBe(true);
      expect(p).toBe(bindingPath(b));
      expect(p.endsWith(`refcount_${b}.node`)).toBe(true);
    }
  });

  it('no file in a package root: ERR_BINDING_NOT_FOUND naming the build, both places it looked, and the fixes', () => {
    const e = thrown(() => findBinding('debug', { root: empty, binaryDir: undefined }));
    expect(e).toBeInstanceOf(RefcountError);
    expect(e.code).toBe('ERR_BINDING_NOT_FOUND');
    expect(e.name).toBe('BindingNotFoundError');
    expect(e.build).toBe('debug');
    const prebuild = join(empty, 'prebuilds', `${process.platform}-${process.arch}`, 'refcount_debug.node');
    const release = join(empty, 'build', 'Release', 'refcount_debug.node');
    expect(e.searched).toEqual([prebuild, release]);
    expect(e.message).toContain("the 'debug' build (refcount_debug.node) is missing");
    expect(e.message).toContain(`  - ${prebuild}\n  - ${release}\n`);
    expect(e.message).toContain('REFCOUNT_LAB_BINARY_DIR is not set');
    for (const fix of FIXES) expect(e.message).toContain(fix);
    expect(e.message).not.toContain('Could not locate the bindings file');
  });

  it('REFCOUNT_LAB_BINARY_DIR set: only that directory is looked at, and the message says so', () => {
    const e = thrown(() => findBinding('release', { root: packageRoot(), binaryDir: empty }));
    expect(e.code).toBe('ERR_BINDING_NOT_FOUND');
    expect(e.searched).toEqual([join(empty, 'refcount_release.node')]);
    expect(e.message).toContain(`REFCOUNT_LAB_BINARY_DIR is set (${empty}), so only there`);
  });

  it('Runtime.create in a process whose REFCOUNT_LAB_BINARY_DIR is empty throws it (built dist/)', () => {
    const script = `
      import { Runtime } from ${JSON.stringify(join(packageRoot(), 'dist', 'index.js'))};
      try { Runtime.create({ build: 'nodealloc' }); console.log('loaded'); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, build: e.build, searched: e.searched })); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, REFCOUNT_LAB_BINARY_DIR: empty },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      name: 'BindingNotFoundError',
      code: 'ERR_BINDING_NOT_FOUND',
      build: 'nodealloc',
      searched: [join(empty, 'refcount_nodealloc.node')],
    });
  });
});
