/* server_int.h - the worker's and the connection's state, private to
 * src/server/.
 *
 * A worker is one process with one event loop, its own share of the public
 * port's listeners, its own connections, topic index and counters. A
 * connection is a small fixed struct (budget: 128 bytes, checked at build
 * time); what only some connections need hangs off pointers allocated on
 * demand: the partial request head, the partial inbound frame, queued
 * output, extra topic subscriptions. */
#ifndef WSP_SERVER_INT_H
#define WSP_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "ev/loop.h"
#include "http/http_parse.h"
#include "metrics/metrics.h"
#include "pubsub/msg.h"
#include "pubsub/outq.h"
#include "pubsub/history.h"
#include "pubsub/ring.h"
#include "pubsub/topic.h"
#include "server/ipcount.h"
#include "server/transport.h"
#include "tls/tls.h"
#include "ws/ws_deflate.h"
#include "ws/ws_handshake.h"
#include "ws/ws_rx.h"

enum conn_state {
    CONN_HTTP = 0, /* reading the request head */
    CONN_WS,       /* open WebSocket */
    CONN_CLOSING,  /* our close frame or final response sent; waiting for the peer */
    CONN_DEAD,     /* on the worker's dead list, freed after this iteration */
};

#define CF_ECHO 0x01            /* the diagnostics echo path */
#define CF_WANT_WRITE 0x02      /* EPOLLOUT armed */
#define CF_END_AFTER_FLUSH 0x04 /* nothing more to say: end when the queue drains */
#define CF_PING_SENT 0x08       /* waiting for a pong */
#define CF_COUNTED 0x10         /* counted in the conns gauge */
#define CF_DROPPING 0x20        /* slow policy "drop": skipping until drained */
#define CF_PEER_CLOSED 0x40     /* the peer's close frame arrived */
#define CF_RD_SHUT 0x80         /* the peer shut down its sending side: read no more */
#define CF_DEFLATE 0x100        /* permessage-deflate negotiated */
#define CF_DISCARD 0x200        /* input is read and dropped unparsed (lingering close) */
#define CF_PROXY_HDR                                                                               \
    0x400                    /* a PROXY header must come first (trusted peer, --proxy-protocol on) \
                              */
#define CF_PROXY_SNIFF 0x800 /* refuse a PROXY header (untrusted peer, --proxy-protocol on) */
#define CF_TRUSTED 0x1000    /* the address is a trusted proxy: X-Forwarded-For names the client */
#define CF_ENVELOPE 0x2000   /* JSON envelope mode (wspush.json / ?format=json) */
#define CF_PING_QUEUED                                                                             \
    0x4000            /* our ping waits in the out-queue: the pong clock has not started           \
                       */
#define CF_SSE 0x8000 /* a Server-Sent Events stream (sse_conn.c), not a WebSocket */

struct conn_spill { /* a partial request head, while it is incomplete */
    uint32_t len;
    uint32_t cap;
    uint8_t data[];
};

struct conn {                   /* owned by its worker */
    struct ev_handler h;        /* must stay first: events come back through it */
    int fd;                     /* owned; closed once, in conn_reap */
    uint32_t slot;              /* index in worker->conns */
    uint8_t state;              /* enum conn_state */
    uint8_t rate_tick;          /* the tick rate_count counts in */
    uint16_t flags;             /* CF_* */
    uint16_t close_code;        /* the code this connection ended with */
    uint16_t rate_count;        /* inbound messages in the current second */
    uint16_t nextra;            /* subscriptions in extra[], < CONFIG_MAX_TOPICS */
    uint16_t deadline_laps;     /* full 127-tick laps after deadlines[slot] (ev/timer.h) */
    uint32_t ip_id;             /* its address's entry in worker->ips; 0: not counted */
    union {                     /* by state: one pointer serves three lives */
        struct conn_spill *in;  /* CONN_HTTP: partial head, on demand */
        struct ws_rx *rx;       /* upgraded (CF_COUNTED): partial frame, on demand */
        struct conn *next_free; /* in the worker's pool */
        void *host_state;       /* a host with on_data (admin.c): its state for c, owned by
                                 * it, set back to NULL in on_forget */
    };
    struct outq *out;        /* queued output, on demand */
    struct topic_sub sub;    /* first topic subscription */
    struct topic_sub *extra; /* further subscriptions, on demand */
    struct transport *tp; /* NULL: plain TCP; else TLS (transport.h); owned, freed in conn_reap */
};

