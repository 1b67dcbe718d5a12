/* fuzz_query.c - libFuzzer target for the query-string helpers:
 * http_query_next, http_pct_decode, http_topic_valid, http_token_list_has,
 * and the `since` value parser (msgid_since_parse, msgid_parse).
 *
 * Iterates the input as a query string and checks each pair lies inside it
 * and the cursor only moves forward; decodes keys and values into exact-size
 * heap buffers and in place (the two must agree; one byte less capacity must
 * say WSP_ETOOBIG); compares http_topic_valid with an independent,
 * code-point-based UTF-8 check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "http/http_parse.h"
#include "pubsub/msgid.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

/* Reference topic check: decode code points, then range-check them. */
static bool ref_topic_valid(const uint8_t *s, size_t n, size_t max_len)
{
    if (n == 0 || n > max_len)
        return false;
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c >= 0x21 && c <= 0x7e) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            k = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < k)
            return false;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min_cp[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k;
    }
    return true;
}

static void check_decode(const char *p, size_t len, bool plus)
{
    char *out = malloc(len ? len : 1);
    char *inplace = malloc(len ? len : 1);
    WSP_ASSERT(out && inplace);
    if (len)
        memcpy(inplace, p, len);
    ssize_t a = http_pct_decode(p, len, out, len, plus);
    ssize_t b = http_pct_decode(inplace, len, inplace, len, plus);
    WSP_ASSERT(a == b);
    WSP_ASSERT(a == WSP_EPROTO || (a >= 0 && (size_t)a <= len));
    if (a > 0) {
        WSP_ASSERT(memcmp(out, inplace, (size_t)a) == 0);
        WSP_ASSERT(http_pct_decode(p, len, out, (size_t)a - 1, plus) == WSP_ETOOBIG);
        bool v = http_topic_valid(out, (size_t)a, 0);
        WSP_ASSERT(v == ref_topic_valid((const uint8_t *)out, (size_t)a, HTTP_DEFAULT_TOPIC_BYTES));
    }
    free(out);
    free(inplace);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    const char *q = (const char *)d;
    size_t pos = 0, pairs = 0;
    const char *k, *v;
    size_t kl, vl;
    while (http_query_next(q, n, &pos, &k, &kl, &v, &vl) == 1) {
        WSP_ASSERT(k >= q && (size_t)(k - q) + kl <= n);
        WSP_ASSERT(!memchr(k, '&', kl) && !memchr(k, '=', kl));
        if (v) {
            WSP_ASSERT(v == k + kl + 1 && (size_t)(v - q) + vl <= n);
            WSP_ASSERT(!memchr(v, '&', vl));
        } else {
            WSP_ASSERT(vl == 0);
        }
        WSP_ASSERT(kl + vl > 0 || v); /* empty pairs are skipped */
        WSP_ASSERT(pos <= n && pos == (size_t)((v ? v + vl : k + kl) - q));
        WSP_ASSERT(++pairs <= n);
        check_decode(k, kl, pairs & 1);
        if (v)
            check_decode(v, vl, true);
    }
    WSP_ASSERT(pos == n);

    /* since values: what parses formats back to the same id bytes */
    const char *st;
    size_t stl;
    struct msgid id;
    if (msgid_since_parse(q, n, &st, &stl, &id) == 0) {
        WSP_ASSERT(id.epoch >= 1 && id.epoch <= MSGID_EPOCH_MAX);
        WSP_ASSERT(!st || (st == q && stl > 0 && stl < n && q[stl] == ':'));
        size_t off = st ? stl + 1 : 0;
        char buf[MSGID_MAX_LEN];
        size_t bl = msgid_format(buf, sizeof buf, id.epoch, id.seq);
        WSP_ASSERT(bl == n - off && memcmp(buf, q + off, bl) == 0);
    }

    WSP_ASSERT(http_topic_valid(q, n, 0) == ref_topic_valid(d, n, HTTP_DEFAULT_TOPIC_BYTES));
    if (n > 0)
        WSP_ASSERT(http_topic_valid(q, n, n) == ref_topic_valid(d, n, n));
    if (n > 1)
        WSP_ASSERT(!http_topic_valid(q, n, n - 1));
    if (http_token_list_has(q, n, "upgrade")) {
        bool seen = false;
        for (size_t i = 0; i + 7 <= n && !seen; i++)
            seen = http_str_ieq(q + i, 7, "upgrade");
        WSP_ASSERT(seen);
    }
    return 0;
}
