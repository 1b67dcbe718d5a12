/* auth_conn.h - subscriber tokens at the door and while connected
 * (docs/auth.md): the server side of src/auth/. Private to src/server/.
 *
 * Process-wide state, one copy per process: the key set (loaded by the
 * master before fork, inherited, reloaded by each process on SIGHUP) and,
 * in a worker, the side table of connections admitted with a token (their
 * interned user and expiry, a min-heap by expiry). A connection without a
 * token costs nothing here; struct conn does not grow. */
#ifndef WSP_SERVER_AUTH_CONN_H
#define WSP_SERVER_AUTH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "auth/jwt.h"
#include "config/config.h"
#include "http/http_parse.h"

struct worker;
struct conn;

#define AUTH_CLOSE_EXPIRED 4001 /* docs/auth.md: fetch a new token, then reconnect */

/* Master, before fork: loads the configured key files. 0, or 2 after one
 * clear line on err. */
int auth_conn_setup(const struct wsp_config *cfg, FILE *err);
/* SIGHUP, in the master and in each worker: reloads the key files; a broken
 * file keeps the old keys and logs why. True if keys were reloaded;
 * false with nothing configured or on failure. */
bool auth_conn_reload(const struct wsp_config *cfg);

/* What the door decided for one upgrade; owned by the caller's stack. */
struct auth_ticket {
    bool check; /* auth required: topics must be granted */
    bool have_token;
    struct jwt_claims claims; /* when have_token */
    enum auth_reason refused; /* set by routes.c when a topic check failed */
};

/* Reads and verifies the request's token. 0: go on (t filled; release it);
 * else 401 with t->refused set and nothing to release: the caller logs the
 * refusal (--access-log) and answers it with auth_conn_refuse. */
int auth_conn_admit(struct worker *w, const struct http_req *r, struct auth_ticket *t);
/* May t subscribe topic[0..n) (n == 0: no topic, "/")? AUTH_OK, or
 * AUTH_MISSING (no token, topic not public: 401) or AUTH_TOPIC_DENIED (not
 * granted by the token: 403). Counts nothing, sends nothing. */
enum auth_reason auth_conn_check_topic(const struct worker *w, const struct auth_ticket *t,
                                       const char *topic, size_t n);
/* Answers 401 or 403 for why (with WWW-Authenticate, RFC 6750 §3) and
 * counts it; the connection ends after the reply. */
void auth_conn_refuse(struct worker *w, struct conn *c, enum auth_reason why);
/* The upgrade succeeded: counts it and remembers the token's user and
 * expiry for c; releases t. A connection whose entry cannot be allocated
 * is closed (1011) rather than left without its expiry. */
void auth_conn_attach(struct worker *w, struct conn *c, struct auth_ticket *t);
void auth_conn_ticket_release(struct auth_ticket *t);
/* conn_reap: c is going away (no-op for connections without a token). */
void auth_conn_forget(struct conn *c);
/* Once per second in each worker: closes connections whose token expired
 * with AUTH_CLOSE_EXPIRED. Touches only the heap's expired top. */
void auth_conn_tick(struct worker *w);
/* POST /disconnect in a worker: closes every open WebSocket connection of
 * user[0..n) with code and reason (conn_close: freed after the iteration).
 * Returns how many it closed; O(that user's connections). */
uint32_t auth_conn_close_user(struct worker *w, const char *user, size_t n, uint16_t code,
                              const char *reason);
/* Presence: c's user (its length in *len, NUL-terminated, valid until the
 * user's last connection goes), the first time query (a fresh non-zero
 * number per query) asks about that user; NULL for a connection without a
 * user and for a user already seen by this query. */
const char *auth_conn_user_once(const struct conn *c, uint32_t query, size_t *len);

#endif
