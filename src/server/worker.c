/* worker.c - a worker process: accept, read the ring, fan out, sweep.
 *
 * One thread, one event loop: the listener (SO_REUSEPORT, one per worker,
 * created by the master so its accept queue survives a worker restart), the
 * eventfd the master rings after each publish, a signalfd, and every
 * connection. Once per second a sweep advances the coarse clock and visits
 * each connection's one-byte deadline. Closed connections are freed in the
 * post hook, after the batch of events that closed them.
 *
 * worker_init builds the state from what the master made (or a test:
 * without listener and eventfd, clients from conn_new), worker_run runs the
 * loop, worker_release tears it down; worker_main is the process around
 * them. */
#include "server/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/wsp_assert.h"
#include "ev/timer.h"
#include "http/sse.h"
#include "server/auth_conn.h"
#include "server/control.h"
#include "server/control_worker.h"
#include "server/live_config.h"
#include "server/server_int.h"
#include "pubsub/envelope.h"
#include "pubsub/forms.h"
#include "pubsub/msgid.h"
#include "server/resume.h"
#include "ws/ws_frame.h"

#define WORKER_RBUF (64u * 1024)
#define WORKER_ACCEPTS_PER_WAKE 256
#define WORKER_RING_PER_WAKE 1024
#define WORKER_RING_EVERY 32 /* handlers between two looks at the ring */

/* --max-conns-per-ip counts every connection from accept on, so half-sent
 * request heads (or stalled TLS handshakes) count like upgraded sockets
 * (issue 11 item 6). Returns false when peer is at its limit; otherwise
 * *ip_id is what conn_reap gives back (0: not counted).
 *
 * A trusted proxy (--trusted-proxies) is admitted without counting
 * (*trusted set): the address it names in its PROXY header or
 * X-Forwarded-For is counted once read, with the same ipcount_acquire on
 * the connection's ip_id, still 0 (proxy_conn.c). conn_reap releases
 * whatever ip_id holds. */
static bool ip_admit_at_accept(struct worker *w, const struct sockaddr *peer, uint32_t *ip_id,
                               bool *trusted)
{
    *ip_id = 0;
    *trusted = w->cfg->n_trusted && proxy_cidr_match(w->cfg->trusted, w->cfg->n_trusted, peer);
    if (!w->ips || *trusted)
        return true;
    /* out of memory or an odd family: do not refuse on our own limitation */
    return ipcount_acquire(w->ips, peer, ip_id) != WSP_ETOOBIG;
}

/* Past the per-IP limit: refused before any per-connection state exists.
 * Plain: one fixed 429, best effort, after taking what the peer already
 * sent off the socket, so the close is a FIN rather than a reset that could
 * discard the reply. TLS: nothing can be said in clear; closed at once. */
static void refuse_per_ip(struct worker *w, int fd, const struct sockaddr *peer, socklen_t len)
{
#define PER_IP_BODY "too many connections from this address\n"
    static const char resp[] = "HTTP/1.1 429 Too Many Requests\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 39\r\n"
                               "Retry-After: 5\r\n"
                               "Connection: close\r\n\r\n" PER_IP_BODY;
    _Static_assert(sizeof PER_IP_BODY - 1 == 39, "Content-Length of the 429 body");
#undef PER_IP_BODY
    w->st->handshake_fail[HS_FAIL_PER_IP]++;
    routes_access_log_peer(w, peer, len, 429, "too many connections from this address");
    if (!w->tls) { /* best effort both: the peer may be gone already */
        ssize_t r = recv(fd, w->rbuf, w->rbuf_size, MSG_DONTWAIT);
        r = send(fd, resp, sizeof resp - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)r;
    }
    close(fd);
}

