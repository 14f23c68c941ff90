/*
 * Binary operators (Prometheus 2.42 semantics): arithmetic, comparisons
 * with and without `bool`, and the set operators, between scalars and
 * instant vectors, with one-to-one, many-to-one and one-to-many vector
 * matching.
 *
 * Vector matching works on signatures: a 64-bit hash of the labels the
 * match looks at (those of on(...), or all but those of ignoring(...) and
 * the metric name), computed once per input series by pql_range_eval's
 * prep hook and handed to every step. Each step then indexes the "one"
 * side by signature in a small open-addressing table.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "promql/internal.h"

static bool drops_name(enum promql_binop op)
{
    switch (op) {
    case PROMQL_OP_ADD:
    case PROMQL_OP_SUB:
    case PROMQL_OP_MUL:
    case PROMQL_OP_DIV:
    case PROMQL_OP_POW:
    case PROMQL_OP_MOD: return true;
    default: return false;
    }
}

/* The value of lhs op rhs and whether a filtering comparison keeps it. */
static double elem_op(enum promql_binop op, double l, double r, bool *keep)
{
    *keep = true;
    switch (op) {
    case PROMQL_OP_ADD: return l + r;
    case PROMQL_OP_SUB: return l - r;
    case PROMQL_OP_MUL: return l * r;
    case PROMQL_OP_DIV: return l / r;
    case PROMQL_OP_POW: return pow(l, r);
    case PROMQL_OP_MOD: return fmod(l, r);
    case PROMQL_OP_ATAN2: return atan2(l, r);
    case PROMQL_OP_EQL: *keep = l == r; return l;
    case PROMQL_OP_NEQ: *keep = l != r; return l;
    case PROMQL_OP_GTR: *keep = l > r; return l;
    case PROMQL_OP_LSS: *keep = l < r; return l;
    case PROMQL_OP_GTE: *keep = l >= r; return l;
    case PROMQL_OP_LTE: *keep = l <= r; return l;
    default: *keep = false; return NAN;
    }
}

struct bin_ctx {
    const struct promql_expr *e;
    struct pql_lbuilder lb;
    /* Per-step scratch: the "one" side by signature, and for many-to-one
     * the result label sets seen per signature. */
    struct sig_ent {
        uint64_t sig;
        size_t idx; /* into the one-side vector */
        bool used;  /* a one-to-one match was made */
        bool set;
    } * tab;
    size_t tabcap;
    /* Many-to-one: the match group of each output sample, and the output
     * samples by labels, to find a group producing one label set twice. */
    uint64_t *out_sig;
    size_t sigcap;
    struct pql_lmap out_index;
};

static uint64_t prep_signature(void *vctx, size_t arg, const struct promql_labels *ls)
{
    (void)arg;
    struct bin_ctx *c = vctx;
    return pql_labels_hash_subset(ls, c->e->binary.match_labels, c->e->binary.nmatch_labels,
                                  c->e->binary.on);
}

static int tab_reset(struct pql_ev *ev, struct bin_ctx *c, size_t n)
{
    size_t want = 16;
    while (want < n * 2)
        want *= 2;
    if (want > c->tabcap) {
        free(c->tab);
        c->tab = cn_calloc(want, sizeof(c->tab[0]));
        if (!c->tab) {
            c->tabcap = 0;
            return pql_nomem(ev);
        }
        c->tabcap = want;
    } else {
        memset(c->tab, 0, c->tabcap * sizeof(c->tab[0]));
    }
    return 0;
}

static struct sig_ent *tab_find(struct bin_ctx *c, uint64_t sig, bool insert)
{
    size_t mask = c->tabcap - 1;
    for (size_t i = (sig * 0x9E3779B97F4A7C15ULL) >> 32 & mask;; i = (i + 1) & mask) {
        if (!c->tab[i].set) {
            if (!insert)
                return NULL;
            c->tab[i].set = true;
            c->tab[i].sig = sig;
            return &c->tab[i];
        }
        if (c->tab[i].sig == sig)
            return &c->tab[i];
    }
}

/* The labels the match looks at, for error messages (Go's MatchLabels). */
static void match_labels_string(struct bin_ctx *c, const struct promql_labels *ls, char *buf,
                                size_t cap)
{
    const struct promql_expr *e = c->e;
    pql_lbuilder_reset(&c->lb, ls);
    if (e->binary.on) {
        pql_lbuilder_filter(&c->lb, e->binary.match_labels, e->binary.nmatch_labels, true);
    } else {
        pql_lbuilder_filter(&c->lb, e->binary.match_labels, e->binary.nmatch_labels, false);
        pql_lbuilder_del(&c->lb, "__name__");
    }
    struct promql_labels *m = pql_lbuilder_finish(&c->lb);
    if (m)
        pql_labels_format(m, buf, cap);
    else
        snprintf(buf, cap, "{...}");
    pql_labels_unref(m);
}

