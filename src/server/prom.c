/* prom.c - /metrics in Prometheus text format and the dashboard sample
 * (see prom.h). Pure formatting over the shared counters plus a cached
 * read of /proc. */
#include "server/prom.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "metrics/metrics.h"
#include "pubsub/ring.h"
#include "server/admin.h"

struct buf {
    char *p;
    size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct buf *b, const char *fmt, ...)
{
    if (b->n >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        b->n += (size_t)k;
    if (b->n >= b->cap)
        b->n = b->cap - 1;
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

#define SUM(field)                                                                                \
    ({                                                                                            \
        uint64_t s_ = 0;                                                                          \
        for (unsigned i_ = 0; i_ < st->nworkers; i_++)                                            \
            s_ += st->w[i_].field;                                                                \
        s_;                                                                                       \
    })

static void counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
    head(b, name, "counter", help);
    put(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct buf *b, const char *name, const char *help, double v)
{
    head(b, name, "gauge", help);
    put(b, "%s %.17g\n", name, v);
}

static const char *const hs_names[HS_FAIL_COUNT] = {
    "bad_request", "too_large", "version", "origin", "topic", "not_found", "full", "per_ip", "timeout"};

size_t prom_render(struct master *m, char *out, size_t cap)
{
    struct buf b = {out, 0, cap};
    struct shared_stats *st = master_stats(m);
    struct buf *bp = &b;

    head(bp, "wspush_build_info", "gauge", "Build information.");
    put(bp, "wspush_build_info{version=\"%s\"} 1\n", WSPUSH_VERSION);
    gauge(bp, "wspush_uptime_seconds", "Seconds since the master started.",
          (double)master_uptime_ms(m) / 1000.0);
    head(bp, "wspush_connections", "gauge", "Established WebSocket connections, per worker.");
    for (unsigned i = 0; i < st->nworkers; i++)
        put(bp, "wspush_connections{worker=\"%u\"} %llu\n", i, (unsigned long long)st->w[i].conns);
    gauge(bp, "wspush_connections_pending", "Accepted connections still in the handshake.",
          (double)SUM(conns_pending));
    counter(bp, "wspush_accepted_total", "TCP connections accepted.", SUM(accepted_total));
    counter(bp, "wspush_handshakes_total", "Successful WebSocket handshakes.", SUM(handshakes_total));
    head(bp, "wspush_handshake_failures_total", "counter", "Failed handshakes and plain HTTP errors by reason.");
    for (int k = 0; k < HS_FAIL_COUNT; k++)
        put(bp, "wspush_handshake_failures_total{reason=\"%s\"} %llu\n", hs_names[k],
            (unsigned long long)SUM(handshake_fail[k]));
    head(bp, "wspush_disconnects_total", "counter", "Closed WebSocket connections by close code.");
    for (int k = 0; k < CB_COUNT; k++) {
        uint64_t code = metrics_close_bucket_code((enum close_bucket)k);
        if (code)
            put(bp, "wspush_disconnects_total{code=\"%llu\"} %llu\n", (unsigned long long)code,
                (unsigned long long)SUM(disconnects[k]));
        else
            put(bp, "wspush_disconnects_total{code=\"other\"} %llu\n",
                (unsigned long long)SUM(disconnects[k]));
    }
    head(bp, "wspush_messages_published_total", "counter", "Messages published, by source.");
    put(bp, "wspush_messages_published_total{source=\"http\"} %llu\n",
        (unsigned long long)master_published(m, PUB_HTTP));
    put(bp, "wspush_messages_published_total{source=\"tick\"} %llu\n",
        (unsigned long long)master_published(m, PUB_TICK));
    counter(bp, "wspush_publish_rejected_total", "Publishes refused (too large).", st->publish_rejected);
    counter(bp, "wspush_deliveries_total", "Messages handed to subscriber sockets.", SUM(deliveries));
    counter(bp, "wspush_sent_bytes_total", "Bytes written to client sockets.", SUM(bytes_sent));
    counter(bp, "wspush_short_writes_total", "Writes that left output queued.", SUM(short_writes));
    gauge(bp, "wspush_queued_bytes", "Output queued for slow sockets.", (double)SUM(queued_bytes));
    head(bp, "wspush_slow_consumer_total", "counter", "Slow-consumer events by policy action.");
    put(bp, "wspush_slow_consumer_total{action=\"close\"} %llu\n", (unsigned long long)SUM(slow_close));
    put(bp, "wspush_slow_consumer_total{action=\"drop\"} %llu\n", (unsigned long long)SUM(slow_drop));
    put(bp, "wspush_slow_consumer_total{action=\"latest\"} %llu\n", (unsigned long long)SUM(slow_latest));
    counter(bp, "wspush_messages_received_total", "Data messages received from clients.", SUM(messages_in));
    counter(bp, "wspush_ring_lost_total", "Ring entries a worker lost by being lapped.", SUM(ring_lost));
    counter(bp, "wspush_pings_sent_total", "Server pings to idle connections.", SUM(pings_sent));
    counter(bp, "wspush_accept_errors_total", "accept(2) failures (EMFILE and others).", SUM(accept_errors));
    counter(bp, "wspush_worker_restarts_total", "Workers restarted after dying.", SUM(restarts));
    head(bp, "wspush_fanout_duration_seconds", "histogram",
         "Time from publish to the last subscriber's write, per worker fan-out.");
    uint64_t cum = 0;
    for (unsigned k = 0; k < METRICS_FANOUT_BUCKETS; k++) {
        cum += SUM(fanout_buckets[k]);
        if (k + 1 < METRICS_FANOUT_BUCKETS)
            put(bp, "wspush_fanout_duration_seconds_bucket{le=\"%g\"} %llu\n",
                metrics_fanout_bucket_le(k), (unsigned long long)cum);
        else
            put(bp, "wspush_fanout_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)cum);
    }
    put(bp, "wspush_fanout_duration_seconds_sum %.9f\n", (double)SUM(fanout_sum_ns) / 1e9);
    put(bp, "wspush_fanout_duration_seconds_count %llu\n", (unsigned long long)SUM(fanout_count));
    struct ring *r = master_ring(m);
    gauge(bp, "wspush_ring_size_bytes", "Size of the shared ring.", (double)ring_size(r));
    counter(bp, "wspush_ring_written_bytes_total", "Bytes appended to the ring.", ring_bytes_written(r));
    return b.n;
}

size_t prom_live_json(struct master *m, char *out, size_t cap)
{
    return admin_stats_json(m, out, cap);
}
