/*
 * The write-ahead log and its records, held against Prometheus 2.42 itself:
 * record bytes equal what record.Encoder writes (worked out by hand from
 * record.go below), a WAL cairn writes is replayed by `promtool tsdb dump`
 * sample for sample, and the WAL a real `prometheus` writes (snappy
 * compressed, its default) is replayed by cairn's reader. Damage (a torn
 * page, a flipped byte, a zero-filled tail, dirty padding) is reported with
 * its segment and offset, and repair keeps every record before it.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsdb/tsdb.h"

/* From test_chunk.c. */
void chunktest_rmtree(const char *path);
uint8_t *chunktest_read_file(const char *path, size_t *len);

#define PAGE TSDB_WAL_PAGE_SIZE

static void tmpdir(char *dir)
{
    snprintf(dir, PATH_MAX, "/tmp/cairn-wal-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void segpath(char *p, const char *dir, int seg)
{
    int n = snprintf(p, PATH_MAX, "%s/%08d", dir, seg);
    cr_assert_lt(n, PATH_MAX);
}

static off_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
    return st.st_size;
}

/* Record i of a test stream: i+1 copies of its own number's low byte, then
 * a marker, so every record is distinct and its length is known. */
static size_t make_rec(uint8_t *buf, size_t i, size_t len)
{
    memset(buf, (int)(i & 0xff), len);
    buf[0] = (uint8_t)(i >> 8);
    return len;
}

/* Reads the whole WAL: records compared with make_rec(i, lens[i]); returns
 * the reader's final answer and the number of records read. */
static int read_all(const char *dir, const size_t *lens, size_t n, size_t *got,
                    struct tsdb_wal_corruption *corr)
{
    struct tsdb_wal_reader *r;
    cr_assert_eq(tsdb_wal_reader_open(dir, &r), 0);
    const uint8_t *rec;
    size_t len, i = 0;
    int rc;
    uint8_t *want = malloc(200000);
    while ((rc = tsdb_wal_reader_next(r, &rec, &len)) == 1) {
        cr_assert_lt(i, n, "more records than written");
        make_rec(want, i, lens[i]);
        cr_assert_eq(len, lens[i], "record %zu: length %zu, want %zu", i, len, lens[i]);
        cr_assert_eq(memcmp(rec, want, len), 0, "record %zu differs", i);
        i++;
    }
    free(want);
    if (corr)
        *corr = *tsdb_wal_reader_corruption(r);
    tsdb_wal_reader_close(r);
    *got = i;
    return rc;
}

static void write_recs(const char *dir, uint64_t segsize, const size_t *lens, size_t n,
                       bool close_it, struct tsdb_wal **keep)
{
    struct tsdb_wal *w;
    cr_assert_eq(tsdb_wal_open(dir, segsize, &w), 0);
    uint8_t *buf = malloc(200000);
    for (size_t i = 0; i < n; i++) {
        make_rec(buf, i, lens[i]);
        cr_assert_eq(tsdb_wal_log(w, buf, lens[i]), 0);
    }
    free(buf);
    if (close_it)
        cr_assert_eq(tsdb_wal_close(w), 0);
    else
        *keep = w;
}

/* ---- records
 * ------------------------------------------------------------------------- */

Test(tsdb_wal, series_record_bytes)
{
    struct tsdb_label l1[] = {{"__name__", "up"}, {"job", "a"}}, l2[] = {{"x", ""}};
    struct tsdb_ref_series s[] = {{1, {l1, 2}}, {300, {l2, 1}}};
    const uint8_t want[] = {1,   0,   0,   0,   0,   0, 0,   0,    1, 2,   8,   '_', '_', 'n',
                            'a', 'm', 'e', '_', '_', 2, 'u', 'p',  3, 'j', 'o', 'b', 1,   'a',
                            0,   0,   0,   0,   0,   0, 1,   0x2c, 1, 1,   'x', 0};
    uint8_t buf[64];
    size_t len;
    cr_assert_eq(tsdb_record_encode_series(s, 2, buf, 10, &len), -ENOSPC);
    cr_assert_eq(len, sizeof(want));
    cr_assert_eq(tsdb_record_encode_series(s, 2, buf, sizeof(buf), &len), 0);
    cr_assert_eq(len, sizeof(want));
    cr_assert_arr_eq(buf, want, sizeof(want));
    cr_assert_eq(tsdb_record_type(buf, len), TSDB_REC_SERIES);

    struct tsdb_record_dec d;
    struct tsdb_label lab[20];
    char str[sizeof(want)];
    size_t nl;
    uint64_t ref;
    cr_assert_eq(tsdb_record_dec_init(&d, buf, len, TSDB_REC_SAMPLES), -EINVAL);
    cr_assert_eq(tsdb_record_dec_init(&d, buf, len, TSDB_REC_SERIES), 0);
    cr_assert_eq(tsdb_record_next_series(&d, &ref, lab, 20, &nl, str, sizeof(str)), 1);
    cr_assert_eq(ref, 1);
    cr_assert_eq(nl, 2);
    cr_assert_str_eq(lab[0].name, "__name__");
    cr_assert_str_eq(lab[0].value, "up");
    cr_assert_str_eq(lab[1].name, "job");
    cr_assert_str_eq(lab[1].value, "a");
    cr_assert_eq(tsdb_record_next_series(&d, &ref, lab, 20, &nl, str, sizeof(str)), 1);
    cr_assert_eq(ref, 300);
    cr_assert_eq(nl, 1);
    cr_assert_str_eq(lab[0].name, "x");
    cr_assert_str_eq(lab[0].value, "");
    cr_assert_eq(tsdb_record_next_series(&d, &ref, lab, 20, &nl, str, sizeof(str)), 0);

    /* Too small a label array; every truncation is malformed, never more. */
    cr_assert_eq(tsdb_record_dec_init(&d, buf, len, TSDB_REC_SERIES), 0);
    cr_assert_eq(tsdb_record_next_series(&d, &ref, lab, 1, &nl, str, sizeof(str)), -ENOSPC);
    for (size_t cut = 2; cut < len; cut++) {
        if (cut == 28)
            continue; /* the end of the first series: a valid shorter record */
        cr_assert_eq(tsdb_record_dec_init(&d, buf, cut, TSDB_REC_SERIES), 0);
        int rc;
        while ((rc = tsdb_record_next_series(&d, &ref, lab, 20, &nl, str, sizeof(str))) == 1)
            ;
        cr_assert_eq(rc, -EINVAL, "cut at %zu", cut);
    }
}

Test(tsdb_wal, samples_record_bytes)
{
    struct tsdb_ref_sample s[] = {{5, 1000, 1.0}, {3, 1010, 2.0}, {5, 990, -0.0}};
    const uint8_t want[] = {
        2,                                                          /* type */
        0, 0,    0,    0,    0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 3, 0xe8, /* base ref 5, time 1000 */
        0, 0,    0x3f, 0xf0, 0, 0, 0, 0, 0, 0,                      /* +0 +0 1.0 */
        3, 0x14, 0x40, 0,    0, 0, 0, 0, 0, 0,                      /* -2 +10 2.0 */
        0, 0x13, 0x80, 0,    0, 0, 0, 0, 0, 0,                      /* +0 -10 -0.0 */
    };
    uint8_t buf[64];
    size_t len;
    cr_assert_eq(tsdb_record_encode_samples(s, 3, buf, sizeof(buf), &len), 0);
    cr_assert_eq(len, sizeof(want));
    cr_assert_arr_eq(buf, want, sizeof(want));

    struct tsdb_record_dec d;
    struct tsdb_ref_sample o;
    cr_assert_eq(tsdb_record_dec_init(&d, buf, len, TSDB_REC_SAMPLES), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tsdb_record_next_sample(&d, &o), 1);
        cr_assert_eq(o.ref, s[i].ref);
        cr_assert_eq(o.t, s[i].t);
        cr_assert_eq(memcmp(&o.v, &s[i].v, 8), 0);
    }
    cr_assert_eq(tsdb_record_next_sample(&d, &o), 0);
    /* An empty samples record is the type byte alone. */
    cr_assert_eq(tsdb_record_encode_samples(s, 0, buf, sizeof(buf), &len), 0);
    cr_assert_eq(len, 1);
    cr_assert_eq(tsdb_record_dec_init(&d, buf, 1, TSDB_REC_SAMPLES), 0);
    cr_assert_eq(tsdb_record_next_sample(&d, &o), 0);
    cr_assert_eq(tsdb_record_dec_init(&d, want, 10, TSDB_REC_SAMPLES), -EINVAL);
    cr_assert_eq(tsdb_record_dec_init(&d, want, sizeof(want) - 1, TSDB_REC_SAMPLES), 0);
    cr_assert_eq(tsdb_record_next_sample(&d, &o), 1);
    cr_assert_eq(tsdb_record_next_sample(&d, &o), 1);
    cr_assert_eq(tsdb_record_next_sample(&d, &o), -EINVAL);
    /* A varint of 11 bytes overflows. */
    uint8_t bad[] = {2, 0, 0, 0,    0,    0,    0,    0,    1,    0,    0,    0,    0,    0,
                     0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0};
    cr_assert_eq(tsdb_record_dec_init(&d, bad, sizeof(bad), TSDB_REC_SAMPLES), 0);
    cr_assert_eq(tsdb_record_next_sample(&d, &o), -EINVAL);
}

