/* test_outq.c - a connection's queued output: partial sends, iovec bounds,
 * growth past the inline slots, the "latest" policy, byte accounting and
 * reference counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "pubsub/msg.h"
#include "pubsub/outq.h"

static struct msg *mk(size_t len, uint64_t key, uint8_t fill)
{
    struct msg *m = msg_new(len);
    assert_non_null(m);
    m->topic_key = key;
    memset(m->data, fill, len);
    return m;
}

/* The bytes outq_iov describes, concatenated, for comparison. */
static size_t gather(const struct outq *q, uint8_t *out, size_t cap, int max_iov)
{
    struct iovec iov[64];
    int n = outq_iov(q, iov, max_iov, cap);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        memcpy(out + total, iov[i].iov_base, iov[i].iov_len);
        total += iov[i].iov_len;
    }
    return total;
}

static void test_outq_push_and_partial_sends(void **state)
{
    (void)state;
    struct outq *q = outq_new(NULL);
    assert_non_null(q);
    assert_true(outq_empty(q));
    assert_true(outq_empty(NULL));
    struct msg *a = mk(10, 0, 'a'), *b = mk(20, 0, 'b'), *c = mk(30, 0, 'c');
    assert_int_equal(outq_push(q, a, 4), 0); /* 4 bytes of a already went out */
    assert_int_equal(outq_push(q, b, 0), 0);
    assert_int_equal(outq_push(q, c, 0), 0);
    assert_int_equal(a->refs, 2);
    assert_int_equal(outq_count(q), 3);
    assert_int_equal(outq_bytes(q), 6 + 20 + 30);
    assert_false(outq_empty(q));

    struct iovec iov[8];
    assert_int_equal(outq_iov(q, iov, 8, SIZE_MAX), 3);
    assert_ptr_equal(iov[0].iov_base, a->data + 4);
    assert_int_equal(iov[0].iov_len, 6);
    assert_ptr_equal(iov[1].iov_base, b->data);
    assert_int_equal(iov[1].iov_len, 20);
    assert_int_equal(iov[2].iov_len, 30);

    outq_advance(q, 5); /* a: one byte left */
    assert_int_equal(outq_count(q), 3);
    assert_int_equal(outq_bytes(q), 51);
    assert_int_equal(outq_iov(q, iov, 1, SIZE_MAX), 1);
    assert_ptr_equal(iov[0].iov_base, a->data + 9);
    assert_int_equal(iov[0].iov_len, 1);

    outq_advance(q, 1 + 7); /* a done, 7 of b */
    assert_int_equal(a->refs, 1);
    assert_int_equal(outq_count(q), 2);
    assert_int_equal(outq_bytes(q), 43);
    assert_int_equal(outq_iov(q, iov, 8, SIZE_MAX), 2);
    assert_ptr_equal(iov[0].iov_base, b->data + 7);
    assert_int_equal(iov[0].iov_len, 13);

    outq_advance(q, 0);
    assert_int_equal(outq_bytes(q), 43);
    outq_advance(q, 13 + 30); /* everything, exactly */
    assert_true(outq_empty(q));
    assert_int_equal(outq_bytes(q), 0);
    assert_int_equal(outq_iov(q, iov, 8, SIZE_MAX), 0);
    assert_int_equal(b->refs, 1);
    assert_int_equal(c->refs, 1);

    /* a fully sent message is not queued at all */
    assert_int_equal(outq_push(q, a, 10), 0);
    assert_true(outq_empty(q));
    assert_int_equal(a->refs, 1);
    outq_free(q);
    msg_unref(a);
    msg_unref(b);
    msg_unref(c);
}

