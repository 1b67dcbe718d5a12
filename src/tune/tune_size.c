/* tune_size.c - what N connections need, and the report rows (tune.h).
 *
 * Pure: arithmetic over a struct tune_sys snapshot (tune_needs_compute, the
 * worker and source-address counts) and the rows built from it, each with
 * current and needed values, a reason and the exact fix. No I/O.
 *
 * Invariant: an unknown current value (TUNE_NONE) makes a row unknown, never
 * ok, and a sysctl row's value is never lower than its current value. */
#include "tune/tune.h"
#include "tune/tune_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/wsp_assert.h"

/* ---- estimates ----
 * Memory per connection comes from the capacity model (tune_capacity.c:
 * kernel slab per idle socket and wspush's user bytes, both measured; see
 * docs/capacity.md). Receive/send buffers cost nothing while empty: skbs
 * are allocated when data is queued and freed when it is read or acked. A
 * push queues one small skb per connection (truesize ~1-2 KiB, more with a
 * slow reader); we budget one page, TUNE_INFLIGHT_BYTES, per connection for
 * a push to everyone. The bench client's own state is ~0.5 KiB. */

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
    /* Every arriving segment finds its socket in this hash: at more
     * sockets than buckets the chains it walks grow, one cache miss per
     * socket passed (BENCHMARKS.md, "The kernel's established hash"). */
    nd->ehash = pow2_at_least(conns ? conns : 1);
    nd->tcp_mem_bytes = conns * TUNE_INFLIGHT_BYTES;
    /* Memory in a push to everyone, from the capacity model's measured
     * constants (tune_capacity.c), so this row and `--rate`'s estimate
     * agree: the server's whole need without headroom; the load generator
     * the same kernel share plus its own state. */
    if (client) {
        nd->mem_bytes =
            conns * (tune_cap_kernel_bytes_per_conn() + TUNE_CLIENT_USER_BYTES) + nd->tcp_mem_bytes;
    } else {
        struct tune_cap_in in = {0};
        tune_cap_defaults(&in);
        in.conns = conns;
        struct tune_cap c;
        tune_cap_compute(&in, &c);
        nd->mem_bytes = c.mem_push_bytes;
    }
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

