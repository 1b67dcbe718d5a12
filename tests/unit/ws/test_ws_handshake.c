/* test_ws_handshake.c - §4.2.1 upgrade validation, subprotocol choice,
 * Sec-WebSocket-Accept and the 101 response, over hand-built requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "ws/ws_handshake.h"

static void req_init(struct http_req *r, const char *method, int minor)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->method_len = strlen(method);
    r->target = r->path = "/chat";
    r->target_len = r->path_len = 5;
    r->minor_version = minor;
}

static void hdr(struct http_req *r, const char *name, const char *value)
{
    assert_true(r->num_headers < HTTP_MAX_HEADERS_CAP);
    struct http_header *h = &r->headers[r->num_headers++];
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
}

/* The §1.2 example request. */
static void good_req(struct http_req *r)
{
    req_init(r, "GET", 1);
    hdr(r, "Host", "server.example.com");
    hdr(r, "Upgrade", "websocket");
    hdr(r, "Connection", "Upgrade");
    hdr(r, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    hdr(r, "Origin", "http://example.com");
    hdr(r, "Sec-WebSocket-Version", "13");
}

/* good_req with header `name` replaced by value (NULL: removed). */
static void req_with(struct http_req *r, const char *name, const char *value)
{
    good_req(r);
    for (size_t i = 0; i < r->num_headers; i++) {
        if (strcmp(r->headers[i].name, name) == 0) {
            if (value) {
                r->headers[i].value = value;
                r->headers[i].value_len = strlen(value);
            } else {
                r->headers[i] = r->headers[--r->num_headers];
            }
            return;
        }
    }
    if (value)
        hdr(r, name, value);
}

static void test_ws_handshake_accept_key_rfc(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_int_equal(ws_accept_key(key, strlen(key), out), 0);
    /* §1.3. (Not "s3pPLMBiTxaQ9kYGJzzzwq4wkBM=", a mistyped value in circulation.) */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_accept_key(key, 0, out), WSP_EINVAL);
    assert_int_equal(ws_accept_key(NULL, 24, out), WSP_EINVAL);
}

static void test_ws_handshake_check_good(void **state)
{
    (void)state;
    struct http_req r;
    struct ws_handshake hs;
    good_req(&r);
    assert_true(ws_handshake_is_upgrade(&r));
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), 0);
    assert_int_equal(hs.key_len, 24);
    assert_memory_equal(hs.key, "dGhlIHNhbXBsZSBub25jZQ==", 24);
    assert_null(hs.protocol);

    /* tokens inside lists, any case */
    req_with(&r, "Connection", "keep-alive, Upgrade");
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), 0);
    req_with(&r, "Upgrade", "WebSocket");
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), 0);
    req_with(&r, "Upgrade", "foo/2, websocket");
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), 0);
    /* Connection split over two header lines */
    req_with(&r, "Connection", "keep-alive");
    hdr(&r, "connection", "upgrade");
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), 0);
}

struct bad_case {
    const char *what;
    const char *name;  /* header to replace */
    const char *value; /* NULL: remove it */
    int status;
};

static const struct bad_case bad_cases[] = {
    {"no Host", "Host", NULL, 400},
    {"empty Host", "Host", "", 400},
    {"no Upgrade", "Upgrade", NULL, 400},
    {"Upgrade h2c", "Upgrade", "h2c", 400},
    {"Upgrade substring", "Upgrade", "websockets", 400},
    {"no Connection", "Connection", NULL, 400},
    {"Connection keep-alive", "Connection", "keep-alive", 400},
    {"no key", "Sec-WebSocket-Key", NULL, 400},
    {"empty key", "Sec-WebSocket-Key", "", 400},
    {"key 15 bytes", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j", 400},
    {"key 17 bytes", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQE=", 400},
    {"key no padding", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ", 400},
    {"key bad char", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j*Q==", 400},
    {"key long", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==AAAA", 400},
    {"key bad padding", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=A", 400},
    {"no version", "Sec-WebSocket-Version", NULL, 426},
    {"version 8", "Sec-WebSocket-Version", "8", 426},
    {"version 130", "Sec-WebSocket-Version", "130", 426},
    {"version list", "Sec-WebSocket-Version", "13, 8", 426},
};

static void test_ws_handshake_check_rejects(void **state)
{
    (void)state;
    struct http_req r;
    struct ws_handshake hs;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        req_with(&r, c->name, c->value);
        int rc = ws_handshake_check(&r, NULL, &hs);
        if (rc != WSP_EPROTO || hs.status != c->status)
            fail_msg("%s: rc %d status %d", c->what, rc, hs.status);
        assert_non_null(hs.reason);
    }
    good_req(&r);
    r.method = "POST";
    r.method_len = 4;
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), WSP_EPROTO);
    assert_int_equal(hs.status, 405);
    r.method = "get"; /* methods are case-sensitive */
    r.method_len = 3;
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), WSP_EPROTO);
    assert_int_equal(hs.status, 405);
    good_req(&r);
    r.minor_version = 0;
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), WSP_EPROTO);
    assert_int_equal(hs.status, 400);
    good_req(&r);
    hdr(&r, "Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), WSP_EPROTO);
    assert_int_equal(hs.status, 400);
    good_req(&r);
    hdr(&r, "Host", "other.example.com");
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), WSP_EPROTO);
    assert_int_equal(hs.status, 400);
    req_with(&r, "Upgrade", NULL);
    assert_false(ws_handshake_is_upgrade(&r));
    req_with(&r, "Connection", "close");
    assert_false(ws_handshake_is_upgrade(&r));
}

