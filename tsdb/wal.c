/*
 * The write-ahead log: segments of 32 KiB pages holding records split into
 * fragments, byte for byte as Prometheus 2.42's tsdb/wlog writes them with
 * compression off (see the "write-ahead log" section of tsdb.h for the
 * format).
 *
 * Writer. One page is assembled in memory; every tsdb_wal_log() call ends by
 * writing the part of the page not yet written, so the kernel always holds
 * every logged record and a crash of the process loses nothing. A page is
 * "done" when fewer than a header's 7 bytes are left in it or the segment
 * ends: its rest is zero-filled (the reader treats a 0 type byte as "rest
 * of page is padding"). Before a record would overrun the segment, the
 * segment is padded, fsync'd and the next one is created; fsync otherwise
 * happens only on tsdb_wal_sync() and close, which leaves the cost of
 * durability to the caller's policy. Like Prometheus, opening a WAL always
 * starts a fresh segment, so a possibly torn old tail is never extended.
 *
 * Reader. Segments are mapped and decoded by tsdb_wal_seg_reader, a pure
 * function of the bytes: every length is checked against the page and the
 * mapping before use, so damage is reported (segment, offset of the
 * damaged record, reason) and never crashes. Compressed fragments (bit 3 of
 * the type byte, snappy's block format, which Prometheus writes by default)
 * are decoded by the small snappy decoder below, bounded by the output size
 * the stream declares and by snappy's maximal expansion ratio.
 *
 * Repair follows Prometheus' Repair: later segments are deleted, the damaged
 * one is cut at the start of the damaged record and padded to a page.
 *
 * Checkpoints follow Prometheus' Checkpoint: the still-needed records of a
 * range of segments (and of the previous checkpoint) are filtered into a
 * WAL of their own, written under checkpoint.N.tmp and renamed when
 * complete, so a crash leaves either the old or the new checkpoint. Series
 * and tombstone entries are copied byte for byte (their encoding does not
 * depend on their neighbours); samples are re-encoded because their base
 * reference and time may move. The reader replays the newest checkpoint,
 * then the segments after it.
 */
#include "tsdb/tsdb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FRAG_PAD = 0, FRAG_FULL = 1, FRAG_FIRST = 2, FRAG_MIDDLE = 3, FRAG_LAST = 4 };
#define FRAG_SNAPPY 0x08u

/* ---- helpers ------------------------------------------------------------------------- */

static void seg_path(char *buf, size_t cap, const char *dir, int seg)
{
    snprintf(buf, cap, "%s/%08d", dir, seg);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int tsdb_wal_segments(const char *dir, int **segs, size_t *n)
{
    *segs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l == 0 || l > 9 || strspn(e->d_name, "0123456789") != l)
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            int *nv = cn_realloc(v, nc * sizeof(*v));
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[cnt++] = (int)strtol(e->d_name, NULL, 10);
    }
    closedir(d);
    if (rc) {
        free(v);
        return rc;
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof(*v), cmp_int);
    *segs = v;
    *n = cnt;
    return 0;
}

/* ---- writer -------------------------------------------------------------------------- */

struct tsdb_wal {
    char *dir;
    int fd, seg, err;
    uint64_t pages_per_seg, done_pages;
    size_t alloc, flushed; /* bytes of the page filled, and written out */
    uint8_t page[TSDB_WAL_PAGE_SIZE];
};

static int create_segment(struct tsdb_wal *w, int seg)
{
    char path[PATH_MAX];
    seg_path(path, sizeof(path), w->dir, seg);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = sync_dir(w->dir);
    if (rc) {
        close(fd);
        return rc;
    }
    w->fd = fd;
    w->seg = seg;
    w->done_pages = 0;
    return 0;
}

/* Writes the unwritten part of the page; with pad (or a full page) the page
 * is completed with zeros and a new one starts. */
static int log_fragments(struct tsdb_wal *w, const uint8_t *rec, size_t len);

