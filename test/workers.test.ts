// worker_threads: the addon is context-aware; every worker has its own runtimes of every build.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { DIST, runChild } from './helpers/child.js';

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
import(${JSON.stringify(DIST)}).then((lab) => {
  const results = [];
  for (const build of lab.BUILDS) {
    const rt = lab.Runtime.create({ build });
    const A = rt.defineClass('W' + workerData.n);
    let live = 0;
    const keep = [];
    for (let i = 0; i < 3000; i++) {
      const a = A.new({ n: i, tag: 'worker ' + workerData.n });
      keep.push(a);
      if (keep.length > 50) { keep.shift().release(); }
    }
    for (const k of keep) { if (k.getattr('tag').value() === 'worker ' + workerData.n) live++; k.release(); }
    results.push({ build, live, collected: rt.gc.collect(), classRefs: Number(A.ref.refcnt) });
    rt.close();
  }
  parentPort.postMessage(results);
}).catch((e) => { parentPort.postMessage({ error: String(e && e.stack || e) }); });
`;

describe('worker_threads', () => {
  it('4 workers churn runtimes of all three builds while the main thread does the same', async () => {
    const workers = [0, 1, 2, 3].map((n) => new Worker(workerSource, { eval: true, workerData: { n } }));
    const done = workers.map(
      (w) =>
        new Promise<unknown>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        }),
    );
    const lab = await import('../lib/index.js');
    for (const build of lab.BUILDS) {
      const rt = lab.Runtime.create({ build });
      for (let i = 0; i < 3000; i++) rt.list([i + 1000, 'main']).release();
      rt.close();
    }
    const results = await Promise.all(done);
    for (const r of results) {
      expect(r).not.toHaveProperty('error');
      const rows = r as { build: string; live: number; collected: number; classRefs: number }[];
      expect(rows.map((x) => x.build)).toEqual(['release', 'debug', 'nodealloc']);
      for (const row of rows) expect(row.live).toBe(50); // the last 50 kept, each with its own worker's tag
      // Nothing cyclic was made: release and debug find no garbage. nodealloc never frees, so
      // the 3000 instances that reached refcount 0 are still tracked, and the collector finds
      // each of them unreachable (what the talk's patched CPython would do too).
      expect(rows.map((x) => x.collected)).toEqual([0, 0, 3000]);
      // every instance holds its class: released instances gave their references back,
      // except in nodealloc where nothing is ever deallocated
      expect(rows[0]!.classRefs).toBe(rows[1]!.classRefs);
      expect(rows[2]!.classRefs).toBeGreaterThan(rows[0]!.classRefs);
    }
    await Promise.all(workers.map((w) => w.terminate()));
  });
});

// Four workers, each churning for a few seconds (a runtime of every build in turn, objects,
// cycles, collections), while the main thread waits: no crash, every worker's heap valid.
const longWorker = `
const { parentPort, workerData } = require('node:worker_threads');
import(${JSON.stringify(DIST)}).then((lab) => {
  const until = Date.now() + workerData.ms;
  let ops = 0, rounds = 0;
  while (Date.now() < until) {
    for (const build of lab.BUILDS) {
      const rt = lab.Runtime.create({ build });
      const A = rt.defineClass('L' + workerData.n);
      for (let i = 0; i < 2000; i++) {
        const a = A.new({ i });
        const b = A.new({ other: a });
        a.setattr('other', b);
        b.release();
        a.release();
        ops += 6;
      }
      rt.gc.collect();
      if (rt.capi.validateHeap() !== null) throw new Error('heap invalid');
      rt.close();
    }
    rounds++;
  }
  parentPort.postMessage({ ops, rounds });
}).catch((e) => { parentPort.postMessage({ error: String(e && e.stack || e) }); });
`;

describe('worker_threads, longer', () => {
  it('4 workers run for a few seconds each', async () => {
    const ms = Number(process.env['WORKER_MS'] ?? 3000);
    const workers = [0, 1, 2, 3].map((n) => new Worker(longWorker, { eval: true, workerData: { n, ms } }));
    const results = await Promise.all(
      workers.map((w) => new Promise<{ ops: number; rounds: number; error?: string }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      })),
    );
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.rounds).toBeGreaterThan(0);
    }
    await Promise.all(workers.map((w) => w.terminate()));
  }, 60_000);
});

describe('worker.terminate()', () => {
  // Found this session: terminating a worker while its runtime was throwing a RefcountError made
  // node-addon-api throw a C++ exception it could not turn into a JS one (the environment was
  // going away), and std::terminate aborted the whole process. binding.gyp now defines
  // NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS.
  it('terminating workers in the middle of throwing calls leaves the process running (child process)', () => {
    const throwingWorker = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(DIST)}).then((lab) => {
        const rt = lab.Runtime.create({ build: 'release' });
        parentPort.postMessage('ready');
        for (;;) { try { rt.ctypes.cast(8, rt.ctypes.py_object).value; } catch {} }
      });
    `;
    const r = runChild(`
      const { Worker } = await import('node:worker_threads');
      for (let round = 0; round < 3; round++) {
        const ws = [0, 1, 2, 3].map(() => new Worker(${JSON.stringify(throwingWorker)}, { eval: true, execArgv: [] }));
        await Promise.all(ws.map((w, i) => new Promise((res) => {
          w.once('message', () => setTimeout(() => w.terminate().then(res), 20 + 15 * i));
        })));
      }
      console.log('survived');
    `);
    expect(r.stderr).not.toContain('terminate called');
    expect([r.status, r.signal, r.stdout]).toEqual([0, null, 'survived\n']);
  }, 60_000);
});

describe('closing a runtime returns its memory', () => {
  // Not under the sanitizers: ASan's shadow memory and quarantine make RSS meaningless there.
  it.skipIf(!!process.env['RCL_SANITIZER'])('about 200 MB of objects, close(), RSS back within a margin (child process)', () => {
    const r = runChild(`
      const mb = () => process.memoryUsage().rss / 2 ** 20;
      globalThis.gc?.();
      const before = mb();
      const rt = lab.Runtime.create({ build: 'release' });
      const big = rt.list([]);
      const pad = 'x'.repeat(400);
      for (let i = 0; i < 480000; i++) big.append(pad + i); // ~440-byte str objects in pymalloc arenas
      const peak = mb();
      big.release(); // the list and every str back to pymalloc, empty arenas back to the system
      rt.close();
      globalThis.gc?.();
      const after = mb();
      console.log(JSON.stringify({ before, peak, after }));
    `, ['--expose-gc']);
    expect(r.status, r.stderr).toBe(0);
    const { before, peak, after } = JSON.parse(r.stdout) as { before: number; peak: number; after: number };
    expect(peak - before).toBeGreaterThan(180);
    expect(after - before).toBeLessThan(40);
  }, 60_000);
});
