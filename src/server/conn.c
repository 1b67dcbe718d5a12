/* conn.c - one client connection, on either port: reads, writes, the
 * WebSocket close handshake, and freeing. Its deadlines and liveness (the
 * sweep, pings, pong timeouts, heartbeats) are in conn_live.c.
 *
 * What it does not do: decide routes or topics (routes.c) or walk
 * subscribers (fanout.c). It calls upward only through its host's
 * host_ops (server_int.h; the public port's are in public_port.c, the
 * admin port's in admin.c, whose host is a struct worker with only this
 * file's part), so it depends on no route, token or proxy code. A host
 * that parses its own input (on_data: the admin port) gets the bytes
 * instead of the head parser, and may pause reading above a queued-bytes
 * mark (read_pause_bytes).
 *
 * Invariants: a connection is never freed inside its own callback:
 * conn_kill() only marks it and links it on the worker's dead list; the post
 * hook (conn_reap) unsubscribes, closes the fd and frees it once. Output is
 * written at once; only what a short write leaves over is queued, as
 * references to shared messages, and EPOLLOUT is armed only while the queue
 * is non-empty. Every queued byte passes one gate (backlog_admit: the
 * backlog limit and the slow-consumer policy); every ending passes one
 * lingering close (on_drained); partial input is bounded per worker
 * (shed_partial). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/wsp_assert.h"
#include "ev/timer.h"
#include "http/http_response.h"
#include "http/sse.h"
#include "pubsub/topic_table.h"
#include "server/conn_int.h"
#include "server/conn_out.h"
#include "server/server_int.h"
#include "ws/ws_frame.h"

#define CONN_POOL_CHUNK 1024
#define CONN_MAX_READS 4                   /* reads per wakeup: fairness */
#define CONN_FLUSH_MAX_BYTES (256u * 1024) /* bytes per flush: fairness */
#define CONN_CLOSE_TICKS 3                 /* wait for the peer's close frame */
#define CONN_LINGER_TICKS 2                /* after our last byte: drain input this long at most */
#define TLS_STEPS_PER_ITERATION 64         /* transport handshake steps per loop iteration */

static void on_io(struct ev_loop *loop, struct ev_handler *h, uint32_t events);

static struct conn *pool_get(struct worker *w)
{
    if (!w->pool) {
        /* Connections come in chunks: no per-connection malloc header, and
         * the chunk is never returned (the worker's high-water mark). */
        struct conn *chunk = calloc(CONN_POOL_CHUNK, sizeof *chunk);
        if (!chunk)
            return NULL;
        /* the first struct of each chunk links the chunks (conn_pool_free) */
        chunk[0].next_free = w->pool_chunks;
        w->pool_chunks = chunk;
        for (size_t i = 1; i < CONN_POOL_CHUNK; i++) {
            chunk[i].next_free = w->pool;
            w->pool = &chunk[i];
        }
    }
    struct conn *c = w->pool;
    w->pool = c->next_free;
    memset(c, 0, sizeof *c);
    return c;
}

static void pool_put(struct worker *w, struct conn *c)
{
    c->next_free = w->pool;
    w->pool = c;
}

void conn_pool_free(struct worker *w)
{
    WSP_ASSERT(w->nconns == 0);
    while (w->pool_chunks) {
        struct conn *chunk = w->pool_chunks;
        w->pool_chunks = chunk[0].next_free;
        free(chunk);
    }
    w->pool = NULL;
}

/* conn_int.h */
void conn_deadline_set(struct worker *w, struct conn *c, uint32_t ticks)
{
    if (ticks == 0) {
        w->deadlines[c->slot] = EV_DEADLINE_NONE;
        c->deadline_laps = 0;
        return;
    }
    ev_deadline_set(&w->deadlines[c->slot], &c->deadline_laps, w->tick, ticks);
}

int conn_transport_start(struct worker *w, struct conn *c)
{
    if (!w->tls || c->tp)
        return 0;
    c->tp = transport_tls_new(w->tls, c->fd);
    return c->tp ? 0 : WSP_ENOMEM;
}

