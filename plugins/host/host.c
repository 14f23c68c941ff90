/*
 * The plugin host: one supervisor thread per configured plugin, and the
 * collector that hands the plugin's latest result to the scheduler.
 *
 * Supervisor. The thread runs the plugin's whole life: start (process.c),
 * handshake, connect and health check (client.c), Info once, then Collect
 * on the plugin's own interval with a deadline, each response checked and
 * converted by validate.c into a finished builder that replaces the last
 * one. A failed Collect clears the result (the plugin's series disappear
 * from /metrics rather than repeat stale values) and counts as a failure;
 * the plugin is restarted when its process exits, when a health check after
 * a failed Collect does not answer SERVING, or after RESTART_AFTER failed
 * Collects in a row (a hung collect keeps health SERVING while its calls
 * queue up behind it). Restarts wait an exponential backoff; after
 * max_failures failures with no successful Collect between them the plugin
 * is quarantined until the next apply. The forking thread is the
 * supervisor, which always stops its process before it exits, as
 * PR_SET_PDEATHSIG requires.
 *
 * Collector. Each plugin carries a `struct plg_collector` named after it.
 * Its collect copies the latest result under the plugin's lock and adds the
 * cairn_plugin_* self-metrics; it never waits on the plugin, so a hung
 * plugin cannot hold up a collection cycle. It fails (success 0) while the
 * plugin has no current result.
 *
 * Lifetime. A plugin record is reference-counted: the host's list, each
 * collector set and each scheduler instance of its collector hold one. The
 * supervisor is joined when the record leaves the host's list, so a record
 * that outlives it (a scheduler still holding it) only serves its last
 * published state.
 */
#include "plugins/host/host.h"

#include "cairn/plugin.h"
#include "plugins/host/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Failed Collects in a row after which a live plugin is restarted. */
#define RESTART_AFTER 3
/* How long a stopping plugin gets between SIGTERM and SIGKILL. */
#define STOP_GRACE_MS 2000

/* A plugin's configuration, deep-copied. */
struct pcfg {
    struct plg_plugin_cfg c; /* pointers into the fields below */
    char *name, *user;
    char **argv, **env; /* NULL-terminated, owned */
};

struct plugin {
    atomic_int refs;
    struct plg_collector col; /* .name = cfg.name */
    struct pcfg cfg;
    char *socket_root;
    int64_t default_interval_ms;
    void (*on_quarantine)(void *ctx, const char *plugin, const char *why);
    void *ctx;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* under lock */
    bool stop;
    bool quarantined;
    bool up;
    bool starting;            /* before the first start attempt finished */
    struct exp_builder *last; /* finished; NULL when the last Collect failed */
    uint64_t restarts;
    uint64_t failures_total; /* failed Collects and starts */
    uint64_t dropped_lines;  /* of processes already stopped */
    double duration;         /* of the last Collect, seconds */
    struct plg_rejects rej;
    char error[320];       /* why the plugin has no result, for the collector */
    struct plg_proc *proc; /* the supervisor's; read under lock for metrics */
};

struct plg_host {
    char *socket_root;
    int64_t default_interval_ms;
    void (*on_quarantine)(void *ctx, const char *plugin, const char *why);
    void *ctx;
    pthread_mutex_t lock;
    struct plugin **list; /* under lock */
    size_t n;
};

struct plg_host_collectors {
    struct plugin **plugins;
    const struct plg_collector **cols;
    size_t n;
};

bool plg_plugin_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '-')))
            return false;
    }
    return true;
}

/* ---- configuration copies ------------------------------------------------- */

static size_t strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static bool strv_eq(const char *const *a, const char *const *b)
{
    size_t n = strv_len(a);
    if (n != strv_len(b))
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]))
            return false;
    return true;
}

static void pcfg_free(struct pcfg *p)
{
    free(p->name);
    free(p->user);
    cn_strv_free(p->argv);
    cn_strv_free(p->env);
    memset(p, 0, sizeof(*p));
}

