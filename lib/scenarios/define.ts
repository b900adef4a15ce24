/**
 * The shape of a scenario, the outcome of a run, and the in-process executor.
 *
 * A user scenario is a module whose default export is `defineScenario({...})`:
 *
 * ```ts
 * import { defineScenario } from 'refcount-lab/scenarios';   // dist/scenarios/index.js
 * export default defineScenario({
 *   name: 'my_exp',
 *   title: 'a list survives its name',
 *   run({ rt, py: { print, f } }) {
 *     const ref = rt.ctypes.c_long.from_address;
 *     const l = rt.list([1, 2]);
 *     const l_id = l.id;
 *     let ref_l = ref(l_id).value;
 *     print(f`1 - ${{ ref_l }}`);
 *   },
 * });
 * ```
 * and runs under every build with `refcount-lab run ./my_exp.js --build all --unguarded`.
 */
import { RefcountError } from '../errors.js';
import { Runtime, type Address, type Build } from '../runtime/index.js';
import type { NameValue } from './names.js';
import { Py } from './py.js';

/** The line the child runner writes to stderr before its outcome (JSON). */
export const OUTCOME_MARKER = '@@refcount-lab-outcome@@';

/** Options a scenario may read (exp_6's size, iterations...). */
export type ScenarioOptions = Readonly<Record<string, string | number | boolean>>;

/** What a scenario's `run` receives. */
export interface ScenarioContext {
  readonly rt: Runtime;
  readonly py: Py;
  readonly build: Build;
  readonly guard: boolean;
  readonly options: ScenarioOptions;
  /** The scenario's current Python names (what `py.bind` / `py.del` / `py.call` recorded). */
  names(): Record<string, NameValue>;
  /** Writes a line to stderr (not part of the compared output). */
  readonly note: (text: string) => void;
  /** Lets a scenario end with an outcome of its own (exp_6: memory-growth). */
  setOutcome(outcome: 'ok' | 'memory-growth', detail?: string): void;
}

/** A scenario: a function against the public API, plus where its Python original lives. */
export interface Scenario {
  readonly name: string;
  readonly title: string;
  /** The Python original (lib/scenarios/python/<file>) and its command-line switches. */
  readonly python?: { readonly file: string; readonly args?: readonly string[] };
  /** Default options (the CLI may override them). */
  readonly options?: ScenarioOptions;
  run(ctx: ScenarioContext): void;
}

/** Identity helper that types a scenario (and documents the shape). */
export function defineScenario(s: Scenario): Scenario {
  if (!s || typeof s.name !== 'string' || !/^[\w.-]+$/.test(s.name)) throw new TypeError('a scenario needs a name ([A-Za-z0-9_.-]+)');
  if (typeof s.run !== 'function') throw new TypeError(`scenario ${s.name}: run must be a function`);
  return Object.freeze({ ...s, title: s.title ?? s.name });
}

/** How a run ended. */
export type OutcomeKind =
  | 'ok'
  | 'segfault'
  | 'abort'
  | 'python-exception'
  | 'use-after-free'
  | 'invalid-address'
  | 'memory-growth'
  | 'error';

export interface Outcome {
  readonly kind: OutcomeKind;
  /** Signal name for segfault / abort / other signals. */
  readonly signal?: string;
  /** The fatal text (abort), the exception line (python-exception), the error message... */
  readonly detail?: string;
  /** RefcountError code, when the run ended in one. */
  readonly code?: string;
}

/** One run of one scenario under one build and mode. */
export interface RunResult {
  readonly scenario: string;
  readonly build: Build | 'cpython';
  readonly mode: 'guarded' | 'unguarded';
  /** Everything printed to stdout, as text. */
  readonly stdout: string;
  /** The refcounts printed (`Ref count ref_a = N` / `root ref count root_ref_count = N`). */
  readonly refcounts: (number | string)[];
  readonly outcome: Outcome;
  readonly stderr: string;
  readonly ms: number;
}

/** Extracts the refcount values printed (numbers; strings when beyond 2**53). */
export function refcountsOf(stdout: string): (number | string)[] {
  const out: (number | string)[] = [];
  for (const m of stdout.matchAll(/[Rr]ef count \w+ = (-?\d+)/g)) {
    const v = m[1] as string;
    const n = Number(v);
    out.push(Number.isSafeInteger(n) ? n : v);
  }
  return out;
}

