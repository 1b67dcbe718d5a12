/* test_redis.c - broker/redis.c: the redis:// URL parser, the text/binary
 * envelope and its id header (ids from Redis), reply classification fed through hiredis' reader
 * split at every byte, and the async client on our event loop against a fake Redis server in this
 * process (partial replies, error replies, a lost connection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/redis.h"
#include "core/clock.h"
#include "core/err.h"
#include "ev/loop.h"
#include "../guard_page.h"
#include "pubsub/msgid.h"

/* ------------------------------------------------------------- URL */

static void test_redis_url_parse_good(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host, *user, *pass;
        int port, db;
    } cases[] = {
        {"redis://localhost", "localhost", "", "", 6379, 0},
        {"redis://127.0.0.1:6380", "127.0.0.1", "", "", 6380, 0},
        {"redis://127.0.0.1:6380/", "127.0.0.1", "", "", 6380, 0},
        {"redis://:s3cret@redis.example:7000/2", "redis.example", "", "s3cret", 7000, 2},
        {"redis://app:pa%40ss%2Fw@h/15", "h", "app", "pa@ss/w", 6379, 15},
        {"redis://:p:with:colons@h", "h", "", "p:with:colons", 6379, 0},
        {"redis://:a@b@h:1", "h", "", "a@b", 1, 0}, /* the last '@' ends the userinfo */
        {"REDIS://[::1]:6390/1", "::1", "", "", 6390, 1},
        {"redis://my_host-1.local:65535/65535", "my_host-1.local", "", "", 65535, 65535},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct redis_url u;
        const char *why = NULL;
        int r = redis_url_parse(cases[i].url, &u, &why);
        if (r != 0)
            fail_msg("%s: %s", cases[i].url, why);
        assert_string_equal(u.host, cases[i].host);
        assert_string_equal(u.user, cases[i].user);
        assert_string_equal(u.password, cases[i].pass);
        assert_int_equal(u.port, cases[i].port);
        assert_int_equal(u.db, cases[i].db);
    }
}

static void test_redis_url_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "localhost:6379",
        "http://localhost",
        "rediss://localhost",
        "redis://",
        "redis://:6379",
        "redis://host:",
        "redis://host:0",
        "redis://host:65536",
        "redis://host:12x",
        "redis://host/abc",
        "redis://host/1/2",
        "redis://host/-1",
        "redis://password@host", /* no colon: ambiguous */
        "redis://:@host",        /* empty password */
        "redis://:p%zz@host",    /* bad escape */
        "redis://:p%4@host",     /* truncated escape */
        "redis://:p%00@host",    /* NUL */
        "redis://ho st",
        "redis://host?db=1",
        "redis://[::1",
        "redis://[]:1",
        "redis://[zz]:1",
        "redis://[::1]x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct redis_url u;
        const char *why = NULL;
        if (redis_url_parse(bad[i], &u, &why) != WSP_EINVAL)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(why);
    }
    struct redis_url u;
    assert_int_equal(redis_url_parse(NULL, &u, NULL), WSP_EINVAL);
    /* a too long password */
    char longu[600];
    memset(longu, 'a', sizeof longu);
    memcpy(longu, "redis://:", 9);
    memcpy(longu + 500, "@h", 3);
    assert_int_equal(redis_url_parse(longu, &u, NULL), WSP_EINVAL);
}

static void test_redis_url_format_hides_password(void **state)
{
    (void)state;
    struct redis_url u;
    assert_int_equal(redis_url_parse("redis://:topsecret@h:7/3", &u, NULL), 0);
    char out[300];
    redis_url_format(&u, out, sizeof out);
    assert_string_equal(out, "h:7/3");
    assert_int_equal(redis_url_parse("redis://[::1]", &u, NULL), 0);
    redis_url_format(&u, out, sizeof out);
    assert_string_equal(out, "[::1]:6379/0");
}

/* --------------------------------------------------------- envelope */

