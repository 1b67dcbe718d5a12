/* test_msgid.c - message ids: format, parse, since values, counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "pubsub/msgid.h"

static void test_msgid_parse_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        uint64_t epoch, seq;
    } cases[] = {
        {"1-0", 0, 1, 0},
        {"42-7", 0, 42, 7},
        {"9007199254740991-9223372036854775807", 0, MSGID_EPOCH_MAX, INT64_MAX},
        {"9007199254740992-1", WSP_EPROTO, 0, 0},    /* epoch past 2^53 - 1 */
        {"1-9223372036854775808", WSP_EPROTO, 0, 0}, /* seq past 2^63 - 1 */
        {"0-1", WSP_EPROTO, 0, 0},                   /* epoch 0 is never issued */
        {"01-1", WSP_EPROTO, 0, 0},
        {"1-01", WSP_EPROTO, 0, 0},
        {"1-", WSP_EPROTO, 0, 0},
        {"-1", WSP_EPROTO, 0, 0},
        {"1", WSP_EPROTO, 0, 0},
        {"", WSP_EPROTO, 0, 0},
        {"1-2-3", WSP_EPROTO, 0, 0},
        {"1--2", WSP_EPROTO, 0, 0},
        {"+1-2", WSP_EPROTO, 0, 0},
        {"1-2 ", WSP_EPROTO, 0, 0},
        {"99999999999999999999999-1", WSP_EPROTO, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct msgid id = {0, 0};
        int rc = msgid_parse(cases[i].in, strlen(cases[i].in), &id);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            assert_int_equal(id.epoch, cases[i].epoch);
            assert_int_equal(id.seq, cases[i].seq);
        }
    }
}

static void test_msgid_format_roundtrip(void **state)
{
    (void)state;
    static const uint64_t vals[][2] = {
        {1, 0}, {1, 1}, {123456789, 42}, {MSGID_EPOCH_MAX, INT64_MAX}};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char buf[MSGID_MAX_LEN];
        size_t n = msgid_format(buf, sizeof buf, vals[i][0], vals[i][1]);
        assert_int_equal(n, strlen(buf));
        struct msgid id;
        assert_int_equal(msgid_parse(buf, n, &id), 0);
        assert_int_equal(id.epoch, vals[i][0]);
        assert_int_equal(id.seq, vals[i][1]);
    }
    char small[4];
    assert_int_equal(msgid_format(small, sizeof small, 12345, 6), 7);
    assert_string_equal(small, "123");
}

static void test_msgid_since_parse(void **state)
{
    (void)state;
    const char *t;
    size_t tl;
    struct msgid id;
    assert_int_equal(msgid_since_parse("5-9", 3, &t, &tl, &id), 0);
    assert_null(t);
    assert_int_equal(id.seq, 9);
    const char *s = "news:5-9";
    assert_int_equal(msgid_since_parse(s, strlen(s), &t, &tl, &id), 0);
    assert_int_equal(tl, 4);
    assert_memory_equal(t, "news", 4);
    s = "a:b:5-10"; /* a topic may hold ':'; the id is after the last one */
    assert_int_equal(msgid_since_parse(s, strlen(s), &t, &tl, &id), 0);
    assert_int_equal(tl, 3);
    assert_int_equal(id.epoch, 5);
    assert_int_equal(id.seq, 10);
    assert_int_equal(msgid_since_parse(":5-9", 4, &t, &tl, &id), WSP_EPROTO);
    assert_int_equal(msgid_since_parse("news:", 5, &t, &tl, &id), WSP_EPROTO);
    assert_int_equal(msgid_since_parse("news:5-9:", 9, &t, &tl, &id), WSP_EPROTO);
    assert_int_equal(msgid_since_parse("", 0, &t, &tl, &id), WSP_EPROTO);
}

static void test_msgid_counters_ordering(void **state)
{
    (void)state;
    struct msgid_counters *c = msgid_counters_new();
    assert_non_null(c);
    /* each topic counts on its own, strictly increasing from 1, across
     * table growth */
    for (uint64_t round = 1; round <= 50; round++)
        for (uint64_t k = 2; k < 1002; k++)
            assert_int_equal(msgid_counters_next(c, k * 0x9e3779b97f4a7c15ull), round);
    assert_int_equal(msgid_counters_count(c), 1000);
    assert_int_equal(msgid_counters_last(c, 2 * 0x9e3779b97f4a7c15ull), 50);
    assert_int_equal(msgid_counters_last(c, 12345), 0);
    assert_int_equal(msgid_counters_next(c, 0), 0); /* no key: no id */
    msgid_counters_free(c);
    msgid_counters_free(NULL);
}

static void test_msgid_epoch_rules(void **state)
{
    (void)state;
    /* never 0, always within what a JavaScript number holds exactly, and
     * two starts differ (random) */
    uint64_t a = msgid_epoch_new(), b = msgid_epoch_new();
    assert_true(a >= 1 && a <= MSGID_EPOCH_MAX);
    assert_true(b >= 1 && b <= MSGID_EPOCH_MAX);
    assert_true(a != b);
    msgid_epoch_set(a);
    assert_int_equal(msgid_epoch(), a);
}

/* Once shared, an epoch the master sets later (a new one from Redis) is
 * what a process forked before reads. */
static void test_msgid_epoch_shared_after_fork(void **state)
{
    (void)state;
    msgid_epoch_set(7);
    assert_int_equal(msgid_epoch_share(), 0);
    assert_int_equal(msgid_epoch(), 7);       /* kept across the move */
    assert_int_equal(msgid_epoch_share(), 0); /* once is enough */
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char b;
        _exit(read(go[0], &b, 1) == 1 && msgid_epoch() == 12345 ? 0 : 1);
    }
    msgid_epoch_set(12345);
    assert_int_equal(write(go[1], "x", 1), 1);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(go[0]);
    close(go[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msgid_parse_table),
        cmocka_unit_test(test_msgid_format_roundtrip),
        cmocka_unit_test(test_msgid_since_parse),
        cmocka_unit_test(test_msgid_counters_ordering),
        cmocka_unit_test(test_msgid_epoch_rules),
        cmocka_unit_test(test_msgid_epoch_shared_after_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
