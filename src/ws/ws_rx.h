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
 * they are reassembled in a buffer of at most max_message_bytes.
 *
 * Callbacks fire from inside ws_rx_feed and must not free ctx. */
#ifndef WSP_WS_RX_H
#define WSP_WS_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_rx; /* opaque, owned by the connection through a pointer */

struct ws_rx_cfg {
    uint64_t max_message_bytes; /* whole message (all fragments); over -> 1009 */
    bool keep_payload;          /* reassemble data messages for on_message */
    bool client_side;           /* true in the bench: frames must be unmasked */
};

struct ws_rx_ops {
    /* A complete data message. opcode is WS_OP_TEXT or WS_OP_BINARY. With
     * keep_payload, p/n is the whole unmasked message; otherwise p is NULL
     * and n its length. */
    void (*on_message)(void *ctx, uint8_t opcode, const uint8_t *p, size_t n);
    /* With keep_payload false, data payload pieces as they arrive (unmasked),
     * for callers that scan without buffering (the bench reads timestamps).
     * May be NULL. first is true for the message's first piece. */
    void (*on_data)(void *ctx, uint8_t opcode, const uint8_t *p, size_t n, bool first);
    void (*on_ping)(void *ctx, const uint8_t *p, size_t n);
    void (*on_pong)(void *ctx, const uint8_t *p, size_t n);
    /* A valid close frame: code is WS_CLOSE_NO_STATUS (1005) when the frame
     * had no payload; reason is valid UTF-8. */
    void (*on_close)(void *ctx, uint16_t code, const uint8_t *reason, size_t n);
};

enum { WS_RX_OK = 0, WS_RX_CLOSED = 1 };

/* Processes data[0..len) (modified in place: unmasking). *rxp is the
 * connection's state pointer (NULL between frames); it is allocated and
 * freed here as needed.
 * Returns WS_RX_OK (all bytes consumed), WS_RX_CLOSED (a close frame was
 * delivered; bytes after it are ignored), or a negative error:
 * WSP_EPROTO / WSP_ETOOBIG with *close_code (1002, 1007, 1009) and *reason
 * set, or WSP_ENOMEM (close with 1011). After an error the state is freed. */
int ws_rx_feed(struct ws_rx **rxp, const struct ws_rx_cfg *cfg, uint8_t *data, size_t len,
               const struct ws_rx_ops *ops, void *ctx, uint16_t *close_code, const char **reason);

/* Bytes currently held for a partial frame/message (for metrics). */
size_t ws_rx_buffered(const struct ws_rx *rx);
void ws_rx_free(struct ws_rx *rx);

#endif
