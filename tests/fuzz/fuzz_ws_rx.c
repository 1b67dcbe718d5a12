/* fuzz_ws_rx.c - libFuzzer target for the streaming inbound processor.
 *
 * Byte 0 picks where to split the input, byte 1 the configuration (keep
 * payload, client side, size limit); the rest is the byte stream. It is
 * fed whole, in two pieces at the derived cut, and (when short) one byte
 * at a time. Every run must produce the same callback sequence (data
 * pieces merged), the same result and close code, and the same end state.
 * Each piece is an exact-size heap copy so over-reads are caught. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "ws/ws_frame.h"
#include "ws/ws_rx.h"
#include "ws/ws_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

struct log {
    uint8_t *p;
    size_t n, cap;
    size_t last_d; /* offset of the last event when it is a data event */
    size_t stable; /* length after the last non-data event */
    bool keep, in_msg;
    uint64_t msg_bytes;
};

static void log_put(struct log *l, const void *p, size_t n)
{
    if (l->n + n > l->cap) {
        size_t c = l->cap ? l->cap : 256;
        while (c < l->n + n)
            c *= 2;
        l->p = realloc(l->p, c);
        WSP_ASSERT(l->p);
        l->cap = c;
    }
    if (n)
        memcpy(l->p + l->n, p, n);
    l->n += n;
}

static void log_event(struct log *l, uint8_t kind, uint8_t op, uint16_t code, const uint8_t *p,
                      size_t n)
{
    uint8_t h[4] = {kind, op, (uint8_t)(code >> 8), (uint8_t)code};
    size_t at = l->n;
    log_put(l, h, 4);
    log_put(l, &n, sizeof n);
    log_put(l, p, n);
    if (kind == 'D') {
        l->last_d = at;
    } else {
        l->last_d = SIZE_MAX;
        l->stable = l->n;
    }
}

static void on_message(void *ctx, uint8_t op, const uint8_t *p, size_t n)
{
    struct log *l = ctx;
    WSP_ASSERT(op == WS_OP_TEXT || op == WS_OP_BINARY);
    if (l->keep) {
        WSP_ASSERT(p);
        WSP_ASSERT(op != WS_OP_TEXT || ws_utf8_valid(p, n));
    } else {
        WSP_ASSERT(!p && n == l->msg_bytes);
    }
    log_event(l, 'M', op, 0, p, l->keep ? n : 0);
    l->in_msg = false;
    l->msg_bytes = 0;
}

static void on_data(void *ctx, uint8_t op, const uint8_t *p, size_t n, bool first)
{
    struct log *l = ctx;
    WSP_ASSERT(!l->keep && n > 0 && first == !l->in_msg);
    l->in_msg = true;
    l->msg_bytes += n;
    if (!first && l->last_d != SIZE_MAX) {
        size_t len;
        memcpy(&len, l->p + l->last_d + 4, sizeof len);
        len += n;
        memcpy(l->p + l->last_d + 4, &len, sizeof len);
        log_put(l, p, n);
    } else {
        log_event(l, 'D', op, first, p, n);
    }
}

static void on_ping(void *ctx, const uint8_t *p, size_t n)
{
    WSP_ASSERT(n <= WS_MAX_CONTROL);
    log_event(ctx, 'P', 0, 0, p, n);
}

static void on_pong(void *ctx, const uint8_t *p, size_t n)
{
    WSP_ASSERT(n <= WS_MAX_CONTROL);
    log_event(ctx, 'O', 0, 0, p, n);
}

static void on_close(void *ctx, uint16_t code, const uint8_t *p, size_t n)
{
    WSP_ASSERT(code == WS_CLOSE_NO_STATUS || ws_close_code_valid(code));
    WSP_ASSERT(n <= WS_MAX_CONTROL - 2 && ws_utf8_valid(p, n));
    log_event(ctx, 'C', 0, code, p, n);
}

