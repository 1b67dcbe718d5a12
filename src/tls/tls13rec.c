/* tls13rec.c - TLS 1.3 records after the handshake, without the SSL object
 * (see tls13rec.h).
 *
 * RFC 8446: keys and IVs from the traffic secrets with HKDF-Expand-Label
 * (7.1, 7.3), the per-record nonce (5.3), the record and its inner
 * plaintext (5.2), KeyUpdate (4.6.3), alerts (6). OpenSSL's libcrypto does
 * the HKDF and the AEAD; nothing here knows libssl, sockets beyond
 * read/send, HTTP or WebSockets.
 *
 * Invariants: a struct is either between records (rbuf NULL, rgot 0),
 * inside one (rgot bytes of it read), or holding its plaintext (rlen > 0);
 * reads take exactly the current record's bytes off the socket. wpend, when
 * set, is the unsent tail of records already sealed, in order, and must go
 * out before anything else is sealed. */
#include "tls/tls13rec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "core/err.h"

/* Alert descriptions we send (RFC 8446 6). */
enum {
    ALERT_CLOSE_NOTIFY = 0,
    ALERT_UNEXPECTED_MESSAGE = 10,
    ALERT_BAD_RECORD_MAC = 20,
    ALERT_RECORD_OVERFLOW = 22,
    ALERT_DECODE_ERROR = 50,
    ALERT_USER_CANCELED = 90,
};

#define HS_NEW_SESSION_TICKET 4
#define HS_KEY_UPDATE 24
#define HELD_MAX (1u << 20) /* a peer that asks for KeyUpdates and never reads */

static const struct suite {
    size_t key_len, secret_len;
    const char *md, *cipher;
} suites[] = {
    [TLS13_AES_128_GCM_SHA256] = {16, 32, "SHA256", "AES-128-GCM"},
    [TLS13_AES_256_GCM_SHA384] = {32, 48, "SHA384", "AES-256-GCM"},
    [TLS13_CHACHA20_POLY1305_SHA256] = {32, 32, "SHA256", "ChaCha20-Poly1305"},
};

/* The process's AEAD context and fetched algorithms (one thread each). */
static EVP_CIPHER_CTX *aead;
static EVP_CIPHER *ciphers[4];
static EVP_KDF *hkdf;

static bool suite_ok(int suite)
{
    return suite > TLS13_NONE && suite <= TLS13_CHACHA20_POLY1305_SHA256;
}

size_t tls13_secret_len(int suite)
{
    return suite_ok(suite) ? suites[suite].secret_len : 0;
}

static int algos(int suite)
{
    if (!aead && !(aead = EVP_CIPHER_CTX_new()))
        return WSP_ENOMEM;
    if (!ciphers[suite] && !(ciphers[suite] = EVP_CIPHER_fetch(NULL, suites[suite].cipher, NULL)))
        return WSP_ENOMEM;
    if (!hkdf && !(hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL)))
        return WSP_ENOMEM;
    return 0;
}

/* HKDF-Expand-Label(secret, label, "", out_len) (RFC 8446 7.1). */
static int expand_label(int suite, const uint8_t *secret, const char *label, uint8_t *out,
                        size_t out_len)
{
    uint8_t info[2 + 1 + 6 + 32 + 1];
    size_t ll = strlen(label);
    info[0] = (uint8_t)(out_len >> 8);
    info[1] = (uint8_t)out_len;
    info[2] = (uint8_t)(6 + ll);
    memcpy(info + 3, "tls13 ", 6);
    memcpy(info + 9, label, ll);
    info[9 + ll] = 0; /* empty context */
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)suites[suite].md, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret,
                                          suites[suite].secret_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, 10 + ll),
        OSSL_PARAM_construct_end(),
    };
    EVP_KDF_CTX *k = EVP_KDF_CTX_new(hkdf);
    int ok = k && EVP_KDF_derive(k, out, out_len, params) == 1;
    EVP_KDF_CTX_free(k);
    return ok ? 0 : WSP_ENOMEM;
}

static int dir_keys(struct tls13_dir *d, int suite)
{
    int e = expand_label(suite, d->secret, "key", d->key, suites[suite].key_len);
    return e ? e : expand_label(suite, d->secret, "iv", d->iv, sizeof d->iv);
}

int tls13_dir_update(struct tls13_dir *d, int suite)
{
    if (!suite_ok(suite))
        return WSP_EINVAL;
    uint8_t next[TLS13_SECRET_MAX];
    int e = algos(suite);
    if (!e)
        e = expand_label(suite, d->secret, "traffic upd", next, suites[suite].secret_len);
    if (e)
        return e;
    memcpy(d->secret, next, suites[suite].secret_len);
    OPENSSL_cleanse(next, sizeof next);
    d->seq = 0;
    return dir_keys(d, suite);
}

