/* sse.c - the Server-Sent Events wire format (see sse.h).
 *
 * What it does not do: sockets, subscriptions, deciding who gets an event
 * (server/sse_conn.c, server/fanout.c). Invariant: encoding never writes
 * past cap and writes exactly sse_event_len() bytes on success; the output
 * parses back (HTML standard §9.2.6) to the same event type, id and data
 * with every line break as LF. */
#include <string.h>

#include "core/err.h"
#include "http/sse.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool field_ok(const char *s, size_t n)
{
    return !memchr(s, '\r', n) && !memchr(s, '\n', n) && !memchr(s, '\0', n);
}

/* Lines in data: breaks are CRLF, CR or LF; a trailing break opens one
 * more (empty) line, so "a\n" is "a" then "" and reads back as "a\n". */
static size_t count_breaks(const uint8_t *d, size_t n)
{
    size_t breaks = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\r') {
            breaks++;
            if (i + 1 < n && d[i + 1] == '\n')
                i++;
        } else if (d[i] == '\n') {
            breaks++;
        }
    }
    return breaks;
}

static size_t event_type_len(size_t event_len, bool binary)
{
    if (binary)
        return (event_len ? event_len : strlen("message")) + strlen(" binary");
    return event_len;
}

size_t sse_event_len(size_t event_len, size_t id_len, const uint8_t *data, size_t n, bool binary)
{
    size_t len = 0;
    size_t et = event_type_len(event_len, binary);
    if (et)
        len += strlen("event: ") + et + 1;
    if (id_len != SSE_NO_ID)
        len += strlen("id: ") + id_len + 1;
    if (binary) {
        len += strlen("data: ") + (n + 2) / 3 * 4 + 1;
    } else {
        size_t lines = count_breaks(data, n) + 1;
        /* every byte but the breaks is copied; each line has its prefix
         * and one LF */
        size_t brk_bytes = 0;
        for (size_t i = 0; i < n; i++)
            brk_bytes += data[i] == '\r' || data[i] == '\n';
        len += n - brk_bytes + lines * (strlen("data: ") + 1);
    }
    return len + 1; /* the blank line that dispatches the event */
}

static uint8_t *put(uint8_t *o, const void *p, size_t n)
{
    memcpy(o, p, n);
    return o + n;
}

static uint8_t *put_base64(uint8_t *o, const uint8_t *d, size_t n)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = (uint8_t)b64[v >> 18];
        *o++ = (uint8_t)b64[(v >> 12) & 63];
        *o++ = (uint8_t)b64[(v >> 6) & 63];
        *o++ = (uint8_t)b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *o++ = (uint8_t)b64[v >> 18];
        *o++ = (uint8_t)b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? (uint8_t)b64[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    return o;
}

ssize_t sse_event_encode(uint8_t *out, size_t cap, const char *event, size_t event_len,
                         const char *id, size_t id_len, const uint8_t *data, size_t n, bool binary)
{
    if (!field_ok(event, event_len) || (id && !field_ok(id, id_len)))
        return WSP_EPROTO;
    size_t total = sse_event_len(event_len, id ? id_len : SSE_NO_ID, data, n, binary);
    if (total > cap)
        return WSP_ETOOBIG;
    uint8_t *o = out;
    if (event_type_len(event_len, binary)) {
        o = put(o, "event: ", 7);
        o = event_len ? put(o, event, event_len) : put(o, "message", 7);
        if (binary)
            o = put(o, " binary", 7);
        *o++ = '\n';
    }
    if (id) {
        o = put(o, "id: ", 4);
        o = put(o, id, id_len);
        *o++ = '\n';
    }
    o = put(o, "data: ", 6);
    if (binary) {
        o = put_base64(o, data, n);
    } else {
        /* §9.2.6: a line ends at CRLF, LF or CR; each becomes its own
         * data line, which the parser joins with LF */
        for (size_t i = 0; i < n; i++) {
            if (data[i] == '\r' || data[i] == '\n') {
                if (data[i] == '\r' && i + 1 < n && data[i + 1] == '\n')
                    i++;
                o = put(o, "\ndata: ", 7);
            } else {
                *o++ = data[i];
            }
        }
    }
    *o++ = '\n';
    *o++ = '\n';
    return o - out;
}

ssize_t sse_preamble(char *out, size_t cap, unsigned retry_ms)
{
    static const char head[] = ": wspush\nretry: ";
    char num[16];
    size_t nl = 0;
    do
        num[nl++] = (char)('0' + retry_ms % 10);
    while ((retry_ms /= 10) && nl < sizeof num);
    size_t total = sizeof head - 1 + nl + 2;
    if (total > cap)
        return WSP_ETOOBIG;
    char *o = out;
    memcpy(o, head, sizeof head - 1);
    o += sizeof head - 1;
    while (nl)
        *o++ = num[--nl];
    *o++ = '\n';
    *o++ = '\n';
    return o - out;
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* One media range's q parameter: false when q is 0 (0, 0.0, 0.00, 0.000). */
static bool q_nonzero(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(p[i]) || p[i] == ';'))
            i++;
        size_t s = i;
        while (i < n && p[i] != ';')
            i++;
        size_t e = i;
        while (e > s && is_ows(p[e - 1]))
            e--;
        if (e - s >= 2 && (p[s] == 'q' || p[s] == 'Q') && p[s + 1] == '=') {
            bool zero = e - s > 2 && p[s + 2] == '0';
            for (size_t k = s + 3; zero && k < e; k++)
                zero = p[k] == '0' || (k == s + 3 && p[k] == '.');
            return !zero;
        }
    }
    return true;
}

bool sse_accepts(const char *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        /* one range: type/subtype[;params] */
        size_t e = s;
        while (e < i && v[e] != ';' && !is_ows(v[e]))
            e++;
        if (http_str_ieq(v + s, e - s, "text/event-stream")) {
            size_t p = e;
            while (p < i && is_ows(v[p]))
                p++;
            if (p == i || v[p] == ';')
                return q_nonzero(v + p, i - p);
        }
    }
    return false;
}

bool sse_is_request(const struct http_req *r)
{
    if (!http_str_ieq(r->method, r->method_len, "GET"))
        return false;
    const struct http_header *a = http_req_header(r, "Accept");
    return a && sse_accepts(a->value, a->value_len);
}

ssize_t sse_last_event_id(const struct http_req *r, char *out, size_t cap)
{
    const struct http_header *h = http_req_header(r, "Last-Event-ID");
    if (h) {
        if (h->value_len > SSE_MAX_ID || h->value_len > cap || !field_ok(h->value, h->value_len))
            return -2;
        memcpy(out, h->value, h->value_len);
        return (ssize_t)h->value_len;
    }
    size_t pos = 0;
    const char *k, *v;
    size_t kl, vl;
    while (r->query && http_query_next(r->query, r->query_len, &pos, &k, &kl, &v, &vl) == 1) {
        if (kl != 11 || memcmp(k, "lastEventId", 11))
            continue;
        if (!v)
            return 0;
        ssize_t d = http_pct_decode(v, vl, out, cap < SSE_MAX_ID ? cap : SSE_MAX_ID, true);
        if (d < 0 || !field_ok(out, (size_t)d))
            return -2;
        return d;
    }
    return -1;
}
