/* tune.c - kernel and limit settings for N connections (`wspush tune`).
 *
 * Reads the running system into a struct tune_sys (files under a proc root,
 * getrlimit, sysconf), computes what N connections need (pure arithmetic in
 * tune_needs_compute), turns both into report rows, and renders them as a
 * table, JSON or a ready configuration file. --apply writes runtime sysctls
 * under <proc root>/sys and nothing else: files under /etc are printed,
 * never written, and per-process limits are left to whoever starts wspush.
 *
 * Invariant: a value that could not be read is TUNE_NONE and shows as
 * unknown; it is never treated as zero or as sufficient, and --apply never
 * writes a value lower than the current one. */
#include "core/json.h"
#include "tune/tune.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/wsp_assert.h"

/* ---- estimates ----
 * Kernel memory of one idle, established TCP socket (loopback, nothing
 * queued), from the slab object sizes in /proc/slabinfo on Linux 6.x x86_64:
 *   TCP (struct tcp_sock)        2368 B
 *   sock_inode_cache (socket+inode) 832 B
 *   filp (struct file)            192 B
 *   dentry                        192 B
 *   eventpoll_epi + pwq (epoll)   192 B
 *   ehash/bind bucket share       ~64 B
 * = ~3.75 KiB (TUNE_KERNEL_BYTES_PER_CONN; the first guess was 3.5).
 * Receive/send buffers cost nothing while empty: skbs are allocated when data
 * is queued and freed when it is read or acked. A push queues one small skb
 * per connection (truesize ~1-2 KiB, more with a slow reader); we budget one
 * page, TUNE_INFLIGHT_BYTES, per connection for a 1 Hz push to everyone.
 * User space: wspush keeps a <=128 B struct conn plus its topic index slot
 * and allocator overhead, ~0.2 KiB; the bench client ~0.5 KiB. */

#define KIB ((uint64_t)1024)
#define GIB (KIB * KIB * KIB)
#define FILE_MAX_HEADROOM_MIN 65536ull
#define CLIENT_PORT_LO 1024u
#define CLIENT_PORT_HI 65535u
#define CAP_SYS_RESOURCE_BIT 24 /* linux/capability.h */

static const char *root_or_default(const char *proc_root)
{
    return proc_root && *proc_root ? proc_root : "/proc";
}

/* Reads a whole small file into buf (NUL-terminated). Returns 0 or -errno. */
static int read_small(const char *proc_root, const char *rel, char *buf, size_t cap)
{
    char path[512];
    int n = snprintf(path, sizeof path, "%s/%s", root_or_default(proc_root), rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return 0;
}

int tune_proc_read_u64s(const char *proc_root, const char *rel, uint64_t *vals, size_t max)
{
    char buf[512];
    int rc = read_small(proc_root, rel, buf, sizeof buf);
    if (rc < 0)
        return rc;
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

/* The line of buf that starts with "key:", or NULL. */
static const char *find_key_line(const char *buf, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = buf; line && *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            return line + klen + 1;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return NULL;
}

int tune_meminfo_kib(const char *proc_root, const char *key, uint64_t *kib)
{
    char buf[8192];
    int rc = read_small(proc_root, "meminfo", buf, sizeof buf);
    if (rc < 0)
        return rc;
    const char *p = find_key_line(buf, key);
    if (!p)
        return WSP_EINVAL;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!isdigit((unsigned char)*p))
        return WSP_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || v >= TUNE_NONE)
        return WSP_EINVAL;
    *kib = (uint64_t)v;
    return 0;
}

/* CAP_SYS_RESOURCE in the capability bounding set of <root>/self/status:
 * without it nothing started here can raise a hard RLIMIT_NOFILE. */
