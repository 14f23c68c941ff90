/*
 * The querier over the head and blocks together: series with equal labels
 * merged (time order, a timestamp kept once, the earlier source winning),
 * results sorted by labels, Prometheus' matcher semantics (a matcher that
 * matches "" selects series without the label), time ranges, and label
 * names and values with and without matchers.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/tsdb.h"

/* From test_chunk.c. */
void chunktest_rmtree(const char *path);

#define L(n, v)                                                                                    \
    {                                                                                              \
        (n), (v)                                                                                   \
    }

struct fixture {
    char dir[PATH_MAX];
    struct tsdb_head *h;
    struct tsdb_block *b;
    struct tsdb_source src[2]; /* block first, then head */
};

static const struct tsdb_label la[] = {L("__name__", "up"), L("job", "node")};
static const struct tsdb_label lb[] = {L("__name__", "up"), L("job", "prom")};
static const struct tsdb_label lc[] = {L("__name__", "up"), L("instance", "x")};
static const struct tsdb_label ld[] = {L("__name__", "load1"), L("job", "node"), L("zone", "z1")};

/* Block: a (1000..5000), b (1000, 2000). Head: a (5000 dup, 6000, 7000),
 * c (3000), d (8000). */
static void setup(struct fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-querier-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    const struct tsdb_sample sa[] = {{1000, 1}, {2000, 2}, {3000, 3}, {4000, 4}, {5000, 5}};
    const struct tsdb_sample sb[] = {{1000, 10}, {2000, 20}};
    const struct tsdb_block_series in[] = {
        {.labels = {la, 2}, .samples = sa, .nsamples = 5},
        {.labels = {lb, 2}, .samples = sb, .nsamples = 2},
    };
    char ulid[TSDB_ULID_LEN + 1], bdir[PATH_MAX + 32], err[256] = "";
    cr_assert_eq(tsdb_block_write(f->dir, in, 2, ulid), 0);
    snprintf(bdir, sizeof(bdir), "%s/%s", f->dir, ulid);
    cr_assert_eq(tsdb_block_open(bdir, &f->b, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(tsdb_head_create(&f->h), 0);
    struct tsdb_labels a = {la, 2}, c = {lc, 2}, d = {ld, 3};
    cr_assert_eq(tsdb_head_append(f->h, &a, 5000, 99, NULL), 0);
    cr_assert_eq(tsdb_head_append(f->h, &a, 6000, 6, NULL), 0);
    cr_assert_eq(tsdb_head_append(f->h, &a, 7000, 7, NULL), 0);
    cr_assert_eq(tsdb_head_append(f->h, &c, 3000, 30, NULL), 0);
    cr_assert_eq(tsdb_head_append(f->h, &d, 8000, 0.5, NULL), 0);
    f->src[0] = tsdb_block_source(f->b);
    f->src[1] = tsdb_head_source(f->h);
}

static void teardown(struct fixture *f)
{
    tsdb_block_close(f->b);
    tsdb_head_destroy(f->h);
    chunktest_rmtree(f->dir);
}

static struct tsdb_matcher *mk(enum tsdb_match_type t, const char *n, const char *v)
{
    struct tsdb_matcher *m;
    char err[128];
    cr_assert_eq(tsdb_matcher_create(t, n, v, &m, err, sizeof(err)), 0, "%s", err);
    return m;
}

/* Renders a series set as "labels:t=v,t=v;..." for exact comparison. */
static void render(const struct tsdb_series_set *s, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < s->v[i].labels.n; k++)
            n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", k ? "," : "{",
                                  s->v[i].labels.v[k].name, s->v[i].labels.v[k].value);
        n += (size_t)snprintf(out + n, cap - n, "}");
        for (size_t k = 0; k < s->v[i].n; k++)
            n += (size_t)snprintf(out + n, cap - n, " %lld:%g", (long long)s->v[i].samples[k].t,
                                  s->v[i].samples[k].v);
        n += (size_t)snprintf(out + n, cap - n, "\n");
        cr_assert_lt(n, cap);
    }
}

static void check_select(struct fixture *f, size_t nsrc, const struct tsdb_source *src,
                         struct tsdb_matcher **ms, size_t nms, int64_t mint, int64_t maxt,
                         const char *want)
{
    struct tsdb_series_set set = {0};
    cr_assert_eq(
        tsdb_query_select(src, nsrc, (const struct tsdb_matcher *const *)ms, nms, mint, maxt, &set),
        0);
    char got[2048];
    render(&set, got, sizeof(got));
    cr_assert_str_eq(got, want);
    tsdb_series_set_free(&set);
    (void)f;
}

static void join(const struct tsdb_strings *s, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->n; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "," : "", s->v[i]);
    cr_assert_lt(n, cap);
}

Test(tsdb_querier, merge_head_and_block)
{
    struct fixture f;
    setup(&f);
    /* The block's sample at 5000 wins (first source); sorted by labels. */
    check_select(&f, 2, f.src, NULL, 0, INT64_MIN, INT64_MAX,
                 "{__name__=load1,job=node,zone=z1} 8000:0.5\n"
                 "{__name__=up,instance=x} 3000:30\n"
                 "{__name__=up,job=node} 1000:1 2000:2 3000:3 4000:4 5000:5 6000:6 7000:7\n"
                 "{__name__=up,job=prom} 1000:10 2000:20\n");
    /* Head first: its value at 5000 wins. */
    struct tsdb_source rev[2] = {f.src[1], f.src[0]};
    struct tsdb_matcher *m = mk(TSDB_MATCH_EQ, "job", "node");
    check_select(&f, 2, rev, &m, 1, 4000, 6000, "{__name__=up,job=node} 4000:4 5000:99 6000:6\n");
    /* A range that misses the block entirely, and one that misses all. */
    check_select(&f, 2, f.src, &m, 1, 5500, 9000,
                 "{__name__=load1,job=node,zone=z1} 8000:0.5\n"
                 "{__name__=up,job=node} 6000:6 7000:7\n");
    check_select(&f, 2, f.src, &m, 1, 9000, 10000, "");
    /* No sources: nothing. */
    check_select(&f, 0, f.src, &m, 1, INT64_MIN, INT64_MAX, "");
    tsdb_matcher_destroy(m);
    teardown(&f);
}

