/* config.c - `wspush serve` options: table, parser, help (see config.h).
 *
 * Table-driven so that the flag, its environment variable, its default and
 * its help text live in one row. Parsing never exits the process: it
 * returns a status and the caller decides. */
#include "config/config.h"
#include "config/config_file.h"
#include "config/config_show.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "broker/redis.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ev/timer.h"

enum opt_type { T_STR, T_U64, T_SIZE, T_DUR, T_WORKERS, T_POLICY, T_LIST, T_LEVEL, T_BOOL };

struct opt {
    const char *flag; /* without "--" */
    enum opt_type type;
    size_t off;      /* offset in struct wsp_config */
    size_t cap;      /* T_STR/T_LIST: buffer size */
    const char *def; /* default, as text */
    const char *arg; /* placeholder in help */
    const char *help;
};

#define OFF(f) offsetof(struct wsp_config, f)
#define CAP(f) sizeof(((struct wsp_config *)0)->f)

/* --log-level: "LEVEL", or a comma list of a default LEVEL (optional,
 * info if absent) and SUBSYSTEM=LEVEL items, each subsystem at most once.
 * Replaces the whole setting: a later source does not merge with an
 * earlier one. c is changed only on success. */
static int parse_levels(struct wsp_config *c, const char *v, FILE *err, const char *src)
{
    int base = -1;
    int8_t subs[WSP_LOG_SUBS];
    memset(subs, -1, sizeof subs);
    const char *p = v;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0) {
            fprintf(err, "wspush: error: %s--log-level: empty item in '%s'\n", src, v);
            return 2;
        }
        if (n > 64) {
            fprintf(err, "wspush: error: %s--log-level: an item is too long\n", src);
            return 2;
        }
        char item[65];
        memcpy(item, p, n);
        item[n] = '\0';
        char *eq = strchr(item, '=');
        const char *lv = eq ? eq + 1 : item;
        if (eq && eq == item) {
            fprintf(err, "wspush: error: %s--log-level: '%s': a subsystem name is missing\n", src,
                    item);
            return 2;
        }
        if (eq) {
            *eq = '\0';
            size_t nl = strlen(item);
            while (nl && (item[nl - 1] == ' ' || item[nl - 1] == '\t'))
                item[--nl] = '\0';
            while (*lv == ' ' || *lv == '\t')
                lv++;
        }
        if (eq && !*lv) {
            fprintf(err, "wspush: error: %s--log-level: '%s=': '%s' needs a level\n", src, item,
                    item);
            return 2;
        }
        int l = wsp_log_parse_level(lv);
        if (l < 0) {
            if (eq)
                fprintf(err,
                        "wspush: error: %s--log-level: '%s=%s': '%s' must be error, warn, info or "
                        "debug\n",
                        src, item, lv, lv);
            else
                fprintf(err,
                        "wspush: error: %s--log-level: '%s' must be error, warn, info or debug, "
                        "or a list like info,tls=debug\n",
                        src, item);
            return 2;
        }
        if (!eq) {
            if (base >= 0) {
                fprintf(err,
                        "wspush: error: %s--log-level: '%s': the default level is given twice\n",
                        src, item);
                return 2;
            }
            base = l;
        } else {
            int s = wsp_log_sub_parse(item, strlen(item));
            if (s < 0) {
                const char *best = NULL;
                size_t best_d = 3;
                for (int k = 0; k < WSP_LOG_SUBS; k++) {
                    size_t d = config_show_distance(item, wsp_log_sub_name(k));
                    if (d < best_d) {
                        best_d = d;
                        best = wsp_log_sub_name(k);
                    }
                }
                char hint[64] = "";
                if (best)
                    snprintf(hint, sizeof hint, "did you mean '%s'? ", best);
                fprintf(err,
                        "wspush: error: %s--log-level: unknown subsystem '%s' (%ssubsystems: ", src,
                        item, hint);
                for (int k = 0; k < WSP_LOG_SUBS; k++)
                    fprintf(err, "%s%s", k ? ", " : "", wsp_log_sub_name(k));
                fprintf(err, ")\n");
                return 2;
            }
            if (subs[s] >= 0) {
                fprintf(err, "wspush: error: %s--log-level: '%s=%s': %s is given twice\n", src,
                        item, lv, item);
                return 2;
            }
            subs[s] = (int8_t)l;
        }
        if (!e)
            break;
        p = e + 1;
    }
    c->log_level = base >= 0 ? base : WSP_LOG_INFO;
    memcpy(c->log_sub_levels, subs, sizeof subs);
    return 0;
}

