/*
 * XOR chunks: the encoder and the iterator, held against Prometheus itself.
 *
 * Bit-exactness is proven three ways: the real promtool (Prometheus 2.42)
 * builds a block from OpenMetrics text written here, and every chunk it wrote
 * must decode to the input samples and re-encode to the same bytes; chunks
 * that a real Prometheus 2.42 server wrote for samples promtool's text input
 * cannot carry (stale markers, NaN payloads, negative timestamps) are kept
 * below as byte vectors; and small chunks worked out by hand from the format
 * document pin the layout down bit by bit.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsdb/tsdb.h"

#define STALE TSDB_STALE_NAN_BITS
/* What Go's strconv.ParseFloat("NaN") returns: math.NaN(). */
#define GO_NAN 0x7ff8000000000001ULL

/* ---- helpers (the promtool ones are shared with test_chunkfile.c) ------------------------ */

static uint64_t bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

void chunktest_rmtree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Builds a block from OpenMetrics text with the real `promtool tsdb
 * create-blocks-from openmetrics` in a new temporary directory (its path in
 * tmp, PATH_MAX bytes) and puts the block's chunks directory in chunks_dir.
 * The caller removes tmp with chunktest_rmtree().
 */
void chunktest_promtool_block(const char *om, char *tmp, char *chunks_dir)
{
    snprintf(tmp, PATH_MAX, "/tmp/cairn-chunk-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp), "mkdtemp: %s", strerror(errno));
    char in[PATH_MAX], out[PATH_MAX], log[PATH_MAX];
    snprintf(in, sizeof(in), "%s/in.om", tmp);
    snprintf(out, sizeof(out), "%s/out", tmp);
    snprintf(log, sizeof(log), "%s/promtool.log", tmp);
    FILE *f = fopen(in, "w");
    cr_assert_not_null(f);
    fputs(om, f);
    cr_assert_eq(fclose(f), 0);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = {"promtool", "tsdb", "create-blocks-from", "openmetrics", in, out, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "promtool", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0,
                 "cannot run promtool (Debian package prometheus; `make test` "
                 "installs it): %s",
                 strerror(rc));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[2048] = "";
        FILE *lf = fopen(log, "r");
        if (lf) {
            msg[fread(msg, 1, sizeof(msg) - 1, lf)] = '\0';
            fclose(lf);
        }
        cr_assert_fail("promtool failed (status %d): %s", status, msg);
    }

    /* One block: the samples all lie in one 2 h range. */
    DIR *d = opendir(out);
    cr_assert_not_null(d, "promtool wrote no %s", out);
    int blocks = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (strlen(de->d_name) != 26) /* a ULID */
            continue;
        int k = snprintf(chunks_dir, PATH_MAX, "%s/%s/chunks", out, de->d_name);
        cr_assert_lt(k, PATH_MAX);
        blocks++;
    }
    closedir(d);
    cr_assert_eq(blocks, 1, "promtool wrote %d blocks", blocks);
}

/* Reads a whole file into a malloc'd buffer. */
uint8_t *chunktest_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static size_t encode(const struct tsdb_sample *s, size_t n, uint8_t *buf, size_t cap)
{
    struct tsdb_xor_enc e;
    cr_assert_eq(tsdb_xor_init(&e, buf, cap), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(tsdb_xor_append(&e, s[i].t, s[i].v), 0, "append %zu", i);
    return tsdb_xor_len(&e);
}

/* Decodes with tsdb_xor_next_batch in steps of `step` (0: tsdb_xor_next);
 * returns the count and the final return code in *rc. */
static size_t decode(const uint8_t *buf, size_t len, struct tsdb_sample *out, size_t cap,
                     size_t step, int *rc)
{
    struct tsdb_xor_iter it;
    size_t n = 0;
    tsdb_xor_iter_init(&it, buf, len);
    for (;;) {
        if (step == 0) {
            struct tsdb_sample s;
            *rc = tsdb_xor_next(&it, &s);
            if (*rc != 1)
                return n;
            cr_assert_lt(n, cap, "more samples than expected");
            out[n++] = s;
        } else if (n == cap) {
            struct tsdb_sample extra;
            *rc = tsdb_xor_next_batch(&it, &extra, 1);
            cr_assert_leq(*rc, 0, "more samples than expected");
            return n;
        } else {
            size_t room = cap - n < step ? cap - n : step;
            *rc = tsdb_xor_next_batch(&it, out + n, room);
            if (*rc <= 0)
                return n;
            cr_assert_leq((size_t)*rc, room);
            n += (size_t)*rc;
        }
    }
}

static void assert_same(const struct tsdb_sample *got, const struct tsdb_sample *want, size_t n,
                        const char *what)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(got[i].t, want[i].t, "%s: sample %zu: t %lld, want %lld", what, i,
                     (long long)got[i].t, (long long)want[i].t);
        cr_assert_eq(bits(got[i].v), bits(want[i].v), "%s: sample %zu: v %016llx, want %016llx",
                     what, i, (unsigned long long)bits(got[i].v),
                     (unsigned long long)bits(want[i].v));
    }
}

/* Decodes buf every way (sample by sample and in batches of 1, 3, 120) and
 * checks the samples; then checks that encoding them gives buf back. */
