/**
 * refcount-lab: real C-level reference counting for Node.js, modelled on CPython 3.12.
 *
 * ```ts
 * import { Runtime } from 'refcount-lab';
 * using rt = Runtime.create({ build: 'release' });
 * const A = rt.defineClass('A');
 * const a = A.new({ my_obj_attr: 'This is kakoyto text' });
 * rt.ctypes.c_long.from_address(a.id).value; // 1
 * ```
 */
export {
  Runtime,
  Ref,
  PyClass,
  WeakRef_ as PyWeakRef,
  SysModule,
  GcModule,
  CtypesModule,
  CApi,
  RefsModule,
  formatExplanation,
  formatAudit,
  BUILDS,
} from './runtime/index.js';
export type {
  Build,
  AllocatorName,
  ArenaAllocatorName,
  Address,
  PyInput,
  PyValue,
  RuntimeOptions,
  ClassOptions,
  GcCallback,
  GcCallbackInfo,
  CLong,
  PyObjectCast,
  PyObjectType,
  MallocStats,
  SizeClassStats,
  Explanation,
  Holder,
  HolderKind,
  Audit,
  DanglingSlot,
  DanglingRef,
} from './runtime/index.js';
export {
  RefcountError,
  NegativeRefcountError,
  MemoryCorruptionError,
  TraceError,
  ERROR_CODES,
} from './errors.js';
export type { RefcountErrorCode, NegativeRefcountFacts, HistoryEvent, ObjectHistory, Provenance } from './errors.js';
export { bindingPath, packageRoot, BindingNotFoundError } from './binding.js';
export { OBJECT_KINDS, GC_DEBUG_FLAGS, ALLOCATORS, ARENA_ALLOCATORS, MALLOC_STATS_FIELDS } from './schema.js';
export type { ObjectKind, MallocStatsField } from './schema.js';
export {
  snapshot,
  toDot,
  toSvg,
  showRefs,
  showBackrefs,
  showGrowth,
  typeCounts,
  drawScenario,
  COLORS as DRAW_COLORS,
} from './draw/index.js';
export type {
  HeapSnapshot,
  HeapNode,
  HeapEdge,
  HeapRoot,
  GcState,
  Roots,
  SnapshotOptions,
  DotOptions,
  Picture,
  RefsOptions,
  GrowthRow,
  Frame,
  DrawScenarioOptions,
  DrawnScenario,
} from './draw/index.js';
export {
  expectNoLeaks,
  allowLeaks,
  leaksAllowed,
  leakSnapshot,
  heapSnapshot,
  diffSnapshots,
  formatLeakReport,
  isClean,
  LeakError,
} from './leaks.js';
export type { LeakSnapshot, LeakReport, TypeDelta, NoLeaksOptions } from './leaks.js';
export { parseTrace, replayTrace, bisectTrace, formatTraceLine, formatBisect, LIFETIME_ERRORS } from './trace.js';
export type { TraceLine, TraceReceiver, ReplayStep, ReplayOptions, ReplayResult, BisectOptions, BisectResult, Outstanding } from './trace.js';
