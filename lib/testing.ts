/**
 * `refcount-lab/testing`: leak checks for a test suite (in the spirit of CPython's refleak runs).
 *
 * ```ts
 * import { expectNoLeaks } from 'refcount-lab/testing';
 * expectNoLeaks(rt, () => { using l = rt.list([1, 2]); });
 * ```
 */
export {
  expectNoLeaks,
  allowLeaks,
  leaksAllowed,
  leakSnapshot,
  heapSnapshot,
  diffSnapshots,
  formatLeakReport,
  isClean,
  LeakError,
} from './leaks.js';
export type { LeakSnapshot, LeakReport, TypeDelta, NoLeaksOptions } from './leaks.js';
