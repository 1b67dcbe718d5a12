/* main.c - command dispatch only: wspush serve | publish | tune | version. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: wspush <serve|publish|tune|version> [options]\n");
        return argc < 2 ? 2 : 0;
    }
    fprintf(stderr, "wspush: unknown command '%s' (try --help)\n", argv[1]);
    return 2;
}
