/*
 * The text exposition format 0.0.4 parser.
 *
 * Semantics are those of Prometheus' expfmt TextParser (prometheus/common,
 * the parser node_exporter's textfile collector uses), checked against
 * promtool, which embeds it:
 *
 * - Lines end with '\n'; a last line that is not terminated is an error
 *   ("unexpected end of input stream") unless it is blank. Blanks are ' '
 *   and '\t' only; '\r' is an ordinary byte.
 * - "# HELP name text" and "# TYPE name type" (after optional blanks around
 *   '#'); any other comment is ignored, as is a HELP or TYPE line that ends
 *   right after the keyword or the name. HELP text runs to the end of the line
 *   (trailing blanks included) and knows the escapes \\ and \n; TYPE is
 *   matched case-insensitively and must not carry trailing blanks.
 * - A family gets its type from TYPE or, failing that, from its first sample
 *   (untyped); a TYPE line after samples, a second TYPE or a second HELP for
 *   a family are errors. A family may reappear after other families: its
 *   samples are merged into it, as expfmt does (promtool accepts such input).
 * - Sample lines: name, optional label set {a="x",b="y",} with the escapes
 *   \\ \" \n, a value in Go's ParseFloat syntax (NaN, [+-]Inf, Infinity in any
 *   case; no hex, no '_', out-of-range values rejected), an optional int64
 *   millisecond timestamp, and nothing else.
 * - Summary and histogram samples are grouped into one series per label set
 *   (without quantile/le): name_sum and name_count of a family declared
 *   summary or histogram (and name_bucket for histograms) belong to it, as
 *   in expfmt's lookup order. Quantiles and buckets come out sorted by bound;
 *   a bound given twice keeps the last value, as node_exporter's conversion
 *   through a map does.
 *
 * Stricter than expfmt, deliberately: label values and HELP text must be
 * UTF-8 (promparse checks both; expfmt only label values) and must not hold
 * NUL bytes, which the builder's C strings cannot carry; gauge_histogram is
 * an unknown type because the builder has no such type.
 *
 * Design. One pass over the buffer, line by line (memchr), with no
 * recursion and no backtracking; memory grows linearly with the input.
 * Counters, gauges and untyped samples go straight into the builder.
 * Summary and histogram series need all their lines first, so they are
 * collected in groups (a hash table keyed by family and sorted label set)
 * and written to the builder at the end. Families are created in the
 * builder only when their first sample arrives, so a HELP/TYPE without
 * samples leaves no empty family behind (expfmt drops those too). They are
 * made with exp_family(), so parsing into a builder that already holds a
 * family of the same name adds to that family; callers that want the file's
 * own view pass a fresh builder.
 */
#include "exporter/exporter.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { SUFFIX_NONE = 0, SUFFIX_COUNT, SUFFIX_SUM };

struct pfam {
    const char *name; /* parser arena */
    size_t len;
    uint64_t hash;
    const char *help; /* builder arena; NULL until a HELP line */
    enum exp_type type;
    bool typed; /* TYPE seen, or the first sample made it untyped */
    struct exp_family *f;
};

struct pbucket {
    double upper, count;
    uint32_t seq; /* input order, so that the last of equal bounds wins */
};

/* One summary or histogram series under construction. */
struct pgroup {
    uint32_t fam;
    uint64_t hash;
    const char *key; /* name\0value\0... of the sorted labels, parser arena */
    size_t keylen;
    const char **names, **values;
    uint32_t nlabels;
    struct pbucket *b;
    uint32_t nb, capb;
    double sum, count;
    int64_t ts;
};

/* A label of the current line: offsets of NUL-terminated strings in scratch. */
struct plabel {
    size_t name, value;
};

struct parser {
    const char *p, *e; /* cursor and end of the current line */
    bool terminated;   /* the current line ends with '\n' */
    int line;
    struct exp_builder *b;
    struct exp_parse_error *err;
    struct cn_arena *arena;
    struct pfam *fams;
    uint32_t nfams, capfams;
    uint32_t *fslots; /* index+1 into fams; 0 = empty */
    size_t nfslots;
    struct pgroup *groups;
    uint32_t ngroups, capgroups;
    uint32_t *gslots;
    size_t ngslots;
    uint32_t bseq;
    struct cn_buf scratch; /* label names and values of the current line */
    struct cn_buf key;     /* group key of the current line */
    struct plabel *labels;
    uint32_t nlabels, caplabels;
    struct exp_label *sorted; /* the labels resolved to pointers */
    uint32_t capsorted;
};

