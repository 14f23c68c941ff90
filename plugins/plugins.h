/*
 * plugins: the collector interface, the built-in collectors (collectors/),
 * and the helpers they share.
 *
 * A collector is a `struct plg_collector`: a name, whether it is on by
 * default, its options, and three functions. The agent calls init once with
 * the paths and option values, collect once per cycle with a builder to fill,
 * and destroy at shutdown or reload. Variation between collectors lives in
 * these descriptors, which are const; a collector's mutable state lives in
 * the `void *` its init returns. The gRPC plugin host adapts external
 * plugins into the same interface.
 *
 * Built-in collectors are registered by file name: plugins/collectors/foo.c
 * defines `const struct plg_collector plg_collector_foo` with .name = "foo";
 * the build generates the registry from the files present.
 *
 * Threads: each collector instance is driven by one thread at a time; init,
 * collect and destroy of one instance never run concurrently. Different
 * collectors run concurrently, so a collector must not touch another's state.
 */
#ifndef CAIRN_PLUGINS_H
#define CAIRN_PLUGINS_H

#include <stdbool.h>
#include <stddef.h>

#include "exporter/exporter.h"

/* A collector option, set by --collector.<collector>.<name>=VALUE or in the
 * YAML `collectors.<collector>.<name>`. `def` is the default (may be NULL:
 * unset). Names use node_exporter's spelling ("mount-points-exclude").
 * An option whose default is "true" or "false" is a boolean flag:
 * --collector.<collector>.<name> alone sets it, --no-collector.<...> clears
 * it; read it with plg_config_bool(). */
struct plg_option {
    const char *name;
    const char *def;
    const char *help;
};

/* Where collectors read from; node_exporter's --path.* flags. */
struct plg_paths {
    const char *procfs;    /* default /proc */
    const char *sysfs;     /* default /sys */
    const char *rootfs;    /* default / */
    const char *udev_data; /* default /run/udev/data */
};

/* What init receives: the paths and this collector's option values. */
struct plg_config {
    const struct plg_paths *paths;
    const struct plg_collector *collector;
    /* values[i] belongs to collector->options[i]; NULL when unset */
    const char *const *values;
    /* Where init explains a failure (plg_config_fail); may be NULL. */
    char *errbuf;
    size_t errcap;
};

/* Reads boolean option `name` as Go's strconv.ParseBool does (1 t T true
 * TRUE True / 0 f F false FALSE False). 0, or -EINVAL recorded with
 * plg_config_fail. */
int plg_config_bool(const struct plg_config *cfg, const char *name, bool *out);

/* Records why init failed (printf-style, e.g. "option device-exclude: bad
 * regular expression ...") and returns err (negative). */
int plg_config_fail(const struct plg_config *cfg, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns the value of option `name` (configured or default), NULL if the
 * option is unset or unknown. Borrowed: valid during init only. */
const char *plg_config_get(const struct plg_config *cfg, const char *name);

/*
 * What collect receives. `b` is the builder for this cycle; `paths` are the
 * same as at init. A collector reports failure by returning plg_fail(...),
 * which records a message for the log and returns the error code; series
 * added before a failure are still exported, and
 * node_scrape_collector_success is 0 for the cycle.
 */
struct plg_collect {
    struct exp_builder *b;
    const struct plg_paths *paths;
    char errmsg[256];
    bool nodata; /* the failure means "this host has no such device" */
};

/* Records a failure message (printf-style) and returns err (negative). */
int plg_fail(struct plg_collect *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As plg_fail, for "nothing to collect on this host" (no /proc/mdstat, no
 * nvme class): success is 0 as node_exporter reports it, logged at debug. */
int plg_nodata(struct plg_collect *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct plg_collector {
    const char *name;
    bool default_enabled;
    const struct plg_option *options; /* terminated by {NULL}; may be NULL */
    /* Sets *state (may stay NULL). Returns 0 or a negative errno; a failing
     * init is reported like a failing collect and retried on reload. */
    int (*init)(const struct plg_config *cfg, void **state);
    /* Fills c->b. Returns 0, or the result of plg_fail()/plg_nodata(). */
    int (*collect)(void *state, struct plg_collect *c);
    /* Frees state (may be NULL). May be NULL when there is no state. */
    void (*destroy)(void *state);
    /* The NAME in --collector.NAME.OPTION when it is not the collector's
     * name (node_exporter's powersupplyclass takes
     * --collector.powersupply.*). NULL: the collector's name. */
    const char *option_prefix;
};

/* The built-in collectors, NULL-terminated, sorted by name. */
const struct plg_collector *const *plg_builtin_collectors(void);
/* Looks a built-in collector up by name; NULL if unknown. */
const struct plg_collector *plg_find_collector(const char *name);

/* ---- helpers shared by collectors --------------------------------------- */

/* Builds "<root>/<rel>" into out (PATH_MAX-sized); returns out or NULL. */
char *plg_proc(char *out, const struct plg_paths *p, const char *rel);
char *plg_sys(char *out, const struct plg_paths *p, const char *rel);
char *plg_root(char *out, const struct plg_paths *p, const char *rel);

/* Reads a sysfs attribute file (one value, newline stripped) into buf.
 * Returns length or negative errno. */
long plg_read_attr(const char *path, char *buf, size_t cap);
/* Reads an attribute file as a number: 0 or negative errno. */
int plg_read_u64(const char *path, uint64_t *out);
int plg_read_double(const char *path, double *out);

/*
 * A compiled include/exclude filter, as node_exporter's device filters: an
 * item is ignored when `exclude` matches it, or when `include` is set and
 * does not match it. Patterns are PCRE2 and match anywhere in the item, as
 * Go's regexp.MatchString does; anchor them with ^ and $ as node_exporter's
 * defaults do.
 */
struct plg_filter;
/* Either pattern may be NULL or "". On a bad pattern returns -EINVAL and
 * writes the reason into err (size errcap). */
int plg_filter_create(const char *include, const char *exclude, struct plg_filter **out, char *err,
                      size_t errcap);
bool plg_filter_ignored(const struct plg_filter *f, const char *item);
void plg_filter_destroy(struct plg_filter *f);

/* Iterates directory entries (skipping "." and ".."), sorted by name. Returns
 * the number of names (caller frees with plg_dir_free) or a negative errno. */
int plg_dir_list(const char *path, char ***names);
void plg_dir_free(char **names, int n);

#endif
