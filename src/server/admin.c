/* admin.c - the admin port (see admin.h).
 *
 * A few connections at most (publishers, Prometheus, a dashboard), so
 * clarity wins over thrift here: each connection has a growable input
 * buffer (head + body, bounded by --max-head + --max-message) and an output
 * buffer. Requests are handled in order (pipelining works); responses are
 * written at once and the rest queued behind EPOLLOUT. Connections are
 * freed in the post hook, never inside their callback. With
 * --admin-tls-cert every connection speaks TLS through the public port's
 * transport (transport.h); nothing above io_read/flush_out knows. */
#define WSP_LOG_SUB WSP_SUB_ADMIN /* core/log.h: this file's log lines */
#include "server/admin.h"
#include "server/admin_history.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "http/http_parse.h"
#include "http/http_response.h"
#include "server/admin_int.h"
#include "server/control_master.h"
#include "server/node.h"
#include "server/prom.h"
#include "server/publish.h"
#include "server/redis_link.h"
#include "pubsub/msg.h"
#include "pubsub/ring.h"
#include "server/assets.h"
#include "server/conn_out.h"
#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"
#include "ws/ws_rx.h"
#include "ws/ws_utf8.h"

#define ADMIN_MAX_CONNS 256
#define ADMIN_OUT_MAX (8u * 1024 * 1024)
/* Past this much queued output a connection stops reading and parsing
 * (pipelined requests wait in the kernel), so an unread connection costs
 * at most this plus one answer (the largest, /metrics, is 1 MiB). */
#define ADMIN_OUT_PAUSE (256u * 1024)

struct admin_conn {
    struct admin_conn_head head; /* first: admin_int.h */
    struct ev_handler h;
    struct admin *a;
    int fd;
    bool dead;
    bool live; /* upgraded: dashboard feed */
    bool close_after;
    uint64_t linger_until_ms; /* after a final response: wait for the peer's EOF */
    bool in_request;          /* bytes of a request (or a fresh connection) await its end */
    bool in_body;             /* its head is complete, its body still arriving */
    bool paused;              /* not reading: output queued past ADMIN_OUT_PAUSE */
    bool waiting;             /* a control request's answer is pending (admin_ctl.c) */
    bool wait_keep;           /* and keep-alive after it */
    bool in_handle;           /* inside handle(): an answer must not re-enter the parser */
    uint32_t events;          /* registered with the loop */
    uint64_t since_ms;        /* start of the request (in_request) or of the idleness */
    uint64_t progress_ms;     /* output last moved (or was queued while none was) */
    uint8_t *in;
    size_t in_len, in_cap;
    struct outq *out; /* queued output (conn_out.h): NULL when none */
    struct ws_rx *rx;
    struct transport *tp; /* NULL: plain; --admin-tls-cert: TLS; owned, freed in admin_reap */
    bool want_write;      /* the transport's handshake waits for the socket to take bytes */
    struct admin_conn *next;
};

struct admin {
    struct node *m;
    struct ev_loop *loop;
    int fd;
    struct ev_handler h;
    struct admin_conn *conns;
    unsigned nconns;
    char *scratch; /* for /metrics and /stats */
    size_t scratch_cap;
    int timer_id;                 /* the deadline sweep */
    struct tls_ctx *tls;          /* borrowed from the master; NULL: plain http */
    struct control_master *ctl;   /* POST /disconnect, GET /presence: NULL if it failed */
    struct admin_ctl_env ctl_env; /* what the control routes get (admin_int.h) */
};

static void conn_io(struct ev_loop *loop, struct ev_handler *h, uint32_t events);
static const struct admin_reply_ops reply_ops; /* defined at the end */

static size_t queued(const struct admin_conn *c)
{
    return c->out ? outq_bytes(c->out) : 0;
}

/* Through the connection's transport (transport.h): > 0 bytes, 0 at EOF,
 * WSP_EAGAIN, or another negative value for a broken connection. */
static ssize_t io_read(struct admin_conn *c, void *p, size_t n)
{
    int want_write = 0;
    ssize_t r = transport_read(c->tp, c->fd, p, n, &want_write);
    c->want_write = r == WSP_EAGAIN && want_write;
    return r;
}

