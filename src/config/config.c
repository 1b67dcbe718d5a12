/* config.c - `wspush serve` options: precedence, checks, help (see config.h).
 *
 * The top of src/config/: applies the defaults, the config file
 * (config_file.c), the environment and the command line in that order,
 * then checks what no single option can (pairs, bounds, files to read).
 * Each option is set through the table in config_opt.c, so the flag, its
 * environment variable, its default and its help text live in one row.
 * Parsing never exits the process: it returns a status and the caller
 * decides. */
#include "config/config.h"
#include "config/config_file.h"
#include "config/config_show.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "broker/redis.h"
#include "core/err.h"
#include "core/log.h"
#include "ev/timer.h"

void config_print_help(FILE *out)
{
    fprintf(out, "usage: wspush serve [options]\n\n"
                 "Serves WebSocket push on the public port and an admin API on the admin port.\n"
                 "Every option can also be set by an environment variable, shown in brackets,\n"
                 "or in a YAML config file under its long name (max-conns: 100000). The command\n"
                 "line wins over the environment, which wins over the file.\n\n");
    fprintf(out, "  %-36s %s\n  %-36s [WSPUSH_CONFIG]\n", "--config FILE",
            "read options from this YAML file (a mapping: option: value; lists as [a, b]);"
            " SIGHUP reloads it",
            "");
    fprintf(out, "  %-36s %s\n", "--print-config",
            "print the effective settings as a config file (secrets not shown) and exit");
    for (size_t i = 0; i < config_opt_count(); i++) {
        char env[64];
        config_opt_env_name(config_opt_name(i), env, sizeof env);
        char left[96];
        snprintf(left, sizeof left, "--%s %s", config_opt_name(i), config_opt_arg(i));
        const char *def = config_opt_default(i);
        fprintf(out, "  %-36s %s\n  %-36s [%s, default: %s]\n", left, config_opt_help(i), "", env,
                def[0] ? def : "none");
    }
    fprintf(out, "  %-36s %s\n", "-h, --help", "show this help");
}

int config_read_secret_file(const char *path, char *out, size_t cap, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = strerror(errno);
        return -errno;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, out + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = strerror(errno);
            close(fd);
            return -errno;
        }
        if (r == 0 || (n += (size_t)r) == cap)
            break;
    }
    close(fd);
    if (n > 0 && out[n - 1] == '\n')
        n--;
    if (n >= cap) {
        *why = "too long";
        return WSP_ETOOBIG;
    }
    out[n] = '\0';
    if (n == 0) {
        *why = "empty";
        return WSP_EINVAL;
    }
    if (strlen(out) != n || strpbrk(out, "\r\n")) {
        *why = "holds a NUL, CR or line break (one trailing newline is allowed)";
        return WSP_EINVAL;
    }
    return 0;
}

/* "--flag VALUE" or "--flag=VALUE": the value's string, else NULL. */
static char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    const char *a = argv[*i];
    size_t fl = strlen(flag);
    if (strncmp(a, "--", 2) || strncmp(a + 2, flag, fl))
        return NULL;
    if (a[2 + fl] == '=')
        return argv[*i] + 2 + fl + 1;
    if (a[2 + fl] || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

void config_scrub_argv(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *v = flag_value(argc, argv, &i, "publish-token");
        if (v && *v) {
            size_t n = strlen(v);
            v[0] = '*';
            memset(v + 1, 0, n - 1);
            continue;
        }
        v = flag_value(argc, argv, &i, "redis");
        if (!v || strncasecmp(v, "redis://", 8))
            continue;
        /* redis://user:PASSWORD@host -> redis://user:*@host, the freed
         * bytes zeroed (the same rules as redis_url_parse: the userinfo
         * ends at the last '@' before the first '/') */
        char *p = v + 8, *slash = strchr(p, '/'), *at = NULL;
        for (char *q = p; *q && q != slash; q++)
            if (*q == '@')
                at = q;
        char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
        if (!colon || at == colon + 1)
            continue;
        size_t n = strlen(v);
        colon[1] = '*';
        memmove(colon + 2, at, strlen(at) + 1);
        size_t left = strlen(v);
        memset(v + left, 0, n - left);
    }
}

static int load_secret(const char *flag, const char *path, char *out, size_t cap, FILE *err)
{
    const char *why;
    int rc = config_read_secret_file(path, out, cap, &why);
    if (rc < 0)
        fprintf(err, "wspush: error: --%s %s: %s\n", flag, path, why);
    return rc;
}

