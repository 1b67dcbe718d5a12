/* loop.h - the event loop: one per process (worker, master, bench process).
 *
 * Readiness events on file descriptors, a few periodic timers, and a hook run
 * after each batch of events (where closed connections are freed and queued
 * output flushed). The OS backend (epoll today; io_uring may follow) sits
 * behind the small interface in ev_int.h; nothing here knows about sockets,
 * HTTP or WebSockets.
 *
 * Objects registered with the loop embed a struct ev_handler as a field and
 * pass its address: the loop hands that pointer back to the callback, which
 * recovers its object with container_of. The loop never frees handlers.
 * Single-threaded: every call from the loop's own thread. */
#ifndef WSP_EV_LOOP_H
#define WSP_EV_LOOP_H

#include <stddef.h>
#include <stdint.h>

#define EV_READ 0x1u
#define EV_WRITE 0x4u
#define EV_ERROR 0x8u      /* socket error: read/write will report it */
#define EV_HUP 0x10u       /* peer hung up (both directions) */
#define EV_RDHUP 0x2000u   /* peer shut down writing */
#define EV_EDGE (1u << 31) /* edge-triggered registration */

struct ev_loop;
struct ev_handler;
typedef void (*ev_io_cb)(struct ev_loop *loop, struct ev_handler *h, uint32_t events);
typedef void (*ev_timer_cb)(struct ev_loop *loop, void *arg);
typedef void (*ev_post_cb)(struct ev_loop *loop, void *arg);

struct ev_handler {
    ev_io_cb cb;
};

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* max_events: events taken per wait (fairness bound). NULL on failure. */
struct ev_loop *ev_loop_new(int max_events);
void ev_loop_free(struct ev_loop *loop);

/* Register/modify/remove fd. events = EV_READ|EV_WRITE [|EV_RDHUP|EV_EDGE].
 * Return 0 or -errno. ev_del is optional before close(fd). */
int ev_add(struct ev_loop *loop, int fd, uint32_t events, struct ev_handler *h);
int ev_mod(struct ev_loop *loop, int fd, uint32_t events, struct ev_handler *h);
int ev_del(struct ev_loop *loop, int fd);

/* A periodic timer firing every interval_ms (first after interval_ms).
 * Coarse: fires at most once per loop iteration, never early. Returns an id
 * >= 0 or WSP_ETOOBIG (at most EV_MAX_TIMERS). */
#define EV_MAX_TIMERS 16
int ev_timer_add(struct ev_loop *loop, uint64_t interval_ms, ev_timer_cb cb, void *arg);
void ev_timer_del(struct ev_loop *loop, int id);

/* Called after every batch of events and timers. One hook per loop. */
void ev_loop_set_post(struct ev_loop *loop, ev_post_cb cb, void *arg);
/* cb runs between the ready handlers of one wait, after every `every`
 * of them (not after the last: the post hook and the next wait follow),
 * so that urgent work (a worker's live ring) does not wait behind a long
 * batch of other handlers (a storm of handshakes). cb NULL: none. */
void ev_loop_set_between(struct ev_loop *loop, int every, ev_post_cb cb, void *arg);

/* Runs until ev_loop_stop(). Returns 0, or -errno if the backend fails. */
int ev_loop_run(struct ev_loop *loop);
/* Runs one iteration waiting at most timeout_ms (-1: until an event). */
int ev_loop_run_once(struct ev_loop *loop, int timeout_ms);
void ev_loop_stop(struct ev_loop *loop);

/* One pointer of the owner's, for callbacks that need their context. */
void ev_loop_set_user(struct ev_loop *loop, void *user);
void *ev_loop_user(const struct ev_loop *loop);

/* The loop's cached monotonic time in ms, updated once per iteration. */
uint64_t ev_now_ms(const struct ev_loop *loop);

#endif
