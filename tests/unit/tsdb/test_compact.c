/*
 * Compaction: blocks written by tsdb_block_write are compacted and the
 * result read back sample for sample, its meta.json checked field by field
 * and its chunks compared byte for byte with the inputs' where no overlap
 * forced a rewrite. Overlaps, duplicates, tombstones (files written as
 * Prometheus writes them), damaged inputs (whose messages must name the
 * block), every allocation failing in turn, and the planner (the semantics
 * of Prometheus' LeveledCompactor.Plan, in cases written for cairn's
 * 2h/6h/18h/54h ranges) are covered, and the real promtool (Debian's
 * prometheus 2.42) analyzes and dumps a compacted block.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsdb/tsdb.h"

/* From test_chunk.c. */
void chunktest_rmtree(const char *path);
uint8_t *chunktest_read_file(const char *path, size_t *len);

#define H 7200000LL        /* 2h in ms */
#define T0 1699999200000LL /* a multiple of 2h (and of 6h) */
#define ULEN (TSDB_ULID_LEN + 1)

#define L(n, v)                                                                                    \
    {                                                                                              \
        (n), (v)                                                                                   \
    }

static void tmpdir(char *dir)
{
    snprintf(dir, PATH_MAX, "/tmp/cairn-compact-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static struct tsdb_block *open_block(const char *parent, const char *ulid)
{
    char path[PATH_MAX + 32], err[256] = "";
    snprintf(path, sizeof(path), "%s/%s", parent, ulid);
    struct tsdb_block *b;
    cr_assert_eq(tsdb_block_open(path, &b, err, sizeof(err)), 0, "%s: %s", path, err);
    return b;
}

/* Samples t0, t0 + step, ... (n of them) with values base + i / 2. */
static void fill(struct tsdb_sample *s, size_t n, int64_t t0, int64_t step, double base)
{
    for (size_t i = 0; i < n; i++)
        s[i] = (struct tsdb_sample){t0 + (int64_t)i * step, base + 0.5 * (double)i};
}

/* One series of a block as read back. */
struct got {
    char labels[128];
    struct tsdb_sample *s;
    size_t n;
    struct tsdb_chunk_meta chunks[16];
    size_t nchunks;
};

/* Every series of a block, in the block's (label) order. */
static size_t read_block(const struct tsdb_block *b, struct got *out, size_t cap)
{
    uint32_t *refs;
    size_t nr;
    cr_assert_eq(tsdb_block_select(b, NULL, 0, &refs, &nr), 0);
    cr_assert_leq(nr, cap);
    struct tsdb_index_series s = {0};
    for (size_t i = 0; i < nr; i++) {
        size_t scap = 0;
        out[i].s = NULL;
        cr_assert_eq(
            tsdb_block_series(b, refs[i], INT64_MIN, INT64_MAX, &s, &out[i].s, &out[i].n, &scap),
            0);
        out[i].labels[0] = '\0';
        for (size_t l = 0; l < s.nlabels; l++)
            snprintf(out[i].labels + strlen(out[i].labels),
                     sizeof(out[i].labels) - strlen(out[i].labels), "%s=%s,", s.labels[l].name,
                     s.labels[l].value);
        cr_assert_leq(s.nchunks, 16);
        memcpy(out[i].chunks, s.chunks, s.nchunks * sizeof(*s.chunks));
        out[i].nchunks = s.nchunks;
    }
    tsdb_index_series_free(&s);
    free(refs);
    return nr;
}

static void free_got(struct got *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(g[i].s);
}

static void assert_samples(const struct got *g, const struct tsdb_sample *want, size_t n)
{
    cr_assert_eq(g->n, n, "%s: %zu samples, want %zu", g->labels, g->n, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(g->s[i].t, want[i].t, "%s sample %zu", g->labels, i);
        cr_assert_eq(g->s[i].v, want[i].v, "%s sample %zu: %g != %g", g->labels, i, g->s[i].v,
                     want[i].v);
    }
}

/* A copy of a chunk's data, read through the block's chunk files. */
static uint8_t *chunk_bytes(const char *parent, const char *ulid, tsdb_chunk_ref ref, size_t *len)
{
    char path[PATH_MAX + 48];
    snprintf(path, sizeof(path), "%s/%s/chunks", parent, ulid);
    struct tsdb_chunk_reader *r;
    cr_assert_eq(tsdb_chunk_reader_open(path, &r), 0);
    const uint8_t *d;
    uint8_t enc;
    cr_assert_eq(tsdb_chunk_reader_get(r, ref, &d, len, &enc), 0);
    cr_assert_eq(enc, TSDB_CHUNK_ENC_XOR);
    uint8_t *copy = malloc(*len);
    memcpy(copy, d, *len);
    tsdb_chunk_reader_close(r);
    return copy;
}

static void assert_same_chunk(const char *pa, const char *ua, tsdb_chunk_ref ra, const char *pb,
                              const char *ub, tsdb_chunk_ref rb)
{
    size_t la, lb;
    uint8_t *a = chunk_bytes(pa, ua, ra, &la), *b = chunk_bytes(pb, ub, rb, &lb);
    cr_assert_eq(la, lb, "chunk lengths %zu != %zu", la, lb);
    cr_assert_eq(memcmp(a, b, la), 0, "chunk bytes differ");
    free(a);
    free(b);
}

/* Encodes samples as one XOR chunk into buf. */
static struct tsdb_block_chunk encode(const struct tsdb_sample *s, size_t n, uint8_t *buf,
                                      size_t cap)
{
    struct tsdb_xor_enc e;
    cr_assert_eq(tsdb_xor_init(&e, buf, cap), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(tsdb_xor_append(&e, s[i].t, s[i].v), 0);
    return (struct tsdb_block_chunk){s[0].t, s[n - 1].t, buf, tsdb_xor_len(&e)};
}

static const struct tsdb_label la[] = {L("__name__", "a"), L("x", "1")};
static const struct tsdb_label lb[] = {L("__name__", "b")};
static const struct tsdb_label lc[] = {L("__name__", "c"), L("x", "2"), L("y", "z")};

/* ---- three adjacent 2h blocks ------------------------------------------------------ */

/* Per block k: a (240 samples, every 30s, given as chunks of 150 and 90:
 * a re-encoding would cut them differently), b only in blocks 0 and 2 (10
 * samples), c (1 sample). */
static struct tsdb_sample sa[3][240], sb[3][10], sc[3][1];

static void write_three(const char *dir, char ulid[3][ULEN])
{
    static uint8_t buf[2][2 + 150 * TSDB_XOR_MAX_SAMPLE_BYTES];
    struct tsdb_block_chunk ch[2];
    const int cut[3] = {0, 150, 240};
    for (int k = 0; k < 3; k++) {
        fill(sa[k], 240, T0 + k * H, 30000, 1000.0 * k);
        fill(sb[k], 10, T0 + k * H + 7, 60000, 100 + 1000.0 * k);
        fill(sc[k], 1, T0 + k * H + 3600000, 1, 7 + k);
        for (int i = 0; i < 2; i++)
            ch[i] = encode(&sa[k][cut[i]], (size_t)(cut[i + 1] - cut[i]), buf[i], sizeof(buf[i]));
        struct tsdb_block_series in[3] = {
            {.labels = {lc, 3}, .samples = sc[k], .nsamples = 1},
            {.labels = {la, 2}, .chunks = ch, .nchunks = 2},
            {.labels = {lb, 1}, .samples = sb[k], .nsamples = 10},
        };
        cr_assert_eq(tsdb_block_write(dir, in, k == 1 ? 2 : 3, ulid[k]), 0);
    }
}

Test(tsdb_compact, three_adjacent_blocks)
{
    char in[PATH_MAX], out[PATH_MAX], ulid[3][ULEN], cu[ULEN], err[256] = "";
    tmpdir(in);
    tmpdir(out);
    write_three(in, ulid);
    struct tsdb_block *b[3];
    for (int k = 0; k < 3; k++)
        b[k] = open_block(in, ulid[k]);
    /* Any order: the parents keep it, the sources are sorted. */
    struct tsdb_block *order[3] = {b[2], b[0], b[1]};
    cr_assert_eq(tsdb_compact(out, order, 3, cu, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(entries(out), 1, "only the new block, no .tmp");

    struct tsdb_block *c = open_block(out, cu);
    const struct tsdb_block_meta *m = tsdb_block_meta(c);
    cr_assert_str_eq(m->ulid, cu);
    cr_assert_eq(m->min_time, T0);
    cr_assert_eq(m->max_time, T0 + 2 * H + 239 * 30000 + 1);
    cr_assert_eq(m->level, 2);
    cr_assert_eq(m->num_series, 3);
    cr_assert_eq(m->num_chunks, 6 + 2 + 3);
    cr_assert_eq(m->num_samples, 3 * 240 + 2 * 10 + 3);
    cr_assert_eq(m->num_tombstones, 0);
    cr_assert_eq(m->nsources, 3);
    char sorted[3][ULEN];
    memcpy(sorted, ulid, sizeof(sorted));
    qsort(sorted, 3, ULEN, (int (*)(const void *, const void *))strcmp);
    for (int k = 0; k < 3; k++)
        cr_assert_str_eq(m->sources[k], sorted[k]);
    cr_assert_eq(m->nparents, 3);
    const int pk[3] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
        const struct tsdb_block_meta *im = tsdb_block_meta(b[pk[k]]);
        cr_assert_str_eq(m->parents[k].ulid, ulid[pk[k]]);
        cr_assert_eq(m->parents[k].min_time, im->min_time);
        cr_assert_eq(m->parents[k].max_time, im->max_time);
    }
    cr_assert_eq(m->parents[0].min_time, T0 + 2 * H);

    /* Every sample, series in label order. */
    static struct got g[4], gi[3][4];
    cr_assert_eq(read_block(c, g, 4), 3);
    cr_assert_str_eq(g[0].labels, "__name__=a,x=1,");
    cr_assert_str_eq(g[1].labels, "__name__=b,");
    cr_assert_str_eq(g[2].labels, "__name__=c,x=2,y=z,");
    static struct tsdb_sample want[720];
    for (int k = 0; k < 3; k++)
        memcpy(want + 240 * k, sa[k], sizeof(sa[k]));
    assert_samples(&g[0], want, 720);
    memcpy(want, sb[0], sizeof(sb[0]));
    memcpy(want + 10, sb[2], sizeof(sb[2]));
    assert_samples(&g[1], want, 20);
    for (int k = 0; k < 3; k++)
        want[k] = sc[k][0];
    assert_samples(&g[2], want, 3);

    /* No overlap anywhere: every chunk is its input's, byte for byte. */
    size_t nin[3];
    for (int k = 0; k < 3; k++)
        nin[k] = read_block(b[k], gi[k], 4);
    cr_assert_eq(nin[1], 2);
    for (size_t s = 0; s < 3; s++) {
        size_t oc = 0;
        for (int k = 0; k < 3; k++) {
            size_t is = s == 2 && k == 1 ? 1 : s; /* block 1 has no b */
            if (k == 1 && s == 1)
                continue;
            for (size_t ch = 0; ch < gi[k][is].nchunks; ch++, oc++) {
                cr_assert_eq(g[s].chunks[oc].mint, gi[k][is].chunks[ch].mint);
                cr_assert_eq(g[s].chunks[oc].maxt, gi[k][is].chunks[ch].maxt);
                assert_same_chunk(out, cu, g[s].chunks[oc].ref, in, ulid[k],
                                  gi[k][is].chunks[ch].ref);
            }
        }
        cr_assert_eq(oc, g[s].nchunks, "series %zu", s);
    }
    free_got(g, 3);
    for (int k = 0; k < 3; k++)
        free_got(gi[k], nin[k]);
    tsdb_block_close(c);
    for (int k = 0; k < 3; k++)
        tsdb_block_close(b[k]);
    chunktest_rmtree(in);
    chunktest_rmtree(out);
}

Test(tsdb_compact, level_two_with_level_one_gives_level_three)
{
    char in[PATH_MAX], ulid[3][ULEN], l2[ULEN], l3[ULEN], err[256] = "";
    tmpdir(in);
    write_three(in, ulid);
    struct tsdb_block *b[3];
    for (int k = 0; k < 3; k++)
        b[k] = open_block(in, ulid[k]);
    cr_assert_eq(tsdb_compact(in, b, 2, l2, err, sizeof(err)), 0, "%s", err);
    struct tsdb_block *two = open_block(in, l2);
    cr_assert_eq(tsdb_block_meta(two)->level, 2);
    struct tsdb_block *pair[2] = {b[2], two};
    cr_assert_eq(tsdb_compact(in, pair, 2, l3, err, sizeof(err)), 0, "%s", err);
    struct tsdb_block *three = open_block(in, l3);
    const struct tsdb_block_meta *m = tsdb_block_meta(three);
    cr_assert_eq(m->level, 3);
    cr_assert_eq(m->min_time, T0);
    cr_assert_eq(m->max_time, T0 + 2 * H + 239 * 30000 + 1);
    cr_assert_eq(m->nsources, 3, "the level-1 blocks, not the level-2 one");
    char sorted[3][ULEN];
    memcpy(sorted, ulid, sizeof(sorted));
    qsort(sorted, 3, ULEN, (int (*)(const void *, const void *))strcmp);
    for (int k = 0; k < 3; k++)
        cr_assert_str_eq(m->sources[k], sorted[k]);
    cr_assert_eq(m->nparents, 2);
    cr_assert_str_eq(m->parents[0].ulid, ulid[2]);
    cr_assert_str_eq(m->parents[1].ulid, l2);
    cr_assert_eq(m->parents[1].min_time, T0);
    cr_assert_eq(m->parents[1].max_time, T0 + H + 239 * 30000 + 1);
    cr_assert_eq(m->num_samples, 3 * 240 + 2 * 10 + 3);
    cr_assert_eq(m->num_series, 3);
    tsdb_block_close(three);
    tsdb_block_close(two);
    for (int k = 0; k < 3; k++)
        tsdb_block_close(b[k]);
    chunktest_rmtree(in);
}

/* ---- overlaps ------------------------------------------------------------------ */

Test(tsdb_compact, overlapping_blocks_with_duplicates)
{
    /* s: A holds t = 0, 10, ..., 2990 (chunks 0..1190, 1200..2390,
     * 2400..2990), B t = 1500, ..., 4490 (1500..2690, 2700..3890,
     * 3900..4490), with other values where both have a timestamp. A's first
     * and B's last chunk overlap nothing and are copied; the four between
     * form one run, merged into 270 samples: chunks of 120, 120, 30. Series
     * only is B's alone. */
    char in[PATH_MAX], out[PATH_MAX], ua[ULEN], ub[ULEN], cu[ULEN], err[256] = "";
    tmpdir(in);
    tmpdir(out);
    static struct tsdb_sample a[300], bs[300], only[5];
    fill(a, 300, T0, 10, 0);
    fill(bs, 300, T0 + 1500, 10, 5000);
    fill(only, 5, T0 + 2000, 100, 42);
    const struct tsdb_label lo[] = {L("__name__", "only"), L("zone", "b")};
    struct tsdb_block_series sa_in[] = {{.labels = {la, 2}, .samples = a, .nsamples = 300}};
    struct tsdb_block_series sb_in[] = {{.labels = {la, 2}, .samples = bs, .nsamples = 300},
                                        {.labels = {lo, 2}, .samples = only, .nsamples = 5}};
    cr_assert_eq(tsdb_block_write(in, sa_in, 1, ua), 0);
    cr_assert_eq(tsdb_block_write(in, sb_in, 2, ub), 0);
    struct tsdb_block *A = open_block(in, ua), *B = open_block(in, ub);

    for (int first = 0; first < 2; first++) {
        struct tsdb_block *order[2] = {first ? B : A, first ? A : B};
        cr_assert_eq(tsdb_compact(out, order, 2, cu, err, sizeof(err)), 0, "%s", err);
        struct tsdb_block *c = open_block(out, cu);
        const struct tsdb_block_meta *m = tsdb_block_meta(c);
        cr_assert_eq(m->min_time, T0);
        cr_assert_eq(m->max_time, T0 + 4491);
        cr_assert_eq(m->num_series, 2);
        cr_assert_eq(m->num_samples, 450 + 5);
        cr_assert_eq(m->num_chunks, 5 + 1);
        static struct got g[2], ga[1];
        cr_assert_eq(read_block(c, g, 2), 2);
        cr_assert_str_eq(g[0].labels, "__name__=a,x=1,");
        cr_assert_str_eq(g[1].labels, "__name__=only,zone=b,");
        /* Duplicates (t = 1500..2990) keep the first block's value. */
        static struct tsdb_sample want[450];
        for (int i = 0; i < 450; i++) {
            int64_t t = 10 * i;
            bool in_a = t <= 2990, in_b = t >= 1500;
            double v = in_a && (!in_b || !first) ? 0.5 * i : 5000 + 0.5 * (double)(i - 150);
            want[i] = (struct tsdb_sample){T0 + t, v};
        }
        assert_samples(&g[0], want, 450);
        assert_samples(&g[1], only, 5);
        const int64_t cm[5][2] = {
            {0, 1190}, {1200, 2390}, {2400, 3590}, {3600, 3890}, {3900, 4490}};
        cr_assert_eq(g[0].nchunks, 5);
        for (int i = 0; i < 5; i++) {
            cr_assert_eq(g[0].chunks[i].mint, T0 + cm[i][0], "chunk %d", i);
            cr_assert_eq(g[0].chunks[i].maxt, T0 + cm[i][1], "chunk %d", i);
        }
        cr_assert_eq(read_block(A, ga, 1), 1);
        assert_same_chunk(out, cu, g[0].chunks[0].ref, in, ua, ga[0].chunks[0].ref);
        free_got(ga, 1);
        static struct got gb[2];
        cr_assert_eq(read_block(B, gb, 2), 2);
        assert_same_chunk(out, cu, g[0].chunks[4].ref, in, ub, gb[0].chunks[2].ref);
        assert_same_chunk(out, cu, g[1].chunks[0].ref, in, ub, gb[1].chunks[0].ref);
        free_got(gb, 2);
        free_got(g, 2);
        tsdb_block_close(c);
    }
    tsdb_block_close(A);
    tsdb_block_close(B);
    chunktest_rmtree(in);
    chunktest_rmtree(out);
}

/* ---- tombstones ----------------------------------------------------------------- */

static size_t put_uvarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        p[n++] = (uint8_t)(v | 0x80);
    p[n++] = (uint8_t)v;
    return n;
}

/* Writes <block>/tombstones as Prometheus does for the given intervals. */
static void write_tombstones(const char *parent, const char *ulid, const struct tsdb_tombstone *t,
                             size_t n)
{
    uint8_t buf[512];
    size_t len = 0;
    memcpy(buf, "\x01\x30\xba\x30\x01", 5);
    len = 5;
    for (size_t i = 0; i < n; i++) {
        len += put_uvarint(buf + len, t[i].ref);
        len += put_uvarint(buf + len, (uint64_t)t[i].mint << 1 ^ (uint64_t)(t[i].mint >> 63));
        len += put_uvarint(buf + len, (uint64_t)t[i].maxt << 1 ^ (uint64_t)(t[i].maxt >> 63));
    }
    uint32_t crc = tsdb_crc32c(0, buf + 5, len - 5);
    for (int i = 0; i < 4; i++)
        buf[len++] = (uint8_t)(crc >> (24 - 8 * i));
    char path[PATH_MAX + 48];
    snprintf(path, sizeof(path), "%s/%s/tombstones", parent, ulid);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* The index reference of each series of a block, in label order. */
static size_t series_refs(const struct tsdb_block *b, uint32_t *out, size_t cap)
{
    uint32_t *refs;
    size_t n;
    cr_assert_eq(tsdb_block_select(b, NULL, 0, &refs, &n), 0);
    cr_assert_leq(n, cap);
    memcpy(out, refs, n * sizeof(*refs));
    free(refs);
    return n;
}

Test(tsdb_compact, copies_of_one_chunk_copied_once)
{
    /* One chunk of 250 samples (a re-encoding would cut it in three). The
     * same block twice is one chunk; so is it with a copy of the block
     * whose tombstones cut the chunk, whichever comes first: the intact
     * copy holds every sample. Twice the cut copy is the samples left. */
    char in[PATH_MAX], cp[PATH_MAX], ua[ULEN], cu[ULEN], err[256] = "", cmd[3 * PATH_MAX];
    tmpdir(in);
    tmpdir(cp);
    static struct tsdb_sample a[250];
    static uint8_t buf[2 + 250 * TSDB_XOR_MAX_SAMPLE_BYTES];
    fill(a, 250, T0, 15000, 1);
    struct tsdb_block_chunk ch = encode(a, 250, buf, sizeof(buf));
    struct tsdb_block_series s[] = {{.labels = {la, 2}, .chunks = &ch, .nchunks = 1}};
    cr_assert_eq(tsdb_block_write(in, s, 1, ua), 0);
    snprintf(cmd, sizeof(cmd), "cp -r '%s/%s' '%s/'", in, ua, cp);
    cr_assert_eq(system(cmd), 0);
    struct tsdb_block *A = open_block(in, ua);
    uint32_t ref;
    cr_assert_eq(series_refs(A, &ref, 1), 1);
    const struct tsdb_tombstone t[] = {{ref, a[10].t, a[19].t}};
    write_tombstones(cp, ua, t, 1);
    struct tsdb_block *C = open_block(cp, ua);
    static struct got g[1], ga[1];
    cr_assert_eq(read_block(A, ga, 1), 1);
    struct tsdb_block *const cases[4][2] = {{A, A}, {A, C}, {C, A}, {C, C}};
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(tsdb_compact(in, cases[k], 2, cu, err, sizeof(err)), 0, "%s", err);
        struct tsdb_block *c = open_block(in, cu);
        const struct tsdb_block_meta *m = tsdb_block_meta(c);
        cr_assert_eq(m->nsources, 1);
        cr_assert_str_eq(m->sources[0], ua);
        cr_assert_eq(m->nparents, 2);
        cr_assert_eq(read_block(c, g, 1), 1);
        if (k < 3) {
            cr_assert_eq(m->num_samples, 250, "case %d", k);
            cr_assert_eq(m->num_chunks, 1, "case %d", k);
            assert_samples(&g[0], a, 250);
            assert_same_chunk(in, cu, g[0].chunks[0].ref, in, ua, ga[0].chunks[0].ref);
        } else {
            static struct tsdb_sample want[240];
            memcpy(want, a, 10 * sizeof(*a));
            memcpy(want + 10, a + 20, 230 * sizeof(*a));
            cr_assert_eq(m->num_samples, 240);
            cr_assert_eq(m->num_chunks, 2);
            assert_samples(&g[0], want, 240);
        }
        free_got(g, 1);
        tsdb_block_close(c);
    }
    free_got(ga, 1);
    tsdb_block_close(C);
    tsdb_block_close(A);
    chunktest_rmtree(in);
    chunktest_rmtree(cp);
}

Test(tsdb_compact, tombstones_applied)
{
    char in[PATH_MAX], out[PATH_MAX], ulid[3][ULEN], cu[ULEN], err[256] = "";
    tmpdir(in);
    tmpdir(out);
    write_three(in, ulid);
    /* Block 0: a loses its samples 100..109 (in its first chunk, of 150,
     * which is rewritten as 120 + 20), b all of them (in two intervals), c
     * none. */
    struct tsdb_block *b0 = open_block(in, ulid[0]);
    uint32_t refs[3];
    cr_assert_eq(series_refs(b0, refs, 3), 3);
    tsdb_block_close(b0);
    const struct tsdb_tombstone ts[] = {
        {refs[0], sa[0][100].t, sa[0][109].t},
        {refs[1], INT64_MIN, sb[0][4].t},
        {refs[1], sb[0][5].t, INT64_MAX},
    };
    write_tombstones(in, ulid[0], ts, 3);
    struct tsdb_block *b[2] = {open_block(in, ulid[0]), open_block(in, ulid[1])};
    cr_assert_eq(tsdb_compact(out, b, 2, cu, err, sizeof(err)), 0, "%s", err);
    struct tsdb_block *c = open_block(out, cu);
    const struct tsdb_block_meta *m = tsdb_block_meta(c);
    cr_assert_eq(m->num_series, 2, "b is gone");
    cr_assert_eq(m->num_samples, 480 - 10 + 2);
    /* a: chunk 0 of block 0 rewritten as two, the rest copied; c: two. */
    cr_assert_eq(m->num_chunks, 5 + 2);
    static struct got g[2], gi[3];
    cr_assert_eq(read_block(c, g, 2), 2);
    cr_assert_str_eq(g[0].labels, "__name__=a,x=1,");
    cr_assert_str_eq(g[1].labels, "__name__=c,x=2,y=z,");
    static struct tsdb_sample want[470];
    memcpy(want, sa[0], 100 * sizeof(*want));
    memcpy(want + 100, sa[0] + 110, 130 * sizeof(*want));
    memcpy(want + 230, sa[1], 240 * sizeof(*want));
    assert_samples(&g[0], want, 470);
    cr_assert_eq(read_block(b[0], gi, 3), 3);
    cr_assert_eq(g[0].chunks[0].mint, sa[0][0].t);
    cr_assert_eq(g[0].chunks[0].maxt, sa[0][129].t);
    cr_assert_eq(g[0].chunks[1].mint, sa[0][130].t);
    cr_assert_eq(g[0].chunks[1].maxt, sa[0][149].t);
    assert_same_chunk(out, cu, g[0].chunks[2].ref, in, ulid[0], gi[0].chunks[1].ref);
    free_got(gi, 3);
    free_got(g, 2);
    /* The new block has no tombstones. */
    char path[PATH_MAX + 48];
    snprintf(path, sizeof(path), "%s/%s/tombstones", out, cu);
    size_t tl;
    uint8_t *tomb = chunktest_read_file(path, &tl);
    cr_assert_eq(tl, 9);
    free(tomb);
    tsdb_block_close(c);
    tsdb_block_close(b[0]);
    tsdb_block_close(b[1]);
    chunktest_rmtree(in);
    chunktest_rmtree(out);
}

Test(tsdb_compact, nothing_left_is_enodata)
{
    char in[PATH_MAX], out[PATH_MAX], ulid[3][ULEN], cu[ULEN] = "", err[256] = "";
    tmpdir(in);
    tmpdir(out);
    write_three(in, ulid);
    struct tsdb_block *b[2];
    for (int k = 0; k < 2; k++) {
        /* Every series of both blocks deleted for all time. */
        struct tsdb_block *o = open_block(in, ulid[k]);
        uint32_t refs[3];
        size_t n = series_refs(o, refs, 3);
        tsdb_block_close(o);
        struct tsdb_tombstone t[3];
        for (size_t i = 0; i < n; i++)
            t[i] = (struct tsdb_tombstone){refs[i], INT64_MIN, INT64_MAX};
        write_tombstones(in, ulid[k], t, n);
        b[k] = open_block(in, ulid[k]);
    }
    cr_assert_eq(tsdb_compact(out, b, 2, cu, err, sizeof(err)), -ENODATA);
    cr_assert_str_eq(err, "compact: the blocks hold no samples");
    cr_assert_str_eq(cu, "", "no ULID for nothing");
    cr_assert_eq(entries(out), 0);
    cr_assert_eq(tsdb_compact(out, b, 0, cu, err, sizeof(err)), -EINVAL);
    tsdb_block_close(b[0]);
    tsdb_block_close(b[1]);
    chunktest_rmtree(in);
    chunktest_rmtree(out);
}

Test(tsdb_compact, allocation_failures)
{
    /* Every allocation in turn fails: -ENOMEM with a message, nothing left
     * under the parent, no leak (LeakSanitizer), until one run has enough. */
    char in[PATH_MAX], out[PATH_MAX], ulid[3][ULEN], cu[ULEN], err[256];
    tmpdir(in);
    tmpdir(out);
    write_three(in, ulid);
    /* Tombstones in a chunk of a: the rewriting path is taken too. */
    struct tsdb_block *b[3] = {open_block(in, ulid[0])};
    uint32_t refs[3];
    cr_assert_eq(series_refs(b[0], refs, 3), 3);
    tsdb_block_close(b[0]);
    const struct tsdb_tombstone t[] = {{refs[0], T0, T0 + 60000}};
    write_tombstones(in, ulid[0], t, 1);
    for (int k = 0; k < 3; k++)
        b[k] = open_block(in, ulid[k]);
    struct tsdb_block *order[3] = {b[0], b[2], b[1]};
    long fail;
    int rc = -1;
    for (fail = 0; fail < 2000 && rc; fail++) {
        err[0] = '\0';
        cn_alloc_fail_after(fail);
        rc = tsdb_compact(out, order, 3, cu, err, sizeof(err));
        cn_alloc_fail_after(-1);
        if (rc) {
            cr_assert_eq(rc, -ENOMEM, "fail %ld: rc %d: %s", fail, rc, err);
            cr_assert(strstr(err, "out of memory"), "fail %ld: %s", fail, err);
            cr_assert_eq(entries(out), 0, "fail %ld", fail);
        }
    }
    cr_assert_eq(rc, 0);
    cr_assert_gt(fail, 40, "every allocation of the run failed once: %ld", fail);
    struct tsdb_block *c = open_block(out, cu);
    cr_assert_eq(tsdb_block_meta(c)->num_series, 3);
    cr_assert_eq(tsdb_block_meta(c)->num_samples, 720 - 3 + 20 + 3);
    tsdb_block_close(c);
    for (int k = 0; k < 3; k++)
        tsdb_block_close(b[k]);
    chunktest_rmtree(in);
    chunktest_rmtree(out);
}

/* ---- damaged inputs ------------------------------------------------------------ */

Test(tsdb_compact, corrupt_chunk_named_and_nothing_left)
{
    char in[PATH_MAX], out[PATH_MAX], ulid[3][ULEN], cu[ULEN], err[256] = "";
    tmpdir(in);
    tmpdir(out);
    write_three(in, ulid);
    /* Opening checks the first chunk only; damage a's second chunk of
     * block 1 (a byte of its data: the frame is length, encoding, data). */
    struct tsdb_block *o = open_block(in, ulid[1]);
    static struct got g[2];
    cr_assert_eq(read_block(o, g, 2), 2);
    tsdb_chunk_ref ref = g[0].chunks[1].ref;
    uint32_t srefs[2];
    cr_assert_eq(series_refs(o, srefs, 2), 2);
    uint32_t sref = srefs[0];
    free_got(g, 2);
    tsdb_block_close(o);
    char path[PATH_MAX + 48];
    snprintf(path, sizeof(path), "%s/%s/chunks/000001", in, ulid[1]);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t byte;
    off_t at = (off_t)(ref & 0xffffffffu) + 10;
    cr_assert_eq(pread(fd, &byte, 1, at), 1);
    byte ^= 0x40;
    cr_assert_eq(pwrite(fd, &byte, 1, at), 1);
    close(fd);

    struct tsdb_block *b[3];
    for (int k = 0; k < 3; k++)
        b[k] = open_block(in, ulid[k]);
    cr_assert_eq(tsdb_compact(out, b, 3, cu, err, sizeof(err)), -EBADMSG);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want), "compact: block %s: series %u: chunk %llu checksum mismatch",
             ulid[1], sref, (unsigned long long)ref);
    cr_assert_str_eq(err, want);
    cr_assert_eq(entries(out), 0, "the .tmp directory is removed");
    for (int k = 0; k < 3; k++)
        tsdb_block_close(b[k]);

    /* Damaged tombstones are refused the same way. */
    snprintf(path, sizeof(path), "%s/%s/tombstones", in, ulid[0]);
    FILE *f = fopen(path, "wb");
    fwrite("\x01\x30\xba\x30\x01\x05\x00\x00\x00\x00\x00", 1, 11, f);
    fclose(f);
    b[0] = open_block(in, ulid[0]);
    b[1] = open_block(in, ulid[2]);
    cr_assert_eq(tsdb_compact(out, b, 2, cu, err, sizeof(err)), -EBADMSG);
    snprintf(want, sizeof(want), "compact: block %s: %s/%s/tombstones: checksum mismatch", ulid[0],
             in, ulid[0]);
    cr_assert_str_eq(err, want);
    cr_assert_eq(entries(out), 0);
    tsdb_block_close(b[0]);
    tsdb_block_close(b[1]);
    chunktest_rmtree(in);
    chunktest_rmtree(out);
}

/* Rewrites bytes of a file: n bytes at off, then the big-endian CRC32-C
 * of [from, from + len) at from + len, so that the damage passes the
 * index's checksums. */
static void patch(const char *path, long off, const uint8_t *b, size_t n, long from, size_t len)
{
    size_t flen;
    uint8_t *d = chunktest_read_file(path, &flen);
    cr_assert_leq((size_t)from + len + 4, flen);
    memcpy(d + off, b, n);
    uint32_t crc = tsdb_crc32c(0, d + from, len);
    for (int i = 0; i < 4; i++)
        d[(size_t)from + len + (size_t)i] = (uint8_t)(crc >> (24 - 8 * i));
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(d, 1, flen, f), flen);
    cr_assert_eq(fclose(f), 0);
    free(d);
}

