/*
 * WAL record codecs: series (type 1), samples (type 2) and tombstones
 * (type 3), producing the bytes Prometheus 2.42's record.Encoder produces
 * and reading what it writes. Per the codec rule of this module nothing
 * here allocates: encoders write into the caller's buffer (and say how much
 * they need when it is too small), decoders iterate a borrowed record and
 * copy label strings into a caller's buffer to NUL-terminate them.
 *
 * Integers follow Go's encoding: fixed-width fields big-endian, "varint"
 * the zig-zag signed form of Go's binary.PutVarint, uvarint base-128 with at
 * most 10 bytes. Decoders reject truncation, overlong varints and bytes
 * left over after the last entry, so a damaged record cannot pass as a
 * shorter valid one.
 */
#include "tsdb/tsdb.h"

#include <errno.h>
#include <string.h>

/* ---- encoding helpers: count always, write while there is room ------------------------ */

struct enc {
    uint8_t *buf;
    size_t cap, n;
};

static void put_byte(struct enc *e, uint8_t b)
{
    if (e->n < e->cap)
        e->buf[e->n] = b;
    e->n++;
}

static void put_be64(struct enc *e, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        put_byte(e, (uint8_t)(v >> (8 * i)));
}

static void put_uvarint(struct enc *e, uint64_t v)
{
    while (v >= 0x80) {
        put_byte(e, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    put_byte(e, (uint8_t)v);
}

static void put_varint(struct enc *e, int64_t v)
{
    uint64_t u = (uint64_t)v << 1;
    if (v < 0)
        u = ~u;
    put_uvarint(e, u);
}

static void put_str(struct enc *e, const char *s)
{
    size_t l = strlen(s);
    put_uvarint(e, l);
    for (size_t i = 0; i < l; i++)
        put_byte(e, (uint8_t)s[i]);
}

static int enc_done(const struct enc *e, size_t *len)
{
    *len = e->n;
    return e->n <= e->cap ? 0 : -ENOSPC;
}

int tsdb_record_encode_series(const struct tsdb_ref_series *s, size_t n, uint8_t *buf, size_t cap,
                              size_t *len)
{
    struct enc e = {buf, cap, 0};
    put_byte(&e, TSDB_REC_SERIES);
    for (size_t i = 0; i < n; i++) {
        put_be64(&e, s[i].ref);
        put_uvarint(&e, s[i].labels.n);
        for (size_t j = 0; j < s[i].labels.n; j++) {
            put_str(&e, s[i].labels.v[j].name);
            put_str(&e, s[i].labels.v[j].value);
        }
    }
    return enc_done(&e, len);
}

int tsdb_record_encode_samples(const struct tsdb_ref_sample *s, size_t n, uint8_t *buf, size_t cap,
                               size_t *len)
{
    struct enc e = {buf, cap, 0};
    put_byte(&e, TSDB_REC_SAMPLES);
    if (n > 0) {
        put_be64(&e, s[0].ref);
        put_be64(&e, (uint64_t)s[0].t);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &s[i].v, sizeof(bits));
        /* Differences in two's complement, as Go's int64 arithmetic wraps. */
        put_varint(&e, (int64_t)(s[i].ref - s[0].ref));
        put_varint(&e, (int64_t)((uint64_t)s[i].t - (uint64_t)s[0].t));
        put_be64(&e, bits);
    }
    return enc_done(&e, len);
}

int tsdb_record_encode_tombstones(const struct tsdb_tombstone *t, size_t n, uint8_t *buf,
                                  size_t cap, size_t *len)
{
    struct enc e = {buf, cap, 0};
    put_byte(&e, TSDB_REC_TOMBSTONES);
    for (size_t i = 0; i < n; i++) {
        put_be64(&e, t[i].ref);
        put_varint(&e, t[i].mint);
        put_varint(&e, t[i].maxt);
    }
    return enc_done(&e, len);
}

/* ---- decoding ------------------------------------------------------------------------- */

enum tsdb_record_type tsdb_record_type(const uint8_t *rec, size_t len)
{
    if (len < 1 || rec[0] < TSDB_REC_SERIES || rec[0] > TSDB_REC_FLOAT_HISTOGRAMS)
        return TSDB_REC_UNKNOWN;
    return (enum tsdb_record_type)rec[0];
}

static int get_be64(struct tsdb_record_dec *d, uint64_t *v)
{
    if (d->len - d->off < 8)
        return -EINVAL;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | d->p[d->off + (size_t)i];
    d->off += 8;
    *v = x;
    return 0;
}

static int get_uvarint(struct tsdb_record_dec *d, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (d->off >= d->len)
            return -EINVAL;
        uint8_t b = d->p[d->off++];
        if (i == 9 && b > 1)
            return -EINVAL; /* overflows 64 bits, as Go's Uvarint says */
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *v = x;
            return 0;
        }
    }
    return -EINVAL;
}

