/* redis_link.c - multi-node delivery through Redis pub/sub (see redis_link.h).
 *
 * What it does: maps topics to channels and back, keeps the node's channel
 * subscriptions in step with the workers' topic table, hands received
 * messages to the node's publish (node.h), and answers "can I publish now?".
 * What it does not: speak to Redis (broker/redis.c) or touch connections.
 *
 * Subscription state per table slot: NONE -> SUBSCRIBING -> SUBSCRIBED ->
 * UNSUBSCRIBING -> NONE, advanced only by Redis' confirmations. A channel is
 * never re-subscribed while its UNSUBSCRIBE is unconfirmed: hiredis keeps one
 * callback per channel and the late unsubscribe confirmation would remove
 * the new subscription's callback, silently dropping its messages.
 *
 * From SUBSCRIBING to the confirmed UNSUBSCRIBE the link holds the slot
 * (topic_table_hold), so the workers cannot free it and give it to
 * another topic while a channel still hangs on it. Topics the table could
 * not count at all are followed with one pattern subscription, only while
 * there are such topics (topic_table_uncounted). */
#define WSP_LOG_SUB WSP_SUB_REDIS /* core/log.h: this file's log lines */
#include "server/redis_link.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker/redis.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ev/loop.h"
#include "http/http_parse.h"
#include "metrics/metrics.h"
#include "pubsub/history.h"
#include "pubsub/msg.h"
#include "pubsub/msgid.h"
#include "pubsub/topic_table.h"
#include "server/control.h"
#include "server/node.h"
#include "server/redis_history.h"

enum sub_state { SUB_NONE = 0, SUB_PENDING, SUB_ACTIVE, SUB_LEAVING };

struct redis_link {
    struct node *m;
    struct ev_loop *loop;
    struct shared_stats *shared; /* redis_state */
    struct topic_table *topics;
    struct redis_client *client;
    struct redis_history *hist; /* ids and history from Redis; NULL: history off */
    char prefix[128];
    size_t prefix_len;
    uint64_t max_message_bytes;
    int timer_id;
    bool ready;      /* published to shared->redis_state */
    uint8_t bcast;   /* enum sub_state of the broadcast channel */
    uint8_t pattern; /* enum sub_state of <prefix>* */
    uint8_t ctl;     /* enum sub_state of the control channel */
    uint8_t rep;     /* enum sub_state of this node's reply channel */
    const struct redis_link_control_ops *ctl_ops;
    void *ctl_ctx;
    uint8_t node[CTL_NONCE_BYTES]; /* this node's id */
    char ctl_chan[128 + sizeof CTL_REDIS_SUFFIX];
    size_t ctl_chan_len;
    char rep_chan[128 + sizeof CTL_REDIS_REPLY + 2 * CTL_NONCE_BYTES];
    size_t rep_chan_len;
    char out_chan[128 + sizeof CTL_REDIS_REPLY + 2 * CTL_NONCE_BYTES]; /* another's reply channel */
    unsigned pending;                        /* SUB_PENDING channels (topics + broadcast) */
    uint64_t active;                         /* SUB_ACTIVE topic channels */
    uint8_t state[TOPIC_TABLE_ALL];          /* not SUB_NONE: the slot is held */
    uint64_t zero_since_ms[TOPIC_TABLE_ALL]; /* 0: has subscribers (or not subscribed) */
    uint64_t rejected_down, dropped_in;
    char chan[128 + TOPIC_NAME_MAX + 8];
};

static void set_ready(struct redis_link *l, bool ready)
{
    l->ready = ready;
    __atomic_store_n(&l->shared->redis_state, ready ? 2u : 1u, __ATOMIC_RELAXED);
}

static size_t channel_of(struct redis_link *l, const char *topic, size_t n)
{
    memcpy(l->chan, l->prefix, l->prefix_len);
    memcpy(l->chan + l->prefix_len, topic, n);
    return l->prefix_len + n;
}

/* With history from Redis the node follows every channel (the pattern)
 * and has loaded the streams before it is ready. */
