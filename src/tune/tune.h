/* tune.h - kernel and limit settings for N WebSocket connections.
 *
 * `wspush tune --conns N` reads the running system (RLIMIT_NOFILE, the
 * sysctls under /proc/sys, /proc/meminfo), computes what N connections need,
 * and prints one row per setting: current value, needed value, why, and the
 * exact fix. The server runs the same check at start-up
 * (tune_check_startup) and warns when the system caps it below --max-conns.
 *
 * Everything that reads /proc takes a root directory (NULL means "/proc") so
 * tests can point it at a fake tree. Nothing here writes under /etc:
 * tune_apply writes runtime sysctls only (files under <root>/sys/), and the
 * persistent files (sysctl.d drop-in, limits.conf, systemd unit) are printed
 * for the operator to install.
 *
 * No global state: every function works on caller-owned structs, so calls
 * from different threads do not interfere. Start-up and CLI only, never on
 * the hot path.
 *
 * Files, from the bottom up: tune_fmt.c formats (bytes, JSON fields, status
 * names), tune_sys.c reads the system, tune_capacity.c is the capacity model
 * and tune_size.c computes the needs and the rows (both pure), tune_render.c
 * prints rows and estimates, tune_apply.c acts on them (--apply, the
 * server's start-up check), tune_cli.c is the command. */
#ifndef WSP_TUNE_H
#define WSP_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- estimates (the reasons are in tune_size.c, next to their use) ---- */
#define TUNE_FD_RESERVE 64u         /* fds per process not for connections */
#define TUNE_CLIENT_USER_BYTES 512u /* ~0.5 KiB: bench client state */
#define TUNE_INFLIGHT_BYTES 4096u   /* socket buffer per conn during a push */
#define TUNE_PORTS_PER_ADDR 30000u  /* connect() slows past this per address */
#define TUNE_BACKLOG_MIN 4096u      /* somaxconn, tcp_max_syn_backlog */

/* A value that could not be read (file missing, unparsable). */
#define TUNE_NONE UINT64_MAX

/* The running system, as read by tune_sys_read. Owned by the caller. */
struct tune_sys {
    uint64_t nofile_soft;      /* RLIMIT_NOFILE soft, fds per process */
    uint64_t nofile_hard;      /* RLIMIT_NOFILE hard, fds per process */
    uint64_t nr_open;          /* fs.nr_open: ceiling for any RLIMIT_NOFILE */
    uint64_t file_max;         /* fs.file-max: open files, whole system */
    uint64_t somaxconn;        /* net.core.somaxconn: accept queue cap */
    uint64_t syn_backlog;      /* net.ipv4.tcp_max_syn_backlog */
    uint64_t port_lo, port_hi; /* net.ipv4.ip_local_port_range, inclusive */
    uint64_t tcp_mem[3];       /* net.ipv4.tcp_mem: min pressure max, pages */
    uint64_t conntrack_max;    /* net.netfilter.nf_conntrack_max; TUNE_NONE
                                  when conntrack is not loaded */
    uint64_t ehash;            /* net.ipv4.tcp_ehash_entries: buckets of the
                                  established-socket hash of this network
                                  namespace (TUNE_NONE before Linux 6.1) */
    bool ehash_shared;         /* negative there: a namespace that shares the
                                  host's hash (tcp_child_ehash_entries was 0) */
    uint64_t mem_total_kib;    /* MemTotal in /proc/meminfo */
    uint64_t mem_avail_kib;    /* MemAvailable in /proc/meminfo */
    uint64_t page_bytes;       /* unit of tcp_mem */
    unsigned ncpu;             /* online CPUs */
    int cap_sys_resource;      /* CAP_SYS_RESOURCE in the bounding set:
                                  1 yes, 0 no (hard fd limits cannot be
                                  raised here), -1 unknown */
};

/* Reads <proc_root>/<rel> (e.g. "sys/fs/nr_open") and parses up to max
 * unsigned decimal numbers separated by white space into vals.
 * Returns how many were parsed (> 0), -errno if the file cannot be read, or
 * WSP_EINVAL if it holds no number or a malformed one. */
