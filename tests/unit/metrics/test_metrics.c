/* test_metrics.c - the shared counters: the close-code buckets and the
 * sum over workers (the topic table's tests are in
 * tests/unit/pubsub/test_topic_table.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "metrics/metrics.h"

/* issue 17: every close code docs/close-codes.md defines has its own label
 * value in wspush_disconnects_total; only undefined codes are "other". */
static void test_metrics_close_bucket_defined_codes(void **state)
{
    (void)state;
    static const uint16_t defined[] = {1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009,
                                       1010, 1011, 1012, 1013, 4000, 4001, 4002, 4503};
    for (size_t i = 0; i < sizeof defined / sizeof defined[0]; i++) {
        enum close_bucket b = metrics_close_bucket(defined[i]);
        assert_int_not_equal(b, CB_OTHER);
        assert_int_equal(metrics_close_bucket_code(b), defined[i]);
    }
    assert_int_equal(metrics_close_bucket(1005), CB_OTHER); /* never sent */
    assert_int_equal(metrics_close_bucket(3000), CB_OTHER);
    assert_int_equal(metrics_close_bucket(4999), CB_OTHER);
    assert_int_equal(metrics_close_bucket_code(CB_OTHER), 0);
}

/* metrics_sum adds every counter of every worker, the first and the last
 * of struct worker_stats included, and restarts; identities stay 0. */
static void test_metrics_sum_adds_every_counter(void **state)
{
    (void)state;
    struct shared_stats *s = metrics_shared_new(3);
    assert_non_null(s);
    for (unsigned i = 0; i < 3; i++) {
        s->w[i].pid = 100 + (int)i;
        s->w[i].restarts = i;
        s->w[i].conns = 10 * (i + 1);
        s->w[i].auth_refused[3] = i + 1;
        s->w[i].fanout_buckets[METRICS_FANOUT_BUCKETS - 1] = 7;
    }
    struct worker_stats sum;
    metrics_sum(s, &sum);
    assert_int_equal(sum.pid, 0);
    assert_int_equal(sum.restarts, 3);
    assert_int_equal(sum.conns, 60);
    assert_int_equal(sum.auth_refused[3], 6);
    assert_int_equal(sum.fanout_buckets[METRICS_FANOUT_BUCKETS - 1], 21);
    assert_int_equal(sum.deliveries, 0);
    metrics_shared_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_sum_adds_every_counter),
        cmocka_unit_test(test_metrics_close_bucket_defined_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
