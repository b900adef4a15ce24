/** Pictures of the heap: snapshots, DOT in the talk's style, SVG, scenario frames, objgraph. */
export { snapshot, hexAddr } from './snapshot.js';
export type { HeapSnapshot, HeapNode, HeapEdge, HeapRoot, GcState, Roots, SnapshotOptions } from './snapshot.js';
export { toDot, COLORS } from './dot.js';
export type { DotOptions } from './dot.js';
export { toSvg } from './svg.js';
export { showRefs, showBackrefs, showGrowth, typeCounts } from './objgraph.js';
export type { Picture, RefsOptions, GrowthRow } from './objgraph.js';
export { drawScenario } from './scenario.js';
export type { Frame, DrawScenarioOptions, DrawnScenario } from './scenario.js';
