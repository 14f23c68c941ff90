/* The collectors' cache of open procfs/sysfs files, and collectors reading
 * through it. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
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

Test(plugins_files, opened_counts_every_open)
{
    struct plg_files *f = plg_files_create(1);
    struct plg_collect c = {.files = f};
    char buf[4096];
    cr_assert_eq(plg_files_opened(f), 0);
    plg_read(&c, "/proc/loadavg", buf, sizeof(buf));
    plg_read(&c, "/proc/loadavg", buf, sizeof(buf));
    cr_assert_eq(plg_files_opened(f), 1, "the second read reuses the descriptor");
    plg_read(&c, "/proc/uptime", buf, sizeof(buf)); /* past the bound: read plainly */
    plg_read(&c, "/proc/uptime", buf, sizeof(buf));
    cr_assert_eq(plg_files_opened(f), 3);
    cr_assert_eq(plg_read(&c, "/proc/self/nonexistent", buf, sizeof(buf)), -ENOENT);
    cr_assert_eq(plg_files_opened(f), 4, "a failed open counts too");
    cr_assert_eq(plg_files_opened(NULL), 0);
    plg_files_destroy(f);
}

Test(plugins_files, sysfs_attributes_are_kept_open)
{
    const char *dir = "/sys/class/net/lo/statistics";
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(dfd, 0);
    struct plg_files *f = plg_files_create(8);
    struct plg_collect c = {.files = f};
    char out[PLG_SYSFS_MAX + 1], want[PLG_SYSFS_MAX + 1];
    bool at_open = true;
    long n = plg_sysfs_read_at(&c, dfd, "/sys/class/net/lo/statistics/rx_bytes", PLG_SPACE, out,
                               &at_open);
    cr_assert_gt(n, 0);
    cr_assert_not(at_open);
    cr_assert_eq(plg_files_open_count(f), 1);
    /* by path, as plg_sysfs_read does: the same cached descriptor */
    cr_assert_gt(plg_sysfs_read(&c, "/sys/class/net/lo/statistics/rx_bytes", out), 0);
    cr_assert_gt(plg_sysfs_read(NULL, "/sys/class/net/lo/statistics/rx_bytes", want), 0);
    cr_assert_eq(plg_files_opened(f), 1);
    uint64_t a, b;
    cr_assert_eq(plg_parse_uint(out, strlen(out), 10, 64, &a), 0);
    cr_assert_eq(plg_parse_uint(want, strlen(want), 10, 64, &b), 0);
    cr_assert_leq(a, b);
    /* a number file through the cache */
    uint64_t mtu;
    cr_assert_eq(plg_read_u64(&c, "/sys/class/net/lo/mtu", &mtu), 0);
    cr_assert_eq(plg_read_u64(&c, "/sys/class/net/lo/mtu", &mtu), 0);
    cr_assert_eq(plg_files_opened(f), 2);
    cr_assert_gt(mtu, 0);
    /* open errors are told apart from read errors */
    cr_assert_eq(
        plg_sysfs_read_at(&c, dfd, "/sys/class/net/lo/statistics/nonexistent", "\n", out, &at_open),
        -ENOENT);
    cr_assert(at_open);
    cr_assert_str_eq(out, "");
    close(dfd);
    plg_files_destroy(f);
}

Test(plugins_files, mounts_through_the_cache)
{
    struct plg_paths paths = {.procfs = "/proc", .sysfs = "/sys", .rootfs = "/"};
    struct plg_files *f = plg_files_create(8);
    struct plg_collect c = {.paths = &paths, .files = f};
    struct cn_buf a, b;
    cn_buf_init(&a);
    cn_buf_init(&b);
    char path[PATH_MAX];
    cr_assert_eq(plg_read_mounts(&c, &a, 1 << 20, path), 0);
    cr_assert_str_eq(path, "/proc/1/mounts");
    cr_assert_eq(plg_read_mounts(&c, &b, 1 << 20, path), 0);
    cr_assert_eq(plg_files_opened(f), 1);
    cr_assert_eq(plg_files_open_count(f), 1);
    cr_assert_str_eq(cn_buf_cstr(&a), cn_buf_cstr(&b));
    cn_buf_free(&a);
    cn_buf_free(&b);
    plg_files_destroy(f);
}

/* ---- collectors reading through the cache ------------------------------------ */

/* The series of a text rendering without their values, one per line, in
 * order: what must not change from cycle to cycle on a quiet host. */
static char *series_of(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(n + 1), *w = out;
    cr_assert_not_null(out);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (p[0] != '#') {
            const char *sp = memrchr(p, ' ', len);
            size_t keep = sp ? (size_t)(sp - p) : len;
            memcpy(w, p, keep);
            w += keep;
            *w++ = '\n';
        }
        p += nl ? len + 1 : len;
    }
    *w = '\0';
    return out;
}

