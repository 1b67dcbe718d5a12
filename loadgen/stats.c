/* stats.c - cause tables, merging child records, formatting (see stats.h).
 *
 * Pure: no I/O. The cause tables are fixed so every record has one size. */
#include "stats.h"

#include <errno.h>
#include <stdio.h>

static const char *const ce_names[CE_MAX] = {
    "ECONNREFUSED", "ETIMEDOUT",     "EADDRNOTAVAIL",  "EADDRINUSE",
    "ECONNRESET",   "EMFILE/ENFILE", "ENOBUFS/ENOMEM", "EHOSTUNREACH/ENETUNREACH",
    "other"};
static const char *const hs_names[HS_MAX] = {"HTTP 400",
                                             "HTTP 401",
                                             "HTTP 403",
                                             "HTTP 404",
                                             "HTTP 426",
                                             "HTTP 429",
                                             "HTTP 500",
                                             "HTTP 503",
                                             "HTTP other",
                                             "bad Sec-WebSocket-Accept",
                                             "malformed response",
                                             "response too big",
                                             "handshake timeout",
                                             "closed before response",
                                             "reset before response",
                                             "request not written",
                                             "permessage-deflate answer refused"};
static const char *const dc_names[DC_MAX] = {"1000 normal",
                                             "1001 going away",
                                             "1002 protocol error",
                                             "1003 unsupported",
                                             "1006 abnormal (no close frame)",
                                             "1007 invalid data",
                                             "1008 policy",
                                             "1009 too big",
                                             "1011 internal error",
                                             "1012 restart",
                                             "1013 try later",
                                             "other code",
                                             "server protocol violation (we closed)"};
static const char *const tls_names[TLSF_MAX] = {"TLS certificate verify failed",
                                                "TLS handshake: alert or protocol error",
                                                "TLS handshake: closed by the server",
                                                "TLS handshake: reset or socket error",
                                                "TLS handshake timeout",
                                                "TLS setup failed (memory)",
                                                "TLS error on an open connection",
                                                "TLS write blocked (connection dropped)"};

const char *bench_ce_name(int i)
{
    return i >= 0 && i < CE_MAX ? ce_names[i] : "?";
}
const char *bench_hs_name(int i)
{
    return i >= 0 && i < HS_MAX ? hs_names[i] : "?";
}
const char *bench_dc_name(int i)
{
    return i >= 0 && i < DC_MAX ? dc_names[i] : "?";
}
const char *bench_tls_name(int i)
{
    return i >= 0 && i < TLSF_MAX ? tls_names[i] : "?";
}

int bench_ce_from_errno(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return CE_REFUSED;
    case ETIMEDOUT:
        return CE_TIMEDOUT;
    case EADDRNOTAVAIL:
        return CE_ADDRNOTAVAIL;
    case EADDRINUSE:
        return CE_ADDRINUSE;
    case ECONNRESET:
        return CE_RESET;
    case EMFILE:
    case ENFILE:
        return CE_NOFILE;
    case ENOBUFS:
    case ENOMEM:
        return CE_NOBUFS;
    case EHOSTUNREACH:
    case ENETUNREACH:
        return CE_UNREACH;
    default:
        return CE_OTHER;
    }
}

int bench_hs_from_status(int status)
{
    switch (status) {
    case 400:
        return HS_400;
    case 401:
        return HS_401;
    case 403:
        return HS_403;
    case 404:
        return HS_404;
    case 426:
        return HS_426;
    case 429:
        return HS_429;
    case 500:
        return HS_500;
    case 503:
        return HS_503;
    default:
        return HS_STATUS_OTHER;
    }
}

int bench_dc_from_code(unsigned code)
{
    switch (code) {
    case 1000:
        return DC_1000;
    case 1001:
        return DC_1001;
    case 1002:
        return DC_1002;
    case 1003:
        return DC_1003;
    case 1005:
        return DC_OTHER;
    case 1006:
        return DC_1006;
    case 1007:
        return DC_1007;
    case 1008:
        return DC_1008;
    case 1009:
        return DC_1009;
    case 1011:
        return DC_1011;
    case 1012:
        return DC_1012;
    case 1013:
        return DC_1013;
    default:
        return DC_OTHER;
    }
}

