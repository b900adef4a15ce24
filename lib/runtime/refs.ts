/**
 * `rt.refs`: who holds each reference. An object's refcount is the sum of its holders: the
 * container slots that point at it (the core's labelled walk of the live heap: `[3]`,
 * `['x']`, `key 'x'`, `.attr`, `__class__`, `__mro__`...), the live {@link Ref}s that own a
 * reference to it, the runtime's own references (gc.garbage, the class handles of
 * `defineClass`); an immortal object needs none. What no holder accounts for is `unexplained`:
 * positive, a reference somebody took and never gave back (a leak, or a `capi.Py_INCREF` still
 * outstanding); negative, a holder whose reference was released behind its back (an extra
 * `Py_DECREF`: a use-after-free waiting to happen).
 */
import { RefcountError, type ObjectHistory } from '../errors.js';
import type { Address } from '../binding.js';
import { nativeOf, type Runtime } from './runtime.js';
import { Ref, addressOf, ownedRefs, peekAddress, refSite } from './ref.js';
import { hex } from './util.js';

/** What holds a reference. */
export type HolderKind = 'container' | 'ref' | 'capi' | 'runtime' | 'immortal';

/** One holder of references to an object, and how many it holds. */
export interface Holder {
  readonly kind: HolderKind;
  readonly count: number;
  /** container: the container's address, its type name and the slot's label. */
  readonly from?: Address;
  readonly fromType?: string;
  readonly label?: string;
  /** runtime: what in the runtime holds it (`gc.garbage`, `the class handle of A`). */
  readonly what?: string;
  /** ref / capi: where these Refs were created, or where these C API references were taken
   * (a tracking runtime: `Runtime.create({ track: true })`). */
  readonly site?: string;
}

/** {@link RefsModule.explain}'s answer: `refcnt === sum of holders' counts + unexplained`. */
export interface Explanation {
  readonly address: Address;
  readonly typeName: string;
  readonly refcnt: number;
  readonly holders: readonly Holder[];
  readonly unexplained: number;
}

/** A container slot that holds an address which is no live object (an item freed behind its
 * container's back). */
export interface DanglingSlot {
  readonly from: Address;
  readonly fromType: string;
  readonly label: string;
  readonly address: Address;
}

/** Live Refs that own a reference to an object that was freed behind their back (an extra
 * `Py_DECREF` took their reference): the next use of them is a use after free. */
export interface DanglingRef {
  /** The address the Refs point at (no live object, or already another one's: see
   * {@link Audit.unexplained}). */
  readonly address: Address;
  readonly count: number;
  /** Where these Refs were created (a tracking runtime). */
  readonly site?: string;
}

/** {@link RefsModule.audit}'s answer: the objects whose holders do not add up, explained. */
export interface Audit {
  /** How many mortal live objects were accounted. */
  readonly objects: number;
  readonly unexplained: readonly Explanation[];
  readonly dangling: readonly DanglingSlot[];
  readonly danglingRefs: readonly DanglingRef[];
  /** No unexplained reference, no dangling slot, no dangling Ref. */
  readonly ok: boolean;
}

/** `rt.refs`: reference accounting (guarded runtimes: the heap is walked through the registry
 * of live objects, which an unguarded runtime does not keep). */
export class RefsModule {
  readonly #rt: Runtime;
  readonly #classes: () => Iterable<{ readonly id: Address; readonly name: string }>;
  /** Made by the runtime (not for user code). */
  constructor(rt: Runtime, classes: () => Iterable<{ readonly id: Address; readonly name: string }>) {
    this.#rt = rt;
    this.#classes = classes;
  }

