/* test_topic_table.c - the shared topic table: counting per worker,
 * freeing and reusing slots (tombstones keep probing right), a full probe
 * window (the overflow area, then counted as uncounted), a dead worker's
 * reset, the master's hold, and a worker dying inside the lock. Keys are
 * chosen here to collide on purpose (the table places by key;
 * msg_topic_key's secret keeps peers from doing the same). Includes the
 * .c to reach the table's lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pubsub/topic_table.c"

/* The i-th key whose home slot is `home`. */
static uint64_t key_at(size_t home, uint64_t i)
{
    return home + (i + 1) * TOPIC_TABLE_SLOTS;
}

static long join(struct topic_table *s, unsigned w, uint64_t key)
{
    char name[32];
    int n = snprintf(name, sizeof name, "t%llx", (unsigned long long)key);
    return topic_table_join(s, w, key, name, (size_t)n);
}

static void test_topic_table_count_free_and_reuse(void **state)
{
    (void)state;
    struct topic_table *s = topic_table_new(2);
    assert_non_null(s);
    uint64_t a = key_at(5, 0), b = key_at(5, 1);
    long sa = join(s, 0, a);
    assert_int_equal(sa, 5);
    assert_int_equal(join(s, 1, a), sa); /* one slot for the topic */
    topic_table_add(s, 0, sa, +1);
    assert_int_equal(topic_table_subscribers(s, a), 3);
    uint64_t k, subs;
    const char *name;
    size_t nl;
    assert_true(topic_table_slot_read(s, (size_t)sa, &k, &name, &nl, &subs));
    assert_int_equal(k, a);
    assert_int_equal(subs, 3);
    long sb = join(s, 0, b); /* same home: the next slot */
    assert_int_equal(sb, 6);

    topic_table_add(s, 0, sa, -1);
    topic_table_leave(s, 0, sa);
    assert_int_equal(topic_table_slot_index(s, a), sa); /* worker 1 still counts it */
    topic_table_leave(s, 1, sa);
    /* freed: nobody counts it */
    assert_int_equal(topic_table_slot_index(s, a), -1);
    assert_int_equal(topic_table_subscribers(s, a), 0);
    assert_false(topic_table_slot_read(s, (size_t)sa, &k, &name, &nl, &subs));
    /* b is found past the tombstone, and a new topic reuses the slot */
    assert_int_equal(topic_table_slot_index(s, b), sb);
    assert_int_equal(join(s, 1, key_at(5, 2)), sa);
    assert_int_equal(topic_table_slot_index(s, b), sb);
    topic_table_free(s);
}

static void test_topic_table_full_window(void **state)
{
    (void)state;
    struct topic_table *s = topic_table_new(1);
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
        assert_int_equal(topic_table_subscribers(s, key_at(home, i)), 1);
    }
    assert_int_equal(topic_table_uncounted(s), 0);
    /* a topic elsewhere is not affected */
    assert_int_equal(join(s, 0, key_at(100, 0)), 100);
    /* no room at all: that topic alone is uncounted */
    uint64_t extra = key_at(home, 1000);
    assert_int_equal(join(s, 0, extra), -1);
    assert_int_equal(topic_table_uncounted(s), 1);
    assert_int_equal(topic_table_subscribers(s, extra), 0);
    topic_table_leave(s, 0, -1);
    assert_int_equal(topic_table_uncounted(s), 0);
    /* every colliding topic is still found; freeing one in the window
     * makes room for the next, and overflow topics stay found */
    for (uint64_t i = 0; i < TOPIC_TABLE_WINDOW + TOPIC_TABLE_OVERFLOW; i++)
        assert_int_equal(topic_table_slot_index(s, key_at(home, i)), slots[i]);
    topic_table_leave(s, 0, slots[3]);
    assert_int_equal(join(s, 0, extra), slots[3]);
    for (uint64_t i = TOPIC_TABLE_WINDOW; i < TOPIC_TABLE_WINDOW + TOPIC_TABLE_OVERFLOW; i++)
        assert_int_equal(topic_table_slot_index(s, key_at(home, i)), slots[i]);
    topic_table_free(s);
}

static void test_topic_table_reset_worker_and_hold(void **state)
{
    (void)state;
    struct topic_table *s = topic_table_new(3);
    assert_non_null(s);
    uint64_t a = key_at(7, 0), b = key_at(8, 0);
    long sa = join(s, 0, a), sb = join(s, 1, b);
    join(s, 1, a);
    topic_table_add(s, 1, sa, +1);
    /* two topics worker 1 could not count */
    assert_int_equal(topic_table_join(s, 1, TOPIC_KEY_EMPTY, "x", 1), -1);
    assert_int_equal(topic_table_join(s, 1, TOPIC_KEY_FREED, "y", 1), -1);
    assert_int_equal(topic_table_uncounted(s), 2);
    /* the master follows b */
    assert_true(topic_table_hold(s, (size_t)sb, b));
    assert_false(topic_table_hold(s, (size_t)sb, a));
    topic_table_reset_worker(s, 1); /* worker 1 died */
    assert_int_equal(topic_table_subscribers(s, a), 1);
    assert_int_equal(topic_table_uncounted(s), 0);
    /* b: nobody counts it, but it is held: key and name stay */
    assert_int_equal(topic_table_slot_index(s, b), sb);
    assert_int_equal(topic_table_subscribers(s, b), 0);
    topic_table_release(s, (size_t)sb);
    assert_int_equal(topic_table_slot_index(s, b), -1);
    topic_table_reset_worker(s, 0);
    assert_int_equal(topic_table_slot_index(s, a), -1);
    topic_table_free(s);
}

/* A worker process that dies holding the table's lock (or mid-count) does
 * not stop the others, and its reset frees what it left. */
static void test_topic_table_worker_dies(void **state)
{
    (void)state;
    struct topic_table *s = topic_table_new(2);
    assert_non_null(s);
    uint64_t a = key_at(9, 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        join(s, 1, a);
        pthread_mutex_lock(&s->lock);
        _exit(0); /* like SIGKILL inside the lock */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(topic_table_subscribers(s, a), 1);
    long sa = join(s, 0, a); /* takes the abandoned lock */
    assert_int_equal(topic_table_subscribers(s, a), 2);
    topic_table_reset_worker(s, 1);
    assert_int_equal(topic_table_subscribers(s, a), 1);
    topic_table_leave(s, 0, sa);
    assert_int_equal(topic_table_slot_index(s, a), -1);
    topic_table_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_table_count_free_and_reuse),
        cmocka_unit_test(test_topic_table_full_window),
        cmocka_unit_test(test_topic_table_reset_worker_and_hold),
        cmocka_unit_test(test_topic_table_worker_dies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
