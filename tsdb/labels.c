/* The data model's small pieces: label sets and the staleness marker. */
#include "tsdb/tsdb.h"

#include <string.h>

double tsdb_stale_nan(void)
{
    uint64_t bits = TSDB_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof(v));
    return v;
}

bool tsdb_is_stale_nan(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits == TSDB_STALE_NAN_BITS;
}

int tsdb_labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c)
            return c;
        c = strcmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return (a->n > b->n) - (a->n < b->n);
}

const char *tsdb_labels_get(const struct tsdb_labels *ls, const char *name)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].name, name) == 0)
            return ls->v[i].value;
    return NULL;
}

uint64_t tsdb_labels_hash(const struct tsdb_labels *ls)
{
    /* FNV-1a over name\xff value\xff ...: the separator keeps ("a","bc")
     * and ("ab","c") apart. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < ls->n; i++) {
        for (const char *p = ls->v[i].name; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
        for (const char *p = ls->v[i].value; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}
