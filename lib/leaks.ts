/**
 * Leak checks, in the spirit of CPython's `regrtest -R` (refleak hunting): run a piece of code
 * and compare the runtime's reference total and allocated blocks before and after. When they
 * changed, the error says by how much, and which types of object account for it (the guarded
 * registry of live objects knows every object: {@link SysModule.census}).
 */
import { formatAudit, type Audit, type Runtime } from './runtime/index.js';

/**
 * What a runtime holds at one moment, as counts (ref total, blocks, live objects by type): what
 * the leak checks compare. Not the picture graph of `snapshot()` (draw/: `HeapSnapshot`).
 */
export interface LeakSnapshot {
  /** sys.gettotalrefcount() (debug build), else null. */
  readonly refTotal: number | null;
  /** sys.getallocatedblocks(). */
  readonly blocks: number;
  /** Live heap objects by type (guarded runtimes), else null. */
  readonly census: Readonly<Record<string, { objects: number; refs: number; immortal: number }>> | null;
}

/** One type's share of a leak. */
export interface TypeDelta {
  /** Live objects of the type, after minus before. */
  readonly objects: number;
  /** Sum of their refcounts, after minus before. */
  readonly refs: number;
}

/** The difference between two snapshots. */
export interface LeakReport {
  /** Ref total delta (debug build), else null. */
  readonly refs: number | null;
  /** Allocated blocks delta. */
  readonly blocks: number;
  /** Per type (only the types that changed); empty when no census is available. */
  readonly byType: Readonly<Record<string, TypeDelta>>;
  /** Blocks not accounted for by objects (list item arrays, dict keys, raw PyMem blocks). */
  readonly otherBlocks: number;
}

/** Thrown by {@link expectNoLeaks}. */
export class LeakError extends Error {
  readonly report: LeakReport;
  /** rt.refs.audit() at the check (guarded runtimes): which objects hold references that no
   * holder explains, and their holders. */
  readonly audit: Audit | undefined;
  constructor(message: string, report: LeakReport, audit?: Audit) {
    super(message);
    this.name = 'LeakError';
    this.report = report;
    this.audit = audit;
  }
}

/** Takes a {@link LeakSnapshot}. */
export function leakSnapshot(rt: Runtime): LeakSnapshot {
  return {
    refTotal: rt.build === 'debug' ? rt.sys.gettotalrefcount() : null,
    blocks: rt.sys.getallocatedblocks(),
    census: rt.guard ? rt.sys.census() : null,
  };
}

/** @deprecated Renamed {@link leakSnapshot} (not the picture graph of `snapshot()`). */
export const heapSnapshot: (rt: Runtime) => LeakSnapshot = leakSnapshot;

/** The difference `after - before`. */
export function diffSnapshots(before: LeakSnapshot, after: LeakSnapshot): LeakReport {
  const byType: Record<string, TypeDelta> = {};
  let objectBlocks = 0;
  if (before.census && after.census) {
    const names = new Set([...Object.keys(before.census), ...Object.keys(after.census)]);
    for (const n of [...names].sort()) {
      const b = before.census[n] ?? { objects: 0, refs: 0, immortal: 0 };
      const a = after.census[n] ?? { objects: 0, refs: 0, immortal: 0 };
      const d = { objects: a.objects - b.objects, refs: a.refs - b.refs };
      objectBlocks += d.objects;
      if (d.objects !== 0 || d.refs !== 0) byType[n] = d;
    }
  }
  const refs = before.refTotal !== null && after.refTotal !== null ? after.refTotal - before.refTotal : null;
  const blocks = after.blocks - before.blocks;
  return { refs, blocks, byType, otherBlocks: blocks - objectBlocks };
}

/** True when the report shows no leaked reference and no leaked block. */
export function isClean(r: LeakReport): boolean {
  return (r.refs === null || r.refs === 0) && r.blocks === 0;
}

/** The report as text: `leaked 3 references and 2 blocks: list +1 object +2 refs, ...`. */
export function formatLeakReport(r: LeakReport): string {
  const parts = Object.entries(r.byType).map(
    ([n, d]) => `${n} ${signed(d.objects)} object${Math.abs(d.objects) === 1 ? '' : 's'} ${signed(d.refs)} ref${Math.abs(d.refs) === 1 ? '' : 's'}`,
  );
  if (r.otherBlocks !== 0) parts.push(`other blocks ${signed(r.otherBlocks)}`);
  const refs = r.refs === null ? '' : `${signed(r.refs)} references and `;
  return `leaked ${refs}${signed(r.blocks)} blocks` + (parts.length ? `: ${parts.join(', ')}` : '');
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

/** Options of {@link expectNoLeaks}. */
export interface NoLeaksOptions {
  /** Run gc.collect() before each snapshot, as CPython's refleak runs do (default true):
   * cyclic garbage the collector can free is not a leak, and a full collection empties the
   * free lists, whose parked floats, lists, dicts and tuples still hold their blocks. */
  readonly collect?: boolean;
}

/**
 * Runs `fn` and throws a {@link LeakError} when the runtime's ref total (debug build) or its
 * allocated blocks changed, with the exact deltas by type. Define classes (and intern
 * attribute names) before, not inside: a class lives as long as its runtime.
 * Returns fn's result (a Promise when fn is async; the check then runs when it settles).
 */
export function expectNoLeaks<T>(rt: Runtime, fn: () => T, options: NoLeaksOptions = {}): T {
  const collect = options.collect ?? true;
  if (collect) rt.gc.collect();
  const before = leakSnapshot(rt);
  const check = (): void => {
    if (rt.closed) throw new Error('expectNoLeaks: the runtime was closed by the checked code');
    if (collect) rt.gc.collect();
    const report = diffSnapshots(before, leakSnapshot(rt));
    if (isClean(report)) return;
    // Which reference leaked: the audit names the objects whose holders do not add up.
    const audit = rt.guard && rt.leakWarnings ? rt.refs.audit() : undefined;
    const detail = audit === undefined || audit.ok ? '' : `\n${formatAudit(audit)}`;
    throw new LeakError(formatLeakReport(report) + detail, report, audit);
  };
  const result = fn();
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    return (result as unknown as Promise<unknown>).then((v) => {
      check();
      return v;
    }) as T;
  }
  check();
  return result;
}

const allowed = new WeakMap<Runtime, string>();

/** Declares that `rt` leaks on purpose (the test suite's per-test leak check skips it). */
export function allowLeaks(rt: Runtime, reason: string): void {
  if (!reason) throw new TypeError('allowLeaks needs a reason');
  allowed.set(rt, reason);
}

/** Why `rt` may leak, or undefined. */
export function leaksAllowed(rt: Runtime): string | undefined {
  return allowed.get(rt);
}
