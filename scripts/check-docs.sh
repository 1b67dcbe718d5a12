#!/usr/bin/env bash
# Checks that README.md and docs/ say what the code does (run early by
# scripts/test.sh; a few seconds):
#   - every size quoted for the connection struct ("80-byte connection
#     struct", "`struct conn` is 80 bytes", the _Static_assert bound) is the
#     real sizeof(struct conn), from a tiny probe compiled against
#     src/server/server_int.h, and the bound quoted is the static assert's;
#   - the defaults README's option table and the docs' prose quote ("`--x`,
#     default `v`") are those of `wspush serve --help`;
#   - docs/config.md (scripts/gen-config-doc.sh), deploy/wspush.yaml
#     (scripts/gen-example-config.sh) and deploy/wspush.service (`wspush tune
#     --emit systemd`) are what their generators print today;
#   - docs/capacity.md's table of the capacity model's constants holds each
#     constant of `wspush tune --rate ... --json` with the code's value;
#   - README lists every HTTP path the public and admin ports route, and
#     /healthz?ready;
#   - no document links a file outside the repository or one that is missing.
# Usage: scripts/check-docs.sh [BUILD_DIR]   (default build/release, built)
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build/release}
[ -x "$b/wspush" ] || { echo "check-docs: $b/wspush is missing: build first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
bad() { echo "check-docs: $*" >&2; status=1; }

# ---- the real size of struct conn
cat > "$tmp/probe.c" <<'EOF'
#include <stdio.h>
#include "server/server_int.h"
int main(void) { printf("%zu\n", sizeof(struct conn)); return 0; }
EOF
${CC:-cc} -std=c11 -D_GNU_SOURCE -Isrc -I"$b/gen" "$tmp/probe.c" -o "$tmp/probe"
conn_size=$("$tmp/probe")
conn_bound=$(sed -n 's/.*_Static_assert(sizeof(struct conn) <= \([0-9]*\).*/\1/p' src/server/server_int.h)
[ -n "$conn_bound" ] || bad "no _Static_assert(sizeof(struct conn) <= N) in src/server/server_int.h"

# ---- generated files are current
cp docs/config.md "$tmp/config.md.committed"
scripts/gen-config-doc.sh "$b"
if ! cmp -s docs/config.md "$tmp/config.md.committed"; then
  bad "docs/config.md is stale: run scripts/gen-config-doc.sh and commit it"
  diff -u "$tmp/config.md.committed" docs/config.md | head -20 >&2 || true
  cp "$tmp/config.md.committed" docs/config.md   # a check leaves the tree as it was
fi
scripts/gen-example-config.sh "$b" "$tmp/wspush.yaml"
cmp -s deploy/wspush.yaml "$tmp/wspush.yaml" ||
  bad "deploy/wspush.yaml is stale: run scripts/gen-example-config.sh and commit it"
mkdir "$tmp/proc"
"$b/wspush" tune --conns 1000000 --proc-root "$tmp/proc" --emit systemd > "$tmp/wspush.service"
cmp -s deploy/wspush.service "$tmp/wspush.service" ||
  bad "deploy/wspush.service differs from: wspush tune --conns 1000000 --emit systemd"

"$b/wspush" tune --conns 1000000 --rate 100000 --proc-root "$tmp/proc" --json > "$tmp/cap.json" ||
  true  # exit 1 = some setting LOW in the empty proc tree: expected

"$b/wspush" serve --help > "$tmp/help.txt"
CONN_SIZE=$conn_size CONN_BOUND=$conn_bound HELP=$tmp/help.txt CAP_JSON=$tmp/cap.json \
  /usr/bin/python3 - <<'EOF' || status=1
import glob, os, re, sys

conn_size, conn_bound = int(os.environ["CONN_SIZE"]), int(os.environ["CONN_BOUND"] or 0)
errors = []
docs = ["README.md"] + sorted(glob.glob("docs/*.md"))
text = {p: open(p, encoding="utf-8").read() for p in docs}

def where(p, t, pos):
    return f"{p}:{t.count(chr(10), 0, pos) + 1}"

# -- struct conn
size_res = [r"(\d+)-byte (?:conn(?:ection)?\b[ -]?)?(?:struct|state|connection struct)",
            r"struct conn`? (?:is|stays|still|of) (?:still )?(\d+) bytes",
            r"struct still (\d+) bytes"]
found = 0
for p, t in text.items():
    for rx in size_res:
        for m in re.finditer(rx, t):
            found += 1
            if int(m.group(1)) != conn_size:
                errors.append(f"{where(p, t, m.start())}: says {m.group(0)!r}, "
                              f"but sizeof(struct conn) is {conn_size}")
    for m in re.finditer(r"sizeof\(struct conn\) <= (\d+)", t):
        found += 1
        if int(m.group(1)) != conn_bound:
            errors.append(f"{where(p, t, m.start())}: quotes the static assert as <= "
                          f"{m.group(1)}, the code says <= {conn_bound}")
if found < 3:
    errors.append(f"only {found} mentions of the connection struct's size found: "
                  "did the wording change? (scripts/check-docs.sh)")

# -- defaults
defaults = {}
for m in re.finditer(r"^  --([a-z-]+) .*\n +\[WSPUSH_\w+, default: (.*)\]$",
                     open(os.environ["HELP"]).read(), re.M):
    defaults[m.group(1)] = m.group(2)
# README's own words for a few defaults: flag -> {code's default: README's}
alias = {"workers": {"0": "CPUs"}, "tick": {"0": "off"}, "tick-topic": {"none": "all"},
         "max-conns-per-ip": {"0": "off"}, "accept-rate": {"0": "off"}, "msg-rate": {"0": "off"}}

def check_default(loc, flag, quoted):
    if flag not in defaults:
        errors.append(f"{loc}: --{flag} is not an option of wspush serve")
        return
    want = defaults[flag]
    if quoted != want and alias.get(flag, {}).get(want) != quoted:
        errors.append(f"{loc}: says --{flag} defaults to {quoted!r}, "
                      f"wspush serve --help says {want!r}")

t = text["README.md"]
checked = 0
for m in re.finditer(r"^\| (`--.*?) \| (.*?) \| .* \|$", t, re.M):
    flags = re.findall(r"`--([a-z-]+)", m.group(1))
    vals = [v.strip().strip("`") for v in m.group(2).split(" / ")]
    if len(vals) == 1:
        vals = vals * len(flags)
    if len(vals) != len(flags):
        errors.append(f"{where('README.md', t, m.start())}: {len(flags)} options, {len(vals)} defaults")
        continue
    for f, v in zip(flags, vals):
        check_default(where("README.md", t, m.start()), f, v)
        checked += 1
for p, t in text.items():
    if p == "docs/config.md":
        continue
    for m in re.finditer(r"`--([a-z-]+)`[^`\n]{0,40}?default `([^`]+)`", t):
        check_default(where(p, t, m.start()), m.group(1), m.group(2)); checked += 1
    for m in re.finditer(r"`--([a-z-]+) ([^`]+)`,? (?:by default|\(the default\))", t):
        check_default(where(p, t, m.start()), m.group(1), m.group(2)); checked += 1
if checked < 15:
    errors.append(f"only {checked} quoted defaults found: did README's option table move?")

# -- the capacity model's constants (src/tune/tune_capacity.c) in docs/capacity.md
import json
try:
    consts = json.load(open(os.environ["CAP_JSON"]))["capacity"]["constants"]
except (ValueError, KeyError) as e:
    consts = []
    errors.append(f"wspush tune --rate ... --json gave no capacity.constants ({e})")
t = text.get("docs/capacity.md", "")
rows = {m.group(1): m for m in re.finditer(r"^\| `([a-z0-9_]+)` \| ([0-9.]+) \|", t, re.M)}
for c in consts:
    m = rows.get(c["name"])
    if not m:
        errors.append(f"docs/capacity.md: no row for the model's constant {c['name']} "
                      f"(= {c['value']:g} in src/tune/tune_capacity.c)")
    elif abs(float(m.group(2)) - c["value"]) > 1e-9 * max(1.0, abs(c["value"])):
        errors.append(f"{where('docs/capacity.md', t, m.start())}: says {c['name']} = "
                      f"{m.group(2)}, the code says {c['value']:g}")
for name, m in rows.items():
    if name not in {c["name"] for c in consts}:
        errors.append(f"{where('docs/capacity.md', t, m.start())}: {name} is not a constant "
                      "of the model (src/tune/tune_capacity.c)")
if len(consts) < 10:
    errors.append(f"only {len(consts)} capacity constants checked: did the JSON change?")

# -- routes in README
readme = text["README.md"]
for src in ("src/server/routes.c", "src/server/admin.c"):
    code = open(src).read()
    for path in sorted(set(re.findall(r'str(?:n?cmp)\(path, "(/[^"]*)"', code))):
        if path in ("/",):
            continue
        if f"`{path}" not in readme and f" {path}" not in readme:
            errors.append(f"README.md does not mention {path} (routed in {src})")
if "/healthz?ready" not in readme:
    errors.append("README.md does not mention /healthz?ready")

# -- links and paths out of the repository
root = os.path.realpath(".")
for p, t in text.items():
    base = os.path.dirname(os.path.realpath(p))
    for m in re.finditer(r"\]\(([^)#\s]+)(?:#[^)]*)?\)|`(\.\./[^`\s]+)`", t):
        target = m.group(1) or m.group(2)
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        path = os.path.realpath(os.path.join(base, target))
        if not (path == root or path.startswith(root + os.sep)):
            errors.append(f"{where(p, t, m.start())}: links {target}, outside the repository")
        elif m.group(1) and not os.path.exists(path):
            errors.append(f"{where(p, t, m.start())}: links {target}, which does not exist")
    for m in re.finditer(r"(?<![\w.])/(?:work|home|tmp/wspush)/[\w./-]+", t):
        errors.append(f"{where(p, t, m.start())}: names a path on one machine: {m.group(0)}")

for e in errors:
    print("check-docs: " + e, file=sys.stderr)
print(f"check-docs: struct conn {conn_size} B (assert <= {conn_bound}), {checked} defaults, "
      f"{len(consts)} capacity constants, "
      f"{len(docs)} documents read")
sys.exit(1 if errors else 0)
EOF
[ $status = 0 ] && echo "check-docs: ok" || echo "check-docs: FAILED"
exit $status
