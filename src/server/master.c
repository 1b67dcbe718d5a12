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

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ev/loop.h"
#include "net/net.h"
#include "pubsub/msg.h"
#include "pubsub/ring.h"
#include "server/admin.h"
#include "server/auth_conn.h"
#include "server/control.h"
#include "server/redis_link.h"
#include "server/worker.h"
#include "tls/tls.h"
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
    struct wsp_config *cfg;
    unsigned nworkers;
    struct worker_slot *slots;
    struct ring *ring;
    struct shared_stats *shared;
    struct ev_loop *loop;
    int sig_fd;
    struct ev_handler sig_h;
    struct admin *admin;
    struct redis_link *redis; /* NULL without --redis */
    int admin_fd;
    struct net_addr pub; /* the public address, its port resolved */
    struct tls_ctx *tls; /* last good certificates, for workers forked later; NULL: plain */
    bool stopping;
    uint64_t stop_deadline_ms;
    uint64_t started_ms;
    uint64_t published[PUB_SOURCES];
    struct ws_deflater *deflater; /* compresses each message once; NULL: --deflate off */
    uint8_t *scratch; /* frame encoding buffer: plain frame + its deflated frame */
    size_t scratch_cap;
    struct ctl_shared *ctl; /* the workers' answers to control commands */
};

struct shared_stats *master_stats(const struct master *m) { return m->shared; }
const struct wsp_config *master_config(const struct master *m) { return m->cfg; }
struct ring *master_ring(const struct master *m) { return m->ring; }
uint64_t master_uptime_ms(const struct master *m) { return clock_mono_ms() - m->started_ms; }
uint64_t master_published(const struct master *m, enum pub_source s) { return m->published[s]; }
struct redis_link *master_redis_link(const struct master *m) { return m->redis; }

static bool deflate_clients(const struct master *m)
{
    for (unsigned i = 0; i < m->nworkers; i++)
        if (m->shared->w[i].deflate_conns)
            return true;
    return false;
}

/* What master_run and master_new_standalone both need. */
static int alloc_common(struct master *m)
{
    const struct wsp_config *cfg = m->cfg;
    /* the topic secret, before any key is made and before the workers
     * fork: clients must not be able to aim topic names at one slot */
    uint8_t secret[16];
    if (getrandom(secret, sizeof secret, 0) != (ssize_t)sizeof secret)
        return errno ? -errno : WSP_ENOMEM;
    msg_topic_key_seed(secret);
    m->ring = ring_create(cfg->ring_size);
    m->shared = metrics_shared_new(m->nworkers);
    m->slots = calloc(m->nworkers, sizeof *m->slots);
    m->scratch_cap = WS_MAX_HEADER + cfg->max_message;
    if (cfg->deflate) {
        m->deflater = ws_deflater_new(WS_DEFLATE_DEFAULT_LEVEL, WS_DEFLATE_DEFAULT_WINDOW_BITS);
        m->scratch_cap += WS_MAX_HEADER + ws_deflate_bound(cfg->max_message);
    }
    m->scratch = malloc(m->scratch_cap);
    m->ctl = ctl_shared_new(m->nworkers);
    if (!m->ring || !m->shared || !m->slots || !m->scratch || !m->ctl ||
        (cfg->deflate && !m->deflater))
        return WSP_ENOMEM;
    return 0;
}

static void wake_workers(struct master *m)
{
    uint64_t one = 1;
    for (unsigned i = 0; i < m->nworkers; i++)
        if (m->slots[i].pid > 0 && write(m->slots[i].wake_fd, &one, sizeof one) < 0 &&
            errno != EAGAIN)
            log_ratelimited(WSP_LOG_WARN, "waking worker %u: %s", i, strerror(errno));
}

int64_t master_control(struct master *m, const struct ctl_cmd *c)
{
    uint8_t body[CTL_BODY_MAX];
    size_t n = ctl_body_encode(c, body);
    int64_t seq = ring_publish(m->ring, RING_F_CONTROL, c->subject, c->subject_len, body, n,
                               clock_mono_ns());
    if (seq > 0)
        wake_workers(m);
    return seq;
}

struct ctl_shared *master_ctl_shared(const struct master *m) { return m->ctl; }
bool master_worker_alive(const struct master *m, unsigned i) { return m->slots[i].pid > 0; }
unsigned master_workers(const struct master *m) { return m->nworkers; }