static int read_cap_sys_resource(const char *proc_root)
{
    char buf[4096];
    if (read_small(proc_root, "self/status", buf, sizeof buf) < 0)
        return -1;
    const char *p = find_key_line(buf, "CapBnd");
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

/* ---- arithmetic ---- */

static uint64_t pow2_at_least(uint64_t v)
{
    uint64_t p = 1;
    while (p < v && p < (1ull << 62))
        p <<= 1;
    return p;
}

static uint64_t div_ceil(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

void tune_needs_compute(uint64_t conns, bool client, struct tune_needs *nd)
{
    memset(nd, 0, sizeof *nd);
    nd->conns = conns;
    nd->client = client;
    /* A power of two: 1M connections -> 1048576, the kernel's default
     * fs.nr_open, so a stock kernel already allows LimitNOFILE for 1M. */
    nd->nofile = pow2_at_least(conns + TUNE_FD_RESERVE);
    nd->nr_open = nd->nofile;
    /* The rest of the system (logs, pipes, other services) needs files too. */
    uint64_t headroom = conns / 10;
    nd->file_max = conns + (headroom > FILE_MAX_HEADROOM_MIN ? headroom : FILE_MAX_HEADROOM_MIN);
    if (!client) {
        nd->somaxconn = TUNE_BACKLOG_MIN;
        nd->syn_backlog = TUNE_BACKLOG_MIN;
    } else {
        nd->port_lo = CLIENT_PORT_LO;
        nd->port_hi = CLIENT_PORT_HI;
    }
    /* One entry per connection, doubled for TIME_WAIT entries and churn
     * while clients reconnect. */
    nd->conntrack = 2 * conns;
    nd->tcp_mem_bytes = conns * TUNE_INFLIGHT_BYTES;
    uint64_t user = client ? TUNE_CLIENT_USER_BYTES : TUNE_SERVER_USER_BYTES;
    nd->mem_bytes = conns * (TUNE_KERNEL_BYTES_PER_CONN + user) + nd->tcp_mem_bytes;
}

uint64_t tune_fds_usable(uint64_t nofile)
{
    if (nofile == TUNE_NONE || nofile <= TUNE_FD_RESERVE)
        return 0;
    return nofile - TUNE_FD_RESERVE;
}

unsigned tune_procs_needed(uint64_t conns, uint64_t nofile)
{
    uint64_t usable = tune_fds_usable(nofile);
    if (usable == 0)
        return 0;
    uint64_t n = div_ceil(conns, usable);
    return n > UINT32_MAX ? UINT32_MAX : (unsigned)(n ? n : 1);
}

unsigned tune_workers_auto(uint64_t conns, uint64_t nofile, unsigned ncpu)
{
    unsigned procs = tune_procs_needed(conns, nofile);
    if (procs == 0)
        return 0;
    return procs > ncpu ? procs : (ncpu ? ncpu : 1);
}

uint64_t tune_ports_per_addr(uint64_t port_lo, uint64_t port_hi)
{
    if (port_lo == TUNE_NONE || port_hi == TUNE_NONE || port_hi < port_lo)
        return 0;
    uint64_t range = port_hi - port_lo + 1;
    return range < TUNE_PORTS_PER_ADDR ? range : TUNE_PORTS_PER_ADDR;
}

unsigned tune_src_addrs(uint64_t conns, uint64_t port_lo, uint64_t port_hi)
{
    uint64_t per = tune_ports_per_addr(port_lo, port_hi);
    if (per == 0)
        return 0;
    uint64_t n = div_ceil(conns, per);
    return n > UINT32_MAX ? UINT32_MAX : (unsigned)(n ? n : 1);
}

/* ---- rows ---- */

static const char *const status_names[] = {"ok", "low", "workers", "info", "unknown"};

const char *tune_status_name(enum tune_status st)
{
    return (unsigned)st < WSP_ARRAY_LEN(status_names) ? status_names[st] : "?";
}

static void fmt_u64(char *b, size_t cap, uint64_t v)
{
    if (v == TUNE_NONE)
        snprintf(b, cap, "?");
    else
        snprintf(b, cap, "%" PRIu64, v);
}

static void fmt_bytes(char *b, size_t cap, uint64_t bytes)
{
    if (bytes == TUNE_NONE)
        snprintf(b, cap, "?");
    else if (bytes >= GIB)
        snprintf(b, cap, "%.1f GiB", (double)bytes / (double)GIB);
    else if (bytes >= KIB * KIB)
        snprintf(b, cap, "%.1f MiB", (double)bytes / (double)(KIB * KIB));
    else
        snprintf(b, cap, "%.1f KiB", (double)bytes / (double)KIB);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static struct tune_row *row_add(struct tune_report *r, const char *setting, const char *why)
{
    WSP_ASSERT(r->n < TUNE_ROWS_MAX);
    struct tune_row *w = &r->rows[r->n++];
    memset(w, 0, sizeof *w);
    w->setting = setting;
    w->why = why;
    return w;
}

/* fix = "sysctl -w key=value", the value quoted when it has spaces. */
static void row_fix_sysctl(struct tune_row *w, const char *key, bool quote)
{
    char v[TUNE_CELL]; /* a copy: snprintf's source must not alias the row */
    memcpy(v, w->value, sizeof v);
    if (quote)
        snprintf(w->fix, sizeof w->fix, "sysctl -w %s=\"%s\"", key, v);
    else
        snprintf(w->fix, sizeof w->fix, "sysctl -w %s=%s", key, v);
}

/* A sysctl that must be at least `need`. */
static void row_sysctl_min(struct tune_row *w, const char *key, const char *rel,
                           uint64_t cur, uint64_t need)
{
    w->sysctl = key;
    w->proc_rel = rel;
    fmt_u64(w->current, sizeof w->current, cur);
    snprintf(w->needed, sizeof w->needed, ">= %" PRIu64, need);
    w->status = cur == TUNE_NONE ? TUNE_UNKNOWN : cur >= need ? TUNE_OK : TUNE_LOW;
    snprintf(w->value, sizeof w->value, "%" PRIu64, cur == TUNE_NONE ? need : max_u64(cur, need));
    if (w->status != TUNE_OK)
        row_fix_sysctl(w, key, false);
}

static void rows_nofile(struct tune_report *r)
{
    const struct tune_sys *s = &r->sys;
    const struct tune_needs *nd = &r->needs;
    const char *who = r->opts.client ? "wspush-bench" : "wspush serve --workers auto";

    struct tune_row *w = row_add(r, "RLIMIT_NOFILE (hard)",
        "one fd per connection: a process holds at most its hard limit in connections");
    fmt_u64(w->current, sizeof w->current, s->nofile_hard);
    snprintf(w->needed, sizeof w->needed, ">= %" PRIu64 " (1 process)", nd->nofile);
    if (s->nofile_hard == TUNE_NONE)
        w->status = TUNE_UNKNOWN;
    else if (s->nofile_hard >= nd->nofile)
        w->status = TUNE_OK;
    else
        w->status = r->procs_needed ? TUNE_WORKERS : TUNE_LOW;
    if (w->status == TUNE_LOW)
        snprintf(w->fix, sizeof w->fix, "LimitNOFILE=%" PRIu64 " (--emit systemd) or 'hard nofile %"
                 PRIu64 "' (--emit limits)", nd->nofile, nd->nofile);
    else if (w->status == TUNE_WORKERS && s->cap_sys_resource == 0)
        snprintf(w->fix, sizeof w->fix, "cannot be raised here (no CAP_SYS_RESOURCE): run %u "
                 "processes (%s); elsewhere %s=%" PRIu64 " (--emit %s)",
                 r->procs_needed, who, r->opts.client ? "nofile" : "LimitNOFILE", nd->nofile,
                 r->opts.client ? "limits" : "systemd");
    else if (w->status == TUNE_WORKERS)
        snprintf(w->fix, sizeof w->fix, "LimitNOFILE=%" PRIu64 " (--emit systemd) or 'hard nofile %"
                 PRIu64 "' (--emit limits); until then %u processes (%s)", nd->nofile, nd->nofile,
                 r->procs_needed, who);

    w = row_add(r, "RLIMIT_NOFILE (soft)", r->opts.client
        ? "the limit enforced: raise it to the hard limit (ulimit -n) for the load generator"
        : "the limit enforced; wspush serve raises it to the hard limit at start-up");
    fmt_u64(w->current, sizeof w->current, s->nofile_soft);
    snprintf(w->needed, sizeof w->needed, "= hard");
    if (s->nofile_soft == TUNE_NONE)
        w->status = TUNE_UNKNOWN;
    else if (s->nofile_soft >= s->nofile_hard)
        w->status = TUNE_OK;
    else {
        w->status = TUNE_INFO;
        fmt_u64(w->value, sizeof w->value, s->nofile_hard);
        snprintf(w->fix, sizeof w->fix, "ulimit -n %" PRIu64 " (other programs; wspush does it "
                 "itself)", s->nofile_hard);
    }

    if (!r->opts.client) {
        w = row_add(r, "worker processes",
            "each worker holds (fd limit - 64 reserved) connections; --workers auto starts enough");
        w->caps = true;
        if (r->opts.workers)
            snprintf(w->current, sizeof w->current, "%u", r->workers);
        else
            snprintf(w->current, sizeof w->current, "auto = %u", r->workers);
        snprintf(w->needed, sizeof w->needed, ">= %u (%" PRIu64 " fds each)", r->procs_needed,
                 r->fds_usable);
        if (r->procs_needed == 0) {
            w->status = TUNE_LOW;
            snprintf(w->needed, sizeof w->needed, "impossible");
            snprintf(w->fix, sizeof w->fix,
                     "RLIMIT_NOFILE %" PRIu64 " leaves no fds for connections (%u reserved)",
                     r->nofile_used, TUNE_FD_RESERVE);
        } else if (r->workers < r->procs_needed) {
            w->status = TUNE_LOW;
            snprintf(w->fix, sizeof w->fix, "wspush serve --workers auto (= %u here), or raise LimitNOFILE",
                     tune_workers_auto(nd->conns, r->nofile_used, s->ncpu));
        } else {
            w->status = TUNE_OK;
        }
    } else {
        w = row_add(r, "bench processes",
            "each process holds (fd limit - 64 reserved) connections; wspush-bench forks enough");
        snprintf(w->current, sizeof w->current, "-");
        snprintf(w->needed, sizeof w->needed, ">= %u (%" PRIu64 " fds each)", r->procs_needed,
                 r->fds_usable);
        w->status = r->procs_needed ? TUNE_INFO : TUNE_LOW;
        if (!r->procs_needed)
            snprintf(w->fix, sizeof w->fix, "raise RLIMIT_NOFILE above %u", TUNE_FD_RESERVE);
    }

    w = row_add(r, "fs.nr_open", "ceiling for every RLIMIT_NOFILE: LimitNOFILE= above it fails");
    row_sysctl_min(w, "fs.nr_open", "sys/fs/nr_open", s->nr_open, nd->nr_open);

    w = row_add(r, "fs.file-max",
        "open files in the whole system: N sockets + 10% (>= 65536) for everything else");
    row_sysctl_min(w, "fs.file-max", "sys/fs/file-max", s->file_max, nd->file_max);
    w->caps = true;
}

static void rows_net(struct tune_report *r)
{
    const struct tune_sys *s = &r->sys;
    const struct tune_needs *nd = &r->needs;
    struct tune_row *w;

    if (!r->opts.client) {
        w = row_add(r, "net.core.somaxconn",
            "caps every listen() backlog: a reconnect burst overflows a small accept queue");
        row_sysctl_min(w, "net.core.somaxconn", "sys/net/core/somaxconn", s->somaxconn,
                       nd->somaxconn);
        w = row_add(r, "net.ipv4.tcp_max_syn_backlog",
            "half-open connections kept while a burst of clients completes the handshake");
        row_sysctl_min(w, "net.ipv4.tcp_max_syn_backlog", "sys/net/ipv4/tcp_max_syn_backlog",
                       s->syn_backlog, nd->syn_backlog);
    }

    w = row_add(r, "net.ipv4.ip_local_port_range", r->opts.client
        ? "each connection from one source address to one server ip:port takes a local port"
        : "used by outgoing connections only (the load generator side: see --client)");
    if (s->port_lo == TUNE_NONE)
        snprintf(w->current, sizeof w->current, "?");
    else
        snprintf(w->current, sizeof w->current, "%" PRIu64 " %" PRIu64, s->port_lo, s->port_hi);
    if (!r->opts.client) {
        snprintf(w->needed, sizeof w->needed, "-");
        w->status = TUNE_INFO;
    } else {
        w->sysctl = "net.ipv4.ip_local_port_range";
        w->proc_rel = "sys/net/ipv4/ip_local_port_range";
        snprintf(w->needed, sizeof w->needed, "%" PRIu64 " %" PRIu64, nd->port_lo, nd->port_hi);
        if (s->port_lo == TUNE_NONE) {
            w->status = TUNE_UNKNOWN;
            snprintf(w->value, sizeof w->value, "%" PRIu64 " %" PRIu64, nd->port_lo, nd->port_hi);
        } else {
            w->status = s->port_lo <= nd->port_lo && s->port_hi >= nd->port_hi ? TUNE_OK : TUNE_LOW;
            snprintf(w->value, sizeof w->value, "%" PRIu64 " %" PRIu64,
                     s->port_lo < nd->port_lo ? s->port_lo : nd->port_lo,
                     max_u64(s->port_hi, nd->port_hi));
        }
        if (w->status != TUNE_OK) {
            row_fix_sysctl(w, w->sysctl, true);
            size_t len = strlen(w->fix);
            snprintf(w->fix + len, sizeof w->fix - len,
                     "; reserve server ports: net.ipv4.ip_local_reserved_ports=8080,9090");
        }

        w = row_add(r, "source addresses",
            "ports are per source address, and connect() slows past ~30000 in use per address");
        snprintf(w->current, sizeof w->current, "-");
        uint64_t per = s->port_lo == TUNE_NONE
                           ? tune_ports_per_addr(CLIENT_PORT_LO, CLIENT_PORT_HI)
                           : tune_ports_per_addr(s->port_lo, s->port_hi);
        snprintf(w->needed, sizeof w->needed, ">= %u (%" PRIu64 " ports each)", r->src_addrs,
                 per);
        w->status = r->src_addrs ? TUNE_INFO : TUNE_UNKNOWN;
        if (r->src_addrs)
            snprintf(w->fix, sizeof w->fix,
                     "bind clients to %u addresses, e.g. 127.0.0.1-127.0.0.%u on loopback",
                     r->src_addrs, r->src_addrs < 254 ? r->src_addrs : 254);
    }

    w = row_add(r, "net.ipv4.tcp_mem",
        "pages all TCP sockets may use: a push to every connection queues ~4 KiB on each");
    w->sysctl = "net.ipv4.tcp_mem";
    w->proc_rel = "sys/net/ipv4/tcp_mem";
    w->caps = true;
    uint64_t page = s->page_bytes && s->page_bytes != TUNE_NONE ? s->page_bytes : 4096;
    uint64_t need_pages = div_ceil(nd->tcp_mem_bytes, page);
    char size[24];
    fmt_bytes(size, sizeof size, need_pages * page);
    snprintf(w->needed, sizeof w->needed, "max >= %" PRIu64 " (%s)", need_pages, size);
    const uint64_t *m = s->tcp_mem;
    if (m[0] == TUNE_NONE) {
        snprintf(w->current, sizeof w->current, "?");
        w->status = TUNE_UNKNOWN;
        snprintf(w->value, sizeof w->value, "%" PRIu64 " %" PRIu64 " %" PRIu64,
                 need_pages / 2, need_pages, need_pages + need_pages / 2);
    } else {
        snprintf(w->current, sizeof w->current, "%" PRIu64 " %" PRIu64 " %" PRIu64, m[0], m[1],
                 m[2]);
        w->status = m[2] >= need_pages ? TUNE_OK : TUNE_LOW;
        /* Pressure (the point where the kernel starts shrinking buffers) at
         * the need, the hard max half again above it. */
        snprintf(w->value, sizeof w->value, "%" PRIu64 " %" PRIu64 " %" PRIu64, m[0],
                 max_u64(m[1], need_pages), max_u64(m[2], need_pages + need_pages / 2));
    }
    if (w->status != TUNE_OK)
        row_fix_sysctl(w, w->sysctl, true);

    w = row_add(r, "net.netfilter.nf_conntrack_max",
        "a tracked connection takes an entry; when full, new ones are dropped (2x for churn)");
    w->sysctl = "net.netfilter.nf_conntrack_max";
    w->proc_rel = "sys/net/netfilter/nf_conntrack_max";
    if (s->conntrack_max == TUNE_NONE) {
        snprintf(w->current, sizeof w->current, "not loaded");
        snprintf(w->needed, sizeof w->needed, ">= %" PRIu64 " if loaded", nd->conntrack);
        snprintf(w->value, sizeof w->value, "%" PRIu64, nd->conntrack);
        w->status = TUNE_INFO;
    } else {
        row_sysctl_min(w, w->sysctl, w->proc_rel, s->conntrack_max, nd->conntrack);
        w->caps = true;
    }
}

static void row_memory(struct tune_report *r)
{
    const struct tune_sys *s = &r->sys;
    struct tune_row *w = row_add(r, "memory (MemAvailable)", r->opts.client
        ? "per conn ~3.75 KiB kernel (idle socket) + 0.5 KiB bench + 4 KiB buffers in a push"
        : "per conn ~3.75 KiB kernel (idle socket) + 0.2 KiB wspush + 4 KiB buffers in a push");
    w->caps = true;
    char need[24];
    fmt_bytes(need, sizeof need, r->needs.mem_bytes);
    snprintf(w->needed, sizeof w->needed, ">= %s", need);
    if (s->mem_avail_kib == TUNE_NONE) {
        snprintf(w->current, sizeof w->current, "?");
        w->status = TUNE_UNKNOWN;
        return;
    }
    fmt_bytes(w->current, sizeof w->current, s->mem_avail_kib * KIB);
    w->status = s->mem_avail_kib * KIB >= r->needs.mem_bytes ? TUNE_OK : TUNE_LOW;
    if (w->status == TUNE_LOW) {
        uint64_t per = r->needs.mem_bytes / (r->needs.conns ? r->needs.conns : 1);
        snprintf(w->fix, sizeof w->fix,
                 "not tunable: about %" PRIu64 " connections fit; more RAM or more nodes",
                 per ? s->mem_avail_kib * KIB / per : 0);
    }
}

void tune_report_build(struct tune_report *r, const struct tune_sys *s,
                       const struct tune_opts *o)
{
    memset(r, 0, sizeof *r);
    r->opts = *o;
    r->sys = *s;
    tune_needs_compute(o->conns, o->client, &r->needs);
    r->nofile_used = o->nofile_soft ? s->nofile_soft : s->nofile_hard;
    r->fds_usable = tune_fds_usable(r->nofile_used);
    r->procs_needed = tune_procs_needed(o->conns, r->nofile_used);
    r->workers = o->workers ? o->workers : tune_workers_auto(o->conns, r->nofile_used, s->ncpu);
    if (o->client)
        r->src_addrs = s->port_lo == TUNE_NONE
                           ? tune_src_addrs(o->conns, CLIENT_PORT_LO, CLIENT_PORT_HI)
                           : tune_src_addrs(o->conns, s->port_lo, s->port_hi);
    rows_nofile(r);
    rows_net(r);
    row_memory(r);
}

const struct tune_row *tune_report_row(const struct tune_report *r, const char *setting)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->rows[i].setting, setting) == 0)
            return &r->rows[i];
    return NULL;
}