static void on_accept(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    (void)loop;
    (void)events;
    struct worker *w = container_of(h, struct worker, listen_h);
    for (int i = 0; i < WORKER_ACCEPTS_PER_WAKE && w->accepting; i++) {
        if (w->cfg->accept_rate && w->accepts_in_tick >= w->cfg->accept_rate) {
            /* over the rate: stop listening until the next sweep; the
             * kernel's accept queue holds the burst meanwhile */
            if (ev_del(w->loop, w->listen_fd) == 0) {
                w->accept_paused = true;
                w->st->accept_paused++;
            }
            return;
        }
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int fd = accept4(w->listen_fd, (struct sockaddr *)&peer, &peer_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            if (errno == ECONNABORTED || errno == EPROTO)
                continue;
            w->st->accept_errors++;
            if ((errno == EMFILE || errno == ENFILE) && w->spare_fd >= 0) {
                /* out of descriptors: use the spare one to take the
                 * connection off the queue and close it, so the loop does
                 * not spin on a listener that stays readable */
                close(w->spare_fd);
                int x = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (x >= 0)
                    close(x);
                w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                log_ratelimited(WSP_LOG_WARN, "accept: out of file descriptors (%s)",
                                strerror(EMFILE));
                return;
            }
            log_ratelimited(WSP_LOG_WARN, "accept: %s", strerror(errno));
            return;
        }
        w->st->accepted_total++;
        w->accepts_in_tick++;
        uint32_t ip_id;
        bool trusted;
        if (!ip_admit_at_accept(w, (const struct sockaddr *)&peer, &ip_id, &trusted)) {
            refuse_per_ip(w, fd, (const struct sockaddr *)&peer, peer_len);
            continue;
        }
        struct conn *c = conn_new(w, fd);
        if (!c) {
            if (ip_id)
                ipcount_release(w->ips, ip_id);
            close(fd);
            log_ratelimited(WSP_LOG_WARN, "out of memory for a new connection");
            continue;
        }
        c->ip_id = ip_id;
        if (trusted)
            c->flags |= CF_TRUSTED;
        if (w->cfg->proxy_protocol) /* a trusted peer's TLS starts after its header */
            c->flags |= trusted ? CF_PROXY_HDR : CF_PROXY_SNIFF;
        if (!(c->flags & CF_PROXY_HDR) && conn_transport_start(w, c) < 0)
            conn_kill(w, c, 0);
    }
}

/* The ring lapped this worker: `lost` entries are gone (ring_peek has
 * already moved on to the oldest intact one). Where history holds every one
 * of them they are fanned out from there (resume_lapped). Otherwise the lost
 * entries' topics went with their bytes, so any subscriber may have missed
 * something: every
 * WebSocket subscriber of this worker is closed with 1013 (try again later)
 * before anything after the gap reaches it, so no client ever sees a silent
 * gap. The echo endpoint subscribes to nothing and stays. Runs once per gap,
 * not per message: the walk over the connections is off the hot path. */
static void on_ring_gap(struct worker *w, uint64_t lost)
{
    w->st->ring_lost += lost;
    if (resume_lapped(w, w->rd.next_seq - lost, w->rd.next_seq)) {
        log_ratelimited(WSP_LOG_WARN, "lapped by the ring: %llu messages recovered from history",
                        (unsigned long long)lost);
        return;
    }
    uint32_t closed = 0;
    for (uint32_t i = 0; i < w->nconns; i++) {
        struct conn *c = w->conns[i];
        if (c->state != CONN_WS || (c->flags & CF_ECHO))
            continue;
        conn_close(w, c, WS_CLOSE_TRY_LATER, "messages lost");
        w->st->lapped_closes++;
        closed++;
    }
    log_ratelimited(WSP_LOG_WARN,
                    "lapped by the ring: %llu messages lost, %u subscribers closed (1013)",
                    (unsigned long long)lost, closed);
}

/* A copy of form [off, off + len) of an entry, NULL if len is 0 or out of
 * memory. */
static struct msg *form_copy(const uint8_t *p, size_t len)
{
    struct msg *m = len ? msg_new(len) : NULL;
    if (m)
        memcpy(m->data, p, len);
    return m;
}

static void msg_share_meta(const struct msg *from, struct msg *to)
{
    if (!to)
        return;
    to->topic_key = from->topic_key;
    to->seq = from->seq;
    to->topic_seq = from->topic_seq;
    to->publish_ns = from->publish_ns;
}

/* An entry without forms: the plain frame, maybe followed by the deflated
 * one (whose own header says where the plain one ends). */
static struct msg *msg_from_frames(const struct ring_entry *e)
{
    size_t plain_len = e->frame_len;
    if (e->flags & RING_F_DEFLATE) {
        struct ws_frame f;
        struct ws_decode_opts o = {0};
        ssize_t hl = ws_frame_decode_header(e->frame, e->frame_len, &o, &f);
        if (hl > 0 && (uint64_t)hl + f.payload_len < e->frame_len)
            plain_len = (size_t)hl + (size_t)f.payload_len;
    }
    struct msg *m = form_copy(e->frame, plain_len);
    if (m && plain_len < e->frame_len)
        m->deflated = form_copy(e->frame + plain_len, e->frame_len - plain_len);
    if (m) {
        m->seq = e->seq;
        m->publish_ns = e->publish_ns;
    }
    return m;
}

