/* sysstat.c - host and process figures: RSS from /proc/PID/status, the
 * TCP summary from /proc/net/sockstat{,6}, TCP sockets by state (see
 * sysstat.h).
 *
 * Socket states come from sock_diag netlink (NETLINK_SOCK_DIAG,
 * SOCK_DIAG_BY_FAMILY, every state, no extensions): the kernel sends one
 * fixed ~90-byte record per socket and we only count them. Reading
 * /proc/net/tcp instead formats ~150 bytes of text per socket and, on older
 * kernels, rewalks the hash table per read; it is kept only as the
 * fallback where netlink is refused (some sandboxes).
 * Both count the sockets of the whole network namespace, like `ss -s`, not
 * only wspush's: a load generator on the same host shows up too.
 *
 * The dump costs ~1.2 us of kernel time per socket (measured: 10 ms for 8k
 * sockets), i.e. over a second at 1M: far too long to block the master's
 * loop, which publishes. So the states are counted by one detached helper
 * thread, started on first use, that dumps, publishes its counts under a
 * mutex and sleeps max(1 s, 50 x the dump's cost) (<= 2% of a core). It
 * blocks every signal (the master reads them from a signalfd) and allocates
 * nothing in netlink mode. RSS and sockstat are a few small reads: done
 * inline, at most once a second.
 * What it does not do: format anything (server/prom.c does). */
#include "metrics/sysstat.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "metrics/procfs.h"

#define MIN_INTERVAL_MS 1000
#define COST_FACTOR 50      /* interval >= 50 x the last sample's cost: <= 2% */
#define IDLE_AFTER_MS 10000 /* stop counting 10 s after the last reader */

static const char *const state_names[SYSSTAT_TCP_STATES] = {
    NULL,        "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN",    "CLOSING"};

#define TCP_NEW_SYN_RECV_ 12 /* request socket: a SYN_RECV to the user */

const char *sysstat_tcp_state_name(unsigned state)
{
    return state < SYSSTAT_TCP_STATES ? state_names[state] : NULL;
}

void sysstat_init(struct sysstat *s)
{
    memset(s, 0, sizeof *s);
    s->states_src = "none";
    long pg = sysconf(_SC_PAGESIZE);
    s->page_bytes = pg > 0 ? (uint64_t)pg : 4096;
}

static void count_state(uint64_t states[SYSSTAT_TCP_STATES], unsigned st)
{
    if (st == TCP_NEW_SYN_RECV_)
        st = 3;
    if (st > 0 && st < SYSSTAT_TCP_STATES)
        states[st]++;
}

/* "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1": calls set(key, value). */
static int parse_kv_line(const char *text, const char *prefix, struct sysstat *s,
                         void (*set)(struct sysstat *, const char *, size_t, uint64_t))
{
    size_t pl = strlen(prefix);
    const char *p = text;
    while (p && strncmp(p, prefix, pl) != 0) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return WSP_EINVAL;
    p += pl;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *k = p;
        while (*p && *p != ' ' && *p != '\n')
            p++;
        size_t kl = (size_t)(p - k);
        while (*p == ' ')
            p++;
        if (!kl || *p < '0' || *p > '9')
            break;
        char *end;
        uint64_t v = strtoull(p, &end, 10);
        set(s, k, kl, v);
        p = end;
    }
    return 0;
}

static void set_tcp(struct sysstat *s, const char *k, size_t kl, uint64_t v)
{
#define IS(lit) (kl == sizeof lit - 1 && !memcmp(k, lit, kl))
    if (IS("inuse"))
        s->tcp_inuse = v;
    else if (IS("orphan"))
        s->tcp_orphan = v;
    else if (IS("tw"))
        s->tcp_tw = v;
    else if (IS("alloc"))
        s->tcp_alloc = v;
    else if (IS("mem"))
        s->tcp_mem_pages = v;
}

static void set_tcp6(struct sysstat *s, const char *k, size_t kl, uint64_t v)
{
    if (IS("inuse"))
        s->tcp6_inuse = v;
#undef IS
}

int sysstat_parse_sockstat(const char *text, struct sysstat *s)
{
    return parse_kv_line(text, "TCP:", s, set_tcp);
}