static const struct opt opts[] = {
    {"listen", T_STR, OFF(listen), CAP(listen), "0.0.0.0:8080", "[ADDR:]PORT",
     "public port: WebSocket upgrades and Server-Sent Events streams on any path, /healthz, /demo, "
     "/wspush.js (port 0 picks a free port)"},
    {"admin", T_STR, OFF(admin), CAP(admin), "127.0.0.1:9090", "ADDR:PORT|off",
     "admin port (master): POST /publish/<topic>, POST /broadcast, POST /disconnect, /topics, "
     "/presence/<topic>, /stats, /metrics, dashboard"},
    {"workers", T_WORKERS, OFF(workers), 0, "0", "N|auto",
     "worker processes (0 = one per CPU); auto = max(CPUs, ceil(max-conns / usable fds per "
     "process))"},
    {"max-conns", T_U64, OFF(max_conns), 0, "1000000", "N",
     "connections the node accepts in total; beyond it new upgrades get 503"},
    {"max-conns-per-ip", T_U64, OFF(max_conns_per_ip), 0, "0", "N",
     "connections per source IP per worker (0 = no limit); beyond it 429"},
    {"tick", T_DUR, OFF(tick_ms), 0, "0", "DURATION",
     "publish the current UTC time (ISO 8601, ms) every DURATION, e.g. 1s (0 = off)"},
    {"tick-topic", T_STR, OFF(tick_topic), CAP(tick_topic), "", "NAME",
     "send ticks to this topic only (default: every connection)"},
    {"conflate", T_LIST, OFF(conflate_buf), CAP(conflate_buf), "", "P1,P2",
     "topics a worker that is behind may skip to their newest pending message, besides the "
     "ticker's: names or prefix patterns (news.*); / = broadcasts; never topics with history"},
    {"echo-path", T_STR, OFF(echo_path), CAP(echo_path), "", "PATH",
     "diagnostics: connections on PATH get every message echoed back (off by default)"},
    {"max-message", T_SIZE, OFF(max_message), 0, "1MiB", "BYTES",
     "largest inbound message (else close 1009) and largest publish (else 413)"},
    {"max-partial-input", T_SIZE, OFF(max_partial_input), 0, "64MiB", "BYTES",
     "inbound messages in progress held per worker in total; past it the largest close 1009"},
    {"max-head", T_SIZE, OFF(max_head), 0, "8KiB", "BYTES", "largest HTTP request head (else 431)"},
    {"max-headers", T_U64, OFF(max_headers), 0, "64", "N",
     "most request headers (else 431, at most 128)"},
    {"max-topics", T_U64, OFF(max_topics), 0, "16", "N",
     "topics one connection may subscribe to (else 400)"},
    {"ring-size", T_SIZE, OFF(ring_size), 0, "64MiB", "BYTES",
     "shared-memory ring of encoded messages between master and workers"},
    {"max-backlog", T_SIZE, OFF(max_backlog), 0, "256KiB", "BYTES",
     "queued output per connection before the slow-consumer policy applies"},
    {"slow-policy", T_POLICY, OFF(slow_policy), 0, "close", "close|drop|latest",
     "slow consumer: close with 1008, drop new messages, or keep the latest per topic"},
    {"publish-token", T_STR, OFF(publish_token), CAP(publish_token), "", "TOKEN",
     "require 'Authorization: Bearer TOKEN' on the admin port (visible to local users in the "
     "process list: prefer --publish-token-file)"},
    {"publish-token-file", T_STR, OFF(publish_token_file), CAP(publish_token_file), "", "FILE",
     "read the admin port's bearer token from FILE (its content, one trailing newline removed)"},
    {"protocol", T_LIST, OFF(protocols_buf), CAP(protocols_buf), "", "P1,P2",
     "Sec-WebSocket-Protocol values the server accepts, in preference order"},
    {"allow-origin", T_LIST, OFF(origins_buf), CAP(origins_buf), "", "O1,O2",
     "allowed Origin header values (default: any); others get 403"},
    {"handshake-timeout", T_DUR, OFF(handshake_timeout_ms), 0, "10s", "DURATION",
     "time allowed for the request head (slowloris defence)"},
    {"admin-head-timeout", T_DUR, OFF(admin_head_timeout_ms), 0, "10s", "DURATION",
     "admin port: time allowed for a request's head (and its body) to arrive"},
    {"admin-idle-timeout", T_DUR, OFF(admin_idle_timeout_ms), 0, "60s", "DURATION",
     "admin port: close a keep-alive connection idle this long, or one that reads none of "
     "its answers this long"},
    {"ping-interval", T_DUR, OFF(ping_interval_ms), 0, "25s", "DURATION",
     "ping an idle connection after DURATION without input (0 = never)"},
    {"sse-heartbeat", T_DUR, OFF(sse_heartbeat_ms), 0, "15s", "DURATION",
     "Server-Sent Events: a comment line after DURATION without output keeps proxies from "
     "closing the stream and finds dead clients (0 = never)"},
    {"pong-timeout", T_DUR, OFF(pong_timeout_ms), 0, "10s", "DURATION",
     "close a pinged connection that stays silent this long"},
    {"drain-timeout", T_DUR, OFF(drain_timeout_ms), 0, "30s", "DURATION",
     "on SIGTERM/SIGINT: clients are closed with 1012 and a reconnect hint, spread evenly over "
     "this "
     "window in random order (the last fifth, at most 3s, is left for close handshakes)"},
    {"msg-rate", T_U64, OFF(msg_rate), 0, "0", "N",
     "inbound messages per second per connection before close 1008 (0 = no limit)"},
    {"accept-rate", T_U64, OFF(accept_rate), 0, "0", "N",
     "connections each worker accepts per second, 0 = no limit (past it the rest wait in the "
     "kernel's accept queue)"},
    {"io-uring", T_BOOL, OFF(io_uring), 0, "on", "on|off",
     "batch the fan-out's sends through io_uring (off: one send(2) per subscriber)"},
    {"deflate", T_BOOL, OFF(deflate), 0, "on", "on|off",
     "permessage-deflate (RFC 7692) for clients that offer it; each message is compressed once"},
    {"deflate-min", T_SIZE, OFF(deflate_min), 0, "128", "BYTES",
     "compress only messages at least this long (shorter ones go plain to everyone)"},
    {"history-size", T_U64, OFF(history_size), 0, "0", "N",
     "keep each topic's last N messages for resume (?since=) and GET /history (0 = off); "
     "with --redis, ids and history come from Redis (docs/history.md)"},
    {"history-ttl", T_DUR, OFF(history_ttl_ms), 0, "0", "DURATION",
     "keep messages for resume at most this long, e.g. 5m (0 = no age limit; alone: up to 10000 "
     "per topic)"},
    {"history-topics", T_U64, OFF(history_topics), 0, "4096", "N",
     "topics that can have history (index slots, fixed at start); further topics have none"},
    {"history-memory", T_SIZE, OFF(history_memory), 0, "64MiB", "BYTES",
     "shared memory for stored messages, all topics; past it the oldest go first"},
    {"tls-cert", T_LIST, OFF(tls_cert_buf), CAP(tls_cert_buf), "", "FILE",
     "serve wss:// with this PEM certificate chain; repeat (with --tls-key) for SNI"},
    {"tls-key", T_LIST, OFF(tls_key_buf), CAP(tls_key_buf), "", "FILE",
     "PEM private key for the --tls-cert in the same position"},
    {"proxy-protocol", T_BOOL, OFF(proxy_protocol), 0, "off", "on|off",
     "public port: a PROXY protocol v1/v2 header must come first from --trusted-proxies (before "
     "TLS); others sending one are refused"},
    {"trusted-proxies", T_LIST, OFF(trusted_buf), CAP(trusted_buf), "", "CIDR1,CIDR2",
     "load balancers whose PROXY header and X-Forwarded-For name the client (for the per-IP "
     "limit); they are exempt from it themselves"},
    {"admin-tls-cert", T_STR, OFF(admin_tls_cert), CAP(admin_tls_cert), "", "FILE",
     "serve the admin port over https with this PEM certificate chain (reloaded on SIGHUP)"},
    {"admin-tls-key", T_STR, OFF(admin_tls_key), CAP(admin_tls_key), "", "FILE",
     "PEM private key for --admin-tls-cert"},
    {"redis", T_STR, OFF(redis), CAP(redis), "", "URL",
     "share messages with other nodes through Redis pub/sub: redis://[:PASSWORD@]HOST[:PORT][/DB]"},
    {"redis-password-file", T_STR, OFF(redis_password_file), CAP(redis_password_file), "", "FILE",
     "read the Redis password from FILE (one trailing newline removed) instead of the URL"},
    {"redis-prefix", T_STR, OFF(redis_prefix), CAP(redis_prefix), "wspush:", "PREFIX",
     "Redis channel of topic T is PREFIX+T; PREFIX alone carries broadcasts"},
    {"auth", T_STR, OFF(auth_mode), CAP(auth_mode), "auto", "auto|required|off",
     "subscriber tokens: required refuses tokenless upgrades except to --public-topics; auto = "
     "required once a key is configured"},
    {"auth-hmac-key-file", T_STR, OFF(auth_hmac_key_file), CAP(auth_hmac_key_file), "", "FILE",
     "HMAC key for HS256/384/512 tokens: the file's bytes (>= 32), one trailing newline removed"},
    {"auth-public-key", T_STR, OFF(auth_public_key), CAP(auth_public_key), "", "FILE",
     "PEM public key for RS256 (RSA >= 2048), ES256 (EC P-256) or EdDSA (Ed25519) tokens"},
    {"auth-jwks", T_STR, OFF(auth_jwks), CAP(auth_jwks), "", "FILE",
     "JWK Set (RSA, EC P-256, OKP Ed25519, oct) for tokens with a kid; SIGHUP reloads all key "
     "files"},
    {"auth-issuer", T_STR, OFF(auth_issuer), CAP(auth_issuer), "", "ISS",
     "accept only tokens whose iss claim is ISS"},
    {"auth-audience", T_STR, OFF(auth_audience), CAP(auth_audience), "", "AUD",
     "accept only tokens whose aud claim names AUD (without it, tokens carrying aud are refused)"},
    {"auth-leeway", T_DUR, OFF(auth_leeway_ms), 0, "30s", "DURATION",
     "clock skew allowed on exp and nbf; a connection is closed (4001) at exp + leeway"},
    {"auth-cookie", T_STR, OFF(auth_cookie), CAP(auth_cookie), "", "NAME",
     "also read the token from this cookie (after ?token= and Authorization: Bearer)"},
    {"public-topics", T_LIST, OFF(public_topics_buf), CAP(public_topics_buf), "", "P1,P2",
     "topics open without a token: names or prefix patterns (news.*); / = no topic (broadcasts, "
     "ticker)"},
    {"presence", T_BOOL, OFF(presence), 0, "off", "on|off",
     "GET /presence/<topic> on the admin port also lists the distinct users (token sub) "
     "subscribed"},
    {"log-level", T_LEVEL, OFF(log_level), 0, "info", "LEVEL[,SUBSYSTEM=LEVEL]",
     "log verbosity, error|warn|info|debug, for all or per subsystem: info,tls=debug,redis=warn "
     "(subsystems: core, http (the access log), tls, redis, auth, admin, history, proxy)"},
    {"log-format", T_STR, OFF(log_format), CAP(log_format), "text", "text|json",
     "log lines as text, or as one JSON object per line (ts, level, pid, role, msg, ...)"},
    {"access-log", T_BOOL, OFF(access_log), 0, "off", "on|off",
     "log each WebSocket handshake: accepted or refused, status, reason, peer, path (no tokens)"},
};

