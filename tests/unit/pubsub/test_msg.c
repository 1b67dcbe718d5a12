/* test_msg.c - encoded frames: RFC 6455 §5.2 headers for every length
 * encoding, refcounting, and the topic key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "pubsub/msg.h"
#include "ws/ws_frame.h"

/* Parses a server frame header by hand (§5.2): FIN, opcode, no mask, the
 * minimal 7 / 7+16 / 7+64 bit length. Returns the header length. */
static size_t parse_header(const uint8_t *d, size_t len, uint8_t *opcode, uint64_t *n)
{
    assert_true(len >= 2);
    assert_int_equal(d[0] & 0x80, 0x80); /* FIN */
    assert_int_equal(d[0] & 0x70, 0);    /* RSV1-3 */
    assert_int_equal(d[1] & 0x80, 0);    /* server frames are not masked */
    *opcode = d[0] & 0x0f;
    uint8_t l7 = d[1] & 0x7f;
    if (l7 < 126) {
        *n = l7;
        return 2;
    }
    if (l7 == 126) {
        assert_true(len >= 4);
        *n = (uint64_t)d[2] << 8 | d[3];
        assert_true(*n >= 126); /* minimal encoding */
        return 4;
    }
    assert_true(len >= 10);
    assert_int_equal(d[2] & 0x80, 0); /* the most significant bit must be 0 */
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | d[2 + i];
    assert_true(v > 0xffff); /* minimal encoding */
    *n = v;
    return 10;
}

static void test_msg_frame_lengths(void **state)
{
    (void)state;
    static const struct {
        size_t n;
        size_t header;
        uint8_t b1;
    } cases[] = {
        {0, 2, 0},     {1, 2, 1},       {125, 2, 125},    {126, 4, 126},
        {127, 4, 126}, {65535, 4, 126}, {65536, 10, 127}, {70000, 10, 127},
    };
    uint8_t *payload = malloc(70000);
    assert_non_null(payload);
    for (size_t i = 0; i < 70000; i++)
        payload[i] = (uint8_t)(i * 29u + 3u);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cases[c].n;
        struct msg *m = msg_new_frame(WS_OP_TEXT, payload, n);
        assert_non_null(m);
        assert_int_equal(m->refs, 1);
        assert_int_equal(m->len, cases[c].header + n);
        assert_int_equal(m->topic_key, 0);
        assert_int_equal(m->seq, 0);
        assert_int_equal(m->data[0], 0x81);
        assert_int_equal(m->data[1], cases[c].b1);
        uint8_t op = 0;
        uint64_t len = 0;
        size_t h = parse_header(m->data, m->len, &op, &len);
        assert_int_equal(h, cases[c].header);
        assert_int_equal(op, WS_OP_TEXT);
        assert_int_equal(len, n);
        if (n)
            assert_memory_equal(m->data + h, payload, n);
        msg_unref(m);
    }
    /* exact bytes for the 16- and 64-bit forms */
    struct msg *m = msg_new_frame(WS_OP_BINARY, payload, 65535);
    static const uint8_t h16[] = {0x82, 126, 0xff, 0xff};
    assert_memory_equal(m->data, h16, sizeof h16);
    msg_unref(m);
    m = msg_new_frame(WS_OP_BINARY, payload, 65536);
    static const uint8_t h64[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(m->data, h64, sizeof h64);
    msg_unref(m);
    m = msg_new_frame(WS_OP_PING, NULL, 0);
    static const uint8_t ping[] = {0x89, 0x00};
    assert_int_equal(m->len, 2);
    assert_memory_equal(m->data, ping, 2);
    msg_unref(m);
    m = msg_new_frame(WS_OP_CLOSE, "\x03\xe8", 2);
    static const uint8_t close_frame[] = {0x88, 0x02, 0x03, 0xe8};
    assert_int_equal(m->len, 4);
    assert_memory_equal(m->data, close_frame, 4);
    msg_unref(m);
    free(payload);
}

static void test_msg_refcount(void **state)
{
    (void)state;
    struct msg *m = msg_new(16);
    assert_non_null(m);
    assert_int_equal(m->refs, 1);
    assert_int_equal(m->len, 16);
    msg_ref(m);
    msg_ref(m);
    assert_int_equal(m->refs, 3);
    msg_unref(m);
    msg_unref(m);
    assert_int_equal(m->refs, 1);
    msg_unref(m); /* freed: ASan would report a leak otherwise */
    msg_unref(NULL);
    assert_null(msg_new((size_t)UINT32_MAX + 1));
    struct msg *e = msg_new(0);
    assert_non_null(e);
    assert_int_equal(e->len, 0);
    msg_unref(e);
}

static void test_msg_topic_key(void **state)
{
    (void)state;
    /* Properties only: the key is compared within one build, never stored
     * or sent, so its exact values are not part of the contract. */
    assert_true(msg_topic_key("", 0) != 0);
    assert_true(msg_topic_key("news", 4) == msg_topic_key("news", 4));
    assert_true(msg_topic_key("news", 4) != msg_topic_key("newt", 4));
    assert_true(msg_topic_key("ab", 2) != msg_topic_key("ba", 2));
    /* 4096 short names: no two collide, and the low bits (the topic index's
     * buckets) spread them over 256 buckets without a pathological pile-up */
    static uint64_t keys[4096];
    unsigned bucket[256] = {0};
    for (unsigned i = 0; i < 4096; i++) {
        char name[8] = {'t', (char)('a' + i % 26), (char)('a' + i / 26 % 26),
                        (char)('0' + i / 676)};
        keys[i] = msg_topic_key(name, 4);
        assert_true(keys[i] != 0);
        bucket[keys[i] & 255]++;
        for (unsigned j = 0; j < i; j++)
            assert_true(keys[j] != keys[i]);
    }
    for (unsigned b = 0; b < 256; b++)
        assert_true(bucket[b] < 64);                              /* 16 expected */
    assert_true(msg_topic_key("ab", 1) == msg_topic_key("a", 1)); /* only n bytes */
}

/* Issue 11: the key depends on a secret, so peers cannot choose names
 * that collide; never 0 or 1 (the shared table's empty and freed marks). */
static void test_msg_topic_key_is_keyed(void **state)
{
    (void)state;
    uint8_t k1[16] = {1}, k2[16] = {2};
    msg_topic_key_seed(k1);
    uint64_t a1 = msg_topic_key("news", 4), b1 = msg_topic_key("sports", 6);
    msg_topic_key_seed(k2);
    assert_true(msg_topic_key("news", 4) != a1);
    assert_true(msg_topic_key("sports", 6) != b1);
    msg_topic_key_seed(k1);
    assert_true(msg_topic_key("news", 4) == a1);
    for (int i = 0; i < 100000; i++)
        assert_true(msg_topic_key((const char *)&i, sizeof i) > 1);
    static const uint8_t zero[16];
    msg_topic_key_seed(zero);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_frame_lengths),
        cmocka_unit_test(test_msg_refcount),
        cmocka_unit_test(test_msg_topic_key),
        cmocka_unit_test(test_msg_topic_key_is_keyed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
