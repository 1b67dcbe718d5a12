/* tune_render.c - prints a tune report (tune.h): the table for people,
 * JSON, and the ready configuration files (sysctl.d drop-in, limits.d
 * snippet, systemd unit) that --emit prints for the operator to install;
 * and the capacity estimate (tune_capacity.c), as a table and as JSON.
 *
 * Writes only to the FILE it is given; never to /etc or /proc. */
#include "tune/tune.h"
#include "tune/tune_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/wsp_assert.h"

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
    tune_fmt_bytes(avail, sizeof avail,
                   s->mem_avail_kib == TUNE_NONE ? TUNE_NONE : s->mem_avail_kib * KIB);
    tune_fmt_bytes(total, sizeof total,
                   s->mem_total_kib == TUNE_NONE ? TUNE_NONE : s->mem_total_kib * KIB);
    if (r->opts.capacity) {
        int rc = tune_cap_render_table(&r->cap, out);
        if (rc < 0)
            return rc;
        fputc('\n', out);
    }
    fprintf(out, "wspush tune: %" PRIu64 " %s connections on this system\n", r->opts.conns,
            side_name(r));
    fprintf(out,
            "  %u CPUs, %s available of %s; open files per process: %" PRIu64
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
    fprintf(out, "Runtime sysctls now (as root): wspush tune --conns %" PRIu64 "%s --apply\n", n,
            c);
    fprintf(out,
            "Persistent: wspush tune --conns %" PRIu64 "%s --emit sysctl > "
            "/etc/sysctl.d/60-wspush.conf && sysctl --system\n",
            n, c);
    if (!r->opts.client)
        fprintf(out,
                "            wspush tune --conns %" PRIu64 " --emit systemd > "
                "/etc/systemd/system/wspush.service\n",
                n);
    fprintf(out,
            "            wspush tune --conns %" PRIu64 "%s --emit limits > "
            "/etc/security/limits.d/90-wspush.conf\n",
            n, c);
    return tune_out_status(out);
}

static void json_str(FILE *out, const char *s)
{
    json_write_str(out, s);
}

int tune_render_json(const struct tune_report *r, FILE *out)
{
    const struct tune_sys *s = &r->sys;
    const struct tune_needs *nd = &r->needs;
    fprintf(out, "{\"conns\":%" PRIu64 ",\"side\":\"%s\",", r->opts.conns, side_name(r));
    tune_json_key_u64(out, "nofile_used", r->nofile_used, true);
    tune_json_key_u64(out, "fds_usable", r->fds_usable, true);
    fprintf(out, "\"procs_needed\":%u,\"workers\":%u,", r->procs_needed, r->workers);
    if (r->opts.client)
        fprintf(out, "\"src_addrs\":%u,", r->src_addrs);
    else
        fputs("\"src_addrs\":null,", out);
    fprintf(out, "\"low\":%zu,\"system\":{", tune_report_low(r));
    tune_json_key_u64(out, "nofile_soft", s->nofile_soft, true);
    tune_json_key_u64(out, "nofile_hard", s->nofile_hard, true);
    tune_json_key_u64(out, "fs.nr_open", s->nr_open, true);
    tune_json_key_u64(out, "fs.file-max", s->file_max, true);
    tune_json_key_u64(out, "net.core.somaxconn", s->somaxconn, true);
    tune_json_key_u64(out, "net.ipv4.tcp_max_syn_backlog", s->syn_backlog, true);
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
    tune_json_key_u64(out, "net.netfilter.nf_conntrack_max", s->conntrack_max, true);
    tune_json_key_u64(out, "net.ipv4.tcp_ehash_entries", s->ehash, true);
    tune_json_key_u64(out, "mem_total_kib", s->mem_total_kib, true);
    tune_json_key_u64(out, "mem_available_kib", s->mem_avail_kib, true);
    tune_json_key_u64(out, "page_bytes", s->page_bytes, true);
    fprintf(out, "\"ncpu\":%u,\"cap_sys_resource\":%s},\"needs\":{", s->ncpu,
            s->cap_sys_resource < 0 ? "null"
            : s->cap_sys_resource   ? "true"
                                    : "false");
    tune_json_key_u64(out, "nofile", nd->nofile, true);
    tune_json_key_u64(out, "fs.nr_open", nd->nr_open, true);
    tune_json_key_u64(out, "fs.file-max", nd->file_max, true);
    tune_json_key_u64(out, "net.core.somaxconn", nd->somaxconn, true);
    tune_json_key_u64(out, "net.ipv4.tcp_max_syn_backlog", nd->syn_backlog, true);
    tune_json_key_u64(out, "net.netfilter.nf_conntrack_max", nd->conntrack, true);
    tune_json_key_u64(out, "net.ipv4.tcp_ehash_entries", nd->ehash, true);
    tune_json_key_u64(out, "tcp_mem_bytes", nd->tcp_mem_bytes, true);
    tune_json_key_u64(out, "mem_bytes", nd->mem_bytes, false);
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
    fputc(']', out);
    if (r->opts.capacity) {
        fputs(",\"capacity\":", out);
        tune_cap_render_json(&r->cap, out);
    }
    fputs("}\n", out);
    return tune_out_status(out);
}

