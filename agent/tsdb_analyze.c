/*
 * `cairn tsdb analyze`: promtool 2.42's `tsdb analyze` on cairn's block
 * reader. For one block (by default the one promtool picks: the last after
 * sorting the directory's blocks by minimum time) it prints the block's
 * duration and counts, then six top-N lists: label pairs and label names
 * by churn (how much of the block's time range their series do not cover),
 * the most common label pairs, label names by cumulative value length and
 * by number of values, and metric names by number of series. --extended
 * adds promtool's chunk fullness histogram.
 *
 * Order of equal entries. promtool sorts each list with Go's sort.Slice, a
 * pattern-defeating quicksort that is not stable. For the last three lists
 * its input is in a fixed order (names and values ascending), so the output
 * is deterministic, and cairn reproduces it by running the same algorithm
 * on the same input: go_sort() below is Go 1.19's pdqsort (Debian's
 * promtool 2.42 is built with go1.19.8; later Go versions changed the
 * pseudo-random pattern breaker, which would move some ties). The first three lists are built
 * by iterating Go maps, whose order is randomised on every run, so promtool
 * itself prints their ties in a different order each time; cairn orders
 * ties by name, then value (the integration test compares these three
 * lists without regard to the order of ties).
 * The same Go sort chooses the default block, so a directory with several
 * blocks of one minimum time gives the same answer as promtool.
 */
#include "agent/tsdb_tools.h"
#include "tsdb/tsdb.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EXIT_USAGE 2

/* ---- Go 1.19's sort.Slice ------------------------------------------------------------- */

/* What sort.Slice sees of the data: a strict weak order and a swap, by
 * index. */
struct go_sorter {
    bool (*less)(void *ctx, long i, long j);
    void (*swap)(void *ctx, long i, long j);
    void *ctx;
};

enum go_hint { GO_HINT_UNKNOWN, GO_HINT_INCREASING, GO_HINT_DECREASING };

static bool go_less(const struct go_sorter *d, long i, long j)
{
    return d->less(d->ctx, i, j);
}

static void go_swap(const struct go_sorter *d, long i, long j)
{
    d->swap(d->ctx, i, j);
}

/* math/bits.Len: the number of bits needed to represent x. */
static int go_bits_len(unsigned long x)
{
    return x ? (int)(sizeof(x) * 8) - __builtin_clzl(x) : 0;
}

static void go_insertion_sort(const struct go_sorter *d, long a, long b)
{
    for (long i = a + 1; i < b; i++)
        for (long j = i; j > a && go_less(d, j, j - 1); j--)
            go_swap(d, j, j - 1);
}

static void go_sift_down(const struct go_sorter *d, long lo, long hi, long first)
{
    long root = lo;
    for (;;) {
        long child = 2 * root + 1;
        if (child >= hi)
            return;
        if (child + 1 < hi && go_less(d, first + child, first + child + 1))
            child++;
        if (!go_less(d, first + root, first + child))
            return;
        go_swap(d, first + root, first + child);
        root = child;
    }
}

static void go_heap_sort(const struct go_sorter *d, long a, long b)
{
    long first = a, hi = b - a;
    for (long i = (hi - 1) / 2; i >= 0; i--)
        go_sift_down(d, i, hi, first);
    for (long i = hi - 1; i >= 0; i--) {
        go_swap(d, first, first + i);
        go_sift_down(d, 0, i, first);
    }
}

/* Moves data[pivot] to its place; smaller elements before, others after.
 * *already tells whether nothing had to move. */
static long go_partition(const struct go_sorter *d, long a, long b, long pivot, bool *already)
{
    go_swap(d, a, pivot);
    long i = a + 1, j = b - 1;
    while (i <= j && go_less(d, i, a))
        i++;
    while (i <= j && !go_less(d, j, a))
        j--;
    if (i > j) {
        go_swap(d, j, a);
        *already = true;
        return j;
    }
    go_swap(d, i, j);
    i++;
    j--;
    for (;;) {
        while (i <= j && go_less(d, i, a))
            i++;
        while (i <= j && !go_less(d, j, a))
            j--;
        if (i > j)
            break;
        go_swap(d, i, j);
        i++;
        j--;
    }
    go_swap(d, j, a);
    *already = false;
    return j;
}

/* Elements equal to data[pivot] first, greater ones after (none is
 * smaller); returns where the greater ones start. */
