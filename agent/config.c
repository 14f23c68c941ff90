/*
 * Configuration: built-in defaults, then the YAML file named by
 * --config.file, then the command-line flags, each layer overriding the one
 * before. A reload (SIGHUP) rebuilds the whole thing from the same argv, so
 * flags keep winning over an edited file.
 *
 * Flag names follow node_exporter and Prometheus (--web.listen-address,
 * --path.procfs, --collector.NAME, --no-collector.NAME,
 * --collector.NAME.OPTION=VALUE, ...). Both "--flag=value" and
 * "--flag value" are accepted.
 *
 * The YAML file is read with libyaml's document API so that every node keeps
 * its position: any error, including an unknown key, is reported as
 * "file:line:column: what is wrong". The schema is documented in
 * docs/configuration.md.
 *
 * Plugin files. `plugin_files:` names glob patterns of further YAML files
 * that hold nothing but a `plugins:` list, one file per plugin as packages
 * and configuration management like to drop them into
 * /etc/cairn/plugins.d/. Parsing the main file only records the patterns,
 * so that agent_config_apply_yaml (and the fuzzer driving it) never touches
 * the filesystem; agent_config_load reads the matches right after the main
 * file, with the same entry parser, so a reload sees files added, changed
 * or removed since. The glob walk is agent_glob_each, shared with the event
 * rules files.
 */
#include "agent/internal.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define DEFAULT_LISTEN ":9100"
#define DEFAULT_TELEMETRY "/metrics"
#define DEFAULT_MAX_REQUESTS 40
#define DEFAULT_INTERVAL_MS 15000
#define DEFAULT_TIMEOUT_MS 10000 /* or the interval, if shorter */
#define DEFAULT_STORAGE_PATH "data/"
#define DEFAULT_RETENTION_MS (15 * 24 * 3600 * 1000LL)
#define DEFAULT_BLOCK_MS (2 * 3600 * 1000LL)
/* The PromQL engine's, as Prometheus' --query.* defaults. */
#define DEFAULT_QUERY_LOOKBACK_MS (5 * 60 * 1000LL)
#define DEFAULT_QUERY_TIMEOUT_MS (2 * 60 * 1000LL)
#define DEFAULT_QUERY_MAX_SAMPLES 50000000L
#define DEFAULT_QUERY_MAX_CONCURRENCY 20L
/* The event store's. */
#define DEFAULT_KMSG_PATH "/dev/kmsg"
#define DEFAULT_EVENTS_RETENTION_MS (30 * 24 * 3600 * 1000LL)
#define DEFAULT_EVENTS_RETENTION_COUNT 1000000L
#define DEFAULT_EVENTS_QUEUE 65536L
#define DEFAULT_EVENTS_FLUSH_MS 1000

static size_t count_builtins(void)
{
    size_t n = 0;
    for (const struct plg_collector *const *c = plg_builtin_collectors(); *c; c++)
        n++;
    return n;
}

static size_t count_options(const struct plg_collector *c)
{
    size_t n = 0;
    while (c->options && c->options[n].name)
        n++;
    return n;
}

static int set_str(char **dst, const char *v)
{
    char *d = cn_strdup(v);
    if (!d)
        return -ENOMEM;
    free(*dst);
    *dst = d;
    return 0;
}

static int config_defaults(struct agent_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_requests = DEFAULT_MAX_REQUESTS;
    cfg->log_level = CN_LOG_INFO;
    cfg->log_format = CN_LOG_LOGFMT;
    cfg->interval_ms = DEFAULT_INTERVAL_MS;
    cfg->retention_ms = DEFAULT_RETENTION_MS;
    cfg->block_ms = DEFAULT_BLOCK_MS;
    cfg->query_lookback_ms = DEFAULT_QUERY_LOOKBACK_MS;
    cfg->query_timeout_ms = DEFAULT_QUERY_TIMEOUT_MS;
    cfg->query_max_samples = DEFAULT_QUERY_MAX_SAMPLES;
    cfg->query_max_concurrency = DEFAULT_QUERY_MAX_CONCURRENCY;
    cfg->events_retention_ms = DEFAULT_EVENTS_RETENTION_MS;
    cfg->events_retention_count = DEFAULT_EVENTS_RETENTION_COUNT;
    cfg->events_queue_size = DEFAULT_EVENTS_QUEUE;
    cfg->events_flush_ms = DEFAULT_EVENTS_FLUSH_MS;
    cfg->events_default_rules = true;
    cfg->ncollectors = count_builtins();
    cfg->collectors = cn_calloc(cfg->ncollectors, sizeof(*cfg->collectors));
    if (!cfg->collectors)
        return -ENOMEM;
    const struct plg_collector *const *all = plg_builtin_collectors();
    for (size_t i = 0; i < cfg->ncollectors; i++) {
        cfg->collectors[i].enabled = -1;
        cfg->collectors[i].values = cn_calloc(count_options(all[i]) + 1, sizeof(char *));
        if (!cfg->collectors[i].values)
            return -ENOMEM;
    }
    if (set_str(&cfg->listen_address, DEFAULT_LISTEN) ||
        set_str(&cfg->storage_path, DEFAULT_STORAGE_PATH) ||
        set_str(&cfg->telemetry_path, DEFAULT_TELEMETRY) ||
        set_str((char **)&cfg->paths.procfs, "/proc") ||
        set_str((char **)&cfg->paths.sysfs, "/sys") || set_str((char **)&cfg->paths.rootfs, "/") ||
        set_str((char **)&cfg->paths.udev_data, "/run/udev/data") ||
        set_str(&cfg->kmsg_path, DEFAULT_KMSG_PATH))
        return -ENOMEM;
    return 0;
}

static void plugin_free(struct agent_plugin *p)
{
    free(p->name);
    free(p->user);
    cn_strv_free(p->argv);
    cn_strv_free(p->env);
}

