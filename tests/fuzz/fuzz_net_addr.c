/* fuzz_net_addr.c - libFuzzer target for net_addr_parse, the parser of the
 * --listen and --admin arguments (and of addresses in config files).
 *
 * The input is one string (cut at its first NUL). The parser must accept or
 * refuse it with WSP_EINVAL, never read past the terminating NUL (the copy
 * is exact-size, so ASan catches an over-read), and an accepted address
 * must survive net_addr_format -> net_addr_parse unchanged: same family,
 * address and port. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void round_trip(const struct net_addr *a)
{
    char buf[64];
    net_addr_format(a, buf, sizeof buf);
    struct net_addr b;
    WSP_ASSERT(net_addr_parse(buf, "0.0.0.0", &b) == 0);
    WSP_ASSERT(a->len == b.len && a->ss.ss_family == b.ss.ss_family);
    WSP_ASSERT(net_addr_port(a) == net_addr_port(&b));
    WSP_ASSERT(memcmp(&a->ss, &b.ss, a->len) == 0);
    (void)net_addr_is_loopback(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    const uint8_t *nul = memchr(d, 0, n);
    size_t len = nul ? (size_t)(nul - d) : n;
    char *s = malloc(len + 1);
    if (!s)
        return 0;
    memcpy(s, d, len);
    s[len] = '\0';
    static const char *const defaults[] = {"0.0.0.0", "::", "localhost"};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        struct net_addr a;
        int r = net_addr_parse(s, defaults[i], &a);
        WSP_ASSERT(r == 0 || r == WSP_EINVAL);
        if (r == 0) {
            WSP_ASSERT(a.ss.ss_family == AF_INET || a.ss.ss_family == AF_INET6);
            round_trip(&a);
        }
    }
    free(s);
    return 0;
}
