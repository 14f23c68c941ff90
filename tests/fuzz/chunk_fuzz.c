/*
 * libFuzzer target for XOR chunks and chunk segment framing. The first byte
 * picks what the rest is:
 *   0 mod 3: an XOR chunk for the iterator. Decoding sample by sample and in
 *            batches (of a size from the first byte) must agree, stop at the
 *            announced count, and end in 0 or -EINVAL; a chunk that decodes
 *            completely must survive re-encoding: the samples come back bit
 *            for bit, and encoding them again gives the same bytes.
 *   1 mod 3: samples for the encoder (16 bytes each: a timestamp step and
 *            the value's bits), encoded into a buffer that starts at the
 *            minimum and grows on -ENOSPC, then decoded: bit for bit.
 *   2 mod 3: a chunk segment file for the reader: open it, follow the
 *            frames from the header on, fetch at offsets the input names;
 *            every answer is 0, -EINVAL or -EBADMSG, and chunks that come
 *            back lie inside the file.
 * The input is copied into a buffer of exactly its size so ASan sees any
 * read past it.
 *
 * Seeds: tests/fuzz/corpus/chunk/. Run: chunk_fuzz -max_total_time=60 corpus/chunk
 */
#include "tsdb/tsdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SAMPLES 65535

/* The scratch directory for segment files, made once per process. */
static char scratch[64];

static void remove_scratch(void)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/000001", scratch);
    unlink(path);
    rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(scratch, sizeof(scratch), "/tmp/cairn-chunk-fuzz-XXXXXX");
    if (!mkdtemp(scratch))
        abort();
    atexit(remove_scratch);
    return 0;
}

static uint64_t bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static bool same(const struct tsdb_sample *a, const struct tsdb_sample *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].t != b[i].t || bits(a[i].v) != bits(b[i].v))
            return false;
    return true;
}

/* Decodes all of buf; returns the count, the final code in *rc. */
static size_t decode(const uint8_t *buf, size_t len, struct tsdb_sample *out, size_t step, int *rc)
{
    struct tsdb_xor_iter it;
    size_t n = 0;
    tsdb_xor_iter_init(&it, buf, len);
    uint16_t want = tsdb_xor_count(buf, len);
    for (;;) {
        if (step == 0)
            *rc = tsdb_xor_next(&it, &out[n]);
        else
            *rc = tsdb_xor_next_batch(&it, &out[n], step);
        if (*rc <= 0)
            break;
        if (step == 0 ? *rc != 1 : (size_t)*rc > step)
            abort();
        n += (size_t)*rc;
        if (n > want)
            abort(); /* more samples than the header announced */
    }
    if (*rc != 0 && *rc != -EINVAL)
        abort();
    if (*rc == 0 && n != want)
        abort();
    /* Errors and ends stick. */
    struct tsdb_sample s;
    if (tsdb_xor_next(&it, &s) != *rc)
        abort();
    return n;
}

/* Encodes n samples, growing the buffer on -ENOSPC; returns it (malloc'd). */
static uint8_t *encode(const struct tsdb_sample *s, size_t n, size_t *len)
{
    size_t cap = 2 + TSDB_XOR_MAX_SAMPLE_BYTES;
    uint8_t *buf = malloc(cap);
    struct tsdb_xor_enc e;
    if (!buf || tsdb_xor_init(&e, buf, cap))
        abort();
    for (size_t i = 0; i < n;) {
        int rc = tsdb_xor_append(&e, s[i].t, s[i].v);
        if (rc == 0) {
            i++;
            continue;
        }
        if (rc != -ENOSPC)
            abort();
        cap = cap * 3 / 2 + 1;
        uint8_t *b = realloc(buf, cap);
        if (!b)
            abort();
        buf = b;
        tsdb_xor_set_buffer(&e, buf, cap);
    }
    *len = tsdb_xor_len(&e);
    return buf;
}

