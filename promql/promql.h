/*
 * promql: the PromQL query language of Prometheus 2.42 — lexer, parser,
 * AST and evaluator.
 *
 * The module knows storage only through struct promql_queryable: a way to
 * open a read view over [mint, maxt] as tsdb data sources (struct
 * tsdb_source from tsdb/tsdb.h, the select/label_names/label_values
 * vtable). The agent's database, a head in a test, and later the gateway's
 * remote stores all fit behind it.
 *
 * Life of a query: promql_parse() turns the text into an AST (type-checked
 * as Prometheus' parser checks it), promql_exec_instant()/_range() evaluate
 * it into a struct promql_result. Errors carry a kind that maps onto the
 * HTTP API's errorType (bad_data, execution, timeout, canceled) and a
 * message in Prometheus' words.
 *
 * Threads: a parsed expression is read-only during evaluation; an engine
 * may run queries from several threads at once (it counts them against
 * max_concurrency). A query never holds a lock the ingestion path takes:
 * it reads through the sources' own snapshot rules.
 */
#ifndef CAIRN_PROMQL_H
#define CAIRN_PROMQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/tsdb.h"

/* ---- errors ------------------------------------------------------------------ */

enum promql_error_kind {
    PROMQL_ERR_NONE = 0,
    PROMQL_ERR_BAD_DATA,  /* parse or type error, bad parameter: HTTP 400 */
    PROMQL_ERR_EXECUTION, /* failed while evaluating (too many samples, duplicate series,
                           * many-to-many matching, storage error): HTTP 422 */
    PROMQL_ERR_TIMEOUT,   /* --query.timeout passed: HTTP 503 */
    PROMQL_ERR_CANCELED,  /* the caller canceled: HTTP 503 */
    PROMQL_ERR_INTERNAL,  /* out of memory and the like: HTTP 500 */
};

#define PROMQL_ERR_MSG_MAX 512
struct promql_error {
    enum promql_error_kind kind;
    /* For parse errors the position (byte offsets into the query) the
     * message names; both 0 otherwise. */
    uint32_t pos_start, pos_end;
    char msg[PROMQL_ERR_MSG_MAX];
};
/* "bad_data", "execution", "timeout", "canceled", "internal". */
const char *promql_error_kind_name(enum promql_error_kind k);

/* ---- the AST ----------------------------------------------------------------- */

enum promql_type {
    PROMQL_TYPE_NONE = 0,
    PROMQL_TYPE_SCALAR,
    PROMQL_TYPE_VECTOR, /* instant vector */
    PROMQL_TYPE_MATRIX, /* range vector */
    PROMQL_TYPE_STRING,
};
/* "scalar", "vector", "matrix", "string" (the API's resultType names). */
const char *promql_type_name(enum promql_type t);

enum promql_node_kind {
    PROMQL_NODE_NUMBER,
    PROMQL_NODE_STRING,
    PROMQL_NODE_VECTOR_SELECTOR,
    PROMQL_NODE_MATRIX_SELECTOR,
    PROMQL_NODE_SUBQUERY,
    PROMQL_NODE_PAREN,
    PROMQL_NODE_UNARY,
    PROMQL_NODE_BINARY,
    PROMQL_NODE_CALL,
    PROMQL_NODE_AGGREGATE,
};

/* Binary operators, in no particular order; see promql_binop_name(). */
enum promql_binop {
    PROMQL_OP_ADD,
    PROMQL_OP_SUB,
    PROMQL_OP_MUL,
    PROMQL_OP_DIV,
    PROMQL_OP_MOD,
    PROMQL_OP_POW,
    PROMQL_OP_ATAN2,
    PROMQL_OP_EQL, /* == */
    PROMQL_OP_NEQ,
    PROMQL_OP_GTR,
    PROMQL_OP_LSS,
    PROMQL_OP_GTE,
    PROMQL_OP_LTE,
    PROMQL_OP_AND,
    PROMQL_OP_OR,
    PROMQL_OP_UNLESS,
};
const char *promql_binop_name(enum promql_binop op); /* "+", "==", "and", "atan2" ... */
bool promql_binop_is_comparison(enum promql_binop op);
bool promql_binop_is_set(enum promql_binop op); /* and, or, unless */

enum promql_aggop {
    PROMQL_AGG_SUM,
    PROMQL_AGG_AVG,
    PROMQL_AGG_COUNT,
    PROMQL_AGG_MIN,
    PROMQL_AGG_MAX,
    PROMQL_AGG_GROUP,
    PROMQL_AGG_STDDEV,
    PROMQL_AGG_STDVAR,
    PROMQL_AGG_TOPK,
    PROMQL_AGG_BOTTOMK,
    PROMQL_AGG_COUNT_VALUES,
    PROMQL_AGG_QUANTILE,
};
const char *promql_aggop_name(enum promql_aggop op); /* "sum", "count_values" ... */

