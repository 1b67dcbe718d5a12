/* test_ring.c - the shared-memory ring: wrap-around and padding, limits,
 * lapped readers, overwrites between peek and consume, corrupt headers, and
 * a reader in another process following a live writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "pubsub/ring.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

/* ---- a checkable entry pattern: everything derives from seq ---- */

static size_t pat_frame_len(uint64_t seq, size_t big)
{
    if (big && seq % 701 == 0)
        return big; /* the occasional large entry forces padding and laps */
    return (size_t)((seq * 2654435761u) % 1531u);
}

static size_t pat_topic(uint64_t seq, char *out)
{
    return (size_t)sprintf(out, "topic-%u", (unsigned)(seq % 97));
}

static uint8_t pat_byte(uint64_t seq, size_t i)
{
    return (uint8_t)(seq * 131u + i * 7u + (i >> 8));
}

static uint8_t pat_flags(uint64_t seq)
{
    return (uint8_t)(seq & (RING_F_BINARY | RING_F_BROADCAST));
}

static uint8_t frame_buf[300 * KiB];

static int64_t pub_pattern(struct ring *r, uint64_t seq, size_t big)
{
    char topic[32];
    size_t tl = pat_topic(seq, topic);
    size_t fl = pat_frame_len(seq, big);
    for (size_t i = 0; i < fl; i++)
        frame_buf[i] = pat_byte(seq, i);
    return ring_publish(r, pat_flags(seq), topic, tl, frame_buf, fl, seq * 3u);
}

/* 0 if a copied entry is exactly what pub_pattern wrote for its seq. */
static int check_pattern(uint64_t seq, uint64_t ns, uint8_t flags, const char *topic,
                         size_t topic_len, const uint8_t *frame, size_t frame_len, size_t big)
{
    char want[32];
    size_t tl = pat_topic(seq, want);
    if (ns != seq * 3u || flags != pat_flags(seq) || topic_len != tl ||
        memcmp(topic, want, tl) != 0 || frame_len != pat_frame_len(seq, big))
        return -1;
    for (size_t i = 0; i < frame_len; i++)
        if (frame[i] != pat_byte(seq, i))
            return -1;
    return 0;
}

static void expect_entry(struct ring *r, struct ring_reader *rd, uint64_t seq, size_t big)
{
    struct ring_entry e;
    uint64_t lost = 0;
    assert_int_equal(ring_peek(r, rd, &e, &lost), 1);
    assert_int_equal(lost, 0);
    assert_int_equal(e.seq, seq);
    assert_int_equal(check_pattern(e.seq, e.publish_ns, e.flags, e.topic, e.topic_len, e.frame,
                                   e.frame_len, big),
                     0);
    assert_int_equal(ring_consume(r, rd, &lost), 0);
    assert_int_equal(lost, 0);
}

/* The writer's position after an entry of n payload bytes at pos: where the
 * ring puts it, padding included. */
static uint64_t model_pos(uint64_t pos, size_t payload, uint64_t size, unsigned *pads)
{
    uint64_t need = (24u + payload + 7u) & ~(uint64_t)7u;
    uint64_t room = size - (pos & (size - 1));
    if (need > room) {
        pos += room;
        (*pads)++;
    }
    return pos + need;
}

static void test_ring_create_sizes(void **state)
{
    (void)state;
    struct ring *r = ring_create(1000);
    assert_non_null(r);
    assert_int_equal(ring_size(r), 64 * KiB);
    assert_int_equal(ring_max_entry(r), 16 * KiB - 24);
    assert_int_equal(ring_head_seq(r), 0);
    assert_int_equal(ring_bytes_written(r), 0);
    ring_destroy(r);
    r = ring_create(100 * KiB);
    assert_non_null(r);
    assert_int_equal(ring_size(r), 128 * KiB);
    ring_destroy(r);
    r = ring_create(1 * MiB);
    assert_non_null(r);
    assert_int_equal(ring_size(r), 1 * MiB);
    ring_destroy(r);
    ring_destroy(NULL);
}

