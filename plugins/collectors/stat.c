/*
 * stat: kernel and system counters from /proc/stat, as node_exporter 1.5's
 * stat collector exports them:
 *
 *   node_intr_total, node_context_switches_total, node_forks_total (counters),
 *   node_boot_time_seconds, node_procs_running, node_procs_blocked (gauges),
 *   node_softirqs_total{vector} (counter, only with the "softirq" option).
 *
 * The per-CPU "cpu" lines of the same file belong to the cpu collector and are
 * skipped here. /proc/stat grows with the number of CPUs and IRQs (the intr
 * line alone can hold thousands of numbers), so the file is read into a
 * buffer kept in the collector's state: it is sized once and reused every
 * cycle instead of living on the stack. Only the first number of the intr
 * line (the total) is parsed; the per-IRQ columns are never looked at.
 *
 * Unlike node_exporter, which exports 0 for a key missing from the file, a
 * file without btime, ctxt, processes, procs_running, procs_blocked or intr
 * (a truncated read) is reported as a failure, and so is a missing softirq
 * line when the softirq option is on.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define STAT_MAX_FILE (16u << 20)

/* The columns of the softirq line after its total, in kernel order. */
static const char *const stat_softirq_vectors[] = {
    "hi",           "timer",   "net_tx", "net_rx",  "block",
    "block_iopoll", "tasklet", "sched",  "hrtimer", "rcu",
};
#define STAT_NVECTORS (sizeof(stat_softirq_vectors) / sizeof(stat_softirq_vectors[0]))

struct stat_state {
    bool softirq;
    struct cn_buf buf; /* the file, reused every cycle */
};

static const struct plg_option stat_options[] = {
    {"softirq", "false", "Export softirq calls per vector"},
    {NULL, NULL, NULL},
};

/* The next whitespace-separated token at *p as Go's strconv.ParseUint(tok,
 * 10, 64); advances *p past it. Returns 0, -EINVAL (no token, not a number)
 * or -ERANGE. */
static int stat_next_u64(char **p, uint64_t *out)
{
    size_t len;
    char *tok = plg_next_field(p, &len);
    return tok ? plg_parse_uint(tok, len, 10, 64, out) : -EINVAL;
}

static int stat_init(const struct plg_config *cfg, void **state)
{
    bool softirq;
    int rc = plg_config_bool(cfg, "softirq", &softirq);
    if (rc)
        return rc;
    struct stat_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->softirq = softirq;
    cn_buf_init(&st->buf);
    *state = st;
    return 0;
}

static void stat_destroy(void *state)
{
    struct stat_state *st = state;
    if (!st)
        return;
    cn_buf_free(&st->buf);
    free(st);
}

/* The single-value keys this collector needs, in the order of `vals`. */
enum { K_BTIME, K_CTXT, K_PROCESSES, K_RUNNING, K_BLOCKED, K_INTR, K_COUNT };
static const char *const stat_keys[K_COUNT] = {
    "btime", "ctxt", "processes", "procs_running", "procs_blocked", "intr",
};

static int stat_collect(void *state, struct plg_collect *c)
{
    struct stat_state *st = state;
    char path[PATH_MAX];
    if (!plg_proc(path, c->paths, "stat"))
        return plg_fail(c, -ENAMETOOLONG, "procfs path too long");
    int rc = plg_read_buf(c, path, &st->buf, STAT_MAX_FILE);
    if (rc < 0)
        return plg_fail(c, rc, "couldn't read %s: %s", path, strerror(-rc));

    uint64_t vals[K_COUNT] = {0};
    bool seen[K_COUNT] = {false};
    uint64_t softirq[STAT_NVECTORS] = {0};
    bool have_softirq = false;

    char *end = st->buf.data + st->buf.len;
    for (char *q = st->buf.data, *p; (p = plg_next_line(&q, end, NULL));) {
        size_t klen;
        const char *key = plg_next_field(&p, &klen);
        if (!key)
            continue;
        if (klen == 7 && !memcmp(key, "softirq", 7)) {
            uint64_t total;
            rc = stat_next_u64(&p, &total);
            for (size_t i = 0; rc == 0 && i < STAT_NVECTORS; i++)
                rc = stat_next_u64(&p, &softirq[i]);
            if (rc)
                return plg_fail(c, -EINVAL, "couldn't parse the softirq line of %s", path);
            have_softirq = true;
            continue;
        }
        for (int k = 0; k < K_COUNT; k++) {
            if (strlen(stat_keys[k]) != klen || memcmp(key, stat_keys[k], klen) != 0)
                continue;
            if (stat_next_u64(&p, &vals[k]))
                return plg_fail(c, -EINVAL, "couldn't parse the %s line of %s", stat_keys[k], path);
            seen[k] = true;
            break;
        }
    }
    for (int k = 0; k < K_COUNT; k++)
        if (!seen[k])
            return plg_fail(c, -EINVAL, "no %s line in %s", stat_keys[k], path);
    if (st->softirq && !have_softirq)
        return plg_fail(c, -EINVAL, "no softirq line in %s", path);

    struct exp_builder *b = c->b;
    exp_counter(b, "node_intr_total", "Total number of interrupts serviced.", (double)vals[K_INTR],
                0);
    exp_counter(b, "node_context_switches_total", "Total number of context switches.",
                (double)vals[K_CTXT], 0);
    exp_counter(b, "node_forks_total", "Total number of forks.", (double)vals[K_PROCESSES], 0);
    exp_gauge(b, "node_boot_time_seconds", "Node boot time, in unixtime.", (double)vals[K_BTIME],
              0);
    exp_gauge(b, "node_procs_running", "Number of processes in runnable state.",
              (double)vals[K_RUNNING], 0);
    exp_gauge(b, "node_procs_blocked", "Number of processes blocked waiting for I/O to complete.",
              (double)vals[K_BLOCKED], 0);
    if (st->softirq) {
        struct exp_family *f =
            exp_family(b, "node_softirqs_total", "Number of softirq calls.", EXP_COUNTER);
        for (size_t i = 0; i < STAT_NVECTORS; i++)
            exp_add(b, f, (double)softirq[i], 1, "vector", stat_softirq_vectors[i]);
    }
    return 0;
}

const struct plg_collector plg_collector_stat = {
    .name = "stat",
    .default_enabled = true,
    .options = stat_options,
    .init = stat_init,
    .collect = stat_collect,
    .destroy = stat_destroy,
};
