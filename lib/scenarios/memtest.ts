/**
 * The talk's memory test (exp_6), bounded:
 *
 * ```python
 * def _exp_6() -> None:
 *     some_list: list[int] = [i for i in range(1_000_000)]
 * def exp_6() -> None:
 *     # gc.disable()
 *     while True:
 *         _exp_6()
 * ```
 * Each iteration builds the list in the runtime's heap and drops it at "return". Per
 * iteration we sample the allocator (blocks, bytes in allocated blocks, arenas) and the RSS.
 */
import type { Runtime } from '../runtime/index.js';
import { defineScenario } from './define.js';

export interface MemSample {
  readonly iteration: number;
  readonly rssMb: number;
  readonly blocks: number;
  readonly allocatedBytes: number;
  readonly arenas: number;
  readonly ms: number;
}

export interface MemtestOptions {
  readonly size: number;
  readonly iterations: number;
  /** gc.disable() first (the talk's second slide). */
  readonly gc: boolean;
  /** Stop as soon as the RSS exceeds this many MiB (0: no limit). */
  readonly maxRssMb?: number;
  readonly onSample?: (s: MemSample) => void;
}

export interface MemtestResult {
  readonly samples: MemSample[];
  /** 'flat' when the heap after each iteration stays where it was after the first one. */
  readonly verdict: 'flat' | 'growing';
  /** True when --max-rss stopped the loop. */
  readonly stoppedAtMaxRss: boolean;
  readonly growthBytes: number;
}

function sample(rt: Runtime, iteration: number, ms: number): MemSample {
  const s = rt.sys.mallocStats();
  return {
    iteration,
    rssMb: Math.round((process.memoryUsage.rss() / 1048576) * 10) / 10,
    blocks: rt.sys.getallocatedblocks(),
    allocatedBytes: s.bytes_in_allocated_blocks + s.raw_bytes,
    arenas: s.arenas_allocated_current,
    ms,
  };
}

/** `[i for i in range(size)]`, dropped at return. */
function _exp_6(rt: Runtime, size: number): void {
  const items = new Array<number>(size);
  for (let i = 0; i < size; i++) items[i] = i;
  using some_list = rt.list(items);
  void some_list;
}

export function runMemtest(rt: Runtime, o: MemtestOptions): MemtestResult {
  if (!o.gc) rt.gc.disable();
  const samples: MemSample[] = [];
  let stopped = false;
  for (let i = 1; i <= o.iterations; i++) {
    const t = performance.now();
    _exp_6(rt, o.size);
    const s = sample(rt, i, Math.round(performance.now() - t));
    samples.push(s);
    o.onSample?.(s);
    if (o.maxRssMb && s.rssMb > o.maxRssMb) {
      stopped = true;
      break;
    }
  }
  const first = samples[0];
  const last = samples[samples.length - 1];
  const growth = first && last ? last.allocatedBytes - first.allocatedBytes : 0;
  // One iteration's list is ~ size * (8 + 32) bytes; growing by half an iteration's worth
  // (or more) after the first iteration is growth, anything smaller is noise.
  const verdict = samples.length > 1 && growth > o.size * 20 ? 'growing' : 'flat';
  return { samples, verdict, stoppedAtMaxRss: stopped, growthBytes: growth };
}

export const exp_6 = defineScenario({
  name: 'exp_6',
  title: 'exp_6: the memory test, bounded (gc on), a 1e6-int list built and dropped N times',
  python: { file: 'exp_6.py' },
  options: { size: 50_000, iterations: 10, gc: true },
  run({ rt, py, options, setOutcome, note }) {
    const size = Number(options['size']);
    const iterations = Number(options['iterations']);
    const r = runMemtest(rt, { size, iterations, gc: options['gc'] !== false && options['gc'] !== 'off' });
    const first = r.samples[0];
    const last = r.samples[r.samples.length - 1];
    py.print(`memory ${r.verdict}: ${iterations} x [i for i in range(${size})]`);
    if (first && last) note(`blocks after first/last iteration: ${first.blocks} -> ${last.blocks}\n`);
    if (r.verdict === 'growing') setOutcome('memory-growth', `allocated bytes grew by ${r.growthBytes}`);
  },
});

export const exp_6_gc_disabled = defineScenario({
  name: 'exp_6_gc_disabled',
  title: 'exp_6 with gc.disable(): the list has no cycles, so nothing changes',
  python: { file: 'exp_6.py', args: ['--gc-disable'] },
  options: { size: 50_000, iterations: 10, gc: false },
  run: (ctx) => exp_6.run(ctx),
});
