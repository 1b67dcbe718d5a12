#!/usr/bin/env bash
# Regenerates docs/config.md from `wspush serve --help` (the option table in
# src/config/config_opt.c is the single source). Usage: scripts/gen-config-doc.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build/release}
{
  echo '# wspush serve — configuration reference'
  echo
  echo 'Generated from `wspush serve --help` and `wspush serve --print-config` (regenerate with `scripts/gen-config-doc.sh`). Every option can be set on the command line, by the environment variable shown in brackets, or in a YAML config file under its long name. Precedence: command line > environment (`WSPUSH_*`) > config file > defaults. Durations: `250ms`, `1s`, `1.5s`, `2m`; sizes: `256KiB`, `64MiB`, `1024`; switches: `on`/`off`. List options (`--protocol`, `--allow-origin`, `--tls-cert`, `--tls-key`) take comma-separated values or may be repeated; in the file they also take a YAML list.'
  echo
  echo '## The config file'
  echo
  echo '`wspush serve --config /etc/wspush/wspush.yaml` (or `WSPUSH_CONFIG=/etc/wspush/wspush.yaml`). The file is one YAML mapping (YAML 1.1, read by libyaml): keys are the long option names without `--`, values are scalars written as on the command line; list options also take a sequence (`allow-origin: [https://a.example, https://b.example]` or one `- item` per line). `~`, `null` or nothing after the colon means empty. Anchors and aliases, nested mappings, several documents and a key given twice are refused.'
  echo
  echo 'Errors name the file and the line, and suggest the nearest option name: `wspush: error: /etc/wspush/wspush.yaml:7: unknown option '"'"'max-con'"'"' (did you mean '"'"'max-conns'"'"'?)`; the server then exits with status 2. A `WSPUSH_*` environment variable that is one or two letters away from an option name (`WSPUSH_MAX_CONN`) gets a warning with the right name; other `WSPUSH_*` variables (`WSPUSH_BIN`, ...) are left alone.'
  echo
  echo '`wspush serve --print-config` prints the settings that would be used (file, environment and flags applied) as a config file and exits: feeding it back with `--config` gives the same settings. Secrets (options whose name holds `token`, `secret` or `password`, and a Redis URL with a password) are never printed: a comment says they are set, or points to their `*-file` option when that is how they were given.'
  echo
  echo '**SIGHUP** reloads the file (and re-reads the environment and flags the server started with). A file that does not parse changes nothing (`config reload failed, keeping the current settings: ...`). Each changed option is logged by the master, as `config reload: changed: max-conns 100 -> 200 (applied)` or `config reload: changed: ring-size 64MiB -> 1MiB (needs a restart)`, then a summary (`config reload: FILE: 3 changes applied, 1 needs a restart`). These apply at once, in the master and in the running workers (no restart, no connection lost): `log-level`, `allow-origin`, `max-conns`, `max-conns-per-ip`, `msg-rate`, `accept-rate`, `max-backlog`, `slow-policy`, `handshake-timeout`, `ping-interval`, `ping-budget`, `pong-timeout`, `sse-heartbeat`, `drain-timeout`, `access-log`, `public-topics`, and `publish-token` (the admin port'"'"'s, in the master). The master writes its new settings to a shared-memory copy and signals each worker, which applies them between events and logs `config reload: N changes applied`. They apply to what comes next: new handshakes see the new origins and limits; a connection keeps a deadline already armed and takes the new interval at its next one; a per-IP limit lowered below what an address already holds refuses its next connections without closing any, and one set where there was none counts the connections accepted from then on. Everything else (`listen`, `admin`, `workers`, `ring-size`, `history-*`, `max-message` and the other size limits, `tls-*` paths, `auth-*`, `redis*`, `tick`, `deflate`, ...) needs a restart. Certificates and token keys are re-read from their files on every SIGHUP, as before (`systemctl reload wspush` sends it).'
  echo
  echo '## Logs'
  echo
  echo 'Logs go to stderr, one line per event. `--log-format text` (the default) writes `2024-05-01T12:00:00.123Z info  [worker 3] message key=value ...`; `--log-format json` writes one JSON object per line with these stable fields, in this order: `ts` (RFC 3339, UTC, milliseconds), `level` (`error`, `warn`, `info`, `debug`), `pid`, `role` (`master` or `worker`), `worker` (its slot number, workers only), `msg`, then the fields of the event (for example `event`, `status`, `reason`, `peer`, `path`, `topics` in the access log). A line too long for the 2 KiB line buffer is cut inside its message or a value, never in the JSON framing; bytes that are not UTF-8 become U+FFFD.'
  echo
  echo '`--access-log on` adds one `info` line per WebSocket upgrade attempt: `handshake accepted` (status 101) or `handshake refused` (the HTTP status and the reason sent to the client), the peer address, the path and the `?topic=` values. The rest of the query string (where a token may travel) is never logged. It costs one `getpeername` and one `write(2)` per handshake and nothing when off (the default).'
  echo
  echo 'Every refusal is there: the handshake checks (version, Origin, `--max-conns`), the token (missing, malformed, expired, bad signature, wrong issuer or audience: the reason, never the token) and the topics it does not grant, Server-Sent Events streams and CORS preflights from an origin not allowed, and refusals decided before a whole request was read, which have an empty `path`: `--max-conns-per-ip` (429, at accept or after a PROXY header), a bad request head (400, 431), a bad `X-Forwarded-For` (400), a bad, missing or untrusted PROXY header (400, closed without an answer) and a request head not complete within `--handshake-timeout` (408, closed without an answer).'
  echo
  echo '`--log-level` sets one level for everything (`info`) or a default level and levels per subsystem: `info,tls=debug,redis=warn` (the default level is optional, `info` if left out; each subsystem at most once; an unknown name is an error with the nearest one). The subsystems: `core` (master and workers: start, stop, crashes, reloads, the ring, accept errors), `http` (the public port: the access log lines, so `--log-level warn,http=info` keeps the access log and little else), `tls` (certificates), `redis` (the Redis link), `auth` (token keys), `admin` (the admin port and its control API), `history` (the message store), `proxy` (PROXY protocol and `X-Forwarded-For`). In JSON, lines of a subsystem other than `core` carry `"subsystem":"<name>"` after their fields. A call below its subsystem'"'"'s level costs one byte compare: nothing is formatted. SIGHUP applies a changed `log-level` in the master and every worker.'
  echo
  echo 'Errors at start-up are one line on stderr, `wspush: error: ...`, exit status 2 for bad options, files or values (`wspush publish` and `wspush tune` use the same prefix; warnings start with `wspush: warning: `). Errors point at the fix where there is one, for example binding a port below 1024 without privileges names `CAP_NET_BIND_SERVICE` and the `setcap` command.'
  echo
  echo '## Defaults, as a config file'
  echo
  echo '```yaml'
  env -i "$b/wspush" serve --print-config
  echo '```'
  echo
  echo '## Options'
  echo
  echo '```'
  "$b/wspush" serve --help | sed -n '/^  --/,$p'
  echo '```'
  echo
  echo 'Other commands: `wspush publish --help`, `wspush tune --help`, `wspush-bench --help`.'
} > docs/config.md
