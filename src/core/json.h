/* json.h - the one JSON string writer: every string the program prints as
 * JSON (reports, the admin port's answers) goes through it. No allocation.
 * Escapes '"', '\\', the C0 controls and DEL; other bytes are copied, so
 * callers pass UTF-8 (topics and messages are validated as such). */
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

#endif
