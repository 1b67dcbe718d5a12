/* ipcount.h - connections per source address, for --max-conns-per-ip.
 *
 * One table per worker (not shared, no locks). A connection takes a slot
 * for its address when it is accepted and hands it back when it is freed;
 * the table refuses the (limit+1)-th concurrent connection of an address.
 * Addresses are compared in full (IPv4 as IPv4-mapped IPv6), never by hash
 * alone. */
#ifndef WSP_IPCOUNT_H
#define WSP_IPCOUNT_H

#include <stdint.h>
#include <sys/socket.h>

struct ipcount;

/* A table admitting at most `limit` (> 0) connections per address;
 * `slots_hint` sizes it at start (0: a default; it grows on demand).
 * NULL when out of memory. */
struct ipcount *ipcount_new(uint32_t limit, uint32_t slots_hint);
/* NULL is a no-op. */
void ipcount_free(struct ipcount *t);
/* A new limit (> 0) for acquisitions from now on (SIGHUP): connections
 * already counted stay, even past it. */
void ipcount_set_limit(struct ipcount *t, uint32_t limit);

/* Counts one more connection from peer (AF_INET or AF_INET6). Returns 0 and
 * sets *id (never 0) to hand to ipcount_release; WSP_ETOOBIG when the
 * address already has `limit` connections (nothing counted); WSP_EINVAL for
 * another address family; WSP_ENOMEM (nothing counted). */
int ipcount_acquire(struct ipcount *t, const struct sockaddr *peer, uint32_t *id);
/* Gives back one connection counted by ipcount_acquire. id 0 is a no-op. */
void ipcount_release(struct ipcount *t, uint32_t id);
/* Connections currently counted for peer (0 if unknown). */
uint32_t ipcount_get(const struct ipcount *t, const struct sockaddr *peer);
/* Distinct addresses currently counted. */
uint32_t ipcount_addresses(const struct ipcount *t);

#endif
