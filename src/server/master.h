/* master.h - the master process: supervises workers, owns the ring, the
 * ticker and the admin port.
 *
 * The master is the ring's only writer. A publish (admin HTTP, ticker,
 * Redis) is encoded into one WebSocket frame once, appended to the ring,
 * and every worker is woken through its eventfd. The services it runs
 * (admin port, Redis link, control commands, metrics) get its struct node
 * (node.h) and publish through it; they never call into master.c. */
#ifndef WSP_SERVER_MASTER_H
#define WSP_SERVER_MASTER_H

#include "config/config.h"

struct master;
struct node;

/* Runs `wspush serve` with a parsed configuration. Returns the exit code. */
int master_run(struct wsp_config *cfg);

/* A master without workers, sockets or signals, for tests and fuzzing of
 * the admin port: publishes go to its ring and are counted, nothing else.
 * NULL on failure. master_free_standalone(NULL) is a no-op. */
struct master *master_new_standalone(struct wsp_config *cfg);
void master_free_standalone(struct master *m);

/* The master's node, to hand to a service (admin_new in the tests). */
struct node *master_node(struct master *m);

#endif
