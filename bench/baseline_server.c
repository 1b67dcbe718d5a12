/* baseline_server.c - the yardstick: the least a WebSocket push server can do.
 *
 * bench-baseline --port P [--procs N] [--host 127.0.0.1]
 *
 * N worker processes, each with its own SO_REUSEPORT listener and epoll
 * loop: accept, read the upgrade request, answer 101 (Sec-WebSocket-Accept
 * via OpenSSL SHA-1), and once a second (on the wall-clock second) encode
 * one text frame holding the ISO 8601 UTC time and write() it to every
 * client. A close frame from a client is answered with a close frame; every
 * other client byte is read and dropped. No queues (a write that does not
 * fit is dropped and counted), no topics, no validation beyond finding the
 * key, no TLS, no ping. wspush-bench measures wspush against this.
 *
 * Deliberately one file with no dependency beyond libc and libcrypto. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define HEAD_MAX 4096
#define TIMER_TAG ((uint64_t)1 << 40)
#define LISTEN_TAG ((uint64_t)1 << 41)

enum { ST_FREE, ST_HEAD, ST_OPEN };

/* Per-fd state, indexed by fd (fds are dense and below the fd limit). */
struct bconn {
    char *head;   /* partial request head, allocated only if it came in pieces */
    uint32_t pos; /* index in the open list while ST_OPEN */
    uint16_t hlen;
    uint8_t state;
};

typedef unsigned char *(*sha1_fn)(const unsigned char *d, size_t n, unsigned char *md);
typedef int (*b64_fn)(unsigned char *t, const unsigned char *f, int n);
static sha1_fn sha1;     /* OpenSSL SHA1() */
static b64_fn b64encode; /* OpenSSL EVP_EncodeBlock() */

static unsigned char *sha1_evp(const unsigned char *d, size_t n, unsigned char *md)
{
    unsigned int len = 0;
    return EVP_Digest(d, n, md, &len, EVP_sha1(), NULL) == 1 ? md : NULL;
}

static int crypto_load(void)
{
    sha1 = sha1_evp;
    b64encode = EVP_EncodeBlock;
    return 0;
}

static struct bconn *conns;
static int *open_fds; /* dense list of open (upgraded) connections */
static uint32_t n_open;
static size_t max_fds;
static uint64_t n_ticks, n_sent, n_dropped;

static void conn_close(int epfd, int fd)
{
    struct bconn *c = &conns[fd];
    if (c->state == ST_OPEN) {
        uint32_t last = open_fds[--n_open];
        open_fds[c->pos] = (int)last;
        conns[last].pos = c->pos;
    }
    free(c->head);
    memset(c, 0, sizeof *c);
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
}

static int find_key(const char *head, size_t len, const char **key, size_t *key_len)
{
    static const char name[] = "\nsec-websocket-key:";
    for (size_t i = 0; i + sizeof name - 1 < len; i++) {
        if (strncasecmp(head + i, name, sizeof name - 1) != 0)
            continue;
        const char *v = head + i + sizeof name - 1;
        const char *end = head + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        const char *e = v;
        while (e < end && *e != '\r' && *e != '\n' && *e != ' ')
            e++;
        *key = v;
        *key_len = (size_t)(e - v);
        return *key_len > 0 && *key_len < 64 ? 0 : -1;
    }
    return -1;
}

static void handshake(int epfd, int fd, const char *head, size_t len)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    const char *key;
    size_t key_len;
    if (find_key(head, len, &key, &key_len) < 0) {
        static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
        (void)!write(fd, bad, sizeof bad - 1);
        conn_close(epfd, fd);
        return;
    }
    char cat[128];
    memcpy(cat, key, key_len);
    memcpy(cat + key_len, guid, sizeof guid - 1);
    unsigned char sha[SHA_DIGEST_LENGTH];
    sha1((const unsigned char *)cat, key_len + sizeof guid - 1, sha);
    char accept[32];
    b64encode((unsigned char *)accept, sha, SHA_DIGEST_LENGTH);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    if (write(fd, resp, (size_t)n) != n) {
        conn_close(epfd, fd);
        return;
    }
    struct bconn *c = &conns[fd];
    free(c->head);
    c->head = NULL;
    c->hlen = 0;
    c->state = ST_OPEN;
    c->pos = n_open;
    open_fds[n_open++] = fd;
}

