/**
 * A scenario's steps, as `refcount-lab draw` and `refcount-lab explain` number them: one step
 * per printed line (the `**********` separators skipped unless asked for), 1-based, then one
 * last step when the run ended (normally or not). At each step the heap and the scenario's
 * names are as the printed line left them.
 */
import type { Build } from '../runtime/index.js';
import { executeScenario, type Outcome, type Scenario, type ScenarioContext, type ScenarioOptions } from './define.js';

/** One step of a run. */
export interface Step {
  /** 1-based, in print order; the end of the run is the last step. */
  readonly step: number;
  /** The printed line (the last step: `[end: <outcome>]`). */
  readonly line: string;
  /** True for the last step, taken when the run ended (not at a print). */
  readonly end: boolean;
  /** Everything printed up to and including this line. */
  readonly stdout: string;
}

export interface StepOptions {
  readonly build: Build;
  /** Guarded (default true): a use after free ends the run with an outcome, never a crash. */
  readonly guard?: boolean;
  /** Also count the separator lines (`**********`) as steps (default false). */
  readonly separators?: boolean;
  readonly options?: ScenarioOptions;
  /** A tracking runtime (default false). */
  readonly track?: boolean;
}

const SEPARATOR = /^\*+$/;

/**
 * Runs the scenario in this process and calls `onStep` at every step, while the runtime is
 * open (what it reads from `ctx.rt` and `ctx.names()` is the heap at that line). Returns how
 * the run ended and how many steps it had.
 */
export function runSteps(scenario: Scenario, o: StepOptions, onStep: (ctx: ScenarioContext, step: Step) => void): { outcome: Outcome; steps: number } {
  let stdout = '';
  let steps = 0;
  const outcome = executeScenario(
    scenario,
    o.build,
    o.guard ?? true,
    (t) => {
      stdout += t;
    },
    o.options ?? {},
    () => {},
    {
      afterPrint(ctx, line) {
        if (!o.separators && SEPARATOR.test(line)) return;
        onStep(ctx, { step: ++steps, line, end: false, stdout });
      },
      // The last step: the names when the run ended (after exp_5's gc.collect(), the cycle is
      // gone and root_id names freed memory).
      atEnd(ctx, outcome) {
        onStep(ctx, { step: ++steps, line: `[end: ${outcome.kind}]`, end: true, stdout });
      },
    },
    { track: o.track ?? false },
  );
  return { outcome, steps };
}