static int finish(struct wsp_config *c, FILE *err)
{
    if (c->publish_token_file[0]) {
        if (c->publish_token[0]) {
            fprintf(err, "wspush: give --publish-token or --publish-token-file, not both\n");
            return 2;
        }
        if (load_secret("publish-token-file", c->publish_token_file, c->publish_token,
                        sizeof c->publish_token, err) < 0)
            return 2;
    }
    if (c->redis_password_file[0]) {
        if (!c->redis[0]) {
            fprintf(err, "wspush: error: --redis-password-file needs --redis\n");
            return 2;
        }
        if (load_secret("redis-password-file", c->redis_password_file, c->redis_password,
                        sizeof c->redis_password, err) < 0)
            return 2;
    }
    int n = config_split_list(c->protocols_buf, c->protocols, CONFIG_MAX_LIST);
    if (n < 0) {
        fprintf(err, "wspush: error: --protocol: at most %d values\n", CONFIG_MAX_LIST);
        return 2;
    }
    c->n_protocols = (size_t)n;
    n = config_split_list(c->origins_buf, c->origins, CONFIG_MAX_LIST);
    if (n < 0) {
        fprintf(err, "wspush: error: --allow-origin: at most %d values\n", CONFIG_MAX_LIST);
        return 2;
    }
    c->n_origins = (size_t)n;
    n = config_split_list(c->tls_cert_buf, c->tls_certs, CONFIG_MAX_LIST);
    int nk = config_split_list(c->tls_key_buf, c->tls_keys, CONFIG_MAX_LIST);
    if (n < 0 || nk < 0 || n != nk) {
        fprintf(err, "wspush: error: --tls-cert and --tls-key must come in pairs (at most %d)\n",
                CONFIG_MAX_LIST);
        return 2;
    }
    c->n_tls = (size_t)n;
    const char *tp[CONFIG_MAX_TRUSTED];
    n = config_split_list(c->trusted_buf, tp, CONFIG_MAX_TRUSTED);
    if (n < 0) {
        fprintf(err, "wspush: error: --trusted-proxies: at most %d entries\n", CONFIG_MAX_TRUSTED);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        if (proxy_cidr_parse(tp[i], &c->trusted[i]) < 0) {
            fprintf(err,
                    "wspush: error: --trusted-proxies: '%s' is not an address or ADDR/BITS with "
                    "the host bits zero\n",
                    tp[i]);
            return 2;
        }
    }
    c->n_trusted = (size_t)n;
    if (c->proxy_protocol && !c->n_trusted) {
        fprintf(err, "wspush: error: --proxy-protocol on needs --trusted-proxies\n");
        return 2;
    }
    if (!c->admin_tls_cert[0] != !c->admin_tls_key[0]) {
        fprintf(err, "wspush: error: --admin-tls-cert and --admin-tls-key go together\n");
        return 2;
    }
    if (c->max_headers < 1 || c->max_headers > 128) {
        fprintf(err, "wspush: error: --max-headers must be 1..128\n");
        return 2;
    }
    if (c->max_head_bytes < 256 || c->max_head_bytes > 1024 * 1024) {
        fprintf(err, "wspush: error: --max-head must be 256 bytes..1MiB\n");
        return 2;
    }
    if (c->max_topics < 1 || c->max_topics > CONFIG_MAX_TOPICS) {
        fprintf(err, "wspush: error: --max-topics must be 1..%d\n", CONFIG_MAX_TOPICS);
        return 2;
    }
    if (c->max_message_bytes < 126 || c->max_message_bytes > (1ull << 31)) {
        fprintf(err, "wspush: error: --max-message must be 126 bytes..2GiB\n");
        return 2;
    }
    if (c->ring_size_bytes < 65536 || c->ring_size_bytes > (1ull << 34)) {
        fprintf(err, "wspush: error: --ring-size must be 64KiB..16GiB\n");
        return 2;
    }
    if (c->admin_head_timeout_ms < 1 || c->admin_idle_timeout_ms < 1) {
        fprintf(err,
                "wspush: error: --admin-head-timeout and --admin-idle-timeout must be above 0\n");
        return 2;
    }
    if (c->max_conns < 1) {
        fprintf(err, "wspush: error: --max-conns must be at least 1\n");
        return 2;
    }
    /* The coarse deadline clock holds up to EV_DEADLINE_MAX_MS (~96 days):
     * refuse what it cannot represent rather than shorten it (issue 11). */
    const struct {
        const char *flag;
        uint64_t ms;
    } durs[] = {
        {"handshake-timeout", c->handshake_timeout_ms},
        {"ping-interval", c->ping_interval_ms},
        {"pong-timeout", c->pong_timeout_ms},
    };
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        if (durs[i].ms > EV_DEADLINE_MAX_MS) {
            fprintf(err, "wspush: error: --%s must be at most %llus (%llu days)\n", durs[i].flag,
                    (unsigned long long)(EV_DEADLINE_MAX_MS / 1000),
                    (unsigned long long)(EV_DEADLINE_MAX_MS / 86400000));
            return 2;
        }
    }
    n = config_split_list(c->public_topics_buf, c->public_topics, CONFIG_MAX_LIST);
    if (n < 0) {
        fprintf(err, "wspush: error: --public-topics: at most %d patterns\n", CONFIG_MAX_LIST);
        return 2;
    }
    c->n_public_topics = (size_t)n;
    n = config_split_list(c->conflate_buf, c->conflate, CONFIG_MAX_LIST);
    if (n < 0) {
        fprintf(err, "wspush: error: --conflate: at most %d patterns\n", CONFIG_MAX_LIST);
        return 2;
    }
    c->n_conflate = (size_t)n;
    bool auth_keys = c->auth_hmac_key_file[0] || c->auth_public_key[0] || c->auth_jwks[0];
    if (!strcmp(c->auth_mode, "auto")) {
        c->auth_required = auth_keys;
    } else if (!strcmp(c->auth_mode, "required")) {
        if (!auth_keys) {
            fprintf(err,
                    "wspush: error: --auth required needs --auth-hmac-key-file, --auth-public-key "
                    "or --auth-jwks\n");
            return 2;
        }
        c->auth_required = true;
    } else if (!strcmp(c->auth_mode, "off")) {
        c->auth_required = false;
    } else {
        fprintf(err, "wspush: error: --auth: '%s' must be auto, required or off\n", c->auth_mode);
        return 2;
    }
    if (c->history_size > CONFIG_HISTORY_MAX) {
        fprintf(err, "wspush: error: --history-size must be 0..%d\n", CONFIG_HISTORY_MAX);
        return 2;
    }
    if (c->history_topics < 1 || c->history_topics > (1u << 24)) {
        fprintf(err, "wspush: error: --history-topics must be 1..16777216\n");
        return 2;
    }
    if (c->history_memory_bytes < 65536 || c->history_memory_bytes > (1ull << 34)) {
        fprintf(err, "wspush: error: --history-memory must be 64KiB..16GiB\n");
        return 2;
    }
    if (wsp_log_parse_format(c->log_format) < 0) {
        fprintf(err, "wspush: error: --log-format must be text or json\n");
        return 2;
    }
    if (c->tick_topic[0] && c->tick_ms == 0) {
        fprintf(err, "wspush: error: --tick-topic needs --tick\n");
        return 2;
    }
    if (c->echo_path[0] && c->echo_path[0] != '/') {
        fprintf(err, "wspush: error: --echo-path must start with '/'\n");
        return 2;
    }
    if (c->redis[0]) {
        /* before anything listens: one clear line, exit 2 (docs/redis.md) */
        struct redis_url u;
        const char *why = "malformed URL";
        int r = redis_url_parse(c->redis, &u, &why);
        explicit_bzero(&u, sizeof u); /* it holds the password */
        if (r < 0) {
            fprintf(err, "wspush: error: --redis: %s\n", why);
            return 2;
        }
    }
    return 0;
}

