/*
 * The PromQL lexer, and the decoders for the literals it produces.
 *
 * The scanner is Prometheus 2.42's parser/lex.go rewritten as a loop over
 * the same states instead of state functions: statements (the default),
 * inside braces (label matchers: keywords are plain identifiers there),
 * and the duration that must follow a '['. The context flags it keeps
 * (parenthesis depth, open brace, open bracket, colon seen in brackets)
 * decide the same things they decide there, so for example `foo[5m:x]`
 * fails in the lexer with "unexpected colon 'x'" exactly as in Prometheus,
 * and an unbalanced ')' is reported by the lexer, not the parser. Errors
 * end the scan: the first error is the one reported.
 *
 * Characters are decoded as UTF-8 the way Go does (an invalid byte is
 * U+FFFD, one byte wide); anything outside ASCII is only allowed inside
 * strings and comments, and an invalid encoding there is an error too.
 *
 * The decoders follow Go's strconv where Prometheus uses it: numbers are
 * ParseInt with base 0 (so 0x1f and the octal 010 are integers) and
 * otherwise ParseFloat; strings are unquoted as Go unquotes them (\x and
 * octal escapes give bytes, \u and \U give UTF-8); durations are
 * model.ParseDuration's units from y down to ms, in that order, bounded by
 * what fits an int64 count of nanoseconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "promql/parse_internal.h"

#define PQL_EOF_RUNE (-1)
#define PQL_RUNE_ERROR 0xFFFDu

/* ---- characters ---------------------------------------------------------------- */

/* Decodes one UTF-8 character at s[0..n) as Go's utf8.DecodeRune does:
 * sets *width (1 for an invalid byte) and returns the code point, or
 * U+FFFD for an invalid encoding. n must be > 0. */
static uint32_t utf8_decode(const unsigned char *s, size_t n, size_t *width)
{
    unsigned char c = s[0];
    *width = 1;
    if (c < 0x80)
        return c;
    size_t need;
    uint32_t r, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        r = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        r = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        r = c & 0x07;
        min = 0x10000;
    } else {
        return PQL_RUNE_ERROR;
    }
    if (n < need)
        return PQL_RUNE_ERROR;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return PQL_RUNE_ERROR;
        r = (r << 6) | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        return PQL_RUNE_ERROR;
    *width = need;
    return r;
}

/* An approximation of Go's unicode.IsPrint that is exact for ASCII and
 * Latin-1 and treats other valid code points as printable. */
static bool rune_printable(int32_t r)
{
    if (r < 0x20 || r == 0x7F)
        return false;
    if (r >= 0x80 && r < 0xA0)
        return false;
    return r != 0xAD;
}

struct qbuf {
    char *p;
    size_t cap, len;
};

static void qput(struct qbuf *q, const char *s, size_t n)
{
    for (size_t i = 0; i < n && q->len + 1 < q->cap; i++)
        q->p[q->len++] = s[i];
    q->p[q->len] = '\0';
}

/* Go's appendEscapedRune for the quote character `quote`. */
static void qrune(struct qbuf *q, int32_t r, char quote)
{
    char tmp[16];
    if (r == quote || r == '\\') {
        tmp[0] = '\\';
        tmp[1] = (char)r;
        qput(q, tmp, 2);
        return;
    }
    if (rune_printable(r)) {
        qput(q, tmp, cn_utf8_encode(tmp, (uint32_t)r));
        return;
    }
    const char *esc = NULL;
    switch (r) {
    case '\a': esc = "\\a"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\v': esc = "\\v"; break;
    default: break;
    }
    if (esc) {
        qput(q, esc, 2);
        return;
    }
    int n;
    if (r < ' ' || r == 0x7F)
        n = snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned)r);
    else if (r < 0x10000)
        n = snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned)r);
    else
        n = snprintf(tmp, sizeof(tmp), "\\U%08x", (unsigned)r);
    qput(q, tmp, (size_t)n);
}

