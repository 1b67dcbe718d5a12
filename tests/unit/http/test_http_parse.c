/* test_http_parse.c - request-head parser and its helpers.
 *
 * Every table case is fed split at every byte position, each prefix placed
 * against a guard page (an over-read crashes) and once more in an exact-size
 * heap copy (ASan catches an over-read). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "http/http_parse.h"

/* ---- input placement ---------------------------------------------------- */

#define GUARD_DATA_PAGES 24 /* room for the largest generated head */
#include "../guard_page.h"

static ssize_t parse_at_guard(const void *d, size_t n, const struct http_limits *lim,
                              struct http_req *r)
{
    return http_parse_request(at_guard(d, n), n, lim, r);
}

/* ---- the table ---------------------------------------------------------- */

struct pcase {
    const char *name;
    const char *in;
    size_t len;      /* 0: strlen(in) */
    ssize_t rc;      /* expected for the whole input */
    int status;      /* expected r.status */
    size_t head_len; /* success only, when bytes follow the head; 0: len */
};

#define OK(n, s)                                                                                   \
    {                                                                                              \
        n, s, 0, 0, 0, 0                                                                           \
    }
#define BAD(n, s, st)                                                                              \
    {                                                                                              \
        n, s, 0, WSP_EPROTO, st, 0                                                                 \
    }
#define BADN(n, s, st)                                                                             \
    {                                                                                              \
        n, s, sizeof(s) - 1, WSP_EPROTO, st, 0                                                     \
    }

static const char upgrade_req[] = "GET /chat HTTP/1.1\r\n"
                                  "Host: server.example.com\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Origin: http://example.com\r\n"
                                  "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "\r\n";

