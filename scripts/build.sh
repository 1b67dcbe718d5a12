#!/usr/bin/env bash
# Builds one configuration: scripts/build.sh [release|asan|debug|fuzz]
# into build/<name>. Prints the build directory on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
cmake --preset "$preset" >/dev/null
cmake --build "build/$preset" -j"$(nproc)" >/dev/null
echo "build/$preset"
