/* msgid.c - message ids and per-topic counters (see msgid.h).
 *
 * Pure parsing and formatting, plus one master-private hash table. It does
 * not decide what an epoch change means (routes.c/resume.c) nor keep
 * history (history.c). Invariant: a topic's counter only grows, so within
 * one epoch ids of a topic are strictly increasing in publish order. */
#include "pubsub/msgid.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "core/err.h"

/* the process's own word until msgid_epoch_share() moves it to a shared
 * page (inherited by every worker forked after) */
static _Atomic uint64_t own_epoch = 1;
static _Atomic uint64_t *node_epoch = &own_epoch;

int msgid_epoch_share(void)
{
    if (node_epoch != &own_epoch)
        return 0;
    void *p =
        mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    _Atomic uint64_t *e = p;
    atomic_store_explicit(e, atomic_load(&own_epoch), memory_order_release);
    node_epoch = e;
    return 0;
}

void msgid_epoch_set(uint64_t epoch)
{
    atomic_store_explicit(node_epoch, epoch, memory_order_release);
}

uint64_t msgid_epoch(void)
{
    return atomic_load_explicit(node_epoch, memory_order_acquire);
}

uint64_t msgid_epoch_new(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    }
    v &= MSGID_EPOCH_MAX;
    return v ? v : 1;
}

static size_t put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

size_t msgid_format(char *out, size_t cap, uint64_t epoch, uint64_t seq)
{
    char buf[MSGID_MAX_LEN];
    size_t n = put_u64(buf, epoch);
    buf[n++] = '-';
    n += put_u64(buf + n, seq);
    if (cap == 0)
        return n;
    size_t k = n < cap ? n : cap - 1;
    memcpy(out, buf, k);
    out[k] = '\0';
    return n;
}

/* Decimal without sign or leading zeros (a lone "0" allowed), <= max. */
static int parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return WSP_EPROTO;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return WSP_EPROTO;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return WSP_EPROTO;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int msgid_parse(const char *s, size_t n, struct msgid *out)
{
    const char *dash = memchr(s, '-', n);
    if (!dash)
        return WSP_EPROTO;
    size_t el = (size_t)(dash - s);
    struct msgid id;
    if (parse_dec(s, el, MSGID_EPOCH_MAX, &id.epoch) < 0 || id.epoch == 0 ||
        parse_dec(dash + 1, n - el - 1, INT64_MAX, &id.seq) < 0)
        return WSP_EPROTO;
    *out = id;
    return 0;
}

int msgid_since_parse(const char *s, size_t n, const char **topic, size_t *topic_len,
                      struct msgid *id)
{
    size_t colon = n;
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == ':') {
            colon = i - 1;
            break;
        }
    if (colon == n) {
        *topic = NULL;
        *topic_len = 0;
        return msgid_parse(s, n, id);
    }
    if (colon == 0)
        return WSP_EPROTO; /* ":<id>": an empty topic */
    int rc = msgid_parse(s + colon + 1, n - colon - 1, id);
    if (rc < 0)
        return rc;
    *topic = s;
    *topic_len = colon;
    return 0;
}

/* ---- counters ---- */

struct counter_slot {
    uint64_t key; /* 0: empty (msg_topic_key is never 0) */
    uint64_t seq;
};

struct msgid_counters {
    struct counter_slot *slots;
    size_t cap; /* a power of two */
    size_t used;
};

struct msgid_counters *msgid_counters_new(void)
{
    struct msgid_counters *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = 64;
    c->slots = calloc(c->cap, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    return c;
}

void msgid_counters_free(struct msgid_counters *c)
{
    if (!c)
        return;
    free(c->slots);
    free(c);
}

static struct counter_slot *find(struct counter_slot *slots, size_t cap, uint64_t key)
{
    size_t mask = cap - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask)
        if (slots[i].key == key || slots[i].key == 0)
            return &slots[i];
}

static int grow(struct msgid_counters *c)
{
    size_t cap = c->cap * 2;
    struct counter_slot *s = calloc(cap, sizeof *s);
    if (!s)
        return WSP_ENOMEM;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].key)
            *find(s, cap, c->slots[i].key) = c->slots[i];
    free(c->slots);
    c->slots = s;
    c->cap = cap;
    return 0;
}

uint64_t msgid_counters_next(struct msgid_counters *c, uint64_t key)
{
    if (key == 0)
        return 0;
    struct counter_slot *s = find(c->slots, c->cap, key);
    if (s->key == 0) {
        if ((c->used + 1) * 4 > c->cap * 3) {
            if (grow(c) < 0)
                return 0;
            s = find(c->slots, c->cap, key);
        }
        s->key = key;
        c->used++;
    }
    return ++s->seq;
}

uint64_t msgid_counters_last(const struct msgid_counters *c, uint64_t key)
{
    if (key == 0)
        return 0;
    const struct counter_slot *s = find(c->slots, c->cap, key);
    return s->key == key ? s->seq : 0;
}

size_t msgid_counters_count(const struct msgid_counters *c)
{
    return c->used;
}
