/* metrics.h - counters shared between workers and the master.
 *
 * One cache-line-aligned block per worker in MAP_SHARED memory, created by
 * the master before it forks. Each worker is the only writer of its block
 * and bumps plain uint64_t fields (no atomics, no locks: a torn read of a
 * counter on x86-64 cannot happen for aligned 8-byte stores, and a scrape
 * one increment stale is fine). The master sums them on scrape.
 *
 * The shared table of per-topic subscriber counts is pub/sub state, not a
 * metric: pubsub/topic_table.h (shared_stats.topics points to it). */
#ifndef WSP_METRICS_H
#define WSP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define METRICS_MAX_WORKERS 256
#define METRICS_AUTH_REASONS 16   /* >= AUTH_REASON_COUNT (auth/jwt.h), checked there */
#define METRICS_FANOUT_BUCKETS 20 /* publish -> last write, 10 us * 2^k, up to ~5.2 s */

enum hs_fail {
    HS_FAIL_BAD_REQUEST = 0, /* malformed head, 400 */
    HS_FAIL_TOO_LARGE,       /* 431 / 414 */
    HS_FAIL_VERSION,         /* 426 */
    HS_FAIL_ORIGIN,          /* 403 */
    HS_FAIL_TOPIC,           /* bad topic, 400 */
    HS_FAIL_NOT_FOUND,       /* plain HTTP 404/405 */
    HS_FAIL_FULL,            /* max-conns, 503 */
    HS_FAIL_PER_IP,          /* per-IP limit, 429 */
    HS_FAIL_TIMEOUT,         /* head not complete in time */
    HS_FAIL_PROXY, /* PROXY header bad, missing, or from an untrusted peer; bad X-Forwarded-For */
    HS_FAIL_COUNT
};

enum close_bucket {
    CB_1000 = 0,
    CB_1001,
    CB_1002,
    CB_1003,
    CB_1006,
    CB_1007,
    CB_1008,
    CB_1009,
    CB_1010,
    CB_1011,
    CB_1012,
    CB_1013,
    CB_4000,
    CB_4001,
    CB_4002,
    CB_4503,
    CB_OTHER,
    CB_COUNT /* one per code docs/close-codes.md defines; the rest "other" */
};

enum reset_cause {
    RESET_EPOCH = 0, /* the id's epoch is not this node's (restart, other history) */
    RESET_GAP,       /* history no longer reaches back to the id */
    RESET_OFF,       /* no history for the topic (--history-size/-ttl 0, table full) */
    RESET_BACKLOG,   /* the replay would not fit --max-backlog */
    RESET_CAUSES
};