void agent_config_free(struct agent_config *cfg)
{
    if (!cfg)
        return;
    const struct plg_collector *const *all = plg_builtin_collectors();
    for (size_t i = 0; cfg->collectors && i < cfg->ncollectors; i++) {
        size_t n = count_options(all[i]);
        for (size_t j = 0; cfg->collectors[i].values && j < n; j++)
            free(cfg->collectors[i].values[j]);
        free(cfg->collectors[i].values);
    }
    free(cfg->collectors);
    for (size_t i = 0; i < cfg->nplugins; i++)
        plugin_free(&cfg->plugins[i]);
    free(cfg->plugins);
    free(cfg->config_file);
    free(cfg->listen_address);
    free(cfg->telemetry_path);
    free(cfg->storage_path);
    free((char *)cfg->paths.procfs);
    free((char *)cfg->paths.sysfs);
    free((char *)cfg->paths.rootfs);
    free((char *)cfg->paths.udev_data);
    free(cfg->kmsg_path);
    free(cfg->events_path);
    cn_strv_free(cfg->events_rules_files);
    cn_strv_free(cfg->plugin_files);
    memset(cfg, 0, sizeof(*cfg));
}

int64_t agent_config_timeout_ms(const struct agent_config *cfg)
{
    if (cfg->timeout_ms > 0)
        return cfg->timeout_ms;
    return cfg->interval_ms < DEFAULT_TIMEOUT_MS ? cfg->interval_ms : DEFAULT_TIMEOUT_MS;
}

static bool collector_on(const struct agent_config *cfg, size_t i)
{
    int e = cfg->collectors[i].enabled;
    if (e >= 0)
        return e == 1;
    return !cfg->disable_defaults && plg_builtin_collectors()[i]->default_enabled;
}

bool agent_config_collector_enabled(const struct agent_config *cfg, size_t i)
{
    return collector_on(cfg, i) && !cfg->collectors[i].isolated;
}

bool agent_config_collector_isolated(const struct agent_config *cfg, size_t i)
{
    return collector_on(cfg, i) && cfg->collectors[i].isolated;
}

static long collector_index(const char *name, size_t len)
{
    const struct plg_collector *const *all = plg_builtin_collectors();
    for (long i = 0; all[i]; i++)
        if (strlen(all[i]->name) == len && strncmp(all[i]->name, name, len) == 0)
            return i;
    return -1;
}

/* The collector whose option_prefix is name[0..len). */
static long option_prefix_index(const char *name, size_t len)
{
    const struct plg_collector *const *all = plg_builtin_collectors();
    for (long i = 0; all[i]; i++)
        if (all[i]->option_prefix && strlen(all[i]->option_prefix) == len &&
            strncmp(all[i]->option_prefix, name, len) == 0)
            return i;
    return -1;
}

static long option_index(const struct plg_collector *c, const char *name)
{
    for (long i = 0; c->options && c->options[i].name; i++)
        if (strcmp(c->options[i].name, name) == 0)
            return i;
    return -1;
}

/* Validates "host:port", ":port", "[v6]:port". */
static int check_listen_address(const char *a, char *err, size_t errcap, const char *where)
{
    const char *colon = strrchr(a, ':');
    uint64_t port;
    if (!colon || cn_parse_u64(colon + 1, &port) || port > 65535 ||
        (a[0] == '[' && colon[-1] != ']')) {
        snprintf(err, errcap,
                 "%sinvalid listen address \"%s\" (want host:port, :port or [v6]:port)", where, a);
        return -EINVAL;
    }
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = false;
    else
        return -EINVAL;
    return 0;
}

static int check_timing(const struct agent_config *cfg, char *err, size_t errcap, const char *where)
{
    if (cfg->interval_ms <= 0) {
        snprintf(err, errcap, "%scollection interval must be positive", where);
        return -EINVAL;
    }
    if (cfg->timeout_ms < 0 || cfg->timeout_ms > cfg->interval_ms) {
        snprintf(err, errcap, "%scollector timeout must be positive and at most the interval",
                 where);
        return -EINVAL;
    }
    if (cfg->block_ms < 1000) {
        snprintf(err, errcap, "%sthe block duration must be at least 1s", where);
        return -EINVAL;
    }
    if (!cfg->storage_path[0]) {
        snprintf(err, errcap, "%sthe storage path must not be empty", where);
        return -EINVAL;
    }
    if (cfg->query_lookback_ms <= 0 || cfg->query_timeout_ms <= 0) {
        snprintf(err, errcap, "%sthe query lookback delta and timeout must be positive", where);
        return -EINVAL;
    }
    if (cfg->query_max_samples <= 0 || cfg->query_max_concurrency <= 0 ||
        cfg->query_max_concurrency > INT32_MAX) {
        snprintf(err, errcap, "%sthe query sample and concurrency limits must be positive", where);
        return -EINVAL;
    }
    return 0;
}

/*
 * A size as Prometheus' --storage.tsdb.retention.size takes it: a whole
 * number and a unit B, KB, MB, GB, TB, PB or EB, powers of 1024; "0" alone
 * means no limit.
 */
static int parse_bytes(const char *s, uint64_t *out)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
    if (!strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    for (int i = 0; i < 7; i++)
        if (!strcmp(end, units[i])) {
            if (i && n > (UINT64_MAX >> (10 * i)))
                return -ERANGE;
            *out = (uint64_t)n << (10 * i);
            return 0;
        }
    return -EINVAL;
}

/* ---- YAML ------------------------------------------------------------------ */

struct yctx {
    yaml_document_t *doc;
    long collector; /* the collector whose section is being read */
    const char *file;
    char *err;
    size_t errcap;
};

