/* http_parse.c - strict, bounded HTTP/1.1 request-head parser and the small
 * helpers around it (header lookup, token lists, percent-decoding, query
 * iteration, topic names).
 *
 * Pure functions over byte buffers: no sockets, no allocation, no state
 * between calls, no logging. It does not read bodies, does not decide
 * routes or WebSocket semantics (ws_handshake.c does), and does not look at
 * bytes after the blank line that ends the head.
 *
 * Invariant: the parser reads only buf[0 .. min(len, max_head_bytes)), scans
 * it once from the start, and rejects a byte as soon as it has arrived, so
 * any prefix of an input answers WSP_EAGAIN or exactly what the whole input
 * answers. Every pointer it returns lies inside that window. */
#include "http/http_parse.h"

#include <string.h>

#include "core/err.h"

/* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static bool is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

static bool is_vchar(uint8_t c)
{
    return c >= 0x21 && c <= 0x7e;
}
static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}
static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static uint8_t ascii_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static ssize_t fail(struct http_req *r, int status, const char *reason)
{
    r->status = status;
    r->reason = reason;
    return (status == 400 || status == 505) ? WSP_EPROTO : WSP_ETOOBIG;
}

/* The window ended before the head did. If the window is the limit, the
 * head can only be longer than allowed: answer now rather than wait, so a
 * client trickling header bytes cannot make the caller buffer more. */
static ssize_t need_more(struct http_req *r, bool at_limit)
{
    if (at_limit)
        return fail(r, 431, "request head too large");
    return WSP_EAGAIN;
}

/* Why a byte ended a line or a name where it should not have. */
static const char *bad_byte_reason(uint8_t c, const char *otherwise)
{
    if (c == '\n')
        return "bare LF line ending";
    if (c == 0)
        return "NUL byte in request head";
    return otherwise;
}

/* Expects CRLF at buf[*p]; 1 when consumed, 0 when more bytes are needed,
 * -1 when the byte after CR is not LF. */
