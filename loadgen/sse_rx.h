/* sse_rx.h - an incremental Server-Sent Events reader for wspush-bench.
 *
 * Fed the stream in whatever pieces the socket gives, it follows the HTML
 * standard's event-stream rules (§9.2.6) as far as a load generator needs:
 * lines end at CRLF, LF or CR (also split across reads); "data" lines make
 * the event's data (joined with LF, one optional space after the colon
 * dropped); a blank line dispatches an event that had at least one data
 * line; comment lines (":...", the server's heartbeats) are reported; every
 * other field (event, id, retry) is skipped. The data is handed out in
 * pieces as it arrives, never buffered, so the state fits in 8 bytes.
 * Pure; no allocation. */
#ifndef WSP_LOADGEN_SSE_RX_H
#define WSP_LOADGEN_SSE_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sse_rx {
    uint32_t data_len; /* bytes of the current event's data so far */
    uint8_t state;     /* where in a line (sse_rx.c) */
    uint8_t name;      /* bytes of the field name that matched "data"; 0xff: another field */
    uint8_t flags;     /* a CR ended the last line; the event has data */
    uint8_t pad;
};
_Static_assert(sizeof(struct sse_rx) == 8, "sse_rx lives in an 8-byte slot");

struct sse_rx_ops {
    /* the next n bytes of the current event's data (line breaks as LF) */
    void (*on_data)(void *ctx, const uint8_t *p, size_t n);
    /* an event was dispatched; its data was n bytes */
    void (*on_event)(void *ctx, size_t n);
    /* a comment line (a heartbeat) */
    void (*on_comment)(void *ctx);
};

/* A fresh reader: at the start of a line, no event in progress. */
static inline void sse_rx_init(struct sse_rx *rx)
{
    *rx = (struct sse_rx){0};
}

void sse_rx_feed(struct sse_rx *rx, const uint8_t *p, size_t n, const struct sse_rx_ops *ops,
                 void *ctx);

#endif
