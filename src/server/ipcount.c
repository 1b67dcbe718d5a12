/* ipcount.c - connections per source address (see ipcount.h).
 *
 * A chained hash table over a pool of entries. An entry's index in the pool
 * is the id a connection keeps (4 bytes in struct conn), so an entry never
 * moves while it is counted: growing the bucket array rehashes the chains,
 * growing the pool keeps indices. An entry whose count falls to 0 is
 * unlinked from its chain and put on the free list at once, so a chain holds
 * only live addresses and a lookup always walks the whole chain before
 * anything new is linked: no tombstones, no slot reused behind the
 * address's back (issue 11 item 7, where open addressing reused a slot whose
 * count had fallen to 0 before reaching the address's own entry further
 * along the probe sequence).
 *
 * Rejected: open addressing with backward-shift deletion (moves entries, so
 * a connection would have to keep its 16-byte address to find its entry
 * again: over the struct conn budget).
 *
 * The hash is keyed with a random value per table, so chains cannot be
 * lengthened by addresses chosen offline. Not thread-safe: one per worker. */
#include "server/ipcount.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/err.h"

#define IPCOUNT_DEFAULT_SLOTS 1024u

struct ip_entry {
    uint8_t addr[16]; /* IPv6, or IPv4-mapped IPv6 */
    uint32_t count;   /* connections; 0 only while on the free list */
    uint32_t next;    /* next in the bucket's chain or on the free list; 0: end */
};

struct ipcount { /* owned by its worker */
    uint32_t limit;
    uint32_t nbuckets;  /* power of two, >= live addresses */
    uint32_t *bucket;   /* first entry index of each chain; 0: empty */
    struct ip_entry *e; /* e[0] is never used: index 0 means "none" */
    uint32_t ecap;      /* entries allocated, e[0] included */
    uint32_t eused;     /* e[1..eused) have been handed out at least once */
    uint32_t free_head; /* reusable entries */
    uint32_t live;      /* addresses with count > 0 */
    uint64_t k0, k1;    /* hash key */
};

static uint32_t round_pow2(uint32_t n)
{
    uint32_t p = 16;
    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

struct ipcount *ipcount_new(uint32_t limit, uint32_t slots_hint)
{
    struct ipcount *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->limit = limit ? limit : 1;
    t->nbuckets = round_pow2(slots_hint ? slots_hint : IPCOUNT_DEFAULT_SLOTS);
    t->ecap = t->nbuckets + 1;
    t->eused = 1;
    t->bucket = calloc(t->nbuckets, sizeof *t->bucket);
    t->e = calloc(t->ecap, sizeof *t->e);
    if (!t->bucket || !t->e) {
        ipcount_free(t);
        return NULL;
    }
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uintptr_t)t;
        k[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full ^ (uintptr_t)&ts;
    }
    t->k0 = k[0];
    t->k1 = k[1] | 1;
    return t;
}

void ipcount_set_limit(struct ipcount *t, uint32_t limit)
{
    t->limit = limit ? limit : 1;
}

void ipcount_free(struct ipcount *t)
{
    if (!t)
        return;
    free(t->bucket);
    free(t->e);
    free(t);
}

/* The address as 16 bytes; 0, or WSP_EINVAL for another family. */
static int key_of(const struct sockaddr *sa, uint8_t out[16])
{
    if (sa->sa_family == AF_INET) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(out, mapped, 12);
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return WSP_EINVAL;
}

static uint32_t bucket_of(const struct ipcount *t, const uint8_t key[16])
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    uint64_t h = (a ^ t->k0) * 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    h = (h ^ b ^ t->k1) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    return (uint32_t)h & (t->nbuckets - 1);
}

static uint32_t find(const struct ipcount *t, const uint8_t key[16], uint32_t b)
{
    for (uint32_t i = t->bucket[b]; i; i = t->e[i].next)
        if (!memcmp(t->e[i].addr, key, 16))
            return i;
    return 0;
}

/* Doubles the bucket array when addresses outnumber buckets, so chains
 * stay short on average. A failed allocation only leaves chains longer. */
static void maybe_grow_buckets(struct ipcount *t)
{
    if (t->live < t->nbuckets || t->nbuckets >= (1u << 30))
        return;
    uint32_t *nb = calloc((size_t)t->nbuckets * 2, sizeof *nb);
    if (!nb)
        return;
    free(t->bucket);
    t->bucket = nb;
    t->nbuckets *= 2;
    for (uint32_t i = 1; i < t->eused; i++) {
        if (!t->e[i].count)
            continue; /* on the free list */
        uint32_t b = bucket_of(t, t->e[i].addr);
        t->e[i].next = t->bucket[b];
        t->bucket[b] = i;
    }
}

static uint32_t entry_get(struct ipcount *t)
{
    if (t->free_head) {
        uint32_t i = t->free_head;
        t->free_head = t->e[i].next;
        return i;
    }
    if (t->eused == t->ecap) {
        if (t->ecap > UINT32_MAX / 2)
            return 0;
        struct ip_entry *ne = realloc(t->e, sizeof *ne * (size_t)t->ecap * 2);
        if (!ne)
            return 0;
        t->e = ne;
        t->ecap *= 2;
    }
    return t->eused++;
}

int ipcount_acquire(struct ipcount *t, const struct sockaddr *peer, uint32_t *id)
{
    uint8_t key[16];
    *id = 0;
    if (key_of(peer, key) < 0)
        return WSP_EINVAL;
    uint32_t b = bucket_of(t, key);
    uint32_t i = find(t, key, b);
    if (i) {
        if (t->e[i].count >= t->limit)
            return WSP_ETOOBIG;
        t->e[i].count++;
        *id = i;
        return 0;
    }
    i = entry_get(t);
    if (!i)
        return WSP_ENOMEM;
    memcpy(t->e[i].addr, key, 16);
    t->e[i].count = 1;
    t->e[i].next = t->bucket[b];
    t->bucket[b] = i;
    t->live++;
    maybe_grow_buckets(t);
    *id = i;
    return 0;
}

void ipcount_release(struct ipcount *t, uint32_t id)
{
    if (!id || id >= t->eused || !t->e[id].count)
        return;
    if (--t->e[id].count)
        return;
    /* the last one: unlink, so the chain holds only live addresses */
    uint32_t *link = &t->bucket[bucket_of(t, t->e[id].addr)];
    while (*link && *link != id)
        link = &t->e[*link].next;
    if (*link)
        *link = t->e[id].next;
    t->e[id].next = t->free_head;
    t->free_head = id;
    t->live--;
}

uint32_t ipcount_get(const struct ipcount *t, const struct sockaddr *peer)
{
    uint8_t key[16];
    if (key_of(peer, key) < 0)
        return 0;
    uint32_t i = find(t, key, bucket_of(t, key));
    return i ? t->e[i].count : 0;
}

uint32_t ipcount_addresses(const struct ipcount *t)
{
    return t->live;
}
