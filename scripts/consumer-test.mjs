#!/usr/bin/env node
// npm run test:consumer — the package as a user gets it. Builds the prebuilds (npm run prebuild),
// packs the package (npm pack), installs the tarball into a fresh temporary project with
// --ignore-scripts (npm 11 does not run a dependency's install script until it is approved: the
// package must load its prebuilds without it), and runs there, as that project's own files:
//   - the README quickstart, "API at a glance" and rt.refs blocks (compiled by the project's tsc),
//   - docs/cli.md's custom scenario, through the commands docs/cli.md shows (npx refcount-lab run,
//     npx refcount-lab explain),
//   - docs/pictures.md's "From code" example,
//   - docs/provenance.md's worked example: record a trace, npx refcount-lab replay and bisect,
//   - docs/reliability.md's expectNoLeaks example, from a vitest test file of the project,
//   - `import` and `require` of the package and each of its subpaths.
// The code comes from the .md files themselves: each block is the fenced block right after a
// `<!-- consumer-test: NAME -->` line, so a doc that drifts fails here. Any failure: exit 1.
// CONSUMER_TEST_KEEP=1 keeps the temporary directory; CONSUMER_TEST_SKIP_PREBUILD=1 packs the
// prebuilds/ already there. A prebuilds/<platform>-<arch> this run made is removed at the end.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const started = Date.now();
const require = createRequire(import.meta.url);
const PLATFORM_DIR = `${process.platform}-${process.arch}`;
const BUILDS = ['release', 'debug', 'nodealloc'];

