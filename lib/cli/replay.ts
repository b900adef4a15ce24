/**
 * The `replay` command's matrix: one trace replayed under each build × mode, each cell in its own
 * child process (lib/cli/replay-child.ts), since an unguarded replay of a bug may segfault or
 * abort, as C would. The child reports the line it is about to run, so a crash names the line it
 * died in (the scenarios' runner reports signals the same way: lib/scenarios/runner.ts).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Build } from '../binding.js';
import { outcomeOfExit } from '../scenarios/runner.js';
import { formatTraceLine, type TraceLine } from '../trace.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'replay-child.js');
/** Before each line the child runs: this, then the line's seq. */
export const LINE_MARKER = '@@refcount-lab-line@@';
/** The first line that raised a reference error (LIFETIME_ERRORS) / that ended otherwise than
 * recorded: this, then JSON. */
export const ERROR_MARKER = '@@refcount-lab-first-error@@';
export const MISMATCH_MARKER = '@@refcount-lab-first-mismatch@@';
/** At the end: this, then the cell's summary (JSON). */
export const SUMMARY_MARKER = '@@refcount-lab-replay@@';

/** What the child reports of one replay. */
export interface CellSummary {
  readonly lines: number;
  readonly mismatches: number;
  readonly notReplayed: number;
  /** Guarded cells: `rt.refs.audit()` after the last line. */
  readonly audit?: {
    readonly ok: boolean;
    readonly objects: number;
    readonly unexplained: number;
    readonly dangling: number;
    readonly danglingRefs: number;
    readonly text: string;
  };
}

/** One cell of the matrix. */
export interface ReplayCell extends Partial<CellSummary> {
  readonly build: Build;
  readonly mode: 'guarded' | 'unguarded';
  /** 'done': the replay reached the end; 'crash': the process died of a signal; 'failed': it
   * ended otherwise (see detail). */
  readonly ended: 'done' | 'crash' | 'failed';
  readonly signal?: string;
  /** The fatal text of an abort, or why the child failed. */
  readonly detail?: string;
  /** The line that was running when the process died. */
  readonly crashedAt?: number;
  /** The first line that raised a reference error (a released Ref used, a use after free...:
   * LIFETIME_ERRORS in lib/trace.ts), with the code; the Python exceptions a program raises and
   * catches (KeyError...) are not. */
  readonly firstError?: { readonly seq: number; readonly code: string; readonly message: string };
  /** The first line that ended otherwise than recorded. */
  readonly firstMismatch?: { readonly seq: number; readonly expected: string; readonly outcome: string };
  readonly ms: number;
}

/** Replays the trace file under one build and mode, in a child process. */
export function runReplayCell(file: string, build: Build, guard: boolean, timeoutMs = 300_000): Promise<ReplayCell> {
  const t0 = performance.now();
  const mode = guard ? 'guarded' : 'unguarded';
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--no-warnings', CHILD, JSON.stringify({ file, build, guard })], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let lastLine: number | undefined;
    let pending = '';
    const extra: Pick<ReplayCell, 'firstError' | 'firstMismatch'> = {};
    let summary: CellSummary | undefined;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      const rows = pending.split('\n');
      pending = rows.pop() ?? '';
      for (const row of rows) {
        if (row.startsWith(LINE_MARKER)) lastLine = Number(row.slice(LINE_MARKER.length));
        else if (row.startsWith(ERROR_MARKER)) Object.assign(extra, { firstError: JSON.parse(row.slice(ERROR_MARKER.length)) as unknown });
        else if (row.startsWith(MISMATCH_MARKER)) Object.assign(extra, { firstMismatch: JSON.parse(row.slice(MISMATCH_MARKER.length)) as unknown });
        else if (row.startsWith(SUMMARY_MARKER)) summary = JSON.parse(row.slice(SUMMARY_MARKER.length)) as CellSummary;
        else stderr += row + '\n';
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      stderr += pending;
      const ms = Math.round(performance.now() - t0);
      const base = { build, mode, ...extra, ms } as const;
      if (summary !== undefined && code === 0) {
        resolve({ ...base, ...summary, ended: 'done' });
        return;
      }
      const o = outcomeOfExit(code, signal, stderr);
      const crash = o.signal !== undefined;
      resolve({
        ...base,
        ended: crash ? 'crash' : 'failed',
        ...(o.signal === undefined ? {} : { signal: o.signal }),
        ...(o.detail === undefined ? {} : { detail: o.detail }),
        ...(lastLine === undefined ? {} : { crashedAt: lastLine }),
      });
    });
  });
}

