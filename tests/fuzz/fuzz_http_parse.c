/* fuzz_http_parse.c - libFuzzer target for the HTTP request-head parser.
 *
 * Parses the input with the default limits and with small limits taken from
 * its first byte, and asserts the contract: the result is a length within
 * the input and the head limit, or one of the documented errors with its
 * status; every returned pointer lies inside the head (but the static "/"
 * of an absolute-form target without a path); a prefix answers
 * WSP_EAGAIN or the same as the whole. Exercises the lookup helpers on the
 * parsed headers. */
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "http/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static bool inside(const char *p, size_t len, const uint8_t *lo, size_t n)
{
    return p >= (const char *)lo && len <= n && p - (const char *)lo <= (ptrdiff_t)(n - len);
}

static bool tchar_ok(uint8_t c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

static void check_success(const uint8_t *d, size_t used, size_t max_headers,
                          const struct http_req *r)
{
    WSP_ASSERT(r->status == 0 && r->reason == NULL);
    WSP_ASSERT(used >= 16); /* "X * HTTP/1.1\r\n\r\n" is the shortest head */
    WSP_ASSERT(memcmp(d + used - 4, "\r\n\r\n", 4) == 0);
    WSP_ASSERT(r->minor_version == 0 || r->minor_version == 1);
    WSP_ASSERT(r->method_len > 0 && inside(r->method, r->method_len, d, used));
    WSP_ASSERT(r->target_len > 0 && r->target_len <= HTTP_MAX_TARGET_BYTES);
    WSP_ASSERT(inside(r->target, r->target_len, d, used));
    /* routing sees "/..." or "*" only (absolute-form gives its URI's path,
     * a static "/" when empty); query, when present, ends the target */
    bool root = r->path_len == 1 && r->path[0] == '/' && !inside(r->path, 1, d, used);
    WSP_ASSERT(r->path_len > 0 && r->path_len <= r->target_len);
    WSP_ASSERT(r->path[0] == '/' || (r->path_len == 1 && r->path[0] == '*'));
    WSP_ASSERT(root || (r->path >= r->target && inside(r->path, r->path_len, d, used)));
    WSP_ASSERT(!memchr(r->target, '#', r->target_len));
    if (r->query) {
        WSP_ASSERT(r->query[-1] == '?' && inside(r->query, r->query_len, d, used));
        WSP_ASSERT(r->query + r->query_len == r->target + r->target_len);
        WSP_ASSERT(root || r->query == r->path + r->path_len + 1);
    } else {
        WSP_ASSERT(r->query_len == 0);
        WSP_ASSERT(root || r->path + r->path_len == r->target + r->target_len);
    }
    WSP_ASSERT(!memchr(r->path, '?', r->path_len));
    for (size_t i = 0; i < r->method_len; i++)
        WSP_ASSERT(tchar_ok((uint8_t)r->method[i]));
    WSP_ASSERT(r->num_headers <= max_headers);

    char name[HTTP_MAX_TARGET_BYTES * 2 + 1];
    for (size_t i = 0; i < r->num_headers; i++) {
        const struct http_header *h = &r->headers[i];
        WSP_ASSERT(h->name_len > 0 && inside(h->name, h->name_len, d, used));
        WSP_ASSERT(h->value && inside(h->value, h->value_len, d, used));
        for (size_t k = 0; k < h->name_len; k++)
            WSP_ASSERT(tchar_ok((uint8_t)h->name[k]));
        for (size_t k = 0; k < h->value_len; k++) {
            uint8_t c = (uint8_t)h->value[k];
            WSP_ASSERT(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h->value_len) {
            WSP_ASSERT(h->value[0] != ' ' && h->value[0] != '\t');
            WSP_ASSERT(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
        }
        if (h->name_len < sizeof name) {
            memcpy(name, h->name, h->name_len);
            name[h->name_len] = '\0';
            const struct http_header *f = http_req_header(r, name);
            WSP_ASSERT(f && f <= h);
            WSP_ASSERT(http_str_ieq(f->name, f->name_len, name));
            WSP_ASSERT(http_req_header_count(r, name) >= 1);
        }
        (void)http_token_list_has(h->value, h->value_len, "upgrade");
    }
}

static void check(const uint8_t *d, size_t n, const struct http_limits *lim)
{
    static struct http_req r, r2; /* ~4 KiB each: keep them off the stack */
    size_t max_head = lim && lim->max_head_bytes ? lim->max_head_bytes : HTTP_DEFAULT_HEAD_BYTES;
    size_t max_headers = lim && lim->max_headers ? lim->max_headers : HTTP_DEFAULT_HEADERS;
    if (max_headers > HTTP_MAX_HEADERS_CAP)
        max_headers = HTTP_MAX_HEADERS_CAP;

    ssize_t used = http_parse_request(d, n, lim, &r);
    if (used >= 0) {
        WSP_ASSERT(used > 0 && (size_t)used <= n && (size_t)used <= max_head);
        check_success(d, (size_t)used, max_headers, &r);
        /* The head is complete only with its last byte. */
        WSP_ASSERT(http_parse_request(d, (size_t)used - 1, lim, &r2) == WSP_EAGAIN);
        WSP_ASSERT(http_parse_request(d, (size_t)used, lim, &r2) == used);
        WSP_ASSERT(r2.num_headers == r.num_headers);
    } else if (used == WSP_EAGAIN) {
        WSP_ASSERT(n < max_head);
    } else if (used == WSP_EPROTO) {
        WSP_ASSERT((r.status == 400 || r.status == 505) && r.reason);
    } else {
        WSP_ASSERT(used == WSP_ETOOBIG);
        WSP_ASSERT((r.status == 414 || r.status == 431) && r.reason);
    }

    /* A prefix answers EAGAIN or what the whole answers. */
    size_t cut = n / 2;
    ssize_t got = http_parse_request(d, cut, lim, &r2);
    if (used >= 0)
        WSP_ASSERT(got == ((size_t)used <= cut ? used : WSP_EAGAIN));
    else if (got != WSP_EAGAIN)
        WSP_ASSERT(got == used && r2.status == r.status);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    check(d, n, NULL);
    if (n > 0) {
        struct http_limits lim = {.max_head_bytes = 16 + (size_t)d[0] * 4,
                                  .max_headers = 1 + d[0] % 8};
        check(d, n, &lim);
    }
    return 0;
}
