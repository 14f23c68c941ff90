/*
 * The kernel log reader: the /dev/kmsg record parser and a follower that
 * reads records from the character device or from a regular file of
 * records (tests, saved logs).
 *
 * A record is "PRI,SEQ,TS_USEC,FLAG[,FIELD...];MESSAGE\n" followed by
 * dictionary lines " KEY=VALUE\n" (Documentation/ABI/testing/dev-kmsg).
 * The parser is strict about the prefix (unsigned decimal numbers only, no
 * sign or blank, a priority of at most 2047: the kernel keeps the facility
 * in 8 bits; FLAG one printable character), ignores fields after FLAG (some
 * kernels add "caller=T123"), decodes the \xNN escapes the kernel writes
 * for control bytes, bytes >= 0x7f and backslashes, and keeps SUBSYSTEM=
 * and DEVICE= from the dictionary. Everything lands in fixed buffers: a
 * message longer than the record buffer is cut and flagged.
 *
 * The device: opened O_NONBLOCK, one read(2) returns one record (the
 * buffer is twice EVT_KMSG_RECORD_MAX, more than any kernel writes, since a
 * record that does not fit makes the kernel fail the read without moving
 * on); EAGAIN means "at the end", so the follower poll(2)s until the
 * timeout; EPIPE means records were overwritten before they were read: the
 * next read returns the oldest record left, and the jump in sequence
 * numbers says how many were lost.
 *
 * A regular file: read in 64 KiB chunks as it grows, at the offset reached
 * so far. A record is a header line and the lines after it that begin with
 * a space, so a record is known complete when the next line starts, or at
 * the end of the file once its last line has its newline: a writer is
 * expected to append a record with its dictionary in one write, and a
 * dictionary line arriving after its header was returned is an orphan,
 * counted as malformed. A last line without its newline is never returned:
 * it waits for the rest (a record is complete only with its newline). A
 * line longer than the record buffer keeps its first bytes, the rest of
 * the line is skipped and the record is flagged truncated (dictionary lines
 * that no longer fit are dropped, also flagging it), so memory stays
 * bounded whatever the file holds. Lines that do not parse are counted as
 * malformed and skipped. At the end of the file the follower checks
 * whether the file shrank below the offset (truncated) or the path now
 * names another file (rotated; the old file has been read to its end by
 * then); either way it starts over at the beginning of the file now at the
 * path, as a new stream: counted in `reopened`, a partial line of the old
 * stream counted as malformed, sequence tracking and any resume point
 * forgotten so every record of the new stream is returned. It sleeps in
 * steps of 50 ms at the end of a file: simple, and bounded by the timeout.
 *
 * Sequence numbers within a stream: a jump forward by more than one counts
 * the records in between as lost (gaps). The first record of a stream
 * counts nothing, except after evt_kmsg_resume(last): records at or below
 * `last` are skipped silently, and a jump from `last` to the first record
 * above it counts as a gap. A record whose sequence number is not above the
 * previous one means the source restarted behind our back (a file rewritten
 * in place, copytruncate that outran us): it starts a new stream, counted
 * in `reopened`, and is returned.
 *
 * Timeouts: evt_kmsg_next never waits longer than its timeout (a negative
 * one counts as 0), so a caller stops the follower by using short ones.
 */
#include "events/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

#define KMSG_PRI_MAX 2047                       /* facility 0..255, level 0..7 */
#define KMSG_DEV_READ (2 * EVT_KMSG_RECORD_MAX) /* one device read */
#define KMSG_FILE_CHUNK 65536                   /* one file read */
#define KMSG_EOF_STEP_MS 50                     /* sleep step at the end of a file */

/* ---- the record parser ---------------------------------------------------------------- */

