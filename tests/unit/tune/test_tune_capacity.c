/* test_tune_capacity.c - the capacity model (tune_capacity.c): its table of
 * constants, CPU per delivery between and beyond the measured sizes, cores,
 * memory and fds for given N and R, and both renderers. The command-line
 * options are tested with the rest of `wspush tune` in test_tune.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tune/tune.h"

static double kv(const char *name)
{
    const struct tune_cap_const *c = tune_cap_const_find(name);
    assert_non_null(c);
    return c->value;
}

static struct tune_cap_in plain_in(uint64_t conns, uint64_t rate)
{
    struct tune_cap_in in = {0};
    in.conns = conns;
    in.rate = rate;
    return in;
}

static void test_tune_cap_constants_named_and_sourced(void **state)
{
    (void)state;
    size_t n = tune_cap_const_count();
    assert_true(n >= 10);
    size_t assumed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tune_cap_const *c = tune_cap_const_at(i);
        assert_non_null(c->name);
        assert_non_null(c->unit);
        /* an extra cost may be measured as none (deflate: no state per
         * connection); every other figure is positive */
        if (strstr(c->name, "_extra"))
            assert_true(c->value >= 0);
        else
            assert_true(c->value > 0);
        assert_ptr_equal(tune_cap_const_find(c->name), c);
        /* a measured figure names its BENCHMARKS.md section, an assumption
         * says it is one */
        if (c->measured)
            assert_non_null(strstr(c->source, "BENCHMARKS.md"));
        else
            assumed++;
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(tune_cap_const_at(j)->name, c->name);
    }
    assert_true(assumed >= 1);
    assert_null(tune_cap_const_find("no_such_constant"));
    /* the in-push budget is the one tune's tcp_mem row uses */
    assert_true(kv("kernel_push_bytes_per_conn") == TUNE_INFLIGHT_BYTES);
}

static void test_tune_cap_cpu_interpolates_measured_sizes(void **state)
{
    (void)state;
    bool ex = true;
    /* at the measured sizes: the measured figure, or a smaller size's if
     * that was higher (never decreasing) */
    double c10k = kv("cpu_s_per_m_10k"), c100k = kv("cpu_s_per_m_100k"), c1m = kv("cpu_s_per_m_1m");
    double env100k = fmax(c10k, c100k), env1m = fmax(env100k, c1m);
    assert_true(fabs(tune_cap_cpu_s_per_m(10000, &ex) - c10k) < 1e-9);
    assert_false(ex);
    assert_true(fabs(tune_cap_cpu_s_per_m(100000, &ex) - env100k) < 1e-9);
    assert_false(ex);
    assert_true(fabs(tune_cap_cpu_s_per_m(1000000, &ex) - env1m) < 1e-9);
    assert_false(ex);
    /* between: linear in log10(N) (the geometric middle is the mean), or
     * the envelope where that is higher */
    double mid = tune_cap_cpu_s_per_m(316228, &ex);
    assert_false(ex);
    assert_true(fabs(mid - fmax((c100k + c1m) / 2, env100k)) < 0.01);
    /* below the smallest: flat, flagged */
    assert_true(fabs(tune_cap_cpu_s_per_m(100, &ex) - c10k) < 1e-9);
    assert_true(ex);
    /* above the largest: a rising last slope continues, a falling one is
     * flat; flagged */
    double up = c1m > c100k ? c1m + (c1m - c100k) : c1m;
    assert_true(fabs(tune_cap_cpu_s_per_m(10000000, &ex) - fmax(up, env1m)) < 1e-9);
    assert_true(ex);
    /* never decreasing with N */
    double last = 0;
    for (uint64_t n = 1000; n <= 100000000; n = n * 3 / 2) {
        double v = tune_cap_cpu_s_per_m(n, NULL);
        assert_true(v >= last);
        last = v;
    }
}

