/** A small SVG line chart of memtest samples: the series of memchart.ts, with a legend. */
import type { MemSample } from '../scenarios/memtest.js';
import { memSeries } from './memchart.js';

export function svgLineChart(samples: readonly MemSample[], title: string): string {
  const W = 640, H = 340, L = 60, R = 20, T = 60, B = 40;
  const series = memSeries(samples);
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const n = Math.max(2, samples.length);
  const x = (i: number) => L + ((W - L - R) * i) / (n - 1);
  const y = (v: number) => T + (H - T - B) * (1 - v / max);
  const esc = (t: string) => t.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] as string);
  const lines = series
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"><title>${esc(s.name)}</title></polyline>`)
    .join('\n');
  const legend = series
    .map((s, i) => `<line x1="${L + 10 + i * 190}" y1="${T - 24}" x2="${L + 30 + i * 190}" y2="${T - 24}" stroke="${s.color}" stroke-width="3"/><text x="${L + 35 + i * 190}" y="${T - 20}" fill="${s.color}" font-size="11">${esc(s.name)}</text>`)
    .join('\n');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${L - 6}" y="${y(max * f) + 4}" font-size="10" text-anchor="end">${(max * f).toFixed(0)}</text>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">
<rect width="100%" height="100%" fill="white"/>
<text x="${L}" y="18" font-size="14">${esc(title)}</text>
<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/>
<text x="${(W + L) / 2}" y="${H - 10}" font-size="11" text-anchor="middle">iteration (1..${samples.length}), MiB</text>
${ticks}
<g class="legend">
${legend}
</g>
${lines}
</svg>
`;
}
