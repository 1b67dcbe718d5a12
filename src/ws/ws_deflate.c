/* ws_deflate.c - RFC 7692 permessage-deflate: the offer parser, the
 * compress-once deflater and the bounded inflater.
 *
 * Does not know connections, frames in flight or configuration files: the
 * handshake code calls ws_deflate_negotiate, the master ws_deflate_frame,
 * ws_rx.c ws_inflate_scratch. zlib (raw DEFLATE, negative windowBits) does
 * the coding.
 *
 * Invariants: the negotiation parser never reads past the header value and
 * never fails a handshake (a bad offer is skipped); every message is coded
 * from a reset stream (no context takeover in either direction); inflate
 * never writes more than the caller's bound, however much the input
 * promises. */
#include "ws/ws_deflate.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "ws/ws_frame.h"

/* ---- negotiation ---- */

/* RFC 7230 §3.2.6 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

struct scan {
    const char *s;
    size_t len, pos;
};

static void skip_ows(struct scan *sc)
{
    while (sc->pos < sc->len && is_ows(sc->s[sc->pos]))
        sc->pos++;
}

static size_t take_token(struct scan *sc, const char **tok)
{
    size_t start = sc->pos;
    while (sc->pos < sc->len && is_tchar((unsigned char)sc->s[sc->pos]))
        sc->pos++;
    *tok = sc->s + start;
    return sc->pos - start;
}

#define VAL_MAX 4 /* longer values are never valid for our parameters */

struct pval {
    char v[VAL_MAX]; /* the value, unescaped (first VAL_MAX bytes) */
    size_t n;        /* its full length */
};

/* A parameter value: token or quoted-string (RFC 7230 §3.2.6); a quoted
 * value must unescape to a token (RFC 6455 §9.1). Returns false on a
 * syntax error. */
static bool take_value(struct scan *sc, struct pval *pv)
{
    pv->n = 0;
    if (sc->pos < sc->len && sc->s[sc->pos] == '"') {
        /* Scan the whole quoted-string first, so that a value that is not
         * a token still leaves sc after its closing quote (a comma inside
         * must not be taken for a list separator). */
        bool token = true;
        sc->pos++;
        for (;;) {
            if (sc->pos >= sc->len)
                return false; /* unterminated: the rest of the value is lost */
            unsigned char c = (unsigned char)sc->s[sc->pos++];
            if (c == '"')
                break;
            if (c == '\\') {
                if (sc->pos >= sc->len)
                    return false;
                c = (unsigned char)sc->s[sc->pos++];
            }
            if (!is_tchar(c))
                token = false;
            if (pv->n < VAL_MAX)
                pv->v[pv->n] = (char)c;
            pv->n++;
        }
        return token && pv->n > 0;
    }
    const char *t;
    size_t n = take_token(sc, &t);
    memcpy(pv->v, t, n < VAL_MAX ? n : VAL_MAX);
    pv->n = n;
    return n > 0;
}

/* §7.1.2.1/§7.1.2.2: 1*DIGIT, 8..15, no leading zero. -1 if not. */
static int window_bits(const struct pval *pv)
{
    if (pv->n == 1 && (pv->v[0] == '8' || pv->v[0] == '9'))
        return pv->v[0] - '0';
    if (pv->n == 2 && pv->v[0] == '1' && pv->v[1] >= '0' && pv->v[1] <= '5')
        return 10 + pv->v[1] - '0';
    return -1;
}

enum {
    P_SNCT = 1, /* server_no_context_takeover */
    P_CNCT = 2, /* client_no_context_takeover */
    P_SMWB = 4, /* server_max_window_bits */
    P_CMWB = 8, /* client_max_window_bits */
};

struct offer {
    unsigned seen; /* P_* */
    bool pmd;      /* the extension is permessage-deflate */
    bool bad;      /* an invalid parameter: decline this offer */
    int smwb;      /* server_max_window_bits value */
    int cmwb;      /* client_max_window_bits value, 0 = given without value */
};