void pql_quote(char *buf, size_t cap, const char *s, size_t n, size_t max_runes)
{
    struct qbuf q = {buf, cap, 0};
    if (cap == 0)
        return;
    buf[0] = '\0';
    qput(&q, "\"", 1);
    size_t runes = 0;
    for (size_t i = 0; i < n;) {
        if (max_runes && runes == max_runes)
            break;
        size_t w;
        uint32_t r = utf8_decode((const unsigned char *)s + i, n - i, &w);
        if (r == PQL_RUNE_ERROR && w == 1) {
            char tmp[8];
            int k = snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned char)s[i]);
            qput(&q, tmp, (size_t)k);
        } else {
            qrune(&q, (int32_t)r, '"');
        }
        i += w;
        runes++;
    }
    qput(&q, "\"", 1);
}

/* Go's %q of a rune: 'x' with escapes. */
static void quote_rune(char *buf, size_t cap, int32_t r)
{
    struct qbuf q = {buf, cap, 0};
    if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        r = (int32_t)PQL_RUNE_ERROR;
    buf[0] = '\0';
    qput(&q, "'", 1);
    qrune(&q, r, '\'');
    qput(&q, "'", 1);
}

/* Go's %#U: U+0041 'A' (the character only when printable). */
static void format_U(char *buf, size_t cap, int32_t r)
{
    char tmp[8];
    if (r >= 0 && rune_printable(r) && r <= 0x10FFFF) {
        size_t k = cn_utf8_encode(tmp, (uint32_t)r);
        snprintf(buf, cap, "U+%04X '%.*s'", (unsigned)r, (int)k, tmp);
    } else {
        snprintf(buf, cap, "U+%04X", (unsigned)(r < 0 ? (int32_t)PQL_RUNE_ERROR : r));
    }
}

static bool is_space(int32_t r)
{
    return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}
static bool is_digit(int32_t r)
{
    return r >= '0' && r <= '9';
}
static bool is_alpha(int32_t r)
{
    return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}
static bool is_alnum(int32_t r)
{
    return is_alpha(r) || is_digit(r);
}

bool pql_is_label(const char *s, size_t n)
{
    if (n == 0 || !is_alpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_alnum((unsigned char)s[i]))
            return false;
    return true;
}

/* ---- the scanner ----------------------------------------------------------------- */

struct scan {
    struct pql_lexer *l;
    size_t width; /* of the last rune read */
};

static int32_t next(struct scan *s)
{
    struct pql_lexer *l = s->l;
    if (l->pos >= l->len) {
        s->width = 0;
        return PQL_EOF_RUNE;
    }
    int32_t r =
        (int32_t)utf8_decode((const unsigned char *)l->in + l->pos, l->len - l->pos, &s->width);
    l->pos += s->width;
    return r;
}

static void backup(struct scan *s)
{
    s->l->pos -= s->width;
}

static int32_t peek(struct scan *s)
{
    int32_t r = next(s);
    backup(s);
    return r;
}

static bool accept(struct scan *s, const char *valid)
{
    int32_t r = next(s);
    if (r > 0 && r < 0x80 && strchr(valid, (int)r))
        return true;
    backup(s);
    return false;
}

static void accept_run(struct scan *s, const char *valid)
{
    while (accept(s, valid)) {
    }
}

static void emit(struct scan *s, struct pql_token *t, enum pql_tok type)
{
    struct pql_lexer *l = s->l;
    t->type = type;
    t->pos = (uint32_t)l->start;
    t->len = (uint32_t)(l->pos - l->start);
    l->start = l->pos;
}

static void errorf(struct scan *s, struct pql_token *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errorf(struct scan *s, struct pql_token *t, const char *fmt, ...)
{
    struct pql_lexer *l = s->l;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof(l->err), fmt, ap);
    va_end(ap);
    t->type = PQL_T_ERROR;
    t->pos = (uint32_t)l->start;
    t->len = (uint32_t)(l->len - l->start);
    l->done = true;
}

void pql_lex_init(struct pql_lexer *l, const char *in, size_t len)
{
    memset(l, 0, sizeof(*l));
    l->in = in;
    l->len = len;
}

static void skip_spaces(struct scan *s)
{
    while (is_space(peek(s)))
        next(s);
    s->l->start = s->l->pos;
}

/* Skips a '#' comment up to the end of the line. False (with the error
 * emitted) on invalid UTF-8, which Prometheus would let pass in a comment
 * but a query must never contain. */
