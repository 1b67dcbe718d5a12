/* test_control.c - the control commands' wire forms (server/control.c):
 * round trips (commands and presence answers), every truncation refused,
 * hostile bytes from Redis refused,
 * and the last byte of each input against a guard page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "server/control.h"
#include "../guard_page.h"

static struct ctl_cmd sample(void)
{
    struct ctl_cmd c = {.op = CTL_OP_DISCONNECT,
                        .flags = CTL_F_RECONNECT,
                        .limit = 7,
                        .req_id = 0x01020304,
                        .subject_len = 5,
                        .reason_len = 3};
    memcpy(c.subject, "alice", 5);
    memcpy(c.reason, "bye", 3);
    return c;
}

/* p[0..n) copied so that its end touches a PROT_NONE page */
static void test_control_body_round_trip(void **state)
{
    (void)state;
    struct ctl_cmd c = sample(), d;
    uint8_t b[CTL_BODY_MAX];
    size_t n = ctl_body_encode(&c, b);
    assert_int_equal(ctl_decode(c.subject, c.subject_len, b, n, &d), 0);
    assert_int_equal(d.op, c.op);
    assert_int_equal(d.flags, c.flags);
    assert_int_equal(d.limit, 7);
    assert_int_equal(d.req_id, 0x01020304);
    assert_string_equal(d.subject, "alice");
    assert_string_equal(d.reason, "bye");
    /* every shorter or longer body is refused */
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(ctl_decode("a", 1, b, cut, &d), WSP_EPROTO);
    b[n] = 'x';
    assert_int_equal(ctl_decode("a", 1, b, n + 1, &d), WSP_EPROTO);
}

static void test_control_decode_refuses_bad_fields(void **state)
{
    (void)state;
    struct ctl_cmd c = sample(), d;
    uint8_t b[CTL_BODY_MAX];
    size_t n = ctl_body_encode(&c, b);
    assert_int_equal(ctl_decode("", 0, b, n, &d), WSP_EPROTO);     /* no subject */
    assert_int_equal(ctl_decode("a\0b", 3, b, n, &d), WSP_EPROTO); /* NUL in it */
    char big[CTL_SUBJECT_MAX + 1];
    memset(big, 'u', sizeof big);
    assert_int_equal(ctl_decode(big, sizeof big, b, n, &d), WSP_EPROTO);
    assert_int_equal(ctl_decode(big, CTL_SUBJECT_MAX, b, n, &d), 0);
    b[0] = 9; /* unknown op */
    assert_int_equal(ctl_decode("a", 1, b, n, &d), WSP_EPROTO);
    b[0] = CTL_OP_DISCONNECT;
    b[9] = 0xff; /* reason not UTF-8 */
    assert_int_equal(ctl_decode("a", 1, b, n, &d), WSP_EPROTO);
    b[9] = 0; /* reason with a NUL */
    assert_int_equal(ctl_decode("a", 1, b, n, &d), WSP_EPROTO);
    /* a limit over the maximum is clamped, not trusted */
    c.op = CTL_OP_PRESENCE;
    c.limit = 60000;
    n = ctl_body_encode(&c, b);
    assert_int_equal(ctl_decode("a", 1, b, n, &d), 0);
    assert_int_equal(d.limit, CTL_USERS_MAX);
}

static void test_control_redis_round_trip_any_cut(void **state)
{
    (void)state;
    struct ctl_cmd c = sample(), d;
    uint8_t nonce[CTL_NONCE_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8}, got[CTL_NONCE_BYTES];
    uint8_t buf[CTL_REDIS_MAX];
    size_t n = ctl_redis_encode(&c, nonce, buf);
    for (size_t cut = 0; cut <= n; cut++) {
        const uint8_t *p = at_guard(buf, cut);
        int rc = ctl_redis_decode(p, cut, got, &d);
        assert_int_equal(rc, cut == n ? 0 : WSP_EPROTO);
    }
    assert_int_equal(ctl_redis_decode(buf, n, got, &d), 0);
    assert_memory_equal(got, nonce, sizeof nonce);
    assert_string_equal(d.subject, "alice");
    assert_int_equal(d.req_id, c.req_id);
    /* a subject length past the end */
    buf[CTL_NONCE_BYTES] = 200;
    assert_int_equal(ctl_redis_decode(buf, n, got, &d), WSP_EPROTO);
}

static void test_control_answer_round_trip_any_cut(void **state)
{
    (void)state;
    static const char users[] = "ann\0ben\0";
    struct ctl_answer a = {.node = {9, 8, 7, 6, 5, 4, 3, 2},
                           .req_id = 0xa1b2c3d4,
                           .subscribers = 0x0102030405060708ull,
                           .flags = CTL_ANS_PRESENCE_ON | CTL_ANS_TRUNCATED,
                           .nusers = 2,
                           .users = users},
                      d;
    static uint8_t buf[CTL_ANS_MAX];
    size_t n = ctl_answer_encode(&a, buf);
    assert_int_equal(n, CTL_ANS_HEAD + sizeof users - 1);
    for (size_t cut = 0; cut <= n; cut++) {
        const uint8_t *p = at_guard(buf, cut);
        assert_int_equal(ctl_answer_decode(p, cut, &d), cut == n ? 0 : WSP_EPROTO);
    }
    assert_int_equal(ctl_answer_decode(buf, n, &d), 0);
    assert_memory_equal(d.node, a.node, CTL_NONCE_BYTES);
    assert_int_equal(d.req_id, a.req_id);
    assert_true(d.subscribers == a.subscribers);
    assert_int_equal(d.flags, a.flags);
    assert_int_equal(d.nusers, 2);
    assert_string_equal(d.users, "ann");
    assert_string_equal(d.users + 4, "ben");
    /* trailing bytes, an empty id, too many users: refused */
    buf[n] = 'x';
    assert_int_equal(ctl_answer_decode(buf, n + 1, &d), WSP_EPROTO);
    buf[CTL_ANS_HEAD] = 0;
    assert_int_equal(ctl_answer_decode(buf, n, &d), WSP_EPROTO);
    buf[CTL_ANS_HEAD] = 'a';
    buf[CTL_ANS_HEAD - 2] = (uint8_t)((CTL_USERS_MAX + 1) & 0xff);
    buf[CTL_ANS_HEAD - 1] = (uint8_t)((CTL_USERS_MAX + 1) >> 8);
    assert_int_equal(ctl_answer_decode(buf, n, &d), WSP_EPROTO);
    /* an id of 128 bytes: one over */
    a.nusers = 1;
    char big[CTL_SUBJECT_MAX + 1];
    memset(big, 'u', CTL_SUBJECT_MAX);
    big[CTL_SUBJECT_MAX] = 0;
    a.users = big;
    n = ctl_answer_encode(&a, buf);
    assert_int_equal(ctl_answer_decode(buf, n, &d), WSP_EPROTO);
    big[CTL_SUBJECT_MAX - 1] = 0;
    n = ctl_answer_encode(&a, buf);
    assert_int_equal(ctl_answer_decode(buf, n, &d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_body_round_trip),
        cmocka_unit_test(test_control_decode_refuses_bad_fields),
        cmocka_unit_test(test_control_redis_round_trip_any_cut),
        cmocka_unit_test(test_control_answer_round_trip_any_cut),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
