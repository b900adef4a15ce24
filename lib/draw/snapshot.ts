/**
 * A snapshot of the live heap reachable from some named roots: plain data (no Refs), so it
 * outlives its runtime and can be drawn later. Taking one changes nothing in the heap: every
 * read is a borrowed, allocation-free native call (no incref, no new object), so the counts it
 * records are the counts the program sees.
 */
import { nativeOf } from '../internal.js';
import { RefcountError } from '../errors.js';
import type { Address, Holder, Ref, Runtime } from '../runtime/index.js';

/** Where an object is as far as the cycle collector is concerned. */
export type GcState = 'untracked' | 'generation 0' | 'generation 1' | 'generation 2' | 'permanent' | 'freed' | 'unknown';

/** One object (a box in the picture). */
export interface HeapNode {
  /** id(obj): the address. */
  readonly id: Address;
  /** '0x…' */
  readonly hex: string;
  /** 'live'; 'freed' (deallocated, nothing lives there now); 'invalid' (never an object);
   * 'unknown' (an unguarded runtime keeps no registry). */
  readonly state: 'live' | 'freed' | 'invalid' | 'unknown';
  /** tp_name ('A', 'int', 'str'...); for a freed object, what lived there when last seen, or '?'. */
  readonly type: string;
  /** The built-in kind ('instance', 'int', 'type'...), '' when not live. */
  readonly kind: string;
  /** A short text of the value (repr, truncated; `attr=value` pairs for instances). */
  readonly value: string;
  /** ob_refcnt (null when not live). */
  readonly refcnt: number | bigint | null;
  /** Immortal (3.12: the refcount is saturated at 2**32 - 1 and never changes). */
  readonly immortal: boolean;
  readonly gc: GcState;
  /** True when the object is part of a reference cycle (an SCC of size > 1, or a self-loop). */
  readonly inCycle: boolean;
  /** Freed objects: the word at offset 0 (the stale ob_refcnt) if the memory is still readable. */
  readonly staleWord?: number | bigint | null;
  /** Who holds its references (`rt.refs.explain`): live mortal objects of an accounted
   * snapshot ({@link HeapSnapshot.accounted}). The holders and `unexplained` add up to `refcnt`. */
  readonly holders?: readonly Holder[];
  /** References no holder accounts for: positive, taken and never given back; negative, released
   * behind a holder's back (an extra Py_DECREF). Present with `holders`. */
  readonly unexplained?: number;
}

/** One reference from a container / instance to an object. */
export interface HeapEdge {
  readonly from: Address;
  readonly to: Address;
  /** The slot, from the core's labelled walk: '.attr', '[i]', "['key']", "key 'k'", 'element', '__class__', '__dict__', '__mro__'. */
  readonly label: string;
  /** True when both ends are in the same strongly connected component (a cycle edge). */
  readonly cycle: boolean;
}

/** A named root: a Python name holding a reference, or an `id(...)` kept as a number. */
export interface HeapRoot {
  readonly name: string;
  readonly to: Address;
  /** 'ref': the name owns a strong reference; 'address': the name holds only the number. */
  readonly kind: 'ref' | 'address';
}

export interface HeapSnapshot {
  readonly build: string;
  readonly guard: boolean;
  readonly roots: readonly HeapRoot[];
  readonly nodes: readonly HeapNode[];
  readonly edges: readonly HeapEdge[];
  /** True when maxNodes cut the walk short. */
  readonly truncated: boolean;
  /** True when each live mortal node carries its `holders` and `unexplained` (a guarded runtime,
   * `account` not turned off). */
  readonly accounted: boolean;
}

export type Roots = Readonly<Record<string, Ref | Address | null | undefined>>;

