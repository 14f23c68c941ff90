/*
 * Tests of the text 0.0.4 and OpenMetrics 1.0.0 encoders (exporter/encode.c).
 * Expected number formats are Go's strconv.FormatFloat(v, 'g', -1, 64) and
 * expfmt's output; the shortest-digit expectations were cross-checked with
 * Python's repr(), which picks the same shortest round-trip digits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "exporter/exporter.h"

static char *encode_builder(struct exp_builder *b, enum exp_format fmt)
{
    exp_builder_finish(b);
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    struct cn_buf out;
    cn_buf_init(&out);
    exp_encode(&out, fams, n, fmt);
    cr_assert_eq(out.err, 0);
    char *s = strdup(cn_buf_cstr(&out));
    cn_buf_free(&out);
    return s;
}

static void expect_encoding(struct exp_builder *b, const char *text, const char *om)
{
    char *t = encode_builder(b, EXP_FMT_TEXT);
    char *o = encode_builder(b, EXP_FMT_OPENMETRICS);
    cr_assert_str_eq(t, text);
    cr_assert_str_eq(o, om);
    free(t);
    free(o);
}

static void expect_double(double v, const char *want)
{
    char buf[40];
    size_t n = exp_format_double(buf, v);
    cr_assert_str_eq(buf, want, "value %a", v);
    cr_assert_eq(n, strlen(want));
}

/* ---- numbers ----------------------------------------------------------------- */

Test(exporter_encode, format_double_as_go)
{
    expect_double(0, "0");
    expect_double(-0.0, "-0");
    expect_double(1, "1");
    expect_double(-1.5, "-1.5");
    expect_double(0.1, "0.1");
    expect_double(0.1 + 0.2, "0.30000000000000004");
    expect_double(1e-05, "1e-05");
    expect_double(0.0001, "0.0001");
    expect_double(0.000123, "0.000123");
    expect_double(123456, "123456");
    expect_double(100000, "100000");
    expect_double(1e6, "1e+06");
    expect_double(1234567, "1.234567e+06");
    expect_double(2.0966817792e+10, "2.0966817792e+10");
    expect_double(123456789, "1.23456789e+08");
    expect_double(9007199254740992.0, "9.007199254740992e+15");
    expect_double(18446744073709551615.0, "1.8446744073709552e+19");
    expect_double(1e21, "1e+21");
    expect_double(1.7976931348623157e+308, "1.7976931348623157e+308");
    expect_double(2.2250738585072014e-308, "2.2250738585072014e-308");
    expect_double(1.4843955586166437e+09, "1.4843955586166437e+09");
    expect_double(NAN, "NaN");
    expect_double(INFINITY, "+Inf");
    expect_double(-INFINITY, "-Inf");
}

/*
 * BUG in exp_format_double (encode.c, shortest_digits): the search starts at
 * 15 significant digits and only tries the correctly rounded candidate of
 * each length. Subnormals have fewer significant bits, so 15 digits already
 * round-trip where Go prints fewer ("4.94065645841247e-324" instead of
 * "5e-324"); and next to a power of two, where the interval that rounds to v
 * is narrower below v, the nearest 16-digit decimal can miss while the one
 * on the other side round-trips, so 17 digits come out where Go prints 16
 * (2^-24: "5.9604644775390625e-08" instead of "5.960464477539063e-08").
 * Enable when encode.c is fixed (see the report that came with this file).
 */
Test(exporter_encode, format_double_subnormals_and_powers_of_two)
{
    expect_double(5e-324, "5e-324");
    expect_double(-5e-324, "-5e-324");
    expect_double(1e-320, "1e-320");
    expect_double(2.225073858507201e-308, "2.225073858507201e-308"); /* largest subnormal */
    expect_double(0x1p-24, "5.960464477539063e-08");
    expect_double(0x1p-44, "5.684341886080802e-14");
    expect_double(0x1p89, "6.189700196426902e+26");
}

/* ---- escaping -------------------------------------------------------------------- */

Test(exporter_encode, label_value_escaping)
{
    struct exp_builder *b = exp_builder_create();
    exp_gauge(b, "m", "", 1, 1, "path", "C:\\dir \"x\"\nend");
    expect_encoding(b,
                    "# TYPE m gauge\n"
                    "m{path=\"C:\\\\dir \\\"x\\\"\\nend\"} 1\n",
                    "# TYPE m gauge\n"
                    "m{path=\"C:\\\\dir \\\"x\\\"\\nend\"} 1.0\n"
                    "# EOF\n");
    exp_builder_unref(b);
}

