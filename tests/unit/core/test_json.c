/* test_json.c - the one JSON string writer (core/json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/json.h"

static void test_json_str_buf_escapes(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"", 0, "\"\""},
        {"x\",\"seq\":1337", 13, "\"x\\\",\\\"seq\\\":1337\""},
        {"a\\b", 3, "\"a\\\\b\""},
        {"\n\t\x01\x7f", 4, "\"\\n\\u0009\\u0001\\u007f\""},
        {"bad\xff", 4, "\"bad\\ufffd\""}, /* never invalid UTF-8 out */
        {"nul\0x", 5, "\"nul\\u0000x\""},
        {"caf\xc3\xa9", 5, "\"caf\xc3\xa9\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[128];
        size_t need = json_str_buf(buf, sizeof buf, cases[i].in, cases[i].n);
        assert_string_equal(buf, cases[i].out);
        assert_int_equal(need, strlen(cases[i].out));
    }
}

static void test_json_str_buf_null_and_truncation(void **state)
{
    (void)state;
    char buf[8];
    assert_int_equal(json_str_buf(buf, sizeof buf, NULL, 0), 4);
    assert_string_equal(buf, "null");
    /* needs 12, gets 7 + NUL: truncated, terminated, length reported */
    assert_int_equal(json_str_buf(buf, sizeof buf, "a\"b\"cdef", 8), 12);
    assert_int_equal(strlen(buf), 7);
    assert_memory_equal(buf, "\"a\\\"b\\\"", 7);
    assert_int_equal(json_str_buf(buf, 0, "abc", 3), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_str_buf_escapes),
        cmocka_unit_test(test_json_str_buf_null_and_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
