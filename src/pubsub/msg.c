/* msg.c - refcounted encoded frames (see msg.h). */
#include "pubsub/msg.h"

#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"
#include "core/wsp_assert.h"
#include "ws/ws_frame.h"

struct msg *msg_new(size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    struct msg *m = malloc(sizeof *m + len);
    if (!m)
        return NULL;
    m->refs = 1;
    m->len = (uint32_t)len;
    m->topic_key = 0;
    m->seq = 0;
    m->publish_ns = 0;
    m->deflated = NULL;
    m->envelope = NULL;
    m->topic_seq = 0;
    m->sse = NULL;
    return m;
}

struct msg *msg_new_frame(uint8_t opcode, const void *payload, size_t n)
{
    size_t hl = ws_frame_header_len(n, false);
    struct msg *m = msg_new(hl + n);
    if (!m)
        return NULL;
    size_t w = ws_frame_header_encode(m->data, true, opcode, n, NULL);
    WSP_DASSERT(w == hl);
    if (n)
        memcpy(m->data + w, payload, n);
    return m;
}

void msg_unref(struct msg *m)
{
    if (!m)
        return;
    WSP_DASSERT(m->refs > 0);
    if (--m->refs == 0) {
        msg_unref(m->deflated);
        msg_unref(m->envelope);
        msg_unref(m->sse);
        free(m);
    }
}

/* Written once before the workers fork, read-only afterwards. */
static uint8_t topic_secret[SIPHASH_KEY_BYTES];

void msg_topic_key_seed(const uint8_t key[16])
{
    memcpy(topic_secret, key, sizeof topic_secret);
}

uint64_t msg_topic_key(const char *name, size_t n)
{
    uint64_t h = siphash24(topic_secret, name, n);
    return h > 1 ? h : h + 2;
}