static int yerr(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int yerr(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
{
    int off = snprintf(y->err, y->errcap, "%s:%zu:%zu: ", y->file, n->start_mark.line + 1,
                       n->start_mark.column + 1);
    if (off < 0 || (size_t)off >= y->errcap)
        return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(y->err + off, y->errcap - (size_t)off, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static const char *scalar(struct yctx *y, const yaml_node_t *n, const char *what, int *rc)
{
    if (n->type != YAML_SCALAR_NODE) {
        *rc = yerr(y, n, "%s must be a scalar value", what);
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

static int y_string(struct yctx *y, const yaml_node_t *n, const char *what, char **dst)
{
    int rc = 0;
    const char *v = scalar(y, n, what, &rc);
    return v ? set_str(dst, v) : rc;
}

static int y_bool(struct yctx *y, const yaml_node_t *n, const char *what, bool *dst)
{
    int rc = 0;
    const char *v = scalar(y, n, what, &rc);
    if (!v)
        return rc;
    if (parse_bool(v, dst))
        return yerr(y, n, "%s: \"%s\" is not a boolean (true or false)", what, v);
    return 0;
}

static int y_duration(struct yctx *y, const yaml_node_t *n, const char *what, int64_t *dst)
{
    int rc = 0;
    const char *v = scalar(y, n, what, &rc);
    if (!v)
        return rc;
    if (cn_duration_parse(v, dst))
        return yerr(y, n, "%s: \"%s\" is not a duration (e.g. 15s, 1m, 500ms)", what, v);
    return 0;
}

typedef int (*section_fn)(struct yctx *y, struct agent_config *cfg, const char *key,
                          yaml_node_t *val);

/* Calls fn for each key of a mapping; non-mappings and non-scalar keys are
 * errors. */
static int each_key(struct yctx *y, struct agent_config *cfg, yaml_node_t *map, const char *what,
                    section_fn fn)
{
    if (map->type == YAML_SCALAR_NODE && map->data.scalar.length == 0)
        return 0; /* "web:" with nothing under it */
    if (map->type != YAML_MAPPING_NODE)
        return yerr(y, map, "%s must be a mapping", what);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return yerr(y, k, "keys of %s must be scalars", what);
        int rc = fn(y, cfg, (const char *)k->data.scalar.value, v);
        if (rc == -ENOENT)
            return yerr(y, k, "unknown key \"%s\" in %s", (const char *)k->data.scalar.value, what);
        if (rc)
            return rc;
    }
    return 0;
}

static int sec_web(struct yctx *y, struct agent_config *cfg, const char *key, yaml_node_t *v)
{
    if (!strcmp(key, "listen_address")) {
        int rc = y_string(y, v, "web.listen_address", &cfg->listen_address);
        if (!rc && check_listen_address(cfg->listen_address, y->err, y->errcap, ""))
            return yerr(y, v, "invalid listen address \"%s\" (want host:port, :port or [v6]:port)",
                        cfg->listen_address);
        return rc;
    }
    if (!strcmp(key, "telemetry_path")) {
        int rc = y_string(y, v, "web.telemetry_path", &cfg->telemetry_path);
        if (!rc && cfg->telemetry_path[0] != '/')
            return yerr(y, v, "web.telemetry_path must start with '/'");
        return rc;
    }
    if (!strcmp(key, "max_requests")) {
        int rc = 0;
        const char *s = scalar(y, v, "web.max_requests", &rc);
        int64_t n;
        if (!s)
            return rc;
        if (cn_parse_i64(s, &n) || n < 0)
            return yerr(y, v, "web.max_requests: \"%s\" is not a non-negative integer", s);
        cfg->max_requests = (long)n;
        return 0;
    }
    return -ENOENT;
}

static int sec_log(struct yctx *y, struct agent_config *cfg, const char *key, yaml_node_t *v)
{
    int rc = 0;
    if (!strcmp(key, "level")) {
        const char *s = scalar(y, v, "log.level", &rc);
        if (!s)
            return rc;
        if (cn_log_level_parse(s, &cfg->log_level))
            return yerr(y, v, "log.level: \"%s\" is not one of debug, info, warn, error", s);
        return 0;
    }
    if (!strcmp(key, "format")) {
        const char *s = scalar(y, v, "log.format", &rc);
        if (!s)
            return rc;
        if (cn_log_format_parse(s, &cfg->log_format))
            return yerr(y, v, "log.format: \"%s\" is not one of logfmt, json", s);
        return 0;
    }
    return -ENOENT;
}

static int sec_paths(struct yctx *y, struct agent_config *cfg, const char *key, yaml_node_t *v)
{
    if (!strcmp(key, "procfs"))
        return y_string(y, v, "paths.procfs", (char **)&cfg->paths.procfs);
    if (!strcmp(key, "sysfs"))
        return y_string(y, v, "paths.sysfs", (char **)&cfg->paths.sysfs);
    if (!strcmp(key, "rootfs"))
        return y_string(y, v, "paths.rootfs", (char **)&cfg->paths.rootfs);
    if (!strcmp(key, "udev_data"))
        return y_string(y, v, "paths.udev_data", (char **)&cfg->paths.udev_data);
    if (!strcmp(key, "kmsg"))
        return y_string(y, v, "paths.kmsg", &cfg->kmsg_path);
    return -ENOENT;
}

static int sec_collection(struct yctx *y, struct agent_config *cfg, const char *key, yaml_node_t *v)
{
    if (!strcmp(key, "interval"))
        return y_duration(y, v, "collection.interval", &cfg->interval_ms);
    if (!strcmp(key, "timeout"))
        return y_duration(y, v, "collection.timeout", &cfg->timeout_ms);
    return -ENOENT;
}

static int sec_one_collector(struct yctx *y, struct agent_config *cfg, const char *key,
                             yaml_node_t *v)
{
    long ci = y->collector;
    const struct plg_collector *c = plg_builtin_collectors()[ci];
    if (!strcmp(key, "enabled")) {
        bool b = false;
        int rc = y_bool(y, v, "enabled", &b);
        if (!rc)
            cfg->collectors[ci].enabled = b;
        return rc;
    }
    if (!strcmp(key, "isolated"))
        return y_bool(y, v, "isolated", &cfg->collectors[ci].isolated);
    long oi = option_index(c, key);
    if (oi < 0)
        return -ENOENT;
    return y_string(y, v, key, &cfg->collectors[ci].values[oi]);
}

static int sec_collectors(struct yctx *y, struct agent_config *cfg, const char *key, yaml_node_t *v)
{
    if (!strcmp(key, "disable_defaults"))
        return y_bool(y, v, "collectors.disable_defaults", &cfg->disable_defaults);
    long ci = collector_index(key, strlen(key));
    if (ci < 0)
        return -ENOENT;
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.length > 0) {
        bool b = false;
        int rc = y_bool(y, v, key, &b);
        if (!rc)
            cfg->collectors[ci].enabled = b;
        return rc;
    }
    char what[96];
    snprintf(what, sizeof(what), "collectors.%s", key);
    y->collector = ci;
    return each_key(y, cfg, v, what, sec_one_collector);
}

static int sec_storage(struct yctx *y, struct agent_config *cfg, const char *key, yaml_node_t *v)
{
    if (!strcmp(key, "path"))
        return y_string(y, v, "storage.path", &cfg->storage_path);
    if (!strcmp(key, "retention_time"))
        return y_duration(y, v, "storage.retention_time", &cfg->retention_ms);
    if (!strcmp(key, "block_duration"))
        return y_duration(y, v, "storage.block_duration", &cfg->block_ms);
    if (!strcmp(key, "retention_size")) {
        int rc = 0;
        const char *str = scalar(y, v, "storage.retention_size", &rc);
        if (!str)
            return rc;
        if (parse_bytes(str, &cfg->retention_bytes))
            return yerr(y, v, "storage.retention_size: \"%s\" is not a size such as 512MB or 2GB",
                        str);
        return 0;
    }
    return -ENOENT;
}

static int y_count(struct yctx *y, const yaml_node_t *v, const char *what, long *dst)
{
    int rc = 0;
    const char *s = scalar(y, v, what, &rc);
    int64_t n;
    if (!s)
        return rc;
    if (cn_parse_i64(s, &n) || n <= 0)
        return yerr(y, v, "%s: \"%s\" is not a positive integer", what, s);
    *dst = (long)n;
    return 0;
}

static int y_strv(struct yctx *y, const yaml_node_t *v, const char *what, char ***dst)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return yerr(y, v, "%s must be a list of strings", what);
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    char **out = cn_calloc(n + 1, sizeof(*out));
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(y->doc, v->data.sequence.items.start[i]);
        int rc = 0;
        const char *s = scalar(y, it, what, &rc);
        if (!s || !(out[i] = cn_strdup(s))) {
            cn_strv_free(out);
            return s ? -ENOMEM : rc;
        }
    }
    cn_strv_free(*dst);
    *dst = out;
    return 0;
}

static int sec_events(struct yctx *y, struct agent_config *cfg, const char *key, yaml_node_t *v)
{
    if (!strcmp(key, "store_path"))
        return y_string(y, v, "events.store_path", &cfg->events_path);
    if (!strcmp(key, "retention_time"))
        return y_duration(y, v, "events.retention_time", &cfg->events_retention_ms);
    if (!strcmp(key, "retention_count"))
        return y_count(y, v, "events.retention_count", &cfg->events_retention_count);
    if (!strcmp(key, "queue_size"))
        return y_count(y, v, "events.queue_size", &cfg->events_queue_size);
    if (!strcmp(key, "flush_interval"))
        return y_duration(y, v, "events.flush_interval", &cfg->events_flush_ms);
    if (!strcmp(key, "default_rules"))
        return y_bool(y, v, "events.default_rules", &cfg->events_default_rules);
    if (!strcmp(key, "rules_files")) {
        return y_strv(y, v, "events.rules_files", &cfg->events_rules_files);
    }
    return -ENOENT;
}

static int sec_query(struct yctx *y, struct agent_config *cfg, const char *key, yaml_node_t *v)
{
    if (!strcmp(key, "lookback_delta"))
        return y_duration(y, v, "query.lookback_delta", &cfg->query_lookback_ms);
    if (!strcmp(key, "timeout"))
        return y_duration(y, v, "query.timeout", &cfg->query_timeout_ms);
    if (!strcmp(key, "max_samples"))
        return y_count(y, v, "query.max_samples", &cfg->query_max_samples);
    if (!strcmp(key, "max_concurrency"))
        return y_count(y, v, "query.max_concurrency", &cfg->query_max_concurrency);
    return -ENOENT;
}

/* ---- plugins: a sequence of mappings ---- */

static int y_env(struct yctx *y, const yaml_node_t *v, const char *what, char ***dst)
{
    if (v->type != YAML_MAPPING_NODE)
        return yerr(y, v, "%s must be a mapping of variable names to values", what);
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    char **out = cn_calloc(n + 1, sizeof(*out));
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *val = yaml_document_get_node(y->doc, p->value);
        int rc = 0;
        const char *ks = scalar(y, k, what, &rc);
        const char *vs = ks ? scalar(y, val, what, &rc) : NULL;
        if (ks && (!ks[0] || strchr(ks, '=')))
            rc = yerr(y, k, "%s: \"%s\" is not an environment variable name", what, ks);
        if (!rc && vs) {
            size_t len = strlen(ks) + strlen(vs) + 2;
            if ((out[i] = cn_malloc(len)))
                snprintf(out[i], len, "%s=%s", ks, vs);
            else
                rc = -ENOMEM;
        }
        if (rc || !vs) {
            cn_strv_free(out);
            return rc;
        }
    }
    cn_strv_free(*dst);
    *dst = out;
    return 0;
}

static int y_size(struct yctx *y, const yaml_node_t *v, const char *what, uint64_t *dst)
{
    int rc = 0;
    const char *s = scalar(y, v, what, &rc);
    if (!s)
        return rc;
    if (parse_bytes(s, dst))
        return yerr(y, v, "%s: \"%s\" is not a size such as 512MB or 2GB", what, s);
    return 0;
}

static int plugin_key(struct yctx *y, struct agent_plugin *p, const char *key, yaml_node_t *v)
{
    struct plg_plugin_cfg *c = &p->cfg;
    int rc = 0;
    if (!strcmp(key, "name"))
        return y_string(y, v, "plugins.name", &p->name);
    if (!strcmp(key, "command")) {
        const char *s = scalar(y, v, "plugins.command", &rc);
        if (!s)
            return rc;
        if (!s[0])
            return yerr(y, v, "plugins.command must not be empty");
        char *cmd = cn_strdup(s);
        if (!cmd)
            return -ENOMEM;
        free(p->argv[0]);
        p->argv[0] = cmd;
        return 0;
    }
    if (!strcmp(key, "args")) {
        char **args = NULL;
        if ((rc = y_strv(y, v, "plugins.args", &args)))
            return rc;
        size_t n = 0;
        while (args[n])
            n++;
        char **argv = cn_calloc(n + 2, sizeof(*argv));
        if (!argv) {
            cn_strv_free(args);
            return -ENOMEM;
        }
        argv[0] = p->argv[0];
        memcpy(argv + 1, args, n * sizeof(*args));
        free(args);
        for (size_t i = 1; p->argv[i]; i++)
            free(p->argv[i]);
        free(p->argv);
        p->argv = argv;
        return 0;
    }
    if (!strcmp(key, "env"))
        return y_env(y, v, "plugins.env", &p->env);
    if (!strcmp(key, "user"))
        return y_string(y, v, "plugins.user", &p->user);
    if (!strcmp(key, "interval"))
        return y_duration(y, v, "plugins.interval", &c->interval_ms);
    if (!strcmp(key, "timeout"))
        return y_duration(y, v, "plugins.timeout", &c->timeout_ms);
    if (!strcmp(key, "start_timeout"))
        return y_duration(y, v, "plugins.start_timeout", &c->start_timeout_ms);
    if (!strcmp(key, "restart_backoff"))
        return y_duration(y, v, "plugins.restart_backoff", &c->restart_backoff_ms);
    if (!strcmp(key, "restart_backoff_max"))
        return y_duration(y, v, "plugins.restart_backoff_max", &c->restart_backoff_max_ms);
    if (!strcmp(key, "memory_limit"))
        return y_size(y, v, "plugins.memory_limit", &c->memory_limit);
    if (!strcmp(key, "max_message_size")) {
        uint64_t n = 0;
        if ((rc = y_size(y, v, "plugins.max_message_size", &n)))
            return rc;
        if (n > INT32_MAX)
            return yerr(y, v, "plugins.max_message_size must be below 2GB");
        c->max_message_bytes = (long)n;
        return 0;
    }
    if (!strcmp(key, "cpu_limit")) {
        int64_t ms = 0;
        if ((rc = y_duration(y, v, "plugins.cpu_limit", &ms)))
            return rc;
        if (ms > 0 && ms < 1000)
            return yerr(y, v, "plugins.cpu_limit is whole seconds of CPU time, at least 1s");
        c->cpu_limit = (uint64_t)ms / 1000;
        return 0;
    }
    if (!strcmp(key, "max_series"))
        return y_count(y, v, "plugins.max_series", &c->max_series);
    if (!strcmp(key, "max_failures")) {
        long n = 0;
        if ((rc = y_count(y, v, "plugins.max_failures", &n)))
            return rc;
        c->max_failures = n > 1000 ? 1000 : (int)n;
        return 0;
    }
    return -ENOENT;
}

/* Parses one `plugins:` entry into p (zeroed by the caller). */
static int plugin_entry(struct yctx *y, struct agent_config *cfg, yaml_node_t *m,
                        struct agent_plugin *p)
{
    if (m->type != YAML_MAPPING_NODE)
        return yerr(y, m, "each entry of plugins must be a mapping (name, command, ...)");
    /* argv[0] is "" until `command` sets it, so that `args` may come first. */
    p->argv = cn_calloc(2, sizeof(*p->argv));
    p->env = cn_calloc(1, sizeof(*p->env));
    if (!p->argv || !p->env || !(p->argv[0] = cn_strdup("")))
        return -ENOMEM;
    for (yaml_node_pair_t *kv = m->data.mapping.pairs.start; kv < m->data.mapping.pairs.top; kv++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, kv->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, kv->value);
        if (k->type != YAML_SCALAR_NODE)
            return yerr(y, k, "keys of a plugins entry must be scalars");
        int rc = plugin_key(y, p, (const char *)k->data.scalar.value, v);
        if (rc == -ENOENT)
            return yerr(y, k, "unknown key \"%s\" in a plugins entry",
                        (const char *)k->data.scalar.value);
        if (rc)
            return rc;
    }
    if (!p->name)
        return yerr(y, m, "a plugins entry needs a name");
    if (!plg_plugin_name_valid(p->name))
        return yerr(y, m, "plugin name \"%s\" is not valid ([a-zA-Z_][a-zA-Z0-9_-]*, at most 64)",
                    p->name);
    if (collector_index(p->name, strlen(p->name)) >= 0)
        return yerr(y, m,
                    "plugin name \"%s\" is a built-in collector's; to run that collector in its "
                    "own process set collectors.%s.isolated",
                    p->name, p->name);
    for (size_t i = 0; i < cfg->nplugins; i++)
        if (!strcmp(cfg->plugins[i].name, p->name))
            return yerr(y, m, "plugin name \"%s\" is used twice", p->name);
    if (!p->argv[0][0])
        return yerr(y, m, "plugin \"%s\" needs a command", p->name);
    if (p->cfg.timeout_ms && p->cfg.interval_ms && p->cfg.timeout_ms > p->cfg.interval_ms)
        return yerr(y, m, "plugin \"%s\": the timeout must be at most the interval", p->name);
    return 0;
}

