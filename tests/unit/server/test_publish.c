/* test_publish.c - the admin API's publish (server/publish.c) over a fake
 * node: the 202 body (seq, subscribers of the topic or of every
 * connection for a broadcast, the topic escaped), a refusal (413, counted
 * in publish_rejected), and the node's publish op called once with what
 * was asked. No master, no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "metrics/metrics.h"
#include "pubsub/msg.h"
#include "pubsub/topic_table.h"
#include "server/node.h"
#include "server/publish.h"

static int calls;
static int64_t next_result;

static int64_t fake_publish(struct node *n, bool binary, const char *topic, size_t topic_len,
                            const uint8_t *payload, size_t len, enum pub_source src,
                            uint64_t *subscribers)
{
    calls++;
    assert_false(binary);
    assert_int_equal(src, PUB_HTTP);
    assert_int_equal(len, 5);
    assert_memory_equal(payload, "hello", 5);
    if (next_result > 0 && subscribers)
        *subscribers = node_subscribers(n, topic, topic_len);
    return next_result;
}

static const struct node_ops ops = {.publish = fake_publish};

static struct node make_node(void)
{
    struct node n = {.ops = &ops, .nworkers = 2};
    n.shared = metrics_shared_new(2);
    n.topics = topic_table_new(2);
    assert_non_null(n.shared);
    assert_non_null(n.topics);
    n.shared->topics = n.topics;
    n.shared->w[0].conns = 4;
    n.shared->w[1].conns = 6;
    return n;
}

static void free_node(struct node *n)
{
    topic_table_free(n->topics);
    metrics_shared_free(n->shared);
}

static void test_publish_http_answers_202_with_seq_and_subscribers(void **state)
{
    (void)state;
    struct node n = make_node();
    static const char topic[] = "a\"b";
    uint64_t key = msg_topic_key(topic, 3);
    long slot = topic_table_join(n.topics, 0, key, topic, 3);
    topic_table_add(n.topics, 0, slot, +1);
    topic_table_join(n.topics, 1, key, topic, 3);
    char out[1024];
    struct publish_answer a;
    calls = 0;
    next_result = 42;
    publish_http(&n, false, topic, 3, (const uint8_t *)"hello", 5, out, sizeof out, &a);
    assert_int_equal(calls, 1);
    assert_int_equal(a.status, 202);
    static const char want[] = "{\"topic\":\"a\\\"b\",\"seq\":42,\"subscribers_notified\":3}\n";
    assert_int_equal(a.len, sizeof want - 1);
    assert_memory_equal(out, want, sizeof want - 1);
    /* a broadcast: every connection of every worker, the topic null */
    publish_http(&n, false, NULL, 0, (const uint8_t *)"hello", 5, out, sizeof out, &a);
    static const char bc[] = "{\"topic\":null,\"seq\":42,\"subscribers_notified\":10}\n";
    assert_int_equal(a.len, sizeof bc - 1);
    assert_memory_equal(out, bc, sizeof bc - 1);
    free_node(&n);
}

static void test_publish_http_refusal_is_413_and_counted(void **state)
{
    (void)state;
    struct node n = make_node();
    char out[1024];
    struct publish_answer a;
    calls = 0;
    next_result = WSP_ETOOBIG;
    publish_http(&n, false, "t", 1, (const uint8_t *)"hello", 5, out, sizeof out, &a);
    assert_int_equal(calls, 1);
    assert_int_equal(a.status, 413);
    assert_string_equal(a.error, "message too large");
    assert_null(a.extra);
    assert_int_equal(n.shared->publish_rejected, 1);
    free_node(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_http_answers_202_with_seq_and_subscribers),
        cmocka_unit_test(test_publish_http_refusal_is_413_and_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
