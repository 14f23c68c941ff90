/*
 * A collector's cache of open files.
 *
 * Collectors read the same procfs and sysfs files every cycle. Opening one
 * costs a path walk and, for /proc/net, a namespace lookup: 5 to 10 us on a
 * virtual machine, often more than producing the content. The kernel
 * regenerates seq_file and sysfs attribute content when a descriptor is read
 * again from offset 0, so a file can stay open and be re-read with pread().
 *
 * Only files on procfs and sysfs are kept open: a regular file on disk may
 * be replaced by rename (os-release on an upgrade, a textfile), and an open
 * descriptor would keep reading the old one.
 *
 * The cache maps a path to a descriptor with a small open-addressing table.
 * A read of a cached descriptor that fails the way a vanished file fails
 * (ENODEV, ESTALE, ENOENT, EBADF) is retried once on a freshly opened one, so
 * a device that was removed and re-created under the same name is read
 * again. Descriptors not read during a cycle are closed at the cycle's end
 * (plg_files_sweep), so interfaces and disks that disappear do not pin
 * descriptors. The table is bounded; past the bound files are read the plain
 * way (open, read, close).
 *
 * Three ways of reading share the lookup and the retry: the whole file as
 * cn_read_file and cn_read_file_buf do (plg_read, plg_read_buf), and a
 * sysfs attribute's single read (plg_sysfs_read_at). A collector that lists
 * a directory every cycle anyway can pass its descriptor so that a file not
 * in the cache is opened with openat() rather than by its whole path.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#define PROC_MAGIC 0x9fa0
#define SYSFS_MAGIC 0x62656572

struct file_entry {
    char *path; /* owned; NULL: empty slot */
    uint64_t hash;
    int fd;
    bool used; /* read since the last sweep */
};

struct plg_files {
    struct file_entry *slots;
    size_t nslots; /* power of two, twice max_open */
    size_t count, max_open;
    size_t opened; /* open(2) calls made, for plg_files_opened */
};

static uint64_t path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct plg_files *plg_files_create(size_t max_open)
{
    struct plg_files *f = cn_calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->max_open = max_open ? max_open : 1;
    f->nslots = 4;
    while (f->nslots < f->max_open * 2)
        f->nslots *= 2;
    f->slots = cn_calloc(f->nslots, sizeof(*f->slots));
    if (!f->slots) {
        free(f);
        return NULL;
    }
    return f;
}

static void entry_clear(struct file_entry *e)
{
    close(e->fd);
    free(e->path);
    e->path = NULL;
}

/* Re-inserts the entries after slot i up to the next empty slot, so that
 * linear probing still finds them once slot i is empty. */
static void remove_at(struct plg_files *f, size_t i)
{
    entry_clear(&f->slots[i]);
    f->count--;
    size_t mask = f->nslots - 1;
    for (size_t j = (i + 1) & mask; f->slots[j].path; j = (j + 1) & mask) {
        struct file_entry e = f->slots[j];
        f->slots[j].path = NULL;
        size_t k = e.hash & mask;
        while (f->slots[k].path)
            k = (k + 1) & mask;
        f->slots[k] = e;
    }
}

void plg_files_destroy(struct plg_files *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nslots; i++)
        if (f->slots[i].path)
            entry_clear(&f->slots[i]);
    free(f->slots);
    free(f);
}

void plg_files_sweep(struct plg_files *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nslots;) {
        struct file_entry *e = &f->slots[i];
        if (e->path && !e->used) {
            remove_at(f, i); /* may move another entry into slot i */
            continue;
        }
        e->used = false;
        i++;
    }
}

size_t plg_files_open_count(const struct plg_files *f)
{
    return f ? f->count : 0;
}

size_t plg_files_opened(const struct plg_files *f)
{
    return f ? f->opened : 0;
}

/* Reads fd from offset 0 into buf (cap bytes, NUL-terminated) the way
 * cn_read_file() does. */
static long pread_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        if (len >= cap - 1) {
            char c;
            ssize_t n = pread(fd, &c, 1, (off_t)len);
            if (n > 0)
                return -EFBIG;
            break;
        }
        ssize_t n = pread(fd, buf + len, cap - 1 - len, (off_t)len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (long)len;
}

