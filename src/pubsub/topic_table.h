/* topic_table.h - the node's shared table of per-topic subscriber counts,
 * one column per worker: the master answers "subscribers_notified" and
 * GET /topics from it without asking the workers, and follows the Redis
 * channels of the topics it lists (server/redis_link.c).
 *
 * Owned by the master: made before the first fork in MAP_SHARED memory
 * (the workers find it through shared_stats.topics, mapped at the same
 * address in every process), freed by the master at exit; the master also
 * resets a dead worker's column. Each worker writes only its own column.
 *
 * TOPIC_TABLE_SLOTS slots placed by the topic's keyed hash (msg_topic_key),
 * linear probing within a window of TOPIC_TABLE_WINDOW, then
 * TOPIC_TABLE_OVERFLOW slots scanned in order for topics whose window is
 * full; a topic that fits nowhere is counted per worker as uncounted. A
 * slot is taken when a worker gets its first local subscriber of the topic
 * and freed (a tombstone, so probing stays right for every process) when
 * no worker counts it and the master does not hold it. Taking, freeing,
 * holding and a dead worker's reset happen under one process-shared robust
 * mutex; a worker's +-1 on a slot it already counts in, and every read,
 * are lock-free. */
#ifndef WSP_PUBSUB_TOPIC_TABLE_H
#define WSP_PUBSUB_TOPIC_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOPIC_TABLE_SLOTS 4096  /* hashed slots, a power of two */
#define TOPIC_TABLE_WINDOW 64   /* probes from a topic's home slot */
#define TOPIC_TABLE_OVERFLOW 64 /* then these, after the hashed ones, in order */
#define TOPIC_TABLE_ALL (TOPIC_TABLE_SLOTS + TOPIC_TABLE_OVERFLOW)
#define TOPIC_TABLE_MAX_WORKERS 256

#define TOPIC_NAME_MAX 128

#define TOPIC_KEY_EMPTY 0u /* never used: a probe stops here */
#define TOPIC_KEY_FREED 1u /* a tombstone: reusable, a probe goes on */

struct topic_table;

/* Maps the table for nworkers (1..TOPIC_TABLE_MAX_WORKERS) columns, before
 * fork. NULL on failure. topic_table_free(NULL) is a no-op. */
struct topic_table *topic_table_new(unsigned nworkers);
void topic_table_free(struct topic_table *t);

/* Worker side. The worker's first local subscriber of topic key/name
 * (1 <= n <= TOPIC_NAME_MAX): finds or takes the topic's slot and counts 1
 * there. Returns the slot, which the worker keeps with its topic, or -1
 * when the table has no room for this topic (then it is counted as
 * uncounted for this worker instead). */
long topic_table_join(struct topic_table *t, unsigned worker, uint64_t key, const char *name,
                      size_t n);
/* One more (+1) or one fewer (-1) local subscriber, not the first or the
 * last, on the slot topic_table_join returned (-1: no-op). Lock-free. */
void topic_table_add(struct topic_table *t, unsigned worker, long slot, int delta);
/* The worker's last local subscriber of the topic in slot (or -1) left. */
void topic_table_leave(struct topic_table *t, unsigned worker, long slot);

/* Master side, once a worker is dead and before its successor starts: its
 * column and its uncounted topics go to 0, and slots nobody counts are
 * freed. */
void topic_table_reset_worker(struct topic_table *t, unsigned worker);
/* Master side: keep slot i from being freed (its name and key stay) while
 * the master follows the topic. False if slot i no longer holds key. */
bool topic_table_hold(struct topic_table *t, size_t i, uint64_t key);
/* Master side: let slot i go; freed now if nobody counts it. */
void topic_table_release(struct topic_table *t, size_t i);
/* Master side: topics some worker could not count. */
uint64_t topic_table_uncounted(const struct topic_table *t);
/* Master side: slot i (< TOPIC_TABLE_ALL). False for a free slot or one
 * whose name is not written yet; else its key, name (in shared memory,
 * stable while held) and subscriber sum. */
bool topic_table_slot_read(const struct topic_table *t, size_t i, uint64_t *key, const char **name,
                           size_t *name_len, uint64_t *subscribers);
/* The slot index holding key, or -1. */
long topic_table_slot_index(const struct topic_table *t, uint64_t key);
/* Master side: sum over workers, 0 if unknown. */
uint64_t topic_table_subscribers(const struct topic_table *t, uint64_t key);

#endif
