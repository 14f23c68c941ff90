/*
 * filesystem: mounted filesystems -> node_filesystem_{size_bytes,free_bytes,
 * avail_bytes,files,files_free,readonly,device_error}{device,mountpoint,fstype},
 * as node_exporter 1.5's filesystem collector.
 *
 * Mounts come from <procfs>/1/mounts (the init process's view, which is the
 * host's when cairn runs in a container), falling back to <procfs>/mounts
 * when that file is absent (hidepid). Mount points and filesystem types
 * matching the exclude patterns are skipped; the others are statfs(2)ed at
 * <rootfs>/<mount point>, the mount point label having <rootfs> stripped.
 * The same (device, mountpoint, fstype) is exported once.
 *
 * The mount-points-exclude default is Debian's: that of the
 * prometheus-node-exporter 1.5 package cairn replaces, as its --help shows
 * it. Debian adds /run, /mnt and /media to upstream's
 * ^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|...)($|/), so the
 * tmpfs mounts under /run and removable media are not exported. The
 * fs-types-exclude default is upstream's, which Debian keeps. The deprecated
 * ignored-mount-points and ignored-fs-types replace them when given alone.
 *
 * A statfs on a dead NFS server, a hung FUSE daemon or a wedged block device
 * can block for minutes, and node_exporter 1.5 blocks its scrape with it. Here
 * statfs runs in a helper thread and the collector waits for each call at
 * most `mount-timeout`. On timeout the mount point is marked stuck and
 * exported with node_filesystem_device_error 1 and no other series, as 1.5
 * does for stuck mounts and failed statfs calls. A stuck mount point is not
 * statfs'ed again (one blocked thread per dead mount is enough) until its
 * blocked statfs returns: the helper then clears the mark, and the next
 * cycle statfs'es it normally.
 *
 * Threads and lifetime. One helper thread lives across cycles and statfs'es
 * a cycle's mounts as one batch, one after the other, so a cycle costs two
 * wake-ups whatever the number of mounts. The collector sleeps until the
 * batch is done or the mount in progress has taken longer than the timeout;
 * then that helper is abandoned (it exits when its statfs returns) and a
 * fresh one takes the rest of the batch. Abandoned helpers may outlive the
 * collector -- destroy does not wait for a statfs that may never return --
 * so the state is reference counted: the collector holds one reference,
 * each helper one, and whoever drops the last frees it. st->mu guards the
 * reference count, the stuck list, the batch (st->items) while a helper
 * works on it, and each helper's fields.
 *
 * The unit tests prove the timeout and recovery paths by interposing
 * statfs(2) in the test binary with one that hangs for chosen paths; the
 * collector itself has no test hooks.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>

/* Debian's node_exporter 1.5 default; see the file comment. */
#define FS_DEF_MP_EXCLUDE                                                                          \
    "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
#define FS_DEF_TYPES_EXCLUDE                                                                       \
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"        \
    "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"     \
    "sysfs|tracefs)$"
#define FS_MOUNTS_MAX (64u << 20) /* a /proc/1/mounts larger than this is refused */

/* Option indexes. */
enum { OPT_MP_EXCLUDE, OPT_TYPES_EXCLUDE, OPT_TIMEOUT, OPT_OLD_MP, OPT_OLD_TYPES };

static const struct plg_option fs_options[] = {
    [OPT_MP_EXCLUDE] = {"mount-points-exclude", FS_DEF_MP_EXCLUDE,
                        "Regexp of mount points to exclude for filesystem collector."},
    [OPT_TYPES_EXCLUDE] = {"fs-types-exclude", FS_DEF_TYPES_EXCLUDE,
                           "Regexp of filesystem types to exclude for filesystem collector."},
    [OPT_TIMEOUT] = {"mount-timeout", "5s",
                     "how long to wait for a mount to respond before marking it as stale "
                     "(0: wait without limit)"},
    [OPT_OLD_MP] = {"ignored-mount-points", NULL,
                    "DEPRECATED: use mount-points-exclude. Regexp of mount points to ignore."},
    [OPT_OLD_TYPES] = {"ignored-fs-types", NULL,
                       "DEPRECATED: use fs-types-exclude. Regexp of filesystem types to "
                       "ignore."},
    {NULL, NULL, NULL},
};

