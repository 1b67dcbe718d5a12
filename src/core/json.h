/* json.h - the one JSON helper the reports need: a string, escaped.
 * Writes to a stdio stream; no allocation. */
#ifndef WSP_CORE_JSON_H
#define WSP_CORE_JSON_H

#include <stdio.h>

/* Writes s as a JSON string ("..." with \" \\ and \u00XX escapes), or
 * null when s is NULL. */
void json_write_str(FILE *out, const char *s);

#endif
