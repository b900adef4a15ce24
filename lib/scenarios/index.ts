/**
 * Scenarios: the talk's experiments replayed against the API, user scenarios, the runners.
 * See docs/cli.md ("Writing your own scenario").
 */
export { defineScenario, executeScenario, refcountsOf, outcomeOfError, outcomeSummary } from './define.js';
export { runSteps } from './steps.js';
export type { Step, StepOptions } from './steps.js';
export { explainScenario, formatScenarioExplanation } from './explain.js';
export type { NamedObject, ExplainedStep, ScenarioExplanation, ExplainScenarioOptions } from './explain.js';
export type { ExecuteHooks } from './define.js';
export { Names } from './names.js';
export type { NameValue } from './names.js';
export type { Scenario, ScenarioContext, ScenarioOptions, Outcome, OutcomeKind, RunResult } from './define.js';
export { Py } from './py.js';
export type { FValue, StrMethod } from './py.js';
export { SCENARIOS, findScenario, loadScenario } from './registry.js';
export { runScenario, runCPython, findCPython312, normalizeOutput, diffLines, pool } from './runner.js';
export { runMemtest } from './memtest.js';
export type { MemSample, MemtestOptions, MemtestResult } from './memtest.js';
export { loadExpectations, compareMatrix } from './matrix.js';
export type { Expectation, ExpectationsFile, MatrixCell, MatrixReport } from './matrix.js';
