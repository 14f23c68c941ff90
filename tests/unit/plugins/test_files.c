/* The collectors' cache of open procfs/sysfs files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plugins/plugins.h"

Test(plugins_files, procfs_is_reread_through_one_descriptor)
{
    struct plg_files *f = plg_files_create(8);
    struct plg_collect c = {.files = f};
    char a[256], b[256];
    cr_assert_gt(plg_read(&c, "/proc/uptime", a, sizeof(a)), 0);
    cr_assert_eq(plg_files_open_count(f), 1);
    struct timespec ts = {0, 30000000};
    nanosleep(&ts, NULL);
    cr_assert_gt(plg_read(&c, "/proc/uptime", b, sizeof(b)), 0);
    cr_assert_eq(plg_files_open_count(f), 1, "the second read reuses the descriptor");
    cr_assert_str_neq(a, b, "the kernel produced fresh content: %s / %s", a, b);
    plg_files_destroy(f);
}

Test(plugins_files, same_results_as_plain_reads)
{
    struct plg_files *f = plg_files_create(8);
    struct plg_collect c = {.files = f};
    char a[64], b[64];
    cr_assert_eq(plg_read(&c, "/proc/self/nonexistent", a, sizeof(a)), -ENOENT);
    cr_assert_eq(plg_read(&c, "/proc/self/status", a, 8), -EFBIG);
    cr_assert_eq(cn_read_file("/proc/self/status", b, 8), -EFBIG);
    long n = plg_read(&c, "/proc/sys/kernel/ostype", a, sizeof(a));
    cr_assert_eq(n, cn_read_file("/proc/sys/kernel/ostype", b, sizeof(b)));
    cr_assert_str_eq(a, b);
    struct cn_buf buf;
    cn_buf_init(&buf);
    cr_assert_eq(plg_read_buf(&c, "/proc/self/status", &buf, 1 << 20), 0);
    cr_assert(strstr(cn_buf_cstr(&buf), "Name:") != NULL);
    cr_assert_eq(plg_read_buf(&c, "/proc/self/status", &buf, 16), -EFBIG);
    cn_buf_free(&buf);
    plg_files_destroy(f);
}

Test(plugins_files, regular_files_are_not_kept_open)
{
    char dir[] = "/tmp/cairn-files-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64], tmp[64];
    snprintf(path, sizeof(path), "%s/os-release", dir);
    snprintf(tmp, sizeof(tmp), "%s/new", dir);
    FILE *fp = fopen(path, "w");
    fputs("old\n", fp);
    fclose(fp);
    struct plg_files *f = plg_files_create(8);
    struct plg_collect c = {.files = f};
    char buf[64];
    cr_assert_eq(plg_read(&c, path, buf, sizeof(buf)), 4);
    cr_assert_eq(plg_files_open_count(f), 0);
    fp = fopen(tmp, "w");
    fputs("new\n", fp);
    fclose(fp);
    cr_assert_eq(rename(tmp, path), 0);
    cr_assert_eq(plg_read(&c, path, buf, sizeof(buf)), 4);
    cr_assert_str_eq(buf, "new\n", "a file replaced by rename is read anew");
    plg_files_destroy(f);
    unlink(path);
    rmdir(dir);
}

Test(plugins_files, sweep_closes_what_a_cycle_did_not_read)
{
    struct plg_files *f = plg_files_create(8);
    struct plg_collect c = {.files = f};
    char buf[4096];
    plg_read(&c, "/proc/loadavg", buf, sizeof(buf));
    plg_read(&c, "/proc/uptime", buf, sizeof(buf));
    plg_files_sweep(f);
    cr_assert_eq(plg_files_open_count(f), 2);
    plg_read(&c, "/proc/loadavg", buf, sizeof(buf));
    plg_files_sweep(f);
    cr_assert_eq(plg_files_open_count(f), 1);
    plg_files_sweep(f);
    cr_assert_eq(plg_files_open_count(f), 0);
    plg_files_sweep(NULL);
    plg_files_destroy(f);
}

Test(plugins_files, bounded)
{
    struct plg_files *f = plg_files_create(2);
    struct plg_collect c = {.files = f};
    static const char *const paths[] = {"/proc/loadavg", "/proc/uptime", "/proc/version",
                                        "/proc/sys/kernel/ostype"};
    char buf[4096], want[4096];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 4; i++) {
            long n = plg_read(&c, paths[i], buf, sizeof(buf));
            cr_assert_gt(n, 0, "%s", paths[i]);
            if (i >= 2) {
                cn_read_file(paths[i], want, sizeof(want));
                cr_assert_str_eq(buf, want);
            }
        }
    cr_assert_eq(plg_files_open_count(f), 2);
    plg_files_destroy(f);
}

Test(plugins_files, without_a_cache)
{
    char a[256];
    struct plg_collect c = {0};
    cr_assert_gt(plg_read(&c, "/proc/loadavg", a, sizeof(a)), 0);
    cr_assert_gt(plg_read(NULL, "/proc/loadavg", a, sizeof(a)), 0);
}

Test(plugins_files, a_vanished_file_is_not_read_stale)
{
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)child);
    struct plg_files *f = plg_files_create(8);
    struct plg_collect c = {.files = f};
    cr_assert_gt(plg_read(&c, path, buf, sizeof(buf)), 0);
    cr_assert_eq(plg_files_open_count(f), 1);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    long rc = plg_read(&c, path, buf, sizeof(buf));
    cr_assert_lt(rc, 0, "read %ld bytes of a reaped process", rc);
    cr_assert_eq(plg_files_open_count(f), 0, "the dead descriptor is dropped");
    plg_files_destroy(f);
}