struct worker_stats {
    /* identity, written by the master */
    int32_t pid;
    uint32_t restarts;
    uint64_t started_unix_ms;
    /* the coarse deadlines this worker arms, in 1 s ticks (at start, on SIGHUP; ping
     * also every second, as --ping-budget stretches it) */
    uint32_t deadline_ticks_handshake, deadline_ticks_ping, deadline_ticks_pong;
    uint64_t ping_ms; /* the ping interval in use (--ping-interval, stretched by --ping-budget) */
    /* gauges; from here to the end only uint64_t fields (metrics_sum adds
     * them up as an array) */
    uint64_t conns;          /* established WebSocket connections */
    uint64_t conns_pending;  /* accepted, handshake not done */
    uint64_t queued_bytes;   /* output held for slow sockets */
    uint64_t topics;         /* topics with local subscribers */
    uint64_t deflate_conns;  /* connections that negotiated permessage-deflate */
    uint64_t sse_conns;      /* established Server-Sent Events streams (also in conns) */
    uint64_t envelope_conns; /* connections in the JSON envelope mode (wspush.json) */
    /* counters */
    uint64_t accepted_total;
    uint64_t handshakes_total;
    uint64_t handshake_fail[HS_FAIL_COUNT];
    uint64_t disconnects[CB_COUNT];
    uint64_t messages_in;      /* data messages from clients */
    uint64_t ring_entries;     /* entries taken from the ring */
    uint64_t ring_lost;        /* entries lost by lapping */
    uint64_t lapped_closes;    /* subscribers closed with 1013 because entries were lost */
    uint64_t ring_recovered;   /* lost entries fanned out from history instead (resume.c) */
    uint64_t history_replayed; /* messages replayed from history to resuming subscribers */
    uint64_t history_resets[RESET_CAUSES]; /* resumes answered with reset / 4002, by cause */
    uint64_t deliveries;                   /* messages written or queued for a subscriber */
    uint64_t sse_deliveries;               /* of which to Server-Sent Events streams */
    uint64_t sse_skipped; /* messages without an SSE form (too large), not sent to SSE */
    uint64_t sse_resets;  /* SSE streams opened with a Last-Event-ID answered by "reset" */
    uint64_t bytes_sent;
    uint64_t short_writes;
    uint64_t slow_close;
    uint64_t slow_drop;
    uint64_t slow_latest;
    uint64_t pings_sent;
    uint64_t pings_skipped;  /* ping deadlines met by the peer's recent TCP acks: no ping */
    uint64_t pongs_deferred; /* pong deadlines put off: our ping still queued, the peer reading */
    uint64_t conflated;      /* conflatable ring entries skipped: a newer one was pending */
    uint64_t fanout_yields;  /* fan-outs paused after a slice for the loop (--fanout-slice) */
    uint64_t partial_input_bytes; /* gauge: partial inbound messages held */
    uint64_t partial_input_shed;  /* connections closed over --max-partial-input */
    uint64_t accept_errors;       /* EMFILE and friends */
    uint64_t accept_paused;       /* times --accept-rate stopped accepting until the next second */
    uint64_t http_requests;       /* plain HTTP on the public port */
    uint64_t tls_deferred;        /* TLS handshake steps put off to the next iteration */
    uint64_t tls_handovers;       /* TLS 1.3 connections whose records left OpenSSL */
    uint64_t tls_kept;            /* TLS connections that keep OpenSSL's record layer */
    uint64_t tls_reloads;         /* certificate reloads (SIGHUP) */
    uint64_t auth_accepted;       /* upgrades admitted with a valid subscriber token */
    uint64_t auth_refused[METRICS_AUTH_REASONS]; /* refused upgrades by enum auth_reason */
    uint64_t auth_expired;    /* connections closed with 4001 when their token expired */
    uint64_t proxy_headers;   /* PROXY protocol headers accepted */
    uint64_t forwarded_for;   /* client addresses taken from X-Forwarded-For */
    uint64_t restart_closes;  /* closed with 1012 by a spread-out drain */
    uint64_t api_disconnects; /* connections closed by POST /disconnect (4503 or 4000) */
    uint64_t fanout_count;
    uint64_t fanout_sum_ns;
    uint64_t fanout_buckets[METRICS_FANOUT_BUCKETS];
} __attribute__((aligned(64)));

struct shared_stats {
    unsigned nworkers;
    uint64_t published_http_topic, published_http_broadcast;
    uint64_t published_tick;
    uint64_t publish_rejected;
    uint32_t redis_state; /* written by the master: 0 no Redis, 1 not ready, 2 ready */
    /* the master's topic table (pubsub/topic_table.h), set before the
     * first fork: mapped at the same address in every process, so each
     * worker finds it here */
    struct topic_table *topics;
    struct worker_stats w[METRICS_MAX_WORKERS];
};

/* Maps the shared block (before fork). NULL on failure. */
struct shared_stats *metrics_shared_new(unsigned nworkers);
void metrics_shared_free(struct shared_stats *s);

/* Master side: every worker's counters and gauges added up into *sum, in
 * one pass (the snapshot /stats, /metrics and /live render from). The
 * identity fields are 0 but restarts, which is summed too. */
void metrics_sum(const struct shared_stats *s, struct worker_stats *sum);

/* Records one fan-out duration in w's histogram. */
void metrics_fanout_observe(struct worker_stats *w, uint64_t ns);
/* Upper bound in seconds of bucket k (the last is +Inf). */
double metrics_fanout_bucket_le(unsigned k);

uint64_t metrics_close_bucket_code(enum close_bucket b);
enum close_bucket metrics_close_bucket(uint16_t code);

#endif
