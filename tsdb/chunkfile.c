/*
 * Chunk segment files, the chunks/000001, 000002 ... files of a block
 * (../shared/reference/prometheus-tsdb-format/chunks.md), as Prometheus'
 * tsdb/chunks Writer and Reader lay them out.
 *
 * A segment is an 8-byte header (magic 0x85BD40DD big-endian, version 1,
 * three zero bytes) followed by chunks, each framed as
 *   uvarint(len(data)) | encoding byte | data | CRC32-C(encoding, data)
 * with the CRC big-endian. A chunk's reference is the segment's position
 * among the writer's segments (0-based, not the file's number) in the upper
 * 32 bits and the frame's byte offset in the file in the lower 32.
 *
 * Writer. Files are numbered after the highest number already in the
 * directory (a new block's directory has none), written through one buffer,
 * and a new segment is started before a chunk would take the current one
 * past its size limit, counting the length field at its 5-byte maximum as
 * Prometheus does, so a segment never holds less than one chunk. Prometheus
 * decides per batch of one series' chunks and cairn per chunk: the files can
 * differ only in where a segment boundary falls, every reader accepts both.
 * Prometheus pre-allocates each segment and writes it under a .tmp name
 * first; that protects a segment written in place, while block files are
 * written inside a temporary block directory that is renamed once complete,
 * so this writer writes the final names directly.
 *
 * Reader. Segments are mapped read-only; a chunk is checked when it is
 * fetched (offset and length inside its segment, then the CRC), so one
 * damaged chunk costs that chunk only. The reader never writes, so several
 * threads may fetch chunks from one reader at once.
 */
#include "tsdb/tsdb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT_HEADER 8
#define MAX_LEN_FIELD 5 /* binary.MaxVarintLen32 */
#define WRITE_BUFFER (256u << 10)

/* Parses a segment file name the way Go's strconv.ParseUint(name, 10, 64)
 * accepts it: decimal digits only, no sign, no overflow. */
static bool segment_number(const char *name, uint64_t *out)
{
    uint64_t v = 0;
    if (!*name)
        return false;
    for (const char *p = name; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ---- writer --------------------------------------------------------------------------------- */

struct tsdb_chunk_writer {
    int dirfd;
    int fd;           /* the current segment, -1 before the first */
    uint64_t segsize; /* a segment's size limit */
    uint64_t next;    /* the number of the next segment file */
    int64_t seq;      /* the current segment's index among ours, -1 before the first */
    uint64_t n;       /* bytes in the current segment, buffered ones included */
    uint8_t *buf;
    size_t blen;
    int err; /* sticky: the first failure */
};

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int flush(struct tsdb_chunk_writer *w)
{
    int rc = w->blen ? write_all(w->fd, w->buf, w->blen) : 0;
    w->blen = 0;
    return rc;
}

static int put(struct tsdb_chunk_writer *w, const void *p, size_t n)
{
    int rc;
    if (n > WRITE_BUFFER - w->blen && (rc = flush(w)))
        return rc;
    if (n >= WRITE_BUFFER)
        return write_all(w->fd, p, n);
    memcpy(w->buf + w->blen, p, n);
    w->blen += n;
    return 0;
}

/* Flushes, syncs and closes the current segment. */
static int finish_segment(struct tsdb_chunk_writer *w)
{
    if (w->fd < 0)
        return 0;
    int rc = flush(w);
    if (!rc && fsync(w->fd))
        rc = -errno;
    if (close(w->fd) && !rc)
        rc = -errno;
    w->fd = -1;
    return rc;
}

static int cut(struct tsdb_chunk_writer *w)
{
    int rc = finish_segment(w);
    if (rc)
        return rc;
    char name[32];
    snprintf(name, sizeof(name), "%06llu", (unsigned long long)w->next);
    int fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return -errno;
    w->fd = fd;
    w->next++;
    w->seq++;
    w->n = 0;
    const uint8_t header[SEGMENT_HEADER] = {(uint8_t)(TSDB_CHUNKS_MAGIC >> 24),
                                            (uint8_t)(TSDB_CHUNKS_MAGIC >> 16),
                                            (uint8_t)(TSDB_CHUNKS_MAGIC >> 8),
                                            (uint8_t)TSDB_CHUNKS_MAGIC,
                                            1,
                                            0,
                                            0,
                                            0};
    if ((rc = put(w, header, sizeof(header))))
        return rc;
    w->n = SEGMENT_HEADER;
    return 0;
}

int tsdb_chunk_writer_open_size(const char *dir, uint64_t segment_size,
                                struct tsdb_chunk_writer **out)
{
    *out = NULL;
    if (segment_size <= SEGMENT_HEADER || segment_size > UINT32_MAX)
        return -EINVAL;
    if (mkdir(dir, 0777) && errno != EEXIST)
        return -errno;
    struct tsdb_chunk_writer *w = cn_calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->fd = -1;
    w->seq = -1;
    w->segsize = segment_size;
    w->buf = cn_malloc(WRITE_BUFFER);
    w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = !w->buf ? -ENOMEM : w->dirfd < 0 ? -errno : 0;
    if (rc)
        goto fail;

    /* Number the files after those already there, as Prometheus does. */
    int dfd = dup(w->dirfd);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        rc = -errno;
        if (dfd >= 0)
            close(dfd);
        goto fail;
    }
    uint64_t max = 0, v;
    for (struct dirent *de; (de = readdir(d));)
        if (segment_number(de->d_name, &v) && v > max)
            max = v;
    closedir(d);
    if (max >= UINT64_MAX - 1) {
        rc = -ERANGE;
        goto fail;
    }
    w->next = max + 1;
    *out = w;
    return 0;

fail:
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w->buf);
    free(w);
    return rc;
}

