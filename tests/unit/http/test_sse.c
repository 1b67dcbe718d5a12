/* test_sse.c - the SSE encoder, checked against an independent parser
 * written from the HTML standard's event-stream rules (§9.2.6), and the
 * Accept / Last-Event-ID readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/http_parse.h"
#include "http/sse.h"

#define GUARD_DATA_PAGES 4
#include "../guard_page.h"

/* ---- an event-stream parser per HTML §9.2.6, kept apart from sse.c ---- */

struct ev {
    char type[256];
    char data[4096];
    char id[256];
};

struct parser {
    char type_buf[256];
    char data_buf[4096];
    size_t data_len;
    char last_id[256];
    long retry;
    struct ev evs[16];
    int n;
};

static void dispatch(struct parser *p)
{
    /* "If the data buffer is an empty string, set the data buffer and the
     * event type buffer to the empty string and return." */
    if (p->data_len == 0) {
        p->type_buf[0] = '\0';
        return;
    }
    if (p->data_buf[p->data_len - 1] == '\n')
        p->data_len--;
    assert_true(p->n < 16);
    struct ev *e = &p->evs[p->n++];
    memcpy(e->data, p->data_buf, p->data_len);
    e->data[p->data_len] = '\0';
    strcpy(e->type, p->type_buf[0] ? p->type_buf : "message");
    strcpy(e->id, p->last_id);
    p->data_len = 0;
    p->type_buf[0] = '\0';
}

static void field(struct parser *p, const char *name, size_t nl, const char *val, size_t vl)
{
    if (nl == 5 && !memcmp(name, "event", 5)) {
        memcpy(p->type_buf, val, vl);
        p->type_buf[vl] = '\0';
    } else if (nl == 4 && !memcmp(name, "data", 4)) {
        memcpy(p->data_buf + p->data_len, val, vl);
        p->data_len += vl;
        p->data_buf[p->data_len++] = '\n';
    } else if (nl == 2 && !memcmp(name, "id", 2)) {
        if (!memchr(val, '\0', vl)) {
            memcpy(p->last_id, val, vl);
            p->last_id[vl] = '\0';
        }
    } else if (nl == 5 && !memcmp(name, "retry", 5)) {
        bool digits = vl > 0;
        for (size_t i = 0; i < vl; i++)
            digits = digits && val[i] >= '0' && val[i] <= '9';
        if (digits)
            p->retry = strtol(val, NULL, 10);
    }
}

static void parse_stream(struct parser *p, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && s[i] != '\r' && s[i] != '\n')
            i++;
        assert_true(i < n); /* every line the encoder writes is terminated */
        size_t end = i;
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
            i++;
        i++;
        const char *line = s + start;
        size_t len = end - start;
        if (len == 0) {
            dispatch(p);
        } else if (line[0] == ':') {
            /* comment */
        } else {
            const char *colon = memchr(line, ':', len);
            if (colon) {
                const char *v = colon + 1;
                size_t vl = len - (size_t)(v - line);
                if (vl && *v == ' ') {
                    v++;
                    vl--;
                }
                field(p, line, (size_t)(colon - line), v, vl);
            } else {
                field(p, line, len, "", 0);
            }
        }
    }
}

static void encode_parse(struct parser *p, const char *event, const char *id, const char *data,
                         size_t n, bool binary)
{
    memset(p, 0, sizeof *p);
    size_t el = strlen(event);
    size_t want = sse_event_len(el, id ? strlen(id) : SSE_NO_ID, (const uint8_t *)data, n, binary);
    /* encoded against the guard page: a write past cap would crash */
    uint8_t *out = g_guard - want;
    ssize_t r = sse_event_encode(out, want, event, el, id, id ? strlen(id) : 0,
                                 (const uint8_t *)data, n, binary);
    assert_int_equal(r, (ssize_t)want);
    assert_int_equal(out[want - 1], '\n');
    assert_int_equal(out[want - 2], '\n');
    if (want > 2)
        assert_int_equal(sse_event_encode(out, want - 1, event, el, id, id ? strlen(id) : 0,
                                          (const uint8_t *)data, n, binary),
                         WSP_ETOOBIG);
    parse_stream(p, (const char *)out, want);
}

static void test_sse_encode_roundtrip_table(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        const char *want; /* what the parser reads back */
    } t[] = {
        {"hello", "hello"},
        {"", ""},
        {"a\nb", "a\nb"},
        {"a\rb", "a\nb"},
        {"a\r\nb", "a\nb"},
        {"a\n\rb", "a\n\nb"}, /* LF then CR: two breaks */
        {"a\r\rb", "a\n\nb"},
        {"\n", "\n"},
        {"\r\n", "\n"},
        {"\r", "\n"},
        {"a\n", "a\n"},
        {"\na", "\na"},
        {"\n\n\n", "\n\n\n"},
        {" leading space", " leading space"},
        {":colon", ":colon"},
        {"data: inside", "data: inside"},
        {"{\"k\":\"v\"}", "{\"k\":\"v\"}"},
        {"x\r\n\r\ny", "x\n\ny"},
    };
    struct parser p;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        encode_parse(&p, "news", NULL, t[i].data, strlen(t[i].data), false);
        assert_int_equal(p.n, 1);
        assert_string_equal(p.evs[0].type, "news");
        assert_string_equal(p.evs[0].data, t[i].want);
        assert_string_equal(p.evs[0].id, "");
    }
}

