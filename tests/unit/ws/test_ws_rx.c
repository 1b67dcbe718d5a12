/* test_ws_rx.c - the streaming inbound processor.
 *
 * Table-driven: each case is a sequence of frames, fed whole, split in two
 * at every byte position, and one byte at a time, in both streaming and
 * keep_payload modes; every run must give the same events, result and
 * close code, and hold no state between messages. Each piece is fed from
 * an exact-size heap copy, so ASan catches any read past the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ws/ws_deflate.h"
#include "ws/ws_frame.h"
#include "ws/ws_rx.h"

/* ---- event recorder ---- */

struct rec {
    bool keep;
    bool deflate;   /* compressed messages possible: on_message without on_data */
    char out[1024]; /* canonical rendering, mode-independent */
    size_t outn;
    uint8_t *acc; /* streaming: the current message's on_data bytes */
    size_t accn, acccap;
    uint8_t acc_op;
    bool acc_started;
    uint8_t *raw; /* every callback in order, on_data pieces merged */
    size_t rawn, rawcap;
    size_t raw_last_d; /* offset of the last event if it is a data event */
    size_t raw_stable; /* log length after the last non-data event */
};

static void grow(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    *p = realloc(*p, c);
    assert_non_null(*p);
    *cap = c;
}

static void put(struct rec *r, const char *s)
{
    size_t n = strlen(s);
    assert_true(r->outn + n < sizeof r->out);
    memcpy(r->out + r->outn, s, n + 1);
    r->outn += n;
}

static void put_bytes(struct rec *r, const uint8_t *p, size_t n)
{
    char t[32];
    size_t show = n > 48 ? 16 : n;
    for (size_t i = 0; i < show; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '|') {
            t[0] = (char)p[i];
            t[1] = 0;
        } else {
            snprintf(t, sizeof t, "\\x%02x", p[i]);
        }
        put(r, t);
    }
    if (show < n) {
        snprintf(t, sizeof t, "..#%zu", n);
        put(r, t);
    }
}

static void raw_event(struct rec *r, char kind, uint8_t op, const uint8_t *p, size_t n)
{
    grow(&r->raw, &r->rawcap, r->rawn + 3 + sizeof(size_t) + n);
    r->raw[r->rawn] = (uint8_t)kind;
    r->raw[r->rawn + 1] = op;
    r->raw[r->rawn + 2] = 0;
    memcpy(r->raw + r->rawn + 3, &n, sizeof n);
    if (n)
        memcpy(r->raw + r->rawn + 3 + sizeof n, p, n);
    size_t at = r->rawn;
    r->rawn += 3 + sizeof n + n;
    if (kind == 'D') {
        r->raw_last_d = at;
    } else {
        r->raw_last_d = SIZE_MAX;
        r->raw_stable = r->rawn;
    }
}

static void on_message(void *ctx, uint8_t op, const uint8_t *p, size_t n)
{
    struct rec *r = ctx;
    char t[16];
    snprintf(t, sizeof t, "M%u:", op);
    put(r, t);
    if (r->keep) {
        assert_non_null(p);
        put_bytes(r, p, n);
    } else if (r->deflate && n && !r->acc_started) {
        /* a compressed message: no on_data, only its inflated length */
        char len[32];
        assert_null(p);
        snprintf(len, sizeof len, "#%zu", n);
        put(r, len);
    } else {
        assert_null(p);
        assert_int_equal(n, r->accn);
        if (n)
            assert_int_equal(op, r->acc_op);
        put_bytes(r, r->acc, r->accn);
    }
    put(r, "|");
    raw_event(r, 'M', op, r->keep ? p : NULL, r->keep ? n : 0);
    r->accn = 0;
    r->acc_started = false;
}

static void on_data(void *ctx, uint8_t op, const uint8_t *p, size_t n, bool first)
{
    struct rec *r = ctx;
    assert_false(r->keep);
    assert_true(n > 0);
    assert_true(op == WS_OP_TEXT || op == WS_OP_BINARY);
    if (first) {
        assert_false(r->acc_started);
        r->acc_started = true;
        r->acc_op = op;
    } else {
        assert_true(r->acc_started);
        assert_int_equal(op, r->acc_op);
    }
    grow(&r->acc, &r->acccap, r->accn + n);
    memcpy(r->acc + r->accn, p, n);
    r->accn += n;
    if (!first && r->raw_last_d != SIZE_MAX) { /* merge with the previous piece */
        size_t len;
        memcpy(&len, r->raw + r->raw_last_d + 3, sizeof len);
        grow(&r->raw, &r->rawcap, r->rawn + n);
        memcpy(r->raw + r->rawn, p, n);
        r->rawn += n;
        len += n;
        memcpy(r->raw + r->raw_last_d + 3, &len, sizeof len);
    } else {
        raw_event(r, 'D', op, p, n);
        r->raw[r->raw_last_d + 2] = first;
    }
}

static void on_ctl(struct rec *r, char kind, const uint8_t *p, size_t n)
{
    char t[4] = {kind, ':', 0, 0};
    assert_true(n <= WS_MAX_CONTROL);
    assert_true(n == 0 || p != NULL);
    put(r, t);
    put_bytes(r, p, n);
    put(r, "|");
    raw_event(r, kind, 0, p, n);
}

static void on_ping(void *ctx, const uint8_t *p, size_t n)
{
    on_ctl(ctx, 'P', p, n);
}
static void on_pong(void *ctx, const uint8_t *p, size_t n)
{
    on_ctl(ctx, 'O', p, n);
}

static void on_close(void *ctx, uint16_t code, const uint8_t *p, size_t n)
{
    struct rec *r = ctx;
    char t[16];
    assert_true(n <= WS_MAX_CONTROL - 2);
    snprintf(t, sizeof t, "C%u:", code);
    put(r, t);
    put_bytes(r, p, n);
    put(r, "|");
    raw_event(r, 'C', 0, p, n);
}

static const struct ws_rx_ops ops = {on_message, on_data, on_ping, on_pong, on_close};

static void rec_init(struct rec *r, bool keep)
{
    memset(r, 0, sizeof *r);
    r->keep = keep;
    r->deflate = false;
    r->raw_last_d = SIZE_MAX;
}

static void rec_release(struct rec *r)
{
    free(r->acc);
    free(r->raw);
}

/* ---- cases ---- */

struct fspec {
    uint8_t b0;         /* FIN, RSV, opcode as on the wire */
    const char *pl;     /* payload */
    int n;              /* -1: strlen(pl) */
    bool unmasked;      /* send without a mask */
    const uint8_t *raw; /* or: these bytes verbatim */
    size_t raw_n;
};