Test(exporter_encode, help_escaping)
{
    /* The text format escapes \ and newline in HELP; OpenMetrics also '"'. */
    struct exp_builder *b = exp_builder_create();
    exp_gauge(b, "m", "a \"q\" \\ x\ny", 1, 0);
    expect_encoding(b,
                    "# HELP m a \"q\" \\\\ x\\ny\n"
                    "# TYPE m gauge\n"
                    "m 1\n",
                    "# HELP m a \\\"q\\\" \\\\ x\\ny\n"
                    "# TYPE m gauge\n"
                    "m 1.0\n"
                    "# EOF\n");
    exp_builder_unref(b);
}

/* ---- types -------------------------------------------------------------------------- */

Test(exporter_encode, counters)
{
    /* OpenMetrics names the family without _total and the sample with it,
     * also when the counter's name lacks the suffix. */
    struct exp_builder *b = exp_builder_create();
    exp_counter(b, "req_total", "Requests.", 7, 1, "code", "200");
    exp_counter(b, "errors", "Errors.", 0.5, 0);
    expect_encoding(b,
                    "# HELP errors Errors.\n"
                    "# TYPE errors counter\n"
                    "errors 0.5\n"
                    "# HELP req_total Requests.\n"
                    "# TYPE req_total counter\n"
                    "req_total{code=\"200\"} 7\n",
                    "# HELP errors Errors.\n"
                    "# TYPE errors counter\n"
                    "errors_total 0.5\n"
                    "# HELP req Requests.\n"
                    "# TYPE req counter\n"
                    "req_total{code=\"200\"} 7.0\n"
                    "# EOF\n");
    exp_builder_unref(b);
}

Test(exporter_encode, gauges_and_untyped)
{
    struct exp_builder *b = exp_builder_create();
    exp_add(b, exp_family(b, "u", "", EXP_UNTYPED), 3, 0);
    exp_gauge(b, "g", "G.", 1e6, 0);
    exp_gauge(b, "g", "G.", NAN, 1, "a", "x");
    exp_gauge(b, "g", "G.", -INFINITY, 1, "a", "y");
    exp_gauge(b, "g", "G.", 0, 1, "a", "z");
    expect_encoding(b,
                    "# HELP g G.\n"
                    "# TYPE g gauge\n"
                    "g 1e+06\n"
                    "g{a=\"x\"} NaN\n"
                    "g{a=\"y\"} -Inf\n"
                    "g{a=\"z\"} 0\n"
                    "# TYPE u untyped\n"
                    "u 3\n",
                    "# HELP g G.\n"
                    "# TYPE g gauge\n"
                    "g 1e+06\n"
                    "g{a=\"x\"} NaN\n"
                    "g{a=\"y\"} -Inf\n"
                    "g{a=\"z\"} 0.0\n"
                    "# TYPE u unknown\n"
                    "u 3.0\n"
                    "# EOF\n");
    exp_builder_unref(b);
}

