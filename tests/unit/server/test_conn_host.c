/* test_conn_host.c - the connection core serves any host: driven over a
 * socketpair with a stub conn_host_ops table instead of the public port's,
 * it hands a complete head (and the bytes after it) to on_request, reports
 * a bad head and a head timeout through on_refused, asks on_preamble first
 * while a PROXY header may come, and calls on_forget when it frees a
 * connection. Nothing of routes.c, auth_conn.c or proxy_conn.c runs.
 *
 * A host that parses its own input (the admin port's shape) sets on_data:
 * it gets every byte, answers as often as it likes (keep-alive) and ends
 * with conn_end (the lingering close); with read_pause_bytes the core stops
 * reading while that much output waits and calls on_resume when it fell
 * below again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "ev/timer.h"
#include "server/server_int.h"

static struct wsp_config cfg;
static struct worker w;

static struct {
    int preambles, requests, refusals, forgets;
    int refused_status;
    char path[64];
    char rest[64];
    int preamble_answer;
} seen;

static int stub_preamble(struct worker *ww, struct conn *c)
{
    (void)ww;
    (void)c;
    seen.preambles++;
    return seen.preamble_answer;
}

static void stub_request(struct worker *ww, struct conn *c, struct http_req *r, uint8_t *rest,
                         size_t rest_len)
{
    seen.requests++;
    snprintf(seen.path, sizeof seen.path, "%.*s", (int)r->path_len, r->path);
    snprintf(seen.rest, sizeof seen.rest, "%.*s", (int)rest_len, (const char *)rest);
    conn_http_reply(ww, c, 204, NULL, "", 0, NULL);
}

static void stub_refused(struct worker *ww, struct conn *c, int status, const char *why)
{
    (void)ww;
    (void)c;
    (void)why;
    seen.refusals++;
    seen.refused_status = status;
}

static void stub_forget(struct worker *ww, struct conn *c)
{
    (void)ww;
    (void)c;
    seen.forgets++;
}

static const struct conn_host_ops stub_ops = {
    .on_preamble = stub_preamble,
    .on_request = stub_request,
    .on_refused = stub_refused,
    .on_forget = stub_forget,
};

static int setup(void **state)
{
    (void)state;
    char *argv[] = {"serve", "--log-level", "error", NULL};
    if (config_parse(&cfg, 3, argv, stdout, stderr) != 0)
        return -1;
    w.cfg = &cfg;
    w.host_ops = &stub_ops;
    w.loop = ev_loop_new(64);
    w.topics = topic_index_new();
    w.shared = metrics_shared_new(1);
    w.st = &w.shared->w[0];
    w.rbuf_size = 64 * 1024;
    w.rbuf = malloc(w.rbuf_size);
    w.tick = 1;
    w.ticks_handshake = (uint32_t)ev_ticks_for_ms(cfg.handshake_timeout_ms);
    w.max_backlog_bytes = cfg.max_backlog_bytes;
    w.http_lim = (struct http_limits){cfg.max_head_bytes, cfg.max_headers};
    ev_loop_set_user(w.loop, &w);
    return w.loop && w.topics && w.shared && w.rbuf ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(w.rbuf);
    free(w.conns);
    free(w.dead);
    free(w.deadlines);
    topic_index_free(w.topics);
    metrics_shared_free(w.shared);
    ev_loop_free(w.loop);
    return 0;
}

/* A connection on one end of a socketpair; the peer's end in *peer. */
static struct conn *open_conn(int *peer)
{
    memset(&seen, 0, sizeof seen);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct conn *c = conn_new(&w, sv[0]);
    assert_non_null(c);
    *peer = sv[1];
    return c;
}

static void feed(struct conn *c, int peer, const char *s)
{
    assert_int_equal(write(peer, s, strlen(s)), (ssize_t)strlen(s));
    conn_on_event(w.loop, &c->h, EV_READ);
}

static void end(struct conn *c, int peer)
{
    conn_kill(&w, c, 0);
    conn_reap(&w);
    assert_int_equal(seen.forgets, 1);
    assert_int_equal(w.nconns, 0);
    close(peer);
}

