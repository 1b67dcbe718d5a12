/* prom.h - the admin port's figures: GET /stats (JSON), GET /metrics
 * (Prometheus text exposition format 0.0.4) and the dashboard's
 * one-second JSON sample (/live).
 *
 * Each answer renders one snapshot of the node, in which the workers'
 * shared counters are summed once; /metrics and /live add memory and
 * socket figures from /proc, read at most once a second (cached). Master
 * loop only. */
#ifndef WSP_SERVER_PROM_H
#define WSP_SERVER_PROM_H

#include <stddef.h>

struct node;

/* Each returns the length written to out (never more than cap - 1;
 * NUL-ended). */
size_t prom_stats_json(struct node *n, char *out, size_t cap);
size_t prom_render(struct node *n, char *out, size_t cap);
/* The /stats object with the memory and socket figures added. */
size_t prom_live_json(struct node *n, char *out, size_t cap);

#endif
