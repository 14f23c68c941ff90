/*
 * Index v2: the "index" file of a block
 * (../shared/reference/prometheus-tsdb-format/index.md), written the way
 * Prometheus 2.42's tsdb/index Writer lays it out so that, for the same
 * symbols and series, the bytes are identical.
 *
 * Layout details the document leaves open, taken from Prometheus 2.42:
 * the version byte is 2; section lengths exclude the length field and the
 * CRC, and the symbol table's CRC covers its count; each series starts on a
 * 16-byte boundary (its reference is offset / 16) and is framed as
 * uvarint(len) | body | CRC(body); TOC entries for series and postings point
 * at where the section starts before its alignment padding; one label index
 * per label name (4-byte aligned) lists the name's value symbols; postings
 * (4-byte aligned, the first the all-series list under ("", "")) follow in
 * (name, value) order, then the label offset table, the postings offset table
 * and the TOC.
 *
 * Writer. Prometheus re-reads its series section from the file to build the
 * postings; cairn instead keeps one 12-byte (name, value, series) triple per
 * label in memory and sorts them at close, which gives the same lists. Output
 * goes through one buffer; the symbol table's length and count are patched
 * with pwrite once known.
 *
 * Reader. The file is mapped; open validates the fixed tables and copies the
 * symbols and the postings offset table's keys into NUL-terminated strings
 * (a few bytes per symbol), so lookups are binary searches and callers get C
 * strings. Series and postings lists are checked (bounds, CRC) when read.
 */
#include "tsdb/tsdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_LEN 5
#define TOC_LEN (6 * 8 + 4)
#define WBUF (64u << 10)

enum {
    TOC_SYMBOLS,
    TOC_SERIES,
    TOC_LABEL_INDICES,
    TOC_LABEL_TABLE,
    TOC_POSTINGS,
    TOC_POSTINGS_TABLE
};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static size_t put_uvarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_varint(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v << 1;
    if (v < 0)
        u = ~u;
    return put_uvarint(p, u);
}

/* ---- writer
 * ------------------------------------------------------------------------ */

struct triple {
    uint32_t name, value, ref;
};

struct tsdb_index_writer {
    int fd;
    int err;
    int stage; /* 0: symbols, 1: series */
    uint8_t *buf;
    size_t blen;
    uint64_t pos; /* file position of the end of buf */
    uint64_t toc[6];
    char **syms;
    size_t nsyms, symcap;
    struct triple *tr;
    size_t ntr, trcap;
    uint32_t *last; /* the previous series' (name, value) symbol pairs */
    size_t nlast, lastcap;
    bool any_series;
    uint32_t *refs; /* every series, in order: the all-series postings */
    size_t nrefs, refcap;
    uint8_t *sbuf; /* one series entry */
    size_t scap;
};

static int w_flush(struct tsdb_index_writer *w)
{
    size_t off = 0;
    while (off < w->blen) {
        ssize_t k = write(w->fd, w->buf + off, w->blen - off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)k;
    }
    w->blen = 0;
    return 0;
}

static int w_write(struct tsdb_index_writer *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        if (w->blen == WBUF) {
            int rc = w_flush(w);
            if (rc)
                return rc;
        }
        size_t k = WBUF - w->blen < n ? WBUF - w->blen : n;
        memcpy(w->buf + w->blen, b, k);
        w->blen += k;
        w->pos += k;
        b += k;
        n -= k;
    }
    return 0;
}

static int w_pad(struct tsdb_index_writer *w, unsigned align)
{
    static const uint8_t zeros[16];
    size_t k = (align - w->pos % align) % align;
    return w_write(w, zeros, k);
}

static int w_be32(struct tsdb_index_writer *w, uint32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    return w_write(w, b, 4);
}

static int w_uvarint(struct tsdb_index_writer *w, uint64_t v)
{
    uint8_t b[10];
    return w_write(w, b, put_uvarint(b, v));
}

static int w_pwrite(struct tsdb_index_writer *w, const void *p, size_t n, uint64_t at)
{
    int rc = w_flush(w);
    if (rc)
        return rc;
    if (pwrite(w->fd, p, n, (off_t)at) != (ssize_t)n)
        return errno ? -errno : -EIO;
    return 0;
}

