#!/usr/bin/env bash
# Builds and runs the native tests of the core alone (no Node): the allocator's
# (test/native/obmalloc_test.cc) and the object model's + collector's with its libFuzzer-style
# entry point (test/native/core_test.cc): -O2 for each build define, then once with ASan + UBSan
# and the expensive checks. Usage: scripts/native-test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${RCL_NATIVE_OUT:-build/native-test}
mkdir -p "$out"
CXX=${CXX:-g++}
flags=(-std=c++17 -Wall -Wextra -Werror -Inative/core)
srcs=(native/core/obmalloc.cc test/native/obmalloc_test.cc)
core_srcs=(native/core/*.cc native/core/types/*.cc test/native/core_test.cc)
declare -A extra=(
  [release]="-O2 -DRCL_BUILD_RELEASE"
  [debug]="-O2 -DRCL_BUILD_DEBUG"
  [nodealloc]="-O2 -DRCL_BUILD_NODEALLOC"
  [asan]="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -DRCL_BUILD_DEBUG -DRCL_EXPENSIVE_CHECKS"
)
names=(release debug nodealloc asan)
pids=()
for n in "${names[@]}"; do
  # shellcheck disable=SC2086
  "$CXX" "${flags[@]}" ${extra[$n]} "${srcs[@]}" -o "$out/obmalloc_test_$n" &
  pids+=($!)
  # shellcheck disable=SC2086
  "$CXX" "${flags[@]}" ${extra[$n]} "${core_srcs[@]}" -o "$out/core_test_$n" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ $status -eq 0 ] || { echo "compile failed"; exit 1; }
for n in "${names[@]}"; do
  echo "== $n"
  if [ "$n" = asan ]; then export ASAN_OPTIONS=detect_leaks=1; fi
  "$out/obmalloc_test_$n" | tail -n 15
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  "$out/core_test_$n" | tail -n 15
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
exit $status
