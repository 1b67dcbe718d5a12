/* report.c - summary text, JSON and HTML for a finished run (see report.h).
 *
 * The HTML page is self-contained: styles inline, charts drawn here as
 * inline SVG polylines, no script and nothing fetched, so it opens offline
 * and can be attached to an issue as one file. */
#include "core/json.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void list_causes(FILE *f, const uint64_t *v, int n, const char *(*name)(int))
{
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (!v[i])
            continue;
        fprintf(f, "%s%s %llu", any ? ", " : "", name(i), (unsigned long long)v[i]);
        any = true;
    }
    if (!any)
        fprintf(f, "none");
    fputc('\n', f);
}

void report_summary(FILE *f, const struct bench_result *r)
{
    const struct bench_totals *t = r->tot;
    const struct bench_opts *o = r->o;
    char a[16], b[16], c[16], d[16], e[16], g[16];
    fprintf(f, "== wspush-bench summary%s%s ==\n", o->label ? ": " : "", o->label ? o->label : "");
    fprintf(f, "target          %s  (%u processes%s)\n", o->url, o->procs,
            o->echo               ? ", echo"
            : o->publish_rate > 0 ? ", publish"
                                  : "");
    fprintf(f,
            "connections     target %llu, open at end %llu, peak %llu; handshakes %llu "
            "(avg %s, max %s)\n",
            (unsigned long long)o->conns, (unsigned long long)r->open_end,
            (unsigned long long)r->peak_open, (unsigned long long)t->established,
            bench_fmt_us(t->established ? t->hs_us_sum / t->established : 0, a),
            bench_fmt_us(t->hs_us_max, b));
    if (t->established && t->last_est_us > t->first_try_us) {
        /* with --rate above what the server can take, the server's rate */
        double span_s = (double)(t->last_est_us - t->first_try_us) / 1e6;
        fprintf(f, "handshake rate  %.0f/s (%llu established %.3f s after the first attempt)\n",
                (double)t->established / span_s, (unsigned long long)t->established, span_s);
    }
    fprintf(f, "measured        seconds %u..%u (%u s)%s\n", r->warmup_s, r->end_s,
            r->end_s > r->warmup_s ? r->end_s - r->warmup_s : 0,
            r->interrupted ? "  [interrupted]" : "");
    fprintf(f, "messages        %llu received in the window (%llu in all), %llu expected",
            (unsigned long long)r->msgs_measured, (unsigned long long)t->msgs,
            (unsigned long long)r->expected_measured);
    if (r->ratio >= 0)
        fprintf(f, ", delivery ratio %.4f\n", r->ratio);
    else
        fprintf(f, ", delivery ratio n/a\n");
    if (r->end_s > r->warmup_s)
        fprintf(f, "throughput      %.0f messages/s\n",
                (double)r->msgs_measured / (double)(r->end_s - r->warmup_s));
    fprintf(f, "latency         p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n %llu, mean %s)\n",
            bench_fmt_us(hist_quantile(&r->lat, 0.5), a),
            bench_fmt_us(hist_quantile(&r->lat, 0.9), b),
            bench_fmt_us(hist_quantile(&r->lat, 0.99), c),
            bench_fmt_us(hist_quantile(&r->lat, 0.999), d), bench_fmt_us(r->lat.max_us, e),
            (unsigned long long)r->lat.n, bench_fmt_us(r->lat.n ? r->lat.sum_us / r->lat.n : 0, g));
    if (t->no_ts)
        fprintf(f, "no timestamp    %llu messages\n", (unsigned long long)t->no_ts);
    if (t->msgs_unplaced)
        fprintf(f, "unplaced        %llu messages sent before the run or > %d s before arrival\n",
                (unsigned long long)t->msgs_unplaced, BENCH_LAGS);
    fprintf(f, "connect errors  ");
    list_causes(f, t->ce, CE_MAX, bench_ce_name);
    fprintf(f, "handshake fails ");
    list_causes(f, t->hs, HS_MAX, bench_hs_name);
    if (o->tls) {
        fprintf(f, "tls failures    ");
        list_causes(f, t->tls, TLSF_MAX, bench_tls_name);
    }
    if (o->deflate)
        fprintf(f,
                "deflate         %llu accepted, %llu declined; compressing connections read "
                "%llu bytes for %llu message bytes (ratio %.3f)\n",
                (unsigned long long)t->dfl.accepted, (unsigned long long)t->dfl.declined,
                (unsigned long long)t->dfl.wire_bytes, (unsigned long long)t->dfl.msg_bytes,
                bench_deflate_ratio(&t->dfl));
    fprintf(f, "disconnects     ");
    list_causes(f, t->dc, DC_MAX, bench_dc_name);
    fprintf(f,
            "closing         %llu clean, %llu timed out; pings answered %llu; dropped "
            "small writes %llu%s",
            (unsigned long long)t->closed_clean, (unsigned long long)t->close_timeouts,
            (unsigned long long)t->pings, (unsigned long long)t->send_drops,
            o->churn_pct > 0 ? "" : "\n");
    if (o->churn_pct > 0)
        fprintf(f, "; churned %llu\n", (unsigned long long)t->churned);
    if (r->killed)
        fprintf(f,
                "stragglers      %u of %u processes killed at the deadline (their close "
                "counts are missing)\n",
                r->killed, o->procs);
    fprintf(f, "bench cpu       %.1f s over %.1f s wall (%.0f%% of one core)\n", r->bench_cpu_s,
            r->wall_s, r->wall_s > 0 ? 100 * r->bench_cpu_s / r->wall_s : 0);
    if (r->bench_us_per_msg >= 0)
        fprintf(f, "                %.2f CPU-s in the window: %.2f µs per delivery\n",
                r->bench_cpu_window_s, r->bench_us_per_msg);
    if (r->bench_rss_per_conn_b >= 0)
        fprintf(f,
                "bench memory    %.1f MB anon RSS in %u processes: %.0f B per open connection "
                "beyond its %zu-byte slot%s\n",
                (double)r->bench_rss_kb / 1024, o->procs, r->bench_rss_per_conn_b,
                bench_slot_bytes(o), o->tls ? " (TLS)" : "");
    if (r->have_pub)
        fprintf(f,
                "publish         sent %llu, acked %llu, failed %llu (last status %d), "
                "skipped %llu, connect failures %llu\n",
                (unsigned long long)r->pub.sent, (unsigned long long)r->pub.acked,
                (unsigned long long)r->pub.failed, r->pub.last_status,
                (unsigned long long)r->pub.skipped, (unsigned long long)r->pub.connect_failures);
    if (r->have_srv) {
        fprintf(f, "server          %u processes, %.2f CPU-s in the window", r->srv_procs,
                r->srv_cpu_s);
        if (r->srv_cpu_per_m >= 0)
            fprintf(f, ", %.3f CPU-s per million deliveries", r->srv_cpu_per_m);
        fprintf(f, "\n                anon RSS %.1f MB (%.1f MB at start): %.0f B per connection\n",
                (double)r->srv_rss_kb / 1024, (double)r->srv_rss_kb_start / 1024,
                r->srv_rss_per_conn_b);
        fprintf(f,
                "kernel          TCP socket memory %.0f B per connection, slab +%.0f B per "
                "connection (both loopback ends)\n",
                r->tcp_mem_per_conn_b, r->slab_per_conn_b);
    }
    if (o->assert_ratio >= 0)
        fprintf(f, "check           delivery ratio >= %g: %s\n", o->assert_ratio,
                r->ratio_failed ? "FAIL" : "pass");
    if (o->assert_no_errors)
        fprintf(f, "check           no errors or unexpected disconnects: %s\n",
                r->errors_failed ? "FAIL" : "pass");
    fflush(f);
}

