/* master.c - `wspush serve`: sets up, forks and supervises the workers,
 * publishes (ticker, admin), and stops gracefully.
 *
 * Everything the workers share is created before the first fork: the
 * listeners (one SO_REUSEPORT socket per worker slot, kept by the master so
 * a restarted worker inherits its predecessor's accept queue), the ring,
 * the counters, one eventfd per worker, the TLS certificates. The master
 * never touches client connections.
 *
 * A worker slot whose worker keeps dying at start has its listener closed
 * until a worker runs there again: the kernel then spreads new connections
 * over the other workers' listeners instead of queueing ~1/N of them where
 * nobody accepts (issue 11 item 17). */
#include "server/master.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "config/config_show.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ev/loop.h"
#include "net/net.h"
#include "pubsub/envelope.h"
#include "pubsub/forms.h"
#include "pubsub/history.h"
#include "pubsub/msg.h"
#include "pubsub/msgid.h"
#include "pubsub/ring.h"
#include "pubsub/topic_table.h"
#include "server/admin.h"
#include "server/auth_conn.h"
#include "server/control.h"
#include "server/live_config.h"
#include "server/node.h"
#include "server/redis_link.h"
#include "server/worker.h"
#include "tls/tls.h"
#include "http/sse.h"
#include "ws/ws_deflate.h"
#include "tune/tune.h"
#include "ws/ws_frame.h"

#define RESTART_BACKOFF_MS 500
#define QUICK_DEATHS_BEFORE_BACKOFF 3 /* deaths within a second of start */
#define LISTEN_BACKLOG 65535

struct worker_slot {
    pid_t pid; /* 0: not running */
    int listen_fd;
    int wake_fd;
    uint64_t started_ms;
    uint64_t restart_at_ms; /* 0: none scheduled */
    unsigned quick_deaths;  /* consecutive deaths within a second of start */
};

struct master {
    struct node node; /* what the services get (node.h): cfg, counters, ring, history */
    struct worker_slot *slots;
    struct ev_loop *loop;
    int sig_fd;
    struct ev_handler sig_h;
    struct admin *admin;
    int admin_fd;
    struct net_addr pub;       /* the public address, its port resolved */
    struct tls_ctx *tls;       /* last good certificates, for workers forked later; NULL: plain */
    struct tls_ctx *admin_tls; /* --admin-tls-cert, last good; NULL: plain http */
    bool stopping;
    bool admin_needs_token; /* admin port off loopback: a token must stay set */
    uint64_t stop_deadline_ms;
    struct ws_deflater *deflater; /* compresses each message once; NULL: --deflate off */
    uint8_t *scratch;             /* frame encoding buffer: every form of one message */
    size_t scratch_cap;
    struct msgid_counters *ids; /* per-topic seq (pubsub/msgid.h) */
    struct live_config *live;   /* m->node.cfg for the workers, rewritten on SIGHUP */
};

static bool sse_clients(const struct master *m)
{
    for (unsigned i = 0; i < m->node.nworkers; i++)
        if (m->node.shared->w[i].sse_conns)
            return true;
    return false;
}

static bool deflate_clients(const struct master *m)
{
    for (unsigned i = 0; i < m->node.nworkers; i++)
        if (m->node.shared->w[i].deflate_conns)
            return true;
    return false;
}

/* The envelope form is made only while some worker has a subscriber that
 * asked for it, as the deflated form is. */
static bool envelope_clients(const struct master *m)
{
    for (unsigned i = 0; i < m->node.nworkers; i++)
        if (m->node.shared->w[i].envelope_conns)
            return true;
    return false;
}

/* --history-size / --history-ttl: the store the workers read. With only a
 * TTL the depth is capped by CONFIG_HISTORY_MAX. */
static struct history *history_new(const struct wsp_config *cfg)
{
    if (!cfg->history_size && !cfg->history_ttl_ms)
        return NULL;
    struct history_cfg hc = {
        .depth = (uint32_t)(cfg->history_size ? cfg->history_size : CONFIG_HISTORY_MAX),
        .ttl_ns = cfg->history_ttl_ms * 1000000ull,
        .max_topics = (uint32_t)cfg->history_topics,
        .store_bytes = (size_t)cfg->history_memory_bytes,
    };
    return history_create(&hc);
}

static const struct node_ops master_ops; /* below, after the functions it names */