static void test_tune_cap_cores(void **state)
{
    (void)state;
    struct tune_cap c;
    /* 100,000 connections, 100,000 deliveries/s, no pings, no churn:
     * the model's figure at 100,000 (7.75 CPU-s per 1M today) -> 0.775
     * cores busy, x 1.5 = 1.16 -> 2 cores */
    struct tune_cap_in in = plain_in(100000, 100000);
    tune_cap_compute(&in, &c);
    double want = 100000 * tune_cap_cpu_s_per_m(100000, NULL) / 1e6;
    assert_true(fabs(c.cores_deliveries - want) < 1e-9);
    assert_true(c.cores_pings == 0 && c.cores_handshakes == 0 && c.cores_restart == 0);
    assert_true(fabs(c.cores_busy - want) < 1e-9);
    assert_true(c.headroom == kv("headroom"));
    assert_int_equal(c.cores, (unsigned)ceil(want * kv("headroom")));
    assert_int_equal(c.workers, c.cores);

    /* cores grow linearly with R at a fixed N */
    struct tune_cap c2;
    in.rate = 1000000;
    tune_cap_compute(&in, &c2);
    assert_true(fabs(c2.cores_deliveries - 10 * c.cores_deliveries) < 1e-9);

    /* pings: N / interval, each one delivery */
    in = plain_in(1000000, 1000000);
    in.ping_interval_ms = 25000;
    tune_cap_compute(&in, &c);
    double per = tune_cap_cpu_s_per_m(1000000, NULL) / 1e6;
    assert_true(fabs(c.cores_pings - 1000000.0 / 25 * kv("ping_cost_deliveries") * per) < 1e-9);
    assert_true(c.pings_per_s == 40000 && c.ping_interval_s == 25);
    /* --ping-budget: at most budget x the cores the rest needs; the
     * interval stretches to N / that */
    in.ping_budget = 1000; /* 1M deliveries/s needs > 2 cores: below 40,000 */
    tune_cap_compute(&in, &c2);
    double rest = ceil(c2.cores_deliveries * c2.headroom);
    assert_true(rest >= 2 && 1000 * rest < 40000);
    assert_true(fabs(c2.pings_per_s - 1000 * rest) < 1e-9);
    assert_true(fabs(c2.ping_interval_s - 1000000.0 / (1000 * rest)) < 1e-9);
    assert_true(c2.ping_interval_s > 25);
    assert_true(fabs(c2.cores_pings - c2.pings_per_s * kv("ping_cost_deliveries") * per) < 1e-9);
    in.ping_budget = 1000000; /* far above: unchanged */
    tune_cap_compute(&in, &c2);
    assert_true(c2.pings_per_s == 40000 && c2.ping_interval_s == 25);
    in.ping_budget = 0;
    /* handshakes, steady and during a restart */
    in.handshake_rate = 1000;
    in.drain_ms = 30000;
    tune_cap_compute(&in, &c);
    assert_true(fabs(c.cores_handshakes - 1000 * kv("handshake_cpu_us") / 1e6) < 1e-9);
    assert_true(fabs(c.cores_restart - 1000000.0 / 30 * kv("handshake_cpu_us") / 1e6) < 1e-9);
    assert_true(fabs(c.cores_busy - (c.cores_deliveries + c.cores_pings + c.cores_handshakes)) <
                1e-9);
    assert_int_equal(c.cores, (unsigned)ceil(c.cores_busy * c.headroom));

    /* at least one core, even for almost nothing */
    in = plain_in(1, 1);
    tune_cap_compute(&in, &c);
    assert_int_equal(c.cores, 1);
}

