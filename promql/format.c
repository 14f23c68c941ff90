/*
 * Sample values as Prometheus prints them: Go's strconv.FormatFloat(v, 'f',
 * -1, 64), the shortest decimal that reads back as v (the closest one when
 * several are as short), laid out without an exponent.
 *
 * The digits come from the free-format algorithm of Steele & White and
 * Dragon4: with exact big-integer arithmetic, v is written as r/s and the
 * half-way points to its neighbouring doubles as m-/s and m+/s; digits are
 * produced one at a time until the digits so far already name v uniquely.
 * It needs no tables and no trial strtod() calls, which made printing the
 * values of a large range query the bulk of its cost. Big integers are
 * fixed arrays of 32-bit limbs large enough for any double.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "promql/promql.h"

#define LIMBS 40 /* 1280 bits: 2^1075 times 10 (and the scale 10^k) fit */

struct big {
    uint32_t v[LIMBS];
    int n; /* limbs in use; v[n-1] != 0 unless n == 0 */
};

static void big_set(struct big *b, uint64_t x)
{
    b->n = 0;
    while (x) {
        b->v[b->n++] = (uint32_t)x;
        x >>= 32;
    }
}

static void big_mul_small(struct big *b, uint32_t m)
{
    uint64_t carry = 0;
    for (int i = 0; i < b->n; i++) {
        uint64_t t = (uint64_t)b->v[i] * m + carry;
        b->v[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry)
        b->v[b->n++] = (uint32_t)carry;
}

static void big_shl(struct big *b, int bits)
{
    if (!b->n || !bits)
        return;
    int words = bits / 32, rest = bits % 32;
    if (rest) {
        uint32_t carry = 0;
        for (int i = 0; i < b->n; i++) {
            uint32_t nv = b->v[i] << rest | carry;
            carry = b->v[i] >> (32 - rest);
            b->v[i] = nv;
        }
        if (carry)
            b->v[b->n++] = carry;
    }
    if (words) {
        memmove(b->v + words, b->v, (size_t)b->n * sizeof(uint32_t));
        memset(b->v, 0, (size_t)words * sizeof(uint32_t));
        b->n += words;
    }
}

static void big_pow10(struct big *b, int k)
{
    for (; k >= 9; k -= 9)
        big_mul_small(b, 1000000000u);
    static const uint32_t p10[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
    if (k > 0)
        big_mul_small(b, p10[k]);
}

static int big_cmp(const struct big *a, const struct big *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->v[i] != b->v[i])
            return a->v[i] < b->v[i] ? -1 : 1;
    return 0;
}

/* out = a + b */
static void big_add(struct big *out, const struct big *a, const struct big *b)
{
    int n = a->n > b->n ? a->n : b->n;
    uint64_t carry = 0;
    for (int i = 0; i < n; i++) {
        uint64_t t = carry + (i < a->n ? a->v[i] : 0) + (i < b->n ? b->v[i] : 0);
        out->v[i] = (uint32_t)t;
        carry = t >> 32;
    }
    out->n = n;
    if (carry)
        out->v[out->n++] = (uint32_t)carry;
}

/* a -= b, with a >= b */
static void big_sub(struct big *a, const struct big *b)
{
    int64_t borrow = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t t = (int64_t)a->v[i] - (i < b->n ? b->v[i] : 0) - borrow;
        borrow = t < 0;
        a->v[i] = (uint32_t)(t + (borrow ? (int64_t)1 << 32 : 0));
    }
    while (a->n && !a->v[a->n - 1])
        a->n--;
}

typedef unsigned __int128 u128;

/* Emits the digits from the scaled state (r, s, m-, m+ as in the big-integer
 * version below) with 128-bit integers: exact for 1e-15 <= v < 1e17, where
 * no quantity passes 2^112 (s <= 2^108 after scaling, r < s, and m+ grows
 * by at most 10^17 over the digits). Most sample values are in that range,
 * and this is an order of magnitude faster than the limbs. */
static int digits_u128(u128 r, u128 s, u128 mminus, u128 mplus, bool even, char *digits)
{
    int n = 0;
    for (;;) {
        r *= 10;
        mminus *= 10;
        mplus *= 10;
        int d = 0; /* r < 10 s: at most 9 subtractions, cheaper than a 128-bit division */
        while (r >= s) {
            r -= s;
            d++;
        }
        bool low = r < mminus || (even && r == mminus);
        bool high = r + mplus > s || (even && r + mplus == s);
        if (!low && !high) {
            digits[n++] = (char)('0' + d);
            continue;
        }
        if (low && high) {
            if (2 * r > s || (2 * r == s && (d & 1)))
                d++;
        } else if (high) {
            d++;
        }
        digits[n++] = (char)('0' + d);
        return n;
    }
}

static const u128 pow10_u128[] = {
    1,
    10,
    100,
    1000,
    10000,
    100000,
    1000000,
    10000000,
    100000000,
    1000000000,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
    1000000000000000000ULL,
};

