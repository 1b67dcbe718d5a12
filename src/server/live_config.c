/* live_config.c - the master's settings in shared memory, for SIGHUP (see
 * live_config.h).
 *
 * A sequence lock: the master (the only writer) makes the count odd, copies,
 * makes it even; a reader copies between two reads of an even, unchanged
 * count, else tries again. Written once per SIGHUP and read once per worker
 * after it: nothing here is on a per-message or per-connection path.
 *
 * It does not decide what may change at run time (config.c) nor apply it
 * (master.c, worker.c). */
#include "server/live_config.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "core/err.h"

struct live_config {
    _Atomic uint64_t seq; /* odd while the master writes cfg */
    struct wsp_config cfg;
};

#define READ_TRIES 1000

struct live_config *live_config_new(const struct wsp_config *c)
{
    void *p = mmap(NULL, sizeof(struct live_config), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct live_config *lc = p;
    atomic_init(&lc->seq, 0);
    memcpy(&lc->cfg, c, sizeof *c);
    return lc;
}

void live_config_free(struct live_config *lc)
{
    if (lc)
        munmap(lc, sizeof *lc);
}

void live_config_publish(struct live_config *lc, const struct wsp_config *c)
{
    uint64_t s = atomic_load_explicit(&lc->seq, memory_order_relaxed);
    atomic_store_explicit(&lc->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(&lc->cfg, c, sizeof *c);
    atomic_store_explicit(&lc->seq, s + 2, memory_order_release);
}

int live_config_read(const struct live_config *lc, struct wsp_config *out)
{
    struct live_config *l = (struct live_config *)lc; /* atomics are read, not written */
    for (int i = 0; i < READ_TRIES; i++) {
        uint64_t a = atomic_load_explicit(&l->seq, memory_order_acquire);
        if (a & 1)
            continue;
        memcpy(out, &l->cfg, sizeof *out);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&l->seq, memory_order_relaxed) == a)
            return 0;
    }
    return WSP_EAGAIN;
}
