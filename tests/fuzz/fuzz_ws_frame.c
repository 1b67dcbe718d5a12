/* fuzz_ws_frame.c - libFuzzer target for the frame header codec.
 *
 * Byte 0 picks the decode options; the rest is the frame. Checks: the
 * result is bounded by the input, every prefix answers EAGAIN or the same
 * verdict, a decoded header re-encodes (minimally) to the same fields,
 * unmasking in two pieces equals unmasking at once, and the close helpers
 * keep their contracts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "ws/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static ssize_t decode_exact(const uint8_t *d, size_t n, const struct ws_decode_opts *o,
                            struct ws_frame *f)
{
    /* an exact-size copy, so a read past n is caught by ASan */
    uint8_t *c = malloc(n ? n : 1);
    WSP_ASSERT(c);
    if (n)
        memcpy(c, d, n);
    ssize_t r = ws_frame_decode_header(c, n, o, f);
    free(c);
    return r;
}

static void check_close_helpers(const uint8_t *d, size_t n)
{
    if (n >= 2) {
        uint16_t code = (uint16_t)(d[0] << 8 | d[1]);
        bool want = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                    (code >= 3000 && code <= 4999);
        WSP_ASSERT(ws_close_code_valid(code) == want);
    }
    char reason[256];
    size_t rn = n < sizeof reason - 1 ? n : sizeof reason - 1;
    memcpy(reason, d, rn);
    reason[rn] = 0;
    uint8_t out[WS_MAX_CONTROL];
    size_t len = ws_close_payload(out, 1000, reason);
    WSP_ASSERT(len >= 2 && len <= WS_MAX_CONTROL);
    WSP_ASSERT(len - 2 <= strlen(reason));
    WSP_ASSERT(memcmp(out + 2, reason, len - 2) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 1)
        return 0;
    uint8_t sel = d[0];
    d++;
    n--;
    struct ws_decode_opts o = {
        .require_mask = sel & 1,
        .forbid_mask = (sel >> 1) & 1,
        .allowed_rsv = (uint8_t)((sel >> 2) & 7),
        .max_payload_bytes = (sel & 0x20) ? (uint64_t)(sel >> 6) * 300 + 1 : 0,
    };
    struct ws_frame f;
    ssize_t r = decode_exact(d, n, &o, &f);
    WSP_ASSERT(r == WSP_EAGAIN || r == WSP_EPROTO || r == WSP_ETOOBIG ||
               (r >= 2 && r <= WS_MAX_HEADER && (size_t)r <= n));
    if (r == WSP_EPROTO)
        WSP_ASSERT(f.close_code == WS_CLOSE_PROTOCOL && f.reason);
    if (r == WSP_ETOOBIG)
        WSP_ASSERT(f.close_code == WS_CLOSE_TOO_BIG && f.reason);

    /* every shorter prefix: EAGAIN, or the same error (fail fast) */
    for (size_t k = 0; k < n && k < WS_MAX_HEADER; k++) {
        struct ws_frame g;
        ssize_t r2 = decode_exact(d, k, &o, &g);
        if (r > 0 && k < (size_t)r)
            WSP_ASSERT(r2 == WSP_EAGAIN);
        else if (r < 0)
            WSP_ASSERT(r2 == WSP_EAGAIN || r2 == r);
    }

    if (r > 0) {
        WSP_ASSERT(f.header_len == (size_t)r);
        WSP_ASSERT(!(f.payload_len >> 63));
        WSP_ASSERT(!(f.masked && o.forbid_mask) && !(!f.masked && o.require_mask));
        WSP_ASSERT((f.rsv & ~o.allowed_rsv) == 0);
        if (f.opcode & 8)
            WSP_ASSERT(f.fin && f.payload_len <= WS_MAX_CONTROL);
        else
            WSP_ASSERT(f.opcode <= WS_OP_BINARY);

        uint8_t h[WS_MAX_HEADER];
        size_t hl =
            ws_frame_header_encode(h, f.fin, f.opcode, f.payload_len, f.masked ? f.mask : NULL);
        h[0] |= (uint8_t)(f.rsv << 4);
        WSP_ASSERT(hl <= (size_t)r && hl == ws_frame_header_len(f.payload_len, f.masked));
        struct ws_frame g;
        WSP_ASSERT(ws_frame_decode_header(h, hl, &o, &g) == (ssize_t)hl);
        WSP_ASSERT(g.fin == f.fin && g.rsv == f.rsv && g.opcode == f.opcode &&
                   g.masked == f.masked && g.payload_len == f.payload_len &&
                   memcmp(g.mask, f.mask, 4) == 0);

        /* unmask what payload is present: whole vs two pieces vs naive */
        size_t avail = n - (size_t)r;
        size_t pn = f.payload_len < avail ? (size_t)f.payload_len : avail;
        uint8_t *a = malloc(pn + 1), *b = malloc(pn + 1);
        WSP_ASSERT(a && b);
        memcpy(a, d + r, pn);
        memcpy(b, d + r, pn);
        ws_mask_apply(a, pn, f.mask, 0);
        size_t cut = pn ? sel % (pn + 1) : 0;
        ws_mask_apply(b, cut, f.mask, 0);
        ws_mask_apply(b + cut, pn - cut, f.mask, cut);
        WSP_ASSERT(memcmp(a, b, pn) == 0);
        for (size_t i = 0; i < pn; i++)
            WSP_ASSERT(a[i] == (uint8_t)(d[r + i] ^ f.mask[i & 3]));
        ws_mask_apply(a, pn, f.mask, 0);
        WSP_ASSERT(memcmp(a, d + r, pn) == 0);

        /* whole-frame encoder round trip */
        size_t cap = ws_frame_header_len(pn, f.masked) + pn;
        uint8_t *e = malloc(cap);
        WSP_ASSERT(e);
        WSP_ASSERT(ws_frame_encode(e, cap - 1, true, WS_OP_BINARY, d + r, pn,
                                   f.masked ? f.mask : NULL) == 0);
        WSP_ASSERT(ws_frame_encode(e, cap, true, WS_OP_BINARY, d + r, pn,
                                   f.masked ? f.mask : NULL) == cap);
        if (f.masked)
            ws_mask_apply(e + cap - pn, pn, f.mask, 0);
        WSP_ASSERT(pn == 0 || memcmp(e + cap - pn, d + r, pn) == 0);
        free(e);
        free(a);
        free(b);
    }
    check_close_helpers(d, n);
    return 0;
}
