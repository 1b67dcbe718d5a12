/* test_prom.c - the admin port's figures (server/prom.c) over a node
 * made by hand: /stats and /metrics render the same sums of the workers'
 * counters (the one snapshot), per-worker figures stay per worker, and
 * the master's own counts (publishes, rejects, the limit) come from the
 * node. No master, no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "pubsub/ring.h"
#include "server/node.h"
#include "server/prom.h"

static struct wsp_config cfg;

static struct node make_node(void)
{
    cfg.max_conns = 1000;
    struct node n = {.cfg = &cfg, .nworkers = 2};
    n.shared = metrics_shared_new(2);
    n.ring = ring_create(65536);
    assert_non_null(n.shared);
    assert_non_null(n.ring);
    struct worker_stats *w = n.shared->w;
    w[0].conns = 3;
    w[1].conns = 4;
    w[1].sse_conns = 1;
    w[0].deliveries = 10;
    w[1].deliveries = 5;
    w[1].sse_deliveries = 2;
    w[0].slow_close = 1;
    w[1].slow_drop = 2;
    w[1].slow_latest = 4;
    w[0].restarts = 1;
    w[1].restarts = 2;
    n.published[PUB_HTTP] = 6;
    n.published[PUB_TICK] = 9;
    n.shared->publish_rejected = 2;
    return n;
}

static void test_prom_stats_json_sums_once(void **state)
{
    (void)state;
    struct node n = make_node();
    static char out[65536];
    size_t len = prom_stats_json(&n, out, sizeof out);
    json_error_t err;
    json_t *j = json_loadb(out, len, 0, &err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "connections")), 7);
    assert_int_equal(json_integer_value(json_object_get(j, "deliveries")), 15);
    assert_int_equal(json_integer_value(json_object_get(j, "max_conns")), 1000);
    assert_int_equal(json_integer_value(json_object_get(j, "slow_consumer_events")), 7);
    json_t *slow = json_object_get(j, "slow");
    assert_int_equal(json_integer_value(json_object_get(slow, "latest")), 4);
    json_t *pub = json_object_get(j, "published");
    assert_int_equal(json_integer_value(json_object_get(pub, "http")), 6);
    assert_int_equal(json_integer_value(json_object_get(pub, "tick")), 9);
    json_t *ws = json_object_get(json_object_get(j, "transports"), "ws");
    assert_int_equal(json_integer_value(json_object_get(ws, "connections")), 6);
    assert_int_equal(json_integer_value(json_object_get(ws, "deliveries")), 13);
    json_t *w1 = json_array_get(json_object_get(j, "workers"), 1);
    assert_int_equal(json_integer_value(json_object_get(w1, "connections")), 4);
    assert_int_equal(json_integer_value(json_object_get(w1, "restarts")), 2);
    json_decref(j);
    ring_destroy(n.ring);
    metrics_shared_free(n.shared);
}

static void test_prom_render_matches_stats(void **state)
{
    (void)state;
    struct node n = make_node();
    static char out[1 << 20];
    size_t len = prom_render(&n, out, sizeof out);
    assert_true(len > 0 && len < sizeof out - 1);
    static const char *const want[] = {
        "wspush_connections{worker=\"0\"} 3\n",
        "wspush_connections{worker=\"1\"} 4\n",
        "wspush_deliveries_total 15\n",
        "wspush_transport_connections{transport=\"ws\"} 6\n",
        "wspush_transport_connections{transport=\"sse\"} 1\n",
        "wspush_slow_consumer_total{action=\"drop\"} 2\n",
        "wspush_messages_published_total{source=\"tick\"} 9\n",
        "wspush_publish_rejected_total 2\n",
        "wspush_worker_restarts_total 3\n",
        "wspush_max_connections 1000\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_non_null(strstr(out, want[i]));
    /* no Redis, no history: their metrics are left out */
    assert_null(strstr(out, "wspush_redis_connected"));
    assert_null(strstr(out, "wspush_history_topics"));
    ring_destroy(n.ring);
    metrics_shared_free(n.shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_stats_json_sums_once),
        cmocka_unit_test(test_prom_render_matches_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
