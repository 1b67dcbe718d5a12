/* procfs.c - small /proc reads and the bytes-per-connection definition
 * (see procfs.h).
 *
 * Text parsing is pure and bounded by the NUL the reader always writes;
 * reading retries EINTR and stops at the buffer's end (the files read here
 * are a few kB; a longer one is cut, never overflowed). */
#include "metrics/procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

ssize_t procfs_read(const char *path, char *buf, size_t cap)
{
    if (cap == 0)
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    int err = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            err = -errno;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return err ? err : (ssize_t)n;
}

const char *procfs_field(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) != 0)
            continue;
        p += kl;
        while (*p == ' ' || *p == '\t')
            p++;
        return p;
    }
    return NULL;
}

int procfs_field_u64(const char *text, const char *key, uint64_t *v)
{
    const char *p = procfs_field(text, key);
    if (!p || *p < '0' || *p > '9')
        return WSP_EINVAL;
    errno = 0;
    unsigned long long x = strtoull(p, NULL, 10);
    if (errno)
        return WSP_EINVAL;
    *v = (uint64_t)x;
    return 0;
}

int procfs_mem_parse(const char *text, struct procfs_mem *m)
{
    uint64_t rss, anon = 0, shm = 0;
    if (procfs_field_u64(text, "VmRSS:", &rss) < 0)
        return WSP_EINVAL;
    (void)procfs_field_u64(text, "RssAnon:", &anon);
    (void)procfs_field_u64(text, "RssShmem:", &shm);
    m->rss_bytes = rss * 1024;
    m->anon_bytes = anon * 1024;
    m->shmem_bytes = shm * 1024;
    return 0;
}

int procfs_mem_read(pid_t pid, struct procfs_mem *m)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    ssize_t n = procfs_read(path, buf, sizeof buf);
    if (n < 0)
        return (int)n;
    return procfs_mem_parse(buf, m);
}

double procfs_bytes_per_conn(uint64_t anon_bytes, uint64_t idle_anon_bytes, uint64_t conns)
{
    if (conns == 0)
        return NAN;
    uint64_t grown = anon_bytes > idle_anon_bytes ? anon_bytes - idle_anon_bytes : 0;
    return (double)grown / (double)conns;
}