static int flush_page(struct tsdb_wal *w, bool pad)
{
    if (pad || TSDB_WAL_PAGE_SIZE - w->alloc < TSDB_WAL_HEADER_SIZE) {
        pad = true;
        w->alloc = TSDB_WAL_PAGE_SIZE; /* the bytes past alloc are zero */
    }
    int rc = write_all(w->fd, w->page + w->flushed, w->alloc - w->flushed);
    if (rc)
        return w->err = rc;
    w->flushed = w->alloc;
    if (pad) {
        memset(w->page, 0, sizeof(w->page));
        w->alloc = w->flushed = 0;
        w->done_pages++;
    }
    return 0;
}

static int next_segment(struct tsdb_wal *w)
{
    int rc = 0;
    if (w->alloc > 0 && (rc = flush_page(w, true)))
        return rc;
    if (fsync(w->fd))
        rc = -errno;
    if (close(w->fd) && !rc)
        rc = -errno;
    w->fd = -1;
    if (!rc)
        rc = create_segment(w, w->seg + 1);
    return rc ? (w->err = rc) : 0;
}

int tsdb_wal_open(const char *dir, uint64_t segment_size, struct tsdb_wal **out)
{
    *out = NULL;
    if (segment_size == 0)
        segment_size = TSDB_WAL_SEGMENT_SIZE;
    if (segment_size % TSDB_WAL_PAGE_SIZE || segment_size > (1ull << 40))
        return -EINVAL;
    if (mkdir(dir, 0777) && errno != EEXIST)
        return -errno;
    struct tsdb_wal *w = cn_calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->fd = -1;
    w->pages_per_seg = segment_size / TSDB_WAL_PAGE_SIZE;
    w->dir = cn_strdup(dir);
    int *segs = NULL;
    size_t n = 0;
    int rc = w->dir ? tsdb_wal_segments(dir, &segs, &n) : -ENOMEM;
    if (!rc)
        rc = create_segment(w, n ? segs[n - 1] + 1 : 0);
    free(segs);
    if (rc) {
        free(w->dir);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* After a failed write: cuts the segment back to the end of the last
 * complete record (good bytes; 0 when the record had started a new
 * segment), so the log ends cleanly instead of with a torn record that
 * replay would have to repair, deleting the segments written after it. */
static int log_failed(struct tsdb_wal *w, int seg, off_t good, int rc)
{
    if (w->fd >= 0 && ftruncate(w->fd, w->seg == seg ? good : 0) == 0)
        fdatasync(w->fd);
    return rc;
}

int tsdb_wal_log(struct tsdb_wal *w, const uint8_t *rec, size_t len)
{
    if (w->err)
        return w->err;
    if (len == 0)
        return -EINVAL;
    int seg = w->seg;
    off_t good = (off_t)(w->done_pages * TSDB_WAL_PAGE_SIZE + w->flushed);
    int rc = log_fragments(w, rec, len);
    return rc ? log_failed(w, seg, good, rc) : 0;
}

static int log_fragments(struct tsdb_wal *w, const uint8_t *rec, size_t len)
{
    int rc;
    if (TSDB_WAL_PAGE_SIZE - w->alloc < TSDB_WAL_HEADER_SIZE && (rc = flush_page(w, true)))
        return rc;
    /* Room in this page and the segment's remaining pages, as Prometheus
     * counts it (a header per page; negative once an oversized record has
     * run past the segment size, so the next record starts a new one). */
    int64_t left = (int64_t)(TSDB_WAL_PAGE_SIZE - w->alloc - TSDB_WAL_HEADER_SIZE) +
                   (int64_t)(TSDB_WAL_PAGE_SIZE - TSDB_WAL_HEADER_SIZE) *
                       ((int64_t)w->pages_per_seg - (int64_t)w->done_pages - 1);
    if ((left < 0 || len > (uint64_t)left) && (rc = next_segment(w)))
        return rc;

    for (size_t i = 0; i == 0 || len > 0; i++) {
        size_t room = TSDB_WAL_PAGE_SIZE - w->alloc - TSDB_WAL_HEADER_SIZE;
        size_t l = len < room ? len : room;
        uint8_t typ;
        if (i == 0)
            typ = l == len ? FRAG_FULL : FRAG_FIRST;
        else
            typ = l == len ? FRAG_LAST : FRAG_MIDDLE;
        uint8_t *h = w->page + w->alloc;
        uint32_t crc = tsdb_crc32c(0, rec, l);
        h[0] = typ;
        h[1] = (uint8_t)(l >> 8);
        h[2] = (uint8_t)l;
        h[3] = (uint8_t)(crc >> 24);
        h[4] = (uint8_t)(crc >> 16);
        h[5] = (uint8_t)(crc >> 8);
        h[6] = (uint8_t)crc;
        memcpy(h + TSDB_WAL_HEADER_SIZE, rec, l);
        w->alloc += TSDB_WAL_HEADER_SIZE + l;
        if (TSDB_WAL_PAGE_SIZE - w->alloc < TSDB_WAL_HEADER_SIZE && (rc = flush_page(w, true)))
            return rc;
        rec += l;
        len -= l;
    }
    return tsdb_wal_flush(w);
}

int tsdb_wal_flush(struct tsdb_wal *w)
{
    if (w->err)
        return w->err;
    if (w->alloc > w->flushed)
        return flush_page(w, false);
    return 0;
}

int tsdb_wal_sync(struct tsdb_wal *w)
{
    int rc = tsdb_wal_flush(w);
    if (rc)
        return rc;
    if (fdatasync(w->fd))
        return w->err = -errno;
    return 0;
}

int tsdb_wal_cut(struct tsdb_wal *w)
{
    return w->err ? w->err : next_segment(w);
}

int tsdb_wal_segment(const struct tsdb_wal *w)
{
    return w->seg;
}

int tsdb_wal_close(struct tsdb_wal *w)
{
    if (!w)
        return 0;
    int rc = w->err;
    if (w->fd >= 0) {
        if (!rc && w->alloc > 0)
            rc = flush_page(w, true);
        if (fsync(w->fd) && !rc)
            rc = -errno;
        if (close(w->fd) && !rc)
            rc = -errno;
    }
    free(w->dir);
    free(w);
    return rc;
}

/* ---- snappy (block format) ----------------------------------------------------------- */

/* Decodes src into *dst (grown as needed). 0 or -EBADMSG/-ENOMEM. */
static int snappy_decode(const uint8_t *src, size_t n, uint8_t **dst, size_t *cap, size_t *outlen,
                         char *err, size_t errcap)
{
    size_t i = 0;
    uint64_t want = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (i >= n || shift > 28) {
            snprintf(err, errcap, "snappy: bad length header");
            return -EBADMSG;
        }
        want |= (uint64_t)(src[i] & 0x7f) << shift;
        if (!(src[i++] & 0x80))
            break;
    }
    /* A snappy element expands at most 64 bytes per 2 input bytes. */
    if (want > 32 * (uint64_t)n + 64 || want > UINT32_MAX) {
        snprintf(err, errcap, "snappy: implausible length %llu", (unsigned long long)want);
        return -EBADMSG;
    }
    if (*cap < want || !*dst) {
        uint8_t *nd = cn_realloc(*dst, want ? want : 1);
        if (!nd)
            return -ENOMEM;
        *dst = nd;
        *cap = want ? want : 1;
    }
    uint8_t *d = *dst;
    size_t o = 0;
    while (i < n) {
        uint8_t tag = src[i++];
        size_t l, off;
        switch (tag & 3) {
        case 0:
            l = tag >> 2;
            if (l >= 60) {
                size_t nb = l - 59;
                if (n - i < nb)
                    goto bad;
                l = 0;
                for (size_t k = 0; k < nb; k++)
                    l |= (size_t)src[i + k] << (8 * k);
                i += nb;
            }
            l += 1;
            if (n - i < l || want - o < l)
                goto bad;
            memcpy(d + o, src + i, l);
            i += l;
            o += l;
            continue;
        case 1:
            if (n - i < 1)
                goto bad;
            l = 4 + ((tag >> 2) & 7);
            off = ((size_t)(tag >> 5) << 8) | src[i];
            i += 1;
            break;
        case 2:
            if (n - i < 2)
                goto bad;
            l = 1 + (tag >> 2);
            off = (size_t)src[i] | (size_t)src[i + 1] << 8;
            i += 2;
            break;
        default:
            if (n - i < 4)
                goto bad;
            l = 1 + (tag >> 2);
            off = (size_t)src[i] | (size_t)src[i + 1] << 8 | (size_t)src[i + 2] << 16 |
                  (size_t)src[i + 3] << 24;
            i += 4;
            break;
        }
        if (off == 0 || off > o || want - o < l)
            goto bad;
        for (size_t k = 0; k < l; k++, o++)
            d[o] = d[o - off]; /* overlapping copies repeat, as snappy means */
    }
    if (o != want)
        goto bad;
    *outlen = o;
    return 0;
bad:
    snprintf(err, errcap, "snappy: corrupt compressed data");
    return -EBADMSG;
}

/* ---- segment decoder ----------------------------------------------------------------- */

void tsdb_wal_seg_reader_init(struct tsdb_wal_seg_reader *s, const uint8_t *data, size_t len)
{
    memset(s, 0, sizeof(*s));
    s->data = data;
    s->len = len;
}

void tsdb_wal_seg_reader_free(struct tsdb_wal_seg_reader *s)
{
    free(s->rec);
    free(s->dec);
    s->rec = s->dec = NULL;
    s->rec_cap = s->dec_cap = 0;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errcap, __VA_ARGS__);                                                        \
        return -EBADMSG;                                                                           \
    } while (0)

