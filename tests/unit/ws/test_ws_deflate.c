/* test_ws_deflate.c - permessage-deflate: negotiation, compress-once,
 * bounded inflate.
 *
 * Negotiation is table-driven; every value is also parsed from the end of
 * a guard page so any over-read faults. Compression is checked the way
 * clients see it: one compressed message inflated by several independent,
 * fresh zlib inflaters (one per "client"), for many sizes and contents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../guard_page.h"
#include "core/err.h"
#include "http/http_parse.h"
#include "ws/ws_deflate.h"
#include "ws/ws_frame.h"

#define BASE "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

/* ---- guard page (../guard_page.h) ---- */

/* A copy of s[0..n) ending right before the PROT_NONE page. */
static const char *guarded(const char *s, size_t n)
{
    return (const char *)at_guard(s, n);
}

/* ---- negotiation ---- */

struct neg_case {
    const char *val;
    int window; /* cfg->server_window_bits, 0 = default */
    int rc;
    const char *resp;
    uint8_t sw, cw; /* expected params on acceptance */
};

/* clang-format off */
static const struct neg_case neg_cases[] = {
    /* plain and each parameter */
    {"permessage-deflate", 0, 1, BASE, 15, 15},
    {"permessage-deflate; server_no_context_takeover", 0, 1, BASE, 15, 15},
    {"permessage-deflate; client_no_context_takeover", 0, 1, BASE, 15, 15},
    {"permessage-deflate; client_max_window_bits", 0, 1, BASE, 15, 15},
    {"permessage-deflate; client_max_window_bits=8", 0, 1, BASE "; client_max_window_bits=8", 15, 8},
    {"permessage-deflate; client_max_window_bits=10", 0, 1, BASE "; client_max_window_bits=10", 15, 10},
    {"permessage-deflate; client_max_window_bits=15", 0, 1, BASE "; client_max_window_bits=15", 15, 15},
    {"permessage-deflate; server_max_window_bits=15", 0, 1, BASE "; server_max_window_bits=15", 15, 15},
    {"permessage-deflate; server_max_window_bits=14", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=8", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
     "server_max_window_bits=15; client_max_window_bits=9", 0, 1,
     BASE "; server_max_window_bits=15; client_max_window_bits=9", 15, 9},
    /* a smaller server window: announced, and honours offers >= it */
    {"permessage-deflate", 10, 1, BASE "; server_max_window_bits=10", 10, 15},
    {"permessage-deflate; server_max_window_bits=12", 10, 1, BASE "; server_max_window_bits=10", 10, 15},
    {"permessage-deflate; server_max_window_bits=10", 10, 1, BASE "; server_max_window_bits=10", 10, 15},
    {"permessage-deflate; server_max_window_bits=9", 10, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=9", 9, 1, BASE "; server_max_window_bits=9", 9, 15},
    /* bad configuration: never accepted, never an error */
    {"permessage-deflate", 8, 0, NULL, 0, 0},
    {"permessage-deflate", 16, 0, NULL, 0, 0},
    {"permessage-deflate", -1, 0, NULL, 0, 0},
    /* invalid values */
    {"permessage-deflate; server_max_window_bits", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=16", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=7", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=015", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=+15", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=1e1", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=150", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=\"\"", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_max_window_bits=0", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_max_window_bits=7", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_max_window_bits=16", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_max_window_bits=09", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_max_window_bits=ten", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_max_window_bits=99999999999999999999", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_no_context_takeover=1", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_no_context_takeover=\"x\"", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_no_context_takeover=", 0, 0, NULL, 0, 0},
    /* duplicates and unknown parameters */
    {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_no_context_takeover; Client_No_Context_Takeover", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_max_window_bits; client_max_window_bits=10", 0, 0, NULL, 0, 0},
    {"permessage-deflate; server_max_window_bits=15; server_max_window_bits=15", 0, 0, NULL, 0, 0},
    {"permessage-deflate; foo", 0, 0, NULL, 0, 0},
    {"permessage-deflate; foo=1", 0, 0, NULL, 0, 0},
    {"permessage-deflate; max_window_bits=10", 0, 0, NULL, 0, 0},
    /* several offers: the first acceptable one wins */
    {"permessage-deflate; server_max_window_bits=10, permessage-deflate", 0, 1, BASE, 15, 15},
    {"permessage-deflate; foo, permessage-deflate; client_max_window_bits=12", 0, 1,
     BASE "; client_max_window_bits=12", 15, 12},
    {"permessage-deflate; client_max_window_bits=11, permessage-deflate; client_max_window_bits=12",
     0, 1, BASE "; client_max_window_bits=11", 15, 11},
    {"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", 0, 1, BASE, 15, 15},
    {"x-webkit-deflate-frame; no_context_takeover", 0, 0, NULL, 0, 0},
    {"foo; server_max_window_bits=10, permessage-deflate; client_max_window_bits=13", 0, 1,
     BASE "; client_max_window_bits=13", 15, 13},
    /* quoted values (RFC 6455 §9.1: must unescape to a token) */
    {"permessage-deflate; client_max_window_bits=\"10\"", 0, 1, BASE "; client_max_window_bits=10", 15, 10},
    {"permessage-deflate; client_max_window_bits=\"1\\0\"", 0, 1, BASE "; client_max_window_bits=10", 15, 10},
    {"permessage-deflate; server_max_window_bits=\"15\"", 0, 1, BASE "; server_max_window_bits=15", 15, 15},
    {"permessage-deflate; client_max_window_bits=\"10", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_max_window_bits=\"1 0\"", 0, 0, NULL, 0, 0},
    {"foo; bar=\"a,b\", permessage-deflate", 0, 1, BASE, 15, 15},
    {"foo; bar=\"a\\\",b\", permessage-deflate", 0, 1, BASE, 15, 15},
    {"foo; bar=\"x\", permessage-deflate", 0, 1, BASE, 15, 15},
    {"permessage-deflate; x=\"a,b\", permessage-deflate; client_max_window_bits=9", 0, 1,
     BASE "; client_max_window_bits=9", 15, 9},
    /* case and whitespace */
    {"PerMessage-Deflate; Client_Max_Window_Bits=11; SERVER_NO_CONTEXT_TAKEOVER", 0, 1,
     BASE "; client_max_window_bits=11", 15, 11},
    {"  permessage-deflate ;\tclient_max_window_bits = 10 ,  ", 0, 1, BASE "; client_max_window_bits=10", 15, 10},
    {", , permessage-deflate", 0, 1, BASE, 15, 15},
    {"permessage-deflate,", 0, 1, BASE, 15, 15},
    /* syntax errors skip the offer */
    {"", 0, 0, NULL, 0, 0},
    {",", 0, 0, NULL, 0, 0},
    {";", 0, 0, NULL, 0, 0},
    {"permessage-deflate;", 0, 0, NULL, 0, 0},
    {"permessage-deflate;;client_max_window_bits", 0, 0, NULL, 0, 0},
    {"permessage-deflate x", 0, 0, NULL, 0, 0},
    {"permessage-deflate=1", 0, 0, NULL, 0, 0},
    {"\"permessage-deflate\"", 0, 0, NULL, 0, 0},
    {"permessage-deflate; =10", 0, 0, NULL, 0, 0},
    {"permessage-deflate; client_max_window_bits==10", 0, 0, NULL, 0, 0},
    {"permessage-deflate; a=\"", 0, 0, NULL, 0, 0},
    {"permessage-deflate; a=\"\\", 0, 0, NULL, 0, 0},
    {"permessage-deflate x, permessage-deflate", 0, 1, BASE, 15, 15},
    {"permessage-deflat", 0, 0, NULL, 0, 0},
    {"permessage-deflatex", 0, 0, NULL, 0, 0},
    {"x-foo", 0, 0, NULL, 0, 0},
};
/* clang-format on */

static void test_ws_deflate_negotiate_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof neg_cases / sizeof neg_cases[0]; i++) {
        const struct neg_case *c = &neg_cases[i];
        struct ws_deflate_cfg cfg = {.enabled = true, .server_window_bits = c->window};
        struct ws_deflate_params par = {0, 0};
        char resp[WS_DEFLATE_RESP_MAX];
        memset(resp, 'X', sizeof resp);
        size_t n = strlen(c->val);
        const char *v = guarded(c->val, n);
        int rc = ws_deflate_negotiate_value(v, n, &cfg, &par, resp, sizeof resp);
        if (rc != c->rc)
            fail_msg("\"%s\" (window %d): rc %d, want %d", c->val, c->window, rc, c->rc);
        if (rc == 1) {
            if (strcmp(resp, c->resp) != 0)
                fail_msg("\"%s\": resp \"%s\", want \"%s\"", c->val, resp, c->resp);
            assert_int_equal(par.server_window_bits, c->sw);
            assert_int_equal(par.client_window_bits, c->cw);
            /* exactly enough room works, one byte less declines */
            size_t need = strlen(resp) + 1;
            char small[WS_DEFLATE_RESP_MAX];
            assert_int_equal(ws_deflate_negotiate_value(v, n, &cfg, NULL, small, need), 1);
            assert_string_equal(small, resp);
            memset(small, 'Y', sizeof small);
            assert_int_equal(ws_deflate_negotiate_value(v, n, &cfg, &par, small, need - 1), 0);
            assert_int_equal(small[0], 'Y');
        } else {
            assert_int_equal(resp[0], 'X'); /* untouched */
            assert_int_equal(par.server_window_bits, 0);
        }
        /* disabled: never */
        cfg.enabled = false;
        assert_int_equal(ws_deflate_negotiate_value(v, n, &cfg, &par, resp, sizeof resp), 0);
        /* every prefix is parsed without reading past its end */
        cfg.enabled = true;
        for (size_t k = 0; k < n; k++) {
            const char *pv = guarded(c->val, k);
            int r = ws_deflate_negotiate_value(pv, k, &cfg, NULL, resp, sizeof resp);
            assert_true(r == 0 || r == 1);
        }
    }
    struct ws_deflate_cfg on = {.enabled = true};
    char resp[WS_DEFLATE_RESP_MAX];
    assert_int_equal(
        ws_deflate_negotiate_value("permessage-deflate", 18, NULL, NULL, resp, sizeof resp), 0);
    assert_int_equal(ws_deflate_negotiate_value(NULL, 0, &on, NULL, resp, sizeof resp), 0);
    assert_int_equal(ws_deflate_negotiate_value("permessage-deflate", 18, &on, NULL, NULL, 0), 0);
}