/** The fenced block after `<!-- consumer-test: name -->` in a doc (exactly one such marker). */
function docBlock(file, name) {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const marker = `<!-- consumer-test: ${name} -->`;
  const parts = text.split(marker);
  if (parts.length !== 2) throw new Error(`${file}: expected exactly one '${marker}', found ${parts.length - 1}`);
  const m = /^\s*\n(```+)[^\n]*\n([\s\S]*?)\n\1[ \t]*(\n|$)/.exec(parts[1]);
  if (!m) throw new Error(`${file}: '${marker}' is not followed by a fenced code block`);
  return m[2] + '\n';
}

/** Runs a command; returns { status, stdout, stderr }. Never throws on a non-zero exit. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: opts.timeout ?? 600_000,
  });
  return { status: r.status ?? (r.signal ? `signal ${r.signal}` : String(r.error)), stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

class StepError extends Error {}
function check(cond, what, r) {
  if (cond) return;
  const tail = (s) => s.split('\n').slice(-40).join('\n');
  throw new StepError(`${what}${r ? `\n--- exit ${r.status}\n--- stdout (tail)\n${tail(r.stdout)}\n--- stderr (tail)\n${tail(r.stderr)}` : ''}`);
}
function ok(r, what) {
  check(r.status === 0, `${what} failed`, r);
  return r;
}

const results = [];
/** One step: its name, pass/fail and time. A failed setup step stops the run. */
function step(name, fn, { setup = false } = {}) {
  const t = Date.now();
  process.stdout.write(`consumer-test: ${name} ... `);
  try {
    const note = fn();
    const s = ((Date.now() - t) / 1000).toFixed(1);
    console.log(`ok (${s}s)${note ? ` — ${note}` : ''}`);
    results.push({ name, ok: true });
    return true;
  } catch (e) {
    console.log('FAILED');
    console.log(e instanceof StepError ? e.message : e?.stack ?? String(e));
    results.push({ name, ok: false });
    if (setup) finish();
    return false;
  }
}

let work;
// prebuilds/ in a checkout wins over build/Release in the loader: a run that made it removes it
// again, so later native changes are not shadowed by stale prebuilds.
const prebuildDir = join(ROOT, 'prebuilds', PLATFORM_DIR);
const hadPrebuilds = existsSync(prebuildDir);
function finish() {
  if (!hadPrebuilds) rmSync(prebuildDir, { recursive: true, force: true });
  const failed = results.filter((r) => !r.ok);
  const secs = Math.round((Date.now() - started) / 1000);
  if (work && !process.env.CONSUMER_TEST_KEEP) rmSync(work, { recursive: true, force: true });
  else if (work) console.log(`consumer-test: kept ${work}`);
  if (failed.length === 0) {
    console.log(`consumer-test: PASS — ${results.length}/${results.length} steps in ${secs}s`);
    process.exit(0);
  }
  console.log(`consumer-test: FAIL — ${failed.length} of ${results.length} steps failed (${failed.map((r) => r.name).join(', ')}) in ${secs}s`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------- set-up
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const devVersion = (name) => JSON.parse(readFileSync(require.resolve(`${name}/package.json`, { paths: [ROOT] }), 'utf8')).version;

// The doc blocks first: a missing marker fails before any build.
const blocks = {};
step(
  'extract the doc blocks',
  () => {
    blocks.quickstart = docBlock('README.md', 'readme-quickstart');
    blocks.glance = docBlock('README.md', 'readme-api-at-a-glance');
    blocks.refs = docBlock('README.md', 'readme-refs');
    blocks.myExp = docBlock('docs/cli.md', 'cli-my-exp');
    blocks.runMyExp = docBlock('docs/cli.md', 'cli-run-my-exp');
    blocks.explainMyExp = docBlock('docs/cli.md', 'cli-explain-my-exp');
    blocks.pictures = docBlock('docs/pictures.md', 'pictures-from-code');
    blocks.reliability = docBlock('docs/reliability.md', 'reliability-expect-no-leaks');
    blocks.extraDecref = docBlock('docs/provenance.md', 'provenance-extra-decref');
    blocks.record = docBlock('docs/provenance.md', 'provenance-record');
    blocks.replay = docBlock('docs/provenance.md', 'provenance-replay');
    blocks.bisect = docBlock('docs/provenance.md', 'provenance-bisect');
    return `${Object.keys(blocks).length} blocks`;
  },
  { setup: true },
);

step(
  'npm run prebuild',
  () => {
    if (!process.env.CONSUMER_TEST_SKIP_PREBUILD) ok(run('npm', ['run', 'prebuild']), 'npm run prebuild');
    for (const b of BUILDS) check(existsSync(join(ROOT, 'prebuilds', PLATFORM_DIR, `refcount_${b}.node`)), `prebuilds/${PLATFORM_DIR}/refcount_${b}.node is missing`);
    return `prebuilds/${PLATFORM_DIR}`;
  },
  { setup: true },
);

work = mkdtempSync(join(tmpdir(), 'refcount-lab-consumer-'));
const proj = join(work, 'project');
let tarball;
step(
  'npm pack',
  () => {
    const r = ok(run('npm', ['pack', '--pack-destination', work]), 'npm pack');
    const tgz = readdirSync(work).filter((f) => f.endsWith('.tgz'));
    check(tgz.length === 1, `npm pack wrote ${tgz.length} tarballs`, r);
    tarball = join(work, tgz[0]);
    const list = ok(run('tar', ['-tzf', tarball]), 'tar -t').stdout;
    for (const b of BUILDS) check(list.includes(`package/prebuilds/${PLATFORM_DIR}/refcount_${b}.node`), `the tarball has no prebuilds/${PLATFORM_DIR}/refcount_${b}.node`);
    check(list.includes('package/dist/index.js'), 'the tarball has no dist/index.js');
    return tgz[0];
  },
  { setup: true },
);

step(
  'a fresh project installs the tarball (--ignore-scripts: no install script runs)',
  () => {
    mkdirSync(proj);
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
    const deps = [tarball, `vitest@${devVersion('vitest')}`, `typescript@${devVersion('typescript')}`, `@types/node@${devVersion('@types/node')}`];
    ok(run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', ...deps], { cwd: proj }), 'npm install');
    const installed = join(proj, 'node_modules', pkg.name);
    check(!existsSync(join(installed, 'build')), 'the installed package has a build/ directory: something compiled it');
    return `${pkg.name}@${pkg.version}`;
  },
  { setup: true },
);

// The project's TypeScript files: the doc blocks as they are, compiled by the project's tsc
// against the installed package's published types.
writeFileSync(
  join(proj, 'tsconfig.json'),
  JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023', 'esnext.disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: true,
        types: ['node'],
        outDir: 'out',
      },
      include: ['quickstart.ts', 'glance.ts', 'refs.ts', 'pictures.ts'],
    },
    null,
    2,
  ),
);
writeFileSync(join(proj, 'quickstart.ts'), blocks.quickstart);
writeFileSync(join(proj, 'glance.ts'), blocks.glance);
writeFileSync(join(proj, 'refs.ts'), blocks.refs);
writeFileSync(join(proj, 'pictures.ts'), blocks.pictures);
const node = (file, opts) => run(process.execPath, [file], { cwd: proj, ...opts });

step('tsc compiles the README and pictures.md blocks against the published types', () => {
  ok(run(process.execPath, [join(proj, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: proj }), 'tsc');
});

step('import and require of the package and its subpaths load the prebuilds', () => {
  const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? pkg.name : `${pkg.name}/${k.slice(2)}`));
  const expectDir = join(proj, 'node_modules', pkg.name, 'prebuilds', PLATFORM_DIR);
  const body = (load) => `
    const mods = {};
    for (const p of ${JSON.stringify(subpaths)}) mods[p] = ${load};
    const lab = mods[${JSON.stringify(pkg.name)}];
    for (const b of lab.BUILDS) {
      const path = lab.bindingPath(b);
      if (!path.startsWith(${JSON.stringify(expectDir)})) throw new Error(b + ' loads from ' + path);
      const rt = lab.Runtime.create({ build: b });
      const l = rt.list([1, 2]);
      if (l.refcnt !== 1 || l.len() !== 2) throw new Error('a list is wrong');
      l.release();
      rt.close();
    }
    if (typeof mods[${JSON.stringify(`${pkg.name}/scenarios`)}].defineScenario !== 'function') throw new Error('no defineScenario');
    if (typeof mods[${JSON.stringify(`${pkg.name}/testing`)}].expectNoLeaks !== 'function') throw new Error('no expectNoLeaks');
    console.log('loaded ' + Object.keys(mods).length + ' entry points');`;
  writeFileSync(join(proj, 'esm.mjs'), body('await import(p)'));
  writeFileSync(join(proj, 'cjs.cjs'), body('require(p)'));
  const esm = ok(node('esm.mjs'), 'node esm.mjs');
  const cjs = ok(node('cjs.cjs'), 'node cjs.cjs');
  check(esm.stdout.includes(`loaded ${subpaths.length} entry points`) && cjs.stdout.includes(`loaded ${subpaths.length} entry points`), 'import/require did not load every entry point', cjs);
  return `${subpaths.join(', ')}${cjs.stderr.trim() ? `; require() printed: ${cjs.stderr.trim().split('\n')[0]}` : ''}`;
});

step('README quickstart runs as documented (ends in ERR_USE_AFTER_FREE)', () => {
  const r = node('out/quickstart.js');
  // The block's comments say what each line prints; its last line raises on purpose.
  for (const line of ['2 - obj a. Ref count ref_a = 1', '3 - obj a. Ref count ref_a = 2', '4 - obj a. Ref count ref_a = 1', 'This is kakoyto text', '6 - a. Ref count ref_a = 2']) {
    check(r.stdout.includes(line), `quickstart did not print '${line}'`, r);
  }
  check(/<__main__\.A object at 0x[0-9a-f]+>/.test(r.stdout), 'quickstart did not print the repr of a', r);
  check(r.status === 1 && r.stderr.includes('ERR_USE_AFTER_FREE'), 'quickstart did not end in ERR_USE_AFTER_FREE', r);
});

step('README "API at a glance" runs', () => {
  ok(node('out/glance.js'), 'node out/glance.js');
});

step('README "Who holds each reference" prints the extra Py_DECREF as documented', () => {
  const r = ok(node('out/refs.js'), 'node out/refs.js');
  for (const line of [/str object at 0x[0-9a-f]+: refcount 2/, /1 {2}container list at 0x[0-9a-f]+ \[0\]/, /1 {2}ref {7}live Refs/, /-1 {2}unexplained: a holder's reference was released behind its back/]) {
    check(line.test(r.stdout), `refs block did not print ${line}`, r);
  }
});

step('docs/provenance.md\'s worked example names the extra Py_DECREF', () => {
  writeFileSync(join(proj, 'example.mjs'), blocks.extraDecref);
  const r = ok(node('example.mjs'), 'node example.mjs');
  const lines = [
    /^ERR_USE_AFTER_FREE: the object at 0x[0-9a-f]+ has been deallocated \(use after free\)$/m,
    /^ERROR: refcount-lab: heap-use-after-free on a 'A' object at 0x[0-9a-f]+$/m,
    /^freed by Ref\.delitem here:\n {4}#0 Ref\.delitem at \S+example\.mjs:15:7$/m,
    /^previously allocated here:\n {4}#0 A\.new at \S+example\.mjs:12:16$/m,
    /^the decref that had no owner \(refcount 2 -> 1\):\n {4}#0 capi\.Py_DECREF at \S+example\.mjs:9:11$/m,
  ];
  for (const line of lines) check(line.test(r.stdout), `the example did not print ${line}`, r);
});

step('docs/pictures.md "From code" runs', () => {
  const r = ok(node('out/pictures.js'), 'node out/pictures.js');
  return r.stdout.split('\n').find((l) => l.trim()) ?? '';
});

step('docs/cli.md: the custom scenario through npx refcount-lab run', () => {
  writeFileSync(join(proj, 'my_exp.mjs'), blocks.myExp);
  const cmd = blocks.runMyExp.trim().split(/\s+/);
  check(cmd[0] === 'refcount-lab' && cmd.length > 1, `docs/cli.md's command block is not a refcount-lab command: ${blocks.runMyExp}`);
  const r = ok(run('npx', ['--no-install', ...cmd], { cwd: proj }), `npx ${cmd.join(' ')}`);
  const lines = r.stdout.split('\n').filter((l) => l.includes('1 - ref_l = 1'));
  check(lines.length === BUILDS.length, `expected '1 - ref_l = 1' once per build (${BUILDS.length}), got ${lines.length}`, r);
  return `npx ${cmd.join(' ')}`;
});

