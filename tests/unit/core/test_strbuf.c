/* test_strbuf.c - the printf accumulator (core/strbuf.c): appends, the cut
 * at every capacity, JSON strings, and no write past cap (the buffer sits
 * against a guard page). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../guard_page.h"
#include "core/strbuf.h"

static void test_strbuf_appends(void **state)
{
    (void)state;
    char buf[64];
    struct strbuf b;
    strbuf_init(&b, buf, sizeof buf);
    assert_string_equal(buf, "");
    strbuf_printf(&b, "{\"n\":%d,", 42);
    strbuf_printf(&b, "\"s\":");
    strbuf_json_str(&b, "a\"b", 3);
    strbuf_printf(&b, "%s", "}");
    assert_string_equal(buf, "{\"n\":42,\"s\":\"a\\\"b\"}");
    assert_int_equal(b.len, strlen(buf));
    assert_false(b.truncated);
    strbuf_json_str(&b, NULL, 0);
    assert_string_equal(buf + b.len - 4, "null");
}

/* Every capacity from 0 to the whole text: the result is the longest prefix
 * that fits, truncated says whether it is all, and nothing is written past
 * cap (the buffer ends at the guard page). */
static void test_strbuf_every_cap(void **state)
{
    (void)state;
    static const char want[] = "x=1 \"q\\\"\" tail 12345";
    size_t whole = strlen(want);
    for (size_t cap = 0; cap <= whole + 1; cap++) {
        char *p = (char *)at_guard("", 0) - cap;
        struct strbuf b;
        strbuf_init(&b, p, cap);
        strbuf_printf(&b, "x=%d ", 1);
        strbuf_json_str(&b, "q\"", 2);
        strbuf_printf(&b, " tail %d", 12345);
        bool all = cap > whole;
        assert_int_equal(b.truncated, !all);
        if (cap == 0) {
            assert_int_equal(b.len, 0);
            continue;
        }
        assert_int_equal(b.len, all ? whole : cap - 1);
        assert_int_equal(p[b.len], '\0');
        assert_memory_equal(p, want, b.len);
    }
}

/* Once cut, later appends change nothing, even short ones that would fit. */
static void test_strbuf_stops_after_a_cut(void **state)
{
    (void)state;
    char buf[8];
    struct strbuf b;
    strbuf_init(&b, buf, sizeof buf);
    strbuf_printf(&b, "%s", "123456789");
    assert_true(b.truncated);
    assert_string_equal(buf, "1234567");
    strbuf_init(&b, buf, sizeof buf);
    strbuf_printf(&b, "abcd");
    strbuf_printf(&b, "efghij"); /* does not fit */
    strbuf_printf(&b, "k");      /* would fit after "abcd" alone: still nothing */
    assert_true(b.truncated);
    assert_string_equal(buf, "abcdefg");
    assert_int_equal(b.len, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strbuf_appends),
        cmocka_unit_test(test_strbuf_every_cap),
        cmocka_unit_test(test_strbuf_stops_after_a_cut),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
