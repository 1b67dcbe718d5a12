/* http_response.h - building HTTP/1.1 responses into caller buffers.
 *
 * Pure formatting: no sockets, no allocation. */
#ifndef WSP_HTTP_RESPONSE_H
#define WSP_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

/* "OK", "Bad Request", ... for the statuses wspush uses; "Unknown" else. */
const char *http_status_text(int status);

/* Writes a complete response head into out (cap bytes):
 *   HTTP/1.1 <status> <text>\r\n
 *   Content-Type / Content-Length: body_len / Connection: keep-alive|close
 *   <extra headers, each ending in \r\n, may be NULL>\r\n
 * Content-Type is omitted when content_type is NULL. Per RFC 9110 §8.6
 * Content-Length is omitted for 1xx and 204 (body_len is then ignored), and
 * for 101 Connection is omitted too: the caller's extra headers carry
 * "Connection: Upgrade". out is NUL-terminated when a byte is left for
 * it (the NUL is not counted). Returns the head's length, or 0 if it does
 * not fit or an argument is invalid (status outside 100..999, CR or LF in
 * content_type, non-empty extra_headers not ending in CRLF). The body is
 * the caller's to send after it. */
size_t http_response_head(char *out, size_t cap, int status, const char *content_type,
                          size_t body_len, bool keep_alive, const char *extra_headers);

#endif
