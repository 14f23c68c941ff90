/*
 * The event service: every event enters here, waits in one bounded queue,
 * and is written to the store by one writer thread, once per flush
 * interval, in one transaction.
 *
 * Threads.
 * - The writer starts by opening the store (sqlite's quick_check reads the
 *   whole file, seconds for a large store, so the agent does not wait for
 *   it), running the Reboot check and reading the kernel log bookmark;
 *   until then the follower waits and queries answer "not available".
 * - Producers (the kmsg follower, the checker, the agent, plugins) call
 *   evt_service_submit: it counts the event in node_events_total and puts
 *   it in the queue under a short mutex, or drops and counts it when the
 *   queue is full. Nothing a producer does waits for sqlite, so a stuck
 *   disk or a burst of 100,000 kernel lines never holds up collection.
 * - The writer swaps the queue's contents out under the mutex and inserts
 *   them outside it. A locked database (-EBUSY) keeps the batch for the
 *   next flush, as long as it fits in the queue's capacity; any other
 *   failure (a full disk) drops the batch and counts it. A store that is
 *   not open (unwritable location at start) is retried every flush
 *   interval; meanwhile events are counted and dropped. After each flush
 *   the writer runs one bounded retention step.
 * - The follower reads kernel log records, matches them against the rules
 *   and submits what matches. Its bookmark (the last sequence number
 *   handled, with the boot id and source it belongs to) is written in the
 *   same transaction as the events it produced, so a restart in the same
 *   boot neither repeats nor skips records: the bookmark is advanced only
 *   after the record's event is queued, and the writer takes queue and
 *   bookmark together under the mutex.
 * - The checker runs the periodic checks (checks.c) every check interval.
 *
 * Readers (evt_service_query) go to the store's own read connections under
 * a read lock that only the writer's (re)opening of the store excludes.
 */
#include "events/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "exporter/exporter.h"

#define DEFAULT_QUEUE 65536
#define DEFAULT_FLUSH_MS 1000
#define RETAIN_BUDGET 5000
/* Distinct (source, type, severity) counters kept; past it events still
 * flow but count under type "Other". */
#define MAX_COUNTERS 1024
#define KMSG_POLL_MS 200
#define KMSG_RETRY_MS 5000

struct counter {
    enum evt_source source;
    enum evt_severity severity;
    char type[EVT_TYPE_MAX + 1];
    uint64_t n;
};

struct evt_service {
    /* Settings (owned copies). */
    char *db_path, *kmsg_path, *procfs, *sysfs;
    int64_t retention_ns;
    uint64_t retention_count, max_pages;
    int64_t flush_ms, check_ms;
    size_t qcap;
    char boot_id[64];
    int64_t boot_wall_ns; /* wall clock at boot, for kmsg timestamps */
    /* Where the kernel log was left in this boot, from the store. */
    bool resume;
    uint64_t resume_seq;

    pthread_mutex_t lock;
    pthread_cond_t wake; /* the writer: a flush is wanted, or stop */
    pthread_cond_t done; /* flush waiters: progress was made */
    /* Under lock. */
    bool stop;
    bool ready;              /* the writer's first open attempt and boot check are done */
    struct evt_event *queue; /* ring of qcap */
    size_t qhead, qlen;
    uint64_t accepted;  /* events ever queued */
    uint64_t finished;  /* of those, written or dropped */
    uint64_t flush_req; /* flushes asked for */
    uint64_t kmsg_seq;  /* bookmark: last record handled */
    bool kmsg_have_seq;
    uint64_t kmsg_sync_req, kmsg_sync_done; /* "read to the end" requests */
    bool kmsg_active;                       /* a follower has its source open */
    struct evt_rules *rules;                /* current set */
    uint64_t rules_gen;
    struct counter *counters;
    size_t ncounters;
    struct evt_service_stats st;
    uint64_t kernel_ooms; /* OOMKill events from the kernel log */