static int pcfg_copy(struct pcfg *dst, const struct plg_plugin_cfg *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->c = *src;
    dst->name = cn_strdup(src->name);
    dst->user = src->user ? cn_strdup(src->user) : NULL;
    dst->argv = cn_strv_dup(src->argv);
    dst->env = cn_strv_dup(src->env);
    if (!dst->name || (src->user && !dst->user) || !dst->argv || !dst->env) {
        pcfg_free(dst);
        return -ENOMEM;
    }
    dst->c.name = dst->name;
    dst->c.user = dst->user;
    dst->c.argv = (const char *const *)dst->argv;
    dst->c.env = (const char *const *)dst->env;
    return 0;
}

static bool pcfg_eq(const struct plg_plugin_cfg *a, const struct plg_plugin_cfg *b)
{
    return !strcmp(a->name, b->name) && strv_eq(a->argv, b->argv) && strv_eq(a->env, b->env) &&
           a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
           !strcmp(a->user ? a->user : "", b->user ? b->user : "") &&
           a->memory_limit == b->memory_limit && a->cpu_limit == b->cpu_limit &&
           a->max_series == b->max_series && a->max_message_bytes == b->max_message_bytes &&
           a->start_timeout_ms == b->start_timeout_ms &&
           a->restart_backoff_ms == b->restart_backoff_ms &&
           a->restart_backoff_max_ms == b->restart_backoff_max_ms &&
           a->max_failures == b->max_failures;
}

static int64_t or_default(int64_t v, int64_t def)
{
    return v > 0 ? v : def;
}

/* ---- one plugin run: start, handshake, connect, health, Info ---------------- */

/* A started plugin, ready to Collect. */
struct run {
    struct plg_proc *proc;
    struct plg_client *client;
    int64_t interval_ms, timeout_ms;
    char version[64];
    size_t nfamilies;
};

static void run_stop(struct run *r)
{
    plg_client_close(r->client);
    plg_proc_stop(r->proc, STOP_GRACE_MS);
    r->client = NULL;
    r->proc = NULL;
}

static int run_start(const struct plg_plugin_cfg *cfg, const char *socket_root,
                     int64_t default_interval_ms, struct run *r, char *err, size_t errcap)
{
    memset(r, 0, sizeof(*r));
    int64_t start_timeout = or_default(cfg->start_timeout_ms, PLG_HOST_START_TIMEOUT_MS);
    int64_t deadline = cn_mono_ns() / 1000000 + start_timeout;
    struct plg_handshake hs;
    int rc = plg_proc_start(cfg, socket_root, &r->proc, err, errcap);
    if (!rc)
        rc = plg_proc_handshake(r->proc, start_timeout, &hs, err, errcap);
    if (!rc)
        rc = plg_client_connect(hs.socket_path,
                                or_default(cfg->max_message_bytes, PLG_HOST_MAX_MESSAGE),
                                &r->client, err, errcap);
    /* The socket may take a moment to accept after the line is printed. */
    int64_t left = deadline - cn_mono_ns() / 1000000;
    if (!rc)
        rc = plg_client_health(r->client, left > 100 ? left : 100, err, errcap);
    Cairn__Plugin__V1__InfoResponse *info = NULL;
    left = deadline - cn_mono_ns() / 1000000;
    if (!rc)
        rc = plg_client_info(r->client, left > 100 ? left : 100, &info, err, errcap);
    if (!rc && info->protocol_version != CAIRN_PLUGIN_PROTOCOL_VERSION) {
        snprintf(err, errcap, "plugin speaks protocol version %u, this agent speaks %d",
                 info->protocol_version, CAIRN_PLUGIN_PROTOCOL_VERSION);
        rc = -EPROTO;
    }
    if (rc) {
        if (info)
            cairn__plugin__v1__info_response__free_unpacked(info, NULL);
        run_stop(r);
        return rc;
    }
    r->interval_ms =
        or_default(cfg->interval_ms, or_default(info->interval_ms, default_interval_ms));
    int64_t timeout =
        r->interval_ms < PLG_HOST_TIMEOUT_MAX_MS ? r->interval_ms : PLG_HOST_TIMEOUT_MAX_MS;
    r->timeout_ms = or_default(cfg->timeout_ms, timeout);
    snprintf(r->version, sizeof(r->version), "%s", info->version ? info->version : "");
    r->nfamilies = info->n_families;
    cairn__plugin__v1__info_response__free_unpacked(info, NULL);
    return 0;
}

