/* config_show.c - the configuration as text (see config_show.h).
 *
 * Reads the option table through config_opt.h's accessors only: it never names
 * an option, so rows added to the table are printed, diffed and suggested
 * as they are. It does not parse files (config_file.c) nor decide what a
 * change means at run time (the master does).
 *
 * Invariant: a secret's value never reaches an output of this file. */
#include "config/config_show.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define VALUE_MAX 4096 /* above every buffer of struct wsp_config */

static bool name_is_secret(const char *name)
{
    size_t n = strlen(name);
    if (n >= 5 && !strcmp(name + n - 5, "-file"))
        return false; /* a path to the secret, not the secret */
    return strstr(name, "token") || strstr(name, "secret") || strstr(name, "password");
}

/* true if option i holds a secret in config c (see config_show_print). */
static bool is_secret(const struct wsp_config *c, size_t i)
{
    const char *name = config_opt_name(i);
    if (name_is_secret(name))
        return true;
    if (!strcmp(name, "redis")) { /* redis://:PASSWORD@host */
        char v[VALUE_MAX];
        return config_opt_format(c, i, v, sizeof v) < 0 || strchr(v, '@');
    }
    return false;
}

const char *config_show_suggest(const char *name, size_t max_dist)
{
    const char *best = NULL;
    size_t best_d = max_dist + 1;
    for (size_t i = 0; i < config_opt_count(); i++) {
        size_t dist = config_opt_distance(name, config_opt_name(i));
        if (dist < best_d) {
            best_d = dist;
            best = config_opt_name(i);
        }
    }
    return best;
}

void config_show_env_check(FILE *err)
{
    extern char **environ;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "WSPUSH_", 7) != 0)
            continue;
        const char *s = *e + 7;
        const char *eq = strchr(s, '=');
        size_t n = eq ? (size_t)(eq - s) : strlen(s);
        if (n == 0 || n > 64)
            continue;
        char name[65];
        for (size_t k = 0; k < n; k++)
            name[k] = s[k] == '_' ? '-' : (s[k] >= 'A' && s[k] <= 'Z') ? (char)(s[k] + 32) : s[k];
        name[n] = '\0';
        if (!strcmp(name, "config"))
            continue;
        /* a near miss: one edit for short names, two for longer ones, so
         * WSPUSH_BIN or WSPUSH_SANITIZE (no option near them) stay quiet */
        size_t max = n <= 5 ? 1 : 2;
        const char *best = config_show_suggest(name, max);
        if (!best || !strcmp(best, name))
            continue;
        char env[80];
        config_opt_env_name(best, env, sizeof env);
        fprintf(err,
                "wspush: warning: environment variable WSPUSH_%.*s is not an option and is "
                "ignored; did you mean %s?\n",
                (int)n, s, env);
    }
}

/* YAML plain scalars are safe for these; anything else is double-quoted. */
static bool plain_ok(const char *v)
{
    if (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL"))
        return false;
    if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') ||
          *v == '/' || *v == '.'))
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._/+-", *p)))
            return false;
    return true;
}

static void put_scalar(FILE *out, const char *v, size_t n)
{
    char tmp[VALUE_MAX];
    if (n >= sizeof tmp)
        n = sizeof tmp - 1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    if (plain_ok(tmp)) {
        fputs(tmp, out);
        return;
    }
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *u = (const unsigned char *)tmp + i;
        if (*u == '"' || *u == '\\')
            fprintf(out, "\\%c", *u);
        else if (*u < 0x20 || *u == 0x7f)
            fprintf(out, "\\x%02x", *u);
        else if (*u == 0xc2 && i + 1 < n && u[1] >= 0x80 && u[1] <= 0x9f) {
            /* C1 controls (NEL among them) would be folded or refused */
            fprintf(out, "\\x%02x", u[1]);
            i++;
        } else if (*u == 0xe2 && i + 2 < n && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9)) {
            fputs(u[2] == 0xa8 ? "\\L" : "\\P", out); /* line/paragraph separators */
            i += 2;
        } else if (*u == 0xef && i + 2 < n && u[1] == 0xbb && u[2] == 0xbf) {
            fputs("\\uFEFF", out); /* a BOM is dropped where it is read raw */
            i += 2;
        } else
            fputc(*u, out);
    }
    fputc('"', out);
}

static int file_option(const char *name)
{
    char want[80];
    snprintf(want, sizeof want, "%s-file", name);
    for (size_t i = 0; i < config_opt_count(); i++)
        if (!strcmp(config_opt_name(i), want))
            return (int)i;
    return -1;
}

void config_show_print(const struct wsp_config *c, FILE *out)
{
    fputs("# wspush serve configuration, as printed by `wspush serve --print-config`.\n"
          "# Use it with `wspush serve --config FILE`. Precedence: command line >\n"
          "# environment (WSPUSH_*) > this file > defaults.\n",
          out);
    char v[VALUE_MAX];
    for (size_t i = 0; i < config_opt_count(); i++) {
        const char *name = config_opt_name(i);
        int n = config_opt_format(c, i, v, sizeof v);
        if (n < 0) {
            fprintf(out, "# %s: (cannot be shown)\n", name);
            continue;
        }
        if (n > 0 && is_secret(c, i)) {
            int f = file_option(name);
            char fv[VALUE_MAX];
            if (f >= 0 && config_opt_format(c, (size_t)f, fv, sizeof fv) > 0)
                fprintf(out, "# %s: read from %s-file\n", name, name);
            else
                fprintf(out,
                        "# %s: set, not shown (secret); give it again through the "
                        "environment or %s\n",
                        name, f >= 0 ? "its -file option" : "the command line");
            continue;
        }
        fprintf(out, "%s: ", name);
        if (!config_opt_is_list(i)) {
            put_scalar(out, v, (size_t)n);
            fputc('\n', out);
            continue;
        }
        fputc('[', out);
        for (const char *p = v; *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (p != v)
                fputs(", ", out);
            put_scalar(out, p, len);
            p += len + (e ? 1 : 0);
        }
        fputs("]\n", out);
    }
}

size_t config_show_diff(const struct wsp_config *a, const struct wsp_config *b, config_change_cb cb,
                        void *arg)
{
    char *va = malloc(VALUE_MAX), *vb = malloc(VALUE_MAX);
    size_t changes = 0;
    for (size_t i = 0; va && vb && i < config_opt_count(); i++) {
        int na = config_opt_format(a, i, va, VALUE_MAX);
        int nb = config_opt_format(b, i, vb, VALUE_MAX);
        if (na == nb && (na < 0 || !strcmp(va, vb)))
            continue;
        changes++;
        if (is_secret(a, i) || is_secret(b, i))
            cb(i, NULL, NULL, arg);
        else
            cb(i, na < 0 ? "?" : va, nb < 0 ? "?" : vb, arg);
    }
    free(va);
    free(vb);
    return changes;
}
