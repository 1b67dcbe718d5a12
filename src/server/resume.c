/* resume.c - resume after a reconnect (?since=): replay or reset.
 *
 * The connection is subscribed before this runs and the worker does not
 * read the ring in between (one thread), so the worker's ring cursor splits
 * the topic's messages in two: those with a live-ring seq below the cursor
 * were fanned out before the connection joined and are replayed from
 * history here, in order; the rest are still ahead in the ring and reach it
 * live. The master stores a message in history before it appends it to the
 * ring, so every message behind the cursor is in history (or evicted: then
 * reset). No buffering, no per-connection state after the handshake, and
 * nothing on the fan-out path: resume costs nothing to connections that do
 * not resume.
 *
 * The same split serves Server-Sent Events streams (sse_conn.c): only the
 * encoding differs (an SSE event per replayed message, an "event: reset"
 * whose id is the current one), chosen per connection in replay_form() and
 * reset().
 *
 * A worker the live ring lapped recovers the lost entries from history the
 * same way (resume_lapped), when history holds them all.
 *
 * What it does not do: parse the request (routes.c, sse_conn.c), keep
 * history (pubsub/history.c). */
#include "server/resume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "http/sse.h"
#include "pubsub/topic.h"
#include "pubsub/envelope.h"
#include "pubsub/topic_table.h"
#include "server/server_int.h"
#include "ws/ws_frame.h"

static const char *const cause_name[RESET_CAUSES] = {"epoch", "gap", "off", "backlog"};

struct msg *resume_envelope(const uint8_t *p, size_t n, bool binary, const char *topic, size_t tl,
                            struct msgid mid)
{
    struct msg *m = msg_new(envelope_bound(tl, n));
    if (!m)
        return NULL;
    char id[MSGID_MAX_LEN];
    if (mid.seq)
        msgid_format(id, sizeof id, mid.epoch, mid.seq);
    m->len =
        (uint32_t)envelope_frame(m->data, m->len, topic, tl, mid.seq ? id : NULL, binary, p, n);
    m->topic_seq = mid.seq;
    return m;
}

struct msg *resume_sse(const uint8_t *p, size_t n, bool binary, const char *topic, size_t tl,
                       struct msgid mid)
{
    uint64_t topic_seq = mid.seq;
    char id[MSGID_MAX_LEN];
    size_t idl = topic_seq ? msgid_format(id, sizeof id, mid.epoch, topic_seq) : 0;
    size_t len = sse_event_len(tl, idl ? idl : SSE_NO_ID, p, n, binary);
    struct msg *m = msg_new(len);
    if (!m)
        return NULL;
    ssize_t e = sse_event_encode(m->data, len, topic ? topic : "", topic ? tl : 0, idl ? id : NULL,
                                 idl, p, n, binary);
    if (e != (ssize_t)len) { /* a topic name with a line break: no SSE form */
        msg_unref(m);
        return NULL;
    }
    m->topic_seq = topic_seq;
    return m;
}

/* A reset names a topic the route took (1-128 bytes, routes.c): its
 * buffers hold the longest. */
_Static_assert(ENVELOPE_CONTROL_MAX >= ENVELOPE_BOUND(TOPIC_NAME_MAX, 64),
               "a reset's buffers hold any topic name");

/* An SSE stream's reset: "event: reset", the current id on its id line
 * (empty without one: that clears the browser's last id), and the same JSON
 * as the envelope's reset as data. */
static void reset_sse(struct worker *w, struct conn *c, const char *topic, size_t tl,
                      const char *id, const char *cause)
{
    char json[ENVELOPE_CONTROL_MAX - WS_MAX_HEADER];
    uint8_t ev[sizeof json + 256]; /* event:, id: (MSGID_MAX_LEN), data: and line ends */
    size_t jl = envelope_control_json(json, sizeof json, "reset", topic, tl, id, cause);
    ssize_t n = sse_event_encode(ev, sizeof ev, "reset", 5, id ? id : "", id ? strlen(id) : 0,
                                 (const uint8_t *)json, jl, false);
    if (n > 0) {
        w->st->sse_resets++;
        conn_send_bytes(w, c, ev, (size_t)n);
    }
}

/* Says "cannot resume" for one topic. Returns false when the connection was
 * closed (raw mode): the caller stops. */