/* One Collect into a new finished builder (*out, NULL on failure). */
static int run_collect(struct run *r, const struct plg_plugin_cfg *cfg, struct plg_rejects *rej,
                       struct exp_builder **out, char *err, size_t errcap)
{
    *out = NULL;
    int64_t now = cn_now_ms();
    Cairn__Plugin__V1__CollectResponse *resp = NULL;
    int rc = plg_client_collect(r->client, now, now + r->timeout_ms, &resp, err, errcap);
    if (rc)
        return rc;
    struct exp_builder *b = exp_builder_create();
    rc = b ? plg_adapt(resp->families, resp->n_families,
                       or_default(cfg->max_series, PLG_HOST_MAX_SERIES), b, rej)
           : -ENOMEM;
    cairn__plugin__v1__collect_response__free_unpacked(resp, NULL);
    if (rc) {
        exp_builder_unref(b);
        snprintf(err, errcap, "out of memory converting the response");
        return rc;
    }
    exp_builder_finish(b);
    *out = b;
    return 0;
}

/* ---- the supervisor ---------------------------------------------------------- */

static void plugin_unref(struct plugin *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    exp_builder_unref(p->last);
    pcfg_free(&p->cfg);
    free(p->socket_root);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

/* Waits ms (or until stop); returns whether the plugin is stopping. Lock held. */
static bool wait_locked(struct plugin *p, int64_t ms)
{
    struct timespec until = cn_realtime_after_ns(ms * 1000000);
    while (!p->stop)
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
            break;
    return p->stop;
}

/* Publishes a Collect's outcome: the new result (may be NULL) and why not. */
static void publish(struct plugin *p, struct exp_builder *b, bool up, const char *error)
{
    pthread_mutex_lock(&p->lock);
    p->starting = false;
    exp_builder_unref(p->last);
    p->last = b;
    p->up = up;
    snprintf(p->error, sizeof(p->error), "%s", error ? error : "");
    pthread_mutex_unlock(&p->lock);
}

static void log_plugin(enum cn_log_level lvl, struct plugin *p, const char *msg, const char *key,
                       const char *val)
{
    cn_log(lvl, "plugin", msg, "plugin", p->cfg.name, key, val, NULL);
}

/* Logs rejections when their first message changes, not every Collect. */
static void log_rejects(struct plugin *p, const struct plg_rejects *now, char *logged, size_t cap)
{
    if (!now->first[0] || !strcmp(logged, now->first))
        return;
    log_plugin(CN_LOG_WARN, p, "plugin output rejected", "reason", now->first);
    snprintf(logged, cap, "%s", now->first);
}

/* Collects on the interval until the plugin fails for good or must stop.
 * Returns true when it stops because the host asked. */
static bool supervise_run(struct plugin *p, struct run *r, int *failures)
{
    const struct plg_plugin_cfg *cfg = &p->cfg.c;
    int in_a_row = 0;
    char logged_err[256] = "", logged_rej[256] = "";
    int64_t next = cn_mono_ns() / 1000000;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int64_t wait = next - cn_mono_ns() / 1000000;
        bool stop = wait > 0 ? wait_locked(p, wait) : p->stop;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            return true;
        int64_t now = cn_mono_ns() / 1000000;
        next += r->interval_ms;
        if (next <= now)
            next = now + r->interval_ms; /* missed ticks are skipped */

        char status[128];
        if (plg_proc_exited(r->proc, status, sizeof(status))) {
            log_plugin(CN_LOG_ERROR, p, "plugin exited", "status", status);
            publish(p, NULL, false, status);
            return false;
        }
        char err[256] = "";
        struct plg_rejects rej = {0};
        struct exp_builder *b = NULL;
        int64_t t0 = cn_mono_ns();
        int rc = run_collect(r, cfg, &rej, &b, err, sizeof(err));
        double dur = (double)(cn_mono_ns() - t0) / 1e9;
        pthread_mutex_lock(&p->lock);
        p->duration = dur;
        for (int i = 0; i < PLG_REJECT_COUNT; i++)
            p->rej.count[i] += rej.count[i];
        if (rc)
            p->failures_total++;
        pthread_mutex_unlock(&p->lock);
        if (!rc) {
            log_rejects(p, &rej, logged_rej, sizeof(logged_rej));
            if (logged_err[0])
                log_plugin(CN_LOG_INFO, p, "plugin recovered", "version", r->version);
            logged_err[0] = '\0';
            publish(p, b, true, NULL);
            in_a_row = 0;
            *failures = 0;
            continue;
        }
        char why[300];
        snprintf(why, sizeof(why), "collect failed: %s", err);
        publish(p, NULL, true, why);
        if (strcmp(logged_err, err)) {
            log_plugin(CN_LOG_WARN, p, "plugin collect failed", "err", err);
            snprintf(logged_err, sizeof(logged_err), "%s", err);
        }
        if (plg_proc_exited(r->proc, status, sizeof(status))) {
            log_plugin(CN_LOG_ERROR, p, "plugin exited", "status", status);
            publish(p, NULL, false, status);
            return false;
        }
        char herr[256] = "";
        if (plg_client_health(r->client, r->timeout_ms, herr, sizeof(herr))) {
            log_plugin(CN_LOG_ERROR, p, "plugin failed its health check", "err", herr);
            publish(p, NULL, false, herr);
            return false;
        }
        if (++in_a_row >= RESTART_AFTER) {
            log_plugin(CN_LOG_ERROR, p, "plugin failed too many collects in a row; restarting",
                       "err", err);
            publish(p, NULL, false, why);
            return false;
        }
    }
}

