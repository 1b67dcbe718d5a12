/* test_bdeflate.c - wspush-bench's permessage-deflate side (loadgen/bdeflate.h):
 * judging the server's answer, and the inflate path: a message compressed
 * exactly as the server does (ws_deflate_frame: raw deflate, no context
 * takeover, sync tail dropped) fed through the bench's frame configuration
 * at every split must come out as the original text, with its timestamp
 * readable, from one shared inflater message after message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "bdeflate.h"
#include "ts.h"
#include "core/err.h"
#include "ws/ws_deflate.h"
#include "ws/ws_frame.h"

#define ISO_US UINT64_C(1795747699123000) /* 2026-11-27T02:48:19.123Z */

static void test_answer_table(void **state)
{
    (void)state;
    static const struct {
        const char *val;
        enum bdeflate_answer want;
    } cases[] = {
        /* what wspush answers */
        {"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
         BDEFLATE_ACCEPTED},
        {"permessage-deflate;server_no_context_takeover", BDEFLATE_ACCEPTED},
        {"PerMessage-Deflate; Server_No_Context_Takeover; client_max_window_bits=10",
         BDEFLATE_ACCEPTED},
        {"permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
         BDEFLATE_ACCEPTED},
        /* the server keeps its context: one z_stream per connection, refused */
        {"permessage-deflate", BDEFLATE_CONTEXT},
        {"permessage-deflate; client_no_context_takeover", BDEFLATE_CONTEXT},
        /* not something we offered, or malformed */
        {"", BDEFLATE_BAD},
        {"x-webkit-deflate-frame", BDEFLATE_BAD},
        {"permessage-deflate; server_no_context_takeover; foo", BDEFLATE_BAD},
        {"permessage-deflate; server_no_context_takeover=1", BDEFLATE_BAD},
        {"permessage-deflate; server_max_window_bits=16; server_no_context_takeover", BDEFLATE_BAD},
        {"permessage-deflate; server_no_context_takeover, permessage-deflate", BDEFLATE_BAD},
        {"foo, permessage-deflate; server_no_context_takeover", BDEFLATE_BAD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum bdeflate_answer a = bdeflate_answer(cases[i].val, strlen(cases[i].val));
        if (a != cases[i].want)
            fail_msg("%s: got %d, want %d", cases[i].val, (int)a, (int)cases[i].want);
    }
}

struct got {
    int msgs;
    uint8_t op;
    uint8_t text[4096];
    size_t n;
};

static void on_message(void *ctx, uint8_t opcode, const uint8_t *p, size_t n)
{
    struct got *g = ctx;
    assert_non_null(p); /* whole messages: the text is there */
    assert_true(n <= sizeof g->text);
    g->msgs++;
    g->op = opcode;
    memcpy(g->text, p, n);
    g->n = n;
}

static void on_data(void *ctx, uint8_t opcode, const uint8_t *p, size_t n, bool first)
{
    (void)ctx;
    (void)opcode;
    (void)p;
    (void)n;
    (void)first;
    fail_msg("on_data: the bench's deflate configuration takes whole messages");
}

static const struct ws_rx_ops ops = {.on_message = on_message, .on_data = on_data};

static const struct ws_rx_cfg plain = {
    .max_message_bytes = 16u << 20, .keep_payload = false, .client_side = true};

/* A message like the bench's --publish-size body: timestamp, then filler. */
static size_t make_msg(char *m, size_t n, int seq)
{
    memcpy(m, "2026-11-27T02:48:19.123Z", 24);
    for (size_t i = 24; i < n; i++)
        m[i] = " wspush-bench publish filler text,"[(i + (size_t)seq) % 34];
    return n;
}

/* frame[0..len) fed in two pieces split at cut; returns ws_rx_feed's rc. */
static int feed_split(const struct ws_rx_cfg *cfg, const uint8_t *frame, size_t len, size_t cut,
                      struct got *g)
{
    uint8_t buf[4096 + WS_MAX_HEADER];
    memcpy(buf, frame, len);
    struct ws_rx *rx = NULL;
    int rc = ws_rx_feed(&rx, cfg, buf, cut, &ops, g, NULL, NULL);
    if (rc == WS_RX_OK)
        rc = ws_rx_feed(&rx, cfg, buf + cut, len - cut, &ops, g, NULL, NULL);
    ws_rx_free(rx);
    return rc;
}

static void test_inflate_every_split(void **state)
{
    (void)state;
    struct ws_deflater *d = ws_deflater_new(WS_DEFLATE_DEFAULT_LEVEL, 15);
    struct ws_inflater *inf = ws_inflater_new();
    assert_non_null(d);
    assert_non_null(inf);
    struct ws_rx_cfg cfg = bdeflate_rx_cfg(&plain, inf);
    assert_true(cfg.keep_payload);
    assert_ptr_equal(cfg.inflater, inf);
    assert_true(cfg.client_side);
    assert_true(cfg.max_message_bytes == plain.max_message_bytes);
    char msg[1000];
    for (int seq = 0; seq < 3; seq++) { /* the one inflater, message after message */
        size_t n = make_msg(msg, sizeof msg, seq);
        uint8_t frame[sizeof msg + WS_MAX_HEADER + 64];
        ssize_t fl = ws_deflate_frame(d, WS_OP_TEXT, (const uint8_t *)msg, n, frame, sizeof frame);
        assert_true(fl > 0);
        assert_true(frame[0] & 0x40);    /* RSV1: compressed */
        assert_true((size_t)fl < n / 4); /* the filler compresses */
        for (size_t cut = 0; cut <= (size_t)fl; cut++) {
            struct got g = {0};
            assert_int_equal(feed_split(&cfg, frame, (size_t)fl, cut, &g), WS_RX_OK);
            assert_int_equal(g.msgs, 1);
            assert_int_equal(g.op, WS_OP_TEXT);
            assert_int_equal(g.n, n);
            assert_memory_equal(g.text, msg, n);
            uint64_t us = 0;
            assert_int_equal(ts_extract(g.text, TS_PREFIX_BYTES, true, &us), 0);
            assert_true(us == ISO_US);
        }
    }
    ws_inflater_free(inf);
    ws_deflater_free(d);
}

static void test_uncompressed_on_a_deflate_connection(void **state)
{
    /* below the server's --deflate-min a message goes plain: same path */
    (void)state;
    struct ws_inflater *inf = ws_inflater_new();
    assert_non_null(inf);
    struct ws_rx_cfg cfg = bdeflate_rx_cfg(&plain, inf);
    const char *msg = "2026-11-27T02:48:19.123Z";
    uint8_t frame[64];
    size_t fl = ws_frame_encode(frame, sizeof frame, true, WS_OP_TEXT, msg, 24, NULL);
    assert_true(fl == 26);
    for (size_t cut = 0; cut <= fl; cut++) {
        struct got g = {0};
        assert_int_equal(feed_split(&cfg, frame, fl, cut, &g), WS_RX_OK);
        assert_int_equal(g.msgs, 1);
        assert_int_equal(g.n, 24);
        assert_memory_equal(g.text, msg, 24);
    }
    ws_inflater_free(inf);
}

static void test_compressed_without_agreement_is_refused(void **state)
{
    /* a connection whose server declined runs the plain configuration:
     * a compressed frame there is a protocol error (1002), not inflated */
    (void)state;
    struct ws_deflater *d = ws_deflater_new(WS_DEFLATE_DEFAULT_LEVEL, 15);
    assert_non_null(d);
    char msg[200];
    size_t n = make_msg(msg, sizeof msg, 0);
    uint8_t frame[sizeof msg + WS_MAX_HEADER + 64];
    ssize_t fl = ws_deflate_frame(d, WS_OP_TEXT, (const uint8_t *)msg, n, frame, sizeof frame);
    assert_true(fl > 0);
    uint16_t code = 0;
    struct ws_rx *rx = NULL;
    struct got g = {0};
    static const struct ws_rx_ops plain_ops = {.on_message = on_message};
    int rc = ws_rx_feed(&rx, &plain, frame, (size_t)fl, &plain_ops, &g, &code, NULL);
    assert_int_equal(rc, WSP_EPROTO);
    assert_int_equal(code, 1002);
    assert_int_equal(g.msgs, 0);
    ws_rx_free(rx);
    ws_deflater_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_table),
        cmocka_unit_test(test_inflate_every_split),
        cmocka_unit_test(test_uncompressed_on_a_deflate_connection),
        cmocka_unit_test(test_compressed_without_agreement_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
