/** A small SVG line chart of memtest samples (allocated MiB and RSS MiB per iteration). */
import type { MemSample } from '../scenarios/memtest.js';

export function svgLineChart(samples: readonly MemSample[], title: string): string {
  const W = 640, H = 320, L = 60, R = 20, T = 40, B = 40;
  const series = [
    { name: 'allocated MiB', color: '#d33', ys: samples.map((s) => s.allocatedBytes / 1048576) },
    { name: 'RSS MiB', color: '#36c', ys: samples.map((s) => s.rssMb) },
  ];
  const max = Math.max(1, ...series.flatMap((s) => s.ys));
  const n = Math.max(2, samples.length);
  const x = (i: number) => L + ((W - L - R) * i) / (n - 1);
  const y = (v: number) => T + (H - T - B) * (1 - v / max);
  const esc = (t: string) => t.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] as string);
  const lines = series
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.ys.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`)
    .join('\n');
  const legend = series.map((s, i) => `<text x="${L + 10 + i * 160}" y="${T - 10}" fill="${s.color}" font-size="12">${s.name}</text>`).join('\n');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${L - 6}" y="${y(max * f) + 4}" font-size="10" text-anchor="end">${(max * f).toFixed(0)}</text>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">
<rect width="100%" height="100%" fill="white"/>
<text x="${L}" y="18" font-size="14">${esc(title)}</text>
<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/>
<text x="${(W + L) / 2}" y="${H - 10}" font-size="11" text-anchor="middle">iteration (1..${samples.length})</text>
${ticks}
${legend}
${lines}
</svg>
`;
}