Test(tsdb_querier, matcher_semantics)
{
    struct fixture f;
    setup(&f);
    struct tsdb_matcher *ms[2];
    /* job!="node": also the series without a job label. */
    ms[0] = mk(TSDB_MATCH_NEQ, "job", "node");
    check_select(&f, 2, f.src, ms, 1, INT64_MIN, INT64_MAX,
                 "{__name__=up,instance=x} 3000:30\n{__name__=up,job=prom} 1000:10 2000:20\n");
    tsdb_matcher_destroy(ms[0]);
    /* job="": only series without job. */
    ms[0] = mk(TSDB_MATCH_EQ, "job", "");
    check_select(&f, 2, f.src, ms, 1, INT64_MIN, INT64_MAX, "{__name__=up,instance=x} 3000:30\n");
    tsdb_matcher_destroy(ms[0]);
    /* job=~"n.*|p.*" with __name__="up": both up series with a job. */
    ms[0] = mk(TSDB_MATCH_RE, "job", "n.*|p.*");
    ms[1] = mk(TSDB_MATCH_EQ, "__name__", "up");
    check_select(&f, 2, f.src, ms, 2, 0, 2000,
                 "{__name__=up,job=node} 1000:1 2000:2\n{__name__=up,job=prom} 1000:10 2000:20\n");
    tsdb_matcher_destroy(ms[0]);
    tsdb_matcher_destroy(ms[1]);
    /* Regexes are anchored: "od" does not match "node". */
    ms[0] = mk(TSDB_MATCH_RE, "job", "od");
    check_select(&f, 2, f.src, ms, 1, INT64_MIN, INT64_MAX, "");
    tsdb_matcher_destroy(ms[0]);
    /* zone!~"z.*" drops load1, keeps everything without zone. */
    ms[0] = mk(TSDB_MATCH_NRE, "zone", "z.*");
    ms[1] = mk(TSDB_MATCH_EQ, "__name__", "load1");
    check_select(&f, 2, f.src, ms, 2, INT64_MIN, INT64_MAX, "");
    check_select(&f, 1, &f.src[1], ms, 1, INT64_MIN, INT64_MAX,
                 "{__name__=up,instance=x} 3000:30\n{__name__=up,job=node} 5000:99 6000:6 "
                 "7000:7\n");
    tsdb_matcher_destroy(ms[0]);
    tsdb_matcher_destroy(ms[1]);
    teardown(&f);
}

Test(tsdb_querier, label_names_and_values)
{
    struct fixture f;
    setup(&f);
    struct tsdb_strings s = {0};
    char got[512];
    cr_assert_eq(tsdb_query_label_names(f.src, 2, NULL, 0, &s), 0);
    join(&s, got, sizeof(got));
    cr_assert_str_eq(got, "__name__,instance,job,zone");
    tsdb_strings_free(&s);
    cr_assert_eq(tsdb_query_label_names(f.src, 1, NULL, 0, &s), 0);
    join(&s, got, sizeof(got));
    cr_assert_str_eq(got, "__name__,job");
    tsdb_strings_free(&s);

    struct tsdb_matcher *m = mk(TSDB_MATCH_EQ, "__name__", "load1");
    cr_assert_eq(tsdb_query_label_names(f.src, 2, (const struct tsdb_matcher *const *)&m, 1, &s),
                 0);
    join(&s, got, sizeof(got));
    cr_assert_str_eq(got, "__name__,job,zone");
    tsdb_strings_free(&s);
    tsdb_matcher_destroy(m);

    cr_assert_eq(tsdb_query_label_values(f.src, 2, "job", NULL, 0, &s), 0);
    join(&s, got, sizeof(got));
    cr_assert_str_eq(got, "node,prom");
    tsdb_strings_free(&s);
    cr_assert_eq(tsdb_query_label_values(f.src, 2, "__name__", NULL, 0, &s), 0);
    join(&s, got, sizeof(got));
    cr_assert_str_eq(got, "load1,up");
    tsdb_strings_free(&s);
    cr_assert_eq(tsdb_query_label_values(f.src, 2, "nope", NULL, 0, &s), 0);
    cr_assert_eq(s.n, 0);
    tsdb_strings_free(&s);

    /* Values of job among series named up, in block and head. */
    m = mk(TSDB_MATCH_EQ, "__name__", "up");
    cr_assert_eq(
        tsdb_query_label_values(f.src, 2, "job", (const struct tsdb_matcher *const *)&m, 1, &s), 0);
    join(&s, got, sizeof(got));
    cr_assert_str_eq(got, "node,prom");
    tsdb_strings_free(&s);
    cr_assert_eq(
        tsdb_query_label_values(&f.src[1], 1, "job", (const struct tsdb_matcher *const *)&m, 1, &s),
        0);
    join(&s, got, sizeof(got));
    cr_assert_str_eq(got, "node");
    tsdb_strings_free(&s);
    tsdb_matcher_destroy(m);
    teardown(&f);
}