/* An unsigned decimal number of [p, end) at most max; -EINVAL otherwise. */
static int parse_num(const char *p, const char *end, uint64_t max, uint64_t *out)
{
    if (p == end)
        return -EINVAL;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (max - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Decodes [p, end) with its \xNN escapes into out (cap bytes, NUL
 * included); sets *cut when it did not fit. Returns the length. */
static size_t unescape(const char *p, const char *end, char *out, size_t cap, bool *cut)
{
    size_t o = 0;
    while (p < end) {
        char c = *p;
        size_t adv = 1;
        if (c == '\\' && end - p >= 4 && p[1] == 'x' && cn_hex_digit(p[2]) >= 0 &&
            cn_hex_digit(p[3]) >= 0) {
            c = (char)(cn_hex_digit(p[2]) * 16 + cn_hex_digit(p[3]));
            adv = 4;
        }
        if (o + 1 >= cap) {
            *cut = true;
            break;
        }
        out[o++] = c;
        p += adv;
    }
    out[o] = '\0';
    return o;
}

static bool key_is(const char *k, const char *kend, const char *want)
{
    size_t n = strlen(want);
    return (size_t)(kend - k) == n && !memcmp(k, want, n);
}

int evt_kmsg_parse(const char *data, size_t len, struct evt_kmsg_record *rec)
{
    const char *end = data + len;
    const char *nl = memchr(data, '\n', len);
    const char *hend = nl ? nl : end;
    const char *semi = memchr(data, ';', (size_t)(hend - data));
    if (!semi)
        return -EINVAL;

    /* PRI, SEQ, TS_USEC, FLAG; what follows FLAG up to ';' is ignored. */
    const char *fs[4], *fe[4];
    const char *p = data;
    int nf = 0;
    while (nf < 4) {
        const char *comma = memchr(p, ',', (size_t)(semi - p));
        fs[nf] = p;
        fe[nf] = comma ? comma : semi;
        nf++;
        if (!comma)
            break;
        p = comma + 1;
    }
    uint64_t pri, seq, ts;
    if (nf < 4 || parse_num(fs[0], fe[0], KMSG_PRI_MAX, &pri) ||
        parse_num(fs[1], fe[1], UINT64_MAX, &seq) || parse_num(fs[2], fe[2], INT64_MAX, &ts))
        return -EINVAL;
    if (fe[3] - fs[3] != 1 || *fs[3] <= ' ' || *fs[3] > '~')
        return -EINVAL;

    rec->level = (int)(pri & 7);
    rec->facility = (int)(pri >> 3);
    rec->seq = seq;
    rec->ts_usec = (int64_t)ts;
    rec->flag = *fs[3];
    rec->truncated = false;
    rec->msglen = unescape(semi + 1, hend, rec->msg, sizeof(rec->msg), &rec->truncated);
    rec->subsystem[0] = '\0';
    rec->device[0] = '\0';

    /* The dictionary: every further line starts with a space. */
    for (p = nl ? nl + 1 : end; p < end;) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        if (!le)
            le = end;
        if (*p != ' ')
            return -EINVAL;
        const char *eq = memchr(p + 1, '=', (size_t)(le - p - 1));
        bool cut = false;
        if (eq && key_is(p + 1, eq, "SUBSYSTEM"))
            unescape(eq + 1, le, rec->subsystem, sizeof(rec->subsystem), &cut);
        else if (eq && key_is(p + 1, eq, "DEVICE"))
            unescape(eq + 1, le, rec->device, sizeof(rec->device), &cut);
        p = le < end ? le + 1 : end;
    }
    return 0;
}

/* ---- the follower ----------------------------------------------------------------------- */

struct evt_kmsg {
    char *path;
    int fd;
    bool device; /* a character device: one read, one record */
    dev_t dev;   /* the open file, to notice rotation */
    ino_t ino;
    uint64_t fpos; /* bytes read from the open file */

    char *buf; /* a device record, or a chunk of the file */
    size_t blen, bpos;

    /* File mode: the record being assembled (header line, dictionary). */
    char *pend;
    size_t pendlen;
    bool pend_has;    /* a header line has begun */
    bool pend_cut;    /* bytes of the record were dropped */
    bool line_start;  /* the next byte begins a line */
    bool line_in;     /* the current line goes into pend */
    bool line_dict;   /* the current line is a dictionary line */
    size_t line_from; /* where the current line starts in pend */

    /* Sequence tracking of the current stream. */
    bool stream_seq;
    uint64_t stream_last;
    bool resume;
    uint64_t resume_seq;

    struct evt_kmsg_stats st;
};

/* Forgets the file position, the partial record and the sequence state:
 * what comes next is a new stream. */
static void new_stream(struct evt_kmsg *k)
{
    if (k->pend_has)
        k->st.malformed++; /* a record cut short by the truncation or rotation */
    k->fpos = 0;
    k->blen = k->bpos = 0;
    k->pendlen = 0;
    k->pend_has = k->pend_cut = false;
    k->line_start = true;
    k->line_in = k->line_dict = false;
    k->stream_seq = false;
    k->resume = false;
}

/* Opens k->path as the source; on success the old descriptor (if any) is
 * closed. */
static int open_source(struct evt_kmsg *k, char *err, size_t errcap)
{
    int fd = open(k->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errcap, "%s: %s", k->path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        snprintf(err, errcap, "%s: %s", k->path, strerror(e));
        close(fd);
        return -e;
    }
    if (!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "%s: not a character device or a regular file", k->path);
        close(fd);
        return -EINVAL;
    }
    if (k->fd >= 0)
        close(k->fd);
    k->fd = fd;
    k->device = S_ISCHR(st.st_mode);
    k->dev = st.st_dev;
    k->ino = st.st_ino;
    return 0;
}

