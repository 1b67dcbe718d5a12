/* urecv.h - wspush-bench's receive path through io_uring (issue 16 goal 5).
 *
 * Once a connection is open, its reads leave epoll: one multishot recv per
 * socket (IORING_RECV_MULTISHOT) takes its bytes into buffers the kernel
 * picks from a ring we provide (IORING_OP_PROVIDE_BUFFERS' ring form), and
 * each arrival becomes a completion. Per message that removes the epoll
 * readiness pass over the socket (sock_poll), the recv system call and
 * its descriptor lookup (the socket is a registered file, indexed by its
 * fd), which is what grows with the number of sockets at the client
 * (BENCHMARKS.md, "The load generator's cost per delivery").
 *
 * Knows nothing of WebSockets or of the child's slots: the caller arms a
 * socket with a 64-bit tag and gets (tag, bytes) back from urecv_reap; a
 * tag it no longer owns (a slot released and reused) is its to ignore.
 * Sends stay with the caller (send(2) on the same fd).
 *
 * One per process, single-threaded. */
#ifndef WSP_LOADGEN_URECV_H
#define WSP_LOADGEN_URECV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct urecv;

/* A receiver for sockets with descriptors below max_fd, with nbufs
 * receive buffers of 256 bytes (a power of two, <= 32768: the bench gives
 * one per connection, so a tick to all of them fits without re-arming).
 * NULL with *err set (-errno) when the kernel lacks what it needs
 * (multishot recv and buffer rings: Linux 6.0+), so the caller stays on
 * epoll. */
struct urecv *urecv_new(unsigned max_fd, unsigned nbufs, int *err);
void urecv_free(struct urecv *u);

/* The descriptor to watch for readability: completions are waiting. */
int urecv_fd(const struct urecv *u);

/* Starts receiving on fd; every completion carries tag. 0 or -errno. */
int urecv_arm(struct urecv *u, int fd, uint64_t tag);

/* Stops receiving on fd (armed with tag) before the caller closes it;
 * completions already posted for tag may still be reaped. */
void urecv_disarm(struct urecv *u, int fd, uint64_t tag);

/* What one completion says: n > 0 bytes at p; n == 0 the peer's EOF;
 * n < 0 -errno (the connection is broken). rearm: the kernel stopped
 * receiving on this socket without an end (its buffers ran out): the
 * caller arms it again if it still owns tag. */
typedef void (*urecv_cb)(void *ctx, uint64_t tag, const uint8_t *p, ssize_t n, int rearm);

/* Hands every posted completion to cb, then gives the buffers back.
 * Returns how many completions were handled. cb may arm and disarm. */
unsigned urecv_reap(struct urecv *u, urecv_cb cb, void *ctx);

#endif
