/* test_tune.c - `wspush tune`: needs arithmetic, /proc parsing against a fake
 * tree, report rows, --apply on a fake tree, emitted files, the command line,
 * and the real system's values against the real /proc/sys files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "tune/tune.h"

/* ---- helpers ---- */

static void write_file(const char *root, const char *rel, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
}

static void read_file(const char *root, const char *rel, char *buf, size_t cap)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *root)
{
    assert_int_equal(nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* A fake /proc of a stock machine: 16 GiB, default sysctls, no conntrack. */
static void fake_tree(char *root, size_t cap)
{
    snprintf(root, cap, "/tmp/wsp-tune-XXXXXX");
    assert_non_null(mkdtemp(root));
    write_file(root, "sys/fs/nr_open", "1048576\n");
    write_file(root, "sys/fs/file-max", "9223372036854775807\n");
    write_file(root, "sys/net/core/somaxconn", "128\n");
    write_file(root, "sys/net/ipv4/tcp_max_syn_backlog", "512\n");
    write_file(root, "sys/net/ipv4/ip_local_port_range", "32768\t60999\n");
    write_file(root, "sys/net/ipv4/tcp_mem", "190000\t250000\t380000\n");
    write_file(root, "meminfo",
               "MemTotal:       16384000 kB\n"
               "MemFree:         1000000 kB\n"
               "MemAvailable:   12000000 kB\n"
               "Buffers:          100000 kB\n");
    write_file(root, "self/status",
               "Name:\ttest\nCapEff:\t0000000000000000\nCapBnd:\t000001fffeffffff\n");
}

static struct tune_sys sys_for(const char *root)
{
    struct tune_sys s;
    assert_int_equal(tune_sys_read(&s, root), 0);
    s.nofile_soft = s.nofile_hard = 20000; /* independent of the test runner */
    return s;
}

/* Output of fn into a malloc'd string. */
static char *capture(const struct tune_report *r, int kind)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    int rc = kind == 0   ? tune_render_table(r, f)
             : kind == 1 ? tune_render_json(r, f)
                         : tune_emit(r, (enum tune_emit)kind - 1, f);
    assert_int_equal(rc, 0);
    fclose(f);
    return buf;
}

/* ---- arithmetic ---- */

static void test_tune_needs_several_n(void **state)
{
    (void)state;
    struct tune_needs nd;

    tune_needs_compute(1000000, false, &nd);
    assert_true(nd.nofile == 1048576); /* 2^20 >= 1000000 + 64 */
    assert_true(nd.nr_open == 1048576);
    assert_true(nd.file_max == 1100000); /* + 10% */
    assert_true(nd.somaxconn == 4096 && nd.syn_backlog == 4096);
    assert_true(nd.conntrack == 2000000);
    assert_true(nd.tcp_mem_bytes == 4096000000ull);
    /* the capacity model's need in a push (no headroom): the same figure
     * `wspush tune --rate` starts from */
    struct tune_cap_in in = {0};
    tune_cap_defaults(&in);
    in.conns = 1000000;
    struct tune_cap cap;
    tune_cap_compute(&in, &cap);
    assert_true(nd.mem_bytes == cap.mem_push_bytes);
    assert_true(nd.mem_bytes > 1000000ull * (tune_cap_kernel_bytes_per_conn() + 4096));
    assert_true(nd.port_lo == 0 && nd.port_hi == 0);

    tune_needs_compute(10000, false, &nd);
    assert_true(nd.nofile == 16384);
    assert_true(nd.file_max == 10000 + 65536); /* headroom floor */
    assert_true(nd.conntrack == 20000);

    tune_needs_compute(1048576, false, &nd); /* + reserve spills to 2^21 */
    assert_true(nd.nofile == 2097152);

    tune_needs_compute(10000000, true, &nd);
    assert_true(nd.file_max == 11000000);
    assert_true(nd.somaxconn == 0 && nd.syn_backlog == 0);
    assert_true(nd.port_lo == 1024 && nd.port_hi == 65535);
    assert_true(nd.mem_bytes == 10000000ull * (tune_cap_kernel_bytes_per_conn() + 512 + 4096));

    tune_needs_compute(1, false, &nd);
    assert_true(nd.nofile == 128);
}

static void test_tune_procs_and_workers(void **state)
{
    (void)state;
    assert_true(tune_fds_usable(20000) == 19936);
    assert_true(tune_fds_usable(64) == 0);
    assert_true(tune_fds_usable(TUNE_NONE) == 0);
    /* This machine: 20000 per process -> 51 processes for 1M (50 is short). */
    assert_int_equal(tune_procs_needed(1000000, 20000), 51);
    assert_int_equal(tune_procs_needed(1000000, 1048576), 1);
    assert_int_equal(tune_procs_needed(19936, 20000), 1);
    assert_int_equal(tune_procs_needed(19937, 20000), 2);
    assert_int_equal(tune_procs_needed(10, 64), 0);
    assert_int_equal(tune_workers_auto(1000, 20000, 8), 8);
    assert_int_equal(tune_workers_auto(1000000, 20000, 2), 51);
    assert_int_equal(tune_workers_auto(1000000, 20000, 0), 51);
    assert_int_equal(tune_workers_auto(1, 1048576, 0), 1);
    assert_int_equal(tune_workers_auto(1, 10, 4), 0);
}

static void test_tune_ports_and_src_addrs(void **state)
{
    (void)state;
    assert_true(tune_ports_per_addr(1024, 65535) == 30000);  /* connect() slowdown cap */
    assert_true(tune_ports_per_addr(32768, 60999) == 28232); /* Linux default range */
    assert_true(tune_ports_per_addr(40000, 40000) == 1);
    assert_true(tune_ports_per_addr(60999, 32768) == 0);
    assert_true(tune_ports_per_addr(TUNE_NONE, TUNE_NONE) == 0);
    assert_int_equal(tune_src_addrs(1000000, 1024, 65535), 34); /* ~N / 30000 */
    assert_int_equal(tune_src_addrs(1000000, 32768, 60999), 36);
    assert_int_equal(tune_src_addrs(30000, 1024, 65535), 1);
    assert_int_equal(tune_src_addrs(30001, 1024, 65535), 2);
    assert_int_equal(tune_src_addrs(5, 1024, 65535), 1);
    assert_int_equal(tune_src_addrs(1000, 2, 1), 0);
}

/* ---- /proc parsing ---- */

static void test_tune_proc_parse_fake_tree(void **state)
{
    (void)state;
    char root[64];
    fake_tree(root, sizeof root);
    uint64_t v[3] = {0};

    assert_int_equal(tune_proc_read_u64s(root, "sys/net/ipv4/tcp_mem", v, 3), 3);
    assert_true(v[0] == 190000 && v[1] == 250000 && v[2] == 380000);
    assert_int_equal(tune_proc_read_u64s(root, "sys/net/ipv4/tcp_mem", v, 1), 1);
    assert_int_equal(tune_proc_read_u64s(root, "sys/fs/file-max", v, 1), 1);
    assert_true(v[0] == 9223372036854775807ull);
    assert_int_equal(tune_proc_read_u64s(root, "sys/nope", v, 1), -ENOENT);

    static const char *const bad[] = {"",
                                      "\n",
                                      "abc\n",
                                      "12x\n",
                                      "-1\n",
                                      "1.5\n",
                                      "99999999999999999999999\n",
                                      "18446744073709551615\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(root, "sys/bad", bad[i]);
        assert_int_equal(tune_proc_read_u64s(root, "sys/bad", v, 3), WSP_EINVAL);
    }
    write_file(root, "sys/ok", "  7 \t 8\n");
    assert_int_equal(tune_proc_read_u64s(root, "sys/ok", v, 3), 2);
    assert_true(v[0] == 7 && v[1] == 8);

    uint64_t kib = 0;
    assert_int_equal(tune_meminfo_kib(root, "MemAvailable", &kib), 0);
    assert_true(kib == 12000000);
    assert_int_equal(tune_meminfo_kib(root, "MemTotal", &kib), 0);
    assert_true(kib == 16384000);
    assert_int_equal(tune_meminfo_kib(root, "Mem", &kib), WSP_EINVAL);
    assert_int_equal(tune_meminfo_kib(root, "SwapTotal", &kib), WSP_EINVAL);

    struct tune_sys s;
    assert_int_equal(tune_sys_read(&s, root), 0);
    assert_true(s.nr_open == 1048576);
    assert_true(s.file_max == 9223372036854775807ull);
    assert_true(s.somaxconn == 128 && s.syn_backlog == 512);
    assert_true(s.port_lo == 32768 && s.port_hi == 60999);
    assert_true(s.tcp_mem[0] == 190000 && s.tcp_mem[2] == 380000);
    assert_true(s.conntrack_max == TUNE_NONE); /* not loaded */
    assert_true(s.mem_total_kib == 16384000 && s.mem_avail_kib == 12000000);
    assert_int_equal(s.cap_sys_resource, 0); /* bit 24 clear in CapBnd */

    write_file(root, "sys/net/netfilter/nf_conntrack_max", "262144\n");
    write_file(root, "self/status", "CapBnd:\t000001ffffffffff\n");
    char path[128];
    snprintf(path, sizeof path, "%s/meminfo", root);
    assert_int_equal(remove(path), 0);
    assert_int_equal(tune_sys_read(&s, root), 0);
    assert_true(s.conntrack_max == 262144);
    assert_int_equal(s.cap_sys_resource, 1);
    assert_true(s.mem_avail_kib == TUNE_NONE && s.mem_total_kib == TUNE_NONE);
    rm_tree(root);
}

/* ---- report ---- */

static void test_tune_report_rows_server(void **state)
{
    (void)state;
    char root[64];
    fake_tree(root, sizeof root);
    struct tune_sys s = sys_for(root);
    struct tune_opts o = {.conns = 1000000};
    struct tune_report *r = malloc(sizeof *r);
    assert_non_null(r);
    tune_report_build(r, &s, &o);

    assert_int_equal(r->procs_needed, 51);
    assert_int_equal(r->workers, 51);
    const struct tune_row *w = tune_report_row(r, "RLIMIT_NOFILE (hard)");
    assert_non_null(w);
    assert_int_equal(w->status, TUNE_WORKERS);
    assert_non_null(strstr(w->fix, "51 processes"));
    assert_non_null(strstr(w->fix, "CAP_SYS_RESOURCE"));
    w = tune_report_row(r, "net.core.somaxconn");
    assert_int_equal(w->status, TUNE_LOW);
    assert_string_equal(w->current, "128");
    assert_string_equal(w->value, "4096");
    assert_string_equal(w->fix, "sysctl -w net.core.somaxconn=4096");
    w = tune_report_row(r, "fs.file-max");
    assert_int_equal(w->status, TUNE_OK);
    assert_string_equal(w->value, "9223372036854775807"); /* never lowered */
    assert_int_equal(tune_report_row(r, "net.ipv4.ip_local_port_range")->status, TUNE_INFO);
    assert_null(tune_report_row(r, "net.ipv4.ip_local_port_range")->sysctl);
    w = tune_report_row(r, "net.ipv4.tcp_mem");
    assert_int_equal(w->status, TUNE_LOW);
    assert_string_equal(w->value, "190000 1000000 1500000");
    assert_int_equal(tune_report_row(r, "net.netfilter.nf_conntrack_max")->status, TUNE_INFO);
    assert_int_equal(tune_report_row(r, "memory (MemAvailable)")->status, TUNE_OK);
    assert_int_equal(tune_report_row(r, "worker processes")->status, TUNE_OK);
    assert_null(tune_report_row(r, "source addresses"));
    assert_int_equal(tune_report_low(r), 3); /* somaxconn, syn_backlog, tcp_mem */
    for (size_t i = 0; i < r->n; i++)
        assert_true(strlen(r->rows[i].why) > 20 && !strchr(r->rows[i].why, '\n'));

    /* Fixed --workers below the need, and memory short for 10M. */
    o.workers = 50;
    tune_report_build(r, &s, &o);
    assert_int_equal(tune_report_row(r, "worker processes")->status, TUNE_LOW);
    o.workers = 0;
    o.conns = 10000000;
    tune_report_build(r, &s, &o);
    assert_int_equal(tune_report_row(r, "memory (MemAvailable)")->status, TUNE_LOW);
    assert_int_equal(tune_report_row(r, "fs.nr_open")->status, TUNE_LOW);

    char *table = capture(r, 0);
    assert_non_null(strstr(table, "SETTING"));
    assert_non_null(strstr(table, "why: "));
    assert_non_null(strstr(table, "LOW"));
    free(table);
    free(r);
    rm_tree(root);
}

static void test_tune_report_rows_client(void **state)
{
    (void)state;
    char root[64];
    fake_tree(root, sizeof root);
    write_file(root, "sys/net/netfilter/nf_conntrack_max", "262144\n");
    struct tune_sys s = sys_for(root);
    struct tune_opts o = {.conns = 1000000, .client = true};
    struct tune_report *r = malloc(sizeof *r);
    assert_non_null(r);
    tune_report_build(r, &s, &o);

    assert_int_equal(r->src_addrs, 36); /* 28232 ports per address today */
    const struct tune_row *w = tune_report_row(r, "net.ipv4.ip_local_port_range");
    assert_int_equal(w->status, TUNE_LOW);
    assert_string_equal(w->needed, "1024 65535");
    assert_string_equal(w->value, "1024 65535");
    assert_non_null(tune_report_row(r, "source addresses"));
    assert_null(tune_report_row(r, "net.core.somaxconn"));
    w = tune_report_row(r, "net.netfilter.nf_conntrack_max");
    assert_int_equal(w->status, TUNE_LOW);
    assert_true(w->caps);
    assert_string_equal(w->value, "2000000");

    char *json = capture(r, 1);
    assert_non_null(strstr(json, "\"conns\":1000000,\"side\":\"client\""));
    assert_non_null(strstr(json, "\"src_addrs\":36"));
    assert_non_null(strstr(json, "\"net.ipv4.ip_local_port_range\":[32768,60999]"));
    assert_non_null(strstr(json, "\"net.netfilter.nf_conntrack_max\":262144"));
    int depth = 0;
    for (const char *p = json; *p; p++)
        depth += (*p == '{' || *p == '[') - (*p == '}' || *p == ']');
    assert_int_equal(depth, 0);
    free(json);
    free(r);
    rm_tree(root);
}

/* The established hash: sized at boot, or per network namespace. */
static void test_tune_report_ehash(void **state)
{
    (void)state;
    char root[64];
    fake_tree(root, sizeof root);
    struct tune_opts o = {.conns = 1000000};
    struct tune_report *r = malloc(sizeof *r);
    assert_non_null(r);

    /* before Linux 6.1 there is no such file: unknown, not low */
    struct tune_sys s = sys_for(root);
    tune_report_build(r, &s, &o);
    const struct tune_row *w = tune_report_row(r, "net.ipv4.tcp_ehash_entries");
    assert_non_null(w);
    assert_int_equal(w->status, TUNE_UNKNOWN);
    assert_int_equal(r->needs.ehash, 1048576);

    /* this machine's default (one bucket per 128 KiB of RAM): low for 1M,
     * and nothing --apply could write */
    write_file(root, "sys/net/ipv4/tcp_ehash_entries", "262144\n");
    s = sys_for(root);
    tune_report_build(r, &s, &o);
    w = tune_report_row(r, "net.ipv4.tcp_ehash_entries");
    assert_int_equal(w->status, TUNE_LOW);
    assert_false(w->caps);
    assert_null(w->sysctl);
    assert_string_equal(w->current, "262144");
    assert_string_equal(w->needed, ">= 1048576");
    assert_non_null(strstr(w->fix, "thash_entries=1048576"));
    assert_non_null(strstr(w->fix, "net.ipv4.tcp_child_ehash_entries=1048576"));
    assert_int_equal(tune_report_low(r), 4); /* somaxconn, syn_backlog, tcp_mem, ehash */

    /* a namespace sharing the host's table says so */
    write_file(root, "sys/net/ipv4/tcp_ehash_entries", "-262144\n");
    s = sys_for(root);
    tune_report_build(r, &s, &o);
    assert_string_equal(tune_report_row(r, "net.ipv4.tcp_ehash_entries")->current,
                        "262144 (host's)");

    /* a namespace with its own table of 4M buckets, and fewer connections */
    write_file(root, "sys/net/ipv4/tcp_ehash_entries", "4194304\n");
    s = sys_for(root);
    tune_report_build(r, &s, &o);
    assert_int_equal(tune_report_row(r, "net.ipv4.tcp_ehash_entries")->status, TUNE_OK);
    o.conns = 200000;
    write_file(root, "sys/net/ipv4/tcp_ehash_entries", "262144\n");
    s = sys_for(root);
    tune_report_build(r, &s, &o);
    assert_int_equal(tune_report_row(r, "net.ipv4.tcp_ehash_entries")->status, TUNE_OK);

    /* garbage is unknown */
    write_file(root, "sys/net/ipv4/tcp_ehash_entries", "lots\n");
    s = sys_for(root);
    assert_int_equal(s.ehash, TUNE_NONE);
    free(r);
    rm_tree(root);
}

static void test_tune_apply_fake_tree(void **state)
{
    (void)state;
    char root[64];
    fake_tree(root, sizeof root);
    write_file(root, "sys/net/netfilter/nf_conntrack_max", "4000000\n");
    struct tune_sys s = sys_for(root);
    struct tune_opts o = {.conns = 1000000, .client = true};
    struct tune_report *r = malloc(sizeof *r);
    assert_non_null(r);
    tune_report_build(r, &s, &o);

    char *log = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&log, &len);
    assert_non_null(f);
    assert_int_equal(tune_apply(r, root, f), 0);
    fclose(f);
    assert_non_null(strstr(log, "set: net.ipv4.ip_local_port_range = 1024 65535"));
    assert_non_null(strstr(log, "set: net.ipv4.tcp_mem = 190000 1000000 1500000"));
    /* The hard fd limit cannot be applied: says so, with the process count. */
    assert_non_null(strstr(log, "not changed: RLIMIT_NOFILE (hard)"));
    assert_non_null(strstr(log, "= 51 load generator processes"));
    free(log);

    char buf[128];
    read_file(root, "sys/net/ipv4/ip_local_port_range", buf, sizeof buf);
    assert_string_equal(buf, "1024 65535\n");
    read_file(root, "sys/net/netfilter/nf_conntrack_max", buf, sizeof buf);
    assert_string_equal(buf, "4000000\n"); /* already above: untouched */
    read_file(root, "sys/net/core/somaxconn", buf, sizeof buf);
    assert_string_equal(buf, "128\n"); /* a server need: not for --client */

    s = sys_for(root);
    tune_report_build(r, &s, &o);
    assert_int_equal(tune_report_low(r), 0);

    /* A read-only file is reported, not fatal. */
    o.client = false;
    tune_report_build(r, &s, &o);
    char path[128];
    snprintf(path, sizeof path, "%s/sys/net/core/somaxconn", root);
    assert_int_equal(chmod(path, 0444), 0);
    f = open_memstream(&log, &len);
    int left = tune_apply(r, root, f);
    fclose(f);
    if (geteuid() != 0) { /* root writes through 0444 */
        assert_int_equal(left, 1);
        assert_non_null(strstr(log, "not changed: net.core.somaxconn"));
    }
    assert_non_null(strstr(log, "set: net.ipv4.tcp_max_syn_backlog = 4096 (was 512)"));
    free(log);
    free(r);
    rm_tree(root);
}

