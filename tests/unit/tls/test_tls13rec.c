/* test_tls13rec.c - the TLS 1.3 record layer after the hand-over
 * (tls/tls13rec.c) and the hand-over itself (tls_conn_hand_over):
 * seal/open round trips per suite and what open refuses; a real OpenSSL
 * client on the other end of a socketpair for each suite, with session
 * tickets and client data read by OpenSSL before the hand-over (so the
 * sequence numbers must be counted right), a KeyUpdate the client asks us
 * to answer, close_notify; TLS 1.2 keeps its SSL; a record the socket took
 * only part of is finished by the next write; bad records end the
 * connection with an alert. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "tls/tls.h"
#include "tls/tls13rec.h"
#include "../test_cert.h"

static char crt[256], key[256];
static struct tls_ctx *ctx;

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (cert_dir_make() < 0 || cert_make("localhost", crt, key) < 0)
        return -1;
    char err[256];
    const char *c[] = {crt}, *k[] = {key};
    ctx = tls_ctx_new(c, k, 1, err, sizeof err);
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tls_ctx_free(ctx);
    return cert_dir_remove();
}

static const int all_suites[] = {TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384,
                                 TLS13_CHACHA20_POLY1305_SHA256};
static const char *const suite_names[] = {"", "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                          "TLS_CHACHA20_POLY1305_SHA256"};

/* Two directions with the same secret: what one seals the other opens. */
static void twin(int suite, struct tls13_rec *a, struct tls13_rec *b)
{
    memset(a, 0, sizeof *a);
    assert_int_equal(RAND_bytes(a->tx.secret, TLS13_SECRET_MAX), 1);
    memcpy(a->rx.secret, a->tx.secret, TLS13_SECRET_MAX);
    assert_int_equal(tls13_rec_start(a, suite), 0);
    *b = *a;
}

static void test_seal_open_round_trip_and_refusals(void **state)
{
    (void)state;
    for (size_t s = 0; s < 3; s++) {
        int suite = all_suites[s];
        struct tls13_rec a, b;
        twin(suite, &a, &b);
        uint8_t rec[64], type = 0;
        size_t plen = 0;
        size_t len = tls13_seal(&a.tx, suite, TLS13_CT_APPDATA, "hello", 5, rec);
        assert_int_equal(len, 5 + TLS13_OVERHEAD);
        assert_int_equal(a.tx.seq, 1);
        uint8_t copy[64];
        memcpy(copy, rec, len);
        assert_int_equal(tls13_open(&b.rx, suite, rec, len, &type, &plen), 0);
        assert_int_equal(type, TLS13_CT_APPDATA);
        assert_int_equal(plen, 5);
        assert_memory_equal(rec + 5, "hello", 5);
        assert_int_equal(b.rx.seq, 1);
        /* the same record again: the sequence number moved on, it fails */
        memcpy(rec, copy, len);
        assert_int_equal(tls13_open(&b.rx, suite, rec, len, &type, &plen), WSP_EPROTO);
        assert_int_equal(b.rx.seq, 1);
        /* one flipped bit anywhere (header included: it is the AAD) */
        for (size_t i = 0; i < len; i += 3) {
            len = tls13_seal(&a.tx, suite, TLS13_CT_APPDATA, "hello", 5, rec);
            rec[i] ^= 0x10;
            uint64_t seq = b.rx.seq;
            assert_int_equal(tls13_open(&b.rx, suite, rec, len, &type, &plen), WSP_EPROTO);
            b.rx.seq = seq + 1; /* keep in step with the sender */
        }
        /* zero padding is stripped; all zeros (no content type) is refused */
        b.rx.seq = a.tx.seq;
        len = tls13_seal(&a.tx, suite, 0, "hi\x17\0\0", 5, rec);
        assert_int_equal(tls13_open(&b.rx, suite, rec, len, &type, &plen), 0);
        assert_int_equal(type, TLS13_CT_APPDATA);
        assert_int_equal(plen, 2);
        len = tls13_seal(&a.tx, suite, 0, "\0\0", 2, rec);
        assert_int_equal(tls13_open(&b.rx, suite, rec, len, &type, &plen), WSP_EPROTO);
        /* a length field that disagrees with the record */
        len = tls13_seal(&a.tx, suite, TLS13_CT_APPDATA, "x", 1, rec);
        assert_int_equal(tls13_open(&b.rx, suite, rec, len - 1, &type, &plen), WSP_EPROTO);
        tls13_rec_clear(&a);
        tls13_rec_clear(&b);
    }
    struct tls13_rec z = {0};
    assert_int_equal(tls13_rec_start(&z, 9), WSP_EINVAL);
}