#define F(b0, s)                                                                                   \
    {                                                                                              \
        (b0), (s), -1, false, NULL, 0                                                              \
    }
#define FN(b0, s, n)                                                                               \
    {                                                                                              \
        (b0), (s), (n), false, NULL, 0                                                             \
    }
#define FU(b0, s)                                                                                  \
    {                                                                                              \
        (b0), (s), -1, true, NULL, 0                                                               \
    }
#define FNU(b0, s, n)                                                                              \
    {                                                                                              \
        (b0), (s), (n), true, NULL, 0                                                              \
    }
#define RAW(...)                                                                                   \
    {                                                                                              \
        0, NULL, 0, false, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})  \
    }

struct rx_case {
    const char *name;
    struct fspec f[8];
    bool client;
    uint64_t max;
    int rc;
    uint16_t code;
    const char *events;
    bool busy;                 /* the input ends inside a message: state is held */
    bool deflate;              /* permessage-deflate negotiated (an inflater) */
    const char *events_nokeep; /* without keep_payload, if different */
    bool nokeep_ok;            /* without keep_payload: WS_RX_OK (a dropped
                                  compressed message is never inflated) */
};

/* The worker's shared inflater, for every deflate case. */
static struct ws_inflater *inflater;

static char big[70000];    /* 'a' + i % 26 */
static char close125[125]; /* code 1000 + 123 bytes of reason */

#define EPROTO_1002 .rc = WSP_EPROTO, .code = 1002, .events = ""
#define EPROTO_1007 .rc = WSP_EPROTO, .code = 1007, .events = ""
#define ETOOBIG_1009 .rc = WSP_ETOOBIG, .code = 1009, .events = ""
#define CLOSED(ev) .rc = WS_RX_CLOSED, .events = (ev)
#define OK(ev) .rc = WS_RX_OK, .events = (ev)
/* deflate: keep_payload sees the bytes, streaming only the length */
#define DOK(ev, evn) .deflate = true, .rc = WS_RX_OK, .events = (ev), .events_nokeep = (evn)
#define D .deflate = true
/* ... and a compressed message that fails only when inflated: streaming
 * drops it unread and reports its compressed length */
#define DROP(evn) .nokeep_ok = true, .events_nokeep = (evn)
#define HELLO_C "\xf2\x48\xcd\xc9\xc9\x07\x00"                 /* RFC 7692 §7.2.3.1 */
#define A1000_C "\x4a\x4c\x1c\x05\xa3\x60\x14\x0c\x77\x00\x00" /* 1000 x 'a' */
#define FF_C "\xfa\x0f\x00"                                    /* one 0xff byte */

