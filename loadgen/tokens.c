/* tokens.c - the subscriber tokens wspush-bench sends (see tokens.h).
 * Read once, by the parent, before the children fork; never freed (the
 * process ends with the run). */
#include "tokens.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_tokens_add(struct bench_tokens *t, const char *tok, size_t len, char *err, size_t cap)
{
    if (len == 0 || len > BENCH_TOKEN_MAX || memchr(tok, '\n', len)) {
        snprintf(err, cap, "a token must be 1-%d bytes on one line", BENCH_TOKEN_MAX);
        return -1;
    }
    char **v = realloc(t->v, (t->n + 1) * sizeof *v);
    char *s = malloc(len + 1);
    if (!v || !s) {
        free(s);
        if (v)
            t->v = v;
        snprintf(err, cap, "out of memory");
        return -1;
    }
    memcpy(s, tok, len);
    s[len] = '\0';
    t->v = v;
    t->v[t->n++] = s;
    return 0;
}

int bench_tokens_load(struct bench_tokens *t, const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t lcap = 0, before = t->n, lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        if (bench_tokens_add(t, line, (size_t)n, err, cap) < 0) {
            size_t k = strlen(err);
            snprintf(err + k, cap > k ? cap - k : 0, " (%s line %zu)", path, lineno);
            rc = -1;
        }
    }
    free(line);
    fclose(f);
    if (rc == 0 && t->n == before) {
        snprintf(err, cap, "%s: no token in the file", path);
        rc = -1;
    }
    return rc;
}

const char *bench_tokens_for(const struct bench_tokens *t, unsigned long long i)
{
    return t->n ? t->v[i % t->n] : NULL;
}
