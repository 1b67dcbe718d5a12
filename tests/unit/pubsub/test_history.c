/* test_history.c - the shared-memory history store against a model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "pubsub/history.h"

/* Reads seq of key; returns the payload length or -1 when gone. */
static int read_msg(struct history *h, uint64_t key, uint64_t seq, uint64_t now, char *out,
                    size_t cap)
{
    struct history_view v;
    if (history_peek(h, key, seq, now, &v) != 1)
        return -1;
    size_t n = v.len < cap ? v.len : cap;
    memcpy(out, v.data, n);
    return history_intact(h, &v) ? (int)n : -1;
}

static void test_history_wrap_per_topic(void **state)
{
    (void)state;
    struct history_cfg cfg = {.depth = 8, .max_topics = 4, .store_bytes = 1 << 20};
    struct history *h = history_create(&cfg);
    assert_non_null(h);
    char buf[64];
    for (uint64_t s = 1; s <= 20; s++) {
        int n = snprintf(buf, sizeof buf, "a%llu", (unsigned long long)s);
        assert_int_equal(history_append(h, 11, s, 100 + s, false, (uint8_t *)buf, (size_t)n, 1), 0);
        if (s % 2 == 0) {
            n = snprintf(buf, sizeof buf, "b%llu", (unsigned long long)s / 2);
            assert_int_equal(
                history_append(h, 22, s / 2, 200 + s, true, (uint8_t *)buf, (size_t)n, 1), 0);
        }
    }
    /* model: topic 11 keeps 13..20, topic 22 keeps 3..10 */
    assert_int_equal(history_newest(h, 11), 20);
    assert_int_equal(history_newest(h, 22), 10);
    assert_int_equal(history_oldest(h, 11, 1), 13);
    assert_int_equal(history_oldest(h, 22, 1), 3);
    for (uint64_t s = 1; s <= 21; s++) {
        char want[16];
        int wn = snprintf(want, sizeof want, "a%llu", (unsigned long long)s);
        int n = read_msg(h, 11, s, 1, buf, sizeof buf);
        if (s >= 13 && s <= 20) {
            assert_int_equal(n, wn);
            assert_memory_equal(buf, want, (size_t)wn);
        } else {
            assert_int_equal(n, -1);
        }
    }
    struct history_view v;
    assert_int_equal(history_peek(h, 22, 5, 1, &v), 1);
    assert_true(v.binary);
    assert_int_equal(v.ring_seq, 210);
    assert_int_equal(history_peek(h, 33, 1, 1, &v), 0); /* unknown topic */
    assert_int_equal(history_newest(h, 33), 0);
    history_destroy(h);
}

static void test_history_ttl(void **state)
{
    (void)state;
    struct history_cfg cfg = {
        .depth = 100, .max_topics = 4, .store_bytes = 1 << 20, .ttl_ns = 1000};
    struct history *h = history_create(&cfg);
    assert_non_null(h);
    for (uint64_t s = 1; s <= 10; s++)
        assert_int_equal(history_append(h, 7, s, s, false, (const uint8_t *)"x", 1, s * 500), 0);
    /* at t = 5000, messages published before t - 1000 = 4000 are gone */
    char buf[4];
    for (uint64_t s = 1; s <= 10; s++)
        assert_int_equal(read_msg(h, 7, s, 5000, buf, sizeof buf), s * 500 >= 4000 ? 1 : -1);
    assert_int_equal(history_oldest(h, 7, 5000), 8);
    assert_int_equal(history_oldest(h, 7, 100000), 0);
    history_destroy(h);
}

static void test_history_store_budget_evicts_oldest(void **state)
{
    (void)state;
    /* 64 KiB store, 1 KiB messages, deep index: the byte budget decides */
    struct history_cfg cfg = {.depth = 1000, .max_topics = 2, .store_bytes = 64 * 1024};
    struct history *h = history_create(&cfg);
    assert_non_null(h);
    static uint8_t payload[1024];
    for (uint64_t s = 1; s <= 200; s++) {
        memset(payload, (int)s, sizeof payload);
        assert_int_equal(history_append(h, 5, s, s, true, payload, sizeof payload, 1), 0);
    }
    uint64_t oldest = history_oldest(h, 5, 1);
    assert_true(oldest > 100 && oldest < 200);
    /* everything from the oldest on reads back intact and in order */
    for (uint64_t s = oldest; s <= 200; s++) {
        struct history_view v;
        assert_int_equal(history_peek(h, 5, s, 1, &v), 1);
        assert_int_equal(v.len, sizeof payload);
        assert_int_equal(v.data[0], (uint8_t)s);
        assert_true(history_intact(h, &v));
    }
    assert_int_equal(read_msg(h, 5, oldest - 1, 1, (char *)payload, 1), -1);
    /* a payload larger than the store takes is refused; readers see a gap */
    static uint8_t big[20000];
    assert_int_equal(history_append(h, 5, 201, 201, true, big, sizeof big, 1), WSP_ETOOBIG);
    assert_int_equal(history_newest(h, 5), 201);
    assert_int_equal(read_msg(h, 5, 201, 1, (char *)payload, 1), -1);
    history_destroy(h);
}