int tsdb_wal_seg_reader_next(struct tsdb_wal_seg_reader *s, const uint8_t **rec, size_t *len,
                             char *err, size_t errcap)
{
    size_t n = 0, i = 0;
    int compressed = -1;
    if (errcap)
        err[0] = '\0';
    for (;;) {
        if (i == 0)
            s->rec_off = s->off;
        if (s->off >= s->len) {
            if (i == 0)
                return 0;
            BAD("record torn at end of segment (%zu of its bytes present)", n);
        }
        size_t inpage = s->off % TSDB_WAL_PAGE_SIZE, pageleft = TSDB_WAL_PAGE_SIZE - inpage;
        uint8_t t = s->data[s->off];
        if ((t & 7) == FRAG_PAD && !(t & ~7u)) {
            if (s->len - s->off < pageleft)
                BAD("page padding torn at offset %zu: segment ends inside the page", s->off);
            for (size_t k = 1; k < pageleft; k++)
                if (s->data[s->off + k])
                    BAD("non-zero byte in page padding at offset %zu", s->off + k);
            s->off += pageleft;
            continue;
        }
        if (t & ~(7u | FRAG_SNAPPY) || (t & 7) > FRAG_LAST)
            BAD("unknown fragment type 0x%02x at offset %zu", t, s->off);
        if (pageleft < TSDB_WAL_HEADER_SIZE)
            BAD("fragment header crosses a page boundary at offset %zu", s->off);
        if (s->len - s->off < TSDB_WAL_HEADER_SIZE)
            BAD("fragment header torn at offset %zu", s->off);
        const uint8_t *h = s->data + s->off;
        size_t l = (size_t)h[1] << 8 | h[2];
        uint32_t crc = (uint32_t)h[3] << 24 | (uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6];
        if (l > pageleft - TSDB_WAL_HEADER_SIZE)
            BAD("fragment of %zu bytes at offset %zu crosses a page boundary", l, s->off);
        if (s->len - s->off - TSDB_WAL_HEADER_SIZE < l)
            BAD("fragment torn at offset %zu: %zu of %zu bytes present", s->off,
                s->len - s->off - TSDB_WAL_HEADER_SIZE, l);
        uint32_t got = tsdb_crc32c(0, h + TSDB_WAL_HEADER_SIZE, l);
        if (got != crc)
            BAD("checksum mismatch at offset %zu: %08x, header says %08x", s->off, got, crc);
        unsigned typ = t & 7;
        if (i == 0 && typ != FRAG_FULL && typ != FRAG_FIRST)
            BAD("record starts with a %s fragment at offset %zu",
                typ == FRAG_MIDDLE ? "middle" : "last", s->off);
        if (i > 0 && typ != FRAG_MIDDLE && typ != FRAG_LAST)
            BAD("%s fragment inside a record at offset %zu", typ == FRAG_FULL ? "full" : "first",
                s->off);
        int c = (t & FRAG_SNAPPY) != 0;
        if (compressed >= 0 && c != compressed)
            BAD("compressed and plain fragments mixed at offset %zu", s->off);
        compressed = c;
        if (n + l > s->rec_cap || !s->rec) {
            size_t nc = s->rec_cap ? s->rec_cap : 4096;
            while (nc < n + l)
                nc *= 2;
            uint8_t *nr = cn_realloc(s->rec, nc);
            if (!nr)
                return -ENOMEM;
            s->rec = nr;
            s->rec_cap = nc;
        }
        memcpy(s->rec + n, h + TSDB_WAL_HEADER_SIZE, l);
        n += l;
        s->off += TSDB_WAL_HEADER_SIZE + l;
        i++;
        if (typ == FRAG_FULL || typ == FRAG_LAST)
            break;
    }
    if (compressed == 1 && n > 0) {
        int rc = snappy_decode(s->rec, n, &s->dec, &s->dec_cap, len, err, errcap);
        if (rc)
            return rc;
        *rec = s->dec;
        return 1;
    }
    *rec = s->rec;
    *len = n;
    return 1;
}

