/* hist.c - log-bucketed latency histogram (see hist.h).
 *
 * Pure arithmetic over fixed arrays: no allocation, no I/O. Invariant: the
 * sum of count[] equals n, and every recorded value v lies in
 * [hist_bucket_lo(b), hist_bucket_hi(b)] of b = hist_bucket(v), except values
 * past the last bucket, which are clamped into it. */
#include "hist.h"

#include <string.h>

size_t hist_bucket(uint64_t us)
{
    if (us < HIST_SUB)
        return (size_t)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us); /* floor(log2) >= 6 */
    if (e >= HIST_MAX_EXP)
        return HIST_BUCKETS - 1;
    unsigned shift = e - HIST_SUB_BITS;
    size_t sub = (size_t)(us >> shift) - HIST_SUB; /* 0..63 */
    return HIST_SUB + (size_t)shift * HIST_SUB + sub;
}

uint64_t hist_bucket_lo(size_t b)
{
    if (b < HIST_SUB)
        return b;
    size_t shift = (b - HIST_SUB) / HIST_SUB;
    size_t sub = (b - HIST_SUB) % HIST_SUB;
    return (uint64_t)(HIST_SUB + sub) << shift;
}

uint64_t hist_bucket_hi(size_t b)
{
    if (b < HIST_SUB)
        return b;
    size_t shift = (b - HIST_SUB) / HIST_SUB;
    return hist_bucket_lo(b) + ((uint64_t)1 << shift) - 1;
}

uint64_t hist_bucket_mid(size_t b)
{
    uint64_t lo = hist_bucket_lo(b), hi = hist_bucket_hi(b);
    return lo + (hi - lo) / 2;
}

void hist_sec_init(struct hist_sec *h)
{
    memset(h, 0, sizeof *h);
    h->min_us = UINT64_MAX;
}

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min_us = UINT64_MAX;
}

void hist_record(struct hist *h, uint64_t us)
{
    h->count[hist_bucket(us)]++;
    h->n++;
    h->sum_us += us;
    if (us > h->max_us)
        h->max_us = us;
    if (us < h->min_us)
        h->min_us = us;
}

static void merge_minmax(uint64_t *dmin, uint64_t *dmax, uint64_t smin, uint64_t smax)
{
    if (smin < *dmin)
        *dmin = smin;
    if (smax > *dmax)
        *dmax = smax;
}

/* The three merges differ only in the counters' width (32-bit per-second
 * records, 64-bit totals): one body for all of them. */
#define HIST_MERGE(dst, src)                                                                       \
    do {                                                                                           \
        if ((src)->n == 0)                                                                         \
            break;                                                                                 \
        for (size_t i_ = 0; i_ < HIST_BUCKETS; i_++)                                               \
            (dst)->count[i_] += (src)->count[i_];                                                  \
        (dst)->n += (src)->n;                                                                      \
        (dst)->sum_us += (src)->sum_us;                                                            \
        merge_minmax(&(dst)->min_us, &(dst)->max_us, (src)->min_us, (src)->max_us);                \
    } while (0)

void hist_add_sec(struct hist *dst, const struct hist_sec *src)
{
    HIST_MERGE(dst, src);
}
void hist_sec_add(struct hist_sec *dst, const struct hist_sec *src)
{
    HIST_MERGE(dst, src);
}
void hist_add(struct hist *dst, const struct hist *src)
{
    HIST_MERGE(dst, src);
}

/* Shared by both widths: walk the buckets to the rank-th value (1-based). */
#define QUANTILE_BODY(h, q)                                                                        \
    do {                                                                                           \
        if ((h)->n == 0)                                                                           \
            return 0;                                                                              \
        if ((q) >= 1.0)                                                                            \
            return (h)->max_us;                                                                    \
        double want = (q) <= 0.0 ? 1.0 : (q) * (double)(h)->n;                                     \
        uint64_t rank = (uint64_t)want;                                                            \
        if ((double)rank < want)                                                                   \
            rank++;                                                                                \
        if (rank == 0)                                                                             \
            rank = 1;                                                                              \
        uint64_t seen = 0;                                                                         \
        for (size_t b = 0; b < HIST_BUCKETS; b++) {                                                \
            seen += (h)->count[b];                                                                 \
            if (seen >= rank) {                                                                    \
                uint64_t v = hist_bucket_mid(b);                                                   \
                if (v > (h)->max_us)                                                               \
                    v = (h)->max_us;                                                               \
                if (v < (h)->min_us)                                                               \
                    v = (h)->min_us;                                                               \
                return v;                                                                          \
            }                                                                                      \
        }                                                                                          \
        return (h)->max_us;                                                                        \
    } while (0)

uint64_t hist_quantile(const struct hist *h, double q)
{
    QUANTILE_BODY(h, q);
}

uint64_t hist_sec_quantile(const struct hist_sec *h, double q)
{
    QUANTILE_BODY(h, q);
}
