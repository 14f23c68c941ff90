/*
 * The metric-family builder. Strings and label arrays live in an arena that
 * dies with the builder; the family table and each family's series array
 * grow with realloc (an arena would waste every outgrown array). Families are
 * found by name through a small open-addressing hash table, so collectors may
 * add to a family in any order. exp_builder_finish() sorts and de-duplicates
 * once, after which the builder is immutable and shared by reference count.
 */
#include "exporter/exporter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct exp_builder {
    atomic_int refs;
    int err;
    bool finished;
    struct cn_arena *arena;
    struct exp_family **fams;
    size_t nfams, capfams;
    /* hash table of indexes into fams (+1; 0 = empty) */
    uint32_t *slots;
    size_t nslots;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct exp_builder *exp_builder_create(void)
{
    struct exp_builder *b = cn_calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->arena = cn_arena_create(16384);
    if (!b->arena) {
        free(b);
        return NULL;
    }
    atomic_init(&b->refs, 1);
    return b;
}

void exp_builder_ref(struct exp_builder *b)
{
    atomic_fetch_add(&b->refs, 1);
}

void exp_builder_unref(struct exp_builder *b)
{
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    for (size_t i = 0; i < b->nfams; i++)
        free(b->fams[i]->series);
    free(b->fams);
    free(b->slots);
    cn_arena_destroy(b->arena);
    free(b);
}

int exp_builder_error(const struct exp_builder *b)
{
    return b->err;
}

struct cn_arena *exp_builder_arena(struct exp_builder *b)
{
    return b->arena;
}

static void *fail(struct exp_builder *b, int err)
{
    if (!b->err)
        b->err = err;
    return NULL;
}

bool exp_valid_metric_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

bool exp_valid_label_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static int rehash(struct exp_builder *b)
{
    size_t n = b->nslots ? b->nslots * 2 : 64;
    uint32_t *slots = cn_calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < b->nfams; i++) {
        size_t h = hash_str(b->fams[i]->name) & (n - 1);
        while (slots[h])
            h = (h + 1) & (n - 1);
        slots[h] = (uint32_t)(i + 1);
    }
    free(b->slots);
    b->slots = slots;
    b->nslots = n;
    return 0;
}

/* Returns the slot for name: either holding it, or the empty one to use. */
static uint32_t *find_slot(struct exp_builder *b, const char *name)
{
    size_t h = hash_str(name) & (b->nslots - 1);
    while (b->slots[h] && strcmp(b->fams[b->slots[h] - 1]->name, name) != 0)
        h = (h + 1) & (b->nslots - 1);
    return &b->slots[h];
}

struct exp_family *exp_family(struct exp_builder *b, const char *name, const char *help,
                              enum exp_type type)
{
    if (b->finished)
        return fail(b, -EINVAL);
    if (!exp_valid_metric_name(name))
        return fail(b, -EINVAL);
    if ((b->nfams + 1) * 2 > b->nslots && rehash(b))
        return fail(b, -ENOMEM);
    uint32_t *slot = find_slot(b, name);
    if (*slot)
        return b->fams[*slot - 1];
    if (b->nfams == b->capfams) {
        size_t cap = b->capfams ? b->capfams * 2 : 32;
        struct exp_family **f = cn_realloc(b->fams, cap * sizeof(*f));
        if (!f)
            return fail(b, -ENOMEM);
        b->fams = f;
        b->capfams = cap;
    }
    struct exp_family *f = cn_arena_alloc(b->arena, sizeof(*f));
    if (!f)
        return fail(b, -ENOMEM);
    memset(f, 0, sizeof(*f));
    f->name = cn_arena_strdup(b->arena, name);
    f->help = cn_arena_strdup(b->arena, help ? help : "");
    f->type = type;
    if (!f->name || !f->help)
        return fail(b, -ENOMEM);
    b->fams[b->nfams++] = f;
    *slot = (uint32_t)b->nfams;
    return f;
}

void exp_builder_drop(struct exp_builder *b, const char *name)
{
    if (b->finished || !b->nslots)
        return;
    uint32_t *slot = find_slot(b, name);
    if (!*slot)
        return;
    size_t idx = *slot - 1;
    free(b->fams[idx]->series);
    memmove(&b->fams[idx], &b->fams[idx + 1], (b->nfams - idx - 1) * sizeof(*b->fams));
    b->nfams--;
    /* Indexes shifted: rebuild the table at the same size. */
    memset(b->slots, 0, b->nslots * sizeof(*b->slots));
    for (size_t i = 0; i < b->nfams; i++) {
        size_t h = hash_str(b->fams[i]->name) & (b->nslots - 1);
        while (b->slots[h])
            h = (h + 1) & (b->nslots - 1);
        b->slots[h] = (uint32_t)(i + 1);
    }
}