/* ---- against a real OpenSSL client ---- */

struct pair {
    int sv[2];
    SSL *srv, *cli;
    SSL_CTX *cctx;
    struct tls13_rec rec;
};

static void pair_open(struct pair *p, const char *suite, int max_version)
{
    memset(p, 0, sizeof *p);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->sv), 0);
    p->srv = tls_conn_new(ctx, p->sv[0], &p->rec);
    assert_non_null(p->srv);
    p->cctx = SSL_CTX_new(TLS_client_method());
    if (suite)
        assert_int_equal(SSL_CTX_set_ciphersuites(p->cctx, suite), 1);
    if (max_version)
        SSL_CTX_set_max_proto_version(p->cctx, max_version);
    p->cli = SSL_new(p->cctx);
    SSL_set_fd(p->cli, p->sv[1]);
    SSL_set_connect_state(p->cli);
    for (int i = 0; i < 1000 && !(tls_conn_ready(p->srv) && SSL_is_init_finished(p->cli)); i++) {
        int ww;
        char b[1];
        SSL_do_handshake(p->cli);
        tls_read(p->srv, b, 0, &ww);
    }
    assert_true(tls_conn_ready(p->srv));
    assert_true(SSL_is_init_finished(p->cli));
}

static void pair_close(struct pair *p)
{
    if (p->srv)
        tls_conn_free(p->srv);
    tls13_rec_clear(&p->rec);
    SSL_free(p->cli);
    SSL_CTX_free(p->cctx);
    close(p->sv[0]);
    close(p->sv[1]);
    ERR_clear_error();
}

/* What the client reads, up to n bytes, reading on past empty results. */
static int cli_read(SSL *cli, char *buf, int n)
{
    int got = 0;
    for (int i = 0; i < 200 && got < n; i++) {
        int k = SSL_read(cli, buf + got, n - got);
        if (k > 0)
            got += k;
        else if (SSL_get_error(cli, k) != SSL_ERROR_WANT_READ)
            break;
    }
    return got;
}

static ssize_t rec_read_all(struct tls13_rec *r, int fd, char *buf, size_t n)
{
    ssize_t k = WSP_EAGAIN;
    for (int i = 0; i < 100 && k == WSP_EAGAIN; i++)
        k = tls13_rec_read(r, fd, buf, n);
    return k;
}

