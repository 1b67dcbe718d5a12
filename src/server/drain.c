/* drain.c - SIGTERM without a reconnect storm: every WebSocket client is
 * told 1012 (service restart), spread uniformly over the drain window, in
 * random order, with a jittered reconnect hint in the close reason.
 *
 * What it does not do: close the listener (worker.c does that first, so a
 * replacement server can start at once) or cut what is left at the
 * deadline (worker_release, after the loop stops).
 *
 * Schedule: the window is --drain-timeout minus a tail kept for the last
 * close handshakes (a fifth of it, at most DRAIN_TAIL_MAX_MS). Every
 * DRAIN_STEP_MS the worker closes as many connections as bring the number
 * told up to total * elapsed / spread, where total is the number of open
 * WebSocket connections when the drain began, so each worker (and so the
 * node) closes at a constant rate whatever its size, and the last one is
 * told at the end of the spread. A connection that leaves on its own
 * meanwhile is simply not there to be told.
 *
 * Random order without a per-connection field: each pick tries random
 * slots of the dense connection array until one holds an open WebSocket
 * connection (uniform among them), and after 32 misses takes the first
 * open one from a random slot on (wrapping). Connections already closing
 * are skipped; they leave once the peer answers, within CONN_CLOSE_TICKS.
 *
 * The reason: "restart; retry-after-ms=N" (ASCII, the format documented in
 * docs/close-codes.md), N uniform in [DRAIN_RETRY_MIN_MS, DRAIN_RETRY_MIN_MS
 * + DRAIN_RETRY_JITTER_MS), chosen per connection: the client waits at
 * least N ms before it reconnects. */
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "server/server_int.h"
#include "ws/ws_frame.h"

#define DRAIN_STEP_MS 100
#define DRAIN_TAIL_MAX_MS 3000
#define DRAIN_RETRY_MIN_MS 1000
#define DRAIN_RETRY_JITTER_MS 2000

/* xorshift64*: good enough to shuffle, and no lock (one per worker) */
static uint64_t rnd(struct worker *w)
{
    uint64_t x = w->drain_rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->drain_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint64_t drain_spread_ms(uint64_t drain_timeout_ms)
{
    uint64_t tail = drain_timeout_ms / 5;
    if (tail > DRAIN_TAIL_MAX_MS)
        tail = DRAIN_TAIL_MAX_MS;
    return drain_timeout_ms - tail;
}

/* A random open WebSocket connection, or NULL. Random slots first (a
 * uniform pick among the open ones while they are not rare), then the first
 * open one from a random slot on: after a run of closing connections that
 * scan favours the one right after it, and picks followed the array's
 * order when many waited for their peers' close frames. */
static struct conn *pick(struct worker *w)
{
    uint32_t n = w->nconns;
    if (!n)
        return NULL;
    for (int tries = 0; tries < 32; tries++) {
        struct conn *c = w->conns[rnd(w) % n];
        if (c->state == CONN_WS)
            return c;
    }
    uint32_t start = (uint32_t)(rnd(w) % n);
    for (uint32_t k = 0; k < n; k++) {
        struct conn *c = w->conns[(start + k) % n];
        if (c->state == CONN_WS)
            return c;
    }
    return NULL;
}

static void tell(struct worker *w, struct conn *c)
{
    char reason[48];
    uint64_t ms = DRAIN_RETRY_MIN_MS + rnd(w) % DRAIN_RETRY_JITTER_MS;
    snprintf(reason, sizeof reason, "restart; retry-after-ms=%llu", (unsigned long long)ms);
    w->st->restart_closes++;
    conn_close(w, c, WS_CLOSE_RESTART, reason);
}

static void on_step(struct ev_loop *loop, void *arg)
{
    struct worker *w = arg;
    uint64_t elapsed = ev_now_ms(loop) - w->drain_start_ms;
    uint64_t due = w->drain_total;
    if (elapsed < w->drain_spread_ms)
        due = (w->drain_total * elapsed + w->drain_spread_ms - 1) / w->drain_spread_ms;
    while (w->drain_told < due) {
        struct conn *c = pick(w);
        if (!c) { /* everybody told or gone */
            w->drain_told = w->drain_total;
            break;
        }
        tell(w, c);
        w->drain_told++;
    }
    if (w->drain_told >= w->drain_total && w->drain_timer >= 0) {
        ev_timer_del(loop, w->drain_timer);
        w->drain_timer = -1;
    }
}

void drain_begin(struct worker *w)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = clock_mono_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    w->drain_rng = seed | 1;
    w->drain_start_ms = ev_now_ms(w->loop);
    w->drain_spread_ms = drain_spread_ms(w->cfg->drain_timeout_ms);
    w->drain_total = 0;
    w->drain_told = 0;
    w->drain_timer = -1;
    for (uint32_t i = 0; i < w->nconns; i++) {
        struct conn *c = w->conns[i];
        if (c->state == CONN_WS)
            w->drain_total++;
        else if (c->state == CONN_HTTP)
            conn_kill(w, c, 0); /* not a client yet: it has nothing to resume */
    }
    log_info("draining %u connections: 1012 spread over %llu ms, up to %llu ms in all",
             w->drain_total, (unsigned long long)w->drain_spread_ms,
             (unsigned long long)w->cfg->drain_timeout_ms);
    if (w->drain_spread_ms == 0) {
        on_step(w->loop, w); /* no window: everybody now */
        return;
    }
    int id = ev_timer_add(w->loop, DRAIN_STEP_MS, on_step, w);
    if (id < 0) {
        log_warn("no timer for a spread-out drain: closing every connection now");
        w->drain_spread_ms = 0;
        on_step(w->loop, w);
        return;
    }
    w->drain_timer = id;
}
