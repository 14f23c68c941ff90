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

static bool stat_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Parses one whitespace-delimited unsigned decimal token at *p, as Go's
 * strconv.ParseUint(tok, 10, 64): digits only, no sign, no overflow. Advances
 * *p past it. Returns 0, -EINVAL (no token, bad digit) or -ERANGE. */
static int stat_next_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    while (stat_is_space(*s))
        s++;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (*s && !stat_is_space(*s))
        return -EINVAL;
    *p = s;
    *out = v;
    return 0;
}

static const char *const stat_true[] = {"1", "t", "T", "true", "TRUE", "True"};
static const char *const stat_false[] = {"0", "f", "F", "false", "FALSE", "False"};

/* Parses a flag value as Go's strconv.ParseBool (kingpin's Bool) does; an
 * unset option is false. */
static int stat_parse_bool(const char *s, bool *out)
{
    if (!s) {
        *out = false;
        return 0;
    }
    for (size_t i = 0; i < sizeof(stat_true) / sizeof(stat_true[0]); i++) {
        if (!strcmp(s, stat_true[i]) || !strcmp(s, stat_false[i])) {
            *out = !strcmp(s, stat_true[i]);
            return 0;
        }
    }
    return -EINVAL;
}

static int stat_init(const struct plg_config *cfg, void **state)
{
    bool softirq;
    if (stat_parse_bool(plg_config_get(cfg, "softirq"), &softirq))
        return -EINVAL;
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
    int rc = cn_read_file_buf(path, &st->buf, STAT_MAX_FILE);
    if (rc < 0)
        return plg_fail(c, rc, "couldn't read %s: %s", path, strerror(-rc));

    uint64_t vals[K_COUNT] = {0};
    bool seen[K_COUNT] = {false};
    uint64_t softirq[STAT_NVECTORS] = {0};
    bool have_softirq = false;

    char *end = st->buf.data + st->buf.len;
    for (char *line = st->buf.data, *next; line < end; line = next) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        next = nl ? nl + 1 : end;
        if (nl)
            *nl = '\0';
        const char *p = line;
        while (stat_is_space(*p))
            p++;
        const char *key = p;
        while (*p && !stat_is_space(*p))
            p++;
        size_t klen = (size_t)(p - key);
        if (klen == 0)
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
