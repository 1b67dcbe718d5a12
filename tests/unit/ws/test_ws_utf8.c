/* test_ws_utf8.c - incremental UTF-8 validation: verdicts, fail-fast
 * position, any split, the ASCII fast path, and an exhaustive comparison
 * with a straightforward reference decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "../guard_page.h"
#include "ws/ws_utf8.h"

enum verdict { VALID, INCOMPLETE, INVALID };

struct u8case {
    const char *name;
    const char *s;
    size_t n;
    enum verdict v;
    size_t bad_at; /* INVALID: index of the byte that must trigger the failure */
};

#define C(name, lit, v, at)                                                                        \
    {                                                                                              \
        name, lit, sizeof(lit) - 1, v, at                                                          \
    }

/* clang-format off */
static const struct u8case cases[] = {
    C("empty", "", VALID, 0),
    C("ascii", "Hello, world", VALID, 0),
    C("greek kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", VALID, 0),
    C("euro", "a\xe2\x82\xac", VALID, 0),
    C("U+0080", "\xc2\x80", VALID, 0),
    C("U+07FF", "\xdf\xbf", VALID, 0),
    C("U+0800", "\xe0\xa0\x80", VALID, 0),
    C("U+D7FF", "\xed\x9f\xbf", VALID, 0),
    C("U+E000", "\xee\x80\x80", VALID, 0),
    C("U+FFFF", "\xef\xbf\xbf", VALID, 0),
    C("U+10000", "\xf0\x90\x80\x80", VALID, 0),
    C("U+10FFFF", "\xf4\x8f\xbf\xbf", VALID, 0),
    C("nul byte", "a\0b", VALID, 0),
    C("truncated 2", "ab\xc2", INCOMPLETE, 0),
    C("truncated 3", "\xe2\x82", INCOMPLETE, 0),
    C("truncated 4", "\xf0\x90\x80", INCOMPLETE, 0),
    C("overlong slash 2", "\xc0\xaf", INVALID, 0),
    C("overlong C1", "\xc1\xbf", INVALID, 0),
    C("overlong slash 3", "\xe0\x80\xaf", INVALID, 1),
    C("overlong 3 max", "\xe0\x9f\xbf", INVALID, 1),
    C("overlong slash 4", "\xf0\x80\x80\xaf", INVALID, 1),
    C("overlong 4 max", "\xf0\x8f\xbf\xbf", INVALID, 1),
    C("surrogate D800", "\xed\xa0\x80", INVALID, 1),
    C("surrogate DFFF", "ab\xed\xbf\xbf", INVALID, 3),
    C("above U+10FFFF", "\xf4\x90\x80\x80", INVALID, 1),
    C("F5 lead", "\xf5\x80\x80\x80", INVALID, 0),
    C("FE", "x\xfe", INVALID, 1),
    C("FF", "\xff", INVALID, 0),
    C("lone continuation", "a\x80", INVALID, 1),
    C("lead then ascii", "\xc2\x41", INVALID, 1),
    C("4-byte cut by ascii", "\xf0\x90\x80\x41", INVALID, 3),
    C("bad after long ascii", "0123456789abcdefghij\xc0", INVALID, 20),
    C("valid then bad in 9th word", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x80",
      INVALID, 68),
    C("autobahn 6.4.1", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80", INVALID, 12),
};
/* clang-format on */

static enum verdict run_pieces(const uint8_t *p, size_t n, size_t cut, size_t *fail_piece)
{
    uint32_t st = WS_UTF8_ACCEPT;
    *fail_piece = 0;
    if (!ws_utf8_feed(&st, p, cut)) {
        assert_int_equal(st, WS_UTF8_REJECT);
        return INVALID;
    }
    *fail_piece = 1;
    if (!ws_utf8_feed(&st, p + cut, n - cut)) {
        assert_int_equal(st, WS_UTF8_REJECT);
        return INVALID;
    }
    return ws_utf8_complete(st) ? VALID : INCOMPLETE;
}

static void test_ws_utf8_table_any_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct u8case *c = &cases[i];
        const uint8_t *p = at_guard(c->s, c->n); /* ends against the guard page */
        assert_int_equal(ws_utf8_valid(p, c->n), c->v == VALID);
        for (size_t cut = 0; cut <= c->n; cut++) {
            size_t fp;
            enum verdict v = run_pieces(p, c->n, cut, &fp);
            if (v != c->v)
                fail_msg("%s cut %zu: verdict %d want %d", c->name, cut, v, c->v);
            /* fail fast: the piece holding the bad byte is the one that fails */
            if (v == INVALID)
                assert_int_equal(fp, c->bad_at < cut ? 0 : 1);
        }
        if (c->v == INVALID) {
            uint32_t st = WS_UTF8_ACCEPT;
            assert_true(ws_utf8_feed(&st, p, c->bad_at));
            assert_false(ws_utf8_feed(&st, p + c->bad_at, 1));
            /* sticky */
            assert_false(ws_utf8_feed(&st, (const uint8_t *)"a", 1));
            assert_false(ws_utf8_feed(&st, NULL, 0));
            assert_int_equal(st, WS_UTF8_REJECT);
        }
        /* one byte at a time */
        uint32_t st = WS_UTF8_ACCEPT;
        enum verdict v = VALID;
        for (size_t k = 0; k < c->n && v != INVALID; k++)
            if (!ws_utf8_feed(&st, p + k, 1))
                v = INVALID;
        if (v != INVALID)
            v = ws_utf8_complete(st) ? VALID : INCOMPLETE;
        assert_int_equal(v, c->v);
    }
}

