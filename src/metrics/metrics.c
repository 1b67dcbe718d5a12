/* metrics.c - the shared counter block and topic table (see metrics.h). */
#include "metrics/metrics.h"

#include <errno.h>
#include <stddef.h>
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
    return sizeof(struct shared_stats) + slot_size(nworkers) * TOPIC_TABLE_ALL;
}

struct shared_stats *metrics_shared_new(unsigned nworkers)
{
    if (nworkers == 0 || nworkers > METRICS_MAX_WORKERS)
        return NULL;
    void *p =
        mmap(NULL, total_size(nworkers), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct shared_stats *s = p; /* zero-filled by mmap */
    s->nworkers = nworkers;
    /* robust: a worker killed inside the lock does not stop the others */
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc == 0) {
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        rc = pthread_mutex_init(&s->topic_lock, &a);
        pthread_mutexattr_destroy(&a);
    }
    if (rc != 0) {
        munmap(p, total_size(nworkers));
        return NULL;
    }
    return s;
}

void metrics_shared_free(struct shared_stats *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->topic_lock);
    munmap(s, total_size(s->nworkers));
}

/* Everything from conns to the end is a uint64_t counter or gauge (and
 * the alignment padding after them, never written, stays 0): summed as an
 * array, so a counter added to struct worker_stats is summed without a
 * line here. */
#define SUM_FIRST offsetof(struct worker_stats, conns)
_Static_assert(SUM_FIRST % sizeof(uint64_t) == 0 &&
                   (sizeof(struct worker_stats) - SUM_FIRST) % sizeof(uint64_t) == 0,
               "worker_stats: the counters from conns on must be whole uint64_t");

void metrics_sum(const struct shared_stats *s, struct worker_stats *sum)
{
    memset(sum, 0, sizeof *sum);
    size_t nf = (sizeof *sum - SUM_FIRST) / sizeof(uint64_t);
    uint64_t *d = (uint64_t *)(void *)((char *)sum + SUM_FIRST);
    for (unsigned i = 0; i < s->nworkers; i++) {
        const uint64_t *w = (const uint64_t *)(const void *)((const char *)&s->w[i] + SUM_FIRST);
        for (size_t k = 0; k < nf; k++)
            d[k] += w[k];
        sum->restarts += s->w[i].restarts;
    }
}

static struct topic_count_slot *slot_at(const struct shared_stats *s, size_t i)
{
    char *base = (char *)(s + 1);
    return (struct topic_count_slot *)(void *)(base + slot_size(s->nworkers) * i);
}

static uint64_t load_key(const struct topic_count_slot *sl)
{
    return atomic_load_explicit((_Atomic uint64_t *)&sl->key, memory_order_acquire);
}

static uint32_t load_count(const struct topic_count_slot *sl, unsigned w)
{
    return atomic_load_explicit((_Atomic uint32_t *)&sl->count[w], memory_order_relaxed);
}

static void store_count(struct topic_count_slot *sl, unsigned w, uint32_t v)
{
    atomic_store_explicit((_Atomic uint32_t *)&sl->count[w], v, memory_order_relaxed);
}

static uint64_t slot_sum(const struct shared_stats *s, const struct topic_count_slot *sl)
{
    uint64_t sum = 0;
    for (unsigned w = 0; w < s->nworkers; w++)
        sum += load_count(sl, w);
    return sum;
}

static void lock(struct shared_stats *s)
{
    /* a holder that died mid-way left at most a taken slot nobody counts:
     * metrics_topic_reset_worker, run for that worker, frees it */
    if (pthread_mutex_lock(&s->topic_lock) == EOWNERDEAD)
        pthread_mutex_consistent(&s->topic_lock);
}

static void unlock(struct shared_stats *s)
{
    pthread_mutex_unlock(&s->topic_lock);
}

/* The slot holding key, or -1. Lock-free: a key never moves while it is
 * counted, and slots never go back to EMPTY, so a window that reaches an
 * EMPTY slot before key does not hold key, and key went to the overflow
 * area only if its whole window was taken when it arrived. */
static long find(const struct shared_stats *s, uint64_t key)
{
    if (key <= TOPIC_KEY_FREED)
        return -1;
    for (size_t probe = 0; probe < TOPIC_TABLE_WINDOW; probe++) {
        size_t i = (key + probe) & (TOPIC_TABLE_SLOTS - 1);
        uint64_t cur = load_key(slot_at(s, i));
        if (cur == key)
            return (long)i;
        if (cur == TOPIC_KEY_EMPTY)
            return -1;
    }
    for (size_t i = TOPIC_TABLE_SLOTS; i < TOPIC_TABLE_ALL; i++)
        if (load_key(slot_at(s, i)) == key)
            return (long)i;
    return -1;
}

/* Under the lock: the first reusable slot for key (window, then overflow), or -1. */
static long find_room(const struct shared_stats *s, uint64_t key)
{
    for (size_t probe = 0; probe < TOPIC_TABLE_WINDOW; probe++) {
        size_t i = (key + probe) & (TOPIC_TABLE_SLOTS - 1);
        if (load_key(slot_at(s, i)) <= TOPIC_KEY_FREED)
            return (long)i;
    }
    for (size_t i = TOPIC_TABLE_SLOTS; i < TOPIC_TABLE_ALL; i++)
        if (load_key(slot_at(s, i)) <= TOPIC_KEY_FREED)
            return (long)i;
    return -1;
}

/* Under the lock: frees sl if nobody counts or holds it. The name goes
 * first, so a lock-free reader never pairs the new key with an old name. */