static void on_readable(int epfd, int fd, char *buf, size_t cap)
{
    struct bconn *c = &conns[fd];
    ssize_t n = read(fd, buf, cap);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(epfd, fd);
        return;
    }
    if (c->state == ST_OPEN) {
        /* Client frames: only a close matters (opcode 8 in the first byte
         * of a read; the bench sends little, so reads start on frames). */
        if ((buf[0] & 0x0f) == 0x8) {
            static const unsigned char close_frame[] = {0x88, 0x02, 0x03, 0xe8};
            (void)!write(fd, close_frame, sizeof close_frame);
            conn_close(epfd, fd);
        }
        return;
    }
    const char *head = buf;
    size_t len = (size_t)n;
    if (c->head || !memmem(buf, len, "\r\n\r\n", 4)) {
        if (!c->head && !(c->head = malloc(HEAD_MAX))) {
            conn_close(epfd, fd);
            return;
        }
        if (c->hlen + len > HEAD_MAX) {
            conn_close(epfd, fd);
            return;
        }
        memcpy(c->head + c->hlen, buf, len);
        c->hlen = (uint16_t)(c->hlen + len);
        head = c->head;
        len = c->hlen;
        if (!memmem(head, len, "\r\n\r\n", 4))
            return;
    }
    handshake(epfd, fd, head, len);
}

static void tick(int tfd)
{
    uint64_t expirations;
    (void)!read(tfd, &expirations, sizeof expirations);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    unsigned char frame[2 + 32];
    int n = snprintf((char *)frame + 2, sizeof frame - 2, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000);
    frame[0] = 0x81; /* FIN + text */
    frame[1] = (unsigned char)n;
    size_t len = (size_t)n + 2;
    for (uint32_t i = 0; i < n_open; i++) {
        ssize_t w = write(open_fds[i], frame, len);
        if (w == (ssize_t)len)
            n_sent++;
        else
            n_dropped++; /* a short write would corrupt the stream; the read side sees errors */
    }
    n_ticks++;
}

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void worker(int lfd)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    max_fds = rl.rlim_cur;
    conns = calloc(max_fds, sizeof *conns);
    open_fds = calloc(max_fds, sizeof *open_fds);
    char *buf = malloc(65536);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (!conns || !open_fds || !buf || epfd < 0 || tfd < 0) {
        perror("bench-baseline: worker setup");
        exit(1);
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct itimerspec its = {.it_interval = {1, 0}, .it_value = {now.tv_sec + 1, 0}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TIMER_TAG};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
    ev.data.u64 = LISTEN_TAG;
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[MAX_EVENTS];
    while (!stop) {
        int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            perror("bench-baseline: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TIMER_TAG) {
                tick(tfd);
            } else if (tag == LISTEN_TAG) {
                for (int k = 0; k < 256; k++) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break; /* EAGAIN, or EMFILE: the other workers take the rest */
                    if ((size_t)fd >= max_fds) {
                        close(fd);
                        continue;
                    }
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[fd].state = ST_HEAD;
                    struct epoll_event ce = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ce);
                }
            } else {
                on_readable(epfd, (int)tag, buf, 65536);
            }
        }
    }
    exit(0);
}

int main(int argc, char **argv)
{
    int port = 0, procs = 1;
    const char *host = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc)
            procs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
            host = argv[++i];
        else {
            fprintf(stderr, "usage: bench-baseline --port P [--procs N] [--host IPv4]\n"
                            "  a minimal WebSocket push server: N SO_REUSEPORT processes,\n"
                            "  one text frame with the ISO 8601 time to every client each "
                            "second\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (port < 0 || port > 65535 || procs < 1 || procs > 1024) {
        fprintf(stderr, "bench-baseline: bad --port or --procs\n");
        return 2;
    }
    if (crypto_load() < 0) {
        fprintf(stderr, "bench-baseline: cannot load libcrypto (SHA1, EVP_EncodeBlock)\n");
        return 1;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* All listeners are bound before anyone forks, so "listening" is true
     * when printed; port 0 picks one port for all of them. */
    int *lfds = calloc((size_t)procs, sizeof *lfds);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (!lfds || inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "bench-baseline: bad --host\n");
        return 2;
    }
    for (int i = 0; i < procs; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 65535) < 0) {
            perror("bench-baseline: listen");
            return 1;
        }
        if (a.sin_port == 0) {
            socklen_t len = sizeof a;
            getsockname(fd, (struct sockaddr *)&a, &len);
        }
        lfds[i] = fd;
    }
    pid_t *pids = calloc((size_t)procs, sizeof *pids);
    pid_t parent = getpid();
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench-baseline: fork");
            return 1;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(1);
            for (int j = 0; j < procs; j++)
                if (j != i)
                    close(lfds[j]);
            worker(lfds[i]);
        }
        pids[i] = pid;
    }
    for (int i = 0; i < procs; i++)
        close(lfds[i]);
    fprintf(stderr, "bench-baseline: %d processes listening on %s:%d\n", procs, host,
            ntohs(a.sin_port));
    while (!stop) {
        int st;
        pid_t p = wait(&st);
        if (p < 0 && errno == ECHILD)
            break;
        if (p > 0 && !stop)
            fprintf(stderr, "bench-baseline: worker %d exited; stopping\n", (int)p), stop = 1;
    }
    for (int i = 0; i < procs; i++)
        kill(pids[i], SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    return 0;
}
