/* redis.c - Redis pub/sub client on our event loop (see redis.h).
 *
 * What it does: parses redis:// URLs, frames the text/binary envelope,
 * classifies pub/sub replies, and runs two hiredis async connections
 * (subscribe, publish) on the caller's ev_loop through a five-hook adapter.
 * What it does not: know topics, the ring or the admin API.
 *
 * Invariant: hiredis contexts are freed in one place only, teardown(),
 * which runs outside every hiredis callback (at the end of our I/O handler
 * or from the timer): hiredis forbids freeing a context from inside its own
 * connect callback, and freeing one connection of the pair from a callback
 * of the other would make the order of callbacks hard to reason about. A
 * callback that decides the pair is broken only sets `broken`. */
#define WSP_LOG_SUB WSP_SUB_REDIS /* core/log.h: this file's log lines */
#include "broker/redis.h"

#include <ctype.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ev/loop.h"
#include "http/http_parse.h"
#include "pubsub/msgid.h"
#include "ws/ws_utf8.h"

/* ------------------------------------------------------------------ URL */

/* Percent-decodes [s, s+n) into out, NUL-terminated (http_pct_decode,
 * '+' kept as is). A decoded NUL is refused: user and password are C
 * strings. */
static int pct_copy(const char *s, size_t n, char *out, size_t cap)
{
    if (cap == 0)
        return WSP_ETOOBIG;
    ssize_t m = http_pct_decode(s, n, out, cap - 1, false);
    if (m == WSP_ETOOBIG)
        return WSP_ETOOBIG;
    if (m < 0 || memchr(out, '\0', (size_t)m))
        return WSP_EINVAL;
    out[m] = '\0';
    return 0;
}

static int parse_uint(const char *s, size_t n, unsigned long max, unsigned long *v)
{
    if (n == 0 || n > 10)
        return WSP_EINVAL;
    unsigned long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return WSP_EINVAL;
        x = x * 10 + (unsigned long)(s[i] - '0');
    }
    if (x > max)
        return WSP_EINVAL;
    *v = x;
    return 0;
}

int redis_url_parse(const char *s, struct redis_url *u, const char **why)
{
    static const char *dummy;
    if (!why)
        why = &dummy;
    memset(u, 0, sizeof *u);
    u->port = REDIS_DEFAULT_PORT;
    if (!s) {
        *why = "no URL";
        return WSP_EINVAL;
    }
    if (!strncasecmp(s, "rediss://", 9)) {
        *why = "TLS (rediss://) is not supported";
        return WSP_EINVAL;
    }
    if (strncasecmp(s, "redis://", 8) != 0) {
        *why = "must start with redis://";
        return WSP_EINVAL;
    }
    const char *p = s + 8;
    const char *end = p + strlen(p);
    /* authority ends at the first '/' (a '/' in a password must be %2F) */
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *auth_end = slash ? slash : end;
    if (memchr(p, '?', (size_t)(end - p)) || memchr(p, '#', (size_t)(end - p))) {
        *why = "query strings and fragments are not supported";
        return WSP_EINVAL;
    }
    /* userinfo: up to the last '@' of the authority */
    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            *why = "put the password after a colon: redis://:PASSWORD@host";
            return WSP_EINVAL;
        }
        if (pct_copy(p, (size_t)(colon - p), u->user, sizeof u->user) < 0 ||
            pct_copy(colon + 1, (size_t)(at - colon - 1), u->password, sizeof u->password) < 0) {
            *why = "bad or too long user/password (percent-encode reserved characters)";
            return WSP_EINVAL;
        }
        if (!u->password[0]) {
            *why = "empty password";
            return WSP_EINVAL;
        }
        p = at + 1;
    }
    /* host */
    const char *h = p, *he;
    if (p < auth_end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(auth_end - p));
        if (!rb || rb == p + 1) {
            *why = "bad [IPv6] host";
            return WSP_EINVAL;
        }
        h = p + 1;
        he = rb;
        for (const char *q = h; q < he; q++)
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.') {
                *why = "bad [IPv6] host";
                return WSP_EINVAL;
            }
        p = rb + 1;
    } else {
        while (p < auth_end && *p != ':')
            p++;
        he = p;
        for (const char *q = h; q < he; q++) {
            char ch = *q;
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_')) {
                *why = "bad host name";
                return WSP_EINVAL;
            }
        }
    }
    if (he == h) {
        *why = "no host";
        return WSP_EINVAL;
    }
    if ((size_t)(he - h) >= sizeof u->host) {
        *why = "host name too long";
        return WSP_EINVAL;
    }
    memcpy(u->host, h, (size_t)(he - h));
    u->host[he - h] = '\0';
    /* port */
    if (p < auth_end) {
        if (*p != ':') {
            *why = "junk after the host";
            return WSP_EINVAL;
        }
        unsigned long port;
        if (parse_uint(p + 1, (size_t)(auth_end - p - 1), 65535, &port) < 0 || port == 0) {
            *why = "bad port (1-65535)";
            return WSP_EINVAL;
        }
        u->port = (int)port;
    }
    /* /db */
    if (slash && slash + 1 < end) {
        unsigned long db;
        if (parse_uint(slash + 1, (size_t)(end - slash - 1), 65535, &db) < 0) {
            *why = "bad database number after '/'";
            return WSP_EINVAL;
        }
        u->db = (int)db;
    }
    return 0;
}

