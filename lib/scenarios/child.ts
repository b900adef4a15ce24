/**
 * The child-process runner: `node dist/scenarios/child.js <json spec>`. Runs one scenario and
 * reports its outcome on stderr after a marker line; a crash (SIGSEGV, abort()) ends the
 * process before that, and the parent reports the signal, as the talk's terminal did.
 */
import { writeSync } from 'node:fs';
import type { Build } from '../runtime/index.js';
import { OUTCOME_MARKER, executeScenario, type ScenarioOptions } from './define.js';
import { loadScenario } from './registry.js';


interface Spec {
  scenario: string;
  build: Build;
  guard: boolean;
  options?: ScenarioOptions;
  track?: boolean;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  const scenario = await loadScenario(spec.scenario);
  const outcome = executeScenario(
    scenario,
    spec.build,
    spec.guard,
    (t) => writeSync(1, t),
    spec.options ?? {},
    (t) => writeSync(2, t),
    {},
    { track: spec.track ?? false },
  );
  writeSync(2, `\n${OUTCOME_MARKER}${JSON.stringify(outcome)}\n`);
  process.exit(0);
}

void main();
