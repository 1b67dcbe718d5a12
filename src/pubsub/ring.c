/* ring.c - the shared-memory ring of encoded frames (see ring.h).
 *
 * One writer (the master) appends variable-length entries to a power-of-two
 * data area in MAP_SHARED memory; readers in other processes follow it with
 * private cursors. It does not wake readers (the caller's eventfd does), does
 * not allocate after ring_create, and never blocks: a slow reader is simply
 * overwritten, resumes at the oldest entry still intact and is told how
 * many it lost.
 *
 * Layout of the mapping:
 *   [ immutable line: size, mask, max_entry ][ writer line: atomics ][ data ]
 * Positions are monotonic 64-bit byte counters; pos & mask is the offset.
 * Each entry is 8-byte aligned and never straddles the end of the data area:
 *   u32 total_len | u8 flags | u8 pad | u16 topic_len | u64 seq | u64 publish_ns
 *   | topic bytes | frame bytes | zero..7 bytes to the next multiple of 8
 * total_len counts the 24-byte header, topic and frame (not the alignment).
 * When an entry does not fit before the end, the writer puts a padding marker
 * there: one 8-byte word with RING_F_PAD in flags and total_len = the bytes
 * left to the end (always a multiple of 8, so the word always fits), and the
 * entry starts at offset 0.
 *
 * Invariant (the writer's state, published as atomics):
 *   tail <= head, head - tail <= size, every entry in [tail, head) is intact
 *   and has seq in (head_seq - entries, head_seq]; tail and head sit on entry
 *   (or padding) boundaries.
 * The writer moves tail past everything it is about to overwrite and makes
 * that store visible (store + release fence) BEFORE touching the bytes, and
 * moves head (release) only after the entry is complete. So a reader that
 * reads some bytes, then issues an acquire fence and sees tail <= the entry's
 * start, knows the bytes it read were not being overwritten: that is the
 * whole validation protocol (a seqlock whose "sequence" is the tail).
 *
 * The entry header words are written and read as relaxed 64-bit atomics so a
 * reader can never see a half-written length; the frame bytes are plain
 * memcpy, validated afterwards by ring_consume. Every length a reader takes
 * from shared memory is checked against the ring size and the head before it
 * is used, so even a corrupt header can never send a reader out of bounds. */
#include "pubsub/ring.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "core/err.h"
#include "core/wsp_assert.h"

/* gcc warns that ThreadSanitizer does not model fences. The writer and the
 * readers live in different processes, which TSan cannot observe anyway. */
#if defined(__SANITIZE_THREAD__) && !defined(__clang__) && __GNUC__ >= 11
#pragma GCC diagnostic ignored "-Wtsan"
#endif

/* The ring is shared between processes: an atomic implemented with a
 * process-local lock would silently not be atomic at all. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_LONG_LOCK_FREE == 2,
               "the shared ring needs lock-free 64-bit atomics");

#define RING_F_PAD 0x80u   /* flags: padding to the end of the data area */
#define RING_HDR_BYTES 24u /* entry header: 3 words */
#define RING_MIN_BYTES (64u * 1024u)
#define RING_MAX_BYTES (1ull << 32) /* keeps total_len within 32 bits */
#define RING_CACHE_LINE 64
#define RING_META_BYTES 4096u /* the data area starts page-aligned */
#define RING_RESYNC_SPINS 64  /* seqlock retries before yielding the CPU */

struct ring {
    /* immutable after ring_create: read by everyone, written by no one */
    uint64_t size;      /* bytes of data area, a power of two */
    uint64_t mask;      /* size - 1 */
    uint64_t max_entry; /* size / 4 - RING_HDR_BYTES */
    uint64_t map_bytes; /* the whole mapping, for munmap */

    /* the writer's state: written only by the writer, on its own line */
    alignas(RING_CACHE_LINE) _Atomic uint64_t head; /* end of the newest entry */
    _Atomic uint64_t tail;                          /* start of the oldest intact entry */
    _Atomic uint64_t head_seq;                      /* seq of the newest entry, 0 if none */
    /* Even when (head, head_seq) are consistent, odd while the writer
     * updates them: lets a resynchronising reader take both as one pair. */
    _Atomic uint64_t head_gen;
    uint64_t newest_pos; /* writer only: start of the newest entry */
};