int sysstat_parse_sockstat6(const char *text, struct sysstat *s)
{
    return parse_kv_line(text, "TCP6:", s, set_tcp6);
}

/* One /proc/net/tcp line: "  0: 0100007F:1F90 00000000:0000 0A ...". */
static int proc_tcp_line(const char *line, uint64_t states[SYSSTAT_TCP_STATES])
{
    const char *p = line;
    for (int field = 0; field < 3; field++) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            return WSP_EINVAL;
        while (*p && *p != ' ' && *p != '\n')
            p++;
    }
    while (*p == ' ')
        p++;
    char *end;
    unsigned long st = strtoul(p, &end, 16);
    if (end == p)
        return WSP_EINVAL;
    count_state(states, (unsigned)st);
    return 0;
}

int sysstat_parse_proc_tcp(const char *text, uint64_t states[SYSSTAT_TCP_STATES])
{
    const char *p = strchr(text, '\n'); /* skip the header */
    if (!p)
        return WSP_EINVAL;
    int n = 0;
    for (p++; *p;) {
        if (proc_tcp_line(p, states) < 0)
            return WSP_EINVAL;
        n++;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    return n;
}

static int states_from_proc(uint64_t states[SYSSTAT_TCP_STATES])
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    int ok = 0;
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "re");
        if (!f)
            continue;
        char line[512];
        bool first = true;
        while (fgets(line, sizeof line, f)) {
            if (!first)
                proc_tcp_line(line, states);
            first = false;
        }
        fclose(f);
        ok++;
    }
    return ok ? 0 : WSP_EINVAL;
}

static int dump_family(int fd, uint8_t family, uint64_t states[SYSSTAT_TCP_STATES])
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    req.nlh.nlmsg_len = sizeof req;
    req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nlh.nlmsg_seq = family;
    req.r.sdiag_family = family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = ~0u; /* every state, request sockets included */
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -errno;
    /* aligned for struct nlmsghdr; 64 KiB lets the kernel batch a lot */
    static uint64_t buf[8192];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return WSP_EPROTO;
        unsigned int len = (unsigned int)n; /* unsigned: NLMSG_OK compares it with nlmsg_len */
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq != family)
                continue;
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                return h->nlmsg_len >= NLMSG_LENGTH(sizeof *e) && e->error ? e->error : WSP_EPROTO;
            }
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
                h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                continue;
            const struct inet_diag_msg *d = NLMSG_DATA(h);
            count_state(states, d->idiag_state);
        }
    }
}

static int states_from_netlink(uint64_t states[SYSSTAT_TCP_STATES])
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -errno;
    /* never let a stuck dump block the master's loop for long */
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = dump_family(fd, AF_INET, states);
    if (rc == 0)
        rc = dump_family(fd, AF_INET6, states);
    close(fd);
    return rc;
}

/* ---- the TCP state counter thread (one per process) ---- */
static struct {
    pthread_mutex_t lock;
    bool started;
    uint64_t taken_ms;  /* 0 = no count yet */
    uint64_t wanted_ms; /* when a reader last asked: idle when nobody looks */
    uint64_t cost_us;
    const char *src;
    uint64_t states[SYSSTAT_TCP_STATES];
} tcp = {.lock = PTHREAD_MUTEX_INITIALIZER, .src = "none"};

