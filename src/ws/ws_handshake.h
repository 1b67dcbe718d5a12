/* ws_handshake.h - the server side of the RFC 6455 §4.2 opening handshake.
 *
 * Validates a parsed request head (http_parse.h) as a WebSocket upgrade and
 * builds the 101 response. Sec-WebSocket-Accept uses OpenSSL's SHA-1 and
 * base64. Pure apart from OpenSSL; no allocation. */
#ifndef WSP_WS_HANDSHAKE_H
#define WSP_WS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http_parse.h"

#define WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */

struct ws_handshake_cfg {
    const char *const *protocols; /* server's subprotocols in preference order */
    size_t n_protocols;
    const char *const *origins; /* allowed Origin values; n_origins == 0: any */
    size_t n_origins;
};

struct ws_handshake {
    const char *key; /* Sec-WebSocket-Key value, points into the request */
    size_t key_len;
    const char *protocol; /* chosen subprotocol (a cfg string) or NULL */
    int status;           /* on failure: 400, 403, 405, 426 */
    const char *reason;   /* on failure: short static text */
};

/* Is this request asking for a WebSocket upgrade at all (Upgrade: websocket
 * and Connection containing "upgrade")? Plain HTTP routes are served when not. */
bool ws_handshake_is_upgrade(const struct http_req *r);

/* §4.2.1 checks: GET, HTTP/1.1, Host present, Upgrade: websocket (token,
 * case-insensitive), Connection has the "Upgrade" token, a
 * Sec-WebSocket-Key that base64-decodes to 16 bytes, Sec-WebSocket-Version
 * 13 (else 426 - the caller adds "Sec-WebSocket-Version: 13"), Origin in the
 * allow-list when one is configured (else 403; a request without Origin,
 * i.e. not from a browser, passes). Host, Sec-WebSocket-Key and Sec-WebSocket-Version must each
 * appear once. Chooses the first of the server's protocols the client
 * offered in any Sec-WebSocket-Protocol header, matched case-sensitively
 * (clients compare the echoed value byte for byte), or NULL. cfg may be
 * NULL (no protocols, any origin). On success hs->key points into r.
 * Returns 0, or WSP_EPROTO with hs->status and hs->reason set. */
int ws_handshake_check(const struct http_req *r, const struct ws_handshake_cfg *cfg,
                       struct ws_handshake *hs);

/* Sec-WebSocket-Accept for key: writes WS_ACCEPT_LEN chars + NUL to out.
 * Returns 0 or WSP_EINVAL. */
int ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

/* The 101 Switching Protocols response into out (cap bytes). protocol and
 * extensions may be NULL. Returns its length or 0 if it does not fit. */
size_t ws_handshake_response(char *out, size_t cap, const char *accept, const char *protocol,
                             const char *extensions);

#endif