/* The per-connection budget (DESIGN.md: <= 128 bytes). 80 today; measured
 * user memory per idle connection is in BENCHMARKS.md. */
_Static_assert(sizeof(struct conn) <= 80, "struct conn grew: check the per-connection budget");
/* every subscription past the first is counted in nextra: issue 11 */
_Static_assert(CONFIG_MAX_TOPICS - 1 < 1ull << (8 * sizeof(((struct conn *)0)->nextra)),
               "struct conn's nextra cannot count --max-topics");

struct live_config;
struct worker;

/* The connection core's only calls upward (conn.c knows no route, token or
 * proxy): what the port's layer above does with a connection's events.
 * The public port's table is public_port_ops (public_port.c); a worker
 * sets it before its first connection. All run on the worker's thread; c
 * may be closed or killed inside any of them. */
struct conn_host_ops {
    /* Before any other input while CF_PROXY_HDR or CF_PROXY_SNIFF is set:
     * 1 go on reading (flags cleared), 0 wait for more bytes, < 0 refused. */
    int (*on_preamble)(struct worker *w, struct conn *c);
    /* A complete request head; rest: the bytes after it (frames a client
     * sent right away), valid until the call returns. */
    void (*on_request)(struct worker *w, struct conn *c, struct http_req *r, uint8_t *rest,
                       size_t rest_len);
    /* A refusal decided below the routes (a bad head, a timeout, a CORS
     * preflight from a foreign origin): one access-log line. */
    void (*on_refused)(struct worker *w, struct conn *c, int status, const char *why);
    /* c is being freed: drop what the layer above keeps for it. */
    void (*on_forget)(struct worker *w, struct conn *c);
    /* Optional (NULL on the public port). A host that parses its own input
     * (request bodies, keep-alive: the admin port) gets every byte a
     * CONN_HTTP connection reads here, instead of the core's head parser
     * and on_request; c->host_state is its own. It answers with
     * conn_send_bytes/conn_send_msg and ends with conn_end or conn_kill.
     * on_preamble, on_request and on_refused are then never called (with
     * ticks_handshake 0: no head deadline either). */
    void (*on_data)(struct worker *w, struct conn *c, uint8_t *p, size_t n);
    /* Optional: c's queued output fell below w->read_pause_bytes, so the
     * core reads c again; the host serves what it holds (pipelined
     * requests). */
    void (*on_resume)(struct worker *w, struct conn *c);
};
extern const struct conn_host_ops public_port_ops;

/* A worker is also the connection core's host: conn.c uses only its loop,
 * cfg, st, host_ops, tls, pool, dense array, deadlines, dead list, tick,
 * rbuf, tls_steps and the two limits below (plus topics, shared, ips and
 * the frame settings for WebSockets it upgrades itself). The admin port
 * (admin.c) builds a struct worker with only those (no ring, listener or
 * topics) as the host of its connections, with its own private counters:
 * see docs/architecture.md. */
