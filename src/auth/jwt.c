/* jwt.c - verifies JWS compact tokens (RFC 7515) and checks JWT claims
 * (RFC 7519) with OpenSSL 3 and jansson; decides what a token grants.
 *
 * Order matters: size, shape, header, key choice, signature, and only then
 * the claims, so nothing an attacker wrote is believed before the
 * signature holds. The key is chosen by kid (JWKS) or, without one, among
 * the file keys, and must belong to the alg's family: an HMAC token is
 * never checked against a public key. What it does not do: load keys
 * (keys.c), read requests or log (server/auth_conn.c). */
#include "auth/jwt.h"

#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/b64url.h"
#include "core/err.h"

static const struct {
    const char *label, *text;
} reasons[AUTH_REASON_COUNT] = {
    [AUTH_OK] = {"ok", "ok"},
    [AUTH_MISSING] = {"missing", "token required"},
    [AUTH_TOO_LARGE] = {"too_large", "token too large"},
    [AUTH_MALFORMED] = {"malformed", "token malformed"},
    [AUTH_BAD_HEADER] = {"bad_header", "token header invalid"},
    [AUTH_ALG_NONE] = {"alg_none", "unsigned tokens (alg none) are refused"},
    [AUTH_ALG_UNSUPPORTED] = {"alg_unsupported", "token algorithm not supported"},
    [AUTH_UNKNOWN_KID] = {"unknown_kid", "no key for this token (kid)"},
    [AUTH_ALG_KEY_MISMATCH] = {"alg_key_mismatch", "token algorithm does not fit the key"},
    [AUTH_BAD_SIGNATURE] = {"bad_signature", "token signature invalid"},
    [AUTH_BAD_CLAIMS] = {"bad_claims", "token claims invalid"},
    [AUTH_EXPIRED] = {"expired", "token expired"},
    [AUTH_NOT_YET_VALID] = {"not_yet_valid", "token not yet valid"},
    [AUTH_ISSUER] = {"issuer", "token issuer not accepted"},
    [AUTH_AUDIENCE] = {"audience", "token audience not accepted"},
    [AUTH_TOPIC_DENIED] = {"topic_denied", "topic not granted by the token"},
};

const char *auth_reason_label(enum auth_reason r)
{
    return (unsigned)r < AUTH_REASON_COUNT ? reasons[r].label : "unknown";
}

const char *auth_reason_text(enum auth_reason r)
{
    return (unsigned)r < AUTH_REASON_COUNT ? reasons[r].text : "token refused";
}

static int refuse(enum auth_reason *why, enum auth_reason r)
{
    *why = r;
    return WSP_EPROTO;
}

/* ---- signatures ---- */

static bool verify_hmac(const struct auth_key *k, enum jwt_alg alg, const uint8_t *msg, size_t n,
                        const uint8_t *sig, size_t sl)
{
    const EVP_MD *md = alg == JWT_ALG_HS256   ? EVP_sha256()
                       : alg == JWT_ALG_HS384 ? EVP_sha384()
                                              : EVP_sha512();
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned ml = 0;
    if (!HMAC(md, k->secret, (int)k->secret_len, msg, n, mac, &ml))
        return false;
    /* the length is public; the bytes are compared in constant time */
    return sl == ml && CRYPTO_memcmp(mac, sig, ml) == 0;
}

static bool verify_evp(EVP_PKEY *pk, const EVP_MD *md, const uint8_t *msg, size_t n,
                       const uint8_t *sig, size_t sl)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, pk) == 1 &&
              EVP_DigestVerify(ctx, sig, sl, msg, n) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* RFC 7518 §3.4: ES256 signs R || S, 32 bytes each; EVP wants DER. */
static bool verify_es256(EVP_PKEY *pk, const uint8_t *msg, size_t n, const uint8_t *sig, size_t sl)
{
    if (sl != 64)
        return false;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return false;
    }
    uint8_t *der = NULL;
    int dl = i2d_ECDSA_SIG(es, &der);
    bool ok = dl > 0 && verify_evp(pk, EVP_sha256(), msg, n, der, (size_t)dl);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return ok;
}

static bool verify_sig(const struct auth_key *k, enum jwt_alg alg, const uint8_t *msg, size_t n,
                       const uint8_t *sig, size_t sl)
{
    bool ok = false;
    switch (alg) {
    case JWT_ALG_HS256:
    case JWT_ALG_HS384:
    case JWT_ALG_HS512:
        ok = verify_hmac(k, alg, msg, n, sig, sl);
        break;
    case JWT_ALG_RS256:
        ok = verify_evp(k->pkey, EVP_sha256(), msg, n, sig, sl);
        break;
    case JWT_ALG_ES256:
        ok = verify_es256(k->pkey, msg, n, sig, sl);
        break;
    case JWT_ALG_EDDSA: /* pure Ed25519: no digest (RFC 8037 §3.1) */
        ok = sl == 64 && verify_evp(k->pkey, NULL, msg, n, sig, sl);
        break;
    }
    ERR_clear_error();
    return ok;
}

