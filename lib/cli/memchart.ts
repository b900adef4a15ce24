/**
 * The memtest chart's series, one value per iteration, shared by the terminal chart
 * (asciichart), the SVG (`--plot`) and `--json`: the model's bytes at the iteration's peak (the
 * list alive), its bytes after the drop, and the RSS at the peak, all in MiB.
 */
import type { MemSample } from '../scenarios/memtest.js';

export interface MemSeries {
  readonly key: 'modelPeakMiB' | 'modelAfterDropMiB' | 'rssPeakMiB';
  readonly name: string;
  /** SVG stroke colour. */
  readonly color: string;
  /** asciichart's ANSI colour name. */
  readonly ansi: 'red' | 'green' | 'blue';
  readonly values: number[];
}

const mib = (b: number): number => Math.round((b / 1048576) * 100) / 100;

/** Top to bottom on the chart: the RSS includes the model's heap, whose peak includes what is
 * left after the drop. */
export function memSeries(samples: readonly MemSample[]): MemSeries[] {
  return [
    { key: 'rssPeakMiB', name: 'RSS at the peak (MiB)', color: '#36c', ansi: 'blue', values: samples.map((s) => s.peakRssMb) },
    { key: 'modelPeakMiB', name: "model's peak bytes (MiB)", color: '#d33', ansi: 'red', values: samples.map((s) => mib(s.peakBytes)) },
    { key: 'modelAfterDropMiB', name: "model's bytes after the drop (MiB)", color: '#2a2', ansi: 'green', values: samples.map((s) => mib(s.allocatedBytes)) },
  ];
}

/** `{ modelPeakMiB: [...], ... }` for --json. */
export function memSeriesJson(samples: readonly MemSample[]): Record<MemSeries['key'], number[]> {
  const out = {} as Record<MemSeries['key'], number[]>;
  for (const s of memSeries(samples)) out[s.key] = s.values;
  return out;
}

type Plot = (series: number[][], config?: { height?: number; colors?: string[] }) => string;

/** The terminal chart with its legend; colours only when `ansi` holds the escape codes. */
export function asciiMemChart(samples: readonly MemSample[], plot: Plot, ansi: Partial<Record<MemSeries['ansi'] | 'reset', string>> | null): string {
  const series = memSeries(samples);
  const chart = plot(
    series.map((s) => s.values),
    { height: 12, ...(ansi ? { colors: series.map((s) => ansi[s.ansi] ?? '') } : {}) },
  );
  const legend = series
    .map((s, i) => `  ${ansi ? `${ansi[s.ansi] ?? ''}───${ansi.reset ?? ''}` : ['(top)   ', '(middle)', '(bottom)'][i]} ${s.name}`)
    .join('\n');
  return `per iteration (1..${samples.length}):\n${chart}\n${legend}\n`;
}