static void *supervisor_main(void *arg)
{
    struct plugin *p = arg;
    const struct plg_plugin_cfg *cfg = &p->cfg.c;
    int64_t backoff0 = or_default(cfg->restart_backoff_ms, PLG_HOST_BACKOFF_MS);
    int64_t backoff_max = or_default(cfg->restart_backoff_max_ms, PLG_HOST_BACKOFF_MAX_MS);
    int max_failures = cfg->max_failures > 0 ? cfg->max_failures : PLG_HOST_MAX_FAILURES;
    int64_t backoff = backoff0;
    int failures = 0;
    bool first = true;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool stop = p->stop;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        if (!first) {
            pthread_mutex_lock(&p->lock);
            p->restarts++;
            pthread_mutex_unlock(&p->lock);
        }
        first = false;
        struct run r;
        char err[256] = "";
        int rc = run_start(cfg, p->socket_root, p->default_interval_ms, &r, err, sizeof(err));
        bool stopping = false;
        if (rc) {
            log_plugin(CN_LOG_ERROR, p, "plugin failed to start", "err", err);
            pthread_mutex_lock(&p->lock);
            p->failures_total++;
            pthread_mutex_unlock(&p->lock);
            publish(p, NULL, false, err);
        } else {
            char pid[24];
            snprintf(pid, sizeof(pid), "%ld", (long)plg_proc_pid(r.proc));
            cn_log(CN_LOG_INFO, "plugin", "plugin started", "plugin", cfg->name, "pid", pid,
                   "version", r.version, NULL);
            pthread_mutex_lock(&p->lock);
            p->proc = r.proc;
            pthread_mutex_unlock(&p->lock);
            stopping = supervise_run(p, &r, &failures);
            if (failures == 0)
                backoff = backoff0; /* it collected successfully in between */
            pthread_mutex_lock(&p->lock);
            p->proc = NULL;
            p->dropped_lines += plg_proc_dropped_lines(r.proc);
            pthread_mutex_unlock(&p->lock);
            run_stop(&r);
        }
        if (stopping)
            break;
        if (++failures >= max_failures) {
            char n[16];
            snprintf(n, sizeof(n), "%d", failures);
            cn_log(CN_LOG_ERROR, "plugin",
                   "plugin quarantined after repeated failures; it stays stopped until the next "
                   "reload",
                   "plugin", cfg->name, "failures", n, NULL);
            pthread_mutex_lock(&p->lock);
            p->quarantined = true;
            snprintf(p->error, sizeof(p->error), "quarantined after %d failed runs", failures);
            if (p->on_quarantine) {
                char why[320];
                memcpy(why, p->error, sizeof(why));
                pthread_mutex_unlock(&p->lock);
                p->on_quarantine(p->ctx, cfg->name, why);
                pthread_mutex_lock(&p->lock);
            }
            while (!p->stop)
                pthread_cond_wait(&p->cond, &p->lock);
            pthread_mutex_unlock(&p->lock);
            break;
        }
        pthread_mutex_lock(&p->lock);
        stop = wait_locked(p, backoff);
        pthread_mutex_unlock(&p->lock);
        backoff = backoff * 2 < backoff_max ? backoff * 2 : backoff_max;
        if (stop)
            break;
    }
    publish(p, NULL, false, "stopped");
    return NULL;
}

