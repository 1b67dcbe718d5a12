/* fuzz_deflate.c - libFuzzer target for permessage-deflate (ws_deflate.c)
 * and the compressed path of ws_rx.c.
 *
 * Byte 0 picks the mode (low 2 bits), byte 1 a parameter; the rest is:
 *  0: Sec-WebSocket-Extensions values, one per line. The answer is 0 or 1;
 *     an accepted response is NUL-terminated, starts with the fixed
 *     parameters, is itself an offer we accept with the same answer, and
 *     the several-header answer equals the first line that is accepted.
 *  1: compressed bytes for the bounded inflater. Output never passes the
 *     bound (an exact-size heap buffer), the scratch variant agrees, and a
 *     success equals what plain zlib makes of the same bytes.
 *  2: a message compressed once and inflated back: identical, within
 *     ws_deflate_bound, and framed with RSV1.
 *  3: a client byte stream for ws_rx with an inflater: fed whole and one
 *     byte at a time (short inputs) or in two pieces, same messages, result
 *     and close code. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "http/http_parse.h"
#include "ws/ws_deflate.h"
#include "ws/ws_frame.h"
#include "ws/ws_rx.h"
#include "ws/ws_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define FIXED "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

static struct ws_inflater *inflater;

static void *dup_exact(const void *p, size_t n)
{
    void *c = malloc(n ? n : 1);
    WSP_ASSERT(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* ---- mode 0: negotiation ---- */

static void fuzz_negotiate(uint8_t param, const uint8_t *d, size_t n)
{
    static const int windows[4] = {0, 9, 12, 15};
    struct ws_deflate_cfg cfg = {.enabled = true, .server_window_bits = windows[param & 3]};
    static struct http_req r;
    char resp[WS_DEFLATE_RESP_MAX], again[WS_DEFLATE_RESP_MAX], first[WS_DEFLATE_RESP_MAX];
    bool any = false;
    char *copy[HTTP_MAX_HEADERS_CAP];
    size_t lines = 0, start = 0;
    memset(&r, 0, sizeof r);
    for (size_t i = 0; i <= n && lines < HTTP_MAX_HEADERS_CAP; i++) {
        if (i < n && d[i] != '\n')
            continue;
        size_t len = i - start;
        copy[lines] = dup_exact(d + start, len); /* exact size: over-reads fault */
        struct ws_deflate_params par = {0, 0};
        int rc = ws_deflate_negotiate_value(copy[lines], len, &cfg, &par, resp, sizeof resp);
        WSP_ASSERT(rc == 0 || rc == 1);
        if (rc == 1) {
            size_t rl = strnlen(resp, sizeof resp);
            WSP_ASSERT(rl < sizeof resp);
            WSP_ASSERT(strncmp(resp, FIXED, strlen(FIXED)) == 0);
            WSP_ASSERT(par.server_window_bits >= 9 && par.server_window_bits <= 15);
            WSP_ASSERT(par.client_window_bits >= 8 && par.client_window_bits <= 15);
            /* our answer is an offer we accept, with the same answer */
            WSP_ASSERT(ws_deflate_negotiate_value(resp, rl, &cfg, NULL, again, sizeof again) == 1);
            WSP_ASSERT(strcmp(resp, again) == 0);
            if (!any)
                memcpy(first, resp, rl + 1);
            any = true;
        }
        r.headers[lines].name =
            (param & 4) ? "sec-websocket-extensions" : "Sec-WebSocket-Extensions";
        r.headers[lines].name_len = 24;
        r.headers[lines].value = copy[lines];
        r.headers[lines].value_len = len;
        lines++;
        start = i + 1;
    }
    r.num_headers = lines;
    int rc = ws_deflate_negotiate(&r, &cfg, NULL, resp, sizeof resp);
    WSP_ASSERT(rc == (any ? 1 : 0));
    if (rc)
        WSP_ASSERT(strcmp(resp, first) == 0);
    cfg.enabled = false;
    WSP_ASSERT(ws_deflate_negotiate(&r, &cfg, NULL, resp, sizeof resp) == 0);
    for (size_t k = 0; k < lines; k++)
        free(copy[k]);
}

/* ---- mode 1: bounded inflate ---- */

