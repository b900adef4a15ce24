/** Row construction: medians, per-repetition ratios, goals. */
import type { BenchGoal, BenchRow } from './types.js';

export function median(xs: readonly number[]): number {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Rounds to 4 significant digits (enough for noisy timings; keeps JSON readable). */
export function round4(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(4));
}

export function goal(on: BenchGoal['on'], max: number, text: string): BenchGoal {
  return { on, max, text };
}

export interface RowSpec {
  id: string;
  group: BenchRow['group'];
  label: string;
  unit: string;
  anchorLabel: string;
  goal: BenchGoal | null;
  note?: string;
}

/**
 * A row from paired samples: values[i] and anchors[i] were measured in the same repetition.
 * value / anchor are the medians; ratio = value / anchor; ratioMin / ratioMax are the extremes
 * of values[i] / anchors[i].
 */
export function makeRow(spec: RowSpec, values: readonly number[], anchors: readonly number[]): BenchRow {
  const n = Math.min(values.length, anchors.length);
  if (n === 0) return missingRow(spec, spec.note ?? 'not measured');
  const v = round4(median(values.slice(0, n)));
  const a = round4(median(anchors.slice(0, n)));
  const per = [];
  for (let i = 0; i < n; i++) per.push((values[i] as number) / (anchors[i] as number));
  const ratio = a > 0 ? round4(v / a) : null;
  const judged = spec.goal ? (spec.goal.on === 'ratio' ? ratio : v) : null;
  const row: BenchRow = {
    id: spec.id,
    group: spec.group,
    label: spec.label,
    value: v,
    unit: spec.unit,
    anchor: a,
    anchorLabel: spec.anchorLabel,
    ratio,
    ratioMin: round4(Math.min(...per)),
    ratioMax: round4(Math.max(...per)),
    reps: n,
    goal: spec.goal,
    met: spec.goal && judged !== null && Number.isFinite(judged) ? judged <= spec.goal.max : null,
    ...(spec.note !== undefined ? { note: spec.note } : {}),
  };
  return row;
}

/** A row that could not be measured on this machine (the note says how to make it measurable). */
export function missingRow(spec: RowSpec, note: string): BenchRow {
  return {
    id: spec.id,
    group: spec.group,
    label: spec.label,
    value: null,
    unit: spec.unit,
    anchor: null,
    anchorLabel: spec.anchorLabel,
    ratio: null,
    ratioMin: null,
    ratioMax: null,
    reps: 0,
    goal: spec.goal,
    met: null,
    note,
  };
}

export const nowNs = (): number => Number(process.hrtime.bigint());