static void update_events(struct admin_conn *c)
{
    uint32_t ev = (c->paused ? 0 : EV_READ) | (queued(c) || c->want_write ? EV_WRITE : 0);
    if (ev == c->events)
        return;
    c->events = ev;
    ev_mod(c->a->loop, c->fd, ev, &c->h);
}

static void flush_out(struct admin_conn *c)
{
    while (c->out) {
        ssize_t n = conn_out_flush(c->fd, c->tp, &c->out, SIZE_MAX);
        if (n == 0)
            break; /* the socket is full */
        if (n < 0) {
            c->dead = true;
            return;
        }
        c->progress_ms = clock_mono_ms();
    }
    if (!c->out) {
        update_events(c);
        if (c->close_after && !c->linger_until_ms) {
            /* half-close and drain what the peer still sends, so that
             * unread input does not turn our close into a reset that
             * destroys the response before the peer reads it */
            transport_shutdown(c->tp, c->fd); /* TLS: close_notify first */
            c->linger_until_ms = clock_mono_ms() + 2000;
        }
    } else {
        update_events(c);
    }
}

/* Queues m (a new reference; the same message may go to several /live
 * feeds) behind what is queued; written by flush_out. */
static void out_push(struct admin_conn *c, struct msg *m)
{
    if (queued(c) + m->len > ADMIN_OUT_MAX) {
        c->dead = true; /* a reader that never reads */
        return;
    }
    if (!queued(c))
        c->progress_ms = clock_mono_ms(); /* the unread-output deadline starts */
    if (conn_out_push(&c->out, NULL, m, 0) < 0)
        c->dead = true;
}

static void out_append(struct admin_conn *c, const void *p, size_t n)
{
    struct msg *m = msg_new(n);
    if (!m) {
        c->dead = true;
        return;
    }
    memcpy(m->data, p, n);
    out_push(c, m);
    msg_unref(m);
}

/* A WebSocket frame of the /live feed (pong, close). */
static void out_frame(struct admin_conn *c, uint8_t op, const void *p, size_t n)
{
    struct msg *m = msg_new_frame(op, p, n);
    if (!m) {
        c->dead = true;
        return;
    }
    out_push(c, m);
    msg_unref(m);
}

static void respond(struct admin_conn *c, int status, const char *ctype, const void *body,
                    size_t len, bool keep_alive, const char *extra)
{
    char head[1024];
    size_t hl = http_response_head(head, sizeof head, status, ctype, len, keep_alive, extra);
    out_append(c, head, hl);
    if (len)
        out_append(c, body, len);
    if (!keep_alive)
        c->close_after = true;
}

static void respond_json_error(struct admin_conn *c, int status, const char *msg, bool keep_alive,
                               const char *extra)
{
    char body[512];
    size_t n = sizeof "{\"error\":" - 1;
    memcpy(body, "{\"error\":", n);
    n += json_str_buf(body + n, sizeof body - n - 2, msg, strlen(msg));
    if (n > sizeof body - 3)
        n = sizeof body - 3; /* truncated: never happens with our messages */
    memcpy(body + n, "}\n", 3);
    respond(c, status, "application/json", body, n + 2, keep_alive, extra);
}

static bool token_equal(const char *v, size_t vl, const char *tok)
{
    size_t tl = strlen(tok);
    /* constant time in the token's content; the length is not secret */
    if (vl != tl)
        return false;
    return CRYPTO_memcmp(v, tok, tl) == 0;
}

/* "Authorization: Bearer T". A browser cannot set headers on a WebSocket,
 * so the dashboard's read-only feed (/live) may carry ?token=T instead. */
static bool authorized(struct admin *a, const struct http_req *r, bool query_ok)
{
    const char *tok = a->m->cfg->publish_token;
    if (!tok[0])
        return true;
    const struct http_header *h = http_req_header(r, "Authorization");
    if (h && h->value_len >= 7 && http_str_ieq(h->value, 7, "Bearer "))
        return token_equal(h->value + 7, h->value_len - 7, tok);
    if (!query_ok || !r->query)
        return false;
    size_t pos = 0, kl, vl;
    const char *k, *v;
    char dec[256];
    while (http_query_next(r->query, r->query_len, &pos, &k, &kl, &v, &vl) == 1) {
        if (!http_str_ieq(k, kl, "token") || !v)
            continue;
        ssize_t n = http_pct_decode(v, vl, dec, sizeof dec, true);
        return n >= 0 && token_equal(dec, (size_t)n, tok);
    }
    return false;
}

