/*
 * nvme: /sys/class/nvme/<device>/{firmware_rev,model,serial,state} ->
 * node_nvme_info{device,firmware_revision,model,serial,state} 1, as
 * node_exporter 1.5's nvme collector.
 *
 * As in 1.5 (procfs' sysfs.NVMeClass): each attribute is read with a single
 * read of at most 128 bytes and trimmed of surrounding whitespace (the
 * controller pads model and serial with spaces); one unreadable attribute
 * fails the whole collection, and nothing is exported. A missing class
 * directory or attribute file means "no NVMe here": no data, success 0 --
 * which is what this VM (virtio disks only) reports.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NVME_ATTR_MAX PLG_SYSFS_MAX

static const char *const nvme_attrs[] = {"firmware_rev", "model", "serial", "state"};

static int nvme_collect(void *state, struct plg_collect *c)
{
    (void)state;
    char dir[PATH_MAX];
    plg_sys(dir, c->paths, "class/nvme");
    char **names;
    int n = plg_dir_list(dir, &names);
    if (n == -ENOENT)
        return plg_nodata(c, "nvme statistics not found: %s does not exist", dir);
    if (n < 0)
        return plg_fail(c, n, "error obtaining NVMe class info: failed to list %s: %s", dir,
                        strerror(-n));
    struct exp_family *f =
        exp_family(c->b, "node_nvme_info",
                   "Non-numeric data from /sys/class/nvme/<device>, value is always 1.", EXP_GAUGE);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char val[4][NVME_ATTR_MAX + 1];
        for (size_t a = 0; a < 4 && !rc; a++) {
            char path[PATH_MAX];
            if (!cn_path_join(path, sizeof(path), dir, names[i], nvme_attrs[a], NULL)) {
                rc = plg_fail(c, -ENAMETOOLONG, "path too long under %s", dir);
                break;
            }
            long err = plg_sysfs_read(c, path, val[a]);
            if (err == -ENOENT)
                rc = plg_nodata(c, "nvme statistics not found: %s does not exist", path);
            else if (err < 0)
                rc = plg_fail(c, (int)err, "error obtaining NVMe class info: failed to read %s: %s",
                              path, strerror((int)-err));
        }
        if (!rc)
            exp_add(c->b, f, 1, 5, "device", names[i], "firmware_revision", val[0], "model", val[1],
                    "serial", val[2], "state", val[3]);
    }
    if (rc) /* all or nothing, as in 1.5 */
        exp_builder_drop(c->b, "node_nvme_info");
    plg_dir_free(names, n);
    return rc;
}

const struct plg_collector plg_collector_nvme = {
    .name = "nvme",
    .default_enabled = true,
    .collect = nvme_collect,
};
