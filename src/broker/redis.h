/* redis.h - Redis pub/sub between nodes: URL parser, message envelope,
 * reply classification, and an asynchronous client driven by our own event
 * loop (hiredis' async API with a small adapter onto ev_add/ev_mod/ev_del).
 *
 * The client knows channels and bytes, not topics or the server: the
 * application (server/redis_link.c) decides what to subscribe to and what a
 * message means. It keeps two connections to one Redis server, one
 * subscribed (a subscribed connection cannot PUBLISH) and one for PUBLISH
 * and PING, and treats them as a pair: when either fails both are dropped
 * and the pair is re-established with exponential backoff and jitter.
 *
 * Single-threaded: every call from the loop's thread. Callbacks fire from
 * the loop (never from inside a call that returns an error). */
#ifndef WSP_BROKER_REDIS_H
#define WSP_BROKER_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct redisReply;

/* ---- redis://[:password@]host[:port][/db] ---- */

#define REDIS_DEFAULT_PORT 6379

struct redis_url {
    char host[256];     /* name or address; [v6] brackets removed */
    int port;           /* 1..65535 */
    char password[256]; /* empty: no AUTH */
    char user[128];     /* empty: AUTH <password> (Redis 6 ACL: AUTH user pass) */
    int db;             /* 0..; SELECT only when > 0 */
};

/* Parses s. Returns 0, or WSP_EINVAL with *why set to a static reason. The
 * password may be percent-encoded (%40 for '@'). */
int redis_url_parse(const char *s, struct redis_url *u, const char **why);

/* "host:port/db" for logs: never the password. */
void redis_url_format(const struct redis_url *u, char *out, size_t cap);

/* ---- the envelope: how text/binary survive a trip through Redis ----
 *
 * A text message travels as its plain bytes (always valid UTF-8), so any
 * Redis client can publish text with a plain PUBLISH and read what wspush
 * publishes. A binary message travels as 0xFF 'b' followed by its bytes:
 * 0xFF never occurs in UTF-8, so the prefix cannot be mistaken for text.
 * On receipt: 0xFF 'b' prefix -> binary without the prefix; otherwise
 * valid UTF-8 -> text; otherwise binary as is. */
#define REDIS_ENV_MAGIC 0xFFu
#define REDIS_ENV_BINARY 'b'
#define REDIS_ENV_HEADER 2u

/* Writes the header for a message into hdr (>= REDIS_ENV_HEADER bytes) and
 * returns its length: 0 for text, REDIS_ENV_HEADER for binary. */
size_t redis_envelope_header(bool binary, uint8_t *hdr);

/* Decodes a received payload: *binary, and [*data, *n) the message (points
 * into p). Pure, never fails. */
void redis_envelope_decode(const uint8_t *p, size_t len, bool *binary, const uint8_t **data,
                           size_t *n);

/* ---- a message with an id (ids from Redis, docs/history.md) ----
 *
 * 0xFF 'i' <epoch>-<seq> '\n' followed by the envelope above. The publish
 * script (server/redis_history.c) writes it; an application's own PUBLISH
 * has no id (it does not start with 0xFF 'i'). */
#define REDIS_ENV_ID 'i'
#define REDIS_ENV_ID_MAX (2 + 37 + 1) /* magic, 'i', <epoch>-<seq>, '\n' */

struct msgid;
/* Writes the id header into out (>= REDIS_ENV_ID_MAX bytes), returns its
 * length. id->seq >= 1. */
size_t redis_envelope_id_header(const struct msgid *id, uint8_t *out);
/* Decodes a received payload that may carry an id: 1 with *id set, 0
 * without (as redis_envelope_decode), WSP_EPROTO when it starts with
 * 0xFF 'i' but the id is malformed (seq 0, no '\n', bad digits). Pure; the
 * outputs point into p. */
int redis_envelope_decode_id(const uint8_t *p, size_t len, struct msgid *id, bool *binary,
                             const uint8_t **data, size_t *n);

/* [s, s+n) with the glob characters of a pattern (PSUBSCRIBE, SCAN MATCH)
 * escaped, into out (>= 2n bytes): matches exactly s. Returns its length. */
size_t redis_glob_escape(const char *s, size_t n, char *out);

/* ---- replies on the subscribed connection ---- */

enum redis_event_type {
    REDIS_EV_MESSAGE = 1, /* channel, data */
    REDIS_EV_PMESSAGE,    /* pattern, channel, data */
    REDIS_EV_SUBSCRIBE,   /* channel (or pattern for PSUBSCRIBE), count */
    REDIS_EV_PSUBSCRIBE,
    REDIS_EV_UNSUBSCRIBE,
    REDIS_EV_PUNSUBSCRIBE,
    REDIS_EV_PONG,       /* ["pong", ""] or +PONG */
    REDIS_EV_STATUS,     /* +OK and friends: data */
    REDIS_EV_ERROR,      /* -ERR ...: data */
    REDIS_EV_UNEXPECTED, /* anything else (wrong type or shape) */
};

struct redis_event {
    enum redis_event_type type;
    const char *pattern;
    size_t pattern_len;
    const char *channel;
    size_t channel_len;
    const uint8_t *data;
    size_t len;
    long long count;
};

/* Classifies one reply (hiredis' redisReply). Pointers in ev point into r.
 * Returns ev->type; NULL -> REDIS_EV_UNEXPECTED. */