int64_t master_publish(struct master *m, bool binary, const char *topic, size_t topic_len,
                       const uint8_t *payload, size_t n, enum pub_source src,
                       uint64_t *subscribers)
{
    size_t hl = ws_frame_header_len(n, false);
    size_t plain = hl + n;
    if (plain > m->scratch_cap || plain + topic_len > ring_max_entry(m->ring))
        return WSP_ETOOBIG;
    /* encoded once, here; every worker copies these bytes once */
    uint8_t op = binary ? WS_OP_BINARY : WS_OP_TEXT;
    ws_frame_header_encode(m->scratch, true, op, n, NULL);
    memcpy(m->scratch + hl, payload, n);
    uint8_t flags = (uint8_t)((binary ? RING_F_BINARY : 0) | (topic_len ? 0 : RING_F_BROADCAST));
    size_t total = plain;
    if (m->deflater && n >= m->cfg->deflate_min && deflate_clients(m)) {
        /* and compressed once (no context takeover: the same bytes suit
         * every compressing subscriber); kept only if it is smaller */
        ssize_t z = ws_deflate_frame(m->deflater, op, payload, n, m->scratch + plain,
                                     m->scratch_cap - plain);
        if (z > 0 && (size_t)z < plain && plain + (size_t)z + topic_len <= ring_max_entry(m->ring)) {
            total += (size_t)z;
            flags |= RING_F_DEFLATE;
        }
    }
    int64_t seq = ring_publish(m->ring, flags, topic, topic_len, m->scratch, total,
                               clock_mono_ns());
    if (seq < 0)
        return seq;
    m->published[src]++;
    wake_workers(m);
    if (subscribers) {
        uint64_t s = 0;
        if (topic_len)
            s = metrics_topic_subscribers(m->shared, msg_topic_key(topic, topic_len));
        else
            for (unsigned i = 0; i < m->nworkers; i++)
                s += m->shared->w[i].conns;
        *subscribers = s;
    }
    return seq;
}

struct master *master_new_standalone(struct wsp_config *cfg)
{
    struct master *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = cfg;
    m->admin_fd = -1;
    m->sig_fd = -1;
    m->started_ms = clock_mono_ms();
    m->nworkers = 1;
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
    ws_deflater_free(m->deflater);
    free(m->scratch);
    free(m->slots);
    ring_destroy(m->ring);
    metrics_shared_free(m->shared);
    ctl_shared_free(m->ctl);
    free(m);
}

static void on_tick(struct ev_loop *loop, void *arg)
{
    (void)loop;
    struct master *m = arg;
    char ts[32];
    clock_iso8601(ts, clock_real_us());
    const char *t = m->cfg->tick_topic;
    if (master_publish(m, false, t, strlen(t), (const uint8_t *)ts, 24, PUB_TICK, NULL) < 0)
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
        for (unsigned k = 0; k < m->nworkers; k++) {
            if (k == i)
                continue;
            close(m->slots[k].listen_fd);
            close(m->slots[k].wake_fd);
        }
        if (m->admin_fd >= 0)
            close(m->admin_fd);
        if (m->admin) /* a restart forks while publishers are connected */
            admin_close_fds_after_fork(m->admin);
        if (m->redis)
            redis_link_after_fork(m->redis);
        close(m->sig_fd);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        struct worker_init wi = {i, m->cfg, s->listen_fd, s->wake_fd, m->ring, m->shared, m->tls};
        worker_main(&wi);
    }
    s->pid = pid;
    s->started_ms = clock_mono_ms();
    s->restart_at_ms = 0;
    m->shared->w[i].pid = pid;
    m->shared->w[i].started_unix_ms = clock_real_us() / 1000;
    return 0;
}

static void stop_all(struct master *m)
{
    if (m->stopping)
        return;
    m->stopping = true;
    m->stop_deadline_ms = clock_mono_ms() + m->cfg->drain_timeout_ms + 2000;
    log_info("stopping: draining workers (up to %llu ms)",
             (unsigned long long)m->cfg->drain_timeout_ms);
    for (unsigned i = 0; i < m->nworkers; i++) {
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
        for (i = 0; i < m->nworkers; i++)
            if (m->slots[i].pid == pid)
                break;
        if (i == m->nworkers)
            continue;
        struct worker_slot *s = &m->slots[i];
        s->pid = 0;
        m->shared->w[i].pid = 0;
        m->shared->w[i].conns = 0;
        m->shared->w[i].conns_pending = 0;
        m->shared->w[i].queued_bytes = 0;
        /* its subscribers are gone: Redis channels nobody else needs are
         * left, subscribers_notified stops counting them */
        metrics_topic_reset_worker(m->shared, i);
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
        m->shared->w[i].restarts++;
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
                          "it runs again", i);
            }
        } else
            spawn(m, i);
    }
}

