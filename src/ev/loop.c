/* loop.c - the event loop (see loop.h): dispatch, periodic timers, post hook.
 *
 * Timers are a small fixed array scanned once per iteration: a process has a
 * handful (tick, sweep, stats), so a heap would cost more than it saves.
 * Per-connection deadlines are not timers: they are coarse one-byte
 * deadlines swept by the owner (see timer.h). */
#include "ev/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/err.h"
#include "ev/ev_int.h"

struct ev_timer {
    ev_timer_cb cb;
    void *arg;
    uint64_t interval_ms;
    uint64_t due_ms; /* 0: slot free */
};

struct ev_loop {
    struct ev_backend *backend;
    int max_events;
    bool stop;
    uint64_t now_ms;
    void *user;
    ev_post_cb post;
    void *post_arg;
    ev_post_cb between;
    void *between_arg;
    int between_every;
    struct ev_timer timers[EV_MAX_TIMERS];
    struct ev_ready ready[];
};

struct ev_loop *ev_loop_new(int max_events)
{
    if (max_events <= 0)
        max_events = 1024;
    struct ev_loop *l = calloc(1, sizeof *l + sizeof(struct ev_ready) * (size_t)max_events);
    if (!l)
        return NULL;
    l->backend = ev_backend_new(max_events);
    if (!l->backend) {
        free(l);
        return NULL;
    }
    l->max_events = max_events;
    l->now_ms = clock_mono_ms();
    return l;
}

void ev_loop_free(struct ev_loop *l)
{
    if (!l)
        return;
    ev_backend_free(l->backend);
    free(l);
}

int ev_add(struct ev_loop *l, int fd, uint32_t events, struct ev_handler *h)
{
    return ev_backend_ctl(l->backend, EV_CTL_ADD, fd, events, h);
}

int ev_mod(struct ev_loop *l, int fd, uint32_t events, struct ev_handler *h)
{
    return ev_backend_ctl(l->backend, EV_CTL_MOD, fd, events, h);
}

int ev_del(struct ev_loop *l, int fd)
{
    return ev_backend_ctl(l->backend, EV_CTL_DEL, fd, 0, NULL);
}

int ev_timer_add(struct ev_loop *l, uint64_t interval_ms, ev_timer_cb cb, void *arg)
{
    if (interval_ms == 0)
        interval_ms = 1;
    for (int i = 0; i < EV_MAX_TIMERS; i++) {
        if (l->timers[i].due_ms == 0) {
            l->timers[i] = (struct ev_timer){cb, arg, interval_ms, clock_mono_ms() + interval_ms};
            return i;
        }
    }
    return WSP_ETOOBIG;
}

void ev_timer_del(struct ev_loop *l, int id)
{
    if (id >= 0 && id < EV_MAX_TIMERS)
        l->timers[id].due_ms = 0;
}

void ev_loop_set_between(struct ev_loop *l, int every, ev_post_cb cb, void *arg)
{
    l->between = cb;
    l->between_arg = arg;
    l->between_every = every > 0 ? every : 1;
}

void ev_loop_set_post(struct ev_loop *l, ev_post_cb cb, void *arg)
{
    l->post = cb;
    l->post_arg = arg;
}

static int next_timeout(const struct ev_loop *l, int cap_ms)
{
    int t = cap_ms;
    for (int i = 0; i < EV_MAX_TIMERS; i++) {
        if (l->timers[i].due_ms == 0)
            continue;
        uint64_t due = l->timers[i].due_ms;
        int d = due <= l->now_ms ? 0 : (int)(due - l->now_ms > 60000 ? 60000 : due - l->now_ms);
        if (t < 0 || d < t)
            t = d;
    }
    return t;
}

static void run_timers(struct ev_loop *l)
{
    for (int i = 0; i < EV_MAX_TIMERS; i++) {
        struct ev_timer *t = &l->timers[i];
        if (t->due_ms == 0 || t->due_ms > l->now_ms)
            continue;
        /* Keep the phase (a 1 s ticker stays on its second) but never fire
         * twice in one iteration to catch up after a stall. */
        t->due_ms += t->interval_ms;
        if (t->due_ms <= l->now_ms)
            t->due_ms = l->now_ms + t->interval_ms;
        t->cb(l, t->arg);
    }
}

int ev_loop_run_once(struct ev_loop *l, int timeout_ms)
{
    l->now_ms = clock_mono_ms();
    int n = ev_backend_wait(l->backend, l->ready, l->max_events, next_timeout(l, timeout_ms));
    if (n < 0)
        return n;
    l->now_ms = clock_mono_ms();
    for (int i = 0; i < n; i++) {
        l->ready[i].h->cb(l, l->ready[i].h, l->ready[i].events);
        if (l->between && (i + 1) % l->between_every == 0 && i + 1 < n)
            l->between(l, l->between_arg);
    }
    run_timers(l);
    if (l->post)
        l->post(l, l->post_arg);
    return n;
}

int ev_loop_run(struct ev_loop *l)
{
    l->stop = false;
    while (!l->stop) {
        int r = ev_loop_run_once(l, -1);
        if (r < 0)
            return r;
    }
    return 0;
}

void ev_loop_stop(struct ev_loop *l)
{
    l->stop = true;
}
uint64_t ev_now_ms(const struct ev_loop *l)
{
    return l->now_ms;
}
void ev_loop_set_user(struct ev_loop *l, void *user)
{
    l->user = user;
}
void *ev_loop_user(const struct ev_loop *l)
{
    return l->user;
}
