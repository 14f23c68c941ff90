/*
 * `cairn tsdb import openmetrics`: promtool 2.42's `tsdb create-blocks-from
 * openmetrics` (cmd/promtool/backfill.go) on cairn's block writer. Same
 * input, same blocks: the samples, block time ranges, chunk boundaries and
 * the printed block list are promtool's.
 *
 * Reading. A small reader of the OpenMetrics text format, written to accept
 * and refuse exactly what Prometheus' textparse.OpenMetricsParser does: no
 * free comments or blank lines, `# EOF` last, `# UNIT` a suffix of its
 * metric, exemplars only after _total and _bucket, label values valid UTF-8
 * with the escapes \\ \" \n, numbers as Go's strconv.ParseFloat reads them
 * (no hex, no underscores; "NaN" is Go's NaN, bits 0x7ff8000000000001).
 * Timestamps are seconds, kept as int64(seconds * 1000) milliseconds. The
 * exposition parser in exporter/ is for the 0.0.4 text format (timestamps
 * in milliseconds, free comments) and is not used here. Every sample must
 * have a timestamp. Label values holding NUL bytes are refused (Prometheus
 * keeps them; cairn's strings cannot).
 *
 * Blocks. promtool aligns the first block to the block duration (2h, or the
 * largest of 2h, 6h, 18h, ... not above --max-block-duration), and makes
 * one block per range [t, t + duration) up to the last sample, appending
 * each range's samples in file order to a fresh head that commits every
 * 5000 samples. cairn follows the same rules:
 *  - a sample older than the last committed one of its series (in that
 *    range) is an error, as is one at the same time with another value;
 *  - one that is out of order only within the uncommitted batch is dropped
 *    silently by promtool's commit; cairn drops it too and says so on
 *    stderr;
 *  - empty label values are removed, a label name given twice is an error;
 *  - samples before the aligned start (negative times) are skipped;
 *  - chunks are cut where Prometheus' head cuts them (at 120 samples'
 *    predicted end time within a chunk range of twice the block duration,
 *    at the latest after 240 samples), so chunk files match byte for byte.
 *
 * Unlike promtool, which finds out-of-order samples while it writes and
 * leaves the blocks of earlier ranges behind, cairn reads the whole file
 * and checks every range before it writes the first block, so bad input
 * writes nothing; a write error removes the blocks this run made.
 *
 * Memory: every sample of the file is held (24 bytes each, plus each
 * series' labels once), and one block's samples and chunks at a time, as
 * tsdb_block_write() takes a whole block in memory. That is fine for an
 * import tool; a streaming writer would lift it.
 */
#include "agent/tsdb_tools.h"
#include "plugins/plugins.h"
#include "tsdb/tsdb.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define COMMIT_EVERY 5000 /* promtool's maxSamplesInAppender */
#define GO_NAN_BITS 0x7ff8000000000001ULL
#define HOUR_MS 3600000LL

/* ---- numbers as Go reads them --------------------------------------------------------- */

/* Length of a case-insensitive common prefix of s[0..n) and word. */
static size_t prefix_fold(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    while (i < n && word[i] && (s[i] | 0x20) == word[i])
        i++;
    return i;
}

/*
 * textparse's parseFloat: strconv.ParseFloat(s, 64) on a string that holds
 * none of "pP_". 0, or -EINVAL with the reason in err.
 */
static int go_parse_float(const char *s, size_t n, double *out, char *err, size_t errcap)
{
    if (memchr(s, 'p', n) || memchr(s, 'P', n) || memchr(s, '_', n)) {
        snprintf(err, errcap, "unsupported character in float \"%.*s\"", (int)(n > 64 ? 64 : n), s);
        return -EINVAL;
    }
    /* Go's special(): [+-]inf, [+-]infinity, nan (no sign), any case. */
    size_t sign = n && (s[0] == '+' || s[0] == '-');
    if (n - sign == 3 || n - sign == 8) {
        size_t k = prefix_fold(s + sign, n - sign, "infinity");
        if (k == n - sign && (k == 3 || k == 8)) {
            *out = s[0] == '-' ? -INFINITY : INFINITY;
            return 0;
        }
        if (!sign && n == 3 && prefix_fold(s, n, "nan") == 3) {
            uint64_t bits = GO_NAN_BITS;
            memcpy(out, &bits, sizeof(*out));
            return 0;
        }
    }
    /* Decimal: [+-] digits [. digits] [(e|E) [+-] digits], a digit in the
     * mantissa. */
    size_t i = sign, digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e)
            digits = 0;
    }
    if (!digits || i != n) {
        snprintf(err, errcap, "cannot parse \"%.*s\" as a number", (int)(n > 64 ? 64 : n), s);
        return -EINVAL;
    }
    char small[128], *copy = n < sizeof(small) ? small : cn_malloc(n + 1);
    if (!copy) {
        snprintf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    *out = strtod(copy, NULL);
    if (copy != small)
        free(copy);
    if (isinf(*out)) {
        snprintf(err, errcap, "number \"%.*s\" out of range", (int)(n > 64 ? 64 : n), s);
        return -ERANGE;
    }
    return 0;
}

/* int64(seconds * 1000) as Go converts on amd64: truncation, and the
 * minimum int64 for what does not fit. */
