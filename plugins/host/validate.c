/*
 * Validation of a plugin's Collect response and its adaptation into an
 * exp_builder (plg_adapt, contract in internal.h).
 *
 * A plugin is untrusted input: anything it sends is checked here before it
 * reaches the builder, series by series, so that one bad series costs only
 * itself. Every check runs BEFORE the builder is called: the builder records
 * the first error it sees and would otherwise poison the whole cycle. The
 * only builder failure left is -ENOMEM, which aborts the call.
 *
 * The checks of one series, in order (the first failing one names the
 * reason it is counted under):
 *   1. family: valid metric name, known type (checked once per family);
 *   2. labels: valid, not reserved ("__*", and "le" / "quantile" in
 *      histograms / summaries, whose samples carry those labels), UTF-8
 *      values, no repeated names; pairs with empty values are dropped, as
 *      Prometheus treats them as absent;
 *   3. the value field of the family's type, and its rules (counters,
 *      buckets, quantiles);
 *   4. duplicates: the same family name and (sorted) label set as a series
 *      accepted earlier in this call; a hash set of those keys lives for the
 *      call, in its own arena;
 *   5. the max_series limit;
 *   6. the builder's family of that name, created on the first accepted
 *      series (so families that end up empty never appear), must have the
 *      same type; a name reused with another type is a type mismatch.
 *
 * Summary quantiles are sorted ascending (the builder's order); a repeated
 * quantile is rejected, as it would make two identical samples.
 */
#include "plugins/host/internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/plugins.h"

static const char *const reject_names[PLG_REJECT_COUNT] = {
    [PLG_REJECT_METRIC_NAME] = "invalid_metric_name",
    [PLG_REJECT_LABEL_NAME] = "invalid_label_name",
    [PLG_REJECT_LABEL_VALUE] = "invalid_label_value",
    [PLG_REJECT_DUPLICATE] = "duplicate_series",
    [PLG_REJECT_TYPE] = "type_mismatch",
    [PLG_REJECT_COUNTER_VALUE] = "invalid_counter",
    [PLG_REJECT_BUCKETS] = "invalid_buckets",
    [PLG_REJECT_TOO_MANY] = "too_many_series",
};

const char *plg_reject_name(enum plg_reject r)
{
    if ((unsigned)r >= PLG_REJECT_COUNT)
        return "unknown";
    return reject_names[r];
}

/* The value field each MetricType needs, by type number. */
static const char *const value_fields[] = {"counter", "gauge",     "summary",
                                           "untyped", "histogram", "histogram"};

/* One label pair of the series being checked (borrowed from the message). */
struct pair {
    const char *name;
    const char *value;
};

/* A key of the duplicate set: family name and sorted non-empty pairs. */
struct seen {
    uint64_t hash;
    const char *key; /* in the call's arena; NULL: empty slot */
    size_t len;
};

/* The state of one plg_adapt call. */
struct adapt {
    struct exp_builder *b;
    struct plg_rejects *rej;
    long max_series;
    long accepted;
    /* the duplicate set */
    struct cn_arena *arena;
    struct seen *slots;
    size_t nslots, nseen;
    /* scratch, reused from series to series */
    struct pair *pairs;
    size_t cap_pairs;
    const char **names, **values;
    size_t cap_names, cap_values;
    struct exp_bucket *buckets;
    size_t cap_buckets;
    struct cn_buf key;
};

/* The family being adapted. */
struct fam {
    const char *name;
    const char *help;
    enum exp_type type;
    Cairn__Plugin__V1__MetricType ptype;
    struct exp_family *f; /* the builder's, once a series was accepted */
    bool conflict;        /* the builder's family has another type */
};

static bool utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t l = plg_utf8_len(s + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

/* Copies s into out (cap >= 8) for a log message: quotes, backslashes,
 * control characters and invalid UTF-8 escaped, cut with "..." when long. */
static void esc(char *out, size_t cap, const char *s)
{
    size_t n = s ? strlen(s) : 0, o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = plg_utf8_len(s + i, n - i);
        char tmp[8];
        size_t tl;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c, tl = 2;
        } else if (l == 0 || c < 0x20 || c == 0x7f) {
            tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
            l = 1;
        } else {
            memcpy(tmp, s + i, l);
            tl = l;
        }
        if (o + tl + 4 > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, tmp, tl);
        o += tl;
        i += l;
    }
    out[o] = '\0';
}

