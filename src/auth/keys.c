/* keys.c - loads token verification keys: HMAC secrets, PEM public keys,
 * JWK Sets (RFC 7517/7518 §6), with OpenSSL 3 and jansson.
 *
 * Runs at start-up and on SIGHUP, never per connection. Every key is
 * checked when it is loaded (type, curve, size), so verification can trust
 * a key's family. What it does not do: verify tokens (jwt.c) or decide when
 * to reload (server/auth_conn.c). */
#include "auth/keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "auth/b64url.h"
#include "core/err.h"

static const struct {
    const char *name;
    enum jwt_alg alg;
    enum auth_family fam;
} algs[] = {
    {"HS256", JWT_ALG_HS256, AUTH_FAM_HMAC}, {"HS384", JWT_ALG_HS384, AUTH_FAM_HMAC},
    {"HS512", JWT_ALG_HS512, AUTH_FAM_HMAC}, {"RS256", JWT_ALG_RS256, AUTH_FAM_RSA},
    {"ES256", JWT_ALG_ES256, AUTH_FAM_EC},   {"EdDSA", JWT_ALG_EDDSA, AUTH_FAM_OKP},
};

enum jwt_alg jwt_alg_parse(const char *s)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (!strcmp(s, algs[i].name)) /* RFC 7515 §4.1.1: case-sensitive */
            return algs[i].alg;
    return 0;
}

const char *jwt_alg_name(enum jwt_alg a)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].alg == a)
            return algs[i].name;
    return "?";
}

enum auth_family jwt_alg_family(enum jwt_alg a)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].alg == a)
            return algs[i].fam;
    return 0;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return WSP_EINVAL;
}

struct auth_keyset *auth_keyset_new(void)
{
    return calloc(1, sizeof(struct auth_keyset));
}

void auth_keyset_free(struct auth_keyset *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        EVP_PKEY_free(ks->keys[i].pkey);
        if (ks->keys[i].secret)
            OPENSSL_clear_free(ks->keys[i].secret, ks->keys[i].secret_len);
    }
    free(ks->keys);
    free(ks);
}

/* Appends a key (takes ownership of pkey/secret on success only). */
static int push(struct auth_keyset *ks, const char *kid, enum auth_family fam, enum jwt_alg alg,
                EVP_PKEY *pkey, uint8_t *secret, size_t secret_len, char *err, size_t cap)
{
    if (!kid)
        kid = "";
    if (strlen(kid) > AUTH_KID_MAX)
        return fail(err, cap, "kid longer than %d bytes", AUTH_KID_MAX);
    for (size_t i = 0; i < ks->n; i++)
        if (kid[0] && !strcmp(ks->keys[i].kid, kid))
            return fail(err, cap, "kid '%s' appears twice", kid);
    if (ks->n == ks->cap) {
        size_t nc = ks->cap ? ks->cap * 2 : 4;
        struct auth_key *k = realloc(ks->keys, nc * sizeof *k);
        if (!k) {
            fail(err, cap, "out of memory");
            return WSP_ENOMEM;
        }
        ks->keys = k;
        ks->cap = nc;
    }
    struct auth_key *k = &ks->keys[ks->n++];
    memset(k, 0, sizeof *k);
    memcpy(k->kid, kid, strlen(kid) + 1);
    k->fam = fam;
    k->alg = alg;
    k->pkey = pkey;
    k->secret = secret;
    k->secret_len = secret_len;
    return 0;
}

int auth_keyset_add_secret(struct auth_keyset *ks, const char *kid, const uint8_t *p, size_t n,
                           char *err, size_t errcap)
{
    if (n < AUTH_HMAC_MIN_BYTES)
        return fail(err, errcap, "HMAC key has %zu bytes, at least %d are needed", n,
                    AUTH_HMAC_MIN_BYTES);
    uint8_t *s = OPENSSL_malloc(n);
    if (!s) {
        fail(err, errcap, "out of memory");
        return WSP_ENOMEM;
    }
    memcpy(s, p, n);
    int rc = push(ks, kid, AUTH_FAM_HMAC, 0, NULL, s, n, err, errcap);
    if (rc < 0)
        OPENSSL_clear_free(s, n);
    return rc;
}

/* The family of a loaded public key, or 0 with err set (wrong type, curve
 * or size). */
