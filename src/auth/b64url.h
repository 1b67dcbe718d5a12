/* b64url.h - base64url (RFC 4648 §5) as JWS uses it (RFC 7515 §2): no
 * padding, no line breaks, canonical. Pure functions, no allocation. */
#ifndef WSP_AUTH_B64URL_H
#define WSP_AUTH_B64URL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes that n characters decode to (n % 4 == 1 is never valid). */
static inline size_t b64url_decoded_len(size_t n)
{
    return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}
/* Characters that n bytes encode to, without padding. */
static inline size_t b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Decodes in[0..n) into out. Returns the byte count, WSP_ETOOBIG when it
 * does not fit in cap, or WSP_EPROTO for anything but canonical unpadded
 * base64url: a character outside [A-Za-z0-9-_] (so '=' padding, '+', '/',
 * spaces), a length with n % 4 == 1, or non-zero unused bits in the last
 * character (two spellings of the same bytes would let a token be altered
 * without changing what it says). Never reads in[n] or writes out[cap]. */
ssize_t b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* Encodes in[0..n) into out (b64url_encoded_len(n) characters, no NUL).
 * Returns the character count or WSP_ETOOBIG. */
ssize_t b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap);

#endif
