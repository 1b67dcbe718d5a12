/* admin.c - the admin port (see admin.h): its routes, auth, limits and
 * per-connection request state.
 *
 * Its connections run on the connection core (conn.c), as the public
 * port's do: the admin builds a struct worker with only the core's host
 * part (a->host: the master's loop, a pool, the dense array, deadlines,
 * the dead list, a read buffer, private counters that never reach
 * /metrics) and hands it admin_host_ops. The core reads (through the
 * transport: TLS with --admin-tls-cert), writes at once and queues the rest
 * behind EPOLLOUT, pauses reading while ADMIN_OUT_PAUSE bytes wait, ends
 * connections with its lingering close and frees them in the post hook
 * (admin_reap), never inside their callback. What stays here: each
 * connection's struct admin_conn (c->host_state), with a growable input
 * buffer (head + body, bounded by --max-head + --max-message) that on_data
 * fills; requests handled in order (pipelining works); the millisecond
 * deadlines (--admin-head-timeout, --admin-idle-timeout), checked by this
 * port's own sweep; the connection cap with make_room; the /live feed's
 * frames. */
#define WSP_LOG_SUB WSP_SUB_ADMIN /* core/log.h: this file's log lines */
#include "server/admin.h"
#include "server/admin_history.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "ev/timer.h"
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
#include "server/server_int.h"
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

/* The host's one receive buffer: the core reads into it, on_data copies
 * what a request needs into the connection's own buffer */
#define ADMIN_RBUF (64u * 1024)

struct admin_conn {              /* owned by admin.c; c->host_state of its connection */
    struct admin_conn_head head; /* first: admin_int.h */
    struct admin *a;
    struct conn *conn;    /* the core's connection (conn.c); valid until on_forget */
    bool live;            /* upgraded: dashboard feed */
    bool in_request;      /* bytes of a request (or a fresh connection) await its end */
    bool in_body;         /* its head is complete, its body still arriving */
    bool waiting;         /* a control request's answer is pending (admin_ctl.c) */
    bool wait_keep;       /* and keep-alive after it */
    bool in_handle;       /* inside handle(): an answer must not re-enter the parser */
    uint64_t since_ms;    /* start of the request (in_request) or of the idleness */
    uint64_t progress_ms; /* output last moved (or was queued while none was) */
    uint8_t *in;
    size_t in_len, in_cap;
    struct ws_rx *rx;
};

struct admin {
    struct node *m;
    struct ev_loop *loop;
    int fd;
    struct ev_handler h;
    struct worker host;         /* the connection core's host: conn.c's part only */
    struct worker_stats *stats; /* the host's counters: private, never in /metrics */
    char *scratch;              /* for /metrics and /stats */
    size_t scratch_cap;
    int timer_id;                 /* the millisecond deadline sweep */
    int tick_id;                  /* the core's coarse clock (lingering close) */
    struct control_master *ctl;   /* POST /disconnect, GET /presence: NULL if it failed */
    struct admin_ctl_env ctl_env; /* what the control routes get (admin_int.h) */
};

static const struct admin_reply_ops reply_ops; /* defined at the end */

static size_t queued(const struct admin_conn *c)
{
    return c->conn->out ? outq_bytes(c->conn->out) : 0;
}

/* Its last answer is given (or it is dead): nothing more is read or said. */
static bool ended(const struct admin_conn *c)
{
    return c->conn->state != CONN_HTTP;
}

/* What a send did: the unread-output clock starts when output begins to
 * wait; a connection over ADMIN_OUT_MAX (the core's backlog gate, set to
 * it) is a reader that never reads. */
static void sent(struct admin_conn *c, int rc, bool was_empty)
{
    if (rc == WSP_EAGAIN)
        conn_kill(&c->a->host, c->conn, 0);
    else if (rc == 0 && was_empty && c->conn->out)
        c->progress_ms = clock_mono_ms();
}

/* Sends m (a new reference; the same message may go to several /live
 * feeds) behind what is queued. */
static void out_push(struct admin_conn *c, struct msg *m)
{
    bool was_empty = !c->conn->out;
    sent(c, conn_send_msg(&c->a->host, c->conn, m), was_empty);
}

