/* test_admin_host.c - the admin port on the connection core (admin.c over
 * conn.c), over socketpairs against a standalone master (no workers).
 *
 * Pipelined keep-alive requests are answered in order on one connection,
 * a body that arrives in pieces is read whole, Connection: close ends
 * with the lingering close (our FIN, then freed at the peer's EOF), the
 * millisecond head timeout ends a connection whose head never completes,
 * and the admin's connections never show in the public counters (the
 * host's counters are its own). The loop is turned by hand; only the
 * timeout test waits, on the loop, for the admin's own sweep. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "core/clock.h"
#include "ev/loop.h"
#include "metrics/metrics.h"
#include "server/admin.h"
#include "server/master.h"
#include "server/node.h"

static struct wsp_config cfg;
static struct master *m;
static struct ev_loop *loop;
static struct admin *adm;

static void on_post(struct ev_loop *l, void *arg)
{
    (void)l;
    admin_reap(arg);
}

static int setup(void **state)
{
    (void)state;
    char *argv[] = {"serve", "--ring-size", "64KiB", "--admin-head-timeout",
                    "200ms", "--log-level", "error", NULL};
    if (config_parse(&cfg, 7, argv, stdout, stderr) != 0)
        return -1;
    m = master_new_standalone(&cfg);
    loop = ev_loop_new(64);
    if (!m || !loop)
        return -1;
    int lp[2]; /* a "listener" that never becomes readable: connections are adopted */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, lp) < 0)
        return -1;
    close(lp[1]);
    adm = admin_new(master_node(m), loop, lp[0]);
    if (!adm)
        return -1;
    ev_loop_set_post(loop, on_post, adm);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    admin_free(adm);
    ev_loop_free(loop);
    master_free_standalone(m);
    return 0;
}

static int client(void)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    assert_int_equal(admin_adopt(adm, sp[0]), 0);
    return sp[1];
}

static void say(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void spin(void)
{
    for (int i = 0; i < 4; i++)
        assert_true(ev_loop_run_once(loop, 0) >= 0);
}

/* What the admin said so far (NUL-terminated); *eof once it ended. */
static size_t hear(int fd, char *buf, size_t cap, bool *eof)
{
    size_t got = 0;
    *eof = false;
    for (;;) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        *eof = r == 0;
        break;
    }
    buf[got] = '\0';
    return got;
}

static size_t count(const char *s, const char *what)
{
    size_t k = 0;
    for (const char *p = s; (p = strstr(p, what)); p++)
        k++;
    return k;
}

static void test_admin_host_pipelined_keep_alive_and_private_counters(void **state)
{
    (void)state;
    int fd = client();
    say(fd, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
            "GET /stats HTTP/1.1\r\nHost: localhost\r\n\r\n"
            "GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n");
    spin();
    static char buf[1 << 16];
    bool eof;
    hear(fd, buf, sizeof buf, &eof);
    assert_false(eof);
    char *a = strstr(buf, "HTTP/1.1 200"), *b = a ? strstr(a + 1, "HTTP/1.1 200") : NULL;
    assert_non_null(b);
    assert_non_null(strstr(a, "{\"status\":\"ok\"}"));
    assert_non_null(strstr(b, "HTTP/1.1 404")); /* in order, after /stats */
    /* the admin connection is not one of the node's connections */
    assert_non_null(strstr(b, "\"connections\":0"));
    const struct node *n = master_node(m);
    for (unsigned i = 0; i < n->nworkers; i++) {
        assert_int_equal(n->shared->w[i].conns_pending, 0);
        assert_int_equal(n->shared->w[i].bytes_sent, 0);
    }
    assert_int_equal(admin_conn_count(adm), 1);
    close(fd);
    spin();
    assert_int_equal(admin_conn_count(adm), 0);
}

static void test_admin_host_body_in_pieces_then_close_lingers(void **state)
{
    (void)state;
    int fd = client();
    say(fd, "POST /publish/t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            "Content-Length: 5\r\n\r\nhe");
    spin();
    static char buf[4096];
    bool eof;
    assert_int_equal(hear(fd, buf, sizeof buf, &eof), 0); /* the body is not whole yet */
    assert_false(eof);
    say(fd, "llo");
    spin();
    hear(fd, buf, sizeof buf, &eof);
    assert_int_equal(count(buf, "HTTP/1.1 202"), 1);
    assert_true(eof); /* half-closed after the answer: the lingering close */
    assert_int_equal(admin_conn_count(adm), 1);
    say(fd, "GET /healthz HTTP/1.1\r\n\r\n"); /* read and dropped */
    spin();
    assert_int_equal(hear(fd, buf, sizeof buf, &eof), 0);
    close(fd); /* the peer's EOF ends it */
    spin();
    assert_int_equal(admin_conn_count(adm), 0);
}

static void test_admin_host_head_timeout_in_milliseconds(void **state)
{
    (void)state;
    int fd = client();
    say(fd, "GET /healthz HTTP/1.1\r\n");
    uint64_t t0 = clock_mono_ms();
    while (admin_conn_count(adm) && clock_mono_ms() - t0 < 3000)
        assert_true(ev_loop_run_once(loop, 50) >= 0);
    uint64_t took = clock_mono_ms() - t0;
    assert_int_equal(admin_conn_count(adm), 0);
    assert_true(took >= 150 && took < 1000); /* 200 ms, swept every 50 ms */
    static char buf[256];
    bool eof;
    assert_int_equal(hear(fd, buf, sizeof buf, &eof), 0);
    assert_true(eof);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_host_pipelined_keep_alive_and_private_counters),
        cmocka_unit_test(test_admin_host_body_in_pieces_then_close_lingers),
        cmocka_unit_test(test_admin_host_head_timeout_in_milliseconds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