int evt_kmsg_open(const char *path, struct evt_kmsg **out, char *err, size_t errcap)
{
    *out = NULL;
    struct evt_kmsg *k = cn_calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->fd = -1;
    k->path = cn_strdup(path);
    k->buf = cn_malloc(KMSG_FILE_CHUNK > KMSG_DEV_READ ? KMSG_FILE_CHUNK : KMSG_DEV_READ);
    k->pend = cn_malloc(EVT_KMSG_RECORD_MAX);
    if (!k->path || !k->buf || !k->pend) {
        snprintf(err, errcap, "%s: %s", path, strerror(ENOMEM));
        evt_kmsg_close(k);
        return -ENOMEM;
    }
    int rc = open_source(k, err, errcap);
    if (rc) {
        evt_kmsg_close(k);
        return rc;
    }
    new_stream(k);
    *out = k;
    return 0;
}

void evt_kmsg_close(struct evt_kmsg *k)
{
    if (!k)
        return;
    if (k->fd >= 0)
        close(k->fd);
    free(k->path);
    free(k->buf);
    free(k->pend);
    free(k);
}

void evt_kmsg_resume(struct evt_kmsg *k, uint64_t last_seq)
{
    k->resume = true;
    k->resume_seq = last_seq;
}

void evt_kmsg_stats(const struct evt_kmsg *k, struct evt_kmsg_stats *out)
{
    *out = k->st;
}

/* Applies the sequence rules to a parsed record: true to return it, false
 * to skip it (at or below the resume point). */
static bool accept(struct evt_kmsg *k, const struct evt_kmsg_record *rec)
{
    if (k->resume) {
        if (rec->seq <= k->resume_seq)
            return false;
        k->st.gaps += rec->seq - k->resume_seq - 1;
        k->resume = false;
    } else if (k->stream_seq) {
        if (rec->seq > k->stream_last)
            k->st.gaps += rec->seq - k->stream_last - 1;
        else
            k->st.reopened++; /* went backwards: the source started over */
    }
    k->stream_seq = true;
    k->stream_last = rec->seq;
    k->st.last_seq = rec->seq;
    k->st.have_seq = true;
    k->st.records++;
    if (rec->truncated)
        k->st.truncated++;
    return true;
}

