/**
 * Package-internal access to a runtime's insides: the native function table, the address behind
 * a Ref, wrapping an address, value conversion. draw/, bench/, scenarios, leaks and the tests
 * come through here; the package's `exports` has no subpath for this module and the public
 * classes (Runtime, Ref, PyClass, ...) carry none of it in their published types: the native
 * table sits under a module-private symbol (as fast to load as a plain property), the rest
 * behind private fields reached from the classes' static blocks.
 */
/** @internal */
export { nativeOf, nameSlotOf, writeStderrOf } from './runtime/runtime.js';
/** @internal */
export { addressOf, wrapAddress } from './runtime/ref.js';
/** @internal */
export { withObject, withObjects } from './runtime/convert.js';