int tsdb_chunk_writer_open(const char *dir, struct tsdb_chunk_writer **out)
{
    return tsdb_chunk_writer_open_size(dir, TSDB_SEGMENT_MAX_BYTES, out);
}

int tsdb_chunk_writer_add(struct tsdb_chunk_writer *w, const uint8_t *data, size_t len,
                          tsdb_chunk_ref *ref)
{
    if (w->err)
        return w->err;
    if (len == 0)
        return -EINVAL;
    /* The frame must start below 4 GiB to be referenced, and the length
     * field has at most 5 bytes. */
    if (len > UINT32_MAX - SEGMENT_HEADER - MAX_LEN_FIELD - 1 - 4)
        return -EFBIG;
    uint64_t size = MAX_LEN_FIELD + 1 + (uint64_t)len + 4;
    int rc = 0;
    if (w->fd < 0 || (w->n > SEGMENT_HEADER && w->n + size > w->segsize))
        rc = cut(w);

    uint8_t frame[MAX_LEN_FIELD + 1];
    size_t fl = 0;
    for (uint64_t x = len; x >= 0x80; x >>= 7)
        frame[fl++] = (uint8_t)(x | 0x80);
    frame[fl] = (uint8_t)(len >> (7 * fl));
    fl++;
    frame[fl++] = TSDB_CHUNK_ENC_XOR;
    uint32_t crc = tsdb_crc32c(tsdb_crc32c(0, &frame[fl - 1], 1), data, len);
    uint8_t sum[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
                      (uint8_t)crc};
    uint64_t off = w->n;
    if (!rc && off + fl + len + 4 > UINT32_MAX)
        rc = -EFBIG;
    if (!rc)
        rc = put(w, frame, fl);
    if (!rc)
        rc = put(w, data, len);
    if (!rc)
        rc = put(w, sum, sizeof(sum));
    if (rc) {
        w->err = rc;
        return rc;
    }
    w->n = off + fl + len + 4;
    *ref = (uint64_t)w->seq << 32 | off;
    return 0;
}

int tsdb_chunk_writer_close(struct tsdb_chunk_writer *w)
{
    if (!w)
        return 0;
    int rc = finish_segment(w);
    if (!rc)
        rc = w->err;
    /* The new names must survive a crash too. */
    if (fsync(w->dirfd) && !rc)
        rc = -errno;
    close(w->dirfd);
    free(w->buf);
    free(w);
    return rc;
}

