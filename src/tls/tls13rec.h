/* tls13rec.h - a TLS 1.3 connection's record layer after the handshake,
 * without OpenSSL's per-connection SSL object (issue 16 goal 8).
 *
 * OpenSSL runs the handshake (tls.c); at its end tls.c hands over the two
 * application traffic secrets and the sequence numbers already used, frees
 * the SSL (~16 KB with its record layer, cipher contexts and session), and
 * from then on this file seals and opens records with ~260 bytes of state
 * per connection: per direction the traffic secret (for KeyUpdate), the
 * AEAD key and IV, and the sequence number. This is the user-space twin of
 * kTLS, which this machine's kernel does not have: the same hand-over,
 * with the records sealed here instead of in the kernel.
 *
 * Suites: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and
 * TLS_CHACHA20_POLY1305_SHA256 (all of TLS 1.3's but the CCM ones, which
 * browsers do not offer); a connection that negotiated anything else keeps
 * its SSL. The AEAD runs on one cipher context per process, keyed per
 * record (no cipher state is kept per connection).
 *
 * What reading accepts after the handshake: application data, close_notify
 * (EOF), KeyUpdate (answered when the peer asks), and on a client's end
 * (the load generator's) NewSessionTicket, ignored. Anything else (another
 * alert, another handshake message, a record that does not decrypt, a
 * record over 2^14 + 256 bytes) ends the connection with an alert of our
 * own where the socket takes it. Records are read one at a time with exact
 * reads, so nothing past the current record is taken off the socket.
 *
 * Writing follows OpenSSL's partial-write contract, which the connection
 * code already keeps: a record the socket took only part of is held here,
 * the call returns 0 (socket full), and the caller's next write (with the
 * same bytes at the front) sends the rest and returns what that record
 * carried. One thread per struct; the process's cipher context is not
 * shared between threads. */
#ifndef WSP_TLS13REC_H
#define WSP_TLS13REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLS13_SECRET_MAX 48
#define TLS13_MAX_PLAIN 16384u                   /* 2^14 */
#define TLS13_MAX_CIPHER (TLS13_MAX_PLAIN + 256) /* RFC 8446 5.2 */
#define TLS13_OVERHEAD 22u                       /* header 5 + inner content type 1 + tag 16 */

enum tls13_suite {
    TLS13_NONE = 0,
    TLS13_AES_128_GCM_SHA256 = 1,
    TLS13_AES_256_GCM_SHA384 = 2,
    TLS13_CHACHA20_POLY1305_SHA256 = 3,
};

/* TLS content types (RFC 8446 5.1). */
enum { TLS13_CT_ALERT = 21, TLS13_CT_HANDSHAKE = 22, TLS13_CT_APPDATA = 23 };

struct tls13_dir {
    uint64_t seq;
    uint8_t secret[TLS13_SECRET_MAX];
    uint8_t key[32];
    uint8_t iv[12];
};

struct tls13_rec {
    struct tls13_dir rx, tx;
    uint8_t *rbuf;       /* the record being read (then its plaintext), or NULL */
    uint8_t *wpend;      /* sealed bytes the socket has not taken, or NULL */
    uint32_t rgot;       /* bytes of the current record read (header included) */
    uint32_t roff, rlen; /* plaintext not yet returned: rbuf[roff, roff + rlen) */
    uint32_t woff, wlen; /* wpend[woff, wlen) is still to send */
    uint32_t wplain;     /* caller bytes the held record carries (0: a control record) */
    uint8_t hdr[5];      /* the current record's header */
    uint8_t suite;       /* enum tls13_suite; TLS13_NONE before the hand-over */
    uint8_t state;       /* TLS13_OPEN, TLS13_EOF, TLS13_BROKEN */
    uint8_t capture;     /* tls.c's marks before the hand-over (TLS13_CAP_*) */
    uint8_t client;      /* this end is the client: NewSessionTicket is taken (and ignored) */
};

enum { TLS13_OPEN = 0, TLS13_EOF = 1, TLS13_BROKEN = 2 };

/* What tls.c saw during the handshake (struct tls13_rec.capture). */
enum {
    TLS13_CAP_CLIENT_SECRET = 1,  /* rx.secret holds CLIENT_TRAFFIC_SECRET_0 */
    TLS13_CAP_SERVER_SECRET = 2,  /* tx.secret holds SERVER_TRAFFIC_SECRET_0 */
    TLS13_CAP_READ_FINISHED = 4,  /* the client's Finished was read: rx.seq counts */
    TLS13_CAP_WROTE_FINISHED = 8, /* our Finished was written: tx.seq counts */
    TLS13_CAP_REFUSE = 16,        /* something the hand-over cannot carry (a KeyUpdate) */
};

