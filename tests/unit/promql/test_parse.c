/*
 * The PromQL parser (promql/lex.c, parse.c, ast.c) against Prometheus
 * 2.42.
 *
 * Trees are compared through a one-line S-expression dump (see dump()):
 * selectors print their matchers in order, including the __name__ matcher
 * the parser appends for a written metric name; durations print in ms.
 * The expected error messages were produced by Prometheus 2.42 itself
 * (`promtool check rules` on a rule with the query), so they hold the
 * parser to Prometheus' words and line:col positions, not to ours.
 *
 * The last test parses every `eval` expression of Prometheus' own PromQL
 * test scripts (../shared/promql-tests).
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "promql/promql.h"

/* ---- dumping trees ------------------------------------------------------------- */

struct out {
    char buf[8192];
    size_t len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof(o->buf) - o->len, "dump buffer too small");
    o->len += (size_t)n;
}

static const char *const match_ops[] = {"=", "!=", "=~", "!~"};

static void put_modifiers(struct out *o, int64_t offset, enum promql_at at, int64_t at_ms)
{
    if (offset)
        put(o, " offset %lldms", (long long)offset);
    if (at == PROMQL_AT_TIME)
        put(o, " @%lld", (long long)at_ms);
    else if (at == PROMQL_AT_START)
        put(o, " @start");
    else if (at == PROMQL_AT_END)
        put(o, " @end");
}

static void put_list(struct out *o, const char *what, char **v, size_t n)
{
    put(o, " %s(", what);
    for (size_t i = 0; i < n; i++)
        put(o, "%s%s", i ? "," : "", v[i]);
    put(o, ")");
}

static void dump_expr(struct out *o, const struct promql_expr *e)
{
    switch (e->kind) {
    case PROMQL_NODE_NUMBER: put(o, "%.17g", e->number); break;
    case PROMQL_NODE_STRING: put(o, "\"%s\"", e->string); break;
    case PROMQL_NODE_VECTOR_SELECTOR:
        put(o, "{");
        for (size_t i = 0; i < e->vs.nmatchers; i++) {
            const struct tsdb_matcher *m = e->vs.matchers[i];
            put(o, "%s%s%s\"%s\"", i ? "," : "", tsdb_matcher_name(m),
                match_ops[tsdb_matcher_type(m)], tsdb_matcher_value(m));
        }
        put(o, "}");
        put_modifiers(o, e->vs.offset_ms, e->vs.at, e->vs.at_ms);
        break;
    case PROMQL_NODE_MATRIX_SELECTOR:
        put(o, "(range ");
        dump_expr(o, e->ms.vs);
        put(o, " %lldms)", (long long)e->ms.range_ms);
        break;
    case PROMQL_NODE_SUBQUERY:
        put(o, "(subquery ");
        dump_expr(o, e->sq.expr);
        put(o, " %lldms %lldms", (long long)e->sq.range_ms, (long long)e->sq.step_ms);
        put_modifiers(o, e->sq.offset_ms, e->sq.at, e->sq.at_ms);
        put(o, ")");
        break;
    case PROMQL_NODE_PAREN:
        put(o, "(paren ");
        dump_expr(o, e->paren);
        put(o, ")");
        break;
    case PROMQL_NODE_UNARY:
        put(o, "(%s ", promql_binop_name(e->unary.op));
        dump_expr(o, e->unary.expr);
        put(o, ")");
        break;
    case PROMQL_NODE_BINARY:
        put(o, "(%s", promql_binop_name(e->binary.op));
        if (e->binary.return_bool)
            put(o, " bool");
        if (e->binary.on || e->binary.nmatch_labels)
            put_list(o, e->binary.on ? "on" : "ignoring", e->binary.match_labels,
                     e->binary.nmatch_labels);
        if (e->binary.card == PROMQL_CARD_MANY_TO_ONE)
            put_list(o, "group_left", e->binary.include, e->binary.ninclude);
        if (e->binary.card == PROMQL_CARD_ONE_TO_MANY)
            put_list(o, "group_right", e->binary.include, e->binary.ninclude);
        if (e->binary.card == PROMQL_CARD_MANY_TO_MANY)
            put(o, " many");
        put(o, " ");
        dump_expr(o, e->binary.lhs);
        put(o, " ");
        dump_expr(o, e->binary.rhs);
        put(o, ")");
        break;
    case PROMQL_NODE_CALL:
        put(o, "(%s", e->call.func->name);
        for (size_t i = 0; i < e->call.nargs; i++) {
            put(o, " ");
            dump_expr(o, e->call.args[i]);
        }
        put(o, ")");
        break;
    case PROMQL_NODE_AGGREGATE:
        put(o, "(%s", promql_aggop_name(e->agg.op));
        if (e->agg.ngrouping || e->agg.without)
            put_list(o, e->agg.without ? "without" : "by", e->agg.grouping, e->agg.ngrouping);
        if (e->agg.param) {
            put(o, " ");
            dump_expr(o, e->agg.param);
        }
        put(o, " ");
        dump_expr(o, e->agg.expr);
        put(o, ")");
        break;
    }
}

/* The dump of q's tree, or "error: <message>". */
static const char *dump(struct out *o, const char *q)
{
    struct promql_expr *e = (struct promql_expr *)0x1;
    struct promql_error err;
    o->len = 0;
    o->buf[0] = '\0';
    int rc = promql_parse(q, &e, &err);
    if (rc) {
        cr_assert_eq(rc, -EINVAL, "%s: rc %d", q, rc);
        cr_assert_null(e, "%s: tree left on error", q);
        cr_assert_eq(err.kind, PROMQL_ERR_BAD_DATA);
        put(o, "error: %s", err.msg);
        return o->buf;
    }
    cr_assert_eq(err.kind, PROMQL_ERR_NONE);
    dump_expr(o, e);
    promql_expr_free(e);
    return o->buf;
}

struct pair {
    const char *query, *want;
};

/* ---- trees ------------------------------------------------------------------------ */

/* Precedence, associativity, unary operators, selectors, modifiers,
 * subqueries, vector matching, aggregations, calls and number forms. */