static int sec_plugins(struct yctx *y, struct agent_config *cfg, yaml_node_t *v)
{
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)
        return 0;
    if (v->type != YAML_SEQUENCE_NODE)
        return yerr(y, v, "plugins must be a list of plugin entries");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        struct agent_plugin *grown = cn_realloc(cfg->plugins, (cfg->nplugins + 1) * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        cfg->plugins = grown;
        struct agent_plugin p = {0};
        int rc = plugin_entry(y, cfg, yaml_document_get_node(y->doc, *it), &p);
        if (rc) {
            plugin_free(&p);
            return rc;
        }
        p.cfg.name = p.name;
        p.cfg.user = p.user;
        p.cfg.argv = (const char *const *)p.argv;
        p.cfg.env = (const char *const *)p.env;
        cfg->plugins[cfg->nplugins++] = p;
    }
    return 0;
}

static int sec_top(struct yctx *y, struct agent_config *cfg, const char *key, yaml_node_t *v)
{
    if (!strcmp(key, "plugins"))
        return sec_plugins(y, cfg, v);
    if (!strcmp(key, "plugin_files"))
        return y_strv(y, v, "plugin_files", &cfg->plugin_files);
    if (!strcmp(key, "web"))
        return each_key(y, cfg, v, "web", sec_web);
    if (!strcmp(key, "log"))
        return each_key(y, cfg, v, "log", sec_log);
    if (!strcmp(key, "paths"))
        return each_key(y, cfg, v, "paths", sec_paths);
    if (!strcmp(key, "collection"))
        return each_key(y, cfg, v, "collection", sec_collection);
    if (!strcmp(key, "collectors"))
        return each_key(y, cfg, v, "collectors", sec_collectors);
    if (!strcmp(key, "storage"))
        return each_key(y, cfg, v, "storage", sec_storage);
    if (!strcmp(key, "query"))
        return each_key(y, cfg, v, "query", sec_query);
    if (!strcmp(key, "events"))
        return each_key(y, cfg, v, "events", sec_events);
    return -ENOENT;
}

