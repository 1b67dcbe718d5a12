/* fuzz_utf8.c - libFuzzer target for the incremental UTF-8 validator.
 *
 * Compares ws_utf8_valid/feed with a plain reference decoder written
 * independently here, checks that any split (position from byte 0) and
 * byte-at-a-time feeding agree, and that failure happens exactly at the
 * first byte that cannot start or continue a valid sequence. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wsp_assert.h"
#include "ws/ws_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

/* Length of the longest prefix of p[0..n) that some valid UTF-8 string
 * starts with; *whole says whether that prefix ends on a boundary. */
static size_t ref_prefix(const uint8_t *p, size_t n, bool *whole)
{
    size_t i = 0;
    *whole = true;
    while (i < n) {
        uint8_t b = p[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            need = 2;
            if (b == 0xe0)
                lo = 0xa0; /* no overlongs */
            if (b == 0xed)
                hi = 0x9f; /* no surrogates */
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3;
            if (b == 0xf0)
                lo = 0x90;
            if (b == 0xf4)
                hi = 0x8f; /* <= U+10FFFF */
        } else {
            return i;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k == n) {
                *whole = false;
                return n;
            }
            uint8_t c = p[i + k];
            if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xbf))
                return i + k;
        }
        i += need + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    bool whole;
    size_t good = ref_prefix(d, n, &whole);
    bool ref_valid = good == n && whole;
    WSP_ASSERT(ws_utf8_valid(d, n) == ref_valid);

    /* fail-fast position: the prefix up to `good` passes, one more fails */
    uint32_t st = WS_UTF8_ACCEPT;
    WSP_ASSERT(ws_utf8_feed(&st, d, good));
    if (good < n) {
        WSP_ASSERT(!ws_utf8_feed(&st, d + good, 1));
        WSP_ASSERT(st == WS_UTF8_REJECT && !ws_utf8_feed(&st, d, n));
    } else {
        WSP_ASSERT(ws_utf8_complete(st) == whole);
    }

    /* two pieces, cut derived from the first byte */
    size_t cut = n ? d[0] % (n + 1) : 0;
    st = WS_UTF8_ACCEPT;
    bool ok = ws_utf8_feed(&st, d, cut) && ws_utf8_feed(&st, d + cut, n - cut);
    WSP_ASSERT(ok == (good == n));
    WSP_ASSERT(!ok || ws_utf8_complete(st) == whole);

    /* one byte at a time, from an unaligned exact copy */
    uint8_t *c = malloc(n + 1);
    WSP_ASSERT(c);
    memcpy(c + 1, d, n);
    st = WS_UTF8_ACCEPT;
    size_t i = 0;
    while (i < n && ws_utf8_feed(&st, c + 1 + i, 1))
        i++;
    WSP_ASSERT(i == good || (i == n && good == n));
    free(c);
    return 0;
}
