/* http_parse.h - strict, bounded HTTP/1.1 request-head parser.
 *
 * Pure functions over byte buffers: no sockets, no allocation, no state
 * between calls. Outputs point into the caller's buffer. The parser is
 * resumable in the simple, robust way: call it again on the grown buffer;
 * it answers WSP_EAGAIN until the blank line that ends the head arrives.
 *
 * Also here: the small helpers every consumer of a request needs
 * (case-insensitive header lookup, comma-separated token lists,
 * percent-decoding and query-string iteration, topic-name validation). */
#ifndef WSP_HTTP_PARSE_H
#define WSP_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS_CAP 128 /* hard cap; the configured limit is <= this */

struct http_header {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const char *value; /* leading/trailing spaces and tabs trimmed */
    size_t value_len;
};

struct http_limits {
    size_t max_head_bytes; /* default 8192: longer heads -> 431 */
    size_t max_headers;    /* default 64 (<= HTTP_MAX_HEADERS_CAP): more -> 431 */
};

struct http_req {
    const char *method;
    size_t method_len;
    const char *target; /* request-target as sent: path [? query] */
    size_t target_len;
    const char *path; /* target up to '?' (not decoded) */
    size_t path_len;
    const char *query; /* after '?', NULL when absent */
    size_t query_len;
    int minor_version; /* 0 or 1 (HTTP/1.x only) */
    size_t num_headers;
    struct http_header headers[HTTP_MAX_HEADERS_CAP];
    int status;         /* on error: the HTTP status to answer (400, 414, 431, 505) */
    const char *reason; /* on error: a short static explanation */
};

/* Parses the head at the start of buf[0..len).
 * Returns the head's length including the final CRLFCRLF (> 0),
 * WSP_EAGAIN if incomplete (and len is still within max_head_bytes),
 * WSP_EPROTO (r->status = 400 / 505) for malformed input, or
 * WSP_ETOOBIG (r->status = 431; 414 for an overlong target) past a limit.
 * Bare LF line endings are rejected (400); obsolete line folding is rejected. */
ssize_t http_parse_request(const uint8_t *buf, size_t len, const struct http_limits *lim,
                           struct http_req *r);

/* First header named `name` (ASCII case-insensitive), or NULL. */
const struct http_header *http_req_header(const struct http_req *r, const char *name);
/* Number of headers with that name (for duplicate checks). */
size_t http_req_header_count(const struct http_req *r, const char *name);

/* True if the comma-separated list val[0..len) contains token
 * (case-insensitive, surrounding whitespace ignored), e.g.
 * Connection: keep-alive, Upgrade. */
bool http_token_list_has(const char *val, size_t len, const char *token);

/* ASCII case-insensitive equality of s[0..len) with the NUL-terminated lit. */
bool http_str_ieq(const char *s, size_t len, const char *lit);

/* Percent-decodes in[0..n) into out (cap bytes), '+' -> ' ' when plus_space.
 * Returns decoded length, WSP_EPROTO on a bad %XX, WSP_ETOOBIG if it does
 * not fit. out may equal in (decoding only shrinks). */
ssize_t http_pct_decode(const char *in, size_t n, char *out, size_t cap, bool plus_space);

/* Iterates key=value pairs of a query string ("a=1&b=2&topic=x").
 * *pos is the caller's cursor (start at 0). On each pair, fills key/val (not
 * decoded) and returns 1; returns 0 at the end. Empty pairs ("&&") are
 * skipped; a pair without '=' has val_len 0 and val == NULL. */
int http_query_next(const char *q, size_t qlen, size_t *pos, const char **key, size_t *key_len,
                    const char **val, size_t *val_len);

/* A topic name: 1..max_len bytes (default 128), printable ASCII (0x21-0x7e)
 * or UTF-8 bytes >= 0x80 forming valid UTF-8; no spaces or control bytes. */
bool http_topic_valid(const char *s, size_t n, size_t max_len);

#endif