static void test_ring_publish_and_read(void **state)
{
    (void)state;
    struct ring *r = ring_create(0);
    struct ring_reader rd;
    ring_reader_init(&rd, r);
    struct ring_entry e;
    uint64_t lost = 0;
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 0);

    static const uint8_t frame[] = {0x81, 0x02, 'h', 'i'};
    assert_int_equal(ring_publish(r, RING_F_BINARY, "news", 4, frame, sizeof frame, 77), 1);
    assert_int_equal(ring_publish(r, RING_F_BROADCAST, NULL, 0, frame, 2, 78), 2);
    assert_int_equal(ring_publish(r, 0, "t", 1, NULL, 0, 79), 3);
    assert_int_equal(ring_head_seq(r), 3);

    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
    /* peeking again without consuming gives the same entry */
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
    assert_int_equal(e.seq, 1);
    assert_int_equal(e.publish_ns, 77);
    assert_int_equal(e.flags, RING_F_BINARY);
    assert_int_equal(e.topic_len, 4);
    assert_memory_equal(e.topic, "news", 4);
    assert_int_equal(e.frame_len, sizeof frame);
    assert_memory_equal(e.frame, frame, sizeof frame);
    assert_int_equal(ring_consume(r, &rd, &lost), 0);

    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
    assert_int_equal(e.seq, 2);
    assert_int_equal(e.flags, RING_F_BROADCAST);
    assert_int_equal(e.topic_len, 0);
    assert_int_equal(e.frame_len, 2);
    assert_int_equal(ring_consume(r, &rd, &lost), 0);

    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
    assert_int_equal(e.seq, 3);
    assert_int_equal(e.topic_len, 1);
    assert_int_equal(e.frame_len, 0);
    assert_int_equal(ring_consume(r, &rd, &lost), 0);
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 0);
    assert_int_equal(lost, 0);

    /* a reader started now sees only later entries */
    struct ring_reader late;
    ring_reader_init(&late, r);
    assert_int_equal(ring_peek(r, &late, &e, &lost), 0);
    assert_int_equal(ring_publish(r, 0, "t", 1, frame, 1, 80), 4);
    assert_int_equal(ring_peek(r, &late, &e, &lost), 1);
    assert_int_equal(e.seq, 4);
    assert_int_equal(lost, 0);
    ring_destroy(r);
}

/* Many entries of varying sizes through a small ring, read as they come:
 * every one arrives intact, padding markers are written at the end and
 * skipped, and the byte accounting matches a model of the layout. */
static void test_ring_wrap_around(void **state)
{
    (void)state;
    struct ring *r = ring_create(64 * KiB);
    struct ring_reader rd;
    ring_reader_init(&rd, r);
    uint64_t pos = 0;
    unsigned pads = 0;
    uint64_t seq = 1;
    for (unsigned round = 0; round < 400; round++) {
        /* publish a batch of up to ~half a ring, then read it all */
        unsigned batch = 1 + round % 23;
        uint64_t first = seq;
        for (unsigned k = 0; k < batch; k++, seq++) {
            char topic[32];
            size_t payload = pat_topic(seq, topic) + pat_frame_len(seq, 9000);
            pos = model_pos(pos, payload, ring_size(r), &pads);
            assert_int_equal(pub_pattern(r, seq, 9000), (int64_t)seq);
        }
        for (uint64_t s = first; s < seq; s++)
            expect_entry(r, &rd, s, 9000);
        struct ring_entry e;
        uint64_t lost = 0;
        assert_int_equal(ring_peek(r, &rd, &e, &lost), 0);
        assert_int_equal(lost, 0);
    }
    assert_true(pos > 20 * ring_size(r)); /* wrapped many times */
    assert_true(pads > 10);               /* and padded the end */
    assert_int_equal(ring_bytes_written(r), pos);
    assert_int_equal(ring_head_seq(r), seq - 1);
    ring_destroy(r);
}

