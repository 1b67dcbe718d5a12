/* test_log.c - log lines as text and JSON (log.c) and the JSON escaper
 * they share (json.c): every JSON line is one valid object, however long
 * or hostile its message, with the stable fields first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"

/* Runs the logging in fn with stderr sent to a file; returns its text. */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/wspush-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(fd, text, (size_t)n, 0), n);
    close(fd);
    unlink(path);
    return text;
}

static void log_plain(void)
{
    wsp_log_set_format(WSP_LOG_JSON);
    wsp_log_set_role("worker 3");
    log_info("hello \"%s\"\n\x01", "q");
    struct wsp_log_field f[] = {{"status", NULL, 101}, {"peer", "127.0.0.1:5", 0}};
    wsp_log_fields(WSP_LOG_WARN, f, 2, "handshake %s", "accepted");
    log_debug("not shown at info");
    wsp_log_set_format(WSP_LOG_TEXT);
    wsp_log_fields(WSP_LOG_INFO, f, 2, "as text");
}

/* issue 17: each subsystem has its own level; a filtered call costs a
 * byte compare (its arguments are not even evaluated). */
static int g_evaluated;
static int evaluated(void)
{
    return ++g_evaluated;
}

static void log_per_subsystem(void)
{
    wsp_log_set_format(WSP_LOG_JSON);
    wsp_log_set_role("master");
    int8_t subs[WSP_LOG_SUBS];
    memset(subs, -1, sizeof subs);
    subs[WSP_SUB_TLS] = WSP_LOG_DEBUG;
    subs[WSP_SUB_REDIS] = WSP_LOG_WARN;
    wsp_log_set_levels(WSP_LOG_INFO, subs);
    log_sub_debug(WSP_SUB_TLS, "tls debug %d", evaluated());
    log_sub_info(WSP_SUB_REDIS, "redis info %d", evaluated()); /* filtered */
    log_sub_warn(WSP_SUB_REDIS, "redis warn");
    log_debug("core debug %d", evaluated()); /* filtered */
    log_info("core info");
    wsp_log_set_level(WSP_LOG_INFO);
    log_sub_debug(WSP_SUB_TLS, "tls debug again %d", evaluated()); /* filtered */
    wsp_log_set_format(WSP_LOG_TEXT);
}

static void test_log_level_per_subsystem(void **state)
{
    (void)state;
    g_evaluated = 0;
    char *t = capture(log_per_subsystem);
    assert_non_null(strstr(t, "\"msg\":\"tls debug 1\",\"subsystem\":\"tls\"}\n"));
    assert_null(strstr(t, "redis info"));
    assert_non_null(strstr(t, "\"level\":\"warn\""));
    assert_non_null(strstr(t, "\"msg\":\"redis warn\",\"subsystem\":\"redis\"}\n"));
    assert_null(strstr(t, "core debug"));
    assert_non_null(strstr(t, "\"msg\":\"core info\"}\n")); /* core: no subsystem field */
    assert_null(strstr(t, "again"));
    assert_int_equal(g_evaluated, 1);
    assert_int_equal(wsp_log_get_level(), WSP_LOG_INFO);
    free(t);
}

static void test_log_json_fields(void **state)
{
    (void)state;
    char *t = capture(log_plain);
    char pid[32];
    snprintf(pid, sizeof pid, "\"pid\":%ld,", (long)getpid());
    char *l2 = strchr(t, '\n') + 1;
    char *l3 = strchr(l2, '\n') + 1;
    assert_memory_equal(t, "{\"ts\":\"", 7);
    assert_true(t[7 + 4] == '-' && t[7 + 23] == 'Z' && t[7 + 19] == '.'); /* RFC 3339, ms, UTC */
    assert_non_null(strstr(t, "\"level\":\"info\""));
    assert_non_null(strstr(t, pid));
    assert_non_null(strstr(t, "\"role\":\"worker\",\"worker\":3,"));
    assert_non_null(strstr(t, "\"msg\":\"hello \\\"q\\\"\\n\\u0001\"}\n"));
    assert_non_null(strstr(l2, "\"level\":\"warn\""));
    assert_non_null(strstr(l2, "\"msg\":\"handshake accepted\",\"status\":101,"
                               "\"peer\":\"127.0.0.1:5\"}\n"));
    assert_non_null(strstr(l3, " info  [worker 3] as text status=101 peer=127.0.0.1:5\n"));
    assert_null(strstr(t, "not shown"));
    free(t);
}

static void log_long(void)
{
    wsp_log_set_format(WSP_LOG_JSON);
    char *big = malloc(5000);
    for (int i = 0; i < 4999; i++)
        big[i] = "\"\\\x01\xff\xc3\xa9x"[i % 7];
    big[4999] = '\0';
    struct wsp_log_field f[] = {{"a", big, 0}, {"b", big, 0}, {"n", NULL, -5}};
    wsp_log_fields(WSP_LOG_ERROR, f, 3, "%s", big);
    log_error("%s", big);
    free(big);
    wsp_log_set_format(WSP_LOG_TEXT);
}

/* Cut lines stay whole objects: they end in "}\n" and hold no raw control
 * byte or invalid UTF-8; each string is closed (an even number of
 * unescaped quotes). */
static void test_log_json_long_lines_stay_valid(void **state)
{
    (void)state;
    char *t = capture(log_long);
    int lines = 0;
    for (char *l = t, *nl; (nl = strchr(l, '\n')); l = nl + 1, lines++) {
        assert_true(nl - l <= 2048);
        assert_true(l[0] == '{' && nl[-1] == '}');
        int quotes = 0;
        for (char *p = l; p < nl; p++) {
            assert_true((unsigned char)*p >= 0x20);
            assert_true((unsigned char)*p != 0xff);
            if (*p == '\\')
                p++;
            else if (*p == '"')
                quotes++;
        }
        assert_int_equal(quotes % 2, 0);
        assert_non_null(strstr(l, "\\ufffd"));
    }
    assert_int_equal(lines, 2);
    free(t);
}

/* Cut at every capacity, the escaper never writes half an escape or half
 * a UTF-8 sequence, and says how much of the input it used. */
static void test_json_escape_any_cap(void **state)
{
    (void)state;
    static const char in[] =
        "a\"b\\c\n\x01\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\xc3z\xed\xa0\x80";
    static const char full[] = "a\\\"b\\\\c\\n\\u0001\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                               "\\ufffd\\ufffdz\\ufffd\\ufffd\\ufffd";
    char out[128];
    size_t used;
    size_t n = json_escape(out, sizeof out, in, sizeof in - 1, &used);
    assert_string_equal(out, full);
    assert_int_equal(n, strlen(full));
    assert_int_equal(used, sizeof in - 1);
    for (size_t cap = 0; cap <= sizeof full; cap++) {
        char *o = malloc(cap ? cap : 1);
        n = json_escape(o, cap, in, sizeof in - 1, &used);
        assert_true(cap == 0 || n < cap);
        if (cap)
            assert_memory_equal(o, full, n); /* a prefix of the whole */
        /* and the rest continues exactly where it stopped */
        char rest[128];
        size_t m = json_escape(rest, sizeof rest, in + used, sizeof in - 1 - used, NULL);
        assert_int_equal(n + m, strlen(full));
        assert_memory_equal(rest, full + n, m);
        free(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_json_fields),
        cmocka_unit_test(test_log_level_per_subsystem),
        cmocka_unit_test(test_log_json_long_lines_stay_valid),
        cmocka_unit_test(test_json_escape_any_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
