/*
 * libFuzzer target for the PromQL parser: promql_parse(), and
 * promql_parse_selector() and promql_parse_duration() on the same bytes
 * (NUL-terminated; an embedded NUL ends the query). Beyond "no crash, no
 * leak, no UB, no stack exhaustion", it checks that a rejection is a
 * bad_data error with a message and a position inside the input, and that
 * an accepted tree is well formed: every node's range lies inside the
 * input and inside its parent's, and every expression has a type.
 *
 * Seeds: tests/fuzz/corpus/promql_parse/ (queries from Prometheus' PromQL
 * test scripts). Run: promql_parse_fuzz -max_total_time=60 corpus/promql_parse
 */
#include "promql/promql.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_node(const struct promql_expr *e, uint32_t lo, uint32_t hi);

static void check_child(const struct promql_expr *c, const struct promql_expr *parent)
{
    if (!c)
        abort();
    check_node(c, parent->pos_start, parent->pos_end);
}

/* Aborts unless e and its children lie in [lo, hi] and have types. */
static void check_node(const struct promql_expr *e, uint32_t lo, uint32_t hi)
{
    if (e->pos_start > e->pos_end || e->pos_start < lo || e->pos_end > hi)
        abort();
    if (promql_expr_type(e) == PROMQL_TYPE_NONE)
        abort();
    switch (e->kind) {
    case PROMQL_NODE_NUMBER: break;
    case PROMQL_NODE_STRING:
        if (!e->string)
            abort();
        break;
    case PROMQL_NODE_VECTOR_SELECTOR:
        if (e->vs.nmatchers == 0)
            abort();
        break;
    case PROMQL_NODE_MATRIX_SELECTOR:
        if (e->ms.vs->kind != PROMQL_NODE_VECTOR_SELECTOR || e->ms.range_ms <= 0)
            abort();
        check_child(e->ms.vs, e);
        break;
    case PROMQL_NODE_SUBQUERY:
        if (e->sq.range_ms <= 0 || e->sq.step_ms < 0)
            abort();
        check_child(e->sq.expr, e);
        break;
    case PROMQL_NODE_PAREN: check_child(e->paren, e); break;
    case PROMQL_NODE_UNARY: check_child(e->unary.expr, e); break;
    case PROMQL_NODE_BINARY:
        check_child(e->binary.lhs, e);
        check_child(e->binary.rhs, e);
        break;
    case PROMQL_NODE_CALL:
        if (!e->call.func)
            abort();
        for (size_t i = 0; i < e->call.nargs; i++)
            check_child(e->call.args[i], e);
        break;
    case PROMQL_NODE_AGGREGATE:
        check_child(e->agg.expr, e);
        if (e->agg.param)
            check_child(e->agg.param, e);
        break;
    }
}

static void check_error(int rc, const struct promql_error *err, size_t len)
{
    if (rc == -ENOMEM)
        return;
    if (rc != -EINVAL || err->kind != PROMQL_ERR_BAD_DATA || err->msg[0] == '\0' ||
        err->pos_start > len || err->pos_end > len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    if (!q)
        return 0;
    memcpy(q, data, size);
    q[size] = '\0';
    size_t len = strlen(q);

    struct promql_expr *e;
    struct promql_error err;
    int rc = promql_parse(q, &e, &err);
    if (rc == 0) {
        check_node(e, 0, (uint32_t)len);
        promql_expr_free(e);
    } else {
        check_error(rc, &err, len);
    }

    struct tsdb_matcher **ms;
    size_t n;
    rc = promql_parse_selector(q, &ms, &n, &err);
    if (rc == 0) {
        if (n == 0)
            abort();
        for (size_t i = 0; i < n; i++)
            tsdb_matcher_destroy(ms[i]);
        free(ms);
    } else {
        check_error(rc, &err, len);
    }

    int64_t ms_dur;
    rc = promql_parse_duration(q, &ms_dur);
    if (rc == 0 && ms_dur < 0)
        abort();
    free(q);
    return 0;
}
