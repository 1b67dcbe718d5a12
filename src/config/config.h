/* config.h - the server's configuration and its command-line/environment
 * parser.
 *
 * Every option of `wspush serve` is one row of a table (config_opt.c): its
 * flag, its environment variable (WSPUSH_<FLAG>), its type, default and help
 * text. --help is generated from the same table, so the two cannot drift.
 * Precedence: command line > environment > config file (config_file.h) >
 * default. */
#ifndef WSP_CONFIG_H
#define WSP_CONFIG_H

#include <stdio.h>

#include "config/config_opt.h"

/* Defaults, then the config file (--config FILE or WSPUSH_CONFIG), then the
 * environment, then argv (argv[0] is the command name, e.g. "serve"; argv
 * must outlive c). On error prints one clear line to err and returns 2; on
 * --help or --print-config prints to out and returns 1; else 0. */
int config_parse(struct wsp_config *c, int argc, char **argv, FILE *out, FILE *err);

void config_print_help(FILE *out);

/* Overwrites, in place, the secrets given on the command line (the value of
 * --publish-token, the password in --redis URL), so /proc/<pid>/cmdline and
 * ps no longer show them (workers fork later and inherit the scrubbed
 * bytes). Call after config_parse with the same argv; the config keeps its
 * copies. argv's strings must be writable (the real process arguments). */
void config_scrub_argv(int argc, char **argv);

/* Reads a secret from path into out: the file's content with one trailing
 * newline removed; it must be non-empty, shorter than cap and hold no NUL,
 * CR or LF. 0, or < 0 with *why set (for the caller's one-line error). */
int config_read_secret_file(const char *path, char *out, size_t cap, const char **why);

#endif