static int negotiate_head(const char *head, const struct ws_deflate_cfg *cfg, char *resp,
                          size_t cap)
{
    static struct http_req r;
    ssize_t used = http_parse_request((const uint8_t *)head, strlen(head), NULL, &r);
    assert_int_equal(used, (ssize_t)strlen(head));
    return ws_deflate_negotiate(&r, cfg, NULL, resp, cap);
}

#define HEAD_START "GET /t HTTP/1.1\r\nHost: x\r\n"

static void test_ws_deflate_negotiate_headers(void **state)
{
    (void)state;
    struct ws_deflate_cfg cfg = {.enabled = true};
    char resp[WS_DEFLATE_RESP_MAX];
    /* none */
    assert_int_equal(negotiate_head(HEAD_START "\r\n", &cfg, resp, sizeof resp), 0);
    /* first header unacceptable, second fine */
    assert_int_equal(negotiate_head(HEAD_START "Sec-WebSocket-Extensions: permessage-deflate; "
                                               "server_max_window_bits=9\r\n"
                                               "X-Other: permessage-deflate\r\n"
                                               "sec-websocket-extensions: permessage-deflate; "
                                               "client_max_window_bits=14\r\n\r\n",
                                    &cfg, resp, sizeof resp),
                     1);
    assert_string_equal(resp, BASE "; client_max_window_bits=14");
    /* first acceptable wins over later headers */
    assert_int_equal(negotiate_head(HEAD_START "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                                               "Sec-WebSocket-Extensions: permessage-deflate; "
                                               "client_max_window_bits=14\r\n\r\n",
                                    &cfg, resp, sizeof resp),
                     1);
    assert_string_equal(resp, BASE);
    /* an empty header, then a good one */
    assert_int_equal(negotiate_head(HEAD_START "Sec-WebSocket-Extensions:\r\n"
                                               "Sec-WebSocket-Extensions: foo, "
                                               "permessage-deflate\r\n\r\n",
                                    &cfg, resp, sizeof resp),
                     1);
    /* nothing acceptable in any header */
    assert_int_equal(negotiate_head(HEAD_START "Sec-WebSocket-Extensions: foo\r\n"
                                               "Sec-WebSocket-Extensions: permessage-deflate; "
                                               "bar\r\n\r\n",
                                    &cfg, resp, sizeof resp),
                     0);
    /* disabled / NULL */
    cfg.enabled = false;
    assert_int_equal(negotiate_head(HEAD_START
                                    "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                                    &cfg, resp, sizeof resp),
                     0);
    assert_int_equal(ws_deflate_negotiate(NULL, &cfg, NULL, resp, sizeof resp), 0);
}

/* ---- compress once ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* kind 0: random bytes, 1: text-like, 2: long runs */
static void fill(uint8_t *p, size_t n, int kind)
{
    static const char *words[] = {"price ", "{\"t\":", "12.5,", "topic ", "\"ok\"} ", "é€ "};
    size_t i = 0;
    while (i < n) {
        if (kind == 0) {
            p[i++] = (uint8_t)rnd();
        } else if (kind == 1) {
            const char *w = words[rnd() % 6];
            while (*w && i < n)
                p[i++] = (uint8_t)*w++;
        } else {
            uint8_t b = (uint8_t)rnd();
            size_t run = 1 + rnd() % 300;
            while (run-- && i < n)
                p[i++] = b;
        }
    }
}

/* What a client does (RFC 7692 §7.2.2) with its own fresh inflater. */
static void client_inflate(int window_bits, const uint8_t *c, size_t cn, uint8_t *out, size_t cap,
                           size_t *out_n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, -window_bits), Z_OK);
    uint8_t *in = malloc(cn + 4);
    assert_non_null(in);
    if (cn)
        memcpy(in, c, cn);
    memcpy(in + cn, "\x00\x00\xff\xff", 4);
    z.next_in = in;
    z.avail_in = (uInt)(cn + 4);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    assert_true(rc == Z_OK || rc == Z_STREAM_END);
    assert_int_equal(z.avail_in, 0);
    assert_true(z.avail_out > 0);
    *out_n = cap - z.avail_out;
    inflateEnd(&z);
    free(in);
}