static void *tcp_thread(void *arg)
{
    (void)arg;
    static uint64_t states[SYSSTAT_TCP_STATES];
    for (;;) {
        pthread_mutex_lock(&tcp.lock);
        uint64_t wanted = tcp.wanted_ms;
        pthread_mutex_unlock(&tcp.lock);
        if (clock_mono_ms() - wanted > IDLE_AFTER_MS) {
            /* nobody scraped or watched lately: a socket dump costs ~1 us
             * per socket, which is not worth paying for nobody */
            struct timespec idle = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
            nanosleep(&idle, NULL);
            continue;
        }
        uint64_t t0 = clock_mono_ns();
        memset(states, 0, sizeof states);
        const char *src = "netlink";
        if (states_from_netlink(states) < 0) {
            memset(states, 0, sizeof states);
            src = states_from_proc(states) == 0 ? "proc" : "none";
        }
        uint64_t cost_us = (clock_mono_ns() - t0) / 1000;
        pthread_mutex_lock(&tcp.lock);
        memcpy(tcp.states, states, sizeof states);
        tcp.src = src;
        tcp.cost_us = cost_us;
        tcp.taken_ms = clock_mono_ms();
        pthread_mutex_unlock(&tcp.lock);
        uint64_t wait_ms = cost_us * COST_FACTOR / 1000;
        if (wait_ms < MIN_INTERVAL_MS)
            wait_ms = MIN_INTERVAL_MS;
        struct timespec ts = {.tv_sec = (time_t)(wait_ms / 1000),
                              .tv_nsec = (long)(wait_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    return NULL;
}

/* Starts the thread once; with every signal blocked, so that none is taken
 * from the master's signalfd. */
static void tcp_thread_start(void)
{
    if (tcp.started)
        return;
    tcp.started = true;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_t t;
    int rc = pthread_create(&t, &attr, tcp_thread, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        /* no thread: count once inline so the figures are not all zero */
        tcp.src = states_from_netlink(tcp.states) == 0 ? "netlink" : "none";
        tcp.taken_ms = clock_mono_ms();
    }
}

static void sample(struct sysstat *s, const pid_t *pids, size_t n)
{
    char buf[4096];
    uint64_t sum = 0, shm_max = 0, anon = 0;
    unsigned nprocs = 0;
    for (size_t i = 0; i < n; i++) {
        struct procfs_mem m;
        if (pids[i] <= 0 || procfs_mem_read(pids[i], &m) < 0)
            continue;
        /* the shared ring is mapped by every process: count it once */
        sum += m.rss_bytes - (m.shmem_bytes < m.rss_bytes ? m.shmem_bytes : m.rss_bytes);
        if (m.shmem_bytes > shm_max)
            shm_max = m.shmem_bytes;
        anon += m.anon_bytes;
        nprocs++;
    }
    s->rss_bytes = sum + shm_max;
    s->anon_bytes = anon;
    s->nprocs = nprocs;

    s->sockstat_ok = procfs_read("/proc/net/sockstat", buf, sizeof buf) >= 0 &&
                     sysstat_parse_sockstat(buf, s) == 0;
    if (procfs_read("/proc/net/sockstat6", buf, sizeof buf) >= 0)
        sysstat_parse_sockstat6(buf, s);
}

double sysstat_bytes_per_conn(struct sysstat *s, uint64_t conns)
{
    if (!s->taken_ms)
        return NAN;
    if (conns == 0) {
        /* idle: the baseline; the latest wins, so what the allocator keeps
         * after connections closed is no longer charged to new ones */
        s->idle_anon_bytes = s->anon_bytes;
        s->idle_anon_ok = true;
        return NAN;
    }
    /* never seen idle (connections open since before the first sample):
     * all anonymous memory, an upper bound */
    return procfs_bytes_per_conn(s->anon_bytes, s->idle_anon_ok ? s->idle_anon_bytes : 0, conns);
}

bool sysstat_maybe_sample(struct sysstat *s, const pid_t *pids, size_t n, uint64_t now_ms)
{
    pthread_mutex_lock(&tcp.lock);
    tcp.wanted_ms = clock_mono_ms();
    pthread_mutex_unlock(&tcp.lock);
    tcp_thread_start();
    pthread_mutex_lock(&tcp.lock);
    memcpy(s->states, tcp.states, sizeof s->states);
    s->states_src = tcp.taken_ms ? tcp.src : "pending";
    s->states_taken_ms = tcp.taken_ms;
    s->states_cost_us = tcp.cost_us;
    pthread_mutex_unlock(&tcp.lock);
    if (s->taken_ms && now_ms < s->next_ms)
        return false;
    uint64_t t0 = clock_mono_ns();
    sample(s, pids, n);
    s->cost_us = (clock_mono_ns() - t0) / 1000;
    s->taken_ms = now_ms ? now_ms : 1;
    /* a little early, so a once-a-second caller gets a fresh sample each time */
    s->next_ms = now_ms + MIN_INTERVAL_MS - 50;
    return true;
}