/* Milliseconds left until deadline (mono ns), rounded up; 0 when past. */
static int ms_left(int64_t deadline)
{
    int64_t left = deadline - cn_mono_ns();
    return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

static void nap_ms(int ms)
{
    poll(NULL, 0, ms);
}

static int next_device(struct evt_kmsg *k, int64_t deadline, struct evt_kmsg_record *rec)
{
    for (;;) {
        ssize_t n = read(k->fd, k->buf, KMSG_DEV_READ);
        if (n > 0) {
            if (evt_kmsg_parse(k->buf, (size_t)n, rec)) {
                k->st.malformed++;
                continue;
            }
            if (accept(k, rec))
                return 1;
            continue;
        }
        int left = ms_left(deadline);
        if (n == 0) { /* not what the device does; do not spin on it */
            if (!left)
                return 0;
            nap_ms(left < KMSG_EOF_STEP_MS ? left : KMSG_EOF_STEP_MS);
            continue;
        }
        if (errno == EINTR || errno == EPIPE)
            continue;
        if (errno != EAGAIN)
            return -errno;
        if (!left)
            return 0;
        struct pollfd pfd = {.fd = k->fd, .events = POLLIN};
        if (poll(&pfd, 1, left) < 0 && errno != EINTR)
            return -errno;
    }
}

/* Hands the assembled record out: 1 with rec filled, 0 when it was
 * malformed or skipped. */
static int emit(struct evt_kmsg *k, struct evt_kmsg_record *rec)
{
    int rc = evt_kmsg_parse(k->pend, k->pendlen, rec);
    bool cut = k->pend_cut;
    k->pendlen = 0;
    k->pend_has = k->pend_cut = false;
    if (rc) {
        k->st.malformed++;
        return 0;
    }
    rec->truncated = rec->truncated || cut;
    return accept(k, rec) ? 1 : 0;
}

/* Feeds buffered file bytes into the record being assembled. Returns true
 * when that record is complete (the next line begins), with the buffer
 * positioned at the next line; false when the buffer is used up. */
static bool feed(struct evt_kmsg *k)
{
    while (k->bpos < k->blen) {
        const char *p = k->buf + k->bpos;
        size_t n = k->blen - k->bpos;
        if (k->line_start) {
            if (*p != ' ' && k->pend_has)
                return true;
            k->line_start = false;
            k->line_dict = *p == ' ';
            if (!k->line_dict) {
                k->pend_has = true;
                k->line_in = true;
            } else if (!k->pend_has) {
                k->st.malformed++; /* a dictionary line without its header */
                k->line_in = false;
            } else if (k->pendlen + 2 > EVT_KMSG_RECORD_MAX) {
                k->pend_cut = true; /* no room left for it */
                k->line_in = false;
            } else {
                k->line_in = true;
            }
            k->line_from = k->pendlen;
        }
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        if (k->line_in) {
            size_t content = nl ? take - 1 : take;
            size_t room = EVT_KMSG_RECORD_MAX - 1 - k->pendlen; /* a byte kept for '\n' */
            if (content > room) {
                k->pend_cut = true;
                if (k->line_dict) { /* a dictionary line goes whole or not at all */
                    k->pendlen = k->line_from;
                    k->line_in = false;
                    content = 0;
                } else {
                    content = room;
                }
            }
            memcpy(k->pend + k->pendlen, p, content);
            k->pendlen += content;
            if (nl && k->line_in)
                k->pend[k->pendlen++] = '\n';
        }
        k->bpos += take;
        if (nl)
            k->line_start = true;
    }
    return false;
}

/* At the end of the file: starts over when the file shrank or the path
 * names another file now. True when it did. */
static bool check_rotation(struct evt_kmsg *k)
{
    struct stat fst, pst;
    if (fstat(k->fd, &fst) == 0 && (uint64_t)fst.st_size < k->fpos) {
        if (lseek(k->fd, 0, SEEK_SET) != 0)
            return false;
        new_stream(k);
        k->st.reopened++;
        return true;
    }
    if (stat(k->path, &pst) == 0 && (pst.st_ino != k->ino || pst.st_dev != k->dev)) {
        char err[64];
        if (open_source(k, err, sizeof(err)))
            return false; /* keep the old file; try again at the next end */
        new_stream(k);
        k->st.reopened++;
        return true;
    }
    return false;
}

static int next_file(struct evt_kmsg *k, int64_t deadline, struct evt_kmsg_record *rec)
{
    for (;;) {
        if (feed(k)) {
            if (emit(k, rec))
                return 1;
            continue;
        }
        ssize_t n = read(k->fd, k->buf, KMSG_FILE_CHUNK);
        if (n > 0) {
            k->blen = (size_t)n;
            k->bpos = 0;
            k->fpos += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -errno;
        /* The end of the file: a record whose last line is complete is done. */
        if (k->pend_has && k->line_start) {
            if (emit(k, rec))
                return 1;
            continue;
        }
        if (check_rotation(k)) {
            if (k->device)
                return next_device(k, deadline, rec);
            continue;
        }
        int left = ms_left(deadline);
        if (!left)
            return 0;
        nap_ms(left < KMSG_EOF_STEP_MS ? left : KMSG_EOF_STEP_MS);
    }
}

int evt_kmsg_next(struct evt_kmsg *k, int timeout_ms, struct evt_kmsg_record *rec)
{
    int64_t deadline = cn_mono_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    return k->device ? next_device(k, deadline, rec) : next_file(k, deadline, rec);
}
