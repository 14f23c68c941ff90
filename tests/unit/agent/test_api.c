/*
 * The Prometheus HTTP API (agent/api.c): parameter decoding (forms, times,
 * durations), Go-compatible number, string and timestamp encoding, query
 * results of every type from the real engine, and the handlers over an
 * agent's store and scheduler, directly and through the HTTP server. The
 * expected answers are what Prometheus 2.42 gives for the same requests.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/internal.h"
#include "cairn_version.h"
#include "promql/promql.h"
#include "tsdb/tsdb.h"

/* ---- parameters ------------------------------------------------------------------- */

/* Decodes text; the first value of name (or NULL) and the decoding error
 * go to the caller's buffers. */
static const char *form_value(const char *text, const char *name, char *val, size_t valcap,
                              char *err, size_t errcap)
{
    struct agent_params p = {0};
    cr_assert_eq(agent_form_parse(&p, text, strlen(text)), 0);
    snprintf(err, errcap, "%s", p.err);
    const char *v = agent_params_get(&p, name);
    if (v)
        snprintf(val, valcap, "%s", v);
    agent_params_free(&p);
    return v ? val : NULL;
}

Test(agent_api, form_decoding)
{
    struct agent_params p = {0};
    const char *q = "query=sum%28rate%28x%5B5m%5D%29%29+by+(job)&match[]=up&&match%5B%5D=a%2Bb&"
                    "flag&empty=&x=%e2%82%ac";
    cr_assert_eq(agent_form_parse(&p, q, strlen(q)), 0);
    cr_assert_str_eq(p.err, "");
    cr_assert_eq(p.n, 6);
    cr_assert_str_eq(agent_params_get(&p, "query"), "sum(rate(x[5m])) by (job)");
    cr_assert_str_eq(p.v[1].name, "match[]");
    cr_assert_str_eq(p.v[1].value, "up");
    cr_assert_str_eq(p.v[2].name, "match[]");
    cr_assert_str_eq(p.v[2].value, "a+b");
    cr_assert_str_eq(agent_params_get(&p, "flag"), "");
    cr_assert_str_eq(agent_params_get(&p, "empty"), "");
    cr_assert_str_eq(agent_params_get(&p, "x"), "\xe2\x82\xac");
    cr_assert_null(agent_params_get(&p, "missing"));
    /* A second text (the query string after a POST body) appends: the
     * first value of a name stays the one found first. */
    cr_assert_eq(agent_form_parse(&p, "query=2&time=5", 14), 0);
    cr_assert_str_eq(agent_params_get(&p, "query"), "sum(rate(x[5m])) by (job)");
    cr_assert_str_eq(agent_params_get(&p, "time"), "5");
    /* The length bounds the text: no NUL needed. */
    cr_assert_eq(agent_form_parse(&p, "step=15s&junk", 8), 0);
    cr_assert_str_eq(agent_params_get(&p, "step"), "15s");
    cr_assert_null(agent_params_get(&p, "junk"));
    agent_params_free(&p);
    agent_params_free(&p); /* twice is harmless */
}

Test(agent_api, form_errors)
{
    char v[64], err[200];
    /* Bad pairs are skipped, the others kept, the first problem told in
     * Go's words. */
    cr_assert_str_eq(form_value("a=%zz&b=2", "b", v, sizeof(v), err, sizeof(err)), "2");
    cr_assert_str_eq(err, "invalid URL escape \"%zz\"");
    cr_assert_null(form_value("a=%zz&b=2", "a", v, sizeof(v), err, sizeof(err)));
    cr_assert_null(form_value("k%4=1&b=%4", "b", v, sizeof(v), err, sizeof(err)));
    cr_assert_str_eq(err, "invalid URL escape \"%4=\"");
    cr_assert_null(form_value("b=%4", "b", v, sizeof(v), err, sizeof(err)));
    cr_assert_str_eq(err, "invalid URL escape \"%4\"");
    cr_assert_null(form_value("b=%\x01x", "b", v, sizeof(v), err, sizeof(err)));
    cr_assert_str_eq(err, "invalid URL escape \"%\\x01x\"");
    cr_assert_str_eq(form_value("a=1;b=2&c=3", "c", v, sizeof(v), err, sizeof(err)), "3");
    cr_assert_str_eq(err, "invalid semicolon separator in query");
    cr_assert_null(form_value("a=1;b=2&c=3", "a", v, sizeof(v), err, sizeof(err)));
    cr_assert_str_eq(form_value("x=%ff", "x", v, sizeof(v), err, sizeof(err)), "\xff");
    cr_assert_str_eq(err, "");
}

Test(agent_api, time_unix_seconds)
{
    int64_t ms = 0;
    cr_assert_eq(agent_parse_time("1700000000", &ms), 0);
    cr_assert_eq(ms, 1700000000000LL);
    cr_assert_eq(agent_parse_time("1700000000.123", &ms), 0);
    cr_assert_eq(ms, 1700000000123LL);
    cr_assert_eq(agent_parse_time("1700000000.1236", &ms), 0); /* rounded to ms */
    cr_assert_eq(ms, 1700000000124LL);
    cr_assert_eq(agent_parse_time("-1.5", &ms), 0);
    cr_assert_eq(ms, -1500);
    cr_assert_eq(agent_parse_time("+2.25e3", &ms), 0);
    cr_assert_eq(ms, 2250000);
    cr_assert_eq(agent_parse_time(".5", &ms), 0);
    cr_assert_eq(ms, 500);
    cr_assert_eq(agent_parse_time("7.", &ms), 0);
    cr_assert_eq(ms, 7000);
    /* promtool's "now - 9999h" style bounds are far but fit. */
    cr_assert_eq(agent_parse_time("9223309901257974", &ms), 0);
    cr_assert_eq(ms, 9223309901257974000LL);
    cr_assert_eq(agent_parse_time("9223372036854775", &ms), -EINVAL); /* ms overflow */
}