_Static_assert(sizeof(struct ring) <= RING_META_BYTES, "ring header outgrew its page");

static inline uint8_t *ring_data(const struct ring *r)
{
    return (uint8_t *)r + RING_META_BYTES;
}

static inline uint64_t align8(uint64_t n)
{
    return (n + 7u) & ~(uint64_t)7u;
}

/* The header word at offset off (8-aligned) of the data area. */
static inline _Atomic uint64_t *word_at(const struct ring *r, uint64_t off)
{
    return (_Atomic uint64_t *)(void *)(ring_data(r) + off);
}

static inline uint64_t pack_w0(uint32_t total_len, uint8_t flags, uint16_t topic_len)
{
    /* same bytes as the struct { u32 total_len; u8 flags; u8 pad; u16 topic_len }
     * on a little-endian machine */
    return (uint64_t)total_len | (uint64_t)flags << 32 | (uint64_t)topic_len << 48;
}

static inline uint32_t w0_total_len(uint64_t w)
{
    return (uint32_t)w;
}
static inline uint8_t w0_flags(uint64_t w)
{
    return (uint8_t)(w >> 32);
}
static inline uint16_t w0_topic_len(uint64_t w)
{
    return (uint16_t)(w >> 48);
}

struct ring *ring_create(size_t size_bytes)
{
    uint64_t size = RING_MIN_BYTES;
    if (size_bytes > RING_MAX_BYTES) {
        errno = EINVAL;
        return NULL;
    }
    while (size < size_bytes)
        size <<= 1;
    uint64_t map_bytes = RING_META_BYTES + size;
    void *p = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* anonymous memory is zeroed: head = tail = head_seq = head_gen = 0 */
    struct ring *r = p;
    r->size = size;
    r->mask = size - 1;
    r->max_entry = size / 4 - RING_HDR_BYTES;
    r->map_bytes = map_bytes;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->head_seq, 0);
    atomic_init(&r->head_gen, 0);
    return r;
}

void ring_destroy(struct ring *r)
{
    if (r)
        munmap(r, r->map_bytes);
}

int ring_protect_readonly(struct ring *r)
{
    /* Readers only load: 64-bit atomic loads are plain loads on the targets
     * we build for, so they work on a read-only mapping. */
    if (mprotect(r, r->map_bytes, PROT_READ) != 0)
        return -errno;
    return 0;
}

size_t ring_max_entry(const struct ring *r)
{
    return (size_t)r->max_entry;
}

size_t ring_size(const struct ring *r)
{
    return (size_t)r->size;
}

uint64_t ring_head_seq(const struct ring *r)
{
    return atomic_load_explicit(&((struct ring *)r)->head_seq, memory_order_acquire);
}

uint64_t ring_bytes_written(const struct ring *r)
{
    return atomic_load_explicit(&((struct ring *)r)->head, memory_order_acquire);
}

/* ---- writer ---- */

/* Bytes the entry (or padding marker) at pos occupies. Writer only: the
 * writer reads back its own, intact entries. */
static uint64_t stride_at(const struct ring *r, uint64_t pos)
{
    uint64_t w0 = atomic_load_explicit(word_at(r, pos & r->mask), memory_order_relaxed);
    uint64_t len = w0_total_len(w0);
    uint64_t stride = (w0_flags(w0) & RING_F_PAD) ? len : align8(len);
    /* always on: a zero stride would spin the writer forever */
    WSP_ASSERT(stride >= 8 && stride <= r->size - (pos & r->mask));
    return stride;
}

