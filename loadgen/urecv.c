/* urecv.c - multishot recv into a provided buffer ring (urecv.h).
 *
 * A re-arm (the kernel ended a socket's recv when the ring ran dry) costs
 * no registration and is submitted with the others of its round: at 20,000
 * sockets per process one system call per socket per tick made the bench
 * fall behind its server at 900,000 connections.
 *
 * Buffers: nbufs of URECV_BUF_BYTES, touched once at creation so the
 * process's memory baseline already holds them. A completion's buffer is
 * handed back to the ring right after the callback has read it, so the
 * ring only runs dry when more sockets receive between two reaps than it
 * has buffers; the kernel then ends those sockets' multishot recv with
 * -ENOBUFS (their bytes stay in the socket) and the caller re-arms them.
 * Registered files: a sparse table of max_fd entries, a socket at the
 * index of its own descriptor; without it (an old kernel or a table
 * refused) plain descriptors are used. */
#include "urecv.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#define URECV_BUF_BYTES 256u
#define URECV_BGID 1
#define URECV_CQ 32768u
#define URECV_SQ 256u
#define URECV_TAG_CANCEL UINT64_MAX /* our own cancel requests */

struct urecv {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    uint8_t *bufs;
    unsigned max_fd;
    unsigned nbufs;  /* a power of two */
    int fixed;       /* 1: sockets are registered files */
    uint64_t *rearm; /* tags whose recv ended for want of buffers, this batch */
    size_t n_rearm, cap_rearm;
    int in_reap; /* arms made by callbacks are submitted once, after the round */
    int *armed;  /* per registered index: 1 while its file is in the table */
};

struct urecv *urecv_new(unsigned max_fd, unsigned nbufs, int *err)
{
    if (nbufs == 0 || nbufs > 32768 || (nbufs & (nbufs - 1))) {
        *err = -EINVAL;
        return NULL;
    }
    struct urecv *u = calloc(1, sizeof *u);
    if (!u) {
        *err = -ENOMEM;
        return NULL;
    }
    u->nbufs = nbufs;
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = URECV_CQ};
    int rc = io_uring_queue_init_params(URECV_SQ, &u->ring, &p);
    if (rc < 0) {
        free(u);
        *err = rc;
        return NULL;
    }
    if (!(p.features & IORING_FEAT_NODROP)) {
        rc = -EOPNOTSUPP;
        goto fail_ring;
    }
    size_t ring_bytes = u->nbufs * sizeof(struct io_uring_buf);
    if (posix_memalign((void **)&u->br, 4096, ring_bytes) != 0) {
        rc = -ENOMEM;
        goto fail_ring;
    }
    u->bufs = malloc((size_t)u->nbufs * URECV_BUF_BYTES);
    if (!u->bufs) {
        rc = -ENOMEM;
        goto fail_br;
    }
    /* touched now, so the process's memory baseline holds them (not zero:
     * malloc + memset 0 is turned into calloc, which touches nothing) */
    memset(u->bufs, 0x5a, (size_t)u->nbufs * URECV_BUF_BYTES);
    io_uring_buf_ring_init(u->br);
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)u->br, .ring_entries = u->nbufs, .bgid = URECV_BGID};
    rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (rc < 0)
        goto fail_bufs;
    int mask = io_uring_buf_ring_mask(u->nbufs);
    for (unsigned i = 0; i < u->nbufs; i++)
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * URECV_BUF_BYTES, URECV_BUF_BYTES,
                              (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(u->br, (int)u->nbufs);
    u->max_fd = max_fd;
    u->fixed = max_fd && io_uring_register_files_sparse(&u->ring, max_fd) == 0;
    if (u->fixed && !(u->armed = calloc(max_fd, sizeof *u->armed)))
        u->fixed = 0;
    return u;
fail_bufs:
    free(u->bufs);
fail_br:
    free(u->br);
fail_ring:
    io_uring_queue_exit(&u->ring);
    free(u);
    *err = rc;
    return NULL;
}

void urecv_free(struct urecv *u)
{
    if (!u)
        return;
    io_uring_queue_exit(&u->ring);
    free(u->armed);
    free(u->rearm);
    free(u->bufs);
    free(u->br);
    free(u);
}

int urecv_fd(const struct urecv *u)
{
    return u->ring.ring_fd;
}

