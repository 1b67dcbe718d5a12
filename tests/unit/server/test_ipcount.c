/* test_ipcount.c - the per-address connection table (--max-conns-per-ip).
 *
 * Issue 11 item 7: after a collision, a slot whose count had fallen to 0 was
 * reused before the address's own entry further along the probe chain was
 * found, so the address started again from 0 and passed its limit. These
 * tests use tiny tables so that collisions are certain, whatever the hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "server/ipcount.h"

static struct sockaddr_storage v4(uint32_t host_order)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)(1000 + host_order % 50000)); /* ports never matter */
    a->sin_addr.s_addr = htonl(host_order);
    return ss;
}

static struct sockaddr_storage v6(uint32_t low)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr.s6_addr[0] = 0x20;
    a->sin6_addr.s6_addr[1] = 0x01;
    memcpy(&a->sin6_addr.s6_addr[12], &low, 4);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* v4(x) as a pointer, for one-off use in a call */
static const struct sockaddr *p4(uint32_t host_order)
{
    static struct sockaddr_storage ring[4];
    static unsigned next;
    struct sockaddr_storage *s = &ring[next++ % 4];
    *s = v4(host_order);
    return (const struct sockaddr *)s;
}

static void test_ipcount_limit_respected(void **state)
{
    (void)state;
    struct ipcount *t = ipcount_new(3, 0);
    assert_non_null(t);
    struct sockaddr_storage a = v4(0x0a000001);
    uint32_t id[4];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ipcount_acquire(t, SA(a), &id[i]), 0);
        assert_int_not_equal(id[i], 0);
    }
    assert_int_equal(ipcount_acquire(t, SA(a), &id[3]), WSP_ETOOBIG);
    assert_int_equal(ipcount_get(t, SA(a)), 3);
    /* another port of the same address is the same address */
    struct sockaddr_storage b = a;
    ((struct sockaddr_in *)&b)->sin_port = htons(9);
    assert_int_equal(ipcount_acquire(t, SA(b), &id[3]), WSP_ETOOBIG);
    ipcount_release(t, id[0]);
    assert_int_equal(ipcount_get(t, SA(a)), 2);
    assert_int_equal(ipcount_acquire(t, SA(a), &id[0]), 0);
    assert_int_equal(ipcount_acquire(t, SA(a), &id[3]), WSP_ETOOBIG);
    ipcount_release(t, 0); /* no-op */
    ipcount_free(t);
    ipcount_free(NULL);
}

/* issue 11 item 7 */
/* issue 17: SIGHUP changes the limit; what is counted stays counted */
static void test_ipcount_set_limit(void **state)
{
    (void)state;
    struct ipcount *t = ipcount_new(3, 0);
    assert_non_null(t);
    struct sockaddr_storage a = v4(0x0a000002);
    uint32_t id[4];
    for (int i = 0; i < 3; i++)
        assert_int_equal(ipcount_acquire(t, SA(a), &id[i]), 0);
    ipcount_set_limit(t, 1); /* lowered under what a holds: nobody is dropped */
    assert_int_equal(ipcount_get(t, SA(a)), 3);
    assert_int_equal(ipcount_acquire(t, SA(a), &id[3]), WSP_ETOOBIG);
    ipcount_release(t, id[0]);
    ipcount_release(t, id[1]);
    assert_int_equal(ipcount_acquire(t, SA(a), &id[3]), WSP_ETOOBIG); /* still 1 held */
    ipcount_release(t, id[2]);
    assert_int_equal(ipcount_acquire(t, SA(a), &id[0]), 0);
    ipcount_set_limit(t, UINT32_MAX); /* "no limit" keeps counting */
    for (int i = 1; i < 4; i++)
        assert_int_equal(ipcount_acquire(t, SA(a), &id[i]), 0);
    assert_int_equal(ipcount_get(t, SA(a)), 4);
    ipcount_set_limit(t, 0); /* as ipcount_new: at least 1 */
    assert_int_equal(ipcount_acquire(t, SA(a), &id[0]), WSP_ETOOBIG);
    ipcount_free(t);
}

static void test_ipcount_collision_keeps_the_limit(void **state)
{
    (void)state;
    enum { N = 40, LIMIT = 3 };
    struct ipcount *t = ipcount_new(LIMIT, 64);
    assert_non_null(t);
    uint32_t ids[N][LIMIT];
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(ipcount_acquire(t, p4(0x0a000000 + i * 7919), &ids[i][0]), 0);
    /* the first half leave: their counts fall to 0 */
    for (uint32_t i = 0; i < N / 2; i++)
        ipcount_release(t, ids[i][0]);
    for (uint32_t i = N / 2; i < N; i++) {
        struct sockaddr_storage a = v4(0x0a000000 + i * 7919);
        for (int k = 1; k < LIMIT; k++)
            assert_int_equal(ipcount_acquire(t, SA(a), &ids[i][k]), 0);
        uint32_t extra;
        if (ipcount_acquire(t, SA(a), &extra) != WSP_ETOOBIG)
            fail_msg("address %u passed its limit of %d", i, LIMIT);
        assert_int_equal(ipcount_get(t, SA(a)), LIMIT);
    }
    for (uint32_t i = 0; i < N / 2; i++)
        assert_int_equal(ipcount_get(t, p4(0x0a000000 + i * 7919)), 0);
    assert_int_equal(ipcount_addresses(t), N / 2);
    ipcount_free(t);
}

