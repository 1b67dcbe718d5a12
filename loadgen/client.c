/* client.c - one wspush-bench child: its share of the connections.
 *
 * A single-threaded event loop drives up to ~20k client connections through
 * connect -> RFC 6455 opening handshake -> open (frames in through ws_rx,
 * pings answered, timestamps read from each message's first bytes) ->
 * close handshake, and reports per-second counts to the parent over a pipe.
 * With wss:// (btls.c) a TLS handshake runs between connect and the opening
 * handshake, in the same loop and non-blocking (state CS_TLS), and every
 * read and write goes through the connection's SSL; the SSL pointers sit in
 * an array parallel to the slots (allocated only for wss://), so a slot
 * stays 64 bytes and plain runs pay nothing. Once the opening handshake is
 * done, a TLS 1.3 connection leaves OpenSSL the way the server's do
 * (tls/tls13rec.h): its traffic secrets, captured during the handshake,
 * go to a struct tls13_rec (a second parallel array), the SSL is freed,
 * and its records are read through io_uring like plain bytes and opened
 * here (BC_REC). TLS 1.2 (--tls-max 1.2) keeps its SSL.
 * With --sse the same slots run Server-Sent Events streams instead: a GET
 * with Accept: text/event-stream, a 200 head, then events read by sse_rx
 * (8 bytes of state in the slot) and counted exactly like messages; our
 * close is just closing the socket (SSE has no close handshake).
 * With --deflate the request offers permessage-deflate (bdeflate.c); a
 * connection whose server accepted is marked in its slot (BC_DEFLATE) and
 * fed whole messages, a compressed one inflated by the process's single
 * ws_inflater, so the timestamp is read from the inflated text and a slot
 * stays 64 bytes.
 *
 * Memory: one fixed 64-byte struct bconn per connection in a dense array,
 * one read buffer for the process; a partial 101 response (rare) is kept in
 * a buffer allocated for the handshake only, and ws_rx allocates only while
 * a frame is split across reads. Small writes (pong, close, echo) are sent
 * at once; if one does not fit in the socket buffer it is dropped and
 * counted rather than queued.
 *
 * Invariant: a slot is in exactly one state; slots in CS_IDLE are on the idle
 * stack unless the child is stopping. Connections are only started from the
 * timer, after the event batch, so an event for a slot closed earlier in
 * the same batch finds it idle and is ignored. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bdeflate.h"
#include "bench.h"
#include "btls.h"
#include "sse_rx.h"
#include "ts.h"
#include "urecv.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "ev/loop.h"
#include "metrics/procfs.h"
#include "ws/ws_deflate.h"
#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"
#include "tls/tls.h"
#include "tls/tls13rec.h"
#include "ws/ws_rx.h"

#define RBUF_BYTES (64 * 1024)
#define HS_MAX_BYTES 4096 /* a 101 response larger than this is refused */
#define TICK_MS 10
#define ECHO_SLOTS (1000 / TICK_MS)

enum cstate { CS_IDLE, CS_CONNECTING, CS_TLS, CS_HANDSHAKE, CS_OPEN, CS_CLOSING };

/* One client connection. Owned by the child's pool; 64 bytes. */
struct bconn {
    struct ev_handler h;
    union {
        struct ws_rx *rx;  /* CS_OPEN/CS_CLOSING: partial frame state or NULL */
        uint8_t *hs_buf;   /* CS_HANDSHAKE: partial response head or NULL */
        struct sse_rx sse; /* --sse, CS_OPEN: the event reader */
    } u;
    int fd;        /* -1 when idle */
    uint32_t t_us; /* wrapping us: when the current attempt/close began */
    union {
        uint16_t hs_len; /* CS_HANDSHAKE: bytes in hs_buf */
        uint16_t flags;  /* CS_OPEN/CS_CLOSING: BC_* */
    };
    uint8_t state;               /* enum cstate */
    uint8_t ts_len;              /* bytes of the current message kept in ts[] */
    uint8_t ts[TS_PREFIX_BYTES]; /* handshake: the raw 16-byte key */
};
_Static_assert(sizeof(struct bconn) <= 64, "struct bconn grew past 64 bytes");
#define BC_DEFLATE 1u /* permessage-deflate agreed: C.rxcfg_dfl, counted in rec.dfl */
#define BC_URING 2u   /* read through C.ur (urecv.h), not in the event loop */
#define BC_REC 4u     /* wss:// handed over: C.trec's records, no SSL */

static struct child {
    const struct bench_opts *o;
    uint32_t proc;
    struct ev_loop *loop;
    struct bconn *pool;
    SSL **ssl;               /* wss://: parallel to pool, NULL when idle; NULL array for ws:// */
    SSL_CTX *tls;            /* wss:// */
    struct tls13_rec **trec; /* wss://: parallel to pool, the capture, then the record layer */
    struct btls_cfg tls_cfg;
    uint32_t n;
    uint32_t *idle;
    uint32_t n_idle;
    uint64_t t0_ms;
    struct srcaddr_iter src;
    double rate, tokens, churn_acc;
    uint64_t last_tick_ms;
    uint32_t max_inflight;
    uint32_t open, inflight, closing, sec_min_open;
    uint32_t cur_sec;
    uint32_t churn_cursor;
    uint64_t ticks;
    struct bench_rec rec;
    uint64_t cpu_last_us;
    int out_fd;
    int sig_fd;
    struct ev_handler sig_h;
    bool stopping;
    uint64_t stop_ms;
    uint64_t recv_us;       /* real time of the current read */
    int64_t label_shift_us; /* send-second labelling shift, in (-1 s, 0] */
    bool label_shift_set;
    uint64_t rng;
    uint16_t close_code; /* set by on_close during a feed */
    uint8_t *rbuf;
    struct ws_rx_cfg rxcfg;
    struct ws_rx_cfg rxcfg_dfl;            /* --deflate: whole messages, the inflater */
    struct ws_inflater *inflater;          /* --deflate: the process's one inflater */
    char req[1024 + BENCH_TOKEN_MAX + 32]; /* head; a token fits after the key */
    size_t req_prefix_len;
    uint64_t first_conn; /* this child's connection 0 is the run's connection first_conn */
    struct urecv *ur;    /* open connections' reads (urecv.h); NULL: epoll */
    struct ev_handler ur_h;
    uint16_t *ur_gen; /* per slot: its arming's generation, in the tag's high half */
} C;