static void test_sse_encode_exact_bytes(void **state)
{
    (void)state;
    uint8_t out[128];
    ssize_t r =
        sse_event_encode(out, sizeof out, "news", 4, NULL, 0, (const uint8_t *)"a\r\nb", 4, false);
    static const char want[] = "event: news\ndata: a\ndata: b\n\n";
    assert_int_equal(r, sizeof want - 1);
    assert_memory_equal(out, want, sizeof want - 1);
    r = sse_event_encode(out, sizeof out, "", 0, "7-3", 3, (const uint8_t *)"", 0, false);
    static const char want2[] = "id: 7-3\ndata: \n\n";
    assert_int_equal(r, sizeof want2 - 1);
    assert_memory_equal(out, want2, sizeof want2 - 1);
}

static void test_sse_encode_broadcast_is_message(void **state)
{
    (void)state;
    struct parser p;
    encode_parse(&p, "", NULL, "2024-01-01T00:00:00.000Z", 24, false);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.evs[0].type, "message");
    assert_string_equal(p.evs[0].data, "2024-01-01T00:00:00.000Z");
}

static void test_sse_encode_ids(void **state)
{
    (void)state;
    struct parser p;
    encode_parse(&p, "t", "1712-42", "x\ny", 3, false);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.evs[0].id, "1712-42");
    assert_string_equal(p.evs[0].data, "x\ny");
    encode_parse(&p, "t", "", "x", 1, false); /* an empty id resets the last id */
    assert_string_equal(p.evs[0].id, "");
    uint8_t out[64];
    assert_int_equal(
        sse_event_encode(out, sizeof out, "t", 1, "a\nb", 3, (const uint8_t *)"x", 1, false),
        WSP_EPROTO);
    assert_int_equal(
        sse_event_encode(out, sizeof out, "t", 1, "a\0b", 3, (const uint8_t *)"x", 1, false),
        WSP_EPROTO);
    assert_int_equal(
        sse_event_encode(out, sizeof out, "t\r", 2, NULL, 0, (const uint8_t *)"x", 1, false),
        WSP_EPROTO);
}

static void test_sse_encode_binary_base64(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t n;
        const char *b64;
    } t[] = {
        /* RFC 4648 §10 */
        {"", 0, ""},
        {"f", 1, "Zg=="},
        {"fo", 2, "Zm8="},
        {"foo", 3, "Zm9v"},
        {"foob", 4, "Zm9vYg=="},
        {"fooba", 5, "Zm9vYmE="},
        {"foobar", 6, "Zm9vYmFy"},
        {"\n\r\0\xff", 4, "Cg0A/w=="},
    };
    struct parser p;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        encode_parse(&p, "img", NULL, t[i].in, t[i].n, true);
        assert_int_equal(p.n, 1);
        assert_string_equal(p.evs[0].type, "img binary");
        assert_string_equal(p.evs[0].data, t[i].b64);
    }
    encode_parse(&p, "", NULL, "foo", 3, true);
    assert_string_equal(p.evs[0].type, "message binary");
}

/* every length of every mix of 'a', CR and LF up to 6 bytes */
static void test_sse_encode_all_break_mixes(void **state)
{
    (void)state;
    static const char alpha[] = "a\r\n";
    struct parser p;
    for (size_t len = 0; len <= 6; len++) {
        size_t combos = 1;
        for (size_t i = 0; i < len; i++)
            combos *= 3;
        for (size_t k = 0; k < combos; k++) {
            char in[8], want[8];
            size_t v = k, wl = 0;
            for (size_t i = 0; i < len; i++, v /= 3)
                in[i] = alpha[v % 3];
            for (size_t i = 0; i < len; i++) { /* the standard's breaks -> LF */
                if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
                    i++;
                want[wl++] = in[i] == '\r' ? '\n' : in[i];
            }
            want[wl] = '\0';
            encode_parse(&p, "t", NULL, in, len, false);
            assert_int_equal(p.n, 1);
            assert_string_equal(p.evs[0].data, want);
        }
    }
}

static void test_sse_preamble_retry(void **state)
{
    (void)state;
    char out[64];
    ssize_t n = sse_preamble(out, sizeof out, 3000);
    assert_true(n > 0);
    struct parser p;
    memset(&p, 0, sizeof p);
    parse_stream(&p, out, (size_t)n);
    assert_int_equal(p.n, 0); /* no event, just the hint */
    assert_int_equal(p.retry, 3000);
    assert_int_equal(sse_preamble(out, 5, 3000), WSP_ETOOBIG);
    memset(&p, 0, sizeof p);
    parse_stream(&p, SSE_HEARTBEAT, strlen(SSE_HEARTBEAT));
    assert_int_equal(p.n, 0);
}

