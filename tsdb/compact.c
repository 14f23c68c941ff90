/*
 * Compaction: several blocks into one, and the plan of which blocks to
 * compact, as Prometheus 2.42's LeveledCompactor does it.
 *
 * Compacting streams. The output goes through the block writer of
 * internal.h (one .tmp directory, renamed when complete, removed on
 * any failure). The index wants every symbol first, so the inputs' symbol
 * tables (each ascending) are merged into it one string at a time; then each
 * input walks its series in label order (the all-series postings of an
 * index are in label order, since index series are sorted) and the inputs
 * are merged k-way by label set, one output series at a time. Memory is
 * what the index writer keeps (the symbols and one entry per label of each
 * series written), each input's list of series references and tombstones,
 * and the chunks and samples of the one series in hand.
 *
 * Within a series, the chunks of all inputs are ordered by (mint, maxt) and
 * cut into runs whose time ranges overlap, as Prometheus' compacting chunk
 * merger does. A run of one chunk, or of chunks that are byte-for-byte the
 * same (a block compacted twice) as long as one of them is intact, is copied
 * as it is: no decoding, and the output block holds the very bytes of its
 * input. Any other run is decoded, merged by time with a timestamp present
 * twice kept once (the value of the input given first, then of its earlier
 * chunk: Prometheus leaves the choice to its heap, cairn makes it stable),
 * and re-encoded in chunks of TSDB_XOR_SAMPLES_PER_CHUNK. A chunk that an
 * input's tombstones cut into, or that reaches past the output's time
 * range, is decoded the same way and loses the deleted samples; a series
 * left without samples is dropped, as Prometheus drops it.
 *
 * Chunks that are copied are checked (CRC, encoding) but not decoded, like
 * Prometheus; chunks that are decoded must hold their samples in ascending
 * order inside the range the index gives them, so that merged output can
 * never overlap a copied neighbour. Any damage stops the compaction with a
 * message naming the input block, series and chunk.
 *
 * Planning is a pure function of the blocks' metas; see tsdb_compact_plan.
 */
#include "tsdb/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One input block and its cursor over its series. */
struct input {
    const struct tsdb_block *b;
    const struct tsdb_index_reader *ix;
    const char *ulid;
    size_t sym, nsyms;             /* symbol cursor */
    uint32_t *refs;                /* every series, in label order */
    size_t nrefs, pos;             /* pos: the series in s[cur], == nrefs at the end */
    struct tsdb_index_series s[2]; /* the current series and the one before */
    int cur;
    struct tsdb_tombstone *stones; /* sorted by series reference */
    size_t nstones;
    const struct tsdb_tombstone *dead; /* the current series' deleted intervals */
    size_t ndead;
};

/* A chunk of the series in hand. */
struct piece {
    int64_t mint, maxt;
    const uint8_t *data;
    size_t len;
    tsdb_chunk_ref ref;
    uint32_t in, seq; /* input, and the chunk's position in its series */
    bool rewrite;     /* cut by tombstones or by the output range */
};

struct msample {
    int64_t t;
    double v;
    uint32_t in, seq;
};

struct compaction {
    struct input *in;
    size_t n;
    struct tsdb_blockw *w;
    int64_t mint, maxt; /* of the output; maxt exclusive */
    size_t *at;         /* the inputs holding the series in hand */
    size_t nat;
    struct piece *pc;
    size_t npc, pccap;
    struct msample *ms;
    size_t msc;
    struct tsdb_sample *smp; /* msc entries too */
    struct tsdb_chunk_meta *metas;
    size_t nmetas, metacap;
    char *err;
    size_t errcap;
};

