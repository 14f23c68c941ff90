/*
 * The family builder: what a plugin's collect callback fills.
 *
 * The builder writes straight into the protobuf-c messages of metrics.proto
 * (MetricFamily, Metric, LabelPair, Gauge, ...), so that serve.c packs the
 * CollectResponse from them without a second representation. Every message,
 * string and pointer array of one collect is carved out of an arena owned by
 * the collect context: adding a series is a few pointer bumps, and the whole
 * result is dropped at once when the response has been packed. The serve
 * loop reuses one context for all collects: resetting it keeps up to 1 MiB
 * of its blocks for the next collect (so a steady plugin does not allocate
 * and fault in fresh pages each time) and frees the rest. Arrays that grow
 * (a family's series, the list of families) are reallocated inside the
 * arena by doubling; the abandoned copies stay in the arena until the
 * reset, which at most doubles their footprint.
 *
 * Families are found by name through an open-addressing hash table, so the
 * shorthand calls (cairn_gauge, cairn_counter), which look the family up on
 * every call, stay O(1) per series.
 *
 * Nothing is validated beyond what is needed to build well-formed messages
 * (type of the family, NULL pointers): the agent validates names, values and
 * buckets and counts what it rejects (docs/plugins.md). An allocation failure
 * marks the collect as failed: the agent never gets a silently partial result.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* One block of the arena; blocks are chained for freeing. */
struct arena_block {
    struct arena_block *next;
    size_t cap, used;
    max_align_t data[];
};

#define ARENA_FIRST_BLOCK (16u << 10)
#define ARENA_MAX_BLOCK (1u << 20)
#define ARENA_KEEP (1u << 20) /* kept across sdk_collect_reset */
#define ALIGN 8               /* enough for every message (pointers, doubles) */

struct cairn_family {
    Cairn__Plugin__V1__MetricFamily msg; /* first: &f->msg == (void *)f */
    size_t cap;                          /* capacity of msg.metric */
    uint64_t hash;
    struct cairn_collect *c;
};

struct cairn_collect {
    struct arena_block *blocks; /* in use, newest first */
    struct arena_block *spare;  /* emptied by a reset, for reuse */
    size_t next_block;          /* size of the next block to allocate */
    /* The families in creation order (pointers to their msg members). */
    Cairn__Plugin__V1__MetricFamily **fams;
    size_t nfams, capfams;
    /* Hash table over the families: tabcap slots, a power of two. */
    struct cairn_family **table;
    size_t tabcap;
    int64_t timestamp_ms, deadline_ms;
    int oom;    /* an allocation failed: the result is incomplete */
    int failed; /* cairn_collect_fail was called; err holds why */
    char err[512];
};

_Static_assert(_Alignof(struct cairn_family) <= ALIGN &&
                   _Alignof(Cairn__Plugin__V1__Histogram) <= ALIGN &&
                   _Alignof(Cairn__Plugin__V1__Metric) <= ALIGN,
               "the arena's alignment is too small for the messages");

/* ---- the arena ------------------------------------------------------------ */

/* size bytes aligned for any of the messages (align 8) or for a string
 * (align 1); NULL (and the collect marked out of memory) on failure. */
static void *arena_alloc(struct cairn_collect *c, size_t size, size_t align)
{
    struct arena_block *b = c->blocks;
    size_t start = b ? (b->used + align - 1) & ~(align - 1) : 0;
    if (!b || start > b->cap || b->cap - start < size) {
        if (c->spare && c->spare->cap >= size) {
            b = c->spare;
            c->spare = b->next;
        } else {
            size_t cap = c->next_block;
            if (cap < size)
                cap = size;
            if (cap > SIZE_MAX - sizeof(*b) || !(b = malloc(sizeof(*b) + cap))) {
                c->oom = 1;
                return NULL;
            }
            b->cap = cap;
            if (c->next_block < ARENA_MAX_BLOCK)
                c->next_block *= 2;
        }
        b->next = c->blocks;
        c->blocks = b;
        start = 0;
    }
    b->used = start + size;
    return (char *)b->data + start;
}

/* An array of n elements of size elem (structs or pointers). */
static void *arena_array(struct cairn_collect *c, size_t n, size_t elem)
{
    if (n > SIZE_MAX / elem) {
        c->oom = 1;
        return NULL;
    }
    return arena_alloc(c, n * elem, ALIGN);
}

