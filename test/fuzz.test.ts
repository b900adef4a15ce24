// Model-based fuzzing: random command sequences drive the real runtime and the pure TypeScript
// model (test/model/heap-model.ts) side by side, in every build. After every step: each live
// object's refcount is the model's, its GC tracking too; objects are freed exactly when the model
// frees them (a cast of a freed address is ERR_USE_AFTER_FREE; never freed in nodealloc); the
// census of live objects by type, gc.get_count() and (debug) the ref total match; every
// collection, explicit or automatic, happens when the model says and returns the model's number.
//
// Every other batch runs in a tracking runtime, whose audit must explain every reference (the
// C API's included) after every step.
//
// FUZZ_OPS (default 1_000_000) is the total number of operations across the three builds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Runtime, formatAudit, type PyClass, type Ref } from '../lib/index.js';
import { RefcountError } from '../lib/errors.js';
import { nativeOf, wrapAddress } from '../lib/internal.js';
import { HeapModel, type Build, type FinalizerKind, type MObj } from './model/heap-model.js';

const TOTAL_OPS = Number(process.env['FUZZ_OPS'] ?? 1_000_000);
// Batches are seeded FUZZ_SEED, FUZZ_SEED + 1, ... so a CI run is reproducible; set FUZZ_SEED to
// explore new sequences (a failure prints its seed and replay path).
const BASE_SEED = Number(process.env['FUZZ_SEED'] ?? 20261125);
const ATTRS = ['a', 'b', 'c'] as const;
const KEYS = ['k0', 'k1', 'k2', 'k3'] as const;
const CLASSES: readonly [string, FinalizerKind][] = [
  ['P', 'none'],
  ['F', 'plain'],
  ['R', 'resurrect'],
];

interface Root {
  readonly ref: Ref;
  readonly id: number;
}

export class World {
  readonly rt: Runtime;
  readonly m: HeapModel;
  readonly roots: Root[] = [];
  readonly capiHeld: number[] = [];
  readonly classes: { cls: PyClass; id: number }[] = [];
  readonly pendingRes: Ref[] = [];
  readonly seenCollections: number[] = [];
  readonly refBase: number;
  readonly censusBase: Record<string, { objects: number }>;
  readonly blocksBase: number;
  ops = 0;

  constructor(readonly build: Build, track = false) {
    this.rt = Runtime.create({ build, track });
    this.m = new HeapModel(build);
    const rt = this.rt;
    for (const [name, fin] of CLASSES) {
      const cls = rt.defineClass(name, fin === 'resurrect' ? { finalize: (self) => void this.pendingRes.push(self.dup()) } : fin === 'plain' ? { finalize: () => {} } : {});
      this.classes.push({ cls, id: -1 });
    }
    rt.gc.collect();
    rt.gc.callbacks.push((phase, info) => {
      if (phase === 'start') this.seenCollections.push(info.generation);
    });
    for (const c of this.classes) {
      const mc = this.m.addClass(c.cls.name, CLASSES.find((x) => x[0] === c.cls.name)![1], Number(c.cls.ref.refcnt), c.cls.id, rt.gc.generationOf(c.cls.ref));
      c.id = mc.id;
    }
    const garbage = rt.gc.garbage;
    this.m.addInternal(Number(garbage.refcnt), garbage.id, rt.gc.generationOf(garbage));
    // One instance of each class with a, b, c set: fixes the shared keys' order (and keeps the
    // class's shared keys from running out). They are ordinary roots from then on.
    this.censusBase = rt.sys.census();
    this.blocksBase = rt.sys.getallocatedblocks();
    const zero = rt.int(0);
    const mzero = this.m.staticAt(zero.id, 'int');
    zero.release();
    for (const c of this.classes) {
      const warm = c.cls.new();
      const mw = this.m.newInstance(c.id, c.cls.name);
      for (const a of ATTRS) {
        warm.setattr(a, 0);
        this.m.setattr(mw.id, a, mzero.id);
      }
      this.root(warm, mw);
    }
    this.m.counts = rt.gc.getCount();
    this.refBase = build === 'debug' ? rt.sys.gettotalrefcount() - this.m.refSum() : 0;
  }

