/* test_ws_frame.c - RFC 6455 §5 frame header codec, masking, close codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "../guard_page.h"
#include "core/err.h"
#include "ws/ws_frame.h"

struct hdr_case {
    const char *name;
    uint8_t in[16];
    size_t n;
    struct ws_decode_opts o;
    ssize_t rc;          /* header length or error */
    uint16_t close_code; /* on error */
    uint8_t opcode;
    bool fin;
    uint64_t payload_len;
};

#define SERVER                                                                                     \
    {                                                                                              \
        .require_mask = true                                                                       \
    }
#define CLIENT                                                                                     \
    {                                                                                              \
        .forbid_mask = true                                                                        \
    }
#define M4 0x37, 0xfa, 0x21, 0x3d

/* clang-format off */
static const struct hdr_case hdr_cases[] = {
    /* §5.7 examples */
    {"rfc unmasked Hello", {0x81, 0x05}, 2, CLIENT, 2, 0, WS_OP_TEXT, true, 5},
    {"rfc masked Hello", {0x81, 0x85, M4}, 6, SERVER, 6, 0, WS_OP_TEXT, true, 5},
    {"rfc fragment 1", {0x01, 0x03}, 2, CLIENT, 2, 0, WS_OP_TEXT, false, 3},
    {"rfc fragment 2", {0x80, 0x02}, 2, CLIENT, 2, 0, WS_OP_CONT, true, 2},
    {"rfc ping", {0x89, 0x05}, 2, CLIENT, 2, 0, WS_OP_PING, true, 5},
    {"rfc masked pong", {0x8a, 0x85, M4}, 6, SERVER, 6, 0, WS_OP_PONG, true, 5},
    {"rfc 256 bytes", {0x82, 0x7e, 0x01, 0x00}, 4, CLIENT, 4, 0, WS_OP_BINARY, true, 256},
    {"rfc 64KiB", {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, 10, CLIENT, 10, 0, WS_OP_BINARY, true,
     65536},
    {"64-bit masked", {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, M4}, 14, SERVER, 14, 0, WS_OP_BINARY,
     true, 1ull << 32},
    {"64-bit largest", {0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 10, {0}, 10,
     0, WS_OP_BINARY, true, 0x7fffffffffffffffull},
    {"non-minimal 16-bit accepted", {0x81, 0x7e, 0x00, 0x05}, 4, {0}, 4, 0, WS_OP_TEXT, true, 5},
    {"empty close", {0x88, 0x80, M4}, 6, SERVER, 6, 0, WS_OP_CLOSE, true, 0},
    {"control 125", {0x89, 0xfd, M4}, 6, SERVER, 6, 0, WS_OP_PING, true, 125},
    {"rsv allowed", {0xc1, 0x00}, 2, {.allowed_rsv = 4}, 2, 0, WS_OP_TEXT, true, 0},
    {"at limit", {0x82, 0x7e, 0x01, 0x00}, 4, {.max_payload_bytes = 256}, 4, 0, WS_OP_BINARY, true,
     256},
    /* rejections */
    {"64-bit MSB set", {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1}, 10, {0}, WSP_EPROTO, 1002, 0, false, 0},
    {"64-bit MSB set masked", {0x82, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, M4}, 14, SERVER, WSP_EPROTO,
     1002, 0, false, 0},
    {"unmasked client frame", {0x81, 0x05}, 2, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"masked server frame", {0x81, 0x85, M4}, 6, CLIENT, WSP_EPROTO, 1002, 0, false, 0},
    {"rsv1", {0xc1, 0x80, M4}, 6, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"rsv2", {0xa1, 0x80, M4}, 6, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"rsv3", {0x91, 0x80, M4}, 6, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"rsv2 not negotiated", {0xa1, 0x00}, 2, {.allowed_rsv = 4}, WSP_EPROTO, 1002, 0, false, 0},
    {"opcode 3", {0x83, 0x80, M4}, 6, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"opcode 7", {0x87, 0x80, M4}, 6, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"opcode B", {0x8b, 0x80, M4}, 6, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"opcode F", {0x8f, 0x80, M4}, 6, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"ping 126", {0x89, 0xfe, 0x00, 0x7e, M4}, 8, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"close 64-bit", {0x88, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, M4}, 14, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"fragmented ping", {0x09, 0x81, M4}, 6, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"fragmented close", {0x08, 0x80, M4}, 6, SERVER, WSP_EPROTO, 1002, 0, false, 0},
    {"over limit 7-bit", {0x81, 0x8b, M4}, 6, {.require_mask = true, .max_payload_bytes = 10},
     WSP_ETOOBIG, 1009, 0, false, 0},
    {"over limit 64-bit", {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, 10, {.max_payload_bytes = 65535},
     WSP_ETOOBIG, 1009, 0, false, 0},
};
/* clang-format on */

/* Every prefix of the header must answer EAGAIN or, for a bad header, may
 * already give the final verdict; the full input gives the expected one.
 * All on a guard page. */
static void test_ws_frame_decode_table_any_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof hdr_cases / sizeof hdr_cases[0]; i++) {
        const struct hdr_case *c = &hdr_cases[i];
        for (size_t cut = 0; cut <= c->n; cut++) {
            struct ws_frame f;
            ssize_t rc = ws_frame_decode_header(at_guard(c->in, cut), cut, &c->o, &f);
            if (cut == c->n || rc != WSP_EAGAIN) {
                if (rc != c->rc)
                    fail_msg("%s cut %zu: rc %zd want %zd", c->name, cut, rc, c->rc);
                if (rc < 0) {
                    assert_int_equal(f.close_code, c->close_code);
                    assert_non_null(f.reason);
                } else {
                    assert_int_equal(f.opcode, c->opcode);
                    assert_int_equal(f.fin, c->fin);
                    assert_true(f.payload_len == c->payload_len);
                    assert_int_equal(f.header_len, (size_t)rc);
                    if (f.masked)
                        assert_memory_equal(f.mask, c->in + rc - 4, 4);
                }
            } else if (c->rc > 0 && cut < (size_t)c->rc) {
                assert_int_equal(rc, WSP_EAGAIN);
            }
        }
    }
}

static void test_ws_frame_decode_rfc_hello(void **state)
{
    (void)state;
    static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58}; /* §5.7 */
    struct ws_decode_opts o = {.require_mask = true};
    struct ws_frame f;
    uint8_t buf[sizeof hello];
    memcpy(buf, hello, sizeof buf);
    assert_int_equal(ws_frame_decode_header(buf, sizeof buf, &o, &f), 6);
    ws_mask_apply(buf + 6, 5, f.mask, 0);
    assert_memory_equal(buf + 6, "Hello", 5);
    /* the same, unmasked in pieces with offsets */
    memcpy(buf, hello, sizeof buf);
    ws_mask_apply(buf + 6, 2, f.mask, 0);
    ws_mask_apply(buf + 8, 3, f.mask, 2);
    assert_memory_equal(buf + 6, "Hello", 5);
    assert_int_equal(ws_frame_decode_header(buf, 2, NULL, &f), WSP_EAGAIN);
}

