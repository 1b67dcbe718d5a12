/* control_worker.c - a worker carrying out control commands read from the
 * ring (control.h), in order with the messages around them.
 *
 * Disconnect: closes the user's connections on this worker (the auth side
 * table keeps each user's connections, so this costs O(those)). Presence:
 * walks the topic's local subscribers once and lists each user the first
 * time it is seen (a per-user mark, no allocation). Neither touches the
 * fan-out path. The answer, when one is wanted, goes to this worker's block
 * of the shared answer area. */
#include "server/control_worker.h"

#include <string.h>

#include "server/auth_conn.h"
#include "server/control.h"
#include "server/server_int.h"

static void disconnect(struct worker *w, const struct ctl_cmd *c, struct ctl_reply *r)
{
    uint16_t code = (c->flags & CTL_F_RECONNECT) ? CTL_CLOSE_RECONNECT : CTL_CLOSE_NO_RECONNECT;
    const char *reason = c->reason_len ? c->reason : "disconnected by the application";
    uint32_t n = auth_conn_close_user(w, c->subject, c->subject_len, code, reason);
    w->st->api_disconnects += n;
    if (r)
        r->count = n;
}

static void presence(struct worker *w, const struct ctl_cmd *c, struct ctl_reply *r)
{
    static uint32_t query;
    if (++query == 0)
        query = 1; /* 0 is every user's initial mark */
    r->count = r->nusers = r->used = 0;
    r->truncated = 0;
    struct topic *t = topic_find(w->topics, c->subject, c->subject_len, 0);
    for (uint32_t i = 0; t && i < t->count; i++) {
        const struct conn *cn = t->members[i].owner;
        size_t len;
        const char *u = auth_conn_user_once(cn, query, &len);
        if (!u)
            continue;
        r->count++;
        if (r->nusers >= c->limit || r->used + len + 1 > sizeof r->users) {
            r->truncated = 1;
            continue;
        }
        memcpy(r->users + r->used, u, len + 1);
        r->used += (uint32_t)len + 1;
        r->nusers++;
    }
}

void control_worker_run(struct worker *w, const struct ctl_cmd *c)
{
    struct ctl_shared *s = ctl_shared_get();
    struct ctl_reply *r = s && c->req_id ? &s->r[w->id] : NULL;
    if (c->op == CTL_OP_DISCONNECT)
        disconnect(w, c, r);
    else if (c->op == CTL_OP_PRESENCE && r)
        presence(w, c, r);
    if (r)
        ctl_reply_publish(s, w->id, c->req_id);
}

void control_worker_start(struct worker *w, uint64_t head_seq)
{
    struct ctl_shared *s = ctl_shared_get();
    if (s)
        __atomic_store_n(&s->r[w->id].start_seq, head_seq, __ATOMIC_RELEASE);
}
