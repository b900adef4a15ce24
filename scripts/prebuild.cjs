#!/usr/bin/env node
// npm run prebuild: prebuildify compiles the three builds (one binding.gyp, three targets);
// prebuildify keeps one .node per run, so the three outputs are then copied beside it under
// their own names: prebuilds/<platform>-<arch>/refcount_<build>.node, which lib/binding.ts loads.
'use strict';
const { copyFileSync, mkdirSync, rmSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const cli = require.resolve('prebuildify/bin.js');
const r = spawnSync(process.execPath, [cli, '--napi', '--strip'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
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
rmSync(join(dir, 'node.napi.node'), { force: true });
console.log(`prebuild: wrote ${dir}/refcount_{release,debug,nodealloc}.node`);
