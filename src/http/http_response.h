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
 * Returns the head's length, or 0 if it does not fit. The body is the
 * caller's to send after it. */
size_t http_response_head(char *out, size_t cap, int status, const char *content_type,
                          size_t body_len, bool keep_alive, const char *extra_headers);

#endif