static void test_ipcount_remove_then_insert(void **state)
{
    (void)state;
    struct ipcount *t = ipcount_new(2, 4);
    assert_non_null(t);
    for (int round = 0; round < 50; round++) {
        uint32_t ids[16][2];
        for (uint32_t i = 0; i < 16; i++) {
            struct sockaddr_storage a = v6(i * 31 + (uint32_t)round);
            assert_int_equal(ipcount_acquire(t, SA(a), &ids[i][0]), 0);
            assert_int_equal(ipcount_acquire(t, SA(a), &ids[i][1]), 0);
            uint32_t x;
            assert_int_equal(ipcount_acquire(t, SA(a), &x), WSP_ETOOBIG);
        }
        assert_int_equal(ipcount_addresses(t), 16);
        for (uint32_t i = 0; i < 16; i++) { /* leave in an interleaved order */
            uint32_t k = (i * 5) % 16;
            ipcount_release(t, ids[k][0]);
            ipcount_release(t, ids[k][1]);
        }
        assert_int_equal(ipcount_addresses(t), 0);
    }
    ipcount_free(t);
}

static void test_ipcount_grows_past_its_hint(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct ipcount *t = ipcount_new(1, 4);
    assert_non_null(t);
    uint32_t *ids = calloc(N, sizeof *ids);
    assert_non_null(ids);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(ipcount_acquire(t, p4(0xc0000000 + i), &ids[i]), 0);
    assert_int_equal(ipcount_addresses(t), N);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t x;
        assert_int_equal(ipcount_acquire(t, p4(0xc0000000 + i), &x), WSP_ETOOBIG);
        assert_int_equal(ipcount_get(t, p4(0xc0000000 + i)), 1);
    }
    for (uint32_t i = 0; i < N; i++)
        ipcount_release(t, ids[i]);
    assert_int_equal(ipcount_addresses(t), 0);
    free(ids);
    ipcount_free(t);
}

/* Random acquires and releases over a few addresses against a model. */
static void test_ipcount_random_against_model(void **state)
{
    (void)state;
    enum { ADDRS = 24, LIMIT = 4, STEPS = 200000 };
    struct ipcount *t = ipcount_new(LIMIT, 8);
    assert_non_null(t);
    uint32_t held[ADDRS][LIMIT];
    uint32_t n[ADDRS] = {0};
    uint32_t seed = 12345;
    for (int s = 0; s < STEPS; s++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t i = (seed >> 8) % ADDRS;
        struct sockaddr_storage a = (i & 1) ? v6(i * 2654435761u) : v4(0x0a0a0000 + i * 977);
        if ((seed >> 20) & 1) {
            uint32_t id;
            int rc = ipcount_acquire(t, SA(a), &id);
            if (n[i] < LIMIT) {
                if (rc != 0)
                    fail_msg("step %d: address %u refused at %u", s, i, n[i]);
                held[i][n[i]++] = id;
            } else if (rc != WSP_ETOOBIG) {
                fail_msg("step %d: address %u admitted past its limit", s, i);
            }
        } else if (n[i]) {
            ipcount_release(t, held[i][--n[i]]);
        }
        if (ipcount_get(t, SA(a)) != n[i])
            fail_msg("step %d: address %u counted %u, model %u", s, i, ipcount_get(t, SA(a)), n[i]);
    }
    uint32_t live = 0;
    for (uint32_t i = 0; i < ADDRS; i++)
        live += n[i] != 0;
    assert_int_equal(ipcount_addresses(t), live);
    ipcount_free(t);
}

static void test_ipcount_families(void **state)
{
    (void)state;
    struct ipcount *t = ipcount_new(1, 0);
    assert_non_null(t);
    struct sockaddr_storage a = v4(0x01020304);
    struct sockaddr_storage m;
    memset(&m, 0, sizeof m);
    struct sockaddr_in6 *m6 = (struct sockaddr_in6 *)&m;
    m6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:1.2.3.4", &m6->sin6_addr);
    uint32_t id, x;
    assert_int_equal(ipcount_acquire(t, SA(a), &id), 0);
    /* a v4-mapped peer (dual-stack listener) is the same address */
    assert_int_equal(ipcount_acquire(t, SA(m), &x), WSP_ETOOBIG);
    struct sockaddr_storage u;
    memset(&u, 0, sizeof u);
    u.ss_family = AF_UNIX;
    assert_int_equal(ipcount_acquire(t, SA(u), &x), WSP_EINVAL);
    ipcount_release(t, id);
    assert_int_equal(ipcount_acquire(t, SA(m), &id), 0);
    ipcount_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipcount_limit_respected),
        cmocka_unit_test(test_ipcount_set_limit),
        cmocka_unit_test(test_ipcount_collision_keeps_the_limit),
        cmocka_unit_test(test_ipcount_remove_then_insert),
        cmocka_unit_test(test_ipcount_grows_past_its_hint),
        cmocka_unit_test(test_ipcount_random_against_model),
        cmocka_unit_test(test_ipcount_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
