/* envelope.h - the JSON envelope form of a message (`wspush.json`).
 *
 * Data:    {"topic":"news","id":"<epoch>-<seq>","data":"text"}
 *          {"topic":"news","id":"...","skipped":3,"data":"text"} (conflated)
 *          {"topic":"news","id":"...","data":"<base64>","encoding":"base64"}
 * Control: {"type":"reset","topic":"news","id":"...","cause":"gap"}
 * A broadcast has "topic":null and "id":null. Data messages carry no "type".
 * Pure functions over caller buffers; no allocation. Text payloads are
 * valid UTF-8 (checked at publish), so they go in as JSON strings. */
#ifndef WSP_PUBSUB_ENVELOPE_H
#define WSP_PUBSUB_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most bytes envelope_frame writes for a topic of tl bytes and a
 * payload of n bytes (frame header included: 14 bytes at most). A JSON
 * string needs at most 6 bytes per input byte (\u00XX); base64 needs 4 per
 * 3, so the string bound covers both; 128 is the fixed text
 * ({"topic":,"id":,"skipped":N,"data":,"encoding":"base64"} and quotes). */
#define ENVELOPE_BOUND(tl, n) (14u + 128u + 6u * (size_t)(tl) + 2u + 64u + 6u * (size_t)(n) + 6u)
size_t envelope_bound(size_t tl, size_t n);

/* Room for a control message (below) about any topic a name may be
 * (TOPIC_NAME_MAX, 128 bytes): a constant, for buffers on the stack. */
#define ENVELOPE_CONTROL_MAX ENVELOPE_BOUND(128, 64)

/* Writes one unmasked text frame holding the envelope into out (cap >=
 * envelope_bound(tl, n)); topic NULL: a broadcast, id NULL: no id. Returns
 * the frame's length. */
size_t envelope_frame(uint8_t *out, size_t cap, const char *topic, size_t tl, const char *id,
                      bool binary, const uint8_t *p, size_t n);

/* The same with "skipped":N after the id (N > 0): N older messages of the
 * topic were conflated away before this one (worker.c); skipped 0 writes
 * exactly what envelope_frame writes. */
size_t envelope_frame_skipped(uint8_t *out, size_t cap, const char *topic, size_t tl,
                              const char *id, uint64_t skipped, bool binary, const uint8_t *p,
                              size_t n);

/* A control message {"type":..,"topic":..,"id":..,"cause":..} as one text
 * frame (id and cause may be NULL). out >= envelope_bound(tl, 64). */
size_t envelope_control_frame(uint8_t *out, size_t cap, const char *type, const char *topic,
                              size_t tl, const char *id, const char *cause);

/* The same control message as bare JSON (no frame): the data of an SSE
 * "reset" event. out >= envelope_bound(tl, 64) - 14. Returns its length. */
size_t envelope_control_json(char *out, size_t cap, const char *type, const char *topic, size_t tl,
                             const char *id, const char *cause);

#endif