static void offer_param(struct offer *o, const char *name, size_t nlen, bool has_val,
                        const struct pval *pv)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {
        {"server_no_context_takeover", P_SNCT},
        {"client_no_context_takeover", P_CNCT},
        {"server_max_window_bits", P_SMWB},
        {"client_max_window_bits", P_CMWB},
    };
    unsigned bit = 0;
    for (size_t k = 0; k < WSP_ARRAY_LEN(known); k++)
        if (http_str_ieq(name, nlen, known[k].name))
            bit = known[k].bit;
    if (!bit || (o->seen & bit)) {
        o->bad = true; /* unknown or repeated (§7.1: decline) */
        return;
    }
    o->seen |= bit;
    switch (bit) {
    case P_SNCT:
    case P_CNCT:
        if (has_val)
            o->bad = true;
        break;
    case P_SMWB:
        o->smwb = has_val ? window_bits(pv) : -1;
        if (o->smwb < 0)
            o->bad = true;
        break;
    default:
        o->cmwb = has_val ? window_bits(pv) : 0;
        if (o->cmwb < 0)
            o->bad = true;
        break;
    }
}

/* Parses one list element at sc (up to a top-level ',' or the end) into o.
 * Returns false on a syntax error, leaving sc inside the element. */
static bool parse_element(struct scan *sc, struct offer *o)
{
    const char *name;
    size_t nlen = take_token(sc, &name);
    if (!nlen)
        return false;
    o->pmd = http_str_ieq(name, nlen, "permessage-deflate");
    skip_ows(sc);
    while (sc->pos < sc->len && sc->s[sc->pos] == ';') {
        sc->pos++;
        skip_ows(sc);
        const char *pn;
        size_t pnlen = take_token(sc, &pn);
        if (!pnlen)
            return false;
        skip_ows(sc);
        bool has_val = false;
        struct pval pv = {{0}, 0};
        if (sc->pos < sc->len && sc->s[sc->pos] == '=') {
            sc->pos++;
            skip_ows(sc);
            if (!take_value(sc, &pv))
                return false;
            has_val = true;
            skip_ows(sc);
        }
        if (o->pmd)
            offer_param(o, pn, pnlen, has_val, &pv);
    }
    return sc->pos == sc->len || sc->s[sc->pos] == ',';
}

/* After a syntax error: skips to the next top-level ',' (quoted strings
 * may hold commas) or the end. */
static void resync(struct scan *sc)
{
    bool quoted = false;
    while (sc->pos < sc->len) {
        char c = sc->s[sc->pos];
        if (quoted) {
            if (c == '\\')
                sc->pos++;
            else if (c == '"')
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            return;
        }
        sc->pos++;
    }
    if (sc->pos > sc->len)
        sc->pos = sc->len;
}

static int cfg_window(const struct ws_deflate_cfg *cfg)
{
    if (!cfg || !cfg->enabled)
        return -1;
    int w = cfg->server_window_bits ? cfg->server_window_bits : WS_DEFLATE_DEFAULT_WINDOW_BITS;
    return w >= 9 && w <= 15 ? w : -1;
}

/* Can we honour o? Then writes the response and returns 1. */
static int accept_offer(const struct offer *o, int w, struct ws_deflate_params *out, char *resp,
                        size_t cap)
{
    /* We compress with window w for everyone; a client that can only take
     * a smaller one gets no compression (§7.1.2.1: the server MUST NOT
     * answer with a larger value). */
    if ((o->seen & P_SMWB) && o->smwb < w)
        return 0;
    char smwb[40] = "", cmwb[40] = "";
    if ((o->seen & P_SMWB) || w < 15)
        snprintf(smwb, sizeof smwb, "; server_max_window_bits=%d", w);
    if ((o->seen & P_CMWB) && o->cmwb)
        snprintf(cmwb, sizeof cmwb, "; client_max_window_bits=%d", o->cmwb);
    char tmp[WS_DEFLATE_RESP_MAX];
    int n = snprintf(tmp, sizeof tmp,
                     "permessage-deflate; server_no_context_takeover; "
                     "client_no_context_takeover%s%s",
                     smwb, cmwb);
    if (n < 0 || !resp || (size_t)n >= cap || (size_t)n >= sizeof tmp)
        return 0; /* cannot answer: run uncompressed */
    memcpy(resp, tmp, (size_t)n + 1);
    if (out) {
        out->server_window_bits = (uint8_t)w;
        out->client_window_bits = (uint8_t)((o->seen & P_CMWB) && o->cmwb ? o->cmwb : 15);
    }
    return 1;
}

