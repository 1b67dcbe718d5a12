/* fuzz_control.c - libFuzzer target for the control command decoders
 * (server/control.c): the Redis form, which any client of the Redis server
 * can publish, the ring form, and a node's presence answer. An accepted
 * command or answer re-encodes to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wsp_assert.h"
#include "server/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    uint8_t nonce[CTL_NONCE_BYTES], out[CTL_REDIS_MAX];
    struct ctl_cmd c;
    if (ctl_redis_decode(d, n, nonce, &c) == 0) {
        WSP_ASSERT(c.subject_len >= 1 && c.subject_len <= CTL_SUBJECT_MAX);
        WSP_ASSERT(c.reason_len <= CTL_REASON_MAX && c.limit <= CTL_USERS_MAX);
        size_t m = ctl_redis_encode(&c, nonce, out);
        WSP_ASSERT(m <= CTL_REDIS_MAX);
        /* the limit is clamped and unknown flag bits dropped: else identical */
        WSP_ASSERT(m == n && memcmp(out, d, CTL_NONCE_BYTES + 1 + c.subject_len) == 0);
    }
    if (n > 0) {
        size_t sl = d[0] % (CTL_SUBJECT_MAX + 2);
        if (sl + 1 <= n)
            (void)ctl_decode((const char *)d + 1, sl, d + 1 + sl, n - 1 - sl, &c);
    }
    struct ctl_answer a;
    if (ctl_answer_decode(d, n, &a) == 0) {
        WSP_ASSERT(a.nusers <= CTL_USERS_MAX && n <= CTL_ANS_MAX);
        uint8_t *re = malloc(CTL_ANS_MAX);
        if (re) {
            WSP_ASSERT(ctl_answer_encode(&a, re) == n && memcmp(re, d, n) == 0);
            free(re);
        }
    }
    return 0;
}