static bool skip_comment(struct scan *s, struct pql_token *t)
{
    for (;;) {
        int32_t r = next(s);
        if (r == PQL_EOF_RUNE)
            break;
        if (r == '\n' || r == '\r') {
            backup(s);
            break;
        }
        if ((uint32_t)r == PQL_RUNE_ERROR && s->width == 1) {
            errorf(s, t, "invalid UTF-8 rune");
            return false;
        }
    }
    s->l->start = s->l->pos;
    return true;
}

/* Scans the body of a "..." or '...' string after its opening quote. */
static void lex_string(struct scan *s, struct pql_token *t)
{
    struct pql_lexer *l = s->l;
    char fmtbuf[32];
    for (;;) {
        int32_t r = next(s);
        if (r == '\\') {
            int32_t ch = next(s);
            int n = 0;
            uint32_t base = 0, max = 0;
            switch (ch) {
            case 'a':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
            case 'v':
            case '\\': continue;
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7': n = 3, base = 8, max = 255; break;
            case 'x':
                ch = next(s);
                n = 2, base = 16, max = 255;
                break;
            case 'u':
                ch = next(s);
                n = 4, base = 16, max = 0x10FFFF;
                break;
            case 'U':
                ch = next(s);
                n = 8, base = 16, max = 0x10FFFF;
                break;
            case PQL_EOF_RUNE: errorf(s, t, "escape sequence not terminated"); return;
            default:
                if (ch == l->string_open)
                    continue;
                format_U(fmtbuf, sizeof(fmtbuf), ch);
                errorf(s, t, "unknown escape sequence %s", fmtbuf);
                return;
            }
            uint32_t x = 0;
            while (n > 0) {
                uint32_t d = 16;
                if (ch >= '0' && ch <= '9')
                    d = (uint32_t)(ch - '0');
                else if (ch >= 'a' && ch <= 'f')
                    d = (uint32_t)(ch - 'a' + 10);
                else if (ch >= 'A' && ch <= 'F')
                    d = (uint32_t)(ch - 'A' + 10);
                if (d >= base) {
                    if (ch == PQL_EOF_RUNE) {
                        errorf(s, t, "escape sequence not terminated");
                        return;
                    }
                    format_U(fmtbuf, sizeof(fmtbuf), ch);
                    errorf(s, t, "illegal character %s in escape sequence", fmtbuf);
                    return;
                }
                x = x * base + d;
                if (--n > 0)
                    ch = next(s);
            }
            if (x > max || (x >= 0xD800 && x < 0xE000)) {
                errorf(s, t, "escape sequence is an invalid Unicode code point");
                return;
            }
            continue;
        }
        if ((uint32_t)r == PQL_RUNE_ERROR) {
            errorf(s, t, "invalid UTF-8 rune");
            return;
        }
        if (r == PQL_EOF_RUNE || r == '\n') {
            errorf(s, t, "unterminated quoted string");
            return;
        }
        if (r == l->string_open)
            break;
    }
    emit(s, t, PQL_T_STRING);
}

static void lex_raw_string(struct scan *s, struct pql_token *t)
{
    for (;;) {
        int32_t r = next(s);
        if ((uint32_t)r == PQL_RUNE_ERROR) {
            errorf(s, t, "invalid UTF-8 rune");
            return;
        }
        if (r == PQL_EOF_RUNE) {
            errorf(s, t, "unterminated raw string");
            return;
        }
        if (r == '`')
            break;
    }
    emit(s, t, PQL_T_STRING);
}

/* Scans a number as lex.go's scanNumber; true if what follows is not
 * alphanumeric (the text is not necessarily a valid number). */
static bool scan_number(struct scan *s)
{
    const char *digits = "0123456789";
    if (accept(s, "0") && accept(s, "xX"))
        digits = "0123456789abcdefABCDEF";
    accept_run(s, digits);
    if (accept(s, "."))
        accept_run(s, digits);
    if (accept(s, "eE")) {
        accept(s, "+-");
        accept_run(s, "0123456789");
    }
    return !is_alnum(peek(s));
}

