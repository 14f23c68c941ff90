/* Files: reading small ones (procfs, sysfs), removing and measuring trees,
 * fsync by name; and strict number parsing. */
#include "common/common.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

long cn_read_file(const char *path, char *buf, size_t cap)
{
    if (cap == 0)
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    for (;;) {
        if (len >= cap - 1) {
            /* Full: is there more? */
            char c;
            ssize_t n = read(fd, &c, 1);
            close(fd);
            if (n > 0)
                return -EFBIG;
            break;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            close(fd);
            return e;
        }
        if (n == 0) {
            close(fd);
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return (long)len;
}

int cn_read_file_buf(const char *path, struct cn_buf *out, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    cn_buf_reset(out);
    for (;;) {
        if (cn_buf_reserve(out, 4096)) {
            close(fd);
            return out->err;
        }
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            close(fd);
            return e;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        if (out->len > max) {
            close(fd);
            return -EFBIG;
        }
    }
    close(fd);
    out->data[out->len] = '\0';
    return 0;
}

char *cn_path_join(char *out, size_t cap, const char *first, ...)
{
    va_list ap;
    size_t len = 0;
    const char *part = first;
    va_start(ap, first);
    while (part) {
        size_t n = strlen(part);
        bool sep = len > 0 && out[len - 1] != '/' && part[0] != '/';
        if (len > 0 && out[len - 1] == '/' && part[0] == '/') {
            part++;
            n--;
        }
        if (len + sep + n + 1 > cap) {
            va_end(ap);
            return NULL;
        }
        if (sep)
            out[len++] = '/';
        memcpy(out + len, part, n);
        len += n;
        part = va_arg(ap, const char *);
    }
    va_end(ap);
    if (cap == 0)
        return NULL;
    out[len] = '\0';
    return out;
}

char *cn_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static const char *skip_ws(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

static bool only_ws(const char *s)
{
    return *skip_ws(s) == '\0';
}

int cn_parse_u64(const char *s, uint64_t *out)
{
    s = skip_ws(s);
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (end == s || !only_ws(end))
        return -EINVAL;
    *out = v;
    return 0;
}

int cn_parse_i64(const char *s, int64_t *out)
{
    s = skip_ws(s);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (end == s || !only_ws(end))
        return -EINVAL;
    *out = v;
    return 0;
}

int cn_parse_double(const char *s, double *out)
{
    s = skip_ws(s);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || !only_ws(end))
        return -EINVAL;
    if (errno == ERANGE && isinf(v))
        return -ERANGE;
    *out = v;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) && errno != ENOENT ? -1 : 0;
}

int cn_remove_all(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return remove(path) ? -errno : 0;
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) ? -errno : 0;
}

/* Adds the sizes under path (len bytes of a PATH_MAX buffer) to *total. */
static void du_walk(char *path, size_t len, uint64_t *total)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISREG(st.st_mode))
        *total += (uint64_t)st.st_size;
    if (!S_ISDIR(st.st_mode))
        return;
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || len + 1 + n >= PATH_MAX)
            continue;
        path[len] = '/';
        memcpy(path + len + 1, e->d_name, n + 1);
        du_walk(path, len + 1 + n, total);
        path[len] = '\0';
    }
    closedir(d);
}

uint64_t cn_disk_usage(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    uint64_t total = 0;
    if (len >= sizeof(buf))
        return 0;
    memcpy(buf, path, len + 1);
    du_walk(buf, len, &total);
    return total;
}

int cn_fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}