static void test_ws_handshake_origin_allow_list(void **state)
{
    (void)state;
    static const char *const origins[] = {"https://a.example", "http://example.com"};
    struct ws_handshake_cfg cfg = {.origins = origins, .n_origins = 2};
    struct http_req r;
    struct ws_handshake hs;
    good_req(&r);
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), 0);
    req_with(&r, "Origin", "http://evil.example");
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), WSP_EPROTO);
    assert_int_equal(hs.status, 403);
    req_with(&r, "Origin", "http://example.com.evil");
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), WSP_EPROTO);
    assert_int_equal(hs.status, 403);
    /* no Origin: not a browser, nothing to protect; let it through */
    req_with(&r, "Origin", NULL);
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), 0);
    cfg.n_origins = 0; /* any origin */
    req_with(&r, "Origin", "http://evil.example");
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), 0);
}

static void test_ws_handshake_subprotocol_choice(void **state)
{
    (void)state;
    static const char *const protos[] = {"superchat", "chat"};
    struct ws_handshake_cfg cfg = {.protocols = protos, .n_protocols = 2};
    struct http_req r;
    struct ws_handshake hs;

    req_with(&r, "Sec-WebSocket-Protocol", "chat, superchat");
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), 0);
    assert_string_equal(hs.protocol, "superchat"); /* server preference wins */

    req_with(&r, "Sec-WebSocket-Protocol", "chat");
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), 0);
    assert_string_equal(hs.protocol, "chat");

    req_with(&r, "Sec-WebSocket-Protocol", "v2.bookings,  chat ");
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), 0);
    assert_string_equal(hs.protocol, "chat");

    /* offered over two header lines */
    req_with(&r, "Sec-WebSocket-Protocol", "other");
    hdr(&r, "sec-websocket-protocol", "x, superchat");
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), 0);
    assert_string_equal(hs.protocol, "superchat");

    req_with(&r, "Sec-WebSocket-Protocol", "Chat, superchats, supe");
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), 0);
    assert_null(hs.protocol);

    good_req(&r); /* none offered */
    assert_int_equal(ws_handshake_check(&r, &cfg, &hs), 0);
    assert_null(hs.protocol);

    req_with(&r, "Sec-WebSocket-Protocol", "chat");
    assert_int_equal(ws_handshake_check(&r, NULL, &hs), 0); /* server has none */
    assert_null(hs.protocol);
}

static void test_ws_handshake_response(void **state)
{
    (void)state;
    char out[512];
    const char *want = "HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "\r\n";
    size_t n = ws_handshake_response(out, sizeof out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", NULL, NULL);
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);

    const char *want2 = "HTTP/1.1 101 Switching Protocols\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                        "Sec-WebSocket-Protocol: chat\r\n"
                        "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                        "\r\n";
    n = ws_handshake_response(out, sizeof out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "chat",
                              "permessage-deflate");
    assert_int_equal(n, strlen(want2));
    assert_string_equal(out, want2);
    assert_int_equal(ws_handshake_response(out, strlen(want2), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                                           "chat", "permessage-deflate"),
                     0);
    assert_int_equal(ws_handshake_response(out, strlen(want2) + 1, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                                           "chat", "permessage-deflate"),
                     strlen(want2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_handshake_accept_key_rfc),
        cmocka_unit_test(test_ws_handshake_check_good),
        cmocka_unit_test(test_ws_handshake_check_rejects),
        cmocka_unit_test(test_ws_handshake_origin_allow_list),
        cmocka_unit_test(test_ws_handshake_subprotocol_choice),
        cmocka_unit_test(test_ws_handshake_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