static bool accept_remaining_duration(struct scan *s)
{
    if (!accept(s, "smhdwy"))
        return false;
    accept(s, "s"); /* ms; bad units like "hs" fail when parsed */
    while (accept(s, "0123456789")) {
        accept_run(s, "0123456789");
        if (!accept(s, "smhdw"))
            return false;
        accept(s, "s");
    }
    return !is_alnum(next(s));
}

static void quoted_pending(struct scan *s, char *buf, size_t cap)
{
    struct pql_lexer *l = s->l;
    pql_quote(buf, cap, l->in + l->start, l->pos - l->start, 0);
}

static void lex_duration(struct scan *s, struct pql_token *t)
{
    char q[PQL_LEX_ERR_MAX];
    if (scan_number(s)) {
        errorf(s, t, "missing unit character in duration");
        return;
    }
    if (!accept_remaining_duration(s)) {
        quoted_pending(s, q, sizeof(q));
        errorf(s, t, "bad duration syntax: %s", q);
        return;
    }
    backup(s);
    emit(s, t, PQL_T_DURATION);
}

static void lex_number_or_duration(struct scan *s, struct pql_token *t)
{
    char q[PQL_LEX_ERR_MAX];
    if (scan_number(s)) {
        emit(s, t, PQL_T_NUMBER);
        return;
    }
    if (accept_remaining_duration(s)) {
        backup(s);
        emit(s, t, PQL_T_DURATION);
        return;
    }
    quoted_pending(s, q, sizeof(q));
    errorf(s, t, "bad number or duration syntax: %s", q);
}

static const struct {
    const char *word;
    enum pql_tok type;
} keywords[] = {
    {"and", PQL_T_LAND},
    {"or", PQL_T_LOR},
    {"unless", PQL_T_LUNLESS},
    {"atan2", PQL_T_ATAN2},
    {"sum", PQL_T_SUM},
    {"avg", PQL_T_AVG},
    {"count", PQL_T_COUNT},
    {"min", PQL_T_MIN},
    {"max", PQL_T_MAX},
    {"group", PQL_T_GROUP},
    {"stddev", PQL_T_STDDEV},
    {"stdvar", PQL_T_STDVAR},
    {"topk", PQL_T_TOPK},
    {"bottomk", PQL_T_BOTTOMK},
    {"count_values", PQL_T_COUNT_VALUES},
    {"quantile", PQL_T_QUANTILE},
    {"offset", PQL_T_OFFSET},
    {"by", PQL_T_BY},
    {"without", PQL_T_WITHOUT},
    {"on", PQL_T_ON},
    {"ignoring", PQL_T_IGNORING},
    {"group_left", PQL_T_GROUP_LEFT},
    {"group_right", PQL_T_GROUP_RIGHT},
    {"bool", PQL_T_BOOL},
    {"start", PQL_T_START},
    {"end", PQL_T_END},
    {"inf", PQL_T_NUMBER},
    {"nan", PQL_T_NUMBER},
};

static void lex_keyword_or_identifier(struct scan *s, struct pql_token *t)
{
    struct pql_lexer *l = s->l;
    bool colon = false;
    for (;;) {
        int32_t r = next(s);
        if (is_alnum(r) || r == ':') {
            colon |= r == ':';
            continue;
        }
        backup(s);
        break;
    }
    const char *w = l->in + l->start;
    size_t n = l->pos - l->start;
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (strlen(keywords[i].word) == n && strncasecmp(keywords[i].word, w, n) == 0) {
            emit(s, t, keywords[i].type);
            return;
        }
    }
    emit(s, t, colon ? PQL_T_METRIC_IDENTIFIER : PQL_T_IDENTIFIER);
}

