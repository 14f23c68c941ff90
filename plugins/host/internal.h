/*
 * Internals of the plugin host shared by its files (and their unit tests):
 * the plugin process (process.c), the gRPC client (client.c) and the
 * validation of a plugin's output (validate.c). host.c ties them together.
 * Nothing outside plugins/host and tests/unit/plugins includes this header.
 */
#ifndef CAIRN_PLUGINS_HOST_INTERNAL_H
#define CAIRN_PLUGINS_HOST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "exporter/exporter.h"
#include "plugins/host/host.h"
#include "plugin.pb-c.h"

/* ---- the plugin process (process.c) ------------------------------------- */

/*
 * A started plugin process with its stdout and stderr pipes. Starting it:
 * a private socket directory (mode 0700, owned by the plugin's user) is made
 * under socket_root; the child gets its own process group, PR_SET_PDEATHSIG
 * SIGKILL (and exits at once if the agent is already gone), the rlimits of
 * cfg, the user of cfg (setgroups, setgid, setuid; only when the agent runs
 * as root), stdin from /dev/null, the agent's environment plus cfg->env plus
 * CAIRN_PLUGIN_COOKIE_KEY, PLUGIN_UNIX_SOCKET_DIR and
 * PLUGIN_PROTOCOL_VERSIONS, and is exec'd with cfg->argv (argv[0] looked up
 * in PATH when it has no '/'). Between fork and exec only async-signal-safe
 * calls are made; an exec failure is reported through a close-on-exec pipe.
 *
 * A pump thread per process reads both pipes: the first stdout line is the
 * handshake (plg_proc_handshake waits for it); later stdout lines and every
 * stderr line are logged (debug and info respectively) as
 * `plugin=<name> line=...`, each cut at 1 KiB, at most 100 lines per second
 * per plugin, the rest counted as dropped.
 */
struct plg_proc;

int plg_proc_start(const struct plg_plugin_cfg *cfg, const char *socket_root, struct plg_proc **out,
                   char *err, size_t errcap);

/* The handshake line, parsed and checked. */
struct plg_handshake {
    int core_version;
    int app_version;
    char socket_path[108];
};

/*
 * Waits up to timeout_ms for the first stdout line and checks it:
 * "CORE|APP|unix|PATH|grpc" with CORE == CAIRN_PLUGIN_CORE_VERSION, APP ==
 * CAIRN_PLUGIN_PROTOCOL_VERSION, PATH a socket inside the process' socket
 * directory. Errors (-ETIMEDOUT, -EPROTO, -ECHILD when the process exited
 * first) come with a message in err naming what was wrong, e.g.
 * "plugin speaks protocol version 2, this agent speaks 1" or "malformed
 * handshake line \"garbage\"" or "plugin exited with status 1 before its
 * handshake".
 */
int plg_proc_handshake(struct plg_proc *p, int64_t timeout_ms, struct plg_handshake *hs, char *err,
                       size_t errcap);

/* Parses one handshake line (no newline) against sockdir; the checks and
 * messages of plg_proc_handshake. Exposed for tests and the fuzzer. */
int plg_handshake_parse(const char *line, const char *sockdir, struct plg_handshake *hs, char *err,
                        size_t errcap);

/* Whether the process has exited (reaps it). *status (may be NULL) gets a
 * description such as "exited with status 1" or "killed by signal 11
 * (Segmentation fault)". */
bool plg_proc_exited(struct plg_proc *p, char *status, size_t cap);

pid_t plg_proc_pid(const struct plg_proc *p);

/* Lines of output dropped by the rate limit so far. */
uint64_t plg_proc_dropped_lines(const struct plg_proc *p);

/*
 * Stops the process: SIGTERM to its process group, up to grace_ms for it to
 * exit, then SIGKILL; reaps it, joins the pump thread, removes the socket
 * directory and frees p. Accepts NULL.
 */
void plg_proc_stop(struct plg_proc *p, int64_t grace_ms);

/* ---- the gRPC client (client.c) ------------------------------------------ */

