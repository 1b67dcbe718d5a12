/* log.c - leveled logging to stderr (see log.h).
 *
 * Each line is formatted into one buffer and written with a single write(2),
 * so lines from several processes sharing stderr do not interleave. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_level = WSP_LOG_INFO;
static char g_role[32] = "wspush";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void wsp_log_set_level(int level) { g_level = level; }
int wsp_log_get_level(void) { return g_level; }

int wsp_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return WSP_LOG_WARN;
    return -1;
}

const char *wsp_log_level_name(int level)
{
    return level_names[level < 0 ? 0 : level > 3 ? 3 : level];
}

void wsp_log_set_role(const char *role)
{
    snprintf(g_role, sizeof g_role, "%s", role);
}

__attribute__((format(printf, 2, 0))) static void vlog(int level, const char *fmt, va_list ap)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     level_names[level < 0 ? 0 : level > 3 ? 3 : level], g_role);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void wsp_log(int level, const char *fmt, ...)
{
    if (level > g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void wsp_log_limited(struct wsp_log_limit *lim, int level, const char *fmt, ...)
{
    if (level > g_level)
        return;
    long long now = (long long)time(NULL);
    if (now != lim->window_s) {
        if (lim->dropped)
            wsp_log(level, "(%u similar messages suppressed)", lim->dropped);
        lim->window_s = now;
        lim->count = 0;
        lim->dropped = 0;
    }
    if (++lim->count > WSP_LOG_LIMIT_PER_S) {
        lim->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}
