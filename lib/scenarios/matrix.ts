/**
 * The scenario x build x mode matrix and the expectations file (lib/scenarios/expectations.json).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../binding.js';
import type { OutcomeKind, RunResult } from './define.js';

/** What one cell is expected to print and how it ends. */
export interface Expectation {
  readonly refcounts: (number | string)[];
  readonly outcome: OutcomeKind;
  /** Why the model ends this way (always given where it differs from CPython). */
  readonly why?: string;
}

export interface ExpectationsFile {
  readonly description?: string;
  /** CPython 3.12.1 on x86-64 Linux, per scenario. */
  readonly cpython: Record<string, Expectation>;
  /** scenario -> build -> mode -> expectation. */
  readonly cells: Record<string, Record<string, Record<string, Expectation>>>;
}

export function defaultExpectationsPath(): string {
  return join(packageRoot(), 'lib', 'scenarios', 'expectations.json');
}

export function loadExpectations(file: string = defaultExpectationsPath()): ExpectationsFile {
  return JSON.parse(readFileSync(file, 'utf8')) as ExpectationsFile;
}

export interface MatrixCell {
  readonly scenario: string;
  readonly build: string;
  readonly mode: string;
  readonly refcounts: (number | string)[];
  readonly outcome: OutcomeKind;
  readonly detail?: string;
  readonly expected?: Expectation;
  /** null when there is no expectation for the cell. */
  readonly matches: boolean | null;
}

export interface MatrixReport {
  readonly cells: MatrixCell[];
  readonly mismatches: number;
  readonly markdown: string;
  readonly cpython: string | null;
}

/** Refcount lists compare as text (values beyond 2**53 are strings). */
function sameRefcounts(a: readonly (number | string)[], b: readonly (number | string)[]): boolean {
  return a.length === b.length && a.every((v, i) => String(v) === String(b[i]));
}

export function cellMatches(r: { refcounts: (number | string)[]; outcome: OutcomeKind }, e: Expectation | undefined): boolean | null {
  if (!e) return null;
  return e.outcome === r.outcome && sameRefcounts(e.refcounts, r.refcounts);
}

function cellText(refcounts: readonly (number | string)[], outcome: string): string {
  const rc = refcounts.map((v) => (typeof v === 'string' || Math.abs(v) > 1e9 ? '0xDD..' : String(v))).join(',');
  return `${rc || '-'} → ${outcome}`;
}

/** Builds the report: every result checked against the expectations; CPython as a column. */
export function compareMatrix(results: readonly RunResult[], exp: ExpectationsFile | null, cpythonVersion: string | null): MatrixReport {
  const cells: MatrixCell[] = [];
  for (const r of results) {
    const expected =
      r.build === 'cpython' ? exp?.cpython[r.scenario] : exp?.cells[r.scenario]?.[r.build]?.[r.mode];
    const cell: MatrixCell = {
      scenario: r.scenario,
      build: r.build,
      mode: r.mode,
      refcounts: r.refcounts,
      outcome: r.outcome.kind,
      ...(r.outcome.detail !== undefined ? { detail: r.outcome.detail } : {}),
      ...(expected ? { expected } : {}),
      matches: cellMatches({ refcounts: r.refcounts, outcome: r.outcome.kind }, expected),
    };
    cells.push(cell);
  }
  const scenarios = [...new Set(cells.map((c) => c.scenario))];
  const columns = [...new Set(cells.map((c) => `${c.build}/${c.mode}`))];
  const col = (c: MatrixCell) => `${c.build}/${c.mode}`;
  const head = columns.map((k) => (k === 'cpython/unguarded' ? `CPython ${cpythonVersion ?? '3.12'}` : k));
  const lines = [`| scenario | ${head.join(' | ')} |`, `|---|${columns.map(() => '---').join('|')}|`];
  for (const s of scenarios) {
    const row = columns.map((k) => {
      const c = cells.find((x) => x.scenario === s && col(x) === k);
      if (!c) return '';
      const mark = c.matches === false ? ' ✗' : '';
      return cellText(c.refcounts, c.outcome) + mark;
    });
    lines.push(`| ${s} | ${row.join(' | ')} |`);
  }
  const mismatches = cells.filter((c) => c.matches === false).length;
  lines.push('');
  lines.push(mismatches === 0 ? 'All cells match lib/scenarios/expectations.json.' : `${mismatches} cell(s) differ from the expectations (✗).`);
  return { cells, mismatches, markdown: lines.join('\n') + '\n', cpython: cpythonVersion };
}
