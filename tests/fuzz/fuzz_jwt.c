/* fuzz_jwt.c - libFuzzer target for the token parser: base64url, the JOSE
 * header, the claims JSON and key selection (auth/b64url.c, auth/jwt.c).
 *
 * The input is tried three ways: as a whole token against an HMAC key and
 * an Ed25519 JWKS key (refusal must carry a reason; acceptance must leave
 * claims that grant consistently); as base64url, which must round-trip
 * through the encoder when accepted; and as a claims object. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/b64url.h"
#include "auth/jwt.h"
#include "auth/keys.h"
#include "core/err.h"
#include "core/wsp_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static const char hmac_key[] = "fuzz-hmac-key-0123456789abcdefghijklmnop";
static const char jwks[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\","
                           "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

static struct auth_keyset *keys(void)
{
    static struct auth_keyset *ks;
    if (!ks) {
        char err[256];
        ks = auth_keyset_new();
        WSP_ASSERT(ks);
        WSP_ASSERT(auth_keyset_add_secret(ks, NULL, (const uint8_t *)hmac_key, strlen(hmac_key),
                                          err, sizeof err) == 0);
        WSP_ASSERT(auth_keyset_add_jwks(ks, jwks, strlen(jwks), err, sizeof err) == 0);
    }
    return ks;
}

static void check_claims(const struct jwt_claims *c)
{
    WSP_ASSERT(jwt_claims_grant(c, "", 0));
    if (c->sub) {
        char t[JWT_MAX_SUB_BYTES + 2];
        WSP_ASSERT(c->sub_len <= JWT_MAX_SUB_BYTES);
        t[0] = '@';
        memcpy(t + 1, c->sub, c->sub_len);
        WSP_ASSERT(jwt_claims_grant(c, t, c->sub_len + 1));
        WSP_ASSERT(!jwt_claims_grant(c, t, c->sub_len)); /* "@" + a shorter user */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    const struct jwt_policy pol = {"iss", "aud", 30};
    struct jwt_claims c;
    enum auth_reason why = AUTH_OK;
    int rc = jwt_verify(keys(), &pol, (const char *)d, n, 1700000000, &c, &why);
    if (rc == 0) {
        check_claims(&c);
        jwt_claims_release(&c);
    } else {
        WSP_ASSERT(rc == WSP_EPROTO && why != AUTH_OK && why < AUTH_REASON_COUNT && !c.root);
        WSP_ASSERT(auth_reason_label(why)[0] && auth_reason_text(why)[0]);
    }

    uint8_t *out = malloc(n ? n : 1);
    WSP_ASSERT(out);
    ssize_t dn = b64url_decode((const char *)d, n, out, n);
    WSP_ASSERT(dn == WSP_EPROTO || (dn >= 0 && (size_t)dn == b64url_decoded_len(n)));
    if (dn >= 0) {
        char *back = malloc(n ? n : 1);
        WSP_ASSERT(back);
        WSP_ASSERT(b64url_encode(out, (size_t)dn, back, n) == (ssize_t)n);
        WSP_ASSERT(memcmp(back, d, n) == 0); /* canonical: one spelling per byte string */
        free(back);
    }
    free(out);

    if (jwt_claims_parse(d, n, &pol, 1700000000, &c, &why) == 0) {
        check_claims(&c);
        jwt_claims_release(&c);
    }
    return 0;
}
