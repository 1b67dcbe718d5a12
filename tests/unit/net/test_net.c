/* test_net.c - net_addr_parse (the --listen / --admin argument) and its
 * companions net_addr_format, net_addr_port and net_addr_set_port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_addr_parse_accepts),
        cmocka_unit_test(test_net_addr_parse_refuses),
        cmocka_unit_test(test_net_addr_port_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
