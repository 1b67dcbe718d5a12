/* config_show.h - the configuration as text: --print-config, the SIGHUP
 * diff, "did you mean" suggestions and the WSPUSH_* near-miss warnings.
 *
 * Everything works from the option table (config_opt.h), so options added to
 * it later are printed, compared and suggested without changes here. */
#ifndef WSP_CONFIG_SHOW_H
#define WSP_CONFIG_SHOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config_opt.h"

/* Prints c as a YAML config file that config_file_parse reads back to the
 * same settings. Secrets are never printed: an option whose name says it
 * holds one (token, secret, password) or a Redis URL with a password is
 * replaced by a comment, or by its "<name>-file" option when that is set. */
void config_show_print(const struct wsp_config *c, FILE *out);

/* The option name nearest to name, or NULL if none is within max_dist. */
const char *config_show_suggest(const char *name, size_t max_dist);

/* Warns on err ("wspush: warning: ...") for each WSPUSH_* environment
 * variable that is not an option but is a near miss of one. Variables
 * that are not near any option (WSPUSH_BIN, ...) are left alone. */
void config_show_env_check(FILE *err);

/* Calls cb once per option whose value differs between a and b, with both
 * values as text (NULL, NULL for a secret). Returns the number of calls. */
typedef void (*config_change_cb)(size_t i, const char *was, const char *now, void *arg);
size_t config_show_diff(const struct wsp_config *a, const struct wsp_config *b, config_change_cb cb,
                        void *arg);

#endif
