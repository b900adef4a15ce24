// Record, replay, bisect (lib/trace.ts, lib/runtime/track.ts): a trace recorded in process
// replays in every build with the same outcome per line; a callback's lines run inside the
// callback; the recorder writes what the user called, not the library's own calls; malformed
// traces are TraceErrors. The CLI's replay / bisect: test/trace-cli.test.ts.
import { describe, expect, it } from 'vitest';
import { BUILDS, Runtime, TraceError, bisectTrace, parseTrace, replayTrace, type RefcountError, type Ref, type TraceLine } from '../lib/index.js';
import { allowLeaks } from '../lib/testing.js';
import { thrown } from './helpers/errors.js';
import { recordBug, recordWorkload } from './helpers/workload.js';

describe('replayTrace', () => {
  const clean = parseTrace(recordWorkload(2000, 42));
  for (const build of BUILDS) {
    it(`replays a random workload in the ${build} build, line by line as recorded`, () => {
      using rt = Runtime.create({ build, track: true });
      const r = replayTrace(rt, clean);
      expect(r.mismatches, JSON.stringify(r.firstMismatch?.line)).toBe(0);
      expect(r.extraCalls).toEqual([]);
      expect(r.stopped).toBe(false);
      if (build === 'nodealloc') {
        // nothing is freed there: the finalizers and weakref callbacks never run
        expect(r.notReplayed.every((l) => l.recv === 'callback' || l.in !== undefined)).toBe(true);
      } else {
        expect(r.notReplayed).toEqual([]);
        expect(r.steps.some((s) => s.line.in !== undefined), 'callbacks ran their lines').toBe(true);
      }
      expect(rt.refs.audit().ok).toBe(true);
    });
  }

  it('bisect finds nothing in a clean trace', () => {
    const b = bisectTrace(clean);
    expect(b.kind).toBe('clean');
    expect(b.outstanding).toEqual([]);
    expect(b.audits).toBeGreaterThan(0);
    expect(b.audits).toBeLessThan(clean.length / 2); // only after the lines through the C API, and at the end
    const every = bisectTrace(clean, { everyLine: true });
    expect(every.kind).toBe('clean');
    expect(every.audits).toBe(every.replayed + 1);
  });

  it('replays a bug: the same error at the same line, and the replay names trace lines', () => {
    const lines = parseTrace(recordBug());
    expect(lines.map((l) => `${l.recv}.${l.method}${l.error ? ' ' + l.error : ''}`)).toEqual([
      'rt.defineClass', 'class.new', 'rt.list', 'capi.Py_DECREF', 'ref.release', 'ref.getattr ERR_USE_AFTER_FREE',
    ]);
    for (const build of BUILDS) {
      using rt = Runtime.create({ build, track: true });
      allowLeaks(rt, 'the replayed bug leaves a Ref to a freed object');
      const r = replayTrace(rt, lines, { source: 'bug.jsonl' });
      if (build === 'nodealloc') {
        // the object is never freed there: the use succeeds, the audit sees the missing reference
        expect(r.firstError).toBeUndefined();
        expect(r.firstMismatch?.line.seq).toBe(6);
        expect(rt.refs.audit().unexplained).toHaveLength(1);
        continue;
      }
      expect(r.mismatches).toBe(0);
      expect(r.firstError?.line.seq).toBe(6);
      const e = r.firstError?.error as RefcountError;
      expect(e.code).toBe('ERR_USE_AFTER_FREE');
      expect(e.provenance?.unownedDecref?.site).toBe('bug.jsonl:4');
      expect(e.provenance?.allocated?.site).toBe('bug.jsonl:2');
      expect(e.provenance?.freedBy?.site).toBe('bug.jsonl:5');
      expect(rt.refs.audit().danglingRefs.map((d) => d.site)).toEqual(['bug.jsonl:2']);
    }
    const b = bisectTrace(lines);
    expect(b.kind).toBe('audit');
    expect(b.line?.seq).toBe(4);
    expect(b.audit?.unexplained.map((x) => x.typeName)).toEqual(['A']);
  });

  it('upTo replays a prefix', () => {
    const lines = parseTrace(recordBug());
    using rt = Runtime.create({ track: true });
    const r = replayTrace(rt, lines, { upTo: 4 });
    expect(r.steps.map((s) => s.line.seq)).toEqual([1, 2, 3, 4]);
    expect(rt.refs.audit().unexplained.map((x) => x.unexplained)).toEqual([-1]);
    allowLeaks(rt, 'a prefix ends with the extra decref');
  });

  it('a callback on its k-th call runs the lines of the k-th call, and a missing Py_DECREF is found at the end', () => {
    using rt = Runtime.create({ track: true });
    rt.trace.start();
    const seen: number[] = [];
    const A = rt.defineClass('A', {
      finalize: (self) => {
        using n = self.getattr('n');
        seen.push(n.value() as number);
        if (n.value() === 2000) rt.capi.Py_INCREF(n.id); // taken in the second call, never given back
      },
    });
    for (const n of [1000, 2000, 3000]) A.new({ n }).release();
    const lines = parseTrace(rt.trace.stop());
    expect(seen).toEqual([1000, 2000, 3000]);
    const inSecond = lines.filter((l) => l.in?.[1] === 2).map((l) => `${l.recv}.${l.method}`);
    expect(inSecond).toEqual(['ref.getattr', 'capi.Py_INCREF', 'ref.release']);
    using replay = Runtime.create({ track: true });
    const r = replayTrace(replay, lines);
    expect(r.mismatches).toBe(0);
    expect(r.notReplayed).toEqual([]);
    const b = bisectTrace(lines);
    expect(b.kind).toBe('leak');
    expect(b.line?.method).toBe('Py_INCREF');
    expect(b.line?.in?.[1]).toBe(2);
    expect(b.outstanding.map((o) => o.kind)).toEqual(['capi']);
  });
});

