#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MP_DATA "{device=\"/dev/vdb1\",fstype=\"xfs\",mountpoint=\"/data\"}"
#define MP_ROOT "{device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"}"
#define MP_CACHE "{device=\"tmpfs\",fstype=\"tmpfs\",mountpoint=\"/srv/cache\"}"
#define MP_BACKUP "{device=\"/dev/vdc1\",fstype=\"ext4\",mountpoint=\"/srv/backup disk\"}"
#define MP_GONE "{device=\"/dev/vdd1\",fstype=\"ext4\",mountpoint=\"/srv/gone\"}"
#define MP_TAB "{device=\"/dev/vde1\",fstype=\"vfat\",mountpoint=\"/srv/tab\tdir\"}"

/* Checks the seven series of a statfs-able mount against statfs(2) of the
 * same path taken before and after the collection: totals must be equal,
 * free counts must lie between the two readings (plus a little slack for
 * other writers on the disk) so that exchanging fields is caught. */
static void check_statfs_series(const char *text, const char *labels, const char *path,
                                const struct statfs *a, const struct statfs *b, double ro)
{
    char series[512];
    double bs = (double)a->f_bsize;
    struct {
        const char *name;
        double va, vb, slack;
    } want[] = {
        {"node_filesystem_size_bytes", (double)a->f_blocks * bs, (double)b->f_blocks * bs, 0},
        {"node_filesystem_files", (double)a->f_files, (double)b->f_files, 0},
        {"node_filesystem_free_bytes", (double)a->f_bfree * bs, (double)b->f_bfree * bs, 64e6},
        {"node_filesystem_avail_bytes", (double)a->f_bavail * bs, (double)b->f_bavail * bs, 64e6},
        {"node_filesystem_files_free", (double)a->f_ffree, (double)b->f_ffree, 1000},
        {"node_filesystem_readonly", ro, ro, 0},
        {"node_filesystem_device_error", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(series, sizeof(series), "%s%s", want[i].name, labels);
        double v = harness_sample(text, series);
        double lo = (want[i].va < want[i].vb ? want[i].va : want[i].vb) - want[i].slack;
        double hi = (want[i].va > want[i].vb ? want[i].va : want[i].vb) + want[i].slack;
        cr_assert(v >= lo && v <= hi, "%s = %.17g, statfs of %s says %.17g..%.17g", series, v, path,
                  want[i].va, want[i].vb);
    }
}

static void fixture_statfs(const char *rel, struct statfs *out)
{
    char path[PATH_MAX];
    harness_fixture(path, rel);
    cr_assert_eq(statfs(path, out), 0, "statfs %s", path);
}

Test(plugins_filesystem, ok)
{
    struct statfs a_root, a_data, a_cache, a_backup, b_root, b_data, b_cache, b_backup;
    fixture_statfs("filesystem/ok/root", &a_root);
    fixture_statfs("filesystem/ok/root/data", &a_data);
    fixture_statfs("filesystem/ok/root/srv/cache", &a_cache);
    fixture_statfs("filesystem/ok/root/srv/backup disk", &a_backup);
    struct harness_result r = harness_run("filesystem", "filesystem/ok", NULL);
    fixture_statfs("filesystem/ok/root", &b_root);
    fixture_statfs("filesystem/ok/root/data", &b_data);
    fixture_statfs("filesystem/ok/root/srv/cache", &b_cache);
    fixture_statfs("filesystem/ok/root/srv/backup disk", &b_backup);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    const char *t = r.text;

    const char *const header[] = {
        "# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in "
        "bytes.",
        "# TYPE node_filesystem_avail_bytes gauge",
        "# HELP node_filesystem_device_error Whether an error occurred while getting statistics "
        "for the given device.",
        "# TYPE node_filesystem_device_error gauge",
        "# HELP node_filesystem_files Filesystem total file nodes.",
        "# TYPE node_filesystem_files gauge",
        "# HELP node_filesystem_files_free Filesystem total free file nodes.",
        "# TYPE node_filesystem_files_free gauge",
        "# HELP node_filesystem_free_bytes Filesystem free space in bytes.",
        "# TYPE node_filesystem_free_bytes gauge",
        "# HELP node_filesystem_readonly Filesystem read-only status.",
        "# TYPE node_filesystem_readonly gauge",
        "# HELP node_filesystem_size_bytes Filesystem size in bytes.",
        "# TYPE node_filesystem_size_bytes gauge",
    };
    for (size_t i = 0; i < sizeof(header) / sizeof(header[0]); i++)
        cr_assert(harness_has_line(t, header[i]), "missing %s in\n%s", header[i], t);

    check_statfs_series(t, MP_ROOT, "/", &a_root, &b_root, 0);
    check_statfs_series(t, MP_DATA, "/data", &a_data, &b_data, 1);
    check_statfs_series(t, MP_CACHE, "/srv/cache", &a_cache, &b_cache, 0);
    check_statfs_series(t, MP_BACKUP, "/srv/backup disk", &a_backup, &b_backup, 0);

    /* statfs fails: device_error 1 and nothing else */
    cr_assert(harness_has_line(t, "node_filesystem_device_error" MP_GONE " 1"), "%s", t);
    cr_assert(harness_has_line(t, "node_filesystem_device_error" MP_TAB " 1"), "%s", t);
    cr_assert_eq(harness_count_lines(t, "mountpoint=\"/srv/gone\""), 1, "%s", t);
    cr_assert_eq(harness_count_lines(t, "mountpoint=\"/srv/tab\tdir\""), 1, "%s", t);

    /* the duplicate / is exported once; 6 mounts in all, 4 of them with 7 series
     */
    cr_assert_eq(harness_count_lines(t, "mountpoint=\"/\""), 7, "%s", t);
    cr_assert_eq(harness_count_prefix(t, "node_filesystem_device_error{"), 6, "%s", t);
    cr_assert_eq(harness_count_prefix(t, "node_filesystem_size_bytes{"), 4, "%s", t);

    /* excluded by mount point or by type */
    cr_assert_null(strstr(t, "/proc"));
    cr_assert_null(strstr(t, "/sys"));
    cr_assert_null(strstr(t, "mountpoint=\"/dev"));
    cr_assert_null(strstr(t, "/srv/netns"));
    cr_assert_null(strstr(t, "docker"));
    cr_assert_null(strstr(t, "credentials"));
    harness_free(&r);
}

Test(plugins_filesystem, falls_back_to_proc_mounts)
{
    struct statfs a, b;
    fixture_statfs("filesystem/fallback/root", &a);
    struct harness_result r = harness_run("filesystem", "filesystem/fallback", NULL);
    fixture_statfs("filesystem/fallback/root", &b);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    check_statfs_series(r.text, MP_ROOT, "/", &a, &b, 1);
    harness_free(&r);
}

Test(plugins_filesystem, garbage)
{
    struct harness_result r = harness_run("filesystem", "filesystem/garbage", NULL);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert(strstr(r.errmsg, "malformed mount point information") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "1/mounts") != NULL, "%s", r.errmsg);
    cr_assert(strstr(r.errmsg, "\"/dev/vdb1 /data xfs\"") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_filesystem, missing)
{
    struct harness_result r = harness_run("filesystem", "filesystem/missing", NULL);
    cr_assert_eq(r.rc, -ENOENT);
    cr_assert(strstr(r.errmsg, "/proc/mounts") != NULL, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_filesystem, mount_points_exclude)
{
    /* Only /data and /srv/backup* and /srv/tab* are excluded now: what the
     * default excludes comes back (/run/credentials, whose statfs at the
     * fixture root fails), /srv/cache stays. */
    const char *opts[] = {"mount-points-exclude=^/(data|srv/(backup|tab)[^/]*)($|/)", NULL};
    struct harness_result r = harness_run("filesystem", "filesystem/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "mountpoint=\"/data\""), "%s", r.text);
    cr_assert_null(strstr(r.text, "mountpoint=\"/srv/backup"), "%s", r.text);
    cr_assert_null(strstr(r.text, "mountpoint=\"/srv/tab"), "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_filesystem_device_error{device=\"ramfs\",fstype="
                                       "\"ramfs\",mountpoint=\"/run/credentials/"
                                       "systemd-sysusers.service\"} 1"),
              "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_filesystem_device_error{device=\"/dev/vda1\","
                                       "fstype=\"ext4\",mountpoint=\"/\"} 0"));
    cr_assert(harness_has_line(r.text, "node_filesystem_device_error" MP_CACHE " 0"));
    /* types are still excluded */
    cr_assert_null(strstr(r.text, "mountpoint=\"/proc\""), "%s", r.text);
    cr_assert_null(strstr(r.text, "cgroup"), "%s", r.text);
    harness_free(&r);
}

