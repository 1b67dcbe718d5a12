/* redis_history.c - ids and history from Redis (see redis_history.h).
 *
 * What it does: the two Lua scripts (publish; epoch check at load), the
 * keys they use, and the load of the streams into the master's history.
 * What it does not: subscriptions and delivery (redis_link.c), history
 * itself (pubsub/history.c), the wire (broker/redis.c).
 *
 * Keys, under --redis-prefix P: P epoch (the cluster's epoch), P runid (the
 * run_id of the Redis process that epoch was made on), P seq:<topic> (the
 * topic's last seq), P stream:<topic> (its history: fields e = epoch,
 * s = seq, d = the payload in the channel envelope).
 *
 * Invariant: a stream entry and its PUBLISH are made by one script run, so
 * every message a node receives with an id is in the stream, and a load
 * that runs after the node's subscription is confirmed, followed by the
 * messages that arrive after it (those already loaded are skipped by seq,
 * the node's publish_id), leaves no hole and no duplicate. */
#include "server/redis_history.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker/redis.h"
#include "core/clock.h"
#include "core/err.h"
#include "http/http_parse.h"
#include "pubsub/msg.h"
#include "pubsub/msgid.h"
#include "pubsub/topic_table.h"
#include "server/node.h"

#define LOAD_TIMEOUT_MS 3000
#define SCAN_COUNT "1000"

/* KEYS: epoch, runid, seq, stream. ARGV: a fresh epoch candidate, the
 * run_id this node last saw, MAXLEN, the payload (channel envelope), the
 * channel. A Redis that lost the epoch key (flushed, restarted without
 * persistence) gets a new epoch here: the ids' seqs start again, under a
 * new name. Returns the seq. */
static const char publish_lua[] =
    "local e = redis.call('GET', KEYS[1])\n"
    "if not e then\n"
    "  e = ARGV[1]\n"
    "  redis.call('SET', KEYS[1], e)\n"
    "  redis.call('SET', KEYS[2], ARGV[2])\n"
    "end\n"
    "local s = redis.call('INCR', KEYS[3])\n"
    "redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'e', e, 's', s, 'd', ARGV[4])\n"
    "redis.call('PUBLISH', ARGV[5], '\\255i' .. e .. '-' .. s .. '\\n' .. ARGV[4])\n"
    "return s\n";

/* KEYS: epoch, runid. ARGV: the server's run_id now, a fresh candidate. A
 * restarted Redis (another run_id) may have lost the last messages even
 * with persistence (RDB, AOF everysec): a new epoch then too. */
static const char epoch_lua[] = "local e = redis.call('GET', KEYS[1])\n"
                                "if (not e) or redis.call('GET', KEYS[2]) ~= ARGV[1] then\n"
                                "  e = ARGV[2]\n"
                                "  redis.call('SET', KEYS[1], e)\n"
                                "  redis.call('SET', KEYS[2], ARGV[1])\n"
                                "end\n"
                                "return e\n";

struct redis_history {
    struct node *m;
    char prefix[128];
    size_t prefix_len;
    uint32_t depth;
    char maxlen[12];
    char sha[2 * SHA_DIGEST_LENGTH + 1];
    char runid[41]; /* learned at load; "" before */
    bool loaded;    /* a load completed on this connection pair */
    bool noscript;  /* Redis forgot the script: SCRIPT LOAD before the next EVALSHA */
    uint64_t rng;
    uint8_t *buf; /* the payload with its envelope header; grows */
    size_t buf_cap;
    char key_seq[128 + 4 + TOPIC_NAME_MAX];
    char key_stream[128 + 7 + TOPIC_NAME_MAX];
    char key_epoch[128 + 5];
    char key_runid[128 + 5];
    struct redis_history_stats st;
};

static size_t key_of(const struct redis_history *rh, char *out, const char *what, const char *t,
                     size_t tl)
{
    size_t wl = strlen(what);
    memcpy(out, rh->prefix, rh->prefix_len);
    memcpy(out + rh->prefix_len, what, wl);
    if (tl)
        memcpy(out + rh->prefix_len + wl, t, tl);
    out[rh->prefix_len + wl + tl] = '\0';
    return rh->prefix_len + wl + tl;
}

struct redis_history *redis_history_new(struct node *m, const char *prefix, size_t prefix_len,
                                        uint32_t depth)
{
    if (prefix_len >= 128)
        return NULL;
    struct redis_history *rh = calloc(1, sizeof *rh);
    if (!rh)
        return NULL;
    rh->m = m;
    memcpy(rh->prefix, prefix, prefix_len);
    rh->prefix_len = prefix_len;
    rh->depth = depth;
    snprintf(rh->maxlen, sizeof rh->maxlen, "%u", depth);
    uint8_t d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)publish_lua, sizeof publish_lua - 1, d);
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(rh->sha + 2 * i, 3, "%02x", d[i]);
    if (getrandom(&rh->rng, sizeof rh->rng, 0) != (ssize_t)sizeof rh->rng || !rh->rng)
        rh->rng = clock_mono_ns() | 1;
    key_of(rh, rh->key_epoch, "epoch", NULL, 0);
    key_of(rh, rh->key_runid, "runid", NULL, 0);
    return rh;
}

