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
/* Longer request-targets -> 414. Room for --max-topics (1024) short topic
 * names in one URL, so the limit can be reached (issue 11 item 1); the
 * head as a whole stays bounded by --max-head. */
#define HTTP_MAX_TARGET_BYTES 16384
#define HTTP_DEFAULT_HEAD_BYTES 8192 /* http_limits.max_head_bytes when 0 */
#define HTTP_DEFAULT_HEADERS 64      /* http_limits.max_headers when 0 */
#define HTTP_DEFAULT_TOPIC_BYTES 128 /* http_topic_valid's max_len when 0 */

struct http_header {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const char *value; /* leading/trailing spaces and tabs trimmed */
    size_t value_len;
};

struct http_limits {       /* owned by the caller (usually the config) */
    size_t max_head_bytes; /* 0 = default 8192: longer heads (CRLFCRLF included) -> 431 */
    size_t max_headers;    /* 0 = default 64; clamped to HTTP_MAX_HEADERS_CAP: more -> 431 */
};

struct http_req {
    const char *method;
    size_t method_len;
    const char *target; /* request-target as sent */
    size_t target_len;
    const char *path; /* not decoded; starts with '/' or is "*": the target up to '?'
                       * (origin-form) or the absolute-form URI's path, which
                       * is a static "/" when the URI has none */
    size_t path_len;
    const char *query; /* after the first '?', NULL when absent; inside target */
    size_t query_len;
    int minor_version; /* 0 or 1 (HTTP/1.x only) */
    size_t num_headers;
    struct http_header headers[HTTP_MAX_HEADERS_CAP];
    int status;         /* on error: the HTTP status to answer (400, 414, 431, 505) */
    const char *reason; /* on error: a short static explanation */
};

/* Parses the head at the start of buf[0..len). lim may be NULL (defaults).
 * Returns the head's length including the final CRLFCRLF (> 0),
 * WSP_EAGAIN if incomplete (and len is still within max_head_bytes),
 * WSP_EPROTO (r->status = 400 / 505) for malformed input, or
 * WSP_ETOOBIG (r->status = 431; 414 for an overlong target) past a limit.
 * Bare LF line endings are rejected (400); obsolete line folding is rejected.
 *
 * Grammar (RFC 9112 §2-§5, strict): empty lines (CRLF) before the
 * request-line are skipped and counted in the length; method is a token;
 * exactly one SP between the three parts; the target is 1..HTTP_MAX_TARGET_BYTES visible
 * ASCII bytes (0x21-0x7e) in origin-form, absolute-form (RFC 9112 §3.2.2:
 * path and query taken from the URI; no userinfo) or "*", without a
 * fragment (anything else: 400); the version is "HTTP/1.0" or "HTTP/1.1" (another
 * HTTP/d.d -> 505); field names are tokens followed directly by ':'; field
 * values may hold SP, HTAB, VCHAR and obs-text (>= 0x80), nothing else.
 *
 * Errors are reported as soon as the offending byte has arrived, so a
 * prefix of the input gives either WSP_EAGAIN or the same answer as the
 * whole; once len >= max_head_bytes without a complete head the answer is
 * 431 (414 while still inside the request-target), never WSP_EAGAIN.
 * Bytes after the head (a body, pipelined requests) are not looked at.
 * Only r->status and r->reason are meaningful after an error (status 0
 * and reason NULL on success); nothing in r is meaningful after EAGAIN.
 * Cost is O(len) per call: re-parsing a trickled head is bounded by
 * max_head_bytes. */
ssize_t http_parse_request(const uint8_t *buf, size_t len, const struct http_limits *lim,
                           struct http_req *r);

/* First header named `name` (a NUL-terminated literal; ASCII
 * case-insensitive), or NULL. */
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
 * Returns decoded length, WSP_EPROTO on a bad %XX (non-hex or truncated),
 * WSP_ETOOBIG if it does not fit (whichever comes first in the input; out
 * is written only up to cap). out may equal in (decoding only shrinks).
 * "%00" decodes to a NUL byte: validate the result (http_topic_valid). */
ssize_t http_pct_decode(const char *in, size_t n, char *out, size_t cap, bool plus_space);

/* Iterates key=value pairs of a query string ("a=1&b=2&topic=x").
 * *pos is the caller's cursor (start at 0). On each pair, fills key/val (not
 * decoded) and returns 1; returns 0 at the end. Empty pairs ("&&") are
 * skipped; a pair without '=' has val_len 0 and val == NULL; "k=" has a
 * non-NULL val with val_len 0; "=v" has key_len 0. Splits at the first '='.
 * q may be NULL when qlen is 0 (a request without a query). */
int http_query_next(const char *q, size_t qlen, size_t *pos, const char **key, size_t *key_len,
                    const char **val, size_t *val_len);

/* A topic name: 1..max_len bytes (max_len 0 = default 128), printable ASCII
 * (0x21-0x7e) or UTF-8 bytes >= 0x80 forming valid UTF-8 (RFC 3629: no
 * overlongs, surrogates or code points above U+10FFFF); no spaces or
 * control bytes. */
bool http_topic_valid(const char *s, size_t n, size_t max_len);

#endif