struct conn *conn_new(struct worker *w, int fd)
{
    if (w->nconns == w->cap) {
        uint32_t ncap = w->cap ? w->cap * 2 : 1024;
        struct conn **n = realloc(w->conns, sizeof *n * ncap);
        if (!n)
            return NULL;
        w->conns = n;
        /* the dead list holds at most every live connection: grown here,
         * so conn_kill never allocates */
        struct conn **d = realloc(w->dead, sizeof *d * ncap);
        if (!d)
            return NULL;
        w->dead = d;
        uint8_t *dl = realloc(w->deadlines, ncap);
        if (!dl)
            return NULL;
        w->deadlines = dl;
        w->cap = ncap;
    }
    struct conn *c = pool_get(w);
    if (!c)
        return NULL;
    c->h.cb = on_io;
    c->fd = fd;
    c->state = CONN_HTTP;
    if (ev_add(w->loop, fd, EV_READ | EV_RDHUP, &c->h) < 0) {
        pool_put(w, c);
        return NULL;
    }
    c->slot = w->nconns;
    w->conns[w->nconns++] = c;
    conn_deadline_set(w, c, w->ticks_handshake);
    w->st->conns_pending++;
    return c;
}

void conn_kill(struct worker *w, struct conn *c, uint16_t code)
{
    if (c->state == CONN_DEAD)
        return;
    if (c->state == CONN_WS || c->state == CONN_CLOSING) {
        if (!c->close_code)
            c->close_code = code;
    }
    c->state = CONN_DEAD;
    w->dead[w->ndead++] = c;
}

int conn_topic_join(struct worker *w, struct conn *c, const char *name, size_t n,
                    struct topic_sub *sub)
{
    int rc = topic_subscribe(w->topics, name, n, c, sub);
    if (rc < 0)
        return rc;
    struct topic *t = sub->topic;
    /* the shared table counts this worker's subscribers of t in the slot
     * t keeps; only the first and the last take the table's lock */
    if (t->count == 1)
        t->ext_slot = (int32_t)topic_table_join(w->shared->topics, w->id, t->key, name, n);
    else
        topic_table_add(w->shared->topics, w->id, t->ext_slot, +1);
    return 0;
}

static void topic_leave(struct worker *w, struct topic_sub *sub)
{
    struct topic *t = sub->topic;
    if (!t)
        return;
    if (t->count == 1)
        topic_table_leave(w->shared->topics, w->id, t->ext_slot);
    else
        topic_table_add(w->shared->topics, w->id, t->ext_slot, -1);
    topic_unsubscribe(w->topics, sub);
}

static void unsubscribe_all(struct worker *w, struct conn *c)
{
    topic_leave(w, &c->sub);
    for (unsigned i = 0; i < c->nextra; i++)
        topic_leave(w, &c->extra[i]);
    free(c->extra);
    c->extra = NULL;
    c->nextra = 0;
}

/* Partial input (a split frame, a fragmented or compressed message in
 * progress) is the one input a connection holds between reads. Each
 * connection's share is bounded by --max-message; the worker's sum by
 * --max-partial-input. rx_account records a connection's new holding
 * (before: what it held at the last call). */
static void rx_account(struct worker *w, struct conn *c, size_t before)
{
    size_t now = ws_rx_buffered(c->rx);
    w->partial_bytes += now;
    w->partial_bytes -= before;
    w->st->partial_input_bytes = w->partial_bytes;
}

/* Frees a connection's partial input and takes it off the worker's sum. */
static void rx_drop(struct worker *w, struct conn *c)
{
    size_t held = ws_rx_buffered(c->rx);
    ws_rx_free(c->rx);
    c->rx = NULL;
    rx_account(w, c, held);
}

void conn_reap(struct worker *w)
{
    /* a fan-out paused between slices walks the arrays by position: they
     * may grow, nothing leaves them until it is done (fanout.c) */
    if (w->walk.m)
        return;
    while (w->ndead) {
        struct conn *c = w->dead[--w->ndead];
        /* dense array: move the last connection into the hole */
        struct conn *last = w->conns[--w->nconns];
        w->conns[c->slot] = last;
        w->deadlines[c->slot] = w->deadlines[last->slot];
        last->slot = c->slot;
        unsubscribe_all(w, c);
        w->host_ops->on_forget(w, c); /* e.g. its token's entry */
        if (w->ips)
            ipcount_release(w->ips, c->ip_id);
        if (c->flags & CF_DEFLATE)
            w->st->deflate_conns--;
        if (c->flags & CF_ENVELOPE)
            w->st->envelope_conns--;
        if (c->flags & CF_SSE)
            w->st->sse_conns--;
        if (c->flags & CF_COUNTED) {
            w->st->conns--;
            w->st->disconnects[metrics_close_bucket(c->close_code ? c->close_code : 1006)]++;
        } else {
            w->st->conns_pending--;
        }
        outq_free(c->out); /* and its bytes from queued_bytes */
        if (c->flags & CF_COUNTED)
            rx_drop(w, c);
        else
            free(c->in);
        transport_free(c->tp);
        close(c->fd);
        pool_put(w, c);
    }
    if (w->topics)
        w->st->topics = topic_index_topics(w->topics);
}

