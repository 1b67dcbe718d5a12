/* fanout.c - the hot path: one encoded message to every local subscriber.
 *
 * Walks either the worker's dense connection array (broadcast) or one
 * topic's dense member array, and hands each subscriber the same bytes.
 * Per subscriber: a state check and, in the common case, one send(2);
 * nothing is allocated, logged or locked. Connections that die during the
 * walk are only marked (conn_kill), so the arrays do not change under it.
 * What it does not do: read the ring or decide topics (worker.c).
 *
 * A long fan-out is walked in slices (--fanout-slice subscribers, issue
 * 16): between two slices the worker goes back to its loop, so accepts,
 * handshakes, pongs and reads of that worker wait for one slice, not for
 * the whole walk. On a node whose workers hold ~19,000 connections each
 * and share 2 cores with their clients, a whole walk is seconds of wall
 * time; a slice of 1,024 is milliseconds. Order is kept: the paused walk
 * is finished before the next message's begins.
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

/* TLS records sealed for the io_uring batch: each connection's record is
 * its own bytes (its keys, its sequence number), so they are sealed into
 * one arena per worker and sent from there; the completion tells the
 * transport what the socket took (transport.h, seal/sealed). */
#define SEAL_ARENA (256u * 1024)
struct fanout_seals {
    uint8_t *buf;        /* SEAL_ARENA bytes */
    size_t used;         /* bytes of buf sealed into this batch */
    struct sealed_send { /* one per submission slot, indexed by uring_pending */
        struct conn *c;
        uint32_t off, len; /* its record: buf[off, off + len) */
    } e[];
};

/* The io_uring submission of a sealed record's completion is tagged in the
 * low bit of its user data (a plain one is the connection itself). */
#define SEALED_TAG 1u

static struct fanout_seals *seals_of(struct worker *w)
{
    if (w->seals)
        return w->seals;
    unsigned slots = w->uring->sq.ring_entries;
    struct fanout_seals *s = calloc(1, sizeof *s + (size_t)slots * sizeof s->e[0]);
    if (s && !(s->buf = malloc(SEAL_ARENA))) {
        free(s);
        s = NULL;
    }
    return w->seals = s;
}

/* A slot in the batch, settling the batch first when it is full: an sqe,
 * or NULL (io_uring gave none even after a flush). */
static struct io_uring_sqe *batch_slot(struct worker *w, struct msg *orig)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(w->uring);
    if (!sqe) { /* the batch is full: settle it and start another */
        fanout_flush(w, orig);
        sqe = io_uring_get_sqe(w->uring);
    }
    return sqe;
}

/* A TLS connection's record into the batch: false when it goes the
 * ordinary way (its transport does not seal, or cannot now). */
static bool batch_sealed(struct worker *w, struct conn *c, struct msg *m, struct msg *orig)
{
    size_t room = m->len + TRANSPORT_SEAL_OVERHEAD;
    struct fanout_seals *s = seals_of(w);
    if (!s || room > SEAL_ARENA)
        return false;
    if (s->used + room > SEAL_ARENA || io_uring_sq_space_left(w->uring) == 0) {
        fanout_flush(w, orig);
        if (s->used + room > SEAL_ARENA || io_uring_sq_space_left(w->uring) == 0)
            return false; /* io_uring failed to settle: the ordinary way */
    }
    size_t len = transport_seal(c->tp, m->data, m->len, s->buf + s->used);
    if (!len)
        return false;
    struct io_uring_sqe *sqe = io_uring_get_sqe(w->uring); /* space was left */
    struct sealed_send *e = &s->e[w->uring_pending];
    *e = (struct sealed_send){.c = c, .off = (uint32_t)s->used, .len = (uint32_t)len};
    s->used += len;
    io_uring_prep_send(sqe, c->fd, s->buf + e->off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)e | SEALED_TAG);
    w->uring_pending++;
    return true;
}

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
        if (w->uring && transport_is_plain(c->tp)) { /* io_uring: plain sockets as they are */
            struct io_uring_sqe *sqe = batch_slot(w, orig);
            if (sqe) {
                io_uring_prep_send(sqe, c->fd, m->data, m->len, MSG_NOSIGNAL | MSG_DONTWAIT);
                io_uring_sqe_set_data(sqe, c);
                w->uring_pending++;
                return;
            }
        } else if (w->uring && transport_seals(c->tp) && batch_sealed(w, c, m, orig)) {
            return; /* TLS 1.3: its own record, sealed into the batch */
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
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(w->uring, cqe);
        w->uring_pending--;
        if (ud & SEALED_TAG) { /* a sealed record: the transport says what of m went */
            const struct sealed_send *ss =
                (const struct sealed_send *)(uintptr_t)(ud & ~(uint64_t)SEALED_TAG);
            struct msg *f = form_for(ss->c, m);
            ssize_t took =
                transport_sealed(ss->c->tp, w->seals->buf + ss->off, ss->len, res, f->len);
            conn_send_result(w, ss->c, f, took);
            continue;
        }
        struct conn *c = (struct conn *)(uintptr_t)ud;
        /* each connection was sent its form (deflated, SSE) */
        conn_send_result(w, c, form_for(c, m), res);
    }
    if (w->seals && !w->uring_pending) /* nothing of the arena in flight */
        w->seals->used = 0;
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
    if (w->seals)
        free(w->seals->buf);
    free(w->seals);
    w->seals = NULL;
}