/* What master_run and master_new_standalone both need. */
static int alloc_common(struct master *m)
{
    m->node.ops = &master_ops;
    const struct wsp_config *cfg = m->node.cfg;
    /* the topic secret, before any key is made and before the workers
     * fork: clients must not be able to aim topic names at one slot */
    uint8_t secret[16];
    if (getrandom(secret, sizeof secret, 0) != (ssize_t)sizeof secret)
        return errno ? -errno : WSP_ENOMEM;
    msg_topic_key_seed(secret);
    m->node.ring = ring_create(cfg->ring_size_bytes);
    m->node.shared = metrics_shared_new(m->node.nworkers);
    m->node.topics = topic_table_new(m->node.nworkers);
    if (m->node.shared) /* the workers find it there */
        m->node.shared->topics = m->node.topics;
    m->slots = calloc(m->node.nworkers, sizeof *m->slots);
    /* every form side by side: raw, raw deflated, envelope, envelope deflated */
    size_t env = envelope_bound(TOPIC_NAME_MAX, cfg->max_message_bytes);
    m->scratch_cap = sizeof(struct ring_forms) + WS_MAX_HEADER + cfg->max_message_bytes + env;
    if (cfg->deflate) {
        m->deflater = ws_deflater_new(WS_DEFLATE_DEFAULT_LEVEL, WS_DEFLATE_DEFAULT_WINDOW_BITS);
        m->scratch_cap +=
            2 * WS_MAX_HEADER + ws_deflate_bound(cfg->max_message_bytes) + ws_deflate_bound(env);
    }
    m->scratch = malloc(m->scratch_cap);
    /* before fork: the workers' ids share it (a shared word: ids from Redis
     * change it at run time) */
    int er = msgid_epoch_share();
    if (er < 0)
        return er;
    msgid_epoch_set(msgid_epoch_new());
    m->ids = msgid_counters_new();
    m->node.history = history_new(cfg);
    m->node.ctl = ctl_shared_new(m->node.nworkers);
    m->live = live_config_new(cfg);
    if (!m->node.ring || !m->node.shared || !m->node.topics || !m->slots || !m->scratch ||
        !m->node.ctl || !m->live || (cfg->deflate && !m->deflater) || !m->ids ||
        ((cfg->history_size || cfg->history_ttl_ms) && !m->node.history))
        return WSP_ENOMEM;
    return 0;
}

/* Undoes alloc_common (what it made, complete or not). */
static void free_common(struct master *m)
{
    ws_deflater_free(m->deflater);
    free(m->scratch);
    free(m->slots);
    ring_destroy(m->node.ring);
    history_destroy(m->node.history);
    msgid_counters_free(m->ids);
    metrics_shared_free(m->node.shared);
    topic_table_free(m->node.topics);
    ctl_shared_free(m->node.ctl);
    live_config_free(m->live);
}

/* Appends the deflated frame of the frame [p, p + len) at out if that is
 * smaller; returns its length or 0. */
static size_t deflate_form(struct master *m, uint8_t op, const uint8_t *payload, size_t n,
                           size_t plain_len, uint8_t *out, size_t cap)
{
    /* no context takeover: the same bytes suit every compressing subscriber */
    ssize_t z = ws_deflate_frame(m->deflater, op, payload, n, out, cap);
    return z > 0 && (size_t)z < plain_len ? (size_t)z : 0;
}

/* Room in scratch for the frames (len bytes) followed by an SSE form of
 * sl bytes: the SSE form can be longer than the frame (a "data: " prefix
 * per line), so scratch grows on demand, keeping the frames. */
static bool scratch_fit(struct master *m, size_t len, size_t sl)
{
    if (len + sl <= m->scratch_cap)
        return true;
    uint8_t *b = realloc(m->scratch, len + sl);
    if (!b)
        return false;
    m->scratch = b;
    m->scratch_cap = len + sl;
    return true;
}

static void wake_workers(struct master *m)
{
    uint64_t one = 1;
    for (unsigned i = 0; i < m->node.nworkers; i++)
        if (m->slots[i].pid > 0 && write(m->slots[i].wake_fd, &one, sizeof one) < 0 &&
            errno != EAGAIN)
            log_ratelimited(WSP_LOG_WARN, "waking worker %u: %s", i, strerror(errno));
}

static int64_t op_control(struct node *nd, const struct ctl_cmd *c)
{
    struct master *m = container_of(nd, struct master, node);
    uint8_t body[CTL_BODY_MAX];
    size_t n = ctl_body_encode(c, body);
    int64_t seq = ring_publish(m->node.ring, RING_F_CONTROL, c->subject, c->subject_len, body, n,
                               clock_mono_ns());
    if (seq > 0)
        wake_workers(m);
    return seq;
}

/* The ticker's messages and the topics --conflate names (patterns as for
 * --public-topics; "/" names broadcasts): a worker that is behind delivers
 * only the newest pending message of such a topic (worker.c). */
static bool conflatable(const struct wsp_config *cfg, const char *topic, size_t n)
{
    for (size_t i = 0; i < cfg->n_conflate; i++) {
        const char *p = cfg->conflate[i];
        if (n == 0 ? !strcmp(p, "/") : auth_pattern_match(p, strlen(p), topic, n))
            return true;
    }
    return false;
}

/* given: the id Redis assigned (its epoch is the current one), or NULL to
 * take the node's own counter (none with ids from Redis: see master.h). */
