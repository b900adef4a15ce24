// set and frozenset, end to end through the object protocol (set.cc: its table, sizeof, walk,
// repr, len; the kinds table; value() as a JS Set), each result matched against CPython 3.12.1:
// the expected text is written here, and CPython must print the same when it is on the machine.
import { describe, expect, it } from 'vitest';
import { BUILDS, Runtime, RefcountError } from '../lib/index.js';
import { expectCPython } from './helpers/python.js';

const PY_PRELUDE = 'import sys, gc, json\nclass A: pass\n';

function err(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof RefcountError ? `${e.pythonType ?? e.code}: ${e.message}` : String(e);
  }
  return 'no error';
}

describe('set and frozenset match CPython 3.12.1', () => {
  it('getsizeof as elements are added one by one (216, 728 from the 5th, 2264 from the 19th, 8408 from the 77th)', () => {
    using rt = Runtime.create();
    using s = rt.set();
    const sizes = [rt.sys.getsizeof(s)];
    for (let i = 0; i < 80; i++) {
      s.add(i);
      sizes.push(rt.sys.getsizeof(s));
    }
    for (let i = 0; i < 80; i++) s.discard(i); // dummies: the table keeps its size
    sizes.push(rt.sys.getsizeof(s), s.len());
    const text = JSON.stringify(sizes);
    expect(text).toBe(
      JSON.stringify([216, ...Array(4).fill(216), ...Array(14).fill(728), ...Array(58).fill(2264), ...Array(4).fill(8408), 8408, 0]),
    );
    expectCPython(
      `${PY_PRELUDE}s = set()\nsizes = [sys.getsizeof(s)]\nfor i in range(80):\n    s.add(i); sizes.append(sys.getsizeof(s))\n` +
        `for i in range(80): s.discard(i)\nsizes += [sys.getsizeof(s), len(s)]\nprint(json.dumps(sizes, separators=(',', ':')))`,
      text,
    );
  });

  it('repr: table order, dummies reused, frozenset(...), the empty forms, copy', () => {
    using rt = Runtime.create();
    using a = rt.set([3, 1, 2, 100, 9, 17]);
    using b = rt.set([1, 9]);
    b.discard(1);
    b.add(17); // lands in 1's dummy slot, before 9
    using f = rt.frozenset([3, 1]);
    using e = rt.set();
    using ef = rt.frozenset();
    using nested = rt.set([f, 'a', null, true]);
    using c = a.copy();
    // copy() re-inserts into a table presized for 6 entries (16 slots): another order, 472 bytes
    const text = [a, b, f, e, ef, c].map((r) => r.repr()).join(' | ') + ` | ${nested.len()} | ${rt.sys.getsizeof(c)}`;
    expect(text).toBe('{1, 2, 3, 100, 9, 17} | {17, 9} | frozenset({1, 3}) | set() | frozenset() | {1, 2, 3, 100, 17, 9} | 4 | 472');
    // (the order of the str and the singletons in `nested` depends on their hashes, which are
    // not CPython's: it is compared in length and members only)
    expectCPython(
      `${PY_PRELUDE}a = set([3, 1, 2, 100, 9, 17]); b = set([1, 9]); b.discard(1); b.add(17)\n` +
        `f = frozenset([3, 1])\nn = set([f, 'a', None, True]); c = a.copy()\n` +
        `print(' | '.join(map(repr, [a, b, f, set(), frozenset(), c])) + ' | ' + str(len(n)) + ' | ' + str(sys.getsizeof(c)))`,
      text,
    );
    expect(nested.len()).toBe(4);
    expect([f, 'a', null, true].every((x) => nested.contains(x))).toBe(true);
  });

  it('refcounts: an element gains one reference per set; add of a member and discard give it back', () => {
    for (const build of BUILDS) {
      using rt = Runtime.create({ build });
      const A = rt.defineClass('A');
      using x = A.new();
      const counts = [rt.sys.getrefcount(x)];
      const s = rt.set([x]);
      counts.push(rt.sys.getrefcount(x));
      s.add(x);
      counts.push(rt.sys.getrefcount(x));
      using f = rt.frozenset([x, x]);
      counts.push(rt.sys.getrefcount(x));
      s.discard(x);
      counts.push(rt.sys.getrefcount(x));
      s.add(x);
      s.release();
      counts.push(rt.sys.getrefcount(x));
      const text = counts.join(' ');
      if (build !== 'nodealloc') expect(text, build).toBe('2 3 3 4 3 3');
      else expect(text, build).toBe('2 3 3 4 3 4'); // del s never frees the set: its reference stays
      if (build === 'release') {
        expectCPython(
          `${PY_PRELUDE}x = A(); c = [sys.getrefcount(x)]\ns = {x}; c.append(sys.getrefcount(x))\ns.add(x); c.append(sys.getrefcount(x))\n` +
            `f = frozenset([x, x]); c.append(sys.getrefcount(x))\ns.discard(x); c.append(sys.getrefcount(x))\n` +
            `s.add(x); del s; c.append(sys.getrefcount(x))\nprint(' '.join(map(str, c)))`,
          text,
        );
      }
    }
  });

  it('gc: sets and frozensets are tracked from creation; a cycle through a set is collected', () => {
    using rt = Runtime.create();
    rt.gc.disable();
    using s = rt.set();
    using f = rt.frozenset();
    using one = rt.set([1]);
    const A = rt.defineClass('A');
    rt.gc.collect();
    const a = A.new();
    const cyc = rt.set([a]);
    a.setattr('s', cyc);
    a.release();
    cyc.release();
    const text = `${rt.gc.isTracked(s)} ${rt.gc.isTracked(f)} ${rt.gc.isTracked(one)} ${rt.gc.collect()}`;
    expect(text).toBe('true true true 2');
    expectCPython(
      `${PY_PRELUDE}gc.disable(); gc.collect()\na = A(); s = {a}; a.s = s; del a, s\n` +
        `print(str(gc.is_tracked(set())).lower(), str(gc.is_tracked(frozenset())).lower(), str(gc.is_tracked({1})).lower(), gc.collect())`,
      text,
    );
  });

  it('errors: the texts of CPython', () => {
    using rt = Runtime.create();
    using f = rt.frozenset([1]);
    using s = rt.set();
    using l = rt.list();
    using n = rt.int(300);
    const text = [err(() => f.add(2)), err(() => s.add(l)), err(() => s.contains(l)), err(() => n.contains(1)), err(() => f.discard(1))].join('\n');
    expect(text).toBe(
      [
        "AttributeError: 'frozenset' object has no attribute 'add'",
        "TypeError: unhashable type: 'list'",
        "TypeError: unhashable type: 'list'",
        "TypeError: argument of type 'int' is not iterable",
        "AttributeError: 'frozenset' object has no attribute 'discard'",
      ].join('\n'),
    );
    expectCPython(
      `${PY_PRELUDE}def e(f):\n    try: f()\n    except Exception as x: return type(x).__name__ + ': ' + str(x)\n` +
        `f = frozenset([1]); s = set(); l = []; n = 300\n` +
        `print('\\n'.join([e(lambda: f.add(2)), e(lambda: s.add(l)), e(lambda: l in s), e(lambda: 1 in n), e(lambda: f.discard(1))]))`,
      text,
    );
  });

  it('value() is a JS Set (frozensets inside too); a JS Set converts to a set; equal frozensets are one element', () => {
    using rt = Runtime.create();
    using f1 = rt.frozenset([1, 2]);
    using f2 = rt.frozenset([2, 1]);
    using s = rt.set([f1, f2, 'x']);
    expect(s.len()).toBe(1 + 1);
    const v = s.value();
    expect(v).toBeInstanceOf(Set);
    const members = [...(v as Set<unknown>)];
    expect(members).toContain('x');
    expect(members.find((m) => m instanceof Set)).toEqual(new Set([1, 2]));
    using l = rt.list([new Set([5, 6])]);
    using inner = l.getitem(0);
    expect(inner.typeName).toBe('set');
    expect(inner.repr()).toBe('{5, 6}');
  });

  it('contains on dicts, lists, tuples and strs', () => {
    using rt = Runtime.create();
    using d = rt.dict({ k: 1 });
    using l = rt.list([1, 'two', 3.5]);
    using t = rt.tuple([l]);
    using s = rt.str('refcount');
    const text = [d.contains('k'), d.contains('v'), l.contains('two'), l.contains(2), t.contains(l), s.contains('count'), s.contains('x')].join(' ');
    expect(text).toBe('true false true false true true false');
    expectCPython(
      `${PY_PRELUDE}d = {'k': 1}; l = [1, 'two', 3.5]; t = (l,); s = 'refcount'\n` +
        `print(' '.join(str(b).lower() for b in ['k' in d, 'v' in d, 'two' in l, 2 in l, l in t, 'count' in s, 'x' in s]))`,
      text,
    );
  });
});
