/* metrics.c - the shared counter block (see metrics.h). */
#include "metrics/metrics.h"

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

struct shared_stats *metrics_shared_new(unsigned nworkers)
{
    if (nworkers == 0 || nworkers > METRICS_MAX_WORKERS)
        return NULL;
    void *p = mmap(NULL, sizeof(struct shared_stats), PROT_READ | PROT_WRITE,
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
        munmap(s, sizeof *s);
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
