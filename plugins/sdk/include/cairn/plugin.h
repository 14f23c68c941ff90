/*
 * cairn/plugin.h: the SDK for writing cairn agent plugins in C.
 *
 * A plugin is an executable the agent starts and collects from over gRPC
 * (service cairn.plugin.v1.Plugin, see docs/plugins.md). With this library a
 * plugin is one collect callback and one call from main:
 *
 *     static int collect(struct cairn_collect *c, void *user)
 *     {
 *         cairn_gauge(c, "room_temperature_celsius", "Temperature.", 21.5,
 *                     "room", "lab", NULL);
 *         return 0;
 *     }
 *
 *     int main(void)
 *     {
 *         struct cairn_plugin p = {.name = "room", .version = "1.0", .collect = collect};
 *         return cairn_plugin_serve(&p);
 *     }
 *
 * cairn_plugin_serve does the rest: it checks that the agent started the
 * process (the magic cookie), listens on a Unix socket in the directory the
 * agent gave, prints the handshake line, answers Info, Collect and
 * grpc.health.v1.Health/Check, and returns when the agent sends SIGTERM or
 * SIGINT, or goes away.
 *
 * Threads: collect runs on one thread at a time, never concurrently with
 * itself; health checks are answered meanwhile. The builder functions are
 * for use inside collect, on the collect thread.
 *
 * Link with `pkg-config --cflags --libs cairn-plugin`.
 */
#ifndef CAIRN_PLUGIN_H
#define CAIRN_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_PLUGIN_API __attribute__((visibility("default")))

/* The handshake, as HashiCorp's go-plugin defines it. The agent sets
 * CAIRN_PLUGIN_COOKIE_KEY=CAIRN_PLUGIN_COOKIE_VALUE and
 * PLUGIN_UNIX_SOCKET_DIR in the plugin's environment; the plugin prints
 * "CORE|APP|unix|SOCKET-PATH|grpc\n" on stdout once it listens. */
#define CAIRN_PLUGIN_CORE_VERSION 1
#define CAIRN_PLUGIN_PROTOCOL_VERSION 1
#define CAIRN_PLUGIN_COOKIE_KEY "CAIRN_PLUGIN_MAGIC_COOKIE"
#define CAIRN_PLUGIN_COOKIE_VALUE "6b1f3c0e9a2d4f58b7c1e0d3a5f2b8c4"
#define CAIRN_PLUGIN_SOCKET_DIR_ENV "PLUGIN_UNIX_SOCKET_DIR"
#define CAIRN_PLUGIN_PROTOCOL_VERSIONS_ENV "PLUGIN_PROTOCOL_VERSIONS"

/* Metric types, numbered as Prometheus' client model numbers them. */
enum cairn_metric_type {
    CAIRN_COUNTER = 0,
    CAIRN_GAUGE = 1,
    CAIRN_SUMMARY = 2,
    CAIRN_UNTYPED = 3,
    CAIRN_HISTOGRAM = 4,
};

/* One Collect call: the families being built, the tick and the deadline. */
struct cairn_collect;
/* A metric family inside a collect; valid until collect returns. */
struct cairn_family;

struct cairn_family_desc {
    const char *name;
    const char *help;
    enum cairn_metric_type type;
};

struct cairn_plugin {
    const char *name;    /* required */
    const char *version; /* the plugin's own version; may be NULL */
    /* The interval the plugin suggests, in ms (0: none; the agent's
     * configuration takes precedence). */
    int64_t interval_ms;
    /* Fills c; returns 0, or the result of cairn_collect_fail(). Series added
     * before a failure are discarded: the call fails as a whole. */
    int (*collect)(struct cairn_collect *c, void *user);
    void *user;
    /* The families the plugin offers, for Info, terminated by {NULL}. May be
     * NULL: Info then lists the families of the latest collection. */
    const struct cairn_family_desc *families;
};

