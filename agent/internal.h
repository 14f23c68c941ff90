/*
 * Internals of the agent module shared by its files (and its unit tests).
 * Nothing outside agent/ and tests/unit/agent includes this header.
 */
#ifndef CAIRN_AGENT_INTERNAL_H
#define CAIRN_AGENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"
#include "exporter/exporter.h"
#include "plugins/host/host.h"
#include "plugins/plugins.h"

/* ---- configuration (config.c) ------------------------------------------- */

/* One built-in collector's settings. enabled: -1 unset (use the default),
 * 0 off, 1 on. values[i] is the configured value of option i (owned, NULL =
 * default). */
struct agent_collector_cfg {
    int enabled;
    char **values;
    bool isolated; /* run in its own process through `cairn plugin serve` */
};

/* One YAML `plugins:` entry. cfg points into the owned fields below. */
struct agent_plugin {
    struct plg_plugin_cfg cfg;
    char *name, *user;
    char **argv, **env; /* NULL-terminated, owned */
};

/*
 * The whole configuration: defaults, then the YAML file, then flags, each
 * overriding the one before. All strings are owned by the struct.
 */
struct agent_config {
    char *config_file;
    bool config_check;
    bool show_help;
    bool show_version;

    char *listen_address;
    char *telemetry_path;
    long max_requests;

    enum cn_log_level log_level;
    enum cn_log_format log_format;

    struct plg_paths paths; /* strings owned */

    int64_t interval_ms;
    int64_t timeout_ms; /* 0: automatic, see agent_config_timeout_ms() */
    bool disable_defaults;

    char *storage_path;
    int64_t retention_ms;     /* 0: no time limit */
    uint64_t retention_bytes; /* 0: no size limit */
    int64_t block_ms;         /* head block length */

    /* The PromQL engine (--query.*); all positive. */
    int64_t query_lookback_ms;
    int64_t query_timeout_ms;
    long query_max_samples;
    long query_max_concurrency;

    size_t ncollectors; /* == number of built-in collectors */
    struct agent_collector_cfg *collectors;

    struct agent_plugin *plugins; /* YAML `plugins:`, then the plugin files' */
    size_t nplugins;
    /* YAML `plugin_files:`: glob patterns, NULL-terminated; may be NULL.
     * agent_config_apply_yaml only records them; agent_config_load reads
     * the files they match. */
    char **plugin_files;

    /* The event store (--events.*, YAML `events:`). */
    char *kmsg_path;   /* "" : no kernel log */
    char *events_path; /* NULL: events.db in storage_path */
    int64_t events_retention_ms;
    long events_retention_count;
    long events_queue_size;
    int64_t events_flush_ms;
    bool events_default_rules;
    char **events_rules_files; /* glob patterns, NULL-terminated; may be NULL */
};

/*
 * Builds the configuration from argv (argv[0] is the subcommand name, e.g.
 * "agent"), the YAML file that --config.file names, if any, and the plugin
 * files its `plugin_files:` patterns match (see agent_glob_each), read after
 * it and before the flags are applied. A plugin file is a YAML mapping whose
 * only key is `plugins:`, a list of entries as in the main file (an empty
 * file has none); its entries come after the main file's, and plugin names
 * stay unique across all files. On error returns -EINVAL (-ENOMEM) and
 * writes a one-line message into err (for a YAML error, also in a plugin
 * file: "file:line:column: what is wrong"). The caller frees cfg with
 * agent_config_free() in both cases.
 */
int agent_config_load(struct agent_config *cfg, int argc, char **argv, char *err, size_t errcap);
void agent_config_free(struct agent_config *cfg);

/* Parses YAML text (from `file`, used in messages) on top of cfg. Touches
 * no other file: `plugin_files:` patterns are only recorded. */
int agent_config_apply_yaml(struct agent_config *cfg, const char *file, const char *text,
                            size_t len, char *err, size_t errcap);

/*
 * Calls fn(path, ctx) for each file that the NULL-terminated glob patterns
 * match (patterns may be NULL: no files), pattern by pattern in order, each
 * pattern's matches in sorted order. A pattern with a wildcard (*, ?, [)
 * that matches nothing is skipped; one without that names no existing file
 * is an error, -ENOENT with "PATTERN: cannot read WHAT: No such file or
 * directory" in err (what: e.g. "rules file"). A pattern glob(3) cannot
 * expand gives -ENOMEM or -EIO with "PATTERN: cannot expand the pattern".
 * The first non-zero return of fn stops the walk and is returned; fn writes
 * its own message (it gets no err: pass it through ctx). 0 otherwise.
 */
int agent_glob_each(char *const *patterns, int (*fn)(const char *path, void *ctx), void *ctx,
                    const char *what, char *err, size_t errcap);