Test(tsdb_wal, tombstones_record_bytes)
{
    struct tsdb_tombstone t[] = {{7, -1, 64}, {8, 0, INT64_MAX}};
    const uint8_t want[] = {3,    0,    0,    0,    0,    0,    0,    0,    7,   1, 0x80,
                            1,    0,    0,    0,    0,    0,    0,    0,    8,   0, 0xfe,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    uint8_t buf[64];
    size_t len;
    cr_assert_eq(tsdb_record_encode_tombstones(t, 2, buf, sizeof(buf), &len), 0);
    cr_assert_eq(len, sizeof(want));
    cr_assert_arr_eq(buf, want, sizeof(want));
    struct tsdb_record_dec d;
    struct tsdb_tombstone o;
    cr_assert_eq(tsdb_record_dec_init(&d, buf, len, TSDB_REC_TOMBSTONES), 0);
    cr_assert_eq(tsdb_record_next_tombstone(&d, &o), 1);
    cr_assert_eq(o.ref, 7);
    cr_assert_eq(o.mint, -1);
    cr_assert_eq(o.maxt, 64);
    cr_assert_eq(tsdb_record_next_tombstone(&d, &o), 1);
    cr_assert_eq(o.maxt, INT64_MAX);
    cr_assert_eq(tsdb_record_next_tombstone(&d, &o), 0);
    cr_assert_eq(tsdb_record_type(buf, 0), TSDB_REC_UNKNOWN);
    cr_assert_eq(tsdb_record_type((const uint8_t[]){9}, 1), TSDB_REC_UNKNOWN);
    cr_assert_eq(tsdb_record_type((const uint8_t[]){8}, 1), TSDB_REC_FLOAT_HISTOGRAMS);
}

/* ---- pages and segments
 * -------------------------------------------------------------- */

Test(tsdb_wal, page_layout)
{
    char dir[PATH_MAX], p[PATH_MAX];
    tmpdir(dir);
    /* 10 bytes, then 40000 (the first fragment fills page 0, the last
     * goes to page 1), then a record that leaves 6 bytes of page 1, too few
     * for a header, so the fourth record starts page 2 after padding. */
    const size_t lens[] = {10, 40000, 32768 - (7 + 40000 - (32768 - 24)) - 7 - 6, 5};
    struct tsdb_wal *w;
    write_recs(dir, 0, lens, 4, false, &w);
    segpath(p, dir, 0);
    /* Every record is written out at once: a partial last page. */
    cr_assert_eq(file_size(p), 2 * PAGE + 7 + 5);
    cr_assert_eq(tsdb_wal_segment(w), 0);
    cr_assert_eq(tsdb_wal_close(w), 0);
    cr_assert_eq(file_size(p), 3 * PAGE, "close pads the page");
    size_t n;
    uint8_t *d = chunktest_read_file(p, &n);
    uint8_t r[10];
    make_rec(r, 0, 10);
    cr_assert_eq(d[0], 1);
    cr_assert_eq(d[1] << 8 | d[2], 10);
    uint32_t crc = tsdb_crc32c(0, r, 10);
    cr_assert_eq((uint32_t)d[3] << 24 | (uint32_t)d[4] << 16 | (uint32_t)d[5] << 8 | d[6], crc);
    cr_assert_arr_eq(d + 7, r, 10);
    size_t o = 17;
    cr_assert_eq(d[o], 2, "first fragment");
    cr_assert_eq(d[o + 1] << 8 | d[o + 2], PAGE - 17 - 7);
    cr_assert_eq(d[PAGE], 4, "last fragment");
    cr_assert_eq(d[PAGE + 1] << 8 | d[PAGE + 2], 40000 - (PAGE - 24));
    o = PAGE + 7 + 40000 - (PAGE - 24);
    cr_assert_eq(d[o], 1);
    cr_assert_eq(o + 7 + lens[2], 2 * PAGE - 6);
    for (size_t i = 2 * PAGE - 6; i < 2 * PAGE; i++)
        cr_assert_eq(d[i], 0, "padding");
    cr_assert_eq(d[2 * PAGE], 1);
    for (size_t i = 2 * PAGE + 12; i < 3 * PAGE; i++)
        cr_assert_eq(d[i], 0, "padding");
    free(d);
    size_t got;
    cr_assert_eq(read_all(dir, lens, 4, &got, NULL), 0);
    cr_assert_eq(got, 4);
    chunktest_rmtree(dir);
}

Test(tsdb_wal, segments)
{
    char dir[PATH_MAX], p[PATH_MAX];
    tmpdir(dir);
    struct tsdb_wal *w;
    cr_assert_eq(tsdb_wal_open(dir, 1000, &w), -EINVAL);
    /* Segments of 2 pages: 30000 + 30000 fit (the second spans pages), the
     * third does not; 100000 is larger than any segment: it gets one of its
     * own, and the records after it go to the next, as in Prometheus. */
    const size_t lens[] = {30000, 30000, 30000, 100000, 8, 9};
    write_recs(dir, 2 * PAGE, lens, 6, true, NULL);
    int *segs;
    size_t n;
    cr_assert_eq(tsdb_wal_segments(dir, &segs, &n), 0);
    cr_assert_eq(n, 4);
    cr_assert_eq(segs[0], 0);
    cr_assert_eq(segs[3], 3);
    free(segs);
    const off_t sizes[] = {2 * PAGE, PAGE, 4 * PAGE, PAGE};
    for (int i = 0; i < 4; i++) {
        segpath(p, dir, i);
        cr_assert_eq(file_size(p), sizes[i], "segment %d", i);
    }
    size_t got;
    cr_assert_eq(read_all(dir, lens, 6, &got, NULL), 0);
    cr_assert_eq(got, 6);

    /* Reopening starts a new segment; cut starts another. */
    cr_assert_eq(tsdb_wal_open(dir, 2 * PAGE, &w), 0);
    cr_assert_eq(tsdb_wal_segment(w), 4);
    cr_assert_eq(tsdb_wal_log(w, (const uint8_t *)"\x05\x05\x05\x05\x05\x05", 6), 0);
    cr_assert_eq(tsdb_wal_sync(w), 0);
    cr_assert_eq(tsdb_wal_cut(w), 0);
    cr_assert_eq(tsdb_wal_segment(w), 5);
    cr_assert_eq(tsdb_wal_log(w, NULL, 0), -EINVAL);
    cr_assert_eq(tsdb_wal_close(w), 0);
    segpath(p, dir, 4);
    cr_assert_eq(file_size(p), PAGE);
    segpath(p, dir, 5);
    cr_assert_eq(file_size(p), 0);
    const size_t lens2[] = {30000, 30000, 30000, 100000, 8, 9, 6};
    struct tsdb_wal_reader *r;
    cr_assert_eq(tsdb_wal_reader_open(dir, &r), 0);
    const uint8_t *rec;
    size_t len, i = 0;
    while (tsdb_wal_reader_next(r, &rec, &len) == 1) {
        cr_assert_eq(len, lens2[i]);
        i++;
    }
    cr_assert_eq(i, 7);
    cr_assert_eq(memcmp(rec, "\x05\x05\x05\x05\x05\x05", 6), 0);
    int seg;
    uint64_t off;
    tsdb_wal_reader_pos(r, &seg, &off);
    cr_assert_eq(seg, 4);
    cr_assert_eq(off, 0);
    tsdb_wal_reader_close(r);

    /* A gap in the numbering is refused. */
    segpath(p, dir, 1);
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(tsdb_wal_reader_open(dir, &r), -EINVAL);
    chunktest_rmtree(dir);
    cr_assert_eq(tsdb_wal_reader_open(dir, &r), -ENOENT);
}

/* ---- damage and repair
 * --------------------------------------------------------------- */

static void corrupt_at(const char *path, off_t off, uint8_t x)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, off), 1);
    b ^= x;
    cr_assert_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

