/* control_master.c - control requests in the master (see control_master.h).
 *
 * What it does: queues admin requests, sends the one at the head (a ring
 * entry, or first a Redis message that comes back to every node, this one
 * included, and is turned into a ring entry there), waits until every live
 * worker has answered or can never see the entry, merges the answers.
 * What it does not: parse HTTP or JSON (admin_ctl.c), touch connections
 * (control_worker.c).
 *
 * Invariant: at most one request that wants answers is in the ring at a
 * time, so one answer block per worker suffices and an answer is matched
 * by its request id alone. Disconnects from other nodes carry req_id 0 and
 * are carried out without answers, whenever they arrive.
 *
 * Presence with --redis ("asks", kept apart from the queue so that this
 * node answering itself never waits behind its own ask): the request goes
 * to the control channel; every node, this one included, queues it as a
 * local presence request and sends the merged result to the asker's reply
 * channel. The asker knows how many nodes to wait for from Redis' answer
 * to the PUBLISH (subscribers of the control channel: one per node), sums
 * the counts, merges the user lists as they come (sorted, unique, never
 * more than the limit kept) and answers when all came or at the deadline. */
#define WSP_LOG_SUB WSP_SUB_ADMIN /* core/log.h: this file's log lines */
#include "server/control_master.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ev/loop.h"
#include "metrics/metrics.h"
#include "pubsub/msg.h"
#include "pubsub/topic_table.h"
#include "server/node.h"
#include "server/redis_link.h"

#define CHECK_MS 100

struct ctl_req { /* owned by the queue */
    struct ctl_req *next;
    struct ctl_cmd cmd;
    ctl_done_cb cb;
    void *ctx;            /* NULL once cancelled */
    uint64_t seq;         /* its ring entry; 0 until appended */
    uint64_t deadline_ms; /* once sent */
    bool sent;
    bool via_redis;
};

struct ctl_ask { /* a cluster presence request of this node; owned by cm->asks */
    struct ctl_ask *next;
    struct ctl_cmd cmd; /* req_id: the ask's id, also its PUBLISH token */
    ctl_done_cb cb;
    void *ctx;
    uint64_t deadline_ms;
    long long expected; /* receivers Redis handed the request to; -1 until known */
    unsigned answered;  /* nodes */
    long long received; /* receivers those nodes stand for (2 in pattern mode) */
    uint64_t subscribers;
    bool truncated, partial;
    char **names; /* sorted, unique, <= cmd.limit; each malloc'd */
    size_t nnames;
};

struct remote { /* a node's presence ask (ours included), answered through Redis */
    uint8_t node[CTL_NONCE_BYTES];
    uint32_t req_id;
};

struct control_master {
    struct node *m;
    struct ev_loop *loop;
    struct ctl_shared *sh;
    struct redis_link *rl; /* NULL without --redis */
    struct ev_handler ack_h;
    int timer_id;
    uint8_t nonce[CTL_NONCE_BYTES]; /* this node, in its Redis commands */
    uint32_t next_id;
    struct ctl_req *head, *tail; /* head: the one sent, once sent */
    struct ctl_ask *asks;
    uint32_t next_ask;
};

static void start(struct control_master *cm);
static void remote_presence(struct control_master *cm, const uint8_t node[CTL_NONCE_BYTES],
                            const struct ctl_cmd *c);
/* The master's one control_master, for answer_remote: a request's ctx is
 * then its remote asker, not the control_master. */
