/* test_metrics.c - the shared topic table: counting per worker, freeing
 * and reusing slots (tombstones keep probing right), a full probe window
 * (the overflow area, then counted as uncounted), a dead worker's reset,
 * the master's hold, and a worker dying inside the lock. Keys are chosen
 * here to collide on purpose (the table places by key; msg_topic_key's
 * secret keeps peers from doing the same). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics/metrics.h"

/* The i-th key whose home slot is `home`. */
static uint64_t key_at(size_t home, uint64_t i)
{
    return home + (i + 1) * TOPIC_TABLE_SLOTS;
}

static long join(struct shared_stats *s, unsigned w, uint64_t key)
{
    char name[32];
    int n = snprintf(name, sizeof name, "t%llx", (unsigned long long)key);
    return metrics_topic_join(s, w, key, name, (size_t)n);
}

static void test_metrics_topic_count_free_and_reuse(void **state)
{
    (void)state;
    struct shared_stats *s = metrics_shared_new(2);
    assert_non_null(s);
    uint64_t a = key_at(5, 0), b = key_at(5, 1);
    long sa = join(s, 0, a);
    assert_int_equal(sa, 5);
    assert_int_equal(join(s, 1, a), sa); /* one slot for the topic */
    metrics_topic_add(s, 0, sa, +1);
    assert_int_equal(metrics_topic_subscribers(s, a), 3);
    uint64_t k, subs;
    const char *name;
    size_t nl;
    assert_true(metrics_topic_slot_read(s, (size_t)sa, &k, &name, &nl, &subs));
    assert_int_equal(k, a);
    assert_int_equal(subs, 3);
    long sb = join(s, 0, b); /* same home: the next slot */
    assert_int_equal(sb, 6);

    metrics_topic_add(s, 0, sa, -1);
    metrics_topic_leave(s, 0, sa);
    assert_int_equal(metrics_topic_slot_index(s, a), sa); /* worker 1 still counts it */
    metrics_topic_leave(s, 1, sa);
    /* freed: nobody counts it */
    assert_int_equal(metrics_topic_slot_index(s, a), -1);
    assert_int_equal(metrics_topic_subscribers(s, a), 0);
    assert_false(metrics_topic_slot_read(s, (size_t)sa, &k, &name, &nl, &subs));
    /* b is found past the tombstone, and a new topic reuses the slot */
    assert_int_equal(metrics_topic_slot_index(s, b), sb);
    assert_int_equal(join(s, 1, key_at(5, 2)), sa);
    assert_int_equal(metrics_topic_slot_index(s, b), sb);
    metrics_shared_free(s);
}

static void test_metrics_topic_full_window(void **state)
{
    (void)state;
    struct shared_stats *s = metrics_shared_new(1);
    assert_non_null(s);
    const size_t home = TOPIC_TABLE_SLOTS - 10; /* the window wraps around */
    long slots[TOPIC_TABLE_WINDOW + TOPIC_TABLE_OVERFLOW];
    for (uint64_t i = 0; i < TOPIC_TABLE_WINDOW; i++) {
        slots[i] = join(s, 0, key_at(home, i));
        assert_int_equal(slots[i], (long)((home + i) % TOPIC_TABLE_SLOTS));
    }
    /* the 65th topic on one home slot is still counted: in the overflow area */
    for (uint64_t i = TOPIC_TABLE_WINDOW; i < TOPIC_TABLE_WINDOW + TOPIC_TABLE_OVERFLOW; i++) {
        slots[i] = join(s, 0, key_at(home, i));
        assert_true(slots[i] >= TOPIC_TABLE_SLOTS && slots[i] < TOPIC_TABLE_ALL);
        assert_int_equal(metrics_topic_subscribers(s, key_at(home, i)), 1);
    }
    assert_int_equal(metrics_topics_uncounted(s), 0);
    /* a topic elsewhere is not affected */
    assert_int_equal(join(s, 0, key_at(100, 0)), 100);
    /* no room at all: that topic alone is uncounted */
    uint64_t extra = key_at(home, 1000);
    assert_int_equal(join(s, 0, extra), -1);
    assert_int_equal(metrics_topics_uncounted(s), 1);
    assert_int_equal(metrics_topic_subscribers(s, extra), 0);
    metrics_topic_leave(s, 0, -1);
    assert_int_equal(metrics_topics_uncounted(s), 0);
    /* every colliding topic is still found; freeing one in the window
     * makes room for the next, and overflow topics stay found */
    for (uint64_t i = 0; i < TOPIC_TABLE_WINDOW + TOPIC_TABLE_OVERFLOW; i++)
        assert_int_equal(metrics_topic_slot_index(s, key_at(home, i)), slots[i]);
    metrics_topic_leave(s, 0, slots[3]);
    assert_int_equal(join(s, 0, extra), slots[3]);
    for (uint64_t i = TOPIC_TABLE_WINDOW; i < TOPIC_TABLE_WINDOW + TOPIC_TABLE_OVERFLOW; i++)
        assert_int_equal(metrics_topic_slot_index(s, key_at(home, i)), slots[i]);
    metrics_shared_free(s);
}

static void test_metrics_topic_reset_worker_and_hold(void **state)
{
    (void)state;
    struct shared_stats *s = metrics_shared_new(3);
    assert_non_null(s);
    uint64_t a = key_at(7, 0), b = key_at(8, 0);
    long sa = join(s, 0, a), sb = join(s, 1, b);
    join(s, 1, a);
    metrics_topic_add(s, 1, sa, +1);
    s->w[1].topics_uncounted = 2;
    /* the master follows b */
    assert_true(metrics_topic_hold(s, (size_t)sb, b));
    assert_false(metrics_topic_hold(s, (size_t)sb, a));
    metrics_topic_reset_worker(s, 1); /* worker 1 died */
    assert_int_equal(metrics_topic_subscribers(s, a), 1);
    assert_int_equal(metrics_topics_uncounted(s), 0);
    /* b: nobody counts it, but it is held: key and name stay */
    assert_int_equal(metrics_topic_slot_index(s, b), sb);
    assert_int_equal(metrics_topic_subscribers(s, b), 0);
    metrics_topic_release(s, (size_t)sb);
    assert_int_equal(metrics_topic_slot_index(s, b), -1);
    metrics_topic_reset_worker(s, 0);
    assert_int_equal(metrics_topic_slot_index(s, a), -1);
    metrics_shared_free(s);
}

/* A worker process that dies holding the table's lock (or mid-count) does
 * not stop the others, and its reset frees what it left. */
static void test_metrics_topic_worker_dies(void **state)
{
    (void)state;
    struct shared_stats *s = metrics_shared_new(2);
    assert_non_null(s);
    uint64_t a = key_at(9, 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        join(s, 1, a);
        pthread_mutex_lock(&s->topic_lock);
        _exit(0); /* like SIGKILL inside the lock */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(metrics_topic_subscribers(s, a), 1);
    long sa = join(s, 0, a); /* takes the abandoned lock */
    assert_int_equal(metrics_topic_subscribers(s, a), 2);
    metrics_topic_reset_worker(s, 1);
    assert_int_equal(metrics_topic_subscribers(s, a), 1);
    metrics_topic_leave(s, 0, sa);
    assert_int_equal(metrics_topic_slot_index(s, a), -1);
    metrics_shared_free(s);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_topic_count_free_and_reuse),
        cmocka_unit_test(test_metrics_topic_full_window),
        cmocka_unit_test(test_metrics_topic_reset_worker_and_hold),
        cmocka_unit_test(test_metrics_topic_worker_dies),
        cmocka_unit_test(test_metrics_close_bucket_defined_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