static void test_history_topic_table_full(void **state)
{
    (void)state;
    struct history_cfg cfg = {.depth = 2, .max_topics = 2, .store_bytes = 1 << 16};
    struct history *h = history_create(&cfg);
    assert_non_null(h);
    assert_int_equal(history_append(h, 100, 1, 1, false, (const uint8_t *)"a", 1, 1), 0);
    assert_int_equal(history_append(h, 101, 1, 2, false, (const uint8_t *)"b", 1, 1), 0);
    assert_int_equal(history_append(h, 102, 1, 3, false, (const uint8_t *)"c", 1, 1), WSP_ENOMEM);
    struct history_stats st;
    history_get_stats(h, &st);
    assert_int_equal(st.topics, 2);
    assert_int_equal(st.topics_full, 1);
    assert_int_equal(st.appended, 2);
    assert_true(st.store_bytes > 0 && st.store_bytes <= st.store_size);
    assert_int_equal(history_newest(h, 102), 0);
    history_destroy(h);
    history_destroy(NULL);
}

/* A new epoch from Redis: every topic forgets its messages, and may start
 * again at any seq (1 after a flushed Redis). */
static void test_history_clear_forgets_every_topic(void **state)
{
    (void)state;
    struct history_cfg cfg = {.depth = 4, .max_topics = 4, .store_bytes = 1 << 16};
    struct history *h = history_create(&cfg);
    assert_non_null(h);
    char buf[16];
    for (uint64_t s = 1; s <= 6; s++) {
        assert_int_equal(history_append(h, 11, s, s, false, (const uint8_t *)"old", 3, 1), 0);
        assert_int_equal(history_append(h, 22, s, s, false, (const uint8_t *)"old", 3, 1), 0);
    }
    history_clear(h);
    assert_int_equal(history_newest(h, 11), 0);
    assert_int_equal(history_oldest(h, 22, 1), 0);
    for (uint64_t s = 1; s <= 7; s++)
        assert_int_equal(read_msg(h, 11, s, 1, buf, sizeof buf), -1);
    /* the new epoch's seqs start again, below the old ones */
    assert_int_equal(history_append(h, 11, 1, 0, false, (const uint8_t *)"new", 3, 1), 0);
    assert_int_equal(history_newest(h, 11), 1);
    assert_int_equal(read_msg(h, 11, 1, 1, buf, sizeof buf), 3);
    assert_memory_equal(buf, "new", 3);
    assert_int_equal(read_msg(h, 11, 5, 1, buf, sizeof buf), -1);
    struct history_stats st;
    history_get_stats(h, &st);
    assert_int_equal(st.topics, 2); /* the topics keep their slots */
    history_destroy(h);
}

struct range_hits {
    uint64_t key[16], seq[16], ring[16];
    size_t n;
};

static void collect(void *ctx, uint64_t key, uint64_t topic_seq, uint64_t ring_seq)
{
    struct range_hits *r = ctx;
    assert_true(r->n < 16);
    r->key[r->n] = key;
    r->seq[r->n] = topic_seq;
    r->ring[r->n] = ring_seq;
    r->n++;
}

/* A lapped worker's lookup: every stored message whose live-ring seq is in
 * [from, to), across topics; gone ones are not found. */
static void test_history_find_ring_range(void **state)
{
    (void)state;
    struct history_cfg cfg = {.depth = 4, .max_topics = 4, .store_bytes = 1 << 20};
    struct history *h = history_create(&cfg);
    assert_non_null(h);
    /* ring seqs 1..12 alternate topics 7 and 9: topic 7 has ring seqs
     * 1,3,..,11 (topic seqs 1..6), topic 9 has 2,4,..,12 */
    for (uint64_t r = 1; r <= 12; r++)
        assert_int_equal(
            history_append(h, r % 2 ? 7 : 9, (r + 1) / 2, r, false, (const uint8_t *)"x", 1, 1), 0);
    struct range_hits hits = {0};
    assert_int_equal(history_find_ring_range(h, 6, 10, 1, collect, &hits), 4);
    uint64_t seen = 0;
    for (size_t i = 0; i < hits.n; i++) {
        assert_true(hits.ring[i] >= 6 && hits.ring[i] < 10);
        assert_int_equal(hits.key[i], hits.ring[i] % 2 ? 7 : 9);
        assert_int_equal(hits.seq[i], (hits.ring[i] + 1) / 2);
        seen |= 1ull << hits.ring[i];
    }
    assert_int_equal(seen, (1ull << 6) | (1ull << 7) | (1ull << 8) | (1ull << 9));
    /* depth 4: topic 7 keeps topic seqs 3..6 (ring 5..11), topic 9 keeps
     * 3..6 (ring 6..12): ring seqs 1..4 are gone */
    hits.n = 0;
    assert_int_equal(history_find_ring_range(h, 1, 5, 1, collect, &hits), 0);
    hits.n = 0;
    assert_int_equal(history_find_ring_range(h, 1, 13, 1, collect, &hits), 8);
    hits.n = 0;
    assert_int_equal(history_find_ring_range(h, 13, 20, 1, collect, &hits), 0);
    history_destroy(h);
}

static void test_history_cost(void **state)
{
    (void)state;
    /* 24-byte store header + 24-byte meta + payload, 8-aligned, + 8-byte slot */
    assert_int_equal(history_cost(0), 56);
    assert_int_equal(history_cost(100), 160);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_wrap_per_topic),
        cmocka_unit_test(test_history_ttl),
        cmocka_unit_test(test_history_store_budget_evicts_oldest),
        cmocka_unit_test(test_history_topic_table_full),
        cmocka_unit_test(test_history_clear_forgets_every_topic),
        cmocka_unit_test(test_history_cost),
        cmocka_unit_test(test_history_find_ring_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