static void test_outq_iov_bounds(void **state)
{
    (void)state;
    struct outq *q = outq_new(NULL);
    struct msg *m[5];
    for (int i = 0; i < 5; i++) {
        m[i] = mk(10 + (size_t)i, 0, (uint8_t)('0' + i));
        assert_int_equal(outq_push(q, m[i], i == 0 ? 3 : 0), 0);
    }
    assert_int_equal(outq_bytes(q), 7 + 11 + 12 + 13 + 14);
    struct iovec iov[8];
    assert_int_equal(outq_iov(q, iov, 0, SIZE_MAX), 0);
    assert_int_equal(outq_iov(q, iov, 8, 0), 0);
    assert_int_equal(outq_iov(q, iov, 2, SIZE_MAX), 2);
    assert_int_equal(iov[1].iov_len, 11);
    /* the last iovec is cut to respect max_bytes */
    assert_int_equal(outq_iov(q, iov, 8, 7 + 5), 2);
    assert_int_equal(iov[0].iov_len, 7);
    assert_ptr_equal(iov[1].iov_base, m[1]->data);
    assert_int_equal(iov[1].iov_len, 5);
    assert_int_equal(outq_iov(q, iov, 8, 3), 1);
    assert_ptr_equal(iov[0].iov_base, m[0]->data + 3);
    assert_int_equal(iov[0].iov_len, 3);
    /* exactly at a boundary */
    assert_int_equal(outq_iov(q, iov, 8, 7 + 11), 2);
    /* both limits: the tighter one wins */
    assert_int_equal(outq_iov(q, iov, 3, 1000), 3);
    assert_int_equal(outq_iov(q, iov, 8, 1000), 5);
    /* bounded iov does not change the queue */
    assert_int_equal(outq_bytes(q), 57);
    outq_free(q);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(m[i]->refs, 1);
        msg_unref(m[i]);
    }
}

/* Growth past the 8 inline slots while the ring has wrapped keeps order. */
static void test_outq_grows_in_order(void **state)
{
    (void)state;
    struct outq *q = outq_new(NULL);
    enum { N = 300 };
    struct msg *m[N];
    for (int i = 0; i < N; i++)
        m[i] = mk(3, 0, (uint8_t)i);
    int pushed = 0, sent;
    for (; pushed < 6; pushed++)
        assert_int_equal(outq_push(q, m[pushed], 0), 0);
    outq_advance(q, 5 * 3); /* head is now slot 5: the next pushes wrap */
    sent = 5;
    for (; pushed < N; pushed++)
        assert_int_equal(outq_push(q, m[pushed], 0), 0);
    assert_int_equal(outq_count(q), N - sent);
    assert_int_equal(outq_bytes(q), (size_t)(N - sent) * 3);
    uint8_t buf[N * 3];
    size_t got = gather(q, buf, sizeof buf, 64);
    assert_int_equal(got, 64 * 3);
    for (size_t i = 0; i < got; i++)
        assert_int_equal(buf[i], (uint8_t)(sent + (int)(i / 3)));
    /* drain in small steps, cutting messages: byte j of the stream belongs
     * to message j / 3, whose bytes are its index */
    size_t consumed = (size_t)sent * 3;
    while (!outq_empty(q)) {
        got = gather(q, buf, 7, 64);
        assert_int_equal(got, outq_bytes(q) < 7 ? outq_bytes(q) : 7);
        for (size_t i = 0; i < got; i++)
            assert_int_equal(buf[i], (uint8_t)((consumed + i) / 3));
        size_t step = got < 2 ? got : 2;
        size_t before = outq_bytes(q);
        outq_advance(q, step);
        consumed += step;
        assert_int_equal(outq_bytes(q), before - step);
        assert_int_equal(outq_count(q), N - consumed / 3);
    }
    assert_int_equal(consumed, (size_t)N * 3);
    for (int i = 0; i < N; i++) {
        assert_int_equal(m[i]->refs, 1);
        msg_unref(m[i]);
    }
    outq_free(q);
}