static void test_redis_envelope_roundtrip(void **state)
{
    (void)state;
    uint8_t hdr[REDIS_ENV_HEADER], buf[64];
    bool bin;
    const uint8_t *d;
    size_t n;
    /* text: no header, decoded as text */
    assert_int_equal(redis_envelope_header(false, hdr), 0);
    redis_envelope_decode((const uint8_t *)"h\xc3\xa9llo", 6, &bin, &d, &n);
    assert_false(bin);
    assert_int_equal(n, 6);
    /* binary, even when its bytes are valid UTF-8 */
    static const uint8_t payloads[][4] = {{'a', 'b', 'c', 0}, {0xff, 'b', 0, 1}, {0, 0, 0, 0}};
    for (size_t k = 0; k < 3; k++) {
        for (size_t len = 0; len <= 4; len++) {
            size_t hl = redis_envelope_header(true, hdr);
            assert_int_equal(hl, REDIS_ENV_HEADER);
            memcpy(buf, hdr, hl);
            memcpy(buf + hl, payloads[k], len);
            redis_envelope_decode(buf, hl + len, &bin, &d, &n);
            assert_true(bin);
            assert_int_equal(n, len);
            assert_memory_equal(d, payloads[k], len);
        }
    }
    /* a foreign publisher's non-UTF-8 bytes: binary as they are */
    redis_envelope_decode((const uint8_t *)"\x80\x81", 2, &bin, &d, &n);
    assert_true(bin);
    assert_int_equal(n, 2);
    redis_envelope_decode((const uint8_t *)"\xff", 1, &bin, &d, &n);
    assert_true(bin);
    assert_int_equal(n, 1);
    redis_envelope_decode((const uint8_t *)"\xffx", 2, &bin, &d, &n);
    assert_true(bin);
    assert_int_equal(n, 2);
    /* empty text */
    redis_envelope_decode((const uint8_t *)"", 0, &bin, &d, &n);
    assert_false(bin);
    assert_int_equal(n, 0);
}

/* ---------------------------------------------- replies, split at every byte */

struct reply_case {
    const char *resp;
    size_t len;
    enum redis_event_type type;
    const char *channel, *pattern, *data;
    size_t data_len;
    long long count;
};

#define S(x) x, sizeof(x) - 1