uint64_t bench_rec_errors(const struct bench_rec *r)
{
    uint64_t n = 0;
    for (int i = 0; i < CE_MAX; i++)
        n += r->ce[i];
    for (int i = 0; i < HS_MAX; i++)
        n += r->hs[i];
    for (int i = 0; i < TLSF_MAX; i++)
        n += r->tls[i];
    return n;
}

uint64_t bench_rec_disconnects(const struct bench_rec *r)
{
    uint64_t n = 0;
    for (int i = 0; i < DC_MAX; i++)
        n += r->dc[i];
    return n;
}

void bench_point_add(struct bench_point *p, const struct bench_rec *r)
{
    p->reported++;
    p->open += r->open;
    p->open_min += r->open_min;
    p->inflight += r->inflight;
    p->established += r->established;
    p->msgs += r->msgs;
    p->bytes += r->bytes;
    p->no_ts += r->no_ts;
    p->pings += r->pings;
    p->send_drops += r->send_drops;
    p->echo_sent += r->echo_sent;
    p->churned += r->churned;
    p->hs_us_sum += r->hs_us_sum;
    if (r->hs_us_max > p->hs_us_max)
        p->hs_us_max = r->hs_us_max;
    p->cpu_us += r->cpu_us;
    p->bench_rss_kb += r->rss_anon_kb;
    p->bench_rss_base_kb += r->rss_base_kb;
    p->errors += bench_rec_errors(r);
    p->disconnects += bench_rec_disconnects(r);
    if (p->reported == 1)
        hist_sec_init(&p->lat);
    hist_sec_add(&p->lat, &r->lat);
}

void bench_totals_add(struct bench_totals *t, const struct bench_rec *r, bool measured)
{
    t->established += r->established;
    if (r->first_try_us && (!t->first_try_us || r->first_try_us < t->first_try_us))
        t->first_try_us = r->first_try_us;
    if (r->last_est_us > t->last_est_us)
        t->last_est_us = r->last_est_us;
    t->msgs += r->msgs;
    t->bytes += r->bytes;
    t->no_ts += r->no_ts;
    t->pings += r->pings;
    t->send_drops += r->send_drops;
    t->echo_sent += r->echo_sent;
    t->churned += r->churned;
    t->closed_clean += r->closed_clean;
    t->tls_handovers += r->tls_handovers;
    t->close_timeouts += r->close_timeouts;
    t->hs_us_sum += r->hs_us_sum;
    if (r->hs_us_max > t->hs_us_max)
        t->hs_us_max = r->hs_us_max;
    t->cpu_us += r->cpu_us;
    for (int i = 0; i < CE_MAX; i++)
        t->ce[i] += r->ce[i];
    for (int i = 0; i < HS_MAX; i++)
        t->hs[i] += r->hs[i];
    for (int i = 0; i < DC_MAX; i++)
        t->dc[i] += r->dc[i];
    for (int i = 0; i < TLSF_MAX; i++)
        t->tls[i] += r->tls[i];
    bench_deflate_add(&t->dfl, &r->dfl);
    t->msgs_unplaced += r->msgs_unplaced;
    if (measured)
        hist_add_sec(&t->lat, &r->lat);
}

void bench_deflate_add(struct bench_deflate *t, const struct bench_deflate *r)
{
    t->accepted += r->accepted;
    t->declined += r->declined;
    t->wire_bytes += r->wire_bytes;
    t->msg_bytes += r->msg_bytes;
    t->msgs += r->msgs;
}

double bench_deflate_ratio(const struct bench_deflate *d)
{
    return d->msg_bytes ? (double)d->wire_bytes / (double)d->msg_bytes : 0.0;
}

void bench_point_finish(struct bench_point *p)
{
    p->lat_p50 = hist_sec_quantile(&p->lat, 0.50);
    p->lat_p90 = hist_sec_quantile(&p->lat, 0.90);
    p->lat_p99 = hist_sec_quantile(&p->lat, 0.99);
    p->lat_p999 = hist_sec_quantile(&p->lat, 0.999);
    p->lat_max = p->lat.n ? p->lat.max_us : 0;
}

const char *bench_fmt_us(uint64_t us, char *out)
{
    if (us < 1000)
        snprintf(out, 16, "%uus", (unsigned)us);
    else if (us < 1000000)
        snprintf(out, 16, "%.2fms", (double)us / 1e3);
    else
        snprintf(out, 16, "%.2fs", (double)us / 1e6);
    return out;
}
