import { RefcountError } from '../../lib/index.js';

/** The RefcountError `fn` throws (any other outcome fails the test). */
export function thrown(fn: () => unknown): RefcountError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RefcountError) return e;
    throw e;
  }
  throw new Error('did not throw');
}