/* ---- errors ---------------------------------------------------------------- */

static int perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct parser *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
    va_end(ap);
    ps->err->line = ps->line;
    return -EINVAL;
}

static int nomem(struct parser *ps)
{
    snprintf(ps->err->msg, sizeof(ps->err->msg), "out of memory");
    ps->err->line = ps->line;
    return -ENOMEM;
}

static int eof_error(struct parser *ps)
{
    return perr(ps, "unexpected end of input stream");
}

/* Quotes s[0..n) for a message, Go %q style, cut after 48 bytes. out >= 220. */
static const char hex_digits[] = "0123456789abcdef";

static const char *quote(char *out, const char *s, size_t n)
{
    size_t o = 0, lim = n > 48 ? 48 : n;
    out[o++] = '"';
    for (size_t i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            out[o++] = '\\';
            out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex_digits[c >> 4];
            out[o++] = hex_digits[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    if (lim < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

#define QBUF                                                                                       \
    (char[224])                                                                                    \
    {                                                                                              \
        0                                                                                          \
    }
#define Q(s, n) quote(QBUF, (s), (n))
#define QS(s) quote(QBUF, (s), strlen(s))

/* ---- lexical helpers --------------------------------------------------------- */

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool label_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool label_cont(char c)
{
    return label_start(c) || (c >= '0' && c <= '9');
}

static bool metric_start(char c)
{
    return label_start(c) || c == ':';
}

static bool metric_cont(char c)
{
    return label_cont(c) || c == ':';
}

static void skip_blanks(struct parser *ps)
{
    while (ps->p < ps->e && blank(*ps->p))
        ps->p++;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Go's strconv.ParseFloat(s, 64) as expfmt calls it: decimal syntax only
 * ('p', 'P' and '_' are refused, which rules out hex floats), "inf" and
 * "infinity" with optional sign and "nan" in any case, overflow rejected,
 * underflow accepted. The digits themselves are converted by strtod, which
 * rounds correctly just as Go does.
 */
static bool parse_float(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if ((n - i == 3 && strncasecmp(s + i, "inf", 3) == 0) ||
        (n - i == 8 && strncasecmp(s + i, "infinity", 8) == 0)) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (n == 3 && strncasecmp(s, "nan", 3) == 0) {
        *out = NAN;
        return true;
    }
    size_t digits = 0;
    while (i < n && is_digit(s[i]))
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++, digits++;
    }
    if (!digits)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < n && is_digit(s[i]))
            i++, ed++;
        if (!ed)
            return false;
    }
    if (i != n)
        return false;
    char small[64];
    char *tmp = n < sizeof(small) ? small : cn_malloc(n + 1);
    if (!tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    double v = strtod(tmp, NULL);
    if (tmp != small)
        free(tmp);
    if (isinf(v))
        return false; /* Go: ErrRange */
    *out = v;
    return true;
}

/* Go's strconv.ParseInt(s, 10, 64). */
static bool parse_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return false;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return true;
}

/* UTF-8 as Go's utf8.Valid: no overlong forms, surrogates or > U+10FFFF. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            return false;
        if (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
            return false;
        i += len;
    }
    return true;
}

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

#define HASH_SEED 1469598103934665603ULL

/* ---- families ----------------------------------------------------------------- */

static bool fam_eq(const struct pfam *f, uint64_t h, const char *name, size_t len)
{
    return f->hash == h && f->len == len && memcmp(f->name, name, len) == 0;
}

static int fam_rehash(struct parser *ps)
{
    size_t n = ps->nfslots ? ps->nfslots * 2 : 64;
    uint32_t *slots = cn_calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < ps->nfams; i++) {
        size_t h = ps->fams[i].hash & (n - 1);
        while (slots[h])
            h = (h + 1) & (n - 1);
        slots[h] = i + 1;
    }
    free(ps->fslots);
    ps->fslots = slots;
    ps->nfslots = n;
    return 0;
}

/* Index of the family called name, or -1. */
static long fam_find(struct parser *ps, const char *name, size_t len)
{
    if (!ps->nfslots)
        return -1;
    uint64_t h = hash_bytes(HASH_SEED, name, len);
    for (size_t s = h & (ps->nfslots - 1);; s = (s + 1) & (ps->nfslots - 1)) {
        uint32_t idx = ps->fslots[s];
        if (!idx)
            return -1;
        if (fam_eq(&ps->fams[idx - 1], h, name, len))
            return (long)idx - 1;
    }
}

static long fam_create(struct parser *ps, const char *name, size_t len)
{
    if ((ps->nfams + 1) * 2 > ps->nfslots && fam_rehash(ps))
        return -1;
    if (ps->nfams == ps->capfams) {
        uint32_t cap = ps->capfams ? ps->capfams * 2 : 32;
        struct pfam *f = cn_realloc(ps->fams, cap * sizeof(*f));
        if (!f)
            return -1;
        ps->fams = f;
        ps->capfams = cap;
    }
    struct pfam *f = &ps->fams[ps->nfams];
    memset(f, 0, sizeof(*f));
    f->name = cn_arena_strndup(ps->arena, name, len);
    if (!f->name)
        return -1;
    f->len = len;
    f->hash = hash_bytes(HASH_SEED, name, len);
    f->type = EXP_UNTYPED;
    size_t s = f->hash & (ps->nfslots - 1);
    while (ps->fslots[s])
        s = (s + 1) & (ps->nfslots - 1);
    ps->fslots[s] = ++ps->nfams;
    return (long)ps->nfams - 1;
}

static bool has_suffix(const char *name, size_t len, const char *suffix, size_t slen)
{
    return len > slen && memcmp(name + len - slen, suffix, slen) == 0;
}

/*
 * expfmt's family lookup: the name itself; else, for name_count/name_sum, a
 * summary called name; else, for name_count/name_sum/name_bucket, a
 * histogram called name; else a new family. *suffix tells whether the line
 * is a summary's or histogram's count or sum. Returns the index or -ENOMEM.
 */
static long fam_resolve(struct parser *ps, const char *name, size_t len, int *suffix)
{
    *suffix = SUFFIX_NONE;
    long i = fam_find(ps, name, len);
    if (i >= 0)
        return i;
    int sfx = SUFFIX_NONE;
    size_t base = len;
    if (has_suffix(name, len, "_count", 6)) {
        sfx = SUFFIX_COUNT;
        base = len - 6;
    } else if (has_suffix(name, len, "_sum", 4)) {
        sfx = SUFFIX_SUM;
        base = len - 4;
    }
    if (sfx != SUFFIX_NONE) {
        i = fam_find(ps, name, base);
        if (i >= 0 && ps->fams[i].typed && ps->fams[i].type == EXP_SUMMARY) {
            *suffix = sfx;
            return i;
        }
    } else if (has_suffix(name, len, "_bucket", 7)) {
        base = len - 7;
    }
    if (base != len) {
        i = fam_find(ps, name, base);
        if (i >= 0 && ps->fams[i].typed && ps->fams[i].type == EXP_HISTOGRAM) {
            *suffix = sfx;
            return i;
        }
    }
    i = fam_create(ps, name, len);
    return i < 0 ? -ENOMEM : i;
}

static struct exp_family *fam_builder(struct parser *ps, struct pfam *f)
{
    if (!f->f)
        f->f = exp_family(ps->b, f->name, f->help ? f->help : "", f->type);
    return f->f;
}

/* ---- summary and histogram groups ------------------------------------------------ */

static int group_rehash(struct parser *ps)
{
    size_t n = ps->ngslots ? ps->ngslots * 2 : 64;
    uint32_t *slots = cn_calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < ps->ngroups; i++) {
        size_t h = ps->groups[i].hash & (n - 1);
        while (slots[h])
            h = (h + 1) & (n - 1);
        slots[h] = i + 1;
    }
    free(ps->gslots);
    ps->gslots = slots;
    ps->ngslots = n;
    return 0;
}