/* One token inside { }: false if it skipped something and must loop. */
static bool lex_inside_braces(struct scan *s, struct pql_token *t)
{
    struct pql_lexer *l = s->l;
    char q[16];
    if (l->pos < l->len && l->in[l->pos] == '#') {
        l->pos++;
        return !skip_comment(s, t);
    }
    int32_t r = next(s);
    if (r == PQL_EOF_RUNE) {
        errorf(s, t, "unexpected end of input inside braces");
    } else if (is_space(r)) {
        skip_spaces(s);
        return false;
    } else if (is_alpha(r)) {
        while (is_alnum(next(s))) {
        }
        backup(s);
        emit(s, t, PQL_T_IDENTIFIER);
    } else if (r == ',') {
        emit(s, t, PQL_T_COMMA);
    } else if (r == '"' || r == '\'') {
        l->string_open = (char)r;
        lex_string(s, t);
    } else if (r == '`') {
        l->string_open = '`';
        lex_raw_string(s, t);
    } else if (r == '=') {
        if (next(s) == '~') {
            emit(s, t, PQL_T_EQL_REGEX);
        } else {
            backup(s);
            emit(s, t, PQL_T_EQL);
        }
    } else if (r == '!') {
        int32_t nr = next(s);
        if (nr == '~') {
            emit(s, t, PQL_T_NEQ_REGEX);
        } else if (nr == '=') {
            emit(s, t, PQL_T_NEQ);
        } else {
            quote_rune(q, sizeof(q), nr);
            errorf(s, t, "unexpected character after '!' inside braces: %s", q);
        }
    } else if (r == '{') {
        errorf(s, t, "unexpected left brace '{'");
    } else if (r == '}') {
        emit(s, t, PQL_T_RIGHT_BRACE);
        l->brace_open = false;
    } else {
        quote_rune(q, sizeof(q), r);
        errorf(s, t, "unexpected character inside braces: %s", q);
    }
    return true;
}

/* One token outside braces: false if it skipped something and must loop. */
static bool lex_statements(struct scan *s, struct pql_token *t)
{
    struct pql_lexer *l = s->l;
    char q[16];
    if (l->pos < l->len && l->in[l->pos] == '#') {
        l->pos++;
        return !skip_comment(s, t);
    }
    int32_t r = next(s);
    switch (r) {
    case PQL_EOF_RUNE:
        if (l->paren_depth != 0) {
            errorf(s, t, "unclosed left parenthesis");
        } else if (l->bracket_open) {
            errorf(s, t, "unclosed left bracket");
        } else {
            emit(s, t, PQL_T_EOF);
            l->done = true;
        }
        return true;
    case ',': emit(s, t, PQL_T_COMMA); return true;
    case '*': emit(s, t, PQL_T_MUL); return true;
    case '/': emit(s, t, PQL_T_DIV); return true;
    case '%': emit(s, t, PQL_T_MOD); return true;
    case '+': emit(s, t, PQL_T_ADD); return true;
    case '-': emit(s, t, PQL_T_SUB); return true;
    case '^': emit(s, t, PQL_T_POW); return true;
    case '@': emit(s, t, PQL_T_AT); return true;
    case '=': {
        int32_t n = peek(s);
        if (n == '=') {
            next(s);
            emit(s, t, PQL_T_EQLC);
        } else if (n == '~') {
            errorf(s, t, "unexpected character after '=': '~'");
        } else {
            emit(s, t, PQL_T_EQL);
        }
        return true;
    }
    case '!': {
        int32_t n = next(s);
        if (n == '=') {
            emit(s, t, PQL_T_NEQ);
        } else {
            quote_rune(q, sizeof(q), n);
            errorf(s, t, "unexpected character after '!': %s", q);
        }
        return true;
    }
    case '<':
        if (peek(s) == '=') {
            next(s);
            emit(s, t, PQL_T_LTE);
        } else {
            emit(s, t, PQL_T_LSS);
        }
        return true;
    case '>':
        if (peek(s) == '=') {
            next(s);
            emit(s, t, PQL_T_GTE);
        } else {
            emit(s, t, PQL_T_GTR);
        }
        return true;
    case '"':
    case '\'':
        l->string_open = (char)r;
        lex_string(s, t);
        return true;
    case '`':
        l->string_open = '`';
        lex_raw_string(s, t);
        return true;
    case '(':
        emit(s, t, PQL_T_LEFT_PAREN);
        l->paren_depth++;
        return true;
    case ')':
        emit(s, t, PQL_T_RIGHT_PAREN);
        if (--l->paren_depth < 0)
            errorf(s, t, "unexpected right parenthesis ')'");
        return true;
    case '{':
        emit(s, t, PQL_T_LEFT_BRACE);
        l->brace_open = true;
        return true;
    case '[':
        if (l->bracket_open) {
            errorf(s, t, "unexpected left bracket '['");
            return true;
        }
        l->got_colon = false;
        emit(s, t, PQL_T_LEFT_BRACKET);
        l->bracket_open = true;
        l->want_duration = true;
        return true;
    case ']':
        if (!l->bracket_open) {
            errorf(s, t, "unexpected right bracket ']'");
            return true;
        }
        emit(s, t, PQL_T_RIGHT_BRACKET);
        l->bracket_open = false;
        return true;
    default: break;
    }
    if (is_space(r)) {
        skip_spaces(s);
        return false;
    }
    if (is_digit(r) || (r == '.' && is_digit(peek(s)))) {
        backup(s);
        lex_number_or_duration(s, t);
        return true;
    }
    if (is_alpha(r) || r == ':') {
        if (!l->bracket_open) {
            backup(s);
            lex_keyword_or_identifier(s, t);
        } else if (l->got_colon) {
            quote_rune(q, sizeof(q), r);
            errorf(s, t, "unexpected colon %s", q);
        } else {
            emit(s, t, PQL_T_COLON);
            l->got_colon = true;
        }
        return true;
    }
    quote_rune(q, sizeof(q), r);
    errorf(s, t, "unexpected character: %s", q);
    return true;
}