static int negotiate_value(const char *val, size_t len, int w, struct ws_deflate_params *out,
                           char *resp, size_t cap)
{
    struct scan sc = {val, len, 0};
    while (sc.pos < sc.len) {
        skip_ows(&sc);
        if (sc.pos < sc.len && sc.s[sc.pos] == ',') {
            sc.pos++; /* empty list element (RFC 7230 §7) */
            continue;
        }
        if (sc.pos == sc.len)
            break;
        struct offer o = {0, false, false, 0, 0};
        if (!parse_element(&sc, &o)) {
            resync(&sc);
            continue;
        }
        if (o.pmd && !o.bad && accept_offer(&o, w, out, resp, cap))
            return 1;
    }
    return 0;
}

int ws_deflate_negotiate_value(const char *val, size_t len, const struct ws_deflate_cfg *cfg,
                               struct ws_deflate_params *out, char *resp, size_t cap)
{
    int w = cfg_window(cfg);
    if (w < 0 || !val)
        return 0;
    return negotiate_value(val, len, w, out, resp, cap);
}

int ws_deflate_negotiate(const struct http_req *r, const struct ws_deflate_cfg *cfg,
                         struct ws_deflate_params *out, char *resp, size_t cap)
{
    int w = cfg_window(cfg);
    if (w < 0 || !r)
        return 0;
    for (size_t i = 0; i < r->num_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (!http_str_ieq(h->name, h->name_len, "Sec-WebSocket-Extensions"))
            continue;
        if (negotiate_value(h->value, h->value_len, w, out, resp, cap))
            return 1;
    }
    return 0;
}

/* ---- compress once ---- */

struct ws_deflater { /* owned by its creator (the master) */
    z_stream z;
};

