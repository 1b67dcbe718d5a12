/* ws_rx.c - inbound WebSocket processing for one connection: bytes -> events.
 *
 * Walks whatever bytes a read produced through frame headers (ws_frame.c),
 * unmasks payloads in place, enforces §5.4 fragmentation, §5.5 control
 * frames, §5.5.1 close payloads, §8.1 UTF-8 (incrementally, fail fast) and
 * the message size limit, and reports events through the caller's ops.
 *
 * Does not write anything back (pongs and close replies are the caller's),
 * does not know sockets. The one extension it knows is permessage-deflate
 * (RFC 7692) when the caller passes an inflater: RSV1 marks a compressed
 * message, which is gathered compressed and inflated at its end with the
 * worker's shared inflater (ws_deflate.c); other RSV bits are refused.
 *
 * Invariant (the memory budget): between messages *rxp is NULL. The state
 * lives on the stack during a call and moves to the heap only when the
 * input ends inside a frame header, a frame, or a fragmented message; it
 * is freed as soon as the connection is between messages again. Without
 * keep_payload, data payloads are never copied: they are validated and
 * handed to on_data straight from the caller's buffer, and a compressed
 * message is neither inflated nor kept (its framing and size are checked,
 * its bytes dropped). With keep_payload a compressed message must be whole
 * before it can be inflated (and UTF-8 checked), so its compressed bytes
 * are buffered like keep_payload data, bounded by max_message_bytes. */
#include "ws/ws_rx.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "ws/ws_deflate.h"
#include "ws/ws_frame.h"
#include "ws/ws_utf8.h"

struct ws_rx {                   /* owned by the connection (through *rxp) */
    uint64_t frame_len;          /* current frame's payload length */
    uint64_t frame_done;         /* payload bytes of it consumed so far */
    uint64_t msg_bytes;          /* data bytes of the message so far (<= limit) */
    uint8_t *buf;                /* keep_payload reassembly, NULL if unused */
    size_t buf_len, buf_cap;     /* bytes in buf, its size (<= max_message_bytes) */
    uint32_t utf8;               /* ws_utf8 state of a text message */
    uint8_t mask[4];             /* current frame's masking key */
    uint8_t op;                  /* current frame's opcode */
    uint8_t msg_op;              /* WS_OP_TEXT/BINARY in progress, 0 = none */
    uint8_t hdr_len;             /* bytes in hdr[] (< WS_MAX_HEADER) */
    bool in_frame;               /* header decoded, payload pending */
    bool fin;                    /* current frame's FIN bit */
    bool masked;                 /* current frame is masked */
    bool data_started;           /* on_data already called for this message */
    bool compressed;             /* message in progress had RSV1 (RFC 7692) */
    uint8_t hdr[WS_MAX_HEADER];  /* a header split across reads */
    uint8_t ctl[WS_MAX_CONTROL]; /* a control payload split across reads */
};

struct rx_err {
    uint16_t code;
    const char *reason;
};

static int rx_fail(struct rx_err *e, int err, uint16_t code, const char *reason)
{
    e->code = code;
    e->reason = reason;
    return err;
}

static void rx_init(struct ws_rx *rx)
{
    /* Field by field: the common call (whole frames, rx NULL) should not
     * pay for clearing the two buffers. */
    rx->frame_len = 0;
    rx->frame_done = 0;
    rx->msg_bytes = 0;
    rx->buf = NULL;
    rx->buf_len = 0;
    rx->buf_cap = 0;
    rx->utf8 = WS_UTF8_ACCEPT;
    rx->op = 0;
    rx->msg_op = 0;
    rx->hdr_len = 0;
    rx->in_frame = false;
    rx->fin = false;
    rx->masked = false;
    rx->data_started = false;
    rx->compressed = false;
}

static bool rx_idle(const struct ws_rx *rx)
{
    return !rx->in_frame && rx->hdr_len == 0 && rx->msg_op == 0;
}

/* Decodes the next header, from data+*pos or from the bytes kept from the
 * previous read. Returns 0 with f filled, WSP_EAGAIN after keeping the
 * (short) rest of the input, or an error. */