static void test_hand_over_against_openssl(void **state)
{
    (void)state;
    for (size_t s = 0; s < 3; s++) {
        struct pair p;
        pair_open(&p, suite_names[all_suites[s]], 0);
        /* the client speaks first; OpenSSL reads it (a counted record) */
        assert_int_equal(SSL_write(p.cli, "GET", 3), 3);
        char buf[64];
        int ww;
        assert_int_equal(tls_read(p.srv, buf, sizeof buf, &ww), 3);
        assert_int_equal(tls_conn_hand_over(p.srv, &p.rec, 0), 1);
        p.srv = NULL;
        assert_int_equal(p.rec.suite, all_suites[s]);
        assert_int_equal(p.rec.rx.seq, 1);
        assert_true(p.rec.tx.seq >= 1); /* our session tickets */

        /* both ways after the hand-over */
        assert_int_equal(tls13_rec_write(&p.rec, p.sv[0], "hello", 5), 5);
        assert_int_equal(cli_read(p.cli, buf, 5), 5);
        assert_memory_equal(buf, "hello", 5);
        assert_int_equal(SSL_write(p.cli, "ping", 4), 4);
        assert_int_equal(tls13_rec_read(&p.rec, p.sv[0], buf, 2), 2);
        assert_int_equal(tls13_rec_pending(&p.rec), 2);
        assert_int_equal(tls13_rec_read(&p.rec, p.sv[0], buf + 2, 2), 2);
        assert_memory_equal(buf, "ping", 4);
        assert_int_equal(tls13_rec_read(&p.rec, p.sv[0], buf, sizeof buf), WSP_EAGAIN);

        /* the client updates its keys and asks for ours: we follow */
        assert_int_equal(SSL_key_update(p.cli, SSL_KEY_UPDATE_REQUESTED), 1);
        assert_int_equal(SSL_write(p.cli, "after", 5), 5);
        assert_int_equal(rec_read_all(&p.rec, p.sv[0], buf, sizeof buf), 5);
        assert_memory_equal(buf, "after", 5);
        assert_int_equal(p.rec.rx.seq, 1);
        assert_int_equal(p.rec.tx.seq, 0);
        assert_int_equal(tls13_rec_write(&p.rec, p.sv[0], "back", 4), 4);
        assert_int_equal(cli_read(p.cli, buf, 4), 4);
        assert_memory_equal(buf, "back", 4);

        /* the client's close_notify is EOF, and stays EOF */
        SSL_shutdown(p.cli);
        assert_int_equal(rec_read_all(&p.rec, p.sv[0], buf, sizeof buf), 0);
        assert_int_equal(tls13_rec_read(&p.rec, p.sv[0], buf, sizeof buf), 0);
        /* ours reaches the client as a clean end */
        tls13_rec_close_notify(&p.rec, p.sv[0]);
        assert_int_equal(SSL_read(p.cli, buf, sizeof buf), 0);
        assert_int_equal(SSL_get_error(p.cli, 0), SSL_ERROR_ZERO_RETURN);
        pair_close(&p);
    }
}

/* A resumed session (PSK from one of our tickets) hands over the same way. */
static void test_hand_over_after_resumption(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, NULL, 0);
    assert_int_equal(tls_conn_hand_over(p.srv, &p.rec, 0), 1);
    p.srv = NULL;
    assert_int_equal(tls13_rec_write(&p.rec, p.sv[0], "one", 3), 3);
    char buf[16];
    assert_int_equal(cli_read(p.cli, buf, 3), 3); /* the client takes the tickets too */
    SSL_SESSION *sess = SSL_get1_session(p.cli);
    assert_non_null(sess);
    assert_true(SSL_SESSION_is_resumable(sess));

    struct pair q;
    memset(&q, 0, sizeof q);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, q.sv), 0);
    q.srv = tls_conn_new(ctx, q.sv[0], &q.rec);
    q.cli = SSL_new(p.cctx);
    SSL_set_fd(q.cli, q.sv[1]);
    SSL_set_connect_state(q.cli);
    assert_int_equal(SSL_set_session(q.cli, sess), 1);
    for (int i = 0; i < 1000 && !(tls_conn_ready(q.srv) && SSL_is_init_finished(q.cli)); i++) {
        int ww;
        char b[1];
        SSL_do_handshake(q.cli);
        tls_read(q.srv, b, 0, &ww);
    }
    assert_true(SSL_session_reused(q.cli));
    assert_int_equal(tls_conn_hand_over(q.srv, &q.rec, 0), 1);
    q.srv = NULL;
    assert_int_equal(tls13_rec_write(&q.rec, q.sv[0], "two", 3), 3);
    assert_int_equal(cli_read(q.cli, buf, 3), 3);
    assert_memory_equal(buf, "two", 3);
    assert_int_equal(SSL_write(q.cli, "back", 4), 4);
    assert_int_equal(rec_read_all(&q.rec, q.sv[0], buf, sizeof buf), 4);
    assert_memory_equal(buf, "back", 4);
    SSL_SESSION_free(sess);
    tls13_rec_clear(&q.rec);
    SSL_free(q.cli);
    close(q.sv[0]);
    close(q.sv[1]);
    pair_close(&p);
}