struct fs_state;

/* A mount point whose statfs is still blocked in a helper. */
struct fs_stuck {
    struct fs_stuck *next;
    char mp[];
};

/* A helper thread. Its batch is st->items[next..end); it copies the mount
 * it works on into path/mp, so that once abandoned it needs nothing of the
 * collector's. */
struct fs_helper {
    struct fs_state *st;
    pthread_cond_t cv; /* a batch or quit was posted */
    size_t next, end;
    int64_t started_ns; /* when the mount in progress was started */
    bool busy, abandoned, quit;
    char path[PATH_MAX]; /* what statfs sees: <rootfs>/<mount point> */
    char mp[PATH_MAX];   /* the mount point label: the stuck-list key */
};

/* A mount to export this cycle; strings point into st->mounts. */
struct fs_item {
    const char *dev, *mp, *type, *opts;
    size_t path_off; /* of <rootfs>/<mount point> in st->paths */
    bool skip;       /* stuck, or its path does not fit: device_error 1 */
    int rc;          /* statfs result, -ETIMEDOUT when it timed out */
    struct statfs sfs;
};

struct fs_state {
    /* Immutable after init (read by helpers without the lock). */
    struct plg_filter *mp_filter, *type_filter;
    bool mp_exclude_all, type_exclude_all; /* an empty pattern matches everything */
    int64_t timeout_ms;
    /* Used by the collect thread only; reused across cycles. */
    struct cn_buf mounts;
    struct cn_buf paths;
    /* Guarded by mu while a helper has a batch. */
    struct fs_item *items;
    size_t items_cap;
    /* Guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a helper finished a request */
    unsigned refs;
    struct fs_stuck *stuck;
    struct fs_helper *helper; /* the idle or working helper; NULL if none */
};

static int fs_statfs(const char *path, struct statfs *out)
{
    return statfs(path, out) == 0 ? 0 : -errno;
}

/* ---- state lifetime ------------------------------------------------------ */

static void fs_state_free(struct fs_state *st)
{
    while (st->stuck) {
        struct fs_stuck *s = st->stuck;
        st->stuck = s->next;
        free(s);
    }
    plg_filter_destroy(st->mp_filter);
    plg_filter_destroy(st->type_filter);
    free(st->items);
    cn_buf_free(&st->mounts);
    cn_buf_free(&st->paths);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* Drops one reference; frees the state with the last. Call without mu. */
static void fs_state_unref(struct fs_state *st)
{
    pthread_mutex_lock(&st->mu);
    bool last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (last)
        fs_state_free(st);
}

/* Stuck list helpers: call with mu held. */
static bool fs_stuck_has(const struct fs_state *st, const char *mp)
{
    for (const struct fs_stuck *s = st->stuck; s; s = s->next)
        if (strcmp(s->mp, mp) == 0)
            return true;
    return false;
}

static void fs_stuck_add(struct fs_state *st, const char *mp)
{
    size_t n = strlen(mp);
    struct fs_stuck *s = cn_malloc(sizeof(*s) + n + 1);
    if (!s)
        return; /* not marked: the next cycle tries (and times out) again */
    memcpy(s->mp, mp, n + 1);
    s->next = st->stuck;
    st->stuck = s;
}

static void fs_stuck_remove(struct fs_state *st, const char *mp)
{
    for (struct fs_stuck **p = &st->stuck; *p; p = &(*p)->next) {
        if (strcmp((*p)->mp, mp) == 0) {
            struct fs_stuck *s = *p;
            *p = s->next;
            free(s);
            return;
        }
    }
}

/* ---- the helper thread --------------------------------------------------- */

static void *fs_helper_main(void *arg)
{
    struct fs_helper *h = arg;
    struct fs_state *st = h->st;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!h->busy && !h->quit)
            pthread_cond_wait(&h->cv, &st->mu);
        if (h->quit)
            break;
        for (; h->next < h->end; h->next++) {
            struct fs_item *it = &st->items[h->next];
            if (it->skip)
                continue;
            snprintf(h->path, sizeof(h->path), "%s", st->paths.data + it->path_off);
            snprintf(h->mp, sizeof(h->mp), "%s", it->mp);
            h->started_ns = cn_mono_ns();
            pthread_mutex_unlock(&st->mu);
            struct statfs sfs;
            int rc = fs_statfs(h->path, &sfs);
            pthread_mutex_lock(&st->mu);
            if (h->abandoned) {
                /* The collector gave up on us: the mount has recovered. */
                fs_stuck_remove(st, h->mp);
                goto out;
            }
            it = &st->items[h->next];
            it->rc = rc;
            if (rc == 0)
                it->sfs = sfs;
        }
        h->busy = false;
        pthread_cond_broadcast(&st->cv);
    }