int tsdb_index_writer_open(const char *path, struct tsdb_index_writer **out)
{
    struct tsdb_index_writer *w = cn_calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->buf = cn_malloc(WBUF);
    if (!w->buf) {
        free(w);
        return -ENOMEM;
    }
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int rc = -errno;
        free(w->buf);
        free(w);
        return rc;
    }
    uint8_t hdr[HEADER_LEN + 8];
    put_be32(hdr, TSDB_INDEX_MAGIC);
    hdr[4] = TSDB_INDEX_VERSION;
    memset(hdr + HEADER_LEN, 0, 8); /* symbol table length and count, patched later */
    w->toc[TOC_SYMBOLS] = HEADER_LEN;
    w->err = w_write(w, hdr, sizeof(hdr));
    *out = w;
    return 0;
}

int tsdb_index_writer_add_symbol(struct tsdb_index_writer *w, const char *sym)
{
    if (w->err)
        return w->err;
    if (w->stage != 0 || (w->nsyms && strcmp(sym, w->syms[w->nsyms - 1]) <= 0) ||
        w->nsyms == UINT32_MAX)
        return -EINVAL;
    if (w->nsyms == w->symcap) {
        size_t cap = w->symcap ? w->symcap * 2 : 256;
        char **s = cn_realloc(w->syms, cap * sizeof(*s));
        if (!s)
            return w->err = -ENOMEM;
        w->syms = s;
        w->symcap = cap;
    }
    char *c = cn_strdup(sym);
    if (!c)
        return w->err = -ENOMEM;
    w->syms[w->nsyms++] = c;
    size_t len = strlen(sym);
    int rc = w_uvarint(w, len);
    if (!rc)
        rc = w_write(w, sym, len);
    return w->err = rc;
}

static int finish_symbols(struct tsdb_index_writer *w)
{
    uint64_t len = w->pos - w->toc[TOC_SYMBOLS] - 4;
    if (len > UINT32_MAX)
        return -EFBIG;
    uint8_t b[8];
    put_be32(b, (uint32_t)len);
    put_be32(b + 4, (uint32_t)w->nsyms);
    uint32_t crc = tsdb_crc32c(0, b + 4, 4);
    for (size_t i = 0; i < w->nsyms; i++) {
        uint8_t v[10];
        size_t l = strlen(w->syms[i]);
        crc = tsdb_crc32c(crc, v, put_uvarint(v, l));
        crc = tsdb_crc32c(crc, w->syms[i], l);
    }
    int rc = w_be32(w, crc);
    if (!rc)
        rc = w_pwrite(w, b, 8, w->toc[TOC_SYMBOLS]);
    w->toc[TOC_SERIES] = w->pos;
    w->stage = 1;
    return rc;
}

static int symbol_ref(const struct tsdb_index_writer *w, const char *s, uint32_t *ref)
{
    size_t lo = 0, hi = w->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->syms[mid], s);
        if (c == 0) {
            *ref = (uint32_t)mid;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -EINVAL;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    return cn_array_grow(p, cap, need, size, 16);
}

/* Compares symbol pair sequences as labels.Compare compares label sets:
 * symbol numbers are in string order. */
static int cmp_pairs(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return na < nb ? -1 : na > nb;
}

