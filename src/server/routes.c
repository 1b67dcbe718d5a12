/* routes.c - what a complete request head means on the public port.
 *
 * A WebSocket upgrade on any path: the path names a topic ("/" names none),
 * ?topic=a&topic=b adds more; the echo path is the diagnostics echo.
 * GET with Accept: text/event-stream on any path: the same subscriptions as
 * a Server-Sent Events stream (sse_conn.c), and OPTIONS its CORS preflight.
 * Plain HTTP: GET /healthz, /demo, /wspush.js; anything else 404/405.
 * What it does not do: parse bytes (http_parse.c, ws_handshake.c) or move
 * them (conn.c). */
#define WSP_LOG_SUB WSP_SUB_HTTP /* core/log.h: this file's log lines */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "server/assets.h"
#include "server/auth_conn.h"
#include "server/resume.h"
#include "http/sse.h"
#include "server/server_int.h"
#include "ws/ws_frame.h"

/* Established connections of every worker (--max-conns is per node). */
static uint64_t total_conns(const struct worker *w)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < w->shared->nworkers; i++)
        n += w->shared->w[i].conns;
    return n;
}

static void reply_text(struct worker *w, struct conn *c, int status, const char *text,
                       const char *extra)
{
    conn_http_reply(w, c, status, "text/plain; charset=utf-8", text, strlen(text), extra);
}

static void serve_asset(struct worker *w, struct conn *c, const char *name, const char *ctype,
                        bool head_only)
{
    const struct asset *a = asset_find(name);
    if (!a) {
        reply_text(w, c, 404, "not built into this binary\n", NULL);
        return;
    }
    if (head_only) {
        conn_http_reply(w, c, 200, ctype, "", 0, NULL);
        return;
    }
    conn_http_reply(w, c, 200, ctype, a->data, a->len, "Cache-Control: no-cache\r\n");
}

static void plain_http(struct worker *w, struct conn *c, struct http_req *r)
{
    w->st->http_requests++;
    bool get = http_str_ieq(r->method, r->method_len, "GET");
    bool head = http_str_ieq(r->method, r->method_len, "HEAD");
    char path[256];
    ssize_t pl = http_pct_decode(r->path, r->path_len, path, sizeof path - 1, false);
    if (pl < 0) {
        w->st->handshake_fail[HS_FAIL_NOT_FOUND]++;
        reply_text(w, c, 404, "not found\n", NULL);
        return;
    }
    path[pl] = '\0';
    bool known = !strcmp(path, "/healthz") || !strcmp(path, "/demo") ||
                 !strcmp(path, "/wspush.js") || !strcmp(path, "/");
    if (known && !get && !head) {
        w->st->handshake_fail[HS_FAIL_NOT_FOUND]++;
        reply_text(w, c, 405, "method not allowed\n", "Allow: GET, HEAD\r\n");
        return;
    }
    if (!strcmp(path, "/healthz")) {
        /* ?ready: 503 while a configured Redis is not connected (the node
         * serves, but would miss other nodes' messages) */
        bool want_ready = false;
        size_t qpos = 0;
        const char *qk, *qv;
        size_t qkl, qvl;
        while (http_query_next(r->query, r->query_len, &qpos, &qk, &qkl, &qv, &qvl) > 0)
            if (qkl == 5 && !memcmp(qk, "ready", 5))
                want_ready = true;
        uint32_t rs = __atomic_load_n(&w->shared->redis_state, __ATOMIC_RELAXED);
        if (want_ready && rs == 1) {
            static const char nr[] = "{\"status\":\"not ready\",\"redis\":\"disconnected\"}\n";
            conn_http_reply(w, c, 503, "application/json", nr, head ? 0 : sizeof nr - 1, NULL);
            return;
        }
        char body[256];
        int n = snprintf(body, sizeof body,
                         "{\"status\":\"ok\",\"worker\":%u,\"connections\":%llu,"
                         "\"uptime_s\":%llu}\n",
                         w->id, (unsigned long long)total_conns(w),
                         (unsigned long long)((ev_now_ms(w->loop) - w->started_ms) / 1000));
        conn_http_reply(w, c, 200, "application/json", body, head ? 0 : (size_t)n, NULL);
        return;
    }
    if (!strcmp(path, "/demo") || !strcmp(path, "/")) {
        serve_asset(w, c, "demo.html", "text/html; charset=utf-8", head);
        return;
    }
    if (!strcmp(path, "/wspush.js")) {
        serve_asset(w, c, "wspush.js", "application/javascript; charset=utf-8", head);
        return;
    }
    w->st->handshake_fail[HS_FAIL_NOT_FOUND]++;
    reply_text(w, c, 404, "not found\n", NULL);
}