/* ---- JSON ---- */

/* JSON strings go through core/json.h; a missing string is written "". */
static void json_str(FILE *f, const char *s)
{
    json_write_str(f, s ? s : "");
}

static void json_causes(FILE *f, const char *key, const uint64_t *v, int n,
                        const char *(*name)(int))
{
    fprintf(f, "  \"%s\": {", key);
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (!v[i])
            continue;
        fprintf(f, "%s", any ? ", " : "");
        json_str(f, name(i));
        fprintf(f, ": %llu", (unsigned long long)v[i]);
        any = true;
    }
    fprintf(f, "},\n");
}

int report_json(const char *path, const struct bench_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    const struct bench_totals *t = r->tot;
    const struct bench_opts *o = r->o;
    fprintf(f, "{\n  \"tool\": \"wspush-bench\",\n  \"label\": ");
    json_str(f, o->label ? o->label : "");
    fprintf(f, ",\n  \"url\": ");
    json_str(f, o->url);
    fprintf(f, ",\n  \"time\": %lld,\n", (long long)time(NULL));
    fprintf(f, "  \"mode\": \"%s\",\n",
            o->echo               ? "echo"
            : o->publish_rate > 0 ? "publish"
                                  : "subscribe");
    fprintf(f, "  \"conns_target\": %llu,\n  \"procs\": %u,\n  \"rate\": %.1f,\n",
            (unsigned long long)o->conns, o->procs, o->rate);
    fprintf(f, "  \"duration_s\": %.3f,\n  \"warmup_s\": %.3f,\n  \"expect_rate\": %g,\n",
            (double)o->duration_ms / 1000, (double)o->warmup_ms / 1000, o->expect_rate);
    fprintf(f, "  \"publish_rate\": %g,\n  \"churn_pct\": %g,\n  \"src_addresses\": %u,\n",
            o->publish_rate, o->churn_pct, o->have_src ? o->src.count : 0);
    fprintf(f, "  \"killed_procs\": %u,\n", r->killed);
    fprintf(f, "  \"interrupted\": %s,\n  \"measured_from_s\": %u,\n  \"measured_to_s\": %u,\n",
            r->interrupted ? "true" : "false", r->warmup_s, r->end_s);
    fprintf(f, "  \"open_end\": %llu,\n  \"peak_open\": %llu,\n  \"established\": %llu,\n",
            (unsigned long long)r->open_end, (unsigned long long)r->peak_open,
            (unsigned long long)t->established);
    fprintf(f, "  \"handshake_us_avg\": %llu,\n  \"handshake_us_max\": %llu,\n",
            (unsigned long long)(t->established ? t->hs_us_sum / t->established : 0),
            (unsigned long long)t->hs_us_max);
    fprintf(f, "  \"messages_total\": %llu,\n  \"messages_measured\": %llu,\n",
            (unsigned long long)t->msgs, (unsigned long long)r->msgs_measured);
    fprintf(f, "  \"expected_measured\": %llu,\n", (unsigned long long)r->expected_measured);
    if (r->ratio >= 0)
        fprintf(f, "  \"delivery_ratio\": %.6f,\n", r->ratio);
    else
        fprintf(f, "  \"delivery_ratio\": null,\n");
    fprintf(f, "  \"messages_per_s\": %.1f,\n",
            r->end_s > r->warmup_s ? (double)r->msgs_measured / (double)(r->end_s - r->warmup_s)
                                   : 0.0);
    fprintf(f, "  \"bytes_total\": %llu,\n  \"no_timestamp\": %llu,\n",
            (unsigned long long)t->bytes, (unsigned long long)t->no_ts);
    fprintf(f,
            "  \"latency_us\": {\"n\": %llu, \"mean\": %llu, \"min\": %llu, \"p50\": %llu, "
            "\"p90\": %llu, \"p99\": %llu, \"p999\": %llu, \"max\": %llu},\n",
            (unsigned long long)r->lat.n,
            (unsigned long long)(r->lat.n ? r->lat.sum_us / r->lat.n : 0),
            (unsigned long long)(r->lat.n ? r->lat.min_us : 0),
            (unsigned long long)hist_quantile(&r->lat, 0.5),
            (unsigned long long)hist_quantile(&r->lat, 0.9),
            (unsigned long long)hist_quantile(&r->lat, 0.99),
            (unsigned long long)hist_quantile(&r->lat, 0.999), (unsigned long long)r->lat.max_us);
    json_causes(f, "connect_errors", t->ce, CE_MAX, bench_ce_name);
    json_causes(f, "handshake_failures", t->hs, HS_MAX, bench_hs_name);
    json_causes(f, "disconnects", t->dc, DC_MAX, bench_dc_name);
    json_causes(f, "tls_failures", t->tls, TLSF_MAX, bench_tls_name);
    fprintf(f, "  \"tls_handovers\": %llu,\n", (unsigned long long)t->tls_handovers);
    fprintf(f, "  \"closed_clean\": %llu,\n  \"close_timeouts\": %llu,\n  \"pings\": %llu,\n",
            (unsigned long long)t->closed_clean, (unsigned long long)t->close_timeouts,
            (unsigned long long)t->pings);
    fprintf(f, "  \"send_drops\": %llu,\n  \"echo_sent\": %llu,\n  \"churned\": %llu,\n",
            (unsigned long long)t->send_drops, (unsigned long long)t->echo_sent,
            (unsigned long long)t->churned);
    fprintf(f, "  \"bench_cpu_s\": %.3f,\n  \"wall_s\": %.3f,\n", r->bench_cpu_s, r->wall_s);
    fprintf(f, "  \"bench_cpu_window_s\": %.3f,\n", r->bench_cpu_window_s);
    if (r->bench_us_per_msg >= 0)
        fprintf(f, "  \"bench_us_per_msg\": %.3f,\n", r->bench_us_per_msg);
    else
        fprintf(f, "  \"bench_us_per_msg\": null,\n");
    fprintf(f, "  \"tls\": %s,\n  \"bench_rss_kb\": %llu,\n", o->tls ? "true" : "false",
            (unsigned long long)r->bench_rss_kb);
    if (o->deflate) {
        const struct bench_deflate *df = &t->dfl;
        fprintf(f,
                "  \"deflate\": {\"accepted\": %llu, \"declined\": %llu, \"msgs\": %llu, "
                "\"wire_bytes\": %llu, \"inflated_bytes\": %llu, \"ratio\": ",
                (unsigned long long)df->accepted, (unsigned long long)df->declined,
                (unsigned long long)df->msgs, (unsigned long long)df->wire_bytes,
                (unsigned long long)df->msg_bytes);
        if (df->msg_bytes)
            fprintf(f, "%.4f},\n", bench_deflate_ratio(df));
        else
            fprintf(f, "null},\n");
    } else {
        fprintf(f, "  \"deflate\": null,\n");
    }
    if (r->bench_rss_per_conn_b >= 0)
        fprintf(f, "  \"bench_rss_per_conn_b\": %.1f,\n", r->bench_rss_per_conn_b);
    else
        fprintf(f, "  \"bench_rss_per_conn_b\": null,\n");
    if (r->have_pub)
        fprintf(f,
                "  \"publish\": {\"sent\": %llu, \"acked\": %llu, \"failed\": %llu, "
                "\"skipped\": %llu, \"connect_failures\": %llu},\n",
                (unsigned long long)r->pub.sent, (unsigned long long)r->pub.acked,
                (unsigned long long)r->pub.failed, (unsigned long long)r->pub.skipped,
                (unsigned long long)r->pub.connect_failures);
    if (r->have_srv)
        fprintf(f,
                "  \"server\": {\"procs\": %u, \"cpu_s\": %.3f, \"cpu_s_per_million\": %.4f, "
                "\"rss_kb\": %llu, \"rss_kb_start\": %llu, \"rss_per_conn_b\": %.1f, "
                "\"tcp_mem_per_conn_b\": %.1f, \"slab_per_conn_b\": %.1f},\n",
                r->srv_procs, r->srv_cpu_s, r->srv_cpu_per_m, (unsigned long long)r->srv_rss_kb,
                (unsigned long long)r->srv_rss_kb_start, r->srv_rss_per_conn_b,
                r->tcp_mem_per_conn_b, r->slab_per_conn_b);
    fprintf(f, "  \"checks\": {\"ratio_failed\": %s, \"errors_failed\": %s},\n",
            r->ratio_failed ? "true" : "false", r->errors_failed ? "true" : "false");
    fprintf(f, "  \"series\": [\n");
    for (uint32_t s = 0; s < r->n_pts; s++) {
        const struct bench_point *p = &r->pts[s];
        fprintf(f,
                "    {\"t\": %u, \"open\": %u, \"open_min\": %u, \"inflight\": %u, "
                "\"established\": %llu, \"msgs\": %llu, \"msgs_by_send\": %llu, "
                "\"expected\": %llu, \"errors\": %llu, "
                "\"disconnects\": %llu, \"p50_us\": %llu, \"p90_us\": %llu, \"p99_us\": %llu, "
                "\"p999_us\": %llu, \"max_us\": %llu, \"bench_cpu_s\": %.3f, "
                "\"server_cpu_s\": %.3f, \"server_rss_kb\": %llu, \"published\": %llu}%s\n",
                s + 1, p->open, p->open_min, p->inflight, (unsigned long long)p->established,
                (unsigned long long)p->msgs, (unsigned long long)p->msgs_sent,
                (unsigned long long)p->expected, (unsigned long long)p->errors,
                (unsigned long long)p->disconnects, (unsigned long long)p->lat_p50,
                (unsigned long long)p->lat_p90, (unsigned long long)p->lat_p99,
                (unsigned long long)p->lat_p999, (unsigned long long)p->lat_max,
                (double)p->cpu_us / 1e6, p->srv_cpu_s, (unsigned long long)p->srv_rss_kb,
                (unsigned long long)p->published, s + 1 < r->n_pts ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    int err = ferror(f) ? -EIO : 0;
    if (fclose(f) != 0 && !err)
        err = -errno;
    return err;
}

/* ---- HTML with inline SVG ---- */

#define CH_W 860
#define CH_H 260
#define CH_L 70 /* left margin for labels */
#define CH_B 30
#define CH_T 30

static void html_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

static double nice_ceil(double v)
{
    if (v <= 0)
        return 1;
    double m = pow(10, floor(log10(v)));
    for (int i = 0; i < 4; i++) {
        static const double steps[] = {1, 2, 5, 10};
        if (v <= steps[i] * m)
            return steps[i] * m;
    }
    return 10 * m;
}

/* One chart: n points for each of k series; log_y for latency (values in
 * ms, axis from 0.01 ms). unit: shown after axis labels. */
static void svg_chart(FILE *f, const char *title, const char *unit, uint32_t n, int k,
                      const double *const *vals, const char *const *names,
                      const char *const *colors, bool log_y, uint32_t warmup_s)
{
    double maxv = 0;
    for (int j = 0; j < k; j++)
        for (uint32_t i = 0; i < n; i++)
            if (vals[j][i] > maxv)
                maxv = vals[j][i];
    double lo = 0, hi = nice_ceil(maxv);
    if (log_y) {
        lo = log10(0.01);
        hi = log10(nice_ceil(maxv > 0.01 ? maxv : 0.01));
        if (hi <= lo)
            hi = lo + 1;
    }
    int pw = CH_W - CH_L - 20, ph = CH_H - CH_T - CH_B;
    fprintf(f, "<h2>");
    html_esc(f, title);
    fprintf(f,
            "</h2>\n<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
            "viewBox='0 0 %d %d' font-family='sans-serif' font-size='11'>\n",
            CH_W, CH_H, CH_W, CH_H);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='#fafafa' stroke='#ccc'/>\n", CH_L,
            CH_T, pw, ph);
    if (n > 1 && warmup_s > 0 && warmup_s < n) {
        double wx = CH_L + (double)pw * warmup_s / (double)(n - 1);
        fprintf(f,
                "<rect x='%d' y='%d' width='%.1f' height='%d' fill='#eee'/>"
                "<text x='%d' y='%d' fill='#999'>warmup</text>\n",
                CH_L, CH_T, wx - CH_L, ph, CH_L + 4, CH_T + 12);
    }
    int ticks = log_y ? (int)llround(hi - lo) : 5;
    for (int t = 0; t <= ticks; t++) {
        double y = CH_T + ph - (double)ph * t / ticks;
        double v = log_y ? pow(10, lo + t) : hi * t / ticks;
        fprintf(f, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/>", CH_L, CH_L + pw, y,
                y);
        fprintf(f, "<text x='%d' y='%.1f' text-anchor='end'>%g%s</text>\n", CH_L - 4, y + 4, v,
                unit);
    }
    uint32_t xstep = n > 10 ? (uint32_t)nice_ceil((double)n / 10) : 1;
    for (uint32_t i = 0; i < n; i += xstep) {
        double x = CH_L + (n > 1 ? (double)pw * i / (double)(n - 1) : 0);
        fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle'>%us</text>", x, CH_H - 10, i + 1);
    }
    for (int j = 0; j < k; j++) {
        fprintf(f, "\n<polyline fill='none' stroke='%s' stroke-width='1.5' points='", colors[j]);
        for (uint32_t i = 0; i < n; i++) {
            double v = vals[j][i];
            double fy;
            if (log_y)
                fy = v > 0 ? (log10(v < 0.01 ? 0.01 : v) - lo) / (hi - lo) : 0;
            else
                fy = v / hi;
            double x = CH_L + (n > 1 ? (double)pw * i / (double)(n - 1) : 0);
            fprintf(f, "%.1f,%.1f ", x, CH_T + ph - ph * fy);
        }
        fprintf(f,
                "'/>\n<rect x='%d' y='8' width='12' height='4' fill='%s'/>"
                "<text x='%d' y='14'>%s</text>",
                CH_L + 10 + j * 130, colors[j], CH_L + 26 + j * 130, names[j]);
    }
    fprintf(f, "\n</svg>\n");
}

int report_html(const char *path, const struct bench_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    uint32_t n = r->n_pts;
    double *buf = calloc((size_t)(n ? n : 1) * 8, sizeof *buf);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    double *open = buf, *msgs = buf + n, *exp = buf + 2 * n, *p50 = buf + 3 * n, *p90 = buf + 4 * n,
           *p99 = buf + 5 * n, *pmax = buf + 6 * n, *errs = buf + 7 * n;
    for (uint32_t i = 0; i < n; i++) {
        const struct bench_point *p = &r->pts[i];
        open[i] = p->open;
        msgs[i] = (double)p->msgs;
        exp[i] = (double)p->expected;
        p50[i] = (double)p->lat_p50 / 1000;
        p90[i] = (double)p->lat_p90 / 1000;
        p99[i] = (double)p->lat_p99 / 1000;
        pmax[i] = (double)p->lat_max / 1000;
        errs[i] = (double)(p->errors + p->disconnects);
    }
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>wspush-bench ");
    html_esc(f, r->o->label ? r->o->label : r->o->url);
    fprintf(f, "</title>\n<style>body{font-family:sans-serif;margin:2em;color:#222}"
               "pre{background:#f4f4f4;padding:1em;overflow:auto}h2{font-size:1.1em;"
               "margin-top:1.5em}</style></head><body>\n<h1>wspush-bench report</h1>\n<pre>");
    /* The same summary the terminal shows, escaped. */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m) {
        report_summary(m, r);
        fclose(m);
        html_esc(f, text);
        free(text);
    }
    fprintf(f, "</pre>\n");
    {
        const double *v[] = {open};
        const char *nm[] = {"open connections"}, *co[] = {"#1f77b4"};
        svg_chart(f, "Connections", "", n, 1, v, nm, co, false, r->warmup_s);
    }
    {
        const double *v[] = {msgs, exp};
        const char *nm[] = {"received/s", "expected/s"}, *co[] = {"#2ca02c", "#999"};
        svg_chart(f, "Deliveries per second", "", n, 2, v, nm, co, false, r->warmup_s);
    }
    {
        const double *v[] = {p50, p90, p99, pmax};
        const char *nm[] = {"p50", "p90", "p99", "max"},
                   *co[] = {"#2ca02c", "#1f77b4", "#ff7f0e", "#d62728"};
        svg_chart(f, "Latency per second (ms, log scale)", "ms", n, 4, v, nm, co, true,
                  r->warmup_s);
    }
    {
        const double *v[] = {errs};
        const char *nm[] = {"errors + disconnects"}, *co[] = {"#d62728"};
        svg_chart(f, "Errors and unexpected disconnects per second", "", n, 1, v, nm, co, false,
                  r->warmup_s);
    }
    fprintf(f, "</body></html>\n");
    free(buf);
    int err = ferror(f) ? -EIO : 0;
    if (fclose(f) != 0 && !err)
        err = -errno;
    return err;
}
