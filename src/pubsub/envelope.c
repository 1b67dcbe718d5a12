/* envelope.c - the JSON envelope form of a message (see envelope.h).
 *
 * Encodes the JSON once into the caller's buffer after room for the
 * largest frame header, then moves it up against the real header. It does
 * not decide who gets the envelope (fanout.c) or when it is made
 * (master.c: only while some worker has an envelope subscriber). */
#include "pubsub/envelope.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/wsp_assert.h"
#include "ws/ws_frame.h"

_Static_assert(WS_MAX_HEADER == 14, "ENVELOPE_BOUND counts a 14-byte frame header");

size_t envelope_bound(size_t tl, size_t n)
{
    return ENVELOPE_BOUND(tl, n);
}

static size_t put(uint8_t *o, size_t at, const char *s)
{
    size_t n = strlen(s);
    memcpy(o + at, s, n);
    return at + n;
}

static size_t put_json(uint8_t *o, size_t at, size_t cap, const char *s, size_t n)
{
    return at + json_str_buf((char *)o + at, cap - at, s, n);
}

/* Moves the JSON at out + WS_MAX_HEADER down behind its frame header. */
static size_t frame_it(uint8_t *out, size_t json_len)
{
    size_t hl = ws_frame_header_len(json_len, false);
    memmove(out + hl, out + WS_MAX_HEADER, json_len);
    size_t w = ws_frame_header_encode(out, true, WS_OP_TEXT, json_len, NULL);
    WSP_DASSERT(w == hl);
    return hl + json_len;
}

size_t envelope_frame(uint8_t *out, size_t cap, const char *topic, size_t tl, const char *id,
                      bool binary, const uint8_t *p, size_t n)
{
    return envelope_frame_skipped(out, cap, topic, tl, id, 0, binary, p, n);
}

size_t envelope_frame_skipped(uint8_t *out, size_t cap, const char *topic, size_t tl,
                              const char *id, uint64_t skipped, bool binary, const uint8_t *p,
                              size_t n)
{
    WSP_ASSERT(cap >= envelope_bound(tl, n));
    uint8_t *j = out + WS_MAX_HEADER;
    size_t jcap = cap - WS_MAX_HEADER, at = 0;
    at = put(j, at, "{\"topic\":");
    at = put_json(j, at, jcap, topic, tl);
    at = put(j, at, ",\"id\":");
    at = put_json(j, at, jcap, id, id ? strlen(id) : 0);
    if (skipped) /* at most 20 digits: ENV_FIXED has room */
        at += (size_t)snprintf((char *)j + at, jcap - at, ",\"skipped\":%llu",
                               (unsigned long long)skipped);
    at = put(j, at, ",\"data\":");
    if (binary) {
        j[at++] = '"';
        at += (size_t)EVP_EncodeBlock(j + at, p, (int)n);
        at = put(j, at, "\",\"encoding\":\"base64\"}");
    } else {
        at = put_json(j, at, jcap, (const char *)p, n);
        j[at++] = '}';
    }
    WSP_ASSERT(at <= jcap);
    return frame_it(out, at);
}

size_t envelope_control_json(char *out, size_t cap, const char *type, const char *topic, size_t tl,
                             const char *id, const char *cause)
{
    WSP_ASSERT(cap >= envelope_bound(tl, 64) - WS_MAX_HEADER);
    uint8_t *j = (uint8_t *)out;
    size_t at = 0;
    at = put(j, at, "{\"type\":");
    at = put_json(j, at, cap, type, strlen(type));
    at = put(j, at, ",\"topic\":");
    at = put_json(j, at, cap, topic, tl);
    at = put(j, at, ",\"id\":");
    at = put_json(j, at, cap, id, id ? strlen(id) : 0);
    if (cause) {
        at = put(j, at, ",\"cause\":");
        at = put_json(j, at, cap, cause, strlen(cause));
    }
    j[at++] = '}';
    WSP_ASSERT(at <= cap);
    return at;
}

size_t envelope_control_frame(uint8_t *out, size_t cap, const char *type, const char *topic,
                              size_t tl, const char *id, const char *cause)
{
    WSP_ASSERT(cap >= envelope_bound(tl, 64));
    size_t at = envelope_control_json((char *)out + WS_MAX_HEADER, cap - WS_MAX_HEADER, type, topic,
                                      tl, id, cause);
    return frame_it(out, at);
}