static int subscribe(struct worker *w, struct conn *c, const char *name, size_t n)
{
    /* the same topic twice is one subscription */
    if (c->sub.topic && c->sub.topic->name_len == n && !memcmp(c->sub.topic->name, name, n))
        return 0;
    for (unsigned i = 0; i < c->nextra; i++)
        if (c->extra[i].topic->name_len == n && !memcmp(c->extra[i].topic->name, name, n))
            return 0;
    struct topic_sub *s;
    if (!c->sub.topic) {
        s = &c->sub;
    } else {
        if (1u + c->nextra >= w->cfg->max_topics)
            return WSP_ETOOBIG;
        struct topic_sub *e = realloc(c->extra, sizeof *e * (c->nextra + 1u));
        if (!e)
            return WSP_ENOMEM;
        /* each topic's member array points at its subscription: follow the
         * move, or unsubscribing later writes through a freed pointer */
        for (unsigned i = 0; i < c->nextra; i++)
            e[i].topic->members[e[i].idx].sub = &e[i];
        c->extra = e;
        s = &c->extra[c->nextra];
        s->topic = NULL;
    }
    int rc = conn_topic_join(w, c, name, n, s);
    if (rc < 0)
        return rc;
    if (s != &c->sub)
        c->nextra++;
    return 0;
}

/* One requested topic: with check set, only asks whether the token (or
 * --public-topics) allows it; else subscribes. 0, or an HTTP status with
 * *why set. */
static int take(struct worker *w, struct conn *c, struct auth_ticket *check, const char *name,
                size_t n, const char **why)
{
    if (check) {
        check->refused = auth_conn_check_topic(w, check, name, n);
        *why = auth_reason_text(check->refused);
        return check->refused == AUTH_OK ? 0 : check->refused == AUTH_TOPIC_DENIED ? 403 : 401;
    }
    int rc = subscribe(w, c, name, n);
    if (rc == WSP_ETOOBIG) {
        *why = "too many topics";
        return 400;
    }
    if (rc < 0) {
        *why = "out of memory";
        return 503;
    }
    return 0;
}

/* Path and ?topic= parameters -> subscriptions. Returns 0, or an HTTP
 * status with *why set. With check set nothing is subscribed: it is the
 * token's pass over the same names, so a refusal leaves no partial
 * subscription behind (a request naming no topic asks for the empty one). */
static int subscribe_all(struct worker *w, struct conn *c, struct http_req *r,
                         struct auth_ticket *check, const char **why)
{
    char name[256];
    int st;
    bool named = false;
    ssize_t n = http_pct_decode(r->path, r->path_len, name, sizeof name, false);
    if (n < 0) {
        *why = "bad topic in path";
        return 400;
    }
    if (n > 1) { /* "/" alone: broadcast only */
        if (!http_topic_valid(name + 1, (size_t)n - 1, 128)) {
            *why = "bad topic name (1-128 printable bytes, no spaces)";
            return 400;
        }
        if ((st = take(w, c, check, name + 1, (size_t)n - 1, why)))
            return st;
        named = true;
    }
    size_t pos = 0;
    const char *k, *v;
    size_t kl, vl;
    while (r->query && http_query_next(r->query, r->query_len, &pos, &k, &kl, &v, &vl) == 1) {
        if (!http_str_ieq(k, kl, "topic"))
            continue; /* unknown parameters are the application's business */
        ssize_t tl = v ? http_pct_decode(v, vl, name, sizeof name, true) : -1;
        if (tl <= 0 || !http_topic_valid(name, (size_t)tl, 128)) {
            *why = "bad topic name (1-128 printable bytes, no spaces)";
            return 400;
        }
        if ((st = take(w, c, check, name, (size_t)tl, why)))
            return st;
        named = true;
    }
    return check && !named ? take(w, c, check, "", 0, why) : 0;
}

/* Is t one of c's topics? */
static bool subscribed_to(const struct conn *c, const char *t, size_t n)
{
    if (c->sub.topic && c->sub.topic->name_len == n && !memcmp(c->sub.topic->name, t, n))
        return true;
    for (unsigned i = 0; i < c->nextra; i++)
        if (c->extra[i].topic->name_len == n && !memcmp(c->extra[i].topic->name, t, n))
            return true;
    return false;
}

/* ?format=json and ?since=[<topic>:]<id> (after subscribe_all). A since
 * without a topic names the connection's first topic. Decoded values are
 * kept in names (max_items slots of 256 bytes). Returns the number of
 * items, or -HTTP status with *why set. */
