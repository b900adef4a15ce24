#!/usr/bin/env node
// npm run bench -- [--quick] [--json | --markdown] [--callgrind] [--only refcount,boundary,...]
//                  [--reps N]
// The suite itself is lib/bench (compiled to dist/bench), so `npx refcount-lab bench` can call
// the same runBench(). Build first: npx node-gyp rebuild && npx tsc -p tsconfig.json.
// Progress goes to stderr; the table / JSON / markdown to stdout.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const entry = join(root, 'dist', 'bench', 'index.js');
if (!existsSync(entry)) {
  console.error('dist/bench/index.js is missing: run `npx tsc -p tsconfig.json` first');
  process.exit(2);
}
const { runBench, formatTable, formatMarkdown, BENCH_GROUPS } = await import(pathToFileURL(entry).href);

export function parseArgs(argv) {
  const o = { quick: false, json: false, markdown: false, callgrind: false, only: undefined, reps: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = true;
    else if (a === '--markdown') o.markdown = true;
    else if (a === '--callgrind') o.callgrind = true;
    else if (a === '--only') o.only = String(argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--reps') o.reps = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench -- [--quick] [--json|--markdown] [--callgrind] [--only ' + BENCH_GROUPS.join(',') + '] [--reps N]');
      process.exit(0);
    } else {
      console.error(`unknown option ${a}`);
      process.exit(2);
    }
  }
  for (const g of o.only ?? []) {
    if (!BENCH_GROUPS.includes(g)) {
      console.error(`unknown group ${g}; groups: ${BENCH_GROUPS.join(', ')}`);
      process.exit(2);
    }
  }
  return o;
}

const o = parseArgs(process.argv.slice(2));
const report = await runBench({
  quick: o.quick,
  callgrind: o.callgrind,
  ...(o.only ? { only: o.only } : {}),
  ...(o.reps ? { reps: o.reps } : {}),
  log: (s) => process.stderr.write(`[bench] ${s}\n`),
});
if (o.json) process.stdout.write(JSON.stringify(report.rows, null, 1) + '\n');
else if (o.markdown) process.stdout.write(formatMarkdown(report) + '\n');
else process.stdout.write(formatTable(report) + '\n');
