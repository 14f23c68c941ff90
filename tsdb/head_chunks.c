/*
 * Head chunk files: the <data dir>/chunks_head/000001, 000002 ... files in
 * which a disk-backed head keeps its full chunks, byte for byte as
 * Prometheus 2.42's ChunkDiskMapper (tsdb/chunks/head_chunks.go,
 * tsdb/docs/format/head_chunks.md) writes them, because Prometheus may be
 * started on an agent's data directory and reads chunks_head/ at startup.
 *
 * A file is an 8-byte header (magic 0x0130BC91 big-endian, version 1,
 * three zero bytes) followed by chunks, each framed as
 *   series ref <8> | mint <8> | maxt <8> | encoding <1> | uvarint len |
 *   data <len> | CRC32-C of everything before it in the frame <4>
 * (integers big-endian). Files are at most 128 MiB, as Prometheus'.
 *
 * What Prometheus relies on when it reads them, and so what this file and
 * the head guarantee:
 * - File numbers are consecutive: it refuses to start on a gap. Files are
 *   numbered upwards from 000001 and deleted oldest first only, so a file
 *   no chunk references waits until every older one can go too.
 * - Per series, chunks appear in time order and every sample after the
 *   series' last chunk on disk is in the WAL: it skips WAL samples up to
 *   that chunk's maxt. The head writes a series' chunks in order and keeps
 *   on-disk ones before in-memory ones (see head.c).
 * - A torn or damaged tail makes it drop that file and the ones after and
 *   replay the WAL instead. A failed write is therefore cut back off the
 *   file (ftruncate to the last complete chunk), and a file is fsync'd when
 *   it is ended (at a truncation, at 128 MiB, at close), as Prometheus does,
 *   so older files survive a power loss whole.
 *
 * cairn itself never reads these files after a restart: the WAL holds
 * everything not yet in a block, so opening deletes what an earlier run
 * (or Prometheus) left and the head starts empty. Chunks are written with
 * one pwrite(2) each, unbuffered, and read back with pread(2), so a reader
 * needs no state beyond the file descriptors, which change only under the
 * head's write lock. Files stay open (they are few: a new one per
 * truncation, deleted a truncation or two later).
 */
#include "tsdb/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FRAME_FIXED 25 /* series ref, mint, maxt, encoding */
#define CRC_SIZE 4

struct hcfile {
    int fd;
    uint32_t seq;  /* the file's number */
    uint32_t size; /* header and complete chunks */
    uint64_t live; /* chunks in it the head references */
};

struct tsdb_hchunks {
    char *dir;
    struct hcfile *files; /* ascending, consecutive numbers */
    size_t nfiles, cap;
    bool writing;      /* the last file takes new chunks */
    uint32_t next_seq; /* the number of the next file */
    uint8_t *wbuf;     /* one frame being written */
    size_t wcap;
    uint64_t chunks, bytes, failures;
    int logged; /* the write error last logged; 0 after a success */
};

/* Go's strconv.ParseUint(name, 10, 64) accepting the name, optionally
 * with a .tmp suffix (Prometheus' half-created files). */
static bool chunk_file_name(const char *name)
{
    size_t n = strspn(name, "0123456789");
    return n > 0 && n <= 19 && (!name[n] || strcmp(name + n, ".tmp") == 0);
}

int tsdb_hchunks_open(const char *dir, struct tsdb_hchunks **out)
{
    char probe[PATH_MAX];
    if (!cn_path_join(probe, sizeof(probe), dir, "4294967295", NULL))
        return -ENAMETOOLONG; /* so that every file's path fits */
    if (mkdir(dir, 0755) && errno != EEXIST)
        return -errno;
    DIR *dh = opendir(dir);
    if (!dh)
        return -errno;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(dh)))
        if (chunk_file_name(e->d_name) && unlinkat(dirfd(dh), e->d_name, 0) && errno != ENOENT)
            rc = -errno;
    closedir(dh);
    if (rc)
        return rc;
    struct tsdb_hchunks *d = cn_calloc(1, sizeof(*d));
    if (!d || !(d->dir = cn_strdup(dir))) {
        free(d);
        return -ENOMEM;
    }
    d->next_seq = 1;
    *out = d;
    return 0;
}

