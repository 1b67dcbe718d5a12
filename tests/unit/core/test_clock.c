/* test_clock.c - ISO 8601 formatting/parsing and duration parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"

static void iso_roundtrip(void **state)
{
    (void)state;
    char buf[32];
    /* 2026-11-27T02:48:19.123Z */
    uint64_t us = 1795747699123000ull;
    assert_int_equal(clock_iso8601(buf, us), 24);
    assert_string_equal(buf, "2026-11-27T02:48:19.123Z");
    uint64_t back = 0;
    assert_int_equal(clock_parse_iso8601(buf, strlen(buf), &back), 0);
    assert_true(back == us);
    assert_int_equal(clock_iso8601(buf, 0), 24);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
}

static void iso_parse_fraction_and_errors(void **state)
{
    (void)state;
    uint64_t us = 0;
    const char *s = "2000-02-29T23:59:59.999999Z";
    assert_int_equal(clock_parse_iso8601(s, strlen(s), &us), 0);
    assert_true(us == 951868799999999ull);
    s = "2000-02-29T23:59:59Z";
    assert_int_equal(clock_parse_iso8601(s, strlen(s), &us), 0);
    assert_true(us == 951868799000000ull);
    const char *bad[] = {"",
                         "2000-02-29",
                         "2000-13-01T00:00:00Z",
                         "2000-02-29T23:59:59",
                         "2000-02-29T23:59:59.Z",
                         "2000-02-29X23:59:59Z",
                         "20x0-02-29T23:59:59Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(clock_parse_iso8601(bad[i], strlen(bad[i]), &us), WSP_EINVAL);
}

static void durations(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_int_equal(clock_parse_duration_ms("1s", &ms), 0);
    assert_true(ms == 1000);
    assert_int_equal(clock_parse_duration_ms("250ms", &ms), 0);
    assert_true(ms == 250);
    assert_int_equal(clock_parse_duration_ms("1.5s", &ms), 0);
    assert_true(ms == 1500);
    assert_int_equal(clock_parse_duration_ms("2m", &ms), 0);
    assert_true(ms == 120000);
    assert_int_equal(clock_parse_duration_ms("3", &ms), 0);
    assert_true(ms == 3000);
    assert_int_equal(clock_parse_duration_ms("0", &ms), 0);
    assert_true(ms == 0);
    assert_int_equal(clock_parse_duration_ms("10us", &ms), 0);
    assert_true(ms == 1);
    assert_int_equal(clock_parse_duration_ms("", &ms), WSP_EINVAL);
    assert_int_equal(clock_parse_duration_ms("s", &ms), WSP_EINVAL);
    assert_int_equal(clock_parse_duration_ms("1 s", &ms), WSP_EINVAL);
    assert_int_equal(clock_parse_duration_ms("-1s", &ms), WSP_EINVAL);
    assert_int_equal(clock_parse_duration_ms("1d", &ms), WSP_EINVAL);
    /* fuzz_config: a long duration printed in ms must parse again */
    assert_int_equal(clock_parse_duration_ms("1199999999.5s", &ms), 0);
    assert_int_equal(ms, 1199999999500ull);
    assert_int_equal(clock_parse_duration_ms("1199999999500ms", &ms), 0);
    assert_int_equal(ms, 1199999999500ull);
    assert_int_equal(clock_parse_duration_ms("1000000000000000ms", &ms), 0);
    assert_int_equal(clock_parse_duration_ms("1000000000001000ms", &ms), WSP_EINVAL);
    assert_int_equal(clock_parse_duration_ms("nan", &ms), WSP_EINVAL);
    assert_int_equal(clock_parse_duration_ms("inf", &ms), WSP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(iso_roundtrip),
        cmocka_unit_test(iso_parse_fraction_and_errors),
        cmocka_unit_test(durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
