/* publish_cli.c - `wspush publish [--admin URL] [--token-file F] [--binary]
 * (TOPIC | --broadcast) [MESSAGE]`: one blocking HTTP POST to the admin
 * port; the message comes from stdin when not given. Prints the server's
 * JSON answer. Not used by the server itself. An https:// URL (the admin
 * port with --admin-tls-cert) goes through OpenSSL: the server's
 * certificate is verified against --cacert FILE or the system's store and
 * must name the URL's host, unless --insecure. */
#include "server/publish_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config/config.h"
#include "net/net.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wspush publish [options] TOPIC [MESSAGE]\n"
            "       wspush publish [options] --broadcast [MESSAGE]\n\n"
            "Publishes MESSAGE (or standard input) through the admin API.\n\n"
            "  --admin URL, --url URL  admin address, http:// or https:// (default\n"
            "                  http://127.0.0.1:9090) [WSPUSH_ADMIN]\n"
            "  --cacert FILE   https: trust the PEM certificate(s) in FILE instead of the\n"
            "                  system's store (e.g. the admin port's self-signed one)\n"
            "  --insecure      https: do not verify the certificate (testing only)\n"
            "  --token-file FILE  read the bearer token from FILE (one trailing newline\n"
            "                  removed) [WSPUSH_PUBLISH_TOKEN_FILE]\n"
            "  --token TOKEN   bearer token [WSPUSH_PUBLISH_TOKEN]; other local users can\n"
            "                  read it in the process list: prefer --token-file\n"
            "  --binary        send as a binary message (Content-Type: application/octet-stream)\n"
            "  --broadcast     to every connection instead of one topic\n"
            "  -h, --help      show this help\n");
}

static SSL *g_ssl; /* https: the connection's TLS; NULL: plain */

static ssize_t stream_write(int fd, const void *p, size_t n)
{
    if (g_ssl) {
        int w = SSL_write(g_ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        return w > 0 ? w : -1;
    }
    return write(fd, p, n);
}

static ssize_t stream_read(int fd, void *p, size_t n)
{
    if (g_ssl) {
        int r = SSL_read(g_ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        return r > 0 ? r : 0; /* EOF, close_notify or error: the answer ends */
    }
    return read(fd, p, n);
}

/* The TLS handshake over the connected fd: 0, or -1 after one message. */
static int tls_start(int fd, const char *host, const char *cacert, int insecure)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return -1;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = cacert ? SSL_CTX_load_verify_locations(ctx, cacert, NULL)
                        : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            fprintf(stderr, "wspush: error: --cacert %s: cannot load it\n", cacert ? cacert : "");
            SSL_CTX_free(ctx);
            return -1;
        }
    }
    g_ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL keeps its own reference */
    if (!g_ssl)
        return -1;
    SSL_set_fd(g_ssl, fd);
    X509_VERIFY_PARAM *vp = SSL_get0_param(g_ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1) { /* a name, not an IP literal */
        SSL_set_tlsext_host_name(g_ssl, host);
        SSL_set1_host(g_ssl, host);
    }
    if (SSL_connect(g_ssl) != 1) {
        long v = SSL_get_verify_result(g_ssl);
        unsigned long e = ERR_get_error();
        fprintf(stderr, "wspush: error: TLS handshake with %s failed: %s\n", host,
                v != X509_V_OK ? X509_verify_cert_error_string(v)
                : e            ? ERR_reason_error_string(e)
                               : "connection closed");
        return -1;
    }
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = stream_write(fd, c, n);
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
    const char *token_file = getenv("WSPUSH_PUBLISH_TOKEN_FILE");
    static char file_token[256];
    const char *topic = NULL, *message = NULL, *cacert = NULL;
    int binary = 0, broadcast = 0, insecure = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "--admin") || !strcmp(a, "--url")) && i + 1 < argc) {
            admin = argv[++i];
        } else if (!strcmp(a, "--cacert") && i + 1 < argc) {
            cacert = argv[++i];
        } else if (!strcmp(a, "--insecure")) {
            insecure = 1;
        } else if (!strcmp(a, "--token") && i + 1 < argc) {
            /* kept in a copy; the argument is wiped from the process list */
            char *v = argv[++i];
            snprintf(file_token, sizeof file_token, "%s", v);
            memset(v, 0, strlen(v));
            token = file_token;
            token_file = NULL;
        } else if (!strcmp(a, "--token-file") && i + 1 < argc) {
            token_file = argv[++i];
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
    if (token_file && *token_file) {
        const char *why;
        if (config_read_secret_file(token_file, file_token, sizeof file_token, &why) < 0) {
            fprintf(stderr, "wspush: error: --token-file %s: %s\n", token_file, why);
            return 2;
        }
        token = file_token;
    }
    if (!topic && !broadcast) {
        fprintf(stderr, "wspush: error: give a TOPIC or --broadcast\n");
        usage(stderr);
        return 2;
    }
    const char *hp = admin;
    int https = !strncmp(hp, "https://", 8);
    if (!strncmp(hp, "http://", 7))
        hp += 7;
    else if (https)
        hp += 8;
    char hostport[256];
    snprintf(hostport, sizeof hostport, "%s", hp);
    char *slash = strchr(hostport, '/');
    if (slash)
        *slash = '\0';
    struct net_addr addr;
    if (net_addr_parse(hostport, "127.0.0.1", &addr) < 0) {
        fprintf(stderr, "wspush: error: --admin '%s' is not http(s)://HOST:PORT\n", admin);
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
    if (https) {
        /* the host as named in the URL, for SNI and the certificate check */
        char host[256];
        snprintf(host, sizeof host, "%s", hostport[0] == '[' ? hostport + 1 : hostport);
        char *end = hostport[0] == '[' ? strchr(host, ']') : strrchr(host, ':');
        if (end)
            *end = '\0';
        if (tls_start(fd, host, cacert, insecure) < 0) {
            SSL_free(g_ssl);
            close(fd);
            free(body);
            return 1;
        }
    }
    char head[1024];
    char auth[400] = "";
    if (token && *token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    int hl =
        snprintf(head, sizeof head,
                 "POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
                 broadcast ? "/broadcast" : "/publish/", broadcast ? "" : topic, hostport,
                 binary ? "application/octet-stream" : "text/plain; charset=utf-8", blen, auth);
    int rc = 1;
    if (hl > 0 && (size_t)hl < sizeof head && write_all(fd, head, (size_t)hl) == 0 &&
        write_all(fd, body ? body : "", blen) == 0) {
        char resp[8192];
        size_t n = 0;
        ssize_t r;
        while (n < sizeof resp - 1 && (r = stream_read(fd, resp + n, sizeof resp - 1 - n)) > 0)
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
    if (g_ssl) {
        SSL_shutdown(g_ssl);
        SSL_free(g_ssl);
        g_ssl = NULL;
    }
    close(fd);
    free(body);
    return rc;
}
