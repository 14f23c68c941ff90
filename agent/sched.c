/*
 * The collection scheduler.
 *
 * Every enabled collector gets a worker thread of its own. The reason is the
 * classic node_exporter hang: a collector stuck in the kernel (statfs on a
 * dead NFS mount, a sysfs read on a wedged device) must not stall the
 * others. A tick hands each idle worker the cycle number, then waits for all
 * of them until the deadline (--collector.timeout). Results that arrive in
 * time go into the cycle's snapshot; a late collector reports success 0 and
 * none of its series, and while it is still running it is not handed new
 * ticks. The worker threads sleep on a condition variable between ticks, so
 * the cost of a cycle is the collectors' own work plus one wake-up each.
 *
 * Lifetime. An instance (collector + state + worker) is shared by the
 * scheduler and its worker through a reference count. On shutdown or reload
 * the scheduler asks each worker to stop and waits briefly; a worker stuck
 * in the kernel keeps its reference and frees the instance itself whenever
 * the kernel lets it go, so a stop never blocks on a stuck collector.
 *
 * Synchronisation is per instance (its mutex and condition variable); the
 * published snapshot is swapped under the scheduler's own mutex. Readers
 * get a reference and never block the collector thread for longer than the
 * pointer swap.
 */
#include "agent/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct instance {
    atomic_int refs;
    const struct plg_collector *col;
    struct plg_paths paths; /* strings owned */
    const char **values;    /* option values, owned, NULL = default */
    size_t nvalues;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* under lock */
    uint64_t want_cycle, done_cycle;
    bool running, stop, exited;
    struct exp_builder *result;
    int rc;
    bool nodata;
    char errmsg[256];
    double duration, cpu;

    /* scheduler-only: what was last logged for this collector */
    char logged[256];
};

struct agent_sched {
    struct instance **inst;
    size_t ninst;
    int64_t interval_ms, timeout_ms;
    struct agent_http_stats *http;
    uint64_t cycle;

    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;                 /* under lock */
    struct exp_snapshot *snap; /* under lock */
};

/* ---- instances --------------------------------------------------------------- */

static void instance_unref(struct instance *in)
{
    if (!in || atomic_fetch_sub(&in->refs, 1) != 1)
        return;
    exp_builder_unref(in->result);
    for (size_t i = 0; i < in->nvalues; i++)
        free((char *)in->values[i]);
    free(in->values);
    free((char *)in->paths.procfs);
    free((char *)in->paths.sysfs);
    free((char *)in->paths.rootfs);
    free((char *)in->paths.udev_data);
    pthread_mutex_destroy(&in->lock);
    pthread_cond_destroy(&in->cond);
    free(in);
}