/* The `@` modifier of a selector or subquery. */
enum promql_at { PROMQL_AT_NONE = 0, PROMQL_AT_TIME, PROMQL_AT_START, PROMQL_AT_END };

enum promql_cardinality {
    PROMQL_CARD_ONE_TO_ONE = 0,
    PROMQL_CARD_MANY_TO_ONE,  /* group_left */
    PROMQL_CARD_ONE_TO_MANY,  /* group_right */
    PROMQL_CARD_MANY_TO_MANY, /* set operators */
};

struct promql_function; /* the function table entry, see promql_function_lookup() */
struct promql_fcall;    /* a function call being evaluated (promql/internal.h) */

struct promql_expr {
    enum promql_node_kind kind;
    uint32_t pos_start, pos_end; /* byte offsets of the node in the query text */
    union {
        double number; /* PROMQL_NODE_NUMBER; a literal "-1" is parsed to -1 */
        char *string;  /* PROMQL_NODE_STRING: the unquoted, unescaped value */
        struct {
            char *name; /* the metric name written before '{', or NULL */
            /* Every matcher, including __name__="name" for a written name,
             * compiled; owned. */
            struct tsdb_matcher **matchers;
            size_t nmatchers;
            int64_t offset_ms; /* may be negative */
            enum promql_at at;
            int64_t at_ms; /* for PROMQL_AT_TIME */
        } vs;              /* PROMQL_NODE_VECTOR_SELECTOR */
        struct {
            struct promql_expr *vs; /* a PROMQL_NODE_VECTOR_SELECTOR */
            int64_t range_ms;
        } ms; /* PROMQL_NODE_MATRIX_SELECTOR */
        struct {
            struct promql_expr *expr;
            int64_t range_ms, step_ms; /* step 0: the query's resolution */
            int64_t offset_ms;
            enum promql_at at;
            int64_t at_ms;
        } sq;                      /* PROMQL_NODE_SUBQUERY */
        struct promql_expr *paren; /* PROMQL_NODE_PAREN */
        struct {
            enum promql_binop op; /* ADD or SUB */
            struct promql_expr *expr;
        } unary; /* PROMQL_NODE_UNARY */
        struct {
            enum promql_binop op;
            struct promql_expr *lhs, *rhs;
            bool return_bool;
            /* Vector matching; meaningful when both sides are vectors. */
            enum promql_cardinality card;
            bool on;             /* on(...) given, else ignoring(...) or nothing */
            char **match_labels; /* the on/ignoring list; owned */
            size_t nmatch_labels;
            char **include; /* the group_left/group_right list; owned */
            size_t ninclude;
        } binary; /* PROMQL_NODE_BINARY */
        struct {
            const struct promql_function *func;
            struct promql_expr **args;
            size_t nargs;
        } call; /* PROMQL_NODE_CALL */
        struct {
            enum promql_aggop op;
            struct promql_expr *expr;
            struct promql_expr *param; /* topk/bottomk/quantile/count_values, else NULL */
            char **grouping;           /* owned; by(...) or without(...) */
            size_t ngrouping;
            bool without;
        } agg; /* PROMQL_NODE_AGGREGATE */
    };
};

/* The type an expression evaluates to. */
enum promql_type promql_expr_type(const struct promql_expr *e);

/* Parses a whole query. 0 with a tree in *out that the caller frees with
 * promql_expr_free(); or -EINVAL with err filled (kind BAD_DATA, the
 * position and a message such as Prometheus gives: `1:8: parse error:
 * unexpected "}" in label matching, expected string`), or -ENOMEM. The
 * input must be NUL-terminated; invalid UTF-8 is a parse error. Nesting is
 * bounded (PROMQL_MAX_DEPTH) so no input can exhaust the stack. */
#define PROMQL_MAX_DEPTH 256
int promql_parse(const char *input, struct promql_expr **out, struct promql_error *err);
void promql_expr_free(struct promql_expr *e); /* accepts NULL */

/* Parses a series selector as /api/v1/series' match[] takes it (`up`,
 * `{job="x"}`, with at least one matcher that does not match ""). On
 * success *matchers (owned, each freed with tsdb_matcher_destroy, the array
 * with free) and *n are set. */
int promql_parse_selector(const char *input, struct tsdb_matcher ***matchers, size_t *n,
                          struct promql_error *err);

/* A Prometheus duration ("5m", "1h30m", "1y"): 0 and *ms, or -EINVAL. */
int promql_parse_duration(const char *s, int64_t *ms);

/* ---- the function table ------------------------------------------------------ */