int tune_proc_read_u64s(const char *proc_root, const char *rel, uint64_t *vals, size_t max);
/* The same parse of a string already read. */
int tune_proc_read_u64s_str(const char *buf, uint64_t *vals, size_t max);

/* Value in kB of "key:" (e.g. "MemAvailable") in <proc_root>/meminfo.
 * Returns 0, -errno, or WSP_EINVAL when the key is missing. */
int tune_meminfo_kib(const char *proc_root, const char *key, uint64_t *kib);

/* Fills every field of s from <proc_root> (NULL = "/proc"), getrlimit and
 * sysconf. Values that cannot be read are TUNE_NONE. Always returns 0 (an
 * unreadable value is reported as unknown, not as an error). */
int tune_sys_read(struct tune_sys *s, const char *proc_root);

/* ---- pure arithmetic ---- */

/* Needs of one side (server or load generator) for `conns` connections. */
struct tune_needs {
    uint64_t conns;
    bool client;
    uint64_t nofile;           /* RLIMIT_NOFILE for one process holding all:
                                  power of two >= conns + TUNE_FD_RESERVE */
    uint64_t nr_open;          /* = nofile */
    uint64_t file_max;         /* conns + max(conns / 10, 65536) */
    uint64_t somaxconn;        /* server: TUNE_BACKLOG_MIN; client: 0 (n/a) */
    uint64_t syn_backlog;      /* server: TUNE_BACKLOG_MIN; client: 0 (n/a) */
    uint64_t conntrack;        /* 2 * conns */
    uint64_t ehash;            /* buckets: power of two >= conns (one socket
                                  per connection on this side) */
    uint64_t tcp_mem_bytes;    /* conns * TUNE_INFLIGHT_BYTES */
    uint64_t mem_bytes;        /* kernel + user + in-flight buffers */
    uint64_t port_lo, port_hi; /* client: 1024 65535; server: 0 0 (n/a) */
};
void tune_needs_compute(uint64_t conns, bool client, struct tune_needs *nd);

/* fds a process with RLIMIT_NOFILE nofile can give to connections. */
uint64_t tune_fds_usable(uint64_t nofile);
/* ceil(conns / tune_fds_usable(nofile)); 0 if nofile <= TUNE_FD_RESERVE. */
unsigned tune_procs_needed(uint64_t conns, uint64_t nofile);
/* What --workers auto picks: max(ncpu, tune_procs_needed); at least 1.
 * 0 if nofile leaves no usable fds. */
unsigned tune_workers_auto(uint64_t conns, uint64_t nofile, unsigned ncpu);
/* Ports one source address can use: min(TUNE_PORTS_PER_ADDR, hi - lo + 1). */
uint64_t tune_ports_per_addr(uint64_t port_lo, uint64_t port_hi);
/* Source addresses the load generator needs for conns connections with this
 * ephemeral port range: ceil(conns / tune_ports_per_addr); 0 if the range
 * is empty or invalid. */
unsigned tune_src_addrs(uint64_t conns, uint64_t port_lo, uint64_t port_hi);

/* ---- the report ---- */

enum tune_status {
    TUNE_OK = 0,  /* current >= needed */
    TUNE_LOW,     /* current < needed */
    TUNE_WORKERS, /* below the single-process need, covered by processes */
    TUNE_INFO,    /* informational, nothing to change */
    TUNE_UNKNOWN, /* could not be read */
};
const char *tune_status_name(enum tune_status st); /* "ok", "LOW", ... */

enum tune_emit { TUNE_EMIT_NONE = 0, TUNE_EMIT_SYSCTL, TUNE_EMIT_LIMITS, TUNE_EMIT_SYSTEMD };

/* ---- capacity model (tune_capacity.c) ----
 * Cores and memory a machine needs for N connections and R deliveries per
 * second, from the costs measured on the development machine
 * (BENCHMARKS.md). Every constant sits in one table in tune_capacity.c,
 * with the section it comes from or "assumption" when it is not measured;
 * docs/capacity.md explains the model and checks it against the runs. */

