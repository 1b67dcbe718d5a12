/* bdeflate.c - wspush-bench's side of permessage-deflate: the server's
 * answer and the frame configuration of a compressed connection. */
#include "bdeflate.h"

#include <string.h>
#include <strings.h>

#include "ws/ws_deflate.h"

/* True if the parameter name occurs in val. The value has already passed
 * the negotiation parser, where parameter values can only be window sizes
 * (digits), so the name cannot appear anywhere but as a parameter. */
static bool has_param(const char *val, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl <= len; i++)
        if (strncasecmp(val + i, name, nl) == 0)
            return true;
    return false;
}

enum bdeflate_answer bdeflate_answer(const char *val, size_t len)
{
    /* Window 9 accepts any server_max_window_bits the server may name
     * (our inflater's window 15 decodes every smaller one). */
    struct ws_deflate_cfg cfg = {.enabled = true, .server_window_bits = 9};
    struct ws_deflate_params prm;
    char resp[WS_DEFLATE_RESP_MAX];
    if (ws_deflate_negotiate_value(val, len, &cfg, &prm, resp, sizeof resp) != 1)
        return BDEFLATE_BAD;
    /* An answer names one extension: a second one was not offered. */
    if (memchr(val, ',', len))
        return BDEFLATE_BAD;
    if (!has_param(val, len, "server_no_context_takeover"))
        return BDEFLATE_CONTEXT;
    return BDEFLATE_ACCEPTED;
}

struct ws_rx_cfg bdeflate_rx_cfg(const struct ws_rx_cfg *plain, struct ws_inflater *inflater)
{
    struct ws_rx_cfg c = *plain;
    c.keep_payload = true;
    c.inflater = inflater;
    return c;
}