static const struct pair shapes[] = {
    {"a + b * c", "(+ {__name__=\"a\"} (* {__name__=\"b\"} {__name__=\"c\"}))"},
    {"a * b + c", "(+ (* {__name__=\"a\"} {__name__=\"b\"}) {__name__=\"c\"})"},
    {"a - b - c", "(- (- {__name__=\"a\"} {__name__=\"b\"}) {__name__=\"c\"})"},
    {"a / b / c", "(/ (/ {__name__=\"a\"} {__name__=\"b\"}) {__name__=\"c\"})"},
    {"2 ^ 3 ^ 2", "(^ 2 (^ 3 2))"},
    {"-2 ^ 2", "(- (^ 2 2))"},
    {"-a * b", "(* (- {__name__=\"a\"}) {__name__=\"b\"})"},
    {"a * -b ^ c", "(* {__name__=\"a\"} (- (^ {__name__=\"b\"} {__name__=\"c\"})))"},
    {"a or b and c unless d", "(or many {__name__=\"a\"} (unless many (and many {__name__=\"b\"} "
                              "{__name__=\"c\"}) {__name__=\"d\"}))"},
    {"a == b + c", "(== {__name__=\"a\"} (+ {__name__=\"b\"} {__name__=\"c\"}))"},
    {"a > b or c < d",
     "(or many (> {__name__=\"a\"} {__name__=\"b\"}) (< {__name__=\"c\"} {__name__=\"d\"}))"},
    {"a atan2 b * c", "(* (atan2 {__name__=\"a\"} {__name__=\"b\"}) {__name__=\"c\"})"},
    {"a % b ^ c", "(% {__name__=\"a\"} (^ {__name__=\"b\"} {__name__=\"c\"}))"},
    {"- - 1", "1"},
    {"-(1)", "(- (paren 1))"},
    {"+1", "1"},
    {"-foo offset 5m", "(- {__name__=\"foo\"} offset 300000ms)"},
    {"a + b offset 1m", "(+ {__name__=\"a\"} {__name__=\"b\"} offset 60000ms)"},
    {"1 - -1", "(- 1 -1)"},
    {"foo", "{__name__=\"foo\"}"},
    {"foo{}", "{__name__=\"foo\"}"},
    {"{__name__=\"foo\"}", "{__name__=\"foo\"}"},
    {"foo{a=\"b\", c!=\"d\", e=~\"f.*\", g!~\"h\",}",
     "{a=\"b\",c!=\"d\",e=~\"f.*\",g!~\"h\",__name__=\"foo\"}"},
    {"sum{a=\"b\"}", "{a=\"b\",__name__=\"sum\"}"},
    {"and", "{__name__=\"and\"}"},
    {"by", "{__name__=\"by\"}"},
    {"offset offset 1m", "{__name__=\"offset\"} offset 60000ms"},
    {"start @ start()", "{__name__=\"start\"} @start"},
    {"foo:bar:baz", "{__name__=\"foo:bar:baz\"}"},
    {"foo offset 5m", "{__name__=\"foo\"} offset 300000ms"},
    {"foo offset -1h30m", "{__name__=\"foo\"} offset -5400000ms"},
    {"foo @ 100", "{__name__=\"foo\"} @100000"},
    {"foo @ -1.5", "{__name__=\"foo\"} @-1500"},
    {"foo @ +2", "{__name__=\"foo\"} @2000"},
    {"foo @ 1.2345", "{__name__=\"foo\"} @1235"},
    {"foo @ start() offset 1m", "{__name__=\"foo\"} offset 60000ms @start"},
    {"foo offset 1m @ end()", "{__name__=\"foo\"} offset 60000ms @end"},
    {"foo[5m]", "(range {__name__=\"foo\"} 300000ms)"},
    {"foo[5m] offset 1w", "(range {__name__=\"foo\"} offset 604800000ms 300000ms)"},
    {"foo[1h30m] @ 50", "(range {__name__=\"foo\"} @50000 5400000ms)"},
    {"rate(foo[5m])[30m:1m]",
     "(subquery (rate (range {__name__=\"foo\"} 300000ms)) 1800000ms 60000ms)"},
    {"foo[30m:]", "(subquery {__name__=\"foo\"} 1800000ms 0ms)"},
    {"foo[30m:] offset 2m @ 10",
     "(subquery {__name__=\"foo\"} 1800000ms 0ms offset 120000ms @10000)"},
    {"sum(foo)[1h:5m] @ end()", "(subquery (sum {__name__=\"foo\"}) 3600000ms 300000ms @end)"},
    {"a + on(x, y) b", "(+ on(x,y) {__name__=\"a\"} {__name__=\"b\"})"},
    {"a + ignoring(x) b", "(+ ignoring(x) {__name__=\"a\"} {__name__=\"b\"})"},
    {"a * on() group_left b", "(* on() group_left() {__name__=\"a\"} {__name__=\"b\"})"},
    {"a * on(x) group_left(y, z) b", "(* on(x) group_left(y,z) {__name__=\"a\"} {__name__=\"b\"})"},
    {"a * ignoring(x) group_right() b",
     "(* ignoring(x) group_right() {__name__=\"a\"} {__name__=\"b\"})"},
    {"a > bool b", "(> bool {__name__=\"a\"} {__name__=\"b\"})"},
    {"1 > bool 2", "(> bool 1 2)"},
    {"a and b", "(and many {__name__=\"a\"} {__name__=\"b\"})"},
    {"a or on(x) b", "(or on(x) many {__name__=\"a\"} {__name__=\"b\"})"},
    {"a + 1", "(+ {__name__=\"a\"} 1)"},
    {"sum(foo)", "(sum {__name__=\"foo\"})"},
    {"sum by (a, b) (foo)", "(sum by(a,b) {__name__=\"foo\"})"},
    {"sum(foo) by (a)", "(sum by(a) {__name__=\"foo\"})"},
    {"sum without (a) (foo)", "(sum without(a) {__name__=\"foo\"})"},
    {"sum(foo) without ()", "(sum without() {__name__=\"foo\"})"},
    {"sum by () (foo)", "(sum {__name__=\"foo\"})"},
    /* Prometheus 2.42 accepts repeated grouping labels. */
    {"sum by (a, a) (foo)", "(sum by(a,a) {__name__=\"foo\"})"},
    {"topk(5, foo)", "(topk 5 {__name__=\"foo\"})"},
    {"bottomk by (x) (3, foo)", "(bottomk by(x) 3 {__name__=\"foo\"})"},
    {"quantile(0.9, foo)", "(quantile 0.90000000000000002 {__name__=\"foo\"})"},
    {"count_values(\"v\", foo)", "(count_values \"v\" {__name__=\"foo\"})"},
    {"count by (on, group_left, bool, by, sum, start, end, offset, atan2) (foo)",
     "(count by(on,group_left,bool,by,sum,start,end,offset,atan2) {__name__=\"foo\"})"},
    {"avg(foo) by (a,)", "(avg by(a) {__name__=\"foo\"})"},
    {"rate(foo[5m])", "(rate (range {__name__=\"foo\"} 300000ms))"},
    {"round(foo)", "(round {__name__=\"foo\"})"},
    {"round(foo, 10)", "(round {__name__=\"foo\"} 10)"},
    {"label_join(foo, \"d\", \",\", \"a\", \"b\", \"c\")",
     "(label_join {__name__=\"foo\"} \"d\" \",\" \"a\" \"b\" \"c\")"},
    {"time()", "(time)"},
    {"vector(1)", "(vector 1)"},
    {"histogram_quantile(0.9, sum by (le) (rate(foo[5m])))",
     "(histogram_quantile 0.90000000000000002 (sum by(le) (rate (range {__name__=\"foo\"} "
     "300000ms))))"},
    {"abs(-foo)", "(abs (- {__name__=\"foo\"}))"},
    {"1", "1"},
    {"1.5", "1.5"},
    {".5", "0.5"},
    {"5.", "5"},
    {"1e3", "1000"},
    {"1E-3", "0.001"},
    {"0x1F", "31"},
    {"0X1f", "31"},
    {"010", "8"},
    {"08", "8"},
    {"0.1e+2", "10"},
    {"Inf", "inf"},
    {"-Inf", "-inf"},
    {"NaN", "nan"},
    {"iNf", "inf"},
    {"9223372036854775807", "9.2233720368547758e+18"},
    {"9223372036854775808", "9.2233720368547758e+18"},
    {"\"abc\"", "\"abc\""},
    {"'abc'", "\"abc\""},
    {"\"é\"", "\"é\""},
};