/* The labels of a vector-vector result (Prometheus' resultMetric). */
static struct promql_labels *result_labels(struct bin_ctx *c, const struct promql_labels *l,
                                           const struct promql_labels *r)
{
    const struct promql_expr *e = c->e;
    pql_lbuilder_reset(&c->lb, l);
    if (drops_name(e->binary.op) || e->binary.return_bool)
        pql_lbuilder_del(&c->lb, "__name__");
    if (e->binary.card == PROMQL_CARD_ONE_TO_ONE)
        pql_lbuilder_filter(&c->lb, e->binary.match_labels, e->binary.nmatch_labels, e->binary.on);
    for (size_t i = 0; i < e->binary.ninclude; i++) {
        const char *v = pql_labels_get(r, e->binary.include[i]);
        if (v && v[0])
            pql_lbuilder_set(&c->lb, e->binary.include[i], v);
        else
            pql_lbuilder_del(&c->lb, e->binary.include[i]);
    }
    return pql_lbuilder_finish(&c->lb);
}

static int step_vector_vector(struct pql_ev *ev, void *vctx, int64_t ts, struct promql_vector *in,
                              uint64_t *const *keys, struct promql_vector *out)
{
    struct bin_ctx *c = vctx;
    const struct promql_expr *e = c->e;
    enum promql_binop op = e->binary.op;
    struct promql_vector *lhs = &in[0], *rhs = &in[1];
    uint64_t *lk = keys[0], *rk = keys[1];
    int rc;

    if (op == PROMQL_OP_AND || op == PROMQL_OP_UNLESS) {
        if (op == PROMQL_OP_AND && (!lhs->n || !rhs->n))
            return 0;
        if ((rc = tab_reset(ev, c, rhs->n)))
            return rc;
        for (size_t j = 0; j < rhs->n; j++)
            tab_find(c, rk[j], true);
        for (size_t i = 0; i < lhs->n; i++) {
            bool matched = tab_find(c, lk[i], false) != NULL;
            if (matched == (op == PROMQL_OP_AND))
                if (pql_vector_push(out, pql_labels_ref(lhs->v[i].labels), ts, lhs->v[i].v) < 0)
                    return pql_nomem(ev);
        }
        return 0;
    }
    if (op == PROMQL_OP_OR) {
        if ((rc = tab_reset(ev, c, lhs->n)))
            return rc;
        for (size_t i = 0; i < lhs->n; i++) {
            tab_find(c, lk[i], true);
            if (pql_vector_push(out, pql_labels_ref(lhs->v[i].labels), ts, lhs->v[i].v) < 0)
                return pql_nomem(ev);
        }
        for (size_t j = 0; j < rhs->n; j++)
            if (!lhs->n || !tab_find(c, rk[j], false))
                if (pql_vector_push(out, pql_labels_ref(rhs->v[j].labels), ts, rhs->v[j].v) < 0)
                    return pql_nomem(ev);
        return 0;
    }

    if (!lhs->n || !rhs->n)
        return 0;
    bool swap = e->binary.card == PROMQL_CARD_ONE_TO_MANY;
    if (swap) {
        struct promql_vector *tv = lhs;
        lhs = rhs;
        rhs = tv;
        uint64_t *tk = lk;
        lk = rk;
        rk = tk;
    }
    if ((rc = tab_reset(ev, c, rhs->n)))
        return rc;
    for (size_t j = 0; j < rhs->n; j++) {
        struct sig_ent *se = tab_find(c, rk[j], true);
        if (se->used) { /* "used" marks a filled entry while indexing */
            char ml[256], a[256], b[256];
            match_labels_string(c, rhs->v[j].labels, ml, sizeof(ml));
            pql_labels_format(rhs->v[j].labels, a, sizeof(a));
            pql_labels_format(rhs->v[se->idx].labels, b, sizeof(b));
            return pql_errorf(ev,
                              "found duplicate series for the match group %s on the %s "
                              "hand-side of the operation: [%s, %s];many-to-many matching not "
                              "allowed: matching labels must be unique on one side",
                              ml, swap ? "left" : "right", a, b);
        }
        se->used = true;
        se->idx = j;
    }
    for (size_t k = 0; k < c->tabcap; k++)
        c->tab[k].used = false;
    pql_lmap_clear(&c->out_index);

    for (size_t i = 0; i < lhs->n; i++) {
        struct sig_ent *se = tab_find(c, lk[i], false);
        if (!se)
            continue;
        const struct promql_sample *rs = &rhs->v[se->idx];
        double vl = lhs->v[i].v, vr = rs->v;
        if (swap) {
            double t = vl;
            vl = vr;
            vr = t;
        }
        bool keep;
        double value = elem_op(op, vl, vr, &keep);
        if (e->binary.return_bool) {
            value = keep ? 1.0 : 0.0;
        } else if (!keep) {
            continue;
        }
        struct promql_labels *metric = result_labels(c, lhs->v[i].labels, rs->labels);
        if (!metric)
            return pql_nomem(ev);
        if (e->binary.card == PROMQL_CARD_ONE_TO_ONE) {
            if (se->used) {
                pql_labels_unref(metric);
                return pql_errorf(ev, "multiple matches for labels: many-to-one matching must "
                                      "be explicit (group_left/group_right)");
            }
            se->used = true;
        } else {
            /* Result labels must be unique per match group. */
            size_t prev = pql_lmap_get(&c->out_index, metric);
            if (prev != SIZE_MAX && c->out_sig[prev] == se->sig) {
                pql_labels_unref(metric);
                return pql_errorf(ev, "multiple matches for labels: grouping labels must "
                                      "ensure unique matches");
            }
            if (cn_array_grow((void **)&c->out_sig, &c->sigcap, out->n + 1, sizeof(c->out_sig[0]),
                              16) < 0) {
                pql_labels_unref(metric);
                return pql_nomem(ev);
            }
            c->out_sig[out->n] = se->sig;
        }
        if (pql_vector_push(out, metric, ts, value) < 0)
            return pql_nomem(ev);
        if (e->binary.card != PROMQL_CARD_ONE_TO_ONE &&
            pql_lmap_put(&c->out_index, out->v[out->n - 1].labels, out->n - 1) < 0)
            return pql_nomem(ev);
    }
    return 0;
}

