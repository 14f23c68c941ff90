/*
 * PromQL's functions (Prometheus 2.42): the table the parser checks calls
 * against, and the implementations the evaluator calls once per step (see
 * struct promql_fcall in internal.h for the calling convention).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "promql/internal.h"

#define V PROMQL_TYPE_VECTOR
#define S PROMQL_TYPE_SCALAR
#define M PROMQL_TYPE_MATRIX
#define STR PROMQL_TYPE_STRING

/* Sorted by name for the binary search in promql_function_lookup(). */
static const struct promql_function functions[] = {
    {"abs", {V}, 1, 0, V, NULL},
    {"absent", {V}, 1, 0, V, NULL},
    {"absent_over_time", {M}, 1, 0, V, NULL},
    {"acos", {V}, 1, 0, V, NULL},
    {"acosh", {V}, 1, 0, V, NULL},
    {"asin", {V}, 1, 0, V, NULL},
    {"asinh", {V}, 1, 0, V, NULL},
    {"atan", {V}, 1, 0, V, NULL},
    {"atanh", {V}, 1, 0, V, NULL},
    {"avg_over_time", {M}, 1, 0, V, NULL},
    {"ceil", {V}, 1, 0, V, NULL},
    {"changes", {M}, 1, 0, V, NULL},
    {"clamp", {V, S, S}, 3, 0, V, NULL},
    {"clamp_max", {V, S}, 2, 0, V, NULL},
    {"clamp_min", {V, S}, 2, 0, V, NULL},
    {"cos", {V}, 1, 0, V, NULL},
    {"cosh", {V}, 1, 0, V, NULL},
    {"count_over_time", {M}, 1, 0, V, NULL},
    {"day_of_month", {V}, 1, 1, V, NULL},
    {"day_of_week", {V}, 1, 1, V, NULL},
    {"day_of_year", {V}, 1, 1, V, NULL},
    {"days_in_month", {V}, 1, 1, V, NULL},
    {"deg", {V}, 1, 0, V, NULL},
    {"delta", {M}, 1, 0, V, NULL},
    {"deriv", {M}, 1, 0, V, NULL},
    {"exp", {V}, 1, 0, V, NULL},
    {"floor", {V}, 1, 0, V, NULL},
    {"histogram_count", {V}, 1, 0, V, NULL},
    {"histogram_fraction", {S, S, V}, 3, 0, V, NULL},
    {"histogram_quantile", {S, V}, 2, 0, V, NULL},
    {"histogram_sum", {V}, 1, 0, V, NULL},
    {"holt_winters", {M, S, S}, 3, 0, V, NULL},
    {"hour", {V}, 1, 1, V, NULL},
    {"idelta", {M}, 1, 0, V, NULL},
    {"increase", {M}, 1, 0, V, NULL},
    {"irate", {M}, 1, 0, V, NULL},
    {"label_join", {V, STR, STR, STR}, 4, -1, V, NULL},
    {"label_replace", {V, STR, STR, STR, STR}, 5, 0, V, NULL},
    {"last_over_time", {M}, 1, 0, V, NULL},
    {"ln", {V}, 1, 0, V, NULL},
    {"log10", {V}, 1, 0, V, NULL},
    {"log2", {V}, 1, 0, V, NULL},
    {"max_over_time", {M}, 1, 0, V, NULL},
    {"min_over_time", {M}, 1, 0, V, NULL},
    {"minute", {V}, 1, 1, V, NULL},
    {"month", {V}, 1, 1, V, NULL},
    {"pi", {0}, 0, 0, S, NULL},
    {"predict_linear", {M, S}, 2, 0, V, NULL},
    {"present_over_time", {M}, 1, 0, V, NULL},
    {"quantile_over_time", {S, M}, 2, 0, V, NULL},
    {"rad", {V}, 1, 0, V, NULL},
    {"rate", {M}, 1, 0, V, NULL},
    {"resets", {M}, 1, 0, V, NULL},
    {"round", {V, S}, 2, 1, V, NULL},
    {"scalar", {V}, 1, 0, S, NULL},
    {"sgn", {V}, 1, 0, V, NULL},
    {"sin", {V}, 1, 0, V, NULL},
    {"sinh", {V}, 1, 0, V, NULL},
    {"sort", {V}, 1, 0, V, NULL},
    {"sort_desc", {V}, 1, 0, V, NULL},
    {"sqrt", {V}, 1, 0, V, NULL},
    {"stddev_over_time", {M}, 1, 0, V, NULL},
    {"stdvar_over_time", {M}, 1, 0, V, NULL},
    {"sum_over_time", {M}, 1, 0, V, NULL},
    {"tan", {V}, 1, 0, V, NULL},
    {"tanh", {V}, 1, 0, V, NULL},
    {"time", {0}, 0, 0, S, NULL},
    {"timestamp", {V}, 1, 0, V, NULL},
    {"vector", {S}, 1, 0, V, NULL},
    {"year", {V}, 1, 1, V, NULL},
};

static int function_cmp(const void *key, const void *ent)
{
    return strcmp(key, ((const struct promql_function *)ent)->name);
}

const struct promql_function *promql_function_lookup(const char *name)
{
    return bsearch(name, functions, sizeof(functions) / sizeof(functions[0]),
                   sizeof(functions[0]), function_cmp);
}