    /* The store: replaced only by the writer, under store_lock. */
    pthread_rwlock_t store_lock;
    struct evt_store *store;
    char store_problem[256]; /* last logged cause, to log once */

    pthread_t writer, follower, checker;
    bool have_writer, have_follower, have_checker;
};

/* ---- counters ------------------------------------------------------------------ */

/* Adds n to the counter of this kind (created at 0 if new); under
 * s->lock. */
static void count_event(struct evt_service *s, enum evt_source src, enum evt_severity sev,
                        const char *type, uint64_t n)
{
    for (size_t i = 0; i < s->ncounters; i++) {
        struct counter *c = &s->counters[i];
        if (c->source == src && c->severity == sev && !strcmp(c->type, type)) {
            c->n += n;
            return;
        }
    }
    if (s->ncounters == MAX_COUNTERS) {
        if (strcmp(type, "Other"))
            count_event(s, src, sev, "Other", n);
        return;
    }
    struct counter *c = &s->counters[s->ncounters++];
    c->source = src;
    c->severity = sev;
    snprintf(c->type, sizeof(c->type), "%s", type);
    c->n = n;
}

/* The kinds of events the checks and the agent make (see checks.c and the
 * agent), counted from 0. */
static const struct {
    const char *type;
    enum evt_source source;
    enum evt_severity severity;
} known_kinds[] = {
    {"Reboot", EVT_SRC_OS, EVT_SEV_WARNING},
    {"KernelPanicPrevious", EVT_SRC_KERNEL, EVT_SEV_CRITICAL},
    {"OOMKill", EVT_SRC_OS, EVT_SEV_WARNING},
    {"EDACCorrectable", EVT_SRC_HARDWARE, EVT_SEV_WARNING},
    {"EDACUncorrectable", EVT_SRC_HARDWARE, EVT_SEV_CRITICAL},
    {"ThermalThrottle", EVT_SRC_HARDWARE, EVT_SEV_WARNING},
    {"LinkDown", EVT_SRC_HARDWARE, EVT_SEV_WARNING},
    {"LinkUp", EVT_SRC_HARDWARE, EVT_SEV_INFO},
    {"FilesystemReadOnly", EVT_SRC_OS, EVT_SEV_CRITICAL},
    {"AgentStarted", EVT_SRC_AGENT, EVT_SEV_INFO},
    {"AgentStopped", EVT_SRC_AGENT, EVT_SEV_INFO},
    {"ConfigReloaded", EVT_SRC_AGENT, EVT_SEV_INFO},
    {"ConfigReloadFailed", EVT_SRC_AGENT, EVT_SEV_WARNING},
    {"PluginQuarantined", EVT_SRC_AGENT, EVT_SEV_WARNING},
    {"BlockCorrupt", EVT_SRC_AGENT, EVT_SEV_CRITICAL},
    {"EventStoreCorrupt", EVT_SRC_AGENT, EVT_SEV_WARNING},
};

/* Creates the counters of every kind rules (may be NULL) can make; under
 * s->lock. */
static void seed_counters(struct evt_service *s, const struct evt_rules *rules)
{
    for (size_t i = 0; rules && i < evt_rules_count(rules); i++) {
        const char *type;
        enum evt_severity sev;
        enum evt_source src;
        evt_rules_kind(rules, i, &type, &sev, &src);
        count_event(s, src, sev, type, 0);
    }
}

/* ---- intake ------------------------------------------------------------------------ */

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Queues ev (taking its contents); under s->lock. */
static bool enqueue_locked(struct evt_service *s, struct evt_event *ev)
{
    if (!ev->ts_ns)
        ev->ts_ns = wall_ns();
    if (!ev->type[0])
        strcpy(ev->type, "Unknown");
    s->st.submitted++;
    count_event(s, ev->source, ev->severity, ev->type, 1);
    if (ev->source == EVT_SRC_KERNEL && !strcmp(ev->type, "OOMKill"))
        s->kernel_ooms++;
    if (s->qlen == s->qcap) {
        s->st.dropped_queue++;
        evt_event_clear(ev);
        return false;
    }
    struct evt_event *slot = &s->queue[(s->qhead + s->qlen) % s->qcap];
    *slot = *ev;
    memset(ev, 0, sizeof(*ev));
    s->qlen++;
    s->accepted++;
    return true;
}

