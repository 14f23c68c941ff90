/*
 * Tests of exp_parse_text(). The accept/reject decisions and most messages
 * are those of Prometheus' expfmt text parser as embedded in promtool 2.42
 * (`promtool check metrics`), which every case here was run through. We
 * differ on purpose in three places, marked where they are tested: NUL bytes
 * in label values and HELP, non-UTF-8 HELP text (promparse refuses it too)
 * and the gauge_histogram type.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "exporter/exporter.h"

#define SAMPLE CAIRN_SOURCE_DIR "/../shared/fixtures/prometheus-exposition-sample.txt"

struct parsed {
    int rc;
    struct exp_parse_error err;
    struct exp_builder *b; /* finished */
    char *text;            /* text encoding (malloc'd), "" on error */
};

static struct parsed parse_n(const char *data, size_t len)
{
    struct parsed p = {0};
    p.b = exp_builder_create();
    cr_assert_not_null(p.b);
    memset(&p.err, 0x55, sizeof(p.err));
    p.rc = exp_parse_text(data, len, p.b, &p.err);
    exp_builder_finish(p.b);
    struct cn_buf out;
    cn_buf_init(&out);
    if (p.rc == 0) {
        size_t n;
        struct exp_family *const *fams = exp_builder_families(p.b, &n);
        exp_encode(&out, fams, n, EXP_FMT_TEXT);
    }
    p.text = strdup(cn_buf_cstr(&out));
    cn_buf_free(&out);
    return p;
}

static struct parsed parse(const char *data)
{
    return parse_n(data, strlen(data));
}

static void parsed_free(struct parsed *p)
{
    exp_builder_unref(p->b);
    free(p->text);
}

static const struct exp_family *family(const struct parsed *p, const char *name)
{
    size_t n;
    struct exp_family *const *fams = exp_builder_families(p->b, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(fams[i]->name, name) == 0)
            return fams[i];
    return NULL;
}

static size_t nfamilies(const struct parsed *p)
{
    size_t n;
    exp_builder_families(p->b, &n);
    return n;
}

/* Asserts that data parses to exactly `text` in the text format. */
static void expect_text(const char *data, const char *text)
{
    struct parsed p = parse(data);
    cr_assert_eq(p.rc, 0, "line %d: %s", p.err.line, p.err.msg);
    cr_assert_str_eq(p.text, text);
    parsed_free(&p);
}

/* Asserts that data is refused at `line` with exactly `msg`. */
static void expect_error_n(const char *data, size_t len, int line, const char *msg)
{
    struct parsed p = parse_n(data, len);
    cr_assert_eq(p.rc, -EINVAL, "accepted: %s", data);
    cr_assert_eq(p.err.line, line, "line %d: %s", p.err.line, p.err.msg);
    cr_assert_str_eq(p.err.msg, msg);
    parsed_free(&p);
}

static void expect_error(const char *data, int line, const char *msg)
{
    expect_error_n(data, strlen(data), line, msg);
}

/* ---- the real sample ----------------------------------------------------- */

