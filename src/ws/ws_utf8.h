/* ws_utf8.h - incremental UTF-8 validation (RFC 3629), fail-fast.
 *
 * A DFA over bytes: rejects overlongs, surrogates (U+D800..DFFF), code points
 * above U+10FFFF, and invalid bytes as soon as the offending byte is seen,
 * so a text message split across frames fails at the first bad fragment
 * (RFC 6455 §8.1). No allocation; state is one integer. */
#ifndef WSP_WS_UTF8_H
#define WSP_WS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_UTF8_ACCEPT 0u
#define WS_UTF8_REJECT 1u /* sticky */

/* Feeds p[0..n) into *state (start with WS_UTF8_ACCEPT).
 * Returns false as soon as the input is invalid (state becomes REJECT). */
bool ws_utf8_feed(uint32_t *state, const uint8_t *p, size_t n);

/* True when the input so far ends on a code point boundary. */
static inline bool ws_utf8_complete(uint32_t state)
{
    return state == WS_UTF8_ACCEPT;
}

/* Whole-buffer check. */
bool ws_utf8_valid(const uint8_t *p, size_t n);

#endif