int64_t ring_publish(struct ring *r, uint8_t flags, const char *topic, size_t topic_len,
                     const uint8_t *frame, size_t frame_len, uint64_t publish_ns)
{
    if (topic_len > UINT16_MAX || frame_len > r->max_entry || topic_len + frame_len > r->max_entry)
        return WSP_ETOOBIG;
    uint64_t total = RING_HDR_BYTES + topic_len + frame_len;
    uint64_t need = align8(total);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t seq = atomic_load_explicit(&r->head_seq, memory_order_relaxed) + 1;

    uint64_t off = head & r->mask;
    uint64_t pad = 0;
    if (need > r->size - off)
        pad = r->size - off; /* padding marker, then the entry at offset 0 */
    uint64_t start = head + pad;
    uint64_t end = start + need;

    /* Everything below end - size is about to be overwritten: move the tail
     * past it first. need <= size / 4, so the tail never passes the head. */
    if (end > r->size) {
        uint64_t limit = end - r->size;
        uint64_t old_tail = tail;
        while (tail < limit && tail < head)
            tail += stride_at(r, tail);
        if (tail != old_tail) {
            atomic_store_explicit(&r->tail, tail, memory_order_relaxed);
            /* Orders the tail store before every byte written below: a reader
             * that sees any new byte and then fences (acquire) sees this tail. */
            atomic_thread_fence(memory_order_release);
        }
    }

    if (pad)
        atomic_store_explicit(word_at(r, off), pack_w0((uint32_t)pad, RING_F_PAD, 0),
                              memory_order_relaxed);
    uint64_t eoff = start & r->mask;
    uint8_t *e = ring_data(r) + eoff;
    atomic_store_explicit(
        word_at(r, eoff),
        pack_w0((uint32_t)total, (uint8_t)(flags & ~RING_F_PAD), (uint16_t)topic_len),
        memory_order_relaxed);
    atomic_store_explicit(word_at(r, eoff + 8), seq, memory_order_relaxed);
    atomic_store_explicit(word_at(r, eoff + 16), publish_ns, memory_order_relaxed);
    if (topic_len)
        memcpy(e + RING_HDR_BYTES, topic, topic_len);
    if (frame_len)
        memcpy(e + RING_HDR_BYTES + topic_len, frame, frame_len);

    /* Publish (head, head_seq) as one pair for resynchronising readers; the
     * release store of head is what makes the entry's bytes visible. */
    uint64_t gen = atomic_load_explicit(&r->head_gen, memory_order_relaxed);
    atomic_store_explicit(&r->head_gen, gen + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&r->head_seq, seq, memory_order_relaxed);
    atomic_store_explicit(&r->head, end, memory_order_release);
    atomic_store_explicit(&r->head_gen, gen + 2, memory_order_release);
    r->newest_pos = start;
    return (int64_t)seq;
}

/* ---- readers ---- */

/* A consistent (head, head_seq) pair. The writer holds head_gen odd only
 * across three stores, so this spins for nanoseconds unless the writer is
 * descheduled right there; it yields the CPU rather than burn it. */
static void head_snapshot(const struct ring *r, uint64_t *pos, uint64_t *seq)
{
    struct ring *w = (struct ring *)r;
    for (unsigned spins = 0;; spins++) {
        uint64_t g1 = atomic_load_explicit(&w->head_gen, memory_order_acquire);
        if (!(g1 & 1)) {
            uint64_t s = atomic_load_explicit(&w->head_seq, memory_order_relaxed);
            uint64_t h = atomic_load_explicit(&w->head, memory_order_acquire);
            atomic_thread_fence(memory_order_acquire);
            uint64_t g2 = atomic_load_explicit(&w->head_gen, memory_order_relaxed);
            if (g1 == g2) {
                *pos = h;
                *seq = s;
                return;
            }
        }
        if (spins >= RING_RESYNC_SPINS)
            sched_yield();
    }
}

void ring_reader_init(struct ring_reader *rd, const struct ring *r)
{
    uint64_t h, s;
    head_snapshot(r, &h, &s);
    rd->pos = h;
    rd->next_seq = s + 1;
}

/* Moves the reader to the head. Every entry from rd->next_seq to the head's
 * seq (inclusive) is skipped: that many are added to *lost. */
static void resync(const struct ring *r, struct ring_reader *rd, uint64_t *lost)
{
    uint64_t h, s;
    head_snapshot(r, &h, &s);
    if (s + 1 > rd->next_seq && lost)
        *lost += s + 1 - rd->next_seq;
    rd->pos = h;
    rd->next_seq = s + 1;
}

/* True if the bytes read from [pos, ...) before this call could have been
 * overwritten while they were read. */
static inline bool overwritten_since(const struct ring *r, uint64_t pos)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&((struct ring *)r)->tail, memory_order_relaxed) > pos;
}

