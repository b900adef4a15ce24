/**
 * A scenario's printed lines as frames: after each printed line the scenario's live names
 * (py.bind / py.del / py.call) are snapshotted, so exp_0 becomes the talk's sequence of slides.
 * Runs in this process, guarded by default (a use after free is an outcome, not a crash).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Build } from '../runtime/index.js';
import { outcomeSummary, type Outcome, type Scenario } from '../scenarios/define.js';
import { runSteps, type Step } from '../scenarios/steps.js';
import { loadScenario } from '../scenarios/registry.js';
import { toDot, esc } from './dot.js';
import { snapshot, type HeapSnapshot, type SnapshotOptions } from './snapshot.js';
import { toSvg } from './svg.js';

/** One picture per step of the run (steps as {@link runSteps} numbers them). */
export interface Frame extends Step {
  readonly snapshot: HeapSnapshot;
  readonly dot: string;
  /** Filled in when the frames are rendered (drawScenario with `svg: true` or `out`). */
  svg?: string;
  /** The file name under `out`. */
  readonly file: string;
}

export interface DrawScenarioOptions {
  readonly build?: Build;
  /** Guarded (default true). */
  readonly guard?: boolean;
  /** Write frame-NN.svg and index.html here. */
  readonly out?: string;
  /** Render SVGs even without `out` (default: when `out` is set). */
  readonly svg?: boolean;
  /** Also draw the separator lines (`**********`) as frames (default false). */
  readonly separators?: boolean;
  readonly snapshot?: Omit<SnapshotOptions, 'previous'>;
  readonly options?: Record<string, string | number | boolean>;
}

export interface DrawnScenario {
  readonly scenario: string;
  readonly build: Build;
  readonly outcome: Outcome;
  readonly frames: Frame[];
  /** index.html text (always built; written when `out` is set). */
  readonly html: string;
}

/** Runs the scenario, one frame per step (a printed line; the end of the run). */
export async function drawScenario(scenarioOrName: Scenario | string, options: DrawScenarioOptions = {}): Promise<DrawnScenario> {
  const scenario = typeof scenarioOrName === 'string' ? await loadScenario(scenarioOrName) : scenarioOrName;
  const build = options.build ?? 'release';
  const frames: Frame[] = [];
  let previous: HeapSnapshot | undefined;
  const { outcome } = runSteps(
    scenario,
    { build, guard: options.guard ?? true, separators: options.separators ?? false, options: options.options ?? {} },
    (ctx, step) => {
      const snap = snapshot(ctx.rt, ctx.names(), { ...options.snapshot, ...(previous ? { previous } : {}) });
      previous = snap;
      frames.push({
        ...step,
        snapshot: snap,
        dot: toDot(snap, { title: `${scenario.name} [${build}] — ${step.end ? 'end' : `step ${step.step}`}`, caption: step.line }),
        file: `frame-${String(step.step).padStart(2, '0')}.svg`,
      });
    },
  );
  if (options.svg || options.out) for (const f of frames) f.svg = await toSvg(f.dot);
  const html = indexHtml(scenario, build, outcome, frames);
  if (options.out) {
    mkdirSync(options.out, { recursive: true });
    for (const f of frames) writeFileSync(join(options.out, f.file), f.svg as string);
    writeFileSync(join(options.out, 'index.html'), html);
  }
  return { scenario: scenario.name, build, outcome, frames, html };
}

/** A self-contained page: the SVGs inline, ←/→ (or space, Home/End) step through them. */
function indexHtml(scenario: Scenario, build: Build, outcome: Outcome, frames: Frame[]): string {
  const slides = frames
    .map(
      (f, i) =>
        `<section class="slide" data-step="${f.step}"${i === 0 ? '' : ' hidden'}>\n<pre class="out">${terminal(f.stdout, f.line)}${f.end ? `\n<mark>${esc(f.line)}</mark>` : ''}</pre>\n<div class="pic">${f.svg ? stripXmlProlog(f.svg) : `<pre>${esc(f.dot)}</pre>`}</div>\n</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${esc(scenario.name)} — refcount-lab</title>
<style>
  body { font-family: Helvetica, Arial, sans-serif; margin: 0; background: #f8fafc; color: #111827; }
  header { padding: 10px 18px; background: #1f2937; color: #f9fafb; display: flex; gap: 18px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  header .nav { margin-left: auto; font-size: 14px; }
  button { font-size: 14px; }
  main { padding: 12px 18px; }
  .slide { display: grid; grid-template-columns: minmax(260px, 30%) 1fr; gap: 16px; align-items: start; }
  .slide[hidden] { display: none; }
  pre.out { background: #111827; color: #d1d5db; padding: 10px; border-radius: 6px; font-size: 13px; white-space: pre-wrap; margin: 0; }
  pre.out mark { background: #fde047; color: #111827; }
  .pic svg { max-width: 100%; height: auto; background: white; border: 1px solid #e5e7eb; border-radius: 6px; }
  footer { padding: 0 18px 12px; font-size: 13px; color: #4b5563; }
</style></head>
<body>
<header><h1>${esc(scenario.title)}</h1><span>build: ${esc(build)}</span>
<span class="nav"><button id="prev">←</button> <span id="pos">1 / ${frames.length}</span> <button id="next">→</button></span></header>
<main>
${slides || '<p>This scenario printed nothing.</p>'}
</main>
<footer>outcome: ${esc(outcomeSummary(outcome))} · ← / → step through the frames (Home / End: first / last)</footer>
<script>
(function () {
  var slides = document.querySelectorAll('.slide');
  var pos = document.getElementById('pos');
  var i = 0;
  function show(n) {
    if (!slides.length) return;
    i = Math.max(0, Math.min(slides.length - 1, n));
    for (var k = 0; k < slides.length; k++) slides[k].hidden = k !== i;
    pos.textContent = (i + 1) + ' / ' + slides.length;
    if (location.hash !== '#' + (i + 1)) history.replaceState(null, '', '#' + (i + 1));
  }
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight' || e.key === ' ' || e.key === 'PageDown') { show(i + 1); e.preventDefault(); }
    else if (e.key === 'ArrowLeft' || e.key === 'PageUp') { show(i - 1); e.preventDefault(); }
    else if (e.key === 'Home') show(0);
    else if (e.key === 'End') show(slides.length - 1);
  });
  document.getElementById('prev').onclick = function () { show(i - 1); };
  document.getElementById('next').onclick = function () { show(i + 1); };
  var h = parseInt(location.hash.slice(1), 10);
  show(isNaN(h) ? 0 : h - 1);
})();
</script>
</body></html>
`;
}

/** The terminal so far, the current (last) line highlighted. */
function terminal(stdout: string, line: string): string {
  const lines = stdout.replace(/\n$/, '').split('\n');
  const last = lines.length - 1;
  return lines.map((l, k) => (k === last && l === line ? `<mark>${esc(l)}</mark>` : esc(l))).join('\n');
}

function stripXmlProlog(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, '').replace(/^<!DOCTYPE[^>]*>\s*/, '');
}