static const struct plg_paths live = {
    .procfs = "/proc", .sysfs = "/sys", .rootfs = "/", .udev_data = "/run/udev/data"};

/*
 * Runs collector `name` on the live system with a cache of 32 files, as the
 * scheduler does, for two cycles, and checks that the second opens no file,
 * keeps `kept` files open and exports the same series as the first and as a
 * run without a cache. Returns the two cycles' results (caller frees).
 */
static void live_twice(const char *name, const char *const *opts, size_t kept,
                       struct harness_result *first, struct harness_result *second)
{
    struct harness_instance h;
    harness_start_paths(&h, name, &live, opts);
    harness_use_files(&h, 32);
    *first = harness_cycle(&h, NULL);
    cr_assert_eq(first->rc, 0, "%s: %s", name, first->errmsg);
    size_t opened = plg_files_opened(h.files);
    cr_assert_eq(plg_files_open_count(h.files), kept, "%s keeps %zu files open", name,
                 plg_files_open_count(h.files));
    *second = harness_cycle(&h, NULL);
    cr_assert_eq(second->rc, 0, "%s: %s", name, second->errmsg);
    cr_assert_eq(plg_files_opened(h.files), opened, "%s: the second cycle opened %zu files", name,
                 plg_files_opened(h.files) - opened);
    cr_assert_eq(plg_files_open_count(h.files), kept);
    harness_stop(&h);

    struct harness_result plain = harness_run_paths(name, &live, opts);
    cr_assert_eq(plain.rc, 0, "%s: %s", name, plain.errmsg);
    char *a = series_of(first->text), *b = series_of(second->text), *p = series_of(plain.text);
    cr_assert_str_eq(a, b, "%s: the second cycle exports other series", name);
    cr_assert_str_eq(p, b, "%s: cached and plain reads export other series", name);
    free(a);
    free(b);
    free(p);
    harness_free(&plain);
}

/* The value of "<key>: <n> kB" in /proc/meminfo. */
static double meminfo_kb(const char *key)
{
    char buf[16384];
    cr_assert_gt(cn_read_file("/proc/meminfo", buf, sizeof(buf)), 0);
    const char *p = strstr(buf, key);
    cr_assert_not_null(p, "no %s in /proc/meminfo", key);
    return strtod(p + strlen(key) + 1, NULL);
}

Test(plugins_files, meminfo_live)
{
    struct harness_result r1, r2;
    live_twice("meminfo", NULL, 1, &r1, &r2);
    double total = meminfo_kb("MemTotal:") * 1024;
    cr_assert_eq(harness_sample(r1.text, "node_memory_MemTotal_bytes"), total);
    cr_assert_eq(harness_sample(r2.text, "node_memory_MemTotal_bytes"), total);
    cr_assert(harness_has_line(r2.text, "# TYPE node_memory_MemTotal_bytes gauge"));
    harness_free(&r1);
    harness_free(&r2);
}

/* Sends n UDP datagrams to a closed port of 127.0.0.1, each counted by the
 * kernel as Udp NoPorts (and answered with an ICMP port unreachable). */
