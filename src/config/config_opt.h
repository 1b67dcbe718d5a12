/* config_opt.h - the settings of `wspush serve` (struct wsp_config) and
 * its option table: one row per option with its flag, environment variable
 * (WSPUSH_<FLAG>), type, default and help text, read and written through
 * the accessors below (config_opt.c).
 *
 * The rest of src/config/ builds on this: config_show.h prints and compares
 * settings, config_file.h reads them from YAML, config.h applies the
 * sources in order (config.h includes this header). */
#ifndef WSP_CONFIG_OPT_H
#define WSP_CONFIG_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/log.h"
#include "net/proxy_proto.h"

#define CONFIG_MAX_LIST 16
#define CONFIG_MAX_TRUSTED 64 /* --trusted-proxies entries */

enum slow_policy { SLOW_CLOSE = 0, SLOW_DROP, SLOW_LATEST };

/* --max-topics' upper bound; struct conn's topic count is sized from it. */
#define CONFIG_MAX_TOPICS 1024
#define CONFIG_HISTORY_MAX 10000 /* --history-size upper bound; the depth with only a TTL */

struct wsp_config {
    char listen[128]; /* [ADDR:]PORT of the public port */
    char admin[128];  /* ADDR:PORT of the admin port, "off" to disable */
    unsigned workers; /* 0 = auto */
    bool workers_auto;
    uint64_t max_conns;
    uint64_t max_conns_per_ip;             /* 0 = no limit */
    uint64_t tick_ms;                      /* 0 = no ticker */
    char tick_topic[129];                  /* empty = broadcast */
    char conflate_buf[1024];               /* --conflate as given */
    const char *conflate[CONFIG_MAX_LIST]; /* patterns; "/" = broadcasts */
    size_t n_conflate;
    char echo_path[256];              /* empty = off */
    uint64_t max_message_bytes;       /* bytes, inbound and publish */
    uint64_t max_partial_input_bytes; /* bytes of partial inbound messages per worker */
    uint64_t max_head_bytes;          /* request head bytes */
    uint64_t max_headers;
    uint64_t max_topics;        /* per connection, 1..CONFIG_MAX_TOPICS */
    uint64_t ring_size_bytes;   /* bytes */
    uint64_t max_backlog_bytes; /* queued bytes per connection */
    enum slow_policy slow_policy;
    char publish_token[256];
    char publish_token_file[512]; /* read into publish_token by config_parse */
    char protocols_buf[512];      /* comma list as given */
    const char *protocols[CONFIG_MAX_LIST];
    size_t n_protocols;
    char origins_buf[1024];
    const char *origins[CONFIG_MAX_LIST];
    size_t n_origins;
    uint64_t handshake_timeout_ms;
    uint64_t admin_head_timeout_ms; /* admin port: a request's head and body */
    uint64_t admin_idle_timeout_ms; /* admin port: idle keep-alive, or output unread */
    uint64_t ping_interval_ms;      /* 0 = no server pings */
    uint64_t ping_budget;           /* pings/s per core before the interval stretches; 0: never */
    uint64_t sse_heartbeat_ms;      /* SSE comment heartbeat interval; 0 = none */
    uint64_t pong_timeout_ms;
    uint64_t drain_timeout_ms;
    uint64_t msg_rate;    /* inbound messages/s per connection, 0 = no limit */
    uint64_t accept_rate; /* connections accepted per second per worker, 0 = no limit */
    int log_level;        /* the default level (--log-level's first item) */
    int8_t log_sub_levels[WSP_LOG_SUBS]; /* per subsystem (tls=debug); -1: log_level */
    char log_format[8];                  /* "text" or "json" */
    bool access_log;                     /* one line per WebSocket handshake */
    bool deflate;                        /* permessage-deflate negotiation */
    bool io_uring;                       /* batched fan-out sends */
    uint64_t fanout_slice;               /* subscribers per turn of the loop; 0: one pass */
    uint64_t deflate_min_bytes;          /* bytes: shorter messages are never compressed */
    uint64_t history_size;               /* messages kept per topic, 0 = off */
    uint64_t history_ttl_ms;             /* 0 = no age limit */
    uint64_t history_topics;             /* topic index capacity */
    uint64_t history_memory_bytes;       /* bytes of the shared message store */
    char redis[512]; /* redis://[:password@]host[:port][/db]; empty = single node */
    char redis_password_file[512];
    char redis_password[256]; /* from redis_password_file; overrides the URL's; empty = none */
    char redis_prefix[128];   /* channel prefix, default "wspush:" */
    char tls_cert_buf[2048];  /* comma list, or the option repeated */
    char tls_key_buf[2048];
    const char *tls_certs[CONFIG_MAX_LIST];
    const char *tls_keys[CONFIG_MAX_LIST];
    size_t n_tls;
    /* subscriber tokens (docs/auth.md) */
    char auth_mode[16]; /* auto|required|off as given */
    bool auth_required; /* resolved: auto = required once a key is configured */
    char auth_hmac_key_file[512];
    char auth_public_key[512];
    char auth_jwks[512];
    char auth_issuer[256];
    char auth_audience[256];
    uint64_t auth_leeway_ms;
    char auth_cookie[64];
    char public_topics_buf[1024];
    const char *public_topics[CONFIG_MAX_LIST]; /* patterns; "/" = the empty topic */
    size_t n_public_topics;
    bool proxy_protocol;    /* PROXY v1/v2 header required from trusted peers */
    char trusted_buf[2048]; /* --trusted-proxies as given */
    struct proxy_cidr trusted[CONFIG_MAX_TRUSTED];
    size_t n_trusted;
    char admin_tls_cert[512]; /* admin port over https; empty = plain */
    char admin_tls_key[512];
    /* how this configuration was made, so SIGHUP can make it again */
    char config_path[1024]; /* --config or WSPUSH_CONFIG; empty: none */
    int argc;               /* the argv given to config_parse (borrowed) */
    char **argv;
    bool presence; /* GET /presence lists users (docs/auth.md) */
};