size_t tune_report_low(const struct tune_report *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->rows[i].status == TUNE_LOW;
    return n;
}

/* ---- output ---- */

static int out_status(FILE *out)
{
    return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

static const char *side_name(const struct tune_report *r)
{
    return r->opts.client ? "client" : "server";
}

static const char *cmd_suffix(const struct tune_report *r)
{
    return r->opts.client ? " --client" : "";
}

int tune_render_table(const struct tune_report *r, FILE *out)
{
    const struct tune_sys *s = &r->sys;
    char avail[24], total[24];
    fmt_bytes(avail, sizeof avail, s->mem_avail_kib == TUNE_NONE ? TUNE_NONE : s->mem_avail_kib * KIB);
    fmt_bytes(total, sizeof total, s->mem_total_kib == TUNE_NONE ? TUNE_NONE : s->mem_total_kib * KIB);
    fprintf(out, "wspush: error: %" PRIu64 " %s connections on this system\n", r->opts.conns,
            side_name(r));
    fprintf(out, "  %u CPUs, %s available of %s; open files per process: %" PRIu64
                 " (%s limit), %" PRIu64 " for connections\n",
            s->ncpu, avail, total, r->nofile_used, r->opts.nofile_soft ? "soft" : "hard",
            r->fds_usable);
    if (r->procs_needed)
        fprintf(out, "  -> %" PRIu64 " connections need >= %u processes%s\n", r->opts.conns,
                r->procs_needed, r->opts.client ? "" : " (wspush serve --workers auto does this)");
    if (r->opts.client)
        fprintf(out, "  -> and >= %u source addresses\n", r->src_addrs);
    fprintf(out, "\n%-31s %-22s %-30s %s\n", "SETTING", "CURRENT", "NEEDED", "STATUS");
    for (size_t i = 0; i < r->n; i++) {
        const struct tune_row *w = &r->rows[i];
        fprintf(out, "%-31s %-22s %-30s %s\n", w->setting, w->current, w->needed,
                w->status == TUNE_LOW ? "LOW" : tune_status_name(w->status));
        fprintf(out, "    why: %s\n", w->why);
        if (w->fix[0])
            fprintf(out, "    fix: %s\n", w->fix);
    }
    size_t low = tune_report_low(r);
    fprintf(out, "\n%zu setting%s LOW.\n", low, low == 1 ? "" : "s");
    const char *c = cmd_suffix(r);
    uint64_t n = r->opts.conns;
    fprintf(out, "Runtime sysctls now (as root): wspush tune --conns %" PRIu64 "%s --apply\n", n, c);
    fprintf(out, "Persistent: wspush tune --conns %" PRIu64 "%s --emit sysctl > "
                 "/etc/sysctl.d/60-wspush.conf && sysctl --system\n", n, c);
    if (!r->opts.client)
        fprintf(out, "            wspush tune --conns %" PRIu64 " --emit systemd > "
                     "/etc/systemd/system/wspush.service\n", n);
    fprintf(out, "            wspush tune --conns %" PRIu64 "%s --emit limits > "
                 "/etc/security/limits.d/90-wspush.conf\n", n, c);
    return out_status(out);
}

static void json_str(FILE *out, const char *s) { json_write_str(out, s); }

static void json_u64(FILE *out, uint64_t v)
{
    if (v == TUNE_NONE)
        fputs("null", out);
    else
        fprintf(out, "%" PRIu64, v);
}

static void json_key_u64(FILE *out, const char *key, uint64_t v, bool comma)
{
    fprintf(out, "\"%s\":", key);
    json_u64(out, v);
    if (comma)
        fputc(',', out);
}

int tune_render_json(const struct tune_report *r, FILE *out)
{
    const struct tune_sys *s = &r->sys;
    const struct tune_needs *nd = &r->needs;
    fprintf(out, "{\"conns\":%" PRIu64 ",\"side\":\"%s\",", r->opts.conns, side_name(r));
    json_key_u64(out, "nofile_used", r->nofile_used, true);
    json_key_u64(out, "fds_usable", r->fds_usable, true);
    fprintf(out, "\"procs_needed\":%u,\"workers\":%u,", r->procs_needed, r->workers);
    if (r->opts.client)
        fprintf(out, "\"src_addrs\":%u,", r->src_addrs);
    else
        fputs("\"src_addrs\":null,", out);
    fprintf(out, "\"low\":%zu,\"system\":{", tune_report_low(r));
    json_key_u64(out, "nofile_soft", s->nofile_soft, true);
    json_key_u64(out, "nofile_hard", s->nofile_hard, true);
    json_key_u64(out, "fs.nr_open", s->nr_open, true);
    json_key_u64(out, "fs.file-max", s->file_max, true);
    json_key_u64(out, "net.core.somaxconn", s->somaxconn, true);
    json_key_u64(out, "net.ipv4.tcp_max_syn_backlog", s->syn_backlog, true);
    fputs("\"net.ipv4.ip_local_port_range\":", out);
    if (s->port_lo == TUNE_NONE)
        fputs("null,", out);
    else
        fprintf(out, "[%" PRIu64 ",%" PRIu64 "],", s->port_lo, s->port_hi);
    fputs("\"net.ipv4.tcp_mem\":", out);
    if (s->tcp_mem[0] == TUNE_NONE)
        fputs("null,", out);
    else
        fprintf(out, "[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "],", s->tcp_mem[0], s->tcp_mem[1],
                s->tcp_mem[2]);
    json_key_u64(out, "net.netfilter.nf_conntrack_max", s->conntrack_max, true);
    json_key_u64(out, "mem_total_kib", s->mem_total_kib, true);
    json_key_u64(out, "mem_available_kib", s->mem_avail_kib, true);
    json_key_u64(out, "page_bytes", s->page_bytes, true);
    fprintf(out, "\"ncpu\":%u,\"cap_sys_resource\":%s},\"needs\":{", s->ncpu,
            s->cap_sys_resource < 0 ? "null" : s->cap_sys_resource ? "true" : "false");
    json_key_u64(out, "nofile", nd->nofile, true);
    json_key_u64(out, "fs.nr_open", nd->nr_open, true);
    json_key_u64(out, "fs.file-max", nd->file_max, true);
    json_key_u64(out, "net.core.somaxconn", nd->somaxconn, true);
    json_key_u64(out, "net.ipv4.tcp_max_syn_backlog", nd->syn_backlog, true);
    json_key_u64(out, "net.netfilter.nf_conntrack_max", nd->conntrack, true);
    json_key_u64(out, "tcp_mem_bytes", nd->tcp_mem_bytes, true);
    json_key_u64(out, "mem_bytes", nd->mem_bytes, false);
    fputs("},\"rows\":[", out);
    for (size_t i = 0; i < r->n; i++) {
        const struct tune_row *w = &r->rows[i];
        fputs(i ? ",{\"setting\":" : "{\"setting\":", out);
        json_str(out, w->setting);
        fputs(",\"sysctl\":", out);
        json_str(out, w->sysctl);
        fprintf(out, ",\"status\":\"%s\",\"caps\":%s,\"current\":", tune_status_name(w->status),
                w->caps ? "true" : "false");
        json_str(out, w->current);
        fputs(",\"needed\":", out);
        json_str(out, w->needed);
        fputs(",\"value\":", out);
        json_str(out, w->value[0] ? w->value : NULL);
        fputs(",\"why\":", out);
        json_str(out, w->why);
        fputs(",\"fix\":", out);
        json_str(out, w->fix);
        fputc('}', out);
    }
    fputs("]}\n", out);
    return out_status(out);
}