static int take_header(struct ws_rx *rx, const struct ws_decode_opts *o, const uint8_t *data,
                       size_t len, size_t *pos, struct ws_frame *f, struct rx_err *e)
{
    size_t avail = len - *pos;
    ssize_t r;
    if (rx->hdr_len == 0) {
        r = ws_frame_decode_header(data + *pos, avail, o, f);
        if (r > 0) {
            *pos += (size_t)r;
            return 0;
        }
        if (r == WSP_EAGAIN) {
            WSP_DASSERT(avail < WS_MAX_HEADER);
            memcpy(rx->hdr, data + *pos, avail);
            rx->hdr_len = (uint8_t)avail;
            *pos = len;
            return WSP_EAGAIN;
        }
    } else {
        size_t old = rx->hdr_len;
        size_t add = WS_MAX_HEADER - old < avail ? WS_MAX_HEADER - old : avail;
        memcpy(rx->hdr + old, data + *pos, add);
        r = ws_frame_decode_header(rx->hdr, old + add, o, f);
        if (r > 0) {
            WSP_DASSERT((size_t)r > old);
            *pos += (size_t)r - old;
            rx->hdr_len = 0;
            return 0;
        }
        if (r == WSP_EAGAIN) {
            /* 14 bytes always decode, so all of the input was taken. */
            WSP_DASSERT(add == avail);
            rx->hdr_len = (uint8_t)(old + add);
            *pos = len;
            return WSP_EAGAIN;
        }
    }
    return rx_fail(e, (int)r, f->close_code, f->reason);
}

/* Frame-level rules that need the message state (§5.4), then the limit:
 * checked on the declared length, before a byte of payload is taken. */
static int frame_start(struct ws_rx *rx, const struct ws_rx_cfg *cfg, const struct ws_frame *f,
                       struct rx_err *e)
{
    /* RFC 7692 §6: RSV1 (allowed only with an inflater) marks a message
     * as compressed, and only on its first frame; control frames are never
     * compressed (§6.1). */
    bool rsv1 = f->rsv & 4;
    if (f->opcode & 0x8) {
        if (rsv1)
            return rx_fail(e, WSP_EPROTO, WS_CLOSE_PROTOCOL, "RSV1 on a control frame");
        /* §5.5.1: a close body starts with a 2-byte code. */
        if (f->opcode == WS_OP_CLOSE && f->payload_len == 1)
            return rx_fail(e, WSP_EPROTO, WS_CLOSE_PROTOCOL, "close payload of 1 byte");
    } else {
        if (f->opcode == WS_OP_CONT) {
            if (!rx->msg_op)
                return rx_fail(e, WSP_EPROTO, WS_CLOSE_PROTOCOL, "continuation without message");
            if (rsv1)
                return rx_fail(e, WSP_EPROTO, WS_CLOSE_PROTOCOL, "RSV1 on a continuation frame");
        } else {
            if (rx->msg_op)
                return rx_fail(e, WSP_EPROTO, WS_CLOSE_PROTOCOL,
                               "new message inside fragmented one");
            rx->msg_op = f->opcode;
            rx->msg_bytes = 0;
            rx->utf8 = WS_UTF8_ACCEPT;
            rx->data_started = false;
            rx->compressed = rsv1;
        }
        uint64_t max = cfg->max_message_bytes;
        if (max && f->payload_len > max - rx->msg_bytes)
            return rx_fail(e, WSP_ETOOBIG, WS_CLOSE_TOO_BIG, "message too big");
    }
    rx->op = f->opcode;
    rx->fin = f->fin;
    rx->masked = f->masked;
    memcpy(rx->mask, f->mask, 4);
    rx->frame_len = f->payload_len;
    rx->frame_done = 0;
    rx->in_frame = true;
    return 0;
}

static void msg_reset(struct ws_rx *rx)
{
    free(rx->buf);
    rx->buf = NULL;
    rx->buf_len = 0;
    rx->buf_cap = 0;
    rx->msg_op = 0;
    rx->msg_bytes = 0;
    rx->utf8 = WS_UTF8_ACCEPT;
    rx->data_started = false;
    rx->compressed = false;
}

