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
 * names are stable (docs/config.md). */
#ifndef WSP_LOG_H
#define WSP_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum wsp_log_level { WSP_LOG_ERROR = 0, WSP_LOG_WARN, WSP_LOG_INFO, WSP_LOG_DEBUG };

void wsp_log_set_level(int level);
int wsp_log_get_level(void);
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

void wsp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A structured field: a string (str != NULL) or a number. Borrowed. */
struct wsp_log_field {
    const char *key; /* a JSON-safe name: [a-z_]+ */
    const char *str;
    long long num;
};
/* One line with fields: JSON members after "msg", or key=value in text. */
void wsp_log_fields(int level, const struct wsp_log_field *f, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Per call-site rate limit: state is a caller-owned static. */
struct wsp_log_limit {
    long long window_s;
    unsigned count;
    unsigned dropped;
};
#define WSP_LOG_LIMIT_PER_S 5
void wsp_log_limited(struct wsp_log_limit *lim, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) wsp_log(WSP_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) wsp_log(WSP_LOG_WARN, __VA_ARGS__)
#define log_info(...) wsp_log(WSP_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                       \
    do {                                                                     \
        if (wsp_log_get_level() >= WSP_LOG_DEBUG)                            \
            wsp_log(WSP_LOG_DEBUG, __VA_ARGS__);                             \
    } while (0)
#define log_ratelimited(level, ...)                                          \
    do {                                                                     \
        static struct wsp_log_limit lim_;                                    \
        wsp_log_limited(&lim_, level, __VA_ARGS__);                          \
    } while (0)

#endif
