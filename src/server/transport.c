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

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>

#include "tls/tls.h"
#include "tls/tls13rec.h"

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

/* ---- TLS: OpenSSL for the handshake, then tls13rec ---- */

/* A TLS connection's state lives in a slab of its own, off the malloc heap:
 * the handshake's large transient blocks (OpenSSL's record and message
 * buffers, the SSL itself after the hand-over) are freed between
 * connections, and a small live block in the heap among them would keep
 * their pages resident. Under AddressSanitizer it is plain calloc/free, so
 * a use after free is still caught. */
struct tls_transport {
    struct transport base; /* first: the connection holds a struct transport * */
    SSL *ssl;              /* owned until the hand-over, then NULL */
    struct tls_transport *next_free;
    uint8_t write_blocked; /* OpenSSL holds a record half sent */
    uint8_t settled;       /* handed over, or never will be */
    struct tls13_rec rec;  /* the capture, then the record layer */
};

static struct {
    struct tls_transport *free;
    unsigned long handovers, kept, trimmed_at; /* counts; for transport_tls_trim */
    bool burst;
} tls_pool;

#if defined(__SANITIZE_ADDRESS__)
#define TLS_POOL_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TLS_POOL_MALLOC 1
#endif
#endif

static struct tls_transport *tls_state_get(void)
{
#ifdef TLS_POOL_MALLOC
    return calloc(1, sizeof(struct tls_transport));
#else
    if (!tls_pool.free) {
        const size_t chunk = 256 * 1024; /* above malloc's mmap threshold anyway */
        void *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        struct tls_transport *a = p;
        for (size_t i = 0; i < chunk / sizeof *a; i++) {
            a[i].next_free = tls_pool.free;
            tls_pool.free = &a[i];
        }
    }
    struct tls_transport *x = tls_pool.free;
    tls_pool.free = x->next_free;
    memset(x, 0, sizeof *x);
    return x;
#endif
}

static void tls_state_put(struct tls_transport *x)
{
#ifdef TLS_POOL_MALLOC
    free(x);
#else
    x->next_free = tls_pool.free;
    tls_pool.free = x;
#endif
}

static struct tls_transport *tls_of(struct transport *t)
{
    return (struct tls_transport *)(void *)t;
}

static SSL *ssl_of(const struct transport *t)
{
    return ((const struct tls_transport *)(const void *)t)->ssl;
}

/* After a read: the handshake is done and OpenSSL holds nothing more, so
 * the record layer moves to tls13rec and the SSL is freed. */
static void try_hand_over(struct tls_transport *x)
{
    int h = tls_conn_hand_over(x->ssl, &x->rec, x->write_blocked);
    if (h == 0)
        return;
    x->settled = 1;
    if (h > 0) {
        x->ssl = NULL;
        x->base.ops = &transport_tls13_ops;
        tls_pool.handovers++;
    } else {
        OPENSSL_cleanse(&x->rec, sizeof x->rec); /* the secrets stay in the SSL only */
        tls_pool.kept++;
    }
}

static ssize_t tls_t_read(struct transport *t, int fd, void *buf, size_t n, int *want_write)
{
    (void)fd;
    struct tls_transport *x = tls_of(t);
    *want_write = 0;
    ssize_t r = tls_read(x->ssl, buf, n, want_write);
    if (!x->settled && tls_conn_ready(x->ssl))
        try_hand_over(x);
    return r;
}

static ssize_t tls_t_write(struct transport *t, int fd, const void *p, size_t n)
{
    (void)fd;
    struct tls_transport *x = tls_of(t);
    int want_write = 0;
    ssize_t r = tls_write(x->ssl, p, n, &want_write);
    x->write_blocked = r == WSP_EAGAIN;
    if (r == WSP_EAGAIN)
        return 0;
    if (r == 0)
        return WSP_ECLOSED;
    return r;
}

/* One TLS record per piece; stops at the first short write (both TLS
 * tables). */
static ssize_t records_writev(struct transport *t, int fd, const struct iovec *iov, int n)
{
    ssize_t sum = 0;
    for (int i = 0; i < n; i++) {
        ssize_t r = t->ops->write(t, fd, iov[i].iov_base, iov[i].iov_len);
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
    struct tls_transport *x = tls_of(t);
    tls_conn_free(x->ssl);
    tls13_rec_clear(&x->rec);
    tls_state_put(x);
}

const struct transport_ops transport_tls_ops = {
    .name = "tls",
    .read = tls_t_read,
    .write = tls_t_write,
    .writev = records_writev,
    .shutdown = tls_t_shutdown,
    .pending = tls_t_pending,
    .handshaking = tls_t_handshaking,
    .free = tls_t_free,
    .reads_records = true,
};

/* ---- TLS 1.3 after the hand-over: tls13rec, no SSL ---- */

static ssize_t t13_read(struct transport *t, int fd, void *buf, size_t n, int *want_write)
{
    *want_write = 0;
    return tls13_rec_read(&tls_of(t)->rec, fd, buf, n);
}

static ssize_t t13_write(struct transport *t, int fd, const void *p, size_t n)
{
    return tls13_rec_write(&tls_of(t)->rec, fd, p, n);
}

_Static_assert(TRANSPORT_SEAL_OVERHEAD == TLS13_OVERHEAD, "a sealed record's overhead");

static size_t t13_seal(struct transport *t, const void *p, size_t n, uint8_t *out)
{
    return tls13_rec_seal_out(&tls_of(t)->rec, p, n, out);
}

static ssize_t t13_sealed(struct transport *t, const uint8_t *out, size_t len, ssize_t res,
                          size_t n)
{
    return tls13_rec_sent(&tls_of(t)->rec, out, len, res, n);
}

static void t13_shutdown(struct transport *t, int fd)
{
    tls13_rec_close_notify(&tls_of(t)->rec, fd);
    shutdown(fd, SHUT_WR);
}

static size_t t13_pending(const struct transport *t)
{
    return tls13_rec_pending(&((const struct tls_transport *)(const void *)t)->rec);
}

static void t13_free(struct transport *t)
{
    struct tls_transport *x = tls_of(t);
    tls13_rec_clear(&x->rec);
    tls_state_put(x);
}

const struct transport_ops transport_tls13_ops = {
    .name = "tls13",
    .read = t13_read,
    .write = t13_write,
    .writev = records_writev,
    .shutdown = t13_shutdown,
    .pending = t13_pending,
    .handshaking = plain_handshaking,
    .free = t13_free,
    .seal = t13_seal,
    .sealed = t13_sealed,
    .reads_records = true,
};

struct transport *transport_tls_new(struct tls_ctx *ctx, int fd)
{
    struct tls_transport *x = tls_state_get();
    if (!x)
        return NULL;
    x->base.ops = &transport_tls_ops;
    x->ssl = tls_conn_new(ctx, fd, &x->rec);
    if (!x->ssl) {
        tls_state_put(x);
        return NULL;
    }
    return &x->base;
}

void transport_tls_counts(uint64_t *handovers, uint64_t *kept)
{
    *handovers = tls_pool.handovers;
    *kept = tls_pool.kept;
}

void transport_tls_trim(void)
{
    if (tls_pool.handovers != tls_pool.trimmed_at) {
        tls_pool.trimmed_at = tls_pool.handovers; /* a burst: wait for a quiet call */
        tls_pool.burst = true;
    } else if (tls_pool.burst) {
        tls_pool.burst = false;
        malloc_trim(0); /* the handshakes' freed pages back to the system */
    }
}