int tsdb_index_writer_add_series(struct tsdb_index_writer *w, const struct tsdb_labels *ls,
                                 const struct tsdb_chunk_meta *chunks, size_t nchunks)
{
    if (w->err)
        return w->err;
    if (w->stage == 0 && (w->err = finish_symbols(w)))
        return w->err;
    if (ls->n == 0)
        return -EINVAL;
    uint32_t *pairs = cn_malloc((2 * ls->n + 1) * sizeof(*pairs));
    if (!pairs)
        return -ENOMEM;
    for (size_t i = 0; i < ls->n; i++) {
        if ((i && strcmp(ls->v[i - 1].name, ls->v[i].name) >= 0) ||
            symbol_ref(w, ls->v[i].name, &pairs[2 * i]) ||
            symbol_ref(w, ls->v[i].value, &pairs[2 * i + 1])) {
            free(pairs);
            return -EINVAL;
        }
    }
    if (w->any_series && cmp_pairs(pairs, 2 * ls->n, w->last, w->nlast) <= 0) {
        free(pairs);
        return -EINVAL;
    }
    for (size_t i = 1; i < nchunks; i++)
        if (chunks[i].mint < chunks[i - 1].maxt) {
            free(pairs);
            return -EINVAL;
        }
    /* Worst case: count + 2 uvarint32 per label + count + 30 bytes a chunk. */
    size_t need = 10 + 10 * ls->n + 10 + 30 * nchunks + 4;
    int rc = grow((void **)&w->sbuf, &w->scap, need, 1);
    if (!rc)
        rc = grow((void **)&w->tr, &w->trcap, w->ntr + ls->n, sizeof(*w->tr));
    if (!rc)
        rc = grow((void **)&w->refs, &w->refcap, w->nrefs + 1, sizeof(*w->refs));
    if (rc) {
        free(pairs);
        return rc;
    }
    if ((rc = w_pad(w, 16))) {
        free(pairs);
        return w->err = rc;
    }
    if (w->pos / 16 > UINT32_MAX) {
        free(pairs);
        return w->err = -EFBIG;
    }
    uint32_t ref = (uint32_t)(w->pos / 16);
    w->refs[w->nrefs++] = ref;
    uint8_t *b = w->sbuf;
    size_t n = put_uvarint(b, ls->n);
    for (size_t i = 0; i < ls->n; i++) {
        n += put_uvarint(b + n, pairs[2 * i]);
        n += put_uvarint(b + n, pairs[2 * i + 1]);
        w->tr[w->ntr++] = (struct triple){pairs[2 * i], pairs[2 * i + 1], ref};
    }
    n += put_uvarint(b + n, nchunks);
    if (nchunks) {
        n += put_varint(b + n, chunks[0].mint);
        n += put_uvarint(b + n, (uint64_t)(chunks[0].maxt - chunks[0].mint));
        n += put_uvarint(b + n, chunks[0].ref);
        for (size_t i = 1; i < nchunks; i++) {
            n += put_uvarint(b + n, (uint64_t)(chunks[i].mint - chunks[i - 1].maxt));
            n += put_uvarint(b + n, (uint64_t)(chunks[i].maxt - chunks[i].mint));
            n += put_varint(b + n, (int64_t)(chunks[i].ref - chunks[i - 1].ref));
        }
    }
    uint8_t lenbuf[10];
    put_be32(b + n, tsdb_crc32c(0, b, n));
    rc = w_write(w, lenbuf, put_uvarint(lenbuf, n));
    if (!rc)
        rc = w_write(w, b, n + 4);
    free(w->last);
    w->last = pairs;
    w->nlast = 2 * ls->n;
    w->any_series = true;
    return w->err = rc;
}

static int cmp_triple(const void *pa, const void *pb)
{
    const struct triple *a = pa, *b = pb;
    if (a->name != b->name)
        return a->name < b->name ? -1 : 1;
    if (a->value != b->value)
        return a->value < b->value ? -1 : 1;
    return (a->ref > b->ref) - (a->ref < b->ref);
}

/* Writes a 4-byte-aligned section of BE32 words: len, then words, CRC.
 * Returns its start in *at. */
static int write_words(struct tsdb_index_writer *w, const uint32_t *hdr, size_t nhdr,
                       const uint32_t *words, size_t stride, size_t n, uint64_t *at)
{
    int rc = w_pad(w, 4);
    if (rc)
        return rc;
    *at = w->pos;
    uint64_t len = 4 * (nhdr + n);
    if (len > UINT32_MAX)
        return -EFBIG;
    if ((rc = w_be32(w, (uint32_t)len)))
        return rc;
    uint32_t crc = 0;
    for (size_t i = 0; i < nhdr + n && !rc; i++) {
        uint8_t b[4];
        put_be32(b, i < nhdr ? hdr[i] : words[(i - nhdr) * stride]);
        crc = tsdb_crc32c(crc, b, 4);
        rc = w_write(w, b, 4);
    }
    return rc ? rc : w_be32(w, crc);
}

/* Writes a table of (n = keys, key strings..., uvarint offset) entries. */
struct table {
    uint8_t *buf;
    size_t len, cap;
    uint32_t count;
};

static int table_add(struct table *t, const char *k1, const char *k2, uint64_t off)
{
    size_t l1 = strlen(k1), l2 = k2 ? strlen(k2) : 0;
    int rc = grow((void **)&t->buf, &t->cap, t->len + 40 + l1 + l2, 1);
    if (rc)
        return rc;
    t->len += put_uvarint(t->buf + t->len, k2 ? 2 : 1);
    t->len += put_uvarint(t->buf + t->len, l1);
    memcpy(t->buf + t->len, k1, l1);
    t->len += l1;
    if (k2) {
        t->len += put_uvarint(t->buf + t->len, l2);
        memcpy(t->buf + t->len, k2, l2);
        t->len += l2;
    }
    t->len += put_uvarint(t->buf + t->len, off);
    t->count++;
    return 0;
}