/* The raw frame's payload (after its header) into *p, *n; false if the
 * header does not decode. */
static bool raw_payload(const struct msg *m, const uint8_t **p, size_t *n, bool *binary)
{
    struct ws_frame fr;
    struct ws_decode_opts o = {0};
    ssize_t hl = ws_frame_decode_header(m->data, m->len, &o, &fr);
    if (hl <= 0)
        return false;
    *p = m->data + hl;
    *n = m->len - (size_t)hl;
    *binary = fr.opcode == WS_OP_BINARY;
    return true;
}

/* The forms this worker needs, one copy each. The envelope and SSE forms
 * are taken only while this worker has such subscribers; if the master made
 * none (the first such subscriber arrived after the publish, e.g. a stream
 * that resumed from history: resume.c), this worker encodes it once itself,
 * so an envelope client never gets a raw frame and an SSE stream never
 * misses a message its replay left to the live ring. An SSE form that would
 * not have fitted a ring entry stays absent here too (skipped, counted). */
static struct msg *msg_from_forms(struct worker *w, const struct ring_entry *e, const char *topic,
                                  size_t tl)
{
    struct ring_forms f;
    size_t off = ring_forms_read(e->frame, e->frame_len, &f);
    if (!off) /* torn (ring_consume will say so): an empty msg, never delivered */
        return msg_new(0);
    const uint8_t *p = e->frame + off;
    struct msg *m = form_copy(p, f.len[FORM_RAW]);
    if (!m)
        return NULL;
    m->seq = e->seq;
    m->publish_ns = e->publish_ns;
    m->topic_seq = f.topic_seq;
    p += f.len[FORM_RAW];
    m->deflated = form_copy(p, f.len[FORM_RAW_Z]);
    p += f.len[FORM_RAW_Z];
    const char *t = (e->flags & RING_F_BROADCAST) ? NULL : topic;
    const uint8_t *pl;
    size_t n;
    bool bin;
    if (w->st->sse_conns) { /* the SSE form comes last */
        if (f.len[FORM_SSE])
            m->sse = form_copy(p + f.len[FORM_ENV] + f.len[FORM_ENV_Z], f.len[FORM_SSE]);
        else if (raw_payload(m, &pl, &n, &bin) &&
                 sizeof f + f.len[FORM_RAW] + sse_event_len(t ? tl : 0, MSGID_MAX_LEN, pl, n, bin) +
                         tl <=
                     ring_max_entry(w->ring))
            m->sse = resume_sse(pl, n, bin, t, tl, (struct msgid){f.epoch, f.topic_seq});
    }
    if (!w->st->envelope_conns)
        return m;
    if (f.len[FORM_ENV]) {
        m->envelope = form_copy(p, f.len[FORM_ENV]);
        if (m->envelope)
            m->envelope->deflated = form_copy(p + f.len[FORM_ENV], f.len[FORM_ENV_Z]);
        return m;
    }
    if (raw_payload(m, &pl, &n, &bin))
        m->envelope = resume_envelope(pl, n, bin, t, tl, (struct msgid){f.epoch, f.topic_seq});
    return m;
}

/* ---- conflation (issue 16): a worker that is behind skips ahead ----
 *
 * An entry flagged RING_F_CONFLATE (the ticker's, --conflate topics; never
 * a topic with history: master.c) is skipped when a newer conflatable entry
 * of the same topic is already in the ring: that is what "behind" means
 * here, no clock involved. The look-ahead reader runs over the entries
 * already published, ahead of the delivering one, and records per topic
 * (in the worker's topic index, so only topics with local subscribers) the
 * ring seq of the newest conflatable entry it saw; it visits each entry
 * once, however many wakes it takes to deliver them. Entries are still
 * delivered in ring order: the newest goes out at its own place, after what
 * was published before it. The count of skipped messages rides on the next
 * delivered one: envelope clients see "skipped":N (re-encoded once per
 * message by this worker, never per subscriber). */
#define WORKER_LOOKAHEAD_PER_WAKE (4 * WORKER_RING_PER_WAKE)

static const uint64_t broadcast_key = 0x9e3779b97f4a7c15ull;

/* The newest-seen seq and the pending skip count of an entry's topic, or
 * false if this worker has no subscriber to it. */
