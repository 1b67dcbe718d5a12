/* tune_sys.c - reads the running system for `wspush tune` (tune.h).
 *
 * Fills a struct tune_sys from files under a proc root (sysctls under
 * <root>/sys, <root>/meminfo, the capability bounding set), getrlimit and
 * sysconf. Reads only; computes nothing and writes nothing.
 *
 * Invariant: a value that could not be read is TUNE_NONE, never zero. */
#include "tune/tune.h"
#include "tune/tune_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/err.h"
#include "metrics/procfs.h"

#define CAP_SYS_RESOURCE_BIT 24 /* linux/capability.h */

const char *tune_proc_root(const char *proc_root)
{
    return proc_root && *proc_root ? proc_root : "/proc";
}

/* Reads <proc_root>/<rel> into buf (metrics/procfs.h). Returns 0 or -errno. */
static int read_small(const char *proc_root, const char *rel, char *buf, size_t cap)
{
    char path[512];
    int n = snprintf(path, sizeof path, "%s/%s", tune_proc_root(proc_root), rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    ssize_t r = procfs_read(path, buf, cap);
    return r < 0 ? (int)r : 0;
}

int tune_proc_read_u64s(const char *proc_root, const char *rel, uint64_t *vals, size_t max)
{
    char buf[512];
    int rc = read_small(proc_root, rel, buf, sizeof buf);
    if (rc < 0)
        return rc;
    return tune_proc_read_u64s_str(buf, vals, max);
}

int tune_proc_read_u64s_str(const char *buf, uint64_t *vals, size_t max)
{
    size_t n = 0;
    const char *p = buf;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (*p == '\0' || n == max)
            break;
        if (!isdigit((unsigned char)*p))
            return WSP_EINVAL;
        uint64_t v = 0;
        for (; isdigit((unsigned char)*p); p++) {
            uint64_t d = (uint64_t)(*p - '0');
            if (v > (UINT64_MAX - 1 - d) / 10) /* keep TUNE_NONE unreachable */
                return WSP_EINVAL;
            v = v * 10 + d;
        }
        if (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
            return WSP_EINVAL;
        vals[n++] = v;
    }
    return n > 0 ? (int)n : WSP_EINVAL;
}

int tune_meminfo_kib(const char *proc_root, const char *key, uint64_t *kib)
{
    char buf[8192], k[64];
    int rc = read_small(proc_root, "meminfo", buf, sizeof buf);
    if (rc < 0)
        return rc;
    snprintf(k, sizeof k, "%s:", key);
    uint64_t v;
    if (procfs_field_u64(buf, k, &v) < 0 || v >= TUNE_NONE)
        return WSP_EINVAL;
    *kib = v;
    return 0;
}

/* CAP_SYS_RESOURCE in the capability bounding set of <root>/self/status:
 * without it nothing started here can raise a hard RLIMIT_NOFILE. */
static int read_cap_sys_resource(const char *proc_root)
{
    char buf[4096];
    if (read_small(proc_root, "self/status", buf, sizeof buf) < 0)
        return -1;
    const char *p = procfs_field(buf, "CapBnd:");
    if (!p)
        return -1;
    errno = 0;
    char *end;
    unsigned long long caps = strtoull(p, &end, 16);
    if (errno || end == p)
        return -1;
    return (int)((caps >> CAP_SYS_RESOURCE_BIT) & 1u);
}

static void read_one(const char *root, const char *rel, uint64_t *out)
{
    uint64_t v;
    *out = tune_proc_read_u64s(root, rel, &v, 1) == 1 ? v : TUNE_NONE;
}

/* net.ipv4.tcp_ehash_entries: "262144", or "-262144" in a network
 * namespace that uses the host's table (ip-sysctl.rst). */
static void read_ehash(const char *root, struct tune_sys *s)
{
    char buf[64];
    s->ehash = TUNE_NONE;
    s->ehash_shared = false;
    if (read_small(root, "sys/net/ipv4/tcp_ehash_entries", buf, sizeof buf) < 0)
        return;
    const char *p = buf;
    bool neg = *p == '-';
    p += neg;
    uint64_t v;
    if (tune_proc_read_u64s_str(p, &v, 1) == 1) {
        s->ehash = v;
        s->ehash_shared = neg;
    }
}

int tune_sys_read(struct tune_sys *s, const char *proc_root)
{
    memset(s, 0, sizeof *s);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        /* RLIM_INFINITY cannot be set for NOFILE (capped by nr_open), but
         * keep it distinct from TUNE_NONE anyway. */
        s->nofile_soft = rl.rlim_cur == RLIM_INFINITY ? TUNE_NONE - 1 : rl.rlim_cur;
        s->nofile_hard = rl.rlim_max == RLIM_INFINITY ? TUNE_NONE - 1 : rl.rlim_max;
    } else {
        s->nofile_soft = s->nofile_hard = TUNE_NONE;
    }
    read_one(proc_root, "sys/fs/nr_open", &s->nr_open);
    read_one(proc_root, "sys/fs/file-max", &s->file_max);
    read_one(proc_root, "sys/net/core/somaxconn", &s->somaxconn);
    read_one(proc_root, "sys/net/ipv4/tcp_max_syn_backlog", &s->syn_backlog);
    read_one(proc_root, "sys/net/netfilter/nf_conntrack_max", &s->conntrack_max);
    read_ehash(proc_root, s);

    uint64_t v[3];
    if (tune_proc_read_u64s(proc_root, "sys/net/ipv4/ip_local_port_range", v, 2) == 2) {
        s->port_lo = v[0];
        s->port_hi = v[1];
    } else {
        s->port_lo = s->port_hi = TUNE_NONE;
    }
    if (tune_proc_read_u64s(proc_root, "sys/net/ipv4/tcp_mem", v, 3) == 3)
        memcpy(s->tcp_mem, v, sizeof v);
    else
        s->tcp_mem[0] = s->tcp_mem[1] = s->tcp_mem[2] = TUNE_NONE;

    if (tune_meminfo_kib(proc_root, "MemTotal", &s->mem_total_kib) < 0)
        s->mem_total_kib = TUNE_NONE;
    if (tune_meminfo_kib(proc_root, "MemAvailable", &s->mem_avail_kib) < 0)
        s->mem_avail_kib = TUNE_NONE;

    long page = sysconf(_SC_PAGESIZE);
    s->page_bytes = page > 0 ? (uint64_t)page : 4096;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->ncpu = cpus > 0 ? (unsigned)cpus : 1;
    s->cap_sys_resource = read_cap_sys_resource(proc_root);
    return 0;
}