static bool accepts_guarded(const char *v)
{
    size_t n = strlen(v);
    return sse_accepts((const char *)at_guard(v, n), n);
}

static void test_sse_accept_table(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        bool yes;
    } t[] = {
        {"text/event-stream", true},
        {"TEXT/Event-Stream", true},
        {"text/html, text/event-stream", true},
        {"text/event-stream;charset=utf-8", true},
        {"text/event-stream ; q=0.5", true},
        {"text/event-stream;q=1", true},
        {"text/event-stream;q=0", false},
        {"text/event-stream;q=0.000", false},
        {"text/event-stream;q=0.001", true},
        {"*/*", false},
        {"text/*", false},
        {"text/event-streamx", false},
        {"text/event-stream-x", false},
        {"xtext/event-stream", false},
        {"", false},
        {",,, text/event-stream,", true},
        {"application/json;q=0.9,text/event-stream", true},
        {"text/event", false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (accepts_guarded(t[i].v) != t[i].yes)
            fail_msg("Accept: %s", t[i].v);
        /* every prefix answers without reading past its end */
        for (size_t cut = 0; cut < strlen(t[i].v); cut++) {
            (void)sse_accepts((const char *)at_guard(t[i].v, cut), cut);
        }
    }
}

static void parse_head(const char *head, struct http_req *r)
{
    assert_int_equal(http_parse_request((const uint8_t *)head, strlen(head), NULL, r),
                     (ssize_t)strlen(head));
}

static void test_sse_is_request(void **state)
{
    (void)state;
    struct http_req r;
    parse_head("GET /news HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", &r);
    assert_true(sse_is_request(&r));
    parse_head("POST /news HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", &r);
    assert_false(sse_is_request(&r));
    parse_head("GET /news HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", &r);
    assert_false(sse_is_request(&r));
    parse_head("GET /news HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_false(sse_is_request(&r));
}

static void test_sse_last_event_id(void **state)
{
    (void)state;
    static const struct {
        const char *head;
        ssize_t want;
        const char *id;
    } t[] = {
        {"GET /n HTTP/1.1\r\nLast-Event-ID: 17-4\r\n\r\n", 4, "17-4"},
        {"GET /n HTTP/1.1\r\nlast-event-id: \r\n\r\n", 0, ""},
        {"GET /n HTTP/1.1\r\n\r\n", -1, NULL},
        {"GET /n?lastEventId=9-1 HTTP/1.1\r\n\r\n", 3, "9-1"},
        {"GET /n?topic=a&lastEventId=a%2Fb HTTP/1.1\r\n\r\n", 3, "a/b"},
        {"GET /n?lastEventId=a%0Ab HTTP/1.1\r\n\r\n", -2, NULL},
        {"GET /n?lastEventId=%zz HTTP/1.1\r\n\r\n", -2, NULL},
        {"GET /n?lastEventId HTTP/1.1\r\n\r\n", 0, ""},
        {"GET /n?lasteventid=1 HTTP/1.1\r\n\r\n", -1, NULL}, /* the name is case-sensitive */
        /* the header wins over the query */
        {"GET /n?lastEventId=q HTTP/1.1\r\nLast-Event-ID: h\r\n\r\n", 1, "h"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct http_req r;
        parse_head(t[i].head, &r);
        char id[SSE_MAX_ID];
        ssize_t n = sse_last_event_id(&r, id, sizeof id);
        if (n != t[i].want)
            fail_msg("case %zu: %zd", i, n);
        if (n >= 0)
            assert_memory_equal(id, t[i].id, (size_t)n);
    }
    /* too long for SSE_MAX_ID */
    char head[512];
    char big[SSE_MAX_ID + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(head, sizeof head, "GET /n HTTP/1.1\r\nLast-Event-ID: %s\r\n\r\n", big);
    struct http_req r;
    parse_head(head, &r);
    char id[SSE_MAX_ID];
    assert_int_equal(sse_last_event_id(&r, id, sizeof id), -2);
    snprintf(head, sizeof head, "GET /n?lastEventId=%s HTTP/1.1\r\n\r\n", big);
    parse_head(head, &r);
    assert_int_equal(sse_last_event_id(&r, id, sizeof id), -2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_encode_roundtrip_table),
        cmocka_unit_test(test_sse_encode_exact_bytes),
        cmocka_unit_test(test_sse_encode_broadcast_is_message),
        cmocka_unit_test(test_sse_encode_ids),
        cmocka_unit_test(test_sse_encode_binary_base64),
        cmocka_unit_test(test_sse_encode_all_break_mixes),
        cmocka_unit_test(test_sse_preamble_retry),
        cmocka_unit_test(test_sse_accept_table),
        cmocka_unit_test(test_sse_is_request),
        cmocka_unit_test(test_sse_last_event_id),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
