/* tune_capacity.c - capacity planning: the cores, memory and file
 * descriptors a machine needs for N connections and R deliveries per second
 * (`wspush tune --conns N --rate R`), from the costs measured on the
 * development machine.
 *
 * Pure arithmetic over one table of constants (below). It does not read the
 * system (tune_sys.c does), decide the sysctls (tune_size.c) nor print
 * (tune_render.c); the command prints both. docs/capacity.md explains
 * the model and checks it against the runs in BENCHMARKS.md.
 *
 * Invariant: every number the model uses is in `consts`, named, with its
 * source; one that was not measured has measured = false, and the output
 * lists it as an assumption. */
#include "tune/tune.h"

#include <math.h>
#include <string.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/wsp_assert.h"

/* ---- the constants: the only place the model's figures live ---- */

enum {
    K_CPU_10K, /* plain WebSocket CPU-s per 1M deliveries, by size */
    K_CPU_100K,
    K_CPU_1M,
    K_CPU_TLS, /* multipliers on CPU per delivery */
    K_CPU_DEFLATE,
    K_CPU_TLS_DEFLATE,
    K_PING_COST,    /* a ping, in deliveries */
    K_HANDSHAKE_US, /* CPU per handshake */
    K_USER,         /* user memory per connection */
    K_USER_TLS,     /* extra user memory per connection */
    K_USER_DEFLATE,
    K_USER_TLS_DEFLATE,
    K_PROC_FIXED,  /* user memory per process, no connections */
    K_KERNEL_IDLE, /* kernel memory per idle socket */
    K_KERNEL_PUSH, /* kernel socket buffer per connection in a push */
    K_HEADROOM,
    K_COUNT
};

#define C1K "BENCHMARKS.md, C10K and C100K at 1 Hz: bench/c1m.sh -n 10000,100000 --measure 20"
#define C1M                                                                                        \
    "BENCHMARKS.md, C1M, attempt 3: bench/c1m_hold.sh -n 1000000 --tick 10 --measure 60 "          \
    "(bench/c1m_after_ramp.sh)"
#define TLSD                                                                                       \
    "BENCHMARKS.md, wss:// and permessage-deflate side by side (2026-12-06 rerun): "               \
    "bench/tls_deflate.py"

#define TLS100K                                                                                    \
    "BENCHMARKS.md, C100K over TLS at 1 Hz (eighth stop): bench/c1m.sh -n 100000 --servers "       \
    "wspush-tls and --servers wspush, the same build and sitting"

#define CPU3                                                                                       \
    "BENCHMARKS.md, the three sizes in one sitting (issue 16, sixth stop): "                       \
    "bench/c1m_after_ramp.sh -n N --rate 5000 --ping-interval default --netns, server CPU per "    \
    "publish interval, median of 2"

