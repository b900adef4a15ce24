/**
 * Graphviz DOT in the slides' style: "Python Name" boxes on the left, arrows to "PyObject"
 * tables (Type / Value / Reference Count), references between objects labelled with the
 * attribute name, list index or dict key. Colours (docs/pictures.md):
 *   names: blue header; objects: yellow header; immortal objects: purple header and the
 *   refcount "immortal (4294967295)"; freed objects: grey, dashed border, "freed";
 *   cycle edges and boxes in a cycle: red; an `id(...)` kept as a number: a dashed grey arrow
 *   labelled "id" (it is not a reference and does not count).
 * Every reference arrow is labelled with its holder: `ref` from a name (a Ref), the slot from a
 * container (`.attr`, `[3]`, `['k']`...). In an accounted snapshot (a guarded runtime), the
 * references taken through the C API and not given back are dashed teal arrows from a "C API"
 * box (labelled with the call site when the runtime knows it), and an object whose holders do
 * not add up gets a red note, `+N unexplained` (taken, never given back) or `-N unexplained`
 * (released behind a holder's back: an extra Py_DECREF).
 */
import type { Holder } from '../runtime/index.js';
import type { HeapNode, HeapSnapshot } from './snapshot.js';

export interface DotOptions {
  /** A title above the picture (the scenario step). */
  readonly title?: string;
  /** A caption under the title (the printed line), in a monospace font. */
  readonly caption?: string;
  /** Show the address and gc state under each box (default true). */
  readonly details?: boolean;
  /** Draw a small legend (default false). */
  readonly legend?: boolean;
}

export const COLORS = {
  name: '#cfe2ff',
  object: '#ffe8a3',
  immortal: '#e4d4f7',
  freed: '#e5e7eb',
  freedText: '#6b7280',
  cycle: '#d62828',
  edge: '#1f2937',
  idEdge: '#9ca3af',
  capi: '#0f766e',
  unexplained: '#dc2626',
  unexplainedFill: '#fee2e2',
} as const;

/** The node of the "C API" box (the holder of the references taken through capi.*). */
const CAPI_NODE = 'capi';

/** Escapes text for an HTML-like label. */
export function esc(s: string): string {
  // NUL cannot appear in Graphviz input at all: it is shown as U+2400 (the NUL symbol).
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\n/g, ' ').replace(/\0/g, '\u2400');
}
/** Escapes text for a quoted DOT string. */
function q(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\0/g, '\u2400') + '"';
}

export function nodeId(addr: number): string {
  return `o${addr}`;
}
export function nameId(name: string): string {
  return `n_${name.replace(/\W/g, '_')}`;
}

function refcountText(n: HeapNode): string {
  if (n.state !== 'live' && n.state !== 'unknown') {
    if (n.staleWord !== undefined && n.staleWord !== null) return `freed (stale word: ${n.staleWord})`;
    return 'freed';
  }
  if (n.immortal) return `immortal (${n.refcnt})`;
  return String(n.refcnt);
}

function objectLabel(n: HeapNode, details: boolean): string {
  const freed = n.state === 'freed' || n.state === 'invalid';
  const head = freed ? COLORS.freed : n.immortal ? COLORS.immortal : COLORS.object;
  const font = freed ? ` COLOR="${COLORS.freedText}"` : '';
  const border = n.inCycle ? ` COLOR="${COLORS.cycle}"` : freed ? ` COLOR="${COLORS.freedText}"` : '';
  const style = freed ? ' STYLE="dashed"' : '';
  const title = freed ? (n.state === 'freed' ? 'PyObject — freed' : 'no object here') : 'PyObject';
  const type = freed ? (n.type === '?' ? '?' : `was ${n.type}`) : n.type;
  const value = freed ? '—' : n.value;
  const row = (k: string, v: string) =>
    `<TR><TD ALIGN="LEFT"><FONT${font}>${k}</FONT></TD><TD ALIGN="LEFT"><FONT${font}>${esc(v)}</FONT></TD></TR>`;
  const rows = [
    `<TR><TD COLSPAN="2" BGCOLOR="${head}"><FONT${font}><B>${title}</B></FONT></TD></TR>`,
    row('Type', type),
    row('Value', value),
    row('Reference Count', refcountText(n)),
  ];
  if (details) {
    const gc = freed ? n.hex : `${n.hex} · gc: ${n.gc}`;
    rows.push(`<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="#6b7280">${esc(gc)}</FONT></TD></TR>`);
  }
  const bg = freed ? ` BGCOLOR="${COLORS.freed}"` : ' BGCOLOR="white"';
  return `<<TABLE BORDER="${n.inCycle ? 2 : 1}" CELLBORDER="1" CELLSPACING="0" CELLPADDING="5"${bg}${border}${style}>${rows.join('')}</TABLE>>`;
}

