/* test_ts.c - finding the send time in a message prefix (loadgen/ts.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "ts.h"
#include "core/err.h"

#define ISO_US UINT64_C(1795747699123000) /* 2026-11-27T02:48:19.123Z */

struct ts_case {
    const char *msg;
    int rc;
    uint64_t us;
};

static const struct ts_case cases[] = {
    {"2026-11-27T02:48:19.123Z", 0, ISO_US},
    {"2026-11-27T02:48:19.123Z tick", 0, ISO_US},
    {"2026-11-27T02:48:19.123456Z", 0, ISO_US + 456},
    {"{\"t\":\"2026-11-27T02:48:19.123Z\"}", 0, ISO_US},
    {"{\"ts\":1795747699123,\"x\":1}", 0, ISO_US},
    {"{\"ts\":1795747699123456}", 0, ISO_US + 456},
    {"1795747699123", 0, ISO_US},
    {"echo 1795747699123456", 0, ISO_US + 456},
    {"", WSP_EINVAL, 0},
    {"hello", WSP_EINVAL, 0},
    {"{\"seq\":12,\"ts\":1795747699123}", WSP_EINVAL, 0}, /* the first number decides */
    {"179574769912", WSP_EINVAL, 0},                      /* 12 digits */
    {"17957476991234", WSP_EINVAL, 0},                    /* 14 digits */
    {"2026-11-27T02:48:19.123", WSP_EINVAL, 0},           /* no Z */
    {"2026-13-27T02:48:19.123Z", WSP_EINVAL, 0},
};

static void test_ts_extract_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct ts_case *c = &cases[i];
        uint64_t us = 0;
        int rc = ts_extract((const uint8_t *)c->msg, strlen(c->msg), false, &us);
        if (rc != c->rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, c->msg, rc, c->rc);
        if (rc == 0 && us != c->us)
            fail_msg("case %zu (%s): us %llu, want %llu", i, c->msg, (unsigned long long)us,
                     (unsigned long long)c->us);
    }
}

/* A prefix cut anywhere (more = true) never yields a wrong time: either the
 * right one or "not found". */
static void test_ts_extract_any_prefix(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct ts_case *c = &cases[i];
        size_t len = strlen(c->msg);
        for (size_t cut = 0; cut < len; cut++) {
            uint64_t us = 0;
            int rc = ts_extract((const uint8_t *)c->msg, cut, true, &us);
            assert_true(rc == 0 || rc == WSP_EINVAL);
            if (rc == 0) {
                assert_int_equal(c->rc, 0);
                assert_true(us == c->us);
            }
        }
    }
}

/* Only TS_PREFIX_BYTES are looked at; a longer buffer behaves as a prefix. */
static void test_ts_extract_long_message(void **state)
{
    (void)state;
    char msg[256];
    memset(msg, 'x', sizeof msg);
    memcpy(msg, "2026-11-27T02:48:19.123Z", 24);
    uint64_t us = 0;
    assert_int_equal(ts_extract((const uint8_t *)msg, sizeof msg, false, &us), 0);
    assert_true(us == ISO_US);
    /* a number that starts inside the prefix but runs past it is not trusted */
    memset(msg, ' ', sizeof msg);
    memcpy(msg + TS_PREFIX_BYTES - 5, "1795747699123", 13);
    assert_int_equal(ts_extract((const uint8_t *)msg, sizeof msg, false, &us), WSP_EINVAL);
}

static void test_ts_format_roundtrip(void **state)
{
    (void)state;
    char out[17];
    assert_int_equal(ts_format_us(out, ISO_US + 456), 16);
    assert_string_equal(out, "1795747699123456");
    uint64_t us = 0;
    assert_int_equal(ts_extract((const uint8_t *)out, 16, false, &us), 0);
    assert_true(us == ISO_US + 456);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ts_extract_table),
        cmocka_unit_test(test_ts_extract_any_prefix),
        cmocka_unit_test(test_ts_extract_long_message),
        cmocka_unit_test(test_ts_format_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
