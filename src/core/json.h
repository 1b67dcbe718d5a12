/* json.h - the one JSON string writer: every string the program prints as
 * JSON (reports, the admin port's answers, the JSON logs) goes through
 * json_escape. No allocation. */
#ifndef WSP_CORE_JSON_H
#define WSP_CORE_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Writes s as a JSON string ("..." with \" \\ and \u00XX escapes), or
 * null when s is NULL. */
void json_write_str(FILE *out, const char *s);

/* The same into out (at most cap bytes including a terminating NUL, always
 * terminated when cap > 0), for s[0..n) (embedded NULs allowed; s NULL:
 * null). Returns the length the whole string needs without the NUL, like
 * snprintf: a result >= cap means it was truncated. */
size_t json_str_buf(char *out, size_t cap, const char *s, size_t n);

/* Writes s[0..n) JSON-escaped, without quotes, into out (cap bytes; NUL
 * terminated when cap > 0). Control characters become \u00XX, bytes that
 * are not valid UTF-8 become \ufffd, so the output is always valid JSON
 * and valid UTF-8. Stops before an escape or character that would not fit
 * (never writes half of one). Returns the bytes written, without the NUL;
 * *used (if not NULL) gets how many bytes of s were consumed. */
size_t json_escape(char *out, size_t cap, const char *s, size_t n, size_t *used);

#endif
