/* extract.c - finds the subscriber token in a request head (extract.h).
 *
 * Only locates bytes; whether they are a token is jwt.c's business. A
 * request with several sources uses the first in the documented order. */
#include "auth/extract.h"

#include <string.h>
#include <strings.h>

#include "core/err.h"

int auth_cookie_find(const char *hdr, size_t len, const char *name, const char **v, size_t *vl)
{
    size_t nl = strlen(name), i = 0;
    while (i < len) {
        while (i < len && (hdr[i] == ' ' || hdr[i] == ';'))
            i++;
        size_t start = i;
        while (i < len && hdr[i] != ';')
            i++;
        const char *pair = hdr + start, *eq = memchr(pair, '=', i - start);
        if (eq && (size_t)(eq - pair) == nl && !memcmp(pair, name, nl)) {
            *v = eq + 1;
            *vl = (size_t)(hdr + i - (eq + 1));
            while (*vl && ((*v)[*vl - 1] == ' ' || (*v)[*vl - 1] == '\t'))
                (*vl)--;
            if (*vl >= 2 && (*v)[0] == '"' && (*v)[*vl - 1] == '"') { /* cookie-value DQUOTEs */
                (*v)++;
                *vl -= 2;
            }
            return 1;
        }
    }
    return 0;
}

int auth_token_find(const struct http_req *r, const char *cookie, char *buf, size_t cap,
                    const char **tok, size_t *n)
{
    size_t pos = 0;
    const char *k, *v;
    size_t kl, vl;
    while (r->query && http_query_next(r->query, r->query_len, &pos, &k, &kl, &v, &vl) == 1) {
        if (kl != 5 || memcmp(k, "token", 5) != 0 || !v)
            continue;
        ssize_t dl = http_pct_decode(v, vl, buf, cap, false);
        if (dl < 0)
            return (int)dl;
        *tok = buf;
        *n = (size_t)dl;
        return 1;
    }
    const struct http_header *h = http_req_header(r, "Authorization");
    if (h && h->value_len > 7 && !strncasecmp(h->value, "Bearer ", 7)) {
        size_t off = 7;
        while (off < h->value_len && h->value[off] == ' ')
            off++;
        *tok = h->value + off;
        *n = h->value_len - off;
        return *n > cap ? WSP_ETOOBIG : 1;
    }
    if (cookie && cookie[0]) {
        for (size_t i = 0; i < r->num_headers; i++) { /* HTTP/1.1 clients may send several */
            const struct http_header *c = &r->headers[i];
            if (c->name_len != 6 || strncasecmp(c->name, "Cookie", 6) != 0)
                continue;
            if (auth_cookie_find(c->value, c->value_len, cookie, tok, n))
                return *n > cap ? WSP_ETOOBIG : 1;
        }
    }
    return 0;
}