/* ---- emitted files ---- */

static void test_tune_emit_formats(void **state)
{
    (void)state;
    char root[64];
    fake_tree(root, sizeof root);
    struct tune_sys s = sys_for(root);
    struct tune_opts o = {.conns = 1000000};
    struct tune_report *r = malloc(sizeof *r);
    assert_non_null(r);
    tune_report_build(r, &s, &o);

    char *t = capture(r, 1 + TUNE_EMIT_SYSCTL);
    assert_non_null(strstr(t, "\nnet.core.somaxconn = 4096\n"));
    assert_non_null(strstr(t, "\nnet.ipv4.tcp_max_syn_backlog = 4096\n"));
    assert_non_null(strstr(t, "\nfs.nr_open = 1048576\n"));
    assert_non_null(strstr(t, "\nfs.file-max = 9223372036854775807\n"));
    assert_non_null(strstr(t, "\nnet.ipv4.tcp_mem = 190000 1000000 1500000\n"));
    assert_non_null(strstr(t, "\n-net.netfilter.nf_conntrack_max = 2000000\n"));
    assert_null(strstr(t, "ip_local_port_range =")); /* server side */
    for (char *line = t; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        assert_true(*line == '#' || *line == '\n' || *line == '-' || strstr(line, " = "));
    free(t);

    t = capture(r, 1 + TUNE_EMIT_LIMITS);
    assert_non_null(strstr(t, "*     soft  nofile  1048576\n"));
    assert_non_null(strstr(t, "*     hard  nofile  1048576\n"));
    assert_non_null(strstr(t, "root  hard  nofile  1048576\n"));
    free(t);

    t = capture(r, 1 + TUNE_EMIT_SYSTEMD);
    assert_non_null(strstr(t, "\n[Unit]\n"));
    assert_non_null(strstr(t, "\n[Service]\n"));
    assert_non_null(strstr(t, "\n[Install]\nWantedBy=multi-user.target\n"));
    assert_non_null(strstr(t, "\nLimitNOFILE=1048576\n"));
    assert_non_null(strstr(t, "\nRestart=on-failure\n"));
    assert_non_null(
        strstr(t, "\nExecStart=/usr/local/bin/wspush serve --config /etc/wspush/wspush.yaml "
                  "--max-conns 1000000 --workers auto\n"));
    assert_null(strstr(t, "20000")); /* nothing from this host */

    /* deploy/wspush.service is this output, byte for byte. */
    char unit_path[512];
    const char *src = __FILE__;
    const char *tail = strstr(src, "tests/unit/tune/test_tune.c");
    assert_non_null(tail);
    snprintf(unit_path, sizeof unit_path, "%.*sdeploy/wspush.service", (int)(tail - src), src);
    FILE *f = fopen(unit_path, "r");
    if (f) {
        char committed[4096];
        size_t n = fread(committed, 1, sizeof committed - 1, f);
        committed[n] = '\0';
        fclose(f);
        assert_string_equal(committed, t);
    } else {
        print_message("note: %s not found, comparison skipped\n", unit_path);
    }
    free(t);

    o.bin = "/opt/wspush/bin/wspush";
    o.config = "/opt/wspush/etc/wspush/wspush.yaml";
    o.conns = 20000;
    tune_report_build(r, &s, &o);
    t = capture(r, 1 + TUNE_EMIT_SYSTEMD);
    assert_non_null(
        strstr(t, "\nExecStart=/opt/wspush/bin/wspush serve --config "
                  "/opt/wspush/etc/wspush/wspush.yaml --max-conns 20000 --workers auto\n"));
    assert_non_null(strstr(t, "\nLimitNOFILE=32768\n"));
    free(t);

    o.client = true;
    tune_report_build(r, &s, &o);
    t = capture(r, 1 + TUNE_EMIT_SYSCTL);
    assert_non_null(strstr(t, "\nnet.ipv4.ip_local_port_range = 1024 65535\n"));
    assert_null(strstr(t, "somaxconn"));
    free(t);
    free(r);
    rm_tree(root);
}

/* ---- the command ---- */

/* Runs tune_main with stdout/stderr into files; returns its status and
 * leaves stdout's text in out (cap bytes). */
static int run_main(char *out, size_t cap, const char *const *args)
{
    char *argv[24];
    int argc = 0;
    argv[argc++] = (char *)"tune";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;

    char path[] = "/tmp/wsp-tune-out-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int devnull = open("/dev/null", O_WRONLY);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fd, 1);
    dup2(devnull, 2);
    int rc = tune_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(devnull);
    ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static void test_tune_main_options(void **state)
{
    (void)state;
    static char out[65536];
    char root[64];
    fake_tree(root, sizeof root);

    assert_int_equal(run_main(out, sizeof out, (const char *[]){"--help", NULL}), 0);
    static const char *const documented[] = {"--conns", "--client",    "--workers",
                                             "--apply", "--json",      "--emit",
                                             "--bin",   "--proc-root", "--help"};
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        assert_non_null(strstr(out, documented[i]));

    const char *const *const bad[] = {
        (const char *[]){NULL},
        (const char *[]){"--conns", NULL},
        (const char *[]){"--conns", "0", NULL},
        (const char *[]){"--conns", "abc", NULL},
        (const char *[]){"--conns", "-5", NULL},
        (const char *[]){"--conns", "1g", NULL},
        (const char *[]){"--conns", "2000000000", NULL},
        (const char *[]){"--conns", "10", "--bogus", NULL},
        (const char *[]){"--conns", "10", "--workers", "0", NULL},
        (const char *[]){"--conns", "10", "--workers", "many", NULL},
        (const char *[]){"--conns", "10", "--emit", "yaml", NULL},
        (const char *[]){"--conns", "10", "--emit", "sysctl", "--json", NULL},
        (const char *[]){"--conns", "10", "--emit", "sysctl", "--apply", NULL},
        (const char *[]){"--conns", "10", "--client", "--emit", "systemd", NULL},
        (const char *[]){"--conns", "10", "--bin", "wspush", NULL},
        (const char *[]){"--conns", "10", "--config", "wspush.yaml", NULL},
        (const char *[]){"--conns=10", "--connsx", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(run_main(out, sizeof out, bad[i]), 2);

    int rc = run_main(out, sizeof out,
                      (const char *[]){"--conns", "1m", "--proc-root", root, "--json", NULL});
    assert_int_equal(rc, 1); /* somaxconn 128 is LOW */
    assert_non_null(strstr(out, "\"conns\":1000000,"));
    assert_non_null(strstr(out, "\"net.core.somaxconn\":128"));

    rc = run_main(out, sizeof out, (const char *[]){"--conns=100k", "--emit=systemd", NULL});
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "LimitNOFILE=131072\n"));
    rc = run_main(
        out, sizeof out,
        (const char *[]){"--conns=100k", "--emit=systemd", "--config", "/srv/w.yaml", NULL});
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, " serve --config /srv/w.yaml --max-conns 100000 "));

    /* --apply against the fake tree, then the table shows the new values. */
    rc = run_main(out, sizeof out,
                  (const char *[]){"--conns", "1000", "--proc-root", root, "--apply", NULL});
    assert_non_null(strstr(out, "set: net.core.somaxconn = 4096 (was 128)"));
    assert_non_null(strstr(out, "SETTING"));
    char buf[64];
    read_file(root, "sys/net/core/somaxconn", buf, sizeof buf);
    assert_string_equal(buf, "4096\n");
    rc = run_main(out, sizeof out,
                  (const char *[]){"--conns", "1000", "--proc-root", root, "--workers", "4", NULL});
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "0 settings LOW"));
    rm_tree(root);
}

