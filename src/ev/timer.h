/* timer.h - coarse per-connection deadlines: one byte each, swept.
 *
 * A million connections cannot each own a heap timer. Instead the owner
 * keeps a wrapping 8-bit tick counter (advanced by a periodic ev timer, e.g.
 * every second) and each connection a one-byte deadline in ticks, kept in a
 * dense byte array beside the connection array. Since the clock visits every
 * tick value, a deadline is due exactly when it equals the clock, so the
 * sweep is a memchr over that array (measured: the earlier walk over the
 * connection structs cost ~2% of a worker at 5k connections and 1 message/s,
 * and dirtied every connection's cache line). Deadlines are at most 127
 * ticks ahead so the wrap-around comparison below stays unambiguous.
 * Pure arithmetic, no state of its own. */
#ifndef WSP_EV_TIMER_H
#define WSP_EV_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define EV_DEADLINE_NONE 0u      /* "no deadline": tick values skip 0 */
#define EV_DEADLINE_MAX_TICKS 127u

/* Advances a tick counter, skipping the reserved value 0. */
static inline uint8_t ev_tick_next(uint8_t tick)
{
    tick++;
    return tick == 0 ? 1 : tick;
}

/* The deadline `ticks` ahead of now (clamped to 1..EV_DEADLINE_MAX_TICKS). */
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

#endif
