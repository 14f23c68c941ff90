/*
 * The query engine: limits (timeout, samples in memory, concurrency,
 * points per series) and the two entry points, instant and range queries.
 *
 * A query waits for one of max_concurrency slots (within its timeout, like
 * Prometheus' active query tracker), opens one read view of the data over
 * the range its selectors need, selects their series, evaluates, and turns
 * the evaluator's matrix into the result type. Everything it holds is freed
 * before it returns, whatever the outcome; the view is the only thing it
 * shares with ingestion.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "promql/internal.h"

#define DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define DEFAULT_TIMEOUT_MS (2 * 60 * 1000)
#define DEFAULT_MAX_SAMPLES 50000000
#define DEFAULT_CONCURRENCY 20
#define DEFAULT_MAX_POINTS 11000
#define SUBQUERY_STEP_MS (60 * 1000) /* subqueries without a step: a 1m evaluation interval */

struct promql_engine {
    struct promql_engine_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running;
};

int promql_engine_create(const struct promql_engine_opts *opts, struct promql_engine **out)
{
    struct promql_engine *e = cn_calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    if (opts)
        e->o = *opts;
    if (e->o.lookback_ms <= 0)
        e->o.lookback_ms = DEFAULT_LOOKBACK_MS;
    if (e->o.timeout_ms <= 0)
        e->o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (e->o.max_samples <= 0)
        e->o.max_samples = DEFAULT_MAX_SAMPLES;
    if (e->o.max_concurrency <= 0)
        e->o.max_concurrency = DEFAULT_CONCURRENCY;
    if (e->o.max_points <= 0)
        e->o.max_points = DEFAULT_MAX_POINTS;
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = e;
    return 0;
}

void promql_engine_destroy(struct promql_engine *e)
{
    if (!e)
        return;
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

const char *promql_error_kind_name(enum promql_error_kind k)
{
    switch (k) {
    case PROMQL_ERR_BAD_DATA: return "bad_data";
    case PROMQL_ERR_EXECUTION: return "execution";
    case PROMQL_ERR_TIMEOUT: return "timeout";
    case PROMQL_ERR_CANCELED: return "canceled";
    case PROMQL_ERR_INTERNAL: return "internal";
    default: return "none";
    }
}

static void set_error(struct promql_error *err, enum promql_error_kind kind, const char *msg)
{
    memset(err, 0, sizeof(*err));
    err->kind = kind;
    snprintf(err->msg, sizeof(err->msg), "%s", msg);
}

/* Takes a concurrency slot before the deadline. */
static int acquire(struct promql_engine *e, int64_t deadline_ns, struct promql_error *err)
{
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    while (e->running >= e->o.max_concurrency) {
        struct timespec ts = {.tv_sec = deadline_ns / 1000000000,
                              .tv_nsec = deadline_ns % 1000000000};
        if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) == ETIMEDOUT &&
            e->running >= e->o.max_concurrency) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    if (!rc)
        e->running++;
    pthread_mutex_unlock(&e->mu);
    if (rc)
        set_error(err, PROMQL_ERR_TIMEOUT, "query timed out in query queue");
    return rc;
}

static void release(struct promql_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->running--;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static int cmp_series(const void *a, const void *b)
{
    const struct promql_series *x = a, *y = b;
    return pql_labels_cmp(x->labels, y->labels);
}

/* Evaluates expr over [start, end] every interval into the raw value. */
static int run(struct promql_engine *eng, const struct promql_queryable *q,
               const struct promql_expr *expr, int64_t start, int64_t end, int64_t interval,
               const struct promql_query_opts *qo, struct pql_value *val, struct promql_error *err)
{
    int64_t deadline = cn_mono_ns() + eng->o.timeout_ms * 1000000;
    int rc = acquire(eng, deadline, err);
    if (rc)
        return rc;
    struct pql_ev ev = {
        .start = start,
        .end = end,
        .interval = interval,
        .qstart = start,
        .qend = end,
        .lookback = eng->o.lookback_ms,
        .subquery_step = SUBQUERY_STEP_MS,
        .max_samples = eng->o.max_samples,
        .deadline_ns = deadline,
        .cancel = qo ? qo->cancel : NULL,
        .err = err,
    };
    int64_t mint, maxt;
    pql_selection_range(&ev, expr, &mint, &maxt);
    void *handle = NULL;
    rc = q->open(q->ctx, mint, maxt, &handle, &ev.src, &ev.nsrc);
    if (rc < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "opening the storage: %s", strerror(-rc));
        set_error(err, PROMQL_ERR_EXECUTION, msg);
        release(eng);
        return rc;
    }
    rc = pql_select_all(&ev, expr);
    if (!rc)
        rc = pql_eval(&ev, expr, val);
    pql_selections_free(&ev);
    q->close(q->ctx, handle);
    release(eng);
    return rc;
}