static const struct tune_cap_const consts[K_COUNT] = {
    [K_CPU_10K] = {"cpu_s_per_m_10k", 7.75, "CPU-s per 1M deliveries", true,
                   CPU3 " (10,000 connections)"},
    [K_CPU_100K] = {"cpu_s_per_m_100k", 7.20, "CPU-s per 1M deliveries", true,
                    CPU3 " (100,000 connections)"},
    [K_CPU_1M] = {"cpu_s_per_m_1m", 6.83, "CPU-s per 1M deliveries", true,
                  CPU3 " (1,000,000 connections)"},
    [K_CPU_TLS] = {"cpu_factor_tls", 1.66, "x plain", true,
                   TLS100K " (TLS 1.3 median 8.73 vs plain 5.25 CPU-s per 1M deliveries, "
                           "100,000 connections, ticks; bench/tls_deflate.py's 1,024-byte "
                           "messages gave 1.00x the same evening: the larger is kept)"},
    [K_CPU_DEFLATE] = {"cpu_factor_deflate", 1.16, "x plain", true,
                       TLSD " (deflate vs plain, same run)"},
    [K_CPU_TLS_DEFLATE] = {"cpu_factor_tls_deflate", 1.79, "x plain", true,
                           "cpu_factor_tls x 1.08, TLS + deflate vs TLS in " TLSD
                           " (2026-12-06 22:00 rerun, medians 7.28 vs 6.75)"},
    [K_PING_COST] = {"ping_cost_deliveries", 1.0, "deliveries per ping", false,
                     "assumption: a ping (and reading its pong) costs about one delivery "
                     "(issue 16's estimate; not measured)"},
    [K_HANDSHAKE_US] = {"handshake_cpu_us", 120.5, "CPU-us per handshake", false,
                        "upper bound: 2 CPU-s / 16,597 handshakes/s, BENCHMARKS.md, Subscriber "
                        "tokens (bench/auth_handshake.sh 10000 3, no token, median; server and "
                        "clients shared the 2 cores); a TLS handshake is not measured"},
    [K_USER] = {"user_bytes_per_conn", 175, "B per connection", true,
                C1K " (whole-server anon RSS per connection, the largest of the sizes: 10,000)"},
    [K_USER_TLS] = {"user_bytes_tls_extra", 525, "B per connection", true,
                    TLSD " (worker user bytes per connection, TLS 1.3 609 - plain 84; TLS "
                         "1.2 keeps OpenSSL's ~14 KB)"},
    [K_USER_DEFLATE] = {"user_bytes_deflate_extra", 0, "B per connection", true,
                        TLSD " (deflate 82 - plain 84: none)"},
    [K_USER_TLS_DEFLATE] = {"user_bytes_tls_deflate_extra", 544, "B per connection", true,
                            TLSD " (TLS + deflate 628 - plain 84)"},
    [K_PROC_FIXED] = {"proc_fixed_bytes", 765276, "B per process", true,
                      C1M " (41.6 MiB anon RSS of master + 56 workers before the ramp, / 57)"},
    [K_KERNEL_IDLE] = {"kernel_bytes_per_conn", 5150, "B per connection", true,
                       C1M " (kernel socket slab ~10.3 KB per loopback connection pair; half "
                           "per end, assuming both ends alike)"},
    [K_KERNEL_PUSH] = {"kernel_push_bytes_per_conn", TUNE_INFLIGHT_BYTES, "B per connection", false,
                       "assumption: one page of socket buffer queued per connection while a "
                       "push to everyone is in flight (docs/tuning.md, net.ipv4.tcp_mem); not "
                       "measured"},
    [K_HEADROOM] = {"headroom", 1.5, "x", false,
                    "a choice, not a measurement: cores and memory busy at most 2/3, so a "
                    "fan-out ends well inside its interval and bursts (reconnects) fit"},
};

size_t tune_cap_const_count(void)
{
    return K_COUNT;
}

const struct tune_cap_const *tune_cap_const_at(size_t i)
{
    WSP_ASSERT(i < K_COUNT);
    return &consts[i];
}

const struct tune_cap_const *tune_cap_const_find(const char *name)
{
    for (size_t i = 0; i < K_COUNT; i++)
        if (strcmp(consts[i].name, name) == 0)
            return &consts[i];
    return NULL;
}

static double k(int i)
{
    return consts[i].value;
}

uint64_t tune_cap_kernel_bytes_per_conn(void)
{
    return (uint64_t)k(K_KERNEL_IDLE);
}

/* ---- the model ---- */

/* The sizes the CPU figures were measured at, smallest first. */
static const struct {
    double conns;
    int k;
} cpu_points[] = {{1e4, K_CPU_10K}, {1e5, K_CPU_100K}, {1e6, K_CPU_1M}};
#define N_POINTS (sizeof cpu_points / sizeof cpu_points[0])

double tune_cap_cpu_s_per_m(uint64_t conns, bool *extrapolated)
{
    double n = (double)conns;
    bool outside = n < cpu_points[0].conns || n > cpu_points[N_POINTS - 1].conns;
    if (extrapolated)
        *extrapolated = outside;
    /* Below the smallest size: its figure (fewer connections have not been
     * measured to cost less per delivery, and 4,000 cost about the same). */
    if (n <= cpu_points[0].conns)
        return k(cpu_points[0].k);
    size_t i = 1;
    while (i < N_POINTS - 1 && n > cpu_points[i].conns)
        i++;
    /* Segment [i-1, i]; above the largest size the last one continues if
     * it rises (a falling one is not extrapolated: flat). */
    double x0 = log10(cpu_points[i - 1].conns), x1 = log10(cpu_points[i].conns);
    double y0 = k(cpu_points[i - 1].k), y1 = k(cpu_points[i].k);
    double v = y0 + (y1 - y0) * (log10(n) - x0) / (x1 - x0);
    if (outside && y1 < y0)
        v = y1;
    /* Never below a smaller size's figure: the same-sitting runs cost a
     * little less per delivery at larger N (fan-outs batch better), which
     * is not a promise to plan with; the model stays non-decreasing. */
    for (size_t j = 0; j < N_POINTS && cpu_points[j].conns <= n; j++)
        if (k(cpu_points[j].k) > v)
            v = k(cpu_points[j].k);
    return v;
}

