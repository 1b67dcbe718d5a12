/* test_transport.c - the plain (NULL) and the TLS transport over
 * socketpairs: one contract for both (bytes, 0 at EOF, WSP_EAGAIN; writes
 * take bytes from the front, 0 when the socket is full), the handshake
 * driven by reads, input held by TLS (pending), shutdown's goodbye. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/ssl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "server/transport.h"
#include "tls/tls.h"
#include "../test_cert.h"

static char crt[256], key[256];

static int setup(void **state)
{
    (void)state;
    return cert_dir_make() < 0 || cert_make("localhost", crt, key) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return cert_dir_remove();
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static void test_transport_plain_is_null_and_moves_bytes(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    assert_true(transport_is_plain(NULL));
    assert_ptr_equal(transport_ops_of(NULL), &transport_plain_ops);
    assert_false(transport_handshaking(NULL));
    assert_false(transport_reads_records(NULL));
    assert_int_equal(transport_pending(NULL), 0);

    char buf[64];
    int ww = 1;
    assert_int_equal(transport_read(NULL, sv[0], buf, sizeof buf, &ww), WSP_EAGAIN);
    assert_int_equal(ww, 0);
    assert_int_equal(transport_write(NULL, sv[0], "abc", 3), 3);
    struct iovec iov[2] = {{(void *)"de", 2}, {(void *)"fgh", 3}};
    assert_int_equal(transport_writev(NULL, sv[0], iov, 2), 5);
    assert_int_equal(read(sv[1], buf, sizeof buf), 8);
    assert_memory_equal(buf, "abcdefgh", 8);
    /* the table's calls are the inline ones */
    assert_int_equal(transport_plain_ops.write(NULL, sv[1], "xy", 2), 2);
    assert_int_equal(transport_plain_ops.read(NULL, sv[0], buf, sizeof buf, &ww), 2);

    /* shutdown: the peer sees EOF, our side still reads */
    transport_shutdown(NULL, sv[0]);
    assert_int_equal(read(sv[1], buf, sizeof buf), 0);
    assert_int_equal(write(sv[1], "z", 1), 1);
    assert_int_equal(transport_read(NULL, sv[0], buf, sizeof buf, &ww), 1);
    transport_free(NULL);
    close(sv[0]);
    close(sv[1]);
}

static void test_transport_plain_full_socket_takes_zero(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    static char big[65536];
    ssize_t r;
    size_t total = 0;
    while ((r = transport_write(NULL, sv[0], big, sizeof big)) > 0)
        total += (size_t)r;
    assert_int_equal(r, 0); /* full: 0, not an error */
    assert_true(total > 0);
    close(sv[1]);
    assert_true(transport_write(NULL, sv[0], big, 1) < 0); /* broken: -EPIPE */
    close(sv[0]);
}

/* A TLS transport on sv[0] of a new socketpair; *ctx: its certificates. */
static struct transport *tls_pair(int sv[2], struct tls_ctx **ctx)
{
    char err[256];
    const char *certs[] = {crt}, *keys[] = {key};
    *ctx = tls_ctx_new(certs, keys, 1, err, sizeof err);
    assert_non_null(*ctx);
    pair(sv);
    struct transport *t = transport_tls_new(*ctx, sv[0]);
    assert_non_null(t);
    return t;
}

static void handshake(struct transport *t, int fd, SSL *cli)
{
    assert_true(transport_handshaking(t));
    for (int i = 0; i < 1000 && (transport_handshaking(t) || !SSL_is_init_finished(cli)); i++) {
        int rc = SSL_do_handshake(cli);
        if (rc <= 0) {
            int e = SSL_get_error(cli, rc);
            assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
        }
        char b[1];
        int ww;
        ssize_t r = transport_read(t, fd, b, 0, &ww);
        assert_true(r == WSP_EAGAIN || r >= 0);
    }
    assert_false(transport_handshaking(t));
    assert_true(SSL_is_init_finished(cli));
}

