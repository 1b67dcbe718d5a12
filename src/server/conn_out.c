/* conn_out.c - a connection's out-queue and its flush (see conn_out.h).
 *
 * What it does not do: decide whether bytes may be queued (the ports'
 * limits), count them, or arm EPOLLOUT; the caller does, from what these
 * return. Invariant: a queue is freed the moment it is drained, so an idle
 * connection holds no queue. */
#include "server/conn_out.h"

#include <string.h>

#include "core/err.h"

int conn_out_push(struct outq **q, uint64_t *gauge, struct msg *m, size_t offset)
{
    if (!*q && !(*q = outq_new(gauge)))
        return WSP_ENOMEM;
    return outq_push(*q, m, offset) < 0 ? WSP_ENOMEM : 0;
}

int conn_out_push_copy(struct outq **q, uint64_t *gauge, const void *p, size_t n)
{
    struct msg *m = msg_new(n);
    if (!m)
        return WSP_ENOMEM;
    memcpy(m->data, p, n);
    int rc = conn_out_push(q, gauge, m, 0);
    msg_unref(m);
    return rc;
}

ssize_t conn_out_flush(int fd, struct transport *t, struct outq **q, size_t max_bytes)
{
    if (outq_empty(*q))
        return 0;
    struct iovec iov[CONN_OUT_IOV];
    int n = outq_iov(*q, iov, CONN_OUT_IOV, max_bytes);
    ssize_t r = transport_writev(t, fd, iov, n);
    if (r <= 0)
        return r;
    outq_advance(*q, (size_t)r);
    if (outq_empty(*q)) {
        outq_free(*q);
        *q = NULL;
    }
    return r;
}
