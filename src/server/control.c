/* control.c - control commands' wire forms and the shared answer area (see
 * control.h).
 *
 * The codecs are pure functions over byte buffers: bounds-checked, no
 * allocation; what comes from Redis is untrusted (another node, or anyone
 * who can publish there) and goes through the same checks. Body layout:
 *   op u8 | flags u8 | req_id u32 LE | limit u16 LE | reason_len u8 | reason
 * The shared area is created once, by the master, before any fork. */
#include "server/control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "ws/ws_utf8.h"

size_t ctl_body_encode(const struct ctl_cmd *c, uint8_t *out)
{
    out[0] = c->op;
    out[1] = c->flags;
    for (int i = 0; i < 4; i++)
        out[2 + i] = (uint8_t)(c->req_id >> (8 * i));
    out[6] = (uint8_t)c->limit;
    out[7] = (uint8_t)(c->limit >> 8);
    out[8] = c->reason_len;
    memcpy(out + 9, c->reason, c->reason_len);
    return 9u + c->reason_len;
}

int ctl_decode(const char *subject, size_t subject_len, const uint8_t *b, size_t len,
               struct ctl_cmd *c)
{
    memset(c, 0, sizeof *c);
    if (subject_len == 0 || subject_len > CTL_SUBJECT_MAX || memchr(subject, 0, subject_len))
        return WSP_EPROTO;
    if (len < 9 || (b[0] != CTL_OP_DISCONNECT && b[0] != CTL_OP_PRESENCE))
        return WSP_EPROTO;
    size_t rl = b[8];
    if (rl > CTL_REASON_MAX || len != 9 + rl || memchr(b + 9, 0, rl) || !ws_utf8_valid(b + 9, rl))
        return WSP_EPROTO;
    c->op = b[0];
    c->flags = b[1] & CTL_F_RECONNECT;
    c->req_id = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 24;
    c->limit = (uint16_t)(b[6] | b[7] << 8);
    if (c->limit > CTL_USERS_MAX)
        c->limit = CTL_USERS_MAX;
    c->subject_len = (uint8_t)subject_len;
    memcpy(c->subject, subject, subject_len);
    c->reason_len = (uint8_t)rl;
    memcpy(c->reason, b + 9, rl);
    return 0;
}

size_t ctl_redis_encode(const struct ctl_cmd *c, const uint8_t nonce[CTL_NONCE_BYTES], uint8_t *out)
{
    memcpy(out, nonce, CTL_NONCE_BYTES);
    out[CTL_NONCE_BYTES] = c->subject_len;
    memcpy(out + CTL_NONCE_BYTES + 1, c->subject, c->subject_len);
    size_t n = CTL_NONCE_BYTES + 1u + c->subject_len;
    return n + ctl_body_encode(c, out + n);
}

int ctl_redis_decode(const uint8_t *p, size_t n, uint8_t nonce[CTL_NONCE_BYTES], struct ctl_cmd *c)
{
    if (n < CTL_NONCE_BYTES + 1) {
        memset(c, 0, sizeof *c);
        return WSP_EPROTO;
    }
    size_t sl = p[CTL_NONCE_BYTES];
    size_t off = CTL_NONCE_BYTES + 1 + sl;
    if (off > n) {
        memset(c, 0, sizeof *c);
        return WSP_EPROTO;
    }
    memcpy(nonce, p, CTL_NONCE_BYTES);
    return ctl_decode((const char *)p + CTL_NONCE_BYTES + 1, sl, p + off, n - off, c);
}

size_t ctl_answer_encode(const struct ctl_answer *a, uint8_t *out)
{
    memcpy(out, a->node, CTL_NONCE_BYTES);
    size_t k = CTL_NONCE_BYTES;
    for (int i = 0; i < 4; i++)
        out[k++] = (uint8_t)(a->req_id >> (8 * i));
    for (int i = 0; i < 8; i++)
        out[k++] = (uint8_t)(a->subscribers >> (8 * i));
    out[k++] = a->flags;
    out[k++] = (uint8_t)a->nusers;
    out[k++] = (uint8_t)(a->nusers >> 8);
    const char *u = a->users;
    for (uint16_t i = 0; i < a->nusers; i++) {
        size_t len = strlen(u) + 1;
        memcpy(out + k, u, len);
        k += len;
        u += len;
    }
    return k;
}

int ctl_answer_decode(const uint8_t *p, size_t n, struct ctl_answer *a)
{
    memset(a, 0, sizeof *a);
    if (n < CTL_ANS_HEAD)
        return WSP_EPROTO;
    memcpy(a->node, p, CTL_NONCE_BYTES);
    size_t k = CTL_NONCE_BYTES;
    for (int i = 0; i < 4; i++)
        a->req_id |= (uint32_t)p[k++] << (8 * i);
    for (int i = 0; i < 8; i++)
        a->subscribers |= (uint64_t)p[k++] << (8 * i);
    a->flags = p[k++];
    uint16_t nu = (uint16_t)(p[k] | p[k + 1] << 8);
    k += 2;
    if (nu > CTL_USERS_MAX)
        return WSP_EPROTO;
    const char *users = (const char *)p + k;
    for (uint16_t i = 0; i < nu; i++) {
        const uint8_t *z = k < n ? memchr(p + k, 0, n - k) : NULL;
        size_t len = z ? (size_t)(z - (p + k)) : 0;
        if (!z || len == 0 || len >= CTL_SUBJECT_MAX)
            return WSP_EPROTO;
        k += len + 1;
    }
    if (k != n)
        return WSP_EPROTO;
    a->nusers = nu;
    a->users = nu ? users : NULL;
    return 0;
}

static struct ctl_shared *the_area;

static size_t area_size(unsigned nworkers)
{
    return sizeof(struct ctl_shared) + sizeof(struct ctl_reply) * nworkers;
}

struct ctl_shared *ctl_shared_new(unsigned nworkers)
{
    /* anonymous shared memory: pages are only backed once a worker writes
     * an answer there, so the unused presence space costs nothing */
    void *p =
        mmap(NULL, area_size(nworkers), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct ctl_shared *s = p;
    s->nworkers = nworkers;
    s->ack_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->ack_fd < 0) {
        munmap(p, area_size(nworkers));
        return NULL;
    }
    the_area = s;
    return s;
}

void ctl_shared_free(struct ctl_shared *s)
{
    if (!s)
        return;
    if (the_area == s)
        the_area = NULL;
    close(s->ack_fd);
    munmap(s, area_size(s->nworkers));
}

struct ctl_shared *ctl_shared_get(void)
{
    return the_area;
}

void ctl_reply_publish(struct ctl_shared *s, unsigned worker, uint32_t id)
{
    __atomic_store_n(&s->r[worker].req_id, id, __ATOMIC_RELEASE);
    uint64_t one = 1;
    ssize_t w = write(s->ack_fd, &one, sizeof one); /* EAGAIN: already ringing */
    (void)w;
}
