/* publish.c - the --publish-rate driver (see publish.h).
 *
 * Not a general HTTP client: it writes fixed small requests and parses just
 * enough of each response (status line, Content-Length, "Connection: close")
 * to count it and skip its body. A partial request write is kept in a small
 * output buffer and finished on EPOLLOUT. */
#include "publish.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"

#define PUB_IN_BYTES 16384
#define PUB_OUT_BYTES 65536

struct publisher {
    struct ev_handler h;
    struct ev_loop *loop;
    const struct bench_opts *o;
    int fd;
    bool connected;
    uint32_t outstanding;
    uint64_t due_sent; /* publishes accounted for by the schedule */
    uint64_t t0_ms;
    publisher_ack_cb ack_cb;
    void *ack_arg;
    uint32_t sent_sec[PUB_MAX_OUTSTANDING]; /* FIFO of outstanding requests */
    uint32_t sent_head;                     /* index of the oldest outstanding */
    struct publisher_totals t;
    size_t in_len, out_len, out_off;
    uint64_t retry_after_ms;
    char in[PUB_IN_BYTES];
    char out[PUB_OUT_BYTES];
};

static void pub_cb(struct ev_loop *l, struct ev_handler *h, uint32_t events);

static void pub_disconnect(struct publisher *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    p->connected = false;
    /* Unanswered requests are lost with the connection. */
    p->t.failed += p->outstanding;
    p->outstanding = 0;
    p->sent_head = 0;
    p->in_len = p->out_len = p->out_off = 0;
    p->retry_after_ms = clock_mono_ms() + 200;
}

static int pub_connect(struct publisher *p)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(p->o->admin_port),
                            .sin_addr.s_addr = htonl(p->o->admin_ip)};
    if ((connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) ||
        ev_add(p->loop, fd, EV_READ | EV_WRITE, &p->h) < 0) {
        close(fd);
        p->t.connect_failures++;
        p->retry_after_ms = clock_mono_ms() + 200;
        return -1;
    }
    p->fd = fd;
    p->connected = false;
    return 0;
}

struct publisher *publisher_new(struct ev_loop *loop, const struct bench_opts *o)
{
    struct publisher *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->h.cb = pub_cb;
    p->loop = loop;
    p->o = o;
    p->fd = -1;
    pub_connect(p);
    return p;
}

void publisher_free(struct publisher *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    free(p);
}

static void pub_flush(struct publisher *p)
{
    while (p->out_off < p->out_len) {
        ssize_t w = send(p->fd, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            pub_disconnect(p);
            return;
        }
        p->out_off += (size_t)w;
    }
    if (p->out_off == p->out_len)
        p->out_off = p->out_len = 0;
    ev_mod(p->loop, p->fd, EV_READ | (p->out_len ? EV_WRITE : 0), &p->h);
}

static void pub_send_one(struct publisher *p)
{
    char ts[32];
    uint64_t now_us = clock_real_us();
    clock_iso8601(ts, now_us);
    /* The second the subscribers will label it with: the body's time at
     * its ms resolution, relative to the run's real-time start. */
    uint64_t ms_us = now_us / 1000u * 1000u;
    uint32_t sec = ms_us > p->o->t0_real_us ? (uint32_t)((ms_us - p->o->t0_real_us) / 1000000u) : 0;
    char auth[320] = "";
    if (p->o->token[0])
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", p->o->token);
    if (p->out_off > 0 && p->out_off == p->out_len)
        p->out_off = p->out_len = 0;
    /* --broadcast: every connection, whatever its path, gets it.
     * --publish-size: the timestamp, then filler text up to that size. */
    size_t body = p->o->publish_size > 24 ? p->o->publish_size : 24;
    int n = snprintf(p->out + p->out_len, sizeof p->out - p->out_len,
                     "POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\n"
                     "%sContent-Length: %zu\r\n\r\n%s",
                     p->o->broadcast ? "/broadcast" : "/publish/",
                     p->o->broadcast ? "" : p->o->topic, p->o->admin, auth, body, ts);
    if (n < 0 || (size_t)n + body - 24 >= sizeof p->out - p->out_len) {
        p->t.skipped++;
        return;
    }
    p->out_len += (size_t)n;
    static const char filler[] = " wspush-bench publish filler text,";
    for (size_t i = 0; i < body - 24; i++)
        p->out[p->out_len++] = filler[i % (sizeof filler - 1)];
    p->sent_sec[(p->sent_head + p->outstanding) % PUB_MAX_OUTSTANDING] = sec;
    p->outstanding++;
    p->t.sent++;
}