/* Offset of record k in segment 0 when records are lens[] in one page. */
static size_t rec_offset(const size_t *lens, size_t k)
{
    size_t o = 0;
    for (size_t i = 0; i < k; i++)
        o += 7 + lens[i];
    return o;
}

/* Repairs at c, then the WAL holds exactly the first `keep` records, and a
 * writer can go on: its records follow them. */
static void repair_and_check(const char *dir, const struct tsdb_wal_corruption *c,
                             const size_t *lens, size_t keep)
{
    cr_assert_eq(tsdb_wal_repair(dir, c), 0);
    char p[PATH_MAX];
    segpath(p, dir, c->segment);
    cr_assert_eq(file_size(p) % PAGE, 0, "repaired segment ends on a page");
    size_t got;
    cr_assert_eq(read_all(dir, lens, keep, &got, NULL), 0);
    cr_assert_eq(got, keep);
    struct tsdb_wal *w;
    cr_assert_eq(tsdb_wal_open(dir, 0, &w), 0);
    cr_assert_eq(tsdb_wal_segment(w), c->segment + 1);
    uint8_t rec[300];
    make_rec(rec, keep, lens[keep]);
    cr_assert_eq(tsdb_wal_log(w, rec, lens[keep]), 0);
    cr_assert_eq(tsdb_wal_close(w), 0);
    cr_assert_eq(read_all(dir, lens, keep + 1, &got, NULL), 0);
    cr_assert_eq(got, keep + 1);
}

