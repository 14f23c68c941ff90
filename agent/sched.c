/*
 * The collection scheduler.
 *
 * Collectors run one after another on a runner thread; the scheduler thread
 * hands the runner each cycle's list and watches the clock. The design goal
 * is twofold: a cycle must cost almost nothing beyond the collectors' own
 * reads (so no thread per collector: on a virtual machine every wake-up is
 * several microseconds), and a collector stuck in the kernel (statfs on a
 * dead NFS mount, a read of a wedged device) must never stall the others.
 *
 * The runner publishes which collector it is in and since when. When one has
 * run past its deadline (--collector.timeout), the scheduler abandons that
 * runner to it and starts a fresh runner on the rest of the list. The late
 * collector reports success 0 and no series for the cycle, and stays out of
 * later cycles until it returns ("busy"); its abandoned runner then finishes
 * that one call and exits. So a stuck collector costs one thread while it is
 * stuck and delays a cycle once by the deadline.
 *
 * Lifetime. Instances (a collector, its options and state) and runners are
 * reference-counted, shared between the scheduler and the runner using them.
 * A collector's state is touched by one runner at a time (the busy flag);
 * init runs lazily on the runner at the first cycle, destroy runs on
 * whichever side lets go last. Shutdown therefore never waits on a stuck
 * collector: it asks the runner to stop, waits briefly, and leaves anything
 * still stuck to clean up after itself.
 *
 * Locks: each instance and each runner has its own mutex; the published
 * snapshot is swapped under the scheduler's mutex. HTTP readers take a
 * reference to the snapshot and never wait on collection.
 */
#include "agent/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events/events.h"

struct instance {
    atomic_int refs;
    const struct plg_collector *col;
    struct plg_paths paths; /* strings owned */
    const char **values;    /* option values, owned, NULL = default */
    size_t nvalues;

    /* Used only by the runner that holds `busy`. */
    void *state;
    struct plg_files *files;
    bool inited;
    int init_rc;
    char initmsg[200];

    pthread_mutex_t lock;
    /* under lock */
    bool busy;     /* a runner is inside init/collect */
    bool shutdown; /* the scheduler let go; the runner destroys the state */
    uint64_t done_cycle;
    struct exp_builder *result;
    int rc;
    bool nodata;
    char errmsg[256];
    double duration;

    /* scheduler-only: what was last logged for this collector */
    char logged[256];
};

#define NONE SIZE_MAX
/* Open files a collector may keep between cycles (see plugins/files.c). */
#define FILES_PER_COLLECTOR 32

struct runner {
    atomic_int refs;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* under lock */
    bool stop, abandoned, exited;
    uint64_t cycle;
    struct instance **work; /* this cycle's list; references held */
    size_t nwork, next;
    size_t current; /* index in work being run, or NONE */
    int64_t current_start_ns;
    double cycle_cpu; /* CPU seconds the runner spent on this cycle */
};