static struct control_master *ctl_the_master;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Answers the head request with what the workers said and frees it. */
static void finish(struct control_master *cm, bool complete, int err)
{
    struct ctl_req *q = cm->head;
    cm->head = q->next;
    if (!cm->head)
        cm->tail = NULL;
    struct ctl_result res = {
        .cmd = &q->cmd, .err = err, .complete = complete, .via_redis = q->via_redis};
    const char **names = NULL;
    unsigned nw = cm->m->nworkers;
    if (!err && q->ctx) {
        size_t cap = 0;
        for (unsigned i = 0; i < nw; i++) {
            const struct ctl_reply *r = &cm->sh->r[i];
            if (__atomic_load_n(&r->req_id, __ATOMIC_ACQUIRE) != q->cmd.req_id)
                continue;
            res.count += r->count;
            res.truncated |= r->truncated != 0;
            cap += r->nusers;
        }
        if (q->cmd.op == CTL_OP_PRESENCE) {
            /* the same user may be on several workers: sort, then unique */
            names = cap ? malloc(cap * sizeof *names) : NULL;
            size_t k = 0;
            for (unsigned i = 0; names && i < nw; i++) {
                const struct ctl_reply *r = &cm->sh->r[i];
                if (__atomic_load_n(&r->req_id, __ATOMIC_ACQUIRE) != q->cmd.req_id)
                    continue;
                const char *p = r->users;
                for (uint32_t u = 0; u < r->nusers && k < cap; u++, p += strlen(p) + 1)
                    names[k++] = p;
            }
            if (cap && !names)
                res.truncated = true; /* out of memory: no list, say so */
            if (k)
                qsort(names, k, sizeof *names, cmp_str);
            size_t out = 0;
            for (size_t i = 0; i < k; i++)
                if (!out || strcmp(names[out - 1], names[i]) != 0)
                    names[out++] = names[i];
            if (out > q->cmd.limit) {
                out = q->cmd.limit;
                res.truncated = true;
            }
            res.users = names;
            res.nusers = out;
            res.count = out;
        }
    }
    if (q->ctx)
        q->cb(q->ctx, &res);
    free(names);
    free(q);
    start(cm);
}

/* Has every worker answered the head, or can it never see its entry? */
static void check(struct control_master *cm)
{
    struct ctl_req *q = cm->head;
    if (!q || !q->sent)
        return;
    if (q->seq) {
        bool all = true;
        for (unsigned i = 0; i < cm->m->nworkers && all; i++) {
            const struct ctl_reply *r = &cm->sh->r[i];
            all = cm->m->shared->w[i].pid <= 0 ||
                  __atomic_load_n(&r->req_id, __ATOMIC_ACQUIRE) == q->cmd.req_id ||
                  __atomic_load_n(&r->start_seq, __ATOMIC_ACQUIRE) >= q->seq;
        }
        if (all) {
            finish(cm, true, 0);
            return;
        }
    }
    if (clock_mono_ms() >= q->deadline_ms) {
        log_warn("control: %s for '%s' not answered by every worker%s in %d ms; answering "
                 "with what came",
                 q->cmd.op == CTL_OP_DISCONNECT ? "disconnect" : "presence", q->cmd.subject,
                 q->seq ? "" : " (nor echoed by Redis)", CTL_TIMEOUT_MS);
        finish(cm, false, 0);
    }
}

static void start(struct control_master *cm)
{
    while (cm->head && !cm->head->sent) {
        struct ctl_req *q = cm->head;
        if (!q->ctx && q->cmd.op != CTL_OP_DISCONNECT) { /* nobody waits for it */
            cm->head = q->next;
            if (!cm->head)
                cm->tail = NULL;
            free(q);
            continue;
        }
        if (++cm->next_id == 0)
            cm->next_id = 1;
        q->cmd.req_id = cm->next_id;
        q->sent = true;
        q->deadline_ms = clock_mono_ms() + CTL_TIMEOUT_MS;
        if (cm->rl && q->cmd.op == CTL_OP_DISCONNECT) {
            /* every node, this one included, carries it out when Redis
             * hands it back, behind the messages published before it */
            uint8_t buf[CTL_REDIS_MAX];
            size_t n = ctl_redis_encode(&q->cmd, cm->nonce, buf);
            q->via_redis = true;
            if (redis_link_control(cm->rl, buf, n, 0) < 0)
                finish(cm, false, WSP_EAGAIN);
            return;
        }
        int64_t seq = cm->m->ops->control(cm->m, &q->cmd);
        if (seq < 0) {
            finish(cm, false, (int)seq);
            return;
        }
        q->seq = (uint64_t)seq;
        check(cm);
        return;
    }
}