int config_parse_size(const char *s, uint64_t *bytes)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0) /* "nan" would pass v < 0 */
        return WSP_EINVAL;
    double mult = 1;
    if (!*end || strcmp(end, "B") == 0)
        mult = 1;
    else if (!strcmp(end, "k") || !strcmp(end, "K") || !strcmp(end, "KiB") || !strcmp(end, "KB"))
        mult = 1024.0;
    else if (!strcmp(end, "m") || !strcmp(end, "M") || !strcmp(end, "MiB") || !strcmp(end, "MB"))
        mult = 1024.0 * 1024;
    else if (!strcmp(end, "g") || !strcmp(end, "G") || !strcmp(end, "GiB") || !strcmp(end, "GB"))
        mult = 1024.0 * 1024 * 1024;
    else
        return WSP_EINVAL;
    double r = v * mult;
    if (r > 1e15)
        return WSP_EINVAL;
    *bytes = (uint64_t)r;
    return 0;
}

int config_split_list(char *buf, const char **items, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (!*tok)
            continue;
        if (n == max)
            return WSP_ETOOBIG;
        items[n++] = tok;
    }
    return (int)n;
}

/* src prefixes the option in a message: "", "WSPUSH_X: ", "FILE:LINE: " */
static int set_opt(struct wsp_config *c, const struct opt *o, const char *v, FILE *err,
                   const char *src)
{
    char *base = (char *)c + o->off;
    uint64_t u;
    switch (o->type) {
    case T_STR:
    case T_LIST:
        if (strlen(v) >= o->cap) {
            fprintf(err, "wspush: error: %s--%s: value too long (max %zu bytes)\n", src, o->flag,
                    o->cap - 1);
            return 2;
        }
        /* zero the tail: config_opt_format reads a split list up to cap */
        memset(base, 0, o->cap);
        memcpy(base, v, strlen(v) + 1);
        return 0;
    case T_U64: {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-') {
            fprintf(err, "wspush: error: %s--%s: '%s' is not a non-negative integer\n", src,
                    o->flag, v);
            return 2;
        }
        *(uint64_t *)(void *)base = x;
        return 0;
    }
    case T_SIZE:
        if (config_parse_size(v, &u) < 0) {
            fprintf(err, "wspush: error: %s--%s: '%s' is not a size (e.g. 256KiB, 64MiB)\n", src,
                    o->flag, v);
            return 2;
        }
        *(uint64_t *)(void *)base = u;
        return 0;
    case T_DUR:
        if (clock_parse_duration_ms(v, &u) < 0) {
            fprintf(err, "wspush: error: %s--%s: '%s' is not a duration (e.g. 1s, 250ms, 2m)\n",
                    src, o->flag, v);
            return 2;
        }
        *(uint64_t *)(void *)base = u;
        return 0;
    case T_WORKERS: {
        if (strcmp(v, "auto") == 0) {
            c->workers_auto = true;
            c->workers = 0;
            return 0;
        }
        char *end;
        errno = 0;
        unsigned long x = strtoul(v, &end, 10);
        if (errno || end == v || *end || x > 256) {
            fprintf(err, "wspush: error: %s--workers: '%s' must be 0..256 or auto\n", src, v);
            return 2;
        }
        c->workers_auto = false;
        c->workers = (unsigned)x;
        return 0;
    }
    case T_POLICY:
        if (strcmp(v, "close") == 0)
            c->slow_policy = SLOW_CLOSE;
        else if (strcmp(v, "drop") == 0)
            c->slow_policy = SLOW_DROP;
        else if (strcmp(v, "latest") == 0)
            c->slow_policy = SLOW_LATEST;
        else {
            fprintf(err, "wspush: error: %s--slow-policy: '%s' must be close, drop or latest\n",
                    src, v);
            return 2;
        }
        return 0;
    case T_BOOL:
        if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
            *(bool *)(void *)base = true;
        else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
            *(bool *)(void *)base = false;
        else {
            fprintf(err, "wspush: error: %s--%s: '%s' must be on or off\n", src, o->flag, v);
            return 2;
        }
        return 0;
    case T_LEVEL:
        return parse_levels(c, v, err, src);
    }
    return 2;
}

