/*
 * The head: series identity and references, interning, postings through
 * select, Prometheus' append rules (out of order, duplicates, the same
 * sample twice), chunk cutting at 120 samples, allocation failures, readers
 * running while one thread appends, and a block cut from the head read back
 * by the real `promtool tsdb dump`.
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
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsdb/tsdb.h"

/* From test_chunk.c. */
void chunktest_rmtree(const char *path);

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

Test(tsdb_head, allocation_failures)
{
    /* Every allocation in turn fails: -ENOMEM, never a crash or a leak, and
     * the head stays usable and consistent. */
    const struct tsdb_label a[] = {L("__name__", "m"), L("i", "1")};
    const struct tsdb_label b[] = {L("__name__", "m"), L("i", "2")};
    struct tsdb_labels la = {a, 2}, lb = {b, 2};
    long fail;
    for (fail = 0; fail < 1000; fail++) {
        struct tsdb_head *h;
        cr_assert_eq(tsdb_head_create(&h), 0);
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

Test(tsdb_head, readers_during_appends)
{
    struct con c = {0};
    cr_assert_eq(tsdb_head_create(&c.h), 0);
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
    tsdb_head_destroy(c.h);
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
    cr_assert_eq(m.min_time, mint);
    cr_assert_eq(m.max_time, t0 + 15000LL * 399 + 1);
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