static void out_append(struct admin_conn *c, const void *p, size_t n)
{
    bool was_empty = !c->conn->out;
    sent(c, conn_send_bytes(&c->a->host, c->conn, p, n), was_empty);
}

/* A WebSocket frame of the /live feed (pong, close). */
static void out_frame(struct admin_conn *c, uint8_t op, const void *p, size_t n)
{
    struct msg *m = msg_new_frame(op, p, n);
    if (!m) {
        conn_kill(&c->a->host, c->conn, 0);
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
    /* head and body in one write, as the public port's replies */
    struct msg *m = msg_new(hl + len);
    if (!m) {
        conn_kill(&c->a->host, c->conn, 0);
        return;
    }
    memcpy(m->data, head, hl);
    if (len)
        memcpy(m->data + hl, body, len);
    out_push(c, m);
    msg_unref(m);
    if (!keep_alive)
        conn_end(&c->a->host, c->conn); /* after the answer: the core's lingering close */
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
    conn_end(&c->a->host, c->conn);
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
    while (c->in_len && !ended(c) && !c->waiting && queued(c) < ADMIN_OUT_PAUSE) {
        if (c->live) {
            struct ws_rx_cfg rc = {.max_message_bytes = 4096};
            uint16_t code;
            const char *why;
            int r = ws_rx_feed(&c->rx, &rc, c->in, c->in_len, &live_ops, c, &code, &why);
            c->in_len = 0;
            if (r < 0)
                conn_kill(&c->a->host, c->conn, 0);
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

/* ---- the core's calls up (admin_host_ops) ---- */

/* Input read by the core: buffered (a head and its body may come in
 * pieces) and served in order. */
static void on_data(struct worker *w, struct conn *conn, uint8_t *p, size_t n)
{
    (void)w;
    struct admin_conn *c = conn->host_state;
    const struct wsp_config *cfg = c->a->m->cfg;
    size_t limit = cfg->max_head_bytes + cfg->max_message_bytes + 1;
    if (!c->in_request) {
        c->in_request = true;
        c->since_ms = clock_mono_ms();
    }
    while (n && !ended(c)) {
        if (c->in_len == limit) {
            respond_json_error(c, 413, "request too large", false, NULL);
            return;
        }
        size_t take = n < limit - c->in_len ? n : limit - c->in_len;
        if (c->in_cap - c->in_len < take) {
            size_t cap = c->in_cap ? c->in_cap : 8192;
            while (cap - c->in_len < take)
                cap *= 2;
            if (cap > limit)
                cap = limit;
            uint8_t *b = realloc(c->in, cap);
            if (!b) {
                conn_kill(w, conn, 0);
                return;
            }
            c->in = b;
            c->in_cap = cap;
        }
        memcpy(c->in + c->in_len, p, take);
        c->in_len += take;
        p += take;
        n -= take;
        process_input(c);
    }
}

/* Output drained below the pause mark (the core reads again), or an answer
 * put aside was given: serve the pipelined requests already buffered. */
static void serve_pipelined(struct admin_conn *c)
{
    if (c->in_len && !c->live)
        process_input(c);
}

static void on_resume(struct worker *w, struct conn *conn)
{
    (void)w;
    serve_pipelined(conn->host_state);
}

static void on_forget(struct worker *w, struct conn *conn)
{
    struct admin_conn *c = conn->host_state;
    conn->host_state = NULL;
    /* a worker forked while this connection was open may still hold the
     * descriptor, and epoll forgets it only when every copy is closed:
     * deregister explicitly, or its events reach a struct reused since */
    ev_del(w->loop, conn->fd);
    if (!c)
        return;
    if (c->waiting && c->a->ctl)
        control_master_cancel(c->a->ctl, c);
    ws_rx_free(c->rx);
    free(c->in);
    free(c);
}

static const struct conn_host_ops admin_host_ops = {
    .on_data = on_data,
    .on_resume = on_resume,
    .on_forget = on_forget,
};

/* The master's loop has its own user pointer: the handler names the host. */
static void on_io(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    (void)loop;
    struct conn *conn = container_of(h, struct conn, h);
    struct admin_conn *c = conn->host_state;
    conn_on_io(&c->a->host, conn, events);
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
    for (uint32_t i = 0; i < a->host.nconns; i++) {
        struct conn *conn = a->host.conns[i];
        if (conn->state == CONN_DEAD)
            continue;
        struct admin_conn *c = conn->host_state;
        alive++;
        if (c->live || queued(c) || c->waiting)
            continue;
        unsigned rank = ended(c) ? 0 : c->in_body ? 2 : 1;
        if (rank < best_rank || (rank == best_rank && c->since_ms < victim->since_ms)) {
            victim = c;
            best_rank = rank;
        }
    }
    if (alive < ADMIN_MAX_CONNS)
        return true;
    if (!victim)
        return false;
    conn_kill(&a->host, victim->conn, 0); /* freed by admin_reap, after this iteration */
    log_ratelimited(WSP_LOG_WARN,
                    "admin: %u connections: closing the oldest idle one for a "
                    "newcomer",
                    alive);
    return true;
}

/* When a connection's wait ends: output the peer does not read, a request
 * that does not arrive, idleness. 0: none (a /live feed that reads what it
 * gets; after its last answer the core's lingering close bounds it). */
static uint64_t conn_deadline(const struct admin_conn *c, const struct wsp_config *cfg)
{
    if (queued(c))
        return c->progress_ms + cfg->admin_idle_timeout_ms;
    if (ended(c) || c->live ||
        c->waiting) /* waiting: control_master answers within CTL_TIMEOUT_MS */
        return 0;
    return c->since_ms + (c->in_request ? cfg->admin_head_timeout_ms : cfg->admin_idle_timeout_ms);
}

static void on_sweep(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct admin *a = arg;
    const struct wsp_config *cfg = a->m->cfg;
    uint64_t now = clock_mono_ms();
    for (uint32_t i = 0; i < a->host.nconns; i++) {
        struct conn *conn = a->host.conns[i];
        if (conn->state == CONN_DEAD)
            continue;
        struct admin_conn *c = conn->host_state;
        if (conn->out && outq_progressed(conn->out))
            c->progress_ms = now; /* the peer took some output since the last sweep */
        uint64_t d = conn_deadline(c, cfg);
        if (d && now >= d)
            conn_kill(&a->host, conn, 0);
    }
}

static void on_tick(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct admin *a = arg;
    conn_sweep(&a->host);
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
        if (a->host.nconns >= ADMIN_MAX_CONNS && !make_room(a)) {
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
    struct conn *conn = conn_new(&a->host, fd);
    if (!conn) {
        free(c);
        return WSP_ENOMEM;
    }
    conn->h.cb = on_io;
    conn->host_state = c;
    c->a = a;
    c->conn = conn;
    c->head.env = &a->ctl_env;
    c->in_request = true; /* its first head is due within the head timeout */
    c->since_ms = clock_mono_ms();
    /* each answer is written as soon as it is made (pipelined answers one
     * by one, a /live sample right after its 101): without TCP_NODELAY,
     * Nagle would hold a small answer until the peer acknowledges the one
     * before (a delayed ACK: 40 ms each). Not a TCP socket (a test's
     * socketpair): nothing to do. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* the fd is the core's now: a transport that cannot be made ends it
     * (closed in admin_reap) */
    if (conn_transport_start(&a->host, conn) < 0)
        conn_kill(&a->host, conn, 0);
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
    a->stats = aligned_alloc(_Alignof(struct worker_stats), sizeof *a->stats);
    if (a->stats)
        memset(a->stats, 0, sizeof *a->stats);
    /* the core's host: no ring, listener or topics; no head deadline and
     * no pings (this port's own deadlines are in milliseconds, on_sweep) */
    a->host = (struct worker){
        .cfg = m->cfg,
        .loop = loop,
        .st = a->stats,
        .host_ops = &admin_host_ops,
        .tick = 1,
        .rbuf_size = ADMIN_RBUF,
        .max_backlog_bytes = ADMIN_OUT_MAX,
        .read_pause_bytes = ADMIN_OUT_PAUSE,
    };
    a->host.rbuf = malloc(a->host.rbuf_size);
    /* sweep often enough that a deadline is never late by more than a
     * quarter of the shorter timeout (1 s at the defaults) */
    const struct wsp_config *cfg = m->cfg;
    uint64_t iv = cfg->admin_head_timeout_ms < cfg->admin_idle_timeout_ms
                      ? cfg->admin_head_timeout_ms
                      : cfg->admin_idle_timeout_ms;
    iv = iv / 4 < 10 ? 10 : iv / 4 > 1000 ? 1000 : iv / 4;
    a->timer_id = ev_timer_add(loop, iv, on_sweep, a);
    a->tick_id = ev_timer_add(loop, EV_TICK_MS, on_tick, a);
    a->ctl = control_master_new(m, loop);
    if (!a->ctl)
        log_warn("admin: connection control unavailable (out of memory)");
    a->ctl_env = (struct admin_ctl_env){.node = m,
                                        .ctl = a->ctl,
                                        .scratch = a->scratch,
                                        .scratch_cap = a->scratch_cap,
                                        .reply = &reply_ops};
    if (!a->scratch || !a->stats || !a->host.rbuf || a->timer_id < 0 || a->tick_id < 0 ||
        ev_add(loop, listen_fd, EV_READ, &a->h) < 0) {
        if (a->timer_id >= 0)
            ev_timer_del(loop, a->timer_id);
        if (a->tick_id >= 0)
            ev_timer_del(loop, a->tick_id);
        control_master_free(a->ctl);
        free(a->host.rbuf);
        free(a->stats);
        free(a->scratch);
        free(a);
        return NULL;
    }
    return a;
}

void admin_push_live(struct admin *a)
{
    bool any = false;
    for (uint32_t i = 0; i < a->host.nconns && !any; i++) {
        struct conn *conn = a->host.conns[i];
        any = conn->state == CONN_HTTP && ((struct admin_conn *)conn->host_state)->live;
    }
    if (!any)
        return;
    size_t n = prom_live_json(a->m, a->scratch, a->scratch_cap);
    /* one frame for every dashboard, shared by reference */
    struct msg *m = msg_new_frame(WS_OP_TEXT, a->scratch, n);
    if (!m)
        return;
    for (uint32_t i = 0; i < a->host.nconns; i++) {
        struct conn *conn = a->host.conns[i];
        if (conn->state != CONN_HTTP)
            continue;
        struct admin_conn *c = conn->host_state;
        if (!c->live || queued(c) >= ADMIN_OUT_PAUSE)
            continue; /* a dashboard that does not keep up skips samples */
        out_push(c, m);
    }
    msg_unref(m);
}

unsigned admin_conn_count(const struct admin *a)
{
    return a->host.nconns;
}

void admin_close_fds_after_fork(struct admin *a)
{
    for (uint32_t i = 0; i < a->host.nconns; i++)
        close(a->host.conns[i]->fd);
}

void admin_reap(struct admin *a)
{
    a->host.tls_steps = 0; /* the core's handshake budget is per loop iteration */
    conn_reap(&a->host);
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    conn_host_release(&a->host, 0);
    conn_pool_free(&a->host);
    control_master_free(a->ctl);
    ev_timer_del(a->loop, a->timer_id);
    ev_timer_del(a->loop, a->tick_id);
    if (a->fd >= 0)
        close(a->fd);
    free(a->host.rbuf);
    free(a->stats);
    free(a->scratch);
    free(a);
}

void admin_set_tls(struct admin *a, struct tls_ctx *t)
{
    a->host.tls = t; /* borrowed: conn_transport_start takes its own reference */
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
    if (c->in_handle || ended(c))
        return; /* answered at once: process_input carries on by itself */
    /* answered later, from the loop: serve what was pipelined */
    serve_pipelined(c);
}

static const struct admin_reply_ops reply_ops = {
    .json = reply_json, .error = reply_error, .wait = reply_wait, .answer = reply_answer};
