// One schema crosses the boundary: the native side defines each constant list once
// (native/core/schema.h) and every build exports it as `constants`; lib/ keeps compile-time
// `as const` copies (lib/schema.ts, lib/errors.ts). Each must agree with every build.
import { describe, expect, it } from 'vitest';
import { BUILDS, loadBuild } from '../lib/binding.js';
import { ERROR_CODES } from '../lib/errors.js';
import {
  ALLOCATORS,
  ARENA_ALLOCATORS,
  GC_DEBUG_FLAGS,
  MALLOC_STATS_FIELDS,
  OBJECT_KINDS,
  PACKED_KINDS,
  PACKED_MAX_PAIRS,
  IO_DOUBLES,
  IO_RUNTIME,
} from '../lib/schema.js';
import { Runtime } from '../lib/index.js';

describe.each(BUILDS)('the %s build and lib/ agree on', (build) => {
  const c = loadBuild(build).constants;

  it('the object kinds', () => expect(c.kinds).toEqual([...OBJECT_KINDS]));
  it('the gc debug flags', () => expect(c.gcDebugFlags).toEqual({ ...GC_DEBUG_FLAGS }));
  it('the allocator names', () => {
    expect(c.allocators).toEqual([...ALLOCATORS]);
    expect(c.arenaAllocators).toEqual([...ARENA_ALLOCATORS]);
  });
  it('the packed attribute layout of callClassPacked', () => {
    expect(c.packedKinds).toEqual({ ...PACKED_KINDS });
    expect(c.packedMaxPairs).toBe(PACKED_MAX_PAIRS);
  });
  it('the io block of the *Io functions', () => {
    expect(c.ioDoubles).toBe(IO_DOUBLES);
    expect(c.ioRuntime).toBe(IO_RUNTIME);
  });
  it('the MallocStats counters', () => expect(c.mallocStatsFields).toEqual([...MALLOC_STATS_FIELDS]));
  it('the error codes: the native ones first, in order, then only codes no build has', () => {
    expect(ERROR_CODES.slice(0, c.errorCodes.length)).toEqual(c.errorCodes);
    for (const code of ERROR_CODES.slice(c.errorCodes.length)) expect(c.errorCodes).not.toContain(code);
    expect(loadBuild(build).errorCodes).toEqual(c.errorCodes);
  });

  it('what a runtime reports uses the schema', () => {
    const rt = Runtime.create({ build });
    try {
      const kinds = [rt.int(1000), rt.float(1.5), rt.str('schema'), rt.list([]), rt.dict({}), rt.tuple([1])];
      for (const r of kinds) expect(OBJECT_KINDS).toContain(r.kind);
      expect(kinds.map((r) => r.kind)).toEqual(['int', 'float', 'str', 'list', 'dict', 'tuple']);
      for (const r of kinds) r.release();
      const stats = rt.sys.mallocStats();
      for (const f of MALLOC_STATS_FIELDS) expect(typeof stats[f]).toBe('number');
      expect(ALLOCATORS).toContain(stats.allocator);
      expect(rt.gc.DEBUG_LEAK).toBe(rt.gc.DEBUG_COLLECTABLE | rt.gc.DEBUG_UNCOLLECTABLE | rt.gc.DEBUG_SAVEALL);
    } finally {
      rt.close();
    }
  });
});
