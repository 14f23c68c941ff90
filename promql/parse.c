/*
 * The PromQL parser: a recursive-descent parser over lex.c's tokens that
 * accepts the language of Prometheus 2.42's yacc grammar
 * (parser/generated_parser.y) and reports the same first error.
 *
 * Shape. Binary operators are parsed by precedence climbing with
 * Prometheus' table (^ right-associative and highest; * / % atan2; + -;
 * comparisons; and unless; or lowest). A unary + or - takes an operand
 * that may only contain ^, as the grammar's `unary_op expr %prec MUL`
 * does, and folds into a number literal. The postfix modifiers (offset,
 * @, [range], [range:step]) bind to the primary expression right before
 * them, which is where yacc's shift preferences put them. Keywords are
 * metric names or label names wherever the grammar allows
 * (`metric_identifier`, `maybe_label`).
 *
 * Errors. Prometheus reports the first error its parser records. Syntax
 * errors come from the grammar's error productions, whose context depends
 * on which rule was open: "in label matching", "in grouping opts", "in
 * offset", "in @", "in subquery selector"; an unexpected token anywhere
 * inside an aggregation's body is caught by `aggregate_op error` ("in
 * aggregation"), everything else by `start: error`. The parser tracks the
 * open aggregations to pick the same context, and peeks at the next token
 * only where yacc needs a lookahead, so a lexer error and an error of a
 * reduction come in the same order. Type errors (Prometheus' checkAST)
 * are looked for only on a tree without syntax errors, in checkAST's
 * order. Messages and line:col positions are Prometheus' texts.
 *
 * Limits. Recursion and the height of the tree are bounded by
 * PROMQL_MAX_DEPTH, so neither parsing nor anything walking the tree
 * (freeing, type checking, evaluation) can exhaust the stack. Every error
 * path frees what it built; allocation failures give -ENOMEM.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "promql/internal.h"
#include "promql/parse_internal.h"

struct parser {
    const char *in;
    size_t len;
    struct pql_lexer lex;
    struct pql_token tok; /* the lookahead, when have_tok */
    bool have_tok;
    uint32_t last_closing; /* end of the last ) ] } number or duration lexed */
    int depth;             /* recursion depth of parse_expr */
    int in_agg;            /* aggregation bodies open (yacc's `aggregate_op error`) */
    int rc;                /* 0, -EINVAL or -ENOMEM: the first failure */
    struct promql_error *err;
};

/* ---- errors ------------------------------------------------------------------------ */

