/*
 * XOR ("TSZ", Gorilla) chunks, byte for byte as Prometheus' chunkenc.XORChunk
 * writes them (../shared/reference/prometheus-tsdb-format/chunks.md and
 * bstream.md).
 *
 * Layout. A big-endian uint16 sample count, then a bit stream, most
 * significant bit of each byte first:
 *   sample 0: t as a zig-zag varint, v as 64 raw bits;
 *   sample 1: t - t0 as a uvarint, then the value as below;
 *   sample n: the delta of deltas of t in one of five buckets
 *             '0' (0), '10'+14 bits, '110'+17, '1110'+20, '1111'+64,
 *             then the value: '0' if its bits equal the previous value's,
 *             else '1' and the XOR of both bit patterns as either
 *             '0' + the meaningful bits inside the previous leading/trailing
 *             zero window, or '1' + 5 bits of leading zeros (clamped to 31)
 *             + 6 bits of meaningful-bit count (64 written as 0) + the bits.
 * An n-bit bucket holds -(2^(n-1)-1) .. 2^(n-1), read back as unsigned and
 * shifted down by 2^n when above 2^(n-1).
 *
 * Details that decide bit-exactness and that the documents leave open:
 * - The encoder starts with no leading/trailing window (Prometheus marks it
 *   with leading = 0xff), so the first non-zero XOR always opens a new
 *   window; a window once opened is kept as long as the new XOR fits in it,
 *   even if a narrower one would be cheaper.
 * - The clamp of leading zeros to 31 happens before the "fits the window"
 *   comparison.
 * - Time deltas are computed in wrapping unsigned 64-bit arithmetic, and so
 *   is the delta of deltas, exactly as Go's uint64/int64 conversions do.
 * - A decoder starts with a window of leading = trailing = 0, so a stream
 *   whose first XOR reuses the window carries 64 bits (Prometheus writes such
 *   chunks when it resumes appending to a chunk whose values were constant).
 *
 * Encoder. It writes only into the caller's buffer. Each append first works
 * out the pieces of bits it will write and their total, and returns -ENOSPC
 * before touching anything when they do not fit, so the caller may grow the
 * buffer and retry. Bits are ORed into the last partial byte and fresh bytes
 * are assigned, so the buffer past the chunk needs no clearing.
 *
 * Iterator. It reads 64-bit big-endian windows at any bit position: from
 * the buffer while 8 bytes remain, then from a zero-padded copy of the last
 * bytes kept in the iterator, so it never reads past buf + len. A sample
 * that needed bits past the end is reported as -EINVAL after the fact (the
 * zeros it read are harmless), which keeps the hot path free of per-field
 * bounds checks. Prometheus' reader is looser here (a field cut short by the
 * end of the stream may come back as garbage rather than an error);
 * well-formed chunks decode identically.
 *
 * Speed (bench/xor_decode.c). A sample costs one window load in the common
 * case, and each timestamp bucket and value case is its own branch with
 * constant widths: a predicted branch lets the next sample's load start
 * before this one is decoded, while widths computed from the bits (tried:
 * branch-free bucket selection, a register bit buffer) chain the samples'
 * loads one after the other and were twice as slow. What remains is branch
 * misses on irregular data, so the batch call (state in registers for a
 * whole chunk) is the fast path; tsdb_xor_next() pays a call and the
 * state's trip through memory per sample.
 */
#include "tsdb/tsdb.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