/* Appends to the reassembly buffer, doubling it (from 256 bytes) but never
 * past the limit: the frame_start check guarantees the need fits. */
static int buf_append(struct ws_rx *rx, const struct ws_rx_cfg *cfg, const uint8_t *p, size_t n,
                      struct rx_err *e)
{
    size_t need = rx->buf_len + n;
    if (need > rx->buf_cap) {
        size_t cap = rx->buf_cap ? rx->buf_cap : 256;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (cfg->max_message_bytes && cap > cfg->max_message_bytes)
            cap = (size_t)cfg->max_message_bytes;
        WSP_DASSERT(cap >= need);
        uint8_t *nb = realloc(rx->buf, cap);
        if (!nb)
            return rx_fail(e, WSP_ENOMEM, WS_CLOSE_INTERNAL, "out of memory");
        rx->buf = nb;
        rx->buf_cap = cap;
    }
    memcpy(rx->buf + rx->buf_len, p, n);
    rx->buf_len = need;
    return 0;
}

/* After a data frame's payload bytes: true when they completed the message
 * (the frame is over and it was the message's last). */
static bool message_done(struct ws_rx *rx)
{
    if (rx->frame_done < rx->frame_len)
        return false;
    rx->in_frame = false;
    return rx->fin;
}

/* The end of a compressed message: m/mn is its whole compressed payload.
 * Inflates with the worker's shared inflater (each message from a fresh
 * state: the server answered client_no_context_takeover), bounded by the
 * message limit. Corrupt DEFLATE data is 1007: RFC 7692 only says to fail
 * the connection, and RFC 6455 §7.4.1 defines 1007 for "data within a
 * message that was not consistent with the type of the message", which is
 * also what invalid UTF-8 gets. An empty compressed payload is accepted as
 * the empty message (ws_deflate.c). */