Test(exporter_parse, real_sample)
{
    /*
     * A scrape of Prometheus 1.x. It ends with the OpenMetrics terminator
     * "# EOF", which the 0.0.4 parsers take for a plain comment: expfmt
     * (promtool check metrics accepts the file) and promparse, whose lexer
     * turns "#" + blanks + anything but HELP/TYPE into a comment token.
     */
    struct cn_buf in;
    cn_buf_init(&in);
    cr_assert_eq(cn_read_file_buf(SAMPLE, &in, 1 << 20), 0, "cannot read %s", SAMPLE);
    struct parsed p = parse_n(in.data, in.len);
    cr_assert_eq(p.rc, 0, "line %d: %s", p.err.line, p.err.msg);
    cr_assert_eq(nfamilies(&p), 59);

    const struct exp_family *f = family(&p, "go_gc_duration_seconds");
    cr_assert_not_null(f);
    cr_assert_eq(f->type, EXP_SUMMARY);
    cr_assert_str_eq(f->help, "A summary of the GC invocation durations.");
    cr_assert_eq(f->nseries, 1);
    cr_assert_eq(f->series[0].nlabels, 0);
    cr_assert_eq(f->series[0].nbuckets, 5);
    cr_assert_eq(f->series[0].buckets[0].upper, 0);
    cr_assert_eq(f->series[0].buckets[0].count, 4.9351e-05);
    cr_assert_eq(f->series[0].buckets[1].upper, 0.25);
    cr_assert_eq(f->series[0].buckets[1].count, 7.424100000000001e-05);
    cr_assert_eq(f->series[0].buckets[4].upper, 1);
    cr_assert_eq(f->series[0].buckets[4].count, 0.002072195);
    cr_assert_eq(f->series[0].sum, 0.012139815);
    cr_assert_eq(f->series[0].count, 99);

    f = family(&p, "http_request_duration_microseconds");
    cr_assert_not_null(f);
    cr_assert_eq(f->type, EXP_SUMMARY);
    cr_assert_eq(f->nseries, 19); /* one per handler */
    cr_assert_str_eq(f->series[0].labels[0].name, "handler");
    cr_assert_str_eq(f->series[0].labels[0].value, "alerts");
    cr_assert(isnan(f->series[0].buckets[0].count));
    const struct exp_series *s = NULL;
    for (uint32_t i = 0; i < f->nseries; i++)
        if (strcmp(f->series[i].labels[0].value, "prometheus") == 0)
            s = &f->series[i];
    cr_assert_not_null(s);
    cr_assert_eq(s->nbuckets, 3);
    cr_assert_eq(s->buckets[2].upper, 0.99);
    cr_assert_eq(s->buckets[2].count, 2833.523);
    cr_assert_eq(s->sum, 661851.54);
    cr_assert_eq(s->count, 462);

    f = family(&p, "http_requests_total");
    cr_assert_eq(f->type, EXP_COUNTER);
    cr_assert_eq(f->nseries, 5);
    cr_assert_eq(f->series[0].nlabels, 3);

    f = family(&p, "prometheus_build_info");
    cr_assert_eq(f->type, EXP_GAUGE);
    cr_assert_eq(f->series[0].nlabels, 4);
    cr_assert_str_eq(f->series[0].labels[0].name, "branch");
    cr_assert_str_eq(f->series[0].labels[0].value, "");
    cr_assert_str_eq(f->series[0].labels[1].value, "go1.7.3");
    cr_assert_eq(f->series[0].value, 1);

    f = family(&p, "prometheus_target_interval_length_seconds");
    cr_assert_eq(f->series[0].sum, 34.512091221999995);
    cr_assert_eq(f->series[0].count, 685);
    cr_assert_eq(family(&p, "go_memstats_last_gc_time_seconds")->series[0].value,
                 1.4843955586166437e+09);
    cr_assert_null(family(&p, "EOF"));

    /* The file is sorted as our encoder writes: it must come back byte for
     * byte, minus the "# EOF" line. */
    const char *eof = strstr(in.data, "# EOF\n");
    cr_assert_not_null(eof);
    cr_assert_eq((size_t)(eof - in.data) + 6, in.len);
    cr_assert_eq(strlen(p.text), (size_t)(eof - in.data));
    cr_assert_eq(memcmp(p.text, in.data, strlen(p.text)), 0);
    parsed_free(&p);
    cn_buf_free(&in);
}

/* ---- accepted input ------------------------------------------------------------- */

Test(exporter_parse, empty_and_blank_input)
{
    expect_text("", "");
    expect_text("\n\n  \t\n", "");
    expect_text("  ", ""); /* a blank last line needs no newline */
    struct parsed p = parse_n(NULL, 0);
    cr_assert_eq(p.rc, 0);
    cr_assert_eq(nfamilies(&p), 0);
    parsed_free(&p);
}

Test(exporter_parse, untyped_without_type_and_help)
{
    expect_text("a 1\n", "# TYPE a untyped\na 1\n");
    struct parsed p = parse("a 1\n");
    cr_assert_str_eq(family(&p, "a")->help, "");
    cr_assert_eq(family(&p, "a")->type, EXP_UNTYPED);
    parsed_free(&p);
}