int tls13_rec_start(struct tls13_rec *r, int suite)
{
    if (!suite_ok(suite))
        return WSP_EINVAL;
    int e = algos(suite);
    if (!e)
        e = dir_keys(&r->rx, suite);
    if (!e)
        e = dir_keys(&r->tx, suite);
    if (e)
        return e;
    r->suite = (uint8_t)suite;
    return 0;
}

static void nonce_of(const struct tls13_dir *d, uint8_t nonce[12])
{
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

size_t tls13_seal(struct tls13_dir *d, int suite, uint8_t type, const void *p, size_t n,
                  uint8_t *out)
{
    if (!suite_ok(suite) || n > TLS13_MAX_PLAIN || algos(suite) < 0)
        return 0;
    size_t inner = n + 1, clen = inner + 16;
    out[0] = TLS13_CT_APPDATA;
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(clen >> 8);
    out[4] = (uint8_t)clen;
    uint8_t nonce[12];
    nonce_of(d, nonce);
    int l = 0;
    if (EVP_EncryptInit_ex2(aead, ciphers[suite], d->key, nonce, NULL) != 1 ||
        EVP_EncryptUpdate(aead, NULL, &l, out, 5) != 1 ||
        (n && EVP_EncryptUpdate(aead, out + 5, &l, p, (int)n) != 1) ||
        EVP_EncryptUpdate(aead, out + 5 + n, &l, &type, 1) != 1 ||
        EVP_EncryptFinal_ex(aead, out + 5 + inner, &l) != 1 ||
        EVP_CIPHER_CTX_ctrl(aead, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + inner) != 1)
        return 0;
    d->seq++;
    return 5 + clen;
}

int tls13_open(struct tls13_dir *d, int suite, uint8_t *rec, size_t len, uint8_t *type,
               size_t *plen)
{
    if (!suite_ok(suite) || algos(suite) < 0 || len < 5 + 17 || len > 5 + TLS13_MAX_CIPHER ||
        rec[0] != TLS13_CT_APPDATA || rec[1] != 3 || rec[2] != 3 ||
        (size_t)(rec[3] << 8 | rec[4]) != len - 5)
        return WSP_EPROTO;
    size_t inner = len - 5 - 16;
    uint8_t nonce[12], fin[16];
    nonce_of(d, nonce);
    int l = 0;
    if (EVP_DecryptInit_ex2(aead, ciphers[suite], d->key, nonce, NULL) != 1 ||
        EVP_DecryptUpdate(aead, NULL, &l, rec, 5) != 1 ||
        EVP_DecryptUpdate(aead, rec + 5, &l, rec + 5, (int)inner) != 1 ||
        EVP_CIPHER_CTX_ctrl(aead, EVP_CTRL_AEAD_SET_TAG, 16, rec + 5 + inner) != 1 ||
        EVP_DecryptFinal_ex(aead, fin, &l) != 1)
        return WSP_EPROTO;
    while (inner > 0 && rec[5 + inner - 1] == 0) /* zero padding (5.4) */
        inner--;
    if (inner == 0 || inner - 1 > TLS13_MAX_PLAIN)
        return WSP_EPROTO;
    *type = rec[5 + inner - 1];
    *plen = inner - 1;
    d->seq++;
    return 0;
}

/* ---- the socket side ---- */

static ssize_t rd(int fd, void *p, size_t n)
{
    ssize_t k = read(fd, p, n);
    if (k >= 0)
        return k;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? WSP_EAGAIN : -errno;
}

static ssize_t snd(int fd, const void *p, size_t n)
{
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k >= 0)
        return k;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
}

/* Keeps p[0, n) to send after what is held already; `plain` (when not 0)
 * is what the held record carries for the caller. */
static int hold(struct tls13_rec *r, const uint8_t *p, size_t n, uint32_t plain)
{
    size_t keep = r->wpend ? r->wlen - r->woff : 0;
    if (keep + n > HELD_MAX)
        return WSP_ETOOBIG;
    uint8_t *b = malloc(keep + n);
    if (!b)
        return WSP_ENOMEM;
    if (keep)
        memcpy(b, r->wpend + r->woff, keep);
    memcpy(b + keep, p, n);
    free(r->wpend);
    r->wpend = b;
    r->woff = 0;
    r->wlen = (uint32_t)(keep + n);
    if (plain)
        r->wplain = plain;
    return 0;
}

