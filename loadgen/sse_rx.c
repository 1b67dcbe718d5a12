/* sse_rx.c - an incremental Server-Sent Events reader (see sse_rx.h).
 *
 * A byte-at-a-time state machine over the line structure, except inside a
 * data value, where whole runs up to the next line break go out in one
 * on_data call. What it does not do: keep the event type, the id or the
 * retry value (a load generator counts deliveries; wspush's own encoder is
 * tested against an independent parser in tests/integration/test_sse.py).
 * Invariant: the event's data handed out equals the standard's data buffer
 * without its final LF, and data_len counts exactly those bytes. */
#include "sse_rx.h"

#include <string.h>

enum { ST_LINE, ST_NAME, ST_SPACE, ST_DATA, ST_SKIP };
enum { F_CR = 1, F_HAVE = 2 };
#define NOT_DATA 0xff

/* A data line starts: a second one first adds the LF that joins them. */
static void data_line(struct sse_rx *rx, const struct sse_rx_ops *ops, void *ctx)
{
    if (rx->flags & F_HAVE) {
        ops->on_data(ctx, (const uint8_t *)"\n", 1);
        rx->data_len++;
    }
    rx->flags |= F_HAVE;
}

/* The line ended (at byte ch, CR or LF) in rx->state. */
static void line_end(struct sse_rx *rx, uint8_t ch, const struct sse_rx_ops *ops, void *ctx)
{
    if (rx->state == ST_LINE) { /* blank line: dispatch */
        if (rx->flags & F_HAVE)
            ops->on_event(ctx, rx->data_len);
        rx->data_len = 0;
        rx->flags &= (uint8_t)~F_HAVE;
    } else if (rx->state == ST_NAME && rx->name == 4) {
        data_line(rx, ops, ctx); /* "data" alone: an empty data line */
    }
    rx->state = ST_LINE;
    rx->flags = (uint8_t)((rx->flags & ~F_CR) | (ch == '\r' ? F_CR : 0));
}

void sse_rx_feed(struct sse_rx *rx, const uint8_t *p, size_t n, const struct sse_rx_ops *ops,
                 void *ctx)
{
    size_t i = 0;
    while (i < n) {
        uint8_t ch = p[i];
        if (rx->flags & F_CR) { /* CRLF is one break: drop its LF */
            rx->flags &= (uint8_t)~F_CR;
            if (ch == '\n') {
                i++;
                continue;
            }
        }
        if (ch == '\r' || ch == '\n') {
            line_end(rx, ch, ops, ctx);
            i++;
            continue;
        }
        switch (rx->state) {
        case ST_LINE:
            if (ch == ':') {
                ops->on_comment(ctx);
                rx->state = ST_SKIP;
                i++;
                continue;
            }
            rx->state = ST_NAME;
            rx->name = 0;
            __attribute__((fallthrough)); /* the byte is the name's first */
        case ST_NAME:
            if (ch == ':') {
                if (rx->name == 4) {
                    data_line(rx, ops, ctx);
                    rx->state = ST_SPACE;
                } else {
                    rx->state = ST_SKIP;
                }
            } else if (rx->name < 4 && ch == (uint8_t) "data"[rx->name]) {
                rx->name++;
            } else {
                rx->name = NOT_DATA;
            }
            i++;
            continue;
        case ST_SPACE:
            rx->state = ST_DATA;
            if (ch == ' ') {
                i++;
                continue;
            }
            __attribute__((fallthrough));
        case ST_DATA: {
            size_t e = i;
            while (e < n && p[e] != '\r' && p[e] != '\n')
                e++;
            ops->on_data(ctx, p + i, e - i);
            rx->data_len += (uint32_t)(e - i);
            i = e;
            continue;
        }
        default: /* ST_SKIP: the rest of a comment or another field */
            i++;
            continue;
        }
    }
}
