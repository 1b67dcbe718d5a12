/* stats.h - what a bench child measures and how the parent adds it up.
 *
 * Each child sends one fixed-size struct bench_rec per second (and one final
 * record) over its pipe; the parent merges records of the same second into a
 * struct bench_point for the live line and the reports, and into the run's
 * totals. Causes are small fixed tables so a record never varies in size. */
#ifndef WSP_LOADGEN_STATS_H
#define WSP_LOADGEN_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* connect() failures, by errno. */
enum bench_ce {
    CE_REFUSED,
    CE_TIMEDOUT,
    CE_ADDRNOTAVAIL,
    CE_ADDRINUSE,
    CE_RESET,
    CE_NOFILE,
    CE_NOBUFS,
    CE_UNREACH,
    CE_OTHER,
    CE_MAX
};
/* Handshake failures: HTTP status or what went wrong. */
enum bench_hs {
    HS_400,
    HS_401,
    HS_403,
    HS_404,
    HS_426,
    HS_429,
    HS_500,
    HS_503,
    HS_STATUS_OTHER,
    HS_BAD_ACCEPT,
    HS_MALFORMED,
    HS_TOOBIG,
    HS_TIMEOUT,
    HS_EOF,
    HS_RESET,
    HS_SHORT_WRITE,
    HS_DEFLATE, /* --deflate: an answer we refuse (context takeover, malformed) */
    HS_MAX
};
/* TLS failures (wss://), apart from the HTTP handshake's: the TLS
 * handshake's by what went wrong, and TLS errors on an open connection. */
enum bench_tls {
    TLSF_VERIFY,        /* the server's certificate did not verify (--cacert) */
    TLSF_PROTO,         /* handshake: an alert, or a protocol/version mismatch */
    TLSF_EOF,           /* handshake: the server closed TCP */
    TLSF_RESET,         /* handshake: reset or another socket error */
    TLSF_TIMEOUT,       /* handshake not done within --connect-timeout */
    TLSF_SETUP,         /* SSL_new failed (out of memory) */
    TLSF_OPEN_ERROR,    /* open connection: TLS error (bad record, alert) */
    TLSF_WRITE_BLOCKED, /* open connection: a small write could not be taken whole */
    TLSF_MAX
};
/* Disconnects we did not ask for, by close code (1006: no close frame). */
enum bench_dc {
    DC_1000,
    DC_1001,
    DC_1002,
    DC_1003,
    DC_1006,
    DC_1007,
    DC_1008,
    DC_1009,
    DC_1011,
    DC_1012,
    DC_1013,
    DC_OTHER,
    DC_PROTO, /* we closed: server broke the protocol */
    DC_MAX
};

const char *bench_ce_name(int i);
const char *bench_hs_name(int i);
const char *bench_dc_name(int i);
const char *bench_tls_name(int i);
int bench_ce_from_errno(int err); /* err > 0 */
int bench_hs_from_status(int status);
int bench_dc_from_code(unsigned code);

/* --deflate (RFC 7692): what the servers answered, and on the connections
 * that compress, the bytes read off the wire (frames, headers and control
 * frames included, after TLS) against the message bytes they carried once
 * inflated. Deltas. */
struct bench_deflate {
    uint64_t accepted;   /* handshakes that agreed permessage-deflate */
    uint64_t declined;   /* 101 without the extension: run uncompressed */
    uint64_t wire_bytes; /* WebSocket bytes received on compressing connections */
    uint64_t msg_bytes;  /* their data messages' bytes, inflated */
    uint64_t msgs;       /* their data messages */
};
void bench_deflate_add(struct bench_deflate *t, const struct bench_deflate *r);
/* wire_bytes / msg_bytes (below 1: compression saved bytes); 0 without messages. */
double bench_deflate_ratio(const struct bench_deflate *d);

#define BENCH_REC_MAGIC 0x77737062u /* "wspb" */
/* Messages are also counted by the second their timestamp falls in (the
 * send second), as a lag behind the record's second: lag 0..BENCH_LAGS-1.
 * The delivery ratio uses these counts, so a message is judged by when it
 * was sent, not by which side of a second boundary it happened to arrive. */
#define BENCH_LAGS 32
enum { REC_SEC = 1, REC_FINAL = 2 };

/* One child's counts for one second (REC_SEC) or for its close phase
 * (REC_FINAL). Counts are deltas except the gauges marked so. */
