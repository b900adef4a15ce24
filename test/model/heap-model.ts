/**
 * A pure TypeScript reference model of a runtime's heap, for the model-based fuzzer
 * (test/fuzz.test.ts). It knows objects, who holds whom, refcounts, GC tracking and
 * generations, and predicts what CPython 3.12's rules (as native/core implements them) do:
 * deallocation at zero (never in nodealloc), finalizers (PEP 442, once) with resurrection,
 * weakref clearing, and the cycle collector (update/subtract refs, move_unreachable,
 * untrack_tuples / untrack_dicts, promotion, handle_weakrefs, finalize, resurrection check,
 * tp_clear) including the automatic collections chosen by the thresholds.
 *
 * It never calls the runtime: the fuzzer compares the two.
 */
export type Build = 'release' | 'debug' | 'nodealloc';
export type Kind = 'int' | 'float' | 'str' | 'tuple' | 'list' | 'dict' | 'inst' | 'weakref' | 'class' | 'static';
export type FinalizerKind = 'none' | 'plain' | 'resurrect';

export interface MObj {
  readonly id: number;
  readonly kind: Kind;
  readonly typeName: string;
  addr: number; // 0 when the test never saw it (dict key strings)
  rc: number;
  readonly immortal: boolean;
  alive: boolean; // not deallocated (nodealloc: always, once made)
  tracked: boolean;
  gen: number;
  items: number[]; // tuple / list
  dict: Map<string, { key: number; value: number }>; // dict entries, insertion order
  keysTable: boolean; // dict: has a keys table of its own (from its first insertion to a clear)
  attrs: Map<string, number>; // instance attributes
  cls: number; // instance: its class
  finalized: boolean;
  basicWr: number; // instance: its basic weakref object (-1: none)
  wrTarget: number; // weakref: referent (-1: cleared)
  // class
  finalizer: FinalizerKind;
  keyOrder: string[]; // class: shared keys in insertion order (the instance values' index order)
  // tuple: whether a collection untracked it depends on the collector's list order (see
  // untrack_tuples below); the checker takes the runtime's answer and clears the flag
  trackingUncertain?: boolean;
}

export class HeapModel {
  readonly objs = new Map<number, MObj>();
  #next = 1;
  readonly build: Build;
  // gc state
  counts = [0, 0, 0];
  thresholds = [700, 10, 10];
  enabled = true;
  collecting = false;
  scheduled = false;
  longLivedPending = 0;
  longLivedTotal = 0;
  /** CPython 3.12's free lists: a freed list or dict (80 each) or tuple of 1..20 items (2000 per
   * size) is parked instead of freed, leaving the gen-0 count alone; the next one of its kind
   * (tuples: 1..19 items) reuses it without counting an allocation; a full collection frees
   * them all, each -1 on the gen-0 count while it is above 0. */
  parked = { list: 0, dict: 0, tuple: new Array<number>(20).fill(0) };
  /** Objects freed since the last takeFreed(). */
  freed: MObj[] = [];
  /** Objects whose finalizer resurrected them (a new root each) since the last takeResurrected(). */
  resurrected: MObj[] = [];
  /** Generations of the collections (explicit and automatic) run since the last takeCollections(). */
  collections: number[] = [];

  constructor(build: Build) {
    this.build = build;
  }

  get dealloc(): boolean {
    return this.build !== 'nodealloc';
  }