static int64_t seconds_to_ms(double s)
{
    double ms = s * 1000;
    if (!(ms >= -9223372036854775808.0 && ms < 9223372036854775808.0))
        return INT64_MIN;
    return (int64_t)ms;
}

/* ---- the OpenMetrics reader ----------------------------------------------------------- */

struct om_label {
    const char *name, *value; /* into the input; value without its quotes */
    size_t nlen, vlen;
};

/* One sample line. Pointers borrow the input. */
struct om_sample {
    const char *text; /* metric name and labels as written */
    size_t tlen;
    size_t nlen; /* the metric name is text[0..nlen) */
    struct om_label *labels;
    size_t nlabels;
    double v;
    bool has_ts;
    int64_t t;
    size_t line;
};

struct om_reader {
    const char *p, *end;
    size_t line; /* of p, from 1: where an error is */
    struct om_label *labels;
    size_t labels_cap;
    char err[512];
};

static bool is_name_start(char c, bool metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

static bool is_name_char(char c, bool metric)
{
    return is_name_start(c, metric) || (c >= '0' && c <= '9');
}

static const char *scan_name(const char *q, const char *eol, bool metric)
{
    if (q == eol || !is_name_start(*q, metric))
        return NULL;
    while (q < eol && is_name_char(*q, metric))
        q++;
    return q;
}

static bool valid_utf8(const char *s, size_t n)
{
    while (n) {
        size_t k = (unsigned char)*s < 0x80 ? 1 : plg_utf8_len(s, n);
        if (!k)
            return false;
        s += k;
        n -= k;
    }
    return true;
}

static int om_fail(struct om_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int om_fail(struct om_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/*
 * A label list after '{' up to and including '}' (series labels, or an
 * exemplar's). Labels go to r->labels when keep. Returns the position after
 * '}' or NULL (r->err set).
 */
static const char *om_labels(struct om_reader *r, const char *q, const char *eol, bool keep,
                             size_t *nout)
{
    size_t n = 0;
    for (bool first = true;; first = false) {
        if (q < eol && *q == '}') {
            *nout = n;
            return q + 1;
        }
        if (!first) {
            if (q == eol || *q != ',') {
                om_fail(r, "expected ',' or '}' after a label");
                return NULL;
            }
            q++;
        }
        const char *name = q;
        if (!(q = scan_name(q, eol, false))) {
            om_fail(r, "expected a label name");
            return NULL;
        }
        size_t nlen = (size_t)(q - name);
        if (q == eol || *q != '=') {
            om_fail(r, "expected '=' after label name %.*s", (int)nlen, name);
            return NULL;
        }
        if (++q == eol || *q != '"') {
            om_fail(r, "expected a quoted value for label %.*s", (int)nlen, name);
            return NULL;
        }
        const char *value = ++q;
        while (q < eol && *q != '"') {
            if (*q == '\0') {
                om_fail(r, "label %.*s: NUL bytes in label values are not supported", (int)nlen,
                        name);
                return NULL;
            }
            /* A backslash escapes the next byte, but never the line's end. */
            q += *q == '\\' && q + 1 < eol ? 2 : 1;
        }
        if (q >= eol) {
            om_fail(r, "label %.*s: unterminated value", (int)nlen, name);
            return NULL;
        }
        if (!valid_utf8(value, (size_t)(q - value))) {
            om_fail(r, "label %.*s: value is not valid UTF-8", (int)nlen, name);
            return NULL;
        }
        if (keep) {
            if (cn_array_grow((void **)&r->labels, &r->labels_cap, n + 1, sizeof(*r->labels), 16)) {
                om_fail(r, "out of memory");
                return NULL;
            }
            r->labels[n] = (struct om_label){name, value, nlen, (size_t)(q - value)};
        }
        n++;
        q++;
    }
}

/* A number token: from q (after its space) to the next space or eol. */
static const char *om_number(struct om_reader *r, const char *q, const char *eol, double *v,
                             const char *what)
{
    const char *e = q;
    while (e < eol && *e != ' ')
        e++;
    if (e == q) {
        om_fail(r, "expected %s", what);
        return NULL;
    }
    char err[160];
    if (go_parse_float(q, (size_t)(e - q), v, err, sizeof(err))) {
        om_fail(r, "%s: %s", what, err);
        return NULL;
    }
    return e;
}

/* An exemplar: after " # {" of a sample line, to eol. */
static int om_exemplar(struct om_reader *r, const struct om_sample *s, const char *q,
                       const char *eol)
{
    size_t nlen = s->nlen, n;
    const char *name = s->text;
    if (!(nlen >= 6 && !memcmp(name + nlen - 6, "_total", 6)) &&
        !(nlen >= 7 && !memcmp(name + nlen - 7, "_bucket", 7)))
        return om_fail(r, "metric name %.*s does not support exemplars", (int)nlen, name);
    if (!(q = om_labels(r, q, eol, false, &n)))
        return -EINVAL;
    double v;
    if (q == eol || *q != ' ')
        return om_fail(r, "expected a value after the exemplar's labels");
    if (!(q = om_number(r, q + 1, eol, &v, "exemplar value")))
        return -EINVAL;
    if (q < eol) {
        if (!(q = om_number(r, q + 1, eol, &v, "exemplar timestamp")))
            return -EINVAL;
        if (isnan(v) || isinf(v))
            return om_fail(r, "invalid exemplar timestamp");
        if (q < eol)
            return om_fail(r, "unexpected text after the exemplar's timestamp");
    }
    return 0;
}

/* A "# HELP|TYPE|UNIT name text" line (q after "# "). */
static int om_meta(struct om_reader *r, const char *q, const char *eol, bool has_nl)
{
    static const char *const types[] = {"counter", "gauge", "histogram", "gaugehistogram",
                                        "summary", "info",  "stateset",  "unknown"};
    char kind = q[0];
    q += 5;
    const char *name = q;
    if (!(q = scan_name(q, eol, true)))
        return om_fail(r, "expected a metric name after # %.4s", name - 5);
    size_t nlen = (size_t)(q - name);
    if (q == eol || *q != ' ' || !has_nl)
        return om_fail(r, "expected text in # %.4s", name - 5);
    const char *text = q + 1;
    size_t tlen = (size_t)(eol - text);
    if (kind == 'T') {
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strlen(types[i]) == tlen && !memcmp(types[i], text, tlen))
                return 0;
        return om_fail(r, "invalid metric type \"%.*s\"", (int)(tlen > 64 ? 64 : tlen), text);
    }
    if (kind == 'H')
        return valid_utf8(text, tlen) ? 0 : om_fail(r, "help text is not valid UTF-8");
    if (tlen &&
        (nlen < tlen + 1 || memcmp(name + nlen - tlen, text, tlen) || name[nlen - tlen - 1] != '_'))
        return om_fail(r, "unit \"%.*s\" is not a suffix of metric %.*s",
                       (int)(tlen > 64 ? 64 : tlen), text, (int)nlen, name);
    return 0;
}

/*
 * The next sample: 1 (in *s), 0 after "# EOF" at the very end of the data,
 * -EINVAL with r->err for anything Prometheus' OpenMetrics parser refuses.
 */
static int om_next(struct om_reader *r, struct om_sample *s)
{
    for (;;) {
        if (r->p == r->end)
            return om_fail(r, "the data does not end with # EOF");
        const char *q = r->p, *nl = memchr(q, '\n', (size_t)(r->end - q));
        const char *eol = nl ? nl : r->end;
        if (*q == '#') {
            if (eol - q < 2 || q[1] != ' ')
                return om_fail(r, "a comment must start with \"# \"");
            q += 2;
            if (eol - q >= 3 && !memcmp(q, "EOF", 3)) {
                q += 3;
                if (q < r->end && *q == '\n')
                    q++;
                if (q != r->end)
                    return om_fail(r, "unexpected data after # EOF");
                r->p = q;
                return 0;
            }
            if (eol - q < 5 || q[4] != ' ' ||
                (memcmp(q, "HELP", 4) && memcmp(q, "TYPE", 4) && memcmp(q, "UNIT", 4)))
                return om_fail(r, "OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF");
            int rc = om_meta(r, q, eol, nl != NULL);
            if (rc)
                return rc;
            r->p = nl + 1;
            r->line++;
            continue;
        }
        const char *start = q;
        if (!(q = scan_name(q, eol, true)))
            return om_fail(r, "expected a metric name, # HELP, # TYPE, # UNIT or # EOF");
        s->text = start;
        s->nlen = (size_t)(q - start);
        s->nlabels = 0;
        if (q < eol && *q == '{' && !(q = om_labels(r, q + 1, eol, true, &s->nlabels)))
            return -EINVAL;
        s->tlen = (size_t)(q - start);
        s->labels = r->labels;
        s->line = r->line;
        if (q == eol || *q != ' ' || q + 1 == eol || q[1] == ' ')
            return om_fail(r, "expected a value after the metric");
        if (!(q = om_number(r, q + 1, eol, &s->v, "value")))
            return -EINVAL;
        s->has_ts = false;
        bool exemplar = eol - q >= 4 && !memcmp(q, " # {", 4);
        if (q < eol && !exemplar) {
            if (q + 1 == eol || q[1] == ' ')
                return om_fail(r, "expected a timestamp or an exemplar after the value");
            double ts;
            if (!(q = om_number(r, q + 1, eol, &ts, "timestamp")))
                return -EINVAL;
            if (isnan(ts) || isinf(ts))
                return om_fail(r, "invalid timestamp");
            s->has_ts = true;
            s->t = seconds_to_ms(ts);
            exemplar = eol - q >= 4 && !memcmp(q, " # {", 4);
            if (q < eol && !exemplar)
                return om_fail(r, "unexpected text after the timestamp");
        }
        if (exemplar) {
            int rc = om_exemplar(r, s, q + 4, eol);
            if (rc)
                return rc;
        }
        if (!nl)
            return om_fail(r, "the data does not end with # EOF");
        r->p = nl + 1;
        r->line++;
        return 1;
    }
}

/* ---- series and samples of the whole file --------------------------------------------- */

struct series {
    struct tsdb_labels labels; /* sorted; strings and array in the arena */
    uint64_t hash;
    const char *dup; /* a label name given twice (the series is refused), or NULL */
};

struct entry {
    uint32_t series;
    uint32_t line; /* saturated at UINT32_MAX */
    int64_t t;
    double v;
};

struct import {
    const char *file;
    struct cn_arena *arena;
    struct series *series;
    size_t nseries, series_cap;
    uint32_t *slots; /* series index + 1, 0 empty; nslots a power of two */
    size_t nslots;
    struct entry *e;
    size_t n, cap;
    int64_t mint, maxt;
    /* scratch for one sample's label set */
    struct tsdb_label *scratch;
    size_t scratch_cap;
    char *strbuf;
    size_t strbuf_cap;
    /* the previous sample's series, for runs of one series */
    const char *last_text;
    size_t last_tlen;
    uint32_t last_series;
};

static void import_free(struct import *im)
{
    cn_arena_destroy(im->arena);
    free(im->series);
    free(im->slots);
    free(im->e);
    free(im->scratch);
    free(im->strbuf);
}

/* Label value with the OpenMetrics escapes \\ \" \n undone (others kept as
 * written, as Prometheus does), into out; returns the length. */
static size_t unescape(const char *v, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\' && i + 1 < n && (v[i + 1] == '\\' || v[i + 1] == '"' || v[i + 1] == 'n')) {
            out[k++] = v[i + 1] == 'n' ? '\n' : v[i + 1];
            i++;
        } else {
            out[k++] = v[i];
        }
    }
    return k;
}

