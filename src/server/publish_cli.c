/* publish_cli.c - `wspush publish [--admin URL] [--token T] [--binary]
 * (TOPIC | --broadcast) [MESSAGE]`: one blocking HTTP POST to the admin
 * port; the message comes from stdin when not given. Prints the server's
 * JSON answer. Not used by the server itself. */
#include "server/publish_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wspush publish [options] TOPIC [MESSAGE]\n"
            "       wspush publish [options] --broadcast [MESSAGE]\n\n"
            "Publishes MESSAGE (or standard input) through the admin API.\n\n"
            "  --admin URL     admin address (default http://127.0.0.1:9090) [WSPUSH_ADMIN]\n"
            "  --token TOKEN   bearer token (default: $WSPUSH_PUBLISH_TOKEN)\n"
            "  --binary        send as a binary message (Content-Type: application/octet-stream)\n"
            "  --broadcast     to every connection instead of one topic\n"
            "  -h, --help      show this help\n");
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int publish_cli_main(int argc, char **argv)
{
    const char *admin = getenv("WSPUSH_ADMIN") ? getenv("WSPUSH_ADMIN") : "http://127.0.0.1:9090";
    const char *token = getenv("WSPUSH_PUBLISH_TOKEN");
    const char *topic = NULL, *message = NULL;
    int binary = 0, broadcast = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--admin") && i + 1 < argc) {
            admin = argv[++i];
        } else if (!strcmp(a, "--token") && i + 1 < argc) {
            token = argv[++i];
        } else if (!strcmp(a, "--binary")) {
            binary = 1;
        } else if (!strcmp(a, "--broadcast")) {
            broadcast = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "wspush: error: unknown option or missing value '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!topic && !broadcast) {
            topic = a;
        } else if (!message) {
            message = a;
        } else {
            fprintf(stderr, "wspush: error: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!topic && !broadcast) {
        fprintf(stderr, "wspush: error: give a TOPIC or --broadcast\n");
        usage(stderr);
        return 2;
    }
    const char *hp = admin;
    if (!strncmp(hp, "http://", 7))
        hp += 7;
    char hostport[256];
    snprintf(hostport, sizeof hostport, "%s", hp);
    char *slash = strchr(hostport, '/');
    if (slash)
        *slash = '\0';
    struct net_addr addr;
    if (net_addr_parse(hostport, "127.0.0.1", &addr) < 0) {
        fprintf(stderr, "wspush: error: --admin '%s' is not http://HOST:PORT\n", admin);
        return 2;
    }
    char *body = NULL;
    size_t blen = 0;
    if (message) {
        body = strdup(message);
        blen = strlen(message);
    } else {
        size_t cap = 0;
        for (;;) {
            if (blen + 4096 > cap) {
                cap = cap ? cap * 2 : 8192;
                char *n = realloc(body, cap);
                if (!n) {
                    free(body);
                    return 1;
                }
                body = n;
            }
            ssize_t r = read(0, body + blen, cap - blen);
            if (r <= 0)
                break;
            blen += (size_t)r;
        }
    }
    int fd = socket(addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr.ss, addr.len) < 0) {
        fprintf(stderr, "wspush: error: cannot connect to %s: %s\n", hostport, strerror(errno));
        free(body);
        return 1;
    }
    char head[1024];
    char auth[400] = "";
    if (token && *token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    int hl = snprintf(head, sizeof head,
                      "POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
                      "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
                      broadcast ? "/broadcast" : "/publish/", broadcast ? "" : topic, hostport,
                      binary ? "application/octet-stream" : "text/plain; charset=utf-8", blen,
                      auth);
    int rc = 1;
    if (hl > 0 && (size_t)hl < sizeof head && write_all(fd, head, (size_t)hl) == 0 &&
        write_all(fd, body ? body : "", blen) == 0) {
        char resp[8192];
        size_t n = 0;
        ssize_t r;
        while (n < sizeof resp - 1 && (r = read(fd, resp + n, sizeof resp - 1 - n)) > 0)
            n += (size_t)r;
        resp[n] = '\0';
        int status = 0;
        sscanf(resp, "HTTP/1.%*d %d", &status);
        char *b = strstr(resp, "\r\n\r\n");
        printf("%s", b ? b + 4 : resp);
        rc = status == 202 ? 0 : 1;
        if (rc)
            fprintf(stderr, "wspush: error: HTTP %d\n", status);
    } else {
        fprintf(stderr, "wspush: error: write failed: %s\n", strerror(errno));
    }
    close(fd);
    free(body);
    return rc;
}
