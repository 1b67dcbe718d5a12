/* test_http_response.c - status texts and response heads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_response.h"

static void test_http_status_text_known(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *text;
    } t[] = {
        {101, "Switching Protocols"},
        {200, "OK"},
        {202, "Accepted"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {411, "Length Required"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {426, "Upgrade Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_string_equal(http_status_text(t[i].status), t[i].text);
    assert_string_equal(http_status_text(0), "Unknown");
    assert_string_equal(http_status_text(299), "Unknown");
    assert_string_equal(http_status_text(-1), "Unknown");
}

static void test_http_response_head_forms(void **state)
{
    (void)state;
    char out[512];
    size_t n = http_response_head(out, sizeof out, 200, "text/plain", 12, true, NULL);
    const char *want = "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/plain\r\n"
                       "Content-Length: 12\r\n"
                       "Connection: keep-alive\r\n"
                       "\r\n";
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);

    n = http_response_head(out, sizeof out, 404, NULL, 0, false, "");
    want = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);

    n = http_response_head(out, sizeof out, 426, "text/plain", 18446744073709551615ull, false,
                           "Sec-WebSocket-Version: 13\r\n");
    want = "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\n"
           "Content-Length: 18446744073709551615\r\nConnection: close\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);

    /* RFC 9110 §8.6: no Content-Length on 204 and 1xx; 101 leaves Connection
     * to the caller. */
    n = http_response_head(out, sizeof out, 204, NULL, 99, true, NULL);
    want = "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n";
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    n = http_response_head(out, sizeof out, 101, NULL, 0, true,
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n");
    want = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));

    n = http_response_head(out, sizeof out, 299, NULL, 1, true, NULL);
    want = "HTTP/1.1 299 Unknown\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n";
    assert_string_equal(out, want);
}

static void test_http_response_head_invalid_args(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(http_response_head(out, sizeof out, 99, NULL, 0, true, NULL), 0);
    assert_int_equal(http_response_head(out, sizeof out, 1000, NULL, 0, true, NULL), 0);
    assert_int_equal(http_response_head(out, sizeof out, 200, "text/plain\r\nX: y", 0, true, NULL),
                     0);
    assert_int_equal(http_response_head(out, sizeof out, 200, "a\nb", 0, true, NULL), 0);
    assert_int_equal(http_response_head(out, sizeof out, 200, NULL, 0, true, "X: y"), 0);
    assert_int_equal(http_response_head(out, sizeof out, 200, NULL, 0, true, "\n"), 0);
    assert_int_equal(http_response_head(out, sizeof out, 200, NULL, 0, true, "X: y\n"), 0);
}

/* Every cap below the head's length gives 0 and writes nothing past cap;
 * cap == length fits without the NUL. */
static void test_http_response_head_every_cap(void **state)
{
    (void)state;
    char ref[256];
    size_t full = http_response_head(ref, sizeof ref, 503, "application/json", 1234, false,
                                     "Retry-After: 5\r\n");
    assert_true(full > 0);
    for (size_t cap = 0; cap <= full + 1; cap++) {
        char *out = malloc(cap ? cap : 1); /* exact size: ASan sees overflows */
        assert_non_null(out);
        size_t n = http_response_head(out, cap, 503, "application/json", 1234, false,
                                      "Retry-After: 5\r\n");
        if (cap < full) {
            assert_int_equal(n, 0);
        } else {
            assert_int_equal(n, full);
            assert_memory_equal(out, ref, full);
            if (cap > full)
                assert_int_equal(out[full], '\0');
        }
        free(out);
    }
}

/* Every line ends in CRLF and the head in CRLFCRLF. */
static void test_http_response_head_lines_are_crlf(void **state)
{
    (void)state;
    char out[256];
    size_t n = http_response_head(out, sizeof out, 200, "text/html; charset=utf-8", 5, true,
                                  "Cache-Control: no-store\r\n");
    assert_true(n > 4);
    assert_memory_equal(out + n - 4, "\r\n\r\n", 4);
    for (size_t i = 0; i < n; i++) {
        if (out[i] == '\n')
            assert_true(i > 0 && out[i - 1] == '\r');
    }
    assert_non_null(strstr(out, "\r\nCache-Control: no-store\r\n\r\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_status_text_known),
        cmocka_unit_test(test_http_response_head_forms),
        cmocka_unit_test(test_http_response_head_invalid_args),
        cmocka_unit_test(test_http_response_head_every_cap),
        cmocka_unit_test(test_http_response_head_lines_are_crlf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
