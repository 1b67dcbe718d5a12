/* sse.h - the Server-Sent Events wire format (HTML Living Standard,
 * "Server-sent events", §9.2): encoding one event, and reading what an
 * EventSource request asks for (Accept, Last-Event-ID).
 *
 * Pure functions over byte buffers: no sockets, no allocation, no state.
 * The encoding of a message depends only on (event name, id, payload,
 * binary), never on the subscriber, so one encoding serves every SSE
 * subscriber of a topic (docs/sse.md). */
#ifndef WSP_HTTP_SSE_H
#define WSP_HTTP_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http/http_parse.h"

/* The reconnection delay the stream preamble suggests ("retry:"). */
#define SSE_RETRY_MS 3000u
/* The longest Last-Event-ID kept (longer ones are treated as unknown). */
#define SSE_MAX_ID 128u

/* id_len for "no id line" in sse_event_len. */
#define SSE_NO_ID ((size_t)-1)

/* Bytes sse_event_encode writes for these arguments (exact); id_len is
 * SSE_NO_ID when there is no id. */
size_t sse_event_len(size_t event_len, size_t id_len, const uint8_t *data, size_t n, bool binary);

/* Encodes one event into out[0..cap):
 *   event: <event>\n        omitted when event_len == 0 (the default type
 *                           "message": broadcasts and the ticker)
 *   id: <id>\n              omitted when id == NULL
 *   data: <line>\n          once per line of data; a line ends at CRLF, CR
 *                           or LF (the standard's own line breaks), so every
 *                           break reads back as LF; empty data is one empty
 *                           data line (the event still fires, with "")
 *   \n
 * A binary payload is one data line of standard base64 (RFC 4648 §4, with
 * padding) and its event type gets the suffix " binary": "<topic> binary",
 * or "message binary" without a topic. Topic names hold no spaces, so the
 * suffix never collides with a topic's name.
 * Returns the bytes written (sse_event_len), WSP_ETOOBIG if cap is smaller,
 * or WSP_EPROTO if event or id holds CR, LF or NUL (they would end the
 * field early or, for an id, make clients ignore it). */
ssize_t sse_event_encode(uint8_t *out, size_t cap, const char *event, size_t event_len,
                         const char *id, size_t id_len, const uint8_t *data, size_t n, bool binary);

/* The stream preamble sent once after the response head: a comment naming
 * the server and a "retry:" hint. Returns bytes written or WSP_ETOOBIG. */
ssize_t sse_preamble(char *out, size_t cap, unsigned retry_ms);

/* A comment line that keeps proxies from timing the stream out. */
#define SSE_HEARTBEAT ":\n\n"

/* True if the Accept value v[0..n) names text/event-stream as a media
 * range (case-insensitive, parameters ignored; a q=0 range refuses it).
 * Wildcards do not count: only a client that asks for an event stream
 * gets one. */
bool sse_accepts(const char *v, size_t n);

/* True if r is an EventSource request: GET with Accept naming
 * text/event-stream. */
bool sse_is_request(const struct http_req *r);

/* The id an EventSource client resumes from: the Last-Event-ID header,
 * else the lastEventId query parameter (polyfills cannot set headers),
 * percent-decoded. Copies it to out (cap >= SSE_MAX_ID) and returns its
 * length (0: an empty id, which the standard uses for "none"), or -1 when
 * the request carries none; an id that is too long, badly encoded, or holds
 * CR, LF or NUL returns -2 (unknown: the caller answers with a reset). */
ssize_t sse_last_event_id(const struct http_req *r, char *out, size_t cap);

#endif