function nameLabel(name: string): string {
  return (
    `<<TABLE BORDER="1" CELLBORDER="1" CELLSPACING="0" CELLPADDING="5" BGCOLOR="white">` +
    `<TR><TD BGCOLOR="${COLORS.name}"><B>Python Name</B></TD></TR>` +
    `<TR><TD><FONT FACE="monospace">${esc(name)}</FONT></TD></TR></TABLE>>`
  );
}

/** DOT text of a snapshot. */
export function toDot(s: HeapSnapshot, options: DotOptions = {}): string {
  const details = options.details ?? true;
  const out: string[] = [];
  out.push('digraph heap {');
  out.push('  rankdir=LR; nodesep=0.35; ranksep=0.9; bgcolor="white"; pad=0.3;');
  out.push('  node [shape=plaintext fontname="Helvetica" fontsize=12];');
  out.push(`  edge [fontname="Helvetica" fontsize=11 color="${COLORS.edge}" arrowsize=0.8];`);
  if (options.title || options.caption) {
    const t = options.title ? `<B>${esc(options.title)}</B>` : '';
    const c = options.caption ? `<BR/><FONT FACE="monospace" POINT-SIZE="13">${esc(options.caption)}</FONT>` : '';
    out.push(`  labelloc="t"; labeljust="l"; fontname="Helvetica"; fontsize=16; label=<${t}${c}>;`);
  }
  const capi = s.nodes.flatMap((n) => (n.holders ?? []).filter((h) => h.kind === 'capi').map((h) => ({ to: n.id, h })));
  if (s.roots.length || capi.length) {
    out.push('  { rank=same;');
    for (const r of s.roots) out.push(`    ${nameId(r.name)} [label=${nameLabel(r.name)} tooltip=${q(r.name)}];`);
    if (capi.length) out.push(`    ${CAPI_NODE} [label=${capiLabel()} tooltip="references taken through the C API (Py_INCREF, Py_NewRef) and not given back" class="capi"];`);
    out.push('  }');
  }
  for (const n of s.nodes) {
    const tip = `${n.type} at ${n.hex}`;
    out.push(`  ${nodeId(n.id)} [label=${objectLabel(n, details)} tooltip=${q(tip)} class=${q(classOf(n))}];`);
  }
  for (const r of s.roots) {
    if (r.kind === 'ref') out.push(`  ${nameId(r.name)} -> ${nodeId(r.to)} [penwidth=1.6 label="ref"];`);
    else out.push(`  ${nameId(r.name)} -> ${nodeId(r.to)} [style=dashed color="${COLORS.idEdge}" fontcolor="${COLORS.idEdge}" label="id"];`);
  }
  for (const e of s.edges) {
    const attrs = [`label=${q(e.label)}`];
    if (e.cycle) attrs.push(`color="${COLORS.cycle}" fontcolor="${COLORS.cycle}" penwidth=2.2 class="cycle"`);
    if (e.label === '__class__') attrs.push('style=dotted');
    out.push(`  ${nodeId(e.from)} -> ${nodeId(e.to)} [${attrs.join(' ')}];`);
  }
  for (const { to, h } of capi) out.push(`  ${CAPI_NODE} -> ${nodeId(to)} [${capiEdgeAttrs(h)}];`);
  for (const n of s.nodes) if (n.unexplained) out.push(...unexplainedNote(n.id, n.unexplained));
  if (s.truncated) out.push('  truncated [label="… more objects (maxNodes)" fontcolor="#6b7280"];');
  if (options.legend) out.push(legend());
  out.push('}');
  return out.join('\n') + '\n';
}

