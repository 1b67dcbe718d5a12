/* test_config_file.c - the YAML config file parser (config_file.c), the
 * text forms of config_show.c, and their place in config_parse's
 * precedence (flags > environment > file > defaults).
 *
 * Parser inputs are table-driven; each valid file is also parsed cut at
 * every byte (each prefix must parse or fail cleanly), with its end against
 * a guard page so an over-read crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../guard_page.h"
#include "config/config.h"
#include "config/config_file.h"
#include "config/config_show.h"
#include "core/log.h"

/* ---- helpers ------------------------------------------------------------- */

/* Defaults only: config_parse with no arguments and no WSPUSH_* set. */
static void defaults(struct wsp_config *c)
{
    static char *argv[] = {"serve", NULL};
    assert_int_equal(config_parse(c, 1, argv, stdout, stderr), 0);
}

struct errbuf {
    char *text;
    size_t len;
    FILE *f;
};

static void eb_open(struct errbuf *e)
{
    e->f = open_memstream(&e->text, &e->len);
}
static void eb_close(struct errbuf *e)
{
    fclose(e->f);
    e->f = NULL;
}

/* Parses text on top of the defaults; returns the status, the message in e. */
static int parse(struct wsp_config *c, const char *text, struct errbuf *e)
{
    defaults(c);
    eb_open(e);
    int r = config_file_parse(c, (const char *)at_guard(text, strlen(text)), strlen(text), "t.yaml",
                              e->f);
    eb_close(e);
    return r;
}

static void parse_ok(struct wsp_config *c, const char *text)
{
    struct errbuf e;
    int r = parse(c, text, &e);
    if (r != 0)
        fail_msg("%s -> %s", text, e.text);
    assert_int_equal(e.len, 0);
    free(e.text);
}

/* ---- cases --------------------------------------------------------------- */

static void test_config_file_every_type(void **state)
{
    (void)state;
    struct wsp_config c;
    parse_ok(&c, "# a comment\n"
                 "listen: 127.0.0.1:0\n"  /* string */
                 "max-conns: 100000\n"    /* integer */
                 "max-backlog: 1MiB\n"    /* size */
                 "tick: 1.5s\n"           /* duration */
                 "tick-topic: \"time\"\n" /* quoted */
                 "workers: auto\n"        /* workers */
                 "slow-policy: latest\n"  /* policy */
                 "deflate: off\n"         /* switch */
                 "io-uring: false\n"
                 "log-level: debug\n"                                       /* level */
                 "allow-origin: [https://a.example, 'https://b.example']\n" /* flow list */
                 "protocol:\n  - v1\n  - v2\n"                              /* block list */
                 "tls-cert: a.pem, b.pem\n"                                 /* comma list */
                 "tls-key: [a.key, b.key]\n");
    assert_string_equal(c.listen, "127.0.0.1:0");
    assert_int_equal(c.max_conns, 100000);
    assert_int_equal(c.max_backlog_bytes, 1 << 20);
    assert_int_equal(c.tick_ms, 1500);
    assert_string_equal(c.tick_topic, "time");
    assert_true(c.workers_auto);
    assert_int_equal(c.slow_policy, SLOW_LATEST);
    assert_false(c.deflate);
    assert_false(c.io_uring);
    assert_int_equal(c.log_level, WSP_LOG_DEBUG);
    char v[256];
    for (size_t i = 0; i < config_opt_count(); i++) {
        if (!strcmp(config_opt_name(i), "allow-origin")) {
            assert_true(config_opt_format(&c, i, v, sizeof v) > 0);
            assert_string_equal(v, "https://a.example,https://b.example");
        }
        if (!strcmp(config_opt_name(i), "protocol")) {
            assert_true(config_opt_format(&c, i, v, sizeof v) > 0);
            assert_string_equal(v, "v1,v2");
        }
        if (!strcmp(config_opt_name(i), "tls-cert")) {
            assert_true(config_opt_format(&c, i, v, sizeof v) > 0);
            assert_string_equal(v, "a.pem,b.pem");
        }
    }
}