void redis_url_format(const struct redis_url *u, char *out, size_t cap)
{
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(out, cap, "%s%s%s:%d/%d", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->db);
}

/* ------------------------------------------------------------- envelope */

size_t redis_envelope_header(bool binary, uint8_t *hdr)
{
    if (!binary)
        return 0;
    hdr[0] = (uint8_t)REDIS_ENV_MAGIC;
    hdr[1] = (uint8_t)REDIS_ENV_BINARY;
    return REDIS_ENV_HEADER;
}

void redis_envelope_decode(const uint8_t *p, size_t len, bool *binary, const uint8_t **data,
                           size_t *n)
{
    if (len >= REDIS_ENV_HEADER && p[0] == REDIS_ENV_MAGIC && p[1] == REDIS_ENV_BINARY) {
        *binary = true;
        *data = p + REDIS_ENV_HEADER;
        *n = len - REDIS_ENV_HEADER;
        return;
    }
    *binary = !ws_utf8_valid(p, len);
    *data = p;
    *n = len;
}

size_t redis_envelope_id_header(const struct msgid *id, uint8_t *out)
{
    out[0] = (uint8_t)REDIS_ENV_MAGIC;
    out[1] = (uint8_t)REDIS_ENV_ID;
    size_t n = msgid_format((char *)out + 2, MSGID_MAX_LEN, id->epoch, id->seq);
    out[2 + n] = '\n';
    return 3 + n;
}

int redis_envelope_decode_id(const uint8_t *p, size_t len, struct msgid *id, bool *binary,
                             const uint8_t **data, size_t *n)
{
    if (len < 2 || p[0] != REDIS_ENV_MAGIC || p[1] != REDIS_ENV_ID) {
        redis_envelope_decode(p, len, binary, data, n);
        return 0;
    }
    size_t max = len - 2 < MSGID_MAX_LEN ? len - 2 : MSGID_MAX_LEN;
    const uint8_t *nl = memchr(p + 2, '\n', max);
    struct msgid v;
    if (!nl || msgid_parse((const char *)p + 2, (size_t)(nl - p - 2), &v) < 0 || v.seq == 0)
        return WSP_EPROTO;
    size_t used = (size_t)(nl - p) + 1;
    redis_envelope_decode(p + used, len - used, binary, data, n);
    *id = v;
    return 1;
}

size_t redis_glob_escape(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\')
            out[k++] = '\\';
        out[k++] = ch;
    }
    return k;
}

/* --------------------------------------------------------------- replies */

static bool is_str(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING;
}

