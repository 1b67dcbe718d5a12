/* btls.c - wspush-bench's TLS client (see btls.h).
 *
 * One SSL_CTX per child, made after the fork, so nothing of OpenSSL's state
 * is shared between processes. TLS 1.3 by default (1.2 accepted unless the
 * server offers 1.3; --tls-max 1.2 pins 1.2 to measure it). Invariant: every
 * call here leaves OpenSSL's thread error queue empty, so the next call's
 * classification sees only its own error. */
#include "btls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "srcaddr.h"
#include "stats.h"

static void err_line(char *err, size_t cap, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, cap, "%s: %s", what, buf);
    ERR_clear_error();
}

SSL_CTX *btls_ctx_new(const struct btls_cfg *cfg, char *err, size_t errcap)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c) {
        err_line(err, errcap, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    if (cfg->tls12)
        SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
    /* Idle connections keep no record buffers; the client never resumes,
     * so it keeps no session cache either. */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    static const unsigned char h11[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(c, h11, sizeof h11 - 1);
    if (cfg->insecure) {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
        return c;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    int ok = cfg->cafile ? SSL_CTX_load_verify_locations(c, cfg->cafile, NULL)
                         : SSL_CTX_set_default_verify_paths(c);
    if (ok != 1) {
        char what[300];
        snprintf(what, sizeof what, "cannot load CA certificates %s",
                 cfg->cafile ? cfg->cafile : "(system store)");
        err_line(err, errcap, what);
        SSL_CTX_free(c);
        return NULL;
    }
    return c;
}

void btls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

static bool host_is_ip(const char *host)
{
    uint32_t ip;
    return srcaddr_parse_ip(host, strlen(host), &ip) == 0;
}

SSL *btls_conn_new(SSL_CTX *ctx, const struct btls_cfg *cfg, int fd)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        goto fail;
    if (SSL_set_fd(ssl, fd) != 1)
        goto fail;
    bool ip = host_is_ip(cfg->host);
    /* RFC 6066 §3: no IP literals in SNI */
    if (!ip && SSL_set_tlsext_host_name(ssl, cfg->host) != 1)
        goto fail;
    if (!cfg->insecure) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        int r = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, cfg->host)
                   : X509_VERIFY_PARAM_set1_host(vp, cfg->host, 0);
        if (r != 1)
            goto fail;
    }
    SSL_set_connect_state(ssl);
    return ssl;
fail:
    SSL_free(ssl);
    ERR_clear_error();
    return NULL;
}

void btls_conn_free(SSL *ssl)
{
    SSL_free(ssl);
}

int btls_classify(int ssl_err, int lib_reason, int sys_errno, long verify_result)
{
    switch (ssl_err) {
    case SSL_ERROR_ZERO_RETURN:
        return TLSF_EOF;
    case SSL_ERROR_SYSCALL:
        return sys_errno == 0 ? TLSF_EOF : TLSF_RESET;
    case SSL_ERROR_SSL:
        /* OpenSSL 3 reports a FIN in the middle of the handshake so */
        if (lib_reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            return TLSF_EOF;
        if (lib_reason == SSL_R_CERTIFICATE_VERIFY_FAILED || verify_result != X509_V_OK)
            return TLSF_VERIFY;
        return TLSF_PROTO;
    default:
        return TLSF_PROTO;
    }
}

static int cause_of(SSL *ssl, int r)
{
    int e = SSL_get_error(ssl, r);
    int saved = errno;
    unsigned long q = ERR_peek_error();
    int cause = btls_classify(e, q ? ERR_GET_REASON(q) : 0, saved, SSL_get_verify_result(ssl));
    ERR_clear_error();
    return cause;
}

int btls_handshake_step(SSL *ssl)
{
    errno = 0;
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return BTLS_DONE;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return BTLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return BTLS_WANT_WRITE;
    return -(1 + cause_of(ssl, r));
}

/* Maps a failed SSL_read/SSL_write to the recv/send contract. */
static ssize_t io_fail(SSL *ssl, int r)
{
    int saved = errno;
    int e = SSL_get_error(ssl, r);
    ERR_clear_error();
    switch (e) {
    case SSL_ERROR_WANT_READ:
        /* RELEASE_BUFFERS frees the read buffer only after application
         * data; a read that found nothing (or only a session ticket)
         * would keep its 17 KB for good: measured, 16.6 KB of the 27 KB a
         * connection cost before this. */
        SSL_free_buffers(ssl);
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (saved == 0)
            return 0; /* TCP FIN without close_notify: EOF for us */
        errno = saved;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

ssize_t btls_read(SSL *ssl, void *buf, size_t n)
{
    size_t got = 0;
    errno = 0;
    int r = SSL_read_ex(ssl, buf, n, &got);
    return r == 1 ? (ssize_t)got : io_fail(ssl, r);
}

ssize_t btls_write(SSL *ssl, const void *buf, size_t n)
{
    size_t put = 0;
    errno = 0;
    int r = SSL_write_ex(ssl, buf, n, &put);
    return r == 1 ? (ssize_t)put : io_fail(ssl, r);
}
