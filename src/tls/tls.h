/* tls.h - wss:// on the public port: OpenSSL server contexts and
 * non-blocking reads and writes with the same contract as plain sockets.
 *
 * A tls_ctx holds one SSL_CTX per certificate pair; SNI picks the pair
 * whose certificate matches the requested name (the first is the default).
 * TLS 1.2 and 1.3 only, OpenSSL's modern cipher defaults, ALPN http/1.1.
 * Idle connections keep no record buffers (SSL_MODE_RELEASE_BUFFERS). The
 * plaintext frame is still encoded once per publish; only encryption is per
 * connection. */
#ifndef WSP_TLS_H
#define WSP_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define TLS_MAX_CERTS 16

struct tls_ctx;

/* Loads n certificate/key pairs (PEM). On failure returns NULL and writes
 * one line saying which file and why into err. */
struct tls_ctx *tls_ctx_new(const char *const *certs, const char *const *keys, size_t n, char *err,
                            size_t errcap);
/* Drops the caller's reference. Every SSL made by tls_conn_new holds its own
 * until it is freed, so contexts replaced by a reload stay valid for the
 * connections and pending handshakes that use them. NULL is a no-op. */
void tls_ctx_free(struct tls_ctx *t);

struct tls13_rec;

/* A server-side SSL for fd, or NULL. The handshake happens inside the first
 * tls_read/tls_write calls. With `capture` (may be NULL), the handshake's
 * TLS 1.3 application secrets and the records sent and read after each
 * side's Finished are noted there, for tls_conn_hand_over. */
SSL *tls_conn_new(struct tls_ctx *t, int fd, struct tls13_rec *capture);
/* After the handshake: hands the connection's record layer over to the
 * capture struct (tls13rec.h) and frees the SSL without a close_notify.
 * Returns 1 (done: ssl is freed), 0 (not now: OpenSSL still holds input,
 * or a record half sent when write_blocked; try after a later read), or -1
 * (never: TLS 1.2, a suite tls13rec does not run, a KeyUpdate during the
 * hand-over window, a missing secret; keep the SSL). */
int tls_conn_hand_over(SSL *ssl, struct tls13_rec *capture, int write_blocked);
/* The same capture for an SSL of the caller's own (a client: the load
 * generator): tls_capture_ctx once on its context (the key log), then
 * tls_capture on each SSL before its handshake. 0 or -1. The hand-over
 * notes the role: on a client's end, the server's tickets are taken and
 * ignored. */
int tls_capture_ctx(SSL_CTX *ctx);
int tls_capture(SSL *ssl, struct tls13_rec *capture);
/* Best-effort close_notify, then frees. NULL is a no-op. */
void tls_conn_free(SSL *ssl);
/* True once the handshake is complete. */
int tls_conn_ready(const SSL *ssl);

/* > 0 bytes, 0 at EOF (close_notify or TCP FIN), WSP_EAGAIN when the
 * socket must become readable or writable first (*want_write says which),
 * or a negative error (the connection is broken). */
ssize_t tls_read(SSL *ssl, void *buf, size_t n, int *want_write);
ssize_t tls_write(SSL *ssl, const void *buf, size_t n, int *want_write);

#endif