int config_parse(struct wsp_config *c, int argc, char **argv, FILE *out, FILE *err)
{
    memset(c, 0, sizeof *c);
    const size_t nopts = config_opt_count();
    for (size_t i = 0; i < nopts; i++)
        if (config_opt_set(c, i, config_opt_default(i), err, "default: ") != 0)
            return 2;
    c->argc = argc;
    c->argv = argv;
    if (config_file_apply(c, argc, argv, err) != 0) /* under the environment */
        return 2;
    for (size_t i = 0; i < nopts; i++) {
        char env[64];
        config_opt_env_name(config_opt_name(i), env, sizeof env);
        const char *v = getenv(env);
        char src[72];
        snprintf(src, sizeof src, "%s: ", env);
        if (v && config_opt_set(c, i, v, err, src) != 0)
            return 2;
    }
    config_show_env_check(err);
    bool seen_list[CONFIG_OPT_MAX] = {false};
    bool print = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            config_print_help(out);
            return 1;
        }
        if (strcmp(a, "--print-config") == 0) {
            print = true;
            continue;
        }
        int skip = config_file_arg(argc, argv, i); /* --config FILE: read above */
        if (skip > 0) {
            i += skip - 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(err, "wspush: error: unexpected argument '%s' (try --help)\n", a);
            return 2;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int k = config_opt_find(name, nlen);
        if (k < 0) {
            fprintf(err, "wspush: error: unknown option '%.*s' (try --help)\n", (int)nlen + 2, a);
            return 2;
        }
        size_t o = (size_t)k;
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(err, "wspush: error: --%s needs a value (%s)\n", config_opt_name(o),
                        config_opt_arg(o));
                return 2;
            }
            v = argv[++i];
        }
        if (config_opt_is_list(o) && seen_list[o]) {
            /* a list option given again appends (--tls-cert a --tls-cert b) */
            if (config_opt_append(c, o, v, err) != 0)
                return 2;
            continue;
        }
        if (config_opt_set(c, o, v, err, "") != 0)
            return 2;
        if (config_opt_is_list(o))
            seen_list[o] = true;
    }
    int r = finish(c, err);
    if (r == 0 && print) {
        config_show_print(c, out);
        return 1;
    }
    return r;
}
