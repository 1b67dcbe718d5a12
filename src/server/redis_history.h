/* redis_history.h - message ids and history from Redis (docs/history.md).
 *
 * With --redis and history on, a publish runs one Lua script in Redis that
 * takes the cluster's epoch (creating it if Redis lost it), INCRs the
 * topic's seq, XADDs the message to the topic's stream (MAXLEN ~ the
 * history depth) and PUBLISHes it with its id (broker/redis.h: the id
 * envelope). Every node takes the id from what Redis hands back. When the
 * node's subscription is (re)confirmed, it loads the streams into its local
 * history (a blocking side connection, in the master), so a node that
 * (re)starts, or reconnects, serves resumes for what it did not see.
 * Owned by the Redis link (redis_link.c); master loop only. */
#ifndef WSP_SERVER_REDIS_HISTORY_H
#define WSP_SERVER_REDIS_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node;
struct redis_client;
struct redis_history;

/* NULL when out of memory. prefix is --redis-prefix, depth the history's. */
struct redis_history *redis_history_new(struct node *n, const char *prefix, size_t prefix_len,
                                        uint32_t depth);
void redis_history_free(struct redis_history *rh);

/* A new connection pair: loads the script (SCRIPT LOAD, ahead of every
 * publish on the connection) and forgets the last load. */
void redis_history_on_connect(struct redis_history *rh, struct redis_client *c);

/* A publish was refused with err: on NOSCRIPT (the script cache was
 * flushed under a live connection) the script is loaded again before the
 * next publish. */
void redis_history_on_error(struct redis_history *rh, const char *err, size_t len);

/* Publishes through the script. channel is the topic's channel; the
 * payload goes with the envelope header hdr/hl. As redis_client_publish. */
int redis_history_publish(struct redis_history *rh, struct redis_client *c, const char *topic,
                          size_t topic_len, const char *channel, size_t channel_len,
                          const uint8_t *hdr, size_t hl, const uint8_t *payload, size_t n);

/* Blocking: reads the epoch (a new one if Redis restarted or lost it: the
 * master adopts it and clears history) and the last `depth` entries of
 * every topic's stream into the local history. 0, or < 0 with err filled
 * (the caller retries). */
int redis_history_load(struct redis_history *rh, struct redis_client *c, char *err, size_t cap);
bool redis_history_loaded(const struct redis_history *rh);

struct redis_history_stats {
    uint64_t loads;       /* loads completed */
    uint64_t loaded;      /* messages put into history by loads */
    uint64_t load_errors; /* loads that failed (retried) */
};
void redis_history_get_stats(const struct redis_history *rh, struct redis_history_stats *out);

#endif
