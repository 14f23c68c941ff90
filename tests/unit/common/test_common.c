/* common: durations, buffers, arenas, paths, number parsing, allocation
 * failure injection and the log line format. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

Test(common_time, durations)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {{"0", 0},          {"15s", 15000},      {"500ms", 500},
              {"1m", 60000},     {"1h30m", 5400000},  {"2d", 172800000},
              {"1w", 604800000}, {"1y", 31536000000}, {"1m500ms", 60500}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ms = -1;
        cr_expect_eq(cn_duration_parse(ok[i].s, &ms), 0, "%s", ok[i].s);
        cr_expect_eq(ms, ok[i].ms, "%s", ok[i].s);
    }
    static const char *const bad[] = {"",     "s",  "15",  "1.5s", "-1s",
                                      "1s1m", "1x", "1ss", "15 s", "1m1m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms;
        cr_expect_eq(cn_duration_parse(bad[i], &ms), -EINVAL, "%s", bad[i]);
    }
    int64_t ms;
    cr_expect_eq(cn_duration_parse("99999999999999999999s", &ms), -ERANGE);
    cr_expect_eq(cn_duration_parse("999999999999y", &ms), -ERANGE);
}

Test(common_buf, appends_and_printf)
{
    struct cn_buf b;
    cn_buf_init(&b);
    cr_assert_str_eq(cn_buf_cstr(&b), "");
    cn_buf_puts(&b, "abc");
    cn_buf_putc(&b, '-');
    for (int i = 0; i < 1000; i++)
        cn_buf_printf(&b, "%d,", i);
    cr_assert_eq(b.err, 0);
    cr_assert(strncmp(cn_buf_cstr(&b), "abc-0,1,2,", 10) == 0);
    cr_assert_eq(b.len, strlen(b.data));
    size_t len;
    char *d = cn_buf_steal(&b, &len);
    cr_assert_eq(len, strlen(d));
    cr_assert_eq(b.data, NULL);
    free(d);
}

Test(common_buf, sticky_error_on_allocation_failure)
{
    struct cn_buf b;
    cn_buf_init(&b);
    cn_alloc_fail_after(0);
    cn_buf_puts(&b, "abc");
    cn_alloc_fail_after(-1);
    cr_assert_eq(b.err, -ENOMEM);
    cn_buf_puts(&b, "later appends are ignored");
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(cn_buf_cstr(&b), "");
    cn_buf_free(&b);
}

Test(common_arena, alignment_and_large_blocks)
{
    struct cn_arena *a = cn_arena_create(1024);
    cr_assert_not_null(a);
    for (int i = 0; i < 200; i++) {
        char *p = cn_arena_alloc(a, (size_t)i % 37 + 1);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)i % 37 + 1);
    }
    char *big = cn_arena_alloc(a, 100000);
    cr_assert_not_null(big);
    memset(big, 1, 100000);
    cr_assert_str_eq(cn_arena_strdup(a, "hello"), "hello");
    cr_assert_str_eq(cn_arena_strndup(a, "hello", 3), "hel");
    cr_assert_geq(cn_arena_size(a), 100000);
    cn_arena_destroy(a);
    cn_arena_destroy(NULL);
}

Test(common_file, path_join)
{
    char out[32];
    cr_assert_str_eq(cn_path_join(out, sizeof(out), "/proc", "stat", NULL), "/proc/stat");
    cr_assert_str_eq(cn_path_join(out, sizeof(out), "/proc/", "/stat", NULL), "/proc/stat");
    cr_assert_str_eq(cn_path_join(out, sizeof(out), "/", "etc", "os-release", NULL),
                     "/etc/os-release");
    cr_assert_null(cn_path_join(out, 8, "/proc", "stat", NULL));
}

Test(common_file, read_file)
{
    char path[] = "/tmp/cairn-read-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_eq(write(fd, "0123456789", 10), 10);
    close(fd);
    char buf[16];
    cr_assert_eq(cn_read_file(path, buf, sizeof(buf)), 10);
    cr_assert_str_eq(buf, "0123456789");
    char small[8];
    cr_assert_eq(cn_read_file(path, small, sizeof(small)), -EFBIG);
    cr_assert_eq(cn_read_file("/nonexistent/file", buf, sizeof(buf)), -ENOENT);
    struct cn_buf b;
    cn_buf_init(&b);
    cr_assert_eq(cn_read_file_buf(path, &b, 100), 0);
    cr_assert_str_eq(cn_buf_cstr(&b), "0123456789");
    cr_assert_eq(cn_read_file_buf(path, &b, 5), -EFBIG);
    cn_buf_free(&b);
    unlink(path);
}

Test(common_file, numbers)
{
    uint64_t u;
    int64_t i;
    double d;
    cr_assert_eq(cn_parse_u64(" 18446744073709551615\n", &u), 0);
    cr_assert_eq(u, UINT64_MAX);
    cr_assert_eq(cn_parse_u64("18446744073709551616", &u), -ERANGE);
    cr_assert_eq(cn_parse_u64("-1", &u), -EINVAL);
    cr_assert_eq(cn_parse_u64("12abc", &u), -EINVAL);
    cr_assert_eq(cn_parse_u64("", &u), -EINVAL);
    cr_assert_eq(cn_parse_i64("-42", &i), 0);
    cr_assert_eq(i, -42);
    cr_assert_eq(cn_parse_i64("4 2", &i), -EINVAL);
    cr_assert_eq(cn_parse_double("2.5e3", &d), 0);
    cr_assert_eq(d, 2500.0);
    cr_assert_eq(cn_parse_double("1e999", &d), -ERANGE);
    cr_assert_eq(cn_parse_double("x", &d), -EINVAL);
    char s[] = "  padded \n";
    cr_assert_str_eq(cn_trim(s), "padded");
}

Test(common_alloc, failure_injection)
{
    cn_alloc_fail_after(1);
    void *a = cn_malloc(8);
    void *b = cn_malloc(8);
    cn_alloc_fail_after(-1);
    cr_assert_not_null(a);
    cr_assert_null(b);
    free(a);
    char *c = cn_strdup("x");
    cr_assert_str_eq(c, "x");
    free(c);
}

static char *capture(enum cn_log_format fmt, enum cn_log_level min, enum cn_log_level lvl)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cn_log_set_fd(p[1]);
    cn_log_setup(min, fmt);
    cn_log(lvl, "test", "hello world", "key", "plain", "quoted", "a \"b\"=c", "empty", NULL, NULL);
    cn_log_set_fd(2);
    cn_log_setup(CN_LOG_INFO, CN_LOG_LOGFMT);
    close(p[1]);
    static char buf[1024];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

Test(common_log, logfmt_line)
{
    char *line = capture(CN_LOG_LOGFMT, CN_LOG_INFO, CN_LOG_WARN);
    const char *rest = strstr(line, " level=");
    cr_assert(strncmp(line, "ts=", 3) == 0 && rest, "%s", line);
    cr_assert_str_eq(rest, " level=warn module=test msg=\"hello world\" key=plain "
                           "quoted=\"a \\\"b\\\"=c\" empty=\"\"\n");
}

Test(common_log, json_line)
{
    char *line = capture(CN_LOG_JSON, CN_LOG_DEBUG, CN_LOG_ERROR);
    const char *rest = strstr(line, ",\"level\"");
    cr_assert(strncmp(line, "{\"ts\":\"", 7) == 0 && rest, "%s", line);
    cr_assert_str_eq(rest, ",\"level\":\"error\",\"module\":\"test\",\"msg\":\"hello world\","
                           "\"key\":\"plain\",\"quoted\":\"a \\\"b\\\"=c\",\"empty\":\"\"}\n");
}

Test(common_log, below_level_is_silent)
{
    char *line = capture(CN_LOG_LOGFMT, CN_LOG_WARN, CN_LOG_INFO);
    cr_assert_str_eq(line, "");
}

Test(common_log, parse_names)
{
    enum cn_log_level l;
    enum cn_log_format f;
    cr_assert_eq(cn_log_level_parse("debug", &l), 0);
    cr_assert_eq(l, CN_LOG_DEBUG);
    cr_assert_eq(cn_log_level_parse("verbose", &l), -EINVAL);
    cr_assert_eq(cn_log_format_parse("json", &f), 0);
    cr_assert_eq(f, CN_LOG_JSON);
    cr_assert_eq(cn_log_format_parse("xml", &f), -EINVAL);
}

Test(common_alloc, array_grow)
{
    int *v = NULL;
    size_t cap = 0;
    cr_assert_eq(cn_array_grow((void **)&v, &cap, 3, sizeof(*v), 4), 0);
    cr_assert_eq(cap, 4);
    cr_assert_eq(cn_array_grow((void **)&v, &cap, 4, sizeof(*v), 4), 0);
    cr_assert_eq(cap, 4, "no growth when it fits");
    cr_assert_eq(cn_array_grow((void **)&v, &cap, 9, sizeof(*v), 4), 0);
    cr_assert_eq(cap, 16);
    v[15] = 1;
    cn_alloc_fail_after(0);
    int rc = cn_array_grow((void **)&v, &cap, 17, sizeof(*v), 4);
    cn_alloc_fail_after(-1);
    cr_assert_eq(rc, -ENOMEM);
    cr_assert_eq(cap, 16, "unchanged on failure");
    cr_assert_eq(v[15], 1);
    cr_assert_eq(cn_array_grow((void **)&v, &cap, SIZE_MAX / 2, sizeof(*v), 4), -ENOMEM);
    free(v);
}

Test(common, utf8_encode_as_go)
{
    char out[4];
    cr_assert_eq(cn_utf8_encode(out, 'A'), 1);
    cr_assert_eq(out[0], 'A');
    cr_assert_eq(cn_utf8_encode(out, 0xE9), 2);
    cr_assert_eq(memcmp(out, "\xc3\xa9", 2), 0);
    cr_assert_eq(cn_utf8_encode(out, 0x20AC), 3);
    cr_assert_eq(memcmp(out, "\xe2\x82\xac", 3), 0);
    cr_assert_eq(cn_utf8_encode(out, 0x1F600), 4);
    cr_assert_eq(memcmp(out, "\xf0\x9f\x98\x80", 4), 0);
    /* surrogates and values past U+10FFFF become U+FFFD */
    cr_assert_eq(cn_utf8_encode(out, 0xD800), 3);
    cr_assert_eq(memcmp(out, "\xef\xbf\xbd", 3), 0);
    cr_assert_eq(cn_utf8_encode(out, 0x110000), 3);
    cr_assert_eq(memcmp(out, "\xef\xbf\xbd", 3), 0);
}