bool evt_service_submit(struct evt_service *s, struct evt_event *ev)
{
    pthread_mutex_lock(&s->lock);
    bool ok = enqueue_locked(s, ev);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

bool evt_service_agent_event(struct evt_service *s, const char *type, enum evt_severity sev,
                             const char *message, ...)
{
    if (!s)
        return false;
    struct evt_event ev;
    evt_event_init(&ev);
    va_list ap;
    va_start(ap, message);
    int rc = evt_event_vfill(&ev, 0, EVT_SRC_AGENT, sev, type, message, ap);
    va_end(ap);
    return !rc && evt_service_submit(s, &ev);
}

/* Emit callback of the periodic checks. */
static void emit_event(void *ctx, struct evt_event *ev)
{
    evt_service_submit(ctx, ev);
}

/* ---- the writer ---------------------------------------------------------------------- */

/* Logs a store problem once per distinct cause. */
static void store_problem(struct evt_service *s, const char *msg, const char *err)
{
    char cause[256];
    snprintf(cause, sizeof(cause), "%s: %s", msg, err);
    if (!strcmp(cause, s->store_problem))
        return;
    snprintf(s->store_problem, sizeof(s->store_problem), "%s", cause);
    cn_log(CN_LOG_ERROR, "events", msg, "path", s->db_path, "err", err, NULL);
}

/* Opens the store (writer thread); on success reads the bookmarks. */
static void open_store(struct evt_service *s)
{
    struct evt_store_opts o = {.path = s->db_path,
                               .retention_ns = s->retention_ns,
                               .retention_count = s->retention_count,
                               .max_pages = s->max_pages};
    struct evt_store_open_info info;
    memset(&info, 0, sizeof(info));
    char err[512] = "";
    struct evt_store *st = NULL;
    int rc = evt_store_open(&o, &st, &info, err, sizeof(err));
    if (rc) {
        pthread_mutex_lock(&s->lock);
        s->st.store_errors++;
        pthread_mutex_unlock(&s->lock);
        store_problem(s, "cannot open the event store; events are counted but not kept",
                      err[0] ? err : strerror(-rc));
        return;
    }
    s->store_problem[0] = '\0';
    if (info.recovered) {
        cn_log(CN_LOG_ERROR, "events",
               "event store was corrupt; set it aside and started a new one", "path", s->db_path,
               "moved_to", info.moved_to, "problem", info.problem, NULL);
        evt_service_agent_event(s, "EventStoreCorrupt", EVT_SEV_WARNING,
                                "the event store was corrupt; it was set aside and a new one "
                                "started",
                                "path", s->db_path, "moved_to", info.moved_to, "problem",
                                info.problem, NULL);
    }
    pthread_rwlock_wrlock(&s->store_lock);
    s->store = st;
    pthread_rwlock_unlock(&s->store_lock);
}

/* Takes the queue's contents (up to qcap) into batch; under s->lock. */
static size_t take_queue(struct evt_service *s, struct evt_event *batch, size_t have)
{
    size_t n = have;
    while (s->qlen && n < s->qcap) {
        batch[n++] = s->queue[s->qhead];
        memset(&s->queue[s->qhead], 0, sizeof(s->queue[s->qhead]));
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
    }
    return n;
}

static void clear_batch(struct evt_event *batch, size_t n)
{
    for (size_t i = 0; i < n; i++)
        evt_event_clear(&batch[i]);
}

/*
 * One flush: writes what is queued (and what a locked database left over)
 * with the bookmarks. Returns the number of events still held for retry.
 */
static size_t flush_once(struct evt_service *s, struct evt_event *batch, size_t held)
{
    pthread_mutex_lock(&s->lock);
    size_t n = take_queue(s, batch, held);
    bool have_seq = s->kmsg_have_seq;
    uint64_t seq = s->kmsg_seq;
    pthread_mutex_unlock(&s->lock);

    if (!s->store && s->db_path)
        open_store(s);
    if (!s->store) {
        pthread_mutex_lock(&s->lock);
        s->st.dropped_store += n;
        s->finished += n;
        pthread_cond_broadcast(&s->done);
        pthread_mutex_unlock(&s->lock);
        clear_batch(batch, n);
        return 0;
    }

    char seqs[24];
    snprintf(seqs, sizeof(seqs), "%" PRIu64, seq);
    struct evt_meta meta[4] = {{"boot_id", s->boot_id}};
    size_t nmeta = s->boot_id[0] ? 1 : 0;
    if (have_seq && s->kmsg_path) {
        meta[nmeta++] = (struct evt_meta){"kmsg_seq", seqs};
        meta[nmeta++] = (struct evt_meta){"kmsg_source", s->kmsg_path};
    }
    char err[512] = "";
    int rc = evt_store_insert(s->store, batch, n, meta, nmeta, err, sizeof(err));
    size_t keep = 0;
    pthread_mutex_lock(&s->lock);
    if (rc == 0) {
        s->st.stored += n;
        s->finished += n;
    } else {
        s->st.store_errors++;
        if (rc == -EBUSY && n < s->qcap) {
            keep = n; /* locked by another process: try again next flush */
        } else {
            s->st.dropped_store += n;
            s->finished += n;
        }
    }
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0) {
        s->store_problem[0] = '\0';
    } else {
        store_problem(s,
                      rc == -EBUSY ? "event store is locked; keeping the events for the next flush"
                                   : "cannot write to the event store; events dropped",
                      err[0] ? err : strerror(-rc));
    }
    if (!keep)
        clear_batch(batch, n);
    if (rc == 0) {
        uint64_t deleted = 0;
        bool more = false;
        evt_store_retain(s->store, wall_ns(), RETAIN_BUDGET, &deleted, &more);
    }
    return keep;
}

