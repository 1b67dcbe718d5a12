/* transport.c - the plain and the TLS transport (see transport.h).
 *
 * The plain table describes the NULL transport (its calls are also inline
 * in transport.h, which is what the connection code uses); the TLS one
 * wraps tls/tls.c, the only file that speaks OpenSSL. What it does not do:
 * decide when to read or write (conn.c, admin.c), or load certificates
 * (tls.c). Invariant: a transport's write takes bytes in order and only
 * from the front, so out-queue offsets stay valid across short writes
 * (TLS: SSL_MODE_ENABLE_PARTIAL_WRITE and ACCEPT_MOVING_WRITE_BUFFER). */
#include "server/transport.h"

#include <stdlib.h>

#include "tls/tls.h"

/* ---- plain TCP: the NULL transport ---- */

static ssize_t plain_read(struct transport *t, int fd, void *buf, size_t n, int *want_write)
{
    (void)t;
    return transport_read(NULL, fd, buf, n, want_write);
}

static ssize_t plain_write(struct transport *t, int fd, const void *p, size_t n)
{
    (void)t;
    return transport_plain_write(fd, p, n);
}

static ssize_t plain_writev(struct transport *t, int fd, const struct iovec *iov, int n)
{
    (void)t;
    return transport_writev(NULL, fd, iov, n);
}

static void plain_shutdown(struct transport *t, int fd)
{
    (void)t;
    shutdown(fd, SHUT_WR);
}

static size_t plain_pending(const struct transport *t)
{
    (void)t;
    return 0;
}

static bool plain_handshaking(const struct transport *t)
{
    (void)t;
    return false;
}

static void plain_free(struct transport *t)
{
    (void)t;
}

const struct transport_ops transport_plain_ops = {
    .name = "tcp",
    .read = plain_read,
    .write = plain_write,
    .writev = plain_writev,
    .shutdown = plain_shutdown,
    .pending = plain_pending,
    .handshaking = plain_handshaking,
    .free = plain_free,
    .reads_records = false,
};

/* ---- TLS ---- */

struct tls_transport {
    struct transport base; /* first: the connection holds a struct transport * */
    SSL *ssl;              /* owned */
};

static SSL *ssl_of(const struct transport *t)
{
    return ((const struct tls_transport *)(const void *)t)->ssl;
}

static ssize_t tls_t_read(struct transport *t, int fd, void *buf, size_t n, int *want_write)
{
    (void)fd;
    *want_write = 0;
    return tls_read(ssl_of(t), buf, n, want_write);
}

static ssize_t tls_t_write(struct transport *t, int fd, const void *p, size_t n)
{
    (void)fd;
    int want_write = 0;
    ssize_t r = tls_write(ssl_of(t), p, n, &want_write);
    if (r == WSP_EAGAIN)
        return 0;
    if (r == 0)
        return WSP_ECLOSED;
    return r;
}

/* One TLS record per piece; stops at the first short write. */
static ssize_t tls_t_writev(struct transport *t, int fd, const struct iovec *iov, int n)
{
    ssize_t sum = 0;
    for (int i = 0; i < n; i++) {
        ssize_t r = tls_t_write(t, fd, iov[i].iov_base, iov[i].iov_len);
        if (r < 0)
            return r;
        sum += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return sum;
}

static void tls_t_shutdown(struct transport *t, int fd)
{
    SSL *ssl = ssl_of(t);
    if (tls_conn_ready(ssl))
        SSL_shutdown(ssl); /* close_notify first: best effort, one attempt */
    shutdown(fd, SHUT_WR);
}

static size_t tls_t_pending(const struct transport *t)
{
    int n = SSL_pending(ssl_of(t));
    return n > 0 ? (size_t)n : 0;
}

static bool tls_t_handshaking(const struct transport *t)
{
    return !tls_conn_ready(ssl_of(t));
}

static void tls_t_free(struct transport *t)
{
    tls_conn_free(ssl_of(t));
    free(t);
}

const struct transport_ops transport_tls_ops = {
    .name = "tls",
    .read = tls_t_read,
    .write = tls_t_write,
    .writev = tls_t_writev,
    .shutdown = tls_t_shutdown,
    .pending = tls_t_pending,
    .handshaking = tls_t_handshaking,
    .free = tls_t_free,
    .reads_records = true,
};

struct transport *transport_tls_new(struct tls_ctx *ctx, int fd)
{
    struct tls_transport *x = malloc(sizeof *x);
    if (!x)
        return NULL;
    x->base.ops = &transport_tls_ops;
    x->ssl = tls_conn_new(ctx, fd);
    if (!x->ssl) {
        free(x);
        return NULL;
    }
    return &x->base;
}