/* SIGHUP: the master loads the files first. A broken file keeps the old
 * certificates everywhere (and for workers restarted later) and says why;
 * a good set is kept for later forks, and each worker loads it itself.
 * True when the workers should reload too. */
static bool reload_tls(struct master *m)
{
    if (!m->tls)
        return false;
    char err[512];
    struct tls_ctx *t = tls_ctx_new(m->cfg->tls_certs, m->cfg->tls_keys, m->cfg->n_tls, err,
                                    sizeof err);
    if (!t) {
        log_error("SIGHUP: certificate reload failed, keeping the old ones: %s", err);
        return false;
    }
    tls_ctx_free(m->tls);
    m->tls = t;
    log_info("SIGHUP: reloading certificates in the workers");
    return true;
}

/* SIGHUP: certificates and token keys, each kept when its new files are
 * broken; the workers are told once if either loaded. */
static void reload(struct master *m)
{
    bool tls = reload_tls(m);
    bool keys = auth_conn_reload(m->cfg);
    if (!tls && !keys)
        return;
    for (unsigned i = 0; i < m->nworkers; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, SIGHUP);
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
    for (unsigned i = 0; i < m->nworkers && !m->stopping; i++)
        if (m->slots[i].pid == 0 && m->slots[i].restart_at_ms && now >= m->slots[i].restart_at_ms)
            spawn(m, i);
    if (m->admin)
        admin_push_live(m->admin);
    if (m->stopping && now >= m->stop_deadline_ms) {
        for (unsigned i = 0; i < m->nworkers; i++)
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
    for (unsigned i = 0; i < m->nworkers; i++)
        if (m->slots[i].pid > 0)
            return;
    ev_loop_stop(loop);
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

int master_run(struct wsp_config *cfg)
{
    static struct master mm;
    struct master *m = &mm;
    int rc = 1;
    m->cfg = cfg;
    m->admin_fd = -1;
    m->sig_fd = -1;
    m->started_ms = clock_mono_ms();
    wsp_log_set_level(cfg->log_level);
    wsp_log_set_role("master");
    signal(SIGPIPE, SIG_IGN);

    /* raise the soft open-file limit to the hard one: the cheapest tuning */
    tune_nofile_raise();
    struct rlimit rl;
    m->nworkers = count_workers(cfg);

    struct net_addr pub, adm;
    if (net_addr_parse(cfg->listen, "0.0.0.0", &pub) < 0) {
        fprintf(stderr, "wspush serve: --listen '%s' is not [ADDR:]PORT\n", cfg->listen);
        return 2;
    }
    bool admin_on = strcmp(cfg->admin, "off") != 0;
    if (admin_on) {
        if (net_addr_parse(cfg->admin, "127.0.0.1", &adm) < 0) {
            fprintf(stderr, "wspush serve: --admin '%s' is not ADDR:PORT or off\n", cfg->admin);
            return 2;
        }
        if (!net_addr_is_loopback(&adm) && !cfg->publish_token[0]) {
            fprintf(stderr, "wspush serve: refusing to open the admin port on %s without "
                            "--publish-token (anyone could publish); bind it to 127.0.0.1 "
                            "or set a token\n", cfg->admin);
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
            fprintf(stderr, "wspush serve: TLS: %s\n", err);
            return 2;
        }
    }
    int ar = alloc_common(m);
    m->loop = ev_loop_new(256);
    if (ar < 0 || !m->loop) {
        fprintf(stderr, "wspush serve: out of memory at start-up (ring %llu bytes)\n",
                (unsigned long long)cfg->ring_size);
        goto fail;
    }
    for (unsigned i = 0; i < m->nworkers; i++) {
        m->slots[i].listen_fd = -1;
        m->slots[i].wake_fd = -1;
    }

    /* SO_REUSEPORT would let this server join another one's port and take
     * part of its traffic without a word: refuse to start instead */
    int pr = net_listen_probe(&pub);
    if (pr < 0) {
        char a[80];
        net_addr_format(&pub, a, sizeof a);
        if (pr == -EADDRINUSE)
            fprintf(stderr, "wspush serve: %s is already in use (another server listens "
                            "there); not starting\n", a);
        else
            fprintf(stderr, "wspush serve: cannot listen on %s: %s\n", a, wsp_strerror(pr));
        goto fail;
    }
    for (unsigned i = 0; i < m->nworkers; i++) {
        int fd = net_listen(&pub, LISTEN_BACKLOG, true);
        if (fd < 0) {
            char a[80];
            net_addr_format(&pub, a, sizeof a);
            fprintf(stderr, "wspush serve: cannot listen on %s: %s\n", a, wsp_strerror(fd));
            goto fail;
        }
        m->slots[i].listen_fd = fd;
        m->slots[i].wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (m->slots[i].wake_fd < 0) {
            fprintf(stderr, "wspush serve: eventfd: %s\n", strerror(errno));
            goto fail;
        }
    }
    m->pub = pub;
    if (admin_on) {
        m->admin_fd = net_listen(&adm, 1024, false);
        if (m->admin_fd < 0) {
            char a[80];
            net_addr_format(&adm, a, sizeof a);
            fprintf(stderr, "wspush serve: cannot listen on admin %s: %s\n", a,
                    wsp_strerror(m->admin_fd));
            goto fail;
        }
        net_addr_set_port(&adm, net_local_port(m->admin_fd));
    }

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
        fprintf(stderr, "wspush serve: signalfd: %s\n", strerror(errno));
        goto fail;
    }

    char pa[80], aa[80] = "off";
    net_addr_format(&pub, pa, sizeof pa);
    if (admin_on)
        net_addr_format(&adm, aa, sizeof aa);
    getrlimit(RLIMIT_NOFILE, &rl);
    log_info("wspush %s: listening on %s, admin on %s, %u workers, max-conns %llu, "
             "open files %llu per process, ring %llu bytes (max entry %zu), tick %s%llu ms%s%s%s",
             WSPUSH_VERSION, pa, aa, m->nworkers, (unsigned long long)cfg->max_conns,
             (unsigned long long)rl.rlim_cur, (unsigned long long)ring_size(m->ring),
             ring_max_entry(m->ring), cfg->tick_ms ? "" : "off/", (unsigned long long)cfg->tick_ms,
             cfg->tick_topic[0] ? " to topic " : "", cfg->tick_topic,
             cfg->n_tls ? ", TLS (wss://)" : "");
    tune_check_startup(cfg->max_conns, m->nworkers);


    if (cfg->redis[0]) {
        /* before the workers: they read its readiness flag from the start */
        const char *why = "";
        m->redis = redis_link_new(m, m->loop, cfg, m->shared, &why);
        if (!m->redis) {
            fprintf(stderr, "wspush serve: --redis: %s\n", why);
            goto fail;
        }
    }
    for (unsigned i = 0; i < m->nworkers; i++)
        if (spawn(m, i) < 0)
            goto fail;
    if (admin_on) {
        m->admin = admin_new(m, m->loop, m->admin_fd);
        if (!m->admin)
            goto fail;
    }
    if (cfg->tick_ms)
        ev_timer_add(m->loop, cfg->tick_ms, on_tick, m);
    ev_timer_add(m->loop, 1000, on_second, m);
    ev_loop_set_post(m->loop, on_post, m);
    ev_loop_set_user(m->loop, m);

    int lr = ev_loop_run(m->loop);
    if (lr < 0)
        log_error("event loop failed: %s", wsp_strerror(lr));
    /* reap whatever is left */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    log_info("stopped");
    rc = lr < 0 ? 1 : 0;
fail:
    for (unsigned i = 0; m->slots && i < m->nworkers; i++) {
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
    redis_link_free(m->redis);
    tls_ctx_free(m->tls);
    ev_loop_free(m->loop);
    ws_deflater_free(m->deflater);
    free(m->scratch);
    free(m->slots);
    ring_destroy(m->ring);
    metrics_shared_free(m->shared);
    ctl_shared_free(m->ctl);
    return rc;
}
