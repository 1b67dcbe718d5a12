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
 * without asking the workers and knows which Redis channels to follow.
 *
 * The table: TOPIC_TABLE_SLOTS slots placed by the topic's keyed hash
 * (msg_topic_key), linear probing within a window of TOPIC_TABLE_WINDOW,
 * then TOPIC_TABLE_OVERFLOW slots scanned in order for topics whose window
 * is full; a topic that fits nowhere is counted per worker in
 * topics_uncounted. A slot is taken when a worker gets its first local
 * subscriber of the topic and freed (a tombstone, so probing stays right
 * for every process) when no worker counts it and the master does not hold
 * it. Taking, freeing, holding and a dead worker's reset happen under one
 * process-shared robust mutex; a worker's +-1 on a slot it already counts
 * in, and every read, are lock-free. */
#ifndef WSP_METRICS_H
#define WSP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
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
    /* the coarse deadlines this worker arms, in 1 s ticks (written at start) */
    uint32_t deadline_ticks_handshake, deadline_ticks_ping, deadline_ticks_pong;
    /* gauges; from here to the end only uint64_t fields (metrics_sum adds
     * them up as an array) */
    uint64_t conns;            /* established WebSocket connections */
    uint64_t conns_pending;    /* accepted, handshake not done */
    uint64_t queued_bytes;     /* output held for slow sockets */
    uint64_t topics;           /* topics with local subscribers */
    uint64_t deflate_conns;    /* connections that negotiated permessage-deflate */
    uint64_t sse_conns;        /* established Server-Sent Events streams (also in conns) */
    uint64_t topics_uncounted; /* local topics the shared table had no room for */
    uint64_t envelope_conns;   /* connections in the JSON envelope mode (wspush.json) */
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
    uint64_t partial_input_bytes; /* gauge: partial inbound messages held */
    uint64_t partial_input_shed;  /* connections closed over --max-partial-input */
    uint64_t accept_errors;       /* EMFILE and friends */
    uint64_t accept_paused;       /* times --accept-rate stopped accepting until the next second */
    uint64_t http_requests;       /* plain HTTP on the public port */
    uint64_t tls_deferred;        /* TLS handshake steps put off to the next iteration */
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

#define TOPIC_TABLE_SLOTS 4096  /* hashed slots, a power of two */
#define TOPIC_TABLE_WINDOW 64   /* probes from a topic's home slot */
#define TOPIC_TABLE_OVERFLOW 64 /* then these, after the hashed ones, in order */
#define TOPIC_TABLE_ALL (TOPIC_TABLE_SLOTS + TOPIC_TABLE_OVERFLOW)

#define TOPIC_NAME_MAX 128

#define TOPIC_KEY_EMPTY 0u /* never used: a probe stops here */
#define TOPIC_KEY_FREED 1u /* a tombstone: reusable, a probe goes on */

struct topic_count_slot {
    uint64_t key; /* msg_topic_key, TOPIC_KEY_EMPTY or TOPIC_KEY_FREED; written under the lock */
    uint32_t name_len;         /* 0 until name[] is written (release), under the lock */
    uint32_t held;             /* the master follows this topic (Redis): not freed while set */
    char name[TOPIC_NAME_MAX]; /* the topic's name, for the master's Redis subscriptions */
    uint32_t count[];          /* one per worker: its local subscribers, written by that worker
                                * (and by the master once the worker is dead) */
};

struct shared_stats {
    unsigned nworkers;
    uint64_t published_http_topic, published_http_broadcast;
    uint64_t published_tick;
    uint64_t publish_rejected;
    uint32_t redis_state;       /* written by the master: 0 no Redis, 1 not ready, 2 ready */
    pthread_mutex_t topic_lock; /* process-shared, robust: taking and freeing slots */
    struct worker_stats w[METRICS_MAX_WORKERS];
    /* topic table follows, see metrics_topic_slot() */
};

/* Maps the shared block (before fork). NULL on failure. */
struct shared_stats *metrics_shared_new(unsigned nworkers);
void metrics_shared_free(struct shared_stats *s);

/* Master side: every worker's counters and gauges added up into *sum, in
 * one pass (the snapshot /stats, /metrics and /live render from). The
 * identity fields are 0 but restarts, which is summed too. */
void metrics_sum(const struct shared_stats *s, struct worker_stats *sum);

/* Per-topic subscriber counts, worker side. The worker's first local
 * subscriber of topic key/name (1 <= n <= TOPIC_NAME_MAX): finds or takes
 * the topic's slot and counts 1 there. Returns the slot, which the worker
 * keeps with its topic, or -1 when the table has no room for this topic
 * (then it is counted in w[worker].topics_uncounted instead). */
long metrics_topic_join(struct shared_stats *s, unsigned worker, uint64_t key, const char *name,
                        size_t n);
/* One more (+1) or one fewer (-1) local subscriber, not the first or the
 * last, on the slot metrics_topic_join returned (-1: no-op). Lock-free. */
void metrics_topic_add(struct shared_stats *s, unsigned worker, long slot, int delta);
/* The worker's last local subscriber of the topic in slot (or -1) left. */
void metrics_topic_leave(struct shared_stats *s, unsigned worker, long slot);
/* Master side, once a worker is dead and before its successor starts: its
 * column and topics_uncounted go to 0, and slots nobody counts are freed. */
void metrics_topic_reset_worker(struct shared_stats *s, unsigned worker);
/* Master side: keep slot i from being freed (its name and key stay) while
 * the master follows the topic. False if slot i no longer holds key. */
bool metrics_topic_hold(struct shared_stats *s, size_t i, uint64_t key);
/* Master side: let slot i go; freed now if nobody counts it. */
void metrics_topic_release(struct shared_stats *s, size_t i);
/* Master side: topics some worker could not count (sum of topics_uncounted). */
uint64_t metrics_topics_uncounted(const struct shared_stats *s);
/* Master side: slot i (< TOPIC_TABLE_ALL). False for a free slot or one
 * whose name is not written yet; else its key, name (in shared memory,
 * stable while held) and subscriber sum. */
bool metrics_topic_slot_read(const struct shared_stats *s, size_t i, uint64_t *key,
                             const char **name, size_t *name_len, uint64_t *subscribers);
/* The slot index holding key, or -1. */
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