struct agent_sched {
    struct instance **inst;
    size_t ninst;
    int64_t interval_ms, timeout_ms;
    struct agent_http_stats *http;
    struct agent_store *store;  /* borrowed, may be NULL */
    struct evt_service *events; /* borrowed, may be NULL */
    uint64_t cycle;
    struct runner *runner;
    double boot_time;

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
    plg_files_destroy(in->files);
    for (size_t i = 0; i < in->nvalues; i++)
        free((char *)in->values[i]);
    free(in->values);
    free((char *)in->paths.procfs);
    free((char *)in->paths.sysfs);
    free((char *)in->paths.rootfs);
    free((char *)in->paths.udev_data);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

static void instance_destroy_state(struct instance *in)
{
    if (in->inited && !in->init_rc && in->col->destroy)
        in->col->destroy(in->state);
    in->inited = false;
    in->state = NULL;
}

/* Runs one collector for `cycle` on the calling (runner) thread. The caller
 * has set in->busy. */
static void instance_run(struct instance *in, uint64_t cycle)
{
    if (!in->inited) {
        struct plg_config cfg = {.paths = &in->paths,
                                 .collector = in->col,
                                 .values = in->values,
                                 .errbuf = in->initmsg,
                                 .errcap = sizeof(in->initmsg)};
        in->init_rc = in->col->init ? in->col->init(&cfg, &in->state) : 0;
        in->inited = true;
    }
    struct exp_builder *b = exp_builder_create();
    struct plg_collect c = {.b = b, .paths = &in->paths, .files = in->files};
    int64_t t0 = cn_mono_ns();
    int rc;
    if (!b) {
        rc = plg_fail(&c, -ENOMEM, "out of memory");
    } else if (in->init_rc) {
        rc = plg_fail(&c, in->init_rc, "initialisation failed: %s",
                      in->initmsg[0] ? in->initmsg : strerror(-in->init_rc));
    } else {
        rc = in->col->collect(in->state, &c);
        if (!rc && exp_builder_error(b))
            rc = plg_fail(&c, exp_builder_error(b), "building metrics: %s",
                          strerror(-exp_builder_error(b)));
        int dups = exp_builder_finish(b);
        if (dups && !rc)
            rc = plg_fail(&c, -EINVAL, "%d duplicate series dropped", dups);
    }
    double dur = (double)(cn_mono_ns() - t0) / 1e9;
    plg_files_sweep(in->files);

    pthread_mutex_lock(&in->lock);
    exp_builder_unref(in->result);
    in->result = b;
    in->rc = rc;
    in->nodata = c.nodata;
    memcpy(in->errmsg, c.errmsg, sizeof(in->errmsg));
    in->duration = dur;
    in->done_cycle = cycle;
    in->busy = false;
    bool shutdown = in->shutdown;
    pthread_mutex_unlock(&in->lock);
    if (shutdown)
        instance_destroy_state(in); /* the scheduler let go while we ran */
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
    in->col = col;
    while (col->options && col->options[in->nvalues].name)
        in->nvalues++;
    in->values = cn_calloc(in->nvalues + 1, sizeof(char *));
    in->files = plg_files_create(FILES_PER_COLLECTOR);
    int rc = in->values && in->files ? dup_paths(&in->paths, paths) : -ENOMEM;
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

/* The scheduler lets go of an instance: its state is destroyed now, or by
 * the runner still inside it when that returns. */
static void instance_release(struct instance *in)
{
    pthread_mutex_lock(&in->lock);
    in->shutdown = true;
    bool busy = in->busy;
    pthread_mutex_unlock(&in->lock);
    if (busy)
        cn_log(CN_LOG_WARN, "scheduler", "collector still running at shutdown; left to finish",
               "collector", in->col->name, NULL);
    else
        instance_destroy_state(in);
    instance_unref(in);
}

/* ---- runners ------------------------------------------------------------------ */

static void runner_unref(struct runner *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    for (size_t i = 0; i < r->nwork; i++)
        instance_unref(r->work[i]);
    free(r->work);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r);
}

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    double cpu0 = 0;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->stop && !r->abandoned && r->next >= r->nwork)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->stop || r->abandoned)
            break;
        size_t i = r->next++;
        if (i == 0)
            cpu0 = cn_thread_cpu_seconds();
        struct instance *in = r->work[i];
        uint64_t cycle = r->cycle;
        r->current = i;
        r->current_start_ns = cn_mono_ns();
        pthread_mutex_unlock(&r->lock);

        instance_run(in, cycle);

        pthread_mutex_lock(&r->lock);
        r->current = NONE;
        if (r->next >= r->nwork) {
            r->cycle_cpu = cn_thread_cpu_seconds() - cpu0;
            pthread_cond_broadcast(&r->cond);
        }
    }
    r->exited = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    runner_unref(r);
    return NULL;
}

