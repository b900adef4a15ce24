/**
 * `node dist/cli/replay-child.js <json spec>`: one cell of the `replay` command. Replays the
 * trace file under one build and mode (guarded cells with tracking, so their errors and audit
 * name trace lines), writing to stderr the seq of each line before it runs, the first line that
 * raised a reference error and the first that ended otherwise than recorded, and at the end the cell's summary
 * (lib/cli/replay.ts reads them). A crash ends the process between two of those.
 */
import { readFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type { Build } from '../binding.js';
import { Runtime } from '../runtime/index.js';
import { formatAudit } from '../runtime/refs.js';
import { LIFETIME_ERRORS, parseTrace, replayTrace } from '../trace.js';
import { ERROR_MARKER, LINE_MARKER, MISMATCH_MARKER, SUMMARY_MARKER, type CellSummary } from './replay.js';

interface Spec {
  readonly file: string;
  readonly build: Build;
  readonly guard: boolean;
}

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  const lines = parseTrace(readFileSync(spec.file, 'utf8'));
  const rt = Runtime.create({ build: spec.build, guard: spec.guard, track: spec.guard, stderr: (t) => void writeSync(2, t) });
  let errorSeen = false;
  let mismatchSeen = false;
  const r = replayTrace(rt, lines, {
    source: basename(spec.file),
    beforeLine: (l) => void writeSync(2, `${LINE_MARKER}${l.seq}\n`),
    afterLine: (step, inner) => {
      for (const s of [step, ...inner]) {
        if (!errorSeen && LIFETIME_ERRORS.includes(s.outcome)) {
          errorSeen = true;
          const message = s.error instanceof Error ? (s.error.message.split('\n')[0] ?? '') : '';
          writeSync(2, `${ERROR_MARKER}${JSON.stringify({ seq: s.line.seq, code: s.outcome, message })}\n`);
        }
        if (!mismatchSeen && !s.matches) {
          mismatchSeen = true;
          writeSync(2, `${MISMATCH_MARKER}${JSON.stringify({ seq: s.line.seq, expected: s.expected, outcome: s.outcome })}\n`);
        }
      }
    },
  });
  let audit: CellSummary['audit'];
  if (spec.guard) {
    const a = rt.refs.audit();
    audit = { ok: a.ok, objects: a.objects, unexplained: a.unexplained.length, dangling: a.dangling.length, danglingRefs: a.danglingRefs.length, text: formatAudit(a) };
  }
  const summary: CellSummary = { lines: r.steps.length, mismatches: r.mismatches, notReplayed: r.notReplayed.length, ...(audit === undefined ? {} : { audit }) };
  writeSync(2, `\n${SUMMARY_MARKER}${JSON.stringify(summary)}\n`);
  // the heap may be corrupt (that is what a replay of a bug shows): no close(), no deallocators
  process.exit(0);
}

main();