struct worker {
    unsigned id;
    const struct wsp_config *cfg;   /* its own copy (forked); SIGHUP rewrites the
                                     * live options in place (worker.c) */
    const struct live_config *live; /* where the master publishes them */
    struct ev_loop *loop;
    int listen_fd;
    struct ev_handler listen_h;
    bool accepting;
    bool accept_paused;       /* over --accept-rate: listener off until the next sweep */
    uint32_t accepts_in_tick; /* accepted since the last sweep */
    int wake_fd;              /* eventfd the master writes after appending to the ring */
    struct ev_handler wake_h;
    int sig_fd;
    struct ev_handler sig_h;
    int spare_fd; /* kept open to accept-and-close on EMFILE */
    struct ring *ring;
    struct ring_reader rd;
    struct ring_reader ahead; /* conflation's look-ahead: entries up to here were seen */
    uint64_t broadcast_newest_conflatable; /* ring seq, as struct topic's for topics */
    uint32_t broadcast_skipped;            /* conflated broadcasts not yet announced */
    uint32_t broadcast_walks;              /* rotation of the broadcast walk */
    struct history *history;               /* NULL: off; read-only here */
    struct shared_stats *shared;
    struct worker_stats *st;
    const struct conn_host_ops *host_ops; /* the port above the connection core */
    struct topic_index *topics;
    struct conn **conns; /* dense: every live connection, for broadcast and sweep */
    uint32_t nconns;
    uint32_t cap;
    uint8_t *deadlines; /* deadlines[slot]: the connection's coarse deadline in
                         * ticks (ev/timer.h), kept apart from the connections
                         * so the once-a-second sweep scans bytes, not structs */
    struct conn **dead; /* freed in the post hook; capacity == cap */
    uint32_t ndead;
    struct conn *pool;          /* free struct conns */
    struct conn *pool_chunks;   /* every chunk the pool took, for conn_pool_free */
    uint64_t max_backlog_bytes; /* the backlog gate's cap (--max-backlog; the admin: its own) */
    size_t read_pause_bytes;    /* no reading while this much output is queued; 0: never */
    uint8_t tick;               /* coarse clock, advanced every second */
    uint32_t ticks_handshake, ticks_ping, ticks_pong; /* <= EV_DEADLINE_LONG_MAX_TICKS */
    uint64_t ping_ms;   /* the ping interval in use: --ping-interval, stretched by --ping-budget */
    unsigned ncpu;      /* online CPUs at start: the budget is per core */
    uint32_t ticks_sse; /* SSE heartbeat interval (--sse-heartbeat); 0: none */
    bool draining;
    uint64_t drain_deadline_ms;
    uint64_t drain_start_ms;  /* drain.c: the spread-out 1012 closes */
    uint64_t drain_spread_ms; /* every client told by drain_start_ms + this */
    uint32_t drain_total;     /* open WebSocket connections when the drain began */
    uint32_t drain_told;      /* closed with 1012 so far (or gone) */
    int drain_timer;          /* -1: none */
    uint64_t drain_rng;       /* xorshift state, never 0 */
    uint8_t *rbuf;            /* the one receive buffer */
    size_t rbuf_size;
    struct ws_handshake_cfg hs_cfg;
    const char *protocols[CONFIG_MAX_LIST + 1]; /* hs_cfg's: the configured ones, the envelope's */
    struct ws_rx_cfg rx_cfg;
    struct ws_rx_cfg rx_cfg_echo;
    struct ws_rx_cfg rx_cfg_z; /* deflate negotiated */
    struct ws_rx_cfg rx_cfg_echo_z;
    struct ws_inflater *inflater;      /* shared by the worker's deflate connections */
    struct ws_deflater *echo_deflater; /* compresses echoes; on first use, NULL until */
    uint64_t partial_bytes;            /* sum of ws_rx_buffered() over its connections */
    struct ws_deflate_cfg deflate_cfg;
    struct http_limits http_lim;
    struct ipcount *ips; /* NULL until max_conns_per_ip is set (at start or on SIGHUP) */
    uint64_t started_ms;
    struct tls_ctx *tls;        /* NULL: plain ws:// */
    struct io_uring *uring;     /* batched fan-out sends; NULL: one send() each */
    unsigned uring_pending;     /* sends prepared, not yet reaped */
    struct fanout_seals *seals; /* TLS records sealed for the batch (fanout.c); NULL until one */
    struct fanout_walk {        /* a fan-out paused between slices (fanout.c) */
        struct msg *m;          /* its message (a reference); NULL: none paused */
        struct topic *t;        /* its topic; NULL: a broadcast over conns */
        uint32_t n;             /* the array's length when it began: later joiners are not in it */
        uint32_t start;         /* the rotating start (topic_walk_start) */
        uint32_t done;          /* positions walked so far, < n while paused */
    } walk;
    unsigned tls_steps;      /* handshake steps taken this iteration */
    uint64_t tls_counted[2]; /* transport_tls_counts already added to st */
};

/* conn.c: connection I/O and protocol */
struct conn *conn_new(struct worker *w, int fd);
/* Chooses c's transport once, before its first byte is read: TLS when the
 * worker serves wss:// (w->tls), else plain. 0 or WSP_ENOMEM (then kill c). */
int conn_transport_start(struct worker *w, struct conn *c);
void conn_on_event(struct ev_loop *loop, struct ev_handler *h, uint32_t events);
/* Sends a shared message; queues on a short write. 0 (sent or queued),
 * WSP_EAGAIN (over --max-backlog: dropped by the slow-consumer policy), or
 * another < 0 if the connection died or is closing. Every byte queued for
 * a connection (conn_send_bytes too) passes the same backlog gate. */
