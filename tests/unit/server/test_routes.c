/* test_routes.c - what a request head means on the public port
 * (server/routes.c), through a worker built by worker_init and clients
 * over socketpairs: the path and ?topic= name the subscriptions; bad names,
 * too many topics, unknown paths and foreign origins get 400, 404 and 403;
 * the echo path echoes; a connection with many topics keeps every topic's
 * pointer to its subscription right. */
#include "server_fixture.h"

static const char *const two_topics[] = {"--max-topics", "2", NULL};
static const char *const origins[] = {"--allow-origin", "http://ok.example", NULL};
static const char *const with_echo[] = {"--echo-path", "/echo", NULL};

/* The names of c's subscriptions, comma-separated, in order. */
static void topics_of(const struct conn *c, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (c->sub.topic)
        n += (size_t)snprintf(out + n, cap - n, "%s", c->sub.topic->name);
    for (unsigned i = 0; i < c->nextra; i++)
        n += (size_t)snprintf(out + n, cap - n, ",%s", c->extra[i].topic->name);
}

/* The status line's code of the answer to target, and the body in resp. */
static int answer(const char *target, bool upgrade, const char *extra, char *resp, size_t cap)
{
    struct fx_client cl = fx_client();
    fx_request(&cl, target, upgrade, extra, resp, cap);
    int status = 0;
    assert_int_equal(sscanf(resp, "HTTP/1.1 %d ", &status), 1);
    if (status != 101) /* an answer ends the connection (after lingering) */
        assert_int_equal(cl.c->state, CONN_CLOSING);
    close(cl.fd);
    fx_spin(2); /* the peer's close ends it */
    return status;
}

static void test_routes_path_and_query_name_topics(void **state)
{
    (void)state;
    fx_start(NULL);
    char t[512];
    struct fx_client a = fx_upgrade("/news?topic=b&x=1&topic=c%2Fd&TOPIC=e", false);
    topics_of(a.c, t, sizeof t);
    assert_string_equal(t, "news,b,c/d,e");
    struct fx_client root = fx_upgrade("/", false); /* "/" names none */
    assert_null(root.c->sub.topic);
    struct fx_client q = fx_upgrade("/?topic=only", false);
    topics_of(q.c, t, sizeof t);
    assert_string_equal(t, "only");
    struct fx_client dup = fx_upgrade("/%6Eews?topic=news", false); /* decoded, then one */
    topics_of(dup.c, t, sizeof t);
    assert_string_equal(t, "news");
    assert_int_equal(topic_index_topics(fx_w.topics), 5); /* news b c/d e only */
    fx_stop();
}

static void test_routes_refusals(void **state)
{
    (void)state;
    char resp[1024];
    fx_start(two_topics);
    assert_int_equal(answer("/?topic=", true, NULL, resp, sizeof resp), 400);
    assert_int_equal(answer("/?topic=a%20b", true, NULL, resp, sizeof resp), 400);
    assert_non_null(strstr(resp, "bad topic name"));
    assert_int_equal(answer("/a?topic=b&topic=c", true, NULL, resp, sizeof resp), 400);
    assert_non_null(strstr(resp, "too many topics"));
    assert_int_equal(fx_w.st->handshake_fail[HS_FAIL_TOPIC], 3);
    assert_int_equal(topic_index_topics(fx_w.topics), 0);  /* none kept by the refused */
    struct fx_client ok = fx_upgrade("/a?topic=b", false); /* within the limit */
    assert_int_equal(answer("/nope", false, NULL, resp, sizeof resp), 404);
    assert_int_equal(answer("/healthz", false, NULL, resp, sizeof resp), 200);
    assert_non_null(strstr(resp, "\"connections\":1,")); /* every worker's, from shared stats */
    close(ok.fd);
    assert_int_equal(answer("/t", true, "Sec-WebSocket-Version: 8\r\n", resp, sizeof resp), 426);
    assert_non_null(strstr(resp, "\r\nSec-WebSocket-Version: 13\r\n"));
    fx_stop();

    fx_start(origins);
    assert_int_equal(answer("/t", true, "Origin: http://evil.example\r\n", resp, sizeof resp), 403);
    assert_int_equal(fx_w.st->handshake_fail[HS_FAIL_ORIGIN], 1);
    assert_int_equal(answer("/t", true, "Origin: http://ok.example\r\n", resp, sizeof resp), 101);
    fx_stop();
}

static void test_routes_echo_path(void **state)
{
    (void)state;
    fx_start(with_echo);
    struct fx_client e = fx_upgrade("/echo?topic=ignored", false);
    assert_true(e.c->flags & CF_ECHO);
    assert_null(e.c->sub.topic); /* the echo path subscribes to nothing */
    fx_send_frame(e.fd, WS_OP_TEXT, "hello", 5);
    fx_send_frame(e.fd, WS_OP_BINARY, "\x00\x01", 2);
    fx_spin(2);
    uint8_t buf[64];
    size_t n = fx_read(e.fd, buf, sizeof buf, NULL), off = 0;
    fx_expect_frame(buf, n, &off, WS_OP_TEXT, "hello", 5);
    fx_expect_frame(buf, n, &off, WS_OP_BINARY, "\x00\x01", 2);
    assert_int_equal(off, n);
    /* elsewhere, a client's messages are not echoed */
    struct fx_client t = fx_upgrade("/t", false);
    fx_send_frame(t.fd, WS_OP_TEXT, "hello", 5);
    fx_spin(2);
    assert_int_equal(fx_read(t.fd, buf, sizeof buf, NULL), 0);
    fx_stop();
}

/* Every subscription of c is where its topic's member array says. */
static void expect_back_pointers(struct conn *c)
{
    struct topic_sub *s = &c->sub;
    for (unsigned i = 0; s; s = i < c->nextra ? &c->extra[i++] : NULL) {
        assert_non_null(s->topic);
        assert_true(s->idx < s->topic->count);
        assert_ptr_equal(s->topic->members[s->idx].sub, s);
        assert_ptr_equal(s->topic->members[s->idx].owner, c);
    }
}

/* Regression (c293ac0): the extra subscriptions of a connection live in an
 * array that grows by realloc as ?topic= names are taken; each topic's
 * member keeps a pointer to its subscription, so a move must update them.
 * With 3+ topics the old code left them pointing at the freed array, and
 * unsubscribing (at close) wrote through them. */
static void test_routes_many_topics_keep_back_pointers(void **state)
{
    (void)state;
    fx_start(NULL);
    const char *target = "/t0?topic=t1&topic=t2&topic=t3&topic=t4&topic=t5&topic=t6&topic=t7"
                         "&topic=t8&topic=t9&topic=t10&topic=t11";
    struct fx_client a = fx_upgrade(target, false);
    struct fx_client b = fx_upgrade(target, false);
    assert_int_equal(a.c->nextra, 11);
    expect_back_pointers(a.c);
    expect_back_pointers(b.c);
    /* a leaves first: b moves into a's member slots, through b's pointers */
    close(a.fd);
    fx_spin(2);
    assert_int_equal(fx_w.nconns, 1);
    expect_back_pointers(b.c);
    assert_int_equal(topic_index_topics(fx_w.topics), 12);
    close(b.fd);
    fx_spin(2);
    assert_int_equal(topic_index_topics(fx_w.topics), 0);
    fx_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_path_and_query_name_topics),
        cmocka_unit_test(test_routes_refusals),
        cmocka_unit_test(test_routes_echo_path),
        cmocka_unit_test(test_routes_many_topics_keep_back_pointers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
