/* ws_frame.h - RFC 6455 section 5 frame codec.
 *
 * Pure functions over byte buffers: no sockets, no allocation, no state
 * between calls. Decoding never reads past `len`; encoding writes only the
 * header unless stated, the caller keeps the payload. */
#ifndef WSP_WS_FRAME_H
#define WSP_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005, /* never sent on the wire */
    WS_CLOSE_ABNORMAL = 1006,  /* never sent on the wire */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_EXTENSION = 1010,
    WS_CLOSE_INTERNAL = 1011,
    WS_CLOSE_RESTART = 1012,
    WS_CLOSE_TRY_LATER = 1013,
};

#define WS_MAX_HEADER 14   /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_MAX_CONTROL 125 /* §5.5: control payloads are at most 125 bytes */

struct ws_frame {
    bool fin;
    uint8_t rsv; /* the three RSV bits, as (b0 >> 4) & 7 */
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t payload_len;
    size_t header_len;   /* bytes of header (2..14) */
    uint16_t close_code; /* on WSP_EPROTO / WSP_ETOOBIG: what to close with */
    const char *reason;  /* on error: short static text for the close reason */
};

struct ws_decode_opts {
    bool require_mask;          /* server side: client frames must be masked (§5.1) */
    bool forbid_mask;           /* client side: server frames must not be masked */
    uint8_t allowed_rsv;        /* RSV bits an extension negotiated (e.g. 4 = RSV1) */
    uint64_t max_payload_bytes; /* 0 = no limit; above -> WSP_ETOOBIG, 1009 */
};

/* Decodes one frame header at buf[0..len). Returns the header length (> 0)
 * with f filled, WSP_EAGAIN if the header is incomplete, or WSP_EPROTO /
 * WSP_ETOOBIG with f->close_code and f->reason set:
 *  - RSV bits not allowed, reserved opcode, control frame > 125 bytes or not
 *    FIN, 64-bit length with the MSB set, non-minimal length encoding is
 *    accepted (RFC says "minimal" for senders only), mask rule broken -> 1002
 *  - payload > max_payload_bytes -> 1009
 * Checks that need only the first two bytes run before EAGAIN is returned
 * for the rest of the header (fail fast), the length checks after; so the
 * verdict does not depend on how the bytes were split. o may be NULL (no
 * mask rule, no RSV bits, no limit). */
ssize_t ws_frame_decode_header(const uint8_t *buf, size_t len, const struct ws_decode_opts *o,
                               struct ws_frame *f);

/* XORs p[0..n) with mask, starting at mask offset `offset` (the count of
 * payload bytes already unmasked, so a payload can be unmasked in pieces). */
void ws_mask_apply(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Writes a frame header into out (>= WS_MAX_HEADER bytes). mask NULL means
 * unmasked (server frames). Returns the header length. */
size_t ws_frame_header_encode(uint8_t *out, bool fin, uint8_t opcode, uint64_t payload_len,
                              const uint8_t *mask);
/* Header + payload (masked if mask != NULL) into out (cap bytes).
 * Returns total length or 0 if it does not fit. */
size_t ws_frame_encode(uint8_t *out, size_t cap, bool fin, uint8_t opcode, const void *payload,
                       size_t n, const uint8_t *mask);
/* Header length for a payload of n bytes (2, 4 or 10, + 4 if masked). */
size_t ws_frame_header_len(uint64_t n, bool masked);

/* §7.4.1/§7.4.2: may this code appear in a close frame on the wire?
 * 1000-1003, 1007-1014 (IANA registry), 3000-4999. */
bool ws_close_code_valid(uint16_t code);

/* Builds a close payload (code + reason, reason cut to fit 125 bytes) into
 * out (>= 125 bytes). Returns its length. code 0 -> empty payload. */
size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason);

#endif