int conn_send_msg(struct worker *w, struct conn *c, struct msg *m);
/* What a send of m that somebody else issued (io_uring) did: r bytes
 * written or -errno. Queues the rest or kills the connection, like
 * conn_send_msg after its own send. */
int conn_send_result(struct worker *w, struct conn *c, struct msg *m, ssize_t r);
/* Sends bytes that belong to this connection only (responses, pongs). */
int conn_send_bytes(struct worker *w, struct conn *c, const void *p, size_t n);
/* Starts the close handshake with code/reason (WebSocket), or ends an HTTP
 * connection. Safe to call more than once. */
void conn_close(struct worker *w, struct conn *c, uint16_t code, const char *reason);
/* Drops the connection now (no close frame). */
void conn_kill(struct worker *w, struct conn *c, uint16_t code);
/* Subscribes c (through sub, kept by c) to topic name and counts it in the
 * shared topic table. 0 or WSP_ENOMEM. Unsubscribing is conn_reap's. */
int conn_topic_join(struct worker *w, struct conn *c, const char *name, size_t n,
                    struct topic_sub *sub);
/* Frees everything on the dead list (post hook). */
void conn_reap(struct worker *w);
/* Coarse timers: called for every connection once per tick. */
void conn_on_tick(struct worker *w, struct conn *c);
/* Advances w's coarse clock one tick and calls conn_on_tick for each
 * connection whose deadline is due (worker_tick; the admin port's once a
 * second timer). */
void conn_sweep(struct worker *w);
/* One event for c from a loop whose user pointer is not w (the admin
 * port's connections on the master's loop: its handler names its host). */
void conn_on_io(struct worker *w, struct conn *c, uint32_t events);
/* Ends c once what is queued is out: half-close, then read and drop until
 * the peer's EOF for a bounded time (the lingering close). No deadline is
 * set for the queued output: the caller's. Safe to call more than once. */
void conn_end(struct worker *w, struct conn *c);
/* Cuts every connection of w (no close frame: reason code) and frees
 * them, and w's dense array, deadlines and dead list. */
void conn_host_release(struct worker *w, uint16_t code);
/* Frees the chunks of w's connection pool (none may be in use). The
 * workers keep theirs for the process's life; the admin port frees its. */
void conn_pool_free(struct worker *w);
/* Marks the connection as established WebSocket (gauge, deadlines). */
void conn_established(struct worker *w, struct conn *c);
/* Sends an HTTP response and ends the connection after it. */
void conn_http_reply(struct worker *w, struct conn *c, int status, const char *ctype,
                     const void *body, size_t len, const char *extra_headers);
void conn_ws_feed(struct worker *w, struct conn *c, uint8_t *p, size_t n);

/* sse_conn.c: Server-Sent Events streams on the same connection core */
/* Answers an admitted, subscribed EventSource request: the 200 head with
 * CORS headers and the preamble (retry hint); marks c CF_SSE and
 * established. */
void sse_conn_start(struct worker *w, struct conn *c, const struct http_req *r);
struct resume_item;
/* Right after sse_conn_start: resumes from the since items (n > 0), else
 * from Last-Event-ID / ?lastEventId= (one-topic streams; with zero or
 * several topics an id gets "event: reset"), through resume.c. */
void sse_conn_resume(struct worker *w, struct conn *c, const struct http_req *r,
                     const struct resume_item *items, size_t n);
/* OPTIONS: a CORS preflight for an EventSource request. */
void sse_conn_preflight(struct worker *w, struct conn *c, const struct http_req *r);
/* The CORS response headers for r ("" when r has no Origin) into out. */
size_t sse_conn_cors(const struct worker *w, const struct http_req *r, char *out, size_t cap);

/* fanout.c: the hot path */
/* Delivers m to every subscriber of topic (or every connection: a
 * broadcast) before it returns; a paused walk is finished first. */
void fanout_deliver(struct worker *w, struct msg *m, uint8_t flags, const char *topic,
                    size_t topic_len);
/* The same walk in slices of --fanout-slice subscribers (issue 16): begins
 * it (taking its own reference to m) and walks the first slice. true: done;
 * false: paused, fanout_resume goes on. Only one walk is paused at a time
 * (the caller resumes it before it begins another), and while it is, the
 * walked arrays only grow: conn_reap waits for the walk's end. */