static bool kind_is(const redisReply *k, const char *name)
{
    size_t n = strlen(name);
    return k->len == n && strncasecmp(k->str, name, n) == 0;
}

enum redis_event_type redis_reply_classify(const struct redisReply *r, struct redis_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->type = REDIS_EV_UNEXPECTED;
    if (!r)
        return ev->type;
    switch (r->type) {
    case REDIS_REPLY_STATUS:
        ev->data = (const uint8_t *)r->str;
        ev->len = r->len;
        ev->type =
            (r->len == 4 && !strncasecmp(r->str, "PONG", 4)) ? REDIS_EV_PONG : REDIS_EV_STATUS;
        return ev->type;
    case REDIS_REPLY_ERROR:
        ev->data = (const uint8_t *)r->str;
        ev->len = r->len;
        return ev->type = REDIS_EV_ERROR;
    case REDIS_REPLY_ARRAY:
        break;
    default:
        return ev->type;
    }
    if (r->elements < 2 || !is_str(r->element[0]))
        return ev->type;
    const redisReply *k = r->element[0];
    if (kind_is(k, "message")) {
        if (r->elements != 3 || !is_str(r->element[1]) || !is_str(r->element[2]))
            return ev->type;
        ev->channel = r->element[1]->str;
        ev->channel_len = r->element[1]->len;
        ev->data = (const uint8_t *)r->element[2]->str;
        ev->len = r->element[2]->len;
        return ev->type = REDIS_EV_MESSAGE;
    }
    if (kind_is(k, "pmessage")) {
        if (r->elements != 4 || !is_str(r->element[1]) || !is_str(r->element[2]) ||
            !is_str(r->element[3]))
            return ev->type;
        ev->pattern = r->element[1]->str;
        ev->pattern_len = r->element[1]->len;
        ev->channel = r->element[2]->str;
        ev->channel_len = r->element[2]->len;
        ev->data = (const uint8_t *)r->element[3]->str;
        ev->len = r->element[3]->len;
        return ev->type = REDIS_EV_PMESSAGE;
    }
    if (kind_is(k, "pong")) {
        return ev->type = REDIS_EV_PONG;
    }
    static const struct {
        const char *name;
        enum redis_event_type t;
    } subs[] = {{"subscribe", REDIS_EV_SUBSCRIBE},
                {"psubscribe", REDIS_EV_PSUBSCRIBE},
                {"unsubscribe", REDIS_EV_UNSUBSCRIBE},
                {"punsubscribe", REDIS_EV_PUNSUBSCRIBE}};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if (!kind_is(k, subs[i].name))
            continue;
        if (r->elements != 3 || r->element[2]->type != REDIS_REPLY_INTEGER)
            return ev->type;
        const redisReply *name = r->element[1];
        if (is_str(name)) {
            ev->channel = name->str;
            ev->channel_len = name->len;
        } else if (name->type != REDIS_REPLY_NIL) {
            return ev->type;
        }
        ev->count = r->element[2]->integer;
        return ev->type = subs[i].t;
    }
    return ev->type;
}

/* ---------------------------------------------------------------- client */

enum client_state { ST_IDLE = 0, ST_CONNECTING, ST_READY };

struct rconn {
    struct ev_handler h;
    struct redis_client *cl;
    redisAsyncContext *ac; /* NULL once hiredis has cleaned it up */
    const char *role;      /* "subscribe" | "publish" */
    int fd;
    uint32_t events; /* what hiredis wants */
    bool registered;
    bool handshake_ok; /* the PING after AUTH/SELECT answered */
};

struct redis_client {
    struct ev_loop *loop;
    struct redis_url url;
    char where[300];
    struct redis_client_cfg cfg;
    struct redis_client_ops ops;
    void *ctx;
    int timer_id;
    enum client_state state;
    struct rconn sub, pub;
    bool broken;  /* a callback found the pair unusable: teardown() next */
    bool tearing; /* inside teardown(): hiredis callbacks are expected */
    bool freeing; /* redis_client_free: no logs, no callbacks */
    bool ever_ready;
    unsigned failures; /* consecutive attempts that did not become ready */
    uint64_t next_attempt_ms;
    uint64_t deadline_ms; /* CONNECTING: give up at */
    uint64_t next_ping_ms;
    uint64_t ping_sent_ns; /* 0: no PING outstanding */
    char last_error[128];
    uint64_t rng;
    uint8_t *scratch;
    size_t scratch_cap;
    struct redis_client_stats st;
};