/* ---- the collector ------------------------------------------------------------ */

static int adapter_init(const struct plg_config *cfg, void **state)
{
    struct plugin *p = (struct plugin *)((char *)cfg->collector - offsetof(struct plugin, col));
    atomic_fetch_add(&p->refs, 1);
    *state = p;
    return 0;
}

static void adapter_destroy(void *state)
{
    plugin_unref(state);
}

/* Copies the families of a finished builder into b. */
static void copy_families(struct exp_builder *b, const struct exp_builder *src)
{
    size_t nf, cap = 0;
    const char **names = NULL, **values = NULL;
    struct exp_family *const *fams = exp_builder_families(src, &nf);
    for (size_t i = 0; i < nf; i++) {
        const struct exp_family *sf = fams[i];
        struct exp_family *f = exp_family(b, sf->name, sf->help, sf->type);
        for (uint32_t j = 0; f && j < sf->nseries; j++) {
            const struct exp_series *s = &sf->series[j];
            if (s->nlabels > cap) {
                free(names);
                free(values);
                cap = s->nlabels;
                names = cn_calloc(cap, sizeof(*names));
                values = cn_calloc(cap, sizeof(*values));
                if (!names || !values) {
                    cap = 0;
                    continue;
                }
            }
            for (uint32_t k = 0; k < s->nlabels; k++) {
                names[k] = s->labels[k].name;
                values[k] = s->labels[k].value;
            }
            struct exp_series *d = exp_addv(b, f, s->value, (int)s->nlabels, names, values);
            if (d && s->nbuckets)
                exp_set_buckets(b, d, s->buckets, s->nbuckets, s->sum, s->count);
            else if (d && (sf->type == EXP_HISTOGRAM || sf->type == EXP_SUMMARY))
                exp_set_buckets(b, d, NULL, 0, s->sum, s->count);
            if (d)
                d->timestamp_ms = s->timestamp_ms;
        }
    }
    free(names);
    free(values);
}

static int adapter_collect(void *state, struct plg_collect *c)
{
    struct plugin *p = state;
    const char *name = p->cfg.name;
    pthread_mutex_lock(&p->lock);
    if (p->last)
        copy_families(c->b, p->last);
    bool ok = p->last != NULL;
    char error[sizeof(p->error)];
    memcpy(error, p->error, sizeof(error));
    struct exp_family *f;
    exp_gauge(c->b, "cairn_plugin_up",
              "Whether the plugin's process runs and passed its handshake and health check.",
              p->up ? 1 : 0, 1, "plugin", name);
    exp_gauge(c->b, "cairn_plugin_quarantined",
              "Whether the plugin failed too often and stays stopped until the next reload.",
              p->quarantined ? 1 : 0, 1, "plugin", name);
    exp_counter(c->b, "cairn_plugin_restarts_total", "Times the plugin was restarted.",
                (double)p->restarts, 1, "plugin", name);
    exp_counter(c->b, "cairn_plugin_failures_total",
                "Failed starts and Collect calls of the plugin.", (double)p->failures_total, 1,
                "plugin", name);
    exp_gauge(c->b, "cairn_plugin_collect_duration_seconds",
              "Duration of the plugin's last Collect call.", p->duration, 1, "plugin", name);
    uint64_t dropped = p->dropped_lines + (p->proc ? plg_proc_dropped_lines(p->proc) : 0);
    exp_counter(c->b, "cairn_plugin_log_lines_dropped_total",
                "Lines of plugin output not logged because of the rate limit.", (double)dropped, 1,
                "plugin", name);
    f = exp_family(c->b, "cairn_plugin_rejected_series_total",
                   "Series of the plugin's output rejected by validation, by reason.", EXP_COUNTER);
    for (int i = 0; i < PLG_REJECT_COUNT; i++)
        exp_add(c->b, f, (double)p->rej.count[i], 2, "plugin", name, "reason",
                plg_reject_name((enum plg_reject)i));
    bool starting = p->starting;
    pthread_mutex_unlock(&p->lock);
    if (ok)
        return 0;
    if (starting) /* not a failure worth a warning yet */
        return plg_nodata(c, "plugin %s is starting", name);
    return plg_fail(c, -EIO, "plugin %s: %s", name, error[0] ? error : "no result");
}