/* The collectors' deadline in a cycle: the configured one, or 10 s, or the
 * interval if that is shorter. */
int64_t agent_config_timeout_ms(const struct agent_config *cfg);

/* Whether built-in collector i runs in the agent's process under cfg:
 * enabled, and not isolated. */
bool agent_config_collector_enabled(const struct agent_config *cfg, size_t i);
/* Whether built-in collector i is enabled and isolated: it then runs as a
 * plugin, `cairn plugin serve NAME`, with cfg's paths and its options. */
bool agent_config_collector_isolated(const struct agent_config *cfg, size_t i);

/*
 * The plugins to run under cfg: the YAML `plugins:` entries, then one per
 * isolated built-in collector, started as `<self_exe> plugin serve NAME
 * --path.*=... --collector.NAME.OPTION=...`. *out (n entries) and its
 * strings live in *store, which the caller frees with
 * agent_plugin_list_free. 0 or -ENOMEM.
 */
struct agent_plugin_list {
    struct plg_plugin_cfg *cfgs;
    size_t n;
    struct agent_plugin *isolated; /* the generated entries, owned */
    size_t nisolated;
};
int agent_config_plugin_list(const struct agent_config *cfg, const char *self_exe,
                             struct agent_plugin_list *out);
void agent_plugin_list_free(struct agent_plugin_list *l);

/* Prints the flag reference. */
void agent_config_usage(FILE *out);

/* ---- self-metrics (selfmetrics.c) ---------------------------------------- */

/* Counts HTTP requests by handler and status code; thread-safe. */
struct agent_http_stats;
struct agent_http_stats *agent_http_stats_create(void);
void agent_http_stats_destroy(struct agent_http_stats *s);
void agent_http_stats_inc(struct agent_http_stats *s, const char *handler, unsigned code);
/* Adds cairn_http_requests_total to b. */
void agent_http_stats_export(struct agent_http_stats *s, struct exp_builder *b);

/* Adds process_* (from the agent's own /proc/self, whatever --path.procfs
 * says: it describes this process, not the monitored host) and
 * cairn_build_info to b. */
void agent_process_metrics(struct exp_builder *b, double boot_time);

/* The host's boot time (btime in /proc/stat), seconds since the epoch; 0 if
 * unknown. Read once: it does not change while the host runs. */
double agent_boot_time(void);

/* ---- history (store.c) ------------------------------------------------------ */

/*
 * The embedded TSDB under cfg's storage settings, fed one snapshot per
 * collection cycle (see store.c). Lives across reloads; the scheduler
 * borrows it.
 */
struct agent_store;
struct tsdb_db;
/* Opens the database (replaying its WAL). -errno with a message in err. */
int agent_store_open(const struct agent_config *cfg, struct agent_store **out, char *err,
                     size_t errcap);
void agent_store_close(struct agent_store *s); /* accepts NULL */
/* Appends every series of snap at t (ms), marks series gone since the last
 * call stale, commits. Thread-safe (one cycle at a time). */
void agent_store_append(struct agent_store *s, const struct exp_snapshot *snap, int64_t t);
/* Adds the cairn_tsdb_* self-metrics to b. Thread-safe. */
void agent_store_export(struct agent_store *s, struct exp_builder *b);
struct tsdb_db *agent_store_db(struct agent_store *s);
/* Corrupt blocks set aside and WAL damage repaired since the last call
 * (the first call: since the database was opened). Thread-safe. */
uint64_t agent_store_new_damage(struct agent_store *s);

/* ---- scheduler (sched.c) -------------------------------------------------- */

/*
 * Drives the collectors: every interval it hands each enabled collector the
 * tick on its own worker thread, waits until all have finished or the
 * deadline passed, and publishes a new snapshot of everything that finished
 * in time, plus node_scrape_collector_* and the agent's self-metrics.
 * A collector still running at the deadline reports success 0 with no
 * series; a collector still running at the next tick is not started again.
 */
struct agent_sched;
struct evt_service;

struct agent_sched_opts {
    const struct agent_config *cfg; /* borrowed during create only */
    struct agent_http_stats *http;  /* borrowed; may be NULL */
    struct agent_store *store;      /* borrowed; may be NULL (no history) */
    struct evt_service *events;     /* borrowed; may be NULL (no event store) */
    /* Collectors beyond the built-ins (adapted plugins, test doubles), run
     * with their default options; borrowed for the scheduler's lifetime. */
    const struct plg_collector *const *extra;
    size_t nextra;
};

int agent_sched_create(const struct agent_sched_opts *opts, struct agent_sched **out);
/* Starts the scheduling thread; the first cycle runs at once. */
int agent_sched_start(struct agent_sched *s);
/* Runs exactly one cycle on the calling thread (tests, `--once`). */
void agent_sched_run_once(struct agent_sched *s);
/* Stops the thread and frees everything; collectors stuck in the kernel are
 * left to finish on their own and free their state then. Accepts NULL. */