void conn_host_release(struct worker *w, uint16_t code)
{
    WSP_DASSERT(!w->walk.m); /* the host dropped a paused walk first (fanout_cancel) */
    for (uint32_t i = 0; i < w->nconns; i++)
        conn_kill(w, w->conns[i], code);
    if (w->nconns)
        conn_reap(w);
    free(w->conns);
    free(w->dead);
    free(w->deadlines);
    w->conns = w->dead = NULL;
    w->deadlines = NULL;
    w->nconns = w->cap = 0;
}

/* The read pause (a host's read_pause_bytes: the admin port's): while
 * this much output waits, c is not read, so a peer that sends requests
 * without reading the answers costs at most the mark plus one answer. */
static inline bool read_paused(const struct worker *w, const struct conn *c)
{
    return w->read_pause_bytes && c->out && outq_bytes(c->out) >= w->read_pause_bytes;
}

/* The events c waits for, with EPOLLOUT or without. */
static uint32_t wanted_events(const struct worker *w, const struct conn *c, bool write)
{
    bool read = !(c->flags & CF_RD_SHUT) && !read_paused(w, c);
    return (read ? EV_READ | EV_RDHUP : 0) | (write ? EV_WRITE : 0);
}

static void set_want_write(struct worker *w, struct conn *c, bool on)
{
    if (on == !!(c->flags & CF_WANT_WRITE))
        return;
    uint32_t ev = wanted_events(w, c, on);
    if (ev_mod(w->loop, c->fd, ev, &c->h) == 0) {
        if (on)
            c->flags |= CF_WANT_WRITE;
        else
            c->flags &= (uint16_t)~CF_WANT_WRITE;
    }
}

/* Everything queued has gone out. */
static void on_drained(struct worker *w, struct conn *c)
{
    c->flags &= (uint16_t)~CF_DROPPING;
    if (c->flags & CF_PING_QUEUED) {
        /* our ping has just left: the peer's pong time starts now */
        c->flags &= (uint16_t)~CF_PING_QUEUED;
        if ((c->flags & CF_PING_SENT) && c->state == CONN_WS)
            conn_deadline_set(w, c, w->ticks_pong);
    }
    if (!(c->flags & CF_END_AFTER_FLUSH))
        return;
    if (c->flags & CF_RD_SHUT) { /* the peer sends nothing more: done */
        conn_kill(w, c, c->close_code);
        return;
    }
    /* Lingering close (nginx's lingering_close): our last word (close
     * frame, error response) is out. Half-close and keep reading, for at
     * most CONN_LINGER_TICKS, until the peer's EOF: closing with unread
     * input makes the kernel send a reset, which destroys what we sent
     * but the peer has not read yet (a client that writes before it
     * reads loses our close frame). Until the peer's close frame arrives
     * its input is parsed, to see it; after that, or after input we gave
     * up on, it is dropped unread. */
    if (c->flags & CF_PEER_CLOSED)
        c->flags |= CF_DISCARD;
    transport_shutdown(c->tp, c->fd);
    conn_deadline_set(w, c, CONN_LINGER_TICKS);
}

/* Bytes taken (0: the socket is full) or < 0: plain is an inline send(2),
 * any other transport its ops (transport.h). */
static inline ssize_t send_now(struct conn *c, const void *p, size_t n)
{
    return transport_write(c->tp, c->fd, p, n);
}

static int queue_push(struct worker *w, struct conn *c, struct msg *m, size_t offset)
{
    if (conn_out_push(&c->out, &w->st->queued_bytes, m, offset) < 0)
        return WSP_ENOMEM;
    set_want_write(w, c, true);
    return 0;
}

/* The backlog gate: every byte a connection queues passes here (published
 * messages, echoes, pongs, pings, HTTP replies), so nothing a peer can
 * provoke grows its queue past --max-backlog. A piece that finds the queue
 * empty is always taken (it is bounded by its own limit: one message, one
 * reply); past the cap the slow-consumer policy decides. `final` marks the
 * last bytes a connection says (its close frame, an HTTP reply): they pass
 * (one frame past the cap), and the close deadline bounds their wait.
 * Returns 0 (queue it), WSP_EAGAIN (dropped by the policy) or WSP_ECLOSED
 * (the policy closed the connection). */
