/* keys.h - the keys subscriber tokens are verified with.
 *
 * A key set is built once (by the master before fork, again on SIGHUP) and
 * only read afterwards; each key is bound to one algorithm family, so an
 * HMAC token can never be checked against a public key (algorithm
 * confusion). Keys from --auth-hmac-key-file and --auth-public-key have no
 * kid and serve tokens without one; JWKS keys have a kid and serve tokens
 * naming it. Owned by whoever loaded it; freed with auth_keyset_free. */
#ifndef WSP_AUTH_KEYS_H
#define WSP_AUTH_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define AUTH_KID_MAX 128       /* bytes of a kid */
#define AUTH_HMAC_MIN_BYTES 32 /* RFC 7518 §3.2: at least the hash size (HS256) */
#define AUTH_RSA_MIN_BITS 2048 /* RFC 7518 §3.3 */
#define AUTH_KEY_FILE_MAX (1u << 20)

enum auth_family { AUTH_FAM_HMAC = 1, AUTH_FAM_RSA, AUTH_FAM_EC, AUTH_FAM_OKP };

enum jwt_alg {
    JWT_ALG_HS256 = 1,
    JWT_ALG_HS384,
    JWT_ALG_HS512,
    JWT_ALG_RS256,
    JWT_ALG_ES256,
    JWT_ALG_EDDSA
};

struct auth_key {
    char kid[AUTH_KID_MAX + 1]; /* "" for a key from a file: serves tokens without kid */
    enum auth_family fam;
    enum jwt_alg alg; /* 0: any algorithm of fam; else only this one (JWKS "alg") */
    EVP_PKEY *pkey;   /* RSA, EC P-256, Ed25519; owned */
    uint8_t *secret;  /* HMAC; owned, wiped on free */
    size_t secret_len;
};

struct auth_keyset {
    size_t n, cap;
    struct auth_key *keys;
};

/* "HS256" ... "EdDSA" -> JWT_ALG_*, 0 when unknown. */
enum jwt_alg jwt_alg_parse(const char *s);
const char *jwt_alg_name(enum jwt_alg a);
enum auth_family jwt_alg_family(enum jwt_alg a);

struct auth_keyset *auth_keyset_new(void);
void auth_keyset_free(struct auth_keyset *ks); /* NULL: no-op */

/* Each returns 0, or WSP_EINVAL / WSP_ENOMEM with a one-line reason in err
 * (the key set is then unchanged). */
/* An HMAC secret (at least AUTH_HMAC_MIN_BYTES). kid may be "" or NULL. */
int auth_keyset_add_secret(struct auth_keyset *ks, const char *kid, const uint8_t *p, size_t n,
                           char *err, size_t errcap);
/* A PEM public key (SubjectPublicKeyInfo): RSA >= 2048 bits, EC P-256 or
 * Ed25519. */
int auth_keyset_add_pem(struct auth_keyset *ks, const char *kid, const char *pem, size_t n,
                        char *err, size_t errcap);
/* A JWK Set (RFC 7517 §5): keys with kty RSA, EC (P-256), OKP (Ed25519)
 * or oct, each with a kid. Keys whose "use" is not "sig" are skipped; an
 * unknown kty is an error, as is a set without a usable key. */
int auth_keyset_add_jwks(struct auth_keyset *ks, const char *json, size_t n, char *err,
                         size_t errcap);

struct auth_key_files {
    const char *hmac_file; /* the file's bytes, one trailing newline removed */
    const char *pem_file;
    const char *jwks_file;
};
/* Loads every named file (NULL or "": not used). NULL with err set on any
 * failure: a partial set is never returned. */
struct auth_keyset *auth_keyset_load(const struct auth_key_files *f, char *err, size_t errcap);

#endif