static void on_redis(void *ctx, const uint8_t *p, size_t n)
{
    struct control_master *cm = ctx;
    uint8_t nonce[CTL_NONCE_BYTES];
    struct ctl_cmd c;
    if (ctl_redis_decode(p, n, nonce, &c) < 0) {
        log_ratelimited(WSP_LOG_WARN, "redis: malformed control message (%zu bytes) ignored", n);
        return;
    }
    if (c.op == CTL_OP_PRESENCE) {
        remote_presence(cm, nonce, &c);
        return;
    }
    struct ctl_req *q = cm->head;
    bool ours = q && q->sent && !q->seq && q->cmd.req_id == c.req_id &&
                !memcmp(nonce, cm->nonce, sizeof nonce);
    if (!ours)
        c.req_id = 0; /* another node's, or ours answered already: no answers */
    int64_t seq = cm->m->ops->control(cm->m, &c);
    if (!ours)
        return;
    if (seq < 0) {
        finish(cm, false, 0);
        return;
    }
    q->seq = (uint64_t)seq;
    check(cm);
}

static void answer_remote(void *ctx, const struct ctl_result *r);

static int enqueue(struct control_master *cm, const struct ctl_cmd *c, ctl_done_cb cb, void *ctx)
{
    struct ctl_req *q = calloc(1, sizeof *q);
    if (!q)
        return WSP_ENOMEM;
    q->cmd = *c;
    q->cb = cb;
    q->ctx = ctx;
    if (cm->tail)
        cm->tail->next = q;
    else
        cm->head = q;
    cm->tail = q;
    start(cm);
    return 0;
}

/* Sends rm's node this node's answer: its count and, from r (NULL with
 * --presence off), its users. */
static void send_answer(struct control_master *cm, const struct remote *rm, const struct ctl_cmd *c,
                        const struct ctl_result *r)
{
    size_t nu = r && r->nusers ? (r->nusers < CTL_USERS_MAX ? r->nusers : CTL_USERS_MAX) : 0;
    uint8_t *buf = malloc(CTL_ANS_MAX);
    char *users = nu ? malloc(nu * CTL_SUBJECT_MAX) : NULL;
    if (!buf || (nu && !users)) {
        free(buf);
        free(users);
        return; /* the asker counts this node as not answered */
    }
    struct ctl_answer a = {.req_id = rm->req_id, .users = users};
    redis_link_node_id(cm->rl, a.node);
    a.subscribers =
        topic_table_subscribers(cm->m->topics, msg_topic_key(c->subject, c->subject_len));
    struct redis_link_stats st;
    redis_link_get_stats(cm->rl, &st);
    if (st.pattern_mode)
        a.flags |= CTL_ANS_PATTERN;
    if (r) {
        a.flags |= CTL_ANS_PRESENCE_ON | (r->truncated ? CTL_ANS_TRUNCATED : 0) |
                   (r->complete ? 0 : CTL_ANS_PARTIAL);
        size_t k = 0;
        for (size_t i = 0; i < nu; i++) {
            size_t len = strlen(r->users[i]) + 1;
            memcpy(users + k, r->users[i], len);
            k += len;
        }
        a.nusers = (uint16_t)nu;
    }
    (void)redis_link_reply(cm->rl, rm->node, buf, ctl_answer_encode(&a, buf));
    free(users);
    free(buf);
}

static void answer_remote(void *ctx, const struct ctl_result *r)
{
    struct remote *rm = ctx;
    if (ctl_the_master && !r->err)
        send_answer(ctl_the_master, rm, r->cmd, r);
    free(rm);
}

/* A presence ask from the control channel (any node's, ours included). */
static void remote_presence(struct control_master *cm, const uint8_t node[CTL_NONCE_BYTES],
                            const struct ctl_cmd *c)
{
    struct remote rm = {.req_id = c->req_id};
    memcpy(rm.node, node, sizeof rm.node);
    if (!cm->m->cfg->presence) { /* counts only: no round trip to the workers */
        send_answer(cm, &rm, c, NULL);
        return;
    }
    struct remote *h = malloc(sizeof *h);
    if (!h)
        return;
    *h = rm;
    struct ctl_cmd q = *c;
    q.req_id = 0;
    if (enqueue(cm, &q, answer_remote, h) < 0)
        free(h);
}

static int cmp_pstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds an answer's users to the ask's set: sorted, unique, cut at the
 * limit (the smallest `limit` of the union survive any order of merges). */