static uint64_t rnd(void)
{
    uint64_t x = C.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    C.rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t now_us32(void)
{
    return (uint32_t)(clock_mono_ns() / 1000u);
}

size_t bench_slot_bytes(const struct bench_opts *o)
{
    return sizeof(struct bconn) + sizeof(uint32_t) +
           (o->tls ? sizeof(SSL *) + sizeof(struct tls13_rec *) : 0);
}

/* A tls13rec result as recv/send say it: bytes, or -1 with errno. */
static ssize_t rec_result(ssize_t k)
{
    if (k >= 0)
        return k;
    errno = k == WSP_EAGAIN ? EAGAIN : k == WSP_EPROTO ? EPROTO : (int)-k;
    return -1;
}

/* A handed-over connection's record layer (BC_REC), else NULL. Open and
 * closing connections only: before that, flags is the handshake's length. */
static struct tls13_rec *rec_of(const struct bconn *c)
{
    return (c->flags & BC_REC) ? C.trec[c - C.pool] : NULL;
}

/* recv/send on the slot's socket, through its SSL for wss://, or its
 * record layer once handed over (same contract). */
static ssize_t io_recv(struct bconn *c, void *buf, size_t n)
{
    if (C.ssl && C.ssl[c - C.pool])
        return btls_read(C.ssl[c - C.pool], buf, n);
    if (C.trec && rec_of(c))
        return rec_result(tls13_rec_read(rec_of(c), c->fd, buf, n));
    return recv(c->fd, buf, n, 0);
}

static ssize_t io_send(struct bconn *c, const void *buf, size_t n)
{
    if (C.ssl && C.ssl[c - C.pool])
        return btls_write(C.ssl[c - C.pool], buf, n);
    if (C.trec && rec_of(c)) {
        ssize_t k = tls13_rec_write(rec_of(c), c->fd, buf, n);
        if (k == 0) { /* the record is held, half sent: as OpenSSL's would be */
            errno = EAGAIN;
            return -1;
        }
        return rec_result(k);
    }
    return send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Input a connection's TLS layer took off the socket and has not returned. */
static bool tls_has_pending(struct bconn *c)
{
    uint32_t i = (uint32_t)(c - C.pool);
    if (C.ssl && C.ssl[i])
        return SSL_has_pending(C.ssl[i]);
    return C.trec && C.trec[i] && tls13_rec_pending(C.trec[i]) > 0;
}

static size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

/* ---- stats ---- */

static void rec_reset(void)
{
    uint64_t first = C.rec.first_try_us, last = C.rec.last_est_us; /* gauges */
    uint64_t base = C.rec.rss_base_kb;
    memset(&C.rec, 0, sizeof C.rec);
    C.rec.first_try_us = first;
    C.rec.last_est_us = last;
    C.rec.rss_base_kb = base;
    hist_sec_init(&C.rec.lat);
    C.sec_min_open = C.open;
}

static uint64_t cpu_now_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
           (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
}

static void rec_send(uint16_t kind, uint32_t sec)
{
    C.rec.magic = BENCH_REC_MAGIC;
    C.rec.proc = (uint16_t)C.proc;
    C.rec.kind = kind;
    C.rec.sec = sec;
    C.rec.open = C.open;
    C.rec.open_min = C.sec_min_open < C.open ? C.sec_min_open : C.open;
    C.rec.inflight = C.inflight;
    uint64_t cpu = cpu_now_us();
    C.rec.cpu_us = cpu - C.cpu_last_us;
    C.cpu_last_us = cpu;
    struct procfs_mem m;
    C.rec.rss_anon_kb = procfs_mem_read(getpid(), &m) == 0 ? m.anon_bytes / 1024 : 0;
    const uint8_t *p = (const uint8_t *)&C.rec;
    size_t left = sizeof C.rec;
    while (left > 0) {
        ssize_t w = write(C.out_fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(3); /* the parent is gone: nobody to report to */
        p += w;
        left -= (size_t)w;
    }
    rec_reset();
}

static void note_open_drop(void)
{
    if (C.open < C.sec_min_open)
        C.sec_min_open = C.open;
}

/* ---- connection lifecycle ---- */

/* A slot's tag in C.ur: its index and the generation of this arming. */
static uint64_t ur_tag(uint32_t slot)
{
    return (uint64_t)C.ur_gen[slot] << 32 | slot;
}

/* Closes the socket and frees what the slot holds; the slot goes back on
 * the idle stack (reconnected by the ramp) unless the child is stopping. */
static void conn_release(struct bconn *c)
{
    switch (c->state) {
    case CS_CONNECTING:
    case CS_TLS:
        C.inflight--;
        break;
    case CS_HANDSHAKE:
        C.inflight--;
        free(c->u.hs_buf);
        break;
    case CS_OPEN:
        C.open--;
        note_open_drop();
        if (!C.o->sse)
            ws_rx_free(c->u.rx);
        break;
    case CS_CLOSING:
        C.closing--;
        ws_rx_free(c->u.rx);
        break;
    default:
        return;
    }
    c->u.rx = NULL;
    if ((c->state == CS_OPEN || c->state == CS_CLOSING) && (c->flags & BC_URING)) {
        uint32_t slot = (uint32_t)(c - C.pool);
        urecv_disarm(C.ur, c->fd, ur_tag(slot));
        C.ur_gen[slot]++; /* what is still posted for it is stale */
    }
    if (C.ssl) {
        btls_conn_free(C.ssl[c - C.pool]);
        C.ssl[c - C.pool] = NULL;
    }
    if (C.trec && C.trec[c - C.pool]) {
        tls13_rec_clear(C.trec[c - C.pool]);
        free(C.trec[c - C.pool]);
        C.trec[c - C.pool] = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = CS_IDLE;
    c->hs_len = 0;
    c->ts_len = 0;
    if (!C.stopping)
        C.idle[C.n_idle++] = (uint32_t)(c - C.pool);
}

static int send_frame(struct bconn *c, uint8_t opcode, const void *p, size_t n)
{
    uint8_t buf[WS_MAX_HEADER + 128];
    uint64_t r = rnd();
    uint8_t mask[4] = {(uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16), (uint8_t)(r >> 24)};
    size_t len = ws_frame_encode(buf, sizeof buf, true, opcode, p, n, mask);
    if (len == 0)
        return -1;
    ssize_t w = io_send(c, buf, len);
    if (w != (ssize_t)len) {
        C.rec.send_drops++;
        if (C.tls && w < 0 && errno == EAGAIN) {
            /* Part of the record may sit in OpenSSL's buffer: the stream
             * cannot go on without it. Shut the socket; the read that
             * follows sees EOF and releases the slot (not from here: a
             * caller may be inside ws_rx_feed). */
            C.rec.tls[TLSF_WRITE_BLOCKED]++;
            shutdown(c->fd, SHUT_RDWR);
        }
        return -1;
    }
    return 0;
}

/* Starts our close handshake (§7.1.2): close frame, then wait for the
 * server's close (or EOF) before closing the socket. */
static void conn_close_start(struct bconn *c, uint16_t code)
{
    if (C.o->sse) { /* no close handshake: the stream ends with the socket */
        C.rec.closed_clean++;
        conn_release(c);
        return;
    }
    uint8_t pl[WS_MAX_CONTROL];
    size_t n = ws_close_payload(pl, code, NULL);
    if (send_frame(c, WS_OP_CLOSE, pl, n) < 0) {
        conn_release(c);
        return;
    }
    C.open--;
    note_open_drop();
    C.closing++;
    c->state = CS_CLOSING;
    c->t_us = now_us32();
}

static void conn_cb(struct ev_loop *l, struct ev_handler *h, uint32_t events);

static void conn_start(struct bconn *c)
{
    if (!C.rec.first_try_us)
        C.rec.first_try_us = clock_mono_ns() / 1000u;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        C.rec.ce[bench_ce_from_errno(errno)]++;
        C.idle[C.n_idle++] = (uint32_t)(c - C.pool);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (C.o->have_src) {
        /* Let connect() pick the port per 4-tuple, so one source address
         * serves many more connections than its port range. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(srcaddr_iter_next(&C.src))};
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            goto fail;
    }
    struct sockaddr_in da = {.sin_family = AF_INET,
                             .sin_port = htons(C.o->dst_port),
                             .sin_addr.s_addr = htonl(C.o->dst_ip)};
    if (connect(fd, (struct sockaddr *)&da, sizeof da) < 0 && errno != EINPROGRESS)
        goto fail;
    if (ev_add(C.loop, fd, EV_WRITE, &c->h) < 0)
        goto fail;
    c->fd = fd;
    c->state = CS_CONNECTING;
    c->t_us = now_us32();
    c->u.rx = NULL;
    C.inflight++;
    return;
fail:
    C.rec.ce[bench_ce_from_errno(errno)]++;
    close(fd);
    C.idle[C.n_idle++] = (uint32_t)(c - C.pool);
}

static void send_request(struct bconn *c);
static void tls_step(struct bconn *c);

static void on_connected(struct bconn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        C.rec.ce[bench_ce_from_errno(err)]++;
        conn_release(c);
        return;
    }
    if (C.ssl) {
        SSL *ssl = btls_conn_new(C.tls, &C.tls_cfg, c->fd);
        struct tls13_rec *cap = calloc(1, sizeof *cap);
        if (!ssl || !cap || tls_capture(ssl, cap) < 0) {
            btls_conn_free(ssl);
            free(cap);
            C.rec.tls[TLSF_SETUP]++;
            conn_release(c);
            return;
        }
        C.ssl[c - C.pool] = ssl;
        C.trec[c - C.pool] = cap;
        c->state = CS_TLS;
        tls_step(c);
        return;
    }
    send_request(c);
}

/* Runs the TLS handshake as far as the socket allows; when it is done,
 * sends the opening handshake over it. */
static void tls_step(struct bconn *c)
{
    int r = btls_handshake_step(C.ssl[c - C.pool]);
    if (r == BTLS_DONE) {
        send_request(c);
        return;
    }
    if (r < 0) {
        C.rec.tls[-r - 1]++;
        conn_release(c);
        return;
    }
    if (ev_mod(C.loop, c->fd, r == BTLS_WANT_WRITE ? EV_WRITE : EV_READ, &c->h) < 0) {
        C.rec.tls[TLSF_RESET]++;
        conn_release(c);
    }
}

/* The opening handshake's request (§4.1), or the SSE stream's GET. */
static void send_request(struct bconn *c)
{
    uint64_t r1 = rnd(), r2 = rnd();
    memcpy(c->ts, &r1, 8);
    memcpy(c->ts + 8, &r2, 8);
    char *p = C.req + C.req_prefix_len;
    if (!C.o->sse)
        p += b64_encode(c->ts, 16, p);
    /* --token/--token-file: connection i of the run sends token i mod n */
    const char *tok = bench_tokens_for(&C.o->sub_tokens, C.first_conn + (uint64_t)(c - C.pool));
    if (tok) {
        size_t tl = strlen(tok);
        memcpy(p, "\r\nAuthorization: Bearer ", 24);
        memcpy(p + 24, tok, tl);
        p += 24 + tl;
    }
    memcpy(p, "\r\n\r\n", 4);
    p += 4;
    size_t n = (size_t)(p - C.req);
    ssize_t w = io_send(c, C.req, n);
    if (w != (ssize_t)n || ev_mod(C.loop, c->fd, EV_READ, &c->h) < 0) {
        C.rec.hs[HS_SHORT_WRITE]++;
        conn_release(c);
        return;
    }
    c->state = CS_HANDSHAKE;
    c->hs_len = 0;
}

/* ---- frames in ---- */

static void on_data(void *ctx, uint8_t opcode, const uint8_t *p, size_t n, bool first)
{
    (void)opcode;
    struct bconn *c = ctx;
    if (first)
        c->ts_len = 0;
    size_t room = TS_PREFIX_BYTES - c->ts_len;
    if (n > room)
        n = room;
    memcpy(c->ts + c->ts_len, p, n);
    c->ts_len = (uint8_t)(c->ts_len + n);
}

static void on_message(void *ctx, uint8_t opcode, const uint8_t *p, size_t n)
{
    struct bconn *c = ctx;
    if (p) { /* a whole message (BC_DEFLATE: inflated if it was compressed) */
        c->ts_len = 0;
        if (n)
            on_data(ctx, opcode, p, n, true);
    }
    if (c->flags & BC_DEFLATE) {
        C.rec.dfl.msgs++;
        C.rec.dfl.msg_bytes += n;
    }
    uint64_t sent_us;
    bool counted = !C.o->echo || (c->ts_len >= 5 && memcmp(c->ts, "echo ", 5) == 0);
    if (counted && ts_extract(c->ts, c->ts_len, n > c->ts_len, &sent_us) == 0) {
        C.rec.msgs++;
        C.rec.bytes += n;
        hist_sec_record(&C.rec.lat, C.recv_us > sent_us ? C.recv_us - sent_us : 0);
        int64_t rel = (int64_t)(sent_us - C.o->t0_real_us);
        if (!C.label_shift_set) {
            /* A ticker sends every message of a tick with one timestamp at
             * a fixed phase; if that phase sat on our second boundary,
             * jitter would put two ticks in one second and none in the
             * next. Move the boundaries half a second away from the phase
             * seen first (labels only move earlier, so lags stay >= 0).
             * Any whole number of seconds still holds exactly that many
             * ticks, so each process may pick its own shift. */
            C.label_shift_set = true;
            if (C.o->publish_rate <= 0 && !C.o->echo) {
                int64_t phase = ((rel % 1000000) + 1000000) % 1000000;
                C.label_shift_us = ((500000 - phase) % 1000000 + 1000000) % 1000000 - 1000000;
                if (C.label_shift_us <= -1000000)
                    C.label_shift_us = 0;
            }
        }
        rel += C.label_shift_us;
        uint64_t lag = BENCH_LAGS;
        if (sent_us >= C.o->t0_real_us && rel >= 0) {
            uint64_t send_sec = (uint64_t)rel / 1000000u;
            lag = send_sec <= C.cur_sec ? C.cur_sec - send_sec : 0;
        }
        if (lag < BENCH_LAGS)
            C.rec.msgs_lag[lag]++;
        else
            C.rec.msgs_unplaced++;
    } else if (counted) {
        C.rec.msgs++;
        C.rec.bytes += n;
        C.rec.msgs_lag[0]++;
        C.rec.no_ts++;
    } else {
        C.rec.no_ts++;
    }
    c->ts_len = 0;
}

static void on_ping(void *ctx, const uint8_t *p, size_t n)
{
    struct bconn *c = ctx;
    C.rec.pings++;
    send_frame(c, WS_OP_PONG, p, n);
}

static void on_pong(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
}

static void on_close(void *ctx, uint16_t code, const uint8_t *reason, size_t n)
{
    (void)ctx;
    (void)reason;
    (void)n;
    C.close_code = code;
}

/* --sse: an event is a message; its data's first bytes carry the time */
static void on_sse_data(void *ctx, const uint8_t *p, size_t n)
{
    on_data(ctx, 0, p, n, false);
}

static void on_sse_event(void *ctx, size_t n)
{
    on_message(ctx, 0, NULL, n);
}

static void on_sse_comment(void *ctx)
{
    (void)ctx;
    C.rec.pings++; /* the server's heartbeat */
}

static const struct sse_rx_ops sse_ops = {
    .on_data = on_sse_data,
    .on_event = on_sse_event,
    .on_comment = on_sse_comment,
};

static const struct ws_rx_ops rx_ops = {
    .on_message = on_message,
    .on_data = on_data,
    .on_ping = on_ping,
    .on_pong = on_pong,
    .on_close = on_close,
};

/* Feeds bytes to the frame processor and acts on its verdict. Returns false
 * when the connection was released. */
static bool conn_feed(struct bconn *c, uint8_t *data, size_t len)
{
    if (C.o->sse) {
        sse_rx_feed(&c->u.sse, data, len, &sse_ops, c);
        return true;
    }
    uint16_t code = 0;
    const char *reason = NULL;
    C.close_code = 0;
    const struct ws_rx_cfg *cfg = &C.rxcfg;
    if (c->flags & BC_DEFLATE) {
        cfg = &C.rxcfg_dfl;
        C.rec.dfl.wire_bytes += len;
    }
    int r = ws_rx_feed(&c->u.rx, cfg, data, len, &rx_ops, c, &code, &reason);
    if (r == WS_RX_OK)
        return true;
    if (r == WS_RX_CLOSED) {
        if (c->state == CS_CLOSING) {
            C.rec.closed_clean++;
        } else {
            /* The server closed: count why, answer (§5.5.1), and reconnect. */
            C.rec.dc[bench_dc_from_code(C.close_code)]++;
            uint8_t pl[WS_MAX_CONTROL];
            uint16_t echo = ws_close_code_valid(C.close_code) ? C.close_code : 1000;
            send_frame(c, WS_OP_CLOSE, pl, ws_close_payload(pl, echo, NULL));
        }
        conn_release(c);
        return false;
    }
    if (c->state == CS_CLOSING) {
        C.rec.closed_clean++;
    } else {
        C.rec.dc[DC_PROTO]++;
        uint8_t pl[WS_MAX_CONTROL];
        send_frame(c, WS_OP_CLOSE, pl, ws_close_payload(pl, code ? code : 1002, NULL));
    }
    conn_release(c);
    return false;
}

/* EOF or a reset without a close frame: clean if we were closing. */
static void conn_ended(struct bconn *c)
{
    if (c->state == CS_CLOSING)
        C.rec.closed_clean++;
    else
        C.rec.dc[DC_1006]++;
    conn_release(c);
}

static void on_readable(struct bconn *c)
{
    /* TLS: a read returns one record; what is left in the socket keeps it
     * readable (level-triggered), so no read is made just to see EAGAIN */
    int reads = C.tls ? 16 : 4;
    for (int k = 0; k < reads; k++) {
        ssize_t n = io_recv(c, C.rbuf, RBUF_BYTES);
        if (n > 0) {
            C.recv_us = clock_real_us();
            if (!conn_feed(c, C.rbuf, (size_t)n))
                return;
            if (n < RBUF_BYTES && !C.tls)
                return;
            /* one record per TLS read: more in the socket wakes us again */
            if (C.tls && !tls_has_pending(c))
                return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0 && errno == EPROTO && c->state != CS_CLOSING) {
            C.rec.tls[TLSF_OPEN_ERROR]++;
            conn_release(c);
            return;
        }
        conn_ended(c);
        return;
    }
}

/* Finds the first header called name (lower case, with its ':') in a
 * response head: true with its value (whitespace trimmed) in *v, *vlen. */
static bool find_header(const char *p, size_t len, const char *name, size_t name_len,
                        const char **v, size_t *vlen)
{
    const char *end = p + len;
    const char *line = memchr(p, '\n', len);
    while (line && line + 1 < end) {
        line++;
        size_t left = (size_t)(end - line);
        if (left > name_len && strncasecmp(line, name, name_len) == 0) {
            const char *b = line + name_len;
            while (b < end && (*b == ' ' || *b == '\t'))
                b++;
            const char *e = b;
            while (e < end && *e != '\r' && *e != '\n')
                e++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *v = b;
            *vlen = (size_t)(e - b);
            return true;
        }
        line = memchr(line, '\n', left);
    }
    return false;
}

/* Checks a complete 101 response head (ending in the blank line). Returns
 * -1 if it is a valid upgrade for key_b64, else an enum bench_hs cause.
 * With --deflate, *deflate says whether the server agreed (a decline is
 * counted here; an answer we cannot take is HS_DEFLATE). */
static int check_response(const char *p, size_t len, const char *key_b64, bool *deflate)
{
    *deflate = false;
    if (len < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0)
        return HS_MALFORMED;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return HS_MALFORMED;
        status = status * 10 + (p[i] - '0');
    }
    if (C.o->sse) /* the stream's head: 200 (a token or topic refusal is not) */
        return status == 200 ? -1 : bench_hs_from_status(status);
    if (status != 101)
        return bench_hs_from_status(status);
    char expect[WS_ACCEPT_LEN + 1];
    if (ws_accept_key(key_b64, strlen(key_b64), expect) < 0)
        return HS_BAD_ACCEPT;
    static const char acc[] = "sec-websocket-accept:";
    const char *v;
    size_t vl;
    if (!find_header(p, len, acc, sizeof acc - 1, &v, &vl) || vl != WS_ACCEPT_LEN ||
        memcmp(v, expect, WS_ACCEPT_LEN) != 0)
        return HS_BAD_ACCEPT;
    static const char ext[] = "sec-websocket-extensions:";
    if (!C.o->deflate || !find_header(p, len, ext, sizeof ext - 1, &v, &vl)) {
        if (C.o->deflate)
            C.rec.dfl.declined++;
        return -1;
    }
    if (bdeflate_answer(v, vl) != BDEFLATE_ACCEPTED)
        return HS_DEFLATE;
    C.rec.dfl.accepted++;
    *deflate = true;
    return -1;
}

static void hs_fail(struct bconn *c, int cause)
{
    C.rec.hs[cause]++;
    conn_release(c);
}

static void on_handshake_readable(struct bconn *c)
{
    ssize_t n = io_recv(c, C.rbuf, RBUF_BYTES);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0 && errno == EPROTO) {
        C.rec.tls[TLSF_OPEN_ERROR]++;
        conn_release(c);
        return;
    }
    if (n <= 0) {
        hs_fail(c, n == 0 ? HS_EOF : HS_RESET);
        return;
    }
    uint8_t *data = C.rbuf;
    size_t len = (size_t)n;
    if (c->u.hs_buf) {
        if (c->hs_len + len > HS_MAX_BYTES) {
            hs_fail(c, HS_TOOBIG);
            return;
        }
        memcpy(c->u.hs_buf + c->hs_len, data, len);
        c->hs_len = (uint16_t)(c->hs_len + len);
        data = c->u.hs_buf;
        len = c->hs_len;
    }
    const uint8_t *end = memmem(data, len, "\r\n\r\n", 4);
    if (!end) {
        if (len > HS_MAX_BYTES) {
            hs_fail(c, HS_TOOBIG);
            return;
        }
        if (!c->u.hs_buf) {
            c->u.hs_buf = malloc(HS_MAX_BYTES);
            if (!c->u.hs_buf) {
                hs_fail(c, HS_TOOBIG);
                return;
            }
            memcpy(c->u.hs_buf, data, len);
            c->hs_len = (uint16_t)len;
        }
        return;
    }
    size_t head = (size_t)(end - data) + 4;
    char key[32];
    b64_encode(c->ts, 16, key);
    bool deflate;
    int cause = check_response((const char *)data, head, key, &deflate);
    if (cause >= 0) {
        hs_fail(c, cause);
        return;
    }
    uint8_t *spill = c->u.hs_buf;
    c->u.rx = NULL;
    if (C.o->sse)
        sse_rx_init(&c->u.sse);
    c->flags = deflate ? BC_DEFLATE : 0;
    c->ts_len = 0;
    c->state = CS_OPEN;
    C.inflight--;
    C.open++;
    C.rec.established++;
    C.rec.last_est_us = clock_mono_ns() / 1000u;
    uint64_t hs_us = (uint32_t)(now_us32() - c->t_us);
    C.rec.hs_us_sum += hs_us;
    if (hs_us > C.rec.hs_us_max)
        C.rec.hs_us_max = hs_us;
    /* wss://: TLS 1.3 leaves OpenSSL here (OpenSSL holds nothing unread
     * once the head's record is taken); TLS 1.2, or one it could not
     * carry, keeps its SSL and stays on epoll */
    uint32_t slot = (uint32_t)(c - C.pool);
    if (C.ssl && tls_conn_hand_over(C.ssl[slot], C.trec[slot], 0) == 1) {
        C.ssl[slot] = NULL;
        c->flags |= BC_REC;
        C.rec.tls_handovers++;
    }
    /* from here its reads come from C.ur; if arming fails it stays on epoll */
    if (C.ur && (!C.ssl || !C.ssl[slot]) && ev_del(C.loop, c->fd) == 0) {
        if (urecv_arm(C.ur, c->fd, ur_tag(slot)) == 0)
            c->flags |= BC_URING;
        else if (ev_add(C.loop, c->fd, EV_READ, &c->h) < 0)
            C.rec.dc[DC_1006]++; /* cannot happen: it was just in the loop */
    }
    if (len > head) {
        C.recv_us = clock_real_us();
        conn_feed(c, data + head, len - head);
    }
    free(spill);
}

/* A handed-over connection's application data, record by record. */
static bool rec_plain(void *ctx, uint8_t *p, size_t n)
{
    return conn_feed(ctx, p, n);
}

/* Hands the bytes of one completion to the connection it was for; ends
 * it as on_readable does at EOF or an error. */
static void ur_completion(void *ctx, uint64_t tag, const uint8_t *p, ssize_t n, int rearm)
{
    (void)ctx;
    uint32_t slot = (uint32_t)tag;
    if (slot >= C.n || C.ur_gen[slot] != (uint16_t)(tag >> 32))
        return; /* released (and maybe reused) since */
    struct bconn *c = &C.pool[slot];
    if ((c->state != CS_OPEN && c->state != CS_CLOSING) || !(c->flags & BC_URING))
        return;
    if (rearm) {
        if (urecv_arm(C.ur, c->fd, tag) == 0)
            return;
        n = -EIO;
    }
    if (n > 0 && rec_of(c)) {
        C.recv_us = clock_real_us();
        ssize_t k = tls13_rec_feed(rec_of(c), c->fd, p, (size_t)n, rec_plain, c);
        if (k == 1 || k == 2) /* all taken, or the connection went while feeding */
            return;
        if (k < 0 && c->state != CS_CLOSING) {
            C.rec.tls[TLSF_OPEN_ERROR]++;
            conn_release(c);
            return;
        }
        conn_ended(c); /* close_notify, or a broken record while closing */
        return;
    }
    if (n > 0) {
        C.recv_us = clock_real_us();
        conn_feed(c, (uint8_t *)(uintptr_t)p, (size_t)n);
        return;
    }
    conn_ended(c);
}

static void on_ur_ready(struct ev_loop *l, struct ev_handler *h, uint32_t events)
{
    (void)l;
    (void)h;
    (void)events;
    urecv_reap(C.ur, ur_completion, NULL);
}

static void conn_cb(struct ev_loop *l, struct ev_handler *h, uint32_t events)
{
    (void)l;
    (void)events;
    struct bconn *c = container_of(h, struct bconn, h);
    switch (c->state) {
    case CS_CONNECTING:
        on_connected(c);
        break;
    case CS_TLS:
        tls_step(c);
        break;
    case CS_HANDSHAKE:
        on_handshake_readable(c);
        break;
    case CS_OPEN:
    case CS_CLOSING:
        on_readable(c);
        break;
    default:
        break; /* stale event for a slot released earlier in this batch */
    }
}

/* ---- timers: ramp, churn, echo, timeouts, per-second records ---- */

static void sweep_timeouts(void)
{
    uint32_t now = now_us32();
    uint32_t conn_to = (uint32_t)(C.o->connect_timeout_ms * 1000u);
    uint32_t close_us = (uint32_t)(C.o->close_timeout_ms * 1000u);
    for (uint32_t i = 0; i < C.n; i++) {
        struct bconn *c = &C.pool[i];
        uint32_t age = now - c->t_us;
        if (c->state == CS_CONNECTING && age > conn_to) {
            C.rec.ce[CE_TIMEDOUT]++;
            conn_release(c);
        } else if (c->state == CS_TLS && age > conn_to) {
            C.rec.tls[TLSF_TIMEOUT]++;
            conn_release(c);
        } else if (c->state == CS_HANDSHAKE && age > conn_to) {
            hs_fail(c, HS_TIMEOUT);
        } else if (c->state == CS_CLOSING && age > close_us) {
            C.rec.close_timeouts++;
            conn_release(c);
        }
    }
}

static void ramp(double dt)
{
    C.tokens += C.rate * dt;
    double cap = C.rate * 0.05 > 1.0 ? C.rate * 0.05 : 1.0;
    if (C.tokens > cap)
        C.tokens = cap;
    while (C.tokens >= 1.0 && C.n_idle > 0 && C.inflight < C.max_inflight) {
        C.tokens -= 1.0;
        conn_start(&C.pool[C.idle[--C.n_idle]]);
    }
}

static void churn(double dt)
{
    C.churn_acc += (double)C.open * C.o->churn_pct / 100.0 * dt;
    for (uint32_t scanned = 0; C.churn_acc >= 1.0 && scanned < C.n; scanned++) {
        struct bconn *c = &C.pool[C.churn_cursor];
        C.churn_cursor = (C.churn_cursor + 1) % C.n;
        if (c->state != CS_OPEN)
            continue;
        C.churn_acc -= 1.0;
        C.rec.churned++;
        conn_close_start(c, 1000);
    }
    if (C.churn_acc > 1.0)
        C.churn_acc = 1.0;
}

static void echo_slice(void)
{
    char pl[32] = "echo ";
    uint32_t phase = (uint32_t)(C.ticks % ECHO_SLOTS);
    for (uint32_t i = phase; i < C.n; i += ECHO_SLOTS) {
        struct bconn *c = &C.pool[i];
        if (c->state != CS_OPEN)
            continue;
        ts_format_us(pl + 5, clock_real_us());
        if (send_frame(c, WS_OP_TEXT, pl, 21) == 0)
            C.rec.echo_sent++;
    }
}

static void child_exit(void) __attribute__((noreturn));

static void on_tick(struct ev_loop *l, void *arg)
{
    (void)arg;
    uint64_t now = ev_now_ms(l);
    double dt = now > C.last_tick_ms ? (double)(now - C.last_tick_ms) / 1000.0 : 0.0;
    C.last_tick_ms = now;
    C.ticks++;
    if (C.stopping) {
        sweep_timeouts();
        if (C.closing == 0 || (now > C.stop_ms && now - C.stop_ms > C.o->close_timeout_ms + 200))
            child_exit();
        return;
    }
    ramp(dt);
    if (C.o->churn_pct > 0)
        churn(dt);
    if (C.o->echo)
        echo_slice();
    if (C.ticks % 100 == 0)
        sweep_timeouts();
    uint32_t sec = (uint32_t)((now - C.t0_ms) / 1000u);
    while (C.cur_sec < sec)
        rec_send(REC_SEC, C.cur_sec++);
}

static void child_stop(void)
{
    if (C.stopping)
        return;
    /* The second in progress goes out as it is; the close phase follows in
     * the final record. */
    rec_send(REC_SEC, C.cur_sec);
    C.stopping = true;
    C.stop_ms = ev_now_ms(C.loop); /* the clock on_tick compares with */
    for (uint32_t i = 0; i < C.n; i++) {
        struct bconn *c = &C.pool[i];
        if (c->state == CS_CONNECTING || c->state == CS_TLS || c->state == CS_HANDSHAKE)
            conn_release(c);
        else if (c->state == CS_OPEN)
            conn_close_start(c, 1000);
    }
}

static void child_exit(void)
{
    for (uint32_t i = 0; i < C.n; i++) {
        if (C.pool[i].state == CS_CLOSING)
            C.rec.close_timeouts++;
        conn_release(&C.pool[i]);
    }
    rec_send(REC_FINAL, C.cur_sec);
    _exit(0);
}

static void on_signal(struct ev_loop *l, struct ev_handler *h, uint32_t events)
{
    (void)l;
    (void)h;
    (void)events;
    struct signalfd_siginfo si;
    while (read(C.sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
        child_stop();
}

void client_child_main(const struct bench_opts *o, uint32_t proc, uint64_t t0_ms, int out_fd)
{
    char role[32];
    snprintf(role, sizeof role, "bench %u", proc);
    wsp_log_set_role(role);
    memset(&C, 0, sizeof C);
    C.o = o;
    C.proc = proc;
    C.t0_ms = t0_ms;
    C.out_fd = out_fd;
    uint64_t per = o->conns / o->procs, extra = o->conns % o->procs;
    C.n = (uint32_t)(per + (proc < extra ? 1 : 0));
    C.first_conn = per * proc + (proc < extra ? proc : extra);
    C.rate = o->rate / o->procs;
    C.max_inflight = C.rate > 2048 ? (uint32_t)C.rate : 2048;
    if (o->max_inflight)
        C.max_inflight = o->max_inflight;
    if (getrandom(&C.rng, sizeof C.rng, 0) != sizeof C.rng || C.rng == 0)
        C.rng = clock_mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    if (o->have_src)
        srcaddr_iter_init(&C.src, &o->src, proc, o->procs);
    C.rxcfg = (struct ws_rx_cfg){
        .max_message_bytes = 16u << 20, .keep_payload = false, .client_side = true};
    if (o->deflate) {
        C.inflater = ws_inflater_new();
        if (!C.inflater) {
            log_error("out of memory for the inflater");
            _exit(2);
        }
        C.rxcfg_dfl = bdeflate_rx_cfg(&C.rxcfg, C.inflater);
    }
    int n = o->sse ? snprintf(C.req, sizeof C.req,
                              "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
                              "Cache-Control: no-cache\r\nUser-Agent: wspush-bench",
                              o->path, o->host_hdr)
                   : snprintf(C.req, sizeof C.req,
                              "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              "User-Agent: wspush-bench\r\n%sSec-WebSocket-Key: ",
                              o->path, o->host_hdr, o->deflate ? BDEFLATE_OFFER : "");
    if (n < 0 || (size_t)n + 64 + BENCH_TOKEN_MAX + 28 > sizeof C.req) {
        log_error("request head too long");
        _exit(2);
    }
    C.req_prefix_len = (size_t)n;
    C.pool = calloc(C.n ? C.n : 1, sizeof *C.pool);
    C.idle = calloc(C.n ? C.n : 1, sizeof *C.idle);
    C.rbuf = malloc(RBUF_BYTES);
    C.loop = ev_loop_new(1024);
    if (o->tls) {
        char err[512];
        C.tls_cfg = (struct btls_cfg){
            .insecure = o->insecure, .cafile = o->cacert, .host = o->host, .tls12 = o->tls12};
        C.tls = btls_ctx_new(&C.tls_cfg, err, sizeof err);
        if (!C.tls) {
            log_error("%s", err);
            _exit(2);
        }
        C.ssl = calloc(C.n ? C.n : 1, sizeof *C.ssl);
        C.trec = calloc(C.n ? C.n : 1, sizeof *C.trec);
        if (!C.ssl || !C.trec || tls_capture_ctx(C.tls) < 0) {
            log_error("out of memory for %u connections", C.n);
            _exit(2);
        }
    }
    if (!C.pool || !C.idle || !C.rbuf || !C.loop) {
        log_error("out of memory for %u connections", C.n);
        _exit(2);
    }
    for (uint32_t i = 0; i < C.n; i++) {
        C.pool[i].h.cb = conn_cb;
        C.pool[i].fd = -1;
        C.idle[C.n_idle++] = C.n - 1 - i; /* pop in index order */
    }
    if (!o->epoll_reads) { /* wss://: the connections handed over (BC_REC) */
        struct rlimit rl;
        int err = 0;
        unsigned max_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 24)
                              ? (unsigned)rl.rlim_cur
                              : 1u << 20;
        C.ur_gen = calloc(C.n ? C.n : 1, sizeof *C.ur_gen);
        unsigned nbufs = 1024; /* one per connection, a power of two */
        while (nbufs < C.n && nbufs < 32768)
            nbufs <<= 1;
        C.ur = C.ur_gen ? urecv_new(max_fd, nbufs, &err) : NULL;
        C.ur_h.cb = on_ur_ready;
        if (C.ur && ev_add(C.loop, urecv_fd(C.ur), EV_READ, &C.ur_h) < 0) {
            urecv_free(C.ur);
            C.ur = NULL;
        }
        if (!C.ur && proc == 0)
            log_warn("io_uring receive unavailable (%s): reading through epoll",
                     err ? wsp_strerror(err) : "out of memory");
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    C.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    C.sig_h.cb = on_signal;
    if (C.sig_fd < 0 || ev_add(C.loop, C.sig_fd, EV_READ, &C.sig_h) < 0) {
        log_error("signalfd: %s", strerror(errno));
        _exit(2);
    }
    rec_reset();
    struct procfs_mem m;
    C.rec.rss_base_kb = procfs_mem_read(getpid(), &m) == 0 ? m.anon_bytes / 1024 : 0;
    C.cpu_last_us = cpu_now_us();
    C.last_tick_ms = clock_mono_ms();
    C.cur_sec = (uint32_t)((C.last_tick_ms - t0_ms) / 1000u);
    ev_timer_add(C.loop, TICK_MS, on_tick, NULL);
    int r = ev_loop_run(C.loop);
    log_error("event loop failed: %s", wsp_strerror(r));
    _exit(2);
}
