/* ring.h - the shared-memory ring of encoded frames, master -> workers.
 *
 * Created by the master before it forks (MAP_SHARED | MAP_ANONYMOUS), so
 * every worker sees the same memory. One writer (the master) appends entries
 * { seq, publish time, flags, topic, frame bytes }; any number of readers
 * (workers, in other processes) follow with their own cursor. The ring
 * overwrites its oldest entries: a reader that falls a whole lap behind
 * detects it (its position is older than the writer's tail), counts what it
 * lost and resumes at the oldest entry still intact, so it skips only what
 * is really gone. A reader never acts on a torn entry:
 * it copies what it needs between ring_peek() and ring_consume(), and
 * ring_consume() says whether the writer overwrote the entry meanwhile.
 *
 * Lock-free: the writer publishes with release stores, readers load with
 * acquire. No allocation after ring_create. */
#ifndef WSP_PUBSUB_RING_H
#define WSP_PUBSUB_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_F_BINARY 0x1u    /* the frame is a binary message (else text) */
#define RING_F_BROADCAST 0x2u /* to every connection; topic is empty */
#define RING_F_DEFLATE                                                                             \
    0x4u /* the frame bytes are the plain frame followed by                                        \
          * its permessage-deflate frame (RSV1 set) */
#define RING_F_FORMS                                                                               \
    0x8u /* the frame bytes are a struct ring_forms followed by                                    \
          * the forms it lists (pubsub/forms.h); the message                                       \
          * carries its topic seq */
#define RING_F_CONFLATE                                                                            \
    0x10u /* a worker that already holds a newer entry of the                                      \
           * same topic (and flags) may skip this one */
#define RING_F_CONTROL                                                                             \
    0x40u /* not a message: a control command for the workers                                      \
           * (server/control.h); topic = its subject */
/* 0x80 is reserved by the ring itself (padding marker) and never published. */

struct ring;

/* size_bytes is rounded up to a power of two (min 64 KiB). NULL on failure. */
struct ring *ring_create(size_t size_bytes);
void ring_destroy(struct ring *r);
/* In a reader process, after fork: makes this process's view of the ring
 * read-only, so a stray write in a worker faults there instead of corrupting
 * the stream for every worker. Returns 0 or -errno. Never call it in the
 * writer. */
int ring_protect_readonly(struct ring *r);

/* The largest topic_len + frame_len one entry may carry: a quarter of the
 * ring minus the 24-byte entry header, so a reader always has room to catch
 * up. */
size_t ring_max_entry(const struct ring *r);

/* Writer only. Appends one entry and returns its sequence number (>= 1), or
 * WSP_ETOOBIG if topic_len + frame_len is larger than ring_max_entry() or
 * topic_len is over 65535. Overwrites the oldest entries as needed. */
int64_t ring_publish(struct ring *r, uint8_t flags, const char *topic, size_t topic_len,
                     const uint8_t *frame, size_t frame_len, uint64_t publish_ns);

/* State for the writer side, read by anyone (for stats). */
uint64_t ring_head_seq(const struct ring *r);      /* last published seq, 0 if none */
uint64_t ring_bytes_written(const struct ring *r); /* ring bytes used, padding included */
size_t ring_size(const struct ring *r);

struct ring_reader {   /* owned by one reader */
    uint64_t pos;      /* monotonic byte position of the next entry */
    uint64_t next_seq; /* the seq expected there */
};

struct ring_entry { /* pointers into shared memory: copy, then consume */
    uint64_t seq;
    uint64_t publish_ns;
    uint8_t flags;
    const char *topic;
    size_t topic_len;
    const uint8_t *frame;
    size_t frame_len;
};

/* Starts a reader at the current head (it sees only later entries). */
void ring_reader_init(struct ring_reader *rd, const struct ring *r);

/* Returns 1 and fills e when an entry is available (e->seq == rd->next_seq),
 * or 0 when the reader is caught up; never an error. If the reader was
 * lapped (its position is older than the writer's tail), it is moved to the
 * oldest entry still intact, seq O: *lost (may be NULL) is increased by
 * O - rd->next_seq, the entries it will never see, and rd->next_seq becomes
 * O; the call then returns 0 or 1 as for the new position. (If the writer
 * keeps overwriting that entry faster than it can be looked at, the reader
 * goes to the head instead, head seq H: *lost grows by H - rd->next_seq + 1.)
 * So *lost > 0 means a gap: entries before the next one returned are gone.
 * Calling again without ring_consume returns the same entry. A header that
 * fails validation (cannot happen unless memory is corrupt) moves the reader
 * to the head, counting what it skips. */
int ring_peek(const struct ring *r, struct ring_reader *rd, struct ring_entry *e, uint64_t *lost);

/* After copying what it needs from the entry ring_peek returned (only then:
 * call it only after ring_peek returned 1): returns 0 and advances the
 * reader if the entry was intact the whole time, or WSP_EAGAIN if the writer
 * overwrote it meanwhile (the copy must be discarded; the reader is
 * resynchronised at the oldest intact entry as in ring_peek, and *lost
 * counts the skipped entries including this one). */
int ring_consume(const struct ring *r, struct ring_reader *rd, uint64_t *lost);

/* Random access for an index kept beside the ring (pubsub/history.c).
 * ring_newest_pos: writer only, the byte position of the entry the last
 * ring_publish appended. ring_peek_at: any reader, the entry at such a
 * position: 1 and e filled if its header is intact now, 0 if it was
 * overwritten or pos is not an entry the ring still holds (e's pointers
 * are valid only until ring_intact says so). ring_intact: after copying
 * from e, true if nothing at or after pos was overwritten meanwhile. */
uint64_t ring_newest_pos(const struct ring *r);
int ring_peek_at(const struct ring *r, uint64_t pos, struct ring_entry *e);
bool ring_intact(const struct ring *r, uint64_t pos);

#endif