/* Sends what is held: 1 when all of it went, 0 when the socket is full,
 * or a negative error. */
static int flush_held(struct tls13_rec *r, int fd)
{
    while (r->woff < r->wlen) {
        ssize_t k = snd(fd, r->wpend + r->woff, r->wlen - r->woff);
        if (k <= 0)
            return (int)k;
        r->woff += (uint32_t)k;
    }
    free(r->wpend);
    r->wpend = NULL;
    r->woff = r->wlen = 0;
    return 1;
}

/* Seals one record and sends it now, or holds what the socket did not
 * take. Returns 1 (all sent), 0 (held) or a negative error. */
static int seal_send(struct tls13_rec *r, int fd, uint8_t type, const void *p, size_t n,
                     uint32_t plain)
{
    static uint8_t out[TLS13_MAX_PLAIN + TLS13_OVERHEAD];
    size_t len = tls13_seal(&r->tx, r->suite, type, p, n, out);
    if (!len)
        return WSP_EPROTO;
    ssize_t k = r->wpend ? 0 : snd(fd, out, len); /* after the held bytes, in order */
    if (k < 0)
        return (int)k;
    if ((size_t)k == len)
        return 1;
    int e = hold(r, out + k, len - (size_t)k, plain);
    return e ? e : 0;
}

static ssize_t fail(struct tls13_rec *r, int fd, int alert)
{
    if (alert >= 0 && r->state == TLS13_OPEN && !r->wpend) {
        uint8_t a[2] = {2, (uint8_t)alert}; /* fatal */
        seal_send(r, fd, TLS13_CT_ALERT, a, 2, 0);
    }
    r->state = TLS13_BROKEN;
    free(r->rbuf);
    r->rbuf = NULL;
    r->rgot = r->roff = r->rlen = 0;
    return WSP_EPROTO;
}

/* Post-handshake messages in one record: KeyUpdate, and on a client's end
 * NewSessionTicket (ignored: no session is resumed from here). A server
 * that asks for no client certificate and sends its tickets during the
 * handshake expects nothing else. A message split over records is
 * refused. */
static ssize_t on_handshake(struct tls13_rec *r, int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (n < 4)
            return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
        size_t len = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (p[0] == HS_NEW_SESSION_TICKET && r->client) {
            if (n - 4 < len)
                return fail(r, fd, ALERT_DECODE_ERROR);
            p += 4 + len;
            n -= 4 + len;
            continue;
        }
        if (p[0] != HS_KEY_UPDATE)
            return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
        if (len != 1 || n < 5 || p[4] > 1)
            return fail(r, fd, ALERT_DECODE_ERROR);
        if (tls13_dir_update(&r->rx, r->suite) < 0)
            return fail(r, fd, -1);
        if (p[4] == 1) { /* update_requested: ours (not requested), then new keys */
            static const uint8_t ku[5] = {HS_KEY_UPDATE, 0, 0, 1, 0};
            int e = seal_send(r, fd, TLS13_CT_HANDSHAKE, ku, sizeof ku, 0);
            if (e < 0 || tls13_dir_update(&r->tx, r->suite) < 0)
                return fail(r, fd, -1);
        }
        p += 5;
        n -= 5;
    }
    return 0;
}

static ssize_t take_plain(struct tls13_rec *r, void *buf, size_t n)
{
    size_t k = n < r->rlen ? n : r->rlen;
    memcpy(buf, r->rbuf + r->roff, k);
    r->roff += (uint32_t)k;
    r->rlen -= (uint32_t)k;
    if (!r->rlen) {
        free(r->rbuf);
        r->rbuf = NULL;
        r->roff = 0;
    }
    return (ssize_t)k;
}

/* Checks a record header: its ciphertext length, or a negative error
 * after the alert. */
static ssize_t header_len(struct tls13_rec *r, int fd, const uint8_t h[5])
{
    size_t clen = (size_t)h[3] << 8 | h[4];
    if (h[0] != TLS13_CT_APPDATA || h[1] != 3 || h[2] != 3)
        return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
    if (clen > TLS13_MAX_CIPHER)
        return fail(r, fd, ALERT_RECORD_OVERFLOW);
    if (clen < 17)
        return fail(r, fd, ALERT_DECODE_ERROR);
    return (ssize_t)clen;
}

/* The current record's header is whole in r->hdr: checked, and a buffer
 * for the record made with the header at its front. 0 or a negative error. */
