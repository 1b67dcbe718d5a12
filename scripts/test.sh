#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what is missing,
# checks the C formatting (scripts/check-format.sh) and that the docs quote
# the code (scripts/check-docs.sh), builds with gcc in release and ASan+UBSan
# configurations, and runs every ctest label (unit, fuzz-replay, integration,
# soak) in both; builds the Debian package and smoke-tests it installed
# (scripts/package-test.sh); then builds the
# whole tree with clang (fuzz preset: libFuzzer + ASan/UBSan), runs the unit
# tests there too and each fuzz target for a bounded time; last, the server
# under valgrind at a small scale.
#   FUZZ_SECONDS=N   seconds per fuzz target (default 20; 0 skips fuzzing)
#   VALGRIND=0       skips the valgrind run
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# Loopback load in the tests needs a deeper accept queue than Debian's default.
if [ "$(id -u)" = 0 ]; then
  sysctl -qw net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
            net.ipv4.ip_local_port_range="1024 65535" 2>/dev/null || true
fi

# A test that skips because something it needs was not built or installed
# fails here (tests/integration/conftest.py); platform skips stay skips.
export WSPUSH_STRICT_SKIPS=1

status=0
echo "=== check: clang-format"
scripts/check-format.sh || status=1
for preset in release asan; do
  echo "=== build: $preset"
  scripts/build.sh "$preset" >/dev/null
  if [ "$preset" = release ]; then
    # early: the numbers the docs quote against the code and the binary
    echo "=== check: docs quote the code"
    scripts/check-docs.sh build/release || status=1
  fi
  echo "=== test: $preset"
  if ! ctest --test-dir "build/$preset" --output-on-failure -j1 --timeout 1500; then
    status=1
  fi
done

echo "=== package: cpack -G DEB, dpkg -i into a throwaway root, smoke test"
scripts/package-test.sh || status=1

fuzz_s=${FUZZ_SECONDS:-20}
if [ "$fuzz_s" != 0 ]; then
  echo "=== build: fuzz (clang, libFuzzer, ASan+UBSan)"
  scripts/build.sh fuzz >/dev/null
  echo "=== test: unit tests built with clang"
  ctest --test-dir build/fuzz -L unit --output-on-failure -j1 || status=1
  echo "=== fuzz: ${fuzz_s}s per target"
  for f in build/fuzz/fuzz_*; do
    name=$(basename "$f"); corpus=tests/fuzz/corpus/${name#fuzz_}
    dict=tests/fuzz/dict/${name#fuzz_}.dict
    work=$(mktemp -d); cp -r "$corpus/." "$work/" 2>/dev/null || true
    args=(-max_total_time="$fuzz_s" -print_final_stats=1 -detect_leaks=1 -timeout=10
          -artifact_prefix="build/fuzz/$name-")
    [ -f "$dict" ] && args+=(-dict="$dict")
    if "$f" "${args[@]}" "$work" >"build/fuzz/$name.log" 2>&1; then
      runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build/fuzz/$name.log" | grep -o '[0-9]*$' || true)
      echo "fuzz $name: ok (${runs:-?} runs in ${fuzz_s}s)"
    else
      echo "fuzz $name: FAILED (see build/fuzz/$name.log)"; tail -40 "build/fuzz/$name.log"; status=1
    fi
    rm -rf "$work"
  done
fi

if [ "${VALGRIND:-1}" != 0 ]; then
  echo "=== valgrind: the server under memcheck, small scale"
  scripts/valgrind-check.sh || status=1
fi
[ $status = 0 ] && echo "ALL TESTS PASSED" || echo "SOME TESTS FAILED"
exit $status
