/*
 * Blocks: a directory <ULID>/ holding chunks/000001..., index, meta.json and
 * tombstones, as Prometheus 2.42 writes and reads them.
 *
 * Writer. Series are sorted by label set (through a permutation; the input
 * stays untouched), samples cut into XOR chunks of 120, chunks written in
 * series order, then the index from the sorted symbol set. Everything goes
 * into <ULID>.tmp, each file is fsync'd, the directory too, and one rename
 * publishes the block, as Prometheus' compactor does; a failure removes the
 * .tmp directory. The tombstones file is the empty one Prometheus writes:
 * magic, version 1 and the CRC of no stones.
 *
 * Reader. Opening reads meta.json, verifies the whole index (every postings
 * list and series checksum: a block's index is read once at open, and a
 * damaged one is better refused than half served) and maps the chunks.
 * Selection follows Prometheus' PostingsForMatchers: a matcher that does not
 * match "" contributes the union of the postings of the values it matches
 * (one lookup for =); one that matches "" removes the series whose value of
 * that label does not match it; with no positive matcher the start is every
 * series.
 */
#include "tsdb/tsdb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* ---- writer
 * ------------------------------------------------------------------------ */

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

/* Encodes one series' samples into chunks of up to 120 and adds them. */
static int add_samples(struct tsdb_chunk_writer *cw, const struct tsdb_block_series *s,
                       struct tsdb_chunk_meta *metas, size_t *nmetas)
{
    uint8_t buf[2 + TSDB_XOR_SAMPLES_PER_CHUNK * TSDB_XOR_MAX_SAMPLE_BYTES];
    size_t n = 0;
    for (size_t i = 0; i < s->nsamples; i += TSDB_XOR_SAMPLES_PER_CHUNK) {
        size_t end = i + TSDB_XOR_SAMPLES_PER_CHUNK;
        if (end > s->nsamples)
            end = s->nsamples;
        struct tsdb_xor_enc e;
        int rc = tsdb_xor_init(&e, buf, sizeof(buf));
        for (size_t k = i; k < end && !rc; k++)
            rc = tsdb_xor_append(&e, s->samples[k].t, s->samples[k].v);
        if (!rc)
            rc = tsdb_chunk_writer_add(cw, buf, tsdb_xor_len(&e), &metas[n].ref);
        if (rc)
            return rc;
        metas[n].mint = s->samples[i].t;
        metas[n].maxt = s->samples[end - 1].t;
        n++;
    }
    *nmetas = n;
    return 0;
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

/* Writes chunks, index, meta.json and tombstones into tmp and fsyncs them. */
static int write_files(const char *tmp, const struct tsdb_block_series *series, size_t n,
                       const struct sort_ctx *order, struct tsdb_block_meta *meta)
{
    char path[PATHCAP];
    join(path, tmp, "chunks");
    if (mkdir(path, 0755))
        return -errno;
    size_t total = 0, nlabels = 0;
    for (size_t i = 0; i < n; i++) {
        total += series[i].nchunks ? series[i].nchunks
                                   : (series[i].nsamples + TSDB_XOR_SAMPLES_PER_CHUNK - 1) /
                                         TSDB_XOR_SAMPLES_PER_CHUNK;
        nlabels += series[i].labels.n;
    }
    struct tsdb_chunk_meta *metas = cn_calloc(total + 1, sizeof(*metas));
    size_t *first = cn_calloc(n + 1, sizeof(*first));
    const char **syms = cn_calloc(2 * nlabels + 1, sizeof(*syms));
    struct tsdb_chunk_writer *cw = NULL;
    struct tsdb_index_writer *iw = NULL;
    int rc = metas && first && syms ? 0 : -ENOMEM;
    if (!rc)
        rc = tsdb_chunk_writer_open(path, &cw);
    size_t used = 0;
    for (size_t k = 0; k < n && !rc; k++) {
        const struct tsdb_block_series *s = order[k].s;
        first[k] = used;
        size_t m = 0;
        if (s->nchunks) {
            for (size_t c = 0; c < s->nchunks && !rc; c++) {
                metas[used + c].mint = s->chunks[c].mint;
                metas[used + c].maxt = s->chunks[c].maxt;
                meta->num_samples += tsdb_xor_count(s->chunks[c].data, s->chunks[c].len);
                rc = tsdb_chunk_writer_add(cw, s->chunks[c].data, s->chunks[c].len,
                                           &metas[used + c].ref);
            }
            m = s->nchunks;
        } else {
            rc = add_samples(cw, s, metas + used, &m);
            meta->num_samples += s->nsamples;
        }
        for (size_t c = 0; c < m; c++) {
            if (used + c == 0 || metas[used + c].mint < meta->min_time)
                meta->min_time = metas[used + c].mint;
            if (used + c == 0 || metas[used + c].maxt + 1 > meta->max_time)
                meta->max_time = metas[used + c].maxt + 1;
        }
        used += m;
    }
    first[n] = used;
    int crc = tsdb_chunk_writer_close(cw);
    if (!rc)
        rc = crc;
    if (!rc && used == 0)
        rc = -EINVAL; /* no samples at all */
    meta->num_chunks = used;
    meta->num_series = n;

    /* The symbols: every name and value, sorted and deduplicated. */
    size_t ns = 0;
    for (size_t i = 0; i < n && !rc; i++)
        for (size_t l = 0; l < series[i].labels.n; l++) {
            syms[ns++] = series[i].labels.v[l].name;
            syms[ns++] = series[i].labels.v[l].value;
        }
    if (!rc) {
        qsort(syms, ns, sizeof(*syms), cmp_str);
        join(path, tmp, "index");
        rc = tsdb_index_writer_open(path, &iw);
    }
    for (size_t i = 0; i < ns && !rc; i++)
        if (i == 0 || strcmp(syms[i], syms[i - 1]))
            rc = tsdb_index_writer_add_symbol(iw, syms[i]);
    for (size_t k = 0; k < n && !rc; k++)
        rc = tsdb_index_writer_add_series(iw, &order[k].s->labels, metas + first[k],
                                          first[k + 1] - first[k]);
    if (iw) {
        int irc = tsdb_index_writer_close(iw);
        if (!rc)
            rc = irc;
    }
    if (!rc)
        rc = write_tombstones(tmp);
    if (!rc)
        rc = tsdb_meta_write(tmp, meta);
    if (!rc) {
        join(path, tmp, "chunks");
        rc = fsync_path(path, true);
    }
    if (!rc)
        rc = fsync_path(tmp, true);
    free(metas);
    free(first);
    free(syms);
    return rc;
}

int tsdb_block_write(const char *parent, const struct tsdb_block_series *series, size_t n,
                     char *ulid_out)
{
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
    struct tsdb_block_meta meta = {.level = 1, .version = 1};
    int rc = tsdb_ulid_new(meta.ulid);
    char tmp[PATHCAP], final[PATHCAP];
    if (!rc && (snprintf(tmp, sizeof(tmp), "%s/%s.tmp", parent, meta.ulid) >= PATHCAP - 64 ||
                snprintf(final, sizeof(final), "%s/%s", parent, meta.ulid) >= PATHCAP))
        rc = -ENAMETOOLONG;
    meta.sources = &meta.ulid;
    meta.nsources = 1;
    if (!rc && mkdir(tmp, 0755))
        rc = -errno;
    else if (!rc) {
        rc = write_files(tmp, series, n, order, &meta);
        if (!rc && rename(tmp, final))
            rc = -errno;
        if (!rc)
            rc = fsync_path(parent, true);
        if (rc)
            nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (!rc && ulid_out)
        memcpy(ulid_out, meta.ulid, TSDB_ULID_LEN + 1);
    free(order);
    return rc;
}

/* ---- reader
 * ------------------------------------------------------------------------ */

struct tsdb_block {
    struct tsdb_block_meta meta;
    struct tsdb_index_reader *index;
    struct tsdb_chunk_reader *chunks;
};

int tsdb_block_open(const char *dir, struct tsdb_block **out, char *err, size_t cap)
{
    *out = NULL;
    struct tsdb_block *b = cn_calloc(1, sizeof(*b));
    if (!b)
        return fail(err, cap, -ENOMEM, "block: out of memory");
    char path[PATHCAP];
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