static void check_boot(struct evt_service *s);

static void *writer_main(void *arg)
{
    struct evt_service *s = arg;
    struct evt_event *batch = cn_calloc(s->qcap, sizeof(*batch));
    size_t held = 0;
    if (s->db_path)
        open_store(s);
    check_boot(s);
    pthread_mutex_lock(&s->lock);
    s->ready = true;
    pthread_cond_broadcast(&s->done);
    for (;;) {
        uint64_t req = s->flush_req;
        bool stopping = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (batch)
            held = flush_once(s, batch, held);
        pthread_mutex_lock(&s->lock);
        if (stopping)
            break;
        if (s->flush_req != req || s->stop)
            continue;
        struct timespec until = cn_realtime_after_ns(s->flush_ms * 1000000);
        while (!s->stop && s->flush_req == req)
            if (pthread_cond_timedwait(&s->wake, &s->lock, &until) == ETIMEDOUT)
                break;
    }
    /* Events that never made it are dropped and counted. */
    s->st.dropped_store += held;
    s->finished += held;
    pthread_mutex_unlock(&s->lock);
    if (batch) {
        clear_batch(batch, held);
        free(batch);
    }
    return NULL;
}

/* ---- the kmsg follower ---------------------------------------------------------------- */

static bool stopping(struct evt_service *s)
{
    pthread_mutex_lock(&s->lock);
    bool stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

/* Sleeps ms unless stop comes first. */
static void nap(struct evt_service *s, int64_t ms)
{
    struct timespec until = cn_realtime_after_ns(ms * 1000000);
    pthread_mutex_lock(&s->lock);
    while (!s->stop)
        if (pthread_cond_timedwait(&s->wake, &s->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->lock);
}

/* Copies the follower's counters into the service's stats; under lock. */
static void kmsg_stats_locked(struct evt_service *s, const struct evt_kmsg *k,
                              struct evt_kmsg_stats *base)
{
    struct evt_kmsg_stats ks;
    evt_kmsg_stats(k, &ks);
    s->st.kmsg_records = base->records + ks.records;
    s->st.kmsg_gaps = base->gaps + ks.gaps;
    s->st.kmsg_malformed = base->malformed + ks.malformed;
    s->st.kmsg_truncated = base->truncated + ks.truncated;
    s->st.kmsg_reopened = base->reopened + ks.reopened;
}

/* Turns one record into an event if a rule matches, and queues it with the
 * bookmark advanced. */
static void handle_record(struct evt_service *s, struct evt_rules_matcher *m,
                          const struct evt_kmsg_record *rec)
{
    struct evt_event ev;
    evt_event_init(&ev);
    int hit = m ? evt_rules_match(m, rec->msg, rec->msglen, &ev) : 0;
    if (hit == 1) {
        ev.ts_ns = s->boot_wall_ns + rec->ts_usec * 1000;
        if (rec->subsystem[0] && !evt_event_attr(&ev, "subsystem"))
            evt_event_set_attr(&ev, "subsystem", rec->subsystem, strlen(rec->subsystem));
        if (rec->device[0] && !evt_event_attr(&ev, "device"))
            evt_event_set_attr(&ev, "device", rec->device, strlen(rec->device));
    }
    pthread_mutex_lock(&s->lock);
    if (hit == 1)
        enqueue_locked(s, &ev);
    s->kmsg_seq = rec->seq;
    s->kmsg_have_seq = true;
    pthread_mutex_unlock(&s->lock);
    evt_event_clear(&ev);
}

static void *follower_main(void *arg)
{
    struct evt_service *s = arg;
    struct evt_kmsg_record *rec = cn_malloc(sizeof(*rec));
    struct evt_kmsg *k = NULL;
    struct evt_kmsg_stats base = {0};
    struct evt_rules_matcher *m = NULL;
    uint64_t gen = 0;
    bool logged = false;
    if (!rec)
        return NULL;
    pthread_mutex_lock(&s->lock);
    while (!s->ready && !s->stop)
        pthread_cond_wait(&s->done, &s->lock);
    pthread_mutex_unlock(&s->lock);
    while (!stopping(s)) {
        if (!k) {
            char err[512];
            int rc = evt_kmsg_open(s->kmsg_path, &k, err, sizeof(err));
            if (rc) {
                if (!logged)
                    cn_log(CN_LOG_WARN, "events", "cannot read the kernel log; retrying", "err",
                           err, NULL);
                logged = true;
                /* Flush waiters must not wait for a source that is not there. */
                pthread_mutex_lock(&s->lock);
                s->kmsg_active = false;
                s->kmsg_sync_done = s->kmsg_sync_req;
                pthread_cond_broadcast(&s->done);
                pthread_mutex_unlock(&s->lock);
                nap(s, KMSG_RETRY_MS);
                continue;
            }
            logged = false;
            /* Skip what was handled: by this run (a reopen after a read
             * error), else by the last one in this boot (the store's). */
            pthread_mutex_lock(&s->lock);
            if (s->kmsg_have_seq)
                evt_kmsg_resume(k, s->kmsg_seq);
            else if (s->resume)
                evt_kmsg_resume(k, s->resume_seq);
            s->kmsg_active = true;
            pthread_mutex_unlock(&s->lock);
        }
        pthread_mutex_lock(&s->lock);
        if (s->rules_gen != gen) {
            evt_rules_matcher_destroy(m);
            m = NULL;
            if (s->rules && evt_rules_matcher_create(s->rules, &m))
                m = NULL;
            gen = s->rules_gen;
        }
        uint64_t sync = s->kmsg_sync_req;
        pthread_mutex_unlock(&s->lock);

        int rc = evt_kmsg_next(k, KMSG_POLL_MS, rec);
        if (rc == 1)
            handle_record(s, m, rec);
        pthread_mutex_lock(&s->lock);
        kmsg_stats_locked(s, k, &base);
        if (rc == 0 && s->kmsg_sync_done < sync) {
            s->kmsg_sync_done = sync;
            pthread_cond_broadcast(&s->done);
        }
        pthread_mutex_unlock(&s->lock);
        if (rc < 0) {
            cn_log(CN_LOG_WARN, "events", "kernel log read failed; reopening", "path", s->kmsg_path,
                   "err", strerror(-rc), NULL);
            struct evt_kmsg_stats ks;
            evt_kmsg_stats(k, &ks);
            base.records += ks.records;
            base.gaps += ks.gaps;
            base.malformed += ks.malformed;
            base.truncated += ks.truncated;
            base.reopened += ks.reopened + 1;
            evt_kmsg_close(k);
            k = NULL;
            nap(s, KMSG_POLL_MS);
        }
    }
    evt_kmsg_close(k);
    evt_rules_matcher_destroy(m);
    free(rec);
    pthread_mutex_lock(&s->lock);
    s->kmsg_active = false;
    s->kmsg_sync_done = s->kmsg_sync_req;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- the checker ------------------------------------------------------------------------ */

static void *checker_main(void *arg)
{
    struct evt_service *s = arg;
    struct evt_checks *c = NULL;
    if (evt_checks_create(s->procfs, s->sysfs, &c))
        return NULL;
    while (!stopping(s)) {
        pthread_mutex_lock(&s->lock);
        uint64_t ooms = s->kernel_ooms;
        pthread_mutex_unlock(&s->lock);
        evt_checks_run(c, wall_ns(), ooms, emit_event, s);
        nap(s, s->check_ms);
    }
    evt_checks_destroy(c);
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

static void service_free(struct evt_service *s)
{
    if (s->queue) {
        for (size_t i = 0; i < s->qlen; i++)
            evt_event_clear(&s->queue[(s->qhead + i) % s->qcap]);
        free(s->queue);
    }
    evt_store_close(s->store);
    evt_rules_destroy(s->rules);
    free(s->counters);
    free(s->db_path);
    free(s->kmsg_path);
    free(s->procfs);
    free(s->sysfs);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->done);
    pthread_rwlock_destroy(&s->store_lock);
    free(s);
}

static char *dup_opt(const char *v, const char *def, bool *fail)
{
    if (!v || !v[0]) {
        if (!def)
            return NULL;
        v = def;
    }
    char *d = cn_strdup(v);
    if (!d)
        *fail = true;
    return d;
}

/*
 * Boot-time bookkeeping before the threads start, with the store (if open)
 * holding what the last run saw: the Reboot check, and the kernel log
 * bookmark when it belongs to this boot and this source.
 */
static void check_boot(struct evt_service *s)
{
    if (evt_read_boot_id(s->procfs, s->boot_id, sizeof(s->boot_id)))
        s->boot_id[0] = '\0';
    char prev[64] = "", src[4096], seq[32];
    if (s->store && evt_store_meta_get(s->store, "boot_id", prev, sizeof(prev)))
        prev[0] = '\0';
    if (s->boot_id[0])
        evt_check_reboot(s->procfs, s->sysfs, prev, s->boot_id, wall_ns(), emit_event, s);
    s->resume = s->store && s->kmsg_path && s->boot_id[0] && !strcmp(prev, s->boot_id) &&
                !evt_store_meta_get(s->store, "kmsg_source", src, sizeof(src)) &&
                !strcmp(src, s->kmsg_path) &&
                !evt_store_meta_get(s->store, "kmsg_seq", seq, sizeof(seq)) &&
                !cn_parse_u64(seq, &s->resume_seq);
}

int evt_service_start(const struct evt_service_opts *o, struct evt_service **out)
{
    *out = NULL;
    struct evt_service *s = cn_calloc(1, sizeof(*s));
    if (!s) {
        evt_rules_destroy(o->rules);
        return -ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->done, NULL);
    pthread_rwlock_init(&s->store_lock, NULL);
    s->rules = o->rules;
    s->rules_gen = 1;
    bool fail = false;
    s->db_path = dup_opt(o->db_path, NULL, &fail);
    s->kmsg_path = dup_opt(o->kmsg_path, NULL, &fail);
    s->procfs = dup_opt(o->procfs, "/proc", &fail);
    s->sysfs = dup_opt(o->sysfs, "/sys", &fail);
    s->retention_ns = o->retention_ns;
    s->retention_count = o->retention_count;
    s->max_pages = o->max_pages;
    s->flush_ms = o->flush_interval_ms > 0 ? o->flush_interval_ms : DEFAULT_FLUSH_MS;
    s->check_ms = o->check_interval_ms;
    s->qcap = o->queue_size ? o->queue_size : DEFAULT_QUEUE;
    s->queue = cn_calloc(s->qcap, sizeof(*s->queue));
    s->counters = cn_calloc(MAX_COUNTERS, sizeof(*s->counters));
    if (fail || !s->queue || !s->counters) {
        service_free(s);
        return -ENOMEM;
    }
    for (size_t i = 0; i < sizeof(known_kinds) / sizeof(known_kinds[0]); i++)
        count_event(s, known_kinds[i].source, known_kinds[i].severity, known_kinds[i].type, 0);
    seed_counters(s, s->rules);
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    s->boot_wall_ns = ((int64_t)rt.tv_sec - mono.tv_sec) * 1000000000 + (rt.tv_nsec - mono.tv_nsec);

    int rc = pthread_create(&s->writer, NULL, writer_main, s);
    s->have_writer = rc == 0;
    if (!rc && s->kmsg_path) {
        rc = pthread_create(&s->follower, NULL, follower_main, s);
        s->have_follower = rc == 0;
    }
    if (!rc && s->check_ms > 0) {
        rc = pthread_create(&s->checker, NULL, checker_main, s);
        s->have_checker = rc == 0;
    }
    if (rc) {
        evt_service_stop(s);
        return -rc;
    }
    *out = s;
    return 0;
}

void evt_service_stop(struct evt_service *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_broadcast(&s->wake);
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->lock);
    /* Producers first, so the writer's last flush takes everything. */
    if (s->have_follower)
        pthread_join(s->follower, NULL);
    if (s->have_checker)
        pthread_join(s->checker, NULL);
    if (s->have_writer)
        pthread_join(s->writer, NULL);
    service_free(s);
}

void evt_service_set_rules(struct evt_service *s, struct evt_rules *rules)
{
    pthread_mutex_lock(&s->lock);
    struct evt_rules *old = s->rules;
    s->rules = rules;
    s->rules_gen++;
    seed_counters(s, rules);
    pthread_mutex_unlock(&s->lock);
    /* The follower builds its matcher from the set under the lock and only
     * uses the matcher afterwards, which holds its own compiled state. */
    evt_rules_destroy(old);
}

int evt_service_flush(struct evt_service *s, int64_t timeout_ms)
{
    struct timespec until = cn_realtime_after_ns(timeout_ms * 1000000);
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    while (!s->ready && !rc)
        rc = pthread_cond_timedwait(&s->done, &s->lock, &until);
    if (s->have_follower && s->kmsg_active) { /* a source that is not open has nothing */
        uint64_t req = ++s->kmsg_sync_req;
        while (s->kmsg_sync_done < req && !rc)
            rc = pthread_cond_timedwait(&s->done, &s->lock, &until);
    }
    uint64_t target = s->accepted;
    s->flush_req++;
    pthread_cond_broadcast(&s->wake);
    while (s->finished < target && !rc)
        rc = pthread_cond_timedwait(&s->done, &s->lock, &until);
    pthread_mutex_unlock(&s->lock);
    return rc ? -ETIMEDOUT : 0;
}

int evt_service_query(struct evt_service *s, const struct evt_query *q, struct evt_result *out,
                      char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&s->store_lock);
    int rc;
    if (s->store) {
        rc = evt_store_query(s->store, q, out, err, errcap);
    } else {
        snprintf(err, errcap, "the event store is not available (%s)",
                 s->db_path ? "it could not be opened; see the agent's log" : "not configured");
        rc = -EAGAIN;
    }
    pthread_rwlock_unlock(&s->store_lock);
    return rc;
}

void evt_service_stats(struct evt_service *s, struct evt_service_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->st;
    out->queue_length = s->qlen;
    pthread_mutex_unlock(&s->lock);
    pthread_rwlock_rdlock(&s->store_lock);
    out->store_ok = s->store != NULL;
    pthread_rwlock_unlock(&s->store_lock);
}

/* ---- metrics -----------------------------------------------------------------------------------
 */

void evt_service_export(struct evt_service *s, struct exp_builder *b)
{
    struct evt_service_stats st;
    evt_service_stats(s, &st);
    struct exp_family *f =
        exp_family(b, "node_events_total",
                   "Events recorded on this host, by source, type and severity.", EXP_COUNTER);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ncounters; i++) {
        const struct counter *c = &s->counters[i];
        exp_add(b, f, (double)c->n, 3, "source", evt_source_name(c->source), "type", c->type,
                "severity", evt_severity_name(c->severity));
    }
    size_t qcap = s->qcap;
    pthread_mutex_unlock(&s->lock);

    exp_counter(b, "cairn_events_stored_total", "Events written to the event store.",
                (double)st.stored, 0);
    struct exp_family *d =
        exp_family(b, "cairn_events_dropped_total",
                   "Events lost before they were stored, by reason: queue_full (a burst "
                   "outran the writer) or store (the store failed or was unavailable).",
                   EXP_COUNTER);
    exp_add(b, d, (double)st.dropped_queue, 1, "reason", "queue_full");
    exp_add(b, d, (double)st.dropped_store, 1, "reason", "store");
    exp_counter(b, "cairn_events_store_errors_total",
                "Failed event store operations (open, write).", (double)st.store_errors, 0);
    exp_gauge(b, "cairn_events_store_up", "Whether the event store is open.", st.store_ok ? 1 : 0,
              0);
    exp_gauge(b, "cairn_events_queue_length", "Events waiting to be written.",
              (double)st.queue_length, 0);
    exp_gauge(b, "cairn_events_queue_capacity", "Events the queue holds before dropping.",
              (double)qcap, 0);
    exp_counter(b, "cairn_events_kmsg_records_total", "Kernel log records read.",
                (double)st.kmsg_records, 0);
    exp_counter(b, "cairn_events_kmsg_gaps_total",
                "Kernel log records lost: overwritten before they were read.", (double)st.kmsg_gaps,
                0);
    exp_counter(b, "cairn_events_kmsg_malformed_total",
                "Kernel log records skipped because they could not be parsed.",
                (double)st.kmsg_malformed, 0);
    exp_counter(b, "cairn_events_kmsg_truncated_total",
                "Kernel log records cut because they were too long.", (double)st.kmsg_truncated, 0);
    exp_counter(b, "cairn_events_kmsg_reopened_total",
                "Times the kernel log source was reopened (rotated, truncated or failed).",
                (double)st.kmsg_reopened, 0);
    pthread_rwlock_rdlock(&s->store_lock);
    if (s->store) {
        struct evt_store_stats ss;
        evt_store_stats(s->store, &ss);
        exp_gauge(b, "cairn_events_store_events", "Events in the event store.", (double)ss.events,
                  0);
        exp_gauge(b, "cairn_events_store_size_bytes",
                  "Size of the event store's database and its WAL.", (double)ss.size_bytes, 0);
        exp_gauge(b, "cairn_events_store_oldest_timestamp_seconds",
                  "Time of the oldest stored event (0 when empty).", (double)ss.oldest_ns / 1e9, 0);
    }
    pthread_rwlock_unlock(&s->store_lock);
}