Test(promql_parse, shapes)
{
    struct out o;
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        cr_expect_str_eq(dump(&o, shapes[i].query), shapes[i].want, "query %s", shapes[i].query);
}

Test(promql_parse, string_escapes)
{
    struct out o;
    cr_assert_str_eq(dump(&o, "\"\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\""), "\"\a\b\f\n\r\t\v\\\"\"");
    cr_assert_str_eq(dump(&o, "'\\''"), "\"'\"");
    cr_assert_str_eq(dump(&o, "'a\"b'"), "\"a\"b\"");
    /* \x and octal escapes are bytes, \u and \U code points in UTF-8. */
    cr_assert_str_eq(dump(&o, "\"\\x41\\101\\u00e9\\U0001F600\""),
                     "\"AA\xc3\xa9\xf0\x9f\x98\x80\"");
    cr_assert_str_eq(dump(&o, "\"\\xff\""), "\"\xff\"");
    /* Raw strings keep backslashes and may span lines. */
    cr_assert_str_eq(dump(&o, "`a\\nb\n\"c\"`"), "\"a\\nb\n\"c\"\"");
    cr_assert_str_eq(dump(&o, "foo{a=`x\\.y`}"), "{a=\"x\\.y\",__name__=\"foo\"}");
    cr_assert_str_eq(dump(&o, "foo{a='\\u00e9'}"), "{a=\"\xc3\xa9\",__name__=\"foo\"}");
}

Test(promql_parse, comments_and_whitespace)
{
    struct out o;
    cr_assert_str_eq(dump(&o, "# a comment\nfoo # another\n+\t1\r\n"), "(+ {__name__=\"foo\"} 1)");
    cr_assert_str_eq(dump(&o, "foo{a=\"b\" # inside braces\n}"), "{a=\"b\",__name__=\"foo\"}");
    cr_assert_str_eq(dump(&o, "foo[ 5m : 1m ]"), "(subquery {__name__=\"foo\"} 300000ms 60000ms)");
}

Test(promql_parse, number_values)
{
    struct promql_expr *e;
    struct promql_error err;
    cr_assert_eq(promql_parse("-0x10", &e, &err), 0);
    cr_assert_eq(e->kind, PROMQL_NODE_NUMBER);
    cr_assert_eq(e->number, -16.0);
    promql_expr_free(e);
    cr_assert_eq(promql_parse("1e-400", &e, &err), 0); /* underflow is fine */
    cr_assert_eq(e->number, 0.0);
    promql_expr_free(e);
    cr_assert_eq(promql_parse("-nan", &e, &err), 0);
    cr_assert(isnan(e->number));
    promql_expr_free(e);
    cr_assert_eq(promql_parse("0777777777777777777777777", &e, &err), 0); /* too big for octal */
    cr_assert_eq(e->number, 777777777777777777777777.0);
    promql_expr_free(e);
}

