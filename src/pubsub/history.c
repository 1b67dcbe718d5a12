/* history.c - per-topic history in shared memory (see history.h).
 *
 * The byte store is a second struct ring (pubsub/ring.c): the same one
 * writer, the same seqlock validation, oldest-first overwrite. Each stored
 * entry is { flags, no topic, frame = meta + payload } where meta is
 * { topic key, topic seq, live ring seq }. The index is a table of topics,
 * each { key, newest seq, pos[depth] } with pos[seq % depth] = store
 * position + 1 (0: empty). It does not frame, encode or send anything, and
 * knows nothing about connections.
 *
 * Invariant: the writer stores pos[] before it raises `newest` (release),
 * and a reader trusts a slot only if the entry it points at is intact and
 * names the same key and seq: a slot reused by seq + depth, or an entry
 * overwritten in the store, reads as gone. */
#include "pubsub/history.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "core/err.h"
#include "pubsub/ring.h"

#define HIST_META_BYTES 24u
#define HIST_RING_HDR 24u /* ring.c's entry header */

struct hist_topic {
    _Atomic uint64_t key;    /* 0: free */
    _Atomic uint64_t newest; /* newest seq stored, 0 if none */
    _Atomic uint64_t pos[];  /* depth slots */
};

struct history { /* the first page of the index mapping */
    uint32_t depth;
    uint32_t cap; /* topic slots, a power of two */
    uint64_t ttl_ns;
    size_t stride; /* bytes per hist_topic */
    size_t map_bytes;
    struct ring *store; /* its own mapping */
    /* writer's counters, read by anyone */
    _Atomic uint64_t topics, topics_full, appended;
};

#define HIST_HDR_BYTES 4096u
_Static_assert(sizeof(struct history) <= HIST_HDR_BYTES, "history header outgrew its page");

static inline struct hist_topic *topic_at(const struct history *h, uint32_t i)
{
    return (struct hist_topic *)(void *)((uint8_t *)h + HIST_HDR_BYTES + (size_t)i * h->stride);
}

size_t history_cost(size_t n)
{
    return ((HIST_RING_HDR + HIST_META_BYTES + n + 7u) & ~(size_t)7u) + sizeof(uint64_t);
}

struct history *history_create(const struct history_cfg *cfg)
{
    if (!cfg->depth || !cfg->max_topics || cfg->max_topics > (1u << 24) ||
        cfg->depth > (1u << 20)) {
        errno = EINVAL;
        return NULL;
    }
    uint32_t cap = 1;
    while (cap < cfg->max_topics)
        cap <<= 1;
    size_t stride = sizeof(struct hist_topic) + (size_t)cfg->depth * sizeof(uint64_t);
    size_t map_bytes = HIST_HDR_BYTES + (size_t)cap * stride;
    void *p = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct history *h = p; /* zeroed: every slot free */
    h->depth = cfg->depth;
    h->cap = cap;
    h->ttl_ns = cfg->ttl_ns;
    h->stride = stride;
    h->map_bytes = map_bytes;
    h->store = ring_create(cfg->store_bytes);
    if (!h->store) {
        munmap(p, map_bytes);
        return NULL;
    }
    return h;
}

void history_destroy(struct history *h)
{
    if (!h)
        return;
    ring_destroy(h->store);
    munmap(h, h->map_bytes);
}

int history_protect_readonly(struct history *h)
{
    int rc = ring_protect_readonly(h->store);
    if (rc < 0)
        return rc;
    /* h->store is read before this page becomes read-only, and never written after */
    if (mprotect(h, h->map_bytes, PROT_READ) != 0)
        return -errno;
    return 0;
}

uint32_t history_depth(const struct history *h)
{
    return h->depth;
}

/* Linear probing from the key's home slot; keys are never removed, so a
 * free slot ends the search. */
static struct hist_topic *lookup(const struct history *h, uint64_t key, bool insert)
{
    if (key == 0)
        return NULL;
    uint32_t mask = h->cap - 1;
    for (uint32_t n = 0, i = (uint32_t)key & mask; n < h->cap; n++, i = (i + 1) & mask) {
        struct hist_topic *t = topic_at(h, i);
        uint64_t k = atomic_load_explicit(&t->key, memory_order_acquire);
        if (k == key)
            return t;
        if (k == 0) {
            if (!insert)
                return NULL;
            atomic_store_explicit(&t->key, key, memory_order_release);
            atomic_fetch_add_explicit(&((struct history *)h)->topics, 1, memory_order_relaxed);
            return t;
        }
    }
    return NULL;
}