void redis_history_free(struct redis_history *rh)
{
    if (!rh)
        return;
    free(rh->buf);
    free(rh);
}

bool redis_history_loaded(const struct redis_history *rh)
{
    return rh->loaded;
}

void redis_history_get_stats(const struct redis_history *rh, struct redis_history_stats *out)
{
    *out = rh->st;
}

/* A fresh epoch candidate per use (splitmix64): after a flush, the next
 * script run must not bring back the epoch Redis lost. */
static void candidate(struct redis_history *rh, char *out, size_t cap)
{
    uint64_t z = (rh->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z = (z ^ (z >> 31)) & MSGID_EPOCH_MAX;
    snprintf(out, cap, "%llu", (unsigned long long)(z ? z : 1));
}

static int load_script(struct redis_history *rh, struct redis_client *c)
{
    const char *argv[3] = {"SCRIPT", "LOAD", publish_lua};
    size_t lens[3] = {6, 4, sizeof publish_lua - 1};
    int r = redis_client_command_argv(c, 3, argv, lens);
    if (r == 0)
        rh->noscript = false;
    return r;
}

void redis_history_on_connect(struct redis_history *rh, struct redis_client *c)
{
    rh->loaded = false;
    load_script(rh, c);
}

void redis_history_on_error(struct redis_history *rh, const char *err, size_t len)
{
    if (len >= 8 && !memcmp(err, "NOSCRIPT", 8))
        rh->noscript = true;
}

int redis_history_publish(struct redis_history *rh, struct redis_client *c, const char *topic,
                          size_t topic_len, const char *channel, size_t channel_len,
                          const uint8_t *hdr, size_t hl, const uint8_t *payload, size_t n)
{
    /* in order on the connection: the EVALSHA below finds it */
    if (rh->noscript && load_script(rh, c) < 0)
        return WSP_EAGAIN;
    if (rh->buf_cap < hl + n + 1) {
        uint8_t *b = realloc(rh->buf, hl + n + 1);
        if (!b)
            return WSP_ENOMEM;
        rh->buf = b;
        rh->buf_cap = hl + n + 1;
    }
    memcpy(rh->buf, hdr, hl);
    if (n)
        memcpy(rh->buf + hl, payload, n);
    char cand[24];
    candidate(rh, cand, sizeof cand);
    size_t sl = key_of(rh, rh->key_seq, "seq:", topic, topic_len);
    size_t xl = key_of(rh, rh->key_stream, "stream:", topic, topic_len);
    const char *argv[12] = {
        "EVALSHA",      rh->sha, "4",       rh->key_epoch, rh->key_runid,         rh->key_seq,
        rh->key_stream, cand,    rh->runid, rh->maxlen,    (const char *)rh->buf, channel};
    size_t lens[12] = {7,
                       strlen(rh->sha),
                       1,
                       strlen(rh->key_epoch),
                       strlen(rh->key_runid),
                       sl,
                       xl,
                       strlen(cand),
                       strlen(rh->runid),
                       strlen(rh->maxlen),
                       hl + n,
                       channel_len};
    return redis_client_publish_argv(c, 12, argv, lens);
}

/* ---- the load ---- */

static bool field_is(const redisReply *r, const char *name)
{
    return r->type == REDIS_REPLY_STRING && r->len == strlen(name) && !memcmp(r->str, name, r->len);
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* One stream entry [id, [field, value, ...]], oldest first. */
static void load_entry(struct redis_history *rh, const char *topic, size_t tl, uint64_t epoch,
                       const redisReply *e, uint64_t redis_ms, uint64_t now_ns)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    const redisReply *f = e->element[1];
    uint64_t ep = 0, seq = 0;
    const redisReply *d = NULL;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (v->type != REDIS_REPLY_STRING)
            continue;
        if (field_is(k, "e"))
            parse_u64(v->str, v->len, &ep);
        else if (field_is(k, "s"))
            parse_u64(v->str, v->len, &seq);
        else if (field_is(k, "d"))
            d = v;
    }
    if (ep != epoch || !seq || !d)
        return; /* an older epoch's entry, or not ours */
    /* the entry's age by Redis' clock (its id is "<ms>-<n>"), so a TTL
     * counts from the publish, not from the load */
    uint64_t ms = 0;
    const char *dash = memchr(e->element[0]->str, '-', e->element[0]->len);
    uint64_t age_ns = 0;
    if (dash && parse_u64(e->element[0]->str, (size_t)(dash - e->element[0]->str), &ms) &&
        redis_ms > ms)
        age_ns = (redis_ms - ms) * 1000000ull;
    bool binary;
    const uint8_t *data;
    size_t n;
    redis_envelope_decode((const uint8_t *)d->str, d->len, &binary, &data, &n);
    struct msgid id = {epoch, seq};
    uint64_t at = now_ns > age_ns ? now_ns - age_ns : 1;
    if (rh->m->ops->history_load(rh->m, topic, tl, &id, binary, data, n, at) == 0)
        rh->st.loaded++;
}