static int table_write(struct tsdb_index_writer *w, const struct table *t)
{
    if (t->len + 4 > UINT32_MAX)
        return -EFBIG;
    uint8_t b[4];
    put_be32(b, t->count);
    uint32_t crc = tsdb_crc32c(tsdb_crc32c(0, b, 4), t->buf, t->len);
    int rc = w_be32(w, (uint32_t)(t->len + 4));
    if (!rc)
        rc = w_write(w, b, 4);
    if (!rc && t->len)
        rc = w_write(w, t->buf, t->len);
    return rc ? rc : w_be32(w, crc);
}

static int finish(struct tsdb_index_writer *w)
{
    int rc;
    if (w->stage == 0 && (rc = finish_symbols(w)))
        return rc;
    w->toc[TOC_LABEL_INDICES] = w->pos;
    if (w->ntr)
        qsort(w->tr, w->ntr, sizeof(*w->tr), cmp_triple);

    /* Label indices: per name, its distinct value symbols. */
    struct table lt = {0}, pt = {0};
    uint32_t *vals = cn_malloc((w->ntr + 1) * sizeof(*vals));
    if (!vals)
        return -ENOMEM;
    rc = 0;
    for (size_t i = 0; i < w->ntr && !rc;) {
        size_t nv = 0, j = i;
        for (; j < w->ntr && w->tr[j].name == w->tr[i].name; j++)
            if (j == i || w->tr[j].value != w->tr[j - 1].value)
                vals[nv++] = w->tr[j].value;
        uint64_t at;
        uint32_t hdr[2] = {1, (uint32_t)nv};
        rc = write_words(w, hdr, 2, vals, 1, nv, &at);
        if (!rc)
            rc = table_add(&lt, w->syms[w->tr[i].name], NULL, at);
        i = j;
    }

    /* Postings: all series first, then per (name, value). */
    w->toc[TOC_POSTINGS] = w->pos;
    if (!rc) {
        uint64_t at;
        uint32_t hdr = (uint32_t)w->nrefs;
        rc = w_pad(w, 4);
        if (!rc)
            rc = write_words(w, &hdr, 1, w->refs, 1, w->nrefs, &at);
        if (!rc)
            rc = table_add(&pt, "", "", at);
    }
    for (size_t i = 0; i < w->ntr && !rc;) {
        size_t j = i;
        while (j < w->ntr && w->tr[j].name == w->tr[i].name && w->tr[j].value == w->tr[i].value)
            j++;
        uint64_t at;
        uint32_t hdr = (uint32_t)(j - i);
        rc = write_words(w, &hdr, 1, &w->tr[i].ref, 3, j - i, &at);
        if (!rc)
            rc = table_add(&pt, w->syms[w->tr[i].name], w->syms[w->tr[i].value], at);
        i = j;
    }
    if (!rc) {
        w->toc[TOC_LABEL_TABLE] = w->pos;
        rc = table_write(w, &lt);
    }
    if (!rc) {
        w->toc[TOC_POSTINGS_TABLE] = w->pos;
        rc = table_write(w, &pt);
    }
    if (!rc) {
        uint8_t toc[TOC_LEN];
        for (int i = 0; i < 6; i++) {
            put_be32(toc + 8 * i, (uint32_t)(w->toc[i] >> 32));
            put_be32(toc + 8 * i + 4, (uint32_t)w->toc[i]);
        }
        put_be32(toc + 48, tsdb_crc32c(0, toc, 48));
        rc = w_write(w, toc, TOC_LEN);
    }
    if (!rc)
        rc = w_flush(w);
    if (!rc && fsync(w->fd))
        rc = -errno;
    free(vals);
    free(lt.buf);
    free(pt.buf);
    return rc;
}

int tsdb_index_writer_close(struct tsdb_index_writer *w)
{
    if (!w)
        return 0;
    int rc = w->err ? w->err : finish(w);
    if (close(w->fd) && !rc)
        rc = -errno;
    for (size_t i = 0; i < w->nsyms; i++)
        free(w->syms[i]);
    free(w->syms);
    free(w->tr);
    free(w->refs);
    free(w->last);
    free(w->sbuf);
    free(w->buf);
    free(w);
    return rc;
}

/* ---- reader
 * ------------------------------------------------------------------------ */

struct tsdb_index_reader {
    const uint8_t *b;
    size_t len;
    bool mapped;
    uint64_t toc[6];
    uint32_t nsyms;
    const char **syms;
    char *symarena;
    size_t npt; /* postings offset table entries */
    const char **pt_name, **pt_value;
    uint64_t *pt_off;
    char *ptarena;
    const char **names; /* distinct non-empty names */
    size_t nnames;
};