/* A lapped reader: moves it to the oldest entry still intact (the writer's
 * tail, past a padding marker there) and counts only the entries before it
 * as lost, so that nothing the ring still holds is skipped (issue 11, item
 * 13: resuming at the head threw away up to a ring's worth of good entries).
 * The tail entry is the next one the writer overwrites, so it is read with
 * the same seqlock check as any other; if the tail keeps moving under us
 * (a writer lapping us again and again), fall back to the head, which is
 * always safe. A seq that does not fit (older than the reader's, newer than
 * the head's) means memory is corrupt: the head as well. */
static void resync_oldest(const struct ring *r, struct ring_reader *rd, uint64_t *lost)
{
    struct ring *w = (struct ring *)r;
    for (int tries = 0; tries < RING_RESYNC_SPINS; tries++) {
        uint64_t tail = atomic_load_explicit(&w->tail, memory_order_acquire);
        uint64_t h, s;
        head_snapshot(r, &h, &s); /* after the tail: tail <= h */
        uint64_t pos = tail;
        if (pos >= h || (pos & 7))
            break;
        uint64_t off = pos & r->mask;
        uint64_t w0 = atomic_load_explicit(word_at(r, off), memory_order_relaxed);
        if (w0_flags(w0) & RING_F_PAD) {
            if (w0_total_len(w0) != r->size - off) {
                if (overwritten_since(r, tail))
                    continue;
                break;
            }
            pos += w0_total_len(w0);
            off = 0;
            if (pos >= h) { /* only padding left: the head is the oldest */
                if (overwritten_since(r, tail))
                    continue;
                break;
            }
            w0 = atomic_load_explicit(word_at(r, off), memory_order_relaxed);
        }
        uint64_t seq = atomic_load_explicit(word_at(r, off + 8), memory_order_relaxed);
        if (overwritten_since(r, tail))
            continue; /* the writer moved on while we looked: look again */
        uint64_t total = w0_total_len(w0);
        if ((w0_flags(w0) & RING_F_PAD) || total < RING_HDR_BYTES || total > r->size - off ||
            pos + align8(total) > h || seq < rd->next_seq || seq > s)
            break;
        if (lost)
            *lost += seq - rd->next_seq;
        rd->pos = pos;
        rd->next_seq = seq;
        return;
    }
    resync(r, rd, lost);
}

int ring_peek(const struct ring *r, struct ring_reader *rd, struct ring_entry *e, uint64_t *lost)
{
    struct ring *w = (struct ring *)r;
    /* Each round either returns, skips one padding marker, or resyncs; a
     * resync lands on an intact entry (or the head), so this ends unless the
     * writer keeps lapping us faster than we can take two loads: bound it
     * anyway. */
    for (int round = 0; round < 64; round++) {
        uint64_t head = atomic_load_explicit(&w->head, memory_order_acquire);
        uint64_t pos = rd->pos;
        if (pos == head)
            return 0;
        uint64_t tail = atomic_load_explicit(&w->tail, memory_order_acquire);
        if (pos < tail) { /* lapped: resume at the oldest intact entry */
            resync_oldest(r, rd, lost);
            continue;
        }
        if (pos > head || (pos & 7)) { /* a cursor that is not ours */
            resync(r, rd, lost);
            continue;
        }
        uint64_t off = pos & r->mask;
        uint64_t room = r->size - off; /* bytes to the end of the data area */
        uint64_t w0 = atomic_load_explicit(word_at(r, off), memory_order_relaxed);
        uint64_t total = w0_total_len(w0);
        uint8_t flags = w0_flags(w0);
        if (flags & RING_F_PAD) {
            if (overwritten_since(r, pos)) {
                resync_oldest(r, rd, lost);
                continue;
            }
            if (total != room || pos + total > head) {
                resync(r, rd, lost);
                continue;
            }
            rd->pos = pos + total;
            continue;
        }
        if (room < RING_HDR_BYTES) {
            resync(r, rd, lost);
            continue;
        }
        uint64_t seq = atomic_load_explicit(word_at(r, off + 8), memory_order_relaxed);
        uint64_t ns = atomic_load_explicit(word_at(r, off + 16), memory_order_relaxed);
        if (overwritten_since(r, pos)) {
            resync_oldest(r, rd, lost);
            continue;
        }
        /* The header was intact; check it anyway so that no bug or stray
         * write can make us hand out an out-of-bounds slice. */
        uint64_t topic_len = w0_topic_len(w0);
        if (total < RING_HDR_BYTES + topic_len || total > room ||
            total > r->max_entry + RING_HDR_BYTES || pos + align8(total) > head ||
            seq != rd->next_seq) {
            resync(r, rd, lost);
            continue;
        }
        const uint8_t *p = ring_data(r) + off;
        e->seq = seq;
        e->publish_ns = ns;
        e->flags = flags;
        e->topic = (const char *)p + RING_HDR_BYTES;
        e->topic_len = (size_t)topic_len;
        e->frame = p + RING_HDR_BYTES + topic_len;
        e->frame_len = (size_t)(total - RING_HDR_BYTES - topic_len);
        return 1;
    }
    return 0;
}