/* clang-format off */
static const struct rx_case cases[] = {
    /* §5.7 examples, byte for byte */
    {"rfc masked Hello", {RAW(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58)},
     OK("M1:Hello|")},
    {"rfc unmasked Hello (client)", {RAW(0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f)},
     .client = true, OK("M1:Hello|")},
    {"rfc fragmented (client)",
     {RAW(0x01, 0x03, 0x48, 0x65, 0x6c), RAW(0x80, 0x02, 0x6c, 0x6f)}, .client = true,
     OK("M1:Hello|")},
    {"rfc unmasked ping (client)", {RAW(0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f)},
     .client = true, OK("P:Hello|")},
    {"rfc masked pong", {RAW(0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58)},
     OK("O:Hello|")},
    {"rfc unmasked ping to server", {RAW(0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f)}, EPROTO_1002},
    /* lengths */
    {"126 bytes, 16-bit length", {FN(0x81, big, 126)}, OK("M1:abcdefghijklmnop..#126|")},
    {"256 bytes, 16-bit length", {FN(0x82, big, 256)}, OK("M2:abcdefghijklmnop..#256|")},
    {"65535 bytes, 16-bit length", {FN(0x82, big, 65535)}, OK("M2:abcdefghijklmnop..#65535|")},
    {"64KiB, 64-bit length", {FN(0x82, big, 65536)}, OK("M2:abcdefghijklmnop..#65536|")},
    {"64KiB, 64-bit length (client)", {FNU(0x82, big, 65536)}, .client = true,
     OK("M2:abcdefghijklmnop..#65536|")},
    {"non-minimal 16-bit length",
     {RAW(0x81, 0xfe, 0x00, 0x05, 0, 0, 0, 0, 'H', 'e', 'l', 'l', 'o')}, OK("M1:Hello|")},
    {"non-minimal 64-bit length",
     {RAW(0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 'h', 'i')}, OK("M2:hi|")},
    {"64-bit length MSB set",
     {RAW(0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e')},
     EPROTO_1002},
    {"64-bit length MSB set (client)", {RAW(0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0)},
     .client = true, EPROTO_1002},
    /* masking */
    {"unmasked client frame", {FU(0x81, "Hi")}, EPROTO_1002},
    {"masked frame to client", {F(0x81, "Hi")}, .client = true, EPROTO_1002},
    {"client side close", {FU(0x88, "\x03\xe8")}, .client = true, CLOSED("C1000:|")},
    /* reserved opcodes and bits */
    {"opcode 3", {F(0x83, "x")}, EPROTO_1002},
    {"opcode 7", {F(0x87, "")}, EPROTO_1002},
    {"opcode B", {F(0x8b, "x")}, EPROTO_1002},
    {"opcode F", {F(0x8f, "x")}, EPROTO_1002},
    {"opcode 3 non-FIN", {F(0x03, "x")}, EPROTO_1002},
    {"RSV1", {F(0xc1, "x")}, EPROTO_1002},
    {"RSV2", {F(0xa1, "x")}, EPROTO_1002},
    {"RSV3", {F(0x91, "x")}, EPROTO_1002},
    {"ping then reserved opcode", {F(0x89, "p"), F(0x83, "")}, .rc = WSP_EPROTO, .code = 1002,
     .events = "P:p|"},
    /* control frames */
    {"ping 125", {FN(0x89, big, 125)}, OK("P:abcdefghijklmnop..#125|")},
    {"ping 126", {FN(0x89, big, 126)}, EPROTO_1002},
    {"empty ping and pong", {F(0x89, ""), F(0x8a, "")}, OK("P:|O:|")},
    {"fragmented ping", {F(0x09, "x"), F(0x80, "y")}, EPROTO_1002},
    {"fragmented close", {F(0x08, "\x03\xe8"), F(0x80, "")}, EPROTO_1002},
    {"close no payload", {F(0x88, "")}, CLOSED("C1005:|")},
    {"close 1000 bye", {F(0x88, "\x03\xe8" "bye")}, CLOSED("C1000:bye|")},
    {"close 125 bytes", {FN(0x88, close125, 125)}, CLOSED("C1000:abcdefghijklmnop..#123|")},
    {"close 1-byte payload", {FN(0x88, "\x03", 1)}, EPROTO_1002},
    {"close 1001", {F(0x88, "\x03\xe9")}, CLOSED("C1001:|")},
    {"close 1003", {F(0x88, "\x03\xeb")}, CLOSED("C1003:|")},
    {"close 1007", {F(0x88, "\x03\xef")}, CLOSED("C1007:|")},
    {"close 1014", {F(0x88, "\x03\xf6")}, CLOSED("C1014:|")},
    {"close 3000", {F(0x88, "\x0b\xb8")}, CLOSED("C3000:|")},
    {"close 4999", {F(0x88, "\x13\x87")}, CLOSED("C4999:|")},
    {"close 0", {FN(0x88, "\x00\x00", 2)}, EPROTO_1002},
    {"close 999", {F(0x88, "\x03\xe7")}, EPROTO_1002},
    {"close 1004", {F(0x88, "\x03\xec")}, EPROTO_1002},
    {"close 1005", {F(0x88, "\x03\xed")}, EPROTO_1002},
    {"close 1006", {F(0x88, "\x03\xee")}, EPROTO_1002},
    {"close 1015", {F(0x88, "\x03\xf7")}, EPROTO_1002},
    {"close 1016", {F(0x88, "\x03\xf8")}, EPROTO_1002},
    {"close 2999", {F(0x88, "\x0b\xb7")}, EPROTO_1002},
    {"close 5000", {F(0x88, "\x13\x88")}, EPROTO_1002},
    {"close 65535", {F(0x88, "\xff\xff")}, EPROTO_1002},
    {"close invalid UTF-8 reason", {F(0x88, "\x03\xe8\xff")}, EPROTO_1007},
    {"close truncated UTF-8 reason", {F(0x88, "\x03\xe8" "a\xe2\x82")}, EPROTO_1007},
    {"close UTF-8 reason", {F(0x88, "\x03\xe8\xe2\x82\xac")}, CLOSED("C1000:\\xe2\\x82\\xac|")},
    {"data after close ignored", {F(0x88, "\x03\xe8"), F(0x81, "after"), RAW(0xff, 0xff)},
     CLOSED("C1000:|")},
    {"ping before close", {F(0x89, "p"), F(0x88, "")}, CLOSED("P:p|C1005:|")},
    {"close inside fragmented message", {F(0x01, "a"), F(0x88, "\x03\xe9")}, CLOSED("C1001:|")},
    /* fragmentation */
    {"CONT without message", {F(0x80, "x")}, EPROTO_1002},
    {"CONT without message, non-FIN", {F(0x00, "x")}, EPROTO_1002},
    {"CONT after complete message", {F(0x81, "a"), F(0x80, "b")}, .rc = WSP_EPROTO, .code = 1002,
     .events = "M1:a|"},
    {"TEXT inside fragmented message", {F(0x01, "a"), F(0x81, "b")}, EPROTO_1002},
    {"BINARY inside fragmented message", {F(0x02, "a"), F(0x02, "b")}, EPROTO_1002},
    {"interleaved ping", {F(0x01, "Hel"), F(0x89, "p"), F(0x80, "lo")}, OK("P:p|M1:Hello|")},
    {"interleaved pong and ping, 3 fragments",
     {F(0x02, "ab"), F(0x8a, ""), F(0x00, "cd"), F(0x89, "x"), F(0x80, "ef")},
     OK("O:|P:x|M2:abcdef|")},
    {"empty fragments", {F(0x01, ""), F(0x00, ""), F(0x80, "")}, OK("M1:|")},
    {"message in progress at the end", {F(0x01, "Hel"), F(0x89, "")}, OK("P:|"), .busy = true},
    {"several messages", {F(0x81, "a"), F(0x82, "b"), F(0x8a, ""), F(0x81, "c")},
     OK("M1:a|M2:b|O:|M1:c|")},
    {"empty text", {F(0x81, "")}, OK("M1:|")},
    /* UTF-8 */
    {"UTF-8 char split across fragments", {F(0x01, "a\xe2\x82"), F(0x00, "\xac b"), F(0x80, "c")},
     OK("M1:a\\xe2\\x82\\xac bc|")},
    {"4-byte char one byte per fragment",
     {F(0x01, "\xf0"), F(0x00, "\x9f"), F(0x00, "\x98"), F(0x80, "\x80")},
     OK("M1:\\xf0\\x9f\\x98\\x80|")},
    {"invalid UTF-8 in continuation", {F(0x01, "ok"), F(0x80, "\xff")}, EPROTO_1007},
    {"invalid UTF-8 fails before FIN", {F(0x01, "ab\xc0\xaf")}, EPROTO_1007},
    {"surrogate split across fragments", {F(0x01, "a\xed"), F(0x80, "\xa0\x80")}, EPROTO_1007},
    {"invalid UTF-8 after interleaved ping", {F(0x01, "ab"), F(0x89, "p"), F(0x80, "c\xff")},
     .rc = WSP_EPROTO, .code = 1007, .events = "P:p|"},
    {"truncated UTF-8 at FIN", {F(0x81, "a\xe2\x82")}, EPROTO_1007},
    {"truncated UTF-8 at final fragment", {F(0x01, "a\xe2"), F(0x80, "\x82")}, EPROTO_1007},
    {"above U+10FFFF", {F(0x81, "\xf4\x90\x80\x80")}, EPROTO_1007},
    {"overlong in long ASCII text", {F(0x81, "0123456789abcdefghijklmnopqrstuvwxyz\xc0\xaf")},
     EPROTO_1007},
    {"binary is not UTF-8 checked", {F(0x82, "\xff\xfe")}, OK("M2:\\xff\\xfe|")},
    /* limits */
    {"at the limit", {FN(0x81, big, 100)}, .max = 100, OK("M1:abcdefghijklmnop..#100|")},
    {"over the limit", {FN(0x81, big, 101)}, .max = 100, ETOOBIG_1009},
    {"at the limit over fragments", {FN(0x01, big, 60), FN(0x80, big, 40)}, .max = 100,
     OK("M1:abcdefghijklmnop..#100|")},
    {"over the limit over fragments", {FN(0x01, big, 60), FN(0x00, big, 41), F(0x80, "")},
     .max = 100, ETOOBIG_1009},
    {"limit does not apply to control frames", {FN(0x89, big, 20), F(0x81, "ok")}, .max = 10,
     OK("P:abcdefghijklmnopqrst|M1:ok|")},
    {"huge declared length", {RAW(0x82, 0xff, 0, 0, 0x10, 0, 0, 0, 0, 0, 1, 2, 3, 4, 'x')},
     .max = 1 << 20, ETOOBIG_1009},
    /* permessage-deflate (RFC 7692) */
    {"RSV1 without negotiation", {FN(0xc1, HELLO_C, 7)}, EPROTO_1002},
    {"deflate rfc Hello", {FN(0xc1, HELLO_C, 7)}, DOK("M1:Hello|", "M1:#7|")},
    {"deflate rfc Hello (client)", {FNU(0xc1, HELLO_C, 7)}, .client = true,
     DOK("M1:Hello|", "M1:#7|")},
    {"deflate rfc fragmented", {FN(0x41, HELLO_C, 3), FN(0x80, &HELLO_C[3], 4)},
     DOK("M1:Hello|", "M1:#7|")},
    {"deflate fragmented, ping between",
     {FN(0x41, HELLO_C, 3), F(0x89, "p"), FN(0x00, &HELLO_C[3], 2), FN(0x80, &HELLO_C[5], 2)},
     DOK("P:p|M1:Hello|", "P:p|M1:#7|")},
    {"deflate empty fragments", {FN(0x41, "", 0), FN(0x00, HELLO_C, 7), FN(0x80, "", 0)},
     DOK("M1:Hello|", "M1:#7|")},
    {"deflate stored block", {FN(0xc1, "\x00\x05\x00\xfa\xff" "Hello" "\x00", 11)},
     DOK("M1:Hello|", "M1:#11|")},
    {"deflate BFINAL block", {FN(0xc1, "\xf3\x48\xcd\xc9\xc9\x07\x00\x00", 8)},
     DOK("M1:Hello|", "M1:#8|")},
    {"deflate empty message", {FN(0xc1, "\x00", 1)}, DOK("M1:|", "M1:#1|")},
    {"deflate empty payload", {FN(0xc2, "", 0)}, DOK("M2:|", "M2:|")},
    {"deflate binary", {FN(0xc2, FF_C, 3)}, DOK("M2:\\xff|", "M2:#3|")},
    {"deflate UTF-8 text", {FN(0xc1, "\x00\x03\x00\xfc\xff\xe2\x82\xac\x00", 9)},
     DOK("M1:\\xe2\\x82\\xac|", "M1:#9|")},
    {"deflate and plain messages mixed", {F(0x81, "plain"), FN(0xc1, HELLO_C, 7), F(0x82, "b")},
     DOK("M1:plain|M1:Hello|M2:b|", "M1:plain|M1:#7|M2:b|")},
    {"deflate plain fragmented", {F(0x01, "ab"), F(0x8a, ""), F(0x80, "c")},
     DOK("O:|M1:abc|", "O:|M1:abc|")},
    {"deflate message in progress", {FN(0x41, HELLO_C, 3)}, DOK("", ""), .busy = true},
    {"deflate close inside compressed message", {FN(0x41, HELLO_C, 3), F(0x88, "\x03\xe8")},
     D, CLOSED("C1000:|")},
    {"deflate RSV1 on continuation", {FN(0x41, HELLO_C, 3), FN(0xc0, &HELLO_C[3], 4)}, D,
     EPROTO_1002},
    {"deflate RSV1 on continuation of plain", {F(0x01, "a"), F(0xc0, "b")}, D, EPROTO_1002},
    {"deflate RSV1 on ping", {F(0xc9, "p")}, D, EPROTO_1002},
    {"deflate RSV1 on pong", {F(0xca, "")}, D, EPROTO_1002},
    {"deflate RSV1 on close", {F(0xc8, "\x03\xe8")}, D, EPROTO_1002},
    {"deflate RSV1 on ping inside compressed message", {FN(0x41, HELLO_C, 3), F(0xc9, "p")}, D,
     EPROTO_1002},
    {"deflate RSV2", {F(0xa1, "x")}, D, EPROTO_1002},
    {"deflate RSV3", {F(0x91, "x")}, D, EPROTO_1002},
    {"deflate RSV1+RSV2", {F(0xe1, "x")}, D, EPROTO_1002},
    {"deflate corrupt", {F(0xc1, "\x07")}, D, EPROTO_1007, DROP("M1:#1|")},
    {"deflate truncated", {FN(0xc1, HELLO_C, 4)}, D, EPROTO_1007, DROP("M1:#4|")},
    {"deflate no context takeover", {FN(0xc1, HELLO_C, 7), FN(0xc1, "\xf2\x00\x11\x00\x00", 5)},
     D, .rc = WSP_EPROTO, .code = 1007, .events = "M1:Hello|", DROP("M1:#7|M1:#5|")},
    {"deflate invalid UTF-8 text", {FN(0xc1, FF_C, 3)}, D, EPROTO_1007, DROP("M1:#3|")},
    {"deflate truncated UTF-8 text", {FN(0xc1, "\x00\x03\x00\xfc\xff" "a\xe2\x82" "\x00", 9)},
     D, EPROTO_1007, DROP("M1:#9|")},
    {"deflate bomb", {FN(0xc2, A1000_C, 11)}, .max = 999, D, ETOOBIG_1009, DROP("M2:#11|")},
    {"deflate inflated at the limit", {FN(0xc2, A1000_C, 11)}, .max = 1000,
     DOK("M2:aaaaaaaaaaaaaaaa..#1000|", "M2:#11|")},
    {"deflate compressed over the limit", {FN(0xc1, HELLO_C, 7)}, .max = 6, D, ETOOBIG_1009},
    {"deflate compressed over the limit over fragments",
     {FN(0x41, HELLO_C, 4), FN(0x80, &HELLO_C[4], 3)}, .max = 6, D, ETOOBIG_1009},
};
/* clang-format on */

static uint8_t *build(const struct rx_case *c, size_t *len)
{
    size_t cap = 0;
    for (size_t i = 0; i < 8 && (c->f[i].pl || c->f[i].raw); i++)
        cap += WS_MAX_HEADER + (c->f[i].raw     ? c->f[i].raw_n
                                : c->f[i].n < 0 ? strlen(c->f[i].pl)
                                                : (size_t)c->f[i].n);
    uint8_t *out = malloc(cap ? cap : 1);
    assert_non_null(out);
    size_t n = 0;
    for (size_t i = 0; i < 8 && (c->f[i].pl || c->f[i].raw); i++) {
        const struct fspec *s = &c->f[i];
        if (s->raw) {
            memcpy(out + n, s->raw, s->raw_n);
            n += s->raw_n;
            continue;
        }
        size_t pn = s->n < 0 ? strlen(s->pl) : (size_t)s->n;
        uint8_t key[4] = {(uint8_t)(0x37 + i), 0xfa, (uint8_t)(0x21 ^ i), 0x3d};
        size_t h = ws_frame_header_encode(out + n, s->b0 & 0x80, s->b0 & 0x0f, pn,
                                          s->unmasked ? NULL : key);
        out[n] = s->b0; /* keep RSV bits */
        memcpy(out + n + h, s->pl, pn);
        if (!s->unmasked)
            ws_mask_apply(out + n + h, pn, key, 0);
        n += h + pn;
    }
    *len = n;
    return out;
}

struct outcome {
    int rc;
    uint16_t code;
    bool idle;
};

/* Feeds in[0..n) in pieces ending at cuts[0..ncuts) and n. */
static void run(const struct rx_case *c, bool keep, const uint8_t *in, size_t n, const size_t *cuts,
                size_t ncuts, struct rec *r, struct outcome *o)
{
    struct ws_rx_cfg cfg = {.max_message_bytes = c->max,
                            .keep_payload = keep,
                            .client_side = c->client,
                            .inflater = c->deflate ? inflater : NULL};
    struct ws_rx *rx = NULL;
    size_t start = 0;
    rec_init(r, keep);
    r->deflate = c->deflate;
    o->rc = WS_RX_OK;
    o->code = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        size_t m = end - start;
        uint8_t *piece = malloc(m ? m : 1);
        assert_non_null(piece);
        memcpy(piece, in + start, m);
        uint16_t code = 0;
        const char *why = NULL;
        int rc = ws_rx_feed(&rx, &cfg, piece, m, &ops, r, &code, &why);
        free(piece);
        start = end;
        if (rc != WS_RX_OK) {
            assert_null(rx);
            o->rc = rc;
            if (rc < 0) {
                o->code = code;
                assert_non_null(why);
                /* Data of the failing message may have been partly
                 * streamed, depending on the split: not compared. */
                r->rawn = r->raw_stable;
            }
            break;
        }
        /* Streaming never buffers data: at most a header and a control
         * payload (plus, with deflate, a compressed message in flight). */
        if (rx && !keep && !c->deflate)
            assert_true(ws_rx_buffered(rx) <= WS_MAX_HEADER + WS_MAX_CONTROL);
        if (!rx)
            assert_int_equal(ws_rx_buffered(rx), 0);
    }
    o->idle = rx == NULL;
    ws_rx_free(rx);
}

static void check_same(const struct rx_case *c, const char *how, size_t cut, const struct rec *a,
                       const struct outcome *oa, const struct rec *b, const struct outcome *ob)
{
    if (strcmp(a->out, b->out) != 0 || oa->rc != ob->rc || oa->code != ob->code ||
        oa->idle != ob->idle || a->rawn != b->rawn ||
        (a->rawn && memcmp(a->raw, b->raw, a->rawn) != 0))
        fail_msg("%s (%s, cut %zu, keep %d): got \"%s\" rc %d code %u idle %d, whole gave \"%s\" "
                 "rc %d code %u idle %d",
                 c->name, how, cut, a->keep, b->out, ob->rc, ob->code, ob->idle, a->out, oa->rc,
                 oa->code, oa->idle);
}

static void test_ws_rx_table_every_split(void **state)
{
    (void)state;
    size_t *cuts = malloc(sizeof(size_t) * 70100);
    assert_non_null(cuts);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct rx_case *c = &cases[i];
        size_t n;
        uint8_t *in = build(c, &n);
        for (int keep = 0; keep < 2; keep++) {
            struct rec whole, part;
            struct outcome ow, op;
            run(c, keep, in, n, NULL, 0, &whole, &ow);
            const char *want = !keep && c->events_nokeep ? c->events_nokeep : c->events;
            bool ok = !keep && c->nokeep_ok;
            int want_rc = ok ? WS_RX_OK : c->rc;
            uint16_t want_code = ok ? 0 : c->code;
            if (strcmp(whole.out, want) != 0 || ow.rc != want_rc || ow.code != want_code ||
                ow.idle != !c->busy)
                fail_msg("%s (keep %d): got \"%s\" rc %d code %u idle %d, want \"%s\" rc %d "
                         "code %u",
                         c->name, keep, whole.out, ow.rc, ow.code, ow.idle, want, want_rc,
                         want_code);
            /* two pieces, every cut (sampled in the middle of big inputs) */
            for (size_t cut = 0; cut <= n; cut++) {
                if (n > 2000 && cut > 300 && cut + 300 < n && cut % 997)
                    continue;
                run(c, keep, in, n, &cut, 1, &part, &op);
                check_same(c, "2 pieces", cut, &whole, &ow, &part, &op);
                rec_release(&part);
            }
            /* one byte at a time */
            for (size_t k = 0; k + 1 < n; k++)
                cuts[k] = k + 1;
            run(c, keep, in, n, cuts, n ? n - 1 : 0, &part, &op);
            check_same(c, "1 byte at a time", 0, &whole, &ow, &part, &op);
            rec_release(&part);
            rec_release(&whole);
        }
        free(in);
    }
    free(cuts);
}

