/* test_urecv.c - the load generator's io_uring receive path (urecv.h) over
 * socketpairs: bytes reach the tag they were armed with, EOF is told, a
 * disarmed socket is silent, and sockets whose receive ended for want of
 * buffers are armed again until every byte has arrived (with the ring's
 * buffers re-armed inside the reap, this spun for ever). */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "urecv.h"

#define NSOCK 16

struct seen {
    struct urecv *u;
    int fds[NSOCK]; /* our ends, armed with tag = index */
    size_t got[NSOCK];
    int eof[NSOCK];
    int errors, rearms;
    uint8_t last[NSOCK][64];
};

static void on_done(void *ctx, uint64_t tag, const uint8_t *p, ssize_t n, int rearm)
{
    struct seen *s = ctx;
    assert_true(tag < NSOCK);
    if (rearm) {
        s->rearms++;
        assert_int_equal(urecv_arm(s->u, s->fds[tag], tag), 0);
        return;
    }
    if (n > 0) {
        assert_non_null(p);
        memcpy(s->last[tag], p, (size_t)n < sizeof s->last[tag] ? (size_t)n : sizeof s->last[tag]);
        s->got[tag] += (size_t)n;
    } else if (n == 0) {
        s->eof[tag]++;
    } else {
        s->errors++;
    }
}

static struct urecv *make(unsigned nbufs)
{
    int err = 0;
    struct urecv *u = urecv_new(1024, nbufs, &err);
    if (!u) {
        print_message("io_uring receive unavailable here: %s\n", strerror(-err));
        skip();
    }
    return u;
}

/* Reaps until done(s) or `rounds` waits of 20 ms on the ring's descriptor. */
static void reap_for(struct seen *s, int (*done)(const struct seen *), int rounds)
{
    for (int i = 0; i < rounds && !done(s); i++) {
        struct pollfd pfd = {.fd = urecv_fd(s->u), .events = POLLIN};
        poll(&pfd, 1, 20);
        urecv_reap(s->u, on_done, s);
    }
}

static void reap_until(struct seen *s, int (*done)(const struct seen *))
{
    reap_for(s, done, 200);
}

static int first_has_5(const struct seen *s)
{
    return s->got[0] >= 5;
}

static int first_eof(const struct seen *s)
{
    return s->eof[0] > 0;
}

/* A socketpair whose first end is armed as socket i (tag i). */
static void pair_armed(struct seen *s, int i, int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    s->fds[i] = sv[0];
    assert_int_equal(urecv_arm(s->u, sv[0], (uint64_t)i), 0);
}

static void test_urecv_bytes_then_eof(void **state)
{
    (void)state;
    struct seen s = {.u = make(16)};
    int sv[2];
    pair_armed(&s, 0, sv);
    assert_int_equal(write(sv[1], "hello", 5), 5);
    reap_until(&s, first_has_5);
    assert_int_equal(s.got[0], 5);
    assert_memory_equal(s.last[0], "hello", 5);
    close(sv[1]);
    reap_until(&s, first_eof);
    assert_int_equal(s.eof[0], 1);
    assert_int_equal(s.errors, 0);
    urecv_disarm(s.u, sv[0], 0);
    close(sv[0]);
    urecv_free(s.u);
}

static void test_urecv_disarmed_socket_is_silent(void **state)
{
    (void)state;
    struct seen s = {.u = make(16)};
    int sv[2];
    pair_armed(&s, 0, sv);
    urecv_disarm(s.u, sv[0], 0);
    assert_int_equal(write(sv[1], "late", 4), 4);
    reap_for(&s, first_has_5, 25); /* never true: waits its 0.5 s */
    assert_int_equal(s.got[0], 0);
    assert_int_equal(s.eof[0], 0);
    /* the bytes are still in the socket for whoever reads it */
    char b[8];
    assert_int_equal(read(sv[0], b, sizeof b), 4);
    close(sv[0]);
    close(sv[1]);
    urecv_free(s.u);
}

static int all_have_300(const struct seen *s)
{
    for (int i = 0; i < NSOCK; i++)
        if (s->got[i] < 300)
            return 0;
    return 1;
}

static void test_urecv_more_sockets_than_buffers_rearm(void **state)
{
    (void)state;
    struct seen s = {.u = make(4)};
    int peer[NSOCK];
    for (int i = 0; i < NSOCK; i++) {
        int sv[2];
        pair_armed(&s, i, sv);
        peer[i] = sv[1];
    }
    uint8_t msg[100];
    for (int k = 0; k < 3; k++) { /* 3 x 100 bytes to each, 16 sockets, 4 buffers */
        memset(msg, 'a' + k, sizeof msg);
        for (int i = 0; i < NSOCK; i++)
            assert_int_equal(write(peer[i], msg, sizeof msg), (ssize_t)sizeof msg);
    }
    reap_until(&s, all_have_300);
    for (int i = 0; i < NSOCK; i++)
        assert_int_equal(s.got[i], 300);
    assert_true(s.rearms > 0); /* the ring did run dry */
    assert_int_equal(s.errors, 0);
    for (int i = 0; i < NSOCK; i++) {
        urecv_disarm(s.u, s.fds[i], (uint64_t)i);
        close(s.fds[i]);
        close(peer[i]);
    }
    urecv_free(s.u);
}

static void test_urecv_bad_buffer_counts(void **state)
{
    (void)state;
    int err = 0;
    assert_null(urecv_new(16, 0, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(urecv_new(16, 3, &err));
    assert_null(urecv_new(16, 65536, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urecv_bytes_then_eof),
        cmocka_unit_test(test_urecv_disarmed_socket_is_silent),
        cmocka_unit_test(test_urecv_more_sockets_than_buffers_rearm),
        cmocka_unit_test(test_urecv_bad_buffer_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