/* The systemd unit depends on N (and the binary path) only, never on the
 * host that prints it, so deploy/wspush.service can be regenerated anywhere. */
static void emit_systemd(const struct tune_report *r, FILE *out)
{
    const char *bin = r->opts.bin ? r->opts.bin : "/usr/local/bin/wspush";
    uint64_t n = r->opts.conns;
    fprintf(out,
        "# wspush.service - wspush serve for %" PRIu64 " connections.\n"
        "# Generated by: wspush tune --conns %" PRIu64 " --emit systemd\n"
        "# Install as /etc/systemd/system/wspush.service, then\n"
        "#   systemctl daemon-reload && systemctl enable --now wspush\n"
        "# LimitNOFILE= cannot exceed fs.nr_open: install the sysctl drop-in first\n"
        "#   wspush tune --conns %" PRIu64 " --emit sysctl > /etc/sysctl.d/60-wspush.conf\n"
        "# Where the hard limit cannot be raised (a container without\n"
        "# CAP_SYS_RESOURCE), --workers auto starts ceil(N / usable fds per process)\n"
        "# workers instead. See docs/tuning.md.\n"
        "\n"
        "[Unit]\n"
        "Description=wspush WebSocket push server\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        "# Raise the runtime sysctls before start ('+': as root, '-': a setting\n"
        "# left low is reported in the journal, not fatal).\n"
        "ExecStartPre=+-%s tune --conns %" PRIu64 " --apply\n"
        "ExecStart=%s serve --max-conns %" PRIu64 " --workers auto\n"
        "Restart=on-failure\n"
        "RestartSec=2s\n"
        "# SIGTERM to the master only; it closes the workers' connections cleanly.\n"
        "KillMode=mixed\n"
        "TimeoutStopSec=30s\n"
        "# One fd per connection, plus %u per process for listeners and pipes.\n"
        "LimitNOFILE=%" PRIu64 "\n"
        "TasksMax=infinity\n"
        "DynamicUser=yes\n"
        "NoNewPrivileges=yes\n"
        "ProtectSystem=strict\n"
        "ProtectHome=yes\n"
        "PrivateTmp=yes\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n",
        n, n, n, bin, n, bin, n, TUNE_FD_RESERVE, r->needs.nofile);
}

