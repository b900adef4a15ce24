// The valgrind workload (npm run test:valgrind): the talk's first experiment, cycles and
// collections, finalizers, weakrefs, and a seeded random sequence of the fuzzer's operations,
// in all three builds, against dist/. Under valgrind the allocator steps aside (as CPython's
// pymalloc does: RUNNING_ON_VALGRIND), so memcheck sees every block.
import * as lab from '../dist/index.js';

const ops = Number(process.argv[2] ?? 3000);
let seed = 12345;
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};

for (const build of lab.BUILDS) {
  const rt = lab.Runtime.create({ build });
  // exp_0: id, refcount, dup, release, cast, and the use after free caught by the guard
  const A = rt.defineClass('A');
  const a = A.new({ my_obj_attr: 'This is kakoyto text' });
  const id = a.id;
  const b = a.dup();
  b.release();
  const raw = rt.ctypes.cast(id, rt.ctypes.py_object).value;
  raw.getattr('my_obj_attr').release();
  raw.release();
  a.release();
  try {
    rt.ctypes.c_long.from_address(id).value; // pymalloc keeps the block; under valgrind it went back to malloc
  } catch (e) {
    if (e.code !== "ERR_INVALID_ADDRESS") throw e;
  }
  try {
    rt.ctypes.cast(id, rt.ctypes.py_object).value.release();
  } catch (e) {
    if (build === "nodealloc" || !["ERR_USE_AFTER_FREE", "ERR_INVALID_ADDRESS"].includes(e.code)) throw e;
  }
  // random operations on a pool of roots
  const R = rt.defineClass('R', { finalize: (self) => void keep.push(self.dup()) });
  const keep = [];
  const roots = [];
  const pick = () => roots[rnd(roots.length)];
  for (let i = 0; i < ops; i++) {
    const k = roots.length ? rnd(14) : rnd(4);
    try {
      switch (k) {
        case 0: roots.push(rt.list([rnd(1000), 'x'])); break;
        case 1: roots.push((rnd(2) ? A : R).new()); break;
        case 2: roots.push(rt.dict({ k: rnd(10) })); break;
        case 3: roots.push(rt.str('s'.repeat(rnd(600)))); break;
        case 4: roots.push(pick().dup()); break;
        case 5: roots.splice(rnd(roots.length), 1)[0].release(); break;
        case 6: { const l = pick(); if (l.kind === 'list') l.append(pick()); break; }
        case 7: { const o = pick(); if (o.kind === 'instance') o.setattr('a', pick()); break; }
        case 8: { const d = pick(); if (d.kind === 'dict') d.setitem('k' + rnd(4), pick()); break; }
        case 9: { const l = pick(); if (l.kind === 'list' && l.len()) roots.push(l.pop()); break; }
        case 10: rt.gc.collect(rnd(3)); break;
        case 11: { const o = pick(); if (o.kind === 'instance') roots.push(rt.weakref(o).ref); break; }
        case 12: { const l = pick(); if (l.kind === 'list' || l.kind === 'dict') l.clear(); break; }
        case 13: { const o = pick(); rt.capi.Py_INCREF(o.id); rt.capi.Py_DECREF(o.id); break; }
      }
    } catch (e) {
      if (!(e instanceof lab.RefcountError)) throw e;
    }
    roots.push(...keep.splice(0));
  }
  for (const r of roots.splice(0)) r.release();
  rt.gc.collect();
  for (const r of keep.splice(0)) r.release();
  rt.gc.collect();
  const v = rt.capi.validateHeap();
  if (v !== null) throw new Error(`${build}: ${v}`);
  console.log(`${build}: ${ops} operations, ${rt.sys.getallocatedblocks()} blocks left`);
  rt.close();
}