static long go_partition_equal(const struct go_sorter *d, long a, long b, long pivot)
{
    go_swap(d, a, pivot);
    long i = a + 1, j = b - 1;
    for (;;) {
        while (i <= j && !go_less(d, a, i))
            i++;
        while (i <= j && go_less(d, a, j))
            j--;
        if (i > j)
            break;
        go_swap(d, i, j);
        i++;
        j--;
    }
    return i;
}

/* Fixes up to 5 adjacent inversions; true when the range ends sorted. The
 * left shift loop stops at index 1, not a + 1, as in Go 1.19. */
static bool go_partial_insertion_sort(const struct go_sorter *d, long a, long b)
{
    long i = a + 1;
    for (int step = 0; step < 5; step++) {
        while (i < b && !go_less(d, i, i - 1))
            i++;
        if (i == b)
            return true;
        if (b - a < 50)
            return false;
        go_swap(d, i, i - 1);
        if (i - a >= 2)
            for (long j = i - 1; j >= 1 && go_less(d, j, j - 1); j--)
                go_swap(d, j, j - 1);
        if (b - i >= 2)
            for (long j = i + 1; j < b && go_less(d, j, j - 1); j++)
                go_swap(d, j, j - 1);
    }
    return false;
}

static void go_break_patterns(const struct go_sorter *d, long a, long b)
{
    long length = b - a;
    if (length < 8)
        return;
    uint64_t random = (uint64_t)length; /* Go 1.19's xorshift, seeded by the length */
    unsigned long modulus = 1UL << go_bits_len((unsigned long)length);
    for (long idx = a + (length / 4) * 2 - 1; idx <= a + (length / 4) * 2 + 1; idx++) {
        random ^= random << 13;
        random ^= random >> 17;
        random ^= random << 5;
        long other = (long)((unsigned long)random & (modulus - 1));
        if (other >= length)
            other -= length;
        go_swap(d, idx, a + other);
    }
}

static void go_order2(const struct go_sorter *d, long *a, long *b, int *swaps)
{
    if (go_less(d, *b, *a)) {
        (*swaps)++;
        long t = *a;
        *a = *b;
        *b = t;
    }
}

static long go_median(const struct go_sorter *d, long a, long b, long c, int *swaps)
{
    go_order2(d, &a, &b, swaps);
    go_order2(d, &b, &c, swaps);
    go_order2(d, &a, &b, swaps);
    return b;
}

static long go_choose_pivot(const struct go_sorter *d, long a, long b, enum go_hint *hint)
{
    long l = b - a;
    int swaps = 0;
    long i = a + l / 4 * 1, j = a + l / 4 * 2, k = a + l / 4 * 3;
    if (l >= 8) {
        if (l >= 50) { /* Tukey's ninther */
            i = go_median(d, i - 1, i, i + 1, &swaps);
            j = go_median(d, j - 1, j, j + 1, &swaps);
            k = go_median(d, k - 1, k, k + 1, &swaps);
        }
        j = go_median(d, i, j, k, &swaps);
    }
    *hint = swaps == 0 ? GO_HINT_INCREASING : swaps == 12 ? GO_HINT_DECREASING : GO_HINT_UNKNOWN;
    return j;
}

static void go_reverse_range(const struct go_sorter *d, long a, long b)
{
    for (long i = a, j = b - 1; i < j; i++, j--)
        go_swap(d, i, j);
}

static void go_pdqsort(const struct go_sorter *d, long a, long b, int limit)
{
    bool balanced = true, partitioned = true;
    for (;;) {
        long length = b - a;
        if (length <= 12) {
            go_insertion_sort(d, a, b);
            return;
        }
        if (limit == 0) {
            go_heap_sort(d, a, b);
            return;
        }
        if (!balanced) {
            go_break_patterns(d, a, b);
            limit--;
        }
        enum go_hint hint;
        long pivot = go_choose_pivot(d, a, b, &hint);
        if (hint == GO_HINT_DECREASING) {
            go_reverse_range(d, a, b);
            pivot = (b - 1) - (pivot - a);
            hint = GO_HINT_INCREASING;
        }
        if (balanced && partitioned && hint == GO_HINT_INCREASING &&
            go_partial_insertion_sort(d, a, b))
            return;
        if (a > 0 && !go_less(d, a - 1, pivot)) {
            a = go_partition_equal(d, a, b, pivot);
            continue;
        }
        long mid = go_partition(d, a, b, pivot, &partitioned);
        long left = mid - a, right = b - mid, threshold = length / 8;
        if (left < right) {
            balanced = left >= threshold;
            go_pdqsort(d, a, mid, limit);
            a = mid + 1;
        } else {
            balanced = right >= threshold;
            go_pdqsort(d, mid + 1, b, limit);
            b = mid;
        }
    }
}