static uint64_t f64_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bits_f64(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

/* ---- encoder -------------------------------------------------------------------------------- */

/* One run of bits to write: the low n bits of v, most significant first. */
struct piece {
    uint64_t v;
    unsigned n; /* 1..64 */
};

/* At most: 10 varint bytes, or 4+64 dod bits, then 2+5+6+64 value bits. */
#define MAX_PIECES 16

struct pieces {
    struct piece p[MAX_PIECES];
    unsigned n;
    size_t bits;
};

static void add(struct pieces *ps, uint64_t v, unsigned n)
{
    ps->p[ps->n].v = v;
    ps->p[ps->n].n = n;
    ps->n++;
    ps->bits += n;
}

static void add_uvarint(struct pieces *ps, uint64_t x)
{
    while (x >= 0x80) {
        add(ps, (x & 0x7f) | 0x80, 8);
        x >>= 7;
    }
    add(ps, x, 8);
}

/* Writes the low n bits of v at bit position pos. The bits of the byte at
 * pos that come after pos must be zero; later bytes are overwritten. */
static void put_bits(uint8_t *buf, size_t pos, uint64_t v, unsigned n)
{
    while (n) {
        size_t byte = pos >> 3;
        unsigned off = pos & 7, room = 8 - off;
        unsigned k = n < room ? n : room;
        uint8_t chunk = (uint8_t)(((v >> (n - k)) & ((1u << k) - 1)) << (room - k));
        if (off == 0)
            buf[byte] = chunk;
        else
            buf[byte] |= chunk;
        pos += k;
        n -= k;
    }
}

/* Prometheus' bitRange: can x be held by an n-bit bucket? */
static bool fits(int64_t x, unsigned n)
{
    int64_t half = (int64_t)1 << (n - 1);
    return x >= -(half - 1) && x <= half;
}

static void add_xor(struct pieces *ps, uint64_t delta, uint8_t *leading, uint8_t *trailing)
{
    if (delta == 0) {
        add(ps, 0, 1);
        return;
    }
    unsigned lead = (unsigned)__builtin_clzll(delta), trail = (unsigned)__builtin_ctzll(delta);
    if (lead >= 32)
        lead = 31;
    if (*leading != 0xff && lead >= *leading && trail >= *trailing) {
        add(ps, 0x2, 2);
        add(ps, delta >> *trailing, 64u - *leading - *trailing);
        return;
    }
    unsigned sig = 64 - lead - trail;
    *leading = (uint8_t)lead;
    *trailing = (uint8_t)trail;
    add(ps, 0x3, 2);
    add(ps, lead, 5);
    add(ps, sig & 63, 6); /* 64 does not fit: written as 0 */
    add(ps, delta >> trail, sig);
}

int tsdb_xor_init(struct tsdb_xor_enc *e, uint8_t *buf, size_t cap)
{
    if (!buf || cap < 2 + TSDB_XOR_MAX_SAMPLE_BYTES)
        return -EINVAL;
    memset(e, 0, sizeof(*e));
    e->buf = buf;
    e->cap = cap;
    e->nbits = 16;
    e->leading = 0xff;
    buf[0] = buf[1] = 0;
    return 0;
}

void tsdb_xor_set_buffer(struct tsdb_xor_enc *e, uint8_t *buf, size_t cap)
{
    e->buf = buf;
    e->cap = cap;
}

int tsdb_xor_append(struct tsdb_xor_enc *e, int64_t t, double v)
{
    if (e->n == UINT16_MAX)
        return -ERANGE;

    struct pieces ps = {.n = 0, .bits = 0};
    uint8_t leading = e->leading, trailing = e->trailing;
    uint64_t tdelta = 0;

    if (e->n == 0) {
        /* Zig-zag, as Go's PutVarint. */
        add_uvarint(&ps, ((uint64_t)t << 1) ^ (uint64_t)(t >> 63));
        add(&ps, f64_bits(v), 64);
    } else if (e->n == 1) {
        tdelta = (uint64_t)t - (uint64_t)e->t;
        add_uvarint(&ps, tdelta);
        add_xor(&ps, f64_bits(v) ^ f64_bits(e->v), &leading, &trailing);
    } else {
        tdelta = (uint64_t)t - (uint64_t)e->t;
        int64_t dod = (int64_t)(tdelta - (uint64_t)e->tdelta);
        if (dod == 0) {
            add(&ps, 0, 1);
        } else if (fits(dod, 14)) {
            add(&ps, 0x2, 2);
            add(&ps, (uint64_t)dod & 0x3fff, 14);
        } else if (fits(dod, 17)) {
            add(&ps, 0x6, 3);
            add(&ps, (uint64_t)dod & 0x1ffff, 17);
        } else if (fits(dod, 20)) {
            add(&ps, 0xe, 4);
            add(&ps, (uint64_t)dod & 0xfffff, 20);
        } else {
            add(&ps, 0xf, 4);
            add(&ps, (uint64_t)dod, 64);
        }
        add_xor(&ps, f64_bits(v) ^ f64_bits(e->v), &leading, &trailing);
    }

    /* Room for the bits and for the empty byte Go may leave after them. */
    if ((e->nbits + ps.bits) / 8 + 1 > e->cap)
        return -ENOSPC;

    size_t pos = e->nbits;
    for (unsigned i = 0; i < ps.n; i++) {
        put_bits(e->buf, pos, ps.p[i].v, ps.p[i].n);
        pos += ps.p[i].n;
    }
    /* Go's bstream writes whole bytes with writeByte, which leaves an empty
     * byte after one written at a byte boundary, and XORChunk.Bytes() keeps
     * it: so a sample whose last piece (the first sample's value, or the
     * significant bits of a value's XOR) is a multiple of 8 bits ending on a
     * byte boundary is followed by a zero byte in Prometheus' chunk. */
    const struct piece *last = &ps.p[ps.n - 1];
    e->pad = last->n >= 8 && last->n % 8 == 0 && pos % 8 == 0;
    if (e->pad)
        e->buf[pos / 8] = 0;
    e->nbits = pos;
    e->n++;
    e->t = t;
    e->v = v;
    e->tdelta = (int64_t)tdelta;
    e->leading = leading;
    e->trailing = trailing;
    e->buf[0] = (uint8_t)(e->n >> 8);
    e->buf[1] = (uint8_t)e->n;
    return 0;
}

size_t tsdb_xor_len(const struct tsdb_xor_enc *e)
{
    return (e->nbits + 7) / 8 + e->pad;
}

/* ---- iterator ------------------------------------------------------------------------------- */

uint16_t tsdb_xor_count(const uint8_t *buf, size_t len)
{
    return len < 2 ? 0 : (uint16_t)(buf[0] << 8 | buf[1]);
}

/* How far past the end of the stream a window may start (in bytes) before
 * it is pinned: a sample reads at most 19 bytes past its start, and a sample
 * starts at most at the end, so 32 is never reached by a well-formed walk. */
#define TAIL_SLACK 32

void tsdb_xor_iter_init(struct tsdb_xor_iter *it, const uint8_t *buf, size_t len)
{
    _Static_assert(sizeof(it->tail) >= TAIL_SLACK + 8, "tail too small");
    memset(it, 0, sizeof(*it));
    it->buf = buf;
    it->len = len;
    it->pos = 16;
    it->n = tsdb_xor_count(buf, len);
    /* The last (up to) 8 bytes, then zeros: windows near the end load from
     * here instead of assembling bytes one by one. */
    size_t keep = len < 8 ? len : 8;
    if (keep)
        memcpy(it->tail, buf + len - keep, keep);
    if (len < 2)
        it->err = -EINVAL;
}

static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return __builtin_bswap64(v);
}

