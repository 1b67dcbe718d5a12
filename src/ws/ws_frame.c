/* ws_frame.c - RFC 6455 section 5 frame codec.
 *
 * Pure functions over byte buffers: no sockets, no allocation, no state
 * between calls. Decoding never reads past `len`; encoding writes only the
 * header (ws_frame_encode also copies the payload), the caller keeps it.
 *
 * Does not know about messages, fragmentation state or UTF-8: that is
 * ws_rx.c. Invariant: every rejection sets close_code and reason, and the
 * checks run in a fixed order (first-two-byte checks, then the length), so
 * the same bytes give the same verdict however they were split. */
#include "ws/ws_frame.h"

#include <string.h>

#include "core/err.h"

static ssize_t reject(struct ws_frame *f, int err, uint16_t code, const char *reason)
{
    f->close_code = code;
    f->reason = reason;
    return err;
}

ssize_t ws_frame_decode_header(const uint8_t *buf, size_t len, const struct ws_decode_opts *o,
                               struct ws_frame *f)
{
    static const struct ws_decode_opts none = {0};
    if (!o)
        o = &none;
    f->close_code = 0;
    f->reason = NULL;
    if (len < 2)
        return WSP_EAGAIN;

    uint8_t b0 = buf[0], b1 = buf[1];
    f->fin = (b0 & 0x80) != 0;
    f->rsv = (uint8_t)((b0 >> 4) & 7);
    f->opcode = b0 & 0x0f;
    f->masked = (b1 & 0x80) != 0;
    uint8_t len7 = b1 & 0x7f;

    /* Everything decidable from the first two bytes is checked before we
     * wait for the rest of the header: fail fast on garbage. */
    if (f->rsv & ~o->allowed_rsv)
        return reject(f, WSP_EPROTO, WS_CLOSE_PROTOCOL, "reserved bits set");
    switch (f->opcode) {
    case WS_OP_CONT:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        break;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        /* §5.5: control frames are never fragmented and carry <= 125 bytes,
         * so they always use the 7-bit length form. */
        if (!f->fin)
            return reject(f, WSP_EPROTO, WS_CLOSE_PROTOCOL, "fragmented control frame");
        if (len7 > WS_MAX_CONTROL)
            return reject(f, WSP_EPROTO, WS_CLOSE_PROTOCOL, "control frame too long");
        break;
    default: /* §5.2: 0x3-0x7 and 0xB-0xF are reserved */
        return reject(f, WSP_EPROTO, WS_CLOSE_PROTOCOL, "reserved opcode");
    }
    if (o->require_mask && !f->masked)
        return reject(f, WSP_EPROTO, WS_CLOSE_PROTOCOL, "unmasked client frame");
    if (o->forbid_mask && f->masked)
        return reject(f, WSP_EPROTO, WS_CLOSE_PROTOCOL, "masked server frame");

    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    /* §5.2: the most significant bit of the 64-bit length must be 0. */
    if (ext == 8 && len >= 3 && (buf[2] & 0x80))
        return reject(f, WSP_EPROTO, WS_CLOSE_PROTOCOL, "64-bit length MSB set");
    size_t hlen = 2 + ext + (f->masked ? 4 : 0);
    if (len < hlen)
        return WSP_EAGAIN;

    uint64_t plen = len7;
    if (ext) {
        plen = 0;
        for (size_t i = 0; i < ext; i++)
            plen = (plen << 8) | buf[2 + i];
    }
    /* Non-minimal encodings are accepted: "minimal" binds senders only. */
    f->payload_len = plen;
    f->header_len = hlen;
    if (f->masked)
        memcpy(f->mask, buf + 2 + ext, 4);
    else
        memset(f->mask, 0, 4);

    if (o->max_payload_bytes && plen > o->max_payload_bytes)
        return reject(f, WSP_ETOOBIG, WS_CLOSE_TOO_BIG, "frame too big");
    return (ssize_t)hlen;
}

void ws_mask_apply(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
    /* The key rotated so that rot[0] applies to p[0], repeated to 8 bytes:
     * 8 is a multiple of 4, so the same word fits every 8-byte step. */
    uint8_t rot[8];
    unsigned off = (unsigned)(offset & 3);
    for (unsigned i = 0; i < 8; i++)
        rot[i] = mask[(off + i) & 3];
    uint64_t m;
    memcpy(&m, rot, 8);

    size_t i = 0;
    /* memcpy makes the unaligned loads/stores legal; compilers turn each
     * into one mov (and often vectorise the loop). */
    for (; i + 32 <= n; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        memcpy(&c, p + i + 16, 8);
        memcpy(&d, p + i + 24, 8);
        a ^= m;
        b ^= m;
        c ^= m;
        d ^= m;
        memcpy(p + i, &a, 8);
        memcpy(p + i + 8, &b, 8);
        memcpy(p + i + 16, &c, 8);
        memcpy(p + i + 24, &d, 8);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t a;
        memcpy(&a, p + i, 8);
        a ^= m;
        memcpy(p + i, &a, 8);
    }
    for (; i < n; i++)
        p[i] ^= rot[i & 7];
}

size_t ws_frame_header_len(uint64_t n, bool masked)
{
    size_t h = n <= 125 ? 2 : n <= 0xffff ? 4 : 10;
    return h + (masked ? 4 : 0);
}

size_t ws_frame_header_encode(uint8_t *out, bool fin, uint8_t opcode, uint64_t payload_len,
                              const uint8_t *mask)
{
    size_t h = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    uint8_t mbit = mask ? 0x80 : 0;
    if (payload_len <= 125) { /* §5.2: the minimal number of bytes */
        out[1] = (uint8_t)(mbit | payload_len);
    } else if (payload_len <= 0xffff) {
        out[1] = mbit | 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        h = 4;
    } else {
        out[1] = mbit | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
        h = 10;
    }
    if (mask) {
        memcpy(out + h, mask, 4);
        h += 4;
    }
    return h;
}

size_t ws_frame_encode(uint8_t *out, size_t cap, bool fin, uint8_t opcode, const void *payload,
                       size_t n, const uint8_t *mask)
{
    size_t h = ws_frame_header_len(n, mask != NULL);
    if (cap < h || cap - h < n)
        return 0;
    ws_frame_header_encode(out, fin, opcode, n, mask);
    if (n) {
        memcpy(out + h, payload, n);
        if (mask)
            ws_mask_apply(out + h, n, mask, 0);
    }
    return h + n;
}

bool ws_close_code_valid(uint16_t code)
{
    /* §7.4.1 and the IANA "WebSocket Close Code Number" registry: 1004 is
     * reserved, 1005/1006/1015 must never be sent; 1016-2999 are reserved
     * for future RFCs, 3000-3999 registered, 4000-4999 private use. */
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason)
{
    if (code == 0)
        return 0;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason ? strlen(reason) : 0;
    if (n > WS_MAX_CONTROL - 2) {
        n = WS_MAX_CONTROL - 2;
        /* Cut on a code point boundary: a reason chopped inside a UTF-8
         * sequence would make the peer fail us with 1007. */
        while (n > 0 && ((uint8_t)reason[n] & 0xc0) == 0x80)
            n--;
    }
    if (n)
        memcpy(out + 2, reason, n);
    return 2 + n;
}