static void assert_chunk(const uint8_t *buf, size_t len, const struct tsdb_sample *want, size_t n,
                         const char *what)
{
    struct tsdb_sample *got = calloc(n + 1, sizeof(*got));
    cr_assert_not_null(got);
    const size_t steps[] = {0, 1, 3, 120};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        int rc;
        size_t m = decode(buf, len, got, n + 1, steps[k], &rc);
        cr_assert_eq(rc, 0, "%s: step %zu: rc %d after %zu samples", what, steps[k], rc, m);
        cr_assert_eq(m, n, "%s: step %zu: %zu samples, want %zu", what, steps[k], m, n);
        assert_same(got, want, n, what);
    }
    free(got);
    uint8_t *enc = malloc(len + 64);
    cr_assert_not_null(enc);
    size_t elen = encode(want, n, enc, len + 64);
    cr_assert_eq(elen, len, "%s: encoded %zu bytes, want %zu", what, elen, len);
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(enc[i], buf[i], "%s: byte %zu: %02x, want %02x", what, i, enc[i], buf[i]);
    free(enc);
}

/* ---- worked out by hand --------------------------------------------------------------------- */

Test(tsdb_chunk, hand_encoded_bytes)
{
    /* (1, 0.0): count 1, zig-zag varint 2, 64 zero bits, and the empty
     * byte Go's bit writer leaves after whole bytes written on a byte
     * boundary (Prometheus' one-sample chunks are 12 bytes). */
    const uint8_t one[] = {0x00, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const struct tsdb_sample s1[] = {{1, 0.0}};
    assert_chunk(one, sizeof(one), s1, 1, "one sample");

    /* + (2, 0.0): uvarint delta 1 (into that empty byte), value bit '0'
     * and 7 padding bits. */
    const uint8_t two[] = {0x00, 0x02, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    const struct tsdb_sample s2[] = {{1, 0.0}, {2, 0.0}};
    assert_chunk(two, sizeof(two), s2, 2, "two samples");

    /* + (3, 1.0): dod '0'; XOR 0x3ff0000000000000: '1' '1' (new window),
     * 5 bits leading = 2, 6 bits width = 10, the 10 bits 1111111111:
     * 0|0|11|0001 0|001010|1 11111111 1|0000000 */
    const uint8_t three[] = {0x00, 0x03, 0x02, 0,    0,    0,    0,    0,
                             0,    0,    0,    0x01, 0x31, 0x15, 0xff, 0x80};
    const struct tsdb_sample s3[] = {{1, 0.0}, {2, 0.0}, {3, 1.0}};
    assert_chunk(three, sizeof(three), s3, 3, "three samples");

    /* Negative first timestamp: zig-zag -1 is 1. */
    const uint8_t neg[] = {0x00, 0x01, 0x01, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0};
    const struct tsdb_sample sn[] = {{-1, 1.0}};
    assert_chunk(neg, sizeof(neg), sn, 1, "negative timestamp");
}

/* A value whose XOR's significant bits are a multiple of 8 and end on a
 * byte boundary leaves the empty byte too; anything else does not. */
Test(tsdb_chunk, empty_byte_after_byte_aligned_value)
{
    uint8_t buf[64];
    struct tsdb_xor_enc e;
    cr_assert_eq(tsdb_xor_init(&e, buf, sizeof(buf)), 0);
    cr_assert_eq(tsdb_xor_append(&e, 0, 0.0), 0); /* 16 + 8 + 64 bits */
    cr_assert_eq(e.nbits, 88);
    cr_assert_eq(tsdb_xor_len(&e), 12);
    /* delta 1 (8 bits), XOR 0xff00...: '11', leading 0, width 8, 8 bits,
     * ending at bit 117: no empty byte. */
    cr_assert_eq(tsdb_xor_append(&e, 1, from_bits(0xff00000000000000ULL)), 0);
    cr_assert_eq(e.nbits, 117);
    cr_assert_eq(tsdb_xor_len(&e), 15);
    /* dod '0', XOR 0xfe00... inside the window: '10' and 8 bits, ending
     * at bit 128: whole bytes on a boundary, so an empty byte follows. */
    cr_assert_eq(tsdb_xor_append(&e, 2, from_bits(0x0100000000000000ULL)), 0);
    cr_assert_eq(e.nbits, 128);
    cr_assert_eq(tsdb_xor_len(&e), 17);
    cr_assert_eq(buf[16], 0);
    /* dod '0', XOR 0 '0': two bits go into that byte. */
    cr_assert_eq(tsdb_xor_append(&e, 3, from_bits(0x0100000000000000ULL)), 0);
    cr_assert_eq(e.nbits, 130);
    cr_assert_eq(tsdb_xor_len(&e), 17);
}

Test(tsdb_chunk, empty_chunk)
{
    uint8_t buf[64];
    struct tsdb_xor_enc e;
    cr_assert_eq(tsdb_xor_init(&e, buf, sizeof(buf)), 0);
    cr_assert_eq(tsdb_xor_len(&e), 2);
    cr_assert_eq(buf[0], 0);
    cr_assert_eq(buf[1], 0);
    cr_assert_eq(tsdb_xor_count(buf, 2), 0);
    struct tsdb_xor_iter it;
    struct tsdb_sample s;
    tsdb_xor_iter_init(&it, buf, 2);
    cr_assert_eq(tsdb_xor_next(&it, &s), 0);
    cr_assert_eq(tsdb_xor_next_batch(&it, &s, 1), 0);
}

/*
 * Prometheus' iterator starts with a leading/trailing window of 0/0 and its
 * appender, resumed on a chunk whose values never changed, takes that
 * window over: the first XOR then "reuses" it with 64 bits. Such chunks
 * must decode. (0,1.0) (1,1.0) (2,2.0) with that encoding:
 * ... 01 | 0|0|1|0|0111 11111111 0*56 | 0000 padding
 */
Test(tsdb_chunk, reused_window_before_any_is_64_bits)
{
    const uint8_t buf[] = {0x00, 0x03, 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0,   0,
                           0x01, 0x27, 0xff, 0,    0,    0, 0, 0, 0, 0x00};
    const struct tsdb_sample want[] = {{0, 1.0}, {1, 1.0}, {2, 2.0}};
    struct tsdb_sample got[4];
    int rc;
    cr_assert_eq(decode(buf, sizeof(buf), got, 4, 0, &rc), 3);
    cr_assert_eq(rc, 0);
    assert_same(got, want, 3, "resumed window");
}

/* ---- written by a real Prometheus 2.42 ------------------------------------------------------ */

/*
 * These chunks come from Debian's prometheus 2.42.0 server: the samples were
 * sent to its remote-write receiver (--web.enable-remote-write-receiver) and
 * the head was written out as a block by the admin snapshot API; the bytes
 * are the chunks of that block's chunks/000001, framing removed.
 */
static const uint8_t prom_neg_ts[] = {
    0x00, 0x28, 0xff, 0x8f, 0x9c, 0xf1, 0xc0, 0x05, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xe7, 0xd4, 0x03, 0xc4, 0x57, 0xff, 0x00, 0x1d, 0x84, 0xbf, 0xff, 0x00, 0x1d, 0x83, 0xfb, 0xff,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x01, 0xd5, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x18, 0x00, 0xe8, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x74, 0x00, 0x18, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x3a, 0xbf, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00,
    0x1d, 0x5f, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x0e, 0x80, 0x00, 0x80, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x40, 0x07, 0x40, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x03, 0xab,
    0xfd, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x37, 0x84, 0xd5, 0xfe, 0xc0, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x18, 0x3f, 0x68, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x74, 0x00, 0x0c,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x3a, 0xbf, 0xdc, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
    0x00, 0x1d, 0x5f, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xbc, 0x26, 0x80, 0x00, 0x40, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x41, 0xfb, 0x40, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x03,
    0xab, 0xfc, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x01, 0xd5, 0xfe, 0x20, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x1b, 0xc2, 0x68, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x1f, 0xb4, 0x00,
    0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x3a, 0xbf, 0xc6, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x78, 0x4d, 0x5f, 0xe4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x83, 0xf6, 0x80, 0x00, 0x40,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x07, 0x40, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2f,
    0x09, 0xab, 0xfc, 0xa0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x7e, 0xd5, 0xfe, 0x60, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x18, 0x00, 0xe8, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0xe1, 0x34,
    0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0f, 0xda, 0xbf, 0xce, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x03, 0x78, 0x4d, 0x5f, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x83, 0xf6, 0x80, 0x00,
    0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5e, 0x13, 0x40, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x20, 0xfd, 0xab, 0xfb, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x37, 0x84, 0xd5, 0xfd, 0x90, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x18, 0x3f, 0x68, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0xe1,
    0x34, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0f, 0xda, 0xbf, 0xb3, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02,
};
static const uint8_t prom_stale_jumps_0[] = {
    0x00, 0x0e, 0xc0, 0xff, 0x9e, 0xd0, 0xbf, 0x68, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x98, 0x75, 0xc3, 0xf7, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x29, 0xff, 0xa0,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x08, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0a, 0x00, 0x19, 0xff, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x09, 0xff, 0x48,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x1e, 0x12, 0xc0, 0x78, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x0d, 0x00, 0x00, 0x9f, 0xf7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xd0, 0x00, 0x19,
    0xfe, 0xa0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1e, 0x18, 0x69, 0xf8, 0x00, 0x14, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x0e, 0x80, 0x00, 0x09, 0xfe, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1e,
    0x80, 0x00, 0x19, 0xfe, 0xdc, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1e, 0xcf, 0x2c, 0x08, 0x00,
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xff, 0x78, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08,
};
static const uint8_t prom_stale_jumps_1[] = {
    0x00, 0x02, 0xfc, 0xbb, 0x97, 0xd5, 0xbf, 0x68, 0x40, 0x31,
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xdc, 0x26, 0x80,
};
static const uint8_t prom_stale_markers[] = {
    0x00, 0x15, 0xc0, 0xff, 0x9e, 0xd0, 0xbf, 0x68, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x98, 0x75, 0xc2, 0x5f, 0xff, 0x62, 0xf7, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2b, 0xff,
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2b, 0xff, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0xff,
    0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x17, 0xdf, 0xf5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xa0, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd0, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x4c, 0x00, 0xd8, 0x4c, 0xff, 0xf6, 0x03, 0x3f, 0xfd, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x16, 0x0f,
    0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb0, 0x01, 0xff, 0xe0, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x8f, 0xfc, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x52, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x12, 0x40, 0x49, 0x99, 0x99, 0x99, 0x99, 0x99, 0x98, 0x40, 0x0e, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x09, 0x00, 0xe6, 0x66, 0x66, 0x66, 0x66, 0x66, 0x60,
};

Test(tsdb_chunk, prometheus_stale_markers_and_nan_payloads)
{
    const int64_t t0 = 1795246252000LL;
    const uint64_t v[] = {0x3ff0000000000000,
                          0x4000000000000000,
                          STALE,
                          0x4008000000000000,
                          STALE,
                          STALE,
                          0x4012000000000000,
                          GO_NAN,
                          STALE,
                          0x7ff8000000000000,
                          0xfff8000000000000,
                          0x8000000000000000,
                          0x7ff0000000000000,
                          STALE,
                          0xfff0000000000000,
                          0x0000000000000001,
                          0x3ff0000000000000,
                          STALE,
                          0x3fb999999999999a,
                          0x3fc999999999999a,
                          STALE};
    struct tsdb_sample want[21];
    for (size_t i = 0; i < 21; i++)
        want[i] = (struct tsdb_sample){t0 + (int64_t)i * 15000, from_bits(v[i])};
    assert_chunk(prom_stale_markers, sizeof(prom_stale_markers), want, 21, "stale markers");
    cr_assert(tsdb_is_stale_nan(want[2].v));
}

Test(tsdb_chunk, prometheus_timestamp_jumps)
{
    /* Deltas of deltas at each bucket's edges, then an hour's jump (where
     * Prometheus' head cut a new chunk). */
    const int64_t deltas[] = {15000,  15000,  23192,  15001, 23193, 100000,  165536, 100001,
                              200000, 724288, 200001, 1,     1,     3600000, 1};
    struct tsdb_sample want[16];
    int64_t t = 1795246252000LL;
    for (size_t i = 0; i < 16; i++) {
        if (i)
            t += deltas[i - 1];
        want[i].t = t;
        want[i].v = i % 3 == 1 ? tsdb_stale_nan() : (double)i * 1.25;
    }
    assert_chunk(prom_stale_jumps_0, sizeof(prom_stale_jumps_0), want, 14, "jumps, chunk 1");
    assert_chunk(prom_stale_jumps_1, sizeof(prom_stale_jumps_1), want + 14, 2, "jumps, chunk 2");
}

Test(tsdb_chunk, prometheus_negative_timestamps)
{
    struct tsdb_sample want[40];
    for (int i = 0; i < 40; i++) {
        want[i].t = -94608000000LL + i * 60000 + (i * i * 7) % 1000;
        want[i].v = i % 4 == 3 ? tsdb_stale_nan() : -(double)i;
    }
    cr_assert_eq(bits(want[0].v), 0x8000000000000000ULL, "-0.0 first");
    assert_chunk(prom_neg_ts, sizeof(prom_neg_ts), want, 40, "negative timestamps");
}

/* ---- promtool ------------------------------------------------------------------------------- */

#define T0 1599998400000LL /* a multiple of 2 h: one block */
#define NSERIES 7

struct series {
    const char *name;
    struct tsdb_sample *s;
    size_t n;
};

/* xorshift64*: reproducible test data without global state. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void om_sample(struct cn_buf *b, const char *name, int64_t t, double v)
{
    char val[40];
    if (isnan(v))
        snprintf(val, sizeof(val), "NaN");
    else if (isinf(v))
        snprintf(val, sizeof(val), "%s", v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(val, sizeof(val), "%.17g", v);
    /* Seconds with a trailing half millisecond: promtool reads the float,
     * multiplies by 1000 and truncates; make sure that lands on t. */
    char ts[40];
    snprintf(ts, sizeof(ts), "%lld.%03lld5", (long long)(t / 1000), (long long)(t % 1000));
    cr_assert_eq((int64_t)(strtod(ts, NULL) * 1000.0), t, "timestamp %s", ts);
    cn_buf_printf(b, "%s %s %s\n", name, val, ts);
}

Test(tsdb_chunk, promtool_bit_exact, .timeout = 60)
{
    uint64_t seed = 42;
    struct series ser[NSERIES] = {{"a_counter", NULL, 480},    {"b_gauge", NULL, 480},
                                  {"c_constant", NULL, 300},   {"d_special", NULL, 260},
                                  {"e_jumps", NULL, 0},        {"f_random_bits", NULL, 240},
                                  {"g_xor_windows", NULL, 400}};
    for (size_t k = 0; k < NSERIES; k++) {
        ser[k].s = calloc(600, sizeof(struct tsdb_sample));
        cr_assert_not_null(ser[k].s);
    }

    /* An integer counter with a reset. */
    double c = 1e6;
    for (size_t i = 0; i < 480; i++) {
        c = i == 300 ? 3 : c + (double)(rnd(&seed) % 5000);
        ser[0].s[i] = (struct tsdb_sample){T0 + (int64_t)i * 15000, c};
    }
    /* A float gauge, scrape jitter of a few ms. */
    for (size_t i = 0; i < 480; i++) {
        int64_t jitter = (int64_t)(rnd(&seed) % 9) - 4;
        double g = 20.0 + (double)(rnd(&seed) % 100000) / 997.0;
        ser[1].s[i] = (struct tsdb_sample){T0 + 1000 + (int64_t)i * 15000 + jitter, g};
    }
    for (size_t i = 0; i < 300; i++)
        ser[2].s[i] = (struct tsdb_sample){T0 + (int64_t)i * 20000, 42.0};
    /* Special values, including the XOR window's corner cases: a 1-bit XOR
     * (leading zeros clamped to 31) and a 64-bit one (width written as 0). */
    const double special[] = {0.0,
                              -0.0,
                              NAN,
                              INFINITY,
                              -INFINITY,
                              1.0,
                              nextafter(1.0, 2.0),
                              1.0,
                              from_bits(0xbff0000000000001ULL),
                              DBL_MAX,
                              -DBL_MAX,
                              5e-324,
                              -5e-324,
                              DBL_MIN,
                              1e-300,
                              NAN,
                              NAN,
                              0.1,
                              0.2,
                              0.30000000000000004,
                              -1.5,
                              INFINITY,
                              INFINITY,
                              123456789.125};
    const size_t nspecial = sizeof(special) / sizeof(special[0]);
    for (size_t i = 0; i < 260; i++) {
        /* In order first (the corner-case pairs are neighbours), then mixed. */
        double v = special[i < 130 ? i % nspecial : (i * 7 + i / nspecial) % nspecial];
        ser[3].s[i] = (struct tsdb_sample){T0 + 500 + (int64_t)i * 10000, v};
    }
    /* Timestamps whose deltas of deltas sit on the buckets' edges, with
     * jumps up and down of half an hour. */
    const int64_t dods[] = {0,       8192,   -8191,  8193,    -8192,   65536,
                            -65535,  65537,  -65536, 524288,  -524287, 524289,
                            -524288, -15005, 0,      1799999, -1799999};
    int64_t t = T0, delta = 15000;
    size_t n = 0;
    ser[4].s[n++] = (struct tsdb_sample){t, 0};
    t += delta;
    ser[4].s[n++] = (struct tsdb_sample){t, 1};
    for (size_t i = 0; i < sizeof(dods) / sizeof(dods[0]); i++, n++) {
        delta += dods[i];
        cr_assert_gt(delta, 0);
        t += delta;
        ser[4].s[n] = (struct tsdb_sample){t, (double)n};
    }
    for (size_t i = 0; i < 60; i++, n++) {
        t += 15000 + (int64_t)(rnd(&seed) % 3);
        ser[4].s[n] = (struct tsdb_sample){t, (double)n};
    }
    cr_assert_lt(t, T0 + 7200000);
    ser[4].n = n;
    /* Random bit patterns (finite ones): every window transition. */
    for (size_t i = 0; i < 240; i++) {
        uint64_t b;
        do
            b = rnd(&seed) >> (rnd(&seed) % 3 == 0 ? rnd(&seed) % 40 : 0);
        while (!isfinite(from_bits(b)));
        ser[5].s[i] = (struct tsdb_sample){T0 + 7 + (int64_t)i * 29000, from_bits(b)};
    }

    /* XORs confined to random bit ranges, never bits 63 and 0 together (a
     * 64-bit window would be reused for ever after): windows open, get
     * reused, narrow; ranges in the low 32 bits clamp the leading zeros. */
    for (size_t i = 0; i < 400; i++) {
        unsigned lo = (unsigned)(rnd(&seed) % 63), width = 1 + (unsigned)(rnd(&seed) % 40);
        if (i % 4 == 0)
            width = 1 + (unsigned)(rnd(&seed) % 3);
        if (lo + width > 63)
            width = 63 - lo;
        uint64_t mask = (width >= 64 ? ~0ULL : ((1ULL << width) - 1)) << lo;
        uint64_t b = 0x4010000000000000ULL ^ (rnd(&seed) & mask);
        ser[6].s[i] = (struct tsdb_sample){T0 + 3 + (int64_t)i * 15000, from_bits(b)};
    }

    struct cn_buf om;
    cn_buf_init(&om);
    size_t total = 0;
    for (size_t k = 0; k < NSERIES; k++) {
        cn_buf_printf(&om, "# TYPE %s gauge\n", ser[k].name);
        for (size_t i = 0; i < ser[k].n; i++)
            om_sample(&om, ser[k].name, ser[k].s[i].t, ser[k].s[i].v);
        total += ser[k].n;
    }
    cn_buf_puts(&om, "# EOF\n");
    cr_assert_eq(om.err, 0);

    char tmp[PATH_MAX], chunks[PATH_MAX], file[PATH_MAX + 16];
    chunktest_promtool_block(cn_buf_cstr(&om), tmp, chunks);
    cn_buf_free(&om);
    snprintf(file, sizeof(file), "%s/000001", chunks);
    size_t size;
    uint8_t *seg = chunktest_read_file(file, &size);
    snprintf(file, sizeof(file), "%s/000002", chunks);
    bool more = access(file, F_OK) == 0;
    chunktest_rmtree(tmp);
    cr_assert_not(more, "one segment expected");

    /* The expected samples in block order: series sorted by labels. */
    struct tsdb_sample *want = calloc(total, sizeof(*want));
    cr_assert_not_null(want);
    size_t w = 0;
    for (size_t k = 0; k < NSERIES; k++) {
        for (size_t i = 0; i < ser[k].n; i++) {
            want[w] = ser[k].s[i];
            if (isnan(want[w].v)) /* the text said NaN: Go's math.NaN() */
                want[w].v = from_bits(GO_NAN);
            w++;
        }
    }

    /* Walk the segment: 8-byte header, then uvarint len, encoding, data,
     * big-endian CRC32-C of encoding and data. */
    cr_assert_geq(size, 8);
    cr_assert_eq((uint32_t)seg[0] << 24 | (uint32_t)seg[1] << 16 | (uint32_t)seg[2] << 8 | seg[3],
                 TSDB_CHUNKS_MAGIC);
    cr_assert_eq(seg[4], 1);
    size_t off = 8, idx = 0, nchunks = 0, full = 0;
    while (off < size) {
        uint64_t len = 0;
        for (unsigned s = 0;; s += 7) {
            cr_assert_lt(off, size);
            uint8_t b = seg[off++];
            len |= (uint64_t)(b & 0x7f) << s;
            if (b < 0x80)
                break;
        }
        cr_assert_leq(off + 1 + len + 4, size);
        cr_assert_eq(seg[off], TSDB_CHUNK_ENC_XOR);
        const uint8_t *data = seg + off + 1;
        const uint8_t *sum = data + len;
        uint32_t crc =
            (uint32_t)sum[0] << 24 | (uint32_t)sum[1] << 16 | (uint32_t)sum[2] << 8 | sum[3];
        cr_assert_eq(tsdb_crc32c(0, seg + off, 1 + len), crc, "chunk %zu: CRC", nchunks);
        uint16_t cnt = tsdb_xor_count(data, len);
        cr_assert_leq(idx + cnt, total, "more samples than written");
        char what[32];
        snprintf(what, sizeof(what), "promtool chunk %zu", nchunks);
        assert_chunk(data, len, want + idx, cnt, what);
        idx += cnt;
        full += cnt == TSDB_XOR_SAMPLES_PER_CHUNK;
        nchunks++;
        off += 1 + len + 4;
    }
    cr_assert_eq(idx, total, "%zu of %zu samples in the block", idx, total);
    cr_assert_gt(nchunks, NSERIES, "every series fits one chunk: the multi-chunk path is untested");
    cr_assert_gt(full, 0, "no chunk of %d samples", TSDB_XOR_SAMPLES_PER_CHUNK);
    free(want);
    free(seg);
    for (size_t k = 0; k < NSERIES; k++)
        free(ser[k].s);
}

/* ---- the encoder's contract ----------------------------------------------------------------- */

Test(tsdb_chunk, init_checks_buffer)
{
    uint8_t buf[2 + TSDB_XOR_MAX_SAMPLE_BYTES];
    struct tsdb_xor_enc e;
    cr_assert_eq(tsdb_xor_init(&e, buf, sizeof(buf) - 1), -EINVAL);
    cr_assert_eq(tsdb_xor_init(&e, NULL, 100), -EINVAL);
    cr_assert_eq(tsdb_xor_init(&e, buf, sizeof(buf)), 0);
    /* The worst first sample fits the minimum buffer. */
    cr_assert_eq(tsdb_xor_append(&e, INT64_MIN, NAN), 0);
}

/* The worst samples of each kind fit TSDB_XOR_MAX_SAMPLE_BYTES. */
Test(tsdb_chunk, max_sample_bytes_is_enough)
{
    uint8_t buf[4096];
    struct tsdb_xor_enc e;
    cr_assert_eq(tsdb_xor_init(&e, buf, sizeof(buf)), 0);
    const struct tsdb_sample s[] = {{INT64_MIN, 1.0},
                                    {INT64_MAX, -1.0000000000000002},
                                    {INT64_MIN, 1.0},
                                    {0, from_bits(0xfffffffffffffffeULL)},
                                    {INT64_MAX, from_bits(0x8000000000000001ULL)}};
    for (size_t i = 0; i < 5; i++) {
        size_t before = tsdb_xor_len(&e);
        cr_assert_eq(tsdb_xor_append(&e, s[i].t, s[i].v), 0);
        cr_assert_leq(tsdb_xor_len(&e) - before, TSDB_XOR_MAX_SAMPLE_BYTES, "sample %zu", i);
    }
    struct tsdb_sample got[6];
    int rc;
    cr_assert_eq(decode(buf, tsdb_xor_len(&e), got, 6, 0, &rc), 5);
    cr_assert_eq(rc, 0);
    assert_same(got, s, 5, "extremes");
}

Test(tsdb_chunk, enospc_leaves_everything_untouched)
{
    uint64_t seed = 7;
    struct tsdb_sample s[300];
    for (size_t i = 0; i < 300; i++)
        s[i] = (struct tsdb_sample){1000 + (int64_t)i * 15000 + (int64_t)(rnd(&seed) % 5),
                                    from_bits(rnd(&seed) >> 2)};
    uint8_t ref[8192];
    size_t reflen = encode(s, 300, ref, sizeof(ref));

    /* Start small; on -ENOSPC check nothing moved, then grow by a byte. */
    size_t cap = 2 + TSDB_XOR_MAX_SAMPLE_BYTES, grows = 0;
    uint8_t *buf = malloc(cap);
    cr_assert_not_null(buf);
    memset(buf, 0xa5, cap);
    struct tsdb_xor_enc e;
    cr_assert_eq(tsdb_xor_init(&e, buf, cap), 0);
    for (size_t i = 0; i < 300;) {
        struct tsdb_xor_enc before = e;
        uint8_t *copy = malloc(cap);
        cr_assert_not_null(copy);
        memcpy(copy, buf, cap);
        int rc = tsdb_xor_append(&e, s[i].t, s[i].v);
        if (rc == 0) {
            i++;
            free(copy);
            continue;
        }
        cr_assert_eq(rc, -ENOSPC);
        cr_assert_eq(memcmp(&before, &e, sizeof(e)), 0, "state changed on -ENOSPC");
        cr_assert_eq(memcmp(copy, buf, cap), 0, "buffer changed on -ENOSPC");
        free(copy);
        uint8_t *bigger = malloc(cap + 1);
        cr_assert_not_null(bigger);
        memcpy(bigger, buf, cap);
        bigger[cap] = 0x5a; /* garbage past the chunk must not leak in */
        free(buf);
        buf = bigger;
        cap++;
        grows++;
        tsdb_xor_set_buffer(&e, buf, cap);
    }
    cr_assert_gt(grows, 100);
    cr_assert_eq(tsdb_xor_len(&e), reflen);
    cr_assert_eq(memcmp(buf, ref, reflen), 0, "bytes differ from one-buffer encoding");
    free(buf);
}

Test(tsdb_chunk, erange_after_65535_samples)
{
    size_t cap = 2 + 18 + 65535 / 4 + 64;
    uint8_t *buf = malloc(cap);
    cr_assert_not_null(buf);
    struct tsdb_xor_enc e;
    cr_assert_eq(tsdb_xor_init(&e, buf, cap), 0);
    for (int64_t i = 0; i < 65535; i++)
        cr_assert_eq(tsdb_xor_append(&e, i * 1000, 3.0), 0, "append %lld", (long long)i);
    cr_assert_eq(tsdb_xor_count(buf, tsdb_xor_len(&e)), 65535);
    cr_assert_eq(tsdb_xor_append(&e, 65535 * 1000LL, 3.0), -ERANGE);
    struct tsdb_xor_iter it;
    struct tsdb_sample s[512];
    size_t n = 0;
    int rc;
    tsdb_xor_iter_init(&it, buf, tsdb_xor_len(&e));
    while ((rc = tsdb_xor_next_batch(&it, s, 512)) > 0) {
        for (int i = 0; i < rc; i++)
            cr_assert_eq(s[i].t, (int64_t)(n + (size_t)i) * 1000);
        n += (size_t)rc;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(n, 65535);
    free(buf);
}

/* ---- the iterator on bad input -------------------------------------------------------------- */

static size_t sample_chunk(uint8_t *buf, size_t cap, struct tsdb_sample *s, size_t n)
{
    uint64_t seed = 99;
    for (size_t i = 0; i < n; i++) {
        double v = i % 5 == 0 ? from_bits(rnd(&seed) >> 1) : (double)(i / 3);
        s[i] = (struct tsdb_sample){
            (int64_t)i * 15000 + (int64_t)(rnd(&seed) % 3000000) * (i % 17 == 0), v};
        if (i)
            s[i].t = s[i - 1].t + 1 + (int64_t)(rnd(&seed) % 20000) * (i % 11 != 0) +
                     (int64_t)(rnd(&seed) % 4000000) * (i % 23 == 0);
    }
    return encode(s, n, buf, cap);
}

Test(tsdb_chunk, every_truncation_is_einval)
{
    uint8_t buf[4096];
    struct tsdb_sample s[120], got[121];
    size_t len = sample_chunk(buf, sizeof(buf), s, 120);
    for (size_t cut = 0; cut < len; cut++) {
        /* A copy of exactly `cut` bytes so ASan sees any read past it. */
        uint8_t *p = malloc(cut ? cut : 1);
        cr_assert_not_null(p);
        memcpy(p, buf, cut);
        for (size_t step = 0; step <= 7; step += 7) {
            int rc;
            size_t n = decode(p, cut, got, 121, step, &rc);
            cr_assert_eq(rc, -EINVAL, "cut at %zu, step %zu: rc %d after %zu", cut, step, rc, n);
            cr_assert_lt(n, 120);
            assert_same(got, s, n, "before the cut");
        }
        free(p);
    }
}

Test(tsdb_chunk, bad_window_is_einval)
{
    /* (0,0.0), (1,0.0), then a new window of 31 leading zeros and 63
     * meaningful bits: no encoder writes 94 bits of a 64-bit XOR.
     * 0|0|11|1111 1|111111 + padding */
    const uint8_t buf[] = {0x00, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x3f, 0xfe, 0, 0,
                           0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0,    0,    0,    0};
    struct tsdb_xor_iter it;
    struct tsdb_sample s[3];
    tsdb_xor_iter_init(&it, buf, sizeof(buf));
    cr_assert_eq(tsdb_xor_next(&it, &s[0]), 1);
    cr_assert_eq(tsdb_xor_next(&it, &s[1]), 1);
    cr_assert_eq(tsdb_xor_next(&it, &s[2]), -EINVAL);
    cr_assert_eq(tsdb_xor_next(&it, &s[2]), -EINVAL, "errors stick");

    /* A batch hands out the good samples first, then the error. */
    tsdb_xor_iter_init(&it, buf, sizeof(buf));
    cr_assert_eq(tsdb_xor_next_batch(&it, s, 3), 2);
    cr_assert_eq(s[1].t, 1);
    cr_assert_eq(tsdb_xor_next_batch(&it, s, 3), -EINVAL);
}

Test(tsdb_chunk, varint_overflow_is_einval)
{
    /* Eleven continuation bytes for the first timestamp. */
    uint8_t buf[40];
    memset(buf, 0xff, sizeof(buf));
    buf[0] = 0;
    buf[1] = 1;
    struct tsdb_xor_iter it;
    struct tsdb_sample s;
    tsdb_xor_iter_init(&it, buf, sizeof(buf));
    cr_assert_eq(tsdb_xor_next(&it, &s), -EINVAL);
    /* Ten bytes whose last one is above 1 overflow 64 bits too. */
    memset(buf + 2, 0x80, 9);
    buf[11] = 0x02;
    tsdb_xor_iter_init(&it, buf, sizeof(buf));
    cr_assert_eq(tsdb_xor_next(&it, &s), -EINVAL);
    buf[11] = 0x01; /* 2^63, the largest ten-byte varint: zig-zag 2^62 */
    tsdb_xor_iter_init(&it, buf, sizeof(buf));
    cr_assert_eq(tsdb_xor_next(&it, &s), 1);
    cr_assert_eq(s.t, INT64_C(1) << 62, "t %lld", (long long)s.t);
}

Test(tsdb_chunk, short_buffers)
{
    const uint8_t b[] = {0x00, 0x05};
    struct tsdb_xor_iter it;
    struct tsdb_sample s;
    cr_assert_eq(tsdb_xor_count(b, 1), 0);
    cr_assert_eq(tsdb_xor_count(b, 2), 5);
    tsdb_xor_iter_init(&it, b, 1);
    cr_assert_eq(tsdb_xor_next(&it, &s), -EINVAL);
    tsdb_xor_iter_init(&it, NULL, 0);
    cr_assert_eq(tsdb_xor_next_batch(&it, &s, 1), -EINVAL);
    tsdb_xor_iter_init(&it, b, 2); /* five samples announced, none there */
    cr_assert_eq(tsdb_xor_next(&it, &s), -EINVAL);

    /* A batch of 0 is refused without spoiling the iterator. */
    const uint8_t one[] = {0x00, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0};
    tsdb_xor_iter_init(&it, one, sizeof(one));
    cr_assert_eq(tsdb_xor_next_batch(&it, &s, 0), -EINVAL);
    cr_assert_eq(tsdb_xor_next_batch(&it, &s, 1), 1);
    cr_assert_eq(s.t, 1);
    cr_assert_eq(tsdb_xor_next_batch(&it, &s, 1), 0);
}

/* ---- round trips ---------------------------------------------------------------------------- */

Test(tsdb_chunk, random_round_trips)
{
    uint64_t seed = 2024;
    struct tsdb_sample s[600], got[601];
    const size_t steps[] = {0, 1, 2, 5, 64, 600};
    for (int round = 0; round < 400; round++) {
        size_t n = 1 + rnd(&seed) % 600;
        int64_t t = (int64_t)rnd(&seed);
        double v = 0;
        unsigned mode = (unsigned)(rnd(&seed) % 5);
        for (size_t i = 0; i < n; i++) {
            switch (mode) {
            case 0: v = from_bits(rnd(&seed)); break;          /* anything, NaNs too */
            case 1: v += (double)(rnd(&seed) % 1000); break;   /* counter */
            case 2: v = (double)(rnd(&seed) % 7) / 4.0; break; /* few values */
            case 3: v = rnd(&seed) % 8 ? v : -v + 0.5; break;  /* mostly constant */
            default: v = from_bits(rnd(&seed) & 0xfff000000000000fULL); break;
            }
            /* Wrapping deltas of every size, negative ones included. */
            uint64_t r = rnd(&seed);
            t = (int64_t)((uint64_t)t + (r % 4 == 0 ? r >> (r % 64) : 15000 + r % 3));
            s[i] = (struct tsdb_sample){t, v};
        }
        uint8_t buf[16384];
        size_t len = encode(s, n, buf, sizeof(buf));
        cr_assert_eq(tsdb_xor_count(buf, len), n);
        uint8_t *exact = malloc(len);
        cr_assert_not_null(exact);
        memcpy(exact, buf, len);
        for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
            int rc;
            size_t m = decode(exact, len, got, 601, steps[k], &rc);
            cr_assert_eq(rc, 0, "round %d step %zu: rc %d at %zu", round, steps[k], rc, m);
            cr_assert_eq(m, n);
            assert_same(got, s, n, "random");
        }
        free(exact);
    }
}