/* The root of the main file: a mapping of the sections above. */
static int main_root(struct yctx *y, struct agent_config *cfg, yaml_node_t *root)
{
    return each_key(y, cfg, root, "the configuration file", sec_top);
}

/* Parses text as one YAML document and hands its root (if any: an empty
 * document has none) to root_fn. Errors name file, line and column. */
static int parse_yaml(struct agent_config *cfg, const char *file, const char *text, size_t len,
                      int (*root_fn)(struct yctx *y, struct agent_config *cfg, yaml_node_t *root),
                      char *err, size_t errcap)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_mark_t m = parser.problem_mark;
        snprintf(err, errcap, "%s:%zu:%zu: %s%s%s", file, m.line + 1, m.column + 1,
                 parser.problem ? parser.problem : "invalid YAML", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return -EINVAL;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        struct yctx y = {.doc = &doc, .file = file, .err = err, .errcap = errcap};
        rc = root_fn(&y, cfg, root);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int agent_config_apply_yaml(struct agent_config *cfg, const char *file, const char *text,
                            size_t len, char *err, size_t errcap)
{
    int rc = parse_yaml(cfg, file, text, len, main_root, err, errcap);
    if (!rc && check_timing(cfg, err, errcap, "")) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", err);
        snprintf(err, errcap, "%s:1:1: %s", file, msg);
        rc = -EINVAL;
    }
    return rc;
}