static void emit_limits(const struct tune_report *r, FILE *out)
{
    uint64_t v = r->needs.nofile;
    fprintf(out,
        "# /etc/security/limits.d/90-wspush.conf - open files for %" PRIu64 " %s connections.\n"
        "# Generated by: wspush tune --conns %" PRIu64 "%s --emit limits\n"
        "# Read by pam_limits at login (ssh, su, sudo -i): log in again to use it.\n"
        "# Services started by systemd ignore it: use LimitNOFILE= (--emit systemd).\n"
        "# The hard value cannot exceed fs.nr_open (--emit sysctl). '*' does not\n"
        "# match root, hence the root lines.\n"
        "*     soft  nofile  %" PRIu64 "\n"
        "*     hard  nofile  %" PRIu64 "\n"
        "root  soft  nofile  %" PRIu64 "\n"
        "root  hard  nofile  %" PRIu64 "\n",
        r->opts.conns, side_name(r), r->opts.conns, cmd_suffix(r), v, v, v, v);
}

/* Values are max(current, needed): installing the file never lowers a
 * setting of the host that generated it. */
static void emit_sysctl(const struct tune_report *r, FILE *out)
{
    fprintf(out,
        "# /etc/sysctl.d/60-wspush.conf - kernel settings for %" PRIu64 " %s connections.\n"
        "# Generated by: wspush tune --conns %" PRIu64 "%s --emit sysctl\n"
        "# Load with: sysctl --system (or reboot). Values never lower this host's.\n",
        r->opts.conns, side_name(r), r->opts.conns, cmd_suffix(r));
    for (size_t i = 0; i < r->n; i++) {
        const struct tune_row *w = &r->rows[i];
        if (!w->sysctl || !w->value[0])
            continue;
        bool optional = strcmp(w->sysctl, "net.netfilter.nf_conntrack_max") == 0;
        fprintf(out, "\n# %s\n", w->why);
        if (optional)
            fputs("# '-': ignored while the conntrack module is not loaded\n", out);
        fprintf(out, "%s%s = %s\n", optional ? "-" : "", w->sysctl, w->value);
    }
    if (r->opts.client)
        fputs("\n# Keep the ephemeral range off the server's ports (adjust to yours):\n"
              "# net.ipv4.ip_local_reserved_ports = 8080,9090\n", out);
}

