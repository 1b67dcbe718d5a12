/* test_net.c - net_addr_parse (the --listen / --admin argument) and its
 * companions net_addr_format, net_addr_port, net_addr_set_port and
 * net_addr_is_loopback; every prefix of each input parsed against a guard
 * page; net_listen, net_listen_probe and net_local_port on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "../guard_page.h"
#include "core/err.h"
#include "net/net.h"

static void test_net_addr_parse_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *in, *def, *out;
        int family;
    } ok[] = {
        {"127.0.0.1:8080", "0.0.0.0", "127.0.0.1:8080", AF_INET},
        {"8080", "0.0.0.0", "0.0.0.0:8080", AF_INET},       /* PORT alone */
        {":9000", "127.0.0.1", "127.0.0.1:9000", AF_INET},  /* empty host */
        {"0", "127.0.0.1", "127.0.0.1:0", AF_INET},         /* port 0: any */
        {"localhost:1", "0.0.0.0", "127.0.0.1:1", AF_INET}, /* the one name */
        {"10.1.2.3:65535", "0.0.0.0", "10.1.2.3:65535", AF_INET},
        {"[::1]:8080", "0.0.0.0", "[::1]:8080", AF_INET6},
        {"[::]:0", "0.0.0.0", "[::]:0", AF_INET6},
        {"[2001:db8::1]:443", "0.0.0.0", "[2001:db8::1]:443", AF_INET6},
        {"443", "::", "[::]:443", AF_INET6}, /* v6 default host */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct net_addr a;
        char buf[64];
        if (net_addr_parse(ok[i].in, ok[i].def, &a) != 0)
            fail_msg("refused %s", ok[i].in);
        assert_int_equal(a.ss.ss_family, ok[i].family);
        assert_int_equal(a.len, ok[i].family == AF_INET ? sizeof(struct sockaddr_in)
                                                        : sizeof(struct sockaddr_in6));
        net_addr_format(&a, buf, sizeof buf);
        assert_string_equal(buf, ok[i].out);
    }
}

static void test_net_addr_parse_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                 /* empty */
        "127.0.0.1:",       /* no port */
        "127.0.0.1:65536",  /* port too big */
        "127.0.0.1:-1",     /* negative port */
        "127.0.0.1:80x",    /* trailing junk */
        "127.0.0.1:http",   /* service names are not looked up */
        "example.com:80",   /* nor host names (only "localhost") */
        "256.0.0.1:80",     /* not an address */
        "::1:8080",         /* bare IPv6 needs brackets */
        "[::1]8080",        /* no colon after the bracket */
        "[::1",             /* unclosed bracket */
        "[127.0.0.1.5]:80", /* not an address in brackets */
        "[]:80",            /* empty brackets */
        "a:b:c",            /* two colons, no brackets */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct net_addr a;
        if (net_addr_parse(bad[i], "0.0.0.0", &a) != WSP_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    struct net_addr a;
    assert_int_equal(net_addr_parse(NULL, "0.0.0.0", &a), WSP_EINVAL);
    /* longer than any address: refused before any copy */
    char longs[300];
    memset(longs, '1', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    assert_int_equal(net_addr_parse(longs, "0.0.0.0", &a), WSP_EINVAL);
}

static void test_net_addr_port_roundtrip(void **state)
{
    (void)state;
    struct net_addr a;
    char buf[64];
    assert_int_equal(net_addr_parse("127.0.0.1:0", "0.0.0.0", &a), 0);
    assert_int_equal(net_addr_port(&a), 0);
    net_addr_set_port(&a, 40000);
    assert_int_equal(net_addr_port(&a), 40000);
    net_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1:40000");
    assert_int_equal(net_addr_parse("[::1]:7", "0.0.0.0", &a), 0);
    assert_int_equal(net_addr_port(&a), 7);
    net_addr_set_port(&a, 65535);
    net_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "[::1]:65535");
}