/* Counts one rejected series; the first of the call is described in
 * rej->first as "family NAME: WHAT" (or just WHAT when fam is NULL). */
__attribute__((format(printf, 4, 5))) static void reject(struct adapt *a, enum plg_reject r,
                                                         const char *fam, const char *fmt, ...)
{
    a->rej->count[r]++;
    if (a->rej->first[0])
        return;
    char *out = a->rej->first;
    size_t cap = sizeof(a->rej->first), o = 0;
    if (fam) {
        char name[96];
        esc(name, sizeof(name), fam);
        int w = snprintf(out, cap, "family %s: ", name);
        o = w > 0 ? (size_t)w : 0; /* at most 7 + 95 + 2 bytes: it fits */
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + o, cap - o, fmt, ap);
    va_end(ap);
}

static int cmp_pair(const void *pa, const void *pb)
{
    return strcmp(((const struct pair *)pa)->name, ((const struct pair *)pb)->name);
}

static int cmp_bucket(const void *pa, const void *pb)
{
    double a = ((const struct exp_bucket *)pa)->upper, b = ((const struct exp_bucket *)pb)->upper;
    return (a > b) - (a < b);
}

static bool name_reserved(const struct fam *fm, const char *name)
{
    if (name[0] == '_' && name[1] == '_')
        return true;
    if (fm->type == EXP_HISTOGRAM && strcmp(name, "le") == 0)
        return true;
    return fm->type == EXP_SUMMARY && strcmp(name, "quantile") == 0;
}

/*
 * Checks the labels of m and leaves the pairs to export, sorted by name, in
 * a->pairs[0..*n). Returns 1 when the series was rejected, 0, or -ENOMEM.
 */
static int check_labels(struct adapt *a, const struct fam *fm, const Cairn__Plugin__V1__Metric *m,
                        size_t *n)
{
    if (cn_array_grow((void **)&a->pairs, &a->cap_pairs, m->n_label, sizeof(*a->pairs), 8))
        return -ENOMEM;
    for (size_t i = 0; i < m->n_label; i++) {
        const Cairn__Plugin__V1__LabelPair *lp = m->label[i];
        char e[96];
        if (!lp->name || !exp_valid_label_name(lp->name)) {
            esc(e, sizeof(e), lp->name);
            reject(a, PLG_REJECT_LABEL_NAME, fm->name, "invalid label name \"%s\"", e);
            return 1;
        }
        if (name_reserved(fm, lp->name)) {
            reject(a, PLG_REJECT_LABEL_NAME, fm->name, "reserved label name \"%s\"", lp->name);
            return 1;
        }
        const char *v = lp->value ? lp->value : "";
        if (!utf8_valid(v)) {
            esc(e, sizeof(e), v);
            reject(a, PLG_REJECT_LABEL_VALUE, fm->name, "label %s: value \"%s\" is not valid UTF-8",
                   lp->name, e);
            return 1;
        }
        a->pairs[i] = (struct pair){lp->name, v};
    }
    if (m->n_label > 1)
        qsort(a->pairs, m->n_label, sizeof(*a->pairs), cmp_pair);
    size_t w = 0;
    for (size_t i = 0; i < m->n_label; i++) {
        if (i > 0 && strcmp(a->pairs[i].name, a->pairs[i - 1].name) == 0) {
            reject(a, PLG_REJECT_LABEL_NAME, fm->name, "repeated label name \"%s\"",
                   a->pairs[i].name);
            return 1;
        }
        if (a->pairs[i].value[0])
            a->pairs[w++] = a->pairs[i];
    }
    *n = w;
    return 0;
}

/* The value of m for its family's type: *value, and the buckets or
 * quantiles in a->buckets[0..*nb) with *sum and *count. Returns 1 when the
 * series was rejected, 0, or -ENOMEM. */