int tune_emit(const struct tune_report *r, enum tune_emit fmt, FILE *out)
{
    switch (fmt) {
    case TUNE_EMIT_SYSCTL: emit_sysctl(r, out); break;
    case TUNE_EMIT_LIMITS: emit_limits(r, out); break;
    case TUNE_EMIT_SYSTEMD: emit_systemd(r, out); break;
    default: return WSP_EINVAL;
    }
    return out_status(out);
}

/* ---- apply ---- */

static int write_proc(const char *proc_root, const char *rel, const char *value)
{
    char path[512];
    int n = snprintf(path, sizeof path, "%s/%s", root_or_default(proc_root), rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char line[TUNE_CELL + 2];
    n = snprintf(line, sizeof line, "%s\n", value);
    ssize_t w = write(fd, line, (size_t)n);
    int err = w < 0 ? -errno : w != n ? -EIO : 0;
    if (close(fd) < 0 && err == 0)
        err = -errno;
    return err;
}

int tune_apply(const struct tune_report *r, const char *proc_root, FILE *out)
{
    int left = 0;
    bool real = !proc_root || strcmp(proc_root, "/proc") == 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct tune_row *w = &r->rows[i];
        if (w->status == TUNE_LOW && w->sysctl && w->proc_rel) {
            if (real && geteuid() != 0) {
                fprintf(out, "not changed: %s = %s (needs root)\n", w->sysctl, w->current);
                left++;
                continue;
            }
            int rc = write_proc(proc_root, w->proc_rel, w->value);
            if (rc < 0) {
                fprintf(out, "not changed: %s = %s (writing %s: %s)\n", w->sysctl, w->current,
                        w->value, strerror(-rc));
                left++;
            } else {
                fprintf(out, "set: %s = %s (was %s)\n", w->sysctl, w->value, w->current);
            }
        } else if (w->status == TUNE_LOW || w->status == TUNE_WORKERS) {
            if (strncmp(w->setting, "RLIMIT_NOFILE", 13) == 0 && r->procs_needed) {
                fprintf(out, "not changed: %s = %s is per process, set by whoever starts wspush "
                             "(LimitNOFILE=, limits.conf)%s; %" PRIu64 " connections need "
                             "ceil(%" PRIu64 " / %" PRIu64 ") = %u %s\n",
                        w->setting, w->current,
                        r->sys.cap_sys_resource == 0
                            ? "; it cannot be raised here (no CAP_SYS_RESOURCE)" : "",
                        r->opts.conns, r->opts.conns, r->fds_usable, r->procs_needed,
                        r->opts.client ? "load generator processes (wspush-bench forks them)"
                                       : "worker processes, which wspush serve --workers auto starts");
            } else {
                fprintf(out, "not changed: %s = %s, needed %s: %s\n", w->setting, w->current,
                        w->needed, w->fix[0] ? w->fix : "cannot be changed at runtime");
            }
            left += w->status == TUNE_LOW;
        }
    }
    if (out_status(out) < 0)
        return left ? left : 1;
    return left;
}

