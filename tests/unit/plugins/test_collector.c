/*
 * Tests of the helpers collectors share (plugins/collector.c), against the
 * Go functions they reproduce: the expected values are what Go's strconv,
 * strings and prometheus/procfs return for the same input.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "harness.h"

static int puint(const char *s, int base, int bits, uint64_t *v)
{
    return plg_parse_uint(s, strlen(s), base, bits, v);
}

static int pint(const char *s, int base, int bits, int64_t *v)
{
    return plg_parse_int(s, strlen(s), base, bits, v);
}

static int pfloat(const char *s, double *v)
{
    return plg_parse_float(s, strlen(s), v);
}

Test(plugins_collector, parse_uint_base10)
{
    uint64_t v = 7;
    cr_assert_eq(puint("0", 10, 64, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(puint("18446744073709551615", 10, 64, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
    cr_assert_eq(puint("18446744073709551616", 10, 64, &v), -ERANGE);
    cr_assert_eq(puint("99999999999999999999", 10, 64, &v), -ERANGE);
    cr_assert_eq(puint("4294967295", 10, 32, &v), 0);
    cr_assert_eq(v, 4294967295u);
    cr_assert_eq(puint("4294967296", 10, 32, &v), -ERANGE);
    v = 7;
    /* no sign, no blanks, no base prefix, no underscores outside base 0 */
    cr_assert_eq(puint("+1", 10, 64, &v), -EINVAL);
    cr_assert_eq(puint("-1", 10, 64, &v), -EINVAL);
    cr_assert_eq(puint(" 1", 10, 64, &v), -EINVAL);
    cr_assert_eq(puint("1 ", 10, 64, &v), -EINVAL);
    cr_assert_eq(puint("", 10, 64, &v), -EINVAL);
    cr_assert_eq(puint("1_0", 10, 64, &v), -EINVAL);
    cr_assert_eq(puint("0x10", 10, 64, &v), -EINVAL);
    cr_assert_eq(v, 7, "failures leave *out alone");
    /* only n bytes are looked at */
    cr_assert_eq(plg_parse_uint("123abc", 3, 10, 64, &v), 0);
    cr_assert_eq(v, 123);
    /* bad base or bit size */
    cr_assert_eq(puint("1", 1, 64, &v), -EINVAL);
    cr_assert_eq(puint("1", 37, 64, &v), -EINVAL);
    cr_assert_eq(puint("1", 10, 65, &v), -EINVAL);
}

