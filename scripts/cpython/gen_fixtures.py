#!/usr/bin/env python3
"""Generate fixtures/cpython-<version>.json: reference counts measured on real CPython 3.12.

Usage (from the repository root):

    PYENV_VERSION=3.12.1 python3 scripts/cpython/gen_fixtures.py            # writes fixtures/cpython-3.12.1.json
    PYENV_VERSION=3.12.1 python3 scripts/cpython/gen_fixtures.py --stdout   # prints the JSON instead

Options:
    --stdout           print the fixture JSON on stdout instead of writing a file
    --output PATH      write to PATH (default: fixtures/cpython-<X.Y.Z>.json, X.Y.Z = this interpreter)
    --cases PATH       read cases from PATH (default: scripts/cpython/cases.json next to this script)
    --allow-version    run even if this is not CPython 3.12 on a 64-bit build (the output is then
                       NOT a valid 3.12 fixture; for experiments only)

The script interprets the small step language documented in scripts/cpython/cases.json (the same
file test/cpython-parity.test.ts interprets against refcount-lab's API) and records, for every
"check"/"getrefcount"/"delta" step, the number CPython reports.

Accounting. Every name a case binds lives in one dict, `env`, which plays the role of a module's
globals: an env binding is exactly one strong reference, the same as one `Ref` in refcount-lab
(Ref == one owned reference == one Python name binding). The interpreter itself holds NOTHING else
when it reads a count:
  * objects are built fresh at run time (int(str(n)), float(repr(f)), "".join(list(s)), ...), so no
    literal from the parsed cases.json, no code constant and no interned string is involved;
  * each step runs in its own method call, so no local variable, loop variable or comprehension
    variable survives the step;
  * a raw read takes the address first (`addr = id(env[name])`; the temporary produced by
    `env[name]` is released when id() returns) and only then reads ob_refcnt at that address.
So the number reported is the object's ob_refcnt with no correction: a fresh int bound once reads
1, `b = a` makes it 2. The script verifies this accounting on start-up (see `self_test`) and
re-verifies, on every object-creating step, that the new object reads 1 (or is immortal).

"getrefcount" records sys.getrefcount(env[name]), i.e. what `sys.getrefcount(x)` prints in a
program where x is a global: ob_refcnt + 1 for mortal objects (the argument on the eval stack),
and exactly 4294967295 for immortal objects (Py_INCREF does not change an immortal's count).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import sys

EXPECTED_MINOR = (3, 12)
IMMORTAL = 0xFFFFFFFF  # _Py_IMMORTAL_REFCNT on 64-bit CPython 3.12 (UINT_MAX)
BUILDS = ("release", "debug", "nodealloc")
GENERATED_BY = "scripts/cpython/gen_fixtures.py"

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_CASES = os.path.join(HERE, "cases.json")


class CaseError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Reading counts
# ---------------------------------------------------------------------------------------------


def raw_refcnt(env, name):
    """ob_refcnt of env[name]; the only references counted are the ones the case created."""
    addr = id(env[name])  # the temporary env[name] is released before the read below
    return ctypes.c_ssize_t.from_address(addr).value


def getrefcount(env, name):
    """What sys.getrefcount(x) returns for a global x bound to env[name]."""
    return sys.getrefcount(env[name])


def is_immortal(value):
    # CPython 3.12, 64-bit: _Py_IsImmortal(op) is (int32_t)op->ob_refcnt < 0
    return ctypes.c_int32(value & 0xFFFFFFFF).value < 0


# ---------------------------------------------------------------------------------------------
# Fresh objects (never a code constant, never interned, never a literal from the parsed JSON)
# ---------------------------------------------------------------------------------------------


def fresh_int(v):
    # int(str) returns the immortal small-int singleton for -5..256 and a new object otherwise.
    return int(str(v))


def fresh_float(v):
    return float(repr(float(v)))


def fresh_str(s):
    # "" -> the immortal empty-string singleton; one Latin-1 char -> the immortal 1-char singleton
    # (join of a 1-item list returns the item, which list(s) took from the 1-char cache);
    # 2+ chars -> a new, non-interned, mortal str, exactly like a string built at run time.
    return "".join(list(s))


# ---------------------------------------------------------------------------------------------
# The interpreter
# ---------------------------------------------------------------------------------------------


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Interpreter:
    def __init__(self, case):
        self.case = case
        self.name = case["name"]
        self.env = {}
        self.marks = {}  # label -> (name, id, raw)
        self.labels = set()
        self.checks = []
        self.index = -1

    # -- helpers ------------------------------------------------------------------------------

    def fail(self, msg):
        raise CaseError(f"case {self.name!r}, step {self.index}: {msg}")

    def need(self, name):
        if not isinstance(name, str):
            self.fail(f"expected a name, got {name!r}")
        if name not in self.env:
            self.fail(f"name {name!r} is not bound")
        return name

    def new_label(self, label):
        if not isinstance(label, str) or not label:
            self.fail(f"label must be a non-empty string, got {label!r}")
        if label in self.labels:
            self.fail(f"duplicate label {label!r}")
        self.labels.add(label)
        return label

    def bind_fresh(self, name, make):
        if not isinstance(name, str) or not name:
            self.fail(f"binding name must be a non-empty string, got {name!r}")
        self.env[name] = make()
        raw = raw_refcnt(self.env, name)
        if raw != 1 and not is_immortal(raw):
            self.fail(f"new object bound to {name!r} reads {raw}, expected 1 (a hidden reference?)")

    # -- run ------------------------------------------------------------------------------------

    def run(self):
        steps = self.case["steps"]
        if not isinstance(steps, list):
            self.fail("steps must be a list")
        for self.index, step in enumerate(steps):
            if not isinstance(step, list) or not step or not isinstance(step[0], str):
                self.fail(f"a step is a non-empty array starting with an op name, got {step!r}")
            op, args = step[0], step[1:]
            opts = {}
            if args and isinstance(args[-1], dict):
                opts = args.pop()
                if op not in ("check", "getrefcount", "delta"):
                    self.fail(f"options object only allowed on check/getrefcount/delta, not {op!r}")
                for key, val in opts.items():
                    if key != "builds":
                        self.fail(f"unknown option {key!r}")
                    if not isinstance(val, list) or not val or any(b not in BUILDS for b in val):
                        self.fail(f"builds must be a non-empty subset of {list(BUILDS)}, got {val!r}")
            handler = getattr(self, "op_" + op, None)
            if handler is None:
                self.fail(f"unknown op {op!r}")
            arity = handler.__code__.co_argcount - 1
            defaults = len(handler.__defaults__ or ())
            if not (arity - defaults <= len(args) <= arity):
                self.fail(f"{op!r} takes {arity - defaults}..{arity} arguments, got {len(args)}: {step!r}")
            handler(*args)
            del step, args, handler  # nothing of the step outlives it (they are JSON data anyway)
        self.env.clear()
        return self.checks

    # -- object creation -------------------------------------------------------------------------

    def op_int(self, name, value):
        if not _is_int(value):
            self.fail(f"int value must be an integer, got {value!r}")
        self.bind_fresh(name, lambda: fresh_int(value))

    def op_float(self, name, value):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            self.fail(f"float value must be a number, got {value!r}")
        self.bind_fresh(name, lambda: fresh_float(value))

    def op_str(self, name, value):
        if not isinstance(value, str):
            self.fail(f"str value must be a string, got {value!r}")
        self.bind_fresh(name, lambda: fresh_str(value))

    def op_none(self, name):
        self.bind_fresh(name, lambda: None)

    def op_bool(self, name, value):
        if not isinstance(value, bool):
            self.fail(f"bool value must be true/false, got {value!r}")
        self.bind_fresh(name, lambda: value is True)

    def op_list(self, name, items):
        if not isinstance(items, list):
            self.fail("list items must be an array of names")
        names = [self.need(n) for n in items]
        self.bind_fresh(name, lambda: [self.env[n] for n in names])

    def op_tuple(self, name, items):
        if not isinstance(items, list):
            self.fail("tuple items must be an array of names")
        names = [self.need(n) for n in items]
        self.bind_fresh(name, lambda: tuple([self.env[n] for n in names]))

    def op_dict(self, name, pairs):
        if not isinstance(pairs, list) or any(
            not isinstance(p, list) or len(p) != 2 or not isinstance(p[0], str) for p in pairs
        ):
            self.fail('dict pairs must be [["key", "valueName"], ...] with string keys')
        pairs = [(k, self.need(v)) for k, v in pairs]
        self.bind_fresh(name, lambda: {k: self.env[v] for k, v in pairs})

    def op_class(self, name):
        if not isinstance(name, str) or not name.isidentifier():
            self.fail(f"class name must be an identifier, got {name!r}")
        # A heap type, as `class A: pass` would create (without the module-level code constants).
        self.env[name] = type(name, (), {})

    def op_instance(self, name, cls):
        self.need(cls)
        if not isinstance(self.env[cls], type):
            self.fail(f"{cls!r} is not a class")
        self.bind_fresh(name, lambda: self.env[cls]())

    # -- names ----------------------------------------------------------------------------------

    def op_bind(self, name, source):
        self.need(source)
        if not isinstance(name, str) or not name:
            self.fail(f"binding name must be a non-empty string, got {name!r}")
        self.env[name] = self.env[source]

    def op_del(self, name):
        self.need(name)
        del self.env[name]

    # -- lists -----------------------------------------------------------------------------------

    def list_(self, name):
        self.need(name)
        if type(self.env[name]) is not list:
            self.fail(f"{name!r} is not a list")
        return name

    def dict_(self, name):
        self.need(name)
        if type(self.env[name]) is not dict:
            self.fail(f"{name!r} is not a dict")
        return name

    def op_append(self, lst, item):
        self.env[self.list_(lst)].append(self.env[self.need(item)])

    def op_pop(self, lst, index=None):
        self.list_(lst)
        if index is None:
            self.env[lst].pop()  # result discarded
        else:
            if not _is_int(index):
                self.fail("pop index must be an integer")
            self.env[lst].pop(index)  # result discarded

    def op_insert(self, lst, index, item):
        if not _is_int(index):
            self.fail("insert index must be an integer")
        self.env[self.list_(lst)].insert(index, self.env[self.need(item)])

    def op_setitem(self, lst, index, item):
        if not _is_int(index):
            self.fail("setitem index must be an integer (use dset for dicts)")
        self.env[self.list_(lst)][index] = self.env[self.need(item)]

    def op_getitem(self, name, container, key):
        self.need(container)
        if type(self.env[container]) in (list, tuple):
            if not _is_int(key):
                self.fail("list/tuple index must be an integer")
        elif type(self.env[container]) is dict:
            if not isinstance(key, str):
                self.fail("dict key must be a string")
        else:
            self.fail(f"{container!r} is not a list, tuple or dict")
        self.env[name] = self.env[container][key]

    def op_repeat(self, name, lst, times):
        if not _is_int(times) or times < 0:
            self.fail("repeat count must be a non-negative integer")
        self.list_(lst)
        self.bind_fresh(name, lambda: self.env[lst] * times)

    def op_clear(self, name):
        self.need(name)
        if type(self.env[name]) not in (list, dict):
            self.fail(f"{name!r} is neither a list nor a dict")
        self.env[name].clear()

    # -- dicts -----------------------------------------------------------------------------------

    def key(self, key):
        if not isinstance(key, str):
            self.fail(f"dict keys are strings, got {key!r}")
        return key

    def op_dset(self, d, key, item):
        self.env[self.dict_(d)][self.key(key)] = self.env[self.need(item)]

    def op_ddel(self, d, key):
        self.dict_(d)
        if self.key(key) not in self.env[d]:
            self.fail(f"key {key!r} not in {d!r}")
        del self.env[d][key]

    def op_dpop(self, d, key):
        self.dict_(d)
        if self.key(key) not in self.env[d]:
            self.fail(f"key {key!r} not in {d!r}")
        self.env[d].pop(key)  # result discarded

    def op_dcopy(self, name, d):
        self.dict_(d)
        self.bind_fresh(name, lambda: self.env[d].copy())

    # -- attributes ------------------------------------------------------------------------------

    def attr(self, attr):
        if not isinstance(attr, str) or not attr.isidentifier():
            self.fail(f"attribute name must be an identifier, got {attr!r}")
        return attr

    def op_setattr(self, obj, attr, item):
        setattr(self.env[self.need(obj)], self.attr(attr), self.env[self.need(item)])

    def op_delattr(self, obj, attr):
        delattr(self.env[self.need(obj)], self.attr(attr))

    def op_getattr(self, name, obj, attr):
        self.env[name] = getattr(self.env[self.need(obj)], self.attr(attr))

    # -- measurements ----------------------------------------------------------------------------

    def no_class(self, name, what):
        if isinstance(self.env[name], type):
            self.fail(f"{what} on class {name!r}: a class's absolute count depends on interpreter "
                      "internals (its __mro__, descriptors, caches); use mark + delta")

    def op_check(self, name, label):
        self.need(name)
        self.no_class(name, "check")
        self.checks.append({"label": self.new_label(label), "kind": "raw", "value": raw_refcnt(self.env, name)})

    def op_getrefcount(self, name, label):
        self.need(name)
        self.no_class(name, "getrefcount")
        label = self.new_label(label)
        value = getrefcount(self.env, name)
        raw = raw_refcnt(self.env, name)
        expected = raw if is_immortal(raw) else raw + 1
        if value != expected:
            self.fail(f"sys.getrefcount={value} but raw={raw}: the accounting is off")
        self.checks.append({"label": label, "kind": "getrefcount", "value": value})

    def op_mark(self, name, label):
        self.need(name)
        self.marks[self.new_label(label)] = (name, id(self.env[name]), raw_refcnt(self.env, name))

    def op_delta(self, name, label, base):
        self.need(name)
        label = self.new_label(label)
        if base not in self.marks:
            self.fail(f"delta base {base!r} is not an earlier mark")
        base_name, base_id, base_raw = self.marks[base]
        if base_name != name or base_id != id(self.env[name]):
            self.fail(f"delta {label!r}: mark {base!r} was taken on another object")
        value = raw_refcnt(self.env, name) - base_raw
        self.checks.append({"label": label, "kind": "delta", "value": value, "base": base})


# ---------------------------------------------------------------------------------------------
# Self test: the accounting described in the module docstring, checked on this interpreter
# ---------------------------------------------------------------------------------------------


def self_test():
    case = {
        "name": "<self-test>",
        "steps": [
            ["int", "x", 2337], ["check", "x", "fresh"], ["getrefcount", "x", "fresh grc"],
            ["bind", "y", "x"], ["check", "x", "bound twice"],
            ["list", "l", ["x"]], ["check", "x", "in list"],
            ["del", "l"], ["del", "y"], ["check", "x", "back"],
            ["none", "n"], ["check", "n", "none"],
        ],
    }
    try:
        got = {c["label"]: c["value"] for c in Interpreter(case).run()}
    except CaseError as e:
        raise SystemExit(f"gen_fixtures.py: self-test failed on this interpreter: {e}")
    want = {"fresh": 1, "fresh grc": 2, "bound twice": 2, "in list": 3, "back": 1, "none": IMMORTAL}
    if got != want:
        raise SystemExit(f"gen_fixtures.py: self-test failed on this interpreter: {got} != {want}")


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def version_problem():
    impl = sys.implementation.name
    if impl != "cpython":
        return f"this is {impl}, not CPython"
    if sys.version_info[:2] != EXPECTED_MINOR:
        return f"this is CPython {platform.python_version()}, not 3.12"
    if sys.maxsize <= 2**32:
        return "this is a 32-bit build (immortal objects read 0x3fffffff there, not 4294967295)"
    return None


def load_cases(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    cases = doc["cases"] if isinstance(doc, dict) else doc
    if not isinstance(cases, list):
        raise SystemExit(f"{path}: expected a list of cases (or an object with a 'cases' list)")
    seen = set()
    for case in cases:
        if not isinstance(case, dict) or not isinstance(case.get("name"), str):
            raise SystemExit(f"{path}: every case needs a string 'name': {case!r}")
        if case["name"] in seen:
            raise SystemExit(f"{path}: duplicate case name {case['name']!r}")
        seen.add(case["name"])
        if not isinstance(case.get("description"), str):
            raise SystemExit(f"{path}: case {case['name']!r} needs a string 'description'")
    return cases


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate refcount fixtures from CPython 3.12.")
    ap.add_argument("--stdout", action="store_true", help="print the JSON instead of writing it")
    ap.add_argument("--output", help="output path (default: fixtures/cpython-<version>.json)")
    ap.add_argument("--cases", default=DEFAULT_CASES, help="cases file (default: %(default)s)")
    ap.add_argument("--allow-version", action="store_true",
                    help="run on something other than 64-bit CPython 3.12 (output is not a valid fixture)")
    args = ap.parse_args(argv)

    problem = version_problem()
    if problem and not args.allow_version:
        sys.stderr.write(
            f"gen_fixtures.py: refusing to run: {problem} ({sys.executable}).\n"
            "The fixtures must come from 64-bit CPython 3.12, e.g.:\n"
            "    PYENV_VERSION=3.12.1 python3 scripts/cpython/gen_fixtures.py\n"
            "Pass --allow-version to run anyway (the numbers are then not a 3.12 fixture).\n"
        )
        return 2

    cases = load_cases(args.cases)
    gc.disable()  # no collection can run in the middle of a case (it would not change counts anyway)
    self_test()
    out_cases = {}
    try:
        for case in cases:
            out_cases[case["name"]] = {"checks": Interpreter(case).run()}
    except CaseError as e:
        sys.stderr.write(f"gen_fixtures.py: {args.cases}: {e}\n")
        return 1
    doc = {"python": platform.python_version(), "generated_by": GENERATED_BY, "cases": out_cases}
    text = json.dumps(doc, indent=2) + "\n"

    if args.stdout:
        sys.stdout.write(text)
        return 0
    out = args.output or os.path.join(REPO_ROOT, "fixtures", f"cpython-{platform.python_version()}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    sys.stderr.write(f"gen_fixtures.py: wrote {os.path.relpath(out)} ({len(out_cases)} cases, "
                     f"{sum(len(c['checks']) for c in out_cases.values())} checks)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
