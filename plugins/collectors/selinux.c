/*
 * selinux: node_selinux_enabled, and when SELinux is enabled
 * node_selinux_config_mode and node_selinux_current_mode (gauges), as
 * node_exporter 1.5's selinux collector (go-selinux 1.10).
 *
 * Enabled means an active selinuxfs at <sysfs>/fs/selinux and a current
 * process label other than "kernel" (a kernel with SELinux but no policy
 * loaded labels everything "kernel"). go-selinux proves the mount with
 * statfs: the magic must be SELINUX_MAGIC and the mount writable. We do the
 * same where it can decide, and otherwise accept the directory when it holds
 * an `enforce` file, so fixture trees on an ordinary file system work:
 *   - statfs fails, the mount is read-only (containers mount it read-only
 *     to say "disabled"), or the directory is the bare sysfs mount point of
 *     an unmounted selinuxfs (SYSFS_MAGIC): disabled;
 *   - SELINUX_MAGIC, or any other file system with an `enforce` file: mounted.
 * The label is read from <procfs>/thread-self/attr/current (trailing NUL and
 * newline dropped); as in go-selinux, a label that cannot be read does not
 * disable it.
 *
 * current_mode is <selinuxfs>/enforce parsed as a whole integer (1
 * enforcing, 0 permissive), -1 when it cannot be read or parsed, as
 * go-selinux's EnforceMode(). config_mode is SELINUX= in
 * <rootfs>/etc/selinux/config (go-selinux reads /etc/selinux/config of the
 * running system; we honour --path.rootfs): enforcing 1, permissive 0,
 * anything else or no file -1. The config lines are trimmed, blank lines
 * and lines starting with '#' or ';' skipped, the key must be exactly
 * SELINUX before the first '=', and quotes around the value are dropped.
 * Malformed values are not errors in node_exporter either: they map to -1.
 *
 * Not done: go-selinux's fallback search for selinuxfs mounted elsewhere
 * (via /proc/self/mountinfo); modern systems mount it at /sys/fs/selinux.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#define SELINUX_FS_MAGIC 0xf97cff8cU
#define SELINUX_SYSFS_MAGIC 0x62656572U

/* Whether selinuxfs is mounted (and writable) at dir; see the file comment. */
static bool selinux_mounted(const char *dir)
{
    struct statfs sfs;
    int rc;
    do
        rc = statfs(dir, &sfs);
    while (rc != 0 && (errno == EINTR || errno == EAGAIN));
    if (rc != 0 || (sfs.f_flags & ST_RDONLY))
        return false;
    if ((unsigned)sfs.f_type == SELINUX_FS_MAGIC)
        return true;
    if ((unsigned)sfs.f_type == SELINUX_SYSFS_MAGIC)
        return false;
    char path[PATH_MAX];
    if (!cn_path_join(path, sizeof(path), dir, "enforce", NULL))
        return false;
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The current label is "kernel": SELinux without a loaded policy. */
static bool selinux_kernel_label(const struct plg_paths *paths)
{
    char path[PATH_MAX], buf[4096];
    plg_proc(path, paths, "thread-self/attr/current");
    long n = cn_read_file(path, buf, sizeof(buf));
    if (n < 0)
        return false;
    while (n > 0 && (buf[n - 1] == '\0' || buf[n - 1] == '\n'))
        n--;
    return n == 6 && memcmp(buf, "kernel", 6) == 0;
}

/* go-selinux's EnforceMode(): the whole file as an integer, else -1. */
static double selinux_current_mode(const char *dir)
{
    char path[PATH_MAX], buf[64];
    if (!cn_path_join(path, sizeof(path), dir, "enforce", NULL))
        return -1;
    long n = cn_read_file(path, buf, sizeof(buf));
    int64_t v;
    if (n <= 0 || plg_parse_int(buf, (size_t)n, 10, 64, &v)) /* strconv.Atoi */
        return -1;
    return (double)v;
}

/* go-selinux's DefaultEnforceMode() on <rootfs>/etc/selinux/config. */
static double selinux_config_mode(const struct plg_paths *paths)
{
    char path[PATH_MAX], buf[16384];
    plg_root(path, paths, "etc/selinux/config");
    long n = cn_read_file(path, buf, sizeof(buf));
    if (n < 0)
        return -1;
    for (char *p = buf, *next; *p; p = next) {
        char *nl = strchr(p, '\n');
        char *end = nl ? nl : p + strlen(p);
        next = nl ? nl + 1 : end;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\v' || *p == '\f'))
            p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
                           end[-1] == '\v' || end[-1] == '\f'))
            end--;
        if (p == end || *p == '#' || *p == ';')
            continue;
        char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq || eq - p != 7 || memcmp(p, "SELINUX", 7) != 0)
            continue;
        char *v = eq + 1;
        while (v < end && *v == '"')
            v++;
        while (end > v && end[-1] == '"')
            end--;
        size_t len = (size_t)(end - v);
        if (len == 9 && memcmp(v, "enforcing", 9) == 0)
            return 1;
        if (len == 10 && memcmp(v, "permissive", 10) == 0)
            return 0;
        return -1;
    }
    return -1;
}

static int selinux_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char dir[PATH_MAX];
    plg_sys(dir, c->paths, "fs/selinux");
    bool enabled = selinux_mounted(dir) && !selinux_kernel_label(c->paths);
    exp_gauge(c->b, "node_selinux_enabled", "SELinux is enabled, 1 is true, 0 is false",
              enabled ? 1 : 0, 0);
    if (!enabled)
        return 0;
    exp_gauge(c->b, "node_selinux_config_mode", "Configured SELinux enforcement mode",
              selinux_config_mode(c->paths), 0);
    exp_gauge(c->b, "node_selinux_current_mode", "Current SELinux enforcement mode",
              selinux_current_mode(dir), 0);
    return 0;
}

const struct plg_collector plg_collector_selinux = {
    .name = "selinux",
    .default_enabled = true,
    .collect = selinux_collect,
};
