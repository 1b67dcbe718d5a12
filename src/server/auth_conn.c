/* auth_conn.c - subscriber tokens in the server: the door (which token,
 * which topics), the per-worker memory of admitted tokens, and closing
 * connections whose token expired (see auth_conn.h, docs/auth.md).
 *
 * Nothing here runs on the fan-out path. Per token-bearing connection a
 * worker keeps one small entry, found by the connection's address (a
 * chained hash), holding a reference to its interned user (one copy per
 * user per worker, refcounted) and its expiry, placed in a min-heap so the
 * once-a-second tick looks only at what is due. Invariant: an entry exists
 * exactly while its connection is alive (conn_reap calls
 * auth_conn_forget), so the heap never points at a freed connection. */
#define WSP_LOG_SUB WSP_SUB_AUTH /* core/log.h: this file's log lines */
#include "server/auth_conn.h"

#include <stdlib.h>
#include <string.h>

#include "auth/extract.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "server/server_int.h"

_Static_assert(AUTH_REASON_COUNT <= METRICS_AUTH_REASONS, "metrics.h: raise METRICS_AUTH_REASONS");

struct auth_entry;

struct auth_user { /* owned by the user table; refs = entries pointing here */
    void *next;    /* struct auth_user: chain of its bucket */
    uint32_t refs;
    uint32_t len;
    uint64_t hash;
    struct auth_entry *conns; /* its connections' entries (disconnect-by-user) */
    uint32_t mark;            /* presence: the last query that counted this user */
    char name[];              /* NUL-terminated */
};

struct auth_entry { /* owned by the side table; one per token-bearing connection */
    void *next;     /* struct auth_entry: chain of its bucket */
    struct conn *c;
    struct auth_user *user;   /* NULL: the token had no sub */
    struct auth_entry *unext; /* the user's other entries */
    struct auth_entry **uprev;
    int64_t exp_s;     /* unix seconds, leeway included */
    uint32_t heap_idx; /* NOT_IN_HEAP when the token does not expire (or fired) */
};

#define NOT_IN_HEAP UINT32_MAX

/* one set per process: the master's is inherited by the workers it forks */
static struct auth_keyset *keys;

static struct {
    void **b; /* struct auth_entry chains; nb a power of two */
    size_t nb, n;
    void **ub; /* struct auth_user chains */
    size_t unb, un;
    struct auth_entry **heap; /* min-heap by exp_s */
    size_t hn, hcap;
} tab;

/* ---- keys ---- */

static struct auth_keyset *load(const struct wsp_config *cfg, char *err, size_t cap)
{
    struct auth_key_files f = {cfg->auth_hmac_key_file, cfg->auth_public_key, cfg->auth_jwks};
    return auth_keyset_load(&f, err, cap);
}

static bool keys_configured(const struct wsp_config *cfg)
{
    return cfg->auth_hmac_key_file[0] || cfg->auth_public_key[0] || cfg->auth_jwks[0];
}

int auth_conn_setup(const struct wsp_config *cfg, FILE *err)
{
    if (!keys_configured(cfg))
        return 0;
    char why[512];
    struct auth_keyset *ks = load(cfg, why, sizeof why);
    if (!ks) {
        fprintf(err, "wspush: error: token keys: %s\n", why);
        return 2;
    }
    auth_keyset_free(keys);
    keys = ks;
    return 0;
}

bool auth_conn_reload(const struct wsp_config *cfg)
{
    if (!keys_configured(cfg))
        return false;
    char why[512];
    struct auth_keyset *ks = load(cfg, why, sizeof why);
    if (!ks) {
        log_error("SIGHUP: token key reload failed, keeping the old keys: %s", why);
        return false;
    }
    auth_keyset_free(keys);
    keys = ks;
    log_info("SIGHUP: token keys reloaded (%zu keys)", ks->n);
    return true;
}

/* ---- the door ---- */