size_t config_opt_count(void)
{
    return sizeof opts / sizeof opts[0];
}

/* What a running worker (or the master) can take without a restart: values
 * read where they are used (per handshake, per accept, per frame, per
 * timer re-arm) or turned into worker state that worker.c rebuilds. The
 * listeners, the worker count, the ring, the history, TLS files (reloaded
 * by their own path), token settings and message size limits (buffers and
 * partial messages are sized by them) stay as they started. */
static const char *const live_opts[] = {
    "log-level",    "allow-origin",  "max-conns",     "max-conns-per-ip",  "msg-rate",
    "accept-rate",  "max-backlog",   "slow-policy",   "handshake-timeout", "ping-interval",
    "pong-timeout", "sse-heartbeat", "drain-timeout", "access-log",        "public-topics",
};

bool config_opt_is_live(size_t i)
{
    for (size_t k = 0; k < sizeof live_opts / sizeof live_opts[0]; k++)
        if (!strcmp(opts[i].flag, live_opts[k]))
            return true;
    return false;
}

void config_relist(struct wsp_config *c)
{
    int n = config_split_list(c->origins_buf, c->origins, CONFIG_MAX_LIST);
    c->n_origins = n < 0 ? 0 : (size_t)n;
    n = config_split_list(c->public_topics_buf, c->public_topics, CONFIG_MAX_LIST);
    c->n_public_topics = n < 0 ? 0 : (size_t)n;
}