static void test_conn_host_request_goes_up_with_the_bytes_after_it(void **state)
{
    (void)state;
    int peer;
    struct conn *c = open_conn(&peer);
    feed(c, peer, "GET /up HTTP/1.1\r\nHost: a\r\n");
    assert_int_equal(seen.requests, 0); /* incomplete: kept, nothing said */
    feed(c, peer, "\r\nafter");
    assert_int_equal(seen.requests, 1);
    assert_string_equal(seen.path, "/up");
    assert_string_equal(seen.rest, "after");
    char buf[256];
    ssize_t n = read(peer, buf, sizeof buf - 1);
    assert_true(n > 12);
    assert_memory_equal(buf, "HTTP/1.1 204", 12);
    assert_int_equal(seen.refusals, 0);
    end(c, peer);
}

static void test_conn_host_bad_head_is_refused_below_the_routes(void **state)
{
    (void)state;
    int peer;
    struct conn *c = open_conn(&peer);
    feed(c, peer, "NOT HTTP AT ALL\r\n\r\n");
    assert_int_equal(seen.requests, 0);
    assert_int_equal(seen.refusals, 1);
    assert_int_equal(seen.refused_status, 400);
    char buf[256];
    ssize_t n = read(peer, buf, sizeof buf - 1);
    assert_true(n > 12);
    assert_memory_equal(buf, "HTTP/1.1 400", 12);
    end(c, peer);
}

static void test_conn_host_head_timeout_is_refused(void **state)
{
    (void)state;
    int peer;
    struct conn *c = open_conn(&peer);
    feed(c, peer, "GET / HTTP/1.1\r\n");
    for (uint32_t i = 0; i < w.ticks_handshake && seen.refusals == 0; i++) {
        w.tick = ev_tick_next(w.tick);
        conn_on_tick(&w, c);
    }
    assert_int_equal(seen.refusals, 1);
    assert_int_equal(seen.refused_status, 408);
    assert_int_equal(c->state, CONN_DEAD);
    conn_reap(&w);
    assert_int_equal(seen.forgets, 1);
    close(peer);
}

static void test_conn_host_preamble_comes_first(void **state)
{
    (void)state;
    int peer;
    struct conn *c = open_conn(&peer);
    c->flags |= CF_PROXY_SNIFF;
    seen.preamble_answer = 0; /* wait for more */
    feed(c, peer, "GET / HTTP/1.1\r\n\r\n");
    assert_int_equal(seen.preambles, 1);
    assert_int_equal(seen.requests, 0);
    c->flags &= (uint16_t)~CF_PROXY_SNIFF; /* as the port clears it */
    seen.preamble_answer = 1;
    conn_on_event(w.loop, &c->h, EV_READ);
    assert_int_equal(seen.preambles, 1);
    assert_int_equal(seen.requests, 1);
    end(c, peer);
}

/* ---- a host with on_data (the admin port's shape) ---- */

static struct {
    int data_calls, resumes;
    char got[256];
    size_t got_len;
    size_t answer_bytes; /* each on_data call answers this many bytes */
} host;

static void data_on_data(struct worker *ww, struct conn *c, uint8_t *p, size_t n)
{
    host.data_calls++;
    size_t k = n < sizeof host.got - host.got_len ? n : sizeof host.got - host.got_len;
    memcpy(host.got + host.got_len, p, k);
    host.got_len += k;
    static uint8_t answer[1 << 20];
    memset(answer, 'a', sizeof answer);
    assert_true(host.answer_bytes <= sizeof answer);
    if (host.answer_bytes)
        assert_int_equal(conn_send_bytes(ww, c, answer, host.answer_bytes), 0);
}

static void data_on_resume(struct worker *ww, struct conn *c)
{
    (void)ww;
    (void)c;
    host.resumes++;
}

static const struct conn_host_ops data_ops = {
    .on_data = data_on_data,
    .on_resume = data_on_resume,
    .on_forget = stub_forget,
};

static void use_data_host(size_t pause)
{
    memset(&host, 0, sizeof host);
    w.host_ops = &data_ops;
    w.read_pause_bytes = pause;
    w.ticks_handshake = 0; /* the host keeps its own head deadline */
}

static void use_stub_host(void)
{
    w.host_ops = &stub_ops;
    w.read_pause_bytes = 0;
    w.ticks_handshake = (uint32_t)ev_ticks_for_ms(cfg.handshake_timeout_ms);
}

