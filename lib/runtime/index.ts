/**
 * The typed API: {@link Runtime} (one interpreter's heap), {@link Ref} (one owned strong
 * reference, like a Python name binding), classes, and the `sys` / `gc` / `ctypes` / `capi`
 * facades, one file each.
 */
export { Runtime, type RuntimeOptions } from './runtime.js';
export { Ref } from './ref.js';
export { PyClass, type ClassOptions } from './class.js';
export type { PyInput, PyValue } from './convert.js';
export { WeakRef_ } from './weakref.js';
export { SysModule, type MallocStats, type SizeClassStats } from './sys.js';
export { GcModule, type GcCallback, type GcCallbackInfo } from './gc.js';
export { CtypesModule, type CLong, type PyObjectCast, type PyObjectType } from './ctypes.js';
export { CApi } from './capi.js';
export { RefsModule, formatExplanation, formatAudit, type Explanation, type Holder, type HolderKind, type Audit, type DanglingSlot, type DanglingRef } from './refs.js';
export { BUILDS } from '../binding.js';
export type { Build, AllocatorName, ArenaAllocatorName, Address } from '../binding.js';