static int check_value(struct adapt *a, const struct fam *fm, const Cairn__Plugin__V1__Metric *m,
                       double *value, size_t *nb, double *sum, double *count)
{
    *value = *sum = *count = 0;
    *nb = 0;
    switch (fm->ptype) {
    case CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER:
        if (!m->counter)
            break;
        *value = m->counter->value;
        if (isnan(*value) || *value < 0) {
            reject(a, PLG_REJECT_COUNTER_VALUE, fm->name, "counter value %g", *value);
            return 1;
        }
        return 0;
    case CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE:
        if (!m->gauge)
            break;
        *value = m->gauge->value;
        return 0;
    case CAIRN__PLUGIN__V1__METRIC_TYPE__UNTYPED:
        if (!m->untyped)
            break;
        *value = m->untyped->value;
        return 0;
    case CAIRN__PLUGIN__V1__METRIC_TYPE__SUMMARY: {
        const Cairn__Plugin__V1__Summary *s = m->summary;
        if (!s)
            break;
        if (cn_array_grow((void **)&a->buckets, &a->cap_buckets, s->n_quantile, sizeof(*a->buckets),
                          8))
            return -ENOMEM;
        for (size_t i = 0; i < s->n_quantile; i++) {
            double q = s->quantile[i]->quantile;
            if (!(q >= 0 && q <= 1)) {
                reject(a, PLG_REJECT_BUCKETS, fm->name, "quantile %g outside [0, 1]", q);
                return 1;
            }
            a->buckets[i] = (struct exp_bucket){q, s->quantile[i]->value};
        }
        if (s->n_quantile > 1)
            qsort(a->buckets, s->n_quantile, sizeof(*a->buckets), cmp_bucket);
        for (size_t i = 1; i < s->n_quantile; i++) {
            if (a->buckets[i].upper == a->buckets[i - 1].upper) {
                reject(a, PLG_REJECT_BUCKETS, fm->name, "repeated quantile %g",
                       a->buckets[i].upper);
                return 1;
            }
        }
        *nb = s->n_quantile;
        *sum = s->sample_sum;
        *count = (double)s->sample_count;
        return 0;
    }
    case CAIRN__PLUGIN__V1__METRIC_TYPE__HISTOGRAM:
    case CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE_HISTOGRAM: {
        const Cairn__Plugin__V1__Histogram *h = m->histogram;
        if (!h)
            break;
        double total = h->has_sample_count_float ? h->sample_count_float : (double)h->sample_count;
        if (isnan(total) || total < 0) {
            reject(a, PLG_REJECT_BUCKETS, fm->name, "sample count %g", total);
            return 1;
        }
        if (cn_array_grow((void **)&a->buckets, &a->cap_buckets, h->n_bucket + 1,
                          sizeof(*a->buckets), 8))
            return -ENOMEM;
        for (size_t i = 0; i < h->n_bucket; i++) {
            const Cairn__Plugin__V1__Bucket *bk = h->bucket[i];
            double le = bk->upper_bound;
            double c = bk->has_cumulative_count_float ? bk->cumulative_count_float
                                                      : (double)bk->cumulative_count;
            if (isnan(le) || (i > 0 && le <= a->buckets[i - 1].upper)) {
                reject(a, PLG_REJECT_BUCKETS, fm->name, "bucket bound %g not ascending", le);
                return 1;
            }
            if (isnan(c) || c < 0 || (i > 0 && c < a->buckets[i - 1].count)) {
                reject(a, PLG_REJECT_BUCKETS, fm->name, "bucket le=%g: count %g decreasing", le, c);
                return 1;
            }
            a->buckets[i] = (struct exp_bucket){le, c};
        }
        size_t n = h->n_bucket;
        if (n > 0 && isinf(a->buckets[n - 1].upper) && a->buckets[n - 1].upper > 0) {
            if (a->buckets[n - 1].count != total) {
                reject(a, PLG_REJECT_BUCKETS, fm->name,
                       "bucket le=+Inf: count %g != sample count %g", a->buckets[n - 1].count,
                       total);
                return 1;
            }
        } else {
            if (n > 0 && total < a->buckets[n - 1].count) {
                reject(a, PLG_REJECT_BUCKETS, fm->name, "count %g below the count of bucket le=%g",
                       total, a->buckets[n - 1].upper);
                return 1;
            }
            a->buckets[n++] = (struct exp_bucket){INFINITY, total};
        }
        *nb = n;
        *sum = h->sample_sum;
        *count = total;
        return 0;
    }
    default: break; /* unknown types were rejected with their family */
    }
    reject(a, PLG_REJECT_TYPE, fm->name, "series without a %s value", value_fields[fm->ptype]);
    return 1;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

/* The slot of key in the duplicate set: holding it, or the empty one. */
static struct seen *seen_slot(struct adapt *a, uint64_t h, const char *key, size_t len)
{
    size_t i = h & (a->nslots - 1);
    while (a->slots[i].key && (a->slots[i].hash != h || a->slots[i].len != len ||
                               memcmp(a->slots[i].key, key, len) != 0))
        i = (i + 1) & (a->nslots - 1);
    return &a->slots[i];
}

/* Makes room for one more key (load factor at most 1/2). */
static int seen_reserve(struct adapt *a)
{
    if ((a->nseen + 1) * 2 <= a->nslots)
        return 0;
    size_t n = a->nslots ? a->nslots * 2 : 64;
    struct seen *slots = cn_calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < a->nslots; i++) {
        if (!a->slots[i].key)
            continue;
        size_t j = a->slots[i].hash & (n - 1);
        while (slots[j].key)
            j = (j + 1) & (n - 1);
        slots[j] = a->slots[i];
    }
    free(a->slots);
    a->slots = slots;
    a->nslots = n;
    return 0;
}