static void mask_naive(uint8_t *p, size_t n, const uint8_t m[4], uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= m[(off + i) & 3];
}

static void test_ws_frame_mask_apply_matches_naive(void **state)
{
    (void)state;
    static const uint8_t m[4] = {0x11, 0x2f, 0x80, 0xfe};
    uint8_t src[131], a[131], b[131];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 7 + 3);
    for (size_t start = 0; start < 8; start++) { /* unaligned pointers */
        for (size_t n = 0; n + start <= sizeof src; n++) {
            for (uint64_t off = 0; off < 9; off++) {
                memcpy(a, src, sizeof a);
                memcpy(b, src, sizeof b);
                ws_mask_apply(a + start, n, m, off);
                mask_naive(b + start, n, m, off);
                assert_memory_equal(a, b, sizeof a);
            }
        }
    }
    /* in two pieces at every cut == in one go; twice == identity */
    for (size_t cut = 0; cut <= 100; cut++) {
        memcpy(a, src, 100);
        memcpy(b, src, 100);
        ws_mask_apply(a, cut, m, 0);
        ws_mask_apply(a + cut, 100 - cut, m, cut);
        ws_mask_apply(b, 100, m, 0);
        assert_memory_equal(a, b, 100);
        ws_mask_apply(a, 100, m, 0);
        assert_memory_equal(a, src, 100);
    }
    ws_mask_apply(NULL, 0, m, 5);
}

