/* control_master.h - the master's side of control commands: one request at
 * a time is sent (through Redis to every node when --redis is set, else
 * straight into the ring), the workers' answers are gathered and merged,
 * and the requester is called back. Owned by the admin port; master loop
 * only. Private to src/server/. */
#ifndef WSP_SERVER_CONTROL_MASTER_H
#define WSP_SERVER_CONTROL_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/control.h"

struct node;
struct ev_loop;
struct control_master;

#define CTL_TIMEOUT_MS 3000 /* a request not answered by then is answered as it stands */

struct ctl_result {            /* valid during the callback only */
    const struct ctl_cmd *cmd; /* what was asked */
    int err;                   /* 0, or WSP_EAGAIN: Redis unreachable, nothing was sent */
    bool complete;             /* every worker answered (and Redis echoed the command) */
    bool via_redis;
    uint64_t count;           /* disconnect: closed on this node; presence: see users */
    const char *const *users; /* presence: merged distinct user ids, sorted */
    size_t nusers;
    bool truncated; /* presence: more users than listed */
    /* presence with --redis: merged over every node that answered */
    bool cluster;
    unsigned nodes;       /* nodes that answered in time */
    uint64_t subscribers; /* their subscriber counts, summed */
};

typedef void (*ctl_done_cb)(void *ctx, const struct ctl_result *r);

/* NULL on failure (out of memory, no shared area). Registers with loop and,
 * if the master has one, the Redis link. */
struct control_master *control_master_new(struct node *m, struct ev_loop *loop);
void control_master_free(struct control_master *cm);

/* Queues command c (its req_id is assigned here). cb is called exactly
 * once, from the master loop (possibly before this returns 0), unless
 * control_master_cancel(ctx) comes first. 0, or WSP_EAGAIN at once when --redis is set and Redis is
 * not reachable (then cb is never called), WSP_ENOMEM. With --redis both
 * travel through Redis: a disconnect is carried out by every node; a
 * presence request is answered by every node on this node's reply channel
 * and merged (ctl_result.cluster), complete when as many nodes answered
 * as Redis handed the request to, else answered at CTL_CLUSTER_TIMEOUT_MS. */
int control_master_submit(struct control_master *cm, const struct ctl_cmd *c, ctl_done_cb cb,
                          void *ctx);
/* Forgets every request of ctx (its admin connection went away); a command
 * already sent still takes effect, its answer is dropped. */
void control_master_cancel(struct control_master *cm, void *ctx);

#endif