static const size_t small[] = {100, 200, 150, 250, 120, 90};

Test(tsdb_wal, torn_last_page)
{
    char dir[PATH_MAX], p[PATH_MAX];
    tmpdir(dir);
    struct tsdb_wal *w;
    write_recs(dir, 0, small, 4, false, &w);
    cr_assert_eq(tsdb_wal_sync(w), 0);
    segpath(p, dir, 0);
    /* The process dies, the page was half written: record 3 is cut. */
    size_t end3 = rec_offset(small, 4);
    cr_assert_eq(truncate(p, (off_t)(end3 - 60)), 0);
    struct tsdb_wal_corruption c;
    size_t got;
    cr_assert_eq(read_all(dir, small, 4, &got, &c), -EBADMSG);
    cr_assert_eq(got, 3);
    cr_assert_eq(c.segment, 0);
    cr_assert_eq(c.offset, rec_offset(small, 3));
    cr_assert_str_eq(c.msg, "segment 00000000: fragment torn at offset 471: 190 of 250 bytes "
                            "present");
    /* A cut inside the header is reported too. */
    cr_assert_eq(truncate(p, (off_t)(rec_offset(small, 3) + 3)), 0);
    cr_assert_eq(read_all(dir, small, 4, &got, &c), -EBADMSG);
    cr_assert_eq(got, 3);
    cr_assert_str_eq(c.msg, "segment 00000000: fragment header torn at offset 471");
    tsdb_wal_close(w);
    repair_and_check(dir, &c, small, 3);
    chunktest_rmtree(dir);
}

Test(tsdb_wal, flipped_byte)
{
    char dir[PATH_MAX], p[PATH_MAX];
    tmpdir(dir);
    /* Record 2 damaged in segment 0; segment 1 holds later records and is
     * deleted by the repair, as Prometheus does. */
    write_recs(dir, 0, small, 4, true, NULL);
    struct tsdb_wal *w;
    cr_assert_eq(tsdb_wal_open(dir, 0, &w), 0);
    uint8_t rec[300];
    make_rec(rec, 4, small[4]);
    cr_assert_eq(tsdb_wal_log(w, rec, small[4]), 0);
    cr_assert_eq(tsdb_wal_close(w), 0);
    size_t got;
    cr_assert_eq(read_all(dir, small, 5, &got, NULL), 0);
    cr_assert_eq(got, 5);

    segpath(p, dir, 0);
    corrupt_at(p, (off_t)(rec_offset(small, 2) + 7 + 77), 0x10);
    struct tsdb_wal_corruption c;
    cr_assert_eq(read_all(dir, small, 5, &got, &c), -EBADMSG);
    cr_assert_eq(got, 2);
    cr_assert_eq(c.segment, 0);
    cr_assert_eq(c.offset, rec_offset(small, 2));
    cr_assert(strstr(c.msg, "checksum mismatch at offset 314"), "%s", c.msg);
    repair_and_check(dir, &c, small, 2);
    segpath(p, dir, 2);
    cr_assert_eq(access(p, F_OK), -1, "later segments deleted");

    /* A flipped fragment type byte: "last" where a record starts. */
    segpath(p, dir, 0);
    corrupt_at(p, 0, 1 ^ 4);
    cr_assert_eq(read_all(dir, small, 5, &got, &c), -EBADMSG);
    cr_assert_eq(got, 0);
    cr_assert_eq(c.offset, 0);
    cr_assert(strstr(c.msg, "record starts with a last fragment at offset 0"), "%s", c.msg);
    chunktest_rmtree(dir);
}