static int parse_resume(struct conn *c, struct http_req *r, bool *json, struct resume_item *items,
                        size_t max_items, char (*names)[256], const char **why)
{
    size_t pos = 0, n = 0;
    const char *k, *v;
    size_t kl, vl;
    while (r->query && http_query_next(r->query, r->query_len, &pos, &k, &kl, &v, &vl) == 1) {
        if (http_str_ieq(k, kl, "format")) {
            if (v && vl == 4 && !memcmp(v, "json", 4)) {
                *json = true;
                continue;
            }
            *why = "bad format (json or nothing)";
            return -400;
        }
        if (!http_str_ieq(k, kl, "since"))
            continue;
        if (n == max_items) {
            *why = "too many since parameters";
            return -400;
        }
        ssize_t dl = v ? http_pct_decode(v, vl, names[n], 256, true) : -1;
        struct resume_item *it = &items[n];
        if (dl <= 0 ||
            msgid_since_parse(names[n], (size_t)dl, &it->topic, &it->topic_len, &it->id) < 0) {
            *why = "bad since (<epoch>-<seq> or <topic>:<epoch>-<seq>)";
            return -400;
        }
        if (!it->topic && c->sub.topic) {
            it->topic = c->sub.topic->name;
            it->topic_len = c->sub.topic->name_len;
        }
        if (!it->topic || !subscribed_to(c, it->topic, it->topic_len)) {
            *why = "since names a topic this connection does not subscribe to";
            return -400;
        }
        for (size_t i = 0; i < n; i++)
            if (items[i].topic_len == it->topic_len &&
                !memcmp(items[i].topic, it->topic, it->topic_len)) {
                *why = "since given twice for one topic";
                return -400;
            }
        n++;
    }
    return (int)n;
}

static void refuse(struct worker *w, struct conn *c, const struct http_req *r, int status,
                   const char *why, const char *extra)
{
    routes_access_log_request(w, c, r, status, why);
    reply_text(w, c, status, why, extra);
}

/* A request carrying WebSocket handshake headers is a (maybe broken)
 * upgrade: without Upgrade or Connection it gets 400 (RFC 6455 §4.2.1),
 * not the plain page at its path. */
static bool wants_upgrade(const struct http_req *r)
{
    return ws_handshake_is_upgrade(r) || http_req_header(r, "Sec-WebSocket-Key") ||
           http_req_header(r, "Sec-WebSocket-Version");
}

/* The door both transports pass (WebSocket upgrade, SSE stream): drain,
 * --max-conns, the token, then the topics. 0: admitted and subscribed, *tk
 * to attach once established; -1: already answered. */
static int admit(struct worker *w, struct conn *c, struct http_req *r, struct auth_ticket *tk)
{
    if (w->draining) {
        w->st->handshake_fail[HS_FAIL_FULL]++;
        refuse(w, c, r, 503, "shutting down\n", "Retry-After: 1\r\n");
        return -1;
    }
    if (total_conns(w) >= w->cfg->max_conns) {
        w->st->handshake_fail[HS_FAIL_FULL]++;
        refuse(w, c, r, 503, "server full\n", "Retry-After: 5\r\n");
        return -1;
    }
    /* the token is checked once, here; then each requested topic against
     * it before any is subscribed (docs/auth.md) */
    if (auth_conn_admit(w, r, tk)) {
        routes_access_log_request(w, c, r, 401, auth_reason_text(tk->refused));
        auth_conn_refuse(w, c, tk->refused);
        return -1;
    }
    const char *why = NULL;
    int st = 0;
    if (tk->check) {
        st = (c->flags & CF_ECHO) ? take(w, c, tk, "", 0, &why) : subscribe_all(w, c, r, tk, &why);
        if (tk->refused) {
            auth_conn_ticket_release(tk);
            routes_access_log_request(w, c, r, tk->refused == AUTH_TOPIC_DENIED ? 403 : 401,
                                      auth_reason_text(tk->refused));
            auth_conn_refuse(w, c, tk->refused);
            return -1;
        }
    }
    if (!st && !(c->flags & CF_ECHO))
        st = subscribe_all(w, c, r, NULL, &why);
    if (st) {
        auth_conn_ticket_release(tk);
        w->st->handshake_fail[HS_FAIL_TOPIC]++;
        refuse(w, c, r, st, why, NULL);
        return -1;
    }
    return 0;
}

/* The ?since= items of an admitted request, for both transports (the echo
 * path resumes nothing): their count, or -1 when they are malformed (then
 * answered, and the ticket released). */
static int admit_resume(struct worker *w, struct conn *c, struct http_req *r,
                        struct auth_ticket *tk, bool *json, struct resume_item items[16],
                        char names[16][256])
{
    const char *why = NULL;
    int nres = (c->flags & CF_ECHO) ? 0 : parse_resume(c, r, json, items, 16, names, &why);
    if (nres < 0) {
        auth_conn_ticket_release(tk);
        w->st->handshake_fail[HS_FAIL_TOPIC]++;
        refuse(w, c, r, -nres, why, NULL);
    }
    return nres;
}

