/* jwt.h - subscriber token verification (JWS compact serialization,
 * RFC 7515; JWT claims, RFC 7519) and what a verified token grants.
 *
 * Pure over its inputs: the clock is a parameter, keys are a borrowed
 * auth_keyset, no sockets, no logging. A refusal carries a reason
 * (enum auth_reason) whose label names a metric and whose text is what the
 * client is told. Never copies the token anywhere. */
#ifndef WSP_AUTH_JWT_H
#define WSP_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/keys.h"

#define JWT_MAX_BYTES 8192        /* the whole token; longer ones are refused unread */
#define JWT_MAX_HEADER_BYTES 1024 /* the decoded JOSE header */
#define JWT_MAX_SIG_BYTES 512     /* RSA-4096 */
#define JWT_MAX_TOPICS 64         /* entries of the topics claim */
#define JWT_MAX_TOPIC_BYTES 129   /* a topic name (128) or a 128-byte prefix and '*' */
#define JWT_MAX_SUB_BYTES 127     /* so that "@" + sub is a valid topic name */

enum auth_reason {
    AUTH_OK = 0,
    AUTH_MISSING,          /* 401: no token where one is required */
    AUTH_TOO_LARGE,        /* 401: over JWT_MAX_BYTES */
    AUTH_MALFORMED,        /* 401: not three base64url segments */
    AUTH_BAD_HEADER,       /* 401: header not JSON, typ/crit/kid of the wrong kind */
    AUTH_ALG_NONE,         /* 401: alg "none" */
    AUTH_ALG_UNSUPPORTED,  /* 401 */
    AUTH_UNKNOWN_KID,      /* 401: no key with that kid (or none for tokens without kid) */
    AUTH_ALG_KEY_MISMATCH, /* 401: the key's family is not the alg's (confusion) */
    AUTH_BAD_SIGNATURE,    /* 401 */
    AUTH_BAD_CLAIMS,       /* 401: claims not JSON, or a claim of the wrong type/size */
    AUTH_EXPIRED,          /* 401: exp (+ leeway) passed */
    AUTH_NOT_YET_VALID,    /* 401: nbf (- leeway) ahead */
    AUTH_ISSUER,           /* 401: iss is not --auth-issuer */
    AUTH_AUDIENCE,         /* 401: aud does not name --auth-audience */
    AUTH_TOPIC_DENIED,     /* 403: a requested topic is not granted */
    AUTH_REASON_COUNT
};

/* "expired", "bad_signature", ...: a metric label. */
const char *auth_reason_label(enum auth_reason r);
/* "token expired", ...: for the response body / close reason. */
const char *auth_reason_text(enum auth_reason r);

struct jwt_policy {
    const char *issuer;   /* NULL/"": iss not checked */
    const char *audience; /* NULL/"": a token carrying aud is refused (RFC 7519 §4.1.3) */
    int64_t leeway_s;     /* clock skew allowed on exp and nbf */
};

struct json_t;

/* What a verified token says. Owns a reference to the parsed claims;
 * release with jwt_claims_release. */
struct jwt_claims {
    struct json_t *root;
    const char *sub; /* NULL: no sub; else NUL-terminated, inside root */
    size_t sub_len;
    bool has_exp;
    int64_t exp;           /* unix seconds */
    struct json_t *topics; /* array of strings inside root, or NULL */
    enum jwt_alg alg;
};

/* Verifies tok[0..n) against ks at time now_s (unix seconds). Returns 0
 * with *out filled, or WSP_EPROTO with *why set and *out empty. */
int jwt_verify(const struct auth_keyset *ks, const struct jwt_policy *pol, const char *tok,
               size_t n, int64_t now_s, struct jwt_claims *out, enum auth_reason *why);

/* The claims checks alone, on a decoded claims object (used by jwt_verify
 * after the signature, and by the fuzz target). Same contract. */
int jwt_claims_parse(const uint8_t *json, size_t n, const struct jwt_policy *pol, int64_t now_s,
                     struct jwt_claims *out, enum auth_reason *why);

void jwt_claims_release(struct jwt_claims *c); /* safe on an empty or released one */

/* Pattern match: "news.*" is a prefix pattern (any topic starting with
 * "news."), anything else matches itself. Topics starting with '@' never
 * match a pattern (they are per-user: see jwt_claims_grant). */
bool auth_pattern_match(const char *pat, size_t pl, const char *topic, size_t n);

/* Does the token grant topic[0..n)? "@<sub>" only to the token whose sub
 * is <sub>; other topics through the topics claim; the empty topic (no
 * topic: broadcasts only) to every valid token. */
bool jwt_claims_grant(const struct jwt_claims *c, const char *topic, size_t n);

#endif