function capiLabel(): string {
  return (
    `<<TABLE BORDER="1" CELLBORDER="1" CELLSPACING="0" CELLPADDING="5" BGCOLOR="white" COLOR="${COLORS.capi}">` +
    `<TR><TD BGCOLOR="${COLORS.capi}"><FONT COLOR="white"><B>C API</B></FONT></TD></TR>` +
    `<TR><TD><FONT POINT-SIZE="10">Py_INCREF, Py_NewRef</FONT></TD></TR></TABLE>>`
  );
}

/** A C API holder's arrow: how many references, and the call site (its file name and line;
 * the whole path in the tooltip). */
function capiEdgeAttrs(h: Holder): string {
  const what = `${h.count === 1 ? '' : `${h.count} refs, `}not given back`;
  const label = h.site === undefined ? what : `${what}\n${h.site.split(/[\\/]/).pop() as string}`;
  const tip = h.site === undefined ? what : `${what}, taken at ${h.site}`;
  return `style=dashed color="${COLORS.capi}" fontcolor="${COLORS.capi}" penwidth=1.6 label=${q(label)} tooltip=${q(tip)} class="capi"`;
}

/** A red note on an object whose holders do not add up, and its arrow. */
function unexplainedNote(addr: number, unexplained: number): string[] {
  const id = `u${addr}`;
  const text = unexplained > 0 ? `+${unexplained} unexplained\ntaken, never given back` : `${unexplained} unexplained\nreleased behind a holder's back`;
  // +N: references nobody accounts for point at it; -N: references its holders no longer own
  const arrow = unexplained > 0 ? '' : ' style=dashed arrowhead=tee';
  return [
    `  ${id} [shape=note style=filled fillcolor="${COLORS.unexplainedFill}" color="${COLORS.unexplained}" fontcolor="${COLORS.unexplained}" fontsize=11 label=${q(text)} class="unexplained"];`,
    `  ${id} -> ${nodeId(addr)} [color="${COLORS.unexplained}" penwidth=1.6${arrow} class="unexplained"];`,
  ];
}

function classOf(n: HeapNode): string {
  const c = ['pyobject'];
  if (n.state === 'freed') c.push('freed');
  if (n.immortal) c.push('immortal');
  if (n.inCycle) c.push('cycle');
  return c.join(' ');
}

function legend(): string {
  const cell = (bg: string, text: string, extra = '') => `<TR><TD BGCOLOR="${bg}"${extra}> </TD><TD ALIGN="LEFT">${text}</TD></TR>`;
  return (
    `  legend [label=<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2"><TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="10"><B>legend</B></FONT></TD></TR>` +
    cell(COLORS.name, '<FONT POINT-SIZE="10">a Python name</FONT>') +
    cell(COLORS.object, '<FONT POINT-SIZE="10">a live object</FONT>') +
    cell(COLORS.immortal, '<FONT POINT-SIZE="10">immortal (refcount never changes)</FONT>') +
    cell(COLORS.freed, '<FONT POINT-SIZE="10">freed memory</FONT>') +
    cell(COLORS.cycle, `<FONT POINT-SIZE="10" COLOR="${COLORS.cycle}">reference cycle</FONT>`) +
    `<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="${COLORS.idEdge}">- - → id only (not a reference)</FONT></TD></TR>` +
    `<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="${COLORS.capi}">- - → taken through the C API, not given back</FONT></TD></TR>` +
    cell(COLORS.unexplainedFill, `<FONT POINT-SIZE="10" COLOR="${COLORS.unexplained}">±N unexplained (no holder accounts for it)</FONT>`, ` COLOR="${COLORS.unexplained}"`) +
    `</TABLE>>];`
  );
}
