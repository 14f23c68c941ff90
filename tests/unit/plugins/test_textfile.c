/*
 * Tests of the textfile collector against fixture directories in
 * tests/fixtures/textfile/. The expected outputs were checked against
 * node_exporter 1.5.0 (prometheus-node-exporter --collector.textfile.directory
 * pointed at the same directories): they are byte-identical apart from the
 * mtimes, which depend on the checkout and are computed here with stat().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "harness.h"

#define ERROR_0                                                                                    \
    "# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 "      \
    "otherwise\n"                                                                                  \
    "# TYPE node_textfile_scrape_error gauge\n"                                                    \
    "node_textfile_scrape_error 0\n"
#define ERROR_1                                                                                    \
    "# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 "      \
    "otherwise\n"                                                                                  \
    "# TYPE node_textfile_scrape_error gauge\n"                                                    \
    "node_textfile_scrape_error 1\n"
#define MTIME_HEAD                                                                                 \
    "# HELP node_textfile_mtime_seconds Unixtime mtime of textfiles successfully read.\n"          \
    "# TYPE node_textfile_mtime_seconds gauge\n"

/* The collector logs every failing file; keep the test output readable. */
static void quiet_logs(void)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0)
        cn_log_set_fd(fd);
}

TestSuite(plugins_textfile, .init = quiet_logs);

/* Runs the collector with directory=dir. */
static struct harness_result run_dir(const char *dir)
{
    char opt[2 * PATH_MAX];
    snprintf(opt, sizeof(opt), "directory=%s", dir);
    const char *opts[] = {opt, NULL};
    return harness_run("textfile", "textfile/ok", opts);
}

/* The mtime line 1.5 writes for path, from the file's current mtime. */
static char *mtime_line(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s", path);
    char num[40];
    exp_format_double(num, (double)st.st_mtim.tv_sec);
    char *line;
    cr_assert_gt(asprintf(&line, "node_textfile_mtime_seconds{file=\"%s\"} %s\n", path, num), 0);
    return line;
}

Test(plugins_textfile, no_directory_exports_only_the_error_gauge)
{
    /* The default, as in the reference scrape of node_exporter 1.5. */
    struct harness_result r = harness_run("textfile", "textfile/ok", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, ERROR_0);
    harness_free(&r);
}

Test(plugins_textfile, ok)
{
    char d[PATH_MAX], a[PATH_MAX + 16], b[PATH_MAX + 16], c[PATH_MAX + 16], h[PATH_MAX + 16];
    harness_fixture(d, "textfile/ok");
    snprintf(a, sizeof(a), "%s/a.prom", d);
    snprintf(b, sizeof(b), "%s/b.prom", d);
    snprintf(c, sizeof(c), "%s/c.prom", d);
    snprintf(h, sizeof(h), "%s/.hidden.prom", d);
    char *ma = mtime_line(a), *mb = mtime_line(b), *mc = mtime_line(c), *mh = mtime_line(h);
    char *want;
    cr_assert_gt(
        asprintf(&want,
                 "# HELP app_requests_total Requests served by the app.\n"
                 "# TYPE app_requests_total counter\n"
                 "app_requests_total{code=\"200\",handler=\"/\"} 1027\n"
                 "app_requests_total{code=\"500\",handler=\"\"} 3\n"
                 "# HELP app_temperature_celsius Temperature of the app's room.\n"
                 "# TYPE app_temperature_celsius gauge\n"
                 "app_temperature_celsius 21.5\n"
                 "# HELP apt_upgrades_pending Apt packages pending \"upgrade\" \\\\ by origin.\n"
                 "# TYPE apt_upgrades_pending gauge\n"
                 "apt_upgrades_pending{arch=\"all\",origin=\"Debian \\\"security\\\"\"} 0\n"
                 "apt_upgrades_pending{arch=\"amd64\",origin=\"Debian:bookworm/stable\"} 4\n"
                 "# HELP backup_last_success_timestamp_seconds Metric read from %s, %s\n"
                 "# TYPE backup_last_success_timestamp_seconds untyped\n"
                 "backup_last_success_timestamp_seconds 1.7e+09\n"
                 "backup_last_success_timestamp_seconds{job=\"db\"} 1.69e+09\n"
                 "# HELP hidden_metric Metric read from %s\n"
                 "# TYPE hidden_metric untyped\n"
                 "hidden_metric 1\n" MTIME_HEAD "%s%s%s%s" ERROR_0
                 "# HELP role Metric read from %s\n"
                 "# TYPE role untyped\n"
                 "role{dc=\"fra 1\",name=\"primary\"} 1\n",
                 a, b, h, mh, ma, mb, mc, b),
        0);
    struct harness_result r = run_dir(d);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    /* notes.txt and a.prom.bak are not *.prom files. */
    cr_assert_null(strstr(r.text, "ignored"));
    harness_free(&r);
    free(want);
    free(ma);
    free(mb);
    free(mc);
    free(mh);
}