void pql_lex_next(struct pql_lexer *l, struct pql_token *t)
{
    struct scan s = {l, 0};
    if (l->done) {
        t->type = PQL_T_EOF;
        t->pos = (uint32_t)l->len;
        t->len = 0;
        return;
    }
    for (;;) {
        l->start = l->pos;
        if (l->want_duration) {
            l->want_duration = false;
            skip_spaces(&s);
            lex_duration(&s, t);
            return;
        }
        if (l->brace_open ? lex_inside_braces(&s, t) : lex_statements(&s, t))
            return;
    }
}

/* ---- literal decoders --------------------------------------------------------------- */

int pql_unquote(const char *s, size_t n, char **out, char *err, size_t errcap)
{
    *out = NULL;
    if (n < 2 || s[0] != s[n - 1]) {
        snprintf(err, errcap, "invalid syntax");
        return -EINVAL;
    }
    char quote = s[0];
    s++;
    n -= 2;
    char *buf = cn_malloc(n + 1); /* escapes never grow the text */
    if (!buf)
        return -ENOMEM;
    size_t o = 0;
    if (quote == '`') {
        memcpy(buf, s, n);
        o = n;
    } else {
        for (size_t i = 0; i < n;) {
            if (s[i] != '\\') {
                buf[o++] = s[i++];
                continue;
            }
            char c = s[i + 1];
            i += 2;
            uint32_t v = 0;
            int digits = 0, base = 16;
            switch (c) {
            case 'a': buf[o++] = '\a'; continue;
            case 'b': buf[o++] = '\b'; continue;
            case 'f': buf[o++] = '\f'; continue;
            case 'n': buf[o++] = '\n'; continue;
            case 'r': buf[o++] = '\r'; continue;
            case 't': buf[o++] = '\t'; continue;
            case 'v': buf[o++] = '\v'; continue;
            case 'x': digits = 2; break;
            case 'u': digits = 4; break;
            case 'U': digits = 8; break;
            default:
                if (c >= '0' && c <= '7') {
                    digits = 2;
                    base = 8;
                    v = (uint32_t)(c - '0');
                    break;
                }
                buf[o++] = c; /* \\ and the escaped quote */
                continue;
            }
            for (int k = 0; k < digits && i < n; k++, i++) {
                char d = s[i];
                uint32_t dv = d >= '0' && d <= '9'   ? (uint32_t)(d - '0')
                              : d >= 'a' && d <= 'f' ? (uint32_t)(d - 'a' + 10)
                                                     : (uint32_t)(d - 'A' + 10);
                v = v * (uint32_t)base + dv;
            }
            if (c == 'u' || c == 'U')
                o += cn_utf8_encode(buf + o, v);
            else
                buf[o++] = (char)v;
        }
    }
    buf[o] = '\0';
    if (strlen(buf) != o) {
        free(buf);
        snprintf(err, errcap, "NUL characters are not supported");
        return -EINVAL;
    }
    *out = buf;
    return 0;
}