static enum auth_family pkey_family(EVP_PKEY *pk, char *err, size_t cap)
{
    if (EVP_PKEY_is_a(pk, "RSA")) {
        if (EVP_PKEY_get_bits(pk) < AUTH_RSA_MIN_BITS) {
            fail(err, cap, "RSA key has %d bits, at least %d are needed", EVP_PKEY_get_bits(pk),
                 AUTH_RSA_MIN_BITS);
            return 0;
        }
        return AUTH_FAM_RSA;
    }
    if (EVP_PKEY_is_a(pk, "EC")) {
        char g[64];
        size_t gl = 0;
        if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof g, &gl) != 1 ||
            strcmp(g, "prime256v1") != 0) {
            fail(err, cap, "EC key is not on P-256 (ES256 only)");
            return 0;
        }
        return AUTH_FAM_EC;
    }
    if (EVP_PKEY_is_a(pk, "ED25519"))
        return AUTH_FAM_OKP;
    fail(err, cap, "unsupported public key type (RSA, EC P-256 or Ed25519)");
    return 0;
}

int auth_keyset_add_pem(struct auth_keyset *ks, const char *kid, const char *pem, size_t n,
                        char *err, size_t errcap)
{
    if (n > AUTH_KEY_FILE_MAX)
        return fail(err, errcap, "PEM too large");
    BIO *b = BIO_new_mem_buf(pem, (int)n);
    if (!b)
        return fail(err, errcap, "out of memory");
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    if (!pk)
        return fail(err, errcap, "no PEM public key (-----BEGIN PUBLIC KEY-----) found");
    enum auth_family fam = pkey_family(pk, err, errcap);
    int rc = fam ? push(ks, kid, fam, 0, pk, NULL, 0, err, errcap) : WSP_EINVAL;
    if (rc < 0)
        EVP_PKEY_free(pk);
    return rc;
}

/* ---- JWKS ---- */

/* A base64url member of a JWK, decoded into out (at most cap bytes). */
static ssize_t jwk_bytes(json_t *jwk, const char *name, uint8_t *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (!s)
        return WSP_EINVAL;
    ssize_t n = b64url_decode(s, strlen(s), out, cap);
    return n <= 0 ? WSP_EINVAL : n;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pk = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        if (EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
            pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    ERR_clear_error();
    return pk;
}

static EVP_PKEY *jwk_rsa(json_t *jwk)
{
    uint8_t n[1024], e[16];
    ssize_t nl = jwk_bytes(jwk, "n", n, sizeof n), el = jwk_bytes(jwk, "e", e, sizeof e);
    if (nl < 0 || el < 0)
        return NULL;
    EVP_PKEY *pk = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
        pk = pkey_from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pk;
}

static EVP_PKEY *jwk_ec(json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    uint8_t pub[65];
    if (!crv || strcmp(crv, "P-256") != 0)
        return NULL;
    /* RFC 7518 §6.2.1.2: x and y are exactly the curve's 32 bytes */
    pub[0] = 0x04; /* uncompressed point: 04 || x || y */
    if (jwk_bytes(jwk, "x", pub + 1, 32) != 32 || jwk_bytes(jwk, "y", pub + 33, 32) != 32)
        return NULL;
    EVP_PKEY *pk = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) == 1)
        pk = pkey_from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    return pk;
}

static EVP_PKEY *jwk_okp(json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    uint8_t x[32];
    if (!crv || strcmp(crv, "Ed25519") != 0 || jwk_bytes(jwk, "x", x, sizeof x) != 32)
        return NULL;
    EVP_PKEY *pk = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, x, sizeof x) == 1)
        pk = pkey_from_params("ED25519", bld);
    OSSL_PARAM_BLD_free(bld);
    return pk;
}