static void test_hand_over_keeps_tls12(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, NULL, TLS1_2_VERSION);
    assert_int_equal(tls_conn_hand_over(p.srv, &p.rec, 0), -1);
    int ww;
    assert_int_equal(tls_write(p.srv, "still", 5, &ww), 5); /* the SSL goes on */
    char buf[8];
    assert_int_equal(cli_read(p.cli, buf, 5), 5);
    pair_close(&p);

    /* TLS 1.3 but a record half sent: not now, later */
    pair_open(&p, NULL, 0);
    assert_int_equal(tls_conn_hand_over(p.srv, &p.rec, 1), 0);
    assert_int_equal(tls_conn_hand_over(p.srv, &p.rec, 0), 1);
    p.srv = NULL;
    pair_close(&p);
}

/* A pair handed over, the server's socket small enough to fill. */
static void small_handed_over(struct pair *p)
{
    pair_open(p, NULL, 0);
    assert_int_equal(tls_conn_hand_over(p->srv, &p->rec, 0), 1);
    p->srv = NULL;
    int small = 4096;
    setsockopt(p->sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
}

static void test_partial_record_finished_by_next_write(void **state)
{
    (void)state;
    struct pair p;
    small_handed_over(&p);
    static char big[3 * TLS13_MAX_PLAIN], got[3 * TLS13_MAX_PLAIN];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 23);
    /* write until the socket is full: the last record is held, 0 taken */
    size_t off = 0;
    ssize_t k;
    while ((k = tls13_rec_write(&p.rec, p.sv[0], big + off, sizeof big - off)) > 0)
        off += (size_t)k;
    assert_int_equal(k, 0);
    assert_non_null(p.rec.wpend);
    assert_true(off < sizeof big);
    /* the client drains; the same bytes offered again: the held record's
     * share is taken, then the rest goes */
    size_t rd = 0;
    for (int i = 0; i < 10000 && rd < sizeof big; i++) {
        int r = SSL_read(p.cli, got + rd, (int)(sizeof got - rd));
        if (r > 0)
            rd += (size_t)r;
        if (off < sizeof big) {
            k = tls13_rec_write(&p.rec, p.sv[0], big + off, sizeof big - off);
            assert_true(k >= 0);
            off += (size_t)k;
        }
    }
    assert_int_equal(off, sizeof big);
    assert_int_equal(rd, sizeof big);
    assert_memory_equal(got, big, sizeof big);
    assert_null(p.rec.wpend);
    pair_close(&p);
}

/* The fan-out's batched path (tls13_rec_seal_out, a send of our own,
 * tls13_rec_sent): a record the socket took whole counts as the caller's
 * bytes; one it took part of, or none of (EAGAIN), is held and counts as
 * nothing taken; sealing is refused while anything is held; the next write
 * with the same bytes at the front finishes it. The client reads every
 * byte in order. A send that failed breaks the connection. */