Test(exporter_parse, help_and_type)
{
    expect_text("# HELP req_total Requests.\n# TYPE req_total counter\nreq_total 7\n",
                "# HELP req_total Requests.\n# TYPE req_total counter\nreq_total 7\n");
    /* Order does not matter, the keywords need no blank after '#', the
     * type is case-insensitive, HELP keeps trailing blanks. */
    struct parsed p = parse("#TYPE g GAUGE\n\t#  HELP g \t hello  \ng 1\n");
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    cr_assert_eq(family(&p, "g")->type, EXP_GAUGE);
    cr_assert_str_eq(family(&p, "g")->help, "hello  ");
    parsed_free(&p);
    /* HELP may come after the samples (TYPE may not). */
    p = parse("x 1\n# HELP x late help\n");
    cr_assert_str_eq(family(&p, "x")->help, "late help");
    parsed_free(&p);
}

Test(exporter_parse, help_escapes)
{
    struct parsed p = parse("# HELP h a \\\\ b\\nc \"q\"\nh 1\n");
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    cr_assert_str_eq(family(&p, "h")->help, "a \\ b\nc \"q\"");
    parsed_free(&p);
}

Test(exporter_parse, comments_and_incomplete_metadata_are_ignored)
{
    /* Plain comments, and HELP/TYPE lines that stop after the keyword or the
     * name, as expfmt treats them. */
    expect_text("# just a comment\n#\n# HELP\n# HELP a\n# TYPE a\n# TYPE a \na 1\n",
                "# TYPE a untyped\na 1\n");
}

Test(exporter_parse, type_keyword_ignores_backslashes)
{
    /* expfmt reads the type with its escape-less reader, which drops '\\'. */
    struct parsed p = parse("# TYPE c coun\\ter\nc 1\n");
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    cr_assert_eq(family(&p, "c")->type, EXP_COUNTER);
    parsed_free(&p);
}

Test(exporter_parse, families_without_samples_are_dropped)
{
    struct parsed p = parse("# HELP lonely Nobody.\n# TYPE lonely gauge\nother 1\n");
    cr_assert_eq(p.rc, 0);
    cr_assert_eq(nfamilies(&p), 1);
    cr_assert_null(family(&p, "lonely"));
    parsed_free(&p);
}

Test(exporter_parse, labels_and_escapes)
{
    struct parsed p = parse("m{path=\"C:\\\\dir\",msg=\"say \\\"hi\\\"\\nbye\",empty=\"\"} 1\n");
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    const struct exp_series *s = &family(&p, "m")->series[0];
    cr_assert_eq(s->nlabels, 3);
    cr_assert_str_eq(s->labels[0].name, "empty");
    cr_assert_str_eq(s->labels[0].value, "");
    cr_assert_str_eq(s->labels[1].name, "msg");
    cr_assert_str_eq(s->labels[1].value, "say \"hi\"\nbye");
    cr_assert_str_eq(s->labels[2].name, "path");
    cr_assert_str_eq(s->labels[2].value, "C:\\dir");
    parsed_free(&p);
    /* UTF-8 label values, names with ':' and '_'. */
    expect_text("ns:m_1{_l=\"h\xc3\xa9llo \xe2\x82\xac\"} 2\n",
                "# TYPE ns:m_1 untyped\nns:m_1{_l=\"h\xc3\xa9llo \xe2\x82\xac\"} 2\n");
}

Test(exporter_parse, blanks_and_trailing_comma)
{
    expect_text("  m  {  a = \"1\" ,\tb=\"2\" , }  3 \t 1000\n",
                "# TYPE m untyped\nm{a=\"1\",b=\"2\"} 3 1000\n");
    expect_text("m{} 1\nn{a=\"x\"}2\n", "# TYPE m untyped\nm 1\n# TYPE n untyped\nn{a=\"x\"} 2\n");
}

