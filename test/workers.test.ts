// worker_threads: the addon is context-aware; every worker has its own runtimes of every build.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { DIST } from './helpers/child.js';

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