/* sort.Slice(data, less) of n elements, exactly as Go 1.19 orders them. */
static void go_sort(const struct go_sorter *d, size_t n)
{
    go_pdqsort(d, 0, (long)n, go_bits_len(n));
}

/* ---- the lists ------------------------------------------------------------------------ */

/* promtool's postingInfo: a key (name, or name=value when value is set) and
 * a number. */
struct info {
    const char *name, *value;
    uint64_t metric;
};

static bool info_less(void *ctx, long i, long j)
{
    const struct info *v = ctx;
    return v[i].metric > v[j].metric;
}

static void info_swap(void *ctx, long i, long j)
{
    struct info *v = ctx, t = v[i];
    v[i] = v[j];
    v[j] = t;
}

/* The deterministic order for lists promtool builds from Go maps: by number
 * descending, then key. */
static int info_cmp(const void *pa, const void *pb)
{
    const struct info *a = pa, *b = pb;
    if (a->metric != b->metric)
        return a->metric > b->metric ? -1 : 1;
    int c = strcmp(a->name, b->name);
    if (c || !a->value)
        return c;
    return strcmp(a->value, b->value);
}

static void print_infos(const char *title, struct info *v, size_t n, long limit, bool from_map)
{
    if (from_map) {
        if (n > 1)
            qsort(v, n, sizeof(*v), info_cmp);
    } else {
        struct go_sorter d = {info_less, info_swap, v};
        go_sort(&d, n);
    }
    printf("\n%s:\n", title);
    for (size_t i = 0; i < n && (long)i < limit; i++) {
        if (v[i].value)
            printf("%" PRIu64 " %s=%s\n", v[i].metric, v[i].name, v[i].value);
        else
            printf("%" PRIu64 " %s\n", v[i].metric, v[i].name);
    }
}

/* Index of s in the ascending array v[0..n), or -1. */
static long find_str(const char *const *v, size_t n, const char *s)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid], s);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* uint64(float64(m) / float64(span)) as Go computes it on amd64 (clamped
 * where C leaves the conversion undefined). */
static uint64_t churn_ratio(uint64_t m, int64_t span)
{
    double r = (double)m / (double)span;
    if (!(r >= 0))
        return 0;
    if (r >= 18446744073709551616.0)
        return UINT64_MAX;
    return (uint64_t)r;
}

/* Per label name and per label pair of the block: churn and counts. Pairs
 * are numbered name by name in the index's value order. */
struct tally {
    const char *const *names;
    size_t nnames;
    const char *const **values; /* per name */
    size_t *nvalues, *base;     /* per name; base: number of the first pair */
    size_t npairs;
    uint64_t *name_uncovered, *pair_uncovered, *pair_count;
    uint64_t entries;
};

static void tally_free(struct tally *t)
{
    free(t->values);
    free(t->nvalues);
    free(t->base);
    free(t->name_uncovered);
    free(t->pair_uncovered);
    free(t->pair_count);
}

static int tally_init(struct tally *t, const struct tsdb_index_reader *ir)
{
    memset(t, 0, sizeof(*t));
    tsdb_index_label_names(ir, &t->names, &t->nnames);
    size_t n = t->nnames + 1;
    t->values = cn_calloc(n, sizeof(*t->values));
    t->nvalues = cn_calloc(n, sizeof(*t->nvalues));
    t->base = cn_calloc(n, sizeof(*t->base));
    t->name_uncovered = cn_calloc(n, sizeof(*t->name_uncovered));
    if (!t->values || !t->nvalues || !t->base || !t->name_uncovered)
        return -ENOMEM;
    for (size_t i = 0; i < t->nnames; i++) {
        tsdb_index_label_values(ir, t->names[i], &t->values[i], &t->nvalues[i]);
        t->base[i] = t->npairs;
        t->npairs += t->nvalues[i];
    }
    t->pair_uncovered = cn_calloc(t->npairs + 1, sizeof(*t->pair_uncovered));
    t->pair_count = cn_calloc(t->npairs + 1, sizeof(*t->pair_count));
    return t->pair_uncovered && t->pair_count ? 0 : -ENOMEM;
}

