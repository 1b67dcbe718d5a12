/* main.c - wspush-bench: command line, forking the children, aggregation.
 *
 * The parent holds no connections. It forks `procs` children (client.c),
 * each with its share of the connections and a pipe back; reads their
 * fixed-size per-second records on its own event loop; merges them by
 * second; prints one line per completed second; samples the server's /proc
 * figures; drives the publish API in --publish-rate mode; stops everything
 * after --duration (or on SIGINT/SIGTERM) and writes the reports.
 *
 * Bounded: children die with the parent (PR_SET_PDEATHSIG) and carry their
 * own alarm; the parent SIGKILLs any child still running a few seconds
 * after asking it to stop, and gives up waiting for records at a hard
 * deadline. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "bench.h"
#include "srcaddr.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ev/loop.h"
#include "metrics/procfs.h"
#include "procstat.h"
#include "publish.h"
#include "report.h"
#include "stats.h"
#include "tokens.h"

#define STOP_GRACE_MS 5000 /* beyond --close-timeout, before SIGKILL */
#define DEADLINE_SLACK_MS 20000

struct kid {
    struct ev_handler h;
    pid_t pid;
    int fd;
    bool eof, final;
    uint32_t next_sec; /* seconds reported so far */
    size_t have;
    struct bench_rec rec; /* assembly buffer */
};

static struct parent {
    struct bench_opts o;
    struct ev_loop *loop;
    uint64_t t0_ms;
    struct kid *kids;
    uint32_t n_kids;
    struct bench_point *pts;
    uint32_t cap_pts;
    uint32_t done_secs; /* seconds complete (all kids reported) */
    struct bench_totals tot;
    bool stopping, interrupted;
    uint64_t stop_ms;
    uint32_t stop_sec;
    int sig_fd;
    struct ev_handler sig_h;
    struct publisher *pub;
    struct procstat_sample *samples; /* samples[k] at ~t0 + k s */
    uint32_t n_samples;
    uint32_t next_sample;
    struct procstat_sample srv_start, srv_end;
    bool have_srv_end;
    uint64_t peak_open;
    bool tty;
    uint32_t killed; /* children SIGKILLed at the deadline (their close phase is lost) */
} P;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wspush-bench --url ws://127.0.0.1:8080/ws --conns N [options]\n"
            "\n"
            "Opens N WebSocket connections (forking processes to stay under the open-file\n"
            "limit), keeps them open, and measures what the server pushes: messages per\n"
            "second, the delivery ratio, latency from the timestamp in each message, and\n"
            "errors by cause.\n"
            "\n"
            "Target and load:\n"
            "  --url URL            ws://HOST[:PORT][/PATH] or wss://...; HOST is an IPv4 address\n"
            "                       or localhost\n"
            "  --conns N            connections to hold (required)\n"
            "  --procs auto|N       processes; auto = max(1, ceil(N / (RLIMIT_NOFILE - 100)))\n"
            "  --rate R             new connections per second, all processes together (20000)\n"
            "  --duration T         run time from start, e.g. 60, 90s, 2m (60s)\n"
            "  --warmup T           the first T of the run is not measured (10s)\n"
            "  --drain T            after --duration, keep receiving for T so messages sent in\n"
            "                       the window but still in flight are counted (2s)\n"
            "  --connect-timeout T  connect + handshake time limit (10s)\n"
            "  --max-inflight N     connections in connect or handshake at once, all processes\n"
            "                       together (ws://: 2048 or --rate per process, whichever is\n"
            "                       larger; wss://: 128 per process, so a server slower than\n"
            "                       --rate at TLS handshakes is not flooded with handshakes\n"
            "                       that time out and are retried)\n"
            "  --io uring|epoll     how open connections are read (uring): one multishot recv\n"
            "                       per socket into a shared buffer ring, sockets registered\n"
            "                       with io_uring, no epoll pass and no recv call per message;\n"
            "                       epoll where the kernel refuses it (before Linux 6.0); a\n"
            "                       wss:// connection too once TLS 1.3 leaves OpenSSL after\n"
            "                       its opening handshake (its records are opened here; TLS\n"
            "                       1.2 stays on OpenSSL and epoll)\n"
            "  --token JWT          subscriber token: every upgrade sends Authorization: Bearer\n"
            "                       JWT (docs/auth.md)\n"
            "  --token-file FILE    one token per line: connection i sends line i mod n\n"
            "                       (repeat --token instead to list a few)\n"
            "  --close-timeout T    at the end, wait this long for the server's close frames\n"
            "                       (5s + 1s per 20000 connections)\n"
            "  --src CIDR           bind client sockets to source addresses of this block, e.g.\n"
            "                       127.1.0.0/20 (the block is aligned to its prefix; 127.0.0.0\n"
            "                       is never used). Default above 20000 connections to 127/8:\n"
            "                       127.1.0.0/20; otherwise the kernel chooses\n"
            "  --src-list IP,IP,..  bind to these source addresses instead\n"
            "\n"
            "TLS (wss://):\n"
            "  --tls                TLS on a ws:// (or --sse http://) URL, as wss:// does\n"
            "  --insecure           do not verify the server's certificate\n"
            "  --cacert FILE        trust the certificates in FILE (PEM) instead of the\n"
            "                       system's store; the name verified is the URL's host (an IP\n"
            "                       against the certificate's IP SANs), which is also the SNI\n"
            "                       unless it is an IP\n"
            "  --tls-max 1.2|1.3    highest TLS version offered (1.3)\n"
            "  TLS handshake failures are counted apart (certificate, alert, EOF, timeout)\n"
            "\n"
            "Compression:\n"
            "  --deflate            offer permessage-deflate (RFC 7692) with\n"
            "                       client_max_window_bits; compressed messages are inflated\n"
            "                       (one inflater per process) before the timestamp is read.\n"
            "                       Declines are counted and those connections run\n"
            "                       uncompressed; an answer without server_no_context_takeover\n"
            "                       is refused (a handshake failure). The summary gives the\n"
            "                       bytes read on compressing connections against the message\n"
            "                       bytes they carried\n"
            "\n"
            "What to expect:\n"
            "  --expect-rate HZ     messages per connection per second the server pushes (1)\n"
            "  --publish-rate R     publish R messages/s through the admin API and expect each\n"
            "                       on every connection; --expect-rate then defaults to 0 (set\n"
            "                       it to 1 if the server also ticks to these connections)\n"
            "  --publish-size B     publish bodies of B bytes: the timestamp, then filler\n"
            "                       text (24..8192; 24, the timestamp alone)\n"
            "  --topic T            topic for --publish-rate (POST /publish/T); if --url has no\n"
            "                       path, the connections subscribe to /T\n"
            "  --broadcast          with --publish-rate: POST /broadcast instead, which reaches\n"
            "                       every connection whatever its path (--topic not needed; if\n"
            "                       given, it only sets the path when --url has none)\n"
            "  --admin URL          admin API base, http://HOST:PORT (http://127.0.0.1:9090)\n"
            "  --admin-token TOKEN  bearer token for the admin API (--publish-token)\n"
            "  --echo               each connection sends a masked text frame with its send\n"
            "                       time once a second; latency is the echo's round trip\n"
            "  --churn P            P%% of the connections close (1000) and reconnect per second\n"
            "  --sse                Server-Sent Events streams instead of WebSockets: GET with\n"
            "                       Accept: text/event-stream (--url may be http://); each\n"
            "                       event is a message, its data carries the timestamp, and\n"
            "                       heartbeat comments count as pings (docs/sse.md)\n"
            "\n"
            "Output:\n"
            "  --quiet              no per-second lines (the summary is still printed)\n"
            "  --json FILE          totals, percentiles and the per-second series as JSON\n"
            "  --html FILE          a self-contained HTML report with charts\n"
            "  --label TEXT         a name for this run in the reports\n"
            "  --server-pid PIDS    comma-separated server pids: report the server's CPU-seconds\n"
            "                       per million deliveries, RSS per connection and kernel socket\n"
            "                       memory per connection (the pids' descendants are included)\n"
            "\n"
            "Checks (exit status 1 when they fail; otherwise 0 if the run completed):\n"
            "  --assert-ratio X     delivery ratio must be >= X (e.g. 0.999)\n"
            "  --assert-no-errors   no connect/handshake failure and no unexpected disconnect\n"
            "  -h, --help           this text\n"
            "\n"
            "Latency is receive time minus the send time found at the start of each\n"
            "message: an ISO 8601 UTC timestamp (2026-11-27T02:48:19.123Z) or the first\n"
            "number when it has 13 (epoch ms) or 16 (epoch us) digits. The delivery ratio\n"
            "is messages received / expected over the measured seconds [warmup, duration),\n"
            "counting each message by the second it was sent (its timestamp), where\n"
            "expected = connections open through each second x rate (with --echo: echo\n"
            "frames sent; with --publish-rate: publishes acknowledged x connections).\n"
            "A message that arrives more than --drain after the window counts as lost.\n"
            "SIGINT/SIGTERM stop the run\n"
            "cleanly (close frames 1000) and still print the summary.\n");
}

