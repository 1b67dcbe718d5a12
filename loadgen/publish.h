/* publish.h - drives the server's admin publish API for --publish-rate.
 *
 * One HTTP/1.1 keep-alive connection from the parent to the admin port;
 * POST /publish/<topic> (--broadcast: POST /broadcast) with the current ISO
 * 8601 time as the body, R times a second, pipelined (at most PUB_MAX_OUTSTANDING unanswered,
 * beyond that a publish is skipped and counted). Reconnects on failure. Runs on the parent's event
 * loop. */
#ifndef WSP_LOADGEN_PUBLISH_H
#define WSP_LOADGEN_PUBLISH_H

#include <stdint.h>

#include "bench.h"
#include "ev/loop.h"

#define PUB_MAX_OUTSTANDING 64

struct publisher;

struct publisher_totals {
    uint64_t sent, acked, failed, skipped, connect_failures;
    int last_status; /* last non-2xx status seen, 0 if none */
};

/* NULL on allocation failure. Borrows o and loop (both outlive it). */
struct publisher *publisher_new(struct ev_loop *loop, const struct bench_opts *o);
/* Sends the publishes due at elapsed_ms since start (rate * elapsed,
 * rounded: the i-th is due half a period after i / rate). */
void publisher_tick(struct publisher *p, uint64_t elapsed_ms);
/* Called for each acknowledged (2xx) publish with the second of the run in
 * which it was sent, computed from its body's timestamp exactly as the
 * subscribers label messages (o->t0_real_us), so the counts line up. */
typedef void (*publisher_ack_cb)(void *arg, uint32_t sent_sec);
void publisher_set_ack_cb(struct publisher *p, uint64_t t0_ms, publisher_ack_cb cb, void *arg);
void publisher_get_totals(const struct publisher *p, struct publisher_totals *t);
void publisher_free(struct publisher *p);

#endif
