/*
 * Chunk segment files and CRC32-C: the writer's files byte for byte against
 * promtool's, the reader on promtool's files, and the reader's checks on
 * damaged ones.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/tsdb.h"

/* Shared with test_chunk.c. */
void chunktest_rmtree(const char *path);
void chunktest_promtool_block(const char *om, char *tmp, char *chunks_dir);
uint8_t *chunktest_read_file(const char *path, size_t *len);

/* A chunk as the writer was given it. */
struct chunk {
    uint8_t data[2048];
    size_t len;
    tsdb_chunk_ref ref;
};

static void tmpdir(char *out)
{
    snprintf(out, PATH_MAX, "/tmp/cairn-chunkfile-XXXXXX");
    cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

/* Real XOR chunks of n samples each, made different by seed. */
static void make_chunks(struct chunk *c, size_t count, size_t n)
{
    for (size_t k = 0; k < count; k++) {
        struct tsdb_xor_enc e;
        cr_assert_eq(tsdb_xor_init(&e, c[k].data, sizeof(c[k].data)), 0);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(tsdb_xor_append(&e, (int64_t)(i * 15000 + k), (double)(i * k % 17)), 0);
        c[k].len = tsdb_xor_len(&e);
    }
}

static void write_chunks(const char *dir, uint64_t segsize, struct chunk *c, size_t count)
{
    struct tsdb_chunk_writer *w;
    cr_assert_eq(tsdb_chunk_writer_open_size(dir, segsize, &w), 0);
    for (size_t k = 0; k < count; k++)
        cr_assert_eq(tsdb_chunk_writer_add(w, c[k].data, c[k].len, &c[k].ref), 0);
    cr_assert_eq(tsdb_chunk_writer_close(w), 0);
}

/* Outcome of fetching every chunk: 0 or the error. */
static void fetch_all(const char *dir, const struct chunk *c, size_t count, int *rcs)
{
    struct tsdb_chunk_reader *r;
    cr_assert_eq(tsdb_chunk_reader_open(dir, &r), 0);
    for (size_t k = 0; k < count; k++) {
        const uint8_t *data;
        size_t len;
        uint8_t enc;
        rcs[k] = tsdb_chunk_reader_get(r, c[k].ref, &data, &len, &enc);
        if (rcs[k] == 0) {
            cr_assert_eq(len, c[k].len, "chunk %zu", k);
            cr_assert_eq(memcmp(data, c[k].data, len), 0, "chunk %zu", k);
            cr_assert_eq(enc, TSDB_CHUNK_ENC_XOR);
        }
    }
    tsdb_chunk_reader_close(r);
}

/* ---- CRC32-C -------------------------------------------------------------------------------- */

Test(tsdb_chunkfile, crc32c_known_values)
{
    cr_assert_eq(tsdb_crc32c(0, "123456789", 9), 0xe3069283u); /* the check value */
    cr_assert_eq(tsdb_crc32c(0, "", 0), 0);
    uint8_t zeros[32] = {0};
    cr_assert_eq(tsdb_crc32c(0, zeros, 32), 0x8a9136aau); /* RFC 3720 B.4 */
    uint8_t ones[32];
    memset(ones, 0xff, sizeof(ones));
    cr_assert_eq(tsdb_crc32c(0, ones, 32), 0x62a8ab43u);
    uint8_t inc[32];
    for (int i = 0; i < 32; i++)
        inc[i] = (uint8_t)i;
    cr_assert_eq(tsdb_crc32c(0, inc, 32), 0x46dd794eu);
}

Test(tsdb_chunkfile, crc32c_pieces_and_paths_agree)
{
    /* Whole buffers take the fast path where the CPU has one; pieces of
     * under 16 bytes take the tables. Both, at every alignment. */
    uint8_t buf[1100];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t start = 0; start < 9; start++) {
        size_t n = sizeof(buf) - start;
        uint32_t whole = tsdb_crc32c(0, buf + start, n), pieces = 0;
        for (size_t i = 0; i < n; i += 5)
            pieces = tsdb_crc32c(pieces, buf + start + i, n - i < 5 ? n - i : 5);
        cr_assert_eq(whole, pieces, "start %zu", start);
    }
}

