/* tune_cli.c - the `wspush tune` command: parses its options, builds the
 * report (tune_sys.c, tune_size.c) and prints, emits or applies it
 * (tune_render.c, tune_apply.c). Exit codes are in tune.h. */
#include "tune/tune.h"
#include "tune/tune_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"

/* ---- command ---- */

static void usage(FILE *out)
{
    fputs("usage: wspush tune --conns N [--client] [--workers K|auto] [--apply] [--json]\n"
          "       wspush tune --conns N [--client] --emit sysctl|limits|systemd\n"
          "       wspush tune --conns N --rate R [--tls] [--deflate] [--ping-interval D]\n"
          "                   [--ping-budget P] [--handshake-rate H] [--json]\n"
          "\n"
          "Compares the kernel and limit settings of this system with what N WebSocket\n"
          "connections need, one row per setting: current value, needed value, why, fix.\n"
          "With --rate, first prints a capacity estimate for a machine: cores, memory\n"
          "(user + kernel per connection), file descriptors and workers for N connections\n"
          "and R deliveries per second, from the costs measured in BENCHMARKS.md, with\n"
          "its assumptions (docs/capacity.md).\n"
          "\n"
          "  --conns N        connections to plan for (N > 0; suffix k = 1000, m = 1000000)\n"
          "  --client         the load generator side (wspush-bench): port range and\n"
          "                   source addresses instead of accept backlogs\n"
          "  --workers K|auto server worker processes to check (default auto: enough for\n"
          "                   the per-process open-file limit, at least one per CPU)\n"
          "  --apply          raise the runtime sysctls that are too low by writing\n"
          "                   /proc/sys (needs root), then print the table again; never\n"
          "                   writes under /etc; says what it could not change\n"
          "  --json           machine-readable report on stdout\n"
          "  --emit FORMAT    print a ready file instead of the report:\n"
          "                     sysctl   /etc/sysctl.d/60-wspush.conf drop-in\n"
          "                     limits   /etc/security/limits.d/90-wspush.conf snippet\n"
          "                     systemd  wspush.service unit with LimitNOFILE=\n"
          "  --bin PATH       wspush binary path in the systemd unit\n"
          "                   (default /usr/local/bin/wspush)\n"
          "  --config FILE    config file the systemd unit passes to wspush serve\n"
          "                   (default /etc/wspush/wspush.yaml)\n"
          "  --rate R         deliveries per second to plan for, over all connections\n"
          "                   (R > 0; suffix k, m): adds the capacity estimate\n"
          "  --tls            with --rate: every connection is wss:// (TLS)\n"
          "  --deflate        with --rate: every connection uses permessage-deflate\n"
          "  --ping-interval D  with --rate: server pings per connection, as for\n"
          "                   wspush serve (default: serve's default; 0 = none)\n"
          "  --ping-budget P  with --rate: pings per second per core before the server\n"
          "                   stretches the interval, as for wspush serve (default:\n"
          "                   serve's default; 0 = never stretched)\n"
          "  --handshake-rate H  with --rate: steady (re)connects per second (default 0)\n"
          "  --proc-root DIR  read (and with --apply write) DIR instead of /proc (tests)\n"
          "  -h, --help       this text\n"
          "\n"
          "Exit status: 0 all settings suffice, 1 some setting is LOW (after --apply:\n"
          "left LOW), 2 usage error.\n",
          out);
}

/* "1000000", "100k", "1m" -> n. Returns 0 or WSP_EINVAL. */
static int parse_count(const char *s, uint64_t *n)
{
    if (!isdigit((unsigned char)*s))
        return WSP_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return WSP_EINVAL;
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1000, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1000000, end++;
    /* 1e9 keeps every product (fds, bytes, pages) far from overflow. */
    if (*end != '\0' || v == 0 || v > 1000000000ull / mul)
        return WSP_EINVAL;
    *n = v * mul;
    return 0;
}

/* parse_count, or "0" -> 0 (rates that may be none). */
static int parse_count_or_zero(const char *s, uint64_t *n)
{
    if (strcmp(s, "0") == 0) {
        *n = 0;
        return 0;
    }
    return parse_count(s, n);
}

