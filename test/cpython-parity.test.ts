// Parity with real CPython 3.12.
//
// scripts/cpython/cases.json is a tiny step language interpreted on both sides:
//   * scripts/cpython/gen_fixtures.py runs it on CPython 3.12 and writes fixtures/cpython-3.12.1.json;
//   * this file runs it against refcount-lab's API and compares every check with that fixture.
// The fixture is committed, so the comparison runs where no Python is installed. When a CPython
// 3.12 interpreter is found (test/helpers/python.ts) the script is re-run and its output must
// equal the committed fixture, so a stale fixture cannot go unnoticed.
//
// Regenerate the fixture after editing cases.json:
//   PYENV_VERSION=3.12.1 python3 scripts/cpython/gen_fixtures.py
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { Runtime } from '../lib/index.js';
import {
  CASES_PATH,
  FIXTURE_PATH,
  cpythonSearchAttempts,
  findCPython312,
  parseFixture,
  runGenFixtures,
  type FixtureCheck,
} from './helpers/python.js';

type Rt = ReturnType<typeof Runtime.create>;
type Ref = ReturnType<Rt['int']>;
type ClassHandle = ReturnType<Rt['defineClass']>;

const BUILD_NAMES = ['release', 'debug', 'nodealloc'] as const;
type BuildName = (typeof BUILD_NAMES)[number];

const REGEN_HINT = 'regenerate it: PYENV_VERSION=3.12.1 python3 scripts/cpython/gen_fixtures.py';

// ---------------------------------------------------------------------------------------------
// cases.json
// ---------------------------------------------------------------------------------------------

interface Case {
  readonly name: string;
  readonly description: string;
  readonly steps: readonly (readonly unknown[])[];
}

function loadCases(): Case[] {
  const doc: unknown = JSON.parse(readFileSync(CASES_PATH, 'utf8'));
  const list: unknown =
    typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as { cases?: unknown }).cases : doc;
  if (!Array.isArray(list)) throw new Error(`${CASES_PATH}: expected a "cases" array`);
  return list.map((c: unknown, i): Case => {
    const o = c as { name?: unknown; description?: unknown; steps?: unknown } | null;
    if (
      o === null ||
      typeof o.name !== 'string' ||
      typeof o.description !== 'string' ||
      !Array.isArray(o.steps) ||
      !o.steps.every((s: unknown) => Array.isArray(s))
    ) {
      throw new Error(`${CASES_PATH}: case #${i} must be {name, description, steps: [[op, ...], ...]}`);
    }
    return { name: o.name, description: o.description, steps: o.steps as unknown[][] };
  });
}

function loadFixture() {
  return parseFixture(JSON.parse(readFileSync(FIXTURE_PATH, 'utf8')) as unknown, FIXTURE_PATH);
}

const CASES = loadCases();
const FIXTURE = loadFixture();

// ---------------------------------------------------------------------------------------------
// The interpreter (the TypeScript twin of gen_fixtures.py's Interpreter)
// ---------------------------------------------------------------------------------------------

/** A measurement as recorded by the interpreter; `builds` is undefined = every build. */
interface Measured {
  readonly label: string;
  readonly kind: FixtureCheck['kind'];
  readonly value: number;
  readonly base?: string;
  readonly builds?: readonly BuildName[];
}

class CaseError extends Error {}

function num(v: number | bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new CaseError(`not a safe integer: ${String(v)}`);
  return n;
}

/** ob_refcnt read two ways: Ref.refcnt and ctypes.c_long.from_address(id). They must agree. */
function rawRefcnt(rt: Rt, ref: Ref, what: string): number {
  const viaRef = num(ref.refcnt);
  const viaCtypes = num(rt.ctypes.c_long.from_address(ref.id).value);
  if (viaRef !== viaCtypes) {
    throw new CaseError(`${what}: Ref.refcnt=${viaRef} but ctypes.c_long.from_address(id).value=${viaCtypes}`);
  }
  return viaRef;
}

