/* admin_history.h - GET /history/<topic>?since=<id>&limit=N on the admin
 * port: a topic's stored messages as JSON. Master only. */
#ifndef WSP_SERVER_ADMIN_HISTORY_H
#define WSP_SERVER_ADMIN_HISTORY_H

#include <stddef.h>

struct node;

#define ADMIN_HISTORY_LIMIT_MAX 1000
#define ADMIN_HISTORY_LIMIT_DEFAULT 100

/* Writes the answer body into out (cap bytes) and returns its length;
 * *status is the HTTP status (200, 400 bad query, 404 history off, 410
 * since no longer covered or of another epoch: the body says which and
 * the current id). At most `limit` messages and never more than cap:
 * "more":true says the client should ask again from the last id. */
size_t admin_history_json(struct node *m, const char *topic, size_t tl, const char *query,
                          size_t ql, char *out, size_t cap, int *status);

#endif
