/* test_sysstat.c - the /proc parsers behind the dashboard's memory and
 * socket figures, and one live sample of this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "metrics/sysstat.h"

static void test_sysstat_parse_sockstat_fields(void **state)
{
    (void)state;
    struct sysstat s;
    sysstat_init(&s);
    const char *t = "sockets: used 1234\nTCP: inuse 1000 orphan 3 tw 42 alloc 1010 mem 777\n"
                    "UDP: inuse 2 mem 1\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";
    assert_int_equal(sysstat_parse_sockstat(t, &s), 0);
    assert_true(s.tcp_inuse == 1000 && s.tcp_orphan == 3 && s.tcp_tw == 42);
    assert_true(s.tcp_alloc == 1010 && s.tcp_mem_pages == 777);
    const char *t6 = "TCP6: inuse 17\nUDP6: inuse 1\n";
    assert_int_equal(sysstat_parse_sockstat6(t6, &s), 0);
    assert_true(s.tcp6_inuse == 17);
    assert_int_equal(sysstat_parse_sockstat("UDP: inuse 2\n", &s), WSP_EINVAL);
    assert_int_equal(sysstat_parse_sockstat6("", &s), WSP_EINVAL);
}

static void test_sysstat_parse_proc_tcp_counts_states(void **state)
{
    (void)state;
    uint64_t st[SYSSTAT_TCP_STATES] = {0};
    const char *t =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 "
        "       0 1 1 ffff 100 0 0 10 0\n"
        "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0 "
        "       0 2 1 ffff 20 4 30 10 -1\n"
        "   2: 0100007F:1F90 0100007F:C351 01 00000000:00000000 00:00000000 00000000     0\n"
        "   3: 0100007F:1F90 0100007F:C352 06 00000000:00000000 03:00000F9F 00000000     0\n"
        "   4: 0100007F:1F90 0100007F:C353 0C 00000000:00000000 00:00000000 00000000     0\n";
    assert_int_equal(sysstat_parse_proc_tcp(t, st), 5);
    assert_true(st[1] == 2);  /* ESTABLISHED */
    assert_true(st[10] == 1); /* LISTEN */
    assert_true(st[6] == 1);  /* TIME_WAIT */
    assert_true(st[3] == 1);  /* NEW_SYN_RECV counts as SYN_RECV */
    assert_int_equal(sysstat_parse_proc_tcp("header only\n", st), 0);
    assert_int_equal(sysstat_parse_proc_tcp("no newline", st), WSP_EINVAL);
    assert_int_equal(sysstat_parse_proc_tcp("h\n   0: 0100007F:1F90\n", st), WSP_EINVAL);
}

static void test_sysstat_state_names(void **state)
{
    (void)state;
    assert_null(sysstat_tcp_state_name(0));
    assert_string_equal(sysstat_tcp_state_name(1), "ESTABLISHED");
    assert_string_equal(sysstat_tcp_state_name(6), "TIME_WAIT");
    assert_string_equal(sysstat_tcp_state_name(10), "LISTEN");
    assert_string_equal(sysstat_tcp_state_name(11), "CLOSING");
    assert_null(sysstat_tcp_state_name(SYSSTAT_TCP_STATES));
}

static void test_sysstat_sample_is_rate_limited(void **state)
{
    (void)state;
    struct sysstat s;
    sysstat_init(&s);
    pid_t pids[] = {getpid(), 0};
    assert_true(sysstat_maybe_sample(&s, pids, 2, 10000));
    assert_true(s.rss_bytes > 0);
    assert_int_equal(s.nprocs, 1);
    assert_true(s.states_src != NULL);
    assert_false(sysstat_maybe_sample(&s, pids, 2, 10100));
    assert_true(sysstat_maybe_sample(&s, pids, 2, 10000 + 60000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sysstat_parse_sockstat_fields),
        cmocka_unit_test(test_sysstat_parse_proc_tcp_counts_states),
        cmocka_unit_test(test_sysstat_state_names),
        cmocka_unit_test(test_sysstat_sample_is_rate_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
