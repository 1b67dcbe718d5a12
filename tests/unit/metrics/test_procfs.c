/* test_procfs.c - the /proc reader, its field parser and the one definition
 * of bytes per connection (marginal RssAnon). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "metrics/procfs.h"
#include "metrics/sysstat.h"

static const char STATUS[] = "Name:\twspush\nVmPeak:\t  9000 kB\nVmRSS:\t    7376 kB\n"
                             "RssAnon:\t     600 kB\nRssFile:\t    2000 kB\n"
                             "RssShmem:\t    4776 kB\n";

static void test_procfs_field_u64_line_start_only(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(procfs_field_u64(STATUS, "RssAnon:", &v), 0);
    assert_int_equal(v, 600);
    assert_int_equal(procfs_field_u64("XRssAnon: 5\n", "RssAnon:", &v), WSP_EINVAL);
    assert_int_equal(procfs_field_u64("RssAnon: kB\n", "RssAnon:", &v), WSP_EINVAL);
    assert_int_equal(procfs_field_u64("RssAnon: 99999999999999999999999\n", "RssAnon:", &v),
                     WSP_EINVAL);
    assert_int_equal(procfs_field_u64("", "RssAnon:", &v), WSP_EINVAL);
    assert_string_equal(procfs_field("CapBnd:\t000001ffffffffff\n", "CapBnd:"),
                        "000001ffffffffff\n");
    assert_null(procfs_field("CapEff:\t0\n", "CapBnd:"));
}

static void test_procfs_mem_parse(void **state)
{
    (void)state;
    struct procfs_mem m;
    assert_int_equal(procfs_mem_parse(STATUS, &m), 0);
    assert_int_equal(m.rss_bytes, 7376 * 1024);
    assert_int_equal(m.anon_bytes, 600 * 1024);
    assert_int_equal(m.shmem_bytes, 4776 * 1024);
    /* older kernels: no RssAnon / RssShmem lines */
    assert_int_equal(procfs_mem_parse("VmRSS: 12 kB\n", &m), 0);
    assert_int_equal(m.anon_bytes, 0);
    assert_int_equal(m.shmem_bytes, 0);
    /* kernel threads have no VmRSS */
    assert_int_equal(procfs_mem_parse("Name: kthreadd\n", &m), WSP_EINVAL);
    assert_int_equal(procfs_mem_parse("", &m), WSP_EINVAL);
    /* a key must start its line */
    assert_int_equal(procfs_mem_parse("XVmRSS: 5 kB\n", &m), WSP_EINVAL);
}

static void test_procfs_read_self(void **state)
{
    (void)state;
    char buf[8192];
    assert_true(procfs_read("/proc/self/status", buf, sizeof buf) > 0);
    struct procfs_mem m;
    assert_int_equal(procfs_mem_read(getpid(), &m), 0);
    assert_true(m.rss_bytes > 0 && m.anon_bytes > 0 && m.anon_bytes <= m.rss_bytes);
    /* a short buffer is cut, NUL-terminated, never overrun */
    char small[8];
    assert_int_equal(procfs_read("/proc/self/status", small, sizeof small), 7);
    assert_int_equal(strlen(small), 7);
    assert_true(procfs_read("/proc/nonexistent-file", buf, sizeof buf) < 0);
}

static void test_procfs_bytes_per_conn_is_marginal_anon(void **state)
{
    (void)state;
    assert_true(isnan(procfs_bytes_per_conn(1000, 0, 0)));
    assert_true(procfs_bytes_per_conn(10000, 2000, 4) == 2000.0);
    assert_true(procfs_bytes_per_conn(1000, 2000, 4) == 0.0); /* returned memory */
}

static void test_sysstat_bytes_per_conn_uses_idle_baseline(void **state)
{
    (void)state;
    struct sysstat s;
    sysstat_init(&s);
    assert_true(isnan(sysstat_bytes_per_conn(&s, 5))); /* no sample yet */
    s.taken_ms = 1;
    s.anon_bytes = 8000;
    assert_true(sysstat_bytes_per_conn(&s, 4) == 2000.0); /* never idle: upper bound */
    assert_true(isnan(sysstat_bytes_per_conn(&s, 0)));    /* idle: the baseline */
    s.anon_bytes = 9000;
    assert_true(sysstat_bytes_per_conn(&s, 10) == 100.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_procfs_field_u64_line_start_only),
        cmocka_unit_test(test_procfs_mem_parse),
        cmocka_unit_test(test_procfs_read_self),
        cmocka_unit_test(test_procfs_bytes_per_conn_is_marginal_anon),
        cmocka_unit_test(test_sysstat_bytes_per_conn_uses_idle_baseline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
