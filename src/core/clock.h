/* clock.h - time sources and time formats.
 *
 * Monotonic time for timeouts and durations, real time for timestamps that
 * leave the process (ISO 8601 UTC with milliseconds, as JavaScript's
 * Date parses). Pure except for reading the clocks. */
#ifndef WSP_CLOCK_H
#define WSP_CLOCK_H

#include <stddef.h>
#include <stdint.h>

uint64_t clock_mono_ns(void);
uint64_t clock_mono_ms(void);
uint64_t clock_real_us(void);

/* Writes "2026-11-27T02:48:19.123Z" (24 bytes + NUL) for real_us; out must
 * hold 25 bytes. Returns 24. */
size_t clock_iso8601(char *out, uint64_t real_us);

/* Parses an ISO 8601 UTC timestamp "YYYY-MM-DDTHH:MM:SS[.fff...]Z" at the
 * start of s (len bytes) into microseconds since the epoch.
 * Returns 0 or WSP_EINVAL. */
int clock_parse_iso8601(const char *s, size_t len, uint64_t *real_us);

/* "250ms", "1s", "1.5s", "2m", "1h", or a bare number of seconds -> ms.
 * Returns 0 or WSP_EINVAL. "0" is accepted (means off where it applies). */
int clock_parse_duration_ms(const char *s, uint64_t *ms);

#endif
