/* proxy_proto.h - the PROXY protocol (HAProxy, versions 1 and 2) header a
 * load balancer sends before the client's first byte, and the list of
 * addresses trusted to send it (--trusted-proxies).
 *
 * Pure functions over byte buffers: no sockets, no allocation, no state
 * between calls. Who may send a header and what the server does with it is
 * the worker's business (server/proxy_conn.c). */
#ifndef WSP_PROXY_PROTO_H
#define WSP_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define PROXY_V1_MAX_BYTES 107  /* "PROXY" ... CRLF included (spec §2.1) */
#define PROXY_V2_FIXED_BYTES 16 /* signature, ver/cmd, family, length */
#define PROXY_V2_MAX_BYTES (PROXY_V2_FIXED_BYTES + 65535)

struct proxy_hdr {
    uint8_t version;             /* 1 or 2 */
    bool local;                  /* v2 LOCAL, v1 UNKNOWN, or an address family other than
                                  * INET/INET6 (UNSPEC, UNIX): no client address; the
                                  * socket's own addresses stand */
    struct sockaddr_storage src; /* unless local: AF_INET or AF_INET6, port set */
    struct sockaddr_storage dst; /* unless local: same family as src */
};

/* Parses a header at the start of buf[0..len). Returns its length (> 0; the
 * bytes after it belong to the client: HTTP or a TLS ClientHello),
 * WSP_EAGAIN if buf is a proper prefix of a header that may still be valid,
 * or WSP_EPROTO for anything else (not a header, malformed, a v1 line
 * longer than 107 bytes, a v2 command/family/transport it does not know, an
 * address block shorter than its family needs). v2 TLVs are skipped, not
 * interpreted. A prefix of the input gives WSP_EAGAIN or the same answer as
 * the whole; buf is never read past len. h is meaningful only on success. */
ssize_t proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *h);

/* Whether buf starts like a PROXY header: 1 (a v1 or v2 signature, as far
 * as it goes, at least 6 bytes of it), 0 (it cannot be one), or WSP_EAGAIN
 * (fewer bytes than needed to tell). */
int proxy_sniff(const uint8_t *buf, size_t len);

/* ---- trusted addresses ---- */

struct proxy_cidr {
    uint8_t addr[16]; /* IPv6, or IPv4-mapped IPv6 */
    uint8_t bits;     /* prefix length over the 16 bytes (IPv4 /n is 96+n) */
};

/* Parses "10.0.0.0/8", "192.0.2.7", "2001:db8::/32" or "::1". The address
 * bits past the prefix must be zero ("10.1.0.0/8" is refused as a likely
 * typo). 0 or WSP_EINVAL. */
int proxy_cidr_parse(const char *s, struct proxy_cidr *out);
/* True if peer (AF_INET or AF_INET6; IPv4-mapped IPv6 matches IPv4
 * entries) lies inside one of the n entries. */
bool proxy_cidr_match(const struct proxy_cidr *list, size_t n, const struct sockaddr *peer);

/* X-Forwarded-For: the address a request came from when it went through
 * proxies. value is the header's value (a comma list, the nearest proxy's
 * entry last); the rightmost entry that is not inside the trusted list is
 * written to out (port 0). Entries with a port ("192.0.2.1:1234",
 * "[2001:db8::1]:80") are accepted. 0 on success; WSP_EAGAIN when every
 * entry is trusted (nothing to take); WSP_EPROTO when the rightmost
 * untrusted entry — or any entry walked before it — is not an IP address
 * (then the header cannot be trusted at all). */
int proxy_xff_client(const char *value, size_t len, const struct proxy_cidr *trusted, size_t n,
                     struct sockaddr_storage *out);

#endif