struct exp_series *exp_addv(struct exp_builder *b, struct exp_family *f, double value, int nlabels,
                            const char *const *names, const char *const *values)
{
    if (!f)
        return NULL;
    if (b->finished || nlabels < 0)
        return fail(b, -EINVAL);
    if (f->nseries == f->cap) {
        uint32_t cap = f->cap ? f->cap * 2 : 4;
        struct exp_series *s = cn_realloc(f->series, cap * sizeof(*s));
        if (!s)
            return fail(b, -ENOMEM);
        f->series = s;
        f->cap = cap;
    }
    struct exp_series *s = &f->series[f->nseries];
    memset(s, 0, sizeof(*s));
    s->value = value;
    if (nlabels > 0) {
        s->labels = cn_arena_alloc(b->arena, (size_t)nlabels * sizeof(*s->labels));
        if (!s->labels)
            return fail(b, -ENOMEM);
        for (int i = 0; i < nlabels; i++) {
            if (!exp_valid_label_name(names[i]) || !values[i])
                return fail(b, -EINVAL);
            s->labels[i].name = cn_arena_strdup(b->arena, names[i]);
            s->labels[i].value = cn_arena_strdup(b->arena, values[i]);
            if (!s->labels[i].name || !s->labels[i].value)
                return fail(b, -ENOMEM);
        }
        s->nlabels = (uint32_t)nlabels;
    }
    f->nseries++;
    return s;
}

#define MAX_VA_LABELS 16

static struct exp_series *addva(struct exp_builder *b, struct exp_family *f, double value,
                                int nlabels, va_list ap)
{
    const char *names[MAX_VA_LABELS], *values[MAX_VA_LABELS];
    if (nlabels > MAX_VA_LABELS)
        return fail(b, -EINVAL);
    for (int i = 0; i < nlabels; i++) {
        names[i] = va_arg(ap, const char *);
        values[i] = va_arg(ap, const char *);
    }
    return exp_addv(b, f, value, nlabels, names, values);
}

struct exp_series *exp_add(struct exp_builder *b, struct exp_family *f, double value, int nlabels,
                           ...)
{
    va_list ap;
    va_start(ap, nlabels);
    struct exp_series *s = addva(b, f, value, nlabels, ap);
    va_end(ap);
    return s;
}

struct exp_series *exp_gauge(struct exp_builder *b, const char *name, const char *help,
                             double value, int nlabels, ...)
{
    va_list ap;
    va_start(ap, nlabels);
    struct exp_series *s = addva(b, exp_family(b, name, help, EXP_GAUGE), value, nlabels, ap);
    va_end(ap);
    return s;
}

struct exp_series *exp_counter(struct exp_builder *b, const char *name, const char *help,
                               double value, int nlabels, ...)
{
    va_list ap;
    va_start(ap, nlabels);
    struct exp_series *s = addva(b, exp_family(b, name, help, EXP_COUNTER), value, nlabels, ap);
    va_end(ap);
    return s;
}

int exp_set_buckets(struct exp_builder *b, struct exp_series *s, const struct exp_bucket *buckets,
                    uint32_t n, double sum, double count)
{
    if (!s)
        return -EINVAL;
    s->buckets = NULL;
    if (n) {
        s->buckets = cn_arena_alloc(b->arena, n * sizeof(*buckets));
        if (!s->buckets) {
            fail(b, -ENOMEM);
            return -ENOMEM;
        }
        memcpy(s->buckets, buckets, n * sizeof(*buckets));
    }
    s->nbuckets = n;
    s->sum = sum;
    s->count = count;
    return 0;
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct exp_label *)a)->name, ((const struct exp_label *)b)->name);
}

static int cmp_series(const void *pa, const void *pb)
{
    const struct exp_series *a = pa, *b = pb;
    uint32_t n = a->nlabels < b->nlabels ? a->nlabels : b->nlabels;
    for (uint32_t i = 0; i < n; i++) {
        int c = strcmp(a->labels[i].name, b->labels[i].name);
        if (c)
            return c;
        c = strcmp(a->labels[i].value, b->labels[i].value);
        if (c)
            return c;
    }
    return (a->nlabels > b->nlabels) - (a->nlabels < b->nlabels);
}

static int cmp_family(const void *a, const void *b)
{
    return strcmp((*(struct exp_family *const *)a)->name, (*(struct exp_family *const *)b)->name);
}

int exp_builder_finish(struct exp_builder *b)
{
    int dups = 0;
    if (b->finished)
        return 0;
    for (size_t i = 0; i < b->nfams; i++) {
        struct exp_family *f = b->fams[i];
        for (uint32_t j = 0; j < f->nseries; j++)
            if (f->series[j].nlabels > 1)
                qsort(f->series[j].labels, f->series[j].nlabels, sizeof(struct exp_label),
                      cmp_label);
        if (f->nseries > 1) {
            qsort(f->series, f->nseries, sizeof(*f->series), cmp_series);
            uint32_t w = 1;
            for (uint32_t r = 1; r < f->nseries; r++) {
                if (cmp_series(&f->series[w - 1], &f->series[r]) == 0) {
                    dups++;
                    continue;
                }
                f->series[w++] = f->series[r];
            }
            f->nseries = w;
        }
    }
    if (b->nfams > 1)
        qsort(b->fams, b->nfams, sizeof(*b->fams), cmp_family);
    b->finished = true;
    return dups;
}

struct exp_family *const *exp_builder_families(const struct exp_builder *b, size_t *n)
{
    *n = b->nfams;
    return b->fams;
}