static void fmt_u64(char *b, size_t cap, uint64_t v)
{
    if (v == TUNE_NONE)
        snprintf(b, cap, "?");
    else
        snprintf(b, cap, "%" PRIu64, v);
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
static void row_sysctl_min(struct tune_row *w, const char *key, const char *rel, uint64_t cur,
                           uint64_t need)
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

    struct tune_row *w =
        row_add(r, "RLIMIT_NOFILE (hard)",
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
        snprintf(w->fix, sizeof w->fix,
                 "LimitNOFILE=%" PRIu64 " (--emit systemd) or 'hard nofile %" PRIu64
                 "' (--emit limits)",
                 nd->nofile, nd->nofile);
    else if (w->status == TUNE_WORKERS && s->cap_sys_resource == 0)
        snprintf(w->fix, sizeof w->fix,
                 "cannot be raised here (no CAP_SYS_RESOURCE): run %u "
                 "processes (%s); elsewhere %s=%" PRIu64 " (--emit %s)",
                 r->procs_needed, who, r->opts.client ? "nofile" : "LimitNOFILE", nd->nofile,
                 r->opts.client ? "limits" : "systemd");
    else if (w->status == TUNE_WORKERS)
        snprintf(w->fix, sizeof w->fix,
                 "LimitNOFILE=%" PRIu64 " (--emit systemd) or 'hard nofile %" PRIu64
                 "' (--emit limits); until then %u processes (%s)",
                 nd->nofile, nd->nofile, r->procs_needed, who);

    w = row_add(
        r, "RLIMIT_NOFILE (soft)",
        r->opts.client
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
        snprintf(w->fix, sizeof w->fix,
                 "ulimit -n %" PRIu64 " (other programs; wspush does it "
                 "itself)",
                 s->nofile_hard);
    }

    if (!r->opts.client) {
        w = row_add(
            r, "worker processes",
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
            snprintf(w->fix, sizeof w->fix,
                     "wspush serve --workers auto (= %u here), or raise LimitNOFILE",
                     tune_workers_auto(nd->conns, r->nofile_used, s->ncpu));
        } else {
            w->status = TUNE_OK;
        }
    } else {
        w = row_add(
            r, "bench processes",
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
        w = row_add(
            r, "net.core.somaxconn",
            "caps every listen() backlog: a reconnect burst overflows a small accept queue");
        row_sysctl_min(w, "net.core.somaxconn", "sys/net/core/somaxconn", s->somaxconn,
                       nd->somaxconn);
        w = row_add(r, "net.ipv4.tcp_max_syn_backlog",
                    "half-open connections kept while a burst of clients completes the handshake");
        row_sysctl_min(w, "net.ipv4.tcp_max_syn_backlog", "sys/net/ipv4/tcp_max_syn_backlog",
                       s->syn_backlog, nd->syn_backlog);
    }

    w = row_add(
        r, "net.ipv4.ip_local_port_range",
        r->opts.client
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

        w = row_add(
            r, "source addresses",
            "ports are per source address, and connect() slows past ~30000 in use per address");
        snprintf(w->current, sizeof w->current, "-");
        uint64_t per = s->port_lo == TUNE_NONE ? tune_ports_per_addr(CLIENT_PORT_LO, CLIENT_PORT_HI)
                                               : tune_ports_per_addr(s->port_lo, s->port_hi);
        snprintf(w->needed, sizeof w->needed, ">= %u (%" PRIu64 " ports each)", r->src_addrs, per);
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
    tune_fmt_bytes(size, sizeof size, need_pages * page);
    snprintf(w->needed, sizeof w->needed, "max >= %" PRIu64 " (%s)", need_pages, size);
    const uint64_t *m = s->tcp_mem;
    if (m[0] == TUNE_NONE) {
        snprintf(w->current, sizeof w->current, "?");
        w->status = TUNE_UNKNOWN;
        snprintf(w->value, sizeof w->value, "%" PRIu64 " %" PRIu64 " %" PRIu64, need_pages / 2,
                 need_pages, need_pages + need_pages / 2);
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

    w = row_add(
        r, "net.netfilter.nf_conntrack_max",
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

/* Fixed at boot (thash_entries=) for the host; a network namespace made
 * after net.ipv4.tcp_child_ehash_entries is set gets its own of that size
 * (Linux 6.1+). Nothing --apply can change for the running namespace. */
static void row_ehash(struct tune_report *r)
{
    const struct tune_sys *s = &r->sys;
    uint64_t need = r->needs.ehash;
    struct tune_row *w =
        row_add(r, "net.ipv4.tcp_ehash_entries",
                "every segment looks its socket up in this hash: past 1 socket per bucket each "
                "lookup walks a chain of cold sockets (both ends count on one host)");
    snprintf(w->needed, sizeof w->needed, ">= %" PRIu64, need);
    if (s->ehash == TUNE_NONE) {
        snprintf(w->current, sizeof w->current, "?");
        w->status = TUNE_UNKNOWN;
        return;
    }
    snprintf(w->current, sizeof w->current, "%" PRIu64 "%s", s->ehash,
             s->ehash_shared ? " (host's)" : "");
    w->status = s->ehash >= need ? TUNE_OK : TUNE_LOW;
    if (w->status == TUNE_LOW)
        snprintf(w->fix, sizeof w->fix,
                 "boot with thash_entries=%" PRIu64 ", or run wspush in a network namespace "
                 "(container) made after sysctl -w net.ipv4.tcp_child_ehash_entries=%" PRIu64,
                 need, need);
}

static void row_memory(struct tune_report *r)
{
    const struct tune_sys *s = &r->sys;
    /* the why names the model's figures (a report is built once per run) */
    static char why[160];
    double kernel_kib = (double)tune_cap_kernel_bytes_per_conn() / 1024.0;
    if (r->opts.client) {
        snprintf(
            why, sizeof why,
            "per conn ~%.2f KiB kernel (idle socket) + 0.5 KiB bench + 4 KiB buffers in a push",
            kernel_kib);
    } else {
        struct tune_cap_in in = {0};
        tune_cap_defaults(&in);
        in.conns = r->needs.conns ? r->needs.conns : 1;
        struct tune_cap c;
        tune_cap_compute(&in, &c);
        snprintf(why, sizeof why,
                 "per conn ~%.2f KiB kernel (idle socket) + %" PRIu64
                 " B wspush + 4 KiB buffers in a push, + the ring (docs/capacity.md)",
                 kernel_kib, c.user_per_conn);
    }
    struct tune_row *w = row_add(r, "memory (MemAvailable)", why);
    w->caps = true;
    char need[24];
    tune_fmt_bytes(need, sizeof need, r->needs.mem_bytes);
    snprintf(w->needed, sizeof w->needed, ">= %s", need);
    if (s->mem_avail_kib == TUNE_NONE) {
        snprintf(w->current, sizeof w->current, "?");
        w->status = TUNE_UNKNOWN;
        return;
    }
    tune_fmt_bytes(w->current, sizeof w->current, s->mem_avail_kib * KIB);
    w->status = s->mem_avail_kib * KIB >= r->needs.mem_bytes ? TUNE_OK : TUNE_LOW;
    if (w->status == TUNE_LOW) {
        uint64_t per = r->needs.mem_bytes / (r->needs.conns ? r->needs.conns : 1);
        snprintf(w->fix, sizeof w->fix,
                 "not tunable: about %" PRIu64 " connections fit; more RAM or more nodes",
                 per ? s->mem_avail_kib * KIB / per : 0);
    }
}

void tune_report_build(struct tune_report *r, const struct tune_sys *s, const struct tune_opts *o)
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
    row_ehash(r);
    row_memory(r);
    if (o->capacity) {
        struct tune_cap_in in = o->cap;
        in.conns = o->conns;
        tune_cap_compute(&in, &r->cap);
    }
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
