/* ts.h - find the send time inside a pushed message (load generator).
 *
 * A message carries its send time either as an ISO 8601 UTC timestamp with
 * milliseconds or more ("2026-11-27T02:48:19.123Z", what `wspush serve
 * --tick` sends) at its start or as the first number of a JSON/text payload,
 * or as the first number when that number has 13 digits (epoch ms) or 16
 * digits (epoch us), e.g. {"ts":1795747699123,...}. Only a prefix of the
 * message is looked at (TS_PREFIX_BYTES), so the caller can keep it in a
 * tiny fixed buffer. Pure; no allocation. */
#ifndef WSP_LOADGEN_TS_H
#define WSP_LOADGEN_TS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TS_PREFIX_BYTES 36

/* p/n: the first n bytes of a message; more: the message continues past n
 * (so a number running to the end of p may be cut and is not trusted).
 * Returns 0 with *real_us set, or WSP_EINVAL when no timestamp is found. */
int ts_extract(const uint8_t *p, size_t n, bool more, uint64_t *real_us);

/* Writes real_us as 16 decimal digits (epoch us, what --echo sends) into out
 * (>= 17 bytes, NUL-terminated). Returns 16. */
size_t ts_format_us(char *out, uint64_t real_us);

#endif