/* No memory is held between complete frames; only a partial frame or a
 * fragmented message allocates, and the state goes away with it. */
static void test_ws_rx_no_state_between_frames(void **state)
{
    (void)state;
    const struct rx_case c = {
        .name = "mix",
        .f = {F(0x81, "one"), F(0x89, "p"), F(0x01, "tw"), F(0x80, "o"), F(0x82, "three")}};
    size_t n;
    uint8_t *in = build(&c, &n);
    struct ws_rx_cfg cfg = {.max_message_bytes = 1000};
    struct ws_rx *rx = NULL;
    struct rec r;
    uint16_t code;
    const char *why;
    rec_init(&r, false);
    /* frame 1 (2+4+3 bytes) and frame 2 (2+4+1): whole frames, no state */
    assert_int_equal(ws_rx_feed(&rx, &cfg, in, 9, &ops, &r, &code, &why), WS_RX_OK);
    assert_null(rx);
    assert_int_equal(ws_rx_feed(&rx, &cfg, in + 9, 7, &ops, &r, &code, &why), WS_RX_OK);
    assert_null(rx);
    /* half a header */
    assert_int_equal(ws_rx_feed(&rx, &cfg, in + 16, 3, &ops, &r, &code, &why), WS_RX_OK);
    assert_non_null(rx);
    assert_int_equal(ws_rx_buffered(rx), 3);
    /* rest of the first fragment: the message is in progress, nothing buffered */
    assert_int_equal(ws_rx_feed(&rx, &cfg, in + 19, 5, &ops, &r, &code, &why), WS_RX_OK);
    assert_non_null(rx);
    assert_int_equal(ws_rx_buffered(rx), 0);
    /* the final fragment ends the message: state freed */
    assert_int_equal(ws_rx_feed(&rx, &cfg, in + 24, 7, &ops, &r, &code, &why), WS_RX_OK);
    assert_null(rx);
    /* a partial data payload: held state but no payload bytes */
    assert_int_equal(ws_rx_feed(&rx, &cfg, in + 31, 8, &ops, &r, &code, &why), WS_RX_OK);
    assert_non_null(rx);
    assert_int_equal(ws_rx_buffered(rx), 0);
    assert_int_equal(ws_rx_feed(&rx, &cfg, in + 39, n - 39, &ops, &r, &code, &why), WS_RX_OK);
    assert_null(rx);
    assert_string_equal(r.out, "M1:one|P:p|M1:two|M2:three|");
    rec_release(&r);
    free(in);
}