static void udp_to_closed_port(int n)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(s, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* a port nobody listens on: the discard port unless something does */
    int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (bind(probe, (struct sockaddr *)&to, sizeof(to)) != 0 && errno == EADDRINUSE)
        to.sin_port = htons(19); /* chargen, equally unused on a monitoring host */
    close(probe);
    for (int i = 0; i < n; i++)
        cr_assert_eq(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
    close(s);
}

Test(plugins_files, netstat_live)
{
    struct harness_instance h;
    harness_start_paths(&h, "netstat", &live, NULL);
    harness_use_files(&h, 32);
    struct harness_result r1 = harness_cycle(&h, NULL);
    cr_assert_eq(r1.rc, 0, "%s", r1.errmsg);
    size_t opened = plg_files_opened(h.files), kept = plg_files_open_count(h.files);
    cr_assert(kept == 3 || kept == 2, "netstat, snmp and (with IPv6) snmp6: %zu", kept);
    udp_to_closed_port(5);
    struct harness_result r2 = harness_cycle(&h, NULL);
    cr_assert_eq(r2.rc, 0, "%s", r2.errmsg);
    cr_assert_eq(plg_files_opened(h.files), opened, "the second cycle opened a file");
    /* The kept descriptors give fresh content: the five datagrams show. */
    double a = harness_sample(r1.text, "node_netstat_Udp_NoPorts");
    double b = harness_sample(r2.text, "node_netstat_Udp_NoPorts");
    cr_assert_geq(b, a + 5, "NoPorts went from %g to %g", a, b);
    char *s1 = series_of(r1.text), *s2 = series_of(r2.text);
    cr_assert_str_eq(s1, s2);
    free(s1);
    free(s2);
    harness_free(&r1);
    harness_free(&r2);
    harness_stop(&h);

    struct harness_result r3;
    live_twice("netstat", NULL, kept, &r1, &r3);
    harness_free(&r1);
    harness_free(&r3);
}

Test(plugins_files, netdev_live)
{
    /* /proc/net/dev and each device's sysfs statistics/rx_nohandler */
    char **names;
    int n = plg_dir_list("/sys/class/net", &names);
    cr_assert_gt(n, 0);
    size_t devs = 0;
    for (int i = 0; i < n; i++)
        devs += strcmp(names[i], "lo") != 0; /* the default device-exclude */
    plg_dir_free(names, n);
    struct harness_result r1, r2;
    live_twice("netdev", NULL, 1 + devs, &r1, &r2);
    cr_assert_eq(harness_count_prefix(r2.text, "node_network_receive_nohandler_total{"), (int)devs);
    harness_free(&r1);
    harness_free(&r2);
    /* with the detailed sysfs counters: 24 files per device, some of them
     * past the cache's bound when there are several devices */
    static const char *const detailed[] = {"enable-detailed-metrics=true", "device-include=^lo$",
                                           NULL};
    live_twice("netdev", detailed, 1 + 24, &r1, &r2);
    cr_assert(harness_has_line(r2.text, "# TYPE node_network_receive_bytes_total counter"));
    cr_assert_geq(harness_sample(r2.text, "node_network_receive_bytes_total{device=\"lo\"}"),
                  harness_sample(r1.text, "node_network_receive_bytes_total{device=\"lo\"}"));
    harness_free(&r1);
    harness_free(&r2);
}

Test(plugins_files, filesystem_live)
{
    struct harness_result r1, r2;
    live_twice("filesystem", NULL, 1, &r1, &r2); /* <procfs>/1/mounts */
    cr_assert(harness_has_line(r2.text, "# TYPE node_filesystem_size_bytes gauge"));
    cr_assert_gt(harness_count_prefix(r2.text, "node_filesystem_size_bytes{"), 0);
    harness_free(&r1);
    harness_free(&r2);
}

/*
 * Every fixture case of every collector gives the same results through a
 * cache as with plain reads, over two cycles (fixtures are regular files,
 * which the cache reads but never keeps open). Where values come from the
 * live system whatever the fixture -- the clock, statfs(2) of the
 * directories standing in for mount points, whose free space moves while
 * other tests write -- the series are compared without their values.
 */
Test(plugins_files, fixtures_read_through_a_cache)
{
    static const char *const live_values[] = {"time", "timex", "filesystem", NULL};
    char base[PATH_MAX];
    int cases = 0;
    for (const struct plg_collector *const *col = plg_builtin_collectors(); *col; col++) {
        bool values = true;
        for (int i = 0; live_values[i]; i++)
            values = values && strcmp((*col)->name, live_values[i]) != 0;
        char **names;
        int n = plg_dir_list(harness_fixture(base, (*col)->name), &names);
        for (int i = 0; i < n; i++) {
            char fixture[PATH_MAX], dir[PATH_MAX];
            snprintf(fixture, sizeof(fixture), "%s/%s", (*col)->name, names[i]);
            struct stat sb;
            if (stat(harness_fixture(dir, fixture), &sb) != 0 || !S_ISDIR(sb.st_mode))
                continue;
            struct harness_instance plain, cached;
            int rc = harness_try_start(&plain, (*col)->name, fixture, NULL);
            cr_assert_eq(harness_try_start(&cached, (*col)->name, fixture, NULL), rc, "%s",
                         fixture);
            if (rc) { /* init reads the fixture (cpu's isolated list) and failed */
                cases++;
                continue;
            }
            harness_use_files(&cached, 32);
            for (int cycle = 0; cycle < 2; cycle++) {
                struct harness_result a = harness_cycle(&plain, NULL);
                struct harness_result b = harness_cycle(&cached, NULL);
                cr_assert_eq(b.rc, a.rc, "%s: rc %d, %d without the cache", fixture, b.rc, a.rc);
                cr_assert_eq(b.nodata, a.nodata, "%s", fixture);
                cr_assert_str_eq(b.errmsg, a.errmsg, "%s", fixture);
                if (values) {
                    cr_assert_str_eq(b.text, a.text, "%s", fixture);
                } else {
                    char *sa = series_of(a.text), *sc = series_of(b.text);
                    cr_assert_str_eq(sc, sa, "%s", fixture);
                    free(sa);
                    free(sc);
                }
                harness_free(&a);
                harness_free(&b);
            }
            cr_assert_eq(plg_files_open_count(cached.files), 0, "%s", fixture);
            harness_stop(&plain);
            harness_stop(&cached);
            cases++;
        }
        if (n > 0)
            plg_dir_free(names, n);
    }
    cr_assert_gt(cases, 150, "only %d fixture cases", cases);
}
