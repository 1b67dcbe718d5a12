/* test_srcaddr.c - source address sets: CIDR, lists, iteration, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "srcaddr.h"
#include "core/err.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

static void test_srcaddr_parse_ip(void **state)
{
    (void)state;
    uint32_t ip;
    assert_int_equal(srcaddr_parse_ip("127.0.0.1", 9, &ip), 0);
    assert_true(ip == IP(127, 0, 0, 1));
    assert_int_equal(srcaddr_parse_ip("255.255.255.255", 15, &ip), 0);
    assert_true(ip == 0xffffffffu);
    static const char *const bad[] = {"",          "1",          "1.2.3",    "1.2.3.4.5",
                                      "256.0.0.1", "1..2.3",     "1.2.3.4 ", " 1.2.3.4",
                                      "a.b.c.d",   "1.2.3.0004", "-1.2.3.4", "1.2.3.4/8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (srcaddr_parse_ip(bad[i], strlen(bad[i]), &ip) != WSP_EINVAL)
            fail_msg("accepted bad address '%s'", bad[i]);
}

static void test_srcaddr_cidr_20(void **state)
{
    (void)state;
    struct srcaddr_set s;
    assert_int_equal(srcaddr_parse_cidr("127.0.1.0/20", &s), 0);
    /* aligned down to 127.0.0.0/20, whose first address 127.0.0.0 is skipped */
    assert_int_equal(s.count, 4095);
    assert_true(srcaddr_at(&s, 0) == IP(127, 0, 0, 1));
    assert_true(srcaddr_at(&s, 4094) == IP(127, 0, 15, 255));
    assert_true(srcaddr_at(&s, 4095) == IP(127, 0, 0, 1)); /* wraps */
    assert_int_equal(srcaddr_parse_cidr("127.0.16.0/20", &s), 0);
    assert_int_equal(s.count, 4096);
    assert_true(srcaddr_at(&s, 0) == IP(127, 0, 16, 0));
    assert_true(srcaddr_at(&s, 4095) == IP(127, 0, 31, 255));
    assert_true(srcaddr_at(&s, 4096 + 7) == IP(127, 0, 16, 7));
}

static void test_srcaddr_cidr_32_and_8(void **state)
{
    (void)state;
    struct srcaddr_set s;
    assert_int_equal(srcaddr_parse_cidr("127.0.0.5/32", &s), 0);
    assert_int_equal(s.count, 1);
    assert_true(srcaddr_at(&s, 0) == IP(127, 0, 0, 5));
    assert_true(srcaddr_at(&s, 12345) == IP(127, 0, 0, 5));
    assert_int_equal(srcaddr_parse_cidr("127.0.0.9", &s), 0); /* no prefix: one address */
    assert_int_equal(s.count, 1);
    assert_int_equal(srcaddr_parse_cidr("127.1.2.3/8", &s), 0);
    assert_int_equal(s.count, (1u << 24) - 1);
    assert_true(srcaddr_at(&s, 0) == IP(127, 0, 0, 1));
    static const char *const bad[] = {
        "127.0.0.0/32", "127.0.0.0", "127.0.0.1/33", "127.0.0.1/7", "127.0.0.1/",
        "127.0.0.1/2x", "/20",       "0.0.0.0/8",    "127.0.0/20",  "127.0.0.1/020x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (srcaddr_parse_cidr(bad[i], &s) != WSP_EINVAL)
            fail_msg("accepted bad CIDR '%s'", bad[i]);
}

static void test_srcaddr_list(void **state)
{
    (void)state;
    struct srcaddr_set s;
    assert_int_equal(srcaddr_parse_list("127.0.0.2,127.0.0.3,10.0.0.1", &s), 0);
    assert_int_equal(s.count, 3);
    assert_true(srcaddr_at(&s, 0) == IP(127, 0, 0, 2));
    assert_true(srcaddr_at(&s, 2) == IP(10, 0, 0, 1));
    assert_true(srcaddr_at(&s, 4) == IP(127, 0, 0, 3));
    assert_int_equal(srcaddr_parse_list("127.0.0.7", &s), 0);
    assert_int_equal(s.count, 1);
    static const char *const bad[] = {
        "",          ",",       "127.0.0.1,",  ",127.0.0.1",  "127.0.0.1,,127.0.0.2",
        "127.0.0.0", "0.0.0.0", "127.0.0.1,x", "127.0.0.1/24"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (srcaddr_parse_list(bad[i], &s) != WSP_EINVAL)
            fail_msg("accepted bad list '%s'", bad[i]);
    char big[SRCADDR_MAX_LIST * 16 + 32] = "";
    for (int i = 0; i <= SRCADDR_MAX_LIST; i++)
        strcat(big, i ? ",127.0.0.1" : "127.0.0.1");
    assert_int_equal(srcaddr_parse_list(big, &s), WSP_ETOOBIG);
}

/* Processes together visit every address of the set, evenly. */
static void test_srcaddr_iter_partition(void **state)
{
    (void)state;
    struct srcaddr_set s;
    assert_int_equal(srcaddr_parse_cidr("127.0.16.0/28", &s), 0); /* 16 addresses */
    for (uint32_t nproc = 1; nproc <= 7; nproc++) {
        unsigned seen[16] = {0};
        for (uint32_t p = 0; p < nproc; p++) {
            struct srcaddr_iter it;
            srcaddr_iter_init(&it, &s, p, nproc);
            for (int k = 0; k < 32; k++) {
                uint32_t ip = srcaddr_iter_next(&it);
                assert_true(ip >= IP(127, 0, 16, 0) && ip <= IP(127, 0, 16, 15));
                seen[ip & 15]++;
            }
        }
        for (int i = 0; i < 16; i++)
            if (seen[i] == 0)
                fail_msg("nproc %u: address %d never used", nproc, i);
    }
    /* one process: plain round robin with wrap */
    struct srcaddr_iter it;
    srcaddr_iter_init(&it, &s, 0, 1);
    for (int k = 0; k < 40; k++)
        assert_true(srcaddr_iter_next(&it) == IP(127, 0, 16, k % 16));
    /* more processes than addresses: each still gets a valid address */
    assert_int_equal(srcaddr_parse_list("127.0.0.2,127.0.0.3", &s), 0);
    srcaddr_iter_init(&it, &s, 5, 9);
    assert_true(srcaddr_iter_next(&it) == IP(127, 0, 0, 3));
    char out[16];
    assert_string_equal(srcaddr_format(IP(127, 0, 15, 255), out), "127.0.15.255");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srcaddr_parse_ip),       cmocka_unit_test(test_srcaddr_cidr_20),
        cmocka_unit_test(test_srcaddr_cidr_32_and_8),  cmocka_unit_test(test_srcaddr_list),
        cmocka_unit_test(test_srcaddr_iter_partition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
