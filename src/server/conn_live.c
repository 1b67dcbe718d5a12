/* conn_live.c - a connection's deadlines and liveness: the first ping or
 * heartbeat of a new connection (spread over the interval), the
 * once-a-second sweep of the coarse deadlines, and what a due deadline
 * does: a request head that did not come in time (408), an SSE heartbeat,
 * a ping (or none, when the peer's TCP acks prove it alive), a pong
 * timeout judged only after reading what the peer already sent, and the
 * end of a close handshake.
 *
 * What it does not do: read, write or free connections (conn.c; this file
 * uses its sending and reading through conn_int.h). */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "ev/timer.h"
#include "http/sse.h"
#include "server/conn_int.h"
#include "server/server_int.h"
#include "ws/ws_frame.h"

/* The first ping deadline of a new WebSocket, or the first heartbeat of
 * an SSE stream: somewhere in [1/2, 3/2) of the interval t (mean: t), by a
 * golden-ratio hash of the fd, so connections that arrive together (a
 * ramp, a reconnect storm) do not get their pings together for ever after:
 * every later deadline keeps this phase (issue 16: spread evenly over the
 * interval, not in waves). */
static uint32_t first_beat_ticks(uint64_t t, const struct conn *c)
{
    if (t < 2)
        return (uint32_t)t;
    uint64_t phase = ((uint64_t)((uint32_t)c->fd * 2654435769u) * t) >> 32;
    t = t / 2 + phase;
    return (uint32_t)(t > EV_DEADLINE_LONG_MAX_TICKS ? EV_DEADLINE_LONG_MAX_TICKS : t);
}

/* True when the peer's TCP acknowledged something within the last ms
 * milliseconds (the kernel's tcpi_last_ack_recv) while nothing waits in our
 * out-queue: its host is up and the path is open, and it takes what we
 * send, so a ping would prove nothing more. A push-only client of a busy
 * topic is proven alive by the acks of the messages it gets. A send that
 * merely left our socket buffer proves nothing (the bytes may sit there,
 * unacked, for minutes), hence the ack. One getsockopt, cheaper than a
 * ping's send plus its pong's wakeup and read. */
static bool peer_acked_within(const struct conn *c, uint64_t ms)
{
    if (!outq_empty(c->out))
        return false;
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
        len < offsetof(struct tcp_info, tcpi_last_ack_recv) + sizeof ti.tcpi_last_ack_recv)
        return false;
    return ti.tcpi_last_ack_recv < ms;
}

void conn_established(struct worker *w, struct conn *c)
{
    c->state = CONN_WS;
    c->flags |= CF_COUNTED;
    w->st->conns_pending--;
    w->st->conns++;
    w->st->handshakes_total++;
    /* 0: no ping (heartbeat), no deadline */
    conn_deadline_set(w, c,
                      first_beat_ticks((c->flags & CF_SSE) ? w->ticks_sse : w->ticks_ping, c));
}

void conn_sweep(struct worker *w)
{
    w->tick = ev_tick_next(w->tick);
    /* Every tick value is visited (one step per timer run), so a deadline
     * is due exactly when it equals the clock: memchr over one byte per
     * connection finds those (SIMD in glibc), and no connection struct is
     * touched unless its deadline is due. */
    const uint8_t *dl = w->deadlines;
    const uint8_t *end = dl + w->nconns;
    for (const uint8_t *p = dl; p < end && (p = memchr(p, w->tick, (size_t)(end - p))); p++)
        conn_on_tick(w, w->conns[p - dl]);
}

void conn_on_tick(struct worker *w, struct conn *c)
{
    uint8_t *dl = &w->deadlines[c->slot];
    if (!ev_deadline_due(dl, &c->deadline_laps, w->tick))
        return;             /* not yet, or a far deadline re-armed for its next lap */
    *dl = EV_DEADLINE_NONE; /* each case below sets a new one if it needs one */
    switch (c->state) {
    case CONN_HTTP:
        w->st->handshake_fail[HS_FAIL_TIMEOUT]++;
        w->host_ops->on_refused(w, c, 408, "request head not complete in time (closed)");
        conn_kill(w, c, 0);
        break;
    case CONN_WS:
        if (c->flags & CF_SSE) {
            /* a comment line: keeps proxies from timing the stream out, and
             * a dead peer shows as a write error or a backlog that grows
             * to the slow-consumer policy */
            w->st->pings_sent++;
            conn_send_bytes(w, c, SSE_HEARTBEAT, sizeof SSE_HEARTBEAT - 1);
            if (c->state == CONN_WS)
                conn_deadline_set(w, c, w->ticks_sse);
            break;
        }
        if (!w->ticks_ping)
            break;
        if ((c->flags & CF_PING_SENT) && !(c->flags & CF_RD_SHUT)) {
            /* a server that is late itself must not blame its clients:
             * read what the peer already sent before judging (its pong
             * may have waited in the socket through a long fan-out or a
             * stopped worker); any input re-arms the ping deadline */
            conn_read_input(w, c);
            if (c->state != CONN_WS || !(c->flags & CF_PING_SENT))
                break;
        }
        if ((c->flags & (CF_PING_SENT | CF_PING_QUEUED)) == (CF_PING_SENT | CF_PING_QUEUED) &&
            !(c->flags & CF_DROPPING) && c->out && outq_progressed(c->out)) {
            /* our ping is still queued behind output the peer is taking,
             * slowly (an overloaded client, or a server that was late):
             * it cannot have answered yet. Judge again a pong timeout
             * later; once the ping leaves, on_drained gives the peer a
             * full pong timeout from then. A peer that took nothing for a
             * whole pong timeout is judged as before. */
            w->st->pongs_deferred++;
            conn_deadline_set(w, c, w->ticks_pong);
            break;
        }
        if (c->flags & CF_PING_SENT) {
            conn_close(w, c, WS_CLOSE_GOING_AWAY, "ping timeout");
            /* a silent peer will not answer the close either */
            conn_deadline_set(w, c, 1);
            break;
        }
        if (!(c->flags & CF_RD_SHUT) && peer_acked_within(c, w->ping_ms)) {
            /* proven alive without a ping; the phase is kept */
            w->st->pings_skipped++;
            conn_deadline_set(w, c, w->ticks_ping);
            break;
        }
        c->flags |= CF_PING_SENT;
        c->flags &= (uint16_t)~CF_PING_QUEUED;
        w->st->pings_sent++;
        if (conn_send_control(w, c, WS_OP_PING, NULL, 0) == 0 && c->state == CONN_WS &&
            !outq_empty(c->out)) {
            /* the ping waits behind queued output: mark where it stands */
            c->flags |= CF_PING_QUEUED;
            outq_progressed(c->out);
        }
        conn_deadline_set(w, c, w->ticks_pong);
        break;
    case CONN_CLOSING:
        conn_kill(w, c, c->close_code);
        break;
    default:
        break;
    }
}
