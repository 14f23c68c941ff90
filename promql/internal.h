/*
 * Internals shared by the promql module's files: label sets, value
 * helpers, and the calling convention of PromQL functions. Nothing outside
 * promql/ includes this header.
 *
 * Label sets (struct promql_labels) are immutable and reference-counted
 * without atomics: one query runs on one thread, and a result handed to a
 * caller is only read. A sample or series owns one reference; copying a
 * sample's labels is pql_labels_ref(), so a range query's steps share one
 * label set per series instead of copying strings.
 */
#ifndef CAIRN_PROMQL_INTERNAL_H
#define CAIRN_PROMQL_INTERNAL_H

#include "promql/promql.h"

/* ---- label sets (value.c) ----------------------------------------------------- */

struct promql_labels {
    uint32_t refs;
    uint32_t n;
    uint64_t hash;         /* tsdb_labels_hash of the set */
    struct tsdb_label v[]; /* sorted by name; strings follow in the same allocation */
};

/* A new set copying n labels (any order; sorted here; labels with an empty
 * value are dropped, as Prometheus' builder drops them). NULL on ENOMEM. */
struct promql_labels *pql_labels_new(const struct tsdb_label *v, size_t n);
struct promql_labels *pql_labels_from(const struct tsdb_labels *ls); /* same, from a view */
/* The empty set (a fresh reference). */
struct promql_labels *pql_labels_empty(void);
static inline struct promql_labels *pql_labels_ref(struct promql_labels *ls)
{
    if (ls)
        ls->refs++;
    return ls;
}
void pql_labels_unref(struct promql_labels *ls); /* accepts NULL */
/* The value of name, or NULL. */
const char *pql_labels_get(const struct promql_labels *ls, const char *name);
bool pql_labels_equal(const struct promql_labels *a, const struct promql_labels *b);
int pql_labels_cmp(const struct promql_labels *a, const struct promql_labels *b);
/* A new reference to ls without __name__ (ls itself, ref'd, when it has none).
 * NULL on ENOMEM. */
struct promql_labels *pql_labels_drop_name(struct promql_labels *ls);

/*
 * A label builder: start from a set (or none), set or delete labels, then
 * make a new set. Setting a label to "" deletes it. The builder copies
 * nothing until pql_lbuilder_finish(); the strings passed must live until
 * then. Reset and reuse it across samples to avoid allocations.
 */
struct pql_lbuilder {
    struct tsdb_label *v; /* working copy (borrowed strings) */
    size_t n, cap;
    bool failed; /* ENOMEM on a set */
};
void pql_lbuilder_reset(struct pql_lbuilder *b, const struct promql_labels *base);
void pql_lbuilder_set(struct pql_lbuilder *b, const char *name, const char *value);
void pql_lbuilder_del(struct pql_lbuilder *b, const char *name);
/* Keep only the named labels (keep true) or drop them (keep false). */
void pql_lbuilder_filter(struct pql_lbuilder *b, char *const *names, size_t n, bool keep);
struct promql_labels *pql_lbuilder_finish(struct pql_lbuilder *b); /* NULL on ENOMEM */
void pql_lbuilder_free(struct pql_lbuilder *b);

/* ---- vectors and matrices (value.c) ------------------------------------------- */

/* Appends a sample taking over one reference to labels (released on
 * failure). 0 or -ENOMEM. */
int pql_vector_push(struct promql_vector *vec, struct promql_labels *labels, int64_t t, double v);
void pql_vector_clear(struct promql_vector *vec); /* releases samples, keeps the array */
void pql_vector_free(struct promql_vector *vec);
int pql_series_push(struct promql_series *s, int64_t t, double v);
void pql_matrix_free(struct promql_matrix *m);

/* ---- function calls (functions.c) --------------------------------------------- */

/*
 * One call of a PromQL function at one evaluation step, as the evaluator
 * makes it:
 *  - functions without a range-vector argument are called once per step
 *    with their evaluated arguments (args[i].vec for an instant vector,
 *    args[i].scalar, args[i].str) and append their result to out, setting
 *    the labels themselves (out owns them); a function returning a scalar
 *    appends one sample with empty labels;
 *  - functions with a range-vector argument (rate, *_over_time ...) are
 *    called once per series and step with args[i].pts/npts holding that
 *    series' samples in the window (range_start, range_end] and
 *    args[i].labels its labels; they append at most one sample whose
 *    labels the evaluator ignores (it keeps the series' labels without
 *    __name__, or with it for last_over_time). absent_over_time is handled
 *    by the evaluator.
 * An impl returns 0, -ENOMEM, or -EINVAL with a message in err for an
 * execution error (an invalid regex in label_replace ...).
 */
struct promql_farg {
    const struct promql_vector *vec;
    double scalar;
    const char *str;
    const struct promql_point *pts;
    size_t npts;
    const struct promql_labels *labels;
};
/* State a function keeps across the steps of one call node (a compiled
 * regex): set by the function, freed by the evaluator with free_fn. */
struct pql_fstate {
    void *p;
    void (*free_fn)(void *p);
};
struct promql_fcall {
    const struct promql_expr *node; /* the PROMQL_NODE_CALL being evaluated */
    int64_t ts;                     /* the step's evaluation time, ms */
    int64_t range_start, range_end; /* matrix argument's window (ms): ts-offset-range, ts-offset */
    const struct promql_farg *args; /* one per argument of the call */
    size_t nargs;
    struct promql_vector *out;
    struct pql_lbuilder *lb;  /* scratch builder owned by the evaluator */
    struct pql_fstate *state; /* this call node's state; never NULL */
    char *err;
    size_t errcap;
};