static void test_config_file_empty_and_null(void **state)
{
    (void)state;
    static const char *const ok[] = {"", "\n", "# nothing\n", "---\n", "---\n...\n", "~\n", "{}\n"};
    struct wsp_config c;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        parse_ok(&c, ok[i]);
    /* null and empty values clear a string; empty list clears a list */
    parse_ok(&c, "redis-prefix: ~\nallow-origin: []\necho-path:\n");
    assert_string_equal(c.redis_prefix, "");
    assert_string_equal(c.echo_path, "");
    parse_ok(&c, "redis-prefix: \"null\"\n");
    assert_string_equal(c.redis_prefix, "null");
}

static const struct {
    const char *text;
    const char *want; /* substring of the one error line */
} bad[] = {
    {"max-con: 5\n", "t.yaml:1: unknown option 'max-con' (did you mean 'max-conns'?)"},
    {"tick: 1s\nmax-cons: 5\n", "t.yaml:2: unknown option 'max-cons' (did you mean 'max-conns'?)"},
    {"--tick: 1s\n", "t.yaml:1: unknown option '--tick' (did you mean 'tick'?)"},
    {"zzzzzzzzzz: 1\n", "unknown option 'zzzzzzzzzz' (wspush serve --help"},
    {"config: x.yaml\n", "t.yaml:1: 'config' is a command-line option only"},
    {"max-conns: abc\n", "t.yaml:1: --max-conns: 'abc' is not a non-negative integer"},
    {"\n\nmax-conns: -1\n", "t.yaml:3:"},
    {"tick: nan\n", "t.yaml:1: --tick: 'nan' is not a duration"},
    {"max-backlog: nan\n", "t.yaml:1: --max-backlog: 'nan' is not a size"},
    {"ring-size: inf\n", "is not a size"},
    {"deflate: maybe\n", "t.yaml:1: --deflate: 'maybe' must be on or off"},
    {"slow-policy: 3\n", "must be close, drop or latest"},
    {"log-level: loud\n", "must be error, warn, info or debug"},
    {"log-level: info,tsl=debug\n",
     "t.yaml:1: --log-level: unknown subsystem 'tsl' (did you mean 'tls'?"},
    {"log-level: info,zzzzz=debug\n", "unknown subsystem 'zzzzz' (subsystems: core, http, tls, "},
    {"log-level: info,tls=loud\n",
     "--log-level: 'tls=loud': 'loud' must be error, warn, info or debug"},
    {"log-level: info,warn\n", "--log-level: 'warn': the default level is given twice"},
    {"log-level: tls=debug,tls=warn\n", "--log-level: 'tls=warn': tls is given twice"},
    {"log-level: \"info,,tls=debug\"\n", "--log-level: empty item"},
    {"log-level: \"info,tls=\"\n", "--log-level: 'tls=': 'tls' needs a level"},
    {"log-level: \"=debug\"\n", "--log-level: '=debug': a subsystem name is missing"},
    {"workers: 1000\n", "must be 0..256 or auto"},
    {"max-conns: 1\nmax-conns: 2\n", "t.yaml:2: max-conns is set twice (first on line 1)"},
    {"max-conns: [1, 2]\n", "t.yaml:1: max-conns takes one value, not a list"},
    {"max-conns:\n  a: 1\n", "t.yaml:2: max-conns takes one value, not a mapping"},
    {"allow-origin: {a: 1}\n", "takes a value or a list of values, not a mapping"},
    {"allow-origin: [[a]]\n", "list items must be plain values, not a list"},
    {"allow-origin: [a, '']\n", "empty list item"},
    {"allow-origin: ['a,b']\n", "may not hold a comma"},
    {"x: &a 1\ntick: *a\n", "unknown option 'x'"},
    {"tick: &a 1s\ntick-topic: *a\n", "t.yaml:2: tick-topic takes one value, not an alias"},
    {"[a, b]\n", "t.yaml:1: a config file is a mapping"},
    {"just a string\n", "a config file is a mapping"},
    {"? [a]\n: 1\n", "keys must be option names"},
    {"tick: 1s\n---\ntick: 2s\n", "t.yaml:2: only one YAML document"},
    {"protocol: [a\n", "not valid YAML"},
    {"tick: \"1s\n", "not valid YAML"},
    {"\ttick: 1s\n", "not valid YAML"},
    {"tick-topic: \"a\\0b\"\n", "holds a NUL"},
    {"tick: 1s\n  bad indent\n", "'1s bad indent' is not a duration"},
    {"\xff\xfe: 1\n", "not valid YAML"},
};