static bool history_ready(const struct redis_link *l)
{
    return !l->hist || (l->pattern == SUB_ACTIVE && redis_history_loaded(l->hist));
}

static void maybe_ready(struct redis_link *l)
{
    if (!l->ready && l->bcast == SUB_ACTIVE && l->ctl == SUB_ACTIVE && l->rep == SUB_ACTIVE &&
        l->pending == 0 && history_ready(l) && redis_client_ready(l->client)) {
        set_ready(l, true);
        log_info("redis: ready (%llu topic channels subscribed%s)", (unsigned long long)l->active,
                 l->pattern ? ", pattern mode" : "");
    }
}

static void pattern_cmd(struct redis_link *l, bool subscribe)
{
    /* escape the prefix's glob characters: the pattern must match exactly
     * the channels that start with it */
    char pat[2 * sizeof l->prefix + 2];
    size_t k = redis_glob_escape(l->prefix, l->prefix_len, pat);
    pat[k++] = '*';
    if (!subscribe) {
        if (redis_client_unsubscribe(l->client, true, pat, k) == 0)
            l->pattern = SUB_LEAVING;
    } else if (redis_client_subscribe(l->client, true, pat, k) == 0) {
        l->pattern = SUB_PENDING;
        l->pending++;
    }
}

/* The streams into history, once the pattern is confirmed: every message
 * published after this reaches us live, every one before is in a stream. */
static void load_history(struct redis_link *l)
{
    char err[256];
    uint64_t t0 = clock_mono_ms();
    struct redis_history_stats before, after;
    redis_history_get_stats(l->hist, &before);
    if (redis_history_load(l->hist, l->client, err, sizeof err) < 0) {
        log_ratelimited(WSP_LOG_WARN, "redis: loading history failed (%s); retrying", err);
        return;
    }
    redis_history_get_stats(l->hist, &after);
    log_info("redis: history loaded: %llu messages, epoch %llu, %llu ms",
             (unsigned long long)(after.loaded - before.loaded), (unsigned long long)msgid_epoch(),
             (unsigned long long)(clock_mono_ms() - t0));
    maybe_ready(l);
}

/* Brings subscriptions in line with the topic table. */
static void scan(struct redis_link *l, uint64_t now_ms)
{
    if (!redis_client_ready(l->client))
        return;
    if (l->hist) {
        /* every channel, always: history mirrors every topic's stream, so
         * a client can resume here on a topic nobody here followed */
        if (l->pattern == SUB_NONE)
            pattern_cmd(l, true);
        else if (l->pattern == SUB_ACTIVE && !redis_history_loaded(l->hist))
            load_history(l);
        return;
    }
    uint64_t uncounted = topic_table_uncounted(l->topics);
    if (l->pattern == SUB_NONE && uncounted) {
        log_warn("redis: %llu topics do not fit the topic table (%u slots): subscribing to "
                 "every channel with PSUBSCRIBE %s* while they last",
                 (unsigned long long)uncounted, TOPIC_TABLE_ALL, l->prefix);
        pattern_cmd(l, true);
    } else if (l->pattern == SUB_ACTIVE && !uncounted) {
        log_info("redis: every topic fits the topic table again: leaving pattern mode");
        pattern_cmd(l, false);
    }
    for (size_t i = 0; i < TOPIC_TABLE_ALL; i++) {
        uint64_t key, subs;
        const char *name;
        size_t nl;
        if (!topic_table_slot_read(l->topics, i, &key, &name, &nl, &subs))
            continue;
        switch (l->state[i]) {
        case SUB_NONE:
            /* held first: then the name read here cannot change under us */
            if (!subs || !topic_table_hold(l->topics, i, key))
                break;
            if (redis_client_subscribe(l->client, false, l->chan, channel_of(l, name, nl)) == 0) {
                l->state[i] = SUB_PENDING;
                l->pending++;
            } else {
                topic_table_release(l->topics, i);
            }
            break;
        case SUB_ACTIVE:
            if (subs) {
                l->zero_since_ms[i] = 0;
            } else if (!l->zero_since_ms[i]) {
                l->zero_since_ms[i] = now_ms;
            } else if (now_ms - l->zero_since_ms[i] >= REDIS_LINK_LINGER_MS &&
                       redis_client_unsubscribe(l->client, false, l->chan,
                                                channel_of(l, name, nl)) == 0) {
                l->state[i] = SUB_LEAVING;
                l->active--;
            }
            break;
        default:
            break; /* waiting for Redis' confirmation */
        }
    }
}

