/* history.h - per-topic message history in shared memory.
 *
 * Created by the master before it forks; the master appends (one writer),
 * every worker reads in place, without locks and without copying the store.
 * Two parts, both MAP_SHARED: a byte store (a struct ring of its own,
 * holding each message's payload once, unframed) and a per-topic index of
 * the last `depth` messages (topic seq -> store position). A message is
 * readable while it is among its topic's last `depth`, younger than the TTL
 * and not overwritten in the store (node-wide byte budget, oldest first).
 * Readers validate like ring readers: peek, copy or encode, then check
 * history_intact(); a torn read is "gone", never wrong bytes.
 *
 * The topic table has a fixed capacity: a topic that finds it full has no
 * history (counted); topics are never removed (history lives as long as the
 * epoch). */
#ifndef WSP_PUBSUB_HISTORY_H
#define WSP_PUBSUB_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct history;

struct history_cfg {
    uint32_t depth;      /* messages per topic, >= 1 */
    uint64_t ttl_ns;     /* 0 = no age limit */
    uint32_t max_topics; /* topic table capacity (rounded up to a power of two) */
    size_t store_bytes;  /* byte store (rounded up to a power of two, >= 64 KiB) */
};

/* NULL on failure (errno set). */
struct history *history_create(const struct history_cfg *cfg);
void history_destroy(struct history *h);
/* In a worker after fork: the whole history read-only. 0 or -errno. */
int history_protect_readonly(struct history *h);

/* Writer (master) only. Records the payload of topic `key`'s message
 * topic_seq (which must be the topic's previous seq + 1 or later), that
 * went to the live ring as ring_seq. 0, WSP_ETOOBIG (larger than the store
 * takes: the topic's older messages stay, this one is missing, readers
 * see a gap), or WSP_ENOMEM (topic table full: no history for it). */
int history_append(struct history *h, uint64_t key, uint64_t topic_seq, uint64_t ring_seq,
                   bool binary, const uint8_t *payload, size_t n, uint64_t now_ns);

/* Writer only: forgets every topic's messages (a new epoch: ids from Redis,
 * docs/history.md). Topics keep their slots; the next append of a topic may
 * start at any seq. A reader that raced with it may still read a message of
 * the old epoch: it checks the epoch after reading (resume.c). */
void history_clear(struct history *h);

struct history_view { /* points into shared memory: check before use */
    const uint8_t *data;
    size_t len;
    bool binary;
    uint64_t ring_seq;   /* the live ring's seq of the same message */
    uint64_t publish_ns; /* CLOCK_MONOTONIC at publish */
    uint64_t pos;        /* for history_intact */
};

/* The topic's newest seq (0 if it has no history). Any process. */
uint64_t history_newest(const struct history *h, uint64_t key);
/* Message seq of the topic: 1 and v filled, or 0 when it is gone (too old,
 * expired at now_ns, overwritten, never stored). */
int history_peek(const struct history *h, uint64_t key, uint64_t seq, uint64_t now_ns,
                 struct history_view *v);
/* After using v: true if its bytes were intact the whole time. */
bool history_intact(const struct history *h, const struct history_view *v);
/* The oldest seq still readable at now_ns, or 0 if none (O(depth)). */
uint64_t history_oldest(const struct history *h, uint64_t key, uint64_t now_ns);

/* Every message still readable at now_ns whose live-ring seq is in
 * [from, to): fn(ctx, key, topic_seq, ring_seq) for each, in no particular
 * order; returns how many. For a worker the ring lapped (recover.c): walks
 * each topic's newest entries down to `from`, O(stored messages) at most.
 * Any process. */
size_t history_find_ring_range(const struct history *h, uint64_t from, uint64_t to, uint64_t now_ns,
                               void (*fn)(void *ctx, uint64_t key, uint64_t topic_seq,
                                          uint64_t ring_seq),
                               void *ctx);

struct history_stats {
    uint64_t topics;      /* topics with history */
    uint64_t topics_full; /* appends refused: topic table full */
    uint64_t appended;    /* messages stored */
    uint64_t store_bytes; /* bytes of the byte store in use (entries + headers) */
    uint64_t store_size;  /* capacity of the byte store */
    uint64_t index_bytes; /* bytes of the topic index */
};
void history_get_stats(const struct history *h, struct history_stats *s);
uint32_t history_depth(const struct history *h);

/* Bytes one stored message of n payload bytes costs in the store and the
 * index (measured: docs/history.md). */
size_t history_cost(size_t n);

#endif