/* GET with Accept: text/event-stream: a Server-Sent Events stream on the
 * same door as an upgrade (docs/sse.md). */
static void sse_route(struct worker *w, struct conn *c, struct http_req *r)
{
    const struct http_header *o = http_req_header(r, "Origin");
    char cors[512];
    if (o && !sse_conn_cors(w, r, cors, sizeof cors)) {
        w->st->handshake_fail[HS_FAIL_ORIGIN]++;
        refuse(w, c, r, 403, "origin not allowed\n", NULL);
        return;
    }
    struct auth_ticket tk;
    if (admit(w, c, r, &tk))
        return;
    /* ?since= per topic as for an upgrade (?format= is accepted and means
     * nothing here); resume state lives on this stack frame only */
    struct resume_item items[16];
    char names[16][256];
    bool json = false;
    int nres = admit_resume(w, c, r, &tk, &json, items, names);
    if (nres < 0)
        return;
    sse_conn_start(w, c, r);
    auth_conn_attach(w, c, &tk); /* releases tk */
    if (c->state == CONN_WS)
        sse_conn_resume(w, c, r, items, (size_t)nres);
}

void routes_handle(struct worker *w, struct conn *c, struct http_req *r, uint8_t *rest,
                   size_t rest_len)
{
    if (!wants_upgrade(r)) {
        if (sse_is_request(r)) {
            sse_route(w, c, r);
        } else if (http_str_ieq(r->method, r->method_len, "OPTIONS") &&
                   http_req_header(r, "Origin") &&
                   http_req_header(r, "Access-Control-Request-Method")) {
            sse_conn_preflight(w, c, r); /* CORS for EventSource and polyfills */
        } else {
            plain_http(w, c, r);
        }
        return;
    }
    struct ws_handshake hs;
    if (ws_handshake_check(r, &w->hs_cfg, &hs) < 0) {
        int reason = hs.status == 426   ? HS_FAIL_VERSION
                     : hs.status == 403 ? HS_FAIL_ORIGIN
                                        : HS_FAIL_BAD_REQUEST;
        w->st->handshake_fail[reason]++;
        refuse(w, c, r, hs.status, hs.reason ? hs.reason : "bad handshake",
               hs.status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL);
        return;
    }
    char path[256];
    ssize_t pl = http_pct_decode(r->path, r->path_len, path, sizeof path - 1, false);
    if (pl >= 0) {
        path[pl] = '\0';
        if (w->cfg->echo_path[0] && !strcmp(path, w->cfg->echo_path))
            c->flags |= CF_ECHO;
    }
    struct auth_ticket tk;
    if (admit(w, c, r, &tk))
        return;
    /* resume state lives on this stack frame only: resume_start replays
     * before this callback returns */
    struct resume_item items[16];
    char names[16][256];
    bool json = hs.protocol && !strcmp(hs.protocol, RESUME_SUBPROTOCOL);
    int nres = admit_resume(w, c, r, &tk, &json, items, names);
    if (nres < 0)
        return;
    char accept[WS_ACCEPT_LEN + 1];
    char resp[512];
    if (ws_accept_key(hs.key, hs.key_len, accept) < 0) {
        auth_conn_ticket_release(&tk);
        w->st->handshake_fail[HS_FAIL_BAD_REQUEST]++;
        refuse(w, c, r, 400, "bad Sec-WebSocket-Key\n", NULL);
        return;
    }
    char ext[WS_DEFLATE_RESP_MAX];
    struct ws_deflate_params zp;
    /* never fails the handshake: no acceptable offer means no compression */
    bool z = ws_deflate_negotiate(r, &w->deflate_cfg, &zp, ext, sizeof ext) == 1;
    size_t n = ws_handshake_response(resp, sizeof resp, accept, hs.protocol, z ? ext : NULL);
    if (z) {
        c->flags |= CF_DEFLATE;
        w->st->deflate_conns++;
    }
    if (json) {
        c->flags |= CF_ENVELOPE;
        w->st->envelope_conns++;
    }
    conn_established(w, c);
    auth_conn_attach(w, c, &tk); /* releases tk */
    routes_access_log_request(w, c, r, 0, NULL);
    if (conn_send_bytes(w, c, resp, n) < 0)
        return;
    if (nres > 0)
        resume_start(w, c, items, (size_t)nres);
    if (c->state != CONN_WS)
        return;
    if (rest_len)
        conn_ws_feed(w, c, rest, rest_len);
}
