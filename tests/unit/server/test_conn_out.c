/* test_conn_out.c - the out-queue every port shares, over a socketpair:
 * a queue exists only while it holds bytes, the gauge follows it, a flush
 * into a full socket takes what fits and keeps the rest in order, a broken
 * socket leaves the queue as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "server/conn_out.h"

static void test_conn_out_queue_exists_only_while_it_holds_bytes(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct outq *q = NULL;
    uint64_t gauge = 0;
    assert_int_equal(conn_out_flush(sv[0], NULL, &q, SIZE_MAX), 0); /* nothing: no queue */
    assert_null(q);
    struct msg *m = msg_new_frame(0x1, "hi", 2); /* shared: queued by reference */
    assert_non_null(m);
    assert_int_equal(conn_out_push(&q, &gauge, m, 1), 0); /* its first byte already sent */
    assert_int_equal(m->refs, 2);
    assert_int_equal(conn_out_push_copy(&q, &gauge, " tail", 5), 0);
    assert_int_equal(gauge, 5 + 3);
    assert_int_equal(conn_out_flush(sv[0], NULL, &q, SIZE_MAX), 8);
    assert_null(q); /* drained: freed, reference and gauge given back */
    assert_int_equal(m->refs, 1);
    assert_int_equal(gauge, 0);
    char buf[16];
    assert_int_equal(read(sv[1], buf, sizeof buf), 8);
    assert_memory_equal(buf, "\x02hi tail", 8);
    msg_unref(m);
    close(sv[0]);
    close(sv[1]);
}

static void test_conn_out_flush_into_a_full_socket_keeps_the_rest(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    static uint8_t big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    struct outq *q = NULL;
    uint64_t gauge = 0;
    assert_int_equal(conn_out_push_copy(&q, &gauge, big, sizeof big), 0);
    ssize_t first = conn_out_flush(sv[0], NULL, &q, SIZE_MAX);
    assert_true(first > 0 && (size_t)first < sizeof big);
    assert_non_null(q);
    assert_int_equal(gauge, sizeof big - (size_t)first);
    assert_int_equal(conn_out_flush(sv[0], NULL, &q, SIZE_MAX), 0); /* full: 0 */
    /* the peer reads; every byte arrives once, in order */
    static uint8_t got[1 << 20];
    size_t have = 0;
    for (int i = 0; i < 100000 && have < sizeof big; i++) {
        ssize_t r = read(sv[1], got + have, sizeof got - have);
        if (r > 0)
            have += (size_t)r;
        assert_true(conn_out_flush(sv[0], NULL, &q, 4096) >= 0); /* bounded per flush */
    }
    assert_int_equal(have, sizeof big);
    assert_memory_equal(got, big, sizeof big);
    assert_null(q);
    assert_int_equal(gauge, 0);
    close(sv[0]);
    close(sv[1]);
}

static void test_conn_out_broken_socket_leaves_the_queue(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct outq *q = NULL;
    uint64_t gauge = 0;
    assert_int_equal(conn_out_push_copy(&q, &gauge, "bye", 3), 0);
    close(sv[1]);
    assert_true(conn_out_flush(sv[0], NULL, &q, SIZE_MAX) < 0); /* -EPIPE, no signal */
    assert_non_null(q);
    assert_int_equal(gauge, 3);
    outq_free(q);
    assert_int_equal(gauge, 0);
    close(sv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_out_queue_exists_only_while_it_holds_bytes),
        cmocka_unit_test(test_conn_out_flush_into_a_full_socket_keeps_the_rest),
        cmocka_unit_test(test_conn_out_broken_socket_leaves_the_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
