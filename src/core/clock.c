/* clock.c - time sources and formats (see clock.h). No state. */
#include "core/clock.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t clock_mono_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

uint64_t clock_real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
 * algorithm): avoids timegm() and the process's time zone. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

size_t clock_iso8601(char *out, uint64_t real_us)
{
    time_t sec = (time_t)(real_us / 1000000u);
    unsigned ms = (unsigned)(real_us / 1000u % 1000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    /* Fixed-width fields: format by hand, strftime is slower and this runs
     * once per tick only, but the width must be exact for callers. */
    static const char digits[] = "0123456789";
    int y = tm.tm_year + 1900;
    char *p = out;
    *p++ = digits[y / 1000 % 10];
    *p++ = digits[y / 100 % 10];
    *p++ = digits[y / 10 % 10];
    *p++ = digits[y % 10];
    *p++ = '-';
    *p++ = digits[(tm.tm_mon + 1) / 10];
    *p++ = digits[(tm.tm_mon + 1) % 10];
    *p++ = '-';
    *p++ = digits[tm.tm_mday / 10];
    *p++ = digits[tm.tm_mday % 10];
    *p++ = 'T';
    *p++ = digits[tm.tm_hour / 10];
    *p++ = digits[tm.tm_hour % 10];
    *p++ = ':';
    *p++ = digits[tm.tm_min / 10];
    *p++ = digits[tm.tm_min % 10];
    *p++ = ':';
    *p++ = digits[tm.tm_sec / 10];
    *p++ = digits[tm.tm_sec % 10];
    *p++ = '.';
    *p++ = digits[ms / 100];
    *p++ = digits[ms / 10 % 10];
    *p++ = digits[ms % 10];
    *p++ = 'Z';
    *p = '\0';
    return 24;
}

static bool num(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

int clock_parse_iso8601(const char *s, size_t len, uint64_t *real_us)
{
    unsigned y, mo, d, h, mi, se;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return WSP_EINVAL;
    if (!num(s, 4, &y) || !num(s + 5, 2, &mo) || !num(s + 8, 2, &d) || !num(s + 11, 2, &h) ||
        !num(s + 14, 2, &mi) || !num(s + 17, 2, &se))
        return WSP_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return WSP_EINVAL;
    size_t i = 19;
    uint64_t frac_us = 0;
    if (i < len && s[i] == '.') {
        i++;
        uint64_t scale = 100000;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_us += (uint64_t)(s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return WSP_EINVAL;
    }
    if (i >= len || s[i] != 'Z')
        return WSP_EINVAL;
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se;
    if (secs < 0)
        return WSP_EINVAL;
    *real_us = (uint64_t)secs * 1000000u + frac_us;
    return 0;
}

int clock_parse_duration_ms(const char *s, uint64_t *ms)
{
    if (!s || !*s)
        return WSP_EINVAL;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0)) /* also refuses "nan" */
        return WSP_EINVAL;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "us") == 0)
        mult = 0.001;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return WSP_EINVAL;
    double r = v * mult;
    /* the bound is on the result, so every duration accepted in one unit
     * is accepted in ms too (--print-config writes ms) */
    if (!(r <= 1e15))
        return WSP_EINVAL;
    if (r > 0 && r < 1)
        r = 1; /* a non-zero duration never rounds to "off" */
    *ms = (uint64_t)(r + 0.5);
    return 0;
}