static void test_sealed_sends_held_and_finished(void **state)
{
    (void)state;
    struct pair p;
    small_handed_over(&p);
    enum { MSG = 1000, COUNT = 64 };
    static char msgs[COUNT][MSG], got[COUNT * MSG];
    static uint8_t out[MSG + TLS13_OVERHEAD];
    for (int i = 0; i < COUNT; i++)
        memset(msgs[i], 'A' + i % 26, MSG);
    int sent = 0, held = 0, eagain = 0;
    size_t rd = 0;
    for (int round = 0; round < 10000 && (sent < COUNT || rd < sizeof got); round++) {
        if (sent < COUNT && !p.rec.wpend) {
            size_t len = tls13_rec_seal_out(&p.rec, msgs[sent], MSG, out);
            assert_int_equal(len, MSG + TLS13_OVERHEAD);
            ssize_t k = send(p.sv[0], out, len, MSG_DONTWAIT);
            if (k < 0) {
                k = -errno;
                eagain++;
            }
            ssize_t took = tls13_rec_sent(&p.rec, out, len, k, MSG);
            if (took == MSG) {
                sent++;
            } else { /* held: nothing taken; sealing waits for it */
                assert_int_equal(took, 0);
                assert_non_null(p.rec.wpend);
                assert_int_equal(tls13_rec_seal_out(&p.rec, msgs[sent], MSG, out), 0);
                held++;
            }
        } else if (sent < COUNT) { /* the same bytes again: the held record goes */
            ssize_t k = tls13_rec_write(&p.rec, p.sv[0], msgs[sent], MSG);
            assert_true(k == 0 || k == MSG);
            sent += k == MSG;
        }
        if (!p.rec.wpend && sent < COUNT)
            continue; /* the client reads only once the socket is full */
        int r = SSL_read(p.cli, got + rd, (int)(sizeof got - rd));
        if (r > 0)
            rd += (size_t)r;
    }
    assert_int_equal(sent, COUNT);
    assert_int_equal(rd, sizeof got);
    assert_memory_equal(got, msgs, sizeof got);
    assert_true(held > 0);   /* the socket was full at least once */
    assert_true(eagain > 0); /* and once refused the whole record */
    /* a failed send breaks the connection: nothing more is sealed */
    size_t len = tls13_rec_seal_out(&p.rec, msgs[0], MSG, out);
    assert_true(len > 0);
    assert_int_equal(tls13_rec_sent(&p.rec, out, len, -EPIPE, MSG), -EPIPE);
    assert_int_equal(tls13_rec_seal_out(&p.rec, msgs[0], MSG, out), 0);
    assert_true(tls13_rec_write(&p.rec, p.sv[0], msgs[0], MSG) < 0);
    pair_close(&p);
}

/* tls13_rec_feed (the load generator's reader): records cut anywhere. */
struct collected {
    char buf[64];
    size_t len;
    int stop_after; /* calls before cb says stop; 0: never */
    int calls;
};

static bool collect(void *arg, uint8_t *p, size_t n)
{
    struct collected *c = arg;
    assert_true(c->len + n <= sizeof c->buf);
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    return !(c->stop_after && ++c->calls >= c->stop_after);
}

static void test_feed_cut_anywhere(void **state)
{
    (void)state;
    struct tls13_rec peer, r;
    twin(TLS13_AES_128_GCM_SHA256, &peer, &r);
    static const uint8_t ticket[] = {4, 0, 0, 5, 1, 2, 3, 4, 5};
    static const uint8_t close_notify[] = {1, 0};
    uint8_t stream[256];
    size_t len = 0;
    len += tls13_seal(&peer.tx, TLS13_AES_128_GCM_SHA256, TLS13_CT_HANDSHAKE, ticket, sizeof ticket,
                      stream + len);
    len +=
        tls13_seal(&peer.tx, TLS13_AES_128_GCM_SHA256, TLS13_CT_APPDATA, "hello", 5, stream + len);
    len += tls13_seal(&peer.tx, TLS13_AES_128_GCM_SHA256, TLS13_CT_APPDATA, "", 0, stream + len);
    len +=
        tls13_seal(&peer.tx, TLS13_AES_128_GCM_SHA256, TLS13_CT_APPDATA, "world", 5, stream + len);
    len += tls13_seal(&peer.tx, TLS13_AES_128_GCM_SHA256, TLS13_CT_ALERT, close_notify, 2,
                      stream + len);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    for (size_t cut = 1; cut <= len; cut++) { /* a client's end: the ticket is taken */
        struct tls13_rec c = r;
        c.client = 1;
        struct collected got = {0};
        ssize_t e = 1;
        for (size_t off = 0; off < len && e == 1; off += cut)
            e = tls13_rec_feed(&c, sv[0], stream + off, off + cut <= len ? cut : len - off, collect,
                               &got);
        assert_int_equal(e, 0); /* close_notify */
        assert_int_equal(got.len, 10);
        assert_memory_equal(got.buf, "helloworld", 10);
        tls13_rec_clear(&c);
    }
    /* a server's end refuses a ticket */
    struct tls13_rec srv = r;
    struct collected got = {0};
    assert_int_equal(tls13_rec_feed(&srv, sv[0], stream, len, collect, &got), WSP_EPROTO);
    assert_int_equal(got.len, 0);
    tls13_rec_clear(&srv);
    /* the callback stops the feed: the connection is gone */
    struct tls13_rec c = r;
    c.client = 1;
    struct collected stop = {.stop_after = 1};
    assert_int_equal(tls13_rec_feed(&c, sv[0], stream, len, collect, &stop), 2);
    assert_int_equal(stop.len, 5);
    tls13_rec_clear(&c);
    /* a flipped byte does not open */
    c = r;
    c.client = 1;
    stream[30] ^= 1;
    got.len = 0;
    assert_int_equal(tls13_rec_feed(&c, sv[0], stream, len, collect, &got), WSP_EPROTO);
    tls13_rec_clear(&c);
    tls13_rec_clear(&r);
    tls13_rec_clear(&peer);
    close(sv[0]);
    close(sv[1]);
}