static ssize_t start_record(struct tls13_rec *r, int fd)
{
    ssize_t clen = header_len(r, fd, r->hdr);
    if (clen < 0)
        return clen;
    if (!(r->rbuf = malloc(5 + (size_t)clen)))
        return WSP_ENOMEM;
    memcpy(r->rbuf, r->hdr, 5);
    return 0;
}

/* Reads the rest of the current record: 1 when whole, or what rd said
 * (WSP_EAGAIN, an error), or 0 at EOF between records. */
static ssize_t read_record(struct tls13_rec *r, int fd)
{
    if (r->rgot < 5) {
        ssize_t k = rd(fd, r->hdr + r->rgot, 5 - r->rgot);
        if (k == 0)
            return r->rgot ? fail(r, fd, -1) : 0; /* a cut header: truncation */
        if (k < 0)
            return k;
        r->rgot += (uint32_t)k;
        if (r->rgot < 5)
            return WSP_EAGAIN;
        ssize_t e = start_record(r, fd);
        if (e < 0)
            return e;
    }
    size_t total = 5 + ((size_t)r->hdr[3] << 8 | r->hdr[4]);
    while (r->rgot < total) {
        ssize_t k = rd(fd, r->rbuf + r->rgot, total - r->rgot);
        if (k == 0)
            return fail(r, fd, -1); /* EOF inside a record */
        if (k < 0)
            return k;
        r->rgot += (uint32_t)k;
    }
    return 1;
}

/* Opens the whole record rec[0, len) and acts on what it carries: 1 with
 * its application data at rec[5, 5 + *plen) (*plen may be 0), 0 when it
 * carried something else that was handled (a KeyUpdate, a ticket, a
 * user_canceled alert), or the end: TLS13_EOF / TLS13_BROKEN in r->state
 * with WSP_EPROTO returned for the latter. */
static ssize_t open_record(struct tls13_rec *r, int fd, uint8_t *rec, size_t len, size_t *plen)
{
    uint8_t type = 0;
    *plen = 0;
    if (tls13_open(&r->rx, r->suite, rec, len, &type, plen) < 0)
        return fail(r, fd, ALERT_BAD_RECORD_MAC);
    switch (type) {
    case TLS13_CT_APPDATA:
        return 1;
    case TLS13_CT_ALERT: {
        uint8_t desc = *plen == 2 ? rec[6] : 255;
        *plen = 0;
        if (desc == ALERT_USER_CANCELED) /* a close_notify follows */
            return 0;
        r->state = desc == ALERT_CLOSE_NOTIFY ? TLS13_EOF : TLS13_BROKEN;
        return r->state == TLS13_BROKEN ? WSP_EPROTO : 0; /* the peer's fatal alert: no answer */
    }
    case TLS13_CT_HANDSHAKE: {
        ssize_t k = on_handshake(r, fd, rec + 5, *plen);
        *plen = 0;
        return k;
    }
    default:
        return fail(r, fd, ALERT_UNEXPECTED_MESSAGE);
    }
}

ssize_t tls13_rec_read(struct tls13_rec *r, int fd, void *buf, size_t n)
{
    for (;;) {
        if (r->rlen)
            return take_plain(r, buf, n);
        if (r->state == TLS13_EOF)
            return 0;
        if (r->state == TLS13_BROKEN)
            return WSP_EPROTO;
        ssize_t k = read_record(r, fd);
        if (k <= 0)
            return k;
        size_t total = r->rgot, plen = 0;
        r->rgot = 0;
        k = open_record(r, fd, r->rbuf, total, &plen);
        if (k < 0) {
            free(r->rbuf);
            r->rbuf = NULL;
            return k;
        }
        if (k == 1 && plen) {
            r->roff = 5;
            r->rlen = (uint32_t)plen; /* an empty record: on to the next */
        } else {
            free(r->rbuf);
            r->rbuf = NULL;
        }
    }
}

/* One whole record at rec (a copy the caller may scribble on): opened,
 * its application data handed to cb. 1 to go on, or feed's end value. */
static ssize_t feed_one(struct tls13_rec *r, int fd, uint8_t *rec, size_t len, tls13_plain_cb cb,
                        void *ctx)
{
    size_t plen;
    ssize_t k = open_record(r, fd, rec, len, &plen);
    if (k < 0)
        return k;
    if (r->state == TLS13_EOF)
        return 0;
    if (k == 1 && plen && !cb(ctx, rec + 5, plen))
        return 2;
    return 1;
}

