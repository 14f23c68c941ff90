/*
 * Blocks: a directory <ULID>/ holding chunks/000001..., index, meta.json and
 * tombstones, as Prometheus 2.42 writes and reads them.
 *
 * Writer. One streaming writer (internal.h) makes every block, from
 * memory here and from other blocks in compact.c: it opens the chunk and
 * index writers in <ULID>.tmp, takes the sorted symbols, then series by
 * series their chunks and index entry, counting the stats; commit writes
 * meta.json and the tombstones file, fsyncs each file and the directories
 * and publishes the block with one rename, as Prometheus' compactor does;
 * any failure removes the .tmp directory. The tombstones file is the empty
 * one Prometheus writes: magic, version 1 and the CRC of no stones.
 * tsdb_block_write sorts the series by label set (through a permutation;
 * the input stays untouched), collects the symbols and cuts samples into
 * XOR chunks of 120 before streaming them through it.
 *
 * Reader. Opening reads meta.json, verifies the whole index (every postings
 * list and series checksum: a block's index is read once at open, and a
 * damaged one is better refused than half served) and maps the chunks.
 * Selection follows Prometheus' PostingsForMatchers: a matcher that does not
 * match "" contributes the union of the postings of the values it matches
 * (one lookup for =); one that matches "" removes the series whose value of
 * that label does not match it; with no positive matcher the start is every
 * series. Tombstones are read only on demand (compaction applies them;
 * reads through tsdb_block_series do not).
 */
#include "tsdb/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATHCAP 4096