/* ---- plugin files ------------------------------------------------------------ */

static bool has_wildcard(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

int agent_glob_each(char *const *patterns, int (*fn)(const char *path, void *ctx), void *ctx,
                    const char *what, char *err, size_t errcap)
{
    int rc = 0;
    for (char *const *p = patterns; !rc && p && *p; p++) {
        glob_t g;
        int grc = glob(*p, 0, NULL, &g);
        if (grc == GLOB_NOMATCH) {
            globfree(&g);
            if (has_wildcard(*p))
                continue;
            snprintf(err, errcap, "%s: cannot read %s: No such file or directory", *p, what);
            return -ENOENT;
        }
        if (grc) {
            globfree(&g);
            snprintf(err, errcap, "%s: cannot expand the pattern", *p);
            return grc == GLOB_NOSPACE ? -ENOMEM : -EIO;
        }
        for (size_t i = 0; !rc && i < g.gl_pathc; i++)
            rc = fn(g.gl_pathv[i], ctx);
        globfree(&g);
    }
    return rc;
}

static int sec_plugin_file(struct yctx *y, struct agent_config *cfg, const char *key,
                           yaml_node_t *v)
{
    if (!strcmp(key, "plugins"))
        return sec_plugins(y, cfg, v);
    return -ENOENT;
}

/* The root of a plugin file: `plugins:` and nothing else. */
static int plugin_file_root(struct yctx *y, struct agent_config *cfg, yaml_node_t *root)
{
    if (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)
        return 0; /* "---" and nothing else */
    if (root->type != YAML_MAPPING_NODE)
        return yerr(y, root, "a plugin file must be a mapping with one key, plugins:");
    return each_key(y, cfg, root, "a plugin file (only plugins: is allowed)", sec_plugin_file);
}

struct plugin_files_ctx {
    struct agent_config *cfg;
    char *err;
    size_t errcap;
};

/* agent_glob_each's callback: appends one plugin file's entries. */
static int load_plugin_file(const char *path, void *ctx)
{
    struct plugin_files_ctx *c = ctx;
    struct cn_buf text;
    cn_buf_init(&text);
    int rc = cn_read_file_buf(path, &text, 16 << 20);
    if (rc)
        snprintf(c->err, c->errcap, "%s: cannot read plugin file: %s", path, strerror(-rc));
    else
        rc = parse_yaml(c->cfg, path, text.data ? text.data : "", text.len, plugin_file_root,
                        c->err, c->errcap);
    cn_buf_free(&text);
    return rc;
}

/* Appends the entries of the files cfg->plugin_files matches; -EINVAL or
 * -ENOMEM with the message in err. */
static int load_plugin_files(struct agent_config *cfg, char *err, size_t errcap)
{
    struct plugin_files_ctx c = {.cfg = cfg, .err = err, .errcap = errcap};
    int rc = agent_glob_each(cfg->plugin_files, load_plugin_file, &c, "plugin file", err, errcap);
    return rc && rc != -ENOMEM ? -EINVAL : rc;
}

/* ---- flags ----------------------------------------------------------------- */

enum flag_kind { F_STR, F_BOOL, F_DURATION, F_LONG, F_LEVEL, F_FORMAT, F_BYTES };

struct flag {
    const char *name;
    enum flag_kind kind;
    size_t offset;
    const char *help;
};

#define OFF(field) offsetof(struct agent_config, field)

static const struct flag flags[] = {
    {"config.file", F_STR, OFF(config_file), "YAML configuration file."},
    {"config.check", F_BOOL, OFF(config_check), "Validate the configuration and exit."},
    {"web.listen-address", F_STR, OFF(listen_address),
     "Address to listen on for /metrics and the API (default \":9100\")."},
    {"web.telemetry-path", F_STR, OFF(telemetry_path),
     "Path under which to expose metrics (default /metrics)."},
    {"web.max-requests", F_LONG, OFF(max_requests),
     "Maximum number of parallel scrape requests; 0 disables the limit (default 40)."},
    {"log.level", F_LEVEL, OFF(log_level),
     "Only log messages at or above: debug, info, warn, error."},
    {"log.format", F_FORMAT, OFF(log_format), "Log line format: logfmt or json."},
    {"path.procfs", F_STR, OFF(paths.procfs), "procfs mountpoint (default /proc)."},
    {"path.sysfs", F_STR, OFF(paths.sysfs), "sysfs mountpoint (default /sys)."},
    {"path.rootfs", F_STR, OFF(paths.rootfs), "rootfs mountpoint (default /)."},
    {"path.udev.data", F_STR, OFF(paths.udev_data), "udev data path (default /run/udev/data)."},
    {"path.kmsg", F_STR, OFF(kmsg_path),
     "Kernel log to follow for events: /dev/kmsg or a file of its records; \"\" disables "
     "(default /dev/kmsg)."},
    {"collector.interval", F_DURATION, OFF(interval_ms),
     "How often the collectors run (default 15s)."},
    {"collector.timeout", F_DURATION, OFF(timeout_ms),
     "Deadline of the collectors in a cycle, at most the interval (default 10s or the "
     "interval if shorter)."},
    {"collector.disable-defaults", F_BOOL, OFF(disable_defaults),
     "Disable all collectors that are not explicitly enabled."},
    {"storage.tsdb.path", F_STR, OFF(storage_path),
     "Directory of the embedded TSDB (default \"data/\")."},
    {"storage.tsdb.retention.time", F_DURATION, OFF(retention_ms),
     "How long to keep samples; 0 keeps them regardless of age (default 15d)."},
    {"storage.tsdb.retention.size", F_BYTES, OFF(retention_bytes),
     "Maximum bytes of blocks and WAL, units B KB MB GB TB PB EB; 0 = no limit (default 0)."},
    {"storage.tsdb.min-block-duration", F_DURATION, OFF(block_ms),
     "Length of the blocks cut from the head; larger ones come from compaction (default 2h)."},
    {"events.store.path", F_STR, OFF(events_path),
     "Event store database (default events.db in the TSDB directory)."},
    {"events.retention.time", F_DURATION, OFF(events_retention_ms),
     "How long to keep events; 0 keeps them regardless of age (default 30d)."},
    {"events.retention.count", F_LONG, OFF(events_retention_count),
     "How many events to keep at most, oldest go first; 0 = no limit (default 1000000)."},
    {"query.lookback-delta", F_DURATION, OFF(query_lookback_ms),
     "How far back a query looks for a series' latest sample (default 5m)."},
    {"query.timeout", F_DURATION, OFF(query_timeout_ms),
     "Maximum time a query may take before it is aborted (default 2m)."},
    {"query.max-samples", F_LONG, OFF(query_max_samples),
     "Maximum number of samples a query may hold in memory at once (default 50000000)."},
    {"query.max-concurrency", F_LONG, OFF(query_max_concurrency),
     "Maximum number of queries evaluated at once; more wait their turn (default 20)."},
    {"help", F_BOOL, OFF(show_help), "Show this help."},
    {"version", F_BOOL, OFF(show_version), "Show the version."},
};

void agent_config_usage(FILE *out)
{
    fprintf(out, "usage: cairn agent [<flags>]\n\nFlags:\n");
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        fprintf(out, "  --%-28s %s\n", flags[i].name, flags[i].help);
    fprintf(out, "\nCollectors (--collector.NAME enables, --no-collector.NAME disables):\n");
    for (const struct plg_collector *const *c = plg_builtin_collectors(); *c; c++) {
        fprintf(out, "  --collector.%-18s %s by default\n", (*c)->name,
                (*c)->default_enabled ? "enabled" : "disabled");
        for (const struct plg_option *o = (*c)->options; o && o->name; o++)
            fprintf(out, "      --collector.%s.%s  %s%s%s%s\n",
                    (*c)->option_prefix ? (*c)->option_prefix : (*c)->name, o->name,
                    o->help ? o->help : "", o->def ? " (default \"" : "", o->def ? o->def : "",
                    o->def ? "\")" : "");
    }
}

static int apply_flag(struct agent_config *cfg, const struct flag *f, const char *val, char *err,
                      size_t errcap)
{
    char *base = (char *)cfg + f->offset;
    switch (f->kind) {
    case F_STR:
        if (!strcmp(f->name, "web.listen-address") &&
            check_listen_address(val, err, errcap, "--web.listen-address: "))
            return -EINVAL;
        return set_str((char **)base, val);
    case F_BOOL:
        if (parse_bool(val, (bool *)base))
            goto bad;
        return 0;
    case F_DURATION:
        if (cn_duration_parse(val, (int64_t *)base))
            goto bad;
        return 0;
    case F_LONG: {
        int64_t n;
        if (cn_parse_i64(val, &n) || n < 0)
            goto bad;
        *(long *)base = (long)n;
        return 0;
    }
    case F_LEVEL:
        if (cn_log_level_parse(val, (enum cn_log_level *)base))
            goto bad;
        return 0;
    case F_FORMAT:
        if (cn_log_format_parse(val, (enum cn_log_format *)base))
            goto bad;
        return 0;
    case F_BYTES:
        if (parse_bytes(val, (uint64_t *)base))
            goto bad;
        return 0;
    }
bad:
    snprintf(err, errcap, "invalid value \"%s\" for flag --%s", val, f->name);
    return -EINVAL;
}

/*
 * Applies argv[1..] to cfg. When only_config is set, only --config.file and
 * --config.check are applied (the first pass, which finds the YAML file).
 */
static int apply_flags(struct agent_config *cfg, int argc, char **argv, bool only_config, char *err,
                       size_t errcap)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errcap, "unexpected argument \"%s\"", arg);
            return -EINVAL;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *val = eq ? eq + 1 : NULL;

        /* The fixed flags. */
        const struct flag *f = NULL;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (strlen(flags[k].name) == nlen && !strncmp(flags[k].name, name, nlen))
                f = &flags[k];
        if (f) {
            if (!val) {
                if (f->kind == F_BOOL) {
                    val = "true";
                } else if (i + 1 < argc) {
                    val = argv[++i];
                } else {
                    snprintf(err, errcap, "flag --%s needs a value", f->name);
                    return -EINVAL;
                }
            }
            bool is_config = !strcmp(f->name, "config.file") || !strcmp(f->name, "config.check") ||
                             !strcmp(f->name, "help") || !strcmp(f->name, "version");
            if (only_config != is_config)
                continue;
            int rc = apply_flag(cfg, f, val, err, errcap);
            if (rc)
                return rc;
            continue;
        }

        /* --collector.NAME, --no-collector.NAME, --collector.NAME.OPTION=V */
        bool neg = !strncmp(name, "no-collector.", 13);
        if (neg || !strncmp(name, "collector.", 10)) {
            const char *cn = name + (neg ? 13 : 10);
            size_t cnlen = nlen - (size_t)(cn - name);
            const char *dot = memchr(cn, '.', cnlen);
            size_t cname_len = dot ? (size_t)(dot - cn) : cnlen;
            long ci = collector_index(cn, cname_len);
            if (ci < 0 && dot)
                ci = option_prefix_index(cn, cname_len);
            if (ci < 0) {
                snprintf(err, errcap, "unknown long flag '--%.*s'", (int)nlen, name);
                return -EINVAL;
            }
            if (!dot) {
                bool on = true;
                if (val && parse_bool(val, &on)) {
                    snprintf(err, errcap, "invalid value \"%s\" for flag --%.*s", val, (int)nlen,
                             name);
                    return -EINVAL;
                }
                if (!only_config)
                    cfg->collectors[ci].enabled = neg ? !on : on;
                continue;
            }
            char opt[128];
            snprintf(opt, sizeof(opt), "%.*s", (int)(cnlen - cname_len - 1), dot + 1);
            const struct plg_collector *c = plg_builtin_collectors()[ci];
            long oi = option_index(c, opt);
            bool boolean =
                oi >= 0 && c->options[oi].def &&
                (!strcmp(c->options[oi].def, "true") || !strcmp(c->options[oi].def, "false"));
            if (oi < 0 || (neg && !boolean) || (neg && val)) {
                snprintf(err, errcap, "unknown long flag '--%.*s'", (int)nlen, name);
                return -EINVAL;
            }
            if (!val && boolean) {
                val = neg ? "false" : "true";
            } else if (!val) {
                if (i + 1 >= argc) {
                    snprintf(err, errcap, "flag --%.*s needs a value", (int)nlen, name);
                    return -EINVAL;
                }
                val = argv[++i];
            }
            if (!only_config && set_str(&cfg->collectors[ci].values[oi], val))
                return -ENOMEM;
            continue;
        }
        snprintf(err, errcap, "unknown long flag '--%.*s'", (int)nlen, name);
        return -EINVAL;
    }
    return 0;
}