static int fail(struct compaction *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct compaction *c, int rc, const char *fmt, ...)
{
    if (c->err && c->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errcap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* The reason for an errno, as the rest of the messages word it. */
static const char *why(int rc)
{
    return rc == -ENOMEM ? "out of memory" : strerror(-rc);
}

static int fail_write(struct compaction *c, int rc)
{
    return fail(c, rc, "compact: writing block %s: %s", tsdb_blockw_ulid(c->w), why(rc));
}

static struct tsdb_labels cur_labels(const struct input *in)
{
    const struct tsdb_index_series *s = &in->s[in->cur];
    return (struct tsdb_labels){s->labels, s->nlabels};
}

/* ---- the output meta ------------------------------------------------------------ */

static int cmp_ulid(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* ULIDs are compared as Go compares their 16 bytes: in upper case. */
static void ulid_upper(char *dst, const char *src)
{
    for (int i = 0; i <= TSDB_ULID_LEN; i++)
        dst[i] = (char)toupper((unsigned char)src[i]);
}

/* Prometheus' CompactBlockMetas: the union of the time ranges, the highest
 * level plus one, the sorted union of the sources, the inputs as parents. */
static int output_meta(struct tsdb_block *const *blocks, size_t n, struct tsdb_block_meta *m)
{
    size_t ns = 0;
    for (size_t i = 0; i < n; i++)
        ns += tsdb_block_meta(blocks[i])->nsources;
    m->sources = cn_calloc(ns + 1, sizeof(*m->sources));
    m->parents = cn_calloc(n, sizeof(*m->parents));
    if (!m->sources || !m->parents)
        return -ENOMEM;
    ns = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tsdb_block_meta *im = tsdb_block_meta(blocks[i]);
        if (i == 0 || im->min_time < m->min_time)
            m->min_time = im->min_time;
        if (i == 0 || im->max_time > m->max_time)
            m->max_time = im->max_time;
        if (im->level > m->level)
            m->level = im->level;
        for (size_t k = 0; k < im->nsources; k++)
            ulid_upper(m->sources[ns++], im->sources[k]);
        ulid_upper(m->parents[i].ulid, im->ulid);
        m->parents[i].min_time = im->min_time;
        m->parents[i].max_time = im->max_time;
    }
    m->level++;
    m->nparents = n;
    qsort(m->sources, ns, sizeof(*m->sources), cmp_ulid);
    m->nsources = 0;
    for (size_t i = 0; i < ns; i++)
        if (i == 0 || strcmp(m->sources[i], m->sources[m->nsources - 1]))
            memmove(m->sources[m->nsources++], m->sources[i], sizeof(*m->sources));
    return 0;
}

/* ---- inputs ------------------------------------------------------------------------ */

/* Loads series refs[pos] into s[cur] (the previous one stays in the other
 * slot), checks that it follows the previous one in label order and finds
 * its deleted intervals. */
static int load(struct compaction *c, struct input *in)
{
    uint32_t ref = in->refs[in->pos];
    in->cur ^= 1;
    struct tsdb_index_series *s = &in->s[in->cur];
    int rc = tsdb_index_series(in->ix, ref, s);
    if (rc == -ENOMEM)
        return fail(c, rc, "compact: out of memory");
    if (rc)
        return fail(c, rc, "compact: block %s: series %u: %s", in->ulid, ref,
                    rc == -EBADMSG ? "checksum mismatch" : "malformed");
    bool ordered = s->nlabels > 0;
    for (size_t l = 1; l < s->nlabels && ordered; l++)
        ordered = strcmp(s->labels[l - 1].name, s->labels[l].name) < 0;
    if (!ordered)
        return fail(c, -EINVAL, "compact: block %s: series %u: labels empty or not sorted",
                    in->ulid, ref);
    const struct tsdb_index_series *p = &in->s[in->cur ^ 1];
    struct tsdb_labels a = {p->labels, p->nlabels}, b = cur_labels(in);
    if (in->pos > 0 && tsdb_labels_cmp(&a, &b) >= 0)
        return fail(c, -EINVAL, "compact: block %s: series %u out of label order", in->ulid, ref);
    in->dead = NULL;
    in->ndead = 0;
    if (in->nstones == 0)
        return 0;
    size_t lo = 0, hi = in->nstones;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (in->stones[mid].ref < ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    in->dead = in->stones + lo;
    while (lo + in->ndead < in->nstones && in->dead[in->ndead].ref == ref)
        in->ndead++;
    return 0;
}

static int open_input(struct compaction *c, struct input *in, const struct tsdb_block *b)
{
    in->b = b;
    in->ix = tsdb_block_index(b);
    in->ulid = tsdb_block_meta(b)->ulid;
    in->nsyms = tsdb_index_symbol_count(in->ix);
    int rc = tsdb_index_postings(in->ix, "", "", &in->refs, &in->nrefs);
    if (rc == -ENOMEM)
        return fail(c, rc, "compact: out of memory");
    if (rc)
        return fail(c, rc, "compact: block %s: all-series postings %s", in->ulid,
                    rc == -EBADMSG ? "checksum mismatch" : "malformed");
    char msg[256] = "";
    rc = tsdb_block_tombstones(b, &in->stones, &in->nstones, msg, sizeof(msg));
    if (rc)
        return fail(c, rc, "compact: block %s: %s", in->ulid, msg);
    return in->nrefs ? load(c, in) : 0;
}

static void close_input(struct input *in)
{
    free(in->refs);
    free(in->stones);
    tsdb_index_series_free(&in->s[0]);
    tsdb_index_series_free(&in->s[1]);
}

/* ---- symbols ------------------------------------------------------------------------ */

/* The union of the inputs' symbol tables, ascending, into the writer. */
static int merge_symbols(struct compaction *c)
{
    const char *last = NULL;
    for (;;) {
        struct input *min = NULL;
        const char *ms = NULL;
        for (size_t i = 0; i < c->n; i++) {
            struct input *in = &c->in[i];
            if (in->sym >= in->nsyms)
                continue;
            const char *s = tsdb_index_symbol(in->ix, (uint32_t)in->sym);
            if (!min || strcmp(s, ms) < 0) {
                min = in;
                ms = s;
            }
        }
        if (!min)
            return 0;
        min->sym++;
        int d = last ? strcmp(ms, last) : 1;
        if (d < 0)
            return fail(c, -EINVAL, "compact: block %s: symbol %zu out of order", min->ulid,
                        min->sym - 1);
        if (d == 0)
            continue;
        int rc = tsdb_blockw_add_symbol(c->w, ms);
        if (rc)
            return fail_write(c, rc);
        last = ms;
    }
}

/* ---- one series -------------------------------------------------------------------- */

static bool deleted(const struct input *in, int64_t t)
{
    for (size_t i = 0; i < in->ndead; i++)
        if (t >= in->dead[i].mint && t <= in->dead[i].maxt)
            return true;
    return false;
}

static bool cut(const struct compaction *c, const struct input *in, int64_t mint, int64_t maxt)
{
    if (mint < c->mint || maxt >= c->maxt)
        return true;
    for (size_t i = 0; i < in->ndead; i++)
        if (in->dead[i].mint <= maxt && in->dead[i].maxt >= mint)
            return true;
    return false;
}

static int cmp_piece(const void *a, const void *b)
{
    const struct piece *x = a, *y = b;
    if (x->mint != y->mint)
        return x->mint < y->mint ? -1 : 1;
    if (x->maxt != y->maxt)
        return x->maxt < y->maxt ? -1 : 1;
    if (x->in != y->in)
        return x->in < y->in ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_msample(const void *a, const void *b)
{
    const struct msample *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->in != y->in)
        return x->in < y->in ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The chunks of the series in hand from every input holding it, fetched
 * (CRC checked) and sorted by time range. */
static int gather(struct compaction *c)
{
    c->npc = 0;
    for (size_t k = 0; k < c->nat; k++) {
        struct input *in = &c->in[c->at[k]];
        const struct tsdb_index_series *s = &in->s[in->cur];
        uint32_t ref = in->refs[in->pos];
        if (cn_array_grow((void **)&c->pc, &c->pccap, c->npc + s->nchunks, sizeof(*c->pc), 16))
            return fail(c, -ENOMEM, "compact: out of memory");
        for (size_t i = 0; i < s->nchunks; i++) {
            const struct tsdb_chunk_meta *cm = &s->chunks[i];
            if (cm->maxt < c->mint || cm->mint >= c->maxt)
                continue; /* outside the output's range: Prometheus drops it too */
            struct piece *p = &c->pc[c->npc];
            uint8_t enc;
            int rc =
                tsdb_chunk_reader_get(tsdb_block_chunks(in->b), cm->ref, &p->data, &p->len, &enc);
            if (rc)
                return fail(c, rc, "compact: block %s: series %u: chunk %llu %s", in->ulid, ref,
                            (unsigned long long)cm->ref,
                            rc == -EBADMSG ? "checksum mismatch" : "missing or out of range");
            if (enc != TSDB_CHUNK_ENC_XOR || p->len < 2 || cm->mint > cm->maxt)
                return fail(c, -EINVAL, "compact: block %s: series %u: chunk %llu: %s", in->ulid,
                            ref, (unsigned long long)cm->ref,
                            enc != TSDB_CHUNK_ENC_XOR ? "not an XOR chunk" : "malformed");
            p->mint = cm->mint;
            p->maxt = cm->maxt;
            p->ref = cm->ref;
            p->in = (uint32_t)c->at[k];
            p->seq = (uint32_t)i;
            p->rewrite = cut(c, in, cm->mint, cm->maxt);
            c->npc++;
        }
    }
    if (c->npc > 1)
        qsort(c->pc, c->npc, sizeof(*c->pc), cmp_piece);
    return 0;
}

static int grow_metas(struct compaction *c, size_t more)
{
    if (cn_array_grow((void **)&c->metas, &c->metacap, c->nmetas + more, sizeof(*c->metas), 16))
        return fail(c, -ENOMEM, "compact: out of memory");
    return 0;
}

/* Decodes pieces [i, j), merges their samples by time (a timestamp kept
 * once), drops deleted ones and writes the rest in new chunks. */
static int rewrite(struct compaction *c, size_t i, size_t j)
{
    size_t total = 0;
    for (size_t k = i; k < j; k++)
        total += tsdb_xor_count(c->pc[k].data, c->pc[k].len);
    if (total > c->msc) {
        free(c->ms);
        free(c->smp);
        c->msc = 0;
        c->ms = cn_malloc(total * sizeof(*c->ms));
        c->smp = cn_malloc(total * sizeof(*c->smp));
        if (!c->ms || !c->smp)
            return fail(c, -ENOMEM, "compact: out of memory");
        c->msc = total;
    }
    size_t n = 0;
    for (size_t k = i; k < j; k++) {
        const struct piece *p = &c->pc[k];
        const struct input *in = &c->in[p->in];
        struct tsdb_xor_iter it;
        struct tsdb_sample s;
        int rc;
        int64_t prev = INT64_MIN;
        bool first = true;
        tsdb_xor_iter_init(&it, p->data, p->len);
        while ((rc = tsdb_xor_next(&it, &s)) == 1) {
            if (s.t < p->mint || s.t > p->maxt || (!first && s.t <= prev)) {
                rc = -EINVAL;
                break;
            }
            first = false;
            prev = s.t;
            if (s.t < c->mint || s.t >= c->maxt || deleted(in, s.t))
                continue;
            c->ms[n++] = (struct msample){s.t, s.v, p->in, p->seq};
        }
        if (rc < 0)
            return fail(c, -EINVAL,
                        "compact: block %s: series %u: chunk %llu does not decode to "
                        "ascending samples in %lld..%lld",
                        in->ulid, in->refs[in->pos], (unsigned long long)p->ref, (long long)p->mint,
                        (long long)p->maxt);
    }
    if (n > 1)
        qsort(c->ms, n, sizeof(*c->ms), cmp_msample);
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        if (m == 0 || c->ms[k].t != c->smp[m - 1].t)
            c->smp[m++] = (struct tsdb_sample){c->ms[k].t, c->ms[k].v};
    if (m == 0)
        return 0;
    int rc = grow_metas(c, (m + TSDB_XOR_SAMPLES_PER_CHUNK - 1) / TSDB_XOR_SAMPLES_PER_CHUNK);
    if (rc)
        return rc;
    size_t added;
    rc = tsdb_blockw_add_samples(c->w, c->smp, m, c->metas + c->nmetas, &added);
    if (rc)
        return fail_write(c, rc);
    c->nmetas += added;
    return 0;
}

static bool same_chunk(const struct piece *a, const struct piece *b)
{
    return a->mint == b->mint && a->maxt == b->maxt && a->len == b->len &&
           memcmp(a->data, b->data, a->len) == 0;
}

/* Writes the series in hand: its chunks, run by run, then its index entry. */
static int write_series(struct compaction *c)
{
    int rc = gather(c);
    c->nmetas = 0;
    for (size_t i = 0, j; i < c->npc && !rc; i = j) {
        int64_t maxt = c->pc[i].maxt;
        bool all_cut = c->pc[i].rewrite, same = true;
        for (j = i + 1; j < c->npc && c->pc[j].mint <= maxt; j++) {
            if (c->pc[j].maxt > maxt)
                maxt = c->pc[j].maxt;
            all_cut &= c->pc[j].rewrite;
            same &= same_chunk(&c->pc[i], &c->pc[j]);
        }
        /* Copies of one chunk are that chunk as long as one is uncut. */
        if (!same || all_cut) {
            rc = rewrite(c, i, j);
            continue;
        }
        if ((rc = grow_metas(c, 1)))
            break;
        rc = tsdb_blockw_add_chunk(c->w, c->pc[i].data, c->pc[i].len, c->pc[i].mint, c->pc[i].maxt,
                                   &c->metas[c->nmetas]);
        if (rc)
            rc = fail_write(c, rc);
        else
            c->nmetas++;
    }
    if (rc || c->nmetas == 0)
        return rc;
    struct tsdb_labels ls = cur_labels(&c->in[c->at[0]]);
    rc = tsdb_blockw_add_series(c->w, &ls, c->metas, c->nmetas);
    return rc ? fail_write(c, rc) : 0;
}

/* Merges the inputs' series by label set, writing each once. */
static int merge_series(struct compaction *c)
{
    for (;;) {
        c->nat = 0;
        struct tsdb_labels min = {0};
        for (size_t i = 0; i < c->n; i++) {
            struct input *in = &c->in[i];
            if (in->pos >= in->nrefs)
                continue;
            struct tsdb_labels ls = cur_labels(in);
            int d = c->nat ? tsdb_labels_cmp(&ls, &min) : -1;
            if (d < 0) {
                c->nat = 0;
                min = ls;
            }
            if (d <= 0)
                c->at[c->nat++] = i;
        }
        if (c->nat == 0)
            return 0;
        int rc = write_series(c);
        for (size_t k = 0; k < c->nat && !rc; k++) {
            struct input *in = &c->in[c->at[k]];
            if (++in->pos < in->nrefs)
                rc = load(c, in);
        }
        if (rc)
            return rc;
    }
}

int tsdb_compact(const char *parent, struct tsdb_block *const *blocks, size_t n, char *ulid_out,
                 char *err, size_t errcap)
{
    struct compaction c = {.n = n, .err = err, .errcap = errcap};
    if (err && errcap)
        err[0] = '\0';
    if (n == 0 || n > UINT32_MAX)
        return fail(&c, -EINVAL, "compact: no blocks given");
    struct tsdb_block_meta meta = {0};
    int rc = output_meta(blocks, n, &meta);
    c.mint = meta.min_time;
    c.maxt = meta.max_time;
    c.in = cn_calloc(n, sizeof(*c.in));
    c.at = cn_calloc(n, sizeof(*c.at));
    if (rc || !c.in || !c.at)
        rc = fail(&c, -ENOMEM, "compact: out of memory");
    for (size_t i = 0; i < n && !rc; i++)
        rc = open_input(&c, &c.in[i], blocks[i]);
    if (!rc && (rc = tsdb_blockw_open(parent, &c.w)))
        fail(&c, rc, "compact: creating a block under %s: %s", parent, why(rc));
    if (!rc)
        rc = merge_symbols(&c);
    if (!rc)
        rc = merge_series(&c);
    struct tsdb_blockw_stats st = {0};
    if (!rc) {
        tsdb_blockw_stats(c.w, &st);
        if (st.samples == 0)
            rc = fail(&c, -ENODATA, "compact: the blocks hold no samples");
    }
    if (rc) {
        tsdb_blockw_abort(c.w);
    } else {
        char ulid[TSDB_ULID_LEN + 1];
        memcpy(ulid, tsdb_blockw_ulid(c.w), sizeof(ulid));
        if ((rc = tsdb_blockw_commit(c.w, &meta)))
            fail(&c, rc, "compact: writing block %s: %s", ulid, why(rc));
        else if (ulid_out)
            memcpy(ulid_out, ulid, sizeof(ulid));
    }
    for (size_t i = 0; c.in && i < n; i++)
        close_input(&c.in[i]);
    free(c.in);
    free(c.at);
    free(c.pc);
    free(c.ms);
    free(c.smp);
    free(c.metas);
    tsdb_meta_free(&meta);
    return rc;
}

/* ---- planning ---------------------------------------------------------------------- */

struct plan_ent {
    int64_t mint;
    size_t i;
};

static int cmp_plan(const void *a, const void *b)
{
    const struct plan_ent *x = a, *y = b;
    if (x->mint != y->mint)
        return x->mint < y->mint ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Compares b - a with r (> 0) without overflow: -1, 0 or 1. */
static int span_cmp(int64_t a, int64_t b, int64_t r)
{
    if (b < a)
        return -1;
    uint64_t d = (uint64_t)b - (uint64_t)a;
    return d < (uint64_t)r ? -1 : d > (uint64_t)r;
}

/* Prometheus' selectDirs over the m oldest blocks: for each range after the
 * first, the blocks are split into groups within one aligned range
 * (splitByRange; a block crossing an alignment boundary belongs to none);
 * the first group of several blocks that fills its range or ends before
 * the newest of the m blocks starts is the plan. */
static void select_ranges(const struct tsdb_block_meta *metas, const struct plan_ent *ord, size_t m,
                          const int64_t *ranges, size_t nranges, size_t *out, size_t *nout)
{
    if (nranges < 2 || m < 1)
        return;
    int64_t high = metas[ord[m - 1].i].min_time;
    for (size_t r = 1; r < nranges; r++) {
        int64_t iv = ranges[r];
        for (size_t i = 0; i < m;) {
            const struct tsdb_block_meta *first = &metas[ord[i].i];
            int64_t q = first->min_time / iv;
            if (first->min_time % iv < 0)
                q--;
            int64_t t0 = (int64_t)((uint64_t)q * (uint64_t)iv); /* floor to the range */
            if (span_cmp(t0, first->max_time, iv) > 0) {
                i++; /* crosses the boundary: in no group */
                continue;
            }
            size_t g = i;
            while (i < m && span_cmp(t0, metas[ord[i].i].max_time, iv) <= 0)
                i++;
            int64_t gmaxt = metas[ord[i - 1].i].max_time;
            if (i - g > 1 && (span_cmp(first->min_time, gmaxt, iv) == 0 || gmaxt <= high)) {
                for (size_t k = g; k < i; k++)
                    out[(*nout)++] = ord[k].i;
                return;
            }
        }
    }
}

int tsdb_compact_plan(const struct tsdb_block_meta *metas, size_t n, const int64_t *ranges,
                      size_t nranges, size_t *out, size_t *nout)
{
    *nout = 0;
    if (nranges == 0)
        return -EINVAL;
    for (size_t r = 0; r < nranges; r++)
        if (ranges[r] <= 0)
            return -EINVAL;
    if (n == 0)
        return 0;
    struct plan_ent *ord = cn_calloc(n, sizeof(*ord));
    if (!ord)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        ord[i] = (struct plan_ent){metas[i].min_time, i};
    qsort(ord, n, sizeof(*ord), cmp_plan);

    /* Overlapping blocks first, the newest included: the first run of
     * blocks that start before the ones before them end. */
    int64_t gmax = metas[ord[0].i].max_time;
    for (size_t i = 1; i < n; i++) {
        const struct tsdb_block_meta *m = &metas[ord[i].i];
        if (m->min_time < gmax) {
            if (*nout == 0)
                out[(*nout)++] = ord[i - 1].i;
            out[(*nout)++] = ord[i].i;
        } else if (*nout) {
            break;
        }
        if (m->max_time > gmax)
            gmax = m->max_time;
    }
    /* Then without the newest block (it may just have been cut from the
     * head and is left for backups a full block range). */
    size_t m = n - 1;
    if (*nout == 0)
        select_ranges(metas, ord, m, ranges, nranges, out, nout);
    /* Then one block with many tombstones, newest first: a large block
     * (at least the middle range) over 5% tombstones, or a smaller one
     * whose every series has one. */
    for (size_t i = m; i-- > 0 && *nout == 0;) {
        const struct tsdb_block_meta *b = &metas[ord[i].i];
        if (span_cmp(b->min_time, b->max_time, ranges[nranges / 2]) < 0) {
            if (b->num_tombstones > 0 && b->num_tombstones >= b->num_series)
                out[(*nout)++] = ord[i].i;
            break;
        }
        if ((double)b->num_tombstones / ((double)b->num_series + 1) > 0.05)
            out[(*nout)++] = ord[i].i;
    }
    free(ord);
    return 0;
}