/* Finds or creates the group of family fam with the current line's sorted
 * labels (ps->sorted, n of them). NULL on allocation failure. */
static struct pgroup *group_get(struct parser *ps, uint32_t fam, uint32_t n)
{
    cn_buf_reset(&ps->key);
    for (uint32_t i = 0; i < n; i++) {
        cn_buf_append(&ps->key, ps->sorted[i].name, strlen(ps->sorted[i].name) + 1);
        cn_buf_append(&ps->key, ps->sorted[i].value, strlen(ps->sorted[i].value) + 1);
    }
    if (ps->key.err)
        return NULL;
    const char *key = ps->key.len ? ps->key.data : "";
    size_t keylen = ps->key.len;
    uint64_t h = hash_bytes(HASH_SEED ^ ((uint64_t)fam * 0x9e3779b97f4a7c15ULL), key, keylen);
    if ((ps->ngroups + 1) * 2 > ps->ngslots && group_rehash(ps))
        return NULL;
    size_t s = h & (ps->ngslots - 1);
    for (; ps->gslots[s]; s = (s + 1) & (ps->ngslots - 1)) {
        struct pgroup *g = &ps->groups[ps->gslots[s] - 1];
        if (g->hash == h && g->fam == fam && g->keylen == keylen &&
            memcmp(g->key, key, keylen) == 0)
            return g;
    }
    if (ps->ngroups == ps->capgroups) {
        uint32_t cap = ps->capgroups ? ps->capgroups * 2 : 16;
        struct pgroup *g = cn_realloc(ps->groups, cap * sizeof(*g));
        if (!g)
            return NULL;
        ps->groups = g;
        ps->capgroups = cap;
    }
    struct pgroup *g = &ps->groups[ps->ngroups];
    memset(g, 0, sizeof(*g));
    g->fam = fam;
    g->hash = h;
    g->keylen = keylen;
    char *k = cn_arena_alloc(ps->arena, keylen ? keylen : 1);
    if (!k)
        return NULL;
    memcpy(k, key, keylen);
    g->key = k;
    if (n) {
        g->names = cn_arena_alloc(ps->arena, n * sizeof(*g->names));
        g->values = cn_arena_alloc(ps->arena, n * sizeof(*g->values));
        if (!g->names || !g->values)
            return NULL;
        /* The key holds the strings in order: point into it. */
        for (uint32_t i = 0; i < n; i++) {
            g->names[i] = k;
            k += strlen(k) + 1;
            g->values[i] = k;
            k += strlen(k) + 1;
        }
    }
    g->nlabels = n;
    ps->gslots[s] = ++ps->ngroups;
    return g;
}

