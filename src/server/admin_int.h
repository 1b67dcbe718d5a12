/* admin_int.h - what the admin port (admin.c) hands its control routes
 * (admin_ctl.c): the node, the control channel, a scratch buffer and the
 * ways to answer. admin_ctl.c calls nothing in admin.c; it answers through
 * these, so the two files are layers (admin.c above), not a circle.
 * Private to src/server/; master loop only. */
#ifndef WSP_SERVER_ADMIN_INT_H
#define WSP_SERVER_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http_parse.h"

struct admin_conn; /* the routes see only this pointer (and its head) */
struct admin_ctl_env;
struct node;
struct control_master;

/* How a route answers the request it was given. */
struct admin_reply_ops {
    /* the current request, with a JSON body */
    void (*json)(struct admin_conn *c, int status, const char *body, size_t n, bool keep);
    /* {"error": msg}; extra: more header lines or NULL */
    void (*error)(struct admin_conn *c, int status, const char *msg, bool keep, const char *extra);
    /* the answer comes later, by answer(): the connection reads no further
     * request meanwhile (answers stay in order) */
    void (*wait)(struct admin_conn *c, bool keep);
    /* answers the request wait() put aside and carries on with the
     * connection's pipelined requests */
    void (*answer)(struct admin_conn *c, int status, const char *body, size_t n);
};

struct admin_ctl_env {
    struct node *node;
    struct control_master *ctl; /* NULL if it could not be created: 503 */
    char *scratch;              /* answers are rendered here (free between answers) */
    size_t scratch_cap;
    const struct admin_reply_ops *reply;
};

/* Every struct admin_conn begins with this, so an answer that arrives
 * later (control_master's callback gets the connection) finds its port. */
struct admin_conn_head {
    const struct admin_ctl_env *env;
};

static inline const struct admin_ctl_env *admin_conn_env(const struct admin_conn *c)
{
    return ((const struct admin_conn_head *)(const void *)c)->env;
}

/* admin_ctl.c: POST /disconnect, GET /topics, GET /presence/<topic>
 * (authorized already). True when path was one of them (answered now or
 * put aside); false: not a control route. */
bool admin_ctl_route(const struct admin_ctl_env *e, struct admin_conn *c, const struct http_req *r,
                     const char *path, size_t path_len, const uint8_t *body, size_t blen,
                     bool keep);

#endif
