/* json.h - JSON string output: the one escaper the reports and the JSON
 * logs share. No allocation. */
#ifndef WSP_CORE_JSON_H
#define WSP_CORE_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Writes s as a JSON string ("..." with \" \\ and \u00XX escapes), or
 * null when s is NULL. */
void json_write_str(FILE *out, const char *s);

/* Writes s[0..n) JSON-escaped, without quotes, into out (cap bytes; NUL
 * terminated when cap > 0). Control characters become \u00XX, bytes that
 * are not valid UTF-8 become \ufffd, so the output is always valid JSON
 * and valid UTF-8. Stops before an escape or character that would not fit
 * (never writes half of one). Returns the bytes written, without the NUL;
 * *used (if not NULL) gets how many bytes of s were consumed. */
size_t json_escape(char *out, size_t cap, const char *s, size_t n, size_t *used);

#endif