int config_apply_live(struct wsp_config *dst, const struct wsp_config *src)
{
    char a[4096], b[4096];
    int changed = 0, rc = 0;
    char *msg = NULL; /* src was valid where it was made: a message here is a bug */
    size_t msg_len = 0;
    FILE *null = open_memstream(&msg, &msg_len); /* no descriptor: works at the fd limit */
    if (!null)
        return -1;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0] && rc == 0; i++) {
        if (!config_opt_is_live(i))
            continue;
        int na = config_opt_format(dst, i, a, sizeof a);
        int nb = config_opt_format(src, i, b, sizeof b);
        if (nb < 0) {
            rc = -1;
            break;
        }
        if (na == nb && !strcmp(a, b))
            continue;
        if (set_opt(dst, &opts[i], b, null, "") != 0)
            rc = -1;
        else
            changed++;
    }
    fclose(null);
    free(msg);
    config_relist(dst);
    return rc < 0 ? -1 : changed;
}
const char *config_opt_name(size_t i)
{
    return opts[i].flag;
}
bool config_opt_is_list(size_t i)
{
    return opts[i].type == T_LIST;
}
const char *config_opt_default(size_t i)
{
    return opts[i].def;
}

int config_opt_set(struct wsp_config *c, size_t i, const char *v, FILE *err, const char *src)
{
    return set_opt(c, &opts[i], v, err, src);
}

static int format_size(uint64_t b, char *out, size_t cap)
{
    static const char *const units[] = {"GiB", "MiB", "KiB"};
    for (int k = 0; k < 3; k++) {
        uint64_t u = 1ull << (10 * (3 - k));
        if (b && b % u == 0)
            return snprintf(out, cap, "%llu%s", (unsigned long long)(b / u), units[k]);
    }
    return snprintf(out, cap, "%llu", (unsigned long long)b);
}

static int format_duration(uint64_t ms, char *out, size_t cap)
{
    if (ms && ms % 3600000 == 0)
        return snprintf(out, cap, "%lluh", (unsigned long long)(ms / 3600000));
    if (ms && ms % 60000 == 0)
        return snprintf(out, cap, "%llum", (unsigned long long)(ms / 60000));
    if (ms % 1000 == 0)
        return snprintf(out, cap, "%llus", (unsigned long long)(ms / 1000));
    return snprintf(out, cap, "%llums", (unsigned long long)ms);
}

/* A list buffer holds "a,b" as given, or after finish() the same items cut
 * apart by NULs; either way the items are the non-blank runs between ','
 * and '\0' (set_opt zeroes the tail, so nothing stale follows). */
static int format_list(const char *buf, size_t cap, char *out, size_t outcap)
{
    size_t n = 0;
    for (size_t i = 0; i < cap;) {
        while (i < cap && (buf[i] == ',' || buf[i] == '\0' || buf[i] == ' ' || buf[i] == '\t'))
            i++;
        size_t s = i;
        while (i < cap && buf[i] != ',' && buf[i] != '\0')
            i++;
        size_t e = i;
        while (e > s && (buf[e - 1] == ' ' || buf[e - 1] == '\t'))
            e--;
        if (e == s)
            continue;
        if (n + (n > 0) + (e - s) + 1 > outcap)
            return WSP_ETOOBIG;
        if (n > 0)
            out[n++] = ',';
        memcpy(out + n, buf + s, e - s);
        n += e - s;
    }
    if (outcap)
        out[n] = '\0';
    return (int)n;
}

