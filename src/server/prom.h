/* prom.h - the admin port's metrics: Prometheus text exposition format
 * 0.0.4 (GET /metrics) and the dashboard's one-second JSON sample.
 *
 * Sums the workers' shared counters at scrape time; reads /proc for memory
 * and socket figures at most once a second (cached). */
#ifndef WSP_SERVER_PROM_H
#define WSP_SERVER_PROM_H

#include <stddef.h>

#include "server/master.h"

/* Returns the length written to out (never more than cap - 1; NUL-ended). */
size_t prom_render(struct master *m, char *out, size_t cap);
size_t prom_live_json(struct master *m, char *out, size_t cap);

#endif
