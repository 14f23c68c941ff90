/*
 * The head: cairn's in-memory, appendable part of the TSDB, after
 * Prometheus' tsdb/head.go and head_append.go, shaped for one node's few
 * thousand series rather than millions.
 *
 * Layout and why:
 * - Strings are interned in one open-addressing table (h->syms) and never
 *   freed before the head: a series' labels are pointers into it, postings
 *   are keyed by the pointer pair, so comparing a label is a pointer compare
 *   and a name such as "__name__" costs its bytes once.
 * - Series are allocated one by one (labels inline) and reached by reference
 *   through h->by_ref (reference r is index r - 1, NULL once the series is
 *   removed). References are never reused: new series take h->next_ref, and
 *   a replayed series may be created with the reference its WAL record
 *   carries (the next ones then follow it), so WAL records stay
 *   unambiguous across restarts. The table costs a pointer per reference
 *   ever handed out, which series churn on one node keeps small.
 * - A second open-addressing table maps a label-set hash to references for
 *   tsdb_head_append; collisions are resolved by comparing label sets.
 * - Postings are per (name, value) arrays of references. References grow
 *   with creation, so appending keeps every list sorted; "all postings" is
 *   every non-NULL slot of h->by_ref.
 * - Truncation (after a block is cut) drops chunks that end before the
 *   block's end and removes series left without chunks, then rebuilds the
 *   derived tables (series map, postings, names, symbols) from the series
 *   that remain: a full pass every two hours is cheaper to get right than
 *   deletion from open-addressing tables and sorted lists.
 * - The open chunk lives in a buffer that starts at HEAD_CHUNK_START bytes
 *   and grows by a quarter (at least 32 bytes) on -ENOSPC; as soon as it
 *   holds TSDB_XOR_SAMPLES_PER_CHUNK samples it is closed. The encoder
 *   struct survives the cut (its last timestamp and value order the next
 *   append), so a series costs no buffer between a cut and its next sample.
 * - A closed chunk of an in-memory head (tsdb_head_create) is shrunk to its
 *   exact length and kept. A disk-backed head (tsdb_head_create_disk)
 *   writes it to chunks_head/ in Prometheus' format (head_chunks.c) and
 *   keeps only its time range, file and offset (32 bytes), as Prometheus'
 *   m-mapped head chunks; readers pread it back. That is what brings a
 *   series with two hours of samples under 1 KiB. The files are for
 *   Prometheus started on the data directory: cairn rebuilds its head from
 *   the WAL and deletes them when it creates the head.
 * - When a write fails (full disk) the chunk stays in memory, and the next
 *   time one of that series' chunks closes its in-memory closed chunks are
 *   written again, oldest first, up to the first failure. So in every
 *   series the chunks on disk come before those in memory, and each series'
 *   on-disk chunks are in time order: Prometheus skips a series' WAL
 *   samples up to its last chunk on disk and refuses chunks out of order.
 * - Truncation releases the dropped chunks' file references and lets
 *   head_chunks.c end the file being written and delete unreferenced files.
 *
 * Locking: one pthread rwlock. Appends hold it exclusively for one sample
 * (and the chunk write it may cause); readers hold it shared while they
 * copy what they need (decoded samples, label pointers, which stay valid
 * for the head's life), reading chunk files with pread, which needs no
 * shared state beyond descriptors that change only under the write lock.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/internal.h"

#define HEAD_CHUNK_START 40
#define HEAD_CHUNK_MAX (2 + TSDB_XOR_SAMPLES_PER_CHUNK * TSDB_XOR_MAX_SAMPLE_BYTES + 64)

/* A closed chunk: its bytes in memory, or where they are on disk. */
struct hchunk {
    int64_t mint, maxt;
    union {
        uint8_t *data; /* !on_disk: len bytes, owned */
        struct {
            uint32_t file, off; /* on_disk: file number, frame offset */
        } at;
    };
    uint32_t len;
    bool on_disk;
};

struct hseries {
    uint64_t hash;
    struct tsdb_xor_enc enc; /* the open chunk; enc.n == 0: no sample yet */
    int64_t open_mint;
    struct hchunk *closed; /* exactly nclosed entries, on-disk ones first */
    uint32_t nclosed;
    uint32_t ref;
    uint32_t nlabels;
    struct tsdb_label labels[]; /* interned strings */
};

struct postings {
    const char *name, *value;
    uint32_t *refs;
    uint32_t n, cap;
};

struct lname {
    const char *name;
    uint32_t *plist; /* indices into h->post */
    size_t n, cap;
};

struct tsdb_head {
    pthread_rwlock_t lock;
    char **syms; /* open addressing, NULL empty */
    size_t syms_cap, nsyms;
    struct hseries **by_ref; /* by_ref_len slots, NULL for removed series */
    size_t by_ref_len, by_ref_cap;
    size_t nseries;    /* live series */
    uint64_t next_ref; /* reference of the next new series */
    uint32_t *smap;    /* series map: refs, 0 empty */
    size_t smap_cap;
    struct postings *post;
    size_t npost, post_cap;
    uint32_t *pmap; /* postings map: index + 1, 0 empty */
    size_t pmap_cap;
    struct lname *names;
    size_t nnames, names_cap;
    uint64_t chunks, samples, ooo, dups;
    uint64_t chunk_bytes;      /* encoded bytes in memory (open chunks: capacity) */
    struct tsdb_hchunks *disk; /* NULL: closed chunks stay in memory */
    int64_t mint, maxt;
    int64_t min_valid; /* appends before this were cut into a block: refused */
};

