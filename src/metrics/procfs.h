/* procfs.h - the one reader of small Linux /proc files, and the one
 * definition of what a connection costs in user-space memory.
 *
 * Used by /metrics and /stats (metrics/sysstat.c), `wspush tune`
 * (tune/tune_sys.c) and the load generator's --server-pid figures
 * (loadgen/procstat.c). Reads only; no allocation, no global state.
 *
 * Bytes per connection (user space) is MARGINAL ANONYMOUS RSS:
 *
 *     (RssAnon now - RssAnon with no connections) / open connections
 *
 * summed over the master and every worker. RssAnon is the heap, stacks and
 * private anonymous mappings: where connection state lives. VmRSS is not
 * used because it adds pages that do not grow with connections: file-backed
 * pages (the binary, libcrypto paged in by the first TLS handshake, ~2.6 MB)
 * and shared memory (the ring, sized by --ring-size, RssShmem); divided by a
 * small connection count they swamp the per-connection figure. The idle
 * baseline removes the fixed anonymous part (allocator arenas, buffers
 * allocated at start). */
#ifndef WSP_METRICS_PROCFS_H
#define WSP_METRICS_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads the whole of a small file (at most cap - 1 bytes) into buf,
 * NUL-terminated. Returns the bytes read (>= 0) or -errno. */
ssize_t procfs_read(const char *path, char *buf, size_t cap);

/* The value of the line of text that starts with "key" (e.g. "CapBnd:"):
 * a pointer past the key and any blanks, or NULL when no line starts so. */
const char *procfs_field(const char *text, const char *key);

/* The first number after "key" (e.g. "MemAvailable:") at the start of a
 * line of text, skipping blanks. Returns 0, or WSP_EINVAL when no line
 * starts with key, no digit follows it or the number overflows. */
int procfs_field_u64(const char *text, const char *key, uint64_t *v);

/* One process's memory, from /proc/PID/status (the kB figures x 1024). */
struct procfs_mem {
    uint64_t rss_bytes;   /* VmRSS: everything resident */
    uint64_t anon_bytes;  /* RssAnon: heap, stacks, private mappings */
    uint64_t shmem_bytes; /* RssShmem: shared memory (the ring); 0 if absent */
};

/* Parses /proc/PID/status text. Returns 0, or WSP_EINVAL when VmRSS is
 * missing (kernel threads); a missing RssAnon or RssShmem reads as 0. */
int procfs_mem_parse(const char *text, struct procfs_mem *m);

/* Reads /proc/<pid>/status. Returns 0, -errno, or WSP_EINVAL. */
int procfs_mem_read(pid_t pid, struct procfs_mem *m);

/* The definition above: (anon_bytes - idle_anon_bytes) / conns, clamped at
 * 0 when memory was returned since the baseline; NaN when conns is 0. */
double procfs_bytes_per_conn(uint64_t anon_bytes, uint64_t idle_anon_bytes, uint64_t conns);

#endif