static void set_error(struct redis_client *c, const char *role, const char *msg)
{
    if (!c->last_error[0] || c->state == ST_READY)
        snprintf(c->last_error, sizeof c->last_error, "%s connection: %s", role, msg);
}

/* --- the adapter: hiredis' five hooks onto ev_add/ev_mod/ev_del --- */

static void apply_events(struct rconn *rc)
{
    struct ev_loop *loop = rc->cl->loop;
    if (rc->events && !rc->registered) {
        if (ev_add(loop, rc->fd, rc->events, &rc->h) == 0)
            rc->registered = true;
        else
            rc->cl->broken = true;
    } else if (rc->events && rc->registered) {
        if (ev_mod(loop, rc->fd, rc->events, &rc->h) < 0)
            rc->cl->broken = true;
    } else if (!rc->events && rc->registered) {
        ev_del(loop, rc->fd);
        rc->registered = false;
    }
}

static void hook_add_read(void *p)
{
    struct rconn *rc = p;
    rc->events |= EV_READ;
    apply_events(rc);
}

static void hook_del_read(void *p)
{
    struct rconn *rc = p;
    rc->events &= ~EV_READ;
    apply_events(rc);
}

static void hook_add_write(void *p)
{
    struct rconn *rc = p;
    rc->events |= EV_WRITE;
    apply_events(rc);
}

static void hook_del_write(void *p)
{
    struct rconn *rc = p;
    rc->events &= ~EV_WRITE;
    apply_events(rc);
}

/* hiredis is about to free the context (it closes the fd after this). */
static void hook_cleanup(void *p)
{
    struct rconn *rc = p;
    rc->events = 0;
    apply_events(rc);
    rc->ac = NULL;
    rc->fd = -1;
}

static void teardown(struct redis_client *c);

static void conn_io(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    (void)loop;
    struct rconn *rc = container_of(h, struct rconn, h);
    struct redis_client *c = rc->cl;
    /* a read handles EOF and errors too; hiredis may free the context in
     * it (hook_cleanup clears rc->ac), so look again before writing */
    if (rc->ac && (events & (EV_READ | EV_HUP | EV_ERROR)))
        redisAsyncHandleRead(rc->ac);
    if (rc->ac && (events & (EV_WRITE | EV_ERROR)))
        redisAsyncHandleWrite(rc->ac);
    if (c->broken)
        teardown(c);
}

/* --- the pair's life --- */

static uint64_t rnd(struct redis_client *c)
{
    /* xorshift64: jitter only, not security */
    uint64_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rng = x;
}

static uint64_t backoff_ms(struct redis_client *c)
{
    uint64_t d = c->cfg.backoff_min_ms;
    for (unsigned i = 1; i < c->failures && d < c->cfg.backoff_max_ms; i++)
        d *= 2;
    if (d > c->cfg.backoff_max_ms)
        d = c->cfg.backoff_max_ms;
    /* full jitter in the upper half: nodes that lost Redis together do not
     * come back in lockstep */
    return d / 2 + rnd(c) % (d / 2 + 1);
}