static void *worker_main(void *arg)
{
    struct instance *in = arg;
    void *state = NULL;
    char initmsg[200] = "";
    struct plg_config cfg = {.paths = &in->paths,
                             .collector = in->col,
                             .values = in->values,
                             .errbuf = initmsg,
                             .errcap = sizeof(initmsg)};
    int init_rc = in->col->init ? in->col->init(&cfg, &state) : 0;

    pthread_mutex_lock(&in->lock);
    for (;;) {
        while (!in->stop && in->want_cycle == in->done_cycle)
            pthread_cond_wait(&in->cond, &in->lock);
        if (in->stop)
            break;
        uint64_t cycle = in->want_cycle;
        in->running = true;
        pthread_mutex_unlock(&in->lock);

        struct exp_builder *b = exp_builder_create();
        struct plg_collect c = {.b = b, .paths = &in->paths};
        int64_t t0 = cn_mono_ns();
        double cpu0 = cn_thread_cpu_seconds();
        int rc;
        if (!b) {
            rc = plg_fail(&c, -ENOMEM, "out of memory");
        } else if (init_rc) {
            rc = plg_fail(&c, init_rc, "initialisation failed: %s",
                          initmsg[0] ? initmsg : strerror(-init_rc));
        } else {
            rc = in->col->collect(state, &c);
            if (!rc && exp_builder_error(b))
                rc = plg_fail(&c, exp_builder_error(b), "building metrics: %s",
                              strerror(-exp_builder_error(b)));
            int dups = exp_builder_finish(b);
            if (dups && !rc)
                rc = plg_fail(&c, -EINVAL, "%d duplicate series dropped", dups);
        }
        double cpu = cn_thread_cpu_seconds() - cpu0;
        double dur = (double)(cn_mono_ns() - t0) / 1e9;

        pthread_mutex_lock(&in->lock);
        exp_builder_unref(in->result);
        in->result = b;
        in->rc = rc;
        in->nodata = c.nodata;
        memcpy(in->errmsg, c.errmsg, sizeof(in->errmsg));
        in->duration = dur;
        in->cpu = cpu;
        in->done_cycle = cycle;
        in->running = false;
        pthread_cond_broadcast(&in->cond);
    }
    pthread_mutex_unlock(&in->lock);

    if (!init_rc && in->col->destroy)
        in->col->destroy(state);
    pthread_mutex_lock(&in->lock);
    in->exited = true;
    pthread_cond_broadcast(&in->cond);
    pthread_mutex_unlock(&in->lock);
    instance_unref(in);
    return NULL;
}

static int dup_paths(struct plg_paths *dst, const struct plg_paths *src)
{
    dst->procfs = cn_strdup(src->procfs);
    dst->sysfs = cn_strdup(src->sysfs);
    dst->rootfs = cn_strdup(src->rootfs);
    dst->udev_data = cn_strdup(src->udev_data);
    return dst->procfs && dst->sysfs && dst->rootfs && dst->udev_data ? 0 : -ENOMEM;
}

/* cfg_values: the configured option values (NULL: all defaults). */
static int instance_create(const struct plg_collector *col, const struct plg_paths *paths,
                           char *const *cfg_values, struct instance **out)
{
    struct instance *in = cn_calloc(1, sizeof(*in));
    if (!in)
        return -ENOMEM;
    atomic_init(&in->refs, 1);
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->cond, NULL);
    in->col = col;
    while (col->options && col->options[in->nvalues].name)
        in->nvalues++;
    in->values = cn_calloc(in->nvalues + 1, sizeof(char *));
    int rc = in->values ? dup_paths(&in->paths, paths) : -ENOMEM;
    for (size_t i = 0; !rc && cfg_values && i < in->nvalues; i++) {
        const char *v = cfg_values[i];
        if (v && !(in->values[i] = cn_strdup(v)))
            rc = -ENOMEM;
    }
    if (rc) {
        instance_unref(in);
        return rc;
    }
    *out = in;
    return 0;
}

static int instance_start(struct instance *in)
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    /* Collectors are shallow; a small stack keeps 40 threads cheap. */
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add(&in->refs, 1); /* the worker's */
    int rc = pthread_create(&t, &attr, worker_main, in);
    pthread_attr_destroy(&attr);
    if (rc) {
        atomic_fetch_sub(&in->refs, 1);
        return -rc;
    }
    return 0;
}

/* Asks the worker to stop and waits until `deadline` (CLOCK_REALTIME) for
 * it to exit. Drops the scheduler's reference either way. */
static void instance_stop(struct instance *in, const struct timespec *deadline)
{
    pthread_mutex_lock(&in->lock);
    in->stop = true;
    pthread_cond_broadcast(&in->cond);
    while (!in->exited)
        if (pthread_cond_timedwait(&in->cond, &in->lock, deadline) == ETIMEDOUT)
            break;
    bool exited = in->exited;
    pthread_mutex_unlock(&in->lock);
    if (!exited)
        cn_log(CN_LOG_WARN, "scheduler", "collector still running at shutdown; left to finish",
               "collector", in->col->name, NULL);
    instance_unref(in);
}