int promql_exec_instant(struct promql_engine *e, const struct promql_queryable *q,
                        const struct promql_expr *expr, int64_t t,
                        const struct promql_query_opts *qo, struct promql_result *res,
                        struct promql_error *err)
{
    memset(res, 0, sizeof(*res));
    memset(err, 0, sizeof(*err));
    struct pql_value val = {0};
    int rc = run(e, q, expr, t, t, 1, qo, &val, err);
    if (rc)
        return rc;
    enum promql_type type = promql_expr_type(expr);
    res->type = type;
    switch (type) {
    case PROMQL_TYPE_STRING:
        res->string.t = t;
        res->string.s = cn_strdup(val.str);
        if (!res->string.s)
            rc = -ENOMEM;
        break;
    case PROMQL_TYPE_SCALAR:
        res->scalar.t = t;
        res->scalar.v = val.m.n && val.m.v[0].n ? val.m.v[0].pts[0].v : 0;
        break;
    case PROMQL_TYPE_VECTOR:
        for (size_t i = 0; i < val.m.n && !rc; i++) {
            struct promql_series *s = &val.m.v[i];
            if (pql_vector_push(&res->vector, pql_labels_ref(s->labels), t, s->pts[0].v) < 0)
                rc = -ENOMEM;
        }
        break;
    default:
        res->matrix = val.m;
        memset(&val.m, 0, sizeof(val.m));
        break;
    }
    pql_matrix_free(&val.m);
    if (rc) {
        promql_result_free(res);
        set_error(err, PROMQL_ERR_INTERNAL, "out of memory");
    }
    return rc;
}

int promql_exec_range(struct promql_engine *e, const struct promql_queryable *q,
                      const struct promql_expr *expr, int64_t start, int64_t end, int64_t step,
                      const struct promql_query_opts *qo, struct promql_result *res,
                      struct promql_error *err)
{
    memset(res, 0, sizeof(*res));
    memset(err, 0, sizeof(*err));
    enum promql_type type = promql_expr_type(expr);
    if (type != PROMQL_TYPE_SCALAR && type != PROMQL_TYPE_VECTOR) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "invalid expression type \"%s\" for range query, must be Scalar or instant "
                 "Vector",
                 type == PROMQL_TYPE_MATRIX ? "range vector" : promql_type_name(type));
        set_error(err, PROMQL_ERR_BAD_DATA, msg);
        return -EINVAL;
    }
    if (step <= 0) {
        set_error(err, PROMQL_ERR_BAD_DATA,
                  "zero or negative query resolution step widths are not accepted. Try a "
                  "positive integer");
        return -EINVAL;
    }
    if (end < start) {
        set_error(err, PROMQL_ERR_BAD_DATA, "end timestamp must not be before start time");
        return -EINVAL;
    }
    if ((end - start) / step > e->o.max_points) {
        /* Prometheus' wording, with its thousands separator for the default. */
        char msg[200], limit[32];
        if (e->o.max_points == DEFAULT_MAX_POINTS)
            snprintf(limit, sizeof(limit), "11,000");
        else
            snprintf(limit, sizeof(limit), "%lld", (long long)e->o.max_points);
        snprintf(msg, sizeof(msg),
                 "exceeded maximum resolution of %s points per timeseries. Try decreasing the "
                 "query resolution (?step=XX)",
                 limit);
        set_error(err, PROMQL_ERR_BAD_DATA, msg);
        return -EINVAL;
    }
    struct pql_value val = {0};
    int rc = run(e, q, expr, start, end, step, qo, &val, err);
    if (rc)
        return rc;
    res->type = PROMQL_TYPE_MATRIX;
    res->matrix = val.m;
    if (res->matrix.n > 1)
        qsort(res->matrix.v, res->matrix.n, sizeof(res->matrix.v[0]), cmp_series);
    return 0;
}