/* Goes through every series as promtool does: the uncovered part of the
 * block's range (unsigned, wrapping as Go's uint64 does) is added to each
 * of its label names and pairs. */
static int tally_series(struct tally *t, const struct tsdb_index_reader *ir,
                        const struct tsdb_block_meta *meta, char *err, size_t errcap)
{
    uint32_t *refs = NULL;
    size_t nrefs = 0;
    int rc = tsdb_index_postings(ir, "", "", &refs, &nrefs);
    struct tsdb_index_series s = {0};
    uint64_t span = (uint64_t)(meta->max_time - meta->min_time);
    for (size_t i = 0; !rc && i < nrefs; i++) {
        if ((rc = tsdb_index_series(ir, refs[i], &s)))
            break;
        uint64_t covered = 0;
        if (s.nchunks)
            covered = (uint64_t)(s.chunks[s.nchunks - 1].maxt - s.chunks[0].mint);
        uint64_t uncovered = span - covered;
        for (size_t l = 0; l < s.nlabels; l++) {
            long ni = find_str(t->names, t->nnames, s.labels[l].name);
            long vi = ni < 0 ? -1 : find_str(t->values[ni], t->nvalues[ni], s.labels[l].value);
            if (vi < 0) {
                snprintf(err, errcap, "series %" PRIu32 ": label %s has no postings", refs[i],
                         s.labels[l].name);
                rc = -EINVAL;
                break;
            }
            size_t pair = t->base[ni] + (size_t)vi;
            t->name_uncovered[ni] += uncovered;
            t->pair_uncovered[pair] += uncovered;
            t->pair_count[pair]++;
            t->entries++;
        }
    }
    if (rc && !err[0])
        snprintf(err, errcap, "reading series: %s", strerror(-rc));
    tsdb_index_series_free(&s);
    free(refs);
    return rc;
}

/* promtool's --extended: how full the chunks are, in tenths of 120
 * samples, as a bar of one '#' per percent of the chunks. */
static int print_compaction(const char *blockdir, const struct tsdb_index_reader *ir, char *err,
                            size_t errcap)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/chunks", blockdir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    struct tsdb_chunk_reader *cr = NULL;
    uint32_t *refs = NULL;
    size_t nrefs = 0;
    struct tsdb_index_series s = {0};
    uint64_t hist[10] = {0}, total = 0;
    int rc = tsdb_chunk_reader_open(path, &cr);
    if (!rc)
        rc = tsdb_index_postings(ir, "", "", &refs, &nrefs);
    for (size_t i = 0; !rc && i < nrefs; i++) {
        if ((rc = tsdb_index_series(ir, refs[i], &s)))
            break;
        for (size_t c = 0; c < s.nchunks; c++) {
            const uint8_t *data;
            size_t len;
            uint8_t enc;
            if ((rc = tsdb_chunk_reader_get(cr, s.chunks[c].ref, &data, &len, &enc))) {
                snprintf(err, errcap, "chunk %" PRIu64 ": %s", (uint64_t)s.chunks[c].ref,
                         rc == -EBADMSG ? "checksum mismatch" : "unreadable");
                break;
            }
            double size = tsdb_xor_count(data, len);
            if (size > 120)
                size = 120;
            /* A chunk of no samples is not written by Prometheus (promtool
             * would panic on it); count it with the emptiest. */
            int bucket = (int)ceil(10 * size / 120) - 1;
            hist[bucket < 0 ? 0 : bucket]++;
            total++;
        }
    }
    if (rc && !err[0])
        snprintf(err, errcap, "reading chunks: %s", strerror(-rc));
    tsdb_index_series_free(&s);
    free(refs);
    tsdb_chunk_reader_close(cr);
    if (rc)
        return rc;
    printf("\nCompaction analysis:\n");
    printf("Fullness: Amount of samples in chunks (100%% is 120 samples)\n");
    for (int b = 0; b < 10; b++) {
        uint64_t pct = total ? 100 * hist[b] / total : 0;
        printf("%7d%%: ", (b + 1) * 10);
        for (uint64_t j = 0; j < pct; j++)
            putchar('#');
        putchar('\n');
    }
    return 0;
}

