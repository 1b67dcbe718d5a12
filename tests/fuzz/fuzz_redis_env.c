/* fuzz_redis_env.c - libFuzzer target for the Redis channel envelope with
 * and without an id (broker/redis.c: redis_envelope_decode_id), the bytes
 * any Redis client can PUBLISH to a node's channels.
 *
 * Checks: the outputs point inside the input; a decoded id is in range and
 * re-encodes to exactly the header it was read from; without an id the
 * result is the plain envelope's. */
#include <stdint.h>
#include <string.h>

#include "broker/redis.h"
#include "core/err.h"
#include "core/wsp_assert.h"
#include "pubsub/msgid.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    struct msgid id = {0, 0};
    bool bin;
    const uint8_t *data = NULL;
    size_t len = 0;
    int r = redis_envelope_decode_id(d, n, &id, &bin, &data, &len);
    WSP_ASSERT(r == 0 || r == 1 || r == WSP_EPROTO);
    if (r < 0)
        return 0;
    WSP_ASSERT(data >= d && len <= n && (size_t)(data - d) <= n - len);
    if (r == 0) {
        bool b2;
        const uint8_t *d2;
        size_t l2;
        redis_envelope_decode(d, n, &b2, &d2, &l2);
        WSP_ASSERT(b2 == bin && d2 == data && l2 == len);
        return 0;
    }
    WSP_ASSERT(id.epoch >= 1 && id.epoch <= MSGID_EPOCH_MAX && id.seq >= 1 &&
               id.seq <= (uint64_t)INT64_MAX);
    uint8_t hdr[REDIS_ENV_ID_MAX];
    size_t hl = redis_envelope_id_header(&id, hdr);
    WSP_ASSERT(hl <= n && memcmp(hdr, d, hl) == 0);
    return 0;
}