/* Writes a block of the given series, one sample each. */
static void block_of(const char *dir, const struct tsdb_labels *ls, size_t n, char *ulid)
{
    static const struct tsdb_sample one[1] = {{T0, 1}};
    struct tsdb_block_series s[3];
    for (size_t i = 0; i < n; i++)
        s[i] = (struct tsdb_block_series){.labels = ls[i], .samples = one, .nsamples = 1};
    cr_assert_eq(tsdb_block_write(dir, s, n, ulid), 0);
}

Test(tsdb_compact, corrupt_index_named)
{
    /* Damage that the index's checksums do not see (they are recomputed):
     * symbols out of order, series out of label order, a series' labels
     * out of order. Each is refused, naming the block, nothing left. */
    char in[PATH_MAX], out[PATH_MAX], u[ULEN], cu[ULEN], err[256] = "", want[256];
    char path[PATH_MAX + 48];
    tmpdir(in);
    tmpdir(out);
    const struct tsdb_label na[] = {L("__name__", "a")}, nb[] = {L("__name__", "b")},
                            nz[] = {L("__name__", "z")};
    const struct tsdb_labels three[] = {{na, 1}, {nb, 1}, {nz, 1}};

    /* Symbols "", __name__, a, b, z: "a" becomes "c". The symbol table
     * starts at 5: length, count, entries; its CRC covers count and
     * entries. */
    block_of(in, three, 3, u);
    snprintf(path, sizeof(path), "%s/%s/index", in, u);
    size_t len;
    uint8_t *d = chunktest_read_file(path, &len);
    cr_assert_eq(memcmp(d + 13,
                        "\x00\x08__name__\x01"
                        "a\x01"
                        "b\x01"
                        "z",
                        16),
                 0);
    uint32_t slen = (uint32_t)d[5] << 24 | (uint32_t)d[6] << 16 | (uint32_t)d[7] << 8 | d[8];
    free(d);
    patch(path, 24, (const uint8_t *)"c", 1, 9, slen);
    struct tsdb_block *b = open_block(in, u);
    cr_assert_eq(tsdb_compact(out, &b, 1, cu, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "compact: block %s: symbol 3 out of order", u);
    cr_assert_str_eq(err, want);
    cr_assert_eq(entries(out), 0);
    tsdb_block_close(b);

    /* Series a's value becomes symbol 4 ("z"): z, b, z. A series entry at
     * ref * 16: uvarint length, label count, name and value symbols, ...,
     * then the CRC of the body. */
    block_of(in, three, 3, u);
    b = open_block(in, u);
    uint32_t refs[3];
    cr_assert_eq(series_refs(b, refs, 3), 3);
    tsdb_block_close(b);
    snprintf(path, sizeof(path), "%s/%s/index", in, u);
    d = chunktest_read_file(path, &len);
    long at = (long)refs[0] * 16;
    cr_assert_eq(memcmp(d + at + 1, "\x01\x01\x02", 3), 0);
    size_t body = d[at];
    free(d);
    patch(path, at + 3, (const uint8_t *)"\x04", 1, at + 1, body);
    b = open_block(in, u);
    cr_assert_eq(tsdb_compact(out, &b, 1, cu, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "compact: block %s: series %u out of label order", u, refs[1]);
    cr_assert_str_eq(err, want);
    cr_assert_eq(entries(out), 0);
    tsdb_block_close(b);

    /* {__name__="a", x="1"} with its two labels swapped. Symbols: "", 1,
     * __name__, a, x. */
    block_of(in, (const struct tsdb_labels[]){{la, 2}}, 1, u);
    b = open_block(in, u);
    cr_assert_eq(series_refs(b, refs, 1), 1);
    tsdb_block_close(b);
    snprintf(path, sizeof(path), "%s/%s/index", in, u);
    d = chunktest_read_file(path, &len);
    at = (long)refs[0] * 16;
    cr_assert_eq(memcmp(d + at + 1, "\x02\x02\x03\x04\x01", 5), 0);
    body = d[at];
    free(d);
    patch(path, at + 2, (const uint8_t *)"\x04\x01\x02\x03", 4, at + 1, body);
    b = open_block(in, u);
    cr_assert_eq(tsdb_compact(out, &b, 1, cu, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "compact: block %s: series %u: labels empty or not sorted", u,
             refs[0]);
    cr_assert_str_eq(err, want);
    cr_assert_eq(entries(out), 0);
    tsdb_block_close(b);
    chunktest_rmtree(in);
    chunktest_rmtree(out);
}

Test(tsdb_compact, chunk_outside_its_range_refused)
{
    /* A chunk the index says holds T0+10 s..T0+20 s holds T0..T0+9 s. Copied,
     * that would go unseen (as in Prometheus); merged with an overlapping
     * chunk it is decoded, and refused: merged output could otherwise
     * overlap a neighbour. */
    char in[PATH_MAX], out[PATH_MAX], ua[ULEN], ub[ULEN], cu[ULEN], err[256] = "", want[256];
    tmpdir(in);
    tmpdir(out);
    static struct tsdb_sample s[10];
    static uint8_t buf[2 + 10 * TSDB_XOR_MAX_SAMPLE_BYTES];
    fill(s, 10, T0, 1000, 0);
    struct tsdb_block_chunk ch = encode(s, 10, buf, sizeof(buf));
    ch.mint = T0 + 10000;
    ch.maxt = T0 + 20000;
    struct tsdb_block_series sa_in[] = {{.labels = {la, 2}, .chunks = &ch, .nchunks = 1}};
    static const struct tsdb_sample mid[1] = {{T0 + 15000, 1}};
    struct tsdb_block_series sb_in[] = {{.labels = {la, 2}, .samples = mid, .nsamples = 1}};
    cr_assert_eq(tsdb_block_write(in, sa_in, 1, ua), 0);
    cr_assert_eq(tsdb_block_write(in, sb_in, 1, ub), 0);
    struct tsdb_block *b[2] = {open_block(in, ua), open_block(in, ub)};
    cr_assert_eq(tsdb_compact(out, b, 1, cu, err, sizeof(err)), 0, "alone it is copied: %s", err);
    chunktest_rmtree(out);
    cr_assert_eq(mkdir(out, 0700), 0);
    static struct got g[1];
    cr_assert_eq(read_block(b[0], g, 1), 1);
    uint32_t ref;
    cr_assert_eq(series_refs(b[0], &ref, 1), 1);
    cr_assert_eq(tsdb_compact(out, b, 2, cu, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "compact: block %s: series %u: chunk %llu does not decode to ascending samples in "
             "%lld..%lld",
             ua, ref, (unsigned long long)g[0].chunks[0].ref, T0 + 10000, T0 + 20000);
    cr_assert_str_eq(err, want);
    cr_assert_eq(entries(out), 0);
    free_got(g, 1);
    tsdb_block_close(b[0]);
    tsdb_block_close(b[1]);
    chunktest_rmtree(in);
    chunktest_rmtree(out);
}

/* ---- promtool reads a compacted block --------------------------------------------- */

/* Runs argv with stdout into out (stderr dropped); returns the exit status. */
static int run(char *const argv[], const char *out)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot run %s (Debian package prometheus): %s", argv[0], strerror(rc));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

Test(tsdb_compact, promtool_reads_compacted_block)
{
    char in[PATH_MAX], out[PATH_MAX], ua[ULEN], ub[ULEN], cu[ULEN], err[256] = "";
    tmpdir(in);
    tmpdir(out);
    /* Two overlapping blocks (one duplicate timestamp) and one series each
     * of its own, so promtool sees copied and re-encoded chunks. */
    static struct tsdb_sample a[130], bs[130], one[1] = {{T0 + 5, 7.25}};
    fill(a, 130, T0, 1000, 0);
    fill(bs, 130, T0 + 129000, 1000, 500);
    struct tsdb_block_series sa_in[] = {{.labels = {la, 2}, .samples = a, .nsamples = 130},
                                        {.labels = {lb, 1}, .samples = one, .nsamples = 1}};
    struct tsdb_block_series sb_in[] = {{.labels = {la, 2}, .samples = bs, .nsamples = 130},
                                        {.labels = {lc, 3}, .samples = one, .nsamples = 1}};
    cr_assert_eq(tsdb_block_write(in, sa_in, 2, ua), 0);
    cr_assert_eq(tsdb_block_write(in, sb_in, 2, ub), 0);
    struct tsdb_block *b[2] = {open_block(in, ua), open_block(in, ub)};
    cr_assert_eq(tsdb_compact(out, b, 2, cu, err, sizeof(err)), 0, "%s", err);
    tsdb_block_close(b[0]);
    tsdb_block_close(b[1]);

    char file[PATH_MAX + 32];
    snprintf(file, sizeof(file), "%s/analyze.txt", in);
    char *an[] = {"promtool", "tsdb", "analyze", out, cu, NULL};
    cr_assert_eq(run(an, file), 0, "promtool tsdb analyze failed");
    size_t len;
    char *text = (char *)chunktest_read_file(file, &len);
    text[len] = '\0';
    char want[128];
    snprintf(want, sizeof(want), "Block ID: %s\n", cu);
    cr_assert(strstr(text, want), "%s", text);
    cr_assert(strstr(text, "Series: 3\n"), "%s", text);
    cr_assert(strstr(text, "Label names: 3\n"), "%s", text);
    free(text);

    snprintf(file, sizeof(file), "%s/wal", out);
    cr_assert_eq(mkdir(file, 0755), 0);
    snprintf(file, sizeof(file), "%s/dump.txt", in);
    char *dump[] = {"promtool", "tsdb", "dump", out, NULL};
    cr_assert_eq(run(dump, file), 0, "promtool tsdb dump failed");
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f);
    char line[256], exp[256];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (n < 259) {
            /* a: t = 0..258 s; 0..129 from the first block (129 s is in
             * both: the first block's value is kept), 130..258 from the
             * second. */
            double v = n <= 129 ? 0.5 * (double)n : 500 + 0.5 * (double)(n - 129);
            snprintf(exp, sizeof(exp), "{__name__=\"a\", x=\"1\"} %g %lld\n", v,
                     (long long)(T0 + 1000 * (int64_t)n));
        } else if (n == 259) {
            snprintf(exp, sizeof(exp), "{__name__=\"b\"} 7.25 %lld\n", (long long)(T0 + 5));
        } else {
            snprintf(exp, sizeof(exp), "{__name__=\"c\", x=\"2\", y=\"z\"} 7.25 %lld\n",
                     (long long)(T0 + 5));
        }
        cr_assert_str_eq(line, exp, "line %zu", n);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, 261);
    chunktest_rmtree(in);
    chunktest_rmtree(out);
}

/* ---- planning ---------------------------------------------------------------------- */

#define HR 3600000LL
static const int64_t ranges[] = {2 * HR, 6 * HR, 18 * HR, 54 * HR};

struct pcase {
    const char *name;
    struct {
        int64_t mint, maxt;
        uint64_t series, tombstones;
    } b[6];
    size_t n;
    size_t want[6]; /* indices into b, in time order */
    size_t nwant;
};

/* Hours to ms. */
#define B(a, z)                                                                                    \
    {                                                                                              \
        (a) * HR, (z)*HR, 0, 0                                                                     \
    }

static const struct pcase plan_cases[] = {
    {"one block: nothing", {B(0, 2)}, 1, {0}, 0},
    {"two 2h blocks: the newest is left out, one is no group", {B(0, 2), B(2, 4)}, 2, {0}, 0},
    {"three 2h blocks filling 6h, but the third is the newest",
     {B(0, 2), B(2, 4), B(4, 6)},
     3,
     {0},
     0},
    {"a fourth block arrives: the 6h range is full",
     {B(0, 2), B(2, 4), B(4, 6), B(6, 8)},
     4,
     {0, 1, 2},
     3},
    {"order given does not matter", {B(6, 8), B(4, 6), B(0, 2), B(2, 4)}, 4, {2, 3, 1}, 3},
    {"a gap, and the next range has only the newest", {B(0, 2), B(2, 4), B(6, 8)}, 3, {0}, 0},
    {"a gap; the next range has begun: compact what there is",
     {B(0, 2), B(2, 4), B(6, 8), B(8, 10)},
     4,
     {0, 1},
     2},
    {"one block alone in its range is never a group", {B(0, 2), B(6, 8), B(12, 14)}, 3, {0}, 0},
    {"6h blocks fill an 18h range", {B(0, 6), B(6, 12), B(12, 18), B(18, 20)}, 4, {0, 1, 2}, 3},
    {"the first range that has a group wins: 6h before 18h",
     {B(0, 6), B(6, 12), B(18, 20), B(20, 22), B(22, 24), B(24, 26)},
     6,
     {2, 3, 4},
     3},
    {"18h, when 6h has no group that is done",
     {B(0, 6), B(6, 12), B(18, 20), B(20, 22), B(22, 24)},
     5,
     {0, 1},
     2},
    {"a block crossing the range boundary belongs to no group",
     {B(4, 8), B(8, 10), B(10, 12), B(12, 14), B(14, 16)},
     5,
     {1, 2},
     2},
    {"negative times align downwards (-4h is in -6h..0)",
     {B(-4, -2), B(-2, 0), B(0, 2), B(2, 4)},
     4,
     {0, 1},
     2},
    {"overlap first, newest included", {B(0, 2), B(2, 4), B(3, 5)}, 3, {1, 2}, 2},
    {"overlap chains through a long block", {B(0, 2), B(1, 6), B(5, 7), B(8, 10)}, 4, {0, 1, 2}, 3},
    {"only the first overlapping run", {B(0, 2), B(1, 3), B(4, 6), B(5, 7)}, 4, {0, 1}, 2},
    {"touching ranges do not overlap", {B(0, 2), B(2, 4), B(4, 6)}, 3, {0}, 0},
    {"tombstones: 6 of 100 series in a large block", {{0, 18 * HR, 100, 6}, B(18, 20)}, 2, {0}, 1},
    {"tombstones: 5 of 100 series is not over 5%", {{0, 18 * HR, 99, 5}, B(18, 20)}, 2, {0}, 0},
    {"tombstones: a large block is not compacted while it is the newest",
     {{0, 18 * HR, 100, 50}},
     1,
     {0},
     0},
    {"tombstones: a small block only when every series has one",
     {{0, 6 * HR, 10, 9}, B(6, 8)},
     2,
     {0},
     0},
    {"tombstones: a small block whose every series has one",
     {{0, 6 * HR, 10, 10}, B(6, 8)},
     2,
     {0},
     1},
    {"tombstones: the search stops at the first small block",
     {{0, 18 * HR, 100, 50}, {18 * HR, 20 * HR, 10, 0}, B(20, 22)},
     3,
     {0},
     0},
    {"tombstones: newest first",
     {{0, 18 * HR, 100, 50}, {18 * HR, 36 * HR, 100, 50}, B(36, 38)},
     3,
     {1},
     1},
    {"no series and no tombstones is not a reason", {{0, 18 * HR, 0, 0}, B(18, 20)}, 2, {0}, 0},
};

Test(tsdb_compact, plan)
{
    for (size_t c = 0; c < sizeof(plan_cases) / sizeof(plan_cases[0]); c++) {
        const struct pcase *pc = &plan_cases[c];
        struct tsdb_block_meta m[6] = {0};
        for (size_t i = 0; i < pc->n; i++) {
            m[i].min_time = pc->b[i].mint;
            m[i].max_time = pc->b[i].maxt;
            m[i].num_series = pc->b[i].series;
            m[i].num_tombstones = pc->b[i].tombstones;
        }
        size_t out[6], n = 99;
        cr_assert_eq(tsdb_compact_plan(m, pc->n, ranges, 4, out, &n), 0, "%s", pc->name);
        cr_assert_eq(n, pc->nwant, "%s: %zu blocks, want %zu", pc->name, n, pc->nwant);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(out[i], pc->want[i], "%s: block %zu is %zu, want %zu", pc->name, i, out[i],
                         pc->want[i]);
    }
}

Test(tsdb_compact, plan_edges)
{
    struct tsdb_block_meta m[3] = {{.min_time = 0, .max_time = 2 * HR},
                                   {.min_time = 2 * HR, .max_time = 4 * HR},
                                   {.min_time = 4 * HR, .max_time = 6 * HR}};
    size_t out[3], n = 99;
    cr_assert_eq(tsdb_compact_plan(m, 0, ranges, 4, out, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(tsdb_compact_plan(m, 3, ranges, 0, out, &n), -EINVAL);
    const int64_t bad[] = {2 * HR, 0};
    cr_assert_eq(tsdb_compact_plan(m, 3, bad, 2, out, &n), -EINVAL);
    /* A single range never groups blocks (Prometheus' selectDirs). */
    m[2].min_time = 6 * HR;
    m[2].max_time = 8 * HR;
    cr_assert_eq(tsdb_compact_plan(m, 3, ranges, 1, out, &n), 0);
    cr_assert_eq(n, 0);
    /* Two ranges: 0-2 and 2-4 neither fill 6h nor end before the newest
     * block left (2-4) starts; the middle range, 6h, makes both small. */
    cr_assert_eq(tsdb_compact_plan(m, 3, ranges, 2, out, &n), 0);
    cr_assert_eq(n, 0);
}

/* Queries of a block honour its tombstones, as Prometheus' do: the deleted
 * samples are gone from select, the others stay. */
Test(tsdb_compact, select_honours_tombstones)
{
    char in[PATH_MAX], ulid[3][ULEN];
    tmpdir(in);
    write_three(in, ulid);
    struct tsdb_block *b0 = open_block(in, ulid[0]);
    uint32_t refs[3];
    cr_assert_eq(series_refs(b0, refs, 3), 3);
    tsdb_block_close(b0);
    const struct tsdb_tombstone ts[] = {
        {refs[0], sa[0][100].t, sa[0][109].t},
        {refs[1], INT64_MIN, INT64_MAX},
    };
    write_tombstones(in, ulid[0], ts, 2);
    b0 = open_block(in, ulid[0]);
    struct tsdb_source src = tsdb_block_source(b0);
    struct tsdb_series_set set = {0};
    cr_assert_eq(tsdb_query_select(&src, 1, NULL, 0, INT64_MIN, INT64_MAX, &set), 0);
    cr_assert_eq(set.n, 2, "b is deleted entirely");
    cr_assert_eq(set.v[0].n, 240 - 10);
    for (size_t i = 0, k = 0; i < set.v[0].n; i++, k++) {
        if (k == 100)
            k = 110;
        cr_assert_eq(set.v[0].samples[i].t, sa[0][k].t);
    }
    tsdb_series_set_free(&set);
    tsdb_block_close(b0);
    chunktest_rmtree(in);
}
