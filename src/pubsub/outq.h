/* outq.h - a connection's queued output: references to shared messages.
 *
 * Exists only while a connection has unsent bytes (allocated on the first
 * short write, freed when drained). Each entry is a msg reference; the head
 * entry may be partly sent (offset). Nothing is copied: a queued message
 * costs one slot and one refcount. Socket-agnostic: the caller turns the
 * queue into iovecs, writes them however it writes (plain or TLS), and
 * reports how much went out. */
#ifndef WSP_PUBSUB_OUTQ_H
#define WSP_PUBSUB_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pubsub/msg.h"

struct outq;

/* gauge: NULL, or a byte counter (e.g. a worker's queued_bytes) that the
 * queue keeps in step with itself: every change of outq_bytes() is applied
 * to *gauge too, and outq_free takes back what is left, so the counter
 * only ever holds the bytes its queues still hold. Borrowed: it must
 * outlive the queue. */
struct outq *outq_new(uint64_t *gauge);
/* Drops every reference (and its bytes from the gauge). NULL is a no-op. */
void outq_free(struct outq *q);

/* Appends m (takes a new reference: msg_ref) with the first `offset` bytes
 * already sent. Returns 0 or WSP_ENOMEM. */
int outq_push(struct outq *q, struct msg *m, size_t offset);

/* Policy "latest": if a queued message with the same topic_key (non-zero)
 * has not started to go out, replace it with m (new reference, old one
 * dropped) and return 1; else return 0 and change nothing. */
int outq_replace_latest(struct outq *q, struct msg *m);

/* Bytes still to send / entries queued. */
size_t outq_bytes(const struct outq *q);
size_t outq_count(const struct outq *q);
static inline bool outq_empty(const struct outq *q)
{
    return q == NULL || outq_count(q) == 0;
}

/* Fills at most max_iov iovecs (and at most max_bytes bytes) from the head.
 * Returns the number of iovecs filled. */
int outq_iov(const struct outq *q, struct iovec *iov, int max_iov, size_t max_bytes);
/* Marks n bytes as sent: drops fully sent messages. */
void outq_advance(struct outq *q, size_t n);
/* True if any byte was sent (outq_advance) since the previous call, or
 * since the queue was made for the first call: whether the peer is taking
 * what is queued, e.g. while a ping waits behind it (server/conn.c). */
bool outq_progressed(struct outq *q);

#endif