static const struct reply_case reply_cases[] = {
    {S("*3\r\n$7\r\nmessage\r\n$11\r\nwspush:news\r\n$5\r\nhello\r\n"), REDIS_EV_MESSAGE,
     "wspush:news", NULL, "hello", 5, 0},
    /* binary payload with CR LF and NUL inside: bulk strings are length-framed */
    {S("*3\r\n$7\r\nMESSAGE\r\n$1\r\nc\r\n$6\r\n\xff"
       "b\r\n\0z\r\n"),
     REDIS_EV_MESSAGE, "c", NULL,
     "\xff"
     "b\r\n\0z",
     6, 0},
    {S("*4\r\n$8\r\npmessage\r\n$8\r\nwspush:*\r\n$8\r\nwspush:a\r\n$0\r\n\r\n"), REDIS_EV_PMESSAGE,
     "wspush:a", "wspush:*", "", 0, 0},
    {S("*3\r\n$9\r\nsubscribe\r\n$7\r\nwspush:\r\n:1\r\n"), REDIS_EV_SUBSCRIBE, "wspush:", NULL,
     NULL, 0, 1},
    {S("*3\r\n$10\r\npsubscribe\r\n$8\r\nwspush:*\r\n:2\r\n"), REDIS_EV_PSUBSCRIBE, "wspush:*",
     NULL, NULL, 0, 2},
    {S("*3\r\n$11\r\nunsubscribe\r\n$8\r\nwspush:x\r\n:0\r\n"), REDIS_EV_UNSUBSCRIBE, "wspush:x",
     NULL, NULL, 0, 0},
    {S("*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"), REDIS_EV_UNSUBSCRIBE, NULL, NULL, NULL, 0, 0},
    {S("*3\r\n$12\r\npunsubscribe\r\n$1\r\np\r\n:0\r\n"), REDIS_EV_PUNSUBSCRIBE, "p", NULL, NULL, 0,
     0},
    {S("+PONG\r\n"), REDIS_EV_PONG, NULL, NULL, NULL, 0, 0},
    {S("*2\r\n$4\r\npong\r\n$0\r\n\r\n"), REDIS_EV_PONG, NULL, NULL, NULL, 0, 0},
    {S("+OK\r\n"), REDIS_EV_STATUS, NULL, NULL, "OK", 2, 0},
    {S("-NOAUTH Authentication required.\r\n"), REDIS_EV_ERROR, NULL, NULL,
     "NOAUTH Authentication required.", 31, 0},
    /* unexpected shapes and types */
    {S(":1\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0, 0},
    {S("$5\r\nhello\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0, 0},
    {S("*-1\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0, 0},
    {S("*0\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0, 0},
    {S("*2\r\n$7\r\nmessage\r\n$1\r\nc\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0, 0},
    {S("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n:5\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0, 0},
    {S("*3\r\n:1\r\n$1\r\nc\r\n$1\r\nd\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0, 0},
    {S("*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n$1\r\n1\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0,
     0},
    {S("*3\r\n$9\r\nsubscribe\r\n:7\r\n:1\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0, 0},
    {S("*3\r\n$5\r\nhello\r\n$1\r\nc\r\n$1\r\nd\r\n"), REDIS_EV_UNEXPECTED, NULL, NULL, NULL, 0, 0},
};

static void check_event(const struct reply_case *c, const struct redis_event *ev)
{
    assert_int_equal(ev->type, c->type);
    if (c->channel) {
        assert_int_equal(ev->channel_len, strlen(c->channel));
        assert_memory_equal(ev->channel, c->channel, ev->channel_len);
    } else if (c->type != REDIS_EV_UNEXPECTED) {
        assert_null(ev->channel);
    }
    if (c->pattern) {
        assert_int_equal(ev->pattern_len, strlen(c->pattern));
        assert_memory_equal(ev->pattern, c->pattern, ev->pattern_len);
    }
    if (c->data) {
        assert_int_equal(ev->len, c->data_len);
        assert_memory_equal(ev->data, c->data, c->data_len);
    }
    assert_true(ev->count == c->count);
}

static void test_redis_reply_classify_any_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof reply_cases / sizeof reply_cases[0]; i++) {
        const struct reply_case *c = &reply_cases[i];
        for (size_t cut = 0; cut <= c->len; cut++) {
            redisReader *rd = redisReaderCreate();
            void *reply = NULL;
            assert_int_equal(redisReaderFeed(rd, c->resp, cut), REDIS_OK);
            assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
            if (cut < c->len) {
                assert_null(reply); /* incomplete: nothing yet */
                assert_int_equal(redisReaderFeed(rd, c->resp + cut, c->len - cut), REDIS_OK);
                assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
            }
            assert_non_null(reply);
            struct redis_event ev;
            assert_int_equal(redis_reply_classify(reply, &ev), c->type);
            check_event(c, &ev);
            freeReplyObject(reply);
            redisReaderFree(rd);
        }
        /* one byte at a time */
        redisReader *rd = redisReaderCreate();
        void *reply = NULL;
        for (size_t k = 0; k < c->len && !reply; k++) {
            assert_int_equal(redisReaderFeed(rd, c->resp + k, 1), REDIS_OK);
            assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
            if (k + 1 < c->len)
                assert_null(reply);
        }
        assert_non_null(reply);
        struct redis_event ev;
        redis_reply_classify(reply, &ev);
        check_event(c, &ev);
        freeReplyObject(reply);
        redisReaderFree(rd);
    }
    struct redis_event ev;
    assert_int_equal(redis_reply_classify(NULL, &ev), REDIS_EV_UNEXPECTED);
}

/* ------------------------------------------- the client vs a fake server */

#define FAKE_MAX 8

struct fake {
    int lfd;
    int port;
    int fds[FAKE_MAX];
    redisReader *rd[FAKE_MAX];
    int sub_fd; /* the connection that sent SUBSCRIBE */
    int nconn;
    bool refuse_ping;   /* answer PING with an error (like a wrong password) */
    bool split_replies; /* write replies one byte per loop iteration */
    unsigned publishes;
    char last_publish[64];
    size_t last_publish_len;
};

struct obs {
    int ups, downs;
    int messages;
    int subscribed;
    char data[64];
    size_t len;
};

static struct ev_loop *loop;

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof *f);
    f->sub_fd = -1;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->lfd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(f->lfd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    for (int i = 0; i < FAKE_MAX; i++)
        f->fds[i] = -1;
}

static void fake_drop_all(struct fake *f)
{
    for (int i = 0; i < FAKE_MAX; i++) {
        if (f->fds[i] >= 0) {
            close(f->fds[i]);
            redisReaderFree(f->rd[i]);
        }
        f->fds[i] = -1;
    }
    f->sub_fd = -1;
    f->nconn = 0;
}

static void fake_free(struct fake *f)
{
    fake_drop_all(f);
    close(f->lfd);
}

static void fake_write(struct fake *f, int fd, const char *p, size_t n)
{
    if (!f->split_replies) {
        assert_int_equal(write(fd, p, n), (ssize_t)n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(write(fd, p + i, 1), 1);
        ev_loop_run_once(loop, 0); /* the client sees every partial reply */
    }
}

static void fake_command(struct fake *f, int fd, redisReply *cmd)
{
    if (cmd->type != REDIS_REPLY_ARRAY || cmd->elements < 1)
        return;
    const char *name = cmd->element[0]->str;
    char out[256];
    if (!strcasecmp(name, "PING")) {
        if (f->refuse_ping)
            fake_write(f, fd, S("-NOAUTH Authentication required.\r\n"));
        else
            fake_write(f, fd, S("+PONG\r\n"));
    } else if (!strcasecmp(name, "SUBSCRIBE") && cmd->elements == 2) {
        f->sub_fd = fd;
        int n = snprintf(out, sizeof out, "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n%s\r\n:1\r\n",
                         cmd->element[1]->len, cmd->element[1]->str);
        fake_write(f, fd, out, (size_t)n);
    } else if (!strcasecmp(name, "PUBLISH") && cmd->elements == 3) {
        f->publishes++;
        f->last_publish_len = cmd->element[2]->len < 64 ? cmd->element[2]->len : 64;
        memcpy(f->last_publish, cmd->element[2]->str, f->last_publish_len);
        fake_write(f, fd, S(":2\r\n"));
    } else {
        fake_write(f, fd, S("-ERR unknown command\r\n"));
    }
}

static void fake_pump(struct fake *f)
{
    int fd;
    while ((fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        int i = 0;
        while (i < FAKE_MAX && f->fds[i] >= 0)
            i++;
        assert_true(i < FAKE_MAX);
        f->fds[i] = fd;
        f->rd[i] = redisReaderCreate();
        f->nconn++;
    }
    for (int i = 0; i < FAKE_MAX; i++) {
        if (f->fds[i] < 0)
            continue;
        char buf[4096];
        ssize_t n = read(f->fds[i], buf, sizeof buf);
        if (n <= 0)
            continue;
        redisReaderFeed(f->rd[i], buf, (size_t)n);
        void *cmd;
        while (redisReaderGetReply(f->rd[i], &cmd) == REDIS_OK && cmd) {
            fake_command(f, f->fds[i], cmd);
            freeReplyObject(cmd);
        }
    }
}

/* Runs the loop and the fake server until pred holds (or 3 s pass). */
static bool run_until(struct fake *f, bool (*pred)(void *), void *arg)
{
    uint64_t end = clock_mono_ms() + 3000;
    while (clock_mono_ms() < end) {
        fake_pump(f);
        if (pred(arg))
            return true;
        ev_loop_run_once(loop, 5);
    }
    return pred(arg);
}

static void obs_state(void *ctx, bool up)
{
    struct obs *o = ctx;
    if (up)
        o->ups++;
    else
        o->downs++;
}

static void obs_event(void *ctx, const struct redis_event *ev)
{
    struct obs *o = ctx;
    if (ev->type == REDIS_EV_SUBSCRIBE)
        o->subscribed++;
    if (ev->type == REDIS_EV_MESSAGE) {
        o->messages++;
        o->len = ev->len < sizeof o->data ? ev->len : sizeof o->data;
        memcpy(o->data, ev->data, o->len);
    }
}

static struct redis_client *cl;
static struct obs ob;
static bool is_up(void *a)
{
    (void)a;
    return ob.ups > 0 && redis_client_ready(cl);
}
static bool is_subscribed(void *a)
{
    (void)a;
    return ob.subscribed > 0;
}
static bool got_message(void *a)
{
    (void)a;
    return ob.messages > 0;
}
static bool is_down(void *a)
{
    (void)a;
    return ob.downs > 0;
}
static bool published(void *a)
{
    return ((struct fake *)a)->publishes > 0 && redis_client_stats(cl)->messages_out > 0;
}
static bool failed_once(void *a)
{
    (void)a;
    return redis_client_stats(cl)->connects_failed > 0;
}

static struct redis_client *connect_to(struct fake *f)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", f->port);
    struct redis_url u;
    assert_int_equal(redis_url_parse(url, &u, NULL), 0);
    static const struct redis_client_ops ops = {.on_state = obs_state, .on_event = obs_event};
    struct redis_client_cfg cfg = {.backoff_min_ms = 10, .backoff_max_ms = 20};
    memset(&ob, 0, sizeof ob);
    struct redis_client *c = redis_client_new(loop, &u, &cfg, &ops, &ob);
    assert_non_null(c);
    return c;
}

static void test_redis_client_split_replies_and_reconnect(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    f.split_replies = true;
    loop = ev_loop_new(64);
    cl = connect_to(&f);
    assert_false(redis_client_ready(cl));
    assert_int_equal(redis_client_publish(cl, "c", 1, NULL, 0, (const uint8_t *)"x", 1),
                     WSP_EAGAIN);
    assert_int_equal(redis_client_subscribe(cl, false, "c", 1), WSP_EAGAIN);
    assert_true(run_until(&f, is_up, NULL));
    assert_int_equal(f.nconn, 2);

    assert_int_equal(redis_client_subscribe(cl, false, "wspush:news", 11), 0);
    assert_true(run_until(&f, is_subscribed, NULL));
    assert_true(f.sub_fd >= 0);
    /* a message arriving one byte per loop iteration, with binary bytes */
    static const char msg[] = "*3\r\n$7\r\nmessage\r\n$11\r\nwspush:news\r\n$4\r\n\xff"
                              "b\0\n\r\n";
    fake_write(&f, f.sub_fd, msg, sizeof msg - 1);
    assert_true(run_until(&f, got_message, NULL));
    assert_int_equal(ob.messages, 1);
    assert_int_equal(ob.len, 4);
    assert_memory_equal(ob.data,
                        "\xff"
                        "b\0\n",
                        4);
    assert_int_equal(redis_client_stats(cl)->messages_in, 1);

    /* publish with an envelope header: the server sees header + payload */
    uint8_t hdr[REDIS_ENV_HEADER];
    size_t hl = redis_envelope_header(true, hdr);
    assert_int_equal(
        redis_client_publish(cl, "wspush:news", 11, hdr, hl, (const uint8_t *)"\x01\x02", 2), 0);
    assert_true(run_until(&f, published, &f));
    assert_int_equal(f.last_publish_len, 4);
    assert_memory_equal(f.last_publish,
                        "\xff"
                        "b\x01\x02",
                        4);
    assert_int_equal(redis_client_stats(cl)->receivers_last, 2);

    /* the server goes away: down, then back with a fresh pair */
    f.split_replies = false;
    fake_drop_all(&f);
    assert_true(run_until(&f, is_down, NULL));
    assert_false(redis_client_ready(cl));
    assert_int_equal(redis_client_publish(cl, "c", 1, NULL, 0, (const uint8_t *)"x", 1),
                     WSP_EAGAIN);
    ob.ups = 0;
    assert_true(run_until(&f, is_up, NULL));
    assert_int_equal(redis_client_stats(cl)->reconnects, 1);
    assert_int_equal(f.nconn, 2);

    redis_client_free(cl);
    ev_loop_free(loop);
    fake_free(&f);
}

static void test_redis_client_error_reply_is_not_ready(void **state)
{
    (void)state;
    struct fake f;
    fake_init(&f);
    f.refuse_ping = true;
    loop = ev_loop_new(64);
    cl = connect_to(&f);
    assert_true(run_until(&f, failed_once, NULL));
    assert_false(redis_client_ready(cl));
    assert_int_equal(ob.ups, 0);
    /* once the server answers, the next attempt succeeds */
    f.refuse_ping = false;
    fake_drop_all(&f);
    assert_true(run_until(&f, is_up, NULL));
    assert_int_equal(redis_client_stats(cl)->reconnects, 0); /* first success */
    redis_client_free(cl);
    ev_loop_free(loop);
    fake_free(&f);
}

static void test_redis_client_refused_retries(void **state)
{
    (void)state;
    /* a port nobody listens on: attempts fail and are counted, no crash,
     * no callbacks */
    struct fake f;
    fake_init(&f);
    int port = f.port;
    fake_free(&f);
    loop = ev_loop_new(64);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    struct redis_url u;
    assert_int_equal(redis_url_parse(url, &u, NULL), 0);
    static const struct redis_client_ops ops = {.on_state = obs_state, .on_event = obs_event};
    struct redis_client_cfg cfg = {.backoff_min_ms = 5, .backoff_max_ms = 10};
    memset(&ob, 0, sizeof ob);
    cl = redis_client_new(loop, &u, &cfg, &ops, &ob);
    uint64_t end = clock_mono_ms() + 3000;
    while (redis_client_stats(cl)->connects_failed < 3 && clock_mono_ms() < end)
        ev_loop_run_once(loop, 5);
    assert_true(redis_client_stats(cl)->connects_failed >= 3);
    assert_int_equal(ob.ups + ob.downs, 0);
    redis_client_free(cl);
    ev_loop_free(loop);
}

/* ------------------------------------------------- envelope with an id */

static void test_redis_envelope_id_roundtrip(void **state)
{
    (void)state;
    static const struct msgid ids[] = {{1, 1}, {MSGID_EPOCH_MAX, INT64_MAX}, {42, 7}};
    static const struct {
        const char *p;
        size_t n;
        bool binary;
    } bodies[] = {{"", 0, false},
                  {"h\xc3\xa9llo", 6, false},
                  {"\xff"
                   "b\x00\x01",
                   4, true}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        for (size_t k = 0; k < sizeof bodies / sizeof bodies[0]; k++) {
            uint8_t buf[REDIS_ENV_ID_MAX + 16];
            size_t hl = redis_envelope_id_header(&ids[i], buf);
            assert_true(hl <= REDIS_ENV_ID_MAX);
            memcpy(buf + hl, bodies[k].p, bodies[k].n);
            size_t len = hl + bodies[k].n;
            const uint8_t *in = at_guard(buf, len);
            struct msgid id = {0, 0};
            bool bin;
            const uint8_t *d;
            size_t n;
            assert_int_equal(redis_envelope_decode_id(in, len, &id, &bin, &d, &n), 1);
            assert_true(id.epoch == ids[i].epoch && id.seq == ids[i].seq);
            assert_int_equal(bin, bodies[k].binary);
            size_t skip = bodies[k].binary ? REDIS_ENV_HEADER : 0;
            assert_int_equal(n, bodies[k].n - skip);
            assert_memory_equal(d, bodies[k].p + skip, n);
            /* every truncation inside the header is malformed, never read
             * past its end (the guard page) */
            for (size_t cut = 2; cut < hl; cut++)
                assert_int_equal(
                    redis_envelope_decode_id(at_guard(buf, cut), cut, &id, &bin, &d, &n),
                    WSP_EPROTO);
        }
    }
}

static void test_redis_envelope_id_absent_or_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *p;
        size_t n;
        int want;
    } cases[] = {
        {S("plain text"), 0}, /* an application's own PUBLISH */
        {S("\xff"
           "b\x01\x02"),
         0},            /* binary without an id */
        {S("\xff"), 0}, /* one byte: binary as is */
        {S(""), 0},
        {S("\xff"
           "i"),
         WSP_EPROTO}, /* no id at all */
        {S("\xff"
           "i1-1"),
         WSP_EPROTO}, /* no newline */
        {S("\xff"
           "i1-0\nx"),
         WSP_EPROTO}, /* seq 0 names no message */
        {S("\xff"
           "i0-1\nx"),
         WSP_EPROTO}, /* epoch 0 */
        {S("\xff"
           "i01-1\nx"),
         WSP_EPROTO}, /* leading zero */
        {S("\xff"
           "i1-1 \nx"),
         WSP_EPROTO}, /* junk before the newline */
        {S("\xff"
           "i-1\nx"),
         WSP_EPROTO},
        {S("\xff"
           "i9007199254740992-1\n"),
         WSP_EPROTO}, /* epoch >= 2^53 */
        {S("\xff"
           "i1-9223372036854775808\n"),
         WSP_EPROTO}, /* seq >= 2^63 */
        {S("\xff"
           "i1-99999999999999999999999999999999999999999\n"),
         WSP_EPROTO},
        {S("\xff"
           "i1-1\n"),
         1}, /* an empty text message */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct msgid id;
        bool bin;
        const uint8_t *d;
        size_t n;
        const uint8_t *in = at_guard(cases[i].p, cases[i].n);
        assert_int_equal(redis_envelope_decode_id(in, cases[i].n, &id, &bin, &d, &n),
                         cases[i].want);
        if (cases[i].want == 0) /* as the envelope without an id */
            assert_int_equal(n, cases[i].n - (cases[i].n >= 2 && cases[i].p[1] == 'b' ? 2 : 0));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_url_parse_good),
        cmocka_unit_test(test_redis_url_parse_bad),
        cmocka_unit_test(test_redis_url_format_hides_password),
        cmocka_unit_test(test_redis_envelope_roundtrip),
        cmocka_unit_test(test_redis_envelope_id_roundtrip),
        cmocka_unit_test(test_redis_envelope_id_absent_or_malformed),
        cmocka_unit_test(test_redis_reply_classify_any_split),
        cmocka_unit_test(test_redis_client_split_replies_and_reconnect),
        cmocka_unit_test(test_redis_client_error_reply_is_not_ready),
        cmocka_unit_test(test_redis_client_refused_retries),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