static int group_add_bucket(struct parser *ps, struct pgroup *g, double upper, double count)
{
    if (g->nb == g->capb) {
        uint32_t cap = g->capb ? g->capb * 2 : 8;
        struct pbucket *b = cn_realloc(g->b, cap * sizeof(*b));
        if (!b)
            return -ENOMEM;
        g->b = b;
        g->capb = cap;
    }
    g->b[g->nb++] = (struct pbucket){.upper = upper, .count = count, .seq = ps->bseq++};
    return 0;
}

/* NaN bounds first (each its own, as in a Go map), then ascending, then input order. */
static int cmp_bucket(const void *pa, const void *pb)
{
    const struct pbucket *a = pa, *b = pb;
    bool na = isnan(a->upper), nb = isnan(b->upper);
    if (na != nb)
        return na ? -1 : 1;
    if (!na && a->upper != b->upper)
        return a->upper < b->upper ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Writes the groups into the builder: sorted bounds, the last of equal ones. */
static int groups_flush(struct parser *ps)
{
    struct exp_bucket *tmp = NULL;
    uint32_t captmp = 0;
    int rc = 0;
    for (uint32_t i = 0; i < ps->ngroups && !rc; i++) {
        struct pgroup *g = &ps->groups[i];
        struct pfam *f = &ps->fams[g->fam];
        struct exp_series *s =
            exp_addv(ps->b, fam_builder(ps, f), 0, (int)g->nlabels, g->names, g->values);
        if (!s) {
            rc = -ENOMEM;
            break;
        }
        if (g->nb > captmp) {
            struct exp_bucket *t = cn_realloc(tmp, g->nb * sizeof(*t));
            if (!t) {
                rc = -ENOMEM;
                break;
            }
            tmp = t;
            captmp = g->nb;
        }
        if (g->nb > 1)
            qsort(g->b, g->nb, sizeof(*g->b), cmp_bucket);
        uint32_t n = 0;
        for (uint32_t j = 0; j < g->nb; j++) {
            if (n && !isnan(g->b[j].upper) && tmp[n - 1].upper == g->b[j].upper)
                tmp[n - 1].count = g->b[j].count;
            else
                tmp[n++] = (struct exp_bucket){.upper = g->b[j].upper, .count = g->b[j].count};
        }
        rc = exp_set_buckets(ps->b, s, tmp, n, g->sum, g->count);
        s->timestamp_ms = g->ts;
    }
    free(tmp);
    return rc;
}

static const struct {
    const char *name;
    enum exp_type type;
} type_names[] = {{"counter", EXP_COUNTER},
                  {"gauge", EXP_GAUGE},
                  {"untyped", EXP_UNTYPED},
                  {"summary", EXP_SUMMARY},
                  {"histogram", EXP_HISTOGRAM}};

static int bad_escape(struct parser *ps, char x)
{
    if (x > ' ' && x < 0x7f)
        return perr(ps, "invalid escape sequence '\\%c'", x);
    return perr(ps, "invalid escape sequence: backslash followed by byte 0x%02x",
                (unsigned)(unsigned char)x);
}

/* ---- lines ---------------------------------------------------------------------------- */

static int parse_comment(struct parser *ps)
{
    skip_blanks(ps);
    if (ps->p == ps->e)
        return ps->terminated ? 0 : eof_error(ps);
    const char *kw = ps->p;
    while (ps->p < ps->e && !blank(*ps->p))
        ps->p++;
    size_t kwlen = (size_t)(ps->p - kw);
    bool help = kwlen == 4 && memcmp(kw, "HELP", 4) == 0;
    bool type = kwlen == 4 && memcmp(kw, "TYPE", 4) == 0;
    if (ps->p == ps->e || (!help && !type)) /* plain comment */
        return ps->terminated ? 0 : eof_error(ps);
    skip_blanks(ps);
    if (ps->p == ps->e)
        return ps->terminated ? 0 : eof_error(ps);
    const char *name = ps->p;
    if (metric_start(*ps->p)) {
        ps->p++;
        while (ps->p < ps->e && metric_cont(*ps->p))
            ps->p++;
    }
    if (ps->p == ps->e)
        return ps->terminated ? 0 : eof_error(ps);
    if (!blank(*ps->p))
        return perr(ps, "invalid metric name in comment");
    int suffix;
    long fi = fam_resolve(ps, name, (size_t)(ps->p - name), &suffix);
    if (fi < 0)
        return nomem(ps);
    struct pfam *f = &ps->fams[fi];
    skip_blanks(ps);
    if (ps->p == ps->e)
        return ps->terminated ? 0 : eof_error(ps);

    if (type) {
        if (f->typed)
            return perr(ps, "second TYPE line for metric name %s, or TYPE reported after samples",
                        QS(f->name));
        if (!ps->terminated)
            return eof_error(ps);
        /* expfmt reads the type with its escape-less line reader, which
         * drops every backslash: "coun\ter" is a counter. */
        char tname[16];
        size_t n = 0;
        for (const char *p = ps->p; p < ps->e && n < sizeof(tname); p++)
            if (*p != '\\')
                tname[n++] = *p;
        for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
            if (strlen(type_names[i].name) == n && strncasecmp(tname, type_names[i].name, n) == 0) {
                f->type = type_names[i].type;
                f->typed = true;
                return 0;
            }
        }
        return perr(ps, "unknown metric type %s", Q(ps->p, (size_t)(ps->e - ps->p)));
    }

    if (f->help)
        return perr(ps, "second HELP line for metric name %s", QS(f->name));
    cn_buf_reset(&ps->scratch);
    for (const char *p = ps->p; p < ps->e; p++) {
        char c = *p;
        if (c == '\\') {
            if (++p == ps->e)
                return ps->terminated ? perr(ps, "invalid escape sequence '\\' at end of line")
                                      : eof_error(ps);
            if (*p == 'n')
                c = '\n';
            else if (*p == '\\')
                c = '\\';
            else
                return bad_escape(ps, *p);
        } else if (c == '\0') {
            return perr(ps, "HELP text for metric name %s contains a NUL byte", QS(f->name));
        }
        cn_buf_putc(&ps->scratch, c);
    }
    if (!ps->terminated)
        return eof_error(ps);
    if (ps->scratch.err)
        return nomem(ps);
    if (!valid_utf8((const unsigned char *)ps->scratch.data, ps->scratch.len))
        return perr(ps, "HELP text for metric name %s is not valid UTF-8", QS(f->name));
    f->help = cn_arena_strndup(exp_builder_arena(ps->b), ps->scratch.data, ps->scratch.len);
    if (!f->help)
        return nomem(ps);
    if (f->f)
        f->f->help = f->help;
    return 0;
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct exp_label *)a)->name, ((const struct exp_label *)b)->name);
}

