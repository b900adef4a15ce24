// A seeded random workload of typed-API operations for the trace tests (record, replay,
// bisect: test/trace.test.ts, test/injection.test.ts). Its vocabulary is test/fuzz.test.ts's
// commands (ints small and big, floats, strs, tuples, lists, dicts, instances of a class with
// and one without a finalizer, dup / release, attributes, list and dict items, the C API's
// increfs given back later, collections, weakrefs with callbacks), drawn from a PRNG, without
// the fuzz's model: the model checks every step (too slow for 10,000 operations per case), and
// it cannot follow a heap that a test corrupts on purpose.
import { expect } from 'vitest';
import { RefcountError, Runtime, type PyClass, type PyWeakRef, type Ref } from '../../lib/index.js';

/** mulberry32: a small seeded PRNG, [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ATTRS = ['a', 'b', 'c'] as const;
const KEYS = ['k0', 'k1', 'k2', 'k3'] as const;
// What a program may raise and catch: not a reference bug.
const PYTHON_ERRORS = new Set(['ERR_ATTRIBUTE', 'ERR_INDEX', 'ERR_KEY']);
const TAKES = ['Py_INCREF', 'Py_IncRef', 'Py_XINCREF', 'Py_NewRef'] as const;
const GIVES = ['Py_DECREF', 'Py_DecRef', 'Py_XDECREF'] as const;
type Give = (typeof GIVES)[number] | 'decrefMany';

/** The random workload on one runtime (start rt.trace first: the classes are made here). */
export class Workload {
  readonly random: () => number;
  roots: Ref[] = [];
  /** Some Refs released by the workload (a "released Ref used again" picks one). */
  released: Ref[] = [];
  /** The C API references the workload took and will give back. */
  capiHeld: { addrs: number[]; give: Give }[] = [];
  weakrefs = new Map<Ref, PyWeakRef>();
  readonly classes: PyClass[];
  /** Addresses the workload's C API calls leave alone (a test's victim). */
  readonly noCapi = new Set<number>();
  /** No gc.collect (after a test corrupted the heap: the collector trusts its pointers). */
  noCollect = false;
  /** The Refs and C API references set aside by quarantine(), never touched again. */
  readonly quarantined: Ref[] = [];
  ops = 0;

  constructor(readonly rt: Runtime, seed: number) {
    this.random = prng(seed);
    this.classes = [
      rt.defineClass('P'),
      rt.defineClass('F', {
        finalize: (self) => {
          const d = self.dup();
          d.release();
        },
      }),
    ];
  }

  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  pick(kind?: string): Ref | undefined {
    const list = kind === undefined ? this.roots : this.roots.filter((r) => r.kind === kind);
    return list.length === 0 ? undefined : list[this.int(list.length)];
  }
  /** A root whose object is mortal and none of the workload's C API references hold. */
  pickMortal(): Ref | undefined {
    const held = new Set(this.capiHeld.flatMap((c) => c.addrs));
    const list = this.roots.filter((r) => !r.runtime.capi._Py_IsImmortal(r.id) && !held.has(r.id));
    return list.length === 0 ? undefined : list[this.int(list.length)];
  }
  add(r: Ref): Ref {
    this.roots.push(r);
    return r;
  }
  drop(r: Ref): void {
    this.roots.splice(this.roots.indexOf(r), 1);
    this.weakrefs.delete(r);
    r.release();
    this.released.push(r);
    if (this.released.length > 20) this.released.shift();
  }
  items(): Ref[] {
    return Array.from({ length: this.int(4) }, () => this.pick()).filter((r): r is Ref => r !== undefined);
  }

  /** One random operation. */
  step(): void {
    this.ops++;
    try {
      this.#op();
    } catch (e) {
      if (!(e instanceof RefcountError && PYTHON_ERRORS.has(e.code))) throw e;
    }
  }