static int cmp_label(const void *a, const void *b)
{
    const struct tsdb_label *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static size_t slot_of(const struct import *im, const struct tsdb_labels *ls, uint64_t hash)
{
    size_t mask = im->nslots - 1, i = (size_t)hash & mask;
    while (im->slots[i]) {
        const struct series *s = &im->series[im->slots[i] - 1];
        if (s->hash == hash && tsdb_labels_cmp(&s->labels, ls) == 0)
            break;
        i = (i + 1) & mask;
    }
    return i;
}

static int rehash(struct import *im)
{
    size_t nslots = im->nslots ? im->nslots * 2 : 1024;
    uint32_t *slots = cn_calloc(nslots, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    free(im->slots);
    im->slots = slots;
    im->nslots = nslots;
    for (size_t i = 0; i < im->nseries; i++)
        im->slots[slot_of(im, &im->series[i].labels, im->series[i].hash)] = (uint32_t)(i + 1);
    return 0;
}

/* The series of a sample as Prometheus' head keys it: __name__ and the
 * labels, empty values removed, sorted by name. Interned; index to *id. */
static int intern(struct import *im, const struct om_sample *s, uint32_t *id)
{
    if (s->tlen == im->last_tlen && im->last_text && !memcmp(s->text, im->last_text, s->tlen)) {
        *id = im->last_series;
        return 0;
    }
    size_t need = s->nlen + 1;
    for (size_t i = 0; i < s->nlabels; i++)
        need += s->labels[i].nlen + s->labels[i].vlen + 2;
    if (cn_array_grow((void **)&im->strbuf, &im->strbuf_cap, need, 1, 256) ||
        cn_array_grow((void **)&im->scratch, &im->scratch_cap, s->nlabels + 1, sizeof(*im->scratch),
                      16))
        return -ENOMEM;
    char *p = im->strbuf;
    size_t n = 0;
    memcpy(p, s->text, s->nlen);
    p[s->nlen] = '\0';
    im->scratch[n++] = (struct tsdb_label){"__name__", p};
    p += s->nlen + 1;
    for (size_t i = 0; i < s->nlabels; i++) {
        const struct om_label *l = &s->labels[i];
        if (!l->vlen)
            continue;
        char *name = p;
        memcpy(name, l->name, l->nlen);
        name[l->nlen] = '\0';
        p += l->nlen + 1;
        char *value = p;
        p += unescape(l->value, l->vlen, value);
        *p++ = '\0';
        im->scratch[n++] = (struct tsdb_label){name, value};
    }
    qsort(im->scratch, n, sizeof(*im->scratch), cmp_label);
    struct tsdb_labels ls = {im->scratch, n};
    uint64_t hash = tsdb_labels_hash(&ls);
    if ((im->nseries + 1) * 2 > im->nslots && rehash(im))
        return -ENOMEM;
    size_t slot = slot_of(im, &ls, hash);
    if (!im->slots[slot]) {
        if (im->nseries >= UINT32_MAX - 1 ||
            cn_array_grow((void **)&im->series, &im->series_cap, im->nseries + 1,
                          sizeof(*im->series), 256))
            return -ENOMEM;
        struct tsdb_label *copy = cn_arena_alloc(im->arena, n * sizeof(*copy));
        if (!copy)
            return -ENOMEM;
        const char *dup = NULL;
        for (size_t i = 0; i < n; i++) {
            copy[i].name = cn_arena_strdup(im->arena, im->scratch[i].name);
            copy[i].value = cn_arena_strdup(im->arena, im->scratch[i].value);
            if (!copy[i].name || !copy[i].value)
                return -ENOMEM;
            if (i && !dup && !strcmp(copy[i].name, copy[i - 1].name))
                dup = copy[i].name;
        }
        im->series[im->nseries] = (struct series){{copy, n}, hash, dup};
        im->slots[slot] = (uint32_t)++im->nseries;
    }
    *id = im->slots[slot] - 1;
    im->last_text = s->text;
    im->last_tlen = s->tlen;
    im->last_series = *id;
    return 0;
}

/* Reads the whole input (promtool's first pass): every sample with its
 * series, and the time range. 1 on bad input (reported), -errno else. */
static int import_read(struct import *im, const char *data, size_t len)
{
    struct om_reader r = {.p = data, .end = data + len, .line = 1};
    struct om_sample s;
    int rc;
    im->mint = INT64_MAX;
    im->maxt = INT64_MIN;
    while ((rc = om_next(&r, &s)) == 1) {
        if (!s.has_ts) {
            fprintf(stderr,
                    "cairn: error: %s:%zu: sample of %.*s has no timestamp (an import "
                    "needs one on every sample)\n",
                    im->file, s.line, (int)(s.tlen > 200 ? 200 : s.tlen), s.text);
            free(r.labels);
            return 1;
        }
        uint32_t id;
        if ((rc = intern(im, &s, &id)))
            break;
        if (im->n >= UINT32_MAX ||
            (rc = cn_array_grow((void **)&im->e, &im->cap, im->n + 1, sizeof(*im->e), 4096))) {
            rc = -ENOMEM;
            break;
        }
        im->e[im->n++] =
            (struct entry){id, s.line > UINT32_MAX ? UINT32_MAX : (uint32_t)s.line, s.t, s.v};
        if (s.t < im->mint)
            im->mint = s.t;
        if (s.t > im->maxt)
            im->maxt = s.t;
    }
    free(r.labels);
    if (rc == -EINVAL) {
        fprintf(stderr, "cairn: error: %s:%zu: %s\n", im->file, r.line, r.err);
        return 1;
    }
    if (rc)
        return rc;
    if (im->n == 0)
        im->mint = im->maxt = 0;
    return 0;
}

/* ---- ranges, appends and blocks ------------------------------------------------------- */

/* A sample's place in the work: its block range and its position in the
 * file. */
struct placed {
    uint64_t range;
    uint32_t pos;
};

static int cmp_placed(const void *a, const void *b)
{
    const struct placed *x = a, *y = b;
    if (x->range != y->range)
        return x->range < y->range ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Writes a series as name{label="value", ...} (values escaped) into out. */
static void series_string(const struct series *s, char *out, size_t cap)
{
    struct cn_buf b;
    cn_buf_init(&b);
    cn_buf_puts(&b, tsdb_labels_get(&s->labels, "__name__"));
    bool first = true;
    for (size_t i = 0; i < s->labels.n; i++) {
        if (!strcmp(s->labels.v[i].name, "__name__"))
            continue;
        cn_buf_printf(&b, "%s%s=\"", first ? "{" : ", ", s->labels.v[i].name);
        for (const char *p = s->labels.v[i].value; *p; p++)
            if (*p == '\n')
                cn_buf_puts(&b, "\\n");
            else {
                if (*p == '"' || *p == '\\')
                    cn_buf_putc(&b, '\\');
                cn_buf_putc(&b, *p);
            }
        cn_buf_putc(&b, '"');
        first = false;
    }
    if (!first)
        cn_buf_putc(&b, '}');
    const char *str = cn_buf_cstr(&b);
    size_t len = strlen(str);
    if (len < cap)
        memcpy(out, str, len + 1);
    else if (cap > 4)
        snprintf(out, cap, "%.*s...", (int)(cap - 4), str);
    cn_buf_free(&b);
}

/* Per-series state of the head of one range, as promtool's appender sees
 * it: the last committed sample (valid when stamp is the range's). */
struct head_state {
    uint32_t *stamp;
    int64_t *last_t;
    uint64_t *last_bits;
    uint8_t *dropped; /* per entry: dropped by a commit */
    size_t ndropped;
};

static uint64_t bits_of(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

/* Commit: appends the batch in order; what is not newer than its series'
 * last sample is dropped, as Prometheus' head does. */
static void commit(struct import *im, struct head_state *h, const uint32_t *batch, size_t n,
                   uint32_t stamp)
{
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &im->e[batch[i]];
        if (h->stamp[e->series] == stamp && e->t <= h->last_t[e->series]) {
            h->dropped[batch[i]] = 1;
            h->ndropped++;
            continue;
        }
        h->stamp[e->series] = stamp;
        h->last_t[e->series] = e->t;
        h->last_bits[e->series] = bits_of(e->v);
    }
}

/* Appends one range's samples (file order) as promtool does; the first
 * sample its appender refuses is an error. 0, or 1 (reported). */
static int check_range(struct import *im, struct head_state *h, const struct placed *pl, size_t n,
                       uint32_t stamp, uint32_t *batch)
{
    size_t nb = 0;
    for (size_t k = 0; k < n; k++) {
        const struct entry *e = &im->e[pl[k].pos];
        const struct series *s = &im->series[e->series];
        char str[512], why[160] = "";
        if (s->dup)
            snprintf(why, sizeof(why), "label name \"%s\" is not unique", s->dup);
        else if (h->stamp[e->series] == stamp && e->t < h->last_t[e->series])
            snprintf(why, sizeof(why),
                     "out of order sample: time %" PRId64 " is before %" PRId64
                     ", the series' last sample",
                     e->t, h->last_t[e->series]);
        else if (h->stamp[e->series] == stamp && e->t == h->last_t[e->series] &&
                 bits_of(e->v) != h->last_bits[e->series])
            snprintf(why, sizeof(why), "duplicate sample for time %" PRId64 " with another value",
                     e->t);
        if (why[0]) {
            series_string(s, str, sizeof(str));
            fprintf(stderr, "cairn: error: %s:%" PRIu32 ": %s: %s\n", im->file, e->line, str, why);
            return 1;
        }
        batch[nb++] = pl[k].pos;
        if (nb == COMMIT_EVERY) {
            commit(im, h, batch, nb, stamp);
            nb = 0;
        }
    }
    commit(im, h, batch, nb, stamp);
    return 0;
}

/* Prometheus' rangeForTimestamp: the end of t's range of width w. */
static int64_t range_end(int64_t t, int64_t w)
{
    return (t / w) * w + w;
}

/* Where Prometheus' head predicts a chunk that started at start and
 * reached cur after a quarter of its samples should end. */
static int64_t chunk_end(int64_t start, int64_t cur, int64_t max)
{
    int64_t n = (max - start) / ((cur - start + 1) * 4);
    return n <= 1 ? max : start + (max - start) / n;
}

struct chunk_rec {
    size_t off, len;
    int64_t mint, maxt;
};

struct block_buf {
    struct cn_buf bytes; /* every chunk of the block */
    struct chunk_rec *chunks;
    size_t nchunks, chunks_cap;
};

static int finish_chunk(struct block_buf *bb, const struct tsdb_xor_enc *enc, int64_t mint,
                        int64_t maxt)
{
    if (cn_array_grow((void **)&bb->chunks, &bb->chunks_cap, bb->nchunks + 1, sizeof(*bb->chunks),
                      64))
        return -ENOMEM;
    size_t len = tsdb_xor_len(enc);
    bb->chunks[bb->nchunks++] = (struct chunk_rec){bb->bytes.len, len, mint, maxt};
    cn_buf_append(&bb->bytes, enc->buf, len);
    return bb->bytes.err;
}

/* Cuts one series' samples into chunks where Prometheus' head would (chunk
 * range w = twice the block duration). */
static int cut_chunks(struct block_buf *bb, const struct tsdb_sample *v, size_t n, int64_t w)
{
    /* Room for 240 samples (Prometheus' cap on a head chunk). */
    uint8_t buf[2 + 2 * TSDB_XOR_SAMPLES_PER_CHUNK * TSDB_XOR_MAX_SAMPLE_BYTES + 1];
    struct tsdb_xor_enc enc = {0};
    int64_t cmin = 0, cmax = 0, next_at = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        bool cut = i == 0;
        if (!cut) {
            if (enc.n == TSDB_XOR_SAMPLES_PER_CHUNK / 4)
                next_at = chunk_end(cmin, cmax, next_at);
            if (v[i].t >= next_at || enc.n >= 2 * TSDB_XOR_SAMPLES_PER_CHUNK) {
                if ((rc = finish_chunk(bb, &enc, cmin, cmax)))
                    break;
                cut = true;
            }
        }
        if (cut) {
            tsdb_xor_init(&enc, buf, sizeof(buf));
            cmin = v[i].t;
            next_at = range_end(cmin, w);
        }
        rc = tsdb_xor_append(&enc, v[i].t, v[i].v);
        cmax = v[i].t;
    }
    if (!rc && n)
        rc = finish_chunk(bb, &enc, cmin, cmax);
    return rc;
}

/* Writes the block of one range: the samples its appends kept, chunked as
 * the head chunks them. The ULID to ulid. 0 or -errno. */
static int write_range(struct import *im, struct head_state *h, const struct placed *pl, size_t n,
                       int64_t bd, const char *dir, uint32_t *local, uint32_t *count,
                       char ulid[TSDB_ULID_LEN + 1])
{
    /* local[] maps a series to its place in this block + 1, which[] back;
     * local[] is all zeros again on return. */
    uint32_t nlocal = 0, *which = cn_calloc(n + 1, sizeof(*which));
    size_t kept = 0;
    if (!which)
        return -ENOMEM;
    for (size_t k = 0; k < n; k++) {
        const struct entry *e = &im->e[pl[k].pos];
        if (h->dropped[pl[k].pos])
            continue;
        if (!local[e->series]) {
            which[nlocal] = e->series;
            local[e->series] = ++nlocal;
            count[nlocal - 1] = 0;
        }
        count[local[e->series] - 1]++;
        kept++;
    }
    size_t *first = cn_calloc(nlocal + 1, sizeof(*first));
    size_t *fill = cn_calloc(nlocal + 1, sizeof(*fill));
    struct tsdb_sample *samples = cn_calloc(kept + 1, sizeof(*samples));
    struct tsdb_block_series *bs = cn_calloc(nlocal + 1, sizeof(*bs));
    struct tsdb_block_chunk *bc = NULL;
    size_t *cfirst = cn_calloc(nlocal + 1, sizeof(*cfirst));
    struct block_buf bb = {.nchunks = 0};
    cn_buf_init(&bb.bytes);
    int rc = first && fill && samples && bs && cfirst ? 0 : -ENOMEM;
    for (uint32_t i = 0; !rc && i < nlocal; i++)
        first[i + 1] = first[i] + count[i];
    for (size_t k = 0; !rc && k < n; k++) {
        const struct entry *e = &im->e[pl[k].pos];
        if (h->dropped[pl[k].pos])
            continue;
        uint32_t l = local[e->series] - 1;
        samples[first[l] + fill[l]++] = (struct tsdb_sample){e->t, e->v};
    }
    for (uint32_t i = 0; !rc && i < nlocal; i++) {
        cfirst[i] = bb.nchunks;
        rc = cut_chunks(&bb, samples + first[i], count[i], 2 * bd);
    }
    if (!rc && !(bc = cn_calloc(bb.nchunks + 1, sizeof(*bc))))
        rc = -ENOMEM;
    for (size_t c = 0; !rc && c < bb.nchunks; c++)
        bc[c] = (struct tsdb_block_chunk){bb.chunks[c].mint, bb.chunks[c].maxt,
                                          (const uint8_t *)bb.bytes.data + bb.chunks[c].off,
                                          bb.chunks[c].len};
    for (uint32_t i = 0; !rc && i < nlocal; i++) {
        size_t end = i + 1 < nlocal ? cfirst[i + 1] : bb.nchunks;
        bs[i] = (struct tsdb_block_series){.labels = im->series[which[i]].labels,
                                           .chunks = bc + cfirst[i],
                                           .nchunks = end - cfirst[i]};
    }
    if (!rc)
        rc = tsdb_block_write(dir, bs, nlocal, ulid);
    for (uint32_t i = 0; i < nlocal; i++)
        local[which[i]] = 0;
    free(first);
    free(fill);
    free(samples);
    free(bs);
    free(bc);
    free(cfirst);
    free(which);
    free(bb.chunks);
    cn_buf_free(&bb.bytes);
    return rc;
}

/* ---- the block list, as promtool prints it -------------------------------------------- */

/* One call of promtool's printBlocks for one block: a tabwriter of its own,
 * the header row only the first time. */
static void print_block(const char *dir, const char *ulid, bool header, bool human)
{
    char path[4096], err[512], cells[2][8][64];
    struct tsdb_block_meta m;
    snprintf(path, sizeof(path), "%s/%s", dir, ulid);
    if (tsdb_meta_read(path, &m, err, sizeof(err))) {
        fprintf(stderr, "cairn: error: block %s: %s\n", path, err);
        return;
    }
    agent_tsdb_block_row(NULL, 0, human, cells[0]);
    agent_tsdb_block_row(&m, cn_disk_usage(path), human, cells[1]);
    tsdb_meta_free(&m);
    agent_tsdb_print_rows(header ? cells : cells + 1, header ? 2 : 1);
    fflush(stdout);
}

/* ---- the command ---------------------------------------------------------------------- */

/* promtool's getCompatibleBlockDuration: 2h, or the largest of 2h * 3^i
 * (i < 10) not above max. */
static int64_t block_duration(int64_t max)
{
    int64_t bd = 2 * HOUR_MS;
    if (max > bd) {
        int64_t r = bd;
        for (int i = 1; i < 10 && r * 3 <= max; i++)
            r *= 3;
        bd = r;
    }
    return bd;
}

/* Go's time.ParseDuration, to milliseconds (truncated, as promtool divides
 * by time.Millisecond): [+-] then number-unit pairs ("90m", "1.5h",
 * "1h30m"), or "0". 0 or -EINVAL. */
static int go_parse_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1},   {"us", 1e3}, {"\u00b5s", 1e3}, {"\u03bcs", 1e3},
                 {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},      {"h", 3600e9}};
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (!strcmp(p, "0")) {
        *ms = 0;
        return 0;
    }
    if (!*p)
        return -EINVAL;
    double total = 0;
    while (*p) {
        double v = 0, scale = 1;
        bool digits = false;
        for (; *p >= '0' && *p <= '9'; p++, digits = true)
            v = v * 10 + (*p - '0');
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
                v = v * 10 + (*p - '0'), scale *= 10;
        size_t ulen = 0;
        while (p[ulen] && p[ulen] != '.' && !(p[ulen] >= '0' && p[ulen] <= '9'))
            ulen++;
        int u = -1;
        for (int i = 0; i < 8 && digits; i++)
            if (strlen(units[i].unit) == ulen && !strncmp(p, units[i].unit, ulen))
                u = i;
        if (u < 0)
            return -EINVAL;
        p += ulen;
        total += v / scale * units[u].ns;
    }
    if (total >= 9223372036854775807.0)
        return -EINVAL;
    int64_t ns = (int64_t)total;
    *ms = (neg ? -ns : ns) / 1000000;
    return 0;
}