out:;
    bool last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
    if (last)
        fs_state_free(st);
    return NULL;
}

/* Starts a helper; call with st->mu held. Returns NULL on failure. */
static struct fs_helper *fs_helper_start(struct fs_state *st)
{
    struct fs_helper *h = cn_calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->st = st;
    pthread_cond_init(&h->cv, NULL);
    pthread_attr_t attr;
    pthread_t tid;
    int err = pthread_attr_init(&attr);
    if (!err) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        err = pthread_create(&tid, &attr, fs_helper_main, h);
        pthread_attr_destroy(&attr);
    }
    if (err) {
        pthread_cond_destroy(&h->cv);
        free(h);
        return NULL;
    }
    st->refs++;
    return h;
}

/*
 * statfs'es st->items[0..n) (those not skipped) in the helper, giving each
 * mount at most the mount timeout. A mount that takes longer gets
 * -ETIMEDOUT, is marked stuck, and its helper is abandoned; a new helper
 * continues with the next mount. Without a helper the statfs runs inline.
 */
static void fs_statfs_batch(struct fs_state *st, size_t n)
{
    size_t from = 0;
    pthread_mutex_lock(&st->mu);
    while (from < n) {
        if (!st->helper)
            st->helper = fs_helper_start(st);
        struct fs_helper *h = st->helper;
        if (!h) { /* no thread: do the rest here, unprotected */
            pthread_mutex_unlock(&st->mu);
            for (size_t i = from; i < n; i++) {
                struct fs_item *it = &st->items[i];
                if (!it->skip)
                    it->rc = fs_statfs(st->paths.data + it->path_off, &it->sfs);
            }
            return;
        }
        h->next = from;
        h->end = n;
        h->started_ns = cn_mono_ns();
        h->busy = true;
        pthread_cond_signal(&h->cv);
        while (h->busy && st->timeout_ms == 0) /* 0: no limit */
            pthread_cond_wait(&st->cv, &st->mu);
        while (h->busy) {
            int64_t deadline = h->started_ns + st->timeout_ms * 1000000;
            struct timespec ts = {.tv_sec = deadline / 1000000000,
                                  .tv_nsec = deadline % 1000000000};
            pthread_cond_timedwait(&st->cv, &st->mu, &ts);
            if (h->busy && cn_mono_ns() >= h->started_ns + st->timeout_ms * 1000000)
                break; /* the mount in progress is stuck */
        }
        if (!h->busy)
            break;
        struct fs_item *it = &st->items[h->next];
        it->rc = -ETIMEDOUT;
        fs_stuck_add(st, it->mp);
        h->abandoned = true; /* it clears the mark and exits when statfs returns */
        st->helper = NULL;
        from = h->next + 1;
    }
    pthread_mutex_unlock(&st->mu);
}

/* ---- init / destroy ------------------------------------------------------ */

static int fs_compile(const char *pat, struct plg_filter **f, bool *all, char *err, size_t errcap)
{
    /* Go's regexp "" matches every string: an empty pattern excludes all. */
    if (!pat || !*pat) {
        *all = true;
        return 0;
    }
    return plg_filter_create(NULL, pat, f, err, errcap);
}