enum redis_event_type redis_reply_classify(const struct redisReply *r, struct redis_event *ev);

/* ---- the client ---- */

struct redis_client;

struct redis_client_ops {
    /* The pair is ready (both connected, authenticated, answering) or was
     * lost. After up=false every subscription is gone: resubscribe on the
     * next up=true. */
    void (*on_state)(void *ctx, bool up);
    /* Every reply on the subscribed connection other than the handshake:
     * messages and (un)subscribe confirmations. ev points into a reply
     * freed when the callback returns. */
    void (*on_event)(void *ctx, const struct redis_event *ev);
    /* Optional: the reply to a redis_client_publish_counted: receivers is
     * the number of clients that got the message, -1 when it was refused
     * or lost with the connection. Fires once per such publish, in order,
     * never after redis_client_free. */
    void (*on_receivers)(void *ctx, uint64_t token, long long receivers);
    /* Optional: a publish (PUBLISH or redis_client_publish_argv) answered
     * with an error reply; err points into the reply (valid during the
     * call). Counted and logged either way. */
    void (*on_publish_error)(void *ctx, const char *err, size_t len);
};

struct redis_client_stats {
    uint64_t reconnects;      /* connection pairs established after the first */
    uint64_t connects_failed; /* attempts that did not become ready */
    uint64_t messages_in;     /* message/pmessage replies received */
    uint64_t messages_out;    /* PUBLISH acknowledged by Redis */
    uint64_t publish_errors;  /* PUBLISH answered with an error or lost in a disconnect */
    uint64_t rtt_ns;          /* last PING round trip on the publish connection */
    uint64_t receivers_last;  /* last PUBLISH reply: clients that received it */
};

/* Timing, all in ms; zeros take the defaults shown. */
struct redis_client_cfg {
    uint64_t backoff_min_ms;     /* 100 */
    uint64_t backoff_max_ms;     /* 5000 */
    uint64_t connect_timeout_ms; /* 3000: connect + handshake */
    uint64_t ping_interval_ms;   /* 1000 */
    uint64_t ping_timeout_ms;    /* 5000: no PONG -> the pair is dropped */
};

/* Starts connecting at once (the first attempt happens in the loop). Copies
 * url and cfg. NULL on allocation failure or when no timer is left. */
struct redis_client *redis_client_new(struct ev_loop *loop, const struct redis_url *url,
                                      const struct redis_client_cfg *cfg,
                                      const struct redis_client_ops *ops, void *ctx);
/* Disconnects at once (pending publishes count as errors); no callbacks
 * after it returns. NULL is a no-op. Never call from a client callback. */
void redis_client_free(struct redis_client *c);

/* In a forked child that will not use the client: closes the child's
 * copies of the sockets (nothing else is touched). */
void redis_client_after_fork(struct redis_client *c);

bool redis_client_ready(const struct redis_client *c);
const struct redis_client_stats *redis_client_stats(const struct redis_client *c);

/* PUBLISH channel (hdr + payload): hdr/hl is the envelope header (may be 0
 * bytes). Returns 0 when queued, WSP_EAGAIN when the pair is not ready,
 * WSP_ENOMEM. Bytes are copied. */
int redis_client_publish(struct redis_client *c, const char *channel, size_t channel_len,
                         const uint8_t *hdr, size_t hl, const uint8_t *payload, size_t n);

/* PUBLISH channel payload, and tell ops->on_receivers(token, receivers)
 * when Redis answers. Returns as redis_client_publish (on error the
 * callback never fires). */
int redis_client_publish_counted(struct redis_client *c, const char *channel, size_t channel_len,
                                 const uint8_t *payload, size_t n, uint64_t token);

/* A command that publishes (EVALSHA of a publish script) on the publish
 * connection, accounted as a PUBLISH: an integer reply counts in
 * messages_out, anything else in publish_errors (logged, rate-limited).
 * Arguments are copied. 0 when queued, WSP_EAGAIN when not ready. */
int redis_client_publish_argv(struct redis_client *c, int argc, const char **argv,
                              const size_t *lens);
/* Any other command on the publish connection, in order with the
 * publishes; an error reply is logged (rate-limited), nothing else. */
int redis_client_command_argv(struct redis_client *c, int argc, const char **argv,
                              const size_t *lens);
/* The URL the client connects to (for a blocking side connection). */
const struct redis_url *redis_client_url(const struct redis_client *c);

/* A blocking connection to u (connect, AUTH, SELECT) with timeout_ms for
 * connecting and for each command: for short jobs at a known moment (the
 * history load). NULL with err filled on failure. Free with redisFree. */
struct redisContext;
struct redisContext *redis_sync_connect(const struct redis_url *u, uint64_t timeout_ms, char *err,
                                        size_t cap);

/* (P)SUBSCRIBE / (P)UNSUBSCRIBE one channel or pattern. 0 when queued (the
 * confirmation arrives through on_event), WSP_EAGAIN when not ready. */
int redis_client_subscribe(struct redis_client *c, bool pattern, const char *name, size_t len);
int redis_client_unsubscribe(struct redis_client *c, bool pattern, const char *name, size_t len);

/* Test hook: handle the backoff/ping/timeout deadlines as if at now_ms. The
 * client's own periodic timer calls it. */
void redis_client_tick(struct redis_client *c, uint64_t now_ms);

#endif
