/* topic.c - a worker's topic index (see topic.h).
 *
 * A chained hash table of topics keyed by msg_topic_key (keyed SipHash) plus the
 * name, with a power-of-two bucket array that doubles when the topic count
 * passes it (load factor 1). Each topic keeps a dense member array that
 * grows geometrically and shrinks by half when it falls to a quarter, so
 * subscribe and unsubscribe are amortised O(1) and publishing walks S
 * contiguous members. It does not know connections or messages: members are
 * opaque owner pointers, and the fan-out is the caller's loop.
 *
 * Invariant: for every topic t in the index, 0 < t->count <= t->cap, and for
 * every i < t->count: t->members[i].sub->topic == t and
 * t->members[i].sub->idx == i. A topic with no member is not in the index.
 * Allocation happens only when a topic is created or an array grows. */
#include "pubsub/topic.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "pubsub/msg.h"

#define TOPIC_MIN_BUCKETS 16u
#define TOPIC_MIN_MEMBERS 4u
#define TOPIC_SHRINK_FLOOR 16u /* never shrink a member array below this */

struct topic_index {
    struct topic **buckets; /* nbuckets chains */
    size_t nbuckets;        /* a power of two */
    size_t ntopics;
};

struct topic_index *topic_index_new(void)
{
    struct topic_index *ix = malloc(sizeof *ix);
    if (!ix)
        return NULL;
    ix->buckets = calloc(TOPIC_MIN_BUCKETS, sizeof *ix->buckets);
    if (!ix->buckets) {
        free(ix);
        return NULL;
    }
    ix->nbuckets = TOPIC_MIN_BUCKETS;
    ix->ntopics = 0;
    return ix;
}

static void topic_free(struct topic *t)
{
    free(t->members);
    free(t);
}

void topic_index_free(struct topic_index *ix)
{
    if (!ix)
        return;
    for (size_t b = 0; b < ix->nbuckets; b++) {
        struct topic *t = ix->buckets[b];
        while (t) {
            struct topic *next = t->next;
            topic_free(t);
            t = next;
        }
    }
    free(ix->buckets);
    free(ix);
}

size_t topic_index_topics(const struct topic_index *ix)
{
    return ix->ntopics;
}

static inline size_t bucket_of(const struct topic_index *ix, uint64_t key)
{
    /* SipHash's low bits are well mixed enough for a power-of-two table */
    return (size_t)(key & (ix->nbuckets - 1));
}

struct topic *topic_find(const struct topic_index *ix, const char *name, size_t n, uint64_t key)
{
    if (key == 0)
        key = msg_topic_key(name, n);
    for (struct topic *t = ix->buckets[bucket_of(ix, key)]; t; t = t->next)
        if (t->key == key && t->name_len == n && memcmp(t->name, name, n) == 0)
            return t;
    return NULL;
}

struct topic *topic_find_key(const struct topic_index *ix, uint64_t key)
{
    for (struct topic *t = ix->buckets[bucket_of(ix, key)]; t; t = t->next)
        if (t->key == key)
            return t;
    return NULL;
}

/* Doubles the bucket array. On allocation failure the table just stays
 * denser: chains get longer, nothing breaks. */
static void grow_buckets(struct topic_index *ix)
{
    size_t nb = ix->nbuckets * 2;
    struct topic **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < ix->nbuckets; i++) {
        struct topic *t = ix->buckets[i];
        while (t) {
            struct topic *next = t->next;
            size_t j = (size_t)(t->key & (nb - 1));
            t->next = b[j];
            b[j] = t;
            t = next;
        }
    }
    free(ix->buckets);
    ix->buckets = b;
    ix->nbuckets = nb;
}

static struct topic *topic_create(struct topic_index *ix, const char *name, size_t n, uint64_t key)
{
    if (n > UINT32_MAX - 1)
        return NULL;
    struct topic *t = malloc(sizeof *t + n + 1);
    if (!t)
        return NULL;
    t->key = key;
    t->count = 0;
    t->cap = 0;
    t->ext_slot = -1;
    t->members = NULL;
    t->walks = 0;
    t->skipped = 0;
    t->newest_conflatable = 0;
    t->name_len = (uint32_t)n;
    if (n)
        memcpy(t->name, name, n);
    t->name[n] = '\0';
    if (ix->ntopics + 1 > ix->nbuckets)
        grow_buckets(ix);
    size_t b = bucket_of(ix, key);
    t->next = ix->buckets[b];
    ix->buckets[b] = t;
    ix->ntopics++;
    return t;
}

static void topic_remove(struct topic_index *ix, struct topic *t)
{
    struct topic **pp = &ix->buckets[bucket_of(ix, t->key)];
    while (*pp != t) {
        WSP_DASSERT(*pp != NULL);
        pp = &(*pp)->next;
    }
    *pp = t->next;
    ix->ntopics--;
    topic_free(t);
}

int topic_subscribe_key(struct topic_index *ix, const char *name, size_t n, uint64_t key,
                        void *owner, struct topic_sub *sub)
{
    WSP_DASSERT(sub->topic == NULL);
    if (key == 0)
        key = msg_topic_key(name, n);
    struct topic *t = topic_find(ix, name, n, key);
    if (!t) {
        t = topic_create(ix, name, n, key);
        if (!t)
            return WSP_ENOMEM;
    }
    if (t->count == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : TOPIC_MIN_MEMBERS;
        struct topic_member *m = cap > t->cap ? realloc(t->members, (size_t)cap * sizeof *m) : NULL;
        if (!m) {
            if (t->count == 0)
                topic_remove(ix, t); /* just created for us: leave no empty topic */
            return WSP_ENOMEM;
        }
        t->members = m;
        t->cap = cap;
    }
    uint32_t i = t->count++;
    t->members[i].owner = owner;
    t->members[i].sub = sub;
    sub->topic = t;
    sub->idx = i;
    return 0;
}

int topic_subscribe(struct topic_index *ix, const char *name, size_t n, void *owner,
                    struct topic_sub *sub)
{
    return topic_subscribe_key(ix, name, n, 0, owner, sub);
}

void topic_unsubscribe(struct topic_index *ix, struct topic_sub *sub)
{
    struct topic *t = sub->topic;
    if (!t)
        return;
    uint32_t i = sub->idx;
    WSP_DASSERT(i < t->count && t->members[i].sub == sub);
    uint32_t last = --t->count;
    if (i != last) {
        /* swap the last member into the hole: O(1), order is not kept */
        t->members[i] = t->members[last];
        t->members[i].sub->idx = i;
    }
    sub->topic = NULL;
    sub->idx = 0;
    if (t->count == 0) {
        topic_remove(ix, t);
        return;
    }
    /* Give back memory after a crowd leaves. Halving at a quarter keeps the
     * amortised cost O(1): a grow and a shrink are never one step apart. */
    if (t->cap > TOPIC_SHRINK_FLOOR && t->count <= t->cap / 4) {
        uint32_t cap = t->cap / 2;
        struct topic_member *m = realloc(t->members, (size_t)cap * sizeof *m);
        if (m) {
            t->members = m;
            t->cap = cap;
        }
    }
}