static int fs_init(const struct plg_config *cfg, void **state)
{
    struct fs_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    cn_buf_init(&st->mounts);
    cn_buf_init(&st->paths);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&st->mu, NULL);
    st->refs = 1;

    char err[256] = "";
    const char *mp_pat, *type_pat;
    int rc = plg_config_renamed(cfg, "mount-points-exclude", "ignored-mount-points", &mp_pat);
    if (!rc)
        rc = plg_config_renamed(cfg, "fs-types-exclude", "ignored-fs-types", &type_pat);
    if (rc)
        snprintf(err, sizeof(err),
                 "--collector.filesystem.ignored-* and their *-exclude "
                 "replacements are mutually exclusive");
    if (!rc)
        rc = fs_compile(mp_pat, &st->mp_filter, &st->mp_exclude_all, err, sizeof(err));
    if (!rc)
        rc = fs_compile(type_pat, &st->type_filter, &st->type_exclude_all, err, sizeof(err));
    if (!rc && (rc = cn_duration_parse(plg_config_get(cfg, "mount-timeout"), &st->timeout_ms)))
        snprintf(err, sizeof(err), "invalid mount-timeout %s",
                 plg_config_get(cfg, "mount-timeout"));
    if (!rc && st->timeout_ms > 1000000000) /* keeps the ns arithmetic in range */
        st->timeout_ms = 1000000000;
    if (rc) {
        cn_log(CN_LOG_ERROR, "collector", "couldn't create collector", "collector", "filesystem",
               "err", err[0] ? err : strerror(-rc), NULL);
        fs_state_free(st);
        return rc;
    }
    *state = st;
    return 0;
}

/* Stops the idle helper and drops the collector's reference. Helpers still
 * blocked in statfs keep the state alive and free it when they return;
 * destroy never waits for them. */
static void fs_destroy(void *state)
{
    struct fs_state *st = state;
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    if (st->helper) {
        st->helper->quit = true;
        pthread_cond_signal(&st->helper->cv);
        st->helper = NULL;
    }
    pthread_mutex_unlock(&st->mu);
    fs_state_unref(st);
}

/* ---- mounts parsing ------------------------------------------------------ */

static bool fs_has_ro(const char *opts)
{
    for (const char *p = opts; p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == 2 && p[0] == 'r' && p[1] == 'o')
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

/* ---- collect ------------------------------------------------------------- */

enum { F_ERR, F_SIZE, F_FREE, F_AVAIL, F_FILES, F_FFREE, F_RO, F_N };

static const char *const fs_names[F_N] = {
    "node_filesystem_device_error", "node_filesystem_size_bytes", "node_filesystem_free_bytes",
    "node_filesystem_avail_bytes",  "node_filesystem_files",      "node_filesystem_files_free",
    "node_filesystem_readonly",
};
static const char *const fs_helps[F_N] = {
    "Whether an error occurred while getting statistics for the given device.",
    "Filesystem size in bytes.",
    "Filesystem free space in bytes.",
    "Filesystem space available to non-root users in bytes.",
    "Filesystem total file nodes.",
    "Filesystem total free file nodes.",
    "Filesystem read-only status.",
};

/* Whether an earlier item of this cycle has the same labels. */
static bool fs_is_dup(const struct fs_state *st, size_t n, const char *dev, const char *mp,
                      const char *type)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(st->items[i].mp, mp) == 0 && strcmp(st->items[i].dev, dev) == 0 &&
            strcmp(st->items[i].type, type) == 0)
            return true;
    return false;
}