static void on_timer(struct ev_loop *loop, void *arg)
{
    (void)loop;
    scan(arg, clock_mono_ms());
}

static void on_state(void *ctx, bool up)
{
    struct redis_link *l = ctx;
    /* a new connection has no subscriptions: start from nothing */
    for (size_t i = 0; i < TOPIC_TABLE_ALL; i++)
        if (l->state[i] != SUB_NONE)
            topic_table_release(l->topics, i);
    memset(l->state, SUB_NONE, sizeof l->state);
    memset(l->zero_since_ms, 0, sizeof l->zero_since_ms);
    l->pending = 0;
    l->active = 0;
    l->bcast = SUB_NONE;
    l->pattern = SUB_NONE;
    l->ctl = SUB_NONE;
    l->rep = SUB_NONE;
    set_ready(l, false);
    if (!up)
        return;
    if (l->hist)
        redis_history_on_connect(l->hist, l->client);
    if (redis_client_subscribe(l->client, false, l->prefix, l->prefix_len) == 0) {
        l->bcast = SUB_PENDING;
        l->pending++;
    }
    if (redis_client_subscribe(l->client, false, l->ctl_chan, l->ctl_chan_len) == 0) {
        l->ctl = SUB_PENDING;
        l->pending++;
    }
    if (redis_client_subscribe(l->client, false, l->rep_chan, l->rep_chan_len) == 0) {
        l->rep = SUB_PENDING;
        l->pending++;
    }
    scan(l, clock_mono_ms());
}

/* The slot of the topic named by channel (after the prefix), or -1. */
static long slot_of(struct redis_link *l, const char *ch, size_t n)
{
    if (n <= l->prefix_len || memcmp(ch, l->prefix, l->prefix_len) != 0)
        return -1;
    return topic_table_slot_index(l->topics, msg_topic_key(ch + l->prefix_len, n - l->prefix_len));
}

static bool is_bcast(struct redis_link *l, const char *ch, size_t n)
{
    return n == l->prefix_len && memcmp(ch, l->prefix, n) == 0;
}

static bool is_ctl(struct redis_link *l, const char *ch, size_t n)
{
    return n == l->ctl_chan_len && memcmp(ch, l->ctl_chan, n) == 0;
}

static bool is_rep(struct redis_link *l, const char *ch, size_t n)
{
    return n == l->rep_chan_len && memcmp(ch, l->rep_chan, n) == 0;
}

/* any node's reply channel (the pattern of pattern mode sees them all) */
static bool is_any_rep(struct redis_link *l, const char *ch, size_t n)
{
    size_t k = l->prefix_len + sizeof CTL_REDIS_REPLY - 1;
    return n >= k && memcmp(ch, l->prefix, l->prefix_len) == 0 &&
           memcmp(ch + l->prefix_len, CTL_REDIS_REPLY, sizeof CTL_REDIS_REPLY - 1) == 0;
}

static void confirm(struct redis_link *l, const struct redis_event *ev)
{
    bool sub = ev->type == REDIS_EV_SUBSCRIBE || ev->type == REDIS_EV_PSUBSCRIBE;
    uint8_t *st;
    long i = -1;
    if (ev->type == REDIS_EV_PSUBSCRIBE || ev->type == REDIS_EV_PUNSUBSCRIBE)
        st = &l->pattern;
    else if (ev->channel && is_bcast(l, ev->channel, ev->channel_len))
        st = &l->bcast;
    else if (ev->channel && is_ctl(l, ev->channel, ev->channel_len))
        st = &l->ctl;
    else if (ev->channel && is_rep(l, ev->channel, ev->channel_len))
        st = &l->rep;
    else if (ev->channel && (i = slot_of(l, ev->channel, ev->channel_len)) >= 0)
        st = &l->state[i];
    else
        return;
    if (sub && *st == SUB_PENDING) {
        *st = SUB_ACTIVE;
        l->pending--;
        if (i >= 0) {
            l->active++;
            l->zero_since_ms[i] = 0;
        }
        if (st == &l->pattern && l->hist)
            load_history(l); /* before any message that follows the confirmation */
        maybe_ready(l);
    } else if (!sub && *st == SUB_LEAVING) {
        *st = SUB_NONE;
        if (i >= 0)
            topic_table_release(l->topics, (size_t)i);
    }
}

