/*
 * The head: series identity and references, interning, postings through
 * select, Prometheus' append rules (out of order, duplicates, the same
 * sample twice), chunk cutting at 120 samples, allocation failures, readers
 * running while one thread appends, and a block cut from the head read back
 * by the real `promtool tsdb dump`.
 *
 * Disk-backed heads (full chunks in chunks_head/): every sample back across
 * many chunks, the files' bytes checked against Prometheus' head chunk
 * format with a CRC computed here, files deleted by truncation (oldest
 * first, never leaving a gap), a write failure (file size limit) keeping
 * chunks in memory until a later write succeeds, the same block cut as
 * from an in-memory head, and the allocation-failure and concurrent-reader
 * tests run on a disk-backed head too.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsdb/tsdb.h"

/* From test_chunk.c. */
void chunktest_rmtree(const char *path);
uint8_t *chunktest_read_file(const char *path, size_t *len);

#define L(n, v)                                                                                    \
    {                                                                                              \
        (n), (v)                                                                                   \
    }

static uint64_t bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static struct tsdb_matcher *mk(enum tsdb_match_type t, const char *n, const char *v)
{
    struct tsdb_matcher *m;
    char err[128];
    cr_assert_eq(tsdb_matcher_create(t, n, v, &m, err, sizeof(err)), 0, "%s", err);
    return m;
}

/* A new temporary directory (PATH_MAX bytes); remove with chunktest_rmtree. */
static void tmpdir(char *dir)
{
    snprintf(dir, PATH_MAX, "/tmp/cairn-head-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

/* An in-memory head (dir NULL) or one keeping chunks in dir/chunks_head. */
static struct tsdb_head *new_head(const char *dir)
{
    struct tsdb_head *h;
    cr_assert_eq(dir ? tsdb_head_create_disk(dir, &h) : tsdb_head_create(&h), 0);
    return h;
}

/* Selects over the head alone. */
static void head_select(struct tsdb_head *h, const struct tsdb_matcher *const *ms, size_t nms,
                        int64_t mint, int64_t maxt, struct tsdb_series_set *out)
{
    struct tsdb_source src = tsdb_head_source(h);
    *out = (struct tsdb_series_set){0};
    cr_assert_eq(tsdb_query_select(&src, 1, ms, nms, mint, maxt, out), 0);
}

Test(tsdb_head, refs_and_select)
{
    struct tsdb_head *h;
    cr_assert_eq(tsdb_head_create(&h), 0);
    const struct tsdb_label a[] = {L("__name__", "up"), L("job", "node")};
    const struct tsdb_label b[] = {L("__name__", "up"), L("job", "prom")};
    const struct tsdb_label c[] = {L("__name__", "load1"), L("job", "node")};
    struct tsdb_labels la = {a, 2}, lb = {b, 2}, lc = {c, 2};
    uint64_t r1 = 0, r2 = 0, r3 = 0, r4 = 0;
    cr_assert_eq(tsdb_head_append(h, &la, 1000, 1, &r1), 0);
    cr_assert_eq(tsdb_head_append(h, &lb, 1000, 0, &r2), 0);
    cr_assert_eq(tsdb_head_append(h, &lc, 1000, 0.5, &r3), 0);
    /* A label set built from other strings finds the same series. */
    char name[] = "up", job[] = "node";
    const struct tsdb_label a2[] = {L("__name__", name), L("job", job)};
    struct tsdb_labels la2 = {a2, 2};
    cr_assert_eq(tsdb_head_append(h, &la2, 2000, 1, &r4), 0);
    cr_assert_eq(r1, 1);
    cr_assert_eq(r2, 2);
    cr_assert_eq(r3, 3);
    cr_assert_eq(r4, 1);
    cr_assert_eq(tsdb_head_append_ref(h, r3, 2000, 0.75), 0);
    cr_assert_eq(tsdb_head_append_ref(h, 4, 2000, 0.75), -ENOENT);
    cr_assert_eq(tsdb_head_append_ref(h, 0, 2000, 0.75), -ENOENT);

    struct tsdb_head_stats st;
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.series, 3);
    cr_assert_eq(st.samples, 5);
    cr_assert_eq(st.chunks, 3);
    cr_assert_eq(st.mint, 1000);
    cr_assert_eq(st.maxt, 2000);
    /* __name__ up job node prom load1: each string once. */
    cr_assert_eq(st.symbols, 6);

    struct tsdb_matcher *m = mk(TSDB_MATCH_EQ, "job", "node");
    struct tsdb_series_set set;
    head_select(h, (const struct tsdb_matcher *const *)&m, 1, 0, 5000, &set);
    cr_assert_eq(set.n, 2);
    cr_assert_str_eq(tsdb_labels_get(&set.v[0].labels, "__name__"), "load1");
    cr_assert_eq(set.v[0].n, 2);
    cr_assert_eq(set.v[0].samples[1].t, 2000);
    cr_assert_eq(set.v[0].samples[1].v, 0.75);
    cr_assert_str_eq(tsdb_labels_get(&set.v[1].labels, "__name__"), "up");
    cr_assert_eq(set.v[1].n, 2);
    cr_assert_eq(set.v[1].samples[0].t, 1000);
    cr_assert_eq(set.v[1].samples[1].t, 2000);
    tsdb_series_set_free(&set);
    /* The time range is inclusive at both ends. */
    head_select(h, (const struct tsdb_matcher *const *)&m, 1, 2000, 2000, &set);
    cr_assert_eq(set.n, 2);
    cr_assert_eq(set.v[0].n, 1);
    cr_assert_eq(set.v[1].n, 1);
    tsdb_series_set_free(&set);
    head_select(h, (const struct tsdb_matcher *const *)&m, 1, 2001, 9000, &set);
    cr_assert_eq(set.n, 0);
    tsdb_series_set_free(&set);
    tsdb_matcher_destroy(m);
    tsdb_head_destroy(h);
}

Test(tsdb_head, rejects_bad_labels)
{
    struct tsdb_head *h;
    cr_assert_eq(tsdb_head_create(&h), 0);
    const struct tsdb_label unsorted[] = {L("job", "x"), L("__name__", "up")};
    const struct tsdb_label dup[] = {L("a", "x"), L("a", "y")};
    const struct tsdb_label empty_v[] = {L("a", "")};
    const struct tsdb_label empty_n[] = {L("", "x")};
    struct tsdb_labels cases[] = {{unsorted, 2}, {dup, 2}, {empty_v, 1}, {empty_n, 1}, {NULL, 0}};
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(tsdb_head_append(h, &cases[i], 1, 1, NULL), -EINVAL, "case %zu", i);
    struct tsdb_head_stats st;
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.series, 0);
    cr_assert_eq(st.mint, INT64_MAX);
    cr_assert_eq(st.maxt, INT64_MIN);
    tsdb_head_destroy(h);
}

