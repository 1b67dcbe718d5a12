/* admin_ctl.c - the admin port's connection control routes (docs/auth.md):
 * POST /disconnect, GET /topics, GET /presence/<topic>.
 *
 * What it does: validates the request, reads the shared topic table
 * (topics, subscriber counts), hands commands to control_master and renders
 * the JSON answers (strings through core/json.c). What it does not: reach
 * workers or Redis itself. Every answer is bounded: at most
 * ADMIN_CTL_LIMIT_MAX topics or users per page. */
#define WSP_LOG_SUB WSP_SUB_ADMIN /* core/log.h: this file's log lines */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "pubsub/msg.h"
#include "pubsub/topic_table.h"
#include "server/admin_int.h"
#include "server/control.h"
#include "server/control_master.h"
#include "server/node.h"
#include "server/redis_link.h"

#define ADMIN_CTL_LIMIT_DEFAULT 100
#define ADMIN_CTL_LIMIT_MAX CTL_USERS_MAX

/* ?name=N (decimal, <= max). 1 found, 0 absent, -1 malformed. */
static int query_uint(const struct http_req *r, const char *name, uint64_t max, uint64_t *v)
{
    size_t pos = 0, kl, vl;
    const char *k, *val;
    while (http_query_next(r->query, r->query_len, &pos, &k, &kl, &val, &vl) > 0) {
        if (kl != strlen(name) || memcmp(k, name, kl) != 0)
            continue;
        if (!val || vl == 0 || vl > 10)
            return -1;
        uint64_t x = 0;
        for (size_t i = 0; i < vl; i++) {
            if (val[i] < '0' || val[i] > '9')
                return -1;
            x = x * 10 + (uint64_t)(val[i] - '0');
        }
        if (x > max)
            return -1;
        *v = x;
        return 1;
    }
    return 0;
}

static int limit_of(const struct http_req *r, uint64_t *limit)
{
    *limit = ADMIN_CTL_LIMIT_DEFAULT;
    int q = query_uint(r, "limit", ADMIN_CTL_LIMIT_MAX, limit);
    return q < 0 || *limit == 0 ? -1 : 0;
}

/* GET /topics?limit=&cursor=: the shared table's slots from cursor on.
 * A cursor is a slot index, so pages stay cheap and stable; a topic created
 * or gone between two pages may be missed or listed twice. */
static void topics(const struct admin_ctl_env *e, struct admin_conn *c, const struct http_req *r,
                   bool keep)
{
    uint64_t limit, cursor = 0;
    if (limit_of(r, &limit) < 0 || query_uint(r, "cursor", TOPIC_TABLE_ALL, &cursor) < 0) {
        e->reply->error(c, 400, "limit must be 1-1000, cursor a number from next_cursor", keep,
                        NULL);
        return;
    }
    const struct topic_table *topics = e->node->topics;
    struct strbuf o;
    strbuf_init(&o, e->scratch, e->scratch_cap);
    strbuf_printf(&o, "{\"topics\":[");
    uint64_t listed = 0;
    size_t i = (size_t)cursor;
    for (; i < TOPIC_TABLE_ALL && listed < limit; i++) {
        uint64_t key, subs;
        const char *name;
        size_t nl;
        if (!topic_table_slot_read(topics, i, &key, &name, &nl, &subs) || !subs)
            continue;
        strbuf_printf(&o, "%s{\"topic\":", listed ? "," : "");
        strbuf_json_str(&o, name, nl);
        strbuf_printf(&o, ",\"subscribers\":%llu}", (unsigned long long)subs);
        listed++;
    }
    /* more only if a later slot is in use: the last page says null */
    bool more = false;
    for (size_t j = i; j < TOPIC_TABLE_ALL && !more; j++) {
        uint64_t key, subs;
        const char *name;
        size_t nl;
        more = topic_table_slot_read(topics, j, &key, &name, &nl, &subs) && subs;
    }
    if (more)
        strbuf_printf(&o, "],\"next_cursor\":\"%zu\"", i);
    else
        strbuf_printf(&o, "],\"next_cursor\":null");
    strbuf_printf(&o, ",\"uncounted_topics\":%llu,\"scope\":\"node\"}\n",
                  (unsigned long long)topic_table_uncounted(topics));
    e->reply->json(c, 200, o.p, o.len, keep);
}