static int64_t publish(struct master *m, bool binary, const char *topic, size_t topic_len,
                       const uint8_t *payload, size_t n, enum pub_source src, uint64_t *subscribers,
                       const struct msgid *given)
{
    size_t hl = ws_frame_header_len(n, false);
    size_t plain = hl + n;
    struct ring_forms f = {0};
    size_t pre = sizeof f;
    if (pre + plain > m->scratch_cap || pre + plain + topic_len > ring_max_entry(m->node.ring))
        return WSP_ETOOBIG;
    uint64_t key = topic_len ? msg_topic_key(topic, topic_len) : 0;
    /* encoded once per form in use, here; every worker copies these bytes once */
    uint8_t op = binary ? WS_OP_BINARY : WS_OP_TEXT;
    uint8_t *o = m->scratch + pre, *end = m->scratch + m->scratch_cap;
    ws_frame_header_encode(o, true, op, n, NULL);
    memcpy(o + hl, payload, n);
    f.len[FORM_RAW] = (uint32_t)plain;
    o += plain;
    bool z = m->deflater && deflate_clients(m);
    if (z && n >= m->node.cfg->deflate_min_bytes)
        o += f.len[FORM_RAW_Z] =
            (uint32_t)deflate_form(m, op, payload, n, plain, o, (size_t)(end - o));
    /* an id even while nobody shows it: a client that asks later must find
     * the same counter; a counter lost to ENOMEM gives no id, never a reused one */
    if (given)
        f.topic_seq = key ? given->seq : 0;
    else
        f.topic_seq = key && !m->node.redis_ids ? msgid_counters_next(m->ids, key) : 0;
    f.epoch = msgid_epoch();
    if (envelope_clients(m)) {
        char id[MSGID_MAX_LEN];
        if (f.topic_seq)
            msgid_format(id, sizeof id, f.epoch, f.topic_seq);
        size_t el = envelope_frame(o, (size_t)(end - o), topic_len ? topic : NULL, topic_len,
                                   f.topic_seq ? id : NULL, binary, payload, n);
        f.len[FORM_ENV] = (uint32_t)el;
        /* the JSON is the frame's payload, after its (unmasked) header */
        size_t ehl = el - 2 < 126 ? 2 : el - 4 < 65536 ? 4 : 10; /* RFC 6455 §5.2 */
        const uint8_t *json = o + ehl;
        o += el;
        if (z && el - ehl >= m->node.cfg->deflate_min_bytes)
            o += f.len[FORM_ENV_Z] =
                (uint32_t)deflate_form(m, WS_OP_TEXT, json, el - ehl, el, o, (size_t)(end - o));
    }
    if (sse_clients(m)) {
        /* the Server-Sent Events form, once, only while some worker has an
         * SSE stream (docs/sse.md), with the message's id; left out (and
         * counted by the workers) when it would not fit in a ring entry.
         * scratch grows on demand: an event can be longer than its frame */
        char id[MSGID_MAX_LEN];
        size_t idl = f.topic_seq ? msgid_format(id, sizeof id, f.epoch, f.topic_seq) : 0;
        size_t used = (size_t)(o - m->scratch);
        size_t sl = sse_event_len(topic_len, idl ? idl : SSE_NO_ID, payload, n, binary);
        if (used + sl + topic_len <= ring_max_entry(m->node.ring) && scratch_fit(m, used, sl)) {
            o = m->scratch + used;
            ssize_t e = sse_event_encode(o, sl, topic_len ? topic : "", topic_len, idl ? id : NULL,
                                         idl, payload, n, binary);
            if (e == (ssize_t)sl) {
                f.len[FORM_SSE] = (uint32_t)sl;
                o += sl;
            }
        }
    }
    size_t total = (size_t)(o - m->scratch);
    /* forms that do not fit the ring entry are dropped, the raw one never */
    if (total + topic_len > ring_max_entry(m->node.ring)) {
        f.len[FORM_RAW_Z] = f.len[FORM_ENV] = f.len[FORM_ENV_Z] = f.len[FORM_SSE] = 0;
        total = pre + plain;
    }
    memcpy(m->scratch, &f, sizeof f);
    uint8_t flags =
        (uint8_t)((binary ? RING_F_BINARY : 0) | (topic_len ? 0 : RING_F_BROADCAST) | RING_F_FORMS);
    uint64_t now_ns = clock_mono_ns();
    /* history first: a worker that sees the live entry finds it there too
     * (resume splits replay from live by the ring seq, resume.c). A topic
     * with history is never conflated: resume promises no gap. Only a full
     * topic table (WSP_ENOMEM) leaves a topic without history. */
    bool kept = false;
    if (m->node.history && f.topic_seq)
        kept = history_append(m->node.history, key, f.topic_seq, ring_head_seq(m->node.ring) + 1,
                              binary, payload, n, now_ns) != WSP_ENOMEM;
    if (!kept && (src == PUB_TICK || conflatable(m->node.cfg, topic, topic_len)))
        flags = (uint8_t)(flags | RING_F_CONFLATE);
    int64_t seq = ring_publish(m->node.ring, flags, topic, topic_len, m->scratch, total, now_ns);
    if (seq < 0)
        return seq;
    m->node.published[src]++;
    wake_workers(m);
    if (subscribers)
        *subscribers = node_subscribers(&m->node, topic, topic_len);
    return seq;
}

static int64_t op_publish(struct node *n, bool binary, const char *topic, size_t topic_len,
                          const uint8_t *payload, size_t len, enum pub_source src,
                          uint64_t *subscribers)
{
    struct master *m = container_of(n, struct master, node);
    return publish(m, binary, topic, topic_len, payload, len, src, subscribers, NULL);
}

static bool op_epoch_adopt(struct node *n, uint64_t epoch)
{
    struct master *m = container_of(n, struct master, node);
    if (epoch == msgid_epoch())
        return false;
    /* what history holds belongs to the old epoch: forget it before any
     * message of the new one goes in, so every stored id is the epoch's */
    if (m->node.history)
        history_clear(m->node.history);
    log_info("history: epoch %llu -> %llu (from Redis): local history cleared",
             (unsigned long long)msgid_epoch(), (unsigned long long)epoch);
    msgid_epoch_set(epoch);
    m->node.epoch_changes++;
    return true;
}

