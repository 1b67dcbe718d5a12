/* config_file.h - `wspush serve --config FILE`: options from a YAML file.
 *
 * The file is one YAML mapping whose keys are the long option names of the
 * option table (config_opt.h) and whose values are scalars, as on the command
 * line ("max-conns: 100000", "tick: 1s"); list options also take a YAML
 * sequence ("allow-origin: [https://a.example, https://b.example]"). Every
 * row of the table is settable, rows added later included. */
#ifndef WSP_CONFIG_FILE_H
#define WSP_CONFIG_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "config/config_opt.h"

/* Files larger than this are refused before parsing. */
#define CONFIG_FILE_MAX_BYTES (1u << 20)

/* Applies the YAML text[0..len) to c, on top of what c holds. name is the
 * file name for messages. Returns 0, or 2 after one line on err naming the
 * file and line: YAML syntax, unknown key (with a suggestion), duplicate
 * key, a value of the wrong shape or a bad value. c may be partly updated
 * on error. Pure apart from err: no I/O, no global state. */
int config_file_parse(struct wsp_config *c, const char *text, size_t len, const char *name,
                      FILE *err);

/* Reads path (at most CONFIG_FILE_MAX_BYTES) and applies it. 0 or 2. */
int config_file_load(struct wsp_config *c, const char *path, FILE *err);

/* The file named by --config FILE / --config=FILE in argv, else by
 * $WSPUSH_CONFIG, if any: records it in c->config_path and loads it. 0 or 2. */
int config_file_apply(struct wsp_config *c, int argc, char **argv, FILE *err);

/* How many arguments from argv[i] the --config option takes (2 for
 * "--config FILE", 1 for "--config=FILE"), 0 if argv[i] is not it. */
int config_file_arg(int argc, char **argv, int i);

#endif