static void roundtrip(struct ws_deflater *d, struct ws_inflater *inf, int window_bits,
                      const uint8_t *msg, size_t n)
{
    size_t cap = ws_deflate_bound(n);
    uint8_t *c = malloc(cap);
    uint8_t *out = malloc(n + 1);
    assert_non_null(c);
    assert_non_null(out);
    ssize_t cn = ws_deflate_message(d, msg, n, c, cap);
    if (cn < 0)
        fail_msg("deflate of %zu bytes: %zd", n, cn);
    assert_true((size_t)cn + 4 <= cap);
    /* Several independent clients, each with its own fresh state. */
    for (int client = 0; client < 3; client++) {
        size_t on = 0;
        client_inflate(client == 2 ? window_bits : 15, c, (size_t)cn, out, n + 1, &on);
        assert_int_equal(on, n);
        if (n)
            assert_memory_equal(out, msg, n);
    }
    /* and our own inflater, exact bound */
    size_t on = 0;
    assert_int_equal(ws_inflate_message(inf, c, (size_t)cn, out, n, &on), 0);
    assert_int_equal(on, n);
    if (n)
        assert_memory_equal(out, msg, n);
    if (n) /* one byte less is too big */
        assert_int_equal(ws_inflate_message(inf, c, (size_t)cn, out, n - 1, &on), WSP_ETOOBIG);
    /* compressing again gives the same bytes: no context is carried */
    uint8_t *c2 = malloc(cap);
    assert_non_null(c2);
    assert_int_equal(ws_deflate_message(d, msg, n, c2, cap), cn);
    assert_memory_equal(c2, c, (size_t)cn);
    /* exact room fits; one byte less is WSP_ETOOBIG */
    assert_int_equal(ws_deflate_message(d, msg, n, c2, (size_t)cn), cn);
    assert_memory_equal(c2, c, (size_t)cn);
    if (cn > 0)
        assert_int_equal(ws_deflate_message(d, msg, n, c2, (size_t)cn - 1), WSP_ETOOBIG);
    free(c2);
    free(c);
    free(out);
}