static void deliver(struct redis_link *l, const struct redis_event *ev)
{
    const char *ch = ev->channel;
    size_t n = ev->channel_len;
    if (n < l->prefix_len || memcmp(ch, l->prefix, l->prefix_len) != 0) {
        l->dropped_in++;
        return;
    }
    const char *topic = ch + l->prefix_len;
    size_t tl = n - l->prefix_len;
    /* a pattern subscription also sees channels no topic can name */
    if (tl && !http_topic_valid(topic, tl, TOPIC_NAME_MAX)) {
        l->dropped_in++;
        return;
    }
    bool binary;
    const uint8_t *data;
    size_t len;
    struct msgid id;
    int hid = redis_envelope_decode_id(ev->data, ev->len, &id, &binary, &data, &len);
    if (hid < 0) {
        l->dropped_in++;
        log_ratelimited(WSP_LOG_WARN, "redis: message on %.*s dropped (malformed id)",
                        (int)(n > 200 ? 200 : n), ch);
        return;
    }
    /* an id only counts where ids come from Redis (a node without history
     * numbers messages itself); a message without one (an application's
     * own PUBLISH) is delivered without an id */
    int64_t r;
    if (len > l->max_message_bytes)
        r = WSP_ETOOBIG;
    else if (hid == 1 && l->hist && tl)
        r = l->m->ops->publish_id(l->m, binary, topic, tl, data, len, &id);
    else
        r = l->m->ops->publish(l->m, binary, tl ? topic : NULL, tl, data, len, PUB_REDIS, NULL);
    if (r < 0) {
        l->dropped_in++;
        log_ratelimited(WSP_LOG_WARN, "redis: message on %.*s dropped (%zu bytes: too large)",
                        (int)(n > 200 ? 200 : n), ch, len);
    }
}

static void on_event(void *ctx, const struct redis_event *ev)
{
    struct redis_link *l = ctx;
    if ((ev->type == REDIS_EV_MESSAGE || ev->type == REDIS_EV_PMESSAGE) && ev->channel &&
        is_ctl(l, ev->channel, ev->channel_len)) {
        /* the control channel's own subscription delivers it once; the
         * pattern's copy (pattern mode) is ignored */
        if (ev->type == REDIS_EV_MESSAGE && l->ctl_ops)
            l->ctl_ops->on_control(l->ctl_ctx, ev->data, ev->len);
        return;
    }
    if ((ev->type == REDIS_EV_MESSAGE || ev->type == REDIS_EV_PMESSAGE) && ev->channel &&
        is_any_rep(l, ev->channel, ev->channel_len)) {
        if (ev->type == REDIS_EV_MESSAGE && l->ctl_ops && is_rep(l, ev->channel, ev->channel_len))
            l->ctl_ops->on_reply(l->ctl_ctx, ev->data, ev->len);
        return;
    }
    switch (ev->type) {
    case REDIS_EV_MESSAGE:
        /* once the pattern is active every message also arrives as a
         * pmessage: take that one only, so nothing is delivered twice */
        if (l->pattern != SUB_ACTIVE)
            deliver(l, ev);
        break;
    case REDIS_EV_PMESSAGE:
        if (l->pattern == SUB_ACTIVE)
            deliver(l, ev);
        break;
    case REDIS_EV_SUBSCRIBE:
    case REDIS_EV_PSUBSCRIBE:
    case REDIS_EV_UNSUBSCRIBE:
    case REDIS_EV_PUNSUBSCRIBE:
        confirm(l, ev);
        break;
    case REDIS_EV_ERROR:
        log_ratelimited(WSP_LOG_WARN, "redis: subscribe connection error: %.*s",
                        (int)(ev->len > 200 ? 200 : ev->len), (const char *)ev->data);
        break;
    default:
        log_ratelimited(WSP_LOG_WARN, "redis: unexpected reply on the subscribe connection");
        break;
    }
}