static void test_ring_max_entry(void **state)
{
    (void)state;
    struct ring *r = ring_create(64 * KiB);
    size_t max = ring_max_entry(r);
    uint8_t *frame = malloc(max + 1);
    assert_non_null(frame);
    for (size_t i = 0; i <= max; i++)
        frame[i] = (uint8_t)(i * 13u);
    struct ring_reader rd;
    ring_reader_init(&rd, r);

    assert_int_equal(ring_publish(r, 0, "ab", 2, frame, max - 1, 0), WSP_ETOOBIG);
    assert_int_equal(ring_publish(r, 0, NULL, 0, frame, max + 1, 0), WSP_ETOOBIG);
    assert_int_equal(ring_publish(r, 0, "t", 1, frame, SIZE_MAX, 0), WSP_ETOOBIG);
    assert_int_equal(ring_head_seq(r), 0);
    /* exactly max, many times round the ring, read as they come: the reader
     * always has room because an entry is at most a quarter of the ring */
    struct ring_entry e;
    uint64_t lost = 0;
    for (uint64_t seq = 1; seq <= 40; seq++) {
        size_t tl = seq % 3;
        assert_int_equal(ring_publish(r, 0, "xyz", tl, frame, max - tl, seq), (int64_t)seq);
        assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
        assert_int_equal(e.seq, seq);
        assert_int_equal(e.topic_len, tl);
        assert_int_equal(e.frame_len, max - tl);
        assert_memory_equal(e.frame, frame, max - tl);
        assert_int_equal(ring_consume(r, &rd, &lost), 0);
    }
    assert_int_equal(lost, 0);
    /* three max entries fit behind a reader without lapping it */
    for (int i = 0; i < 3; i++)
        assert_true(ring_publish(r, 0, NULL, 0, frame, max, 0) > 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
        assert_int_equal(e.frame_len, max);
        assert_int_equal(ring_consume(r, &rd, &lost), 0);
    }
    assert_int_equal(lost, 0);
    free(frame);
    ring_destroy(r);

    /* the topic length has 16 bits */
    r = ring_create(1 * MiB);
    char *topic = calloc(65536, 1);
    assert_non_null(topic);
    assert_int_equal(ring_publish(r, 0, topic, 65536, NULL, 0, 0), WSP_ETOOBIG);
    assert_int_equal(ring_publish(r, 0, topic, 65535, NULL, 0, 0), 1);
    free(topic);
    ring_destroy(r);
}

/* A reader that falls behind by less than a ring reads everything later. */
static void test_ring_reader_catches_up(void **state)
{
    (void)state;
    struct ring *r = ring_create(256 * KiB);
    struct ring_reader rd;
    ring_reader_init(&rd, r);
    uint64_t seq = 1;
    for (int round = 0; round < 30; round++) {
        /* about 170 KiB: most of the ring, never all of it */
        uint64_t first = seq;
        for (int k = 0; k < 200; k++, seq++)
            assert_int_equal(pub_pattern(r, seq, 0), (int64_t)seq);
        for (uint64_t s = first; s < seq; s++)
            expect_entry(r, &rd, s, 0);
    }
    ring_destroy(r);
}

/* Writing more than a ring's worth past a reader: the reader notices, moves
 * to the oldest entry still intact and counts exactly the entries it
 * skipped; everything after them arrives, in order. */
