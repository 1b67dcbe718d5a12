/* proxy_conn.c - who the client really is when a trusted load balancer
 * stands in front: the PROXY protocol header (before TLS and HTTP) and
 * X-Forwarded-For (in the request head).
 *
 * What it does not do: parse (net/proxy_proto.c) or decide the per-IP
 * limit (ipcount.c); it feeds the address a trusted proxy names to the
 * same ipcount_acquire the worker uses at accept for everybody else.
 *
 * Invariants: the header is read off the socket without reading a byte
 * past it (peek, then take exactly its length), so what follows — an HTTP
 * request or a TLS ClientHello — stays in the socket for the normal path.
 * The bytes of a header that is still incomplete are all header bytes
 * (proxy_parse answers WSP_EAGAIN only then), so they are taken off the
 * socket into the connection's spill and epoll does not spin on them. A
 * connection from a trusted proxy is counted (ip_id != 0) only once the
 * client's address is known, and at most once. */
#define WSP_LOG_SUB WSP_SUB_PROXY /* core/log.h: this file's log lines */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/log.h"
#include "core/wsp_assert.h"
#include "net/proxy_proto.h"
#include "server/server_int.h"

static bool is_trusted(const struct worker *w, const struct sockaddr *sa)
{
    return proxy_cidr_match(w->cfg->trusted, w->cfg->n_trusted, sa);
}

static void refuse(struct worker *w, struct conn *c)
{
    w->st->handshake_fail[HS_FAIL_PROXY]++;
    routes_access_log_conn(w, c, 400, "bad, missing or untrusted PROXY header (closed)");
    conn_kill(w, c, 0);
}

/* The client is addr: unless it is a trusted proxy itself, it is no longer
 * the connection's trusted hop, and it counts for the per-IP limit. */
static int client_is(struct worker *w, struct conn *c, const struct sockaddr_storage *addr)
{
    if (is_trusted(w, (const struct sockaddr *)addr))
        return 0; /* a proxy in front of a proxy: the next hop tells */
    c->flags &= (uint16_t)~CF_TRUSTED;
    if (!w->ips)
        return 0;
    WSP_ASSERT(c->ip_id == 0);
    if (ipcount_acquire(w->ips, (const struct sockaddr *)addr, &c->ip_id) != WSP_ETOOBIG)
        return 0; /* as at accept: our own ENOMEM refuses nobody */
    w->st->handshake_fail[HS_FAIL_PER_IP]++;
    routes_access_log_conn(w, c, 429, "too many connections from this address");
    if (w->tls && !c->tp) {
        conn_kill(w, c, 0); /* before the TLS handshake: nothing can be said */
        return -1;
    }
    static const char body[] = "too many connections from this address\n";
    conn_http_reply(w, c, 429, "text/plain; charset=utf-8", body, sizeof body - 1,
                    "Retry-After: 5\r\n");
    return -1;
}

static int sniff(struct worker *w, struct conn *c)
{
    uint8_t b[8];
    ssize_t n = recv(c->fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n <= 0) {
        conn_kill(w, c, 0);
        return -1;
    }
    if (proxy_sniff(b, (size_t)n) == 1) {
        log_ratelimited(WSP_LOG_WARN,
                        "PROXY header from an address not in --trusted-proxies: refused");
        refuse(w, c);
        return -1;
    }
    /* not a header, or too few bytes to tell (then HTTP answers 400 and
     * TLS fails: a header cannot pass for either) */
    c->flags &= (uint16_t)~CF_PROXY_SNIFF;
    return 1;
}

int proxy_conn_read(struct worker *w, struct conn *c)
{
    if (!(c->flags & CF_PROXY_HDR))
        return sniff(w, c);
    size_t have = c->in ? c->in->len : 0;
    uint8_t *buf = w->rbuf;
    WSP_ASSERT(have < w->rbuf_size);
    if (have)
        memcpy(buf, c->in->data, have);
    ssize_t n = recv(c->fd, buf + have, w->rbuf_size - have, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n <= 0) { /* gone before the header was complete */
        conn_kill(w, c, 0);
        return -1;
    }
    size_t len = have + (size_t)n;
    struct proxy_hdr h;
    ssize_t r = proxy_parse(buf, len, &h);
    if (r == WSP_EAGAIN && len < w->rbuf_size) {
        /* all header bytes: take them off the socket */
        if (!c->in || c->in->cap < len) {
            size_t cap = len < 128 ? 128 : len;
            struct conn_spill *s = realloc(c->in, sizeof *s + cap);
            if (!s) {
                conn_kill(w, c, 0);
                return -1;
            }
            s->cap = (uint32_t)cap;
            s->len = (uint32_t)have;
            c->in = s;
        }
        ssize_t got = recv(c->fd, c->in->data + have, (size_t)n, MSG_DONTWAIT);
        if (got <= 0) {
            conn_kill(w, c, 0);
            return -1;
        }
        c->in->len += (uint32_t)got;
        return 0;
    }
    if (r < 0) { /* invalid, or longer than the receive buffer */
        log_ratelimited(WSP_LOG_WARN, "bad PROXY header from a trusted proxy: refused");
        refuse(w, c);
        return -1;
    }
    /* take exactly the rest of the header; what follows stays queued */
    size_t take = (size_t)r - have;
    ssize_t got = take ? recv(c->fd, buf + have, take, MSG_DONTWAIT) : 0;
    if (got != (ssize_t)take) {
        conn_kill(w, c, 0);
        return -1;
    }
    free(c->in);
    c->in = NULL;
    c->flags &= (uint16_t)~CF_PROXY_HDR;
    w->st->proxy_headers++;
    /* LOCAL / UNKNOWN: the proxy speaks for itself (health checks) */
    if (!h.local && client_is(w, c, &h.src) < 0)
        return -1;
    /* §2: the header comes before anything else, TLS included */
    if (conn_transport_start(w, c) < 0) {
        conn_kill(w, c, 0);
        return -1;
    }
    return 1;
}

int proxy_conn_forwarded(struct worker *w, struct conn *c, const struct http_req *r)
{
    /* several X-Forwarded-For fields are one list in order (RFC 9110
     * §5.3): walk them from the last, the nearest proxy's */
    for (size_t i = r->num_headers; i-- > 0;) {
        const struct http_header *hd = &r->headers[i];
        if (hd->name_len != 15 || strncasecmp(hd->name, "X-Forwarded-For", 15))
            continue;
        struct sockaddr_storage ss;
        int rc =
            proxy_xff_client(hd->value, hd->value_len, w->cfg->trusted, w->cfg->n_trusted, &ss);
        if (rc == WSP_EAGAIN)
            continue; /* only proxies in this field: the one before tells */
        if (rc < 0) {
            w->st->handshake_fail[HS_FAIL_PROXY]++;
            routes_access_log_conn(w, c, 400, "bad X-Forwarded-For");
            static const char body[] = "bad X-Forwarded-For\n";
            conn_http_reply(w, c, 400, "text/plain; charset=utf-8", body, sizeof body - 1, NULL);
            return -1;
        }
        w->st->forwarded_for++;
        return client_is(w, c, &ss);
    }
    return 0; /* no client named: the proxy's own request, not counted */
}
