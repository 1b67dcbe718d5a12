/* hist.h - log-bucketed latency histogram for the load generator.
 *
 * HDR-like: values (microseconds) below 64 get an exact bucket; above, each
 * power of two is split into 64 linear sub-buckets, so a bucket's width is at
 * most 1/64 of its lower bound (the midpoint is within 0.8% of any value in
 * it). Values from 1 us to 2^27 us (134 s) are resolved; larger values land
 * in the last bucket but max stays exact. Fixed size, no allocation: a
 * per-second delta (uint32 counts) travels over a pipe as-is and is merged
 * into totals (uint64 counts). Pure; no I/O. */
#ifndef WSP_LOADGEN_HIST_H
#define WSP_LOADGEN_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS) /* 64 sub-buckets per power of two */
#define HIST_MAX_EXP 27                /* 2^27 us ~ 134 s */
#define HIST_BUCKETS (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS) * HIST_SUB)

/* One second's worth: small enough to send in a fixed-size record. */
struct hist_sec {
    uint32_t count[HIST_BUCKETS];
    uint64_t n;      /* values recorded */
    uint64_t sum_us; /* for the mean */
    uint64_t max_us; /* exact */
    uint64_t min_us; /* exact; UINT64_MAX when n == 0 */
};

/* Totals (64-bit counts). */
struct hist {
    uint64_t count[HIST_BUCKETS];
    uint64_t n;
    uint64_t sum_us;
    uint64_t max_us;
    uint64_t min_us;
};

/* Bucket index for a value in us (0 -> bucket 0). */
size_t hist_bucket(uint64_t us);
/* The range [lo, hi] of values a bucket holds, and a representative value
 * (the midpoint, rounded down). */
uint64_t hist_bucket_lo(size_t b);
uint64_t hist_bucket_hi(size_t b);
uint64_t hist_bucket_mid(size_t b);

void hist_sec_init(struct hist_sec *h);
void hist_init(struct hist *h);
static inline void hist_sec_record(struct hist_sec *h, uint64_t us)
{
    h->count[hist_bucket(us)]++;
    h->n++;
    h->sum_us += us;
    if (us > h->max_us)
        h->max_us = us;
    if (us < h->min_us)
        h->min_us = us;
}
void hist_record(struct hist *h, uint64_t us);

/* dst += src. */
void hist_add_sec(struct hist *dst, const struct hist_sec *src);
void hist_sec_add(struct hist_sec *dst, const struct hist_sec *src);
void hist_add(struct hist *dst, const struct hist *src);

/* The value at quantile q (0..1, e.g. 0.99): the representative value of the
 * bucket holding the ceil(q*n)-th smallest value, clamped to [min, max]; q >= 1
 * gives max exactly. 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
uint64_t hist_sec_quantile(const struct hist_sec *h, double q);

#endif
