/* ws_utf8.c - incremental, fail-fast UTF-8 validation (RFC 3629).
 *
 * A byte-class table plus a 9-state DFA. Each state records exactly which
 * continuation bytes may come next, so overlongs (C0/C1, E0 80-9F,
 * F0 80-8F), surrogates (ED A0-BF), code points above U+10FFFF (F4 90+,
 * F5-FF) and stray continuation bytes reach REJECT on the offending byte.
 * A sequence cut short at the end of the input is not an error here: the
 * state is simply not ACCEPT (ws_utf8_complete), and the caller decides at
 * the end of the message.
 *
 * Does not decode code points or allocate. Invariant: REJECT is sticky. */
#include "ws/ws_utf8.h"

#include <string.h>

/* Byte classes:
 *  0 00-7F   1 80-8F   2 90-9F   3 A0-BF (continuation bytes split by
 *  the ranges that the E0/ED/F0/F4 leads restrict)
 *  4 C0 C1 F5-FF (never valid)  5 C2-DF  6 E0  7 E1-EC EE EF  8 ED
 *  9 F0  10 F1-F3  11 F4 */
/* clang-format off */
static const uint8_t byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 90 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* A0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* B0 */
    4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* C0 */
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, /* D0 */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7, /* E0 */
    9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* F0 */
};
/* clang-format on */

/* States (0 and 1 fixed by the header):
 *  0 ACCEPT   1 REJECT
 *  2 one continuation byte left       3 two left        6 three left
 *  4 after E0: next must be A0-BF (no overlong), then one more
 *  5 after ED: next must be 80-9F (no surrogates), then one more
 *  7 after F0: next must be 90-BF (no overlong), then two more
 *  8 after F4: next must be 80-8F (<= U+10FFFF), then two more
 * Rows are padded to 16 classes so the index is state * 16 + class. */
enum { A = 0, R = 1 };
/* clang-format off */
static const uint8_t next_state[9 * 16] = {
    /*        00 8x 9x AB bad 2B E0 3B ED F0 4B F4 */
    /* 0 */ A, R, R, R, R, 2, 4, 3, 5, 7, 6, 8, R, R, R, R,
    /* 1 */ R, R, R, R, R, R, R, R, R, R, R, R, R, R, R, R,
    /* 2 */ R, A, A, A, R, R, R, R, R, R, R, R, R, R, R, R,
    /* 3 */ R, 2, 2, 2, R, R, R, R, R, R, R, R, R, R, R, R,
    /* 4 */ R, R, R, 2, R, R, R, R, R, R, R, R, R, R, R, R,
    /* 5 */ R, 2, 2, R, R, R, R, R, R, R, R, R, R, R, R, R,
    /* 6 */ R, 3, 3, 3, R, R, R, R, R, R, R, R, R, R, R, R,
    /* 7 */ R, R, 3, 3, R, R, R, R, R, R, R, R, R, R, R, R,
    /* 8 */ R, 3, R, R, R, R, R, R, R, R, R, R, R, R, R, R,
};
/* clang-format on */

#define HIGH_BITS 0x8080808080808080ull

bool ws_utf8_feed(uint32_t *state, const uint8_t *p, size_t n)
{
    uint32_t s = *state;
    size_t i = 0;
    if (s == WS_UTF8_REJECT)
        return false;
    while (i < n) {
        if (s == WS_UTF8_ACCEPT) {
            /* Text frames are mostly ASCII: skip 8 bytes per step while no
             * byte has its top bit set (memcpy: unaligned load). */
            while (n - i >= 8) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & HIGH_BITS)
                    break;
                i += 8;
            }
            if (i == n)
                break;
        }
        s = next_state[s * 16 + byte_class[p[i]]];
        i++;
        if (s == WS_UTF8_REJECT) {
            *state = s;
            return false;
        }
    }
    *state = s;
    return true;
}

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
    uint32_t s = WS_UTF8_ACCEPT;
    return ws_utf8_feed(&s, p, n) && ws_utf8_complete(s);
}