/* The stream as the decoder sees it. */
struct bits {
    const uint8_t *buf;
    const uint8_t *tail; /* the iterator's tail copy */
    size_t fast_end;     /* bit positions below this can load 8 bytes from buf */
    size_t tail_off;     /* the byte of buf that tail[0] copies */
};

static struct bits bits_of(const struct tsdb_xor_iter *it)
{
    struct bits b = {.buf = it->buf, .tail = it->tail, .fast_end = 0, .tail_off = 0};
    if (it->len >= 8) {
        b.fast_end = (it->len - 7) * 8;
        b.tail_off = it->len - 8;
    }
    return b;
}

static __attribute__((noinline)) uint64_t peek_tail(const struct bits *b, size_t pos)
{
    size_t ti = (pos >> 3) - b->tail_off;
    return load_be64(b->tail + (ti < TAIL_SLACK ? ti : TAIL_SLACK)) << (pos & 7);
}

/* The 64 bits from bit pos on, left-aligned, zeros past the end of the
 * stream. At least the first 57 are the stream's (or those zeros). */
static inline uint64_t peek(const struct bits *b, size_t pos)
{
    if (LIKELY(pos < b->fast_end))
        return load_be64(b->buf + (pos >> 3)) << (pos & 7);
    return peek_tail(b, pos);
}

/* n (1..64) bits from bit pos, right-aligned. */
static inline uint64_t read_bits(const struct bits *b, size_t pos, unsigned n)
{
    if (LIKELY(n <= 57))
        return peek(b, pos) >> (64 - n);
    uint64_t hi = peek(b, pos) >> 32;
    return hi << (n - 32) | peek(b, pos + 32) >> (96 - n);
}