Test(tsdb_wal, zero_filled_tail)
{
    char dir[PATH_MAX], p[PATH_MAX];
    tmpdir(dir);
    struct tsdb_wal *w;
    write_recs(dir, 0, small, 5, false, &w);
    segpath(p, dir, 0);
    /* The file system extended the file but the data never landed. */
    size_t end = rec_offset(small, 5);
    cr_assert_eq(truncate(p, (off_t)(end + 4000)), 0);
    struct tsdb_wal_corruption c;
    size_t got;
    cr_assert_eq(read_all(dir, small, 5, &got, &c), -EBADMSG);
    cr_assert_eq(got, 5);
    cr_assert_eq(c.segment, 0);
    cr_assert_eq(c.offset, end);
    cr_assert(strstr(c.msg, "page padding torn"), "%s", c.msg);
    /* Zeros over the second half of record 4: its checksum fails. */
    cr_assert_eq(truncate(p, (off_t)(end - 50)), 0);
    cr_assert_eq(truncate(p, (off_t)PAGE), 0);
    cr_assert_eq(read_all(dir, small, 5, &got, &c), -EBADMSG);
    cr_assert_eq(got, 4);
    cr_assert_eq(c.offset, rec_offset(small, 4));
    cr_assert(strstr(c.msg, "checksum mismatch"), "%s", c.msg);
    tsdb_wal_close(w);
    repair_and_check(dir, &c, small, 4);

    /* Zeros from a record boundary to the page's end are padding. */
    tmpdir(p);
    char dir2[PATH_MAX];
    snprintf(dir2, sizeof(dir2), "%s", p);
    write_recs(dir2, 0, small, 3, true, NULL);
    cr_assert_eq(read_all(dir2, small, 3, &got, NULL), 0);
    cr_assert_eq(got, 3);
    /* ... but not a stray byte inside it. */
    segpath(p, dir2, 0);
    corrupt_at(p, PAGE - 10, 0x01);
    cr_assert_eq(read_all(dir2, small, 3, &got, &c), -EBADMSG);
    cr_assert_eq(got, 3);
    cr_assert_eq(c.offset, rec_offset(small, 3));
    cr_assert(strstr(c.msg, "non-zero byte in page padding"), "%s", c.msg);
    chunktest_rmtree(dir2);
    chunktest_rmtree(dir);
}

/* ---- against Prometheus
 * ---------------------------------------------------------------- */

/* Starts argv with stdout and stderr into out; returns the pid. */
static pid_t spawn(char *const argv[], const char *out)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot run %s (Debian package prometheus): %s", argv[0], strerror(rc));
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void log_rec(struct tsdb_wal *w, uint8_t *buf, size_t cap, int kind, const void *items,
                    size_t n)
{
    size_t len;
    int rc = kind == 1 ? tsdb_record_encode_series(items, n, buf, cap, &len)
                       : tsdb_record_encode_samples(items, n, buf, cap, &len);
    cr_assert_eq(rc, 0);
    cr_assert_eq(tsdb_wal_log(w, buf, len), 0);
}

