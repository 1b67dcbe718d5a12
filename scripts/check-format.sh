#!/usr/bin/env bash
# Checks that the C sources match .clang-format (clang-format 14):
#   scripts/check-format.sh          check, print the offending files, exit 1
#   scripts/check-format.sh --fix    rewrite them in place
# Covers src/ loadgen/ tests/unit tests/fuzz bench/*.c, minus the files listed
# in scripts/format-pending.txt (one path a line, '#' comments): files others
# are editing now, to be formatted once their changes are merged. Shrink that
# list; do not grow it.
set -euo pipefail
cd "$(dirname "$0")/.."
cf=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cf" ]; then
  echo "check-format: clang-format 14 is not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
fix=0
[ "${1:-}" = "--fix" ] && fix=1

pending=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' scripts/format-pending.txt)
mapfile -t files < <(git ls-files -co --exclude-standard -- 'src/*.[ch]' 'loadgen/*.[ch]' \
  'tests/unit/*.[ch]' 'tests/fuzz/*.[ch]' 'bench/*.c' | sort -u |
  grep -vxF -f <(printf '%s\n' "$pending") || true)
# a pending file that no longer exists is a stale entry
for p in $pending; do
  [ -e "$p" ] || echo "check-format: stale entry in scripts/format-pending.txt: $p" >&2
done

bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if [ "$fix" = 1 ]; then
    "$cf" -i "$f"
  elif ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: ${#bad[@]} file(s) differ from .clang-format (fix: scripts/check-format.sh --fix):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "check-format: ${#files[@]} files ok"