/* The exact streaming sequence: pieces in order, first flags, control
 * frames between fragments, on_message after the last piece. */
static void test_ws_rx_streaming_event_order(void **state)
{
    (void)state;
    const struct rx_case c = {.name = "order", .f = {F(0x01, "Hel"), F(0x89, "p"), F(0x80, "lo")}};
    size_t n;
    uint8_t *in = build(&c, &n);
    struct rec r;
    struct outcome o;
    run(&c, false, in, n, NULL, 0, &r, &o);
    size_t sz = sizeof(size_t);
    /* D(first, "Hel") P("p") D(!first, "lo") M(1, len 0 in the raw log) */
    uint8_t want[4 * (3 + sizeof(size_t)) + 6], *w = want;
    size_t len;
    w[0] = 'D', w[1] = 1, w[2] = 1, len = 3, memcpy(w + 3, &len, sz), memcpy(w + 3 + sz, "Hel", 3);
    w += 6 + sz;
    w[0] = 'P', w[1] = 0, w[2] = 0, len = 1, memcpy(w + 3, &len, sz), w[3 + sz] = 'p';
    w += 4 + sz;
    w[0] = 'D', w[1] = 1, w[2] = 0, len = 2, memcpy(w + 3, &len, sz), memcpy(w + 3 + sz, "lo", 2);
    w += 5 + sz;
    w[0] = 'M', w[1] = 1, w[2] = 0, len = 0, memcpy(w + 3, &len, sz);
    w += 3 + sz;
    assert_int_equal(r.rawn, (size_t)(w - want));
    assert_memory_equal(r.raw, want, r.rawn);
    rec_release(&r);
    free(in);
}