/* ---- reader --------------------------------------------------------------------------------- */

struct segment {
    const uint8_t *data;
    size_t len;
    char name[24];
};

struct tsdb_chunk_reader {
    struct segment *segs;
    size_t nsegs;
};

void tsdb_chunk_reader_close(struct tsdb_chunk_reader *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].data)
            munmap((void *)r->segs[i].data, r->segs[i].len);
    free(r->segs);
    free(r);
}

static int seg_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct segment *)a)->name, ((const struct segment *)b)->name);
}

/* Maps one segment and checks its header. */
static int map_segment(int dirfd, struct segment *s)
{
    int fd = openat(dirfd, s->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st))
        rc = -errno;
    else if (!S_ISREG(st.st_mode) || st.st_size < SEGMENT_HEADER)
        rc = -EINVAL;
    if (!rc) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            rc = -errno;
        } else {
            s->data = p;
            s->len = (size_t)st.st_size;
        }
    }
    close(fd);
    if (rc)
        return rc;
    const uint8_t *h = s->data;
    uint32_t magic = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (magic != TSDB_CHUNKS_MAGIC || h[4] != 1)
        return -EINVAL;
    return 0;
}

int tsdb_chunk_reader_open(const char *dir, struct tsdb_chunk_reader **out)
{
    *out = NULL;
    struct tsdb_chunk_reader *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    int rc = 0;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        free(r);
        return -errno;
    }
    int dfd = dup(dirfd);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        rc = -errno;
        if (dfd >= 0)
            close(dfd);
        goto done;
    }
    size_t cap = 0;
    uint64_t num;
    for (struct dirent *de; (de = readdir(d));) {
        if (!segment_number(de->d_name, &num) || strlen(de->d_name) >= sizeof(r->segs->name))
            continue;
        if (r->nsegs == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct segment *ns = cn_realloc(r->segs, ncap * sizeof(*ns));
            if (!ns) {
                rc = -ENOMEM;
                break;
            }
            r->segs = ns;
            cap = ncap;
        }
        struct segment *s = &r->segs[r->nsegs++];
        memset(s, 0, sizeof(*s));
        strcpy(s->name, de->d_name);
    }
    closedir(d);
    if (rc)
        goto done;
    /* Go's os.ReadDir order: by name. */
    if (r->nsegs)
        qsort(r->segs, r->nsegs, sizeof(*r->segs), seg_name_cmp);
    for (size_t i = 0; i < r->nsegs && !rc; i++)
        rc = map_segment(dirfd, &r->segs[i]);

done:
    close(dirfd);
    if (rc) {
        tsdb_chunk_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int tsdb_chunk_reader_get(const struct tsdb_chunk_reader *r, tsdb_chunk_ref ref,
                          const uint8_t **data, size_t *len, uint8_t *encoding)
{
    uint64_t seg = ref >> 32, off = ref & 0xffffffffu;
    if (seg >= r->nsegs)
        return -EINVAL;
    const uint8_t *p = r->segs[seg].data;
    uint64_t size = r->segs[seg].len;
    if (off < SEGMENT_HEADER || off >= size)
        return -EINVAL;

    /* The length: a uvarint of at most 5 bytes inside the file. */
    uint64_t dlen = 0, pos = off;
    for (unsigned i = 0;; i++) {
        if (i == MAX_LEN_FIELD || pos >= size)
            return -EINVAL;
        uint8_t b = p[pos++];
        dlen |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80)
            break;
    }
    /* encoding, data and CRC must lie inside the file. */
    if (dlen > size || size - pos < 1 + dlen + 4)
        return -EINVAL;
    const uint8_t *enc = p + pos, *sum = enc + 1 + dlen;
    uint32_t want =
        (uint32_t)sum[0] << 24 | (uint32_t)sum[1] << 16 | (uint32_t)sum[2] << 8 | sum[3];
    if (tsdb_crc32c(0, enc, 1 + dlen) != want)
        return -EBADMSG;
    *data = enc + 1;
    *len = (size_t)dlen;
    *encoding = *enc;
    return 0;
}