Test(plugins_filesystem, fs_types_exclude)
{
    const char *opts[] = {"fs-types-exclude=^(ext4|tmpfs)$", NULL};
    struct harness_result r = harness_run("filesystem", "filesystem/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "ext4"), "%s", r.text);
    cr_assert_null(strstr(r.text, "tmpfs"), "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_filesystem_device_error" MP_DATA " 0"));
    cr_assert(harness_has_line(r.text, "node_filesystem_device_error" MP_TAB " 1"));
    /* nsfs is not excluded any more; /srv/netns/blue does not exist in the
     * fixture */
    cr_assert(harness_has_line(r.text, "node_filesystem_device_error{device=\"nsfs\",fstype="
                                       "\"nsfs\",mountpoint=\"/srv/netns/blue\"} 1"),
              "%s", r.text);
    harness_free(&r);
}

Test(plugins_filesystem, empty_pattern_excludes_everything)
{
    /* node_exporter compiles "" to a regexp that matches every string */
    const char *opts[] = {"fs-types-exclude=", NULL};
    struct harness_result r = harness_run("filesystem", "filesystem/ok", opts);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_filesystem, deprecated_option_names)
{
    const char *old[] = {"ignored-mount-points=^/(data|srv/cache)($|/)", NULL};
    struct harness_result r = harness_run("filesystem", "filesystem/ok", old);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_null(strstr(r.text, "mountpoint=\"/data\""), "%s", r.text);
    cr_assert_null(strstr(r.text, "mountpoint=\"/srv/cache\""), "%s", r.text);
    cr_assert(harness_has_line(r.text, "node_filesystem_device_error" MP_GONE " 1"), "%s", r.text);
    harness_free(&r);

