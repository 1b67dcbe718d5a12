/* worker.h - a worker process: its own event loop, connections, topics.
 *
 * The master forks it with everything it needs already created (listener,
 * eventfd, ring, shared counters); worker_main never returns. The worker
 * itself is built, run and torn down by worker_init, worker_run and
 * worker_release (server_int.h), which tests and fuzz_conn use too. */
#ifndef WSP_SERVER_WORKER_H
#define WSP_SERVER_WORKER_H

#include "config/config.h"
#include "metrics/metrics.h"
#include "pubsub/history.h"
#include "pubsub/ring.h"
#include "tls/tls.h"

struct live_config;

struct worker_init {
    unsigned id;
    const struct wsp_config *cfg;
    int listen_fd; /* shared with the master, which keeps it across restarts */
    int wake_fd;   /* eventfd: readable when the ring has new entries */
    struct ring *ring;
    struct shared_stats *shared;
    struct tls_ctx *tls;            /* the master's last good certificates (NULL: plain); the
                                     * forked copy becomes the worker's reference */
    struct history *history;        /* NULL: history off; read-only in the worker */
    const struct live_config *live; /* the master's settings after SIGHUP; NULL: none */
};

/* The process around a worker (log role, death with the master, signals,
 * the ring and history read-only), then the worker until SIGTERM/SIGINT
 * (drain, then exit 0). */
__attribute__((noreturn)) void worker_main(const struct worker_init *wi);

#endif