static void test_ring_lapped_reader(void **state)
{
    (void)state;
    struct ring *r = ring_create(64 * KiB);
    struct ring_reader rd;
    ring_reader_init(&rd, r);
    struct ring_entry e;
    uint64_t lost = 0;
    uint64_t seq = 1;
    for (; seq <= 10; seq++)
        pub_pattern(r, seq, 0);
    for (uint64_t s = 1; s <= 4; s++)
        expect_entry(r, &rd, s, 0); /* next_seq = 5 */
    for (; seq <= 1000; seq++)      /* ~750 KiB: many laps */
        pub_pattern(r, seq, 0);
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
    assert_true(lost > 0 && e.seq == 5 + lost); /* seqs 5..4+lost are gone */
    uint64_t got = 0;
    for (uint64_t s = e.seq; s <= 1000; s++, got++)
        expect_entry(r, &rd, s, 0);
    assert_int_equal(lost + got, 1000 - 5 + 1);
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 0);
    assert_int_equal(rd.next_seq, 1001);
    pub_pattern(r, seq, 0);
    lost = 0;
    expect_entry(r, &rd, seq, 0);
    seq++;

    /* lapped by barely one entry: only the oldest few are lost, the reader
     * resumes right after them (test_ring_lapped_reader_resyncs_to_oldest_intact
     * checks the exact count) */
    uint64_t first = seq;
    uint64_t start = ring_bytes_written(r);
    while (ring_bytes_written(r) - start <= ring_size(r) - 2000)
        pub_pattern(r, seq++, 0);
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1); /* not lapped yet */
    assert_int_equal(e.seq, first);
    while (ring_bytes_written(r) - start <= ring_size(r) + 8)
        pub_pattern(r, seq++, 0);
    lost = 0;
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
    assert_true(lost >= 1 && lost < 10);
    assert_int_equal(e.seq, first + lost);
    /* the lost counter accumulates; NULL is allowed */
    for (int k = 0; k < 500; k++)
        pub_pattern(r, seq++, 0);
    assert_int_equal(ring_peek(r, &rd, &e, NULL), 1);
    while (ring_peek(r, &rd, &e, NULL) == 1)
        assert_int_equal(ring_consume(r, &rd, NULL), 0);
    assert_int_equal(rd.next_seq, seq);
    ring_destroy(r);
}

/* Issue 11 item 13: a lapped reader resumes at the OLDEST entry still intact
 * (the writer's tail), not at the head, and counts as lost exactly the
 * entries that were overwritten. White-box model of the tail: the first
 * entry that starts at or after (end of the last entry - ring size). */
static void test_ring_lapped_reader_resyncs_to_oldest_intact(void **state)
{
    (void)state;
    struct ring *r = ring_create(64 * KiB);
    static uint64_t start_of[4000]; /* start position of each seq's entry */
    struct ring_reader rd;
    ring_reader_init(&rd, r);
    uint64_t seq = 1;
    for (int lap = 0; lap < 3; lap++) {
        uint64_t first = seq;
        uint64_t begin = ring_bytes_written(r);
        /* a little (lap 0), then a lot more (laps 1, 2) than a ring's worth */
        uint64_t span = ring_size(r) + (lap == 0 ? 8 : (uint64_t)lap * ring_size(r));
        while (ring_bytes_written(r) - begin <= span) {
            char topic[32];
            size_t need = (24u + pat_topic(seq, topic) + pat_frame_len(seq, 0) + 7u) & ~7u;
            assert_true(seq < 4000);
            assert_int_equal(pub_pattern(r, seq, 0), (int64_t)seq);
            start_of[seq] = ring_bytes_written(r) - need; /* after any padding */
            seq++;
        }
        uint64_t limit = ring_bytes_written(r) - ring_size(r);
        uint64_t oldest = first;
        while (start_of[oldest] < limit)
            oldest++;
        assert_true(oldest > first && oldest < seq);

        struct ring_entry e;
        uint64_t lost = 0;
        assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
        assert_int_equal(lost, oldest - first); /* exactly the overwritten ones */
        assert_int_equal(e.seq, oldest);
        lost = 0;
        for (uint64_t s = oldest; s < seq; s++) /* every intact one, in order */
            expect_entry(r, &rd, s, 0);
        assert_int_equal(ring_peek(r, &rd, &e, &lost), 0);
        assert_int_equal(lost, 0);
    }
    ring_destroy(r);
}

