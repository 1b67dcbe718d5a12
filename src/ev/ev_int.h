/* ev_int.h - the backend interface, private to src/ev/.
 *
 * A backend multiplexes file descriptors; loop.c owns timers and the post
 * hook. To add io_uring, implement these five functions in another file and
 * choose it in ev_loop_new. */
#ifndef WSP_EV_INT_H
#define WSP_EV_INT_H

#include <stdint.h>

struct ev_backend;
struct ev_handler;

struct ev_ready {
    struct ev_handler *h;
    uint32_t events;
};

struct ev_backend *ev_backend_new(int max_events);
void ev_backend_free(struct ev_backend *b);
int ev_backend_ctl(struct ev_backend *b, int op, int fd, uint32_t events, struct ev_handler *h);
/* Fills out[0..n) and returns n >= 0, or -errno. EINTR is returned as 0. */
int ev_backend_wait(struct ev_backend *b, struct ev_ready *out, int max, int timeout_ms);

enum { EV_CTL_ADD, EV_CTL_MOD, EV_CTL_DEL };

#endif
