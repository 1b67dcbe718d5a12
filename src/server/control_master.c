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
 * by its request id alone. Commands from other nodes carry req_id 0 and are
 * carried out without answers, whenever they arrive. */
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
#include "server/master.h"
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

struct control_master {
    struct master *m;
    struct ev_loop *loop;
    struct ctl_shared *sh;
    struct redis_link *rl; /* NULL without --redis */
    struct ev_handler ack_h;
    int timer_id;
    uint8_t nonce[CTL_NONCE_BYTES]; /* this node, in its Redis commands */
    uint32_t next_id;
    struct ctl_req *head, *tail; /* head: the one sent, once sent */
};

static void start(struct control_master *cm);

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
    unsigned nw = master_workers(cm->m);
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
        for (unsigned i = 0; i < master_workers(cm->m) && all; i++) {
            const struct ctl_reply *r = &cm->sh->r[i];
            all = !master_worker_alive(cm->m, i) ||
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
            if (redis_link_control(cm->rl, buf, n) < 0)
                finish(cm, false, WSP_EAGAIN);
            return;
        }
        int64_t seq = master_control(cm->m, &q->cmd);
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
    if (ctl_redis_decode(p, n, nonce, &c) < 0 || c.op != CTL_OP_DISCONNECT) {
        log_ratelimited(WSP_LOG_WARN, "redis: malformed control message (%zu bytes) ignored", n);
        return;
    }
    struct ctl_req *q = cm->head;
    bool ours = q && q->sent && !q->seq && q->cmd.req_id == c.req_id &&
                !memcmp(nonce, cm->nonce, sizeof nonce);
    if (!ours)
        c.req_id = 0; /* another node's, or ours answered already: no answers */
    int64_t seq = master_control(cm->m, &c);
    if (!ours)
        return;
    if (seq < 0) {
        finish(cm, false, 0);
        return;
    }
    q->seq = (uint64_t)seq;
    check(cm);
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
}

struct control_master *control_master_new(struct master *m, struct ev_loop *loop)
{
    struct ctl_shared *sh = master_ctl_shared(m);
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
    cm->rl = master_redis_link(m);
    if (cm->rl)
        redis_link_set_control_cb(cm->rl, on_redis, cm);
    return cm;
}

void control_master_free(struct control_master *cm)
{
    if (!cm)
        return;
    if (cm->rl)
        redis_link_set_control_cb(cm->rl, NULL, NULL);
    ev_timer_del(cm->loop, cm->timer_id);
    ev_del(cm->loop, cm->sh->ack_fd);
    while (cm->head) {
        struct ctl_req *q = cm->head;
        cm->head = q->next;
        free(q);
    }
    free(cm);
}

int control_master_submit(struct control_master *cm, const struct ctl_cmd *c, ctl_done_cb cb,
                          void *ctx)
{
    if (cm->rl && c->op == CTL_OP_DISCONNECT) {
        struct redis_link_stats st;
        redis_link_get_stats(cm->rl, &st);
        if (!st.ready)
            return WSP_EAGAIN;
    }
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

void control_master_cancel(struct control_master *cm, void *ctx)
{
    for (struct ctl_req *q = cm->head; q; q = q->next)
        if (q->ctx == ctx)
            q->ctx = NULL;
}
