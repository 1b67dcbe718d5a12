/* config_opt.c - the option table of `wspush serve` and everything that
 * reads or writes one option (see config_opt.h): setting an option from text
 * (command line, environment, file), formatting it back, the list of
 * options that can change at run time.
 *
 * The bottom of src/config/: it calls nothing else there. config_show.c
 * (printing, suggestions), config_file.c (YAML) and config.c (precedence,
 * checks across options, --help) sit on top of it and reach the table only
 * through these accessors. No I/O but the error line on the FILE given. */
#include "config/config_opt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

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
                    size_t d = config_opt_distance(item, wsp_log_sub_name(k));
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
    {"max-message", T_SIZE, OFF(max_message_bytes), 0, "1MiB", "BYTES",
     "largest inbound message (else close 1009) and largest publish (else 413)"},
    {"max-partial-input", T_SIZE, OFF(max_partial_input_bytes), 0, "64MiB", "BYTES",
     "inbound messages in progress held per worker in total; past it the largest close 1009"},
    {"max-head", T_SIZE, OFF(max_head_bytes), 0, "8KiB", "BYTES",
     "largest HTTP request head (else 431)"},
    {"max-headers", T_U64, OFF(max_headers), 0, "64", "N",
     "most request headers (else 431, at most 128)"},
    {"max-topics", T_U64, OFF(max_topics), 0, "16", "N",
     "topics one connection may subscribe to (else 400)"},
    {"ring-size", T_SIZE, OFF(ring_size_bytes), 0, "64MiB", "BYTES",
     "shared-memory ring of encoded messages between master and workers"},
    {"max-backlog", T_SIZE, OFF(max_backlog_bytes), 0, "256KiB", "BYTES",
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
    {"ping-budget", T_U64, OFF(ping_budget), 0, "5000", "N",
     "pings per second per CPU core the node may spend on liveness; past it each worker's "
     "ping interval stretches to its connections / its share (0 = never stretch)"},
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
    {"fanout-slice", T_U64, OFF(fanout_slice), 0, "1024", "N",
     "subscribers a worker sends one message to before it serves its other events (accepts, "
     "handshakes, reads) and goes on; a fan-out of many slices is never overtaken by a later "
     "message (0 = the whole fan-out in one pass)"},
    {"deflate", T_BOOL, OFF(deflate), 0, "on", "on|off",
     "permessage-deflate (RFC 7692) for clients that offer it; each message is compressed once"},
    {"deflate-min", T_SIZE, OFF(deflate_min_bytes), 0, "128", "BYTES",
     "compress only messages at least this long (shorter ones go plain to everyone)"},
    {"history-size", T_U64, OFF(history_size), 0, "0", "N",
     "keep each topic's last N messages for resume (?since=) and GET /history (0 = off); "
     "with --redis, ids and history come from Redis (docs/history.md)"},
    {"history-ttl", T_DUR, OFF(history_ttl_ms), 0, "0", "DURATION",
     "keep messages for resume at most this long, e.g. 5m (0 = no age limit; alone: up to 10000 "
     "per topic)"},
    {"history-topics", T_U64, OFF(history_topics), 0, "4096", "N",
     "topics that can have history (index slots, fixed at start); further topics have none"},
    {"history-memory", T_SIZE, OFF(history_memory_bytes), 0, "64MiB", "BYTES",
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

_Static_assert(sizeof opts / sizeof opts[0] <= CONFIG_OPT_MAX, "raise CONFIG_OPT_MAX");

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
    "log-level",         "allow-origin",  "max-conns",   "max-conns-per-ip",
    "msg-rate",          "accept-rate",   "max-backlog", "slow-policy",
    "handshake-timeout", "ping-interval", "ping-budget", "pong-timeout",
    "sse-heartbeat",     "drain-timeout", "access-log",  "public-topics",
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

size_t config_opt_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64)
        return (size_t)-1;
    size_t d[65][65];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

const char *config_opt_arg(size_t i)
{
    return opts[i].arg;
}

const char *config_opt_help(size_t i)
{
    return opts[i].help;
}

void config_opt_env_name(const char *flag, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "WSPUSH_");
    for (const char *p = flag; *p && n + 1 < cap; p++)
        out[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    out[n] = '\0';
}

int config_opt_find(const char *name, size_t len)
{
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
        if (strlen(opts[k].flag) == len && strncmp(opts[k].flag, name, len) == 0)
            return (int)k;
    return -1;
}

int config_opt_append(struct wsp_config *c, size_t i, const char *v, FILE *err)
{
    const struct opt *o = &opts[i];
    char *base = (char *)c + o->off;
    size_t have = strlen(base);
    if (have + 1 + strlen(v) >= o->cap) {
        fprintf(err, "wspush: error: --%s: too many values\n", o->flag);
        return 2;
    }
    base[have] = ',';
    memcpy(base + have + 1, v, strlen(v) + 1);
    return 0;
}
