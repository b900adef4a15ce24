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
 * Each iteration builds the list in the runtime's heap as CPython 3.12 runs the comprehension
 * (`Ref.appendRange`: one native call, new ints from the runtime's allocator appended with
 * list_append's over-allocation; no JS array, no JS value per item, so the RSS follows the
 * model rather than V8's garbage) and drops it at "return". Per iteration we sample the model's
 * bytes at its peak (the list alive, just before the drop) and after the drop, and the RSS at
 * both points.
 */
import type { Runtime } from '../runtime/index.js';
import { defineScenario } from './define.js';

export interface MemSample {
  readonly iteration: number;
  /** RSS after the drop (MiB, one decimal). */
  readonly rssMb: number;
  /** RSS at the iteration's peak: the list alive, just before the drop (MiB, one decimal). */
  readonly peakRssMb: number;
  /** Live blocks after the drop (sys.getallocatedblocks()). */
  readonly blocks: number;
  /** The model's bytes after the drop: bytes in allocated pymalloc blocks + the raw allocator's. */
  readonly allocatedBytes: number;
  /** The model's bytes at the iteration's peak (the list alive), counted the same way. */
  readonly peakBytes: number;
  /** Arenas after the drop. */
  readonly arenas: number;
  /** Time to build and drop the list (ms). */
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
  /** The model's bytes before the first iteration. */
  readonly baselineBytes: number;
  /** RSS before the first iteration (MiB). */
  readonly baselineRssMb: number;
  /** One iteration's list: the first iteration's peak bytes minus the baseline. */
  readonly payloadBytes: number;
  /** 'flat' when the heap after each iteration stays where it was after the first one. */
  readonly verdict: 'flat' | 'growing';
  /** True when --max-rss stopped the loop. */
  readonly stoppedAtMaxRss: boolean;
  readonly growthBytes: number;
}

const rssMb = (): number => Math.round((process.memoryUsage.rss() / 1048576) * 10) / 10;

function modelBytes(rt: Runtime): number {
  const s = rt.sys.mallocStats();
  return s.bytes_in_allocated_blocks + s.raw_bytes;
}

/** `[i for i in range(size)]`, dropped at return; `atPeak` runs while the list is alive. */
function _exp_6(rt: Runtime, size: number, atPeak: () => void): void {
  using some_list = rt.list();
  some_list.appendRange(0, size);
  atPeak();
}

export function runMemtest(rt: Runtime, o: MemtestOptions): MemtestResult {
  if (!o.gc) rt.gc.disable();
  const samples: MemSample[] = [];
  let stopped = false;
  const baselineBytes = modelBytes(rt);
  const baselineRssMb = rssMb();
  for (let i = 1; i <= o.iterations; i++) {
    let peakBytes = 0;
    let peakRss = 0;
    const t = performance.now();
    _exp_6(rt, o.size, () => {
      peakBytes = modelBytes(rt);
      peakRss = rssMb();
    });
    const ms = Math.round(performance.now() - t);
    const s: MemSample = {
      iteration: i,
      rssMb: rssMb(),
      peakRssMb: peakRss,
      blocks: rt.sys.getallocatedblocks(),
      allocatedBytes: modelBytes(rt),
      peakBytes,
      arenas: rt.sys.mallocStats().arenas_allocated_current,
      ms,
    };
    samples.push(s);
    o.onSample?.(s);
    if (o.maxRssMb && Math.max(s.rssMb, s.peakRssMb) > o.maxRssMb) {
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
  return {
    samples,
    baselineBytes,
    baselineRssMb,
    payloadBytes: first ? first.peakBytes - baselineBytes : 0,
    verdict,
    stoppedAtMaxRss: stopped,
    growthBytes: growth,
  };
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