static void verrf(struct parser *p, uint32_t start, uint32_t end, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void verrf(struct parser *p, uint32_t start, uint32_t end, const char *fmt, va_list ap)
{
    if (p->rc)
        return;
    p->rc = -EINVAL;
    if (!p->err)
        return;
    int line = 1;
    size_t last_nl = (size_t)-1;
    for (size_t i = 0; i < start && i < p->len; i++) {
        if (p->in[i] == '\n') {
            last_nl = i;
            line++;
        }
    }
    p->err->kind = PROMQL_ERR_BAD_DATA;
    p->err->pos_start = start;
    p->err->pos_end = end;
    int k = snprintf(p->err->msg, sizeof(p->err->msg), "%d:%zu: parse error: ", line,
                     (size_t)(start - last_nl));
    if (k > 0 && (size_t)k < sizeof(p->err->msg))
        vsnprintf(p->err->msg + k, sizeof(p->err->msg) - (size_t)k, fmt, ap);
}

static void errf(struct parser *p, uint32_t start, uint32_t end, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void errf(struct parser *p, uint32_t start, uint32_t end, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrf(p, start, end, fmt, ap);
    va_end(ap);
}

static void nomem(struct parser *p)
{
    if (p->rc)
        return;
    p->rc = -ENOMEM;
    if (p->err) {
        p->err->kind = PROMQL_ERR_INTERNAL;
        p->err->pos_start = p->err->pos_end = 0;
        snprintf(p->err->msg, sizeof(p->err->msg), "out of memory");
    }
}

/* ---- tokens ------------------------------------------------------------------------- */

static const struct pql_token *peek(struct parser *p)
{
    if (p->have_tok)
        return &p->tok;
    pql_lex_next(&p->lex, &p->tok);
    p->have_tok = true;
    switch (p->tok.type) {
    case PQL_T_ERROR: errf(p, p->tok.pos, (uint32_t)p->len, "%s", p->lex.err); break;
    case PQL_T_RIGHT_BRACE:
    case PQL_T_RIGHT_PAREN:
    case PQL_T_RIGHT_BRACKET:
    case PQL_T_DURATION:
    case PQL_T_NUMBER: p->last_closing = p->tok.pos + p->tok.len; break;
    default: break;
    }
    return &p->tok;
}

static struct pql_token consume(struct parser *p)
{
    peek(p);
    p->have_tok = false;
    return p->tok;
}

static const char *tok_text(const struct parser *p, const struct pql_token *t)
{
    return p->in + t->pos;
}

/* How Prometheus' Item.desc() shows a token in "unexpected ..." messages. */
static void tok_desc(const struct parser *p, const struct pql_token *t, char *buf, size_t cap)
{
    const char *v = tok_text(p, t);
    int n = (int)t->len;
    const char *kind = NULL;
    switch (t->type) {
    case PQL_T_EOF: snprintf(buf, cap, "end of input"); return;
    case PQL_T_IDENTIFIER:
    case PQL_T_METRIC_IDENTIFIER: {
        char q[PROMQL_ERR_MSG_MAX / 2 - 32]; /* leaves room for the words around it */
        pql_quote(q, sizeof(q), v, t->len, 0);
        snprintf(buf, cap, "%s %s",
                 t->type == PQL_T_IDENTIFIER ? "identifier" : "metric identifier", q);
        return;
    }
    case PQL_T_AT:
        /* AT has no entry in Prometheus' token names: goyacc's number shows. */
        snprintf(buf, cap, "\"<Item 57385>\" <op:%.*s>", n, v);
        return;
    case PQL_T_NUMBER: kind = "number "; break;
    case PQL_T_STRING: kind = "string "; break;
    case PQL_T_DURATION: kind = "duration "; break;
    default: break;
    }
    if (pql_tok_is_keyword(t->type)) {
        snprintf(buf, cap, "<%.*s>", n, v);
    } else if (pql_tok_is_operator(t->type)) {
        snprintf(buf, cap, "<op:%.*s>", n, v);
    } else if (pql_tok_is_aggregator(t->type)) {
        snprintf(buf, cap, "<aggr:%.*s>", n, v);
    } else {
        /* Longer than 10 bytes: the first 10 characters and "...". */
        char q[PROMQL_ERR_MSG_MAX / 2 - 16];
        bool cut = t->len > 10;
        pql_quote(q, sizeof(q), v, t->len, cut ? 10 : 0);
        snprintf(buf, cap, "%s%s%s", kind ? kind : "", q, cut ? "..." : "");
    }
}

/* "unexpected <token> in <context>, expected <what>" for token t, unless
 * t is a lexer error (already reported). */
static void unexpected_tok(struct parser *p, const struct pql_token *t, const char *context,
                           const char *expected)
{
    if (t->type == PQL_T_ERROR)
        return;
    char d[PROMQL_ERR_MSG_MAX / 2];
    tok_desc(p, t, d, sizeof(d));
    errf(p, t->pos, t->pos + t->len, "unexpected %s%s%s%s%s", d, *context ? " in " : "", context,
         *expected ? ", expected " : "", expected);
}

static void unexpected(struct parser *p, const char *context, const char *expected)
{
    unexpected_tok(p, peek(p), context, expected);
}

/* An unexpected lookahead where only the grammar's catch-all rules apply. */
static void unexpected_generic(struct parser *p)
{
    unexpected(p, p->in_agg ? "aggregation" : "", "");
}

static bool is_metric_identifier(enum pql_tok t)
{
    switch (t) {
    case PQL_T_IDENTIFIER:
    case PQL_T_METRIC_IDENTIFIER:
    case PQL_T_BY:
    case PQL_T_LAND:
    case PQL_T_LOR:
    case PQL_T_LUNLESS:
    case PQL_T_OFFSET:
    case PQL_T_WITHOUT:
    case PQL_T_START:
    case PQL_T_END: return true;
    default: return pql_tok_is_aggregator(t);
    }
}

static bool is_maybe_label(enum pql_tok t)
{
    switch (t) {
    case PQL_T_BOOL:
    case PQL_T_GROUP_LEFT:
    case PQL_T_GROUP_RIGHT:
    case PQL_T_IGNORING:
    case PQL_T_ON:
    case PQL_T_ATAN2: return true;
    default: return is_metric_identifier(t);
    }
}

static bool starts_expr(enum pql_tok t)
{
    switch (t) {
    case PQL_T_NUMBER:
    case PQL_T_STRING:
    case PQL_T_LEFT_PAREN:
    case PQL_T_LEFT_BRACE:
    case PQL_T_ADD:
    case PQL_T_SUB: return true;
    default: return is_metric_identifier(t);
    }
}

/* ---- nodes -------------------------------------------------------------------------- */

static struct promql_expr *node_new(struct parser *p, enum promql_node_kind kind, uint32_t start,
                                    uint32_t end)
{
    struct promql_expr *e = cn_calloc(1, sizeof(*e));
    if (!e) {
        nomem(p);
        return NULL;
    }
    e->kind = kind;
    e->pos_start = start;
    e->pos_end = end;
    return e;
}

/* Checks the height of a node about to be made over children of height
 * h; false (error set) if the tree would grow too deep. */
static bool height_ok(struct parser *p, unsigned h, uint32_t pos)
{
    if (h + 1 <= PROMQL_MAX_DEPTH)
        return true;
    errf(p, pos, pos, "expression nesting exceeds the maximum depth of %d", PROMQL_MAX_DEPTH);
    return false;
}

static int strv_push(char ***v, size_t *n, size_t *cap, char *s)
{
    if (cn_array_grow((void **)v, cap, *n + 1, sizeof(**v), 4) < 0)
        return -ENOMEM;
    (*v)[(*n)++] = s;
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int exprv_push(struct promql_expr ***v, size_t *n, size_t *cap, struct promql_expr *e)
{
    if (cn_array_grow((void **)v, cap, *n + 1, sizeof(**v), 4) < 0)
        return -ENOMEM;
    (*v)[(*n)++] = e;
    return 0;
}

static void exprv_free(struct promql_expr **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        promql_expr_free(v[i]);
    free(v);
}

/* Prometheus' PositionRange() of a node. */
static uint32_t start_of(const struct promql_expr *e)
{
    return e->pos_start;
}
static uint32_t end_of(const struct promql_expr *e)
{
    return e->pos_end;
}

/* ---- literals ----------------------------------------------------------------------- */

static bool parse_duration_tok(struct parser *p, const struct pql_token *t, int64_t *ms)
{
    char why[PROMQL_ERR_MSG_MAX / 2];
    if (pql_parse_duration(tok_text(p, t), t->len, ms, why, sizeof(why)) < 0) {
        errf(p, t->pos, t->pos + t->len, "%s", why);
        return false;
    }
    if (*ms == 0) {
        errf(p, t->pos, t->pos + t->len, "duration must be greater than 0");
        return false;
    }
    return true;
}

static bool parse_number_tok(struct parser *p, const struct pql_token *t, double *v)
{
    char why[PROMQL_ERR_MSG_MAX / 2];
    int rc = pql_parse_number(tok_text(p, t), t->len, v, why, sizeof(why));
    if (rc == -ENOMEM) {
        nomem(p);
        return false;
    }
    if (rc < 0) {
        errf(p, t->pos, t->pos + t->len, "error parsing number: %s", why);
        return false;
    }
    return true;
}

/* The unquoted value of a string token (malloc'd), or NULL with the error set. */
static char *unquote_tok(struct parser *p, const struct pql_token *t)
{
    char why[128], *out;
    int rc = pql_unquote(tok_text(p, t), t->len, &out, why, sizeof(why));
    if (rc == -ENOMEM) {
        nomem(p);
        return NULL;
    }
    if (rc < 0) {
        char q[PROMQL_ERR_MSG_MAX / 2];
        pql_quote(q, sizeof(q), tok_text(p, t), t->len, 0);
        errf(p, t->pos, t->pos + t->len, "error unquoting string %s: %s", q, why);
        return NULL;
    }
    return out;
}

/* ---- selectors ---------------------------------------------------------------------- */

struct matchers {
    struct tsdb_matcher **v;
    size_t n, cap;
};

static void matchers_free(struct matchers *m)
{
    for (size_t i = 0; i < m->n; i++)
        tsdb_matcher_destroy(m->v[i]);
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

static bool matcher_add(struct parser *p, struct matchers *m, enum tsdb_match_type type,
                        const char *name, const char *value, uint32_t start, uint32_t end)
{
    if (cn_array_grow((void **)&m->v, &m->cap, m->n + 1, sizeof(*m->v), 4) < 0) {
        nomem(p);
        return false;
    }
    char why[PROMQL_ERR_MSG_MAX / 2];
    why[0] = '\0';
    struct tsdb_matcher *x;
    int rc = tsdb_matcher_create(type, name, value, &x, why, sizeof(why));
    if (rc == -ENOMEM) {
        nomem(p);
        return false;
    }
    if (rc < 0) {
        errf(p, start, end, "%s", why[0] ? why : "invalid matcher");
        return false;
    }
    m->v[m->n++] = x;
    return true;
}

/* label_matchers: '{' [matcher {',' matcher}] [','] '}'; the '{' is next. */
static bool parse_label_matchers(struct parser *p, struct matchers *m, uint32_t *end)
{
    consume(p); /* { */
    if (peek(p)->type == PQL_T_RIGHT_BRACE) {
        *end = consume(p).pos + 1;
        return true;
    }
    for (;;) {
        if (peek(p)->type != PQL_T_IDENTIFIER) {
            unexpected(p, "label matching", "identifier or \"}\"");
            return false;
        }
        struct pql_token name = consume(p);
        enum tsdb_match_type type;
        switch (peek(p)->type) {
        case PQL_T_EQL: type = TSDB_MATCH_EQ; break;
        case PQL_T_NEQ: type = TSDB_MATCH_NEQ; break;
        case PQL_T_EQL_REGEX: type = TSDB_MATCH_RE; break;
        case PQL_T_NEQ_REGEX: type = TSDB_MATCH_NRE; break;
        default: unexpected(p, "label matching", "label matching operator"); return false;
        }
        consume(p);
        if (peek(p)->type != PQL_T_STRING) {
            unexpected(p, "label matching", "string");
            return false;
        }
        struct pql_token val = consume(p);
        char *value = unquote_tok(p, &val);
        if (!value)
            return false;
        char *lname = cn_strndup(tok_text(p, &name), name.len);
        bool ok = lname && matcher_add(p, m, type, lname, value, name.pos, val.pos + val.len);
        if (!lname)
            nomem(p);
        free(lname);
        free(value);
        if (!ok)
            return false;
        enum pql_tok t = peek(p)->type;
        if (t == PQL_T_COMMA) {
            consume(p);
            if (peek(p)->type == PQL_T_RIGHT_BRACE) {
                *end = consume(p).pos + 1;
                return true;
            }
        } else if (t == PQL_T_RIGHT_BRACE) {
            *end = consume(p).pos + 1;
            return true;
        } else {
            unexpected(p, "label matching", "\",\" or \"}\"");
            return false;
        }
    }
}

/* vector_selector: [metric_identifier] [label_matchers]; the name token,
 * if any, has been consumed. */
static struct promql_expr *parse_vector_selector(struct parser *p, const struct pql_token *name,
                                                 uint32_t start)
{
    struct matchers m = {0};
    uint32_t end = name ? name->pos + name->len : start;
    if (peek(p)->type == PQL_T_LEFT_BRACE) {
        if (!parse_label_matchers(p, &m, &end)) {
            matchers_free(&m);
            return NULL;
        }
    }
    char *n = NULL;
    if (name) {
        n = cn_strndup(tok_text(p, name), name->len);
        if (!n || !matcher_add(p, &m, TSDB_MATCH_EQ, "__name__", n, name->pos, end)) {
            if (!n)
                nomem(p);
            free(n);
            matchers_free(&m);
            return NULL;
        }
    }
    struct promql_expr *e = node_new(p, PROMQL_NODE_VECTOR_SELECTOR, start, end);
    if (!e) {
        free(n);
        matchers_free(&m);
        return NULL;
    }
    e->vs.name = n;
    e->vs.matchers = m.v;
    e->vs.nmatchers = m.n;
    return e;
}

/* ---- grouping labels ------------------------------------------------------------------ */

struct strv {
    char **v;
    size_t n, cap;
};

/* grouping_labels: '(' [label {',' label}] [','] ')'. */
static bool parse_grouping_labels(struct parser *p, struct strv *out)
{
    if (peek(p)->type != PQL_T_LEFT_PAREN) {
        unexpected(p, "grouping opts", "\"(\"");
        return false;
    }
    consume(p);
    if (peek(p)->type == PQL_T_RIGHT_PAREN) {
        consume(p);
        return true;
    }
    for (;;) {
        if (!is_maybe_label(peek(p)->type)) {
            unexpected(p, "grouping opts", "label");
            return false;
        }
        struct pql_token l = consume(p);
        if (!pql_is_label(tok_text(p, &l), l.len)) {
            unexpected_tok(p, &l, "grouping opts", "label");
            return false;
        }
        char *s = cn_strndup(tok_text(p, &l), l.len);
        if (!s || strv_push(&out->v, &out->n, &out->cap, s) < 0) {
            free(s);
            nomem(p);
            return false;
        }
        enum pql_tok t = peek(p)->type;
        if (t == PQL_T_COMMA) {
            consume(p);
            if (peek(p)->type == PQL_T_RIGHT_PAREN) {
                consume(p);
                return true;
            }
        } else if (t == PQL_T_RIGHT_PAREN) {
            consume(p);
            return true;
        } else {
            unexpected(p, "grouping opts", "\",\" or \")\"");
            return false;
        }
    }
}

/* ---- expressions ---------------------------------------------------------------------- */

static struct promql_expr *parse_expr(struct parser *p, int min_prec, unsigned *h);

/* function_call_body: '(' [expr {',' expr}] ')'; '(' is next. Trailing
 * commas are an error, as in Prometheus. */
static bool parse_call_body(struct parser *p, struct promql_expr ***args, size_t *nargs,
                            unsigned *h)
{
    size_t cap = 0;
    *h = 0;
    consume(p); /* ( */
    if (peek(p)->type == PQL_T_RIGHT_PAREN) {
        consume(p);
        return true;
    }
    for (;;) {
        unsigned ah;
        struct promql_expr *a = parse_expr(p, 1, &ah);
        if (!a)
            return false;
        if (exprv_push(args, nargs, &cap, a) < 0) {
            promql_expr_free(a);
            nomem(p);
            return false;
        }
        if (ah > *h)
            *h = ah;
        const struct pql_token *t = peek(p);
        if (t->type == PQL_T_RIGHT_PAREN) {
            consume(p);
            return true;
        }
        if (t->type != PQL_T_COMMA) {
            unexpected_generic(p);
            return false;
        }
        struct pql_token comma = consume(p);
        if (!starts_expr(peek(p)->type)) {
            errf(p, comma.pos, comma.pos + 1, "trailing commas not allowed in function call args");
            return false;
        }
    }
}

static struct promql_expr *parse_call(struct parser *p, const struct pql_token *name, unsigned *h)
{
    struct promql_expr **args = NULL;
    size_t nargs = 0;
    if (!parse_call_body(p, &args, &nargs, h))
        goto fail;
    char fname[64];
    const struct promql_function *f = NULL;
    if (name->len < sizeof(fname)) {
        memcpy(fname, tok_text(p, name), name->len);
        fname[name->len] = '\0';
        f = promql_function_lookup(fname);
    }
    if (!f) {
        char q[PROMQL_ERR_MSG_MAX / 2];
        pql_quote(q, sizeof(q), tok_text(p, name), name->len, 0);
        errf(p, name->pos, name->pos + name->len, "unknown function with name %s", q);
        goto fail;
    }
    if (!height_ok(p, *h, name->pos))
        goto fail;
    struct promql_expr *e = node_new(p, PROMQL_NODE_CALL, name->pos, p->last_closing);
    if (!e)
        goto fail;
    e->call.func = f;
    e->call.args = args;
    e->call.nargs = nargs;
    (*h)++;
    return e;
fail:
    exprv_free(args, nargs);
    return NULL;
}

static bool agg_has_param(enum promql_aggop op)
{
    return op == PROMQL_AGG_TOPK || op == PROMQL_AGG_BOTTOMK || op == PROMQL_AGG_COUNT_VALUES ||
           op == PROMQL_AGG_QUANTILE;
}

/* aggregate_expr: op [modifier] body | op body [modifier]; op is consumed
 * and the next token is '(', by or without. */
static struct promql_expr *parse_aggregate(struct parser *p, const struct pql_token *op,
                                           unsigned *h)
{
    struct strv grouping = {0};
    bool without = false, have_mod = false;
    struct promql_expr **args = NULL;
    size_t nargs = 0;
    enum promql_aggop aop = (enum promql_aggop)(op->type - PQL_T_SUM);

    enum pql_tok t = peek(p)->type;
    if (t == PQL_T_BY || t == PQL_T_WITHOUT) {
        consume(p);
        without = t == PQL_T_WITHOUT;
        have_mod = true;
        if (!parse_grouping_labels(p, &grouping))
            goto fail;
        if (peek(p)->type != PQL_T_LEFT_PAREN) {
            unexpected(p, "aggregation", "");
            goto fail;
        }
    }
    p->in_agg++;
    bool ok = parse_call_body(p, &args, &nargs, h);
    p->in_agg--;
    if (!ok)
        goto fail;
    if (!have_mod) {
        t = peek(p)->type;
        if (t == PQL_T_BY || t == PQL_T_WITHOUT) {
            consume(p);
            without = t == PQL_T_WITHOUT;
            if (!parse_grouping_labels(p, &grouping))
                goto fail;
        }
    }
    uint32_t end = p->last_closing;
    if (nargs == 0) {
        errf(p, op->pos, end, "no arguments for aggregate expression provided");
        goto fail;
    }
    size_t want = agg_has_param(aop) ? 2 : 1;
    if (nargs != want) {
        errf(p, op->pos, end,
             "wrong number of arguments for aggregate expression provided, expected %zu, got %zu",
             want, nargs);
        goto fail;
    }
    if (!height_ok(p, *h, op->pos))
        goto fail;
    struct promql_expr *e = node_new(p, PROMQL_NODE_AGGREGATE, op->pos, end);
    if (!e)
        goto fail;
    e->agg.op = aop;
    e->agg.expr = args[want - 1];
    e->agg.param = want == 2 ? args[0] : NULL;
    free(args);
    e->agg.grouping = grouping.v;
    e->agg.ngrouping = grouping.n;
    e->agg.without = without;
    (*h)++;
    return e;
fail:
    exprv_free(args, nargs);
    strv_free(grouping.v, grouping.n);
    return NULL;
}

static struct promql_expr *parse_primary(struct parser *p, unsigned *h)
{
    const struct pql_token *t = peek(p);
    *h = 1;
    if (t->type == PQL_T_NUMBER) {
        struct pql_token n = consume(p);
        double v;
        if (!parse_number_tok(p, &n, &v))
            return NULL;
        struct promql_expr *e = node_new(p, PROMQL_NODE_NUMBER, n.pos, n.pos + n.len);
        if (e)
            e->number = v;
        return e;
    }
    if (t->type == PQL_T_STRING) {
        struct pql_token s = consume(p);
        char *v = unquote_tok(p, &s);
        if (!v)
            return NULL;
        struct promql_expr *e = node_new(p, PROMQL_NODE_STRING, s.pos, s.pos + s.len);
        if (!e) {
            free(v);
            return NULL;
        }
        e->string = v;
        return e;
    }
    if (t->type == PQL_T_LEFT_PAREN) {
        struct pql_token lp = consume(p);
        unsigned ih;
        struct promql_expr *in = parse_expr(p, 1, &ih);
        if (!in)
            return NULL;
        if (peek(p)->type != PQL_T_RIGHT_PAREN) {
            unexpected_generic(p);
            promql_expr_free(in);
            return NULL;
        }
        struct pql_token rp = consume(p);
        struct promql_expr *e = NULL;
        if (height_ok(p, ih, lp.pos))
            e = node_new(p, PROMQL_NODE_PAREN, lp.pos, rp.pos + 1);
        if (!e) {
            promql_expr_free(in);
            return NULL;
        }
        e->paren = in;
        *h = ih + 1;
        return e;
    }
    if (t->type == PQL_T_LEFT_BRACE)
        return parse_vector_selector(p, NULL, t->pos);
    if (pql_tok_is_aggregator(t->type)) {
        struct pql_token op = consume(p);
        enum pql_tok n = peek(p)->type;
        if (n == PQL_T_LEFT_PAREN || n == PQL_T_BY || n == PQL_T_WITHOUT)
            return parse_aggregate(p, &op, h);
        return parse_vector_selector(p, &op, op.pos);
    }
    if (t->type == PQL_T_IDENTIFIER) {
        struct pql_token name = consume(p);
        if (peek(p)->type == PQL_T_LEFT_PAREN)
            return parse_call(p, &name, h);
        return parse_vector_selector(p, &name, name.pos);
    }
    if (is_metric_identifier(t->type)) {
        struct pql_token name = consume(p);
        return parse_vector_selector(p, &name, name.pos);
    }
    unexpected_generic(p);
    return NULL;
}

/* The vector selector a modifier applies to: e itself or the one inside a
 * matrix selector. */
static struct promql_expr *selector_of(struct promql_expr *e)
{
    if (e->kind == PROMQL_NODE_VECTOR_SELECTOR)
        return e;
    if (e->kind == PROMQL_NODE_MATRIX_SELECTOR)
        return e->ms.vs;
    return NULL;
}

/* `offset [-]duration` after e; OFFSET is next. */
static bool parse_offset(struct parser *p, struct promql_expr *e)
{
    consume(p);
    bool neg = false;
    if (peek(p)->type == PQL_T_SUB) {
        consume(p);
        neg = true;
    }
    if (peek(p)->type != PQL_T_DURATION) {
        unexpected(p, "offset", "duration");
        return false;
    }
    struct pql_token d = consume(p);
    int64_t ms;
    if (!parse_duration_tok(p, &d, &ms))
        return false;
    if (neg)
        ms = -ms;
    int64_t *off;
    struct promql_expr *vs = selector_of(e);
    if (vs)
        off = &vs->vs.offset_ms;
    else if (e->kind == PROMQL_NODE_SUBQUERY)
        off = &e->sq.offset_ms;
    else {
        errf(p, start_of(e), end_of(e),
             "offset modifier must be preceded by an instant vector selector or range vector "
             "selector or a subquery");
        return false;
    }
    if (*off != 0) {
        errf(p, start_of(e), end_of(e), "offset may not be set multiple times");
        return false;
    }
    *off = ms;
    e->pos_end = p->last_closing;
    return true;
}

/* Prometheus' timestamp.FromFloatSeconds, saturating instead of
 * overflowing for timestamps beyond int64 milliseconds. */
static int64_t seconds_to_ms(double ts)
{
    double ms = round(ts * 1000.0);
    if (ms >= 9223372036854775807.0)
        return INT64_MAX;
    if (ms <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)ms;
}

/* `@ <number>` or `@ start()` / `@ end()` after e; AT is next. */
static bool parse_at(struct parser *p, struct promql_expr *e)
{
    consume(p);
    enum promql_at at = PROMQL_AT_TIME;
    double ts = 0;
    const struct pql_token *t = peek(p);
    if (t->type == PQL_T_START || t->type == PQL_T_END) {
        at = t->type == PQL_T_START ? PROMQL_AT_START : PROMQL_AT_END;
        consume(p);
        if (peek(p)->type != PQL_T_LEFT_PAREN) {
            unexpected(p, "@", "timestamp");
            return false;
        }
        consume(p);
        if (peek(p)->type != PQL_T_RIGHT_PAREN) {
            unexpected(p, "@", "timestamp");
            return false;
        }
        consume(p);
    } else {
        bool neg = false;
        if (t->type == PQL_T_ADD || t->type == PQL_T_SUB) {
            neg = t->type == PQL_T_SUB;
            consume(p);
        }
        if (peek(p)->type != PQL_T_NUMBER) {
            unexpected(p, "@", "timestamp");
            return false;
        }
        struct pql_token n = consume(p);
        if (!parse_number_tok(p, &n, &ts))
            return false;
        if (neg)
            ts = -ts;
        if (isinf(ts) || isnan(ts) || ts >= 9223372036854775807.0 || ts <= -9223372036854775808.0) {
            char num[400];
            if (isnan(ts))
                snprintf(num, sizeof(num), "NaN");
            else if (isinf(ts))
                snprintf(num, sizeof(num), "%s", ts > 0 ? "+Inf" : "-Inf");
            else
                snprintf(num, sizeof(num), "%f", ts);
            errf(p, start_of(e), end_of(e), "timestamp out of bounds for @ modifier: %s", num);
            return false;
        }
    }
    enum promql_at *atp;
    int64_t *atms;
    struct promql_expr *vs = selector_of(e);
    if (vs) {
        atp = &vs->vs.at;
        atms = &vs->vs.at_ms;
    } else if (e->kind == PROMQL_NODE_SUBQUERY) {
        atp = &e->sq.at;
        atms = &e->sq.at_ms;
    } else {
        errf(p, start_of(e), end_of(e),
             "@ modifier must be preceded by an instant vector selector or range vector selector "
             "or a subquery");
        return false;
    }
    if (*atp != PROMQL_AT_NONE) {
        errf(p, start_of(e), end_of(e), "@ <timestamp> may not be set multiple times");
        return false;
    }
    *atp = at;
    *atms = at == PROMQL_AT_TIME ? seconds_to_ms(ts) : 0;
    e->pos_end = p->last_closing;
    return true;
}

/* `[range]` or `[range:step]` after e; '[' is next. Takes e; returns the
 * new node (or NULL, e freed). */
static struct promql_expr *parse_range(struct parser *p, struct promql_expr *e, unsigned *h)
{
    struct pql_token lb = consume(p);
    if (peek(p)->type != PQL_T_DURATION) {
        unexpected(p, "subquery selector", "duration");
        goto fail;
    }
    struct pql_token d = consume(p);
    int64_t range;
    if (!parse_duration_tok(p, &d, &range))
        goto fail;
    const struct pql_token *t = peek(p);
    if (t->type == PQL_T_RIGHT_BRACKET) {
        struct pql_token rb = consume(p);
        const char *msg = NULL;
        if (e->kind != PROMQL_NODE_VECTOR_SELECTOR)
            msg = "ranges only allowed for vector selectors";
        else if (e->vs.offset_ms != 0)
            msg = "no offset modifiers allowed before range";
        else if (e->vs.at != PROMQL_AT_NONE)
            msg = "no @ modifiers allowed before range";
        if (msg) {
            errf(p, lb.pos, rb.pos + 1, "%s", msg);
            goto fail;
        }
        if (!height_ok(p, *h, lb.pos))
            goto fail;
        struct promql_expr *m =
            node_new(p, PROMQL_NODE_MATRIX_SELECTOR, start_of(e), p->last_closing);
        if (!m)
            goto fail;
        m->ms.vs = e;
        m->ms.range_ms = range;
        (*h)++;
        return m;
    }
    if (t->type != PQL_T_COLON) {
        unexpected(p, "subquery or range", "\":\" or \"]\"");
        goto fail;
    }
    consume(p);
    int64_t step = 0;
    if (peek(p)->type == PQL_T_DURATION) {
        struct pql_token sd = consume(p);
        if (!parse_duration_tok(p, &sd, &step))
            goto fail;
        if (peek(p)->type != PQL_T_RIGHT_BRACKET) {
            unexpected(p, "subquery selector", "\"]\"");
            goto fail;
        }
    } else if (peek(p)->type != PQL_T_RIGHT_BRACKET) {
        unexpected(p, "subquery selector", "duration or \"]\"");
        goto fail;
    }
    struct pql_token rb = consume(p);
    if (!height_ok(p, *h, lb.pos))
        goto fail;
    struct promql_expr *s = node_new(p, PROMQL_NODE_SUBQUERY, start_of(e), rb.pos + 1);
    if (!s)
        goto fail;
    s->sq.expr = e;
    s->sq.range_ms = range;
    s->sq.step_ms = step;
    (*h)++;
    return s;
fail:
    promql_expr_free(e);
    return NULL;
}

/* A primary expression and the modifiers after it. */
static struct promql_expr *parse_postfix(struct parser *p, unsigned *h)
{
    struct promql_expr *e = parse_primary(p, h);
    while (e) {
        switch (peek(p)->type) {
        case PQL_T_LEFT_BRACKET: e = parse_range(p, e, h); break;
        case PQL_T_OFFSET:
            if (!parse_offset(p, e)) {
                promql_expr_free(e);
                return NULL;
            }
            break;
        case PQL_T_AT:
            if (!parse_at(p, e)) {
                promql_expr_free(e);
                return NULL;
            }
            break;
        default: return e;
        }
    }
    return NULL;
}

/* Binding power of binary operators (0: not one). */
static int binop_prec(enum pql_tok t, enum promql_binop *op)
{
    switch (t) {
    case PQL_T_LOR: *op = PROMQL_OP_OR; return 1;
    case PQL_T_LAND: *op = PROMQL_OP_AND; return 2;
    case PQL_T_LUNLESS: *op = PROMQL_OP_UNLESS; return 2;
    case PQL_T_EQLC: *op = PROMQL_OP_EQL; return 3;
    case PQL_T_NEQ: *op = PROMQL_OP_NEQ; return 3;
    case PQL_T_GTR: *op = PROMQL_OP_GTR; return 3;
    case PQL_T_LSS: *op = PROMQL_OP_LSS; return 3;
    case PQL_T_GTE: *op = PROMQL_OP_GTE; return 3;
    case PQL_T_LTE: *op = PROMQL_OP_LTE; return 3;
    case PQL_T_ADD: *op = PROMQL_OP_ADD; return 4;
    case PQL_T_SUB: *op = PROMQL_OP_SUB; return 4;
    case PQL_T_MUL: *op = PROMQL_OP_MUL; return 5;
    case PQL_T_DIV: *op = PROMQL_OP_DIV; return 5;
    case PQL_T_MOD: *op = PROMQL_OP_MOD; return 5;
    case PQL_T_ATAN2: *op = PROMQL_OP_ATAN2; return 5;
    case PQL_T_POW: *op = PROMQL_OP_POW; return 6;
    default: return 0;
    }
}
#define PREC_MUL 5
#define PREC_POW 6

static struct promql_expr *parse_unary(struct parser *p, unsigned *h)
{
    const struct pql_token *t = peek(p);
    if (t->type != PQL_T_ADD && t->type != PQL_T_SUB)
        return parse_postfix(p, h);
    struct pql_token op = consume(p);
    /* `unary_op expr %prec MUL`: the operand holds only ^ */
    struct promql_expr *in = parse_expr(p, PREC_MUL + 1, h);
    if (!in)
        return NULL;
    if (in->kind == PROMQL_NODE_NUMBER) {
        if (op.type == PQL_T_SUB)
            in->number = -in->number;
        in->pos_start = op.pos;
        return in;
    }
    struct promql_expr *e = NULL;
    if (height_ok(p, *h, op.pos))
        e = node_new(p, PROMQL_NODE_UNARY, op.pos, end_of(in));
    if (!e) {
        promql_expr_free(in);
        return NULL;
    }
    e->unary.op = op.type == PQL_T_SUB ? PROMQL_OP_SUB : PROMQL_OP_ADD;
    e->unary.expr = in;
    (*h)++;
    return e;
}

/* The modifiers after a binary operator: [bool] [on|ignoring (labels)
 * [group_left|group_right [(labels)]]]. Filled into the node's fields. */
static bool parse_bin_modifiers(struct parser *p, struct promql_expr *b)
{
    if (peek(p)->type == PQL_T_BOOL) {
        consume(p);
        b->binary.return_bool = true;
    }
    enum pql_tok t = peek(p)->type;
    if (t != PQL_T_ON && t != PQL_T_IGNORING)
        return true;
    consume(p);
    b->binary.on = t == PQL_T_ON;
    struct strv labels = {0};
    bool ok = parse_grouping_labels(p, &labels);
    b->binary.match_labels = labels.v;
    b->binary.nmatch_labels = labels.n;
    if (!ok)
        return false;
    t = peek(p)->type;
    if (t != PQL_T_GROUP_LEFT && t != PQL_T_GROUP_RIGHT)
        return true;
    consume(p);
    b->binary.card = t == PQL_T_GROUP_LEFT ? PROMQL_CARD_MANY_TO_ONE : PROMQL_CARD_ONE_TO_MANY;
    t = peek(p)->type;
    if (t != PQL_T_LEFT_PAREN) {
        if (starts_expr(t))
            return true;
        unexpected(p, "grouping opts", "\"(\"");
        return false;
    }
    struct strv inc = {0};
    ok = parse_grouping_labels(p, &inc);
    b->binary.include = inc.v;
    b->binary.ninclude = inc.n;
    return ok;
}

static struct promql_expr *parse_expr(struct parser *p, int min_prec, unsigned *h)
{
    if (++p->depth > PROMQL_MAX_DEPTH) {
        const struct pql_token *t = peek(p);
        errf(p, t->pos, t->pos, "expression nesting exceeds the maximum depth of %d",
             PROMQL_MAX_DEPTH);
        p->depth--;
        return NULL;
    }
    struct promql_expr *lhs = parse_unary(p, h);
    while (lhs) {
        enum promql_binop op;
        int prec = binop_prec(peek(p)->type, &op);
        if (prec == 0 || prec < min_prec)
            break;
        consume(p);
        struct promql_expr *b = node_new(p, PROMQL_NODE_BINARY, start_of(lhs), end_of(lhs));
        if (!b) {
            promql_expr_free(lhs);
            lhs = NULL;
            break;
        }
        b->binary.op = op;
        b->binary.lhs = lhs;
        lhs = b;
        if (!parse_bin_modifiers(p, b)) {
            promql_expr_free(b);
            lhs = NULL;
            break;
        }
        unsigned rh;
        struct promql_expr *rhs = parse_expr(p, op == PROMQL_OP_POW ? prec : prec + 1, &rh);
        if (!rhs) {
            promql_expr_free(b);
            lhs = NULL;
            break;
        }
        b->binary.rhs = rhs;
        b->pos_end = end_of(rhs);
        if (rh > *h)
            *h = rh;
        if (!height_ok(p, *h, start_of(b))) {
            promql_expr_free(b);
            lhs = NULL;
            break;
        }
        (*h)++;
    }
    p->depth--;
    return lhs;
}

/* ---- type checks (Prometheus' checkAST) ------------------------------------------------ */

static const char *documented_type(enum promql_type t)
{
    switch (t) {
    case PROMQL_TYPE_VECTOR: return "instant vector";
    case PROMQL_TYPE_MATRIX: return "range vector";
    case PROMQL_TYPE_SCALAR: return "scalar";
    case PROMQL_TYPE_STRING: return "string";
    default: return "none";
    }
}

static enum promql_type check(struct parser *p, struct promql_expr *e);

static void expect_type(struct parser *p, struct promql_expr *e, enum promql_type want,
                        const char *context)
{
    enum promql_type t = check(p, e);
    if (t != want)
        errf(p, start_of(e), end_of(e), "expected type %s in %s, got %s", documented_type(want),
             context, documented_type(t));
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void check_binary(struct parser *p, struct promql_expr *e)
{
    enum promql_type lt = check(p, e->binary.lhs);
    enum promql_type rt = check(p, e->binary.rhs);
    enum promql_binop op = e->binary.op;
    /* The operator's position: from the end of lhs to the start of rhs,
     * without the surrounding white space. */
    uint32_t os = end_of(e->binary.lhs), oe = start_of(e->binary.rhs) - 1;
    while (os < p->len && is_ws(p->in[os]))
        os++;
    while (oe > os && is_ws(p->in[oe]))
        oe--;
    const char *opname = promql_binop_name(op);

    if (e->binary.return_bool && !promql_binop_is_comparison(op))
        errf(p, os, oe, "bool modifier can only be used on comparison operators");
    if (promql_binop_is_comparison(op) && !e->binary.return_bool && lt == PROMQL_TYPE_SCALAR &&
        rt == PROMQL_TYPE_SCALAR)
        errf(p, os, oe, "comparisons between scalars must use BOOL modifier");
    if (promql_binop_is_set(op) && e->binary.card == PROMQL_CARD_ONE_TO_ONE)
        e->binary.card = PROMQL_CARD_MANY_TO_MANY;
    if (e->binary.on) {
        for (size_t i = 0; i < e->binary.nmatch_labels; i++)
            for (size_t j = 0; j < e->binary.ninclude; j++)
                if (strcmp(e->binary.match_labels[i], e->binary.include[j]) == 0)
                    errf(p, os, oe, "label \"%s\" must not occur in ON and GROUP clause at once",
                         e->binary.match_labels[i]);
    }
    if (lt != PROMQL_TYPE_SCALAR && lt != PROMQL_TYPE_VECTOR)
        errf(p, start_of(e->binary.lhs), end_of(e->binary.lhs),
             "binary expression must contain only scalar and instant vector types");
    if (rt != PROMQL_TYPE_SCALAR && rt != PROMQL_TYPE_VECTOR)
        errf(p, start_of(e->binary.rhs), end_of(e->binary.rhs),
             "binary expression must contain only scalar and instant vector types");
    if (lt != PROMQL_TYPE_VECTOR || rt != PROMQL_TYPE_VECTOR) {
        if (e->binary.nmatch_labels > 0)
            errf(p, start_of(e), end_of(e), "vector matching only allowed between instant vectors");
        /* Prometheus drops the vector matching of such an expression. */
        e->binary.card = PROMQL_CARD_ONE_TO_ONE;
    } else if (promql_binop_is_set(op)) {
        if (e->binary.card == PROMQL_CARD_ONE_TO_MANY || e->binary.card == PROMQL_CARD_MANY_TO_ONE)
            errf(p, start_of(e), end_of(e), "no grouping allowed for \"%s\" operation", opname);
        if (e->binary.card != PROMQL_CARD_MANY_TO_MANY)
            errf(p, start_of(e), end_of(e), "set operations must always be many-to-many");
    }
    if ((lt == PROMQL_TYPE_SCALAR || rt == PROMQL_TYPE_SCALAR) && promql_binop_is_set(op))
        errf(p, start_of(e), end_of(e),
             "set operator \"%s\" not allowed in binary scalar expression", opname);
}

static void check_call(struct parser *p, struct promql_expr *e)
{
    const struct promql_function *f = e->call.func;
    size_t n = e->call.nargs, nargs = f->nargs;
    if (f->variadic == 0) {
        if (nargs != n)
            errf(p, start_of(e), end_of(e), "expected %zu argument(s) in call to \"%s\", got %zu",
                 nargs, f->name, n);
    } else {
        size_t na = nargs - 1;
        if (na > n)
            errf(p, start_of(e), end_of(e),
                 "expected at least %zu argument(s) in call to \"%s\", got %zu", na, f->name, n);
        else if (f->variadic > 0 && na + (size_t)f->variadic < n)
            errf(p, start_of(e), end_of(e),
                 "expected at most %zu argument(s) in call to \"%s\", got %zu",
                 na + (size_t)f->variadic, f->name, n);
    }
    char ctx[96];
    snprintf(ctx, sizeof(ctx), "call to function \"%s\"", f->name);
    for (size_t i = 0; i < n && !p->rc; i++) {
        size_t ti = i;
        if (ti >= nargs) {
            if (f->variadic == 0)
                break;
            ti = nargs - 1;
        }
        expect_type(p, e->call.args[i], f->arg_types[ti], ctx);
    }
}

static void check_selector(struct parser *p, struct promql_expr *e)
{
    if (e->vs.name) {
        /* The written name is the last matcher; another __name__ before it
         * sets the name twice. */
        for (size_t i = 0; i + 1 < e->vs.nmatchers; i++) {
            const struct tsdb_matcher *m = e->vs.matchers[i];
            if (strcmp(tsdb_matcher_name(m), "__name__") == 0) {
                errf(p, start_of(e), end_of(e),
                     "metric name must not be set twice: \"%s\" or \"%s\"", e->vs.name,
                     tsdb_matcher_value(m));
                return;
            }
        }
        return;
    }
    for (size_t i = 0; i < e->vs.nmatchers; i++)
        if (!tsdb_matcher_matches(e->vs.matchers[i], ""))
            return;
    errf(p, start_of(e), end_of(e), "vector selector must contain at least one non-empty matcher");
}

static enum promql_type check(struct parser *p, struct promql_expr *e)
{
    enum promql_type t = promql_expr_type(e);
    if (p->rc)
        return t;
    switch (e->kind) {
    case PROMQL_NODE_AGGREGATE:
        expect_type(p, e->agg.expr, PROMQL_TYPE_VECTOR, "aggregation expression");
        if (e->agg.op == PROMQL_AGG_TOPK || e->agg.op == PROMQL_AGG_BOTTOMK ||
            e->agg.op == PROMQL_AGG_QUANTILE)
            expect_type(p, e->agg.param, PROMQL_TYPE_SCALAR, "aggregation parameter");
        if (e->agg.op == PROMQL_AGG_COUNT_VALUES)
            expect_type(p, e->agg.param, PROMQL_TYPE_STRING, "aggregation parameter");
        break;
    case PROMQL_NODE_BINARY: check_binary(p, e); break;
    case PROMQL_NODE_CALL: check_call(p, e); break;
    case PROMQL_NODE_PAREN: check(p, e->paren); break;
    case PROMQL_NODE_UNARY: {
        enum promql_type it = check(p, e->unary.expr);
        if (it != PROMQL_TYPE_SCALAR && it != PROMQL_TYPE_VECTOR)
            errf(p, start_of(e), end_of(e),
                 "unary expression only allowed on expressions of type scalar or instant vector, "
                 "got \"%s\"",
                 documented_type(it));
        break;
    }
    case PROMQL_NODE_SUBQUERY: {
        enum promql_type it = check(p, e->sq.expr);
        if (it != PROMQL_TYPE_VECTOR)
            errf(p, start_of(e), end_of(e),
                 "subquery is only allowed on instant vector, got %s instead",
                 promql_type_name(it));
        break;
    }
    case PROMQL_NODE_MATRIX_SELECTOR: check(p, e->ms.vs); break;
    case PROMQL_NODE_VECTOR_SELECTOR: check_selector(p, e); break;
    case PROMQL_NODE_NUMBER:
    case PROMQL_NODE_STRING: break;
    }
    return t;
}

/* ---- entry points ------------------------------------------------------------------------ */

static void parser_init(struct parser *p, const char *input, struct promql_error *err)
{
    memset(p, 0, sizeof(*p));
    p->in = input;
    p->len = strlen(input);
    p->err = err;
    if (err)
        memset(err, 0, sizeof(*err));
    pql_lex_init(&p->lex, input, p->len);
}

int promql_parse(const char *input, struct promql_expr **out, struct promql_error *err)
{
    struct parser p;
    struct promql_expr *e = NULL;
    *out = NULL;
    parser_init(&p, input, err);
    const struct pql_token *t = peek(&p);
    if (t->type == PQL_T_EOF) {
        errf(&p, 0, 0, "no expression found in input");
        return p.rc;
    }
    unsigned h;
    e = parse_expr(&p, 1, &h);
    if (e && peek(&p)->type != PQL_T_EOF)
        unexpected_generic(&p);
    if (!p.rc)
        check(&p, e);
    if (p.rc) {
        promql_expr_free(e);
        return p.rc;
    }
    *out = e;
    return 0;
}

int promql_parse_selector(const char *input, struct tsdb_matcher ***matchers, size_t *n,
                          struct promql_error *err)
{
    struct parser p;
    struct promql_expr *e = NULL;
    *matchers = NULL;
    *n = 0;
    parser_init(&p, input, err);
    const struct pql_token *t = peek(&p);
    if (t->type == PQL_T_LEFT_BRACE) {
        e = parse_vector_selector(&p, NULL, t->pos);
    } else if (is_metric_identifier(t->type)) {
        struct pql_token name = consume(&p);
        e = parse_vector_selector(&p, &name, name.pos);
    } else {
        unexpected(&p, "", "");
    }
    if (e && peek(&p)->type != PQL_T_EOF)
        unexpected(&p, "", "");
    if (!p.rc) {
        bool non_empty = false;
        for (size_t i = 0; i < e->vs.nmatchers && !non_empty; i++)
            non_empty = !tsdb_matcher_matches(e->vs.matchers[i], "");
        if (!non_empty) {
            p.rc = -EINVAL;
            if (err) {
                err->kind = PROMQL_ERR_BAD_DATA;
                snprintf(err->msg, sizeof(err->msg),
                         "match[] must contain at least one non-empty matcher");
            }
        }
    }
    if (p.rc) {
        promql_expr_free(e);
        return p.rc;
    }
    *matchers = e->vs.matchers;
    *n = e->vs.nmatchers;
    e->vs.matchers = NULL;
    e->vs.nmatchers = 0;
    promql_expr_free(e);
    return 0;
}

int promql_parse_duration(const char *s, int64_t *ms)
{
    char why[128];
    return pql_parse_duration(s, strlen(s), ms, why, sizeof(why));
}