/* A uvarint with Go's binary.ReadUvarint rules (at most 10 bytes, the 10th
 * at most 1). Returns false on overflow. */
static bool read_uvarint(const struct bits *b, size_t *pos, uint64_t *out)
{
    uint64_t x = 0;
    for (unsigned i = 0, s = 0; i < 10; i++, s += 7) {
        uint64_t c = peek(b, *pos) >> 56;
        *pos += 8;
        if (c < 0x80) {
            if (i == 9 && c > 1)
                return false;
            *out = x | c << s;
            return true;
        }
        x |= (c & 0x7f) << s;
    }
    return false;
}

/* The sz-bit delta of deltas after a hdr-bit prefix at the top of w. Values
 * above 2^(sz-1) stand for negative ones: 2^sz is subtracted, without a
 * branch (the sign of scrape jitter is a coin toss). */
static inline uint64_t bucket(uint64_t w, unsigned hdr, unsigned sz)
{
    uint64_t d = (w << hdr) >> (64 - sz);
    return d - ((((1ULL << (sz - 1)) - d) >> 63) << sz);
}

/*
 * The decoder's state between samples. The XOR window is kept as its
 * trailing zeros and its width m (leading = 64 - m - trailing).
 */
struct dstate {
    size_t pos;
    uint64_t t, tdelta, vbits;
    unsigned m, trail;
};

/*
 * Reads one value field. w is the window peeked at st->pos, of which the
 * first `avail` bits are sure; longer fields are read again. Returns false
 * for a leading/width pair no encoder writes.
 */
static inline bool read_value(const struct bits *b, struct dstate *st, uint64_t w, unsigned avail)
{
    if (LIKELY(!(w >> 63))) {
        st->pos += 1;
        return true;
    }
    unsigned m;
    if (LIKELY(!(w >> 62 & 1))) {
        m = st->m;
        uint64_t x = LIKELY(2 + m <= avail) ? (w << 2) >> (64 - m) : read_bits(b, st->pos + 2, m);
        st->pos += 2 + m;
        st->vbits ^= x << st->trail;
        return true;
    }
    unsigned lead = (unsigned)(w >> 57) & 31;
    m = (unsigned)(w >> 51) & 63;
    m = m ? m : 64;
    if (UNLIKELY(lead + m > 64))
        return false;
    st->m = m;
    st->trail = 64 - lead - m;
    uint64_t x = LIKELY(13 + m <= avail) ? (w << 13) >> (64 - m) : read_bits(b, st->pos + 13, m);
    st->pos += 13 + m;
    st->vbits ^= x << st->trail;
    return true;
}

/* Samples 0 and 1, whose timestamps are varints. */
static __attribute__((noinline)) bool read_head_sample(const struct bits *b, struct dstate *st,
                                                       unsigned read)
{
    if (read == 0) {
        uint64_t zz;
        if (!read_uvarint(b, &st->pos, &zz))
            return false;
        st->t = (uint64_t)((int64_t)(zz >> 1) ^ -(int64_t)(zz & 1));
        st->vbits = read_bits(b, st->pos, 64);
        st->pos += 64;
        return true;
    }
    if (!read_uvarint(b, &st->pos, &st->tdelta))
        return false;
    st->t += st->tdelta;
    return read_value(b, st, peek(b, st->pos), 57);
}

/*
 * Decodes samples 2.. into out[0..todo). Each sample peeks one 64-bit
 * window for its timestamp bucket and in the common case takes its value
 * from the same window (at least 33 of the 57 sure bits are left after the
 * widest short bucket, and a value header takes at most 13), so most samples
 * cost one load. Each bucket has its own branch with a constant width: a
 * predicted branch lets the next sample's load start before this one is
 * decoded, where a width computed from the bits would chain the loads one
 * after the other. Bits past the end read as zeros; the position is checked
 * once per sample. Returns the samples decoded; fewer than todo means
 * corrupt data.
 */
