/* msgid.h - message ids "<epoch>-<seq>": format, parse, per-topic counters.
 *
 * seq counts the publishes of one topic (1, 2, ...); epoch names the
 * lifetime of a node's ids and history (random at start, never 0), so two
 * ids compare only when their epochs are equal. Both are decimal, epoch
 * below 2^53 so JavaScript numbers hold it exactly (clients should treat
 * the id as an opaque string anyway). The counters are the master's: one
 * writer, no sharing. */
#ifndef WSP_PUBSUB_MSGID_H
#define WSP_PUBSUB_MSGID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSGID_EPOCH_MAX ((1ull << 53) - 1)
#define MSGID_MAX_LEN 40 /* 16 + 1 + 20 digits, and the NUL */

struct msgid {
    uint64_t epoch; /* 1..MSGID_EPOCH_MAX */
    uint64_t seq;   /* 0 = "before the first message" */
};

/* Writes "<epoch>-<seq>" and a NUL into out (cap >= MSGID_MAX_LEN).
 * Returns the length without the NUL. */
size_t msgid_format(char *out, size_t cap, uint64_t epoch, uint64_t seq);

/* Parses exactly "<epoch>-<seq>" (decimal, no sign, no leading zeros
 * except "0" itself for seq, epoch 1..MSGID_EPOCH_MAX, seq < 2^63).
 * 0 or WSP_EPROTO. */
int msgid_parse(const char *s, size_t n, struct msgid *out);

/* A `since` query value: "<id>" or "<topic>:<id>" (the id is after the last
 * ':', a topic may hold ':' itself). 0 with *topic NULL / *topic_len 0 when
 * no topic is named, or WSP_EPROTO. *topic points into s. */
int msgid_since_parse(const char *s, size_t n, const char **topic, size_t *topic_len,
                      struct msgid *id);

/* A fresh random epoch, 1..MSGID_EPOCH_MAX (getrandom; a clock-based value
 * if that fails). */
uint64_t msgid_epoch_new(void);

/* This process tree's epoch. Without --redis it is set once by the master
 * before it forks. With ids from Redis it changes at run time (a flushed or
 * restarted Redis): the master calls msgid_epoch_share() before it forks,
 * and from then on msgid_epoch_set() (master only) is seen by every worker
 * (one word of shared memory, release/acquire). msgid_epoch() is a load. */
int msgid_epoch_share(void); /* 0 or -errno; once, before fork */
void msgid_epoch_set(uint64_t epoch);
uint64_t msgid_epoch(void);

/* Per-topic sequence counters, keyed by the topic key (msg_topic_key).
 * Open addressing, doubles when 3/4 full; 16 bytes per topic ever
 * published. Owned by the master. */
struct msgid_counters;
struct msgid_counters *msgid_counters_new(void);
void msgid_counters_free(struct msgid_counters *c);
/* The next seq of the topic (>= 1), or 0 when out of memory. */
uint64_t msgid_counters_next(struct msgid_counters *c, uint64_t key);
/* The last seq handed out for the topic, 0 if none. */
uint64_t msgid_counters_last(const struct msgid_counters *c, uint64_t key);
size_t msgid_counters_count(const struct msgid_counters *c);

#endif