static uint64_t str_hash(const char *s)
{
    uint64_t x = 1469598103934665603ULL;
    for (; *s; s++)
        x = (x ^ (unsigned char)*s) * 1099511628211ULL;
    return x;
}

static uint64_t ptr_hash(const void *a, const void *b)
{
    uint64_t x = (uint64_t)(uintptr_t)a * 0x9E3779B97F4A7C15ULL;
    x ^= (uint64_t)(uintptr_t)b * 0xC2B2AE3D27D4EB4FULL;
    return x ^ (x >> 29);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    return cn_array_grow(p, cap, need, size, 4);
}

/* ---- symbols ----------------------------------------------------------------------- */

static int syms_rehash(struct tsdb_head *h)
{
    size_t cap = h->syms_cap ? h->syms_cap * 2 : 256;
    char **t = cn_calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < h->syms_cap; i++) {
        if (!h->syms[i])
            continue;
        size_t j = str_hash(h->syms[i]) & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = h->syms[i];
    }
    free(h->syms);
    h->syms = t;
    h->syms_cap = cap;
    return 0;
}

/* The interned copy of s (NULL on -ENOMEM). */
static const char *intern(struct tsdb_head *h, const char *s)
{
    if ((h->nsyms + 1) * 2 > h->syms_cap && syms_rehash(h))
        return NULL;
    size_t j = str_hash(s) & (h->syms_cap - 1);
    while (h->syms[j]) {
        if (strcmp(h->syms[j], s) == 0)
            return h->syms[j];
        j = (j + 1) & (h->syms_cap - 1);
    }
    char *c = cn_strdup(s);
    if (!c)
        return NULL;
    h->syms[j] = c;
    h->nsyms++;
    return c;
}

/* ---- series map and postings ------------------------------------------------------- */

static int smap_rehash(struct tsdb_head *h)
{
    size_t cap = h->smap_cap ? h->smap_cap * 2 : 256;
    uint32_t *t = cn_calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < h->smap_cap; i++) {
        if (!h->smap[i])
            continue;
        size_t j = h->by_ref[h->smap[i] - 1]->hash & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = h->smap[i];
    }
    free(h->smap);
    h->smap = t;
    h->smap_cap = cap;
    return 0;
}

static struct hseries *smap_find(const struct tsdb_head *h, const struct tsdb_labels *ls,
                                 uint64_t hash)
{
    if (!h->smap_cap)
        return NULL;
    for (size_t j = hash & (h->smap_cap - 1); h->smap[j]; j = (j + 1) & (h->smap_cap - 1)) {
        struct hseries *s = h->by_ref[h->smap[j] - 1];
        struct tsdb_labels sl = {s->labels, s->nlabels};
        if (s->hash == hash && tsdb_labels_cmp(&sl, ls) == 0)
            return s;
    }
    return NULL;
}

static int pmap_rehash(struct tsdb_head *h)
{
    size_t cap = h->pmap_cap ? h->pmap_cap * 2 : 256;
    uint32_t *t = cn_calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < h->pmap_cap; i++) {
        if (!h->pmap[i])
            continue;
        const struct postings *p = &h->post[h->pmap[i] - 1];
        size_t j = ptr_hash(p->name, p->value) & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = h->pmap[i];
    }
    free(h->pmap);
    h->pmap = t;
    h->pmap_cap = cap;
    return 0;
}

/* The postings of an interned pair, or NULL. */
static struct postings *post_find(const struct tsdb_head *h, const char *name, const char *value)
{
    if (!h->pmap_cap)
        return NULL;
    for (size_t j = ptr_hash(name, value) & (h->pmap_cap - 1); h->pmap[j];
         j = (j + 1) & (h->pmap_cap - 1)) {
        struct postings *p = &h->post[h->pmap[j] - 1];
        if (p->name == name && p->value == value)
            return p;
    }
    return NULL;
}

static struct lname *name_find(const struct tsdb_head *h, const char *name)
{
    for (size_t i = 0; i < h->nnames; i++)
        if (strcmp(h->names[i].name, name) == 0)
            return &h->names[i];
    return NULL;
}

/* Finds or creates the postings of an interned pair with room for one more
 * reference. An empty list left behind by a later failure is harmless. */
