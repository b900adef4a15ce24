/**
 * Suite-wide leak check (registered in vitest.config.ts): every debug-build runtime a test
 * creates must end — when the test closes it, or at the end of the test if it is still open —
 * with the ref total and the allocated blocks it started with, after a gc.collect(). Allowed:
 * what defineClass made (a class lives as long as its runtime) and immortal objects (interned
 * attribute names stay for good, as in CPython). Tests that leak on purpose say so with
 * allowLeaks(rt, reason). Runtimes created with guard: false are checked on totals only.
 */
import { afterEach, beforeEach } from 'vitest';
import { Runtime, type RuntimeOptions } from '../../lib/runtime/index.js';
import { diffSnapshots, formatLeakReport, leakSnapshot, leaksAllowed, type LeakSnapshot } from '../../lib/leaks.js';

interface Tracked {
  readonly rt: Runtime;
  readonly base: LeakSnapshot;
  allowRefs: number;
  allowBlocks: number;
  checked: boolean;
}

const tracked: Tracked[] = [];
const failures: string[] = [];
const byRuntime = new WeakMap<Runtime, Tracked>();

function immortalObjects(s: LeakSnapshot): number {
  let n = 0;
  for (const c of Object.values(s.census ?? {})) n += c.immortal;
  return n;
}

function check(t: Tracked, when: string): void {
  if (t.checked) return;
  t.checked = true;
  if (leaksAllowed(t.rt) !== undefined) return;
  try {
    t.rt.gc.collect();
  } catch {
    return; // a runtime left in an error state by the test is the test's business
  }
  const now = leakSnapshot(t.rt);
  const r = diffSnapshots(t.base, now);
  const refs = (r.refs ?? 0) - t.allowRefs;
  const blocks = r.blocks - t.allowBlocks - (immortalObjects(now) - immortalObjects(t.base));
  // Fewer references or blocks than at the start is not a leak (a test that deletes a class).
  if (refs > 0 || blocks > 0) {
    failures.push(
      `a debug runtime ${when} with ${refs} leaked references and ${blocks} leaked blocks ` +
        `(beyond its classes and interned names; ${formatLeakReport(r)}). ` +
        `Release what the test made, or call allowLeaks(rt, reason).`,
    );
  }
}

const origCreate = Runtime.create.bind(Runtime);
Runtime.create = (options: RuntimeOptions = {}): Runtime => {
  const rt = origCreate(options);
  if (rt.build === 'debug') {
    const t: Tracked = { rt, base: leakSnapshot(rt), allowRefs: 0, allowBlocks: 0, checked: false };
    tracked.push(t);
    byRuntime.set(rt, t);
  }
  return rt;
};

const origClose = Runtime.prototype.close;
Runtime.prototype.close = function (this: Runtime): void {
  const t = byRuntime.get(this);
  // A close() refused as ERR_RUNTIME_BUSY (from a callback) leaves the runtime open: no check.
  if (t && !this.closed && !this.busy) check(t, 'was closed');
  origClose.call(this);
};

const origDefineClass = Runtime.prototype.defineClass;
Runtime.prototype.defineClass = function (this: Runtime, ...args: Parameters<Runtime['defineClass']>) {
  const t = byRuntime.get(this);
  if (!t) return origDefineClass.apply(this, args);
  const before = leakSnapshot(this);
  const cls = origDefineClass.apply(this, args);
  const d = diffSnapshots(before, leakSnapshot(this));
  t.allowRefs += d.refs ?? 0;
  t.allowBlocks += d.blocks;
  return cls;
};

beforeEach(() => {
  tracked.length = 0;
  failures.length = 0;
});

afterEach(() => {
  for (const t of tracked) if (!t.rt.closed) check(t, 'ended the test');
  tracked.length = 0;
  if (failures.length) {
    const msg = failures.join('\n');
    failures.length = 0;
    throw new Error(`leak check: ${msg}`);
  }
});