static void test_ws_deflate_compress_once_many_clients(void **state)
{
    (void)state;
    struct ws_inflater *inf = ws_inflater_new();
    assert_non_null(inf);
    static const int windows[] = {15, 9, 12};
    static const int levels[] = {6, 1, 9};
    uint8_t *msg = malloc(200000);
    assert_non_null(msg);
    for (size_t w = 0; w < 3; w++) {
        struct ws_deflater *d = ws_deflater_new(levels[w], windows[w]);
        assert_non_null(d);
        static const size_t fixed[] = {0, 1, 2, 3, 4, 5, 125, 126, 4095, 65535, 65536, 102400};
        for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
            for (int kind = 0; kind < 3; kind++) {
                fill(msg, fixed[k], kind);
                roundtrip(d, inf, windows[w], msg, fixed[k]);
            }
        for (int it = 0; it < 120; it++) {
            size_t n = rnd() % (it % 10 == 0 ? 200000 : 3000);
            fill(msg, n, (int)(rnd() % 3));
            roundtrip(d, inf, windows[w], msg, n);
        }
        ws_deflater_free(d);
    }
    free(msg);
    ws_inflater_free(inf);
}

static void test_ws_deflate_incompressible_bound(void **state)
{
    (void)state;
    size_t n = 100 * 1024;
    uint8_t *msg = malloc(n);
    assert_non_null(msg);
    fill(msg, n, 0);
    struct ws_deflater *d = ws_deflater_new(9, 15);
    assert_non_null(d);
    size_t cap = ws_deflate_bound(n);
    uint8_t *c = malloc(cap);
    assert_non_null(c);
    ssize_t cn = ws_deflate_message(d, msg, n, c, cap);
    assert_true(cn > (ssize_t)n); /* random data grows a little */
    assert_true((size_t)cn <= cap);
    free(c);
    free(msg);
    ws_deflater_free(d);
}