/* The writer overwrites an entry between ring_peek and ring_consume. */
static void test_ring_consume_detects_overwrite(void **state)
{
    (void)state;
    struct ring *r = ring_create(64 * KiB);
    struct ring_reader rd;
    ring_reader_init(&rd, r);
    struct ring_entry e;
    uint64_t lost = 0;
    uint64_t seq = 1;
    pub_pattern(r, seq++, 0);
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
    /* writes that do not reach the entry: consume still succeeds */
    uint64_t start = ring_bytes_written(r);
    while (ring_bytes_written(r) - start < ring_size(r) / 2)
        pub_pattern(r, seq++, 0);
    assert_int_equal(ring_consume(r, &rd, &lost), 0);
    assert_int_equal(lost, 0);

    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
    uint64_t peeked = e.seq;
    assert_int_equal(peeked, 2);
    while (ring_bytes_written(r) - start < ring_size(r) + 64)
        pub_pattern(r, seq++, 0);
    assert_int_equal(ring_consume(r, &rd, &lost), WSP_EAGAIN);
    /* resumes at the oldest intact entry: the peeked one is counted lost */
    assert_true(lost >= 1 && rd.next_seq == peeked + lost);
    lost = 0;
    for (uint64_t s = rd.next_seq; s < seq; s++)
        expect_entry(r, &rd, s, 0);
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 0);
    pub_pattern(r, seq, 0);
    expect_entry(r, &rd, seq, 0);
    ring_destroy(r);
}

/* A header that fails validation (memory corruption, a bug) never sends the
 * reader out of bounds: it is treated like a lap. White-box: the header
 * sits 24 bytes before the topic. */
static void test_ring_corrupt_header_is_a_lap(void **state)
{
    (void)state;
    struct ring *r = ring_create(64 * KiB);
    static const uint64_t bad_w0[] = {
        0xfffffff0u,                  /* total_len past the ring */
        8u,                           /* shorter than a header */
        24u | (uint64_t)60000u << 48, /* topic longer than the entry */
        (uint64_t)0x80u << 32 | 64u,  /* a padding marker mid-ring */
        4096u,                        /* beyond the head */
    };
    for (size_t i = 0; i < sizeof bad_w0 / sizeof bad_w0[0]; i++) {
        struct ring_reader rd;
        ring_reader_init(&rd, r);
        uint64_t first = ring_head_seq(r) + 1;
        pub_pattern(r, first, 0);
        pub_pattern(r, first + 1, 0);
        struct ring_entry e;
        uint64_t lost = 0;
        assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
        uint64_t *hdr = (uint64_t *)(void *)(uintptr_t)(e.topic - 24);
        uint64_t saved = hdr[0];
        hdr[0] = bad_w0[i];
        assert_int_equal(ring_peek(r, &rd, &e, &lost), 0);
        assert_int_equal(lost, 2);
        hdr[0] = saved; /* the writer reads its own headers when it wraps */
    }
    /* a wrong seq in an otherwise valid header */
    struct ring_reader rd;
    ring_reader_init(&rd, r);
    uint64_t first = ring_head_seq(r) + 1;
    pub_pattern(r, first, 0);
    struct ring_entry e;
    uint64_t lost = 0;
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 1);
    uint64_t *hdr = (uint64_t *)(void *)(uintptr_t)(e.topic - 24);
    hdr[1] += 5;
    assert_int_equal(ring_peek(r, &rd, &e, &lost), 0);
    assert_int_equal(lost, 1);
    hdr[1] -= 5;
    ring_destroy(r);
}

/* A reader process can make the ring read-only for itself: it still reads,
 * a stray write faults in that process, and the writer is unaffected. */