/* The limit is checked on the declared length: the header alone fails. */
static void test_ws_rx_too_big_fails_on_header(void **state)
{
    (void)state;
    uint8_t hdr[8] = {0x82, 0xfe, 0x03, 0xe8, 1, 2, 3, 4}; /* 1000 bytes declared */
    struct ws_rx_cfg cfg = {.max_message_bytes = 999, .keep_payload = true};
    struct ws_rx *rx = NULL;
    struct rec r;
    uint16_t code = 0;
    const char *why = NULL;
    rec_init(&r, true);
    assert_int_equal(ws_rx_feed(&rx, &cfg, hdr, sizeof hdr, &ops, &r, &code, &why), WSP_ETOOBIG);
    assert_int_equal(code, 1009);
    assert_non_null(why);
    assert_null(rx);
    /* over fragments: 600 buffered, then a 400-byte fragment header */
    cfg.max_message_bytes = 999;
    const struct rx_case c = {.name = "two", .f = {FN(0x02, big, 600)}};
    size_t n;
    uint8_t *in = build(&c, &n);
    assert_int_equal(ws_rx_feed(&rx, &cfg, in, n, &ops, &r, &code, &why), WS_RX_OK);
    assert_non_null(rx);
    assert_int_equal(ws_rx_buffered(rx), 600);
    uint8_t hdr2[8] = {0x80, 0xfe, 0x01, 0x90, 1, 2, 3, 4}; /* 400 more */
    assert_int_equal(ws_rx_feed(&rx, &cfg, hdr2, sizeof hdr2, &ops, &r, &code, &why), WSP_ETOOBIG);
    assert_int_equal(code, 1009);
    assert_null(rx);
    assert_string_equal(r.out, "");
    rec_release(&r);
    free(in);
}

/* keep_payload: the reassembly buffer grows with the data, never past the
 * limit, and holds the exact message. */
static void test_ws_rx_keep_payload_reassembly(void **state)
{
    (void)state;
    const struct rx_case c = {.name = "frags",
                              .f = {FN(0x02, big, 300), FN(0x00, big + 300, 300), F(0x8a, "x"),
                                    FN(0x80, big + 600, 100)}};
    size_t n;
    uint8_t *in = build(&c, &n);
    struct ws_rx_cfg cfg = {.max_message_bytes = 700, .keep_payload = true};
    struct ws_rx *rx = NULL;
    struct rec r;
    uint16_t code;
    const char *why;
    rec_init(&r, true);
    size_t cut = 4 + 4 + 300;
    assert_int_equal(ws_rx_feed(&rx, &cfg, in, cut, &ops, &r, &code, &why), WS_RX_OK);
    assert_non_null(rx);
    assert_int_equal(ws_rx_buffered(rx), 300);
    assert_int_equal(ws_rx_feed(&rx, &cfg, in + cut, 100, &ops, &r, &code, &why), WS_RX_OK);
    assert_int_equal(ws_rx_buffered(rx), 392);
    assert_int_equal(ws_rx_feed(&rx, &cfg, in + cut + 100, n - cut - 100, &ops, &r, &code, &why),
                     WS_RX_OK);
    assert_null(rx);
    assert_string_equal(r.out, "O:x|M2:abcdefghijklmnop..#700|");
    /* the raw log holds the whole message: compare it with big[0..700) */
    size_t off = 3 + sizeof(size_t) + 1, len;
    assert_int_equal(r.raw[off], 'M');
    memcpy(&len, r.raw + off + 3, sizeof len);
    assert_int_equal(len, 700);
    assert_memory_equal(r.raw + off + 3 + sizeof len, big, 700);
    rec_release(&r);
    free(in);
}