static struct io_uring_sqe *sqe_get(struct urecv *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) { /* the queue is full: hand it to the kernel, then retry */
        io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

int urecv_arm(struct urecv *u, int fd, uint64_t tag)
{
    if (fd < 0 || (u->fixed && (unsigned)fd >= u->max_fd))
        return -EBADF;
    if (u->fixed && !u->armed[fd]) { /* a re-arm finds it registered already */
        int rc = io_uring_register_files_update(&u->ring, (unsigned)fd, &fd, 1);
        if (rc < 0)
            return rc;
        u->armed[fd] = 1;
    }
    struct io_uring_sqe *sqe = sqe_get(u);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT | (u->fixed ? IOSQE_FIXED_FILE : 0);
    sqe->buf_group = URECV_BGID;
    io_uring_sqe_set_data64(sqe, tag);
    if (u->in_reap)
        return 0; /* urecv_reap submits the round's arms together */
    int rc = io_uring_submit(&u->ring);
    return rc < 0 ? rc : 0;
}

void urecv_disarm(struct urecv *u, int fd, uint64_t tag)
{
    struct io_uring_sqe *sqe = sqe_get(u);
    if (sqe) {
        io_uring_prep_cancel64(sqe, tag, 0);
        io_uring_sqe_set_data64(sqe, URECV_TAG_CANCEL);
        io_uring_submit(&u->ring);
    }
    if (u->fixed && fd >= 0 && (unsigned)fd < u->max_fd && u->armed[fd]) {
        int none = -1; /* the request keeps its own reference until it ends */
        io_uring_register_files_update(&u->ring, (unsigned)fd, &none, 1);
        u->armed[fd] = 0;
    }
}

/* Remembers a socket whose recv the kernel ended without an end of the
 * stream; false when out of memory (then the caller is told at once). */
static int rearm_later(struct urecv *u, uint64_t tag)
{
    if (u->n_rearm == u->cap_rearm) {
        size_t cap = u->cap_rearm ? u->cap_rearm * 2 : 1024;
        uint64_t *n = realloc(u->rearm, cap * sizeof *n);
        if (!n)
            return 0;
        u->rearm = n;
        u->cap_rearm = cap;
    }
    u->rearm[u->n_rearm++] = tag;
    return 1;
}

/* A few rounds at most, so the caller's timers are not starved; what is
 * left keeps the ring's descriptor readable. Sockets whose recv ended for
 * want of buffers are armed again only after this round's buffers are back
 * in the ring: armed at once, each would fail again at once, for ever. */
unsigned urecv_reap(struct urecv *u, urecv_cb cb, void *ctx)
{
    unsigned total = 0;
    int mask = io_uring_buf_ring_mask(u->nbufs);
    for (int round = 0; round < 4; round++) {
        unsigned head, n = 0, given = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&u->ring, head, cqe)
        {
            n++;
            uint64_t tag = io_uring_cqe_get_data64(cqe);
            const uint8_t *p = NULL;
            if (cqe->flags & IORING_CQE_F_BUFFER) {
                unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                p = u->bufs + (size_t)bid * URECV_BUF_BYTES;
                /* back in the ring once the callback is done with it */
                io_uring_buf_ring_add(u->br, (void *)p, URECV_BUF_BYTES, (unsigned short)bid, mask,
                                      (int)given++);
            }
            if (tag == URECV_TAG_CANCEL)
                continue;
            int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
            int res = cqe->res;
            if (res == -ECANCELED)
                continue; /* our disarm: nothing to tell */
            if (res > 0)
                cb(ctx, tag, p, res, 0);
            if ((res == -ENOBUFS || (res > 0 && !more)) && !rearm_later(u, tag))
                cb(ctx, tag, NULL, -ENOMEM, 0);
            else if (res <= 0 && res != -ENOBUFS)
                cb(ctx, tag, p, res, 0); /* EOF or an error */
        }
        if (given)
            io_uring_buf_ring_advance(u->br, (int)given);
        io_uring_cq_advance(&u->ring, n);
        total += n;
        size_t k = u->n_rearm;
        u->n_rearm = 0;
        u->in_reap = 1;
        for (size_t i = 0; i < k; i++)
            cb(ctx, u->rearm[i], NULL, -ENOBUFS, 1);
        u->in_reap = 0;
        if (k)
            io_uring_submit(&u->ring);
        if (n == 0) {
            /* completions that did not fit the queue wait in the kernel's
             * overflow list until asked for */
            if (!io_uring_cq_has_overflow(&u->ring))
                break;
            io_uring_get_events(&u->ring);
        }
    }
    return total;
}