static int add_jwk(struct auth_keyset *ks, json_t *jwk, size_t i, char *err, size_t cap)
{
    if (!json_is_object(jwk))
        return fail(err, cap, "keys[%zu] is not an object", i);
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const char *alg_s = json_string_value(json_object_get(jwk, "alg"));
    if (use && strcmp(use, "sig") != 0)
        return 0; /* an encryption key: not ours */
    if (!kty)
        return fail(err, cap, "keys[%zu] has no kty", i);
    if (!kid || !kid[0])
        return fail(err, cap, "keys[%zu] has no kid", i);
    enum jwt_alg alg = 0;
    if (alg_s && !(alg = jwt_alg_parse(alg_s)))
        return fail(err, cap, "keys[%zu] (kid '%s'): unsupported alg '%s'", i, kid, alg_s);
    enum auth_family fam;
    EVP_PKEY *pk = NULL;
    if (!strcmp(kty, "oct")) {
        uint8_t k[1024];
        ssize_t kl = jwk_bytes(jwk, "k", k, sizeof k);
        if (kl < 0)
            return fail(err, cap, "keys[%zu] (kid '%s'): bad k", i, kid);
        fam = AUTH_FAM_HMAC;
        if (alg && jwt_alg_family(alg) != fam)
            return fail(err, cap, "keys[%zu] (kid '%s'): alg %s does not fit kty %s", i, kid, alg_s,
                        kty);
        int rc = auth_keyset_add_secret(ks, kid, k, (size_t)kl, err, cap);
        OPENSSL_cleanse(k, sizeof k);
        if (rc == 0)
            ks->keys[ks->n - 1].alg = alg;
        return rc;
    } else if (!strcmp(kty, "RSA")) {
        pk = jwk_rsa(jwk);
    } else if (!strcmp(kty, "EC")) {
        pk = jwk_ec(jwk);
    } else if (!strcmp(kty, "OKP")) {
        pk = jwk_okp(jwk);
    } else {
        return fail(err, cap, "keys[%zu] (kid '%s'): unsupported kty '%s'", i, kid, kty);
    }
    if (!pk)
        return fail(err, cap,
                    "keys[%zu] (kid '%s'): not a valid %s public key (RSA n/e, EC "
                    "P-256 x/y, OKP Ed25519 x)",
                    i, kid, kty);
    char why[160];
    fam = pkey_family(pk, why, sizeof why);
    int rc;
    if (!fam)
        rc = fail(err, cap, "keys[%zu] (kid '%s'): %s", i, kid, why);
    else if (alg && jwt_alg_family(alg) != fam)
        rc = fail(err, cap, "keys[%zu] (kid '%s'): alg %s does not fit kty %s", i, kid, alg_s, kty);
    else
        rc = push(ks, kid, fam, alg, pk, NULL, 0, err, cap);
    if (rc < 0)
        EVP_PKEY_free(pk);
    return rc;
}

int auth_keyset_add_jwks(struct auth_keyset *ks, const char *json, size_t n, char *err,
                         size_t errcap)
{
    json_error_t je;
    json_t *root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fail(err, errcap, "JWKS is not JSON: line %d: %s", je.line, je.text);
    json_t *keys = json_object_get(root, "keys");
    int rc = 0;
    size_t before = ks->n;
    if (!json_is_array(keys)) {
        rc = fail(err, errcap, "JWKS has no \"keys\" array");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(keys) && rc == 0; i++)
        rc = add_jwk(ks, json_array_get(keys, i), i, err, errcap);
    if (rc == 0 && ks->n == before)
        rc = fail(err, errcap, "JWKS has no signing key");
out:
    if (rc < 0) { /* all or nothing */
        while (ks->n > before) {
            struct auth_key *k = &ks->keys[--ks->n];
            EVP_PKEY_free(k->pkey);
            if (k->secret)
                OPENSSL_clear_free(k->secret, k->secret_len);
        }
    }
    json_decref(root);
    return rc;
}

/* Reads a whole file (at most AUTH_KEY_FILE_MAX bytes); the caller frees. */
static char *slurp(const char *path, size_t *len, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(err, cap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(AUTH_KEY_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, AUTH_KEY_FILE_MAX + 1, f) : 0;
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > AUTH_KEY_FILE_MAX) {
        fail(err, cap, "%s: %s", path, !buf ? "out of memory" : bad ? "read error" : "too large");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int load_file(struct auth_keyset *ks, const char *path, int kind, char *err, size_t cap)
{
    size_t n;
    char *buf = slurp(path, &n, err, cap);
    if (!buf)
        return WSP_EINVAL;
    char why[400];
    int rc;
    if (kind == 0) {
        if (n && buf[n - 1] == '\n') /* what `echo secret > file` adds */
            n--;
        rc = auth_keyset_add_secret(ks, NULL, (const uint8_t *)buf, n, why, sizeof why);
        OPENSSL_cleanse(buf, n);
    } else if (kind == 1) {
        rc = auth_keyset_add_pem(ks, NULL, buf, n, why, sizeof why);
    } else {
        rc = auth_keyset_add_jwks(ks, buf, n, why, sizeof why);
    }
    free(buf);
    if (rc < 0)
        fail(err, cap, "%s: %s", path, why);
    return rc;
}

struct auth_keyset *auth_keyset_load(const struct auth_key_files *f, char *err, size_t errcap)
{
    struct auth_keyset *ks = auth_keyset_new();
    if (!ks) {
        fail(err, errcap, "out of memory");
        return NULL;
    }
    const char *paths[3] = {f->hmac_file, f->pem_file, f->jwks_file};
    for (int k = 0; k < 3; k++) {
        if (paths[k] && paths[k][0] && load_file(ks, paths[k], k, err, errcap) < 0) {
            auth_keyset_free(ks);
            return NULL;
        }
    }
    return ks;
}