Test(exporter_encode, histogram)
{
    struct exp_builder *b = exp_builder_create();
    struct exp_family *f = exp_family(b, "lat_seconds", "Latency.", EXP_HISTOGRAM);
    struct exp_bucket bk[] = {{0.05, 2}, {1, 4}, {2.5, 5}};
    exp_set_buckets(b, exp_add(b, f, 0, 1, "path", "/"), bk, 3, 3.25, 6);
    /* An explicit +Inf bucket is not repeated. */
    struct exp_bucket inf[] = {{10, 1}, {INFINITY, 2}};
    exp_set_buckets(b, exp_add(b, f, 0, 1, "path", "/x"), inf, 2, 12, 2);
    expect_encoding(b,
                    "# HELP lat_seconds Latency.\n"
                    "# TYPE lat_seconds histogram\n"
                    "lat_seconds_bucket{path=\"/\",le=\"0.05\"} 2\n"
                    "lat_seconds_bucket{path=\"/\",le=\"1\"} 4\n"
                    "lat_seconds_bucket{path=\"/\",le=\"2.5\"} 5\n"
                    "lat_seconds_bucket{path=\"/\",le=\"+Inf\"} 6\n"
                    "lat_seconds_sum{path=\"/\"} 3.25\n"
                    "lat_seconds_count{path=\"/\"} 6\n"
                    "lat_seconds_bucket{path=\"/x\",le=\"10\"} 1\n"
                    "lat_seconds_bucket{path=\"/x\",le=\"+Inf\"} 2\n"
                    "lat_seconds_sum{path=\"/x\"} 12\n"
                    "lat_seconds_count{path=\"/x\"} 2\n",
                    "# HELP lat_seconds Latency.\n"
                    "# TYPE lat_seconds histogram\n"
                    "lat_seconds_bucket{path=\"/\",le=\"0.05\"} 2\n"
                    "lat_seconds_bucket{path=\"/\",le=\"1.0\"} 4\n"
                    "lat_seconds_bucket{path=\"/\",le=\"2.5\"} 5\n"
                    "lat_seconds_bucket{path=\"/\",le=\"+Inf\"} 6\n"
                    "lat_seconds_sum{path=\"/\"} 3.25\n"
                    "lat_seconds_count{path=\"/\"} 6\n"
                    "lat_seconds_bucket{path=\"/x\",le=\"10.0\"} 1\n"
                    "lat_seconds_bucket{path=\"/x\",le=\"+Inf\"} 2\n"
                    "lat_seconds_sum{path=\"/x\"} 12.0\n"
                    "lat_seconds_count{path=\"/x\"} 2\n"
                    "# EOF\n");
    exp_builder_unref(b);
}

Test(exporter_encode, histogram_without_buckets)
{
    struct exp_builder *b = exp_builder_create();
    struct exp_family *f = exp_family(b, "h", "", EXP_HISTOGRAM);
    exp_set_buckets(b, exp_add(b, f, 0, 0), NULL, 0, 0, 0);
    expect_encoding(b,
                    "# TYPE h histogram\n"
                    "h_bucket{le=\"+Inf\"} 0\n"
                    "h_sum 0\n"
                    "h_count 0\n",
                    "# TYPE h histogram\n"
                    "h_bucket{le=\"+Inf\"} 0\n"
                    "h_sum 0.0\n"
                    "h_count 0\n"
                    "# EOF\n");
    exp_builder_unref(b);
}

Test(exporter_encode, summary)
{
    struct exp_builder *b = exp_builder_create();
    struct exp_family *f = exp_family(b, "rpc_seconds", "RPC.", EXP_SUMMARY);
    struct exp_bucket q[] = {{0, 0.001}, {0.5, 0.25}, {1, NAN}};
    exp_set_buckets(b, exp_add(b, f, 0, 1, "svc", "a"), q, 3, 10, 3);
    expect_encoding(b,
                    "# HELP rpc_seconds RPC.\n"
                    "# TYPE rpc_seconds summary\n"
                    "rpc_seconds{svc=\"a\",quantile=\"0\"} 0.001\n"
                    "rpc_seconds{svc=\"a\",quantile=\"0.5\"} 0.25\n"
                    "rpc_seconds{svc=\"a\",quantile=\"1\"} NaN\n"
                    "rpc_seconds_sum{svc=\"a\"} 10\n"
                    "rpc_seconds_count{svc=\"a\"} 3\n",
                    "# HELP rpc_seconds RPC.\n"
                    "# TYPE rpc_seconds summary\n"
                    "rpc_seconds{svc=\"a\",quantile=\"0.0\"} 0.001\n"
                    "rpc_seconds{svc=\"a\",quantile=\"0.5\"} 0.25\n"
                    "rpc_seconds{svc=\"a\",quantile=\"1.0\"} NaN\n"
                    "rpc_seconds_sum{svc=\"a\"} 10.0\n"
                    "rpc_seconds_count{svc=\"a\"} 3\n"
                    "# EOF\n");
    exp_builder_unref(b);
}

/* ---- structure ---------------------------------------------------------------- */

Test(exporter_encode, openmetrics_eof_and_empty_input)
{
    struct cn_buf out;
    cn_buf_init(&out);
    exp_encode(&out, NULL, 0, EXP_FMT_OPENMETRICS);
    cr_assert_str_eq(cn_buf_cstr(&out), "# EOF\n");
    cn_buf_reset(&out);
    exp_encode(&out, NULL, 0, EXP_FMT_TEXT);
    cr_assert_str_eq(cn_buf_cstr(&out), "");
    cn_buf_free(&out);
}

