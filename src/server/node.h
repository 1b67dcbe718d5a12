/* node.h - what the master hands the services it runs (the admin port,
 * control commands, the Redis link and its history, the metrics): the
 * shared pieces they read, and the narrow publish interface they write
 * through.
 *
 * The services sit below master.c: they never call into it. The master
 * embeds one struct node, fills it at start and passes it to each service
 * at construction; each keeps the pointer (borrowed: the node outlives
 * them). Everything here is used from the master's loop only. */
#ifndef WSP_SERVER_NODE_H
#define WSP_SERVER_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct ctl_cmd;
struct ctl_shared;
struct history;
struct msgid;
struct redis_link;
struct ring;
struct shared_stats;
struct topic_table;
struct node;

enum pub_source { PUB_HTTP = 0, PUB_TICK, PUB_REDIS, PUB_SOURCES };

/* Implemented by the master (master.c). */
struct node_ops {
    /* Encodes payload once, appends it to the ring and wakes the workers.
     * topic NULL/0-length = broadcast. The sequence number (>= 1) or
     * WSP_ETOOBIG. *subscribers (if not NULL) gets the count known now. */
    int64_t (*publish)(struct node *n, bool binary, const char *topic, size_t topic_len,
                       const uint8_t *payload, size_t len, enum pub_source src,
                       uint64_t *subscribers);
    /* A message with the id Redis gave it: adopts id->epoch and publishes
     * as publish() unless history already holds id->seq of the topic (0,
     * nothing done). topic_len > 0. */
    int64_t (*publish_id)(struct node *n, bool binary, const char *topic, size_t topic_len,
                          const uint8_t *payload, size_t len, const struct msgid *id);
    /* A message read from the topic's stream: into history only, if its
     * epoch is the node's and it is newer than what history has. 0,
     * WSP_EINVAL (another epoch, no history) or history_append's error. */
    int (*history_load)(struct node *n, const char *topic, size_t topic_len, const struct msgid *id,
                        bool binary, const uint8_t *payload, size_t len, uint64_t publish_ns);
    /* Makes epoch the node's: if it differs, clears history first (counted
     * in epoch_changes). True when it changed. */
    bool (*epoch_adopt)(struct node *n, uint64_t epoch);
    /* Appends control command c (control.h) to the ring, in order after
     * every message published before, and wakes the workers. Its sequence
     * number (>= 1) or < 0. */
    int64_t (*control)(struct node *n, const struct ctl_cmd *c);
};

/* Owned by the master, which writes every field; the services read them
 * and write only through ops (and the shared counters' master-side
 * fields, such as shared->publish_rejected). */
struct node {
    const struct node_ops *ops;
    struct wsp_config *cfg;      /* changed in place by a SIGHUP reload */
    unsigned nworkers;           /* worker slots; shared->w[i].pid > 0 while slot i runs */
    struct shared_stats *shared; /* the workers' counters */
    struct topic_table *topics;  /* per-topic subscriber counts (pubsub/topic_table.h) */
    struct ring *ring;
    struct history *history;  /* NULL: --history-size 0 and --history-ttl 0 */
    struct ctl_shared *ctl;   /* the workers' answers to control commands */
    struct redis_link *redis; /* NULL without --redis; set once the link exists */
    bool redis_ids;           /* ids and history from Redis (--redis with history) */
    uint64_t started_ms;      /* clock_mono_ms() at start */
    uint64_t published[PUB_SOURCES];
    uint64_t epoch_changes; /* epochs adopted from Redis */
};

/* Subscribers this node knows now: of the topic (topic_len > 0) from the
 * shared topic table, or every connection (a broadcast). */
uint64_t node_subscribers(const struct node *n, const char *topic, size_t topic_len);

#endif
