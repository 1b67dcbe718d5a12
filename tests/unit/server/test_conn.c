/* test_conn.c - one connection of a worker (server/conn.c) over a
 * socketpair: the handshake to an established WebSocket, sending (written
 * at once, queued on a full socket, flushed when it drains), the backlog
 * limit with the slow-consumer policies, the close frame and the lingering
 * close after it, the handshake deadline on the worker's coarse clock, and
 * the deferred free of a killed connection. */
#include "server_fixture.h"

#include "core/err.h"
#include "ev/timer.h"
#include "pubsub/outq.h"

static const char *const small_backlog_close[] = {"--max-backlog", "64KiB", "--slow-policy",
                                                  "close", NULL};
static const char *const small_backlog_drop[] = {"--max-backlog", "64KiB", "--slow-policy", "drop",
                                                 NULL};

static struct msg *text_msg(size_t n, char fill)
{
    char *p = malloc(n);
    assert_non_null(p);
    memset(p, fill, n);
    struct msg *m = msg_new_frame(WS_OP_TEXT, p, n);
    free(p);
    assert_non_null(m);
    return m;
}

/* Sends m until the connection's out-queue holds something (the socket is
 * full); returns how many were handed over (0 from conn_send_msg). */
static unsigned fill_socket(struct fx_client *cl, struct msg *m)
{
    unsigned sent = 0;
    while (outq_empty(cl->c->out)) {
        assert_int_equal(fx_send(cl, m), 0);
        sent++;
        assert_true(sent < 10000);
    }
    return sent;
}

/* Reads and spins until the worker's side has nothing queued; counts the
 * text frames of m's payload length and returns the last frame's opcode. */
static unsigned read_all(struct fx_client *cl, size_t payload_len, uint8_t *last_op,
                         uint16_t *close_code)
{
    static uint8_t buf[1 << 22];
    size_t len = 0, off = 0;
    unsigned frames = 0;
    for (int i = 0; i < 1000; i++) {
        len += fx_read(cl->fd, buf + len, sizeof buf - len, NULL);
        fx_spin(1);
        if (cl->c->state == CONN_DEAD || outq_empty(cl->c->out)) {
            len += fx_read(cl->fd, buf + len, sizeof buf - len, NULL);
            break;
        }
    }
    uint8_t op;
    const uint8_t *p;
    size_t n;
    while (fx_next_frame(buf, len, &off, &op, &p, &n)) {
        *last_op = op;
        if (op == WS_OP_TEXT) {
            assert_int_equal(n, payload_len);
            frames++;
        }
        if (op == WS_OP_CLOSE && close_code)
            *close_code = (uint16_t)(p[0] << 8 | p[1]);
    }
    assert_int_equal(off, len); /* no torn frame */
    return frames;
}

