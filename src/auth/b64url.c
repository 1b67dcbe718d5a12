/* b64url.c - unpadded, canonical base64url (see b64url.h).
 *
 * Pure: no state, no allocation. Decoding validates everything before it
 * is trusted: the output holds only bytes of a fully valid input prefix,
 * and the return value says whether the whole input was valid. */
#include "auth/b64url.h"

#include "core/err.h"

static const char enc_tab[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63, or -1 for anything else ('=' included: padding is refused) */
static int dec_char(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

ssize_t b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 == 1)
        return WSP_EPROTO;
    size_t need = b64url_decoded_len(n);
    if (need > cap)
        return WSP_ETOOBIG;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = dec_char((unsigned char)in[i]);
        if (v < 0)
            return WSP_EPROTO;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* 2 or 4 bits left over must be zero (RFC 4648 §3.5: canonical) */
    if (acc != 0)
        return WSP_EPROTO;
    return (ssize_t)o;
}

ssize_t b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t need = b64url_encoded_len(n);
    if (need > cap)
        return WSP_ETOOBIG;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = enc_tab[v >> 18];
        out[o++] = enc_tab[v >> 12 & 63];
        out[o++] = enc_tab[v >> 6 & 63];
        out[o++] = enc_tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = enc_tab[v >> 18];
        out[o++] = enc_tab[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = enc_tab[v >> 18];
        out[o++] = enc_tab[v >> 12 & 63];
        out[o++] = enc_tab[v >> 6 & 63];
    }
    return (ssize_t)o;
}