  // ------------------------------------------------------------------ helpers
  pick(kind: string | null, i: number): number {
    let n = 0;
    for (const r of this.roots) if (kind === null || this.m.get(r.id).kind === kind) n++;
    if (n === 0) return -1;
    let k = i % n;
    for (let j = 0; j < this.roots.length; j++) {
      if (kind === null || this.m.get(this.roots[j]!.id).kind === kind) {
        if (k-- === 0) return j;
      }
    }
    return -1;
  }
  has(kind: string | null): boolean {
    if (kind === null) return this.roots.length > 0;
    return this.roots.some((r) => this.m.get(r.id).kind === kind);
  }
  root(ref: Ref, o: MObj): void {
    if (o.addr === 0) o.addr = ref.id;
    else expect(ref.id, `address of ${o.typeName} #${o.id}`).toBe(o.addr);
    this.roots.push({ ref, id: o.id });
  }
  rootId(ref: Ref, id: number): void {
    if (id < 0) {
      expect(ref.isNone).toBe(true);
      this.roots.push({ ref, id: this.m.staticAt(ref.id, 'NoneType').id });
    } else this.root(ref, this.m.get(id));
  }
  atomic(kind: 'int' | 'float' | 'str', ref: Ref, immortal: boolean): void {
    expect(nativeOf(ref.runtime).isImmortal(ref.id)).toBe(immortal);
    this.root(ref, immortal ? this.m.staticAt(ref.id, kind) : this.m.newAtomic(kind));
  }
  expectCode(fn: () => unknown, code: string): void {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(RefcountError);
      expect((e as RefcountError).code).toBe(code);
      return;
    }
    throw new Error(`expected ${code}`);
  }

  /** The checks after every step. */
  verify(): void {
    const { rt, m } = this;
    this.ops++;
    m.safePoint();
    // finalizers that resurrected: the new roots, matched by address
    const res = m.takeResurrected();
    const got = this.pendingRes.splice(0);
    if (got.length || res.length) expect(got.map((r) => r.id).sort(), 'resurrected objects').toEqual(res.map((o) => o.addr).sort());
    for (const r of got) this.roots.push({ ref: r, id: res.find((o) => o.addr === r.id)!.id });
    // collections (explicit and automatic)
    const seen = this.seenCollections.splice(0);
    const want = m.takeCollections();
    if (seen.length !== want.length || seen.some((g, i) => g !== want[i])) expect(seen, 'collections run').toEqual(want);
    const count = rt.gc.getCount();
    if (count[0] !== m.counts[0] || count[1] !== m.counts[1] || count[2] !== m.counts[2]) expect(count, 'gc.get_count()').toEqual(m.counts);
    // freed exactly now
    for (const o of m.takeFreed()) {
      if (o.addr === 0) continue;
      this.expectCode(() => rt.ctypes.cast(o.addr, rt.ctypes.py_object).value, 'ERR_USE_AFTER_FREE');
    }
    // every live object: refcount and tracking
    const n = nativeOf(rt);
    for (const o of m.live()) {
      if (o.addr === 0) continue;
      if (n.refcnt(o.addr) !== o.rc) expect(n.refcnt(o.addr), `refcount of ${o.typeName} #${o.id}`).toBe(o.rc);
      if (o.trackingUncertain) {
        // decided by the collector's list order (heap-model.ts, untrack_tuples): take it
        o.trackingUncertain = false;
        if (!n.gcIsTracked(o.addr)) {
          o.tracked = false;
          o.gen = -1;
        }
      }
      if (o.kind !== 'int' && o.kind !== 'float' && o.kind !== 'str' && n.gcIsTracked(o.addr) !== o.tracked) {
        const items = 'items' in o && Array.isArray((o as { items?: unknown }).items) ? ` items ${JSON.stringify((o as unknown as { items: number[] }).items.map((i) => [this.m.get(i).kind, this.m.get(i).tracked, n.kind(this.m.get(i).addr)]))}` : '';
        expect(n.gcIsTracked(o.addr), `tracked ${o.typeName} #${o.id} (runtime generation ${n.gcGenerationOf(o.addr)}, model generation ${o.gen}; collections ${JSON.stringify(this.seenCollections)}${items})`).toBe(o.tracked);
      }
    }
    // census: live objects by type
    const census = rt.sys.census();
    const mc = m.census();
    for (const [type, count] of mc) {
      const got = (census[type]?.objects ?? 0) - (this.censusBase[type]?.objects ?? 0);
      if (got !== count) expect(got, `live ${type} objects`).toBe(count);
    }
    for (const type of Object.keys(census)) {
      if (type === 'type' || mc.has(type)) continue;
      expect(census[type]!.objects - (this.censusBase[type]?.objects ?? 0), `live ${type} objects`).toBe(0);
    }
    if (this.build === 'debug') expect(rt.sys.gettotalrefcount(), 'ref total').toBe(this.refBase + m.refSum());
    // reference accounting: every reference has a holder (a container slot, a Ref, a class
    // handle, the runtime), except the capi.Py_INCREFs the test still holds, one each
    const audit = rt.refs.audit();
    const held = new Map<number, number>();
    for (const id of this.capiHeld) {
      const a = m.get(id).addr;
      if (!n.isImmortal(a)) held.set(a, (held.get(a) ?? 0) + 1);  // an immortal needs no holder
    }
    if (rt.tracking) {
      // a tracking runtime knows the C API's references too: every reference has a holder,
      // and each object's capi holders are exactly the increfs the test still holds
      if (!audit.ok) expect({ unexplained: audit.unexplained, dangling: audit.dangling }, `refs.audit()\n${formatAudit(audit)}`).toEqual({ unexplained: [], dangling: [] });
      for (const [a, count] of held) if (n.capiHeld(a).length !== count) expect(n.capiHeld(a).length, `capi holders of ${a}`).toBe(count);
      return;
    }
    const unexplained = audit.unexplained.map((e) => [e.address, e.unexplained]);
    if (audit.dangling.length !== 0 || audit.danglingRefs.length !== 0 || unexplained.length !== held.size || unexplained.some(([a, u]) => held.get(a!) !== u)) {
      expect({ unexplained, dangling: audit.dangling, danglingRefs: audit.danglingRefs }, `refs.audit()\n${formatAudit(audit)}`).toEqual({ unexplained: [...held], dangling: [], danglingRefs: [] });
    }
  }

  /** Releases everything the test holds and collects until nothing is left (release/debug). */
  teardown(): void {
    const { rt, m } = this;
    rt.gc.enable();
    m.enabled = true;
    for (let round = 0; round < 10; round++) {
      while (this.capiHeld.length > 0) {
        const id = this.capiHeld.pop()!;
        rt.capi.Py_DECREF(m.get(id).addr);
        m.decref(id);
        this.verify();
      }
      for (const r of this.roots.splice(0)) {
        r.ref.release();
        m.decref(r.id);
        this.verify();
      }
      expect(rt.gc.collect(), 'teardown collect').toBe(m.collect(2));
      this.verify();
      if (this.roots.length === 0) break;
    }
    if (this.build !== 'nodealloc') {
      expect([...m.live()].filter((o) => o.kind !== 'class').length, 'objects left').toBe(0);
      expect(rt.sys.getallocatedblocks(), 'allocated blocks back to the baseline').toBe(this.blocksBase);
      if (this.build === 'debug') expect(rt.sys.gettotalrefcount(), 'ref total back to the baseline').toBe(this.refBase + m.refSum());
    }
  }
}