/* Node positions are Prometheus' PositionRange()s. */
Test(promql_parse, positions)
{
    struct promql_expr *e;
    struct promql_error err;
    const char *q = "sum by (a) (rate(foo{x=\"y\"}[5m] offset 1m)) + -2 ^ (bar @ 3)";
    cr_assert_eq(promql_parse(q, &e, &err), 0);
    cr_assert_eq(e->kind, PROMQL_NODE_BINARY);
    cr_assert_eq(e->pos_start, 0);
    cr_assert_eq(e->pos_end, strlen(q));
    const struct promql_expr *agg = e->binary.lhs;
    cr_assert_eq(agg->pos_start, 0);
    cr_assert_eq(agg->pos_end, 43);
    const struct promql_expr *call = agg->agg.expr;
    cr_assert_eq(call->kind, PROMQL_NODE_CALL);
    cr_assert_eq(call->pos_start, 12);
    cr_assert_eq(call->pos_end, 42);
    const struct promql_expr *ms = call->call.args[0];
    cr_assert_eq(ms->kind, PROMQL_NODE_MATRIX_SELECTOR);
    cr_assert_eq(ms->pos_start, 17);
    cr_assert_eq(ms->pos_end, 41); /* through the offset */
    cr_assert_eq(ms->ms.vs->pos_start, 17);
    cr_assert_eq(ms->ms.vs->pos_end, 27);
    const struct promql_expr *un = e->binary.rhs;
    cr_assert_eq(un->kind, PROMQL_NODE_UNARY);
    cr_assert_eq(un->pos_start, 46);
    cr_assert_eq(un->pos_end, 60);
    const struct promql_expr *pow = un->unary.expr;
    cr_assert_eq(pow->binary.lhs->kind, PROMQL_NODE_NUMBER);
    cr_assert_eq(pow->binary.lhs->pos_start, 47);
    const struct promql_expr *paren = pow->binary.rhs;
    cr_assert_eq(paren->kind, PROMQL_NODE_PAREN);
    cr_assert_eq(paren->pos_start, 51);
    cr_assert_eq(paren->pos_end, 60);
    cr_assert_eq(paren->paren->pos_start, 52);
    cr_assert_eq(paren->paren->pos_end, 59); /* through the @ */
    promql_expr_free(e);

    /* A folded minus starts the literal. */
    cr_assert_eq(promql_parse("1 - -1", &e, &err), 0);
    cr_assert_eq(e->binary.rhs->pos_start, 4);
    cr_assert_eq(e->binary.rhs->pos_end, 6);
    promql_expr_free(e);
}

static const struct {
    const char *q;
    enum promql_type t;
} type_cases[] = {
    {"1", PROMQL_TYPE_SCALAR},
    {"\"s\"", PROMQL_TYPE_STRING},
    {"foo", PROMQL_TYPE_VECTOR},
    {"foo[1m]", PROMQL_TYPE_MATRIX},
    {"foo[1m:]", PROMQL_TYPE_MATRIX},
    {"-(1 + 2)", PROMQL_TYPE_SCALAR},
    {"1 + foo", PROMQL_TYPE_VECTOR},
    {"time()", PROMQL_TYPE_SCALAR},
    {"scalar(foo) * 2", PROMQL_TYPE_SCALAR},
    {"sum(foo)", PROMQL_TYPE_VECTOR},
};

Test(promql_parse, types)
{
    for (size_t i = 0; i < sizeof(type_cases) / sizeof(type_cases[0]); i++) {
        struct promql_expr *e;
        struct promql_error err;
        cr_assert_eq(promql_parse(type_cases[i].q, &e, &err), 0, "%s", type_cases[i].q);
        cr_expect_eq(promql_expr_type(e), type_cases[i].t, "%s", type_cases[i].q);
        promql_expr_free(e);
    }
}

/* ---- errors ------------------------------------------------------------------------ */