ssize_t tls13_rec_feed(struct tls13_rec *r, int fd, const uint8_t *p, size_t n, tls13_plain_cb cb,
                       void *ctx)
{
    static uint8_t one[5 + TLS13_MAX_CIPHER];
    if (r->state == TLS13_BROKEN || r->rlen)
        return WSP_EPROTO; /* reading by tls13_rec_read is not mixed with feeding */
    while (n > 0) {
        if (r->state == TLS13_EOF)
            return 0;
        if (r->rgot == 0 && n >= 5) { /* the common case: whole records in p */
            ssize_t clen = header_len(r, fd, p);
            if (clen < 0)
                return clen;
            size_t len = 5 + (size_t)clen;
            if (n >= len) {
                memcpy(one, p, len);
                ssize_t k = feed_one(r, fd, one, len, cb, ctx);
                if (k != 1)
                    return k;
                p += len;
                n -= len;
                continue;
            }
        }
        /* a record cut by the stream: kept until its rest comes */
        if (r->rgot < 5) {
            size_t k = 5 - r->rgot < n ? 5 - r->rgot : n;
            memcpy(r->hdr + r->rgot, p, k);
            r->rgot += (uint32_t)k;
            p += k;
            n -= k;
            if (r->rgot < 5)
                return 1;
            ssize_t e = start_record(r, fd);
            if (e < 0)
                return e;
        }
        size_t total = 5 + ((size_t)r->hdr[3] << 8 | r->hdr[4]);
        size_t k = total - r->rgot < n ? total - r->rgot : n;
        memcpy(r->rbuf + r->rgot, p, k);
        r->rgot += (uint32_t)k;
        p += k;
        n -= k;
        if (r->rgot < total)
            return 1;
        uint8_t *rec = r->rbuf;
        r->rbuf = NULL;
        r->rgot = 0;
        ssize_t e = feed_one(r, fd, rec, total, cb, ctx);
        free(rec);
        if (e != 1)
            return e;
    }
    return r->state == TLS13_EOF ? 0 : 1;
}

ssize_t tls13_rec_write(struct tls13_rec *r, int fd, const void *p, size_t n)
{
    if (r->state == TLS13_BROKEN)
        return WSP_EPROTO;
    if (r->wpend) {
        int f = flush_held(r, fd);
        if (f <= 0)
            return f;
        uint32_t carried = r->wplain;
        r->wplain = 0;
        if (carried) /* the caller's bytes that record carried: taken now */
            return carried <= n ? (ssize_t)carried : WSP_EPROTO;
    }
    if (n == 0)
        return 0;
    size_t m = n < TLS13_MAX_PLAIN ? n : TLS13_MAX_PLAIN;
    int e = seal_send(r, fd, TLS13_CT_APPDATA, p, m, (uint32_t)m);
    if (e < 0) {
        r->state = TLS13_BROKEN;
        return e;
    }
    return e ? (ssize_t)m : 0;
}

size_t tls13_rec_seal_out(struct tls13_rec *r, const void *p, size_t n, uint8_t *out)
{
    if (r->state == TLS13_BROKEN || r->wpend || n == 0 || n > TLS13_MAX_PLAIN)
        return 0;
    return tls13_seal(&r->tx, r->suite, TLS13_CT_APPDATA, p, n, out);
}

ssize_t tls13_rec_sent(struct tls13_rec *r, const uint8_t *out, size_t len, ssize_t k, size_t n)
{
    if (k == -EAGAIN || k == -EWOULDBLOCK || k == -EINTR)
        k = 0; /* nothing taken: the whole record is held */
    if (k < 0 || (size_t)k > len) {
        r->state = TLS13_BROKEN;
        return k < 0 ? k : WSP_EPROTO;
    }
    if ((size_t)k == len)
        return (ssize_t)n;
    int e = hold(r, out + k, len - (size_t)k, (uint32_t)n);
    if (e < 0) {
        r->state = TLS13_BROKEN;
        return e;
    }
    return 0;
}

void tls13_rec_close_notify(struct tls13_rec *r, int fd)
{
    if (r->state == TLS13_BROKEN || r->wpend || !suite_ok(r->suite))
        return;
    static const uint8_t a[2] = {1, ALERT_CLOSE_NOTIFY}; /* warning */
    seal_send(r, fd, TLS13_CT_ALERT, a, 2, 0);
}

size_t tls13_rec_pending(const struct tls13_rec *r)
{
    return r->rlen;
}

void tls13_rec_clear(struct tls13_rec *r)
{
    free(r->rbuf);
    free(r->wpend);
    OPENSSL_cleanse(r, sizeof *r);
}
