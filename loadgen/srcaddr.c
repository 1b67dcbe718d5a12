/* srcaddr.c - source address sets: parsing and iteration (see srcaddr.h).
 *
 * Pure string and integer work. Invariant of a parsed set: count >= 1, and
 * srcaddr_at() never returns 127.0.0.0 or an address outside the block. */
#include "srcaddr.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define LOOPBACK_NET 0x7f000000u /* 127.0.0.0 */

int srcaddr_parse_ip(const char *s, size_t len, uint32_t *ip)
{
    uint32_t v = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.')
                return WSP_EINVAL;
            i++;
        }
        unsigned n = 0, digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
            n = n * 10 + (unsigned)(s[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || digits > 3 || n > 255)
            return WSP_EINVAL;
        v = (v << 8) | n;
    }
    if (i != len)
        return WSP_EINVAL;
    *ip = v;
    return 0;
}

int srcaddr_parse_cidr(const char *s, struct srcaddr_set *set)
{
    const char *slash = strchr(s, '/');
    uint32_t ip;
    unsigned prefix = 32;
    if (slash) {
        const char *p = slash + 1;
        unsigned n = 0, digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 3) {
            n = n * 10 + (unsigned)(*p - '0');
            p++;
            digits++;
        }
        if (digits == 0 || *p != '\0' || n < 8 || n > 32)
            return WSP_EINVAL;
        prefix = n;
    }
    if (srcaddr_parse_ip(s, slash ? (size_t)(slash - s) : strlen(s), &ip) < 0)
        return WSP_EINVAL;
    uint32_t size = prefix == 32 ? 1u : (uint32_t)1 << (32 - prefix);
    uint32_t net = prefix == 32 ? ip : ip & ~(size - 1);
    if (net == 0)
        return WSP_EINVAL;
    memset(set, 0, sizeof *set);
    set->base = net;
    set->count = size;
    if (net == LOOPBACK_NET) {
        /* 127.0.0.0 is the network address: start one later. */
        if (size == 1)
            return WSP_EINVAL;
        set->base = net + 1;
        set->count = size - 1;
    }
    return 0;
}

int srcaddr_parse_list(const char *s, struct srcaddr_set *set)
{
    memset(set, 0, sizeof *set);
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        uint32_t ip;
        if (len == 0 || srcaddr_parse_ip(p, len, &ip) < 0 || ip == 0 || ip == LOOPBACK_NET)
            return WSP_EINVAL;
        if (set->n_list == SRCADDR_MAX_LIST)
            return WSP_ETOOBIG;
        set->list[set->n_list++] = ip;
        if (!end)
            break;
        p = end + 1;
    }
    set->count = set->n_list;
    set->base = set->list[0];
    return 0;
}

uint32_t srcaddr_at(const struct srcaddr_set *set, uint64_t i)
{
    if (set->count == 0)
        return 0;
    uint32_t k = (uint32_t)(i % set->count);
    return set->n_list ? set->list[k] : set->base + k;
}

void srcaddr_iter_init(struct srcaddr_iter *it, const struct srcaddr_set *set, uint32_t proc,
                       uint32_t nproc)
{
    it->set = set;
    it->next = set->count ? proc % set->count : 0;
    it->step = nproc ? nproc : 1;
}

uint32_t srcaddr_iter_next(struct srcaddr_iter *it)
{
    uint32_t ip = srcaddr_at(it->set, it->next);
    /* Together the processes visit every address: with count a multiple of
     * nproc each owns one residue class; otherwise the walks interleave. */
    it->next = (it->next + it->step) % (it->set->count ? it->set->count : 1);
    return ip;
}

char *srcaddr_format(uint32_t ip, char *out)
{
    snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    return out;
}
