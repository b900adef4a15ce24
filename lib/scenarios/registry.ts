/** Every built-in scenario, and loading user scenarios from files. */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Scenario } from './define.js';
import { exp_6, exp_6_gc_disabled } from './memtest.js';
import { TALK_SCENARIOS } from './talk.js';

/** The talk's scenarios, in the talk's order. */
export const SCENARIOS: readonly Scenario[] = [...TALK_SCENARIOS, exp_6, exp_6_gc_disabled];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

/** True when `nameOrPath` looks like a user scenario file. */
export function isScenarioFile(nameOrPath: string): boolean {
  return /\.(m?js|cjs)$/.test(nameOrPath) || nameOrPath.includes('/');
}

/** A built-in scenario by name, or a user module (default export = defineScenario(...)). */
export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const builtin = findScenario(nameOrPath);
  if (builtin) return builtin;
  if (isScenarioFile(nameOrPath)) {
    const file = isAbsolute(nameOrPath) ? nameOrPath : resolve(process.cwd(), nameOrPath);
    if (!existsSync(file)) throw new Error(`no such scenario file: ${file}`);
    const mod = (await import(pathToFileURL(file).href)) as { default?: Scenario; scenario?: Scenario };
    const s = mod.default ?? mod.scenario;
    if (!s || typeof s.run !== 'function') throw new Error(`${file} does not export a scenario (export default defineScenario({...}))`);
    return s;
  }
  throw new Error(`unknown scenario '${nameOrPath}' (try: ${SCENARIOS.map((s) => s.name).join(', ')})`);
}
