/**
 * The talk's experiments, line by line. The Python originals are lib/scenarios/python/exp_*.py;
 * each TypeScript line below stands for the Python line beside it.
 * `bind('a', A())` is `a = A()` (the binding is recorded so pictures can draw the name),
 * `del(a)` is `del a`, `call(f)` runs a Python function whose names die at return; temporaries
 * that have no name in Python are `using` locals.
 */
import { defineScenario, type ScenarioContext } from './define.js';

const ATTR_TEXT = 'This is kakoyto text';

/** `class A: def __init__(self): self.my_obj_attr = "This is kakoyto text"` */
function classA({ py }: ScenarioContext) {
  const A = py.defineClass('A');
  return () => A.new({ my_obj_attr: ATTR_TEXT });
}

function exp0Body(ctx: ScenarioContext, gcDisable: boolean): void {
  const { rt, py } = ctx;
  const { print, f, bind, del } = py;
  const ref = rt.ctypes.c_long.from_address;
  const A = classA(ctx);

  if (gcDisable) rt.gc.disable(); //                          gc.disable()

  const a = bind('a', A()); //                                a = A()
  const a_id = bind('a_id', a.id); //                         a_id = id(a)

  let ref_a = ref(a_id).value; //                             ref_a = ref(a_id).value
  print(f`1 - obj a. Obj id ${{ a_id }}`); //                 print(f"1 - obj a. Obj id {a_id = }")
  print(f`2 - obj a. Ref count ${{ ref_a }}`); //             print(f"2 - obj a. Ref count {ref_a = }")
  print('*'.repeat(10)); //                                   print("*" * 10)

  const b = bind('b', a.dup()); //                            b = a

  ref_a = ref(a_id).value;
  print(f`3 - obj a. Ref count ${{ ref_a }}`);
  print('*'.repeat(10));

  del(b); //                                                  del b
  ref_a = ref(a_id).value;
  print(f`4 - obj a. Ref count ${{ ref_a }}`);
  print('*'.repeat(10));

  ref_a = ref(a_id).value;
  print(f`5 - a. Ref count ${{ ref_a }}`);
  const raw_id_value = bind('raw_id_value', rt.ctypes.cast(a_id, rt.ctypes.py_object).value); // = ctypes.cast(a_id, ...).value
  print(f`Obj a. Value from id ${{ raw_id_value }}`);
  {
    using attr = raw_id_value.getattr('my_obj_attr'); //     print(raw_id_value.my_obj_attr)
    print(attr);
  }
  print('*'.repeat(10));

  ref_a = ref(a_id).value;
  print(f`6 - a. Ref count ${{ ref_a }}`);
  print('*'.repeat(10));

  del(raw_id_value); //                                       del raw_id_value
  del(a); //                                                  del a
  ref_a = ref(a_id).value;
  print(f`7 - a. Ref count ${{ ref_a }}`);
  print('*'.repeat(10));
}

export const exp_0 = defineScenario({
  name: 'exp_0',
  title: 'exp_0: a, b = a, del b, cast(id).value, del a, then read the freed count',
  python: { file: 'exp_0.py' },
  run: (ctx) => exp0Body(ctx, false),
});

export const exp_0_gc_disabled = defineScenario({
  name: 'exp_0_gc_disabled',
  title: 'exp_0 with gc.disable() first',
  python: { file: 'exp_0.py', args: ['--gc-disable'] },
  run: (ctx) => exp0Body(ctx, true),
});

export const exp_1 = defineScenario({
  name: 'exp_1',
  title: 'exp_1: del a, then cast(a_id, py_object).value on the freed address',
  python: { file: 'exp_1.py' },
  run(ctx) {
    const { rt, py } = ctx;
    const { print, f, bind, del } = py;
    const ref = rt.ctypes.c_long.from_address;
    const A = classA(ctx);

    const a = bind('a', A());
    const a_id = bind('a_id', a.id);

    let ref_a = ref(a_id).value;
    print(f`1 - obj a. Obj id ${{ a_id }}`);
    print(f`2 - obj a. Ref count ${{ ref_a }}`);
    print('*'.repeat(10));

    del(a); //                                                del a
    ref_a = ref(a_id).value;
    print(f`3 - a. Ref count ${{ ref_a }}`);
    const raw_id_value = bind('raw_id_value', rt.ctypes.cast(a_id, rt.ctypes.py_object).value);
    print(f`Obj a. Value from id ${{ raw_id_value }}`);
    using attr = raw_id_value.getattr('my_obj_attr');
    print(attr);
    print('*'.repeat(10));
  },
});

/** exp_2's function; `fixed` returns the id, the slide's version returns ref_a (the count). */
function exp2Body(ctx: ScenarioContext, fixed: boolean): void {
  const { rt, py } = ctx;
  const { print, f, bind, call } = py;
  const ref = rt.ctypes.c_long.from_address;
  const A = classA(ctx);

  const exp_2 = (): number => {
    using a = bind('a', A()); //                              a = A()  (dies at return)
    const a_id = bind('a_id', a.id);

    const ref_a = ref(a_id).value as number;
    print(f`1 - obj a. Obj id ${{ a_id }}`);
    print(f`2 - obj a. Ref count ${{ ref_a }}`);
    print('*'.repeat(10));
    return fixed ? a_id : ref_a; //                           return ref_a   (the slide) / return a_id
  };

  const a_id = bind('a_id', call(exp_2)); //                  a_id = exp_2()
  const ref_a = ref(a_id).value;
  print(f`3 - a. Ref count ${{ ref_a }}`);
  const raw_id_value = bind('raw_id_value', rt.ctypes.cast(a_id, rt.ctypes.py_object).value);
  print(f`Obj a. Value from id ${{ raw_id_value }}`);
  using attr = raw_id_value.getattr('my_obj_attr');
  print(attr);
  print('*'.repeat(10));
}

