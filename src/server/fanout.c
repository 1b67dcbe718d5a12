/* fanout.c - the hot path: one encoded message to every local subscriber.
 *
 * Walks either the worker's dense connection array (broadcast) or one
 * topic's dense member array, and hands each subscriber the same bytes.
 * Per subscriber: a state check and, in the common case, one send(2);
 * nothing is allocated, logged or locked. Connections that die during the
 * walk are only marked (conn_kill), so the arrays do not change under it.
 * What it does not do: read the ring or decide topics (worker.c).
 *
 * With io_uring (the default where the kernel allows it), the per-subscriber
 * send is prepared as a submission and a batch of up to FANOUT_URING_ENTRIES
 * goes to the kernel in one io_uring_enter: measured on this machine, 4.8-5.2
 * instead of 5.6-6.0 us of sender CPU per loopback delivery (bench notes in
 * BENCHMARKS.md). MSG_DONTWAIT makes each send complete inline or fail with
 * EAGAIN (never parked), so the batch is settled before fanout_deliver
 * returns and the ordering rules are those of plain send(): a short or
 * refused send queues the rest, later messages queue behind it. */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/log.h"
#include "server/server_int.h"
#include "ws/ws_frame.h"

/* The form of m that c takes: the same bytes for every connection of a
 * form. SSE streams take the SSE event (NULL: m has none, it did not fit a
 * ring entry); WebSockets the envelope where they asked for it (m->envelope
 * is NULL unless this worker has such a subscriber, so with none the test
 * costs one predictable branch on the message), then the deflated variant
 * where negotiated. */
static inline struct msg *form_for(const struct conn *c, struct msg *m)
{
    if (c->flags & CF_SSE)
        return m->sse;
    if (m->envelope && (c->flags & CF_ENVELOPE))
        m = m->envelope;
    return m->deflated && (c->flags & CF_DEFLATE) ? m->deflated : m;
}

/* Deliveries, and by transport: a flag test, no branch. */
static inline void count_delivery(struct worker *w, const struct conn *c)
{
    w->st->deliveries++;
    w->st->sse_deliveries += (c->flags & CF_SSE) / CF_SSE;
}

static void fanout_flush(struct worker *w, struct msg *m);

static void fanout_one(struct worker *w, struct conn *c, struct msg *m)
{
    if (c->state != CONN_WS || (c->flags & CF_ECHO)) /* the echo path only echoes */
        return;
    struct msg *orig = m; /* a batch is settled against the message as published */
    m = form_for(c, m);
    if (!m) {
        w->st->sse_skipped++;
        return;
    }
    if (outq_empty(c->out)) {
        count_delivery(w, c);
        if (w->uring && transport_is_plain(c->tp)) { /* io_uring: plain sockets only */
            struct io_uring_sqe *sqe = io_uring_get_sqe(w->uring);
            if (!sqe) { /* the batch is full: settle it and start another */
                fanout_flush(w, orig);
                sqe = io_uring_get_sqe(w->uring);
            }
            if (sqe) {
                io_uring_prep_send(sqe, c->fd, m->data, m->len, MSG_NOSIGNAL | MSG_DONTWAIT);
                io_uring_sqe_set_data(sqe, c);
                w->uring_pending++;
                return;
            }
        }
        conn_send_msg(w, c, m);
        return;
    }
    /* slow path: this socket is already behind. "latest" replaces a queued
     * message of the same topic; anything else meets the backlog gate
     * (conn.c), which applies --max-backlog and the policy to every byte a
     * connection queues. */
    if (w->cfg->slow_policy == SLOW_LATEST && m->topic_key && outq_replace_latest(c->out, m) == 1) {
        w->st->slow_latest++;
        count_delivery(w, c);
        return;
    }
    if (conn_send_msg(w, c, m) == 0)
        count_delivery(w, c);
}

static void fanout_flush(struct worker *w, struct msg *m)
{
    if (!w->uring || !w->uring_pending)
        return;
    int r = io_uring_submit_and_wait(w->uring, w->uring_pending);
    if (r < 0 && r != -EINTR)
        log_ratelimited(WSP_LOG_ERROR, "io_uring submit: %s", strerror(-r));
    /* every prepared send completes inline (MSG_DONTWAIT); settle them all */
    while (w->uring_pending) {
        struct io_uring_cqe *cqe;
        int e = io_uring_wait_cqe(w->uring, &cqe);
        if (e < 0) {
            if (e == -EINTR)
                continue;
            log_ratelimited(WSP_LOG_ERROR, "io_uring wait: %s", strerror(-e));
            break;
        }
        struct conn *c = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(w->uring, cqe);
        w->uring_pending--;
        /* each connection was sent its form (deflated, SSE) */
        conn_send_result(w, c, form_for(c, m), res);
    }
}

int fanout_uring_init(struct worker *w, unsigned entries)
{
    struct io_uring *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    int r = io_uring_queue_init(entries, u, 0);
    if (r < 0) {
        free(u);
        return r;
    }
    w->uring = u;
    w->uring_pending = 0;
    return 0;
}

void fanout_uring_free(struct worker *w)
{
    if (!w->uring)
        return;
    io_uring_queue_exit(w->uring);
    free(w->uring);
    w->uring = NULL;
}

void fanout_deliver(struct worker *w, struct msg *m, uint8_t flags, const char *topic,
                    size_t topic_len)
{
    /* The walk starts at a rotating offset (topic_walk_start), so the same
     * subscribers are not always the last to get a message (issue 16): no
     * per-connection state, one counter per topic. The arrays do not change
     * during the walk (deaths are only marked). */
    if (flags & RING_F_BROADCAST) {
        struct conn **cs = w->conns;
        uint32_t n = w->nconns;
        uint32_t s = n ? topic_walk_start(&w->broadcast_walks, n) : 0;
        for (uint32_t i = s; i < n; i++)
            fanout_one(w, cs[i], m);
        for (uint32_t i = 0; i < s; i++)
            fanout_one(w, cs[i], m);
    } else {
        struct topic *t = topic_find(w->topics, topic, topic_len, m->topic_key);
        if (!t)
            return;
        struct topic_member *mem = t->members;
        uint32_t n = t->count;
        uint32_t s = topic_walk_start(&t->walks, n);
        for (uint32_t i = s; i < n; i++)
            fanout_one(w, mem[i].owner, m);
        for (uint32_t i = 0; i < s; i++)
            fanout_one(w, mem[i].owner, m);
    }
    fanout_flush(w, m);
    if (m->publish_ns) {
        uint64_t now = clock_mono_ns();
        metrics_fanout_observe(w->st, now > m->publish_ns ? now - m->publish_ns : 0);
    }
}
