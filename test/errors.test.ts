// Guarded mode: every bad input is a typed RefcountError with a stable code, never a crash.
import { afterEach, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import {
  allowLeaks,
  ERROR_CODES,
  MemoryCorruptionError,
  NegativeRefcountError,
  RefcountError,
  Runtime,
  bindingPath,
} from '../lib/index.js';

const require = createRequire(import.meta.url);
const runtimes: Runtime[] = [];
function make(opts: Parameters<typeof Runtime.create>[0] = {}): Runtime {
  const rt = Runtime.create(opts);
  runtimes.push(rt);
  return rt;
}
afterEach(() => {
  for (const rt of runtimes.splice(0)) rt.close();
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof RefcountError) return e.code;
    if (e instanceof TypeError) return 'TypeError';
    throw e;
  }
  return 'no error';
}

describe('error codes', () => {
  it('the TS list of codes starts with the native list, in the same order', () => {
    const native = require(bindingPath('release')) as { errorCodes: string[] };
    expect(ERROR_CODES.slice(0, native.errorCodes.length)).toEqual(native.errorCodes);
  });

  it('every code is raised by a real misuse', () => {
    const rt = make({ build: 'debug' });
    allowLeaks(rt, 'each misuse (a negative refcount, a freed object...) leaves the heap as CPython would');
    const other = make();
    const A = rt.defineClass('A');
    const a = A.new({ x: 1 });
    const l = rt.list([1, 2]);
    const d = rt.dict({ k: 'v' });
    const neg = rt.float(2.5);
    rt.capi.Py_SET_REFCNT(neg.id, 0);
    // freed last: pymalloc hands the most recently freed block out first (LIFO free list)
    const freedId = (() => {
      const t = rt.float(1.5);
      const id = t.id;
      t.release();
      return id;
    })();
    const released = rt.str('gone soon');
    released.release();
    const closedRt = Runtime.create();
    closedRt.close();

    const cases: Record<string, () => unknown> = {
      ERR_INVALID_ADDRESS: () => rt.capi.Py_INCREF(0x1234),
      ERR_USE_AFTER_FREE: () => rt.ctypes.cast(freedId, rt.ctypes.py_object).value,
      ERR_NEGATIVE_REFCOUNT: () => rt.capi.Py_DECREF(neg.id),
      ERR_RELEASED: () => released.refcnt,
      ERR_WRONG_RUNTIME: () => other.list([a]),
      ERR_RUNTIME_CLOSED: () => closedRt.int(1),
      ERR_TYPE: () => rt.tuple([1]).setitem(0, 2),
      ERR_ATTRIBUTE: () => a.getattr('missing'),
      ERR_INDEX: () => l.getitem(5),
      ERR_KEY: () => d.getitem('nope'),
      ERR_VALUE: () => rt.gc.collect(3),
      ERR_NOT_IN_BUILD: () => other.sys.gettotalrefcount(),
      ERR_RUNTIME_BUSY: () => {
        // close() from a weakref callback, which runs inside the release below
        let inside: unknown = 'the callback did not run';
        const target = A.new();
        const wr = rt.weakref(target, () => {
          try {
            rt.close();
          } catch (e) {
            inside = e;
          }
        });
        target.release();
        wr.release();
        throw inside;
      },
    };
    for (const [code, fn] of Object.entries(cases)) expect([code, codeOf(fn)]).toEqual([code, code]);
    rt.capi.Py_SET_REFCNT(neg.id, 1);
  });

  it('errors carry CPython texts and the Python exception they mirror', () => {
    const rt = make();
    const A = rt.defineClass('A');
    const a = A.new();
    expect(() => a.getattr('my_obj_attr')).toThrow("'A' object has no attribute 'my_obj_attr'");
    expect(() => rt.list().pop()).toThrow('pop from empty list');
    expect(() => rt.list([1]).getitem(3)).toThrow('list index out of range');
    expect(() => rt.tuple([1]).getitem(3)).toThrow('tuple index out of range');
    expect(() => rt.list([1]).setitem(3, 1)).toThrow('list assignment index out of range');
    expect(() => rt.dict().getitem('k')).toThrow("'k'");
    expect(() => rt.dict().setitem([1], 2)).toThrow("unhashable type: 'list'");
    expect(() => rt.gc.collect(-1)).toThrow('invalid generation');
    try {
      a.getattr('nope');
    } catch (e) {
      expect(e).toBeInstanceOf(RefcountError);
      expect((e as RefcountError).pythonType).toBe('AttributeError');
    }
  });

  it('addresses must be non-negative integers; wrong types are TypeErrors', () => {
    const rt = make();
    for (const bad of [NaN, Infinity, -1, 1.5, 2 ** 53]) {
      expect(codeOf(() => rt.capi.Py_INCREF(bad))).toBe('ERR_INVALID_ADDRESS');
      expect(codeOf(() => rt.ctypes.c_long.from_address(bad).value)).toBe('ERR_INVALID_ADDRESS');
    }
    expect(codeOf(() => rt.capi.Py_INCREF('1' as unknown as number))).toBe('TypeError');
    expect(codeOf(() => rt.ctypes.c_long.from_address(8).value)).toBe('ERR_INVALID_ADDRESS');
    const x = rt.float(1.5);
    expect(codeOf(() => rt.capi.Py_INCREF(x.id + 8))).toBe('ERR_INVALID_ADDRESS'); // unaligned/interior
    expect(x.refcnt).toBe(1);
  });

  it('from_address may read a freed block that is still the runtime\'s, as ctypes does', () => {
    const rt = make();
    const A = rt.defineClass('A');
    const a = A.new();
    const id = a.id;
    a.release();
    expect(rt.ctypes.c_long.from_address(id).value).toBe(0);
  });

  it('NegativeRefcountError and MemoryCorruptionError are RefcountErrors', () => {
    expect(new NegativeRefcountError('ERR_NEGATIVE_REFCOUNT', 'm', { file: 'f', line: 1, address: 2, refcount: 0, typeName: 't', report: 'r' })).toBeInstanceOf(RefcountError);
    expect(new MemoryCorruptionError('m', 'r')).toBeInstanceOf(RefcountError);
  });
});
