/* config_file.c - options from a YAML config file (see config_file.h).
 *
 * Walks libyaml's event stream (no document tree is built): stream, one
 * optional document, one mapping of scalar keys to scalars or sequences of
 * scalars. Each key is looked up in the option table and its value set
 * through config_opt_set, exactly as the command line would set it, so the
 * file accepts what the flags accept and nothing else. It does not know any
 * option by name, apply precedence (config.c does) or print (config_show.c).
 *
 * Invariant: every error names the file and the 1-based line of the
 * offending node and stops the parse; aliases, nested collections and
 * repeated keys are errors rather than silently merged. */
#include "config/config_file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/config_show.h"
#include "core/err.h"

struct value {
    char *buf; /* NUL-terminated; sequence items joined with ',' */
    size_t len;
    size_t cap;
};

static int value_add(struct value *v, const char *s, size_t n, bool comma)
{
    size_t need = v->len + (comma ? 1 : 0) + n + 1;
    if (need > CONFIG_FILE_MAX_BYTES + 1)
        return WSP_ETOOBIG;
    if (need > v->cap) {
        size_t cap = v->cap ? v->cap : 64;
        while (cap < need)
            cap *= 2;
        char *b = realloc(v->buf, cap);
        if (!b)
            return WSP_ENOMEM;
        v->buf = b;
        v->cap = cap;
    }
    if (comma)
        v->buf[v->len++] = ',';
    memcpy(v->buf + v->len, s, n);
    v->len += n;
    v->buf[v->len] = '\0';
    return 0;
}

/* YAML's null: an empty plain scalar, ~ or null. As a value it means
 * "empty" (tick-topic: ~), the same as "". */
static bool is_null(const yaml_event_t *e)
{
    if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)e->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static unsigned line_of(const yaml_event_t *e)
{
    return (unsigned)e->start_mark.line + 1;
}

static const char *event_what(yaml_event_type_t t)
{
    switch (t) {
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    case YAML_ALIAS_EVENT:
        return "an alias (*name is not supported)";
    default:
        return "something else";
    }
}

struct ctx {
    yaml_parser_t p;
    yaml_event_t ev;
    bool have_ev; /* ev must be deleted */
    const char *name;
    FILE *err;
};

/* Next event into x->ev; on a syntax error prints it and returns 2. */
static int next(struct ctx *x)
{
    if (x->have_ev)
        yaml_event_delete(&x->ev);
    x->have_ev = false;
    if (!yaml_parser_parse(&x->p, &x->ev)) {
        fprintf(x->err, "wspush: error: %s:%u: not valid YAML: %s%s%s\n", x->name,
                (unsigned)x->p.problem_mark.line + 1, x->p.problem ? x->p.problem : "syntax error",
                x->p.context ? " " : "", x->p.context ? x->p.context : "");
        return 2;
    }
    x->have_ev = true;
    return 0;
}

static int fail(struct ctx *x, unsigned line, const char *what)
{
    fprintf(x->err, "wspush: error: %s:%u: %s\n", x->name, line, what);
    return 2;
}

static int find_opt(const char *key)
{
    for (size_t i = 0; i < config_opt_count(); i++)
        if (!strcmp(config_opt_name(i), key))
            return (int)i;
    return -1;
}

/* The value of option i, at x->ev (a scalar or a sequence start), into v. */
static int read_value(struct ctx *x, size_t i, struct value *v)
{
    const char *key = config_opt_name(i);
    char msg[256];
    if (x->ev.type == YAML_SCALAR_EVENT) {
        if (memchr(x->ev.data.scalar.value, '\0', x->ev.data.scalar.length)) {
            snprintf(msg, sizeof msg, "%s: the value holds a NUL character", key);
            return fail(x, line_of(&x->ev), msg);
        }
        size_t n = is_null(&x->ev) ? 0 : x->ev.data.scalar.length;
        if (value_add(v, (const char *)x->ev.data.scalar.value, n, false) < 0)
            return fail(x, line_of(&x->ev), "out of memory");
        return 0;
    }
    if (x->ev.type != YAML_SEQUENCE_START_EVENT || !config_opt_is_list(i)) {
        snprintf(msg, sizeof msg, "%s takes %s, not %s", key,
                 config_opt_is_list(i) ? "a value or a list of values" : "one value",
                 event_what(x->ev.type));
        return fail(x, line_of(&x->ev), msg);
    }
    if (value_add(v, "", 0, false) < 0)
        return fail(x, line_of(&x->ev), "out of memory");
    for (size_t items = 0;; items++) {
        if (next(x) != 0)
            return 2;
        if (x->ev.type == YAML_SEQUENCE_END_EVENT)
            return 0;
        if (x->ev.type != YAML_SCALAR_EVENT) {
            snprintf(msg, sizeof msg, "%s: list items must be plain values, not %s", key,
                     event_what(x->ev.type));
            return fail(x, line_of(&x->ev), msg);
        }
        const char *s = (const char *)x->ev.data.scalar.value;
        size_t n = x->ev.data.scalar.length;
        if (memchr(s, '\0', n) || memchr(s, ',', n)) {
            snprintf(msg, sizeof msg, "%s: a list item may not hold a comma or NUL", key);
            return fail(x, line_of(&x->ev), msg);
        }
        if (is_null(&x->ev) || n == 0) {
            snprintf(msg, sizeof msg, "%s: empty list item", key);
            return fail(x, line_of(&x->ev), msg);
        }
        if (value_add(v, s, n, items > 0) < 0)
            return fail(x, line_of(&x->ev), "out of memory");
    }
}