static int64_t op_publish_id(struct node *nd, bool binary, const char *topic, size_t topic_len,
                             const uint8_t *payload, size_t n, const struct msgid *id)
{
    struct master *m = container_of(nd, struct master, node);
    op_epoch_adopt(nd, id->epoch);
    uint64_t key = msg_topic_key(topic, topic_len);
    /* already here: loaded from the stream after this message was written
     * (redis_history.c): delivering it again would be a duplicate */
    if (m->node.history && id->seq <= history_newest(m->node.history, key))
        return 0;
    return publish(m, binary, topic, topic_len, payload, n, PUB_REDIS, NULL, id);
}

static int op_history_load(struct node *nd, const char *topic, size_t topic_len,
                           const struct msgid *id, bool binary, const uint8_t *payload, size_t n,
                           uint64_t publish_ns)
{
    struct master *m = container_of(nd, struct master, node);
    if (!m->node.history || id->epoch != msgid_epoch())
        return WSP_EINVAL;
    uint64_t key = msg_topic_key(topic, topic_len);
    if (id->seq <= history_newest(m->node.history, key))
        return 0;
    /* ring seq 0: behind every worker's cursor, so a resume replays it
     * (it never goes to the live ring: it was published before we came) */
    return history_append(m->node.history, key, id->seq, 0, binary, payload, n, publish_ns);
}

static const struct node_ops master_ops = {
    .publish = op_publish,
    .publish_id = op_publish_id,
    .history_load = op_history_load,
    .epoch_adopt = op_epoch_adopt,
    .control = op_control,
};

struct node *master_node(struct master *m)
{
    return &m->node;
}

struct master *master_new_standalone(struct wsp_config *cfg)
{
    struct master *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->node.cfg = cfg;
    m->admin_fd = -1;
    m->sig_fd = -1;
    m->node.started_ms = clock_mono_ms();
    m->node.nworkers = 1;
    if (alloc_common(m) < 0) { /* slots' pid 0: nobody to wake */
        master_free_standalone(m);
        return NULL;
    }
    return m;
}

void master_free_standalone(struct master *m)
{
    if (!m)
        return;
    free_common(m);
    free(m);
}

static void on_tick(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct master *m = arg;
    char ts[32];
    clock_iso8601(ts, clock_real_us());
    const char *t = m->node.cfg->tick_topic;
    if (publish(m, false, t, strlen(t), (const uint8_t *)ts, 24, PUB_TICK, NULL, NULL) < 0)
        log_ratelimited(WSP_LOG_ERROR, "tick: publish failed");
}

static int spawn(struct master *m, unsigned i)
{
    struct worker_slot *s = &m->slots[i];
    if (s->listen_fd < 0) {
        /* closed after repeated failures at start: join the port again */
        int fd = net_listen(&m->pub, LISTEN_BACKLOG, true);
        if (fd < 0) {
            log_error("worker %u: cannot listen again: %s; retrying", i, wsp_strerror(fd));
            s->restart_at_ms = clock_mono_ms() + RESTART_BACKOFF_MS;
            return fd;
        }
        s->listen_fd = fd;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork worker %u: %s", i, strerror(errno));
        return -errno;
    }
    if (pid == 0) {
        /* keep only this worker's descriptors */
        for (unsigned k = 0; k < m->node.nworkers; k++) {
            if (k == i)
                continue;
            close(m->slots[k].listen_fd);
            close(m->slots[k].wake_fd);
        }
        if (m->admin_fd >= 0)
            close(m->admin_fd);
        if (m->admin) /* a restart forks while publishers are connected */
            admin_close_fds_after_fork(m->admin);
        if (m->node.redis)
            redis_link_after_fork(m->node.redis);
        close(m->sig_fd);
        /* the worker takes TERM, INT and HUP through its own signalfd: they
         * stay blocked from fork on, so one sent before that signalfd
         * exists waits for it instead of killing the new worker (a SIGHUP
         * right after a restart did); everything else is unblocked */
        sigset_t keep;
        sigemptyset(&keep);
        sigaddset(&keep, SIGTERM);
        sigaddset(&keep, SIGINT);
        sigaddset(&keep, SIGHUP);
        sigprocmask(SIG_SETMASK, &keep, NULL);
        struct worker_init wi = {i,          m->node.cfg,     s->listen_fd,
                                 s->wake_fd, m->node.ring,    m->node.shared,
                                 m->tls,     m->node.history, m->live};
        worker_main(&wi);
    }
    s->pid = pid;
    s->started_ms = clock_mono_ms();
    s->restart_at_ms = 0;
    m->node.shared->w[i].pid = pid;
    m->node.shared->w[i].started_unix_ms = clock_real_us() / 1000;
    return 0;
}

static void stop_all(struct master *m)
{
    if (m->stopping)
        return;
    m->stopping = true;
    m->stop_deadline_ms = clock_mono_ms() + m->node.cfg->drain_timeout_ms + 2000;
    log_info("stopping: draining workers (up to %llu ms)",
             (unsigned long long)m->node.cfg->drain_timeout_ms);
    for (unsigned i = 0; i < m->node.nworkers; i++) {
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, SIGTERM);
        /* no restarts from here on: drop our copy of each public listener,
         * or it stays open after its draining worker closes its own and
         * the kernel keeps queueing connections nobody will accept */
        if (m->slots[i].listen_fd >= 0) {
            close(m->slots[i].listen_fd);
            m->slots[i].listen_fd = -1;
        }
    }
    /* the admin port too (open admin connections carry on), so that a
     * replacement server can start while this one drains */
    if (m->admin)
        admin_stop_listening(m->admin);
}