static void on_publish_error(void *ctx, const char *err, size_t len)
{
    struct redis_link *l = ctx;
    if (l->hist)
        redis_history_on_error(l->hist, err, len);
}

static void on_receivers(void *ctx, uint64_t token, long long receivers)
{
    struct redis_link *l = ctx;
    if (l->ctl_ops)
        l->ctl_ops->on_receivers(l->ctl_ctx, token, receivers);
}

/* <prefix> reply <16 hex digits>: a space, so never a topic's channel */
static size_t reply_channel(const struct redis_link *l, const uint8_t node[CTL_NONCE_BYTES],
                            char *out)
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, l->prefix, l->prefix_len);
    size_t k = l->prefix_len;
    memcpy(out + k, CTL_REDIS_REPLY, sizeof CTL_REDIS_REPLY - 1);
    k += sizeof CTL_REDIS_REPLY - 1;
    for (size_t i = 0; i < CTL_NONCE_BYTES; i++) {
        out[k++] = hex[node[i] >> 4];
        out[k++] = hex[node[i] & 15];
    }
    return k;
}

struct redis_link *redis_link_new(struct node *m, struct ev_loop *loop, const char **why)
{
    const struct wsp_config *cfg = m->cfg;
    struct redis_url url;
    if (redis_url_parse(cfg->redis, &url, why) < 0)
        return NULL;
    _Static_assert(sizeof url.password == sizeof cfg->redis_password, "password sizes");
    if (cfg->redis_password[0]) /* --redis-password-file wins over the URL */
        memcpy(url.password, cfg->redis_password, sizeof url.password);
    size_t pl = strlen(cfg->redis_prefix);
    if (pl >= sizeof((struct redis_link *)0)->prefix) {
        *why = "--redis-prefix too long";
        return NULL;
    }
    struct redis_link *l = calloc(1, sizeof *l);
    if (!l) {
        *why = "out of memory";
        return NULL;
    }
    l->m = m;
    l->loop = loop;
    l->shared = m->shared;
    l->topics = m->topics;
    memcpy(l->prefix, cfg->redis_prefix, pl + 1);
    l->prefix_len = pl;
    memcpy(l->ctl_chan, l->prefix, pl);
    memcpy(l->ctl_chan + pl, CTL_REDIS_SUFFIX, sizeof CTL_REDIS_SUFFIX - 1);
    l->ctl_chan_len = pl + sizeof CTL_REDIS_SUFFIX - 1;
    if (getrandom(l->node, sizeof l->node, 0) != (ssize_t)sizeof l->node) {
        free(l);
        *why = "no random bytes for the node id";
        return NULL;
    }
    l->rep_chan_len = reply_channel(l, l->node, l->rep_chan);
    l->max_message_bytes = cfg->max_message_bytes;
    if (m->redis_ids) {
        l->hist = redis_history_new(m, l->prefix, pl, history_depth(m->history));
        if (!l->hist) {
            free(l);
            *why = "out of memory";
            return NULL;
        }
    }
    set_ready(l, false);
    static const struct redis_client_ops ops = {.on_state = on_state,
                                                .on_event = on_event,
                                                .on_receivers = on_receivers,
                                                .on_publish_error = on_publish_error};
    l->client = redis_client_new(loop, &url, NULL, &ops, l);
    l->timer_id = l->client ? ev_timer_add(loop, REDIS_LINK_SCAN_MS, on_timer, l) : -1;
    if (l->timer_id < 0) {
        redis_client_free(l->client);
        redis_history_free(l->hist);
        free(l);
        *why = "out of memory or timers";
        return NULL;
    }
    char where[300];
    redis_url_format(&url, where, sizeof where);
    log_info("redis: sharing messages through %s, channels %s<topic>, broadcasts on %s", where,
             l->prefix, l->prefix);
    return l;
}

