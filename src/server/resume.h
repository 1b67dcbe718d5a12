/* resume.h - resume after a reconnect: replay from history, or reset.
 *
 * Private to src/server/ (included by worker.c, routes.c and sse_conn.c). */
#ifndef WSP_SERVER_RESUME_H
#define WSP_SERVER_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pubsub/msg.h"
#include "pubsub/msgid.h"

struct worker;
struct conn;

#define RESUME_SUBPROTOCOL "wspush.json"
#define WS_CLOSE_HISTORY_GAP 4002 /* DESIGN.md: reconnect without since */

struct resume_item {   /* one ?since=, borrowed from the request */
    const char *topic; /* points into a decoded copy the caller keeps */
    size_t topic_len;
    struct msgid id;
};

/* The envelope form of one message as a new msg (refs 1), encoded here:
 * for replay, and for a live message the master published before this
 * worker's first envelope subscriber. topic NULL: broadcast; id.seq 0: no
 * id (the epoch travels with the message: it can change at run time with
 * ids from Redis). NULL when out of memory. */
struct msg *resume_envelope(const uint8_t *p, size_t n, bool binary, const char *topic, size_t tl,
                            struct msgid id);

/* The SSE event of one message as a new msg (refs 1): for replay, and for
 * a live message the master published before this worker's first SSE
 * stream. topic NULL: broadcast. NULL when out of memory. */
struct msg *resume_sse(const uint8_t *p, size_t n, bool binary, const char *topic, size_t tl,
                       struct msgid id);

/* Right after the 101 of a connection already subscribed to every topic
 * of items: for each, replays from history what the connection missed
 * (messages this worker has already taken from the ring; later ones reach
 * it live, so there is no gap and no duplicate), or tells it that it
 * cannot: an envelope connection gets {"type":"reset",...} and stays, a
 * raw one is closed with 4002 "reset <cause> <current id>", an SSE stream
 * gets "event: reset" with the current id and stays. Nothing is kept per
 * connection afterwards. An SSE stream resumes right after its response
 * head (sse_conn.c), the same way. */
void resume_start(struct worker *w, struct conn *c, const struct resume_item *items, size_t n);

/* The ring lapped this worker and entries with live-ring seqs [from, to)
 * are gone. If history holds every one of them (topic messages of topics
 * with history; not broadcasts, ticks or control entries), they are fanned
 * out from history here, in publish order, to this worker's subscribers,
 * and it returns true: nobody missed anything. Otherwise false, and the
 * caller closes the subscribers with 1013 (worker.c). It may return false
 * after delivering part of the range (history overwritten meanwhile): the
 * caller's 1013 then still tells everyone. */
bool resume_lapped(struct worker *w, uint64_t from, uint64_t to);

/* An SSE stream whose Last-Event-ID names no topic's position (zero or
 * several topics and no since): "event: reset" with an empty id (cause
 * "epoch", topic null). */
void resume_sse_unknown(struct worker *w, struct conn *c);

#endif
