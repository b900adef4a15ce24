// The published types: what a consumer's TypeScript sees through package.json `exports`.
// Needs `npx tsc` first (reads dist/**/*.d.ts, as `npm test` builds it).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { Runtime, heapSnapshot, leakSnapshot, snapshot } from '../lib/index.js';

const root = join(import.meta.dirname, '..');

/** Internals that must stay off every published type (lib/internal.ts reaches them). */
const INTERNAL = ['native', 'wrap', 'addrOf', 'withObject', 'withObjects', '_addr', '_registerIfOwned', 'nameSlot', 'writeStderr',
  'nativeOf', 'addressOf', 'wrapAddress', 'nameSlotOf', 'writeStderrOf', 'loadBuild', 'NativeRuntime', 'NativeModule'];

type ExportTarget = string | { readonly [condition: string]: ExportTarget };

/** Every `types` file that package.json `exports` names. */
function exportedTypeFiles(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, ExportTarget> };
  const out = new Map<string, string>();
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'object' && typeof target['types'] === 'string') out.set(subpath, join(root, target['types']));
  }
  return out;
}

describe('published .d.ts (through package.json exports)', () => {
  const files = exportedTypeFiles();
  const program = ts.createProgram([...files.values()], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts'],
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();

  /** Every exported name of an entry, and every member (instance and static) of its classes and interfaces. */
  function surface(file: string): { exports: string[]; members: Map<string, string[]> } {
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error(`${file} is not in the program`);
    const mod = checker.getSymbolAtLocation(sf);
    if (!mod) throw new Error(`${file} is not a module`);
    const members = new Map<string, string[]>();
    const exports = checker.getExportsOfModule(mod);
    for (const e of exports) {
      const s = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
      if (!(s.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface))) continue;
      const names = checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(s)).map((p) => p.name);
      if (s.flags & ts.SymbolFlags.Class && s.valueDeclaration) {
        names.push(...checker.getPropertiesOfType(checker.getTypeOfSymbolAtLocation(s, s.valueDeclaration)).map((p) => p.name));
      }
      members.set(e.name, names);
    }
    return { exports: exports.map((e) => e.name), members };
  }

  it('package.json exports types for the package and its subpaths, all built', () => {
    expect([...files.keys()]).toContain('.');
    for (const f of files.values()) expect(existsSync(f), f).toBe(true);
  });

  it('type-checks on its own (nothing stripped is still referenced)', () => {
    const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diags).toEqual([]);
  });

  it('the public classes carry no internals (native table, wrap, addrOf, withObject, _addr, ...)', () => {
    const main = surface(files.get('.') as string);
    // the classes are there, with their public members (else this test would check nothing)
    expect(main.members.get('Runtime')).toEqual(expect.arrayContaining(['create', 'int', 'sys', 'gc', 'close']));
    expect(main.members.get('Ref')).toEqual(expect.arrayContaining(['dup', 'release', 'id', 'refcnt']));
    expect(main.members.get('PyClass')).toEqual(expect.arrayContaining(['new', 'ref']));
    for (const [subpath, file] of files) {
      const { exports, members } = surface(file);
      expect(exports.filter((n) => INTERNAL.includes(n)), `exports of ${subpath}`).toEqual([]);
      for (const [name, list] of members) {
        expect(list.filter((n) => INTERNAL.includes(n)), `members of ${name} (${subpath})`).toEqual([]);
      }
    }
  });

  it('and neither does a live Runtime or Ref', () => {
    using rt = Runtime.create();
    using r = rt.int(1000);
    for (const o of [rt, r]) {
      for (const n of INTERNAL) expect(n in o, n).toBe(false);
    }
  });
});

describe('two snapshots, two names', () => {
  it('leakSnapshot() gives the counts the leak checks compare; snapshot() the picture graph; heapSnapshot is the old name of leakSnapshot', () => {
    using rt = Runtime.create({ build: 'debug' });
    using l = rt.list([1]);
    const counts = leakSnapshot(rt);
    expect(Object.keys(counts).sort()).toEqual(['blocks', 'census', 'refTotal']);
    expect(counts.census?.['list']?.objects).toBeGreaterThanOrEqual(1);
    const graph = snapshot(rt, { l });
    expect(graph.nodes.some((n) => n.type === 'list')).toBe(true);
    expect(heapSnapshot).toBe(leakSnapshot);
  });
});
