/* control_worker.h - control commands in a worker (see control_worker.c).
 * Worker loop only. Private to src/server/. */
#ifndef WSP_SERVER_CONTROL_WORKER_H
#define WSP_SERVER_CONTROL_WORKER_H

#include <stdint.h>

struct worker;
struct ctl_cmd;

/* Carries out one command taken from the ring (already consumed) and, if
 * its req_id is not 0, answers it in the shared area. */
void control_worker_run(struct worker *w, const struct ctl_cmd *c);
/* At start, once the ring reader is placed at head_seq: the master then
 * knows this worker will never see entries up to it. */
void control_worker_start(struct worker *w, uint64_t head_seq);

#endif
