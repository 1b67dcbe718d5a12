/* log.c - leveled logging to stderr, as text or JSON lines (see log.h).
 *
 * Each line is formatted into one buffer and written with a single write(2),
 * so lines from several processes sharing stderr do not interleave. A line
 * too long for the buffer is cut inside its message or a field value, never
 * inside the JSON framing: every JSON line parses. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"

int8_t wsp_log_levels[WSP_LOG_SUBS] = {WSP_LOG_INFO, WSP_LOG_INFO, WSP_LOG_INFO, WSP_LOG_INFO,
                                       WSP_LOG_INFO, WSP_LOG_INFO, WSP_LOG_INFO, WSP_LOG_INFO};
_Static_assert(WSP_LOG_SUBS == 8, "initialise every subsystem's level");
static int g_format = WSP_LOG_TEXT;
static char g_role[32] = "wspush";
static char g_role_json[48] = "\"role\":\"wspush\""; /* the role as JSON members */
static long g_pid;                                   /* 0: not known yet */

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const sub_names[WSP_LOG_SUBS] = {"core", "http",  "tls",     "redis",
                                                    "auth", "admin", "history", "proxy"};

void wsp_log_set_level(int level)
{
    for (int i = 0; i < WSP_LOG_SUBS; i++)
        wsp_log_levels[i] = (int8_t)level;
}

void wsp_log_set_levels(int base, const int8_t *sub)
{
    for (int i = 0; i < WSP_LOG_SUBS; i++)
        wsp_log_levels[i] = (int8_t)(sub[i] >= 0 ? sub[i] : base);
}

int wsp_log_get_level(void)
{
    return wsp_log_levels[WSP_SUB_CORE];
}

int wsp_log_sub_parse(const char *s, size_t n)
{
    for (int i = 0; i < WSP_LOG_SUBS; i++)
        if (strlen(sub_names[i]) == n && !memcmp(s, sub_names[i], n))
            return i;
    return -1;
}

const char *wsp_log_sub_name(int sub)
{
    return sub_names[sub < 0 ? 0 : sub >= WSP_LOG_SUBS ? WSP_LOG_SUBS - 1 : sub];
}
void wsp_log_set_format(int format)
{
    g_format = format;
}

int wsp_log_parse_format(const char *s)
{
    if (!strcmp(s, "text"))
        return WSP_LOG_TEXT;
    if (!strcmp(s, "json"))
        return WSP_LOG_JSON;
    return -1;
}

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

/* Called in each process after fork (the master and every worker set their
 * role), so the pid is read here once rather than per line. */
void wsp_log_set_role(const char *role)
{
    snprintf(g_role, sizeof g_role, "%s", role);
    g_pid = (long)getpid();
    char *end;
    long n;
    if (!strncmp(g_role, "worker ", 7) && (n = strtol(g_role + 7, &end, 10)) >= 0 && !*end)
        snprintf(g_role_json, sizeof g_role_json, "\"role\":\"worker\",\"worker\":%ld", n);
    else {
        char esc[32];
        json_escape(esc, sizeof esc, g_role, strlen(g_role), NULL);
        snprintf(g_role_json, sizeof g_role_json, "\"role\":\"%s\"", esc);
    }
}

struct line {
    char buf[2048];
    size_t len;
    size_t reserve; /* bytes kept free for the closing of the line */
};

static void put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof l->buf - l->reserve - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* A JSON string's contents; a cut one is still a whole string. */
static void put_json(struct line *l, const char *s, size_t n)
{
    l->len += json_escape(l->buf + l->len, sizeof l->buf - l->reserve - l->len, s, n, NULL);
}

static void put_field(struct line *l, const struct wsp_log_field *f)
{
    char num[32];
    if (g_format == WSP_LOG_JSON) {
        /* a member is written whole or not at all: 24 bytes for the key,
         * quotes and separators of a string value, more if it is cut */
        if (sizeof l->buf - l->reserve - l->len < strlen(f->key) + 32)
            return;
        puts_(l, ",\"");
        puts_(l, f->key);
        puts_(l, "\":");
        if (f->str) {
            l->reserve += 1;
            puts_(l, "\"");
            put_json(l, f->str, strlen(f->str));
            l->reserve -= 1;
            puts_(l, "\"");
        } else {
            snprintf(num, sizeof num, "%lld", f->num);
            puts_(l, num);
        }
        return;
    }
    puts_(l, " ");
    puts_(l, f->key);
    puts_(l, "=");
    if (!f->str) {
        snprintf(num, sizeof num, "%lld", f->num);
        puts_(l, num);
    } else if (!*f->str || strpbrk(f->str, " \t\"=")) {
        puts_(l, "\"");
        put_json(l, f->str, strlen(f->str)); /* quoted, escaped */
        puts_(l, "\"");
    } else
        put_json(l, f->str, strlen(f->str));
}

__attribute__((format(printf, 5, 0))) static void
vlog(int sub, int level, const struct wsp_log_field *f, size_t nf, const char *fmt, va_list ap)
{
    struct line l = {.len = 0, .reserve = 3}; /* "\"}\n" or "\n" */
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    const char *lv = wsp_log_level_name(level);
    char msg[1024];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    if (m < 0)
        return;
    size_t mlen = (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
    int n;
    if (g_format == WSP_LOG_JSON) {
        n = snprintf(l.buf, sizeof l.buf,
                     "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%ld,%s,\"msg\":\"", when, lv,
                     g_pid ? g_pid : (long)getpid(), g_role_json);
        l.len = (size_t)n;
        l.reserve = 3 + 512; /* the message leaves room for the fields */
        put_json(&l, msg, mlen);
        l.reserve = 2; /* "}\n" */
        puts_(&l, "\"");
    } else {
        n = snprintf(l.buf, sizeof l.buf, "%s %-5s [%s] ", when, lv, g_role);
        l.len = (size_t)n;
        l.reserve = 1;
        put(&l, msg, mlen);
    }
    for (size_t i = 0; i < nf; i++)
        put_field(&l, &f[i]);
    if (g_format == WSP_LOG_JSON && sub != WSP_SUB_CORE) {
        struct wsp_log_field s = {"subsystem", wsp_log_sub_name(sub), 0};
        put_field(&l, &s);
    }
    if (g_format == WSP_LOG_JSON)
        l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}

static bool filtered(int sub, int level)
{
    return sub < 0 || sub >= WSP_LOG_SUBS || !wsp_log_on(sub, level);
}

void wsp_log_at(int sub, int level, const char *fmt, ...)
{
    if (filtered(sub, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(sub, level, NULL, 0, fmt, ap);
    va_end(ap);
}

void wsp_log_fields_at(int sub, int level, const struct wsp_log_field *f, size_t n, const char *fmt,
                       ...)
{
    if (filtered(sub, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(sub, level, f, n, fmt, ap);
    va_end(ap);
}

void wsp_log_limited_at(struct wsp_log_limit *lim, int sub, int level, const char *fmt, ...)
{
    if (filtered(sub, level))
        return;
    long long now = (long long)time(NULL);
    if (now != lim->window_s) {
        if (lim->dropped)
            wsp_log_at(sub, level, "(%u similar messages suppressed)", lim->dropped);
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
    vlog(sub, level, NULL, 0, fmt, ap);
    va_end(ap);
}
