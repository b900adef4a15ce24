// Smoke test of the benchmark suite: `bench/run.mjs --quick --json` in a child process must
// produce well-formed rows. Speed is never asserted (the quick sizes are far too small and CI
// machines are shared); only the shape and the arithmetic of the report are checked.
import { spawnSync } from 'node:child_process';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllocBench } from '../lib/bench/native.js';
import { CPYTHON_DEV_HOWTO, cpythonMissingRows } from '../lib/bench/cpython.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Row {
  id: string;
  label: string;
  value: number | null;
  unit: string;
  anchor: number | null;
  ratio: number | null;
  goal: { on: 'ratio' | 'value'; max: number; text: string } | null;
  met: boolean | null;
  [k: string]: unknown;
}

describe('bench --quick --json', () => {
  it('reports every group with well-formed rows', { timeout: 300_000 }, () => {
    const r = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--json'], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
      timeout: 290_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Row[];
    expect(Array.isArray(rows)).toBe(true);
    expect(rows.length).toBeGreaterThan(20);

    const ids = rows.map((x) => x.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const g of ['refcount.', 'boundary.', 'alloc.', 'gc.', 'memory.']) {
      expect(ids.some((id) => id.startsWith(g)), `a row of group ${g}`).toBe(true);
    }
    // CPython's own C as the anchor: measured, or saying why not (never an error row)
    for (const id of ['refcount.cpython.l1', 'refcount.cpython.mem', 'alloc.cpython.pair_warm', ...[16, 32, 48, 64, 96, 128, 192, 256, 384, 512].map((n) => `alloc.cpython.bulk.${n}`)])
      expect(ids, id).toContain(id);
    // No group may have failed outright.
    expect(ids.filter((id) => id.endsWith('.error'))).toEqual([]);

    for (const row of rows) {
      for (const k of ['id', 'label', 'value', 'unit', 'anchor', 'ratio', 'goal', 'met']) {
        expect(row, `${row.id} has ${k}`).toHaveProperty(k);
      }
      expect(typeof row.id).toBe('string');
      expect(typeof row.label).toBe('string');
      expect(typeof row.unit).toBe('string');
      if (row.goal !== null) {
        expect(['ratio', 'value']).toContain(row.goal.on);
        expect(typeof row.goal.max).toBe('number');
      } else {
        expect(row.met).toBeNull();
      }
      if (row.value === null || row.anchor === null) {
        // Not measurable here (e.g. mimalloc or CPython missing): must say why.
        expect(row.ratio).toBeNull();
        expect(row.met).toBeNull();
        expect(typeof row['note']).toBe('string');
        continue;
      }
      expect(Number.isFinite(row.value)).toBe(true);
      expect(row.anchor).toBeGreaterThan(0);
      expect(row.ratio).not.toBeNull();
      // ratio == value / anchor within rounding (4 significant digits each).
      expect(Math.abs((row.ratio as number) - row.value / row.anchor)).toBeLessThanOrEqual(2e-3 * Math.max(1, row.value / row.anchor));
      if (row.goal !== null) {
        expect(typeof row.met).toBe('boolean');
        const judged = row.goal.on === 'ratio' ? (row.ratio as number) : row.value;
        expect(row.met).toBe(judged <= row.goal.max);
      }
    }
  });
});

describe('bench pieces', () => {
  it('parseAllocBench reads the system malloc of an LD_PRELOAD=libjemalloc run as jemalloc', () => {
    const text = [
      'alloc+free pair, sizes 16..512, warm pools (ns/pair)',
      '  pymalloc (ours)      10.00',
      '  jemalloc              8.00   ratio ours/jemalloc = 1.25',
      'bulk 1e6 alloc then 1e6 free, sizes 16..128 (ns/block)',
      '  pymalloc (ours)      70.00',
      '  jemalloc             35.00   ratio ours/jemalloc = 2.00',
      'peak RSS growth of the bulk phase (payload 68.7 MiB)',
      '  pymalloc (ours)       70.2 MiB   = 1.022 x payload (goal <= 1.1)',
      '  jemalloc              75.0 MiB   = 1.092 x payload',
    ].join('\n');
    const r = parseAllocBench(text);
    expect(r.warm).toEqual({ ours: 10, jemalloc: 8 });
    expect(r.bulk).toEqual({ ours: 70, jemalloc: 35 });
    expect(r.rssMiB).toEqual({ ours: 70.2, jemalloc: 75 });
    expect(r.payloadMiB).toBe(68.7);
  });
  it('without CPython\'s shared library the anchor rows say how to get it', () => {
    const { refcount, alloc } = cpythonMissingRows(CPYTHON_DEV_HOWTO);
    expect(refcount.length + alloc.length).toBe(14);
    for (const r of [...refcount, ...alloc]) {
      expect(r.value).toBeNull();
      expect(r.met).toBeNull();
      expect(r.note).toMatch(/--enable-shared/);
    }
    expect(alloc.filter((r) => r.goal?.max === 0.8)).toHaveLength(10);
    expect(refcount.find((r) => r.id === 'refcount.cpython.l1')?.goal?.max).toBe(0.25);
  });
});
