/* topic_table.c - the shared per-topic subscriber counts (see
 * topic_table.h). */
#include "pubsub/topic_table.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct topic_count_slot {
    uint64_t key; /* msg_topic_key, TOPIC_KEY_EMPTY or TOPIC_KEY_FREED; written under the lock */
    uint32_t name_len;         /* 0 until name[] is written (release), under the lock */
    uint32_t held;             /* the master follows this topic (Redis): not freed while set */
    char name[TOPIC_NAME_MAX]; /* the topic's name, for the master's Redis subscriptions */
    uint32_t count[];          /* one per worker: its local subscribers, written by that worker
                                * (and by the master once the worker is dead) */
};

struct topic_table {
    unsigned nworkers;
    pthread_mutex_t lock; /* process-shared, robust: taking and freeing slots */
    /* per worker: local topics the table had no room for (a gauge) */
    uint64_t uncounted[TOPIC_TABLE_MAX_WORKERS];
    /* TOPIC_TABLE_ALL slots follow, see slot_at() */
};

static size_t slot_size(unsigned nworkers)
{
    size_t s = sizeof(struct topic_count_slot) + sizeof(uint32_t) * nworkers;
    return (s + 7) & ~(size_t)7;
}

static size_t total_size(unsigned nworkers)
{
    return sizeof(struct topic_table) + slot_size(nworkers) * TOPIC_TABLE_ALL;
}

struct topic_table *topic_table_new(unsigned nworkers)
{
    if (nworkers == 0 || nworkers > TOPIC_TABLE_MAX_WORKERS)
        return NULL;
    void *p =
        mmap(NULL, total_size(nworkers), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct topic_table *t = p; /* zero-filled by mmap */
    t->nworkers = nworkers;
    /* robust: a worker killed inside the lock does not stop the others */
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc == 0) {
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        rc = pthread_mutex_init(&t->lock, &a);
        pthread_mutexattr_destroy(&a);
    }
    if (rc != 0) {
        munmap(p, total_size(nworkers));
        return NULL;
    }
    return t;
}

void topic_table_free(struct topic_table *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    munmap(t, total_size(t->nworkers));
}

static struct topic_count_slot *slot_at(const struct topic_table *s, size_t i)
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

static uint64_t slot_sum(const struct topic_table *s, const struct topic_count_slot *sl)
{
    uint64_t sum = 0;
    for (unsigned w = 0; w < s->nworkers; w++)
        sum += load_count(sl, w);
    return sum;
}

static void lock(struct topic_table *s)
{
    /* a holder that died mid-way left at most a taken slot nobody counts:
     * topic_table_reset_worker, run for that worker, frees it */
    if (pthread_mutex_lock(&s->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&s->lock);
}

static void unlock(struct topic_table *s)
{
    pthread_mutex_unlock(&s->lock);
}

/* The slot holding key, or -1. Lock-free: a key never moves while it is
 * counted, and slots never go back to EMPTY, so a window that reaches an
 * EMPTY slot before key does not hold key, and key went to the overflow
 * area only if its whole window was taken when it arrived. */
static long find(const struct topic_table *s, uint64_t key)
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
static long find_room(const struct topic_table *s, uint64_t key)
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
static void maybe_free(const struct topic_table *s, struct topic_count_slot *sl)
{
    if (load_key(sl) <= TOPIC_KEY_FREED || sl->held || slot_sum(s, sl))
        return;
    atomic_store_explicit((_Atomic uint32_t *)&sl->name_len, 0, memory_order_release);
    atomic_store_explicit((_Atomic uint64_t *)&sl->key, TOPIC_KEY_FREED, memory_order_release);
}

long topic_table_join(struct topic_table *s, unsigned worker, uint64_t key, const char *name,
                      size_t n)
{
    if (!s || worker >= s->nworkers)
        return -1;
    if (key <= TOPIC_KEY_FREED || n == 0 || n > TOPIC_NAME_MAX) {
        s->uncounted[worker]++;
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
        s->uncounted[worker]++;
    return i;
}

void topic_table_add(struct topic_table *s, unsigned worker, long slot, int delta)
{
    if (!s || worker >= s->nworkers || slot < 0 || slot >= TOPIC_TABLE_ALL)
        return;
    struct topic_count_slot *sl = slot_at(s, (size_t)slot);
    store_count(sl, worker, load_count(sl, worker) + (uint32_t)delta);
}

void topic_table_leave(struct topic_table *s, unsigned worker, long slot)
{
    if (!s || worker >= s->nworkers)
        return;
    if (slot < 0 || slot >= TOPIC_TABLE_ALL) {
        if (s->uncounted[worker])
            s->uncounted[worker]--;
        return;
    }
    struct topic_count_slot *sl = slot_at(s, (size_t)slot);
    lock(s);
    uint32_t c = load_count(sl, worker);
    store_count(sl, worker, c ? c - 1 : 0);
    maybe_free(s, sl);
    unlock(s);
}

void topic_table_reset_worker(struct topic_table *s, unsigned worker)
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
    s->uncounted[worker] = 0;
}

bool topic_table_hold(struct topic_table *s, size_t i, uint64_t key)
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

void topic_table_release(struct topic_table *s, size_t i)
{
    if (i >= TOPIC_TABLE_ALL)
        return;
    struct topic_count_slot *sl = slot_at(s, i);
    lock(s);
    sl->held = 0;
    maybe_free(s, sl);
    unlock(s);
}

uint64_t topic_table_uncounted(const struct topic_table *s)
{
    uint64_t n = 0;
    for (unsigned w = 0; w < s->nworkers; w++)
        n += __atomic_load_n(&s->uncounted[w], __ATOMIC_RELAXED);
    return n;
}

bool topic_table_slot_read(const struct topic_table *s, size_t i, uint64_t *key, const char **name,
                           size_t *name_len, uint64_t *subscribers)
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

long topic_table_slot_index(const struct topic_table *s, uint64_t key)
{
    return find(s, key);
}

uint64_t topic_table_subscribers(const struct topic_table *s, uint64_t key)
{
    long i = find(s, key);
    return i < 0 ? 0 : slot_sum(s, slot_at(s, (size_t)i));
}