Test(tsdb_head, append_rules)
{
    struct tsdb_head *h;
    cr_assert_eq(tsdb_head_create(&h), 0);
    const struct tsdb_label a[] = {L("__name__", "x")};
    struct tsdb_labels la = {a, 1};
    uint64_t r;
    cr_assert_eq(tsdb_head_append(h, &la, 100, 1.5, &r), 0);
    cr_assert_eq(tsdb_head_append_ref(h, r, 99, 1.5), -ERANGE);  /* out of order */
    cr_assert_eq(tsdb_head_append_ref(h, r, 100, 2.5), -EEXIST); /* duplicate */
    cr_assert_eq(tsdb_head_append_ref(h, r, 100, 1.5), 0);       /* same sample: no-op */
    cr_assert_eq(tsdb_head_append(h, &la, 50, 1.5, NULL), -ERANGE);
    cr_assert_eq(tsdb_head_append_ref(h, r, 200, tsdb_stale_nan()), 0);
    /* After a staleness marker, NaN with other bits is a duplicate. */
    cr_assert_eq(tsdb_head_append_ref(h, r, 200, NAN), -EEXIST);
    cr_assert_eq(tsdb_head_append_ref(h, r, 200, tsdb_stale_nan()), 0);
    cr_assert_eq(tsdb_head_append_ref(h, r, 300, 7), 0);
    struct tsdb_head_stats st;
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.samples, 3);
    cr_assert_eq(st.out_of_order, 2);
    cr_assert_eq(st.duplicates, 2);
    struct tsdb_series_set set;
    head_select(h, NULL, 0, INT64_MIN, INT64_MAX, &set);
    cr_assert_eq(set.n, 1);
    cr_assert_eq(set.v[0].n, 3);
    cr_assert_eq(set.v[0].samples[0].v, 1.5);
    cr_assert_eq(bits(set.v[0].samples[1].v), TSDB_STALE_NAN_BITS);
    cr_assert_eq(set.v[0].samples[2].t, 300);
    tsdb_series_set_free(&set);
    tsdb_head_destroy(h);
}

Test(tsdb_head, chunks_cut_at_120)
{
    struct tsdb_head *h;
    cr_assert_eq(tsdb_head_create(&h), 0);
    const struct tsdb_label a[] = {L("__name__", "node_cpu_seconds_total"), L("cpu", "0")};
    struct tsdb_labels la = {a, 2};
    uint64_t r;
    cr_assert_eq(tsdb_head_append(h, &la, 0, 0, &r), 0);
    for (int i = 1; i < 361; i++)
        cr_assert_eq(tsdb_head_append_ref(h, r, 15000LL * i, i * 1.25 + (i % 7) * 0.001), 0);
    struct tsdb_head_stats st;
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.samples, 361);
    cr_assert_eq(st.chunks, 4); /* 120 + 120 + 120 + 1 */
    struct tsdb_series_set set;
    head_select(h, NULL, 0, 15000 * 100, 15000 * 250, &set);
    cr_assert_eq(set.n, 1);
    cr_assert_eq(set.v[0].n, 151);
    for (size_t i = 0; i < 151; i++) {
        int k = (int)i + 100;
        cr_assert_eq(set.v[0].samples[i].t, 15000LL * k);
        cr_assert_eq(set.v[0].samples[i].v, k * 1.25 + (k % 7) * 0.001);
    }
    tsdb_series_set_free(&set);
    tsdb_head_destroy(h);
}

/* Every allocation in turn fails: -ENOMEM, never a crash or a leak, and
 * the head stays usable and consistent. */
static void allocation_failures(const char *dir)
{
    const struct tsdb_label a[] = {L("__name__", "m"), L("i", "1")};
    const struct tsdb_label b[] = {L("__name__", "m"), L("i", "2")};
    struct tsdb_labels la = {a, 2}, lb = {b, 2};
    long fail;
    for (fail = 0; fail < 1000; fail++) {
        struct tsdb_head *h = new_head(dir);
        cn_alloc_fail_after(fail);
        int rc = 0;
        for (int i = 0; i < 130 && !rc; i++) {
            rc = tsdb_head_append(h, &la, i, i, NULL);
            if (!rc)
                rc = tsdb_head_append(h, &lb, i, -i, NULL);
        }
        cn_alloc_fail_after(-1);
        cr_assert(rc == 0 || rc == -ENOMEM, "fail %ld: rc %d", fail, rc);
        struct tsdb_head_stats st;
        tsdb_head_stats(h, &st);
        /* Whatever was accepted reads back. */
        struct tsdb_series_set set;
        head_select(h, NULL, 0, INT64_MIN, INT64_MAX, &set);
        size_t total = 0;
        for (size_t i = 0; i < set.n; i++)
            total += set.v[i].n;
        cr_assert_eq(total, st.samples, "fail %ld", fail);
        tsdb_series_set_free(&set);
        cr_assert_eq(tsdb_head_append(h, &lb, 1000, 1, NULL), 0);
        tsdb_head_destroy(h);
        if (rc == 0)
            break; /* enough allocations for everything */
    }
    /* Every allocation of the run was made to fail once: 2 series, 3
     * chunks (one cut), the tables growing. */
    cr_assert_gt(fail, 20);
    cr_assert_lt(fail, 1000);
}

Test(tsdb_head, allocation_failures)
{
    allocation_failures(NULL);
}