struct bench_rec {
    uint32_t magic;
    uint16_t proc;
    uint16_t kind;
    uint32_t sec;                  /* seconds since the run's start */
    uint32_t open;                 /* gauge: open connections at the end of the second */
    uint32_t open_min;             /* gauge: min(open at start, open at end) */
    uint32_t inflight;             /* gauge: connecting or handshaking */
    uint64_t established;          /* handshakes completed */
    uint64_t msgs;                 /* data messages received */
    uint64_t msgs_lag[BENCH_LAGS]; /* by send second = sec - lag (no timestamp: lag 0) */
    uint64_t msgs_unplaced;        /* sent before the run or more than BENCH_LAGS s ago */
    uint64_t bytes;                /* payload bytes received */
    uint64_t no_ts;                /* messages without a timestamp we understand */
    uint64_t pings;                /* pings answered */
    uint64_t send_drops;           /* small writes (pong, echo, close) that did not fit */
    uint64_t echo_sent;            /* --echo frames sent */
    uint64_t churned;              /* connections closed by --churn */
    uint64_t closed_clean;         /* our close handshakes completed */
    uint64_t close_timeouts;       /* our close handshakes that timed out */
    uint64_t tls_handovers;        /* wss:// connections that left OpenSSL (TLS 1.3) */
    uint64_t hs_us_sum;            /* connect+handshake time of the established ones */
    uint64_t hs_us_max;
    uint64_t first_try_us; /* gauge: this child's first connection attempt, CLOCK_MONOTONIC us (0:
                              none yet) */
    uint64_t last_est_us;  /* gauge: its latest completed handshake, same clock (0: none yet) */
    uint64_t cpu_us;       /* this process's CPU time (user+sys) */
    uint32_t ce[CE_MAX];
    uint32_t hs[HS_MAX];
    uint32_t dc[DC_MAX];
    uint32_t tls[TLSF_MAX];
    struct bench_deflate dfl; /* --deflate */
    uint64_t rss_anon_kb;     /* gauge: this process's RssAnon (what its connections cost) */
    uint64_t rss_base_kb;     /* gauge: its RssAnon before the first connection */
    struct hist_sec lat;      /* latency: receive time - message timestamp */
};

/* The parent's view of one second, all children merged. */
struct bench_point {
    uint32_t reported; /* children that reported this second */
    uint32_t open, open_min, inflight;
    uint64_t established, msgs, bytes, no_ts, pings, send_drops, echo_sent, churned;
    uint64_t msgs_sent; /* messages whose send time fell in this second (final only at the end) */
    uint64_t hs_us_sum, hs_us_max, cpu_us;
    uint64_t errors;      /* connect + handshake failures */
    uint64_t disconnects; /* unexpected */
    uint64_t expected;    /* deliveries expected this second */
    uint64_t published;   /* publishes acknowledged (publish mode) */
    uint64_t lat_p50, lat_p90, lat_p99, lat_p999, lat_max; /* us */
    double srv_cpu_s; /* server CPU seconds in this second (-1: unknown) */
    uint64_t srv_rss_kb;
    uint64_t bench_rss_kb;      /* the children's RssAnon, summed */
    uint64_t bench_rss_base_kb; /* theirs before the first connection, summed */
    struct hist_sec lat;
};

/* Run totals. */
struct bench_totals {
    uint64_t established, msgs, bytes, no_ts, pings, send_drops, echo_sent, churned;
    uint64_t closed_clean, close_timeouts, tls_handovers, hs_us_sum, hs_us_max, cpu_us;
    uint64_t first_try_us, last_est_us; /* over every child: min (non-zero) and max */
    uint64_t ce[CE_MAX], hs[HS_MAX], dc[DC_MAX], tls[TLSF_MAX];
    struct bench_deflate dfl;
    uint64_t msgs_unplaced;
    struct hist lat; /* seconds >= warmup only */
};

/* Adds a record into a point (per-second merge) and into totals. */
void bench_point_add(struct bench_point *p, const struct bench_rec *r);
void bench_totals_add(struct bench_totals *t, const struct bench_rec *r, bool measured);
/* Fills a point's percentiles from its merged histogram. */
void bench_point_finish(struct bench_point *p);
uint64_t bench_rec_errors(const struct bench_rec *r);
uint64_t bench_rec_disconnects(const struct bench_rec *r);

/* "1.23ms", "850us", "2.1s" into out (>= 16 bytes). */
const char *bench_fmt_us(uint64_t us, char *out);

#endif