Test(exporter_parse, values)
{
    struct parsed p = parse("a NaN\nb +Inf\nc -Inf\nd Inf\ne infinity\nf -42\ng 1.5e3\n"
                            "h .5\ni 5.\nj 1E-3\nk +7\nl nan\nm 1e-400\nn 0x\n");
    cr_assert_eq(p.rc, -EINVAL);
    cr_assert_eq(p.err.line, 14);
    cr_assert_str_eq(p.err.msg, "expected float as value, got \"0x\"");
    parsed_free(&p);
    p = parse("a NaN\nb +Inf\nc -Inf\nd Inf\ne infinity\nf -42\ng 1.5e3\n"
              "h .5\ni 5.\nj 1E-3\nk +7\nl nan\nm 1e-400\nn -0\n");
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    cr_assert(isnan(family(&p, "a")->series[0].value));
    cr_assert(isinf(family(&p, "b")->series[0].value) && family(&p, "b")->series[0].value > 0);
    cr_assert(isinf(family(&p, "c")->series[0].value) && family(&p, "c")->series[0].value < 0);
    cr_assert(isinf(family(&p, "d")->series[0].value) && family(&p, "d")->series[0].value > 0);
    cr_assert(isinf(family(&p, "e")->series[0].value) && family(&p, "e")->series[0].value > 0);
    cr_assert_eq(family(&p, "f")->series[0].value, -42);
    cr_assert_eq(family(&p, "g")->series[0].value, 1500);
    cr_assert_eq(family(&p, "h")->series[0].value, 0.5);
    cr_assert_eq(family(&p, "i")->series[0].value, 5);
    cr_assert_eq(family(&p, "j")->series[0].value, 0.001);
    cr_assert_eq(family(&p, "k")->series[0].value, 7);
    cr_assert(isnan(family(&p, "l")->series[0].value));
    cr_assert_eq(family(&p, "m")->series[0].value, 0); /* underflow is fine */
    cr_assert(signbit(family(&p, "n")->series[0].value));
    parsed_free(&p);
}

Test(exporter_parse, timestamps)
{
    struct parsed p = parse("a 1 1395066363000\nb 2 -5\nc 3 +9223372036854775807\n"
                            "d 4 -9223372036854775808\ne 5\n");
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    cr_assert_eq(family(&p, "a")->series[0].timestamp_ms, 1395066363000);
    cr_assert_eq(family(&p, "b")->series[0].timestamp_ms, -5);
    cr_assert_eq(family(&p, "c")->series[0].timestamp_ms, INT64_MAX);
    cr_assert_eq(family(&p, "d")->series[0].timestamp_ms, INT64_MIN);
    cr_assert_eq(family(&p, "e")->series[0].timestamp_ms, 0);
    parsed_free(&p);
}

Test(exporter_parse, histogram)
{
    struct parsed p = parse("# HELP lat Latency.\n"
                            "# TYPE lat histogram\n"
                            "lat_bucket{path=\"/\",le=\"1\"} 5\n"
                            "lat_bucket{le=\"0.5\",path=\"/\"} 2\n"
                            "lat_bucket{path=\"/\",le=\"+Inf\"} 6\n"
                            "lat_bucket{path=\"/x\",le=\"1\"} 1\n"
                            "lat_sum{path=\"/\"} 3.25\n"
                            "lat_count{path=\"/\"} 6\n"
                            "lat_bucket{path=\"/\",le=\"1\"} 4\n" /* the last one wins */
                            "lat_count{path=\"/x\"} 1 1700000000000\n");
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    cr_assert_eq(nfamilies(&p), 1);
    const struct exp_family *f = family(&p, "lat");
    cr_assert_eq(f->type, EXP_HISTOGRAM);
    cr_assert_str_eq(f->help, "Latency.");
    cr_assert_eq(f->nseries, 2);
    const struct exp_series *s = &f->series[0];
    cr_assert_eq(s->nlabels, 1); /* le is not a label of the series */
    cr_assert_str_eq(s->labels[0].value, "/");
    cr_assert_eq(s->nbuckets, 3);
    cr_assert_eq(s->buckets[0].upper, 0.5);
    cr_assert_eq(s->buckets[0].count, 2);
    cr_assert_eq(s->buckets[1].upper, 1);
    cr_assert_eq(s->buckets[1].count, 4);
    cr_assert(isinf(s->buckets[2].upper));
    cr_assert_eq(s->buckets[2].count, 6);
    cr_assert_eq(s->sum, 3.25);
    cr_assert_eq(s->count, 6);
    cr_assert_eq(s->timestamp_ms, 0);
    s = &f->series[1];
    cr_assert_str_eq(s->labels[0].value, "/x");
    cr_assert_eq(s->nbuckets, 1);
    cr_assert_eq(s->sum, 0);
    cr_assert_eq(s->count, 1);
    cr_assert_eq(s->timestamp_ms, 1700000000000);
    parsed_free(&p);
}

