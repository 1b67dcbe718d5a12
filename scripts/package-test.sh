#!/usr/bin/env bash
# Builds the Debian package with CPack, installs it with `dpkg -i` and
# smoke-tests the installed binary without systemd: it serves the demo page,
# its admin port answers, a WebSocket client receives a tick. Then removes it.
#
# The package is built in build/package (prefix /usr, tests off). By default
# it is installed into a throwaway root: a temporary directory holding a copy
# of this machine's dpkg database, so `dpkg --root DIR -i` checks the
# package's Depends against what is really installed and runs its scripts,
# without touching the system. WSP_PACKAGE_INSTALL=system installs it into
# this machine instead (a throwaway CI machine; refused when a wspush package
# is already installed). Run by scripts/test.sh; needs dpkg-dev (dpkg-shlibdeps).
# Usage: scripts/package-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
b=build/package
mode=${WSP_PACKAGE_INSTALL:-root}

echo "package: build (prefix /usr, tests off) and cpack -G DEB"
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DWSP_BUILD_TESTS=OFF >/dev/null
cmake --build "$b" -j"$(nproc)" >/dev/null
rm -f "$b"/wspush_*.deb
(cd "$b" && cpack -G DEB) >"$b/cpack.log" 2>&1 || { cat "$b/cpack.log" >&2; echo "package: cpack failed" >&2; exit 1; }
deb=$(ls "$b"/wspush_*.deb)
version=$(dpkg-deb -f "$deb" Version)

fail() { echo "package: FAILED: $*" >&2; exit 1; }

# ---- what the package declares and holds
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libssl3 libhiredis liburing2 zlib1g; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/wspush/wspush.yaml ||
  fail "/etc/wspush/wspush.yaml is not a conffile"
files=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/wspush ./usr/bin/wspush-bench ./usr/share/man/man1/wspush.1.gz \
         ./usr/share/man/man1/wspush-bench.1.gz ./usr/lib/systemd/system/wspush.service \
         ./etc/wspush/wspush.yaml ./usr/share/wspush/60-wspush.conf \
         ./usr/share/wspush/90-wspush.conf ./usr/share/wspush/wspush.json \
         ./usr/share/wspush/wspush-alerts.yml; do
  grep -qx -- "$f" <<<"$files" || fail "$f is not in the package"
done
echo "package: $(basename "$deb"): Depends: $depends"

# ---- install
work=$(mktemp -d /tmp/wspush-pkg.XXXXXX)
srv=""
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
  if [ "$mode" = system ]; then dpkg --purge wspush >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$mode" = system ]; then
  dpkg-query -W -f='${Status}' wspush 2>/dev/null | grep -q "install ok" &&
    fail "a wspush package is already installed here; not replacing it"
  root=""
  dpkg -i "$deb" >/dev/null
else
  root=$work/root
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/log"
  cp /var/lib/dpkg/status "$root/var/lib/dpkg/status"
  # empty file lists: the copied packages own no files here (else one warning each)
  dpkg-query -W -f='${binary:Package}\n' | sed "s|.*|$root/var/lib/dpkg/info/&.list|" |
    xargs touch
  touch "$root/var/lib/dpkg/available"
  force=()
  [ "$(id -u)" = 0 ] || force=(--force-not-root)
  dpkg --root="$root" --log=/dev/null "${force[@]}" -i "$deb" >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
fi
dpkg-query ${root:+--root="$root"} -W -f='${Status}' wspush | grep -q "install ok installed" ||
  fail "dpkg does not list wspush as installed"
bin=$root/usr/bin/wspush
echo "package: installed into ${root:-the system}"

# ---- smoke test of the installed files
[ "$("$bin" --version)" = "wspush $version" ] || fail "--version is not 'wspush $version'"
"$root/usr/bin/wspush-bench" --help >/dev/null
unit=$root/usr/lib/systemd/system/wspush.service
grep -q "^ExecStart=/usr/bin/wspush serve --config /etc/wspush/wspush.yaml " "$unit" ||
  fail "the unit does not start /usr/bin/wspush with --config /etc/wspush/wspush.yaml"
# the unit's command line, with the installed example config, is valid
read -r -a exec_args <<< "$(sed -n 's/^ExecStart=\/usr\/bin\/wspush //p' "$unit")"
exec_args=("${exec_args[@]/#\/etc\/wspush\/wspush.yaml/$root/etc/wspush/wspush.yaml}")
"$bin" "${exec_args[@]}" --print-config > "$work/unit-config.yaml" ||
  fail "the unit's ExecStart does not parse: ${exec_args[*]}"
grep -q "^max-conns: 1000000$" "$work/unit-config.yaml" ||
  fail "--print-config of the unit's command line lacks max-conns: 1000000"
zcat "$root/usr/share/man/man1/wspush.1.gz" > "$work/wspush.1"
grep -qF 'max\-conns' "$work/wspush.1" || fail "man page lacks the options"
if command -v groff >/dev/null; then
  warn=$(groff -man -Tutf8 -ww -z "$work/wspush.1" 2>&1)
  [ -z "$warn" ] || fail "man page: $warn"
fi

"$bin" serve --listen 127.0.0.1:0 --admin 127.0.0.1:0 --workers 1 --tick 100ms \
  --max-conns 1000 2>"$work/serve.log" &
srv=$!
line=""
for _ in $(seq 200); do  # wait for the "listening" line, up to 10 s
  line=$(grep -m1 -o 'listening on [0-9.]*:[0-9]*, admin on [0-9.]*:[0-9]*' "$work/serve.log" || true)
  [ -n "$line" ] && break
  kill -0 "$srv" 2>/dev/null || break
  sleep 0.05
done
[ -n "$line" ] || { cat "$work/serve.log" >&2; fail "the installed wspush did not start"; }
port=$(sed 's/listening on [0-9.]*:\([0-9]*\),.*/\1/' <<<"$line")
aport=$(sed 's/.*admin on [0-9.]*:\([0-9]*\)$/\1/' <<<"$line")

get() { curl -fsS --max-time 10 -o "$work/body" "$1"; }   # then grep the file: no SIGPIPE
get "http://127.0.0.1:$port/demo" && grep -qi '<html' "$work/body" || fail "GET /demo"
get "http://127.0.0.1:$port/healthz" && grep -q '"status":"ok"' "$work/body" || fail "GET /healthz"
get "http://127.0.0.1:$aport/metrics" &&
  grep -q "wspush_build_info{version=\"$version\"} 1" "$work/body" || fail "GET /metrics on the admin port"
/usr/bin/python3 - "$port" <<'EOF' || fail "no tick over WebSocket"
import asyncio, sys
import websockets

async def main(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as ws:
        msg = await asyncio.wait_for(ws.recv(), 10)
        assert msg[:2] == "20", msg  # the ticker's ISO 8601 UTC time
        print(f"package: tick received: {msg}")

asyncio.run(main(int(sys.argv[1])))
EOF
kill -TERM "$srv"
wait "$srv" || fail "wspush serve exited with $? on SIGTERM"
srv=""

# ---- remove
if [ "$mode" = system ]; then
  dpkg --purge wspush >/dev/null
  [ ! -e /usr/bin/wspush ] && [ ! -e /etc/wspush/wspush.yaml ] || fail "purge left files behind"
else
  dpkg --root="$root" --log=/dev/null "${force[@]}" --purge wspush >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log" >&2; fail "dpkg --purge"; }
  [ ! -e "$root/usr/bin/wspush" ] && [ ! -e "$root/etc/wspush/wspush.yaml" ] ||
    fail "purge left files behind"
fi
echo "package: ok (built, installed, served the demo and a tick, purged)"
