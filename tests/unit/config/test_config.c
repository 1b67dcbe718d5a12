/* test_config.c - the command line and environment side of `wspush serve`'s
 * configuration (config.c over config_opt.c): every option kind parsed from
 * argv and from WSPUSH_* variables with the exact error line for bad input,
 * the checks across options and their bounds, list options (split, trimmed,
 * repeated, too many), --print-config fed back through --config, argv
 * scrubbing and secret files. The YAML file itself: test_config_file.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_show.h"
#include "core/err.h"
#include "ev/timer.h"

extern char **environ;

/* ---- helpers ------------------------------------------------------------- */

struct run {
    int rc;
    char out[65536];
    char err[1024];
};

/* config_parse("serve", args..., NULL) with out and err captured. argv is
 * kept in static storage: c->argv borrows it. */
static int run(struct wsp_config *c, struct run *r, const char *const *args)
{
    static char *argv[64];
    int argc = 0;
    argv[argc++] = "serve";
    for (; args && *args; args++) {
        assert_true(argc < 63);
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    char *o = NULL, *e = NULL;
    size_t ol = 0, el = 0;
    FILE *fo = open_memstream(&o, &ol), *fe = open_memstream(&e, &el);
    r->rc = config_parse(c, argc, argv, fo, fe);
    fclose(fo);
    fclose(fe);
    snprintf(r->out, sizeof r->out, "%s", o);
    snprintf(r->err, sizeof r->err, "%s", e);
    free(o);
    free(e);
    return r->rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Parses args and expects success with nothing on err. */
static void ok(struct wsp_config *c, const char *const *args)
{
    static struct run r;
    if (run(c, &r, args) != 0)
        fail_msg("%s %s: rc %d: %s", args[0], args[1] ? args[1] : "", r.rc, r.err);
    assert_string_equal(r.err, "");
}

/* Parses args and expects status 2 with exactly the line want on err. */
static void refused(const char *const *args, const char *want)
{
    static struct run r;
    struct wsp_config c;
    int rc = run(&c, &r, args);
    if (rc != 2 || strcmp(r.err, want) != 0)
        fail_msg("%s %s: rc %d, err '%s', want '%s'", args[0], args[1] ? args[1] : "", rc, r.err,
                 want);
}

static void clear_wspush_env(void)
{
    for (;;) {
        char **e = environ;
        while (e && *e && strncmp(*e, "WSPUSH_", 7) != 0)
            e++;
        if (!e || !*e)
            return;
        char name[128];
        size_t n = strcspn(*e, "=");
        snprintf(name, sizeof name, "%.*s", (int)n, *e);
        unsetenv(name);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- one option at a time ------------------------------------------------ */

static void test_config_parse_size_units(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        uint64_t bytes;
    } good[] = {
        {"0", 0},           {"1024", 1024},         {"1B", 1},
        {"1k", 1024},       {"1K", 1024},           {"1KiB", 1024},
        {"1KB", 1024},      {"1.5M", 1572864},      {"64MiB", 64ull << 20},
        {"2g", 2ull << 30}, {"16GiB", 16ull << 30}, {"0.5KiB", 512},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t b = 7;
        if (config_parse_size(good[i].in, &b) != 0 || b != good[i].bytes)
            fail_msg("%s -> %llu", good[i].in, (unsigned long long)b);
    }
    static const char *const bad[] = {
        "", "k", "-1", "1KiBx", "1 KiB", "1TiB", "1kib", "nan", "inf", "1e16", "MiB1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t b = 7;
        if (config_parse_size(bad[i], &b) != WSP_EINVAL || b != 7)
            fail_msg("accepted '%s'", bad[i]);
    }
}

static void test_config_parse_every_kind(void **state)
{
    (void)state;
    struct wsp_config c;
    ok(&c, ARGS("--listen", "127.0.0.1:0",       /* string */
                "--max-conns=42",                /* integer, = form */
                "--max-backlog", "1MiB",         /* size */
                "--ping-interval", "1.5s",       /* duration */
                "--pong-timeout", "250ms",       /* duration, ms */
                "--drain-timeout", "2m",         /* duration, minutes */
                "--workers", "auto",             /* workers */
                "--slow-policy", "latest",       /* policy */
                "--deflate", "off",              /* bool */
                "--access-log", "yes",           /* bool, other spelling */
                "--log-level", "warn,tls=debug", /* levels */
                "--protocol", " a , b,,c "));    /* list: trimmed, empties skipped */
    assert_string_equal(c.listen, "127.0.0.1:0");
    assert_int_equal(c.max_conns, 42);
    assert_int_equal(c.max_backlog_bytes, 1 << 20);
    assert_int_equal(c.ping_interval_ms, 1500);
    assert_int_equal(c.pong_timeout_ms, 250);
    assert_int_equal(c.drain_timeout_ms, 120000);
    assert_true(c.workers_auto);
    assert_int_equal(c.slow_policy, SLOW_LATEST);
    assert_false(c.deflate);
    assert_true(c.access_log);
    assert_int_equal(c.log_level, WSP_LOG_WARN);
    assert_int_equal(c.n_protocols, 3);
    assert_string_equal(c.protocols[0], "a");
    assert_string_equal(c.protocols[1], "b");
    assert_string_equal(c.protocols[2], "c");

    static const char *const on[] = {"on", "true", "1", "yes"};
    static const char *const off[] = {"off", "false", "0", "no"};
    for (size_t i = 0; i < 4; i++) {
        ok(&c, ARGS("--presence", on[i]));
        assert_true(c.presence);
        ok(&c, ARGS("--io-uring", off[i]));
        assert_false(c.io_uring);
    }
    ok(&c, ARGS("--workers", "256"));
    assert_false(c.workers_auto);
    assert_int_equal(c.workers, 256);
    ok(&c, ARGS("--workers", "auto", "--workers", "3")); /* the last one wins */
    assert_false(c.workers_auto);
    assert_int_equal(c.workers, 3);
}

static void test_config_parse_bad_values_say_why(void **state)
{
    (void)state;
    refused(ARGS("--max-conns", "-1"),
            "wspush: error: --max-conns: '-1' is not a non-negative integer\n");
    refused(ARGS("--max-conns", "12x"),
            "wspush: error: --max-conns: '12x' is not a non-negative integer\n");
    refused(ARGS("--max-conns", "99999999999999999999"),
            "wspush: error: --max-conns: '99999999999999999999' is not a non-negative integer\n");
    refused(ARGS("--max-backlog", "1TiB"),
            "wspush: error: --max-backlog: '1TiB' is not a size (e.g. 256KiB, 64MiB)\n");
    refused(ARGS("--tick", "soon"),
            "wspush: error: --tick: 'soon' is not a duration (e.g. 1s, 250ms, 2m)\n");
    refused(ARGS("--workers", "257"), "wspush: error: --workers: '257' must be 0..256 or auto\n");
    refused(ARGS("--slow-policy", "wait"),
            "wspush: error: --slow-policy: 'wait' must be close, drop or latest\n");
    refused(ARGS("--deflate", "maybe"), "wspush: error: --deflate: 'maybe' must be on or off\n");
    refused(ARGS("--log-level", "loud"),
            "wspush: error: --log-level: 'loud' must be error, warn, info or debug, or a list "
            "like info,tls=debug\n");
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    refused(ARGS("--tick-topic", big),
            "wspush: error: --tick-topic: value too long (max 128 bytes)\n");
    refused(ARGS("--max-conn", "1"), "wspush: error: unknown option '--max-conn' (try --help)\n");
    refused(ARGS("--max-conns=1=2"),
            "wspush: error: --max-conns: '1=2' is not a non-negative integer\n");
    refused(ARGS("serve"), "wspush: error: unexpected argument 'serve' (try --help)\n");
    refused(ARGS("--ring-size"), "wspush: error: --ring-size needs a value (BYTES)\n");
}

static void test_config_parse_lists(void **state)
{
    (void)state;
    struct wsp_config c;
    /* repeated: appended; comma lists and repeats mix */
    ok(&c, ARGS("--allow-origin", "https://a", "--allow-origin", "https://b,https://c"));
    assert_int_equal(c.n_origins, 3);
    assert_string_equal(c.origins[2], "https://c");
    /* a list given once in the environment and once on the command line:
     * the command line replaces it */
    setenv("WSPUSH_ALLOW_ORIGIN", "https://env", 1);
    ok(&c, ARGS("--allow-origin", "https://flag"));
    unsetenv("WSPUSH_ALLOW_ORIGIN");
    assert_int_equal(c.n_origins, 1);
    assert_string_equal(c.origins[0], "https://flag");
    /* CONFIG_MAX_LIST items fit, one more does not */
    char list[256] = "";
    for (int i = 0; i < CONFIG_MAX_LIST; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%sp%d", i ? "," : "", i);
    ok(&c, ARGS("--protocol", list));
    assert_int_equal(c.n_protocols, CONFIG_MAX_LIST);
    strcat(list, ",one-more");
    refused(ARGS("--protocol", list), "wspush: error: --protocol: at most 16 values\n");
    /* a repeat past the buffer */
    char big[300];
    memset(big, 'o', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    refused(ARGS("--protocol", big, "--protocol", big),
            "wspush: error: --protocol: too many values\n");
    /* pairs */
    refused(ARGS("--tls-cert", "a.pem,b.pem", "--tls-key", "a.key"),
            "wspush: error: --tls-cert and --tls-key must come in pairs (at most 16)\n");
    ok(&c, ARGS("--tls-cert", "a.pem", "--tls-key", "a.key", "--tls-cert", "b.pem", "--tls-key",
                "b.key"));
    assert_int_equal(c.n_tls, 2);
    assert_string_equal(c.tls_keys[1], "b.key");
    /* trusted proxies: parsed into CIDRs */
    ok(&c, ARGS("--trusted-proxies", "10.0.0.0/8, ::1", "--proxy-protocol", "on"));
    assert_int_equal(c.n_trusted, 2);
    refused(ARGS("--trusted-proxies", "10.0.0.1/8"),
            "wspush: error: --trusted-proxies: '10.0.0.1/8' is not an address or ADDR/BITS with "
            "the host bits zero\n");
}

/* ---- checks across options and bounds ------------------------------------ */

static void test_config_parse_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *flag, *bad, *good, *err;
    } cases[] = {
        {"--max-headers", "129", "128", "wspush: error: --max-headers must be 1..128\n"},
        {"--max-headers", "0", "1", "wspush: error: --max-headers must be 1..128\n"},
        {"--max-head", "255", "256", "wspush: error: --max-head must be 256 bytes..1MiB\n"},
        {"--max-head", "1025KiB", "1MiB", "wspush: error: --max-head must be 256 bytes..1MiB\n"},
        {"--max-topics", "1025", "1024", "wspush: error: --max-topics must be 1..1024\n"},
        {"--max-topics", "0", "1", "wspush: error: --max-topics must be 1..1024\n"},
        {"--max-message", "125", "126", "wspush: error: --max-message must be 126 bytes..2GiB\n"},
        {"--max-message", "2049MiB", "2GiB",
         "wspush: error: --max-message must be 126 bytes..2GiB\n"},
        {"--ring-size", "65535", "64KiB", "wspush: error: --ring-size must be 64KiB..16GiB\n"},
        {"--ring-size", "17GiB", "16GiB", "wspush: error: --ring-size must be 64KiB..16GiB\n"},
        {"--admin-head-timeout", "0", "1ms",
         "wspush: error: --admin-head-timeout and --admin-idle-timeout must be above 0\n"},
        {"--admin-idle-timeout", "0", "1ms",
         "wspush: error: --admin-head-timeout and --admin-idle-timeout must be above 0\n"},
        {"--max-conns", "0", "1", "wspush: error: --max-conns must be at least 1\n"},
        {"--history-size", "10001", "10000", "wspush: error: --history-size must be 0..10000\n"},
        {"--history-topics", "0", "1", "wspush: error: --history-topics must be 1..16777216\n"},
        {"--history-topics", "16777217", "16777216",
         "wspush: error: --history-topics must be 1..16777216\n"},
        {"--history-memory", "64000", "64KiB",
         "wspush: error: --history-memory must be 64KiB..16GiB\n"},
        {"--log-format", "xml", "json", "wspush: error: --log-format must be text or json\n"},
        {"--echo-path", "echo", "/echo", "wspush: error: --echo-path must start with '/'\n"},
        {"--auth", "maybe", "off",
         "wspush: error: --auth: 'maybe' must be auto, required or off\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        refused(ARGS(cases[i].flag, cases[i].bad), cases[i].err);
        struct wsp_config c;
        ok(&c, ARGS(cases[i].flag, cases[i].good));
    }
    /* durations the coarse deadline clock cannot hold (issue 11) */
    static const char *const durs[] = {"--handshake-timeout", "--ping-interval", "--pong-timeout"};
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        char v[32], want[160];
        snprintf(v, sizeof v, "%llums", (unsigned long long)EV_DEADLINE_MAX_MS + 1);
        snprintf(want, sizeof want, "wspush: error: %s must be at most %llus (%llu days)\n",
                 durs[i], (unsigned long long)(EV_DEADLINE_MAX_MS / 1000),
                 (unsigned long long)(EV_DEADLINE_MAX_MS / 86400000));
        refused(ARGS(durs[i], v), want);
        snprintf(v, sizeof v, "%llums", (unsigned long long)EV_DEADLINE_MAX_MS);
        struct wsp_config c;
        ok(&c, ARGS(durs[i], v));
    }
}

static void test_config_parse_pairs(void **state)
{
    (void)state;
    refused(ARGS("--tick-topic", "t"), "wspush: error: --tick-topic needs --tick\n");
    refused(ARGS("--proxy-protocol", "on"),
            "wspush: error: --proxy-protocol on needs --trusted-proxies\n");
    refused(ARGS("--admin-tls-cert", "c.pem"),
            "wspush: error: --admin-tls-cert and --admin-tls-key go together\n");
    refused(ARGS("--auth", "required"),
            "wspush: error: --auth required needs --auth-hmac-key-file, --auth-public-key or "
            "--auth-jwks\n");
    refused(ARGS("--redis-password-file", "/nonexistent"),
            "wspush: error: --redis-password-file needs --redis\n");
    refused(ARGS("--redis", "http://x"), "wspush: error: --redis: must start with redis://\n");
    refused(ARGS("--publish-token", "a", "--publish-token-file", "/nonexistent"),
            "wspush: give --publish-token or --publish-token-file, not both\n");
    struct wsp_config c;
    ok(&c, ARGS("--tick", "1s", "--tick-topic", "t"));
    assert_int_equal(c.tick_ms, 1000);
    /* auto: required exactly when a key is configured */
    ok(&c, ARGS("--auth-hmac-key-file", "/k"));
    assert_true(c.auth_required);
    ok(&c, ARGS("--auth-hmac-key-file", "/k", "--auth", "off"));
    assert_false(c.auth_required);
    ok(&c, ARGS("--auth", "auto"));
    assert_false(c.auth_required);
}

/* ---- the environment ----------------------------------------------------- */

static void test_config_parse_environment(void **state)
{
    (void)state;
    struct wsp_config c;
    setenv("WSPUSH_MAX_CONNS", "5", 1);
    setenv("WSPUSH_TICK", "2s", 1);
    setenv("WSPUSH_IO_URING", "off", 1);
    setenv("WSPUSH_SLOW_POLICY", "drop", 1);
    ok(&c, ARGS("--tick", "3s")); /* the flag wins */
    assert_int_equal(c.max_conns, 5);
    assert_int_equal(c.tick_ms, 3000);
    assert_false(c.io_uring);
    assert_int_equal(c.slow_policy, SLOW_DROP);
    /* a bad value names the variable */
    setenv("WSPUSH_MAX_CONNS", "many", 1);
    refused(ARGS("--tick", "3s"),
            "wspush: error: WSPUSH_MAX_CONNS: --max-conns: 'many' is not a non-negative integer\n");
    /* a bad value in the environment is an error even when a flag would
     * override it: the environment is read first */
    refused(ARGS("--max-conns", "9"),
            "wspush: error: WSPUSH_MAX_CONNS: --max-conns: 'many' is not a non-negative integer\n");
    clear_wspush_env();
    /* a near miss warns, and the parse goes on */
    setenv("WSPUSH_MAX_CONN", "1", 1);
    struct run r;
    assert_int_equal(run(&c, &r, NULL), 0);
    assert_string_equal(r.err, "wspush: warning: environment variable WSPUSH_MAX_CONN is not an "
                               "option and is ignored; did you mean WSPUSH_MAX_CONNS?\n");
    clear_wspush_env();
}

/* ---- output -------------------------------------------------------------- */

static void test_config_help_lists_every_option(void **state)
{
    (void)state;
    struct run r;
    struct wsp_config c;
    assert_int_equal(run(&c, &r, ARGS("--max-conns", "1", "--help")), 1);
    for (size_t i = 0; i < config_opt_count(); i++) {
        char flag[96], env[96];
        snprintf(flag, sizeof flag, "--%s %s", config_opt_name(i), config_opt_arg(i));
        config_opt_env_name(config_opt_name(i), env, sizeof env);
        if (!strstr(r.out, flag) || !strstr(r.out, env))
            fail_msg("--help lacks %s [%s]", flag, env);
    }
    assert_non_null(strstr(r.out, "[WSPUSH_MAX_CONNS, default: 1000000]"));
    assert_non_null(strstr(r.out, "[WSPUSH_TICK_TOPIC, default: none]"));
    assert_int_equal(run(&c, &r, ARGS("-h")), 1);
}

static void no_change(size_t i, const char *was, const char *now, void *arg)
{
    (void)arg;
    fail_msg("%s changed: '%s' -> '%s'", config_opt_name(i), was ? was : "(secret)",
             now ? now : "(secret)");
}

/* --print-config's output, fed back with --config, gives the same settings;
 * a bad setting is refused before anything is printed. */
static void test_config_print_config_round_trip(void **state)
{
    (void)state;
    struct wsp_config a, b;
    static struct run r;
    assert_int_equal(
        run(&a, &r,
            ARGS("--print-config", "--listen", "[::1]:0", "--max-conns", "77", "--tick", "1500ms",
                 "--tick-topic", "t: with \"quotes\"", "--allow-origin", "https://a,https://b",
                 "--max-backlog", "3KiB", "--workers", "auto", "--log-level", "debug,redis=warn",
                 "--history-ttl", "90m", "--deflate", "off", "--conflate", "news.*,/")),
        1);
    assert_string_equal(r.err, "");
    char path[] = "/tmp/wspush-print-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, r.out);
    ok(&b, ARGS("--config", path));
    unlink(path);
    assert_int_equal(config_show_diff(&a, &b, no_change, NULL), 0);
    assert_int_equal(b.max_backlog_bytes, 3072);
    assert_int_equal(b.history_ttl_ms, 90 * 60000);
    assert_string_equal(b.tick_topic, "t: with \"quotes\"");
    assert_int_equal(b.n_conflate, 2);
    /* nothing printed for a refused setting */
    assert_int_equal(run(&a, &r, ARGS("--print-config", "--max-topics", "0")), 2);
    assert_string_equal(r.out, "");
}

/* ---- secrets ------------------------------------------------------------- */

static void test_config_scrub_argv(void **state)
{
    (void)state;
    char a1[] = "--publish-token", a2[] = "s3cret", a3[] = "--redis=redis://u:pw@h:1/2",
         a4[] = "--redis", a5[] = "redis://h:1", a6[] = "--publish-token=xy";
    char *argv[] = {"serve", a1, a2, a3, a4, a5, a6, NULL};
    config_scrub_argv(7, argv);
    assert_string_equal(argv[2], "*");
    assert_memory_equal(a2, "*\0\0\0\0\0", sizeof a2); /* the bytes are gone */
    assert_string_equal(argv[3], "--redis=redis://u:*@h:1/2");
    assert_string_equal(argv[5], "redis://h:1"); /* no password: untouched */
    assert_string_equal(argv[6], "--publish-token=*");
}

static void test_config_read_secret_file(void **state)
{
    (void)state;
    char path[] = "/tmp/wspush-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char out[8];
    const char *why = NULL;
    write_file(path, "abc\n");
    assert_int_equal(config_read_secret_file(path, out, sizeof out, &why), 0);
    assert_string_equal(out, "abc"); /* one trailing newline removed */
    write_file(path, "abcdefg");     /* 7 bytes + NUL: fits exactly */
    assert_int_equal(config_read_secret_file(path, out, sizeof out, &why), 0);
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "empty"},
        {"\n", "empty"},
        {"abcdefgh", "too long"},
        {"a\r\n", "holds a NUL, CR or line break (one trailing newline is allowed)"},
        {"a\nb", "holds a NUL, CR or line break (one trailing newline is allowed)"},
        {"a\n\n", "holds a NUL, CR or line break (one trailing newline is allowed)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        why = NULL;
        assert_true(config_read_secret_file(path, out, sizeof out, &why) < 0);
        assert_string_equal(why, bad[i].why);
    }
    unlink(path);
    assert_int_equal(config_read_secret_file(path, out, sizeof out, &why), -ENOENT);
    /* through config_parse: the file's content becomes the token */
    fd = mkstemp(path);
    close(fd);
    write_file(path, "tok\n");
    struct wsp_config c;
    ok(&c, ARGS("--publish-token-file", path));
    assert_string_equal(c.publish_token, "tok");
    write_file(path, "");
    char want[160];
    snprintf(want, sizeof want, "wspush: error: --publish-token-file %s: empty\n", path);
    refused(ARGS("--publish-token-file", path), want);
    unlink(path);
}

int main(void)
{
    clear_wspush_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_parse_size_units),
        cmocka_unit_test(test_config_parse_every_kind),
        cmocka_unit_test(test_config_parse_bad_values_say_why),
        cmocka_unit_test(test_config_parse_lists),
        cmocka_unit_test(test_config_parse_bounds),
        cmocka_unit_test(test_config_parse_pairs),
        cmocka_unit_test(test_config_parse_environment),
        cmocka_unit_test(test_config_help_lists_every_option),
        cmocka_unit_test(test_config_print_config_round_trip),
        cmocka_unit_test(test_config_scrub_argv),
        cmocka_unit_test(test_config_read_secret_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