/* The key "name\0l1\0v1\0l2\0v2\0..." of a series in a->key. */
static int make_key(struct adapt *a, const char *name, size_t npairs)
{
    cn_buf_reset(&a->key);
    cn_buf_append(&a->key, name, strlen(name) + 1);
    for (size_t i = 0; i < npairs; i++) {
        cn_buf_append(&a->key, a->pairs[i].name, strlen(a->pairs[i].name) + 1);
        cn_buf_append(&a->key, a->pairs[i].value, strlen(a->pairs[i].value) + 1);
    }
    return a->key.err ? -ENOMEM : 0;
}

/* "{a=\"1\",b=\"2\"}" for the log, cut to fit out. */
static void format_labels(char *out, size_t cap, const struct pair *pairs, size_t n)
{
    size_t o = 0;
    out[o++] = '{';
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char v[64];
        esc(v, sizeof(v), pairs[i].value);
        int w = snprintf(out + o, cap - o, "%s%s=\"%s\"", i ? "," : "", pairs[i].name, v);
        if (w < 0 || (size_t)w >= cap - o) {
            o = cap - 1;
            break;
        }
        o += (size_t)w;
    }
    if (o + 1 < cap)
        out[o++] = '}';
    out[o] = '\0';
}

/* Adapts one series of family fm. 0 (added or rejected) or -ENOMEM. */
static int adapt_series(struct adapt *a, struct fam *fm, const Cairn__Plugin__V1__Metric *m)
{
    size_t npairs, nb;
    double value, sum, count;
    int rc = check_labels(a, fm, m, &npairs);
    if (rc)
        return rc < 0 ? rc : 0;
    rc = check_value(a, fm, m, &value, &nb, &sum, &count);
    if (rc)
        return rc < 0 ? rc : 0;

    if (make_key(a, fm->name, npairs) || seen_reserve(a))
        return -ENOMEM;
    uint64_t h = hash_bytes(a->key.data, a->key.len);
    struct seen *slot = seen_slot(a, h, a->key.data, a->key.len);
    if (slot->key) {
        char labels[160];
        format_labels(labels, sizeof(labels), a->pairs, npairs);
        reject(a, PLG_REJECT_DUPLICATE, fm->name, "duplicate series %s", labels);
        return 0;
    }
    if (a->accepted >= a->max_series) {
        reject(a, PLG_REJECT_TOO_MANY, fm->name, "more than %ld series", a->max_series);
        return 0;
    }
    if (!fm->f && !fm->conflict) {
        fm->f = exp_family(a->b, fm->name, fm->help, fm->type);
        if (!fm->f)
            return -ENOMEM; /* the name was checked: only allocation can fail */
        if (fm->f->type != fm->type) {
            fm->f = NULL;
            fm->conflict = true;
        }
    }
    if (fm->conflict) {
        reject(a, PLG_REJECT_TYPE, fm->name, "family already exported with another type");
        return 0;
    }

    if (cn_array_grow((void **)&a->names, &a->cap_names, npairs, sizeof(*a->names), 8) ||
        cn_array_grow((void **)&a->values, &a->cap_values, npairs, sizeof(*a->values), 8))
        return -ENOMEM;
    for (size_t i = 0; i < npairs; i++) {
        a->names[i] = a->pairs[i].name;
        a->values[i] = a->pairs[i].value;
    }
    struct exp_series *s = exp_addv(a->b, fm->f, value, (int)npairs, a->names, a->values);
    if (!s)
        return -ENOMEM;
    if ((fm->type == EXP_SUMMARY || fm->type == EXP_HISTOGRAM) &&
        exp_set_buckets(a->b, s, a->buckets, (uint32_t)nb, sum, count))
        return -ENOMEM;
    if (m->has_timestamp_ms)
        s->timestamp_ms = m->timestamp_ms;

    slot->key = cn_arena_alloc(a->arena, a->key.len);
    if (!slot->key)
        return -ENOMEM;
    memcpy((char *)slot->key, a->key.data, a->key.len);
    slot->hash = h;
    slot->len = a->key.len;
    a->nseen++;
    a->accepted++;
    return 0;
}