static struct postings *post_reserve(struct tsdb_head *h, const char *name, const char *value)
{
    struct postings *p = post_find(h, name, value);
    if (!p) {
        struct lname *ln = NULL;
        for (size_t i = 0; i < h->nnames; i++)
            if (h->names[i].name == name)
                ln = &h->names[i];
        if (!ln) {
            if (grow((void **)&h->names, &h->names_cap, h->nnames + 1, sizeof(*h->names)))
                return NULL;
            ln = &h->names[h->nnames++];
            *ln = (struct lname){.name = name};
        }
        if (grow((void **)&ln->plist, &ln->cap, ln->n + 1, sizeof(uint32_t)))
            return NULL;
        if ((h->npost + 1) * 2 > h->pmap_cap && pmap_rehash(h))
            return NULL;
        if (grow((void **)&h->post, &h->post_cap, h->npost + 1, sizeof(*h->post)))
            return NULL;
        p = &h->post[h->npost];
        *p = (struct postings){.name = name, .value = value};
        size_t j = ptr_hash(name, value) & (h->pmap_cap - 1);
        while (h->pmap[j])
            j = (j + 1) & (h->pmap_cap - 1);
        h->pmap[j] = (uint32_t)++h->npost;
        ln->plist[ln->n++] = (uint32_t)(h->npost - 1);
    }
    size_t cap = p->cap;
    if (grow((void **)&p->refs, &cap, p->n + 1, sizeof(uint32_t)))
        return NULL;
    p->cap = (uint32_t)cap;
    return p;
}

/* ---- create, destroy, append -------------------------------------------------------- */