Test(agent_api, time_rfc3339)
{
    int64_t ms = 0;
    cr_assert_eq(agent_parse_time("2023-11-14T22:13:20Z", &ms), 0);
    cr_assert_eq(ms, 1700000000000LL);
    cr_assert_eq(agent_parse_time("2023-11-14T22:13:20.123456789Z", &ms), 0);
    cr_assert_eq(ms, 1700000000123LL); /* truncated, not rounded */
    cr_assert_eq(agent_parse_time("2023-11-14T22:13:20.9999999999Z", &ms), 0);
    cr_assert_eq(ms, 1700000000999LL);
    cr_assert_eq(agent_parse_time("2023-11-14T23:43:20,5+01:30", &ms), 0);
    cr_assert_eq(ms, 1700000000500LL);
    cr_assert_eq(agent_parse_time("2023-11-14T17:13:20-05:00", &ms), 0);
    cr_assert_eq(ms, 1700000000000LL);
    cr_assert_eq(agent_parse_time("1969-12-31T23:59:59.5Z", &ms), 0);
    cr_assert_eq(ms, -500);
    cr_assert_eq(agent_parse_time("2024-02-29T00:00:00Z", &ms), 0);
    cr_assert_eq(ms, 1709164800000LL);
    cr_assert_eq(agent_parse_time("-292273086-05-16T16:47:06Z", &ms), 0);
    cr_assert_eq(ms, AGENT_API_MIN_TIME);
    cr_assert_eq(agent_parse_time("292277025-08-18T07:12:54.999999999Z", &ms), 0);
    cr_assert_eq(ms, AGENT_API_MAX_TIME);
}

Test(agent_api, time_invalid)
{
    static const char *const bad[] = {
        "",
        "x",
        "Inf",
        "NaN",
        "1e400",
        "0x10",
        " 1",
        "1_000",
        "2023-02-29T00:00:00Z",
        "2023-13-01T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:60:00Z",
        "2023-11-14T22:13:60Z",
        "2023-11-14T22:13:20",
        "2023-11-14t22:13:20Z",
        "2023-11-14 22:13:20Z",
        "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20+0100",
        "2023-11-14T22:13:20+24:00",
        "2023-11-14T22:13:20Zx",
        "23-11-14T22:13:20Z",
        "2023-11-14",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 42;
        cr_assert_eq(agent_parse_time(bad[i], &ms), -EINVAL, "\"%s\" was taken", bad[i]);
        cr_assert_eq(ms, 42);
    }
}

Test(agent_api, durations)
{
    int64_t ns = 0;
    cr_assert_eq(agent_parse_duration("15", &ns), 0);
    cr_assert_eq(ns, 15000000000LL);
    cr_assert_eq(agent_parse_duration("0.5", &ns), 0);
    cr_assert_eq(ns, 500000000);
    cr_assert_eq(agent_parse_duration("0.0001", &ns), 0);
    cr_assert_eq(ns, 100000);
    cr_assert_eq(agent_parse_duration("-1", &ns), 0);
    cr_assert_eq(ns, -1000000000LL);
    cr_assert_eq(agent_parse_duration("0", &ns), 0);
    cr_assert_eq(ns, 0);
    cr_assert_eq(agent_parse_duration("1m30s", &ns), 0);
    cr_assert_eq(ns, 90000000000LL);
    cr_assert_eq(agent_parse_duration("1d", &ns), 0);
    cr_assert_eq(ns, 86400000000000LL);
    cr_assert_eq(agent_parse_duration("250ms", &ns), 0);
    cr_assert_eq(ns, 250000000);
    cr_assert_eq(agent_parse_duration("1e300", &ns), -ERANGE);
    cr_assert_eq(agent_parse_duration("Inf", &ns), -ERANGE);
    cr_assert_eq(agent_parse_duration("300y", &ns), -EINVAL); /* past int64 ns */
    static const char *const bad[] = {"", "x", "1x", "30s1m", "1.5m", "-1m", "NaN", "1 s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(agent_parse_duration(bad[i], &ns), -EINVAL, "\"%s\" was taken", bad[i]);
}

/* ---- encoding --------------------------------------------------------------------- */

/* Formats v with f into a buffer of the caller's. */
#define FMT(f, v) (f(fbuf, (v)) == strlen(fbuf) ? fbuf : "length mismatch")

Test(agent_api, format_float_as_go_f)
{
    char fbuf[AGENT_FLOAT_BUF];
    cr_assert_str_eq(FMT(agent_format_float, 0), "0");
    cr_assert_str_eq(FMT(agent_format_float, -0.0), "-0");
    cr_assert_str_eq(FMT(agent_format_float, 1), "1");
    cr_assert_str_eq(FMT(agent_format_float, -1.5), "-1.5");
    cr_assert_str_eq(FMT(agent_format_float, 0.1), "0.1");
    cr_assert_str_eq(FMT(agent_format_float, 0.1 + 0.2), "0.30000000000000004");
    cr_assert_str_eq(FMT(agent_format_float, 1e-7), "0.0000001");
    cr_assert_str_eq(FMT(agent_format_float, 123456.789), "123456.789");
    cr_assert_str_eq(FMT(agent_format_float, 1e21), "1000000000000000000000");
    cr_assert_str_eq(FMT(agent_format_float, 1.5e22), "15000000000000000000000");
    cr_assert_str_eq(FMT(agent_format_float, 9007199254740993.0), "9007199254740992");
    cr_assert_str_eq(FMT(agent_format_float, 1700000000.123), "1700000000.123");
    cr_assert_str_eq(FMT(agent_format_float, NAN), "NaN");
    cr_assert_str_eq(FMT(agent_format_float, INFINITY), "+Inf");
    cr_assert_str_eq(FMT(agent_format_float, -INFINITY), "-Inf");
    /* The extremes fit the buffer. */
    cr_assert_eq(strlen(FMT(agent_format_float, 5e-324)), 326);
    cr_assert_eq(strncmp(FMT(agent_format_float, 5e-324), "0.0000", 6), 0);
    cr_assert_eq(FMT(agent_format_float, 5e-324)[325], '5');
    cr_assert_eq(strlen(FMT(agent_format_float, -1.7976931348623157e308)), 310);
    cr_assert_eq(
        strncmp(FMT(agent_format_float, -1.7976931348623157e308), "-17976931348623157000", 21), 0);
}

