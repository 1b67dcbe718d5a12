/* redis_link.h - the master's side of multi-node delivery through Redis.
 *
 * With --redis, admin publishes go to Redis (PUBLISH <prefix><topic>, or
 * <prefix> alone for a broadcast) instead of the local ring, and every node,
 * the publishing one included, delivers what it receives from Redis through
 * the node's publish (node.h): each message reaches each subscriber exactly once.
 * The link subscribes to a topic's channel while the node has subscribers
 * for it (from the workers' shared topic table, scanned every 200 ms, with a
 * 5 s linger after the last one leaves), and to the broadcast channel
 * always. With history on, ids and history come from Redis too
 * (redis_history.h): the node then follows every channel (PSUBSCRIBE
 * <prefix>*) and is ready once it has loaded the streams. It publishes the
 * node's readiness in shared_stats.redis_state for
 * the workers' GET /healthz?ready. Owned by the master; master loop only. */
#ifndef WSP_SERVER_REDIS_LINK_H
#define WSP_SERVER_REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/control.h"
#include "server/node.h"

struct ev_loop;
struct redis_link;

#define REDIS_LINK_SCAN_MS 200
#define REDIS_LINK_LINGER_MS 5000

struct redis_link_stats {
    bool connected;    /* the connection pair is up */
    bool ready;        /* connected and the subscriptions wanted at connect confirmed */
    bool pattern_mode; /* topic table full: PSUBSCRIBE <prefix>* */
    uint64_t reconnects;
    uint64_t messages_in;    /* messages received from Redis */
    uint64_t messages_out;   /* PUBLISH acknowledged by Redis */
    uint64_t publish_errors; /* PUBLISH refused or lost in a disconnect */
    uint64_t rejected_down;  /* publishes answered 503: Redis unreachable */
    uint64_t dropped_in;     /* received but not deliverable (bad channel, too large) */
    uint64_t subscriptions;  /* topic channels subscribed now */
    double rtt_seconds;      /* last PING round trip */
    uint64_t history_loads;  /* ids from Redis: stream loads completed */
    uint64_t history_loaded; /* messages those loads put into history */
    uint64_t history_load_errors;
};

/* Parses n->cfg->redis and starts connecting in the background; n is
 * borrowed (it outlives the link). NULL with *why set on a bad URL or
 * prefix, or out of memory. */
struct redis_link *redis_link_new(struct node *n, struct ev_loop *loop, const char **why);
void redis_link_free(struct redis_link *l);

/* Publishes through Redis. 0 when queued; WSP_EAGAIN when Redis is not
 * reachable (answer 503, counted); WSP_ETOOBIG over --max-message. */
int redis_link_publish(struct redis_link *l, bool binary, const char *topic, size_t topic_len,
                       const uint8_t *payload, size_t n);

/* Control commands between nodes (control.h): published on the control
 * channel, <prefix> + CTL_REDIS_SUFFIX, which every node subscribes to from
 * its connection on (readiness waits for it). 0 when queued, WSP_EAGAIN
 * when Redis is not reachable. With token != 0, ops->on_receivers is told
 * how many subscribers (nodes) Redis handed it to. */
int redis_link_control(struct redis_link *l, const uint8_t *p, size_t n, uint64_t token);
/* Answers to one node: published on that node's reply channel,
 * <prefix> + CTL_REDIS_REPLY + <node id in hex>, which each node
 * subscribes to from its connection on (readiness waits for it too). */
int redis_link_reply(struct redis_link *l, const uint8_t node[CTL_NONCE_BYTES], const uint8_t *p,
                     size_t n);
/* This node's id (random at start), as sent in its control commands. */
void redis_link_node_id(const struct redis_link *l, uint8_t out[CTL_NONCE_BYTES]);

struct redis_link_control_ops {
    /* every message of the control channel, this node's own included, in
     * order with the topic messages; the bytes are valid during the call */
    void (*on_control)(void *ctx, const uint8_t *p, size_t n);
    /* every message of this node's reply channel */
    void (*on_reply)(void *ctx, const uint8_t *p, size_t n);
    /* Redis' answer to redis_link_control(token != 0): receivers, or -1 */
    void (*on_receivers)(void *ctx, uint64_t token, long long receivers);
};
/* ops NULL: no more callbacks. ops is borrowed and must outlive its use. */
void redis_link_set_control_ops(struct redis_link *l, const struct redis_link_control_ops *ops,
                                void *ctx);

void redis_link_get_stats(const struct redis_link *l, struct redis_link_stats *out);

/* In a forked worker: closes the child's copies of the Redis sockets, so
 * that the master closing a connection really ends it. */
void redis_link_after_fork(struct redis_link *l);

#endif
