/* net.h - sockets: listeners and address parsing.
 *
 * Thin wrappers that return 0/fd or -errno and log nothing: callers decide
 * what a failure means. IPv4 and IPv6 literals; no name resolution except
 * "localhost". */
#ifndef WSP_NET_H
#define WSP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Parses "[ADDR:]PORT", "ADDR:PORT", "[v6]:PORT" or "PORT" (ADDR defaults to
 * default_host). Returns 0 or WSP_EINVAL. */
int net_addr_parse(const char *s, const char *default_host, struct net_addr *out);
/* "127.0.0.1:8080" / "[::1]:8080" into out (cap >= 64). */
void net_addr_format(const struct net_addr *a, char *out, size_t cap);
uint16_t net_addr_port(const struct net_addr *a);
void net_addr_set_port(struct net_addr *a, uint16_t port);
/* True for 127.0.0.0/8 and ::1. */
bool net_addr_is_loopback(const struct net_addr *a);

/* A non-blocking, close-on-exec listening TCP socket (SO_REUSEADDR, and
 * SO_REUSEPORT when reuseport). Returns the fd or -errno. */
int net_listen(const struct net_addr *a, int backlog, bool reuseport);
/* Before joining a port with SO_REUSEPORT: binds a throw-away socket
 * without it, which fails with -EADDRINUSE while any other socket listens on
 * a (any process, even one that set SO_REUSEPORT itself, so a second server
 * cannot silently share the port). With port 0, stores the free port found
 * in a. 0 or -errno; nothing stays bound. */
int net_listen_probe(struct net_addr *a);
/* The port a socket is bound to (after binding port 0). */
uint16_t net_local_port(int fd);

#endif