static void maybe_free(const struct shared_stats *s, struct topic_count_slot *sl)
{
    if (load_key(sl) <= TOPIC_KEY_FREED || sl->held || slot_sum(s, sl))
        return;
    atomic_store_explicit((_Atomic uint32_t *)&sl->name_len, 0, memory_order_release);
    atomic_store_explicit((_Atomic uint64_t *)&sl->key, TOPIC_KEY_FREED, memory_order_release);
}

long metrics_topic_join(struct shared_stats *s, unsigned worker, uint64_t key, const char *name,
                        size_t n)
{
    if (!s || worker >= s->nworkers)
        return -1;
    if (key <= TOPIC_KEY_FREED || n == 0 || n > TOPIC_NAME_MAX) {
        s->w[worker].topics_uncounted++;
        return -1;
    }
    lock(s);
    long i = find(s, key);
    if (i < 0 && (i = find_room(s, key)) >= 0) {
        struct topic_count_slot *sl = slot_at(s, (size_t)i);
        atomic_store_explicit((_Atomic uint64_t *)&sl->key, key, memory_order_release);
        memcpy(sl->name, name, n);
        atomic_store_explicit((_Atomic uint32_t *)&sl->name_len, (uint32_t)n, memory_order_release);
    }
    if (i >= 0) {
        struct topic_count_slot *sl = slot_at(s, (size_t)i);
        store_count(sl, worker, load_count(sl, worker) + 1);
    }
    unlock(s);
    if (i < 0)
        s->w[worker].topics_uncounted++;
    return i;
}

void metrics_topic_add(struct shared_stats *s, unsigned worker, long slot, int delta)
{
    if (!s || worker >= s->nworkers || slot < 0 || slot >= TOPIC_TABLE_ALL)
        return;
    struct topic_count_slot *sl = slot_at(s, (size_t)slot);
    store_count(sl, worker, load_count(sl, worker) + (uint32_t)delta);
}

void metrics_topic_leave(struct shared_stats *s, unsigned worker, long slot)
{
    if (!s || worker >= s->nworkers)
        return;
    if (slot < 0 || slot >= TOPIC_TABLE_ALL) {
        if (s->w[worker].topics_uncounted)
            s->w[worker].topics_uncounted--;
        return;
    }
    struct topic_count_slot *sl = slot_at(s, (size_t)slot);
    lock(s);
    uint32_t c = load_count(sl, worker);
    store_count(sl, worker, c ? c - 1 : 0);
    maybe_free(s, sl);
    unlock(s);
}

void metrics_topic_reset_worker(struct shared_stats *s, unsigned worker)
{
    if (!s || worker >= s->nworkers)
        return;
    lock(s);
    for (size_t i = 0; i < TOPIC_TABLE_ALL; i++) {
        struct topic_count_slot *sl = slot_at(s, i);
        if (load_key(sl) <= TOPIC_KEY_FREED)
            continue;
        store_count(sl, worker, 0);
        maybe_free(s, sl); /* also a slot a worker died taking */
    }
    unlock(s);
    s->w[worker].topics_uncounted = 0;
}

bool metrics_topic_hold(struct shared_stats *s, size_t i, uint64_t key)
{
    if (i >= TOPIC_TABLE_ALL)
        return false;
    struct topic_count_slot *sl = slot_at(s, i);
    lock(s);
    bool ok = key > TOPIC_KEY_FREED && load_key(sl) == key;
    if (ok)
        sl->held = 1;
    unlock(s);
    return ok;
}

void metrics_topic_release(struct shared_stats *s, size_t i)
{
    if (i >= TOPIC_TABLE_ALL)
        return;
    struct topic_count_slot *sl = slot_at(s, i);
    lock(s);
    sl->held = 0;
    maybe_free(s, sl);
    unlock(s);
}

uint64_t metrics_topics_uncounted(const struct shared_stats *s)
{
    uint64_t n = 0;
    for (unsigned w = 0; w < s->nworkers; w++)
        n += __atomic_load_n(&s->w[w].topics_uncounted, __ATOMIC_RELAXED);
    return n;
}

bool metrics_topic_slot_read(const struct shared_stats *s, size_t i, uint64_t *key,
                             const char **name, size_t *name_len, uint64_t *subscribers)
{
    if (i >= TOPIC_TABLE_ALL)
        return false;
    struct topic_count_slot *sl = slot_at(s, i);
    uint64_t k = load_key(sl);
    if (k <= TOPIC_KEY_FREED)
        return false;
    uint32_t nl = atomic_load_explicit((_Atomic uint32_t *)&sl->name_len, memory_order_acquire);
    if (nl == 0 || nl > TOPIC_NAME_MAX)
        return false;
    *key = k;
    *name = sl->name;
    *name_len = nl;
    *subscribers = slot_sum(s, sl);
    return true;
}

long metrics_topic_slot_index(const struct shared_stats *s, uint64_t key)
{
    return find(s, key);
}

uint64_t metrics_topic_subscribers(const struct shared_stats *s, uint64_t key)
{
    long i = find(s, key);
    return i < 0 ? 0 : slot_sum(s, slot_at(s, (size_t)i));
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

static const uint16_t bucket_codes[CB_COUNT] = {1000, 1001, 1002, 1003, 1006, 1007,
                                                1008, 1009, 1010, 1011, 1012, 1013,
                                                4000, 4001, 4002, 4503, 0};
_Static_assert(sizeof bucket_codes / sizeof bucket_codes[0] == CB_OTHER + 1,
               "one code per close bucket");

uint64_t metrics_close_bucket_code(enum close_bucket b)
{
    return bucket_codes[b];
}

enum close_bucket metrics_close_bucket(uint16_t code)
{
    for (int i = 0; i < CB_OTHER; i++)
        if (bucket_codes[i] == code)
            return (enum close_bucket)i;
    return CB_OTHER;
}