static int fs_collect(void *state, struct plg_collect *c)
{
    struct fs_state *st = state;
    char path[PATH_MAX];
    int rc = plg_read_mounts(c, &st->mounts, FS_MOUNTS_MAX, path);
    if (rc)
        return plg_fail(c, rc, "couldn't read %s: %s", path, strerror(-rc));
    char *data = st->mounts.data;
    size_t len = st->mounts.len;
    if (len == 0)
        return 0;
    if (memchr(data, '\0', len))
        return plg_fail(c, -EINVAL, "malformed mount point information in %s: NUL byte", path);

    /* Pass 1: count lines and check each has the 4 fields we need, so a
     * malformed file exports nothing, as in node_exporter. */
    size_t nlines = 0;
    for (char *p = data; p < data + len;) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        char *end = nl ? nl : data + len;
        int fields = 0;
        bool in = false;
        for (char *q = p; q < end; q++) {
            bool sp = plg_is_space(*q);
            if (!sp && !in)
                fields++;
            in = !sp;
        }
        if (fields < 4)
            return plg_fail(c, -EINVAL, "malformed mount point information in %s: \"%.*s\"", path,
                            (int)(end - p > 120 ? 120 : end - p), p);
        nlines++;
        p = end + 1;
    }
    if (nlines > st->items_cap) {
        /* no helper has a batch between cycles: the items may move */
        struct fs_item *v = cn_realloc(st->items, nlines * sizeof(*v));
        if (!v)
            return plg_fail(c, -ENOMEM, "out of memory");
        st->items = v;
        st->items_cap = nlines;
    }

    /* Pass 2: the mounts to export, their statfs paths, the stuck ones. */
    size_t n = 0;
    cn_buf_reset(&st->paths);
    for (char *p = data, *line; (line = plg_next_line(&p, data + len, NULL));) {
        char *f[4];
        plg_fields(line, f, 4);
        plg_unescape_mount(f[1]);
        const char *mp = plg_strip_rootfs(f[1], c->paths->rootfs);
        if (st->mp_exclude_all || plg_filter_ignored(st->mp_filter, mp))
            continue;
        if (st->type_exclude_all || plg_filter_ignored(st->type_filter, f[2]))
            continue;
        if (fs_is_dup(st, n, f[0], mp, f[2]))
            continue;
        struct fs_item *it = &st->items[n++];
        memset(it, 0, sizeof(*it));
        it->dev = f[0];
        it->mp = mp;
        it->type = f[2];
        it->opts = f[3];
        it->path_off = st->paths.len;
        char full[PATH_MAX];
        if (strlen(mp) >= PATH_MAX || !plg_root(full, c->paths, mp)) {
            it->skip = true;
            it->rc = -ENAMETOOLONG;
            full[0] = '\0';
        }
        cn_buf_append(&st->paths, full, strlen(full) + 1);
        pthread_mutex_lock(&st->mu);
        if (!it->skip && fs_stuck_has(st, mp)) {
            it->skip = true;
            it->rc = -ETIMEDOUT;
        }
        pthread_mutex_unlock(&st->mu);
    }
    if (st->paths.err)
        return plg_fail(c, st->paths.err, "out of memory");

    fs_statfs_batch(st, n);

    struct exp_family *fam[F_N];
    for (int i = 0; i < F_N; i++)
        fam[i] = exp_family(c->b, fs_names[i], fs_helps[i], EXP_GAUGE);
    for (size_t i = 0; i < n; i++) {
        const struct fs_item *it = &st->items[i];
        const char *const ln[3] = {"device", "mountpoint", "fstype"};
        const char *const lv[3] = {it->dev, it->mp, it->type};
        if (it->rc) {
            exp_addv(c->b, fam[F_ERR], 1, 3, ln, lv);
            continue;
        }
        double bs = (double)it->sfs.f_bsize;
        exp_addv(c->b, fam[F_ERR], 0, 3, ln, lv);
        exp_addv(c->b, fam[F_SIZE], (double)it->sfs.f_blocks * bs, 3, ln, lv);
        exp_addv(c->b, fam[F_FREE], (double)it->sfs.f_bfree * bs, 3, ln, lv);
        exp_addv(c->b, fam[F_AVAIL], (double)it->sfs.f_bavail * bs, 3, ln, lv);
        exp_addv(c->b, fam[F_FILES], (double)it->sfs.f_files, 3, ln, lv);
        exp_addv(c->b, fam[F_FFREE], (double)it->sfs.f_ffree, 3, ln, lv);
        exp_addv(c->b, fam[F_RO], fs_has_ro(it->opts) ? 1 : 0, 3, ln, lv);
    }
    return 0;
}

const struct plg_collector plg_collector_filesystem = {
    .name = "filesystem",
    .default_enabled = true,
    .options = fs_options,
    .init = fs_init,
    .collect = fs_collect,
    .destroy = fs_destroy,
};