/* Plain zlib, the way a client would: appends the tail, no bound but cap. */
static int ref_inflate(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    WSP_ASSERT(inflateInit2(&z, -15) == Z_OK);
    uint8_t *buf = malloc(n + 4);
    WSP_ASSERT(buf);
    if (n)
        memcpy(buf, in, n);
    memcpy(buf + n, "\x00\x00\xff\xff", 4);
    z.next_in = buf;
    z.avail_in = (uInt)(n + 4);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    *out_n = cap - z.avail_out;
    inflateEnd(&z);
    free(buf);
    return rc;
}

static void fuzz_inflate(uint8_t param, const uint8_t *d, size_t n)
{
    static const size_t bounds[8] = {0, 1, 5, 64, 1000, 4096, 65536, 1 << 20};
    size_t max = bounds[param & 7];
    uint8_t *in = dup_exact(d, n);
    uint8_t *out = malloc(max ? max : 1);
    WSP_ASSERT(out);
    size_t on = SIZE_MAX;
    int rc = ws_inflate_message(inflater, in, n, max ? out : NULL, max, &on);
    WSP_ASSERT(rc == 0 || rc == WSP_EPROTO || rc == WSP_ETOOBIG);
    WSP_ASSERT(rc == 0 ? on <= max : on == SIZE_MAX);
    const uint8_t *sp = NULL;
    size_t sn = SIZE_MAX;
    int rc2 = ws_inflate_scratch(inflater, in, n, max, &sp, &sn);
    WSP_ASSERT(rc2 == rc);
    if (rc == 0) {
        WSP_ASSERT(sp && sn == on && (on == 0 || memcmp(sp, out, on) == 0));
        if (n > 0) {
            /* plain zlib agrees (it has one byte more room, to see the end) */
            uint8_t *ref = malloc(max + 1);
            WSP_ASSERT(ref);
            size_t rn;
            int zr = ref_inflate(in, n, ref, max + 1, &rn);
            WSP_ASSERT(zr == Z_OK || zr == Z_STREAM_END);
            WSP_ASSERT(rn == on && (on == 0 || memcmp(ref, out, on) == 0));
            free(ref);
        }
    }
    free(out);
    free(in);
}

/* ---- mode 2: compress once, inflate back ---- */

static void fuzz_roundtrip(uint8_t param, const uint8_t *d, size_t n)
{
    static struct ws_deflater *defl[4];
    static const int levels[4] = {1, 6, 9, 6}, windows[4] = {15, 15, 9, 11};
    unsigned k = param & 3;
    if (!defl[k])
        defl[k] = ws_deflater_new(levels[k], windows[k]);
    WSP_ASSERT(defl[k]);
    size_t cap = ws_deflate_bound(n);
    uint8_t *c = malloc(cap), *back = malloc(n ? n : 1);
    WSP_ASSERT(c && back);
    /* sometimes a tight buffer: the second-pass path */
    size_t give = (param & 4) ? cap / 2 : cap;
    ssize_t cn = ws_deflate_message(defl[k], d, n, c, give);
    if (cn == WSP_ETOOBIG) {
        WSP_ASSERT(give < cap);
        cn = ws_deflate_message(defl[k], d, n, c, cap);
    }
    WSP_ASSERT(cn >= 0 && (size_t)cn + 4 <= cap);
    size_t on;
    WSP_ASSERT(ws_inflate_message(inflater, c, (size_t)cn, back, n, &on) == 0);
    WSP_ASSERT(on == n && (n == 0 || memcmp(back, d, n) == 0));
    uint8_t *frame = malloc(WS_MAX_HEADER + cap);
    WSP_ASSERT(frame);
    ssize_t fl = ws_deflate_frame(defl[k], (param & 8) ? WS_OP_TEXT : WS_OP_BINARY, d, n, frame,
                                  WS_MAX_HEADER + cap);
    WSP_ASSERT(fl > 0);
    struct ws_decode_opts o = {.forbid_mask = true, .allowed_rsv = 4};
    struct ws_frame f;
    ssize_t h = ws_frame_decode_header(frame, (size_t)fl, &o, &f);
    WSP_ASSERT(h > 0 && f.fin && f.rsv == 4 && f.payload_len == (uint64_t)cn);
    WSP_ASSERT((size_t)h + (size_t)cn == (size_t)fl && memcmp(frame + h, c, (size_t)cn) == 0);
    free(frame);
    free(c);
    free(back);
}

/* ---- mode 3: ws_rx with an inflater ---- */

struct log {
    uint64_t hash; /* FNV-1a over every event */
    bool keep;
};

static void log_mix(struct log *l, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        l->hash = (l->hash ^ b[i]) * 0x100000001b3ull;
}

