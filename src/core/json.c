/* json.c - JSON string output (see json.h). No state.
 *
 * Escaping is byte-exact and bounded: the output never holds half an
 * escape or half a UTF-8 sequence, so a line cut at any length still
 * parses. */
#include "core/json.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        k = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        k = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        k = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

size_t json_escape(char *out, size_t cap, const char *s, size_t n, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    while (i < n) {
        char esc[8];
        const char *piece = esc;
        size_t pl, take = 1;
        if (u[i] == '"' || u[i] == '\\') {
            esc[0] = '\\', esc[1] = (char)u[i], pl = 2;
        } else if (u[i] == '\n') {
            memcpy(esc, "\\n", 2), pl = 2;
        } else if (u[i] < 0x20 || u[i] == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[u[i] >> 4], esc[5] = hex[u[i] & 15], pl = 6;
        } else if (u[i] < 0x80) {
            piece = s + i, pl = 1;
        } else if ((take = utf8_len(u + i, n - i)) > 0) {
            piece = s + i, pl = take;
        } else {
            memcpy(esc, "\\ufffd", 6), pl = 6, take = 1;
        }
        if (o + pl + 1 > cap)
            break;
        memcpy(out + o, piece, pl);
        o += pl;
        i += take;
    }
    if (cap)
        out[o] = '\0';
    if (used)
        *used = i;
    return o;
}

void json_write_str(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    size_t n = strlen(s);
    while (n) {
        char buf[512];
        size_t used;
        size_t w = json_escape(buf, sizeof buf, s, n, &used);
        fwrite(buf, 1, w, out);
        s += used;
        n -= used;
    }
    fputc('"', out);
}

/* Appends p[0..n) to out as far as cap - 1 allows; *len counts it all. */
static void put_bounded(char *out, size_t cap, size_t *len, const char *p, size_t n)
{
    if (cap && *len < cap - 1) {
        size_t room = cap - 1 - *len;
        memcpy(out + *len, p, n < room ? n : room);
    }
    *len += n;
}

size_t json_str_buf(char *out, size_t cap, const char *s, size_t n)
{
    size_t len = 0;
    if (!s) {
        put_bounded(out, cap, &len, "null", 4);
    } else {
        put_bounded(out, cap, &len, "\"", 1);
        while (n) {
            char buf[512];
            size_t used;
            size_t w = json_escape(buf, sizeof buf, s, n, &used);
            put_bounded(out, cap, &len, buf, w);
            s += used;
            n -= used;
        }
        put_bounded(out, cap, &len, "\"", 1);
    }
    if (cap)
        out[len < cap - 1 ? len : cap - 1] = '\0';
    return len;
}