int ring_consume(const struct ring *r, struct ring_reader *rd, uint64_t *lost)
{
    uint64_t pos = rd->pos;
    uint64_t off = pos & r->mask;
    if (r->size - off < RING_HDR_BYTES || (pos & 7)) {
        WSP_DASSERT(!"ring_consume without a successful ring_peek");
        resync(r, rd, lost);
        return WSP_EAGAIN;
    }
    /* Re-read the entry's first word before the fence: if the tail check
     * below passes, it is the word ring_peek validated. */
    uint64_t w0 = atomic_load_explicit(word_at(r, off), memory_order_relaxed);
    uint64_t seq = atomic_load_explicit(word_at(r, off + 8), memory_order_relaxed);
    if (overwritten_since(r, pos)) {
        /* counts this entry too: next_seq is still its seq */
        resync_oldest(r, rd, lost);
        return WSP_EAGAIN;
    }
    uint64_t total = w0_total_len(w0);
    if ((w0_flags(w0) & RING_F_PAD) || total < RING_HDR_BYTES || total > r->size - off ||
        seq != rd->next_seq) {
        WSP_DASSERT(!"ring_consume without a successful ring_peek");
        resync(r, rd, lost);
        return WSP_EAGAIN;
    }
    rd->pos = pos + align8(total);
    rd->next_seq = seq + 1;
    return 0;
}

/* ---- random access, for an index kept beside the ring (history.c) ---- */

uint64_t ring_newest_pos(const struct ring *r)
{
    return r->newest_pos;
}

int ring_peek_at(const struct ring *r, uint64_t pos, struct ring_entry *e)
{
    struct ring *w = (struct ring *)r;
    uint64_t head = atomic_load_explicit(&w->head, memory_order_acquire);
    if (pos >= head || (pos & 7) || pos < atomic_load_explicit(&w->tail, memory_order_acquire))
        return 0;
    uint64_t off = pos & r->mask;
    uint64_t room = r->size - off;
    if (room < RING_HDR_BYTES)
        return 0;
    uint64_t w0 = atomic_load_explicit(word_at(r, off), memory_order_relaxed);
    uint64_t seq = atomic_load_explicit(word_at(r, off + 8), memory_order_relaxed);
    uint64_t ns = atomic_load_explicit(word_at(r, off + 16), memory_order_relaxed);
    if (overwritten_since(r, pos))
        return 0;
    uint64_t total = w0_total_len(w0);
    uint64_t topic_len = w0_topic_len(w0);
    if ((w0_flags(w0) & RING_F_PAD) || total < RING_HDR_BYTES + topic_len || total > room ||
        pos + align8(total) > head)
        return 0;
    const uint8_t *p = ring_data(r) + off;
    e->seq = seq;
    e->publish_ns = ns;
    e->flags = w0_flags(w0);
    e->topic = (const char *)p + RING_HDR_BYTES;
    e->topic_len = (size_t)topic_len;
    e->frame = p + RING_HDR_BYTES + topic_len;
    e->frame_len = (size_t)(total - RING_HDR_BYTES - topic_len);
    return 1;
}

bool ring_intact(const struct ring *r, uint64_t pos)
{
    return !overwritten_since(r, pos);
}
