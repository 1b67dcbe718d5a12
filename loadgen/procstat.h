/* procstat.h - what the server costs, read from /proc (Linux only).
 *
 * For --server-pid: CPU time and RSS summed over the given processes and all
 * their descendants (found through /proc/PID/task/TID/children), and the
 * kernel's TCP socket memory (/proc/net/sockstat) and slab size
 * (/proc/meminfo). Reads files only; never signals or touches the server. */
#ifndef WSP_LOADGEN_PROCSTAT_H
#define WSP_LOADGEN_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct procstat_sample {
    uint64_t mono_ms;
    double cpu_s;           /* utime+stime (+ reaped children) over the tree */
    uint64_t rss_kb;        /* sum of RssAnon over the tree (metrics/procfs.h) */
    uint32_t n_procs;       /* processes found in the tree */
    uint64_t tcp_mem_pages; /* /proc/net/sockstat "TCP: ... mem N" */
    uint64_t slab_kb;       /* /proc/meminfo Slab */
    uint64_t tcp_inuse;     /* /proc/net/sockstat "TCP: inuse N" */
};

/* Samples the tree rooted at pids[0..n). n == 0 still reads the kernel-wide
 * figures. Returns 0, or -1 if none of the pids exists any more. */
int procstat_sample(const pid_t *pids, size_t n, struct procstat_sample *s);

#endif
