/* tune_apply.c - acting on a tune report (tune.h): --apply writes the LOW
 * runtime sysctls under <proc root>/sys and nothing else; the server raises
 * its own RLIMIT_NOFILE soft limit and warns at start-up when the system
 * caps it below --max-conns.
 *
 * Invariant: never writes a value lower than the current one (rows carry
 * value >= current), never touches /etc. */
#include "tune/tune.h"
#include "tune/tune_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"

/* ---- apply ---- */

static int write_proc(const char *proc_root, const char *rel, const char *value)
{
    char path[512];
    int n = snprintf(path, sizeof path, "%s/%s", tune_proc_root(proc_root), rel);
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
                fprintf(out,
                        "not changed: %s = %s is per process, set by whoever starts wspush "
                        "(LimitNOFILE=, limits.conf)%s; %" PRIu64 " connections need "
                        "ceil(%" PRIu64 " / %" PRIu64 ") = %u %s\n",
                        w->setting, w->current,
                        r->sys.cap_sys_resource == 0
                            ? "; it cannot be raised here (no CAP_SYS_RESOURCE)"
                            : "",
                        r->opts.conns, r->opts.conns, r->fds_usable, r->procs_needed,
                        r->opts.client
                            ? "load generator processes (wspush-bench forks them)"
                            : "worker processes, which wspush serve --workers auto starts");
            } else {
                fprintf(out, "not changed: %s = %s, needed %s: %s\n", w->setting, w->current,
                        w->needed, w->fix[0] ? w->fix : "cannot be changed at runtime");
            }
            left += w->status == TUNE_LOW;
        }
    }
    if (tune_out_status(out) < 0)
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