int config_opt_format(const struct wsp_config *c, size_t i, char *out, size_t cap)
{
    const struct opt *o = &opts[i];
    const char *base = (const char *)c + o->off;
    static const char *const policies[] = {"close", "drop", "latest"};
    int n;
    switch (o->type) {
    case T_STR:
        n = snprintf(out, cap, "%s", base);
        break;
    case T_LIST:
        return format_list(base, o->cap, out, cap);
    case T_U64:
        n = snprintf(out, cap, "%llu", (unsigned long long)*(const uint64_t *)(const void *)base);
        break;
    case T_SIZE:
        n = format_size(*(const uint64_t *)(const void *)base, out, cap);
        break;
    case T_DUR:
        n = format_duration(*(const uint64_t *)(const void *)base, out, cap);
        break;
    case T_WORKERS:
        n = c->workers_auto ? snprintf(out, cap, "auto") : snprintf(out, cap, "%u", c->workers);
        break;
    case T_POLICY:
        n = snprintf(out, cap, "%s", policies[c->slow_policy]);
        break;
    case T_BOOL:
        n = snprintf(out, cap, "%s", *(const bool *)(const void *)base ? "on" : "off");
        break;
    case T_LEVEL: {
        n = snprintf(out, cap, "%s", wsp_log_level_name(c->log_level));
        for (int k = 0; k < WSP_LOG_SUBS && n >= 0 && (size_t)n < cap; k++)
            if (c->log_sub_levels[k] >= 0)
                n += snprintf(out + n, cap - (size_t)n, ",%s=%s", wsp_log_sub_name(k),
                              wsp_log_level_name(c->log_sub_levels[k]));
        break;
    }
    default:
        return WSP_EINVAL;
    }
    return n < 0 || (size_t)n >= cap ? WSP_ETOOBIG : n;
}

static void env_name(const struct opt *o, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "WSPUSH_");
    for (const char *p = o->flag; *p && n + 1 < cap; p++)
        out[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    out[n] = '\0';
}

void config_print_help(FILE *out)
{
    fprintf(out, "usage: wspush serve [options]\n\n"
                 "Serves WebSocket push on the public port and an admin API on the admin port.\n"
                 "Every option can also be set by an environment variable, shown in brackets,\n"
                 "or in a YAML config file under its long name (max-conns: 100000). The command\n"
                 "line wins over the environment, which wins over the file.\n\n");
    fprintf(out, "  %-36s %s\n  %-36s [WSPUSH_CONFIG]\n", "--config FILE",
            "read options from this YAML file (a mapping: option: value; lists as [a, b]);"
            " SIGHUP reloads it",
            "");
    fprintf(out, "  %-36s %s\n", "--print-config",
            "print the effective settings as a config file (secrets not shown) and exit");
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        char env[64];
        env_name(&opts[i], env, sizeof env);
        char left[96];
        snprintf(left, sizeof left, "--%s %s", opts[i].flag, opts[i].arg);
        fprintf(out, "  %-36s %s\n  %-36s [%s, default: %s]\n", left, opts[i].help, "", env,
                opts[i].def[0] ? opts[i].def : "none");
    }
    fprintf(out, "  %-36s %s\n", "-h, --help", "show this help");
}

int config_read_secret_file(const char *path, char *out, size_t cap, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = strerror(errno);
        return -errno;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, out + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = strerror(errno);
            close(fd);
            return -errno;
        }
        if (r == 0 || (n += (size_t)r) == cap)
            break;
    }
    close(fd);
    if (n > 0 && out[n - 1] == '\n')
        n--;
    if (n >= cap) {
        *why = "too long";
        return WSP_ETOOBIG;
    }
    out[n] = '\0';
    if (n == 0) {
        *why = "empty";
        return WSP_EINVAL;
    }
    if (strlen(out) != n || strpbrk(out, "\r\n")) {
        *why = "holds a NUL, CR or line break (one trailing newline is allowed)";
        return WSP_EINVAL;
    }
    return 0;
}

/* "--flag VALUE" or "--flag=VALUE": the value's string, else NULL. */
static char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    const char *a = argv[*i];
    size_t fl = strlen(flag);
    if (strncmp(a, "--", 2) || strncmp(a + 2, flag, fl))
        return NULL;
    if (a[2 + fl] == '=')
        return argv[*i] + 2 + fl + 1;
    if (a[2 + fl] || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

void config_scrub_argv(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *v = flag_value(argc, argv, &i, "publish-token");
        if (v && *v) {
            size_t n = strlen(v);
            v[0] = '*';
            memset(v + 1, 0, n - 1);
            continue;
        }
        v = flag_value(argc, argv, &i, "redis");
        if (!v || strncasecmp(v, "redis://", 8))
            continue;
        /* redis://user:PASSWORD@host -> redis://user:*@host, the freed
         * bytes zeroed (the same rules as redis_url_parse: the userinfo
         * ends at the last '@' before the first '/') */
        char *p = v + 8, *slash = strchr(p, '/'), *at = NULL;
        for (char *q = p; *q && q != slash; q++)
            if (*q == '@')
                at = q;
        char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
        if (!colon || at == colon + 1)
            continue;
        size_t n = strlen(v);
        colon[1] = '*';
        memmove(colon + 2, at, strlen(at) + 1);
        size_t left = strlen(v);
        memset(v + left, 0, n - left);
    }
}

static int load_secret(const char *flag, const char *path, char *out, size_t cap, FILE *err)
{
    const char *why;
    int rc = config_read_secret_file(path, out, cap, &why);
    if (rc < 0)
        fprintf(err, "wspush: error: --%s %s: %s\n", flag, path, why);
    return rc;
}