/* Maps a whole file read-only. */
static int map_file(const char *path, const char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = fstat(fd, &st) ? -errno : 0;
    if (!rc && st.st_size == 0)
        rc = -ENODATA;
    void *p = MAP_FAILED;
    if (!rc && (p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        rc = -errno;
    close(fd);
    if (rc)
        return rc;
    *data = p;
    *len = (size_t)st.st_size;
    return 0;
}

static int mkdir_all(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0777) && errno != EEXIST)
                return -errno;
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st))
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Checks every range, then writes one block per range. 0, or 1 (reported). */
static int import_blocks(struct import *im, const char *dir, int64_t bd, bool human, bool quiet)
{
    int64_t start = bd * (im->mint / bd);
    struct placed *pl = cn_calloc(im->n + 1, sizeof(*pl));
    struct head_state h = {
        .stamp = cn_calloc(im->nseries + 1, sizeof(uint32_t)),
        .last_t = cn_calloc(im->nseries + 1, sizeof(int64_t)),
        .last_bits = cn_calloc(im->nseries + 1, sizeof(uint64_t)),
        .dropped = cn_calloc(im->n + 1, 1),
    };
    uint32_t *batch = cn_calloc(COMMIT_EVERY, sizeof(*batch));
    uint32_t *local = cn_calloc(im->nseries + 1, sizeof(*local));
    uint32_t *count = cn_calloc(im->nseries + 1, sizeof(*count));
    char(*written)[TSDB_ULID_LEN + 1] = NULL;
    size_t nwritten = 0, wcap = 0, np = 0;
    int status = 0, rc = 0;
    if (!pl || !h.stamp || !h.last_t || !h.last_bits || !h.dropped || !batch || !local || !count)
        rc = -ENOMEM;
    /* Samples before the aligned start belong to no range (promtool skips
     * them); the others sorted by range, in file order within one. */
    for (size_t i = 0; !rc && i < im->n; i++)
        if (im->e[i].t >= start)
            pl[np++] = (struct placed){((uint64_t)im->e[i].t - (uint64_t)start) / (uint64_t)bd,
                                       (uint32_t)i};
    if (!rc && np > 1)
        qsort(pl, np, sizeof(*pl), cmp_placed);
    uint32_t stamp = 0;
    for (size_t a = 0, b; !rc && !status && a < np; a = b) {
        for (b = a + 1; b < np && pl[b].range == pl[a].range; b++)
            ;
        status = check_range(im, &h, pl + a, b - a, ++stamp, batch);
    }
    if (!rc && !status && h.ndropped)
        fprintf(stderr,
                "cairn: warning: %zu sample(s) dropped: out of order or repeated within "
                "one batch of %d appends, as promtool drops them\n",
                h.ndropped, COMMIT_EVERY);
    for (size_t a = 0, b; !rc && !status && a < np; a = b) {
        for (b = a + 1; b < np && pl[b].range == pl[a].range; b++)
            ;
        if ((rc = cn_array_grow((void **)&written, &wcap, nwritten + 1, sizeof(*written), 8)))
            break;
        if ((rc = write_range(im, &h, pl + a, b - a, bd, dir, local, count, written[nwritten])))
            break;
        if (!quiet)
            print_block(dir, written[nwritten], nwritten == 0, human);
        nwritten++;
    }
    if (rc) {
        fprintf(stderr, "cairn: error: writing blocks to %s: %s\n", dir, strerror(-rc));
        for (size_t i = 0; i < nwritten; i++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, written[i]);
            cn_remove_all(path);
        }
        if (nwritten)
            fprintf(stderr, "cairn: error: removed the %zu block(s) written before the error\n",
                    nwritten);
        status = 1;
    }
    free(pl);
    free(h.stamp);
    free(h.last_t);
    free(h.last_bits);
    free(h.dropped);
    free(batch);
    free(local);
    free(count);
    free(written);
    return status;
}

