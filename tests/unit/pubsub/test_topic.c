/* test_topic.c - the worker's topic index: subscribe/unsubscribe in random
 * order with the member/slot invariant checked throughout, topic creation
 * and freeing, lookups of missing names, and hash collisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pubsub/msg.h"
#include "pubsub/topic.h"

/* Every member of t points back at its slot, and t is findable by name. */
static void check_topic(const struct topic_index *ix, const struct topic *t)
{
    assert_true(t->count > 0);
    assert_true(t->count <= t->cap);
    assert_int_equal(t->name_len, strlen(t->name));
    assert_ptr_equal(topic_find(ix, t->name, t->name_len, t->key), t);
    for (uint32_t i = 0; i < t->count; i++) {
        assert_non_null(t->members[i].sub);
        assert_ptr_equal(t->members[i].sub->topic, t);
        assert_int_equal(t->members[i].sub->idx, i);
    }
}

static void test_topic_basic(void **state)
{
    (void)state;
    struct topic_index *ix = topic_index_new();
    assert_non_null(ix);
    int owners[4];
    struct topic_sub s[4] = {{0}};
    assert_int_equal(topic_subscribe(ix, "news", 4, &owners[0], &s[0]), 0);
    assert_int_equal(topic_subscribe(ix, "news", 4, &owners[1], &s[1]), 0);
    assert_int_equal(topic_subscribe(ix, "news", 4, &owners[2], &s[2]), 0);
    assert_int_equal(topic_subscribe(ix, "sport", 5, &owners[3], &s[3]), 0);
    assert_int_equal(topic_index_topics(ix), 2);

    struct topic *news = topic_find(ix, "news", 4, 0);
    assert_non_null(news);
    assert_string_equal(news->name, "news");
    assert_true(news->key == msg_topic_key("news", 4));
    assert_ptr_equal(topic_find(ix, "news", 4, msg_topic_key("news", 4)), news);
    assert_ptr_equal(topic_find_key(ix, news->key), news);
    assert_null(topic_find_key(ix, msg_topic_key("nope", 4)));
    assert_int_equal(news->count, 3);
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(s[i].topic, news);
        assert_ptr_equal(news->members[s[i].idx].owner, &owners[i]);
    }
    check_topic(ix, news);

    /* removing the first member moves the last one into its slot */
    topic_unsubscribe(ix, &s[0]);
    assert_null(s[0].topic);
    assert_int_equal(news->count, 2);
    assert_int_equal(s[2].idx, 0);
    assert_ptr_equal(news->members[0].owner, &owners[2]);
    check_topic(ix, news);
    topic_unsubscribe(ix, &s[0]); /* not subscribed: no-op */
    assert_int_equal(news->count, 2);

    topic_unsubscribe(ix, &s[2]);
    topic_unsubscribe(ix, &s[1]);
    assert_null(topic_find(ix, "news", 4, 0)); /* freed with its last member */
    assert_int_equal(topic_index_topics(ix), 1);
    /* and created again by a new first subscriber */
    assert_int_equal(topic_subscribe(ix, "news", 4, &owners[0], &s[0]), 0);
    assert_int_equal(topic_index_topics(ix), 2);
    topic_unsubscribe(ix, &s[0]);
    topic_unsubscribe(ix, &s[3]);
    assert_int_equal(topic_index_topics(ix), 0);
    topic_index_free(ix);
    topic_index_free(NULL);
}

static void test_topic_find_missing(void **state)
{
    (void)state;
    struct topic_index *ix = topic_index_new();
    assert_null(topic_find(ix, "a", 1, 0));
    assert_null(topic_find(ix, "", 0, 0));
    struct topic_sub s = {0};
    int owner;
    assert_int_equal(topic_subscribe(ix, "abc", 3, &owner, &s), 0);
    assert_null(topic_find(ix, "ab", 2, 0));
    assert_null(topic_find(ix, "abcd", 4, 0));
    assert_null(topic_find(ix, "abd", 3, 0));
    assert_null(topic_find(ix, "abc", 3, 12345)); /* right name, wrong key */
    assert_non_null(topic_find(ix, "abc", 3, 0));
    /* the name is compared as bytes, with its length: no NUL games */
    assert_null(topic_find(ix, "abc\0", 4, 0));
    /* the empty name is a topic like any other */
    struct topic_sub e = {0};
    assert_int_equal(topic_subscribe(ix, "", 0, &owner, &e), 0);
    assert_non_null(topic_find(ix, "", 0, 0));
    assert_string_equal(e.topic->name, "");
    topic_unsubscribe(ix, &e);
    topic_unsubscribe(ix, &s);
    assert_null(topic_find(ix, "abc", 3, 0));
    topic_index_free(ix);
}