/* ---- the host ------------------------------------------------------------------- */

static int plugin_create(struct plg_host *h, const struct plg_plugin_cfg *cfg, struct plugin **out)
{
    struct plugin *p = cn_calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    if (pcfg_copy(&p->cfg, cfg) || !(p->socket_root = cn_strdup(h->socket_root))) {
        pcfg_free(&p->cfg);
        free(p);
        return -ENOMEM;
    }
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->default_interval_ms = h->default_interval_ms;
    p->on_quarantine = h->on_quarantine;
    p->ctx = h->ctx;
    p->starting = true;
    p->col = (struct plg_collector){.name = p->cfg.name,
                                    .default_enabled = true,
                                    .init = adapter_init,
                                    .collect = adapter_collect,
                                    .destroy = adapter_destroy};
    *out = p;
    return 0;
}

static int plugin_start(struct plugin *p)
{
    int rc = pthread_create(&p->thread, NULL, supervisor_main, p);
    if (rc)
        return -rc;
    p->thread_started = true;
    return 0;
}

static void plugin_signal_stop(struct plugin *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void plugin_join(struct plugin *p)
{
    if (p->thread_started)
        pthread_join(p->thread, NULL);
    p->thread_started = false;
}

int plg_host_create(const struct plg_host_opts *opts, struct plg_host **out)
{
    struct plg_host *h = cn_calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    const char *root = opts->socket_root;
    if (!root)
        root = getenv("TMPDIR");
    if (!root || !root[0])
        root = "/tmp";
    h->socket_root = cn_strdup(root);
    if (!h->socket_root) {
        free(h);
        return -ENOMEM;
    }
    h->default_interval_ms = opts->default_interval_ms > 0 ? opts->default_interval_ms : 15000;
    h->on_quarantine = opts->on_quarantine;
    h->ctx = opts->ctx;
    pthread_mutex_init(&h->lock, NULL);
    *out = h;
    return 0;
}

int plg_host_apply(struct plg_host *h, const struct plg_plugin_cfg *cfgs, size_t n)
{
    struct plugin **next = cn_calloc(n + 1, sizeof(*next));
    bool *fresh = cn_calloc(n + 1, sizeof(*fresh));
    if (!next || !fresh) {
        free(next);
        free(fresh);
        return -ENOMEM;
    }
    pthread_mutex_lock(&h->lock);
    struct plugin **old = h->list;
    size_t nold = h->n;
    bool *kept = cn_calloc(nold + 1, sizeof(*kept));
    int rc = kept ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        for (size_t j = 0; j < nold; j++) {
            bool quarantined;
            pthread_mutex_lock(&old[j]->lock);
            quarantined = old[j]->quarantined;
            pthread_mutex_unlock(&old[j]->lock);
            bool same_default =
                cfgs[i].interval_ms > 0 || old[j]->default_interval_ms == h->default_interval_ms;
            if (!kept[j] && !quarantined && same_default && pcfg_eq(&old[j]->cfg.c, &cfgs[i])) {
                kept[j] = true;
                next[i] = old[j];
                break;
            }
        }
        if (!next[i]) {
            rc = plugin_create(h, &cfgs[i], &next[i]);
            fresh[i] = true;
        }
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            if (fresh[i])
                plugin_unref(next[i]);
        pthread_mutex_unlock(&h->lock);
        free(next);
        free(fresh);
        free(kept);
        return rc;
    }
    h->list = next;
    h->n = n;
    pthread_mutex_unlock(&h->lock);

    /* Stop the removed and replaced plugins together, then start the new. */
    for (size_t j = 0; j < nold; j++)
        if (!kept[j]) {
            log_plugin(CN_LOG_INFO, old[j], "stopping plugin", "reason",
                       "removed, changed or quarantined");
            plugin_signal_stop(old[j]);
        }
    for (size_t j = 0; j < nold; j++)
        if (!kept[j]) {
            plugin_join(old[j]);
            plugin_unref(old[j]);
        }
    for (size_t i = 0; i < n; i++)
        if (fresh[i] && (rc = plugin_start(next[i])))
            log_plugin(CN_LOG_ERROR, next[i], "cannot start the plugin's thread", "err",
                       strerror(-rc));
    free(old);
    free(fresh);
    free(kept);
    return 0;
}

