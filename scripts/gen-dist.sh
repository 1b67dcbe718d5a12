#!/usr/bin/env bash
# Generates, at build time, the files `cmake --install` and the Debian
# package ship besides the binaries, all from the binaries themselves so
# they cannot drift from the code:
#   wspush.1.gz, wspush-bench.1.gz   man pages: each command's --help verbatim
#   wspush.service                   wspush tune --emit systemd, ExecStart= BINDIR/wspush
#                                    serve --config SYSCONFDIR/wspush/wspush.yaml
#   60-wspush.conf, 90-wspush.conf   wspush tune --emit sysctl / limits
# The tune files are planned for --conns 1000000 against an empty /proc
# (--proc-root), so they depend on N only, never on the build machine.
# Usage: scripts/gen-dist.sh WSPUSH_BIN WSPUSH_BENCH_BIN|- OUT_DIR VERSION BINDIR SYSCONFDIR
set -euo pipefail
bin=$1 bench=$2 out=$3 version=$4 bindir=$5 sysconfdir=${6:-/etc}
conns=1000000
mkdir -p "$out"
empty=$(mktemp -d)
trap 'rmdir "$empty"' EXIT

# roff-safe verbatim text: backslashes, leading dots/quotes, minus signs
roff() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" -e 's/-/\\-/g'; }

# page NAME SUMMARY, then sections as pairs: TITLE COMMAND...(as one string)
page() {
  local name=$1 summary=$2; shift 2
  local date=""   # reproducible: a date only from SOURCE_DATE_EPOCH
  [ -z "${SOURCE_DATE_EPOCH:-}" ] || date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
  {
    echo ".TH $(echo "$name" | tr a-z A-Z) 1 \"$date\" \"wspush $version\" \"User Commands\""
    echo ".SH NAME"
    echo "$name \\- $summary"
    while [ $# -gt 0 ]; do
      echo ".SH $1"
      echo ".nf"
      eval "$2" | roff
      echo ".fi"
      shift 2
    done
    echo ".SH FILES"
    echo ".nf"
    echo "/etc/wspush/wspush.yaml        example configuration (keys = long option names)"
    echo "/usr/lib/systemd/system/wspush.service"
    echo "/usr/share/wspush/60\\-wspush.conf  sysctl drop\\-in (wspush tune \\-\\-emit sysctl)"
    echo "/usr/share/wspush/90\\-wspush.conf  limits.d snippet (wspush tune \\-\\-emit limits)"
    echo ".fi"
    echo ".SH SEE ALSO"
    echo "wspush(1), wspush\\-bench(1), and /usr/share/doc/wspush/ (README, docs/)."
  } | gzip -9n > "$out/$name.1.gz"
}

page wspush "WebSocket push server for a million connections" \
  DESCRIPTION "\"$bin\" --help" \
  "WSPUSH SERVE" "\"$bin\" serve --help" \
  "WSPUSH PUBLISH" "\"$bin\" publish --help" \
  "WSPUSH TUNE" "\"$bin\" tune --help"
if [ "$bench" != - ]; then
  page wspush-bench "load generator for wspush (many WebSocket clients)" \
    DESCRIPTION "\"$bench\" --help"
fi

"$bin" tune --conns $conns --proc-root "$empty" --emit systemd --bin "$bindir/wspush" \
  --config "$sysconfdir/wspush/wspush.yaml" > "$out/wspush.service"
"$bin" tune --conns $conns --proc-root "$empty" --emit sysctl > "$out/60-wspush.conf"
"$bin" tune --conns $conns --proc-root "$empty" --emit limits > "$out/90-wspush.conf"
