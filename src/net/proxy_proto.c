/* proxy_proto.c - PROXY protocol v1/v2 headers, trusted-address lists and
 * X-Forwarded-For (see proxy_proto.h; the format is HAProxy's
 * doc/proxy-protocol.txt).
 *
 * Pure functions over byte buffers: no sockets, no allocation, no state
 * between calls, and nothing read past the length given. What it does not
 * do: decide who may send a header (the caller checks the peer against
 * the trusted list first) or read from sockets.
 *
 * Invariant: a proper prefix of a header that can still be valid answers
 * WSP_EAGAIN; a byte that makes it invalid answers WSP_EPROTO as soon as
 * it has arrived, so the caller never waits for bytes that cannot help. */
#include "net/proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/err.h"

static const uint8_t v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_AF_UNSPEC 0x0
#define V2_AF_INET 0x1
#define V2_AF_INET6 0x2
#define V2_AF_UNIX 0x3
#define V2_TP_STREAM 0x1

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- v1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n" ---- */

/* A decimal port, 0..65535, no leading zeros (spec §2.1). */
static int v1_port(const uint8_t *p, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
        return WSP_EPROTO;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return WSP_EPROTO;
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (v > 65535)
        return WSP_EPROTO;
    *port = (uint16_t)v;
    return 0;
}

/* An address literal of family af into ss (port left 0). */
static int addr_literal(int af, const uint8_t *p, size_t n, struct sockaddr_storage *ss)
{
    char tmp[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof tmp)
        return WSP_EPROTO;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    memset(ss, 0, sizeof *ss);
    if (af == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, tmp, &a->sin_addr) != 1)
            return WSP_EPROTO;
        a->sin_family = AF_INET;
        return 0;
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, tmp, &a->sin6_addr) != 1)
        return WSP_EPROTO;
    a->sin6_family = AF_INET6;
    return 0;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* The line between "PROXY " and CRLF: line[0..n). */
static int v1_line(const uint8_t *line, size_t n, struct proxy_hdr *h)
{
    const uint8_t *tok[5];
    size_t tlen[5];
    size_t nt = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && line[i] != ' ')
            continue;
        if (nt == 5)
            return WSP_EPROTO;
        tok[nt] = line + start;
        tlen[nt++] = i - start;
        start = i + 1;
        if (nt == 1 && tlen[0] == 7 && !memcmp(tok[0], "UNKNOWN", 7)) {
            /* §2.1: the rest of the line is to be ignored */
            h->local = true;
            return 0;
        }
    }
    int af;
    if (tlen[0] == 4 && !memcmp(tok[0], "TCP4", 4))
        af = AF_INET;
    else if (tlen[0] == 4 && !memcmp(tok[0], "TCP6", 4))
        af = AF_INET6;
    else
        return WSP_EPROTO;
    uint16_t sp, dp;
    if (nt != 5 || addr_literal(af, tok[1], tlen[1], &h->src) < 0 ||
        addr_literal(af, tok[2], tlen[2], &h->dst) < 0 || v1_port(tok[3], tlen[3], &sp) < 0 ||
        v1_port(tok[4], tlen[4], &dp) < 0)
        return WSP_EPROTO;
    set_port(&h->src, sp);
    set_port(&h->dst, dp);
    return 0;
}

static ssize_t parse_v1(const uint8_t *buf, size_t len, struct proxy_hdr *h)
{
    size_t scan = min_sz(len, PROXY_V1_MAX_BYTES);
    for (size_t i = sizeof v1_sig; i < scan; i++) {
        if (buf[i] == '\n') {
            if (buf[i - 1] != '\r')
                return WSP_EPROTO;
            memset(h, 0, sizeof *h);
            h->version = 1;
            if (v1_line(buf + sizeof v1_sig, i - 1 - sizeof v1_sig, h) < 0)
                return WSP_EPROTO;
            return (ssize_t)(i + 1);
        }
        /* printable ASCII only; CR only right before LF */
        if (buf[i] == '\r' ? i + 1 < scan && buf[i + 1] != '\n' : buf[i] < 0x20 || buf[i] > 0x7e)
            return WSP_EPROTO;
    }
    return len >= PROXY_V1_MAX_BYTES ? WSP_EPROTO : WSP_EAGAIN;
}

/* ---- v2: 16 fixed bytes, then addresses and TLVs ---- */

static ssize_t parse_v2(const uint8_t *buf, size_t len, struct proxy_hdr *h)
{
    if (len < 13)
        return WSP_EAGAIN;
    uint8_t ver = buf[12] >> 4, cmd = buf[12] & 0x0f;
    if (ver != 2 || (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY))
        return WSP_EPROTO;
    if (len < 14)
        return WSP_EAGAIN;
    uint8_t af = buf[13] >> 4, tp = buf[13] & 0x0f;
    if (af > V2_AF_UNIX || tp > 2)
        return WSP_EPROTO;
    /* a TCP server has no use for a datagram's addresses */
    bool inet = af == V2_AF_INET || af == V2_AF_INET6;
    if (cmd == V2_CMD_PROXY && inet && tp != V2_TP_STREAM)
        return WSP_EPROTO;
    if (len < PROXY_V2_FIXED_BYTES)
        return WSP_EAGAIN;
    size_t body = (size_t)buf[14] << 8 | buf[15];
    static const size_t need[4] = {0, 12, 36, 216}; /* §2.2: address block sizes */
    if (cmd == V2_CMD_PROXY && body < need[af])
        return WSP_EPROTO;
    size_t total = PROXY_V2_FIXED_BYTES + body;
    if (len < total)
        return WSP_EAGAIN;
    memset(h, 0, sizeof *h);
    h->version = 2;
    /* LOCAL: the proxy's own connection (a health check): §2.2 says the
     * address block is to be ignored, whatever its family */
    if (cmd == V2_CMD_LOCAL || !inet) {
        h->local = true;
        return (ssize_t)total;
    }
    const uint8_t *a = buf + PROXY_V2_FIXED_BYTES;
    if (af == V2_AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&h->src, *d = (struct sockaddr_in *)&h->dst;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&d->sin_addr, a + 4, 4);
        memcpy(&s->sin_port, a + 8, 2); /* both already in network order */
        memcpy(&d->sin_port, a + 10, 2);
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src,
                            *d = (struct sockaddr_in6 *)&h->dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        memcpy(&d->sin6_addr, a + 16, 16);
        memcpy(&s->sin6_port, a + 32, 2);
        memcpy(&d->sin6_port, a + 34, 2);
    }
    return (ssize_t)total; /* TLVs (ALPN, authority, CRC, SSL...) skipped */
}