/* ---- checkpoints: listing ------------------------------------------------------------ */

#define CP_PREFIX "checkpoint."

/* The highest N of the directories checkpoint.N in dir (digits only, so
 * checkpoint.N.tmp is ignored), or -1; -errno when dir cannot be read. */
static int last_checkpoint(const char *dir, int *out)
{
    *out = -1;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, CP_PREFIX, strlen(CP_PREFIX)))
            continue;
        const char *num = e->d_name + strlen(CP_PREFIX);
        size_t l = strlen(num);
        if (l == 0 || l > 9 || strspn(num, "0123456789") != l)
            continue;
        int n = (int)strtol(num, NULL, 10);
        if (n > *out)
            *out = n;
    }
    closedir(d);
    return 0;
}

static void cp_path(char *buf, size_t cap, const char *dir, int cp)
{
    snprintf(buf, cap, "%s/" CP_PREFIX "%08d", dir, cp);
}

/* ---- directory reader ---------------------------------------------------------------- */

struct wal_src {
    int seg;
    bool cp; /* a segment of the checkpoint */
};

struct tsdb_wal_reader {
    char *dir, *cpdir;
    int cp;
    struct wal_src *src;
    size_t nsrc, cur; /* cur: the source being read */
    bool loaded;
    uint8_t *map;
    size_t maplen;
    struct tsdb_wal_seg_reader sr;
    int last_seg;
    uint64_t last_off;
    int err;
    struct tsdb_wal_corruption corr;
};

