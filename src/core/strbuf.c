/* strbuf.c - a printf accumulator over a fixed buffer (see strbuf.h).
 *
 * Invariant: len < cap whenever cap > 0 and p[len] is NUL; after the first
 * append that does not fit, truncated is set and nothing changes p again. */
#include "core/strbuf.h"

#include <stdio.h>

#include "core/json.h"

void strbuf_init(struct strbuf *b, char *p, size_t cap)
{
    b->p = p;
    b->len = 0;
    b->cap = cap;
    b->truncated = cap == 0;
    if (cap)
        p[0] = '\0';
}

/* After writing need bytes (snprintf's count) at the end: advance, or mark
 * the text cut where the writer stopped. */
static void advance(struct strbuf *b, size_t need)
{
    size_t room = b->cap - b->len;
    if (need < room) {
        b->len += need;
        return;
    }
    b->len = b->cap - 1; /* the writer filled the room and terminated it */
    b->truncated = true;
}

void strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
{
    if (b->truncated)
        return;
    int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    if (k < 0) { /* an encoding error: keep the text as it was */
        b->p[b->len] = '\0';
        b->truncated = true;
        return;
    }
    advance(b, (size_t)k);
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void strbuf_json_str(struct strbuf *b, const char *s, size_t n)
{
    if (b->truncated)
        return;
    advance(b, json_str_buf(b->p + b->len, b->cap - b->len, s, n));
}