/* The systemd unit depends on N (and the binary path) only, never on the
 * host that prints it, so deploy/wspush.service can be regenerated anywhere. */
static void emit_systemd(const struct tune_report *r, FILE *out)
{
    const char *bin = r->opts.bin ? r->opts.bin : "/usr/local/bin/wspush";
    const char *cfg = r->opts.config ? r->opts.config : "/etc/wspush/wspush.yaml";
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
            "# The config file holds the settings; --max-conns and --workers here win\n"
            "# over it (the command line does), because LimitNOFILE= below is sized\n"
            "# for them: change them with wspush tune --conns N --emit systemd.\n"
            "# systemctl reload wspush (SIGHUP) applies what can change at run time.\n"
            "ExecStart=%s serve --config %s --max-conns %" PRIu64 " --workers auto\n"
            "ExecReload=/bin/kill -HUP $MAINPID\n"
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
            n, n, n, bin, n, bin, cfg, n, TUNE_FD_RESERVE, r->needs.nofile);
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
              "# net.ipv4.ip_local_reserved_ports = 8080,9090\n",
              out);
}

int tune_emit(const struct tune_report *r, enum tune_emit fmt, FILE *out)
{
    switch (fmt) {
    case TUNE_EMIT_SYSCTL:
        emit_sysctl(r, out);
        break;
    case TUNE_EMIT_LIMITS:
        emit_limits(r, out);
        break;
    case TUNE_EMIT_SYSTEMD:
        emit_systemd(r, out);
        break;
    default:
        return WSP_EINVAL;
    }
    return tune_out_status(out);
}

/* ---- capacity estimate (tune_capacity.c computes it) ---- */

/* The value of the model's constant name (tune_capacity.c). */
static double cap_const(const char *name)
{
    const struct tune_cap_const *k = tune_cap_const_find(name);
    WSP_ASSERT(k);
    return k->value;
}

static const char *transport_name(const struct tune_cap_in *in)
{
    return in->tls && in->deflate ? "wss:// with permessage-deflate"
           : in->tls              ? "wss:// (TLS)"
           : in->deflate          ? "ws:// with permessage-deflate"
                                  : "plain ws://";
}

int tune_cap_render_table(const struct tune_cap *c, FILE *out)
{
    const struct tune_cap_in *in = &c->in;
    char a[24], b[24], d[24], e[24], f[24], g[24];
    fprintf(out,
            "wspush tune: capacity for %" PRIu64 " connections, %" PRIu64 " deliveries/s, %s\n",
            in->conns, in->rate, transport_name(in));
    fprintf(out,
            "  CPU per delivery  %.2f CPU-s per 1M deliveries at %" PRIu64
            " connections (%.2f plain x %.2f)%s\n",
            c->cpu_s_per_m, in->conns, c->cpu_s_per_m_plain, c->cpu_factor,
            c->extrapolated ? ", EXTRAPOLATED: measured 10000 to 1000000" : "");
    fprintf(out,
            "  cores             deliveries %.2f + pings %.2f + handshakes %.2f = %.2f busy;\n"
            "                    x %.1f headroom = %u cores (%u workers, one per core)\n",
            c->cores_deliveries, c->cores_pings, c->cores_handshakes, c->cores_busy, c->headroom,
            c->cores, c->workers);
    if (in->ping_interval_ms && c->ping_interval_s * 1000.0 > (double)in->ping_interval_ms + 0.5)
        fprintf(
            out,
            "                    pings: one per connection every %.1f s (--ping-interval %.1f s,\n"
            "                    stretched by --ping-budget %llu per core: %.0f pings/s)\n",
            c->ping_interval_s, (double)in->ping_interval_ms / 1000.0,
            (unsigned long long)in->ping_budget, c->pings_per_s);
    else if (in->ping_interval_ms)
        fprintf(out,
                "                    pings: one per connection every %.1f s (--ping-interval)\n",
                (double)in->ping_interval_ms / 1000.0);
    else
        fputs("                    pings: none (--ping-interval 0)\n", out);
    if (in->drain_ms)
        fprintf(out,
                "  restart           +%.2f cores while %" PRIu64
                " clients reconnect over %.0f s (--drain-timeout)%s\n",
                c->cores_restart, in->conns, (double)in->drain_ms / 1000.0,
                c->cores_restart <= (double)c->cores - c->cores_busy ? ": within the headroom"
                                                                     : ": beyond the headroom");
    tune_fmt_bytes(a, sizeof a, c->user_fixed);
    tune_fmt_bytes(b, sizeof b, c->user_bytes);
    tune_fmt_bytes(d, sizeof d, c->kernel_idle_bytes);
    tune_fmt_bytes(e, sizeof e, c->kernel_push_bytes);
    fprintf(out,
            "  memory            user %" PRIu64 " B/conn + %s fixed (ring + %u processes) = %s\n"
            "                    kernel %" PRIu64 " B/conn idle = %s; %" PRIu64
            " B/conn more in a push = %s\n",
            c->user_per_conn, a, c->workers + 1, b, (uint64_t)cap_const("kernel_bytes_per_conn"), d,
            (uint64_t)cap_const("kernel_push_bytes_per_conn"), e);
    tune_fmt_bytes(a, sizeof a, c->mem_idle_bytes);
    tune_fmt_bytes(f, sizeof f, c->mem_push_bytes);
    tune_fmt_bytes(g, sizeof g, c->mem_bytes);
    fprintf(out, "                    idle %s, in a push %s; x %.1f headroom = %s of RAM\n", a, f,
            c->headroom, g);
    fprintf(out,
            "  file descriptors  %" PRIu64 " (N + %u per process); fs.file-max and "
            "LimitNOFILE: the settings below\n",
            c->fds, TUNE_FD_RESERVE);
    fputs("  measured on: 2 vCPU AMD EPYC VM, loopback, clients on the same cores "
          "(BENCHMARKS.md);\n"
          "    cores elsewhere are assumed as fast, workers to scale linearly, NIC and\n"
          "    interrupt work beyond loopback's not included\n",
          out);
    fputs("  assumptions (not measured):\n", out);
    for (size_t i = 0; i < tune_cap_const_count(); i++) {
        const struct tune_cap_const *k = tune_cap_const_at(i);
        if (!k->measured)
            fprintf(out, "    - %s = %g %s: %s\n", k->name, k->value, k->unit, k->source);
    }
    if (in->tls)
        fputs("    - TLS: the CPU factor was measured at 4,000 connections with 1 KiB messages;\n"
              "      assumed to hold at this size\n",
              out);
    fputs("  the model and its check against the runs: docs/capacity.md\n", out);
    return tune_out_status(out);
}