/* Every message as Prometheus 2.42 gives it for the same query. */
static const struct pair errors[] = {
    {"", "1:1: parse error: no expression found in input"},
    {"  \n ", "1:1: parse error: no expression found in input"},
    {"foo{a=\"b\"", "1:10: parse error: unexpected end of input inside braces"},
    {"foo +", "1:6: parse error: unexpected end of input"},
    {"sum(foo) by", "1:12: parse error: unexpected end of input in grouping opts, expected \"(\""},
    {"sum by (a) foo", "1:12: parse error: unexpected identifier \"foo\" in aggregation"},
    {"sum(a b)", "1:7: parse error: unexpected identifier \"b\" in aggregation"},
    {"rate(a b)", "1:8: parse error: unexpected identifier \"b\""},
    {"(foo bar)", "1:6: parse error: unexpected identifier \"bar\""},
    {"foo bar", "1:5: parse error: unexpected identifier \"bar\""},
    {"{a=\"b\",,}",
     "1:8: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
    {"{a}",
     "1:3: parse error: unexpected \"}\" in label matching, expected label matching operator"},
    {"{a=}", "1:4: parse error: unexpected \"}\" in label matching, expected string"},
    {"{a=\"b\" \"c\"}", "1:8: parse error: unexpected string \"\\\"c\\\"\" in label matching, "
                        "expected \",\" or \"}\""},
    {"foo:bar(x)", "1:8: parse error: unexpected \"(\""},
    {"foo @ start", "1:12: parse error: unexpected end of input in @, expected timestamp"},
    {"foo @ - x", "1:9: parse error: unexpected identifier \"x\" in @, expected timestamp"},
    {"foo offset - x",
     "1:14: parse error: unexpected identifier \"x\" in offset, expected duration"},
    {"foo offset 5", "1:12: parse error: unexpected number \"5\" in offset, expected duration"},
    {"foo offset 0s", "1:12: parse error: duration must be greater than 0"},
    {"foo[5m 5m]",
     "1:8: parse error: unexpected duration \"5m\" in subquery or range, expected \":\" or \"]\""},
    {"foo[5m:5m 5m]",
     "1:11: parse error: unexpected duration \"5m\" in subquery selector, expected \"]\""},
    {"foo[5m:,]",
     "1:8: parse error: unexpected \",\" in subquery selector, expected duration or \"]\""},
    {"foo[bar]", "1:5: parse error: bad duration syntax: \"\""},
    {"foo[]", "1:5: parse error: missing unit character in duration"},
    {"foo[5m:x]", "1:8: parse error: unexpected colon 'x'"},
    {"foo[0s]", "1:5: parse error: duration must be greater than 0"},
    {"foo[5m:0s]", "1:8: parse error: duration must be greater than 0"},
    {"foo[1hs]", "1:5: parse error: not a valid duration string: \"1hs\""},
    {"foo[99999999999999999y]", "1:5: parse error: duration out of range"},
    {"foo[300y]", "1:5: parse error: duration out of range"},
    {"sum() by (a)", "1:1: parse error: no arguments for aggregate expression provided"},
    {"sum(foo, bar)", "1:1: parse error: wrong number of arguments for aggregate expression "
                      "provided, expected 1, got 2"},
    {"topk(foo)", "1:1: parse error: wrong number of arguments for aggregate expression provided, "
                  "expected 2, got 1"},
    {"foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"},
    {"foo offset 5m offset 3m", "1:1: parse error: offset may not be set multiple times"},
    {"(foo) offset 5m", "1:1: parse error: offset modifier must be preceded by an instant vector "
                        "selector or range vector selector or a subquery"},
    {"1 @ 3", "1:1: parse error: @ modifier must be preceded by an instant vector selector or "
              "range vector selector or a subquery"},
    {"foo offset 5m[1m]", "1:14: parse error: no offset modifiers allowed before range"},
    {"foo @ 5 [1m]", "1:9: parse error: no @ modifiers allowed before range"},
    {"rate(foo[5m])[1m]", "1:14: parse error: ranges only allowed for vector selectors"},
    {"a * group_left b", "1:5: parse error: unexpected <group_left>"},
    {"a + on b", "1:8: parse error: unexpected identifier \"b\" in grouping opts, expected \"(\""},
    {"a * on(x) group_left",
     "1:21: parse error: unexpected end of input in grouping opts, expected \"(\""},
    {"sum by (a b) (foo)",
     "1:11: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" or \")\""},
    {"sum by (a,,) (foo)", "1:11: parse error: unexpected \",\" in grouping opts, expected label"},
    {"sum by (foo:bar) (foo)",
     "1:9: parse error: unexpected metric identifier \"foo:bar\" in grouping opts, expected label"},
    {"sum by (1) (foo)",
     "1:9: parse error: unexpected number \"1\" in grouping opts, expected label"},
    {"rate(foo,)", "1:9: parse error: trailing commas not allowed in function call args"},
    {"unknown_fn(foo)", "1:1: parse error: unknown function with name \"unknown_fn\""},
    {"rate(foo)", "1:6: parse error: expected type range vector in call to function \"rate\", got "
                  "instant vector"},
    {"rate(foo[5m], 1)", "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2"},
    {"round(foo, 1, 2)",
     "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3"},
    {"label_join(foo)",
     "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 1"},
    {"time(1)", "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1"},
    {"histogram_quantile(foo, bar)", "1:20: parse error: expected type scalar in call to function "
                                     "\"histogram_quantile\", got instant vector"},
    {"a + bool b", "1:3: parse error: bool modifier can only be used on comparison operators"},
    {"1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
    {"1 + on(a) foo", "1:1: parse error: vector matching only allowed between instant vectors"},
    {"foo + 1 and 2",
     "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
    {"1 and foo", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
    {"a and on(x) group_left(x) b",
     "1:3: parse error: label \"x\" must not occur in ON and GROUP clause at once"},
    {"a * on(x) group_left(x) b",
     "1:3: parse error: label \"x\" must not occur in ON and GROUP clause at once"},
    {"a and on(x) group_left(y) b", "1:1: parse error: no grouping allowed for \"and\" operation"},
    {"-\"str\"", "1:1: parse error: unary expression only allowed on expressions of type scalar or "
                 "instant vector, got \"string\""},
    {"-foo[5m]", "1:1: parse error: unary expression only allowed on expressions of type scalar or "
                 "instant vector, got \"range vector\""},
    {"foo[5m] + 1",
     "1:1: parse error: binary expression must contain only scalar and instant vector types"},
    {"\"a\" + 1",
     "1:1: parse error: binary expression must contain only scalar and instant vector types"},
    {"sum(foo[5m])",
     "1:5: parse error: expected type instant vector in aggregation expression, got range vector"},
    {"topk(\"a\", foo)",
     "1:6: parse error: expected type scalar in aggregation parameter, got string"},
    {"count_values(1, foo)",
     "1:14: parse error: expected type string in aggregation parameter, got scalar"},
    {"quantile(foo, bar)",
     "1:10: parse error: expected type scalar in aggregation parameter, got instant vector"},
    {"foo[5m][1m:]",
     "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"},
    {"(1)[5m:]",
     "1:1: parse error: subquery is only allowed on instant vector, got scalar instead"},
    {"{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
    {"{a=\"\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
    {"{a=~\".*\"}",
     "1:1: parse error: vector selector must contain at least one non-empty matcher"},
    {"foo{__name__=\"bar\"}",
     "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""},
    {"1e",
     "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e\": invalid syntax"},
    {"0x",
     "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0x\": invalid syntax"},
    {"1e400", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e400\": "
              "value out of range"},
    {"0x1.8", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0x1.8\": "
              "invalid syntax"},
    {"foo @ 1e400", "1:7: parse error: error parsing number: strconv.ParseFloat: parsing "
                    "\"1e400\": value out of range"},
    {"foo @ Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"},
    {"foo @ -Inf", "1:1: parse error: timestamp out of bounds for @ modifier: -Inf"},
    {"foo @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN"},
    {"foo @ 1e19",
     "1:1: parse error: timestamp out of bounds for @ modifier: 10000000000000000000.000000"},
    {"foo{a=\"\\xZZ\"}", "1:7: parse error: illegal character U+005A 'Z' in escape sequence"},
    {"foo{a='\\q'}", "1:7: parse error: unknown escape sequence U+0071 'q'"},
    {"foo{a=\"\\400\"}", "1:7: parse error: escape sequence is an invalid Unicode code point"},
    {"foo{a=\"\\uD800\"}", "1:7: parse error: escape sequence is an invalid Unicode code point"},
    {"foo{a=\"\\u12\"}", "1:7: parse error: illegal character U+0022 '\"' in escape sequence"},
    {"foo{a=~\"(\"}", "1:5: parse error: error parsing regexp: missing closing ): `^(?:()$`"},
    {"é", "1:1: parse error: unexpected character: 'é'"},
    {"foo ; x", "1:5: parse error: unexpected character: ';'"},
    {"!foo", "1:1: parse error: unexpected character after '!': 'f'"},
    {"foo ! bar", "1:5: parse error: unexpected character after '!': ' '"},
    {"foo =~ bar", "1:5: parse error: unexpected character after '=': '~'"},
    {"foo )", "1:6: parse error: unexpected right parenthesis ')'"},
    {"(foo", "1:5: parse error: unclosed left parenthesis"},
    {"foo ]", "1:5: parse error: unexpected right bracket ']'"},
    {"foo[5m", "1:7: parse error: unclosed left bracket"},
    {"foo[5m[1m]]", "1:7: parse error: unexpected left bracket '['"},
    {"foo \"abcdefghijklmnopq\"", "1:5: parse error: unexpected string \"\\\"abcdefghi\"..."},
    {"foo 12345678901234", "1:5: parse error: unexpected number \"1234567890\"..."},
    /* Longer than 10 bytes: cut after 10 characters. */
    {"foo \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"",
     "1:5: parse error: unexpected string "
     "\"\\\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\\\"\"..."},
    {"foo \"abcdefghi\"", "1:5: parse error: unexpected string \"\\\"abcdefghi\"..."},
    {"foo `bar", "1:5: parse error: unterminated raw string"},
    {"foo \"bar", "1:5: parse error: unterminated quoted string"},
    {"@ foo", "1:1: parse error: unexpected \"<Item 57385>\" <op:@>"},
    {"foo @ @", "1:7: parse error: unexpected \"<Item 57385>\" <op:@> in @, expected timestamp"},
    {"foo BY", "1:5: parse error: unexpected <BY>"},
    {"x SUM", "1:3: parse error: unexpected <aggr:SUM>"},
    {"foo AND bar bar", "1:13: parse error: unexpected identifier \"bar\""},
    {"# only", "1:1: parse error: no expression found in input"},
    {"()", "1:2: parse error: unexpected \")\""},
    {"sum(foo) by (a) by (b)", "1:17: parse error: unexpected <by>"},
    {"foo @ start() @ end()", "1:1: parse error: @ <timestamp> may not be set multiple times"},
    {"foo{a=\"b\"}{c=\"d\"}", "1:11: parse error: unexpected \"{\""},
    {"sum without(a) (foo) by (b)", "1:22: parse error: unexpected <by>"},
    {"1 +", "1:4: parse error: unexpected end of input"},
    {"-", "1:2: parse error: unexpected end of input"},
    {"a + bool on(x) group_left(y) b",
     "1:3: parse error: bool modifier can only be used on comparison operators"},
    {"foo{a!x\"}", "1:6: parse error: unexpected character after '!' inside braces: 'x'"},
    {"foo{a=\"b\"}}", "1:11: parse error: unexpected character: '}'"},
};

Test(promql_parse, errors)
{
    struct out o;
    char want[PROMQL_ERR_MSG_MAX + 8];
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        snprintf(want, sizeof(want), "error: %s", errors[i].want);
        cr_expect_str_eq(dump(&o, errors[i].query), want, "query %s", errors[i].query);
    }
}

static void expect_error_at(const char *q, uint32_t start, uint32_t end, const char *msg)
{
    struct promql_expr *e;
    struct promql_error err;
    cr_assert_eq(promql_parse(q, &e, &err), -EINVAL, "%s", q);
    cr_expect_eq(err.pos_start, start, "%s: start %u", q, err.pos_start);
    cr_expect_eq(err.pos_end, end, "%s: end %u", q, err.pos_end);
    cr_expect_str_eq(err.msg, msg, "%s", q);
}

Test(promql_parse, error_positions)
{
    /* Lexer errors run to the end of the input. */
    expect_error_at("foo{a=\"\\q\"} + 1", 6, 15,
                    "1:7: parse error: unknown escape sequence U+0071 'q'");
    /* An unexpected token covers the token. */
    expect_error_at("foo bar", 4, 7, "1:5: parse error: unexpected identifier \"bar\"");
    /* Type errors cover the node. */
    expect_error_at("rate(foo)", 5, 8,
                    "1:6: parse error: expected type range vector in call to function \"rate\", "
                    "got instant vector");
    /* Operator errors cover the operator and its modifiers. */
    expect_error_at("1  == 1", 3, 4,
                    "1:4: parse error: comparisons between scalars must use BOOL modifier");
    /* A range error covers the brackets. */
    expect_error_at("foo offset 5m[1m]", 13, 17,
                    "1:14: parse error: no offset modifiers allowed before range");
    /* Lines and columns count from the last newline. */
    expect_error_at(
        "sum(\n  foo\n) by (a b)", 19, 20,
        "3:9: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" or \")\"");
}

Test(promql_parse, invalid_utf8)
{
    struct out o;
    cr_assert_str_eq(dump(&o, "foo{a=\"\xff\"}"), "error: 1:7: parse error: invalid UTF-8 rune");
    cr_assert_str_eq(dump(&o, "`\xc3`"), "error: 1:1: parse error: invalid UTF-8 rune");
    cr_assert_str_eq(dump(&o, "foo \xe2\x82"),
                     "error: 1:5: parse error: unexpected character: '\xef\xbf\xbd'");
    cr_assert_str_eq(dump(&o, "foo # \xc0\xaf\n"), "error: 1:5: parse error: invalid UTF-8 rune");
    /* An encoded surrogate is invalid UTF-8 too. */
    cr_assert_str_eq(dump(&o, "\"\xed\xa0\x80\""), "error: 1:1: parse error: invalid UTF-8 rune");
}

static char *repeat(const char *pre, size_t n, const char *mid, const char *post, size_t m)
{
    size_t lp = strlen(pre), lm = strlen(mid), lq = strlen(post);
    char *s = malloc(lp * n + lm + lq * m + 1);
    cr_assert_not_null(s);
    char *w = s;
    for (size_t i = 0; i < n; i++, w += lp)
        memcpy(w, pre, lp);
    memcpy(w, mid, lm);
    w += lm;
    for (size_t i = 0; i < m; i++, w += lq)
        memcpy(w, post, lq);
    *w = '\0';
    return s;
}

static int parse_rc(const char *q, char *msg, size_t cap)
{
    struct promql_expr *e;
    struct promql_error err;
    int rc = promql_parse(q, &e, &err);
    if (rc == 0)
        promql_expr_free(e);
    else
        snprintf(msg, cap, "%s", err.msg);
    return rc;
}

Test(promql_parse, depth_limit)
{
    char msg[PROMQL_ERR_MSG_MAX];
    char *q = repeat("(", 100000, "1", ")", 100000);
    cr_assert_eq(parse_rc(q, msg, sizeof(msg)), -EINVAL);
    cr_assert_str_eq(msg,
                     "1:257: parse error: expression nesting exceeds the maximum depth of 256");
    free(q);
    q = repeat("-", 100000, "1", "", 0);
    cr_assert_eq(parse_rc(q, msg, sizeof(msg)), -EINVAL);
    free(q);
    /* Long operator chains and modifier chains deepen the tree without
     * recursion in the parser; the tree's height is bounded too. */
    q = repeat("1+", 100000, "1", "", 0);
    cr_assert_eq(parse_rc(q, msg, sizeof(msg)), -EINVAL);
    cr_assert_str_eq(msg, "1:1: parse error: expression nesting exceeds the maximum depth of 256");
    free(q);
    q = repeat("1^", 100000, "1", "", 0);
    cr_assert_eq(parse_rc(q, msg, sizeof(msg)), -EINVAL);
    free(q);
    q = repeat("", 0, "foo", "[5m:]", 100000);
    cr_assert_eq(parse_rc(q, msg, sizeof(msg)), -EINVAL);
    free(q);
    /* Exactly at the limit: 255 parentheses around a literal. */
    q = repeat("(", 255, "1", ")", 255);
    cr_assert_eq(parse_rc(q, msg, sizeof(msg)), 0);
    free(q);
    q = repeat("(", 256, "1", ")", 256);
    cr_assert_eq(parse_rc(q, msg, sizeof(msg)), -EINVAL);
    free(q);
}

Test(promql_parse, overflow)
{
    struct out o;
    /* 292 years is the most an int64 of nanoseconds holds. */
    cr_assert_str_eq(dump(&o, "foo[292y]"), "(range {__name__=\"foo\"} 9208512000000ms)");
    cr_assert_str_eq(dump(&o, "foo[293y]"), "error: 1:5: parse error: duration out of range");
    cr_assert_str_eq(dump(&o, "foo offset 292y52w"),
                     "error: 1:12: parse error: duration out of range");
    cr_assert_str_eq(dump(&o, "foo offset 99999999999999999999999999ms"),
                     "error: 1:12: parse error: duration out of range");
    /* @ timestamps beyond int64 ms saturate rather than wrap. */
    cr_assert_str_eq(dump(&o, "foo @ 1e17"), "{__name__=\"foo\"} @9223372036854775807");
}

/* Every allocation failure surfaces as -ENOMEM and leaks nothing. */
Test(promql_parse, out_of_memory)
{
    const char *q = "sum by (a, b) (rate(foo{x=~\"y.*\", z!=\"\"}[5m] offset 1m)) / on(a) "
                    "group_left(c) topk(3, bar) > bool 2 or label_join(baz, \"d\", \",\", \"a\")";
    struct out want, got;
    cr_assert_str_neq(dump(&want, q), "");
    cr_assert_neq(strncmp(want.buf, "error", 5), 0, "%s", want.buf);
    bool succeeded = false;
    for (long n = 0; n < 1000 && !succeeded; n++) {
        struct promql_expr *e;
        struct promql_error err;
        cn_alloc_fail_after(n);
        int rc = promql_parse(q, &e, &err);
        cn_alloc_fail_after(-1);
        if (rc == 0) {
            got.len = 0;
            dump_expr(&got, e);
            cr_assert_str_eq(got.buf, want.buf);
            promql_expr_free(e);
            succeeded = true;
        } else {
            cr_assert_eq(rc, -ENOMEM, "n=%ld rc=%d %s", n, rc, err.msg);
            cr_assert_eq(err.kind, PROMQL_ERR_INTERNAL);
            cr_assert_null(e);
        }
    }
    cr_assert(succeeded);
}

/* ---- selectors and durations --------------------------------------------------------- */

static const char *selector(struct out *o, const char *q)
{
    struct tsdb_matcher **ms = (struct tsdb_matcher **)0x1;
    size_t n = 99;
    struct promql_error err;
    o->len = 0;
    o->buf[0] = '\0';
    int rc = promql_parse_selector(q, &ms, &n, &err);
    if (rc) {
        cr_assert_eq(rc, -EINVAL);
        cr_assert_null(ms);
        cr_assert_eq(n, 0);
        cr_assert_eq(err.kind, PROMQL_ERR_BAD_DATA);
        put(o, "error: %s", err.msg);
        return o->buf;
    }
    for (size_t i = 0; i < n; i++) {
        put(o, "%s%s%s\"%s\"", i ? "," : "", tsdb_matcher_name(ms[i]),
            match_ops[tsdb_matcher_type(ms[i])], tsdb_matcher_value(ms[i]));
        tsdb_matcher_destroy(ms[i]);
    }
    free(ms);
    return o->buf;
}

Test(promql_parse, selector)
{
    struct out o;
    cr_assert_str_eq(selector(&o, "up"), "__name__=\"up\"");
    cr_assert_str_eq(selector(&o, "up{job=~\"a|b\", x!=\"\"}"),
                     "job=~\"a|b\",x!=\"\",__name__=\"up\"");
    cr_assert_str_eq(selector(&o, "{job=\"a\"}"), "job=\"a\"");
    cr_assert_str_eq(selector(&o, "sum"), "__name__=\"sum\"");
    /* Not checked as an expression: a second name is allowed here. */
    cr_assert_str_eq(selector(&o, "foo{__name__=\"bar\"}"), "__name__=\"bar\",__name__=\"foo\"");
    cr_assert_str_eq(selector(&o, "{job=~\".*\"}"),
                     "error: match[] must contain at least one non-empty matcher");
    cr_assert_str_eq(selector(&o, "{}"),
                     "error: match[] must contain at least one non-empty matcher");
    cr_assert_str_eq(selector(&o, "rate(foo[5m])"), "error: 1:5: parse error: unexpected \"(\"");
    cr_assert_str_eq(selector(&o, "foo[5m]"), "error: 1:4: parse error: unexpected \"[\"");
    cr_assert_str_eq(selector(&o, "1"), "error: 1:1: parse error: unexpected number \"1\"");
    cr_assert_str_eq(selector(&o, ""), "error: 1:1: parse error: unexpected end of input");
    cr_assert_str_eq(selector(&o, "foo{a=~\"(\"}"),
                     "error: 1:5: parse error: error parsing regexp: missing closing ): `^(?:()$`");
}

static const struct {
    const char *s;
    int64_t ms;
} durations_ok[] = {
    {"0", 0},
    {"0s", 0},
    {"500ms", 500},
    {"5m", 300000},
    {"1h30m", 5400000},
    {"2d", 172800000},
    {"1w", 604800000},
    {"1y", 31536000000},
    {"1y2w3d4h5m6s7ms", 31536000000 + 1209600000 + 259200000 + 14400000 + 300000 + 6000 + 7},
    {"292y", 9208512000000},
};
static const char *const durations_bad[] = {
    "", "5", "1.5h", "-1m", "1m1h", "5hs", "1d1d", "m", "1 m", "293y", "10000000000000000000000h"};

Test(promql_parse, duration)
{
    for (size_t i = 0; i < sizeof(durations_ok) / sizeof(durations_ok[0]); i++) {
        int64_t ms = -1;
        cr_expect_eq(promql_parse_duration(durations_ok[i].s, &ms), 0, "%s", durations_ok[i].s);
        cr_expect_eq(ms, durations_ok[i].ms, "%s: %lld", durations_ok[i].s, (long long)ms);
    }
    for (size_t i = 0; i < sizeof(durations_bad) / sizeof(durations_bad[0]); i++) {
        int64_t ms = -1;
        cr_expect_eq(promql_parse_duration(durations_bad[i], &ms), -EINVAL, "%s", durations_bad[i]);
    }
}

Test(promql_parse, names)
{
    cr_assert_str_eq(promql_binop_name(PROMQL_OP_ATAN2), "atan2");
    cr_assert_str_eq(promql_binop_name(PROMQL_OP_GTE), ">=");
    cr_assert_str_eq(promql_binop_name(PROMQL_OP_UNLESS), "unless");
    cr_assert_str_eq(promql_aggop_name(PROMQL_AGG_COUNT_VALUES), "count_values");
    cr_assert_str_eq(promql_aggop_name(PROMQL_AGG_STDVAR), "stdvar");
    cr_assert_str_eq(promql_type_name(PROMQL_TYPE_MATRIX), "matrix");
    cr_assert_str_eq(promql_type_name(PROMQL_TYPE_VECTOR), "vector");
    cr_assert_str_eq(promql_type_name(PROMQL_TYPE_SCALAR), "scalar");
    cr_assert_str_eq(promql_type_name(PROMQL_TYPE_STRING), "string");
    for (int op = PROMQL_OP_ADD; op <= PROMQL_OP_UNLESS; op++) {
        bool cmp = op >= PROMQL_OP_EQL && op <= PROMQL_OP_LTE;
        bool set = op == PROMQL_OP_AND || op == PROMQL_OP_OR || op == PROMQL_OP_UNLESS;
        cr_expect_eq(promql_binop_is_comparison((enum promql_binop)op), cmp, "op %d", op);
        cr_expect_eq(promql_binop_is_set((enum promql_binop)op), set, "op %d", op);
    }
}

/* ---- Prometheus' test scripts ------------------------------------------------------- */

/* The expression of an `eval instant [at <time>] <expr>` line (test.go's
 * patEvalInstant), or NULL for other lines; *fail for eval_fail. */
static const char *eval_expr(char *line, bool *fail)
{
    const char *p = line;
    *fail = false;
    if (strncmp(p, "eval", 4) != 0)
        return NULL;
    p += 4;
    if (strncmp(p, "_fail", 5) == 0) {
        *fail = true;
        p += 5;
    } else if (strncmp(p, "_ordered", 8) == 0) {
        p += 8;
    }
    p += strspn(p, " \t");
    if (strncmp(p, "instant", 7) != 0)
        return NULL;
    p += 7;
    p += strspn(p, " \t");
    if (strncmp(p, "at", 2) == 0 && (p[2] == ' ' || p[2] == '\t')) {
        p += 2;
        p += strspn(p, " \t");
        p += strcspn(p, " \t"); /* the time */
        p += strspn(p, " \t");
    }
    return p;
}

Test(promql_parse, prometheus_test_scripts)
{
    const char *dir = CAIRN_SOURCE_DIR "/../shared/promql-tests";
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    size_t nfiles = 0, nevals = 0, nfails = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".test") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s", path);
        nfiles++;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, f)) > 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            bool fail;
            const char *q = eval_expr(line, &fail);
            if (!q)
                continue;
            struct promql_expr *e = NULL;
            struct promql_error err;
            int rc = promql_parse(q, &e, &err);
            if (fail) {
                /* May fail while parsing or while evaluating. */
                nfails++;
            } else {
                cr_expect_eq(rc, 0, "%s: %s: %s", de->d_name, q, err.msg);
                nevals++;
            }
            promql_expr_free(e);
        }
        free(line);
        fclose(f);
    }
    closedir(d);
    /* Prometheus 2.42's scripts: 11 files, 559 expressions to evaluate
     * and 7 that must fail. */
    cr_assert_eq(nfiles, 11);
    cr_assert_eq(nevals, 559);
    cr_assert_eq(nfails, 7);
}

/* Huge regular expressions are compiled or refused with a bad_data error,
 * never a crash: a 1 MiB pattern, nested repeats, a repeat past RE2's limit. */
Test(promql_parse, huge_regexes)
{
    size_t n = 1 << 20;
    char *q = malloc(n + 16);
    cr_assert_not_null(q);
    memcpy(q, "{a=~\"", 5);
    memset(q + 5, 'a', n);
    memcpy(q + 5 + n, "\"}", 3);
    struct promql_expr *e = NULL;
    struct promql_error err;
    cr_assert_eq(promql_parse(q, &e, &err), 0, "%s", err.msg);
    cr_assert_eq(e->kind, PROMQL_NODE_VECTOR_SELECTOR);
    promql_expr_free(e);
    free(q);

    e = NULL;
    cr_assert_eq(promql_parse("{a=~\"(x{1000}){1000}\"}", &e, &err), 0, "%s", err.msg);
    promql_expr_free(e);

    e = NULL;
    cr_assert_eq(promql_parse("{a=~\"(a|b){65535}\"}", &e, &err), -EINVAL);
    cr_assert_null(e);
    cr_assert_eq(err.kind, PROMQL_ERR_BAD_DATA);
    cr_assert_str_eq(err.msg,
                     "1:2: parse error: error parsing regexp: invalid repeat count: `{65535}`");
}