Test(exporter_parse, summary)
{
    expect_text("# TYPE rpc summary\n"
                "rpc{quantile=\"0.99\",svc=\"a\"} 9\n"
                "rpc{svc=\"a\",quantile=\"0.5\"} 5\n"
                "rpc_sum{svc=\"a\"} 100\n"
                "rpc_count{svc=\"a\"} 20\n"
                "rpc{svc=\"b\",quantile=\"0.5\"} NaN\n",
                "# TYPE rpc summary\n"
                "rpc{svc=\"a\",quantile=\"0.5\"} 5\n"
                "rpc{svc=\"a\",quantile=\"0.99\"} 9\n"
                "rpc_sum{svc=\"a\"} 100\n"
                "rpc_count{svc=\"a\"} 20\n"
                "rpc{svc=\"b\",quantile=\"0.5\"} NaN\n"
                "rpc_sum{svc=\"b\"} 0\n"
                "rpc_count{svc=\"b\"} 0\n");
}

Test(exporter_parse, le_and_quantile_are_plain_labels_elsewhere)
{
    /* Only a histogram's le and a summary's quantile are special; _sum and
     * _count of an untyped family are families of their own. */
    expect_text("g{le=\"x\",quantile=\"y\"} 1\nu_sum 2\nu_count 3\n",
                "# TYPE g untyped\ng{le=\"x\",quantile=\"y\"} 1\n"
                "# TYPE u_count untyped\nu_count 3\n# TYPE u_sum untyped\nu_sum 2\n");
    /* A _sum seen before its family's TYPE stays a family of its own, and
     * later f_sum lines still go there (expfmt looks the exact name up
     * first); the builder then keeps the first of the two f_sum samples. */
    expect_text("f_sum 1\n# TYPE f summary\nf_sum 2\nf{quantile=\"0.5\"} 3\n",
                "# TYPE f summary\nf{quantile=\"0.5\"} 3\nf_sum 0\nf_count 0\n"
                "# TYPE f_sum untyped\nf_sum 1\n");
}

Test(exporter_parse, family_may_reappear_after_other_families)
{
    /* expfmt merges the samples of a family that comes back (promtool
     * accepts this input), and so does node_exporter's textfile collector. */
    struct parsed p = parse("# TYPE a gauge\na{x=\"1\"} 1\nb 2\na{x=\"2\"} 3\n");
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    cr_assert_eq(family(&p, "a")->nseries, 2);
    cr_assert_eq(family(&p, "a")->type, EXP_GAUGE);
    parsed_free(&p);
}

Test(exporter_parse, null_error_pointer)
{
    struct exp_builder *b = exp_builder_create();
    cr_assert_eq(exp_parse_text("a{", 2, b, NULL), -EINVAL);
    exp_builder_unref(b);
}