static void reap_children(struct master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        unsigned i;
        for (i = 0; i < m->node.nworkers; i++)
            if (m->slots[i].pid == pid)
                break;
        if (i == m->node.nworkers)
            continue;
        struct worker_slot *s = &m->slots[i];
        s->pid = 0;
        m->node.shared->w[i].pid = 0;
        m->node.shared->w[i].conns = 0;
        m->node.shared->w[i].conns_pending = 0;
        m->node.shared->w[i].queued_bytes = 0;
        /* its subscribers are gone: Redis channels nobody else needs are
         * left, subscribers_notified stops counting them */
        topic_table_reset_worker(m->node.topics, i);
        if (m->stopping) {
            log_debug("worker %u (pid %d) exited", i, (int)pid);
            continue;
        }
        if (WIFSIGNALED(status))
            log_error("worker %u (pid %d) killed by signal %d (%s); restarting", i, (int)pid,
                      WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            log_error("worker %u (pid %d) exited with status %d; restarting", i, (int)pid,
                      WEXITSTATUS(status));
        uint64_t now = clock_mono_ms();
        s->quick_deaths = now - s->started_ms < 1000 ? s->quick_deaths + 1 : 0;
        m->node.shared->w[i].restarts++;
        /* a worker that keeps dying at start is restarted with a pause, so
         * a bad configuration does not turn into a fork storm */
        if (s->quick_deaths >= QUICK_DEATHS_BEFORE_BACKOFF) {
            s->restart_at_ms = now + RESTART_BACKOFF_MS;
            /* and its listener must not hold connections meanwhile: what
             * is queued there is reset, new ones go to the others */
            if (s->listen_fd >= 0) {
                close(s->listen_fd);
                s->listen_fd = -1;
                log_error("worker %u keeps failing at start: its listener is closed until "
                          "it runs again",
                          i);
            }
        } else
            spawn(m, i);
    }
}

struct reload {
    struct master *m;
    const struct wsp_config *next;
    unsigned applied, pending;
};

/* What a SIGHUP changes at once: the options that can change at run time
 * (config_opt_is_live: limits, origins, timeouts, log level), applied here
 * and then in every running worker (live_config.h), and the master's own
 * token. The rest is fixed at start and waits for a restart rather than
 * half-apply. */
static bool reload_live(const struct reload *x, size_t i)
{
    const char *name = config_opt_name(i);
    if (config_opt_is_live(i))
        return true;
    /* the admin port reads the token per request; never drop it where the
     * start-up check required one */
    return !strcmp(name, "publish-token") &&
           (x->next->publish_token[0] || !x->m->admin_needs_token);
}

static void reload_one(size_t i, const char *was, const char *now, void *arg)
{
    struct reload *x = arg;
    const char *name = config_opt_name(i);
    bool live = reload_live(x, i);
    char v[4096];
    if (live && (config_opt_format(x->next, i, v, sizeof v) < 0 ||
                 config_opt_set(x->m->node.cfg, i, v, stderr, "SIGHUP: ") != 0))
        live = false;
    x->applied += live;
    x->pending += !live;
    if (!was)
        wsp_log(live ? WSP_LOG_INFO : WSP_LOG_WARN, "config reload: changed: %s (secret, %s)", name,
                live ? "applied" : "needs a restart");
    else
        wsp_log(live ? WSP_LOG_INFO : WSP_LOG_WARN, "config reload: changed: %s %s -> %s (%s)",
                name, was, now, live ? "applied" : "needs a restart");
}

/* SIGHUP: the options are made again as at start (file, environment,
 * command line); a file that does not parse changes nothing. */
static void reload_config(struct master *m)
{
    struct wsp_config *next = malloc(sizeof *next);
    char *msg = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&msg, &len);
    if (!next || !err) {
        log_error("config reload: out of memory");
        goto done;
    }
    int r = config_parse(next, m->node.cfg->argc, m->node.cfg->argv, err, err);
    fclose(err);
    err = NULL;
    char *save = NULL;
    for (char *line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        /* "wspush: error: x" -> "x": the log line carries its own level */
        static const char *const prefixes[] = {"wspush: ", "error: ", "warning: "};
        for (size_t k = 0; k < 3; k++)
            if (!strncmp(line, prefixes[k], strlen(prefixes[k])))
                line += strlen(prefixes[k]);
        if (r == 0)
            log_warn("config reload: %s", line);
        else
            log_error("config reload failed, keeping the current settings: %s", line);
    }
    if (r != 0)
        goto done;
    struct reload x = {m, next, 0, 0};
    config_show_diff(m->node.cfg, next, reload_one, &x);
    config_relist(m->node.cfg); /* the lists reload_one set, split again */
    wsp_log_set_levels(m->node.cfg->log_level, m->node.cfg->log_sub_levels);
    /* for the running workers (reload_workers tells them) and, as m->node.cfg,
     * for those forked later */
    live_config_publish(m->live, m->node.cfg);
    log_info("config reload: %s: %u change%s applied, %u need%s a restart",
             m->node.cfg->config_path[0] ? m->node.cfg->config_path : "(no --config file)",
             x.applied, x.applied == 1 ? "" : "s", x.pending, x.pending == 1 ? "s" : "");