static void test_tune_cap_transport_factors(void **state)
{
    (void)state;
    struct tune_cap plain, c;
    struct tune_cap_in in = plain_in(50000, 200000);
    tune_cap_compute(&in, &plain);
    assert_true(plain.cpu_factor == 1.0);

    static const struct {
        bool tls, deflate;
        const char *cpu, *mem;
    } cases[] = {{true, false, "cpu_factor_tls", "user_bytes_tls_extra"},
                 {false, true, "cpu_factor_deflate", "user_bytes_deflate_extra"},
                 {true, true, "cpu_factor_tls_deflate", "user_bytes_tls_deflate_extra"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        in.tls = cases[i].tls;
        in.deflate = cases[i].deflate;
        tune_cap_compute(&in, &c);
        assert_true(c.cpu_factor == kv(cases[i].cpu));
        assert_true(fabs(c.cores_deliveries - plain.cores_deliveries * kv(cases[i].cpu)) < 1e-9);
        assert_int_equal(c.user_per_conn, plain.user_per_conn + (uint64_t)kv(cases[i].mem));
        /* the kernel's share does not depend on the transport (no kTLS) */
        assert_int_equal(c.kernel_idle_bytes, plain.kernel_idle_bytes);
    }
}

static void test_tune_cap_memory_and_fds(void **state)
{
    (void)state;
    struct tune_cap a, b;
    struct tune_cap_in in = plain_in(100000, 100000);
    in.ring_bytes = 64u << 20;
    tune_cap_compute(&in, &a);
    uint64_t user = (uint64_t)kv("user_bytes_per_conn");
    uint64_t kernel = (uint64_t)kv("kernel_bytes_per_conn");
    uint64_t push = (uint64_t)kv("kernel_push_bytes_per_conn");
    uint64_t fixed = in.ring_bytes + (uint64_t)kv("proc_fixed_bytes") * (a.workers + 1);
    assert_int_equal(a.user_per_conn, user);
    assert_int_equal(a.user_fixed, fixed);
    assert_int_equal(a.user_bytes, 100000 * user + fixed);
    assert_int_equal(a.kernel_idle_bytes, 100000 * kernel);
    assert_int_equal(a.kernel_push_bytes, 100000 * push);
    assert_int_equal(a.mem_idle_bytes, a.user_bytes + a.kernel_idle_bytes);
    assert_int_equal(a.mem_push_bytes, a.mem_idle_bytes + a.kernel_push_bytes);
    assert_int_equal(a.mem_bytes, (uint64_t)ceil((double)a.mem_push_bytes * a.headroom));
    assert_int_equal(a.fds, 100000 + TUNE_FD_RESERVE * (a.workers + 1));

    /* ten times the connections at the same rate: the per-connection part
     * ten times, the fixed part the same (same worker count here) */
    in.conns = 1000000;
    tune_cap_compute(&in, &b);
    assert_int_equal(b.workers, a.workers);
    assert_int_equal(b.mem_push_bytes - b.user_fixed, 10 * (a.mem_push_bytes - a.user_fixed));
    /* memory does not depend on the rate */
    in.rate = 5000000;
    tune_cap_compute(&in, &a);
    assert_int_equal(a.kernel_push_bytes, b.kernel_push_bytes);
    assert_int_equal(a.user_bytes - a.user_fixed, b.user_bytes - b.user_fixed);
}

static void test_tune_cap_defaults_from_serve(void **state)
{
    (void)state;
    struct tune_cap_in in;
    memset(&in, 0xff, sizeof in);
    tune_cap_defaults(&in);
    /* wspush serve --help: --ping-interval 25s, --drain-timeout 30s,
     * --ring-size 64MiB today; whatever they become, they are set */
    assert_true(in.ping_interval_ms > 0 && in.ping_interval_ms < 3600000);
    assert_true(in.drain_ms > 0 && in.drain_ms < 3600000);
    assert_true(in.ping_budget > 0 && in.ping_budget < 1000000000);
    assert_true(in.ring_bytes >= 1u << 20);
}

static char *render(const struct tune_cap *c, bool json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(json ? tune_cap_render_json(c, f) : tune_cap_render_table(c, f), 0);
    fclose(f);
    return buf;
}

static void test_tune_cap_render(void **state)
{
    (void)state;
    struct tune_cap c;
    struct tune_cap_in in = plain_in(2000000, 1000000);
    tune_cap_defaults(&in);
    in.tls = true;
    tune_cap_compute(&in, &c);
    char *t = render(&c, false);
    assert_non_null(strstr(t, "capacity for 2000000 connections, 1000000 deliveries/s, wss://"));
    assert_non_null(strstr(t, "EXTRAPOLATED"));
    assert_non_null(strstr(t, "assumptions (not measured):"));
    /* every assumption is listed by name, no measured figure is */
    for (size_t i = 0; i < tune_cap_const_count(); i++) {
        const struct tune_cap_const *k = tune_cap_const_at(i);
        char key[64];
        snprintf(key, sizeof key, "- %s = ", k->name);
        assert_true((strstr(t, key) != NULL) == !k->measured);
    }
    char cores[64];
    snprintf(cores, sizeof cores, "= %u cores", c.cores);
    assert_non_null(strstr(t, cores));
    assert_non_null(strstr(t, "docs/capacity.md"));
    free(t);

    char *j = render(&c, true);
    assert_true(j[0] == '{' && j[strlen(j) - 1] == '}');
    char want[96];
    snprintf(want, sizeof want, "\"cores\":%u,", c.cores);
    assert_non_null(strstr(j, want));
    snprintf(want, sizeof want, "\"mem_bytes\":%llu,", (unsigned long long)c.mem_bytes);
    assert_non_null(strstr(j, want));
    assert_non_null(strstr(j, "\"tls\":true,\"deflate\":false,"));
    assert_non_null(strstr(j, "\"extrapolated\":true,"));
    snprintf(want, sizeof want, "{\"name\":\"cpu_s_per_m_1m\",\"value\":%.6g,",
             kv("cpu_s_per_m_1m"));
    assert_non_null(strstr(j, want));
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tune_cap_constants_named_and_sourced),
        cmocka_unit_test(test_tune_cap_cpu_interpolates_measured_sizes),
        cmocka_unit_test(test_tune_cap_cores),
        cmocka_unit_test(test_tune_cap_transport_factors),
        cmocka_unit_test(test_tune_cap_memory_and_fds),
        cmocka_unit_test(test_tune_cap_defaults_from_serve),
        cmocka_unit_test(test_tune_cap_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