type Cmd = fc.Command<World, World>;

/** One command: `pre` is its precondition, `go` does it to both sides. */
function cmd(name: string, args: unknown[], pre: (w: World) => boolean, go: (w: World) => void): Cmd {
  return {
    check: pre,
    run: (w) => {
      go(w);
      w.verify();
    },
    toString: () => `${name}(${args.map((a) => JSON.stringify(a)).join(', ')})`,
  };
}

const idx = fc.nat({ max: 1000 });
const any = (w: World): boolean => w.has(null);
const kindIs = (k: string) => (w: World) => w.has(k);

export const commands: fc.Arbitrary<Cmd>[] = [
  fc.oneof(fc.integer({ min: -5, max: 256 }), fc.integer({ min: 257, max: 2 ** 40 }), fc.integer({ min: -(2 ** 40), max: -6 })).map((v) =>
    cmd('NewInt', [v], () => true, (w) => w.atomic('int', w.rt.int(v), v >= -5 && v <= 256)),
  ),
  fc.integer().map((v) => cmd('NewFloat', [v + 0.5], () => true, (w) => w.atomic('float', w.rt.float(v + 0.5), false))),
  fc.constantFrom('', 'x', 'hello', 'wörld').map((s) => cmd('NewStr', [s], () => true, (w) => w.atomic('str', w.rt.str(s), s.length <= 1))),
  fc.array(idx, { maxLength: 3 }).map((is) =>
    cmd('NewTuple', [is], (w) => is.length === 0 || any(w), (w) => {
      const items = is.map((i) => w.roots[w.pick(null, i)]!);
      const ref = w.rt.tuple(items.map((r) => r.ref));
      if (items.length === 0) w.root(ref, w.m.staticAt(ref.id, 'tuple'));
      else w.root(ref, w.m.newTuple(items.map((r) => r.id)));
    }),
  ),
  fc.array(idx, { maxLength: 3 }).map((is) =>
    cmd('NewList', [is], (w) => is.length === 0 || any(w), (w) => {
      const items = is.map((i) => w.roots[w.pick(null, i)]!);
      const ref = w.rt.list(items.map((r) => r.ref));
      w.root(ref, w.m.newList(items.map((r) => r.id)));
    }),
  ),
  fc.constant(cmd('NewDict', [], () => true, (w) => w.root(w.rt.dict(), w.m.newDict()))),
  fc.nat({ max: 2 }).map((c) =>
    cmd('NewInstance', [CLASSES[c]![0]], () => true, (w) => {
      const k = w.classes[c]!;
      w.root(k.cls.new(), w.m.newInstance(k.id, CLASSES[c]![0]));
    }),
  ),
  idx.map((i) =>
    cmd('Dup', [i], any, (w) => {
      const r = w.roots[w.pick(null, i)]!;
      w.m.incref(r.id);
      w.roots.push({ ref: r.ref.dup(), id: r.id });
    }),
  ),
  idx.map((i) =>
    cmd('Release', [i], any, (w) => {
      const [r] = w.roots.splice(w.pick(null, i), 1);
      r!.ref.release();
      w.m.decref(r!.id);
    }),
  ),
  fc.tuple(idx, fc.constantFrom(...ATTRS), idx).map(([i, a, j]) =>
    cmd('SetAttr', [i, a, j], kindIs('inst'), (w) => {
      const o = w.roots[w.pick('inst', i)]!;
      const v = w.roots[w.pick(null, j)]!;
      o.ref.setattr(a, v.ref);
      w.m.setattr(o.id, a, v.id);
    }),
  ),
  fc.tuple(idx, fc.constantFrom(...ATTRS)).map(([i, a]) =>
    cmd('DelAttr', [i, a], kindIs('inst'), (w) => {
      const o = w.roots[w.pick('inst', i)]!;
      if (w.m.get(o.id).attrs.has(a)) {
        o.ref.delattr(a);
        w.m.delattr(o.id, a);
      } else w.expectCode(() => o.ref.delattr(a), 'ERR_ATTRIBUTE');
    }),
  ),
  fc.tuple(idx, fc.constantFrom(...ATTRS)).map(([i, a]) =>
    cmd('GetAttr', [i, a], kindIs('inst'), (w) => {
      const o = w.roots[w.pick('inst', i)]!;
      const v = w.m.getattr(o.id, a);
      if (v < 0) w.expectCode(() => o.ref.getattr(a), 'ERR_ATTRIBUTE');
      else w.rootId(o.ref.getattr(a), v);
    }),
  ),
  fc.tuple(idx, idx).map(([i, j]) =>
    cmd('Append', [i, j], kindIs('list'), (w) => {
      const l = w.roots[w.pick('list', i)]!;
      const v = w.roots[w.pick(null, j)]!;
      l.ref.append(v.ref);
      w.m.append(l.id, v.id);
    }),
  ),
  fc.tuple(idx, fc.integer({ min: -4, max: 4 }), idx).map(([i, at, j]) =>
    cmd('Insert', [i, at, j], kindIs('list'), (w) => {
      const l = w.roots[w.pick('list', i)]!;
      const v = w.roots[w.pick(null, j)]!;
      l.ref.insert(at, v.ref);
      w.m.insert(l.id, at, v.id);
    }),
  ),
  fc.tuple(idx, fc.integer({ min: -3, max: 3 })).map(([i, at]) =>
    cmd('Pop', [i, at], kindIs('list'), (w) => {
      const l = w.roots[w.pick('list', i)]!;
      const n = w.m.get(l.id).items.length;
      if (at >= n || at < -n) {
        w.expectCode(() => l.ref.pop(at), 'ERR_INDEX');
        return;
      }
      const v = w.m.pop(l.id, at);
      w.rootId(l.ref.pop(at), v);
    }),
  ),
  fc.tuple(idx, fc.integer({ min: -3, max: 3 }), idx).map(([i, at, j]) =>
    cmd('SetItem', [i, at, j], kindIs('list'), (w) => {
      const l = w.roots[w.pick('list', i)]!;
      const v = w.roots[w.pick(null, j)]!;
      const n = w.m.get(l.id).items.length;
      if (at >= n || at < -n) {
        w.expectCode(() => l.ref.setitem(at, v.ref), 'ERR_INDEX');
        return;
      }
      l.ref.setitem(at, v.ref);
      w.m.setitem(l.id, at, v.id);
    }),
  ),
  idx.map((i) =>
    cmd('ListClear', [i], kindIs('list'), (w) => {
      const l = w.roots[w.pick('list', i)]!;
      l.ref.clear();
      w.m.listClear(l.id);
    }),
  ),
  fc.tuple(idx, fc.constantFrom(...KEYS), idx).map(([i, k, j]) =>
    cmd('DictSet', [i, k, j], kindIs('dict'), (w) => {
      const d = w.roots[w.pick('dict', i)]!;
      const v = w.roots[w.pick(null, j)]!;
      d.ref.setitem(k, v.ref);
      w.m.dictSet(d.id, k, v.id);
    }),
  ),
  fc.tuple(idx, fc.constantFrom(...KEYS)).map(([i, k]) =>
    cmd('DictDel', [i, k], kindIs('dict'), (w) => {
      const d = w.roots[w.pick('dict', i)]!;
      if (w.m.dictDel(d.id, k)) d.ref.delitem(k);
      else w.expectCode(() => d.ref.delitem(k), 'ERR_KEY');
    }),
  ),
  fc.tuple(idx, fc.constantFrom(...KEYS)).map(([i, k]) =>
    cmd('DictPop', [i, k], kindIs('dict'), (w) => {
      const d = w.roots[w.pick('dict', i)]!;
      const v = w.m.dictPop(d.id, k);
      if (v < 0) w.expectCode(() => d.ref.pop(k), 'ERR_KEY');
      else w.rootId(d.ref.pop(k), v);
    }),
  ),
  idx.map((i) =>
    cmd('DictClear', [i], kindIs('dict'), (w) => {
      const d = w.roots[w.pick('dict', i)]!;
      d.ref.clear();
      w.m.dictClear(d.id);
    }),
  ),
  idx.map((i) =>
    cmd('Py_INCREF', [i], any, (w) => {
      const r = w.roots[w.pick(null, i)]!;
      w.rt.capi.Py_INCREF(r.ref.id);
      w.m.incref(r.id);
      w.capiHeld.push(r.id);
    }),
  ),
  fc.constant(
    cmd('Py_DECREF', [], (w) => w.capiHeld.length > 0, (w) => {
      const id = w.capiHeld.pop()!;
      w.rt.capi.Py_DECREF(w.m.get(id).addr);
      w.m.decref(id);
    }),
  ),
  fc.nat({ max: 2 }).map((g) =>
    cmd('Collect', [g], () => true, (w) => {
      const n = w.rt.gc.collect(g);
      expect(n, `gc.collect(${g})`).toBe(w.m.collect(g));
    }),
  ),
  fc.boolean().map((on) =>
    cmd(on ? 'GcEnable' : 'GcDisable', [], () => true, (w) => {
      if (on) w.rt.gc.enable();
      else w.rt.gc.disable();
      w.m.enabled = on;
    }),
  ),
  fc.tuple(fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constant(700)), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 })).map(([a, b, c]) =>
    cmd('SetThreshold', [a, b, c], () => true, (w) => {
      w.rt.gc.setThreshold(a, b, c);
      w.m.thresholds = [a, b, c];
    }),
  ),
  idx.map((i) =>
    cmd('WeakRef', [i], kindIs('inst'), (w) => {
      const o = w.roots[w.pick('inst', i)]!;
      const wr = w.rt.weakref(o.ref);
      w.root(wr.ref, w.m.weakref(o.id));
    }),
  ),
  idx.map((i) =>
    cmd('Deref', [i], kindIs('weakref'), (w) => {
      const r = w.roots[w.pick('weakref', i)]!;
      const t = w.m.deref(r.id);
      w.rootId(wrapAddress(w.rt, nativeOf(w.rt).weakrefGet(r.ref.id)), t);
    }),
  ),
];

