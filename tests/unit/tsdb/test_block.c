/*
 * Blocks, meta.json and ULIDs, held against the real promtool (Debian's
 * prometheus 2.42): a block cairn writes passes `promtool tsdb analyze` and
 * `promtool tsdb dump` prints exactly the samples given; a block promtool
 * writes is read back by cairn's reader sample for sample and selected by
 * matchers with Prometheus' semantics; damaged blocks are refused with a
 * clear message.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
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
void chunktest_promtool_block(const char *om, char *tmp, char *chunks_dir);
uint8_t *chunktest_read_file(const char *path, size_t *len);

#define L(n, v)                                                                                    \
    {                                                                                              \
        (n), (v)                                                                                   \
    }

static void tmpdir(char *dir)
{
    snprintf(dir, PATH_MAX, "/tmp/cairn-block-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* Runs argv with stdout (and stderr) into out; returns the exit status. */
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

/* ---- ULID and meta.json ---------------------------------------------------------- */

Test(tsdb_block, ulid)
{
    /* The ULID spec's example: time 1469918176385, random all-ones... built
     * by hand: 48 bits of time then 80 bits. */
    const uint8_t zero[10] = {0},
                  ones[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    char u[TSDB_ULID_LEN + 1];
    tsdb_ulid_format(0, zero, u);
    cr_assert_str_eq(u, "00000000000000000000000000");
    tsdb_ulid_format(1469918176385, zero, u);
    cr_assert_str_eq(u, "01ARYZ6S410000000000000000");
    tsdb_ulid_format((1LL << 48) - 1, ones, u);
    cr_assert_str_eq(u, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    cr_assert_eq(tsdb_ulid_new(u), 0);
    cr_assert(tsdb_ulid_valid(u));
    cr_assert_eq(strlen(u), 26);
    cr_assert_not(tsdb_ulid_valid("8ZZZZZZZZZZZZZZZZZZZZZZZZZ"));
    cr_assert_not(tsdb_ulid_valid("01ARYZ6S41000000000000000U"));
    cr_assert_not(tsdb_ulid_valid("01ARYZ6S41"));
}

Test(tsdb_block, meta_roundtrip)
{
    char dir[PATH_MAX], err[256] = "";
    tmpdir(dir);
    char src[2][TSDB_ULID_LEN + 1] = {"01ARYZ6S410000000000000000", "01GZZZZZZZZZZZZZZZZZZZZZZZ"};
    struct tsdb_block_meta m = {.ulid = "01H0000000000000000000000A",
                                .min_time = -5,
                                .max_time = 7200001,
                                .num_samples = 1234,
                                .num_series = 3,
                                .num_chunks = 12,
                                .level = 2,
                                .sources = src,
                                .nsources = 2,
                                .version = 1};
    cr_assert_eq(tsdb_meta_write(dir, &m), 0);
    struct tsdb_block_meta r;
    cr_assert_eq(tsdb_meta_read(dir, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(r.ulid, m.ulid);
    cr_assert_eq(r.min_time, -5);
    cr_assert_eq(r.max_time, 7200001);
    cr_assert_eq(r.num_samples, 1234);
    cr_assert_eq(r.num_series, 3);
    cr_assert_eq(r.num_chunks, 12);
    cr_assert_eq(r.num_tombstones, 0);
    cr_assert_eq(r.level, 2);
    cr_assert_eq(r.nsources, 2);
    cr_assert_str_eq(r.sources[1], src[1]);
    cr_assert_eq(r.nparents, 0);
    cr_assert_null(r.parents);
    cr_assert_eq(r.version, 1);
    tsdb_meta_free(&r);

    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    size_t len;
    char *text = (char *)chunktest_read_file(path, &len);
    text[len] = '\0';
    cr_assert_null(strstr(text, "parents"), "no parents, no key (Go's omitempty): %s", text);
    free(text);

    /* Parents: written after the sources, as Go orders BlockMetaCompaction,
     * each {"ulid", "minTime", "maxTime"}; read back; freed. */
    struct tsdb_block_parent par[2] = {{"01ARYZ6S410000000000000000", -5, 7200000},
                                       {"01GZZZZZZZZZZZZZZZZZZZZZZZ", 7200000, 7200001}};
    m.parents = par;
    m.nparents = 2;
    cr_assert_eq(tsdb_meta_write(dir, &m), 0);
    text = (char *)chunktest_read_file(path, &len);
    text[len] = '\0';
    const char *want = "\"compaction\": {\n  \"level\": 2,\n  \"sources\": [\n   "
                       "\"01ARYZ6S410000000000000000\",\n   \"01GZZZZZZZZZZZZZZZZZZZZZZZ\"\n  ],\n"
                       "  \"parents\": [\n   {\n    \"ulid\": \"01ARYZ6S410000000000000000\",\n"
                       "    \"minTime\": -5,\n    \"maxTime\": 7200000\n   },\n   {\n"
                       "    \"ulid\": \"01GZZZZZZZZZZZZZZZZZZZZZZZ\",\n    \"minTime\": 7200000,\n"
                       "    \"maxTime\": 7200001\n   }\n  ]\n },\n \"version\": 1\n}";
    cr_assert(strstr(text, want), "%s", text);
    free(text);
    cr_assert_eq(tsdb_meta_read(dir, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(r.nsources, 2);
    cr_assert_eq(r.nparents, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_str_eq(r.parents[i].ulid, par[i].ulid);
        cr_assert_eq(r.parents[i].min_time, par[i].min_time);
        cr_assert_eq(r.parents[i].max_time, par[i].max_time);
    }
    tsdb_meta_free(&r);
    cr_assert_null(r.parents);
    cr_assert_eq(r.nparents, 0);
    tsdb_meta_free(NULL);

    const char *bad_parents[] = {
        "\"parents\":{}",
        "\"parents\":[\"01ARYZ6S410000000000000000\"]",
        "\"parents\":[{\"ulid\":\"01ARYZ6S410000000000000000\",\"minTime\":1}]",
        "\"parents\":[{\"ulid\":\"nope\",\"minTime\":1,\"maxTime\":2}]",
        "\"parents\":[{\"ulid\":\"01ARYZ6S410000000000000000\",\"minTime\":1,\"maxTime\":\"2\"}]",
    };
    const char *bad_msg[] = {"malformed \"compaction\"", "compaction parent 0 is not",
                             "compaction parent 0 is not", "compaction parent 0 is not",
                             "compaction parent 0 is not"};
    for (size_t i = 0; i < sizeof(bad_parents) / sizeof(bad_parents[0]); i++) {
        char doc[512];
        snprintf(doc, sizeof(doc),
                 "{\"ulid\":\"01H0000000000000000000000A\",\"minTime\":1,\"maxTime\":2,"
                 "\"compaction\":{\"level\":2,\"sources\":[\"01ARYZ6S410000000000000000\"],%s},"
                 "\"version\":1}",
                 bad_parents[i]);
        write_text(path, doc);
        cr_assert_eq(tsdb_meta_read(dir, &r, err, sizeof(err)), -EINVAL, "case %zu", i);
        cr_assert(strstr(err, bad_msg[i]), "case %zu: %s", i, err);
        cr_assert_null(r.sources, "case %zu: nothing left to free", i);
        cr_assert_null(r.parents, "case %zu", i);
    }
    write_text(path, "{\"ulid\": \"01H00000");
    cr_assert_eq(tsdb_meta_read(dir, &r, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "meta.json: not JSON: line 1"), "%s", err);
    write_text(path, "garbage");
    cr_assert_eq(tsdb_meta_read(dir, &r, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "not JSON"), "%s", err);
    write_text(path, "{\"ulid\":\"01H0000000000000000000000A\",\"minTime\":1,\"maxTime\":2,"
                     "\"version\":2}");
    cr_assert_eq(tsdb_meta_read(dir, &r, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "\"version\" is not 1"), "%s", err);
    write_text(path, "{\"ulid\":\"nope\",\"minTime\":1,\"maxTime\":2,\"version\":1}");
    cr_assert_eq(tsdb_meta_read(dir, &r, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "no valid \"ulid\""), "%s", err);
    unlink(path);
    cr_assert_eq(tsdb_meta_read(dir, &r, err, sizeof(err)), -ENOENT);
    chunktest_rmtree(dir);
}

/* ---- cairn writes, promtool reads ------------------------------------------------ */

struct dumped {
    char labels[256];
    double v;
    int64_t t;
};

/* Parses promtool dump's "{labels} value timestamp" lines. */
static size_t parse_dump(const char *path, struct dumped *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[1024];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        char *close = strrchr(line, '}');
        cr_assert_not_null(close, "line: %s", line);
        cr_assert_lt(n, cap);
        size_t ll = (size_t)(close - line) + 1;
        memcpy(out[n].labels, line, ll);
        out[n].labels[ll] = '\0';
        char *end;
        out[n].v = strtod(close + 1, &end);
        out[n].t = strtoll(end, &end, 10);
        cr_assert_eq(*end, '\n', "line: %s", line);
        n++;
    }
    fclose(f);
    return n;
}

static uint64_t bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

Test(tsdb_block, promtool_reads_cairn_block)
{
    char dir[PATH_MAX], ulid[TSDB_ULID_LEN + 1], err[256] = "";
    tmpdir(dir);
    /* Three series given out of order; one long enough for 3 chunks. */
    const struct tsdb_label l0[] = {L("__name__", "node_load1"), L("instance", "a:9100")};
    const struct tsdb_label l1[] = {L("__name__", "node_cpu_seconds_total"), L("cpu", "0"),
                                    L("mode", "idle")};
    const struct tsdb_label l2[] = {L("__name__", "node_cpu_seconds_total"), L("cpu", "0"),
                                    L("mode", "user")};
    static struct tsdb_sample s0[300], s1[5], s2[1];
    for (int i = 0; i < 300; i++)
        s0[i] = (struct tsdb_sample){1700000000000 + 15000 * i + i % 3, 0.01 * i - 1.5};
    const double v1[] = {0.1, 1e300, -0.0, 12345678.125, 3};
    for (int i = 0; i < 5; i++)
        s1[i] = (struct tsdb_sample){1700000000000 + 60000 * i, v1[i]};
    s2[0] = (struct tsdb_sample){1700000001000, 42};
    const struct tsdb_block_series in[] = {
        {.labels = {l0, 2}, .samples = s0, .nsamples = 300},
        {.labels = {l2, 3}, .samples = s2, .nsamples = 1},
        {.labels = {l1, 3}, .samples = s1, .nsamples = 5},
    };
    cr_assert_eq(tsdb_block_write(dir, in, 3, ulid), 0);

    char bdir[PATH_MAX + 32], out[PATH_MAX + 96];
    snprintf(bdir, sizeof(bdir), "%s/%s", dir, ulid);
    struct tsdb_block_meta m;
    cr_assert_eq(tsdb_meta_read(bdir, &m, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(m.min_time, 1700000000000);
    cr_assert_eq(m.max_time, 1700000000000 + 15000 * 299 + 299 % 3 + 1);
    cr_assert_eq(m.num_samples, 306);
    cr_assert_eq(m.num_series, 3);
    cr_assert_eq(m.num_chunks, 5);
    cr_assert_eq(m.level, 1);
    cr_assert_eq(m.nsources, 1);
    cr_assert_str_eq(m.sources[0], ulid);
    tsdb_meta_free(&m);
    size_t tl;
    snprintf(out, sizeof(out), "%s/tombstones", bdir);
    uint8_t *tomb = chunktest_read_file(out, &tl);
    cr_assert_eq(tl, 9);
    cr_assert_eq(memcmp(tomb, "\x01\x30\xba\x30\x01\0\0\0\0", 9), 0);
    free(tomb);
    snprintf(out, sizeof(out), "%s/%s.tmp", dir, ulid);
    cr_assert_neq(access(out, F_OK), 0, "the .tmp directory is gone");

    snprintf(out, sizeof(out), "%s/analyze.txt", dir);
    char *an[] = {"promtool", "tsdb", "analyze", dir, ulid, NULL};
    cr_assert_eq(run(an, out), 0, "promtool tsdb analyze failed");
    size_t alen;
    char *atext = (char *)chunktest_read_file(out, &alen);
    atext[alen] = '\0';
    cr_assert(strstr(atext, "Series: 3\n"), "%s", atext);
    cr_assert(strstr(atext, "Label names: 4\n"), "%s", atext);
    free(atext);

    /* dump opens the directory as a read-only DB, which wants a wal/. */
    snprintf(out, sizeof(out), "%s/wal", dir);
    cr_assert_eq(mkdir(out, 0755), 0);
    snprintf(out, sizeof(out), "%s/dump.txt", dir);
    char *dump[] = {"promtool", "tsdb", "dump", dir, NULL};
    cr_assert_eq(run(dump, out), 0, "promtool tsdb dump failed");
    static struct dumped d[400];
    size_t n = parse_dump(out, d, 400);
    cr_assert_eq(n, 306);
    /* Series in label order: cpu idle, cpu user, load1. */
    const char *want1 = "{__name__=\"node_cpu_seconds_total\", cpu=\"0\", mode=\"idle\"}";
    const char *want2 = "{__name__=\"node_cpu_seconds_total\", cpu=\"0\", mode=\"user\"}";
    const char *want0 = "{__name__=\"node_load1\", instance=\"a:9100\"}";
    for (size_t i = 0; i < n; i++) {
        const struct tsdb_sample *s = i < 5 ? &s1[i] : i == 5 ? &s2[0] : &s0[i - 6];
        const char *want = i < 5 ? want1 : i == 5 ? want2 : want0;
        cr_assert_str_eq(d[i].labels, want, "line %zu", i);
        cr_assert_eq(d[i].t, s->t, "line %zu", i);
        cr_assert_eq(bits(d[i].v), bits(s->v), "line %zu: %.17g != %.17g", i, d[i].v, s->v);
    }
    chunktest_rmtree(dir);
}

Test(tsdb_block, write_rejects_bad_input)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    const struct tsdb_label a[] = {L("__name__", "a")}, bad[] = {L("b", "1"), L("a", "2")};
    const struct tsdb_sample s[] = {{2, 1}, {1, 1}}, ok[] = {{1, 1}};
    struct tsdb_block_series in[2] = {{.labels = {a, 1}, .samples = s, .nsamples = 2}};
    cr_assert_eq(tsdb_block_write(dir, in, 1, NULL), -EINVAL, "timestamps out of order");
    in[0].samples = ok;
    in[0].nsamples = 1;
    in[1] = in[0];
    cr_assert_eq(tsdb_block_write(dir, in, 2, NULL), -EINVAL, "duplicate series");
    in[1].labels = (struct tsdb_labels){bad, 2};
    cr_assert_eq(tsdb_block_write(dir, in, 2, NULL), -EINVAL, "unsorted labels");
    in[0].nsamples = 0;
    cr_assert_eq(tsdb_block_write(dir, in, 1, NULL), -EINVAL, "no samples");
    DIR *dd = opendir(dir);
    int entries = 0;
    for (struct dirent *de; (de = readdir(dd));)
        entries += de->d_name[0] != '.';
    closedir(dd);
    cr_assert_eq(entries, 0, "failed writes leave nothing behind");
    chunktest_rmtree(dir);
}

/* ---- promtool writes, cairn reads ------------------------------------------------ */

static const char *om_text =
    "# TYPE http_requests counter\n"
    "http_requests_total{code=\"200\",method=\"get\"} 1 1\n"
    "http_requests_total{code=\"200\",method=\"get\"} 2.5 16\n"
    "http_requests_total{code=\"500\",method=\"get\"} 7 1\n"
    "http_requests_total{code=\"200\",method=\"post\",env=\"\"} 3 1\n"
    "http_requests_total{code=\"404\",method=\"post\",env=\"prod\"} 1e-3 2\n"
    "# TYPE up gauge\n"
    "up{job=\"node\"} 1 1\n"
    "up{job=\"node\"} 0 31\n"
    "# EOF\n";

struct sel_case {
    enum tsdb_match_type type;
    const char *name, *value;
};

/* Refs of the series (0-based, in label order) a matcher list selects. */
static unsigned select_mask(const struct tsdb_block *b, const struct sel_case *c, size_t n,
                            const uint32_t *all, size_t nall)
{
    struct tsdb_matcher *ms[4];
    char err[128];
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(
            tsdb_matcher_create(c[i].type, c[i].name, c[i].value, &ms[i], err, sizeof(err)), 0,
            "%s", err);
    uint32_t *refs;
    size_t k;
    cr_assert_eq(tsdb_block_select(b, (const struct tsdb_matcher *const *)ms, n, &refs, &k), 0);
    unsigned mask = 0;
    for (size_t i = 0; i < k; i++) {
        size_t j = 0;
        while (j < nall && all[j] != refs[i])
            j++;
        cr_assert_lt(j, nall);
        mask |= 1u << j;
        if (i)
            cr_assert_gt(refs[i], refs[i - 1]);
    }
    free(refs);
    for (size_t i = 0; i < n; i++)
        tsdb_matcher_destroy(ms[i]);
    return mask;
}

Test(tsdb_block, cairn_reads_promtool_block)
{
    char tmp[PATH_MAX], chunks[PATH_MAX], err[256] = "";
    chunktest_promtool_block(om_text, tmp, chunks);
    chunks[strlen(chunks) - 7] = '\0'; /* the block directory */
    struct tsdb_block *b;
    cr_assert_eq(tsdb_block_open(chunks, &b, err, sizeof(err)), 0, "%s", err);
    const struct tsdb_block_meta *m = tsdb_block_meta(b);
    cr_assert_eq(m->min_time, 1000);
    cr_assert_eq(m->max_time, 31001);
    cr_assert_eq(m->num_series, 5);
    cr_assert_eq(m->num_samples, 7);

    uint32_t *all;
    size_t nall;
    cr_assert_eq(tsdb_block_select(b, NULL, 0, &all, &nall), 0);
    cr_assert_eq(nall, 5);
    /* Label order: env="" is dropped by Prometheus, so {code=200,method=post}
     * has no env label. */
    const char *want[5] = {
        "__name__=http_requests_total,code=200,method=get,",
        "__name__=http_requests_total,code=200,method=post,",
        "__name__=http_requests_total,code=404,env=prod,method=post,",
        "__name__=http_requests_total,code=500,method=get,",
        "__name__=up,job=node,",
    };
    const struct tsdb_sample ws[5][2] = {{{1000, 1}, {16000, 2.5}},
                                         {{1000, 3}},
                                         {{2000, 1e-3}},
                                         {{1000, 7}},
                                         {{1000, 1}, {31000, 0}}};
    const size_t wn[5] = {2, 1, 1, 1, 2};
    struct tsdb_index_series s = {0};
    struct tsdb_sample *smp = NULL;
    size_t ns, cap = 0;
    for (size_t i = 0; i < nall; i++) {
        cr_assert_eq(tsdb_block_series(b, all[i], INT64_MIN, INT64_MAX, &s, &smp, &ns, &cap), 0);
        char text[256] = "";
        for (size_t l = 0; l < s.nlabels; l++)
            snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s=%s,", s.labels[l].name,
                     s.labels[l].value);
        cr_assert_str_eq(text, want[i]);
        cr_assert_eq(ns, wn[i], "series %zu", i);
        for (size_t k = 0; k < ns; k++) {
            cr_assert_eq(smp[k].t, ws[i][k].t);
            cr_assert_eq(bits(smp[k].v), bits(ws[i][k].v));
        }
    }
    /* Time range: only up's second sample. */
    cr_assert_eq(tsdb_block_series(b, all[4], 1001, 31000, &s, &smp, &ns, &cap), 0);
    cr_assert_eq(ns, 1);
    cr_assert_eq(smp[0].t, 31000);
    cr_assert_eq(tsdb_block_series(b, all[0], 2000, 15999, &s, &smp, &ns, &cap), 0);
    cr_assert_eq(ns, 0);

    /* Matchers, with Prometheus' semantics for empty values. */
    const struct {
        struct sel_case m[3];
        size_t n;
        unsigned mask;
    } cases[] = {
        {{{TSDB_MATCH_EQ, "__name__", "http_requests_total"}}, 1, 0x0f},
        {{{TSDB_MATCH_EQ, "code", "200"}, {TSDB_MATCH_EQ, "method", "post"}}, 2, 0x02},
        {{{TSDB_MATCH_NEQ, "code", "200"}}, 1, 0x1c}, /* includes up: no code label */
        {{{TSDB_MATCH_RE, "code", "2..|4.*"}}, 1, 0x07},
        {{{TSDB_MATCH_NRE, "method", "g.t"}, {TSDB_MATCH_EQ, "__name__", "http_requests_total"}},
         2,
         0x06},
        {{{TSDB_MATCH_EQ, "env", ""}}, 1, 0x1b},   /* no env label */
        {{{TSDB_MATCH_NEQ, "env", ""}}, 1, 0x04},  /* env set */
        {{{TSDB_MATCH_RE, "env", ".*"}}, 1, 0x1f}, /* matches everything */
        {{{TSDB_MATCH_RE, "env", ".+"}}, 1, 0x04},
        {{{TSDB_MATCH_RE, "env", "prod|"}, {TSDB_MATCH_NEQ, "code", "404"}}, 2, 0x1b},
        {{{TSDB_MATCH_EQ, "job", "nope"}}, 1, 0x00},
        {{{TSDB_MATCH_EQ, "nolabel", "x"}}, 1, 0x00},
        {{{TSDB_MATCH_NEQ, "nolabel", "x"}}, 1, 0x1f},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned got = select_mask(b, cases[i].m, cases[i].n, all, nall);
        cr_assert_eq(got, cases[i].mask, "case %zu: got %#x want %#x", i, got, cases[i].mask);
    }
    free(smp);
    tsdb_index_series_free(&s);
    free(all);
    tsdb_block_close(b);
    chunktest_rmtree(tmp);
}

/* ---- damaged blocks --------------------------------------------------------------- */

/* Writes a small cairn block in a new temp dir; its path in bdir. */
static void small_block(char *dir, char *bdir)
{
    tmpdir(dir);
    const struct tsdb_label a[] = {L("__name__", "a"), L("x", "1")};
    const struct tsdb_sample s[] = {{1000, 1}, {2000, 2}};
    const struct tsdb_block_series in[] = {{.labels = {a, 2}, .samples = s, .nsamples = 2}};
    char ulid[TSDB_ULID_LEN + 1];
    cr_assert_eq(tsdb_block_write(dir, in, 1, ulid), 0);
    snprintf(bdir, PATH_MAX + 32, "%s/%s", dir, ulid);
}

Test(tsdb_block, corrupt_index_refused)
{
    char dir[PATH_MAX], bdir[PATH_MAX + 32], path[PATH_MAX + 64], err[256] = "";
    small_block(dir, bdir);
    struct tsdb_block *b;
    cr_assert_eq(tsdb_block_open(bdir, &b, err, sizeof(err)), 0, "%s", err);
    tsdb_block_close(b);
    snprintf(path, sizeof(path), "%s/index", bdir);
    size_t len;
    uint8_t *idx = chunktest_read_file(path, &len);
    /* The first series entry (at its reference * 16); flip a byte in it. */
    struct tsdb_index_reader *r;
    cr_assert_eq(tsdb_index_reader_open_mem(idx, len, &r, err, sizeof(err)), 0, "%s", err);
    uint32_t *refs;
    size_t nrefs;
    cr_assert_eq(tsdb_index_postings(r, "", "", &refs, &nrefs), 0);
    cr_assert_gt(nrefs, 0);
    uint32_t first = refs[0];
    free(refs);
    tsdb_index_reader_close(r);
    idx[first * 16 + 3] ^= 0x01;
    FILE *f = fopen(path, "wb");
    cr_assert_eq(fwrite(idx, 1, len, f), len);
    fclose(f);
    free(idx);
    cr_assert_eq(tsdb_block_open(bdir, &b, err, sizeof(err)), -EBADMSG);
    cr_assert_null(b);
    char want[64];
    snprintf(want, sizeof(want), "index: series %u checksum mismatch", first);
    cr_assert_str_eq(err, want);
    /* Truncated: the TOC no longer ends the file; or shorter than a TOC. */
    cr_assert_eq(truncate(path, (off_t)len - 1), 0);
    cr_assert_eq(tsdb_block_open(bdir, &b, err, sizeof(err)), -EBADMSG);
    cr_assert_str_eq(err, "index: TOC checksum mismatch");
    cr_assert_eq(truncate(path, 40), 0);
    cr_assert_eq(tsdb_block_open(bdir, &b, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "/index: 40 bytes, too short"), "%s", err);
    chunktest_rmtree(dir);
}

Test(tsdb_block, garbage_meta_refused)
{
    char dir[PATH_MAX], bdir[PATH_MAX + 32], path[PATH_MAX + 64], err[256] = "";
    small_block(dir, bdir);
    snprintf(path, sizeof(path), "%s/meta.json", bdir);
    write_text(path, "\x01\x02 not json at all");
    struct tsdb_block *b;
    cr_assert_eq(tsdb_block_open(bdir, &b, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "meta.json: not JSON"), "%s", err);
    chunktest_rmtree(dir);
}

Test(tsdb_block, missing_chunks_refused)
{
    char dir[PATH_MAX], bdir[PATH_MAX + 32], path[PATH_MAX + 64], err[256] = "";
    small_block(dir, bdir);
    snprintf(path, sizeof(path), "%s/chunks/000001", bdir);
    cr_assert_eq(unlink(path), 0);
    struct tsdb_block *b;
    int rc = tsdb_block_open(bdir, &b, err, sizeof(err));
    cr_assert_eq(rc, -EINVAL, "%d", rc);
    cr_assert(strstr(err, "chunk 8 unreadable (missing or out of range)"), "%s", err);
    snprintf(path, sizeof(path), "%s/chunks", bdir);
    cr_assert_eq(rmdir(path), 0);
    cr_assert_eq(tsdb_block_open(bdir, &b, err, sizeof(err)), -ENOENT);
    cr_assert(strstr(err, "no chunks directory"), "%s", err);
    chunktest_rmtree(dir);
}
