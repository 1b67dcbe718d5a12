/* master.h - the master process: supervises workers, owns the ring, the
 * ticker and the admin port.
 *
 * The master is the ring's only writer. A publish (admin HTTP, ticker) is
 * encoded into one WebSocket frame once, appended to the ring, and every
 * worker is woken through its eventfd. */
#ifndef WSP_SERVER_MASTER_H
#define WSP_SERVER_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "metrics/metrics.h"

struct master;

enum pub_source { PUB_HTTP = 0, PUB_TICK, PUB_REDIS, PUB_SOURCES };

/* Runs `wspush serve` with a parsed configuration. Returns the exit code. */
int master_run(struct wsp_config *cfg);

/* Encodes payload as one frame (binary or text), appends it to the ring and
 * wakes the workers. topic NULL/0-length = broadcast. Returns the sequence
 * number (>= 1) or WSP_ETOOBIG. *subscribers gets the count known now. */
int64_t master_publish(struct master *m, bool binary, const char *topic, size_t topic_len,
                       const uint8_t *payload, size_t n, enum pub_source src,
                       uint64_t *subscribers);

/* Ids from Redis: on with --redis and history (docs/history.md), decided
 * before the Redis link starts. Then the node assigns no ids itself:
 * master_publish() publishes without an id (the ticker, foreign channel
 * messages), and only master_publish_id() gives one. */
struct msgid;
bool master_redis_ids(const struct master *m);
/* Makes epoch the node's: if it differs, clears history first. True when it
 * changed. */
bool master_epoch_adopt(struct master *m, uint64_t epoch);
uint64_t master_epoch_changes(const struct master *m);
/* A message with the id Redis gave it: adopts id->epoch, and publishes as
 * master_publish() unless history already holds id->seq of the topic (it
 * was loaded from the stream: 0, nothing done). topic_len > 0. */
int64_t master_publish_id(struct master *m, bool binary, const char *topic, size_t topic_len,
                          const uint8_t *payload, size_t n, const struct msgid *id);
/* A message read from the topic's stream: into history only (not the live
 * ring), if its epoch is the node's and it is newer than what history has.
 * 0, WSP_EINVAL (another epoch, no history) or history_append's error. */
int master_history_load(struct master *m, const char *topic, size_t topic_len,
                        const struct msgid *id, bool binary, const uint8_t *payload, size_t n,
                        uint64_t publish_ns);

/* Appends control command c (control.h) to the ring, in order after every
 * message published before, and wakes the workers. Returns its sequence
 * number (>= 1) or < 0. */
struct ctl_cmd;
struct ctl_shared;
int64_t master_control(struct master *m, const struct ctl_cmd *c);
/* The workers' answer area; whether worker slot i runs now; the slot count. */
struct ctl_shared *master_ctl_shared(const struct master *m);
bool master_worker_alive(const struct master *m, unsigned i);
unsigned master_workers(const struct master *m);

/* A master without workers, sockets or signals, for tests and fuzzing of
 * the admin port: publishes go to its ring and are counted, nothing else.
 * NULL on failure. master_free_standalone(NULL) is a no-op. */
struct master *master_new_standalone(struct wsp_config *cfg);
void master_free_standalone(struct master *m);

/* Read access for the admin port. */
struct shared_stats *master_stats(const struct master *m);
const struct wsp_config *master_config(const struct master *m);
struct ring *master_ring(const struct master *m);
uint64_t master_uptime_ms(const struct master *m);
uint64_t master_published(const struct master *m, enum pub_source src);
/* NULL when history is off. */
struct history *master_history(const struct master *m);
/* The topic's last seq (0: none since start), for ids on the admin port. */
uint64_t master_topic_last_seq(const struct master *m, uint64_t key);

#endif
