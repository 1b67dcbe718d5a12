/* topic.h - a worker's topic index: topic name -> its local subscribers.
 *
 * Worker-local, single-threaded. Publishing to a topic with S subscribers
 * walks a dense array of S members: O(S), cache-friendly. Subscribing and
 * unsubscribing are O(1): each subscription (struct topic_sub, kept by the
 * subscriber) remembers its slot in the array, and removal swaps the last
 * member into the hole. A topic is created by its first subscriber and freed
 * with its last. The index knows nothing of connections: a member is an
 * opaque owner pointer. */
#ifndef WSP_PUBSUB_TOPIC_H
#define WSP_PUBSUB_TOPIC_H

#include <stddef.h>
#include <stdint.h>

struct topic;
struct topic_index;

struct topic_sub {       /* one subscription; owned and kept by the subscriber */
    struct topic *topic; /* NULL when not subscribed */
    uint32_t idx;        /* slot in topic->members */
};

struct topic_member {
    void *owner;           /* what the fan-out hands the message to */
    struct topic_sub *sub; /* updated when the member moves */
};

struct topic {
    uint64_t key;   /* msg_topic_key(name) */
    uint32_t count; /* live members */
    uint32_t cap;
    int32_t ext_slot;             /* the caller's index for this topic elsewhere
                                   * (a worker: its shared count slot); -1 at creation */
    struct topic_member *members; /* [0, count) */
    uint32_t walks;               /* fan-outs so far: topic_walk_start's rotation */
    uint32_t skipped;             /* conflated messages not yet announced (worker.c) */
    uint64_t newest_conflatable;  /* ring seq of the newest conflatable entry seen ahead */
    struct topic *next;           /* hash chain */
    uint32_t name_len;
    char name[]; /* NUL-terminated */
};

/* Where the next walk over n members starts (n > 0), advancing *walks:
 * the fractional parts of k * golden ratio, scaled to n, so the starts of
 * successive walks spread evenly over the array and no member is always
 * last (issue 16). The walk goes [start, n) then [0, start). */
static inline uint32_t topic_walk_start(uint32_t *walks, uint32_t n)
{
    uint32_t k = (*walks)++;
    return (uint32_t)(((uint64_t)(k * 2654435769u) * n) >> 32);
}

struct topic_index *topic_index_new(void);
/* Frees every topic; subscriptions still pointing at them become dangling:
 * unsubscribe first, or free the subscribers with it (worker exit). */
void topic_index_free(struct topic_index *ix);

/* The topic or NULL. key may be 0 to compute it from the name. */
struct topic *topic_find(const struct topic_index *ix, const char *name, size_t n, uint64_t key);

/* The topic with this key or NULL: for callers that know only the key
 * (a keyed SipHash of the name, msg_topic_key: collisions are not
 * something a client can aim for). */
struct topic *topic_find_key(const struct topic_index *ix, uint64_t key);

/* Adds owner to topic `name` (created if needed); fills *sub.
 * Returns 0 or WSP_ENOMEM. sub must not already be subscribed. */
int topic_subscribe(struct topic_index *ix, const char *name, size_t n, void *owner,
                    struct topic_sub *sub);
/* The same with the topic's key given (msg_topic_key(name, n), or 0 to
 * compute it): the fan-out already has it in msg->topic_key. Tests may pass
 * any non-zero key to force hash collisions; a topic must then always be
 * looked up with the key it was created with. */
int topic_subscribe_key(struct topic_index *ix, const char *name, size_t n, uint64_t key,
                        void *owner, struct topic_sub *sub);
/* Removes the subscription (no-op if sub->topic is NULL); frees an emptied topic. */
void topic_unsubscribe(struct topic_index *ix, struct topic_sub *sub);

size_t topic_index_topics(const struct topic_index *ix);

#endif