describe('the recorder', () => {
  const record = (fn: (rt: Runtime) => void): TraceLine[] => {
    using rt = Runtime.create({ track: true });
    rt.trace.start();
    fn(rt);
    return parseTrace(rt.trace.stop());
  };
  const ops = (lines: readonly TraceLine[]): string[] => lines.map((l) => `${l.recv}.${l.method}${l.in ? ' in' : ''}`);

  it("records the user's calls, not the library's own (a finalizer's self, PyClass.new's setattrs, PyWeakRef.release)", () => {
    const lines = record((rt) => {
      const A = rt.defineClass('A', { finalize: () => {} });
      const o = A.new({ items: [1, 2], d: { k: 'v' } }); // not primitives: new() sets them one by one
      const w = rt.weakref(o);
      w.release();
      o.release();
    });
    expect(ops(lines)).toEqual(['rt.defineClass', 'class.new', 'rt.weakref', 'weakref.release', 'ref.release', 'callback.call']);
    using rt = Runtime.create({ track: true });
    expect(replayTrace(rt, lines).mismatches).toBe(0);
  });

  it("the weakref a callback is given is recorded too; a class's own Ref and the gc's switches replay", () => {
    const lines = record((rt) => {
      rt.gc.disable();
      const A = rt.defineClass('A');
      const keep = rt.list([A.ref]);
      const o = A.new();
      rt.weakref(o, (wr) => {
        using x = wr.deref();
      });
      o.release();
      keep.release();
      rt.gc.enable();
    });
    expect(ops(lines)).toEqual([
      'gc.disable', 'rt.defineClass', 'rt.list', 'class.new', 'rt.weakref', 'ref.release', 'callback.call', 'weakref.deref in', 'ref.release in', 'ref.release', 'gc.enable',
    ]);
    expect(lines[1]?.result).toMatchObject({ $: 'cls', ref: expect.any(Number) });
    using rt = Runtime.create({ track: true });
    const r = replayTrace(rt, lines);
    expect(r.mismatches).toBe(0);
    expect(r.notReplayed).toEqual([]);
    expect(rt.gc.isEnabled()).toBe(true);
  });

  it('numbers JSON cannot carry replay as themselves', () => {
    const xs = [NaN, Infinity, -Infinity, -0, 1.5];
    const lines = record((rt) => {
      for (const x of xs) rt.float(x).release();
    });
    expect(lines[0]?.args).toEqual([{ $: 'number', v: 'NaN' }]);
    expect(lines[6]?.args).toEqual([{ $: 'number', v: '-0' }]);
    using rt = Runtime.create({ track: true });
    const made: unknown[] = [];
    replayTrace(rt, lines, { afterLine: (s) => void (s.line.method === 'float' && made.push((s.result as Ref).value())) });
    expect(made).toEqual(xs);
  });
});