Test(tsdb_wal, promtool_replays_cairn_wal)
{
    char dir[PATH_MAX], wal[PATH_MAX + 8], out[PATH_MAX + 16];
    tmpdir(dir);
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    snprintf(out, sizeof(out), "%s/dump.txt", dir);
    /* Small segments so the replay crosses segment and page boundaries. */
    struct tsdb_wal *w;
    cr_assert_eq(tsdb_wal_open(wal, 2 * PAGE, &w), 0);
    struct tsdb_label a[] = {{"__name__", "cairn_a"}, {"job", "x"}},
                      b[] = {{"__name__", "cairn_b"}, {"mode", "idle"}};
    struct tsdb_ref_series s[] = {{1, {a, 2}}, {2, {b, 2}}};
    uint8_t buf[65536];
    log_rec(w, buf, sizeof(buf), 1, s, 2);
    const int64_t t0 = 1700000000000;
    enum { N = 3000 };
    /* Batches of 100 samples per series, like a head commit. */
    struct tsdb_ref_sample batch[200];
    for (int k = 0; k < N / 100; k++) {
        for (int i = 0; i < 100; i++) {
            int j = k * 100 + i;
            batch[2 * i] = (struct tsdb_ref_sample){1, t0 + 15000 * j, j * 0.5};
            batch[2 * i + 1] = (struct tsdb_ref_sample){2, t0 + 15000 * j, 1e6 - j};
        }
        log_rec(w, buf, sizeof(buf), 2, batch, 200);
    }
    cr_assert_eq(tsdb_wal_close(w), 0);
    int *segs;
    size_t nsegs;
    cr_assert_eq(tsdb_wal_segments(wal, &segs, &nsegs), 0);
    free(segs);
    cr_assert_geq(nsegs, 2, "the WAL should span segments");

    char *argv[] = {"promtool", "tsdb", "dump", dir, NULL};
    cr_assert_eq(wait_exit(spawn(argv, out)), 0);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    char line[512];
    int na = 0, nb = 0;
    while (fgets(line, sizeof(line), f)) {
        char want[512];
        if (strncmp(line, "{__name__=\"cairn_a\"", 19) == 0) {
            snprintf(want, sizeof(want), "{__name__=\"cairn_a\", job=\"x\"} %g %lld\n", na * 0.5,
                     (long long)(t0 + 15000 * na));
            cr_assert_str_eq(line, want);
            na++;
        } else {
            snprintf(want, sizeof(want), "{__name__=\"cairn_b\", mode=\"idle\"} %g %lld\n",
                     1e6 - nb, (long long)(t0 + 15000 * nb));
            cr_assert_str_eq(line, want);
            nb++;
        }
    }
    fclose(f);
    cr_assert_eq(na, N);
    cr_assert_eq(nb, N);
    chunktest_rmtree(dir);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* What a replay of a Prometheus WAL found about the series up{job="self"}. */
struct replay {
    int rc;
    size_t records, series, samples;
    uint64_t up_ref;
    size_t up_samples, up_ones;
    int64_t up_last_t;
    bool up_ordered;
};

/* Replays every record of dir; no assertions, so that the caller can stop
 * prometheus before failing. */
static void replay(const char *dir, struct replay *o)
{
    memset(o, 0, sizeof(*o));
    o->up_ordered = true;
    struct tsdb_wal_reader *r;
    if ((o->rc = tsdb_wal_reader_open(dir, &r)))
        return;
    const uint8_t *rec;
    size_t len;
    struct tsdb_label lab[64];
    char str[65536];
    while ((o->rc = tsdb_wal_reader_next(r, &rec, &len)) == 1) {
        o->records++;
        struct tsdb_record_dec d;
        int rc = 0;
        if (tsdb_record_type(rec, len) == TSDB_REC_SERIES) {
            if ((rc = tsdb_record_dec_init(&d, rec, len, TSDB_REC_SERIES)))
                break;
            uint64_t ref;
            size_t nl;
            while ((rc = tsdb_record_next_series(&d, &ref, lab, 64, &nl, str, sizeof(str))) == 1) {
                o->series++;
                struct tsdb_labels ls = {lab, nl};
                const char *name = tsdb_labels_get(&ls, "__name__");
                const char *job = tsdb_labels_get(&ls, "job");
                if (name && job && !strcmp(name, "up") && !strcmp(job, "self"))
                    o->up_ref = ref;
            }
        } else if (tsdb_record_type(rec, len) == TSDB_REC_SAMPLES) {
            if ((rc = tsdb_record_dec_init(&d, rec, len, TSDB_REC_SAMPLES)))
                break;
            struct tsdb_ref_sample s;
            while ((rc = tsdb_record_next_sample(&d, &s)) == 1) {
                o->samples++;
                if (o->up_ref && s.ref == o->up_ref) {
                    o->up_samples++;
                    o->up_ones += s.v == 1.0;
                    if (s.t <= o->up_last_t)
                        o->up_ordered = false;
                    o->up_last_t = s.t;
                }
            }
        }
        if (rc) {
            o->rc = rc;
            break;
        }
    }
    tsdb_wal_reader_close(r);
}

Test(tsdb_wal, reads_prometheus_wal, .timeout = 60)
{
    char dir[PATH_MAX], cfg[PATH_MAX + 16], data[PATH_MAX + 16], wal[PATH_MAX + 32],
        logf[PATH_MAX + 16];
    tmpdir(dir);
    snprintf(cfg, sizeof(cfg), "%s/prom.yml", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(wal, sizeof(wal), "%s/wal", data);
    snprintf(logf, sizeof(logf), "%s/prom.log", dir);
    int port = free_port();
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n"
            "    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
            port);
    fclose(f);
    char listen[64], cfgarg[PATH_MAX + 32], dataarg[PATH_MAX + 48];
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", cfg);
    snprintf(dataarg, sizeof(dataarg), "--storage.tsdb.path=%s", data);
    char *argv[] = {"prometheus", cfgarg, listen, dataarg, NULL};
    pid_t pid = spawn(argv, logf);

    /* Replay the live WAL until up{job="self"} has 3 samples (at most 30 s;
     * a live tail may be torn, that is retried), then stop prometheus. */
    struct replay live;
    for (int i = 0; i < 120; i++) {
        nanosleep(&(struct timespec){0, 250000000}, NULL);
        replay(wal, &live);
        if (live.up_samples >= 3)
            break;
    }
    kill(pid, SIGTERM);
    int st = wait_exit(pid);
    cr_assert_geq(live.up_samples, 3, "prometheus never logged 3 samples of up (log: %s)", logf);
    cr_assert_eq(st, 0, "prometheus exit status (log: %s)", logf);

    /* After a clean shutdown the WAL reads to its end without damage. */
    struct replay done;
    replay(wal, &done);
    cr_log_info("prometheus WAL: %zu records, %zu series, %zu samples, %zu of up", done.records,
                done.series, done.samples, done.up_samples);
    cr_assert_eq(done.rc, 0);
    cr_assert_neq(done.up_ref, 0, "no series record for up{job=\"self\"}");
    cr_assert_geq(done.up_samples, live.up_samples);
    cr_assert_eq(done.up_ones, done.up_samples, "up is 1 in every scrape of itself");
    cr_assert(done.up_ordered);
    cr_assert_gt(done.series, 100, "a self-scrape has hundreds of series");
    cr_assert_geq(done.samples, done.series);

    /* Prometheus compresses records by default: the first fragment of
     * segment 0 carries the snappy bit, so the decoder was exercised. */
    char seg[PATH_MAX + 48];
    snprintf(seg, sizeof(seg), "%s/00000000", wal);
    f = fopen(seg, "rb");
    cr_assert_not_null(f);
    int t = fgetc(f);
    fclose(f);
    cr_assert_eq(t & 0x08, 0x08, "type byte 0x%02x", t);
    chunktest_rmtree(dir);
}

/* A fragment at offset 0 of a page: header and the given bytes. */
static size_t fragment(uint8_t *p, uint8_t type, const uint8_t *data, size_t len)
{
    uint32_t crc = tsdb_crc32c(0, data, len);
    p[0] = type;
    p[1] = (uint8_t)(len >> 8);
    p[2] = (uint8_t)len;
    p[3] = (uint8_t)(crc >> 24);
    p[4] = (uint8_t)(crc >> 16);
    p[5] = (uint8_t)(crc >> 8);
    p[6] = (uint8_t)crc;
    memcpy(p + 7, data, len);
    return 7 + len;
}

Test(tsdb_wal, empty_first_fragment)
{
    /* Exactly 7 bytes left in a page: Prometheus writes a first fragment of
     * no bytes there and the record continues on the next page. */
    char dir[PATH_MAX], p[PATH_MAX];
    tmpdir(dir);
    const size_t lens[] = {10, PAGE - 17 - 7 - 7, 5};
    write_recs(dir, 0, lens, 3, true, NULL);
    segpath(p, dir, 0);
    size_t n;
    uint8_t *d = chunktest_read_file(p, &n);
    cr_assert_eq(n, 2 * PAGE);
    cr_assert_eq(d[PAGE - 7], 2, "first fragment");
    cr_assert_eq(d[PAGE - 6] << 8 | d[PAGE - 5], 0);
    cr_assert_eq(d[PAGE], 4, "last fragment");
    cr_assert_eq(d[PAGE + 1] << 8 | d[PAGE + 2], 5);
    free(d);
    size_t got;
    cr_assert_eq(read_all(dir, lens, 3, &got, NULL), 0);
    cr_assert_eq(got, 3);
    chunktest_rmtree(dir);
}

Test(tsdb_wal, snappy_fragments)
{
    /* "abc" as a literal, then a 9-byte copy at distance 3 that overlaps
     * its own output: "abcabcabcabc". */
    const uint8_t z[] = {12, 0x08, 'a', 'b', 'c', 0x15, 3};
    uint8_t seg[64] = {0};
    size_t n = fragment(seg, 0x09, z, sizeof(z));
    struct tsdb_wal_seg_reader s;
    tsdb_wal_seg_reader_init(&s, seg, n);
    const uint8_t *rec;
    size_t len;
    char err[160];
    cr_assert_eq(tsdb_wal_seg_reader_next(&s, &rec, &len, err, sizeof(err)), 1, "%s", err);
    cr_assert_eq(len, 12);
    cr_assert_eq(memcmp(rec, "abcabcabcabc", 12), 0);
    cr_assert_eq(tsdb_wal_seg_reader_next(&s, &rec, &len, err, sizeof(err)), 0);
    tsdb_wal_seg_reader_free(&s);

    /* A copy reaching before the start, and a length that does not match
     * the declared one, are damage. */
    const uint8_t far[] = {12, 0x08, 'a', 'b', 'c', 0x15, 4};
    n = fragment(seg, 0x09, far, sizeof(far));
    tsdb_wal_seg_reader_init(&s, seg, n);
    cr_assert_eq(tsdb_wal_seg_reader_next(&s, &rec, &len, err, sizeof(err)), -EBADMSG);
    cr_assert_str_eq(err, "snappy: corrupt compressed data");
    tsdb_wal_seg_reader_free(&s);
    const uint8_t shortz[] = {13, 0x08, 'a', 'b', 'c', 0x15, 3};
    n = fragment(seg, 0x09, shortz, sizeof(shortz));
    tsdb_wal_seg_reader_init(&s, seg, n);
    cr_assert_eq(tsdb_wal_seg_reader_next(&s, &rec, &len, err, sizeof(err)), -EBADMSG);
    tsdb_wal_seg_reader_free(&s);
    /* Unknown flag bits in the type byte. */
    n = fragment(seg, 0x11, z, sizeof(z));
    tsdb_wal_seg_reader_init(&s, seg, n);
    cr_assert_eq(tsdb_wal_seg_reader_next(&s, &rec, &len, err, sizeof(err)), -EBADMSG);
    cr_assert_str_eq(err, "unknown fragment type 0x11 at offset 0");
    tsdb_wal_seg_reader_free(&s);
}

/* ---- checkpoints
 * ------------------------------------------------------------------------ */

static bool keep_not_2(void *ctx, uint64_t ref)
{
    (void)ctx;
    return ref != 2;
}

static bool keep_all(void *ctx, uint64_t ref)
{
    (void)ctx;
    (void)ref;
    return true;
}

/* Counts what a replay of dir sees: series refs (bitmask) and samples per
 * ref 1..3. */
static void count_replay(const char *dir, unsigned *series, size_t samples[4], int *cp)
{
    struct tsdb_wal_reader *r;
    cr_assert_eq(tsdb_wal_reader_open(dir, &r), 0);
    *cp = tsdb_wal_reader_checkpoint(r);
    *series = 0;
    memset(samples, 0, 4 * sizeof(samples[0]));
    const uint8_t *rec;
    size_t len;
    int rc;
    while ((rc = tsdb_wal_reader_next(r, &rec, &len)) == 1) {
        struct tsdb_record_dec d;
        if (tsdb_record_type(rec, len) == TSDB_REC_SERIES) {
            cr_assert_eq(tsdb_record_dec_init(&d, rec, len, TSDB_REC_SERIES), 0);
            struct tsdb_label lab[8];
            char str[256];
            uint64_t ref;
            size_t nl;
            while (tsdb_record_next_series(&d, &ref, lab, 8, &nl, str, sizeof(str)) == 1)
                *series |= 1u << ref;
        } else if (tsdb_record_type(rec, len) == TSDB_REC_SAMPLES) {
            cr_assert_eq(tsdb_record_dec_init(&d, rec, len, TSDB_REC_SAMPLES), 0);
            struct tsdb_ref_sample s;
            while (tsdb_record_next_sample(&d, &s) == 1) {
                cr_assert_leq(s.ref, 3);
                samples[s.ref]++;
            }
        }
    }
    cr_assert_eq(rc, 0);
    tsdb_wal_reader_close(r);
}

Test(tsdb_wal, checkpoint)
{
    char dir[PATH_MAX], wal[PATH_MAX + 8], out[PATH_MAX + 16], p[PATH_MAX + 64];
    tmpdir(dir);
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    snprintf(out, sizeof(out), "%s/dump.txt", dir);
    struct tsdb_wal *w;
    cr_assert_eq(tsdb_wal_open(wal, 0, &w), 0);
    struct tsdb_label l1[] = {{"__name__", "cp"}, {"s", "1"}},
                      l2[] = {{"__name__", "cp"}, {"s", "2"}},
                      l3[] = {{"__name__", "cp"}, {"s", "3"}};
    struct tsdb_ref_series s[] = {{1, {l1, 2}}, {2, {l2, 2}}, {3, {l3, 2}}};
    uint8_t buf[4096];
    log_rec(w, buf, sizeof(buf), 1, s, 3);
    const int64_t t0 = 1700000000000;
    for (int i = 0; i < 30; i++) {
        if (i == 10 || i == 20)
            cr_assert_eq(tsdb_wal_cut(w), 0);
        struct tsdb_ref_sample b[3];
        for (int k = 0; k < 3; k++)
            b[k] = (struct tsdb_ref_sample){(uint64_t)k + 1, t0 + 1000 * i, i + 100.0 * k};
        log_rec(w, buf, sizeof(buf), 2, b, 3);
        if (i == 12) {
            struct tsdb_tombstone t[] = {{1, 0, t0 + 4000}, {3, t0 + 15000, t0 + 16000}};
            size_t len;
            cr_assert_eq(tsdb_record_encode_tombstones(t, 2, buf, sizeof(buf), &len), 0);
            cr_assert_eq(tsdb_wal_log(w, buf, len), 0);
        }
    }
    cr_assert_eq(tsdb_wal_close(w), 0);

    struct tsdb_wal_checkpoint_stats st;
    cr_assert_eq(tsdb_wal_checkpoint(wal, 0, 3, keep_not_2, NULL, t0 + 5000, &st), -ENOENT);
    cr_assert_eq(tsdb_wal_checkpoint(wal, 0, 1, keep_not_2, NULL, t0 + 5000, &st), 0);
    cr_assert_eq(st.series, 3);
    cr_assert_eq(st.dropped_series, 1);
    cr_assert_eq(st.samples, 60);
    cr_assert_eq(st.dropped_samples, 15);
    cr_assert_eq(st.tombstones, 2);
    cr_assert_eq(st.dropped_tombstones, 1);
    snprintf(p, sizeof(p), "%s/checkpoint.00000001/00000000", wal);
    cr_assert_eq(access(p, F_OK), 0);
    snprintf(p, sizeof(p), "%s/checkpoint.00000001.tmp", wal);
    cr_assert_eq(access(p, F_OK), -1);

    /* Replay: the checkpoint, then segment 2 (0 and 1 are skipped even
     * before they are deleted). Samples are kept by time alone. */
    unsigned series;
    size_t n[4];
    int cp;
    for (int round = 0; round < 2; round++) {
        count_replay(wal, &series, n, &cp);
        cr_assert_eq(cp, 1);
        cr_assert_eq(series, (1u << 1) | (1u << 3));
        cr_assert_eq(n[1], 25);
        cr_assert_eq(n[2], 25);
        cr_assert_eq(n[3], 25);
        cr_assert_eq(tsdb_wal_truncate(wal, 2), 0);
        segpath(p, wal, 1);
        cr_assert_eq(access(p, F_OK), -1);
    }

    /* Prometheus replays it: series 2 has no series record, so its
     * samples are dropped; the tombstone hides two samples of series 3. */
    char *argv[] = {"promtool", "tsdb", "dump", dir, NULL};
    cr_assert_eq(wait_exit(spawn(argv, out)), 0);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    char line[512];
    int i1 = 5, i3 = 5;
    while (fgets(line, sizeof(line), f)) {
        char want[512];
        if (strncmp(line, "{__name__=\"cp\", s=\"1\"}", 22) == 0) {
            snprintf(want, sizeof(want), "{__name__=\"cp\", s=\"1\"} %d %lld\n", i1,
                     (long long)(t0 + 1000 * i1));
            i1++;
        } else {
            if (i3 == 15)
                i3 = 17;
            snprintf(want, sizeof(want), "{__name__=\"cp\", s=\"3\"} %d %lld\n", i3 + 200,
                     (long long)(t0 + 1000 * i3));
            i3++;
        }
        cr_assert_str_eq(line, want);
    }
    fclose(f);
    cr_assert_eq(i1, 30);
    cr_assert_eq(i3, 30);

    /* A later checkpoint starts from the last one; the older one goes. */
    cr_assert_eq(tsdb_wal_checkpoint(wal, 0, 2, keep_all, NULL, t0 + 25000, &st), 0);
    cr_assert_eq(st.series, 2);
    cr_assert_eq(st.samples, 75);
    cr_assert_eq(st.dropped_samples, 60);
    cr_assert_eq(tsdb_wal_truncate(wal, 3), 0);
    snprintf(p, sizeof(p), "%s/checkpoint.00000001", wal);
    cr_assert_eq(access(p, F_OK), -1);
    count_replay(wal, &series, n, &cp);
    cr_assert_eq(cp, 2);
    cr_assert_eq(series, (1u << 1) | (1u << 3));
    cr_assert_eq(n[1] + n[2] + n[3], 15);
    /* from must not leave a gap after the checkpoint. */
    cr_assert_eq(tsdb_wal_checkpoint(wal, 4, 5, keep_all, NULL, 0, &st), -EINVAL);
    chunktest_rmtree(dir);
}