static void release_claims(struct auth_ticket *t)
{
    if (t->have_token)
        jwt_claims_release(&t->claims);
    t->have_token = false;
}

void auth_conn_ticket_release(struct auth_ticket *t)
{
    release_claims(t);
}

void auth_conn_refuse(struct worker *w, struct conn *c, enum auth_reason why)
{
    char body[96], hdr[192];
    int status = why == AUTH_TOPIC_DENIED ? 403 : 401;
    w->st->auth_refused[why]++;
    snprintf(body, sizeof body, "%s\n", auth_reason_text(why));
    /* RFC 6750 §3 */
    if (why == AUTH_MISSING)
        snprintf(hdr, sizeof hdr, "WWW-Authenticate: Bearer realm=\"wspush\"\r\n");
    else
        snprintf(hdr, sizeof hdr,
                 "WWW-Authenticate: Bearer realm=\"wspush\", error=\"%s\", "
                 "error_description=\"%s\"\r\n",
                 status == 403 ? "insufficient_scope" : "invalid_token", auth_reason_text(why));
    conn_http_reply(w, c, status, "text/plain; charset=utf-8", body, strlen(body), hdr);
}

int auth_conn_admit(struct worker *w, const struct http_req *r, struct auth_ticket *t)
{
    memset(t, 0, sizeof *t);
    if (!w->cfg->auth_required)
        return 0; /* --auth off: tokens are not even looked at */
    t->check = true;
    char buf[JWT_MAX_BYTES];
    const char *tok = NULL;
    size_t n = 0;
    enum auth_reason why;
    int f = auth_token_find(r, w->cfg->auth_cookie, buf, sizeof buf, &tok, &n);
    if (f == 0)
        return 0; /* no token: only public topics, checked per topic */
    if (f < 0) {
        why = f == WSP_ETOOBIG ? AUTH_TOO_LARGE : AUTH_MALFORMED;
    } else {
        struct jwt_policy pol = {w->cfg->auth_issuer, w->cfg->auth_audience,
                                 (int64_t)(w->cfg->auth_leeway_ms / 1000)};
        int64_t now = (int64_t)(clock_real_us() / 1000000);
        if (jwt_verify(keys, &pol, tok, n, now, &t->claims, &why) == 0) {
            t->have_token = true;
            return 0;
        }
    }
    /* a token that was sent but does not hold is refused even for public
     * topics: its owner should learn it is broken */
    t->refused = why;
    return 401;
}

enum auth_reason auth_conn_check_topic(const struct worker *w, const struct auth_ticket *t,
                                       const char *topic, size_t n)
{
    if (!t->check)
        return AUTH_OK;
    if (t->have_token)
        return jwt_claims_grant(&t->claims, topic, n) ? AUTH_OK : AUTH_TOPIC_DENIED;
    const struct wsp_config *cfg = w->cfg;
    for (size_t i = 0; i < cfg->n_public_topics; i++) {
        const char *p = cfg->public_topics[i];
        if (n == 0 ? !strcmp(p, "/") : auth_pattern_match(p, strlen(p), topic, n))
            return AUTH_OK;
    }
    return AUTH_MISSING;
}

/* ---- the side table ---- */

static size_t conn_bucket(const struct conn *c, size_t nb)
{
    uint64_t h = (uint64_t)(uintptr_t)c * 0x9e3779b97f4a7c15ull; /* Fibonacci hashing */
    return (size_t)(h >> 32) & (nb - 1);
}

static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: names come from verified tokens */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static bool grow(void ***b, size_t *nb, size_t n, size_t (*bucket)(const void *, size_t),
                 void *(*next_of)(void *), void (*set_next)(void *, void *))
{
    if (n < *nb)
        return true;
    size_t nn = *nb ? *nb * 2 : 64;
    void **fresh = calloc(nn, sizeof *fresh);
    if (!fresh)
        return *nb > 0; /* keep the old buckets: longer chains, still correct */
    for (size_t i = 0; i < *nb; i++) {
        for (void *e = (*b)[i], *nx; e; e = nx) {
            nx = next_of(e);
            size_t k = bucket(e, nn);
            set_next(e, fresh[k]);
            fresh[k] = e;
        }
    }
    free(*b);
    *b = fresh;
    *nb = nn;
    return true;
}