/* Lists what to read: the checkpoint r->cp's segments (if r->cp >= 0), then
 * the WAL's segments from..to, which must be consecutive and, after a
 * checkpoint, start at from. */
static int plan(struct tsdb_wal_reader *r, int from, int to)
{
    int rc = 0;
    int *cps = NULL, *segs = NULL;
    size_t ncp = 0, nseg = 0;
    char cpdir[PATH_MAX];
    if (r->cp >= 0) {
        cp_path(cpdir, sizeof(cpdir), r->dir, r->cp);
        if (!(r->cpdir = cn_strdup(cpdir)))
            return -ENOMEM;
        rc = tsdb_wal_segments(cpdir, &cps, &ncp);
    }
    if (!rc)
        rc = tsdb_wal_segments(r->dir, &segs, &nseg);
    if (!rc && !(r->src = cn_calloc(ncp + nseg + 1, sizeof(*r->src))))
        rc = -ENOMEM;
    for (size_t i = 0; !rc && i < ncp; i++) {
        if (i > 0 && cps[i] != cps[i - 1] + 1)
            rc = -EINVAL;
        r->src[r->nsrc++] = (struct wal_src){cps[i], true};
    }
    int prev = -1;
    for (size_t i = 0; !rc && i < nseg; i++) {
        if (segs[i] < from || segs[i] > to)
            continue; /* e.g. already in the checkpoint, not yet deleted */
        if (prev >= 0 ? segs[i] != prev + 1 : r->cp >= 0 && segs[i] != from)
            rc = -EINVAL; /* a gap: segments missing (Prometheus refuses too) */
        prev = segs[i];
        r->src[r->nsrc++] = (struct wal_src){segs[i], false};
    }
    free(cps);
    free(segs);
    return rc;
}