static const struct pcase cases[] = {
    OK("rfc6455 upgrade", upgrade_req),
    OK("http/1.0 no headers", "GET / HTTP/1.0\r\n\r\n"),
    OK("query", "GET /topic?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n\r\n"),
    OK("ows trimmed", "GET / HTTP/1.1\r\nX-A: \t v a l \t \r\nX-Empty:\r\nX-Sp:   \r\n\r\n"),
    OK("leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
    OK("obs-text value", "GET / HTTP/1.1\r\nX: caf\xc3\xa9\xff\r\n\r\n"),
    OK("asterisk form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
    OK("absolute form", "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n"),
    OK("absolute form no path", "GET http://a.example HTTP/1.1\r\n\r\n"),
    OK("absolute form ws port", "GET WS://a.example:80/t HTTP/1.1\r\n\r\n"),
    OK("double-slash origin form", "GET //a/b HTTP/1.1\r\n\r\n"),
    OK("token method", "M-SEARCH * HTTP/1.1\r\nMan: \"ssdp:discover\"\r\n\r\n"),
    OK("empty query", "GET /? HTTP/1.1\r\n\r\n"),
    OK("odd name chars", "GET / HTTP/1.1\r\nX!#$%&'*+-.^_`|~0z: v\r\n\r\n"),
    OK("no space after colon", "GET / HTTP/1.1\r\nHost:a\r\n\r\n"),
    {"body follows", "POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 0, 0, 0, 39},
    {"pipelined", "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 0, 0, 0, 19},
    {"garbage after head", "GET / HTTP/1.1\r\n\r\n\n\0\x01", 21, 0, 0, 18},

    BAD("double space", "GET  / HTTP/1.1\r\n\r\n", 400),
    BAD("trailing space", "GET / HTTP/1.1 \r\n\r\n", 400),
    BAD("space in target", "GET /a b HTTP/1.1\r\n\r\n", 400),
    BAD("tab separator", "GET\t/ HTTP/1.1\r\n\r\n", 400),
    BAD("leading space", " GET / HTTP/1.1\r\n\r\n", 400),
    BAD("empty method", " / HTTP/1.1\r\n\r\n", 400),
    BAD("method not token", "G(T / HTTP/1.1\r\n\r\n", 400),
    BAD("method with slash", "GE/T / HTTP/1.1\r\n\r\n", 400),
    BAD("lowercase version", "GET / http/1.1\r\n\r\n", 400),
    BAD("version 1.10", "GET / HTTP/1.10\r\n\r\n", 400),
    BAD("version no minor", "GET / HTTP/1\r\n\r\n", 400),
    BAD("version letters", "GET / HTTP/x.y\r\n\r\n", 400),
    BAD("http/0.9", "GET /\r\n\r\n", 400),
    BAD("bare LF request line", "GET / HTTP/1.1\n\n", 400),
    BAD("bare LF header", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
    BAD("bare LF end", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
    BAD("bare LF before request", "\nGET / HTTP/1.1\r\n\r\n", 400),
    BAD("bare CR request line", "GET / HTTP/1.1\rX\n\r\n", 400),
    BAD("bare CR header", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
    BAD("bare CR end", "GET / HTTP/1.1\r\n\rX", 400),
    BAD("bare CR before request", "\r\rGET / HTTP/1.1\r\n\r\n", 400),
    BAD("obs-fold", "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400),
    BAD("obs-fold tab", "GET / HTTP/1.1\r\nX: a\r\n\tfolded\r\n\r\n", 400),
    BAD("space before first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    BAD("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    BAD("tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    BAD("empty header name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400),
    BAD("bad name char", "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400),
    BAD("name with slash", "GET / HTTP/1.1\r\nX/Y: a\r\n\r\n", 400),
    BAD("name obs-text", "GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n", 400),
    BAD("no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400),
    BAD("control in value", "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", 400),
    BAD("DEL in value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400),
    BAD("ESC in value", "GET / HTTP/1.1\r\nX: \x1b[0m\r\n\r\n", 400),
    BAD("obs-text in target", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400),
    BAD("control in target", "GET /a\x01 HTTP/1.1\r\n\r\n", 400),
    /* issue 11: only origin-form, absolute-form and '*' reach routing */
    BAD("relative target", "GET news HTTP/1.1\r\n\r\n", 400),
    BAD("authority form", "CONNECT a.example:443 HTTP/1.1\r\n\r\n", 400),
    BAD("scheme without authority", "GET http:/x/news HTTP/1.1\r\n\r\n", 400),
    BAD("empty authority", "GET http:///news HTTP/1.1\r\n\r\n", 400),
    BAD("scheme starts with digit", "GET 1http://x/ HTTP/1.1\r\n\r\n", 400),
    BAD("userinfo in authority", "GET http://u:p@x/news HTTP/1.1\r\n\r\n", 400),
    BAD("fragment in target", "GET /news#x HTTP/1.1\r\n\r\n", 400),
    BADN("tls client hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    BADN("NUL in method", "G\0T / HTTP/1.1\r\n\r\n", 400),
    BADN("NUL in target", "GET /\0 HTTP/1.1\r\n\r\n", 400),
    BADN("NUL in version", "GET / HTTP/1.\0\r\n\r\n", 400),
    BADN("NUL in name", "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n", 400),
    BADN("NUL in value", "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 400),
    BADN("NUL line", "GET / HTTP/1.1\r\n\0\r\n\r\n", 400),
    BADN("NUL first", "\0GET / HTTP/1.1\r\n\r\n", 400),

    BAD("http/2.0", "GET / HTTP/2.0\r\n\r\n", 505),
    BAD("http/1.2", "GET / HTTP/1.2\r\n\r\n", 505),
    BAD("http/0.9 line", "GET / HTTP/0.9\r\n\r\n", 505),
    BAD("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
};

/* rc/status for every prefix: EAGAIN until the answer is known, then the
 * whole input's answer (a parser that answers early must answer the same). */
static void check_case_splits(const char *name, const uint8_t *in, size_t len,
                              const struct http_limits *lim, ssize_t rc, int status,
                              size_t head_len)
{
    struct http_req r;
    bool decided = false;
    for (size_t cut = 0; cut <= len; cut++) {
        ssize_t got = parse_at_guard(in, cut, lim, &r);
        if (rc >= 0) {
            ssize_t want = cut < head_len ? WSP_EAGAIN : (ssize_t)head_len;
            if (got != want)
                fail_msg("%s: cut %zu: got %zd want %zd", name, cut, got, want);
            if (got >= 0 && r.status != 0)
                fail_msg("%s: cut %zu: status %d on success", name, cut, r.status);
            continue;
        }
        if (got == WSP_EAGAIN && !decided && cut < len)
            continue;
        if (got != rc || r.status != status || !r.reason)
            fail_msg("%s: cut %zu/%zu: got %zd status %d want %zd status %d", name, cut, len, got,
                     r.status, rc, status);
        decided = true;
    }
}

/* One exact-size heap copy of the whole input: ASan sees any over-read. */
static void check_case_heap(const char *name, const uint8_t *in, size_t len,
                            const struct http_limits *lim, ssize_t rc, int status, size_t head_len)
{
    uint8_t *h = malloc(len ? len : 1);
    assert_non_null(h);
    memcpy(h, in, len);
    struct http_req r;
    ssize_t got = http_parse_request(h, len, lim, &r);
    ssize_t want = rc >= 0 ? (ssize_t)head_len : rc;
    if (got != want || r.status != status)
        fail_msg("%s (heap): got %zd status %d", name, got, r.status);
    if (got > 0) {
        for (size_t i = 0; i < r.num_headers; i++) {
            const char *lo = (const char *)h, *hi = (const char *)h + got;
            assert_true(r.headers[i].name >= lo && r.headers[i].name + r.headers[i].name_len <= hi);
            assert_true(r.headers[i].value >= lo &&
                        r.headers[i].value + r.headers[i].value_len <= hi);
        }
    }
    free(h);
}

static void test_http_parse_table_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct pcase *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        size_t head = c->head_len ? c->head_len : len;
        check_case_splits(c->name, (const uint8_t *)c->in, len, NULL, c->rc, c->status, head);
        check_case_heap(c->name, (const uint8_t *)c->in, len, NULL, c->rc, c->status, head);
    }
}

/* ---- fields -------------------------------------------------------------- */

static bool field_is(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static void test_http_parse_upgrade_fields(void **state)
{
    (void)state;
    struct http_req r;
    size_t n = sizeof upgrade_req - 1;
    const uint8_t *b = at_guard(upgrade_req, n);
    assert_int_equal(http_parse_request(b, n, NULL, &r), n);
    assert_true(field_is(r.method, r.method_len, "GET"));
    assert_true(field_is(r.target, r.target_len, "/chat"));
    assert_true(field_is(r.path, r.path_len, "/chat"));
    assert_null(r.query);
    assert_int_equal(r.query_len, 0);
    assert_int_equal(r.minor_version, 1);
    assert_int_equal(r.num_headers, 7);
    assert_int_equal(r.status, 0);
    assert_null(r.reason);
    assert_true(field_is(r.headers[0].name, r.headers[0].name_len, "Host"));
    assert_true(field_is(r.headers[0].value, r.headers[0].value_len, "server.example.com"));
    assert_true(field_is(r.headers[6].name, r.headers[6].name_len, "Sec-WebSocket-Version"));
    assert_true(field_is(r.headers[6].value, r.headers[6].value_len, "13"));

    const struct http_header *h = http_req_header(&r, "sec-websocket-key");
    assert_non_null(h);
    assert_true(field_is(h->value, h->value_len, "dGhlIHNhbXBsZSBub25jZQ=="));
    assert_ptr_equal(http_req_header(&r, "HOST"), &r.headers[0]);
    assert_ptr_equal(http_req_header(&r, "host"), &r.headers[0]);
    assert_null(http_req_header(&r, "Hos"));
    assert_null(http_req_header(&r, "Hostx"));
    assert_null(http_req_header(&r, "Cookie"));
    assert_int_equal(http_req_header_count(&r, "UPGRADE"), 1);
    assert_int_equal(http_req_header_count(&r, "cookie"), 0);
    h = http_req_header(&r, "Connection");
    assert_true(http_token_list_has(h->value, h->value_len, "upgrade"));
}

static void test_http_parse_query_and_version(void **state)
{
    (void)state;
    struct http_req r;
    const char *s = "POST /publish/news?topic=a&x HTTP/1.0\r\n\r\n";
    assert_int_equal(parse_at_guard(s, strlen(s), NULL, &r), strlen(s));
    assert_true(field_is(r.method, r.method_len, "POST"));
    assert_true(field_is(r.path, r.path_len, "/publish/news"));
    assert_true(field_is(r.query, r.query_len, "topic=a&x"));
    assert_true(field_is(r.target, r.target_len, "/publish/news?topic=a&x"));
    assert_int_equal(r.minor_version, 0);
    assert_int_equal(r.num_headers, 0);

    s = "GET /? HTTP/1.1\r\n\r\n";
    assert_int_equal(parse_at_guard(s, strlen(s), NULL, &r), strlen(s));
    assert_non_null(r.query);
    assert_int_equal(r.query_len, 0);
    assert_true(field_is(r.path, r.path_len, "/"));

    s = "GET /a?b?c HTTP/1.1\r\n\r\n"; /* the first '?' splits */
    assert_int_equal(parse_at_guard(s, strlen(s), NULL, &r), strlen(s));
    assert_true(field_is(r.path, r.path_len, "/a"));
    assert_true(field_is(r.query, r.query_len, "b?c"));
}

/* issue 11: "GET http://x/news" subscribed to topic "ttp://x/news". RFC 9112
 * §3.2.2: a server MUST accept absolute-form; its path and query are what
 * the origin-form would carry ("/" when the path is empty). Every prefix of
 * the head is incomplete; the whole gives these fields. */
static void test_http_parse_absolute_form_every_split(void **state)
{
    (void)state;
    static const struct {
        const char *target, *path, *query; /* query NULL: none */
    } forms[] = {
        {"http://x/news", "/news", NULL},
        {"http://x/news?topic=a&b", "/news", "topic=a&b"},
        {"HTTPS://x.example:8443/a/b?", "/a/b", ""},
        {"http://x", "/", NULL},
        {"http://x?q=1", "/", "q=1"},
        {"ws://[::1]:80/t", "/t", NULL},
        {"a+b-c.d://h/p?x?y", "/p", "x?y"},
        {"/plain?q", "/plain", "q"},
        {"*", "*", NULL},
    };
    char head[256];
    struct http_req r;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        int n = snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", forms[i].target);
        for (int cut = 0; cut < n; cut++)
            if (parse_at_guard(head, (size_t)cut, NULL, &r) != WSP_EAGAIN)
                fail_msg("%s: cut %d is not incomplete", forms[i].target, cut);
        if (parse_at_guard(head, (size_t)n, NULL, &r) != n)
            fail_msg("%s: rejected (%d %s)", forms[i].target, r.status, r.reason);
        if (!field_is(r.path, r.path_len, forms[i].path))
            fail_msg("%s: path '%.*s'", forms[i].target, (int)r.path_len, r.path);
        if (!forms[i].query)
            assert_null(r.query);
        else if (!r.query || !field_is(r.query, r.query_len, forms[i].query))
            fail_msg("%s: query '%.*s'", forms[i].target, (int)r.query_len, r.query ? r.query : "");
        assert_true(field_is(r.target, r.target_len, forms[i].target));
    }
}

static void test_http_parse_value_trimming(void **state)
{
    (void)state;
    struct http_req r;
    const char *s = "GET / HTTP/1.1\r\nX-A: \t v a l \t \r\nX-Empty:\r\nX-Sp:   \r\n"
                    "X-Tab:a\tb\r\n\r\n";
    assert_int_equal(parse_at_guard(s, strlen(s), NULL, &r), strlen(s));
    assert_int_equal(r.num_headers, 4);
    assert_true(field_is(r.headers[0].value, r.headers[0].value_len, "v a l"));
    assert_int_equal(r.headers[1].value_len, 0);
    assert_non_null(r.headers[1].value);
    assert_int_equal(r.headers[2].value_len, 0);
    assert_non_null(r.headers[2].value);
    assert_true(field_is(r.headers[3].value, r.headers[3].value_len, "a\tb"));
}

static void test_http_parse_duplicates(void **state)
{
    (void)state;
    struct http_req r;
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nhost: b\r\nHOST: c\r\n\r\n";
    assert_int_equal(parse_at_guard(s, strlen(s), NULL, &r), strlen(s));
    assert_int_equal(http_req_header_count(&r, "Host"), 3);
    assert_int_equal(http_req_header_count(&r, "x"), 1);
    const struct http_header *h = http_req_header(&r, "hOsT");
    assert_non_null(h);
    assert_true(field_is(h->value, h->value_len, "a"));
}

static void test_http_parse_leading_crlf_fields(void **state)
{
    (void)state;
    struct http_req r;
    const char *s = "\r\n\r\nGET /x HTTP/1.1\r\n\r\n";
    assert_int_equal(parse_at_guard(s, strlen(s), NULL, &r), strlen(s));
    assert_true(field_is(r.method, r.method_len, "GET"));
    assert_true(field_is(r.path, r.path_len, "/x"));
}

/* The answer to an error does not leak a previous success's status. */
static void test_http_parse_reuses_req(void **state)
{
    (void)state;
    struct http_req r;
    const char *bad = "GET / HTTP/2.0\r\n\r\n", *good = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(parse_at_guard(bad, strlen(bad), NULL, &r), WSP_EPROTO);
    assert_int_equal(r.status, 505);
    assert_int_equal(parse_at_guard(good, strlen(good), NULL, &r), strlen(good));
    assert_int_equal(r.status, 0);
    assert_null(r.reason);
}

/* ---- limits -------------------------------------------------------------- */

/* A head built in a static buffer: request line with a target of
 * target_len bytes, then n_headers "X-<i>: v" lines, then pad bytes of one
 * more header (0: none), then CRLF. */
static char big[GUARD_DATA_PAGES * 4096];

static size_t build_head(size_t target_len, size_t n_headers, size_t pad, bool terminate)
{
    size_t n = 0;
    memcpy(big + n, "GET /", 5);
    n += 5;
    for (size_t i = 1; i < target_len; i++)
        big[n++] = (char)('a' + i % 26);
    memcpy(big + n, " HTTP/1.1\r\n", 11);
    n += 11;
    for (size_t i = 0; i < n_headers; i++)
        n += (size_t)sprintf(big + n, "X-%zu: v\r\n", i);
    if (pad) {
        memcpy(big + n, "Pad: ", 5);
        n += 5;
        memset(big + n, 'p', pad);
        n += pad;
        memcpy(big + n, "\r\n", 2);
        n += 2;
    }
    if (terminate) {
        memcpy(big + n, "\r\n", 2);
        n += 2;
    }
    return n;
}

static void expect_parse(size_t n, const struct http_limits *lim, ssize_t rc, int status)
{
    struct http_req r;
    ssize_t got = parse_at_guard(big, n, lim, &r);
    if (got != rc || r.status != status)
        fail_msg("len %zu: got %zd status %d, want %zd status %d", n, got, r.status, rc, status);
}

static void test_http_parse_target_limit(void **state)
{
    (void)state;
    /* a head limit with room for the longest target (--max-head 64KiB) */
    struct http_limits roomy = {.max_head_bytes = 4 * HTTP_MAX_TARGET_BYTES, .max_headers = 0};
    size_t n = build_head(HTTP_MAX_TARGET_BYTES, 1, 0, true);
    expect_parse(n, &roomy, (ssize_t)n, 0);
    n = build_head(HTTP_MAX_TARGET_BYTES + 1, 1, 0, true);
    expect_parse(n, &roomy, WSP_ETOOBIG, 414);
    check_case_splits("414 splits", (const uint8_t *)big, n, &roomy, WSP_ETOOBIG, 414, 0);
    /* Answered while the target is still arriving: "GET " + the limit + 1. */
    expect_parse(4 + HTTP_MAX_TARGET_BYTES + 1, &roomy, WSP_ETOOBIG, 414);
    expect_parse(4 + HTTP_MAX_TARGET_BYTES, &roomy, WSP_EAGAIN, 0);

    /* A request line longer than a small head limit: still 414. */
    struct http_limits small = {.max_head_bytes = 256, .max_headers = 0};
    n = build_head(300, 0, 0, true);
    expect_parse(n, &small, WSP_ETOOBIG, 414);
    expect_parse(255, &small, WSP_EAGAIN, 0);
    expect_parse(256, &small, WSP_ETOOBIG, 414);
}

static void test_http_parse_header_count_limit(void **state)
{
    (void)state;
    size_t n = build_head(1, HTTP_DEFAULT_HEADERS, 0, true);
    expect_parse(n, NULL, (ssize_t)n, 0);
    n = build_head(1, HTTP_DEFAULT_HEADERS + 1, 0, true);
    expect_parse(n, NULL, WSP_ETOOBIG, 431);
    check_case_splits("65 headers", (const uint8_t *)big, n, NULL, WSP_ETOOBIG, 431, 0);

    struct http_limits two = {.max_head_bytes = 0, .max_headers = 2};
    n = build_head(1, 2, 0, true);
    expect_parse(n, &two, (ssize_t)n, 0);
    n = build_head(1, 3, 0, true);
    expect_parse(n, &two, WSP_ETOOBIG, 431);

    /* A configured limit above the array's size is clamped to it. */
    struct http_limits huge = {.max_head_bytes = sizeof big, .max_headers = 100000};
    n = build_head(1, HTTP_MAX_HEADERS_CAP, 0, true);
    expect_parse(n, &huge, (ssize_t)n, 0);
    n = build_head(1, HTTP_MAX_HEADERS_CAP + 1, 0, true);
    expect_parse(n, &huge, WSP_ETOOBIG, 431);
}

static void test_http_parse_head_size_limit(void **state)
{
    (void)state;
    /* Fit the head to exactly 8192 bytes, then one more. */
    size_t base = build_head(1, 0, 1, true);
    size_t pad = HTTP_DEFAULT_HEAD_BYTES - base + 1;
    size_t n = build_head(1, 0, pad, true);
    assert_int_equal(n, HTTP_DEFAULT_HEAD_BYTES);
    expect_parse(n, NULL, (ssize_t)n, 0);
    check_case_splits("8192 head", (const uint8_t *)big, n, NULL, (ssize_t)n, 0, n);

    n = build_head(1, 0, pad + 1, true);
    assert_int_equal(n, HTTP_DEFAULT_HEAD_BYTES + 1);
    expect_parse(n, NULL, WSP_ETOOBIG, 431);
    check_case_splits("8193 head", (const uint8_t *)big, n, NULL, WSP_ETOOBIG, 431, 0);
    /* The head's last byte is what crosses the limit: EAGAIN just before
     * the limit, 431 at it, with no CRLFCRLF in sight. */
    expect_parse(HTTP_DEFAULT_HEAD_BYTES - 1, NULL, WSP_EAGAIN, 0);
    expect_parse(HTTP_DEFAULT_HEAD_BYTES, NULL, WSP_ETOOBIG, 431);

    /* Slowloris: an endless header line is refused at the limit. */
    n = build_head(1, 0, 3 * HTTP_DEFAULT_HEAD_BYTES, false);
    n -= 2; /* drop the pad line's CRLF */
    expect_parse(HTTP_DEFAULT_HEAD_BYTES - 1, NULL, WSP_EAGAIN, 0);
    expect_parse(HTTP_DEFAULT_HEAD_BYTES, NULL, WSP_ETOOBIG, 431);
    expect_parse(n, NULL, WSP_ETOOBIG, 431);

    /* Many small headers past the size limit before the count limit. */
    struct http_limits lim = {.max_head_bytes = 128, .max_headers = 64};
    n = build_head(1, 20, 0, true);
    expect_parse(n, &lim, WSP_ETOOBIG, 431);
    expect_parse(127, &lim, WSP_EAGAIN, 0);

    /* Endless empty lines before the request line. */
    for (size_t i = 0; i < sizeof big / 2; i++)
        memcpy(big + 2 * i, "\r\n", 2);
    expect_parse(HTTP_DEFAULT_HEAD_BYTES - 1, NULL, WSP_EAGAIN, 0);
    expect_parse(sizeof big, NULL, WSP_ETOOBIG, 431);
}

/* A complete head followed by more bytes than the limit: bytes past the
 * head (a body) do not count. */
static void test_http_parse_body_past_limit(void **state)
{
    (void)state;
    const char *head = "POST /publish HTTP/1.1\r\nContent-Length: 20000\r\n\r\n";
    size_t h = strlen(head);
    memset(big, 'b', sizeof big);
    memcpy(big, head, h);
    struct http_limits lim = {.max_head_bytes = 1024, .max_headers = 0};
    expect_parse(20000 + h, &lim, (ssize_t)h, 0);
    expect_parse(20000 + h, NULL, (ssize_t)h, 0);
}

/* ---- token lists --------------------------------------------------------- */

static bool tl(const char *v, const char *tok)
{
    return http_token_list_has(v, strlen(v), tok);
}

static void test_http_token_list(void **state)
{
    (void)state;
    assert_true(tl("Upgrade", "upgrade"));
    assert_true(tl("keep-alive, Upgrade", "upgrade"));
    assert_true(tl("keep-alive, Upgrade", "KEEP-ALIVE"));
    assert_true(tl("keep-alive,Upgrade", "Upgrade"));
    assert_true(tl(" \t, ,upgrade\t ,, ", "Upgrade"));
    assert_true(tl(",,,Upgrade", "upgrade"));
    assert_true(tl("a , b ,\tc", "b"));
    assert_true(tl("a , b ,\tc", "c"));
    assert_false(tl("upgrades", "upgrade"));
    assert_false(tl("xupgrade", "upgrade"));
    assert_false(tl("keep-alive, upgrades", "upgrade"));
    assert_false(tl("up grade", "upgrade"));
    assert_false(tl("upgrade-x, close", "upgrade"));
    assert_false(tl("upgr", "upgrade"));
    assert_false(tl("", "upgrade"));
    assert_false(tl(" , ,", "upgrade"));
    assert_false(tl("a, b", ""));
    assert_false(tl("a, ,b", ""));
    /* Only the first len bytes count. */
    assert_true(http_token_list_has("close, Upgrade", 5, "close"));
    assert_false(http_token_list_has("close, Upgrade", 5, "upgrade"));
    assert_false(http_token_list_has("Upgrade", 6, "upgrade"));
}

static void test_http_str_ieq(void **state)
{
    (void)state;
    assert_true(http_str_ieq("WebSocket", 9, "websocket"));
    assert_true(http_str_ieq("", 0, ""));
    assert_true(http_str_ieq(NULL, 0, ""));
    assert_false(http_str_ieq("WebSocket", 8, "websocket"));
    assert_false(http_str_ieq("websocket", 9, "websockets"));
    assert_false(http_str_ieq("a", 1, ""));
    /* '@' and '`', '[' and '{' differ by 0x20 but are not letters. */
    assert_false(http_str_ieq("@", 1, "`"));
    assert_false(http_str_ieq("[", 1, "{"));
    assert_false(http_str_ieq("\xc3", 1, "\xe3"));
}

/* ---- percent-decoding --------------------------------------------------- */

static ssize_t dec(const char *in, char *out, size_t cap, bool plus)
{
    return http_pct_decode(in, strlen(in), out, cap, plus);
}

static void test_http_pct_decode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(dec("a%20b", out, sizeof out, false), 3);
    assert_memory_equal(out, "a b", 3);
    assert_int_equal(dec("%41%7a%7A%c3%A9", out, sizeof out, false), 5);
    assert_memory_equal(out, "Azz\xc3\xa9", 5);
    assert_int_equal(dec("a+b", out, sizeof out, true), 3);
    assert_memory_equal(out, "a b", 3);
    assert_int_equal(dec("a+b", out, sizeof out, false), 3);
    assert_memory_equal(out, "a+b", 3);
    assert_int_equal(dec("%2B", out, sizeof out, true), 1);
    assert_memory_equal(out, "+", 1);
    assert_int_equal(dec("%00", out, sizeof out, false), 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(dec("", out, sizeof out, false), 0);
    assert_int_equal(http_pct_decode(NULL, 0, NULL, 0, false), 0);

    assert_int_equal(dec("%zz", out, sizeof out, false), WSP_EPROTO);
    assert_int_equal(dec("%4g", out, sizeof out, false), WSP_EPROTO);
    assert_int_equal(dec("%g4", out, sizeof out, false), WSP_EPROTO);
    assert_int_equal(dec("ab%4", out, sizeof out, false), WSP_EPROTO);
    assert_int_equal(dec("ab%", out, sizeof out, false), WSP_EPROTO);
    assert_int_equal(dec("%", out, sizeof out, false), WSP_EPROTO);
    assert_int_equal(dec("% 41", out, sizeof out, false), WSP_EPROTO);
    assert_int_equal(dec("%-1", out, sizeof out, false), WSP_EPROTO);
    /* A truncated escape at the end of a longer buffer is not read past n. */
    assert_int_equal(http_pct_decode("a%41", 3, out, sizeof out, false), WSP_EPROTO);

    /* Too small: nothing written past cap. */
    memset(out, '#', sizeof out);
    assert_int_equal(dec("abcdef", out, 3, false), WSP_ETOOBIG);
    assert_memory_equal(out, "abc###", 6);
    assert_int_equal(dec("ab%41", out, 2, false), WSP_ETOOBIG);
    assert_int_equal(dec("ab%41", out, 3, false), 3);
    assert_int_equal(dec("x", out, 0, false), WSP_ETOOBIG);

    /* In place. */
    char buf[] = "topic%2Fa+b%20c";
    ssize_t n = http_pct_decode(buf, strlen(buf), buf, sizeof buf, true);
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "topic/a b c", 11);
}

static void test_http_pct_decode_exact_heap(void **state)
{
    (void)state;
    const char *ins[] = {"%41", "%4", "abc%", "%e2%82%ac", "++%2b"};
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        size_t n = strlen(ins[i]);
        char *in = malloc(n);
        char *out = malloc(n);
        assert_non_null(in);
        assert_non_null(out);
        memcpy(in, ins[i], n);
        ssize_t a = http_pct_decode(in, n, out, n, true);
        ssize_t b = http_pct_decode(in, n, in, n, true); /* in place */
        assert_int_equal(a, b);
        if (a > 0)
            assert_memory_equal(in, out, (size_t)a);
        free(in);
        free(out);
    }
}

/* ---- query iteration ---------------------------------------------------- */

struct kv {
    const char *k, *v; /* v NULL: no '=' */
};

static void check_query(const char *q, const struct kv *want, size_t n_want)
{
    size_t pos = 0, i = 0;
    const char *k, *v;
    size_t kl, vl;
    size_t qlen = q ? strlen(q) : 0;
    while (http_query_next(q, qlen, &pos, &k, &kl, &v, &vl) == 1) {
        assert_true(i < n_want);
        if (!field_is(k, kl, want[i].k))
            fail_msg("query \"%s\" pair %zu: key \"%.*s\"", q, i, (int)kl, k);
        if (want[i].v) {
            assert_non_null(v);
            if (!field_is(v, vl, want[i].v))
                fail_msg("query \"%s\" pair %zu: val \"%.*s\"", q, i, (int)vl, v);
        } else {
            assert_null(v);
            assert_int_equal(vl, 0);
        }
        assert_true(pos <= qlen);
        i++;
    }
    assert_int_equal(i, n_want);
    /* Stays at the end. */
    assert_int_equal(http_query_next(q, qlen, &pos, &k, &kl, &v, &vl), 0);
}

static void test_http_query_next(void **state)
{
    (void)state;
    const struct kv a[] = {{"a", "1"}, {"b", "2"}, {"topic", "x"}};
    check_query("a=1&b=2&topic=x", a, 3);
    const struct kv b[] = {{"a", "1"}, {"b", "2"}};
    check_query("&&a=1&&&b=2&", b, 2);
    const struct kv c[] = {{"flag", NULL}, {"k", ""}, {"", "v"}, {"x", "=y"}};
    check_query("flag&k=&=v&x==y", c, 4);
    check_query("", NULL, 0);
    check_query(NULL, NULL, 0);
    check_query("&", NULL, 0);
    check_query("&&&", NULL, 0);
    const struct kv d[] = {{"topic", "a%2Fb"}, {"topic", "c+d"}};
    check_query("topic=a%2Fb&topic=c+d", d, 2);
    const struct kv f[] = {{"", ""}};
    check_query("=", f, 1);
}

/* ---- topics -------------------------------------------------------------- */

static bool tv(const char *s)
{
    return http_topic_valid(s, strlen(s), 0);
}

static void test_http_topic_valid(void **state)
{
    (void)state;
    assert_true(tv("news"));
    assert_true(tv("a/b.c-d_e:f"));
    assert_true(tv("!~"));
    assert_true(tv("caf\xc3\xa9"));      /* U+00E9 */
    assert_true(tv("\xe2\x82\xac"));     /* U+20AC */
    assert_true(tv("\xf0\x9f\x98\x80")); /* U+1F600 */
    assert_true(tv("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
    assert_true(tv("\xed\x9f\xbf"));     /* U+D7FF */
    assert_true(tv("\xee\x80\x80"));     /* U+E000 */
    assert_false(tv(""));
    assert_false(tv("a b"));
    assert_false(tv(" a"));
    assert_false(tv("a\t"));
    assert_false(tv("a\x01"));
    assert_false(tv("a\x7f"));
    assert_false(tv("a\n"));
    assert_false(http_topic_valid("a\0b", 3, 0));
    assert_false(tv("\x80")); /* lone continuation */
    assert_false(tv("\xc3")); /* truncated */
    assert_false(tv("\xc3\xa9\xc3"));
    assert_false(tv("\xc0\xaf")); /* overlong '/' */
    assert_false(tv("\xc1\xbf"));
    assert_false(tv("\xe0\x80\xaf"));     /* overlong */
    assert_false(tv("\xf0\x80\x80\xaf")); /* overlong */
    assert_false(tv("\xed\xa0\x80"));     /* surrogate U+D800 */
    assert_false(tv("\xed\xbf\xbf"));     /* surrogate U+DFFF */
    assert_false(tv("\xf4\x90\x80\x80")); /* U+110000 */
    assert_false(tv("\xf5\x80\x80\x80"));
    assert_false(tv("\xff"));
    assert_false(tv("\xe2\x82"));     /* truncated 3-byte */
    assert_false(tv("\xe2\x28\xa1")); /* bad continuation */
    /* A truncated sequence at the end of a longer buffer is not read past n. */
    assert_false(http_topic_valid("\xe2\x82\xac", 2, 0));

    char t[200];
    memset(t, 'x', sizeof t);
    assert_true(http_topic_valid(t, 128, 0));
    assert_false(http_topic_valid(t, 129, 0));
    assert_true(http_topic_valid(t, 129, 129));
    assert_true(http_topic_valid(t, 1, 1));
    assert_false(http_topic_valid(t, 2, 1));
    assert_false(http_topic_valid(t, 0, 10));
    /* Multi-byte characters count in bytes. */
    for (size_t i = 0; i + 2 <= 128; i += 2)
        memcpy(t + i, "\xc3\xa9", 2);
    assert_true(http_topic_valid(t, 128, 0));
    memcpy(t + 128, "\xc3\xa9", 2);
    assert_false(http_topic_valid(t, 130, 0));
}

static void test_http_topic_valid_exact_heap(void **state)
{
    (void)state;
    const char *ins[] = {"a", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xf0\x9f\x98\x80", "ab\xe2"};
    for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
        size_t n = strlen(ins[i]);
        char *p = malloc(n);
        assert_non_null(p);
        memcpy(p, ins[i], n);
        assert_int_equal(http_topic_valid(p, n, 0), i == 0 || i == 4);
        free(p);
        assert_int_equal(http_topic_valid((const char *)at_guard(ins[i], n), n, 0),
                         i == 0 || i == 4);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_parse_absolute_form_every_split),
        cmocka_unit_test(test_http_parse_table_every_split),
        cmocka_unit_test(test_http_parse_upgrade_fields),
        cmocka_unit_test(test_http_parse_query_and_version),
        cmocka_unit_test(test_http_parse_value_trimming),
        cmocka_unit_test(test_http_parse_duplicates),
        cmocka_unit_test(test_http_parse_leading_crlf_fields),
        cmocka_unit_test(test_http_parse_reuses_req),
        cmocka_unit_test(test_http_parse_target_limit),
        cmocka_unit_test(test_http_parse_header_count_limit),
        cmocka_unit_test(test_http_parse_head_size_limit),
        cmocka_unit_test(test_http_parse_body_past_limit),
        cmocka_unit_test(test_http_token_list),
        cmocka_unit_test(test_http_str_ieq),
        cmocka_unit_test(test_http_pct_decode),
        cmocka_unit_test(test_http_pct_decode_exact_heap),
        cmocka_unit_test(test_http_query_next),
        cmocka_unit_test(test_http_topic_valid),
        cmocka_unit_test(test_http_topic_valid_exact_heap),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
