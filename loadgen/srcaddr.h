/* srcaddr.h - the set of local source addresses the load generator binds to.
 *
 * Linux's connect() searches the ephemeral port range per source address;
 * beyond ~30k connections from one address it slows sharply, so the bench
 * spreads its connections over many addresses (any of 127.0.0.0/8 works on
 * loopback). A set is either a CIDR block ("127.0.1.0/20") or a comma list of
 * dotted quads; 127.0.0.0 itself is never used. Addresses are in host byte
 * order. Pure: no sockets, no allocation. */
#ifndef WSP_LOADGEN_SRCADDR_H
#define WSP_LOADGEN_SRCADDR_H

#include <stddef.h>
#include <stdint.h>

#define SRCADDR_MAX_LIST 64

struct srcaddr_set {
    uint32_t base;   /* CIDR: first usable address */
    uint32_t count;  /* addresses in the set (>= 1 when valid) */
    uint32_t n_list; /* list form: entries in list[]; 0 for CIDR */
    uint32_t list[SRCADDR_MAX_LIST];
};

/* Parses one dotted quad ("127.0.0.1", exactly four decimal parts 0..255,
 * no leading '+'/space). len bytes of s. Returns 0 or WSP_EINVAL. */
int srcaddr_parse_ip(const char *s, size_t len, uint32_t *ip);

/* "A.B.C.D/P" (P 8..32). The host bits of A.B.C.D are ignored (the block is
 * aligned); 127.0.0.0 is skipped if the block contains it.
 * Returns 0 or WSP_EINVAL. */
int srcaddr_parse_cidr(const char *s, struct srcaddr_set *set);

/* "IP,IP,..." (1..SRCADDR_MAX_LIST entries, no empty items, 0.0.0.0 and
 * 127.0.0.0 rejected). Returns 0 or WSP_EINVAL (WSP_ETOOBIG if too many). */
int srcaddr_parse_list(const char *s, struct srcaddr_set *set);

/* The i-th address of the set, wrapping (i mod count). */
uint32_t srcaddr_at(const struct srcaddr_set *set, uint64_t i);

/* Iteration for one of `nproc` processes: process `proc` takes addresses
 * proc, proc + nproc, proc + 2*nproc, ... (wrapping), so processes start on
 * different addresses and together use all of them. */
struct srcaddr_iter {
    const struct srcaddr_set *set;
    uint64_t next; /* index into the set */
    uint32_t step;
};
void srcaddr_iter_init(struct srcaddr_iter *it, const struct srcaddr_set *set, uint32_t proc,
                       uint32_t nproc);
uint32_t srcaddr_iter_next(struct srcaddr_iter *it);

/* Dotted quad into out (>= 16 bytes). Returns out. */
char *srcaddr_format(uint32_t ip, char *out);

#endif
