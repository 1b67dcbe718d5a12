/* fuzz_admin.c - libFuzzer target for the admin port's request handling.
 *
 * Drives the real admin code (admin.c: buffering, the request loop with
 * pipelining and bodies, routes, auth, publish, /stats, /metrics, the
 * /live WebSocket) over a socketpair, against a standalone master (no
 * workers: publishes only reach its ring). The input is written in 1-3
 * chunks whose split points come from its first bytes, then the peer
 * closes.
 *
 * Input: byte 0 = flags (bit 0: a publish token is configured; bits 1-2:
 * chunks - 1), bytes 1-2 = split points; the rest is what the client sends.
 *
 * Invariants checked: the first response bytes are an HTTP status line;
 * nothing is published without a 202 response and every 202 to a publish
 * is one entry in the ring; after the peer closes, the connection is freed
 * (admin_conn_count() == 0); LeakSanitizer checks the rest. */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "core/wsp_assert.h"
#include "ev/loop.h"
#include "pubsub/ring.h"
#include "server/admin.h"
#include "server/master.h"
#include "server/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static struct wsp_config cfg;
static struct master *m;
static struct ev_loop *loop;
static struct admin *adm;

static uint8_t *out;
static size_t out_len, out_cap;

static void on_post(struct ev_loop *l, void *arg)
{
    (void)l;
    admin_reap(arg);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* writes to a peer that hung up: EPIPE, not death */
    char *argv[] = {"serve", "--max-message", "4096", "--ring-size", "64KiB", "--max-head",
                    "2048",  "--max-headers", "16",   "--log-level", "error", NULL};
    WSP_ASSERT(config_parse(&cfg, 11, argv, stdout, stderr) == 0);
    m = master_new_standalone(&cfg);
    loop = ev_loop_new(64);
    WSP_ASSERT(m && loop);
    /* a "listener" that never becomes readable: connections are adopted */
    int lp[2];
    WSP_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, lp) == 0);
    close(lp[1]);
    adm = admin_new(master_node(m), loop, lp[0]);
    WSP_ASSERT(adm);
    ev_loop_set_post(loop, on_post, adm);
    out_cap = 1 << 20;
    out = malloc(out_cap);
    WSP_ASSERT(out);
}

/* Reads what the admin wrote; keeps the first out_cap bytes. */
static void drain(int fd)
{
    uint8_t sink[65536];
    for (;;) {
        ssize_t r = read(fd, sink, sizeof sink);
        if (r <= 0)
            return;
        size_t k = (size_t)r;
        if (k > out_cap - out_len)
            k = out_cap - out_len;
        memcpy(out + out_len, sink, k);
        out_len += k;
    }
}

static void spin(int fd, int times)
{
    for (int i = 0; i < times; i++) {
        ev_loop_run_once(loop, 0);
        drain(fd);
    }
}

static size_t count(const uint8_t *p, size_t n, const char *s)
{
    size_t k = 0, sl = strlen(s);
    for (size_t i = 0; i + sl <= n; i++)
        if (!memcmp(p + i, s, sl))
            k++;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (!m)
        setup();
    if (n < 3)
        return 0;
    uint8_t flags = d[0];
    size_t body_n = n - 3;
    const uint8_t *body = d + 3;
    snprintf(cfg.publish_token, sizeof cfg.publish_token, "%s", (flags & 1) ? "sekrit" : "");
    unsigned chunks = 1 + ((flags >> 1) & 3) % 3;
    size_t b[4] = {0, body_n, body_n, body_n}; /* chunk k is [b[k], b[k+1]) */
    if (chunks >= 2)
        b[1] = d[1] % (body_n + 1);
    if (chunks == 3)
        b[2] = b[1] + d[2] % (body_n - b[1] + 1);

    int sp[2];
    WSP_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == 0);
    WSP_ASSERT(admin_adopt(adm, sp[0]) == 0);
    uint64_t pub0 = master_node(m)->published[PUB_HTTP];
    uint64_t seq0 = ring_head_seq(master_node(m)->ring);
    out_len = 0;

    for (unsigned k = 0; k < chunks; k++) {
        size_t lo = b[k], hi = b[k + 1];
        size_t off = lo;
        int stuck = 0;
        while (off < hi && stuck < 64) {
            ssize_t w = write(sp[1], body + off, hi - off);
            if (w > 0) {
                off += (size_t)w;
                stuck = 0;
            } else if (w < 0 && errno != EAGAIN) {
                break; /* the admin closed on us: fine */
            } else {
                stuck++;
            }
            spin(sp[1], 1);
        }
        spin(sp[1], 2);
    }
    shutdown(sp[1], SHUT_WR);
    spin(sp[1], 4);
    close(sp[1]);
    spin(-1, 2);
    /* the peer is gone: its connection must be gone too */
    WSP_ASSERT(admin_conn_count(adm) == 0);

    if (out_len)
        WSP_ASSERT(out_len >= 9 && !memcmp(out, "HTTP/1.1 ", 9));
    uint64_t published = master_node(m)->published[PUB_HTTP] - pub0;
    uint64_t entries = ring_head_seq(master_node(m)->ring) - seq0;
    WSP_ASSERT(published == entries);
    if (out_len < out_cap)
        WSP_ASSERT(published == count(out, out_len, "HTTP/1.1 202 "));
    return 0;
}