Test(tsdb_head, disk_allocation_failures)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    allocation_failures(dir);
    chunktest_rmtree(dir);
}

/* ---- readers during appends ---------------------------------------------------- */

#define CON_SERIES 200
#define CON_SAMPLES 300

struct con {
    struct tsdb_head *h;
    atomic_bool done;
    atomic_long reads;
};

static double con_value(int series, int64_t t)
{
    return series * 1000.0 + (double)t / 15000.0;
}

static void *reader(void *arg)
{
    struct con *c = arg;
    struct tsdb_source src = tsdb_head_source(c->h);
    struct tsdb_matcher *m = mk(TSDB_MATCH_RE, "instance", "host-1.*");
    while (!atomic_load(&c->done)) {
        struct tsdb_series_set set = {0};
        cr_assert_eq(tsdb_query_select(&src, 1, (const struct tsdb_matcher *const *)&m, 1,
                                       INT64_MIN, INT64_MAX, &set),
                     0);
        for (size_t i = 0; i < set.n; i++) {
            int id = atoi(tsdb_labels_get(&set.v[i].labels, "instance") + 5);
            cr_assert_eq(id / 10 == 1 || id / 100 == 1 || id == 1, true, "id %d", id);
            for (size_t k = 0; k < set.v[i].n; k++) {
                cr_assert_eq(set.v[i].samples[k].t, 15000LL * (int64_t)k);
                cr_assert_eq(set.v[i].samples[k].v, con_value(id, set.v[i].samples[k].t));
            }
            if (i)
                cr_assert_lt(tsdb_labels_cmp(&set.v[i - 1].labels, &set.v[i].labels), 0);
        }
        tsdb_series_set_free(&set);
        struct tsdb_strings vals = {0};
        cr_assert_eq(tsdb_query_label_values(&src, 1, "instance", NULL, 0, &vals), 0);
        tsdb_strings_free(&vals);
        atomic_fetch_add(&c->reads, 1);
    }
    tsdb_matcher_destroy(m);
    return NULL;
}

static void readers_during_appends(const char *dir)
{
    struct con c = {0};
    c.h = new_head(dir);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, reader, &c), 0);
    uint64_t refs[CON_SERIES];
    for (int k = 0; k < CON_SAMPLES; k++) {
        for (int s = 0; s < CON_SERIES; s++) {
            int64_t t = 15000LL * k;
            if (k == 0) {
                char inst[32];
                snprintf(inst, sizeof(inst), "host-%d", s);
                const struct tsdb_label l[] = {L("__name__", "node_load1"), L("instance", inst)};
                struct tsdb_labels ls = {l, 2};
                cr_assert_eq(tsdb_head_append(c.h, &ls, t, con_value(s, t), &refs[s]), 0);
            } else {
                cr_assert_eq(tsdb_head_append_ref(c.h, refs[s], t, con_value(s, t)), 0);
            }
        }
    }
    /* Let the readers see the final state at least once. */
    long r0 = atomic_load(&c.reads);
    while (atomic_load(&c.reads) < r0 + 3)
        usleep(1000);
    atomic_store(&c.done, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    struct tsdb_head_stats st;
    tsdb_head_stats(c.h, &st);
    cr_assert_eq(st.series, CON_SERIES);
    cr_assert_eq(st.samples, CON_SERIES * CON_SAMPLES);
    cr_assert_eq(st.chunks, CON_SERIES * 3);
    cr_assert_eq(st.disk_chunks, dir ? CON_SERIES * 2 : 0);
    tsdb_head_destroy(c.h);
}

Test(tsdb_head, readers_during_appends)
{
    readers_during_appends(NULL);
}

Test(tsdb_head, disk_readers_during_appends)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    readers_during_appends(dir);
    chunktest_rmtree(dir);
}

/* ---- a block cut from the head, read by promtool ---------------------------------- */

static int run(char *const argv[], const char *out)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot run %s: %s", argv[0], strerror(rc));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