static char *arena_strdup(struct cairn_collect *c, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = arena_alloc(c, n, 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Makes room for need elements of size elem in arr (len used, capacity
 * *cap): returns arr, or a larger copy in the arena, or NULL. */
static void *arena_grow(struct cairn_collect *c, void *arr, size_t *cap, size_t len, size_t elem,
                        size_t need)
{
    if (need <= *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *n = arena_array(c, ncap, elem);
    if (!n)
        return NULL;
    if (len)
        memcpy(n, arr, len * elem);
    *cap = ncap;
    return n;
}

/* ---- the collect context -------------------------------------------------- */

struct cairn_collect *sdk_collect_create(int64_t timestamp_ms, int64_t deadline_ms)
{
    struct cairn_collect *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->next_block = ARENA_FIRST_BLOCK;
    c->timestamp_ms = timestamp_ms;
    c->deadline_ms = deadline_ms;
    return c;
}

static void free_blocks(struct arena_block *b)
{
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
}

void sdk_collect_reset(struct cairn_collect *c, int64_t timestamp_ms, int64_t deadline_ms)
{
    /* Keep the largest blocks (the newest are the largest) up to the budget. */
    struct arena_block *keep = NULL, **tail = &keep;
    size_t kept = 0;
    struct arena_block *lists[2] = {c->blocks, c->spare};
    for (size_t i = 0; i < 2; i++) {
        struct arena_block *b = lists[i];
        while (b) {
            struct arena_block *next = b->next;
            if (kept + b->cap <= ARENA_KEEP) {
                kept += b->cap;
                b->next = NULL;
                *tail = b;
                tail = &b->next;
            } else {
                free(b);
            }
            b = next;
        }
    }
    struct arena_block *spare = keep;
    size_t next_block = c->next_block;
    memset(c, 0, sizeof(*c));
    c->spare = spare;
    c->next_block = next_block;
    c->timestamp_ms = timestamp_ms;
    c->deadline_ms = deadline_ms;
}

void sdk_collect_destroy(struct cairn_collect *c)
{
    if (!c)
        return;
    free_blocks(c->blocks);
    free_blocks(c->spare);
    free(c);
}

Cairn__Plugin__V1__MetricFamily **sdk_collect_families(struct cairn_collect *c, size_t *n)
{
    *n = c->nfams;
    return c->fams;
}

const char *sdk_collect_error(const struct cairn_collect *c)
{
    if (c->failed)
        return c->err;
    if (c->oom)
        return "out of memory while building the result";
    return NULL;
}

int64_t cairn_collect_timestamp_ms(const struct cairn_collect *c)
{
    return c ? c->timestamp_ms : 0;
}

int64_t cairn_collect_deadline_ms(const struct cairn_collect *c)
{
    return c ? c->deadline_ms : 0;
}

bool cairn_collect_expired(const struct cairn_collect *c)
{
    if (!c || c->deadline_ms <= 0)
        return false;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= c->deadline_ms;
}

int cairn_collect_fail(struct cairn_collect *c, const char *fmt, ...)
{
    if (!c)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt ? fmt : "collect failed", ap);
    va_end(ap);
    c->failed = 1;
    return -1;
}

/* ---- families ------------------------------------------------------------- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Rebuilds the hash table with twice the slots. */
static int table_grow(struct cairn_collect *c)
{
    size_t ncap = c->tabcap ? c->tabcap * 2 : 16;
    struct cairn_family **t = arena_array(c, ncap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    memset(t, 0, ncap * sizeof(*t));
    for (size_t i = 0; i < c->nfams; i++) {
        struct cairn_family *f = (struct cairn_family *)c->fams[i];
        size_t j = f->hash & (ncap - 1);
        while (t[j])
            j = (j + 1) & (ncap - 1);
        t[j] = f;
    }
    c->table = t;
    c->tabcap = ncap;
    return 0;
}

struct cairn_family *cairn_family(struct cairn_collect *c, const char *name, const char *help,
                                  enum cairn_metric_type type)
{
    if (!c || !name || (unsigned)type > CAIRN_HISTOGRAM)
        return NULL;
    uint64_t h = hash_name(name);
    size_t j = 0;
    if (c->tabcap) {
        for (j = h & (c->tabcap - 1); c->table[j]; j = (j + 1) & (c->tabcap - 1)) {
            struct cairn_family *f = c->table[j];
            if (f->hash == h && strcmp(f->msg.name, name) == 0)
                return f;
        }
    }
    /* Not found: keep the table at most half full, then insert. */
    if ((c->nfams + 1) * 2 > c->tabcap) {
        if (table_grow(c) < 0)
            return NULL;
        for (j = h & (c->tabcap - 1); c->table[j]; j = (j + 1) & (c->tabcap - 1))
            ;
    }
    Cairn__Plugin__V1__MetricFamily **fams =
        arena_grow(c, c->fams, &c->capfams, c->nfams, sizeof(*c->fams), c->nfams + 1);
    if (!fams)
        return NULL;
    c->fams = fams;
    struct cairn_family *f = arena_alloc(c, sizeof(*f), ALIGN);
    if (!f)
        return NULL;
    f->msg = (Cairn__Plugin__V1__MetricFamily)CAIRN__PLUGIN__V1__METRIC_FAMILY__INIT;
    f->msg.name = arena_strdup(c, name);
    f->msg.help = help ? arena_strdup(c, help) : NULL;
    if (!f->msg.name || (help && !f->msg.help))
        return NULL;
    f->msg.has_type = 1;
    f->msg.type = (Cairn__Plugin__V1__MetricType)type;
    f->cap = 0;
    f->hash = h;
    f->c = c;
    c->table[j] = f;
    c->fams[c->nfams++] = &f->msg;
    return f;
}

/* ---- series --------------------------------------------------------------- */

/*
 * A series' labels as the caller gave them: either arrays of n names and
 * values, or (names NULL) the rest of a variadic call, ap, holding n pairs.
 */
struct labels {
    size_t n;
    const char *const *names, *const *values;
    va_list *ap;
};

/* Counts the name/value pairs of a variadic call; -EINVAL when a name has
 * no value. ap is consumed. */
static int count_pairs(va_list ap, size_t *n)
{
    size_t k = 0;
    while (va_arg(ap, const char *)) {
        if (!va_arg(ap, const char *))
            return -EINVAL;
        k++;
    }
    *n = k;
    return 0;
}

static int labels_check(size_t n, const char *const *names, const char *const *values)
{
    if (n && (!names || !values))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!names[i] || !values[i])
            return -EINVAL;
    return 0;
}

/* A new Metric with its labels copied in, appended to f, or NULL on
 * allocation failure. */
static Cairn__Plugin__V1__Metric *metric_add(struct cairn_family *f, struct labels *l)
{
    struct cairn_collect *c = f->c;
    Cairn__Plugin__V1__Metric **metrics = arena_grow(c, f->msg.metric, &f->cap, f->msg.n_metric,
                                                     sizeof(*f->msg.metric), f->msg.n_metric + 1);
    if (!metrics)
        return NULL;
    f->msg.metric = metrics;
    Cairn__Plugin__V1__Metric *m = arena_alloc(c, sizeof(*m), ALIGN);
    if (!m)
        return NULL;
    *m = (Cairn__Plugin__V1__Metric)CAIRN__PLUGIN__V1__METRIC__INIT;
    if (l->n) {
        Cairn__Plugin__V1__LabelPair **ptrs = arena_array(c, l->n, sizeof(*ptrs));
        Cairn__Plugin__V1__LabelPair *pairs = arena_array(c, l->n, sizeof(*pairs));
        if (!ptrs || !pairs)
            return NULL;
        for (size_t i = 0; i < l->n; i++) {
            const char *name, *value;
            if (l->names) {
                name = l->names[i];
                value = l->values[i];
            } else {
                name = va_arg(*l->ap, const char *);
                value = va_arg(*l->ap, const char *);
            }
            pairs[i] = (Cairn__Plugin__V1__LabelPair)CAIRN__PLUGIN__V1__LABEL_PAIR__INIT;
            pairs[i].name = arena_strdup(c, name);
            pairs[i].value = arena_strdup(c, value);
            if (!pairs[i].name || !pairs[i].value)
                return NULL;
            ptrs[i] = &pairs[i];
        }
        m->label = ptrs;
        m->n_label = l->n;
    }
    f->msg.metric[f->msg.n_metric++] = m;
    return m;
}

/* Adds a counter, gauge or untyped series. */
static int add_value(struct cairn_family *f, double value, struct labels *l)
{
    struct cairn_collect *c = f->c;
    Cairn__Plugin__V1__Metric *m = metric_add(f, l);
    if (!m)
        return -ENOMEM;
    switch (f->msg.type) {
    case CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER:
        m->counter = arena_alloc(c, sizeof(*m->counter), ALIGN);
        if (!m->counter)
            return -ENOMEM;
        *m->counter = (Cairn__Plugin__V1__Counter)CAIRN__PLUGIN__V1__COUNTER__INIT;
        m->counter->has_value = 1;
        m->counter->value = value;
        break;
    case CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE:
        m->gauge = arena_alloc(c, sizeof(*m->gauge), ALIGN);
        if (!m->gauge)
            return -ENOMEM;
        *m->gauge = (Cairn__Plugin__V1__Gauge)CAIRN__PLUGIN__V1__GAUGE__INIT;
        m->gauge->has_value = 1;
        m->gauge->value = value;
        break;
    default:
        m->untyped = arena_alloc(c, sizeof(*m->untyped), ALIGN);
        if (!m->untyped)
            return -ENOMEM;
        *m->untyped = (Cairn__Plugin__V1__Untyped)CAIRN__PLUGIN__V1__UNTYPED__INIT;
        m->untyped->has_value = 1;
        m->untyped->value = value;
        break;
    }
    return 0;
}

static bool is_scalar(const struct cairn_family *f)
{
    return f->msg.type == CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER ||
           f->msg.type == CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE ||
           f->msg.type == CAIRN__PLUGIN__V1__METRIC_TYPE__UNTYPED;
}

int cairn_add(struct cairn_family *f, double value, ...)
{
    if (!f || !is_scalar(f))
        return -EINVAL;
    va_list ap, count;
    va_start(ap, value);
    va_copy(count, ap);
    struct labels l = {.ap = &ap};
    int rc = count_pairs(count, &l.n);
    va_end(count);
    if (rc == 0)
        rc = add_value(f, value, &l);
    va_end(ap);
    return rc;
}

int cairn_addv(struct cairn_family *f, double value, size_t n, const char *const *names,
               const char *const *values)
{
    if (!f || !is_scalar(f) || labels_check(n, names, values) < 0)
        return -EINVAL;
    struct labels l = {.n = n, .names = names, .values = values};
    return add_value(f, value, &l);
}

/* cairn_gauge and cairn_counter: the family (which must have type) and one
 * series from the variadic labels left in *ap. */
static int add_shorthand(struct cairn_collect *c, const char *name, const char *help,
                         enum cairn_metric_type type, double value, va_list *ap)
{
    struct cairn_family *f = cairn_family(c, name, help, type);
    if (!f)
        return c && name ? -ENOMEM : -EINVAL;
    if (f->msg.type != (Cairn__Plugin__V1__MetricType)type)
        return -EINVAL;
    va_list count;
    va_copy(count, *ap);
    struct labels l = {.ap = ap};
    int rc = count_pairs(count, &l.n);
    va_end(count);
    return rc < 0 ? rc : add_value(f, value, &l);
}

int cairn_gauge(struct cairn_collect *c, const char *name, const char *help, double value, ...)
{
    va_list ap;
    va_start(ap, value);
    int rc = add_shorthand(c, name, help, CAIRN_GAUGE, value, &ap);
    va_end(ap);
    return rc;
}

int cairn_counter(struct cairn_collect *c, const char *name, const char *help, double value, ...)
{
    va_list ap;
    va_start(ap, value);
    int rc = add_shorthand(c, name, help, CAIRN_COUNTER, value, &ap);
    va_end(ap);
    return rc;
}

static int add_histogram(struct cairn_family *f, size_t n, const double *upper_bounds,
                         const uint64_t *cumulative_counts, uint64_t count, double sum,
                         struct labels *l)
{
    struct cairn_collect *c = f->c;
    Cairn__Plugin__V1__Metric *m = metric_add(f, l);
    if (!m)
        return -ENOMEM;
    Cairn__Plugin__V1__Histogram *h = arena_alloc(c, sizeof(*h), ALIGN);
    if (!h)
        return -ENOMEM;
    *h = (Cairn__Plugin__V1__Histogram)CAIRN__PLUGIN__V1__HISTOGRAM__INIT;
    h->has_sample_count = 1;
    h->sample_count = count;
    h->has_sample_sum = 1;
    h->sample_sum = sum;
    if (n) {
        Cairn__Plugin__V1__Bucket **ptrs = arena_array(c, n, sizeof(*ptrs));
        Cairn__Plugin__V1__Bucket *b = arena_array(c, n, sizeof(*b));
        if (!ptrs || !b)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            b[i] = (Cairn__Plugin__V1__Bucket)CAIRN__PLUGIN__V1__BUCKET__INIT;
            b[i].has_upper_bound = 1;
            b[i].upper_bound = upper_bounds[i];
            b[i].has_cumulative_count = 1;
            b[i].cumulative_count = cumulative_counts[i];
            ptrs[i] = &b[i];
        }
        h->bucket = ptrs;
        h->n_bucket = n;
    }
    m->histogram = h;
    return 0;
}

int cairn_histogram(struct cairn_family *f, size_t n, const double *upper_bounds,
                    const uint64_t *cumulative_counts, uint64_t count, double sum, ...)
{
    if (!f || f->msg.type != CAIRN__PLUGIN__V1__METRIC_TYPE__HISTOGRAM ||
        (n && (!upper_bounds || !cumulative_counts)))
        return -EINVAL;
    va_list ap, cnt;
    va_start(ap, sum);
    va_copy(cnt, ap);
    struct labels l = {.ap = &ap};
    int rc = count_pairs(cnt, &l.n);
    va_end(cnt);
    if (rc == 0)
        rc = add_histogram(f, n, upper_bounds, cumulative_counts, count, sum, &l);
    va_end(ap);
    return rc;
}

int cairn_histogramv(struct cairn_family *f, size_t n, const double *upper_bounds,
                     const uint64_t *cumulative_counts, uint64_t count, double sum, size_t nlabels,
                     const char *const *names, const char *const *values)
{
    if (!f || f->msg.type != CAIRN__PLUGIN__V1__METRIC_TYPE__HISTOGRAM ||
        (n && (!upper_bounds || !cumulative_counts)) || labels_check(nlabels, names, values) < 0)
        return -EINVAL;
    struct labels l = {.n = nlabels, .names = names, .values = values};
    return add_histogram(f, n, upper_bounds, cumulative_counts, count, sum, &l);
}

static int add_summary(struct cairn_family *f, size_t n, const double *quantiles,
                       const double *values, uint64_t count, double sum, struct labels *l)
{
    struct cairn_collect *c = f->c;
    Cairn__Plugin__V1__Metric *m = metric_add(f, l);
    if (!m)
        return -ENOMEM;
    Cairn__Plugin__V1__Summary *s = arena_alloc(c, sizeof(*s), ALIGN);
    if (!s)
        return -ENOMEM;
    *s = (Cairn__Plugin__V1__Summary)CAIRN__PLUGIN__V1__SUMMARY__INIT;
    s->has_sample_count = 1;
    s->sample_count = count;
    s->has_sample_sum = 1;
    s->sample_sum = sum;
    if (n) {
        Cairn__Plugin__V1__Quantile **ptrs = arena_array(c, n, sizeof(*ptrs));
        Cairn__Plugin__V1__Quantile *q = arena_array(c, n, sizeof(*q));
        if (!ptrs || !q)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            q[i] = (Cairn__Plugin__V1__Quantile)CAIRN__PLUGIN__V1__QUANTILE__INIT;
            q[i].has_quantile = 1;
            q[i].quantile = quantiles[i];
            q[i].has_value = 1;
            q[i].value = values[i];
            ptrs[i] = &q[i];
        }
        s->quantile = ptrs;
        s->n_quantile = n;
    }
    m->summary = s;
    return 0;
}

int cairn_summary(struct cairn_family *f, size_t n, const double *quantiles, const double *values,
                  uint64_t count, double sum, ...)
{
    if (!f || f->msg.type != CAIRN__PLUGIN__V1__METRIC_TYPE__SUMMARY ||
        (n && (!quantiles || !values)))
        return -EINVAL;
    va_list ap, cnt;
    va_start(ap, sum);
    va_copy(cnt, ap);
    struct labels l = {.ap = &ap};
    int rc = count_pairs(cnt, &l.n);
    va_end(cnt);
    if (rc == 0)
        rc = add_summary(f, n, quantiles, values, count, sum, &l);
    va_end(ap);
    return rc;
}

int cairn_summaryv(struct cairn_family *f, size_t n, const double *quantiles, const double *values,
                   uint64_t count, double sum, size_t nlabels, const char *const *names,
                   const char *const *values_)
{
    if (!f || f->msg.type != CAIRN__PLUGIN__V1__METRIC_TYPE__SUMMARY ||
        (n && (!quantiles || !values)) || labels_check(nlabels, names, values_) < 0)
        return -EINVAL;
    struct labels l = {.n = nlabels, .names = names, .values = values_};
    return add_summary(f, n, quantiles, values, count, sum, &l);
}