static int get_varint(struct tsdb_record_dec *d, int64_t *v)
{
    uint64_t u;
    int rc = get_uvarint(d, &u);
    if (rc)
        return rc;
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

int tsdb_record_dec_init(struct tsdb_record_dec *d, const uint8_t *rec, size_t len,
                         enum tsdb_record_type type)
{
    memset(d, 0, sizeof(*d));
    if (len < 1 || rec[0] != (uint8_t)type)
        return -EINVAL;
    d->p = rec;
    d->len = len;
    d->off = 1;
    if (type == TSDB_REC_SAMPLES && len > 1) {
        uint64_t t;
        if (get_be64(d, &d->base_ref) || get_be64(d, &t))
            return -EINVAL;
        d->base_t = (int64_t)t;
    }
    return 0;
}

int tsdb_record_next_series(struct tsdb_record_dec *d, uint64_t *ref, struct tsdb_label *labels,
                            size_t lcap, size_t *nlabels, char *strbuf, size_t scap)
{
    *nlabels = 0;
    if (d->off >= d->len)
        return 0;
    uint64_t n;
    if (get_be64(d, ref) || get_uvarint(d, &n))
        return -EINVAL;
    if (n > (d->len - d->off) / 2)
        return -EINVAL; /* each string takes at least its length byte */
    if (n > lcap)
        return -ENOSPC;
    size_t used = 0;
    for (uint64_t i = 0; i < 2 * n; i++) {
        uint64_t l;
        if (get_uvarint(d, &l) || l > d->len - d->off)
            return -EINVAL;
        if (l + 1 > scap - used)
            return -ENOSPC;
        char *s = strbuf + used;
        memcpy(s, d->p + d->off, (size_t)l);
        s[l] = '\0';
        used += (size_t)l + 1;
        d->off += (size_t)l;
        if (i % 2 == 0)
            labels[i / 2].name = s;
        else
            labels[i / 2].value = s;
    }
    *nlabels = (size_t)n;
    return 1;
}

int tsdb_record_next_sample(struct tsdb_record_dec *d, struct tsdb_ref_sample *s)
{
    if (d->off >= d->len)
        return 0;
    int64_t dref, dt;
    uint64_t bits;
    if (get_varint(d, &dref) || get_varint(d, &dt) || get_be64(d, &bits))
        return -EINVAL;
    s->ref = d->base_ref + (uint64_t)dref;
    s->t = (int64_t)((uint64_t)d->base_t + (uint64_t)dt);
    memcpy(&s->v, &bits, sizeof(bits));
    return 1;
}

int tsdb_record_next_tombstone(struct tsdb_record_dec *d, struct tsdb_tombstone *t)
{
    if (d->off >= d->len)
        return 0;
    if (get_be64(d, &t->ref) || get_varint(d, &t->mint) || get_varint(d, &t->maxt))
        return -EINVAL;
    return 1;
}
