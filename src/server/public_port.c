/* public_port.c - what the public port does with a connection's events:
 * the table of upward calls (conn_host_ops, server_int.h) that a worker
 * hands the connection core.
 *
 * What it does not do: any of the work itself. It only ties the core's
 * events to the layers above it (routes.c for requests, proxy_conn.c for
 * the PROXY header and X-Forwarded-For, auth_conn.c for tokens), so that
 * conn.c calls none of them by name and the include graph points one way:
 * these layers use the core, the core uses none of them. */
#include "server/auth_conn.h"
#include "server/server_int.h"

static void on_request(struct worker *w, struct conn *c, struct http_req *r, uint8_t *rest,
                       size_t rest_len)
{
    /* behind a trusted proxy the client is named in the head: counted
     * (and maybe refused) before the request is routed */
    if ((c->flags & CF_TRUSTED) && proxy_conn_forwarded(w, c, r) < 0)
        return;
    routes_handle(w, c, r, rest, rest_len);
}

static void on_forget(struct worker *w, struct conn *c)
{
    (void)w;
    auth_conn_forget(c); /* its token's entry, if it had one */
}

const struct conn_host_ops public_port_ops = {
    .on_preamble = proxy_conn_read,
    .on_request = on_request,
    .on_refused = routes_access_log_conn,
    .on_forget = on_forget,
};
