/* strbuf.h - a printf accumulator over a caller's fixed buffer: each call
 * appends at the end, and once something does not fit the buffer stays as
 * it was up to the cut and every later call is a no-op.
 *
 * For building one answer or report in a stack or static buffer (the admin
 * port's JSON, the Prometheus text), where the snprintf-and-advance pattern
 * used to be written out in each file. No allocation; not for the hot path
 * (it formats). The text is always NUL-terminated when cap > 0. */
#ifndef WSP_CORE_STRBUF_H
#define WSP_CORE_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf { /* owned by the caller, as is p */
    char *p;
    size_t len;     /* bytes in p, < cap (0 when cap is 0) */
    size_t cap;     /* size of p, including the NUL */
    bool truncated; /* something did not fit: p holds a prefix of the text */
};

/* Starts an empty text in p[0..cap). */
void strbuf_init(struct strbuf *b, char *p, size_t cap);

/* Appends the formatted text, or as much as fits (then truncated is set). */
__attribute__((format(printf, 2, 3))) void strbuf_printf(struct strbuf *b, const char *fmt, ...);
__attribute__((format(printf, 2, 0))) void strbuf_vprintf(struct strbuf *b, const char *fmt,
                                                          va_list ap);

/* Appends s[0..n) as a JSON string (core/json.h: json_str_buf; s NULL: null). */
void strbuf_json_str(struct strbuf *b, const char *s, size_t n);

#endif