static void respond_401(struct admin_conn *c, bool keep)
{
    respond_json_error(c, 401, "missing or wrong bearer token", keep,
                       "WWW-Authenticate: Bearer realm=\"wspush\"\r\n");
}

/* A loopback name a browser may send as Host: localhost, an IPv4 literal
 * in 127/8 (the admin port may be bound to any of them), [::1]; with any
 * port. A DNS-rebinding page carries its own name instead. */
static bool host_is_loopback(const char *v, size_t n)
{
    size_t hl = n;
    if (n && v[0] == '[') {
        const char *rb = memchr(v, ']', n);
        if (!rb)
            return false;
        hl = (size_t)(rb - v) + 1;
    } else {
        const char *colon = memchr(v, ':', n);
        if (colon)
            hl = (size_t)(colon - v);
    }
    if (hl < n) { /* ":PORT" */
        if (v[hl] != ':' || hl + 1 == n)
            return false;
        for (size_t i = hl + 1; i < n; i++)
            if (v[i] < '0' || v[i] > '9')
                return false;
    }
    if (http_str_ieq(v, hl, "localhost") || http_str_ieq(v, hl, "[::1]"))
        return true;
    char ip[16];
    unsigned a, b, c, d;
    char extra;
    if (hl < 7 || hl >= sizeof ip)
        return false;
    memcpy(ip, v, hl);
    ip[hl] = '\0';
    return sscanf(ip, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256;
}

/* Cross-site and DNS-rebinding defence, decided from the head alone, before
 * any body is read. Without a token only loopback Host names are served
 * (the port is loopback-only then); with or without one, a request that a
 * browser marks as coming from another origin is refused: its Origin must
 * be this port's own (http:// + the Host it was sent to), and
 * Sec-Fetch-Site, when present, same-origin or none. A form POST from any
 * web page carries both. Returns NULL, or the reason for a 403. */
static const char *foreign_request(struct admin *a, const struct http_req *r)
{
    const struct http_header *host = http_req_header(r, "Host");
    if (!a->m->cfg->publish_token[0] && host && !host_is_loopback(host->value, host->value_len))
        return "Host is not a loopback name (DNS rebinding?): use localhost or 127.0.0.1, "
               "or set --publish-token";
    const struct http_header *o = http_req_header(r, "Origin");
    if (o &&
        (!host || o->value_len != 7 + host->value_len || !http_str_ieq(o->value, 7, "http://") ||
         strncasecmp(o->value + 7, host->value, host->value_len) != 0))
        return "cross-origin request refused (Origin is not this admin port)";
    const struct http_header *sf = http_req_header(r, "Sec-Fetch-Site");
    if (sf && !http_str_ieq(sf->value, sf->value_len, "same-origin") &&
        !http_str_ieq(sf->value, sf->value_len, "none"))
        return "cross-site request refused (Sec-Fetch-Site)";
    return NULL;
}

static void publish(struct admin_conn *c, const struct http_req *r, const uint8_t *body,
                    size_t blen, const char *topic, size_t tlen, bool keep)
{
    const struct http_header *ct = http_req_header(r, "Content-Type");
    bool binary =
        ct && ct->value_len >= 24 && http_str_ieq(ct->value, 24, "application/octet-stream");
    if (!binary && !ws_utf8_valid(body, blen)) {
        respond_json_error(c, 400,
                           "text message is not valid UTF-8 "
                           "(send Content-Type: application/octet-stream for binary)",
                           keep, NULL);
        return;
    }
    char resp[1024];
    struct publish_answer pa;
    publish_http(c->a->m, binary, topic, tlen, body, blen, resp, sizeof resp, &pa);
    if (pa.status != 202) {
        respond_json_error(c, pa.status, pa.error, keep, pa.extra);
        return;
    }
    respond(c, 202, "application/json", resp, pa.len, keep, NULL);
}

static void serve_asset(struct admin_conn *c, const char *name, const char *ctype, bool keep)
{
    const struct asset *as = asset_find(name);
    if (!as) {
        respond_json_error(c, 404, "not built into this binary", keep, NULL);
        return;
    }
    respond(c, 200, ctype, as->data, as->len, keep, "Cache-Control: no-cache\r\n");
}

static void upgrade_live(struct admin_conn *c, const struct http_req *r)
{
    struct ws_handshake hs;
    static const struct ws_handshake_cfg cfg = {0};
    char accept[WS_ACCEPT_LEN + 1];
    if (ws_handshake_check(r, &cfg, &hs) < 0 || ws_accept_key(hs.key, hs.key_len, accept) < 0) {
        respond_json_error(c, hs.status ? hs.status : 400, "bad WebSocket handshake", false,
                           hs.status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL);
        return;
    }
    char resp[256];
    size_t n = ws_handshake_response(resp, sizeof resp, accept, NULL, NULL);
    out_append(c, resp, n);
    c->live = true;
    admin_push_live(c->a); /* a first sample right away */
}

/* One complete request. */
static void handle(struct admin_conn *c, struct http_req *r, const uint8_t *body, size_t blen)
{
    struct admin *a = c->a;
    bool keep = r->minor_version == 1;
    const struct http_header *conn_h = http_req_header(r, "Connection");
    if (conn_h && http_token_list_has(conn_h->value, conn_h->value_len, "close"))
        keep = false;
    if (conn_h && http_token_list_has(conn_h->value, conn_h->value_len, "keep-alive"))
        keep = true;
    bool get = http_str_ieq(r->method, r->method_len, "GET");
    bool post = http_str_ieq(r->method, r->method_len, "POST");
    char path[512];
    ssize_t pl = http_pct_decode(r->path, r->path_len, path, sizeof path - 1, false);
    if (pl < 0) {
        respond_json_error(c, 400, "bad path", keep, NULL);
        return;
    }
    path[pl] = '\0';
    /* the dashboard page and its library are public on the admin port:
     * its data feed and everything else need the token */
    if (get && (!strcmp(path, "/") || !strcmp(path, "/dashboard"))) {
        serve_asset(c, "dashboard.html", "text/html; charset=utf-8", keep);
        return;
    }
    if (get && !strcmp(path, "/uplot.js")) {
        serve_asset(c, "uplot.js", "application/javascript", keep);
        return;
    }
    if (get && !strcmp(path, "/uplot.css")) {
        serve_asset(c, "uplot.css", "text/css", keep);
        return;
    }
    if (get && !strcmp(path, "/healthz")) {
        /* ?ready: 503 while a configured Redis is not ready, as on the
         * public port (routes.c), for probes that only reach this port */
        size_t qpos = 0, qkl, qvl;
        const char *qk, *qv;
        bool want_ready = false;
        while (http_query_next(r->query, r->query_len, &qpos, &qk, &qkl, &qv, &qvl) > 0)
            want_ready |= qkl == 5 && !memcmp(qk, "ready", 5);
        struct redis_link *rl = c->a->m->redis;
        bool ready = true;
        if (want_ready && rl) {
            struct redis_link_stats rs;
            redis_link_get_stats(rl, &rs);
            ready = rs.ready;
        }
        if (!ready) {
            static const char nr[] = "{\"status\":\"not ready\",\"redis\":\"disconnected\"}\n";
            respond(c, 503, "application/json", nr, sizeof nr - 1, keep, NULL);
            return;
        }
        static const char ok[] = "{\"status\":\"ok\"}\n";
        respond(c, 200, "application/json", ok, sizeof ok - 1, keep, NULL);
        return;
    }
    if (!authorized(a, r, !strcmp(path, "/live"))) {
        respond_401(c, keep);
        return;
    }
    if (!strncmp(path, "/publish/", 9)) {
        if (!post) {
            respond_json_error(c, 405, "use POST", keep, "Allow: POST\r\n");
            return;
        }
        const char *topic = path + 9;
        size_t tl = (size_t)pl - 9; /* not strlen: "%00" must not cut the name */
        if (!http_topic_valid(topic, tl, 128)) {
            respond_json_error(c, 400, "bad topic name (1-128 printable bytes, no spaces)", keep,
                               NULL);
            return;
        }
        publish(c, r, body, blen, topic, tl, keep);
        return;
    }
    if (!strcmp(path, "/broadcast")) {
        if (!post) {
            respond_json_error(c, 405, "use POST", keep, "Allow: POST\r\n");
            return;
        }
        publish(c, r, body, blen, NULL, 0, keep);
        return;
    }
    if (!strncmp(path, "/history/", 9)) {
        const char *topic = path + 9;
        size_t tl = (size_t)pl - 9;
        if (!get) {
            respond_json_error(c, 405, "use GET", keep, "Allow: GET\r\n");
            return;
        }
        if (!http_topic_valid(topic, tl, 128)) {
            respond_json_error(c, 400, "bad topic name (1-128 printable bytes, no spaces)", keep,
                               NULL);
            return;
        }
        int st;
        size_t n = admin_history_json(a->m, topic, tl, r->query, r->query_len, a->scratch,
                                      a->scratch_cap, &st);
        respond(c, st, "application/json", a->scratch, n, keep, NULL);
        return;
    }
    if (!strcmp(path, "/stats") || !strcmp(path, "/metrics")) {
        if (!get) {
            respond_json_error(c, 405, "use GET", keep, "Allow: GET\r\n");
            return;
        }
        size_t n;
        if (path[1] == 's') {
            n = prom_stats_json(a->m, a->scratch, a->scratch_cap);
            respond(c, 200, "application/json", a->scratch, n, keep, NULL);
        } else {
            n = prom_render(a->m, a->scratch, a->scratch_cap);
            respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", a->scratch, n, keep, NULL);
        }
        return;
    }
    if (admin_ctl_route(&a->ctl_env, c, r, path, (size_t)pl, body, blen, keep))
        return;
    if (get && !strcmp(path, "/live") && ws_handshake_is_upgrade(r)) {
        upgrade_live(c, r);
        return;
    }
    respond_json_error(c, 404, "no such route", keep, NULL);
}

static void live_rx_close(void *ctx, uint16_t code, const uint8_t *reason, size_t n)
{
    (void)code;
    (void)reason;
    (void)n;
    struct admin_conn *c = ctx;
    out_frame(c, WS_OP_CLOSE, NULL, 0); /* no status code: an empty close */
    c->close_after = true;
}

static void live_rx_ping(void *ctx, const uint8_t *p, size_t n)
{
    out_frame(ctx, WS_OP_PONG, p, n); /* §5.5.3: the same payload */
}

static const struct ws_rx_ops live_ops = {.on_ping = live_rx_ping, .on_close = live_rx_close};

static void process_input(struct admin_conn *c)
{
    const struct wsp_config *cfg = c->a->m->cfg;
    struct http_limits lim = {cfg->max_head_bytes, cfg->max_headers};
    while (c->in_len && !c->dead && !c->close_after && !c->waiting && queued(c) < ADMIN_OUT_PAUSE) {
        if (c->live) {
            struct ws_rx_cfg rc = {.max_message_bytes = 4096};
            uint16_t code;
            const char *why;
            int r = ws_rx_feed(&c->rx, &rc, c->in, c->in_len, &live_ops, c, &code, &why);
            c->in_len = 0;
            if (r < 0)
                c->dead = true;
            return;
        }
        struct http_req req;
        ssize_t hl = http_parse_request(c->in, c->in_len, &lim, &req);
        if (hl == WSP_EAGAIN)
            return;
        if (hl < 0) {
            respond_json_error(c, req.status ? req.status : 400,
                               req.reason ? req.reason : "bad request", false, NULL);
            return;
        }
        size_t clen = 0;
        const struct http_header *cl = http_req_header(&req, "Content-Length");
        const struct http_header *te = http_req_header(&req, "Transfer-Encoding");
        if (te) {
            respond_json_error(c, 411, "send the body with Content-Length", false, NULL);
            return;
        }
        if (cl) {
            char num[32];
            if (cl->value_len == 0 || cl->value_len >= sizeof num ||
                http_req_header_count(&req, "Content-Length") > 1) {
                respond_json_error(c, 400, "bad Content-Length", false, NULL);
                return;
            }
            memcpy(num, cl->value, cl->value_len);
            num[cl->value_len] = '\0';
            char *end;
            unsigned long long v = strtoull(num, &end, 10);
            if (*end || num[0] < '0' || num[0] > '9') {
                respond_json_error(c, 400, "bad Content-Length", false, NULL);
                return;
            }
            if (v > cfg->max_message_bytes) {
                /* refuse before reading it: never buffer an oversized body */
                respond_json_error(c, 413, "message too large", false, NULL);
                return;
            }
            clen = (size_t)v;
        }
        const char *why = foreign_request(c->a, &req);
        if (why) {
            respond_json_error(c, 403, why, false, NULL); /* the body is never read */
            return;
        }
        if (clen && !authorized(c->a, &req, false)) {
            respond_401(c, false); /* before its body is read, not after */
            return;
        }
        c->in_body = c->in_len < (size_t)hl + clen;
        if (c->in_body)
            return; /* body still arriving */
        c->in_handle = true;
        handle(c, &req, c->in + hl, clen);
        c->in_handle = false;
        size_t used = (size_t)hl + clen;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        c->in_request = c->in_len > 0; /* pipelined: the next one has begun */
        c->since_ms = clock_mono_ms();
    }
}

static void read_input(struct admin_conn *c)
{
    const struct wsp_config *cfg = c->a->m->cfg;
    if (c->close_after) {
        char sink[4096];
        ssize_t n;
        while ((n = io_read(c, sink, sizeof sink)) > 0)
            ;
        if (n != WSP_EAGAIN)
            c->dead = true;
        return;
    }
    size_t limit = cfg->max_head_bytes + cfg->max_message_bytes + 1;
    for (;;) {
        if (queued(c) >= ADMIN_OUT_PAUSE) {
            c->paused = true; /* the rest waits in the kernel; see conn_io */
            return;
        }
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
            if (cap > limit)
                cap = limit;
            if (cap <= c->in_len) {
                respond_json_error(c, 413, "request too large", false, NULL);
                return;
            }
            uint8_t *n = realloc(c->in, cap);
            if (!n) {
                c->dead = true;
                return;
            }
            c->in = n;
            c->in_cap = cap;
        }
        ssize_t n = io_read(c, c->in + c->in_len, c->in_cap - c->in_len);
        if (n == 0) {
            c->dead = true; /* a publisher that hangs up mid-body publishes nothing */
            return;
        }
        if (n < 0) {
            if (n != WSP_EAGAIN)
                c->dead = true;
            return;
        }
        if (!c->in_request) {
            c->in_request = true;
            c->since_ms = clock_mono_ms();
        }
        c->in_len += (size_t)n;
        process_input(c);
        if (c->dead || c->close_after)
            return;
    }
}

