/* uring_vs_send.c - the experiment behind wspush's fan-out backend: the
 * sender's CPU for one 26-byte WebSocket frame to each of 4,000 loopback TCP
 * sockets, one send() each versus io_uring batches of IORING_OP_SEND
 * (MSG_DONTWAIT, 1,024 per io_uring_enter). Receivers are drained between
 * rounds and outside the measurement.
 *   gcc -O2 bench/uring_vs_send.c -o /tmp/uring_vs_send -luring && /tmp/uring_vs_send 100 */
#include <liburing.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>
#define N 4000
static int cli[N], srv[N];
static double cpu(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec / 1e6;
}
static void drain(void)
{
    char b[4096];
    for (int i = 0; i < N; i++)
        while (read(cli[i], b, sizeof b) > 0)
            ;
}
int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    bind(l, (void *)&a, sizeof a);
    listen(l, N);
    socklen_t al = sizeof a;
    getsockname(l, (void *)&a, &al);
    for (int i = 0; i < N; i++) {
        cli[i] = socket(AF_INET, SOCK_STREAM, 0);
        connect(cli[i], (void *)&a, sizeof a);
        srv[i] = accept(l, 0, 0);
        fcntl(cli[i], F_SETFL, O_NONBLOCK);
        fcntl(srv[i], F_SETFL, O_NONBLOCK);
    }
    char msg[26] = "\x81\x18"
                   "2026-11-27T02:48:19.123Z";
    double ts = 0, tu = 0;
    struct io_uring ring;
    io_uring_queue_init(1024, &ring, 0);
    for (int r = 0; r < rounds; r++) {
        double t0 = cpu();
        for (int i = 0; i < N; i++)
            send(srv[i], msg, 26, MSG_NOSIGNAL | MSG_DONTWAIT);
        ts += cpu() - t0;
        drain();
        t0 = cpu();
        int pend = 0;
        for (int i = 0; i < N; i++) {
            struct io_uring_sqe *s = io_uring_get_sqe(&ring);
            if (!s) {
                io_uring_submit_and_wait(&ring, pend);
                struct io_uring_cqe *c;
                while (io_uring_peek_cqe(&ring, &c) == 0) {
                    io_uring_cqe_seen(&ring, c);
                    pend--;
                }
                s = io_uring_get_sqe(&ring);
            }
            io_uring_prep_send(s, srv[i], msg, 26, MSG_NOSIGNAL | MSG_DONTWAIT);
            pend++;
        }
        io_uring_submit_and_wait(&ring, pend);
        struct io_uring_cqe *c;
        unsigned bad = 0;
        while (io_uring_peek_cqe(&ring, &c) == 0) {
            if (c->res != 26)
                bad++;
            io_uring_cqe_seen(&ring, c);
        }
        tu += cpu() - t0;
        drain();
        if (bad)
            printf("bad %u\n", bad);
    }
    printf(
        "per send: send() %.2f us, io_uring %.2f us (sender process CPU incl. loopback delivery)\n",
        ts / rounds / N * 1e6, tu / rounds / N * 1e6);
}