static void load_stream(struct redis_history *rh, redisContext *rc, const redisReply *key,
                        uint64_t epoch, uint64_t redis_ms)
{
    size_t pre = rh->prefix_len + 7; /* "stream:" */
    if (key->type != REDIS_REPLY_STRING || key->len <= pre)
        return;
    const char *topic = key->str + pre;
    size_t tl = key->len - pre;
    if (!http_topic_valid(topic, tl, TOPIC_NAME_MAX))
        return;
    char count[12];
    snprintf(count, sizeof count, "%u", rh->depth);
    const char *argv[6] = {"XREVRANGE", key->str, "+", "-", "COUNT", count};
    size_t lens[6] = {9, key->len, 1, 1, 5, strlen(count)};
    redisReply *r = redisCommandArgv(rc, 6, argv, lens);
    if (r && r->type == REDIS_REPLY_ARRAY) {
        uint64_t now = clock_mono_ns();
        for (size_t i = r->elements; i > 0; i--) /* newest first: walk back */
            load_entry(rh, topic, tl, epoch, r->element[i - 1], redis_ms, now);
    }
    freeReplyObject(r);
}

/* "run_id:<40 hex>" from INFO server. */
static bool read_runid(redisContext *rc, char out[41])
{
    redisReply *r = redisCommand(rc, "INFO server");
    bool ok = false;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "run_id:");
        if (p && sscanf(p + 7, "%40[0-9a-f]", out) == 1)
            ok = true;
    }
    freeReplyObject(r);
    return ok;
}

static int fail(struct redis_history *rh, redisContext *rc, char *err, size_t cap, const char *what,
                const redisReply *r)
{
    snprintf(err, cap, "%s: %s", what,
             r && r->type == REDIS_REPLY_ERROR ? r->str
             : rc && rc->err                   ? rc->errstr
                                               : "unexpected reply");
    rh->st.load_errors++;
    return WSP_EPROTO;
}

int redis_history_load(struct redis_history *rh, struct redis_client *c, char *err, size_t cap)
{
    redisContext *rc = redis_sync_connect(redis_client_url(c), LOAD_TIMEOUT_MS, err, cap);
    if (!rc) {
        rh->st.load_errors++;
        return WSP_ECLOSED;
    }
    int ret = 0;
    redisReply *r = NULL;
    char runid[41];
    if (!read_runid(rc, runid)) {
        ret = fail(rh, rc, err, cap, "INFO server (run_id)", NULL);
        goto out;
    }
    char cand[24];
    candidate(rh, cand, sizeof cand);
    const char *ev[7] = {"EVAL", epoch_lua, "2", rh->key_epoch, rh->key_runid, runid, cand};
    size_t el[7] = {4,
                    sizeof epoch_lua - 1,
                    1,
                    strlen(rh->key_epoch),
                    strlen(rh->key_runid),
                    strlen(runid),
                    strlen(cand)};
    r = redisCommandArgv(rc, 7, ev, el);
    struct msgid eid;
    char idbuf[64];
    if (!r || r->type != REDIS_REPLY_STRING || r->len > 20 ||
        msgid_parse(idbuf, (size_t)snprintf(idbuf, sizeof idbuf, "%.*s-1", (int)r->len, r->str),
                    &eid) < 0) {
        ret = fail(rh, rc, err, cap, "epoch", r);
        goto out;
    }
    freeReplyObject(r);
    memcpy(rh->runid, runid, sizeof runid);
    rh->m->ops->epoch_adopt(rh->m, eid.epoch);
    r = redisCommand(rc, "TIME");
    uint64_t redis_ms = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING) {
        uint64_t sec = 0, usec = 0;
        parse_u64(r->element[0]->str, r->element[0]->len, &sec);
        parse_u64(r->element[1]->str, r->element[1]->len, &usec);
        redis_ms = sec * 1000 + usec / 1000;
    }
    freeReplyObject(r);
    /* SCAN's pattern: the prefix with its glob characters escaped */
    char pat[2 * 128 + 16];
    size_t k = redis_glob_escape(rh->prefix, rh->prefix_len, pat);
    memcpy(pat + k, "stream:*", 9);
    k += 8;
    char cursor[24] = "0";
    do {
        const char *sv[8] = {"SCAN", cursor, "MATCH", pat, "COUNT", SCAN_COUNT, "TYPE", "stream"};
        size_t sl[8] = {4, strlen(cursor), 5, k, 5, strlen(SCAN_COUNT), 4, 6};
        r = redisCommandArgv(rc, 8, sv, sl);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof cursor ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            ret = fail(rh, rc, err, cap, "SCAN", r);
            goto out;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        for (size_t i = 0; i < r->element[1]->elements; i++)
            load_stream(rh, rc, r->element[1]->element[i], eid.epoch, redis_ms);
        freeReplyObject(r);
        r = NULL;
    } while (strcmp(cursor, "0") != 0);
    rh->loaded = true;
    rh->st.loads++;
out:
    freeReplyObject(r);
    redisFree(rc);
    return ret;
}
