/*
 * libFuzzer target for the collectors' parsers of procfs files. The first
 * byte picks a (collector, file) pair from the table below; the rest becomes
 * that file's content in a scratch procfs/rootfs tree, and the collector
 * runs once over it. Beyond "no crash, no leak, no UB": a failing collector
 * always says why, and whatever it exported encodes in both formats.
 *
 * Seeds: tests/fuzz/corpus/collectors/ (first byte = table index, then real
 * file content). Run: collectors_fuzz -max_total_time=60 corpus/collectors
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *collector;
    const char *file; /* under the scratch tree: proc/... or root/... */
} targets[] = {
    {"loadavg", "proc/loadavg"},
    {"stat", "proc/stat"},
    {"cpu", "proc/stat"},
    {"meminfo", "proc/meminfo"},
    {"vmstat", "proc/vmstat"},
    {"netdev", "proc/net/dev"},
    {"netstat", "proc/net/netstat"},
    {"netstat", "proc/net/snmp"},
    {"netstat", "proc/net/snmp6"},
    {"sockstat", "proc/net/sockstat"},
    {"udp_queues", "proc/net/udp"},
    {"arp", "proc/net/arp"},
    {"softnet", "proc/net/softnet_stat"},
    {"diskstats", "proc/diskstats"},
    {"mdadm", "proc/mdstat"},
    {"filesystem", "proc/1/mounts"},
    {"schedstat", "proc/schedstat"},
    {"pressure", "proc/pressure/cpu"},
    {"zfs", "proc/spl/kstat/zfs/arcstats"},
    {"xfs", "proc/fs/xfs/stat"},
    {"os", "root/etc/os-release"},
    {"conntrack", "proc/sys/net/netfilter/nf_conntrack_count"},
    {"filefd", "proc/sys/fs/file-nr"},
    {"entropy", "proc/sys/kernel/random/entropy_avail"},
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

/* The scratch tree, made once per fuzzing process. */
static char root[64];

static void mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(void)
{
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof(root), "/tmp/cairn-fuzz-XXXXXX");
    if (!mkdtemp(root))
        abort();
    atexit(remove_tree);
    char path[PATH_MAX];
    for (size_t i = 0; i < NTARGETS; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, targets[i].file);
        mkdirs(path);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t t = data[0] % NTARGETS;
    char path[PATH_MAX], proc[PATH_MAX], sys[PATH_MAX], rootfs[PATH_MAX], udev[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", root, targets[t].file);
    snprintf(proc, sizeof(proc), "%s/proc", root);
    snprintf(sys, sizeof(sys), "%s/sys", root);
    snprintf(rootfs, sizeof(rootfs), "%s/root", root);
    snprintf(udev, sizeof(udev), "%s/udev", root);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
        abort();
    close(fd);

    const struct plg_collector *col = plg_find_collector(targets[t].collector);
    if (!col)
        abort();
    struct plg_paths paths = {.procfs = proc, .sysfs = sys, .rootfs = rootfs, .udev_data = udev};
    struct plg_config cfg = {.paths = &paths, .collector = col};
    void *state = NULL;
    if (col->init && col->init(&cfg, &state) != 0)
        abort(); /* defaults must always initialise */
    struct exp_builder *b = exp_builder_create();
    struct plg_collect c = {.b = b, .paths = &paths};
    int rc = col->collect(state, &c);
    if (rc && c.errmsg[0] == '\0')
        abort(); /* a failure must say why */
    if (col->destroy)
        col->destroy(state);
    exp_builder_finish(b);
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    struct cn_buf out;
    cn_buf_init(&out);
    exp_encode(&out, fams, n, EXP_FMT_TEXT);
    exp_encode(&out, fams, n, EXP_FMT_OPENMETRICS);
    if (out.err)
        abort();
    cn_buf_free(&out);
    exp_builder_unref(b);
    unlink(path);
    return 0;
}