bool fanout_begin(struct worker *w, struct msg *m, uint8_t flags, const char *topic,
                  size_t topic_len);
/* One more slice of the paused walk (none: true). true: it is done. */
bool fanout_resume(struct worker *w);
/* Drops a paused walk undelivered (the worker is going away). */
void fanout_cancel(struct worker *w);
/* io_uring for the fan-out: 0, or -errno when the kernel refuses (then the
 * worker sends with send(2)). */
int fanout_uring_init(struct worker *w, unsigned entries);
void fanout_uring_free(struct worker *w);

/* routes_log.c: --access-log lines (nothing when off) */
/* A refusal decided before any request was read (the per-IP limit at
 * accept): one line with the peer, no path. */
void routes_access_log_peer(struct worker *w, const struct sockaddr *peer, socklen_t len,
                            int status, const char *why);
/* The same for a refusal before a request could be read whole (a bad head,
 * a PROXY header, X-Forwarded-For, a timeout): the peer from c's socket. */
void routes_access_log_conn(struct worker *w, struct conn *c, int status, const char *why);
/* An upgrade attempt (status 0: accepted), with the path and the ?topic=
 * values of r. */
void routes_access_log_request(struct worker *w, struct conn *c, const struct http_req *r,
                               int status, const char *why);

/* routes.c: what a complete request head means on the public port */
void routes_handle(struct worker *w, struct conn *c, struct http_req *r, uint8_t *rest,
                   size_t rest_len);

/* proxy_conn.c: the real client behind a trusted proxy */
/* Before any other input while CF_PROXY_HDR or CF_PROXY_SNIFF is set: reads
 * (only) the PROXY header, counts the client it names for the per-IP limit
 * and starts TLS. 1: go on reading (flags cleared); 0: wait for more bytes;
 * < 0: the connection was refused (it is on the dead list or replied to). */
int proxy_conn_read(struct worker *w, struct conn *c);
/* A complete request head from a CF_TRUSTED connection: takes the client
 * from X-Forwarded-For and counts it. 0: go on; < 0: refused (replied). */
int proxy_conn_forwarded(struct worker *w, struct conn *c, const struct http_req *r);

/* drain.c: SIGTERM, closes spread over the drain window */
/* Starts the spread-out close (listener already closed): pending heads are
 * dropped now, WebSocket clients get 1012 with a retry hint over time. */
void drain_begin(struct worker *w);
/* The part of a drain window over which closes are spread. */

/* worker.c (worker.h: the process around it) */
struct worker_init;
/* The worker's state from wi, without the process around it (no signals,
 * no read-only mappings; worker_main adds those): the loop with its post
 * and between hooks, the limits, the handshake and frame settings
 * (deflate included), io_uring, the ring reader. listen_fd and wake_fd may
 * be -1 (tests, fuzz_conn: connections come from conn_new). Takes
 * ownership of wi->tls and listen_fd. 0, or WSP_ENOMEM with nothing left
 * to release. */
int worker_init(struct worker *w, const struct worker_init *wi);
/* Registers the listener, the eventfd, the signalfd (w->sig_fd, -1: none)
 * and the once-a-second sweep, and runs the loop until a drain ends. 0, or
 * < 0 when the loop could not start or failed. */
int worker_run(struct worker *w);
/* The sweep: advances the coarse clock one tick and handles the
 * connections whose deadline is due (also what tests call to move time). */
void worker_tick(struct worker *w);
/* The ping interval for nconns connections on one of nworkers workers:
 * interval_ms, or longer when pinging them all once per interval would
 * pass this worker's share of budget x ncpu pings per second (so the
 * node's pings stay within it however many connections it holds; capped
 * at EV_DEADLINE_MAX_MS). interval_ms 0 (no pings) or budget 0: as given. */
uint64_t worker_ping_ms(uint64_t interval_ms, uint64_t budget, unsigned ncpu, unsigned nworkers,
                        uint64_t nconns);
/* w->ping_ms and w->ticks_ping from the options and w->nconns (start,
 * SIGHUP, every sweep); armed deadlines keep their time. */
void worker_ping_interval_update(struct worker *w);
/* Cuts what is left (1001) and frees everything worker_init made, except
 * the connection pool (conn.c keeps its chunks for the process's life). */
void worker_release(struct worker *w);

#endif