int promql_float_digits(double v, char digits[PROMQL_DIGITS_MAX], int *kout)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    uint64_t frac = bits & ((1ULL << 52) - 1);
    int bexp = (int)(bits >> 52 & 0x7ff);
    uint64_t f;
    int e;
    if (bexp == 0) {
        f = frac;
        e = -1074;
    } else {
        f = frac | 1ULL << 52;
        e = bexp - 1075;
    }
    bool even = !(f & 1);
    /* The lower neighbour is closer when f is the smallest mantissa of a
     * binade (except the lowest): its gap is half the upper one. */
    bool unequal = bexp > 1 && frac == 0;

    /* Estimate k = ceil(log10(v)), fixed below, so that r/s < 1. */
    int k = (int)ceil(log10(v) - 1e-10);
    int n;
    if (v >= 1e-15 && v < 1e17) {
        u128 r, s, mm, mp;
        if (e >= 0) {
            r = (u128)f << (e + (unequal ? 2 : 1));
            s = unequal ? 4 : 2;
            mm = (u128)1 << e;
        } else {
            r = (u128)f << (unequal ? 2 : 1);
            s = (u128)1 << (-e + (unequal ? 2 : 1));
            mm = 1;
        }
        mp = unequal ? mm * 2 : mm;
        if (k >= 0) {
            s *= pow10_u128[k];
        } else {
            r *= pow10_u128[-k];
            mm *= pow10_u128[-k];
            mp *= pow10_u128[-k];
        }
        if (r + mp > s || (even && r + mp == s)) {
            s *= 10;
            k++;
        }
        n = digits_u128(r, s, mm, mp, even, digits);
        goto finish;
    }

    struct big r, s, mminus, mplus;
    if (e >= 0) {
        big_set(&r, f);
        big_shl(&r, e + (unequal ? 2 : 1));
        big_set(&s, unequal ? 4 : 2);
        big_set(&mminus, 1);
        big_shl(&mminus, e);
    } else {
        big_set(&r, f);
        big_shl(&r, unequal ? 2 : 1);
        big_set(&s, 1);
        big_shl(&s, -e + (unequal ? 2 : 1));
        big_set(&mminus, 1);
    }
    mplus = mminus;
    if (unequal)
        big_shl(&mplus, 1);

    if (k >= 0) {
        big_pow10(&s, k);
    } else {
        big_pow10(&r, -k);
        big_pow10(&mminus, -k);
        big_pow10(&mplus, -k);
    }
    struct big t;
    big_add(&t, &r, &mplus);
    /* Fix the estimate: r + m+ must stay below s (or at it for odd f). */
    int c = big_cmp(&t, &s);
    if (c > 0 || (even && c == 0)) {
        big_mul_small(&s, 10);
        k++;
    }

    n = 0;
    for (;;) {
        big_mul_small(&r, 10);
        big_mul_small(&mminus, 10);
        big_mul_small(&mplus, 10);
        int d = 0;
        while (big_cmp(&r, &s) >= 0) {
            big_sub(&r, &s);
            d++;
        }
        int lo = big_cmp(&r, &mminus);
        big_add(&t, &r, &mplus);
        int hi = big_cmp(&t, &s);
        bool low = lo < 0 || (even && lo == 0);
        bool high = hi > 0 || (even && hi == 0);
        if (!low && !high) {
            digits[n++] = (char)('0' + d);
            continue;
        }
        if (low && high) {
            /* Both last digits name v: take the closer one (2r vs s). */
            struct big r2 = r;
            big_mul_small(&r2, 2);
            int h = big_cmp(&r2, &s);
            if (h > 0 || (h == 0 && (d & 1)))
                d++;
        } else if (high) {
            d++;
        }
        digits[n++] = (char)('0' + d);
        break;
    }
finish:
    /* A rounded-up 9 carries into the digits before it. */
    for (int i = n - 1; i > 0 && digits[i] > '9'; i--) {
        digits[i] = '0';
        digits[i - 1]++;
    }
    if (digits[0] > '9') {
        digits[0] = '1';
        k++;
    }
    while (n > 1 && digits[n - 1] == '0')
        n--;
    *kout = k;
    return n;
}

const char *promql_format_float(double v, char *buf, size_t cap)
{
    if (!cap)
        return buf;
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
        return buf;
    }
    size_t o = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 < cap)                                                                           \
            buf[o++] = (ch);                                                                       \
    } while (0)
    if (signbit(v))
        PUT('-');
    v = fabs(v);
    if (v == 0) {
        PUT('0');
        buf[o] = 0;
        return buf;
    }
    char digits[PROMQL_DIGITS_MAX];
    int k;
    int n = promql_float_digits(v, digits, &k); /* v = 0.digits x 10^k */
    if (k <= 0) {
        PUT('0');
        PUT('.');
        for (int i = 0; i < -k; i++)
            PUT('0');
        for (int i = 0; i < n; i++)
            PUT(digits[i]);
    } else {
        for (int i = 0; i < k || i < n; i++) {
            if (i == k)
                PUT('.');
            PUT(i < n ? digits[i] : '0');
        }
    }
#undef PUT
    buf[o] = 0;
    return buf;
}
