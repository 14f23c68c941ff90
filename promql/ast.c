/*
 * The PromQL AST: freeing a tree, the type of an expression, and the names
 * of types and operators as Prometheus prints them.
 *
 * Trees come from promql_parse(), which bounds their height by
 * PROMQL_MAX_DEPTH, so the recursion here is bounded too.
 */
#include <stdlib.h>

#include "promql/promql.h"

void promql_expr_free(struct promql_expr *e)
{
    if (!e)
        return;
    switch (e->kind) {
    case PROMQL_NODE_NUMBER: break;
    case PROMQL_NODE_STRING: free(e->string); break;
    case PROMQL_NODE_VECTOR_SELECTOR:
        free(e->vs.name);
        for (size_t i = 0; i < e->vs.nmatchers; i++)
            tsdb_matcher_destroy(e->vs.matchers[i]);
        free(e->vs.matchers);
        break;
    case PROMQL_NODE_MATRIX_SELECTOR: promql_expr_free(e->ms.vs); break;
    case PROMQL_NODE_SUBQUERY: promql_expr_free(e->sq.expr); break;
    case PROMQL_NODE_PAREN: promql_expr_free(e->paren); break;
    case PROMQL_NODE_UNARY: promql_expr_free(e->unary.expr); break;
    case PROMQL_NODE_BINARY:
        promql_expr_free(e->binary.lhs);
        promql_expr_free(e->binary.rhs);
        for (size_t i = 0; i < e->binary.nmatch_labels; i++)
            free(e->binary.match_labels[i]);
        free(e->binary.match_labels);
        for (size_t i = 0; i < e->binary.ninclude; i++)
            free(e->binary.include[i]);
        free(e->binary.include);
        break;
    case PROMQL_NODE_CALL:
        for (size_t i = 0; i < e->call.nargs; i++)
            promql_expr_free(e->call.args[i]);
        free(e->call.args);
        break;
    case PROMQL_NODE_AGGREGATE:
        promql_expr_free(e->agg.expr);
        promql_expr_free(e->agg.param);
        for (size_t i = 0; i < e->agg.ngrouping; i++)
            free(e->agg.grouping[i]);
        free(e->agg.grouping);
        break;
    }
    free(e);
}

enum promql_type promql_expr_type(const struct promql_expr *e)
{
    switch (e->kind) {
    case PROMQL_NODE_NUMBER: return PROMQL_TYPE_SCALAR;
    case PROMQL_NODE_STRING: return PROMQL_TYPE_STRING;
    case PROMQL_NODE_VECTOR_SELECTOR:
    case PROMQL_NODE_AGGREGATE: return PROMQL_TYPE_VECTOR;
    case PROMQL_NODE_MATRIX_SELECTOR:
    case PROMQL_NODE_SUBQUERY: return PROMQL_TYPE_MATRIX;
    case PROMQL_NODE_PAREN: return promql_expr_type(e->paren);
    case PROMQL_NODE_UNARY: return promql_expr_type(e->unary.expr);
    case PROMQL_NODE_BINARY:
        return promql_expr_type(e->binary.lhs) == PROMQL_TYPE_SCALAR &&
                       promql_expr_type(e->binary.rhs) == PROMQL_TYPE_SCALAR
                   ? PROMQL_TYPE_SCALAR
                   : PROMQL_TYPE_VECTOR;
    case PROMQL_NODE_CALL: return e->call.func->return_type;
    }
    return PROMQL_TYPE_NONE;
}

const char *promql_type_name(enum promql_type t)
{
    switch (t) {
    case PROMQL_TYPE_SCALAR: return "scalar";
    case PROMQL_TYPE_VECTOR: return "vector";
    case PROMQL_TYPE_MATRIX: return "matrix";
    case PROMQL_TYPE_STRING: return "string";
    case PROMQL_TYPE_NONE: break;
    }
    return "none";
}

const char *promql_binop_name(enum promql_binop op)
{
    switch (op) {
    case PROMQL_OP_ADD: return "+";
    case PROMQL_OP_SUB: return "-";
    case PROMQL_OP_MUL: return "*";
    case PROMQL_OP_DIV: return "/";
    case PROMQL_OP_MOD: return "%";
    case PROMQL_OP_POW: return "^";
    case PROMQL_OP_ATAN2: return "atan2";
    case PROMQL_OP_EQL: return "==";
    case PROMQL_OP_NEQ: return "!=";
    case PROMQL_OP_GTR: return ">";
    case PROMQL_OP_LSS: return "<";
    case PROMQL_OP_GTE: return ">=";
    case PROMQL_OP_LTE: return "<=";
    case PROMQL_OP_AND: return "and";
    case PROMQL_OP_OR: return "or";
    case PROMQL_OP_UNLESS: return "unless";
    }
    return "?";
}

bool promql_binop_is_comparison(enum promql_binop op)
{
    return op == PROMQL_OP_EQL || op == PROMQL_OP_NEQ || op == PROMQL_OP_GTR ||
           op == PROMQL_OP_LSS || op == PROMQL_OP_GTE || op == PROMQL_OP_LTE;
}

bool promql_binop_is_set(enum promql_binop op)
{
    return op == PROMQL_OP_AND || op == PROMQL_OP_OR || op == PROMQL_OP_UNLESS;
}

const char *promql_aggop_name(enum promql_aggop op)
{
    switch (op) {
    case PROMQL_AGG_SUM: return "sum";
    case PROMQL_AGG_AVG: return "avg";
    case PROMQL_AGG_COUNT: return "count";
    case PROMQL_AGG_MIN: return "min";
    case PROMQL_AGG_MAX: return "max";
    case PROMQL_AGG_GROUP: return "group";
    case PROMQL_AGG_STDDEV: return "stddev";
    case PROMQL_AGG_STDVAR: return "stdvar";
    case PROMQL_AGG_TOPK: return "topk";
    case PROMQL_AGG_BOTTOMK: return "bottomk";
    case PROMQL_AGG_COUNT_VALUES: return "count_values";
    case PROMQL_AGG_QUANTILE: return "quantile";
    }
    return "?";
}