static int finish(struct wsp_config *c, FILE *err)
{
    if (c->publish_token_file[0]) {
        if (c->publish_token[0]) {
            fprintf(err, "wspush: give --publish-token or --publish-token-file, not both\n");
            return 2;
        }
        if (load_secret("publish-token-file", c->publish_token_file, c->publish_token,
                        sizeof c->publish_token, err) < 0)
            return 2;
    }
    if (c->redis_password_file[0]) {
        if (!c->redis[0]) {
            fprintf(err, "wspush: error: --redis-password-file needs --redis\n");
            return 2;
        }
        if (load_secret("redis-password-file", c->redis_password_file, c->redis_password,
                        sizeof c->redis_password, err) < 0)
            return 2;
    }
    int n = config_split_list(c->protocols_buf, c->protocols, CONFIG_MAX_LIST);
    if (n < 0) {
        fprintf(err, "wspush: error: --protocol: at most %d values\n", CONFIG_MAX_LIST);
        return 2;
    }
    c->n_protocols = (size_t)n;
    n = config_split_list(c->origins_buf, c->origins, CONFIG_MAX_LIST);
    if (n < 0) {
        fprintf(err, "wspush: error: --allow-origin: at most %d values\n", CONFIG_MAX_LIST);
        return 2;
    }
    c->n_origins = (size_t)n;
    n = config_split_list(c->tls_cert_buf, c->tls_certs, CONFIG_MAX_LIST);
    int nk = config_split_list(c->tls_key_buf, c->tls_keys, CONFIG_MAX_LIST);
    if (n < 0 || nk < 0 || n != nk) {
        fprintf(err, "wspush: error: --tls-cert and --tls-key must come in pairs (at most %d)\n",
                CONFIG_MAX_LIST);
        return 2;
    }
    c->n_tls = (size_t)n;
    const char *tp[CONFIG_MAX_TRUSTED];
    n = config_split_list(c->trusted_buf, tp, CONFIG_MAX_TRUSTED);
    if (n < 0) {
        fprintf(err, "wspush: error: --trusted-proxies: at most %d entries\n", CONFIG_MAX_TRUSTED);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        if (proxy_cidr_parse(tp[i], &c->trusted[i]) < 0) {
            fprintf(err,
                    "wspush: error: --trusted-proxies: '%s' is not an address or ADDR/BITS with "
                    "the host bits zero\n",
                    tp[i]);
            return 2;
        }
    }
    c->n_trusted = (size_t)n;
    if (c->proxy_protocol && !c->n_trusted) {
        fprintf(err, "wspush: error: --proxy-protocol on needs --trusted-proxies\n");
        return 2;
    }
    if (!c->admin_tls_cert[0] != !c->admin_tls_key[0]) {
        fprintf(err, "wspush: error: --admin-tls-cert and --admin-tls-key go together\n");
        return 2;
    }
    if (c->max_headers < 1 || c->max_headers > 128) {
        fprintf(err, "wspush: error: --max-headers must be 1..128\n");
        return 2;
    }
    if (c->max_head < 256 || c->max_head > 1024 * 1024) {
        fprintf(err, "wspush: error: --max-head must be 256 bytes..1MiB\n");
        return 2;
    }
    if (c->max_topics < 1 || c->max_topics > CONFIG_MAX_TOPICS) {
        fprintf(err, "wspush: error: --max-topics must be 1..%d\n", CONFIG_MAX_TOPICS);
        return 2;
    }
    if (c->max_message < 126 || c->max_message > (1ull << 31)) {
        fprintf(err, "wspush: error: --max-message must be 126 bytes..2GiB\n");
        return 2;
    }
    if (c->ring_size < 65536 || c->ring_size > (1ull << 34)) {
        fprintf(err, "wspush: error: --ring-size must be 64KiB..16GiB\n");
        return 2;
    }
    if (c->admin_head_timeout_ms < 1 || c->admin_idle_timeout_ms < 1) {
        fprintf(err,
                "wspush: error: --admin-head-timeout and --admin-idle-timeout must be above 0\n");
        return 2;
    }
    if (c->max_conns < 1) {
        fprintf(err, "wspush: error: --max-conns must be at least 1\n");
        return 2;
    }
    /* The coarse deadline clock holds up to EV_DEADLINE_MAX_MS (~96 days):
     * refuse what it cannot represent rather than shorten it (issue 11). */
    const struct {
        const char *flag;
        uint64_t ms;
    } durs[] = {
        {"handshake-timeout", c->handshake_timeout_ms},
        {"ping-interval", c->ping_interval_ms},
        {"pong-timeout", c->pong_timeout_ms},
    };
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        if (durs[i].ms > EV_DEADLINE_MAX_MS) {
            fprintf(err, "wspush: error: --%s must be at most %llus (%llu days)\n", durs[i].flag,
                    (unsigned long long)(EV_DEADLINE_MAX_MS / 1000),
                    (unsigned long long)(EV_DEADLINE_MAX_MS / 86400000));
            return 2;
        }
    }
    n = config_split_list(c->public_topics_buf, c->public_topics, CONFIG_MAX_LIST);
    if (n < 0) {
        fprintf(err, "wspush: error: --public-topics: at most %d patterns\n", CONFIG_MAX_LIST);
        return 2;
    }
    c->n_public_topics = (size_t)n;
    n = config_split_list(c->conflate_buf, c->conflate, CONFIG_MAX_LIST);
    if (n < 0) {
        fprintf(err, "wspush: error: --conflate: at most %d patterns\n", CONFIG_MAX_LIST);
        return 2;
    }
    c->n_conflate = (size_t)n;
    bool auth_keys = c->auth_hmac_key_file[0] || c->auth_public_key[0] || c->auth_jwks[0];
    if (!strcmp(c->auth_mode, "auto")) {
        c->auth_required = auth_keys;
    } else if (!strcmp(c->auth_mode, "required")) {
        if (!auth_keys) {
            fprintf(err,
                    "wspush: error: --auth required needs --auth-hmac-key-file, --auth-public-key "
                    "or --auth-jwks\n");
            return 2;
        }
        c->auth_required = true;
    } else if (!strcmp(c->auth_mode, "off")) {
        c->auth_required = false;
    } else {
        fprintf(err, "wspush: error: --auth: '%s' must be auto, required or off\n", c->auth_mode);
        return 2;
    }
    if (c->history_size > CONFIG_HISTORY_MAX) {
        fprintf(err, "wspush: error: --history-size must be 0..%d\n", CONFIG_HISTORY_MAX);
        return 2;
    }
    if (c->history_topics < 1 || c->history_topics > (1u << 24)) {
        fprintf(err, "wspush: error: --history-topics must be 1..16777216\n");
        return 2;
    }
    if (c->history_memory < 65536 || c->history_memory > (1ull << 34)) {
        fprintf(err, "wspush: error: --history-memory must be 64KiB..16GiB\n");
        return 2;
    }
    if (wsp_log_parse_format(c->log_format) < 0) {
        fprintf(err, "wspush: error: --log-format must be text or json\n");
        return 2;
    }
    if (c->tick_topic[0] && c->tick_ms == 0) {
        fprintf(err, "wspush: error: --tick-topic needs --tick\n");
        return 2;
    }
    if (c->echo_path[0] && c->echo_path[0] != '/') {
        fprintf(err, "wspush: error: --echo-path must start with '/'\n");
        return 2;
    }
    if (c->redis[0]) {
        /* before anything listens: one clear line, exit 2 (docs/redis.md) */
        struct redis_url u;
        const char *why = "malformed URL";
        int r = redis_url_parse(c->redis, &u, &why);
        explicit_bzero(&u, sizeof u); /* it holds the password */
        if (r < 0) {
            fprintf(err, "wspush: error: --redis: %s\n", why);
            return 2;
        }
    }
    return 0;
}