    const char *both[] = {"ignored-fs-types=^ext4$", "fs-types-exclude=^xfs$", NULL};
    r = harness_run("filesystem", "filesystem/ok", both);
    cr_assert_eq(r.rc, -EINVAL);
    cr_assert_str_eq(r.text, "");
    harness_free(&r);
}

Test(plugins_filesystem, rootfs_prefix_is_stripped)
{
    char proc[PATH_MAX];
    harness_fixture(proc, "filesystem/prefix/proc");
    struct plg_paths paths = {.procfs = proc,
                              .sysfs = "/nonexistent/sys",
                              .rootfs = "/nonexistent-cairn-host",
                              .udev_data = "/nonexistent/udev"};
    struct harness_result r = harness_run_paths("filesystem", &paths, NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    /* the mounts do not exist under that rootfs: device_error 1 each */
    cr_assert_str_eq(r.text, "# HELP node_filesystem_device_error Whether an error occurred "
                             "while getting statistics for the given device.\n"
                             "# TYPE node_filesystem_device_error gauge\n"
                             "node_filesystem_device_error{device=\"/dev/vda1\",fstype=\"ext4\","
                             "mountpoint=\"/\"} 1\n"
                             "node_filesystem_device_error{device=\"/dev/vdb1\",fstype=\"xfs\","
                             "mountpoint=\"/data\"} 1\n"
                             "node_filesystem_device_error{device=\"/dev/vdc1\",fstype=\"ext4\","
                             "mountpoint=\"/other\"} 1\n");
    harness_free(&r);
}

/* The default mount-points-exclude is Debian's node_exporter 1.5 default:
 * it excludes /run, /mnt and /media and what is below them, and only them. */
Test(plugins_filesystem, default_excludes_run_mnt_media)
{
    const struct plg_collector *col = plg_find_collector("filesystem");
    cr_assert_not_null(col);
    cr_assert_str_eq(col->options[0].name, "mount-points-exclude");
    cr_assert_str_eq(col->options[0].def, "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|"
                                          "var/lib/containers/storage/.+)($|/)");

    struct harness_result r = harness_run("filesystem", "filesystem/debian", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    const char *t = r.text;
    const char *const gone[] = {"mountpoint=\"/run\"",   "mountpoint=\"/run/",
                                "mountpoint=\"/mnt\"",   "mountpoint=\"/mnt/",
                                "mountpoint=\"/media\"", "mountpoint=\"/media/"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        cr_assert_null(strstr(t, gone[i]), "%s in\n%s", gone[i], t);
    /* names that merely start like them, and /media below another directory,
     * are exported (they do not exist under the fixture root: device_error 1) */
    cr_assert(harness_has_line(t, "node_filesystem_device_error{device=\"/dev/vdd1\",fstype="
                                  "\"ext4\",mountpoint=\"/srv/media\"} 1"),
              "%s", t);
    cr_assert(harness_has_line(t, "node_filesystem_device_error{device=\"/dev/vde1\",fstype="
                                  "\"ext4\",mountpoint=\"/runner\"} 1"),
              "%s", t);
    cr_assert(harness_has_line(t, "node_filesystem_device_error{device=\"/dev/vdf1\",fstype="
                                  "\"xfs\",mountpoint=\"/mntdata\"} 1"),
              "%s", t);
    cr_assert(harness_has_line(t, "node_filesystem_device_error" MP_ROOT " 0"), "%s", t);
    cr_assert_eq(harness_count_prefix(t, "node_filesystem_device_error{"), 4, "%s", t);
    harness_free(&r);

    /* with upstream's default they are all exported */
    const char *upstream[] = {
        "mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|"
        "var/lib/containers/storage/.+)($|/)",
        NULL};
    r = harness_run("filesystem", "filesystem/debian", upstream);
    cr_assert_eq(r.rc, 0, "%s", r.errmsg);
    cr_assert_eq(harness_count_prefix(r.text, "node_filesystem_device_error{"), 11, "%s", r.text);
    harness_free(&r);
}

Test(plugins_filesystem, bad_options)
{
    const char *timeout[] = {"mount-timeout=soon", NULL};
    struct harness_result r = harness_run("filesystem", "filesystem/ok", timeout);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);

    const char *regex[] = {"mount-points-exclude=^/(dev", NULL};
    r = harness_run("filesystem", "filesystem/ok", regex);
    cr_assert_eq(r.rc, -EINVAL);
    harness_free(&r);
}

/* ---- stuck mounts: several cycles on one collector instance ------------- */

static void sleep_until_ms(int64_t t0_ns, int ms)
{
    int64_t until = t0_ns + (int64_t)ms * 1000000;
    struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

#define AFTER "{device=\"tmpfs\",fstype=\"tmpfs\",mountpoint=\"/srv/after\"}"
#define SLOW "{device=\"nfs.example.com:/export/home\",fstype=\"nfs4\",mountpoint=\"/srv/slow\"}"

/*
 * statfs(2) interposed for this test binary (the collector calls statfs(),
 * which the link resolves to this definition before libc's): calls for
 * paths containing hang.match are counted and block until hang.until_ns,
 * simulating a mount that hangs and then recovers. Every other call goes
 * straight to the system call.
 */
static struct {
    char match[64];
    int64_t until_ns;
    atomic_int calls;
} hang;

int statfs(const char *path, struct statfs *buf)
{
    if (hang.match[0] && strstr(path, hang.match)) {
        atomic_fetch_add(&hang.calls, 1);
        struct timespec ts = {.tv_sec = hang.until_ns / 1000000000,
                              .tv_nsec = hang.until_ns % 1000000000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
    }
    return (int)syscall(SYS_statfs, path, buf);
}

/* Starts a filesystem collector on the stuck fixture whose statfs of
 * /srv/slow hangs for hang_ms from now, with the given mount timeout; *t0
 * is when it was started. */
static void stuck_start(struct harness_instance *h, int hang_ms, const char *timeout, int64_t *t0)
{
    char t[64];
    snprintf(t, sizeof(t), "mount-timeout=%s", timeout);
    const char *opts[] = {t, NULL};
    *t0 = cn_mono_ns();
    snprintf(hang.match, sizeof(hang.match), "/srv/slow");
    hang.until_ns = *t0 + (int64_t)hang_ms * 1000000;
    atomic_store(&hang.calls, 0);
    harness_start(h, "filesystem", "filesystem/stuck", opts);
}

/* Turns the hang off again once the blocked call has returned. */
static void stuck_end(int64_t t0, int hang_ms)
{
    sleep_until_ms(t0, hang_ms + 100);
    hang.match[0] = '\0';
}

Test(plugins_filesystem, stuck_mount_times_out_and_recovers)
{
    struct harness_instance h;
    int64_t t0;
    stuck_start(&h, 900, "200ms", &t0);

    /* Cycle 1: the statfs of /srv/slow hangs; collect gives up after the
     * 200ms timeout instead of waiting 900ms, and reports the mount with
     * device_error 1 only. The healthy mount is reported normally. */
    struct harness_result c1 = harness_cycle(&h, NULL);
    cr_assert_eq(c1.rc, 0);
    cr_assert_lt(cn_mono_ns(), hang.until_ns, "cycle 1 waited for the hung statfs");
    cr_assert_eq(atomic_load(&hang.calls), 1);
    cr_assert(harness_has_line(c1.text, "node_filesystem_device_error" SLOW " 1"), "%s", c1.text);
    cr_assert_null(strstr(c1.text, "node_filesystem_size_bytes" SLOW), "%s", c1.text);
    cr_assert(harness_has_line(c1.text, "node_filesystem_device_error{device=\"/dev/vda1\","
                                        "fstype=\"ext4\",mountpoint=\"/\"} 0"),
              "%s", c1.text);
    cr_assert(strstr(c1.text, "node_filesystem_size_bytes{device=\"/dev/vda1\"") != NULL);
    /* the mount after the stuck one is still statfs'ed, by a fresh helper */
    cr_assert(harness_has_line(c1.text, "node_filesystem_device_error" AFTER " 0"), "%s", c1.text);
    cr_assert(strstr(c1.text, "node_filesystem_size_bytes" AFTER " ") != NULL, "%s", c1.text);

    /* Cycle 2: the mount is stuck; it is not statfs'ed again (so this
     * cycle does not wait for the timeout) and still reports the error. */
    struct harness_result c2 = harness_cycle(&h, NULL);
    cr_assert_eq(c2.rc, 0);
    cr_assert_eq(atomic_load(&hang.calls), 1, "the stuck mount was statfs'ed again");
    cr_assert(harness_has_line(c2.text, "node_filesystem_device_error" SLOW " 1"), "%s", c2.text);
    cr_assert(harness_has_line(c2.text, "node_filesystem_device_error" AFTER " 0"), "%s", c2.text);
    cr_assert_null(strstr(c2.text, "node_filesystem_size_bytes" SLOW), "%s", c2.text);

    /* Cycle 3, after the hung statfs returned: the mark is cleared and the
     * mount is reported normally again. */
    sleep_until_ms(t0, 1100);
    struct harness_result c3 = harness_cycle(&h, NULL);
    cr_assert_eq(c3.rc, 0);
    cr_assert_eq(atomic_load(&hang.calls), 2, "the recovered mount is statfs'ed again");
    cr_assert(harness_has_line(c3.text, "node_filesystem_device_error" SLOW " 0"), "%s", c3.text);
    cr_assert(strstr(c3.text, "node_filesystem_size_bytes" SLOW " ") != NULL, "%s", c3.text);
    cr_assert(harness_has_line(c3.text, "node_filesystem_readonly" SLOW " 0"), "%s", c3.text);

    harness_stop(&h);
    hang.match[0] = '\0';
    harness_free(&c1);
    harness_free(&c2);
    harness_free(&c3);
}

Test(plugins_filesystem, destroy_with_a_statfs_still_blocked)
{
    /* The helper outlives the collector: the state must stay valid until it
     * returns, then be freed by it (ASan/LSan check both). */
    struct harness_instance h;
    int64_t t0;
    stuck_start(&h, 1500, "200ms", &t0);
    struct harness_result c1 = harness_cycle(&h, NULL);
    cr_assert(harness_has_line(c1.text, "node_filesystem_device_error" SLOW " 1"), "%s", c1.text);
    harness_stop(&h);
    cr_assert_lt(cn_mono_ns(), hang.until_ns, "destroy waited for the hung statfs");
    harness_free(&c1);
    stuck_end(t0, 1500);
}

Test(plugins_filesystem, slow_statfs_within_timeout_is_reported)
{
    /* A statfs slower than usual but within the timeout is waited for. */
    struct harness_instance h;
    int64_t t0;
    stuck_start(&h, 80, "2s", &t0);
    struct harness_result c1 = harness_cycle(&h, NULL);
    cr_assert_eq(c1.rc, 0);
    cr_assert_eq(atomic_load(&hang.calls), 1);
    cr_assert_geq(cn_mono_ns(), hang.until_ns, "the cycle did not wait for the slow statfs");
    cr_assert(harness_has_line(c1.text, "node_filesystem_device_error" SLOW " 0"), "%s", c1.text);
    harness_stop(&h);
    harness_free(&c1);
    stuck_end(t0, 80);
}

Test(plugins_filesystem, zero_timeout_waits_without_limit)
{
    struct harness_instance h;
    int64_t t0;
    stuck_start(&h, 300, "0", &t0);
    struct harness_result c1 = harness_cycle(&h, NULL);
    cr_assert_eq(c1.rc, 0);
    cr_assert_geq(cn_mono_ns(), hang.until_ns, "the cycle did not wait for the slow statfs");
    cr_assert(harness_has_line(c1.text, "node_filesystem_device_error" SLOW " 0"), "%s", c1.text);
    harness_stop(&h);
    harness_free(&c1);
    stuck_end(t0, 300);
}