int agent_config_load(struct agent_config *cfg, int argc, char **argv, char *err, size_t errcap)
{
    int rc = config_defaults(cfg);
    if (rc)
        return rc;
    rc = apply_flags(cfg, argc, argv, true, err, errcap);
    if (rc || cfg->show_help || cfg->show_version)
        return rc;
    if (cfg->config_file) {
        struct cn_buf text;
        cn_buf_init(&text);
        rc = cn_read_file_buf(cfg->config_file, &text, 16 << 20);
        if (rc) {
            snprintf(err, errcap, "%s: cannot read configuration file: %s", cfg->config_file,
                     strerror(-rc));
            cn_buf_free(&text);
            return -EINVAL;
        }
        rc = agent_config_apply_yaml(cfg, cfg->config_file, text.data ? text.data : "", text.len,
                                     err, errcap);
        cn_buf_free(&text);
        if (rc)
            return rc;
    }
    rc = load_plugin_files(cfg, err, errcap);
    if (rc)
        return rc;
    rc = apply_flags(cfg, argc, argv, false, err, errcap);
    if (rc)
        return rc;
    if (cfg->telemetry_path[0] != '/') {
        snprintf(err, errcap, "--web.telemetry-path must start with '/'");
        return -EINVAL;
    }
    return check_timing(cfg, err, errcap, "");
}