static struct runner *runner_start(void)
{
    struct runner *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    atomic_init(&r->refs, 2); /* the scheduler's and the thread's */
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->current = NONE;
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    /* Collectors are shallow; a small stack keeps the runner cheap. */
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, runner_main, r);
    pthread_attr_destroy(&attr);
    if (rc) {
        atomic_store(&r->refs, 1);
        runner_unref(r);
        return NULL;
    }
    return r;
}

/* Hands r a cycle's list (taking over the references in it). */
static void runner_assign(struct runner *r, uint64_t cycle, struct instance **work, size_t n)
{
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nwork; i++)
        instance_unref(r->work[i]);
    free(r->work);
    r->work = work;
    r->nwork = n;
    r->next = 0;
    r->cycle = cycle;
    r->cycle_cpu = 0;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* Stops r and waits until `deadline` for its thread to leave; drops the
 * scheduler's reference. */
static void runner_stop(struct runner *r, const struct timespec *deadline)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->cond);
    while (!r->exited)
        if (pthread_cond_timedwait(&r->cond, &r->lock, deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&r->lock);
    runner_unref(r);
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
    s->store = opts->store;
    s->events = opts->events;
    s->boot_time = agent_boot_time();
    s->inst = cn_calloc(cfg->ncollectors + opts->nextra + 1, sizeof(*s->inst));
    s->runner = runner_start();
    if (!s->inst || !s->runner) {
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

/*
 * Waits until the runner has finished the cycle. Whenever the collector it
 * is in overruns the deadline, the runner is abandoned to it and a new one
 * continues with the rest. Returns the CPU seconds the runners reported.
 */
static double drive_cycle(struct agent_sched *s)
{
    int64_t timeout_ns = s->timeout_ms * 1000000;
    double cpu = 0;
    for (;;) {
        struct runner *r = s->runner;
        pthread_mutex_lock(&r->lock);
        while (r->next < r->nwork || r->current != NONE) {
            /* The runner does not signal each collector it starts (that
             * would cost a wake-up apiece): look again at the deadline of
             * the one it was in, or after a timeout if it was between two. */
            int64_t left = timeout_ns;
            if (r->current != NONE)
                left = r->current_start_ns + timeout_ns - cn_mono_ns();
            if (left > 0) {
                struct timespec until = cn_realtime_after_ns(left);
                pthread_cond_timedwait(&r->cond, &r->lock, &until);
                continue;
            }
            /* Overran: leave this runner to it, go on with a fresh one. */
            size_t rest = r->nwork - r->next;
            struct instance **work = cn_calloc(rest + 1, sizeof(*work));
            struct runner *fresh = work ? runner_start() : NULL;
            if (!fresh) {
                free(work);
                pthread_mutex_unlock(&r->lock);
                cn_log(CN_LOG_ERROR, "scheduler", "cannot start a collector runner", NULL);
                return cpu;
            }
            for (size_t i = 0; i < rest; i++) {
                work[i] = r->work[r->next + i];
                atomic_fetch_add(&work[i]->refs, 1);
            }
            r->next = r->nwork;
            r->abandoned = true;
            uint64_t cycle = r->cycle;
            pthread_mutex_unlock(&r->lock);
            runner_unref(r);
            s->runner = fresh;
            runner_assign(fresh, cycle, work, rest);
            goto next_runner;
        }
        cpu += r->cycle_cpu;
        pthread_mutex_unlock(&r->lock);
        return cpu;
    next_runner:;
    }
}

/* Turns TSDB damage found since the last cycle (a block set aside, a WAL
 * repaired) into an agent event. */
static void report_damage(struct agent_sched *s)
{
    uint64_t n = s->store ? agent_store_new_damage(s->store) : 0;
    if (!n)
        return;
    char count[24];
    snprintf(count, sizeof(count), "%llu", (unsigned long long)n);
    evt_service_agent_event(s->events, "BlockCorrupt", EVT_SEV_CRITICAL,
                            "the TSDB found damaged data: corrupt blocks were set aside or the WAL "
                            "was repaired (see cairn_tsdb_corrupt_blocks_total, "
                            "cairn_tsdb_wal_corruptions_total)",
                            "count", count, NULL);
}

void agent_sched_run_once(struct agent_sched *s)
{
    int64_t t0 = cn_mono_ns();
    int64_t start_ms = cn_now_ms(); /* the cycle's samples' timestamp */
    double cpu0 = cn_thread_cpu_seconds();
    uint64_t cycle = ++s->cycle;
    struct instance **work = cn_calloc(s->ninst + 1, sizeof(*work));
    bool *queued = cn_calloc(s->ninst + 1, sizeof(bool));
    struct exp_builder **parts = cn_calloc(s->ninst + 2, sizeof(*parts));
    struct exp_builder *meta = exp_builder_create();
    if (!work || !queued || !parts || !meta) {
        free(work);
        free(queued);
        free(parts);
        exp_builder_unref(meta);
        cn_log(CN_LOG_ERROR, "scheduler", "out of memory starting a cycle", NULL);
        return;
    }

    /* Everything not still inside an earlier cycle's call runs this cycle. */
    size_t nwork = 0;
    for (size_t i = 0; i < s->ninst; i++) {
        struct instance *in = s->inst[i];
        pthread_mutex_lock(&in->lock);
        if (!in->busy) {
            exp_builder_unref(in->result); /* a late result of an earlier cycle */
            in->result = NULL;
            in->busy = true;
            queued[i] = true;
            atomic_fetch_add(&in->refs, 1);
            work[nwork++] = in;
        }
        pthread_mutex_unlock(&in->lock);
    }
    runner_assign(s->runner, cycle, work, nwork);
    double cpu = drive_cycle(s);

    size_t nparts = 0;
    struct exp_family *fdur =
        exp_family(meta, "node_scrape_collector_duration_seconds",
                   "node_exporter: Duration of a collector scrape.", EXP_GAUGE);
    struct exp_family *fok = exp_family(meta, "node_scrape_collector_success",
                                        "node_exporter: Whether a collector succeeded.", EXP_GAUGE);
    for (size_t i = 0; i < s->ninst; i++) {
        struct instance *in = s->inst[i];
        pthread_mutex_lock(&in->lock);
        bool done = queued[i] && in->done_cycle == cycle;
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
        } else {
            snprintf(msg, sizeof(msg),
                     queued[i] ? "timed out after %.3gs; series dropped"
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
    free(queued);

    agent_process_metrics(meta, s->boot_time);
    agent_http_stats_export(s->http, meta);
    if (s->store)
        agent_store_export(s->store, meta);
    if (s->events) {
        report_damage(s);
        evt_service_export(s->events, meta);
    }
    exp_gauge(meta, "cairn_collection_duration_seconds",
              "Wall-clock duration of the last complete collection cycle.",
              (double)(cn_mono_ns() - t0) / 1e9, 0);
    exp_gauge(meta, "cairn_collection_cpu_seconds",
              "CPU time the last collection cycle used, collectors and assembly together.",
              cpu + (cn_thread_cpu_seconds() - cpu0), 0);
    exp_builder_finish(meta);
    parts[nparts++] = meta;

    struct exp_snapshot *snap = exp_snapshot_create(parts, nparts, start_ms);
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
    /* After publishing: /metrics never waits for the TSDB. */
    if (s->store)
        agent_store_append(s->store, snap, start_ms);
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
        struct timespec until = cn_realtime_after_ns(next - now);
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
    struct timespec deadline = cn_realtime_after_ns(2000000000);
    runner_stop(s->runner, &deadline);
    for (size_t i = 0; i < s->ninst; i++)
        instance_release(s->inst[i]);
    free(s->inst);
    exp_snapshot_unref(s->snap);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}
