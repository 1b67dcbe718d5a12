/* ts.c - send-time extraction from message prefixes (see ts.h).
 *
 * Pure byte scanning over at most TS_PREFIX_BYTES: never reads past n. The
 * first digit decides: a 4-digit year followed by '-' must parse as ISO 8601;
 * a run of exactly 13 or 16 digits is epoch ms or us; anything else means the
 * message has no timestamp we understand. */
#include "ts.h"

#include "core/clock.h"
#include "core/err.h"

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

int ts_extract(const uint8_t *p, size_t n, bool more, uint64_t *real_us)
{
    if (n > TS_PREFIX_BYTES)
        n = TS_PREFIX_BYTES, more = true;
    size_t i = 0;
    while (i < n && !is_digit(p[i]))
        i++;
    if (i == n)
        return WSP_EINVAL;
    size_t j = i;
    while (j < n && is_digit(p[j]))
        j++;
    size_t digits = j - i;
    if (digits == 4 && j < n && p[j] == '-')
        return clock_parse_iso8601((const char *)p + i, n - i, real_us) == 0 ? 0 : WSP_EINVAL;
    if (j == n && more)
        return WSP_EINVAL; /* the number may go on past what we kept */
    if (digits != 13 && digits != 16)
        return WSP_EINVAL;
    uint64_t v = 0;
    for (size_t k = i; k < j; k++)
        v = v * 10 + (uint64_t)(p[k] - '0');
    *real_us = digits == 13 ? v * 1000u : v;
    return 0;
}

size_t ts_format_us(char *out, uint64_t real_us)
{
    for (int k = 15; k >= 0; k--) {
        out[k] = (char)('0' + real_us % 10);
        real_us /= 10;
    }
    out[16] = '\0';
    return 16;
}