static size_t entry_bucket(const void *e, size_t nb)
{
    return conn_bucket(((const struct auth_entry *)e)->c, nb);
}
static void *entry_next(void *e)
{
    return ((struct auth_entry *)e)->next;
}
static void entry_set_next(void *e, void *n)
{
    ((struct auth_entry *)e)->next = n;
}
static size_t user_bucket(const void *u, size_t nb)
{
    return (size_t)((const struct auth_user *)u)->hash & (nb - 1);
}
static void *user_next(void *u)
{
    return ((struct auth_user *)u)->next;
}
static void user_set_next(void *u, void *n)
{
    ((struct auth_user *)u)->next = n;
}

static struct auth_user *user_ref(const char *name, size_t len)
{
    uint64_t h = name_hash(name, len);
    if (tab.unb) {
        for (struct auth_user *u = tab.ub[h & (tab.unb - 1)]; u; u = u->next) {
            if (u->hash == h && u->len == len && !memcmp(u->name, name, len)) {
                u->refs++;
                return u;
            }
        }
    }
    if (!grow(&tab.ub, &tab.unb, tab.un, user_bucket, user_next, user_set_next))
        return NULL;
    struct auth_user *u = malloc(sizeof *u + len + 1);
    if (!u)
        return NULL;
    u->refs = 1;
    u->len = (uint32_t)len;
    u->conns = NULL;
    u->mark = 0;
    u->hash = h;
    memcpy(u->name, name, len);
    u->name[len] = '\0';
    size_t k = h & (tab.unb - 1);
    u->next = tab.ub[k];
    tab.ub[k] = u;
    tab.un++;
    return u;
}

static void user_unref(struct auth_user *u)
{
    if (!u || --u->refs)
        return;
    void **p = &tab.ub[u->hash & (tab.unb - 1)];
    while (*p != u)
        p = &((struct auth_user *)*p)->next;
    *p = u->next;
    tab.un--;
    free(u);
}

/* ---- the expiry heap ---- */

static void heap_set(size_t i, struct auth_entry *e)
{
    tab.heap[i] = e;
    e->heap_idx = (uint32_t)i;
}