/* Different names under one key (and keys sharing a bucket) stay apart,
 * whichever link of the chain goes first. */
static void test_topic_hash_collisions(void **state)
{
    (void)state;
    static const char *names[] = {"x", "y", "zz", "w", "v"};
    static const uint64_t keys[] = {42, 42, 42, 42 + 16 * 1024, 42 + 16};
    enum { N = 5 };
    for (int first = 0; first < N; first++) {
        struct topic_index *ix = topic_index_new();
        struct topic_sub s[N][2];
        memset(s, 0, sizeof s);
        int owners[N];
        for (int i = 0; i < N; i++)
            for (int k = 0; k < 2; k++)
                assert_int_equal(topic_subscribe_key(ix, names[i], strlen(names[i]), keys[i],
                                                     &owners[i], &s[i][k]),
                                 0);
        assert_int_equal(topic_index_topics(ix), N);
        for (int i = 0; i < N; i++) {
            struct topic *t = topic_find(ix, names[i], strlen(names[i]), keys[i]);
            assert_non_null(t);
            assert_string_equal(t->name, names[i]);
            assert_int_equal(t->count, 2);
            check_topic(ix, t);
        }
        assert_null(topic_find(ix, "q", 1, 42));
        assert_null(topic_find(ix, "x", 1, 42 + 16));

        /* drop one topic, then check all the others */
        topic_unsubscribe(ix, &s[first][0]);
        topic_unsubscribe(ix, &s[first][1]);
        assert_null(topic_find(ix, names[first], strlen(names[first]), keys[first]));
        assert_int_equal(topic_index_topics(ix), N - 1);
        for (int i = 0; i < N; i++) {
            if (i == first)
                continue;
            struct topic *t = topic_find(ix, names[i], strlen(names[i]), keys[i]);
            assert_non_null(t);
            check_topic(ix, t);
        }
        topic_index_free(ix); /* with topics still in it: frees them all */
    }
}

/* Many owners over many topics, random subscribe/unsubscribe, checked
 * against a model after every operation. */
enum { T = 300, O = 60 };

static struct topic_sub subs[O][T];
static unsigned model_count[T];
static char topic_names[T][16];

static void *owner_of(int o)
{
    return (void *)((uintptr_t)0x1000 + (uintptr_t)o * 16u);
}

/* The owner, the topic and the model agree for every member of t. */
static void check_against_model(const struct topic_index *ix, int ti)
{
    const char *name = topic_names[ti];
    struct topic *t = topic_find(ix, name, strlen(name), 0);
    if (model_count[ti] == 0) {
        assert_null(t);
        return;
    }
    assert_non_null(t);
    assert_int_equal(t->count, model_count[ti]);
    check_topic(ix, t);
    for (uint32_t i = 0; i < t->count; i++) {
        ptrdiff_t at = t->members[i].sub - &subs[0][0];
        assert_true(at >= 0 && at < (ptrdiff_t)(O * T));
        assert_int_equal(at % T, ti);
        assert_ptr_equal(t->members[i].owner, owner_of((int)(at / T)));
    }
}

static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