/* Output drained below the bound (or an answer put aside was given): serve
 * the pipelined requests already buffered, then read again. */
static void serve_pipelined(struct admin_conn *c)
{
    if (!c->dead && c->in_len && !c->live && !c->waiting && queued(c) < ADMIN_OUT_PAUSE) {
        process_input(c);
        if (!c->dead)
            flush_out(c);
    }
    if (!c->dead) {
        bool was_paused = c->paused;
        c->paused = queued(c) >= ADMIN_OUT_PAUSE;
        /* TLS may hold decrypted input epoll cannot see: read it now */
        if (was_paused && !c->paused && transport_pending(c->tp) > 0)
            read_input(c);
        if (!c->dead)
            update_events(c);
    }
}

static void conn_io(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    (void)loop;
    struct admin_conn *c = container_of(h, struct admin_conn, h);
    if (c->dead)
        return;
    /* a TLS handshake that waited to write goes on by reading */
    if ((events & (EV_READ | EV_HUP | EV_ERROR)) || (c->want_write && (events & EV_WRITE)))
        read_input(c);
    if (!c->dead)
        flush_out(c);
    serve_pipelined(c);
}

/* A newcomer at the connection cap: the oldest connection that is not
 * doing anything useful makes room (one lingering after its last answer
 * first, then one idle or still sending its head, then one sending a
 * body), so idle sockets cannot lock publishers out. A connection with
 * output queued, a /live feed or a pending control answer is never
 * chosen. Returns false if every connection is busy. */