export interface SnapshotOptions {
  /** How many references deep from the roots (default: unlimited). */
  readonly depth?: number;
  /** At most this many objects (default 200). */
  readonly maxNodes?: number;
  /** Walk into class objects (their __dict__ and __mro__)? Default false: a class is drawn as
   * one box, as on the slides. */
  readonly expandTypes?: boolean;
  /** A previous snapshot: a freed object keeps the type it had there ("was A"). */
  readonly previous?: HeapSnapshot;
  /** Account for each live mortal object's references with `rt.refs.explain` (default true;
   * guarded runtimes only, skipped in unguarded ones). Each costs one walk of the live heap. */
  readonly account?: boolean;
}

const VALUE_MAX = 48;

export function hexAddr(a: Address): string {
  return '0x' + a.toString(16);
}

function clip(s: string, n = VALUE_MAX): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

function gcStateOf(gen: number): GcState {
  if (gen === -1) return 'untracked';
  if (gen === 3) return 'permanent';
  if (gen >= 0 && gen <= 2) return `generation ${gen}` as GcState;
  return 'unknown';
}

const ATOMIC = new Set(['int', 'bool', 'float', 'str', 'None']);

/**
 * The objects reachable from `roots` (names -> Ref or address), the references between them
 * (tp_traverse order, labelled), and the roots. A root naming a freed object becomes a freed
 * box; a released Ref or a null root is left out.
 */
export function snapshot(rt: Runtime, roots: Roots, options: SnapshotOptions = {}): HeapSnapshot {
  const n = nativeOf(rt);
  const depthMax = options.depth ?? Infinity;
  const maxNodes = options.maxNodes ?? 200;
  const prevTypes = new Map<Address, string>();
  for (const p of options.previous?.nodes ?? []) if (p.state === 'live') prevTypes.set(p.id, p.type);
  else if (p.type !== '?') prevTypes.set(p.id, p.type);

  const outRoots: HeapRoot[] = [];
  for (const [name, v] of Object.entries(roots)) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'number') {
      // Any integer address may be drawn (a freed or foreign one as such), but not NaN or a
      // fraction: the graph walks compare addresses with ===.
      if (!Number.isSafeInteger(v) || v < 0)
        throw new RefcountError('ERR_INVALID_ADDRESS', `root '${name}': ${String(v)} is not an address (a non-negative integer is required)`);
      outRoots.push({ name, to: v, kind: 'address' });
    }
    else if (!v.released && v.runtime === rt && !rt.closed) outRoots.push({ name, to: v.id, kind: 'ref' });
  }

  const nodes = new Map<Address, Omit<HeapNode, 'inCycle'>>();
  const rawEdges: { from: Address; to: Address; label: string }[] = [];
  let truncated = false;
  const queue: [Address, number][] = [];
  const visit = (a: Address, depth: number): void => {
    if (nodes.has(a)) return;
    if (nodes.size >= maxNodes) {
      truncated = true;
      return;
    }
    const state = n.objectState(a);
    if (state !== 'live' && !(state === 'unknown' && rt.guard === false)) {
      let staleWord: number | bigint | null = null;
      try {
        staleWord = n.readWord(a);
      } catch {
        staleWord = null;
      }
      nodes.set(a, {
        id: a,
        hex: hexAddr(a),
        state,
        type: prevTypes.get(a) ?? '?',
        kind: '',
        value: '',
        refcnt: null,
        immortal: false,
        gc: state === 'freed' ? 'freed' : 'unknown',
        staleWord,
      });
      return;
    }
    const kind = n.kind(a);
    const type = n.typeName(a);
    const edges = n.referentEdges(a);
    nodes.set(a, {
      id: a,
      hex: hexAddr(a),
      state,
      type,
      kind,
      value: summary(rt, a, kind, edges),
      refcnt: n.refcnt(a),
      immortal: n.isImmortal(a),
      gc: gcStateOf(n.gcGenerationOf(a)),
    });
    if (depth >= depthMax) return;
    if (kind === 'type' && !options.expandTypes) return;
    for (const [label, to] of edges) {
      rawEdges.push({ from: a, to, label });
      queue.push([to, depth + 1]);
    }
  };
  for (const r of outRoots) queue.push([r.to, 0]);
  while (queue.length) {
    const [a, d] = queue.shift() as [Address, number];
    visit(a, d);
  }
  // Edges to objects left out by maxNodes are dropped.
  const kept = rawEdges.filter((e) => nodes.has(e.to));
  const scc = stronglyConnected([...nodes.keys()], kept);
  const selfLoop = new Set(kept.filter((e) => e.from === e.to).map((e) => e.from));
  const sizeOf = new Map<number, number>();
  for (const c of scc.values()) sizeOf.set(c, (sizeOf.get(c) ?? 0) + 1);
  const inCycle = (a: Address) => selfLoop.has(a) || (sizeOf.get(scc.get(a) as number) ?? 0) > 1;
  // An unguarded runtime keeps no registry of live objects to account with: no accounting.
  const accounted = (options.account ?? true) && rt.guard && !rt.closed;
  return {
    build: rt.build,
    guard: rt.guard,
    roots: outRoots,
    nodes: [...nodes.values()].map((x) => ({ ...x, inCycle: inCycle(x.id), ...(accounted ? account(rt, x) : {}) })),
    edges: kept.map((e) => ({ ...e, cycle: e.from === e.to || (scc.get(e.from) === scc.get(e.to) && inCycle(e.from)) })),
    truncated,
    accounted,
  };
}