/* "64MiB", "256k", "1M", "1024" -> bytes. 0 or WSP_EINVAL. */
int config_parse_size(const char *s, uint64_t *bytes);

/* Splits a comma list in place into items (trimmed). Returns the count or
 * WSP_ETOOBIG if more than max. */
int config_split_list(char *buf, const char **items, size_t max);

/* Most rows the option table may have (config_opt.c checks it at build time),
 * for arrays indexed by option. */
#define CONFIG_OPT_MAX 128

/* The option table, read-only, for the config file, --print-config and the
 * SIGHUP diff (config_file.c). i < config_opt_count(). */
size_t config_opt_count(void);
const char *config_opt_name(size_t i);
/* true if the option takes a list (comma-separated or repeated) */
bool config_opt_is_list(size_t i);
/* Option i's default, as text config_opt_set accepts ("25s", "64MiB"). */
const char *config_opt_default(size_t i);
/* Sets option i from text, as the command line would; src prefixes the
 * option in the error message ("", "FILE:LINE: "). 0, or 2 after one line on err. */
int config_opt_set(struct wsp_config *c, size_t i, const char *v, FILE *err, const char *src);
/* true if option i can change at run time: SIGHUP applies it in the master
 * and in running workers (config_apply_live); the others need a restart.
 * publish-token is the master's alone and not listed here. */
bool config_opt_is_live(size_t i);
/* Copies every live option whose value differs from src into dst (as
 * config_opt_set would, lists split again). src may be a byte copy of a
 * config made in another process: only its values are read. Returns the
 * number of options changed, or -1 if one could not be set (dst keeps the
 * ones set before it). */
int config_apply_live(struct wsp_config *dst, const struct wsp_config *src);
/* Splits the list options that can change at run time (allow-origin,
 * public-topics) again after config_opt_set wrote their text. */
void config_relist(struct wsp_config *c);
/* Writes option i's current value as text config_opt_set accepts (lists
 * comma-joined). Returns the length, or WSP_ETOOBIG if cap is too small. */
int config_opt_format(const struct wsp_config *c, size_t i, char *out, size_t cap);

/* The option's placeholder in --help ("BYTES", "DURATION") and its help text. */
const char *config_opt_arg(size_t i);
const char *config_opt_help(size_t i);
/* The index of the option named name[0..len) (no "--"), or -1. */
int config_opt_find(const char *name, size_t len);
/* Appends v to list option i's text (a list option given again on the
 * command line). 0, or 2 after one line on err when it does not fit. */
int config_opt_append(struct wsp_config *c, size_t i, const char *v, FILE *err);
/* The environment variable of option flag: "max-conns" -> "WSPUSH_MAX_CONNS". */
void config_opt_env_name(const char *flag, char *out, size_t cap);
/* Optimal-string-alignment distance (a transposition counts 1), for the
 * "did you mean" hints; (size_t)-1 for strings over 64 bytes. */
size_t config_opt_distance(const char *a, const char *b);

#endif