/* ---- server start-up ---- */

int64_t tune_nofile_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -errno;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return -errno;
    }
    return rl.rlim_cur > INT64_MAX ? INT64_MAX : (int64_t)rl.rlim_cur;
}

int tune_check_startup_at(const char *proc_root, uint64_t max_conns, unsigned workers)
{
    if (max_conns == 0)
        return 0;
    struct tune_sys s;
    tune_sys_read(&s, proc_root);
    struct tune_opts o = {.conns = max_conns, .workers = workers, .nofile_soft = true};
    struct tune_report *r = malloc(sizeof *r);
    if (!r) {
        log_warn("tune: out of memory checking system limits");
        return 1;
    }
    tune_report_build(r, &s, &o);
    int warned = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct tune_row *w = &r->rows[i];
        if (!w->caps || w->status != TUNE_LOW)
            continue;
        log_warn("system caps --max-conns %" PRIu64 ": %s is %s, needs %s; fix: %s "
                 "(details: wspush tune --conns %" PRIu64 ")",
                 max_conns, w->setting, w->current, w->needed, w->fix, max_conns);
        warned++;
    }
    free(r);
    return warned;
}

int tune_check_startup(uint64_t max_conns, unsigned workers)
{
    return tune_check_startup_at(NULL, max_conns, workers);
}

/* ---- command ---- */

