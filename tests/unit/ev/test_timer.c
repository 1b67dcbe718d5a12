/* test_timer.c - coarse one-byte deadlines and the loop's periodic timers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "ev/loop.h"
#include "ev/timer.h"

static void deadline_wraps(void **state)
{
    (void)state;
    /* For every starting tick and every distance, the deadline expires
     * exactly after `ticks` advances, never before, across the wrap. */
    for (unsigned start = 1; start <= 255; start++) {
        for (unsigned ticks = 1; ticks <= EV_DEADLINE_MAX_TICKS; ticks += 7) {
            uint8_t now = (uint8_t)start;
            uint8_t d = ev_deadline_after(now, ticks);
            assert_true(d != EV_DEADLINE_NONE);
            for (unsigned k = 0; k < ticks; k++) {
                assert_false(ev_deadline_expired(d, now));
                now = ev_tick_next(now);
            }
            assert_true(ev_deadline_expired(d, now));
            now = ev_tick_next(now);
            assert_true(ev_deadline_expired(d, now));
        }
    }
    assert_false(ev_deadline_expired(EV_DEADLINE_NONE, 5));
    assert_int_equal(ev_tick_next(255), 1);
}

static int fired;
static void on_timer(struct ev_loop *l, void *arg)
{
    (void)arg;
    if (++fired == 3)
        ev_loop_stop(l);
}

static void periodic_timer_fires(void **state)
{
    (void)state;
    struct ev_loop *l = ev_loop_new(16);
    assert_non_null(l);
    fired = 0;
    assert_true(ev_timer_add(l, 5, on_timer, NULL) >= 0);
    uint64_t t0 = ev_now_ms(l);
    assert_int_equal(ev_loop_run(l), 0);
    assert_int_equal(fired, 3);
    /* never early: three 5 ms periods took at least 15 ms */
    assert_true(ev_now_ms(l) - t0 >= 15);
    ev_loop_free(l);
}

struct pipe_h {
    struct ev_handler h;
    int fd;
    int reads;
};
static void on_pipe(struct ev_loop *l, struct ev_handler *h, uint32_t ev)
{
    struct pipe_h *p = container_of(h, struct pipe_h, h);
    char c;
    assert_true(ev & EV_READ);
    assert_int_equal(read(p->fd, &c, 1), 1);
    p->reads++;
    ev_loop_stop(l);
}

static void io_dispatch(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct ev_loop *l = ev_loop_new(4);
    struct pipe_h p = {.h.cb = on_pipe, .fd = fds[0]};
    assert_int_equal(ev_add(l, fds[0], EV_READ, &p.h), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(ev_loop_run(l), 0);
    assert_int_equal(p.reads, 1);
    assert_int_equal(ev_del(l, fds[0]), 0);
    ev_loop_free(l);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deadline_wraps),
        cmocka_unit_test(periodic_timer_fires),
        cmocka_unit_test(io_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