/* The pairs of the root mapping, from the event after MAPPING_START. */
static int read_mapping(struct ctx *x, struct wsp_config *c, unsigned *seen_line)
{
    char msg[512];
    for (;;) {
        if (next(x) != 0)
            return 2;
        if (x->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        unsigned line = line_of(&x->ev);
        if (x->ev.type != YAML_SCALAR_EVENT)
            return fail(x, line, "keys must be option names (e.g. max-conns: 1000)");
        const char *key = (const char *)x->ev.data.scalar.value;
        if (x->ev.data.scalar.length != strlen(key) || x->ev.data.scalar.length > 64)
            return fail(x, line, "keys must be option names (e.g. max-conns: 1000)");
        int i = find_opt(key);
        if (i < 0) {
            if (!strcmp(key, "config") || !strcmp(key, "print-config")) {
                snprintf(msg, sizeof msg, "'%s' is a command-line option only", key);
                return fail(x, line, msg);
            }
            const char *s = config_show_suggest(key[0] == '-' && key[1] == '-' ? key + 2 : key, 3);
            if (s)
                snprintf(msg, sizeof msg, "unknown option '%.64s' (did you mean '%s'?)", key, s);
            else
                snprintf(msg, sizeof msg, "unknown option '%.64s' (wspush serve --help lists them)",
                         key);
            return fail(x, line, msg);
        }
        if (seen_line[i]) {
            snprintf(msg, sizeof msg, "%s is set twice (first on line %u)", key, seen_line[i]);
            return fail(x, line, msg);
        }
        seen_line[i] = line;
        if (next(x) != 0)
            return 2;
        unsigned vline = line_of(&x->ev);
        struct value v = {0};
        int r = read_value(x, (size_t)i, &v);
        if (r == 0) {
            char src[300];
            snprintf(src, sizeof src, "%.256s:%u: ", x->name, vline);
            r = config_opt_set(c, (size_t)i, v.buf, x->err, src);
        }
        free(v.buf);
        if (r != 0)
            return 2;
    }
}

int config_file_parse(struct wsp_config *c, const char *text, size_t len, const char *name,
                      FILE *err)
{
    struct ctx x = {.name = name, .err = err};
    unsigned *seen_line = calloc(config_opt_count(), sizeof *seen_line);
    if (!seen_line || !yaml_parser_initialize(&x.p)) {
        free(seen_line);
        fprintf(err, "wspush: error: %s: out of memory\n", name);
        return 2;
    }
    yaml_parser_set_input_string(&x.p, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&x.p, YAML_UTF8_ENCODING);
    int r = next(&x); /* STREAM_START */
    if (r == 0)
        r = next(&x);
    if (r == 0 && x.ev.type == YAML_DOCUMENT_START_EVENT) {
        r = next(&x);
        if (r == 0 && x.ev.type == YAML_MAPPING_START_EVENT)
            r = read_mapping(&x, c, seen_line);
        else if (r == 0 && !(x.ev.type == YAML_SCALAR_EVENT && is_null(&x.ev)))
            r = fail(&x, line_of(&x.ev),
                     "a config file is a mapping of option names to values (max-conns: 1000)");
        if (r == 0)
            r = next(&x); /* DOCUMENT_END */
        if (r == 0)
            r = next(&x);
        if (r == 0 && x.ev.type == YAML_DOCUMENT_START_EVENT)
            r = fail(&x, line_of(&x.ev), "only one YAML document is allowed (remove '---')");
    }
    if (r == 0 && x.ev.type != YAML_STREAM_END_EVENT)
        r = fail(&x, line_of(&x.ev), "unexpected content after the configuration");
    if (x.have_ev)
        yaml_event_delete(&x.ev);
    yaml_parser_delete(&x.p);
    free(seen_line);
    return r;
}

int config_file_load(struct wsp_config *c, const char *path, FILE *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(err, "wspush: error: cannot read config file %s: %s\n", path, strerror(errno));
        return 2;
    }
    char *buf = malloc(CONFIG_FILE_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_FILE_MAX_BYTES + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    int r = 2;
    if (!buf)
        fprintf(err, "wspush: error: %s: out of memory\n", path);
    else if (rerr)
        fprintf(err, "wspush: error: cannot read config file %s\n", path);
    else if (n > CONFIG_FILE_MAX_BYTES)
        fprintf(err, "wspush: error: config file %s is larger than %u bytes\n", path,
                CONFIG_FILE_MAX_BYTES);
    else
        r = config_file_parse(c, buf, n, path, err);
    free(buf);
    return r;
}

int config_file_arg(int argc, char **argv, int i)
{
    if (!strcmp(argv[i], "--config"))
        return i + 1 < argc ? 2 : 1;
    return !strncmp(argv[i], "--config=", 9) ? 1 : 0;
}

int config_file_apply(struct wsp_config *c, int argc, char **argv, FILE *err)
{
    const char *path = getenv("WSPUSH_CONFIG");
    for (int i = 1; i < argc; i++) {
        int k = config_file_arg(argc, argv, i);
        if (k == 1 && argv[i][8] != '=') {
            fprintf(err, "wspush: error: --config needs a value (FILE)\n");
            return 2;
        }
        if (k)
            path = k == 2 ? argv[i + 1] : argv[i] + 9;
        i += k > 1 ? k - 1 : 0;
    }
    if (!path || !*path)
        return 0;
    if (strlen(path) >= sizeof c->config_path) {
        fprintf(err, "wspush: error: --config: path too long\n");
        return 2;
    }
    snprintf(c->config_path, sizeof c->config_path, "%s", path);
    return config_file_load(c, path, err);
}