static void test_net_addr_parse_refuses_more(void **state)
{
    (void)state;
    static const char *const bad[] = {
        ":",                 /* default host, empty port */
        "[::1]:",            /* brackets, no port */
        "[::1]:65536",       /* brackets, port too big */
        "[::1]]:80",         /* a second closing bracket */
        "[[::1]:80",         /* a second opening bracket */
        "[fe80::1%eth0]:80", /* zone ids are not supported */
        "[::1]:80:",         /* junk after the port */
        "1.2.3:80",          /* three-part IPv4 (inet_aton would take it) */
        "01.2.3.4:80",       /* leading zero: not dotted-quad for inet_pton */
        "localhost",         /* a name alone is a port, and not a number */
        "127.0.0.1:8080 ",   /* trailing space */
        "127.0.0.1 :8080",   /* space before the colon */
        "[::1]:0x50",        /* ports are decimal */
        "::",                /* the v6 any address without brackets or port */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct net_addr a;
        if (net_addr_parse(bad[i], "0.0.0.0", &a) != WSP_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    /* a bracketed host just under the 128-byte input limit is read
     * whole (and is no address); at the limit the input is refused */
    char s[129];
    memset(s, 0, sizeof s);
    s[0] = '[';
    memset(s + 1, 'a', 120);
    memcpy(s + 121, "]:80", 4);
    struct net_addr a;
    assert_int_equal(net_addr_parse(s, "0.0.0.0", &a), WSP_EINVAL);
    memset(s, '1', 127);
    s[127] = '\0'; /* 127 digits: fits, and is no port */
    assert_int_equal(net_addr_parse(s, "0.0.0.0", &a), WSP_EINVAL);
}

static void test_net_addr_parse_default_host(void **state)
{
    (void)state;
    struct net_addr a;
    char buf[64];
    /* the default host goes through the same parser: a name is refused */
    assert_int_equal(net_addr_parse("80", "localhost", &a), 0);
    net_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1:80");
    assert_int_equal(net_addr_parse("80", "example.com", &a), WSP_EINVAL);
    assert_int_equal(net_addr_parse(":80", "::1", &a), 0);
    net_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "[::1]:80");
    /* an explicit host wins over the default */
    assert_int_equal(net_addr_parse("10.0.0.1:80", "example.com", &a), 0);
    net_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "10.0.0.1:80");
}

static void test_net_addr_is_loopback(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool loopback;
    } cases[] = {
        {"127.0.0.1:1", true},
        {"127.255.255.254:1", true},
        {"localhost:1", true},
        {"[::1]:1", true},
        {"0.0.0.0:1", false},
        {"128.0.0.1:1", false},
        {"126.255.255.255:1", false},
        {"[::]:1", false},
        {"[::2]:1", false},
        /* an IPv4-mapped loopback is not ::1: refused as remote (the
         * admin port's check stays on the safe side) */
        {"[::ffff:127.0.0.1]:1", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct net_addr a;
        assert_int_equal(net_addr_parse(cases[i].in, "0.0.0.0", &a), 0);
        if (net_addr_is_loopback(&a) != cases[i].loopback)
            fail_msg("%s: loopback should be %d", cases[i].in, cases[i].loopback);
    }
}

/* Every prefix of each input, NUL-terminated with the NUL as the last byte
 * before the guard page: an over-read of the string faults. A prefix is
 * accepted or refused, never anything else, and an accepted one formats. */
static void test_net_addr_parse_every_prefix(void **state)
{
    (void)state;
    static const char *const in[] = {
        "127.0.0.1:8080",
        "[2001:db8::1]:443",
        "[::ffff:10.0.0.1]:65535",
        "localhost:1",
        ":9000",
        "[::1]",
        "[fe80::1%eth0]:80",
        "a:b:c",
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        size_t n = strlen(in[i]);
        for (size_t cut = 0; cut <= n; cut++) {
            char tmp[64];
            memcpy(tmp, in[i], cut);
            tmp[cut] = '\0';
            const char *s = (const char *)at_guard(tmp, cut + 1);
            struct net_addr a;
            int r = net_addr_parse(s, "0.0.0.0", &a);
            if (r != 0 && r != WSP_EINVAL)
                fail_msg("\"%s\": %d", tmp, r);
            if (r == 0) {
                char buf[64];
                net_addr_format(&a, buf, sizeof buf);
                assert_true(buf[0] != '?');
            }
        }
    }
}

static void test_net_listen_probe(void **state)
{
    (void)state;
    struct net_addr a;
    assert_int_equal(net_addr_parse("127.0.0.1:0", "0.0.0.0", &a), 0);
    /* port 0: the probe finds a free port and stores it */
    assert_int_equal(net_listen_probe(&a), 0);
    assert_int_not_equal(net_addr_port(&a), 0);
    int fd = net_listen(&a, 16, true);
    assert_true(fd >= 0);
    assert_int_equal(net_local_port(fd), net_addr_port(&a));
    /* a listener holds the port: the probe refuses it, reuseport or not */
    struct net_addr b = a;
    assert_int_equal(net_listen_probe(&b), -EADDRINUSE);
    assert_int_equal(net_listen(&b, 16, false), -EADDRINUSE);
    close(fd);
    /* once closed, the port is free again (no TIME_WAIT: nothing connected) */
    assert_int_equal(net_listen_probe(&b), 0);
    assert_int_equal(net_local_port(-1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_addr_parse_accepts),
        cmocka_unit_test(test_net_addr_parse_refuses),
        cmocka_unit_test(test_net_addr_port_roundtrip),
        cmocka_unit_test(test_net_addr_parse_refuses_more),
        cmocka_unit_test(test_net_addr_parse_default_host),
        cmocka_unit_test(test_net_addr_is_loopback),
        cmocka_unit_test(test_net_addr_parse_every_prefix),
        cmocka_unit_test(test_net_listen_probe),
    };
    return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