static int pread_buf(int fd, struct cn_buf *out, size_t max)
{
    cn_buf_reset(out);
    for (;;) {
        if (cn_buf_reserve(out, 4096))
            return out->err;
        ssize_t n = pread(fd, out->data + out->len, out->cap - out->len - 1, (off_t)out->len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        if (out->len > max)
            return -EFBIG;
    }
    out->data[out->len] = '\0';
    return 0;
}

static bool vanished(long rc)
{
    return rc == -ENODEV || rc == -ESTALE || rc == -ENOENT || rc == -EBADF;
}

/*
 * Finds path in f or opens it, as name relative to dirfd (name is path for
 * AT_FDCWD). Returns a descriptor (>= 0) and sets *cached when it belongs to
 * the cache; the caller closes an uncached one. fresh drops a cached entry
 * first.
 */
static int acquire(struct plg_files *f, int dirfd, const char *name, const char *path, bool fresh,
                   bool *cached)
{
    *cached = false;
    uint64_t h = 0;
    size_t mask = 0, i = 0;
    if (f) {
        h = path_hash(path);
        mask = f->nslots - 1;
        for (i = h & mask; f->slots[i].path; i = (i + 1) & mask) {
            struct file_entry *e = &f->slots[i];
            if (e->hash == h && strcmp(e->path, path) == 0) {
                if (fresh) {
                    remove_at(f, i);
                    break;
                }
                e->used = true;
                *cached = true;
                return e->fd;
            }
        }
    }
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (f)
        f->opened++;
    if (fd < 0)
        return -errno;
    if (!f || f->count >= f->max_open)
        return fd;
    struct statfs sfs;
    if (fstatfs(fd, &sfs) != 0 || (sfs.f_type != PROC_MAGIC && sfs.f_type != SYSFS_MAGIC))
        return fd;
    char *copy = cn_strdup(path);
    if (!copy)
        return fd;
    for (i = h & mask; f->slots[i].path; i = (i + 1) & mask)
        ;
    f->slots[i] = (struct file_entry){.path = copy, .hash = h, .fd = fd, .used = true};
    f->count++;
    *cached = true;
    return fd;
}

/* Drops path's entry after a failed read. */
static void forget(struct plg_files *f, const char *path)
{
    uint64_t h = path_hash(path);
    size_t mask = f->nslots - 1;
    for (size_t i = h & mask; f->slots[i].path; i = (i + 1) & mask)
        if (f->slots[i].hash == h && strcmp(f->slots[i].path, path) == 0) {
            remove_at(f, i);
            return;
        }
}

/* How to read a descriptor: as cn_read_file, as cn_read_file_buf, or as
 * plg_sysfs_pread. */
struct read_req {
    enum { READ_WHOLE, READ_BUF, READ_ONCE } how;
    char *buf; /* READ_WHOLE: cap bytes; READ_ONCE: PLG_SYSFS_MAX + 1 bytes */
    size_t cap;
    struct cn_buf *out; /* READ_BUF, at most max bytes */
    size_t max;
    const char *cutset; /* READ_ONCE */
};

static long read_fd(int fd, const struct read_req *r)
{
    switch (r->how) {
    case READ_WHOLE: return pread_all(fd, r->buf, r->cap);
    case READ_BUF: return pread_buf(fd, r->out, r->max);
    default: return plg_sysfs_pread(fd, r->buf, r->cutset);
    }
}

/* Reads path as r asks, through c->files (plainly when there is none),
 * opening it as name relative to dirfd. *at_open (may be NULL): whether a
 * failure came from opening the file. */
static long cached_read(struct plg_collect *c, int dirfd, const char *name, const char *path,
                        const struct read_req *r, bool *at_open)
{
    struct plg_files *f = c ? c->files : NULL;
    for (int attempt = 0;; attempt++) {
        bool cached;
        int fd = acquire(f, dirfd, name, path, attempt > 0, &cached);
        if (at_open)
            *at_open = fd < 0;
        if (fd < 0)
            return fd;
        long rc = read_fd(fd, r);
        if (!cached)
            close(fd);
        else if (rc < 0 && rc != -EFBIG)
            forget(f, path);
        if (rc >= 0 || !cached || attempt > 0 || !vanished(rc))
            return rc;
    }
}

long plg_read(struct plg_collect *c, const char *path, char *buf, size_t cap)
{
    if (cap == 0)
        return -EINVAL;
    struct read_req r = {.how = READ_WHOLE, .buf = buf, .cap = cap};
    return cached_read(c, AT_FDCWD, path, path, &r, NULL);
}

int plg_read_buf(struct plg_collect *c, const char *path, struct cn_buf *out, size_t max)
{
    struct read_req r = {.how = READ_BUF, .out = out, .max = max};
    return (int)cached_read(c, AT_FDCWD, path, path, &r, NULL);
}

long plg_sysfs_read_at(struct plg_collect *c, int dirfd, const char *path, const char *cutset,
                       char *out, bool *at_open)
{
    out[0] = '\0';
    const char *name = path;
    if (dirfd != AT_FDCWD) {
        const char *slash = strrchr(path, '/');
        name = slash ? slash + 1 : path;
    }
    struct read_req r = {.how = READ_ONCE, .buf = out, .cutset = cutset};
    return cached_read(c, dirfd, name, path, &r, at_open);
}

long plg_sysfs_read(struct plg_collect *c, const char *path, char *out)
{
    return plg_sysfs_read_at(c, AT_FDCWD, path, PLG_SPACE, out, NULL);
}