/* RFC 7692 §7.2.3.1 and friends. */
static void test_ws_deflate_rfc_examples(void **state)
{
    (void)state;
    static const uint8_t hello_c[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    struct ws_deflater *d = ws_deflater_new(WS_DEFLATE_DEFAULT_LEVEL, 15);
    struct ws_inflater *inf = ws_inflater_new();
    assert_non_null(d);
    assert_non_null(inf);
    uint8_t out[64];
    size_t on = 0;
    assert_int_equal(ws_deflate_message(d, (const uint8_t *)"Hello", 5, out, sizeof out), 7);
    assert_memory_equal(out, hello_c, 7);
    assert_int_equal(ws_inflate_message(inf, hello_c, 7, out, sizeof out, &on), 0);
    assert_int_equal(on, 5);
    assert_memory_equal(out, "Hello", 5);
    /* §7.2.3.3: a stored block, then the next block's header byte */
    static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e', 'l', 'l', 'o', 0x00};
    assert_int_equal(ws_inflate_message(inf, stored, sizeof stored, out, sizeof out, &on), 0);
    assert_int_equal(on, 5);
    assert_memory_equal(out, "Hello", 5);
    /* §7.2.3.4: a block with BFINAL set */
    static const uint8_t bfinal[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
    assert_int_equal(ws_inflate_message(inf, bfinal, sizeof bfinal, out, sizeof out, &on), 0);
    assert_int_equal(on, 5);
    assert_memory_equal(out, "Hello", 5);
    /* §7.2.3.2: the second message refers to the first one's window: with
     * no context takeover it is invalid. */
    static const uint8_t second[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    assert_int_equal(ws_inflate_message(inf, hello_c, 7, out, sizeof out, &on), 0);
    assert_int_equal(ws_inflate_message(inf, second, sizeof second, out, sizeof out, &on),
                     WSP_EPROTO);
    /* and it still works afterwards */
    assert_int_equal(ws_inflate_message(inf, hello_c, 7, out, sizeof out, &on), 0);
    assert_int_equal(on, 5);
    /* the empty message: one 00 byte; an empty payload is accepted too */
    assert_int_equal(ws_deflate_message(d, NULL, 0, out, sizeof out), 1);
    assert_int_equal(out[0], 0x00);
    on = 99;
    assert_int_equal(ws_inflate_message(inf, out, 1, out + 8, 0, &on), 0);
    assert_int_equal(on, 0);
    on = 99;
    assert_int_equal(ws_inflate_message(inf, NULL, 0, NULL, 0, &on), 0);
    assert_int_equal(on, 0);
    ws_deflater_free(d);
    ws_inflater_free(inf);
}

static void test_ws_deflate_frame(void **state)
{
    (void)state;
    struct ws_deflater *d = ws_deflater_new(6, 15);
    struct ws_inflater *inf = ws_inflater_new();
    assert_non_null(d);
    assert_non_null(inf);
    uint8_t *msg = malloc(300000), *frame = malloc(WS_MAX_HEADER + ws_deflate_bound(300000));
    uint8_t *c = malloc(ws_deflate_bound(300000)), *out = malloc(300000);
    assert_non_null(msg);
    assert_non_null(frame);
    assert_non_null(c);
    assert_non_null(out);
    /* sizes giving 2-, 4- and 10-byte headers, compressible and not */
    static const size_t sizes[] = {0, 5, 120, 200, 1000, 70000, 300000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int kind = 0; kind < 3; kind++) {
            size_t n = sizes[k];
            fill(msg, n, kind);
            uint8_t op = kind == 1 ? WS_OP_TEXT : WS_OP_BINARY;
            size_t cap = WS_MAX_HEADER + ws_deflate_bound(n);
            ssize_t fl = ws_deflate_frame(d, op, msg, n, frame, cap);
            assert_true(fl > 0);
            ssize_t cn = ws_deflate_message(d, msg, n, c, ws_deflate_bound(n));
            assert_true(cn >= 0);
            struct ws_frame f;
            ssize_t h = ws_frame_decode_header(frame, (size_t)fl, NULL, &f);
            assert_int_equal(h, WSP_EPROTO); /* RSV1 is not allowed without opts */
            struct ws_decode_opts o = {.forbid_mask = true, .allowed_rsv = 4};
            h = ws_frame_decode_header(frame, (size_t)fl, &o, &f);
            assert_true(h > 0);
            assert_true(f.fin);
            assert_int_equal(f.rsv, 4);
            assert_int_equal(f.opcode, op);
            assert_false(f.masked);
            assert_int_equal(f.payload_len, (uint64_t)cn);
            assert_int_equal((size_t)h + (size_t)cn, (size_t)fl);
            assert_memory_equal(frame + h, c, (size_t)cn);
            size_t on;
            assert_int_equal(ws_inflate_message(inf, frame + h, (size_t)cn, out, n, &on), 0);
            assert_int_equal(on, n);
            if (n)
                assert_memory_equal(out, msg, n);
            /* exact room */
            assert_int_equal(ws_deflate_frame(d, op, msg, n, frame, (size_t)fl), fl);
        }
    }
    assert_int_equal(ws_deflate_frame(d, WS_OP_PING, msg, 1, frame, 100), WSP_EINVAL);
    assert_int_equal(ws_deflate_frame(d, WS_OP_CONT, msg, 1, frame, 100), WSP_EINVAL);
    assert_int_equal(ws_deflate_frame(d, WS_OP_TEXT, msg, 1, frame, 1), WSP_ETOOBIG);
    fill(msg, 5000, 0);
    assert_int_equal(ws_deflate_frame(d, WS_OP_BINARY, msg, 5000, frame, 3000), WSP_ETOOBIG);
    free(msg);
    free(frame);
    free(c);
    free(out);
    ws_deflater_free(d);
    ws_inflater_free(inf);
}

static void test_ws_deflate_bad_args(void **state)
{
    (void)state;
    assert_null(ws_deflater_new(6, 8)); /* zlib has no raw 256-byte window */
    assert_null(ws_deflater_new(6, 16));
    assert_null(ws_deflater_new(10, 15));
    assert_null(ws_deflater_new(-2, 15));
    struct ws_deflater *d = ws_deflater_new(-1, 15);
    assert_non_null(d);
    ws_deflater_free(d);
    ws_deflater_free(NULL);
    ws_inflater_free(NULL);
    uint8_t out[4];
    size_t on;
    assert_int_equal(ws_deflate_message(NULL, out, 1, out, 4), WSP_EINVAL);
    assert_int_equal(ws_inflate_message(NULL, out, 1, out, 4, &on), WSP_EINVAL);
    assert_true(ws_deflate_bound(0) >= 6);
}

/* A few KiB of compressed zeros that would inflate to 64 MiB stop at the
 * bound at once, without allocating beyond it. */
static void test_ws_deflate_bomb(void **state)
{
    (void)state;
    size_t big = 64u << 20;
    uint8_t *zeros = calloc(1, big);
    assert_non_null(zeros);
    struct ws_deflater *d = ws_deflater_new(9, 15);
    assert_non_null(d);
    size_t cap = ws_deflate_bound(big);
    uint8_t *c = malloc(cap);
    assert_non_null(c);
    ssize_t cn = ws_deflate_message(d, zeros, big, c, cap);
    assert_true(cn > 0 && cn < 100000);
    free(zeros);
    struct ws_inflater *inf = ws_inflater_new();
    assert_non_null(inf);
    size_t max = 1u << 20;
    uint8_t *out = malloc(max);
    assert_non_null(out);
    size_t on = 12345;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(ws_inflate_message(inf, c, (size_t)cn, out, max, &on), WSP_ETOOBIG);
    assert_int_equal(on, 12345); /* untouched on failure */
    const uint8_t *sp;
    assert_int_equal(ws_inflate_scratch(inf, c, (size_t)cn, max, &sp, &on), WSP_ETOOBIG);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 1000); /* ~1 MiB of output work each, even under ASan */
    /* zero bound: any output is too much */
    assert_int_equal(ws_inflate_message(inf, c, (size_t)cn, NULL, 0, &on), WSP_ETOOBIG);
    /* the inflater is fine afterwards */
    static const uint8_t hello_c[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    assert_int_equal(ws_inflate_scratch(inf, hello_c, 7, 5, &sp, &on), 0);
    assert_int_equal(on, 5);
    assert_memory_equal(sp, "Hello", 5);
    free(out);
    free(c);
    ws_deflater_free(d);
    ws_inflater_free(inf);
}

static void test_ws_deflate_corrupt(void **state)
{
    (void)state;
    struct ws_inflater *inf = ws_inflater_new();
    assert_non_null(inf);
    uint8_t out[256];
    size_t on;
    /* BTYPE 11 (reserved) */
    assert_int_equal(ws_inflate_message(inf, (const uint8_t *)"\x06", 1, out, sizeof out, &on),
                     WSP_EPROTO);
    assert_int_equal(ws_inflate_message(inf, (const uint8_t *)"\x07", 1, out, sizeof out, &on),
                     WSP_EPROTO);
    /* stored block with a bad NLEN */
    static const uint8_t badlen[] = {0x00, 0x05, 0x00, 0x00, 0x00, 'H', 'e', 'l', 'l', 'o', 0x00};
    assert_int_equal(ws_inflate_message(inf, badlen, sizeof badlen, out, sizeof out, &on),
                     WSP_EPROTO);
    /* a truncated message (every proper prefix of "Hello") */
    static const uint8_t hello_c[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    for (size_t k = 1; k < sizeof hello_c; k++)
        if (ws_inflate_message(inf, hello_c, k, out, sizeof out, &on) != WSP_EPROTO)
            fail_msg("prefix %zu accepted", k);
    /* distance too far back */
    static const uint8_t far[] = {0xf2, 0x00, 0x11, 0x00, 0x00};
    assert_int_equal(ws_inflate_message(inf, far, sizeof far, out, sizeof out, &on), WSP_EPROTO);
    /* random garbage: never crashes, never writes past the bound */
    uint8_t junk[300];
    for (int it = 0; it < 3000; it++) {
        size_t n = 1 + rnd() % sizeof junk;
        for (size_t k = 0; k < n; k++)
            junk[k] = (uint8_t)rnd();
        size_t max = rnd() % 200;
        memset(out, 0xa5, sizeof out);
        int rc = ws_inflate_message(inf, junk, n, out, max, &on);
        assert_true(rc == 0 || rc == WSP_EPROTO || rc == WSP_ETOOBIG);
        if (rc == 0)
            assert_true(on <= max);
        for (size_t k = max; k < sizeof out; k++)
            assert_int_equal(out[k], 0xa5);
    }
    ws_inflater_free(inf);
}

/* The scratch grows with the output, never past the bound, and is kept. */
static void test_ws_deflate_scratch(void **state)
{
    (void)state;
    struct ws_deflater *d = ws_deflater_new(6, 15);
    struct ws_inflater *inf = ws_inflater_new();
    assert_non_null(d);
    assert_non_null(inf);
    size_t n = 300000;
    uint8_t *msg = malloc(n), *c = malloc(ws_deflate_bound(n));
    assert_non_null(msg);
    assert_non_null(c);
    fill(msg, n, 1);
    ssize_t cn = ws_deflate_message(d, msg, n, c, ws_deflate_bound(n));
    assert_true(cn > 0);
    const uint8_t *sp = NULL;
    size_t on = 0;
    assert_int_equal(ws_inflate_scratch(inf, c, (size_t)cn, n, &sp, &on), 0);
    assert_int_equal(on, n);
    assert_memory_equal(sp, msg, n);
    assert_int_equal(ws_inflate_scratch(inf, c, (size_t)cn, n - 1, &sp, &on), WSP_ETOOBIG);
    /* empty results still give a pointer */
    sp = NULL;
    assert_int_equal(ws_inflate_scratch(inf, (const uint8_t *)"\x00", 1, 0, &sp, &on), 0);
    assert_non_null(sp);
    assert_int_equal(on, 0);
    free(msg);
    free(c);
    ws_deflater_free(d);
    ws_inflater_free(inf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_deflate_negotiate_table),
        cmocka_unit_test(test_ws_deflate_negotiate_headers),
        cmocka_unit_test(test_ws_deflate_compress_once_many_clients),
        cmocka_unit_test(test_ws_deflate_incompressible_bound),
        cmocka_unit_test(test_ws_deflate_rfc_examples),
        cmocka_unit_test(test_ws_deflate_frame),
        cmocka_unit_test(test_ws_deflate_bad_args),
        cmocka_unit_test(test_ws_deflate_bomb),
        cmocka_unit_test(test_ws_deflate_corrupt),
        cmocka_unit_test(test_ws_deflate_scratch),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