/** Runs `runs` sequences of up to `maxCommands` commands; returns the operations done. */
export function fuzzBuild(build: Build, runs: number, maxCommands: number, seed?: number, track = false): number {
  let ops = 0;
  fc.assert(
    fc.property(fc.commands(commands, { maxCommands, size: 'max' }), (cmds) => {
      const w = new World(build, track);
      try {
        fc.modelRun(() => ({ model: w, real: w }), cmds);
        w.teardown();
      } finally {
        ops += w.ops;
        w.rt.close();
      }
    }),
    { numRuns: runs, ...(seed !== undefined ? { seed } : {}), endOnFailure: false },
  );
  return ops;
}

describe('model-based fuzzing (fast-check command sequences against test/model/heap-model.ts)', () => {
  const perBuild = Math.ceil(TOTAL_OPS / 3);
  const total: Record<string, number> = {};
  for (const build of ['release', 'debug', 'nodealloc'] as const) {
    it(`${build}: random sequences agree with the model after every step`, () => {
      const t0 = performance.now();
      let ops = 0;
      // Sequences of up to 200 commands (plus the teardown); batches of 50 until the quota,
      // every other batch in a tracking runtime (its audit also explains the C API's references).
      for (let batch = 0; ops < perBuild; batch++)
        ops += fuzzBuild(build, 50, Number(process.env["FUZZ_MAX_COMMANDS"] ?? 200), BASE_SEED + batch, batch % 2 === 1);
      total[build] = ops;
      console.log(`fuzz ${build}: ${ops} operations in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
      expect(ops).toBeGreaterThanOrEqual(perBuild);
    }, 600_000);
  }
  it('operation count', () => {
    const sum = Object.values(total).reduce((a, b) => a + b, 0);
    console.log(`fuzz total: ${sum} operations (${JSON.stringify(total)})`);
    expect(sum).toBeGreaterThanOrEqual(TOTAL_OPS);
  });
});