static void check_ready(struct redis_client *c)
{
    if (c->state != ST_CONNECTING || !c->sub.handshake_ok || !c->pub.handshake_ok)
        return;
    c->state = ST_READY;
    if (c->ever_ready)
        c->st.reconnects++;
    log_info("redis: %s %s", c->ever_ready ? "reconnected to" : "connected to", c->where);
    c->ever_ready = true;
    c->failures = 0;
    c->last_error[0] = '\0';
    c->next_ping_ms = clock_mono_ms() + c->cfg.ping_interval_ms;
    c->ping_sent_ns = 0;
    if (c->ops.on_state)
        c->ops.on_state(c->ctx, true);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->ev.data;
    if (status != REDIS_OK) {
        /* hiredis frees the context when this returns */
        set_error(rc->cl, rc->role, ac->errstr);
        rc->cl->broken = true;
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct rconn *rc = ac->ev.data;
    if (rc->cl->tearing)
        return;
    set_error(rc->cl, rc->role, ac->err ? ac->errstr : "closed by the server");
    rc->cl->broken = true;
}

static void handshake_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct rconn *rc = priv;
    struct redis_client *c = rc->cl;
    struct redis_event ev;
    if (!reply || c->tearing)
        return;
    switch (redis_reply_classify(reply, &ev)) {
    case REDIS_EV_PONG:
        rc->handshake_ok = true;
        check_ready(c);
        return;
    case REDIS_EV_STATUS:
        return; /* +OK to AUTH or SELECT */
    default: {
        char msg[100];
        snprintf(msg, sizeof msg, "handshake refused: %.*s", (int)(ev.len > 80 ? 80 : ev.len),
                 ev.data ? (const char *)ev.data : "unexpected reply");
        set_error(c, rc->role, msg);
        c->broken = true;
        return;
    }
    }
}

static void send_handshake(struct rconn *rc)
{
    struct redis_client *c = rc->cl;
    redisAsyncContext *ac = rc->ac;
    int r = REDIS_OK;
    if (c->url.password[0]) {
        if (c->url.user[0])
            r |= redisAsyncCommand(ac, handshake_reply, rc, "AUTH %s %s", c->url.user,
                                   c->url.password);
        else
            r |= redisAsyncCommand(ac, handshake_reply, rc, "AUTH %s", c->url.password);
    }
    /* pub/sub channels are global to the server; the database only matters
     * to the publish connection (and only for symmetry with other tools) */
    if (c->url.db > 0 && rc == &c->pub)
        r |= redisAsyncCommand(ac, handshake_reply, rc, "SELECT %d", c->url.db);
    r |= redisAsyncCommand(ac, handshake_reply, rc, "PING");
    if (r != REDIS_OK)
        c->broken = true;
}

static int conn_start(struct redis_client *c, struct rconn *rc)
{
    redisAsyncContext *ac = redisAsyncConnect(c->url.host, c->url.port);
    if (!ac)
        return WSP_ENOMEM;
    if (ac->err) {
        set_error(c, rc->role, ac->errstr);
        redisAsyncFree(ac);
        return WSP_ECLOSED;
    }
    rc->ac = ac;
    rc->fd = ac->c.fd;
    rc->events = 0;
    rc->registered = false;
    rc->handshake_ok = false;
    ac->ev.data = rc;
    ac->ev.addRead = hook_add_read;
    ac->ev.delRead = hook_del_read;
    ac->ev.addWrite = hook_add_write;
    ac->ev.delWrite = hook_del_write;
    ac->ev.cleanup = hook_cleanup;
    redisEnableKeepAlive(&ac->c);
    /* hooks first: setting the connect callback arms the write event that
     * reports the connection's completion */
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* commands queue until the connection completes */
    send_handshake(rc);
    return 0;
}

static void start_attempt(struct redis_client *c, uint64_t now_ms)
{
    c->state = ST_CONNECTING;
    c->deadline_ms = now_ms + c->cfg.connect_timeout_ms;
    c->broken = false;
    if (conn_start(c, &c->sub) < 0 || conn_start(c, &c->pub) < 0)
        c->broken = true;
    if (c->broken)
        teardown(c);
}

/* Frees both connections and schedules the next attempt. The only place a
 * context is freed by us; never runs inside a hiredis callback. */
