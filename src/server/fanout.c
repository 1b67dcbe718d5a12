/* fanout.c - the hot path: one encoded message to every local subscriber.
 *
 * Walks either the worker's dense connection array (broadcast) or one
 * topic's dense member array, and hands each subscriber the same bytes.
 * Per subscriber: a state check and, in the common case, one send(2);
 * nothing is allocated, logged or locked. Connections that die during the
 * walk are only marked (conn_kill), so the arrays do not change under it.
 * What it does not do: read the ring or decide topics (worker.c). */
#include "core/clock.h"
#include "server/server_int.h"
#include "ws/ws_frame.h"

void fanout_one(struct worker *w, struct conn *c, struct msg *m)
{
    if (c->state != CONN_WS)
        return;
    if (m->deflated && (c->flags & CF_DEFLATE))
        m = m->deflated; /* the same compressed bytes for every such client */
    if (outq_empty(c->out)) {
        w->st->deliveries++;
        conn_send_msg(w, c, m);
        return;
    }
    /* slow path: this socket is already behind */
    if (c->flags & CF_DROPPING) {
        w->st->slow_drop++;
        return;
    }
    if (outq_bytes(c->out) + m->len > w->cfg->max_backlog) {
        switch (w->cfg->slow_policy) {
        case SLOW_CLOSE:
            w->st->slow_close++;
            /* the close frame queues behind the backlog (bounded: one
             * frame past the cap) and the close deadline ends the
             * connection if the peer never reads it */
            conn_close(w, c, WS_CLOSE_POLICY, "slow consumer");
            return;
        case SLOW_DROP:
            w->st->slow_drop++;
            c->flags |= CF_DROPPING; /* until the queue drains */
            return;
        case SLOW_LATEST:
            if (m->topic_key && outq_replace_latest(c->out, m) == 1) {
                w->st->slow_latest++;
                w->st->deliveries++;
                return;
            }
            w->st->slow_drop++;
            return;
        }
    }
    if (w->cfg->slow_policy == SLOW_LATEST && m->topic_key && outq_replace_latest(c->out, m) == 1) {
        w->st->slow_latest++;
        w->st->deliveries++;
        return;
    }
    w->st->deliveries++;
    conn_send_msg(w, c, m);
}

void fanout_deliver(struct worker *w, struct msg *m, uint8_t flags, const char *topic,
                    size_t topic_len)
{
    if (flags & RING_F_BROADCAST) {
        struct conn **cs = w->conns;
        uint32_t n = w->nconns;
        for (uint32_t i = 0; i < n; i++)
            fanout_one(w, cs[i], m);
    } else {
        struct topic *t = topic_find(w->topics, topic, topic_len, m->topic_key);
        if (!t)
            return;
        struct topic_member *mem = t->members;
        uint32_t n = t->count;
        for (uint32_t i = 0; i < n; i++)
            fanout_one(w, mem[i].owner, m);
    }
    if (m->publish_ns) {
        uint64_t now = clock_mono_ns();
        metrics_fanout_observe(w->st, now > m->publish_ns ? now - m->publish_ns : 0);
    }
}