Test(plugins_textfile, malformed_file_does_not_hide_the_others)
{
    char d[PATH_MAX], a[PATH_MAX + 16], c[PATH_MAX + 16];
    harness_fixture(d, "textfile/malformed");
    snprintf(a, sizeof(a), "%s/a.prom", d);
    snprintf(c, sizeof(c), "%s/c.prom", d);
    char *ma = mtime_line(a), *mc = mtime_line(c), *want;
    cr_assert_gt(asprintf(&want,
                          "# HELP good_one First good file.\n"
                          "# TYPE good_one gauge\n"
                          "good_one 1\n"
                          "# HELP good_two Metric read from %s\n"
                          "# TYPE good_two untyped\n"
                          "good_two{file=\"c\"} 2\n" MTIME_HEAD "%s%s" ERROR_1,
                          c, ma, mc),
                 0);
    struct harness_result r = run_dir(d);
    /* The collector succeeds (as 1.5 does); the error gauge says what failed. */
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
    free(want);
    free(ma);
    free(mc);
}

Test(plugins_textfile, files_with_timestamps_are_skipped)
{
    /* b.prom has a timestamp, c.prom the timestamp 0: both are refused. */
    char d[PATH_MAX], a[PATH_MAX + 16];
    harness_fixture(d, "textfile/timestamps");
    snprintf(a, sizeof(a), "%s/a.prom", d);
    char *ma = mtime_line(a), *want;
    cr_assert_gt(asprintf(&want,
                          "# HELP fresh Metric read from %s\n"
                          "# TYPE fresh untyped\n"
                          "fresh 1\n" MTIME_HEAD "%s" ERROR_1,
                          a, ma),
                 0);
    struct harness_result r = run_dir(d);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
    free(want);
    free(ma);
}

Test(plugins_textfile, conflicting_families_keep_the_first_file)
{
    /*
     * b.prom redeclares "shared" as a counter and "helpy" with other HELP,
     * and its untyped lat_count collides with a.prom's summary "lat": the
     * registry of 1.5 drops those series of b.prom and keeps the rest; none
     * of this is a file error. "dup" has the same generated HELP in both
     * files, so it merges; dup{x=""} is b.prom's label-filled "dup 2".
     */
    char d[PATH_MAX], a[PATH_MAX + 16], b[PATH_MAX + 16];
    harness_fixture(d, "textfile/conflict");
    snprintf(a, sizeof(a), "%s/a.prom", d);
    snprintf(b, sizeof(b), "%s/b.prom", d);
    char *ma = mtime_line(a), *mb = mtime_line(b), *want;
    cr_assert_gt(asprintf(&want,
                          "# HELP dup Metric read from %s, %s\n"
                          "# TYPE dup untyped\n"
                          "dup 1\n"
                          "dup{x=\"\"} 2\n"
                          "dup{x=\"1\"} 3\n"
                          "# HELP fine Metric read from %s\n"
                          "# TYPE fine untyped\n"
                          "fine 1\n"
                          "# HELP helpy One.\n"
                          "# TYPE helpy untyped\n"
                          "helpy 1\n"
                          "# HELP lat Metric read from %s\n"
                          "# TYPE lat summary\n"
                          "lat_sum 1\n"
                          "lat_count 2\n" MTIME_HEAD "%s%s" ERROR_0
                          "# HELP shared Metric read from %s, %s\n"
                          "# TYPE shared gauge\n"
                          "shared{src=\"a\"} 1\n",
                          a, b, b, a, ma, mb, a, b),
                 0);
    struct harness_result r = run_dir(d);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
    free(want);
    free(ma);
    free(mb);
}