static void teardown(struct redis_client *c)
{
    if (c->tearing)
        return;
    bool was_ready = c->state == ST_READY;
    c->tearing = true;
    struct rconn *rcs[2] = {&c->sub, &c->pub};
    for (int i = 0; i < 2; i++) {
        if (rcs[i]->ac)
            redisAsyncFree(rcs[i]->ac); /* pending callbacks get NULL; cleanup hook runs */
        rcs[i]->ac = NULL;
        rcs[i]->handshake_ok = false;
    }
    c->tearing = false;
    c->broken = false;
    c->ping_sent_ns = 0;
    c->state = ST_IDLE;
    if (c->freeing)
        return;
    if (!was_ready) {
        c->st.connects_failed++;
        c->failures++;
    } else {
        c->failures = 1; /* first retry soon after a loss */
    }
    uint64_t wait = backoff_ms(c);
    c->next_attempt_ms = clock_mono_ms() + wait;
    const char *err = c->last_error[0] ? c->last_error : "unknown error";
    if (was_ready)
        log_warn("redis: lost %s (%s); reconnecting", c->where, err);
    else if (c->failures == 1 || c->failures % 20 == 0)
        log_warn("redis: cannot connect to %s (%s); attempt %u, retrying in %llu ms", c->where, err,
                 c->failures, (unsigned long long)wait);
    c->last_error[0] = '\0';
    if (was_ready && c->ops.on_state)
        c->ops.on_state(c->ctx, false);
}

static void ping_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_client *c = priv;
    struct redis_event ev;
    if (!reply || c->tearing || !c->ping_sent_ns)
        return;
    if (redis_reply_classify(reply, &ev) == REDIS_EV_PONG) {
        c->st.rtt_ns = clock_mono_ns() - c->ping_sent_ns;
        c->ping_sent_ns = 0;
    } else {
        set_error(c, "publish", "PING refused");
        c->broken = true;
    }
}

void redis_client_tick(struct redis_client *c, uint64_t now_ms)
{
    switch (c->state) {
    case ST_IDLE:
        if (now_ms >= c->next_attempt_ms)
            start_attempt(c, now_ms);
        break;
    case ST_CONNECTING:
        if (now_ms >= c->deadline_ms) {
            set_error(c, "both", "timed out");
            c->broken = true;
        }
        break;
    case ST_READY:
        if (c->ping_sent_ns &&
            clock_mono_ns() - c->ping_sent_ns > c->cfg.ping_timeout_ms * 1000000ull) {
            set_error(c, "publish", "no answer to PING");
            c->broken = true;
        } else if (!c->ping_sent_ns && now_ms >= c->next_ping_ms && c->pub.ac) {
            c->next_ping_ms = now_ms + c->cfg.ping_interval_ms;
            c->ping_sent_ns = clock_mono_ns();
            if (redisAsyncCommand(c->pub.ac, ping_reply, c, "PING") != REDIS_OK)
                c->broken = true;
        }
        break;
    }
    if (c->broken)
        teardown(c);
}

static void on_timer(struct ev_loop *loop, void *arg)
{
    (void)loop;
    redis_client_tick(arg, clock_mono_ms());
}

struct redis_client *redis_client_new(struct ev_loop *loop, const struct redis_url *url,
                                      const struct redis_client_cfg *cfg,
                                      const struct redis_client_ops *ops, void *ctx)
{
    struct redis_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->url = *url;
    redis_url_format(url, c->where, sizeof c->where);
    if (cfg)
        c->cfg = *cfg;
    if (!c->cfg.backoff_min_ms)
        c->cfg.backoff_min_ms = 100;
    if (!c->cfg.backoff_max_ms)
        c->cfg.backoff_max_ms = 5000;
    if (!c->cfg.connect_timeout_ms)
        c->cfg.connect_timeout_ms = 3000;
    if (!c->cfg.ping_interval_ms)
        c->cfg.ping_interval_ms = 1000;
    if (!c->cfg.ping_timeout_ms)
        c->cfg.ping_timeout_ms = 5000;
    c->ops = *ops;
    c->ctx = ctx;
    c->rng = clock_mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    if (!c->rng)
        c->rng = 1;
    struct rconn *rcs[2] = {&c->sub, &c->pub};
    for (int i = 0; i < 2; i++) {
        rcs[i]->cl = c;
        rcs[i]->h.cb = conn_io;
        rcs[i]->fd = -1;
        rcs[i]->role = i == 0 ? "subscribe" : "publish";
    }
    c->state = ST_IDLE;
    c->next_attempt_ms = 0; /* first attempt on the first tick */
    c->timer_id = ev_timer_add(loop, 50, on_timer, c);
    if (c->timer_id < 0) {
        free(c);
        return NULL;
    }
    return c;
}