done:
    if (err)
        fclose(err);
    free(msg);
    free(next);
}

/* SIGHUP: the master loads the files first. A broken file keeps the old
 * certificates everywhere (and for workers restarted later) and says why;
 * a good set is kept for later forks, and each worker loads it itself. */
static void reload_admin_tls(struct master *m)
{
    const char *crt = m->node.cfg->admin_tls_cert, *key = m->node.cfg->admin_tls_key;
    char err[512];
    struct tls_ctx *t = tls_ctx_new(&crt, &key, 1, err, sizeof err);
    if (!t) {
        log_sub_error(WSP_SUB_TLS,
                      "SIGHUP: admin certificate reload failed, keeping the old one: %s", err);
        return;
    }
    tls_ctx_free(m->admin_tls);
    m->admin_tls = t;
    if (m->admin)
        admin_set_tls(m->admin, t);
    log_sub_info(WSP_SUB_TLS, "SIGHUP: admin certificate reloaded");
}

/* The public port's certificates (the admin port's too, for the master
 * alone). True when the workers should reload too. */
static bool reload_tls(struct master *m)
{
    if (m->admin_tls)
        reload_admin_tls(m);
    if (!m->tls)
        return false;
    char err[512];
    struct tls_ctx *t = tls_ctx_new(m->node.cfg->tls_certs, m->node.cfg->tls_keys,
                                    m->node.cfg->n_tls, err, sizeof err);
    if (!t) {
        log_sub_error(WSP_SUB_TLS, "SIGHUP: certificate reload failed, keeping the old ones: %s",
                      err);
        return false;
    }
    tls_ctx_free(m->tls);
    m->tls = t;
    log_sub_info(WSP_SUB_TLS, "SIGHUP: reloading certificates in the workers");
    return true;
}

/* Each worker applies the settings the master published (bit 9: its live
 * options, log levels among them; the low byte, level + 1, is the default
 * log level, for a worker from before that bit) and, when bit 8 is set,
 * reloads its certificates and token keys (the master loaded them first and
 * found them good). */
static void reload_workers(struct master *m, bool files)
{
    union sigval v = {.sival_int = (m->node.cfg->log_level + 1) | (files ? 0x100 : 0) | 0x200};
    for (unsigned i = 0; i < m->node.nworkers; i++)
        if (m->slots[i].pid > 0)
            sigqueue(m->slots[i].pid, SIGHUP, v);
}

/* SIGHUP: the config file, then certificates and token keys (each kept
 * when its new files are broken), then the workers. */
static void reload(struct master *m)
{
    reload_config(m);
    bool tls = reload_tls(m);
    bool keys = auth_conn_reload(m->node.cfg);
    reload_workers(m, tls || keys);
}

static void on_signal(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    (void)loop;
    (void)events;
    struct master *m = container_of(h, struct master, sig_h);
    struct signalfd_siginfo si;
    while (read(m->sig_fd, &si, sizeof si) == sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            reap_children(m);
            break;
        case SIGTERM:
        case SIGINT:
            stop_all(m);
            break;
        case SIGHUP:
            reload(m);
            break;
        default:
            break;
        }
    }
}

static void on_second(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct master *m = arg;
    uint64_t now = clock_mono_ms();
    for (unsigned i = 0; i < m->node.nworkers && !m->stopping; i++)
        if (m->slots[i].pid == 0 && m->slots[i].restart_at_ms && now >= m->slots[i].restart_at_ms)
            spawn(m, i);
    if (m->admin)
        admin_push_live(m->admin);
    if (m->stopping && now >= m->stop_deadline_ms) {
        for (unsigned i = 0; i < m->node.nworkers; i++)
            if (m->slots[i].pid > 0) {
                log_warn("worker %u did not stop in time: killing it", i);
                kill(m->slots[i].pid, SIGKILL);
            }
    }
}

static void on_post(struct ev_loop *loop, void *arg)
{
    struct master *m = arg;
    if (m->admin)
        admin_reap(m->admin);
    if (!m->stopping)
        return;
    for (unsigned i = 0; i < m->node.nworkers; i++)
        if (m->slots[i].pid > 0)
            return;
    ev_loop_stop(loop);
}

/* What to do about a listen failure: appended to its cause. */
static const char *listen_hint(int err, const struct net_addr *a)
{
    if (err == -EACCES && net_addr_port(a) < 1024 && geteuid() != 0)
        return "; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability: "
               "sudo setcap cap_net_bind_service=+ep \"$(command -v wspush)\", or "
               "AmbientCapabilities=CAP_NET_BIND_SERVICE in the systemd unit";
    if (err == -EADDRINUSE)
        return "; another process listens there (see: ss -ltnp), pick another port";
    if (err == -EADDRNOTAVAIL)
        return "; that address is not on this host (see: ip addr)";
    return "";
}