/* ---- header ---- */

struct header {
    enum jwt_alg alg;
    const char *kid; /* NULL: none */
};

static int parse_header(const uint8_t *p, size_t n, json_t **root, struct header *h,
                        enum auth_reason *why)
{
    json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
    *root = j;
    if (!json_is_object(j))
        return refuse(why, AUTH_BAD_HEADER);
    json_t *alg = json_object_get(j, "alg");
    json_t *typ = json_object_get(j, "typ");
    json_t *kid = json_object_get(j, "kid");
    if (!json_is_string(alg))
        return refuse(why, AUTH_BAD_HEADER);
    /* RFC 7515 §4.1.11: an extension we must understand, and we know none */
    if (json_object_get(j, "crit"))
        return refuse(why, AUTH_BAD_HEADER);
    if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        return refuse(why, AUTH_BAD_HEADER);
    if (kid && (!json_is_string(kid) || json_string_length(kid) > AUTH_KID_MAX))
        return refuse(why, AUTH_BAD_HEADER);
    const char *a = json_string_value(alg);
    if (!strcasecmp(a, "none"))
        return refuse(why, AUTH_ALG_NONE);
    if (!(h->alg = jwt_alg_parse(a)))
        return refuse(why, AUTH_ALG_UNSUPPORTED);
    h->kid = kid ? json_string_value(kid) : NULL;
    return 0;
}

/* Tries the keys that may verify this token: those with the token's kid,
 * or the kid-less file keys for a token without one; each only if bound to
 * the alg's family (and to the alg itself when the JWK says so). */
static int check_signature(const struct auth_keyset *ks, const struct header *h, const uint8_t *msg,
                           size_t n, const uint8_t *sig, size_t sl, enum auth_reason *why)
{
    bool candidate = false;
    enum auth_family fam = jwt_alg_family(h->alg);
    for (size_t i = 0; ks && i < ks->n; i++) {
        const struct auth_key *k = &ks->keys[i];
        if (h->kid ? strcmp(k->kid, h->kid) != 0 : k->kid[0] != '\0')
            continue;
        candidate = true;
        if (k->fam != fam || (k->alg && k->alg != h->alg))
            continue;
        if (verify_sig(k, h->alg, msg, n, sig, sl))
            return 0;
        return refuse(why, AUTH_BAD_SIGNATURE);
    }
    return refuse(why, candidate ? AUTH_ALG_KEY_MISMATCH : AUTH_UNKNOWN_KID);
}

/* ---- claims ---- */

#define NUMERIC_DATE_MAX (INT64_C(1) << 52) /* exact in a double; far beyond any real date */

/* RFC 7519 §2 NumericDate: a JSON number, maybe with a fraction. */
static bool numeric_date(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < -NUMERIC_DATE_MAX || i > NUMERIC_DATE_MAX)
            return false;
        *out = (int64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= (double)-NUMERIC_DATE_MAX && d <= (double)NUMERIC_DATE_MAX))
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

static bool aud_names(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return !strcmp(json_string_value(aud), want);
    size_t i;
    json_t *v;
    json_array_foreach(aud, i,
                       v) if (json_is_string(v) && !strcmp(json_string_value(v), want)) return true;
    return false;
}

static bool aud_well_formed(json_t *aud)
{
    if (json_is_string(aud))
        return true;
    if (!json_is_array(aud) || json_array_size(aud) > JWT_MAX_TOPICS)
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) if (!json_is_string(v)) return false;
    return true;
}

static bool topics_well_formed(json_t *t)
{
    if (!json_is_array(t) || json_array_size(t) > JWT_MAX_TOPICS)
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(t, i, v) if (!json_is_string(v) || json_string_length(v) == 0 ||
                                    json_string_length(v) > JWT_MAX_TOPIC_BYTES) return false;
    return true;
}

