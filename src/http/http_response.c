/* http_response.c - HTTP/1.1 response heads written into caller buffers.
 *
 * Pure formatting: no sockets, no allocation, no state, no stdio. It does
 * not send, choose statuses or hold bodies; callers do.
 *
 * Invariant: nothing is written at or past out + cap; a head that does not
 * fit returns 0 and leaves out's contents unspecified. */
#include "http/http_response.h"

#include <stdint.h>
#include <string.h>

const char *http_status_text(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large"; /* RFC 9110 §15.5.14 */
    case 414:
        return "URI Too Long";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large"; /* RFC 6585 §5 */
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* A cursor over out[0..cap); `over` sticks once anything did not fit. */
struct out {
    char *p;
    size_t len, cap;
    bool over;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->over || n > o->cap - o->len) {
        o->over = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
    char d[20];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, d + i, sizeof d - i);
}

size_t http_response_head(char *out, size_t cap, int status, const char *content_type,
                          size_t body_len, bool keep_alive, const char *extra_headers)
{
    if (status < 100 || status > 999)
        return 0;
    /* These strings come from our code, but a CR/LF in them would let a
     * caller's bug split the response; refuse rather than emit it. */
    if (content_type && strpbrk(content_type, "\r\n"))
        return 0;
    size_t extra_len = extra_headers ? strlen(extra_headers) : 0;
    if (extra_len && (extra_len < 2 || memcmp(extra_headers + extra_len - 2, "\r\n", 2) != 0))
        return 0;

    struct out o = {out, 0, cap, false};
    put_str(&o, "HTTP/1.1 ");
    put_u64(&o, (uint64_t)status);
    put_str(&o, " ");
    put_str(&o, http_status_text(status));
    put_str(&o, "\r\n");
    if (content_type) {
        put_str(&o, "Content-Type: ");
        put_str(&o, content_type);
        put_str(&o, "\r\n");
    }
    /* RFC 9110 §8.6: no Content-Length in 1xx or 204 responses. */
    if (status >= 200 && status != 204) {
        put_str(&o, "Content-Length: ");
        put_u64(&o, (uint64_t)body_len);
        put_str(&o, "\r\n");
    }
    /* 101: the connection is being upgraded; the caller says so in extra. */
    if (status != 101)
        put_str(&o, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    if (extra_len)
        put(&o, extra_headers, extra_len);
    put_str(&o, "\r\n");
    if (o.over)
        return 0;
    if (o.len < cap)
        out[o.len] = '\0';
    return o.len;
}