void agent_sched_destroy(struct agent_sched *s);

/* The latest complete snapshot, with a reference the caller drops with
 * exp_snapshot_unref(); NULL before the first cycle finished. Thread-safe. */
struct exp_snapshot *agent_sched_snapshot(struct agent_sched *s);

/*
 * Holds the snapshot the HTTP server serves. A reload replaces the scheduler
 * behind it while the server keeps running.
 */
struct agent_source {
    pthread_mutex_t lock;
    struct agent_sched *sched;
    /* Whether the last (re)load of the configuration succeeded, and when
     * the last successful one happened (ms), for
     * /api/v1/status/runtimeinfo; set by `cairn agent`. */
    bool config_ok;
    int64_t config_ms;
};

/* ---- the Prometheus HTTP API (api.c) --------------------------------------- */

/*
 * Request parameters as Go's r.Form holds them: name/value pairs in order,
 * a POST body's before the query string's, so the first value of a name is
 * what Prometheus' r.FormValue() answers. Strings owned.
 */
struct agent_param {
    char *name, *value;
};
struct agent_params {
    struct agent_param *v;
    size_t n, cap;
    char err[160]; /* the first decoding problem (Go's words), or "" */
};
void agent_params_free(struct agent_params *p); /* contents; accepts NULL */
/* The first value of name, or NULL. */
const char *agent_params_get(const struct agent_params *p, const char *name);
/*
 * Decodes application/x-www-form-urlencoded text (a query string or a POST
 * body; len bytes, no NUL needed) into p as Go's url.ParseQuery does: pairs
 * split on '&', '+' is a space, %XX escapes, a pair without '=' has an
 * empty value, empty pairs are skipped. A pair with a bad escape or a ';'
 * is skipped too, and the first such problem is described in p->err in
 * Go's words (`invalid URL escape "%zz"`). 0 (also after such problems:
 * Prometheus' handlers mostly ignore them) or -ENOMEM.
 */
int agent_form_parse(struct agent_params *p, const char *s, size_t len);

/*
 * A time parameter as Prometheus' parseTime takes it: Unix seconds as a
 * float ("1700000000.123", rounded to ms) or RFC 3339 with optional
 * fractional seconds and a zone ("2023-11-14T22:13:20.5+01:00"), or the
 * API's own formatted minimum and maximum time. 0 and *ms, or -EINVAL.
 */
int agent_parse_time(const char *s, int64_t *ms);
/* The API's defaults for an absent start and end (Prometheus' minTime,
 * maxTime in ms). */
#define AGENT_API_MIN_TIME (-9223309901257974000LL)
#define AGENT_API_MAX_TIME 9223309901257974999LL
/*
 * A duration parameter as Prometheus' parseDuration takes it: float
 * seconds ("15", "0.5") or a Prometheus duration ("1m30s"). 0 and *ns;
 * -ERANGE when float seconds overflow int64 nanoseconds; -EINVAL.
 */
int agent_parse_duration(const char *s, int64_t *ns);

/* Appends s as a JSON string the way Go's encoding/json writes it
 * (HTML-safe: <, >, & as \u003c ...; invalid UTF-8 as \ufffd). */
void agent_json_string(struct cn_buf *b, const char *s);
/* Appends a timestamp in ms as the API writes those of vectors and
 * matrices: seconds and, unless whole, three decimals ("1700000000.123",
 * "-0.500", "12"). */
void agent_json_timestamp(struct cn_buf *b, int64_t ms);
/* Go's strconv.FormatFloat(v, 'f', -1, 64) ("0.1", "1e+21" written out in
 * full, "NaN", "+Inf", "-Inf"), as scalars are written. buf >= 400 bytes;
 * returns the length. */
#define AGENT_FLOAT_BUF 400
size_t agent_format_float(char *buf, double v);
/* A sample value as Prometheus writes vector and matrix values: as above,
 * but in exponent form ('e', "1e-07", "1.5e+21") below 1e-6 and from 1e21
 * (absolute). buf >= AGENT_FLOAT_BUF bytes; returns the length. */
size_t agent_format_sample(char *buf, double v);
/* Appends the "data" of a query answer: {"resultType":...,"result":...}. */
struct promql_result;
void agent_json_result(struct cn_buf *b, const struct promql_result *r);

/*
 * The API: Prometheus 2.42's /api/v1 query, metadata and status endpoints
 * over the agent's TSDB and PromQL engine (see api.c, docs/api.md). One
 * object for the agent's life; every function may be called from several
 * threads at once.
 */
