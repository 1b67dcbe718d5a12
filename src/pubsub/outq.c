/* outq.c - a connection's queued output (see outq.h).
 *
 * A ring of msg references: the first 8 slots live inside the struct (one
 * allocation for the common short queue), then a heap array that doubles.
 * The head message may be partly sent (head_off). It does no I/O and no
 * copying of message bytes, and allocates only when the ring grows.
 *
 * Invariant: cap is a power of two >= 8, count <= cap, slot (head + i) & (cap - 1)
 * for i < count holds one reference each, head_off < len of the head message
 * (0 if the queue is empty), and bytes == sum of the lengths of the queued
 * messages minus head_off, maintained on every change, never recomputed.
 * The caller's gauge (if any) moves with bytes, in set_bytes() only: a
 * queue that changes without telling the gauge is how the "latest"
 * policy once wrapped the worker's queued_bytes (issue 11). */
#include "pubsub/outq.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/wsp_assert.h"

#define OUTQ_INLINE_SLOTS 8u

struct outq {
    struct msg **slots; /* inline_slots or a heap array of cap entries */
    uint32_t cap;       /* a power of two */
    uint32_t head;      /* slot of the oldest message */
    uint32_t count;     /* queued messages */
    size_t head_off;    /* bytes of the head message already sent */
    size_t bytes;       /* bytes still to send */
    uint64_t *gauge;    /* the caller's counter that includes bytes, or NULL */
    uint64_t sent;      /* bytes advanced since the queue was made */
    uint64_t sent_mark; /* sent at the last outq_progressed */
    struct msg *inline_slots[OUTQ_INLINE_SLOTS];
};

static inline struct msg *slot(const struct outq *q, uint32_t i)
{
    return q->slots[(q->head + i) & (q->cap - 1)];
}

/* Every change of q->bytes goes through here. */
static void set_bytes(struct outq *q, size_t bytes)
{
    if (q->gauge)
        *q->gauge = *q->gauge - q->bytes + bytes;
    q->bytes = bytes;
}

struct outq *outq_new(uint64_t *gauge)
{
    struct outq *q = malloc(sizeof *q);
    if (!q)
        return NULL;
    q->slots = q->inline_slots;
    q->cap = OUTQ_INLINE_SLOTS;
    q->head = 0;
    q->count = 0;
    q->head_off = 0;
    q->bytes = 0;
    q->sent = 0;
    q->sent_mark = 0;
    q->gauge = gauge;
    return q;
}

void outq_free(struct outq *q)
{
    if (!q)
        return;
    for (uint32_t i = 0; i < q->count; i++)
        msg_unref(slot(q, i));
    set_bytes(q, 0);
    if (q->slots != q->inline_slots)
        free(q->slots);
    free(q);
}

size_t outq_bytes(const struct outq *q)
{
    return q->bytes;
}

size_t outq_count(const struct outq *q)
{
    return q->count;
}

/* Doubles the ring, unwrapping it so the head is slot 0. */
static int grow(struct outq *q)
{
    if (q->cap > UINT32_MAX / 2)
        return WSP_ENOMEM;
    uint32_t cap = q->cap * 2;
    struct msg **s = malloc((size_t)cap * sizeof *s);
    if (!s)
        return WSP_ENOMEM;
    for (uint32_t i = 0; i < q->count; i++)
        s[i] = slot(q, i);
    if (q->slots != q->inline_slots)
        free(q->slots);
    q->slots = s;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int outq_push(struct outq *q, struct msg *m, size_t offset)
{
    /* only the head may have started: bytes of a later message cannot have
     * gone out before the ones queued ahead of it */
    WSP_DASSERT(offset == 0 || q->count == 0);
    WSP_DASSERT(offset <= m->len);
    if (offset >= m->len && m->len > 0)
        return 0; /* already fully sent: nothing to queue */
    if (q->count == q->cap) {
        int rc = grow(q);
        if (rc < 0)
            return rc;
    }
    msg_ref(m);
    q->slots[(q->head + q->count) & (q->cap - 1)] = m;
    if (q->count++ == 0)
        q->head_off = offset;
    set_bytes(q, q->bytes + (m->len - offset));
    return 0;
}

int outq_replace_latest(struct outq *q, struct msg *m)
{
    if (m->topic_key == 0)
        return 0;
    /* The head cannot be swapped once bytes of it are on the wire: the
     * peer would get a frame spliced from two messages. */
    for (uint32_t i = q->head_off > 0 ? 1 : 0; i < q->count; i++) {
        struct msg **s = &q->slots[(q->head + i) & (q->cap - 1)];
        if ((*s)->topic_key != m->topic_key)
            continue;
        set_bytes(q, q->bytes - (*s)->len + m->len);
        msg_ref(m);
        msg_unref(*s);
        *s = m;
        return 1;
    }
    return 0;
}

int outq_iov(const struct outq *q, struct iovec *iov, int max_iov, size_t max_bytes)
{
    int n = 0;
    size_t budget = max_bytes;
    for (uint32_t i = 0; i < q->count && n < max_iov && budget > 0; i++) {
        const struct msg *m = slot(q, i);
        size_t off = i == 0 ? q->head_off : 0;
        size_t len = m->len - off;
        if (len == 0)
            continue;
        if (len > budget)
            len = budget;
        iov[n].iov_base = (void *)(m->data + off);
        iov[n].iov_len = len;
        budget -= len;
        n++;
    }
    return n;
}

void outq_advance(struct outq *q, size_t n)
{
    WSP_DASSERT(n <= q->bytes);
    if (n > q->bytes)
        n = q->bytes;
    set_bytes(q, q->bytes - n);
    q->sent += n;
    while (q->count > 0) {
        struct msg *m = q->slots[q->head];
        size_t left = m->len - q->head_off;
        if (n < left) {
            q->head_off += n;
            return;
        }
        n -= left;
        msg_unref(m);
        q->head = (q->head + 1) & (q->cap - 1);
        q->count--;
        q->head_off = 0;
        /* a zero-length message with n == 0 left is dropped too: it is sent */
    }
}

bool outq_progressed(struct outq *q)
{
    bool moved = q->sent != q->sent_mark;
    q->sent_mark = q->sent;
    return moved;
}