int tsdb_wal_reader_open(const char *dir, struct tsdb_wal_reader **out)
{
    *out = NULL;
    struct tsdb_wal_reader *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->dir = cn_strdup(dir);
    int rc = r->dir ? last_checkpoint(dir, &r->cp) : -ENOMEM;
    if (!rc)
        rc = plan(r, r->cp + 1, INT_MAX);
    if (rc) {
        tsdb_wal_reader_close(r);
        return rc;
    }
    r->last_seg = -1;
    *out = r;
    return 0;
}

static void unload(struct tsdb_wal_reader *r)
{
    if (r->map && r->maplen)
        munmap(r->map, r->maplen);
    r->map = NULL;
    r->maplen = 0;
    r->loaded = false;
}

static int load(struct tsdb_wal_reader *r)
{
    char path[PATH_MAX];
    const struct wal_src *src = &r->src[r->cur];
    seg_path(path, sizeof(path), src->cp ? r->cpdir : r->dir, src->seg);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st))
        rc = -errno;
    else if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            rc = -errno;
        else {
            r->map = m;
            r->maplen = (size_t)st.st_size;
        }
    }
    close(fd);
    if (rc)
        return rc;
    uint8_t *keep_rec = r->sr.rec, *keep_dec = r->sr.dec;
    size_t rc_cap = r->sr.rec_cap, dc_cap = r->sr.dec_cap;
    tsdb_wal_seg_reader_init(&r->sr, r->map, r->maplen);
    r->sr.rec = keep_rec; /* reuse the buffers across segments */
    r->sr.dec = keep_dec;
    r->sr.rec_cap = rc_cap;
    r->sr.dec_cap = dc_cap;
    r->loaded = true;
    return 0;
}

int tsdb_wal_reader_next(struct tsdb_wal_reader *r, const uint8_t **rec, size_t *len)
{
    while (!r->err) {
        if (r->cur >= r->nsrc)
            return 0;
        if (!r->loaded) {
            int rc = load(r);
            if (rc)
                return r->err = rc;
        }
        const struct wal_src *src = &r->src[r->cur];
        char msg[sizeof(r->corr.msg) - 40];
        int rc = tsdb_wal_seg_reader_next(&r->sr, rec, len, msg, sizeof(msg));
        if (rc == 1) {
            r->last_seg = src->cp ? -1 : src->seg;
            r->last_off = r->sr.rec_off;
            return 1;
        }
        if (rc == 0) {
            unload(r);
            r->cur++;
            continue;
        }
        if (rc == -EBADMSG) {
            r->corr.segment = src->cp ? -1 : src->seg;
            r->corr.offset = r->sr.rec_off;
            if (src->cp)
                snprintf(r->corr.msg, sizeof(r->corr.msg), CP_PREFIX "%08d/%08d: %s", r->cp,
                         src->seg, msg);
            else
                snprintf(r->corr.msg, sizeof(r->corr.msg), "segment %08d: %s", src->seg, msg);
        }
        r->err = rc;
    }
    return r->err;
}

void tsdb_wal_reader_pos(const struct tsdb_wal_reader *r, int *segment, uint64_t *offset)
{
    *segment = r->last_seg;
    *offset = r->last_off;
}

const struct tsdb_wal_corruption *tsdb_wal_reader_corruption(const struct tsdb_wal_reader *r)
{
    return &r->corr;
}

int tsdb_wal_reader_checkpoint(const struct tsdb_wal_reader *r)
{
    return r->cp;
}

void tsdb_wal_reader_close(struct tsdb_wal_reader *r)
{
    if (!r)
        return;
    unload(r);
    tsdb_wal_seg_reader_free(&r->sr);
    free(r->src);
    free(r->cpdir);
    free(r->dir);
    free(r);
}

/* ---- checkpoints: writing --------------------------------------------------------------- */

static int rm_segdir(const char *path)
{
    int *segs = NULL;
    size_t n = 0;
    int rc = tsdb_wal_segments(path, &segs, &n);
    if (rc == -ENOENT)
        return 0;
    for (size_t i = 0; !rc && i < n; i++) {
        char p[PATH_MAX];
        seg_path(p, sizeof(p), path, segs[i]);
        if (unlink(p))
            rc = -errno;
    }
    free(segs);
    if (!rc && rmdir(path))
        rc = -errno;
    return rc;
}

static int grow(void **buf, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *nb = cn_realloc(*buf, nc * size);
    if (!nb)
        return -ENOMEM;
    *buf = nb;
    *cap = nc;
    return 0;
}

