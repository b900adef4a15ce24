/**
 * objgraph-style helpers: showRefs (what an object refers to), showBackrefs (who keeps it
 * alive), showGrowth (object counts by type since the last call).
 *
 * Like objgraph, the counts come from gc.get_objects(): only objects the cycle collector
 * tracks (instances, lists, dicts, classes, tuples not yet untracked...). Atomic objects —
 * ints, floats, strs, None — are never tracked, so showGrowth does not count them.
 */
import { nativeOf } from '../internal.js';
import type { Address, Ref, Runtime } from '../runtime/index.js';
import { toDot, type DotOptions } from './dot.js';
import { snapshot, hexAddr, type HeapEdge, type HeapNode, type HeapSnapshot } from './snapshot.js';
import { toSvg } from './svg.js';

/** A drawn graph: the snapshot, its DOT text, and SVG on demand. */
export interface Picture {
  readonly snapshot: HeapSnapshot;
  readonly dot: string;
  svg(): Promise<string>;
}

export interface RefsOptions extends DotOptions {
  /** How many references away (default 3). */
  readonly depth?: number;
  readonly maxNodes?: number;
  /** The name the object is drawn under (default 'obj'). */
  readonly name?: string;
}

function picture(s: HeapSnapshot, options: DotOptions): Picture {
  const dot = toDot(s, options);
  return { snapshot: s, dot, svg: () => toSvg(dot) };
}

/** objgraph.show_refs: the objects `ref` refers to, `depth` references deep. */
export function showRefs(ref: Ref, options: RefsOptions = {}): Picture {
  const s = snapshot(ref.runtime, { [options.name ?? 'obj']: ref }, { depth: options.depth ?? 3, maxNodes: options.maxNodes ?? 100 });
  return picture(s, options);
}

/**
 * objgraph.show_backrefs: who refers to `ref`, found with gc.get_referrers, `depth` levels
 * up. Only GC-tracked containers are found (as in CPython); the Python names (Refs held by
 * JavaScript) are not objects and are not found — `ref` itself is drawn as the name.
 */
export function showBackrefs(ref: Ref, options: RefsOptions = {}): Picture {
  const rt = ref.runtime;
  const n = nativeOf(rt);
  const depth = options.depth ?? 3;
  const maxNodes = options.maxNodes ?? 100;
  const target = ref.id;
  const nodes = new Map<Address, HeapNode>();
  const edges: HeapEdge[] = [];
  let accounted = false;
  const one = (a: Address): HeapNode => {
    // A one-object snapshot: reads the box (and its holders) without walking further.
    const s = snapshot(rt, { x: a }, { depth: 0 });
    accounted = s.accounted;
    return s.nodes[0] as HeapNode;
  };
  nodes.set(target, one(target));
  let frontier: Address[] = [target];
  for (let d = 0; d < depth && frontier.length && nodes.size < maxNodes; d++) {
    const next: Address[] = [];
    for (const child of frontier) {
      for (const parent of referrersOf(rt, child)) {
        if (nodes.size >= maxNodes && !nodes.has(parent)) break;
        for (const [label, to] of n.referentEdges(parent)) if (to === child) edges.push({ from: parent, to: child, label, cycle: false });
        if (!nodes.has(parent)) {
          nodes.set(parent, one(parent));
          next.push(parent);
        }
      }
    }
    frontier = next;
  }
  // Refcounts are read after every temporary reference from gc.get_referrers was dropped.
  const fresh = [...nodes.values()].map((x) => ({ ...x, refcnt: n.refcnt(x.id) }));
  const s: HeapSnapshot = {
    build: rt.build,
    guard: rt.guard,
    roots: [{ name: options.name ?? 'obj', to: target, kind: 'ref' }],
    nodes: fresh,
    edges,
    truncated: nodes.size >= maxNodes,
    accounted,
  };
  return picture(s, options);
}

/** gc.get_referrers(obj) as borrowed addresses (the new references are dropped at once). */
function referrersOf(rt: Runtime, a: Address): Address[] {
  const list = nativeOf(rt).gcGetReferrers([a]);
  for (const x of list) nativeOf(rt).decref(x);
  return list;
}

export interface GrowthRow {
  readonly type: string;
  readonly count: number;
  readonly delta: number;
}

const lastCounts = new WeakMap<Runtime, Map<string, number>>();

/** Counts of GC-tracked objects by type name (gc.get_objects()). */
export function typeCounts(rt: Runtime): Map<string, number> {
  const list = nativeOf(rt).gcGetObjects(undefined);
  const counts = new Map<string, number>();
  for (const a of list) {
    const t = nativeOf(rt).typeName(a);
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  for (const a of list) nativeOf(rt).decref(a);
  return counts;
}

/**
 * objgraph.show_growth: the types whose number of (GC-tracked) objects grew since the last
 * call for this runtime (the first call compares with nothing), largest growth first.
 * `print` receives objgraph's text table.
 */
export function showGrowth(rt: Runtime, options: { limit?: number; print?: (text: string) => void } = {}): GrowthRow[] {
  const now = typeCounts(rt);
  const before = lastCounts.get(rt) ?? new Map<string, number>();
  lastCounts.set(rt, now);
  const rows: GrowthRow[] = [];
  for (const [type, count] of now) {
    const delta = count - (before.get(type) ?? 0);
    if (delta > 0) rows.push({ type, count, delta });
  }
  rows.sort((x, y) => y.delta - x.delta || x.type.localeCompare(y.type));
  const out = rows.slice(0, options.limit ?? 10);
  if (options.print) {
    const w = Math.max(8, ...out.map((r) => r.type.length));
    const cw = Math.max(...out.map((r) => String(r.count).length), 1);
    options.print(out.map((r) => `${r.type.padEnd(w)} ${String(r.count).padStart(cw)}       +${r.delta}\n`).join(''));
  }
  return out;
}

export { hexAddr };
