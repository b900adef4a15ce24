#!/usr/bin/env bash
# Builds the three builds with -fsanitize=address,undefined (binding.gyp's RCL_SANITIZE=1
# condition) into build-asan/, beside the normal build: binding.gyp is copied, native/ and
# node_modules/ are symlinked. The .node files land in build-asan/build/Release.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mkdir -p build-asan
cp binding.gyp build-asan/
ln -sfn "$root/native" build-asan/native
ln -sfn "$root/node_modules" build-asan/node_modules
cd build-asan
# the headers npm's node-gyp uses (npm config nodedir), when set
args=()
nodedir=$(cd "$root" && npm config get nodedir 2>/dev/null || true)
if [ -n "$nodedir" ] && [ "$nodedir" != undefined ] && [ "$nodedir" != null ]; then args+=(--nodedir="$nodedir"); fi
RCL_SANITIZE=1 "$root/node_modules/.bin/node-gyp" rebuild -j "${JOBS:-2}" "${args[@]}" >build.log 2>&1 || { tail -40 build.log; exit 1; }
echo "== ASan/UBSan builds in $PWD/build/Release"
