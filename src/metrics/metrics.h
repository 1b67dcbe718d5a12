/* metrics.h - counters shared between workers and the master.
 *
 * One cache-line-aligned block per worker in MAP_SHARED memory, created by
 * the master before it forks. Each worker is the only writer of its block
 * and bumps plain uint64_t fields (no atomics, no locks: a torn read of a
 * counter on x86-64 cannot happen for aligned 8-byte stores, and a scrape
 * one increment stale is fine). The master sums them on scrape.
 *
 * Also here: a small shared table of per-topic subscriber counts (one
 * column per worker), so the master can answer "subscribers_notified"
 * without asking the workers. */
#ifndef WSP_METRICS_H
#define WSP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define METRICS_MAX_WORKERS 256
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
    HS_FAIL_COUNT
};

enum close_bucket {
    CB_1000 = 0, CB_1001, CB_1002, CB_1003, CB_1006, CB_1007, CB_1008, CB_1009, CB_1011,
    CB_OTHER, CB_COUNT
};

struct worker_stats {
    /* identity, written by the master */
    int32_t pid;
    uint32_t restarts;
    uint64_t started_unix_ms;
    /* gauges */
    uint64_t conns;         /* established WebSocket connections */
    uint64_t conns_pending; /* accepted, handshake not done */
    uint64_t queued_bytes;  /* output held for slow sockets */
    uint64_t topics;        /* topics with local subscribers */
    uint64_t deflate_conns; /* connections that negotiated permessage-deflate */
    /* counters */
    uint64_t accepted_total;
    uint64_t handshakes_total;
    uint64_t handshake_fail[HS_FAIL_COUNT];
    uint64_t disconnects[CB_COUNT];
    uint64_t messages_in;      /* data messages from clients */
    uint64_t ring_entries;     /* entries taken from the ring */
    uint64_t ring_lost;        /* entries lost by lapping */
    uint64_t deliveries;       /* messages written or queued for a subscriber */
    uint64_t bytes_sent;
    uint64_t short_writes;
    uint64_t slow_close;
    uint64_t slow_drop;
    uint64_t slow_latest;
    uint64_t pings_sent;
    uint64_t partial_input_bytes; /* gauge: partial inbound messages held */
    uint64_t partial_input_shed;  /* connections closed over --max-partial-input */
    uint64_t accept_errors;    /* EMFILE and friends */
    uint64_t accept_paused;    /* times --accept-rate stopped accepting until the next second */
    uint64_t http_requests;    /* plain HTTP on the public port */
    uint64_t tls_deferred;     /* TLS handshake steps put off to the next iteration */
    uint64_t tls_reloads;      /* certificate reloads (SIGHUP) */
    uint64_t fanout_count;
    uint64_t fanout_sum_ns;
    uint64_t fanout_buckets[METRICS_FANOUT_BUCKETS];
} __attribute__((aligned(64)));

#define TOPIC_TABLE_SLOTS 4096

#define TOPIC_NAME_MAX 128

struct topic_count_slot {
    uint64_t key; /* msg_topic_key; 0 = free; claimed with CAS, never freed */
    uint32_t name_len; /* 0 until name[] is written (release), by the claimer */
    char name[TOPIC_NAME_MAX]; /* the topic's name, for the master's Redis subscriptions */
    uint32_t count[]; /* one per worker, each written by its worker only */
};

struct shared_stats {
    unsigned nworkers;
    uint64_t published_http_topic, published_http_broadcast;
    uint64_t published_tick;
    uint64_t publish_rejected;
    uint32_t topic_table_full; /* set by a worker that found no free slot */
    uint32_t redis_state;      /* written by the master: 0 no Redis, 1 not ready, 2 ready */
    struct worker_stats w[METRICS_MAX_WORKERS];
    /* topic table follows, see metrics_topic_slot() */
};

/* Maps the shared block (before fork). NULL on failure. */
struct shared_stats *metrics_shared_new(unsigned nworkers);
void metrics_shared_free(struct shared_stats *s);

/* Per-topic subscriber counts. Worker side: add delta to its column
 * (claims a slot on first use; silently uncounted if the table is full). */
void metrics_topic_add(struct shared_stats *s, unsigned worker, uint64_t key, int delta);
/* The same, recording the topic's name (n <= TOPIC_NAME_MAX) when this call
 * claims the slot. */
void metrics_topic_add_named(struct shared_stats *s, unsigned worker, uint64_t key,
                             const char *name, size_t n, int delta);
/* Master side: slot i (< TOPIC_TABLE_SLOTS). False for a free slot or one
 * whose name is not written yet; else its key, name (in shared memory,
 * stable) and subscriber sum. */
bool metrics_topic_slot_read(const struct shared_stats *s, size_t i, uint64_t *key,
                             const char **name, size_t *name_len, uint64_t *subscribers);
/* Master side: the slot index holding key, or -1. */
long metrics_topic_slot_index(const struct shared_stats *s, uint64_t key);
/* Master side: sum over workers, 0 if unknown. */
uint64_t metrics_topic_subscribers(const struct shared_stats *s, uint64_t key);

/* Records one fan-out duration in w's histogram. */
void metrics_fanout_observe(struct worker_stats *w, uint64_t ns);
/* Upper bound in seconds of bucket k (the last is +Inf). */
double metrics_fanout_bucket_le(unsigned k);

uint64_t metrics_close_bucket_code(enum close_bucket b);
enum close_bucket metrics_close_bucket(uint16_t code);

#endif