struct agent_api;
struct promql_engine;
struct evt_service;
struct agent_api_opts {
    struct agent_store *store;    /* borrowed */
    struct evt_service *events;   /* borrowed; NULL: /api/v1/events answers 503 */
    struct promql_engine *engine; /* borrowed */
    struct agent_source *source;  /* borrowed: snapshot (metadata), config state */
    int64_t retention_ms;         /* for runtimeinfo's storageRetention */
    uint64_t retention_bytes;
};
int agent_api_create(const struct agent_api_opts *opts, struct agent_api **out);
/* Stops the deadline watcher; no request may be running. Accepts NULL. */
void agent_api_destroy(struct agent_api *a);
/* Cancels every running query and every later one (shutdown). */
void agent_api_cancel_all(struct agent_api *a);

/* One answer: status code, body and the headers that go with it. */
struct agent_api_reply {
    unsigned code;
    const char *content_type; /* static; NULL without a body (204) */
    const char *allow;        /* static; the methods a 405 allows, else NULL */
    struct cn_buf body;       /* owned by the caller, who initialised it */
};
/*
 * Answers one request to /api/v1<path> (path starts with '/') with the
 * given method and parameters, blocking while a query runs. Everything
 * Prometheus' API answers with a JSON document gets one; an unknown path
 * gets 404 and a wrong method 405 as plain text.
 */
void agent_api_serve(struct agent_api *a, const char *method, const char *path,
                     const struct agent_params *params, struct agent_api_reply *reply);

/* Replaces the reply with a Prometheus-style error document:
 * {"status":"error","errorType":type,"error":msg} and status code. */
void agent_api_error(struct agent_api_reply *r, const char *type, unsigned code, const char *msg);

/* ---- events (events.c) ------------------------------------------------------------ */

struct evt_rules;
/*
 * The rule set cfg names: the built-in defaults (unless disabled), then
 * each events.rules_files glob's matches in sorted order. -errno with
 * "file:line:column: what" (or "file: reason") in err.
 */
int agent_events_rules(const struct agent_config *cfg, struct evt_rules **out, char *err,
                       size_t errcap);
/* Loads the rules and starts the event service under cfg. -errno with err. */
int agent_events_start(const struct agent_config *cfg, struct evt_service **out, char *err,
                       size_t errcap);
/* Answers GET /api/v1/events (see events.c, docs/events.md). */
void agent_events_api(struct evt_service *svc, const struct agent_params *p,
                      struct agent_api_reply *r);

/* ---- HTTP server (http.c) ------------------------------------------------- */

struct agent_http;

struct agent_http_opts {
    const char *listen_address; /* "host:port", ":port", "[v6]:port" */
    const char *telemetry_path; /* "/metrics" */
    long max_requests;          /* concurrent /metrics requests; 0 = unlimited */
    struct agent_source *source;
    struct agent_http_stats *stats;
    struct agent_api *api; /* borrowed; NULL: /api/v1 answers 404 */
};

/* Starts serving. On failure returns a negative errno and writes why into
 * err. */
int agent_http_start(const struct agent_http_opts *opts, struct agent_http **out, char *err,
                     size_t errcap);
/* The TCP port actually bound (useful with port 0). */
unsigned agent_http_port(const struct agent_http *h);
void agent_http_stop(struct agent_http *h); /* accepts NULL */

/* Chooses the exposition format for an Accept header (NULL: text). */
enum exp_format agent_negotiate_format(const char *accept);
/* Whether an Accept-Encoding header allows gzip. */
bool agent_accepts_gzip(const char *accept_encoding);

/* ---- cairn query (query_cli.c) ---------------------------------------------- */

/* Runs `cairn query ...`; argv[0] is "query". Returns the exit status. */
int agent_query_main(int argc, char **argv);

/*
 * Calls the API of the server at `server` (URL, or host:port): POSTs form
 * as the body, or GETs path?form. 0 with the parsed JSON document in *doc
 * (a json_t, the caller drops it with json_decref) and the raw body in raw
 * when the answer is a success; 1 after printing to stderr why not.
 */
int agent_api_call(const char *server, const char *path, bool post, const char *form,
                   struct cn_buf *raw, void **doc);

/* ---- cairn events (events_cli.c) ---------------------------------------------- */

/* Runs `cairn events ...`; argv[0] is "events". Returns the exit status. */
int agent_events_main(int argc, char **argv);

/* ---- cairn plugin (plugin_cli.c) ------------------------------------------- */

/* Runs `cairn plugin ...`; argv[0] is "plugin". Returns the exit status. */
int agent_plugin_main(int argc, char **argv);

/* ---- cairn tsdb (tsdb_cli.c) ----------------------------------------------- */

/* Runs `cairn tsdb ...`; argv[0] is "tsdb". Returns the exit status. */
int agent_tsdb_main(int argc, char **argv);

#endif