function runCase(rt: Rt, c: Case): Measured[] {
  const env = new Map<string, Ref>();
  const classes = new Map<string, ClassHandle>();
  const marks = new Map<string, { name: string; id: unknown; raw: number }>();
  const labels = new Set<string>();
  const measured: Measured[] = [];
  let index = -1;
  let step: readonly unknown[] = [];

  const fail = (msg: string): never => {
    throw new CaseError(`case ${c.name}, step ${index} ${JSON.stringify(step)}: ${msg}`);
  };
  const arg = (i: number): unknown => {
    if (i >= step.length) fail(`missing argument ${i}`);
    return step[i];
  };
  const str = (i: number): string => {
    const v = arg(i);
    return typeof v === 'string' ? v : fail(`argument ${i} must be a string`);
  };
  const int = (i: number): number => {
    const v = arg(i);
    return typeof v === 'number' && Number.isSafeInteger(v) ? v : fail(`argument ${i} must be an integer`);
  };
  const names = (i: number): string[] => {
    const v = arg(i);
    if (!Array.isArray(v) || !v.every((n: unknown) => typeof n === 'string')) {
      return fail(`argument ${i} must be an array of names`);
    }
    return v as string[];
  };
  const get = (name: string): Ref => env.get(name) ?? fail(`name ${JSON.stringify(name)} is not bound`);
  /** NAME = obj: takes ownership of `obj`; the previous binding (if any) is released afterwards. */
  const bind = (name: string, obj: Ref): void => {
    const old = env.get(name);
    env.set(name, obj);
    old?.release();
  };
  const newLabel = (label: string): string => {
    if (labels.has(label)) fail(`duplicate label ${JSON.stringify(label)}`);
    labels.add(label);
    return label;
  };
  const isClass = (name: string): boolean => {
    const h = classes.get(name);
    return h !== undefined && env.get(name)?.id === h.ref.id;
  };

  for (const [i, s] of c.steps.entries()) {
    index = i;
    step = s;
    let builds: readonly BuildName[] | undefined;
    const last = step[step.length - 1];
    if (step.length > 1 && typeof last === 'object' && last !== null && !Array.isArray(last)) {
      const b = (last as { builds?: unknown }).builds;
      if (!Array.isArray(b) || !b.every((x: unknown) => BUILD_NAMES.includes(x as BuildName))) {
        fail(`options must be {"builds": [${BUILD_NAMES.join(', ')}...]}`);
      }
      builds = b as BuildName[];
      step = step.slice(0, -1);
    }
    const op = str(0);
    const arity = (min: number, max = min): void => {
      if (step.length - 1 < min || step.length - 1 > max) fail(`${op} takes ${min}..${max} arguments`);
    };
    if (builds !== undefined && op !== 'check' && op !== 'getrefcount' && op !== 'delta') {
      fail('an options object is only allowed on check/getrefcount/delta');
    }

    switch (op) {
      // -- object creation --------------------------------------------------------------------
      case 'int':
        arity(2);
        bind(str(1), rt.int(int(2)));
        break;
      case 'float': {
        arity(2);
        const v = arg(2);
        bind(str(1), rt.float(typeof v === 'number' ? v : fail('float value must be a number')));
        break;
      }
      case 'str':
        arity(2);
        bind(str(1), rt.str(str(2)));
        break;
      case 'none':
        arity(1);
        bind(str(1), rt.None);
        break;
      case 'bool': {
        arity(2);
        const v = arg(2);
        if (typeof v !== 'boolean') fail('bool value must be true/false');
        bind(str(1), v === true ? rt.True : rt.False);
        break;
      }
      case 'list':
        arity(2);
        bind(str(1), rt.list(names(2).map(get)));
        break;
      case 'tuple':
        arity(2);
        bind(str(1), rt.tuple(names(2).map(get)));
        break;
      case 'dict': {
        arity(2);
        const pairs = arg(2);
        if (
          !Array.isArray(pairs) ||
          !pairs.every(
            (p: unknown) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string',
          )
        ) {
          fail('dict pairs must be [["key", "valueName"], ...]');
        }
        bind(str(1), rt.dict((pairs as [string, string][]).map(([k, v]): [string, Ref] => [k, get(v)])));
        break;
      }
      case 'class': {
        arity(1);
        const name = str(1);
        const handle = rt.defineClass(name);
        classes.set(name, handle);
        // The env binding owns its own reference, like the Python name `A` (handle.ref is borrowed).
        bind(name, handle.ref.dup());
        break;
      }
      case 'instance': {
        arity(2);
        const cls = str(2);
        get(cls);
        const handle = classes.get(cls);
        if (handle === undefined || !isClass(cls)) fail(`${JSON.stringify(cls)} is not a class`);
        bind(str(1), (handle as ClassHandle).new());
        break;
      }
      // -- names ------------------------------------------------------------------------------
      case 'bind':
        arity(2);
        bind(str(1), get(str(2)).dup());
        break;
      case 'del': {
        arity(1);
        const name = str(1);
        const ref = get(name);
        env.delete(name);
        ref.release();
        break;
      }
      // -- lists ------------------------------------------------------------------------------
      case 'append':
        arity(2);
        get(str(1)).append(get(str(2)));
        break;
      case 'pop':
        arity(1, 2);
        (step.length === 3 ? get(str(1)).pop(int(2)) : get(str(1)).pop()).release();
        break;
      case 'insert':
        arity(3);
        get(str(1)).insert(int(2), get(str(3)));
        break;
      case 'setitem':
        arity(3);
        get(str(1)).setitem(int(2), get(str(3)));
        break;
      case 'getitem': {
        arity(3);
        const key = arg(3);
        if (typeof key !== 'string' && !(typeof key === 'number' && Number.isSafeInteger(key))) {
          fail('index/key must be an integer or a string');
        }
        bind(str(1), get(str(2)).getitem(key as number | string));
        break;
      }
      case 'repeat': {
        arity(3);
        const n = int(3);
        if (n < 0) fail('repeat count must be >= 0');
        bind(str(1), get(str(2)).repeat(n));
        break;
      }
      case 'clear':
        arity(1);
        get(str(1)).clear();
        break;
      // -- dicts ------------------------------------------------------------------------------
      case 'dset':
        arity(3);
        get(str(1)).setitem(str(2), get(str(3)));
        break;
      case 'ddel':
        arity(2);
        get(str(1)).delitem(str(2));
        break;
      case 'dpop':
        arity(2);
        get(str(1)).pop(str(2)).release();
        break;
      case 'dcopy':
        arity(2);
        bind(str(1), get(str(2)).copy());
        break;
      // -- attributes -------------------------------------------------------------------------
      case 'setattr':
        arity(3);
        get(str(1)).setattr(str(2), get(str(3)));
        break;
      case 'delattr':
        arity(2);
        get(str(1)).delattr(str(2));
        break;
      case 'getattr':
        arity(3);
        bind(str(1), get(str(2)).getattr(str(3)));
        break;
      // -- measurements -----------------------------------------------------------------------
      case 'check':
      case 'getrefcount': {
        arity(2);
        const name = str(1);
        if (isClass(name)) fail(`${op} on a class: use mark + delta`);
        const ref = get(name);
        const label = newLabel(str(2));
        const value = op === 'check' ? rawRefcnt(rt, ref, label) : num(rt.sys.getrefcount(ref));
        measured.push({ label, kind: op === 'check' ? 'raw' : 'getrefcount', value, ...(builds ? { builds } : {}) });
        break;
      }
      case 'mark': {
        arity(2);
        const name = str(1);
        const ref = get(name);
        marks.set(newLabel(str(2)), { name, id: ref.id, raw: rawRefcnt(rt, ref, str(2)) });
        break;
      }
      case 'delta': {
        arity(3);
        const name = str(1);
        const ref = get(name);
        const label = newLabel(str(2));
        const base = str(3);
        const m = marks.get(base) ?? fail(`delta base ${JSON.stringify(base)} is not an earlier mark`);
        if (m.name !== name || m.id !== ref.id) fail(`mark ${JSON.stringify(base)} was taken on another object`);
        const value = rawRefcnt(rt, ref, label) - m.raw;
        measured.push({ label, kind: 'delta', value, base, ...(builds ? { builds } : {}) });
        break;
      }
      default:
        fail(`unknown op ${JSON.stringify(op)}`);
    }
  }

  // End of the case: drop the remaining bindings, newest first (Python would clear `env`).
  for (const ref of [...env.values()].reverse()) ref.release();
  env.clear();
  return measured;
}

