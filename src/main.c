/* main.c - command dispatch only: wspush serve | publish | tune | version. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "server/master.h"
#include "server/publish_cli.h"
#include "tune/tune.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: wspush <command> [options]\n\n"
               "commands:\n"
               "  serve     run the WebSocket push server (wspush serve --help)\n"
               "  publish   publish a message through the admin API (wspush publish --help)\n"
               "  tune      check and apply kernel/limit settings for N connections\n"
               "            (wspush tune --help)\n"
               "  version   print the version\n\n"
               "The load generator is a separate program: wspush-bench --help\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("wspush %s\n", WSPUSH_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "serve")) {
        static struct wsp_config cfg;
        int r = config_parse(&cfg, argc - 1, argv + 1, stdout, stderr);
        if (r == 1)
            return 0;
        if (r != 0)
            return 2;
        config_scrub_argv(argc - 1, argv + 1);
        return master_run(&cfg);
    }
    if (!strcmp(cmd, "publish"))
        return publish_cli_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "tune"))
        return tune_main(argc - 1, argv + 1);
    fprintf(stderr, "wspush: error: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