static bool reset(struct worker *w, struct conn *c, const char *topic, size_t tl,
                  enum reset_cause cause, uint64_t newest)
{
    w->st->history_resets[cause]++;
    char id[MSGID_MAX_LEN];
    bool have_id = cause != RESET_OFF && topic;
    if (have_id)
        msgid_format(id, sizeof id, msgid_epoch(), newest);
    if (c->flags & CF_SSE) {
        reset_sse(w, c, topic, tl, have_id ? id : NULL, cause_name[cause]);
        return true;
    }
    if (c->flags & CF_ENVELOPE) {
        uint8_t buf[ENVELOPE_CONTROL_MAX];
        size_t n = envelope_control_frame(buf, sizeof buf, "reset", topic, tl, have_id ? id : NULL,
                                          cause_name[cause]);
        conn_send_bytes(w, c, buf, n);
        return true;
    }
    /* raw mode: the reason carries the current id (DESIGN.md close codes),
     * <= 123 bytes: "reset backlog " + 37 */
    char reason[64];
    snprintf(reason, sizeof reason, "reset %s%s%s", cause_name[cause], have_id ? " " : "",
             have_id ? id : "");
    conn_close(w, c, WS_CLOSE_HISTORY_GAP, reason);
    return false;
}

static void free_list(struct msg **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        msg_unref(list[i]);
    free(list);
}

/* Message s of the topic as c takes it: an SSE event, an envelope or a
 * raw frame. NULL when out of memory. */
static struct msg *replay_form(const struct conn *c, const struct history_view *v,
                               const char *topic, size_t tl, struct msgid id)
{
    if (c->flags & CF_SSE)
        return resume_sse(v->data, v->len, v->binary, topic, tl, id);
    if (c->flags & CF_ENVELOPE)
        return resume_envelope(v->data, v->len, v->binary, topic, tl, id);
    return msg_new_frame(v->binary ? WS_OP_BINARY : WS_OP_TEXT, v->data, v->len);
}

/* The topic's newest seq that this worker has already fanned out (its
 * ring seq is behind the worker's cursor): every later one reaches the
 * connection live. History can be ahead of the cursor by the entries still
 * in the ring (the master stores before it appends, and a busy worker lags),
 * so this walks back from the newest over those, O(entries in flight).
 * A message gone from history on the way back ends the walk: nothing older
 * is readable either, and the caller finds the gap. */
static uint64_t newest_behind(const struct worker *w, uint64_t key, uint64_t newest, uint64_t floor,
                              uint64_t now)
{
    uint64_t s = newest;
    struct history_view v;
    while (s > floor && history_peek(w->history, key, s, now, &v) == 1 &&
           v.ring_seq >= w->rd.next_seq)
        s--;
    return s;
}

/* One topic. Returns false when the connection was closed. */
static bool resume_topic(struct worker *w, struct conn *c, const struct resume_item *it)
{
    const char *topic = it->topic;
    size_t tl = it->topic_len;
    if (!w->history)
        return reset(w, c, topic, tl, RESET_OFF, 0);
    uint64_t key = msg_topic_key(topic, tl);
    uint64_t now = clock_mono_ns();
    /* with ids from Redis the epoch can change under us (the master then
     * clears history): read once, and check it again after the replay */
    uint64_t epoch = msgid_epoch();
    uint64_t newest = history_newest(w->history, key);
    bool known = it->id.epoch == epoch && it->id.seq <= newest;
    /* the id a reset names is the last one this connection will not get
     * live, so the live stream goes on right after it */
    uint64_t last = newest_behind(w, key, newest, known ? it->id.seq : 0, now);
    /* with ids from Redis, an id of this epoch that is newer than anything
     * here was given by a node this one has not caught up with yet (the
     * message is on its way): nothing missed, the live stream goes on from
     * here (and may bring what the client already has again: it drops ids
     * that are not newer, docs/history.md) */
    if (!known && it->id.epoch == epoch && w->cfg->redis[0])
        return true;
    if (!known)
        return reset(w, c, topic, tl, RESET_EPOCH, last);
    if (it->id.seq >= last)
        return true; /* nothing missed (or not yet fanned out here: it comes live) */
    uint64_t want = last - it->id.seq;
    if (want > history_depth(w->history))
        return reset(w, c, topic, tl, RESET_GAP, last);
    struct msg **list = calloc((size_t)want, sizeof *list);
    if (!list) {
        conn_close(w, c, WS_CLOSE_TRY_LATER, "out of memory");
        return false;
    }
    size_t n = 0, bytes = 0;
    enum reset_cause fail = RESET_CAUSES;
    for (uint64_t s = it->id.seq + 1; s <= last; s++) {
        struct history_view v;
        if (history_peek(w->history, key, s, now, &v) != 1) {
            fail = RESET_GAP;
            break;
        }
        struct msg *m = replay_form(c, &v, topic, tl, (struct msgid){epoch, s});
        if (!m) {
            free_list(list, n);
            conn_close(w, c, WS_CLOSE_TRY_LATER, "out of memory");
            return false;
        }
        list[n++] = m;
        if (!history_intact(w->history, &v)) { /* overwritten while we encoded it */
            fail = RESET_GAP;
            break;
        }
        bytes += m->len;
        if (bytes > w->cfg->max_backlog_bytes) {
            fail = RESET_BACKLOG;
            break;
        }
    }
    if (fail == RESET_CAUSES && msgid_epoch() != epoch)
        fail = RESET_EPOCH; /* history was cleared while we read it */
    if (fail != RESET_CAUSES) {
        free_list(list, n);
        return reset(w, c, topic, tl, fail, last);
    }
    /* the replay may queue past --max-backlog by one message at most: the
     * total was checked above, so the gate never drops part of a replay */
    for (size_t i = 0; i < n && c->state == CONN_WS; i++) {
        if (conn_send_msg(w, c, list[i]) < 0)
            break;
        w->st->history_replayed++;
    }
    free_list(list, n);
    return c->state == CONN_WS;
}