static void test_ring_readonly_reader(void **state)
{
    (void)state;
    struct ring *r = ring_create(64 * KiB);
    pub_pattern(r, 1, 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ring_reader rd = {0, 1};
        struct ring_entry e;
        uint64_t lost = 0;
        if (ring_protect_readonly(r) != 0 || ring_peek(r, &rd, &e, &lost) != 1 ||
            ring_consume(r, &rd, &lost) != 0 || lost != 0)
            _exit(2);
        signal(SIGSEGV, SIG_DFL);                    /* not cmocka's handler: just die */
        *(volatile uint8_t *)(uintptr_t)e.frame = 0; /* must fault */
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_int_equal(pub_pattern(r, 2, 0), 2);
    struct ring_reader rd = {0, 1};
    expect_entry(r, &rd, 1, 0);
    expect_entry(r, &rd, 2, 0);
    ring_destroy(r);
}

/* ---- a reader in another process ---- */

struct xproc {                   /* MAP_SHARED between the test and its child */
    _Atomic int ready;           /* child: reader initialised, reading */
    _Atomic int done;            /* parent: every entry published */
    _Atomic uint64_t reader_pos; /* child: its position, for a waiting writer */
    _Atomic uint64_t polls;      /* child: ring_peek calls, to see it is running */
    uint64_t accepted;           /* entries copied and confirmed intact */
    uint64_t lost;               /* entries counted lost */
    uint64_t torn;               /* ring_consume said the copy was overwritten */
    uint64_t corrupt;            /* confirmed entries whose bytes were wrong: must be 0 */
    uint64_t out_of_order;       /* accepted seq not above the previous: must be 0 */
};

static uint8_t child_copy[300 * KiB];

static void child_read(struct ring *r, struct xproc *x, size_t big, unsigned slow)
{
    struct ring_reader rd;
    if (ring_protect_readonly(r) != 0)
        _exit(4);
    ring_reader_init(&rd, r);
    atomic_store(&x->ready, 1);
    uint64_t prev = 0;
    char topic[32];
    for (;;) {
        int fin = atomic_load_explicit(&x->done, memory_order_acquire);
        struct ring_entry e;
        int rc = ring_peek(r, &rd, &e, &x->lost);
        atomic_fetch_add_explicit(&x->polls, 1, memory_order_relaxed);
        if (rc == 1) {
            /* copy out, as a worker does, then ask whether it was intact */
            struct ring_entry c = e;
            if (e.topic_len > sizeof topic || e.frame_len > sizeof child_copy) {
                x->corrupt++;
                _exit(3);
            }
            memcpy(topic, e.topic, e.topic_len);
            memcpy(child_copy, e.frame, e.frame_len);
            for (unsigned k = 0; k < slow; k++)
                sched_yield();
            if (ring_consume(r, &rd, &x->lost) != 0) {
                x->torn++;
                continue;
            }
            x->accepted++;
            if (c.seq <= prev)
                x->out_of_order++;
            prev = c.seq;
            if (check_pattern(c.seq, c.publish_ns, c.flags, topic, c.topic_len, child_copy,
                              c.frame_len, big) != 0)
                x->corrupt++;
            atomic_store_explicit(&x->reader_pos, rd.pos, memory_order_release);
            continue;
        }
        atomic_store_explicit(&x->reader_pos, rd.pos, memory_order_release);
        if (fin)
            break;
        sched_yield();
    }
    _exit(0);
}

/* A writer waiting for its reader must not wait for a dead one. */
static void assert_child_running(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid)
        fail_msg("reader process ended early (status %d)", status);
}

/* Parent publishes n entries while a forked child reads; when `wait` is set
 * the writer never gets more than half a ring ahead of the reader. Without
 * it the writer runs flat out, except that after every burst (many laps of
 * a small ring) it makes sure the child has run at all, so the two really
 * overlap even on a loaded machine. */