/* ParseInt(s, 0, 64) for what the lexer accepts as a number: 1 if s is an
 * integer that fits, 0 if not an integer, -1 if it overflows. */
static int parse_int_base0(const char *s, size_t n, int64_t *v)
{
    unsigned base = 10;
    size_t i = 0;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
        if (n == 2)
            return 0;
    } else if (n >= 1 && s[0] == '0') {
        base = 8;
    }
    uint64_t acc = 0;
    bool overflow = false;
    for (; i < n; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return 0;
        if (d >= base)
            return 0;
        if (acc > (UINT64_MAX - d) / base)
            overflow = true;
        else
            acc = acc * base + d;
    }
    if (overflow || acc > (uint64_t)INT64_MAX)
        return -1;
    *v = (int64_t)acc;
    return 1;
}

int pql_parse_number(const char *s, size_t n, double *v, char *err, size_t errcap)
{
    int64_t iv;
    if (parse_int_base0(s, n, &iv) == 1) {
        *v = (double)iv;
        return 0;
    }
    const char *why = "invalid syntax";
    /* Go's ParseFloat takes no hexadecimal mantissa without a 'p'
     * exponent, which the lexer never lets through. */
    bool hex = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (!hex) {
        char small[64], *buf = small;
        if (n < sizeof(small)) {
            memcpy(small, s, n);
            small[n] = '\0';
        } else if (!(buf = cn_strndup(s, n))) {
            return -ENOMEM;
        }
        char *end;
        errno = 0;
        double d = strtod(buf, &end);
        bool full = end != buf && *end == '\0';
        bool range = errno == ERANGE && isinf(d);
        if (buf != small)
            free(buf);
        if (full && !range) {
            *v = d;
            return 0;
        }
        if (full)
            why = "value out of range";
    }
    char q[PQL_LEX_ERR_MAX];
    pql_quote(q, sizeof(q), s, n, 0);
    snprintf(err, errcap, "strconv.ParseFloat: parsing %s: %s", q, why);
    return -EINVAL;
}

/* model.ParseDuration's units, in the order they must appear. */
static const struct {
    const char *unit;
    int64_t ms;
} units[] = {
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
};

int pql_parse_duration(const char *s, size_t n, int64_t *ms, char *err, size_t errcap)
{
    char q[PQL_LEX_ERR_MAX];
    if (n == 1 && s[0] == '0') {
        *ms = 0;
        return 0;
    }
    if (n == 0) {
        snprintf(err, errcap, "empty duration string");
        return -EINVAL;
    }
    /* Match ^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$ */
    int64_t total_ns = 0;
    bool overflow = false;
    size_t i = 0, u = 0;
    while (i < n) {
        size_t d0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d0)
            goto bad;
        size_t ulen = 0;
        while (i + ulen < n && !(s[i + ulen] >= '0' && s[i + ulen] <= '9'))
            ulen++;
        for (; u < sizeof(units) / sizeof(units[0]); u++)
            if (strlen(units[u].unit) == ulen && strncmp(units[u].unit, s + i, ulen) == 0)
                break;
        if (u == sizeof(units) / sizeof(units[0]))
            goto bad;
        /* The number as Atoi gives it (clamped on overflow). */
        uint64_t num = 0;
        for (size_t k = d0; k < i; k++) {
            if (num > (uint64_t)INT64_MAX / 10) {
                num = (uint64_t)INT64_MAX;
                break;
            }
            num = num * 10 + (uint64_t)(s[k] - '0');
        }
        if (num > (uint64_t)INT64_MAX)
            num = (uint64_t)INT64_MAX;
        int64_t limit = INT64_MAX / units[u].ms / 1000000;
        if ((int64_t)num > limit) {
            overflow = true;
        } else {
            int64_t add = (int64_t)num * units[u].ms * 1000000;
            if (__builtin_add_overflow(total_ns, add, &total_ns))
                overflow = true;
        }
        i += ulen;
        u++;
    }
    if (overflow) {
        snprintf(err, errcap, "duration out of range");
        return -EINVAL;
    }
    *ms = total_ns / 1000000;
    return 0;
bad:
    pql_quote(q, sizeof(q), s, n, 0);
    snprintf(err, errcap, "not a valid duration string: %s", q);
    return -EINVAL;
}
