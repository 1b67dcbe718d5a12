/* server_fixture.h - a worker built by worker_init, and clients over
 * socketpairs, for the unit tests of src/server/ (test_conn.c,
 * test_fanout.c, test_routes.c).
 *
 * The worker has no listener and no eventfd: each client is one end of a
 * socketpair handed to conn_new, the test holds the other end (non-blocking)
 * and turns the worker's loop by hand (fx_spin), so nothing waits on a
 * clock. Time moves only through worker_tick. The calls into conn.c are
 * kept in the few helpers here (fx_client, fx_send, fx_close), so a change
 * of its API is one edit.
 *
 * The worker is static: conn.c keeps its pool of connection structs for
 * the process's life (no call frees it), so fx_start hands the previous
 * worker's pool on to the next one, and the pool stays reachable for
 * LeakSanitizer. */
#ifndef WSP_TEST_SERVER_FIXTURE_H
#define WSP_TEST_SERVER_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "pubsub/msg.h"
#include "server/server_int.h"
#include "server/worker.h"
#include "ws/ws_frame.h"

static struct wsp_config fx_cfg;
static struct worker fx_w;
static struct shared_stats *fx_shared;
static struct ring *fx_ring;

/* A worker from the command line `serve args...` (args NULL-terminated). */
static inline void fx_start(const char *const *args)
{
    char *argv[64] = {"serve"};
    int argc = 1;
    for (; args && args[argc - 1]; argc++) {
        assert_true(argc < 63);
        argv[argc] = (char *)args[argc - 1];
    }
    memset(&fx_cfg, 0, sizeof fx_cfg);
    assert_int_equal(config_parse(&fx_cfg, argc, argv, stdout, stderr), 0);
    fx_shared = metrics_shared_new(1);
    fx_ring = ring_create(64 * 1024);
    assert_non_null(fx_shared);
    assert_non_null(fx_ring);
    struct worker_init wi = {
        .cfg = &fx_cfg, .listen_fd = -1, .wake_fd = -1, .ring = fx_ring, .shared = fx_shared};
    struct conn *pool = fx_w.pool;
    assert_int_equal(worker_init(&fx_w, &wi), 0);
    fx_w.pool = pool;
}

static inline void fx_stop(void)
{
    worker_release(&fx_w);
    ring_destroy(fx_ring);
    metrics_shared_free(fx_shared);
    fx_ring = NULL;
    fx_shared = NULL;
}

/* Turns the loop n times without waiting (post hook included: the dead
 * are freed). */
static inline void fx_spin(int n)
{
    for (int i = 0; i < n; i++)
        assert_true(ev_loop_run_once(fx_w.loop, 0) >= 0);
}

struct fx_client {
    int fd;         /* the peer's end */
    struct conn *c; /* valid until the worker frees it */
};

/* A new connection as if accepted: state CONN_HTTP. */
static inline struct fx_client fx_client(void)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    struct conn *c = conn_new(&fx_w, sp[0]);
    assert_non_null(c);
    return (struct fx_client){sp[1], c};
}

static inline void fx_write(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}

/* Everything readable now (up to cap); *eof set if the worker's side ended. */
static inline size_t fx_read(int fd, uint8_t *buf, size_t cap, bool *eof)
{
    size_t got = 0;
    if (eof)
        *eof = false;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0 && eof)
            *eof = true;
        break;
    }
    return got;
}

#define FX_KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455 §1.3 */
#define FX_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* Sends a request head for target (e.g. "/news?topic=b") with extra header
 * lines (each ending in \r\n, or NULL) and reads the answer into resp. */
static inline size_t fx_request(struct fx_client *cl, const char *target, bool upgrade,
                                const char *extra, char *resp, size_t cap)
{
    char req[2048];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n%s%s\r\n", target,
                     upgrade ? "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: " FX_KEY "\r\nSec-WebSocket-Version: 13\r\n"
                             : "",
                     extra ? extra : "");
    assert_true(n > 0 && (size_t)n < sizeof req);
    fx_write(cl->fd, req, (size_t)n);
    fx_spin(2);
    size_t got = fx_read(cl->fd, (uint8_t *)resp, cap - 1, NULL);
    resp[got] = '\0';
    return got;
}

/* An established WebSocket client of target; deflate: offers
 * permessage-deflate. */
static inline struct fx_client fx_upgrade(const char *target, bool deflate)
{
    struct fx_client cl = fx_client();
    char resp[1024];
    fx_request(&cl, target, true,
               deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : NULL, resp,
               sizeof resp);
    assert_non_null(strstr(resp, "HTTP/1.1 101 "));
    assert_non_null(strstr(resp, FX_ACCEPT));
    assert_int_equal(cl.c->state, CONN_WS);
    assert_int_equal(!!(cl.c->flags & CF_DEFLATE), deflate);
    return cl;
}

/* One masked client frame. */
static inline void fx_send_frame(int fd, uint8_t opcode, const void *p, size_t n)
{
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    uint8_t f[WS_MAX_HEADER + 4096];
    size_t fl = ws_frame_encode(f, sizeof f, true, opcode, p, n, mask);
    assert_true(fl > 0);
    fx_write(fd, f, fl);
}

/* The next server frame in buf[*off, len): its opcode, payload and length.
 * False if no whole frame is left. */
static inline bool fx_next_frame(const uint8_t *buf, size_t len, size_t *off, uint8_t *opcode,
                                 const uint8_t **payload, size_t *n)
{
    struct ws_frame f;
    struct ws_decode_opts o = {.forbid_mask = true, .allowed_rsv = 4};
    ssize_t hl = ws_frame_decode_header(buf + *off, len - *off, &o, &f);
    if (hl <= 0 || (size_t)hl + f.payload_len > len - *off)
        return false;
    *opcode = f.opcode;
    *payload = buf + *off + hl;
    *n = (size_t)f.payload_len;
    *off += (size_t)hl + (size_t)f.payload_len;
    return true;
}

/* The next server frame in buf[*off, len) is opcode with payload p[0..n). */
static inline void fx_expect_frame(const uint8_t *buf, size_t len, size_t *off, uint8_t opcode,
                                   const void *p, size_t n)
{
    uint8_t op;
    const uint8_t *got;
    size_t gn;
    assert_true(fx_next_frame(buf, len, off, &op, &got, &gn));
    assert_int_equal(op, opcode);
    assert_int_equal(gn, n);
    assert_memory_equal(got, p, n);
}

/* conn.c's sending and closing, for the tests */
static inline int fx_send(struct fx_client *cl, struct msg *m)
{
    return conn_send_msg(&fx_w, cl->c, m);
}

static inline void fx_close(struct fx_client *cl, uint16_t code, const char *reason)
{
    conn_close(&fx_w, cl->c, code, reason);
}

#endif
