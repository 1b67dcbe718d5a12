/* tokens.h - subscriber tokens for wspush-bench (--token, --token-file):
 * connection i of the run sends token i mod n as "Authorization: Bearer". */
#ifndef WSP_LOADGEN_TOKENS_H
#define WSP_LOADGEN_TOKENS_H

#include <stddef.h>

#define BENCH_TOKEN_MAX 8192 /* the server refuses longer tokens (JWT_MAX_BYTES) */

struct bench_tokens { /* owned by the parent; children inherit it at fork */
    char **v;         /* n NUL-terminated tokens, none empty */
    size_t n;         /* 0: connections send no token */
};

/* Adds one token (a copy). 0, or -1 with a reason in err. */
int bench_tokens_add(struct bench_tokens *t, const char *tok, size_t len, char *err, size_t cap);
/* Adds every non-empty line of path (a trailing \r is dropped). 0, or -1
 * with a reason in err (unreadable, a line over BENCH_TOKEN_MAX, no token). */
int bench_tokens_load(struct bench_tokens *t, const char *path, char *err, size_t cap);
/* The token for connection i of the run, or NULL when there are none. */
const char *bench_tokens_for(const struct bench_tokens *t, unsigned long long i);

#endif