/* One constant of the model. Static storage: never freed. */
struct tune_cap_const {
    const char *name; /* "cpu_s_per_m_10k": key in --json and docs */
    double value;
    const char *unit;   /* "CPU-s per 1M deliveries", "B per connection" */
    bool measured;      /* false: an assumption, said so in the output */
    const char *source; /* BENCHMARKS.md section and command, or why */
};
size_t tune_cap_const_count(void);
const struct tune_cap_const *tune_cap_const_at(size_t i);           /* i < count */
const struct tune_cap_const *tune_cap_const_find(const char *name); /* or NULL */

/* What to plan for. */
struct tune_cap_in {
    uint64_t conns;            /* N, > 0 */
    uint64_t rate;             /* deliveries per second, all connections */
    bool tls, deflate;         /* every connection wss:// / permessage-deflate */
    uint64_t ping_interval_ms; /* server pings, one per connection per
                                  interval; 0 = none */
    uint64_t ping_budget;      /* pings/s per core before the interval
                                  stretches (serve's --ping-budget); 0 = never */
    uint64_t handshake_rate;   /* steady (re)connects per second */
    uint64_t drain_ms;         /* a restart spreads N reconnects over this */
    uint64_t ring_bytes;       /* shared-memory ring (--ring-size) */
};

/* The estimate; all figures for one node. */
struct tune_cap {
    struct tune_cap_in in;
    double cpu_s_per_m_plain;   /* plain WebSocket at N, interpolated */
    double cpu_factor;          /* TLS/deflate multiplier, 1 for plain */
    double cpu_s_per_m;         /* the two multiplied */
    bool extrapolated;          /* N outside the measured sizes */
    double cores_deliveries;    /* rate * cpu_s_per_m / 1e6 */
    double pings_per_s;         /* N / ping interval, at most ping_budget x the
                                 * cores the rest needs (as the server stretches) */
    double ping_interval_s;     /* the interval that gives pings_per_s */
    double cores_pings;         /* pings_per_s, as deliveries */
    double cores_handshakes;    /* handshake_rate * CPU per handshake */
    double cores_busy;          /* the sum of the three */
    double cores_restart;       /* extra while N reconnect over drain_ms */
    double headroom;            /* factor applied to cores and memory */
    unsigned cores;             /* ceil(cores_busy * headroom), >= 1 */
    unsigned workers;           /* one per core (fds per process allowing) */
    uint64_t fds;               /* N + TUNE_FD_RESERVE per process */
    uint64_t user_per_conn;     /* B of wspush user memory per connection */
    uint64_t user_fixed;        /* B: ring + processes' own memory */
    uint64_t user_bytes;        /* N * user_per_conn + user_fixed */
    uint64_t kernel_idle_bytes; /* N * kernel bytes of an idle socket */
    uint64_t kernel_push_bytes; /* N * socket buffer queued in a push */
    uint64_t mem_idle_bytes;    /* user + kernel idle */
    uint64_t mem_push_bytes;    /* user + kernel idle + kernel push */
    uint64_t mem_bytes;         /* mem_push_bytes * headroom: the RAM to have */
};

/* Plain WebSocket server CPU-s per million deliveries at N connections:
 * the measured sizes, linear in log10(N) between them, flat below the
 * smallest, the last slope continued above the largest. Pure. */
double tune_cap_cpu_s_per_m(uint64_t conns, bool *extrapolated);

/* Fills c from in. Pure: no I/O. */
void tune_cap_compute(const struct tune_cap_in *in, struct tune_cap *c);

/* The model's kernel bytes per idle socket (measured at 1M, one end), for
 * the load generator's memory need too. */
uint64_t tune_cap_kernel_bytes_per_conn(void);

/* The server's defaults for --ping-interval, --drain-timeout and
 * --ring-size (from the config option table), into in. */
void tune_cap_defaults(struct tune_cap_in *in);

/* Output (tune_render.c): the estimate with its assumptions, and a JSON
 * object. 0 or -errno. */
int tune_cap_render_table(const struct tune_cap *c, FILE *out);
int tune_cap_render_json(const struct tune_cap *c, FILE *out);