/*
 * Parses the label set after '{' into ps->labels; quantile (summaries) and
 * le (histograms) go to *special instead. Leaves ps->p after the blanks that
 * follow '}'.
 */
static int parse_labels(struct parser *ps, const struct pfam *f, double *special)
{
    for (;;) {
        skip_blanks(ps);
        if (ps->p == ps->e)
            return ps->terminated ? perr(ps, "invalid label name for metric %s", QS(f->name))
                                  : eof_error(ps);
        if (*ps->p == '}') {
            ps->p++;
            skip_blanks(ps);
            return 0;
        }
        const char *name = ps->p;
        if (!label_start(*ps->p))
            return perr(ps, "invalid label name for metric %s", QS(f->name));
        while (ps->p < ps->e && label_cont(*ps->p))
            ps->p++;
        size_t nlen = (size_t)(ps->p - name);
        if (nlen == 8 && memcmp(name, "__name__", 8) == 0)
            return perr(ps, "label name \"__name__\" is reserved");
        const char *sname = NULL;
        if (f->type == EXP_SUMMARY && nlen == 8 && memcmp(name, "quantile", 8) == 0)
            sname = "quantile";
        else if (f->type == EXP_HISTOGRAM && nlen == 2 && memcmp(name, "le", 2) == 0)
            sname = "le";
        skip_blanks(ps);
        if (ps->p == ps->e)
            return ps->terminated ? perr(ps, "expected '=' after label name, found '\\n'")
                                  : eof_error(ps);
        if (*ps->p != '=')
            return perr(ps, "expected '=' after label name, found %s", Q(ps->p, 1));
        ps->p++;
        skip_blanks(ps);
        if (ps->p == ps->e)
            return ps->terminated ? perr(ps, "expected '\"' at start of label value, found '\\n'")
                                  : eof_error(ps);
        if (*ps->p != '"')
            return perr(ps, "expected '\"' at start of label value, found %s", Q(ps->p, 1));
        ps->p++;

        size_t noff = ps->scratch.len;
        cn_buf_append(&ps->scratch, name, nlen);
        cn_buf_putc(&ps->scratch, '\0');
        if (ps->scratch.err)
            return nomem(ps);
        size_t voff = ps->scratch.len;
        for (;;) {
            const char *run = ps->p;
            while (ps->p < ps->e && *ps->p != '"' && *ps->p != '\\' && *ps->p != '\0')
                ps->p++;
            cn_buf_append(&ps->scratch, run, (size_t)(ps->p - run));
            if (ps->p == ps->e) {
                if (!ps->terminated)
                    return eof_error(ps);
                return perr(ps, "label value %s contains unescaped new-line",
                            Q(ps->scratch.data + voff, ps->scratch.len - voff));
            }
            char c = *ps->p++;
            if (c == '"')
                break;
            if (c == '\\') {
                if (ps->p == ps->e)
                    return ps->terminated ? perr(ps, "invalid escape sequence '\\' at end of line")
                                          : eof_error(ps);
                char x = *ps->p++;
                if (x == 'n')
                    c = '\n';
                else if (x == '"' || x == '\\')
                    c = x;
                else
                    return bad_escape(ps, x);
            } else if (c == '\0') {
                return perr(ps, "label value for metric %s contains a NUL byte", QS(f->name));
            }
            cn_buf_putc(&ps->scratch, c);
        }
        if (ps->scratch.err)
            return nomem(ps);
        size_t vlen = ps->scratch.len - voff;
        const char *value = ps->scratch.data + voff;
        if (!valid_utf8((const unsigned char *)value, vlen))
            return perr(ps, "invalid label value %s: not valid UTF-8", Q(value, vlen));
        if (sname) {
            if (!parse_float(value, vlen, special))
                return perr(ps, "expected float as value for '%s' label, got %s", sname,
                            Q(value, vlen));
        } else {
            cn_buf_putc(&ps->scratch, '\0');
            if (ps->scratch.err)
                return nomem(ps);
            value = ps->scratch.data + voff; /* the buffer may have moved */
            if (ps->nlabels == ps->caplabels) {
                uint32_t cap = ps->caplabels ? ps->caplabels * 2 : 16;
                struct plabel *l = cn_realloc(ps->labels, cap * sizeof(*l));
                if (!l)
                    return nomem(ps);
                ps->labels = l;
                ps->caplabels = cap;
            }
            ps->labels[ps->nlabels++] = (struct plabel){.name = noff, .value = voff};
        }
        skip_blanks(ps);
        if (ps->p == ps->e) {
            if (!ps->terminated)
                return eof_error(ps);
            return perr(ps, "unexpected end of label value %s", Q(value, vlen));
        }
        char sep = *ps->p;
        if (sep != ',' && sep != '}')
            return perr(ps, "unexpected end of label value %s", Q(value, vlen));
        if (sname)
            ps->scratch.len = noff; /* quantile/le: not a label of the series */
        ps->p++;
        if (sep == '}') {
            skip_blanks(ps);
            return 0;
        }
    }
}