/* Positions [from, to) of the paused walk: index (start + position) mod n,
 * i.e. [start, n) then [0, start). The arrays are read afresh for every
 * slice (joiners between slices may have moved them); within a slice
 * nothing joins and nothing leaves (deaths are only marked). */
static void walk_slice(struct worker *w, uint32_t from, uint32_t to)
{
    const struct fanout_walk *k = &w->walk;
    uint64_t a = (uint64_t)k->start + from, b = (uint64_t)k->start + to, n = k->n;
    uint64_t end1 = b < n ? b : n;                                  /* the first leg: [a, end1) */
    uint64_t from2 = (a > n ? a : n) - n, end2 = b > n ? b - n : 0; /* the wrap */
    struct msg *m = k->m;
    if (k->t) {
        struct topic_member *mem = k->t->members;
        for (uint64_t i = a; i < end1; i++)
            fanout_one(w, mem[i].owner, m);
        for (uint64_t i = from2; i < end2; i++)
            fanout_one(w, mem[i].owner, m);
    } else {
        struct conn **cs = w->conns;
        for (uint64_t i = a; i < end1; i++)
            fanout_one(w, cs[i], m);
        for (uint64_t i = from2; i < end2; i++)
            fanout_one(w, cs[i], m);
    }
}

bool fanout_resume(struct worker *w)
{
    struct fanout_walk *k = &w->walk;
    if (!k->m)
        return true;
    uint64_t slice = w->cfg->fanout_slice;
    uint32_t left = k->n - k->done;
    uint32_t to = (!slice || left <= slice) ? k->n : k->done + (uint32_t)slice;
    walk_slice(w, k->done, to);
    fanout_flush(w, k->m); /* no batch outlives its slice */
    k->done = to;
    if (to < k->n) {
        w->st->fanout_yields++;
        return false;
    }
    struct msg *m = k->m;
    k->m = NULL;
    if (m->publish_ns) {
        uint64_t now = clock_mono_ns();
        metrics_fanout_observe(w->st, now > m->publish_ns ? now - m->publish_ns : 0);
    }
    msg_unref(m);
    return true;
}

static void fanout_finish(struct worker *w)
{
    while (!fanout_resume(w))
        ;
}

bool fanout_begin(struct worker *w, struct msg *m, uint8_t flags, const char *topic,
                  size_t topic_len)
{
    fanout_finish(w); /* one message at a time: nothing overtakes a paused walk */
    /* The walk starts at a rotating offset (topic_walk_start), so the same
     * subscribers are not always the last to get a message (issue 16): no
     * per-connection state, one counter per topic. It covers the array as
     * it was here: a connection that joins while the walk is paused comes
     * after n and does not get m (it joined after m was published; a
     * resume replays m from history, resume.c), and nothing leaves until
     * the walk ends (conn_reap waits), so positions do not move. */
    struct topic *t = NULL;
    uint32_t n, s;
    if (flags & RING_F_BROADCAST) {
        n = w->nconns;
        s = n ? topic_walk_start(&w->broadcast_walks, n) : 0;
    } else {
        t = topic_find(w->topics, topic, topic_len, m->topic_key);
        if (!t)
            return true;
        n = t->count;
        s = topic_walk_start(&t->walks, n);
    }
    msg_ref(m);
    w->walk = (struct fanout_walk){.m = m, .t = t, .n = n, .start = s, .done = 0};
    return fanout_resume(w);
}

void fanout_deliver(struct worker *w, struct msg *m, uint8_t flags, const char *topic,
                    size_t topic_len)
{
    if (!fanout_begin(w, m, flags, topic, topic_len))
        fanout_finish(w);
}

void fanout_cancel(struct worker *w)
{
    if (!w->walk.m)
        return;
    msg_unref(w->walk.m);
    w->walk.m = NULL;
}