void resume_start(struct worker *w, struct conn *c, const struct resume_item *items, size_t n)
{
    for (size_t i = 0; i < n && c->state == CONN_WS; i++)
        if (!resume_topic(w, c, &items[i]))
            return;
}

void resume_sse_unknown(struct worker *w, struct conn *c)
{
    reset(w, c, NULL, 0, RESET_EPOCH, 0);
}

/* A lapped worker: see resume.h. At most this many lost entries are looked
 * up (24 bytes each, for the sort); a larger loss closes with 1013. */
#define LAP_RECOVER_MAX (1u << 20)

struct lap_hit {
    uint64_t ring_seq, key, topic_seq;
};

struct lap_hits {
    struct lap_hit *v;
    size_t n, cap;
};

static void lap_collect(void *ctx, uint64_t key, uint64_t topic_seq, uint64_t ring_seq)
{
    struct lap_hits *h = ctx;
    if (h->n < h->cap)
        h->v[h->n] = (struct lap_hit){ring_seq, key, topic_seq};
    h->n++;
}

static int by_ring_seq(const void *a, const void *b)
{
    const struct lap_hit *x = a, *y = b;
    return (x->ring_seq > y->ring_seq) - (x->ring_seq < y->ring_seq);
}

/* Message hit of topic t from history, in the forms this worker's
 * subscribers take; NULL when it is gone or out of memory. */
static struct msg *lap_msg(struct worker *w, const struct topic *t, const struct lap_hit *hit)
{
    struct history_view v;
    if (history_peek(w->history, hit->key, hit->topic_seq, clock_mono_ns(), &v) != 1)
        return NULL;
    struct msg *m = msg_new_frame(v.binary ? WS_OP_BINARY : WS_OP_TEXT, v.data, v.len);
    if (!m)
        return NULL;
    /* history holds only the current epoch's messages (cleared when it changes) */
    struct msgid id = {msgid_epoch(), hit->topic_seq};
    if (w->st->envelope_conns &&
        !(m->envelope = resume_envelope(v.data, v.len, v.binary, t->name, t->name_len, id)))
        goto fail;
    if (w->st->sse_conns) /* NULL for a name SSE cannot carry: skipped, counted */
        m->sse = resume_sse(v.data, v.len, v.binary, t->name, t->name_len, id);
    if (!history_intact(w->history, &v))
        goto fail;
    struct msg *forms[] = {m, m->envelope, m->sse};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++)
        if (forms[i]) {
            forms[i]->topic_key = hit->key;
            forms[i]->topic_seq = hit->topic_seq;
            forms[i]->seq = hit->ring_seq;
            forms[i]->publish_ns = v.publish_ns;
        }
    return m;
fail:
    msg_unref(m);
    return NULL;
}

bool resume_lapped(struct worker *w, uint64_t from, uint64_t to)
{
    if (!w->history || to <= from || to - from > LAP_RECOVER_MAX)
        return false;
    struct lap_hits h = {calloc((size_t)(to - from), sizeof *h.v), 0, (size_t)(to - from)};
    if (!h.v)
        return false;
    history_find_ring_range(w->history, from, to, clock_mono_ns(), lap_collect, &h);
    /* every lost seq once: ring seqs are unique, so a full count is all */
    bool ok = h.n == h.cap;
    if (ok)
        qsort(h.v, h.n, sizeof *h.v, by_ring_seq);
    for (size_t i = 0; ok && i < h.n; i++) {
        struct topic *t = topic_find_key(w->topics, h.v[i].key);
        if (!t)
            continue; /* no subscriber here */
        struct msg *m = lap_msg(w, t, &h.v[i]);
        if (!m) {
            ok = false;
            break;
        }
        fanout_deliver(w, m, 0, t->name, t->name_len);
        msg_unref(m);
        w->st->ring_recovered++;
    }
    free(h.v);
    return ok;
}
