#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what is missing,
# builds with gcc in release and ASan+UBSan configurations, and runs every
# ctest label (unit, fuzz-replay, integration) in both; then builds the
# libFuzzer targets with clang and runs each for a bounded time.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# Loopback load in the tests needs a deeper accept queue than Debian's default.
if [ "$(id -u)" = 0 ]; then
  sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
            net.ipv4.ip_local_port_range="1024 65535" 2>/dev/null || true
fi

status=0
for preset in release asan; do
  echo "=== build: $preset"
  scripts/build.sh "$preset" >/dev/null
  echo "=== test: $preset"
  if ! ctest --test-dir "build/$preset" --output-on-failure -j1 --timeout 1500; then
    status=1
  fi
done

fuzz_s=${FUZZ_SECONDS:-20}
if [ "$fuzz_s" != 0 ]; then
  echo "=== fuzz: clang libFuzzer, ${fuzz_s}s per target"
  scripts/build.sh fuzz >/dev/null
  for f in build/fuzz/fuzz_*; do
    name=$(basename "$f"); corpus=tests/fuzz/corpus/${name#fuzz_}
    dict=tests/fuzz/dict/${name#fuzz_}.dict
    work=$(mktemp -d); cp -r "$corpus/." "$work/" 2>/dev/null || true
    args=(-max_total_time="$fuzz_s" -print_final_stats=0 -detect_leaks=1 -artifact_prefix="build/fuzz/$name-")
    [ -f "$dict" ] && args+=(-dict="$dict")
    if "$f" "${args[@]}" "$work" >"build/fuzz/$name.log" 2>&1; then
      echo "fuzz $name: ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "build/fuzz/$name.log" | awk '{print $2}' || true) runs)"
    else
      echo "fuzz $name: FAILED (see build/fuzz/$name.log)"; tail -30 "build/fuzz/$name.log"; status=1
    fi
    rm -rf "$work"
  done
fi
[ $status = 0 ] && echo "ALL TESTS PASSED" || echo "SOME TESTS FAILED"
exit $status