static inline __attribute__((always_inline)) size_t decode_run(const struct bits *b,
                                                               struct dstate *io, size_t end,
                                                               struct tsdb_sample *out, size_t todo)
{
    struct dstate st = *io;
    size_t k;
    for (k = 0; k < todo; k++) {
        uint64_t w = peek(b, st.pos);
        unsigned avail;
        if (LIKELY(!(w >> 63))) {
            st.pos += 1;
            w <<= 1;
            avail = 56;
        } else if (!(w >> 62 & 1)) {
            st.tdelta += bucket(w, 2, 14);
            st.pos += 16;
            w <<= 16;
            avail = 41;
        } else if (!(w >> 61 & 1)) {
            st.tdelta += bucket(w, 3, 17);
            st.pos += 20;
            w <<= 20;
            avail = 37;
        } else if (!(w >> 60 & 1)) {
            st.tdelta += bucket(w, 4, 20);
            st.pos += 24;
            w <<= 24;
            avail = 33;
        } else {
            st.tdelta += read_bits(b, st.pos + 4, 64);
            st.pos += 68;
            w = peek(b, st.pos);
            avail = 57;
        }
        st.t += st.tdelta;
        if (UNLIKELY(!read_value(b, &st, w, avail)) || UNLIKELY(st.pos > end))
            break;
        out[k].t = (int64_t)st.t;
        out[k].v = bits_f64(st.vbits);
    }
    *io = st;
    return k;
}

/* The decoder behind tsdb_xor_next() and tsdb_xor_next_batch(). */
static int decode(struct tsdb_xor_iter *it, struct tsdb_sample *out, size_t cap)
{
    if (UNLIKELY(it->err))
        return it->err;
    const struct bits b = bits_of(it);
    const size_t end = it->len * 8;
    struct dstate st = {.pos = it->pos,
                        .t = (uint64_t)it->t,
                        .tdelta = (uint64_t)it->tdelta,
                        .vbits = f64_bits(it->v),
                        .m = 64u - it->leading - it->trailing,
                        .trail = it->trailing};
    size_t todo = (size_t)(it->n - it->read), k = 0;
    if (todo > cap)
        todo = cap;

    for (; k < todo && it->read + k < 2; k++) {
        if (!read_head_sample(&b, &st, (unsigned)(it->read + k)) || st.pos > end)
            goto corrupt;
        out[k].t = (int64_t)st.t;
        out[k].v = bits_f64(st.vbits);
    }
    if (k < todo) {
        size_t got = decode_run(&b, &st, end, out + k, todo - k);
        k += got;
        if (k < todo)
            goto corrupt;
    }

    it->pos = st.pos;
    it->read = (uint16_t)(it->read + k);
    it->t = (int64_t)st.t;
    it->tdelta = (int64_t)st.tdelta;
    it->v = bits_f64(st.vbits);
    it->leading = (uint8_t)(64 - st.m - st.trail);
    it->trailing = (uint8_t)st.trail;
    return (int)k;

corrupt:
    /* Samples already decoded in this batch are good: hand them out, the
     * error comes with the next call. */
    it->read = (uint16_t)(it->read + k);
    it->err = -EINVAL;
    return k ? (int)k : -EINVAL;
}

int tsdb_xor_next(struct tsdb_xor_iter *it, struct tsdb_sample *s)
{
    if (UNLIKELY(it->err || it->read < 2 || it->read == it->n))
        return decode(it, s, 1);
    /* The common case without decode()'s set-up for a batch. */
    const struct bits b = bits_of(it);
    struct dstate st = {.pos = it->pos,
                        .t = (uint64_t)it->t,
                        .tdelta = (uint64_t)it->tdelta,
                        .vbits = f64_bits(it->v),
                        .m = 64u - it->leading - it->trailing,
                        .trail = it->trailing};
    if (UNLIKELY(!decode_run(&b, &st, it->len * 8, s, 1))) {
        it->err = -EINVAL;
        return -EINVAL;
    }
    it->pos = st.pos;
    it->read++;
    it->t = (int64_t)st.t;
    it->tdelta = (int64_t)st.tdelta;
    it->v = bits_f64(st.vbits);
    it->leading = (uint8_t)(64 - st.m - st.trail);
    it->trailing = (uint8_t)st.trail;
    return 1;
}

int tsdb_xor_next_batch(struct tsdb_xor_iter *it, struct tsdb_sample *out, size_t cap)
{
    if (cap == 0)
        return -EINVAL; /* 0 would read as the end */
    if (cap > INT_MAX)
        cap = INT_MAX;
    return decode(it, out, cap);
}