Test(common_alloc, strv_dup)
{
    const char *v[] = {"a", "", "c=d", NULL};
    char **d = cn_strv_dup(v);
    cr_assert_not_null(d);
    for (int i = 0; i < 3; i++) {
        cr_expect_str_eq(d[i], v[i]);
        cr_expect_neq((void *)d[i], (void *)v[i]);
    }
    cr_expect_null(d[3]);
    cn_strv_free(d);
    char **e = cn_strv_dup(NULL);
    cr_assert_not_null(e);
    cr_expect_null(e[0]);
    cn_strv_free(e);
    cn_strv_free(NULL);
    cn_alloc_fail_after(2); /* the array and "a"; "" fails */
    cr_expect_null(cn_strv_dup(v));
    cn_alloc_fail_after(-1);
}

Test(common_time, realtime_after)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec t = cn_realtime_after_ns(1500000000);
    int64_t d = (t.tv_sec - now.tv_sec) * 1000000000LL + (t.tv_nsec - now.tv_nsec);
    cr_expect(d >= 1500000000LL && d < 1500000000LL + 1000000000LL, "%lld", (long long)d);
    cr_expect(t.tv_nsec >= 0 && t.tv_nsec < 1000000000);
    struct timespec p = cn_realtime_after_ns(-5);
    cr_expect(p.tv_sec > now.tv_sec || (p.tv_sec == now.tv_sec && p.tv_nsec >= now.tv_nsec));
}

Test(common_parse, hex_digit)
{
    cr_assert_eq(cn_hex_digit('0'), 0);
    cr_assert_eq(cn_hex_digit('9'), 9);
    cr_assert_eq(cn_hex_digit('a'), 10);
    cr_assert_eq(cn_hex_digit('F'), 15);
    cr_assert_eq(cn_hex_digit('g'), -1);
    cr_assert_eq(cn_hex_digit('/'), -1);
    cr_assert_eq(cn_hex_digit((char)0xc3), -1);
}
