/*
 * Snapshots: what /metrics serves. A snapshot holds references to the
 * finished builders of one collection cycle and a merged, name-sorted array
 * of their families. Encodings are rendered on the first request for each
 * (format, gzip) pair and cached, so a cycle costs one encode per format in
 * use however many scrapes arrive; concurrent first requests serialise on a
 * mutex and the rest read the cached bytes without locking.
 */
#include "exporter/exporter.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct rendering {
    _Atomic(bool) ready;
    char *data;
    size_t len;
};

struct exp_snapshot {
    atomic_int refs;
    int64_t timestamp_ms;
    struct exp_builder **builders;
    size_t nbuilders;
    struct exp_family **fams;
    size_t nfams;
    pthread_mutex_t lock;
    struct rendering cache[2][2]; /* [format][gzip] */
};

struct ordered {
    struct exp_family *f;
    size_t order;
};

static int cmp_ordered(const void *pa, const void *pb)
{
    const struct ordered *a = pa, *b = pb;
    int c = strcmp(a->f->name, b->f->name);
    if (c)
        return c;
    return (a->order > b->order) - (a->order < b->order);
}

struct exp_snapshot *exp_snapshot_create(struct exp_builder *const *builders, size_t n,
                                         int64_t timestamp_ms)
{
    struct exp_snapshot *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->timestamp_ms = timestamp_ms;
    pthread_mutex_init(&s->lock, NULL);
    s->builders = cn_calloc(n ? n : 1, sizeof(*s->builders));
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        exp_builder_families(builders[i], &k);
        total += k;
    }
    struct ordered *ord = cn_calloc(total ? total : 1, sizeof(*ord));
    s->fams = cn_calloc(total ? total : 1, sizeof(*s->fams));
    if (!s->builders || !ord || !s->fams) {
        free(ord);
        exp_snapshot_unref(s);
        return NULL;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        struct exp_family *const *f = exp_builder_families(builders[i], &k);
        for (size_t j = 0; j < k; j++, at++) {
            ord[at].f = f[j];
            ord[at].order = at;
        }
        exp_builder_ref(builders[i]);
        s->builders[s->nbuilders++] = builders[i];
    }
    if (total > 1)
        qsort(ord, total, sizeof(*ord), cmp_ordered);
    for (size_t i = 0; i < total; i++)
        s->fams[i] = ord[i].f;
    s->nfams = total;
    free(ord);
    return s;
}

void exp_snapshot_ref(struct exp_snapshot *s)
{
    atomic_fetch_add(&s->refs, 1);
}

void exp_snapshot_unref(struct exp_snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->nbuilders; i++)
        exp_builder_unref(s->builders[i]);
    for (int f = 0; f < 2; f++)
        for (int g = 0; g < 2; g++)
            free(s->cache[f][g].data);
    pthread_mutex_destroy(&s->lock);
    free(s->builders);
    free(s->fams);
    free(s);
}

struct exp_family *const *exp_snapshot_families(const struct exp_snapshot *s, size_t *n)
{
    *n = s->nfams;
    return s->fams;
}

int64_t exp_snapshot_timestamp(const struct exp_snapshot *s)
{
    return s->timestamp_ms;
}

/* gzip (RFC 1952) of in, at zlib's fastest level: scrapes come every few
 * seconds and the text compresses ~10x even at level 1. */
static int gzip_buf(const char *in, size_t len, char **out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    uLong cap = deflateBound(&z, (uLong)len);
    char *o = cn_malloc(cap);
    if (!o) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)o;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *outlen = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(o);
        return -EIO;
    }
    *out = o;
    return 0;
}

static int render_locked(struct exp_snapshot *s, enum exp_format fmt, bool gzip)
{
    struct rendering *r = &s->cache[fmt][gzip];
    if (atomic_load(&r->ready))
        return 0;
    if (gzip) {
        int rc = render_locked(s, fmt, false);
        if (rc)
            return rc;
        struct rendering *plain = &s->cache[fmt][0];
        rc = gzip_buf(plain->data, plain->len, &r->data, &r->len);
        if (rc)
            return rc;
    } else {
        struct cn_buf b;
        cn_buf_init(&b);
        exp_encode(&b, s->fams, s->nfams, fmt);
        if (b.err) {
            int err = b.err;
            cn_buf_free(&b);
            return err;
        }
        cn_buf_reserve(&b, 0); /* non-NULL data even when empty */
        if (b.err) {
            int err = b.err;
            cn_buf_free(&b);
            return err;
        }
        r->data = cn_buf_steal(&b, &r->len);
    }
    atomic_store(&r->ready, true);
    return 0;
}

int exp_snapshot_render(struct exp_snapshot *s, enum exp_format fmt, bool gzip, const char **data,
                        size_t *len)
{
    struct rendering *r = &s->cache[fmt][gzip];
    if (!atomic_load(&r->ready)) {
        pthread_mutex_lock(&s->lock);
        int rc = render_locked(s, fmt, gzip);
        pthread_mutex_unlock(&s->lock);
        if (rc)
            return rc;
    }
    *data = r->data;
    *len = r->len;
    return 0;
}
