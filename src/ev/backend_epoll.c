/* backend_epoll.c - the epoll backend of the event loop (see ev_int.h).
 *
 * Level-triggered by default; EV_EDGE asks for EPOLLET. The EV_* flags are
 * chosen equal to the EPOLL* ones so translation is a mask. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/err.h"
#include "ev/ev_int.h"
#include "ev/loop.h"

_Static_assert(EV_READ == EPOLLIN && EV_WRITE == EPOLLOUT && EV_ERROR == EPOLLERR &&
                   EV_HUP == EPOLLHUP && EV_RDHUP == EPOLLRDHUP && EV_EDGE == EPOLLET,
               "EV_* flags must equal EPOLL* flags");

struct ev_backend {
    int epfd;
    int cap;
    struct epoll_event evs[];
};

struct ev_backend *ev_backend_new(int max_events)
{
    struct ev_backend *b = malloc(sizeof *b + sizeof(struct epoll_event) * (size_t)max_events);
    if (!b)
        return NULL;
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        free(b);
        return NULL;
    }
    b->cap = max_events;
    return b;
}

void ev_backend_free(struct ev_backend *b)
{
    if (!b)
        return;
    close(b->epfd);
    free(b);
}

int ev_backend_ctl(struct ev_backend *b, int op, int fd, uint32_t events, struct ev_handler *h)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};
    int eop = op == EV_CTL_ADD ? EPOLL_CTL_ADD : op == EV_CTL_MOD ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
    if (epoll_ctl(b->epfd, eop, fd, &ev) < 0)
        return -errno;
    return 0;
}

int ev_backend_wait(struct ev_backend *b, struct ev_ready *out, int max, int timeout_ms)
{
    if (max > b->cap)
        max = b->cap;
    int n = epoll_wait(b->epfd, b->evs, max, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        out[i].h = b->evs[i].data.ptr;
        out[i].events = b->evs[i].events;
    }
    return n;
}