static void run_xproc(size_t ring_bytes, uint64_t n, size_t big, bool wait, unsigned slow,
                      struct xproc *out)
{
    struct ring *r = ring_create(ring_bytes);
    assert_non_null(r);
    struct xproc *x =
        mmap(NULL, sizeof *x, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(x != MAP_FAILED);
    memset(x, 0, sizeof *x);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_read(r, x, big, slow);
    while (!atomic_load(&x->ready))
        sched_yield();
    uint64_t polls = 0;
    for (uint64_t seq = 1; seq <= n; seq++) {
        if (!wait && seq % 2000 == 0) {
            for (unsigned spin = 1; atomic_load(&x->polls) == polls; spin++) {
                sched_yield();
                if (spin % 4096 == 0)
                    assert_child_running(pid);
            }
            polls = atomic_load(&x->polls);
        }
        if (wait)
            for (unsigned spin = 1; ring_bytes_written(r) -
                                        atomic_load_explicit(&x->reader_pos, memory_order_acquire) >
                                    ring_size(r) / 2;
                 spin++) {
                sched_yield();
                if (spin % 4096 == 0)
                    assert_child_running(pid);
            }
        assert_int_equal(pub_pattern(r, seq, big), (int64_t)seq);
    }
    atomic_store_explicit(&x->done, 1, memory_order_release);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    *out = *x;
    munmap(x, sizeof *x);
    ring_destroy(r);
}

static void test_ring_other_process_small_ring_laps(void **state)
{
    (void)state;
    struct xproc x;
    const uint64_t n = 200000;
    run_xproc(64 * KiB, n, 12000, false, 0, &x);
    print_message("small ring, no waiting: total %llu received %llu lost %llu "
                  "(torn at consume %llu) corrupted %llu\n",
                  (unsigned long long)n, (unsigned long long)x.accepted, (unsigned long long)x.lost,
                  (unsigned long long)x.torn, (unsigned long long)x.corrupt);
    assert_int_equal(x.corrupt, 0);
    assert_int_equal(x.out_of_order, 0);
    assert_int_equal(x.accepted + x.lost, n);
    assert_true(x.accepted > 0);

    /* a reader that dawdles between copy and consume is overwritten often */
    run_xproc(64 * KiB, n / 4, 12000, false, 20, &x);
    print_message("small ring, slow reader: total %llu received %llu lost %llu "
                  "(torn at consume %llu) corrupted %llu\n",
                  (unsigned long long)(n / 4), (unsigned long long)x.accepted,
                  (unsigned long long)x.lost, (unsigned long long)x.torn,
                  (unsigned long long)x.corrupt);
    assert_int_equal(x.corrupt, 0);
    assert_int_equal(x.out_of_order, 0);
    assert_int_equal(x.accepted + x.lost, n / 4);
    assert_true(x.lost > 0);
}

static void test_ring_other_process_no_loss(void **state)
{
    (void)state;
    struct xproc x;
    const uint64_t n = 100000;
    run_xproc(1 * MiB, n, 0, true, 0, &x);
    print_message("1 MiB ring, writer waits: total %llu received %llu lost %llu "
                  "corrupted %llu\n",
                  (unsigned long long)n, (unsigned long long)x.accepted, (unsigned long long)x.lost,
                  (unsigned long long)x.corrupt);
    assert_int_equal(x.corrupt, 0);
    assert_int_equal(x.out_of_order, 0);
    assert_int_equal(x.torn, 0);
    assert_int_equal(x.lost, 0);
    assert_int_equal(x.accepted, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_create_sizes),
        cmocka_unit_test(test_ring_publish_and_read),
        cmocka_unit_test(test_ring_wrap_around),
        cmocka_unit_test(test_ring_max_entry),
        cmocka_unit_test(test_ring_reader_catches_up),
        cmocka_unit_test(test_ring_lapped_reader),
        cmocka_unit_test(test_ring_lapped_reader_resyncs_to_oldest_intact),
        cmocka_unit_test(test_ring_consume_detects_overwrite),
        cmocka_unit_test(test_ring_corrupt_header_is_a_lap),
        cmocka_unit_test(test_ring_readonly_reader),
        cmocka_unit_test(test_ring_other_process_small_ring_laps),
        cmocka_unit_test(test_ring_other_process_no_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