describe('TraceError', () => {
  const line = (o: object): string => JSON.stringify({ args: [], ...o });
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"seq":1,', /trace line 1: not JSON/],
    ['an operation a trace does not record', line({ seq: 1, recv: 'rt', method: 'close' }), /rt\.close is not an operation a trace records/],
    ['an unknown receiver', line({ seq: 1, recv: 'process', method: 'exit' }), /unknown receiver/],
    ['seqs out of order', `${line({ seq: 2, recv: 'rt', method: 'list' })}\n${line({ seq: 1, recv: 'rt', method: 'list' })}`, /trace line 2: seq 1 after 2/],
    ['a ref line without self', line({ seq: 1, recv: 'ref', method: 'release' }), /needs `self`/],
  ];
  for (const [what, text, message] of cases) {
    it(`parseTrace: ${what}`, () => {
      const e = thrown(() => parseTrace(text));
      expect(e).toBeInstanceOf(TraceError);
      expect(e.code).toBe('ERR_VALUE');
      expect(e.message).toMatch(message);
    });
  }
  it('replayTrace: an id no earlier line defines, before anything runs', () => {
    using rt = Runtime.create({ track: true });
    const lines = parseTrace(`${line({ seq: 1, recv: 'rt', method: 'list', result: { $: 'ref', id: 1 } })}\n${line({ seq: 2, recv: 'ref', self: 7, method: 'release' })}`);
    const lists = rt.sys.census()['list']?.objects ?? 0;
    const e = thrown(() => replayTrace(rt, lines));
    expect(e).toBeInstanceOf(TraceError);
    expect((e as TraceError).line).toBe(2);
    expect(e.message).toMatch(/ref 7 is not defined by any earlier line/);
    expect(rt.sys.census()['list']?.objects ?? 0).toBe(lists); // nothing ran
  });
  it('replayTrace: a line made in a callback call no line records, an unknown encoding', () => {
    using rt = Runtime.create({ track: true });
    expect(thrown(() => replayTrace(rt, parseTrace(line({ seq: 1, recv: 'rt', method: 'list', in: [3, 1] })))).message).toMatch(/call 1 of callback 3/);
    expect(thrown(() => replayTrace(rt, parseTrace(line({ seq: 1, recv: 'rt', method: 'list', args: [{ $: 'eval', v: 'x' }] })))).message).toMatch(/unknown encoding/);
    expect(thrown(() => replayTrace(rt, parseTrace(line({ seq: 1, recv: 'capi', method: 'Py_DECREF', args: [{ $: 'obj', id: 1 }] })))).message).toMatch(/ref 1 is not defined/);
  });
});

describe('the talk\'s ctypes calls in a trace', () => {
  it("records cast(addr, py_object).value and c_long writes, and replays them: exp_1's use after free at the same line", () => {
    using rt = Runtime.create({ track: true });
    allowLeaks(rt, 'the trace ends with a use after free');
    rt.trace.start();
    const A = rt.defineClass('A');
    const a = A.new({ my_obj_attr: 'This is kakoyto text' });
    const aId = a.id;
    rt.ctypes.c_long.from_address(aId).value = 2; // a raw write of ob_refcnt: one reference nobody owns
    rt.ctypes.c_long.from_address(aId).value = 1;
    a.release(); // del a
    expect(thrown(() => rt.ctypes.cast(aId, rt.ctypes.py_object).value).code).toBe('ERR_USE_AFTER_FREE');
    const lines = parseTrace(rt.trace.stop());
    expect(lines.map((l) => `${l.recv}.${l.method}${l.error ? ' ' + l.error : ''}`)).toEqual([
      'rt.defineClass', 'class.new', 'ctypes.writeWord', 'ctypes.writeWord', 'ref.release', 'ctypes.castValue ERR_USE_AFTER_FREE',
    ]);
    for (const build of ['release', 'debug'] as const) {
      using replay = Runtime.create({ build, track: true });
      allowLeaks(replay, 'the replayed trace ends with a use after free');
      const r = replayTrace(replay, lines);
      expect(r.mismatches).toBe(0);
      expect(r.firstError?.line.seq).toBe(6);
    }
  });
});