/** Maps an error thrown by a scenario to an outcome. */
export function outcomeOfError(err: unknown): Outcome {
  if (err instanceof RefcountError) {
    if (err.code === 'ERR_USE_AFTER_FREE') return { kind: 'use-after-free', code: err.code, detail: err.message };
    if (err.code === 'ERR_INVALID_ADDRESS') return { kind: 'invalid-address', code: err.code, detail: err.message };
    if (err.pythonType) return { kind: 'python-exception', code: err.code, detail: `${err.pythonType}: ${err.message}` };
    return { kind: 'error', code: err.code, detail: `${err.name} [${err.code}]: ${err.message}` };
  }
  return { kind: 'error', detail: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

/** An outcome in one line: its kind, the error code, the first line of its detail. */
export function outcomeSummary(o: Outcome, max = 100): string {
  return o.kind + (o.code ? ` (${o.code})` : '') + (o.detail ? `: ${(o.detail.split('\n')[0] as string).slice(0, max)}` : '');
}

/** Hooks of {@link executeScenario} (the pictures use them). */
export interface ExecuteHooks {
  /** Called after each printed line, with the context (the heap and the names at that line). */
  afterPrint?(ctx: ScenarioContext, line: string): void;
  /** Called once the run has ended (normally or not), before the runtime closes. */
  atEnd?(ctx: ScenarioContext, outcome: Outcome): void;
}

/**
 * Runs a scenario in this process. Only safe in guarded mode (unguarded runs may crash the
 * process: use the child-process runner). `write` receives stdout text as it is printed.
 */
export function executeScenario(
  scenario: Scenario,
  build: Build,
  guard: boolean,
  write: (text: string) => void,
  options: ScenarioOptions = {},
  note: (text: string) => void = () => {},
  hooks: ExecuteHooks = {},
  runtime: { readonly track?: boolean } = {},
): Outcome {
  let own: Outcome | undefined;
  const rt = Runtime.create({ build, guard, stderr: note, track: runtime.track ?? false });
  const afterPrint = hooks.afterPrint;
  const py: Py = new Py(rt, write, afterPrint ? (line) => afterPrint(ctx, line) : undefined);
  const ctx: ScenarioContext = {
    rt,
    py,
    names: () => py.names.current(),
    build,
    guard,
    options: { ...scenario.options, ...options },
    note,
    setOutcome(kind, detail) {
      own = detail === undefined ? { kind } : { kind, detail };
    },
  };
  let outcome: Outcome;
  try {
    scenario.run(ctx);
    outcome = own ?? { kind: 'ok' };
  } catch (err) {
    outcome = outcomeOfError(err);
  }
  try {
    hooks.atEnd?.(ctx, outcome);
    if (rt.tracking && !rt.closed) note(freedNamesReport(rt, py));
  } finally {
    rt.close();
  }
  return outcome;
}

/** A tracking run's last words: each object a Python name held that was freed, with where it
 * was allocated and where (and by which operation) it was freed. */
function freedNamesReport(rt: Runtime, py: Py): string {
  const lines: string[] = [];
  const at = (e: { op: string; site?: string } | undefined) => (e === undefined ? 'before the tracking' : `by ${e.op}${e.site === undefined ? '' : ` at ${e.site}`}`);
  const names = new Map<Address, string[]>();
  for (const [name, address] of py.names.boundObjects()) {
    const list = names.get(address);
    if (list === undefined) names.set(address, [name]);
    else if (!list.includes(name)) list.push(name);
  }
  for (const [address, held] of names) {
    const h = rt.refs.history(address);
    if (h === null || !h.freed) continue;
    lines.push(`  ${held.join(', ')}: a '${h.typeName}' object at 0x${address.toString(16)}`);
    lines.push(`    allocated ${at(h.allocated)}`);
    lines.push(`    freed ${at(h.freedBy)}`);
    if (h.unownedDecref !== undefined) lines.push(`    its decref without an owner: ${at(h.unownedDecref)}`);
  }
  return lines.length === 0 ? '' : `freed objects that had a name (tracking run):\n${lines.join('\n')}\n`;
}