int config_parse(struct wsp_config *c, int argc, char **argv, FILE *out, FILE *err)
{
    memset(c, 0, sizeof *c);
    const size_t nopts = sizeof opts / sizeof opts[0];
    for (size_t i = 0; i < nopts; i++)
        if (set_opt(c, &opts[i], opts[i].def, err, "default: ") != 0)
            return 2;
    c->argc = argc;
    c->argv = argv;
    if (config_file_apply(c, argc, argv, err) != 0) /* under the environment */
        return 2;
    for (size_t i = 0; i < nopts; i++) {
        char env[64];
        env_name(&opts[i], env, sizeof env);
        const char *v = getenv(env);
        char src[72];
        snprintf(src, sizeof src, "%s: ", env);
        if (v && set_opt(c, &opts[i], v, err, src) != 0)
            return 2;
    }
    config_show_env_check(err);
    bool seen_list[sizeof opts / sizeof opts[0]] = {false};
    bool print = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            config_print_help(out);
            return 1;
        }
        if (strcmp(a, "--print-config") == 0) {
            print = true;
            continue;
        }
        int skip = config_file_arg(argc, argv, i); /* --config FILE: read above */
        if (skip > 0) {
            i += skip - 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(err, "wspush: error: unexpected argument '%s' (try --help)\n", a);
            return 2;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = NULL;
        for (size_t k = 0; k < nopts; k++)
            if (strlen(opts[k].flag) == nlen && strncmp(opts[k].flag, name, nlen) == 0)
                o = &opts[k];
        if (!o) {
            fprintf(err, "wspush: error: unknown option '%.*s' (try --help)\n", (int)nlen + 2, a);
            return 2;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(err, "wspush: error: --%s needs a value (%s)\n", o->flag, o->arg);
                return 2;
            }
            v = argv[++i];
        }
        if (o->type == T_LIST && seen_list[o - opts]) {
            /* a list option given again appends (--tls-cert a --tls-cert b) */
            char *base = (char *)c + o->off;
            size_t have = strlen(base);
            if (have + 1 + strlen(v) >= o->cap) {
                fprintf(err, "wspush: error: --%s: too many values\n", o->flag);
                return 2;
            }
            base[have] = ',';
            memcpy(base + have + 1, v, strlen(v) + 1);
            continue;
        }
        if (set_opt(c, o, v, err, "") != 0)
            return 2;
        if (o->type == T_LIST)
            seen_list[o - opts] = true;
    }
    int r = finish(c, err);
    if (r == 0 && print) {
        config_show_print(c, out);
        return 1;
    }
    return r;
}