/*
 * Serves p until the agent stops it. Returns the exit status for main: 0
 * after a clean stop; 1 when the process was not started by the agent (a
 * message on stderr says so), the socket cannot be set up, or p is invalid.
 * Borrows p for the call. Call once per process.
 */
CAIRN_PLUGIN_API int cairn_plugin_serve(const struct cairn_plugin *p);

/* ---- building the result of a collect ---------------------------------- */

/*
 * Returns the family `name`, creating it with help (may be NULL) and type on
 * the first call; later calls with the same name return the same family.
 * Strings are copied. Returns NULL on allocation failure. Names are not
 * checked here; the agent validates them (docs/plugins.md).
 */
CAIRN_PLUGIN_API struct cairn_family *cairn_family(struct cairn_collect *c, const char *name,
                                                   const char *help, enum cairn_metric_type type);

/*
 * Adds a series with value to a counter, gauge or untyped family. The labels
 * follow as name, value string pairs ending with NULL:
 *     cairn_add(f, 3, "state", "running", NULL);
 * Returns 0, -EINVAL (f NULL, or a histogram or summary family) or -ENOMEM.
 */
CAIRN_PLUGIN_API int cairn_add(struct cairn_family *f, double value, ...) __attribute__((sentinel));
/* The same with label arrays of n entries. */
CAIRN_PLUGIN_API int cairn_addv(struct cairn_family *f, double value, size_t n,
                                const char *const *names, const char *const *values);

/* Family and one series in one call. */
CAIRN_PLUGIN_API int cairn_gauge(struct cairn_collect *c, const char *name, const char *help,
                                 double value, ...) __attribute__((sentinel));
CAIRN_PLUGIN_API int cairn_counter(struct cairn_collect *c, const char *name, const char *help,
                                   double value, ...) __attribute__((sentinel));

/*
 * Adds a histogram series to a histogram family: n buckets with ascending
 * upper bounds (the +Inf bucket may be left out: count is its value) and
 * cumulative counts, the total count and sum, then labels as in cairn_add.
 * Arrays are copied. Returns 0, -EINVAL or -ENOMEM.
 */
CAIRN_PLUGIN_API int cairn_histogram(struct cairn_family *f, size_t n, const double *upper_bounds,
                                     const uint64_t *cumulative_counts, uint64_t count, double sum,
                                     ...) __attribute__((sentinel));
/* The same with label arrays. */
CAIRN_PLUGIN_API int cairn_histogramv(struct cairn_family *f, size_t n, const double *upper_bounds,
                                      const uint64_t *cumulative_counts, uint64_t count, double sum,
                                      size_t nlabels, const char *const *names,
                                      const char *const *values);

/* Adds a summary series: n quantiles (in [0, 1]) with their values, count
 * and sum, then labels as in cairn_add. Returns 0, -EINVAL or -ENOMEM. */
CAIRN_PLUGIN_API int cairn_summary(struct cairn_family *f, size_t n, const double *quantiles,
                                   const double *values, uint64_t count, double sum, ...)
    __attribute__((sentinel));
CAIRN_PLUGIN_API int cairn_summaryv(struct cairn_family *f, size_t n, const double *quantiles,
                                    const double *values, uint64_t count, double sum,
                                    size_t nlabels, const char *const *names,
                                    const char *const *values_);

/* The tick the agent is collecting for and the moment it stops waiting,
 * Unix time in ms. */
CAIRN_PLUGIN_API int64_t cairn_collect_timestamp_ms(const struct cairn_collect *c);
CAIRN_PLUGIN_API int64_t cairn_collect_deadline_ms(const struct cairn_collect *c);
/* Whether the deadline has passed: a long collect should check and give up. */
CAIRN_PLUGIN_API bool cairn_collect_expired(const struct cairn_collect *c);

/* Fails the collect with a message (printf-style) the agent logs; returns
 * -1, for `return cairn_collect_fail(c, "cannot read %s", path);`. */
CAIRN_PLUGIN_API int cairn_collect_fail(struct cairn_collect *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif
