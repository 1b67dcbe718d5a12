/* transport.h - how a connection's bytes travel: plain TCP or TLS, chosen
 * once per connection (as redis does with its connection types).
 *
 * The connection code (conn.c for the public port, admin.c for the admin
 * port) reads, writes, shuts down and frees through these calls and never
 * names OpenSSL; tls/tls.c stays the only file that does. A new transport
 * is one more `struct transport_ops` table and a constructor that returns a
 * `struct transport` (its state, with the table first), see transport.c.
 *
 * Plain is the NULL transport: a plain connection allocates nothing and
 * its every call is an inline test of the pointer the connection already
 * holds (the same test `c->tls` was before) followed by the system call, so
 * the fan-out's per-send cost does not change. Any other transport is
 * reached through its ops table (one indirect call per I/O; the state was
 * touched anyway). Owned by the connection that holds it; one thread. */
#ifndef WSP_SERVER_TRANSPORT_H
#define WSP_SERVER_TRANSPORT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/err.h"

struct transport;
struct tls_ctx;

struct transport_ops {
    const char *name;
    /* One read: > 0 bytes, 0 at EOF, WSP_EAGAIN (then *want_write says
     * whether the socket must become writable first: a handshake step that
     * waits to send), or another negative value (the connection is broken). */
    ssize_t (*read)(struct transport *t, int fd, void *buf, size_t n, int *want_write);
    /* Bytes taken (>= 0; 0: the socket is full, try on EPOLLOUT), or < 0
     * broken (WSP_ECLOSED: the peer ended the session). */
    ssize_t (*write)(struct transport *t, int fd, const void *p, size_t n);
    /* The same for a gather list: bytes taken from the front, in order. */
    ssize_t (*writev)(struct transport *t, int fd, const struct iovec *iov, int n);
    /* Our side says no more (best effort): the transport's own goodbye
     * (TLS close_notify), then the TCP FIN. Reading goes on. */
    void (*shutdown)(struct transport *t, int fd);
    /* Input already taken off the socket and not yet returned by read
     * (epoll cannot see it). */
    size_t (*pending)(const struct transport *t);
    /* True while the transport's own handshake runs (it advances inside
     * read; the caller bounds how many steps it grants per iteration). */
    bool (*handshaking)(const struct transport *t);
    /* Frees the state (not the fd, which its connection closes). */
    void (*free)(struct transport *t);
    /* Batched sends (optional, NULL: write only). seal encodes p[0, n)
     * into out (room for n + TRANSPORT_SEAL_OVERHEAD) for a send the
     * caller makes itself (the fan-out's io_uring batch) and returns its
     * length, or 0 (use write for these bytes). sealed takes that send's
     * result (bytes of out[0, len) taken, or -errno) and returns what
     * write would have returned for p[0, n): n, 0 (the socket is full;
     * the transport holds the rest, and the caller queues all n bytes as
     * after a write that returned 0) or < 0 (broken). */
    size_t (*seal)(struct transport *t, const void *p, size_t n, uint8_t *out);
    ssize_t (*sealed)(struct transport *t, const uint8_t *out, size_t len, ssize_t res, size_t n);
    /* read returns one record at a time: a short read does not mean the
     * socket is drained, so read on until WSP_EAGAIN. */
    bool reads_records;
};

/* What seal adds to n bytes at most (a TLS 1.3 record's header, inner
 * content type and tag). */
#define TRANSPORT_SEAL_OVERHEAD 22u

struct transport { /* the head of every non-plain transport's state */
    const struct transport_ops *ops;
};

extern const struct transport_ops transport_plain_ops;
extern const struct transport_ops transport_tls_ops;
/* A TLS 1.3 connection after its hand-over (tls/tls13rec.h): the same
 * state, the SSL freed; transport_tls_new's connections switch to it. */
extern const struct transport_ops transport_tls13_ops;

/* A server-side TLS transport on fd with ctx's certificates (the handshake
 * runs inside the first reads), or NULL (out of memory). */
struct transport *transport_tls_new(struct tls_ctx *ctx, int fd);
/* Call about once a second: after a burst of TLS handshakes has ended, gives
 * the heap pages they freed back to the system (malloc_trim). */
void transport_tls_trim(void);
/* This process's TLS connections so far: handed over to tls13rec, and
 * kept on OpenSSL's record layer for good. */
void transport_tls_counts(uint64_t *handovers, uint64_t *kept);

/* The plain transport's calls (the NULL transport), inline for the hot path. */
static inline ssize_t transport_plain_result(ssize_t r)
{
    if (r >= 0)
        return r;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
}

static inline ssize_t transport_plain_write(int fd, const void *p, size_t n)
{
    return transport_plain_result(send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT));
}

static inline const struct transport_ops *transport_ops_of(const struct transport *t)
{
    return t ? t->ops : &transport_plain_ops;
}

static inline bool transport_is_plain(const struct transport *t)
{
    return !t;
}

static inline ssize_t transport_read(struct transport *t, int fd, void *buf, size_t n,
                                     int *want_write)
{
    if (!t) {
        *want_write = 0;
        ssize_t r = read(fd, buf, n);
        if (r >= 0)
            return r;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? WSP_EAGAIN : -errno;
    }
    return t->ops->read(t, fd, buf, n, want_write);
}

static inline ssize_t transport_write(struct transport *t, int fd, const void *p, size_t n)
{
    if (!t)
        return transport_plain_write(fd, p, n);
    return t->ops->write(t, fd, p, n);
}

static inline ssize_t transport_writev(struct transport *t, int fd, const struct iovec *iov, int n)
{
    if (!t) {
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
        return transport_plain_result(sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT));
    }
    return t->ops->writev(t, fd, iov, n);
}

static inline void transport_shutdown(struct transport *t, int fd)
{
    transport_ops_of(t)->shutdown(t, fd);
}

static inline size_t transport_pending(const struct transport *t)
{
    return t ? t->ops->pending(t) : 0;
}

static inline bool transport_handshaking(const struct transport *t)
{
    return t && t->ops->handshaking(t);
}

static inline bool transport_reads_records(const struct transport *t)
{
    return t && t->ops->reads_records;
}

/* Whether t seals for batched sends (not plain: plain sends m's bytes as
 * they are). */
static inline bool transport_seals(const struct transport *t)
{
    return t && t->ops->seal;
}

static inline size_t transport_seal(struct transport *t, const void *p, size_t n, uint8_t *out)
{
    return t->ops->seal(t, p, n, out);
}

static inline ssize_t transport_sealed(struct transport *t, const uint8_t *out, size_t len,
                                       ssize_t res, size_t n)
{
    return t->ops->sealed(t, out, len, res, n);
}

/* NULL (plain) is a no-op. */
static inline void transport_free(struct transport *t)
{
    if (t)
        t->ops->free(t);
}

#endif
