/* procstat.c - server cost from /proc (see procstat.h).
 *
 * Small bounded reads of text files; a process that vanishes mid-walk is
 * simply skipped. A tree walk visits at most PROCSTAT_MAX_PIDS processes. */
#include "procstat.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/procfs.h"
#include "metrics/sysstat.h"

#define PROCSTAT_MAX_PIDS 4096

static long clk_tck(void)
{
    static long t;
    if (!t) {
        t = sysconf(_SC_CLK_TCK);
        if (t <= 0)
            t = 100;
    }
    return t;
}

/* The whole small file, NUL-terminated (metrics/procfs.h); 0 bytes when it
 * cannot be read. */
static size_t read_small(const char *path, char *buf, size_t cap)
{
    ssize_t n = procfs_read(path, buf, cap);
    return n > 0 ? (size_t)n : 0;
}

/* utime+stime+cutime+cstime in ticks: reaped descendants are counted in
 * their reaper's cutime, live ones by themselves, so each CPU second is
 * counted once over the tree. */
static int proc_cpu_ticks(pid_t pid, uint64_t *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof buf) == 0)
        return -1;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* After ") ": field 3 (state) ... utime is field 14. */
    unsigned long long v[4] = {0};
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field >= 14 && field <= 17)
            v[field - 14] = strtoull(tok, NULL, 10);
        if (field == 17)
            break;
    }
    if (field < 17)
        return -1;
    *ticks = v[0] + v[1] + v[2] + v[3];
    return 0;
}

/* RssAnon: what a process's connections cost (metrics/procfs.h says why
 * not VmRSS). */
static uint64_t proc_anon_kb(pid_t pid)
{
    struct procfs_mem m;
    return procfs_mem_read(pid, &m) == 0 ? m.anon_bytes / 1024 : 0;
}

static size_t add_children(pid_t pid, pid_t *out, size_t n, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return n;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char cpath[300], buf[8192];
        snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", (int)pid, e->d_name);
        if (read_small(cpath, buf, sizeof buf) == 0)
            continue;
        char *s = buf, *end;
        for (;;) {
            long c = strtol(s, &end, 10);
            if (end == s)
                break;
            s = end;
            bool dup = false;
            for (size_t i = 0; i < n; i++)
                dup = dup || out[i] == (pid_t)c;
            if (!dup && n < cap)
                out[n++] = (pid_t)c;
        }
    }
    closedir(d);
    return n;
}

int procstat_sample(const pid_t *pids, size_t n, struct procstat_sample *s)
{
    static pid_t tree[PROCSTAT_MAX_PIDS];
    memset(s, 0, sizeof *s);
    size_t m = 0;
    for (size_t i = 0; i < n && m < PROCSTAT_MAX_PIDS; i++)
        tree[m++] = pids[i];
    for (size_t i = 0; i < m; i++) /* m grows as children are found */
        m = add_children(tree[i], tree, m, PROCSTAT_MAX_PIDS);
    uint64_t ticks = 0;
    for (size_t i = 0; i < m; i++) {
        uint64_t t;
        if (proc_cpu_ticks(tree[i], &t) < 0)
            continue;
        ticks += t;
        s->rss_kb += proc_anon_kb(tree[i]);
        s->n_procs++;
    }
    s->cpu_s = (double)ticks / (double)clk_tck();
    char buf[4096];
    struct sysstat ss;
    memset(&ss, 0, sizeof ss);
    if (read_small("/proc/net/sockstat", buf, sizeof buf) &&
        sysstat_parse_sockstat(buf, &ss) == 0) {
        s->tcp_inuse = ss.tcp_inuse;
        s->tcp_mem_pages = ss.tcp_mem_pages;
    }
    if (read_small("/proc/meminfo", buf, sizeof buf))
        (void)procfs_field_u64(buf, "Slab:", &s->slab_kb);
    return n > 0 && s->n_procs == 0 ? -1 : 0;
}
