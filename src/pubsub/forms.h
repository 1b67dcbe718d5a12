/* forms.h - the layout of a RING_F_FORMS ring entry: one message in every
 * form some worker needs, side by side (DESIGN.md, round 2).
 *
 *   struct ring_forms | raw | raw deflated | envelope | envelope deflated | SSE
 *
 * Each WebSocket form is a complete frame, the SSE form one encoded event
 * (http/sse.h); a length of 0 means the form is absent (raw is always
 * present). The master writes it (master.c), the
 * workers read it (worker.c); nothing else knows the layout. */
#ifndef WSP_PUBSUB_FORMS_H
#define WSP_PUBSUB_FORMS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { FORM_RAW = 0, FORM_RAW_Z, FORM_ENV, FORM_ENV_Z, FORM_SSE, FORM_COUNT };

struct ring_forms {
    uint64_t topic_seq;       /* 0: no id (a broadcast) */
    uint32_t len[FORM_COUNT]; /* bytes of each form, in this order */
    uint32_t pad;
    uint64_t epoch; /* the id's epoch (ids from Redis change it at run time) */
};
_Static_assert(sizeof(struct ring_forms) == 40, "ring_forms is part of the ring format");

/* Reads the header of a RING_F_FORMS entry and checks the lengths add up to
 * at most len. Returns the offset of the first form, or 0 if malformed. */
static inline size_t ring_forms_read(const uint8_t *p, size_t len, struct ring_forms *f)
{
    if (len < sizeof *f)
        return 0;
    memcpy(f, p, sizeof *f);
    size_t total = sizeof *f;
    for (int i = 0; i < FORM_COUNT; i++) {
        if (f->len[i] > len - total)
            return 0;
        total += f->len[i];
    }
    return f->len[FORM_RAW] ? sizeof *f : 0;
}

#endif
