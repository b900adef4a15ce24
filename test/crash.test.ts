// Unguarded mode is raw C: these cases really crash, so each runs in a child process and the
// test asserts the signal and what was printed (CPython's texts).
import { describe, expect, it } from 'vitest';
import { runChild } from './helpers/child.js';

// Under the sanitizers (npm run test:asan) a crash is ASan's report and exit 1, not the signal
// these cases assert: they are meant to crash, so they step aside there.
const crashIt = it.skipIf(!!process.env['RCL_SANITIZER']);

describe('unguarded crashes (child processes)', () => {
  crashIt('reading an unmapped address segfaults (SIGSEGV), like ctypes on a bad address', () => {
    const r = runChild(`
      const rt = lab.Runtime.create({ guard: false });
      console.log('before');
      console.log(rt.ctypes.c_long.from_address(1).value);
      console.log('after');
    `);
    expect(r.signal).toBe('SIGSEGV');
    expect(r.stdout).toBe('before\n');
  });

  crashIt('the debug build aborts on a negative refcount with _Py_NegativeRefcount\'s text', () => {
    const r = runChild(`
      const rt = lab.Runtime.create({ build: 'debug', guard: false });
      const x = rt.list([1, 2, 3]);
      rt.capi.Py_SET_REFCNT(x.id, 0);
      console.log('addr ' + x.id.toString(16));
      rt.capi.Py_DecRef(x.id);
      console.log('not reached');
    `);
    expect(r.signal).toBe('SIGABRT');
    const addr = /addr ([0-9a-f]+)/.exec(r.stdout)?.[1];
    expect(addr).toBeDefined();
    const lines = r.stderr.split('\n');
    expect(lines[0]).toMatch(/^.+:\d+: _Py_NegativeRefcount: Assertion failed: object has negative ref count$/);
    expect(lines.slice(1, 9)).toEqual([
      'Enable tracemalloc to get the memory block allocation traceback',
      '',
      `object address  : 0x${addr}`,
      'object refcount : 0',
      expect.stringMatching(/^object type     : 0x[0-9a-f]+$/),
      'object type name: list',
      `object repr     : <refcnt 0 at 0x${addr}>`,
      '',
    ]);
    expect(r.stderr).toContain('\nFatal Python error: _PyObject_AssertFailed: _PyObject_AssertFailed\nPython runtime state: initialized\n');
    expect(r.stdout).not.toContain('not reached');
  });

  crashIt('in a tracking runtime the debug build\'s fatal negative refcount also says which call took the count down', () => {
    const r = runChild(`
      const rt = lab.Runtime.create({ build: 'debug', guard: false, track: true });
      const x = rt.list([1, 2, 3]);
      rt.capi.Py_SET_REFCNT(x.id, 0);
      rt.capi.Py_DecRef(x.id);
    `);
    expect(r.signal).toBe('SIGABRT');
    // CPython's text first, unchanged; then the history, AddressSanitizer-shaped
    expect(r.stderr).toMatch(/^.+:\d+: _Py_NegativeRefcount: Assertion failed: object has negative ref count\n/);
    const tail = r.stderr.slice(r.stderr.indexOf('ERROR: refcount-lab:')).split('\n');
    expect(tail[0]).toMatch(/^ERROR: refcount-lab: negative-refcount on a 'list' object at 0x[0-9a-f]+$/);
    // (a -e script's frames are named [eval1], under the working directory)
    expect(tail[1]).toMatch(/^ {4}#0 capi\.Py_DecRef at \S*\[eval1\]:6:15$/);
    expect(tail[2]).toBe('previously allocated here:');
    expect(tail[3]).toMatch(/^ {4}#0 rt\.list at \S*\[eval1\]:4:20$/);
    expect(tail[4]).toBe('the write that had no owner (refcount 1 -> 0):');
    expect(tail[5]).toMatch(/^ {4}#0 capi\.Py_SET_REFCNT at \S*\[eval1\]:5:15$/);
  });

  it('the release build does not check: a decref from 0 goes to -1 and the process lives', () => {
    const r = runChild(`
      const rt = lab.Runtime.create({ build: 'release', guard: false });
      const x = rt.float(1.5);
      rt.capi.Py_SET_REFCNT(x.id, 0);
      rt.capi.Py_DecRef(x.id);
      console.log(String(rt.capi.Py_REFCNT(x.id)));
    `);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('-1\n');
  });

  it('a Ref dropped by V8 while still owning its reference is reported as a leak', () => {
    const r = runChild(
      `
      const rt = lab.Runtime.create();
      (() => { rt.str('leaked string'); })();
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 50));
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 50));
    `,
      ['--expose-gc'],
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('REFCOUNT_LAB_LEAKED_REF');
    expect(r.stderr).toMatch(/a Ref to a 'str' object at 0x[0-9a-f]+ was garbage-collected by V8/);
  });

  it('a Ref lost in the task that made it, after thousands of released ones, is still reported', () => {
    // The young Refs wait in a bounded list until the task ends; when it fills, the released ones
    // are dropped from it and the owning ones kept: the lost one must survive that.
    const r = runChild(
      `
      const rt = lab.Runtime.create();
      let lost = rt.str('lost in a busy task');
      const n = rt.int(70000);
      for (let i = 0; i < 20000; i++) n.dup().release();
      lost = null;
      globalThis.gc();
      for (let i = 0; i < 20000; i++) n.dup().release();
      n.release();
      await new Promise((res) => setTimeout(res, 50));
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 50));
    `,
      ['--expose-gc'],
    );
    expect(r.status).toBe(0);
    expect(r.stderr.match(/REFCOUNT_LAB_LEAKED_REF/g)?.length).toBe(1);
    expect(r.stderr).toMatch(/a Ref to a 'str' object at 0x[0-9a-f]+ was garbage-collected by V8/);
  });

  it('a runtime created with leakWarnings: false keeps no books: a lost Ref leaks silently, as in C', () => {
    const r = runChild(
      `
      const rt = lab.Runtime.create({ leakWarnings: false });
      const s = rt.str('leaked silently');
      const id = s.id;
      (() => { rt.str('leaked string'); s.dup(); })();
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 50));
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 50));
      console.log(String(rt.ctypes.c_long.from_address(id).value));
    `,
      ['--expose-gc'],
    );
    expect(r.status).toBe(0);
    expect(r.stderr).not.toContain('REFCOUNT_LAB_LEAKED_REF');
    expect(r.stdout).toBe('2\n');
  });

  it('in a tracking runtime the leak warning names the line that created the lost Ref', () => {
    const r = runChild(
      `
      const rt = lab.Runtime.create({ track: true });
      (() => { rt.str('leaked string'); })();
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 50));
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 50));
    `,
      ['--expose-gc'],
    );
    expect(r.status).toBe(0);
    // the child's source: the import (line 1), the template's blank first line, `const rt`, then
    // line 4, where rt.str(...) starts at column 19
    expect(r.stderr).toMatch(/a Ref to a 'str' object at 0x[0-9a-f]+ created at \S*\[eval1\]:4:19 was garbage-collected by V8/);
  });

  it('inherited setters that free objects or close the runtime in the middle of value() / gc.getReferents() (guarded)', () => {
    // Found this session: value() and the gc's object lists held borrowed pointers while setting
    // JS properties, and a setter inherited from Object.prototype / Array.prototype could free
    // those objects or close the runtime (SIGSEGV).
    const r = runChild(`
      const rt = lab.Runtime.create({ build: 'debug' });
      const A = rt.defineClass('A');
      const a = A.new({ x: 1, y: 'a string that will be freed' });
      Object.defineProperty(Object.prototype, 'x', { configurable: true, set() {
        a.delattr('y');
        for (let i = 0; i < 64; i++) rt.capi.writeBytes(rt.capi.PyObject_Malloc(72), Buffer.alloc(72, 0x41));
      } });
      console.log(JSON.stringify(a.value()));
      delete Object.prototype.x;
      const l = rt.list(['string number 0', 'string number 1', 'string number 2']);
      // one shot per arming: the first array element set after arming is the native call's
      // (lib's own code sets arrays too, outside any native call, where close() is allowed)
      let armed = false;
      Object.defineProperty(Array.prototype, '0', { configurable: true, set(v) {
        Object.defineProperty(this, '0', { value: v, writable: true, enumerable: true, configurable: true });
        if (!armed) return;
        armed = false;
        l.clear();
        try { rt.close(); console.log('closed'); } catch (e) { console.log('close:', e.code); }
      } });
      armed = true;
      const items = rt.gc.getReferents(l);
      const nested = rt.list([rt.list([1])]);
      armed = true;
      console.log(JSON.stringify(nested.value()));
      delete Array.prototype[0];
      console.log(items.map((i) => i.value()).join('|'));
      for (const i of items) i.release();
      nested.release();
      console.log(rt.closed, l.len(), a.getattr('x').value());
    `);
    expect([r.status, r.signal, r.stderr]).toEqual([0, null, '']);
    expect(r.stdout).toBe(
      '{"y":"a string that will be freed"}\n' +
        'close: ERR_RUNTIME_BUSY\n' +
        'close: ERR_RUNTIME_BUSY\n' +
        '[[1]]\n' +
        'string number 2|string number 1|string number 0\n' + // list_traverse visits the items from the end
        'false 0 1\n',
    );
  });

  it('close() from an Error.prototype setter while a native call is making its error is refused', () => {
    // Found this session: making a RefcountError runs JS (a setter on Error.prototype too) while
    // the failing native call is on the stack; closing the runtime there freed it under that
    // call (SIGSEGV in callClassPacked's cleanup).
    const r = runChild(`
      const rt = lab.Runtime.create();
      const A = rt.defineClass('A');
      const dead = rt.str('soon freed');
      rt.capi.Py_DECREF(dead.id);
      let armed = true;
      Object.defineProperty(Error.prototype, 'name', { configurable: true, get() { return 'Error'; },
        set(v) {
          if (armed) { armed = false; console.log('busy', rt.busy); rt.close(); }
          Object.defineProperty(this, 'name', { value: v, writable: true, configurable: true });
        } });
      try { A.new({ x: dead }); } catch (e) { console.log('threw', e.code); }
      console.log('closed', rt.closed);
    `);
    expect([r.status, r.signal, r.stdout]).toEqual([0, null, 'busy true\nthrew ERR_RUNTIME_BUSY\nclosed false\n']);
  });

  it('a stderr sink that throws is reported as an ignored exception, the collection goes on', () => {
    const r = runChild(`
      const rt = lab.Runtime.create({ stderr: () => { throw new Error('sink failed'); } });
      rt.gc.setDebug(rt.gc.DEBUG_STATS);
      console.log(rt.gc.collect());
    `);
    expect([r.status, r.signal, r.stdout]).toEqual([0, null, '0\n']);
    expect(r.stderr).toContain('Exception ignored in: <refcount-lab stderr sink>\nError: sink failed');
    expect(r.stderr).not.toContain('internal callback threw');
  });

  it('a dropped Ref whose object was freed behind its back is a warning, not an uncaught exception (guarded)', () => {
    // Found this session: the leak report read the freed object and threw ERR_USE_AFTER_FREE
    // from the FinalizationRegistry callback, which killed the process at a random GC.
    const r = runChild(
      `
      const rt = lab.Runtime.create();
      (() => { const x = rt.int(123456); rt.capi.Py_DECREF(x.id); })();
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 50));
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 50));
      console.log('survived');
    `,
      ['--expose-gc'],
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('survived\n');
    expect(r.stderr).toContain('REFCOUNT_LAB_DANGLING_REF');
    expect(r.stderr).toMatch(/a Ref to the object at 0x[0-9a-f]+ was garbage-collected by V8 after the object had been deallocated \(ERR_USE_AFTER_FREE\)/);
  });
});