static bool make_room(struct admin *a)
{
    unsigned alive = 0, best_rank = 3;
    struct admin_conn *victim = NULL;
    for (struct admin_conn *c = a->conns; c; c = c->next) {
        if (c->dead)
            continue;
        alive++;
        if (c->live || queued(c) || c->waiting)
            continue;
        unsigned rank = c->close_after ? 0 : c->in_body ? 2 : 1;
        if (rank < best_rank || (rank == best_rank && c->since_ms < victim->since_ms)) {
            victim = c;
            best_rank = rank;
        }
    }
    if (alive < ADMIN_MAX_CONNS)
        return true;
    if (!victim)
        return false;
    victim->dead = true; /* freed by admin_reap, after this iteration */
    log_ratelimited(WSP_LOG_WARN,
                    "admin: %u connections: closing the oldest idle one for a "
                    "newcomer",
                    alive);
    return true;
}

/* When a connection's wait ends: lingering close, output the peer does not
 * read, a request that does not arrive, idleness. 0: none (a /live feed
 * that reads what it gets). */
static uint64_t conn_deadline(const struct admin_conn *c, const struct wsp_config *cfg)
{
    if (c->linger_until_ms)
        return c->linger_until_ms;
    if (queued(c))
        return c->progress_ms + cfg->admin_idle_timeout_ms;
    if (c->live || c->waiting) /* waiting: control_master answers within CTL_TIMEOUT_MS */
        return 0;
    return c->since_ms + (c->in_request ? cfg->admin_head_timeout_ms : cfg->admin_idle_timeout_ms);
}

