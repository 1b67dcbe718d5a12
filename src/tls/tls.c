/* tls.c - OpenSSL server contexts and non-blocking I/O (see tls.h).
 *
 * Does not know about HTTP or WebSockets; conn.c calls tls_read/tls_write
 * where it would call read/send. Invariant: every SSL_CTX in a tls_ctx is
 * configured identically except for its certificate pair, and the first
 * is the one every SSL starts with (SNI may switch it).
 *
 * Lifetime: a tls_ctx is reference-counted: its owner holds one reference
 * and every SSL made from it holds one (SSL ex-data, dropped by OpenSSL's
 * free callback inside SSL_free), because its SSL_CTXs' servername callback
 * points at it. A reload (SIGHUP) drops the owner's reference; the old
 * contexts and this struct live on until the last connection or pending
 * handshake that started on them is freed (issue 11 item 2: the struct was
 * freed at once, and a ClientHello arriving after the reload made the SNI
 * callback read freed memory). Not atomic: one thread per process. */
#include "tls/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "tls/tls13rec.h"

struct tls_ctx {
    unsigned refs; /* the owner's + one per live SSL made from it */
    size_t n;
    SSL_CTX *ctx[TLS_MAX_CERTS];
};

static int ssl_ex_index = -1; /* SSL ex-data slot: the tls_ctx the SSL holds a reference to */
static int rec_ex_index = -1; /* SSL ex-data slot: the struct tls13_rec capturing its secrets */

static void ctx_unref(struct tls_ctx *t)
{
    if (!t || --t->refs)
        return;
    for (size_t i = 0; i < t->n; i++)
        SSL_CTX_free(t->ctx[i]); /* an SSL being freed holds its own reference */
    free(t);
}

/* OpenSSL calls this from SSL_free (and for SSLs that never had the slot
 * set, with ptr NULL). */
static void ssl_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    ctx_unref(ptr);
}

static void err_line(char *err, size_t cap, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, cap, "%s %s: %s", what, file, buf);
    ERR_clear_error();
}

/* SNI: switch to the context whose certificate matches the name. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    struct tls_ctx *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name || t->n < 2)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < t->n; i++) {
        X509 *cert = SSL_CTX_get0_certificate(t->ctx[i]);
        if (cert && X509_check_host(cert, name, 0, 0, NULL) == 1) {
            if (i != 0)
                SSL_set_SSL_CTX(ssl, t->ctx[i]);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_OK; /* unknown name: the default certificate */
}

/* ALPN: WebSockets over TLS speak HTTP/1.1 (RFC 6455 has no h2 mapping
 * unless RFC 8441 is negotiated, which wspush does not do). */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, h11, sizeof h11 - 1, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK; /* no ALPN agreement is fine: HTTP/1.1 */
}

/* ---- the hand-over's capture (tls13rec.h) ---- */

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* OpenSSL's key log: "CLIENT_TRAFFIC_SECRET_0 <client random> <secret>"
 * (hex) is the only way OpenSSL 3.0 gives the application secrets out. */
static void on_keylog(const SSL *ssl, const char *line)
{
    struct tls13_rec *r = SSL_get_ex_data(ssl, rec_ex_index);
    if (!r)
        return;
    static const char cs[] = "CLIENT_TRAFFIC_SECRET_0 ", ss[] = "SERVER_TRAFFIC_SECRET_0 ";
    uint8_t *out;
    int bit;
    bool server = SSL_is_server(ssl); /* a server reads what the client writes */
    if (!strncmp(line, cs, sizeof cs - 1)) {
        out = server ? r->rx.secret : r->tx.secret;
        bit = TLS13_CAP_CLIENT_SECRET;
    } else if (!strncmp(line, ss, sizeof ss - 1)) {
        out = server ? r->tx.secret : r->rx.secret;
        bit = TLS13_CAP_SERVER_SECRET;
    } else {
        return;
    }
    const char *sp = strchr(line + sizeof cs - 1, ' ');
    if (!sp)
        return;
    const char *h = sp + 1;
    size_t hl = strlen(h), n = hl / 2;
    if (hl != 64 && hl != 96)
        return;
    for (size_t i = 0; i < n; i++) {
        int a = unhex(h[2 * i]), b = unhex(h[2 * i + 1]);
        if (a < 0 || b < 0)
            return;
        out[i] = (uint8_t)(a << 4 | b);
    }
    r->capture |= (uint8_t)bit;
}

/* Counts the records each side sends after its Finished (our session
 * tickets; client data read before the hand-over): their sequence numbers.
 * OpenSSL reports a record's header before the handshake message it
 * carries, so the Finished's own record is not counted. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    (void)arg;
    struct tls13_rec *r = SSL_get_ex_data(ssl, rec_ex_index);
    if (!r)
        return;
    int fin = write_p ? TLS13_CAP_WROTE_FINISHED : TLS13_CAP_READ_FINISHED;
    if (content_type == SSL3_RT_HEADER) {
        if (r->capture & fin)
            (write_p ? &r->tx : &r->rx)->seq++;
    } else if (content_type == SSL3_RT_HANDSHAKE && len > 0) {
        uint8_t t = *(const uint8_t *)buf;
        if (t == SSL3_MT_FINISHED)
            r->capture |= (uint8_t)fin;
        else if (t == SSL3_MT_KEY_UPDATE)
            r->capture |= TLS13_CAP_REFUSE; /* new secrets the key log does not show */
    }
}

static int suite_of(const SSL *ssl)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    switch (c ? SSL_CIPHER_get_id(c) & 0xffff : 0) {
    case 0x1301:
        return TLS13_AES_128_GCM_SHA256;
    case 0x1302:
        return TLS13_AES_256_GCM_SHA384;
    case 0x1303:
        return TLS13_CHACHA20_POLY1305_SHA256;
    default:
        return TLS13_NONE;
    }
}