static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* A bounded decoder; the first error sticks. */
struct dec {
    const uint8_t *p, *end;
    bool bad;
};

static uint64_t d_uvarint(struct dec *d)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (d->p >= d->end) {
            d->bad = true;
            return 0;
        }
        uint8_t c = *d->p++;
        if (shift == 63 && c > 1) {
            d->bad = true;
            return 0;
        }
        v |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80)
            return v;
    }
    d->bad = true;
    return 0;
}

static int64_t d_varint(struct dec *d)
{
    uint64_t u = d_uvarint(d);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static const uint8_t *d_bytes(struct dec *d, size_t n)
{
    if (d->bad || (size_t)(d->end - d->p) < n) {
        d->bad = true;
        return NULL;
    }
    const uint8_t *p = d->p;
    d->p += n;
    return p;
}

/* Checks a section "len(4) body CRC(4)" at off; the body goes to body and blen.
 */
static int section(const struct tsdb_index_reader *r, uint64_t off, const char *what,
                   const uint8_t **body, size_t *blen, char *err, size_t cap)
{
    if (off < HEADER_LEN || off > r->len - TOC_LEN || r->len - TOC_LEN - off < 4)
        return fail(err, cap, -EINVAL, "index: %s at %llu outside the file", what,
                    (unsigned long long)off);
    uint32_t l = get_be32(r->b + off);
    if ((uint64_t)l + 8 > r->len - TOC_LEN - off)
        return fail(err, cap, -EINVAL, "index: %s at %llu truncated (length %u)", what,
                    (unsigned long long)off, l);
    const uint8_t *p = r->b + off + 4;
    if (tsdb_crc32c(0, p, l) != get_be32(p + l))
        return fail(err, cap, -EBADMSG, "index: %s at %llu: checksum mismatch", what,
                    (unsigned long long)off);
    *body = p;
    *blen = l;
    return 0;
}

static int strcmp_len(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

static int load_symbols(struct tsdb_index_reader *r, char *err, size_t cap)
{
    const uint8_t *p;
    size_t l;
    int rc = section(r, r->toc[TOC_SYMBOLS], "symbol table", &p, &l, err, cap);
    if (rc)
        return rc;
    if (l < 4)
        return fail(err, cap, -EINVAL, "index: symbol table too short");
    uint32_t n = get_be32(p);
    if (n > l - 4)
        return fail(err, cap, -EINVAL, "index: symbol count %u exceeds the table", n);
    r->syms = cn_calloc(n ? n : 1, sizeof(*r->syms));
    r->symarena = cn_malloc(l - 4 + n + 1);
    if (!r->syms || !r->symarena)
        return -ENOMEM;
    struct dec d = {p + 4, p + l, false};
    char *a = r->symarena;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t sl = d_uvarint(&d);
        const uint8_t *s = d_bytes(&d, sl);
        if (!s)
            return fail(err, cap, -EINVAL, "index: symbol %u truncated", i);
        memcpy(a, s, sl);
        a[sl] = '\0';
        r->syms[i] = a;
        a += sl + 1;
    }
    if (d.p != d.end)
        return fail(err, cap, -EINVAL, "index: %zu bytes after the last symbol",
                    (size_t)(d.end - d.p));
    r->nsyms = n;
    return 0;
}

static int load_postings_table(struct tsdb_index_reader *r, char *err, size_t cap)
{
    const uint8_t *p;
    size_t l;
    int rc = section(r, r->toc[TOC_POSTINGS_TABLE], "postings offset table", &p, &l, err, cap);
    if (rc)
        return rc;
    if (l < 4)
        return fail(err, cap, -EINVAL, "index: postings offset table too short");
    uint32_t n = get_be32(p);
    if (n > (l - 4) / 4) /* an entry takes at least 4 bytes */
        return fail(err, cap, -EINVAL, "index: postings count %u exceeds the table", n);
    size_t m = n ? n : 1;
    r->pt_name = cn_calloc(m, sizeof(*r->pt_name));
    r->pt_value = cn_calloc(m, sizeof(*r->pt_value));
    r->pt_off = cn_calloc(m, sizeof(*r->pt_off));
    r->names = cn_calloc(m, sizeof(*r->names));
    r->ptarena = cn_malloc(l + 2 * (size_t)n);
    if (!r->pt_name || !r->pt_value || !r->pt_off || !r->names || !r->ptarena)
        return -ENOMEM;
    struct dec d = {p + 4, p + l, false};
    char *a = r->ptarena;
    const uint8_t *pn = NULL, *pv = NULL;
    size_t pnl = 0, pvl = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t keys = d_uvarint(&d);
        uint64_t nl = d_uvarint(&d);
        const uint8_t *name = d_bytes(&d, nl);
        uint64_t vl = d_uvarint(&d);
        const uint8_t *value = d_bytes(&d, vl);
        uint64_t off = d_uvarint(&d);
        if (d.bad || keys != 2)
            return fail(err, cap, -EINVAL, "index: postings offset entry %u malformed", i);
        if (off >= r->len)
            return fail(err, cap, -EINVAL, "index: postings offset %llu outside the file",
                        (unsigned long long)off);
        if (i) {
            int c = strcmp_len(pn, pnl, name, nl);
            if (c > 0 || (c == 0 && strcmp_len(pv, pvl, value, vl) >= 0))
                return fail(err, cap, -EINVAL, "index: postings offset table not sorted at %u", i);
        }
        pn = name, pnl = nl, pv = value, pvl = vl;
        if (memchr(name, 0, nl) || memchr(value, 0, vl))
            return fail(err, cap, -EINVAL, "index: NUL byte in label %u", i);
        memcpy(a, name, nl);
        a[nl] = '\0';
        r->pt_name[i] = a;
        a += nl + 1;
        memcpy(a, value, vl);
        a[vl] = '\0';
        r->pt_value[i] = a;
        a += vl + 1;
        r->pt_off[i] = off;
        if (nl && (r->nnames == 0 || strcmp(r->names[r->nnames - 1], r->pt_name[i]) != 0))
            r->names[r->nnames++] = r->pt_name[i];
    }
    if (d.p != d.end)
        return fail(err, cap, -EINVAL, "index: bytes after the postings offset table");
    r->npt = n;
    return 0;
}