static int take_crlf(const uint8_t *buf, size_t end, size_t *p)
{
    if (*p + 1 >= end)
        return 0;
    if (buf[*p + 1] != '\n')
        return -1;
    *p += 2;
    return 1;
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* §3.2: path and query of a complete request-target. origin-form
 * ("/p?q") and asterisk-form ("*") are kept as sent. absolute-form
 * ("scheme://authority/p?q"), which §3.2.2 says a server MUST accept, gives
 * its path and query ("/" when its path is empty): taking the target as a
 * path made "GET http://x/news" subscribe to topic "ttp://x/news" (issue
 * 11). Everything else (authority-form is for CONNECT, which we do not
 * serve; a bare "news") is a 400, as are a fragment (no form has one) and
 * userinfo (RFC 9110 §4.2.4: an error in http(s) URIs), so routing only
 * ever sees a path that starts with '/' or is "*". */
static ssize_t split_target(struct http_req *r)
{
    const char *t = r->target, *end = r->target + r->target_len;
    if (memchr(t, '#', r->target_len))
        return fail(r, 400, "fragment in request-target");
    if (r->target_len == 1 && t[0] == '*') {
        r->path = t;
        r->path_len = 1;
        r->query = NULL;
        r->query_len = 0;
        return 0;
    }
    if (t[0] != '/') {
        /* absolute-URI = scheme ":" hier-part, scheme = ALPHA *( ALPHA /
         * DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1); http(s) URIs always
         * have an authority (RFC 9110 §4.2.1) */
        const char *p = t;
        if (!is_alpha((uint8_t)*p))
            return fail(r, 400, "request-target is not origin- or absolute-form");
        while (p < end && (is_alpha((uint8_t)*p) || is_digit((uint8_t)*p) || *p == '+' ||
                           *p == '-' || *p == '.'))
            p++;
        if (end - p < 3 || memcmp(p, "://", 3) != 0)
            return fail(r, 400, "request-target is not origin- or absolute-form");
        p += 3;
        const char *a = p;
        for (; p < end && *p != '/' && *p != '?'; p++)
            if (*p == '@')
                return fail(r, 400, "userinfo in request-target");
        if (p == a)
            return fail(r, 400, "empty authority in request-target");
        t = p; /* path-abempty [ "?" query ] */
    }
    const char *q = memchr(t, '?', (size_t)(end - t));
    r->path = t;
    r->path_len = (size_t)((q ? q : end) - t);
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? (size_t)(end - q - 1) : 0;
    if (r->path_len == 0) {
        r->path = "/"; /* §3.2.2 via §3.2.1: an empty path is "/" */
        r->path_len = 1;
    }
    return 0;
}

/* request-line = method SP request-target SP HTTP-version CRLF (§3).
 * Returns 0 with *p past the CRLF, or what http_parse_request returns. */
static ssize_t parse_request_line(const uint8_t *buf, size_t end, bool at_limit, size_t *pp,
                                  struct http_req *r)
{
    size_t p = *pp;

    size_t m0 = p;
    while (p < end && is_tchar(buf[p]))
        p++;
    if (p == end)
        return need_more(r, at_limit);
    if (buf[p] != ' ' || p == m0)
        return fail(r, 400, bad_byte_reason(buf[p], "method is not a token"));
    r->method = (const char *)buf + m0;
    r->method_len = p - m0;
    p++;

    /* §3.2: origin-, absolute-, authority- or asterisk-form; all of them
     * are visible ASCII. split_target decides which forms reach routing. */
    size_t t0 = p;
    while (p < end && is_vchar(buf[p]))
        p++;
    if (p - t0 > HTTP_MAX_TARGET_BYTES)
        return fail(r, 414, "request-target too long");
    if (p == end) {
        /* The request line alone reaches the head limit: the target is
         * what made it long, so 414 says more than 431. */
        if (at_limit)
            return fail(r, 414, "request-target too long");
        return WSP_EAGAIN;
    }
    if (buf[p] != ' ' || p == t0)
        return fail(r, 400, bad_byte_reason(buf[p], "bad request-target"));
    r->target = (const char *)buf + t0;
    r->target_len = p - t0;
    ssize_t st = split_target(r);
    if (st < 0)
        return st;
    p++;

    /* HTTP-version = "HTTP/" DIGIT "." DIGIT (§2.3), case-sensitive,
     * followed directly by CRLF. */
    static const char pat[] = "HTTP/#.#\r\n";
    size_t v0 = p;
    for (size_t i = 0; i < sizeof pat - 1; i++, p++) {
        if (p >= end)
            return need_more(r, at_limit);
        uint8_t c = buf[p];
        bool ok = pat[i] == '#' ? is_digit(c) : c == (uint8_t)pat[i];
        if (!ok) {
            if (pat[i] == '\n')
                return fail(r, 400, "bare CR in request line");
            return fail(r, 400, bad_byte_reason(c, "bad HTTP version"));
        }
    }
    /* Checked once the whole line is here, so "HTTP/1.10" is a 400. */
    if (buf[v0 + 5] != '1' || buf[v0 + 7] > '1')
        return fail(r, 505, "HTTP version not supported");
    r->minor_version = buf[v0 + 7] - '0';
    *pp = p;
    return 0;
}

/* field-line = field-name ":" OWS field-value OWS CRLF (§5). Called with
 * buf[*pp] the first byte of a line that is not the final CRLF. */
static ssize_t parse_field_line(const uint8_t *buf, size_t end, bool at_limit, size_t max_headers,
                                size_t *pp, struct http_req *r)
{
    size_t p = *pp;

    /* §5.2: obs-fold is rejected, as is whitespace before the first field. */
    if (is_ows(buf[p]))
        return fail(r, 400, "obsolete line folding");
    size_t n0 = p;
    while (p < end && is_tchar(buf[p]))
        p++;
    if (p == end)
        return need_more(r, at_limit);
    if (buf[p] != ':') {
        /* §5.1: no whitespace between field name and colon. */
        if (p > n0 && is_ows(buf[p]))
            return fail(r, 400, "whitespace before colon");
        return fail(r, 400, bad_byte_reason(buf[p], "bad header name"));
    }
    if (p == n0)
        return fail(r, 400, "empty header name");
    if (r->num_headers >= max_headers)
        return fail(r, 431, "too many header fields");
    size_t name_len = p - n0;
    p++;

    while (p < end && is_ows(buf[p]))
        p++;
    size_t v0 = p, v1 = p; /* v1: just past the last non-OWS byte */
    for (; p < end; p++) {
        uint8_t c = buf[p];
        if (c == '\r')
            break;
        if (is_ows(c))
            continue;
        /* field-vchar = VCHAR / obs-text (§5.5); DEL and C0 are neither. */
        if (c < 0x20 || c == 0x7f)
            return fail(r, 400, bad_byte_reason(c, "control character in header value"));
        v1 = p + 1;
    }
    if (p == end)
        return need_more(r, at_limit);
    int crlf = take_crlf(buf, end, &p);
    if (crlf == 0)
        return need_more(r, at_limit);
    if (crlf < 0)
        return fail(r, 400, "bare CR in header");

    struct http_header *h = &r->headers[r->num_headers++];
    h->name = (const char *)buf + n0;
    h->name_len = name_len;
    h->value = (const char *)buf + v0;
    h->value_len = v1 - v0;
    *pp = p;
    return 0;
}

ssize_t http_parse_request(const uint8_t *buf, size_t len, const struct http_limits *lim,
                           struct http_req *r)
{
    size_t max_head = HTTP_DEFAULT_HEAD_BYTES;
    size_t max_headers = HTTP_DEFAULT_HEADERS;
    if (lim && lim->max_head_bytes)
        max_head = lim->max_head_bytes;
    if (lim && lim->max_headers)
        max_headers = lim->max_headers;
    if (max_headers > HTTP_MAX_HEADERS_CAP)
        max_headers = HTTP_MAX_HEADERS_CAP;

    /* Never look past the limit: whatever lies beyond cannot be in a head
     * we would accept. */
    bool at_limit = len >= max_head;
    size_t end = at_limit ? max_head : len;

    r->num_headers = 0;
    r->status = 0;
    r->reason = NULL;

    size_t p = 0;
    /* §2.2: a server SHOULD ignore empty lines received before the
     * request-line (some clients send CRLF after a POST body). */
    while (p < end && buf[p] == '\r') {
        int crlf = take_crlf(buf, end, &p);
        if (crlf == 0)
            return need_more(r, at_limit);
        if (crlf < 0)
            return fail(r, 400, "bare CR before request line");
    }

    ssize_t rc = parse_request_line(buf, end, at_limit, &p, r);
    if (rc != 0)
        return rc;

    for (;;) {
        if (p >= end)
            return need_more(r, at_limit);
        if (buf[p] == '\r') {
            int crlf = take_crlf(buf, end, &p);
            if (crlf == 0)
                return need_more(r, at_limit);
            if (crlf < 0)
                return fail(r, 400, "bare CR in header");
            break;
        }
        rc = parse_field_line(buf, end, at_limit, max_headers, &p, r);
        if (rc != 0)
            return rc;
    }
    return (ssize_t)p;
}

bool http_str_ieq(const char *s, size_t len, const char *lit)
{
    size_t i = 0;
    for (; i < len; i++) {
        if (lit[i] == '\0' || ascii_lower((uint8_t)s[i]) != ascii_lower((uint8_t)lit[i]))
            return false;
    }
    return lit[i] == '\0';
}

const struct http_header *http_req_header(const struct http_req *r, const char *name)
{
    for (size_t i = 0; i < r->num_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (http_str_ieq(h->name, h->name_len, name))
            return h;
    }
    return NULL;
}

size_t http_req_header_count(const struct http_req *r, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < r->num_headers; i++) {
        if (http_str_ieq(r->headers[i].name, r->headers[i].name_len, name))
            n++;
    }
    return n;
}