static const struct ws_rx_ops ops = {on_message, on_data, on_ping, on_pong, on_close};

struct result {
    int rc;
    uint16_t code;
    bool idle;
};

/* Feeds one piece; returns false once the stream is finished. */
static bool feed(const struct ws_rx_cfg *cfg, struct ws_rx **rx, const uint8_t *d, size_t m,
                 struct log *l, struct result *res)
{
    uint8_t *piece = malloc(m ? m : 1);
    WSP_ASSERT(piece);
    if (m)
        memcpy(piece, d, m);
    uint16_t code = 0;
    const char *why = NULL;
    int rc = ws_rx_feed(rx, cfg, piece, m, &ops, l, &code, &why);
    free(piece);
    if (rc != WS_RX_OK) {
        WSP_ASSERT(*rx == NULL);
        res->rc = rc;
        if (rc < 0) {
            WSP_ASSERT(rc == WSP_EPROTO || rc == WSP_ETOOBIG || rc == WSP_ENOMEM);
            WSP_ASSERT(why != NULL);
            WSP_ASSERT(code == 1002 || code == 1007 || code == 1009 || code == 1011);
            res->code = code;
            l->n = l->stable; /* a failing message may be partly streamed */
        } else {
            WSP_ASSERT(rc == WS_RX_CLOSED);
        }
        return false;
    }
    if (*rx && !cfg->keep_payload)
        WSP_ASSERT(ws_rx_buffered(*rx) <= WS_MAX_HEADER + WS_MAX_CONTROL);
    if (*rx && cfg->keep_payload && cfg->max_message_bytes)
        WSP_ASSERT(ws_rx_buffered(*rx) <= WS_MAX_HEADER + WS_MAX_CONTROL + cfg->max_message_bytes);
    return true;
}

/* step > 0: pieces of `step` bytes; else two pieces split at cut. */
static void run(const struct ws_rx_cfg *cfg, const uint8_t *d, size_t n, size_t step, size_t cut,
                struct log *l, struct result *res)
{
    struct ws_rx *rx = NULL;
    memset(l, 0, sizeof *l);
    l->keep = cfg->keep_payload;
    l->last_d = SIZE_MAX;
    res->rc = WS_RX_OK;
    res->code = 0;
    if (step) {
        for (size_t pos = 0; pos < n; pos += step)
            if (!feed(cfg, &rx, d + pos, n - pos < step ? n - pos : step, l, res))
                break;
    } else if (feed(cfg, &rx, d, cut, l, res)) {
        feed(cfg, &rx, d + cut, n - cut, l, res);
    }
    res->idle = rx == NULL;
    ws_rx_free(rx);
}

static void same(const struct log *a, const struct result *ra, const struct log *b,
                 const struct result *rb)
{
    WSP_ASSERT(ra->rc == rb->rc && ra->code == rb->code && ra->idle == rb->idle);
    WSP_ASSERT(a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static const uint64_t limits[4] = {0, 16, 300, 70000};
    if (n < 2)
        return 0;
    uint8_t cut_sel = d[0], cfg_sel = d[1];
    d += 2;
    n -= 2;
    struct ws_rx_cfg cfg = {
        .keep_payload = cfg_sel & 1,
        .client_side = (cfg_sel >> 1) & 1,
        .max_message_bytes = limits[(cfg_sel >> 2) & 3],
    };
    size_t cut = n ? (size_t)cut_sel * n / 255 : 0;

    struct log whole, part;
    struct result rw, rp;
    run(&cfg, d, n, 0, n, &whole, &rw);
    run(&cfg, d, n, 0, cut, &part, &rp);
    same(&whole, &rw, &part, &rp);
    free(part.p);
    if (n <= 600) {
        run(&cfg, d, n, 1, 0, &part, &rp);
        same(&whole, &rw, &part, &rp);
        free(part.p);
    }
    free(whole.p);
    return 0;
}