ssize_t proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *h)
{
    if (len == 0)
        return WSP_EAGAIN;
    if (buf[0] == 'P') {
        size_t k = min_sz(len, sizeof v1_sig);
        if (memcmp(buf, v1_sig, k))
            return WSP_EPROTO;
        return len <= sizeof v1_sig ? WSP_EAGAIN : parse_v1(buf, len, h);
    }
    size_t k = min_sz(len, sizeof v2_sig);
    if (memcmp(buf, v2_sig, k))
        return WSP_EPROTO;
    return parse_v2(buf, len, h);
}

int proxy_sniff(const uint8_t *buf, size_t len)
{
    if (len == 0)
        return WSP_EAGAIN;
    const uint8_t *sig = buf[0] == 'P' ? v1_sig : v2_sig;
    size_t k = min_sz(len, sizeof v1_sig); /* 6 bytes tell either apart from HTTP/TLS */
    if (memcmp(buf, sig, k))
        return 0;
    return k < sizeof v1_sig ? WSP_EAGAIN : 1;
}

/* ---- trusted addresses ---- */

static void key_of(const struct sockaddr *sa, uint8_t out[16], bool *ok)
{
    *ok = true;
    if (sa->sa_family == AF_INET) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        *ok = false;
    }
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full))
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

int proxy_cidr_parse(const char *s, struct proxy_cidr *out)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    struct sockaddr_storage ss;
    bool v4 = memchr(s, ':', alen) == NULL;
    if (addr_literal(v4 ? AF_INET : AF_INET6, (const uint8_t *)s, alen, &ss) < 0)
        return WSP_EINVAL;
    unsigned max = v4 ? 32 : 128, bits = max;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3)
            return WSP_EINVAL;
        bits = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return WSP_EINVAL;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (bits > max)
            return WSP_EINVAL;
    }
    bool ok;
    key_of((const struct sockaddr *)&ss, out->addr, &ok);
    out->bits = (uint8_t)(v4 ? 96 + bits : bits);
    /* host bits must be zero */
    for (unsigned b = out->bits; b < 128; b++)
        if (out->addr[b / 8] & (0x80 >> (b % 8)))
            return WSP_EINVAL;
    return ok ? 0 : WSP_EINVAL;
}

bool proxy_cidr_match(const struct proxy_cidr *list, size_t n, const struct sockaddr *peer)
{
    uint8_t key[16];
    bool ok;
    key_of(peer, key, &ok);
    if (!ok)
        return false;
    for (size_t i = 0; i < n; i++)
        if (prefix_eq(key, list[i].addr, list[i].bits))
            return true;
    return false;
}

/* One X-Forwarded-For entry: "v4", "v4:port", "v6", "[v6]" or "[v6]:port". */
static int xff_entry(const uint8_t *p, size_t n, struct sockaddr_storage *out)
{
    if (n && p[0] == '[') {
        const uint8_t *close = memchr(p, ']', n);
        if (!close)
            return WSP_EPROTO;
        size_t after = n - (size_t)(close - p) - 1;
        uint16_t port;
        if (after && (close[1] != ':' || v1_port(close + 2, after - 1, &port) < 0))
            return WSP_EPROTO;
        return addr_literal(AF_INET6, p + 1, (size_t)(close - p) - 1, out);
    }
    const uint8_t *colon = memchr(p, ':', n);
    if (colon && memchr(colon + 1, ':', n - (size_t)(colon - p) - 1))
        return addr_literal(AF_INET6, p, n, out); /* a bare IPv6 literal */
    if (colon) {
        uint16_t port;
        if (v1_port(colon + 1, n - (size_t)(colon - p) - 1, &port) < 0)
            return WSP_EPROTO;
        n = (size_t)(colon - p);
    }
    return addr_literal(AF_INET, p, n, out);
}

int proxy_xff_client(const char *value, size_t len, const struct proxy_cidr *trusted, size_t n,
                     struct sockaddr_storage *out)
{
    const uint8_t *v = (const uint8_t *)value;
    size_t end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && v[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        end = start ? start - 1 : 0;
        if (a == b)
            continue; /* an empty list element (RFC 9110 §5.6.1 allows them) */
        struct sockaddr_storage ss;
        if (xff_entry(v + a, b - a, &ss) < 0)
            return WSP_EPROTO;
        if (proxy_cidr_match(trusted, n, (const struct sockaddr *)&ss))
            continue;
        *out = ss;
        return 0;
    }
    return WSP_EAGAIN;
}
