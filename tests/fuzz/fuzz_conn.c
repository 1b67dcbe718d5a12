/* fuzz_conn.c - libFuzzer target driving one whole client connection of a
 * worker (server/conn.c, routes.c, fanout.c over http_parse, ws_handshake,
 * ws_rx) through a socketpair: the handshake, then frames.
 *
 * A struct worker is set up by hand as worker_main would (loop, topic
 * index, shared counters, ring, limits from config_parse), with small
 * limits so the edges are reachable. The input goes to the peer end in 1-3
 * chunks; between chunks the worker's loop runs, and depending on the flags
 * messages are published (topic "t" and broadcast), the coarse clock ticks
 * (handshake, ping, pong and close deadlines), and the peer reads or does
 * not read (slow consumer). Finally the peer closes, then the worker kills
 * what is left as it does at exit.
 *
 * Input: byte 0 = flags (bits 0-1: chunks - 1; bit 2: publish between
 * chunks; bit 3: the peer never reads; bit 4: tick between chunks; bits 5-6:
 * slow policy), bytes 1-2 = split points; the rest is what the client sends.
 *
 * Invariants: the first response bytes are an HTTP status line; every
 * connection is freed; the gauges (conns, conns_pending, queued_bytes,
 * topics) return to 0; every established connection is counted in exactly
 * one disconnect bucket; LeakSanitizer checks the rest. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "core/wsp_assert.h"
#include "ev/timer.h"
#include "server/server_int.h"
#include "ws/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static struct wsp_config cfg;
static struct worker w;
static uint8_t out[1 << 16];
static size_t out_len;

static void on_post(struct ev_loop *l, void *arg)
{
    (void)l;
    conn_reap(arg);
}

static uint32_t ticks_for(uint64_t ms)
{
    return (uint32_t)ev_ticks_for_ms(ms);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* writes to a peer that hung up: EPIPE, not death */
    char *argv[] = {"serve",
                    "--echo-path",
                    "/echo",
                    "--max-message",
                    "4096",
                    "--max-backlog",
                    "8KiB",
                    "--max-head",
                    "2048",
                    "--max-headers",
                    "16",
                    "--msg-rate",
                    "64",
                    "--ping-interval",
                    "2s",
                    "--pong-timeout",
                    "1s",
                    "--handshake-timeout",
                    "2s",
                    "--max-topics",
                    "4",
                    "--allow-origin",
                    "http://ok.example,null",
                    "--log-level",
                    "error",
                    NULL};
    int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
    WSP_ASSERT(config_parse(&cfg, argc, argv, stdout, stderr) == 0);
    w.cfg = &cfg;
    w.host_ops = &public_port_ops;
    w.loop = ev_loop_new(64);
    w.topics = topic_index_new();
    w.shared = metrics_shared_new(1);
    w.st = &w.shared->w[0];
    w.ring = ring_create(64 * 1024);
    w.rbuf_size = 64 * 1024;
    w.rbuf = malloc(w.rbuf_size);
    WSP_ASSERT(w.loop && w.topics && w.shared && w.ring && w.rbuf);
    ring_reader_init(&w.rd, w.ring);
    w.listen_fd = -1;
    w.spare_fd = -1;
    w.wake_fd = -1;
    w.sig_fd = -1;
    w.tick = 1;
    w.ticks_handshake = ticks_for(cfg.handshake_timeout_ms);
    w.ticks_ping = ticks_for(cfg.ping_interval_ms);
    w.ticks_pong = ticks_for(cfg.pong_timeout_ms);
    w.hs_cfg =
        (struct ws_handshake_cfg){cfg.protocols, cfg.n_protocols, cfg.origins, cfg.n_origins};
    w.rx_cfg = (struct ws_rx_cfg){.max_message_bytes = cfg.max_message};
    w.rx_cfg_echo = (struct ws_rx_cfg){.max_message_bytes = cfg.max_message, .keep_payload = true};
    w.http_lim = (struct http_limits){cfg.max_head, cfg.max_headers};
    ev_loop_set_user(w.loop, &w);
    ev_loop_set_post(w.loop, on_post, &w);
}

static void drain(int fd)
{
    uint8_t sink[16384];
    for (;;) {
        ssize_t r = read(fd, sink, sizeof sink);
        if (r <= 0)
            return;
        size_t k = (size_t)r;
        if (k > sizeof out - out_len)
            k = sizeof out - out_len;
        memcpy(out + out_len, sink, k);
        out_len += k;
    }
}

