/* publish.c - the admin API's publish and its answer (see publish.h).
 *
 * Chooses the path (Redis with --redis, else the master's ring through the
 * node's publish op) and builds the 202 body, the only place it is built.
 * Holds no state. */
#include "server/publish.h"

#include <stdio.h>

#include "core/err.h"
#include "core/json.h"
#include "metrics/metrics.h"
#include "pubsub/msg.h"
#include "pubsub/topic_table.h"
#include "server/node.h"
#include "server/redis_link.h"

uint64_t node_subscribers(const struct node *n, const char *topic, size_t topic_len)
{
    const struct shared_stats *st = n->shared;
    if (topic_len)
        return topic_table_subscribers(n->topics, msg_topic_key(topic, topic_len));
    uint64_t s = 0;
    for (unsigned i = 0; i < st->nworkers; i++)
        s += st->w[i].conns;
    return s;
}

/* The 202 body: {"topic":..,"seq":..,"subscribers_notified":..} and, via
 * Redis, "via":"redis". seq < 0: not known yet (null). The topic (at most
 * 128 bytes, so at most 768 escaped) goes through the one JSON writer: it
 * may hold '"' and '\\'. */
static size_t publish_reply(char *out, size_t cap, const char *topic, size_t tlen, int64_t seq,
                            uint64_t subs, bool via_redis)
{
    size_t n = (size_t)snprintf(out, cap, "{\"topic\":");
    n += json_str_buf(out + n, cap - n, tlen ? topic : NULL, tlen);
    if (n >= cap)
        return cap - 1;
    char seqs[24] = "null";
    if (seq >= 0)
        snprintf(seqs, sizeof seqs, "%lld", (long long)seq);
    int k = snprintf(out + n, cap - n, ",\"seq\":%s,\"subscribers_notified\":%llu%s}\n", seqs,
                     (unsigned long long)subs, via_redis ? ",\"via\":\"redis\"" : "");
    n += k > 0 ? (size_t)k : 0;
    return n < cap ? n : cap - 1;
}

void publish_http(struct node *n, bool binary, const char *topic, size_t tlen,
                  const uint8_t *payload, size_t len, char *out, size_t cap,
                  struct publish_answer *a)
{
    *a = (struct publish_answer){.status = 202};
    int64_t seq = -1;
    uint64_t subs = 0;
    if (n->redis) {
        int rc = redis_link_publish(n->redis, binary, topic ? topic : "", tlen, payload, len);
        if (rc == WSP_EAGAIN) {
            a->status = 503;
            a->error = "redis unreachable: message not published";
            a->extra = "Retry-After: 1\r\n";
            return;
        }
        if (rc < 0) {
            n->shared->publish_rejected++;
            a->status = rc == WSP_ETOOBIG ? 413 : 500;
            a->error = rc == WSP_ETOOBIG ? "message too large" : "out of memory";
            return;
        }
        subs = node_subscribers(n, topic, tlen);
    } else {
        seq = n->ops->publish(n, binary, topic, tlen, payload, len, PUB_HTTP, &subs);
        if (seq < 0) {
            n->shared->publish_rejected++;
            a->status = 413;
            a->error = "message too large";
            return;
        }
    }
    a->len = publish_reply(out, cap, topic, tlen, seq, subs, n->redis != NULL);
}
