/* test_proxy_proto.c - PROXY protocol v1/v2 parser, trusted lists and
 * X-Forwarded-For.
 *
 * Every table case is fed split at every byte position (each prefix must
 * answer WSP_EAGAIN, or WSP_EPROTO for an invalid case once the bad byte
 * has arrived) with the prefix's end against a guard page, so an over-read
 * crashes; and once with bytes after the header (they are not consumed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "net/proxy_proto.h"

/* ---- input placement ---------------------------------------------------- */

#define GUARD_DATA_PAGES 20 /* room for the largest v2 header with TLVs */
#include "../guard_page.h"

/* ---- v2 builders -------------------------------------------------------- */

static const uint8_t SIG2[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A v2 header: ver/cmd, family, body[0..blen) -> out; returns its length. */
static size_t v2(uint8_t *out, uint8_t vc, uint8_t fam, const uint8_t *body, size_t blen)
{
    memcpy(out, SIG2, 12);
    out[12] = vc;
    out[13] = fam;
    out[14] = (uint8_t)(blen >> 8);
    out[15] = (uint8_t)blen;
    if (blen)
        memcpy(out + 16, body, blen);
    return 16 + blen;
}

static const uint8_t v4_block[12] = {192, 0, 2, 1, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb};
/* v4_block with TLVs after it: ALPN "h2", a NOOP with 3 bytes */
static const uint8_t v4_tlvs[] = {192,  0,    2,    1,    198,  51,   100,  1,
                                  0xdc, 0x04, 0x01, 0xbb, 0x01, 0x00, 0x02, 'h',
                                  '2',  0x04, 0x00, 0x03, 0,    0,    0};
static uint8_t v6_block[36];

/* ---- the table ---------------------------------------------------------- */

struct pcase {
    const char *name;
    uint8_t in[300];
    size_t len;
    ssize_t rc; /* for the whole input */
    bool local;
    int family;      /* success, !local: AF_INET or AF_INET6 */
    const char *src; /* address text */
    uint16_t sport;
};

static struct pcase cases[64];
static size_t ncases;

static void add_text(const char *name, const char *s, ssize_t rc, bool local, int fam,
                     const char *src, uint16_t sport)
{
    struct pcase *c = &cases[ncases++];
    *c = (struct pcase){
        .name = name, .rc = rc, .local = local, .family = fam, .src = src, .sport = sport};
    c->len = strlen(s);
    memcpy(c->in, s, c->len);
}

static void add_bin(const char *name, uint8_t vc, uint8_t fam, const uint8_t *body, size_t blen,
                    ssize_t rc, bool local, int af, const char *src, uint16_t sport)
{
    struct pcase *c = &cases[ncases++];
    *c = (struct pcase){
        .name = name, .rc = rc, .local = local, .family = af, .src = src, .sport = sport};
    c->len = v2(c->in, vc, fam, body, blen);
}

#define OK4 ((ssize_t)1) /* "the whole length" marker */

static void build_cases(void)
{
    if (ncases)
        return;
    for (int i = 0; i < 16; i++)
        v6_block[i] = (uint8_t)(i == 0   ? 0x20
                                : i == 1 ? 0x01
                                : i == 2 ? 0x0d
                                : i == 3 ? 0xb8
                                         : i == 15);
    v6_block[16] = 0xfe;
    v6_block[17] = 0x80;
    v6_block[32] = 0x30;
    v6_block[33] = 0x39; /* 12345 */
    v6_block[34] = 0x00;
    v6_block[35] = 0x50;
    /* v1, from the spec and its limits */
    add_text("v1 tcp4", "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n", OK4, false, AF_INET,
             "192.0.2.1", 56324);
    add_text("v1 tcp6", "PROXY TCP6 2001:db8::1 ::1 12345 80\r\n", OK4, false, AF_INET6,
             "2001:db8::1", 12345);
    add_text("v1 unknown", "PROXY UNKNOWN\r\n", OK4, true, 0, NULL, 0);
    add_text("v1 unknown rest", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", OK4, true, 0, NULL, 0);
    add_text("v1 port 0 and 65535", "PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n", OK4, false, AF_INET,
             "1.2.3.4", 0);
    add_text("v1 longest tcp6",
             "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
             OK4, false, AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    add_text("v1 107 bytes",
             "PROXY UNKNOWN "
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaa\r\n",
             OK4, true, 0, NULL, 0);
    add_text("v1 108 bytes",
             "PROXY UNKNOWN "
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaa\r\n",
             WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 no CR", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 CR inside", "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 v6 in tcp4", "PROXY TCP4 ::1 ::1 1 2\r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 v4 in tcp6", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 port too big", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", WSP_EPROTO, false, 0,
             NULL, 0);
    add_text("v1 leading zero port", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", WSP_EPROTO, false, 0,
             NULL, 0);
    add_text("v1 two spaces", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", WSP_EPROTO, false, 0, NULL,
             0);
    add_text("v1 lower case", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 udp", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 empty", "PROXY \r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("v1 control byte", "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", WSP_EPROTO, false, 0, NULL,
             0);
    add_text("v1 bad address", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", WSP_EPROTO, false, 0, NULL,
             0);
    add_text("http request", "GET / HTTP/1.1\r\n\r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("post request", "POST / HTTP/1.1\r\n\r\n", WSP_EPROTO, false, 0, NULL, 0);
    add_text("tls hello", "\x16\x03\x01\x02\x00\x01", WSP_EPROTO, false, 0, NULL, 0);
    add_text("crlf then http", "\r\nGET / HTTP/1.1\r\n\r\n", WSP_EPROTO, false, 0, NULL, 0);
    /* v2 */
    add_bin("v2 tcp4", 0x21, 0x11, v4_block, sizeof v4_block, OK4, false, AF_INET, "192.0.2.1",
            56324);
    add_bin("v2 tcp4 tlvs", 0x21, 0x11, v4_tlvs, sizeof v4_tlvs, OK4, false, AF_INET, "192.0.2.1",
            56324);
    add_bin("v2 tcp6", 0x21, 0x21, v6_block, sizeof v6_block, OK4, false, AF_INET6, "2001:db8::1",
            12345);
    add_bin("v2 local", 0x20, 0x00, NULL, 0, OK4, true, 0, NULL, 0);
    add_bin("v2 local with block", 0x20, 0x11, v4_block, sizeof v4_block, OK4, true, 0, NULL, 0);
    add_bin("v2 unspec", 0x21, 0x00, NULL, 0, OK4, true, 0, NULL, 0);
    add_bin("v2 unspec tlvs", 0x21, 0x00, v4_block, 5, OK4, true, 0, NULL, 0);
    add_bin("v2 version 1", 0x11, 0x11, v4_block, sizeof v4_block, WSP_EPROTO, false, 0, NULL, 0);
    add_bin("v2 version 3", 0x31, 0x11, v4_block, sizeof v4_block, WSP_EPROTO, false, 0, NULL, 0);
    add_bin("v2 command 2", 0x22, 0x11, v4_block, sizeof v4_block, WSP_EPROTO, false, 0, NULL, 0);
    add_bin("v2 family 4", 0x21, 0x41, v4_block, sizeof v4_block, WSP_EPROTO, false, 0, NULL, 0);
    add_bin("v2 transport 3", 0x21, 0x13, v4_block, sizeof v4_block, WSP_EPROTO, false, 0, NULL, 0);
    add_bin("v2 udp4", 0x21, 0x12, v4_block, sizeof v4_block, WSP_EPROTO, false, 0, NULL, 0);
    add_bin("v2 tcp4 short block", 0x21, 0x11, v4_block, 11, WSP_EPROTO, false, 0, NULL, 0);
    add_bin("v2 tcp6 short block", 0x21, 0x21, v6_block, 35, WSP_EPROTO, false, 0, NULL, 0);
    add_bin("v2 unix", 0x21, 0x31, (const uint8_t[216]){0}, 216, OK4, true, 0, NULL, 0);
    add_bin("v2 unix short", 0x21, 0x31, (const uint8_t[216]){0}, 215, WSP_EPROTO, false, 0, NULL,
            0);
    struct pcase *c = &cases[ncases++];
    *c = (struct pcase){.name = "v2 bad signature", .rc = WSP_EPROTO};
    c->len = v2(c->in, 0x21, 0x11, v4_block, sizeof v4_block);
    c->in[7] = 'q';
}

static void check_result(const struct pcase *c, ssize_t r, const struct proxy_hdr *h)
{
    if (c->rc != OK4) {
        assert_int_equal(r, c->rc);
        return;
    }
    assert_int_equal(r, (ssize_t)c->len);
    assert_int_equal(h->local, c->local);
    assert_int_equal(h->version, c->in[0] == 'P' ? 1 : 2);
    if (c->local)
        return;
    assert_int_equal(h->src.ss_family, c->family);
    assert_int_equal(h->dst.ss_family, c->family);
    char txt[INET6_ADDRSTRLEN];
    uint16_t port;
    if (c->family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&h->src;
        inet_ntop(AF_INET, &a->sin_addr, txt, sizeof txt);
        port = ntohs(a->sin_port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&h->src;
        inet_ntop(AF_INET6, &a->sin6_addr, txt, sizeof txt);
        port = ntohs(a->sin6_port);
    }
    assert_string_equal(txt, c->src);
    assert_int_equal(port, c->sport);
}

static void test_proxy_parse_table_any_split(void **state)
{
    (void)state;
    build_cases();
    for (size_t i = 0; i < ncases; i++) {
        const struct pcase *c = &cases[i];
        struct proxy_hdr h;
        print_message("case %s\n", c->name);
        /* whole, against the guard */
        check_result(c, proxy_parse(at_guard(c->in, c->len), c->len, &h), &h);
        /* every proper prefix: EAGAIN, or for a bad case the same error */
        for (size_t cut = 0; cut < c->len; cut++) {
            ssize_t r = proxy_parse(at_guard(c->in, cut), cut, &h);
            if (c->rc == OK4)
                assert_int_equal(r, WSP_EAGAIN);
            else
                assert_true(r == WSP_EAGAIN || r == c->rc);
        }
        /* bytes after the header stay the caller's */
        uint8_t more[400];
        memcpy(more, c->in, c->len);
        memcpy(more + c->len, "\x16\x03\x01GET", 6);
        if (c->rc == OK4)
            check_result(c, proxy_parse(at_guard(more, c->len + 6), c->len + 6, &h), &h);
    }
}

/* a prefix of a header is never refused: one byte at a time, with whatever
 * was there before in the buffer (the caller's spill) */
static void test_proxy_parse_one_byte_at_a_time(void **state)
{
    (void)state;
    const char *s = "PROXY TCP4 10.1.2.3 10.0.0.1 4000 8080\r\n";
    size_t n = strlen(s);
    struct proxy_hdr h;
    for (size_t k = 1; k < n; k++)
        assert_int_equal(proxy_parse(at_guard(s, k), k, &h), WSP_EAGAIN);
    assert_int_equal(proxy_parse(at_guard(s, n), n, &h), (ssize_t)n);
}

static void test_proxy_parse_v1_without_lf_within_107(void **state)
{
    (void)state;
    uint8_t b[200];
    memcpy(b, "PROXY UNKNOWN ", 14);
    memset(b + 14, 'a', sizeof b - 14);
    struct proxy_hdr h;
    assert_int_equal(proxy_parse(at_guard(b, 106), 106, &h), WSP_EAGAIN);
    assert_int_equal(proxy_parse(at_guard(b, 107), 107, &h), WSP_EPROTO);
    assert_int_equal(proxy_parse(at_guard(b, 200), 200, &h), WSP_EPROTO);
}

static void test_proxy_parse_v2_largest(void **state)
{
    (void)state;
    size_t blen = 65535;
    uint8_t *b = malloc(16 + blen);
    assert_non_null(b);
    memset(b, 0, 16 + blen);
    v2(b, 0x21, 0x11, v4_block, sizeof v4_block);
    b[14] = 0xff;
    b[15] = 0xff;
    struct proxy_hdr h;
    assert_int_equal(proxy_parse(b, 16 + blen - 1, &h), WSP_EAGAIN);
    assert_int_equal(proxy_parse(b, 16 + blen, &h), (ssize_t)(16 + blen));
    assert_int_equal(proxy_parse(b, 16, &h), WSP_EAGAIN);
    free(b);
}

static void test_proxy_sniff(void **state)
{
    (void)state;
    uint8_t hdr[40];
    size_t n = v2(hdr, 0x21, 0x11, v4_block, sizeof v4_block);
    assert_int_equal(proxy_sniff(at_guard(hdr, n), n), 1);
    assert_int_equal(proxy_sniff(at_guard(hdr, 6), 6), 1);
    assert_int_equal(proxy_sniff(at_guard(hdr, 5), 5), WSP_EAGAIN);
    assert_int_equal(proxy_sniff(at_guard("PROXY ", 6), 6), 1);
    assert_int_equal(proxy_sniff(at_guard("PROX", 4), 4), WSP_EAGAIN);
    assert_int_equal(proxy_sniff(at_guard("POST /", 6), 6), 0);
    assert_int_equal(proxy_sniff(at_guard("PUT", 3), 3), 0);
    assert_int_equal(proxy_sniff(at_guard("GET / ", 6), 6), 0);
    assert_int_equal(proxy_sniff(at_guard("\x16\x03\x01", 3), 3), 0);
    assert_int_equal(proxy_sniff(at_guard("\r\nGET ", 6), 6), 0);
    assert_int_equal(proxy_sniff(at_guard("", 0), 0), WSP_EAGAIN);
}

static struct sockaddr_storage sa(const char *txt)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(txt, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, txt, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, txt, &a->sin_addr), 1);
    }
    return ss;
}

static bool match(const struct proxy_cidr *l, size_t n, const char *txt)
{
    struct sockaddr_storage ss = sa(txt);
    return proxy_cidr_match(l, n, (const struct sockaddr *)&ss);
}

static void test_proxy_cidr_parse_and_match(void **state)
{
    (void)state;
    struct proxy_cidr l[4];
    assert_int_equal(proxy_cidr_parse("10.0.0.0/8", &l[0]), 0);
    assert_int_equal(proxy_cidr_parse("192.0.2.7", &l[1]), 0);
    assert_int_equal(proxy_cidr_parse("2001:db8::/32", &l[2]), 0);
    assert_int_equal(proxy_cidr_parse("::1", &l[3]), 0);
    assert_true(match(l, 4, "10.255.1.2"));
    assert_false(match(l, 4, "11.0.0.1"));
    assert_true(match(l, 4, "192.0.2.7"));
    assert_false(match(l, 4, "192.0.2.8"));
    assert_true(match(l, 4, "2001:db8:ffff::1"));
    assert_false(match(l, 4, "2001:db9::1"));
    assert_true(match(l, 4, "::1"));
    assert_true(match(l, 4, "::ffff:10.0.0.1")); /* v4-mapped matches v4 entries */
    assert_false(match(l, 0, "10.0.0.1"));
    struct proxy_cidr all;
    assert_int_equal(proxy_cidr_parse("0.0.0.0/0", &all), 0);
    assert_true(match(&all, 1, "203.0.113.9"));
    assert_false(match(&all, 1, "2001:db8::1"));
    struct proxy_cidr x;
    assert_int_equal(proxy_cidr_parse("10.1.0.0/8", &x), WSP_EINVAL); /* host bits */
    assert_int_equal(proxy_cidr_parse("10.0.0.0/33", &x), WSP_EINVAL);
    assert_int_equal(proxy_cidr_parse("10.0.0.0/", &x), WSP_EINVAL);
    assert_int_equal(proxy_cidr_parse("10.0.0.0/a", &x), WSP_EINVAL);
    assert_int_equal(proxy_cidr_parse("::/129", &x), WSP_EINVAL);
    assert_int_equal(proxy_cidr_parse("example.com", &x), WSP_EINVAL);
    assert_int_equal(proxy_cidr_parse("", &x), WSP_EINVAL);
    assert_int_equal(proxy_cidr_parse("10.0.0.0/1234", &x), WSP_EINVAL);
}

static void xff(const char *v, const struct proxy_cidr *l, size_t n, int rc, const char *want)
{
    struct sockaddr_storage out;
    const char *p = (const char *)at_guard(v, strlen(v));
    assert_int_equal(proxy_xff_client(p, strlen(v), l, n, &out), rc);
    if (rc == 0) {
        struct sockaddr_storage w = sa(want);
        assert_int_equal(out.ss_family, w.ss_family);
        if (w.ss_family == AF_INET)
            assert_memory_equal(&((struct sockaddr_in *)&out)->sin_addr,
                                &((struct sockaddr_in *)&w)->sin_addr, 4);
        else
            assert_memory_equal(&((struct sockaddr_in6 *)&out)->sin6_addr,
                                &((struct sockaddr_in6 *)&w)->sin6_addr, 16);
    }
}

static void test_proxy_xff_rightmost_untrusted(void **state)
{
    (void)state;
    struct proxy_cidr l[2];
    assert_int_equal(proxy_cidr_parse("10.0.0.0/8", &l[0]), 0);
    assert_int_equal(proxy_cidr_parse("2001:db8::/32", &l[1]), 0);
    xff("203.0.113.5", l, 2, 0, "203.0.113.5");
    xff("1.1.1.1, 203.0.113.5", l, 2, 0, "203.0.113.5");           /* the client forged 1.1.1.1 */
    xff("1.1.1.1, 203.0.113.5, 10.0.0.2", l, 2, 0, "203.0.113.5"); /* through an inner proxy */
    xff("garbage, 203.0.113.5", l, 2, 0, "203.0.113.5");           /* left of it: never read */
    xff("203.0.113.5:4711", l, 2, 0, "203.0.113.5");
    xff("[2001:db9::7]:80,10.1.1.1", l, 2, 0, "2001:db9::7");
    xff("2001:db9::7", l, 2, 0, "2001:db9::7");
    xff(" 203.0.113.5 ,\t, ", l, 2, 0, "203.0.113.5");
    xff("10.0.0.1, 2001:db8::1", l, 2, WSP_EAGAIN, NULL);
    xff("", l, 2, WSP_EAGAIN, NULL);
    xff("unknown", l, 2, WSP_EPROTO, NULL);
    xff("203.0.113.5, unknown, 10.0.0.1", l, 2, WSP_EPROTO, NULL);
    xff("[2001:db9::7", l, 2, WSP_EPROTO, NULL);
    xff("[2001:db9::7]x", l, 2, WSP_EPROTO, NULL);
    xff("203.0.113.5:99999", l, 2, WSP_EPROTO, NULL);
    xff("_hidden", l, 2, WSP_EPROTO, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_parse_table_any_split),
        cmocka_unit_test(test_proxy_parse_one_byte_at_a_time),
        cmocka_unit_test(test_proxy_parse_v1_without_lf_within_107),
        cmocka_unit_test(test_proxy_parse_v2_largest),
        cmocka_unit_test(test_proxy_sniff),
        cmocka_unit_test(test_proxy_cidr_parse_and_match),
        cmocka_unit_test(test_proxy_xff_rightmost_untrusted),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
