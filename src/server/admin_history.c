/* admin_history.c - GET /history/<topic> on the admin port (see
 * admin_history.h).
 *
 * Reads the history store as its writer (the master, same thread as every
 * append), so nothing can change under it; still goes through
 * history_peek like any reader. Bounded by `limit` and by the caller's
 * buffer. It does not route or authorise (admin.c does). */
#define WSP_LOG_SUB WSP_SUB_HISTORY /* core/log.h: this file's log lines */
#include "server/admin_history.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "http/http_parse.h"
#include "pubsub/history.h"
#include "server/node.h"
#include "pubsub/msg.h"
#include "pubsub/msgid.h"

struct out {
    char *p;
    size_t cap, len;
    bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->cap - o->len < n + 1) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_json(struct out *o, const char *s, size_t n)
{
    if (o->full)
        return;
    size_t need = json_str_buf(o->p + o->len, o->cap - o->len, s, n);
    if (need >= o->cap - o->len) {
        o->full = true;
        o->p[o->len] = '\0';
        return;
    }
    o->len += need;
}

static void put_id(struct out *o, const char *key, uint64_t seq)
{
    char id[MSGID_MAX_LEN], b[64];
    msgid_format(id, sizeof id, msgid_epoch(), seq);
    snprintf(b, sizeof b, ",\"%s\":\"%s\"", key, id);
    puts_(o, b);
}

static size_t error(struct out *o, int *status, int st, const char *msg)
{
    *status = st;
    o->len = 0;
    o->full = false;
    puts_(o, "{\"error\":");
    put_json(o, msg, strlen(msg));
    puts_(o, "}\n");
    return o->len;
}

size_t admin_history_json(struct node *m, const char *topic, size_t tl, const char *query,
                          size_t ql, char *out, size_t cap, int *status)
{
    /* 32 bytes held back while messages go in: the closing always fits */
    struct out o = {out, cap > 32 ? cap - 32 : 0, 0, false};
    struct history *h = m->history;
    if (!h)
        return error(&o, status, 404, "history is off (--history-size, --history-ttl)");
    uint64_t limit = ADMIN_HISTORY_LIMIT_DEFAULT;
    struct msgid since = {0, 0};
    bool have_since = false;
    size_t pos = 0;
    const char *k, *v;
    size_t kl, vl;
    while (query && http_query_next(query, ql, &pos, &k, &kl, &v, &vl) == 1) {
        char val[64];
        ssize_t dl = v ? http_pct_decode(v, vl, val, sizeof val - 1, true) : -1;
        if (http_str_ieq(k, kl, "since")) {
            if (dl <= 0 || msgid_parse(val, (size_t)dl, &since) < 0)
                return error(&o, status, 400, "bad since (<epoch>-<seq>)");
            have_since = true;
        } else if (http_str_ieq(k, kl, "limit")) {
            char *end;
            if (dl <= 0)
                return error(&o, status, 400, "bad limit");
            val[dl] = '\0';
            unsigned long long n = strtoull(val, &end, 10);
            if (*end || n < 1 || n > ADMIN_HISTORY_LIMIT_MAX)
                return error(&o, status, 400, "limit must be 1..1000");
            limit = n;
        }
    }
    uint64_t key = msg_topic_key(topic, tl);
    uint64_t now = clock_mono_ns();
    uint64_t newest = history_newest(h, key);
    uint64_t oldest = history_oldest(h, key, now);
    uint64_t from = oldest ? oldest : newest + 1;
    const char *gone = NULL;
    if (have_since) {
        /* with ids from Redis, a newer id of this epoch was given by a node
         * quicker than this one: nothing after it here yet (as resume.c) */
        if (since.epoch == msgid_epoch() && since.seq > newest && m->redis_ids)
            from = since.seq + 1;
        else if (since.epoch != msgid_epoch() || since.seq > newest)
            gone = "epoch";
        else if (since.seq + 1 < from)
            gone = "gap";
        else
            from = since.seq + 1;
    }
    *status = gone ? 410 : 200;
    puts_(&o, "{\"topic\":");
    put_json(&o, topic, tl);
    put_id(&o, "newest", newest);
    if (gone) {
        puts_(&o, ",\"reset\":");
        put_json(&o, gone, strlen(gone));
        puts_(&o, "}\n");
        return o.full ? error(&o, status, 500, "answer too large") : o.len;
    }
    puts_(&o, ",\"messages\":[");
    uint64_t n = 0, s = from;
    for (; s <= newest && n < limit; s++) {
        struct history_view hv;
        if (history_peek(h, key, s, now, &hv) != 1)
            continue; /* a message too large for the store: a hole */
        size_t mark = o.len;
        puts_(&o, n ? ",{\"id\":\"" : "{\"id\":\"");
        char id[MSGID_MAX_LEN];
        msgid_format(id, sizeof id, msgid_epoch(), s);
        puts_(&o, id);
        puts_(&o, "\",\"data\":");
        if (hv.binary) {
            size_t need = 4 * ((hv.len + 2) / 3) + 1;
            if (!o.full && o.cap - o.len > need + 2) {
                o.p[o.len++] = '"';
                o.len +=
                    (size_t)EVP_EncodeBlock((unsigned char *)o.p + o.len, hv.data, (int)hv.len);
                puts_(&o, "\",\"encoding\":\"base64\"}");
            } else {
                o.full = true;
            }
        } else {
            put_json(&o, (const char *)hv.data, hv.len);
            puts_(&o, "}");
        }
        if (o.full) { /* this one does not fit: stop before it */
            o.full = false;
            o.len = mark;
            break;
        }
        n++;
    }
    o.cap = cap; /* "],\"more\":false}\n" is under 32 bytes */
    puts_(&o, s <= newest ? "],\"more\":true}\n" : "],\"more\":false}\n");
    return o.full ? error(&o, status, 500, "answer too large") : o.len;
}