function appliesTo(m: Measured, build: BuildName): boolean {
  return m.builds === undefined || m.builds.includes(build);
}

/** The comparable part of a check: what the fixture records. */
function shape(c: { label: string; kind: string; value: number; base?: string | undefined }) {
  return c.base === undefined
    ? { label: c.label, kind: c.kind, value: c.value }
    : { label: c.label, kind: c.kind, value: c.value, base: c.base };
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('CPython 3.12 parity: fixture file', () => {
  it('was generated from CPython 3.12 by gen_fixtures.py', () => {
    expect(FIXTURE.python).toMatch(/^3\.12\.\d+$/);
    expect(FIXTURE.generated_by).toBe('scripts/cpython/gen_fixtures.py');
  });

  it(`has exactly the cases and check labels of cases.json (if not, ${REGEN_HINT})`, () => {
    const fromCases: Record<string, string[]> = {};
    for (const c of CASES) {
      fromCases[c.name] = c.steps
        .filter((s) => s[0] === 'check' || s[0] === 'getrefcount' || s[0] === 'delta')
        .map((s) => `${s[0] === 'check' ? 'raw' : String(s[0])}: ${String(s[2])}`);
    }
    const fromFixture: Record<string, string[]> = {};
    for (const [name, fc] of Object.entries(FIXTURE.cases)) {
      fromFixture[name] = fc.checks.map((ch) => `${ch.kind}: ${ch.label}`);
    }
    expect(fromFixture).toEqual(fromCases);
  });

  it('covers the behaviours the suite promises', () => {
    const names = CASES.map((c) => c.name);
    for (const required of [
      'fresh_objects',
      'immortal_singletons',
      'immortal_small_ints',
      'boundary_ints_mortal',
      'immortal_empty_and_char',
      'getrefcount_plus_one',
      'list_append_pop',
      'list_insert_setitem',
      'list_repetition',
      'list_clear',
      'dict_set_overwrite_del',
      'dict_copy',
      'tuple_packing',
      'attribute_set_overwrite_del',
      'instance_dealloc_releases_attributes',
      'class_refcount_per_instance',
    ]) {
      expect(names).toContain(required);
    }
  });
});

describe.each(BUILD_NAMES)('CPython 3.12 parity: %s build matches fixtures/cpython-3.12.1.json', (build) => {
  it.each(CASES)('$name', (c) => {
    const expectedChecks = FIXTURE.cases[c.name]?.checks;
    if (expectedChecks === undefined) throw new Error(`fixture has no case ${c.name}: ${REGEN_HINT}`);

    const rt = Runtime.create({ build });
    let measured: Measured[];
    try {
      measured = runCase(rt, c);
    } finally {
      rt.close();
    }

    // The labels must line up one to one (same order) before values can be compared.
    expect(
      measured.map((m) => `${m.kind}: ${m.label}`),
      `cases.json and the fixture disagree on the checks of ${c.name}: ${REGEN_HINT}`,
    ).toEqual(expectedChecks.map((e) => `${e.kind}: ${e.label}`));

    const applicable = measured.map((m) => appliesTo(m, build));
    const actual = measured.filter((_, i) => applicable[i] === true).map(shape);
    const expected = expectedChecks.filter((_, i) => applicable[i] === true).map(shape);
    expect(actual.length, `${c.name} compares nothing in the ${build} build`).toBeGreaterThan(0);
    expect(actual, `${c.name} (${c.description}) [${build}]`).toEqual(expected);
  });
});

const py = findCPython312();
const explicitPython = process.env['REFCOUNT_LAB_PYTHON'];

describe('CPython 3.12 parity: live interpreter', () => {
  it.skipIf(!py)(
    py
      ? `live CPython ${py.version} comparison (${py.description}): gen_fixtures.py --stdout equals the committed fixture`
      : 'live CPython 3.12 comparison (skipped: no python3.12 found)',
    () => {
      if (!py) throw new Error('unreachable: skipped without an interpreter');
      const live = runGenFixtures(py);
      expect(live.generated_by).toBe(FIXTURE.generated_by);
      expect(live.python).toMatch(/^3\.12\.\d+$/);
      // Compare the numbers; the patch version may differ from the fixture's (3.12.1).
      expect(live.cases, `live CPython ${live.python} disagrees with fixtures/cpython-3.12.1.json: ${REGEN_HINT}`).toEqual(
        FIXTURE.cases,
      );
    },
    120_000,
  );

  // An explicitly configured interpreter that does not work is an error, not a reason to skip.
  it.skipIf(explicitPython === undefined || explicitPython === '')(
    'REFCOUNT_LAB_PYTHON points to a working CPython 3.12',
    () => {
      const why = cpythonSearchAttempts()
        .map((a) => `${a.description}: ${a.result}`)
        .join('\n');
      expect(py?.source, why).toBe('REFCOUNT_LAB_PYTHON');
    },
  );
});