static const char redis_down[] = "{\"error\":\"redis unreachable: nobody was disconnected\"}\n";
static const char redis_down_presence[] =
    "{\"error\":\"redis unreachable: no cluster presence\"}\n";

static void answer_redis_down(const struct admin_ctl_env *e, struct admin_conn *c,
                              const struct ctl_cmd *cmd)
{
    if (cmd->op == CTL_OP_PRESENCE)
        e->reply->answer(c, 503, redis_down_presence, sizeof redis_down_presence - 1);
    else
        e->reply->answer(c, 503, redis_down, sizeof redis_down - 1);
}
static const char no_memory[] = "{\"error\":\"out of memory\"}\n";

static void on_done(void *ctx, const struct ctl_result *res)
{
    struct admin_conn *c = ctx;
    const struct admin_ctl_env *e = admin_conn_env(c);
    const struct ctl_cmd *cmd = res->cmd;
    if (res->err == WSP_EAGAIN) {
        answer_redis_down(e, c, cmd);
        return;
    }
    if (res->err) {
        static const char failed[] = "{\"error\":\"control command failed\"}\n";
        e->reply->answer(c, 500, failed, sizeof failed - 1);
        return;
    }
    /* rendered into the admin port's scratch: free between answers, and
     * room for the longest list (1000 ids of <= 127 bytes, escaped) */
    struct strbuf o;
    strbuf_init(&o, e->scratch, e->scratch_cap);
    if (cmd->op == CTL_OP_DISCONNECT) {
        strbuf_printf(&o, "{\"user\":");
        strbuf_json_str(&o, cmd->subject, cmd->subject_len);
        strbuf_printf(&o,
                      ",\"disconnected\":%llu,\"code\":%d,\"scope\":\"node\",\"complete\":%s%s}\n",
                      (unsigned long long)res->count,
                      (cmd->flags & CTL_F_RECONNECT) ? CTL_CLOSE_RECONNECT : CTL_CLOSE_NO_RECONNECT,
                      res->complete ? "true" : "false", res->via_redis ? ",\"via\":\"redis\"" : "");
    } else {
        /* node: the count from the shared table, read now, with the users;
         * cluster: every answering node's, summed */
        uint64_t subs =
            res->cluster ? res->subscribers
                         : topic_table_subscribers(e->node->topics,
                                                   msg_topic_key(cmd->subject, cmd->subject_len));
        strbuf_printf(&o, "{\"topic\":");
        strbuf_json_str(&o, cmd->subject, cmd->subject_len);
        strbuf_printf(&o, ",\"subscribers\":%llu,\"users\":", (unsigned long long)subs);
        if (!e->node->cfg->presence) {
            strbuf_printf(&o,
                          "null,\"presence\":\"off\",\"complete\":%s,\"scope\":\"cluster\","
                          "\"nodes\":%u}\n",
                          res->complete ? "true" : "false", res->nodes);
            e->reply->answer(c, 200, o.p, o.len);
            return;
        }
        strbuf_printf(&o, "[");
        for (size_t i = 0; i < res->nusers; i++) {
            if (i)
                strbuf_printf(&o, ",");
            strbuf_json_str(&o, res->users[i], strlen(res->users[i]));
        }
        strbuf_printf(&o, "],\"users_truncated\":%s,\"complete\":%s,\"scope\":\"%s\"",
                      res->truncated ? "true" : "false", res->complete ? "true" : "false",
                      res->cluster ? "cluster" : "node");
        if (res->cluster)
            strbuf_printf(&o, ",\"nodes\":%u", res->nodes);
        strbuf_printf(&o, "}\n");
    }
    e->reply->answer(c, 200, o.p, o.len);
}

static void submit(const struct admin_ctl_env *e, struct admin_conn *c, const struct ctl_cmd *cmd,
                   bool keep)
{
    struct control_master *cm = e->ctl;
    if (!cm) {
        e->reply->error(c, 503, "control unavailable (out of memory at start)", keep, NULL);
        return;
    }
    e->reply->wait(c, keep);
    int rc = control_master_submit(cm, cmd, on_done, c);
    if (rc == WSP_EAGAIN)
        answer_redis_down(e, c, cmd);
    else if (rc < 0)
        e->reply->answer(c, 500, no_memory, sizeof no_memory - 1);
}

/* GET /presence/<topic>?limit=: the subscriber count (shared table, no
 * round trip) and, with --presence on, the distinct users (asks the
 * workers through the ring). With --redis: every node's, through Redis. */
