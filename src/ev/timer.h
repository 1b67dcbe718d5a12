/* timer.h - coarse per-connection deadlines: one byte each, swept.
 *
 * A million connections cannot each own a heap timer. Instead the owner
 * keeps a wrapping 8-bit tick counter (advanced by a periodic ev timer, e.g.
 * every second) and each connection a one-byte deadline in ticks, kept in a
 * dense byte array beside the connection array. Since the clock visits every
 * tick value, a deadline is due exactly when it equals the clock, so the
 * sweep is a memchr over that array (measured: the earlier walk over the
 * connection structs cost ~2% of a worker at 5k connections and 1 message/s,
 * and dirtied every connection's cache line). A byte holds at most 127
 * ticks so the wrap-around comparison below stays unambiguous; longer
 * deadlines (up to ~96 days) add a 16-bit lap count, see ev_deadline_set.
 * Pure arithmetic, no state of its own. */
#ifndef WSP_EV_TIMER_H
#define WSP_EV_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define EV_DEADLINE_NONE 0u /* "no deadline": tick values skip 0 */
#define EV_DEADLINE_MAX_TICKS 127u

/* Advances a tick counter, skipping the reserved value 0. */
static inline uint8_t ev_tick_next(uint8_t tick)
{
    tick++;
    return tick == 0 ? 1 : tick;
}

/* The byte for a deadline `ticks` ahead of now (clamped to
 * 1..EV_DEADLINE_MAX_TICKS: for anything longer use ev_deadline_set). */
static inline uint8_t ev_deadline_after(uint8_t now, unsigned ticks)
{
    if (ticks == 0)
        ticks = 1;
    if (ticks > EV_DEADLINE_MAX_TICKS)
        ticks = EV_DEADLINE_MAX_TICKS;
    unsigned d = now + ticks;
    /* Skipping 0 on the way round moves the deadline one tick later. */
    if (d > 255)
        d = d - 255;
    return (uint8_t)d;
}

/* True when the deadline is set and now has reached or passed it. */
static inline bool ev_deadline_expired(uint8_t deadline, uint8_t now)
{
    if (deadline == EV_DEADLINE_NONE)
        return false;
    /* Distance from deadline to now on the 255-value circle 1..255. */
    unsigned diff = (unsigned)((now + 255u - deadline) % 255u);
    return diff < 128u;
}

/* ---- deadlines beyond one byte's reach ----
 *
 * A deadline further than EV_DEADLINE_MAX_TICKS is kept as a first stop in
 * the byte plus a count of further full byte-ranges ("laps") in a small
 * per-owner field. When the sweep reaches the byte, ev_deadline_due re-arms
 * it EV_DEADLINE_MAX_TICKS further and counts a lap down, so the sweep stays
 * one memchr over bytes and a far deadline touches its owner once per 127
 * ticks. (Rejected: a second, minute-resolution byte array: two sweeps and
 * two writes per re-arm for the same result.) Issue 11: durations above
 * ~126 s used to be clamped silently. */

#define EV_TICK_MS 1000u /* the coarse clock's period (the owner's sweep) */
#define EV_DEADLINE_MAX_LAPS 65535u
/* The furthest deadline: 65536 * 127 ticks, about 96 days at 1 s a tick. */
#define EV_DEADLINE_LONG_MAX_TICKS ((uint64_t)(EV_DEADLINE_MAX_LAPS + 1u) * EV_DEADLINE_MAX_TICKS)
/* The longest duration that converts to at most EV_DEADLINE_LONG_MAX_TICKS;
 * configuration rejects longer ones. */
#define EV_DEADLINE_MAX_MS ((EV_DEADLINE_LONG_MAX_TICKS - 1) * EV_TICK_MS)

/* Ticks for a duration: whole ticks and never early, so rounded up plus one
 * for the partial tick we are in. Not clamped: compare with
 * EV_DEADLINE_LONG_MAX_TICKS (or the ms with EV_DEADLINE_MAX_MS). */
static inline uint64_t ev_ticks_for_ms(uint64_t ms)
{
    return (ms + EV_TICK_MS - 1) / EV_TICK_MS + 1;
}

/* Sets a deadline `ticks` ahead of now (0 counts as 1; beyond
 * EV_DEADLINE_LONG_MAX_TICKS it is clamped there, so validate first): *byte
 * gets the first stop, *laps the number of full byte-ranges after it. */
static inline void ev_deadline_set(uint8_t *byte, uint16_t *laps, uint8_t now, uint64_t ticks)
{
    if (ticks == 0)
        ticks = 1;
    if (ticks > EV_DEADLINE_LONG_MAX_TICKS)
        ticks = EV_DEADLINE_LONG_MAX_TICKS;
    uint64_t l = (ticks - 1) / EV_DEADLINE_MAX_TICKS; /* first stop is 1..127 ticks */
    *laps = (uint16_t)l;
    *byte = ev_deadline_after(now, (unsigned)(ticks - l * EV_DEADLINE_MAX_TICKS));
}

/* For the sweep, when the byte has come round: true when the whole deadline
 * has passed. While laps remain it re-arms the byte one range further and
 * returns false. */
static inline bool ev_deadline_due(uint8_t *byte, uint16_t *laps, uint8_t now)
{
    if (!ev_deadline_expired(*byte, now))
        return false;
    if (*laps == 0)
        return true;
    (*laps)--;
    *byte = ev_deadline_after(now, EV_DEADLINE_MAX_TICKS);
    return false;
}

#endif