static unsigned count_workers(const struct wsp_config *cfg)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    if (!cfg->workers_auto)
        return cfg->workers ? cfg->workers : (unsigned)cpus;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    /* the same arithmetic `wspush tune` shows */
    unsigned n = tune_workers_auto(cfg->max_conns, rl.rlim_cur, (unsigned)cpus);
    return n > METRICS_MAX_WORKERS ? METRICS_MAX_WORKERS : n;
}

/* The options checked and the files loaded before anything is opened:
 * the addresses, the admin port's token rule, token keys, certificates.
 * 0, or 2 after one line on stderr (a usage error: nothing to undo). */
static int check_start(struct master *m, struct net_addr *pub, struct net_addr *adm, bool *admin_on)
{
    struct wsp_config *cfg = m->node.cfg;
    if (net_addr_parse(cfg->listen, "0.0.0.0", pub) < 0) {
        fprintf(stderr, "wspush: error: --listen '%s' is not [ADDR:]PORT\n", cfg->listen);
        return 2;
    }
    *admin_on = strcmp(cfg->admin, "off") != 0;
    if (*admin_on) {
        if (net_addr_parse(cfg->admin, "127.0.0.1", adm) < 0) {
            fprintf(stderr, "wspush: error: --admin '%s' is not ADDR:PORT or off\n", cfg->admin);
            return 2;
        }
        m->admin_needs_token = !net_addr_is_loopback(adm);
        if (m->admin_needs_token && !cfg->publish_token[0]) {
            fprintf(stderr,
                    "wspush: error: refusing to open the admin port on %s without "
                    "--publish-token (anyone could publish); bind it to 127.0.0.1 "
                    "or set a token\n",
                    cfg->admin);
            return 2;
        }
    }

    /* token keys: like the certificates, loaded before any worker exists */
    if (auth_conn_setup(cfg, stderr))
        return 2;
    if (cfg->n_tls) {
        /* loaded here, before any worker exists: a bad file fails the start
         * with one clear line, and every worker (restarts included) starts
         * from this set or the last good one a SIGHUP loaded */
        char err[512];
        m->tls = tls_ctx_new(cfg->tls_certs, cfg->tls_keys, cfg->n_tls, err, sizeof err);
        if (!m->tls) {
            fprintf(stderr, "wspush: error: TLS: %s\n", err);
            return 2;
        }
    }
    if (cfg->admin_tls_cert[0]) {
        const char *crt = cfg->admin_tls_cert, *key = cfg->admin_tls_key;
        char err[512];
        m->admin_tls = tls_ctx_new(&crt, &key, 1, err, sizeof err);
        if (!m->admin_tls) {
            fprintf(stderr, "wspush: error: admin TLS: %s\n", err);
            return 2;
        }
    }
    return 0;
}

/* One SO_REUSEPORT listener and one eventfd per worker slot, and the admin
 * listener (its port resolved into *adm). 0 or -1 after one line. */
static int open_listeners(struct master *m, struct net_addr *pub, struct net_addr *adm,
                          bool admin_on)
{
    /* SO_REUSEPORT would let this server join another one's port and take
     * part of its traffic without a word: refuse to start instead */
    int pr = net_listen_probe(pub);
    if (pr < 0) {
        char a[80];
        net_addr_format(pub, a, sizeof a);
        if (pr == -EADDRINUSE)
            fprintf(stderr,
                    "wspush: error: %s is already in use (another server listens "
                    "there); not starting\n",
                    a);
        else
            fprintf(stderr, "wspush: error: cannot listen on %s: %s\n", a, wsp_strerror(pr));
        return -1;
    }
    for (unsigned i = 0; i < m->node.nworkers; i++) {
        int fd = net_listen(pub, LISTEN_BACKLOG, true);
        if (fd < 0) {
            char a[80];
            net_addr_format(pub, a, sizeof a);
            fprintf(stderr, "wspush: error: cannot listen on %s: %s%s\n", a, wsp_strerror(fd),
                    listen_hint(fd, pub));
            return -1;
        }
        m->slots[i].listen_fd = fd;
        m->slots[i].wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (m->slots[i].wake_fd < 0) {
            fprintf(stderr, "wspush: error: eventfd: %s\n", strerror(errno));
            return -1;
        }
    }
    m->pub = *pub;
    if (admin_on) {
        m->admin_fd = net_listen(adm, 1024, false);
        if (m->admin_fd < 0) {
            char a[80];
            net_addr_format(adm, a, sizeof a);
            fprintf(stderr, "wspush: error: cannot listen on admin %s: %s%s\n", a,
                    wsp_strerror(m->admin_fd), listen_hint(m->admin_fd, adm));
            return -1;
        }
        net_addr_set_port(adm, net_local_port(m->admin_fd));
    }
    return 0;
}

