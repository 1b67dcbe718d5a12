/* routes_log.c - --access-log: one line per upgrade attempt (WebSocket or
 * SSE), accepted or refused, and per refusal decided before a request could
 * be read (the per-IP limit at accept, a bad head, a PROXY header, a head
 * timeout).
 *
 * What it does not do: decide anything (routes.c, conn.c, worker.c do, and
 * call here once the decision is made). Only the path and the ?topic=
 * values of a target are kept: the rest of the query may carry a token.
 * Nothing at all is done while the option is off. */
#define WSP_LOG_SUB WSP_SUB_HTTP /* core/log.h: this file's log lines */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "net/net.h"
#include "server/server_int.h"

/* --access-log: one line per upgrade attempt, accepted or refused. Only
 * the path and the ?topic= values of the target are kept: the rest of the
 * query may carry a token. One getpeername and one write(2) per
 * handshake, and nothing at all when the option is off. */
static void access_line(const char *peer, const char *path, const char *topics, int status,
                        const char *why)
{
    char reason[128]; /* the reply body, without its newline */
    snprintf(reason, sizeof reason, "%.*s", why ? (int)strcspn(why, "\n") : 0, why ? why : "");
    struct wsp_log_field f[] = {
        {"event", "handshake", 0}, {"status", NULL, status == 0 ? 101 : status},
        {"reason", reason, 0},     {"peer", peer, 0},
        {"path", path, 0},         {"topics", topics, 0},
    };
    wsp_log_fields(WSP_LOG_INFO, f, sizeof f / sizeof f[0], "handshake %s",
                   status == 0 ? "accepted" : "refused");
}

void routes_access_log_peer(struct worker *w, const struct sockaddr *peer, socklen_t len,
                            int status, const char *why)
{
    if (!w->cfg->access_log)
        return;
    struct net_addr a = {.len = len};
    char pa[80] = "?";
    if (len > 0 && len <= sizeof a.ss) {
        memcpy(&a.ss, peer, len);
        net_addr_format(&a, pa, sizeof pa);
    }
    access_line(pa, "", "", status, why);
}

void routes_access_log_conn(struct worker *w, struct conn *c, int status, const char *why)
{
    if (!w->cfg->access_log)
        return;
    struct net_addr peer = {.len = sizeof peer.ss};
    if (getpeername(c->fd, (struct sockaddr *)&peer.ss, &peer.len) < 0)
        peer.len = 0;
    routes_access_log_peer(w, (const struct sockaddr *)&peer.ss, peer.len, status, why);
}

void routes_access_log_request(struct worker *w, struct conn *c, const struct http_req *r,
                               int status, const char *why)
{
    if (!w->cfg->access_log)
        return;
    struct net_addr peer = {.len = sizeof peer.ss};
    char pa[80] = "?";
    if (getpeername(c->fd, (struct sockaddr *)&peer.ss, &peer.len) == 0)
        net_addr_format(&peer, pa, sizeof pa);
    char path[256], topics[256] = "";
    snprintf(path, sizeof path, "%.*s", (int)(r->path_len < 255 ? r->path_len : 255), r->path);
    size_t pos = 0, kl, vl, tl = 0;
    const char *k, *v;
    while (r->query && http_query_next(r->query, r->query_len, &pos, &k, &kl, &v, &vl) == 1)
        if (v && http_str_ieq(k, kl, "topic") && tl + vl + 2 < sizeof topics)
            tl += (size_t)snprintf(topics + tl, sizeof topics - tl, "%s%.*s", tl ? "," : "",
                                   (int)vl, v);
    access_line(pa, path, topics, status, why);
}