#define PROMQL_FUNC_MAX_ARGS 5
struct promql_function {
    const char *name;
    enum promql_type arg_types[PROMQL_FUNC_MAX_ARGS];
    size_t nargs; /* declared arguments */
    int variadic; /* 0: exactly nargs arguments. Otherwise (as Prometheus)
                   * at least nargs - 1, and at most nargs - 1 + variadic
                   * (variadic > 0) or any number (-1); arguments past the
                   * declared ones have the last declared type */
    enum promql_type return_type;
    int (*impl)(struct promql_fcall *c); /* see promql/internal.h */
};
/* The 2.42 function called name, or NULL. */
const struct promql_function *promql_function_lookup(const char *name);

/* ---- values and results ------------------------------------------------------ */

/* An immutable, reference-counted label set (sorted by name). Results hand
 * them out; read them through promql_labels_view(). */
struct promql_labels;
struct tsdb_labels promql_labels_view(const struct promql_labels *ls);

struct promql_point {
    int64_t t; /* ms */
    double v;
};
struct promql_sample {
    struct promql_labels *labels; /* one reference owned */
    int64_t t;
    double v;
};
struct promql_vector {
    struct promql_sample *v;
    size_t n, cap;
};
struct promql_series {
    struct promql_labels *labels; /* one reference owned */
    struct promql_point *pts;     /* ascending t */
    size_t n, cap;
};
struct promql_matrix {
    struct promql_series *v;
    size_t n, cap;
};

struct promql_result {
    enum promql_type type;
    union {
        struct promql_point scalar; /* SCALAR: t and v */
        struct {
            int64_t t;
            char *s;                 /* owned */
        } string;                    /* STRING */
        struct promql_vector vector; /* VECTOR (instant queries) */
        struct promql_matrix matrix; /* MATRIX (range queries, range selectors) */
    };
};
void promql_result_free(struct promql_result *r); /* contents; accepts NULL */

/* A sample value as Prometheus prints it (Go's strconv.FormatFloat(v, 'f',
 * -1, 64): the shortest decimal that reads back as v, never an exponent;
 * "NaN", "+Inf", "-Inf"), into buf (64 bytes are always enough for the
 * common range; longer values are cut at cap). Returns buf. */
#define PROMQL_FLOAT_BUF 400
const char *promql_format_float(double v, char *buf, size_t cap);
/* The shortest digits of a finite v > 0 that read back as v (closest when
 * several are as short), as Go's strconv finds them: n digits ('0'-'9', no
 * trailing zero) into digits and the exponent k with v = 0.d1d2... x 10^k.
 * Returns n (1..17). For other layouts than promql_format_float's, such as
 * the API's exponent form of very small and very large values. */
#define PROMQL_DIGITS_MAX 32
int promql_float_digits(double v, char digits[PROMQL_DIGITS_MAX], int *k);
/* Whether s is a valid label name ([a-zA-Z_][a-zA-Z0-9_]*). */
bool promql_label_name_valid(const char *s);

/* ---- the engine -------------------------------------------------------------- */

/* Where data comes from: open() gives a view over samples in [mint, maxt]
 * (ms, inclusive) as data sources, valid until close(handle). */
struct promql_queryable {
    int (*open)(void *ctx, int64_t mint, int64_t maxt, void **handle,
                const struct tsdb_source **src, size_t *nsrc);
    void (*close)(void *ctx, void *handle);
    void *ctx;
};

struct promql_engine_opts {
    int64_t lookback_ms; /* 0: 5m */
    int64_t timeout_ms;  /* 0: 2m */
    int64_t max_samples; /* 0: 50,000,000 samples in memory at once */
    int max_concurrency; /* 0: 20 queries at once; more wait their turn */
    int64_t max_points;  /* points per series of a range query; 0: 11,000 */
};
struct promql_engine;
int promql_engine_create(const struct promql_engine_opts *opts, struct promql_engine **out);
void promql_engine_destroy(struct promql_engine *e); /* accepts NULL */

/* Cancels a running query from another thread: set *flag to true. */
struct promql_query_opts {
    const volatile bool *cancel; /* may be NULL */
};

/* Evaluates an instant query at t (ms). 0 with *res filled (the caller
 * frees it with promql_result_free), or a negative errno with err set. */
int promql_exec_instant(struct promql_engine *e, const struct promql_queryable *q,
                        const struct promql_expr *expr, int64_t t,
                        const struct promql_query_opts *qo, struct promql_result *res,
                        struct promql_error *err);
/* Evaluates a range query from start to end (ms, inclusive) every step ms
 * (> 0). The result is a matrix, or a scalar/string for such expressions
 * evaluated as Prometheus does (a scalar becomes a matrix of one series
 * without labels). */
int promql_exec_range(struct promql_engine *e, const struct promql_queryable *q,
                      const struct promql_expr *expr, int64_t start, int64_t end, int64_t step,
                      const struct promql_query_opts *qo, struct promql_result *res,
                      struct promql_error *err);

#endif
