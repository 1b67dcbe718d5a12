/* conn_out.h - a connection's output, shared by every port: the out-queue
 * (pubsub/outq.h: references to messages, never copies of shared ones)
 * and its flush through the connection's transport.
 *
 * The public port (conn.c: the backlog gate and the slow-consumer policy
 * sit above these calls) and the admin port (admin.c: its 256 KiB read
 * pause and 8 MiB bound) queue and flush with the same code. A queue
 * exists only while it holds bytes: *q is NULL otherwise. One thread. */
#ifndef WSP_SERVER_CONN_OUT_H
#define WSP_SERVER_CONN_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pubsub/msg.h"
#include "pubsub/outq.h"
#include "server/transport.h"

/* iovecs per flush: one writev/sendmsg */
#define CONN_OUT_IOV 64

/* Queues m (a new reference) with its first `offset` bytes already sent,
 * making the queue on first use (gauge: see outq_new). 0 or WSP_ENOMEM. */
int conn_out_push(struct outq **q, uint64_t *gauge, struct msg *m, size_t offset);
/* Queues a copy of p's n bytes (a reply, a pong). 0 or WSP_ENOMEM. */
int conn_out_push_copy(struct outq **q, uint64_t *gauge, const void *p, size_t n);
/* Writes from the front of *q (at most max_bytes) through t on fd: the
 * bytes written (>= 0; the queue advanced by as much, and was freed, *q
 * NULL, once empty) or < 0: broken, the queue unchanged. */
ssize_t conn_out_flush(int fd, struct transport *t, struct outq **q, size_t max_bytes);

#endif