static int check_claims(json_t *j, const struct jwt_policy *pol, int64_t now,
                        struct jwt_claims *out, enum auth_reason *why)
{
    if (!json_is_object(j))
        return refuse(why, AUTH_BAD_CLAIMS);
    json_t *sub = json_object_get(j, "sub"), *exp = json_object_get(j, "exp");
    json_t *nbf = json_object_get(j, "nbf"), *iss = json_object_get(j, "iss");
    json_t *aud = json_object_get(j, "aud"), *topics = json_object_get(j, "topics");
    int64_t exp_s = 0, nbf_s = 0;
    if (sub && (!json_is_string(sub) || json_string_length(sub) == 0 ||
                json_string_length(sub) > JWT_MAX_SUB_BYTES))
        return refuse(why, AUTH_BAD_CLAIMS);
    if ((exp && !numeric_date(exp, &exp_s)) || (nbf && !numeric_date(nbf, &nbf_s)) ||
        (iss && !json_is_string(iss)) || (aud && !aud_well_formed(aud)) ||
        (topics && !topics_well_formed(topics)))
        return refuse(why, AUTH_BAD_CLAIMS);
    int64_t leeway = pol->leeway_s > 0 ? pol->leeway_s : 0;
    /* §4.1.4: valid only before exp */
    if (exp && now >= exp_s + leeway)
        return refuse(why, AUTH_EXPIRED);
    if (nbf && now + leeway < nbf_s)
        return refuse(why, AUTH_NOT_YET_VALID);
    if (pol->issuer && pol->issuer[0] && (!iss || strcmp(json_string_value(iss), pol->issuer)))
        return refuse(why, AUTH_ISSUER);
    /* §4.1.3: a token meant for someone must name us, or be refused */
    if (aud && !(pol->audience && pol->audience[0] && aud_names(aud, pol->audience)))
        return refuse(why, AUTH_AUDIENCE);
    if (!aud && pol->audience && pol->audience[0])
        return refuse(why, AUTH_AUDIENCE);
    out->sub = sub ? json_string_value(sub) : NULL;
    out->sub_len = sub ? json_string_length(sub) : 0;
    out->has_exp = exp != NULL;
    out->exp = exp ? exp_s + leeway : 0;
    out->topics = topics;
    return 0;
}

int jwt_claims_parse(const uint8_t *json, size_t n, const struct jwt_policy *pol, int64_t now_s,
                     struct jwt_claims *out, enum auth_reason *why)
{
    memset(out, 0, sizeof *out);
    json_t *j = json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        return refuse(why, AUTH_BAD_CLAIMS);
    int rc = check_claims(j, pol, now_s, out, why);
    if (rc < 0) {
        json_decref(j);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->root = j;
    return 0;
}

void jwt_claims_release(struct jwt_claims *c)
{
    if (c->root)
        json_decref(c->root);
    memset(c, 0, sizeof *c);
}

int jwt_verify(const struct auth_keyset *ks, const struct jwt_policy *pol, const char *tok,
               size_t n, int64_t now_s, struct jwt_claims *out, enum auth_reason *why)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return refuse(why, AUTH_MISSING);
    if (n > JWT_MAX_BYTES)
        return refuse(why, AUTH_TOO_LARGE);
    const char *d1 = memchr(tok, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok)))
        return refuse(why, AUTH_MALFORMED); /* JWE has five parts: not ours */
    size_t hl = (size_t)(d1 - tok), pl = (size_t)(d2 - d1 - 1), sl = n - (size_t)(d2 + 1 - tok);
    if (hl == 0 || pl == 0)
        return refuse(why, AUTH_MALFORMED);

    uint8_t hdr[JWT_MAX_HEADER_BYTES], sig[JWT_MAX_SIG_BYTES], body[JWT_MAX_BYTES];
    ssize_t hn = b64url_decode(tok, hl, hdr, sizeof hdr);
    if (hn <= 0)
        return refuse(why, hn == WSP_ETOOBIG ? AUTH_TOO_LARGE : AUTH_MALFORMED);
    json_t *hroot;
    struct header h;
    int rc = parse_header(hdr, (size_t)hn, &hroot, &h, why);
    if (rc == 0) {
        ssize_t sn = b64url_decode(d2 + 1, sl, sig, sizeof sig);
        if (sn == WSP_EPROTO)
            rc = refuse(why, AUTH_MALFORMED);
        else if (sn <= 0)
            rc = refuse(why, AUTH_BAD_SIGNATURE);
        else
            rc = check_signature(ks, &h, (const uint8_t *)tok, (size_t)(d2 - tok), sig, (size_t)sn,
                                 why);
        out->alg = h.alg;
    }
    json_decref(hroot); /* h.kid pointed into it: not used past here */
    if (rc < 0)
        return rc;
    enum jwt_alg alg = out->alg;
    ssize_t bn = b64url_decode(d1 + 1, pl, body, sizeof body);
    if (bn <= 0)
        return refuse(why, AUTH_MALFORMED);
    rc = jwt_claims_parse(body, (size_t)bn, pol, now_s, out, why);
    if (rc == 0)
        out->alg = alg;
    return rc;
}

/* ---- grants ---- */

bool auth_pattern_match(const char *pat, size_t pl, const char *topic, size_t n)
{
    if (n && topic[0] == '@')
        return false;
    if (pl && pat[pl - 1] == '*')
        return n >= pl - 1 && !memcmp(pat, topic, pl - 1) && n > 0;
    return pl == n && !memcmp(pat, topic, n);
}

bool jwt_claims_grant(const struct jwt_claims *c, const char *topic, size_t n)
{
    if (n == 0)
        return true;
    if (topic[0] == '@')
        return c->sub && c->sub_len == n - 1 && !memcmp(c->sub, topic + 1, n - 1);
    size_t i;
    json_t *v;
    json_array_foreach(c->topics, i,
                       v) if (auth_pattern_match(json_string_value(v), json_string_length(v), topic,
                                                 n)) return true;
    return false;
}
