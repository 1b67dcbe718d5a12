/* ws_handshake.c - server side of the RFC 6455 §4.2 opening handshake.
 *
 * Validates a parsed request head as a WebSocket upgrade, picks the
 * subprotocol, computes Sec-WebSocket-Accept and formats the 101 response.
 * Does not read sockets, parse HTTP (http_parse.c does) or decide routing
 * and authentication (server/). No allocation in this file; outputs point
 * into the request or into the configuration. */
#include "ws/ws_handshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

/* §1.3: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int fail(struct ws_handshake *hs, int status, const char *reason)
{
    hs->status = status;
    hs->reason = reason;
    return WSP_EPROTO;
}

/* Does any header called `name` list `token`? Headers may repeat, and a
 * list split over several lines is the same list (RFC 9110 §5.3). */
static bool any_header_has_token(const struct http_req *r, const char *name, const char *token)
{
    size_t name_len = strlen(name);
    for (size_t i = 0; i < r->num_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (h->name_len == name_len && http_str_ieq(h->name, h->name_len, name) &&
            http_token_list_has(h->value, h->value_len, token))
            return true;
    }
    return false;
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* §4.2.1 item 5: base64 of exactly 16 bytes is always 24 characters, the
 * last two "=" (16 bytes = 5 groups of 3 + 1 byte). Checking the form by
 * hand is exact and avoids EVP_DecodeBlock's padding quirks (it counts the
 * '=' as zero bytes). Non-zero unused bits in the 22nd character are
 * accepted, as most decoders do. */
static bool key_valid(const char *k, size_t n)
{
    if (n != 24 || k[22] != '=' || k[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(k[i]))
            return false;
    return true;
}

/* Is `want` one of the tokens of the comma list v[0..n)? Matching is exact
 * (case-sensitive): browsers compare the echoed subprotocol byte for byte,
 * so answering "chat" to an offer of "Chat" would fail their handshake. */
static bool list_has_exact(const char *v, size_t n, const char *want)
{
    size_t wlen = strlen(want);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == wlen && wlen && memcmp(v + start, want, wlen) == 0)
            return true;
    }
    return false;
}

static const char *choose_protocol(const struct http_req *r, const struct ws_handshake_cfg *cfg)
{
    static const char hname[] = "Sec-WebSocket-Protocol";
    for (size_t p = 0; p < cfg->n_protocols; p++) {
        for (size_t i = 0; i < r->num_headers; i++) {
            const struct http_header *h = &r->headers[i];
            if (h->name_len == sizeof hname - 1 && http_str_ieq(h->name, h->name_len, hname) &&
                list_has_exact(h->value, h->value_len, cfg->protocols[p]))
                return cfg->protocols[p];
        }
    }
    return NULL;
}

bool ws_handshake_is_upgrade(const struct http_req *r)
{
    return any_header_has_token(r, "Upgrade", "websocket") &&
           any_header_has_token(r, "Connection", "upgrade");
}

int ws_handshake_check(const struct http_req *r, const struct ws_handshake_cfg *cfg,
                       struct ws_handshake *hs)
{
    static const struct ws_handshake_cfg no_cfg = {0};
    if (!cfg)
        cfg = &no_cfg;
    hs->key = NULL;
    hs->key_len = 0;
    hs->protocol = NULL;
    hs->status = 0;
    hs->reason = NULL;

    /* §4.2.1 items 1-4. */
    if (r->method_len != 3 || memcmp(r->method, "GET", 3) != 0) /* case-sensitive */
        return fail(hs, 405, "method must be GET");
    if (r->minor_version < 1)
        return fail(hs, 400, "HTTP/1.1 required");
    const struct http_header *host = http_req_header(r, "Host");
    if (!host || host->value_len == 0 || http_req_header_count(r, "Host") != 1)
        return fail(hs, 400, "missing Host");
    if (!any_header_has_token(r, "Upgrade", "websocket"))
        return fail(hs, 400, "Upgrade: websocket required");
    if (!any_header_has_token(r, "Connection", "upgrade"))
        return fail(hs, 400, "Connection: Upgrade required");

    /* §4.2.2: an unsupported (or missing) version gets 426 with the
     * versions we speak; checked before the key, whose form may differ in
     * another version. */
    const struct http_header *ver = http_req_header(r, "Sec-WebSocket-Version");
    if (!ver || http_req_header_count(r, "Sec-WebSocket-Version") != 1 || ver->value_len != 2 ||
        memcmp(ver->value, "13", 2) != 0)
        return fail(hs, 426, "Sec-WebSocket-Version 13 required");

    const struct http_header *key = http_req_header(r, "Sec-WebSocket-Key");
    if (!key || http_req_header_count(r, "Sec-WebSocket-Key") != 1 ||
        !key_valid(key->value, key->value_len))
        return fail(hs, 400, "bad Sec-WebSocket-Key");

    /* §10.2: Origin is the browser's statement of who is asking; it
     * protects browsers from cross-site WebSocket hijacking. Browsers always
     * send it, and any other client can write whatever it likes, so a
     * request without Origin (a server-side client) is let through, as
     * Centrifugo and uWebSockets do; a wrong Origin is refused. */
    const struct http_header *o = http_req_header(r, "Origin");
    if (cfg->n_origins && o) {
        bool ok = false;
        for (size_t i = 0; i < cfg->n_origins && !ok; i++)
            ok = http_str_ieq(o->value, o->value_len, cfg->origins[i]);
        if (!ok)
            return fail(hs, 403, "origin not allowed");
    }

    hs->key = key->value;
    hs->key_len = key->value_len;
    hs->protocol = choose_protocol(r, cfg);
    return 0;
}

int ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1])
{
    /* Real keys are 24 bytes; the bound keeps the buffer on the stack. */
    uint8_t buf[128 + sizeof ws_guid];
    uint8_t md[SHA_DIGEST_LENGTH];
    if (!key || key_len == 0 || key_len > 128)
        return WSP_EINVAL;
    memcpy(buf, key, key_len);
    memcpy(buf + key_len, ws_guid, sizeof ws_guid - 1);
    SHA1(buf, key_len + sizeof ws_guid - 1, md);
    /* EVP_EncodeBlock writes 4 * ceil(20 / 3) = 28 chars plus a NUL. */
    int n = EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
    if (n != WS_ACCEPT_LEN)
        return WSP_EINVAL;
    return 0;
}

size_t ws_handshake_response(char *out, size_t cap, const char *accept, const char *protocol,
                             const char *extensions)
{
    int n = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "%s%s%s"
                     "%s%s%s"
                     "\r\n",
                     accept, protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "",
                     protocol ? "\r\n" : "", extensions ? "Sec-WebSocket-Extensions: " : "",
                     extensions ? extensions : "", extensions ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}