Test(tsdb_head, write_block_promtool_dump)
{
    char dir[PATH_MAX], ulid[TSDB_ULID_LEN + 1], err[256] = "";
    snprintf(dir, sizeof(dir), "/tmp/cairn-head-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    struct tsdb_head *h;
    cr_assert_eq(tsdb_head_create(&h), 0);
    const int64_t t0 = 1700000000000;
    const struct tsdb_label a[] = {L("__name__", "node_load1"), L("instance", "a:9100")};
    const struct tsdb_label b[] = {L("__name__", "node_cpu_seconds_total"), L("cpu", "0"),
                                   L("mode", "idle")};
    const struct tsdb_label c[] = {L("__name__", "late"), L("x", "y")};
    struct tsdb_labels la = {a, 2}, lb = {b, 3}, lc = {c, 2};
    for (int i = 0; i < 500; i++) {
        int64_t t = t0 + 15000LL * i;
        cr_assert_eq(tsdb_head_append(h, &la, t, 0.01 * i - 1.5, NULL), 0);
        if (i % 2 == 0)
            cr_assert_eq(tsdb_head_append(h, &lb, t, i == 100 ? tsdb_stale_nan() : i * 3.5, NULL),
                         0);
    }
    /* Only after the block's range: must not appear. */
    cr_assert_eq(tsdb_head_append(h, &lc, t0 + 15000LL * 400, 1, NULL), 0);
    /* [t0 + 15 s * 10, t0 + 15 s * 400): samples 10..399. */
    int64_t mint = t0 + 15000LL * 10, maxt = t0 + 15000LL * 400;
    cr_assert_eq(tsdb_head_write_block(h, dir, t0 - 5000, t0 - 1, NULL), -ENODATA);
    cr_assert_eq(tsdb_head_write_block(h, dir, mint, maxt, ulid), 0);

    char bdir[PATH_MAX + 32], out[PATH_MAX + 32];
    snprintf(bdir, sizeof(bdir), "%s/%s", dir, ulid);
    struct tsdb_block_meta m;
    cr_assert_eq(tsdb_meta_read(bdir, &m, err, sizeof(err)), 0, "%s", err);
    /* The block covers the range asked for, as Prometheus' head blocks. */
    cr_assert_eq(m.min_time, mint);
    cr_assert_eq(m.max_time, maxt);
    cr_assert_eq(m.num_series, 2);
    cr_assert_eq(m.num_samples, 390 + 195);
    tsdb_meta_free(&m);

    snprintf(out, sizeof(out), "%s/wal", dir);
    cr_assert_eq(mkdir(out, 0755), 0);
    snprintf(out, sizeof(out), "%s/dump.txt", dir);
    char *dump[] = {"promtool", "tsdb", "dump", dir, NULL};
    cr_assert_eq(run(dump, out), 0, "promtool tsdb dump failed");
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        /* cpu series first (label order): 195 samples at even i 10..398. */
        bool cpu = n < 195;
        int i = cpu ? 10 + 2 * (int)n : 10 + (int)(n - 195);
        double want = cpu ? (i == 100 ? tsdb_stale_nan() : i * 3.5) : 0.01 * i - 1.5;
        char exp[256];
        if (cpu && i == 100)
            snprintf(exp, sizeof(exp),
                     "{__name__=\"node_cpu_seconds_total\", cpu=\"0\", mode=\"idle\"} NaN %lld\n",
                     (long long)(t0 + 15000LL * i));
        else
            snprintf(exp, sizeof(exp), "%s %.17g %lld\n",
                     cpu ? "{__name__=\"node_cpu_seconds_total\", cpu=\"0\", mode=\"idle\"}"
                         : "{__name__=\"node_load1\", instance=\"a:9100\"}",
                     want, (long long)(t0 + 15000LL * i));
        /* promtool prints the shortest representation; compare parsed. */
        char *close = strrchr(line, '}'), *eclose = strrchr(exp, '}');
        cr_assert_not_null(close);
        cr_assert_eq(close - line, eclose - exp, "line %zu: %s", n, line);
        cr_assert_eq(strncmp(line, exp, (size_t)(close - line)), 0, "line %zu: %s", n, line);
        char *end;
        double v = strtod(close + 1, &end);
        long long t = strtoll(end, &end, 10);
        cr_assert_eq(t, (long long)(t0 + 15000LL * i), "line %zu: %s", n, line);
        if (cpu && i == 100)
            cr_assert(isnan(v), "line %zu: %s", n, line);
        else
            cr_assert_eq(v, want, "line %zu: %s", n, line);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, 390 + 195);
    tsdb_head_destroy(h);
    chunktest_rmtree(dir);
}

/* ---- truncation, replayed references, foreach ------------------------------------ */

static int count_series(void *ctx, uint64_t ref, const struct tsdb_labels *ls)
{
    (void)ref;
    (void)ls;
    (*(int *)ctx)++;
    return 0;
}

Test(tsdb_head, truncate_drops_old_chunks_and_series)
{
    struct tsdb_head *h;
    cr_assert_eq(tsdb_head_create(&h), 0);
    struct tsdb_label a[] = {L("__name__", "up"), L("job", "a")};
    struct tsdb_label b[] = {L("__name__", "up"), L("job", "b")};
    struct tsdb_labels la = {a, 2}, lb = {b, 2};
    uint64_t ra, rb;
    /* a: 300 samples (two closed chunks and an open one) at t = 0..299;
     * b: 10 samples at t = 0..9, then nothing. */
    for (int64_t t = 0; t < 300; t++)
        cr_assert_eq(tsdb_head_append(h, &la, t, (double)t, &ra), 0);
    for (int64_t t = 0; t < 10; t++)
        cr_assert_eq(tsdb_head_append(h, &lb, t, (double)t, &rb), 0);
    struct tsdb_head_stats st;
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.series, 2);
    cr_assert_eq(st.chunks, 4);

    struct tsdb_head_truncation tr;
    cr_assert_eq(tsdb_head_truncate(h, 200, &tr), 0);
    /* a's first chunk (0..119) is dropped, the second (120..239) spans the
     * cut and stays; b is gone with its only chunk. */
    cr_assert_eq(tr.chunks, 2);
    cr_assert_eq(tr.series, 1);
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.series, 1);
    cr_assert_eq(st.chunks, 2);
    cr_assert_eq(st.mint, 200);
    cr_assert(tsdb_head_has_series(h, ra));
    cr_assert_not(tsdb_head_has_series(h, rb));
    cr_assert_eq(tsdb_head_append_ref(h, rb, 400, 1), -ENOENT);
    int n = 0;
    cr_assert_eq(tsdb_head_foreach(h, count_series, &n), 0);
    cr_assert_eq(n, 1);

    /* Postings and label values no longer know b. */
    struct tsdb_source src = tsdb_head_source(h);
    struct tsdb_strings vals = {0};
    cr_assert_eq(tsdb_query_label_values(&src, 1, "job", NULL, 0, &vals), 0);
    cr_assert_eq(vals.n, 1);
    cr_assert_str_eq(vals.v[0], "a");
    tsdb_strings_free(&vals);
    struct tsdb_series_set set;
    head_select(h, NULL, 0, 0, 1000, &set);
    cr_assert_eq(set.n, 1);
    /* The chunk 120..239 stays, but what precedes the cut is not served. */
    cr_assert_eq(set.v[0].n, 100);
    cr_assert_eq(set.v[0].samples[0].t, 200);
    tsdb_series_set_free(&set);

    /* Appends before the cut are refused; b comes back with a new ref. */
    cr_assert_eq(tsdb_head_append(h, &lb, 150, 1, NULL), -ERANGE);
    uint64_t rb2;
    cr_assert_eq(tsdb_head_append(h, &lb, 300, 1, &rb2), 0);
    cr_assert_gt(rb2, rb);
    struct tsdb_matcher *m = mk(TSDB_MATCH_EQ, "job", "b");
    const struct tsdb_matcher *ms[] = {m};
    head_select(h, ms, 1, 0, 1000, &set);
    cr_assert_eq(set.n, 1);
    cr_assert_eq(set.v[0].n, 1);
    tsdb_series_set_free(&set);
    tsdb_matcher_destroy(m);

    /* Truncating everything empties the head. */
    cr_assert_eq(tsdb_head_truncate(h, 10000, &tr), 0);
    cr_assert_eq(tr.series, 2);
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.series, 0);
    cr_assert_eq(st.chunks, 0);
    cr_assert_eq(st.chunk_bytes, 0);
    cr_assert_eq(st.mint, INT64_MAX);
    tsdb_head_destroy(h);
}

