/* admin.h - the admin port, served by the master: publish API, stats,
 * Prometheus metrics, the dashboard and its live WebSocket feed.
 *
 * HTTP/1.1 with keep-alive. When a publish token is configured, every
 * request needs "Authorization: Bearer <token>" (constant-time compare). */
#ifndef WSP_SERVER_ADMIN_H
#define WSP_SERVER_ADMIN_H

#include "ev/loop.h"
#include "server/node.h"

struct admin;

/* Starts serving on listen_fd (owned from now on). NULL on failure. */
/* n is borrowed: the master's, it outlives the admin port. */
struct admin *admin_new(struct node *n, struct ev_loop *loop, int listen_fd);
/* Serves an already connected, non-blocking socket (on_accept's path; tests
 * and the fuzzer hand it one end of a socketpair). Takes ownership of fd
 * on success only. 0 or < 0. */
int admin_adopt(struct admin *a, int fd);
/* In a freshly forked worker: closes the admin connections' descriptors
 * (the parent's state is left alone), so a worker never keeps a publisher's
 * socket open. */
void admin_close_fds_after_fork(struct admin *a);
/* Open admin connections (including those waiting to be reaped). */
unsigned admin_conn_count(const struct admin *a);
/* Sends one stats frame to every live dashboard socket (called each second). */
void admin_push_live(struct admin *a);
/* Frees closed admin connections (post hook). */
void admin_reap(struct admin *a);
void admin_free(struct admin *a);
/* --admin-tls-cert: connections accepted from now on speak TLS with t
 * (borrowed: the master keeps it, and replaces it on SIGHUP; connections
 * already open keep theirs, tls.c refcounts it). NULL: plain http. */
struct tls_ctx;
void admin_set_tls(struct admin *a, struct tls_ctx *t);
/* Closes the listener (a draining server frees the port for its
 * replacement); open admin connections carry on. Safe to call twice. */
void admin_stop_listening(struct admin *a);

#endif