static void spin(int fd, bool reads, int times)
{
    for (int i = 0; i < times; i++) {
        ev_loop_run_once(w.loop, 0);
        if (reads)
            drain(fd);
    }
}

static void publish(uint32_t salt)
{
    static const uint64_t broadcast_key = 0x9e3779b97f4a7c15ull;
    char payload[3000];
    size_t pl = 100 + salt % (sizeof payload - 100);
    memset(payload, 'a' + (int)(salt % 26), pl);
    struct msg *m = msg_new_frame(WS_OP_TEXT, payload, pl);
    WSP_ASSERT(m);
    m->topic_key = msg_topic_key("t", 1);
    fanout_deliver(&w, m, 0, "t", 1);
    msg_unref(m);
    m = msg_new_frame(WS_OP_BINARY, payload, pl / 2);
    WSP_ASSERT(m);
    m->topic_key = broadcast_key;
    fanout_deliver(&w, m, RING_F_BROADCAST, NULL, 0);
    msg_unref(m);
}

static void tick(void)
{
    w.tick = ev_tick_next(w.tick);
    for (uint32_t i = 0; i < w.nconns; i++)
        conn_on_tick(&w, w.conns[i]);
}

static uint64_t disconnects(void)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < CB_COUNT; i++)
        s += w.st->disconnects[i];
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (!w.loop)
        setup();
    if (n < 3)
        return 0;
    uint8_t flags = d[0];
    const uint8_t *body = d + 3;
    size_t body_n = n - 3;
    unsigned chunks = 1 + (flags & 3) % 3;
    bool pub = flags & 4, reads = !(flags & 8), ticks = flags & 16;
    cfg.slow_policy = (enum slow_policy)(((flags >> 5) & 3) % 3);
    size_t b[4] = {0, body_n, body_n, body_n}; /* chunk k is [b[k], b[k+1]) */
    if (chunks >= 2)
        b[1] = d[1] % (body_n + 1);
    if (chunks == 3)
        b[2] = b[1] + d[2] % (body_n - b[1] + 1);

    uint64_t hs0 = w.st->handshakes_total, disc0 = disconnects();
    int sp[2];
    WSP_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) == 0);
    struct conn *c = conn_new(&w, sp[0]);
    WSP_ASSERT(c && w.nconns == 1 && w.st->conns_pending == 1);
    out_len = 0;

    for (unsigned k = 0; k < chunks; k++) {
        size_t off = b[k];
        int stuck = 0;
        while (off < b[k + 1] && stuck < 8) {
            ssize_t r = write(sp[1], body + off, b[k + 1] - off);
            if (r > 0) {
                off += (size_t)r;
                stuck = 0;
            } else if (r < 0 && errno != EAGAIN) {
                break; /* the server hung up: fine */
            } else {
                stuck++;
            }
            spin(sp[1], reads, 1);
        }
        spin(sp[1], reads, 2);
        if (pub)
            for (unsigned i = 0; i < 4; i++)
                publish((uint32_t)(k * 31 + i * 7 + flags));
        if (ticks) {
            tick();
            tick();
        }
        spin(sp[1], reads, 2);
    }
    shutdown(sp[1], SHUT_WR);
    spin(sp[1], reads, 3);
    close(sp[1]);
    spin(-1, false, 3);
    /* what a peer's EOF did not end, the worker ends at exit */
    for (uint32_t i = 0; i < w.nconns; i++)
        conn_kill(&w, w.conns[i], WS_CLOSE_GOING_AWAY);
    conn_reap(&w);

    if (out_len)
        WSP_ASSERT(out_len >= 9 && !memcmp(out, "HTTP/1.1 ", 9));
    WSP_ASSERT(w.nconns == 0);
    WSP_ASSERT(w.st->conns == 0 && w.st->conns_pending == 0);
    WSP_ASSERT(w.st->queued_bytes == 0);
    WSP_ASSERT(topic_index_topics(w.topics) == 0 && w.st->topics == 0);
    WSP_ASSERT(w.st->handshakes_total - hs0 == disconnects() - disc0);
    WSP_ASSERT(w.st->handshakes_total - hs0 <= 1);
    return 0;
}
