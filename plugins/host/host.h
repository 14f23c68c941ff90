/*
 * The plugin host: runs external plugins (executables speaking
 * cairn.plugin.v1 over gRPC, see docs/plugins.md) and adapts them into the
 * collector interface of plugins/plugins.h, so that their series reach
 * /metrics and the TSDB exactly as the built-in collectors' do.
 *
 * Each configured plugin has a supervisor thread that starts the process
 * (magic cookie, private socket directory, optional user, rlimits, killed
 * with the agent through PR_SET_PDEATHSIG), reads its handshake line,
 * connects, checks health, asks Info once, then calls Collect on the
 * plugin's interval with a deadline. The last good result is kept; the
 * plugin's collector copies it into each collection cycle together with the
 * cairn_plugin_* self-metrics. A plugin that exits, crashes, hangs or stops
 * answering health checks is killed and restarted with exponential backoff;
 * after max_failures consecutive failures it is quarantined (left stopped)
 * until the next reload. The plugin's stderr goes to the agent's log, line by
 * line, under its name.
 *
 * The host lives across configuration reloads: plg_host_apply() starts new
 * plugins, stops removed ones and leaves unchanged ones running.
 *
 * Threads: all functions are safe to call from any thread, but
 * plg_host_apply() and plg_host_destroy() must not race with each other.
 */
#ifndef CAIRN_PLUGINS_HOST_H
#define CAIRN_PLUGINS_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exporter/exporter.h"
#include "plugins/plugins.h"

/* One plugin's configuration (YAML `plugins:` entries). Strings and arrays
 * are owned by whoever built the struct; the host copies what it keeps. */
struct plg_plugin_cfg {
    const char *name;               /* [a-zA-Z_][a-zA-Z0-9_-]*, unique */
    const char *const *argv;        /* command and arguments, NULL-terminated */
    const char *const *env;         /* extra "NAME=VALUE" entries, NULL-terminated; may be NULL */
    int64_t interval_ms;            /* 0: the plugin's suggestion, else the host default */
    int64_t timeout_ms;             /* per Collect; 0: the interval, at most 10 s */
    const char *user;               /* run as this user (needs root); NULL: as the agent */
    uint64_t memory_limit;          /* RLIMIT_AS in bytes; 0: none */
    uint64_t cpu_limit;             /* RLIMIT_CPU in seconds; 0: none */
    long max_series;                /* 0: 10,000 */
    long max_message_bytes;         /* largest Collect response; 0: 4 MiB */
    int64_t start_timeout_ms;       /* handshake and first health check; 0: 10 s */
    int64_t restart_backoff_ms;     /* first restart delay, doubling; 0: 1 s */
    int64_t restart_backoff_max_ms; /* 0: 60 s */
    int max_failures;               /* consecutive failures before quarantine; 0: 5 */
};

/* Defaults for the zero fields above. */
#define PLG_HOST_MAX_SERIES 10000
#define PLG_HOST_MAX_MESSAGE (4L << 20)
#define PLG_HOST_START_TIMEOUT_MS 10000
#define PLG_HOST_BACKOFF_MS 1000
#define PLG_HOST_BACKOFF_MAX_MS 60000
#define PLG_HOST_MAX_FAILURES 5
#define PLG_HOST_TIMEOUT_MAX_MS 10000

/* Whether name is a valid plugin name: [a-zA-Z_][a-zA-Z0-9_-]{0,63}. */
bool plg_plugin_name_valid(const char *name);

struct plg_host;

struct plg_host_opts {
    /* Where the private socket directories are made; NULL: $TMPDIR, else
     * /tmp. The path of a socket must fit sockaddr_un (108 bytes). */
    const char *socket_root;
    /* The interval of a plugin that neither configures one nor suggests
     * one (the agent's collection interval). */
    int64_t default_interval_ms;
    /* Called (from the plugin's supervisor thread) when a plugin is
     * quarantined, with its name and why; NULL: not told. ctx is passed
     * through and must outlive the host. */
    void (*on_quarantine)(void *ctx, const char *plugin, const char *why);
    void *ctx;
};

int plg_host_create(const struct plg_host_opts *opts, struct plg_host **out);

/*
 * Makes the running set match cfgs[0..n): starts plugins new in cfgs, stops
 * those no longer in it, restarts those whose configuration changed, and
 * leaves the others running untouched, except that a quarantined plugin is
 * given a fresh start. Returns 0 or -ENOMEM (the running set is then
 * unchanged). Borrows cfgs.
 */
int plg_host_apply(struct plg_host *h, const struct plg_plugin_cfg *cfgs, size_t n);

/* Changes the interval of plugins that neither configure nor suggest one
 * (plg_host_opts.default_interval_ms) for the next plg_host_apply, which
 * restarts the running plugins without a configured interval when it
 * differs. */
void plg_host_set_default_interval(struct plg_host *h, int64_t ms);

/*
 * The collectors of the plugins applied last, one per plugin, named after it,
 * for the scheduler's extra collectors. The descriptors stay valid until
 * plg_host_collectors_release(set), even when a later apply removes the
 * plugins. *cols and *n describe the array inside set.
 */
struct plg_host_collectors;
int plg_host_collectors(struct plg_host *h, struct plg_host_collectors **set,
                        const struct plg_collector *const **cols, size_t *n);
void plg_host_collectors_release(struct plg_host_collectors *set); /* accepts NULL */

/* Stops every plugin (SIGTERM, a grace period, SIGKILL), reaps them and
 * frees the host. Accepts NULL. */
void plg_host_destroy(struct plg_host *h);

/*
 * Runs the plugin of cfg once, as `cairn plugin check` does: start,
 * handshake, health, Info, one Collect, stop. Fills info (may be NULL) with
 * a one-line description ("name version, protocol 1, interval 15s, N
 * families offered") and b with the validated result. Rejected series are
 * described in rejects (may be NULL), one per line. Returns 0, or a
 * negative errno with the reason in err.
 */
int plg_host_check(const struct plg_plugin_cfg *cfg, const char *socket_root, char *info,
                   size_t infocap, struct exp_builder *b, struct cn_buf *rejects, char *err,
                   size_t errcap);

#endif