static int backlog_admit(struct worker *w, struct conn *c, size_t add, bool final)
{
    if (final || outq_empty(c->out))
        return 0;
    if (c->flags & CF_DROPPING) { /* policy "drop": skipping until drained */
        w->st->slow_drop++;
        return WSP_EAGAIN;
    }
    if (outq_bytes(c->out) + add <= w->max_backlog_bytes)
        return 0;
    if (c->state != CONN_WS)
        return WSP_EAGAIN; /* closing: only its final bytes still go out */
    switch (w->cfg->slow_policy) {
    case SLOW_CLOSE:
        w->st->slow_close++;
        /* the close frame queues behind the backlog (bounded: one frame
         * past the cap) and the close deadline ends the connection if the
         * peer never reads it */
        conn_close(w, c, WS_CLOSE_POLICY, "slow consumer");
        return WSP_ECLOSED;
    case SLOW_DROP:
        c->flags |= CF_DROPPING; /* until the queue drains */
        break;
    case SLOW_LATEST: /* fanout_one replaced what it could; the rest drops */
        break;
    }
    w->st->slow_drop++;
    return WSP_EAGAIN;
}

static int queue(struct worker *w, struct conn *c, struct msg *m, size_t offset, bool final)
{
    int rc = backlog_admit(w, c, m->len - offset, final);
    return rc ? rc : queue_push(w, c, m, offset);
}

int conn_send_result(struct worker *w, struct conn *c, struct msg *m, ssize_t r)
{
    if (r == (ssize_t)m->len) {
        w->st->bytes_sent += (uint64_t)r;
        return 0; /* the common case: nothing queued, nothing allocated */
    }
    if (r == -EAGAIN || r == -EINTR) /* the socket is full: queue it all */
        r = 0;
    if (r < 0) {
        conn_kill(w, c, WS_CLOSE_ABNORMAL);
        return (int)r;
    }
    w->st->bytes_sent += (uint64_t)r;
    w->st->short_writes++;
    if (queue_push(w, c, m, (size_t)r) < 0) {
        conn_kill(w, c, WS_CLOSE_INTERNAL);
        return WSP_ENOMEM;
    }
    return 0;
}

int conn_send_msg(struct worker *w, struct conn *c, struct msg *m)
{
    if (c->state == CONN_DEAD)
        return WSP_ECLOSED;
    if (outq_empty(c->out))
        return conn_send_result(w, c, m, send_now(c, m->data, m->len));
    int rc = queue(w, c, m, 0, false);
    if (rc == WSP_ENOMEM)
        conn_kill(w, c, WS_CLOSE_INTERNAL);
    return rc;
}

static int send_bytes(struct worker *w, struct conn *c, const void *p, size_t n, bool final)
{
    if (c->state == CONN_DEAD)
        return WSP_ECLOSED;
    size_t off = 0;
    if (outq_empty(c->out)) {
        ssize_t r = send_now(c, p, n);
        if (r < 0) {
            conn_kill(w, c, WS_CLOSE_ABNORMAL);
            return (int)r;
        }
        w->st->bytes_sent += (uint64_t)r;
        off = (size_t)r;
        if (off == n) {
            if (c->flags & CF_END_AFTER_FLUSH)
                on_drained(w, c);
            return 0;
        }
    }
    int rc = backlog_admit(w, c, n - off, final); /* before allocating */
    if (rc)
        return rc;
    if (conn_out_push_copy(&c->out, &w->st->queued_bytes, (const uint8_t *)p + off, n - off) < 0) {
        conn_kill(w, c, WS_CLOSE_INTERNAL);
        return WSP_ENOMEM;
    }
    set_want_write(w, c, true);
    return 0;
}

int conn_send_bytes(struct worker *w, struct conn *c, const void *p, size_t n)
{
    return send_bytes(w, c, p, n, false);
}

/* Output fell below the read-pause mark: read c again, let the host serve
 * what it holds, and read what TLS decrypted already (epoll cannot see
 * it). */
static void read_resume(struct worker *w, struct conn *c)
{
    if (c->out &&
        ev_mod(w->loop, c->fd, wanted_events(w, c, c->flags & CF_WANT_WRITE), &c->h) < 0) {
        conn_kill(w, c, WS_CLOSE_ABNORMAL);
        return;
    }
    if (w->host_ops->on_resume)
        w->host_ops->on_resume(w, c);
    if (c->state != CONN_DEAD && transport_pending(c->tp) > 0)
        conn_read_input(w, c);
}