int tsdb_head_create(struct tsdb_head **out)
{
    struct tsdb_head *h = cn_calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    /* Writer preference: a steady stream of queries must not starve the
     * appender (glibc prefers readers by default). No reader takes the lock
     * twice, which this kind would deadlock on. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&h->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc) {
        free(h);
        return -rc;
    }
    h->mint = INT64_MAX;
    h->maxt = INT64_MIN;
    h->min_valid = INT64_MIN;
    h->next_ref = 1;
    *out = h;
    return 0;
}

int tsdb_head_create_disk(const char *dir, struct tsdb_head **out)
{
    char cdir[PATH_MAX];
    if (!cn_path_join(cdir, sizeof(cdir), dir, TSDB_HEAD_CHUNKS_DIR, NULL))
        return -ENAMETOOLONG;
    struct tsdb_head *h;
    int rc = tsdb_head_create(&h);
    if (rc)
        return rc;
    if ((rc = tsdb_hchunks_open(cdir, &h->disk))) {
        tsdb_head_destroy(h);
        return rc;
    }
    *out = h;
    return 0;
}

static void series_free(struct hseries *s)
{
    if (!s)
        return;
    for (uint32_t k = 0; k < s->nclosed; k++)
        if (!s->closed[k].on_disk)
            free(s->closed[k].data);
    free(s->closed);
    free(s->enc.buf);
    free(s);
}

static void tables_free(struct tsdb_head *t)
{
    free(t->syms);
    free(t->smap);
    for (size_t i = 0; i < t->npost; i++)
        free(t->post[i].refs);
    free(t->post);
    free(t->pmap);
    for (size_t i = 0; i < t->nnames; i++)
        free(t->names[i].plist);
    free(t->names);
}

void tsdb_head_destroy(struct tsdb_head *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->by_ref_len; i++)
        series_free(h->by_ref[i]);
    free(h->by_ref);
    for (size_t i = 0; i < h->syms_cap; i++)
        free(h->syms[i]);
    tables_free(h);
    tsdb_hchunks_close(h->disk);
    pthread_rwlock_destroy(&h->lock);
    free(h);
}

static bool labels_valid(const struct tsdb_labels *ls)
{
    if (!ls || ls->n == 0 || ls->n > UINT16_MAX)
        return false;
    for (size_t i = 0; i < ls->n; i++)
        if (!ls->v[i].name || !ls->v[i].value || !*ls->v[i].name || !*ls->v[i].value ||
            (i && strcmp(ls->v[i - 1].name, ls->v[i].name) >= 0))
            return false;
    return true;
}

/* Creates the series; everything that can fail is reserved first, so a
 * failure leaves no half-registered series. */
static int series_create(struct tsdb_head *h, const struct tsdb_labels *ls, uint64_t hash,
                         uint64_t ref, struct hseries **out)
{
    if (ref == 0 || ref >= UINT32_MAX)
        return -ENOSPC;
    if (ref <= h->by_ref_len && h->by_ref[ref - 1])
        return -EINVAL;
    struct hseries *s = cn_calloc(1, sizeof(*s) + ls->n * sizeof(struct tsdb_label));
    if (!s)
        return -ENOMEM;
    s->hash = hash;
    s->nlabels = (uint32_t)ls->n;
    for (size_t i = 0; i < ls->n; i++) {
        s->labels[i].name = intern(h, ls->v[i].name);
        s->labels[i].value = s->labels[i].name ? intern(h, ls->v[i].value) : NULL;
        if (!s->labels[i].value || !post_reserve(h, s->labels[i].name, s->labels[i].value))
            goto nomem;
    }
    if (grow((void **)&h->by_ref, &h->by_ref_cap, ref, sizeof(*h->by_ref)))
        goto nomem;
    for (; h->by_ref_len < ref; h->by_ref_len++)
        h->by_ref[h->by_ref_len] = NULL;
    h->by_ref[ref - 1] = s; /* smap_rehash looks series up by reference */
    if ((h->nseries + 1) * 2 > h->smap_cap && smap_rehash(h)) {
        h->by_ref[ref - 1] = NULL;
        goto nomem;
    }
    h->nseries++;
    if (ref >= h->next_ref)
        h->next_ref = ref + 1;
    size_t j = hash & (h->smap_cap - 1);
    while (h->smap[j])
        j = (j + 1) & (h->smap_cap - 1);
    h->smap[j] = (uint32_t)ref;
    s->ref = (uint32_t)ref;
    for (size_t i = 0; i < ls->n; i++) {
        struct postings *p = post_find(h, s->labels[i].name, s->labels[i].value);
        p->refs[p->n++] = (uint32_t)ref;
    }
    *out = s;
    return 0;
nomem:
    free(s);
    return -ENOMEM;
}

static uint64_t fbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

/* A fresh chunk buffer with the sample appended. */
static int chunk_start(struct tsdb_xor_enc *e, int64_t t, double v)
{
    uint8_t *buf = cn_malloc(HEAD_CHUNK_START);
    if (!buf)
        return -ENOMEM;
    int rc = tsdb_xor_init(e, buf, HEAD_CHUNK_START);
    if (!rc)
        rc = tsdb_xor_append(e, t, v);
    if (rc)
        free(buf);
    return rc;
}

/* Sizes glibc serves without slack: 16-byte steps minus its 8-byte header. */
static size_t next_cap(size_t cap)
{
    size_t step = cap / 4 > 32 ? cap / 4 : 32;
    return ((cap + step + 8 + 15) & ~(size_t)15) - 8;
}

/* Writes the series' closed chunks that are in memory to disk, oldest
 * first, up to the first failure (see the file-top comment). */
static void spill(struct tsdb_head *h, struct hseries *s)
{
    uint32_t k = s->nclosed;
    while (k > 0 && !s->closed[k - 1].on_disk)
        k--;
    for (; k < s->nclosed; k++) {
        struct hchunk *c = &s->closed[k];
        uint32_t file, off;
        if (tsdb_hchunks_write(h->disk, s->ref, c->mint, c->maxt, c->data, c->len, &file, &off))
            return;
        free(c->data);
        h->chunk_bytes -= c->len;
        c->at.file = file;
        c->at.off = off;
        c->on_disk = true;
    }
}

/* Moves the full open chunk to the closed ones: to disk for a disk-backed
 * head, else (or when that fails) shrunk to its length. The encoder keeps
 * its last timestamp and value (n stays non-zero) with no buffer, so the
 * next append checks order and starts a new chunk. */
static int close_open(struct tsdb_head *h, struct hseries *s)
{
    struct tsdb_xor_enc *e = &s->enc;
    struct hchunk *cl = cn_realloc(s->closed, (s->nclosed + 1) * sizeof(*cl));
    if (!cl)
        return -ENOMEM;
    s->closed = cl;
    size_t len = tsdb_xor_len(e);
    struct hchunk *c = &cl[s->nclosed++];
    *c = (struct hchunk){.mint = s->open_mint, .maxt = e->t, .data = e->buf, .len = (uint32_t)len};
    h->chunk_bytes -= e->cap - len;
    e->buf = NULL;
    e->cap = 0;
    if (h->disk)
        spill(h, s);
    if (!c->on_disk) {
        uint8_t *data = cn_realloc(c->data, len);
        if (data)
            c->data = data;
    }
    return 0;
}

static int series_append(struct tsdb_head *h, struct hseries *s, int64_t t, double v)
{
    struct tsdb_xor_enc *e = &s->enc;
    if (t < h->min_valid) {
        h->ooo++;
        return -ERANGE;
    }
    if (e->n) {
        if (t < e->t) {
            h->ooo++;
            return -ERANGE;
        }
        if (t == e->t) {
            if (fbits(v) == fbits(e->v))
                return 0;
            h->dups++;
            return -EEXIST;
        }
    }
    /* A full chunk that could not be closed last time (no memory). */
    if (e->buf && e->n >= TSDB_XOR_SAMPLES_PER_CHUNK && close_open(h, s))
        return -ENOMEM;
    if (!e->buf) {
        struct tsdb_xor_enc ne;
        int rc = chunk_start(&ne, t, v);
        if (rc)
            return rc;
        *e = ne;
        s->open_mint = t;
        h->chunks++;
        h->chunk_bytes += e->cap;
    } else {
        int rc;
        while ((rc = tsdb_xor_append(e, t, v)) == -ENOSPC) {
            size_t cap = next_cap(e->cap);
            if (cap > HEAD_CHUNK_MAX * 2)
                return -ENOSPC;
            uint8_t *nb = cn_realloc(e->buf, cap);
            if (!nb)
                return -ENOMEM;
            h->chunk_bytes += cap - e->cap;
            tsdb_xor_set_buffer(e, nb, cap);
        }
        if (rc)
            return rc;
    }
    h->samples++;
    if (t < h->mint)
        h->mint = t;
    if (t > h->maxt)
        h->maxt = t;
    /* Close eagerly so a full chunk holds no spare bytes; on failure it is
     * retried on the next append. */
    if (e->n >= TSDB_XOR_SAMPLES_PER_CHUNK)
        (void)close_open(h, s);
    return 0;
}

int tsdb_head_append(struct tsdb_head *h, const struct tsdb_labels *ls, int64_t t, double v,
                     uint64_t *ref)
{
    if (!labels_valid(ls))
        return -EINVAL;
    uint64_t hash = tsdb_labels_hash(ls);
    pthread_rwlock_wrlock(&h->lock);
    struct hseries *s = smap_find(h, ls, hash);
    int rc = 0;
    if (!s)
        rc = series_create(h, ls, hash, h->next_ref, &s);
    if (!rc) {
        if (ref)
            *ref = s->ref;
        rc = series_append(h, s, t, v);
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

int tsdb_head_append_ref(struct tsdb_head *h, uint64_t ref, int64_t t, double v)
{
    pthread_rwlock_wrlock(&h->lock);
    struct hseries *s = ref >= 1 && ref <= h->by_ref_len ? h->by_ref[ref - 1] : NULL;
    int rc = s ? series_append(h, s, t, v) : -ENOENT;
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

int tsdb_head_create_series(struct tsdb_head *h, const struct tsdb_labels *ls, uint64_t ref,
                            uint64_t *got)
{
    if (!labels_valid(ls))
        return -EINVAL;
    uint64_t hash = tsdb_labels_hash(ls);
    pthread_rwlock_wrlock(&h->lock);
    struct hseries *s = smap_find(h, ls, hash);
    int rc = 0;
    if (!s) {
        rc = series_create(h, ls, hash, ref ? ref : h->next_ref, &s);
        if (rc == -EINVAL)
            rc = -EEXIST; /* the reference belongs to another series */
        else if (!rc)
            rc = 1;
    }
    if (rc >= 0 && got)
        *got = s->ref;
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

bool tsdb_head_has_series(struct tsdb_head *h, uint64_t ref)
{
    pthread_rwlock_rdlock(&h->lock);
    bool yes = ref >= 1 && ref <= h->by_ref_len && h->by_ref[ref - 1];
    pthread_rwlock_unlock(&h->lock);
    return yes;
}

int tsdb_head_foreach(struct tsdb_head *h,
                      int (*fn)(void *ctx, uint64_t ref, const struct tsdb_labels *ls), void *ctx)
{
    int rc = 0;
    pthread_rwlock_rdlock(&h->lock);
    for (size_t i = 0; !rc && i < h->by_ref_len; i++) {
        const struct hseries *s = h->by_ref[i];
        if (s) {
            struct tsdb_labels ls = {s->labels, s->nlabels};
            rc = fn(ctx, s->ref, &ls);
        }
    }
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

void tsdb_head_stats(struct tsdb_head *h, struct tsdb_head_stats *st)
{
    pthread_rwlock_rdlock(&h->lock);
    *st = (struct tsdb_head_stats){.series = h->nseries,
                                   .chunks = h->chunks,
                                   .samples = h->samples,
                                   .out_of_order = h->ooo,
                                   .duplicates = h->dups,
                                   .mint = h->mint,
                                   .maxt = h->maxt,
                                   .symbols = h->nsyms,
                                   .chunk_bytes = h->chunk_bytes};
    if (h->disk)
        tsdb_hchunks_stats(h->disk, st);
    pthread_rwlock_unlock(&h->lock);
}

/* ---- reading ------------------------------------------------------------------------ */

struct sbuf {
    struct tsdb_sample *v;
    size_t n, cap;
    uint8_t *frame; /* a chunk read from disk */
    size_t frame_cap;
};

static void sbuf_free(struct sbuf *b)
{
    free(b->v);
    free(b->frame);
}

static int decode_into(struct sbuf *b, const uint8_t *data, size_t len, int64_t mint, int64_t maxt)
{
    struct tsdb_xor_iter it;
    tsdb_xor_iter_init(&it, data, len);
    size_t cnt = tsdb_xor_count(data, len);
    if (grow((void **)&b->v, &b->cap, b->n + cnt + 1, sizeof(*b->v)))
        return -ENOMEM;
    size_t start = b->n;
    int got;
    while ((got = tsdb_xor_next_batch(&it, b->v + b->n, b->cap - b->n)) > 0)
        b->n += (size_t)got;
    if (got < 0)
        return got;
    /* Keep only mint <= t <= maxt. */
    size_t w = start;
    for (size_t i = start; i < b->n; i++)
        if (b->v[i].t >= mint && b->v[i].t <= maxt)
            b->v[w++] = b->v[i];
    b->n = w;
    return 0;
}

/* Appends the series' samples in [mint, maxt] to b. Caller holds the lock. */
static int series_samples(const struct tsdb_head *h, const struct hseries *s, int64_t mint,
                          int64_t maxt, struct sbuf *b)
{
    for (uint32_t k = 0; k < s->nclosed; k++) {
        const struct hchunk *c = &s->closed[k];
        if (c->maxt < mint || c->mint > maxt)
            continue;
        const uint8_t *data = c->data;
        int rc = 0;
        if (c->on_disk) {
            if (grow((void **)&b->frame, &b->frame_cap, tsdb_hchunks_frame_size(c->len), 1))
                return -ENOMEM;
            rc = tsdb_hchunks_read(h->disk, c->at.file, c->at.off, s->ref, c->mint, c->maxt, c->len,
                                   b->frame, &data);
        }
        if (!rc)
            rc = decode_into(b, data, c->len, mint, maxt);
        if (rc)
            return rc;
    }
    if (s->enc.buf && s->enc.t >= mint && s->open_mint <= maxt)
        return decode_into(b, s->enc.buf, tsdb_xor_len(&s->enc), mint, maxt);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static bool series_matches(const struct hseries *s, const struct tsdb_matcher *const *ms,
                           size_t nms)
{
    for (size_t i = 0; i < nms; i++) {
        const char *v = "";
        for (uint32_t k = 0; k < s->nlabels; k++)
            if (strcmp(s->labels[k].name, tsdb_matcher_name(ms[i])) == 0) {
                v = s->labels[k].value;
                break;
            }
        if (!tsdb_matcher_matches(ms[i], v))
            return false;
    }
    return true;
}

/*
 * Candidate references for the matchers, ascending, or all series
 * (*all = true). Postings narrow the search by one matcher that cannot match
 * "" (an equality, else a regex, whose matching values' lists are merged);
 * every candidate is then checked against all matchers, which gives
 * Prometheus' semantics for the rest. Caller holds the lock; *refs is
 * malloc'd.
 */
static int candidates(const struct tsdb_head *h, const struct tsdb_matcher *const *ms, size_t nms,
                      uint32_t **refs, size_t *n, bool *all)
{
    *refs = NULL;
    *n = 0;
    *all = false;
    const struct tsdb_matcher *pick = NULL;
    for (size_t i = 0; i < nms; i++) {
        enum tsdb_match_type ty = tsdb_matcher_type(ms[i]);
        if (tsdb_matcher_matches(ms[i], ""))
            continue;
        if (ty == TSDB_MATCH_EQ) {
            pick = ms[i];
            break;
        }
        if (ty == TSDB_MATCH_RE && !pick)
            pick = ms[i];
    }
    if (!pick) {
        *all = true;
        return 0;
    }
    const struct lname *ln = name_find(h, tsdb_matcher_name(pick));
    if (!ln)
        return 0;
    size_t cap = 0;
    uint32_t *out = NULL;
    size_t nout = 0, nlists = 0;
    for (size_t i = 0; i < ln->n; i++) {
        const struct postings *p = &h->post[ln->plist[i]];
        if (!p->n || !tsdb_matcher_matches(pick, p->value))
            continue;
        if (grow((void **)&out, &cap, nout + p->n, sizeof(*out))) {
            free(out);
            return -ENOMEM;
        }
        memcpy(out + nout, p->refs, p->n * sizeof(*out));
        nout += p->n;
        nlists++;
    }
    if (nlists > 1) {
        /* Each series has one value per name: the lists are disjoint. */
        qsort(out, nout, sizeof(*out), cmp_u32);
    }
    *refs = out;
    *n = nout;
    return 0;
}

/* Calls fn for every series matching the matchers, in reference order,
 * with the read lock held. */
static int each_match(struct tsdb_head *h, const struct tsdb_matcher *const *ms, size_t nms,
                      int (*fn)(struct hseries *s, void *arg), void *arg)
{
    pthread_rwlock_rdlock(&h->lock);
    uint32_t *refs;
    size_t n;
    bool all;
    int rc = candidates(h, ms, nms, &refs, &n, &all);
    if (all)
        n = h->by_ref_len;
    for (size_t i = 0; !rc && i < n; i++) {
        struct hseries *s = h->by_ref[all ? i : refs[i] - 1];
        if (s && series_matches(s, ms, nms))
            rc = fn(s, arg);
    }
    pthread_rwlock_unlock(&h->lock);
    free(refs);
    return rc;
}

struct select_arg {
    const struct tsdb_head *h;
    int64_t mint, maxt;
    struct sbuf buf;
    struct tsdb_series_set *out;
};

static int select_one(struct hseries *s, void *arg)
{
    struct select_arg *a = arg;
    a->buf.n = 0;
    int rc = series_samples(a->h, s, a->mint, a->maxt, &a->buf);
    if (rc || !a->buf.n)
        return rc;
    struct tsdb_labels ls = {s->labels, s->nlabels};
    return tsdb_series_set_add(a->out, &ls, a->buf.v, a->buf.n);
}

static int head_select(void *ctx, const struct tsdb_matcher *const *ms, size_t nms, int64_t mint,
                       int64_t maxt, struct tsdb_series_set *out)
{
    /* Samples before min_valid belong to blocks (or are past retention),
     * even where a chunk spanning the cut still holds them. */
    struct tsdb_head *h = ctx;
    pthread_rwlock_rdlock(&h->lock);
    if (mint < h->min_valid)
        mint = h->min_valid;
    pthread_rwlock_unlock(&h->lock);
    struct select_arg a = {.h = h, .mint = mint, .maxt = maxt, .out = out};
    int rc = each_match(ctx, ms, nms, select_one, &a);
    sbuf_free(&a.buf);
    return rc;
}

struct names_arg {
    const char *name; /* NULL: collect names, else values of name */
    const char **v;
    size_t n, cap;
};

static int names_one(struct hseries *s, void *arg)
{
    struct names_arg *a = arg;
    if (grow((void **)&a->v, &a->cap, a->n + s->nlabels, sizeof(*a->v)))
        return -ENOMEM;
    for (uint32_t k = 0; k < s->nlabels; k++) {
        if (!a->name)
            a->v[a->n++] = s->labels[k].name;
        else if (strcmp(s->labels[k].name, a->name) == 0)
            a->v[a->n++] = s->labels[k].value;
    }
    return 0;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (const char *const *)a, y = (uintptr_t) * (const char *const *)b;
    return (x > y) - (x < y);
}

/* Interned strings are unique by pointer: sort by pointer, copy each once. */
static int names_finish(struct names_arg *a, struct tsdb_strings *out)
{
    if (a->n)
        qsort(a->v, a->n, sizeof(*a->v), cmp_ptr);
    int rc = 0;
    for (size_t i = 0; i < a->n && !rc; i++)
        if (!i || a->v[i] != a->v[i - 1])
            rc = tsdb_strings_add(out, a->v[i]);
    free(a->v);
    return rc;
}

static int head_names(struct tsdb_head *h, const char *name, const struct tsdb_matcher *const *ms,
                      size_t nms, struct tsdb_strings *out)
{
    struct names_arg a = {.name = name};
    int rc = 0;
    if (nms == 0) {
        /* Straight from the name table and postings, without series. */
        pthread_rwlock_rdlock(&h->lock);
        const struct lname *ln = name ? name_find(h, name) : NULL;
        for (size_t i = 0; !rc && i < (name ? (ln ? ln->n : 0) : h->nnames); i++) {
            /* Skip lists left empty by a failed series creation. */
            bool used = false;
            if (name)
                used = h->post[ln->plist[i]].n > 0;
            for (size_t k = 0; !name && !used && k < h->names[i].n; k++)
                used = h->post[h->names[i].plist[k]].n > 0;
            if (used)
                rc = tsdb_strings_add(out, name ? h->post[ln->plist[i]].value : h->names[i].name);
        }
        pthread_rwlock_unlock(&h->lock);
        return rc;
    }
    rc = each_match(h, ms, nms, names_one, &a);
    if (rc) {
        free(a.v);
        return rc;
    }
    return names_finish(&a, out);
}

static int head_label_names(void *ctx, const struct tsdb_matcher *const *ms, size_t nms,
                            struct tsdb_strings *out)
{
    return head_names(ctx, NULL, ms, nms, out);
}

static int head_label_values(void *ctx, const char *name, const struct tsdb_matcher *const *ms,
                             size_t nms, struct tsdb_strings *out)
{
    return head_names(ctx, name, ms, nms, out);
}

static const struct tsdb_source_ops head_ops = {
    .select = head_select,
    .label_names = head_label_names,
    .label_values = head_label_values,
};

struct tsdb_source tsdb_head_source(struct tsdb_head *h)
{
    return (struct tsdb_source){&head_ops, h};
}

/* ---- cutting a block ---------------------------------------------------------------- */

int tsdb_head_write_block(struct tsdb_head *h, const char *parent, int64_t mint, int64_t maxt,
                          char *ulid_out)
{
    if (maxt <= mint)
        return -EINVAL;
    /* Copy under the read lock: samples into one array, label pointers
     * (interned, so valid until the next truncation) by reference. */
    struct tsdb_block_series *bs = NULL;
    size_t nbs = 0, bcap = 0;
    struct sbuf all = {0};
    int rc = 0;
    pthread_rwlock_rdlock(&h->lock);
    for (size_t i = 0; i < h->by_ref_len && !rc; i++) {
        const struct hseries *s = h->by_ref[i];
        if (!s)
            continue;
        size_t before = all.n;
        rc = series_samples(h, s, mint, maxt - 1, &all);
        if (rc || all.n == before)
            continue;
        rc = grow((void **)&bs, &bcap, nbs + 1, sizeof(*bs));
        if (!rc)
            bs[nbs++] = (struct tsdb_block_series){.labels = {s->labels, s->nlabels},
                                                   .nsamples = all.n - before,
                                                   .samples = (void *)(uintptr_t)before};
    }
    pthread_rwlock_unlock(&h->lock);
    if (!rc && nbs == 0)
        rc = -ENODATA;
    if (!rc) {
        for (size_t i = 0; i < nbs; i++)
            bs[i].samples = all.v + (uintptr_t)bs[i].samples;
        rc = tsdb_block_write_range(parent, bs, nbs, mint, maxt, ulid_out);
    }
    free(bs);
    sbuf_free(&all);
    return rc;
}

/* ---- truncation --------------------------------------------------------------------- */

/* Drops the series' chunks that end before mint. True when none is left. */
static bool series_truncate(struct tsdb_head *h, struct hseries *s, int64_t mint,
                            struct tsdb_head_truncation *st)
{
    uint32_t keep = 0;
    for (uint32_t k = 0; k < s->nclosed; k++) {
        struct hchunk *c = &s->closed[k];
        if (c->maxt >= mint) {
            s->closed[keep++] = *c;
            continue;
        }
        h->chunks--;
        st->chunks++;
        if (c->on_disk) {
            tsdb_hchunks_release(h->disk, c->at.file);
        } else {
            h->chunk_bytes -= c->len;
            free(c->data);
        }
    }
    s->nclosed = keep;
    if (!keep) {
        free(s->closed);
        s->closed = NULL;
    }
    if (s->enc.buf && s->enc.t < mint) {
        h->chunk_bytes -= s->enc.cap;
        h->chunks--;
        st->chunks++;
        free(s->enc.buf);
        s->enc.buf = NULL;
        s->enc.cap = 0;
    }
    return !keep && !s->enc.buf;
}

/* Inserts an already interned string into a symbol table being rebuilt. */
static int syms_put(struct tsdb_head *t, char *str)
{
    if ((t->nsyms + 1) * 2 > t->syms_cap && syms_rehash(t))
        return -ENOMEM;
    size_t j = str_hash(str) & (t->syms_cap - 1);
    while (t->syms[j]) {
        if (t->syms[j] == str)
            return 0;
        j = (j + 1) & (t->syms_cap - 1);
    }
    t->syms[j] = str;
    t->nsyms++;
    return 0;
}

static bool syms_has(const struct tsdb_head *t, const char *str)
{
    if (!t->syms_cap)
        return false;
    for (size_t j = str_hash(str) & (t->syms_cap - 1); t->syms[j]; j = (j + 1) & (t->syms_cap - 1))
        if (t->syms[j] == str)
            return true;
    return false;
}

/* Builds symbols, series map, postings and names of the series for which
 * dead[i] is false into t (zeroed; by_ref shared with h). */
static int tables_build(struct tsdb_head *h, const bool *dead, struct tsdb_head *t)
{
    t->by_ref = h->by_ref;
    t->by_ref_len = h->by_ref_len;
    for (size_t i = 0; i < h->by_ref_len; i++) {
        struct hseries *s = h->by_ref[i];
        if (!s || dead[i])
            continue;
        for (uint32_t k = 0; k < s->nlabels; k++) {
            struct tsdb_label *l = &s->labels[k];
            struct postings *p;
            if (syms_put(t, (char *)l->name) || syms_put(t, (char *)l->value) ||
                !(p = post_reserve(t, l->name, l->value)))
                return -ENOMEM;
            p->refs[p->n++] = s->ref;
        }
        if ((t->nseries + 1) * 2 > t->smap_cap && smap_rehash(t))
            return -ENOMEM;
        size_t j = s->hash & (t->smap_cap - 1);
        while (t->smap[j])
            j = (j + 1) & (t->smap_cap - 1);
        t->smap[j] = s->ref;
        t->nseries++;
    }
    return 0;
}

int tsdb_head_truncate(struct tsdb_head *h, int64_t mint, struct tsdb_head_truncation *st)
{
    struct tsdb_head_truncation local = {0};
    if (!st)
        st = &local;
    *st = (struct tsdb_head_truncation){0};
    pthread_rwlock_wrlock(&h->lock);
    bool *dead = cn_calloc(h->by_ref_len + 1, sizeof(*dead));
    size_t ndead = 0;
    for (size_t i = 0; i < h->by_ref_len; i++)
        if (h->by_ref[i] && series_truncate(h, h->by_ref[i], mint, st) && dead) {
            dead[i] = true;
            ndead++;
        }
    int rc = dead ? 0 : -ENOMEM;
    if (ndead) {
        /* Build the new tables before freeing anything: on failure the
         * empty series simply stay until the next truncation. */
        struct tsdb_head t = {0};
        rc = tables_build(h, dead, &t);
        if (rc) {
            tables_free(&t);
        } else {
            for (size_t i = 0; i < h->syms_cap; i++)
                if (h->syms[i] && !syms_has(&t, h->syms[i]))
                    free(h->syms[i]);
            for (size_t i = 0; i < h->by_ref_len; i++)
                if (dead[i]) {
                    series_free(h->by_ref[i]);
                    h->by_ref[i] = NULL;
                }
            tables_free(h);
            h->syms = t.syms;
            h->syms_cap = t.syms_cap;
            h->nsyms = t.nsyms;
            h->smap = t.smap;
            h->smap_cap = t.smap_cap;
            h->post = t.post;
            h->npost = t.npost;
            h->post_cap = t.post_cap;
            h->pmap = t.pmap;
            h->pmap_cap = t.pmap_cap;
            h->names = t.names;
            h->nnames = t.nnames;
            h->names_cap = t.names_cap;
            h->nseries = t.nseries;
            st->series = ndead;
        }
    }
    if (h->disk)
        tsdb_hchunks_gc(h->disk);
    if (mint > h->min_valid)
        h->min_valid = mint;
    if (h->nseries == 0) {
        h->mint = INT64_MAX;
        h->maxt = INT64_MIN;
    } else if (h->mint < mint) {
        h->mint = mint;
    }
    pthread_rwlock_unlock(&h->lock);
    free(dead);
    return rc;
}