void plg_host_set_default_interval(struct plg_host *h, int64_t ms)
{
    pthread_mutex_lock(&h->lock);
    if (ms > 0)
        h->default_interval_ms = ms;
    pthread_mutex_unlock(&h->lock);
}

int plg_host_collectors(struct plg_host *h, struct plg_host_collectors **set,
                        const struct plg_collector *const **cols, size_t *n)
{
    struct plg_host_collectors *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    pthread_mutex_lock(&h->lock);
    s->plugins = cn_calloc(h->n + 1, sizeof(*s->plugins));
    s->cols = cn_calloc(h->n + 1, sizeof(*s->cols));
    if (!s->plugins || !s->cols) {
        pthread_mutex_unlock(&h->lock);
        free(s->plugins);
        free(s->cols);
        free(s);
        return -ENOMEM;
    }
    for (size_t i = 0; i < h->n; i++) {
        atomic_fetch_add(&h->list[i]->refs, 1);
        s->plugins[i] = h->list[i];
        s->cols[i] = &h->list[i]->col;
    }
    s->n = h->n;
    pthread_mutex_unlock(&h->lock);
    *set = s;
    *cols = s->cols;
    *n = s->n;
    return 0;
}

void plg_host_collectors_release(struct plg_host_collectors *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        plugin_unref(set->plugins[i]);
    free(set->plugins);
    free(set->cols);
    free(set);
}

void plg_host_destroy(struct plg_host *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        plugin_signal_stop(h->list[i]);
    for (size_t i = 0; i < h->n; i++) {
        plugin_join(h->list[i]);
        plugin_unref(h->list[i]);
    }
    free(h->list);
    free(h->socket_root);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* ---- cairn plugin check --------------------------------------------------------- */

int plg_host_check(const struct plg_plugin_cfg *cfg, const char *socket_root, char *info,
                   size_t infocap, struct exp_builder *b, struct cn_buf *rejects, char *err,
                   size_t errcap)
{
    if (!socket_root)
        socket_root = getenv("TMPDIR");
    if (!socket_root || !socket_root[0])
        socket_root = "/tmp";
    struct run r;
    int rc = run_start(cfg, socket_root, 15000, &r, err, errcap);
    if (rc)
        return rc;
    if (info)
        snprintf(info, infocap, "%s %s, protocol %d, interval %.3gs, %zu families offered",
                 cfg->name, r.version[0] ? r.version : "(no version)",
                 CAIRN_PLUGIN_PROTOCOL_VERSION, (double)r.interval_ms / 1000.0, r.nfamilies);
    struct plg_rejects rej = {0};
    struct exp_builder *got = NULL;
    rc = run_collect(&r, cfg, &rej, &got, err, errcap);
    run_stop(&r);
    if (rc)
        return rc;
    copy_families(b, got);
    exp_builder_unref(got);
    for (int i = 0; rejects && i < PLG_REJECT_COUNT; i++)
        if (rej.count[i])
            cn_buf_printf(rejects, "%s: %llu series\n", plg_reject_name((enum plg_reject)i),
                          (unsigned long long)rej.count[i]);
    if (rejects && rej.first[0])
        cn_buf_printf(rejects, "first: %s\n", rej.first);
    return 0;
}