static void ask_merge(struct ctl_ask *k, const struct ctl_answer *a)
{
    char **v = realloc(k->names, (k->nnames + a->nusers + 1) * sizeof *v);
    if (!v) {
        k->truncated = true;
        return;
    }
    k->names = v;
    const char *u = a->users;
    for (uint16_t i = 0; i < a->nusers; i++, u += strlen(u) + 1) {
        char *d = strdup(u);
        if (!d) {
            k->truncated = true;
            break;
        }
        v[k->nnames++] = d;
    }
    if (k->nnames)
        qsort(v, k->nnames, sizeof *v, cmp_pstr);
    size_t out = 0;
    for (size_t i = 0; i < k->nnames; i++) {
        if (out && !strcmp(v[out - 1], v[i])) {
            free(v[i]);
        } else if (out >= k->cmd.limit) {
            free(v[i]);
            k->truncated = true;
        } else {
            v[out++] = v[i];
        }
    }
    k->nnames = out;
}

static void ask_free(struct ctl_ask *k)
{
    for (size_t i = 0; i < k->nnames; i++)
        free(k->names[i]);
    free(k->names);
    free(k);
}

static void ask_finish(struct control_master *cm, struct ctl_ask *k, bool complete)
{
    for (struct ctl_ask **pp = &cm->asks; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    struct ctl_result res = {.cmd = &k->cmd,
                             .complete = complete && !k->partial,
                             .via_redis = true,
                             .cluster = true,
                             .nodes = k->answered,
                             .subscribers = k->subscribers,
                             .users = (const char *const *)k->names,
                             .nusers = k->nnames,
                             .count = k->nnames,
                             .truncated = k->truncated};
    if (k->ctx)
        k->cb(k->ctx, &res);
    ask_free(k);
}

static struct ctl_ask *ask_find(struct control_master *cm, uint32_t id)
{
    for (struct ctl_ask *k = cm->asks; k; k = k->next)
        if (k->cmd.req_id == id)
            return k;
    return NULL;
}

static void ask_check(struct control_master *cm, struct ctl_ask *k)
{
    if (k->expected >= 0 && k->received >= k->expected)
        ask_finish(cm, k, true);
}

static void on_reply(void *ctx, const uint8_t *p, size_t n)
{
    struct control_master *cm = ctx;
    struct ctl_answer a;
    if (ctl_answer_decode(p, n, &a) < 0) {
        log_ratelimited(WSP_LOG_WARN, "redis: malformed presence answer (%zu bytes) ignored", n);
        return;
    }
    struct ctl_ask *k = ask_find(cm, a.req_id);
    if (!k)
        return; /* late: answered at the deadline already */
    k->answered++;
    k->received += (a.flags & CTL_ANS_PATTERN) ? 2 : 1;
    k->subscribers += a.subscribers;
    k->truncated |= (a.flags & CTL_ANS_TRUNCATED) != 0;
    k->partial |= (a.flags & CTL_ANS_PARTIAL) != 0;
    ask_merge(k, &a);
    ask_check(cm, k);
}

static void on_receivers(void *ctx, uint64_t token, long long receivers)
{
    struct control_master *cm = ctx;
    struct ctl_ask *k = ask_find(cm, (uint32_t)token);
    if (!k || receivers < 0)
        return; /* refused or lost: the deadline answers it */
    k->expected = receivers;
    ask_check(cm, k);
}

static void asks_expire(struct control_master *cm)
{
    uint64_t now = clock_mono_ms();
    struct ctl_ask *k = cm->asks;
    while (k) {
        struct ctl_ask *next = k->next;
        if (now >= k->deadline_ms) {
            log_warn("control: presence for '%s': %u nodes answered in %d ms (Redis "
                     "handed the request to %lld)",
                     k->cmd.subject, k->answered, CTL_CLUSTER_TIMEOUT_MS, k->expected);
            ask_finish(cm, k, false);
        }
        k = next;
    }
}

static int ask_submit(struct control_master *cm, const struct ctl_cmd *c, ctl_done_cb cb, void *ctx)
{
    struct ctl_ask *k = calloc(1, sizeof *k);
    if (!k)
        return WSP_ENOMEM;
    k->cmd = *c;
    if (++cm->next_ask == 0)
        cm->next_ask = 1;
    k->cmd.req_id = cm->next_ask;
    k->cb = cb;
    k->ctx = ctx;
    k->expected = -1;
    k->deadline_ms = clock_mono_ms() + CTL_CLUSTER_TIMEOUT_MS;
    uint8_t buf[CTL_REDIS_MAX];
    size_t n = ctl_redis_encode(&k->cmd, cm->nonce, buf);
    int rc = redis_link_control(cm->rl, buf, n, k->cmd.req_id);
    if (rc < 0) {
        free(k);
        return rc;
    }
    k->next = cm->asks;
    cm->asks = k;
    return 0;
}

static void on_ack(struct ev_loop *loop, struct ev_handler *h, uint32_t events)
{
    (void)loop;
    (void)events;
    struct control_master *cm = container_of(h, struct control_master, ack_h);
    uint64_t v;
    ssize_t r = read(cm->sh->ack_fd, &v, sizeof v);
    (void)r;
    check(cm);
}

static void on_timer(struct ev_loop *loop, void *arg)
{
    (void)loop;
    check(arg);
    asks_expire(arg);
}

struct control_master *control_master_new(struct node *m, struct ev_loop *loop)
{
    struct ctl_shared *sh = m->ctl;
    if (!sh)
        return NULL;
    struct control_master *cm = calloc(1, sizeof *cm);
    if (!cm)
        return NULL;
    cm->m = m;
    cm->loop = loop;
    cm->sh = sh;
    cm->ack_h.cb = on_ack;
    if (getrandom(cm->nonce, sizeof cm->nonce, 0) != (ssize_t)sizeof cm->nonce ||
        ev_add(loop, sh->ack_fd, EV_READ, &cm->ack_h) < 0) {
        free(cm);
        return NULL;
    }
    cm->timer_id = ev_timer_add(loop, CHECK_MS, on_timer, cm);
    if (cm->timer_id < 0) {
        ev_del(loop, sh->ack_fd);
        free(cm);
        return NULL;
    }
    cm->rl = m->redis;
    if (cm->rl) {
        static const struct redis_link_control_ops ops = {
            .on_control = on_redis, .on_reply = on_reply, .on_receivers = on_receivers};
        redis_link_node_id(cm->rl, cm->nonce); /* one id per node: its reply channel's */
        redis_link_set_control_ops(cm->rl, &ops, cm);
    }
    ctl_the_master = cm;
    return cm;
}

void control_master_free(struct control_master *cm)
{
    if (!cm)
        return;
    if (cm->rl)
        redis_link_set_control_ops(cm->rl, NULL, NULL);
    if (ctl_the_master == cm)
        ctl_the_master = NULL;
    ev_timer_del(cm->loop, cm->timer_id);
    ev_del(cm->loop, cm->sh->ack_fd);
    while (cm->head) {
        struct ctl_req *q = cm->head;
        cm->head = q->next;
        if (q->cb == answer_remote)
            free(q->ctx);
        free(q);
    }
    while (cm->asks) {
        struct ctl_ask *k = cm->asks;
        cm->asks = k->next;
        ask_free(k);
    }
    free(cm);
}

int control_master_submit(struct control_master *cm, const struct ctl_cmd *c, ctl_done_cb cb,
                          void *ctx)
{
    if (cm->rl) {
        struct redis_link_stats st;
        redis_link_get_stats(cm->rl, &st);
        if (!st.ready)
            return WSP_EAGAIN;
    }
    if (cm->rl && c->op == CTL_OP_PRESENCE)
        return ask_submit(cm, c, cb, ctx);
    return enqueue(cm, c, cb, ctx);
}

void control_master_cancel(struct control_master *cm, void *ctx)
{
    for (struct ctl_req *q = cm->head; q; q = q->next)
        if (q->ctx == ctx)
            q->ctx = NULL;
    for (struct ctl_ask *k = cm->asks; k; k = k->next)
        if (k->ctx == ctx)
            k->ctx = NULL; /* answers still merge; nobody is told */
}