export const exp_2 = defineScenario({
  name: 'exp_2',
  title: 'exp_2 as on the slide: returns ref_a (1), so the caller reads address 1',
  python: { file: 'exp_2.py' },
  run: (ctx) => exp2Body(ctx, false),
});

export const exp_2_fixed = defineScenario({
  name: 'exp_2_fixed',
  title: 'exp_2 fixed: returns the id of the local that died at return',
  python: { file: 'exp_2_fixed.py' },
  run: (ctx) => exp2Body(ctx, true),
});

export const exp_3 = defineScenario({
  name: 'exp_3',
  title: 'exp_3: _exp_3 returns the id of its dead local; cast(...).value on it',
  python: { file: 'exp_3.py' },
  run(ctx) {
    const { rt, py } = ctx;
    const { print, f, bind, del, call } = py;
    const ref = rt.ctypes.c_long.from_address;
    const A = classA(ctx);

    const _exp_3 = (): number => {
      using a = bind('a', A());
      const a_id = bind('a_id', a.id);

      let ref_a = ref(a_id).value;
      print(f`1 - obj a. Ref count ${{ ref_a }}`);
      const b = bind('b', a.dup()); //                        b = a
      ref_a = ref(a_id).value;
      print(f`2 - obj a. Ref count ${{ ref_a }}`);
      del(b); //                                              del b
      ref_a = ref(a_id).value;
      print(f`3 - obj a. Ref count ${{ ref_a }}`);
      print('*'.repeat(10));
      return a_id;
    };

    const a_id = bind('a_id', call(_exp_3));
    const ref_a = ref(a_id).value;
    print(f`4 - obj a. Ref count ${{ ref_a }}`);
    const raw_id_value = bind('raw_id_value', rt.ctypes.cast(a_id, rt.ctypes.py_object).value);
    print(f`Obj a. Value from id ${{ raw_id_value }}`);
    using attr = raw_id_value.getattr('my_obj_attr');
    print(attr);
    print('*'.repeat(10));
  },
});

function exp5Body(ctx: ScenarioContext, collect: boolean): void {
  const { rt, py } = ctx;
  const { print, f, bind, del, call } = py;
  const ref = rt.ctypes.c_long.from_address;

  // class Node: __init__(self, val, next=None); __str__: f"Node val is {self.val}"
  const NodeClass = py.defineClass('Node', {
    __str__(self) {
      using val = self.getattr('val');
      return `Node val is ${py.str(val)}`;
    },
  });
  const Node = (val: number, next: PyInputRef = null) => NodeClass.new({ val, next });

  const _exp_5 = (): number => {
    const root = bind('root', Node(0)); //                    root = Node(val=0)

    const root_id = bind('root_id', root.id);
    let root_ref_count = ref(root_id).value;
    print('1', f`root ref count ${{ root_ref_count }}`);

    {
      using n2 = Node(2, root); //                            root.next = Node(val=1, next=Node(val=2, next=root))
      using n1 = Node(1, n2);
      root.setattr('next', n1);
    }
    root_ref_count = ref(root_id).value;
    print('2', f`root ref count ${{ root_ref_count }}`);

    del(root); //                                             del root
    root_ref_count = ref(root_id).value;
    print('3', f`root ref count ${{ root_ref_count }}`);
    {
      using v = rt.ctypes.cast(root_id, rt.ctypes.py_object).value;
      print('4.0 -> ', v);
    }
    {
      using v = rt.ctypes.cast(root_id, rt.ctypes.py_object).value;
      using next = v.getattr('next');
      print('4.1 -> ', next);
    }
    print('*'.repeat(10));

    if (collect) rt.gc.collect(); //                          gc.collect()

    return root_id;
  };

  const root_id = bind('root_id', call(_exp_5)); //          root_id = _exp_5()
  {
    using v = rt.ctypes.cast(root_id, rt.ctypes.py_object).value;
    print('5 -> ', v);
  }
  print('*'.repeat(10));
}

type PyInputRef = import('../runtime/index.js').Ref | null;

export const exp_5 = defineScenario({
  name: 'exp_5',
  title: 'exp_5: a 3-node cycle, del root, the cycle keeps it alive',
  python: { file: 'exp_5.py' },
  run: (ctx) => exp5Body(ctx, false),
});

export const exp_5_gc_collect = defineScenario({
  name: 'exp_5_gc_collect',
  title: 'exp_5 with gc.collect() before return: the collector frees the cycle',
  python: { file: 'exp_5.py', args: ['--gc-collect'] },
  run: (ctx) => exp5Body(ctx, true),
});

export const TALK_SCENARIOS = [exp_0, exp_0_gc_disabled, exp_1, exp_2, exp_2_fixed, exp_3, exp_5, exp_5_gc_collect];
