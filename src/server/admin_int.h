/* admin_int.h - what admin.c lends the admin port's other route files
 * (admin_ctl.c). Private to src/server/; master loop only. */
#ifndef WSP_SERVER_ADMIN_INT_H
#define WSP_SERVER_ADMIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http_parse.h"

struct admin;
struct admin_conn;
struct node;
struct control_master;

struct node *admin_master(const struct admin *a);
struct admin *admin_conn_admin(const struct admin_conn *c);
/* NULL if it could not be created (then control routes answer 503). */
struct control_master *admin_control(const struct admin *a);
/* The 1 MiB buffer answers are rendered into (free between answers). */
char *admin_scratch(const struct admin *a, size_t *cap);

/* Answers the current request with a JSON body. */
void admin_conn_json(struct admin_conn *c, int status, const char *body, size_t n, bool keep);
/* Answers {"error": msg}; extra: more header lines or NULL. */
void admin_conn_error(struct admin_conn *c, int status, const char *msg, bool keep,
                      const char *extra);
/* The current request is answered later, by admin_conn_answer: the
 * connection reads no further request meanwhile (answers stay in order). */
void admin_conn_wait(struct admin_conn *c, bool keep);
/* Answers the request admin_conn_wait put aside, and carries on with the
 * connection's pipelined requests. */
void admin_conn_answer(struct admin_conn *c, int status, const char *body, size_t n);

/* admin_ctl.c: POST /disconnect, GET /topics, GET /presence/<topic>
 * (authorized already). True when path was one of them (answered now or
 * put aside); false: not a control route. */
bool admin_ctl_route(struct admin *a, struct admin_conn *c, const struct http_req *r,
                     const char *path, size_t path_len, const uint8_t *body, size_t blen,
                     bool keep);

#endif