/* Value of option `name` at argv[*i] ("--name v" or "--name=v"), advancing
 * *i; NULL if argv[*i] is not that option. *missing set when it has no value. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t len = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, len) != 0)
        return NULL;
    if (a[len] == '=')
        return a + len + 1;
    if (a[len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int bad(const char *what, const char *value)
{
    fprintf(stderr, "wspush: error: %s%s%s%s (try --help)\n", what, value ? " '" : "",
            value ? value : "", value ? "'" : "");
    return 2;
}

int tune_main(int argc, char **argv)
{
    struct tune_opts o = {0};
    const char *root = NULL;
    enum tune_emit emit = TUNE_EMIT_NONE;
    bool apply = false, json = false, have_conns = false, cap_opt = false;
    tune_cap_defaults(&o.cap);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--client") == 0) {
            o.client = true;
        } else if (strcmp(a, "--apply") == 0) {
            apply = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if ((v = opt_value(argc, argv, &i, "--conns", &missing))) {
            if (parse_count(v, &o.conns) < 0)
                return bad("--conns wants a count from 1 to 1000000000 (e.g. 1000000 or 1m), got",
                           v);
            have_conns = true;
        } else if (strcmp(a, "--tls") == 0) {
            o.cap.tls = cap_opt = true;
        } else if (strcmp(a, "--deflate") == 0) {
            o.cap.deflate = cap_opt = true;
        } else if ((v = opt_value(argc, argv, &i, "--rate", &missing))) {
            if (parse_count(v, &o.cap.rate) < 0)
                return bad("--rate wants deliveries per second from 1 to 1000000000 (e.g. "
                           "100000 or 100k), got",
                           v);
            o.capacity = true;
        } else if ((v = opt_value(argc, argv, &i, "--ping-interval", &missing))) {
            if (clock_parse_duration_ms(v, &o.cap.ping_interval_ms) < 0)
                return bad("--ping-interval wants a duration (25s, 1m, 0 = none), got", v);
            cap_opt = true;
        } else if ((v = opt_value(argc, argv, &i, "--ping-budget", &missing))) {
            if (parse_count_or_zero(v, &o.cap.ping_budget) < 0)
                return bad("--ping-budget wants pings per second per core from 0 to 1000000000, "
                           "got",
                           v);
            cap_opt = true;
        } else if ((v = opt_value(argc, argv, &i, "--handshake-rate", &missing))) {
            if (parse_count_or_zero(v, &o.cap.handshake_rate) < 0)
                return bad("--handshake-rate wants handshakes per second from 0 to 1000000000, "
                           "got",
                           v);
            cap_opt = true;
        } else if ((v = opt_value(argc, argv, &i, "--workers", &missing))) {
            uint64_t k;
            if (strcmp(v, "auto") == 0)
                o.workers = 0;
            else if (parse_count(v, &k) < 0 || k > 65535)
                return bad("--workers wants 'auto' or a count from 1 to 65535, got", v);
            else
                o.workers = (unsigned)k;
        } else if ((v = opt_value(argc, argv, &i, "--emit", &missing))) {
            if (strcmp(v, "sysctl") == 0)
                emit = TUNE_EMIT_SYSCTL;
            else if (strcmp(v, "limits") == 0)
                emit = TUNE_EMIT_LIMITS;
            else if (strcmp(v, "systemd") == 0)
                emit = TUNE_EMIT_SYSTEMD;
            else
                return bad("--emit wants sysctl, limits or systemd, got", v);
        } else if ((v = opt_value(argc, argv, &i, "--bin", &missing))) {
            if (*v != '/')
                return bad("--bin wants an absolute path, got", v);
            o.bin = v;
        } else if ((v = opt_value(argc, argv, &i, "--config", &missing))) {
            if (*v != '/')
                return bad("--config wants an absolute path, got", v);
            o.config = v;
        } else if ((v = opt_value(argc, argv, &i, "--proc-root", &missing))) {
            if (!*v)
                return bad("--proc-root wants a directory", NULL);
            root = v;
        } else if (missing) {
            return bad("missing value after", a);
        } else {
            return bad("unknown option", a);
        }
    }
    if (!have_conns)
        return bad("--conns N is required", NULL);
    if (emit != TUNE_EMIT_NONE && (apply || json))
        return bad("--emit prints a file: it does not combine with --apply or --json", NULL);
    if (cap_opt && !o.capacity)
        return bad(
            "--tls, --deflate, --ping-interval, --ping-budget and --handshake-rate need --rate R",
            NULL);
    if (o.capacity && emit != TUNE_EMIT_NONE)
        return bad("--emit prints a file: it does not combine with --rate", NULL);
    if (o.capacity && o.client)
        return bad("--rate plans a server: drop --client", NULL);
    if (emit == TUNE_EMIT_SYSTEMD && o.client)
        return bad("--emit systemd is for the server: drop --client", NULL);

    struct tune_sys s;
    struct tune_report *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "wspush: error: out of memory\n");
        return 1;
    }
    tune_sys_read(&s, root);
    tune_report_build(r, &s, &o);
    int rc = 0, left = 0;
    if (emit != TUNE_EMIT_NONE) {
        rc = tune_emit(r, emit, stdout);
        free(r);
        return rc < 0 ? 1 : 0;
    }
    if (apply) {
        left = tune_apply(r, root, json ? stderr : stdout);
        if (!json)
            fputc('\n', stdout);
        tune_sys_read(&s, root);
        tune_report_build(r, &s, &o);
    }
    rc = json ? tune_render_json(r, stdout) : tune_render_table(r, stdout);
    size_t low = tune_report_low(r);
    free(r);
    if (rc < 0)
        return 1;
    return low || left ? 1 : 0;
}