/* ---- the plugin list ------------------------------------------------------- */

void agent_plugin_list_free(struct agent_plugin_list *l)
{
    for (size_t i = 0; i < l->nisolated; i++)
        plugin_free(&l->isolated[i]);
    free(l->isolated);
    free(l->cfgs);
    memset(l, 0, sizeof(*l));
}

/* Appends "--NAME=VALUE" to argv at *n. */
static int push_flag(char **argv, size_t *n, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 4;
    char *s = cn_malloc(len);
    if (!s)
        return -ENOMEM;
    snprintf(s, len, "--%s=%s", name, value);
    argv[(*n)++] = s;
    return 0;
}

/* The plugin entry that runs built-in collector i in its own process. */
static int isolated_entry(const struct agent_config *cfg, size_t i, const char *self_exe,
                          struct agent_plugin *p)
{
    const struct plg_collector *c = plg_builtin_collectors()[i];
    size_t nopt = count_options(c);
    /* self plugin serve NAME, 4 paths, the options, NULL */
    p->argv = cn_calloc(4 + 4 + nopt + 1, sizeof(*p->argv));
    p->env = cn_calloc(1, sizeof(*p->env));
    p->name = cn_strdup(c->name);
    if (!p->argv || !p->env || !p->name)
        return -ENOMEM;
    size_t n = 0;
    const char *fixed[] = {self_exe, "plugin", "serve", c->name};
    for (; n < 4; n++)
        if (!(p->argv[n] = cn_strdup(fixed[n])))
            return -ENOMEM;
    if (push_flag(p->argv, &n, "path.procfs", cfg->paths.procfs) ||
        push_flag(p->argv, &n, "path.sysfs", cfg->paths.sysfs) ||
        push_flag(p->argv, &n, "path.rootfs", cfg->paths.rootfs) ||
        push_flag(p->argv, &n, "path.udev.data", cfg->paths.udev_data))
        return -ENOMEM;
    const char *prefix = c->option_prefix ? c->option_prefix : c->name;
    for (size_t j = 0; j < nopt; j++) {
        const char *v = cfg->collectors[i].values[j];
        if (!v)
            continue;
        char name[160];
        snprintf(name, sizeof(name), "collector.%s.%s", prefix, c->options[j].name);
        if (push_flag(p->argv, &n, name, v))
            return -ENOMEM;
    }
    p->cfg.name = p->name;
    p->cfg.argv = (const char *const *)p->argv;
    p->cfg.env = (const char *const *)p->env;
    p->cfg.interval_ms = cfg->interval_ms;
    p->cfg.timeout_ms = agent_config_timeout_ms(cfg);
    return 0;
}

int agent_config_plugin_list(const struct agent_config *cfg, const char *self_exe,
                             struct agent_plugin_list *out)
{
    memset(out, 0, sizeof(*out));
    size_t niso = 0;
    for (size_t i = 0; i < cfg->ncollectors; i++)
        niso += agent_config_collector_isolated(cfg, i);
    out->cfgs = cn_calloc(cfg->nplugins + niso + 1, sizeof(*out->cfgs));
    out->isolated = cn_calloc(niso + 1, sizeof(*out->isolated));
    if (!out->cfgs || !out->isolated) {
        agent_plugin_list_free(out);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->nplugins; i++)
        out->cfgs[out->n++] = cfg->plugins[i].cfg;
    for (size_t i = 0; i < cfg->ncollectors; i++) {
        if (!agent_config_collector_isolated(cfg, i))
            continue;
        struct agent_plugin *p = &out->isolated[out->nisolated++];
        if (isolated_entry(cfg, i, self_exe, p)) {
            agent_plugin_list_free(out);
            return -ENOMEM;
        }
        out->cfgs[out->n++] = p->cfg;
    }
    return 0;
}