struct ws_deflater *ws_deflater_new(int level, int window_bits)
{
    if (level < -1 || level > 9 || window_bits < 9 || window_bits > 15)
        return NULL;
    struct ws_deflater *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    /* memLevel 8 is zlib's default: ~128 KiB of hash chains at window 15. */
    if (deflateInit2(&d->z, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(d);
        return NULL;
    }
    return d;
}

void ws_deflater_free(struct ws_deflater *d)
{
    if (!d)
        return;
    deflateEnd(&d->z);
    free(d);
}

size_t ws_deflate_bound(size_t n)
{
    /* zlib's conservative bound for non-default parameters (deflateBound)
     * plus the sync-flush marker: stored blocks cost 5 bytes per 64 KiB,
     * far below n/8; the 16 covers block headers, the flush and empty
     * input. */
    return n + ((n + 7) >> 3) + ((n + 63) >> 6) + 16;
}

static const uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* One reset + Z_SYNC_FLUSH pass into out[0..cap). Returns the raw length
 * (tail included), WSP_EAGAIN if it did not complete within cap, or
 * WSP_EINVAL. Calling deflate again after a full buffer is not an option:
 * zlib would emit a second flush marker. */
static ssize_t deflate_pass(z_stream *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    static const uint8_t nothing[1];
    if (deflateReset(z) != Z_OK) /* §7.1.1.1: no context takeover */
        return WSP_EINVAL;
    z->next_in = (Bytef *)(n ? in : nothing);
    z->avail_in = (uInt)n;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    int rc = deflate(z, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR)
        return WSP_EINVAL;
    if (z->avail_out == 0)
        return WSP_EAGAIN; /* maybe more pending: cannot tell */
    if (z->avail_in > 0)
        return WSP_EINVAL; /* stopped with room left: cannot happen */
    size_t len = cap - z->avail_out;
    /* §7.2.1: the sync flush ends with 00 00 ff ff, which is dropped. */
    if (len < 4 || memcmp(out + len - 4, sync_tail, 4) != 0)
        return WSP_EINVAL;
    return (ssize_t)len;
}

ssize_t ws_deflate_message(struct ws_deflater *d, const uint8_t *in, size_t n, uint8_t *out,
                           size_t cap)
{
    if (!d || (!in && n) || (!out && cap))
        return WSP_EINVAL;
    if (n > UINT_MAX / 2)
        return WSP_ETOOBIG;
    size_t bound = ws_deflate_bound(n);
    if (cap > bound)
        cap = bound; /* also keeps cap within uInt */
    /* The raw output holds the 4-byte tail we drop: with room for it,
     * one pass; otherwise (a tight caller buffer) compress into a
     * temporary one and copy. The publish path passes the bound. */
    if (cap >= 4) {
        ssize_t len = deflate_pass(&d->z, in, n, out, cap);
        if (len != WSP_EAGAIN)
            return len < 0 ? len : len - 4;
    }
    uint8_t *tmp = malloc(bound + 4);
    if (!tmp)
        return WSP_ENOMEM;
    ssize_t len = deflate_pass(&d->z, in, n, tmp, bound + 4);
    if (len == WSP_EAGAIN)
        len = WSP_EINVAL; /* over the bound: cannot happen */
    if (len >= 0) {
        len -= 4;
        if ((size_t)len > cap)
            len = WSP_ETOOBIG;
        else if (len > 0)
            memcpy(out, tmp, (size_t)len);
    }
    free(tmp);
    return len;
}

ssize_t ws_deflate_frame(struct ws_deflater *d, uint8_t opcode, const uint8_t *payload, size_t n,
                         uint8_t *out, size_t cap)
{
    if (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY)
        return WSP_EINVAL;
    /* Compress after room for the largest header the bound could need;
     * small messages (the common case) need no move afterwards. */
    size_t bound = ws_deflate_bound(n);
    size_t room = ws_frame_header_len(bound, false);
    if (cap < room + bound) {
        /* A tight buffer: compress after the smallest header, then move
         * the payload forward if its header is longer. */
        room = 2;
        if (cap < room)
            return WSP_ETOOBIG;
    }
    ssize_t c = ws_deflate_message(d, payload, n, out + room, cap - room);
    if (c < 0)
        return c;
    size_t h = ws_frame_header_len((uint64_t)c, false);
    if (h + (size_t)c > cap)
        return WSP_ETOOBIG;
    if (h != room)
        memmove(out + h, out + room, (size_t)c);
    ws_frame_header_encode(out, true, opcode, (uint64_t)c, NULL);
    out[0] |= 0x40; /* RSV1: §6 "Per-Message Compressed" */
    return (ssize_t)h + c;
}

/* ---- bounded inflate ---- */

#define SCRATCH_MIN (16u << 10)

struct ws_inflater { /* owned by its worker */
    z_stream z;
    uint8_t *scratch; /* ws_inflate_scratch's output, grown on demand */
    size_t scratch_cap;
};

struct ws_inflater *ws_inflater_new(void)
{
    struct ws_inflater *i = calloc(1, sizeof *i);
    if (!i)
        return NULL;
    /* Window 15 decodes every client_max_window_bits (8..15). */
    if (inflateInit2(&i->z, -15) != Z_OK) {
        free(i);
        return NULL;
    }
    return i;
}

void ws_inflater_free(struct ws_inflater *i)
{
    if (!i)
        return;
    inflateEnd(&i->z);
    free(i->scratch);
    free(i);
}

/* The common loop. grow: out is the scratch, grown up to max_out. */
static int inflate_run(struct ws_inflater *i, const uint8_t *in, size_t n, uint8_t *out,
                       size_t max_out, bool grow, size_t *out_len)
{
    z_stream *z = &i->z;
    if (n == 0) {
        /* An empty compressed payload: some senders skip the lone 00 byte
         * of an empty message; accept it as the empty message. */
        *out_len = 0;
        return 0;
    }
    if (inflateReset(z) != Z_OK)
        return WSP_EPROTO;
    /* cap: the output room we have, never more than max_out. */
    size_t in_pos = 0, produced = 0;
    size_t cap = grow && i->scratch_cap < max_out ? i->scratch_cap : max_out;
    bool tail_given = false, probing = false;
    uint8_t probe;
    if (grow)
        out = i->scratch;
    z->avail_in = 0;
    z->avail_out = 0;
    for (;;) {
        if (z->avail_in == 0) {
            if (in_pos < n) {
                size_t k = n - in_pos < UINT_MAX ? n - in_pos : UINT_MAX;
                z->next_in = (Bytef *)(in + in_pos);
                z->avail_in = (uInt)k;
                in_pos += k;
            } else if (!tail_given) {
                /* §7.2.2: append 00 00 ff ff before decompressing. */
                z->next_in = (Bytef *)sync_tail;
                z->avail_in = sizeof sync_tail;
                tail_given = true;
            }
        }
        if (z->avail_out == 0) {
            if (produced == cap && grow && cap < max_out) {
                WSP_DASSERT(cap == i->scratch_cap);
                size_t nc = cap ? cap * 2 : SCRATCH_MIN;
                if (nc < cap || nc > max_out)
                    nc = max_out;
                uint8_t *nb = realloc(i->scratch, nc);
                if (!nb)
                    return WSP_ENOMEM;
                i->scratch = out = nb;
                i->scratch_cap = cap = nc;
            }
            if (produced < cap) {
                size_t k = cap - produced < UINT_MAX ? cap - produced : UINT_MAX;
                z->next_out = out + produced;
                z->avail_out = (uInt)k;
            } else {
                /* Full: one more byte of output would be over the bound. */
                z->next_out = &probe;
                z->avail_out = 1;
                probing = true;
            }
        }
        uInt before = z->avail_out;
        int rc = inflate(z, Z_BLOCK); /* stop at block ends: see data_type */
        if (probing && z->avail_out == 0)
            return WSP_ETOOBIG;
        if (!probing)
            produced += before - z->avail_out;
        if (rc == Z_STREAM_END)
            break; /* a BFINAL block (§7.2.3.4): the message ends there */
        if (rc == Z_MEM_ERROR)
            return WSP_ENOMEM;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return WSP_EPROTO; /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
        if (tail_given && z->avail_in == 0 && z->avail_out > 0) {
            /* Everything is in and all output is out. A well-formed message
             * ends exactly after the empty stored block we completed; 128
             * in data_type says inflate stopped at a block boundary. */
            if (!(z->data_type & 128))
                return WSP_EPROTO;
            break;
        }
    }
    *out_len = produced;
    return 0;
}

int ws_inflate_message(struct ws_inflater *i, const uint8_t *in, size_t n, uint8_t *out,
                       size_t max_out, size_t *out_len)
{
    if (!i || (!in && n) || (!out && max_out) || !out_len)
        return WSP_EINVAL;
    return inflate_run(i, in, n, out, max_out, false, out_len);
}

int ws_inflate_scratch(struct ws_inflater *i, const uint8_t *in, size_t n, size_t max_out,
                       const uint8_t **out, size_t *out_len)
{
    static const uint8_t empty[1];
    if (!i || (!in && n) || !out || !out_len)
        return WSP_EINVAL;
    int rc = inflate_run(i, in, n, NULL, max_out, true, out_len);
    if (rc == 0)
        *out = i->scratch && *out_len ? i->scratch : empty;
    return rc;
}