Test(tsdb_head, create_series_keeps_replayed_references)
{
    struct tsdb_head *h;
    cr_assert_eq(tsdb_head_create(&h), 0);
    struct tsdb_label a[] = {L("__name__", "a")};
    struct tsdb_label b[] = {L("__name__", "b")};
    struct tsdb_label c[] = {L("__name__", "c")};
    struct tsdb_labels la = {a, 1}, lb = {b, 1}, lc = {c, 1};
    uint64_t got;
    cr_assert_eq(tsdb_head_create_series(h, &la, 7, &got), 1);
    cr_assert_eq(got, 7);
    cr_assert_eq(tsdb_head_create_series(h, &la, 9, &got), 0); /* exists: keeps 7 */
    cr_assert_eq(got, 7);
    cr_assert_eq(tsdb_head_create_series(h, &lb, 7, &got), -EEXIST);
    cr_assert_eq(tsdb_head_create_series(h, &lb, 3, &got), 1);
    cr_assert_eq(got, 3);
    /* New series continue after the highest reference seen. */
    cr_assert_eq(tsdb_head_append(h, &lc, 1, 1, &got), 0);
    cr_assert_eq(got, 8);
    cr_assert_eq(tsdb_head_append_ref(h, 7, 5, 2.5), 0);
    cr_assert_eq(tsdb_head_append_ref(h, 5, 5, 2.5), -ENOENT);
    struct tsdb_label bad[] = {L("", "x")};
    struct tsdb_labels lbad = {bad, 1};
    cr_assert_eq(tsdb_head_create_series(h, &lbad, 0, NULL), -EINVAL);
    tsdb_head_destroy(h);
}

Test(tsdb_head, truncate_under_allocation_failure)
{
    /* Whatever allocation fails, truncation leaves a consistent head that
     * answers queries and frees everything at destroy (ASan checks). */
    for (long fail = 0; fail < 40; fail++) {
        struct tsdb_head *h;
        cr_assert_eq(tsdb_head_create(&h), 0);
        char name[16];
        for (int i = 0; i < 20; i++) {
            snprintf(name, sizeof(name), "s%02d", i);
            struct tsdb_label l[] = {L("__name__", name), L("k", i % 2 ? "odd" : "even")};
            struct tsdb_labels ls = {l, 2};
            cr_assert_eq(tsdb_head_append(h, &ls, i < 10 ? 1 : 100, 1, NULL), 0);
        }
        cn_alloc_fail_after(fail);
        int rc = tsdb_head_truncate(h, 50, NULL);
        cn_alloc_fail_after(-1);
        cr_assert(rc == 0 || rc == -ENOMEM);
        struct tsdb_head_stats st;
        tsdb_head_stats(h, &st);
        cr_assert_eq(st.series, rc == 0 ? 10 : 20);
        struct tsdb_series_set set;
        head_select(h, NULL, 0, 0, 1000, &set);
        cr_assert_eq(set.n, 10); /* the emptied series have no samples either way */
        tsdb_series_set_free(&set);
        tsdb_head_destroy(h);
    }
}

/* ---- disk-backed heads --------------------------------------------------------------- */

#define T0 1700000000000LL

/* Sample i of series s: 15 s apart, some a few ms late; counters with a
 * fraction, constants, gauges of 4 KiB pages. */
static struct tsdb_sample gen(int s, int i)
{
    int64_t t = T0 + 15000LL * i + (i % 7 == 3 ? i % 3 + 1 : 0);
    double v = s % 3 == 0   ? i * 1.37 + (i % 5) * 0.01
               : s % 3 == 1 ? 42.0
                            : 4096.0 * (200000 + (i * 7919) % 5000);
    return (struct tsdb_sample){t, v};
}

/* Appends samples from..to-1 of series 0..nseries-1 ({__name__="node_x",
 * s="<s>"}, reference s + 1 when created in that order), a scrape at a time. */
static void append_gen(struct tsdb_head *h, int nseries, int from, int to)
{
    for (int i = from; i < to; i++)
        for (int s = 0; s < nseries; s++) {
            char sv[16];
            snprintf(sv, sizeof(sv), "%d", s);
            const struct tsdb_label l[] = {L("__name__", "node_x"), L("s", sv)};
            struct tsdb_labels ls = {l, 2};
            struct tsdb_sample x = gen(s, i);
            cr_assert_eq(tsdb_head_append(h, &ls, x.t, x.v, NULL), 0, "series %d sample %d", s, i);
        }
}

/* Asserts that `got` (n samples) are samples from, from + 1, ... of series s. */
static void assert_gen(const struct tsdb_sample *got, size_t n, int s, int from, int to)
{
    cr_assert_eq(n, (size_t)(to - from), "series %d: %zu samples, want %d", s, n, to - from);
    for (size_t k = 0; k < n; k++) {
        struct tsdb_sample want = gen(s, from + (int)k);
        cr_assert_eq(got[k].t, want.t, "series %d sample %zu", s, k);
        cr_assert_eq(bits(got[k].v), bits(want.v), "series %d sample %zu", s, k);
    }
}

/* Asserts that the head holds exactly samples from..to-1 of series
 * 0..nseries-1. */
static void expect_gen(struct tsdb_head *h, int nseries, int from, int to)
{
    struct tsdb_series_set set;
    head_select(h, NULL, 0, INT64_MIN, INT64_MAX, &set);
    cr_assert_eq(set.n, (size_t)nseries);
    for (size_t k = 0; k < set.n; k++) {
        int s = atoi(tsdb_labels_get(&set.v[k].labels, "s"));
        assert_gen(set.v[k].samples, set.v[k].n, s, from, to);
    }
    tsdb_series_set_free(&set);
}

