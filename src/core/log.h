/* log.h - leveled logging to stderr, as text or JSON lines.
 *
 * One line per event that matters, with time, level and the process role
 * ("master", "worker 3"). Never called per message or per connection at
 * the default level (info). wsp_log_ratelimited() drops repeats of one call
 * site beyond a few per second.
 *
 * Text:  2024-05-01T12:00:00.123Z info  [worker 3] msg key=value ...
 * JSON:  {"ts":"2024-05-01T12:00:00.123Z","level":"info","pid":42,
 *         "role":"worker","worker":3,"msg":"...","key":"value",...}
 * one object per line; ts is RFC 3339 UTC with milliseconds; these field
 * names are stable (docs/config.md). A line of another subsystem than core
 * ends with "subsystem":"tls" (JSON only).
 *
 * Subsystems: each call names one (a file's calls default to WSP_LOG_SUB,
 * which a .c file may #define before including this header; WSP_SUB_CORE
 * otherwise), and each subsystem has its own level (--log-level
 * info,tls=debug). The macros compare one byte of wsp_log_levels before
 * calling anything, so a filtered call costs no formatting and does not
 * even evaluate its arguments. */
#ifndef WSP_LOG_H
#define WSP_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

enum wsp_log_level { WSP_LOG_ERROR = 0, WSP_LOG_WARN, WSP_LOG_INFO, WSP_LOG_DEBUG };

/* The subsystems, in the order --print-config lists them (docs/config.md):
 * core: master and workers (start, stop, crashes, reloads, the ring);
 * http: the public port's requests (the --access-log lines);
 * tls: certificates; redis: the Redis link; auth: token keys;
 * admin: the admin port and its control API; history: the message store;
 * proxy: PROXY protocol and X-Forwarded-For. */
enum wsp_log_sub {
    WSP_SUB_CORE = 0,
    WSP_SUB_HTTP,
    WSP_SUB_TLS,
    WSP_SUB_REDIS,
    WSP_SUB_AUTH,
    WSP_SUB_ADMIN,
    WSP_SUB_HISTORY,
    WSP_SUB_PROXY,
    WSP_LOG_SUBS
};

/* The effective level of each subsystem: read by the macros below, written
 * only through wsp_log_set_level(s). One process, one thread. */
extern int8_t wsp_log_levels[WSP_LOG_SUBS];

/* Every subsystem at level. */
void wsp_log_set_level(int level);
/* Subsystem i at sub[i], or at base where sub[i] < 0. */
void wsp_log_set_levels(int base, const int8_t *sub);
/* The core subsystem's level. */
int wsp_log_get_level(void);
/* "tls" (n bytes) -> WSP_SUB_TLS; -1 if unknown. */
int wsp_log_sub_parse(const char *s, size_t n);
/* WSP_SUB_TLS -> "tls" (clamped). */
const char *wsp_log_sub_name(int sub);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int wsp_log_parse_level(const char *s);
/* level -> "error", "warn", "info", "debug" (clamped). */
const char *wsp_log_level_name(int level);
/* Copied; at most 31 bytes kept. */
void wsp_log_set_role(const char *role);

enum wsp_log_format { WSP_LOG_TEXT = 0, WSP_LOG_JSON };
void wsp_log_set_format(int format);
/* "text", "json" -> format; -1 if unknown. */
int wsp_log_parse_format(const char *s);

#ifndef WSP_LOG_SUB
#define WSP_LOG_SUB WSP_SUB_CORE
#endif

#define wsp_log_on(sub, level) ((int)(level) <= (int)wsp_log_levels[(sub)])

/* The functions behind the macros: they check the level again, so calling
 * them directly is correct, only not free when filtered. */
void wsp_log_at(int sub, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A structured field: a string (str != NULL) or a number. Borrowed. */
struct wsp_log_field {
    const char *key; /* a JSON-safe name: [a-z_]+ */
    const char *str;
    long long num;
};
/* One line with fields: JSON members after "msg", or key=value in text. */
void wsp_log_fields_at(int sub, int level, const struct wsp_log_field *f, size_t n, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

/* Per call-site rate limit: state is a caller-owned static. */
struct wsp_log_limit {
    long long window_s;
    unsigned count;
    unsigned dropped;
};
#define WSP_LOG_LIMIT_PER_S 5
void wsp_log_limited_at(struct wsp_log_limit *lim, int sub, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* level, then printf arguments; in the file's subsystem (WSP_LOG_SUB) */
#define log_sub(sub, level, ...)                                                                   \
    do {                                                                                           \
        if (wsp_log_on(sub, level))                                                                \
            wsp_log_at(sub, level, __VA_ARGS__);                                                   \
    } while (0)
#define wsp_log(level, ...) log_sub(WSP_LOG_SUB, level, __VA_ARGS__)
#define wsp_log_fields(level, ...)                                                                 \
    do {                                                                                           \
        if (wsp_log_on(WSP_LOG_SUB, level))                                                        \
            wsp_log_fields_at(WSP_LOG_SUB, level, __VA_ARGS__);                                    \
    } while (0)
#define log_error(...) log_sub(WSP_LOG_SUB, WSP_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_sub(WSP_LOG_SUB, WSP_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_sub(WSP_LOG_SUB, WSP_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_sub(WSP_LOG_SUB, WSP_LOG_DEBUG, __VA_ARGS__)
/* another subsystem than the file's, for one call */
#define log_sub_error(sub, ...) log_sub(sub, WSP_LOG_ERROR, __VA_ARGS__)
#define log_sub_warn(sub, ...) log_sub(sub, WSP_LOG_WARN, __VA_ARGS__)
#define log_sub_info(sub, ...) log_sub(sub, WSP_LOG_INFO, __VA_ARGS__)
#define log_sub_debug(sub, ...) log_sub(sub, WSP_LOG_DEBUG, __VA_ARGS__)
#define log_ratelimited(level, ...)                                                                \
    do {                                                                                           \
        static struct wsp_log_limit lim_;                                                          \
        if (wsp_log_on(WSP_LOG_SUB, level))                                                        \
            wsp_log_limited_at(&lim_, WSP_LOG_SUB, level, __VA_ARGS__);                            \
    } while (0)

#endif