static void flush(struct worker *w, struct conn *c)
{
    if (outq_empty(c->out)) {
        set_want_write(w, c, false);
        return;
    }
    bool paused = read_paused(w, c);
    ssize_t r = conn_out_flush(c->fd, c->tp, &c->out, CONN_FLUSH_MAX_BYTES);
    if (r < 0) {
        conn_kill(w, c, WS_CLOSE_ABNORMAL);
        return;
    }
    w->st->bytes_sent += (uint64_t)r;
    if (!c->out) { /* drained (and freed) */
        set_want_write(w, c, false);
        on_drained(w, c);
    }
    if (paused && c->state != CONN_DEAD && !read_paused(w, c))
        read_resume(w, c);
}

void conn_end(struct worker *w, struct conn *c)
{
    if (c->state == CONN_DEAD || (c->flags & CF_END_AFTER_FLUSH))
        return;
    c->state = CONN_CLOSING;
    c->flags |= CF_END_AFTER_FLUSH;
    if (outq_empty(c->out))
        on_drained(w, c);
}

void conn_close(struct worker *w, struct conn *c, uint16_t code, const char *reason)
{
    if (c->state == CONN_DEAD || c->state == CONN_CLOSING)
        return;
    if (c->state == CONN_HTTP) {
        conn_kill(w, c, code);
        return;
    }
    c->close_code = code;
    c->state = CONN_CLOSING;
    c->flags |= CF_END_AFTER_FLUSH;
    conn_deadline_set(w, c, CONN_CLOSE_TICKS);
    if (c->flags & CF_SSE) {
        /* SSE has no close frame: the stream just ends once what is
         * queued is out (the close deadline bounds the wait), and
         * EventSource reconnects after its retry delay. Lost messages
         * (1013) are said first, so a client never resumes over a
         * silent gap (docs/sse.md). */
        static const char lost[] = "event: reset\nid: \n"
                                   "data: {\"reason\":\"messages lost\"}\n\n";
        if (code == WS_CLOSE_TRY_LATER)
            send_bytes(w, c, lost, sizeof lost - 1, true);
        else if (outq_empty(c->out))
            on_drained(w, c);
        return;
    }
    uint8_t frame[WS_MAX_HEADER + WS_MAX_CONTROL];
    uint8_t payload[WS_MAX_CONTROL];
    size_t pl = ws_close_payload(payload, code, reason);
    size_t fl = ws_frame_encode(frame, sizeof frame, true, WS_OP_CLOSE, payload, pl, NULL);
    send_bytes(w, c, frame, fl, true);
}

void conn_http_reply(struct worker *w, struct conn *c, int status, const char *ctype,
                     const void *body, size_t len, const char *extra_headers)
{
    char head[1024];
    size_t hl = http_response_head(head, sizeof head, status, ctype, len, false, extra_headers);
    WSP_ASSERT(hl > 0);
    c->state = CONN_CLOSING;
    conn_deadline_set(w, c, CONN_CLOSE_TICKS);
    /* one write for head and body when they fit: the common case */
    if (len && len <= 16384) {
        uint8_t buf[1024 + 16384];
        memcpy(buf, head, hl);
        memcpy(buf + hl, body, len);
        c->flags |= CF_END_AFTER_FLUSH;
        send_bytes(w, c, buf, hl + len, true);
        return;
    }
    if (send_bytes(w, c, head, hl, true) < 0)
        return;
    c->flags |= CF_END_AFTER_FLUSH;
    send_bytes(w, c, body, len, true);
}

/* ---- inbound WebSocket frames ---- */

struct feed_ctx {
    struct worker *w;
    struct conn *c;
};

int conn_send_control(struct worker *w, struct conn *c, uint8_t op, const uint8_t *p, size_t n)
{
    uint8_t frame[WS_MAX_HEADER + WS_MAX_CONTROL];
    size_t fl = ws_frame_encode(frame, sizeof frame, true, op, p, n, NULL);
    /* a close frame is the connection's last word: past the backlog too */
    return send_bytes(w, c, frame, fl, op == WS_OP_CLOSE);
}

/* --msg-rate: data messages, pings and pongs all count, so a control
 * frame flood meets the same limit as a message flood. False once the
 * connection is closed for it. */