static void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wspush-bench: error: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(try --help)\n");
    exit(2);
}

/* "ws://host[:port][/path]" or "http://..."; the port defaults to 443 for
 * the TLS schemes (wss://, https://), else 80. */
static int parse_url(const char *url, const char *scheme, uint32_t *ip, uint16_t *port,
                     char *host_hdr, size_t host_cap, char *path, size_t path_cap)
{
    bool tls = strcmp(scheme, "wss://") == 0 || strcmp(scheme, "https://") == 0;
    size_t sl = strlen(scheme);
    if (strncmp(url, scheme, sl) != 0)
        return -1;
    const char *h = url + sl;
    const char *slash = strchr(h, '/');
    size_t hostport_len = slash ? (size_t)(slash - h) : strlen(h);
    if (hostport_len == 0 || hostport_len >= host_cap)
        return -1;
    memcpy(host_hdr, h, hostport_len);
    host_hdr[hostport_len] = '\0';
    const char *colon = memchr(h, ':', hostport_len);
    size_t host_len = colon ? (size_t)(colon - h) : hostport_len;
    unsigned long p = tls ? 443 : 80;
    if (colon) {
        char *end;
        p = strtoul(colon + 1, &end, 10);
        if (end != h + hostport_len || p == 0 || p > 65535)
            return -1;
    }
    if (host_len == 9 && strncmp(h, "localhost", 9) == 0)
        *ip = 0x7f000001u;
    else if (srcaddr_parse_ip(h, host_len, ip) < 0)
        return -1;
    *port = (uint16_t)p;
    if (path) {
        const char *pp = slash ? slash : "/";
        if (strlen(pp) >= path_cap)
            return -1;
        strcpy(path, pp);
    }
    return 0;
}