static void heap_up(size_t i)
{
    struct auth_entry *e = tab.heap[i];
    while (i > 0 && tab.heap[(i - 1) / 2]->exp_s > e->exp_s) {
        heap_set(i, tab.heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(i, e);
}

static void heap_down(size_t i)
{
    struct auth_entry *e = tab.heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = l;
        if (l >= tab.hn)
            break;
        if (l + 1 < tab.hn && tab.heap[l + 1]->exp_s < tab.heap[l]->exp_s)
            m = l + 1;
        if (tab.heap[m]->exp_s >= e->exp_s)
            break;
        heap_set(i, tab.heap[m]);
        i = m;
    }
    heap_set(i, e);
}

static bool heap_push(struct auth_entry *e)
{
    if (tab.hn == tab.hcap) {
        size_t nc = tab.hcap ? tab.hcap * 2 : 64;
        struct auth_entry **h = realloc(tab.heap, nc * sizeof *h);
        if (!h)
            return false;
        tab.heap = h;
        tab.hcap = nc;
    }
    tab.heap[tab.hn] = e;
    heap_up(tab.hn++);
    return true;
}

static void heap_remove(struct auth_entry *e)
{
    size_t i = e->heap_idx;
    e->heap_idx = NOT_IN_HEAP;
    if (i == --tab.hn)
        return;
    struct auth_entry *m = tab.heap[tab.hn];
    heap_set(i, m);
    heap_up(i);
    heap_down(m->heap_idx);
}

/* ---- connections ---- */

void auth_conn_attach(struct worker *w, struct conn *c, struct auth_ticket *t)
{
    if (!t->have_token)
        return;
    w->st->auth_accepted++;
    const struct jwt_claims *cl = &t->claims;
    if (!cl->has_exp && !cl->sub) {
        release_claims(t);
        return;
    }
    struct auth_entry *e = calloc(1, sizeof *e);
    bool ok = e && grow(&tab.b, &tab.nb, tab.n, entry_bucket, entry_next, entry_set_next);
    if (ok) {
        e->c = c;
        e->exp_s = cl->exp;
        e->heap_idx = NOT_IN_HEAP;
        ok = (!cl->sub || (e->user = user_ref(cl->sub, cl->sub_len))) &&
             (!cl->has_exp || heap_push(e));
    }
    release_claims(t);
    if (!ok) { /* without its entry the connection would outlive its token */
        if (e)
            user_unref(e->user);
        free(e);
        conn_close(w, c, 1011, "out of memory");
        return;
    }
    size_t k = conn_bucket(c, tab.nb);
    e->next = tab.b[k];
    tab.b[k] = e;
    tab.n++;
    if (e->user) {
        e->unext = e->user->conns;
        if (e->unext)
            e->unext->uprev = &e->unext;
        e->uprev = &e->user->conns;
        e->user->conns = e;
    }
}

void auth_conn_forget(struct conn *c)
{
    if (!tab.n)
        return;
    for (void **p = &tab.b[conn_bucket(c, tab.nb)]; *p; p = &((struct auth_entry *)*p)->next) {
        struct auth_entry *e = *p;
        if (e->c != c)
            continue;
        *p = e->next;
        tab.n--;
        if (e->heap_idx != NOT_IN_HEAP)
            heap_remove(e);
        if (e->uprev) {
            *e->uprev = e->unext;
            if (e->unext)
                e->unext->uprev = e->uprev;
        }
        user_unref(e->user);
        free(e);
        return;
    }
}

void auth_conn_tick(struct worker *w)
{
    if (!tab.hn)
        return;
    int64_t now = (int64_t)(clock_real_us() / 1000000);
    while (tab.hn && tab.heap[0]->exp_s <= now) {
        struct auth_entry *e = tab.heap[0];
        heap_remove(e);
        w->st->auth_expired++;
        conn_close(w, e->c, AUTH_CLOSE_EXPIRED, "token expired");
    }
}

/* ---- connection control (control_worker.c) ---- */

static struct auth_user *user_find(const char *name, size_t len)
{
    if (!tab.unb)
        return NULL;
    uint64_t h = name_hash(name, len);
    for (struct auth_user *u = tab.ub[h & (tab.unb - 1)]; u; u = u->next)
        if (u->hash == h && u->len == len && !memcmp(u->name, name, len))
            return u;
    return NULL;
}

uint32_t auth_conn_close_user(struct worker *w, const char *user, size_t n, uint16_t code,
                              const char *reason)
{
    struct auth_user *u = user_find(user, n);
    uint32_t closed = 0;
    /* conn_close never frees (conn_reap does, after the iteration), so the
     * list stays intact while it is walked */
    for (struct auth_entry *e = u ? u->conns : NULL; e; e = e->unext) {
        if (e->c->state != CONN_WS)
            continue; /* already closing, or not upgraded yet */
        conn_close(w, e->c, code, reason);
        closed++;
    }
    return closed;
}

const char *auth_conn_user_once(const struct conn *c, uint32_t query, size_t *len)
{
    if (!tab.n)
        return NULL;
    for (struct auth_entry *e = tab.b[conn_bucket(c, tab.nb)]; e; e = e->next) {
        if (e->c != c)
            continue;
        if (!e->user || e->user->mark == query)
            return NULL;
        e->user->mark = query;
        *len = e->user->len;
        return e->user->name;
    }
    return NULL;
}