static bool rate_ok(struct worker *w, struct conn *c)
{
    if (!w->cfg->msg_rate)
        return true;
    if (c->rate_tick != w->tick) { /* a new second: a new window */
        c->rate_tick = w->tick;
        c->rate_count = 0;
    }
    if (c->rate_count < UINT16_MAX)
        c->rate_count++;
    if (c->rate_count <= w->cfg->msg_rate)
        return true;
    conn_close(w, c, WS_CLOSE_POLICY, "message rate limit");
    return false;
}

/* The echo of a message: compressed like any published message when the
 * connection negotiated permessage-deflate and it is at least
 * --deflate-min bytes (and compression helps), else plain. The worker's
 * echo deflater is made on first use (about 256 KiB). NULL: no memory. */
static struct msg *echo_frame(struct worker *w, struct conn *c, uint8_t opcode, const uint8_t *p,
                              size_t n)
{
    size_t plain = ws_frame_header_len(n, false) + n;
    if ((c->flags & CF_DEFLATE) && n >= w->cfg->deflate_min_bytes) {
        if (!w->echo_deflater)
            w->echo_deflater =
                ws_deflater_new(WS_DEFLATE_DEFAULT_LEVEL, WS_DEFLATE_DEFAULT_WINDOW_BITS);
        size_t cap = WS_MAX_HEADER + ws_deflate_bound(n);
        struct msg *m = w->echo_deflater ? msg_new(cap) : NULL;
        if (m) {
            ssize_t z = ws_deflate_frame(w->echo_deflater, opcode, p, n, m->data, cap);
            if (z > 0 && (size_t)z < plain) {
                m->len = (uint32_t)z;
                return m;
            }
            msg_unref(m);
        }
    }
    return msg_new_frame(opcode, p, n);
}

static void rx_message(void *ctx, uint8_t opcode, const uint8_t *p, size_t n)
{
    struct feed_ctx *f = ctx;
    struct conn *c = f->c;
    f->w->st->messages_in++;
    if (c->state != CONN_WS || !rate_ok(f->w, c))
        return;
    if (c->flags & CF_ECHO) {
        struct msg *m = echo_frame(f->w, c, opcode, p, n);
        if (!m) {
            conn_close(f->w, c, WS_CLOSE_INTERNAL, "out of memory");
            return;
        }
        conn_send_msg(f->w, c, m);
        msg_unref(m);
    }
}

static void rx_ping(void *ctx, const uint8_t *p, size_t n)
{
    struct feed_ctx *f = ctx;
    if (f->c->state == CONN_WS && rate_ok(f->w, f->c))
        conn_send_control(f->w, f->c, WS_OP_PONG, p, n); /* §5.5.3: same payload */
}

static void rx_pong(void *ctx, const uint8_t *p, size_t n)
{
    (void)p;
    (void)n;
    struct feed_ctx *f = ctx;
    f->c->flags &= (uint16_t)~CF_PING_SENT;
    if (f->c->state == CONN_WS)
        rate_ok(f->w, f->c);
}

static void rx_close(void *ctx, uint16_t code, const uint8_t *reason, size_t n)
{
    (void)reason;
    (void)n;
    struct feed_ctx *f = ctx;
    struct conn *c = f->c;
    c->flags |= CF_PEER_CLOSED;
    if (c->state == CONN_CLOSING) {
        /* the reply to our close: the handshake is complete. Drop what
         * follows; the connection ends at the peer's EOF once our side
         * is out (lingering close, on_drained) */
        c->flags |= CF_DISCARD;
        return;
    }
    /* §5.5.1: echo the status code; 1005 means "none", so reply empty */
    c->close_code = code;
    c->state = CONN_CLOSING;
    c->flags |= CF_END_AFTER_FLUSH;
    conn_deadline_set(f->w, c, CONN_CLOSE_TICKS);
    uint8_t payload[2];
    size_t pl = 0;
    if (code != WS_CLOSE_NO_STATUS)
        pl = ws_close_payload(payload, code, NULL);
    conn_send_control(f->w, c, WS_OP_CLOSE, payload, pl);
}

static const struct ws_rx_ops rx_ops = {
    .on_message = rx_message,
    .on_ping = rx_ping,
    .on_pong = rx_pong,
    .on_close = rx_close,
};

/* Over --max-partial-input: closes the connections holding the most
 * partial input (1009) until the worker is within it again, dropping what
 * they held at once. A scan of the connections per victim: this happens
 * only under attack, and each scan frees a victim's whole holding. */