static int cli_read(SSL *cli, char *buf, int n)
{
    int got = 0;
    for (int i = 0; i < 100 && got <= 0; i++)
        got = SSL_read(cli, buf, n);
    return got;
}

/* The same contract before and after the hand-over: a TLS 1.3 client's
 * connection leaves OpenSSL's record layer for tls13rec once the
 * handshake is done; a TLS 1.2 client's keeps its SSL. */
static void tls_same_contract(int max_version, const struct transport_ops *after)
{
    int sv[2];
    struct tls_ctx *ctx;
    struct transport *t = tls_pair(sv, &ctx);
    assert_false(transport_is_plain(t));
    assert_ptr_equal(transport_ops_of(t), &transport_tls_ops);
    assert_true(transport_reads_records(t));
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(cctx, max_version);
    SSL *cli = SSL_new(cctx);
    SSL_set_fd(cli, sv[1]);
    SSL_set_connect_state(cli);
    handshake(t, sv[0], cli);
    assert_ptr_equal(transport_ops_of(t), after);
    assert_false(transport_handshaking(t));
    assert_true(transport_reads_records(t));

    /* writes: one record per piece, all taken */
    assert_int_equal(transport_write(t, sv[0], "hello", 5), 5);
    struct iovec iov[2] = {{(void *)" wor", 4}, {(void *)"ld", 2}};
    assert_int_equal(transport_writev(t, sv[0], iov, 2), 6);
    char buf[64];
    int got = 0;
    for (int i = 0; i < 10 && got < 11; i++) {
        int k = cli_read(cli, buf + got, (int)sizeof buf - got);
        assert_true(k > 0);
        got += k;
    }
    assert_int_equal(got, 11);
    assert_memory_equal(buf, "hello world", 11);

    /* reads: a record read in part leaves the rest pending, which epoll
     * cannot see */
    int ww = 1;
    assert_int_equal(transport_read(t, sv[0], buf, sizeof buf, &ww), WSP_EAGAIN);
    assert_int_equal(ww, 0);
    assert_int_equal(SSL_write(cli, "ping", 4), 4);
    assert_int_equal(transport_read(t, sv[0], buf, 2, &ww), 2);
    assert_int_equal(transport_pending(t), 2);
    assert_int_equal(transport_read(t, sv[0], buf + 2, 2, &ww), 2);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(transport_pending(t), 0);

    /* shutdown: close_notify, then FIN; the peer sees a clean end */
    transport_shutdown(t, sv[0]);
    assert_int_equal(SSL_read(cli, buf, sizeof buf), 0);
    assert_int_equal(SSL_get_error(cli, 0), SSL_ERROR_ZERO_RETURN);

    SSL_free(cli);
    SSL_CTX_free(cctx);
    transport_free(t);
    close(sv[0]);
    close(sv[1]);
    tls_ctx_free(ctx);
}

static void test_transport_tls_same_contract(void **state)
{
    (void)state;
    tls_same_contract(TLS1_3_VERSION, &transport_tls13_ops);
    tls_same_contract(TLS1_2_VERSION, &transport_tls_ops);
}

static void test_transport_tls_peer_gone_is_an_error(void **state)
{
    (void)state;
    int sv[2];
    struct tls_ctx *ctx;
    struct transport *t = tls_pair(sv, &ctx);
    /* not TLS at all: the handshake fails, an error (not EAGAIN, not EOF) */
    assert_int_equal(write(sv[1], "GET / HTTP/1.1\r\n\r\n", 18), 18);
    char buf[16];
    int ww;
    assert_true(transport_read(t, sv[0], buf, sizeof buf, &ww) < 0);
    transport_free(t);
    close(sv[0]);
    close(sv[1]);
    tls_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport_plain_is_null_and_moves_bytes),
        cmocka_unit_test(test_transport_plain_full_socket_takes_zero),
        cmocka_unit_test(test_transport_tls_same_contract),
        cmocka_unit_test(test_transport_tls_peer_gone_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