/* Turns the loop without waiting: what epoll reports for w's connections. */
static void spin(void)
{
    for (int i = 0; i < 4; i++)
        assert_true(ev_loop_run_once(w.loop, 0) >= 0);
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void test_conn_host_on_data_gets_every_byte_and_keeps_the_connection(void **state)
{
    (void)state;
    int peer;
    use_data_host(0);
    struct conn *c = open_conn(&peer);
    host.answer_bytes = 3;
    /* a head with a body, then a second request: nothing is parsed by the
     * core, nothing goes to on_request, the connection stays open */
    feed(c, peer, "POST /p HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    feed(c, peer, "GET / HTTP/1.1\r\n\r\n");
    assert_int_equal(host.data_calls, 2);
    assert_int_equal(host.got_len, strlen("POST /p HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
                                          "GET / HTTP/1.1\r\n\r\n"));
    assert_memory_equal(host.got + host.got_len - 4, "\r\n\r\n", 4);
    assert_int_equal(seen.requests, 0);
    assert_int_equal(seen.refusals, 0);
    assert_int_equal(c->state, CONN_HTTP);
    assert_int_equal(w.deadlines[c->slot], EV_DEADLINE_NONE); /* ticks_handshake 0 */
    char buf[64];
    assert_int_equal(read(peer, buf, sizeof buf), 6); /* both answers, written at once */
    end(c, peer);
    use_stub_host();
}

static void test_conn_host_end_lingers_then_drops_input(void **state)
{
    (void)state;
    int peer;
    use_data_host(0);
    struct conn *c = open_conn(&peer);
    host.answer_bytes = 5;
    feed(c, peer, "GET / HTTP/1.0\r\n\r\n");
    conn_end(&w, c); /* the last answer is out: half-close, read and drop */
    conn_end(&w, c); /* a second call changes nothing */
    assert_int_equal(c->state, CONN_CLOSING);
    char buf[64];
    assert_int_equal(read(peer, buf, sizeof buf), 5);
    assert_int_equal(read(peer, buf, sizeof buf), 0); /* our FIN */
    feed(c, peer, "more input after the answer");
    assert_int_equal(host.data_calls, 1); /* dropped, not handed up */
    assert_int_equal(c->state, CONN_CLOSING);
    /* the lingering close is bounded in the host's ticks */
    for (int i = 0; i < 3 && c->state != CONN_DEAD; i++) {
        w.tick = ev_tick_next(w.tick);
        conn_on_tick(&w, c);
    }
    assert_int_equal(c->state, CONN_DEAD);
    conn_reap(&w);
    assert_int_equal(seen.forgets, 1);
    close(peer);
    use_stub_host();
}

static void test_conn_host_read_pause_above_the_mark(void **state)
{
    (void)state;
    int peer;
    use_data_host(64 * 1024);
    struct conn *c = open_conn(&peer);
    host.answer_bytes = 1 << 20; /* more than the socket takes: the rest is queued */
    feed(c, peer, "first");
    assert_int_equal(host.data_calls, 1);
    assert_non_null(c->out);
    assert_true(outq_bytes(c->out) >= w.read_pause_bytes);
    host.answer_bytes = 0;
    /* input while paused stays in the kernel: neither a read event nor
     * the loop hands it up */
    assert_int_equal(write(peer, "second", 6), 6);
    conn_on_event(w.loop, &c->h, EV_READ);
    spin();
    assert_int_equal(host.data_calls, 1);
    assert_int_equal(host.resumes, 0);
    /* the peer reads: the queue drains below the mark, reading resumes */
    static uint8_t sink[1 << 16];
    for (int i = 0; i < 1000 && host.resumes == 0; i++) {
        while (read(peer, sink, sizeof sink) > 0)
            ;
        spin();
    }
    assert_int_equal(host.resumes, 1);
    spin();
    assert_int_equal(host.data_calls, 2);
    assert_memory_equal(host.got, "firstsecond", 11);
    while (read(peer, sink, sizeof sink) > 0)
        ;
    assert_null(c->out);
    assert_false(readable(peer)); /* nothing else was said */
    end(c, peer);
    use_stub_host();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_host_request_goes_up_with_the_bytes_after_it),
        cmocka_unit_test(test_conn_host_bad_head_is_refused_below_the_routes),
        cmocka_unit_test(test_conn_host_head_timeout_is_refused),
        cmocka_unit_test(test_conn_host_preamble_comes_first),
        cmocka_unit_test(test_conn_host_on_data_gets_every_byte_and_keeps_the_connection),
        cmocka_unit_test(test_conn_host_end_lingers_then_drops_input),
        cmocka_unit_test(test_conn_host_read_pause_above_the_mark),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