struct tune_opts {
    uint64_t conns;         /* N, > 0 */
    bool client;            /* needs of the load generator side */
    unsigned workers;       /* server worker processes; 0 = auto */
    bool nofile_soft;       /* count fds by the soft limit (start-up check,
                               after the server raised it) instead of the
                               hard limit (tune: the server raises soft) */
    const char *bin;        /* wspush path for the systemd unit; NULL =
                               /usr/local/bin/wspush */
    const char *config;     /* --config FILE in the unit's ExecStart; NULL =
                               /etc/wspush/wspush.yaml (the package's) */
    bool capacity;          /* --rate given: add the capacity estimate */
    struct tune_cap_in cap; /* its input (cap.conns = conns) */
};

#define TUNE_ROWS_MAX 14
#define TUNE_CELL 48

struct tune_row {
    const char *setting;  /* "fs.file-max", "RLIMIT_NOFILE (hard)" */
    const char *sysctl;   /* runtime-writable sysctl key, else NULL */
    const char *proc_rel; /* its file under proc root, else NULL */
    enum tune_status status;
    bool caps; /* LOW here caps the connection count (or its
                  memory): the server warns at start-up */
    char current[TUNE_CELL];
    char needed[TUNE_CELL];
    char value[TUNE_CELL]; /* sysctl rows: what --apply and --emit write,
                              never lower than current */
    const char *why;       /* one line */
    char fix[256];         /* the exact command or config line */
};

struct tune_report {
    struct tune_opts opts;
    struct tune_sys sys;
    struct tune_needs needs;
    uint64_t nofile_used;  /* limit the fd math used (hard or soft) */
    uint64_t fds_usable;   /* per process */
    unsigned procs_needed; /* ceil(N / fds_usable); 0 = impossible */
    unsigned workers;      /* opts.workers, or auto */
    unsigned src_addrs;    /* client: source addresses needed */
    size_t n;
    struct tune_row rows[TUNE_ROWS_MAX];
    struct tune_cap cap; /* when opts.capacity */
};

/* Computes the rows from a system snapshot. Pure: no I/O. */
void tune_report_build(struct tune_report *r, const struct tune_sys *s, const struct tune_opts *o);
/* Row by setting name, NULL if absent. */
const struct tune_row *tune_report_row(const struct tune_report *r, const char *setting);
/* Rows with status TUNE_LOW. */
size_t tune_report_low(const struct tune_report *r);

/* Output. All return 0 or -errno on a write error. */
int tune_render_table(const struct tune_report *r, FILE *out);
int tune_render_json(const struct tune_report *r, FILE *out);
/* A ready file: /etc/sysctl.d/ drop-in, limits.d snippet or systemd unit. */
int tune_emit(const struct tune_report *r, enum tune_emit fmt, FILE *out);

/* Raises every LOW runtime sysctl of r by writing its value to
 * <proc_root>/<proc_rel> (NULL root = "/proc"; needs root for the real one),
 * and says on out what it changed and what it could not change (per-process
 * open-file limits, with the worker count that works around them).
 * Never touches /etc. Returns the number of LOW settings left unchanged. */
int tune_apply(const struct tune_report *r, const char *proc_root, FILE *out);

/* ---- server side ---- */

/* Raises this process's RLIMIT_NOFILE soft limit to its hard limit (the
 * server calls it before forking workers). Returns the new soft limit, or
 * -errno. */
int64_t tune_nofile_raise(void);

/* Start-up check: one log_warn line for each way the system caps the server
 * below max_conns with `workers` processes (0 = --workers auto) and the
 * current soft RLIMIT_NOFILE: fds per process x workers, fs.file-max,
 * nf_conntrack_max, tcp_mem, MemAvailable. Returns the number of warnings. */
int tune_check_startup(uint64_t max_conns, unsigned workers);
/* Same, reading proc_root (NULL = "/proc"). For tests. */
int tune_check_startup_at(const char *proc_root, uint64_t max_conns, unsigned workers);

/* `wspush tune ...`; argv[0] is "tune". Returns 0 (every setting suffices),
 * 1 (some setting is below the need, or --apply left some unchanged), or 2
 * (usage error, message on stderr). */
int tune_main(int argc, char **argv);

#endif
