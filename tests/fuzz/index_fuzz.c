/*
 * libFuzzer target for the index v2 reader: the input is an index file.
 * Open it from memory (a copy of exactly its size, so ASan sees any read
 * past it); every answer must be 0, -EINVAL or -EBADMSG. On whatever opens,
 * read every symbol, every label name's values and their postings, and
 * every series the all-series list names; run the full verification; and
 * read series at references taken from the input's last bytes. Series read
 * back must carry symbols of the table, and postings must ascend.
 *
 * Seeds: tests/fuzz/corpus/index/ (indexes cairn and promtool wrote, and
 * damaged variants). Run: index_fuzz -max_total_time=60 corpus/index
 */
#include "tsdb/tsdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rc(int rc)
{
    if (rc != 0 && rc != -EINVAL && rc != -EBADMSG)
        abort();
}

static void read_series(const struct tsdb_index_reader *r, uint32_t ref,
                        struct tsdb_index_series *s)
{
    int rc = tsdb_index_series(r, ref, s);
    check_rc(rc);
    if (rc)
        return;
    for (size_t i = 0; i < s->nlabels; i++)
        if (!s->labels[i].name || !s->labels[i].value)
            abort();
    for (size_t i = 0; i < s->nchunks; i++)
        (void)s->chunks[i].ref;
}

static void read_postings(const struct tsdb_index_reader *r, const char *n, const char *v,
                          struct tsdb_index_series *s, bool series)
{
    uint32_t *refs;
    size_t k;
    int rc = tsdb_index_postings(r, n, v, &refs, &k);
    check_rc(rc);
    if (rc)
        return;
    for (size_t i = 0; i < k; i++) {
        if (i && refs[i] <= refs[i - 1])
            abort();
        if (series && i < 256)
            read_series(r, refs[i], s);
    }
    free(refs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        abort();
    memcpy(p, data, size);
    struct tsdb_index_reader *r;
    char err[256];
    int rc = tsdb_index_reader_open_mem(p, size, &r, err, sizeof(err));
    check_rc(rc);
    if (rc) {
        free(p);
        return 0;
    }
    size_t nsym = tsdb_index_symbol_count(r);
    for (size_t i = 0; i < nsym; i++)
        if (!tsdb_index_symbol(r, (uint32_t)i))
            abort();
    if (tsdb_index_symbol(r, (uint32_t)nsym))
        abort();
    struct tsdb_index_series s = {0};
    read_postings(r, "", "", &s, true);
    const char *const *names;
    size_t nn;
    tsdb_index_label_names(r, &names, &nn);
    for (size_t i = 0; i < nn && i < 64; i++) {
        const char *const *vals;
        size_t nv;
        tsdb_index_label_values(r, names[i], &vals, &nv);
        for (size_t k = 0; k < nv && k < 64; k++)
            read_postings(r, names[i], vals[k], &s, false);
    }
    check_rc(tsdb_index_reader_verify(r, err, sizeof(err)));
    for (size_t i = 0; i + 4 <= size && i < 32; i += 4) {
        uint32_t ref;
        memcpy(&ref, data + size - 4 - i, 4);
        read_series(r, i & 4 ? ref : ref % (uint32_t)(size / 16 + 1), &s);
    }
    tsdb_index_series_free(&s);
    tsdb_index_reader_close(r);
    free(p);
    return 0;
}
