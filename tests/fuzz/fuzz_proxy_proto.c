/* fuzz_proxy_proto.c - libFuzzer target for the PROXY protocol header
 * parser, proxy_sniff and X-Forwarded-For.
 *
 * Checks: the length consumed lies within the input; a header that parses
 * parses the same from an exact-size heap copy (ASan sees an over-read) and
 * every proper prefix of it answers WSP_EAGAIN; an error is never undone by
 * more bytes (the prefix property, checked on the input cut in half); a
 * parsed address has the family it claims; sniff agrees with parse on
 * inputs parse accepts; X-Forwarded-For over the input stays inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "net/proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    uint8_t *copy = calloc(1, n ? n : 1); /* calloc: gcc -O2 cannot see n == 0 reads nothing */
    WSP_ASSERT(copy);
    if (n)
        memcpy(copy, d, n);
    struct proxy_hdr h;
    ssize_t r = proxy_parse(copy, n, &h);
    WSP_ASSERT(r == WSP_EAGAIN || r == WSP_EPROTO || (r > 0 && (size_t)r <= n));
    if (r > 0) {
        WSP_ASSERT(h.version == 1 || h.version == 2);
        WSP_ASSERT(h.version != 1 || (size_t)r <= PROXY_V1_MAX_BYTES);
        if (!h.local)
            WSP_ASSERT((h.src.ss_family == AF_INET || h.src.ss_family == AF_INET6) &&
                       h.dst.ss_family == h.src.ss_family);
        struct proxy_hdr h2;
        /* the same header from exactly its own bytes */
        WSP_ASSERT(proxy_parse(copy, (size_t)r, &h2) == r);
        for (size_t cut = 0; cut < (size_t)r; cut += 1 + (size_t)r / 64)
            WSP_ASSERT(proxy_parse(copy, cut, &h2) == WSP_EAGAIN);
        WSP_ASSERT(proxy_sniff(copy, n) == 1 || n < 6);
    } else if (r == WSP_EPROTO && n > 1) {
        /* a prefix may wait for more bytes, but never accept */
        ssize_t p = proxy_parse(copy, n / 2, &h);
        WSP_ASSERT(p == WSP_EAGAIN || p == WSP_EPROTO);
    }
    (void)proxy_sniff(copy, n);
    static struct proxy_cidr trusted[2];
    static int init;
    if (!init) {
        WSP_ASSERT(proxy_cidr_parse("10.0.0.0/8", &trusted[0]) == 0);
        WSP_ASSERT(proxy_cidr_parse("fd00::/8", &trusted[1]) == 0);
        init = 1;
    }
    struct sockaddr_storage ss;
    int x = proxy_xff_client((const char *)copy, n, trusted, 2, &ss);
    WSP_ASSERT(x == 0 || x == WSP_EAGAIN || x == WSP_EPROTO);
    if (x == 0)
        WSP_ASSERT((ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
                   !proxy_cidr_match(trusted, 2, (const struct sockaddr *)&ss));
    if (n < 64) {
        char s[64];
        memcpy(s, copy, n);
        s[n] = '\0';
        struct proxy_cidr c;
        if (proxy_cidr_parse(s, &c) == 0)
            WSP_ASSERT(c.bits <= 128);
    }
    free(copy);
    return 0;
}