static void usage(FILE *out)
{
    fputs(
"usage: wspush tune --conns N [--client] [--workers K|auto] [--apply] [--json]\n"
"       wspush tune --conns N [--client] --emit sysctl|limits|systemd\n"
"\n"
"Compares the kernel and limit settings of this system with what N WebSocket\n"
"connections need, one row per setting: current value, needed value, why, fix.\n"
"\n"
"  --conns N        connections to plan for (N > 0; suffix k = 1000, m = 1000000)\n"
"  --client         the load generator side (wspush-bench): port range and\n"
"                   source addresses instead of accept backlogs\n"
"  --workers K|auto server worker processes to check (default auto: enough for\n"
"                   the per-process open-file limit, at least one per CPU)\n"
"  --apply          raise the runtime sysctls that are too low by writing\n"
"                   /proc/sys (needs root), then print the table again; never\n"
"                   writes under /etc; says what it could not change\n"
"  --json           machine-readable report on stdout\n"
"  --emit FORMAT    print a ready file instead of the report:\n"
"                     sysctl   /etc/sysctl.d/60-wspush.conf drop-in\n"
"                     limits   /etc/security/limits.d/90-wspush.conf snippet\n"
"                     systemd  wspush.service unit with LimitNOFILE=\n"
"  --bin PATH       wspush binary path in the systemd unit\n"
"                   (default /usr/local/bin/wspush)\n"
"  --proc-root DIR  read (and with --apply write) DIR instead of /proc (tests)\n"
"  -h, --help       this text\n"
"\n"
"Exit status: 0 all settings suffice, 1 some setting is LOW (after --apply:\n"
"left LOW), 2 usage error.\n", out);
}

/* "1000000", "100k", "1m" -> n. Returns 0 or WSP_EINVAL. */
static int parse_count(const char *s, uint64_t *n)
{
    if (!isdigit((unsigned char)*s))
        return WSP_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return WSP_EINVAL;
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1000, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1000000, end++;
    /* 1e9 keeps every product (fds, bytes, pages) far from overflow. */
    if (*end != '\0' || v == 0 || v > 1000000000ull / mul)
        return WSP_EINVAL;
    *n = v * mul;
    return 0;
}

/* Value of option `name` at argv[*i] ("--name v" or "--name=v"), advancing
 * *i; NULL if argv[*i] is not that option. *missing set when it has no value. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t len = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, len) != 0)
        return NULL;
    if (a[len] == '=')
        return a + len + 1;
    if (a[len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int bad(const char *what, const char *value)
{
    fprintf(stderr, "wspush: error: %s%s%s%s (try --help)\n", what, value ? " '" : "",
            value ? value : "", value ? "'" : "");
    return 2;
}

int tune_main(int argc, char **argv)
{
    struct tune_opts o = {0};
    const char *root = NULL;
    enum tune_emit emit = TUNE_EMIT_NONE;
    bool apply = false, json = false, have_conns = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--client") == 0) {
            o.client = true;
        } else if (strcmp(a, "--apply") == 0) {
            apply = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if ((v = opt_value(argc, argv, &i, "--conns", &missing))) {
            if (parse_count(v, &o.conns) < 0)
                return bad("--conns wants a count from 1 to 1000000000 (e.g. 1000000 or 1m), got", v);
            have_conns = true;
        } else if ((v = opt_value(argc, argv, &i, "--workers", &missing))) {
            uint64_t k;
            if (strcmp(v, "auto") == 0)
                o.workers = 0;
            else if (parse_count(v, &k) < 0 || k > 65535)
                return bad("--workers wants 'auto' or a count from 1 to 65535, got", v);
            else
                o.workers = (unsigned)k;
        } else if ((v = opt_value(argc, argv, &i, "--emit", &missing))) {
            if (strcmp(v, "sysctl") == 0)
                emit = TUNE_EMIT_SYSCTL;
            else if (strcmp(v, "limits") == 0)
                emit = TUNE_EMIT_LIMITS;
            else if (strcmp(v, "systemd") == 0)
                emit = TUNE_EMIT_SYSTEMD;
            else
                return bad("--emit wants sysctl, limits or systemd, got", v);
        } else if ((v = opt_value(argc, argv, &i, "--bin", &missing))) {
            if (*v != '/')
                return bad("--bin wants an absolute path, got", v);
            o.bin = v;
        } else if ((v = opt_value(argc, argv, &i, "--proc-root", &missing))) {
            if (!*v)
                return bad("--proc-root wants a directory", NULL);
            root = v;
        } else if (missing) {
            return bad("missing value after", a);
        } else {
            return bad("unknown option", a);
        }
    }
    if (!have_conns)
        return bad("--conns N is required", NULL);
    if (emit != TUNE_EMIT_NONE && (apply || json))
        return bad("--emit prints a file: it does not combine with --apply or --json", NULL);
    if (emit == TUNE_EMIT_SYSTEMD && o.client)
        return bad("--emit systemd is for the server: drop --client", NULL);

    struct tune_sys s;
    struct tune_report *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "wspush: error: out of memory\n");
        return 1;
    }
    tune_sys_read(&s, root);
    tune_report_build(r, &s, &o);
    int rc = 0, left = 0;
    if (emit != TUNE_EMIT_NONE) {
        rc = tune_emit(r, emit, stdout);
        free(r);
        return rc < 0 ? 1 : 0;
    }
    if (apply) {
        left = tune_apply(r, root, json ? stderr : stdout);
        if (!json)
            fputc('\n', stdout);
        tune_sys_read(&s, root);
        tune_report_build(r, &s, &o);
    }
    rc = json ? tune_render_json(r, stdout) : tune_render_table(r, stdout);
    size_t low = tune_report_low(r);
    free(r);
    if (rc < 0)
        return 1;
    return low || left ? 1 : 0;
}
