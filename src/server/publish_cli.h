/* publish_cli.h - `wspush publish`: the command-line publisher. */
#ifndef WSP_SERVER_PUBLISH_CLI_H
#define WSP_SERVER_PUBLISH_CLI_H

/* argv[0] == "publish". Returns the exit code (0 on 202, 1 on an HTTP
 * error or connection failure, 2 on usage errors). */
int publish_cli_main(int argc, char **argv);

#endif