/*
 * A connection to one plugin's socket: one gRPC channel, synchronous unary
 * calls with a deadline. Responses larger than max_message bytes fail with
 * -EMSGSIZE. Errors return a negative errno and a message in err:
 * -ETIMEDOUT (deadline exceeded), -ECONNREFUSED (unavailable), -EMSGSIZE,
 * -EBADMSG (the response does not decode), -EIO (any other gRPC status; the
 * message carries the status name and details). Not thread-safe: one
 * caller at a time per client.
 */
struct plg_client;

int plg_client_connect(const char *socket_path, long max_message, struct plg_client **out,
                       char *err, size_t errcap);
void plg_client_close(struct plg_client *c); /* accepts NULL */

/* grpc.health.v1.Health/Check with service "": 0 when SERVING, -EAGAIN
 * (with the status in err) otherwise. */
int plg_client_health(struct plg_client *c, int64_t timeout_ms, char *err, size_t errcap);

/* Info; the caller frees *out with
 * cairn__plugin__v1__info_response__free_unpacked(*out, NULL). */
int plg_client_info(struct plg_client *c, int64_t timeout_ms, Cairn__Plugin__V1__InfoResponse **out,
                    char *err, size_t errcap);

/* Collect for the tick ts_ms, giving up at deadline_ms (Unix ms, sent to
 * the plugin too). The caller frees *out with
 * cairn__plugin__v1__collect_response__free_unpacked(*out, NULL). */
int plg_client_collect(struct plg_client *c, int64_t ts_ms, int64_t deadline_ms,
                       Cairn__Plugin__V1__CollectResponse **out, char *err, size_t errcap);

/* ---- validation (validate.c) ---------------------------------------------- */

/* Why a series was rejected: the `reason` label of
 * cairn_plugin_rejected_series_total. */
enum plg_reject {
    PLG_REJECT_METRIC_NAME = 0, /* "invalid_metric_name": bad or empty family name */
    PLG_REJECT_LABEL_NAME,    /* "invalid_label_name": bad, reserved (__*) or repeated label name */
    PLG_REJECT_LABEL_VALUE,   /* "invalid_label_value": not UTF-8 */
    PLG_REJECT_DUPLICATE,     /* "duplicate_series": same name and labels as an earlier series */
    PLG_REJECT_TYPE,          /* "type_mismatch": value field does not match the family type */
    PLG_REJECT_COUNTER_VALUE, /* "invalid_counter": NaN or negative counter */
    PLG_REJECT_BUCKETS,       /* "invalid_buckets": bad histogram buckets or summary quantiles */
    PLG_REJECT_TOO_MANY,      /* "too_many_series": beyond max_series */
    PLG_REJECT_COUNT
};

/* The label value of a reason ("invalid_metric_name", ...). */
const char *plg_reject_name(enum plg_reject r);

struct plg_rejects {
    uint64_t count[PLG_REJECT_COUNT];
    /* The first rejection of this call, for the log: "family foo: invalid
     * label name \"1x\"". Empty when nothing was rejected. */
    char first[256];
};

/*
 * Adds the families of a plugin's response to b, series by series, after
 * validation: a rejected series is counted in rej (which accumulates over
 * calls: the caller zeroes it) and skipped; the rest of its family and the
 * other families are kept. A family whose name is invalid is rejected with
 * all its series (counted each). Help strings that are not UTF-8 are
 * replaced by "". Series beyond max_series in total are rejected as
 * too_many_series. Type rules:
 *   COUNTER: counter.value, not NaN, >= 0; GAUGE: gauge.value;
 *   UNTYPED: untyped.value; SUMMARY: summary with quantiles in [0, 1];
 *   HISTOGRAM (and GAUGE_HISTOGRAM, exported as a histogram): buckets with
 *   strictly ascending upper bounds and non-decreasing cumulative counts (a
 *   missing +Inf bucket is added with sample_count; a present one must
 *   equal it); the *_float count fields are used when set.
 * A timestamp_ms, when set, is kept on the series. Returns 0 or -ENOMEM.
 */
int plg_adapt(Cairn__Plugin__V1__MetricFamily *const *fams, size_t n, long max_series,
              struct exp_builder *b, struct plg_rejects *rej);

#endif