/* The XOR chunk of samples from..to-1 of series s, into buf; its length. */
static size_t encode_gen(int s, int from, int to, uint8_t *buf, size_t cap)
{
    struct tsdb_xor_enc e;
    cr_assert_eq(tsdb_xor_init(&e, buf, cap), 0);
    for (int i = from; i < to; i++) {
        struct tsdb_sample x = gen(s, i);
        cr_assert_eq(tsdb_xor_append(&e, x.t, x.v), 0);
    }
    return tsdb_xor_len(&e);
}

/* CRC-32C bit by bit: a check independent of tsdb_crc32c. */
static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

struct hframe {
    size_t off;
    uint64_t series;
    int64_t mint, maxt;
    const uint8_t *data;
    size_t len;
};

static void head_file_path(const char *dir, unsigned seq, char *path)
{
    snprintf(path, PATH_MAX + 32, "%s/chunks_head/%06u", dir, seq);
}

static bool head_file_exists(const char *dir, unsigned seq)
{
    char path[PATH_MAX + 32];
    struct stat st;
    head_file_path(dir, seq, path);
    return stat(path, &st) == 0;
}

/*
 * Reads <dir>/chunks_head/<seq> and walks it as Prometheus'
 * IterateAllChunks does: the 8-byte header (magic 0x0130BC91, version 1,
 * padding), then frames (series ref, mint, maxt, encoding, uvarint length,
 * data, CRC32-C) up to the end, each checked. The frames (pointing into
 * *buf, which the caller frees) go to out; returns their count.
 */
static size_t read_head_file(const char *dir, unsigned seq, uint8_t **buf, size_t *size,
                             struct hframe *out, size_t cap)
{
    char path[PATH_MAX + 32];
    head_file_path(dir, seq, path);
    uint8_t *b = chunktest_read_file(path, size);
    size_t n = *size, off = 8, k = 0;
    const uint8_t hdr[8] = {0x01, 0x30, 0xBC, 0x91, 0x01, 0x00, 0x00, 0x00};
    cr_assert_geq(n, 8);
    cr_assert_eq(memcmp(b, hdr, 8), 0, "%s: header", path);
    while (off < n) {
        cr_assert_lt(k, cap);
        cr_assert_geq(n - off, 8 + 8 + 8 + 1 + 1 + 4, "%s: frame at %zu truncated", path, off);
        struct hframe *f = &out[k++];
        f->off = off;
        f->series = be64(b + off);
        f->mint = (int64_t)be64(b + off + 8);
        f->maxt = (int64_t)be64(b + off + 16);
        cr_assert_eq(b[off + 24], 1, "%s: frame at %zu: encoding %d", path, off, b[off + 24]);
        size_t p = off + 25, len = 0;
        unsigned shift = 0;
        do {
            cr_assert_lt(p, n);
            len |= (size_t)(b[p] & 0x7f) << shift;
            shift += 7;
        } while (b[p++] & 0x80);
        cr_assert_leq(p + len + 4, n, "%s: frame at %zu truncated", path, off);
        f->data = b + p;
        f->len = len;
        const uint8_t *c = b + p + len;
        uint32_t crc = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
        cr_assert_eq(crc, crc32c_ref(b + off, p + len - off), "%s: frame at %zu: CRC", path, off);
        off = p + len + 4;
    }
    *buf = b;
    return k;
}

/* Checks a frame: series reference ref, samples from..to-1 of series s. */
static void assert_frame_gen(const struct hframe *f, uint64_t ref, int s, int from, int to)
{
    struct tsdb_sample got[TSDB_XOR_SAMPLES_PER_CHUNK];
    struct tsdb_xor_iter it;
    tsdb_xor_iter_init(&it, f->data, f->len);
    size_t n = 0;
    int rc;
    while ((rc = tsdb_xor_next(&it, &got[n])) == 1)
        cr_assert_lt(++n, TSDB_XOR_SAMPLES_PER_CHUNK + 1);
    cr_assert_eq(rc, 0);
    assert_gen(got, n, s, from, to);
    cr_assert_eq(f->series, ref);
    cr_assert_eq(f->mint, gen(s, from).t);
    cr_assert_eq(f->maxt, gen(s, to - 1).t);
}

Test(tsdb_head, disk_returns_every_sample)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    struct tsdb_head *d = new_head(dir), *m = new_head(NULL);
    /* 5 series x 1,000 samples: 8 full chunks each (on disk) and an open
     * one of 40 samples. */
    append_gen(d, 5, 0, 1000);
    append_gen(m, 5, 0, 1000);
    expect_gen(d, 5, 0, 1000);
    /* A range inside: chunks 2 and 3 (samples 130..359) only. */
    struct tsdb_series_set set;
    head_select(d, NULL, 0, gen(0, 130).t, gen(0, 359).t, &set);
    cr_assert_eq(set.n, 5);
    for (size_t k = 0; k < set.n; k++)
        assert_gen(set.v[k].samples, set.v[k].n, (int)k, 130, 360);
    tsdb_series_set_free(&set);

    struct tsdb_head_stats sd, sm;
    tsdb_head_stats(d, &sd);
    tsdb_head_stats(m, &sm);
    cr_assert_eq(sd.chunks, 45);
    cr_assert_eq(sm.chunks, 45);
    cr_assert_eq(sd.disk_chunks, 40);
    cr_assert_eq(sd.disk_write_failures, 0);
    cr_assert_eq(sm.disk_chunks, 0);
    cr_assert_eq(sm.disk_bytes, 0);

    /* One file with the 40 chunks in the order they closed (every series'
     * first, then every series' second ...). */
    uint8_t *buf;
    size_t size;
    struct hframe fr[64];
    cr_assert_eq(read_head_file(dir, 1, &buf, &size, fr, 64), 40);
    cr_assert_not(head_file_exists(dir, 2));
    size_t lens = 0;
    for (size_t k = 0; k < 40; k++) {
        int s = (int)(k % 5), c = (int)(k / 5);
        assert_frame_gen(&fr[k], (uint64_t)s + 1, s, c * 120, c * 120 + 120);
        lens += fr[k].len;
    }
    cr_assert_eq(sd.disk_bytes, size);
    /* In memory the disk-backed head keeps only the open chunks. */
    cr_assert_eq(sm.chunk_bytes - sd.chunk_bytes, lens);
    free(buf);
    tsdb_head_destroy(d);
    tsdb_head_destroy(m);
    chunktest_rmtree(dir);
}