/** Whether a cell shows a problem: a crash, a reference error, a failed audit, a line that
 * ended otherwise than recorded, a child that failed. */
export function cellFails(c: ReplayCell): boolean {
  return c.ended !== 'done' || c.firstError !== undefined || c.audit?.ok === false || c.firstMismatch !== undefined;
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** The short text of a cell for the table. */
export function cellText(c: ReplayCell): string {
  if (c.ended === 'crash') return `${c.signal ?? 'killed'} at line ${c.crashedAt ?? '?'}`;
  if (c.ended === 'failed') return 'failed (see below)';
  const parts = [c.firstError === undefined ? 'ok' : `${c.firstError.code} at line ${c.firstError.seq}`];
  if (c.audit !== undefined) {
    const a = c.audit;
    const bad = [
      a.unexplained ? `${a.unexplained} unexplained` : '',
      a.dangling ? plural(a.dangling, 'dangling slot') : '',
      a.danglingRefs ? plural(a.danglingRefs, 'dangling Ref') : '',
    ].filter(Boolean);
    parts.push(a.ok ? 'audit ok' : `audit: ${bad.join(', ')}`);
  }
  const m = c.firstMismatch;
  parts.push(m === undefined ? 'as recorded' : `line ${m.seq}: ${m.outcome}, recorded ${m.expected}`);
  return parts.join('; ');
}

/** The matrix as text: a markdown table (builds × modes), then what each cell's first error or
 * crash was, with the trace line (its operation and the call site it was recorded at). */
export function formatReplayMatrix(file: string, lines: readonly TraceLine[], cells: readonly ReplayCell[]): string {
  const bySeq = new Map(lines.map((l) => [l.seq, l]));
  const recorded = lines.find((l) => l.error !== undefined);
  const modes = [...new Set(cells.map((c) => c.mode))];
  const builds = [...new Set(cells.map((c) => c.build))];
  const out = [
    `replay ${file}: ${lines.length} lines; recorded: ${recorded === undefined ? 'no error' : `${recorded.error ?? ''} at line ${recorded.seq}`}`,
    '',
    `| build | ${modes.join(' | ')} |`,
    `|---|${modes.map(() => '---').join('|')}|`,
  ];
  for (const b of builds) out.push(`| ${b} | ${modes.map((m) => cells.find((c) => c.build === b && c.mode === m)).map((c) => (c ? cellText(c) : '')).join(' | ')} |`);
  out.push('');
  for (const c of cells) {
    const at = c.ended === 'crash' ? c.crashedAt : c.firstError?.seq;
    const line = at === undefined ? undefined : bySeq.get(at);
    const where = line ? formatTraceLine(line, false) : `line ${at ?? '?'}`;
    const cell = `${c.build}/${c.mode}`;
    if (c.ended === 'crash') {
      out.push(`${cell}: ${c.signal ?? ''} in ${where}`);
      if (c.signal === 'SIGABRT' && c.detail) out.push(...c.detail.split('\n').slice(0, 3).map((t) => `    ${t}`));
    } else if (c.ended === 'failed') out.push(`${cell}: the replay failed: ${c.detail ?? ''}`);
    else if (c.firstError !== undefined) out.push(`${cell}: ${c.firstError.code} in ${where}`, `    ${c.firstError.message}`);
    if (c.audit !== undefined && !c.audit.ok) {
      if (c.firstError === undefined) out.push(`${cell}: the audit at the end`);
      out.push(...c.audit.text.split('\n').map((t) => `    ${t}`));
    }
  }
  return out.join('\n').trimEnd() + '\n';
}