static int analyze_block(struct tsdb_block *b, const char *blockdir, long limit, bool extended)
{
    const struct tsdb_block_meta *meta = tsdb_block_meta(b);
    const struct tsdb_index_reader *ir = tsdb_block_index(b);
    char dur[64], err[512] = "";
    agent_tsdb_go_duration(meta->max_time - meta->min_time, dur, sizeof(dur));
    printf("Block ID: %s\nDuration: %s\nSeries: %" PRIu64 "\n", meta->ulid, dur, meta->num_series);

    struct tally t;
    int rc = tally_init(&t, ir);
    if (!rc)
        printf("Label names: %zu\n", t.nnames);
    if (!rc)
        rc = tally_series(&t, ir, meta, err, sizeof(err));
    size_t ninfo = (t.npairs > t.nnames ? t.npairs : t.nnames) + 1;
    struct info *v = rc ? NULL : cn_calloc(ninfo, sizeof(*v));
    if (!rc && !v)
        rc = -ENOMEM;
    if (rc) {
        fprintf(stderr, "cairn: error: block %s: %s\n", meta->ulid, err[0] ? err : strerror(-rc));
        tally_free(&t);
        return 1;
    }
    int64_t span = meta->max_time - meta->min_time;
    size_t used = 0;
    for (size_t i = 0; i < t.nnames; i++)
        for (size_t j = 0; j < t.nvalues[i]; j++)
            used += t.pair_count[t.base[i] + j] > 0;
    printf("Postings (unique label pairs): %zu\n", used);
    printf("Postings entries (total label pairs): %" PRIu64 "\n", t.entries);

    size_t n = 0;
    for (size_t i = 0; i < t.nnames; i++)
        for (size_t j = 0; j < t.nvalues[i]; j++)
            if (t.pair_count[t.base[i] + j])
                v[n++] = (struct info){t.names[i], t.values[i][j],
                                       churn_ratio(t.pair_uncovered[t.base[i] + j], span)};
    print_infos("Label pairs most involved in churning", v, n, limit, true);

    n = 0;
    for (size_t i = 0; i < t.nnames; i++)
        for (size_t j = 0; j < t.nvalues[i]; j++)
            if (t.pair_count[t.base[i] + j]) { /* names that occur in a series */
                v[n++] = (struct info){t.names[i], NULL, churn_ratio(t.name_uncovered[i], span)};
                break;
            }
    print_infos("Label names most involved in churning", v, n, limit, true);

    n = 0;
    for (size_t i = 0; i < t.nnames; i++)
        for (size_t j = 0; j < t.nvalues[i]; j++)
            if (t.pair_count[t.base[i] + j])
                v[n++] = (struct info){t.names[i], t.values[i][j], t.pair_count[t.base[i] + j]};
    print_infos("Most common label pairs", v, n, limit, true);

    for (size_t i = 0; i < t.nnames; i++) {
        uint64_t len = 0;
        for (size_t j = 0; j < t.nvalues[i]; j++)
            len += strlen(t.values[i][j]);
        v[i] = (struct info){t.names[i], NULL, len};
    }
    print_infos("Label names with highest cumulative label value length", v, t.nnames, limit,
                false);

    for (size_t i = 0; i < t.nnames; i++)
        v[i] = (struct info){t.names[i], NULL, t.nvalues[i]};
    print_infos("Highest cardinality labels", v, t.nnames, limit, false);

    const char *const *metrics;
    size_t nmetrics;
    tsdb_index_label_values(ir, "__name__", &metrics, &nmetrics);
    struct info *mv = cn_calloc(nmetrics + 1, sizeof(*mv));
    rc = mv ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < nmetrics; i++) {
        uint32_t *refs = NULL;
        size_t nrefs = 0;
        rc = tsdb_index_postings(ir, "__name__", metrics[i], &refs, &nrefs);
        free(refs);
        mv[i] = (struct info){metrics[i], NULL, nrefs};
    }
    if (!rc)
        print_infos("Highest cardinality metric names", mv, nmetrics, limit, false);
    free(mv);
    free(v);
    tally_free(&t);
    if (!rc && extended)
        rc = print_compaction(blockdir, ir, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "cairn: error: block %s: %s\n", meta->ulid, err[0] ? err : strerror(-rc));
        return 1;
    }
    return 0;
}

/* ---- choosing the block --------------------------------------------------------------- */

