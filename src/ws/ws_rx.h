/* ws_rx.h - the inbound side of one WebSocket connection: bytes -> events.
 *
 * Consumes whatever bytes a read produced (any split), unmasks in place,
 * enforces RFC 6455 (§5.4 fragmentation with interleaved control frames,
 * §5.5 control frames, §8.1 UTF-8 of text messages across fragments, fail
 * fast) and the configured size limits, and reports complete messages and
 * control frames through callbacks.
 *
 * Memory: nothing while the connection is between frames. A struct ws_rx is
 * allocated only while a frame or fragmented message is in flight and freed
 * when it completes. Data payloads are streamed (validated and dropped)
 * unless the caller asks for whole messages (the echo path), in which case
 * they are reassembled in a buffer of at most max_message_bytes. A
 * permessage-deflate message (cfg->inflater) is gathered compressed and
 * inflated at its end with keep_payload, and dropped unread without it
 * (see struct ws_rx_cfg).
 *
 * Callbacks fire from inside ws_rx_feed and must not free ctx. Pointers
 * they receive point into the caller's data (unmasked in place), into the
 * rx state or into the inflater's scratch, and are valid until the
 * callback returns. */
#ifndef WSP_WS_RX_H
#define WSP_WS_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_rx; /* opaque, owned by the connection through a pointer */
struct ws_inflater;

/* Inflated output bound when max_message_bytes is 0 (no limit): a
 * compressed message is never inflated past this. */
#define WS_RX_INFLATE_DEFAULT_MAX ((uint64_t)16 << 20)

struct ws_rx_cfg {
    uint64_t max_message_bytes; /* whole message (all fragments); over -> 1009.
                                   For a compressed message it bounds both the
                                   compressed and the inflated size. */
    bool keep_payload;          /* reassemble data messages for on_message */
    bool client_side;           /* true in the bench: frames must be unmasked */
    /* permessage-deflate (RFC 7692) was negotiated: the worker's shared
     * inflater (borrowed; used only inside ws_rx_feed). NULL: RSV1 is a
     * protocol error (1002). When set, RSV1 on the first frame of a data
     * message marks it compressed; RSV1 on a continuation or a control
     * frame is 1002. With keep_payload, a compressed message is buffered
     * (compressed, at most max_message_bytes) until its last frame, then
     * inflated at once into the inflater's scratch (output over the limit
     * -> 1009, corrupt DEFLATE data -> 1007), UTF-8-checked if text
     * (1007), and reported through on_message only: on_data is never
     * called for it. Without keep_payload nobody reads it, so it costs
     * framing only: its compressed bytes count against max_message_bytes
     * and are dropped as they arrive, never buffered or inflated (so
     * neither DEFLATE nor UTF-8 validity is checked), and on_message gets
     * p NULL and n = its compressed length. The
     * connection must have answered with client_no_context_takeover, since
     * every message is inflated from a fresh state. */
    struct ws_inflater *inflater;
};

struct ws_rx_ops {
    /* A complete data message. opcode is WS_OP_TEXT or WS_OP_BINARY. With
     * keep_payload, p/n is the whole unmasked message (p non-NULL even when
     * n is 0; an unfragmented message is handed over in place, without a
     * copy); otherwise p is NULL and n its length (for a compressed
     * message, its compressed length). Text is valid UTF-8, except for a
     * compressed message without keep_payload, which is never inflated. */
    void (*on_message)(void *ctx, uint8_t opcode, const uint8_t *p, size_t n);
    /* With keep_payload false, data payload pieces as they arrive (unmasked),
     * for callers that scan without buffering (the bench reads timestamps).
     * May be NULL. first is true for the message's first piece. Pieces
     * are never empty; text pieces have passed UTF-8 validation so far.
     * A message that then fails (1007, 1009) has had a prefix delivered
     * here and gets no on_message: the error return says so. */
    void (*on_data)(void *ctx, uint8_t opcode, const uint8_t *p, size_t n, bool first);
    void (*on_ping)(void *ctx, const uint8_t *p, size_t n);
    void (*on_pong)(void *ctx, const uint8_t *p, size_t n);
    /* A valid close frame: code is WS_CLOSE_NO_STATUS (1005) when the frame
     * had no payload; reason is valid UTF-8. */
    void (*on_close)(void *ctx, uint16_t code, const uint8_t *reason, size_t n);
};

enum { WS_RX_OK = 0, WS_RX_CLOSED = 1 };

/* Processes data[0..len) (modified in place: unmasking). *rxp is the
 * connection's state pointer (NULL between messages); it is allocated and
 * freed here as needed.
 * Returns WS_RX_OK (all bytes consumed), WS_RX_CLOSED (a close frame was
 * delivered; bytes after it are ignored), or a negative error:
 * WSP_EPROTO / WSP_ETOOBIG with *close_code (1002, 1007, 1009) and *reason
 * set, or WSP_ENOMEM (*close_code 1011). close_code and reason may be NULL
 * and are untouched on success. The limit is checked on each data frame's
 * declared length, before any of its payload is taken. After WS_RX_CLOSED
 * or an error, *rxp is NULL and the stream is over: do not feed it again.
 * Events delivered before an error in the same call stand. */
int ws_rx_feed(struct ws_rx **rxp, const struct ws_rx_cfg *cfg, uint8_t *data, size_t len,
               const struct ws_rx_ops *ops, void *ctx, uint16_t *close_code, const char **reason);

/* Bytes currently held for a partial frame/message (for metrics); 0 for
 * NULL. Without keep_payload this never exceeds WS_MAX_HEADER +
 * WS_MAX_CONTROL (data is never buffered, compressed or not); with it, a
 * message in flight is held too (<= max_message_bytes). */
size_t ws_rx_buffered(const struct ws_rx *rx);
/* Frees the state of a connection torn down mid-message. NULL is a no-op. */
void ws_rx_free(struct ws_rx *rx);

#endif