static bool conflation_state(struct worker *w, uint8_t flags, const char *topic, size_t tl,
                             uint64_t key, uint64_t **newest, uint32_t **skipped)
{
    if (flags & RING_F_BROADCAST) {
        *newest = &w->broadcast_newest_conflatable;
        *skipped = &w->broadcast_skipped;
        return true;
    }
    struct topic *t = topic_find(w->topics, topic, tl, key);
    if (!t)
        return false;
    *newest = &t->newest_conflatable;
    *skipped = &t->skipped;
    return true;
}

static void look_ahead(struct worker *w)
{
    if (w->ahead.next_seq < w->rd.next_seq) /* first run, or a gap moved rd on */
        w->ahead = w->rd;
    char topic[256];
    for (int i = 0; i < WORKER_LOOKAHEAD_PER_WAKE; i++) {
        struct ring_entry e;
        if (ring_peek(w->ring, &w->ahead, &e, NULL) <= 0)
            return;
        bool c = (e.flags & (RING_F_CONFLATE | RING_F_CONTROL)) == RING_F_CONFLATE;
        size_t tl = e.topic_len < sizeof topic ? e.topic_len : sizeof topic - 1;
        if (c)
            memcpy(topic, e.topic, tl);
        uint64_t seq = e.seq;
        uint8_t flags = e.flags;
        if (ring_consume(w->ring, &w->ahead, NULL) < 0)
            continue; /* overwritten meanwhile: rd will see the gap */
        if (!c)
            continue;
        uint64_t key = (flags & RING_F_BROADCAST) ? broadcast_key : msg_topic_key(topic, tl);
        uint64_t *newest;
        uint32_t *skipped;
        if (conflation_state(w, flags, topic, tl, key, &newest, &skipped) && seq > *newest)
            *newest = seq;
    }
}

/* m follows `skipped` conflated messages of its topic: its envelope form
 * (if this worker has envelope clients) is encoded again, once, with
 * "skipped":N. The deflated envelope is dropped with the old form (a
 * message may go uncompressed, RFC 7692 §6), so the new one is sent plain. */
static void announce_skipped(struct msg *m, uint8_t flags, const char *topic, size_t tl,
                             uint32_t skipped)
{
    const uint8_t *pl;
    size_t n;
    bool bin;
    if (!m->envelope || !raw_payload(m, &pl, &n, &bin))
        return;
    bool bc = flags & RING_F_BROADCAST;
    struct msg *e = msg_new(envelope_bound(bc ? 0 : tl, n));
    if (!e)
        return; /* out of memory: the envelope goes without the count */
    char id[MSGID_MAX_LEN];
    if (m->topic_seq)
        msgid_format(id, sizeof id, msgid_epoch(), m->topic_seq);
    e->len = (uint32_t)envelope_frame_skipped(e->data, e->len, bc ? NULL : topic, tl,
                                              m->topic_seq ? id : NULL, skipped, bin, pl, n);
    e->topic_seq = m->topic_seq;
    msg_unref(m->envelope);
    m->envelope = e;
}

static void drain_ring(struct worker *w);

