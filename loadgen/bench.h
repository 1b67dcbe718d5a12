/* bench.h - wspush-bench's run configuration and the pieces main.c wires up.
 *
 * The parent (main.c) parses the command line into struct bench_opts, forks
 * the children (client.c: one event loop each, its share of connections),
 * aggregates their records (stats.c), drives the publish API (publish.c),
 * samples the server's /proc figures (procstat.c) and writes the reports
 * (report.c). */
#ifndef WSP_LOADGEN_BENCH_H
#define WSP_LOADGEN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "srcaddr.h"
#include "stats.h"
#include "tokens.h"

#define BENCH_MAX_PIDS 16
#define BENCH_PUBLISH_MIN 24 /* --publish-size: the ISO timestamp alone */
#define BENCH_PUBLISH_MAX 8192

struct bench_opts {
    /* target */
    char url[512];
    uint32_t dst_ip; /* host order */
    uint16_t dst_port;
    char host_hdr[300]; /* Host header value */
    char path[256];     /* request target */
    char host[300];     /* the host alone: SNI and the certificate name (wss://) */
    bool tls;           /* wss:// or --tls */
    bool insecure;      /* --insecure: do not verify the server's certificate */
    const char *cacert; /* --cacert FILE; NULL: the system's store */
    bool tls12;         /* --tls-max 1.2 */
    /* load */
    uint64_t conns;
    uint32_t procs;
    double rate;           /* connections per second, all children together */
    uint32_t max_inflight; /* per child: connects + handshakes at once (0: default) */
    uint64_t duration_ms;
    uint64_t warmup_ms;
    uint64_t connect_timeout_ms;
    uint64_t drain_ms;         /* after duration: keep receiving what was sent in it */
    uint64_t close_timeout_ms; /* our close handshake: wait this long for the reply */
    uint64_t t0_real_us;       /* the run's start, CLOCK_REALTIME (set by the parent) */
    bool have_src;
    struct srcaddr_set src;
    /* modes */
    double expect_rate;  /* messages per connection per second (ticker) */
    double publish_rate; /* 0: off */
    bool broadcast;      /* publish with POST /broadcast instead of /publish/<topic> */
    char topic[128];
    char admin[256];
    uint32_t admin_ip;
    uint16_t admin_port;
    char token[256];                /* the admin API's bearer token */
    struct bench_tokens sub_tokens; /* subscriber tokens; n == 0: none */
    bool echo;
    bool sse;              /* Server-Sent Events streams instead of WebSockets */
    bool deflate;          /* --deflate: offer permessage-deflate (bdeflate.h) */
    bool epoll_reads;      /* --io epoll: open connections read through epoll, not
                              io_uring (urecv.h); wss:// always does */
    uint32_t publish_size; /* --publish-size: body bytes (0: the timestamp alone) */
    double churn_pct;      /* per second */
    /* output */
    bool quiet;
    const char *json_path;
    const char *html_path;
    const char *label;
    pid_t server_pids[BENCH_MAX_PIDS];
    size_t n_server_pids;
    /* checks */
    double assert_ratio; /* < 0: off */
    bool assert_no_errors;
};

/* What a child allocates per connection slot up front (its slot, and for
 * wss:// the SSL pointer beside it): in the base of the bench's memory. */
size_t bench_slot_bytes(const struct bench_opts *o);

/* Runs one child: its share of the connections, stats to out_fd once a
 * second, until SIGTERM/SIGINT (or its own deadline). Never returns: exits
 * the process (0 on a clean run). t0_ms: the run's start, CLOCK_MONOTONIC. */
void client_child_main(const struct bench_opts *o, uint32_t proc, uint64_t t0_ms, int out_fd)
    __attribute__((noreturn));

#endif