/* --rate and its companions: the capacity estimate before the table, in
 * --json as "capacity", and every bad value a usage error (exit 2). */
static void test_tune_main_capacity_options(void **state)
{
    (void)state;
    static char out[65536];
    char root[64];
    fake_tree(root, sizeof root);

    assert_int_equal(run_main(out, sizeof out, (const char *[]){"--help", NULL}), 0);
    static const char *const documented[] = {
        "--rate", "--tls", "--deflate", "--ping-interval", "--handshake-rate", "docs/capacity.md"};
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        assert_non_null(strstr(out, documented[i]));

    const char *const *const bad[] = {
        (const char *[]){"--conns", "10", "--rate", NULL},
        (const char *[]){"--conns", "10", "--rate", "0", NULL},
        (const char *[]){"--conns", "10", "--rate", "-1", NULL},
        (const char *[]){"--conns", "10", "--rate", "fast", NULL},
        (const char *[]){"--conns", "10", "--rate", "1.5m", NULL},
        (const char *[]){"--conns", "10", "--rate", "2000000000", NULL},
        (const char *[]){"--rate", "1000", NULL}, /* no --conns */
        (const char *[]){"--conns", "10", "--tls", NULL},
        (const char *[]){"--conns", "10", "--deflate", NULL},
        (const char *[]){"--conns", "10", "--ping-interval", "10s", NULL},
        (const char *[]){"--conns", "10", "--handshake-rate", "5", NULL},
        (const char *[]){"--conns", "10", "--rate", "10", "--ping-interval", "soon", NULL},
        (const char *[]){"--conns", "10", "--rate", "10", "--handshake-rate", "-3", NULL},
        (const char *[]){"--conns", "10", "--rate", "10", "--emit", "sysctl", NULL},
        (const char *[]){"--conns", "10", "--rate", "10", "--client", NULL},
        (const char *[]){"--conns", "10", "--ratex", "10", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(run_main(out, sizeof out, bad[i]), 2);

    /* the estimate, then the settings table as before */
    int rc = run_main(out, sizeof out,
                      (const char *[]){"--conns", "100k", "--rate=1m", "--proc-root", root,
                                       "--workers", "4", NULL});
    assert_int_equal(rc, 1); /* somaxconn 128 is LOW, as without --rate */
    const char *cap = strstr(out, "capacity for 100000 connections, 1000000 deliveries/s");
    const char *table = strstr(out, "SETTING");
    assert_non_null(cap);
    assert_non_null(table);
    assert_true(cap < table);
    assert_non_null(strstr(out, "assumptions (not measured):"));

    rc = run_main(out, sizeof out,
                  (const char *[]){"--conns", "1m", "--rate", "100k", "--tls", "--deflate",
                                   "--ping-interval", "0", "--ping-budget", "7", "--handshake-rate",
                                   "0", "--proc-root", root, "--json", NULL});
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "\"conns\":1000000,"));
    assert_non_null(strstr(out, ",\"capacity\":{\"conns\":1000000,\"rate\":100000,\"tls\":true,"
                                "\"deflate\":true,\"ping_interval_ms\":0,\"ping_budget\":7,"
                                "\"handshake_rate\":0,"));
    assert_non_null(strstr(out, "\"cores_pings\":0,"));

    /* without --rate, no estimate */
    rc = run_main(out, sizeof out,
                  (const char *[]){"--conns", "1m", "--proc-root", root, "--json", NULL});
    assert_null(strstr(out, "\"capacity\""));
    rm_tree(root);
}