static void on_sweep(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct admin *a = arg;
    const struct wsp_config *cfg = a->m->cfg;
    uint64_t now = clock_mono_ms();
    for (struct admin_conn *c = a->conns; c; c = c->next) {
        uint64_t d = conn_deadline(c, cfg);
        if (d && now >= d)
            c->dead = true;
    }
}

static void on_accept(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    (void)loop;
    (void)events;
    struct admin *a = container_of(h, struct admin, h);
    for (int i = 0; i < 64; i++) {
        int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (a->nconns >= ADMIN_MAX_CONNS && !make_room(a)) {
            close(fd);
            log_ratelimited(WSP_LOG_WARN, "admin: too many connections");
            continue;
        }
        if (admin_adopt(a, fd) < 0)
            close(fd);
    }
}

int admin_adopt(struct admin *a, int fd)
{
    struct admin_conn *c = calloc(1, sizeof *c);
    if (!c)
        return WSP_ENOMEM;
    c->h.cb = conn_io;
    c->a = a;
    c->head.env = &a->ctl_env;
    c->fd = fd;
    c->in_request = true; /* its first head is due within the head timeout */
    c->since_ms = clock_mono_ms();
    c->events = EV_READ;
    if (a->tls && !(c->tp = transport_tls_new(a->tls, fd))) {
        free(c);
        return WSP_ENOMEM;
    }
    int rc = ev_add(a->loop, fd, EV_READ, &c->h);
    if (rc < 0) {
        transport_free(c->tp);
        free(c);
        return rc;
    }
    c->next = a->conns;
    a->conns = c;
    a->nconns++;
    return 0;
}

