/*
 * promql_format_float against what Go's strconv.FormatFloat(v, 'f', -1, 64)
 * prints (the values Prometheus' API returns): shortest round-trip digits,
 * closest when several are as short, never an exponent.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "promql/promql.h"

static void check(double v, const char *want)
{
    char buf[PROMQL_FLOAT_BUF];
    cr_assert_str_eq(promql_format_float(v, buf, sizeof(buf)), want);
}

Test(promql_format, special_values)
{
    check(NAN, "NaN");
    check(INFINITY, "+Inf");
    check(-INFINITY, "-Inf");
    check(0.0, "0");
    check(-0.0, "-0");
}

Test(promql_format, shortest_digits)
{
    check(0.1, "0.1");
    check(0.3, "0.3");
    check(0.1 + 0.2, "0.30000000000000004");
    check(1.0 / 3, "0.3333333333333333");
    check(123.456, "123.456");
    check(4.35, "4.35");
    check(-1.5, "-1.5");
    check(100, "100");
    check(9007199254740993.0, "9007199254740992");
    check(1e-7, "0.0000001");
    check(2.5e-5, "0.000025");
}

Test(promql_format, large_and_tiny)
{
    check(1e21, "1000000000000000000000");
    check(1e22, "10000000000000000000000");
    check(9.999999999999999e22, "100000000000000000000000"); /* the double nearest 1e23 */
    char buf[PROMQL_FLOAT_BUF];
    const char *s = promql_format_float(5e-324, buf, sizeof(buf));
    /* "0." then 323 zeros then 5 */
    cr_assert_eq(strlen(s), 2 + 323 + 1);
    cr_assert_eq(strncmp(s, "0.000", 5), 0);
    cr_assert_eq(s[strlen(s) - 1], '5');
    s = promql_format_float(2.2250738585072014e-308, buf, sizeof(buf));
    cr_assert_eq(strncmp(s + strlen(s) - 17, "22250738585072014", 17), 0);
    /* the largest double: 17 digits, then zeros up to 309 digits */
    s = promql_format_float(1.7976931348623157e308, buf, sizeof(buf));
    cr_assert_eq(strlen(s), 309);
    cr_assert_eq(strncmp(s, "17976931348623157", 17), 0);
    cr_assert_eq(strspn(s + 17, "0"), 309 - 17);
}

Test(promql_format, short_buffer_is_cut_not_overrun)
{
    char buf[4];
    cr_assert_str_eq(promql_format_float(123.456, buf, sizeof(buf)), "123");
}

/* Every value printed reads back as itself. */
Test(promql_format, round_trips)
{
    unsigned seed = 7;
    char buf[PROMQL_FLOAT_BUF];
    for (int i = 0; i < 20000; i++) {
        uint64_t bits =
            (uint64_t)rand_r(&seed) << 42 ^ (uint64_t)rand_r(&seed) << 21 ^ (uint64_t)rand_r(&seed);
        double v;
        memcpy(&v, &bits, sizeof(v));
        if (!isfinite(v))
            continue;
        cr_assert_eq(strtod(promql_format_float(v, buf, sizeof(buf)), NULL), v, "%a -> %s", v, buf);
    }
    /* the range printed with 128-bit integers, and its edges */
    for (int i = 0; i < 20000; i++) {
        double v = pow(10, -16 + 34.0 * rand_r(&seed) / RAND_MAX) * (i % 2 ? 1 : -1);
        cr_assert_eq(strtod(promql_format_float(v, buf, sizeof(buf)), NULL), v, "%a -> %s", v, buf);
    }
    check(1e-15, "0.000000000000001");
    check(1e17, "100000000000000000");
    check(99999999999999984.0, "99999999999999980");
}