/* CHLD, TERM, INT and HUP through a signalfd on the loop. 0 or -1. */
static int open_signals(struct master *m)
{
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGCHLD);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    m->sig_fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    m->sig_h.cb = on_signal;
    if (m->sig_fd < 0 || ev_add(m->loop, m->sig_fd, EV_READ, &m->sig_h) < 0) {
        fprintf(stderr, "wspush: error: signalfd: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static void log_start(const struct master *m, const struct net_addr *pub,
                      const struct net_addr *adm, bool admin_on)
{
    const struct wsp_config *cfg = m->node.cfg;
    char pa[80], aa[80] = "off";
    net_addr_format(pub, pa, sizeof pa);
    if (admin_on)
        net_addr_format(adm, aa, sizeof aa);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    log_info("wspush %s: listening on %s, admin on %s, %u workers, max-conns %llu, "
             "open files %llu per process, ring %llu bytes (max entry %zu), tick %s%llu ms%s%s%s",
             WSPUSH_VERSION, pa, aa, m->node.nworkers, (unsigned long long)cfg->max_conns,
             (unsigned long long)rl.rlim_cur, (unsigned long long)ring_size(m->node.ring),
             ring_max_entry(m->node.ring), cfg->tick_ms ? "" : "off/",
             (unsigned long long)cfg->tick_ms, cfg->tick_topic[0] ? " to topic " : "",
             cfg->tick_topic, cfg->n_tls ? ", TLS (wss://)" : "");
}

/* The services, in order: the Redis link (before the workers: they read
 * its readiness flag from the start), the workers, the admin port, the
 * timers. 0 or -1. */
static int start_services(struct master *m, bool admin_on)
{
    const struct wsp_config *cfg = m->node.cfg;
    if (cfg->redis[0]) {
        const char *why = "";
        /* with history, ids come from Redis (docs/history.md) */
        m->node.redis_ids = m->node.history != NULL;
        m->node.redis = redis_link_new(&m->node, m->loop, &why);
        if (!m->node.redis) {
            fprintf(stderr, "wspush: error: --redis: %s\n", why);
            return -1;
        }
    }
    for (unsigned i = 0; i < m->node.nworkers; i++)
        if (spawn(m, i) < 0)
            return -1;
    if (admin_on) {
        m->admin = admin_new(&m->node, m->loop, m->admin_fd);
        if (!m->admin)
            return -1;
        admin_set_tls(m->admin, m->admin_tls);
    }
    if (cfg->tick_ms)
        ev_timer_add(m->loop, cfg->tick_ms, on_tick, m);
    ev_timer_add(m->loop, 1000, on_second, m);
    ev_loop_set_post(m->loop, on_post, m);
    ev_loop_set_user(m->loop, m);
    return 0;
}

/* Construction: everything the workers share is made before the first
 * fork, then the workers and the services start. 0 when running; 2 for a
 * usage error (nothing to undo); 1 when it failed (master_teardown undoes
 * what was made). */
static int master_start(struct master *m, struct wsp_config *cfg)
{
    m->node.cfg = cfg;
    m->admin_fd = -1;
    m->sig_fd = -1;
    m->node.started_ms = clock_mono_ms();
    wsp_log_set_levels(cfg->log_level, cfg->log_sub_levels);
    wsp_log_set_format(wsp_log_parse_format(cfg->log_format));
    wsp_log_set_role("master");
    signal(SIGPIPE, SIG_IGN);

    /* raise the soft open-file limit to the hard one: the cheapest tuning */
    tune_nofile_raise();
    m->node.nworkers = count_workers(cfg);

    struct net_addr pub, adm;
    bool admin_on;
    if (check_start(m, &pub, &adm, &admin_on))
        return 2;
    int ar = alloc_common(m);
    m->loop = ev_loop_new(256);
    if (ar < 0 || !m->loop) {
        fprintf(stderr, "wspush: error: out of memory at start-up (ring %llu bytes)\n",
                (unsigned long long)cfg->ring_size_bytes);
        return 1;
    }
    for (unsigned i = 0; i < m->node.nworkers; i++) {
        m->slots[i].listen_fd = -1;
        m->slots[i].wake_fd = -1;
    }
    if (open_listeners(m, &pub, &adm, admin_on) < 0 || open_signals(m) < 0)
        return 1;
    log_start(m, &pub, &adm, admin_on);
    tune_check_startup(cfg->max_conns, m->node.nworkers);
    return start_services(m, admin_on) < 0 ? 1 : 0;
}

/* The loop, until every worker has stopped (on_post). The exit code. */
static int master_loop(struct master *m)
{
    int lr = ev_loop_run(m->loop);
    if (lr < 0)
        log_error("event loop failed: %s", wsp_strerror(lr));
    /* reap whatever is left */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    log_info("stopped");
    return lr < 0 ? 1 : 0;
}

/* Undoes master_start, complete or not; rc != 0 kills workers still running. */
static void master_teardown(struct master *m, int rc)
{
    for (unsigned i = 0; m->slots && i < m->node.nworkers; i++) {
        if (m->slots[i].pid > 0 && rc != 0)
            kill(m->slots[i].pid, SIGKILL);
        if (m->slots[i].listen_fd >= 0)
            close(m->slots[i].listen_fd);
        if (m->slots[i].wake_fd >= 0)
            close(m->slots[i].wake_fd);
    }
    if (m->admin)
        admin_free(m->admin);
    else if (m->admin_fd >= 0)
        close(m->admin_fd);
    if (m->sig_fd >= 0)
        close(m->sig_fd);
    redis_link_free(m->node.redis);
    tls_ctx_free(m->tls);
    tls_ctx_free(m->admin_tls);
    ev_loop_free(m->loop);
    free_common(m);
}

int master_run(struct wsp_config *cfg)
{
    static struct master mm;
    struct master *m = &mm;
    int rc = master_start(m, cfg);
    if (rc == 2)
        return rc;
    if (rc == 0)
        rc = master_loop(m);
    master_teardown(m, rc);
    return rc;
}
