// Pictures of the heap: snapshots and DOT checked structurally (exp_0, exp_5), the SVGs parse
// as XML and carry the labels, the CLI writes the frames, and index.html opens in headless
// Chromium with a non-blank screenshot. Needs `npx tsc` first for the CLI test.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DRAW_COLORS, Runtime, drawScenario, showBackrefs, showGrowth, showRefs, snapshot, toDot, toSvg, type HeapSnapshot } from '../lib/index.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

function nodeOf(s: HeapSnapshot, type: string) {
  return s.nodes.filter((n) => n.type === type);
}

/** A tiny XML well-formedness check: every tag closes in order. */
function assertWellFormedXml(xml: string): void {
  const body = xml.replace(/<\?xml[^>]*\?>/g, '').replace(/<!DOCTYPE[^>]*>/g, '').replace(/<!--[\s\S]*?-->/g, '');
  const stack: string[] = [];
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, close, name, , self] = m as unknown as [string, string, string, string, string];
    if (self) continue;
    if (close) expect(stack.pop(), `closing </${name}>`).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  expect(body).not.toMatch(/&(?!amp;|lt;|gt;|quot;|apos;|#\d+;|#x[0-9a-f]+;)/i);
}

describe('snapshot', () => {
  it('reads without touching the counts, follows attributes, class and non-GC children', () => {
    using rt = Runtime.create();
    const A = rt.defineClass('A');
    const a = A.new({ my_obj_attr: 'This is kakoyto text', l: [1, 2] });
    const before = a.refcnt;
    const s = snapshot(rt, { a, a_id: a.id });
    expect(a.refcnt).toBe(before);
    expect(s.roots).toEqual([
      { name: 'a', to: a.id, kind: 'ref' },
      { name: 'a_id', to: a.id, kind: 'address' },
    ]);
    const [inst] = nodeOf(s, 'A');
    expect(inst).toMatchObject({ id: a.id, refcnt: 1, gc: 'generation 0', state: 'live', immortal: false });
    const labels = s.edges.filter((e) => e.from === a.id).map((e) => e.label);
    expect(labels).toEqual(expect.arrayContaining(['.my_obj_attr', '.l', '__class__']));
    expect(nodeOf(s, 'str')[0]).toMatchObject({ value: "'This is kakoyto text'", gc: 'untracked' });
    expect(nodeOf(s, 'type')[0]?.id).toBe(A.id);
    const list = nodeOf(s, 'list')[0];
    expect(s.edges.filter((e) => e.from === list?.id).map((e) => e.label).sort()).toEqual(['[0]', '[1]']);
    expect(nodeOf(s, 'int').every((n) => n.immortal)).toBe(true);
  });

  it('a freed root is a freed box; cycles and self-loops are marked', () => {
    using rt = Runtime.create();
    const l = rt.list([]);
    l.append(l);
    const A = rt.defineClass('A');
    const x = A.new();
    const id = x.id;
    x.release();
    const s = snapshot(rt, { l, x_id: id });
    expect(s.nodes.find((n) => n.id === id)).toMatchObject({ state: 'freed', gc: 'freed', refcnt: null });
    expect(s.edges.find((e) => e.from === l.id && e.to === l.id)).toMatchObject({ label: '[0]', cycle: true });
    expect(s.nodes.find((n) => n.id === l.id)?.inCycle).toBe(true);
    const dot = toDot(s);
    expect(dot).toMatch(/STYLE="dashed"/);
    expect(dot).toContain('PyObject — freed');
  });
});

describe('exp_0 as the talk\'s slides', async () => {
  const d = await drawScenario('exp_0', { svg: true });
  it('one frame per printed line (separators skipped) plus the end frame', () => {
    expect(d.outcome.kind).toBe('ok');
    expect(d.frames.map((f) => f.line.slice(0, 4))).toEqual(['1 - ', '2 - ', '3 - ', '4 - ', '5 - ', 'Obj ', 'This', '6 - ', '7 - ', '[end']);
  });
  it('step 3: a and b point at one A with refcount 2, a_id is an id arrow', () => {
    const f = d.frames[2]!;
    expect(f.line).toBe('3 - obj a. Ref count ref_a = 2');
    const s = f.snapshot;
    expect(s.roots.map((r) => `${r.name}:${r.kind}`)).toEqual(['a:ref', 'a_id:address', 'b:ref']);
    const a = nodeOf(s, 'A')[0]!;
    expect(new Set(s.roots.map((r) => r.to))).toEqual(new Set([a.id]));
    expect(a.refcnt).toBe(2);
    expect(s.edges.some((e) => e.cycle)).toBe(false);
    expect(f.dot).toContain('<B>Python Name</B>');
    expect(f.dot).toMatch(/<TD ALIGN="LEFT"><FONT>Reference Count<\/FONT><\/TD><TD ALIGN="LEFT"><FONT>2<\/FONT>/);
    // each arrow says its holder: a name's Ref, a container's slot
    expect(f.dot).toContain(`n_a -> o${a.id} [penwidth=1.6 label="ref"]`);
    expect(f.dot).toContain(`n_b -> o${a.id} [penwidth=1.6 label="ref"]`);
    expect(f.dot).toMatch(new RegExp(`n_a_id -> o${a.id} \\[style=dashed .*label="id"\\]`));
    expect(f.dot).toContain('label=".my_obj_attr"');
  });
  it('del b, raw_id_value, del a: the counts follow the talk and a_id ends on freed memory', () => {
    const counts = d.frames.slice(0, 9).map((f) => nodeOf(f.snapshot, 'A')[0]?.refcnt ?? null);
    expect(counts).toEqual([1, 1, 2, 1, 1, 2, 2, 2, null]);
    const last = d.frames[8]!.snapshot;
    expect(last.roots).toEqual([{ name: 'a_id', to: expect.any(Number), kind: 'address' }]);
    const box = last.nodes[0]!;
    // Guarded release: the block is freed (or already re-used by the f-string's str).
    if (box.state === 'freed') expect(box.type).toBe('A');
    else expect(box.type).not.toBe('A');
  });
  it('the SVGs are well-formed XML with the labels', () => {
    for (const f of d.frames) {
      assertWellFormedXml(f.svg!);
      expect(f.svg).toContain('<svg');
    }
    const svg = d.frames[2]!.svg!;
    for (const t of ['Python Name', 'PyObject', 'Reference Count', 'my_obj_attr', '>a<', '>b<', '>a_id<']) expect(svg).toContain(t);
  });
  it('drawing does not change what the scenario prints', async () => {
    const { executeScenario } = await import('../lib/scenarios/index.js');
    let plain = '';
    executeScenario((await import('../lib/scenarios/talk.js')).exp_0, 'release', true, (t) => (plain += t));
    const strip = (s: string) => s.replace(/\d{6,}|0x[0-9a-f]+/g, 'ADDR');
    expect(strip(d.frames.at(-1)!.stdout)).toBe(strip(plain));
  });
});

describe('exp_5: the Node cycle before and after gc.collect()', async () => {
  const before = await drawScenario('exp_5');
  const after = await drawScenario('exp_5_gc_collect', { svg: true });
  it('after del root: three Nodes in a red cycle, kept alive only by it', () => {
    const f = before.frames[2]!;
    expect(f.line).toBe('3 root ref count root_ref_count = 1');
    const s = f.snapshot;
    expect(s.roots.map((r) => r.name)).toEqual(['root_id']);
    const nodes = nodeOf(s, 'Node');
    expect(nodes).toHaveLength(3);
    expect(nodes.every((n) => n.inCycle && n.refcnt === 1)).toBe(true);
    const next = s.edges.filter((e) => e.label === '.next');
    expect(next).toHaveLength(3);
    expect(next.every((e) => e.cycle)).toBe(true);
    expect(s.edges.filter((e) => e.label === '.val').every((e) => !e.cycle)).toBe(true);
    expect(f.dot.match(/label=".next" color="#d62828"/g)).toHaveLength(3);
    expect(nodeOf(s, 'int').every((n) => n.immortal)).toBe(true);
    expect(f.dot).toContain('immortal (4294967295)');
    // Without gc.collect() the cycle survives the function: the last frame still shows it.
    expect(before.outcome.kind).toBe('ok');
    expect(nodeOf(before.frames.at(-1)!.snapshot, 'Node')).toHaveLength(3);
  });
  it('after gc.collect(): root_id names freed memory (was Node), no cycle left', () => {
    expect(after.outcome.kind).toBe('use-after-free');
    const end = after.frames.at(-1)!;
    expect(end.end).toBe(true);
    expect(end.snapshot.nodes).toHaveLength(1);
    expect(end.snapshot.nodes[0]).toMatchObject({ state: 'freed', type: 'Node' });
    expect(end.snapshot.edges).toEqual([]);
    expect(end.svg).toContain('was Node');
    assertWellFormedXml(end.svg!);
  });
});

/** Every accounted node's holders add up to its refcount. */
function expectAccounted(s: HeapSnapshot): void {
  expect(s.accounted).toBe(true);
  for (const n of s.nodes) {
    if (n.state !== 'live' || n.immortal) continue;
    expect(n.holders, n.hex).toBeDefined();
    expect(n.holders!.reduce((t, h) => t + h.count, 0) + n.unexplained!).toBe(Number(n.refcnt));
  }
}

describe('holders in the pictures: C API arrows and unexplained references', () => {
  // A runtime that attributes the C API's references (a capi holder, with its call site when it
  // tracks) draws the arrow; one that does not reports the reference as unexplained.
  it.each([false, true])('a capi.Py_INCREF not given back: a dashed C API arrow, or a red +1 unexplained note (track: %s)', async (track) => {
    using rt = Runtime.create({ build: 'debug', track });
    const A = rt.defineClass('A');
    using x = A.new({ t: 'text' });
    using l = rt.list([x]);
    rt.capi.Py_INCREF(x.id);
    const s = snapshot(rt, { x, l });
    expectAccounted(s);
    const node = s.nodes.find((n) => n.id === x.id)!;
    const dot = toDot(s, { legend: true });
    const capi = node.holders!.find((h) => h.kind === 'capi');
    if (capi) {
      // the runtime attributes the reference to the C API: an arrow from the "C API" box
      expect(node.unexplained).toBe(0);
      expect(dot).toMatch(/capi \[label=<.*<B>C API<\/B>/);
      expect(dot).toMatch(new RegExp(`capi -> o${x.id} \\[style=dashed color="${DRAW_COLORS.capi}" .*label="not given back.*class="capi"\\]`));
      if (capi.site !== undefined) expect(dot).toMatch(/label="not given back\\ndraw\.test\.ts:\d+:\d+"/);
    } else {
      expect(node.unexplained).toBe(1);
      expect(dot).toContain(`u${x.id} [shape=note style=filled fillcolor="${DRAW_COLORS.unexplainedFill}" color="${DRAW_COLORS.unexplained}" fontcolor="${DRAW_COLORS.unexplained}" fontsize=11 label="+1 unexplained\\ntaken, never given back" class="unexplained"];`);
      expect(dot).toContain(`u${x.id} -> o${x.id} [color="${DRAW_COLORS.unexplained}" penwidth=1.6 class="unexplained"];`);
    }
    // the other arrows keep their holders' labels, and nothing else is unexplained
    expect(dot).toContain(`n_x -> o${x.id} [penwidth=1.6 label="ref"]`);
    expect(dot).toContain(`o${l.id} -> o${x.id} [label="[0]"]`);
    expect(s.nodes.filter((n) => n.unexplained).map((n) => n.id)).toEqual(capi ? [] : [x.id]);
    rt.capi.Py_DECREF(x.id);
    const svg = await toSvg(dot);
    assertWellFormedXml(svg);
    expect(svg).toContain(capi ? 'not given back' : '+1 unexplained');
  });

  it('an extra capi.Py_DECREF: a red -1 unexplained mark on the object its holders still point at', () => {
    using rt = Runtime.create({ build: 'debug' });
    using s1 = rt.str('payload');
    using l = rt.list([s1, s1]);
    rt.capi.Py_DECREF(s1.id); // one too many: the list and the Ref hold 3, the count says 2
    const s = snapshot(rt, { l });
    expectAccounted(s);
    expect(s.nodes.find((n) => n.id === s1.id)).toMatchObject({ refcnt: 2, unexplained: -1 });
    const dot = toDot(s);
    expect(dot).toContain('label="-1 unexplained\\nreleased behind a holder\'s back" class="unexplained"];');
    expect(dot).toContain(`u${s1.id} -> o${s1.id} [color="${DRAW_COLORS.unexplained}" penwidth=1.6 style=dashed arrowhead=tee class="unexplained"];`);
    expect(dot.match(/class="unexplained"\]/g)).toHaveLength(2);
    rt.capi.Py_INCREF(s1.id);
  });

  it('a C API holder with its call site: the site (file:line:col) on the arrow, the whole path in its tooltip', () => {
    // the C API holder as rt.refs.explain reports it when the runtime knows the call site
    using rt = Runtime.create();
    using x = rt.defineClass('A').new();
    const s = snapshot(rt, { x }, { depth: 0 });
    const node = s.nodes[0]!;
    const site = '/home/me/src/ext.mjs:12:7';
    const withCapi: HeapSnapshot = { ...s, nodes: [{ ...node, holders: [...node.holders!, { kind: 'capi', count: 2, site }, { kind: 'capi', count: 1 }] }] };
    const dot = toDot(withCapi);
    expect(dot.match(/^ {4}capi \[label=/gm)).toHaveLength(1);
    expect(dot).toContain(`capi -> o${x.id} [style=dashed color="${DRAW_COLORS.capi}" fontcolor="${DRAW_COLORS.capi}" penwidth=1.6 label="2 refs, not given back\\next.mjs:12:7" tooltip="2 refs, not given back, taken at ${site}" class="capi"];`);
    expect(dot).toContain(`capi -> o${x.id} [style=dashed color="${DRAW_COLORS.capi}" fontcolor="${DRAW_COLORS.capi}" penwidth=1.6 label="not given back" tooltip="not given back" class="capi"];`);
    expect(toDot(s)).not.toContain('capi');
  });

  it('the talk\'s pictures: every holder accounted, nothing unexplained; unguarded runtimes skip the accounting', async () => {
    for (const name of ['exp_0', 'exp_5', 'exp_5_gc_collect']) {
      const d = await drawScenario(name);
      for (const f of d.frames) {
        expectAccounted(f.snapshot);
        expect(f.dot).not.toContain('unexplained');
      }
    }
    using rt = Runtime.create({ guard: false });
    using l = rt.list([1]);
    rt.capi.Py_INCREF(l.id);
    const s = snapshot(rt, { l });
    expect(s.accounted).toBe(false);
    expect(s.nodes.every((n) => n.holders === undefined && n.unexplained === undefined)).toBe(true);
    expect(toDot(s)).not.toMatch(/unexplained|capi/);
    rt.capi.Py_DECREF(l.id);
    using guarded = Runtime.create();
    expect(snapshot(guarded, {}, { account: false }).accounted).toBe(false);
  });
});

describe('objgraph-style helpers', () => {
  it('showRefs / showBackrefs / showGrowth', async () => {
    using rt = Runtime.create();
    const Node = rt.defineClass('Node');
    showGrowth(rt);
    const a = Node.new({ val: 1 });
    const holder = rt.list([a]);
    const d = rt.dict({ k: a });
    const before = a.refcnt;
    const refs = showRefs(holder, { depth: 1 });
    expect(refs.snapshot.nodes.map((n) => n.type).sort()).toEqual(['Node', 'list']);
    const back = showBackrefs(a, { depth: 1 });
    expect(a.refcnt).toBe(before);
    const labels = back.snapshot.edges.map((e) => e.label).sort();
    expect(labels).toEqual(["['k']", '[0]']);
    expect(back.snapshot.nodes.find((n) => n.id === a.id)?.refcnt).toBe(before);
    const svg = await back.svg();
    expect(svg).toContain('[&#39;k&#39;]');
    let text = '';
    const rows = showGrowth(rt, { print: (t) => (text += t) });
    expect(rows).toEqual(
      expect.arrayContaining([{ type: 'Node', count: 1, delta: 1 }, expect.objectContaining({ type: 'list', delta: 1 }), { type: 'dict', count: 1, delta: 1 }]),
    );
    expect(text).toMatch(/^Node\s+1\s+\+1$/m);
    expect(showGrowth(rt)).toEqual([]);
    expect(await toSvg('digraph { a -> b }')).toContain('<svg');
    for (const r of [a, holder, d]) r.release();
  });

  it('a root that is not an integer address is refused; names with NUL still render', async () => {
    // Found this session: a NaN root hung snapshot() (its cycle search compares addresses with
    // ===), and a NUL in an attribute name made Graphviz fail on the label.
    using rt = Runtime.create();
    for (const bad of [NaN, 0.5, -8, Infinity]) {
      expect(() => snapshot(rt, { x: bad })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ADDRESS' }));
    }
    using a = rt.defineClass('A').new();
    a.setattr('a\u0000b', 1);
    const svg = await toSvg(snapshot(rt, { 'root\u0000name': a }));
    expect(svg).toContain('a\u2400b');
  });
});

describe('refcount-lab draw (CLI) and index.html in headless Chromium', () => {
  const out = mkdtempSync(join(tmpdir(), 'rcl-draw-'));
  it('writes one SVG per printed line and an index page', () => {
    expect(existsSync(CLI), 'run `npx tsc -p tsconfig.json` first').toBe(true);
    const r = spawnSync(process.execPath, [CLI, 'draw', 'exp_0', '--out', out], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toContain('index.html');
    expect(files.filter((f) => f.endsWith('.svg'))).toHaveLength(10);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('ArrowRight');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
    expect(html.match(/<section class="slide"/g)).toHaveLength(10);
  });

  const chromium = ensureChromium();
  it.skipIf(!chromium)(chromium ? 'index.html screenshot is a non-blank PNG' : 'SKIPPED: chromium could not be installed (apt-get install -y chromium failed)', () => {
    const png = join(out, 'shot.png');
    const profile = mkdtempSync(join(tmpdir(), 'rcl-chromium-'));
    spawnSync(
      chromium as string,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, `--screenshot=${png}`, '--window-size=1200,900', `file://${join(out, 'index.html')}#3`],
      { timeout: 90_000, encoding: 'utf8', env: plainEnv() },
    );
    expect(existsSync(png)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(5000);
    expect(distinctColours(readFileSync(png))).toBeGreaterThan(8);
  }, 120_000);
});

/** The environment without the sanitizer preload (test:asan sets LD_PRELOAD for node only). */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['LD_PRELOAD'];
  return env;
}

/** /usr/bin/chromium, installing Debian's package when missing; null when that fails. */
function ensureChromium(): string | null {
  const bin = '/usr/bin/chromium';
  if (existsSync(bin)) return bin;
  try {
    execFileSync('apt-get', ['update'], { stdio: 'ignore', timeout: 300_000, env: plainEnv() });
    execFileSync('apt-get', ['install', '-y', 'chromium'], { stdio: 'ignore', timeout: 600_000, env: { ...plainEnv(), DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    return null;
  }
  return existsSync(bin) ? bin : null;
}

/** Distinct RGB colours in a PNG (8-bit RGB/RGBA, non-interlaced: what Chromium writes). */
function distinctColours(buf: Buffer): number {
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let off = 8;
  let width = 0;
  let height = 0;
  let colorType = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect(data[8]).toBe(8);
      colorType = data[9] as number;
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const bpp = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  expect(bpp).toBeGreaterThan(0);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const prev = Buffer.alloc(stride);
  const cur = Buffer.alloc(stride);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    const base = y * (stride + 1);
    const filter = raw[base] as number;
    for (let x = 0; x < stride; x++) {
      const v = raw[base + 1 + x] as number;
      const a = x >= bpp ? (cur[x - bpp] as number) : 0;
      const b = prev[x] as number;
      const c = x >= bpp ? (prev[x - bpp] as number) : 0;
      let p: number;
      if (filter === 0) p = 0;
      else if (filter === 1) p = a;
      else if (filter === 2) p = b;
      else if (filter === 3) p = (a + b) >> 1;
      else {
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[x] = (v + p) & 0xff;
    }
    for (let x = 0; x < stride; x += bpp) colours.add(((cur[x] as number) << 16) | ((cur[x + 1] as number) << 8) | (cur[x + 2] as number));
    cur.copy(prev);
  }
  return colours.size;
}
