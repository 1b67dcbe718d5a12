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
 * after an error with an error. */
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

    uint8_t buf[700];
    size_t want = 1 + (n % sizeof buf);
    int ended = 0;
    for (int i = 0; i < 4096; i++) {
        ssize_t k = tls13_rec_read(&r, sv[0], buf, want);
        WSP_ASSERT(k <= (ssize_t)want);
        if (k > 0) {
            WSP_ASSERT(!ended);
            continue;
        }
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
    tls13_rec_clear(&r);
    tls13_rec_clear(&peer);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