Test(exporter_encode, empty_families_are_skipped)
{
    struct exp_builder *b = exp_builder_create();
    exp_family(b, "empty", "Nothing here.", EXP_GAUGE);
    exp_gauge(b, "full", "", 2, 0);
    expect_encoding(b, "# TYPE full gauge\nfull 2\n", "# TYPE full gauge\nfull 2.0\n# EOF\n");
    exp_builder_unref(b);
}

Test(exporter_encode, sorted_after_finish)
{
    struct exp_builder *b = exp_builder_create();
    exp_gauge(b, "z", "", 1, 2, "b", "2", "a", "1");
    exp_gauge(b, "z", "", 2, 2, "b", "1", "a", "1");
    exp_gauge(b, "y", "", 3, 1, "a", "9");
    expect_encoding(b,
                    "# TYPE y gauge\ny{a=\"9\"} 3\n# TYPE z gauge\nz{a=\"1\",b=\"1\"} "
                    "2\nz{a=\"1\",b=\"2\"} 1\n",
                    "# TYPE y gauge\ny{a=\"9\"} 3.0\n# TYPE z gauge\nz{a=\"1\",b=\"1\"} 2.0\n"
                    "z{a=\"1\",b=\"2\"} 1.0\n# EOF\n");
    exp_builder_unref(b);
}

Test(exporter_encode, adjacent_families_with_one_name_share_a_header)
{
    /* As a snapshot presents them: the same family from two builders. An
     * empty family in between neither prints a header nor breaks the run. */
    struct exp_builder *b1 = exp_builder_create(), *b2 = exp_builder_create(),
                       *b3 = exp_builder_create();
    exp_gauge(b1, "node_x", "X.", 1, 1, "src", "a");
    exp_family(b2, "node_x", "X.", EXP_GAUGE);
    exp_gauge(b3, "node_x", "X.", 2, 1, "src", "b");
    size_t n;
    struct exp_family *fams[] = {exp_builder_families(b2, &n)[0], exp_builder_families(b1, &n)[0],
                                 exp_builder_families(b2, &n)[0], exp_builder_families(b3, &n)[0]};
    struct cn_buf out;
    cn_buf_init(&out);
    exp_encode(&out, fams, 4, EXP_FMT_TEXT);
    cr_assert_str_eq(cn_buf_cstr(&out), "# HELP node_x X.\n"
                                        "# TYPE node_x gauge\n"
                                        "node_x{src=\"a\"} 1\n"
                                        "node_x{src=\"b\"} 2\n");
    cn_buf_reset(&out);
    exp_encode(&out, fams, 4, EXP_FMT_OPENMETRICS);
    cr_assert_str_eq(cn_buf_cstr(&out), "# HELP node_x X.\n"
                                        "# TYPE node_x gauge\n"
                                        "node_x{src=\"a\"} 1.0\n"
                                        "node_x{src=\"b\"} 2.0\n"
                                        "# EOF\n");
    cn_buf_free(&out);
    exp_builder_unref(b1);
    exp_builder_unref(b2);
    exp_builder_unref(b3);
}

Test(exporter_encode, timestamps)
{
    struct exp_builder *b = exp_builder_create();
    exp_gauge(b, "t", "", 1, 0)->timestamp_ms = 1395066363042;
    expect_encoding(b, "# TYPE t gauge\nt 1 1395066363042\n",
                    "# TYPE t gauge\nt 1.0 1395066363.042\n# EOF\n");
    exp_builder_unref(b);
}

/*
 * BUG in put_timestamp (encode.c): OpenMetrics timestamps are written as
 * ts/1000 "." |ts%1000|, which drops the sign when -1000 < ts < 0: -500 ms
 * comes out as "0.500". Enable when encode.c is fixed.
 */
Test(exporter_encode, openmetrics_negative_timestamp)
{
    struct exp_builder *b = exp_builder_create();
    exp_gauge(b, "t", "", 1, 0)->timestamp_ms = -500;
    exp_gauge(b, "u", "", 1, 0)->timestamp_ms = -1500;
    expect_encoding(b, "# TYPE t gauge\nt 1 -500\n# TYPE u gauge\nu 1 -1500\n",
                    "# TYPE t gauge\nt 1.0 -0.500\n# TYPE u gauge\nu 1.0 -1.500\n# EOF\n");
    exp_builder_unref(b);
}
