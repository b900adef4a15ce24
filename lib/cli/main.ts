#!/usr/bin/env node
/**
 * refcount-lab CLI. Exit codes (docs/cli.md):
 *   0  success (run: every run ended ok, or the outcome the expectations file lists for it)
 *   1  compare: a cell differs from the expectations; memtest: memory-growth; run: a run did
 *      not end as expected
 *      replay: a cell crashed, raised an error or failed its audit; bisect: it found a line
 *   2  usage error (unknown scenario / option, a trace that cannot be read; explain: a step the run never reached)
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { BENCH_GROUPS, formatMarkdown, formatTable, runBench, type BenchGroup } from '../bench/index.js';
import { BUILDS, Runtime, type Build } from '../runtime/index.js';
import { SCENARIOS, loadScenario } from '../scenarios/registry.js';
import { diffLines, findCPython312, normalizeOutput, pool, runCPython, runScenario } from '../scenarios/runner.js';
import { cellMatches, compareMatrix, loadExpectations, defaultExpectationsPath } from '../scenarios/matrix.js';
import { runMemtest, type MemSample } from '../scenarios/memtest.js';
import { executeScenario, type RunResult } from '../scenarios/define.js';
import { svgLineChart } from './svg.js';
import { asciiMemChart, memSeriesJson } from './memchart.js';
import { drawScenario } from '../draw/scenario.js';
import { explainScenario, formatScenarioExplanation } from '../scenarios/explain.js';
import { TraceError } from '../errors.js';
import { bisectTrace, formatBisect, parseTrace, type TraceLine } from '../trace.js';
import { cellFails, formatReplayMatrix, runReplayCell } from './replay.js';

const EXIT_OK = 0;
const EXIT_DIFF = 1;
const EXIT_USAGE = 2;

function buildsOf(b: string | undefined): Build[] {
  if (!b || b === 'all') return [...BUILDS];
  const list = b.split(',').map((x) => x.trim());
  for (const x of list) if (!(BUILDS as readonly string[]).includes(x)) usage(`unknown build '${x}' (release, debug, nodealloc, all)`);
  return list as Build[];
}

const MEMTEST_MAX_SIZE = 100_000_000;
type AsciiChart = { plot: Parameters<typeof asciiMemChart>[1]; red: string; green: string; blue: string; reset: string };
const MEMTEST_MAX_ITERATIONS = 1_000_000;

function usage(msg: string): never {
  process.stderr.write(`refcount-lab: ${msg}\n`);
  process.exit(EXIT_USAGE);
}

const program = new Command();
program
  // commander's own usage errors (a missing argument, an unknown option or command) throw
  // instead of exiting with 1, which means "a difference" here: see the catch at the end
  .exitOverride()
  .name('refcount-lab')
  .description("CPython 3.12's memory model in Node.js: replay the RefCount++ talk under three builds")
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 a difference from the expectations / memory growth, 2 usage error.
Examples:
  refcount-lab list
  refcount-lab run exp_1 --unguarded
  refcount-lab run exp_3 --build all --unguarded --json
  refcount-lab compare --format md
  refcount-lab memtest --build nodealloc --iterations 20 --max-rss 2000 --plot mem.svg
  refcount-lab stats exp_0
  refcount-lab draw exp_0 --out frames/exp_0
  refcount-lab explain exp_0 --step 3
  refcount-lab replay trace.jsonl --build all
  refcount-lab bisect trace.jsonl`,
  );

program
  .command('list')
  .description('list the scenarios')
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nExample:\n  refcount-lab list --json')
  .action((o: { json?: boolean }) => {
    if (o.json) {
      process.stdout.write(JSON.stringify(SCENARIOS.map((s) => ({ name: s.name, title: s.title, python: s.python?.file ?? null })), null, 2) + '\n');
      return;
    }
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(20)} ${s.title}\n`);
  });

program
  .command('run')
  .description('run scenarios (names or user scenario files) in child processes')
  .argument('<scenario...>', 'scenario names, or paths to modules exporting defineScenario(...)')
  .addOption(new Option('--build <build>', 'release | debug | nodealloc | all').default('release'))
  .option('--unguarded', 'raw C behaviour (may segfault: the child dies, the CLI reports it)')
  .option('--track', 'a tracking runtime: a use-after-free says where the object was allocated and freed, and the run ends listing the named objects that were freed')
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nExamples:\n  refcount-lab run exp_1 --unguarded\n  refcount-lab run exp_1 exp_2 exp_3 --track\n  refcount-lab run exp_0 exp_5 --build all --json\n  refcount-lab run ./my-scenario.js --build all --unguarded')
  .action(async (names: string[], o: { build?: string; unguarded?: boolean; track?: boolean; json?: boolean }) => {
    const builds = buildsOf(o.build);
    for (const n of names) await loadScenario(n).catch((e: Error) => usage(e.message));
    const jobs = names.flatMap((n) => builds.map((b) => ({ n, b })));
    const results = await pool(jobs, 2, (j) => runScenario(j.n, { build: j.b, guard: !o.unguarded, track: o.track ?? false }));
    let exp: ReturnType<typeof loadExpectations> | null = null;
    try {
      exp = loadExpectations();
    } catch {
      exp = null;
    }
    let unexpected = 0;
    const out = results.map((r) => {
      const e = exp?.cells[r.scenario]?.[r.build]?.[r.mode];
      const matches = cellMatches({ refcounts: r.refcounts, outcome: r.outcome.kind }, e);
      if (matches === false || (matches === null && r.outcome.kind !== 'ok')) unexpected++;
      return { ...r, expected: e ?? null, matches };
    });
    if (o.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    else
      for (const r of out) {
        process.stdout.write(`── ${r.scenario} [${r.build}, ${r.mode}]\n${r.stdout}`);
        if (r.stdout && !r.stdout.endsWith('\n')) process.stdout.write('\n');
        const oc = r.outcome;
        const text =
          oc.kind === 'segfault' ? `segmentation fault (${oc.signal})` : oc.kind === 'abort' ? `aborted (${oc.signal})\n${oc.detail ?? ''}` : `${oc.kind}${oc.detail ? `: ${oc.detail}` : ''}`;
        process.stdout.write(`=> ${text}${r.matches === true ? '  (as expected)' : r.matches === false ? '  (NOT as expected)' : ''}\n`);
        if (o.track && r.stderr.trim() !== '') process.stdout.write(`${r.stderr.trimEnd()}\n`);
        process.stdout.write('\n');
      }
    process.exitCode = unexpected ? EXIT_DIFF : EXIT_OK;
  });

program
  .command('compare')
  .description('the scenario x build matrix (both modes) checked against the expectations file; CPython 3.12 as a column when installed')
  .option('--builds <list>', 'comma-separated builds', 'release,debug,nodealloc')
  .option('--scenarios <list>', 'comma-separated scenario names (default: all)')
  .option('--modes <list>', 'unguarded,guarded', 'unguarded,guarded')
  .addOption(new Option('--format <fmt>', 'md | json').choices(['md', 'json']).default('md'))
  .option('--expect <file>', 'expectations JSON', defaultExpectationsPath())
  .option('--no-cpython', 'skip the CPython column')
  .option('--diff', 'also diff each scenario\'s stdout against CPython (addresses normalized)')
  .addHelpText('after', '\nExamples:\n  refcount-lab compare\n  refcount-lab compare --builds release --scenarios exp_1,exp_3 --format json')
  .action(async (o: { builds: string; scenarios?: string; modes: string; format: string; expect: string; cpython: boolean; diff?: boolean }) => {
    const builds = buildsOf(o.builds);
    const names = o.scenarios ? o.scenarios.split(',') : SCENARIOS.map((s) => s.name);
    for (const n of names) if (!SCENARIOS.some((s) => s.name === n)) usage(`unknown scenario '${n}'`);
    const modes = o.modes.split(',').map((m) => m.trim() === 'guarded');
    const exp = loadExpectations(o.expect);
    const jobs = names.flatMap((n) => builds.flatMap((b) => modes.map((g) => ({ n, b, g }))));
    const results: RunResult[] = await pool(jobs, 2, (j) => runScenario(j.n, { build: j.b, guard: j.g }));
    const py = o.cpython ? findCPython312() : null;
    const diffs: Record<string, string> = {};
    if (py) {
      const cp = await pool(names, 2, (n) => runCPython(n));
      for (const r of cp) if (r) results.push(r);
      if (o.diff) {
        for (const r of cp) {
          if (!r) continue;
          const ours = results.find((x) => x.scenario === r.scenario && x.build === 'release' && x.mode === 'unguarded');
          if (ours) diffs[r.scenario] = diffLines(normalizeOutput(r.stdout), normalizeOutput(ours.stdout));
        }
      }
    }
    const report = compareMatrix(results, exp, py?.version ?? null);
    if (o.format === 'json') {
      process.stdout.write(JSON.stringify({ cpython: report.cpython, mismatches: report.mismatches, cells: report.cells, diffs }, null, 2) + '\n');
    } else {
      process.stdout.write(report.markdown);
      for (const [n, d] of Object.entries(diffs)) process.stdout.write(`\n### ${n}: stdout vs CPython\n${d ? '```diff\n' + d + '\n```' : 'identical (addresses normalized)'}\n`);
    }
    const summary = process.env['GITHUB_STEP_SUMMARY'];
    if (summary) appendFileSync(summary, `## refcount-lab compare\n\n${report.markdown}\n`);
    process.exitCode = report.mismatches ? EXIT_DIFF : EXIT_OK;
  });

program
  .command('memtest')
  .description("the talk's memory test: [i for i in range(N)] built and dropped, per-iteration RSS and arena statistics")
  .addOption(new Option('--build <build>', 'release | debug | nodealloc').default('release'))
  .option('--iterations <n>', 'iterations (the talk: while True)', '20')
  .option('--size <n>', 'list size (the talk: 1_000_000)', '1000000')
  .addOption(new Option('--gc <on|off>', 'gc.disable() first when off').choices(['on', 'off']).default('on'))
  .option('--max-rss <MB>', 'stop when the RSS passes this', '0')
  .option('--plot <file.svg>', "write an SVG chart: RSS at the peak, the model's peak bytes and its bytes after the drop")
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nExamples:\n  refcount-lab memtest --iterations 5 --size 100000\n  refcount-lab memtest --build nodealloc --max-rss 1500 --plot mem.svg')
  .action(async (o: { build: string; iterations: string; size: string; gc: string; maxRss: string; plot?: string; json?: boolean }) => {
    const [build] = buildsOf(o.build);
    const iterations = Number(o.iterations);
    const size = Number(o.size);
    const maxRssMb = Number(o.maxRss);
    if (!Number.isInteger(iterations) || iterations < 1 || !Number.isInteger(size) || size < 1) usage('--iterations and --size must be positive integers');
    // 1e8 ints are 4 GB of the model's heap per iteration: beyond that is not a test but a swap storm
    if (size > MEMTEST_MAX_SIZE) usage(`--size must be at most ${MEMTEST_MAX_SIZE}`);
    if (iterations > MEMTEST_MAX_ITERATIONS) usage(`--iterations must be at most ${MEMTEST_MAX_ITERATIONS}`);
    if (!(maxRssMb >= 0)) usage('--max-rss must be a number of MB (0: no limit)');
    const rt = Runtime.create({ build: build as Build, guard: false });
    let bar: { start(total: number, v: number, p?: object): void; update(v: number, p?: object): void; stop(): void } | null = null;
    if (process.stdout.isTTY && !o.json) {
      const cp = await import('cli-progress');
      bar = new cp.SingleBar({ format: 'memtest |{bar}| {value}/{total} rss {rss} MB  blocks {blocks}' }, cp.Presets.shades_classic);
      bar.start(iterations, 0, { rss: 0, blocks: 0 });
    }
    const r = runMemtest(rt, {
      size,
      iterations,
      gc: o.gc !== 'off',
      maxRssMb,
      onSample: (s: MemSample) => bar?.update(s.iteration, { rss: s.rssMb, blocks: s.blocks }),
    });
    bar?.stop();
    const outcome = r.verdict === 'growing' ? 'memory-growth' : 'ok';
    if (o.plot) writeFileSync(o.plot, svgLineChart(r.samples, `memtest ${build}, gc ${o.gc}, ${size} ints`));
    if (o.json) {
      const { samples, baselineBytes, baselineRssMb, payloadBytes, verdict, stoppedAtMaxRss, growthBytes } = r;
      process.stdout.write(
        JSON.stringify({ build, size, iterations, gc: o.gc, outcome, verdict, stoppedAtMaxRss, growthBytes, baselineBytes, baselineRssMb, payloadBytes, series: memSeriesJson(samples), samples }, null, 2) + '\n',
      );
    } else {
      const ac = (await import('asciichart')) as unknown as { default?: AsciiChart } & Partial<AsciiChart>;
      const lib = ac.default ?? (ac as AsciiChart);
      if (lib.plot && r.samples.length > 1) {
        const colors = process.stdout.isTTY ? { red: lib.red, green: lib.green, blue: lib.blue, reset: lib.reset } : null;
        process.stdout.write(asciiMemChart(r.samples, lib.plot, colors));
      }
      const mb = (b: number): string => (b / 1048576).toFixed(1);
      process.stdout.write(`before #1: model ${mb(r.baselineBytes)} MiB, rss ${r.baselineRssMb} MB; one list: ${mb(r.payloadBytes)} MiB\n`);
      for (const s of r.samples)
        process.stdout.write(`#${s.iteration} model peak ${mb(s.peakBytes)} MiB, after drop ${mb(s.allocatedBytes)} MiB (${s.allocatedBytes} B, blocks ${s.blocks}, arenas ${s.arenas}); rss at peak ${s.peakRssMb} MB, after drop ${s.rssMb} MB; ${s.ms} ms\n`);
      process.stdout.write(`outcome: ${outcome}${r.stoppedAtMaxRss ? ` (stopped at --max-rss ${maxRssMb} MB)` : ''}\n`);
    }
    rt.close();
    process.exitCode = outcome === 'ok' ? EXIT_OK : EXIT_DIFF;
  });

program
  .command('stats')
  .description("sys._debugmallocstats() after a scenario (guarded, in process), or of a fresh runtime")
  .argument('[scenario]', 'a scenario name')
  .addOption(new Option('--build <build>', 'release | debug | nodealloc').default('release'))
  .option('--json', 'machine-readable output (mallocStats object)')
  .addHelpText('after', '\nExample:\n  refcount-lab stats exp_0 --build debug')
  .action(async (name: string | undefined, o: { build: string; json?: boolean }) => {
    const [build] = buildsOf(o.build);
    const rt = Runtime.create({ build: build as Build });
    let outcome = null;
    if (name) {
      const s = await loadScenario(name).catch((e: Error) => usage(e.message));
      // Runs in this process, guarded; the stats are of the scenario's own runtime.
      let text = '';
      let stats: unknown = null;
      const wrapped = { ...s, run: (ctx: Parameters<typeof s.run>[0]) => {
        try { s.run(ctx); } finally { text = ctx.rt.sys.debugmallocstats(); stats = ctx.rt.sys.mallocStats(); }
      } };
      outcome = executeScenario(wrapped, build as Build, true, () => {});
      if (o.json) process.stdout.write(JSON.stringify({ scenario: name, build, outcome, stats }, null, 2) + '\n');
      else process.stdout.write(text);
    } else if (o.json) process.stdout.write(JSON.stringify({ build, stats: rt.sys.mallocStats() }, null, 2) + '\n');
    else process.stdout.write(rt.sys.debugmallocstats());
    rt.close();
  });

program
  .command('bench')
  .description('the benchmark suite: every cost next to its anchor, measured in the same run')
  .option('--quick', 'small sizes: checks the suite works (under a minute), never judges speed')
  .option('--only <groups>', `comma-separated groups: ${BENCH_GROUPS.join(',')}`)
  .option('--reps <n>', 'repetitions per row')
  .option('--callgrind', 'count instructions of the native loops with valgrind --tool=callgrind')
  .option('--json', 'rows as JSON: { id, label, value, unit, anchor, ratio, goal, met }')
  .option('--markdown', 'a markdown table (for CI summaries)')
  .addHelpText('after', '\nExamples:\n  refcount-lab bench --quick\n  refcount-lab bench --only refcount,boundary --markdown')
  .action(async (o: { quick?: boolean; only?: string; reps?: string; callgrind?: boolean; json?: boolean; markdown?: boolean }) => {
    const only = o.only?.split(',').filter(Boolean);
    for (const g of only ?? []) if (!(BENCH_GROUPS as readonly string[]).includes(g)) usage(`unknown bench group ${g}`);
    const report = await runBench({
      quick: o.quick === true,
      callgrind: o.callgrind === true,
      ...(only ? { only: only as BenchGroup[] } : {}),
      ...(o.reps ? { reps: Number(o.reps) } : {}),
      log: (t: string) => process.stderr.write(`[bench] ${t}\n`),
    });
    if (o.json) process.stdout.write(JSON.stringify(report.rows, null, 1) + '\n');
    else if (o.markdown) process.stdout.write(formatMarkdown(report) + '\n');
    else process.stdout.write(formatTable(report) + '\n');
    process.exitCode = EXIT_OK;
  });

program
  .command('draw')
  .description("pictures of the heap: one SVG per printed line of a scenario (the talk's slides), plus an index.html to step through them (arrow keys)")
  .argument('<scenario>', 'a scenario name or a user scenario file')
  .addOption(new Option('--build <build>', 'release | debug | nodealloc').default('release'))
  .requiredOption('--out <dir>', 'directory for frame-NN.svg and index.html')
  .option('--separators', "also draw the '**********' lines")
  .option('--depth <n>', 'references deep from the names (default: all)')
  .option('--json', 'print the frames (line, snapshot, file) as JSON')
  .addHelpText('after', '\nDrawn in guarded mode, in this process: a use after free ends the run, it never crashes it.\nExamples:\n  refcount-lab draw exp_0 --out frames/exp_0\n  refcount-lab draw exp_5_gc_collect --build debug --out frames/exp_5')
  .action(async (name: string, o: { build: string; out: string; separators?: boolean; depth?: string; json?: boolean }) => {
    const [build] = buildsOf(o.build);
    const s = await loadScenario(name).catch((e: Error) => usage(e.message));
    const depth = o.depth === undefined ? undefined : Number(o.depth);
    if (depth !== undefined && !(Number.isInteger(depth) && depth >= 0)) usage('--depth must be a non-negative integer');
    const d = await drawScenario(s, {
      build: build as Build,
      out: o.out,
      separators: !!o.separators,
      ...(depth !== undefined ? { snapshot: { depth } } : {}),
    });
    if (o.json) {
      const frames = d.frames.map((f) => ({ step: f.step, line: f.line, file: f.file, snapshot: f.snapshot }));
      process.stdout.write(JSON.stringify({ scenario: d.scenario, build, outcome: d.outcome, frames }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
    } else {
      for (const f of d.frames) process.stdout.write(`${o.out}/${f.file}  ${f.line}\n`);
      process.stdout.write(`${o.out}/index.html  (${d.frames.length} frames; outcome ${d.outcome.kind})\n`);
    }
  });

program
  .command('explain')
  .description("who holds each reference of a scenario's named objects at one step (rt.refs.explain): container slots, Refs, the runtime, the C API, and what nothing explains")
  .argument('<scenario>', 'a scenario name or a user scenario file')
  .addOption(new Option('--build <build>', 'release | debug | nodealloc').default('release'))
  .option('--step <n>', 'the step, numbered as `draw` numbers its frames (default: the last, when the run ended)')
  .option('--separators', "count the '**********' lines as steps too (as draw --separators)")
  .option('--track', 'a tracking runtime: each Ref and C API reference is shown with the line that took it')
  .option('--json', 'machine-readable output')
  .addHelpText(
    'after',
    '\nRuns guarded, in this process: a use after free ends the run with an outcome, and the last step explains the heap it left.\nExamples:\n  refcount-lab explain exp_0 --step 3\n  refcount-lab explain exp_5 --step 3 --json\n  refcount-lab explain ./my_exp.mjs --build debug',
  )
  .action(async (name: string, o: { build: string; step?: string; separators?: boolean; track?: boolean; json?: boolean }) => {
    const builds = buildsOf(o.build);
    if (builds.length !== 1) usage('explain takes one build (release, debug or nodealloc)');
    const step = o.step === undefined ? undefined : Number(o.step);
    if (step !== undefined && !(Number.isInteger(step) && step >= 1)) usage('--step must be a positive integer');
    const s = await loadScenario(name).catch((e: Error) => usage(e.message));
    const e = explainScenario(s, { build: builds[0] as Build, separators: !!o.separators, track: !!o.track, ...(step !== undefined ? { step } : {}) });
    if (e.at === null) usage(`no step ${step}: ${formatScenarioExplanation(e).trimEnd()}`);
    if (o.json) process.stdout.write(JSON.stringify(e, null, 2) + '\n');
    else process.stdout.write(formatScenarioExplanation(e));
    process.exitCode = EXIT_OK;
  });

// A trace file, read and checked (a usage error when it cannot be replayed as written).
function readTrace(file: string): TraceLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    usage(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return parseTrace(text);
  } catch (e) {
    if (e instanceof TraceError) usage(`${file}: ${e.message}`);
    throw e;
  }
}

program
  .command('replay')
  .description("replay a trace (rt.trace.stop()'s JSON lines) under each build and mode, each in a child process, and print the matrix")
  .argument('<trace>', 'a .jsonl file written from rt.trace.stop()')
  .addOption(new Option('--build <build>', 'release | debug | nodealloc | all (or a comma-separated list)').default('release'))
  .option('--modes <list>', 'guarded,unguarded', 'guarded,unguarded')
  .option('--unguarded', 'unguarded only (raw C: a bad line may segfault; the CLI reports the signal and the line)')
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nExamples:\n  refcount-lab replay trace.jsonl --build all\n  refcount-lab replay trace.jsonl --build debug --unguarded --json')
  .action(async (file: string, o: { build?: string; modes: string; unguarded?: boolean; json?: boolean }) => {
    const builds = buildsOf(o.build);
    const modes = o.unguarded ? ['unguarded'] : o.modes.split(',').map((m) => m.trim());
    for (const m of modes) if (m !== 'guarded' && m !== 'unguarded') usage(`unknown mode '${m}' (guarded, unguarded)`);
    const lines = readTrace(file);
    const jobs = builds.flatMap((b) => modes.map((m) => ({ b, guard: m === 'guarded' })));
    const cells = await pool(jobs, 2, (j) => runReplayCell(file, j.b, j.guard));
    if (o.json) process.stdout.write(JSON.stringify({ trace: file, lines: lines.length, cells }, null, 2) + '\n');
    else process.stdout.write(formatReplayMatrix(file, lines, cells));
    process.exitCode = cells.some(cellFails) ? EXIT_DIFF : EXIT_OK;
  });

program
  .command('bisect')
  .description('find the first line of a trace after which rt.refs.audit() fails (or the reference error, or the reference still outstanding at the end)')
  .argument('<trace>', 'a .jsonl file written from rt.trace.stop()')
  .addOption(new Option('--build <build>', 'release | debug | nodealloc').default('release'))
  .option('--every-line', 'audit after every line, not only after those that go through the C API')
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nReplayed once, in this process, guarded and tracking (docs/provenance.md).\nExample:\n  refcount-lab bisect trace.jsonl --build debug')
  .action((file: string, o: { build: string; everyLine?: boolean; json?: boolean }) => {
    const [build] = buildsOf(o.build);
    const lines = readTrace(file);
    const r = bisectTrace(lines, { build: build as Build, everyLine: o.everyLine === true, source: basename(file) });
    if (o.json) {
      const { audit: _audit, ...rest } = r;
      process.stdout.write(JSON.stringify(rest, null, 2) + '\n');
    } else process.stdout.write(formatBisect(r) + '\n');
    process.exitCode = r.kind === 'clean' ? EXIT_OK : EXIT_DIFF;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  // --help and --version end as a CommanderError with code 0; its usage errors have printed
  // their message already
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT_OK : EXIT_USAGE);
  process.stderr.write(`refcount-lab: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(EXIT_USAGE);
});