step('docs/cli.md: npx refcount-lab explain on the custom scenario', () => {
  const cmd = blocks.explainMyExp.trim().split(/\s+/);
  check(cmd[0] === 'refcount-lab' && cmd[1] === 'explain', `docs/cli.md's explain block is not a refcount-lab explain command: ${blocks.explainMyExp}`);
  const r = ok(run('npx', ['--no-install', ...cmd], { cwd: proj }), `npx ${cmd.join(' ')}`);
  for (const line of [/^my_exp \[release\] step 1 of 2: 1 - ref_l = 1$/m, /^l, l_id \(id only\):$/m, /^list object at 0x[0-9a-f]+: refcount 1$/m, /^ {4}1 {2}ref {7}live Refs$/m]) {
    check(line.test(r.stdout), `explain did not print ${line}`, r);
  }
  return `npx ${cmd.join(' ')}`;
});

step('docs/provenance.md: record a trace, npx refcount-lab replay and bisect it', () => {
  writeFileSync(join(proj, 'record.mjs'), blocks.record);
  const rec = ok(node('record.mjs'), 'node record.mjs');
  check(rec.stdout.includes('ERR_USE_AFTER_FREE') && existsSync(join(proj, 'bug.jsonl')), 'record.mjs did not record the use after free', rec);
  const command = (block) => {
    const cmd = block.trim().split(/\s+/);
    check(cmd[0] === 'refcount-lab' && cmd.length > 1, `not a refcount-lab command: ${block}`);
    return cmd;
  };
  // both end in 1: the trace has a bug
  const replay = run('npx', ['--no-install', ...command(blocks.replay)], { cwd: proj });
  check(replay.status === 1 && replay.stdout.includes('| debug | ERR_USE_AFTER_FREE at line 6;') && replay.stdout.includes('SIGSEGV at line 6'), 'replay did not print the documented matrix', replay);
  const bisect = run('npx', ['--no-install', ...command(blocks.bisect)], { cwd: proj });
  check(bisect.status === 1 && /the audit first fails after line 4:\n {2}#4 capi\.Py_DECREF\(id\(r3\)\) at .*record\.mjs:10:9/.test(bisect.stdout), 'bisect did not name line 4', bisect);
  return 'replay: the matrix; bisect: line 4';
});

step('vitest in the project: expectNoLeaks from refcount-lab/testing, docs/reliability.md', () => {
  writeFileSync(join(proj, 'reliability-doc.ts'), blocks.reliability);
  // the doc's block ends in a call that throws; its comment says with which message
  const expected = /throws LeakError:\n\/\/ (.+)\n/.exec(blocks.reliability)?.[1];
  check(expected !== undefined, "docs/reliability.md's block no longer says which LeakError it throws");
  writeFileSync(
    join(proj, 'leaks.test.ts'),
    `import { expect, it } from 'vitest';
import { Runtime } from 'refcount-lab';
import { LeakError, expectNoLeaks } from 'refcount-lab/testing';

it('a clean function passes, a lost list is a LeakError', () => {
  using rt = Runtime.create({ build: 'debug' });
  expect(expectNoLeaks(rt, () => { using l = rt.list([1, 2]); return l.len(); })).toBe(2);
  expect(() => expectNoLeaks(rt, () => { rt.list([1]); })).toThrow(LeakError);
});

it('docs/reliability.md: the cycle passes, the lost list throws the message it documents', async () => {
  const err = await import('./reliability-doc.ts').then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(LeakError);
  expect((err as LeakError).message).toBe(${JSON.stringify(expected)});
});
`,
  );
  const r = ok(run(process.execPath, [join(proj, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], { cwd: proj, env: { CI: '1' } }), 'vitest run');
  check(/Tests\s+.*2 passed/.test(r.stdout.replace(/\x1b\[[0-9;]*m/g, '')), 'vitest did not report 2 passed tests', r);
  return '2 tests passed';
});

finish();