static int parse_sample(struct parser *ps)
{
    const char *name = ps->p;
    if (!metric_start(*ps->p))
        return perr(ps, "invalid metric name");
    while (ps->p < ps->e && metric_cont(*ps->p))
        ps->p++;
    if (ps->p == ps->e && !ps->terminated)
        return eof_error(ps);
    int suffix;
    long fi = fam_resolve(ps, name, (size_t)(ps->p - name), &suffix);
    if (fi < 0)
        return nomem(ps);
    struct pfam *f = &ps->fams[fi];
    if (!f->typed) {
        f->typed = true;
        f->type = EXP_UNTYPED;
    }
    skip_blanks(ps);

    double special = NAN;
    int rc;
    ps->nlabels = 0;
    cn_buf_reset(&ps->scratch);
    if (ps->p < ps->e && *ps->p == '{') {
        ps->p++;
        if ((rc = parse_labels(ps, f, &special)))
            return rc;
    }

    const char *v = ps->p;
    while (ps->p < ps->e && !blank(*ps->p))
        ps->p++;
    if (ps->p == ps->e && !ps->terminated)
        return eof_error(ps);
    double value;
    if (!parse_float(v, (size_t)(ps->p - v), &value))
        return perr(ps, "expected float as value, got %s", Q(v, (size_t)(ps->p - v)));
    int64_t ts = 0;
    if (ps->p < ps->e) {
        skip_blanks(ps);
        const char *t = ps->p;
        while (ps->p < ps->e && !blank(*ps->p))
            ps->p++;
        if (ps->p == ps->e && !ps->terminated)
            return eof_error(ps);
        if (!parse_int64(t, (size_t)(ps->p - t), &ts))
            return perr(ps, "expected integer as timestamp, got %s", Q(t, (size_t)(ps->p - t)));
        if (ps->p < ps->e) {
            if (!ps->terminated)
                return eof_error(ps);
            return perr(ps, "spurious string after timestamp: %s",
                        Q(ps->p, (size_t)(ps->e - ps->p)));
        }
    }

    /* Resolve the labels to pointers, sorted by name, and refuse duplicates. */
    uint32_t n = ps->nlabels;
    if (n > ps->capsorted) {
        struct exp_label *s = cn_realloc(ps->sorted, n * sizeof(*s));
        if (!s)
            return nomem(ps);
        ps->sorted = s;
        ps->capsorted = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        ps->sorted[i].name = ps->scratch.data + ps->labels[i].name;
        ps->sorted[i].value = ps->scratch.data + ps->labels[i].value;
    }
    if (n > 1) {
        qsort(ps->sorted, n, sizeof(*ps->sorted), cmp_label);
        for (uint32_t i = 1; i < n; i++)
            if (strcmp(ps->sorted[i - 1].name, ps->sorted[i].name) == 0)
                return perr(ps, "duplicate label names for metric %s", QS(f->name));
    }

    if (!fam_builder(ps, f))
        return nomem(ps);
    if (f->type != EXP_SUMMARY && f->type != EXP_HISTOGRAM) {
        const char *names[64], *values[64];
        const char **pn = names, **pv = values;
        if (n > 64) {
            pn = cn_malloc(2 * n * sizeof(*pn));
            if (!pn)
                return nomem(ps);
            pv = pn + n;
        }
        for (uint32_t i = 0; i < n; i++) {
            pn[i] = ps->sorted[i].name;
            pv[i] = ps->sorted[i].value;
        }
        struct exp_series *s = exp_addv(ps->b, f->f, value, (int)n, pn, pv);
        if (pn != names)
            free(pn);
        if (!s)
            return nomem(ps);
        if (ts)
            s->timestamp_ms = ts;
        return 0;
    }
    struct pgroup *g = group_get(ps, (uint32_t)fi, n);
    if (!g)
        return nomem(ps);
    if (ts)
        g->ts = ts;
    if (suffix == SUFFIX_COUNT)
        g->count = value;
    else if (suffix == SUFFIX_SUM)
        g->sum = value;
    else if (!isnan(special) && group_add_bucket(ps, g, special, value))
        return nomem(ps);
    return 0;
}

