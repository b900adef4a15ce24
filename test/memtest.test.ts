// The memory test (refcount-lab memtest, lib/scenarios/memtest.ts) and the operation it builds
// its list with (Ref.appendRange, the core's PyList_AppendRange): shapes and relations of the
// per-iteration series that a wrong model would break. No timings. The CLI cases need
// `npx tsc -p tsconfig.json` first (they spawn node dist/cli/main.js).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILDS, Runtime, RefcountError } from '../lib/index.js';
import { runMemtest } from '../lib/scenarios/memtest.js';
import { expectCPython } from './helpers/python.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

function cli(args: string[]) {
  expect(existsSync(CLI), 'run `npx tsc -p tsconfig.json` first').toBe(true);
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof RefcountError ? e.code : `not a RefcountError: ${String(e)}`;
  }
  return 'no error';
}

describe('Ref.appendRange: [i for i in range(lo, hi)]', () => {
  it.each(BUILDS)('%s: the values, the small ints cached, list_append over-allocation as CPython 3.12.1', (build) => {
    using rt = Runtime.create({ build });
    using l = rt.list();
    l.appendRange(0, 1000);
    expect(l.len()).toBe(1000);
    expect(l.value()).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    using seven = l.getitem(7);
    expect(rt.sys.getrefcount(seven)).toBe(4294967295); // a cached small int: immortal
    using big = l.getitem(999);
    expect(rt.sys.getrefcount(big)).toBe(3); // the list's, ours, the argument's: as CPython
    const sizes = [rt.sys.getsizeof(l)];
    using m = rt.list();
    for (const n of [1, 5, 17]) {
      m.appendRange(m.len(), n);
      sizes.push(rt.sys.getsizeof(m));
    }
    expect(sizes).toEqual([8856, 88, 120, 248]);
    l.appendRange(5, 5);
    l.appendRange(9, 3);
    expect(l.len()).toBe(1000);
    expectCPython(
      'import sys\nl = [i for i in range(1000)]\nm = []\nout = [sys.getsizeof(l)]\nfor n in (1, 5, 17):\n    for i in range(len(m), n):\n        m.append(i)\n    out.append(sys.getsizeof(m))\nprint(out, sys.getrefcount(l[999]))',
      '[8856, 88, 120, 248] 2',
    );
  });

  it('bad bounds are ERR_VALUE, a non-list is ERR_TYPE, a released Ref ERR_RELEASED', () => {
    using rt = Runtime.create();
    using l = rt.list();
    expect(code(() => l.appendRange(0, 1.5))).toBe('ERR_VALUE');
    expect(code(() => l.appendRange(Number.NaN, 3))).toBe('ERR_VALUE');
    expect(code(() => l.appendRange(0, 2 ** 60))).toBe('ERR_VALUE');
    expect(code(() => l.appendRange('0' as unknown as number, 3))).toBe('ERR_VALUE');
    using t = rt.tuple([1, 2]);
    expect(code(() => t.appendRange(0, 3))).toBe('ERR_TYPE');
    const r = rt.list();
    r.release();
    expect(code(() => r.appendRange(0, 3))).toBe('ERR_RELEASED');
    expect(l.len()).toBe(0);
  });
});

describe('runMemtest series (in process)', () => {
  const size = 200_000;
  it.each(['release', 'debug'] as const)('%s: the peak is baseline + one list every iteration, the bytes after the drop return to the baseline', (build) => {
    using rt = Runtime.create({ build, guard: false });
    const r = runMemtest(rt, { size, iterations: 4, gc: true });
    expect(r.samples).toHaveLength(4);
    // one list: 200 000 - 257 heap ints of 32 bytes, an item array of 203 000 slots (list_append's
    // over-allocation: CPython 3.12.1's sys.getsizeof says the same), the list object's 64-byte
    // block; the debug build adds its hooks' pads to each block
    const exact = (size - 257) * 32 + 203_000 * 8 + 64;
    if (build === 'release') expect(r.payloadBytes).toBe(exact);
    else expect(r.payloadBytes).toBeGreaterThan(exact);
    expect(r.payloadBytes).toBeLessThan(size * (build === 'debug' ? 96 : 48));
    for (const s of r.samples) {
      expect(Math.abs(s.peakBytes - (r.baselineBytes + r.payloadBytes))).toBeLessThan(r.payloadBytes * 0.001);
      expect(Math.abs(s.allocatedBytes - r.baselineBytes)).toBeLessThan(r.payloadBytes * 0.001);
      expect(s.peakRssMb).toBeGreaterThanOrEqual(s.rssMb);
    }
    expect(r.verdict).toBe('flat');
  });

  it('nodealloc: the bytes after the drop grow by one list per iteration, and so does the RSS', () => {
    using rt = Runtime.create({ build: 'nodealloc', guard: false });
    const r = runMemtest(rt, { size, iterations: 4, gc: true });
    const after = r.samples.map((s) => s.allocatedBytes);
    for (let i = 0; i < after.length; i++) {
      const expected = r.baselineBytes + (i + 1) * r.payloadBytes;
      expect(Math.abs((after[i] as number) - expected)).toBeLessThan(r.payloadBytes * 0.02);
      expect(r.samples[i]?.peakBytes).toBe(after[i]); // nothing is freed at the drop
    }
    const first = r.samples[0]!;
    const last = r.samples[3]!;
    expect(last.rssMb - first.rssMb).toBeGreaterThan((3 * r.payloadBytes * 0.9) / 1048576);
    expect(r.verdict).toBe('growing');
  });

  it('--max-rss stops the loop', () => {
    using rt = Runtime.create({ build: 'nodealloc', guard: false });
    const r = runMemtest(rt, { size: 100_000, iterations: 50, gc: true, maxRssMb: 1 });
    expect(r.stoppedAtMaxRss).toBe(true);
    expect(r.samples.length).toBeLessThan(50);
  });
});

