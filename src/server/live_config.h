/* live_config.h - the settings SIGHUP changes at run time, from the master
 * to its workers (see live_config.c).
 *
 * One shared-memory copy of the master's struct wsp_config, made before the
 * workers fork. The master writes it on SIGHUP, then signals the workers;
 * each worker copies it out and applies the options that can change at run
 * time (config_opt_is_live) between events. Private to src/server/. */
#ifndef WSP_SERVER_LIVE_CONFIG_H
#define WSP_SERVER_LIVE_CONFIG_H

#include "config/config.h"

struct live_config;

/* A shared mapping holding a copy of c. NULL when out of memory. */
struct live_config *live_config_new(const struct wsp_config *c);
/* NULL is a no-op. */
void live_config_free(struct live_config *lc);

/* Master only: replaces the shared copy with c. */
void live_config_publish(struct live_config *lc, const struct wsp_config *c);
/* Any process: a consistent copy into out (never one the master is half
 * way through writing). 0, or WSP_EAGAIN if the master kept writing. The
 * pointers inside out (list items, argv) are the master's: only the option
 * values, read through config_opt_format, mean anything. */
int live_config_read(const struct live_config *lc, struct wsp_config *out);

#endif