int tsdb_index_reader_open_mem(const uint8_t *data, size_t len, struct tsdb_index_reader **out,
                               char *err, size_t cap)
{
    *out = NULL;
    if (len < HEADER_LEN + TOC_LEN)
        return fail(err, cap, -EINVAL, "index: %zu bytes, shorter than header and TOC", len);
    if (get_be32(data) != TSDB_INDEX_MAGIC)
        return fail(err, cap, -EINVAL, "index: bad magic %08x", get_be32(data));
    if (data[4] != TSDB_INDEX_VERSION)
        return fail(err, cap, -EINVAL, "index: unsupported version %u", data[4]);
    const uint8_t *toc = data + len - TOC_LEN;
    if (tsdb_crc32c(0, toc, 48) != get_be32(toc + 48))
        return fail(err, cap, -EBADMSG, "index: TOC checksum mismatch");
    struct tsdb_index_reader *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->b = data;
    r->len = len;
    for (int i = 0; i < 6; i++) {
        uint64_t v = get_be64(toc + 8 * i);
        if (v > len - TOC_LEN) {
            tsdb_index_reader_close(r);
            return fail(err, cap, -EINVAL, "index: TOC entry %d (%llu) outside the file", i,
                        (unsigned long long)v);
        }
        r->toc[i] = v;
    }
    int rc = load_symbols(r, err, cap);
    if (!rc)
        rc = load_postings_table(r, err, cap);
    if (!rc && r->toc[TOC_LABEL_TABLE]) {
        const uint8_t *p;
        size_t l;
        rc = section(r, r->toc[TOC_LABEL_TABLE], "label offset table", &p, &l, err, cap);
    }
    if (rc) {
        if (rc == -ENOMEM)
            fail(err, cap, rc, "index: out of memory");
        tsdb_index_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int tsdb_index_reader_open(const char *path, struct tsdb_index_reader **out, char *err, size_t cap)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, cap, -errno, "index: open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        int rc = -errno;
        close(fd);
        return fail(err, cap, rc, "index: stat %s: %s", path, strerror(-rc));
    }
    if (st.st_size < HEADER_LEN + TOC_LEN) {
        close(fd);
        return fail(err, cap, -EINVAL, "index %s: %lld bytes, too short", path,
                    (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int merr = errno;
    close(fd);
    if (m == MAP_FAILED)
        return fail(err, cap, -merr, "index: mmap %s: %s", path, strerror(merr));
    int rc = tsdb_index_reader_open_mem(m, (size_t)st.st_size, out, err, cap);
    if (rc) {
        munmap(m, (size_t)st.st_size);
        return rc;
    }
    (*out)->mapped = true;
    return 0;
}

void tsdb_index_reader_close(struct tsdb_index_reader *r)
{
    if (!r)
        return;
    if (r->mapped)
        munmap((void *)r->b, r->len);
    free(r->syms);
    free(r->symarena);
    free(r->pt_name);
    free(r->pt_value);
    free(r->pt_off);
    free(r->ptarena);
    free(r->names);
    free(r);
}

size_t tsdb_index_symbol_count(const struct tsdb_index_reader *r)
{
    return r->nsyms;
}

const char *tsdb_index_symbol(const struct tsdb_index_reader *r, uint32_t i)
{
    return i < r->nsyms ? r->syms[i] : NULL;
}

void tsdb_index_label_names(const struct tsdb_index_reader *r, const char *const **names, size_t *n)
{
    *names = r->names;
    *n = r->nnames;
}

/* First table entry with name >= `name` (and value >= `value` if given). */
static size_t pt_lower(const struct tsdb_index_reader *r, const char *name, const char *value)
{
    size_t lo = 0, hi = r->npt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->pt_name[mid], name);
        if (c == 0 && value)
            c = strcmp(r->pt_value[mid], value);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void tsdb_index_label_values(const struct tsdb_index_reader *r, const char *name,
                             const char *const **values, size_t *n)
{
    size_t lo = pt_lower(r, name, NULL), hi = lo;
    while (hi < r->npt && strcmp(r->pt_name[hi], name) == 0)
        hi++;
    *values = r->pt_value + lo;
    *n = hi - lo;
    if (!*name) { /* the all-series key is no label */
        *n = 0;
    }
}

/* Reads the postings list at off into a malloc'd array. */
static int postings_at(const struct tsdb_index_reader *r, uint64_t off, uint32_t **refs, size_t *n)
{
    *refs = NULL;
    *n = 0;
    if (off > r->len || r->len - off < 8)
        return -EINVAL;
    uint32_t l = get_be32(r->b + off);
    if ((uint64_t)l + 8 > r->len - off || l < 4 || l % 4)
        return -EINVAL;
    const uint8_t *p = r->b + off + 4;
    if (tsdb_crc32c(0, p, l) != get_be32(p + l))
        return -EBADMSG;
    uint32_t cnt = get_be32(p);
    if ((uint64_t)cnt * 4 + 4 != l)
        return -EINVAL;
    uint32_t *a = cn_malloc((cnt ? cnt : 1) * sizeof(*a));
    if (!a)
        return -ENOMEM;
    for (uint32_t i = 0; i < cnt; i++) {
        a[i] = get_be32(p + 4 + 4 * (size_t)i);
        if (i && a[i] <= a[i - 1]) {
            free(a);
            return -EINVAL;
        }
    }
    *refs = a;
    *n = cnt;
    return 0;
}

int tsdb_index_postings(const struct tsdb_index_reader *r, const char *name, const char *value,
                        uint32_t **refs, size_t *n)
{
    size_t i = pt_lower(r, name, value);
    if (i == r->npt || strcmp(r->pt_name[i], name) || strcmp(r->pt_value[i], value)) {
        *refs = NULL;
        *n = 0;
        return 0;
    }
    return postings_at(r, r->pt_off[i], refs, n);
}

void tsdb_index_series_free(struct tsdb_index_series *s)
{
    if (!s)
        return;
    free(s->labels);
    free(s->chunks);
    memset(s, 0, sizeof(*s));
}

int tsdb_index_series(const struct tsdb_index_reader *r, uint32_t ref,
                      struct tsdb_index_series *out)
{
    out->nlabels = out->nchunks = 0;
    uint64_t off = (uint64_t)ref * 16;
    if (off < HEADER_LEN || off >= r->len - TOC_LEN)
        return -EINVAL;
    struct dec d = {r->b + off, r->b + r->len - TOC_LEN, false};
    uint64_t l = d_uvarint(&d);
    if (d.bad || l > (uint64_t)(d.end - d.p) || d.end - d.p - (ptrdiff_t)l < 4)
        return -EINVAL;
    if (tsdb_crc32c(0, d.p, l) != get_be32(d.p + l))
        return -EBADMSG;
    d.end = d.p + l;
    uint64_t nl = d_uvarint(&d);
    if (d.bad || nl > l)
        return -EINVAL;
    if (grow((void **)&out->labels, &out->labels_cap, nl, sizeof(*out->labels)))
        return -ENOMEM;
    for (uint64_t i = 0; i < nl; i++) {
        uint64_t ln = d_uvarint(&d), lv = d_uvarint(&d);
        if (d.bad || ln >= r->nsyms || lv >= r->nsyms)
            return -EINVAL;
        out->labels[i] = (struct tsdb_label){r->syms[ln], r->syms[lv]};
    }
    out->nlabels = nl;
    uint64_t nc = d_uvarint(&d);
    if (d.bad || nc > l)
        return -EINVAL;
    if (grow((void **)&out->chunks, &out->chunks_cap, nc, sizeof(*out->chunks)))
        return -ENOMEM;
    int64_t t0 = 0;
    uint64_t ref0 = 0;
    for (uint64_t i = 0; i < nc; i++) {
        struct tsdb_chunk_meta *c = &out->chunks[i];
        if (i == 0) {
            c->mint = d_varint(&d);
            c->maxt = (int64_t)((uint64_t)c->mint + d_uvarint(&d));
            ref0 = d_uvarint(&d);
        } else {
            c->mint = (int64_t)((uint64_t)t0 + d_uvarint(&d));
            c->maxt = (int64_t)((uint64_t)c->mint + d_uvarint(&d));
            ref0 += (uint64_t)d_varint(&d);
        }
        c->ref = ref0;
        t0 = c->maxt;
    }
    if (d.bad || d.p != d.end)
        return -EINVAL;
    out->nchunks = nc;
    return 0;
}

/* Walks the label offset table and checks each label index it points at:
 * nothing reads them any more, but a damaged one is a damaged file. */
static int verify_label_indices(const struct tsdb_index_reader *r, char *err, size_t cap)
{
    const uint8_t *p;
    size_t l;
    int rc = section(r, r->toc[TOC_LABEL_TABLE], "label offset table", &p, &l, err, cap);
    if (rc)
        return rc;
    if (l < 4)
        return fail(err, cap, -EINVAL, "index: label offset table too short");
    uint32_t n = get_be32(p);
    struct dec d = {p + 4, p + l, false};
    for (uint32_t i = 0; i < n; i++) {
        uint64_t keys = d_uvarint(&d);
        for (uint64_t k = 0; k < keys && !d.bad; k++)
            d_bytes(&d, d_uvarint(&d));
        uint64_t off = d_uvarint(&d);
        if (d.bad)
            return fail(err, cap, -EINVAL, "index: label offset entry %u malformed", i);
        const uint8_t *li;
        size_t ll;
        if ((rc = section(r, off, "label index", &li, &ll, err, cap)))
            return rc;
        if (ll < 8 || get_be32(li) == 0 || (ll - 8) / 4 % get_be32(li) ||
            (uint64_t)get_be32(li + 4) * 4 + 8 != ll)
            return fail(err, cap, -EINVAL, "index: label index at %llu malformed",
                        (unsigned long long)off);
        for (uint32_t k = 0; k < get_be32(li + 4); k++)
            if (get_be32(li + 8 + 4 * (size_t)k) >= r->nsyms)
                return fail(err, cap, -EINVAL, "index: label index at %llu: bad symbol",
                            (unsigned long long)off);
    }
    if (d.p != d.end)
        return fail(err, cap, -EINVAL, "index: bytes after the label offset table");
    return 0;
}

int tsdb_index_reader_verify(const struct tsdb_index_reader *r, char *err, size_t cap)
{
    struct tsdb_index_series s = {0};
    int rc = 0;
    for (size_t i = 0; i < r->npt && !rc; i++) {
        uint32_t *refs;
        size_t n;
        rc = postings_at(r, r->pt_off[i], &refs, &n);
        if (rc) {
            fail(err, cap, rc, "index: postings list {%s=\"%s\"} %s", r->pt_name[i], r->pt_value[i],
                 rc == -EBADMSG ? "checksum mismatch" : "malformed");
            break;
        }
        if (i == 0 && !*r->pt_name[0]) {
            for (size_t k = 0; k < n && !rc; k++) {
                rc = tsdb_index_series(r, refs[k], &s);
                if (rc)
                    fail(err, cap, rc, "index: series %u %s", refs[k],
                         rc == -EBADMSG ? "checksum mismatch" : "malformed");
            }
        }
        free(refs);
    }
    tsdb_index_series_free(&s);
    if (!rc && r->toc[TOC_LABEL_TABLE])
        rc = verify_label_indices(r, err, cap);
    return rc;
}
