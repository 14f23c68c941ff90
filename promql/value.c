/*
 * Values of the PromQL evaluator: immutable reference-counted label sets,
 * a label builder, and growable vectors and matrices.
 *
 * A label set is one allocation: the header, the sorted label array, then
 * the strings. It is never changed after pql_labels_new() returns, so
 * samples and series share it by reference; the builder is the only way to
 * derive a different set, and it copies only when it finishes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "promql/internal.h"

static int label_cmp(const void *a, const void *b)
{
    const struct tsdb_label *x = a, *y = b;
    return strcmp(x->name, y->name);
}

struct promql_labels *pql_labels_new(const struct tsdb_label *v, size_t n)
{
    size_t strbytes = 0, kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].value[0])
            continue;
        strbytes += strlen(v[i].name) + strlen(v[i].value) + 2;
        kept++;
    }
    struct promql_labels *ls = cn_malloc(sizeof(*ls) + kept * sizeof(struct tsdb_label) + strbytes);
    if (!ls)
        return NULL;
    ls->refs = 1;
    ls->n = (uint32_t)kept;
    char *p = (char *)(ls->v + kept);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].value[0])
            continue;
        size_t ln = strlen(v[i].name) + 1, lv = strlen(v[i].value) + 1;
        memcpy(p, v[i].name, ln);
        ls->v[j].name = p;
        p += ln;
        memcpy(p, v[i].value, lv);
        ls->v[j].value = p;
        p += lv;
        j++;
    }
    bool sorted = true;
    for (size_t i = 1; i < kept && sorted; i++)
        sorted = strcmp(ls->v[i - 1].name, ls->v[i].name) < 0;
    if (!sorted)
        qsort(ls->v, kept, sizeof(ls->v[0]), label_cmp);
    ls->hash = tsdb_labels_hash(&(struct tsdb_labels){.v = ls->v, .n = kept});
    return ls;
}

struct promql_labels *pql_labels_from(const struct tsdb_labels *ls)
{
    return pql_labels_new(ls->v, ls->n);
}

struct promql_labels *pql_labels_empty(void)
{
    return pql_labels_new(NULL, 0);
}

void pql_labels_unref(struct promql_labels *ls)
{
    if (ls && --ls->refs == 0)
        free(ls);
}

struct tsdb_labels promql_labels_view(const struct promql_labels *ls)
{
    return (struct tsdb_labels){.v = ls->v, .n = ls->n};
}

const char *pql_labels_get(const struct promql_labels *ls, const char *name)
{
    for (uint32_t i = 0; i < ls->n; i++) {
        int c = strcmp(ls->v[i].name, name);
        if (c == 0)
            return ls->v[i].value;
        if (c > 0)
            break;
    }
    return NULL;
}

bool pql_labels_equal(const struct promql_labels *a, const struct promql_labels *b)
{
    if (a == b)
        return true;
    if (a->hash != b->hash || a->n != b->n)
        return false;
    return pql_labels_cmp(a, b) == 0;
}

int pql_labels_cmp(const struct promql_labels *a, const struct promql_labels *b)
{
    struct tsdb_labels x = promql_labels_view(a), y = promql_labels_view(b);
    return tsdb_labels_cmp(&x, &y);
}

struct promql_labels *pql_labels_drop_name(struct promql_labels *ls)
{
    uint32_t i;
    for (i = 0; i < ls->n; i++)
        if (!strcmp(ls->v[i].name, "__name__"))
            break;
    if (i == ls->n)
        return pql_labels_ref(ls);
    struct tsdb_label *tmp = cn_malloc(ls->n * sizeof(tmp[0]));
    if (!tmp)
        return NULL;
    memcpy(tmp, ls->v, i * sizeof(tmp[0]));
    memcpy(tmp + i, ls->v + i + 1, (ls->n - i - 1) * sizeof(tmp[0]));
    struct promql_labels *out = pql_labels_new(tmp, ls->n - 1);
    free(tmp);
    return out;
}

/* ---- builder ----------------------------------------------------------------- */