static void fuzz_iterator(const uint8_t *p, size_t n, unsigned knob)
{
    struct tsdb_sample *a = malloc(sizeof(*a) * (MAX_SAMPLES + 1));
    struct tsdb_sample *b = malloc(sizeof(*b) * (MAX_SAMPLES + 1));
    if (!a || !b)
        abort();
    int rca, rcb;
    size_t na = decode(p, n, a, 0, &rca);
    size_t nb = decode(p, n, b, 1 + knob % 37, &rcb);
    if (na != nb || rca != rcb || !same(a, b, na))
        abort();
    if (rca == 0) {
        size_t len;
        uint8_t *enc = encode(a, na, &len);
        nb = decode(enc, len, b, 120, &rcb);
        if (rcb != 0 || nb != na || !same(a, b, na))
            abort();
        size_t len2;
        uint8_t *enc2 = encode(b, nb, &len2);
        if (len2 != len || memcmp(enc, enc2, len) != 0)
            abort();
        free(enc2);
        free(enc);
    }
    free(a);
    free(b);
}

static void fuzz_encoder(const uint8_t *p, size_t n)
{
    size_t count = n / 16;
    if (count > MAX_SAMPLES)
        count = MAX_SAMPLES;
    struct tsdb_sample *s = malloc(sizeof(*s) * (count + 1));
    struct tsdb_sample *got = malloc(sizeof(*got) * (count + 1));
    if (!s || !got)
        abort();
    uint64_t t = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t step, vb;
        memcpy(&step, p + 16 * i, 8);
        memcpy(&vb, p + 16 * i + 8, 8);
        /* Mostly small steps, sometimes anything (wrapping). */
        t += step & 0x8000 ? step : step & 0xffff;
        s[i].t = (int64_t)t;
        memcpy(&s[i].v, &vb, 8);
    }
    size_t len;
    uint8_t *enc = encode(s, count, &len);
    uint8_t *exact = malloc(len);
    if (!exact)
        abort();
    memcpy(exact, enc, len);
    int rc;
    size_t m = decode(exact, len, got, 7, &rc);
    if (rc != 0 || m != count || !same(s, got, count))
        abort();
    free(exact);
    free(enc);
    free(got);
    free(s);
}

static void fuzz_segment(const uint8_t *p, size_t n)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/000001", scratch);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n) || close(fd))
        abort();
    struct tsdb_chunk_reader *r;
    int rc = tsdb_chunk_reader_open(scratch, &r);
    if (rc) {
        if (rc != -EINVAL || (n >= 8 && memcmp(p, "\x85\xbd\x40\xdd\x01", 5) == 0))
            abort(); /* only a bad header may fail the open */
        return;
    }
    /* Follow the frames, then fetch where the input's last bytes say. */
    uint64_t off = 8;
    for (int i = 0; i < 64 && off < n; i++) {
        const uint8_t *data;
        size_t len;
        uint8_t enc;
        rc = tsdb_chunk_reader_get(r, off, &data, &len, &enc);
        if (rc == -EINVAL || rc == -EBADMSG)
            break;
        if (rc != 0)
            abort();
        if (len > n - off)
            abort(); /* the chunk must lie inside the file */
        if (enc == TSDB_CHUNK_ENC_XOR) {
            struct tsdb_xor_iter it;
            struct tsdb_sample s[64];
            tsdb_xor_iter_init(&it, data, len);
            while (tsdb_xor_next_batch(&it, s, 64) > 0)
                ;
        }
        size_t lenlen = 1;
        for (size_t x = len; x >= 0x80; x >>= 7)
            lenlen++;
        off += lenlen + 1 + len + 4;
    }
    for (size_t i = 0; i + 4 <= n && i < 32; i += 4) {
        uint32_t o;
        memcpy(&o, p + n - 4 - i, 4);
        const uint8_t *data;
        size_t len;
        uint8_t enc;
        rc = tsdb_chunk_reader_get(r, (tsdb_chunk_ref)(i & 4) << 32 | o, &data, &len, &enc);
        if (rc != 0 && rc != -EINVAL && rc != -EBADMSG)
            abort();
    }
    tsdb_chunk_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        abort();
    memcpy(p, data + 1, n);
    switch (data[0] % 3) {
    case 0: fuzz_iterator(p, n, data[0] / 3); break;
    case 1: fuzz_encoder(p, n); break;
    default: fuzz_segment(p, n); break;
    }
    free(p);
    return 0;
}