static int adapt_family(struct adapt *a, const Cairn__Plugin__V1__MetricFamily *mf)
{
    if (!mf->name || !exp_valid_metric_name(mf->name)) {
        char e[96];
        esc(e, sizeof(e), mf->name);
        for (size_t i = 0; i < mf->n_metric; i++)
            reject(a, PLG_REJECT_METRIC_NAME, NULL, "invalid metric name \"%s\"", e);
        return 0;
    }
    struct fam fm = {.name = mf->name, .help = mf->help && utf8_valid(mf->help) ? mf->help : ""};
    fm.ptype = mf->has_type ? mf->type : CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER;
    switch (fm.ptype) {
    case CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER: fm.type = EXP_COUNTER; break;
    case CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE: fm.type = EXP_GAUGE; break;
    case CAIRN__PLUGIN__V1__METRIC_TYPE__SUMMARY: fm.type = EXP_SUMMARY; break;
    case CAIRN__PLUGIN__V1__METRIC_TYPE__UNTYPED: fm.type = EXP_UNTYPED; break;
    case CAIRN__PLUGIN__V1__METRIC_TYPE__HISTOGRAM:
    case CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE_HISTOGRAM: fm.type = EXP_HISTOGRAM; break;
    default:
        for (size_t i = 0; i < mf->n_metric; i++)
            reject(a, PLG_REJECT_TYPE, mf->name, "unknown metric type %d", (int)fm.ptype);
        return 0;
    }
    for (size_t i = 0; i < mf->n_metric; i++) {
        int rc = adapt_series(a, &fm, mf->metric[i]);
        if (rc)
            return rc;
    }
    return 0;
}

int plg_adapt(Cairn__Plugin__V1__MetricFamily *const *fams, size_t n, long max_series,
              struct exp_builder *b, struct plg_rejects *rej)
{
    struct adapt a = {
        .b = b,
        .rej = rej,
        .max_series = max_series > 0 ? max_series : PLG_HOST_MAX_SERIES,
    };
    rej->first[0] = '\0';
    cn_buf_init(&a.key);
    int rc = 0;
    a.arena = cn_arena_create(16384);
    if (!a.arena)
        rc = -ENOMEM;
    for (size_t i = 0; i < n && !rc; i++)
        rc = adapt_family(&a, fams[i]);
    cn_arena_destroy(a.arena);
    free(a.slots);
    free(a.pairs);
    free(a.names);
    free(a.values);
    free(a.buckets);
    cn_buf_free(&a.key);
    return rc;
}