Test(exporter_parse, long_lines_and_many_labels)
{
    /* A 1 MiB label value and 5000 labels on one line: no recursion, no
     * fixed-size buffers. */
    size_t n = 1 << 20;
    char *data = malloc(n + 64);
    cr_assert_not_null(data);
    int o = sprintf(data, "big{v=\"");
    memset(data + o, 'x', n);
    strcpy(data + o + n, "\"} 1\n");
    struct parsed p = parse(data);
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    cr_assert_eq(strlen(family(&p, "big")->series[0].labels[0].value), n);
    parsed_free(&p);
    free(data);

    struct cn_buf in;
    cn_buf_init(&in);
    cn_buf_puts(&in, "wide{");
    for (int i = 0; i < 5000; i++)
        cn_buf_printf(&in, "l%d=\"%d\",", i, i);
    cn_buf_puts(&in, "} 1\n");
    p = parse(cn_buf_cstr(&in));
    cr_assert_eq(p.rc, 0, "%s", p.err.msg);
    cr_assert_eq(family(&p, "wide")->series[0].nlabels, 5000);
    parsed_free(&p);
    cn_buf_free(&in);
}

/* ---- refused input ------------------------------------------------------------------ */

Test(exporter_parse, duplicate_type_and_help)
{
    expect_error("# TYPE a gauge\n# HELP a x\n# TYPE a counter\na 1\n", 3,
                 "second TYPE line for metric name \"a\", or TYPE reported after samples");
    expect_error("# HELP a x\n\n# HELP a y\n", 3, "second HELP line for metric name \"a\"");
    /* A summary's name_count line belongs to the summary. */
    expect_error("# TYPE s summary\ns_count 1\n# HELP s_count x\n# HELP s y\n", 4,
                 "second HELP line for metric name \"s\"");
}

Test(exporter_parse, type_after_samples)
{
    expect_error("a 1\n# TYPE a gauge\n", 2,
                 "second TYPE line for metric name \"a\", or TYPE reported after samples");
}

Test(exporter_parse, unknown_type)
{
    expect_error("# TYPE a foo\n", 1, "unknown metric type \"foo\"");
    expect_error("# TYPE a gauge \n", 1, "unknown metric type \"gauge \"");
    /* expfmt knows gauge_histogram; the builder has no such type. */
    expect_error("# TYPE a gauge_histogram\n", 1, "unknown metric type \"gauge_histogram\"");
}

Test(exporter_parse, invalid_names)
{
    expect_error("1a 1\n", 1, "invalid metric name");
    expect_error("{a=\"1\"} 1\n", 1, "invalid metric name");
    expect_error("# HELP a-b x\n", 1, "invalid metric name in comment");
    expect_error("a{1x=\"1\"} 1\n", 1, "invalid label name for metric \"a\"");
    expect_error("a{x=\"1\",,y=\"2\"} 1\n", 1, "invalid label name for metric \"a\"");
    expect_error("a{__name__=\"b\"} 1\n", 1, "label name \"__name__\" is reserved");
    expect_error("a{x:y=\"1\"} 1\n", 1, "expected '=' after label name, found \":\"");
    expect_error("a{x=\"1\",x=\"2\"} 1\n", 1, "duplicate label names for metric \"a\"");
}

Test(exporter_parse, unterminated_label_value)
{
    expect_error("ok 1\na{x=\"1} 1\n", 2, "label value \"1} 1\" contains unescaped new-line");
    expect_error("a{x=1} 1\n", 1, "expected '\"' at start of label value, found \"1\"");
    expect_error("a{x=\"1\" y=\"2\"} 1\n", 1, "unexpected end of label value \"1\"");
    expect_error("a{x=\"1\"\n", 1, "unexpected end of label value \"1\"");
    expect_error("a{x=\"\\t\"} 1\n", 1, "invalid escape sequence '\\t'");
}

Test(exporter_parse, error_after_long_label_values)
{
    /* Regression (found by parse_fuzz): the message quoted a label value
     * through a pointer into a buffer that had just been reallocated. Every
     * length crosses the buffer's growth points; ASan watches the reads. */
    char line[700], want[128];
    for (int n = 1; n < 600; n++) {
        int o = sprintf(line, "a{l=\"");
        memset(line + o, 'v', (size_t)n);
        strcpy(line + o + n, "\" x} 1\n");
        struct parsed p = parse(line);
        cr_assert_eq(p.rc, -EINVAL);
        snprintf(want, sizeof(want), "unexpected end of label value \"%.*s\"%s", n < 48 ? n : 48,
                 line + o, n > 48 ? "..." : "");
        cr_assert_str_eq(p.err.msg, want);
        parsed_free(&p);
    }
}