static void on_message(void *ctx, uint8_t op, const uint8_t *p, size_t n)
{
    struct log *l = ctx;
    WSP_ASSERT(op == WS_OP_TEXT || op == WS_OP_BINARY);
    WSP_ASSERT(l->keep ? p != NULL : p == NULL);
    if (p && op == WS_OP_TEXT)
        WSP_ASSERT(ws_utf8_valid(p, n));
    log_mix(l, "M", 1);
    log_mix(l, &op, 1);
    log_mix(l, &n, sizeof n);
    if (p)
        log_mix(l, p, n);
}

static void on_ctl(void *ctx, const uint8_t *p, size_t n)
{
    WSP_ASSERT(n <= WS_MAX_CONTROL);
    log_mix(ctx, "P", 1);
    log_mix(ctx, p, n);
}

static void on_close(void *ctx, uint16_t code, const uint8_t *p, size_t n)
{
    log_mix(ctx, "C", 1);
    log_mix(ctx, &code, sizeof code);
    log_mix(ctx, p, n);
}

/* on_data is left out: it sees pieces whose split depends on the reads. */
static const struct ws_rx_ops ops = {on_message, NULL, on_ctl, on_ctl, on_close};

struct result {
    int rc;
    uint16_t code;
    bool idle;
    uint64_t hash;
};

static void rx_run(const struct ws_rx_cfg *cfg, const uint8_t *d, size_t n, size_t step, size_t cut,
                   struct result *res)
{
    struct log l = {0xcbf29ce484222325ull, cfg->keep_payload};
    struct ws_rx *rx = NULL;
    res->rc = WS_RX_OK;
    res->code = 0;
    size_t pos = 0;
    for (bool first = true;; first = false) {
        size_t m = step ? (n - pos < step ? n - pos : step) : first ? cut : n - pos;
        uint8_t *piece = dup_exact(d + pos, m);
        uint16_t code = 0;
        const char *why = NULL;
        int rc = ws_rx_feed(&rx, cfg, piece, m, &ops, &l, &code, &why);
        free(piece);
        pos += m;
        if (rc != WS_RX_OK) {
            WSP_ASSERT(rx == NULL);
            res->rc = rc;
            if (rc < 0) {
                WSP_ASSERT(why != NULL);
                WSP_ASSERT(code == 1002 || code == 1007 || code == 1009 || code == 1011);
                res->code = code;
            }
            break;
        }
        if (rx && cfg->max_message_bytes)
            WSP_ASSERT(ws_rx_buffered(rx) <=
                       WS_MAX_HEADER + WS_MAX_CONTROL + cfg->max_message_bytes);
        if (pos >= n)
            break;
    }
    res->idle = rx == NULL;
    res->hash = l.hash;
    ws_rx_free(rx);
}

static void fuzz_rx(uint8_t param, const uint8_t *d, size_t n)
{
    static const uint64_t limits[4] = {0, 16, 300, 70000};
    struct ws_rx_cfg cfg = {
        .keep_payload = param & 1,
        .client_side = (param >> 1) & 1,
        .max_message_bytes = limits[(param >> 2) & 3],
        .inflater = inflater,
    };
    struct result whole, part;
    rx_run(&cfg, d, n, 0, n, &whole);
    size_t cut = n ? (size_t)(param >> 4) * n / 15 : 0;
    rx_run(&cfg, d, n, 0, cut, &part);
    /* Messages and control frames are reported in stream order, and an
     * error stops at the same stream position whatever the split, so even
     * a failing run logs the same events. */
    WSP_ASSERT(whole.rc == part.rc && whole.code == part.code && whole.idle == part.idle);
    WSP_ASSERT(whole.hash == part.hash);
    if (n <= 400) {
        rx_run(&cfg, d, n, 1, 0, &part);
        WSP_ASSERT(whole.rc == part.rc && whole.code == part.code && whole.idle == part.idle);
        WSP_ASSERT(whole.hash == part.hash);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (!inflater)
        inflater = ws_inflater_new();
    WSP_ASSERT(inflater);
    if (n < 2)
        return 0;
    uint8_t mode = d[0] & 3, param = d[1];
    d += 2;
    n -= 2;
    switch (mode) {
    case 0:
        fuzz_negotiate(param, d, n);
        break;
    case 1:
        fuzz_inflate(param, d, n);
        break;
    case 2:
        fuzz_roundtrip(param, d, n);
        break;
    default:
        fuzz_rx(param, d, n);
        break;
    }
    return 0;
}