/* ---- writer and reader ---------------------------------------------------------------------- */

Test(tsdb_chunkfile, round_trip_and_layout)
{
    char dir[PATH_MAX], chunks[PATH_MAX + 8], file[PATH_MAX + 16];
    tmpdir(dir);
    snprintf(chunks, sizeof(chunks), "%s/chunks", dir);
    struct chunk c[40];
    make_chunks(c, 40, 120);
    write_chunks(chunks, TSDB_SEGMENT_MAX_BYTES, c, 40);

    snprintf(file, sizeof(file), "%s/000001", chunks);
    size_t size;
    uint8_t *seg = chunktest_read_file(file, &size);
    snprintf(file, sizeof(file), "%s/000002", chunks);
    bool second = access(file, F_OK) == 0;
    int rcs[40];
    fetch_all(chunks, c, 40, rcs);
    chunktest_rmtree(dir);

    cr_assert_not(second);
    const uint8_t header[8] = {0x85, 0xbd, 0x40, 0xdd, 0x01, 0, 0, 0};
    cr_assert_eq(memcmp(seg, header, 8), 0);
    size_t off = 8;
    for (size_t k = 0; k < 40; k++) {
        cr_assert_eq(rcs[k], 0, "chunk %zu: %d", k, rcs[k]);
        cr_assert_eq(c[k].ref, (tsdb_chunk_ref)off, "chunk %zu: ref", k);
        /* uvarint length, encoding, data, big-endian CRC of encoding+data */
        size_t l = 0, shift = 0;
        while (seg[off] & 0x80) {
            l |= (size_t)(seg[off++] & 0x7f) << shift;
            shift += 7;
        }
        l |= (size_t)seg[off++] << shift;
        cr_assert_eq(l, c[k].len);
        cr_assert_eq(seg[off], TSDB_CHUNK_ENC_XOR);
        cr_assert_eq(memcmp(seg + off + 1, c[k].data, l), 0);
        uint32_t crc = tsdb_crc32c(0, seg + off, 1 + l);
        const uint8_t *s = seg + off + 1 + l;
        cr_assert_eq((uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3], crc);
        off += 1 + l + 4;
    }
    cr_assert_eq(off, size, "nothing after the last chunk");
    free(seg);
}