static void presence(const struct admin_ctl_env *e, struct admin_conn *c, const struct http_req *r,
                     const char *topic, size_t tl, bool keep)
{
    uint64_t limit;
    if (!http_topic_valid(topic, tl, TOPIC_NAME_MAX) || limit_of(r, &limit) < 0) {
        e->reply->error(c, 400, "bad topic name or limit (1-1000)", keep, NULL);
        return;
    }
    struct node *m = e->node;
    if (!m->cfg->presence && !m->redis) {
        struct strbuf o;
        strbuf_init(&o, e->scratch, e->scratch_cap);
        strbuf_printf(&o, "{\"topic\":");
        strbuf_json_str(&o, topic, tl);
        strbuf_printf(
            &o, ",\"subscribers\":%llu,\"users\":null,\"presence\":\"off\",\"scope\":\"node\"}\n",
            (unsigned long long)topic_table_subscribers(m->topics, msg_topic_key(topic, tl)));
        e->reply->json(c, 200, o.p, o.len, keep);
        return;
    }
    struct ctl_cmd cmd = {
        .op = CTL_OP_PRESENCE, .limit = (uint16_t)limit, .subject_len = (uint8_t)tl};
    memcpy(cmd.subject, topic, tl);
    submit(e, c, &cmd, keep);
}

/* POST /disconnect {"user":"alice","reconnect":false,"reason":"..."} */
static void disconnect(const struct admin_ctl_env *e, struct admin_conn *c, const uint8_t *body,
                       size_t blen, bool keep)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)body, blen, JSON_REJECT_DUPLICATES, &jerr);
    const char *why = NULL;
    json_t *user = j ? json_object_get(j, "user") : NULL;
    json_t *rec = j ? json_object_get(j, "reconnect") : NULL;
    json_t *reason = j ? json_object_get(j, "reason") : NULL;
    size_t ul = user && json_is_string(user) ? json_string_length(user) : 0;
    if (!json_is_object(j))
        why =
            "body must be a JSON object: {\"user\":\"...\",\"reconnect\":false,\"reason\":\"...\"}";
    else if (!ul || ul >= CTL_SUBJECT_MAX || memchr(json_string_value(user), 0, ul))
        why = "\"user\" must be a string of 1-127 bytes";
    else if (rec && !json_is_boolean(rec))
        why = "\"reconnect\" must be true or false";
    else if (reason && !json_is_string(reason))
        why = "\"reason\" must be a string";
    if (why) {
        json_decref(j);
        e->reply->error(c, 400, why, keep, NULL);
        return;
    }
    struct ctl_cmd cmd = {.op = CTL_OP_DISCONNECT,
                          .subject_len = (uint8_t)ul,
                          .flags = rec && json_is_true(rec) ? CTL_F_RECONNECT : 0};
    memcpy(cmd.subject, json_string_value(user), ul);
    if (reason) {
        /* a close reason holds 123 bytes: cut on a code point boundary,
         * and at a NUL (a C string travels on) */
        const char *s = json_string_value(reason);
        size_t n = strlen(s);
        if (n > CTL_REASON_MAX) {
            n = CTL_REASON_MAX;
            while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80)
                n--;
        }
        memcpy(cmd.reason, s, n);
        cmd.reason_len = (uint8_t)n;
    }
    json_decref(j);
    submit(e, c, &cmd, keep);
}

bool admin_ctl_route(const struct admin_ctl_env *e, struct admin_conn *c, const struct http_req *r,
                     const char *path, size_t path_len, const uint8_t *body, size_t blen, bool keep)
{
    bool get = http_str_ieq(r->method, r->method_len, "GET");
    bool post = http_str_ieq(r->method, r->method_len, "POST");
    if (!strcmp(path, "/disconnect")) {
        if (!post)
            e->reply->error(c, 405, "use POST", keep, "Allow: POST\r\n");
        else
            disconnect(e, c, body, blen, keep);
        return true;
    }
    if (!strcmp(path, "/topics")) {
        if (!get)
            e->reply->error(c, 405, "use GET", keep, "Allow: GET\r\n");
        else
            topics(e, c, r, keep);
        return true;
    }
    if (path_len >= 10 && !memcmp(path, "/presence/", 10)) {
        if (!get)
            e->reply->error(c, 405, "use GET", keep, "Allow: GET\r\n");
        else
            presence(e, c, r, path + 10, path_len - 10, keep);
        return true;
    }
    return false;
}