static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* dir + "/" + name into out (PATHCAP bytes): 0 or -ENAMETOOLONG. */
static int join(char *out, const char *dir, const char *name)
{
    size_t d = strlen(dir), n = strlen(name);
    if (d + n + 2 > PATHCAP)
        return -ENAMETOOLONG;
    memcpy(out, dir, d);
    out[d] = '/';
    memcpy(out + d + 1, name, n + 1);
    return 0;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- streaming writer (internal.h) ------------------------------------------ */

struct tsdb_blockw {
    char ulid[TSDB_ULID_LEN + 1];
    char parent[PATHCAP], tmp[PATHCAP], final[PATHCAP];
    struct tsdb_chunk_writer *cw;
    struct tsdb_index_writer *iw;
    struct tsdb_blockw_stats st;
};

int tsdb_blockw_open(const char *parent, struct tsdb_blockw **out)
{
    *out = NULL;
    struct tsdb_blockw *w = cn_calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    int rc = tsdb_ulid_new(w->ulid);
    /* Room for the longest name inside: "/chunks/000001", "/meta.json.tmp". */
    if (!rc && (snprintf(w->parent, PATHCAP, "%s", parent) >= PATHCAP ||
                snprintf(w->tmp, PATHCAP, "%s/%s.tmp", parent, w->ulid) >= PATHCAP - 64 ||
                snprintf(w->final, PATHCAP, "%s/%s", parent, w->ulid) >= PATHCAP))
        rc = -ENAMETOOLONG;
    if (rc) {
        free(w);
        return rc;
    }
    if (mkdir(w->tmp, 0755)) {
        rc = -errno;
        free(w);
        return rc;
    }
    char path[PATHCAP];
    join(path, w->tmp, "chunks");
    if (mkdir(path, 0755))
        rc = -errno;
    if (!rc)
        rc = tsdb_chunk_writer_open(path, &w->cw);
    if (!rc) {
        join(path, w->tmp, "index");
        rc = tsdb_index_writer_open(path, &w->iw);
    }
    if (rc) {
        tsdb_blockw_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

const char *tsdb_blockw_ulid(const struct tsdb_blockw *w)
{
    return w->ulid;
}

int tsdb_blockw_add_symbol(struct tsdb_blockw *w, const char *sym)
{
    return tsdb_index_writer_add_symbol(w->iw, sym);
}

int tsdb_blockw_add_chunk(struct tsdb_blockw *w, const uint8_t *data, size_t len, int64_t mint,
                          int64_t maxt, struct tsdb_chunk_meta *meta)
{
    if (len < 2)
        return -EINVAL;
    int rc = tsdb_chunk_writer_add(w->cw, data, len, &meta->ref);
    if (rc)
        return rc;
    meta->mint = mint;
    meta->maxt = maxt;
    if (w->st.chunks == 0 || mint < w->st.mint)
        w->st.mint = mint;
    if (w->st.chunks == 0 || maxt + 1 > w->st.maxt)
        w->st.maxt = maxt + 1;
    w->st.chunks++;
    w->st.samples += tsdb_xor_count(data, len);
    return 0;
}

int tsdb_blockw_add_samples(struct tsdb_blockw *w, const struct tsdb_sample *samples, size_t n,
                            struct tsdb_chunk_meta *metas, size_t *nmetas)
{
    uint8_t buf[2 + TSDB_XOR_SAMPLES_PER_CHUNK * TSDB_XOR_MAX_SAMPLE_BYTES];
    size_t k = 0;
    for (size_t i = 0; i < n; i += TSDB_XOR_SAMPLES_PER_CHUNK) {
        size_t end = i + TSDB_XOR_SAMPLES_PER_CHUNK < n ? i + TSDB_XOR_SAMPLES_PER_CHUNK : n;
        struct tsdb_xor_enc e;
        int rc = tsdb_xor_init(&e, buf, sizeof(buf));
        for (size_t j = i; j < end && !rc; j++)
            rc = tsdb_xor_append(&e, samples[j].t, samples[j].v);
        if (!rc)
            rc = tsdb_blockw_add_chunk(w, buf, tsdb_xor_len(&e), samples[i].t, samples[end - 1].t,
                                       &metas[k]);
        if (rc)
            return rc;
        k++;
    }
    *nmetas = k;
    return 0;
}

int tsdb_blockw_add_series(struct tsdb_blockw *w, const struct tsdb_labels *ls,
                           const struct tsdb_chunk_meta *metas, size_t nmetas)
{
    int rc = tsdb_index_writer_add_series(w->iw, ls, metas, nmetas);
    if (!rc)
        w->st.series++;
    return rc;
}

void tsdb_blockw_stats(const struct tsdb_blockw *w, struct tsdb_blockw_stats *st)
{
    *st = w->st;
}

static int write_tombstones(const char *dir)
{
    char path[PATHCAP];
    join(path, dir, "tombstones");
    uint8_t b[9] = {0x01, 0x30, 0xBA, 0x30, 0x01, 0, 0, 0, 0}; /* CRC of nothing: 0 */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (write(fd, b, sizeof(b)) != (ssize_t)sizeof(b) || fsync(fd))
        rc = errno ? -errno : -EIO;
    if (close(fd) && !rc)
        rc = -errno;
    return rc;
}

int tsdb_blockw_commit(struct tsdb_blockw *w, struct tsdb_block_meta *m)
{
    int rc = tsdb_chunk_writer_close(w->cw);
    w->cw = NULL;
    int irc = tsdb_index_writer_close(w->iw);
    w->iw = NULL;
    if (!rc)
        rc = irc;
    memcpy(m->ulid, w->ulid, sizeof(m->ulid));
    m->num_samples = w->st.samples;
    m->num_series = w->st.series;
    m->num_chunks = w->st.chunks;
    m->num_tombstones = 0;
    m->version = 1;
    char path[PATHCAP];
    if (!rc)
        rc = write_tombstones(w->tmp);
    if (!rc)
        rc = tsdb_meta_write(w->tmp, m);
    if (!rc) {
        join(path, w->tmp, "chunks");
        rc = cn_fsync_path(path, true);
    }
    if (!rc)
        rc = cn_fsync_path(w->tmp, true);
    if (!rc && rename(w->tmp, w->final))
        rc = -errno;
    if (!rc)
        rc = cn_fsync_path(w->parent, true);
    if (rc)
        tsdb_blockw_abort(w);
    else
        free(w);
    return rc;
}

void tsdb_blockw_abort(struct tsdb_blockw *w)
{
    if (!w)
        return;
    tsdb_chunk_writer_close(w->cw);
    tsdb_index_writer_close(w->iw);
    cn_remove_all(w->tmp);
    free(w);
}

/* ---- tsdb_block_write ---------------------------------------------------------------- */

struct sort_ctx {
    const struct tsdb_block_series *s;
    size_t i;
};

static int cmp_series(const void *a, const void *b)
{
    const struct sort_ctx *x = a, *y = b;
    return tsdb_labels_cmp(&x->s->labels, &y->s->labels);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_series(const struct tsdb_block_series *s)
{
    if (s->labels.n == 0)
        return -EINVAL;
    for (size_t i = 0; i < s->labels.n; i++)
        if (!*s->labels.v[i].name || !*s->labels.v[i].value ||
            (i && strcmp(s->labels.v[i - 1].name, s->labels.v[i].name) >= 0))
            return -EINVAL;
    if (s->nchunks) {
        for (size_t i = 0; i < s->nchunks; i++)
            if (s->chunks[i].len < 2 || s->chunks[i].mint > s->chunks[i].maxt ||
                (i && s->chunks[i].mint <= s->chunks[i - 1].maxt))
                return -EINVAL;
    } else {
        for (size_t i = 1; i < s->nsamples; i++)
            if (s->samples[i].t <= s->samples[i - 1].t)
                return -EINVAL;
    }
    return 0;
}

/* Symbols (every name and value, sorted, once), then per series in label
 * order its chunks and its index entry. */
static int write_series(struct tsdb_blockw *w, const struct tsdb_block_series *series, size_t n,
                        const struct sort_ctx *order)
{
    size_t maxchunks = 0, nlabels = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = series[i].nchunks ? series[i].nchunks
                                     : (series[i].nsamples + TSDB_XOR_SAMPLES_PER_CHUNK - 1) /
                                           TSDB_XOR_SAMPLES_PER_CHUNK;
        if (c > maxchunks)
            maxchunks = c;
        nlabels += series[i].labels.n;
    }
    struct tsdb_chunk_meta *metas = cn_calloc(maxchunks + 1, sizeof(*metas));
    const char **syms = cn_calloc(2 * nlabels + 1, sizeof(*syms));
    int rc = metas && syms ? 0 : -ENOMEM;
    size_t ns = 0;
    for (size_t i = 0; i < n && !rc; i++)
        for (size_t l = 0; l < series[i].labels.n; l++) {
            syms[ns++] = series[i].labels.v[l].name;
            syms[ns++] = series[i].labels.v[l].value;
        }
    if (!rc)
        qsort(syms, ns, sizeof(*syms), cmp_str);
    /* A block cut from Prometheus' head always has the empty string among
     * its symbols (the head's all-series postings key is ("", "")); so do
     * ours, so the same series give the same index bytes. */
    if (!rc)
        rc = tsdb_blockw_add_symbol(w, "");
    for (size_t i = 0; i < ns && !rc; i++)
        if (syms[i][0] && (i == 0 || strcmp(syms[i], syms[i - 1])))
            rc = tsdb_blockw_add_symbol(w, syms[i]);
    for (size_t k = 0; k < n && !rc; k++) {
        const struct tsdb_block_series *s = order[k].s;
        size_t m = 0;
        if (s->nchunks) {
            for (; m < s->nchunks && !rc; m++)
                rc = tsdb_blockw_add_chunk(w, s->chunks[m].data, s->chunks[m].len,
                                           s->chunks[m].mint, s->chunks[m].maxt, &metas[m]);
        } else if (s->nsamples) {
            rc = tsdb_blockw_add_samples(w, s->samples, s->nsamples, metas, &m);
        }
        if (!rc)
            rc = tsdb_blockw_add_series(w, &s->labels, metas, m);
    }
    free(metas);
    free(syms);
    return rc;
}

int tsdb_block_write(const char *parent, const struct tsdb_block_series *series, size_t n,
                     char *ulid_out)
{
    return tsdb_block_write_range(parent, series, n, INT64_MIN, INT64_MAX, ulid_out);
}

int tsdb_block_write_range(const char *parent, const struct tsdb_block_series *series, size_t n,
                           int64_t mint, int64_t maxt, char *ulid_out)
{
    if (mint != INT64_MIN && maxt <= mint)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (check_series(&series[i]))
            return -EINVAL;
    struct sort_ctx *order = cn_calloc(n + 1, sizeof(*order));
    if (!order)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        order[i] = (struct sort_ctx){&series[i], i};
    qsort(order, n, sizeof(*order), cmp_series);
    for (size_t i = 1; i < n; i++)
        if (cmp_series(&order[i - 1], &order[i]) == 0) {
            free(order);
            return -EINVAL; /* duplicate label set */
        }
    struct tsdb_blockw *w;
    int rc = tsdb_blockw_open(parent, &w);
    if (!rc)
        rc = write_series(w, series, n, order);
    free(order);
    if (rc) {
        tsdb_blockw_abort(w);
        return rc;
    }
    struct tsdb_blockw_stats st;
    tsdb_blockw_stats(w, &st);
    if (st.chunks == 0) {
        tsdb_blockw_abort(w);
        return -EINVAL; /* no samples at all */
    }
    if (mint != INT64_MIN && (st.mint < mint || st.maxt > maxt)) {
        tsdb_blockw_abort(w);
        return -EINVAL; /* samples outside the block's range */
    }
    char ulid[TSDB_ULID_LEN + 1];
    memcpy(ulid, tsdb_blockw_ulid(w), sizeof(ulid));
    struct tsdb_block_meta meta = {.min_time = mint != INT64_MIN ? mint : st.mint,
                                   .max_time = mint != INT64_MIN ? maxt : st.maxt,
                                   .level = 1,
                                   .sources = &ulid,
                                   .nsources = 1};
    rc = tsdb_blockw_commit(w, &meta);
    if (!rc && ulid_out)
        memcpy(ulid_out, ulid, TSDB_ULID_LEN + 1);
    return rc;
}

/* ---- reader
 * ------------------------------------------------------------------------ */

struct tsdb_block {
    struct tsdb_block_meta meta;
    struct tsdb_index_reader *index;
    struct tsdb_chunk_reader *chunks;
    char *dir;
};

int tsdb_block_open(const char *dir, struct tsdb_block **out, char *err, size_t cap)
{
    *out = NULL;
    struct tsdb_block *b = cn_calloc(1, sizeof(*b));
    if (!b)
        return fail(err, cap, -ENOMEM, "block: out of memory");
    char path[PATHCAP];
    b->dir = cn_strdup(dir);
    if (!b->dir) {
        free(b);
        return fail(err, cap, -ENOMEM, "block: out of memory");
    }
    int rc = tsdb_meta_read(dir, &b->meta, err, cap);
    if (!rc) {
        join(path, dir, "index");
        rc = tsdb_index_reader_open(path, &b->index, err, cap);
    }
    if (!rc)
        rc = tsdb_index_reader_verify(b->index, err, cap);
    if (!rc) {
        join(path, dir, "chunks");
        struct stat st;
        if (stat(path, &st) || !S_ISDIR(st.st_mode))
            rc = fail(err, cap, -ENOENT, "block %s: no chunks directory", dir);
        else if ((rc = tsdb_chunk_reader_open(path, &b->chunks)))
            fail(err, cap, rc, "block %s: chunk files: %s", dir, strerror(-rc));
    }
    if (!rc && b->meta.num_chunks) {
        /* A block with chunks must have its segment files: fetch the first
         * series' first chunk. */
        uint32_t *refs = NULL;
        size_t nr = 0;
        rc = tsdb_index_postings(b->index, "", "", &refs, &nr);
        struct tsdb_index_series s = {0};
        if (!rc && nr)
            rc = tsdb_index_series(b->index, refs[0], &s);
        if (!rc && s.nchunks) {
            const uint8_t *data;
            size_t len;
            uint8_t enc;
            rc = tsdb_chunk_reader_get(b->chunks, s.chunks[0].ref, &data, &len, &enc);
            if (rc)
                fail(err, cap, rc, "block %s: chunk %llu unreadable (%s)", dir,
                     (unsigned long long)s.chunks[0].ref,
                     rc == -EBADMSG ? "checksum mismatch" : "missing or out of range");
        }
        tsdb_index_series_free(&s);
        free(refs);
    }
    if (rc) {
        tsdb_block_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

void tsdb_block_close(struct tsdb_block *b)
{
    if (!b)
        return;
    tsdb_chunk_reader_close(b->chunks);
    tsdb_index_reader_close(b->index);
    tsdb_meta_free(&b->meta);
    free(b->dir);
    free(b);
}

const struct tsdb_block_meta *tsdb_block_meta(const struct tsdb_block *b)
{
    return &b->meta;
}

const struct tsdb_index_reader *tsdb_block_index(const struct tsdb_block *b)
{
    return b->index;
}

const struct tsdb_chunk_reader *tsdb_block_chunks(const struct tsdb_block *b)
{
    return b->chunks;
}

const char *tsdb_block_dir(const struct tsdb_block *b)
{
    return b->dir;
}

static int cmp_stone(const void *a, const void *b)
{
    const struct tsdb_tombstone *x = a, *y = b;
    if (x->ref != y->ref)
        return x->ref < y->ref ? -1 : 1;
    return (x->mint > y->mint) - (x->mint < y->mint);
}

/* A Go varint at *p (below end), advancing *p; false when truncated or
 * longer than 10 bytes. */
static bool get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80)
            return shift < 63 || c <= 1;
    }
    return false;
}

int tsdb_block_tombstones(const struct tsdb_block *b, struct tsdb_tombstone **out, size_t *n,
                          char *err, size_t cap)
{
    *out = NULL;
    *n = 0;
    char path[PATHCAP];
    if (join(path, b->dir, "tombstones"))
        return fail(err, cap, -ENAMETOOLONG, "block %s: path too long", b->dir);
    struct cn_buf f;
    cn_buf_init(&f);
    int rc = cn_read_file_buf(path, &f, (size_t)1 << 30);
    if (rc == -ENOENT) {
        cn_buf_free(&f);
        return 0;
    }
    if (rc) {
        cn_buf_free(&f);
        return fail(err, cap, rc, "%s: %s", path, rc == -ENOMEM ? "out of memory" : strerror(-rc));
    }
    const uint8_t *d = (const uint8_t *)f.data;
    size_t len = f.len;
    struct tsdb_tombstone *v = NULL;
    size_t nv = 0, vcap = 0;
    if (len < 9 || get_be32(d) != TSDB_TOMBSTONES_MAGIC || d[4] != 1) {
        rc = fail(err, cap, -EINVAL, "%s: not a version-1 tombstones file", path);
    } else if (tsdb_crc32c(0, d + 5, len - 9) != get_be32(d + len - 4)) {
        rc = fail(err, cap, -EBADMSG, "%s: checksum mismatch", path);
    } else {
        const uint8_t *p = d + 5, *end = d + len - 4;
        while (p < end && !rc) {
            uint64_t ref, zmin, zmax;
            if (!get_uvarint(&p, end, &ref) || !get_uvarint(&p, end, &zmin) ||
                !get_uvarint(&p, end, &zmax)) {
                rc = fail(err, cap, -EINVAL, "%s: truncated interval at byte %zu", path,
                          (size_t)(p - d));
                break;
            }
            if ((rc = cn_array_grow((void **)&v, &vcap, nv + 1, sizeof(*v), 16)))
                break;
            /* zigzag varints, as Go's binary.PutVarint writes them */
            v[nv++] = (struct tsdb_tombstone){ref, (int64_t)(zmin >> 1) ^ -(int64_t)(zmin & 1),
                                              (int64_t)(zmax >> 1) ^ -(int64_t)(zmax & 1)};
        }
    }
    cn_buf_free(&f);
    if (rc) {
        free(v);
        return rc == -ENOMEM ? fail(err, cap, rc, "%s: out of memory", path) : rc;
    }
    if (nv)
        qsort(v, nv, sizeof(*v), cmp_stone);
    *out = v;
    *n = nv;
    return 0;
}

/* A sorted set of series references. */
struct set {
    uint32_t *v;
    size_t n;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The union of the postings of name's values that do (want = true) or do
 * not match m. */
static int union_values(const struct tsdb_index_reader *ix, const struct tsdb_matcher *m, bool want,
                        struct set *out)
{
    const char *name = tsdb_matcher_name(m);
    out->v = NULL;
    out->n = 0;
    if (want && tsdb_matcher_type(m) == TSDB_MATCH_EQ)
        return tsdb_index_postings(ix, name, tsdb_matcher_value(m), &out->v, &out->n);
    const char *const *vals;
    size_t nv, cap = 0;
    tsdb_index_label_values(ix, name, &vals, &nv);
    for (size_t i = 0; i < nv; i++) {
        if (tsdb_matcher_matches(m, vals[i]) != want)
            continue;
        uint32_t *p;
        size_t np;
        int rc = tsdb_index_postings(ix, name, vals[i], &p, &np);
        if (rc) {
            free(out->v);
            return rc;
        }
        if (out->n + np > cap) {
            cap = (out->n + np) * 2;
            uint32_t *q = cn_realloc(out->v, cap * sizeof(*q));
            if (!q) {
                free(p);
                free(out->v);
                return -ENOMEM;
            }
            out->v = q;
        }
        if (np)
            memcpy(out->v + out->n, p, np * sizeof(*p));
        out->n += np;
        free(p);
    }
    if (out->n)
        qsort(out->v, out->n, sizeof(*out->v), cmp_u32); /* a series has one value per name */
    return 0;
}

/* a := a ∩ b (keep = true) or a \ b (keep = false); both sorted. */
static void merge(struct set *a, const struct set *b, bool keep)
{
    size_t i = 0, j = 0, k = 0;
    while (i < a->n) {
        while (j < b->n && b->v[j] < a->v[i])
            j++;
        bool in = j < b->n && b->v[j] == a->v[i];
        if (in == keep)
            a->v[k++] = a->v[i];
        i++;
    }
    a->n = k;
}

int tsdb_block_select(const struct tsdb_block *b, const struct tsdb_matcher *const *ms, size_t nms,
                      uint32_t **refs, size_t *n)
{
    struct set acc = {0};
    bool have = false;
    int rc = 0;
    /* Positive matchers first: they narrow the set. */
    for (size_t i = 0; i < nms && !rc; i++) {
        if (tsdb_matcher_matches(ms[i], ""))
            continue;
        struct set s;
        rc = union_values(b->index, ms[i], true, &s);
        if (rc)
            break;
        if (!have) {
            acc = s;
            have = true;
        } else {
            merge(&acc, &s, true);
            free(s.v);
        }
    }
    if (!rc && !have)
        rc = tsdb_index_postings(b->index, "", "", &acc.v, &acc.n);
    for (size_t i = 0; i < nms && !rc; i++) {
        if (!tsdb_matcher_matches(ms[i], ""))
            continue;
        struct set s;
        rc = union_values(b->index, ms[i], false, &s);
        if (!rc) {
            merge(&acc, &s, false);
            free(s.v);
        }
    }
    if (rc) {
        free(acc.v);
        acc.v = NULL;
        acc.n = 0;
    }
    *refs = acc.v;
    *n = acc.n;
    return rc;
}

int tsdb_block_series(const struct tsdb_block *b, uint32_t ref, int64_t mint, int64_t maxt,
                      struct tsdb_index_series *s, struct tsdb_sample **samples, size_t *n,
                      size_t *cap)
{
    *n = 0;
    int rc = tsdb_index_series(b->index, ref, s);
    if (rc)
        return rc;
    for (size_t c = 0; c < s->nchunks; c++) {
        if (s->chunks[c].maxt < mint || s->chunks[c].mint > maxt)
            continue;
        const uint8_t *data;
        size_t len;
        uint8_t enc;
        rc = tsdb_chunk_reader_get(b->chunks, s->chunks[c].ref, &data, &len, &enc);
        if (rc)
            return rc;
        if (enc != TSDB_CHUNK_ENC_XOR)
            return -EINVAL;
        size_t want = *n + tsdb_xor_count(data, len);
        if (want > *cap) {
            size_t nc = want * 2;
            struct tsdb_sample *p = cn_realloc(*samples, nc * sizeof(*p));
            if (!p)
                return -ENOMEM;
            *samples = p;
            *cap = nc;
        }
        struct tsdb_xor_iter it;
        struct tsdb_sample sm;
        tsdb_xor_iter_init(&it, data, len);
        while ((rc = tsdb_xor_next(&it, &sm)) == 1)
            if (sm.t >= mint && sm.t <= maxt)
                (*samples)[(*n)++] = sm;
        if (rc < 0)
            return rc;
    }
    return 0;
}
