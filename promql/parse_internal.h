/*
 * Shared by the PromQL lexer (lex.c), parser (parse.c) and AST helpers
 * (ast.c) only: tokens, the lexer state, and the literal decoders both
 * the parser and the public promql_parse_duration() use.
 *
 * The lexer follows Prometheus 2.42's parser/lex.go state for state: the
 * same tokens, the same context flags (inside braces, inside brackets,
 * after a colon in brackets, parenthesis depth), and the same error texts,
 * because the parser's error messages quote tokens exactly as Prometheus
 * does. Tokens are not copied: a token is a type and a byte range of the
 * input.
 */
#ifndef CAIRN_PROMQL_PARSE_INTERNAL_H
#define CAIRN_PROMQL_PARSE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pql_tok {
    PQL_T_EOF = 0,
    PQL_T_ERROR,
    PQL_T_IDENTIFIER,
    PQL_T_METRIC_IDENTIFIER,
    PQL_T_NUMBER,
    PQL_T_STRING,
    PQL_T_DURATION,
    PQL_T_LEFT_PAREN,
    PQL_T_RIGHT_PAREN,
    PQL_T_LEFT_BRACE,
    PQL_T_RIGHT_BRACE,
    PQL_T_LEFT_BRACKET,
    PQL_T_RIGHT_BRACKET,
    PQL_T_COMMA,
    PQL_T_EQL, /* = */
    PQL_T_COLON,
    /* operators (Prometheus' operatorsStart..operatorsEnd) */
    PQL_T_ADD,
    PQL_T_SUB,
    PQL_T_MUL,
    PQL_T_DIV,
    PQL_T_MOD,
    PQL_T_POW,
    PQL_T_ATAN2,
    PQL_T_EQLC, /* == */
    PQL_T_NEQ,
    PQL_T_GTR,
    PQL_T_LSS,
    PQL_T_GTE,
    PQL_T_LTE,
    PQL_T_LAND,
    PQL_T_LOR,
    PQL_T_LUNLESS,
    PQL_T_EQL_REGEX,
    PQL_T_NEQ_REGEX,
    PQL_T_AT,
    /* aggregators, in the order of enum promql_aggop */
    PQL_T_SUM,
    PQL_T_AVG,
    PQL_T_COUNT,
    PQL_T_MIN,
    PQL_T_MAX,
    PQL_T_GROUP,
    PQL_T_STDDEV,
    PQL_T_STDVAR,
    PQL_T_TOPK,
    PQL_T_BOTTOMK,
    PQL_T_COUNT_VALUES,
    PQL_T_QUANTILE,
    /* keywords */
    PQL_T_BOOL,
    PQL_T_BY,
    PQL_T_GROUP_LEFT,
    PQL_T_GROUP_RIGHT,
    PQL_T_IGNORING,
    PQL_T_OFFSET,
    PQL_T_ON,
    PQL_T_WITHOUT,
    /* @ modifier preprocessors */
    PQL_T_START,
    PQL_T_END,
};

static inline bool pql_tok_is_operator(enum pql_tok t)
{
    return t >= PQL_T_ADD && t <= PQL_T_AT;
}
static inline bool pql_tok_is_aggregator(enum pql_tok t)
{
    return t >= PQL_T_SUM && t <= PQL_T_QUANTILE;
}
static inline bool pql_tok_is_keyword(enum pql_tok t)
{
    return t >= PQL_T_BOOL && t <= PQL_T_WITHOUT;
}

struct pql_token {
    enum pql_tok type;
    uint32_t pos, len; /* the token's bytes in the input */
};

#define PQL_LEX_ERR_MAX 512
struct pql_lexer {
    const char *in;
    size_t len;
    size_t pos;   /* next byte to read */
    size_t start; /* start of the token being scanned */
    int paren_depth;
    bool brace_open;
    bool bracket_open;
    bool got_colon;
    bool want_duration; /* right after '[': a duration must follow */
    bool done;          /* EOF or an error was returned */
    char string_open;   /* quote of the string being scanned */
    /* After a PQL_T_ERROR token: the message (the token is its position). */
    char err[PQL_LEX_ERR_MAX];
};

void pql_lex_init(struct pql_lexer *l, const char *in, size_t len);
/* Scans the next token into *t, skipping white space and # comments.
 * After EOF or an error every call gives EOF. */
void pql_lex_next(struct pql_lexer *l, struct pql_token *t);

/* True for [a-zA-Z_][a-zA-Z0-9_]* (Prometheus' isLabel). */
bool pql_is_label(const char *s, size_t n);

/* Writes s[0..n) quoted as Go's %q (strconv.Quote) to buf (capacity cap,
 * always NUL-terminated, truncated if short). max_runes > 0 quotes only
 * that many characters, as %.Nq does. */
void pql_quote(char *buf, size_t cap, const char *s, size_t n, size_t max_runes);

/* Unquotes a lexed string token (with its quotes): Go escapes in "..." and
 * '...', none in `...`. 0 with a malloc'd *out, -EINVAL with a reason in
 * err (a value holding a NUL byte, which C strings cannot carry), or
 * -ENOMEM. */
int pql_unquote(const char *s, size_t n, char **out, char *err, size_t errcap);

/* Prometheus' number literal rules (strconv.ParseInt base 0, then
 * ParseFloat): 0 and *v, or -EINVAL with Go's error text in err. */
int pql_parse_number(const char *s, size_t n, double *v, char *err, size_t errcap);

/* model.ParseDuration on s[0..n): 0 and *ms, or -EINVAL with the reason
 * ("not a valid duration string: ...", "duration out of range"). */
int pql_parse_duration(const char *s, size_t n, int64_t *ms, char *err, size_t errcap);

#endif