static void test_conn_handshake_to_established(void **state)
{
    (void)state;
    fx_start(NULL);
    struct fx_client cl = fx_client();
    assert_int_equal(cl.c->state, CONN_HTTP);
    assert_int_equal(fx_w.st->conns_pending, 1);
    assert_int_equal(fx_w.st->conns, 0);
    char resp[1024];
    fx_request(&cl, "/news", true, NULL, resp, sizeof resp);
    assert_non_null(strstr(resp, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(resp, "Sec-WebSocket-Accept: " FX_ACCEPT "\r\n"));
    assert_int_equal(cl.c->state, CONN_WS);
    assert_true(cl.c->flags & CF_COUNTED);
    assert_int_equal(fx_w.st->conns_pending, 0);
    assert_int_equal(fx_w.st->conns, 1);
    assert_int_equal(fx_w.st->handshakes_total, 1);
    assert_string_equal(cl.c->sub.topic->name, "news");
    close(cl.fd);
    fx_spin(2);
    assert_int_equal(fx_w.nconns, 0);
    assert_int_equal(fx_w.st->conns, 0);
    assert_int_equal(fx_w.st->disconnects[CB_1006], 1); /* gone without a close frame */
    fx_stop();
}

static void test_conn_send_queues_on_a_full_socket_then_flushes(void **state)
{
    (void)state;
    fx_start(NULL); /* the default backlog (256 KiB) is more than a socket holds */
    struct fx_client cl = fx_upgrade("/t", false);
    struct msg *m = text_msg(1000, 'q');
    unsigned sent = fill_socket(&cl, m);
    assert_true(cl.c->flags & CF_WANT_WRITE); /* EPOLLOUT armed only now */
    assert_true(fx_w.st->queued_bytes > 0);
    assert_int_equal(fx_w.st->queued_bytes, outq_bytes(cl.c->out));
    /* more goes behind what is queued, in order */
    for (int i = 0; i < 10; i++)
        assert_int_equal(fx_send(&cl, m), 0);
    sent += 10;
    uint8_t last = 0;
    assert_int_equal(read_all(&cl, 1000, &last, NULL), sent);
    assert_null(cl.c->out);
    assert_false(cl.c->flags & CF_WANT_WRITE);
    assert_int_equal(fx_w.st->queued_bytes, 0);
    msg_unref(m);
    fx_stop();
}

static void test_conn_backlog_limit_closes_a_slow_consumer(void **state)
{
    (void)state;
    fx_start(small_backlog_close);
    struct fx_client cl = fx_upgrade("/t", false);
    struct msg *m = text_msg(4000, 's');
    fill_socket(&cl, m);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = fx_send(&cl, m);
    assert_int_equal(rc, WSP_ECLOSED);
    assert_int_equal(fx_w.st->slow_close, 1);
    assert_int_equal(cl.c->state, CONN_CLOSING);
    assert_int_equal(cl.c->close_code, WS_CLOSE_POLICY);
    /* the queue stays within the limit plus the close frame */
    assert_true(outq_bytes(cl.c->out) <= 64 * 1024 + WS_MAX_HEADER + WS_MAX_CONTROL);
    assert_int_equal(fx_send(&cl, m), WSP_EAGAIN); /* closing: nothing more queues */
    uint8_t last = 0;
    uint16_t code = 0;
    read_all(&cl, 4000, &last, &code);
    assert_int_equal(last, WS_OP_CLOSE); /* behind the backlog: the peer sees why */
    assert_int_equal(code, WS_CLOSE_POLICY);
    msg_unref(m);
    fx_stop();
}

static void test_conn_backlog_limit_drops_until_drained(void **state)
{
    (void)state;
    fx_start(small_backlog_drop);
    struct fx_client cl = fx_upgrade("/t", false);
    struct msg *m = text_msg(4000, 'd');
    unsigned sent = fill_socket(&cl, m);
    int rc = 0;
    while (rc == 0) {
        rc = fx_send(&cl, m);
        sent += rc == 0;
        assert_true(sent < 10000);
    }
    assert_int_equal(rc, WSP_EAGAIN);
    assert_true(cl.c->flags & CF_DROPPING);
    assert_int_equal(cl.c->state, CONN_WS); /* dropped, not closed */
    /* dropping lasts until the queue drains, however little is offered */
    struct msg *tiny = text_msg(1, 't');
    assert_int_equal(fx_send(&cl, tiny), WSP_EAGAIN);
    assert_int_equal(fx_w.st->slow_drop, 2);
    uint8_t last = 0;
    assert_int_equal(read_all(&cl, 4000, &last, NULL), sent);
    assert_false(cl.c->flags & CF_DROPPING);
    assert_int_equal(fx_send(&cl, m), 0);
    msg_unref(tiny);
    msg_unref(m);
    fx_stop();
}

static void test_conn_close_frame_then_lingering_close(void **state)
{
    (void)state;
    fx_start(NULL);
    struct fx_client cl = fx_upgrade("/t", false);
    fx_close(&cl, 1000, "bye");
    fx_spin(1);
    uint8_t buf[256];
    bool eof;
    size_t n = fx_read(cl.fd, buf, sizeof buf, &eof);
    size_t off = 0;
    fx_expect_frame(buf, n, &off, WS_OP_CLOSE,
                    "\x03\xe8"
                    "bye",
                    5);
    /* our side is half-closed, but the connection stays to read the peer's
     * answer: closing with unread input would reset what we sent */
    assert_true(eof);
    assert_int_equal(fx_w.nconns, 1);
    assert_int_equal(cl.c->state, CONN_CLOSING);
    fx_send_frame(cl.fd, WS_OP_CLOSE, "\x03\xe8", 2);
    fx_spin(1);
    assert_int_equal(fx_w.nconns, 1);
    assert_true(cl.c->flags & CF_PEER_CLOSED);
    shutdown(cl.fd, SHUT_WR);
    fx_spin(2);
    assert_int_equal(fx_w.nconns, 0); /* at the peer's EOF */
    assert_int_equal(fx_w.st->disconnects[CB_1000], 1);
    close(cl.fd);
    fx_stop();
}

static void test_conn_lingering_close_ends_at_its_deadline(void **state)
{
    (void)state;
    fx_start(NULL);
    struct fx_client cl = fx_upgrade("/t", false);
    fx_close(&cl, 1001, NULL);
    fx_spin(1);
    assert_int_equal(cl.c->state, CONN_CLOSING);
    /* the peer neither answers nor closes: two ticks of lingering at most,
     * never less than one */
    worker_tick(&fx_w);
    fx_spin(1);
    assert_int_equal(fx_w.nconns, 1);
    for (int i = 0; i < 2 && fx_w.nconns; i++) {
        worker_tick(&fx_w);
        fx_spin(1);
    }
    assert_int_equal(fx_w.nconns, 0);
    assert_int_equal(fx_w.st->disconnects[CB_1001], 1);
    close(cl.fd);
    fx_stop();
}

static void test_conn_request_head_not_in_time(void **state)
{
    (void)state;
    static const char *const args[] = {"--handshake-timeout", "2s", NULL};
    fx_start(args);
    struct fx_client slow = fx_client();
    fx_write(slow.fd, "GET / HTTP/1.1\r\n", 16); /* and no more */
    fx_spin(1);
    assert_non_null(slow.c->in); /* the partial head, kept */
    worker_tick(&fx_w);
    fx_spin(1);
    assert_int_equal(fx_w.nconns, 1); /* never early */
    for (int i = 0; i < 2 && fx_w.nconns; i++) {
        worker_tick(&fx_w);
        fx_spin(1);
    }
    assert_int_equal(fx_w.nconns, 0);
    assert_int_equal(fx_w.st->handshake_fail[HS_FAIL_TIMEOUT], 1);
    assert_int_equal(fx_w.st->conns_pending, 0);
    close(slow.fd);
    fx_stop();
}

static void test_conn_freed_after_the_iteration(void **state)
{
    (void)state;
    fx_start(NULL);
    struct fx_client a = fx_upgrade("/t", false);
    struct fx_client b = fx_upgrade("/t", false);
    conn_kill(&fx_w, a.c, WS_CLOSE_GOING_AWAY);
    conn_kill(&fx_w, a.c, WS_CLOSE_INTERNAL); /* twice: one death, the first code */
    /* only marked: still in the array (a walk over it stays valid), fd open */
    assert_int_equal(a.c->state, CONN_DEAD);
    assert_int_equal(fx_w.nconns, 2);
    assert_int_equal(fx_w.ndead, 1);
    uint8_t buf[16];
    bool eof;
    assert_int_equal(fx_read(a.fd, buf, sizeof buf, &eof), 0);
    assert_false(eof);
    assert_int_equal(fx_send(&a, NULL), WSP_ECLOSED); /* a dead connection takes nothing */
    fx_spin(1);                                       /* the post hook frees it */
    assert_int_equal(fx_w.nconns, 1);
    assert_ptr_equal(fx_w.conns[0], b.c);
    assert_int_equal(b.c->slot, 0);
    assert_int_equal(fx_read(a.fd, buf, sizeof buf, &eof), 0);
    assert_true(eof);
    assert_int_equal(fx_w.st->disconnects[CB_1001], 1);
    assert_int_equal(fx_w.st->conns, 1);
    assert_int_equal(topic_index_topics(fx_w.topics), 1);
    close(a.fd);
    close(b.fd);
    fx_stop();
}

static void test_conn_ping_ms_arithmetic(void **state)
{
    (void)state;
    /* 1M on 53 workers, 2 cores, 5,000 per core: 188.7 pings/s per worker,
     * so its 18,868 connections once per 100 s */
    assert_int_equal(worker_ping_ms(25000, 5000, 2, 53, 18868), 100000);
    assert_int_equal(worker_ping_ms(25000, 5000, 2, 1, 1000), 25000);   /* under the budget */
    assert_int_equal(worker_ping_ms(25000, 5000, 2, 1, 250000), 25000); /* exactly at it */
    assert_int_equal(worker_ping_ms(25000, 5000, 2, 1, 250001), 25000);
    assert_int_equal(worker_ping_ms(25000, 5000, 2, 1, 500000), 50000);
    assert_int_equal(worker_ping_ms(25000, 0, 2, 53, 18868), 25000); /* 0: never stretched */
    assert_int_equal(worker_ping_ms(0, 5000, 2, 53, 18868), 0);      /* no pings stays none */
    assert_int_equal(worker_ping_ms(25000, 5000, 2, 1, 0), 25000);
    assert_int_equal(worker_ping_ms(1000, 1, 1, 256, UINT64_MAX / 2), EV_DEADLINE_MAX_MS);
}

/* Pings answered by n clients over ticks [from, to) of the coarse clock. */
static unsigned pings_over(struct fx_client *cl, unsigned n, int from, int to)
{
    unsigned pings = 0;
    for (int t = 0; t < to; t++) {
        worker_tick(&fx_w);
        fx_spin(2);
        for (unsigned i = 0; i < n; i++) {
            uint8_t buf[256];
            size_t len = fx_read(cl[i].fd, buf, sizeof buf, NULL), off = 0;
            uint8_t op;
            const uint8_t *p;
            size_t pn;
            while (fx_next_frame(buf, len, &off, &op, &p, &pn)) {
                assert_int_equal(op, WS_OP_PING);
                fx_send_frame(cl[i].fd, WS_OP_PONG, p, pn);
                pings += t >= from;
            }
        }
        fx_spin(2);
    }
    return pings;
}

/* --ping-budget: a worker whose connections would be pinged more often
 * than its share of budget x cores per second stretches its interval
 * (goal 2 of issue 16: liveness at 1M may not cost a large share of the
 * box). 10 clients, pings every 2 s, a budget of 1 ping/s on 1 core: the
 * interval becomes 10 s, so over 60 ticks ~60 pings, not ~300; every
 * client answers, so nobody is closed. */
static void test_conn_ping_budget_stretches_the_interval(void **state)
{
    (void)state;
    unsigned counts[2];
    for (int k = 0; k < 2; k++) {
        const char *const args[] = {"--ping-interval", "2s", "--ping-budget", k ? "1" : "0", NULL};
        fx_start(args);
        fx_w.ncpu = 1;
        struct fx_client cl[10];
        for (unsigned i = 0; i < 10; i++)
            cl[i] = fx_upgrade("/t", false);
        counts[k] = pings_over(cl, 10, 5, 65);
        assert_int_equal(fx_w.ping_ms, k ? 10000 : 2000);
        assert_int_equal(fx_shared->w[0].deadline_ticks_ping, ev_ticks_for_ms(fx_w.ping_ms));
        assert_int_equal(fx_w.st->conns, 10);
        for (unsigned i = 0; i < 10; i++)
            close(cl[i].fd);
        fx_spin(2);
        fx_stop();
    }
    /* a deadline of D ms is ev_ticks_for_ms(D) ticks (the partial tick it
     * was armed in counts as one): every 3 ticks, 10 x 60 / 3 = 200 pings;
     * stretched, every 11 ticks, 10 x 60 / 11 = ~55 */
    print_message("pings over 60 ticks: %u fixed, %u with the budget\n", counts[0], counts[1]);
    assert_in_range(counts[0], 190, 210);
    assert_in_range(counts[1], 45, 65);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_handshake_to_established),
        cmocka_unit_test(test_conn_send_queues_on_a_full_socket_then_flushes),
        cmocka_unit_test(test_conn_backlog_limit_closes_a_slow_consumer),
        cmocka_unit_test(test_conn_backlog_limit_drops_until_drained),
        cmocka_unit_test(test_conn_close_frame_then_lingering_close),
        cmocka_unit_test(test_conn_lingering_close_ends_at_its_deadline),
        cmocka_unit_test(test_conn_request_head_not_in_time),
        cmocka_unit_test(test_conn_freed_after_the_iteration),
        cmocka_unit_test(test_conn_ping_ms_arithmetic),
        cmocka_unit_test(test_conn_ping_budget_stretches_the_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