  /** The holders of one object's references, which add up to its refcount. */
  explain(obj: Ref | Address): Explanation {
    const n = nativeOf(this.#rt);
    const a = obj instanceof Ref ? addressOf(obj, this.#rt) : obj;
    const typeName = n.typeName(a);
    const refcnt = Number(n.refcnt(a));
    if (n.isImmortal(a)) return { address: a, typeName, refcnt, holders: [{ kind: 'immortal', count: refcnt }], unexplained: 0 };
    const heap = n.heapHolders(a);
    if (heap === null) throw this.#unguarded('explain');
    const holders: Holder[] = [];
    const bySlot = new Map<string, { from: Address; label: string; count: number }>();
    for (const [from, label] of heap.slots) {
      const key = `${from}\0${label}`;
      const h = bySlot.get(key);
      if (h) h.count++;
      else bySlot.set(key, { from, label, count: 1 });
    }
    for (const h of bySlot.values()) holders.push({ kind: 'container', count: h.count, from: h.from, fromType: n.typeName(h.from), label: h.label });
    for (const what of heap.runtime) holders.push({ kind: 'runtime', count: 1, what });
    const refs = ownedRefs(this.#rt).get(a);
    if (refs !== undefined) {
      // one holder per creation site (all in one when the runtime does not track them)
      const bySite = new Map<string | undefined, number>();
      for (const r of refs) bySite.set(refSite(r), (bySite.get(refSite(r)) ?? 0) + 1);
      for (const [site, count] of bySite) holders.push(site === undefined ? { kind: 'ref', count } : { kind: 'ref', count, site });
    }
    for (const c of this.#classes()) if (c.id === a) holders.push({ kind: 'runtime', count: 1, what: `the class handle of ${c.name}` });
    if (this.#rt.tracking) {
      const bySite = new Map<string, number>();
      for (const site of n.capiHeld(a)) bySite.set(site, (bySite.get(site) ?? 0) + 1);
      for (const [site, count] of bySite) holders.push(site === '' ? { kind: 'capi', count } : { kind: 'capi', count, site });
    }
    const explained = holders.reduce((s, h) => s + h.count, 0);
    return { address: a, typeName, refcnt, holders, unexplained: refcnt - explained };
  }

  /** Every live object's account: the objects whose holders do not add up (with their
   * holders), and the container slots left pointing at freed objects. */
  audit(): Audit {
    const n = nativeOf(this.#rt);
    const acc = n.accountHeap();
    if (acc === null) throw this.#unguarded('audit');
    const refs = ownedRefs(this.#rt);
    const classes = new Map<Address, number>();
    for (const c of this.#classes()) classes.set(c.id, (classes.get(c.id) ?? 0) + 1);
    const unexplained: Explanation[] = [];
    const tracking = this.#rt.tracking;
    const o = acc.objects;
    const live = new Set<Address>();
    for (let i = 0; i < o.length; i += 3) {
      const a = o[i] as Address;
      live.add(a);
      const held = (o[i + 2] as number) + (refs.get(a)?.length ?? 0) + (classes.get(a) ?? 0) + (tracking ? n.capiHeld(a).length : 0);
      if (held !== o[i + 1]) unexplained.push(this.explain(a));
    }
    const dangling = acc.dangling.map(([from, label, address]) => ({ from, fromType: n.typeName(from), label, address }));
    // a Ref's object is a mortal live one, an immortal (not in the account), or gone
    const danglingRefs: DanglingRef[] = [];
    for (const [a, list] of refs) {
      if (live.has(a) || !isFreed(() => n.isImmortal(a))) continue;
      const bySite = new Map<string | undefined, number>();
      for (const r of list) bySite.set(refSite(r), (bySite.get(refSite(r)) ?? 0) + 1);
      for (const [site, count] of bySite) danglingRefs.push(site === undefined ? { address: a, count } : { address: a, count, site });
    }
    const ok = unexplained.length === 0 && dangling.length === 0 && danglingRefs.length === 0;
    return { objects: o.length / 3, unexplained, dangling, danglingRefs, ok };
  }

  /**
   * A tracking runtime's record of the object (the latest at that address): every event with
   * its operation, call site and refcount, its allocation, its free and the first decref that
   * had no owner — also after it was freed. ERR_VALUE in a runtime that does not track; null
   * for an address that was never an object of this runtime.
   */
  history(obj: Ref | Address): ObjectHistory | null {
    const n = nativeOf(this.#rt);
    if (!this.#rt.tracking) throw new RefcountError('ERR_VALUE', 'refs.history() needs a tracking runtime: Runtime.create({ track: true })');
    return n.history(obj instanceof Ref ? peekAddress(obj) : obj);
  }

  #unguarded(what: string): RefcountError {
    return new RefcountError('ERR_UNGUARDED', `refs.${what}() needs a guarded runtime: an unguarded one keeps no registry of live objects to walk`);
  }
}

// Whether a guarded check of an address says it is no object any more (freed; or its arena
// given back, which makes it no address of the runtime's at all).
function isFreed(check: () => unknown): boolean {
  try {
    check();
    return false;
  } catch (e) {
    if (e instanceof RefcountError && (e.code === 'ERR_USE_AFTER_FREE' || e.code === 'ERR_INVALID_ADDRESS')) return true;
    throw e;
  }
}

/** An explanation as text: the object, then one line per holder, then what is unexplained. */
export function formatExplanation(e: Explanation): string {
  const lines = [`${e.typeName} object at ${hex(e.address)}: refcount ${e.refcnt}`];
  for (const h of e.holders) {
    const where =
      h.kind === 'container' ? `${h.fromType} at ${hex(h.from ?? 0)} ${h.label}` :
      h.kind === 'runtime' ? (h.what ?? 'the runtime') :
      h.kind === 'ref' ? (h.site === undefined ? 'live Refs' : `live Refs created at ${h.site}`) :
      h.kind === 'immortal' ? 'immortal (never counted)' :
      h.site === undefined ? 'the C API' : `the C API, taken at ${h.site}`;
    lines.push(`  ${String(h.count).padStart(3)}  ${h.kind.padEnd(9)} ${where}`);
  }
  if (e.unexplained !== 0) {
    lines.push(
      e.unexplained > 0
        ? `  ${String(e.unexplained).padStart(3)}  unexplained: taken and never given back (a leak, or a capi.Py_INCREF still outstanding in a runtime that does not track)`
        : `  ${String(e.unexplained).padStart(3)}  unexplained: a holder's reference was released behind its back (an extra Py_DECREF)`,
    );
  }
  return lines.join('\n');
}

/** An audit as text: 'ok', or each object that does not add up and each dangling slot. */
export function formatAudit(a: Audit): string {
  if (a.ok) return `refs.audit(): ${a.objects} objects, every reference explained`;
  const refs = a.danglingRefs.length === 0 ? '' : `, ${a.danglingRefs.length} dangling Ref${a.danglingRefs.length === 1 ? '' : 's'}`;
  const out = [`refs.audit(): ${a.objects} objects, ${a.unexplained.length} with unexplained references, ${a.dangling.length} dangling slots${refs}`];
  for (const e of a.unexplained) out.push(formatExplanation(e));
  for (const d of a.dangling) out.push(`dangling: ${d.fromType} at ${hex(d.from)} ${d.label} -> ${hex(d.address)} (no live object)`);
  for (const d of a.danglingRefs)
    out.push(`dangling: ${d.count} live Ref${d.count === 1 ? '' : 's'}${d.site === undefined ? '' : ` created at ${d.site}`} -> ${hex(d.address)} (freed behind ${d.count === 1 ? 'its' : 'their'} back)`);
  return out.join('\n');
}