/* The labels absent() and absent_over_time() give their result: the
 * equality matchers of the argument's selector (if it is one), except
 * __name__ and names matched twice. NULL on ENOMEM. */
struct promql_labels *pql_absent_labels(const struct promql_expr *arg);

/* ---- the evaluator (eval.c, binop.c, aggregate.c, engine.c) ------------------ */

/* Label helpers for matching and grouping (value.c). */
/* Hash of the labels named in names (include true) or of every label but
 * those and __name__ (include false): the signature of vector matching and
 * the key of grouping. names need not be sorted. */
uint64_t pql_labels_hash_subset(const struct promql_labels *ls, char *const *names, size_t n,
                                bool include);
/* Go's labels.String(): {a="b", c="d"} with Go-quoted values, into buf. */
void pql_labels_format(const struct promql_labels *ls, char *buf, size_t cap);

/* The quantile of n values (sorted here, NaN first) with Prometheus'
 * interpolation; NaN for n = 0, -Inf/+Inf for q < 0 / q > 1. */
double pql_quantile(double q, double *values, size_t n);

/* A map from label sets to indices, for collecting samples into series. */
struct pql_lmap {
    struct pql_lmap_ent {
        const struct promql_labels *key; /* borrowed */
        size_t idx;
    } * v;
    size_t n, cap; /* cap: a power of two, or 0 */
};
/* The index stored for ls, or SIZE_MAX. */
size_t pql_lmap_get(const struct pql_lmap *m, const struct promql_labels *ls);
/* Stores idx for ls (which must outlive the map). 0 or -ENOMEM. */
int pql_lmap_put(struct pql_lmap *m, const struct promql_labels *ls, size_t idx);
void pql_lmap_clear(struct pql_lmap *m);
void pql_lmap_free(struct pql_lmap *m);

/* One evaluation: the query's time frame and limits, and the data. */
struct pql_selection; /* selected series of one selector node (eval.c) */
struct pql_ev {
    const struct tsdb_source *src;
    size_t nsrc;
    int64_t start, end, interval; /* the steps of the current (sub)evaluation */
    int64_t qstart, qend;         /* the query's, for @ start() and @ end() */
    int64_t lookback;
    int64_t subquery_step; /* step of subqueries written without one */
    int64_t max_samples, cur_samples;
    int64_t deadline_ns; /* cn_mono_ns() deadline; 0: none */
    const volatile bool *cancel;
    struct pql_selection *sels;
    size_t nsels;
    struct promql_error *err;
};

/* Records an execution error (kind EXECUTION unless given) and returns
 * -EINVAL; for -ENOMEM use pql_nomem(). */
int pql_errorf(struct pql_ev *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pql_nomem(struct pql_ev *ev);
/* Counts n more samples held in memory: -ERANGE with the error set when
 * max_samples would be passed. */
int pql_account(struct pql_ev *ev, int64_t n);
/* Checks the deadline and the cancel flag: 0, -ETIMEDOUT or -ECANCELED with
 * the error set. */
int pql_check_done(struct pql_ev *ev);

/* An evaluated expression: a matrix with one point per step for scalars
 * and instant vectors (empty labels for a scalar), the selected windows for
 * range vectors, the literal for strings. */
struct pql_value {
    enum promql_type type;
    struct promql_matrix m;
    const char *str; /* borrowed from the AST */
};
int pql_eval(struct pql_ev *ev, const struct promql_expr *e, struct pql_value *out);
void pql_value_free(struct pql_ev *ev, struct pql_value *v);
void pql_matrix_release(struct pql_ev *ev, struct promql_matrix *m); /* frees, uncounts */

/*
 * Step-wise evaluation of n argument expressions (Prometheus' rangeEval):
 * the arguments are evaluated, then fn is called at every step with one
 * vector per argument holding the samples at that step (labels borrowed;
 * keys[i][j] is the key prep computed for sample j's series, or 0 without
 * prep); fn appends its result to out (labels owned). The results are
 * collected into series.
 */
typedef int (*pql_step_fn)(struct pql_ev *ev, void *ctx, int64_t ts, struct promql_vector *in,
                           uint64_t *const *keys, struct promql_vector *out);
typedef uint64_t (*pql_prep_fn)(void *ctx, size_t arg, const struct promql_labels *ls);
int pql_range_eval(struct pql_ev *ev, struct promql_expr *const *args, size_t n, pql_prep_fn prep,
                   pql_step_fn fn, void *ctx, struct promql_matrix *out);

int pql_eval_binary(struct pql_ev *ev, const struct promql_expr *e, struct promql_matrix *out);
int pql_eval_aggregate(struct pql_ev *ev, const struct promql_expr *e, struct promql_matrix *out);

/* Preparing an evaluation (eval.c): the time range every selector of e
 * can read, then selecting their series from ev's sources; freeing them. */
void pql_selection_range(struct pql_ev *ev, const struct promql_expr *e, int64_t *mint,
                         int64_t *maxt);
int pql_select_all(struct pql_ev *ev, const struct promql_expr *e);
void pql_selections_free(struct pql_ev *ev);

/* Strips parentheses. */
const struct promql_expr *pql_unparen(const struct promql_expr *e);

#endif
