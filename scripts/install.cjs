#!/usr/bin/env node
// npm install hook: use the prebuilds for this platform when all three builds are there,
// otherwise compile the three .node files with node-gyp (build/Release/refcount_<build>.node).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const builds = ['release', 'debug', 'nodealloc'];
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (builds.every((b) => existsSync(join(dir, `refcount_${b}.node`)))) {
  console.log(`refcount-lab: using the prebuilds in ${dir}`);
  process.exit(0);
}
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', '-j', 'max'], { cwd: root, stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
