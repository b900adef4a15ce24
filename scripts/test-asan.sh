#!/usr/bin/env bash
# npm run test:asan: the whole vitest suite against the ASan/UBSan builds of the three .node
# files. Node itself is not instrumented, so libasan is preloaded. Tests that are MEANT to crash
# (child processes expecting SIGSEGV / SIGABRT) skip themselves when RCL_SANITIZER=1: under
# ASan a wild read is ASan's report and exit 1, not the signal they assert.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/build-asan.sh
t1=$(date +%s)
echo "== asan build: $((t1 - t0))s"
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
export REFCOUNT_LAB_BINARY_DIR=$PWD/build-asan/build/Release
export LD_PRELOAD="$asan $ubsan"
# allocator_may_return_null: huge requests (list * 2**40) must fail as NULL -> ERR_NO_MEMORY, as
# with glibc, instead of ASan aborting on them
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export RCL_SANITIZER=1
# the fuzzer's quota under the sanitizers (about 10x slower): a tenth
export FUZZ_OPS=${FUZZ_OPS:-100000}
npx vitest run
echo "== asan tests: $(( $(date +%s) - t1 ))s"
