/* net.c - listeners and address parsing (see net.h). */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

static int parse_port(const char *s, uint16_t *port)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 65535)
        return WSP_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static int parse_host(const char *host, uint16_t port, struct net_addr *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        out->len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        out->len = sizeof *v6;
        return 0;
    }
    return WSP_EINVAL;
}

int net_addr_parse(const char *s, const char *default_host, struct net_addr *out)
{
    char host[128];
    const char *port_s;
    uint16_t port;
    if (!s || !*s || strlen(s) >= sizeof host)
        return WSP_EINVAL;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return WSP_EINVAL;
        size_t n = (size_t)(rb - s - 1);
        memcpy(host, s + 1, n);
        host[n] = '\0';
        port_s = rb + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) {
            snprintf(host, sizeof host, "%s", default_host);
            port_s = s;
        } else {
            if (strchr(s, ':') != colon)
                return WSP_EINVAL; /* bare IPv6 needs brackets */
            size_t n = (size_t)(colon - s);
            memcpy(host, s, n);
            host[n] = '\0';
            if (n == 0)
                snprintf(host, sizeof host, "%s", default_host);
            port_s = colon + 1;
        }
    }
    if (parse_port(port_s, &port) < 0)
        return WSP_EINVAL;
    return parse_host(host, port, out);
}

void net_addr_format(const struct net_addr *a, char *out, size_t cap)
{
    char h[INET6_ADDRSTRLEN] = "?";
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &v4->sin_addr, h, sizeof h);
        snprintf(out, cap, "%s:%u", h, ntohs(v4->sin_port));
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &v6->sin6_addr, h, sizeof h);
        snprintf(out, cap, "[%s]:%u", h, ntohs(v6->sin6_port));
    }
}

uint16_t net_addr_port(const struct net_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

void net_addr_set_port(struct net_addr *a, uint16_t port)
{
    if (a->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

bool net_addr_is_loopback(const struct net_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        uint32_t ip = ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr);
        return (ip >> 24) == 127;
    }
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
}

int net_listen(const struct net_addr *a, int backlog, bool reuseport)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        goto fail;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
        goto fail;
    if (listen(fd, backlog) < 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

int net_listen_probe(struct net_addr *a)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* SO_REUSEADDR only: TIME_WAIT leftovers of a previous run do not
     * count, a listener does */
    int one = 1, rc = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
        rc = -errno;
    else if (net_addr_port(a) == 0)
        net_addr_set_port(a, net_local_port(fd));
    close(fd);
    return rc;
}

uint16_t net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}