/* The fast path must notice a high byte at any position of any word. */
static void test_ws_utf8_ascii_fast_path(void **state)
{
    (void)state;
    uint8_t buf[80];
    for (size_t off = 0; off < 8; off++) {
        for (size_t bad = off; bad < sizeof buf; bad++) {
            memset(buf, 'a', sizeof buf);
            buf[bad] = 0x80;
            assert_false(ws_utf8_valid(buf + off, sizeof buf - off));
            buf[bad] = 0xc3; /* starts a valid 2-byte sequence */
            if (bad + 1 < sizeof buf) {
                buf[bad + 1] = 0xa9;
                assert_true(ws_utf8_valid(buf + off, sizeof buf - off));
            } else {
                uint32_t st = WS_UTF8_ACCEPT;
                assert_true(ws_utf8_feed(&st, buf + off, sizeof buf - off));
                assert_false(ws_utf8_complete(st));
            }
        }
    }
}

/* Reference: decode with explicit arithmetic, the obvious way. Returns
 * 1 valid, 0 incomplete, -1 invalid. */
static int ref_check(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t need;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xe0) == 0xc0) {
            need = 1, cp = b & 0x1f, min = 0x80;
        } else if ((b & 0xf0) == 0xe0) {
            need = 2, cp = b & 0x0f, min = 0x800;
        } else if ((b & 0xf8) == 0xf0) {
            need = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return -1;
        }
        size_t k = 1;
        for (; k <= need && i + k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return -1;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (k <= need) {
            /* truncated: is some completion possibly valid? Check the
             * smallest and largest completions. */
            uint32_t lo = cp, hi = cp;
            for (; k <= need; k++) {
                lo = lo << 6;
                hi = hi << 6 | 0x3f;
            }
            if (hi < min || lo > 0x10ffff)
                return -1;
            /* within a surrogate prefix (ED A0..) every completion is bad */
            if (lo >= 0xd800 && hi <= 0xdfff)
                return -1;
            return 0;
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        i += need + 1;
    }
    return 1;
}

static int dfa_check(const uint8_t *p, size_t n)
{
    uint32_t st = WS_UTF8_ACCEPT;
    if (!ws_utf8_feed(&st, p, n))
        return -1;
    return ws_utf8_complete(st) ? 1 : 0;
}

/* All 1- and 2-byte inputs, all 3-byte inputs with a lead byte >= C0,
 * and 4-byte inputs with lead F0-F7 over a spread of continuations. */
static void test_ws_utf8_matches_reference_exhaustive(void **state)
{
    (void)state;
    uint8_t b[4];
    for (unsigned a = 0; a < 256; a++) {
        b[0] = (uint8_t)a;
        assert_int_equal(dfa_check(b, 1), ref_check(b, 1));
        for (unsigned c = 0; c < 256; c++) {
            b[1] = (uint8_t)c;
            if (dfa_check(b, 2) != ref_check(b, 2))
                fail_msg("%02x %02x", a, c);
            if (a < 0xc0)
                continue;
            for (unsigned d = 0; d < 256; d++) {
                b[2] = (uint8_t)d;
                if (dfa_check(b, 3) != ref_check(b, 3))
                    fail_msg("%02x %02x %02x", a, c, d);
            }
        }
    }
    static const uint8_t conts[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                    0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    for (unsigned a = 0xf0; a < 0xf8; a++)
        for (unsigned c = 0; c < 256; c++)
            for (size_t d = 0; d < sizeof conts; d++)
                for (size_t e = 0; e < sizeof conts; e++) {
                    b[0] = (uint8_t)a;
                    b[1] = (uint8_t)c;
                    b[2] = conts[d];
                    b[3] = conts[e];
                    if (dfa_check(b, 4) != ref_check(b, 4))
                        fail_msg("%02x %02x %02x %02x", a, c, b[2], b[3]);
                }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_utf8_table_any_split),
        cmocka_unit_test(test_ws_utf8_ascii_fast_path),
        cmocka_unit_test(test_ws_utf8_matches_reference_exhaustive),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