describe('refcount-lab memtest', () => {
  it('release: flat, exit 0, JSON shape and series', () => {
    const r = cli(['memtest', '--iterations', '4', '--size', '20000', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ build: 'release', outcome: 'ok', verdict: 'flat' });
    expect(j.samples).toHaveLength(4);
    expect(Object.keys(j.samples[0]).sort()).toEqual(['allocatedBytes', 'arenas', 'blocks', 'iteration', 'ms', 'peakBytes', 'peakRssMb', 'rssMb']);
    expect(Object.keys(j.series).sort()).toEqual(['modelAfterDropMiB', 'modelPeakMiB', 'rssPeakMiB']);
    const mib = (b: number): number => Math.round((b / 1048576) * 100) / 100;
    expect(j.series.modelPeakMiB).toEqual(j.samples.map((s: { peakBytes: number }) => mib(s.peakBytes)));
    expect(j.series.modelAfterDropMiB).toEqual(j.samples.map((s: { allocatedBytes: number }) => mib(s.allocatedBytes)));
    expect(j.series.rssPeakMiB).toEqual(j.samples.map((s: { peakRssMb: number }) => s.peakRssMb));
    for (let i = 0; i < 4; i++) expect(j.series.modelPeakMiB[i]).toBeGreaterThan(j.series.modelAfterDropMiB[i]);
  });
  it('release with --gc off: flat as well', () => {
    const r = cli(['memtest', '--iterations', '4', '--size', '20000', '--gc', 'off', '--json']);
    expect(JSON.parse(r.stdout).verdict).toBe('flat');
  });
  it('nodealloc: grows, outcome memory-growth, exit 1, --plot writes an SVG with the three series and a legend', () => {
    const svg = join(tmpdir(), `rcl-mem-${process.pid}.svg`);
    const r = cli(['memtest', '--build', 'nodealloc', '--iterations', '4', '--size', '20000', '--json', '--plot', svg]);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.outcome).toBe('memory-growth');
    expect(j.samples[3].blocks).toBeGreaterThan(j.samples[0].blocks + 3 * 19000);
    const text = readFileSync(svg, 'utf8');
    expect(text).toMatch(/^<svg/);
    expect(text.match(/<polyline /g)).toHaveLength(3);
    for (const name of ['RSS at the peak', "model's peak bytes", "model's bytes after the drop"]) expect(text).toContain(name);
    // the after-drop line climbs: its last point is higher (smaller y) than its first
    const pts = /<polyline[^>]*#2a2[^>]*points="([^"]+)"/.exec(text)?.[1]?.split(' ').map((p) => Number(p.split(',')[1]));
    expect(pts).toHaveLength(4);
    expect(pts![3]!).toBeLessThan(pts![0]!);
  });
  it('the terminal chart has the three series and their legend, then one line per iteration', () => {
    const r = cli(['memtest', '--iterations', '3', '--size', '20000']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('(top)    RSS at the peak (MiB)');
    expect(r.stdout).toContain("(middle) model's peak bytes (MiB)");
    expect(r.stdout).toContain("(bottom) model's bytes after the drop (MiB)");
    expect(r.stdout.match(/^#\d+ model peak [\d.]+ MiB, after drop/gm)).toHaveLength(3);
  });
});