struct admin *admin_new(struct node *m, struct ev_loop *loop, int listen_fd)
{
    struct admin *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->m = m;
    a->loop = loop;
    a->fd = listen_fd;
    a->h.cb = on_accept;
    a->scratch_cap = 1024 * 1024;
    a->scratch = malloc(a->scratch_cap);
    /* sweep often enough that a deadline is never late by more than a
     * quarter of the shorter timeout (1 s at the defaults) */
    const struct wsp_config *cfg = m->cfg;
    uint64_t iv = cfg->admin_head_timeout_ms < cfg->admin_idle_timeout_ms
                      ? cfg->admin_head_timeout_ms
                      : cfg->admin_idle_timeout_ms;
    iv = iv / 4 < 10 ? 10 : iv / 4 > 1000 ? 1000 : iv / 4;
    a->timer_id = ev_timer_add(loop, iv, on_sweep, a);
    a->ctl = control_master_new(m, loop);
    if (!a->ctl)
        log_warn("admin: connection control unavailable (out of memory)");
    a->ctl_env = (struct admin_ctl_env){.node = m,
                                        .ctl = a->ctl,
                                        .scratch = a->scratch,
                                        .scratch_cap = a->scratch_cap,
                                        .reply = &reply_ops};
    if (!a->scratch || a->timer_id < 0 || ev_add(loop, listen_fd, EV_READ, &a->h) < 0) {
        if (a->timer_id >= 0)
            ev_timer_del(loop, a->timer_id);
        control_master_free(a->ctl);
        free(a->scratch);
        free(a);
        return NULL;
    }
    return a;
}