static void test_outq_replace_latest(void **state)
{
    (void)state;
    struct outq *q = outq_new(NULL);
    struct msg *k1a = mk(10, 111, 'a'), *other = mk(20, 222, 'o'), *k1b = mk(30, 111, 'b');
    struct msg *bcast = mk(5, 0, 'z'), *k1c = mk(7, 111, 'c'), *k1d = mk(9, 111, 'd');

    /* nothing queued: nothing replaced */
    assert_int_equal(outq_replace_latest(q, k1a), 0);
    assert_int_equal(k1a->refs, 1);

    /* a head that has started is never replaced */
    assert_int_equal(outq_push(q, k1a, 2), 0);
    assert_int_equal(outq_replace_latest(q, k1b), 0);
    assert_int_equal(outq_count(q), 1);
    assert_int_equal(outq_push(q, other, 0), 0);
    assert_int_equal(outq_push(q, k1b, 0), 0);
    assert_int_equal(outq_bytes(q), 8 + 20 + 30);

    /* the queued one (not started) is */
    assert_int_equal(outq_replace_latest(q, k1c), 1);
    assert_int_equal(k1b->refs, 1);
    assert_int_equal(k1c->refs, 2);
    assert_int_equal(k1a->refs, 2);
    assert_int_equal(outq_count(q), 3);
    assert_int_equal(outq_bytes(q), 8 + 20 + 7);
    struct iovec iov[4];
    assert_int_equal(outq_iov(q, iov, 4, SIZE_MAX), 3);
    assert_ptr_equal(iov[2].iov_base, k1c->data);
    assert_int_equal(iov[2].iov_len, 7);

    /* key 0 (broadcast/none) never replaces */
    assert_int_equal(outq_push(q, bcast, 0), 0);
    struct msg *bcast2 = mk(6, 0, 'y');
    assert_int_equal(outq_replace_latest(q, bcast2), 0);
    assert_int_equal(bcast2->refs, 1);

    /* a head that has NOT started may be replaced */
    outq_advance(q, 8);                                 /* k1a sent; head is `other`, offset 0 */
    assert_int_equal(outq_replace_latest(q, other), 1); /* same msg: refs stay */
    assert_int_equal(other->refs, 2);
    struct msg *other2 = mk(4, 222, 'p');
    assert_int_equal(outq_replace_latest(q, other2), 1);
    assert_int_equal(other->refs, 1);
    assert_int_equal(outq_bytes(q), 4 + 7 + 5);
    /* the same key again replaces the replacement */
    assert_int_equal(outq_replace_latest(q, k1d), 1);
    assert_int_equal(k1c->refs, 1);
    assert_int_equal(outq_bytes(q), 4 + 9 + 5);
    assert_int_equal(outq_count(q), 3);

    outq_free(q);
    struct msg *all[] = {k1a, other, k1b, bcast, k1c, k1d, bcast2, other2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        assert_int_equal(all[i]->refs, 1);
        msg_unref(all[i]);
    }
}

/* Random pushes, replacements and sends against a byte-exact model. */
static void test_outq_random_against_model(void **state)
{
    (void)state;
    enum { NMSG = 16, MODEL = 1 << 16 };
    struct msg *pool[NMSG];
    for (int i = 0; i < NMSG; i++) {
        pool[i] = mk(1 + (size_t)(i * 37) % 200, (uint64_t)(i % 4), 0);
        for (size_t k = 0; k < pool[i]->len; k++)
            pool[i]->data[k] = (uint8_t)(i * 16 + k);
    }
    static uint8_t want[MODEL], got[MODEL];
    uint64_t gauge = 1000; /* other queues' bytes */
    struct outq *q = outq_new(&gauge);
    size_t want_len = 0;
    /* model: the byte stream still to send, and per queued msg its msg */
    struct msg *mq[4096];
    size_t mq_head = 0, mq_n = 0, head_off = 0;
    unsigned seed = 7;
    for (int op = 0; op < 20000; op++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = (seed >> 8) % 10;
        if (r < 5 && mq_n < 4000) {
            struct msg *m = pool[(seed >> 12) % NMSG];
            assert_int_equal(outq_push(q, m, 0), 0);
            mq[(mq_head + mq_n++) % 4096] = m;
        } else if (r < 7) {
            struct msg *m = pool[(seed >> 12) % NMSG];
            int rep = outq_replace_latest(q, m);
            /* model: the first queued, not started entry with the same key */
            int mrep = 0;
            if (m->topic_key)
                for (size_t i = head_off ? 1 : 0; i < mq_n; i++)
                    if (mq[(mq_head + i) % 4096]->topic_key == m->topic_key) {
                        mq[(mq_head + i) % 4096] = m;
                        mrep = 1;
                        break;
                    }
            assert_int_equal(rep, mrep);
        } else {
            size_t n = outq_bytes(q) ? (seed >> 12) % (outq_bytes(q) + 1) : 0;
            outq_advance(q, n);
            while (n) {
                size_t left = mq[mq_head % 4096]->len - head_off;
                if (n < left) {
                    head_off += n;
                    break;
                }
                n -= left;
                mq_head++;
                mq_n--;
                head_off = 0;
            }
        }
        /* rebuild the model's byte stream and compare */
        want_len = 0;
        for (size_t i = 0; i < mq_n && want_len < 4000; i++) {
            struct msg *m = mq[(mq_head + i) % 4096];
            size_t off = i == 0 ? head_off : 0;
            memcpy(want + want_len, m->data + off, m->len - off);
            want_len += m->len - off;
        }
        assert_int_equal(outq_count(q), mq_n);
        size_t total = 0;
        for (size_t i = 0; i < mq_n; i++)
            total += mq[(mq_head + i) % 4096]->len - (i == 0 ? head_off : 0);
        assert_int_equal(outq_bytes(q), total);
        assert_int_equal(gauge, 1000 + total);
        size_t cap = want_len < 4000 ? want_len : 4000;
        size_t g = gather(q, got, cap, 64);
        assert_true(g <= cap);
        assert_memory_equal(got, want, g);
    }
    outq_free(q);
    assert_int_equal(gauge, 1000);
    for (int i = 0; i < NMSG; i++) {
        assert_int_equal(pool[i]->refs, 1);
        msg_unref(pool[i]);
    }
}

