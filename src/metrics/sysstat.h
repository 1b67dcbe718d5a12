/* sysstat.h - host and process figures for the dashboard and /metrics:
 * resident memory of a set of processes, the kernel's TCP socket summary
 * (/proc/net/sockstat) and TCP sockets counted by state.
 *
 * Memory and sockstat are a few small /proc reads, taken at most once a
 * second by sysstat_maybe_sample(). Counting sockets by state asks the
 * kernel for a dump of every TCP socket (~1.2 s at 1M sockets), so it runs
 * in a helper thread started on the first call, once a second or, when a
 * dump is expensive, every 50 x its cost, and only while somebody reads
 * (10 s after the last sysstat_maybe_sample() it idles); the call copies its
 * latest counts. A struct sysstat belongs to one thread (the master's
 * loop); the helper thread shares only its own counts, under a mutex. */
#ifndef WSP_METRICS_SYSSTAT_H
#define WSP_METRICS_SYSSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Linux TCP states (include/net/tcp_states.h); index 0 is unused. The
 * kernel's NEW_SYN_RECV (request sockets) is counted as SYN_RECV. */
enum { SYSSTAT_TCP_STATES = 12 };

struct sysstat {
    uint64_t taken_ms;        /* monotonic time of the last sample; 0 = none yet */
    uint64_t next_ms;         /* no new sample before this */
    uint64_t cost_us;         /* how long the last sample took */
    uint64_t rss_bytes;       /* sum of the processes' RSS, shared memory counted once */
    uint64_t anon_bytes;      /* sum of the processes' RssAnon (metrics/procfs.h) */
    uint64_t idle_anon_bytes; /* anon_bytes at the latest sample with no
                                 connection open (sysstat_bytes_per_conn) */
    bool idle_anon_ok;        /* idle_anon_bytes was taken */
    unsigned nprocs;          /* processes whose RSS was read */
    bool sockstat_ok;         /* the fields below were read */
    uint64_t tcp_inuse;       /* IPv4 TCP sockets in use (sockstat "TCP: inuse") */
    uint64_t tcp6_inuse;      /* IPv6 (sockstat6 "TCP6: inuse") */
    uint64_t tcp_orphan, tcp_tw, tcp_alloc;
    uint64_t tcp_mem_pages; /* pages of socket buffers, all TCP sockets */
    uint64_t page_bytes;
    const char *states_src;   /* "netlink", "proc", "none" or "pending" */
    uint64_t states_taken_ms; /* monotonic time of the state count; 0 = none yet */
    uint64_t states_cost_us;  /* how long that count took */
    uint64_t states[SYSSTAT_TCP_STATES];
};

/* "ESTABLISHED", ... for 1..11; NULL for 0 and out of range. */
const char *sysstat_tcp_state_name(unsigned state);

void sysstat_init(struct sysstat *s);

/* Takes a memory/sockstat sample if none was taken yet or next_ms has
 * passed, and copies the helper thread's latest socket state counts
 * (starting the thread on the first call). pids lists the processes to add
 * up (0 entries are skipped). Returns true if it sampled. */
bool sysstat_maybe_sample(struct sysstat *s, const pid_t *pids, size_t n, uint64_t now_ms);

/* User-space bytes per open connection, by the one definition in
 * metrics/procfs.h: marginal RssAnon over the latest sample taken with no
 * connection open (whole RssAnon until one was seen). Call it after
 * sysstat_maybe_sample with the current connection count; a call with 0
 * records the idle baseline. NaN with no sample or no connection. */
double sysstat_bytes_per_conn(struct sysstat *s, uint64_t conns);

/* Pure parsers, exposed for the unit tests. */

/* Reads the "TCP:" (or "TCP6:") line of sockstat text into s. Returns 0 or
 * WSP_EINVAL when the line is missing. */
int sysstat_parse_sockstat(const char *text, struct sysstat *s);
int sysstat_parse_sockstat6(const char *text, struct sysstat *s);

/* Adds the states of /proc/net/tcp{,6} text (header line first) to
 * states[]. Returns the number of sockets counted or WSP_EINVAL. */
int sysstat_parse_proc_tcp(const char *text, uint64_t states[SYSSTAT_TCP_STATES]);

#endif
