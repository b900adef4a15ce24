// The native boundary itself: decisions the core makes (not lib/), seen through the raw binding
// of each build. lib/ only wraps these; a regression that moved a decision back into lib/ would
// leave the binding silent here.
import { describe, expect, it } from 'vitest';
import { BUILDS, loadBuild } from '../lib/binding.js';

describe.each(BUILDS)('the %s binding', (build) => {
  const native = loadBuild(build);

  it('raises ERR_NOT_IN_BUILD itself for what only the debug build has', () => {
    const rt = native.createRuntime({ guard: true });
    try {
      for (const [call, what] of [
        [() => rt.refTotal(), 'sys.gettotalrefcount'],
        [() => rt.showrefcount(), 'showrefcount'],
        [() => rt.stats(), 'Py_STATS'],
      ] as const) {
        if (build === 'debug') {
          expect(call).not.toThrow();
        } else {
          expect(call).toThrow(
            expect.objectContaining({
              code: 'ERR_NOT_IN_BUILD',
              message: `${what} exists only in the debug build (Py_REF_DEBUG); this runtime is '${build}'`,
            }),
          );
        }
      }
      expect(typeof rt.census()).toBe('object');
    } finally {
      rt.close();
    }
  });

  it('raises ERR_NOT_IN_BUILD itself for a census of an unguarded runtime', () => {
    const rt = native.createRuntime({ guard: false });
    try {
      expect(() => rt.census()).toThrow(expect.objectContaining({ code: 'ERR_NOT_IN_BUILD' }));
    } finally {
      rt.close();
    }
  });

  it('validates the gc setters in the core, in argument order', () => {
    const rt = native.createRuntime({ guard: true });
    try {
      const before = rt.gcGetThreshold();
      expect(() => rt.gcSetThreshold(500, 1.5)).toThrow(expect.objectContaining({ code: 'ERR_TYPE' }));
      expect(rt.gcGetThreshold()).toEqual([500, before[1], before[2]]);
      expect(() => rt.gcSetThreshold(1, 2 ** 31)).toThrow(expect.objectContaining({ code: 'ERR_OVERFLOW' }));
      expect(() => rt.gcSetThreshold()).toThrow(expect.objectContaining({ code: 'ERR_TYPE' }));
      expect(() => rt.gcSetThreshold('1' as unknown as number)).toThrow(TypeError);
      expect(() => rt.gcSetDebug(0.5)).toThrow(expect.objectContaining({ code: 'ERR_TYPE' }));
      rt.gcSetDebug(32);
      expect(rt.gcGetDebug()).toBe(32);
      expect(rt.gcSetEnabled(false)).toBe(true);
      expect(rt.gcSetEnabled(true)).toBe(false);
    } finally {
      rt.close();
    }
  });

  it('names the bad element of a guarded batch and leaves every count untouched', () => {
    const rt = native.createRuntime({ guard: true });
    try {
      const a = rt.newFloat(1.5);
      expect(() => rt.increfMany(new Float64Array([a, a, 0.5]))).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ADDRESS', message: 'element 2 is not an address' }),
      );
      expect(rt.refcnt(a)).toBe(1);
      rt.decref(a);
    } finally {
      rt.close();
    }
  });
});