static int compressed_message(struct ws_rx *rx, const struct ws_rx_cfg *cfg,
                              const struct ws_rx_ops *ops, void *ctx, const uint8_t *m, size_t mn,
                              struct rx_err *e)
{
    uint64_t max = cfg->max_message_bytes ? cfg->max_message_bytes : WS_RX_INFLATE_DEFAULT_MAX;
    const uint8_t *out;
    size_t out_n;
    int rc = ws_inflate_scratch(cfg->inflater, m, mn, max > SIZE_MAX ? SIZE_MAX : (size_t)max, &out,
                                &out_n);
    if (rc == WSP_ETOOBIG)
        return rx_fail(e, WSP_ETOOBIG, WS_CLOSE_TOO_BIG, "message too big");
    if (rc == WSP_ENOMEM)
        return rx_fail(e, WSP_ENOMEM, WS_CLOSE_INTERNAL, "out of memory");
    if (rc < 0)
        return rx_fail(e, WSP_EPROTO, WS_CLOSE_INVALID_DATA, "invalid compressed data");
    if (rx->msg_op == WS_OP_TEXT && !ws_utf8_valid(out, out_n))
        return rx_fail(e, WSP_EPROTO, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text");
    if (ops->on_message)
        ops->on_message(ctx, rx->msg_op, cfg->keep_payload ? out : NULL, out_n);
    msg_reset(rx);
    return 0;
}

/* n bytes of a compressed message's frame at p (masked as received):
 * gathered, or used in place when the whole message is here (direct). */
static int compressed_payload(struct ws_rx *rx, const struct ws_rx_cfg *cfg,
                              const struct ws_rx_ops *ops, void *ctx, uint8_t *p, size_t n,
                              bool direct, struct rx_err *e)
{
    if (n) {
        if (rx->masked)
            ws_mask_apply(p, n, rx->mask, rx->frame_done);
        if (!direct) {
            int rc = buf_append(rx, cfg, p, n, e);
            if (rc < 0)
                return rc;
        }
        rx->frame_done += n;
        rx->msg_bytes += n;
    }
    if (!message_done(rx))
        return 0;
    if (direct)
        return compressed_message(rx, cfg, ops, ctx, p, n, e);
    return compressed_message(rx, cfg, ops, ctx, rx->buf, rx->buf_len, e);
}

/* n bytes of a compressed message nobody reads (no keep_payload): counted
 * against the limit by frame_start, then dropped unread. Inflating them
 * would only check DEFLATE and UTF-8 validity of bytes that are thrown
 * away, at up to max_message_bytes of output work per ~1 KiB of input
 * (issue 11 item 4), and gathering them would hold up to the limit per
 * connection (item 5). */
static int dropped_payload(struct ws_rx *rx, const struct ws_rx_ops *ops, void *ctx, size_t n)
{
    rx->frame_done += n;
    rx->msg_bytes += n;
    if (!message_done(rx))
        return 0;
    if (ops->on_message)
        ops->on_message(ctx, rx->msg_op, NULL, (size_t)rx->msg_bytes);
    msg_reset(rx);
    return 0;
}

/* n bytes of a data frame's payload at p (masked as received). */
static int data_payload(struct ws_rx *rx, const struct ws_rx_cfg *cfg, const struct ws_rx_ops *ops,
                        void *ctx, uint8_t *p, size_t n, struct rx_err *e)
{
    if (rx->compressed && !cfg->keep_payload)
        return dropped_payload(rx, ops, ctx, n);
    /* The whole message is right here: with keep_payload, hand it over in
     * place instead of copying (the usual unfragmented echo case). */
    bool direct = (cfg->keep_payload || rx->compressed) && rx->fin && rx->frame_done == 0 &&
                  n == rx->frame_len && rx->msg_bytes == 0;
    if (rx->compressed)
        return compressed_payload(rx, cfg, ops, ctx, p, n, direct, e);
    if (n) {
        if (rx->masked)
            ws_mask_apply(p, n, rx->mask, rx->frame_done);
        /* §8.1: fail the connection as soon as a text byte is invalid. */
        if (rx->msg_op == WS_OP_TEXT && !ws_utf8_feed(&rx->utf8, p, n))
            return rx_fail(e, WSP_EPROTO, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text");
        if (cfg->keep_payload) {
            if (!direct) {
                int rc = buf_append(rx, cfg, p, n, e);
                if (rc < 0)
                    return rc;
            }
        } else if (ops->on_data) {
            ops->on_data(ctx, rx->msg_op, p, n, !rx->data_started);
            rx->data_started = true;
        }
        rx->frame_done += n;
        rx->msg_bytes += n;
    }
    if (!message_done(rx))
        return 0;

    if (rx->msg_op == WS_OP_TEXT && !ws_utf8_complete(rx->utf8))
        return rx_fail(e, WSP_EPROTO, WS_CLOSE_INVALID_DATA, "truncated UTF-8 in text");
    if (ops->on_message) {
        static const uint8_t empty[1];
        const uint8_t *mp = NULL;
        size_t mn = (size_t)rx->msg_bytes;
        if (cfg->keep_payload)
            mp = direct ? p : rx->buf ? rx->buf : empty;
        ops->on_message(ctx, rx->msg_op, mp, mn);
    }
    msg_reset(rx);
    return 0;
}

/* A complete close payload: §5.5.1 and §7.4. */
static int close_frame(const struct ws_rx_ops *ops, void *ctx, const uint8_t *p, size_t n,
                       struct rx_err *e)
{
    uint16_t code = WS_CLOSE_NO_STATUS;
    if (n >= 2) {
        code = (uint16_t)(p[0] << 8 | p[1]);
        if (!ws_close_code_valid(code))
            return rx_fail(e, WSP_EPROTO, WS_CLOSE_PROTOCOL, "invalid close code");
        if (!ws_utf8_valid(p + 2, n - 2))
            return rx_fail(e, WSP_EPROTO, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in close reason");
        p += 2;
        n -= 2;
    }
    if (ops->on_close)
        ops->on_close(ctx, code, p, n);
    return WS_RX_CLOSED;
}

/* n bytes of a control frame's payload at p. Delivered in place when the
 * whole payload is in this read, else gathered in rx->ctl (<= 125). */
static int control_payload(struct ws_rx *rx, const struct ws_rx_ops *ops, void *ctx, uint8_t *p,
                           size_t n, struct rx_err *e)
{
    const uint8_t *pl = p;
    size_t plen = (size_t)rx->frame_len;
    if (rx->frame_done == 0 && n == plen) {
        if (rx->masked)
            ws_mask_apply(p, n, rx->mask, 0);
    } else {
        size_t done = (size_t)rx->frame_done;
        memcpy(rx->ctl + done, p, n);
        if (rx->masked)
            ws_mask_apply(rx->ctl + done, n, rx->mask, done);
        rx->frame_done += n;
        if (rx->frame_done < rx->frame_len)
            return 0;
        pl = rx->ctl;
    }
    rx->in_frame = false;
    switch (rx->op) {
    case WS_OP_PING:
        if (ops->on_ping)
            ops->on_ping(ctx, pl, plen);
        return 0;
    case WS_OP_PONG:
        if (ops->on_pong)
            ops->on_pong(ctx, pl, plen);
        return 0;
    default:
        return close_frame(ops, ctx, pl, plen, e);
    }
}

int ws_rx_feed(struct ws_rx **rxp, const struct ws_rx_cfg *cfg, uint8_t *data, size_t len,
               const struct ws_rx_ops *ops, void *ctx, uint16_t *close_code, const char **reason)
{
    struct ws_rx local;
    struct ws_rx *rx = *rxp;
    struct rx_err e = {0, NULL};
    struct ws_decode_opts o = {
        .require_mask = !cfg->client_side,
        .forbid_mask = cfg->client_side,
        .allowed_rsv = cfg->inflater ? 4 : 0, /* RSV1: permessage-deflate */
        .max_payload_bytes = 0,               /* the message limit is checked in frame_start */
    };
    size_t pos = 0;
    int rc = 0;

    if (!rx) {
        rx_init(&local);
        rx = &local;
    }
    for (;;) {
        if (!rx->in_frame) {
            if (pos == len)
                break;
            struct ws_frame f;
            rc = take_header(rx, &o, data, len, &pos, &f, &e);
            if (rc == WSP_EAGAIN)
                break;
            if (rc < 0)
                goto done;
            rc = frame_start(rx, cfg, &f, &e);
            if (rc < 0)
                goto done;
        }
        uint64_t left = rx->frame_len - rx->frame_done;
        size_t n = len - pos < left ? len - pos : (size_t)left;
        uint8_t *p = data + pos;
        pos += n;
        if (rx->op & 0x8)
            rc = control_payload(rx, ops, ctx, p, n, &e);
        else
            rc = data_payload(rx, cfg, ops, ctx, p, n, &e);
        if (rc != 0)
            goto done; /* an error, or WS_RX_CLOSED: the rest is ignored */
        if (rx->in_frame)
            break; /* the input ended inside this frame's payload */
    }

    if (rx_idle(rx)) {
        WSP_DASSERT(rx->buf == NULL);
        if (rx != &local)
            free(rx);
        *rxp = NULL;
        return WS_RX_OK;
    }
    if (rx == &local) {
        rx = malloc(sizeof *rx);
        if (!rx) {
            rx = &local;
            rc = rx_fail(&e, WSP_ENOMEM, WS_CLOSE_INTERNAL, "out of memory");
            goto done;
        }
        memcpy(rx, &local, sizeof *rx);
        *rxp = rx;
    }
    return WS_RX_OK;

done:
    free(rx->buf);
    if (rx != &local)
        free(rx);
    *rxp = NULL;
    if (rc < 0) {
        if (close_code)
            *close_code = e.code;
        if (reason)
            *reason = e.reason;
    }
    return rc;
}

size_t ws_rx_buffered(const struct ws_rx *rx)
{
    if (!rx)
        return 0;
    size_t n = rx->hdr_len + rx->buf_len;
    if (rx->in_frame && (rx->op & 0x8))
        n += (size_t)rx->frame_done;
    return n;
}

void ws_rx_free(struct ws_rx *rx)
{
    if (!rx)
        return;
    free(rx->buf);
    free(rx);
}
