/* ws_deflate.h - RFC 7692 permessage-deflate: negotiation, compress-once,
 * bounded inflate.
 *
 * wspush always uses server_no_context_takeover: a published message is
 * compressed once (by the master) and the same frame bytes go to every
 * subscriber that negotiated the extension. It always answers with
 * client_no_context_takeover too (§7.1.1.2 lets the server add it), so every
 * inbound message inflates on its own and one inflater per worker serves all
 * of its connections: no per-connection zlib state at all.
 *
 * The negotiation parser is pure (no allocation). Deflaters and inflaters are
 * zlib streams owned by their creator (the master owns its deflater, each
 * worker its inflater); none is thread-safe, none is shared across
 * processes. */
#ifndef WSP_WS_DEFLATE_H
#define WSP_WS_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http/http_parse.h"

#define WS_DEFLATE_DEFAULT_WINDOW_BITS 15
#define WS_DEFLATE_DEFAULT_LEVEL 6
/* Room for the longest response value ws_deflate_negotiate writes, NUL included. */
#define WS_DEFLATE_RESP_MAX 160

struct ws_deflate_cfg {     /* owned by the caller (the config) */
    bool enabled;           /* false: never negotiate */
    int server_window_bits; /* LZ77 window the server compresses with: 9..15, 0 = 15 */
};

/* The agreed parameters of an accepted offer (see ws_deflate_negotiate). */
struct ws_deflate_params {
    uint8_t server_window_bits; /* window the server compresses with (cfg's) */
    uint8_t client_window_bits; /* client's own limit (8..15), 15 when it gave none */
};

/* Chooses permessage-deflate parameters for a handshake.
 *
 * Reads every Sec-WebSocket-Extensions header of r in order (RFC 6455 §9.1
 * grammar: comma-separated offers, ';'-separated params, values as token or
 * quoted-string, names case-insensitive, optional whitespace) and accepts
 * the first permessage-deflate offer wspush can honour:
 *  - server_no_context_takeover, client_no_context_takeover: no value;
 *  - server_max_window_bits=N, N 8..15: honoured only if N >= the window we
 *    compress with (the frame is shared, so we never compress per client);
 *    the response repeats our window;
 *  - client_max_window_bits[=N], N 8..15: any (we inflate with window 15,
 *    which decodes every smaller window); echoed when a value was given.
 * Numbers are decimal without a leading zero (§7.1.2). An offer with an
 * unknown, repeated, or malformed parameter, or an invalid value, is skipped
 * (§7.1: "MUST decline"), as are other extensions; a syntax error skips to
 * the next top-level comma.
 * The response always carries server_no_context_takeover and
 * client_no_context_takeover, plus server_max_window_bits when offered or
 * when our window is below 15. On acceptance writes the header value
 * (NUL-terminated) to resp (cap bytes; WS_DEFLATE_RESP_MAX always fits)
 * and fills *out; returns 1. Returns 0 when nothing is acceptable, when
 * cfg is NULL or disabled, or when cfg->server_window_bits is outside
 * 9..15: a failed negotiation never fails the handshake, the connection
 * simply runs uncompressed. resp and *out are untouched on 0. */
int ws_deflate_negotiate(const struct http_req *r, const struct ws_deflate_cfg *cfg,
                         struct ws_deflate_params *out, char *resp, size_t cap);

/* Same, over one header value (the fuzz target and the tests use it). */
int ws_deflate_negotiate_value(const char *val, size_t len, const struct ws_deflate_cfg *cfg,
                               struct ws_deflate_params *out, char *resp, size_t cap);

/* ---- compress once (the publish side) ---- */

struct ws_deflater; /* a raw-deflate zlib stream, owned by its creator */

/* level 0..9 (-1 = zlib default), window_bits 9..15 (zlib cannot produce
 * raw deflate with a 256-byte window). NULL on a bad argument or no memory.
 * About 256 KiB for window 15, memLevel 8. */
struct ws_deflater *ws_deflater_new(int level, int window_bits);
void ws_deflater_free(struct ws_deflater *d); /* NULL is a no-op */

/* Upper bound of ws_deflate_message's output for n input bytes, with room
 * for the dropped sync tail (so a buffer this big needs no second pass). */
size_t ws_deflate_bound(size_t n);

/* Compresses one whole message (§7.2.1): the stream is reset first (no
 * context takeover), flushed with Z_SYNC_FLUSH, and the trailing
 * 00 00 ff ff is removed. An empty message gives the single byte 00.
 * Returns the compressed length, or WSP_ETOOBIG if it does not fit in cap,
 * or WSP_EINVAL (NULL arguments, zlib error). With cap >= ws_deflate_bound(n)
 * it always fits and compresses in place; a smaller cap compresses into a
 * temporary buffer first (so WSP_ENOMEM is possible) because zlib needs room
 * for the 4 bytes that are then dropped. */
ssize_t ws_deflate_message(struct ws_deflater *d, const uint8_t *in, size_t n, uint8_t *out,
                           size_t cap);

/* The complete server frame (unmasked, FIN, RSV1 set) of a TEXT or BINARY
 * message compressed with ws_deflate_message: header then payload, ready
 * for write(2). Returns the frame length, WSP_ETOOBIG if it does not fit
 * (cap >= WS_MAX_HEADER + ws_deflate_bound(n) always fits), or WSP_EINVAL
 * (bad opcode, zlib error). */
ssize_t ws_deflate_frame(struct ws_deflater *d, uint8_t opcode, const uint8_t *payload, size_t n,
                         uint8_t *out, size_t cap);

/* ---- bounded inflate (the receive side) ---- */

struct ws_inflater; /* a raw-inflate zlib stream (window 15) plus a scratch
                       output buffer; owned by its worker, shared by all of
                       the worker's connections, one message at a time */

struct ws_inflater *ws_inflater_new(void);    /* NULL on no memory */
void ws_inflater_free(struct ws_inflater *i); /* NULL is a no-op */

/* Decompresses one whole message (§7.2.2): resets the stream, appends
 * 00 00 ff ff, and writes at most max_out bytes to out. Returns 0 with
 * *out_len set; WSP_ETOOBIG as soon as the output would exceed max_out
 * (a bomb costs at most max_out bytes of output work plus the input);
 * WSP_EPROTO if the data is not valid DEFLATE or does not end on a block
 * boundary (a truncated message); WSP_ENOMEM. A message ending with a
 * BFINAL block (§7.2.3.4) is accepted; bytes after that block are ignored.
 * out may be NULL when max_out is 0. *out_len is set only on success. */
int ws_inflate_message(struct ws_inflater *i, const uint8_t *in, size_t n, uint8_t *out,
                       size_t max_out, size_t *out_len);

/* Like ws_inflate_message into the inflater's own scratch buffer, which
 * grows (doubling from 16 KiB, never past max_out) as output needs it and
 * is kept for the next message: a worker's scratch ends up the size of the
 * largest message it inflated, at most its max_message_bytes. *out points
 * into it and is valid until the next call on i (non-NULL even when
 * *out_len is 0). Same returns. */
int ws_inflate_scratch(struct ws_inflater *i, const uint8_t *in, size_t n, size_t max_out,
                       const uint8_t **out, size_t *out_len);

#endif
