/* metrics.c - the shared counter block and topic table (see metrics.h). */
#include "metrics/metrics.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static size_t slot_size(unsigned nworkers)
{
    size_t s = sizeof(struct topic_count_slot) + sizeof(uint32_t) * nworkers;
    return (s + 7) & ~(size_t)7;
}

static size_t total_size(unsigned nworkers)
{
    return sizeof(struct shared_stats) + slot_size(nworkers) * TOPIC_TABLE_SLOTS;
}

struct shared_stats *metrics_shared_new(unsigned nworkers)
{
    if (nworkers == 0 || nworkers > METRICS_MAX_WORKERS)
        return NULL;
    void *p = mmap(NULL, total_size(nworkers), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct shared_stats *s = p; /* zero-filled by mmap */
    s->nworkers = nworkers;
    return s;
}

void metrics_shared_free(struct shared_stats *s)
{
    if (s)
        munmap(s, total_size(s->nworkers));
}

static struct topic_count_slot *slot_at(const struct shared_stats *s, size_t i)
{
    char *base = (char *)(s + 1);
    return (struct topic_count_slot *)(void *)(base + slot_size(s->nworkers) * i);
}

void metrics_topic_add(struct shared_stats *s, unsigned worker, uint64_t key, int delta)
{
    metrics_topic_add_named(s, worker, key, NULL, 0, delta);
}

void metrics_topic_add_named(struct shared_stats *s, unsigned worker, uint64_t key,
                             const char *name, size_t n, int delta)
{
    if (!s || worker >= s->nworkers || key == 0)
        return;
    for (size_t probe = 0; probe < 64; probe++) {
        struct topic_count_slot *sl = slot_at(s, (key + probe) % TOPIC_TABLE_SLOTS);
        _Atomic uint64_t *k = (_Atomic uint64_t *)&sl->key;
        uint64_t cur = atomic_load_explicit(k, memory_order_acquire);
        if (cur == 0) {
            uint64_t expected = 0;
            if (atomic_compare_exchange_strong(k, &expected, key)) {
                cur = key;
                if (name && n && n <= TOPIC_NAME_MAX) {
                    memcpy(sl->name, name, n);
                    atomic_store_explicit((_Atomic uint32_t *)&sl->name_len, (uint32_t)n,
                                          memory_order_release);
                }
            } else
                cur = expected;
        }
        if (cur == key) {
            _Atomic uint32_t *c = (_Atomic uint32_t *)&sl->count[worker];
            atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint32_t)delta,
                                  memory_order_relaxed);
            return;
        }
    }
    if (delta > 0)
        atomic_store_explicit((_Atomic uint32_t *)&s->topic_table_full, 1, memory_order_relaxed);
}

bool metrics_topic_slot_read(const struct shared_stats *s, size_t i, uint64_t *key,
                             const char **name, size_t *name_len, uint64_t *subscribers)
{
    struct topic_count_slot *sl = slot_at(s, i);
    uint64_t k = atomic_load_explicit((_Atomic uint64_t *)&sl->key, memory_order_acquire);
    if (k == 0)
        return false;
    uint32_t nl = atomic_load_explicit((_Atomic uint32_t *)&sl->name_len, memory_order_acquire);
    if (nl == 0 || nl > TOPIC_NAME_MAX)
        return false;
    uint64_t sum = 0;
    for (unsigned w = 0; w < s->nworkers; w++)
        sum += atomic_load_explicit((_Atomic uint32_t *)&sl->count[w], memory_order_relaxed);
    *key = k;
    *name = sl->name;
    *name_len = nl;
    *subscribers = sum;
    return true;
}

long metrics_topic_slot_index(const struct shared_stats *s, uint64_t key)
{
    for (size_t probe = 0; key && probe < 64; probe++) {
        size_t i = (key + probe) % TOPIC_TABLE_SLOTS;
        uint64_t cur = atomic_load_explicit((_Atomic uint64_t *)&slot_at(s, i)->key,
                                            memory_order_acquire);
        if (cur == 0)
            return -1;
        if (cur == key)
            return (long)i;
    }
    return -1;
}

uint64_t metrics_topic_subscribers(const struct shared_stats *s, uint64_t key)
{
    for (size_t probe = 0; probe < 64; probe++) {
        struct topic_count_slot *sl = slot_at(s, (key + probe) % TOPIC_TABLE_SLOTS);
        uint64_t cur = atomic_load_explicit((_Atomic uint64_t *)&sl->key, memory_order_acquire);
        if (cur == 0)
            return 0;
        if (cur == key) {
            uint64_t sum = 0;
            for (unsigned w = 0; w < s->nworkers; w++)
                sum += atomic_load_explicit((_Atomic uint32_t *)&sl->count[w], memory_order_relaxed);
            return sum;
        }
    }
    return 0;
}

void metrics_fanout_observe(struct worker_stats *w, uint64_t ns)
{
    w->fanout_count++;
    w->fanout_sum_ns += ns;
    uint64_t lim = 10000; /* 10 us */
    unsigned k = 0;
    while (k < METRICS_FANOUT_BUCKETS - 1 && ns > lim) {
        lim <<= 1;
        k++;
    }
    w->fanout_buckets[k]++;
}

double metrics_fanout_bucket_le(unsigned k)
{
    return 10e-6 * (double)(1ull << k);
}

static const uint16_t bucket_codes[CB_COUNT] = {1000, 1001, 1002, 1003, 1006,
                                                1007, 1008, 1009, 1011, 0};

uint64_t metrics_close_bucket_code(enum close_bucket b) { return bucket_codes[b]; }

enum close_bucket metrics_close_bucket(uint16_t code)
{
    for (int i = 0; i < CB_OTHER; i++)
        if (bucket_codes[i] == code)
            return (enum close_bucket)i;
    return CB_OTHER;
}
