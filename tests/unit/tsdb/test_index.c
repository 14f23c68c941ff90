/*
 * Index v2: cairn's writer and reader, held against Prometheus 2.42.
 *
 * The strongest check is byte equality: an index the real promtool wrote is
 * read with cairn's reader and written again with cairn's writer from what
 * was read, and the two files must be identical. Hand-built indexes pin down
 * lookups, chunk-meta delta encodings (negative times, decreasing refs) and
 * the rejection of bad input; every truncation and every flipped byte of a
 * small index must be refused or, where it hits only alignment padding, read
 * as before — never crash.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsdb/tsdb.h"

/* From test_chunk.c. */
void chunktest_rmtree(const char *path);
void chunktest_promtool_block(const char *om, char *tmp, char *chunks_dir);
uint8_t *chunktest_read_file(const char *path, size_t *len);

#define L(n, v)                                                                                    \
    {                                                                                              \
        (n), (v)                                                                                   \
    }

static void tmpdir(char *dir)
{
    snprintf(dir, PATH_MAX, "/tmp/cairn-index-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

/* Writes the 3-series index most tests use into dir/index. */
static void write_small(const char *path)
{
    static const char *const syms[] = {"__name__", "a", "b", "job", "node", "up", "x"};
    const struct tsdb_label s1[] = {L("__name__", "up"), L("job", "a")};
    const struct tsdb_label s2[] = {L("__name__", "up"), L("job", "b"), L("x", "a")};
    const struct tsdb_label s3[] = {L("job", "node"), L("x", "b")};
    const struct tsdb_chunk_meta c1[] = {{-5000, -1000, 8}, {-999, 7000, 300}, {7000, 9000, 40}};
    const struct tsdb_chunk_meta c2[] = {{0, 0, (tsdb_chunk_ref)1 << 32 | 8}};
    struct tsdb_index_writer *w;
    cr_assert_eq(tsdb_index_writer_open(path, &w), 0);
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
        cr_assert_eq(tsdb_index_writer_add_symbol(w, syms[i]), 0);
    cr_assert_eq(tsdb_index_writer_add_series(w, &(struct tsdb_labels){s1, 2}, c1, 3), 0);
    cr_assert_eq(tsdb_index_writer_add_series(w, &(struct tsdb_labels){s2, 3}, c2, 1), 0);
    cr_assert_eq(tsdb_index_writer_add_series(w, &(struct tsdb_labels){s3, 2}, NULL, 0), 0);
    cr_assert_eq(tsdb_index_writer_close(w), 0);
}

static void expect_postings(const struct tsdb_index_reader *r, const char *n, const char *v,
                            const uint32_t *want, size_t nwant)
{
    uint32_t *refs;
    size_t k;
    cr_assert_eq(tsdb_index_postings(r, n, v, &refs, &k), 0);
    cr_assert_eq(k, nwant, "%s=%s: %zu refs", n, v, k);
    for (size_t i = 0; i < k; i++)
        cr_assert_eq(refs[i], want[i], "%s=%s[%zu]", n, v, i);
    free(refs);
}

Test(tsdb_index, roundtrip)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[256] = "";
    tmpdir(dir);
    snprintf(path, sizeof(path), "%s/index", dir);
    write_small(path);

    struct tsdb_index_reader *r;
    cr_assert_eq(tsdb_index_reader_open(path, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(tsdb_index_reader_verify(r, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(tsdb_index_symbol_count(r), 7);
    cr_assert_str_eq(tsdb_index_symbol(r, 0), "__name__");
    cr_assert_str_eq(tsdb_index_symbol(r, 6), "x");
    cr_assert_null(tsdb_index_symbol(r, 7));

    const char *const *names;
    size_t n;
    tsdb_index_label_names(r, &names, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(names[0], "__name__");
    cr_assert_str_eq(names[1], "job");
    cr_assert_str_eq(names[2], "x");
    tsdb_index_label_values(r, "job", &names, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(names[0], "a");
    cr_assert_str_eq(names[1], "b");
    cr_assert_str_eq(names[2], "node");
    tsdb_index_label_values(r, "nope", &names, &n);
    cr_assert_eq(n, 0);

    /* Series refs are offset / 16: the first series starts at the first
     * 16-byte boundary after the symbol table (5 + 4 + 4 + 27 bytes of
     * strings + 4 of CRC = 44 -> 48). */
    uint32_t *all;
    size_t nall;
    cr_assert_eq(tsdb_index_postings(r, "", "", &all, &nall), 0);
    cr_assert_eq(nall, 3);
    cr_assert_eq(all[0], 3);
    expect_postings(r, "__name__", "up", all, 2);
    expect_postings(r, "job", "b", all + 1, 1);
    expect_postings(r, "x", "b", all + 2, 1);
    expect_postings(r, "job", "x", NULL, 0);

    struct tsdb_index_series s = {0};
    cr_assert_eq(tsdb_index_series(r, all[0], &s), 0);
    cr_assert_eq(s.nlabels, 2);
    cr_assert_str_eq(s.labels[0].name, "__name__");
    cr_assert_str_eq(s.labels[0].value, "up");
    cr_assert_str_eq(s.labels[1].value, "a");
    cr_assert_eq(s.nchunks, 3);
    const struct tsdb_chunk_meta want[] = {{-5000, -1000, 8}, {-999, 7000, 300}, {7000, 9000, 40}};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(s.chunks[i].mint, want[i].mint, "chunk %d", i);
        cr_assert_eq(s.chunks[i].maxt, want[i].maxt, "chunk %d", i);
        cr_assert_eq(s.chunks[i].ref, want[i].ref, "chunk %d", i);
    }
    cr_assert_eq(tsdb_index_series(r, all[1], &s), 0);
    cr_assert_eq(s.nchunks, 1);
    cr_assert_eq(s.chunks[0].ref, (tsdb_chunk_ref)1 << 32 | 8);
    cr_assert_eq(tsdb_index_series(r, all[2], &s), 0);
    cr_assert_eq(s.nlabels, 2);
    cr_assert_str_eq(s.labels[0].value, "node");
    cr_assert_eq(s.nchunks, 0);
    cr_assert_eq(tsdb_index_series(r, all[0] + 1, &s), -EBADMSG); /* not a series start */
    cr_assert_eq(tsdb_index_series(r, 1u << 30, &s), -EINVAL);
    tsdb_index_series_free(&s);
    free(all);
    tsdb_index_reader_close(r);
    chunktest_rmtree(dir);
}

Test(tsdb_index, rejects_bad_input)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    tmpdir(dir);
    snprintf(path, sizeof(path), "%s/index", dir);
    struct tsdb_index_writer *w;
    cr_assert_eq(tsdb_index_writer_open(path, &w), 0);
    cr_assert_eq(tsdb_index_writer_add_symbol(w, "b"), 0);
    cr_assert_eq(tsdb_index_writer_add_symbol(w, "a"), -EINVAL);
    cr_assert_eq(tsdb_index_writer_add_symbol(w, "b"), -EINVAL);
    cr_assert_eq(tsdb_index_writer_add_symbol(w, "c"), 0);
    const struct tsdb_label bc[] = {L("b", "c")}, cb[] = {L("c", "b")}, bx[] = {L("b", "x")};
    cr_assert_eq(tsdb_index_writer_add_series(w, &(struct tsdb_labels){cb, 1}, NULL, 0), 0);
    cr_assert_eq(tsdb_index_writer_add_series(w, &(struct tsdb_labels){bc, 1}, NULL, 0), -EINVAL,
                 "out of order");
    cr_assert_eq(tsdb_index_writer_add_series(w, &(struct tsdb_labels){cb, 1}, NULL, 0), -EINVAL,
                 "duplicate");
    cr_assert_eq(tsdb_index_writer_add_series(w, &(struct tsdb_labels){bx, 1}, NULL, 0), -EINVAL,
                 "unknown symbol");
    cr_assert_eq(tsdb_index_writer_add_symbol(w, "d"), -EINVAL, "symbols after series");
    cr_assert_eq(tsdb_index_writer_close(w), 0);
    chunktest_rmtree(dir);
}

Test(tsdb_index, empty)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[256] = "";
    tmpdir(dir);
    snprintf(path, sizeof(path), "%s/index", dir);
    struct tsdb_index_writer *w;
    cr_assert_eq(tsdb_index_writer_open(path, &w), 0);
    cr_assert_eq(tsdb_index_writer_close(w), 0);
    struct tsdb_index_reader *r;
    cr_assert_eq(tsdb_index_reader_open(path, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(tsdb_index_symbol_count(r), 0);
    uint32_t *refs = (uint32_t *)1;
    size_t n = 9;
    cr_assert_eq(tsdb_index_postings(r, "", "", &refs, &n), 0);
    cr_assert_eq(n, 0);
    free(refs);
    tsdb_index_reader_close(r);
    chunktest_rmtree(dir);
}

/* Every truncation and every single flipped byte: refused with -EINVAL or
 * -EBADMSG at open or verify, or (padding) read exactly as before. */
Test(tsdb_index, corruption)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[256];
    tmpdir(dir);
    snprintf(path, sizeof(path), "%s/index", dir);
    write_small(path);
    size_t len;
    uint8_t *orig = chunktest_read_file(path, &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *b = malloc(cut + 1);
        memcpy(b, orig, cut);
        struct tsdb_index_reader *r;
        int rc = tsdb_index_reader_open_mem(b, cut, &r, err, sizeof(err));
        cr_assert(rc == -EINVAL || rc == -EBADMSG, "cut %zu: %d", cut, rc);
        free(b);
    }
    int refused = 0, same = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t *b = malloc(len);
        memcpy(b, orig, len);
        b[i] ^= 0x10;
        struct tsdb_index_reader *r;
        err[0] = '\0';
        int rc = tsdb_index_reader_open_mem(b, len, &r, err, sizeof(err));
        if (rc == 0) {
            rc = tsdb_index_reader_verify(r, err, sizeof(err));
            tsdb_index_reader_close(r);
        }
        cr_assert(rc == 0 || rc == -EINVAL || rc == -EBADMSG, "byte %zu: %d", i, rc);
        if (rc) {
            cr_assert_neq(err[0], '\0', "byte %zu: no message", i);
            refused++;
        } else {
            same++;
            cr_assert_eq(orig[i], 0, "byte %zu (not padding) flipped unnoticed", i);
        }
        free(b);
    }
    cr_assert_gt(refused, (int)len * 9 / 10, "%d of %zu refused", refused, len);
    /* A flipped byte in a symbol: the symbol table's CRC. */
    orig[20] ^= 1;
    struct tsdb_index_reader *r;
    cr_assert_eq(tsdb_index_reader_open_mem(orig, len, &r, err, sizeof(err)), -EBADMSG);
    cr_assert_str_eq(err, "index: symbol table at 5: checksum mismatch");
    orig[20] ^= 1;
    orig[0] = 0;
    cr_assert_eq(tsdb_index_reader_open_mem(orig, len, &r, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "index: bad magic 00aad700");
    free(orig);
    chunktest_rmtree(dir);
}

/* promtool's index, read by cairn and written again by cairn: same bytes. */
Test(tsdb_index, rewrite_promtool_index_bytes)
{
    char tmp[PATH_MAX], chunks[PATH_MAX], path[PATH_MAX + 16], err[256] = "";
    struct cn_buf om;
    cn_buf_init(&om);
    cn_buf_puts(&om, "# TYPE http_requests counter\n");
    for (int s = 0; s < 40; s++)
        for (int t = 0; t < 300; t += 1 + s % 7)
            cn_buf_printf(&om,
                          "http_requests_total{code=\"%d\",handler=\"/api/v%d\",inst=\"n%02d\"} "
                          "%d %d\n",
                          200 + s % 5 * 100, s % 3, s, t * s, 1000 + t * 15);
    cn_buf_puts(&om, "# TYPE up gauge\nup{job=\"node\"} 1 1000\nup{job=\"prom\",zone=\"\"} 0 "
                     "1000\n# EOF\n");
    chunktest_promtool_block(cn_buf_cstr(&om), tmp, chunks);
    cn_buf_free(&om);
    snprintf(path, sizeof(path), "%.*s/index", (int)(strlen(chunks) - 7), chunks);

    struct tsdb_index_reader *r;
    cr_assert_eq(tsdb_index_reader_open(path, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(tsdb_index_reader_verify(r, err, sizeof(err)), 0, "%s", err);
    char out[PATH_MAX + 16];
    snprintf(out, sizeof(out), "%s/cairn-index", tmp);
    struct tsdb_index_writer *w;
    cr_assert_eq(tsdb_index_writer_open(out, &w), 0);
    for (uint32_t i = 0; i < tsdb_index_symbol_count(r); i++)
        cr_assert_eq(tsdb_index_writer_add_symbol(w, tsdb_index_symbol(r, i)), 0);
    uint32_t *refs;
    size_t n;
    cr_assert_eq(tsdb_index_postings(r, "", "", &refs, &n), 0);
    cr_assert_eq(n, 42);
    struct tsdb_index_series s = {0};
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(tsdb_index_series(r, refs[i], &s), 0);
        cr_assert_eq(tsdb_index_writer_add_series(w, &(struct tsdb_labels){s.labels, s.nlabels},
                                                  s.chunks, s.nchunks),
                     0);
    }
    cr_assert_eq(tsdb_index_writer_close(w), 0);
    tsdb_index_series_free(&s);
    free(refs);
    tsdb_index_reader_close(r);

    size_t la, lb;
    uint8_t *a = chunktest_read_file(path, &la), *b = chunktest_read_file(out, &lb);
    cr_assert_eq(lb, la, "cairn wrote %zu bytes, promtool %zu", lb, la);
    size_t first = 0;
    while (first < la && a[first] == b[first])
        first++;
    cr_assert_eq(first, la, "first difference at byte %zu", first);
    free(a);
    free(b);
    chunktest_rmtree(tmp);
}