Test(plugins_collector, parse_uint_hex_and_base0)
{
    uint64_t v;
    cr_assert_eq(puint("ff", 16, 64, &v), 0);
    cr_assert_eq(v, 255);
    cr_assert_eq(puint("DeadBeef", 16, 32, &v), 0);
    cr_assert_eq(v, 0xdeadbeef);
    cr_assert_eq(puint("100000000", 16, 32, &v), -ERANGE);
    cr_assert_eq(puint("ffffffffffffffff", 16, 64, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
    cr_assert_eq(puint("10000000000000000", 16, 64, &v), -ERANGE);
    cr_assert_eq(puint("0xff", 16, 64, &v), -EINVAL);
    cr_assert_eq(puint("fg", 16, 64, &v), -EINVAL);
    cr_assert_eq(puint("z", 36, 64, &v), 0);
    cr_assert_eq(v, 35);

    cr_assert_eq(puint("0x1F", 0, 64, &v), 0);
    cr_assert_eq(v, 31);
    cr_assert_eq(puint("0X1f", 0, 64, &v), 0);
    cr_assert_eq(v, 31);
    cr_assert_eq(puint("0o17", 0, 64, &v), 0);
    cr_assert_eq(v, 15);
    cr_assert_eq(puint("017", 0, 64, &v), 0);
    cr_assert_eq(v, 15);
    cr_assert_eq(puint("0b101", 0, 64, &v), 0);
    cr_assert_eq(v, 5);
    cr_assert_eq(puint("0", 0, 64, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(puint("1_000", 0, 64, &v), 0);
    cr_assert_eq(v, 1000);
    cr_assert_eq(puint("0x_1f", 0, 64, &v), 0);
    cr_assert_eq(v, 31);
    cr_assert_eq(puint("08", 0, 64, &v), -EINVAL);
    cr_assert_eq(puint("0x", 0, 64, &v), -EINVAL);
    cr_assert_eq(puint("0b2", 0, 64, &v), -EINVAL);
    cr_assert_eq(puint("1__0", 0, 64, &v), -EINVAL);
    cr_assert_eq(puint("_1", 0, 64, &v), -EINVAL);
    cr_assert_eq(puint("1_", 0, 64, &v), -EINVAL);
}

Test(plugins_collector, parse_int)
{
    int64_t v;
    cr_assert_eq(pint("-9223372036854775808", 10, 64, &v), 0);
    cr_assert_eq(v, INT64_MIN);
    cr_assert_eq(pint("9223372036854775807", 10, 64, &v), 0);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(pint("9223372036854775808", 10, 64, &v), -ERANGE);
    cr_assert_eq(pint("-9223372036854775809", 10, 64, &v), -ERANGE);
    cr_assert_eq(pint("+5", 10, 64, &v), 0);
    cr_assert_eq(v, 5);
    cr_assert_eq(pint("-0x10", 0, 64, &v), 0);
    cr_assert_eq(v, -16);
    cr_assert_eq(pint("-0", 10, 64, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(pint("-128", 10, 8, &v), 0);
    cr_assert_eq(v, -128);
    cr_assert_eq(pint("128", 10, 8, &v), -ERANGE);
    cr_assert_eq(pint("-", 10, 64, &v), -EINVAL);
    cr_assert_eq(pint("", 10, 64, &v), -EINVAL);
    cr_assert_eq(pint("--1", 10, 64, &v), -EINVAL);
    cr_assert_eq(pint(" -1", 10, 64, &v), -EINVAL);
}

Test(plugins_collector, parse_float)
{
    double v;
    cr_assert_eq(pfloat("1.5", &v), 0);
    cr_assert_eq(v, 1.5);
    cr_assert_eq(pfloat("-2", &v), 0);
    cr_assert_eq(v, -2.0);
    cr_assert_eq(pfloat("+.5e1", &v), 0);
    cr_assert_eq(v, 5.0);
    cr_assert_eq(pfloat("12345678901234567890", &v), 0); /* past the fast path */
    cr_assert_eq(v, 12345678901234567890.0);
    cr_assert_eq(pfloat("9007199254740993", &v), 0); /* rounded as strtod does */
    cr_assert_eq(v, 9007199254740992.0);
    cr_assert_eq(pfloat("0x1p-2", &v), 0);
    cr_assert_eq(v, 0.25);
    cr_assert_eq(pfloat("1_000.5", &v), 0);
    cr_assert_eq(v, 1000.5);
    cr_assert_eq(pfloat("1e-400", &v), 0); /* underflow is no error */
    cr_assert_eq(v, 0.0);
    cr_assert_eq(pfloat("inf", &v), 0);
    cr_assert(isinf(v) && v > 0);
    cr_assert_eq(pfloat("-Infinity", &v), 0);
    cr_assert(isinf(v) && v < 0);
    cr_assert_eq(pfloat("NaN", &v), 0);
    cr_assert(isnan(v));
    v = 7;
    cr_assert_eq(pfloat("1e400", &v), -ERANGE);
    cr_assert_eq(pfloat("0x10", &v), -EINVAL); /* a hex mantissa needs 'p' */
    cr_assert_eq(pfloat("-nan", &v), -EINVAL);
    cr_assert_eq(pfloat("nan(1)", &v), -EINVAL);
    cr_assert_eq(pfloat(" 1", &v), -EINVAL);
    cr_assert_eq(pfloat("1 ", &v), -EINVAL);
    cr_assert_eq(pfloat("1_e5", &v), -EINVAL);
    cr_assert_eq(pfloat("infinit", &v), -EINVAL);
    cr_assert_eq(pfloat("", &v), -EINVAL);
    cr_assert_eq(pfloat("-", &v), -EINVAL);
    cr_assert_eq(v, 7);
    /* a number too long for the stack copy */
    char longnum[300];
    memset(longnum, '0', sizeof(longnum));
    memcpy(longnum, "0.", 2);
    memcpy(longnum + sizeof(longnum) - 2, "5", 2);
    cr_assert_eq(pfloat(longnum, &v), 0);
    cr_assert_float_eq(v, 5e-297, 1e-310);
}

Test(plugins_collector, lines_and_fields)
{
    char buf[] = "a b\n\n  c\td  e \nlast";
    char *end = buf + strlen(buf), *p = buf, *line;
    size_t len;
    const char *want[] = {"a b", "", "  c\td  e ", "last"};
    for (int i = 0; i < 4; i++) {
        line = plg_next_line(&p, end, &len);
        cr_assert_not_null(line);
        cr_assert_str_eq(line, want[i]);
        cr_assert_eq(len, strlen(want[i]));
    }
    cr_assert_null(plg_next_line(&p, end, &len));

    char l[] = "  c\td  e \r";
    char *f[2];
    cr_assert_eq(plg_fields(l, f, 2), 3);
    cr_assert_str_eq(f[0], "c");
    cr_assert_str_eq(f[1], "d");
    cr_assert_eq(plg_fields(l + strlen(l), f, 2), 0);

    char w[] = " x yz ";
    char *q = w, *t;
    cr_assert_not_null(t = plg_next_field(&q, &len));
    cr_assert_eq(len, 1);
    cr_assert_eq(*t, 'x');
    cr_assert_not_null(t = plg_next_field(&q, &len));
    cr_assert_eq(len, 2);
    cr_assert_eq(strncmp(t, "yz", 2), 0);
    cr_assert_null(plg_next_field(&q, &len));
    cr_assert_str_eq(w, " x yz ", "the string is left alone");
}

Test(plugins_collector, small_text_helpers)
{
    char num[PLG_U64_LEN];
    cr_assert_str_eq(plg_fmt_u64(num, 0), "0");
    cr_assert_str_eq(plg_fmt_u64(num, UINT64_MAX), "18446744073709551615");

    cr_assert(plg_glob_num("mc0", "mc"));
    cr_assert(plg_glob_num("cpu12x", "cpu"));
    cr_assert_not(plg_glob_num("cpufreq", "cpu"));
    cr_assert_not(plg_glob_num("cpu", "cpu"));

    char out[64];
    plg_valid_utf8("a\xff\xfe"
                   "b\xc3\xa9\xe2\x82",
                   out, sizeof(out));
    cr_assert_str_eq(out, "a\xef\xbf\xbd"
                          "b\xc3\xa9\xef\xbf\xbd");
    plg_valid_utf8("\xed\xa0\x80", out, sizeof(out)); /* a surrogate is invalid */
    cr_assert_str_eq(out, "\xef\xbf\xbd");
    cr_assert_eq(plg_utf8_len("\xf0\x9f\x98\x80", 4), 4);
    cr_assert_eq(plg_utf8_len("\xf0\x9f\x98", 3), 0);
    cr_assert_eq(plg_utf8_len("\xc0\xaf", 2), 0); /* overlong */

    cr_assert_str_eq(plg_strip_rootfs("/host/data", "/host"), "/data");
    cr_assert_str_eq(plg_strip_rootfs("/host", "/host"), "/");
    cr_assert_str_eq(plg_strip_rootfs("/data", "/host"), "/data");
    cr_assert_str_eq(plg_strip_rootfs("/data", "/"), "/data");
    char mp[] = "/mnt/a\\040b\\011c\\\\d";
    plg_unescape_mount(mp);
    cr_assert_str_eq(mp, "/mnt/a b\tc\\\\d");
}

Test(plugins_collector, number_files)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    harness_tmpdir(dir, "collector");
    snprintf(path, sizeof(path), "%s/n", dir);
    uint64_t u;
    int64_t i;
    double d;
    harness_write_file(path, " 42\n");
    cr_assert_eq(plg_read_u64(NULL, path, &u), 0);
    cr_assert_eq(u, 42);
    harness_write_file(path, "-7\n");
    cr_assert_eq(plg_read_i64(NULL, path, &i), 0);
    cr_assert_eq(i, -7);
    cr_assert_eq(plg_read_u64(NULL, path, &u), -EBADMSG);
    harness_write_file(path, "2.5\n");
    cr_assert_eq(plg_read_double(NULL, path, &d), 0);
    cr_assert_eq(d, 2.5);
    harness_write_file(path, "1 2\n");
    cr_assert_eq(plg_read_u64(NULL, path, &u), -EBADMSG);
    harness_write_file(path, "0000000000000000000000000000000000000000000000000000000000000001");
    cr_assert_eq(plg_read_u64(NULL, path, &u), -EBADMSG, "more than 63 bytes");
    cr_assert_eq(plg_read_u64(NULL, dir, &u), -EISDIR);
    snprintf(path, sizeof(path), "%s/missing", dir);
    cr_assert_eq(plg_read_u64(NULL, path, &u), -ENOENT);
    harness_rmtree(dir);
}

Test(plugins_collector, sysfs_reads)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], out[PLG_SYSFS_MAX + 1];
    harness_tmpdir(dir, "collector");
    snprintf(path, sizeof(path), "%s/attr", dir);
    harness_write_file(path, "\n  Samsung SSD 970 \t\n");
    cr_assert_eq(plg_sysfs_read(NULL, path, out), 15);
    cr_assert_str_eq(out, "Samsung SSD 970");
    /* one read of at most 128 bytes, then trimmed */
    char big[201];
    memset(big, 'x', 200);
    big[200] = '\0';
    memset(big + 120, ' ', 8);
    harness_write_file(path, big);
    cr_assert_eq(plg_sysfs_read(NULL, path, out), 120);
    /* relative to a directory fd, and re-read through a kept fd */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    cr_assert_geq(dfd, 0);
    harness_write_file(path, "\n1\n\n");
    bool at_open = true;
    cr_assert_eq(plg_sysfs_read_at(NULL, dfd, path, PLG_SPACE, out, &at_open), 1);
    cr_assert_str_eq(out, "1");
    cr_assert_not(at_open);
    cr_assert_eq(plg_sysfs_read_at(NULL, dfd, "attr", "\n", out, NULL), 1,
                 "a bare name is opened relative to dirfd");
    int fd = openat(dfd, "attr", O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(plg_sysfs_pread(fd, out, "\n"), 1);
    cr_assert_eq(plg_sysfs_pread(fd, out, NULL), 4);
    cr_assert_str_eq(out, "\n1\n\n");
    close(fd);
    snprintf(path, sizeof(path), "%s/missing", dir);
    cr_assert_eq(plg_sysfs_read_at(NULL, dfd, path, PLG_SPACE, out, &at_open), -ENOENT);
    cr_assert_str_eq(out, "");
    cr_assert(at_open);
    close(dfd);
    cr_assert_eq(plg_sysfs_read(NULL, dir, out), -EISDIR);
    cr_assert_eq(plg_sysfs_read_at(NULL, AT_FDCWD, dir, PLG_SPACE, out, &at_open), -EISDIR);
    cr_assert_not(at_open, "a directory opens, and then fails to read");
    harness_rmtree(dir);
}

/* A collector descriptor for the option helpers. */
static const struct plg_option test_options[] = {
    {"flag", "false", NULL},
    {"exclude", "^def$", NULL},
    {"ignored", NULL, NULL},
    {NULL, NULL, NULL},
};
static const struct plg_collector test_collector = {.name = "test", .options = test_options};

Test(plugins_collector, options)
{
    char err[256] = "";
    const char *values[3] = {NULL, NULL, NULL};
    struct plg_config cfg = {
        .collector = &test_collector, .values = values, .errbuf = err, .errcap = sizeof(err)};
    bool b = true;
    cr_assert_eq(plg_config_bool(&cfg, "flag", &b), 0);
    cr_assert_not(b);
    const char *yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        values[0] = yes[i];
        b = false;
        cr_assert_eq(plg_config_bool(&cfg, "flag", &b), 0, "%s", yes[i]);
        cr_assert(b, "%s", yes[i]);
    }
    values[0] = "yes";
    cr_assert_eq(plg_config_bool(&cfg, "flag", &b), -EINVAL);
    cr_assert_str_eq(err, "option flag: \"yes\" is not a boolean (true or false)");

    const char *v = "unset";
    cr_assert_null(plg_config_explicit(&cfg, "exclude"));
    cr_assert_eq(plg_config_renamed(&cfg, "exclude", "ignored", &v), 0);
    cr_assert_str_eq(v, "^def$");
    values[2] = "^old$";
    cr_assert_eq(plg_config_renamed(&cfg, "exclude", "ignored", &v), 0);
    cr_assert_str_eq(v, "^old$");
    values[1] = "";
    cr_assert_str_eq(plg_config_explicit(&cfg, "exclude"), "");
    err[0] = '\0';
    cr_assert_eq(plg_config_renamed(&cfg, "exclude", "ignored", &v), -EINVAL);
    cr_assert_str_eq(err, "--collector.test.ignored and --collector.test.exclude are mutually "
                          "exclusive");
    values[2] = ""; /* an empty old spelling counts as unset */
    cr_assert_eq(plg_config_renamed(&cfg, "exclude", "ignored", &v), 0);
    cr_assert_str_eq(v, "");
}
