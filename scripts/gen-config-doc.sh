#!/usr/bin/env bash
# Regenerates docs/config.md from `wspush serve --help` (the option table in
# src/config/config.c is the single source). Usage: scripts/gen-config-doc.sh [BUILD_DIR]
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
  echo '**SIGHUP** reloads the file (and re-reads the environment and flags the server started with). A file that does not parse changes nothing (`config reload failed, keeping the current settings: ...`). Each changed option is logged: `log-level` and `publish-token` apply at once (`config reload: changed: log-level info -> debug (applied)`); the others are read by the workers at start and are logged as `config reload: changed: max-conns 100 -> 200 (needs a restart)`. Certificates are re-read from their files on every SIGHUP, as before.'
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