/* Ends the file being written: it is synced and takes no more chunks. */
static void end_file(struct tsdb_hchunks *d)
{
    if (!d->writing)
        return;
    d->writing = false;
    struct hcfile *f = &d->files[d->nfiles - 1];
    if (fdatasync(f->fd))
        cn_log(CN_LOG_WARN, "tsdb", "syncing a head chunk file failed", "dir", d->dir, "file",
               CN_LOGNUM(f->seq), "err", strerror(errno), NULL);
}

void tsdb_hchunks_close(struct tsdb_hchunks *d)
{
    if (!d)
        return;
    end_file(d);
    for (size_t i = 0; i < d->nfiles; i++)
        close(d->files[i].fd);
    free(d->files);
    free(d->wbuf);
    free(d->dir);
    free(d);
}

/* The path of file seq (it fits: checked at open). */
static void file_path(const struct tsdb_hchunks *d, uint32_t seq, char path[PATH_MAX])
{
    char name[16];
    snprintf(name, sizeof(name), "%06u", (unsigned)seq);
    cn_path_join(path, PATH_MAX, d->dir, name, NULL);
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

/* Creates the next file with its header and makes it the one written. */
static int new_file(struct tsdb_hchunks *d)
{
    char path[PATH_MAX];
    if (cn_array_grow((void **)&d->files, &d->cap, d->nfiles + 1, sizeof(*d->files), 4))
        return -ENOMEM;
    file_path(d, d->next_seq, path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    uint8_t hdr[TSDB_HCHUNKS_HEADER] = {TSDB_HCHUNKS_MAGIC >> 24, (TSDB_HCHUNKS_MAGIC >> 16) & 0xff,
                                        (TSDB_HCHUNKS_MAGIC >> 8) & 0xff, TSDB_HCHUNKS_MAGIC & 0xff,
                                        1};
    int rc = pwrite_all(fd, hdr, sizeof(hdr), 0);
    if (rc) {
        close(fd);
        unlink(path);
        return rc;
    }
    d->files[d->nfiles++] = (struct hcfile){.fd = fd, .seq = d->next_seq++, .size = sizeof(hdr)};
    d->bytes += sizeof(hdr);
    d->writing = true;
    return 0;
}

static size_t uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t tsdb_hchunks_frame_size(size_t len)
{
    return FRAME_FIXED + uvarint_len(len) + len + CRC_SIZE;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The frame's bytes before the data; returns their count. */
static size_t frame_head(uint8_t *p, uint64_t series, int64_t mint, int64_t maxt, size_t len)
{
    put_be64(p, series);
    put_be64(p + 8, (uint64_t)mint);
    put_be64(p + 16, (uint64_t)maxt);
    p[24] = TSDB_CHUNK_ENC_XOR;
    size_t n = FRAME_FIXED;
    uint64_t v = len;
    for (; v >= 0x80; v >>= 7)
        p[n++] = (uint8_t)(v | 0x80);
    p[n++] = (uint8_t)v;
    return n;
}

static int write_frame(struct tsdb_hchunks *d, const uint8_t *frame, size_t n, uint32_t *file,
                       uint32_t *off)
{
    int rc;
    if (d->writing && d->files[d->nfiles - 1].size + n > TSDB_HCHUNKS_MAX_FILE)
        end_file(d);
    if (!d->writing && (rc = new_file(d)))
        return rc;
    struct hcfile *f = &d->files[d->nfiles - 1];
    rc = pwrite_all(f->fd, frame, n, f->size);
    if (rc) {
        /* Cut the partial frame off; if even that fails, leave the torn
         * tail at the end of a file no chunk will follow in (Prometheus
         * drops such a file and replays the WAL). */
        if (ftruncate(f->fd, f->size))
            end_file(d);
        return rc;
    }
    *file = f->seq;
    *off = f->size;
    f->size += (uint32_t)n;
    f->live++;
    d->chunks++;
    d->bytes += n;
    return 0;
}

int tsdb_hchunks_write(struct tsdb_hchunks *d, uint64_t series, int64_t mint, int64_t maxt,
                       const uint8_t *data, size_t len, uint32_t *file, uint32_t *off)
{
    size_t n = tsdb_hchunks_frame_size(len);
    int rc = 0;
    if (len == 0 || n > TSDB_HCHUNKS_MAX_FILE - TSDB_HCHUNKS_HEADER)
        rc = -EINVAL;
    else if (cn_array_grow((void **)&d->wbuf, &d->wcap, n, 1, 256))
        rc = -ENOMEM;
    if (!rc) {
        size_t h = frame_head(d->wbuf, series, mint, maxt, len);
        memcpy(d->wbuf + h, data, len);
        put_be32(d->wbuf + h + len, tsdb_crc32c(0, d->wbuf, h + len));
        rc = write_frame(d, d->wbuf, n, file, off);
    }
    if (!rc) {
        if (d->logged)
            cn_log(CN_LOG_INFO, "tsdb", "writing head chunks to disk works again", "dir", d->dir,
                   NULL);
        d->logged = 0;
        return 0;
    }
    d->failures++;
    if (rc != d->logged)
        cn_log(CN_LOG_WARN, "tsdb", "writing a head chunk to disk failed; keeping it in memory",
               "dir", d->dir, "err", strerror(-rc), NULL);
    d->logged = rc;
    return rc;
}

static struct hcfile *find_file(const struct tsdb_hchunks *d, uint32_t seq)
{
    if (!d->nfiles || seq < d->files[0].seq || seq - d->files[0].seq >= d->nfiles)
        return NULL;
    return &d->files[seq - d->files[0].seq];
}

int tsdb_hchunks_read(const struct tsdb_hchunks *d, uint32_t file, uint32_t off, uint64_t series,
                      int64_t mint, int64_t maxt, size_t len, uint8_t *frame, const uint8_t **data)
{
    const struct hcfile *f = find_file(d, file);
    size_t n = tsdb_hchunks_frame_size(len);
    if (!f || off < TSDB_HCHUNKS_HEADER || n > f->size || off > f->size - n)
        return -EINVAL;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(f->fd, frame + got, n - got, (off_t)off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EBADMSG;
        got += (size_t)r;
    }
    uint8_t want[FRAME_FIXED + 10];
    size_t h = frame_head(want, series, mint, maxt, len);
    const uint8_t *sum = frame + h + len;
    uint32_t crc = (uint32_t)sum[0] << 24 | (uint32_t)sum[1] << 16 | (uint32_t)sum[2] << 8 | sum[3];
    if (memcmp(frame, want, h) || tsdb_crc32c(0, frame, h + len) != crc)
        return -EBADMSG;
    *data = frame + h;
    return 0;
}

void tsdb_hchunks_release(struct tsdb_hchunks *d, uint32_t file)
{
    struct hcfile *f = find_file(d, file);
    if (f && f->live) {
        f->live--;
        d->chunks--;
    }
}

void tsdb_hchunks_gc(struct tsdb_hchunks *d)
{
    if (d->writing && d->files[d->nfiles - 1].size > TSDB_HCHUNKS_HEADER)
        end_file(d);
    size_t k = 0;
    for (; k < d->nfiles && !d->files[k].live && !(d->writing && k == d->nfiles - 1); k++) {
        char path[PATH_MAX];
        file_path(d, d->files[k].seq, path);
        if (unlink(path) && errno != ENOENT) {
            cn_log(CN_LOG_WARN, "tsdb", "deleting a head chunk file failed; will retry", "dir",
                   d->dir, "file", CN_LOGNUM(d->files[k].seq), "err", strerror(errno), NULL);
            break;
        }
        close(d->files[k].fd);
        d->bytes -= d->files[k].size;
    }
    if (k) {
        memmove(d->files, d->files + k, (d->nfiles - k) * sizeof(*d->files));
        d->nfiles -= k;
    }
}

void tsdb_hchunks_stats(const struct tsdb_hchunks *d, struct tsdb_head_stats *st)
{
    st->disk_chunks = d->chunks;
    st->disk_bytes = d->bytes;
    st->disk_write_failures = d->failures;
}