Test(plugins_textfile, histogram_and_summary)
{
    /* Buckets sorted, the last of a repeated le kept, counts truncated to
     * integers as 1.5's uint64 conversion does, +Inf added from the count. */
    char d[PATH_MAX], h[PATH_MAX + 16];
    harness_fixture(d, "textfile/histogram");
    snprintf(h, sizeof(h), "%s/h.prom", d);
    char *mh = mtime_line(h), *want;
    cr_assert_gt(asprintf(&want,
                          "# HELP job_duration_seconds How long the job ran.\n"
                          "# TYPE job_duration_seconds histogram\n"
                          "job_duration_seconds_bucket{job=\"backup\",le=\"30\"} 0\n"
                          "job_duration_seconds_bucket{job=\"backup\",le=\"60\"} 1\n"
                          "job_duration_seconds_bucket{job=\"backup\",le=\"300\"} 3\n"
                          "job_duration_seconds_bucket{job=\"backup\",le=\"+Inf\"} 3\n"
                          "job_duration_seconds_sum{job=\"backup\"} 471.5\n"
                          "job_duration_seconds_count{job=\"backup\"} 3\n"
                          "job_duration_seconds_bucket{job=\"rotate\",le=\"60\"} 2\n"
                          "job_duration_seconds_bucket{job=\"rotate\",le=\"+Inf\"} 2\n"
                          "job_duration_seconds_sum{job=\"rotate\"} 12\n"
                          "job_duration_seconds_count{job=\"rotate\"} 2\n"
                          "# HELP job_size_bytes Size of what the job wrote.\n"
                          "# TYPE job_size_bytes summary\n"
                          "job_size_bytes{job=\"backup\",quantile=\"0.5\"} 1.2e+09\n"
                          "job_size_bytes{job=\"backup\",quantile=\"0.99\"} 1.5e+09\n"
                          "job_size_bytes_sum{job=\"backup\"} 8.1e+09\n"
                          "job_size_bytes_count{job=\"backup\"} 6\n" MTIME_HEAD "%s" ERROR_0,
                          mh),
                 0);
    struct harness_result r = run_dir(d);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
    free(want);
    free(mh);
}

Test(plugins_textfile, directory_may_be_a_glob)
{
    char d[PATH_MAX], pat[PATH_MAX + 16], a[PATH_MAX + 16], b[PATH_MAX + 16];
    harness_fixture(d, "textfile/glob");
    snprintf(pat, sizeof(pat), "%s/d*", d);
    snprintf(a, sizeof(a), "%s/d1/a.prom", d);
    snprintf(b, sizeof(b), "%s/d2/a.prom", d);
    char *ma = mtime_line(a), *mb = mtime_line(b), *want;
    cr_assert_gt(asprintf(&want,
                          "# HELP first_dir Metric read from %s\n"
                          "# TYPE first_dir untyped\n"
                          "first_dir 1\n" MTIME_HEAD "%s%s" ERROR_0
                          "# HELP second_dir Metric read from %s\n"
                          "# TYPE second_dir untyped\n"
                          "second_dir 2\n",
                          a, ma, mb, b),
                 0);
    struct harness_result r = run_dir(pat);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
    free(want);
    free(ma);
    free(mb);
}

Test(plugins_textfile, file_label_is_the_cleaned_path)
{
    /* filepath.Join cleans "dir/../malformed/./" + name. */
    char d[PATH_MAX], dir[PATH_MAX + 64], a[PATH_MAX + 32];
    harness_fixture(d, "textfile");
    snprintf(dir, sizeof(dir), "%s/ok/../malformed/./", d);
    snprintf(a, sizeof(a), "%s/malformed/a.prom", d);
    char *ma = mtime_line(a);
    struct harness_result r = run_dir(dir);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    ma[strlen(ma) - 1] = '\0';
    cr_assert(harness_has_line(r.text, ma), "%s", r.text);
    harness_free(&r);
    free(ma);
}