/* Bytes after a close frame, even garbage in the same read, are ignored. */
static void test_ws_rx_nothing_after_close(void **state)
{
    (void)state;
    const struct rx_case c = {.name = "close",
                              .f = {F(0x88, "\x03\xe8"
                                            "bye"),
                                    RAW(0x83, 0xff, 0xff)}};
    size_t n;
    uint8_t *in = build(&c, &n);
    struct ws_rx_cfg cfg = {0};
    struct ws_rx *rx = NULL;
    struct rec r;
    uint16_t code = 7;
    const char *why = NULL;
    rec_init(&r, false);
    assert_int_equal(ws_rx_feed(&rx, &cfg, in, n, &ops, &r, &code, &why), WS_RX_CLOSED);
    assert_null(rx);
    assert_string_equal(r.out, "C1000:bye|");
    assert_int_equal(code, 7); /* untouched on success */
    rec_release(&r);
    free(in);
}

/* ---- permessage-deflate beyond the table ---- */

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

struct msgs {
    uint8_t *p[64];
    size_t n[64];
    uint8_t op[64];
    size_t count;
    bool keep;
};

static void collect(void *ctx, uint8_t op, const uint8_t *p, size_t n)
{
    struct msgs *m = ctx;
    assert_true(m->count < 64);
    if (m->keep) {
        assert_non_null(p);
        m->p[m->count] = malloc(n ? n : 1);
        assert_non_null(m->p[m->count]);
        memcpy(m->p[m->count], p, n);
    } else {
        assert_null(p);
        m->p[m->count] = NULL;
    }
    m->n[m->count] = n;
    m->op[m->count] = op;
    m->count++;
}

static const struct ws_rx_ops collect_ops = {collect, NULL, NULL, NULL, NULL};

