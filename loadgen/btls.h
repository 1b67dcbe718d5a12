/* btls.h - wspush-bench's TLS client side (wss://): one SSL_CTX per child
 * process, one SSL per connection, non-blocking steps driven by the child's
 * event loop.
 *
 * Knows nothing of WebSockets or of the child's connection slots: client.c
 * calls btls_handshake_step while a connection is in its TLS state and
 * btls_read/btls_write where it would call recv/send. Memory per idle
 * connection is kept small: SSL_MODE_RELEASE_BUFFERS (no 16 KiB record
 * buffers while nothing is in flight), no client session cache. */
#ifndef WSP_LOADGEN_BTLS_H
#define WSP_LOADGEN_BTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct btls_cfg {
    bool insecure;      /* --insecure: no certificate verification at all */
    const char *cafile; /* --cacert FILE: trust these; NULL: the system's store */
    const char *host;   /* the URL's host: SNI (not for an IP) and the name verified */
    bool tls12;         /* --tls-max 1.2: TLS 1.2 only (default: 1.3, 1.2 allowed) */
};

/* A client context for cfg. On failure returns NULL and writes one line
 * into err. */
SSL_CTX *btls_ctx_new(const struct btls_cfg *cfg, char *err, size_t errcap);
void btls_ctx_free(SSL_CTX *ctx);

/* An SSL in connect state on fd, SNI and the verified name set from cfg->host;
 * NULL when out of memory. */
SSL *btls_conn_new(SSL_CTX *ctx, const struct btls_cfg *cfg, int fd);
/* Frees without a close_notify (the WebSocket close handshake has already
 * said goodbye). NULL is a no-op. */
void btls_conn_free(SSL *ssl);

/* Outcome of a handshake step: done, wait for readable/writable, or a
 * failure by cause (enum bench_tls of stats.h). */
enum { BTLS_DONE = 1, BTLS_WANT_READ = 2, BTLS_WANT_WRITE = 3 };
/* Returns BTLS_DONE, BTLS_WANT_READ, BTLS_WANT_WRITE, or -(1 + TLSF_x). */
int btls_handshake_step(SSL *ssl);

/* The failure cause (TLSF_x) of a failed SSL call: ssl_err is
 * SSL_get_error's answer, lib_reason the reason of OpenSSL's first queued
 * error (ERR_GET_REASON), sys_errno errno after the call, verify_result
 * SSL_get_verify_result. Pure; exposed for the unit test. */
int btls_classify(int ssl_err, int lib_reason, int sys_errno, long verify_result);

/* Like recv/send on a non-blocking socket: > 0 bytes; 0 at EOF (close_notify
 * or TCP FIN); -1 with errno EAGAIN (try again when readable), or another
 * errno (EPROTO for a TLS error). btls_write takes the whole buffer or
 * fails: a short TLS write would leave a record half in OpenSSL's buffer. */
ssize_t btls_read(SSL *ssl, void *buf, size_t n);
ssize_t btls_write(SSL *ssl, const void *buf, size_t n);

#endif