/* ---- the scheduler ------------------------------------------------------------- */

int agent_sched_create(const struct agent_sched_opts *opts, struct agent_sched **out)
{
    const struct agent_config *cfg = opts->cfg;
    struct agent_sched *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->interval_ms = cfg->interval_ms;
    s->timeout_ms = agent_config_timeout_ms(cfg);
    s->http = opts->http;
    s->inst = cn_calloc(cfg->ncollectors + opts->nextra + 1, sizeof(*s->inst));
    if (!s->inst) {
        agent_sched_destroy(s);
        return -ENOMEM;
    }
    const struct plg_collector *const *all = plg_builtin_collectors();
    for (size_t i = 0; i < cfg->ncollectors + opts->nextra; i++) {
        bool builtin = i < cfg->ncollectors;
        if (builtin && !agent_config_collector_enabled(cfg, i))
            continue;
        const struct plg_collector *col = builtin ? all[i] : opts->extra[i - cfg->ncollectors];
        struct instance *in;
        int rc = instance_create(col, &cfg->paths, builtin ? cfg->collectors[i].values : NULL, &in);
        if (!rc) {
            rc = instance_start(in);
            if (rc)
                instance_unref(in);
        }
        if (rc) {
            agent_sched_destroy(s);
            return rc;
        }
        s->inst[s->ninst++] = in;
        cn_log(CN_LOG_INFO, "scheduler", "collector enabled", "collector", col->name, NULL);
    }
    *out = s;
    return 0;
}