void admin_push_live(struct admin *a)
{
    bool any = false;
    uint64_t now = clock_mono_ms();
    for (struct admin_conn *c = a->conns; c; c = c->next) {
        if (c->linger_until_ms && now >= c->linger_until_ms)
            c->dead = true;
        any |= c->live && !c->dead;
    }
    if (!any)
        return;
    size_t n = prom_live_json(a->m, a->scratch, a->scratch_cap);
    /* one frame for every dashboard, shared by reference */
    struct msg *m = msg_new_frame(WS_OP_TEXT, a->scratch, n);
    if (!m)
        return;
    for (struct admin_conn *c = a->conns; c; c = c->next) {
        if (!c->live || c->dead || c->close_after || queued(c) >= ADMIN_OUT_PAUSE)
            continue; /* a dashboard that does not keep up skips samples */
        out_push(c, m);
        flush_out(c);
    }
    msg_unref(m);
}

unsigned admin_conn_count(const struct admin *a)
{
    return a->nconns;
}

void admin_close_fds_after_fork(struct admin *a)
{
    for (struct admin_conn *c = a->conns; c; c = c->next)
        close(c->fd);
}

void admin_reap(struct admin *a)
{
    struct admin_conn **pp = &a->conns;
    while (*pp) {
        struct admin_conn *c = *pp;
        if (!c->dead) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        a->nconns--;
        if (c->waiting && a->ctl)
            control_master_cancel(a->ctl, c);
        /* a worker forked while this connection was open may still hold
         * the descriptor, and epoll forgets it only when every copy is
         * closed: deregister explicitly, or its events reach freed memory */
        ev_del(a->loop, c->fd);
        transport_free(c->tp);
        close(c->fd);
        ws_rx_free(c->rx);
        free(c->in);
        outq_free(c->out);
        free(c);
    }
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    for (struct admin_conn *c = a->conns; c; c = c->next)
        c->dead = true;
    admin_reap(a);
    control_master_free(a->ctl);
    ev_timer_del(a->loop, a->timer_id);
    if (a->fd >= 0)
        close(a->fd);
    free(a->scratch);
    free(a);
}

void admin_set_tls(struct admin *a, struct tls_ctx *t)
{
    a->tls = t;
}

void admin_stop_listening(struct admin *a)
{
    if (a->fd < 0)
        return;
    ev_del(a->loop, a->fd);
    close(a->fd);
    a->fd = -1;
}

/* ---- how the control routes answer (admin_int.h) ---- */

static void reply_json(struct admin_conn *c, int status, const char *body, size_t n, bool keep)
{
    respond(c, status, "application/json", body, n, keep, NULL);
}

static void reply_error(struct admin_conn *c, int status, const char *msg, bool keep,
                        const char *extra)
{
    respond_json_error(c, status, msg, keep, extra);
}

static void reply_wait(struct admin_conn *c, bool keep)
{
    c->waiting = true;
    c->wait_keep = keep;
}

static void reply_answer(struct admin_conn *c, int status, const char *body, size_t n)
{
    if (!c->waiting)
        return;
    c->waiting = false;
    respond(c, status, "application/json", body, n, c->wait_keep, NULL);
    if (c->in_handle || c->dead)
        return; /* answered at once: process_input carries on by itself */
    /* answered later, from the loop: send it and serve what was pipelined */
    flush_out(c);
    serve_pipelined(c);
}

static const struct admin_reply_ops reply_ops = {
    .json = reply_json, .error = reply_error, .wait = reply_wait, .answer = reply_answer};
