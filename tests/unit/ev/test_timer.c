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

/* Ticks until a deadline set `ticks` ahead of `start` is due, driven the
 * way the worker's sweep drives it: the clock advances one value per
 * sweep, and only when the byte equals the clock (the memchr hit) is
 * ev_deadline_due asked, which re-arms a far deadline one byte-range on. */
static uint64_t ticks_until_due(uint8_t start, uint64_t ticks)
{
    uint8_t now = start, byte;
    uint16_t laps;
    ev_deadline_set(&byte, &laps, now, ticks);
    for (uint64_t k = 1; k <= ticks + 2 * EV_DEADLINE_MAX_TICKS; k++) {
        now = ev_tick_next(now);
        if (byte == now && ev_deadline_due(&byte, &laps, now))
            return k;
    }
    return 0;
}

/* Issue 11: durations past the byte's 127 ticks were clamped (a 200 s ping
 * interval fired after 127 s). Now they are kept: due exactly after `ticks`
 * advances, never before, up to the documented maximum. */
static void test_ev_deadline_long_is_not_clamped(void **state)
{
    (void)state;
    static const uint64_t cases[] = {1,   2,   126, 127, 128,  200,  201,   253,          254,
                                     255, 256, 381, 382, 1000, 3600, 86401, 3 * 86400 + 1};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (unsigned start = 1; start <= 255; start += 37)
            assert_int_equal(ticks_until_due((uint8_t)start, cases[i]), cases[i]);
    assert_int_equal(ticks_until_due(200, EV_DEADLINE_LONG_MAX_TICKS), EV_DEADLINE_LONG_MAX_TICKS);
    /* the worker's conversion: whole 1 s ticks, plus the partial one */
    assert_int_equal(ev_ticks_for_ms(200000), 201);
    assert_int_equal(ev_ticks_for_ms(200001), 202);
    assert_int_equal(ev_ticks_for_ms(1), 2);
    assert_int_equal(ev_ticks_for_ms(EV_DEADLINE_MAX_MS), EV_DEADLINE_LONG_MAX_TICKS);
    /* at least 90 days fit */
    assert_true(EV_DEADLINE_MAX_MS >= 90ull * 86400 * 1000);
    /* re-setting a far deadline to a near one forgets the laps */
    uint8_t byte;
    uint16_t laps;
    ev_deadline_set(&byte, &laps, 10, 1000);
    ev_deadline_set(&byte, &laps, 10, 3);
    assert_int_equal(laps, 0);
    assert_int_equal(byte, 13);
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

/* The between hook: after every `every` handlers of one batch, never
 * after the batch's last one (10 ready pipes, every 3: after the 3rd, 6th
 * and 9th handler), each time with that many handlers done. */
struct between_rec {
    int handled, calls, at[8];
};

static struct between_rec brec;

static void on_ready(struct ev_loop *l, struct ev_handler *h, uint32_t events)
{
    (void)l;
    (void)h;
    (void)events;
    brec.handled++;
}

static void on_between_hook(struct ev_loop *l, void *arg)
{
    (void)l;
    assert_ptr_equal(arg, &brec);
    assert_true(brec.calls < 8);
    brec.at[brec.calls++] = brec.handled;
}

static void between_hook_runs_inside_batches(void **state)
{
    (void)state;
    enum { N = 10 };
    int fds[N][2];
    struct ev_handler hs[N];
    struct ev_loop *l = ev_loop_new(64);
    ev_loop_set_between(l, 3, on_between_hook, &brec);
    for (int i = 0; i < N; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        hs[i].cb = on_ready;
        assert_int_equal(ev_add(l, fds[i][0], EV_READ, &hs[i]), 0);
        assert_int_equal(write(fds[i][1], "x", 1), 1);
    }
    assert_int_equal(ev_loop_run_once(l, 1000), N);
    assert_int_equal(brec.handled, N);
    assert_int_equal(brec.calls, 3);
    assert_int_equal(brec.at[0], 3);
    assert_int_equal(brec.at[1], 6);
    assert_int_equal(brec.at[2], 9);
    for (int i = 0; i < N; i++) {
        ev_del(l, fds[i][0]);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    ev_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deadline_wraps),
        cmocka_unit_test(test_ev_deadline_long_is_not_clamped),
        cmocka_unit_test(periodic_timer_fires),
        cmocka_unit_test(io_dispatch),
        cmocka_unit_test(between_hook_runs_inside_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