static int parse_line(struct parser *ps)
{
    skip_blanks(ps);
    if (ps->p == ps->e)
        return 0; /* blank line, also at the end of the input */
    if (*ps->p == '#') {
        ps->p++;
        return parse_comment(ps);
    }
    return parse_sample(ps);
}

int exp_parse_text(const char *data, size_t len, struct exp_builder *b, struct exp_parse_error *err)
{
    struct exp_parse_error dummy;
    struct parser ps = {.b = b, .err = err ? err : &dummy};
    ps.err->line = 0;
    ps.err->msg[0] = '\0';
    cn_buf_init(&ps.scratch);
    cn_buf_init(&ps.key);
    ps.arena = cn_arena_create(16384);
    int rc = ps.arena ? 0 : nomem(&ps);
    const char *d = data, *end = data + len;
    while (!rc && d < end) {
        if (ps.line < INT_MAX)
            ps.line++;
        const char *nl = memchr(d, '\n', (size_t)(end - d));
        ps.terminated = nl != NULL;
        ps.p = d;
        ps.e = nl ? nl : end;
        rc = parse_line(&ps);
        d = nl ? nl + 1 : end;
    }
    if (!rc && groups_flush(&ps))
        rc = nomem(&ps);
    if (!rc && exp_builder_error(b)) {
        rc = exp_builder_error(b);
        if (rc == -ENOMEM)
            nomem(&ps);
        else
            perr(&ps, "the metric builder refused the input (error %d)", rc);
    }
    for (uint32_t i = 0; i < ps.ngroups; i++)
        free(ps.groups[i].b);
    free(ps.groups);
    free(ps.gslots);
    free(ps.fams);
    free(ps.fslots);
    free(ps.labels);
    free(ps.sorted);
    cn_buf_free(&ps.scratch);
    cn_buf_free(&ps.key);
    cn_arena_destroy(ps.arena);
    return rc;
}
