/* bdeflate.h - wspush-bench's side of permessage-deflate (RFC 7692).
 *
 * --deflate offers "permessage-deflate; client_max_window_bits" and reads
 * the server's answer here. A connection whose server accepted is fed
 * through ws_rx with one inflater per bench process (src/ws/ws_deflate.c's
 * ws_inflater: raw inflate, reset per message, 00 00 ff ff appended, one
 * scratch buffer), which is only right when the server compresses every
 * message from a fresh state: an answer without server_no_context_takeover
 * would need a z_stream per connection, so it is refused (counted), never
 * allocated. Nothing here is per connection. */
#ifndef WSP_LOADGEN_BDEFLATE_H
#define WSP_LOADGEN_BDEFLATE_H

#include <stddef.h>

#include "ws/ws_rx.h"

/* The request header line the bench sends with --deflate. */
#define BDEFLATE_OFFER "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"

enum bdeflate_answer {
    BDEFLATE_ACCEPTED, /* permessage-deflate with server_no_context_takeover */
    BDEFLATE_CONTEXT,  /* accepted, but the server keeps its context: refused */
    BDEFLATE_BAD,      /* an answer we cannot take (malformed, not what we offered) */
};

/* Judges the value of the server's Sec-WebSocket-Extensions header (the
 * header's absence is a decline, not a call here). The grammar and the
 * parameters are checked by the server's own negotiation parser
 * (ws_deflate_negotiate_value), so the bench has no second one. */
enum bdeflate_answer bdeflate_answer(const char *val, size_t len);

/* The frame configuration of a connection that negotiated the extension:
 * plain's limits, whole messages (so a compressed one is inflated and its
 * text reaches on_message) and the process's inflater. */
struct ws_rx_cfg bdeflate_rx_cfg(const struct ws_rx_cfg *plain, struct ws_inflater *inflater);

#endif