void redis_link_free(struct redis_link *l)
{
    if (!l)
        return;
    ev_timer_del(l->loop, l->timer_id);
    redis_client_free(l->client);
    redis_history_free(l->hist);
    free(l);
}

int redis_link_publish(struct redis_link *l, bool binary, const char *topic, size_t topic_len,
                       const uint8_t *payload, size_t n)
{
    if (n > l->max_message_bytes)
        return WSP_ETOOBIG;
    if (!redis_client_ready(l->client)) {
        l->rejected_down++;
        return WSP_EAGAIN;
    }
    uint8_t hdr[REDIS_ENV_HEADER];
    size_t hl = redis_envelope_header(binary, hdr);
    size_t cl = channel_of(l, topic, topic_len);
    int r;
    if (l->hist && topic_len) {
        /* ids come from the script: not before this node knows the epoch
         * and has its history (a 503 then, like Redis down) */
        if (!redis_history_loaded(l->hist)) {
            l->rejected_down++;
            return WSP_EAGAIN;
        }
        r = redis_history_publish(l->hist, l->client, topic, topic_len, l->chan, cl, hdr, hl,
                                  payload, n);
    } else {
        r = redis_client_publish(l->client, l->chan, cl, hdr, hl, payload, n);
    }
    if (r == WSP_EAGAIN)
        l->rejected_down++;
    return r;
}

int redis_link_control(struct redis_link *l, const uint8_t *p, size_t n, uint64_t token)
{
    if (!redis_client_ready(l->client) || l->ctl != SUB_ACTIVE) {
        l->rejected_down++;
        return WSP_EAGAIN;
    }
    /* on the publishing connection, behind every PUBLISH queued before it:
     * Redis keeps their order for each subscriber */
    if (token)
        return redis_client_publish_counted(l->client, l->ctl_chan, l->ctl_chan_len, p, n, token);
    return redis_client_publish(l->client, l->ctl_chan, l->ctl_chan_len, NULL, 0, p, n);
}

int redis_link_reply(struct redis_link *l, const uint8_t node[CTL_NONCE_BYTES], const uint8_t *p,
                     size_t n)
{
    if (!redis_client_ready(l->client))
        return WSP_EAGAIN;
    size_t cl = reply_channel(l, node, l->out_chan);
    return redis_client_publish(l->client, l->out_chan, cl, NULL, 0, p, n);
}

void redis_link_node_id(const struct redis_link *l, uint8_t out[CTL_NONCE_BYTES])
{
    memcpy(out, l->node, CTL_NONCE_BYTES);
}

void redis_link_set_control_ops(struct redis_link *l, const struct redis_link_control_ops *ops,
                                void *ctx)
{
    l->ctl_ops = ops;
    l->ctl_ctx = ctx;
}

void redis_link_after_fork(struct redis_link *l)
{
    redis_client_after_fork(l->client);
}

void redis_link_get_stats(const struct redis_link *l, struct redis_link_stats *o)
{
    const struct redis_client_stats *cs = redis_client_stats(l->client);
    memset(o, 0, sizeof *o);
    o->connected = redis_client_ready(l->client);
    o->ready = l->ready;
    o->pattern_mode = l->pattern == SUB_ACTIVE;
    o->reconnects = cs->reconnects;
    o->messages_in = cs->messages_in;
    o->messages_out = cs->messages_out;
    o->publish_errors = cs->publish_errors;
    o->rejected_down = l->rejected_down;
    o->dropped_in = l->dropped_in;
    o->subscriptions = l->active;
    o->rtt_seconds = (double)cs->rtt_ns / 1e9;
    if (l->hist) {
        struct redis_history_stats hs;
        redis_history_get_stats(l->hist, &hs);
        o->history_loads = hs.loads;
        o->history_loaded = hs.loaded;
        o->history_load_errors = hs.load_errors;
    }
}