int history_append(struct history *h, uint64_t key, uint64_t topic_seq, uint64_t ring_seq,
                   bool binary, const uint8_t *payload, size_t n, uint64_t now_ns)
{
    struct hist_topic *t = lookup(h, key, true);
    if (!t) {
        atomic_fetch_add_explicit(&h->topics_full, 1, memory_order_relaxed);
        return WSP_ENOMEM;
    }
    uint8_t buf[HIST_META_BYTES];
    uint64_t meta[3] = {key, topic_seq, ring_seq};
    memcpy(buf, meta, sizeof buf);
    /* the store's entries have no topic of their own: the meta travels in
     * the entry's topic field, so payload and meta are one entry without
     * a copy into a scratch buffer */
    int64_t s = ring_publish(h->store, binary ? RING_F_BINARY : 0, (const char *)buf, sizeof buf,
                             payload, n, now_ns);
    uint64_t slot = topic_seq % h->depth;
    if (s < 0) {
        /* the old slot content names another seq: reads as gone */
        atomic_store_explicit(&t->pos[slot], 0, memory_order_release);
    } else {
        atomic_store_explicit(&t->pos[slot], ring_newest_pos(h->store) + 1, memory_order_release);
        atomic_fetch_add_explicit(&h->appended, 1, memory_order_relaxed);
    }
    atomic_store_explicit(&t->newest, topic_seq, memory_order_release);
    return s < 0 ? (int)s : 0;
}

void history_clear(struct history *h)
{
    for (uint32_t i = 0; i < h->cap; i++) {
        struct hist_topic *t = topic_at(h, i);
        if (!atomic_load_explicit(&t->key, memory_order_relaxed))
            continue;
        /* newest first: a reader then finds nothing to read, before the
         * slots it would read are emptied */
        atomic_store_explicit(&t->newest, 0, memory_order_release);
        for (uint32_t k = 0; k < h->depth; k++)
            atomic_store_explicit(&t->pos[k], 0, memory_order_release);
    }
}

uint64_t history_newest(const struct history *h, uint64_t key)
{
    const struct hist_topic *t = lookup(h, key, false);
    return t ? atomic_load_explicit(&((struct hist_topic *)t)->newest, memory_order_acquire) : 0;
}

int history_peek(const struct history *h, uint64_t key, uint64_t seq, uint64_t now_ns,
                 struct history_view *v)
{
    struct hist_topic *t = lookup(h, key, false);
    if (!t || seq == 0)
        return 0;
    uint64_t newest = atomic_load_explicit(&t->newest, memory_order_acquire);
    if (seq > newest || newest - seq >= h->depth)
        return 0;
    uint64_t p = atomic_load_explicit(&t->pos[seq % h->depth], memory_order_acquire);
    if (!p)
        return 0;
    struct ring_entry e;
    if (ring_peek_at(h->store, p - 1, &e) != 1 || e.topic_len != HIST_META_BYTES)
        return 0;
    uint64_t meta[3];
    memcpy(meta, e.topic, sizeof meta);
    if (!ring_intact(h->store, p - 1) || meta[0] != key || meta[1] != seq)
        return 0;
    if (h->ttl_ns && now_ns > e.publish_ns && now_ns - e.publish_ns > h->ttl_ns)
        return 0;
    v->data = e.frame;
    v->len = e.frame_len;
    v->binary = e.flags & RING_F_BINARY;
    v->ring_seq = meta[2];
    v->publish_ns = e.publish_ns;
    v->pos = p - 1;
    return 1;
}

bool history_intact(const struct history *h, const struct history_view *v)
{
    return ring_intact(h->store, v->pos);
}

uint64_t history_oldest(const struct history *h, uint64_t key, uint64_t now_ns)
{
    uint64_t newest = history_newest(h, key);
    if (!newest)
        return 0;
    uint64_t from = newest >= h->depth ? newest - h->depth + 1 : 1;
    struct history_view v;
    for (uint64_t s = from; s <= newest; s++)
        if (history_peek(h, key, s, now_ns, &v) == 1)
            return s;
    return 0;
}

size_t history_find_ring_range(const struct history *h, uint64_t from, uint64_t to, uint64_t now_ns,
                               void (*fn)(void *ctx, uint64_t key, uint64_t topic_seq,
                                          uint64_t ring_seq),
                               void *ctx)
{
    size_t found = 0;
    for (uint32_t i = 0; i < h->cap; i++) {
        uint64_t key = atomic_load_explicit(&topic_at(h, i)->key, memory_order_acquire);
        if (!key)
            continue;
        uint64_t newest = history_newest(h, key);
        /* ring seqs grow with topic seqs: from the newest down to `from` */
        for (uint64_t s = newest; s && newest - s < h->depth; s--) {
            struct history_view v;
            if (history_peek(h, key, s, now_ns, &v) != 1 || v.ring_seq < from)
                break;
            if (v.ring_seq < to) {
                fn(ctx, key, s, v.ring_seq);
                found++;
            }
        }
    }
    return found;
}

void history_get_stats(const struct history *h, struct history_stats *s)
{
    struct history *w = (struct history *)h;
    s->topics = atomic_load_explicit(&w->topics, memory_order_relaxed);
    s->topics_full = atomic_load_explicit(&w->topics_full, memory_order_relaxed);
    s->appended = atomic_load_explicit(&w->appended, memory_order_relaxed);
    uint64_t written = ring_bytes_written(h->store);
    s->store_size = ring_size(h->store);
    s->store_bytes = written < s->store_size ? written : s->store_size;
    s->index_bytes = h->map_bytes;
}