static uint64_t ceil_u64(double v)
{
    double c = ceil(v - 1e-9); /* 10.0000000001 from rounding is 10 */
    return c < 1 ? 1 : (uint64_t)c;
}

void tune_cap_compute(const struct tune_cap_in *in, struct tune_cap *c)
{
    memset(c, 0, sizeof *c);
    c->in = *in;
    double n = (double)in->conns;

    c->cpu_s_per_m_plain = tune_cap_cpu_s_per_m(in->conns, &c->extrapolated);
    c->cpu_factor = in->tls && in->deflate ? k(K_CPU_TLS_DEFLATE)
                    : in->tls              ? k(K_CPU_TLS)
                    : in->deflate          ? k(K_CPU_DEFLATE)
                                           : 1.0;
    c->cpu_s_per_m = c->cpu_s_per_m_plain * c->cpu_factor;
    double s_per_delivery = c->cpu_s_per_m / 1e6;
    c->cores_deliveries = (double)in->rate * s_per_delivery;
    double hs_s = k(K_HANDSHAKE_US) / 1e6;
    c->cores_handshakes = (double)in->handshake_rate * hs_s;
    if (in->ping_interval_ms) {
        c->ping_interval_s = (double)in->ping_interval_ms / 1000.0;
        c->pings_per_s = n / c->ping_interval_s;
        /* the server's budget is per core: counted on the cores the rest
         * needs (pings add to them, so this errs towards fewer pings) */
        double rest = ceil((c->cores_deliveries + c->cores_handshakes) * k(K_HEADROOM));
        double cap = (double)in->ping_budget * (rest < 1 ? 1 : rest);
        if (in->ping_budget && c->pings_per_s > cap) {
            c->pings_per_s = cap;
            c->ping_interval_s = n / cap;
        }
        c->cores_pings = c->pings_per_s * k(K_PING_COST) * s_per_delivery;
    }
    c->cores_busy = c->cores_deliveries + c->cores_pings + c->cores_handshakes;
    if (in->drain_ms)
        c->cores_restart = n / ((double)in->drain_ms / 1000.0) * hs_s;
    c->headroom = k(K_HEADROOM);
    uint64_t cores = ceil_u64(c->cores_busy * c->headroom);
    c->cores = cores > UINT32_MAX ? UINT32_MAX : (unsigned)cores;
    /* One worker per core: with LimitNOFILE at the need (--emit systemd)
     * one process could hold every connection, so fds do not add workers. */
    c->workers = c->cores;
    c->fds = in->conns + (uint64_t)TUNE_FD_RESERVE * (c->workers + 1);

    double extra = in->tls && in->deflate ? k(K_USER_TLS_DEFLATE)
                   : in->tls              ? k(K_USER_TLS)
                   : in->deflate          ? k(K_USER_DEFLATE)
                                          : 0;
    c->user_per_conn = (uint64_t)(k(K_USER) + extra);
    c->user_fixed = in->ring_bytes + (uint64_t)k(K_PROC_FIXED) * (c->workers + 1);
    c->user_bytes = in->conns * c->user_per_conn + c->user_fixed;
    c->kernel_idle_bytes = in->conns * (uint64_t)k(K_KERNEL_IDLE);
    c->kernel_push_bytes = in->conns * (uint64_t)k(K_KERNEL_PUSH);
    c->mem_idle_bytes = c->user_bytes + c->kernel_idle_bytes;
    c->mem_push_bytes = c->mem_idle_bytes + c->kernel_push_bytes;
    c->mem_bytes = (uint64_t)ceil((double)c->mem_push_bytes * c->headroom);
}

/* Default of server option `flag` as text; NULL if there is no such option. */
static const char *serve_default(const char *flag)
{
    for (size_t i = 0; i < config_opt_count(); i++)
        if (strcmp(config_opt_name(i), flag) == 0)
            return config_opt_default(i);
    return NULL;
}

void tune_cap_defaults(struct tune_cap_in *in)
{
    const char *v;
    uint64_t u;
    in->ping_interval_ms = 0;
    in->ping_budget = 0;
    in->drain_ms = 0;
    in->ring_bytes = 0;
    if ((v = serve_default("ping-interval")) && clock_parse_duration_ms(v, &u) == 0)
        in->ping_interval_ms = u;
    if ((v = serve_default("ping-budget")))
        in->ping_budget = strtoull(v, NULL, 10);
    if ((v = serve_default("drain-timeout")) && clock_parse_duration_ms(v, &u) == 0)
        in->drain_ms = u;
    if ((v = serve_default("ring-size")) && config_parse_size(v, &u) == 0)
        in->ring_bytes = u;
}