/** The holders of a live mortal object's references (rt.refs.explain reads, never increfs). */
function account(rt: Runtime, x: Omit<HeapNode, 'inCycle'>): Pick<HeapNode, 'holders' | 'unexplained'> {
  if (x.state !== 'live' || x.immortal) return {};
  const e = rt.refs.explain(x.id);
  return { holders: e.holders, unexplained: e.unexplained };
}

/** The value cell: repr for atomic objects, `attr=value` for instances, sizes for containers. */
function summary(rt: Runtime, a: Address, kind: string, edges: [string, Address][]): string {
  const n = nativeOf(rt);
  switch (kind) {
    case 'instance': {
      const parts: string[] = [];
      for (const [label, to] of edges) {
        if (label === '__class__' || label === '') continue;
        const k = n.kind(to);
        parts.push(ATOMIC.has(k) ? `${label}=${clip(n.repr(to), 24)}` : `${label}=→`);
      }
      return clip(parts.length ? parts.join(', ') : `<${n.typeName(a)} object>`);
    }
    case 'list':
    case 'tuple':
    case 'dict': {
      const len = n.len(a);
      return len <= 6 ? clip(n.repr(a)) : `${kind} of ${len} items`;
    }
    default:
      return clip(n.repr(a));
  }
}

/** Tarjan's algorithm (iterative): node -> component number. */
function stronglyConnected(vertices: Address[], edges: readonly { from: Address; to: Address }[]): Map<Address, number> {
  const adj = new Map<Address, Address[]>();
  for (const v of vertices) adj.set(v, []);
  for (const e of edges) adj.get(e.from)?.push(e.to);
  const index = new Map<Address, number>();
  const low = new Map<Address, number>();
  const onStack = new Set<Address>();
  const stack: Address[] = [];
  const comp = new Map<Address, number>();
  let next = 0;
  let ncomp = 0;
  for (const root of vertices) {
    if (index.has(root)) continue;
    const work: [Address, number][] = [[root, 0]];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const top = work[work.length - 1] as [Address, number];
      const [v, i] = top;
      const succ = adj.get(v) ?? [];
      if (i < succ.length) {
        top[1]++;
        const w = succ[i] as Address;
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      } else {
        work.pop();
        if (work.length) {
          const u = (work[work.length - 1] as [Address, number])[0];
          low.set(u, Math.min(low.get(u) as number, low.get(v) as number));
        }
        if (low.get(v) === index.get(v)) {
          let w: Address;
          do {
            w = stack.pop() as Address;
            onStack.delete(w);
            comp.set(w, ncomp);
          } while (w !== v);
          ncomp++;
        }
      }
    }
  }
  return comp;
}