void redis_client_free(struct redis_client *c)
{
    if (!c)
        return;
    ev_timer_del(c->loop, c->timer_id);
    c->freeing = true; /* no callbacks from here on */
    c->ops.on_state = NULL;
    c->ops.on_event = NULL;
    teardown(c);
    free(c->scratch);
    free(c);
}

void redis_client_after_fork(struct redis_client *c)
{
    if (c->sub.ac && c->sub.fd >= 0)
        close(c->sub.fd);
    if (c->pub.ac && c->pub.fd >= 0)
        close(c->pub.fd);
}

bool redis_client_ready(const struct redis_client *c)
{
    return c && c->state == ST_READY;
}

const struct redis_client_stats *redis_client_stats(const struct redis_client *c)
{
    return &c->st;
}

static void publish_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_client *c = priv;
    redisReply *r = reply;
    if (!r) {
        c->st.publish_errors++; /* lost with the connection */
        return;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        c->st.messages_out++;
        c->st.receivers_last = r->integer > 0 ? (uint64_t)r->integer : 0;
        return;
    }
    c->st.publish_errors++;
    log_ratelimited(WSP_LOG_WARN, "redis: PUBLISH refused: %.*s",
                    (int)(r->len > 100 ? 100 : r->len), r->str ? r->str : "unexpected reply");
    if (r->type == REDIS_REPLY_ERROR && !c->tearing && c->ops.on_publish_error)
        c->ops.on_publish_error(c->ctx, r->str, r->len);
}

int redis_client_publish(struct redis_client *c, const char *channel, size_t channel_len,
                         const uint8_t *hdr, size_t hl, const uint8_t *payload, size_t n)
{
    if (!redis_client_ready(c) || !c->pub.ac)
        return WSP_EAGAIN;
    const char *data = (const char *)payload;
    if (hl) {
        if (c->scratch_cap < hl + n) {
            uint8_t *s = realloc(c->scratch, hl + n);
            if (!s)
                return WSP_ENOMEM;
            c->scratch = s;
            c->scratch_cap = hl + n;
        }
        memcpy(c->scratch, hdr, hl);
        if (n)
            memcpy(c->scratch + hl, payload, n);
        data = (const char *)c->scratch;
    }
    const char *argv[3] = {"PUBLISH", channel, data ? data : ""};
    size_t lens[3] = {7, channel_len, hl + n};
    if (redisAsyncCommandArgv(c->pub.ac, publish_reply, c, 3, argv, lens) != REDIS_OK)
        return WSP_EAGAIN;
    return 0;
}

struct counted { /* one counted PUBLISH in flight; freed by its reply */
    struct redis_client *c;
    uint64_t token;
};

static void counted_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct counted *k = priv;
    struct redis_client *c = k->c;
    uint64_t token = k->token;
    free(k);
    publish_reply(ac, reply, c);
    redisReply *r = reply;
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (!c->tearing && c->ops.on_receivers)
        c->ops.on_receivers(c->ctx, token, n);
}

int redis_client_publish_counted(struct redis_client *c, const char *channel, size_t channel_len,
                                 const uint8_t *payload, size_t n, uint64_t token)
{
    if (!redis_client_ready(c) || !c->pub.ac)
        return WSP_EAGAIN;
    struct counted *k = malloc(sizeof *k);
    if (!k)
        return WSP_ENOMEM;
    k->c = c;
    k->token = token;
    const char *argv[3] = {"PUBLISH", channel, n ? (const char *)payload : ""};
    size_t lens[3] = {7, channel_len, n};
    if (redisAsyncCommandArgv(c->pub.ac, counted_reply, k, 3, argv, lens) != REDIS_OK) {
        free(k);
        return WSP_EAGAIN;
    }
    return 0;
}