  #op(): void {
    const { rt } = this;
    const full = this.roots.length > 60;
    const x = this.random() * 100;
    if (x < (full ? 30 : 12)) {
      const r = this.pick();
      if (r !== undefined) return this.drop(r);
    }
    if (x < 20) {
      const r = this.pick();
      if (r !== undefined) this.add(r.dup());
      return;
    }
    if (x < 24) return void this.add(rt.int(this.random() < 0.3 ? this.int(200) : 1000 + this.int(1e9)));
    if (x < 26) return void this.add(rt.float(this.random() * 1000));
    if (x < 30) return void this.add(rt.str(this.random() < 0.2 ? 'x' : `s${this.int(1e6)}`));
    if (x < 32) return void this.add(rt.tuple(this.items()));
    if (x < 36) return void this.add(rt.list(this.items()));
    if (x < 39) return void this.add(rt.dict());
    if (x < 45) return void this.add((this.classes[this.int(2)] as PyClass).new());
    if (x < 50) {
      const o = this.pick('instance');
      const v = this.pick();
      if (o !== undefined && v !== undefined) o.setattr(ATTRS[this.int(3)] as string, v);
      return;
    }
    if (x < 53) {
      const o = this.pick('instance');
      if (o !== undefined) this.add(o.getattr(ATTRS[this.int(3)] as string));
      return;
    }
    if (x < 54) return void this.pick('instance')?.delattr(ATTRS[this.int(3)] as string);
    if (x < 58) {
      const l = this.pick('list');
      const v = this.pick();
      if (l !== undefined && v !== undefined) l.append(v);
      return;
    }
    if (x < 59) {
      const l = this.pick('list');
      const v = this.pick();
      if (l !== undefined && v !== undefined) l.insert(this.int(5) - 2, v);
      return;
    }
    if (x < 61) {
      const l = this.pick('list');
      if (l !== undefined) this.add(l.pop(this.int(3) - 1));
      return;
    }
    if (x < 62) {
      const l = this.pick('list');
      const v = this.pick();
      if (l !== undefined && v !== undefined) l.setitem(this.int(3) - 1, v);
      return;
    }
    if (x < 66) {
      const d = this.pick('dict');
      const v = this.pick();
      if (d !== undefined && v !== undefined) d.setitem(KEYS[this.int(4)] as string, v);
      return;
    }
    if (x < 67) return void this.pick('dict')?.delitem(KEYS[this.int(4)] as string);
    if (x < 68) {
      const d = this.pick('dict');
      if (d !== undefined) this.add(d.pop(KEYS[this.int(4)] as string));
      return;
    }
    if (x < 69) return void this.pick(this.random() < 0.5 ? 'dict' : 'list')?.clear();
    if (x < 74) {
      const r = this.pick();
      if (r === undefined || this.noCapi.has(r.id)) return;
      const take = TAKES[this.int(TAKES.length)] as (typeof TAKES)[number];
      rt.capi[take](r.id);
      this.capiHeld.push({ addrs: [r.id], give: GIVES[this.int(GIVES.length)] as Give });
      return;
    }
    if (x < 75) {
      const rs = [this.pick(), this.pick()].filter((r): r is Ref => r !== undefined && !this.noCapi.has(r.id));
      if (rs.length === 0) return;
      const addrs = rs.map((r) => r.id);
      rt.capi.increfMany(new Float64Array(addrs));
      this.capiHeld.push({ addrs, give: 'decrefMany' });
      return;
    }
    if (x < 80) {
      const c = this.capiHeld.splice(this.int(this.capiHeld.length), 1)[0];
      if (c !== undefined) this.give(c);
      return;
    }
    if (x < 81) {
      if (!this.noCollect) rt.gc.collect(this.int(3));
      return;
    }
    if (x < 83) {
      const o = this.pick('instance');
      if (o === undefined) return;
      const w = rt.weakref(o, (wr) => {
        const r = wr.deref();
        r.release();
      });
      this.weakrefs.set(this.add(w.ref), w);
      return;
    }
    if (x < 85) {
      const ws = [...this.weakrefs.values()];
      if (ws.length > 0) this.add((ws[this.int(ws.length)] as PyWeakRef).deref());
      return;
    }
  }

  give(c: { addrs: number[]; give: Give }): void {
    if (c.give === 'decrefMany') this.rt.capi.decrefMany(new Float64Array(c.addrs));
    else this.rt.capi[c.give](c.addrs[0] as number);
  }

  /** After a test corrupted the heap: the workload goes on with new objects only, and no
   * collection runs again (the collector would walk the corrupt containers). */
  quarantine(): void {
    this.rt.gc.disable();
    this.noCollect = true;
    this.quarantined.push(...this.roots);
    this.roots = [];
    this.released = [];
    this.capiHeld = [];
    this.weakrefs.clear();
  }

  /** Gives back every C API reference and releases every Ref the workload holds, then collects. */
  teardown(): void {
    for (const c of this.capiHeld.splice(0)) this.give(c);
    for (const r of this.roots.splice(0)) r.release();
    this.weakrefs.clear();
    if (!this.noCollect) this.rt.gc.collect();
  }
}

/** A trace of `ops` random operations, everything released at the end. */
export function recordWorkload(ops: number, seed: number): string {
  using rt = Runtime.create({ track: true });
  rt.trace.start();
  const w = new Workload(rt, seed);
  for (let i = 0; i < ops; i++) w.step();
  w.teardown();
  return rt.trace.stop();
}

/** The worked example of docs/provenance.md: one Py_DECREF too many, then the object is freed
 * under its name and used. */
export function recordBug(): string {
  using rt = Runtime.create({ track: true });
  rt.trace.start();
  const A = rt.defineClass('A');
  const a = A.new({ text: 'This is kakoyto text' });
  const cache = rt.list([a]);
  rt.capi.Py_DECREF(a.id);
  cache.release();
  expect(() => a.getattr('text')).toThrow(/use after free/);
  return rt.trace.stop();
}