static void test_tune_check_startup(void **state)
{
    (void)state;
    char root[64];
    fake_tree(root, sizeof root);
    assert_int_equal(tune_check_startup_at(root, 0, 0), 0);
    /* Auto workers and a roomy system: nothing caps 100k connections. */
    assert_int_equal(tune_check_startup_at(root, 100000, 0), 0);

    /* Caps: file-max, tcp_mem, conntrack and memory (somaxconn does not). */
    write_file(root, "sys/fs/file-max", "50000\n");
    write_file(root, "sys/net/ipv4/tcp_mem", "10 20 30\n");
    write_file(root, "sys/net/netfilter/nf_conntrack_max", "1000\n");
    write_file(root, "meminfo", "MemTotal: 1000 kB\nMemAvailable: 500 kB\n");
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    int fd_cap = tune_fds_usable(rl.rlim_cur) < 100000; /* one worker */
    assert_int_equal(tune_check_startup_at(root, 100000, 1), 4 + fd_cap);
    assert_int_equal(tune_check_startup_at(root, 100000, 0), 4);
    rm_tree(root);
    /* The real system: runs, whatever it finds. */
    assert_true(tune_check_startup(1000, 0) >= 0);
}

/* ---- the real system ---- */

static uint64_t read_real(const char *path, int idx, bool *found)
{
    FILE *f = fopen(path, "r");
    *found = f != NULL;
    if (!f)
        return TUNE_NONE;
    unsigned long long v[3] = {0};
    int n = fscanf(f, "%llu %llu %llu", &v[0], &v[1], &v[2]);
    fclose(f);
    assert_true(n > idx);
    return v[idx];
}

