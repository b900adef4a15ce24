/** SVG through Graphviz compiled to WebAssembly (@viz-js/viz): no system package needed. */
import type { Viz } from '@viz-js/viz';
import { toDot, type DotOptions } from './dot.js';
import type { HeapSnapshot } from './snapshot.js';

let vizPromise: Promise<Viz> | undefined;

async function viz(): Promise<Viz> {
  vizPromise ??= import('@viz-js/viz').then((m) => m.instance());
  return vizPromise;
}

/** Renders a snapshot (drawn with {@link toDot}) or DOT text to SVG. */
export async function toSvg(input: HeapSnapshot | string, options: DotOptions = {}): Promise<string> {
  const dot = typeof input === 'string' ? input : toDot(input, options);
  const v = await viz();
  const r = v.render(dot, { format: 'svg' });
  if (r.status !== 'success' || r.output === undefined) {
    throw new Error(`graphviz failed: ${r.errors.map((e) => e.message).join('; ')}`);
  }
  return r.output;
}