Test(agent_api, format_sample_as_prometheus)
{
    char fbuf[AGENT_FLOAT_BUF];
    /* 'f' from 1e-6 up to 1e21, 'e' outside, zero always 'f'. */
    cr_assert_str_eq(FMT(agent_format_sample, 0), "0");
    cr_assert_str_eq(FMT(agent_format_sample, -0.0), "-0");
    cr_assert_str_eq(FMT(agent_format_sample, 0.21), "0.21");
    cr_assert_str_eq(FMT(agent_format_sample, 1e-6), "0.000001");
    cr_assert_str_eq(FMT(agent_format_sample, 9.5e-7), "9.5e-07");
    cr_assert_str_eq(FMT(agent_format_sample, 1e-7), "1e-07");
    cr_assert_str_eq(FMT(agent_format_sample, -2.5e-10), "-2.5e-10");
    cr_assert_str_eq(FMT(agent_format_sample, 5e-324), "5e-324");
    cr_assert_str_eq(FMT(agent_format_sample, 999999999999999900000.0), "999999999999999900000");
    cr_assert_str_eq(FMT(agent_format_sample, 1e21), "1e+21");
    cr_assert_str_eq(FMT(agent_format_sample, -1.5e300), "-1.5e+300");
    cr_assert_str_eq(FMT(agent_format_sample, 1.7976931348623157e308), "1.7976931348623157e+308");
    cr_assert_str_eq(FMT(agent_format_sample, NAN), "NaN");
    cr_assert_str_eq(FMT(agent_format_sample, INFINITY), "+Inf");
    cr_assert_str_eq(FMT(agent_format_sample, -INFINITY), "-Inf");
    cr_assert_str_eq(FMT(agent_format_sample, tsdb_stale_nan()), "NaN");
}

/* JSON of s, into the caller's buffer b (reset first). */
static const char *json_str(struct cn_buf *b, const char *s)
{
    cn_buf_reset(b);
    agent_json_string(b, s);
    return cn_buf_cstr(b);
}

