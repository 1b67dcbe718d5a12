/* fuzz_tls13rec.c - libFuzzer target for the TLS 1.3 record reader that
 * runs after the hand-over (tls/tls13rec.c): the bytes a client sends.
 *
 * Byte 0: bits 0-1 the suite, bit 6 the peer's FIN after its bytes, bit 7
 * the mode. Raw mode: the rest goes to the socket as it is (headers,
 * lengths, tags the fuzzer makes up). Sealed mode: the rest is items
 * [content type][length][bytes], each sealed into a record with the
 * peer's key, so what follows decryption is reached (alerts, handshake
 * messages, KeyUpdate and the keys after it, empty records, padding). The
 * reader runs until it waits, ends or fails; it must never return more
 * than asked, never return data after an error or EOF, and answer writes
 * after an error with an error. Bit 5: the reader is a client's end (a
 * NewSessionTicket is taken). Then the same bytes go through
 * tls13_rec_feed (the load generator's reader) in cuts of the fuzzer's
 * size: it must hand over exactly the application data the socket reader
 * returned, and end the same way. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/wsp_assert.h"
#include "tls/tls13rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static const int suites[4] = {TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384,
                              TLS13_CHACHA20_POLY1305_SHA256, TLS13_AES_128_GCM_SHA256};

static void keys(struct tls13_rec *r, struct tls13_rec *peer, int suite)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < TLS13_SECRET_MAX; i++) {
        r->rx.secret[i] = (uint8_t)i;
        r->tx.secret[i] = (uint8_t)(0x80 + i);
    }
    WSP_ASSERT(tls13_rec_start(r, suite) == 0);
    memset(peer, 0, sizeof *peer);
    memcpy(peer->tx.secret, r->rx.secret, TLS13_SECRET_MAX); /* what peer seals, r opens */
    memcpy(peer->rx.secret, r->tx.secret, TLS13_SECRET_MAX);
    WSP_ASSERT(tls13_rec_start(peer, suite) == 0);
}

static void put(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k <= 0)
            return; /* the socket is full: the rest is not sent */
        b += k;
        n -= (size_t)k;
    }
}

/* What the feeding reader hands over, checked against the socket reader's. */
struct fed {
    const uint8_t *want;
    size_t len, off;
};

static bool fed_cb(void *ctx, uint8_t *p, size_t n)
{
    struct fed *f = ctx;
    WSP_ASSERT(n <= TLS13_MAX_PLAIN);
    WSP_ASSERT(f->off + n <= f->len && memcmp(f->want + f->off, p, n) == 0);
    f->off += n;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 1 || n > 65536)
        return 0;
    int suite = suites[d[0] & 3];
    struct tls13_rec r, peer;
    keys(&r, &peer, suite);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        return 0;
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (d[0] & 0x80) {
        static uint8_t rec[TLS13_MAX_PLAIN + TLS13_OVERHEAD];
        for (size_t i = 1; i + 2 <= n;) {
            uint8_t type = d[i];
            size_t len = d[i + 1];
            i += 2;
            if (len > n - i)
                len = n - i;
            size_t k = tls13_seal(&peer.tx, suite, type, d + i, len, rec);
            WSP_ASSERT(k == len + TLS13_OVERHEAD);
            put(sv[1], rec, k);
            if (type == TLS13_CT_HANDSHAKE && len >= 5 && d[i] == 24) /* KeyUpdate sent */
                tls13_dir_update(&peer.tx, suite);
            i += len;
        }
    } else {
        put(sv[1], d + 1, n - 1);
    }
    if (d[0] & 0x40)
        shutdown(sv[1], SHUT_WR);

    /* the stream as sent, for the feeding reader */
    static uint8_t stream[1 << 20];
    size_t slen = 0;
    {
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0)
            abort();
        setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        ssize_t k;
        while (slen < sizeof stream && (k = read(sv[0], stream + slen, sizeof stream - slen)) > 0)
            slen += (size_t)k;
        put(sp[1], stream, slen);
        if (d[0] & 0x40)
            shutdown(sp[1], SHUT_WR);
        close(sv[0]);
        close(sv[1]);
        sv[0] = sp[0];
        sv[1] = sp[1];
    }
    r.client = (d[0] >> 5) & 1;
    struct tls13_rec f = r; /* the same keys, read by feeding */

    static uint8_t got[1 << 20];
    size_t glen = 0;
    uint8_t buf[700];
    size_t want = 1 + (n % sizeof buf);
    int ended = 0, end_kind = 1; /* 1: waits, 0: EOF, -1: error */
    for (int i = 0; i < (1 << 20); i++) {
        ssize_t k = tls13_rec_read(&r, sv[0], buf, want);
        WSP_ASSERT(k <= (ssize_t)want);
        if (k > 0) {
            WSP_ASSERT(!ended);
            WSP_ASSERT(glen + (size_t)k <= sizeof got);
            memcpy(got + glen, buf, (size_t)k);
            glen += (size_t)k;
            continue;
        }
        end_kind = k == WSP_EAGAIN ? 1 : k == 0 ? 0 : -1;
        if (k == WSP_EAGAIN)
            break;
        if (k == 0) {
            ended = 1; /* EOF: stays EOF */
            WSP_ASSERT(tls13_rec_read(&r, sv[0], buf, want) == 0);
            break;
        }
        if (r.state == TLS13_BROKEN) { /* an error stays an error, both ways */
            WSP_ASSERT(tls13_rec_read(&r, sv[0], buf, want) < 0);
            WSP_ASSERT(tls13_rec_write(&r, sv[0], "x", 1) < 0);
        }
        break;
    }
    /* the feeding reader over the same bytes: the same data, the same end */
    struct fed fd_out = {.want = got, .len = glen};
    ssize_t e = 1;
    for (size_t off = 0; off < slen && e == 1;) {
        size_t cut = slen - off < want ? slen - off : want;
        e = tls13_rec_feed(&f, sv[0], stream + off, cut, fed_cb, &fd_out);
        off += cut;
    }
    WSP_ASSERT(e != 2);
    WSP_ASSERT(fd_out.off == glen); /* every byte the socket reader returned */
    if (end_kind == 0)
        WSP_ASSERT(e == 0 || (d[0] & 0x40)); /* close_notify; a FIN is not a record */
    if (end_kind == -1 && r.state == TLS13_BROKEN && !(d[0] & 0x40))
        WSP_ASSERT(e < 0);
    if (e < 0)
        WSP_ASSERT(tls13_rec_feed(&f, sv[0], (const uint8_t *)"x", 1, fed_cb, &fd_out) < 0);
    tls13_rec_clear(&f);
    tls13_rec_clear(&r);
    tls13_rec_clear(&peer);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
