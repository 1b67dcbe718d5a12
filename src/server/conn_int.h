/* conn_int.h - what conn.c shares with conn_live.c (a connection's
 * deadlines and liveness), and nothing else: private to those two files. */
#ifndef WSP_SERVER_CONN_INT_H
#define WSP_SERVER_CONN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "server/server_int.h"

/* The connection's coarse deadline, `ticks` from now (0: none). Always sets
 * the lap count too, so a near deadline never inherits a far one's laps. */
void conn_deadline_set(struct worker *w, struct conn *c, uint32_t ticks);
/* One control frame (a ping, a pong, a close: the last word, past the
 * backlog gate). 0, or < 0 as conn_send_bytes. */
int conn_send_control(struct worker *w, struct conn *c, uint8_t op, const uint8_t *p, size_t n);
/* Reads what c's socket holds now and feeds it on (the head parser, the
 * frame reader or the host's on_data). */
void conn_read_input(struct worker *w, struct conn *c);

#endif
