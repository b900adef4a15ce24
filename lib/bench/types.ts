/** Types of the benchmark suite (`npm run bench`, `runBench()`). */

/** A row's goal: `on` says whether the ratio or the raw value is judged; met when <= max. */
export interface BenchGoal {
  readonly on: 'ratio' | 'value';
  readonly max: number;
  /** Human-readable, e.g. "<= 1.3x plain loop". */
  readonly text: string;
}

/** One measured row. `ratio` is always value / anchor (medians over the repetitions, both
 * measured in the same run); `ratioMin` / `ratioMax` are the extremes of the per-repetition
 * ratios (value and anchor of the same repetition). null fields mean "not measured here" and
 * `note` says why. */
export interface BenchRow {
  readonly id: string;
  readonly group: 'refcount' | 'boundary' | 'alloc' | 'gc' | 'memory' | 'provenance';
  readonly label: string;
  readonly value: number | null;
  readonly unit: string;
  readonly anchor: number | null;
  readonly anchorLabel: string;
  readonly ratio: number | null;
  readonly ratioMin: number | null;
  readonly ratioMax: number | null;
  readonly reps: number;
  readonly goal: BenchGoal | null;
  /** null when there is no goal or nothing was measured. */
  readonly met: boolean | null;
  readonly note?: string;
  /** Hardware counters per operation (perf stat or callgrind), when asked for and available. */
  readonly counters?: { readonly source: 'perf' | 'callgrind'; readonly instructions?: number; readonly cycles?: number; readonly anchorInstructions?: number };
}

export interface BenchMachine {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly compiler: string;
  readonly python: string;
  readonly os: string;
  readonly loadavg: readonly number[];
  readonly perf: string;
  readonly date: string;
}

export interface BenchReport {
  readonly machine: BenchMachine;
  readonly quick: boolean;
  readonly rows: BenchRow[];
  readonly seconds: number;
}

export type BenchGroup = BenchRow['group'];

export interface BenchOptions {
  /** A CI smoke run: every row, tiny sizes, under a minute on 2 cores. Never judges speed. */
  readonly quick?: boolean;
  /** Count instructions of the native refcount loops with valgrind's callgrind. */
  readonly callgrind?: boolean;
  /** Only these groups (default: all). */
  readonly only?: readonly BenchGroup[];
  /** Repetitions (default 3 quick, 11 full). */
  readonly reps?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}