Test(plugins_textfile, directory_entries_named_prom_and_empty_families)
{
    /* sub.prom is a directory, which 1.5 reads as an empty file; declared.prom
     * has HELP and TYPE but no sample, so no family. Both count as read. */
    char d[PATH_MAX], a[PATH_MAX + 16], s[PATH_MAX + 16];
    harness_fixture(d, "textfile/quirks");
    snprintf(a, sizeof(a), "%s/declared.prom", d);
    snprintf(s, sizeof(s), "%s/sub.prom", d);
    char *ma = mtime_line(a), *ms = mtime_line(s), *want;
    cr_assert_gt(asprintf(&want, MTIME_HEAD "%s%s" ERROR_0, ma, ms), 0);
    struct harness_result r = run_dir(d);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
    free(want);
    free(ma);
    free(ms);
}

Test(plugins_textfile, empty_directory)
{
    char tmpl[PATH_MAX];
    struct harness_result r = run_dir(harness_tmpdir(tmpl, "textfile"));
    harness_rmtree(tmpl);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, ERROR_0);
    harness_free(&r);
}

Test(plugins_textfile, missing_directory)
{
    char d[PATH_MAX];
    harness_fixture(d, "textfile/does-not-exist");
    struct harness_result r = run_dir(d);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, ERROR_1);
    harness_free(&r);
}

Test(plugins_textfile, file_over_64_mib_is_an_error)
{
    char tmpl[PATH_MAX], big[PATH_MAX + 16], small[PATH_MAX + 16];
    harness_tmpdir(tmpl, "textfile");
    snprintf(big, sizeof(big), "%s/big.prom", tmpl);
    snprintf(small, sizeof(small), "%s/small.prom", tmpl);
    harness_write_file(big, "");
    cr_assert_eq(truncate(big, (64 << 20) + 1), 0); /* sparse */
    harness_write_file(small, "small 1\n");
    char *ms = mtime_line(small), *want;
    cr_assert_gt(asprintf(&want,
                          MTIME_HEAD "%s" ERROR_1 "# HELP small Metric read from %s\n"
                                     "# TYPE small untyped\n"
                                     "small 1\n",
                          ms, small),
                 0);
    struct harness_result r = run_dir(tmpl);
    harness_rmtree(tmpl);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
    free(want);
    free(ms);
}

Test(plugins_textfile, a_failing_file_is_logged_once)
{
    char d[PATH_MAX], opt[PATH_MAX + 16], logpath[] = "/tmp/cairn-textfile-log-XXXXXX";
    harness_fixture(d, "textfile/malformed");
    int fd = mkstemp(logpath);
    cr_assert_geq(fd, 0);
    cn_log_set_fd(fd);
    snprintf(opt, sizeof(opt), "directory=%s", d);
    const char *opts[] = {opt, NULL};
    struct harness_instance h;
    harness_start(&h, "textfile", "textfile/malformed", opts);
    for (int i = 0; i < 2; i++) {
        struct harness_result r = harness_cycle(&h, NULL);
        cr_assert_eq(r.rc, 0);
        harness_free(&r);
    }
    harness_stop(&h);
    char buf[4096] = {0};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(logpath);
    cr_assert_gt(n, 0);
    const char *first = strstr(buf, "failed to collect textfile data");
    cr_assert_not_null(first, "%s", buf);
    cr_assert_null(strstr(first + 1, "failed to collect textfile data"), "%s", buf);
    cr_assert_not_null(strstr(buf, "text format parsing error in line 3"), "%s", buf);
    cr_assert_not_null(strstr(buf, "/malformed/b.prom"), "%s", buf);
}

Test(plugins_textfile, fifo_is_refused_instead_of_blocking, .timeout = 10)
{
    char tmpl[PATH_MAX], fifo[PATH_MAX + 16], ok[PATH_MAX + 16];
    harness_tmpdir(tmpl, "textfile");
    snprintf(fifo, sizeof(fifo), "%s/a.prom", tmpl);
    snprintf(ok, sizeof(ok), "%s/b.prom", tmpl);
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    harness_write_file(ok, "after_fifo 1\n");
    char *mo = mtime_line(ok), *want;
    cr_assert_gt(asprintf(&want,
                          "# HELP after_fifo Metric read from %s\n"
                          "# TYPE after_fifo untyped\n"
                          "after_fifo 1\n" MTIME_HEAD "%s" ERROR_1,
                          ok, mo),
                 0);
    struct harness_result r = run_dir(tmpl);
    harness_rmtree(tmpl);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, want);
    harness_free(&r);
    free(want);
    free(mo);
}