/* The same chunks in the same order give promtool's file byte for byte. */
Test(tsdb_chunkfile, writer_reproduces_promtool_segment, .timeout = 60)
{
    struct cn_buf om;
    cn_buf_init(&om);
    const char *names[] = {"cpu_seconds_total", "memory_bytes", "up"};
    for (size_t k = 0; k < 3; k++) {
        cn_buf_printf(&om, "# TYPE %s gauge\n", names[k]);
        for (long i = 0; i < 400; i++)
            cn_buf_printf(&om, "%s %.17g %lld.%03ld5\n", names[k],
                          k == 0   ? i * 14.97
                          : k == 1 ? 8e9 + (double)(i * i % 977) * 4096
                                   : 1.0,
                          1599998400LL + i * 15, (long)(i * 7 % 10));
    }
    cn_buf_puts(&om, "# EOF\n");
    char tmp[PATH_MAX], pchunks[PATH_MAX], file[PATH_MAX + 16];
    chunktest_promtool_block(cn_buf_cstr(&om), tmp, pchunks);
    cn_buf_free(&om);

    /* Read promtool's segment through the reader, frame by frame. */
    snprintf(file, sizeof(file), "%s/000001", pchunks);
    size_t size;
    uint8_t *seg = chunktest_read_file(file, &size);
    struct tsdb_chunk_reader *r;
    cr_assert_eq(tsdb_chunk_reader_open(pchunks, &r), 0);
    struct chunk *c = calloc(64, sizeof(*c));
    cr_assert_not_null(c);
    size_t n = 0, off = 8;
    int bad = 0;
    while (off < size && n < 64) {
        const uint8_t *data;
        size_t len;
        uint8_t enc;
        c[n].ref = off;
        if (tsdb_chunk_reader_get(r, off, &data, &len, &enc) || enc != TSDB_CHUNK_ENC_XOR ||
            len > sizeof(c[n].data) || tsdb_xor_count(data, len) == 0) {
            bad++;
            break;
        }
        memcpy(c[n].data, data, len);
        c[n].len = len;
        n++;
        off += (len < 128 ? 1 : 2) + 1 + len + 4;
    }
    tsdb_chunk_reader_close(r);
    if (bad)
        chunktest_rmtree(tmp);
    cr_assert_eq(bad, 0, "promtool chunk %zu at %zu unreadable", n, off);

    /* Write them again with cairn's writer. */
    char ours[PATH_MAX + 8];
    snprintf(ours, sizeof(ours), "%s/ours", tmp);
    struct chunk *again = calloc(64, sizeof(*again));
    cr_assert_not_null(again);
    memcpy(again, c, 64 * sizeof(*c));
    write_chunks(ours, TSDB_SEGMENT_MAX_BYTES, again, n);
    snprintf(file, sizeof(file), "%s/000001", ours);
    size_t osize;
    uint8_t *oseg = chunktest_read_file(file, &osize);
    chunktest_rmtree(tmp);

    cr_assert_eq(off, size, "walked %zu of %zu bytes", off, size);
    cr_assert_gt(n, 3, "%zu chunks", n);
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(again[k].ref, c[k].ref, "chunk %zu ref", k);
    cr_assert_eq(osize, size);
    cr_assert_eq(memcmp(oseg, seg, size), 0, "segment bytes differ");
    free(oseg);
    free(seg);
    free(again);
    free(c);
}

Test(tsdb_chunkfile, flipped_byte_fails_that_chunk_only)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    struct chunk c[10];
    make_chunks(c, 10, 60);
    write_chunks(dir, TSDB_SEGMENT_MAX_BYTES, c, 10);
    char file[PATH_MAX + 16];
    snprintf(file, sizeof(file), "%s/000001", dir);
    size_t size;
    uint8_t *orig = chunktest_read_file(file, &size);

    /* Chunk 4: its encoding byte, a data byte, a CRC byte. */
    size_t start = (size_t)c[4].ref, lenlen = c[4].len < 128 ? 1 : 2;
    const size_t at[] = {start + lenlen, start + lenlen + 1 + c[4].len / 2,
                         start + lenlen + 1 + c[4].len + 3};
    int rcs[3][10];
    for (size_t a = 0; a < 3; a++) {
        uint8_t *mod = malloc(size);
        cr_assert_not_null(mod);
        memcpy(mod, orig, size);
        mod[at[a]] ^= 0x10;
        FILE *f = fopen(file, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(mod, 1, size, f), size);
        fclose(f);
        free(mod);
        fetch_all(dir, c, 10, rcs[a]);
    }
    chunktest_rmtree(dir);
    free(orig);
    for (size_t a = 0; a < 3; a++)
        for (size_t k = 0; k < 10; k++)
            cr_assert_eq(rcs[a][k], k == 4 ? -EBADMSG : 0, "flip %zu, chunk %zu: %d", a, k,
                         rcs[a][k]);
}

