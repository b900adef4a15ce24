#!/usr/bin/env node
// npm run prebuild: prebuildify compiles the three builds (one binding.gyp, three targets) for
// this Node's N-API; it keeps one .node per run (it MOVES the first it finds into prebuilds/),
// so an incremental `node-gyp build` restores that one and the three are copied under their
// own names: prebuilds/<platform>-<arch>/refcount_<build>.node, which lib/binding.ts loads.
'use strict';
const { copyFileSync, mkdirSync, readdirSync, rmSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const cli = require.resolve('prebuildify/bin.js');
const r = spawnSync(process.execPath, [cli, '--napi', '--strip', '--target', process.versions.node], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
const gyp = spawnSync(process.execPath, [require.resolve('node-gyp/bin/node-gyp.js'), 'build'], { cwd: root, stdio: 'inherit' });
if (gyp.status !== 0) process.exit(gyp.status === null ? 1 : gyp.status);
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
for (const b of ['release', 'debug', 'nodealloc']) {
  const src = join(root, 'build', 'Release', `refcount_${b}.node`);
  if (!existsSync(src)) {
    console.error(`prebuild: ${src} is missing`);
    process.exit(1);
  }
  copyFileSync(src, join(dir, `refcount_${b}.node`));
  spawnSync('strip', ['--strip-all', join(dir, `refcount_${b}.node`)], { stdio: 'inherit' });
}
for (const f of readdirSync(dir)) if (f.endsWith('.node') && !f.startsWith('refcount_')) rmSync(join(dir, f));
console.log(`prebuild: wrote ${dir}/refcount_{release,debug,nodealloc}.node`);