struct candidate {
    char ulid[TSDB_ULID_LEN + 1];
    int64_t min_time;
};

static bool cand_less(void *ctx, long i, long j)
{
    const struct candidate *v = ctx;
    return v[i].min_time < v[j].min_time;
}

static void cand_swap(void *ctx, long i, long j)
{
    struct candidate *v = ctx, t = v[i];
    v[i] = v[j];
    v[j] = t;
}

static int cand_cmp_ulid(const void *a, const void *b)
{
    return strcmp(((const struct candidate *)a)->ulid, ((const struct candidate *)b)->ulid);
}

/*
 * The block promtool analyzes: the one named id, or else the last of the
 * directory's blocks (ULID directories read in name order, as Go's
 * os.ReadDir lists them) after Go's sort by minimum time. As in Prometheus,
 * a block whose meta.json cannot be read is skipped with a warning.
 */
static int choose_block(const char *dir, const char *id, char out[TSDB_ULID_LEN + 1])
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cairn: error: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct candidate *v = NULL;
    size_t n = 0, cap = 0;
    int status = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        if (!tsdb_ulid_valid(e->d_name) ||
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
            stat(path, &st) || !S_ISDIR(st.st_mode))
            continue;
        if (cn_array_grow((void **)&v, &cap, n + 1, sizeof(*v), 16)) {
            status = 1;
            break;
        }
        memcpy(v[n].ulid, e->d_name, TSDB_ULID_LEN + 1); /* valid: 26 characters */
        n++;
    }
    closedir(d);
    if (status) {
        fprintf(stderr, "cairn: error: out of memory\n");
        free(v);
        return 1;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cand_cmp_ulid);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096], err[512] = "";
        struct tsdb_block_meta m;
        snprintf(path, sizeof(path), "%s/%s", dir, v[i].ulid);
        if (tsdb_meta_read(path, &m, err, sizeof(err))) {
            fprintf(stderr, "cairn: warning: skipping block %s: %s\n", path, err);
            continue;
        }
        v[k] = v[i];
        v[k++].min_time = m.min_time;
        tsdb_meta_free(&m);
    }
    struct go_sorter srt = {cand_less, cand_swap, v};
    go_sort(&srt, k);
    status = 1;
    for (size_t i = 0; i < k; i++)
        if (id ? !strcmp(v[i].ulid, id) : i + 1 == k) {
            memcpy(out, v[i].ulid, TSDB_ULID_LEN + 1);
            status = 0;
        }
    if (status && id)
        fprintf(stderr, "cairn: error: block %s not found in %s\n", id, dir);
    else if (status)
        fprintf(stderr, "cairn: error: no blocks in %s\n", dir);
    free(v);
    return status;
}

static void analyze_usage(FILE *out)
{
    fprintf(out, "usage: cairn tsdb analyze [--limit=N] [--extended] [DIR [BLOCK_ID]]\n");
}

int agent_tsdb_analyze_main(int argc, char **argv)
{
    long limit = 20;
    bool extended = false;
    const char *dir = NULL, *id = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--extended")) {
            extended = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            analyze_usage(stdout);
            return 0;
        } else if (!strncmp(a, "--limit", 7) && (a[7] == '\0' || a[7] == '=')) {
            const char *val = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            int64_t l;
            if (!val || cn_parse_i64(val, &l)) {
                fprintf(stderr, "cairn: error: --limit needs a whole number\n");
                return EXIT_USAGE;
            }
            limit = (long)l;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "cairn: error: unknown flag %s\n", a);
            analyze_usage(stderr);
            return EXIT_USAGE;
        } else if (!dir) {
            dir = a;
        } else if (!id) {
            id = a;
        } else {
            fprintf(stderr, "cairn: error: unexpected argument %s\n", a);
            analyze_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!dir)
        dir = "data/";
    char ulid[TSDB_ULID_LEN + 1], path[4096], err[512] = "";
    if (choose_block(dir, id, ulid))
        return 1;
    snprintf(path, sizeof(path), "%s/%s", dir, ulid);
    struct tsdb_block *b;
    if (tsdb_block_open(path, &b, err, sizeof(err))) {
        fprintf(stderr, "cairn: error: block %s: %s\n", path, err);
        return 1;
    }
    int status = analyze_block(b, path, limit, extended);
    tsdb_block_close(b);
    return status;
}