static int step_vector_scalar(struct pql_ev *ev, void *vctx, int64_t ts, struct promql_vector *in,
                              uint64_t *const *keys, struct promql_vector *out)
{
    (void)keys;
    struct bin_ctx *c = vctx;
    const struct promql_expr *e = c->e;
    /* The scalar is on the left when the vector is the right operand. */
    bool swap = promql_expr_type(e->binary.lhs) == PROMQL_TYPE_SCALAR;
    struct promql_vector *vec = swap ? &in[1] : &in[0];
    struct promql_vector *sc = swap ? &in[0] : &in[1];
    double s = sc->n ? sc->v[0].v : NAN;
    for (size_t i = 0; i < vec->n; i++) {
        double lv = vec->v[i].v, rv = s;
        if (swap) {
            lv = s;
            rv = vec->v[i].v;
        }
        bool keep;
        double value = elem_op(e->binary.op, lv, rv, &keep);
        if (promql_binop_is_comparison(e->binary.op) && swap)
            value = rv;
        if (e->binary.return_bool) {
            value = keep ? 1.0 : 0.0;
            keep = true;
        }
        if (!keep)
            continue;
        struct promql_labels *ls = vec->v[i].labels;
        ls = (drops_name(e->binary.op) || e->binary.return_bool) ? pql_labels_drop_name(ls)
                                                                 : pql_labels_ref(ls);
        if (pql_vector_push(out, ls, ts, value) < 0)
            return pql_nomem(ev);
    }
    return 0;
}

static int step_scalar_scalar(struct pql_ev *ev, void *vctx, int64_t ts, struct promql_vector *in,
                              uint64_t *const *keys, struct promql_vector *out)
{
    (void)keys;
    struct bin_ctx *c = vctx;
    double l = in[0].n ? in[0].v[0].v : NAN, r = in[1].n ? in[1].v[0].v : NAN;
    bool keep;
    double v = elem_op(c->e->binary.op, l, r, &keep);
    if (promql_binop_is_comparison(c->e->binary.op))
        v = keep ? 1.0 : 0.0;
    if (pql_vector_push(out, pql_labels_empty(), ts, v) < 0)
        return pql_nomem(ev);
    return 0;
}

int pql_eval_binary(struct pql_ev *ev, const struct promql_expr *e, struct promql_matrix *out)
{
    struct bin_ctx c = {.e = e};
    struct promql_expr *args[2] = {e->binary.lhs, e->binary.rhs};
    enum promql_type lt = promql_expr_type(e->binary.lhs), rt = promql_expr_type(e->binary.rhs);
    int rc;
    if (lt == PROMQL_TYPE_SCALAR && rt == PROMQL_TYPE_SCALAR)
        rc = pql_range_eval(ev, args, 2, NULL, step_scalar_scalar, &c, out);
    else if (lt == PROMQL_TYPE_VECTOR && rt == PROMQL_TYPE_VECTOR)
        rc = pql_range_eval(ev, args, 2, prep_signature, step_vector_vector, &c, out);
    else
        rc = pql_range_eval(ev, args, 2, NULL, step_vector_scalar, &c, out);
    free(c.tab);
    free(c.out_sig);
    pql_lmap_free(&c.out_index);
    pql_lbuilder_free(&c.lb);
    return rc;
}