static void test_topic_random_subscribe_unsubscribe(void **state)
{
    (void)state;
    memset(subs, 0, sizeof subs);
    memset(model_count, 0, sizeof model_count);
    for (int t = 0; t < T; t++)
        snprintf(topic_names[t], sizeof topic_names[t], "topic/%d", t);
    struct topic_index *ix = topic_index_new();
    size_t live_topics = 0;
    for (int op = 0; op < 60000; op++) {
        /* bias: a few hot topics get most of the traffic */
        int ti = rnd(4) == 0 ? (int)rnd(5) : (int)rnd(T);
        int o = (int)rnd(O);
        const char *name = topic_names[ti];
        struct topic_sub *s = &subs[o][ti];
        if (s->topic) {
            topic_unsubscribe(ix, s);
            assert_null(s->topic);
            if (--model_count[ti] == 0)
                live_topics--;
        } else {
            assert_int_equal(topic_subscribe(ix, name, strlen(name), owner_of(o), s), 0);
            assert_non_null(s->topic);
            assert_ptr_equal(s->topic->members[s->idx].owner, owner_of(o));
            if (model_count[ti]++ == 0)
                live_topics++;
        }
        check_against_model(ix, ti);
        assert_int_equal(topic_index_topics(ix), live_topics);
        if (op % 4999 == 0)
            for (int t = 0; t < T; t++)
                check_against_model(ix, t);
    }
    assert_true(live_topics > 100);
    for (int t = 0; t < T; t++)
        check_against_model(ix, t);

    /* everyone leaves, in random order */
    int order[O * T];
    for (int i = 0; i < O * T; i++)
        order[i] = i;
    for (int i = O * T - 1; i > 0; i--) {
        int j = (int)rnd((unsigned)i + 1);
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (int i = 0; i < O * T; i++) {
        int o = order[i] / T, ti = order[i] % T;
        if (!subs[o][ti].topic)
            continue;
        topic_unsubscribe(ix, &subs[o][ti]);
        if (--model_count[ti] == 0)
            live_topics--;
        check_against_model(ix, ti);
        assert_int_equal(topic_index_topics(ix), live_topics);
    }
    assert_int_equal(topic_index_topics(ix), 0);
    topic_index_free(ix);
}

/* A crowd joins one topic and most of it leaves: the member array grows
 * and gives memory back, the invariant holds throughout. */
static void test_topic_grow_and_shrink(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct topic_index *ix = topic_index_new();
    struct topic_sub *s = calloc(N, sizeof *s);
    assert_non_null(s);
    for (int i = 0; i < N; i++)
        assert_int_equal(topic_subscribe(ix, "crowd", 5, owner_of(i), &s[i]), 0);
    struct topic *t = topic_find(ix, "crowd", 5, 0);
    assert_int_equal(t->count, N);
    uint32_t big_cap = t->cap;
    assert_true(big_cap >= N && big_cap < 2 * N);
    check_topic(ix, t);
    for (int i = 0; i < N - 10; i++) {
        topic_unsubscribe(ix, &s[(i * 7919) % (N - 10)]); /* a permutation */
        if (i % 500 == 0)
            check_topic(ix, t);
    }
    assert_int_equal(t->count, 10);
    assert_true(t->cap < big_cap / 16);
    check_topic(ix, t);
    for (int i = N - 10; i < N; i++)
        assert_ptr_equal(t->members[s[i].idx].owner, owner_of(i));
    topic_index_free(ix);
    free(s);
}

/* issue 16: successive walks start at offsets spread over the array, so
 * each member is first (and last) about equally often and never always. */
static void test_topic_walk_start_rotates_evenly(void **state)
{
    (void)state;
    for (uint32_t n = 1; n <= 64; n++) {
        uint32_t walks = 0;
        uint32_t first[64] = {0};
        uint32_t rounds = 64 * n;
        for (uint32_t k = 0; k < rounds; k++) {
            uint32_t s = topic_walk_start(&walks, n);
            assert_true(s < n);
            first[s]++;
        }
        assert_int_equal(walks, rounds);
        for (uint32_t i = 0; i < n; i++) { /* 64 each, give or take a few */
            assert_true(first[i] >= 56);
            assert_true(first[i] <= 72);
        }
    }
    /* two walks in a row never start at the same place (n > 1) */
    uint32_t walks = 0;
    uint32_t prev = topic_walk_start(&walks, 5);
    for (int k = 0; k < 1000; k++) {
        uint32_t s = topic_walk_start(&walks, 5);
        assert_int_not_equal(s, prev);
        prev = s;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_basic),
        cmocka_unit_test(test_topic_find_missing),
        cmocka_unit_test(test_topic_hash_collisions),
        cmocka_unit_test(test_topic_random_subscribe_unsubscribe),
        cmocka_unit_test(test_topic_grow_and_shrink),
        cmocka_unit_test(test_topic_walk_start_rotates_evenly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
