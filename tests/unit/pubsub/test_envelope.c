/* test_envelope.c - the JSON envelope form: the "skipped" count a worker
 * adds after conflating (issue 16), and that without one the bytes are
 * exactly envelope_frame's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "pubsub/envelope.h"

/* The JSON of a short (< 126 bytes) text frame, NUL-terminated. */
static const char *json_of(uint8_t *f, size_t len)
{
    assert_int_equal(f[0], 0x81);
    assert_int_equal(f[1], len - 2);
    f[len] = 0;
    return (const char *)f + 2;
}

static void test_envelope_skipped_count(void **state)
{
    (void)state;
    uint8_t a[512], b[512];
    size_t cap = envelope_bound(4, 3);
    assert_true(cap < sizeof a);
    size_t la = envelope_frame(a, cap, "tick", 4, "7-9", false, (const uint8_t *)"now", 3);
    size_t lb =
        envelope_frame_skipped(b, cap, "tick", 4, "7-9", 0, false, (const uint8_t *)"now", 3);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_string_equal(json_of(a, la), "{\"topic\":\"tick\",\"id\":\"7-9\",\"data\":\"now\"}");
    lb = envelope_frame_skipped(b, cap, "tick", 4, "7-9", 41, false, (const uint8_t *)"now", 3);
    assert_string_equal(json_of(b, lb),
                        "{\"topic\":\"tick\",\"id\":\"7-9\",\"skipped\":41,\"data\":\"now\"}");
    /* a broadcast, binary, the largest count: still within the bound */
    cap = envelope_bound(0, 3);
    lb = envelope_frame_skipped(b, cap, NULL, 0, NULL, UINT64_MAX, true,
                                (const uint8_t *)"\x00\x01\x02", 3);
    assert_string_equal(json_of(b, lb),
                        "{\"topic\":null,\"id\":null,\"skipped\":18446744073709551615,"
                        "\"data\":\"AAEC\",\"encoding\":\"base64\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_skipped_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
