/* prom.c - the admin port's figures (see prom.h): one snapshot of the
 * node, taken once per answer, and the three renderings of it: /stats
 * JSON, /metrics in Prometheus text format and the dashboard sample. The
 * workers' counters are summed once, in the snapshot (metrics_sum); the
 * renderers only format. /proc and the kernel's socket table come from a
 * cached sample (metrics/sysstat.c), taken for /metrics and /live only.
 *
 * Memory per connection has the one definition of metrics/procfs.h, the
 * bench's too: marginal anonymous RSS (RssAnon of the master and all
 * workers over the latest sample taken with no connection open, divided
 * by the open connections; all of it until an idle sample was seen).
 * Resident memory (VmRSS, the shared ring counted once) is shown apart.
 * Kernel socket memory (sockstat's TCP
 * "mem" pages x page size) covers every TCP socket of the host's network
 * namespace, as do the socket state counts. */
#include "server/prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "core/clock.h"
#include "core/strbuf.h"
#include "metrics/metrics.h"
#include "metrics/sysstat.h"
#include "pubsub/history.h"
#include "pubsub/ring.h"
#include "server/node.h"
#include "server/redis_link.h"

static void head(struct strbuf *b, const char *name, const char *type, const char *help)
{
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Everything an answer shows, read once. */
struct snapshot {
    const struct shared_stats *st; /* the per-worker figures */
    struct worker_stats sum;       /* every worker's counters, added up */
    uint64_t uptime_ms, unix_ms;
    uint64_t published[PUB_SOURCES];
    uint64_t publish_rejected;
    uint64_t max_conns;
    bool redis; /* --redis: rs is filled */
    struct redis_link_stats rs;
    bool redis_ids;
    uint64_t epoch_changes;
    bool history; /* history on: hs is filled */
    struct history_stats hs;
    size_t ring_size_bytes, ring_max_entry;
    uint64_t ring_head_seq, ring_written;
    const struct sysstat *sys;  /* NULL unless asked for */
    double user_bytes_per_conn; /* with sys: metrics/procfs.h's definition; NaN */
};

#define SUM(field) (snap->sum.field)

static void counter(struct strbuf *b, const char *name, const char *help, uint64_t v)
{
    head(b, name, "counter", help);
    strbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct strbuf *b, const char *name, const char *help, double v)
{
    head(b, name, "gauge", help);
    if (isnan(v))
        strbuf_printf(b, "%s NaN\n", name); /* the exposition format's spelling */
    else
        strbuf_printf(b, "%s %.17g\n", name, v);
}

static const char *const hs_names[HS_FAIL_COUNT] = {"bad_request", "too_large", "version", "origin",
                                                    "topic",       "not_found", "full",    "per_ip",
                                                    "timeout",     "proxy"};

/* Owned by the master's loop, the only caller of this file. */
static struct sysstat sys;
static bool sys_ready;

static const struct sysstat *sys_sample(const struct shared_stats *st)
{
    pid_t pids[1 + METRICS_MAX_WORKERS];
    size_t n = 0;
    if (!sys_ready) {
        sysstat_init(&sys);
        sys_ready = true;
    }
    pids[n++] = getpid();
    for (unsigned i = 0; i < st->nworkers && n < sizeof pids / sizeof pids[0]; i++)
        pids[n++] = (pid_t)st->w[i].pid;
    sysstat_maybe_sample(&sys, pids, n, clock_mono_ms());
    return &sys;
}

static void take(struct node *n, bool with_sys, struct snapshot *snap)
{
    memset(snap, 0, sizeof *snap);
    snap->st = n->shared;
    metrics_sum(n->shared, &snap->sum);
    snap->uptime_ms = clock_mono_ms() - n->started_ms;
    snap->unix_ms = clock_real_us() / 1000;
    memcpy(snap->published, n->published, sizeof snap->published);
    snap->publish_rejected = n->shared->publish_rejected;
    snap->max_conns = n->cfg->max_conns;
    snap->redis = n->redis != NULL;
    if (n->redis)
        redis_link_get_stats(n->redis, &snap->rs);
    snap->redis_ids = n->redis_ids;
    snap->epoch_changes = n->epoch_changes;
    snap->history = n->history != NULL;
    if (n->history)
        history_get_stats(n->history, &snap->hs);
    snap->ring_size_bytes = ring_size(n->ring);
    snap->ring_max_entry = ring_max_entry(n->ring);
    snap->ring_head_seq = ring_head_seq(n->ring);
    snap->ring_written = ring_bytes_written(n->ring);
    snap->sys = with_sys ? sys_sample(n->shared) : NULL;
    /* after the sample, with the count: a count of 0 records the idle baseline */
    snap->user_bytes_per_conn = with_sys ? sysstat_bytes_per_conn(&sys, SUM(conns)) : NAN;
}

static void sys_metrics(struct strbuf *b, const struct snapshot *snap)
{
    const struct sysstat *s = snap->sys;
    gauge(b, "wspush_process_resident_memory_bytes",
          "Resident memory of the master and all workers (shared memory counted once).",
          (double)s->rss_bytes);
    gauge(b, "wspush_user_bytes_per_connection",
          "Anonymous RSS (RssAnon) of the master and all workers over their idle baseline, "
          "divided by open connections (NaN with none).",
          snap->user_bytes_per_conn);
    if (s->sockstat_ok)
        gauge(b, "wspush_kernel_socket_memory_bytes",
              "Kernel memory of all TCP socket buffers on the host (sockstat mem pages).",
              (double)(s->tcp_mem_pages * s->page_bytes));
    if (s->states_taken_ms && strcmp(s->states_src, "none") != 0) {
        head(b, "wspush_tcp_sockets", "gauge", "TCP sockets on the host by state.");
        for (unsigned k = 1; k < SYSSTAT_TCP_STATES; k++) {
            char lower[16];
            const char *name = sysstat_tcp_state_name(k);
            size_t i = 0;
            for (; name[i] && i + 1 < sizeof lower; i++)
                lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
            lower[i] = '\0';
            strbuf_printf(b, "wspush_tcp_sockets{state=\"%s\"} %llu\n", lower,
                          (unsigned long long)s->states[k]);
        }
    }
}

static size_t render_metrics(const struct snapshot *snap, char *out, size_t cap)
{
    struct strbuf b;
    strbuf_init(&b, out, cap);
    const struct shared_stats *st = snap->st;
    struct strbuf *bp = &b;

    head(bp, "wspush_build_info", "gauge", "Build information.");
    strbuf_printf(bp, "wspush_build_info{version=\"%s\"} 1\n", WSPUSH_VERSION);
    gauge(bp, "wspush_uptime_seconds", "Seconds since the master started.",
          (double)snap->uptime_ms / 1000.0);
    head(bp, "wspush_connections", "gauge", "Established WebSocket connections, per worker.");
    for (unsigned i = 0; i < st->nworkers; i++)
        strbuf_printf(bp, "wspush_connections{worker=\"%u\"} %llu\n", i,
                      (unsigned long long)st->w[i].conns);
    gauge(bp, "wspush_connections_pending", "Accepted connections still in the handshake.",
          (double)SUM(conns_pending));
    counter(bp, "wspush_accepted_total", "TCP connections accepted.", SUM(accepted_total));
    counter(bp, "wspush_handshakes_total", "Successful WebSocket handshakes.",
            SUM(handshakes_total));
    head(bp, "wspush_handshake_failures_total", "counter",
         "Failed handshakes and plain HTTP errors by reason.");
    for (int k = 0; k < HS_FAIL_COUNT; k++)
        strbuf_printf(bp, "wspush_handshake_failures_total{reason=\"%s\"} %llu\n", hs_names[k],
                      (unsigned long long)SUM(handshake_fail[k]));
    head(bp, "wspush_disconnects_total", "counter", "Closed WebSocket connections by close code.");
    for (int k = 0; k < CB_COUNT; k++) {
        uint64_t code = metrics_close_bucket_code((enum close_bucket)k);
        if (code)
            strbuf_printf(bp, "wspush_disconnects_total{code=\"%llu\"} %llu\n",
                          (unsigned long long)code, (unsigned long long)SUM(disconnects[k]));
        else
            strbuf_printf(bp, "wspush_disconnects_total{code=\"other\"} %llu\n",
                          (unsigned long long)SUM(disconnects[k]));
    }
    head(bp, "wspush_messages_published_total", "counter", "Messages published, by source.");
    strbuf_printf(bp, "wspush_messages_published_total{source=\"http\"} %llu\n",
                  (unsigned long long)snap->published[PUB_HTTP]);
    strbuf_printf(bp, "wspush_messages_published_total{source=\"tick\"} %llu\n",
                  (unsigned long long)snap->published[PUB_TICK]);
    strbuf_printf(bp, "wspush_messages_published_total{source=\"redis\"} %llu\n",
                  (unsigned long long)snap->published[PUB_REDIS]);
    if (snap->redis) {
        const struct redis_link_stats rs = snap->rs;
        gauge(bp, "wspush_redis_connected", "1 while both Redis connections are up.",
              rs.connected ? 1 : 0);
        gauge(bp, "wspush_redis_ready", "1 once connected and resubscribed (healthz?ready).",
              rs.ready ? 1 : 0);
        counter(bp, "wspush_redis_reconnects_total", "Redis connection pairs re-established.",
                rs.reconnects);
        counter(bp, "wspush_redis_messages_in_total", "Messages received from Redis.",
                rs.messages_in);
        counter(bp, "wspush_redis_messages_out_total", "PUBLISHes acknowledged by Redis.",
                rs.messages_out);
        counter(bp, "wspush_redis_publish_errors_total",
                "PUBLISHes refused by Redis or lost with a connection.", rs.publish_errors);
        counter(bp, "wspush_redis_publish_unavailable_total",
                "Publishes answered 503 because Redis was unreachable.", rs.rejected_down);
        counter(bp, "wspush_redis_dropped_total",
                "Messages from Redis not delivered (bad channel name, too large).", rs.dropped_in);
        gauge(bp, "wspush_redis_subscriptions", "Topic channels subscribed.",
              (double)rs.subscriptions);
        gauge(bp, "wspush_redis_pattern_mode", "1 when subscribed with PSUBSCRIBE <prefix>*.",
              rs.pattern_mode ? 1 : 0);
        gauge(bp, "wspush_redis_roundtrip_seconds", "Last PING round trip to Redis.",
              rs.rtt_seconds);
        if (snap->redis_ids) {
            counter(bp, "wspush_redis_history_loads_total",
                    "Loads of the topics' streams into history (at each connection).",
                    rs.history_loads);
            counter(bp, "wspush_redis_history_loaded_total",
                    "Messages put into history by those loads.", rs.history_loaded);
            counter(bp, "wspush_redis_history_load_errors_total", "Loads that failed (retried).",
                    rs.history_load_errors);
            counter(bp, "wspush_history_epoch_changes_total",
                    "Epochs taken from Redis (history cleared each time).", snap->epoch_changes);
        }
    }
    counter(bp, "wspush_publish_rejected_total", "Publishes refused (too large).",
            snap->publish_rejected);
    counter(bp, "wspush_deliveries_total", "Messages handed to subscriber sockets.",
            SUM(deliveries));
    /* by transport (docs/sse.md): SSE streams are counted in the totals too */
    head(bp, "wspush_transport_connections", "gauge", "Established connections by transport.");
    strbuf_printf(bp, "wspush_transport_connections{transport=\"ws\"} %llu\n",
                  (unsigned long long)(SUM(conns) - SUM(sse_conns)));
    strbuf_printf(bp, "wspush_transport_connections{transport=\"sse\"} %llu\n",
                  (unsigned long long)SUM(sse_conns));
    head(bp, "wspush_transport_deliveries_total", "counter", "Deliveries by transport.");
    strbuf_printf(bp, "wspush_transport_deliveries_total{transport=\"ws\"} %llu\n",
                  (unsigned long long)(SUM(deliveries) - SUM(sse_deliveries)));
    strbuf_printf(bp, "wspush_transport_deliveries_total{transport=\"sse\"} %llu\n",
                  (unsigned long long)SUM(sse_deliveries));
    counter(bp, "wspush_sse_skipped_total",
            "Messages not sent to SSE streams: their SSE form did not fit a ring entry.",
            SUM(sse_skipped));
    counter(bp, "wspush_sse_resets_total",
            "SSE streams opened with a Last-Event-ID that could not be resumed (event: reset).",
            SUM(sse_resets));
    counter(bp, "wspush_sent_bytes_total", "Bytes written to client sockets.", SUM(bytes_sent));
    counter(bp, "wspush_short_writes_total", "Writes that left output queued.", SUM(short_writes));
    gauge(bp, "wspush_queued_bytes", "Output queued for slow sockets.", (double)SUM(queued_bytes));
    head(bp, "wspush_slow_consumer_total", "counter", "Slow-consumer events by policy action.");
    strbuf_printf(bp, "wspush_slow_consumer_total{action=\"close\"} %llu\n",
                  (unsigned long long)SUM(slow_close));
    strbuf_printf(bp, "wspush_slow_consumer_total{action=\"drop\"} %llu\n",
                  (unsigned long long)SUM(slow_drop));
    strbuf_printf(bp, "wspush_slow_consumer_total{action=\"latest\"} %llu\n",
                  (unsigned long long)SUM(slow_latest));
    counter(bp, "wspush_messages_received_total", "Data messages received from clients.",
            SUM(messages_in));
    counter(bp, "wspush_ring_lost_total", "Ring entries a worker lost by being lapped.",
            SUM(ring_lost));
    counter(bp, "wspush_lapped_closes_total",
            "Subscribers closed with 1013 because their worker was lapped and lost entries.",
            SUM(lapped_closes));
    counter(bp, "wspush_ring_recovered_total",
            "Messages a lapped worker lost from the ring and fanned out from history instead.",
            SUM(ring_recovered));
    counter(bp, "wspush_history_replayed_total",
            "Messages replayed from history to resuming subscribers.", SUM(history_replayed));
    head(bp, "wspush_history_resets_total", "counter",
         "Resumes answered with reset (envelope) or 4002 (raw), by cause.");
    static const char *const causes[RESET_CAUSES] = {"epoch", "gap", "off", "backlog"};
    for (int k = 0; k < RESET_CAUSES; k++)
        strbuf_printf(bp, "wspush_history_resets_total{cause=\"%s\"} %llu\n", causes[k],
                      (unsigned long long)SUM(history_resets[k]));
    gauge(bp, "wspush_envelope_connections", "Connections in the JSON envelope mode.",
          (double)SUM(envelope_conns));
    if (snap->history) {
        const struct history_stats hs = snap->hs;
        gauge(bp, "wspush_history_topics", "Topics with history.", (double)hs.topics);
        counter(bp, "wspush_history_stored_total", "Messages stored in history.", hs.appended);
        gauge(bp, "wspush_history_store_bytes", "Bytes of the history store in use.",
              (double)hs.store_bytes);
        counter(bp, "wspush_history_topics_refused_total",
                "Publishes to topics that found the history topic table full.", hs.topics_full);
    }
    uint64_t ping_ms = 0;
    for (unsigned i = 0; i < st->nworkers; i++)
        if (st->w[i].ping_ms > ping_ms)
            ping_ms = st->w[i].ping_ms;
    gauge(bp, "wspush_ping_interval_seconds",
          "The longest ping interval a worker uses now: --ping-interval, stretched by "
          "--ping-budget at large connection counts (0: no pings).",
          (double)ping_ms / 1000.0);
    counter(bp, "wspush_pings_sent_total", "Server pings to idle connections.", SUM(pings_sent));
    counter(bp, "wspush_pings_skipped_total",
            "Ping deadlines passed without a ping: the peer's TCP acknowledged data within the "
            "interval.",
            SUM(pings_skipped));
    counter(
        bp, "wspush_pongs_deferred_total",
        "Pong deadlines put off because our ping still waited behind output the peer was taking.",
        SUM(pongs_deferred));
    counter(
        bp, "wspush_conflated_total",
        "Messages of conflatable topics a worker skipped because a newer one was already pending.",
        SUM(conflated));
    counter(bp, "wspush_fanout_yields_total",
            "Times a fan-out paused after --fanout-slice subscribers so the worker could serve "
            "its other events.",
            SUM(fanout_yields));
    gauge(bp, "wspush_partial_input_bytes",
          "Partial inbound messages held (fragments, split frames).",
          (double)SUM(partial_input_bytes));
    counter(
        bp, "wspush_partial_input_shed_total",
        "Connections closed (1009) because the worker's partial input passed --max-partial-input.",
        SUM(partial_input_shed));
    counter(bp, "wspush_accept_errors_total", "accept(2) failures (EMFILE and others).",
            SUM(accept_errors));
    counter(bp, "wspush_accept_paused_total",
            "Times --accept-rate stopped a worker accepting until the next second.",
            SUM(accept_paused));
    counter(bp, "wspush_tls_handshake_deferrals_total",
            "TLS handshake steps put off to the next loop iteration (burst throttling).",
            SUM(tls_deferred));
    counter(bp, "wspush_tls_handovers_total",
            "TLS 1.3 connections whose record layer left OpenSSL after the handshake.",
            SUM(tls_handovers));
    counter(bp, "wspush_tls_kept_total",
            "TLS connections that keep OpenSSL's record layer (TLS 1.2, a CCM suite).",
            SUM(tls_kept));
    counter(bp, "wspush_tls_reloads_total", "Certificate reloads after SIGHUP.", SUM(tls_reloads));
    counter(bp, "wspush_auth_accepted_total", "Upgrades admitted with a valid subscriber token.",
            SUM(auth_accepted));
    head(bp, "wspush_auth_refused_total", "counter",
         "Upgrades refused by the token checks, by reason (401, or 403 for topic_denied).");
    for (int k = AUTH_OK + 1; k < AUTH_REASON_COUNT; k++)
        strbuf_printf(bp, "wspush_auth_refused_total{reason=\"%s\"} %llu\n", auth_reason_label(k),
                      (unsigned long long)SUM(auth_refused[k]));
    counter(bp, "wspush_auth_expired_total",
            "Connections closed with 4001 because their token expired.", SUM(auth_expired));
    counter(bp, "wspush_proxy_headers_total",
            "PROXY protocol headers accepted from trusted proxies.", SUM(proxy_headers));
    counter(bp, "wspush_forwarded_for_total",
            "Client addresses taken from X-Forwarded-For of trusted proxies.", SUM(forwarded_for));
    counter(bp, "wspush_restart_closes_total",
            "Connections closed with 1012 by a spread-out drain (SIGTERM).", SUM(restart_closes));
    counter(bp, "wspush_disconnects_api_total",
            "Connections closed by POST /disconnect on the admin port (4503 or 4000).",
            SUM(api_disconnects));
    counter(bp, "wspush_worker_restarts_total", "Workers restarted after dying.", SUM(restarts));
    /* the limits, so alerts can say "near --max-conns" and "near the fd
     * limit" (workers inherit the master's RLIMIT_NOFILE at fork) */
    gauge(bp, "wspush_max_connections", "The --max-conns limit, all workers together.",
          (double)snap->max_conns);
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
        gauge(bp, "wspush_open_files_limit",
              "Open-file limit (RLIMIT_NOFILE soft) of each process; a worker needs one fd per "
              "connection.",
              (double)nofile.rlim_cur);
    head(bp, "wspush_fanout_duration_seconds", "histogram",
         "Time from publish to the last subscriber's write, per worker fan-out.");
    uint64_t cum = 0;
    for (unsigned k = 0; k < METRICS_FANOUT_BUCKETS; k++) {
        cum += SUM(fanout_buckets[k]);
        if (k + 1 < METRICS_FANOUT_BUCKETS)
            strbuf_printf(bp, "wspush_fanout_duration_seconds_bucket{le=\"%g\"} %llu\n",
                          metrics_fanout_bucket_le(k), (unsigned long long)cum);
        else
            strbuf_printf(bp, "wspush_fanout_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)cum);
    }
    strbuf_printf(bp, "wspush_fanout_duration_seconds_sum %.9f\n",
                  (double)SUM(fanout_sum_ns) / 1e9);
    strbuf_printf(bp, "wspush_fanout_duration_seconds_count %llu\n",
                  (unsigned long long)SUM(fanout_count));
    gauge(bp, "wspush_ring_size_bytes", "Size of the shared ring.", (double)snap->ring_size_bytes);
    counter(bp, "wspush_ring_written_bytes_total", "Bytes appended to the ring.",
            snap->ring_written);
    sys_metrics(bp, snap);
    return b.len;
}

size_t prom_render(struct node *n, char *out, size_t cap)
{
    struct snapshot snap;
    take(n, true, &snap);
    return render_metrics(&snap, out, cap);
}

/* GET /stats. */
static size_t render_stats(const struct snapshot *snap, char *out, size_t cap)
{
    struct strbuf b;
    strbuf_init(&b, out, cap);
    const struct shared_stats *s = snap->st;
    strbuf_printf(&b, "{\"uptime_s\":%.3f,\"unix_ms\":%llu,\"workers\":[",
                  (double)snap->uptime_ms / 1000.0, (unsigned long long)snap->unix_ms);
    for (unsigned i = 0; i < s->nworkers; i++) {
        const struct worker_stats *w = &s->w[i];
        strbuf_printf(
            &b,
            "%s{\"id\":%u,\"pid\":%d,\"connections\":%llu,\"pending\":%llu,\"deliveries\":%llu,"
            "\"restarts\":%u,\"deadline_ticks\":{\"handshake\":%u,\"ping\":%u,\"pong\":%u}}",
            i ? "," : "", i, (int)w->pid, (unsigned long long)w->conns,
            (unsigned long long)w->conns_pending, (unsigned long long)w->deliveries, w->restarts,
            w->deadline_ticks_handshake, w->deadline_ticks_ping, w->deadline_ticks_pong);
    }
    strbuf_printf(
        &b,
        "],\"connections\":%llu,\"max_conns\":%llu,\"accepted\":%llu,"
        "\"published\":{\"http\":%llu,\"tick\":%llu},\"deliveries\":%llu,\"bytes_sent\":%llu,"
        "\"messages_in\":%llu,\"queued_bytes\":%llu,\"slow_consumer_events\":%llu,"
        "\"slow\":{\"close\":",
        (unsigned long long)SUM(conns), (unsigned long long)snap->max_conns,
        (unsigned long long)SUM(accepted_total), (unsigned long long)snap->published[PUB_HTTP],
        (unsigned long long)snap->published[PUB_TICK], (unsigned long long)SUM(deliveries),
        (unsigned long long)SUM(bytes_sent), (unsigned long long)SUM(messages_in),
        (unsigned long long)SUM(queued_bytes),
        (unsigned long long)(SUM(slow_close) + SUM(slow_drop) + SUM(slow_latest)));
    strbuf_printf(&b, "%llu,\"drop\":%llu,\"latest\":%llu},", (unsigned long long)SUM(slow_close),
                  (unsigned long long)SUM(slow_drop), (unsigned long long)SUM(slow_latest));
    strbuf_printf(&b,
                  "\"auth\":{\"accepted\":%llu,\"expired\":%llu,\"disconnected_by_api\":%llu,"
                  "\"refused\":{",
                  (unsigned long long)SUM(auth_accepted), (unsigned long long)SUM(auth_expired),
                  (unsigned long long)SUM(api_disconnects));
    for (int k = AUTH_OK + 1; k < AUTH_REASON_COUNT; k++)
        strbuf_printf(&b, "%s\"%s\":%llu", k > 1 ? "," : "", auth_reason_label(k),
                      (unsigned long long)SUM(auth_refused[k]));
    strbuf_printf(&b, "}},");
    strbuf_printf(&b,
                  "\"transports\":{\"ws\":{\"connections\":%llu,\"deliveries\":%llu},"
                  "\"sse\":{\"connections\":%llu,\"deliveries\":%llu}},",
                  (unsigned long long)(SUM(conns) - SUM(sse_conns)),
                  (unsigned long long)(SUM(deliveries) - SUM(sse_deliveries)),
                  (unsigned long long)SUM(sse_conns), (unsigned long long)SUM(sse_deliveries));
    strbuf_printf(
        &b,
        "\"fanout_avg_ms\":%.3f,\"ring\":{\"size\":%zu,\"head_seq\":%llu,\"bytes_written\":%llu,"
        "\"max_entry\":%zu,\"lost\":%llu,\"lapped_closes\":%llu,\"recovered\":%llu}}\n",
        SUM(fanout_count) ? (double)SUM(fanout_sum_ns) / (double)SUM(fanout_count) / 1e6 : 0.0,
        snap->ring_size_bytes, (unsigned long long)snap->ring_head_seq,
        (unsigned long long)snap->ring_written, snap->ring_max_entry,
        (unsigned long long)SUM(ring_lost), (unsigned long long)SUM(lapped_closes),
        (unsigned long long)SUM(ring_recovered));
    return b.len;
}

size_t prom_stats_json(struct node *n, char *out, size_t cap)
{
    struct snapshot snap;
    take(n, false, &snap);
    return render_stats(&snap, out, cap);
}

size_t prom_live_json(struct node *node, char *out, size_t cap)
{
    struct snapshot sn, *snap = &sn;
    take(node, true, snap);
    /* the /stats object, reopened before its closing brace */
    size_t n = render_stats(snap, out, cap);
    while (n && out[n - 1] != '}')
        n--;
    if (!n || n + 1 >= cap)
        return render_stats(snap, out, cap);
    n--;
    struct strbuf b; /* appends after out[0..n) */
    strbuf_init(&b, out + n, cap - n);
    const struct sysstat *s = snap->sys;
    uint64_t conns = SUM(conns);
    /* raw fan-out sums: the dashboard charts the average per interval */
    strbuf_printf(&b, ",\"fanout\":{\"count\":%llu,\"sum_ms\":%.3f}",
                  (unsigned long long)SUM(fanout_count), (double)SUM(fanout_sum_ns) / 1e6);
    strbuf_printf(&b, ",\"rss_bytes\":%llu,\"rss_procs\":%u", (unsigned long long)s->rss_bytes,
                  s->nprocs);
    if (!isnan(snap->user_bytes_per_conn))
        strbuf_printf(&b, ",\"user_bytes_per_conn\":%.1f", snap->user_bytes_per_conn);
    else
        strbuf_printf(&b, ",\"user_bytes_per_conn\":null");
    uint64_t kbytes = s->tcp_mem_pages * s->page_bytes;
    strbuf_printf(&b, ",\"kernel_socket_bytes\":%llu", (unsigned long long)kbytes);
    if (conns && s->sockstat_ok)
        strbuf_printf(&b, ",\"kernel_bytes_per_conn\":%.1f", (double)kbytes / (double)conns);
    else
        strbuf_printf(&b, ",\"kernel_bytes_per_conn\":null");
    strbuf_printf(
        &b,
        ",\"sockstat\":{\"ok\":%s,\"tcp_inuse\":%llu,\"tcp6_inuse\":%llu,\"tcp_orphan\":%llu,"
        "\"tcp_tw\":%llu,\"tcp_alloc\":%llu,\"tcp_mem_pages\":%llu,\"page_bytes\":%llu}",
        s->sockstat_ok ? "true" : "false", (unsigned long long)s->tcp_inuse,
        (unsigned long long)s->tcp6_inuse, (unsigned long long)s->tcp_orphan,
        (unsigned long long)s->tcp_tw, (unsigned long long)s->tcp_alloc,
        (unsigned long long)s->tcp_mem_pages, (unsigned long long)s->page_bytes);
    strbuf_printf(&b, ",\"tcp_states\":{");
    for (unsigned k = 1; k < SYSSTAT_TCP_STATES; k++)
        strbuf_printf(&b, "%s\"%s\":%llu", k > 1 ? "," : "", sysstat_tcp_state_name(k),
                      (unsigned long long)s->states[k]);
    uint64_t now = clock_mono_ms();
    strbuf_printf(
        &b,
        "},\"tcp_states_source\":\"%s\",\"tcp_states_age_ms\":%lld,\"tcp_states_cost_ms\":%.3f,"
        "\"sys_sample_age_ms\":%llu,\"sys_sample_cost_ms\":%.3f}\n",
        s->states_src, s->states_taken_ms ? (long long)(now - s->states_taken_ms) : -1LL,
        (double)s->states_cost_us / 1000.0, (unsigned long long)(now - s->taken_ms),
        (double)s->cost_us / 1000.0);
    if (b.truncated)
        return render_stats(snap, out, cap); /* never send a cut object */
    return n + b.len;
}
