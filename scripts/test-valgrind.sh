#!/usr/bin/env bash
# npm run test:valgrind: the workload of scripts/valgrind-workload.mjs under memcheck, against the
# normal build (dist/ + build/Release). Any memcheck error fails (--error-exitcode=1). Node's own
# JIT is not what is checked: errors whose stacks lie only in node/V8 are suppressed by
# scripts/valgrind-node.supp; errors in refcount_*.node are not.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 0; }
t0=$(date +%s)
valgrind --tool=memcheck --error-exitcode=1 --leak-check=no --track-origins=no \
  --suppressions=scripts/valgrind-node.supp --quiet \
  node --jitless scripts/valgrind-workload.mjs "${VALGRIND_OPS:-2000}"
echo "== valgrind: clean in $(( $(date +%s) - t0 ))s"
