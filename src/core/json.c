/* json.c - JSON string output (see json.h). No state.
 *
 * One escaping routine, two sinks (a stdio stream, a bounded buffer), so
 * every JSON string the program prints is escaped the same way. */
#include "core/json.h"

#include <string.h>

typedef void (*put_fn)(void *ctx, const char *p, size_t n);

/* Emits s[0..n) escaped and quoted; returns the bytes emitted. */
static size_t escape(const char *s, size_t n, put_fn put, void *ctx)
{
    static const char hex[] = "0123456789abcdef";
    size_t total = 0, run = 0;
    put(ctx, "\"", 1);
    total++;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[6];
        size_t el = 0;
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            el = 2;
        } else if (ch < 0x20 || ch == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            el = 6;
        }
        if (!el) {
            run++;
            continue;
        }
        if (run)
            put(ctx, s + i - run, run);
        put(ctx, esc, el);
        total += run + el;
        run = 0;
    }
    if (run)
        put(ctx, s + n - run, run);
    put(ctx, "\"", 1);
    return total + run + 1;
}

static void put_file(void *ctx, const char *p, size_t n) { fwrite(p, 1, n, ctx); }

void json_write_str(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    escape(s, strlen(s), put_file, out);
}

struct bufsink {
    char *out;
    size_t cap, len; /* len may pass cap: what would have been written */
};

static void put_buf(void *ctx, const char *p, size_t n)
{
    struct bufsink *b = ctx;
    if (b->len < b->cap) {
        size_t k = b->cap - b->len < n ? b->cap - b->len : n;
        memcpy(b->out + b->len, p, k);
    }
    b->len += n;
}

size_t json_str_buf(char *out, size_t cap, const char *s, size_t n)
{
    struct bufsink b = {out, cap ? cap - 1 : 0, 0};
    size_t need;
    if (!s) {
        put_buf(&b, "null", 4);
        need = 4;
    } else {
        need = escape(s, n, put_buf, &b);
    }
    if (cap)
        out[b.len < b.cap ? b.len : b.cap] = '\0';
    return need;
}
