/**
 * Who holds each reference of a scenario's named objects at one step (`refcount-lab explain`):
 * the scenario runs guarded in this process, and at the chosen step (steps as `draw` numbers
 * them; by default the last, when the run ended) `rt.refs.explain` accounts for every object a
 * Python name of the scenario points at, by reference or as an `id(...)` kept as a number.
 */
import { RefcountError } from '../errors.js';
import { formatExplanation, type Address, type Build, type Explanation } from '../runtime/index.js';
import { hex } from '../runtime/util.js';
import { outcomeSummary, type Outcome, type Scenario, type ScenarioOptions } from './define.js';
import { runSteps } from './steps.js';

/** One object the scenario's names point at, and who holds its references. */
export interface NamedObject {
  readonly address: Address;
  /** The names holding a reference to it (a Ref each: `a = A()`). */
  readonly names: readonly string[];
  /** The names holding only its address (`a_id = id(a)`: no reference). */
  readonly ids: readonly string[];
  /** 'live', or what the guarded runtime says is at the address: 'freed' (deallocated),
   * 'invalid' (never an object of this runtime). */
  readonly state: 'live' | 'freed' | 'invalid';
  /** `rt.refs.explain` of a live object, else null. */
  readonly explanation: Explanation | null;
  /** Why there is no explanation (the runtime's error message), for an object not live. */
  readonly error?: string;
}

/** The step explained. */
export interface ExplainedStep {
  readonly step: number;
  /** The printed line (the end of the run: `[end: <outcome>]`). */
  readonly line: string;
  readonly end: boolean;
  readonly objects: readonly NamedObject[];
}

/** {@link explainScenario}'s answer. */
export interface ScenarioExplanation {
  readonly scenario: string;
  readonly build: Build;
  readonly outcome: Outcome;
  /** How many steps the run had (the last is the end of the run). */
  readonly steps: number;
  /** The step explained; null when the run ended before the step asked for. */
  readonly at: ExplainedStep | null;
}

export interface ExplainScenarioOptions {
  readonly build?: Build;
  /** The step (1-based, as `draw` numbers them); default: the last, when the run ended. */
  readonly step?: number;
  /** Count the `**********` separator lines as steps too (as `draw --separators`). */
  readonly separators?: boolean;
  readonly options?: ScenarioOptions;
  /** A tracking runtime: each Ref holder and C API reference comes with the line that took it. */
  readonly track?: boolean;
}

/** Runs the scenario (guarded, in this process) and explains its named objects at one step. */
export function explainScenario(scenario: Scenario, o: ExplainScenarioOptions = {}): ScenarioExplanation {
  const build = o.build ?? 'release';
  let at: ExplainedStep | null = null;
  const { outcome, steps } = runSteps(scenario, { build, guard: true, separators: o.separators ?? false, options: o.options ?? {}, track: o.track ?? false }, (ctx, s) => {
    if (o.step === undefined ? !s.end : s.step !== o.step) return;
    // Names in binding order; several names may point at one object.
    const byAddress = new Map<Address, { names: string[]; ids: string[] }>();
    for (const [name, v] of Object.entries(ctx.names())) {
      const address = typeof v === 'number' ? v : v.id;
      let entry = byAddress.get(address);
      if (entry === undefined) byAddress.set(address, (entry = { names: [], ids: [] }));
      (typeof v === 'number' ? entry.ids : entry.names).push(name);
    }
    const objects: NamedObject[] = [];
    for (const [address, { names, ids }] of byAddress) {
      try {
        objects.push({ address, names, ids, state: 'live', explanation: ctx.rt.refs.explain(address) });
      } catch (err) {
        // Only a guarded runtime's verdict on the address is expected here.
        if (!(err instanceof RefcountError) || (err.code !== 'ERR_USE_AFTER_FREE' && err.code !== 'ERR_INVALID_ADDRESS')) throw err;
        objects.push({ address, names, ids, state: err.code === 'ERR_USE_AFTER_FREE' ? 'freed' : 'invalid', explanation: null, error: err.message });
      }
    }
    at = { step: s.step, line: s.line, end: s.end, objects };
  });
  return { scenario: scenario.name, build, outcome, steps, at };
}

/** The text form: the step, how the run ended if not ok, then each named object explained. */
export function formatScenarioExplanation(e: ScenarioExplanation): string {
  const out: string[] = [];
  if (e.at === null) return `${e.scenario} [${e.build}]: the run has ${e.steps} steps (it ended: ${outcomeSummary(e.outcome, 160)})`;
  out.push(`${e.scenario} [${e.build}] step ${e.at.step} of ${e.steps}: ${e.at.line}`);
  if (e.outcome.kind !== 'ok') out.push(`the run ended: ${outcomeSummary(e.outcome, 160)}`);
  if (e.at.objects.length === 0) out.push('', 'no names are bound at this step');
  for (const obj of e.at.objects) {
    const who = [...obj.names, ...obj.ids.map((n) => `${n} (id only)`)].join(', ');
    out.push('', `${who}:`);
    out.push(obj.explanation ? formatExplanation(obj.explanation) : `${hex(obj.address)}: ${obj.state} — ${obj.error ?? 'no object'}`);
  }
  return out.join('\n') + '\n';
}