static void test_tune_real_system_matches_proc(void **state)
{
    (void)state;
    struct tune_sys s;
    assert_int_equal(tune_sys_read(&s, NULL), 0);
    bool found;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_true(s.nofile_soft == rl.rlim_cur && s.nofile_hard == rl.rlim_max);

    static const struct {
        const char *path;
        int idx;
        size_t off;
    } files[] = {
        {"/proc/sys/fs/nr_open", 0, offsetof(struct tune_sys, nr_open)},
        {"/proc/sys/fs/file-max", 0, offsetof(struct tune_sys, file_max)},
        {"/proc/sys/net/core/somaxconn", 0, offsetof(struct tune_sys, somaxconn)},
        {"/proc/sys/net/ipv4/tcp_max_syn_backlog", 0, offsetof(struct tune_sys, syn_backlog)},
        {"/proc/sys/net/ipv4/ip_local_port_range", 0, offsetof(struct tune_sys, port_lo)},
        {"/proc/sys/net/ipv4/ip_local_port_range", 1, offsetof(struct tune_sys, port_hi)},
        {"/proc/sys/net/ipv4/tcp_mem", 0, offsetof(struct tune_sys, tcp_mem[0])},
        {"/proc/sys/net/ipv4/tcp_mem", 1, offsetof(struct tune_sys, tcp_mem[1])},
        {"/proc/sys/net/ipv4/tcp_mem", 2, offsetof(struct tune_sys, tcp_mem[2])},
        {"/proc/sys/net/netfilter/nf_conntrack_max", 0, offsetof(struct tune_sys, conntrack_max)},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        uint64_t want = read_real(files[i].path, files[i].idx, &found);
        uint64_t got;
        memcpy(&got, (const char *)&s + files[i].off, sizeof got);
        if (got != want)
            fail_msg("%s[%d]: tune read %llu, file has %llu", files[i].path, files[i].idx,
                     (unsigned long long)got, (unsigned long long)want);
    }

    FILE *f = fopen("/proc/meminfo", "r");
    assert_non_null(f);
    char line[256];
    unsigned long long total = 0, avail = 0;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "MemTotal: %llu kB", &total);
        sscanf(line, "MemAvailable: %llu kB", &avail);
    }
    fclose(f);
    assert_true(s.mem_total_kib == total);
    /* MemAvailable moves between the two reads: within 5%. */
    uint64_t diff = s.mem_avail_kib > avail ? s.mem_avail_kib - avail : avail - s.mem_avail_kib;
    assert_true(diff <= avail / 20);
    assert_true(s.page_bytes == (uint64_t)sysconf(_SC_PAGESIZE));
    assert_true(s.ncpu >= 1);

    /* And the report shows them as read. */
    struct tune_opts o = {.conns = 1000};
    struct tune_report *r = malloc(sizeof *r);
    assert_non_null(r);
    tune_report_build(r, &s, &o);
    char want[64];
    snprintf(want, sizeof want, "%llu",
             (unsigned long long)read_real("/proc/sys/net/core/somaxconn", 0, &found));
    assert_string_equal(tune_report_row(r, "net.core.somaxconn")->current, want);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tune_needs_several_n),
        cmocka_unit_test(test_tune_procs_and_workers),
        cmocka_unit_test(test_tune_ports_and_src_addrs),
        cmocka_unit_test(test_tune_proc_parse_fake_tree),
        cmocka_unit_test(test_tune_report_rows_server),
        cmocka_unit_test(test_tune_report_rows_client),
        cmocka_unit_test(test_tune_report_ehash),
        cmocka_unit_test(test_tune_apply_fake_tree),
        cmocka_unit_test(test_tune_emit_formats),
        cmocka_unit_test(test_tune_main_options),
        cmocka_unit_test(test_tune_main_capacity_options),
        cmocka_unit_test(test_tune_check_startup),
        cmocka_unit_test(test_tune_real_system_matches_proc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