  // ------------------------------------------------------------------ objects
  #make(kind: Kind, typeName: string, opts: Partial<MObj> = {}): MObj {
    const o: MObj = {
      id: this.#next++,
      kind,
      typeName,
      addr: 0,
      rc: 1,
      immortal: false,
      alive: true,
      tracked: false,
      gen: -1,
      items: [],
      dict: new Map(),
      keysTable: false,
      attrs: new Map(),
      cls: -1,
      finalized: false,
      basicWr: -1,
      wrTarget: -1,
      finalizer: 'none',
      keyOrder: [],
      ...opts,
    };
    this.objs.set(o.id, o);
    return o;
  }
  get(id: number): MObj {
    const o = this.objs.get(id);
    if (!o) throw new Error(`model: no object ${id}`);
    return o;
  }
  /** A static immortal object (small int, '', 1-char str, None...), one per address. */
  staticAt(addr: number, typeName: string): MObj {
    for (const o of this.objs.values()) if (o.kind === 'static' && o.addr === addr) return o;
    const o = this.#make('static', typeName, { immortal: true, rc: 0xffffffff });
    o.addr = addr;
    return o;
  }
  /** A class made during setup: rc and tracking are read from the runtime. */
  addClass(name: string, finalizer: FinalizerKind, rc: number, addr: number, gen: number): MObj {
    const o = this.#make('class', 'type', { finalizer, rc, tracked: true, gen });
    o.addr = addr;
    o.keyOrder = [];
    void name;
    return o;
  }

  /** A tracked object of the runtime's own (gc.garbage): survives every collection, no referents. */
  addInternal(rc: number, addr: number, gen: number): MObj {
    const o = this.#make('class', 'list', { rc, tracked: true, gen });
    o.addr = addr;
    (o as { internal?: boolean }).internal = true;
    return o;
  }

  #gcAlloc(o: MObj, track: boolean): void {
    if (!this.#unpark(o)) {
      this.counts[0]!++;
      if (this.counts[0]! > this.thresholds[0]! && this.enabled && this.thresholds[0] !== 0 && !this.collecting) this.scheduled = true;
    }
    if (track) this.#track(o);
  }
  #unpark(o: MObj): boolean {
    const p = this.parked;
    if (o.kind === 'list' && p.list > 0) return p.list--, true;
    if (o.kind === 'dict' && p.dict > 0) return p.dict--, true;
    const n = o.items.length;
    if (o.kind === 'tuple' && n >= 1 && n < 20 && p.tuple[n - 1]! > 0) return p.tuple[n - 1]!--, true;
    return false;
  }
  #park(o: MObj, size: number): boolean {
    const p = this.parked;
    if (o.kind === 'list' && p.list < 80) return p.list++, true;
    if (o.kind === 'dict' && p.dict < 80) return p.dict++, true;
    if (o.kind === 'tuple' && size >= 1 && size <= 20 && p.tuple[size - 1]! < 2000) return p.tuple[size - 1]!++, true;
    return false;
  }
  #track(o: MObj): void {
    o.tracked = true;
    o.gen = 0;
  }
  #untrack(o: MObj): void {
    o.tracked = false;
    o.gen = -1;
  }

  newAtomic(kind: 'int' | 'float' | 'str'): MObj {
    return this.#make(kind, kind);
  }
  newTuple(items: number[]): MObj {
    const o = this.#make('tuple', 'tuple');
    for (const i of items) this.incref(i);
    o.items = [...items];
    this.#gcAlloc(o, true);
    return o;
  }
  newList(items: number[]): MObj {
    const o = this.#make('list', 'list');
    for (const i of items) this.incref(i);
    o.items = [...items];
    this.#gcAlloc(o, true);
    return o;
  }
  newDict(): MObj {
    const o = this.#make('dict', 'dict');
    this.#gcAlloc(o, false); // dicts start untracked
    return o;
  }
  newInstance(cls: number, typeName: string): MObj {
    const o = this.#make('inst', typeName, { cls });
    this.incref(cls);
    this.#gcAlloc(o, true);
    return o;
  }
  /** weakref.ref(obj) without callback: the basic ref is shared. */
  weakref(target: number): MObj {
    const t = this.get(target);
    if (t.basicWr >= 0) {
      this.incref(t.basicWr);
      return this.get(t.basicWr);
    }
    const o = this.#make('weakref', 'weakref.ReferenceType', { wrTarget: target });
    t.basicWr = o.id;
    this.#gcAlloc(o, true);
    return o;
  }
  /** wr(): the referent (a new reference) or -1 for None. */
  deref(wr: number): number {
    const t = this.get(wr).wrTarget;
    if (t >= 0) this.incref(t);
    return t;
  }

  // ------------------------------------------------------------------ refcounts
  incref(id: number): void {
    const o = this.get(id);
    if (o.immortal) return;
    o.rc++;
  }
  decref(id: number): void {
    const o = this.get(id);
    if (o.immortal) return;
    if (o.rc <= 0) throw new Error(`model: decref of ${o.typeName} #${id} at ${o.rc}`);
    o.rc--;
    if (o.rc === 0 && this.dealloc) this.#dealloc(o);
  }

  #isGc(o: MObj): boolean {
    return o.kind === 'tuple' || o.kind === 'list' || o.kind === 'dict' || o.kind === 'inst' || o.kind === 'weakref' || o.kind === 'class';
  }
  #mayBeTracked(id: number): boolean {
    const o = this.get(id);
    if (!this.#isGc(o)) return false;
    if (o.kind === 'tuple') return o.tracked;
    return true;
  }

  #free(o: MObj, size = 0): void {
    if (this.#isGc(o) && !this.#park(o, size) && this.counts[0]! > 0) this.counts[0]!--;
    this.#untrack(o);
    o.alive = false;
    this.freed.push(o);
  }

  #clearWeakrefsTo(o: MObj): void {
    if (o.basicWr >= 0) {
      this.get(o.basicWr).wrTarget = -1;
      o.basicWr = -1;
    }
  }
  #unlinkWeakref(w: MObj): void {
    if (w.wrTarget >= 0) {
      this.get(w.wrTarget).basicWr = -1;
      w.wrTarget = -1;
    }
  }

  #runFinalizer(o: MObj): void {
    // self is a new reference for the call; the resurrecting finalizer keeps a dup of it.
    const cls = this.get(o.cls);
    if (cls.finalizer === 'resurrect') {
      o.rc++;
      this.resurrected.push(o);
    }
  }

  #dealloc(o: MObj): void {
    switch (o.kind) {
      case 'inst': {
        const cls = this.get(o.cls);
        if (cls.finalizer !== 'none' && !o.finalized) {
          o.finalized = true;
          this.#runFinalizer(o);
          if (o.rc > 0) {
            // resurrected: tracked again, in generation 0
            this.#track(o);
            return;
          }
        }
        this.#clearWeakrefsTo(o);
        const vals = cls.keyOrder.filter((k) => o.attrs.has(k)).map((k) => o.attrs.get(k)!);
        o.attrs.clear();
        this.#free(o);
        for (const v of vals) this.decref(v);
        this.decref(o.cls);
        return;
      }
      case 'tuple':
      case 'list': {
        const items = o.items;
        o.items = [];
        this.#free(o, items.length);
        for (let i = items.length; --i >= 0; ) this.decref(items[i]!);
        return;
      }
      case 'dict': {
        const entries = [...o.dict.values()];
        o.dict.clear();
        this.#free(o);
        for (const e of entries) {
          this.decref(e.key);
          this.decref(e.value);
        }
        return;
      }
      case 'weakref':
        this.#unlinkWeakref(o);
        this.#free(o);
        return;
      default:
        this.#free(o);
    }
  }

  // ------------------------------------------------------------------ mutations
  setattr(inst: number, name: string, value: number): void {
    const o = this.get(inst);
    const cls = this.get(o.cls);
    if (!cls.keyOrder.includes(name)) cls.keyOrder.push(name);
    this.incref(value);
    const old = o.attrs.get(name);
    o.attrs.set(name, value);
    if (old !== undefined) this.decref(old);
  }
  /** false: AttributeError. */
  delattr(inst: number, name: string): boolean {
    const o = this.get(inst);
    const old = o.attrs.get(name);
    if (old === undefined) return false;
    o.attrs.delete(name);
    this.decref(old);
    return true;
  }
  /** A new reference to the attribute, or -1 (AttributeError). */
  getattr(inst: number, name: string): number {
    const v = this.get(inst).attrs.get(name);
    if (v === undefined) return -1;
    this.incref(v);
    return v;
  }
  append(list: number, v: number): void {
    this.incref(v);
    this.get(list).items.push(v);
  }
  insert(list: number, index: number, v: number): void {
    const l = this.get(list);
    const n = l.items.length;
    let i = index < 0 ? Math.max(0, index + n) : Math.min(index, n);
    if (i > n) i = n;
    this.incref(v);
    l.items.splice(i, 0, v);
  }
  /** The popped item (the list's reference moves to the caller). */
  pop(list: number, index: number): number {
    const l = this.get(list);
    const i = index < 0 ? index + l.items.length : index;
    const [v] = l.items.splice(i, 1);
    return v!;
  }
  setitem(list: number, index: number, v: number): void {
    const l = this.get(list);
    const i = index < 0 ? index + l.items.length : index;
    this.incref(v);
    const old = l.items[i]!;
    l.items[i] = v;
    this.decref(old);
  }
  listClear(list: number): void {
    const l = this.get(list);
    const items = l.items;
    l.items = [];
    for (let i = items.length; --i >= 0; ) this.decref(items[i]!);
  }
  // The str keys come from JS: each call converts its key to a new str object first and
  // releases that temporary at the end (a new key keeps it: the dict holds a reference).
  /** d[k] = v with a str key. */
  dictSet(dict: number, key: string, v: number): void {
    const t = this.newAtomic('str');
    const d = this.get(dict);
    if (!d.tracked && this.#mayBeTracked(v)) {
      this.#track(d);
    }
    this.incref(v);
    const e = d.dict.get(key);
    if (e) {
      const old = e.value;
      e.value = v;
      this.decref(old);
    } else {
      this.incref(t.id);
      d.dict.set(key, { key: t.id, value: v });
      d.keysTable = true; // the first insertion replaces the shared empty keys
    }
    this.decref(t.id);
  }
  /** false: KeyError. As PyDict_DelItem: pop, then release the value. */
  dictDel(dict: number, key: string): boolean {
    const v = this.dictPop(dict, key);
    if (v < 0) return false;
    this.decref(v);
    return true;
  }
  /** The value (reference moved to the caller), or -1 (KeyError). */
  dictPop(dict: number, key: string): number {
    const t = this.newAtomic('str');
    const d = this.get(dict);
    const e = d.dict.get(key);
    if (e) {
      d.dict.delete(key);
      this.decref(e.key);
    }
    this.decref(t.id);
    return e ? e.value : -1;
  }
  dictClear(dict: number): void {
    const d = this.get(dict);
    const entries = [...d.dict.values()];
    d.dict.clear();
    d.keysTable = false; // back to the shared empty keys
    for (const e of entries) {
      this.decref(e.key);
      this.decref(e.value);
    }
  }

  // ------------------------------------------------------------------ the collector
  /** The GC objects an object references (tp_traverse order does not matter here). */
  #referents(o: MObj): number[] {
    const out: number[] = [];
    const push = (id: number): void => {
      if (this.#isGc(this.get(id))) out.push(id);
    };
    switch (o.kind) {
      case 'tuple':
      case 'list':
        o.items.forEach(push);
        break;
      case 'dict':
        for (const e of o.dict.values()) {
          push(e.key);
          push(e.value);
        }
        break;
      case 'inst':
        for (const v of o.attrs.values()) push(v);
        push(o.cls);
        break;
      default:
        break;
    }
    return out;
  }

  /** Runs at the end of each operation (the safe point). */
  safePoint(): void {
    if (!this.scheduled) return;
    this.scheduled = false;
    if (!this.enabled || this.collecting) return;
    this.collecting = true;
    for (let i = 2; i >= 0; i--) {
      if (this.counts[i]! > this.thresholds[i]!) {
        if (i === 2 && this.longLivedPending < Math.floor(this.longLivedTotal / 4)) continue;
        this.#collectMain(i);
        break;
      }
    }
    this.collecting = false;
  }

  /** gc.collect(generation). */
  collect(generation: number): number {
    if (this.collecting) return 0;
    this.collecting = true;
    const n = this.#collectMain(generation);
    this.collecting = false;
    return n;
  }

  #collectMain(generation: number): number {
    this.collections.push(generation);
    if (generation + 1 < 3) this.counts[generation + 1]!++;
    for (let i = 0; i <= generation; i++) this.counts[i] = 0;
    const old = Math.min(generation + 1, 2);
    const young: MObj[] = [];
    for (const o of this.objs.values()) {
      if (!o.tracked) continue;
      if (o.gen <= generation) {
        o.gen = generation;
        young.push(o);
      }
    }
    const inYoung = new Set(young.map((o) => o.id));
    const unreachable = this.#deduce(young, inYoung);
    const survivors = young.filter((o) => !unreachable.has(o.id));
    // untrack_tuples on the survivors: one pass in the collector's list order. A tuple whose
    // items are all atomic or untracked before the pass is untracked for certain. A tuple that
    // qualifies only because an inner tuple is untracked in the same pass depends on which of
    // the two comes first in the list — move_unreachable moves objects reachable only from
    // inside the generation to its end (CPython 3.12.1 too: t2 = ((s,),) after del of the inner
    // tuple keeps t2 tracked after one collection) — so the model leaves it to the checker.
    const atomicOrUntracked = (i: number): boolean => !this.#isGc(this.get(i)) || (this.get(i).kind === 'tuple' && !this.get(i).tracked);
    const certain = survivors.filter((o) => o.kind === 'tuple' && o.tracked && o.items.every(atomicOrUntracked));
    for (const o of certain) this.#untrack(o);
    for (const o of survivors) {
      if (o.kind === 'tuple' && o.tracked && o.items.every(atomicOrUntracked)) o.trackingUncertain = true;
    }
    // A class brings its __mro__ tuple (tracked, always in the class's generation): weight 2.
    const weight = (o: MObj): number => (o.kind === 'class' && !(o as { internal?: boolean }).internal ? 2 : 1);
    if (generation === 1) for (const o of survivors) if (o.tracked) this.longLivedPending += weight(o);
    for (const o of survivors) if (o.tracked) o.gen = old;
    if (generation === 2) {
      for (const o of survivors) {
        if (o.kind === 'dict' && o.tracked && [...o.dict.values()].every((e) => !this.#mayBeTracked(e.value))) this.#untrack(o);
      }
      this.longLivedPending = 0;
      let total = 0;
      for (const o of this.objs.values()) if (o.tracked && o.gen === 2 && !unreachable.has(o.id)) total += weight(o);
      this.longLivedTotal = total;
    }
    const trash = young.filter((o) => unreachable.has(o.id));
    // handle_weakrefs: weakrefs that are trash, and weakrefs to the trash, are cleared
    for (const o of trash) {
      if (o.kind === 'weakref') this.#unlinkWeakref(o);
      this.#clearWeakrefsTo(o);
    }
    // finalize_garbage
    for (const o of trash) {
      if (o.kind === 'inst' && this.get(o.cls).finalizer !== 'none' && !o.finalized) {
        o.finalized = true;
        this.#runFinalizer(o);
      }
    }
    // handle_resurrected_objects: deduce again within the trash
    const inTrash = new Set(trash.map((o) => o.id));
    const still = this.#deduce(trash, inTrash);
    for (const o of trash) if (!still.has(o.id)) o.gen = old;
    const final = trash.filter((o) => still.has(o.id));
    // delete_garbage: tp_clear each (the deallocations cascade)
    for (const o of final) {
      if (!o.alive) continue;
      if (o.kind === 'tuple') continue; // no tp_clear
      o.rc++;
      if (o.kind === 'inst') {
        const cls = this.get(o.cls);
        const vals = cls.keyOrder.filter((k) => o.attrs.has(k)).map((k) => o.attrs.get(k)!);
        o.attrs.clear();
        for (const v of vals) this.decref(v);
      } else if (o.kind === 'list') {
        this.listClear(o.id);
      } else if (o.kind === 'dict') {
        this.dictClear(o.id);
      } else if (o.kind === 'weakref') {
        this.#unlinkWeakref(o);
      }
      this.decref(o.id);
    }
    for (const o of final) {
      if (o.alive && o.tracked) o.gen = old;
      if (this.dealloc && o.alive) throw new Error(`model: ${o.typeName} #${o.id} survived delete_garbage`);
    }
    if (generation === 2) {
      const p = this.parked;
      const n = p.list + p.dict + p.tuple.reduce((a, b) => a + b, 0);
      this.counts[0] = Math.max(0, this.counts[0]! - n);
      this.parked = { list: 0, dict: 0, tuple: new Array<number>(20).fill(0) };
    }
    return final.length;
  }

  /** The objects of `set` not reachable from the ones with references from outside it. */
  #deduce(set: MObj[], inSet: Set<number>): Set<number> {
    const refs = new Map<number, number>();
    for (const o of set) refs.set(o.id, o.rc);
    for (const o of set) {
      for (const r of this.#referents(o)) if (inSet.has(r)) refs.set(r, refs.get(r)! - 1);
    }
    const reachable = new Set<number>();
    const stack: number[] = [];
    for (const o of set) {
      if (refs.get(o.id)! > 0) {
        reachable.add(o.id);
        stack.push(o.id);
      }
    }
    while (stack.length) {
      const id = stack.pop()!;
      for (const r of this.#referents(this.get(id))) {
        if (inSet.has(r) && !reachable.has(r)) {
          reachable.add(r);
          stack.push(r);
        }
      }
    }
    const out = new Set<number>();
    for (const o of set) if (!reachable.has(o.id)) out.add(o.id);
    return out;
  }

  // ------------------------------------------------------------------ observations
  takeFreed(): MObj[] {
    const f = this.freed;
    this.freed = [];
    return f;
  }
  takeResurrected(): MObj[] {
    const r = this.resurrected;
    this.resurrected = [];
    return r;
  }
  takeCollections(): number[] {
    const a = this.collections;
    this.collections = [];
    return a;
  }
  /** Live objects with an address, for the per-step refcount check. */
  *live(): Generator<MObj> {
    for (const o of this.objs.values()) if (o.alive && !o.immortal) yield o;
  }
  /**
   * The debug build's ref total, up to a constant: Σ refcounts of the mortal live objects, plus
   * one for each dict's own keys table (CPython 3.12 counts a table's dk_refcnt in the total).
   */
  refSum(): number {
    let s = 0;
    for (const o of this.objs.values()) {
      if (o.alive && !o.immortal) s += o.rc + (o.kind === 'dict' && o.keysTable ? 1 : 0);
    }
    return s;
  }
  /** Live objects by type name (the census, up to the baseline). */
  census(): Map<string, number> {
    const m = new Map<string, number>();
    for (const o of this.objs.values()) {
      if (!o.alive || o.kind === 'static' || o.kind === 'class') continue;
      m.set(o.typeName, (m.get(o.typeName) ?? 0) + 1);
    }
    return m;
  }
  /** Forget freed objects (keeps the maps small across long sequences). */
  compact(): void {
    for (const [id, o] of this.objs) if (!o.alive) this.objs.delete(id);
  }
}