Test(tsdb_chunkfile, truncated_files)
{
    char dir[PATH_MAX], file[PATH_MAX + 16];
    tmpdir(dir);
    struct chunk c[10];
    make_chunks(c, 10, 60);
    write_chunks(dir, TSDB_SEGMENT_MAX_BYTES, c, 10);
    snprintf(file, sizeof(file), "%s/000001", dir);

    /* Cut inside chunk 6: the chunks before it read, the rest do not. */
    int rcs[10];
    cr_assert_eq(truncate(file, (off_t)(c[6].ref + c[6].len / 2)), 0);
    fetch_all(dir, c, 10, rcs);
    /* Cut right after chunk 6's length field. */
    int rcs2[10];
    cr_assert_eq(truncate(file, (off_t)(c[6].ref + 1)), 0);
    fetch_all(dir, c, 10, rcs2);
    /* Shorter than the header, then a header with the wrong magic. */
    struct tsdb_chunk_reader *r = NULL;
    cr_assert_eq(truncate(file, 5), 0);
    int short_rc = tsdb_chunk_reader_open(dir, &r);
    cr_assert_null(r);
    FILE *f = fopen(file, "wb");
    cr_assert_not_null(f);
    fwrite("\x85\xbd\x40\xde\x01\0\0\0", 1, 8, f);
    fclose(f);
    int magic_rc = tsdb_chunk_reader_open(dir, &r);
    f = fopen(file, "wb");
    cr_assert_not_null(f);
    fwrite("\x85\xbd\x40\xdd\x02\0\0\0", 1, 8, f);
    fclose(f);
    int version_rc = tsdb_chunk_reader_open(dir, &r);
    chunktest_rmtree(dir);

    for (size_t k = 0; k < 10; k++) {
        cr_assert_eq(rcs[k], k < 6 ? 0 : -EINVAL, "chunk %zu: %d", k, rcs[k]);
        cr_assert_eq(rcs2[k], k < 6 ? 0 : -EINVAL, "chunk %zu: %d", k, rcs2[k]);
    }
    cr_assert_eq(short_rc, -EINVAL);
    cr_assert_eq(magic_rc, -EINVAL);
    cr_assert_eq(version_rc, -EINVAL);
}

Test(tsdb_chunkfile, bad_references)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    struct chunk c[3];
    make_chunks(c, 3, 30);
    write_chunks(dir, TSDB_SEGMENT_MAX_BYTES, c, 3);
    struct tsdb_chunk_reader *r;
    cr_assert_eq(tsdb_chunk_reader_open(dir, &r), 0);
    const uint8_t *data;
    size_t len;
    uint8_t enc;
    int rc_seg = tsdb_chunk_reader_get(r, (tsdb_chunk_ref)1 << 32 | 8, &data, &len, &enc);
    int rc_hdr = tsdb_chunk_reader_get(r, 0, &data, &len, &enc);
    int rc_hdr7 = tsdb_chunk_reader_get(r, 7, &data, &len, &enc);
    int rc_eof = tsdb_chunk_reader_get(r, 0xffffffffu, &data, &len, &enc);
    int rc_mid = tsdb_chunk_reader_get(r, c[1].ref + 3, &data, &len, &enc);
    int rc_ok = tsdb_chunk_reader_get(r, c[2].ref, &data, &len, &enc);
    tsdb_chunk_reader_close(r);
    chunktest_rmtree(dir);
    cr_assert_eq(rc_seg, -EINVAL);
    cr_assert_eq(rc_hdr, -EINVAL);
    cr_assert_eq(rc_hdr7, -EINVAL);
    cr_assert_eq(rc_eof, -EINVAL);
    cr_assert(rc_mid == -EINVAL || rc_mid == -EBADMSG, "mid-chunk ref: %d", rc_mid);
    cr_assert_eq(rc_ok, 0);
}