static int pub_command(struct redis_client *c, redisCallbackFn *cb, int argc, const char **argv,
                       const size_t *lens)
{
    if (!redis_client_ready(c) || !c->pub.ac)
        return WSP_EAGAIN;
    if (redisAsyncCommandArgv(c->pub.ac, cb, c, argc, argv, lens) != REDIS_OK)
        return WSP_EAGAIN;
    return 0;
}

int redis_client_publish_argv(struct redis_client *c, int argc, const char **argv,
                              const size_t *lens)
{
    return pub_command(c, publish_reply, argc, argv, lens);
}

static void command_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    (void)priv;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR)
        log_ratelimited(WSP_LOG_WARN, "redis: command refused: %.*s",
                        (int)(r->len > 100 ? 100 : r->len), r->str);
}

int redis_client_command_argv(struct redis_client *c, int argc, const char **argv,
                              const size_t *lens)
{
    return pub_command(c, command_reply, argc, argv, lens);
}

const struct redis_url *redis_client_url(const struct redis_client *c)
{
    return &c->url;
}

/* One handshake command on a blocking connection: false with err set when
 * it failed or was refused. */
static bool sync_ok(redisContext *rc, redisReply *r, char *err, size_t cap)
{
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        snprintf(err, cap, "%s", r ? r->str : rc->errstr);
    freeReplyObject(r);
    return ok;
}

struct redisContext *redis_sync_connect(const struct redis_url *u, uint64_t timeout_ms, char *err,
                                        size_t cap)
{
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    redisContext *rc = redisConnectWithTimeout(u->host, u->port, tv);
    if (!rc) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    if (rc->err) {
        snprintf(err, cap, "%s", rc->errstr);
        redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    bool ok = true;
    if (u->password[0] && u->user[0])
        ok = sync_ok(rc, redisCommand(rc, "AUTH %s %s", u->user, u->password), err, cap);
    else if (u->password[0])
        ok = sync_ok(rc, redisCommand(rc, "AUTH %s", u->password), err, cap);
    if (ok && u->db > 0)
        ok = sync_ok(rc, redisCommand(rc, "SELECT %d", u->db), err, cap);
    if (!ok) {
        redisFree(rc);
        return NULL;
    }
    return rc;
}

static void sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct redis_client *c = priv;
    if (!reply || c->tearing)
        return;
    struct redis_event ev;
    redis_reply_classify(reply, &ev);
    if (ev.type == REDIS_EV_MESSAGE || ev.type == REDIS_EV_PMESSAGE)
        c->st.messages_in++;
    if (c->ops.on_event)
        c->ops.on_event(c->ctx, &ev);
}

static int sub_command(struct redis_client *c, const char *cmd, const char *name, size_t len)
{
    if (!redis_client_ready(c) || !c->sub.ac)
        return WSP_EAGAIN;
    const char *argv[2] = {cmd, name};
    size_t lens[2] = {strlen(cmd), len};
    /* hiredis keeps the callback per channel for every later message */
    if (redisAsyncCommandArgv(c->sub.ac, sub_reply, c, 2, argv, lens) != REDIS_OK)
        return WSP_EAGAIN;
    return 0;
}

int redis_client_subscribe(struct redis_client *c, bool pattern, const char *name, size_t len)
{
    return sub_command(c, pattern ? "PSUBSCRIBE" : "SUBSCRIBE", name, len);
}

int redis_client_unsubscribe(struct redis_client *c, bool pattern, const char *name, size_t len)
{
    return sub_command(c, pattern ? "PUNSUBSCRIBE" : "UNSUBSCRIBE", name, len);
}