static void shed_partial(struct worker *w)
{
    while (w->partial_bytes > w->cfg->max_partial_input_bytes) {
        struct conn *worst = NULL;
        size_t most = 0;
        for (uint32_t i = 0; i < w->nconns; i++) {
            struct conn *c = w->conns[i];
            if (!(c->flags & CF_COUNTED) || !c->rx)
                continue;
            size_t held = ws_rx_buffered(c->rx);
            if (held > most) {
                most = held;
                worst = c;
            }
        }
        if (!worst)
            return;
        w->st->partial_input_shed++;
        rx_drop(w, worst);
        /* its input is cut mid-message: read and drop the rest */
        worst->flags |= CF_DISCARD;
        conn_close(w, worst, WS_CLOSE_TOO_BIG, "partial input over the worker's limit");
    }
}

void conn_ws_feed(struct worker *w, struct conn *c, uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    struct feed_ctx f = {w, c};
    uint16_t code = 0;
    const char *reason = NULL;
    const struct ws_rx_cfg *cfg;
    if (c->flags & CF_DEFLATE)
        cfg = (c->flags & CF_ECHO) ? &w->rx_cfg_echo_z : &w->rx_cfg_z;
    else
        cfg = (c->flags & CF_ECHO) ? &w->rx_cfg_echo : &w->rx_cfg;
    /* any input proves the peer alive */
    c->flags &= (uint16_t)~CF_PING_SENT;
    if (c->state == CONN_WS && w->ticks_ping)
        conn_deadline_set(w, c, w->ticks_ping);
    size_t held = ws_rx_buffered(c->rx);
    int r = ws_rx_feed(&c->rx, cfg, p, n, &rx_ops, &f, &code, &reason);
    rx_account(w, c, held);
    if (w->partial_bytes > w->cfg->max_partial_input_bytes)
        shed_partial(w);
    if (r < 0) {
        if (r == WSP_ENOMEM) {
            code = WS_CLOSE_INTERNAL;
            reason = "out of memory";
        }
        /* the input is broken from here on: drop the rest unread */
        c->flags |= CF_DISCARD;
        if (c->state != CONN_CLOSING) /* already closing: don't argue */
            conn_close(w, c, code, reason);
    }
}

/* ---- reading ---- */

static void http_feed(struct worker *w, struct conn *c, uint8_t *p, size_t n)
{
    uint8_t *buf = p;
    size_t len = n;
    if (c->in) {
        /* at most max_head + one read: the parser rejects the rest */
        size_t need = c->in->len + n;
        if (need > c->in->cap) {
            struct conn_spill *s = realloc(c->in, sizeof *s + need);
            if (!s) {
                conn_kill(w, c, 0);
                return;
            }
            s->cap = (uint32_t)need;
            c->in = s;
        }
        memcpy(c->in->data + c->in->len, p, n);
        c->in->len += (uint32_t)n;
        buf = c->in->data;
        len = c->in->len;
    }
    struct http_req req;
    ssize_t r = http_parse_request(buf, len, &w->http_lim, &req);
    if (r == WSP_EAGAIN) {
        if (!c->in) { /* keep the partial head: the read buffer is shared */
            size_t cap = len < 512 ? 512 : len;
            c->in = malloc(sizeof *c->in + cap);
            if (!c->in) {
                conn_kill(w, c, 0);
                return;
            }
            c->in->cap = (uint32_t)cap;
            c->in->len = (uint32_t)len;
            memcpy(c->in->data, buf, len);
        }
        return;
    }
    if (r < 0) {
        w->st->handshake_fail[r == WSP_ETOOBIG ? HS_FAIL_TOO_LARGE : HS_FAIL_BAD_REQUEST]++;
        const char *why = req.reason ? req.reason : "bad request";
        w->host_ops->on_refused(w, c, req.status ? req.status : 400, why);
        conn_http_reply(w, c, req.status ? req.status : 400, "text/plain", why, strlen(why), NULL);
        return;
    }
    /* bytes after the head (a client may send frames right away) stay in
     * the input and go to the frame parser once upgraded */
    uint8_t *rest;
    size_t rest_len;
    /* the spill shares its pointer with the frame parser's state: take it
     * out of the connection before the upgrade can set c->rx */
    struct conn_spill *spill = c->in;
    c->in = NULL;
    if (spill) {
        rest = spill->data + r;
        rest_len = len - (size_t)r;
    } else {
        rest = p + r;
        rest_len = n - (size_t)r;
    }
    w->host_ops->on_request(w, c, &req, rest, rest_len);
    free(spill);
}

/* One read through the transport: > 0 bytes, 0 at EOF, WSP_EAGAIN, < 0
 * error. */