Test(tsdb_chunkfile, segments_are_cut_before_the_limit)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    /* Frames of 1 + 1 + 50 + 4 bytes, counted as 60 (a 5-byte length) for
     * the limit of 200: 8 + 3 * 56 = 176, and 176 + 60 > 200. */
    struct chunk c[8];
    for (size_t k = 0; k < 7; k++) {
        memset(c[k].data, (int)k + 1, 50);
        c[k].len = 50;
    }
    /* A chunk larger than a segment still gets one of its own. */
    memset(c[7].data, 9, 300);
    c[7].len = 300;
    write_chunks(dir, 200, c, 8);
    int rcs[8];
    fetch_all(dir, c, 8, rcs);
    char file[PATH_MAX + 16];
    off_t sizes[5];
    for (int i = 0; i < 5; i++) {
        struct stat st;
        snprintf(file, sizeof(file), "%s/%06d", dir, i + 1);
        sizes[i] = stat(file, &st) ? -1 : st.st_size;
    }
    chunktest_rmtree(dir);

    const tsdb_chunk_ref want[8] = {8,
                                    64,
                                    120,
                                    (tsdb_chunk_ref)1 << 32 | 8,
                                    (tsdb_chunk_ref)1 << 32 | 64,
                                    (tsdb_chunk_ref)1 << 32 | 120,
                                    (tsdb_chunk_ref)2 << 32 | 8,
                                    (tsdb_chunk_ref)3 << 32 | 8};
    for (size_t k = 0; k < 8; k++) {
        cr_assert_eq(c[k].ref, want[k], "chunk %zu: ref %llx", k, (unsigned long long)c[k].ref);
        cr_assert_eq(rcs[k], 0, "chunk %zu: %d", k, rcs[k]);
    }
    cr_assert_eq(sizes[0], 176);
    cr_assert_eq(sizes[1], 176);
    cr_assert_eq(sizes[2], 64);
    cr_assert_eq(sizes[3], 8 + 2 + 1 + 300 + 4);
    cr_assert_eq(sizes[4], -1);
}

Test(tsdb_chunkfile, writer_numbers_after_existing_files)
{
    char dir[PATH_MAX], file[PATH_MAX + 16];
    tmpdir(dir);
    snprintf(file, sizeof(file), "%s/000007", dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    snprintf(file, sizeof(file), "%s/notes.txt", dir);
    f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    struct chunk c[1];
    make_chunks(c, 1, 10);
    write_chunks(dir, TSDB_SEGMENT_MAX_BYTES, c, 1);
    snprintf(file, sizeof(file), "%s/000008", dir);
    bool made = access(file, F_OK) == 0;
    chunktest_rmtree(dir);
    cr_assert(made, "000008 not written");
    cr_assert_eq(c[0].ref, 8, "refs count the writer's own segments, as Prometheus'");
}

Test(tsdb_chunkfile, argument_and_directory_errors)
{
    char dir[PATH_MAX], sub[PATH_MAX + 16];
    tmpdir(dir);
    struct tsdb_chunk_writer *w;
    snprintf(sub, sizeof(sub), "%s/no/such", dir);
    int rc_parent = tsdb_chunk_writer_open(sub, &w);
    int rc_small = tsdb_chunk_writer_open_size(dir, 8, &w);
    cr_assert_eq(tsdb_chunk_writer_open(dir, &w), 0);
    tsdb_chunk_ref ref;
    uint8_t b[2] = {0, 0};
    int rc_empty = tsdb_chunk_writer_add(w, b, 0, &ref);
    cr_assert_eq(tsdb_chunk_writer_close(w), 0);
    cr_assert_eq(tsdb_chunk_writer_close(NULL), 0);

    /* An empty directory reads as a block without chunks. */
    snprintf(sub, sizeof(sub), "%s/empty", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    struct tsdb_chunk_reader *r;
    int rc_open_empty = tsdb_chunk_reader_open(sub, &r);
    const uint8_t *data;
    size_t len;
    uint8_t enc;
    int rc_get_empty = rc_open_empty ? 1 : tsdb_chunk_reader_get(r, 8, &data, &len, &enc);
    tsdb_chunk_reader_close(r);
    tsdb_chunk_reader_close(NULL);
    snprintf(sub, sizeof(sub), "%s/missing", dir);
    int rc_missing = tsdb_chunk_reader_open(sub, &r);
    chunktest_rmtree(dir);

    cr_assert_eq(rc_parent, -ENOENT);
    cr_assert_eq(rc_small, -EINVAL);
    cr_assert_eq(rc_empty, -EINVAL);
    cr_assert_eq(rc_open_empty, 0);
    cr_assert_eq(rc_get_empty, -EINVAL);
    cr_assert_eq(rc_missing, -ENOENT);
}