static void test_outq_free_drops_refs(void **state)
{
    (void)state;
    struct outq *q = outq_new(NULL);
    struct msg *m = mk(100, 5, 'x');
    for (int i = 0; i < 50; i++)
        assert_int_equal(outq_push(q, m, i == 0 ? 10 : 0), 0);
    assert_int_equal(m->refs, 51);
    assert_int_equal(outq_bytes(q), 90 + 49 * 100);
    outq_free(q);
    assert_int_equal(m->refs, 1);
    msg_unref(m);
    outq_free(NULL);
}

/* issue 16: the progress mark a queued ping is judged by */
static void test_outq_progressed(void **state)
{
    (void)state;
    struct outq *q = outq_new(NULL);
    struct msg *m = mk(100, 0, 'p');
    assert_false(outq_progressed(q)); /* nothing sent since it was made */
    assert_int_equal(outq_push(q, m, 0), 0);
    assert_int_equal(outq_push(q, m, 0), 0);
    assert_false(outq_progressed(q)); /* queueing is not progress */
    outq_advance(q, 1);
    assert_true(outq_progressed(q));
    assert_false(outq_progressed(q)); /* the mark moved with the call */
    outq_advance(q, 150);
    outq_advance(q, 0);
    assert_true(outq_progressed(q));
    assert_false(outq_progressed(q));
    outq_free(q);
    msg_unref(m);
}

/* Issue 11: "latest" replacing a queued message by a longer one changed
 * the queue's bytes but not the worker's gauge, which then wrapped when
 * the connection's queue was freed. */
static void test_outq_issue11_gauge_follows_latest(void **state)
{
    (void)state;
    uint64_t gauge = 0;
    struct outq *q = outq_new(&gauge);
    struct msg *fill = mk(4096, 1, 'f'), *small = mk(3, 2, 's'), *big = mk(3004, 2, 'b');
    assert_int_equal(outq_push(q, fill, 100), 0);
    assert_int_equal(outq_push(q, small, 0), 0);
    assert_int_equal(gauge, 3996 + 3);
    assert_int_equal(outq_replace_latest(q, big), 1);
    assert_int_equal(gauge, 3996 + 3004);
    assert_int_equal(outq_replace_latest(q, small), 1);
    assert_int_equal(gauge, 3996 + 3);
    outq_advance(q, 1000);
    assert_int_equal(gauge, outq_bytes(q));
    outq_free(q);
    assert_int_equal(gauge, 0);
    /* two queues on one gauge */
    struct outq *a = outq_new(&gauge), *b = outq_new(&gauge);
    assert_int_equal(outq_push(a, small, 0), 0);
    assert_int_equal(outq_push(b, big, 0), 0);
    assert_int_equal(outq_replace_latest(a, big), 1);
    assert_int_equal(gauge, 2 * 3004);
    outq_advance(b, 3004);
    outq_free(b);
    assert_int_equal(gauge, 3004);
    outq_free(a);
    assert_int_equal(gauge, 0);
    msg_unref(fill);
    msg_unref(small);
    msg_unref(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outq_push_and_partial_sends),
        cmocka_unit_test(test_outq_iov_bounds),
        cmocka_unit_test(test_outq_grows_in_order),
        cmocka_unit_test(test_outq_replace_latest),
        cmocka_unit_test(test_outq_random_against_model),
        cmocka_unit_test(test_outq_free_drops_refs),
        cmocka_unit_test(test_outq_progressed),
        cmocka_unit_test(test_outq_issue11_gauge_follows_latest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