static void json_num(FILE *out, const char *key, double v, bool comma)
{
    fprintf(out, "\"%s\":%.6g%s", key, v, comma ? "," : "");
}

int tune_cap_render_json(const struct tune_cap *c, FILE *out)
{
    const struct tune_cap_in *in = &c->in;
    fputc('{', out);
    tune_json_key_u64(out, "conns", in->conns, true);
    tune_json_key_u64(out, "rate", in->rate, true);
    fprintf(out, "\"tls\":%s,\"deflate\":%s,", in->tls ? "true" : "false",
            in->deflate ? "true" : "false");
    tune_json_key_u64(out, "ping_interval_ms", in->ping_interval_ms, true);
    tune_json_key_u64(out, "ping_budget", in->ping_budget, true);
    tune_json_key_u64(out, "handshake_rate", in->handshake_rate, true);
    tune_json_key_u64(out, "drain_ms", in->drain_ms, true);
    tune_json_key_u64(out, "ring_bytes", in->ring_bytes, true);
    json_num(out, "cpu_s_per_m_plain", c->cpu_s_per_m_plain, true);
    json_num(out, "cpu_factor", c->cpu_factor, true);
    json_num(out, "cpu_s_per_m", c->cpu_s_per_m, true);
    fprintf(out, "\"extrapolated\":%s,", c->extrapolated ? "true" : "false");
    json_num(out, "cores_deliveries", c->cores_deliveries, true);
    json_num(out, "pings_per_s", c->pings_per_s, true);
    json_num(out, "ping_interval_s", c->ping_interval_s, true);
    json_num(out, "cores_pings", c->cores_pings, true);
    json_num(out, "cores_handshakes", c->cores_handshakes, true);
    json_num(out, "cores_busy", c->cores_busy, true);
    json_num(out, "cores_restart", c->cores_restart, true);
    json_num(out, "headroom", c->headroom, true);
    tune_json_key_u64(out, "cores", c->cores, true);
    tune_json_key_u64(out, "workers", c->workers, true);
    tune_json_key_u64(out, "fds", c->fds, true);
    tune_json_key_u64(out, "user_bytes_per_conn", c->user_per_conn, true);
    tune_json_key_u64(out, "user_fixed_bytes", c->user_fixed, true);
    tune_json_key_u64(out, "user_bytes", c->user_bytes, true);
    tune_json_key_u64(out, "kernel_idle_bytes", c->kernel_idle_bytes, true);
    tune_json_key_u64(out, "kernel_push_bytes", c->kernel_push_bytes, true);
    tune_json_key_u64(out, "mem_idle_bytes", c->mem_idle_bytes, true);
    tune_json_key_u64(out, "mem_push_bytes", c->mem_push_bytes, true);
    tune_json_key_u64(out, "mem_bytes", c->mem_bytes, true);
    fputs("\"constants\":[", out);
    for (size_t i = 0; i < tune_cap_const_count(); i++) {
        const struct tune_cap_const *k = tune_cap_const_at(i);
        fprintf(out, "%s{\"name\":\"%s\",\"value\":%.6g,\"unit\":", i ? "," : "", k->name,
                k->value);
        json_write_str(out, k->unit);
        fprintf(out, ",\"measured\":%s,\"source\":", k->measured ? "true" : "false");
        json_write_str(out, k->source);
        fputc('}', out);
    }
    fputs("]}", out);
    return tune_out_status(out);
}