void pql_lbuilder_reset(struct pql_lbuilder *b, const struct promql_labels *base)
{
    b->n = 0;
    b->failed = false;
    if (!base || !base->n)
        return;
    if (cn_array_grow((void **)&b->v, &b->cap, base->n, sizeof(b->v[0]), 16) < 0) {
        b->failed = true;
        return;
    }
    memcpy(b->v, base->v, base->n * sizeof(b->v[0]));
    b->n = base->n;
}

void pql_lbuilder_del(struct pql_lbuilder *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++) {
        if (!strcmp(b->v[i].name, name)) {
            memmove(b->v + i, b->v + i + 1, (b->n - i - 1) * sizeof(b->v[0]));
            b->n--;
            return;
        }
    }
}

void pql_lbuilder_set(struct pql_lbuilder *b, const char *name, const char *value)
{
    if (!value || !value[0]) {
        pql_lbuilder_del(b, name);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (!strcmp(b->v[i].name, name)) {
            b->v[i].value = value;
            return;
        }
    }
    if (cn_array_grow((void **)&b->v, &b->cap, b->n + 1, sizeof(b->v[0]), 16) < 0) {
        b->failed = true;
        return;
    }
    b->v[b->n].name = name;
    b->v[b->n].value = value;
    b->n++;
}

void pql_lbuilder_filter(struct pql_lbuilder *b, char *const *names, size_t n, bool keep)
{
    size_t j = 0;
    for (size_t i = 0; i < b->n; i++) {
        bool listed = false;
        for (size_t k = 0; k < n && !listed; k++)
            listed = !strcmp(b->v[i].name, names[k]);
        if (listed == keep)
            b->v[j++] = b->v[i];
    }
    b->n = j;
}

struct promql_labels *pql_lbuilder_finish(struct pql_lbuilder *b)
{
    if (b->failed)
        return NULL;
    return pql_labels_new(b->v, b->n);
}

void pql_lbuilder_free(struct pql_lbuilder *b)
{
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

/* ---- vectors and matrices ---------------------------------------------------- */

int pql_vector_push(struct promql_vector *vec, struct promql_labels *labels, int64_t t, double v)
{
    if (!labels)
        return -ENOMEM;
    if (cn_array_grow((void **)&vec->v, &vec->cap, vec->n + 1, sizeof(vec->v[0]), 8) < 0) {
        pql_labels_unref(labels);
        return -ENOMEM;
    }
    vec->v[vec->n++] = (struct promql_sample){.labels = labels, .t = t, .v = v};
    return 0;
}

void pql_vector_clear(struct promql_vector *vec)
{
    for (size_t i = 0; i < vec->n; i++)
        pql_labels_unref(vec->v[i].labels);
    vec->n = 0;
}

void pql_vector_free(struct promql_vector *vec)
{
    pql_vector_clear(vec);
    free(vec->v);
    vec->v = NULL;
    vec->cap = 0;
}

int pql_series_push(struct promql_series *s, int64_t t, double v)
{
    if (cn_array_grow((void **)&s->pts, &s->cap, s->n + 1, sizeof(s->pts[0]), 4) < 0)
        return -ENOMEM;
    s->pts[s->n++] = (struct promql_point){.t = t, .v = v};
    return 0;
}

void pql_matrix_free(struct promql_matrix *m)
{
    for (size_t i = 0; i < m->n; i++) {
        pql_labels_unref(m->v[i].labels);
        free(m->v[i].pts);
    }
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

void promql_result_free(struct promql_result *r)
{
    if (!r)
        return;
    switch (r->type) {
    case PROMQL_TYPE_VECTOR: pql_vector_free(&r->vector); break;
    case PROMQL_TYPE_MATRIX: pql_matrix_free(&r->matrix); break;
    case PROMQL_TYPE_STRING: free(r->string.s); break;
    default: break;
    }
    memset(r, 0, sizeof(*r));
}

/* ---- hashing, formatting, quantiles ------------------------------------------ */

static uint64_t fnv_str(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= 0xff;
    h *= 1099511628211ULL;
    return h;
}

uint64_t pql_labels_hash_subset(const struct promql_labels *ls, char *const *names, size_t n,
                                bool include)
{
    uint64_t h = 14695981039346656037ULL;
    for (uint32_t i = 0; i < ls->n; i++) {
        bool listed = false;
        for (size_t k = 0; k < n && !listed; k++)
            listed = !strcmp(ls->v[i].name, names[k]);
        if (!include && !listed && !strcmp(ls->v[i].name, "__name__"))
            listed = true;
        if (listed != include)
            continue;
        h = fnv_str(h, ls->v[i].name);
        h = fnv_str(h, ls->v[i].value);
    }
    return h;
}

/* Appends s quoted as Go's strconv.Quote does for printable text. */
static void quote_into(struct cn_buf *b, const char *s)
{
    cn_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': cn_buf_puts(b, "\\\""); break;
        case '\\': cn_buf_puts(b, "\\\\"); break;
        case '\n': cn_buf_puts(b, "\\n"); break;
        case '\t': cn_buf_puts(b, "\\t"); break;
        case '\r': cn_buf_puts(b, "\\r"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                cn_buf_printf(b, "\\x%02x", *p);
            else
                cn_buf_putc(b, (char)*p);
        }
    }
    cn_buf_putc(b, '"');
}

void pql_labels_format(const struct promql_labels *ls, char *buf, size_t cap)
{
    struct cn_buf b;
    cn_buf_init(&b);
    cn_buf_putc(&b, '{');
    for (uint32_t i = 0; i < ls->n; i++) {
        if (i)
            cn_buf_puts(&b, ", ");
        cn_buf_puts(&b, ls->v[i].name);
        cn_buf_putc(&b, '=');
        quote_into(&b, ls->v[i].value);
    }
    cn_buf_putc(&b, '}');
    const char *s = cn_buf_cstr(&b);
    snprintf(buf, cap, "%s", s ? s : "{...}");
    cn_buf_free(&b);
}

/* NaN sorts first, as Prometheus' vectorByValueHeap orders. */
static int nan_first_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return x < y ? -1 : x > y;
}

