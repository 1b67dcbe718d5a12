/* test_hist.c - the bench's latency histogram: buckets, merge, percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

static void test_hist_buckets_cover_values(void **state)
{
    (void)state;
    /* Every value lands in a bucket whose range holds it; ranges are
     * contiguous and each is at most 1/64 of its lower bound wide. */
    for (size_t b = 0; b + 1 < HIST_BUCKETS; b++) {
        assert_true(hist_bucket_hi(b) + 1 == hist_bucket_lo(b + 1));
        uint64_t lo = hist_bucket_lo(b), w = hist_bucket_hi(b) - lo + 1;
        if (lo >= 64)
            assert_true(w * 64 <= lo);
    }
    uint64_t vals[] = {0, 1, 63, 64, 65, 127, 128, 129, 1000, 123456, 99999999, 134217727};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        size_t b = hist_bucket(vals[i]);
        assert_true(b < HIST_BUCKETS);
        assert_true(hist_bucket_lo(b) <= vals[i] && vals[i] <= hist_bucket_hi(b));
    }
    /* Past the range: clamped into the last bucket. */
    assert_int_equal(hist_bucket(UINT64_C(1) << 40), HIST_BUCKETS - 1);
    assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
}

static void test_hist_empty_and_single(void **state)
{
    (void)state;
    struct hist h;
    hist_init(&h);
    assert_true(hist_quantile(&h, 0.5) == 0);
    hist_record(&h, 1234);
    assert_true(hist_quantile(&h, 0.0) == 1234);
    assert_true(hist_quantile(&h, 0.5) == 1234);
    assert_true(hist_quantile(&h, 1.0) == 1234);
    assert_true(h.min_us == 1234 && h.max_us == 1234 && h.n == 1);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The histogram's quantile is within the bucket precision (1/64) of the
 * exact order statistic of the same data. */
static void check_against_sorted(const uint64_t *sorted, size_t n, const struct hist *h)
{
    static const double qs[] = {0.0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double want = qs[i] * (double)n;
        size_t rank = (size_t)want;
        if ((double)rank < want)
            rank++;
        if (rank == 0)
            rank = 1;
        uint64_t exact = sorted[rank - 1];
        uint64_t got = hist_quantile(h, qs[i]);
        uint64_t diff = got > exact ? got - exact : exact - got;
        assert_true(diff * 64 <= exact || diff <= 1);
    }
    assert_true(hist_quantile(h, 1.0) == sorted[n - 1]);
}

static void test_hist_percentiles_random(void **state)
{
    (void)state;
    enum { N = 20000 };
    uint64_t *v = malloc(N * sizeof *v);
    assert_non_null(v);
    for (int round = 0; round < 4; round++) {
        struct hist h;
        hist_init(&h);
        for (size_t i = 0; i < N; i++) {
            /* log-uniform from 1 us to ~100 s, plus some exact small ones */
            unsigned e = (unsigned)(rnd() % 27);
            v[i] = (rnd() % ((UINT64_C(1) << (e + 1)))) + 1;
            hist_record(&h, v[i]);
        }
        qsort(v, N, sizeof *v, cmp_u64);
        assert_true(h.n == N && h.min_us == v[0] && h.max_us == v[N - 1]);
        check_against_sorted(v, N, &h);
    }
    free(v);
}

static void test_hist_merge_equals_whole(void **state)
{
    (void)state;
    enum { N = 9000, PARTS = 3 };
    uint64_t *v = malloc(N * sizeof *v);
    assert_non_null(v);
    struct hist whole, merged;
    struct hist_sec *parts = malloc(PARTS * sizeof *parts);
    assert_non_null(parts);
    hist_init(&whole);
    hist_init(&merged);
    for (int p = 0; p < PARTS; p++)
        hist_sec_init(&parts[p]);
    for (size_t i = 0; i < N; i++) {
        v[i] = rnd() % 5000000;
        hist_record(&whole, v[i]);
        hist_sec_record(&parts[i % PARTS], v[i]);
    }
    /* one part merged through another hist_sec, as the parent does */
    struct hist_sec *sum = malloc(sizeof *sum);
    assert_non_null(sum);
    hist_sec_init(sum);
    hist_sec_add(sum, &parts[0]);
    hist_sec_add(sum, &parts[1]);
    hist_add_sec(&merged, sum);
    hist_add_sec(&merged, &parts[2]);
    assert_memory_equal(whole.count, merged.count, sizeof whole.count);
    assert_true(whole.n == merged.n && whole.sum_us == merged.sum_us);
    assert_true(whole.min_us == merged.min_us && whole.max_us == merged.max_us);
    struct hist again;
    hist_init(&again);
    hist_add(&again, &merged);
    assert_true(hist_quantile(&again, 0.99) == hist_quantile(&whole, 0.99));
    qsort(v, N, sizeof *v, cmp_u64);
    check_against_sorted(v, N, &merged);
    assert_true(hist_sec_quantile(&parts[0], 1.0) == parts[0].max_us);
    /* merging an empty histogram changes nothing */
    struct hist_sec empty;
    hist_sec_init(&empty);
    hist_add_sec(&merged, &empty);
    assert_true(merged.min_us == whole.min_us && merged.n == whole.n);
    free(sum);
    free(parts);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets_cover_values),
        cmocka_unit_test(test_hist_empty_and_single),
        cmocka_unit_test(test_hist_percentiles_random),
        cmocka_unit_test(test_hist_merge_equals_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