static void test_ws_frame_encode_minimal_lengths(void **state)
{
    (void)state;
    static const struct {
        uint64_t n;
        size_t hlen;
        uint8_t b1;
    } t[] = {{0, 2, 0},       {125, 2, 125},    {126, 4, 126},
             {65535, 4, 126}, {65536, 10, 127}, {1ull << 40, 10, 127}};
    static const uint8_t m[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        for (int masked = 0; masked < 2; masked++) {
            uint8_t out[WS_MAX_HEADER];
            size_t h = ws_frame_header_encode(out, true, WS_OP_BINARY, t[i].n, masked ? m : NULL);
            assert_int_equal(h, t[i].hlen + (masked ? 4 : 0));
            assert_int_equal(h, ws_frame_header_len(t[i].n, masked));
            assert_int_equal(out[0], 0x82);
            assert_int_equal(out[1], t[i].b1 | (masked ? 0x80 : 0));
            struct ws_frame f;
            assert_int_equal(ws_frame_decode_header(out, h, NULL, &f), (ssize_t)h);
            assert_true(f.payload_len == t[i].n);
            assert_int_equal(f.masked, masked);
            if (masked)
                assert_memory_equal(f.mask, m, 4);
        }
    }
    uint8_t out[WS_MAX_HEADER];
    assert_int_equal(ws_frame_header_encode(out, false, WS_OP_TEXT, 3, NULL), 2);
    assert_int_equal(out[0], 0x01);
}

static void test_ws_frame_encode_rfc_examples(void **state)
{
    (void)state;
    static const uint8_t masked_hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                           0x7f, 0x9f, 0x4d, 0x51, 0x58};
    static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t out[64];
    assert_int_equal(ws_frame_encode(out, sizeof out, true, WS_OP_TEXT, "Hello", 5, key), 11);
    assert_memory_equal(out, masked_hello, 11);
    assert_int_equal(ws_frame_encode(out, sizeof out, true, WS_OP_PING, "Hello", 5, NULL), 7);
    assert_memory_equal(out, ping, 7);
    assert_int_equal(ws_frame_encode(out, 10, true, WS_OP_TEXT, "Hello", 5, key), 0);
    assert_int_equal(ws_frame_encode(out, 11, true, WS_OP_TEXT, "Hello", 5, key), 11);
    assert_int_equal(ws_frame_encode(out, 1, true, WS_OP_TEXT, "", 0, NULL), 0);
    assert_int_equal(ws_frame_encode(out, 2, true, WS_OP_TEXT, NULL, 0, NULL), 2);
}

static void test_ws_frame_close_code_valid(void **state)
{
    (void)state;
    for (uint32_t c = 0; c <= 0xffff; c++) {
        bool want =
            (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
        if (ws_close_code_valid((uint16_t)c) != want)
            fail_msg("code %u", c);
    }
    assert_false(ws_close_code_valid(1004));
    assert_false(ws_close_code_valid(1005));
    assert_false(ws_close_code_valid(1006));
    assert_false(ws_close_code_valid(1015));
    assert_false(ws_close_code_valid(999));
    assert_false(ws_close_code_valid(5000));
    assert_true(ws_close_code_valid(1014));
}

static void test_ws_frame_close_payload(void **state)
{
    (void)state;
    uint8_t out[WS_MAX_CONTROL];
    assert_int_equal(ws_close_payload(out, 0, "ignored"), 0);
    assert_int_equal(ws_close_payload(out, 1000, NULL), 2);
    assert_memory_equal(out, "\x03\xe8", 2);
    assert_int_equal(ws_close_payload(out, 1009, "too big"), 9);
    assert_memory_equal(out, "\x03\xf1too big", 9);
    char longr[300];
    memset(longr, 'x', sizeof longr - 1);
    longr[sizeof longr - 1] = 0;
    assert_int_equal(ws_close_payload(out, 4000, longr), 125);
    /* a 3-byte character straddling byte 123 is dropped whole */
    memset(longr, 'y', 122);
    memcpy(longr + 122,
           "\xe2\x82\xac"
           "zz",
           6);
    assert_int_equal(ws_close_payload(out, 4000, longr), 124);
    assert_int_equal(out[123], 'y');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_frame_decode_table_any_split),
        cmocka_unit_test(test_ws_frame_decode_rfc_hello),
        cmocka_unit_test(test_ws_frame_mask_apply_matches_naive),
        cmocka_unit_test(test_ws_frame_encode_minimal_lengths),
        cmocka_unit_test(test_ws_frame_encode_rfc_examples),
        cmocka_unit_test(test_ws_frame_close_code_valid),
        cmocka_unit_test(test_ws_frame_close_payload),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
