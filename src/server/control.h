/* control.h - connection control commands (disconnect a user, presence of a
 * topic): their wire form and the workers' shared answer area.
 *
 * DESIGN.md "Control travels like data": the master appends a command to
 * the ring as an entry flagged RING_F_CONTROL (topic = the subject: a user
 * or a topic name; frame = the encoded command), so every worker reads it
 * in order with the messages and a disconnect cannot overtake a message
 * published before it. Across nodes the same command travels through Redis
 * on the control channel (<prefix> + CTL_REDIS_SUFFIX, a name no topic can
 * have), behind the messages the node published before it. A presence
 * request travels the same way; each node answers it on the asker's reply
 * channel (struct ctl_answer).
 *
 * A command that wants an answer carries a request id; each worker writes
 * its answer into its own block of a MAP_SHARED area created by the master
 * before fork, then rings one shared eventfd. Private to src/server/. */
#ifndef WSP_SERVER_CONTROL_H
#define WSP_SERVER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_CLOSE_NO_RECONNECT 4503 /* docs/auth.md: disconnected, do not reconnect */
#define CTL_CLOSE_RECONNECT 4000    /* disconnected by the application, reconnect allowed */

#define CTL_OP_DISCONNECT 1
#define CTL_OP_PRESENCE 2

#define CTL_F_RECONNECT 0x1

#define CTL_SUBJECT_MAX 128 /* a user id (< 128 bytes) or a topic name */
#define CTL_REASON_MAX 123  /* RFC 6455 §5.5: 125-byte control payload minus the code */
#define CTL_USERS_MAX 1000  /* most users one presence answer lists */
#define CTL_REPLY_BYTES (CTL_USERS_MAX * 128) /* per worker: that many NUL-terminated ids */
#define CTL_BODY_MAX (9 + CTL_REASON_MAX)
#define CTL_NONCE_BYTES 8
#define CTL_REDIS_MAX (CTL_NONCE_BYTES + 1 + CTL_SUBJECT_MAX + CTL_BODY_MAX)
#define CTL_REDIS_SUFFIX " control" /* a space: never part of a topic's channel */
#define CTL_REDIS_REPLY " reply "   /* + a node id in hex: that node's answers */
#define CTL_CLUSTER_TIMEOUT_MS 2000 /* docs/auth.md: a cluster presence waits this long */

struct ctl_cmd {                       /* a decoded command; plain copies, owned by the caller */
    uint8_t op;                        /* CTL_OP_* */
    uint8_t flags;                     /* CTL_F_* */
    uint16_t limit;                    /* presence: most users to list (<= CTL_USERS_MAX) */
    uint32_t req_id;                   /* 0: nobody waits for an answer */
    uint8_t subject_len;               /* 1..CTL_SUBJECT_MAX */
    uint8_t reason_len;                /* 0..CTL_REASON_MAX */
    char subject[CTL_SUBJECT_MAX + 1]; /* NUL-terminated */
    char reason[CTL_REASON_MAX + 1];   /* NUL-terminated, valid UTF-8 */
};

/* Ring form: the subject travels as the entry's topic, the rest as its
 * frame bytes. Encodes into out (>= CTL_BODY_MAX bytes); returns the length. */
size_t ctl_body_encode(const struct ctl_cmd *c, uint8_t *out);
/* Decodes a ring entry's subject and body into *c. 0, or WSP_EPROTO for
 * anything malformed (unknown op, lengths, reason not UTF-8 or with a NUL,
 * subject empty or too long). Pure; reads only the given bytes. */
int ctl_decode(const char *subject, size_t subject_len, const uint8_t *body, size_t len,
               struct ctl_cmd *c);

/* Redis form: nonce (the sending node), subject length, subject, body.
 * ctl_redis_encode returns the length written into out (>= CTL_REDIS_MAX).
 * ctl_redis_decode: 0 or WSP_EPROTO, as ctl_decode; nonce gets the
 * sender's nonce. */
size_t ctl_redis_encode(const struct ctl_cmd *c, const uint8_t nonce[CTL_NONCE_BYTES],
                        uint8_t *out);
int ctl_redis_decode(const uint8_t *p, size_t n, uint8_t nonce[CTL_NONCE_BYTES], struct ctl_cmd *c);

/* A node's answer to another node's presence request, on the asker's reply
 * channel: node id (the answerer) | req_id u32 LE (the asker's) |
 * subscribers u64 LE | flags u8 (CTL_ANS_*) | nusers u16 LE | nusers user
 * ids, each 1-127 bytes and NUL-terminated. */
#define CTL_ANS_TRUNCATED 0x1   /* the answerer had more users than listed */
#define CTL_ANS_PRESENCE_ON 0x2 /* the answerer runs with --presence on */
#define CTL_ANS_PARTIAL 0x4     /* not every worker of the answerer answered */
#define CTL_ANS_PATTERN                                                                            \
    0x8 /* the answerer also gets the control channel through its                                  \
         * pattern (pattern mode): Redis counted it twice */
#define CTL_ANS_HEAD (CTL_NONCE_BYTES + 4 + 8 + 1 + 2)
#define CTL_ANS_MAX (CTL_ANS_HEAD + CTL_USERS_MAX * CTL_SUBJECT_MAX)

struct ctl_answer { /* decoded; users points into the input */
    uint8_t node[CTL_NONCE_BYTES];
    uint32_t req_id;
    uint64_t subscribers;
    uint8_t flags;
    uint16_t nusers;   /* <= CTL_USERS_MAX */
    const char *users; /* nusers NUL-terminated ids, back to back */
};

/* Encodes a's head and the users into out (>= CTL_ANS_MAX bytes); returns
 * the length. a->users holds a->nusers valid ids (as above). */
size_t ctl_answer_encode(const struct ctl_answer *a, uint8_t *out);
/* 0, or WSP_EPROTO when p is not exactly one well-formed answer (an empty
 * or over-long id, a missing NUL, trailing bytes, too many users). Pure. */
int ctl_answer_decode(const uint8_t *p, size_t n, struct ctl_answer *a);

struct ctl_reply {               /* one per worker, MAP_SHARED; written by that worker only */
    uint64_t start_seq;          /* ring head when this worker's reader started: it never
                                  * sees entries up to it */
    uint32_t req_id;             /* the request answered last; stored last (release) */
    uint32_t count;              /* disconnect: connections closed; presence: distinct users */
    uint32_t nusers;             /* presence: names in users[] */
    uint32_t used;               /* presence: bytes used in users[] */
    uint8_t truncated;           /* presence: more distinct users than listed */
    char users[CTL_REPLY_BYTES]; /* nusers NUL-terminated user ids */
} __attribute__((aligned(64)));

struct ctl_shared {
    unsigned nworkers;
    int ack_fd;           /* eventfd: a worker wrote an answer */
    struct ctl_reply r[]; /* [nworkers] */
};

/* Master, before fork: maps the area and makes the eventfd; also remembered
 * as this process's (and its children's) area, ctl_shared_get(). NULL on
 * failure. */
struct ctl_shared *ctl_shared_new(unsigned nworkers);
void ctl_shared_free(struct ctl_shared *s);
struct ctl_shared *ctl_shared_get(void);

/* Worker: publishes r's answer to request id (stores req_id last) and rings
 * the master. */
void ctl_reply_publish(struct ctl_shared *s, unsigned worker, uint32_t id);

#endif
