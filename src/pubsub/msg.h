/* msg.h - one encoded WebSocket frame, shared by every subscriber.
 *
 * Encoded once (header + payload in one block) per worker and sent as-is to
 * every subscriber; a subscriber that cannot take it all at once holds a
 * reference, not a copy. Refcounts are worker-local (each worker builds its
 * own copy), so they are plain integers: never share a msg between threads. */
#ifndef WSP_PUBSUB_MSG_H
#define WSP_PUBSUB_MSG_H

#include <stddef.h>
#include <stdint.h>

struct msg {
    uint32_t refs;        /* worker-local */
    uint32_t len;         /* bytes in data[] */
    uint64_t topic_key;   /* hash of the topic (0: broadcast/none), for 'latest' */
    uint64_t seq;         /* ring sequence, 0 for per-connection control frames */
    uint64_t publish_ns;  /* CLOCK_MONOTONIC at publish, for fan-out latency */
    struct msg *deflated; /* the permessage-deflate encoding of the same
                           * message, or NULL; this msg holds one reference */
    struct msg *envelope; /* the JSON envelope form (with its own ->deflated),
                           * or NULL while no subscriber wants it; one reference */
    uint64_t topic_seq;   /* the message id's seq within its topic, 0: none */
    struct msg *sse;      /* the Server-Sent Events encoding, or NULL; this
                           * msg holds one reference */
    uint8_t data[];       /* ready for write(2) as-is */
};

/* An uninitialised msg of len bytes; refs = 1. NULL when out of memory. */
struct msg *msg_new(size_t len);
/* An unmasked server frame (FIN set) with the given opcode and payload. */
struct msg *msg_new_frame(uint8_t opcode, const void *payload, size_t n);

static inline void msg_ref(struct msg *m)
{
    m->refs++;
}
/* Frees at 0. NULL is a no-op. */
void msg_unref(struct msg *m);

/* A topic name's key: SipHash-2-4 under the process's topic secret, never
 * 0 or 1 (tables keep those for "never used" and "freed"). Peers choose
 * topic names, so without the secret they cannot aim names at one bucket
 * or probe window (issue 11). */
uint64_t msg_topic_key(const char *name, size_t n);
/* Sets the topic secret. Call once, before the first key is made and
 * before fork: every process that compares keys must share it. Until then
 * the secret is all zeros (tools and tests). */
void msg_topic_key_seed(const uint8_t key[16]);

#endif
