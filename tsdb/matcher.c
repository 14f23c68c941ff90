/*
 * Label matchers with Prometheus' semantics (model/labels.Matcher): =, !=,
 * =~ and !~, the regular expressions anchored at both ends as Prometheus
 * compiles them ("^(?:" re ")$") and written in RE2 syntax, which Go's
 * regexp package implements.
 *
 * Regular expressions run on PCRE2 (JIT-compiled where it can be). PCRE's
 * syntax is a superset of RE2's with a few different meanings, so a pattern
 * goes through a small RE2 parser first that rejects what Go rejects and
 * rewrites what PCRE reads differently:
 *   - rejected as in Go: backreferences (\1 ... \9), lookaround and every
 *     other "(?" form but flags (i, m, s, U, with "-") and (?P<name>...),
 *     "(*VERB)", possessive and other stacked quantifiers (a++, a**, a{2}*),
 *     repeat counts above 1000, \C, and escapes Go does not know (\Z, \G, \K,
 *     \R, \h, \X, \N, \e, \c, \g, \k, \o, \b inside a class, any escaped
 *     letter or digit without a meaning);
 *   - rewritten: the assertions ^ $ \A \z \b \B into groups (Go lets them
 *     be repeated, PCRE does not); a "-" after a class inside a class (Go: a
 *     literal, PCRE: a bad range); \s and \S to Go's [\t\n\f\r ] (PCRE adds
 *     \v); \v to U+000B (PCRE: any vertical space); octal escapes to \x{..}
 *     (PCRE may read \12 as a backreference); named groups to plain ones
 *     (PCRE's name rules are stricter); "[" inside a class to "\[" (PCRE
 *     refuses "[." and "[=" there);
 * and PCRE2 runs with UTF-8, no automatic captures, "$" only at the very end
 * (Go's $ without (?m)), "(?m)^" also after a final newline (Go's), "\C"
 * forbidden, Unicode properties never used for \d \w \b (ASCII, as in Go).
 *
 * What still differs from Go, all far from what label values and real
 * queries contain: a quantifier straight after a bare flag group ("a(?i)*")
 * is refused where Go repeats the "a"; invalid UTF-8 in a value never
 * matches a pattern character (Go reads each bad byte as U+FFFD); "[\S]"
 * keeps PCRE's meaning (VT excluded); Go's limits on nesting depth (1000)
 * and on the product of nested repeat counts, and PCRE's own (250 nested
 * groups, a compiled-size limit) are not the same; PCRE backtracks, so a
 * pathological pattern that exhausts the match limit counts as no match
 * where Go's linear-time engine would answer.
 *
 * Refusals carry Go's messages ("error parsing regexp: ..."), found on the
 * anchored pattern as Go sees it, except for what only PCRE detects (unknown
 * property or POSIX class names, reversed ranges), which keeps PCRE's words.
 * tests/unit/tsdb/test_matcher.c holds what Prometheus 2.42 itself answered
 * for 137 patterns on 50 values; all of it agrees.
 *
 * The commonest patterns skip PCRE: a pattern without metacharacters is an
 * equality test, ".*" is "no newline", ".+" is "non-empty, no newline".
 */
#include "tsdb/tsdb.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a regex matcher decides. */
enum re_kind { RE_PCRE = 0, RE_LITERAL, RE_ANY, RE_ANY_NONEMPTY };

/* Scratch for pcre2_match: one cached match block, taken by whichever call
 * gets the flag; concurrent calls make their own. */
struct scratch {
    atomic_flag busy;
    pcre2_match_data *md;
};

struct tsdb_matcher {
    enum tsdb_match_type type;
    enum re_kind kind;
    char *name, *value;
    char *literal; /* RE_LITERAL: the string the pattern stands for */
    pcre2_code *re;
    pcre2_match_context *mctx;
    struct scratch *scratch;
};

/* Backtracking budget per match; see the file comment. */
#define MATCH_LIMIT 1000000
#define MAX_REPEAT 1000

/* ---- RE2 syntax to PCRE2 -------------------------------------------------------------------- */

struct xlate {
    const char *p; /* the pattern */
    size_t i, n;
    struct cn_buf out;
    char *err;
    size_t errcap;
};

