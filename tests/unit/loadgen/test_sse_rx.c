/* test_sse_rx.c - wspush-bench's incremental SSE reader (loadgen/sse_rx.h):
 * the HTML standard's line and data rules, fed in every split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sse_rx.h"
#include "http/sse.h"

struct got {
    char data[256]; /* the current event's data */
    size_t len;
    char events[8][256];
    size_t n_events, comments;
};

static void on_data(void *ctx, const uint8_t *p, size_t n)
{
    struct got *g = ctx;
    assert_true(g->len + n < sizeof g->data);
    memcpy(g->data + g->len, p, n);
    g->len += n;
}

static void on_event(void *ctx, size_t n)
{
    struct got *g = ctx;
    assert_int_equal(n, g->len);
    assert_true(g->n_events < 8);
    memcpy(g->events[g->n_events], g->data, n);
    g->events[g->n_events++][n] = '\0';
    g->len = 0;
}

static void on_comment(void *ctx)
{
    ((struct got *)ctx)->comments++;
}

static const struct sse_rx_ops ops = {on_data, on_event, on_comment};

/* Feeds s whole, then split at every byte: the same events each time. */
static void check(const char *s, size_t n_events, const char *const *want, size_t comments)
{
    size_t n = strlen(s);
    for (size_t cut = 0; cut <= n; cut++) {
        struct got g = {0};
        struct sse_rx rx;
        sse_rx_init(&rx);
        sse_rx_feed(&rx, (const uint8_t *)s, cut, &ops, &g);
        sse_rx_feed(&rx, (const uint8_t *)s + cut, n - cut, &ops, &g);
        assert_int_equal(g.n_events, n_events);
        for (size_t i = 0; i < n_events; i++)
            assert_string_equal(g.events[i], want[i]);
        assert_int_equal(g.comments, comments);
    }
}

static void test_sse_rx_lines_and_fields(void **state)
{
    (void)state;
    const char *a[] = {"2026-11-27T02:48:19.123Z"};
    check(": wspush\nretry: 3000\n\nevent: news\nid: 1-2\ndata: 2026-11-27T02:48:19.123Z\n\n", 1, a,
          1);
    /* CRLF, CR, LF; one space dropped, a second kept; "data" alone */
    const char *b[] = {"x\ny\n z", "", "q"};
    check("data: x\r\ndata:y\rdata:  z\n\ndata\n\ndata: q\r\n\r\n", 3, b, 0);
    /* no data: no event; other fields and near-names skipped */
    const char *c[] = {"v"};
    check("event: e\n\ndat: a\ndatax: b\nDATA: c\n:\n\ndata: v\n\n", 1, c, 1);
}

static void test_sse_rx_reads_the_server_encoding(void **state)
{
    (void)state;
    static const char *const msgs[] = {"one", "a\r\nb\rc\nd", "", "tail\n"};
    static const char *const want[] = {"one", "a\nb\nc\nd", "", "tail\n"};
    char stream[1024];
    size_t len = 0;
    for (size_t i = 0; i < 4; i++) {
        ssize_t e = sse_event_encode((uint8_t *)stream + len, sizeof stream - len, "t", 1, "9-1", 3,
                                     (const uint8_t *)msgs[i], strlen(msgs[i]), false);
        assert_true(e > 0);
        len += (size_t)e;
        memcpy(stream + len, SSE_HEARTBEAT, sizeof SSE_HEARTBEAT - 1);
        len += sizeof SSE_HEARTBEAT - 1;
    }
    stream[len] = '\0';
    check(stream, 4, want, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_rx_lines_and_fields),
        cmocka_unit_test(test_sse_rx_reads_the_server_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