static void on_wake(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    (void)loop;
    (void)events;
    struct worker *w = container_of(h, struct worker, wake_h);
    uint64_t v;
    if (read(w->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        log_ratelimited(WSP_LOG_WARN, "eventfd read: %s", strerror(errno));
    drain_ring(w);
}

/* Between the handlers of a long batch (a storm of handshakes that replay
 * history, say): live messages go out now rather than after the whole batch.
 * One shared load when there is nothing new. Connections closed meanwhile
 * are reaped after the batch (conn_kill defers), as for on_wake itself,
 * which runs inside batches too. */
static void on_between(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct worker *w = arg;
    if (ring_head_seq(w->ring) >= w->rd.next_seq)
        drain_ring(w);
}

/* Brings the loop back here after the events it has now (the eventfd). */
static void wake_self(struct worker *w)
{
    uint64_t one = 1;
    if (write(w->wake_fd, &one, sizeof one) < 0)
        log_ratelimited(WSP_LOG_WARN, "eventfd write: %s", strerror(errno));
}

/* Takes up to WORKER_RING_PER_WAKE entries from the ring and fans them out;
 * if more are left, or a fan-out paused after a slice (--fanout-slice),
 * wakes itself again: the worker's other events are served in between. A
 * paused fan-out goes on before anything else is taken from the ring. */
static void drain_ring(struct worker *w)
{
    char topic[256];
    if (!fanout_resume(w)) {
        wake_self(w);
        return;
    }
    for (int i = 0; i < WORKER_RING_PER_WAKE; i++) {
        struct ring_entry e;
        uint64_t lost = 0;
        /* caught up with the look-ahead (entries may have arrived during
         * this wake, e.g. while a long fan-out ran): look further first */
        if (w->rd.next_seq >= w->ahead.next_seq)
            look_ahead(w);
        int r = ring_peek(w->ring, &w->rd, &e, &lost);
        if (lost)
            on_ring_gap(w, lost);
        if (r <= 0)
            return;
        if (e.flags & RING_F_CONTROL) { /* in order with the messages: DESIGN.md */
            struct ctl_cmd cmd;
            int bad = ctl_decode(e.topic, e.topic_len, e.frame, e.frame_len, &cmd);
            if (ring_consume(w->ring, &w->rd, &lost) < 0)
                on_ring_gap(w, lost);
            else if (!bad)
                control_worker_run(w, &cmd);
            continue;
        }
        size_t tl = e.topic_len < sizeof topic ? e.topic_len : sizeof topic - 1;
        memcpy(topic, e.topic, tl);
        uint64_t key = (e.flags & RING_F_BROADCAST) ? broadcast_key : msg_topic_key(topic, tl);
        uint64_t *newest = NULL;
        uint32_t *skipped = NULL;
        if ((e.flags & RING_F_CONFLATE) &&
            conflation_state(w, e.flags, topic, tl, key, &newest, &skipped) && e.seq < *newest) {
            /* a newer message of this topic is already in the ring */
            if (ring_consume(w->ring, &w->rd, &lost) < 0) {
                on_ring_gap(w, lost);
                continue;
            }
            w->st->ring_entries++;
            w->st->conflated++;
            if (*skipped < UINT32_MAX)
                (*skipped)++;
            continue;
        }
        struct msg *m =
            (e.flags & RING_F_FORMS) ? msg_from_forms(w, &e, topic, tl) : msg_from_frames(&e);
        if (!m) {
            log_ratelimited(WSP_LOG_ERROR, "out of memory for a message");
            return;
        }
        uint8_t flags = e.flags;
        if (ring_consume(w->ring, &w->rd, &lost) < 0) {
            /* the writer lapped us while we copied: the copy may be torn */
            on_ring_gap(w, lost);
            msg_unref(m);
            continue;
        }
        w->st->ring_entries++;
        if (m->len == 0) { /* a malformed entry: nothing to deliver */
            msg_unref(m);
            continue;
        }
        m->topic_key = key;
        if (skipped && *skipped) {
            announce_skipped(m, flags, topic, tl, *skipped);
            *skipped = 0;
        }
        msg_share_meta(m, m->deflated);
        msg_share_meta(m, m->sse);
        if (m->envelope) {
            msg_share_meta(m, m->envelope);
            msg_share_meta(m, m->envelope->deflated);
        }
        bool done = fanout_begin(w, m, flags, topic, tl);
        msg_unref(m);
        if (!done)
            break;
    }
    /* more left: make sure we come back without waiting for a new publish */
    wake_self(w);
}

static void start_drain(struct worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    w->accepting = false;
    if (!w->accept_paused)
        ev_del(w->loop, w->listen_fd);
    close(w->listen_fd);
    w->listen_fd = -1;
    w->drain_deadline_ms = clock_mono_ms() + w->cfg->drain_timeout_ms;
    drain_begin(w);
}

/* SIGHUP (forwarded by the master once it has loaded the files itself):
 * new connections use freshly loaded certificates; established ones and
 * pending handshakes keep the set they started with (tls.c refcounts it). A
 * file broken in between keeps the old certificates and says why. */
static void reload_tls(struct worker *w)
{
    if (!w->tls)
        return;
    char err[512];
    struct tls_ctx *t =
        tls_ctx_new(w->cfg->tls_certs, w->cfg->tls_keys, w->cfg->n_tls, err, sizeof err);
    if (!t) {
        log_sub_error(WSP_SUB_TLS, "certificate reload failed, keeping the old ones: %s", err);
        return;
    }
    tls_ctx_free(w->tls);
    w->tls = t;
    w->st->tls_reloads++;
    log_sub_info(WSP_SUB_TLS, "certificates reloaded");
}

static uint32_t ticks_for(uint64_t ms);

uint64_t worker_ping_ms(uint64_t interval_ms, uint64_t budget, unsigned ncpu, unsigned nworkers,
                        uint64_t nconns)
{
    if (!interval_ms || !budget || !nconns)
        return interval_ms;
    /* the node may send budget x ncpu pings per second; this worker's
     * share pings its nconns once per interval at most that often */
    double share = (double)budget * (ncpu ? ncpu : 1) / (nworkers ? nworkers : 1);
    double need_ms = (double)nconns * 1000.0 / share;
    if (need_ms <= (double)interval_ms)
        return interval_ms;
    return need_ms >= (double)EV_DEADLINE_MAX_MS ? EV_DEADLINE_MAX_MS : (uint64_t)need_ms;
}

void worker_ping_interval_update(struct worker *w)
{
    const struct wsp_config *cfg = w->cfg;
    w->ping_ms = worker_ping_ms(cfg->ping_interval_ms, cfg->ping_budget, w->ncpu,
                                w->shared->nworkers, w->nconns);
    w->ticks_ping = w->ping_ms ? ticks_for(w->ping_ms) : 0;
    w->st->deadline_ticks_ping = w->ticks_ping;
    w->st->ping_ms = w->ping_ms;
}

/* The worker state made from the live options (config_opt_is_live): at
 * start, and again after SIGHUP changed them. Deadlines already armed keep
 * their time; the next one armed uses the new interval. A per-IP limit set
 * where there was none counts the connections accepted from then on. */
static int apply_limits(struct worker *w)
{
    const struct wsp_config *cfg = w->cfg;
    w->ticks_handshake = ticks_for(cfg->handshake_timeout_ms);
    worker_ping_interval_update(w);
    w->ticks_pong = ticks_for(cfg->pong_timeout_ms);
    w->ticks_sse = cfg->sse_heartbeat_ms ? ticks_for(cfg->sse_heartbeat_ms) : 0;
    w->max_backlog_bytes = cfg->max_backlog_bytes;
    w->st->deadline_ticks_handshake = w->ticks_handshake;
    w->st->deadline_ticks_pong = w->ticks_pong;
    w->hs_cfg.origins = cfg->origins;
    w->hs_cfg.n_origins = cfg->n_origins;
    uint64_t lim = cfg->max_conns_per_ip;
    uint32_t lim32 = !lim || lim > UINT32_MAX ? UINT32_MAX : (uint32_t)lim;
    if (w->ips)
        ipcount_set_limit(w->ips, lim32); /* no limit: counted still, never refused */
    else if (lim && !(w->ips = ipcount_new(lim32, 0)))
        return WSP_ENOMEM;
    wsp_log_set_levels(cfg->log_level, cfg->log_sub_levels);
    return 0;
}

/* SIGHUP from the master, after it published its new settings: the live
 * options that changed are applied here, between events. */
static void reload_config(struct worker *w)
{
    struct wsp_config *next = malloc(sizeof *next);
    if (!next || live_config_read(w->live, next) < 0) {
        free(next);
        log_error("config reload: cannot read the master's settings, keeping the current ones");
        return;
    }
    /* w->cfg is this process's copy of the master's config (never const
     * itself): only this loop reads it, and only between events */
    int n = config_apply_live((struct wsp_config *)w->cfg, next);
    free(next);
    if (apply_limits(w) < 0)
        log_error("config reload: out of memory for --max-conns-per-ip: not enforced");
    if (n < 0)
        log_error("config reload: an option could not be applied");
    else if (n > 0)
        log_info("config reload: %d change%s applied", n, n == 1 ? "" : "s");
}

static void on_signal(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    (void)loop;
    (void)events;
    struct worker *w = container_of(h, struct worker, sig_h);
    struct signalfd_siginfo si;
    while (read(w->sig_fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            start_drain(w);
        else if (si.ssi_signo == SIGHUP) {
            /* the master's reload sends the log level along (low byte:
             * level + 1) and bit 8 when the files loaded there; a plain
             * kill -HUP of the worker reloads the files */
            bool files = true;
            if (si.ssi_code == SI_QUEUE && si.ssi_int > 0) {
                if ((si.ssi_int & 0x200) && w->live)
                    reload_config(w); /* log levels included */
                else
                    wsp_log_set_level((si.ssi_int & 0xff) - 1);
                files = (si.ssi_int & 0x100) != 0;
            }
            if (files) {
                reload_tls(w);
                auth_conn_reload(w->cfg); /* new handshakes only: connections keep what they had */
            }
        }
    }
}

void worker_tick(struct worker *w)
{
    w->accepts_in_tick = 0;
    if (w->accept_paused && !w->draining &&
        ev_add(w->loop, w->listen_fd, EV_READ, &w->listen_h) == 0)
        w->accept_paused = false;
    worker_ping_interval_update(w); /* --ping-budget: follows the connection count */
    conn_sweep(w);                  /* the clock moves, due deadlines are handled */
    auth_conn_tick(w);              /* tokens that expired: close 4001 */
    if (w->tls) {
        transport_tls_trim(); /* after a burst of TLS handshakes */
        uint64_t h, k;        /* this process's counts since it started, added as deltas */
        transport_tls_counts(&h, &k);
        w->st->tls_handovers += h - w->tls_counted[0];
        w->st->tls_kept += k - w->tls_counted[1];
        w->tls_counted[0] = h;
        w->tls_counted[1] = k;
    }
}

static void on_sweep(struct ev_loop *loop, void *arg)
{
    (void)loop;
    worker_tick(arg);
}

static void on_post(struct ev_loop *loop, void *arg)
{
    struct worker *w = arg;
    w->tls_steps = 0;
    conn_reap(w);
    if (w->draining && (w->nconns == 0 || ev_now_ms(loop) >= w->drain_deadline_ms))
        ev_loop_stop(loop);
}

static uint32_t ticks_for(uint64_t ms)
{
    /* config_parse rejected anything longer than a deadline can hold */
    uint64_t t = ev_ticks_for_ms(ms);
    WSP_ASSERT(t <= EV_DEADLINE_LONG_MAX_TICKS);
    return (uint32_t)t;
}

/* The per-connection settings of the handshake and of the frame reader,
 * from the config: subprotocols, origins, message and head limits,
 * permessage-deflate (with the inflater the worker's deflate connections
 * share). */
static int protocol_setup(struct worker *w)
{
    const struct wsp_config *cfg = w->cfg;
    /* the envelope subprotocol is always on offer, after the configured
     * ones (a client offering both gets the application's) */
    size_t np = 0;
    for (size_t i = 0; i < cfg->n_protocols; i++)
        w->protocols[np++] = cfg->protocols[i];
    w->protocols[np++] = RESUME_SUBPROTOCOL;
    w->hs_cfg = (struct ws_handshake_cfg){w->protocols, np, cfg->origins, cfg->n_origins};
    w->rx_cfg = (struct ws_rx_cfg){.max_message_bytes = cfg->max_message_bytes};
    w->rx_cfg_echo =
        (struct ws_rx_cfg){.max_message_bytes = cfg->max_message_bytes, .keep_payload = true};
    w->deflate_cfg = (struct ws_deflate_cfg){.enabled = cfg->deflate,
                                             .server_window_bits = WS_DEFLATE_DEFAULT_WINDOW_BITS};
    if (cfg->deflate && !(w->inflater = ws_inflater_new()))
        return WSP_ENOMEM;
    w->rx_cfg_z = w->rx_cfg;
    w->rx_cfg_z.inflater = w->inflater;
    w->rx_cfg_echo_z = w->rx_cfg_echo;
    w->rx_cfg_echo_z.inflater = w->inflater;
    w->http_lim = (struct http_limits){cfg->max_head_bytes, cfg->max_headers};
    return 0;
}

int worker_init(struct worker *w, const struct worker_init *wi)
{
    *w = (struct worker){
        .id = wi->id,
        .cfg = wi->cfg,
        .live = wi->live,
        .listen_fd = wi->listen_fd,
        .wake_fd = wi->wake_fd,
        .sig_fd = -1,
        .ring = wi->ring,
        .history = wi->history,
        .shared = wi->shared,
        .st = &wi->shared->w[wi->id],
        .tick = 1,
        .drain_timer = -1,
        .rbuf_size = WORKER_RBUF,
        /* certificates come loaded from the master (its last good set), so
         * a file broken since the last SIGHUP cannot stop a restart (issue
         * 11 item 17) */
        .tls = wi->tls,
        .host_ops = &public_port_ops, /* conn.c's way up: routes, PROXY, auth */
    };
    w->listen_h.cb = on_accept;
    w->wake_h.cb = on_wake;
    w->sig_h.cb = on_signal;
    w->rbuf = malloc(w->rbuf_size);
    w->topics = topic_index_new();
    w->loop = ev_loop_new(1024);
    w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    w->started_ms = clock_mono_ms();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    w->ncpu = ncpu < 1 ? 1u : (unsigned)ncpu;
    if (!w->rbuf || !w->topics || !w->loop || protocol_setup(w) < 0 || apply_limits(w) < 0) {
        worker_release(w);
        return WSP_ENOMEM;
    }
    /* the state a previous incarnation left behind is gone with it */
    w->st->conns = 0;
    w->st->conns_pending = 0;
    w->st->queued_bytes = 0;
    w->st->topics = 0;
    w->st->deflate_conns = 0;
    w->st->envelope_conns = 0;
    w->st->sse_conns = 0;
    ev_loop_set_user(w->loop, w);
    ev_loop_set_post(w->loop, on_post, w);
    ev_loop_set_between(w->loop, WORKER_RING_EVERY, on_between, w);
    if (w->cfg->io_uring) {
        int ur = fanout_uring_init(w, 1024);
        if (ur < 0)
            log_warn("io_uring unavailable (%s): one send() per subscriber", strerror(-ur));
    }
    ring_reader_init(&w->rd, w->ring);
    control_worker_start(w, w->rd.next_seq - 1);
    w->accepting = w->listen_fd >= 0;
    return 0;
}

int worker_run(struct worker *w)
{
    int rc = 0;
    if ((w->listen_fd >= 0 && (rc = ev_add(w->loop, w->listen_fd, EV_READ, &w->listen_h)) < 0) ||
        (w->wake_fd >= 0 && (rc = ev_add(w->loop, w->wake_fd, EV_READ, &w->wake_h)) < 0) ||
        (w->sig_fd >= 0 && (rc = ev_add(w->loop, w->sig_fd, EV_READ, &w->sig_h)) < 0) ||
        (rc = ev_timer_add(w->loop, EV_TICK_MS, on_sweep, w)) < 0) {
        log_error("start-up failed: cannot register with the event loop");
        return rc;
    }
    log_debug("worker started (pid %d)", (int)getpid());
    rc = ev_loop_run(w->loop);
    if (rc < 0)
        log_error("event loop failed: %s", wsp_strerror(rc));
    return rc;
}

void worker_release(struct worker *w)
{
    fanout_cancel(w); /* a walk still paused: its message goes undelivered */
    conn_host_release(w, WS_CLOSE_GOING_AWAY); /* drained (or timed out): the rest is cut */
    topic_index_free(w->topics);
    ipcount_free(w->ips);
    free(w->rbuf);
    tls_ctx_free(w->tls);
    ws_inflater_free(w->inflater);
    ws_deflater_free(w->echo_deflater);
    fanout_uring_free(w);
    ev_loop_free(w->loop);
    if (w->listen_fd >= 0)
        close(w->listen_fd);
    if (w->spare_fd >= 0)
        close(w->spare_fd);
    if (w->sig_fd >= 0)
        close(w->sig_fd);
    w->rbuf = NULL;
    w->topics = NULL;
    w->ips = NULL;
    w->tls = NULL;
    w->inflater = NULL;
    w->echo_deflater = NULL;
    w->loop = NULL;
    w->listen_fd = w->spare_fd = w->sig_fd = -1;
}

/* The process around the worker: its name in the log, death with the
 * master, signals through a signalfd, and the shared mappings it only
 * reads made read-only. */
void worker_main(const struct worker_init *wi)
{
    char role[32];
    snprintf(role, sizeof role, "worker %u", wi->id);
    wsp_log_set_role(role);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        _exit(0);
    signal(SIGPIPE, SIG_IGN);

    static struct worker w; /* one per process */
    if (worker_init(&w, wi) < 0) {
        log_error("start-up failed: out of memory");
        _exit(1);
    }
    /* workers only read the ring: a stray write faults here, in one
     * worker, instead of corrupting what every worker reads */
    if (ring_protect_readonly(w.ring) < 0)
        log_warn("cannot make the ring read-only in this worker");
    if (w.history && history_protect_readonly(w.history) < 0)
        log_sub_warn(WSP_SUB_HISTORY, "cannot make the history read-only in this worker");
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    w.sig_fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    int rc = worker_run(&w);
    worker_release(&w);
    log_debug("worker exiting");
    _exit(rc < 0 ? 1 : 0);
}