/* RFC 9110 §5.6.1: #element lists; empty elements are allowed and ignored. */
bool http_token_list_has(const char *val, size_t len, const char *token)
{
    if (!token[0])
        return false;
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows((uint8_t)val[i]) || val[i] == ','))
            i++;
        size_t e0 = i;
        while (i < len && val[i] != ',')
            i++;
        size_t e1 = i;
        while (e1 > e0 && is_ows((uint8_t)val[e1 - 1]))
            e1--;
        if (e1 > e0 && http_str_ieq(val + e0, e1 - e0, token))
            return true;
    }
    return false;
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = ascii_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* RFC 3986 §2.1. Reads at i and writes at o <= i, so out == in is safe. */
ssize_t http_pct_decode(const char *in, size_t n, char *out, size_t cap, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)in[i];
        if (c == '%') {
            if (n - i < 3)
                return WSP_EPROTO;
            int hi = hex_val((uint8_t)in[i + 1]);
            int lo = hex_val((uint8_t)in[i + 2]);
            if (hi < 0 || lo < 0)
                return WSP_EPROTO;
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (o >= cap)
            return WSP_ETOOBIG;
        out[o++] = (char)c;
    }
    return (ssize_t)o;
}

int http_query_next(const char *q, size_t qlen, size_t *pos, const char **key, size_t *key_len,
                    const char **val, size_t *val_len)
{
    size_t i = *pos;
    while (i < qlen && q[i] == '&')
        i++;
    if (i >= qlen) {
        *pos = qlen;
        return 0;
    }
    size_t k0 = i;
    while (i < qlen && q[i] != '&' && q[i] != '=')
        i++;
    *key = q + k0;
    *key_len = i - k0;
    if (i < qlen && q[i] == '=') {
        i++;
        size_t v0 = i;
        while (i < qlen && q[i] != '&')
            i++;
        *val = q + v0;
        *val_len = i - v0;
    } else {
        *val = NULL;
        *val_len = 0;
    }
    *pos = i;
    return 1;
}

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 (RFC 3629 §4,
 * the ranges of Unicode Table 3-7: second-byte bounds exclude overlongs,
 * surrogates and code points above U+10FFFF). A local copy so this module
 * links without ws/. */
static size_t utf8_seq_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0], lo = 0x80, hi = 0xbf;
    size_t more;
    if (c >= 0xc2 && c <= 0xdf) {
        more = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        more = 2;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        more = 3;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n <= more || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= more; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    }
    return more + 1;
}

bool http_topic_valid(const char *s, size_t n, size_t max_len)
{
    if (max_len == 0)
        max_len = HTTP_DEFAULT_TOPIC_BYTES;
    if (n == 0 || n > max_len)
        return false;
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        if (is_vchar(u[i])) {
            i++;
            continue;
        }
        size_t k = u[i] >= 0x80 ? utf8_seq_len(u + i, n - i) : 0;
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}