/* Secret length of a suite's hash (32 or 48), 0 for TLS13_NONE. */
size_t tls13_secret_len(int suite);

/* Derives both directions' keys and IVs from their secrets (the sequence
 * numbers are kept as they are) and makes suite current. 0, or WSP_EINVAL
 * (unknown suite) / WSP_ENOMEM (the KDF could not run). */
int tls13_rec_start(struct tls13_rec *r, int suite);

/* The next generation of a direction's secret, key and IV, sequence 0
 * (KeyUpdate, RFC 8446 7.2). 0 or a negative error. */
int tls13_dir_update(struct tls13_dir *d, int suite);

/* Pure record functions (no socket). tls13_seal writes one record of type
 * `type` carrying p[0, n) (n <= TLS13_MAX_PLAIN) to out, which has room for
 * n + TLS13_OVERHEAD bytes, and returns its length (d->seq advances).
 * tls13_open decrypts the record rec[0, len) in place: the plaintext is
 * rec[5, 5 + *plen) and *type its inner content type; 0, or WSP_EPROTO
 * (bad header, does not decrypt, no content type); d->seq advances only on
 * success. */
size_t tls13_seal(struct tls13_dir *d, int suite, uint8_t type, const void *p, size_t n,
                  uint8_t *out);
int tls13_open(struct tls13_dir *d, int suite, uint8_t *rec, size_t len, uint8_t *type,
               size_t *plen);

/* The transport contract (server/transport.h): read returns > 0 bytes, 0 at
 * EOF (close_notify or TCP FIN between records), WSP_EAGAIN, or a negative
 * error (WSP_EPROTO: the peer broke TLS; -errno). write returns the bytes
 * taken (0: the socket is full), or a negative error. */
ssize_t tls13_rec_read(struct tls13_rec *r, int fd, void *buf, size_t n);
ssize_t tls13_rec_write(struct tls13_rec *r, int fd, const void *p, size_t n);
/* Reading from bytes the caller took off the socket itself (the load
 * generator's io_uring receive): p[0, n) is the next part of the stream,
 * cut anywhere; each whole record is opened and its application data
 * handed to cb (which returns false to stop: the connection is gone). A
 * record cut at the end of p is kept until the next call brings its rest.
 * Returns 1 (all taken), 0 (the peer's close_notify), 2 (cb stopped), or a
 * negative error (WSP_EPROTO: the peer broke TLS, an alert sent to fd
 * where it takes it). Not mixed with tls13_rec_read on one struct. */
typedef bool (*tls13_plain_cb)(void *ctx, uint8_t *p, size_t n);
ssize_t tls13_rec_feed(struct tls13_rec *r, int fd, const uint8_t *p, size_t n, tls13_plain_cb cb,
                       void *ctx);

/* Batched sending (the fan-out hands many connections' records to the
 * kernel in one io_uring submission): tls13_rec_seal_out seals p[0, n) as
 * one application-data record into out (room for n + TLS13_OVERHEAD) for
 * a send the caller makes itself and returns its length, or 0 when it
 * cannot (bytes already held, the connection broken, n == 0 or over one
 * record): then write instead. tls13_rec_sent takes that send's result
 * (k bytes of out[0, len) taken, or -errno) and returns what
 * tls13_rec_write would have: n (all sent), 0 (the socket is full: the
 * rest of the record is held and counts as the caller's n bytes, which
 * the next write must bring again) or a negative error. One record per
 * connection between the two calls. */
size_t tls13_rec_seal_out(struct tls13_rec *r, const void *p, size_t n, uint8_t *out);
ssize_t tls13_rec_sent(struct tls13_rec *r, const uint8_t *out, size_t len, ssize_t k, size_t n);
/* close_notify, best effort (not when a record is held half sent). */
void tls13_rec_close_notify(struct tls13_rec *r, int fd);
/* Decrypted bytes not yet returned by read. */
size_t tls13_rec_pending(const struct tls13_rec *r);
/* Frees the buffers and wipes the keys; the struct may be reused. */
void tls13_rec_clear(struct tls13_rec *r);

#endif