static int xerr(struct xlate *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int xerr(struct xlate *x, const char *fmt, ...)
{
    if (x->errcap) {
        int k = snprintf(x->err, x->errcap, "error parsing regexp: ");
        va_list ap;
        va_start(ap, fmt);
        if (k >= 0 && (size_t)k < x->errcap)
            vsnprintf(x->err + k, x->errcap - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static bool is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The escape text from position `at` to the current one, for messages. */
static int bad_escape(struct xlate *x, size_t at)
{
    size_t end = x->i < x->n ? x->i + 1 : x->n;
    return xerr(x, "invalid escape sequence: `%.*s`", (int)(end - at), x->p + at);
}

/*
 * The escapes both Go's parseEscape and a class accept: octal, \x, C
 * escapes, escaped punctuation. x->i is on the character after the
 * backslash. Emits the PCRE form and moves past the escape.
 */
static int char_escape(struct xlate *x, size_t at)
{
    const char *p = x->p;
    int c = (unsigned char)p[x->i];
    if (c < 0x80 && !is_alnum(c)) {
        cn_buf_putc(&x->out, '\\');
        cn_buf_putc(&x->out, (char)c);
        x->i++;
        return 0;
    }
    if ((c >= '1' && c <= '7' && x->i + 1 < x->n && p[x->i + 1] >= '0' && p[x->i + 1] <= '7') ||
        c == '0') {
        /* Octal: up to three digits in all. */
        unsigned v = 0, k = 0;
        while (k < 3 && x->i < x->n && p[x->i] >= '0' && p[x->i] <= '7') {
            v = v * 8 + (unsigned)(p[x->i] - '0');
            x->i++;
            k++;
        }
        cn_buf_printf(&x->out, "\\x{%x}", v);
        return 0;
    }
    if (c == 'x') {
        x->i++;
        if (x->i < x->n && p[x->i] == '{') {
            unsigned long v = 0;
            size_t k = 0;
            x->i++;
            while (x->i < x->n && p[x->i] != '}') {
                int h = cn_hex_digit((unsigned char)p[x->i]);
                if (h < 0 || (v = v * 16 + (unsigned)h) > 0x10FFFF)
                    return bad_escape(x, at);
                x->i++;
                k++;
            }
            if (x->i >= x->n || k == 0)
                return bad_escape(x, at);
            x->i++;
            cn_buf_printf(&x->out, "\\x{%lx}", v);
            return 0;
        }
        if (x->i + 1 >= x->n || cn_hex_digit((unsigned char)p[x->i]) < 0 ||
            cn_hex_digit((unsigned char)p[x->i + 1]) < 0) {
            if (x->i < x->n)
                x->i++;
            return bad_escape(x, at);
        }
        cn_buf_printf(&x->out, "\\x{%x}",
                      (unsigned)(cn_hex_digit((unsigned char)p[x->i]) * 16 +
                                 cn_hex_digit((unsigned char)p[x->i + 1])));
        x->i += 2;
        return 0;
    }
    switch (c) {
    case 'a':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        cn_buf_putc(&x->out, '\\');
        cn_buf_putc(&x->out, (char)c);
        x->i++;
        return 0;
    case 'v':
        cn_buf_puts(&x->out, "\\x{b}");
        x->i++;
        return 0;
    default: return bad_escape(x, at);
    }
}

/* \p and \P: a one-letter name or {name}, {^name}; PCRE checks the name. */
static int unicode_class(struct xlate *x, size_t at)
{
    size_t start = x->i; /* on p or P */
    x->i++;
    if (x->i >= x->n)
        return bad_escape(x, at);
    if (x->p[x->i] == '{') {
        const char *close = memchr(x->p + x->i, '}', x->n - x->i);
        if (!close)
            return xerr(x, "invalid character class range: `%.*s`", (int)(x->n - at), x->p + at);
        x->i = (size_t)(close - x->p) + 1;
    } else {
        x->i++;
    }
    cn_buf_putc(&x->out, '\\');
    cn_buf_append(&x->out, x->p + start, x->i - start);
    return 0;
}

/* One escape inside a class. x->i is on the backslash. */
static int class_escape(struct xlate *x)
{
    size_t at = x->i++;
    if (x->i >= x->n)
        return xerr(x, "trailing backslash at end of expression: ``");
    switch (x->p[x->i]) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 'S':
        cn_buf_putc(&x->out, '\\');
        cn_buf_putc(&x->out, x->p[x->i++]);
        return 0;
    case 's':
        cn_buf_puts(&x->out, "\\t\\n\\f\\r ");
        x->i++;
        return 0;
    case 'p':
    case 'P': return unicode_class(x, at);
    default: return char_escape(x, at);
    }
}

/* After a class such as \d or [:alpha:] inside a class, Go reads "-" as
 * a literal (no range can start at a class) where PCRE refuses it. */
static void literal_dash(struct xlate *x)
{
    if (x->i + 1 < x->n && x->p[x->i] == '-' && x->p[x->i + 1] != ']') {
        cn_buf_puts(&x->out, "\\-");
        x->i++;
    }
}

/* A character class; x->i is on the "[". */
static int char_class(struct xlate *x)
{
    size_t at = x->i;
    const char *p = x->p;
    cn_buf_putc(&x->out, '[');
    x->i++;
    if (x->i < x->n && p[x->i] == '^') {
        cn_buf_putc(&x->out, '^');
        x->i++;
    }
    bool first = true;
    while (x->i < x->n && (p[x->i] != ']' || first)) {
        int rc;
        first = false;
        if (p[x->i] == '[' && x->i + 1 < x->n && p[x->i + 1] == ':') {
            /* [:name:] as Go finds it: up to the next ":]". */
            const char *end = NULL;
            for (size_t j = x->i + 2; j + 1 < x->n; j++) {
                if (p[j] == ':' && p[j + 1] == ']') {
                    end = p + j + 2;
                    break;
                }
            }
            if (end) {
                cn_buf_append(&x->out, p + x->i, (size_t)(end - (p + x->i)));
                x->i = (size_t)(end - p);
                literal_dash(x);
                continue;
            }
        }
        if (p[x->i] == '\\') {
            char e = x->i + 1 < x->n ? p[x->i + 1] : 0;
            if ((rc = class_escape(x)))
                return rc;
            if (e && strchr("dDsSwWpP", e))
                literal_dash(x);
        } else if (p[x->i] == '[') {
            cn_buf_puts(&x->out, "\\[");
            x->i++;
        } else if (p[x->i] == ']') { /* first, so literal */
            cn_buf_puts(&x->out, "\\]");
            x->i++;
        } else {
            cn_buf_putc(&x->out, p[x->i++]);
        }
    }
    if (x->i >= x->n)
        return xerr(x, "missing closing ]: `%.*s`", (int)(x->n - at), p + at);
    cn_buf_putc(&x->out, ']');
    x->i++;
    return 0;
}

/* Parses a repeat count {n}, {n,} or {n,m} at x->i ("{"). Returns its
 * length, 0 if the text is not a repeat (then "{" is a literal), or -1 for a
 * count out of range. */
static long repeat_len(const struct xlate *x)
{
    const char *p = x->p;
    size_t i = x->i + 1;
    long lo = -1, hi;
    size_t start = i;
    long v = 0;
    if (i + 1 < x->n && p[i] == '0' && p[i + 1] >= '0' && p[i + 1] <= '9')
        return 0; /* Go takes no leading zeros */
    while (i < x->n && p[i] >= '0' && p[i] <= '9') {
        if (v <= 100000)
            v = v * 10 + (p[i] - '0');
        i++;
    }
    if (i == start)
        return 0;
    lo = v;
    hi = lo;
    if (i < x->n && p[i] == ',') {
        i++;
        if (i < x->n && p[i] == '}') {
            hi = -1;
        } else {
            start = i;
            v = 0;
            if (i + 1 < x->n && p[i] == '0' && p[i + 1] >= '0' && p[i + 1] <= '9')
                return 0;
            while (i < x->n && p[i] >= '0' && p[i] <= '9') {
                if (v <= 100000)
                    v = v * 10 + (p[i] - '0');
                i++;
            }
            if (i == start)
                return 0;
            hi = v;
        }
    }
    if (i >= x->n || p[i] != '}')
        return 0;
    if (lo > MAX_REPEAT || hi > MAX_REPEAT || (hi >= 0 && lo > hi))
        return -1;
    return (long)(i + 1 - x->i);
}

/* Length of the UTF-8 sequence starting with byte c (1 for bad bytes: PCRE
 * then rejects the pattern). */
static size_t utf8_len(unsigned char c)
{
    return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* Where the last item stands, for quantifier checks as Go's parser does them.
 */
enum last { LAST_NONE, LAST_ITEM, LAST_REPEAT };

static int translate(struct xlate *x)
{
    const char *p = x->p;
    enum last last = LAST_NONE;
    int depth = 0, rc;
    size_t rep_at = 0; /* where the last quantifier began */
    while (x->i < x->n) {
        size_t at = x->i;
        char c = p[x->i];
        switch (c) {
        case '\\': {
            x->i++;
            if (x->i >= x->n)
                return xerr(x, "trailing backslash at end of expression: ``");
            char e = p[x->i];
            enum last before = last;
            last = LAST_ITEM;
            switch (e) {
            case 'A':
            case 'z':
            case 'b':
            case 'B':
                /* Go lets an assertion be repeated, PCRE only a group. */
                cn_buf_puts(&x->out, "(?:\\");
                cn_buf_putc(&x->out, e);
                cn_buf_putc(&x->out, ')');
                x->i++;
                break;
            case 'd':
            case 'D':
            case 'w':
            case 'W':
                cn_buf_putc(&x->out, '\\');
                cn_buf_putc(&x->out, e);
                x->i++;
                break;
            case 's':
                cn_buf_puts(&x->out, "[\\t\\n\\f\\r ]");
                x->i++;
                break;
            case 'S':
                cn_buf_puts(&x->out, "[^\\t\\n\\f\\r ]");
                x->i++;
                break;
            case 'p':
            case 'P':
                if ((rc = unicode_class(x, at)))
                    return rc;
                break;
            case 'Q': {
                /* Literal text up to \E or the end, as Go and PCRE agree. */
                x->i++;
                const char *end = NULL;
                for (size_t j = x->i; j + 1 < x->n; j++) {
                    if (p[j] == '\\' && p[j + 1] == 'E') {
                        end = p + j;
                        break;
                    }
                }
                size_t stop = end ? (size_t)(end - p) : x->n;
                if (stop == x->i) /* nothing quoted: nothing to repeat either */
                    last = before;
                cn_buf_puts(&x->out, "\\Q");
                cn_buf_append(&x->out, p + x->i, stop - x->i);
                cn_buf_puts(&x->out, "\\E");
                x->i = end ? stop + 2 : stop;
                break;
            }
            default:
                if ((rc = char_escape(x, at)))
                    return rc;
            }
            break;
        }
        case '[':
            if ((rc = char_class(x)))
                return rc;
            last = LAST_ITEM;
            break;
        case '(':
            x->i++;
            if (x->i < x->n && p[x->i] == '*')
                return xerr(x, "missing argument to repetition operator: `*`");
            if (x->i < x->n && p[x->i] == '?') {
                if (x->i + 2 < x->n && p[x->i + 1] == 'P' && p[x->i + 2] == '<') {
                    size_t s = x->i + 3, e = s;
                    while (e < x->n && p[e] != '>')
                        e++;
                    if (e >= x->n)
                        return xerr(x, "invalid named capture: `%.*s`", (int)(x->n - at), p + at);
                    bool ok = e > s;
                    for (size_t j = s; j < e; j++)
                        ok = ok && (is_alnum((unsigned char)p[j]) || p[j] == '_');
                    if (!ok)
                        return xerr(x, "invalid named capture: `%.*s`", (int)(e + 1 - at), p + at);
                    x->i = e + 1;
                    cn_buf_putc(&x->out, '(');
                    depth++;
                    last = LAST_NONE;
                    break;
                }
                /* Flags: [imsU]* ( "-" [imsU]+ )? then ":" or ")". */
                size_t j = x->i + 1;
                bool neg = false, saw = false;
                for (; j < x->n; j++) {
                    char f = p[j];
                    if (f == 'i' || f == 'm' || f == 's' || f == 'U') {
                        saw = true;
                    } else if (f == '-' && !neg) {
                        neg = true;
                        saw = false;
                    } else {
                        break;
                    }
                }
                if (j >= x->n || (p[j] != ':' && p[j] != ')') || (neg && !saw))
                    return xerr(x, "invalid or unsupported Perl syntax: `%.*s`",
                                (int)((j < x->n ? j + 1 : x->n) - at), p + at);
                cn_buf_putc(&x->out, '(');
                cn_buf_append(&x->out, p + x->i, j + 1 - x->i);
                x->i = j + 1;
                if (p[j] == ':') {
                    depth++;
                    last = LAST_NONE;
                } else {
                    last = last == LAST_NONE ? LAST_NONE : LAST_ITEM;
                }
                break;
            }
            cn_buf_putc(&x->out, '(');
            depth++;
            last = LAST_NONE;
            break;
        case ')':
            if (--depth < 0)
                return xerr(x, "unexpected ): `%s`", p);
            cn_buf_putc(&x->out, ')');
            x->i++;
            last = LAST_ITEM;
            break;
        case '^':
        case '$':
            cn_buf_puts(&x->out, c == '^' ? "(?:^)" : "(?:$)");
            x->i++;
            last = LAST_ITEM;
            break;
        case '|':
            cn_buf_putc(&x->out, '|');
            x->i++;
            last = LAST_NONE;
            break;
        case '*':
        case '+':
        case '?':
        case '{': {
            size_t len = 1;
            if (c == '{') {
                long r = repeat_len(x);
                if (r < 0) {
                    long k = 1;
                    while (x->i + (size_t)k < x->n && p[x->i + (size_t)k] != '}')
                        k++;
                    return xerr(x, "invalid repeat count: `%.*s`", (int)(k + 1), p + x->i);
                }
                if (r == 0) { /* not a repeat: a literal "{" */
                    cn_buf_puts(&x->out, "\\{");
                    x->i++;
                    last = LAST_ITEM;
                    break;
                }
                len = (size_t)r;
            }
            size_t lazy = x->i + len < x->n && p[x->i + len] == '?' ? 1 : 0;
            if (last == LAST_NONE)
                return xerr(x, "missing argument to repetition operator: `%.*s`", (int)len,
                            p + x->i);
            if (last == LAST_REPEAT)
                return xerr(x, "invalid nested repetition operator: `%.*s`",
                            (int)(x->i + len + lazy - rep_at), p + rep_at);
            cn_buf_append(&x->out, p + x->i, len + lazy);
            rep_at = x->i;
            x->i += len + lazy;
            last = LAST_REPEAT;
            break;
        }
        case ']':
        case '}':
            cn_buf_putc(&x->out, '\\');
            cn_buf_putc(&x->out, c);
            x->i++;
            last = LAST_ITEM;
            break;
        default: {
            /* A literal character, whole UTF-8 sequences at a time so a
             * quantifier applies to the character. */
            size_t k = utf8_len((unsigned char)c);
            if (x->i + k > x->n)
                k = x->n - x->i;
            cn_buf_append(&x->out, p + x->i, k);
            x->i += k;
            last = LAST_ITEM;
        }
        }
    }
    if (depth > 0)
        return xerr(x, "missing closing ): `%s`", p);
    return x->out.err ? -ENOMEM : 0;
}

/* Whether s is well-formed UTF-8 (no overlongs, surrogates or values past
 * U+10FFFF), as Go requires of a pattern. */
static bool utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned char c = *s;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[k] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        s += n + 1;
    }
    return true;
}

/* A pattern without metacharacters stands for itself. */
static bool is_literal(const char *s)
{
    return strpbrk(s, "\\.+*?()|[]{}^$") == NULL;
}

static int compile(struct tsdb_matcher *m, char *err, size_t errcap)
{
    const char *v = m->value;
    if (!utf8_valid((const unsigned char *)v)) {
        if (errcap)
            snprintf(err, errcap, "error parsing regexp: invalid UTF-8: `%s`", v);
        return -EINVAL;
    }
    if (is_literal(v)) {
        m->kind = RE_LITERAL;
        m->literal = m->value;
        return 0;
    }
    if (strcmp(v, ".*") == 0) {
        m->kind = RE_ANY;
        return 0;
    }
    if (strcmp(v, ".+") == 0) {
        m->kind = RE_ANY_NONEMPTY;
        return 0;
    }

    /* Parse what Go parses: the anchored pattern, so an unbalanced or
     * quoting pattern ("a)", "a\\", "\\Qa") fails, and fails with Go's
     * message, as it does in Prometheus. */
    size_t vlen = strlen(v);
    char *anchored = cn_malloc(vlen + 7);
    if (!anchored)
        return -ENOMEM;
    memcpy(anchored, "^(?:", 4);
    memcpy(anchored + 4, v, vlen);
    memcpy(anchored + 4 + vlen, ")$", 3);
    struct xlate x = {.p = anchored, .i = 0, .n = vlen + 6, .err = err, .errcap = errcap};
    cn_buf_init(&x.out);
    int rc = translate(&x);
    free(anchored);
    if (rc) {
        cn_buf_free(&x.out);
        return rc;
    }
    pcre2_compile_context *cctx = pcre2_compile_context_create(NULL);
    if (!cctx) {
        cn_buf_free(&x.out);
        return -ENOMEM;
    }
    pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
    int ecode;
    PCRE2_SIZE eoff;
    m->re = pcre2_compile((PCRE2_SPTR)x.out.data, x.out.len,
                          PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NO_AUTO_CAPTURE |
                              PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_CIRCUMFLEX |
                              PCRE2_NEVER_BACKSLASH_C | PCRE2_NEVER_UCP,
                          &ecode, &eoff, cctx);
    pcre2_compile_context_free(cctx);
    cn_buf_free(&x.out);
    if (!m->re) {
        if (ecode == PCRE2_ERROR_NOMEMORY)
            return -ENOMEM;
        if (errcap) {
            PCRE2_UCHAR msg[160];
            if (pcre2_get_error_message(ecode, msg, sizeof(msg)) < 0)
                snprintf((char *)msg, sizeof(msg), "error %d", ecode);
            snprintf(err, errcap, "error parsing regexp: %s: `%s`", (const char *)msg, v);
        }
        return -EINVAL;
    }
    /* Belt and braces: RE2 has no backreferences, whatever slipped through. */
    uint32_t backrefs = 0;
    pcre2_pattern_info(m->re, PCRE2_INFO_BACKREFMAX, &backrefs);
    if (backrefs) {
        if (errcap)
            snprintf(err, errcap, "error parsing regexp: backreferences are not supported: `%s`",
                     v);
        return -EINVAL;
    }
    pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    m->mctx = pcre2_match_context_create(NULL);
    m->scratch = cn_calloc(1, sizeof(*m->scratch));
    if (!m->mctx || !m->scratch)
        return -ENOMEM;
    atomic_flag_clear(&m->scratch->busy);
    m->scratch->md = pcre2_match_data_create(1, NULL);
    if (!m->scratch->md)
        return -ENOMEM;
    pcre2_set_match_limit(m->mctx, MATCH_LIMIT);
    m->kind = RE_PCRE;
    return 0;
}

int tsdb_matcher_create(enum tsdb_match_type type, const char *name, const char *value,
                        struct tsdb_matcher **out, char *err, size_t errcap)
{
    *out = NULL;
    if (errcap)
        err[0] = '\0';
    if (type > TSDB_MATCH_NRE || !name || !value) {
        if (errcap)
            snprintf(err, errcap, "invalid matcher");
        return -EINVAL;
    }
    struct tsdb_matcher *m = cn_calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->type = type;
    m->name = cn_strdup(name);
    m->value = cn_strdup(value);
    int rc = !m->name || !m->value ? -ENOMEM : 0;
    if (!rc && (type == TSDB_MATCH_RE || type == TSDB_MATCH_NRE))
        rc = compile(m, err, errcap);
    if (rc) {
        if (rc == -ENOMEM && errcap)
            snprintf(err, errcap, "out of memory");
        tsdb_matcher_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

void tsdb_matcher_destroy(struct tsdb_matcher *m)
{
    if (!m)
        return;
    if (m->scratch) {
        pcre2_match_data_free(m->scratch->md);
        free(m->scratch);
    }
    pcre2_match_context_free(m->mctx);
    pcre2_code_free(m->re);
    free(m->name);
    free(m->value);
    free(m);
}

static bool re_matches(const struct tsdb_matcher *m, const char *s)
{
    switch (m->kind) {
    case RE_LITERAL: return strcmp(s, m->literal) == 0;
    case RE_ANY: return strchr(s, '\n') == NULL;
    case RE_ANY_NONEMPTY: return s[0] && strchr(s, '\n') == NULL;
    case RE_PCRE: break;
    }
    struct scratch *sc = m->scratch;
    bool mine = !atomic_flag_test_and_set_explicit(&sc->busy, memory_order_acquire);
    pcre2_match_data *md = mine ? sc->md : pcre2_match_data_create(1, NULL);
    if (!md)
        return false;
    int rc = pcre2_match(m->re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, m->mctx);
    if (mine)
        atomic_flag_clear_explicit(&sc->busy, memory_order_release);
    else
        pcre2_match_data_free(md);
    return rc >= 0;
}

bool tsdb_matcher_matches(const struct tsdb_matcher *m, const char *value)
{
    switch (m->type) {
    case TSDB_MATCH_EQ: return strcmp(value, m->value) == 0;
    case TSDB_MATCH_NEQ: return strcmp(value, m->value) != 0;
    case TSDB_MATCH_RE: return re_matches(m, value);
    case TSDB_MATCH_NRE: return !re_matches(m, value);
    }
    return false;
}

const char *tsdb_matcher_name(const struct tsdb_matcher *m)
{
    return m->name;
}

enum tsdb_match_type tsdb_matcher_type(const struct tsdb_matcher *m)
{
    return m->type;
}

const char *tsdb_matcher_value(const struct tsdb_matcher *m)
{
    return m->value;
}
