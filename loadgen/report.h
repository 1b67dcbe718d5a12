/* report.h - the end of a run: summary text, JSON and a self-contained HTML
 * page (inline SVG charts drawn here; no script, no network).
 *
 * Reads a finished struct bench_result; writes only the given stream/file. */
#ifndef WSP_LOADGEN_REPORT_H
#define WSP_LOADGEN_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench.h"
#include "publish.h"
#include "stats.h"

struct bench_result {
    const struct bench_opts *o;
    const struct bench_point *pts;
    uint32_t n_pts;
    const struct bench_totals *tot;
    uint32_t warmup_s, end_s; /* the measured window: seconds [warmup_s, end_s) */
    uint64_t msgs_measured, expected_measured;
    double ratio;    /* msgs_measured / expected_measured, -1 if none expected */
    struct hist lat; /* measured window only */
    uint64_t peak_open, open_end;
    double wall_s, bench_cpu_s;
    double bench_cpu_window_s;   /* the children's CPU in the measured window */
    double bench_us_per_msg;     /* bench_cpu_window_s per delivery in it, µs; -1: none */
    uint64_t bench_rss_kb;       /* the children's RssAnon at the window's end */
    double bench_rss_per_conn_b; /* its growth since before the first connection / open
                                    connections at the window's end; -1: none open */
    bool interrupted;
    uint32_t killed; /* children killed at the hard deadline */
    /* --server-pid */
    bool have_srv;
    uint32_t srv_procs;
    double srv_cpu_s;     /* over the measured window */
    double srv_cpu_per_m; /* CPU seconds per million deliveries, -1 if unknown */
    uint64_t srv_rss_kb, srv_rss_kb_start;
    double srv_rss_per_conn_b; /* (RSS end - start) / open connections */
    double tcp_mem_per_conn_b; /* sockstat TCP mem pages * page / open connections */
    double slab_per_conn_b;    /* (Slab end - start) / open connections */
    /* --publish-rate */
    bool have_pub;
    struct publisher_totals pub;
    /* checks */
    bool ratio_failed, errors_failed;
};

void report_summary(FILE *f, const struct bench_result *r);
/* Return 0 or -errno. */
int report_json(const char *path, const struct bench_result *r);
int report_html(const char *path, const struct bench_result *r);

#endif