/* Scratch space of a checkpoint, reused from record to record. */
struct cp_scratch {
    uint8_t *out;
    size_t out_cap, out_len;
    struct tsdb_label *lab;
    size_t lab_cap;
    char *str;
    size_t str_cap;
    struct tsdb_ref_sample *smp;
    size_t smp_cap;
};

/* Filters one record into x->out (x->out_len 0: nothing kept). Series and
 * tombstone entries are copied as they are, being encoded exactly as the
 * encoder would; kept samples are re-encoded (their base may move).
 * Other record types are dropped. 0, -EINVAL (malformed), -ENOMEM. */
static int filter_record(const uint8_t *rec, size_t len, tsdb_wal_keep_fn keep, void *ctx,
                         int64_t mint, struct cp_scratch *x, struct tsdb_wal_checkpoint_stats *st)
{
    enum tsdb_record_type type = tsdb_record_type(rec, len);
    struct tsdb_record_dec d;
    int rc;
    x->out_len = 0;
    if (type != TSDB_REC_SERIES && type != TSDB_REC_SAMPLES && type != TSDB_REC_TOMBSTONES)
        return 0;
    if ((rc = grow((void **)&x->out, &x->out_cap, len, 1)) ||
        (rc = tsdb_record_dec_init(&d, rec, len, type)))
        return rc;
    x->out[0] = (uint8_t)type;
    size_t o = 1, ns = 0;
    if (type == TSDB_REC_SERIES) {
        if ((rc = grow((void **)&x->lab, &x->lab_cap, len / 2 + 1, sizeof(*x->lab))) ||
            (rc = grow((void **)&x->str, &x->str_cap, len, 1)))
            return rc;
        for (;;) {
            size_t start = d.off, nl;
            uint64_t ref;
            rc = tsdb_record_next_series(&d, &ref, x->lab, x->lab_cap, &nl, x->str, x->str_cap);
            if (rc <= 0)
                break;
            st->series++;
            if (keep(ctx, ref)) {
                memcpy(x->out + o, rec + start, d.off - start);
                o += d.off - start;
            } else
                st->dropped_series++;
        }
    } else if (type == TSDB_REC_TOMBSTONES) {
        for (;;) {
            size_t start = d.off;
            struct tsdb_tombstone t;
            if ((rc = tsdb_record_next_tombstone(&d, &t)) <= 0)
                break;
            st->tombstones++;
            if (t.maxt >= mint) {
                memcpy(x->out + o, rec + start, d.off - start);
                o += d.off - start;
            } else
                st->dropped_tombstones++;
        }
    } else {
        for (;;) {
            if ((rc = grow((void **)&x->smp, &x->smp_cap, ns + 1, sizeof(*x->smp))))
                return rc;
            if ((rc = tsdb_record_next_sample(&d, &x->smp[ns])) <= 0)
                break;
            st->samples++;
            if (x->smp[ns].t >= mint)
                ns++;
            else
                st->dropped_samples++;
        }
        while (!rc && ns > 0) {
            rc = tsdb_record_encode_samples(x->smp, ns, x->out, x->out_cap, &o);
            if (rc == -ENOSPC)
                rc = grow((void **)&x->out, &x->out_cap, o, 1);
            else
                break;
        }
    }
    if (rc)
        return rc;
    x->out_len = o > 1 ? o : 0;
    return 0;
}