Test(tsdb_head, disk_chunk_file_format)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    tmpdir(dir);
    /* What an earlier run left is deleted; other files are not touched. */
    snprintf(path, sizeof(path), "%s/chunks_head", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    const char *old[] = {"000001", "000003", "000002.tmp", "keep.txt"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/chunks_head/%s", dir, old[i]);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs("left over", f);
        fclose(f);
    }
    struct tsdb_head *h = new_head(dir);
    for (size_t i = 0; i < 4; i++) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/chunks_head/%s", dir, old[i]);
        cr_assert_eq(stat(path, &st) == 0, i == 3, "%s", old[i]);
    }
    cr_assert_not(head_file_exists(dir, 1)); /* created with the first chunk */

    /* One series (reference 1), 121 samples: one full chunk on disk. */
    append_gen(h, 1, 0, 121);
    uint8_t want[4096];
    size_t wlen = encode_gen(0, 0, 120, want, sizeof(want));
    cr_assert_gt(wlen, 127); /* a two-byte length field */
    size_t size;
    head_file_path(dir, 1, path);
    uint8_t *b = chunktest_read_file(path, &size);
    const uint8_t frame_head[] = {/* magic, version 1, padding */
                                  0x01, 0x30, 0xBC, 0x91, 0x01, 0x00, 0x00, 0x00,
                                  /* series ref 1 */
                                  0, 0, 0, 0, 0, 0, 0, 1,
                                  /* mint 1700000000000 = 0x18BCFE56800, maxt = mint + 119 * 15 s
                                   * = 0x18BD000A4A8 */
                                  0, 0, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00, 0, 0, 0x01, 0x8B, 0xD0,
                                  0x00, 0xA4, 0xA8,
                                  /* encoding XOR */
                                  0x01,
                                  /* uvarint length */
                                  (uint8_t)(wlen | 0x80), (uint8_t)(wlen >> 7)};
    cr_assert_eq(gen(0, 119).t, T0 + 119 * 15000);
    cr_assert_eq(size, sizeof(frame_head) + wlen + 4);
    cr_assert_eq(memcmp(b, frame_head, sizeof(frame_head)), 0);
    cr_assert_eq(memcmp(b + sizeof(frame_head), want, wlen), 0);
    const uint8_t *c = b + sizeof(frame_head) + wlen;
    uint32_t crc = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
    cr_assert_eq(crc, crc32c_ref(b + 8, sizeof(frame_head) - 8 + wlen));
    free(b);

    struct tsdb_head_stats st;
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.disk_chunks, 1);
    cr_assert_eq(st.disk_bytes, size);
    expect_gen(h, 1, 0, 121);
    /* Destroying the head leaves the file for Prometheus. */
    tsdb_head_destroy(h);
    struct stat fs;
    cr_assert_eq(stat(path, &fs), 0);
    cr_assert_eq((size_t)fs.st_size, size);
    chunktest_rmtree(dir);
}

Test(tsdb_head, disk_truncate_deletes_unused_files)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    struct tsdb_head *h = new_head(dir);
    struct tsdb_head_stats st;
    struct tsdb_head_truncation tr;
    /* Two series, samples 0..239: chunks 0..119 and 120..239 in file 1. */
    append_gen(h, 2, 0, 240);
    cr_assert(head_file_exists(dir, 1));
    cr_assert_eq(tsdb_head_truncate(h, gen(0, 120).t, &tr), 0);
    cr_assert_eq(tr.chunks, 2);
    /* File 1 still holds both second chunks: kept, but ended. */
    cr_assert(head_file_exists(dir, 1));
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.disk_chunks, 2);
    append_gen(h, 2, 240, 480); /* chunks 240..359 and 360..479: file 2 */
    cr_assert(head_file_exists(dir, 2));
    cr_assert_eq(tsdb_head_truncate(h, gen(0, 360).t, &tr), 0);
    cr_assert_eq(tr.chunks, 4);
    /* Nothing references file 1 any more. */
    cr_assert_not(head_file_exists(dir, 1));
    cr_assert(head_file_exists(dir, 2));
    cr_assert_not(head_file_exists(dir, 3));
    expect_gen(h, 2, 360, 480);
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.disk_chunks, 2);
    uint8_t *buf;
    size_t size;
    struct hframe fr[8];
    cr_assert_eq(read_head_file(dir, 2, &buf, &size, fr, 8), 4);
    free(buf);
    cr_assert_eq(st.disk_bytes, size);

    /* A series behind in time fills a chunk ending before the others'
     * newest (479): into file 3. Truncating past it leaves file 3
     * unreferenced while file 2 is not: file 3 must wait, since
     * Prometheus refuses a gap in the numbers. */
    const struct tsdb_label y[] = {L("__name__", "late")};
    struct tsdb_labels ly = {y, 1};
    for (int i = 0; i < 120; i++)
        cr_assert_eq(tsdb_head_append(h, &ly, gen(0, 360).t + i, i, NULL), 0);
    cr_assert(head_file_exists(dir, 3));
    cr_assert_eq(tsdb_head_truncate(h, gen(0, 470).t, &tr), 0);
    cr_assert_eq(tr.chunks, 1);
    cr_assert_eq(tr.series, 1);
    cr_assert(head_file_exists(dir, 2));
    cr_assert(head_file_exists(dir, 3));
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.disk_chunks, 2);

    /* Past everything: both go, and the head is empty. */
    cr_assert_eq(tsdb_head_truncate(h, gen(0, 480).t, &tr), 0);
    cr_assert_eq(tr.chunks, 2);
    cr_assert_not(head_file_exists(dir, 2));
    cr_assert_not(head_file_exists(dir, 3));
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.series, 0);
    cr_assert_eq(st.disk_chunks, 0);
    cr_assert_eq(st.disk_bytes, 0);
    cr_assert_eq(st.chunk_bytes, 0);
    /* Numbers go on: the next chunk opens file 4. The series comes back
     * with a new reference (1, 2 and 3 are not reused). */
    append_gen(h, 1, 480, 600);
    cr_assert(head_file_exists(dir, 4));
    cr_assert_eq(read_head_file(dir, 4, &buf, &size, fr, 8), 1);
    assert_frame_gen(&fr[0], 4, 0, 480, 600);
    free(buf);
    tsdb_head_destroy(h);
    chunktest_rmtree(dir);
}