static int rec_index(void)
{
    if (rec_ex_index < 0)
        rec_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return rec_ex_index;
}

int tls_capture_ctx(SSL_CTX *c)
{
    if (rec_index() < 0)
        return -1;
    SSL_CTX_set_keylog_callback(c, on_keylog);
    return 0;
}

int tls_capture(SSL *ssl, struct tls13_rec *capture)
{
    if (rec_index() < 0 || SSL_set_ex_data(ssl, rec_ex_index, capture) != 1)
        return -1;
    SSL_set_msg_callback(ssl, on_msg);
    return 0;
}

int tls_conn_hand_over(SSL *ssl, struct tls13_rec *r, int write_blocked)
{
    const int secrets = TLS13_CAP_CLIENT_SECRET | TLS13_CAP_SERVER_SECRET |
                        TLS13_CAP_READ_FINISHED | TLS13_CAP_WROTE_FINISHED;
    if (!SSL_is_init_finished(ssl))
        return 0;
    int suite = suite_of(ssl);
    if (SSL_version(ssl) != TLS1_3_VERSION || suite == TLS13_NONE ||
        (r->capture & (secrets | TLS13_CAP_REFUSE)) != secrets || SSL_get_shutdown(ssl))
        return -1;
    if (write_blocked || SSL_has_pending(ssl))
        return 0;
    if (tls13_rec_start(r, suite) < 0)
        return -1;
    r->client = !SSL_is_server(ssl);
    SSL_set_ex_data(ssl, rec_ex_index, NULL);
    SSL_free(ssl); /* no close_notify: the session goes on here */
    ERR_clear_error();
    return 1;
}

struct tls_ctx *tls_ctx_new(const char *const *certs, const char *const *keys, size_t n, char *err,
                            size_t errcap)
{
    if (n == 0 || n > TLS_MAX_CERTS) {
        snprintf(err, errcap, "need 1..%d certificate/key pairs", TLS_MAX_CERTS);
        return NULL;
    }
    if (ssl_ex_index < 0)
        ssl_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_ex_free);
    struct tls_ctx *t = calloc(1, sizeof *t);
    if (ssl_ex_index < 0 || rec_index() < 0 || !t) {
        snprintf(err, errcap, "out of memory");
        free(t);
        return NULL;
    }
    t->refs = 1;
    for (size_t i = 0; i < n; i++) {
        SSL_CTX *c = SSL_CTX_new(TLS_server_method());
        if (!c) {
            err_line(err, errcap, "SSL_CTX_new", "");
            goto fail;
        }
        t->ctx[t->n++] = c;
        SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
        SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                   SSL_OP_NO_COMPRESSION);
        /* the memory budget: an idle connection keeps no 16 KiB record
         * buffers; partial writes let the out-queue keep its offsets */
        SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
        if (SSL_CTX_use_certificate_chain_file(c, certs[i]) != 1) {
            err_line(err, errcap, "cannot load certificate", certs[i]);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(c, keys[i], SSL_FILETYPE_PEM) != 1) {
            err_line(err, errcap, "cannot load key", keys[i]);
            goto fail;
        }
        if (SSL_CTX_check_private_key(c) != 1) {
            err_line(err, errcap, "key does not match certificate", certs[i]);
            goto fail;
        }
        SSL_CTX_set_tlsext_servername_callback(c, on_servername);
        SSL_CTX_set_tlsext_servername_arg(c, t);
        SSL_CTX_set_alpn_select_cb(c, on_alpn, NULL);
        SSL_CTX_set_keylog_callback(c, on_keylog); /* a no-op without a capture */
    }
    return t;
fail:
    tls_ctx_free(t);
    return NULL;
}

void tls_ctx_free(struct tls_ctx *t)
{
    ctx_unref(t);
}

SSL *tls_conn_new(struct tls_ctx *t, int fd, struct tls13_rec *capture)
{
    SSL *ssl = SSL_new(t->ctx[0]);
    if (!ssl)
        return NULL;
    if (SSL_set_ex_data(ssl, ssl_ex_index, t) != 1 || (capture && tls_capture(ssl, capture) < 0)) {
        SSL_free(ssl);
        return NULL;
    }
    t->refs++; /* dropped by ssl_ex_free, whoever frees the SSL */
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

void tls_conn_free(SSL *ssl)
{
    if (!ssl)
        return;
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl); /* one non-blocking attempt at close_notify */
    SSL_free(ssl);
    ERR_clear_error();
}

int tls_conn_ready(const SSL *ssl)
{
    return SSL_is_init_finished(ssl);
}

static ssize_t map_error(SSL *ssl, int r, int *want_write)
{
    int e = SSL_get_error(ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want_write = 0;
        return WSP_EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want_write = 1;
        return WSP_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return errno ? -errno : 0; /* 0: the peer closed TCP */
    default:
        ERR_clear_error();
        return WSP_EPROTO;
    }
}

ssize_t tls_read(SSL *ssl, void *buf, size_t n, int *want_write)
{
    size_t got = 0;
    errno = 0;
    int r = SSL_read_ex(ssl, buf, n, &got);
    if (r == 1)
        return (ssize_t)got;
    return map_error(ssl, r, want_write);
}

ssize_t tls_write(SSL *ssl, const void *buf, size_t n, int *want_write)
{
    size_t put = 0;
    errno = 0;
    int r = SSL_write_ex(ssl, buf, n, &put);
    if (r == 1)
        return (ssize_t)put;
    return map_error(ssl, r, want_write);
}