static void test_config_file_errors_name_the_line(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct wsp_config c;
        struct errbuf e;
        int r = parse(&c, bad[i].text, &e);
        if (r != 2 || !strstr(e.text, bad[i].want))
            fail_msg("case %zu %s: r=%d, got '%s', want '%s'", i, bad[i].text, r, e.text,
                     bad[i].want);
        assert_non_null(strstr(e.text, "wspush: error: "));
        /* one line */
        assert_ptr_equal(strchr(e.text, '\n'), e.text + e.len - 1);
        free(e.text);
    }
}

/* Every prefix of each input (good and bad) parses or fails with one
 * message: never a crash or a read past the end. */
static void test_config_file_any_split(void **state)
{
    (void)state;
    const char *good = "listen: 127.0.0.1:0\nallow-origin:\n  - https://a\n  - \"https://b\"\n"
                       "tick: 1s # comment\nprotocol: [a, b]\n";
    struct errbuf e;
    struct wsp_config c;
    size_t n = strlen(good);
    for (size_t cut = 0; cut <= n; cut++) {
        defaults(&c);
        eb_open(&e);
        int r = config_file_parse(&c, (const char *)at_guard(good, cut), cut, "t.yaml", e.f);
        eb_close(&e);
        assert_true(r == 0 || r == 2);
        assert_true(r == 0 ? e.len == 0 : e.len > 0);
        free(e.text);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (size_t cut = 0; cut <= strlen(bad[i].text); cut++) {
            defaults(&c);
            eb_open(&e);
            int r =
                config_file_parse(&c, (const char *)at_guard(bad[i].text, cut), cut, "t.yaml", e.f);
            eb_close(&e);
            assert_true(r == 0 || r == 2);
            free(e.text);
        }
}

/* text (heap, any size) must fail with a message holding want. */
static void expect_error(const char *text, const char *want)
{
    struct wsp_config c;
    defaults(&c);
    struct errbuf e;
    eb_open(&e);
    assert_int_equal(config_file_parse(&c, text, strlen(text), "t.yaml", e.f), 2);
    eb_close(&e);
    if (!strstr(e.text, want))
        fail_msg("got '%s', want '%s'", e.text, want);
    free(e.text);
}

static void test_config_file_huge_input(void **state)
{
    (void)state;
    /* a value past its buffer */
    size_t n = 200000;
    char *text = malloc(n + 32);
    assert_non_null(text);
    memcpy(text, "tick-topic: ", 12);
    memset(text + 12, 'a', n);
    strcpy(text + 12 + n, "\n");
    expect_error(text, "t.yaml:1: --tick-topic: value too long");

    /* a long flow list of many items: too many values for the buffer */
    char *p = text + sprintf(text, "allow-origin: [ab");
    for (size_t i = 1; i < 20000; i++)
        p += sprintf(p, ",ab");
    strcpy(p, "]\n");
    expect_error(text, "value too long");

    /* deep nesting stops at the first nested collection */
    memcpy(text, "protocol: ", 10);
    memset(text + 10, '[', n);
    text[10 + n] = '\0';
    expect_error(text, "list items must be plain values");
    free(text);

    /* a file past CONFIG_FILE_MAX_BYTES is refused before parsing */
    char path[] = "/tmp/wspush-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (size_t i = 0; i <= CONFIG_FILE_MAX_BYTES / 16; i++)
        fputs("# padding.....\n\n", f);
    fclose(f);
    struct wsp_config c;
    struct errbuf e;
    eb_open(&e);
    assert_int_equal(config_file_load(&c, path, e.f), 2);
    eb_close(&e);
    assert_non_null(strstr(e.text, "is larger than"));
    free(e.text);
    unlink(path);

    /* a missing file */
    eb_open(&e);
    assert_int_equal(config_file_load(&c, "/nonexistent/wspush.yaml", e.f), 2);
    eb_close(&e);
    assert_non_null(strstr(e.text, "cannot read config file /nonexistent/wspush.yaml"));
    free(e.text);
}

static void no_change(size_t i, const char *was, const char *now, void *arg)
{
    (void)arg;
    fail_msg("%s changed: %s -> %s", config_opt_name(i), was ? was : "(secret)",
             now ? now : "(secret)");
}

/* --print-config's output, parsed again, gives the same settings. */
/* issue 17: --log-level takes a default level and per-subsystem levels;
 * the list round-trips through --print-config and the command line. */
static void test_config_log_level_per_subsystem(void **state)
{
    (void)state;
    struct wsp_config c, d;
    parse_ok(&c, "log-level: info\n");
    assert_int_equal(c.log_level, WSP_LOG_INFO);
    for (int i = 0; i < WSP_LOG_SUBS; i++)
        assert_int_equal(c.log_sub_levels[i], -1);
    parse_ok(&c, "log-level: \" info , tls=debug,redis=warn \"\n");
    assert_int_equal(c.log_level, WSP_LOG_INFO);
    assert_int_equal(c.log_sub_levels[WSP_SUB_TLS], WSP_LOG_DEBUG);
    assert_int_equal(c.log_sub_levels[WSP_SUB_REDIS], WSP_LOG_WARN);
    assert_int_equal(c.log_sub_levels[WSP_SUB_CORE], -1);
    /* a list without a default level keeps info; subsystems in any order,
     * printed in the documented order */
    parse_ok(&c, "log-level: proxy=error,http=debug\n");
    assert_int_equal(c.log_level, WSP_LOG_INFO);
    assert_int_equal(c.log_sub_levels[WSP_SUB_HTTP], WSP_LOG_DEBUG);
    assert_int_equal(c.log_sub_levels[WSP_SUB_PROXY], WSP_LOG_ERROR);
    size_t i = 0;
    while (strcmp(config_opt_name(i), "log-level"))
        i++;
    char v[256];
    assert_true(config_opt_format(&c, i, v, sizeof v) > 0);
    assert_string_equal(v, "info,http=debug,proxy=error");
    parse_ok(&c, "log-level: warn,core=debug,history=info,auth=warning\n");
    assert_true(config_opt_format(&c, i, v, sizeof v) > 0);
    assert_string_equal(v, "warn,core=debug,auth=warn,history=info");
    /* the printed value parses back to the same settings */
    char text[300];
    snprintf(text, sizeof text, "log-level: \"%s\"\n", v);
    parse_ok(&d, text);
    assert_int_equal(config_show_diff(&c, &d, no_change, NULL), 0);
    assert_memory_equal(c.log_sub_levels, d.log_sub_levels, sizeof c.log_sub_levels);
    /* a later setting replaces the whole list (flag over file) */
    assert_int_equal(config_opt_set(&c, i, "debug", stderr, ""), 0);
    assert_int_equal(c.log_level, WSP_LOG_DEBUG);
    for (int k = 0; k < WSP_LOG_SUBS; k++)
        assert_int_equal(c.log_sub_levels[k], -1);
    /* every documented name is a subsystem, and back */
    for (int k = 0; k < WSP_LOG_SUBS; k++) {
        const char *name = wsp_log_sub_name(k);
        assert_int_equal(wsp_log_sub_parse(name, strlen(name)), k);
    }
    assert_int_equal(wsp_log_sub_parse("tlsx", 4), -1);
    assert_int_equal(wsp_log_sub_parse("tl", 2), -1);
}

/* issue 17: SIGHUP applies the live options only, from a byte copy of
 * another process's config (live_config.c), lists split again. */
static void test_config_apply_live(void **state)
{
    (void)state;
    struct wsp_config a, b;
    parse_ok(&a, "allow-origin: [https://a]\nmax-conns-per-ip: 5\nring-size: 1MiB\n"
                 "log-level: info\npublic-topics: [x]\n");
    parse_ok(&b, "allow-origin: [https://b, https://c]\nmax-conns-per-ip: 1\nring-size: 2MiB\n"
                 "log-level: warn,tls=debug\nping-interval: 5s\npublic-topics: [y, z]\n");
    struct wsp_config *copy = malloc(sizeof *copy);
    memcpy(copy, &b, sizeof b);
    memset(&b, 0x5a, sizeof b); /* the copy must not lean on b's memory */
    assert_int_equal(config_apply_live(&a, copy), 5);
    assert_int_equal(a.n_origins, 2);
    assert_string_equal(a.origins[0], "https://b");
    assert_string_equal(a.origins[1], "https://c");
    assert_true(a.origins[0] >= a.origins_buf &&
                a.origins[1] < a.origins_buf + sizeof a.origins_buf);
    assert_int_equal(a.max_conns_per_ip, 1);
    assert_int_equal(a.ping_interval_ms, 5000);
    assert_int_equal(a.log_level, WSP_LOG_WARN);
    assert_int_equal(a.log_sub_levels[WSP_SUB_TLS], WSP_LOG_DEBUG);
    assert_int_equal(a.n_public_topics, 2);
    assert_string_equal(a.public_topics[1], "z");
    assert_int_equal(a.ring_size_bytes, 1 << 20);     /* needs a restart: untouched */
    assert_int_equal(config_apply_live(&a, copy), 0); /* nothing left to change */
    free(copy);
    size_t live = 0;
    for (size_t i = 0; i < config_opt_count(); i++) {
        const char *n = config_opt_name(i);
        live += config_opt_is_live(i);
        if (!strcmp(n, "listen") || !strcmp(n, "workers") || !strcmp(n, "ring-size") ||
            !strcmp(n, "history-size") || !strcmp(n, "publish-token"))
            assert_false(config_opt_is_live(i));
        if (!strcmp(n, "allow-origin") || !strcmp(n, "max-conns") || !strcmp(n, "log-level"))
            assert_true(config_opt_is_live(i));
    }
    assert_int_equal(live, 16);
}

static void test_config_file_print_round_trip(void **state)
{
    (void)state;
    struct wsp_config a, b;
    parse_ok(&a, "listen: 127.0.0.1:0\nmax-conns: 7\ntick: 250ms\ntick-topic: \"a \\\"q\\\"\"\n"
                 "allow-origin: [https://a, \"x:y\"]\nworkers: auto\nmax-message: 1000\n"
                 "slow-policy: drop\nredis-prefix: ''\ndrain-timeout: 2m\nlog-level: warn\n"
                 "pong-timeout: 1199999999.5s\n"); /* fuzz_config: printed in ms */
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    config_show_print(&a, f);
    fclose(f);
    parse_ok(&b, text);
    assert_int_equal(config_show_diff(&a, &b, no_change, NULL), 0);
    /* and every option appears, as a key or a comment */
    for (size_t i = 0; i < config_opt_count(); i++)
        assert_non_null(strstr(text, config_opt_name(i)));
    free(text);
}

static void count_change(size_t i, const char *was, const char *now, void *arg)
{
    (void)i;
    char *log = arg;
    snprintf(log + strlen(log), 512 - strlen(log), "%s:%s>%s;", config_opt_name(i), was ? was : "*",
             now ? now : "*");
}

static void test_config_show_secrets_never_printed(void **state)
{
    (void)state;
    struct wsp_config a, b;
    parse_ok(&a, "publish-token: s3cr3t-value\nredis: redis://:pa55word@127.0.0.1:6379/0\n");
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    config_show_print(&a, f);
    fclose(f);
    assert_null(strstr(text, "s3cr3t"));
    assert_null(strstr(text, "pa55word"));
    assert_non_null(strstr(text, "# publish-token: set, not shown"));
    assert_non_null(strstr(text, "# redis: set, not shown"));
    free(text);
    parse_ok(&b, "publish-token: other\nmax-conns: 5\n");
    char log[512] = "";
    assert_int_equal(config_show_diff(&a, &b, count_change, log), 3);
    assert_string_equal(log, "max-conns:1000000>5;publish-token:*>*;redis:*>*;");
}

static void test_config_show_suggest(void **state)
{
    (void)state;
    assert_int_equal(config_opt_distance("tick", "tick"), 0);
    assert_int_equal(config_opt_distance("tikc", "tick"), 1);
    assert_int_equal(config_opt_distance("max-con", "max-conns"), 2);
    assert_int_equal(config_opt_distance("", "abc"), 3);
    assert_string_equal(config_show_suggest("max-con", 2), "max-conns");
    assert_string_equal(config_show_suggest("alow-origin", 2), "allow-origin");
    assert_null(config_show_suggest("bin", 1));
    assert_null(config_show_suggest("sanitize", 2));
}

static char *env_check(void)
{
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    config_show_env_check(f);
    fclose(f);
    return text;
}

static void test_config_show_env_near_misses(void **state)
{
    (void)state;
    setenv("WSPUSH_BIN", "/x/wspush", 1);
    setenv("WSPUSH_SANITIZE", "address", 1);
    setenv("WSPUSH_BENCH_BIN", "/x/b", 1);
    setenv("WSPUSH_CONFIG", "/x.yaml", 1);
    setenv("WSPUSH_MAX_CONNS", "5", 1);
    char *t = env_check();
    assert_string_equal(t, "");
    free(t);
    setenv("WSPUSH_MAX_CONN", "5", 1);
    t = env_check();
    assert_string_equal(t, "wspush: warning: environment variable WSPUSH_MAX_CONN is not an "
                           "option and is ignored; did you mean WSPUSH_MAX_CONNS?\n");
    free(t);
    unsetenv("WSPUSH_MAX_CONN");
    unsetenv("WSPUSH_MAX_CONNS");
    unsetenv("WSPUSH_CONFIG");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* flags > environment > file > defaults; WSPUSH_CONFIG names the file. */
static void test_config_parse_precedence(void **state)
{
    (void)state;
    char path[] = "/tmp/wspush-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "max-conns: 10\nmax-topics: 20\nmsg-rate: 30\nallow-origin: [https://f]\n");
    char *argv[] = {"serve", "--config", path, "--msg-rate", "3", NULL};
    setenv("WSPUSH_MAX_TOPICS", "2", 1);
    struct wsp_config c;
    FILE *null = fopen("/dev/null", "w");
    assert_int_equal(config_parse(&c, 5, argv, null, null), 0);
    assert_int_equal(c.max_conns, 10); /* file over default */
    assert_int_equal(c.max_topics, 2); /* environment over file */
    assert_int_equal(c.msg_rate, 3);   /* flag over both */
    assert_int_equal(c.n_origins, 1);
    assert_string_equal(c.origins[0], "https://f");
    assert_string_equal(c.config_path, path);
    unsetenv("WSPUSH_MAX_TOPICS");

    /* the environment names the file; --config=FILE too */
    setenv("WSPUSH_CONFIG", path, 1);
    char *argv2[] = {"serve", NULL};
    assert_int_equal(config_parse(&c, 1, argv2, null, null), 0);
    assert_int_equal(c.max_conns, 10);
    unsetenv("WSPUSH_CONFIG");
    char arg[64];
    snprintf(arg, sizeof arg, "--config=%s", path);
    char *argv3[] = {"serve", arg, NULL};
    assert_int_equal(config_parse(&c, 2, argv3, null, null), 0);
    assert_int_equal(c.max_conns, 10);

    /* a list flag replaces the file's list */
    char *argv4[] = {"serve", "--config", path, "--allow-origin", "https://x", NULL};
    assert_int_equal(config_parse(&c, 5, argv4, null, null), 0);
    assert_int_equal(c.n_origins, 1);
    assert_string_equal(c.origins[0], "https://x");

    /* a bad file fails the parse; --config without a value too */
    write_file(path, "max-conns: 0\n");
    assert_int_equal(config_parse(&c, 5, argv, null, null), 2);
    char *argv5[] = {"serve", "--config", NULL};
    assert_int_equal(config_parse(&c, 2, argv5, null, null), 2);

    /* --print-config prints and says "done" */
    write_file(path, "max-conns: 12\n");
    char *out;
    size_t len;
    FILE *o = open_memstream(&out, &len);
    char *argv6[] = {"serve", "--config", path, "--print-config", NULL};
    assert_int_equal(config_parse(&c, 4, argv6, o, null), 1);
    fclose(o);
    assert_non_null(strstr(out, "\nmax-conns: 12\n"));
    free(out);
    fclose(null);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_file_every_type),
        cmocka_unit_test(test_config_file_empty_and_null),
        cmocka_unit_test(test_config_file_errors_name_the_line),
        cmocka_unit_test(test_config_file_any_split),
        cmocka_unit_test(test_config_file_huge_input),
        cmocka_unit_test(test_config_log_level_per_subsystem),
        cmocka_unit_test(test_config_apply_live),
        cmocka_unit_test(test_config_file_print_round_trip),
        cmocka_unit_test(test_config_show_secrets_never_printed),
        cmocka_unit_test(test_config_show_suggest),
        cmocka_unit_test(test_config_show_env_near_misses),
        cmocka_unit_test(test_config_parse_precedence),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