Test(tsdb_head, disk_write_failure_keeps_chunks_in_memory)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    tmpdir(dir);
    head_file_path(dir, 1, path);
    /* Log lines into a pipe (a regular file would hit the size limit). */
    int logp[2];
    cr_assert_eq(pipe(logp), 0);
    cn_log_set_fd(logp[1]);
    struct tsdb_head *h = new_head(dir);
    append_gen(h, 1, 0, 120); /* chunk 1 written */
    struct stat fs;
    cr_assert_eq(stat(path, &fs), 0);
    off_t size1 = fs.st_size;

    /* A file size limit 10 bytes past the end (this test's own process;
     * SIGXFSZ ignored) fails the next chunk's write part-way, with EFBIG,
     * as a full disk fails with ENOSPC. */
    struct rlimit old, rl;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    rl = (struct rlimit){(rlim_t)size1 + 10, old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    append_gen(h, 1, 120, 240);
    struct tsdb_head_stats st;
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.disk_write_failures, 1);
    cr_assert_eq(st.disk_chunks, 1);
    uint8_t tmp[4096];
    size_t len2 = encode_gen(0, 120, 240, tmp, sizeof(tmp));
    cr_assert_eq(st.chunk_bytes, len2); /* chunk 2 stayed in memory */
    cr_assert_eq(stat(path, &fs), 0);
    cr_assert_eq(fs.st_size, size1); /* the partial frame was cut off */
    expect_gen(h, 1, 0, 240);

    /* Chunk 3: chunk 2 is tried first and fails again, so chunk 3 stays
     * in memory too (never on disk ahead of an older one). */
    append_gen(h, 1, 240, 360);
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.disk_write_failures, 2);
    cr_assert_eq(st.disk_chunks, 1);
    cr_assert_eq(st.chunk_bytes, len2 + encode_gen(0, 240, 360, tmp, sizeof(tmp)));
    expect_gen(h, 1, 0, 360);

    /* Space again: chunk 4 takes 2 and 3 along, in order. */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    append_gen(h, 1, 360, 480);
    tsdb_head_stats(h, &st);
    cr_assert_eq(st.disk_write_failures, 2);
    cr_assert_eq(st.disk_chunks, 4);
    cr_assert_eq(st.chunk_bytes, 0);
    expect_gen(h, 1, 0, 480);
    uint8_t *buf;
    size_t size;
    struct hframe fr[8];
    cr_assert_eq(read_head_file(dir, 1, &buf, &size, fr, 8), 4);
    for (int k = 0; k < 4; k++)
        assert_frame_gen(&fr[k], 1, 0, k * 120, k * 120 + 120);
    free(buf);
    tsdb_head_destroy(h);

    /* Logged once per cause, and the recovery once. */
    cn_log_set_fd(2);
    close(logp[1]);
    char log[8192];
    ssize_t n = read(logp[0], log, sizeof(log) - 1);
    close(logp[0]);
    cr_assert_gt(n, 0);
    log[n] = '\0';
    const char *fail = "msg=\"writing a head chunk to disk failed; keeping it in memory\"";
    char *p = strstr(log, fail);
    cr_assert_not_null(p, "%s", log);
    cr_assert_not_null(strstr(p, "err=\"File too large\""), "%s", log);
    cr_assert_null(strstr(p + 1, fail), "%s", log);
    cr_assert_not_null(strstr(p, "msg=\"writing head chunks to disk works again\""), "%s", log);
    chunktest_rmtree(dir);
}

Test(tsdb_head, disk_write_block_same_as_memory)
{
    char dir[PATH_MAX], ud[TSDB_ULID_LEN + 1], um[TSDB_ULID_LEN + 1];
    tmpdir(dir);
    struct tsdb_head *d = new_head(dir), *m = new_head(NULL);
    /* 4 series x 700 samples; a block from sample 100 to 649: chunks on
     * disk, cut at both ends, and the open chunk. */
    append_gen(d, 4, 0, 700);
    append_gen(m, 4, 0, 700);
    int64_t mint = gen(0, 100).t, maxt = gen(0, 650).t;
    cr_assert_eq(tsdb_head_write_block(d, dir, mint, maxt, ud), 0);
    cr_assert_eq(tsdb_head_write_block(m, dir, mint, maxt, um), 0);
    const char *files[] = {"chunks/000001", "index"};
    for (size_t i = 0; i < 2; i++) {
        char pd[PATH_MAX + 64], pm[PATH_MAX + 64];
        snprintf(pd, sizeof(pd), "%s/%s/%s", dir, ud, files[i]);
        snprintf(pm, sizeof(pm), "%s/%s/%s", dir, um, files[i]);
        size_t nd, nm;
        uint8_t *bd = chunktest_read_file(pd, &nd), *bm = chunktest_read_file(pm, &nm);
        cr_assert_eq(nd, nm, "%s", files[i]);
        cr_assert_eq(memcmp(bd, bm, nd), 0, "%s", files[i]);
        free(bd);
        free(bm);
    }
    char err[256] = "", bdir[PATH_MAX + 32];
    snprintf(bdir, sizeof(bdir), "%s/%s", dir, ud);
    struct tsdb_block_meta meta;
    cr_assert_eq(tsdb_meta_read(bdir, &meta, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(meta.num_series, 4);
    cr_assert_eq(meta.num_samples, 4 * 550);
    tsdb_meta_free(&meta);
    struct tsdb_head_stats st;
    tsdb_head_stats(d, &st);
    cr_assert_eq(st.disk_chunks, 4 * 5);
    tsdb_head_destroy(d);
    tsdb_head_destroy(m);
    chunktest_rmtree(dir);
}