static struct timespec deadline_after(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* Logs a collector's state when it changes: once per cause, not per cycle. */
static void log_outcome(struct instance *in, bool ok, bool nodata, const char *msg)
{
    if (ok) {
        if (in->logged[0])
            cn_log(CN_LOG_INFO, "collector", "collector recovered", "collector", in->col->name,
                   NULL);
        in->logged[0] = '\0';
        return;
    }
    if (strcmp(in->logged, msg) == 0)
        return;
    cn_log(nodata ? CN_LOG_DEBUG : CN_LOG_WARN, "collector", "collector failed", "collector",
           in->col->name, "err", msg, NULL);
    snprintf(in->logged, sizeof(in->logged), "%s", msg);
}

void agent_sched_run_once(struct agent_sched *s)
{
    int64_t t0 = cn_mono_ns();
    double cpu0 = cn_thread_cpu_seconds();
    uint64_t cycle = ++s->cycle;
    bool *started = cn_calloc(s->ninst + 1, sizeof(bool));
    if (!started)
        return;

    for (size_t i = 0; i < s->ninst; i++) {
        struct instance *in = s->inst[i];
        pthread_mutex_lock(&in->lock);
        if (!in->running) {
            exp_builder_unref(in->result); /* a late result of an earlier cycle */
            in->result = NULL;
            in->want_cycle = cycle;
            started[i] = true;
            pthread_cond_broadcast(&in->cond);
        }
        pthread_mutex_unlock(&in->lock);
    }

    struct timespec deadline = deadline_after(s->timeout_ms);
    struct exp_builder **parts = cn_calloc(s->ninst + 2, sizeof(*parts));
    struct exp_builder *meta = exp_builder_create();
    if (!parts || !meta) {
        free(started);
        free(parts);
        exp_builder_unref(meta);
        cn_log(CN_LOG_ERROR, "scheduler", "out of memory assembling a cycle", NULL);
        return;
    }
    size_t nparts = 0;
    struct exp_family *fdur =
        exp_family(meta, "node_scrape_collector_duration_seconds",
                   "node_exporter: Duration of a collector scrape.", EXP_GAUGE);
    struct exp_family *fok = exp_family(meta, "node_scrape_collector_success",
                                        "node_exporter: Whether a collector succeeded.", EXP_GAUGE);
    double cpu = 0;

    for (size_t i = 0; i < s->ninst; i++) {
        struct instance *in = s->inst[i];
        pthread_mutex_lock(&in->lock);
        while (started[i] && in->done_cycle != cycle)
            if (pthread_cond_timedwait(&in->cond, &in->lock, &deadline) == ETIMEDOUT)
                break;
        bool done = started[i] && in->done_cycle == cycle;
        struct exp_builder *res = NULL;
        int rc = -ETIMEDOUT;
        bool nodata = false;
        char msg[256];
        double dur = (double)s->timeout_ms / 1000.0;
        if (done) {
            res = in->result;
            in->result = NULL;
            rc = in->rc;
            nodata = in->nodata;
            memcpy(msg, in->errmsg, sizeof(msg));
            dur = in->duration;
            cpu += in->cpu;
        } else {
            snprintf(msg, sizeof(msg),
                     started[i] ? "timed out after %.3gs; series dropped"
                                : "still running from an earlier cycle",
                     (double)s->timeout_ms / 1000.0);
        }
        pthread_mutex_unlock(&in->lock);

        if (res)
            parts[nparts++] = res;
        exp_add(meta, fdur, dur, 1, "collector", in->col->name);
        exp_add(meta, fok, rc == 0 ? 1 : 0, 1, "collector", in->col->name);
        log_outcome(in, rc == 0, nodata, msg[0] ? msg : strerror(-rc));
    }
    free(started);

    agent_process_metrics(meta);
    agent_http_stats_export(s->http, meta);
    exp_gauge(meta, "cairn_collection_duration_seconds",
              "Wall-clock duration of the last complete collection cycle.",
              (double)(cn_mono_ns() - t0) / 1e9, 0);
    exp_gauge(meta, "cairn_collection_cpu_seconds",
              "CPU time the last collection cycle used, collectors and assembly together.",
              cpu + (cn_thread_cpu_seconds() - cpu0), 0);
    exp_builder_finish(meta);
    parts[nparts++] = meta;

    struct exp_snapshot *snap = exp_snapshot_create(parts, nparts, cn_now_ms());
    for (size_t i = 0; i < nparts; i++)
        exp_builder_unref(parts[i]);
    free(parts);
    if (!snap) {
        cn_log(CN_LOG_ERROR, "scheduler", "out of memory publishing a snapshot", NULL);
        return;
    }
    pthread_mutex_lock(&s->lock);
    struct exp_snapshot *old = s->snap;
    s->snap = snap;
    pthread_mutex_unlock(&s->lock);
    exp_snapshot_unref(old);
}

static void *sched_main(void *arg)
{
    struct agent_sched *s = arg;
    int64_t next = cn_mono_ns();
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        pthread_mutex_unlock(&s->lock);
        agent_sched_run_once(s);
        /* The next tick on the interval grid; ticks missed are skipped. */
        int64_t now = cn_mono_ns();
        int64_t step = s->interval_ms * 1000000;
        next += step;
        if (next <= now)
            next += ((now - next) / step + 1) * step;
        struct timespec until = deadline_after((next - now) / 1000000);
        pthread_mutex_lock(&s->lock);
        while (!s->stop)
            if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int agent_sched_start(struct agent_sched *s)
{
    int rc = pthread_create(&s->thread, NULL, sched_main, s);
    if (rc)
        return -rc;
    s->started = true;
    return 0;
}

struct exp_snapshot *agent_sched_snapshot(struct agent_sched *s)
{
    pthread_mutex_lock(&s->lock);
    struct exp_snapshot *snap = s->snap;
    if (snap)
        exp_snapshot_ref(snap);
    pthread_mutex_unlock(&s->lock);
    return snap;
}

void agent_sched_destroy(struct agent_sched *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    struct timespec deadline = deadline_after(2000);
    for (size_t i = 0; i < s->ninst; i++)
        instance_stop(s->inst[i], &deadline);
    free(s->inst);
    exp_snapshot_unref(s->snap);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}