/* Bad input ends the connection with an alert the client can read. */
static void test_bad_records_end_with_an_alert(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t n;
    } bad[] = {
        {"\x16\x03\x03\x00\x20", 5}, /* not application_data */
        {"\x17\x03\x03\x48\x01", 5}, /* over 2^14 + 256 */
        {"\x17\x03\x03\x00\x05", 5}, /* shorter than a tag */
        {"\x17\x03\x03\x00\x14"
         "0123456789abcdefghij",
         25}, /* does not decrypt */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pair p;
        pair_open(&p, NULL, 0);
        assert_int_equal(tls_conn_hand_over(p.srv, &p.rec, 0), 1);
        p.srv = NULL;
        assert_int_equal(write(p.sv[1], bad[i].bytes, bad[i].n), (ssize_t)bad[i].n);
        char buf[32];
        assert_int_equal(tls13_rec_read(&p.rec, p.sv[0], buf, sizeof buf), WSP_EPROTO);
        assert_int_equal(tls13_rec_read(&p.rec, p.sv[0], buf, sizeof buf), WSP_EPROTO);
        assert_int_equal(tls13_rec_write(&p.rec, p.sv[0], "x", 1), WSP_EPROTO);
        int r = SSL_read(p.cli, buf, sizeof buf);
        assert_true(r <= 0);
        assert_int_equal(SSL_get_error(p.cli, r), SSL_ERROR_SSL); /* our fatal alert */
        pair_close(&p);
    }
    /* EOF inside a record is an error, between records it is EOF */
    struct pair p;
    pair_open(&p, NULL, 0);
    assert_int_equal(tls_conn_hand_over(p.srv, &p.rec, 0), 1);
    p.srv = NULL;
    assert_int_equal(write(p.sv[1],
                           "\x17\x03\x03\x00\x20"
                           "abc",
                           8),
                     8);
    shutdown(p.sv[1], SHUT_WR);
    char buf[32];
    assert_int_equal(tls13_rec_read(&p.rec, p.sv[0], buf, sizeof buf), WSP_EPROTO);
    pair_close(&p);
    pair_open(&p, NULL, 0);
    assert_int_equal(tls_conn_hand_over(p.srv, &p.rec, 0), 1);
    p.srv = NULL;
    shutdown(p.sv[1], SHUT_WR);
    assert_int_equal(tls13_rec_read(&p.rec, p.sv[0], buf, sizeof buf), 0);
    pair_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open_round_trip_and_refusals),
        cmocka_unit_test(test_hand_over_against_openssl),
        cmocka_unit_test(test_hand_over_after_resumption),
        cmocka_unit_test(test_hand_over_keeps_tls12),
        cmocka_unit_test(test_partial_record_finished_by_next_write),
        cmocka_unit_test(test_sealed_sends_held_and_finished),
        cmocka_unit_test(test_feed_cut_anywhere),
        cmocka_unit_test(test_bad_records_end_with_an_alert),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