int tsdb_wal_checkpoint(const char *dir, int from, int to, tsdb_wal_keep_fn keep, void *ctx,
                        int64_t mint, struct tsdb_wal_checkpoint_stats *st)
{
    memset(st, 0, sizeof(*st));
    struct tsdb_wal_reader *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    int rc = (r->dir = cn_strdup(dir)) ? last_checkpoint(dir, &r->cp) : -ENOMEM;
    if (!rc && r->cp >= 0) {
        if (from > r->cp + 1)
            rc = -EINVAL; /* segments between the checkpoint and from are missing */
        from = r->cp + 1;
    }
    if (!rc && (from < 0 || to < from || to == INT_MAX))
        rc = -EINVAL;
    if (!rc)
        rc = plan(r, from, to);
    if (!rc && (r->nsrc == 0 || r->src[r->nsrc - 1].cp || r->src[r->nsrc - 1].seg != to))
        rc = -ENOENT; /* segment `to` must exist */
    char final[PATH_MAX], tmp[PATH_MAX + 8];
    cp_path(final, sizeof(final), dir, to);
    snprintf(tmp, sizeof(tmp), "%s.tmp", final);
    struct tsdb_wal *w = NULL;
    if (!rc && !(rc = rm_segdir(tmp)))
        rc = tsdb_wal_open(tmp, 0, &w);
    struct cp_scratch x = {0};
    const uint8_t *rec;
    size_t len;
    while (!rc && (rc = tsdb_wal_reader_next(r, &rec, &len)) == 1) {
        rc = filter_record(rec, len, keep, ctx, mint, &x, st);
        if (!rc && x.out_len)
            rc = tsdb_wal_log(w, x.out, x.out_len);
    }
    free(x.out);
    free(x.lab);
    free(x.str);
    free(x.smp);
    tsdb_wal_reader_close(r);
    if (w) {
        int crc = tsdb_wal_close(w);
        if (!rc)
            rc = crc;
        if (!rc && rename(tmp, final))
            rc = -errno;
        if (!rc)
            rc = sync_dir(dir);
        if (rc)
            rm_segdir(tmp);
    }
    return rc;
}

int tsdb_wal_truncate(const char *dir, int first)
{
    int *segs = NULL;
    size_t n = 0;
    int rc = tsdb_wal_segments(dir, &segs, &n);
    for (size_t i = 0; !rc && i < n && segs[i] < first; i++) {
        char p[PATH_MAX];
        seg_path(p, sizeof(p), dir, segs[i]);
        if (unlink(p))
            rc = -errno;
    }
    free(segs);
    /* Checkpoints older than the newest one that can still be needed. */
    for (int cp; !rc;) {
        if ((rc = last_checkpoint(dir, &cp)) || cp < 0)
            break;
        DIR *d = opendir(dir);
        if (!d)
            return -errno;
        int oldest = INT_MAX;
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *num = e->d_name + strlen(CP_PREFIX);
            if (strncmp(e->d_name, CP_PREFIX, strlen(CP_PREFIX)) || !*num ||
                strspn(num, "0123456789") != strlen(num) || strlen(num) > 9)
                continue;
            int v = (int)strtol(num, NULL, 10);
            if (v < oldest)
                oldest = v;
        }
        closedir(d);
        if (oldest >= first - 1)
            break;
        char p[PATH_MAX];
        cp_path(p, sizeof(p), dir, oldest);
        rc = rm_segdir(p);
    }
    if (!rc)
        rc = sync_dir(dir);
    return rc;
}

/* ---- repair -------------------------------------------------------------------------- */

int tsdb_wal_repair(const char *dir, const struct tsdb_wal_corruption *c)
{
    if (c->segment < 0)
        return -EINVAL;
    char path[PATH_MAX];
    seg_path(path, sizeof(path), dir, c->segment);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st))
        rc = -errno;
    else if (c->offset > (uint64_t)st.st_size)
        rc = -EINVAL;
    if (!rc) {
        /* Later segments go first: a crash half-way leaves a WAL whose
         * damaged segment is still the last, and repair can run again. */
        int *segs = NULL;
        size_t n = 0;
        rc = tsdb_wal_segments(dir, &segs, &n);
        for (size_t i = 0; !rc && i < n; i++) {
            if (segs[i] <= c->segment)
                continue;
            char p[PATH_MAX];
            seg_path(p, sizeof(p), dir, segs[i]);
            if (unlink(p))
                rc = -errno;
        }
        free(segs);
    }
    if (!rc) {
        uint64_t end =
            (c->offset + TSDB_WAL_PAGE_SIZE - 1) / TSDB_WAL_PAGE_SIZE * TSDB_WAL_PAGE_SIZE;
        /* Cut at the damage, then extend with zeros to the page's end: the
         * zero type byte marks the rest of the page as padding. */
        if (ftruncate(fd, (off_t)c->offset) || ftruncate(fd, (off_t)end) || fsync(fd))
            rc = -errno;
    }
    close(fd);
    if (!rc)
        rc = sync_dir(dir);
    return rc;
}