/* Appends one masked frame to out. */
static size_t put_frame(uint8_t *out, uint8_t b0, const uint8_t *p, size_t n)
{
    uint8_t key[4] = {(uint8_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd()};
    size_t h = ws_frame_header_encode(out, b0 & 0x80, b0 & 0x0f, n, key);
    out[0] = b0;
    if (n)
        memcpy(out + h, p, n);
    ws_mask_apply(out + h, n, key, 0);
    return h + n;
}

/* Messages compressed once by the server's deflater, sent by a client in
 * 1..4 fragments with pings between, fed in random pieces (and, for the
 * small ones, at every split): each inflates to the original. */
static void test_ws_rx_deflate_random_messages(void **state)
{
    (void)state;
    struct ws_deflater *d = ws_deflater_new(6, 15);
    assert_non_null(d);
    size_t cap = 1 << 20;
    uint8_t *stream = malloc(cap), *c = malloc(ws_deflate_bound(100000));
    uint8_t *orig[16];
    size_t orig_n[16], comp_n[16];
    assert_non_null(stream);
    assert_non_null(c);
    for (int round = 0; round < 40; round++) {
        size_t len = 0, nmsg = 1 + rnd() % 8;
        for (size_t k = 0; k < nmsg; k++) {
            size_t n = rnd() % (k == 0 && round % 5 == 0 ? 100000 : 600);
            orig[k] = malloc(n ? n : 1);
            assert_non_null(orig[k]);
            for (size_t i = 0; i < n; i++) /* ASCII text with runs */
                orig[k][i] = (uint8_t)(i && rnd() % 4 ? orig[k][i - 1] : 'a' + rnd() % 26);
            orig_n[k] = n;
            ssize_t cn = ws_deflate_message(d, orig[k], n, c, ws_deflate_bound(n));
            assert_true(cn >= 0);
            comp_n[k] = (size_t)cn;
            size_t frags = 1 + rnd() % 4, off = 0;
            for (size_t f = 0; f < frags; f++) {
                size_t piece =
                    f + 1 == frags ? (size_t)cn - off : ((size_t)cn - off) * (rnd() % 100) / 100;
                uint8_t b0 = (uint8_t)((f == 0 ? WS_OP_TEXT | 0x40 : WS_OP_CONT) |
                                       (f + 1 == frags ? 0x80 : 0));
                len += put_frame(stream + len, b0, c + off, piece);
                off += piece;
                if (rnd() % 3 == 0)
                    len += put_frame(stream + len, 0x89, (const uint8_t *)"p", 1);
            }
            assert_true(len < cap - 200000);
        }
        for (int keep = 0; keep < 2; keep++) {
            size_t splits = len < 3000 ? len + 1 : 20;
            for (size_t sp = 0; sp < splits; sp++) {
                struct ws_rx_cfg cfg = {
                    .max_message_bytes = 100000, .keep_payload = keep, .inflater = inflater};
                struct msgs m;
                memset(&m, 0, sizeof m);
                m.keep = keep;
                struct ws_rx *rx = NULL;
                size_t cut = len < 3000 ? sp : rnd() % (len + 1);
                uint8_t *copy = malloc(len);
                assert_non_null(copy);
                memcpy(copy, stream, len);
                uint16_t code = 0;
                const char *why = NULL;
                /* first piece up to cut, then random pieces */
                size_t pos = 0, end = cut;
                while (pos < len) {
                    assert_int_equal(
                        ws_rx_feed(&rx, &cfg, copy + pos, end - pos, &collect_ops, &m, &code, &why),
                        WS_RX_OK);
                    pos = end;
                    end = pos + 1 + rnd() % 5000;
                    if (end > len)
                        end = len;
                }
                assert_null(rx);
                free(copy);
                assert_int_equal(m.count, nmsg);
                for (size_t k = 0; k < nmsg; k++) {
                    assert_int_equal(m.op[k], WS_OP_TEXT);
                    /* streaming drops it unread: its compressed length */
                    assert_int_equal(m.n[k], keep ? orig_n[k] : comp_n[k]);
                    if (keep && orig_n[k])
                        assert_memory_equal(m.p[k], orig[k], orig_n[k]);
                    free(m.p[k]);
                }
            }
        }
        for (size_t k = 0; k < nmsg; k++)
            free(orig[k]);
    }
    free(stream);
    free(c);
    ws_deflater_free(d);
}

/* One inflater serves every connection of a worker: a message is inflated
 * only when it is complete, so partial messages on other connections do
 * not disturb it. */
static void test_ws_rx_deflate_shared_inflater(void **state)
{
    (void)state;
    const struct rx_case c = {.name = "hello",
                              .f = {FN(0x41, HELLO_C, 3), FN(0x80, &HELLO_C[3], 4)}};
    size_t n;
    uint8_t *a = build(&c, &n), *b = build(&c, &n);
    struct ws_rx_cfg cfg = {.max_message_bytes = 100, .keep_payload = true, .inflater = inflater};
    struct ws_rx *rxa = NULL, *rxb = NULL;
    struct rec ra, rb;
    uint16_t code;
    const char *why;
    rec_init(&ra, true);
    rec_init(&rb, true);
    size_t first = 2 + 4 + 3;
    assert_int_equal(ws_rx_feed(&rxa, &cfg, a, first + 3, &ops, &ra, &code, &why), WS_RX_OK);
    assert_non_null(rxa);
    assert_int_equal(ws_rx_buffered(rxa), 3 + 3); /* compressed bytes + a header piece */
    assert_int_equal(ws_rx_feed(&rxb, &cfg, b, n, &ops, &rb, &code, &why), WS_RX_OK);
    assert_null(rxb);
    assert_int_equal(ws_rx_feed(&rxa, &cfg, a + first + 3, n - first - 3, &ops, &ra, &code, &why),
                     WS_RX_OK);
    assert_null(rxa);
    assert_string_equal(ra.out, "M1:Hello|");
    assert_string_equal(rb.out, "M1:Hello|");
    /* streaming mode drops the compressed bytes unread */
    free(a);
    a = build(&c, &n);
    cfg.keep_payload = false;
    assert_int_equal(ws_rx_feed(&rxa, &cfg, a, first, &ops, &ra, &code, &why), WS_RX_OK);
    assert_int_equal(ws_rx_buffered(rxa), 0);
    ws_rx_free(rxa);
    rec_release(&ra);
    rec_release(&rb);
    free(a);
    free(b);
}

/* A compressed message of `huge` zero bytes (a bomb): malloc'd, its
 * length in *cn, with room for two frames of it in *frames (malloc'd). */
static uint8_t *zero_bomb(size_t huge, size_t *cn, uint8_t **frames)
{
    uint8_t *zeros = calloc(1, huge);
    assert_non_null(zeros);
    struct ws_deflater *d = ws_deflater_new(9, 15);
    assert_non_null(d);
    uint8_t *c = malloc(ws_deflate_bound(huge));
    assert_non_null(c);
    ssize_t n = ws_deflate_message(d, zeros, huge, c, ws_deflate_bound(huge));
    assert_true(n > 0 && (size_t)n < huge / 512);
    free(zeros);
    ws_deflater_free(d);
    *cn = (size_t)n;
    *frames = malloc(2 * (*cn + WS_MAX_HEADER));
    assert_non_null(*frames);
    return c;
}

/* A 64 MiB bomb in about 64 KiB of frames: 1009 at the bound, fast. */
static void test_ws_rx_deflate_bomb(void **state)
{
    (void)state;
    size_t cn;
    uint8_t *in, *frame = zero_bomb(64u << 20, &cn, &in);
    size_t len = put_frame(in, 0xc2, frame, cn);
    struct ws_rx_cfg cfg = {
        .max_message_bytes = 1 << 20, .keep_payload = true, .inflater = inflater};
    struct ws_rx *rx = NULL;
    struct rec r;
    uint16_t code = 0;
    const char *why = NULL;
    rec_init(&r, true);
    assert_int_equal(ws_rx_feed(&rx, &cfg, in, len, &ops, &r, &code, &why), WSP_ETOOBIG);
    assert_int_equal(code, 1009);
    assert_string_equal(why, "message too big");
    assert_null(rx);
    assert_string_equal(r.out, "");
    rec_release(&r);
    free(in);
    free(frame);
}

/* Issue 11 items 4 and 5: where nobody reads the payload (no
 * keep_payload: the public endpoint), a compressed message costs framing
 * only: a bomb is not inflated (no 1009, no output work: on_message gets
 * the compressed length) and a partial one holds no bytes. */
static void test_ws_rx_deflate_dropped_is_not_inflated_nor_held(void **state)
{
    (void)state;
    size_t cn;
    uint8_t *in, *c = zero_bomb(1u << 20, &cn, &in); /* ~1 KiB inflating to 1 MiB */
    size_t len = put_frame(in, 0xc2, c, cn);
    struct ws_rx_cfg cfg = {
        .max_message_bytes = 64 * 1024, .keep_payload = false, .inflater = inflater};
    struct ws_rx *rx = NULL;
    struct msgs m;
    memset(&m, 0, sizeof m);
    uint16_t code = 0;
    const char *why = NULL;
    for (int i = 0; i < 3; i++) {
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, in, len);
        assert_int_equal(ws_rx_feed(&rx, &cfg, copy, len, &collect_ops, &m, &code, &why), WS_RX_OK);
        free(copy);
        assert_null(rx);
    }
    assert_int_equal(m.count, 3);
    assert_int_equal(m.n[0], cn);
    assert_int_equal(m.op[0], WS_OP_BINARY);
    /* a non-final compressed frame, then silence: nothing held but state */
    len = put_frame(in, 0x42, c, cn);
    assert_int_equal(ws_rx_feed(&rx, &cfg, in, len, &collect_ops, &m, &code, &why), WS_RX_OK);
    assert_non_null(rx);
    assert_int_equal(ws_rx_buffered(rx), 0);
    ws_rx_free(rx);
    free(in);
    free(c);
}

int main(void)
{
    inflater = ws_inflater_new();
    if (!inflater)
        return 1;
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    close125[0] = 0x03;
    close125[1] = (char)0xe8;
    memcpy(close125 + 2, big, sizeof close125 - 2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_rx_table_every_split),
        cmocka_unit_test(test_ws_rx_no_state_between_frames),
        cmocka_unit_test(test_ws_rx_streaming_event_order),
        cmocka_unit_test(test_ws_rx_too_big_fails_on_header),
        cmocka_unit_test(test_ws_rx_keep_payload_reassembly),
        cmocka_unit_test(test_ws_rx_nothing_after_close),
        cmocka_unit_test(test_ws_rx_deflate_random_messages),
        cmocka_unit_test(test_ws_rx_deflate_shared_inflater),
        cmocka_unit_test(test_ws_rx_deflate_bomb),
        cmocka_unit_test(test_ws_rx_deflate_dropped_is_not_inflated_nor_held),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ws_inflater_free(inflater);
    return rc;
}