static void import_usage(FILE *out)
{
    fprintf(out, "usage: cairn tsdb import openmetrics [-r|--human-readable] [-q|--quiet]\n"
                 "           [--max-block-duration=DURATION] FILE [DIR]\n");
}

int agent_tsdb_import_main(int argc, char **argv)
{
    bool human = false, quiet = false, format = false;
    int64_t max_ms = 0;
    const char *file = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-r") || !strcmp(a, "--human-readable")) {
            human = true;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            import_usage(stdout);
            return 0;
        } else if (!strncmp(a, "--max-block-duration", 20) && (a[20] == '\0' || a[20] == '=')) {
            const char *val = a[20] == '=' ? a + 21 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val || go_parse_duration(val, &max_ms)) {
                fprintf(stderr, "cairn: error: --max-block-duration: \"%s\" is not a duration\n",
                        val ? val : "");
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "cairn: error: unknown flag %s\n", a);
            import_usage(stderr);
            return EXIT_USAGE;
        } else if (!format) {
            if (strcmp(a, "openmetrics")) {
                fprintf(stderr, "cairn: error: unknown input format \"%s\" (only openmetrics)\n",
                        a);
                return EXIT_USAGE;
            }
            format = true;
        } else if (!file) {
            file = a;
        } else if (!dir) {
            dir = a;
        } else {
            fprintf(stderr, "cairn: error: unexpected argument %s\n", a);
            import_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!format || !file) {
        import_usage(stderr);
        return EXIT_USAGE;
    }
    if (!dir)
        dir = "data/";
    const char *data = NULL;
    size_t len = 0;
    int rc = map_file(file, &data, &len);
    if (rc) {
        fprintf(stderr, "cairn: error: %s: %s\n", file,
                rc == -ENODATA ? "empty file (OpenMetrics input ends with # EOF)" : strerror(-rc));
        return 1;
    }
    if ((rc = mkdir_all(dir))) {
        fprintf(stderr, "cairn: error: creating %s: %s\n", dir, strerror(-rc));
        munmap((void *)data, len);
        return 1;
    }
    struct import im = {.file = file, .arena = cn_arena_create(1 << 16)};
    int status = im.arena ? import_read(&im, data, len) : -ENOMEM;
    if (status < 0) {
        fprintf(stderr, "cairn: error: reading %s: %s\n", file, strerror(-status));
        status = 1;
    }
    if (!status)
        status = import_blocks(&im, dir, block_duration(max_ms), human, quiet);
    import_free(&im);
    munmap((void *)data, len);
    return status;
}

int agent_tsdb_import_read(const char *data, size_t len, size_t *nsamples)
{
    struct import im = {.file = "input", .arena = cn_arena_create(1 << 16)};
    int rc = im.arena ? import_read(&im, data, len) : -ENOMEM;
    *nsamples = im.n;
    import_free(&im);
    return rc;
}