Test(agent_api, json_string_as_go)
{
    struct cn_buf b;
    cn_buf_init(&b);
    cr_assert_str_eq(json_str(&b, ""), "\"\"");
    cr_assert_str_eq(json_str(&b, "node_load1"), "\"node_load1\"");
    cr_assert_str_eq(json_str(&b, "a\"b\\c"), "\"a\\\"b\\\\c\"");
    cr_assert_str_eq(json_str(&b, "\n\r\t\b\f\x01\x1f\x7f"),
                     "\"\\n\\r\\t\\u0008\\u000c\\u0001\\u001f\x7f\"");
    cr_assert_str_eq(json_str(&b, "<a href=\"x\">&</a>"),
                     "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u003c/a\\u003e\"");
    cr_assert_str_eq(json_str(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    cr_assert_str_eq(json_str(&b, "x\xe2\x80\xa8y\xe2\x80\xa9"), "\"x\\u2028y\\u2029\"");
    /* Invalid UTF-8: a stray byte, a truncated sequence, an overlong form,
     * a surrogate, each byte replaced. */
    cr_assert_str_eq(json_str(&b, "a\xff"
                                  "b\xe2\x82"
                                  "c\xc0\xaf"
                                  "d\xed\xa0\x80"),
                     "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffdd\\ufffd\\ufffd\\ufffd\"");
    cn_buf_free(&b);
}

static const char *json_ts(struct cn_buf *b, int64_t ms)
{
    cn_buf_reset(b);
    agent_json_timestamp(b, ms);
    return cn_buf_cstr(b);
}

Test(agent_api, json_timestamp)
{
    struct cn_buf b;
    cn_buf_init(&b);
    cr_assert_str_eq(json_ts(&b, 1700000000123LL), "1700000000.123");
    cr_assert_str_eq(json_ts(&b, 1700000000000LL), "1700000000");
    cr_assert_str_eq(json_ts(&b, 1500), "1.500");
    cr_assert_str_eq(json_ts(&b, 5), "0.005");
    cr_assert_str_eq(json_ts(&b, 50), "0.050");
    cr_assert_str_eq(json_ts(&b, 0), "0");
    cr_assert_str_eq(json_ts(&b, -1500), "-1.500");
    cr_assert_str_eq(json_ts(&b, INT64_MIN), "-9223372036854775.808");
    cn_buf_free(&b);
}

/* ---- results from the engine --------------------------------------------------------- */

static int head_open(void *ctx, int64_t mint, int64_t maxt, void **handle,
                     const struct tsdb_source **src, size_t *nsrc)
{
    (void)mint;
    (void)maxt;
    struct tsdb_source *s = cn_malloc(sizeof(*s));
    cr_assert_not_null(s);
    *s = tsdb_head_source(ctx);
    *handle = s;
    *src = s;
    *nsrc = 1;
    return 0;
}

static void head_close(void *ctx, void *handle)
{
    (void)ctx;
    free(handle);
}

static void append(struct tsdb_head *h, const char *name, const char *inst, int64_t t, double v)
{
    struct tsdb_label l[2] = {{"__name__", name}, {"instance", inst}};
    struct tsdb_labels ls = {l, 2};
    cr_assert_eq(tsdb_head_append(h, &ls, t, v, NULL), 0);
}

/* The JSON of `query` at t (range from start to t every step when step). */
static char *eval(struct tsdb_head *h, const char *query, int64_t start, int64_t t, int64_t step)
{
    struct promql_engine *e;
    cr_assert_eq(promql_engine_create(&(struct promql_engine_opts){0}, &e), 0);
    struct promql_expr *expr;
    struct promql_error err = {0};
    cr_assert_eq(promql_parse(query, &expr, &err), 0, "%s", err.msg);
    struct promql_queryable q = {head_open, head_close, h};
    struct promql_result res = {0};
    int rc = step ? promql_exec_range(e, &q, expr, start, t, step, NULL, &res, &err)
                  : promql_exec_instant(e, &q, expr, t, NULL, &res, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    struct cn_buf b;
    cn_buf_init(&b);
    agent_json_result(&b, &res);
    cr_assert_eq(b.err, 0);
    promql_result_free(&res);
    promql_expr_free(expr);
    promql_engine_destroy(e);
    return cn_buf_steal(&b, NULL);
}

Test(agent_api, json_result_every_type)
{
    struct tsdb_head *h;
    cr_assert_eq(tsdb_head_create(&h), 0);
    const int64_t t0 = 1700000000000LL;
    for (int i = 0; i < 4; i++) {
        append(h, "m", "a", t0 + i * 15000, i == 3 ? NAN : 0.5 * i);
        append(h, "m", "b<&>", t0 + i * 15000, i == 2 ? INFINITY : 1e-7 * (i + 1));
    }
    struct {
        const char *query;
        int64_t start, t, step;
        const char *json;
    } cases[] = {
        {"m", 0, t0 + 30500, 0,
         "{\"resultType\":\"vector\",\"result\":["
         "{\"metric\":{\"__name__\":\"m\",\"instance\":\"a\"},\"value\":[1700000030.500,\"1\"]},"
         "{\"metric\":{\"__name__\":\"m\",\"instance\":\"b\\u003c\\u0026\\u003e\"},"
         "\"value\":[1700000030.500,\"+Inf\"]}]}"},
        {"m{instance=\"a\"}[40s]", 0, t0 + 45000, 0,
         "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"m\",\"instance\":"
         "\"a\"},\"values\":[[1700000015,\"0.5\"],[1700000030,\"1\"],[1700000045,\"NaN\"]]}]}"},
        {"m{instance=\"b<&>\"}", t0, t0 + 30000, 15000,
         "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"m\",\"instance\":"
         "\"b\\u003c\\u0026\\u003e\"},\"values\":[[1700000000,\"1e-07\"],[1700000015,\"2e-07\"],"
         "[1700000030,\"+Inf\"]]}]}"},
        {"1e-7", 0, t0 + 500, 0,
         "{\"resultType\":\"scalar\",\"result\":[1700000000.5,\"0.0000001\"]}"},
        {"-1/0", 0, t0, 0, "{\"resultType\":\"scalar\",\"result\":[1700000000,\"-Inf\"]}"},
        {"\"x\\\"<y>\"", 0, t0 + 250, 0,
         "{\"resultType\":\"string\",\"result\":[1700000000.25,\"x\\\"\\u003cy\\u003e\"]}"},
        {"absent(m)", 0, t0, 0, "{\"resultType\":\"vector\",\"result\":[]}"},
        {"m{instance=\"none\"}", t0, t0 + 30000, 15000,
         "{\"resultType\":\"matrix\",\"result\":[]}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *json = eval(h, cases[i].query, cases[i].start, cases[i].t, cases[i].step);
        cr_assert_str_eq(json, cases[i].json, "%s", cases[i].query);
        free(json);
    }
    tsdb_head_destroy(h);
}

/* ---- the handlers over an agent --------------------------------------------------------- */

/*
 * An agent's TSDB in a temporary directory and the API over it. With a
 * scheduler: the loadavg collector on a fixture, one cycle stored.
 * Without: one snapshot of families the test knows exactly (four series:
 * a_total{inst,job} x3, b{job}) stored at T0.
 */
#define T0 1700000000000LL
struct env {
    char dir[64];
    struct agent_config cfg;
    struct agent_store *store;
    struct agent_source src;
    struct promql_engine *engine;
    struct agent_api *api;
    int64_t t; /* the stored cycle's timestamp */
};

static void store_known_series(struct env *e)
{
    struct exp_builder *b = exp_builder_create();
    struct exp_family *a = exp_family(b, "a_total", "As.", EXP_COUNTER);
    exp_add(b, a, 1, 2, "job", "x", "inst", "1");
    exp_add(b, a, 2, 2, "job", "x", "inst", "2");
    exp_add(b, a, 3, 2, "job", "y", "inst", "1");
    exp_gauge(b, "b", "B.", 4, 1, "job", "x");
    cr_assert_eq(exp_builder_finish(b), 0);
    struct exp_snapshot *snap = exp_snapshot_create(&b, 1, T0);
    agent_store_append(e->store, snap, T0);
    exp_snapshot_unref(snap);
    exp_builder_unref(b);
    e->t = T0;
}

static void env_start(struct env *e, bool sched)
{
    snprintf(e->dir, sizeof(e->dir), "/tmp/cairn-api-XXXXXX");
    cr_assert_not_null(mkdtemp(e->dir));
    char procfs[512], storage[128];
    snprintf(procfs, sizeof(procfs), "--path.procfs=%s/tests/fixtures/loadavg/ok/proc",
             CAIRN_SOURCE_DIR);
    snprintf(storage, sizeof(storage), "--storage.tsdb.path=%s", e->dir);
    const char *argv[] = {
        "agent", "--collector.disable-defaults",        "--collector.loadavg", procfs,
        storage, "--storage.tsdb.retention.size=1536MB"};
    char err[256] = "";
    cr_assert_eq(agent_config_load(&e->cfg, 6, (char **)argv, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(agent_store_open(&e->cfg, &e->store, err, sizeof(err)), 0, "%s", err);
    pthread_mutex_init(&e->src.lock, NULL);
    e->src.config_ok = true;
    e->src.config_ms = 1700000000999LL;
    if (sched) {
        struct agent_sched_opts so = {.cfg = &e->cfg, .store = e->store};
        cr_assert_eq(agent_sched_create(&so, &e->src.sched), 0);
        agent_sched_run_once(e->src.sched);
        struct exp_snapshot *snap = agent_sched_snapshot(e->src.sched);
        cr_assert_not_null(snap);
        e->t = exp_snapshot_timestamp(snap);
        exp_snapshot_unref(snap);
    } else {
        store_known_series(e);
    }
    cr_assert_eq(promql_engine_create(&(struct promql_engine_opts){0}, &e->engine), 0);
    struct agent_api_opts ao = {.store = e->store,
                                .engine = e->engine,
                                .source = &e->src,
                                .retention_ms = e->cfg.retention_ms,
                                .retention_bytes = e->cfg.retention_bytes};
    cr_assert_eq(agent_api_create(&ao, &e->api), 0);
}

static void env_stop(struct env *e)
{
    agent_api_destroy(e->api);
    promql_engine_destroy(e->engine);
    agent_sched_destroy(e->src.sched);
    agent_store_close(e->store);
    pthread_mutex_destroy(&e->src.lock);
    agent_config_free(&e->cfg);
    cn_remove_all(e->dir);
}

struct answer {
    unsigned code;
    char *body;
    const char *allow;
};

/* Serves method path?query through agent_api_serve. */
static struct answer serve(struct env *e, const char *method, const char *path, const char *query)
{
    struct agent_params p = {0};
    cr_assert_eq(agent_form_parse(&p, query, strlen(query)), 0);
    struct agent_api_reply r = {0};
    cn_buf_init(&r.body);
    agent_api_serve(e->api, method, path, &p, &r);
    agent_params_free(&p);
    cr_assert_eq(r.body.err, 0);
    if (r.code != 204)
        cr_assert_not_null(r.content_type);
    return (struct answer){r.code, cn_buf_steal(&r.body, NULL), r.allow};
}

static void expect(struct env *e, const char *path, const char *query, unsigned code,
                   const char *body)
{
    struct answer a = serve(e, "GET", path, query);
    cr_assert_eq(a.code, code, "%s?%s: %u %s", path, query, a.code, a.body);
    cr_assert_str_eq(a.body ? a.body : "", body, "%s?%s", path, query);
    free(a.body);
}

#define BAD(msg) "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"" msg "\"}"

Test(agent_api, query_parameter_errors)
{
    struct env e = {0};
    env_start(&e, false);
    expect(&e, "/query", "query=time()&time=x", 400,
           BAD("invalid parameter \\\"time\\\": Invalid time value for 'time': cannot parse "
               "\\\"x\\\" to a valid timestamp"));
    expect(&e, "/query", "query=1&timeout=1x", 400,
           BAD("invalid parameter \\\"timeout\\\": cannot parse \\\"1x\\\" to a valid duration"));
    expect(&e, "/query", "query=1&timeout=1e300", 400,
           BAD("invalid parameter \\\"timeout\\\": cannot parse \\\"1e300\\\" to a valid "
               "duration. It overflows int64"));
    expect(&e, "/query", "query=sum(&time=1", 400,
           BAD("invalid parameter \\\"query\\\": 1:5: parse error: unclosed left parenthesis"));
    expect(&e, "/query", "time=1", 400,
           BAD("invalid parameter \\\"query\\\": 1:1: parse error: no expression found in input"));
    expect(&e, "/query", "query=1&time=1&timeout=0", 503,
           "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out in query "
           "execution\"}");
    expect(&e, "/query_range", "query=1&start=%e2%82%ac%0a&end=1&step=1", 400,
           BAD("invalid parameter \\\"start\\\": cannot parse \\\"\xe2\x82\xac\\\\n\\\" to a "
               "valid timestamp"));
    expect(&e, "/query_range", "query=1&start=1&step=1", 400,
           BAD("invalid parameter \\\"end\\\": cannot parse \\\"\\\" to a valid timestamp"));
    expect(&e, "/query_range", "query=1&start=10&end=9&step=1", 400,
           BAD("invalid parameter \\\"end\\\": end timestamp must not be before start time"));
    expect(&e, "/query_range", "query=1&start=1&end=9", 400,
           BAD("invalid parameter \\\"step\\\": cannot parse \\\"\\\" to a valid duration"));
    expect(&e, "/query_range", "query=1&start=1&end=9&step=0", 400,
           BAD("invalid parameter \\\"step\\\": zero or negative query resolution step widths "
               "are not accepted. Try a positive integer"));
    expect(&e, "/query_range", "query=1&start=1&end=9&step=-1", 400,
           BAD("invalid parameter \\\"step\\\": zero or negative query resolution step widths "
               "are not accepted. Try a positive integer"));
    /* 11,000 points pass, one more step does not. */
    struct answer a = serve(&e, "GET", "/query_range", "query=1&start=0&end=110000&step=10");
    cr_assert_eq(a.code, 200, "%s", a.body);
    free(a.body);
    expect(&e, "/query_range", "query=1&start=0&end=110010&step=10", 400,
           BAD("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
               "query resolution (?step=XX)"));
    expect(&e, "/query_range", "query=sum(&start=1&end=9&step=1", 400,
           BAD("1:5: parse error: unclosed left parenthesis"));
    expect(&e, "/query_range", "query=1&start=1&end=9&step=1&timeout=x", 400,
           BAD("invalid parameter \\\"timeout\\\": cannot parse \\\"x\\\" to a valid duration"));
    env_stop(&e);
}

#define OK(data) "{\"status\":\"success\",\"data\":" data "}"

Test(agent_api, series_labels_values)
{
    struct env e = {0};
    env_start(&e, false);
    expect(&e, "/series", "match[]=a_total&match[]={job=\"x\"}", 200,
           OK("[{\"__name__\":\"a_total\",\"inst\":\"1\",\"job\":\"x\"},"
              "{\"__name__\":\"a_total\",\"inst\":\"1\",\"job\":\"y\"},"
              "{\"__name__\":\"a_total\",\"inst\":\"2\",\"job\":\"x\"},"
              "{\"__name__\":\"b\",\"job\":\"x\"}]"));
    expect(&e, "/series", "match[]=b&start=1700000000&end=1700000000", 200,
           OK("[{\"__name__\":\"b\",\"job\":\"x\"}]"));
    expect(&e, "/series", "match[]=b&start=1700000000.001", 200, OK("[]"));
    expect(&e, "/series", "match[]=b&end=2023-11-14T22:13:19.999Z", 200, OK("[]"));
    expect(&e, "/series", "", 400, BAD("no match[] parameter provided"));
    expect(&e, "/series", "match[]={job=~\".*\"}", 400,
           BAD("invalid parameter \\\"match[]\\\": match[] must contain at least one non-empty "
               "matcher"));
    expect(&e, "/series", "match[]=b&start=x", 400,
           BAD("invalid parameter \\\"start\\\": Invalid time value for 'start': cannot parse "
               "\\\"x\\\" to a valid timestamp"));
    expect(&e, "/series", "match[]=b&x=%zz", 400,
           BAD("error parsing form values: invalid URL escape \\\"%zz\\\""));

    expect(&e, "/labels", "", 200, OK("[\"__name__\",\"inst\",\"job\"]"));
    expect(&e, "/labels", "match[]=b&match[]=b", 200, OK("[\"__name__\",\"job\"]"));
    expect(&e, "/labels", "match[]=none", 200, OK("[]"));
    expect(&e, "/labels", "match[]={job=\"\"}", 400,
           BAD("match[] must contain at least one non-empty matcher"));
    expect(&e, "/label/job/values", "", 200, OK("[\"x\",\"y\"]"));
    expect(&e, "/label/inst/values", "match[]={job=\"y\"}&match[]=b", 200, OK("[\"1\"]"));
    expect(&e, "/label/__name__/values", "", 200, OK("[\"a_total\",\"b\"]"));
    expect(&e, "/label/nope/values", "", 200, OK("[]"));
    expect(&e, "/label/a-b/values", "", 400, BAD("invalid label name: \\\"a-b\\\""));
    env_stop(&e);
}

Test(agent_api, queries_over_the_store)
{
    struct env e = {0};
    env_start(&e, false);
    expect(&e, "/query", "query=sum by (job) (a_total)&time=1700000060", 200,
           OK("{\"resultType\":\"vector\",\"result\":["
              "{\"metric\":{\"job\":\"x\"},\"value\":[1700000060,\"3\"]},"
              "{\"metric\":{\"job\":\"y\"},\"value\":[1700000060,\"3\"]}]}"));
    /* Past the 5m lookback nothing is left. */
    expect(&e, "/query", "query=b&time=1700000300.001", 200,
           OK("{\"resultType\":\"vector\",\"result\":[]}"));
    expect(&e, "/query_range", "query=b*2&start=1699999990&end=2023-11-14T22:13:40Z&step=10s", 200,
           OK("{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"job\":\"x\"},"
              "\"values\":[[1700000000,\"8\"],[1700000010,\"8\"],[1700000020,\"8\"]]}]}"));
    expect(&e, "/query", "query=a_total%2Bon()b&time=1700000000", 422,
           "{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"multiple matches "
           "for labels: many-to-one matching must be explicit (group_left/group_right)\"}");
    env_stop(&e);
}

Test(agent_api, request_timeout)
{
    struct env e = {0};
    env_start(&e, false);
    /* Ten million subquery points: far longer than the 1 ms allowed. */
    expect(&e, "/query", "query=count_over_time(vector(1)[10000s:1ms])&time=1&timeout=0.001", 503,
           "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out in "
           "expression evaluation\"}");
    /* Cancelled queries (shutdown) say so. */
    agent_api_cancel_all(e.api);
    expect(&e, "/query", "query=1&time=1", 503,
           "{\"status\":\"error\",\"errorType\":\"canceled\",\"error\":\"query was canceled "
           "in expression evaluation\"}");
    env_stop(&e);
}

Test(agent_api, tsdb_status)
{
    struct env e = {0};
    env_start(&e, false);
    expect(&e, "/status/tsdb", "", 200,
           OK("{\"headStats\":{\"numSeries\":4,\"numLabelPairs\":6,\"chunkCount\":4,"
              "\"minTime\":1700000000000,\"maxTime\":1700000000000},"
              "\"seriesCountByMetricName\":[{\"name\":\"a_total\",\"value\":3},"
              "{\"name\":\"b\",\"value\":1}],"
              "\"labelValueCountByLabelName\":[{\"name\":\"__name__\",\"value\":2},"
              "{\"name\":\"inst\",\"value\":2},{\"name\":\"job\",\"value\":2}],"
              "\"memoryInBytesByLabelName\":[{\"name\":\"__name__\",\"value\":8},"
              "{\"name\":\"inst\",\"value\":2},{\"name\":\"job\",\"value\":2}],"
              "\"seriesCountByLabelValuePair\":[{\"name\":\"__name__=a_total\",\"value\":3},"
              "{\"name\":\"job=x\",\"value\":3},{\"name\":\"inst=1\",\"value\":2},"
              "{\"name\":\"__name__=b\",\"value\":1},{\"name\":\"inst=2\",\"value\":1},"
              "{\"name\":\"job=y\",\"value\":1}]}"));
    env_stop(&e);
}

Test(agent_api, build_and_runtime_info)
{
    struct env e = {0};
    env_start(&e, false);
    struct answer a = serve(&e, "GET", "/status/buildinfo", "");
    cr_assert_eq(a.code, 200);
    const char *head =
        "{\"status\":\"success\",\"data\":{\"version\":\"" CAIRN_VERSION "\",\"revision\":\"";
    cr_assert_eq(strncmp(a.body, head, strlen(head)), 0, "%s", a.body);
    cr_assert_not_null(strstr(a.body, "\",\"branch\":\""));
    cr_assert_not_null(strstr(a.body, "\",\"buildUser\":\""));
    cr_assert_not_null(strstr(a.body, "\",\"buildDate\":\""));
    cr_assert_not_null(strstr(a.body, "\",\"goVersion\":\""));
    free(a.body);

    a = serve(&e, "GET", "/status/runtimeinfo", "");
    cr_assert_eq(a.code, 200);
    char cwd[1024], want[1200];
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "\"CWD\":\"%s\",", cwd);
    cr_assert_not_null(strstr(a.body, want), "%s", a.body);
    cr_assert_not_null(strstr(a.body, ",\"reloadConfigSuccess\":true,\"lastConfigTime\":"
                                      "\"2023-11-14T22:13:20Z\",\"corruptionCount\":0,"),
                       "%s", a.body);
    cr_assert_not_null(strstr(a.body, ",\"storageRetention\":\"15d or 1GiB512MiB\"}}"), "%s",
                       a.body);
    cr_assert_eq(strncmp(a.body, "{\"status\":\"success\",\"data\":{\"startTime\":\"20", 39), 0,
                 "%s", a.body);
    free(a.body);
    env_stop(&e);
}

Test(agent_api, metadata_from_the_snapshot)
{
    struct env e = {0};
    env_start(&e, true);
    expect(&e, "/metadata", "metric=node_load1", 200,
           OK("{\"node_load1\":[{\"type\":\"gauge\",\"help\":\"1m load average.\","
              "\"unit\":\"\"}]}"));
    expect(&e, "/metadata", "metric=node_scrape_collector_success&limit=5", 200,
           OK("{\"node_scrape_collector_success\":[{\"type\":\"gauge\",\"help\":"
              "\"node_exporter: Whether a collector succeeded.\",\"unit\":\"\"}]}"));
    expect(&e, "/metadata", "metric=none", 200, OK("{}"));
    expect(&e, "/metadata", "limit=0", 200, OK("{}"));
    expect(&e, "/metadata", "limit=x", 400, BAD("limit must be a number"));
    /* limit counts metric names, in name order. */
    struct answer a = serve(&e, "GET", "/metadata", "limit=2");
    cr_assert_eq(a.code, 200);
    size_t names = 0;
    for (const char *p = a.body; (p = strstr(p, "\":[{")); p++)
        names++;
    cr_assert_eq(names, 2, "%s", a.body);
    free(a.body);
    /* The stored cycle is queryable at its timestamp. */
    char q[128], body[512];
    snprintf(q, sizeof(q), "query=node_load15&time=%lld.%03lld", (long long)(e.t / 1000),
             (long long)(e.t % 1000));
    snprintf(body, sizeof(body),
             OK("{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":"
                "\"node_load15\"},\"value\":[%lld.%03lld,\"0.42\"]}]}"),
             (long long)(e.t / 1000), (long long)(e.t % 1000));
    if (e.t % 1000 == 0) /* whole seconds are written without decimals */
        snprintf(body, sizeof(body),
                 OK("{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":"
                    "\"node_load15\"},\"value\":[%lld,\"0.42\"]}]}"),
                 (long long)(e.t / 1000));
    expect(&e, "/query", q, 200, body);
    env_stop(&e);
}

Test(agent_api, routes_and_methods)
{
    struct env e = {0};
    env_start(&e, false);
    struct answer a = serve(&e, "GET", "/nope", "");
    cr_assert_eq(a.code, 404);
    cr_assert_str_eq(a.body, "404 page not found\n");
    free(a.body);
    a = serve(&e, "GET", "/label//values", "");
    cr_assert_eq(a.code, 404);
    free(a.body);
    a = serve(&e, "GET", "/label/a/b/values", "");
    cr_assert_eq(a.code, 404);
    free(a.body);
    a = serve(&e, "DELETE", "/query", "");
    cr_assert_eq(a.code, 405);
    cr_assert_str_eq(a.allow, "GET, POST, OPTIONS");
    free(a.body);
    a = serve(&e, "POST", "/label/job/values", "");
    cr_assert_eq(a.code, 405);
    cr_assert_str_eq(a.allow, "GET, OPTIONS");
    free(a.body);
    a = serve(&e, "POST", "/status/tsdb", "");
    cr_assert_eq(a.code, 405);
    free(a.body);
    a = serve(&e, "OPTIONS", "/anything", "");
    cr_assert_eq(a.code, 204);
    cr_assert_null(a.body);
    a = serve(&e, "POST", "/labels", "match[]=b");
    cr_assert_eq(a.code, 200);
    cr_assert_str_eq(a.body, OK("[\"__name__\",\"job\"]"));
    free(a.body);
    env_stop(&e);
}

/* ---- through the HTTP server --------------------------------------------------------- */

struct http_reply {
    long code;
    struct cn_buf body, head;
};

static size_t collect(char *d, size_t size, size_t n, void *ctx)
{
    cn_buf_append(ctx, d, size * n);
    return size * n;
}

/* method on path; a POST sends form as its form-encoded body. */
static struct http_reply request(unsigned port, const char *method, const char *path,
                                 const char *form, const char *header)
{
    struct http_reply r = {0};
    cn_buf_init(&r.body);
    cn_buf_init(&r.head);
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    cr_assert_not_null(c);
    struct curl_slist *hl = header ? curl_slist_append(NULL, header) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (form)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.head);
    cr_assert_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    cn_buf_cstr(&r.body);
    cn_buf_cstr(&r.head);
    return r;
}

static void reply_free(struct http_reply *r)
{
    cn_buf_free(&r->body);
    cn_buf_free(&r->head);
}

Test(agent_api, over_http)
{
    struct env e = {0};
    env_start(&e, false);
    struct agent_http_stats *stats = agent_http_stats_create();
    struct agent_http_opts ho = {.listen_address = "127.0.0.1:0",
                                 .telemetry_path = "/metrics",
                                 .max_requests = 40,
                                 .source = &e.src,
                                 .stats = stats,
                                 .api = e.api};
    struct agent_http *h;
    char err[256] = "";
    cr_assert_eq(agent_http_start(&ho, &h, err, sizeof(err)), 0, "%s", err);
    unsigned port = agent_http_port(h);
    const char *want = OK("{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":"
                          "\"x\"},\"value\":[1700000000,\"4\"]}]}");

    /* GET with the query string; '+' is a space and %XX decoded. */
    struct http_reply r = request(
        port, "GET", "/api/v1/query?query=sum+by%28job%29%28b%29&time=1700000000", NULL, NULL);
    cr_assert_eq(r.code, 200);
    cr_assert_str_eq(r.body.data, want);
    cr_assert_not_null(strstr(r.head.data, "Content-Type: application/json\r\n"));
    cr_assert_null(strstr(r.head.data, "Access-Control-Allow-Origin"));
    reply_free(&r);
    /* POST with a form body; the body wins over the query string. */
    r = request(port, "POST", "/api/v1/query?query=nope", "query=sum+by(job)(b)&time=1700000000",
                NULL);
    cr_assert_eq(r.code, 200);
    cr_assert_str_eq(r.body.data, want);
    reply_free(&r);
    /* A body that is not a form is not read. */
    r = request(port, "POST", "/api/v1/query?query=sum+by(job)(b)&time=1700000000", "query=x",
                "Content-Type: text/plain");
    cr_assert_eq(r.code, 200);
    cr_assert_str_eq(r.body.data, want);
    reply_free(&r);
    /* Errors, with CORS headers for a browser. */
    r = request(port, "GET", "/api/v1/query?query=sum(", NULL, "Origin: http://example.com");
    cr_assert_eq(r.code, 400);
    cr_assert_str_eq(r.body.data, BAD("invalid parameter \\\"query\\\": 1:5: parse error: "
                                      "unclosed left parenthesis"));
    cr_assert_not_null(strstr(r.head.data, "Access-Control-Allow-Origin: *\r\n"));
    reply_free(&r);
    r = request(port, "PUT", "/api/v1/series", NULL, NULL);
    cr_assert_eq(r.code, 405);
    cr_assert_not_null(strstr(r.head.data, "Allow: GET, POST, OPTIONS\r\n"));
    reply_free(&r);
    r = request(port, "GET", "/api/v1/nope", NULL, NULL);
    cr_assert_eq(r.code, 404);
    reply_free(&r);
    r = request(port, "GET", "/api/v1/label/job/values", NULL, NULL);
    cr_assert_eq(r.code, 200);
    cr_assert_str_eq(r.body.data, OK("[\"x\",\"y\"]"));
    reply_free(&r);
    /* Counted by handler. */
    struct exp_builder *b = exp_builder_create();
    agent_http_stats_export(stats, b);
    exp_builder_finish(b);
    struct cn_buf text;
    cn_buf_init(&text);
    size_t nf;
    struct exp_family *const *f = exp_builder_families(b, &nf);
    exp_encode(&text, f, nf, EXP_FMT_TEXT);
    cr_assert_not_null(
        strstr(cn_buf_cstr(&text),
               "cairn_http_requests_total{code=\"200\",handler=\"/api/v1/query\"} 3"),
        "%s", text.data);
    cr_assert_not_null(strstr(cn_buf_cstr(&text), "cairn_http_requests_total{code=\"200\","
                                                  "handler=\"/api/v1/label/:name/values\"} 1"));
    cn_buf_free(&text);
    exp_builder_unref(b);
    agent_http_stop(h);
    agent_http_stats_destroy(stats);
    env_stop(&e);
}