static ssize_t read_some(struct worker *w, struct conn *c)
{
    if (transport_handshaking(c->tp)) {
        /* a burst of handshakes must not starve established connections:
         * a bounded number of handshake steps per loop iteration; the rest
         * stay readable (level-triggered) and go next iteration */
        if (w->tls_steps >= TLS_STEPS_PER_ITERATION) {
            w->st->tls_deferred++;
            return WSP_EAGAIN;
        }
        w->tls_steps++;
    }
    int want_write = 0;
    ssize_t n = transport_read(c->tp, c->fd, w->rbuf, w->rbuf_size, &want_write);
    if (n == WSP_EAGAIN && want_write)
        set_want_write(w, c, true);
    return n;
}

void conn_read_input(struct worker *w, struct conn *c)
{
    if ((c->flags & (CF_PROXY_HDR | CF_PROXY_SNIFF)) && w->host_ops->on_preamble(w, c) <= 0)
        return;
    for (int i = 0; i < CONN_MAX_READS && c->state != CONN_DEAD; i++) {
        if (read_paused(w, c)) {
            /* the rest waits in the kernel until flush() resumes reading */
            if (ev_mod(w->loop, c->fd, wanted_events(w, c, c->flags & CF_WANT_WRITE), &c->h) < 0)
                conn_kill(w, c, WS_CLOSE_ABNORMAL);
            return;
        }
        ssize_t n = read_some(w, c);
        if (n == 0 && c->state == CONN_WS && !(c->flags & (CF_RD_SHUT | CF_SSE))) {
            /* a half-close (shutdown(SHUT_WR)): the peer may still read,
             * so keep delivering. A write error (the peer's RST once it
             * has closed for good) or the ping deadline ends it. */
            c->flags |= CF_RD_SHUT;
            uint32_t ev = (c->flags & CF_WANT_WRITE) ? EV_WRITE : 0;
            if (ev_mod(w->loop, c->fd, ev, &c->h) < 0) {
                conn_kill(w, c, WS_CLOSE_ABNORMAL);
                return;
            }
            /* probe: a peer that closed for good answers with an RST
             * (EPOLLHUP), so it is freed now, not at the next write */
            conn_send_control(w, c, WS_OP_PING, NULL, 0);
            return;
        }
        if (n == 0) {
            /* EOF: a WebSocket peer that vanishes without a close frame
             * ends abnormally (1006, never sent) */
            conn_kill(w, c, (c->flags & CF_PEER_CLOSED) ? c->close_code : WS_CLOSE_ABNORMAL);
            return;
        }
        if (n == WSP_EAGAIN)
            return;
        if (n < 0) {
            conn_kill(w, c, WS_CLOSE_ABNORMAL);
            return;
        }
        switch (c->state) {
        case CONN_HTTP:
            if (w->host_ops->on_data)
                w->host_ops->on_data(w, c, w->rbuf, (size_t)n);
            else
                http_feed(w, c, w->rbuf, (size_t)n);
            break;
        case CONN_WS:
            if (!(c->flags & CF_DISCARD)) /* SSE: input after the request is dropped */
                conn_ws_feed(w, c, w->rbuf, (size_t)n);
            break;
        case CONN_CLOSING:
            /* after an HTTP error reply: discard; after our close frame:
             * keep parsing to see the peer's close */
            if ((c->flags & (CF_COUNTED | CF_DISCARD)) == CF_COUNTED)
                conn_ws_feed(w, c, w->rbuf, (size_t)n);
            break;
        default:
            return;
        }
        /* plain: a short read means the socket is drained; TLS reads a
         * record at a time and may hold more, so read until EAGAIN */
        if ((size_t)n < w->rbuf_size && !transport_reads_records(c->tp))
            return;
    }
}

static void on_io(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    conn_on_io(ev_loop_user(loop), container_of(h, struct conn, h), events);
}

void conn_on_io(struct worker *w, struct conn *c, uint32_t events)
{
    if (c->state == CONN_DEAD)
        return; /* stale event for a connection closed in this batch */
    if (events & EV_WRITE) {
        flush(w, c);
        /* a transport handshake (TLS) that wanted to write goes on by reading */
        if (c->state != CONN_DEAD && transport_handshaking(c->tp))
            conn_read_input(w, c);
    }
    if (c->state != CONN_DEAD && (events & (EV_READ | EV_HUP | EV_ERROR | EV_RDHUP)))
        conn_read_input(w, c);
}

void conn_on_event(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    on_io(loop, h, events);
}