void publisher_tick(struct publisher *p, uint64_t elapsed_ms)
{
    /* Half a period late: the i-th publish is due at (i + 0.5) / rate, so
     * none is sent on a whole second of the run. A message sent right at a
     * second boundary may be received before a client has started that
     * second and be counted in the one before (its lag cannot be negative),
     * which moved up to a whole publish (x connections) across the edge of
     * the measured window. */
    uint64_t due = (uint64_t)((double)elapsed_ms * p->o->publish_rate / 1000.0 + 0.5);
    if (p->fd < 0) {
        if (clock_mono_ms() >= p->retry_after_ms)
            pub_connect(p);
    }
    bool wrote = false;
    while (p->due_sent < due) {
        p->due_sent++;
        if (!p->connected || p->outstanding >= PUB_MAX_OUTSTANDING) {
            p->t.skipped++;
            continue;
        }
        pub_send_one(p);
        wrote = true;
    }
    if (wrote)
        pub_flush(p);
}

/* Consumes complete responses from in[]. */
static void pub_parse(struct publisher *p)
{
    for (;;) {
        char *end = memmem(p->in, p->in_len, "\r\n\r\n", 4);
        if (!end)
            return;
        size_t head = (size_t)(end - p->in) + 4;
        int status = 0;
        if (p->in_len >= 12 && memcmp(p->in, "HTTP/1.", 7) == 0)
            status = atoi(p->in + 9);
        size_t body = 0;
        bool close_after = false;
        for (char *line = memchr(p->in, '\n', head); line && line < end;
             line = memchr(line + 1, '\n', (size_t)(end - line))) {
            if (strncasecmp(line + 1, "content-length:", 15) == 0)
                body = strtoul(line + 16, NULL, 10);
            else if (strncasecmp(line + 1, "connection:", 11) == 0 &&
                     strncasecmp(line + 12 + strspn(line + 12, " "), "close", 5) == 0)
                close_after = true;
        }
        if (p->in_len < head + body)
            return;
        memmove(p->in, p->in + head + body, p->in_len - head - body);
        p->in_len -= head + body;
        uint32_t sec = p->sent_sec[p->sent_head];
        if (p->outstanding) {
            p->outstanding--;
            p->sent_head = (p->sent_head + 1) % PUB_MAX_OUTSTANDING;
        }
        if (status >= 200 && status < 300) {
            p->t.acked++;
            if (p->ack_cb)
                p->ack_cb(p->ack_arg, sec);
        } else {
            p->t.failed++;
            p->t.last_status = status;
        }
        if (close_after) {
            pub_disconnect(p);
            return;
        }
    }
}

static void pub_cb(struct ev_loop *l, struct ev_handler *h, uint32_t events)
{
    (void)l;
    struct publisher *p = container_of(h, struct publisher, h);
    if (!p->connected && (events & (EV_WRITE | EV_ERROR | EV_HUP))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            p->t.connect_failures++;
            pub_disconnect(p);
            return;
        }
        p->connected = true;
    }
    if (events & EV_WRITE)
        pub_flush(p);
    if (p->fd < 0)
        return;
    if (events & (EV_READ | EV_HUP | EV_ERROR)) {
        for (;;) {
            if (p->in_len == sizeof p->in) {
                pub_disconnect(p); /* a response head that large is not ours */
                return;
            }
            ssize_t n = recv(p->fd, p->in + p->in_len, sizeof p->in - p->in_len, 0);
            if (n > 0) {
                p->in_len += (size_t)n;
                pub_parse(p);
                if (p->fd < 0)
                    return;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            pub_disconnect(p);
            return;
        }
    }
}

void publisher_set_ack_cb(struct publisher *p, uint64_t t0_ms, publisher_ack_cb cb, void *arg)
{
    p->t0_ms = t0_ms;
    p->ack_cb = cb;
    p->ack_arg = arg;
}

void publisher_get_totals(const struct publisher *p, struct publisher_totals *t)
{
    *t = p->t;
}