double pql_quantile(double q, double *values, size_t n)
{
    if (n == 0)
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(values, n, sizeof(values[0]), nan_first_cmp);
    double fn = (double)n;
    double rank = q * (fn - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin(fn - 1, lower + 1);
    double weight = rank - floor(rank);
    if (isnan(rank)) /* q is NaN: Go indexes with an undefined conversion; answer NaN */
        return NAN;
    return values[(size_t)lower] * (1 - weight) + values[(size_t)upper] * weight;
}

/* ---- label-set map ----------------------------------------------------------- */

size_t pql_lmap_get(const struct pql_lmap *m, const struct promql_labels *ls)
{
    if (!m->cap)
        return SIZE_MAX;
    size_t mask = m->cap - 1;
    for (size_t i = ls->hash & mask;; i = (i + 1) & mask) {
        if (!m->v[i].key)
            return SIZE_MAX;
        if (pql_labels_equal(m->v[i].key, ls))
            return m->v[i].idx;
    }
}

int pql_lmap_put(struct pql_lmap *m, const struct promql_labels *ls, size_t idx)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        struct pql_lmap_ent *nv = cn_calloc(ncap, sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].key)
                continue;
            size_t j = m->v[i].key->hash & (ncap - 1);
            while (nv[j].key)
                j = (j + 1) & (ncap - 1);
            nv[j] = m->v[i];
        }
        free(m->v);
        m->v = nv;
        m->cap = ncap;
    }
    size_t mask = m->cap - 1;
    size_t i = ls->hash & mask;
    while (m->v[i].key) {
        if (pql_labels_equal(m->v[i].key, ls)) {
            m->v[i].idx = idx;
            return 0;
        }
        i = (i + 1) & mask;
    }
    m->v[i].key = ls;
    m->v[i].idx = idx;
    m->n++;
    return 0;
}

void pql_lmap_clear(struct pql_lmap *m)
{
    if (m->cap)
        memset(m->v, 0, m->cap * sizeof(m->v[0]));
    m->n = 0;
}

void pql_lmap_free(struct pql_lmap *m)
{
    free(m->v);
    memset(m, 0, sizeof(*m));
}

bool promql_label_name_valid(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (p != s && ch >= '0' && ch <= '9');
        if (!ok)
            return false;
    }
    return true;
}
