/* test_btls.c - wspush-bench's TLS client (loadgen/btls.h): failure causes,
 * context setup, SNI, and handshake steps against a peer that is not a TLS
 * server (a socketpair; no network). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "btls.h"
#include "stats.h"

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(btls_classify(SSL_ERROR_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED, 0, X509_V_OK),
                     TLSF_VERIFY);
    assert_int_equal(btls_classify(SSL_ERROR_SSL, 0, 0, X509_V_ERR_HOSTNAME_MISMATCH), TLSF_VERIFY);
    assert_int_equal(btls_classify(SSL_ERROR_SSL, SSL_R_WRONG_VERSION_NUMBER, 0, X509_V_OK),
                     TLSF_PROTO);
    assert_int_equal(btls_classify(SSL_ERROR_SYSCALL, 0, 0, X509_V_OK), TLSF_EOF);
    assert_int_equal(btls_classify(SSL_ERROR_SSL, SSL_R_UNEXPECTED_EOF_WHILE_READING, 0, X509_V_OK),
                     TLSF_EOF);
    assert_int_equal(btls_classify(SSL_ERROR_SYSCALL, 0, ECONNRESET, X509_V_OK), TLSF_RESET);
    assert_int_equal(btls_classify(SSL_ERROR_ZERO_RETURN, 0, 0, X509_V_OK), TLSF_EOF);
    /* every cause has a name of its own */
    for (int i = 0; i < TLSF_MAX; i++) {
        assert_string_not_equal(bench_tls_name(i), "?");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(bench_tls_name(i), bench_tls_name(j));
    }
    assert_string_equal(bench_tls_name(TLSF_MAX), "?");
}

static void test_ctx_missing_cafile_names_it(void **state)
{
    (void)state;
    char err[512] = "";
    struct btls_cfg cfg = {.cafile = "/nonexistent/ca.pem", .host = "localhost"};
    assert_null(btls_ctx_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
    assert_int_equal(ERR_peek_error(), 0); /* the queue is left empty */
    cfg = (struct btls_cfg){.insecure = true, .host = "localhost"};
    SSL_CTX *c = btls_ctx_new(&cfg, err, sizeof err);
    assert_non_null(c);
    assert_true(SSL_CTX_get_mode(c) & SSL_MODE_RELEASE_BUFFERS);
    assert_int_equal(SSL_CTX_get_session_cache_mode(c), SSL_SESS_CACHE_OFF);
    assert_int_equal(SSL_CTX_get_max_proto_version(c), 0); /* 0: the highest, TLS 1.3 */
    btls_ctx_free(c);
    cfg.tls12 = true;
    c = btls_ctx_new(&cfg, err, sizeof err);
    assert_int_equal(SSL_CTX_get_max_proto_version(c), TLS1_2_VERSION);
    btls_ctx_free(c);
}

/* Runs the handshake against the far end of a socketpair, which does
 * `peer` after the ClientHello has been written. Returns the step's result. */
static int handshake_against(const struct btls_cfg *cfg, const char *reply, bool close_peer,
                             char *sni, size_t sni_cap)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    char err[256];
    SSL_CTX *ctx = btls_ctx_new(cfg, err, sizeof err);
    assert_non_null(ctx);
    SSL *ssl = btls_conn_new(ctx, cfg, sv[0]);
    assert_non_null(ssl);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    snprintf(sni, sni_cap, "%s", name ? name : "");
    assert_int_equal(btls_handshake_step(ssl), BTLS_WANT_READ); /* ClientHello out */
    uint8_t hello[4096];
    ssize_t n = read(sv[1], hello, sizeof hello);
    assert_true(n > 5);
    assert_int_equal(hello[0], 22); /* a handshake record */
    if (reply)
        assert_int_equal(write(sv[1], reply, strlen(reply)), (ssize_t)strlen(reply));
    if (close_peer)
        close(sv[1]);
    int r = btls_handshake_step(ssl);
    assert_int_equal(ERR_peek_error(), 0);
    btls_conn_free(ssl);
    btls_ctx_free(ctx);
    close(sv[0]);
    if (!close_peer)
        close(sv[1]);
    return r;
}

static void test_handshake_steps_and_causes(void **state)
{
    (void)state;
    struct btls_cfg cfg = {.insecure = true, .host = "localhost"};
    char sni[64];
    /* nothing back yet: still waiting; SNI carries the name */
    assert_int_equal(handshake_against(&cfg, NULL, false, sni, sizeof sni), BTLS_WANT_READ);
    assert_string_equal(sni, "localhost");
    /* the peer hangs up: EOF */
    assert_int_equal(handshake_against(&cfg, NULL, true, sni, sizeof sni), -(1 + TLSF_EOF));
    /* a plain HTTP server answers the ClientHello: a protocol error */
    cfg.host = "127.0.0.1";
    assert_int_equal(
        handshake_against(&cfg, "HTTP/1.1 400 Bad Request\r\n\r\n", false, sni, sizeof sni),
        -(1 + TLSF_PROTO));
    assert_string_equal(sni, ""); /* RFC 6066: no IP literal in SNI */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as wspush-bench: OpenSSL writes with write(2) */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_ctx_missing_cafile_names_it),
        cmocka_unit_test(test_handshake_steps_and_causes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
