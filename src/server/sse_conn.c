/* sse_conn.c - Server-Sent Events streams on the shared connection core.
 *
 * An EventSource request (GET, Accept: text/event-stream) that passed the
 * same door as a WebSocket upgrade (routes.c: drain, --max-conns, per-IP
 * limit, token, topics) becomes a stream here: the response head (with CORS
 * headers), the preamble (a "retry:" hint) and, when the client asks to
 * resume, the replay from history or an explicit "event: reset"
 * (resume.c, as for a WebSocket's since). From then on it is an ordinary
 * established connection flagged CF_SSE: the fan-out sends it the message's
 * SSE form (encoded once by the master), and conn.c gives it the same
 * out-queue, backlog gate, slow-consumer policy, deadlines, drain and TLS
 * as a WebSocket. conn.c ends an SSE stream without a close frame (there is
 * none in SSE) and sends the heartbeat comments on the coarse clock.
 *
 * What it does not do: encode events (http/sse.c), walk subscribers
 * (fanout.c) or check tokens (auth_conn.c). */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "http/sse.h"
#include "server/resume.h"
#include "server/server_int.h"

static bool origin_allowed(const struct worker *w, const struct http_header *o)
{
    if (!w->hs_cfg.n_origins)
        return true;
    for (size_t i = 0; i < w->hs_cfg.n_origins; i++)
        if (http_str_ieq(o->value, o->value_len, w->hs_cfg.origins[i]))
            return true;
    return false;
}

size_t sse_conn_cors(const struct worker *w, const struct http_req *r, char *out, size_t cap)
{
    const struct http_header *o = http_req_header(r, "Origin");
    out[0] = '\0';
    if (!o || o->value_len > 256 || !origin_allowed(w, o))
        return 0;
    /* credentials only for an origin the operator listed: with no list
     * (any origin) a cookie-borne token must not be readable by any site */
    bool creds = w->hs_cfg.n_origins && http_req_header(r, "Cookie");
    int n = snprintf(out, cap, "Access-Control-Allow-Origin: %.*s\r\nVary: Origin\r\n%s",
                     (int)o->value_len, o->value,
                     creds ? "Access-Control-Allow-Credentials: true\r\n" : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void sse_conn_preflight(struct worker *w, struct conn *c, const struct http_req *r)
{
    w->st->http_requests++;
    const struct http_header *o = http_req_header(r, "Origin");
    char hdr[768];
    size_t n = sse_conn_cors(w, r, hdr, sizeof hdr);
    if (!o || !n) {
        w->st->handshake_fail[HS_FAIL_ORIGIN]++;
        w->host_ops->on_refused(w, c, 403, "origin not allowed (CORS preflight)");
        static const char no[] = "origin not allowed\n";
        conn_http_reply(w, c, 403, "text/plain; charset=utf-8", no, sizeof no - 1, NULL);
        return;
    }
    snprintf(hdr + n, sizeof hdr - n,
             "Access-Control-Allow-Methods: GET\r\n"
             "Access-Control-Allow-Headers: Last-Event-ID, Authorization, Cache-Control, Accept\r\n"
             "Access-Control-Max-Age: 600\r\n");
    conn_http_reply(w, c, 204, NULL, "", 0, hdr);
}

void sse_conn_start(struct worker *w, struct conn *c, const struct http_req *r)
{
    char cors[512];
    sse_conn_cors(w, r, cors, sizeof cors);
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\n"
                      "Content-Type: text/event-stream\r\n"
                      "Cache-Control: no-cache\r\n"
                      "X-Accel-Buffering: no\r\n"
                      "Connection: close\r\n"
                      "%s\r\n",
                      cors);
    /* the body runs until the connection ends (RFC 9112 §6.3: no length,
     * no chunking), so each event goes out as the master encoded it */
    ssize_t pl = sse_preamble(head + hl, sizeof head - (size_t)hl, SSE_RETRY_MS);
    size_t len = (size_t)hl + (size_t)(pl > 0 ? pl : 0);
    /* input after the request is read and dropped: an SSE client sends
     * nothing more, and a peer that does must not grow any buffer */
    c->flags |= CF_SSE | CF_DISCARD;
    w->st->sse_conns++;
    conn_established(w, c);
    conn_send_bytes(w, c, head, len);
}

void sse_conn_resume(struct worker *w, struct conn *c, const struct http_req *r,
                     const struct resume_item *items, size_t n)
{
    if (n) { /* since per topic: exact for any number of topics */
        resume_start(w, c, items, n);
        return;
    }
    char id[SSE_MAX_ID];
    ssize_t idl = sse_last_event_id(r, id, sizeof id);
    if (idl == -1 || idl == 0) /* none, or the standard's "no id" */
        return;
    if (!c->sub.topic || c->nextra) {
        /* EventSource keeps one last id for the whole stream: with zero or
         * several topics it names no topic's position (docs/sse.md) */
        resume_sse_unknown(w, c);
        return;
    }
    /* a one-topic stream: the id is that topic's. An id that does not
     * parse (or is too long) keeps epoch 0, which no node has: reset */
    struct resume_item it = {.topic = c->sub.topic->name, .topic_len = c->sub.topic->name_len};
    if (idl < 0 || msgid_parse(id, (size_t)idl, &it.id) < 0)
        it.id = (struct msgid){0};
    resume_start(w, c, &it, 1);
}