Test(exporter_parse, missing_value)
{
    expect_error("a\n", 1, "expected float as value, got \"\"");
    expect_error("a{x=\"1\"} \n", 1, "expected float as value, got \"\"");
}

Test(exporter_parse, bad_values)
{
    expect_error("a 1,5\n", 1, "expected float as value, got \"1,5\"");
    expect_error("a 0x10\n", 1, "expected float as value, got \"0x10\"");
    expect_error("a 1_000\n", 1, "expected float as value, got \"1_000\"");
    expect_error("a +NaN\n", 1, "expected float as value, got \"+NaN\"");
    expect_error("a 1e309\n", 1, "expected float as value, got \"1e309\"");
    expect_error("a 1\r\n", 1, "expected float as value, got \"1\\r\"");
}

Test(exporter_parse, garbage_after_value)
{
    expect_error("a 1 x\n", 1, "expected integer as timestamp, got \"x\"");
    expect_error("a 1 1.5\n", 1, "expected integer as timestamp, got \"1.5\"");
    expect_error("a 1 9223372036854775808\n", 1,
                 "expected integer as timestamp, got \"9223372036854775808\"");
    expect_error("a 1 2 3\n", 1, "spurious string after timestamp: \" 3\"");
    /* expfmt does not allow blanks at the end of a sample line. */
    expect_error("a 1 \n", 1, "expected integer as timestamp, got \"\"");
    expect_error("a 1 2\t\n", 1, "spurious string after timestamp: \"\\t\"");
}

Test(exporter_parse, non_utf8)
{
    expect_error("a{x=\"\xff\"} 1\n", 1, "invalid label value \"\\xff\": not valid UTF-8");
    /* overlong '/', and a UTF-16 surrogate */
    expect_error("a{x=\"\xc0\xaf\"} 1\n", 1, "invalid label value \"\\xc0\\xaf\": not valid UTF-8");
    expect_error("a{x=\"\xed\xa0\x80\"} 1\n", 1,
                 "invalid label value \"\\xed\\xa0\\x80\": not valid UTF-8");
    /* expfmt lets this through; promparse, and we, do not. */
    expect_error("# HELP a \xe2\x82\n", 1, "HELP text for metric name \"a\" is not valid UTF-8");
}

Test(exporter_parse, nul_bytes)
{
    /* expfmt accepts NUL bytes; the builder's C strings cannot hold them. */
    expect_error_n("a{x=\"1\0\"} 1\n", 12, 1, "label value for metric \"a\" contains a NUL byte");
    expect_error_n("# HELP a x\0y\na 1\n", 17, 1,
                   "HELP text for metric name \"a\" contains a NUL byte");
    expect_error_n("a 1\n\0\n", 6, 2, "invalid metric name");
}

Test(exporter_parse, invalid_le_and_quantile)
{
    expect_error("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", 2,
                 "expected float as value for 'le' label, got \"x\"");
    expect_error("# TYPE s summary\ns{quantile=\"\"} 1\n", 2,
                 "expected float as value for 'quantile' label, got \"\"");
}

Test(exporter_parse, unterminated_last_line)
{
    expect_error("a 1\nb 2", 2, "unexpected end of input stream");
    expect_error("# HELP a x", 1, "unexpected end of input stream");
    expect_error("# a comment", 1, "unexpected end of input stream");
    expect_error("a 1 5", 1, "unexpected end of input stream");
}

Test(exporter_parse, help_escapes_are_checked)
{
    expect_error("# HELP a x\\y\n", 1, "invalid escape sequence '\\y'");
    expect_error("# HELP a x\\\n", 1, "invalid escape sequence '\\' at end of line");
}

Test(exporter_parse, error_line_counts_every_line)
{
    expect_error("# HELP a x\n\n# comment\n  \na 1\nb{\n", 6,
                 "invalid label name for metric \"b\"");
}