static double parse_num(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < 0)
        die_usage("bad number for %s", what);
    return v;
}

static uint64_t parse_dur(const char *s, const char *what)
{
    uint64_t ms;
    if (clock_parse_duration_ms(s, &ms) < 0)
        die_usage("bad duration for %s", what);
    return ms;
}

static void parse_args(int argc, char **argv, struct bench_opts *o)
{
    enum {
        O_URL = 256,
        O_CONNS,
        O_PROCS,
        O_RATE,
        O_DURATION,
        O_WARMUP,
        O_SRC,
        O_SRC_LIST,
        O_JSON,
        O_HTML,
        O_QUIET,
        O_SERVER_PID,
        O_EXPECT_RATE,
        O_PUBLISH_RATE,
        O_TOPIC,
        O_ADMIN,
        O_ADMIN_TOKEN,
        O_SUB_TOKEN,
        O_TOKEN_FILE,
        O_ECHO,
        O_SSE,
        O_CHURN,
        O_ASSERT_RATIO,
        O_ASSERT_NO_ERRORS,
        O_LABEL,
        O_CONNECT_TIMEOUT,
        O_DRAIN,
        O_CLOSE_TIMEOUT,
        O_BROADCAST,
        O_TLS,
        O_INSECURE,
        O_CACERT,
        O_TLS_MAX,
        O_MAX_INFLIGHT,
        O_IO,
        O_DEFLATE,
        O_PUBLISH_SIZE
    };
    static const struct option opts[] = {
        {"url", required_argument, 0, O_URL},
        {"conns", required_argument, 0, O_CONNS},
        {"procs", required_argument, 0, O_PROCS},
        {"rate", required_argument, 0, O_RATE},
        {"duration", required_argument, 0, O_DURATION},
        {"warmup", required_argument, 0, O_WARMUP},
        {"src", required_argument, 0, O_SRC},
        {"src-list", required_argument, 0, O_SRC_LIST},
        {"json", required_argument, 0, O_JSON},
        {"html", required_argument, 0, O_HTML},
        {"quiet", no_argument, 0, O_QUIET},
        {"server-pid", required_argument, 0, O_SERVER_PID},
        {"expect-rate", required_argument, 0, O_EXPECT_RATE},
        {"publish-rate", required_argument, 0, O_PUBLISH_RATE},
        {"topic", required_argument, 0, O_TOPIC},
        {"broadcast", no_argument, 0, O_BROADCAST},
        {"admin", required_argument, 0, O_ADMIN},
        {"admin-token", required_argument, 0, O_ADMIN_TOKEN},
        {"token", required_argument, 0, O_SUB_TOKEN},
        {"token-file", required_argument, 0, O_TOKEN_FILE},
        {"echo", no_argument, 0, O_ECHO},
        {"sse", no_argument, 0, O_SSE},
        {"churn", required_argument, 0, O_CHURN},
        {"assert-ratio", required_argument, 0, O_ASSERT_RATIO},
        {"assert-no-errors", no_argument, 0, O_ASSERT_NO_ERRORS},
        {"label", required_argument, 0, O_LABEL},
        {"connect-timeout", required_argument, 0, O_CONNECT_TIMEOUT},
        {"drain", required_argument, 0, O_DRAIN},
        {"close-timeout", required_argument, 0, O_CLOSE_TIMEOUT},
        {"tls", no_argument, 0, O_TLS},
        {"insecure", no_argument, 0, O_INSECURE},
        {"cacert", required_argument, 0, O_CACERT},
        {"tls-max", required_argument, 0, O_TLS_MAX},
        {"max-inflight", required_argument, 0, O_MAX_INFLIGHT},
        {"io", required_argument, 0, O_IO},
        {"deflate", no_argument, 0, O_DEFLATE},
        {"publish-size", required_argument, 0, O_PUBLISH_SIZE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->rate = 20000;
    o->duration_ms = 60000;
    o->warmup_ms = 10000;
    o->connect_timeout_ms = 10000;
    o->drain_ms = 2000;
    o->close_timeout_ms = 0; /* default below: scales with --conns */
    o->expect_rate = 1;
    o->assert_ratio = -1;
    strcpy(o->admin, "127.0.0.1:9090");
    o->admin_ip = 0x7f000001u;
    o->admin_port = 9090;
    bool expect_rate_set = false;
    uint64_t max_inflight = 0;
    const char *procs = "auto", *url = NULL, *src = NULL, *src_list = NULL, *admin = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_URL:
            url = optarg;
            break;
        case O_CONNS:
            o->conns = (uint64_t)parse_num(optarg, "--conns");
            break;
        case O_PROCS:
            procs = optarg;
            break;
        case O_RATE:
            o->rate = parse_num(optarg, "--rate");
            break;
        case O_DURATION:
            o->duration_ms = parse_dur(optarg, "--duration");
            break;
        case O_WARMUP:
            o->warmup_ms = parse_dur(optarg, "--warmup");
            break;
        case O_CONNECT_TIMEOUT:
            o->connect_timeout_ms = parse_dur(optarg, "--connect-timeout");
            break;
        case O_DRAIN:
            o->drain_ms = parse_dur(optarg, "--drain");
            break;
        case O_CLOSE_TIMEOUT:
            o->close_timeout_ms = parse_dur(optarg, "--close-timeout");
            break;
        case O_SRC:
            src = optarg;
            break;
        case O_SRC_LIST:
            src_list = optarg;
            break;
        case O_JSON:
            o->json_path = optarg;
            break;
        case O_HTML:
            o->html_path = optarg;
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_LABEL:
            o->label = optarg;
            break;
        case O_SERVER_PID: {
            char *s = optarg, *end;
            for (;;) {
                long v = strtol(s, &end, 10);
                if (end == s || v <= 0 || o->n_server_pids == BENCH_MAX_PIDS)
                    die_usage("bad --server-pid list: %s", optarg);
                o->server_pids[o->n_server_pids++] = (pid_t)v;
                if (*end == '\0')
                    break;
                if (*end != ',')
                    die_usage("bad --server-pid list: %s", optarg);
                s = end + 1;
            }
            break;
        }
        case O_EXPECT_RATE:
            o->expect_rate = parse_num(optarg, "--expect-rate");
            expect_rate_set = true;
            break;
        case O_PUBLISH_RATE:
            o->publish_rate = parse_num(optarg, "--publish-rate");
            break;
        case O_TOPIC:
            if (strlen(optarg) >= sizeof o->topic || !*optarg)
                die_usage("bad --topic: %s", optarg);
            strcpy(o->topic, optarg);
            break;
        case O_BROADCAST:
            o->broadcast = true;
            break;
        case O_ADMIN:
            admin = optarg;
            break;
        case O_ADMIN_TOKEN:
            if (strlen(optarg) >= sizeof o->token)
                die_usage("--admin-token too long%s", "");
            strcpy(o->token, optarg);
            break;
        case O_SUB_TOKEN:
        case O_TOKEN_FILE: {
            char why[512];
            int tr = c == O_SUB_TOKEN
                         ? bench_tokens_add(&o->sub_tokens, optarg, strlen(optarg), why, sizeof why)
                         : bench_tokens_load(&o->sub_tokens, optarg, why, sizeof why);
            if (tr < 0)
                die_usage("%s", why);
            break;
        }
        case O_ECHO:
            o->echo = true;
            break;
        case O_SSE:
            o->sse = true;
            break;
        case O_DEFLATE:
            o->deflate = true;
            break;
        case O_PUBLISH_SIZE: {
            double v = parse_num(optarg, "--publish-size");
            if (v < BENCH_PUBLISH_MIN || v > BENCH_PUBLISH_MAX || v != (double)(uint32_t)v)
                die_usage("--publish-size is %d..%d bytes", BENCH_PUBLISH_MIN, BENCH_PUBLISH_MAX);
            o->publish_size = (uint32_t)v;
            break;
        }
        case O_CHURN:
            o->churn_pct = parse_num(optarg, "--churn");
            break;
        case O_TLS:
            o->tls = true;
            break;
        case O_INSECURE:
            o->insecure = true;
            break;
        case O_CACERT:
            o->cacert = optarg;
            break;
        case O_IO:
            if (strcmp(optarg, "uring") == 0)
                o->epoll_reads = false;
            else if (strcmp(optarg, "epoll") == 0)
                o->epoll_reads = true;
            else
                die_usage("--io must be uring or epoll, not %s", optarg);
            break;
        case O_MAX_INFLIGHT: {
            double v = parse_num(optarg, "--max-inflight");
            if (v < 1 || v > 1e7)
                die_usage("--max-inflight must be 1..10000000%s", "");
            max_inflight = (uint64_t)v;
            break;
        }
        case O_TLS_MAX:
            if (strcmp(optarg, "1.2") != 0 && strcmp(optarg, "1.3") != 0)
                die_usage("--tls-max is 1.2 or 1.3%s", "");
            o->tls12 = strcmp(optarg, "1.2") == 0;
            break;
        case O_ASSERT_RATIO:
            o->assert_ratio = parse_num(optarg, "--assert-ratio");
            break;
        case O_ASSERT_NO_ERRORS:
            o->assert_no_errors = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        die_usage("unexpected argument: %s", argv[optind]);
    if (!url)
        die_usage("--url is required%s", "");
    if (o->conns == 0)
        die_usage("--conns is required (> 0)%s", "");
    if (strlen(url) >= sizeof o->url)
        die_usage("--url too long%s", "");
    strcpy(o->url, url);
    /* --sse takes http:// and https:// as well (the stream's own schemes) */
    static const char *const schemes[] = {"ws://", "wss://", "http://", "https://"};
    size_t k = 0;
    for (; k < 4; k++)
        if (strncmp(url, schemes[k], strlen(schemes[k])) == 0)
            break;
    if (k == 4 || (k >= 2 && !o->sse) ||
        parse_url(url, schemes[k], &o->dst_ip, &o->dst_port, o->host_hdr, sizeof o->host_hdr,
                  o->path, sizeof o->path) < 0)
        die_usage("bad --url (want ws[s]://IPv4[:port][/path]): %s", url);
    if (k == 1 || k == 3)
        o->tls = true;
    /* the host alone: the Host header minus its port */
    size_t hl = strcspn(o->host_hdr, ":");
    memcpy(o->host, o->host_hdr, hl);
    o->host[hl] = '\0';
    if (!o->tls && (o->insecure || o->cacert || o->tls12))
        die_usage("--insecure, --cacert and --tls-max need wss:// (or --tls)%s", "");
    if (o->insecure && o->cacert)
        die_usage("use either --insecure or --cacert%s", "");
    if (o->sse && o->echo)
        die_usage("--echo needs WebSockets (an SSE stream cannot send)%s", "");
    if (o->sse && o->deflate)
        die_usage("--deflate is a WebSocket extension (not for --sse)%s", "");
    if (o->rate <= 0)
        die_usage("--rate must be > 0%s", "");
    if (o->duration_ms < 1000)
        die_usage("--duration must be at least 1s%s", "");
    if (o->warmup_ms >= o->duration_ms)
        die_usage("--warmup must be shorter than --duration%s", "");
    if (o->churn_pct > 100)
        die_usage("--churn is a percentage (0..100)%s", "");
    if (o->publish_rate > 0) {
        if (!expect_rate_set)
            o->expect_rate = 0; /* only the publishes, unless the server also ticks */
        if (!o->topic[0] && !o->broadcast)
            die_usage("--publish-rate needs --topic (or --broadcast)%s", "");
        if (o->topic[0] && strcmp(o->path, "/") == 0)
            snprintf(o->path, sizeof o->path, "/%s", o->topic);
    }
    if (o->broadcast && o->publish_rate <= 0)
        die_usage("--broadcast needs --publish-rate%s", "");
    if (admin) {
        char hh[256];
        if (parse_url(admin, "http://", &o->admin_ip, &o->admin_port, hh, sizeof hh, NULL, 0) < 0)
            die_usage("bad --admin (want http://IPv4:port): %s", admin);
        strcpy(o->admin, hh);
    }
    if (o->close_timeout_ms == 0) /* the server answers N close frames at once */
        o->close_timeout_ms = 5000 + o->conns / 20;
    if (src && src_list)
        die_usage("use either --src or --src-list%s", "");
    if (src) {
        if (srcaddr_parse_cidr(src, &o->src) < 0)
            die_usage("bad --src (want A.B.C.D/P, P 8..32): %s", src);
        o->have_src = true;
    } else if (src_list) {
        if (srcaddr_parse_list(src_list, &o->src) < 0)
            die_usage("bad --src-list (want IP,IP,... up to 64): %s", src_list);
        o->have_src = true;
    } else if (o->conns > 20000 && (o->dst_ip >> 24) == 127) {
        srcaddr_parse_cidr("127.1.0.0/20", &o->src);
        o->have_src = true;
    }
    /* Processes: the per-process open-file limit is the ceiling. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t per = rl.rlim_cur > 200 ? (uint64_t)rl.rlim_cur - 100 : 100;
    uint64_t need = (o->conns + per - 1) / per;
    if (strcmp(procs, "auto") == 0) {
        o->procs = (uint32_t)(need ? need : 1);
    } else {
        double v = parse_num(procs, "--procs");
        if (v < 1 || v > 4096)
            die_usage("--procs must be auto or 1..4096%s", "");
        o->procs = (uint32_t)v;
        if (o->procs < need) {
            fprintf(stderr,
                    "wspush-bench: %u processes cannot hold %llu connections with %llu open "
                    "files each; need at least %llu\n",
                    o->procs, (unsigned long long)o->conns, (unsigned long long)rl.rlim_cur,
                    (unsigned long long)need);
            exit(2);
        }
    }
    if (o->procs > o->conns)
        o->procs = (uint32_t)o->conns;
    /* Measured (issue 16): 12,000 TLS handshakes in flight against a busy
     * server took longer than the connect timeout, were retried, and the
     * ramp collapsed to 30 handshakes/s. */
    if (max_inflight)
        o->max_inflight = (uint32_t)((max_inflight + o->procs - 1) / o->procs);
    else if (o->tls)
        o->max_inflight = 128;
    if (o->procs > 60000)
        die_usage("too many processes%s", "");
}

/* ---- aggregation ---- */

static struct bench_point *point(uint32_t sec)
{
    if (sec >= P.cap_pts) {
        uint32_t cap = P.cap_pts ? P.cap_pts : 128;
        while (cap <= sec)
            cap *= 2;
        struct bench_point *n = realloc(P.pts, sizeof *n * cap);
        if (!n) {
            log_error("out of memory for the per-second series");
            exit(2);
        }
        memset(n + P.cap_pts, 0, sizeof *n * (cap - P.cap_pts));
        P.pts = n;
        P.cap_pts = cap;
    }
    return &P.pts[sec];
}

static uint32_t duration_s(void)
{
    return (uint32_t)((P.o.duration_ms + 999) / 1000);
}
static uint32_t warmup_s(void)
{
    return (uint32_t)((P.o.warmup_ms + 999) / 1000);
}
static uint32_t drain_s(void)
{
    return (uint32_t)((P.o.drain_ms + 999) / 1000);
}

static void print_point(uint32_t s)
{
    const struct bench_point *p = &P.pts[s];
    char a[16], b[16], c[16];
    double cpu = (double)p->cpu_us / 1e4; /* % of one core */
    char srv[48] = "";
    if (P.o.n_server_pids && p->srv_cpu_s >= 0)
        snprintf(srv, sizeof srv, "  srv cpu %.0f%% rss %.0fMB", p->srv_cpu_s * 100,
                 (double)p->srv_rss_kb / 1024);
    printf("[%4us] conns %llu/%llu (+%llu) msgs/s %llu exp %llu  lat p50 %s p99 %s max %s  "
           "err %llu disc %llu  cpu %.0f%%%s%s\n",
           s + 1, (unsigned long long)p->open, (unsigned long long)P.o.conns,
           (unsigned long long)p->established, (unsigned long long)p->msgs,
           (unsigned long long)p->expected, bench_fmt_us(p->lat_p50, a),
           bench_fmt_us(p->lat_p99, b), bench_fmt_us(p->lat_max, c), (unsigned long long)p->errors,
           (unsigned long long)p->disconnects, cpu, srv,
           s < warmup_s()      ? "  (warmup)"
           : s >= duration_s() ? "  (drain)"
                               : "");
    fflush(stdout);
}

static void on_second(uint64_t now);

static double rate_for(const struct bench_point *p)
{
    return P.o.publish_rate > 0 ? (double)p->published + P.o.expect_rate : P.o.expect_rate;
}

/* A second is complete when every child still running has reported it. */
static void complete_seconds(void)
{
    for (;;) {
        uint32_t s = P.done_secs;
        bool all = true, any_alive = false;
        for (uint32_t i = 0; i < P.n_kids; i++) {
            if (P.kids[i].eof || P.kids[i].final)
                continue;
            any_alive = true;
            if (P.kids[i].next_sec <= s)
                all = false;
        }
        if (!all)
            return;
        if (!any_alive && (s >= P.cap_pts || P.pts[s].reported == 0))
            return;
        on_second(clock_mono_ms()); /* the server sample for this second, if due */
        struct bench_point *p = point(s);
        bench_point_finish(p);
        if (P.o.echo)
            p->expected = p->echo_sent;
        else
            p->expected = (uint64_t)llround((double)p->open_min * rate_for(p));
        if (p->open > P.peak_open)
            P.peak_open = p->open;
        P.done_secs = s + 1;
        if (!P.o.quiet && !P.stopping)
            print_point(s);
    }
}

static void on_record(struct kid *k)
{
    struct bench_rec *r = &k->rec;
    if (r->magic != BENCH_REC_MAGIC) {
        log_error("child %d sent a garbled record; ignoring it from now on", (int)k->pid);
        k->eof = true;
        return;
    }
    /* By send second: the window's count keeps growing until the drain ends. */
    for (uint32_t lag = 0; lag < BENCH_LAGS && lag <= r->sec; lag++)
        if (r->msgs_lag[lag])
            point(r->sec - lag)->msgs_sent += r->msgs_lag[lag];
    if (r->kind == REC_FINAL) {
        k->final = true;
        bench_totals_add(&P.tot, r, false);
        return;
    }
    bench_point_add(point(r->sec), r);
    bench_totals_add(&P.tot, r, false);
    if (r->sec + 1 > k->next_sec)
        k->next_sec = r->sec + 1;
}

static void on_kid(struct ev_loop *l, struct ev_handler *h, uint32_t events)
{
    (void)events;
    struct kid *k = container_of(h, struct kid, h);
    for (;;) {
        ssize_t n = read(k->fd, (uint8_t *)&k->rec + k->have, sizeof k->rec - k->have);
        if (n > 0) {
            k->have += (size_t)n;
            if (k->have == sizeof k->rec) {
                k->have = 0;
                on_record(k);
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        k->eof = true;
        ev_del(l, k->fd);
        close(k->fd);
        k->fd = -1;
        break;
    }
    complete_seconds();
}

/* ---- stopping ---- */

static void stop_all(bool interrupted)
{
    if (P.stopping)
        return;
    P.stopping = true;
    P.interrupted = interrupted;
    P.stop_ms = ev_now_ms(P.loop); /* the clock on_tick compares with */
    P.stop_sec = (uint32_t)((P.stop_ms - P.t0_ms) / 1000u);
    if (P.o.n_server_pids) {
        procstat_sample(P.o.server_pids, P.o.n_server_pids, &P.srv_end);
        P.have_srv_end = true;
    }
    for (uint32_t i = 0; i < P.n_kids; i++)
        if (!P.kids[i].eof)
            kill(P.kids[i].pid, SIGTERM);
}

static bool all_kids_done(void)
{
    for (uint32_t i = 0; i < P.n_kids; i++)
        if (!P.kids[i].eof)
            return false;
    return true;
}

static void on_signal(struct ev_loop *l, struct ev_handler *h, uint32_t events)
{
    (void)l;
    (void)h;
    (void)events;
    struct signalfd_siginfo si;
    while (read(P.sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (!P.stopping && !P.o.quiet)
            fprintf(stderr, "wspush-bench: stopping (signal %u)\n", si.ssi_signo);
        stop_all(true);
    }
}

/* Once per second of the run (called from the tick, so sample k is taken
 * within a tick of t0 + k s): publish acks and server figures for the
 * second that just ended. */
static void on_second(uint64_t now)
{
    uint32_t k = (uint32_t)((now - P.t0_ms) / 1000u);
    if (k < P.next_sample)
        return;
    P.next_sample = k + 1;
    if (k == 0)
        return;
    if (!P.o.n_server_pids || P.stopping)
        return;
    struct procstat_sample *n = realloc(P.samples, sizeof *n * (k + 1));
    if (!n)
        return;
    P.samples = n;
    procstat_sample(P.o.server_pids, P.o.n_server_pids, &n[k]);
    for (uint32_t i = P.n_samples; i < k; i++)
        n[i] = n[k]; /* a stalled parent: the skipped seconds get the later sample */
    P.n_samples = k + 1;
    struct bench_point *p = point(k - 1);
    p->srv_cpu_s = n[k].cpu_s - n[k - 1].cpu_s;
    p->srv_rss_kb = n[k].rss_kb;
}

static void on_tick(struct ev_loop *l, void *arg)
{
    (void)arg;
    uint64_t now = ev_now_ms(l);
    on_second(now);
    if (P.pub && !P.stopping)
        publisher_tick(P.pub, now - P.t0_ms);
    if (!P.stopping) {
        if (P.done_secs >= duration_s() + drain_s() ||
            now - P.t0_ms > P.o.duration_ms + P.o.drain_ms + DEADLINE_SLACK_MS)
            stop_all(false);
        else if (all_kids_done())
            stop_all(false);
        return;
    }
    if (all_kids_done() ||
        (now > P.stop_ms && now - P.stop_ms > P.o.close_timeout_ms + STOP_GRACE_MS))
        ev_loop_stop(l);
}

static void on_publish_ack(void *arg, uint32_t sent_sec)
{
    (void)arg;
    point(sent_sec)->published++;
}

/* ---- the run ---- */

static pid_t spawn(uint32_t proc, int *rfd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(3);
        /* Never outlive the run by much, whatever happens. */
        alarm(
            (unsigned)((P.o.duration_ms + P.o.drain_ms + P.o.close_timeout_ms + DEADLINE_SLACK_MS) /
                           1000u +
                       30u));
        close(fds[0]);
        for (uint32_t i = 0; i < proc; i++)
            if (P.kids[i].fd >= 0)
                close(P.kids[i].fd);
        close(P.sig_fd);
        client_child_main(&P.o, proc, P.t0_ms, fds[1]);
    }
    close(fds[1]);
    *rfd = fds[0];
    return pid;
}

static void finish(struct bench_result *r)
{
    memset(r, 0, sizeof *r);
    r->o = &P.o;
    r->pts = P.pts;
    r->n_pts = P.done_secs;
    r->tot = &P.tot;
    r->warmup_s = warmup_s();
    uint32_t end = duration_s();
    /* Interrupted: the last second or so may still have been in flight. */
    if (P.interrupted && P.stop_sec < end + drain_s())
        end = P.stop_sec > drain_s() ? P.stop_sec - drain_s() : 0;
    if (end > duration_s())
        end = duration_s();
    if (end > P.done_secs)
        end = P.done_secs;
    r->end_s = end;
    hist_init(&r->lat);
    uint64_t win_cpu_us = 0;
    for (uint32_t s = r->warmup_s; s < end; s++) {
        win_cpu_us += P.pts[s].cpu_us;
        r->msgs_measured += P.pts[s].msgs_sent;
        r->expected_measured += P.pts[s].expected;
        hist_add_sec(&r->lat, &P.pts[s].lat);
    }
    r->ratio = r->expected_measured ? (double)r->msgs_measured / (double)r->expected_measured : -1;
    /* the clients' own cost per delivery (issue 16 goal 5): their CPU in
     * the window (reads, frames, timestamps, pongs, any handshake still
     * ramping) over the deliveries counted in it */
    r->bench_cpu_window_s = (double)win_cpu_us / 1e6;
    r->bench_us_per_msg = r->msgs_measured ? (double)win_cpu_us / (double)r->msgs_measured : -1;
    r->peak_open = P.peak_open;
    r->open_end = end > 0 && end <= P.done_secs ? P.pts[end - 1].open : 0;
    r->wall_s = (double)(clock_mono_ms() - P.t0_ms) / 1000.0;
    struct rusage ru, rs;
    getrusage(RUSAGE_CHILDREN, &ru);
    getrusage(RUSAGE_SELF, &rs);
    r->bench_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6 +
                     (double)rs.ru_utime.tv_sec + (double)rs.ru_utime.tv_usec / 1e6 +
                     (double)rs.ru_stime.tv_sec + (double)rs.ru_stime.tv_usec / 1e6;
    r->bench_rss_per_conn_b = -1;
    if (end > 0 && end <= P.done_secs) {
        /* the children's own memory: marginal RssAnon since before their
         * first connection (their slot arrays are already in the base) */
        r->bench_rss_kb = P.pts[end - 1].bench_rss_kb;
        if (r->open_end)
            r->bench_rss_per_conn_b = procfs_bytes_per_conn(
                r->bench_rss_kb * 1024, P.pts[end - 1].bench_rss_base_kb * 1024, r->open_end);
    }
    r->interrupted = P.interrupted;
    r->killed = P.killed;
    if (P.o.n_server_pids && P.n_samples > 0) {
        r->have_srv = true;
        const struct procstat_sample *a =
            r->warmup_s < P.n_samples ? &P.samples[r->warmup_s] : &P.samples[0];
        const struct procstat_sample *b =
            end < P.n_samples ? &P.samples[end] : (P.have_srv_end ? &P.srv_end : a);
        r->srv_procs = b->n_procs;
        r->srv_cpu_s = b->cpu_s - a->cpu_s;
        r->srv_cpu_per_m = r->msgs_measured ? r->srv_cpu_s / ((double)r->msgs_measured / 1e6) : -1;
        r->srv_rss_kb = b->rss_kb;
        r->srv_rss_kb_start = P.samples[0].rss_kb;
        uint64_t conns = r->open_end ? r->open_end : 1;
        /* the one definition: marginal RssAnon (metrics/procfs.h) */
        r->srv_rss_per_conn_b =
            procfs_bytes_per_conn(b->rss_kb * 1024, P.samples[0].rss_kb * 1024, conns);
        r->tcp_mem_per_conn_b =
            (double)b->tcp_mem_pages * (double)sysconf(_SC_PAGESIZE) / (double)conns;
        r->slab_per_conn_b =
            ((double)b->slab_kb - (double)P.samples[0].slab_kb) * 1024.0 / (double)conns;
    }
    if (P.pub) {
        r->have_pub = true;
        publisher_get_totals(P.pub, &r->pub);
    }
    uint64_t errors = 0, disc = 0;
    for (int i = 0; i < CE_MAX; i++)
        errors += P.tot.ce[i];
    for (int i = 0; i < HS_MAX; i++)
        errors += P.tot.hs[i];
    for (int i = 0; i < TLSF_MAX; i++)
        errors += P.tot.tls[i];
    for (int i = 0; i < DC_MAX; i++)
        disc += P.tot.dc[i];
    if (P.o.assert_ratio >= 0)
        r->ratio_failed = r->ratio < P.o.assert_ratio;
    if (P.o.assert_no_errors)
        r->errors_failed = errors + disc > 0;
}

int main(int argc, char **argv)
{
    wsp_log_set_role("bench");
    parse_args(argc, argv, &P.o);
    P.tty = isatty(STDOUT_FILENO);
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    P.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    P.loop = ev_loop_new(256);
    P.kids = calloc(P.o.procs, sizeof *P.kids);
    if (P.sig_fd < 0 || !P.loop || !P.kids) {
        fprintf(stderr, "wspush-bench: setup failed: %s\n", strerror(errno));
        return 2;
    }
    P.sig_h.cb = on_signal;
    ev_add(P.loop, P.sig_fd, EV_READ, &P.sig_h);
    if (!P.o.quiet) {
        char a[16];
        printf("wspush-bench: %s  conns %llu  procs %u  rate %.0f/s  duration %.0fs  "
               "warmup %.0fs\n",
               P.o.url, (unsigned long long)P.o.conns, P.o.procs, P.o.rate,
               (double)P.o.duration_ms / 1000, (double)P.o.warmup_ms / 1000);
        if (P.o.have_src)
            printf("  source addresses: %u from %s\n", P.o.src.count,
                   srcaddr_format(srcaddr_at(&P.o.src, 0), a));
        fflush(stdout);
    }
    if (P.o.n_server_pids) {
        P.samples = calloc(1, sizeof *P.samples);
        if (!P.samples || procstat_sample(P.o.server_pids, P.o.n_server_pids, P.samples) < 0) {
            fprintf(stderr, "wspush-bench: --server-pid: no such process\n");
            return 2;
        }
        P.n_samples = 1;
    }
    P.t0_ms = clock_mono_ms();
    /* On a whole millisecond: timestamps in messages usually have ms
     * resolution, so a sub-ms offset would move some across boundaries. */
    P.o.t0_real_us = clock_real_us() / 1000u * 1000u;
    for (uint32_t i = 0; i < P.o.procs; i++) {
        struct kid *k = &P.kids[i];
        k->fd = -1;
        k->pid = spawn(i, &k->fd);
        if (k->pid < 0) {
            fprintf(stderr, "wspush-bench: fork failed: %s\n", strerror(errno));
            for (uint32_t j = 0; j < i; j++)
                kill(P.kids[j].pid, SIGKILL);
            return 2;
        }
        k->h.cb = on_kid;
        fcntl(k->fd, F_SETFL, O_NONBLOCK);
        ev_add(P.loop, k->fd, EV_READ, &k->h);
        P.n_kids++;
    }
    if (P.o.publish_rate > 0) {
        P.pub = publisher_new(P.loop, &P.o);
        if (!P.pub) {
            fprintf(stderr, "wspush-bench: out of memory\n");
            return 2;
        }
        publisher_set_ack_cb(P.pub, P.t0_ms, on_publish_ack, NULL);
    }
    /* 1 ms when publishes are less than 50 ms apart, so each goes out near
     * its due time (half a period off the second boundaries, publish.c). */
    ev_timer_add(P.loop, P.o.publish_rate > 20 ? 1 : 10, on_tick, NULL);
    ev_loop_run(P.loop);
    /* Hard deadline passed or all children done: nobody is left behind. */
    for (uint32_t i = 0; i < P.n_kids; i++) {
        if (!P.kids[i].eof) {
            P.killed++;
            kill(P.kids[i].pid, SIGKILL);
            on_kid(P.loop, &P.kids[i].h, EV_READ); /* drain what is there */
        }
    }
    for (uint32_t i = 0; i < P.n_kids; i++) {
        int st;
        while (waitpid(P.kids[i].pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    complete_seconds();
    struct bench_result r;
    finish(&r);
    report_summary(stdout, &r);
    int rc = 0;
    if (P.o.json_path && report_json(P.o.json_path, &r) < 0) {
        fprintf(stderr, "wspush-bench: cannot write %s: %s\n", P.o.json_path, strerror(errno));
        rc = 2;
    }
    if (P.o.html_path && report_html(P.o.html_path, &r) < 0) {
        fprintf(stderr, "wspush-bench: cannot write %s: %s\n", P.o.html_path, strerror(errno));
        rc = 2;
    }
    if (r.ratio_failed || r.errors_failed)
        rc = 1;
    publisher_free(P.pub);
    return rc;
}
